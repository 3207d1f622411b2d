"""One run over the police outbox: each complete new XML batch loaded or quarantined whole, gaps reported."""

import logging
from datetime import datetime, timezone
from functools import partial

import sqlalchemy as sa

from extractors.xml_batches import BatchFile, XmlBatchReader, batch_gaps, scan_outbox
from loaders.run_writer import RunWriter
from pipeline.config import Settings
from pipeline.runner import Progress, RunResult, StreamResult
from pipeline.specs import SourceSpec
from pipeline.staging import archive_files, drop_folder, merge_and_record, quarantine_file, unify_and_stage
from schemas.sql import sql_tables
from transforms.unify import PSEUDONYMIZED_INVALID, declared_identity, reader_key
from transforms.values import BEIJING, null_if_blank

log = logging.getLogger("silobridge")
WHOLE_BATCH = "batch"  # the stream named on a reject of a whole batch (it holds both streams)


class _BatchQuarantined(Exception):
    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason, self.detail = reason, detail


def run_batches(spec: SourceSpec, settings: Settings, engine: sa.Engine, run_id: str, started: datetime,
                window, progress: Progress | None) -> RunResult:
    folder = drop_folder(spec, settings)
    results = {stream: StreamResult(stream) for stream in spec.streams}
    files: list[dict] = []
    notes: dict = {}
    done: list[BatchFile] = []
    with RunWriter(engine, spec.name, run_id) as writer:
        scan = scan_outbox(folder)
        if scan.unfinished:
            notes["waiting_for_manifest"] = scan.unfinished
        loaded = _batches(writer, spec.name, "loaded")
        quarantined = _batches(writer, spec.name, "quarantined")
        due = _due(scan.ready, window)
        for batch in due:
            now = datetime.now(timezone.utc)
            entry = {"file": batch.name, "seq": batch.seq}
            files.append(entry)
            done.append(batch)
            declared = batch.declared_sha256()
            if declared is not None and quarantined.get(batch.seq) == declared:
                entry["outcome"] = "already_processed"  # the same bad batch again: reported once
                continue
            if batch.seq in loaded:
                if declared == loaded[batch.seq]:
                    entry["outcome"] = "already_processed"
                    continue
                detail = (f"{spec.name} {batch.name}: batch {batch.seq:06d} was already loaded with another checksum; "
                          "the changed batch is not loaded")
                quarantine_file(writer, WHOLE_BATCH, batch.name, "batch_changed", detail, now)
                entry.update(outcome="quarantined", reason="batch_changed")
                continue
            try:
                with writer.savepoint():
                    verdict, parts = _load_batch(writer, spec, settings, batch, now)
            except _BatchQuarantined as q:
                quarantine_file(writer, WHOLE_BATCH, batch.name, q.reason, f"{spec.name} {q.detail}", now)
                writer.set_watermark(WHOLE_BATCH, f"{batch.seq:06d}", value=batch.name, fingerprint=declared,
                                     outcome="quarantined", now=now)
                entry.update(outcome="quarantined", reason=q.reason)
                continue
            loaded[batch.seq] = verdict.sha256
            writer.set_watermark(WHOLE_BATCH, f"{batch.seq:06d}", value=batch.name, fingerprint=verdict.sha256,
                                 outcome="loaded", now=now)
            for stream, part in parts.items():
                results[stream].add(part)
            entry.update(outcome="loaded", cases=verdict.cases, evaluations=verdict.evaluations,
                         unknown_elements=verdict.unknown or None)

        seen = set(_seen_batches(writer, spec.name)) | {b.seq for b in due}
        gaps = batch_gaps(loaded, seen, first=min(seen | set(loaded), default=1))
        if gaps:
            notes["gaps"] = gaps
            log.warning("%s: batch numbers missing or not yet loaded: %s", spec.name,
                        ", ".join(f"{g:06d}" for g in gaps))
        merge_and_record(writer, results, started, spec=spec, files=files, notes=notes)
    archive_files(folder / spec.extract.get("archive_folder", "archive"),
                  [p for b in done for p in (b.path, b.manifest)])
    return RunResult(run_id, spec.name, "success", "", results, files, notes)


def _due(ready: list[BatchFile], window) -> list[BatchFile]:
    """Batches of days that ended (Beijing) before the window's end; all of them without a window."""
    if window is None:
        return ready
    end_day = window[1].astimezone(BEIJING).date()
    return [b for b in ready if b.day < end_day]


def _batches(writer: RunWriter, source: str, outcome: str) -> dict[int, str]:
    """Batch number → checksum of the batches committed with that outcome."""
    table = sql_tables["etl_watermark"]
    rows = writer.conn.execute(sa.select(table.c.position, table.c.fingerprint).where(
        table.c.source == source, table.c.stream == WHOLE_BATCH, table.c.outcome == outcome))
    return {int(position): fingerprint for position, fingerprint in rows}


def _seen_batches(writer: RunWriter, source: str) -> list[int]:
    table = sql_tables["etl_watermark"]
    return [int(p) for p in writer.conn.execute(sa.select(table.c.position).where(
        table.c.source == source, table.c.stream == WHOLE_BATCH)).scalars()]


def _load_batch(writer: RunWriter, spec: SourceSpec, settings: Settings, batch: BatchFile, now: datetime):
    today = now.astimezone(BEIJING).date()
    # The most sensitive numbers in the district: keyed and checked inside the reader, never held in clear.
    # Every number is checked before it is keyed: a key marked by reader_key tells an evaluator number that
    # is no valid ID or USCC (NULL with a finding), the mask tells an applicant's number failing its type's check.
    reader = XmlBatchReader(
        batch,
        pseudonymize=partial(reader_key, pii_key=settings.pii_key, today=today),
        mask=partial(_checked_mask, pii_key=settings.pii_key, today=today, codes=spec.streams["cases"].codes),
    )
    parts = {stream: StreamResult(stream) for stream in spec.streams}
    for stream, raw in reader.batches():
        raw = raw.append_column("BATCH_GENERATED", raw.column("_generated"))
        raw = raw.append_column("_record_no", raw.column("_element_index"))
        unify_and_stage(writer, spec, settings, stream, raw, parts[stream], now,
                        location=f"{batch.name} {'CASE' if stream == 'cases' else 'PJ'}",
                        delivery_prefix=f"{batch.seq:06d}")
    verdict = reader.verdict
    if verdict.problem:
        raise _BatchQuarantined(verdict.problem, f"{batch.name}: {verdict.detail}")
    parts["cases"].extracted, parts["cases"].declared_total = verdict.cases, verdict.declared_cases
    parts["evaluations"].extracted, parts["evaluations"].declared_total = verdict.evaluations, verdict.declared_evaluations
    return verdict, parts


def _checked_mask(number: str, cert_code: str | None, *, pii_key: bytes, today, codes: dict) -> str | None:
    """The masked form of a certificate number, or a mark that it failed its check (see PSEUDONYMIZED_INVALID).

    A type code the map does not know is masked as a person's number: the reader cannot see whether the
    applicant is a person (999) or an organisation (099), and a person's number must never stay in clear.
    """
    if null_if_blank(number) is None:
        return None
    cert_type = codes.get("applicant_cert_type", {}).get(null_if_blank(cert_code), "999")
    identity = declared_identity(number, cert_type, pii_key, today)
    if isinstance(identity, tuple):
        return identity[3]
    return PSEUDONYMIZED_INVALID + identity.reason

