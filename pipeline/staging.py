"""Steps the kinds of run share: unify a raw batch and stage it, merge and write the ledger; for file
sources, find the folder, quarantine a file whole, archive what was processed."""

import logging
import os
import re
import stat
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa

from extractors.folder import Skipped, describe_mode
from loaders.run_writer import Reject, RunWriter
from pipeline.business_days import BusinessDays
from pipeline.config import ConfigError, Settings, folder_from_connection
from pipeline.runner import StreamResult
from pipeline.specs import SourceSpec
from quality.expectations import aggregate, finding_results, findings_found, store_facts, validate_batch, write_results
from transforms.pii import mask_free_text
from transforms.columnar import unify_columnar
from transforms.records import Context, RecordReject
from transforms.values import BEIJING

log = logging.getLogger("silobridge")
_LONG_DIGITS = re.compile(r"\d{11,}")  # no delivery name holds one; an ID or phone number may
_LISTED = 50  # folder entries named one by one in a run's notes and log


def unify_and_stage(writer: RunWriter, spec: SourceSpec, settings: Settings, stream: str, batch: pa.RecordBatch,
                    result: StreamResult, now: datetime, *, location: str,
                    delivery_prefix: str | None = None) -> None:
    """Transform one raw batch, stage its good rows, quarantine the rest (raw record encrypted)."""
    stream_spec = spec.streams[stream]
    ctx = Context(
        source=spec.name, stream=stream, fields=stream_spec.fields, codes=stream_spec.codes,
        options=stream_spec.options, time_formats=spec.time_formats, pii_key=settings.pii_key,
        location=location, delivery_prefix=delivery_prefix, today=now.astimezone(BEIJING).date(),
        width=len(stream_spec.columns), encoding=spec.csv.encoding.upper() if spec.csv else "UTF-8",
    )
    held = {}
    case_column = stream_spec.fields.get("case_no")
    if stream == "cases" and batch.num_rows and case_column in batch.schema.names:
        held = writer.keys_held_by_other_sources([v.strip() for v in batch.column(case_column).to_pylist() if v])
    rows, rejects, findings = unify_columnar(batch, ctx, held_elsewhere=held)
    check_quality(writer, spec, stream, rows, now, findings)
    writer.stage(stream, rows)
    quarantine_records(writer, settings, stream, rejects, result, now)
    log.info("%s %s (%s): %d records read, %d staged, %d quarantined", spec.name, stream, location, batch.num_rows,
             rows.num_rows, len(rejects))


def quarantine_records(writer: RunWriter, settings: Settings, stream: str, rejects: list[RecordReject],
                       result: StreamResult, now: datetime) -> None:
    """Write record rejects (raw record encrypted) and count them."""
    cipher = settings.cipher
    writer.write_rejects([
        Reject(stream, "record", r.location, r.record_key, r.reason, r.detail,
               cipher.encrypt(r.raw.encode("utf-8", "surrogatepass")))
        for r in rejects
    ], now)
    result.quarantined += len(rejects)
    for r in rejects:
        result.reasons[r.reason] = result.reasons.get(r.reason, 0) + 1


def check_quality(writer: RunWriter, spec: SourceSpec, stream: str, rows: pa.Table, now: datetime,
                  findings: dict[tuple[str, str], int] | None = None) -> None:
    """Validate a unified batch (quality.expectations) before it is staged; kept on the writer until the merge.

    `findings`: the batch's counts of data-quality findings from `unify`, kept as warning rows beside the
    expectation results. Each batch's results are kept with the staging sequence number its rows end at:
    a savepoint rolled back (a file quarantined whole) takes the sequence back, so a
    kept batch ending past the current sequence was rolled back and is dropped.
    """
    if not rows.num_rows:
        return
    start = writer.staged_so_far(stream)
    # The cases staged so far in this run commit with this batch: an evaluation may refer to them.
    staged_cases = writer.staging_table("cases") if stream != "cases" and "cases" in spec.streams else None
    facts = store_facts(writer.conn, spec.name, stream, rows, staged_cases=staged_cases, now=now)
    kept = writer.quality.setdefault(stream, [])
    kept[:] = [(end, results) for end, results in kept if end <= start]
    results = validate_batch(rows, stream, facts) + finding_results(findings or {}, rows.num_rows)
    kept.append((start + rows.num_rows, results))


def record_quality(writer: RunWriter, stream: str, evaluated_at: datetime) -> dict[str, dict[str, int]]:
    """The run's results for a stream, aggregated over its staged batches, into dq_result (same transaction).

    Returns the data-quality findings that occurred (reason → column → records), for the ledger's notes.
    """
    staged = writer.staged_so_far(stream)
    batches = [results for end, results in writer.quality.get(stream, []) if end <= staged]
    results = aggregate(batches)
    write_results(writer.conn, writer.run_id, writer.source, stream, results, evaluated_at)
    return findings_found(results)


class ErrorLimitExceeded(RuntimeError):
    """Too many records were quarantined: the run fails and commits only its failed ledger rows."""


def check_error_limit(spec: SourceSpec, results: dict[str, StreamResult]) -> None:
    limit = spec.error_limit
    for stream, result in results.items():
        share = 100 * result.quarantined / result.extracted if result.extracted else 0.0
        over = []
        if limit.records is not None and result.quarantined > limit.records:
            over.append(f"{limit.records} records")
        if limit.percent is not None and share > limit.percent:
            over.append(f"{limit.percent:g}%")
        if over:
            top = ", ".join(f"{reason} {n}" for reason, n in sorted(result.reasons.items(), key=lambda kv: -kv[1])[:3])
            raise ErrorLimitExceeded(
                f"{spec.name} {stream}: {result.quarantined} of {result.extracted} records ({share:.1f}%) were "
                f"quarantined, over the error limit of {' and '.join(over)}; top reasons: {top}; nothing was loaded"
            )


def merge_and_record(writer: RunWriter, results: dict[str, StreamResult], started: datetime, *,
                     spec: SourceSpec, days: BusinessDays | None = None, **ledger) -> datetime:
    """Merge every stream's staged rows and write its ledger rows, per run and per business day; `ledger` adds
    window, files, notes.

    `days`: what the run read of each business day; without it (a replay) the whole run counts on the Beijing
    day it started. First the error limit: over it, nothing is merged and the run fails.
    """
    check_error_limit(spec, results)
    if days is None:
        days = BusinessDays(writer)
        for stream, result in results.items():
            days.add(stream, started.astimezone(BEIJING).date(), extracted=result.extracted,
                     quarantined=result.quarantined, declared_total=result.declared_total, staged_from=0)
    finished = datetime.now(timezone.utc)
    for stream, result in results.items():
        split = days.split(stream)
        merged = writer.merge(stream, finished)
        result.inserted, result.updated = merged.inserted, merged.updated
        result.unchanged, result.stale, result.duplicates = merged.unchanged, merged.stale, merged.duplicates
        findings = record_quality(writer, stream, finished)
        notes = {**(ledger.get("notes") or {}), "findings": findings} if findings else ledger.get("notes")
        files = ledger.get("files")
        writer.write_ledger({
            "stream": stream, "status": "success", "started_at": started, "finished_at": finished,
            "window_start": ledger.get("window_start"), "window_end": ledger.get("window_end"),
            "files": [f for f in files if f.get("stream", stream) == stream] if files else None,
            "notes": notes or None,
            "extracted": result.extracted, "inserted": result.inserted, "updated": result.updated,
            "unchanged": result.unchanged, "stale": result.stale, "quarantined": result.quarantined,
            "duplicates": result.duplicates, "declared_total": result.declared_total,
        })
        writer.write_days(days.rows(stream, split, merged))
    return finished


def drop_folder(spec: SourceSpec, settings: Settings) -> Path:
    """--drop, else the source's fs connection (extra "path"), else the spec's folder under the home."""
    conn = settings.connection(spec.conn_id)
    folder = (settings.folders.get(spec.name) or (folder_from_connection(conn) if conn else None)
              or settings.home / (spec.default_folder or spec.name))
    if not folder.is_dir():
        raise ConfigError(
            f"{spec.name}: the drop folder {folder} does not exist; point the Airflow connection {spec.conn_id} "
            f"(extra \"path\") or --drop at the folder the department delivers into"
        )
    return folder


def quarantine_file(writer: RunWriter, stream: str, name: str, reason: str, detail: str, now: datetime) -> None:
    log.warning("%s", detail)
    writer.write_rejects([Reject(stream, "file", name, None, reason, detail, None)], now)


def archive_files(archive: Path, paths: list[Path]) -> None:
    """Move processed files (and their markers) aside; never overwrite an earlier delivery there.

    Only regular files are moved, into a real sub-folder: a link (swapped in since
    the run read the file, or an archive folder that is itself a link) is never
    followed or moved; it is left where it is, with a warning.
    """
    try:
        archive.mkdir(exist_ok=True)
        archive_mode = archive.lstat().st_mode
    except OSError as exc:
        log.warning("%s cannot be used as the archive folder (%s); processed files stay where they are",
                    archive, exc.strerror)
        return
    if not stat.S_ISDIR(archive_mode):
        log.warning("%s is %s, not a folder; processed files stay where they are until it is one",
                    archive, describe_mode(archive_mode))
        return
    for path in paths:
        try:
            mode = path.lstat().st_mode
        except FileNotFoundError:
            continue
        if not stat.S_ISREG(mode):
            log.warning("%s is %s, not a regular file: not archived", shown_name(path.name), describe_mode(mode))
            continue
        target, n = archive / path.name, 1
        while os.path.lexists(target):
            target, n = archive / f"{path.name}.{n}", n + 1
        try:
            os.rename(path, target)  # moves the entry itself, never what it might point to
        except OSError as exc:
            log.warning("%s could not be archived (%s); it stays where it is", shown_name(path.name), exc.strerror)


def shown_name(name: str) -> str:
    """A delivery folder entry's name as logs and notes show it: numbers that may be personal masked, control
    characters and undecodable bytes escaped, cut at 120 characters."""
    text = _LONG_DIGITS.sub(lambda m: m[0][:3] + "*" * (len(m[0]) - 7) + m[0][-4:], mask_free_text(name))
    text = "".join(c if c.isprintable() else _escaped(c) for c in text)
    return text if len(text) <= 120 else text[:119] + "…"


def _escaped(c: str) -> str:
    code = ord(c)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (os.fsdecode's surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def report_skipped(source: str, notes: dict, key: str, entries: list[Skipped], action: str) -> None:
    """Name in the run's notes, and in a WARNING each, the folder entries a run did not take and why.

    They are reported on every run until they go away; they never stop the run.
    """
    if not entries:
        return
    notes[key] = [{"file": shown_name(e.name), "why": e.why} for e in entries[:_LISTED]]
    if len(entries) > _LISTED:
        notes[f"{key}_count"] = len(entries)
    for e in entries[:_LISTED]:
        log.warning("%s: %s %s; %s", source, shown_name(e.name), e.why, action)
    if len(entries) > _LISTED:
        log.warning("%s: and %d more such entries (see the run's notes for the first %d)",
                    source, len(entries) - _LISTED, _LISTED)
