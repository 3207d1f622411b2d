"""Everything one run writes, in one transaction.

Unified rows are first staged (PostgreSQL: binary COPY into a temporary table;
SQLite: a temporary table filled by executemany), then merged set-wise: the
greatest delivery of each key by precedence survives, is compared with the
stored row, and is written only when it is new or greater (an equal or smaller
one touches nothing); a case whose status that changed gets a row in
service_case_history. Rejects, the ledger row and the watermark go into the
same transaction, so a crash at any point leaves the store as if the run never
started.
"""

import json
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Iterable

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from loaders import copy_binary
from loaders.engine import StoreError, lock_timeout
from loaders.locks import pg_lock
from schemas.arrow import UNIFIED_BATCH_SCHEMAS
from schemas.sql import Instant, key_in_list, key_list, sql_tables
from schemas.tables import BOOLEAN, INSTANT, INTEGER, MONEY, PRECEDENCE, SERVICE_CASE_HISTORY, STREAM_TABLES

_KEYS_OPTION = "silobridge_store_keys"
# A merge writing at least this many rows into a table holding fewer than twice as many builds the table's
# secondary indexes after the write.
_BULK_ROWS = 50_000
# What a staged winner is against the stored row of its key (column _fate of the winners table).
_NEW, _GREATER, _EQUAL, _SMALLER = 0, 1, 2, 3
# Streams whose accepted status changes are kept, and where.
_HISTORY = {"cases": SERVICE_CASE_HISTORY}


@dataclass
class Reject:
    stream: str
    kind: str  # "record" or "file"
    location: str
    record_key: str | None
    reason: str
    detail: str
    raw_encrypted: bytes | None


@dataclass
class MergeCounts:
    staged: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    stale: int = 0

    @property
    def duplicates(self) -> int:
        return self.staged - self.inserted - self.updated - self.unchanged


class RunWriter:
    """Open with `with RunWriter(engine, source, run_id) as w:`; commits on a clean exit."""

    def __init__(self, engine: sa.Engine, source: str, run_id: str):
        self.engine, self.source, self.run_id = engine, source, run_id
        self.sqlite = engine.dialect.name == "sqlite"
        self._seq: dict[str, int] = {}
        self.conn: sa.Connection | None = None
        # Per stream: (staging sequence a checked batch ends at, its expectation results), kept until the merge.
        self.quality: dict[str, list[tuple[int, list[dict]]]] = {}

    def __enter__(self) -> "RunWriter":
        self.conn = self.engine.connect().execution_options(sqlite_begin="IMMEDIATE")
        try:
            self._tx = self.conn.begin()
            if not self.sqlite:
                # One transaction per source at a time (a run also holds loaders.locks.source_lock);
                # SQLite gets the same from BEGIN IMMEDIATE.
                pg_lock(self.conn, zlib.crc32(self.source.encode()), lock_timeout(self.engine), transaction=True,
                        waiting=f"another {self.source} run to commit")
            keys = self.engine.get_execution_options().get(_KEYS_OPTION)
            if keys:
                record_store_keys(self.conn, keys, self.run_id, datetime.now(timezone.utc))
        except BaseException:
            self.conn.close()
            raise
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                for stream in list(self._seq):
                    self.conn.exec_driver_sql(f"DROP TABLE IF EXISTS {_staging(stream)}")
                    self.conn.exec_driver_sql(f"DROP TABLE IF EXISTS {_winners(stream)}")
                self._tx.commit()
            else:
                self._tx.rollback()
        finally:
            self.conn.close()

    @contextmanager
    def savepoint(self):
        """Everything written inside is undone if the block raises (a file quarantined whole)."""
        nested = self.conn.begin_nested()
        seq_before = dict(self._seq)
        try:
            yield
        except BaseException:
            nested.rollback()
            self._seq = seq_before
            raise
        nested.commit()

    # -- staging ---------------------------------------------------------

    def _ensure_staging(self, stream: str) -> None:
        if stream in self._seq:
            return
        table = STREAM_TABLES[stream]
        cols = ", ".join(f"{c} {_sql_type(self.sqlite, table.column(c).type)}" for c in _batch_columns(stream))
        self.conn.exec_driver_sql(f"DROP TABLE IF EXISTS {_staging(stream)}")
        self.conn.exec_driver_sql(f"CREATE TEMPORARY TABLE {_staging(stream)} ({cols}, _seq BIGINT NOT NULL)")
        self._seq[stream] = 0

    def stage(self, stream: str, batch: pa.Table) -> None:
        """Stage unified rows (already pseudonymized and masked) for the merge."""
        self._ensure_staging(stream)
        if batch.num_rows == 0:
            return
        names = _batch_columns(stream)
        batch = batch.select(list(names)).cast(UNIFIED_BATCH_SCHEMAS[stream])
        start = self._seq[stream]
        self._seq[stream] = start + batch.num_rows
        batch = batch.append_column("_seq", pa.array(range(start, start + batch.num_rows), pa.int64()))
        table = STREAM_TABLES[stream]
        types = [table.column(n).type for n in names] + [INTEGER]
        if self.sqlite:
            # A column NULL throughout the batch is left to the table's default: sqlite3 binds every value
            # one by one, and a department leaves whole columns empty (hrss: 4 of 27).
            sent = [i for i in range(len(types)) if batch.column(i).null_count < batch.num_rows]
            columns = [_sqlite_values(batch.column(i), types[i]) for i in sent]
            self.conn.exec_driver_sql(
                f"INSERT INTO {_staging(stream)} ({', '.join(batch.schema.names[i] for i in sent)}) "
                f"VALUES ({', '.join('?' * len(sent))})", list(zip(*columns)))
        else:
            # Binary COPY encoded column-wise by Arrow: no per-row Python, no text parsing on the server.
            cursor = self.conn.connection.dbapi_connection.cursor()
            columns = ", ".join(batch.schema.names)
            with cursor.copy(f"COPY {_staging(stream)} ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.write(copy_binary.HEADER)
                for chunk in copy_binary.encode(batch, types):
                    copy.write(chunk)
                copy.write(copy_binary.TRAILER)
            cursor.close()

    def keys_held_by_other_sources(self, case_nos: list[str]) -> dict[str, str]:
        """case_no → the other source system that already holds it (a case_no_collision).

        The batch's keys travel as one JSON array (schemas.sql.key_list): one statement per batch, each key a
        probe of the primary key.
        """
        if not case_nos:
            return {}
        found = self.conn.execute(
            sa.text(f"SELECT case_no, source_system FROM service_case WHERE {key_in_list(self.sqlite, 'case_no')} "
                    "AND source_system <> :source"),
            {"keys": key_list(case_nos), "source": self.source},
        )
        return dict(found.all())

    # -- merge -----------------------------------------------------------

    def merge(self, stream: str, loaded_at: datetime) -> MergeCounts:
        """Upsert the greatest staged delivery of each key; return what became of them.

        Only new keys and greater deliveries are written: a delivery equal to or smaller than the stored row
        touches nothing (not even a row lock). A case whose status the merge changed, or that it inserted,
        gets its row in service_case_history, in the same transaction.
        """
        self._ensure_staging(stream)
        table = STREAM_TABLES[stream]
        self._pick_winners(stream)
        win = _winners(stream)
        by_fate = self.conn.exec_driver_sql(f"SELECT _fate, COUNT(*), SUM(_writes) FROM {win} GROUP BY _fate").all()
        fates = {fate: n for fate, n, _ in by_fate}
        counts = MergeCounts(self._seq[stream], fates.get(_NEW, 0), fates.get(_GREATER, 0),
                             fates.get(_EQUAL, 0) + fates.get(_SMALLER, 0), fates.get(_SMALLER, 0))
        writes = sum(w for *_, w in by_fate)
        if not writes:
            return counts
        names = _batch_columns(stream)
        all_names = (*names, "loaded_at", "run_id")
        updates = ", ".join(f"{c} = excluded.{c}" for c in all_names if c not in table.key)
        excluded_prec = "(" + ", ".join(f"excluded.{c}" for c in PRECEDENCE) + ")"
        stored_prec = "(" + ", ".join(f"{table.name}.{c}" for c in PRECEDENCE) + ")"
        # The conflict clause still guards the write: another source may have committed the same case_no
        # since the winners were picked (cross-source keys are never merged).
        statement = sa.text(
            f"INSERT INTO {table.name} ({', '.join(all_names)}) "
            f"SELECT {', '.join(names)}, :loaded_at, :run_id FROM {win} WHERE _writes = 1 "
            f"ON CONFLICT ({', '.join(table.key)}) DO UPDATE SET {updates} "
            f"WHERE {excluded_prec} > {stored_prec} AND {table.name}.source_system = excluded.source_system"
        ).bindparams(sa.bindparam("loaded_at", type_=Instant()))
        written_tables = [table.name] + ([_HISTORY[stream].name] if stream in _HISTORY else [])
        with self._indexes_built_after(written_tables, writes):
            written = self.conn.execute(statement, {"loaded_at": loaded_at, "run_id": self.run_id}).rowcount
            if stream in _HISTORY:
                self._record_history(stream, loaded_at, all_written=written == writes)
        return counts

    @contextmanager
    def _indexes_built_after(self, tables: list[str], rows: int):
        """A write of `rows` at least half as large as what a table holds (a first load, a backfill, a full
        reload) drops the table's secondary indexes and builds them again after it, in the same transaction.

        Building an index by one sort costs a fraction of maintaining it row by row
        (PostgreSQL, 200,000 new cases: 3.7 s with the indexes in place, 1.4 s + 1.3 s
        to build them after; SQLite 3.5 s against 0.5 s + 1.5 s). Until the run
        commits, PostgreSQL readers and other writers of the table wait; a run
        writing fewer than _BULK_ROWS rows never does this, so the scheduled
        incremental runs leave the indexes alone.
        """
        aside = []
        if rows >= _BULK_ROWS:
            for name in tables:
                if self._rows_held(name, 2 * rows) < 2 * rows:
                    aside.extend(sorted(sql_tables[name].indexes, key=lambda index: index.name))
        for index in aside:
            index.drop(self.conn)
        yield
        for index in aside:
            index.create(self.conn)

    def _rows_held(self, table: str, up_to: int) -> int:
        """About how many rows `table` holds, counted up to `up_to` (SQLite) or as PostgreSQL's planner
        estimates them from the table's current size (counting would read every page a load just wrote)."""
        if self.sqlite:
            return self.conn.execute(sa.text(f"SELECT COUNT(*) FROM (SELECT 1 FROM {table} LIMIT :n) t"),
                                     {"n": up_to}).scalar_one()
        plan = self.conn.exec_driver_sql(f"EXPLAIN (FORMAT JSON) SELECT 1 FROM {table}").scalar_one()
        return int(plan[0]["Plan"]["Plan Rows"])

    def _pick_winners(self, stream: str) -> None:
        """The winners table: the greatest staged delivery of each key, with its fate against the stored row.

        Ties go to the earliest arrival: on equal precedence the first one staged stays.
        """
        table = STREAM_TABLES[stream]
        stg, win = _staging(stream), _winners(stream)
        join = " AND ".join(f"t.{k} = s.{k}" for k in table.key)
        s_prec = "(" + ", ".join(f"s.{c}" for c in PRECEDENCE) + ")"
        t_prec = "(" + ", ".join(f"t.{c}" for c in PRECEDENCE) + ")"
        fate = (f"CASE WHEN t.{table.key[0]} IS NULL THEN {_NEW} WHEN {s_prec} > {t_prec} THEN {_GREATER} "
                f"WHEN {s_prec} < {t_prec} THEN {_SMALLER} ELSE {_EQUAL} END")
        # Written: a new key, or a greater delivery of a key the same source holds.
        writes = (f"CASE WHEN t.{table.key[0]} IS NULL OR ({s_prec} > {t_prec} AND t.source_system = s.source_system) "
                  "THEN 1 ELSE 0 END")
        stored_status = "t.status" if stream in _HISTORY else "NULL"
        select = (f"SELECT s.*, {fate} AS _fate, {writes} AS _writes, {stored_status} AS _stored_status "
                  f"FROM {stg} s LEFT JOIN {table.name} t ON {join}")
        self.conn.exec_driver_sql(f"DROP TABLE IF EXISTS {win}")
        if self.sqlite:
            # No DISTINCT ON in SQLite: a staged row wins when no row of its key is greater, an earlier one
            # greater on equal precedence (a lookup in the key index keys_missing_from also uses).
            keys = ", ".join(table.key)
            self.conn.exec_driver_sql(f"CREATE INDEX IF NOT EXISTS {stg}_key ON {stg} ({keys}, _seq)")
            same_key = " AND ".join(f"o.{k} = s.{k}" for k in table.key)
            o_rank = "(" + ", ".join(f"o.{c}" for c in PRECEDENCE) + ", -o._seq)"
            s_rank = "(" + ", ".join(f"s.{c}" for c in PRECEDENCE) + ", -s._seq)"
            self.conn.exec_driver_sql(
                f"CREATE TEMPORARY TABLE {win} AS {select} "
                f"WHERE NOT EXISTS (SELECT 1 FROM {stg} o WHERE {same_key} AND {o_rank} > {s_rank})"
            )
        else:
            keys = ", ".join(f"s.{k}" for k in table.key)
            order = ", ".join(f"s.{c} DESC" for c in PRECEDENCE)
            self.conn.exec_driver_sql(
                f"CREATE TEMPORARY TABLE {win} AS SELECT DISTINCT ON ({keys}) * FROM ({select}) s "
                f"ORDER BY {keys}, {order}, s._seq"
            )

    def _record_history(self, stream: str, loaded_at: datetime, *, all_written: bool) -> None:
        """A history row for each winner this run wrote whose status is new to the store.

        `all_written`: the upsert wrote every winner it was given; if not (another source committed one
        of the case_nos meanwhile), only the winners whose stored row now carries this run's id count.
        """
        table, history = STREAM_TABLES[stream], _HISTORY[stream]
        columns = ", ".join(c.name for c in history.columns)
        written = "" if all_written else f"JOIN {table.name} t ON t.case_no = w.case_no AND t.run_id = :run_id "
        statement = sa.text(
            f"INSERT INTO {history.name} ({columns}) "
            f"SELECT w.case_no, w.source_updated_at, :run_id, w.source_system, w._stored_status, w.status, "
            f":loaded_at FROM {_winners(stream)} w {written}"
            f"WHERE w._writes = 1 AND (w._stored_status IS NULL OR w._stored_status <> w.status)"
        ).bindparams(sa.bindparam("loaded_at", type_=Instant()))
        self.conn.execute(statement, {"loaded_at": loaded_at, "run_id": self.run_id})

    def keys_missing_from(self, stream: str, order_prefix: str, file_seq: tuple[int, int]) -> int:
        """Keys last delivered under `order_prefix` (one day of hrss) that the file staged in `file_seq` lacks.

        A correction re-delivers a whole day; a key the earlier delivery had
        and the correction lacks is kept, and reported with this count.
        """
        table = STREAM_TABLES[stream]
        stg, keys = _staging(stream), ", ".join(table.key)
        self.conn.exec_driver_sql(f"CREATE INDEX IF NOT EXISTS {stg}_key ON {stg} ({keys}, _seq)")
        match = " AND ".join(f"s.{k} = k.{k}" for k in table.key)
        lacking = f"NOT EXISTS (SELECT 1 FROM {stg} s WHERE {match} AND s._seq >= :lo AND s._seq < :hi)"
        # Each side is cut down to the keys the file lacks before the union removes keys on both sides: a
        # correction usually lacks none, so the union no longer sorts the whole day.
        return self.conn.execute(
            sa.text(
                f"SELECT COUNT(*) FROM ("
                f"SELECT {keys} FROM {table.name} k WHERE source_system = :source AND delivery_order LIKE :prefix "
                f"AND {lacking} "
                f"UNION SELECT {keys} FROM {stg} k WHERE delivery_order LIKE :prefix AND _seq < :lo AND {lacking}) m"
            ),
            {"source": self.source, "prefix": order_prefix + "%", "lo": file_seq[0], "hi": file_seq[1]},
        ).scalar_one()

    def mark_absent_children_deleted(self, parent_stream: str, child_stream: str, loaded_at: datetime) -> int:
        """Children (tax evaluations) that the newest delivery of their parent no longer lists: deleted.

        A parent delivery carries its complete list, so after the merge a child
        it listed carries the parent's update time; one still older than the
        merged parent was absent from that list, unless it was listed but
        quarantined in this run (it did not disappear; its stored row stands).
        A delivered child carries its parent's update time too, so a parent
        delivery that was itself quarantined still shows, by its loaded
        children, when its complete list was sent.
        Call after merging both streams and quarantining their rejects.
        """
        child, reject = STREAM_TABLES[child_stream].name, sql_tables["etl_reject"].name
        deliveries = (f"(SELECT case_no, MAX(source_updated_at) AS source_updated_at FROM ("
                      f"SELECT case_no, source_updated_at FROM {_winners(parent_stream)} UNION ALL "
                      f"SELECT case_no, source_updated_at FROM {_winners(child_stream)}) d GROUP BY case_no)")
        statement = sa.text(
            f"UPDATE {child} SET deleted = TRUE, source_updated_at = w.source_updated_at, "
            f"loaded_at = :loaded_at, run_id = :run_id "
            f"FROM {deliveries} w WHERE {child}.source_system = :source AND {child}.case_no = w.case_no "
            f"AND {child}.deleted = FALSE AND {child}.source_updated_at < w.source_updated_at "
            f"AND NOT EXISTS (SELECT 1 FROM {reject} r WHERE r.run_id = :run_id AND r.source = :source "
            f"AND r.stream = :child_stream AND r.record_key = {child}.eval_no)"
        ).bindparams(sa.bindparam("loaded_at", type_=Instant()))
        return self.conn.execute(statement, {"loaded_at": loaded_at, "run_id": self.run_id, "source": self.source,
                                             "child_stream": child_stream}).rowcount

    def staging_table(self, stream: str) -> str:
        """The run's temporary table of staged rows (queries in the same transaction may read it)."""
        self._ensure_staging(stream)
        return _staging(stream)

    def staged_so_far(self, stream: str) -> int:
        self._ensure_staging(stream)
        return self._seq[stream]

    # -- rejects, ledger, watermark -------------------------------------

    def write_rejects(self, rejects: list[Reject], now: datetime) -> None:
        if not rejects:
            return
        self.conn.execute(
            sql_tables["etl_reject"].insert(),
            [
                {
                    "run_id": self.run_id,
                    "source": self.source,
                    "stream": r.stream,
                    "kind": r.kind,
                    "location": r.location,
                    "record_key": r.record_key,
                    "reason": r.reason,
                    "detail": r.detail,
                    "raw_encrypted": r.raw_encrypted,
                    "created_at": now,
                }
                for r in rejects
            ],
        )

    def write_ledger(self, row: dict) -> None:
        write_ledger(self.conn, {**row, "run_id": self.run_id, "source": self.source})

    def day_counts(self, stream: str, bounds: list[tuple[int, date]]) -> dict[date, MergeCounts]:
        """What the merge is about to make of each business day's staged rows; call before `merge(stream)`.

        `bounds`: (end, day) in ascending order of `end`, the staged rows from the previous end (0 first)
        below `end` belonging to `day`, ending at the rows staged so far. Deliveries are ranked exactly as
        `merge` ranks them, so a key delivered on two days survives on the day of its greatest delivery and
        is a duplicate on the other; the days add up to the merge's counts.
        """
        self._ensure_staging(stream)
        table = STREAM_TABLES[stream]
        key = ", ".join(table.key)
        precedence_desc = ", ".join(f"{c} DESC" for c in PRECEDENCE)
        day_of = "CASE " + " ".join(f"WHEN _seq < {int(end)} THEN {i}" for i, (end, _) in enumerate(bounds)) + " END"
        join = " AND ".join(f"t.{k} = w.{k}" for k in table.key)
        w_prec = "(" + ", ".join(f"w.{c}" for c in PRECEDENCE) + ")"
        t_prec = "(" + ", ".join(f"t.{c}" for c in PRECEDENCE) + ")"
        found = f"w._rn = 1 AND t.{table.key[0]} IS NOT NULL"
        rows = self.conn.exec_driver_sql(
            f"SELECT w._day, COUNT(*), "
            f"COALESCE(SUM(CASE WHEN w._rn = 1 THEN 1 ELSE 0 END), 0), "
            f"COALESCE(SUM(CASE WHEN w._rn = 1 AND t.{table.key[0]} IS NULL THEN 1 ELSE 0 END), 0), "
            f"COALESCE(SUM(CASE WHEN {found} AND {w_prec} > {t_prec} THEN 1 ELSE 0 END), 0), "
            f"COALESCE(SUM(CASE WHEN {found} AND {w_prec} < {t_prec} THEN 1 ELSE 0 END), 0) "
            f"FROM (SELECT s.*, {day_of} AS _day, "
            f"ROW_NUMBER() OVER (PARTITION BY {key} ORDER BY {precedence_desc}, _seq) AS _rn "
            f"FROM {_staging(stream)} s) w LEFT JOIN {table.name} t ON {join} AND w._rn = 1 GROUP BY w._day"
        ).all()
        counts = {}
        for index, staged, survivors, inserted, updated, stale in rows:
            if index is None:
                raise ValueError(f"{self.source} {stream}: staged rows past the last business day's end")
            counts[bounds[index][1]] = MergeCounts(int(staged), int(inserted), int(updated),
                                                   int(survivors) - int(inserted) - int(updated), int(stale))
        return counts

    def write_days(self, rows: list[dict]) -> None:
        """The run's ledger rows by business day (etl_run_day), in the transaction of its etl_run rows."""
        if rows:
            self.conn.execute(sql_tables["etl_run_day"].insert(),
                              [{**row, "run_id": self.run_id, "source": self.source} for row in rows])

    def set_watermark(self, stream: str, position: str, *, value=None, fingerprint=None, outcome=None, now: datetime) -> None:
        table = sql_tables["etl_watermark"]
        key = {"source": self.source, "stream": stream, "position": position}
        values = {"value": value, "fingerprint": fingerprint, "outcome": outcome, "run_id": self.run_id, "updated_at": now}
        done = self.conn.execute(
            table.update().where(*(table.c[k] == v for k, v in key.items())).values(**values)
        ).rowcount
        if not done:
            self.conn.execute(table.insert().values(**key, **values))


def write_ledger(conn: sa.Connection, row: dict) -> None:
    row = dict(row)
    for name in ("files", "notes"):
        if row.get(name) is not None and not isinstance(row[name], str):
            row[name] = json.dumps(row[name], ensure_ascii=False, default=str)
    conn.execute(sql_tables["etl_run"].insert().values(**row))


def record_failed_run(engine: sa.Engine, source: str, run_id: str, streams: list[str], started_at: datetime,
                      reason: str, window: tuple[datetime | None, datetime | None] = (None, None)) -> None:
    """A failed run commits its ledger rows and nothing else.

    A stream that already has its row (a run stopped after its commit, e.g. while archiving) keeps it.
    """
    zero = dict.fromkeys(("extracted", "inserted", "updated", "unchanged", "stale", "quarantined", "duplicates"), 0)
    ledger = sql_tables["etl_run"]
    with engine.begin() as conn:
        done = set(conn.execute(sa.select(ledger.c.stream).where(ledger.c.run_id == run_id)).scalars())
        for stream in (s for s in streams if s not in done):
            write_ledger(conn, {
                "run_id": run_id, "stream": stream, "source": source, "status": "failed",
                "failure_reason": reason, "started_at": started_at, "finished_at": datetime.now(timezone.utc),
                "window_start": window[0], "window_end": window[1], **zero,
            })


# -- the keys a store was set up with (table store_key) -------------------


@dataclass(frozen=True)
class StoreKey:
    purpose: str  # "pseudonym" or "quarantine"
    suite: str
    algorithm: str
    fingerprint: str


class StoreKeyMismatch(StoreError):
    """A key or crypto suite differs from the one the store recorded; `differences` pairs (wanted, recorded)."""

    def __init__(self, differences: list[tuple[StoreKey, dict]]):
        super().__init__(", ".join(f"{w.purpose} key differs from the one the store recorded" for w, _ in differences))
        self.differences = differences


def with_store_keys(engine: sa.Engine, keys: Iterable[StoreKey]) -> sa.Engine:
    """The engine whose RunWriters record `keys` on a store's first run and refuse other keys afterwards."""
    return engine.execution_options(**{_KEYS_OPTION: tuple(keys)})


def recorded_keys(conn: sa.Connection) -> dict[str, dict]:
    """purpose → the store_key row."""
    table = sql_tables["store_key"]
    return {row["purpose"]: dict(row) for row in conn.execute(sa.select(table)).mappings()}


def key_differences(keys: Iterable[StoreKey], recorded: dict[str, dict]) -> list[tuple[StoreKey, dict]]:
    """The wanted keys whose suite, algorithm or fingerprint differs from the recorded one."""
    return [(k, recorded[k.purpose]) for k in keys if k.purpose in recorded
            and (recorded[k.purpose]["suite"], recorded[k.purpose]["algorithm"], recorded[k.purpose]["fingerprint"])
            != (k.suite, k.algorithm, k.fingerprint)]


def record_store_keys(conn: sa.Connection, keys: Iterable[StoreKey], run_id: str, now: datetime) -> None:
    """Record the keys a store has none of yet; raise StoreKeyMismatch if it recorded others."""
    keys = tuple(keys)
    table = sql_tables["store_key"]
    insert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)
    for key in keys:
        # Two first runs of different sources may meet here: the first insert wins, the second compares.
        conn.execute(insert.values(purpose=key.purpose, suite=key.suite, algorithm=key.algorithm,
                                   fingerprint=key.fingerprint, run_id=run_id, created_at=now)
                     .on_conflict_do_nothing(index_elements=["purpose"]))
    differences = key_differences(keys, recorded_keys(conn))
    if differences:
        raise StoreKeyMismatch(differences)


def _sqlite_values(column: pa.ChunkedArray, logical: str) -> list:
    """Python values in the SQLite store's text forms, converted column-wise by Arrow (not NumPy scalars:
    sqlite3 would store an int64 as a blob)."""
    if logical == INSTANT:
        # Arrow prints a microsecond timestamp as `YYYY-MM-DD HH:MM:SS.ffffff`, the store's fixed-width form
        # without its offset. Printed without its time zone (the values are UTC either way): ten times
        # faster than strftime or a cast of the zoned type, which look up the zone for every value.
        text = column.cast(pa.timestamp("us")).cast(pa.string())
        column = pc.binary_join_element_wise(text, "+00:00", "")
    elif logical == MONEY:
        column = column.cast(pa.string())
    elif logical in (INTEGER, BOOLEAN) and column.null_count:
        # NumPy would turn a NULL among integers into NaN: Python objects, None where NULL.
        values = column.fill_null(0 if logical == INTEGER else False).to_numpy().astype(object)
        values[column.is_null().to_numpy(zero_copy_only=False)] = None
        return values.tolist()
    return column.to_numpy(zero_copy_only=False).tolist()


def _batch_columns(stream: str) -> tuple[str, ...]:
    return tuple(UNIFIED_BATCH_SCHEMAS[stream].names)


def _staging(stream: str) -> str:
    return f"stg_{stream}"


def _winners(stream: str) -> str:
    return f"win_{stream}"


def _sql_type(sqlite: bool, logical: str) -> str:
    if sqlite:
        return {"integer": "INTEGER", "boolean": "INTEGER"}.get(logical, "TEXT")
    return {
        "text": "TEXT", "integer": "BIGINT", "boolean": "BOOLEAN", "instant": "TIMESTAMPTZ",
        "money": "NUMERIC(16,2)", "blob": "BYTEA",
    }[logical]
