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
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import NamedTuple

import pyarrow as pa
import sqlalchemy as sa

BATCH_ROWS = 20_000
_BEIJING_OFFSET = timedelta(hours=8)
_BEIJING = timezone(_BEIJING_OFFSET)
_WALL_CLOCK = "%Y-%m-%d %H:%M:%S"


class Position(NamedTuple):
    """A row's place in the read order; the watermark a run leaves for the next."""

    update_time: str  # the cursor column's text, `yyyy-MM-dd HH:mm:ss`
    id: str


@dataclass(frozen=True)
class SqlTable:
    url: str  # any SQLAlchemy URL; MySQL/MariaDB through mysql+pymysql
    table: str
    id_column: str  # unique per row, e.g. ORGBUSNO or EVAID
    cursor_column: str = "UPDATE_TIME"
    lag_seconds: int = 120  # how late the source may commit a row with a past cursor value
    batch_rows: int = BATCH_ROWS


class SqlSourceError(RuntimeError):
    pass


@dataclass(frozen=True)
class _Dialect:
    utc_now: str
    bytewise: Callable[[sa.ColumnElement], sa.ColumnElement]
    session_setup: str | None = None


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
    "postgresql": _Dialect("SELECT statement_timestamp() AT TIME ZONE 'UTC'", lambda c: c.collate("C")),
    "sqlite": _Dialect("SELECT datetime('now')", lambda c: c.collate("BINARY")),
}


class SqlTableReader:
    """Streams the rows after `after` in (cursor, id) byte order; memory does not grow with the table.

    After the batches: `last_position` is the position of the last row delivered
    (still `after` when there was none), `rows_read` how many rows were delivered,
    and `upper_bound` the Beijing wall-clock time that the rows stayed below.
    """

    def __init__(self, source: SqlTable, after: Position | None = None, *, window_end: datetime | None = None):
        if window_end is not None and window_end.tzinfo is None:
            raise ValueError("window_end must be timezone-aware: the source's times are Beijing wall-clock time")
        self.source, self.after, self.window_end = source, after, window_end
        self.last_position = after
        self.rows_read = 0
        self.upper_bound: str | None = None

    def batches(self) -> Iterator[pa.RecordBatch]:
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
                yield from self._read(conn, shown)
        finally:
            engine.dispose()

    def _read(self, conn: sa.Connection, shown: str) -> Iterator[pa.RecordBatch]:
        src = self.source
        dialect = _DIALECTS.get(conn.dialect.name)
        if dialect is None:
            raise SqlSourceError(f"{shown}: no clock query and byte-wise collation are known for the "
                                 f"{conn.dialect.name} dialect; add them to extractors/sql.py")
        names = self._columns(conn, shown)
        self.upper_bound = self._bound(conn, dialect)
        table = sa.table(src.table, *(sa.column(n) for n in names))
        cursor, row_id = table.c[src.cursor_column], dialect.bytewise(table.c[src.id_column])
        where = cursor < sa.bindparam("bound")
        params = {"bound": self.upper_bound}
        if self.after is not None:
            # (cursor, id) > (t, id) spelled out, with a plain range on the cursor that an index can use.
            t = sa.bindparam("after_time")
            where &= (cursor >= t) & ((cursor > t) | (row_id > sa.bindparam("after_id", type_=sa.String())))
            params |= {"after_time": self.after.update_time, "after_id": self.after.id}
        stmt = sa.select(*table.c).where(where).order_by(cursor, row_id)
        if dialect.session_setup:
            conn.exec_driver_sql(dialect.session_setup)
        result = conn.execution_options(stream_results=True, yield_per=src.batch_rows).execute(stmt, params)
        at_cursor, at_id = names.index(src.cursor_column), names.index(src.id_column)
        for rows in result.partitions():
            arrays = [_text_array(col, n) for col, n in zip(zip(*rows), names)]
            first = self.rows_read + 1
            self.rows_read += len(rows)
            self.last_position = Position(arrays[at_cursor][-1].as_py(), arrays[at_id][-1].as_py())
            arrays.append(pa.array(range(first, self.rows_read + 1), pa.int64()))
            yield pa.RecordBatch.from_arrays(arrays, names=[*names, "_record_no"])

    def _columns(self, conn: sa.Connection, shown: str) -> list[str]:
        src = self.source
        try:
            names = [c["name"] for c in sa.inspect(conn).get_columns(src.table)]
        except sa.exc.NoSuchTableError:
            raise SqlSourceError(
                f"{shown} has no table {src.table!r}; check the table name in the source spec") from None
        missing = [c for c in (src.id_column, src.cursor_column) if c not in names]
        if missing:
            raise SqlSourceError(f"table {src.table} in {shown} has no column {', '.join(missing)} "
                                 f"(it has {', '.join(names)}); check the id and cursor columns in the source spec")
        return names

    def _bound(self, conn: sa.Connection, dialect: _Dialect) -> str:
        utc = conn.exec_driver_sql(dialect.utc_now).scalar_one()
        if isinstance(utc, str):  # SQLite, and pymysql as set up here, answer in text
            utc = datetime.fromisoformat(utc)
        bound = utc + _BEIJING_OFFSET - timedelta(seconds=self.source.lag_seconds)
        if self.window_end is not None:
            bound = min(bound, self.window_end.astimezone(_BEIJING).replace(tzinfo=None))
        # Whole seconds: a row at the bound's own second waits for the next run, which is safe.
        return bound.strftime(_WALL_CLOCK)


def _pymysql_text_only() -> dict:
    """pymysql's conversions without its result decoders: every value arrives as the server's own text.

    That is the stored text itself (zero dates and DECIMAL places included) and
    spares parsing times only to print them again, the larger part of a read.
    """
    from pymysql.converters import conversions

    return {k: v for k, v in conversions.items() if not isinstance(k, int)}  # int keys are field-type decoders


def _text_array(values: tuple, column: str) -> pa.Array:
    try:
        return pa.array(values, pa.string())  # text already: pymysql as set up here, character columns
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        return pa.array([v if v is None or type(v) is str else _text(v, column) for v in values], pa.string())


def _text(value, column: str) -> str:
    if isinstance(value, Decimal):
        return format(value, "f")  # str() would give 1E+2 for some exact amounts
    if isinstance(value, (bytes, bytearray, memoryview)):
        raise SqlSourceError(f"column {column} holds bytes that are not UTF-8 text; the exchange tables hold "
                             "text, numbers and times")
    return str(value)  # datetime: `yyyy-MM-dd HH:mm:ss` (plus `.ffffff` only if stored); int, float: digits
