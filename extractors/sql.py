"""Exchange-database tables (前置库): a compound-cursor read, streamed in bounded batches.

One reader reads one table from where the previous run stopped, the position
(cursor column, id) of the last row it delivered, up to a bound a little in
the past:

    (cursor, id) > (after.update_time, after.id)
    AND cursor < min(window_end, database now − lag)
    ORDER BY cursor, id

Many rows share one cursor value (the source writes in bulk, to the second),
so the position needs the id as a tie-breaker, and ids compare as bytes on
every backend (`CAST(… AS BINARY)` on MySQL/MariaDB, `COLLATE "C"` on
PostgreSQL, `COLLATE BINARY` on SQLite) whatever the column's own collation:
under a case-insensitive collation `a` = `A` and rows at a batch edge would be
lost. The lag covers rows committed late with a cursor value in the past.

The database's clock decides "now", never the reader's, so that a skewed
reader can neither skip late commits nor stall. DATETIME columns hold Beijing
wall-clock time, while the server may run in any zone and a session may set
its own, so NOW(), LOCALTIMESTAMP and friends would shift the bound by the
zone difference (ahead of Beijing: late rows are skipped for good). The reader
asks for the server's zone-free UTC instant and adds the fixed +08:00:

    MySQL/MariaDB  UTC_TIMESTAMP()
    PostgreSQL     statement_timestamp() AT TIME ZONE 'UTC'
    SQLite         datetime('now')   (embedded: the clock of the host the file is on)

The clock is read before the streaming query starts: every row stamped before
the bound was committed by then (at most `lag` late), so the query's snapshot,
taken later, holds it.

Batches hold the table's columns exactly as read, names unchanged, every value
as text: DATETIME as `yyyy-MM-dd HH:mm:ss`, DECIMAL as its exact decimal text,
integers as digits, NULL as null; plus provenance `_record_no` (1-based within
the run). Zero dates `0000-00-00 00:00:00` are passed on as that text for the
transform to null: through pymysql every value is read as the server's own
text (see `_pymysql_text_only`), so they arrive exactly as stored. (mysqlclient
would turn them into None, which means the same.) SQLite keeps DECIMAL(16,2)
with numeric affinity, so there `12.50` reads `12.5` and `300.00` reads `300`:
the same amounts.

On MySQL/MariaDB the BINARY cast keeps an (UPDATE_TIME, id) index from
ordering the ids: the server range-scans the cursor column and sorts the rows
of the run's window, once, before streaming them.

Rows the cursor can never reach. A row whose cursor is NULL, a zero date or
before 1000-01-01 (`FLOOR`, the start of MySQL's DATETIME range) compares
below every position, and a row stamped far in the future stays above every
bound: read by the cursor alone they would vanish without a trace, and one
far in the future would drag the position past every row still to come.
`unreachable()` finds them apart, each problem with its own indexed range:
`missing_update_time` (NULL, zero or before FLOOR, or not a time at all) and
`future_update_time` (more than `future_tolerance_seconds` past the
database's clock; such a row is read by the cursor once its time comes).
The cursor read itself skips them (`cursor >= FLOOR`), so they can neither
be read twice nor move the position. Reporting each once is the caller's
part: the rows come back on every call.

No single row fails the read. A value that is not UTF-8 text (a binary
column, or invalid UTF-8 that SQLite keeps in a TEXT column) makes its row
an `undecodable` defect (`_defect`, with the row in `_raw` as JSON, the bad
bytes escaped), as in the other extractors; PostgreSQL times that Python
cannot hold (infinity, years before 1 or after 9999) are read as the
server's own text (DateStyle ISO). Text with NUL characters, dates such as
9999-12-31 and every other value reach the transforms as they are.
"""

import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import NamedTuple

import pyarrow as pa
import sqlalchemy as sa

from schemas.sql import is_utf8

BATCH_ROWS = 20_000
_BEIJING_OFFSET = timedelta(hours=8)
_BEIJING = timezone(_BEIJING_OFFSET)
_WALL_CLOCK = "%Y-%m-%d %H:%M:%S"
FLOOR = "1000-01-01 00:00:00"  # cursor values below it (zero dates included) are no place in the read order
MISSING, FUTURE = "missing_update_time", "future_update_time"


class Position(NamedTuple):
    """A row's place in the read order; the watermark a run leaves for the next."""

    update_time: str  # the cursor column's text, `yyyy-MM-dd HH:mm:ss`
    id: str


class SqlSourceError(RuntimeError):
    pass


@dataclass(frozen=True)
class SqlTable:
    url: str  # any SQLAlchemy URL; MySQL/MariaDB through mysql+pymysql
    table: str
    id_column: str  # unique per row, e.g. ORGBUSNO or EVAID
    cursor_column: str = "UPDATE_TIME"
    lag_seconds: int = 120  # how late the source may commit a row with a past cursor value
    batch_rows: int = BATCH_ROWS
    future_tolerance_seconds: int = 86_400  # a cursor further than this past the database's clock is reported

    @classmethod
    def from_spec(cls, url: str, settings: Mapping) -> "SqlTable":
        known = [f.name for f in fields(cls) if f.name != "url"]
        if unknown := sorted(set(settings) - set(known)):
            raise SqlSourceError(f"the sql extract settings have unknown key(s) {', '.join(unknown)} "
                                 f"(known: {', '.join(known)})")
        return cls(url=url, **settings)

    def __post_init__(self):
        limits = {"lag_seconds": 0, "batch_rows": 1, "future_tolerance_seconds": 0}
        for name, least in limits.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise SqlSourceError(f"the sql extract setting {name} must be a whole number of at least {least}, "
                                     f"not {value!r}")



@dataclass(frozen=True)
class _Dialect:
    utc_now: str
    bytewise: Callable[[sa.ColumnElement], sa.ColumnElement]
    session_setup: str | None = None
    times_as_text: bool = False  # its driver refuses times Python cannot hold: select them as text
    # SQLite keeps whatever bytes it was given in a TEXT column and its driver fails on any that are not
    # UTF-8: rows are fetched as bytes, which Arrow checks as it makes them text.
    text_as_bytes: bool = False


_MYSQL = _Dialect(
    "SELECT UTC_TIMESTAMP()",
    lambda c: sa.cast(c, sa.LargeBinary),
    # A streaming read leaves the server waiting while the consumer loads each batch;
    # past net_write_timeout (60 s by default) the server drops the connection.
    "SET SESSION net_write_timeout = 3600",
)
_DIALECTS = {
    "mysql": _MYSQL,
    "mariadb": _MYSQL,
    "postgresql": _Dialect("SELECT statement_timestamp() AT TIME ZONE 'UTC'", lambda c: c.collate("C"),
                           "SET DateStyle = 'ISO, YMD'", times_as_text=True),
    "sqlite": _Dialect("SELECT datetime('now')", lambda c: c.collate("BINARY"), text_as_bytes=True),
}


class SqlTableReader:
    """Streams the rows after `after` in (cursor, id) byte order; memory does not grow with the table.

    After the batches: `last_position` is the position of the last row delivered
    (still `after` when there was none), `rows_read` how many rows were delivered
    (by both methods), and `upper_bound` the Beijing wall-clock time that the rows stayed below.
    Batches hold the columns, `_record_no`, `_defect` and `_raw`; `unreachable()`'s
    add `_unreachable`, the reason the cursor cannot reach the row.
    """

    def __init__(self, source: SqlTable, after: Position | None = None, *, window_end: datetime | None = None):
        if window_end is not None and window_end.tzinfo is None:
            raise ValueError("window_end must be timezone-aware: the source's times are Beijing wall-clock time")
        self.source, self.after, self.window_end = source, after, window_end
        self.last_position = after
        self.rows_read = 0
        self.upper_bound: str | None = None
        self._times: set[str] = set()  # the table's time columns

    def batches(self) -> Iterator[pa.RecordBatch]:
        """The rows the cursor reaches, after `after` and below the bound, in (cursor, id) order."""
        with self._connected() as (conn, dialect, table):
            src = self.source
            self.upper_bound = self._bound(conn, dialect)
            cursor, row_id = table.c[src.cursor_column], dialect.bytewise(table.c[src.id_column])
            where = (cursor < sa.bindparam("bound")) & (cursor >= sa.bindparam("floor"))
            params = {"bound": self.upper_bound, "floor": FLOOR}
            if self.after is not None:
                # (cursor, id) > (t, id) spelled out, with a plain range on the cursor that an index can use.
                t = sa.bindparam("after_time")
                where &= (cursor >= t) & ((cursor > t) | (row_id > sa.bindparam("after_id", type_=sa.String())))
                params |= {"after_time": self.after.update_time, "after_id": self.after.id}
            names = [c.name for c in table.c]
            at_cursor, at_id = names.index(src.cursor_column), names.index(src.id_column)
            for arrays in self._stream(conn, dialect, table, where, (cursor, row_id), params):
                self.last_position = Position(arrays[at_cursor][-1].as_py(), arrays[at_id][-1].as_py())
                yield pa.RecordBatch.from_arrays(arrays, names=[*names, "_record_no", "_defect", "_raw"])

    def unreachable(self) -> Iterator[pa.RecordBatch]:
        """Every row the cursor can never reach (see the module's docstring), each problem in id order."""
        with self._connected() as (conn, dialect, table):
            src = self.source
            cursor, row_id = table.c[src.cursor_column], dialect.bytewise(table.c[src.id_column])
            future = (self._db_now(conn, dialect) + timedelta(seconds=src.future_tolerance_seconds)).strftime(_WALL_CLOCK)
            names = [c.name for c in table.c]
            at_cursor = names.index(src.cursor_column)
            for where, params in ((cursor.is_(None), {}), (cursor < sa.bindparam("floor"), {"floor": FLOOR}),
                                  (cursor > sa.bindparam("future"), {"future": future})):
                for arrays in self._stream(conn, dialect, table, where, (row_id,), params):
                    problems = [MISSING if _reachable_time(v) is None else FUTURE
                                for v in arrays[at_cursor].to_pylist()]
                    yield pa.RecordBatch.from_arrays([*arrays, pa.array(problems, pa.string())],
                                                     names=[*names, "_record_no", "_defect", "_raw", "_unreachable"])

    @contextmanager
    def _connected(self):
        url = sa.make_url(self.source.url)
        connect_args = {"conv": _pymysql_text_only()} if url.get_driver_name() == "pymysql" else {}
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool, connect_args=connect_args)
        shown = engine.url.render_as_string(hide_password=True)
        try:
            try:
                conn = engine.connect()
            except sa.exc.DBAPIError as exc:
                raise SqlSourceError(
                    f"cannot reach the exchange database {shown} ({str(exc.orig).splitlines()[0]}); "
                    "check the connection's host, port, database and credentials") from exc
            with conn:
                dialect = _DIALECTS.get(conn.dialect.name)
                if dialect is None:
                    raise SqlSourceError(f"{shown}: no clock query and byte-wise collation are known for the "
                                         f"{conn.dialect.name} dialect; add them to extractors/sql.py")
                if dialect.session_setup:
                    conn.exec_driver_sql(dialect.session_setup)
                yield conn, dialect, self._table(conn, shown)
        finally:
            engine.dispose()

    def _stream(self, conn: sa.Connection, dialect: _Dialect, table: sa.TableClause, where, order, params
                ) -> Iterator[list[pa.Array]]:
        """The rows matching `where`, a bounded chunk at a time, as text arrays plus the provenance columns."""
        src = self.source
        names = [c.name for c in table.c]
        times = self._times
        shown = [sa.cast(c, sa.Text).label(c.name) if dialect.times_as_text and c.name in times else c
                 for c in table.c]
        stmt = sa.select(*shown).where(where).order_by(*order)
        if dialect.text_as_bytes:
            conn.connection.dbapi_connection.text_factory = bytes
        result = conn.execution_options(stream_results=True, yield_per=src.batch_rows).execute(stmt, params)
        for rows in result.partitions():
            arrays, undecodable = [], set()
            for values in zip(*rows):
                array, bad = _text_array(values)
                arrays.append(array)
                undecodable |= bad
            first = self.rows_read + 1
            self.rows_read += len(rows)
            defect = ["undecodable" if i in undecodable else None for i in range(len(rows))]
            raw = [_raw_row(names, rows[i]) if i in undecodable else None for i in range(len(rows))]
            yield [*arrays, pa.array(range(first, self.rows_read + 1), pa.int64()), pa.array(defect, pa.string()),
                   pa.array(raw, pa.string())]

    def _table(self, conn: sa.Connection, shown: str) -> sa.TableClause:
        src = self.source
        try:
            columns = sa.inspect(conn).get_columns(src.table)
        except sa.exc.NoSuchTableError:
            raise SqlSourceError(
                f"{shown} has no table {src.table!r}; check the table name in the source spec") from None
        names = [c["name"] for c in columns]
        missing = [c for c in (src.id_column, src.cursor_column) if c not in names]
        if missing:
            raise SqlSourceError(f"table {src.table} in {shown} has no column {', '.join(missing)} "
                                 f"(it has {', '.join(names)}); check the id and cursor columns in the source spec")
        self._times = {c["name"] for c in columns if isinstance(c["type"], (sa.DateTime, sa.Date, sa.Time))}
        return sa.table(src.table, *(sa.column(n) for n in names))

    def _db_now(self, conn: sa.Connection, dialect: _Dialect) -> datetime:
        """The database's clock as Beijing wall-clock time."""
        utc = conn.exec_driver_sql(dialect.utc_now).scalar_one()
        if isinstance(utc, str):  # SQLite, and pymysql as set up here, answer in text
            utc = datetime.fromisoformat(utc)
        return utc + _BEIJING_OFFSET

    def _bound(self, conn: sa.Connection, dialect: _Dialect) -> str:
        bound = self._db_now(conn, dialect) - timedelta(seconds=self.source.lag_seconds)
        if self.window_end is not None:
            bound = min(bound, self.window_end.astimezone(_BEIJING).replace(tzinfo=None))
        # Whole seconds: a row at the bound's own second waits for the next run, which is safe.
        return bound.strftime(_WALL_CLOCK)


def _reachable_time(text: str | None) -> datetime | None:
    """The cursor value as a time the read order can hold, or None (NULL, zero, before FLOOR, not a time)."""
    try:
        moment = datetime.strptime((text or "")[:19], _WALL_CLOCK)
    except ValueError:
        return None
    return moment if text[:19] >= FLOOR else None


def _pymysql_text_only() -> dict:
    """pymysql's conversions without its result decoders: every value arrives as the server's own text.

    That is the stored text itself (zero dates and DECIMAL places included) and
    spares parsing times only to print them again, the larger part of a read.
    """
    from pymysql.converters import conversions

    return {k: v for k, v in conversions.items() if not isinstance(k, int)}  # int keys are field-type decoders


def _text_array(values: tuple) -> tuple[pa.Array, set[int]]:
    """The values as text, and the positions of those that are not UTF-8 text (left null here)."""
    try:
        return pa.array(values, pa.string()), set()  # text already: pymysql as set up here, character columns
    except (pa.ArrowTypeError, pa.ArrowInvalid, UnicodeEncodeError):
        texts, bad = [], set()
        for i, value in enumerate(values):
            text = None if value is None else _text(value)
            if text is not None and not is_utf8(text):
                bad.add(i)
                text = None
            texts.append(text)
        return pa.array(texts, pa.string()), bad


def _text(value) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, Decimal):
        return format(value, "f")  # str() would give 1E+2 for some exact amounts
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", "surrogateescape")  # bytes that are not UTF-8 stay visible as such
    return str(value)  # datetime: `yyyy-MM-dd HH:mm:ss` (plus `.ffffff` only if stored); int, float: digits


def _raw_row(names: list[str], row) -> str:
    """An undecodable row as JSON: its bytes that are not UTF-8 escaped (\\udcXX), to be kept encrypted."""
    return json.dumps({n: None if v is None else _text(v) for n, v in zip(names, row)}, ensure_ascii=True)
