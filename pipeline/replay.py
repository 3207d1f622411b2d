"""Replaying quarantined records through the current specs, after a code map or a rule is fixed.

Each source's replay is a run of its own, with ledger rows like any other:
the replayed records are its `extracted`, and each ends loaded (upserted by
the usual precedence, with the delivery order it had on arrival) or
quarantined again under a new reject. The original reject rows record when
they were replayed, by which run, and what became of them. Every record is
decrypted before anything is written: a quarantine key that does not open
them stops the replay with one sentence.
"""

import json
import logging
from datetime import datetime, timezone

import pyarrow as pa
import sqlalchemy as sa

from loaders.engine import describe
from loaders.locks import source_lock
from loaders.run_writer import RunWriter, StoreKeyMismatch
from pipeline.config import ConfigError, Settings, key_mismatch
from pipeline.runner import RunResult, StreamResult, new_run_id, open_store
from pipeline.specs import ErrorLimit, load_spec
from pipeline.staging import merge_and_record, unify_and_stage
from schemas.sql import sql_tables
from transforms.keyed import QUARANTINE_ALGORITHM, UndecryptableToken

log = logging.getLogger("silobridge")


def replay(settings: Settings, reason: str, source: str | None = None) -> list[RunResult]:
    engine = open_store(settings)
    try:
        results = []
        for name in _sources_with(engine, reason, source):
            with source_lock(engine, name):
                # Read under the source's lock: a replay started at the same time finds these replayed.
                rows = _pending(engine, reason, name)
                if rows:
                    results.append(_replay_source(engine, settings, name, rows))
        return results
    except StoreKeyMismatch as exc:  # another run recorded other keys since open_store looked
        raise ConfigError(key_mismatch(exc.differences, describe(settings.store_url))) from exc
    finally:
        engine.dispose()


def _waiting(reason: str):
    table = sql_tables["etl_reject"]
    return table, (table.c.reason == reason, table.c.kind == "record", table.c.replayed_at.is_(None))


def _sources_with(engine: sa.Engine, reason: str, source: str | None) -> list[str]:
    table, waiting = _waiting(reason)
    query = sa.select(table.c.source).where(*waiting).distinct()
    if source:
        query = query.where(table.c.source == source)
    with engine.connect() as conn:
        return sorted(conn.execute(query).scalars())


def _pending(engine: sa.Engine, reason: str, source: str) -> list:
    table, waiting = _waiting(reason)
    with engine.connect() as conn:
        return conn.execute(sa.select(table).where(*waiting, table.c.source == source)
                            .order_by(table.c.reject_id)).mappings().all()


def _replay_source(engine: sa.Engine, settings: Settings, source: str, rejects: list) -> RunResult:
    spec = load_spec(source)  # the current spec: that is the point of a replay
    started = datetime.now(timezone.utc)
    run_id = new_run_id(f"{source}-replay", started)
    results = {stream: StreamResult(stream) for stream in spec.streams}
    outcomes: dict[int, str] = {}
    batches = {stream: _batch(settings, source, [r for r in rejects if r["stream"] == stream])
               for stream in spec.streams}
    with RunWriter(engine, source, run_id) as writer:
        before = writer.conn.execute(sa.select(sa.func.max(sql_tables["etl_reject"].c.reject_id))).scalar() or 0
        for stream in spec.streams:
            batch, unreadable = batches[stream]
            for reject_id in unreadable:
                outcomes[reject_id] = "not replayable: the record could not be split into fields"
            if batch is None:
                continue
            results[stream].extracted += batch.num_rows
            unify_and_stage(writer, spec, settings, stream, batch, results[stream], started, location="replay of reject")
        again = writer.conn.execute(sa.select(sql_tables["etl_reject"].c.location, sql_tables["etl_reject"].c.reason)
                                    .where(sql_tables["etl_reject"].c.reject_id > before)).all()
        for location, new_reason in again:
            outcomes[int(location.rsplit(" ", 1)[1])] = f"quarantined again: {new_reason}"
        for r in rejects:
            outcomes.setdefault(r["reject_id"], "loaded")
        # No error limit: records still failing stay quarantined, each under a new reject.
        finished = merge_and_record(writer, results, started, spec=spec.model_copy(update={"error_limit": ErrorLimit()}),
                                    notes={"replayed_reason": rejects[0]["reason"]})
        table = sql_tables["etl_reject"]
        for reject_id, outcome in outcomes.items():
            writer.conn.execute(table.update().where(table.c.reject_id == reject_id).values(
                replayed_at=finished, replay_run_id=run_id, replay_outcome=outcome))
    log.info("%s: replayed %d record(s) in run %s", source, len(rejects), run_id)
    return RunResult(run_id, source, "success", "", results, [], {"outcomes": outcomes})


def _batch(settings: Settings, source: str, rejects: list) -> tuple[pa.RecordBatch | None, list[int]]:
    """The decrypted raw records as a raw batch, `_record_no` being the reject's id."""
    cipher = settings.cipher
    records, orders, ids, unreadable = [], [], [], []
    for r in rejects:
        try:
            plain = cipher.decrypt(bytes(r["raw_encrypted"]))
        except UndecryptableToken as exc:
            raise ConfigError(
                f"{source}: quarantined record {r['reject_id']} does not open with the configured quarantine key "
                f"({QUARANTINE_ALGORITHM[settings.crypto]}): set SILOBRIDGE_QUARANTINE_KEY (or, if it was derived, "
                "SILOBRIDGE_PII_KEY and SILOBRIDGE_CRYPTO) to what the store was set up with; nothing of "
                f"{source} was replayed"
            ) from exc
        payload = json.loads(plain.decode("utf-8", "surrogatepass"))
        if "record" not in payload:
            unreadable.append(r["reject_id"])
            continue
        records.append(payload["record"])
        orders.append(payload.get("delivery_order"))
        ids.append(r["reject_id"])
    if not records:
        return None, unreadable
    names = list(dict.fromkeys(k for rec in records for k in rec))
    arrays = [pa.array([rec.get(n) for rec in records], pa.string()) for n in names]
    arrays += [pa.array(ids, pa.int64()), pa.array(orders, pa.string())]
    return pa.RecordBatch.from_arrays(arrays, names=[*names, "_record_no", "_delivery_order"]), unreadable
