"""One run over the police outbox: each complete new XML batch loaded or quarantined whole, gaps reported."""

import logging
from datetime import datetime, timezone
from functools import partial

import sqlalchemy as sa

from extractors.folder import RefusedFile, Skipped
from extractors.xml_batches import BatchFile, XmlBatchReader, batch_gaps, delivery_fingerprint, gap_text, scan_outbox
from loaders.run_writer import RunWriter
from pipeline.business_days import BusinessDays
from pipeline.config import Settings
from pipeline.runner import Progress, RunResult, StreamResult
from pipeline.specs import SourceSpec, XmlBatchExtract
from pipeline.staging import (
    archive_files, drop_folder, merge_and_record, quarantine_file, report_skipped, unify_and_stage,
)
from schemas.sql import sql_tables
from transforms.reader import PSEUDONYMIZED_INVALID, declared_identity, reader_key
from transforms.values import BEIJING, null_if_blank

log = logging.getLogger("silobridge")
WHOLE_BATCH = "batch"  # the stream named on a reject of a whole batch (it holds both streams)
_GAPS_LOGGED = 20  # gap ranges named in the log line; the run's notes hold them all


class _BatchQuarantined(Exception):
    def __init__(self, reason: str, detail: str, fingerprint: str):
        super().__init__(detail)
        self.reason, self.detail, self.fingerprint = reason, detail, fingerprint


def run_batches(spec: SourceSpec, settings: Settings, engine: sa.Engine, run_id: str, started: datetime,
                window, progress: Progress | None) -> RunResult:
    folder = drop_folder(spec, settings)
    caps = spec.batch_extract()
    results = {stream: StreamResult(stream) for stream in spec.streams}
    files: list[dict] = []
    notes: dict = {}
    done: list[BatchFile] = []
    with RunWriter(engine, spec.name, run_id) as writer:
        days = BusinessDays(writer)
        scan = scan_outbox(folder)
        if scan.unfinished:
            notes["waiting_for_manifest"] = scan.unfinished
        report_skipped(spec.name, notes, "unknown_files", scan.unknown, "left alone")
        refused = list(scan.refused)
        loaded = _batches(writer, spec.name, "loaded")
        quarantined = _batches(writer, spec.name, "quarantined")
        due = _due(scan.ready, window)
        for batch in due:
            entry = {"file": batch.name, "seq": batch.seq}
            try:
                _one_batch(writer, spec, settings, batch, entry, loaded, quarantined, results, days, caps)
            except RefusedFile as r:  # swapped for a link or the like since the scan: nothing of it is kept
                refused.append(Skipped(r.name, r.why))
                continue
            files.append(entry)
            done.append(batch)

        seen = set(_seen_batches(writer, spec.name)) | {b.seq for b in due}
        gaps = batch_gaps(loaded, seen, first=min(seen | set(loaded), default=1))
        if gaps:
            shown = [gap_text(g) for g in gaps]
            missing = sum(high - low + 1 for low, high in gaps)
            notes["gaps"], notes["missing_batches"] = shown, missing
            more = f" and {len(gaps) - _GAPS_LOGGED} more ranges" if len(gaps) > _GAPS_LOGGED else ""
            log.warning("%s: %d batch number(s) missing or not yet loaded: %s%s", spec.name, missing,
                        ", ".join(shown[:_GAPS_LOGGED]), more)
        report_skipped(spec.name, notes, "refused_files", refused,
                       "it is never read: remove it, or put the delivered file itself in its place")
        merge_and_record(writer, results, started, spec=spec, days=days, files=files, notes=notes)
    archive_files(folder / caps.archive_folder, [p for b in done for p in (b.path, b.manifest)])
    return RunResult(run_id, spec.name, "success", "", results, files, notes)


def _one_batch(writer: RunWriter, spec: SourceSpec, settings: Settings, batch: BatchFile, entry: dict,
               loaded: dict[int, str], quarantined: dict[int, str], results: dict[str, StreamResult],
               days: BusinessDays, caps: XmlBatchExtract) -> None:
    """Load one batch, quarantine it whole, or skip it as already processed; the outcome goes into `entry`.

    A batch quarantined whole is remembered by what identifies that delivery (its
    bytes and its manifest): the same bad delivery again is skipped, any other
    delivery of that number is judged afresh.
    """
    now = datetime.now(timezone.utc)
    if batch.seq in quarantined and quarantined[batch.seq] == delivery_fingerprint(batch, caps.max_batch_bytes):
        entry["outcome"] = "already_processed"  # the same bad batch again: reported once
        return
    if batch.seq in loaded:
        if batch.declared_sha256() == loaded[batch.seq]:
            entry["outcome"] = "already_processed"
            return
        detail = (f"{spec.name} {batch.name}: batch {batch.seq:06d} was already loaded with another checksum; "
                  "the changed batch is not loaded")
        quarantine_file(writer, WHOLE_BATCH, batch.name, "batch_changed", detail, now)
        entry.update(outcome="quarantined", reason="batch_changed")
        return
    staged_from = {stream: writer.staged_so_far(stream) for stream in spec.streams}
    try:
        with writer.savepoint():
            verdict, parts = _load_batch(writer, spec, settings, batch, now, caps)
    except _BatchQuarantined as q:
        quarantine_file(writer, WHOLE_BATCH, batch.name, q.reason, f"{spec.name} {q.detail}", now)
        writer.set_watermark(WHOLE_BATCH, f"{batch.seq:06d}", value=batch.name, fingerprint=q.fingerprint,
                             outcome="quarantined", now=now)
        quarantined[batch.seq] = q.fingerprint
        entry.update(outcome="quarantined", reason=q.reason)
        return
    loaded[batch.seq] = verdict.sha256
    quarantined.pop(batch.seq, None)
    writer.set_watermark(WHOLE_BATCH, f"{batch.seq:06d}", value=batch.name, fingerprint=verdict.sha256,
                         outcome="loaded", now=now)
    for stream, part in parts.items():
        results[stream].add(part)
        days.add(stream, batch.day, extracted=part.extracted, quarantined=part.quarantined,
                 declared_total=part.declared_total, staged_from=staged_from[stream])
    entry.update(outcome="loaded", cases=verdict.cases, evaluations=verdict.evaluations,
                 unknown_elements=verdict.unknown or None)


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


def _load_batch(writer: RunWriter, spec: SourceSpec, settings: Settings, batch: BatchFile, now: datetime,
                caps: XmlBatchExtract):
    today = now.astimezone(BEIJING).date()
    # The most sensitive numbers in the district: keyed and checked inside the reader, never held in clear.
    # Every number is checked before it is keyed: a key marked by reader_key tells an evaluator number that
    # is no valid ID or USCC (NULL with a finding), the mask tells an applicant's number failing its type's check.
    reader = XmlBatchReader(
        batch,
        pseudonymize=partial(reader_key, pii_key=settings.pii_key, today=today),
        mask=partial(_checked_mask, pii_key=settings.pii_key, today=today, codes=spec.streams["cases"].codes),
        pseudonymize_typed=partial(_applicant_key, pii_key=settings.pii_key, today=today,
                                   codes=spec.streams["cases"].codes),
        max_batch_bytes=caps.max_batch_bytes, max_text_bytes=caps.max_text_bytes,
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
        raise _BatchQuarantined(verdict.problem, verdict.detail, verdict.fingerprint)
    parts["cases"].extracted, parts["cases"].declared_total = verdict.cases, verdict.declared_cases
    parts["evaluations"].extracted, parts["evaluations"].declared_total = verdict.evaluations, verdict.declared_evaluations
    return verdict, parts


def _applicant_key(number: str, cert_code: str | None, *, pii_key: bytes, today, codes: dict) -> str | None:
    """An applicant's pseudonym as its declared type normalizes the number: only a 居民身份证's 15 digits are
    upgraded, so another certificate's number gets the key every other department gives it. A number failing
    its type's check is quarantined by its mask (see _checked_mask); its key is then reader_key's."""
    if null_if_blank(number) is None:
        return None
    cert_type = codes.get("applicant_cert_type", {}).get(null_if_blank(cert_code), "999")
    identity = declared_identity(number, cert_type, pii_key, today)
    return identity[2] if isinstance(identity, tuple) else reader_key(number, pii_key, today)


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

