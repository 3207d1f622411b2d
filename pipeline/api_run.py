"""One run over a REST source (market, tax): one update-time window, every stream, one transaction.

Each record belongs to the Beijing day of its update time (the field the window
selects on), one it cannot be read from to the window's last day: a window over
several days, a catch-up, is reconciled per day (etl_run_day). The API's total
is for the window read, so a window over up to DAY_READS days is read day by
day, cut at Beijing midnights, and each day gets its own declared total; a
longer one (a first run from the history start) is read at once, its total
kept for the run only.

The run has one deadline (the spec's run_deadline_seconds, from its start) shared by
its streams. Nested fields (tax's applicant object and evaluations list) reach the
transforms as JSON text of any type; a record whose nested field has the wrong
JSON type is quarantined whole before the rest is flattened and unified.
"""

import logging
from datetime import date, datetime, time, timezone
from time import monotonic

import pyarrow as pa
import sqlalchemy as sa

from extractors.http_api import HttpApiConfig, HttpApiExtractor
from loaders.run_writer import RunWriter
from pipeline.business_days import BusinessDays, beijing_days
from pipeline.config import ConfigError, Settings
from pipeline.connections import base_url, credentials
from pipeline.runner import SETTLE, ExplicitWindow, Progress, RunResult, StreamResult
from pipeline.specs import SourceSpec
from pipeline.staging import merge_and_record, quarantine_records, unify_and_stage
from schemas.sql import sql_tables
from transforms.nested import flatten_object, quarantine_wrong_shapes, unnest_list
from transforms.values import BEIJING, BadValue, parse_beijing_time

log = logging.getLogger("silobridge")

WATERMARK = "window_end"
# A window over at most this many Beijing days is read day by day (one request or more per day and stream).
DAY_READS = 62


def run_api(spec: SourceSpec, settings: Settings, engine: sa.Engine, run_id: str, started: datetime,
            window: tuple[datetime, datetime] | None, progress: Progress | None,
            explicit: ExplicitWindow | None = None) -> RunResult:
    conn = settings.connection(spec.conn_id)
    if conn is None:
        raise ConfigError(
            f"{spec.name}: no connection {spec.conn_id}; define the Airflow connection or "
            f"AIRFLOW_CONN_{spec.conn_id.upper()} with the API's base URL and credentials"
        )
    results = {stream: StreamResult(stream) for stream in spec.streams}
    notes: dict = {}
    with RunWriter(engine, spec.name, run_id) as writer:
        days = BusinessDays(writer)
        start, end, committed, continues = _window(writer, spec, window, started, explicit)
        notes["window"] = [start.isoformat(), end.isoformat()]
        if not continues:
            notes["committed_position_kept"] = (
                f"the committed window end stays {committed.isoformat() if committed else 'unset'}: this window "
                "does not start there, and what lies between is still to be read")
        if start < end:
            deadline = None
            for stream, stream_spec in spec.streams.items():
                if "nested_in" in stream_spec.extract:
                    continue  # read with its parent stream
                nested = {s: n for s, n in spec.streams.items() if n.extract.get("nested_in") == stream}
                shapes = _shapes(spec, stream, nested)
                config = HttpApiConfig.from_dict({"source": spec.name, "base_url": base_url(conn), **spec.extract,
                                                  **stream_spec.extract, "json_fields": list(shapes)})
                deadline = deadline or monotonic() + config.run_deadline_seconds
                extractor = HttpApiExtractor(config, credentials(conn, config.auth.kind))
                window_days = [day for _, _, day in beijing_days(start, end)]
                read = {"read": 0, "distinct_keys": 0, "passes": 0, "declared_total": 0}
                for part_start, part_end, part_days in _reads(start, end, window_days):
                    for batch in extractor.read_window(part_start, part_end, deadline=deadline):
                        for day, part in _by_update_day(batch, stream_spec.fields["source_updated_at"],
                                                        spec.time_formats, part_days):
                            before = {s: (results[s].extracted, results[s].quarantined, writer.staged_so_far(s))
                                      for s in (stream, *nested)}
                            _load_batch(writer, spec, settings, stream, part, results, started, nested, shapes)
                            for s, (extracted, quarantined, staged) in before.items():
                                days.add(s, day, extracted=results[s].extracted - extracted, staged_from=staged,
                                         quarantined=results[s].quarantined - quarantined)
                    stats = extractor.stats
                    if stats.declared_total is not None and len(part_days) == 1:
                        days.declare(stream, part_days[0], stats.declared_total)
                    if stats.declared_total is not None and stats.declared_total != stats.distinct_keys:
                        log.warning("%s %s: the API's total %s differs from the %s distinct records read in [%s, %s)",
                                    spec.name, stream, stats.declared_total, stats.distinct_keys, part_start, part_end)
                    for k in ("read", "distinct_keys", "passes"):
                        read[k] += getattr(stats, k)
                    read["declared_total"] = (None if read["declared_total"] is None or stats.declared_total is None
                                              else read["declared_total"] + stats.declared_total)
                results[stream].declared_total = read["declared_total"]
                notes[stream] = read
        finished = merge_and_record(writer, results, started, spec=spec, days=days, notes=notes, window_start=start,
                                    window_end=end)
        for child, child_spec in spec.streams.items():
            if "nested_in" in child_spec.extract:
                deleted = writer.mark_absent_children_deleted(child_spec.extract["nested_in"], child, finished)
                notes[f"{child}_marked_deleted"] = deleted
        if continues and end > (committed or start):
            for stream in results:
                writer.set_watermark(stream, WATERMARK, value=end.isoformat(), now=finished)
    return RunResult(run_id, spec.name, "success", "", results, [], notes)


def _window(writer: RunWriter, spec: SourceSpec, window, now: datetime, explicit: ExplicitWindow | None
            ) -> tuple[datetime, datetime, datetime | None, bool]:
    """(start, end, committed window end, whether the window continues it): from the committed window end (the
    first time: the spec's history start) to the interval's end, ≥ 5 min ago.

    Starting at the watermark rather than the interval's start means a window
    clipped for freshness, or a run that failed, leaves no gap, and a second
    run over a span already committed reads nothing and changes nothing. A
    window given on the command line starts at its own start, or at the
    committed end when that is later (at its own start with `reread`); it
    moves the watermark only when nothing between the two is left unread.
    """
    table = sql_tables["etl_watermark"]
    marks = writer.conn.execute(sa.select(table.c.value).where(
        table.c.source == spec.name, table.c.position == WATERMARK)).scalars().all()
    committed = min((datetime.fromisoformat(v) for v in marks), default=None)
    first_day = spec.history_start or spec.start_date
    history = datetime.combine(first_day, time(), BEIJING).astimezone(timezone.utc)
    origin = committed or history
    if explicit is None:
        start, continues = origin, True
    else:
        start = max(explicit.start, history if explicit.reread else origin)
        continues = start <= origin
    end = min(window[1] if window else now, now - SETTLE)
    return start, max(start, end), committed, continues


def _shapes(spec: SourceSpec, stream: str, nested: dict) -> dict[str, type]:
    """The stream's nested fields and their JSON type: objects its dotted fields read from, lists its children."""
    objects = {f.split(".")[0]: dict for f in spec.streams[stream].fields.values() if "." in f}
    return objects | {child.extract["list_column"]: list for child in nested.values()}


def _load_batch(writer: RunWriter, spec: SourceSpec, settings: Settings, stream: str, batch, results, now,
                nested: dict, shapes: dict[str, type]) -> None:
    stream_spec = spec.streams[stream]
    location = _location(stream, batch)
    results[stream].extracted += batch.num_rows
    readable, rejects = quarantine_wrong_shapes(batch, shapes, source=spec.name, location=location,
                                                key_column=stream_spec.extract["key_field"])
    quarantine_records(writer, settings, stream, rejects, results[stream], now)
    for column in (c for c, shape in shapes.items() if shape is dict):
        readable = flatten_object(readable, column)
    unify_and_stage(writer, spec, settings, stream, readable, results[stream], now, location=location)
    for child, child_spec in nested.items():
        extract = child_spec.extract
        # From every parent, its applicant readable or not: an evaluation is loaded on its own merits.
        rows = unnest_list(batch, extract["list_column"], parent_columns=[stream_spec.extract["key_field"],
                           stream_spec.fields["source_updated_at"]],
                           id_column=child_spec.fields["eval_no"], id_parts=tuple(extract["id_parts"]))
        results[child].extracted += rows.num_rows
        unify_and_stage(writer, spec, settings, child, rows, results[child], now, location=f"{child} of {location}")


def _reads(start: datetime, end: datetime, window_days: list[date]):
    """The reads of a window: one per Beijing day, so that each day gets the API's total for it, unless the
    window spans more than DAY_READS days (a first run from the history start): then one read of it all."""
    if len(window_days) > DAY_READS:
        return [(start, end, window_days)]
    return [(part_start, part_end, [day]) for part_start, part_end, day in beijing_days(start, end)]


def _by_update_day(batch: pa.RecordBatch, field: str, formats: list[str], window_days: list[date]):
    """The batch's records grouped by the Beijing day of their update time, clamped to the window's days;
    a record whose update time cannot be read (the transforms quarantine it) goes to the last of them."""
    first, last = window_days[0], window_days[-1]
    values = batch.column(field).to_pylist() if field in batch.schema.names else [None] * batch.num_rows
    rows: dict[date, list[int]] = {}
    for i, value in enumerate(values):
        try:
            moment = parse_beijing_time(value, formats)
        except BadValue:
            moment = None
        day = min(max(moment.astimezone(BEIJING).date(), first), last) if moment else last
        rows.setdefault(day, []).append(i)
    for day, indices in sorted(rows.items()):
        yield day, batch if len(indices) == batch.num_rows else batch.take(pa.array(indices, pa.int64()))


def _location(stream: str, batch) -> str:
    if "_page" in batch.schema.names and batch.num_rows:
        return f"{stream} page {batch.column('_page')[0].as_py()}"
    return stream
