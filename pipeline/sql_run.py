"""One run over an exchange database (medins): each table read on from its committed (cursor, id) position."""

import json
import logging
from datetime import datetime

import sqlalchemy as sa

from extractors.sql import Position, SqlTable, SqlTableReader
from loaders.run_writer import RunWriter
from pipeline.config import ConfigError, Settings
from pipeline.connections import database_url
from pipeline.runner import Progress, RunResult, StreamResult
from pipeline.specs import SourceSpec
from pipeline.staging import merge_and_record, unify_and_stage
from schemas.sql import sql_tables

log = logging.getLogger("silobridge")
WATERMARK = "cursor"


def run_sql(spec: SourceSpec, settings: Settings, engine: sa.Engine, run_id: str, started: datetime,
            window, progress: Progress | None) -> RunResult:
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
            after = _position(writer, spec.name, stream)
            reader = SqlTableReader(SqlTable(url=url, **{**spec.extract, **stream_spec.extract}), after,
                                    window_end=window[1] if window else None)
            for batch in reader.batches():
                results[stream].extracted += batch.num_rows
                unify_and_stage(writer, spec, settings, stream, batch, results[stream], started,
                                location=stream_spec.extract["table"])
            positions[stream] = reader.last_position
            notes[stream] = {"from": list(after) if after else None,
                             "to": list(reader.last_position) if reader.last_position else None,
                             "below": reader.upper_bound}
        finished = merge_and_record(writer, results, started, spec=spec, notes=notes,
                                    window_start=window[0] if window else None,
                                    window_end=window[1] if window else None)
        for stream, position in positions.items():
            if position is not None:
                writer.set_watermark(stream, WATERMARK, value=json.dumps(list(position)), now=finished)
    return RunResult(run_id, spec.name, "success", "", results, [], notes)


def _position(writer: RunWriter, source: str, stream: str) -> Position | None:
    table = sql_tables["etl_watermark"]
    value = writer.conn.execute(sa.select(table.c.value).where(
        table.c.source == source, table.c.stream == stream, table.c.position == WATERMARK)).scalar_one_or_none()
    return Position(*json.loads(value)) if value else None
