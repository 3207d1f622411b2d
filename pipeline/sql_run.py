"""One run over an exchange database (medins): each table read on from its committed (cursor, id) position.

Rows the cursor can never reach (UPDATE_TIME NULL, a zero date, or far in the
future: see extractors.sql) are looked for on every run and quarantined the
first time they are seen, one reject each, located by table and row id
(`EX_CASE row <ORGBUSNO>`); later runs find that reject and leave the row be, so
it is reported once, is a finding in `silobridge reconcile` until replayed, and
counts in the ledger of the run that quarantined it only. A row without an id
cannot be recognised again and is quarantined on every run.
"""

import json
import logging
from datetime import datetime

import pyarrow as pa
import sqlalchemy as sa

from extractors.sql import FUTURE, MISSING, Position, SqlTable, SqlTableReader
from loaders.run_writer import RunWriter
from pipeline.config import ConfigError, Settings
from pipeline.connections import database_url
from pipeline.runner import ExplicitWindow, Progress, RunResult, StreamResult
from pipeline.specs import SourceSpec
from pipeline.staging import merge_and_record, quarantine_records, unify_and_stage
from schemas.sql import sql_tables
from transforms.unify import KEY_FIELD, RecordReject
from transforms.values import BEIJING, clean_text

log = logging.getLogger("silobridge")
WATERMARK = "cursor"
_LOOKUP_CHUNK = 900  # stays under every backend's bind-parameter limit


def run_sql(spec: SourceSpec, settings: Settings, engine: sa.Engine, run_id: str, started: datetime,
            window, progress: Progress | None, explicit: ExplicitWindow | None = None) -> RunResult:
    conn = settings.connection(spec.conn_id)
    if conn is None:
        raise ConfigError(f"{spec.name}: no connection {spec.conn_id}; define the Airflow connection or "
                          f"AIRFLOW_CONN_{spec.conn_id.upper()} with the exchange database's URL")
    url = database_url(conn)
    results = {stream: StreamResult(stream) for stream in spec.streams}
    notes: dict = {}
    with RunWriter(engine, spec.name, run_id) as writer:
        positions = {}
        for stream, stream_spec in spec.streams.items():
            committed = _position(writer, spec.name, stream)
            after, continues = _start(committed, explicit)
            table = SqlTable.from_spec(url, {**spec.extract, **stream_spec.extract})
            reader = SqlTableReader(table, after, window_end=window[1] if window else None)
            for batch in reader.batches():
                results[stream].extracted += batch.num_rows
                unify_and_stage(writer, spec, settings, stream, batch, results[stream], started,
                                location=stream_spec.extract["table"])
            known = 0
            for batch in reader.unreachable():
                known += _quarantine_unreachable(writer, spec, settings, stream, table, batch, results[stream],
                                                 started)
            if continues and reader.last_position is not None and (committed is None
                                                                   or reader.last_position >= committed):
                positions[stream] = reader.last_position
            notes[stream] = {"from": list(after) if after else None,
                             "to": list(reader.last_position) if reader.last_position else None,
                             "below": reader.upper_bound, "unreachable_reported_before": known}
            if not continues:
                notes[stream]["committed_position_kept"] = (
                    f"the committed position stays {list(committed) if committed else 'unset'}: this window does "
                    "not start there, and the rows between are still to be read")
        finished = merge_and_record(writer, results, started, spec=spec, notes=notes,
                                    window_start=window[0] if window else None,
                                    window_end=window[1] if window else None)
        for stream, position in positions.items():
            writer.set_watermark(stream, WATERMARK, value=json.dumps(list(position)), now=finished)
    return RunResult(run_id, spec.name, "success", "", results, [], notes)


def _start(committed: Position | None, explicit: ExplicitWindow | None) -> tuple[Position | None, bool]:
    """Where the read starts, and whether it continues the committed position (only then may it move).

    A window given on the command line starts at its first second (Beijing wall-clock time, as the table's
    UPDATE_TIME), or at the committed position when that is later; with `reread` at its first second.
    """
    if explicit is None:
        return committed, True
    first = Position(explicit.start.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S"), "")
    start = first if explicit.reread or committed is None else max(first, committed)
    return start, committed is not None and start <= committed


def _position(writer: RunWriter, source: str, stream: str) -> Position | None:
    table = sql_tables["etl_watermark"]
    value = writer.conn.execute(sa.select(table.c.value).where(
        table.c.source == source, table.c.stream == stream, table.c.position == WATERMARK)).scalar_one_or_none()
    return Position(*json.loads(value)) if value else None


def _quarantine_unreachable(writer: RunWriter, spec: SourceSpec, settings: Settings, stream: str, table: SqlTable,
                            batch: pa.RecordBatch, result: StreamResult, now: datetime) -> int:
    """Quarantine the rows of `batch` not reported before (they are this run's extracted); returns how many were."""
    cursor_field = table.cursor_column
    key_field = spec.streams[stream].fields[KEY_FIELD[stream]]
    records = batch.to_pylist()
    locations = [f"{table.table} row {r[table.id_column]}" if r[table.id_column] is not None
                 else f"{table.table} row without {table.id_column}" for r in records]
    reported = _reported(writer, spec.name, stream, locations)
    rejects = []
    for location, record in zip(locations, records):
        if location in reported:
            continue
        key = clean_text(record[key_field])
        fields = {c: v for c, v in record.items() if not c.startswith("_")}
        if record["_unreachable"] == FUTURE:
            why = (f"{cursor_field} {record[cursor_field]} is more than {table.future_tolerance_seconds} s past the "
                   "database's clock, so the cursor will reach the row only then")
        else:
            why = (f"{cursor_field} is empty, a zero date or not a time the read order can hold, so the cursor can "
                   "never reach the row")
        # A row read whole is replayable like any reject; one with undecodable text is kept as its fields.
        raw = ({"fields": json.loads(record["_raw"])} if record["_defect"]
               else {"record": fields, "delivery_order": "0"})
        rejects.append(RecordReject(location, key, record["_unreachable"],
                                    f"{spec.name} {location} ({key or 'no key'}): {why}; it is quarantined once",
                                    json.dumps(raw, ensure_ascii=True), record["_record_no"]))
    result.extracted += len(rejects)
    quarantine_records(writer, settings, stream, rejects, result, now)
    if rejects:
        log.warning("%s %s: %d row(s) of %s the cursor cannot reach were quarantined", spec.name, stream,
                    len(rejects), table.table)
    return len(records) - len(rejects)


def _reported(writer: RunWriter, source: str, stream: str, locations: list[str]) -> set[str]:
    """Those of `locations` already quarantined as unreachable by an earlier run."""
    reject = sql_tables["etl_reject"]
    unique, found = sorted(set(locations)), set()
    for i in range(0, len(unique), _LOOKUP_CHUNK):
        found.update(writer.conn.execute(sa.select(reject.c.location).where(
            reject.c.source == source, reject.c.stream == stream, reject.c.reason.in_((MISSING, FUTURE)),
            reject.c.location.in_(unique[i:i + _LOOKUP_CHUNK]))).scalars())
    return found
