"""Everything one run writes, in one transaction.

Unified rows are first staged (PostgreSQL: COPY into a temporary table;
SQLite: a temporary table filled by executemany), then merged set-wise: the
greatest delivery of each key by precedence survives, is compared with the
stored row, and is upserted only when it is greater. Rejects, the ledger row
and the watermark go into the same transaction, so a crash at any point
leaves the store as if the run never started.
"""

import io
import json
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Iterable

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from loaders.engine import StoreError, lock_timeout
from loaders.locks import pg_lock
from schemas.arrow import UNIFIED_BATCH_SCHEMAS
from schemas.sql import Instant, sql_tables
from schemas.tables import INSTANT, MONEY, PRECEDENCE, STREAM_TABLES

_LOOKUP_CHUNK = 900  # stays under every backend's bind-parameter limit
_KEYS_OPTION = "silobridge_store_keys"


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
        seq = pa.array(range(start, start + batch.num_rows), pa.int64())
        column_list = ", ".join((*names, "_seq"))
        if self.sqlite:
            table = STREAM_TABLES[stream]
            columns = [_sqlite_values(batch.column(n), table.column(n).type) for n in names]
            placeholders = ", ".join("?" * (len(names) + 1))
            self.conn.exec_driver_sql(f"INSERT INTO {_staging(stream)} ({column_list}) VALUES ({placeholders})",
                                      list(zip(*columns, seq.to_pylist())))
        else:
            # Arrow writes the CSV column-wise in C; COPY reads it without a Python loop per row.
            # Every valid value is quoted, so only a NULL is an empty unquoted field.
            buffer = io.BytesIO()
            pacsv.write_csv(batch.append_column("_seq", seq), buffer,
                            write_options=pacsv.WriteOptions(include_header=False, quoting_style="all_valid"))
            cursor = self.conn.connection.dbapi_connection.cursor()
            with cursor.copy(f"COPY {_staging(stream)} ({column_list}) FROM STDIN WITH (FORMAT csv)") as copy:
                copy.write(buffer.getvalue())
            cursor.close()

    def keys_held_by_other_sources(self, case_nos: list[str]) -> dict[str, str]:
        """case_no → the other source system that already holds it (a case_no_collision)."""
        table = sql_tables["service_case"]
        found: dict[str, str] = {}
        unique = sorted(set(case_nos))
        for i in range(0, len(unique), _LOOKUP_CHUNK):
            rows = self.conn.execute(
                sa.select(table.c.case_no, table.c.source_system).where(
                    table.c.case_no.in_(unique[i:i + _LOOKUP_CHUNK]), table.c.source_system != self.source
                )
            )
            found.update(dict(rows.all()))
        return found

    # -- merge -----------------------------------------------------------

    def merge(self, stream: str, loaded_at: datetime) -> MergeCounts:
        """Upsert the greatest staged delivery of each key; return what became of them."""
        self._ensure_staging(stream)
        table = STREAM_TABLES[stream]
        target, stg, win = table.name, _staging(stream), _winners(stream)
        key = ", ".join(table.key)
        precedence_desc = ", ".join(f"{c} DESC" for c in PRECEDENCE)
        names = _batch_columns(stream)
        self.conn.exec_driver_sql(f"DROP TABLE IF EXISTS {win}")
        # Ties go to the earliest arrival: on equal precedence the first one "stored" stays.
        self.conn.exec_driver_sql(
            f"CREATE TEMPORARY TABLE {win} AS SELECT * FROM ("
            f"SELECT s.*, ROW_NUMBER() OVER (PARTITION BY {key} ORDER BY {precedence_desc}, _seq) AS _rn "
            f"FROM {stg} s) q WHERE _rn = 1"
        )
        join = " AND ".join(f"t.{k} = w.{k}" for k in table.key)
        w_prec = "(" + ", ".join(f"w.{c}" for c in PRECEDENCE) + ")"
        t_prec = "(" + ", ".join(f"t.{c}" for c in PRECEDENCE) + ")"
        first_key = table.key[0]
        row = self.conn.exec_driver_sql(
            f"SELECT COUNT(*), "
            f"COALESCE(SUM(CASE WHEN t.{first_key} IS NULL THEN 1 ELSE 0 END), 0), "
            f"COALESCE(SUM(CASE WHEN t.{first_key} IS NOT NULL AND {w_prec} > {t_prec} THEN 1 ELSE 0 END), 0), "
            f"COALESCE(SUM(CASE WHEN t.{first_key} IS NOT NULL AND {w_prec} < {t_prec} THEN 1 ELSE 0 END), 0) "
            f"FROM {win} w LEFT JOIN {target} t ON {join}"
        ).one()
        survivors, inserted, updated, stale = (int(v) for v in row)
        staged = self.conn.exec_driver_sql(f"SELECT COUNT(*) FROM {stg}").scalar_one()
        counts = MergeCounts(staged, inserted, updated, survivors - inserted - updated, stale)

        all_names = (*names, "loaded_at", "run_id")
        updates = ", ".join(f"{c} = excluded.{c}" for c in all_names if c not in table.key)
        excluded_prec = "(" + ", ".join(f"excluded.{c}" for c in PRECEDENCE) + ")"
        stored_prec = "(" + ", ".join(f"{target}.{c}" for c in PRECEDENCE) + ")"
        statement = sa.text(
            f"INSERT INTO {target} ({', '.join(all_names)}) "
            f"SELECT {', '.join(names)}, :loaded_at, :run_id FROM {win} WHERE true "
            f"ON CONFLICT ({key}) DO UPDATE SET {updates} "
            f"WHERE {excluded_prec} > {stored_prec} AND {target}.source_system = excluded.source_system"
        ).bindparams(sa.bindparam("loaded_at", type_=Instant()), sa.bindparam("run_id"))
        self.conn.execute(statement, {"loaded_at": loaded_at, "run_id": self.run_id})
        return counts

    def keys_missing_from(self, stream: str, order_prefix: str, file_seq: tuple[int, int]) -> int:
        """Keys last delivered under `order_prefix` (one day of hrss) that the file staged in `file_seq` lacks.

        A correction re-delivers a whole day; a key the earlier delivery had
        and the correction lacks is kept, and reported with this count.
        """
        table = STREAM_TABLES[stream]
        stg, keys = _staging(stream), ", ".join(table.key)
        self.conn.exec_driver_sql(f"CREATE INDEX IF NOT EXISTS {stg}_key ON {stg} ({keys}, _seq)")
        match = " AND ".join(f"s.{k} = k.{k}" for k in table.key)
        return self.conn.execute(
            sa.text(
                f"SELECT COUNT(*) FROM ("
                f"SELECT {keys} FROM {table.name} WHERE source_system = :source AND delivery_order LIKE :prefix "
                f"UNION SELECT {keys} FROM {stg} WHERE delivery_order LIKE :prefix AND _seq < :lo) k "
                f"WHERE NOT EXISTS (SELECT 1 FROM {stg} s WHERE {match} AND s._seq >= :lo AND s._seq < :hi)"
            ),
            {"source": self.source, "prefix": order_prefix + "%", "lo": file_seq[0], "hi": file_seq[1]},
        ).scalar_one()

    def mark_absent_children_deleted(self, parent_stream: str, child_stream: str, loaded_at: datetime) -> int:
        """Children (tax evaluations) that the newest delivery of their parent no longer lists: deleted.

        A parent delivery carries its complete list, so after the merge a child
        it listed carries the parent's update time; one still older than the
        merged parent was absent from that list. Call after merging both streams.
        """
        child, parent = STREAM_TABLES[child_stream].name, _winners(parent_stream)
        statement = sa.text(
            f"UPDATE {child} SET deleted = TRUE, source_updated_at = w.source_updated_at, "
            f"loaded_at = :loaded_at, run_id = :run_id "
            f"FROM {parent} w WHERE {child}.source_system = :source AND {child}.case_no = w.case_no "
            f"AND {child}.deleted = FALSE AND {child}.source_updated_at < w.source_updated_at"
        ).bindparams(sa.bindparam("loaded_at", type_=Instant()))
        return self.conn.execute(statement, {"loaded_at": loaded_at, "run_id": self.run_id,
                                             "source": self.source}).rowcount

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
    """Python values in the SQLite store's text forms, converted column-wise by Arrow."""
    if logical == INSTANT:
        # Arrow prints microsecond timestamps' seconds as SS.ffffff: the store's fixed-width text form.
        text = pc.strftime(column, format="%Y-%m-%d %H:%M:%S", locale="C")
        return pc.binary_join_element_wise(text, "+00:00", "").to_pylist()
    if logical == MONEY:
        return column.cast(pa.string()).to_pylist()
    return column.to_pylist()


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
