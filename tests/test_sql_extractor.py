"""The exchange-database extractor against real SQLite, MariaDB and PostgreSQL: the quirks of medins.md.

MariaDB runs at SILOBRIDGE_TEST_MARIADB (root on 127.0.0.1:3306 by default);
each module run gets its own database, dropped afterwards.
"""

import sqlite3
import tracemalloc
from collections import Counter
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from functools import lru_cache

import pytest
import sqlalchemy as sa

from extractors.sql import Position, SqlSourceError, SqlTable, SqlTableReader
from simulators import medins_db
from transforms.identifiers import is_valid_id_card, is_valid_uscc

BEIJING = timezone(timedelta(hours=8))
PORTABLE = tuple(b for b in medins_db.BEHAVIOURS if b != "zero_dates")  # what PostgreSQL can store too
# The database's clock in the clocked tests: far from the reader's own, so a reader that used its clock fails.
DB_NOW = datetime(2026, 10, 15, 12, 0, 0)


@pytest.fixture
def medins_sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path / 'medins.db'}"


_BACKENDS = {"sqlite": "medins_sqlite_url", "mariadb": "mariadb_url", "postgresql": "pg_url"}


@pytest.fixture(params=list(_BACKENDS))
def db_url(request):
    return request.getfixturevalue(_BACKENDS[request.param])


@pytest.fixture(params=["sqlite", "mariadb"])
def zero_date_url(request):
    """The backends that can store `0000-00-00 00:00:00`."""
    return request.getfixturevalue(_BACKENDS[request.param])


@pytest.fixture
def clocked(db_url):
    """clocked(t) → a URL whose connections see the database clock at Beijing time t.

    Sessions run in a zone other than Beijing's, so NOW()/LOCALTIMESTAMP would be off by an hour.
    """
    url = sa.make_url(db_url)
    backend = url.get_backend_name()
    if backend == "mysql":
        def at(t: datetime) -> str:
            unix = t.replace(tzinfo=BEIJING).timestamp()
            init = f"SET time_zone = '+09:00', timestamp = {unix:.0f}"
            return url.update_query_dict({"init_command": init}).render_as_string(hide_password=False)

        yield at
    elif backend == "postgresql":
        engine = sa.create_engine(db_url, poolclass=sa.pool.NullPool)

        def at(t: datetime) -> str:
            utc = t.replace(tzinfo=BEIJING).astimezone(timezone.utc)
            with engine.begin() as conn:
                # Found before pg_catalog's own on the search path below.
                conn.exec_driver_sql("CREATE OR REPLACE FUNCTION public.statement_timestamp() RETURNS timestamptz "
                                     f"LANGUAGE sql AS $$ SELECT timestamptz '{utc.isoformat()}' $$")
            options = "-c search_path=public,pg_catalog -c TimeZone=Asia/Tokyo"
            return url.update_query_dict({"options": options}).render_as_string(hide_password=False)

        yield at
        engine.dispose()
    else:
        clock = {}

        def on_connect(dbapi_conn, _record):
            if isinstance(dbapi_conn, sqlite3.Connection):
                dbapi_conn.create_function("datetime", 1, lambda arg: clock["utc"] if arg == "now" else None)

        def at(t: datetime) -> str:
            clock["utc"] = f"{t - timedelta(hours=8):%Y-%m-%d %H:%M:%S}"
            return db_url

        sa.event.listen(sa.engine.Engine, "connect", on_connect)
        yield at
        sa.event.remove(sa.engine.Engine, "connect", on_connect)


def case_row(orgbusno: str, update_time: str, **values) -> dict:
    row = {
        "ORGBUSNO": orgbusno, "PROJID": f"P-{orgbusno}", "DATAVER": "1",
        "IMPLEMENTCODE": medins_db.ITEMS[0].code, "ITEMNAME": medins_db.ITEMS[0].name, "APPLYERTYPE": "10",
        "APPLYERNAME": "张三", "APPLYERPAGETYPE": "111", "APPLYERPAGECODE": "11010519491231002X",
        "MOBILE": "13800138000", "SUBMIT": "0", "APPROVALTYPE": "1", "APPLYTIME": "2026-10-15 09:00:00",
        "ACCEPTTIME": "2026-10-15 09:00:00", "FINISHTIME": None, "PROMISETIMELIMIT": None, "PROMISETIMEUNIT": "1",
        "CASESTATE": "SL", "ACCEPTDEPTID": medins_db.SUBJECT_USCC, "AREACODE": "340603", "FEE": None,
        "BIGUID": None, "DEL_FLAG": "0", "UPDATE_TIME": update_time,
    }
    return row | values


def cases_source(url: str, **options) -> SqlTable:
    return SqlTable(url=url, table="EX_CASE", id_column="ORGBUSNO", **options)


def read(source: SqlTable, after: Position | None = None, *, batches: int | None = None,
         window_end: datetime | None = None) -> tuple[list[dict], SqlTableReader]:
    """The rows of one run; with `batches`, the run stops after that many (a crash, or a commit point)."""
    reader = SqlTableReader(source, after, window_end=window_end)
    rows, stream = [], reader.batches()
    for n, batch in enumerate(stream, 1):
        rows += batch.to_pylist()
        if n == batches:
            stream.close()
            break
    return rows, reader


def _at(t: datetime, seconds: int = 0) -> str:
    return f"{t + timedelta(seconds=seconds):%Y-%m-%d %H:%M:%S}"


def _byte_order(ids):
    return sorted(ids, key=str.encode)


def test_rows_sharing_one_second_survive_batch_and_run_edges(db_url, clocked):
    medins_db.create_schema(db_url)
    bulk = [f"YB{c}{n}" for n in range(6) for c in "aBzZ0_"]  # mixed case: byte order ≠ dictionary order
    rows = ([case_row(i, "2026-10-15 10:00:00") for i in ("YBm", "YBA")]
            + [case_row(i, "2026-10-15 10:10:00") for i in bulk]
            + [case_row(i, "2026-10-15 10:20:00") for i in ("YBb", "YBC")])
    medins_db.write_cases(db_url, rows)
    source = cases_source(clocked(DB_NOW), batch_rows=5)

    first, run1 = read(source, batches=2)  # the run ends mid-second, after 10 rows
    assert run1.last_position == Position("2026-10-15 10:10:00", first[-1]["ORGBUSNO"])
    second, run2 = read(source, run1.last_position)
    third, run3 = read(source, run2.last_position)

    expected = ["YBA", "YBm", *_byte_order(bulk), "YBC", "YBb"]
    assert [r["ORGBUSNO"] for r in first + second] == expected
    assert (third, run3.rows_read, run3.last_position) == ([], 0, run2.last_position)
    assert [r["_record_no"] for r in second] == list(range(1, len(second) + 1))


def test_late_commit_inside_the_lag_is_read_by_the_next_run(db_url, clocked):
    medins_db.create_schema(db_url)
    medins_db.write_cases(db_url, [case_row("YB1", _at(DB_NOW, -600)), case_row("YB2", _at(DB_NOW, -600)),
                                   case_row("YBrecent", _at(DB_NOW, -30))])
    first, run1 = read(cases_source(clocked(DB_NOW)))
    assert [r["ORGBUSNO"] for r in first] == ["YB1", "YB2"]
    assert run1.upper_bound == _at(DB_NOW, -120)

    # Committed after run 1 with a time before YBrecent's and after run 1's last row.
    late = medins_db.commit_late(db_url, "EX_CASE", [case_row("YBlate", "")], now=DB_NOW + timedelta(seconds=20),
                                 seconds_late=110)
    assert run1.last_position.update_time < late[0]["UPDATE_TIME"] < _at(DB_NOW, -30)
    second, _ = read(cases_source(clocked(DB_NOW + timedelta(minutes=3))), run1.last_position)
    assert [r["ORGBUSNO"] for r in second] == ["YBlate", "YBrecent"]


def test_the_database_clock_decides_not_the_readers(db_url, clocked):
    medins_db.create_schema(db_url)
    medins_db.write_cases(db_url, [
        case_row("YBold", _at(DB_NOW, -121)), case_row("YBlag", _at(DB_NOW, -120)),
        case_row("YBnow", _at(DB_NOW, -1)), case_row("YBhour", _at(DB_NOW, 3600 - 600)),
    ])
    rows, reader = read(cases_source(clocked(DB_NOW)))
    assert [r["ORGBUSNO"] for r in rows] == ["YBold"]
    assert reader.upper_bound == "2026-10-15 11:58:00"

    earlier = datetime(2026, 10, 15, 3, 50, tzinfo=timezone.utc)  # 11:50 Beijing
    rows, reader = read(cases_source(clocked(DB_NOW)), window_end=earlier)
    assert (rows, reader.upper_bound) == ([], "2026-10-15 11:50:00")


_CASE_INSENSITIVE = {"sqlite": "NOCASE", "mysql": "utf8mb4_general_ci", "postgresql": '"und-x-icu"'}


def test_ids_compare_as_bytes_whatever_the_column_collation(db_url, clocked):
    backend = sa.make_url(db_url).get_backend_name()
    time_type = "TIMESTAMP" if backend == "postgresql" else "DATETIME"
    engine = sa.create_engine(db_url, poolclass=sa.pool.NullPool)
    ids = ["a", "B", "Z", "A", "b", "_", "0", "aa", "Ab", "aB", "z"]
    with engine.begin() as conn:
        q = conn.dialect.identifier_preparer.quote
        conn.exec_driver_sql(f"CREATE TABLE ids_table ({q('EVAID')} VARCHAR(40) COLLATE {_CASE_INSENSITIVE[backend]}, "
                             f"{q('UPDATE_TIME')} {time_type})")
        conn.execute(sa.text("INSERT INTO ids_table VALUES (:i, :t)"),
                     [{"i": i, "t": "2026-10-15 10:00:00"} for i in ids])
    source = SqlTable(url=clocked(DB_NOW), table="ids_table", id_column="EVAID", batch_rows=2)
    seen, position = [], None
    for _ in ids:  # a run per batch: every edge falls between two ids of the same second
        rows, reader = read(source, position, batches=1)
        seen += [r["EVAID"] for r in rows]
        position = reader.last_position
    assert seen == _byte_order(ids) == ["0", "A", "Ab", "B", "Z", "_", "a", "aB", "aa", "b", "z"]


def _grow_to(url: str, base_rows: list[dict], doublings: int) -> None:
    medins_db.create_schema(url)
    medins_db.write_cases(url, base_rows)
    t = medins_db.EX_CASE
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        for n in range(doublings):
            copy = sa.select(*(t.c.ORGBUSNO.concat(str(n)) if c.name == "ORGBUSNO" else c for c in t.c))
            conn.execute(sa.insert(t).from_select([c.name for c in t.c], copy))


def test_streaming_reads_a_large_table_in_bounded_memory(db_url, clocked):
    _grow_to(db_url, _month(PORTABLE).cases[:3125], 5)  # 100,000 rows
    source = cases_source(clocked(DB_NOW + timedelta(days=60)), batch_rows=2000)
    # The first read in a process imports and caches what every read needs; a few rows do.
    read(source, window_end=datetime(2026, 10, 1, 10, tzinfo=BEIJING))
    reader = SqlTableReader(source)
    stream = reader.batches()
    # psycopg's rows wait in libpq's memory, which tracemalloc cannot see: there the server-side cursor is the proof.
    postgresql = sa.make_url(db_url).get_backend_name() == "postgresql"
    if not postgresql:
        tracemalloc.start()
    try:
        sizes = [next(stream).num_rows]
        assert not postgresql or _server_cursor_open(db_url)
        sizes += [b.num_rows for b in stream]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert sum(sizes) == reader.rows_read == 100_000
    assert max(sizes) == 2000
    # Held whole, these rows take over 100 MB of Python objects; a few batches' worth stay far below.
    assert peak < 16 * 2**20, f"peak {peak / 2**20:.1f} MiB"


def _server_cursor_open(url: str) -> bool:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        queries = conn.exec_driver_sql(
            "SELECT query FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).scalars().all()
    engine.dispose()
    return any(q.lstrip().upper().startswith(("FETCH", "DECLARE")) for q in queries)


def test_zero_dates_pass_through_as_stored(zero_date_url):
    medins_db.create_schema(zero_date_url)
    medins_db.write_cases(zero_date_url, [
        case_row("YB1", "2026-10-15 10:00:00", ACCEPTTIME=medins_db.ZERO_DATE, FINISHTIME=medins_db.ZERO_DATE),
        case_row("YB2", "2026-10-15 10:00:00", FINISHTIME="2026-10-15 10:05:00"),
    ])
    rows, _ = read(cases_source(zero_date_url))
    assert [(r["ACCEPTTIME"], r["FINISHTIME"]) for r in rows] == [
        (medins_db.ZERO_DATE, medins_db.ZERO_DATE), ("2026-10-15 09:00:00", "2026-10-15 10:05:00")]


@lru_cache(maxsize=4)
def _month(behaviours: tuple[str, ...]) -> medins_db.MonthRows:
    return medins_db.month_rows("2026-10", seed=7, cases_per_month=1500, behaviours=behaviours)


@pytest.fixture
def month_in_db(db_url):
    """(url, the month's rows as written): a generated month in a fresh database."""
    postgresql = sa.make_url(db_url).get_backend_name() == "postgresql"
    behaviours = PORTABLE if postgresql else medins_db.BEHAVIOURS
    medins_db.generate_month(db_url, "2026-10", seed=7, cases_per_month=1500, behaviours=behaviours)
    return db_url, _month(behaviours)


def _as_read(row: dict, sqlite: bool) -> dict:
    if sqlite and row["FEE"] is not None:  # numeric affinity: 150.00 is stored as 150
        row = row | {"FEE": Decimal(row["FEE"])}
    return row


def test_every_row_is_delivered_exactly_as_stored(month_in_db):
    url, month = month_in_db
    rows, reader = read(cases_source(url, batch_rows=700))
    sqlite = url.startswith("sqlite")
    got = [_as_read({k: v for k, v in r.items() if not k.startswith("_")}, sqlite) for r in rows]
    expected = sorted(month.cases, key=lambda r: (r["UPDATE_TIME"], r["ORGBUSNO"].encode()))
    assert list(rows[0]) == [c.name for c in medins_db.EX_CASE.columns] + ["_record_no", "_defect", "_raw"]
    assert all(r["_defect"] is None and r["_raw"] is None for r in rows)
    assert got == [_as_read(r, sqlite) for r in expected]
    assert [r["_record_no"] for r in rows] == list(range(1, len(rows) + 1)) and reader.rows_read == len(rows)

    evaluations, _ = read(SqlTable(url=url, table="EX_EVALUATE", id_column="EVAID"))
    assert [{k: v for k, v in r.items() if not k.startswith("_")} for r in evaluations] == sorted(
        month.evaluations, key=lambda r: (r["UPDATE_TIME"], r["EVAID"].encode()))


def test_every_version_and_deletion_is_delivered_in_read_order(month_in_db):
    url, month = month_in_db
    rows, _ = read(cases_source(url))
    versions: dict[str, list[tuple[int, str]]] = {}
    for r in rows:
        versions.setdefault(r["PROJID"], []).append((int(r["DATAVER"]), r["ORGBUSNO"]))
    assert sum(len(v) > 1 for v in versions.values()) > len(versions) / 2
    # The higher version read first: only the store's precedence may pick the survivor.
    read_first = {newer for v in versions.values() for (a, newer), (b, _) in zip(v, v[1:]) if a > b}
    assert set(month.injected["out_of_order"]) <= read_first
    assert {r["ORGBUSNO"] for r in rows if r["DEL_FLAG"] == "1"} == set(month.injected["deletions"])


def test_accepted_case_without_accept_time_is_delivered(month_in_db):
    url, month = month_in_db
    rows, _ = read(cases_source(url))
    hidden = [r for r in rows if r["PROJID"] in month.injected["null_accept_time"] and r["CASESTATE"] in ("SL", "BJ")]
    assert hidden and all(r["ACCEPTTIME"] is None for r in hidden)


def test_the_simulated_month_shows_every_behaviour():
    month = _month(medins_db.BEHAVIOURS)
    assert set(month.injected) == set(medins_db.BEHAVIOURS) - {"bulk_seconds", "re_reports"}
    assert all(month.injected.values())
    per_second = Counter(r["UPDATE_TIME"] for r in month.cases)
    assert per_second.most_common(1)[0][1] >= 8
    assert {r["PROMISETIMEUNIT"] for r in month.cases} == {"1", "2", "3"}
    assert any(r["ACCEPTTIME"] == medins_db.ZERO_DATE or r["FINISHTIME"] == medins_db.ZERO_DATE for r in month.cases)
    versions = Counter(r["PROJID"] for r in month.cases)
    assert max(versions.values()) >= 3
    plain = _month(("promise_units",))
    assert {r["DATAVER"] for r in plain.cases} == {"1"}
    assert max(Counter(r["UPDATE_TIME"] for r in plain.cases).values()) <= 3


def test_simulator_tables_follow_the_contract(mariadb_url):
    medins_db.generate_month(mariadb_url, "2026-10", seed=7, cases_per_month=300)
    engine = sa.create_engine(mariadb_url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        types = dict(conn.exec_driver_sql(
            "SELECT CONCAT(TABLE_NAME, '.', COLUMN_NAME), CONCAT(COLUMN_TYPE, ' ', COALESCE(COLLATION_NAME, '')) "
            "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE()").all())
        people = conn.exec_driver_sql("SELECT APPLYERPAGETYPE, APPLYERPAGECODE, ACCEPTDEPTID FROM EX_CASE").all()
    engine.dispose()
    assert types["EX_CASE.ORGBUSNO"].endswith("_bin") and types["EX_EVALUATE.EVAID"].endswith("_bin")
    assert {types[f"EX_CASE.{c}"].strip() for c in ("APPLYTIME", "ACCEPTTIME", "FINISHTIME", "UPDATE_TIME")} \
        == {"datetime"}
    assert types["EX_CASE.FEE"].strip() == "decimal(16,2)" and types["EX_CASE.DATAVER"].startswith("int")
    assert types["EX_CASE.APPLYERTYPE"].startswith("char(2)")
    assert all(is_valid_id_card(code) for kind, code, _ in people if kind == "111")
    assert all(is_valid_uscc(code) for kind, code, _ in people if kind == "001")
    assert all(is_valid_uscc(dept) for _, _, dept in people)


def test_the_simulator_is_deterministic():
    again = medins_db.month_rows("2026-10", seed=7, cases_per_month=1500)
    month = _month(medins_db.BEHAVIOURS)
    assert (again.cases, again.evaluations, again.injected) == (month.cases, month.evaluations, month.injected)
    assert medins_db.month_rows("2026-10", seed=8, cases_per_month=1500).cases != again.cases


def test_a_missing_table_or_database_says_what_to_fix(medins_sqlite_url):
    with pytest.raises(SqlSourceError, match="has no table 'EX_CASE'; check the table name"):
        read(cases_source(medins_sqlite_url))
    medins_db.create_schema(medins_sqlite_url)
    with pytest.raises(SqlSourceError, match="has no column ORGBUSNO_X"):
        read(SqlTable(url=medins_sqlite_url, table="EX_CASE", id_column="ORGBUSNO_X"))
    with pytest.raises(SqlSourceError, match="cannot reach the exchange database .*check the connection") as err:
        read(cases_source("mysql+pymysql://reader:secret@127.0.0.1:1/medins"))
    assert "secret" not in str(err.value)
