"""One run over a CSV file drop (hrss): the new complete files, each loaded or quarantined whole."""

import logging
from dataclasses import dataclass
from datetime import datetime, timezone

import sqlalchemy as sa

from extractors.csv_drop import CsvFileReader, DropFile, FileVerdict, scan_drop
from extractors.folder import RefusedFile, Skipped
from loaders.run_writer import RunWriter
from pipeline.business_days import BusinessDays
from pipeline.config import Settings
from pipeline.runner import Progress, RunResult, StreamResult
from pipeline.staging import (
    archive_files, drop_folder, merge_and_record, quarantine_file, report_skipped, unify_and_stage,
)
from pipeline.specs import SourceSpec
from schemas.sql import sql_tables
from transforms.values import BEIJING

log = logging.getLogger("silobridge")


class _FileQuarantined(Exception):
    def __init__(self, verdict: FileVerdict):
        super().__init__(verdict.detail)
        self.verdict = verdict


@dataclass
class _Decision:
    file: DropFile
    sha256: str
    action: str  # "load", "skip" (same file again), "changed" (a changed file under a processed name)


def run_csv_drop(spec: SourceSpec, settings: Settings, engine: sa.Engine, run_id: str, started: datetime,
                 window: tuple[datetime, datetime] | None, progress: Progress | None) -> RunResult:
    folder = drop_folder(spec, settings)
    patterns = {stream: s.file_pattern for stream, s in spec.streams.items()}
    results = {stream: StreamResult(stream) for stream in spec.streams}
    files: list[dict] = []
    notes: dict = {}
    to_archive: list[DropFile] = []

    with RunWriter(engine, spec.name, run_id) as writer:
        days = BusinessDays(writer)
        scan = scan_drop(folder, patterns, spec.csv.marker_suffix)
        if scan.unfinished:
            notes["waiting_for_marker"] = scan.unfinished
            log.info("%s: %d file(s) still without their marker, left for a later run: %s",
                     spec.name, len(scan.unfinished), ", ".join(scan.unfinished))
        report_skipped(spec.name, notes, "unknown_files", scan.unknown, "left alone")
        refused = list(scan.refused)
        decisions = _decide(writer, spec, _due(scan.ready, window), refused)
        for decision in decisions:
            file = decision.file
            entry = {"file": file.name, "stream": file.stream, "sha256": decision.sha256}
            files.append(entry)
            to_archive.append(file)
            now = datetime.now(timezone.utc)
            if decision.action == "skip":
                entry["outcome"] = "already_processed"
                continue
            if decision.action == "changed":
                detail = (f"{spec.name} {file.name} was already loaded with different content "
                          f"(SHA-256 now {decision.sha256[:12]}…); the changed file is not loaded")
                quarantine_file(writer, file.stream, file.name, "file_changed", detail, now)
                entry.update(outcome="quarantined", reason="file_changed")
                continue
            try:
                with writer.savepoint():
                    part, seq_range = _load_file(writer, spec, settings, file, now, progress)
            except RefusedFile as r:  # swapped for a link or the like since the scan: nothing of it is kept
                refused.append(Skipped(r.name, r.why))
                files.remove(entry)
                to_archive.remove(file)
                continue
            except _FileQuarantined as q:
                quarantine_file(writer, file.stream, file.name, q.verdict.problem, f"{spec.name} {q.verdict.detail}", now)
                writer.set_watermark(file.stream, file.name, value=file.file_date.isoformat(),
                                     fingerprint=decision.sha256, outcome="quarantined", now=now)
                entry.update(outcome="quarantined", reason=q.verdict.problem, records=q.verdict.records,
                             trailer=q.verdict.trailer)
                continue
            writer.set_watermark(file.stream, file.name, value=file.file_date.isoformat(),
                                 fingerprint=decision.sha256, outcome="loaded", now=now)
            results[file.stream].add(part)
            days.add(file.stream, file.file_date, extracted=part.extracted, quarantined=part.quarantined,
                     declared_total=part.declared_total, staged_from=seq_range[0])
            entry.update(outcome="loaded", records=part.extracted, trailer=part.declared_total,
                         quarantined=part.quarantined)
            if file.correction:
                missing = writer.keys_missing_from(file.stream, f"{file.file_date:%Y%m%d}.", seq_range)
                entry["kept_keys_missing_from_correction"] = missing
                if missing:
                    log.warning("%s: %s lacks %d key(s) that the earlier delivery of that day had; they are kept",
                                spec.name, file.name, missing)

        report_skipped(spec.name, notes, "refused_files", refused,
                       "it is never read: remove it, or put the delivered file itself in its place")
        merge_and_record(writer, results, started, spec=spec, days=days, files=files, notes=notes,
                         window_start=window[0] if window else None, window_end=window[1] if window else None)
    # Only after the commit: a crash before it leaves every file where it was.
    archive_files(folder / spec.csv.archive_folder,
                  [p for f in to_archive for p in (f.path, f.path.with_name(f.name + spec.csv.marker_suffix))])
    return RunResult(run_id, spec.name, "success", "", results, files, notes)


def _due(ready: list[DropFile], window: tuple[datetime, datetime] | None) -> list[DropFile]:
    """Files of the days that ended (in Beijing) before the window's end; all of them without a window.

    A late correction of an old day is due as soon as it is complete.
    """
    if window is None:
        return ready
    end_day = window[1].astimezone(BEIJING).date()
    return [f for f in ready if f.file_date < end_day]


def _decide(writer: RunWriter, spec: SourceSpec, files: list[DropFile], refused: list[Skipped]) -> list[_Decision]:
    """What to do with each complete file; one that is no longer a regular file goes to `refused`."""
    table = sql_tables["etl_watermark"]
    seen = {
        (row.stream, row.position): (row.fingerprint, row.outcome)
        for row in writer.conn.execute(sa.select(table).where(table.c.source == spec.name))
    }
    decisions = []
    for file in files:
        try:
            sha = file.sha256()
        except RefusedFile as r:
            refused.append(Skipped(r.name, r.why))
            continue
        previous = seen.get((file.stream, file.name))
        if previous is None or (previous[1] == "quarantined" and previous[0] != sha):
            action = "load"
        elif previous[0] == sha:
            action = "skip"
        else:
            action = "changed"
        decisions.append(_Decision(file, sha, action))
    return decisions


def _load_file(writer: RunWriter, spec: SourceSpec, settings: Settings, file: DropFile, now: datetime,
               progress: Progress | None) -> tuple[StreamResult, tuple[int, int]]:
    """Stage one file; raises _FileQuarantined (the caller rolls back) when the file must go whole."""
    stream = spec.streams[file.stream]
    reader = CsvFileReader(file, stream.columns, encoding=spec.csv.encoding, trailer_label=spec.csv.trailer_label,
                           max_record_bytes=spec.csv.max_record_bytes)
    part = StreamResult(file.stream)
    first_seq = writer.staged_so_far(file.stream)
    if progress:
        try:
            progress.start(file.name, file.path.lstat().st_size)
        except FileNotFoundError:
            raise RefusedFile(file.path, "disappeared before it could be read") from None
    try:
        for batch in reader.batches(lambda done: progress.advance(file.name, done) if progress else None):
            unify_and_stage(writer, spec, settings, file.stream, batch, part, now, location=file.name,
                            delivery_prefix=f"{file.file_date:%Y%m%d}.{file.correction:03d}")
    finally:
        if progress:
            progress.finish(file.name)
    if reader.verdict.problem:
        raise _FileQuarantined(reader.verdict)
    part.extracted, part.declared_total = reader.verdict.records, reader.verdict.trailer
    return part, (first_seq, writer.staged_so_far(file.stream))
