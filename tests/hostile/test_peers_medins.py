"""A medins exchange database (前置库) with rows the contract does not foresee, on SQLite, MariaDB and PostgreSQL.

The contract gives UPDATE_TIME no NULL, but nothing stops a real exchange
table from holding one (or a zero date, or 9999-12-31): such a row lies outside
the (UPDATE_TIME, id) read order. It must be quarantined once, stay a finding in
`silobridge reconcile`, never be quarantined again by later runs, and never move
the cursor. No other row may fail a run or vanish: values that are not UTF-8,
NUL characters, times Python cannot hold, ids at the edges of byte order.
"""

import json
import os
import uuid
from datetime import timedelta, timezone

import pytest
import sqlalchemy as sa

from extractors.sql import Position, SqlSourceError, SqlTable, SqlTableReader
from loaders.engine import make_engine
from pipeline.cli import main
from pipeline.config import Settings
from pipeline.runner import run_source
from quality.reconcile import reconcile
from simulators import medins_db
from tests.clear_numbers import assert_nowhere_in_clear
from tests.handmade import PERSON_ID, PERSON_ID_X
from tests.test_hrss_contract import ledger_balances, rows

# Their tables are small and bad on purpose; the error limit has its own tests.
pytestmark = pytest.mark.usefixtures("lenient_specs")

BEIJING = timezone(timedelta(hours=8))
PHONE = "13912345678"
NUMBERS = (PERSON_ID, PERSON_ID_X, PHONE)


@pytest.fixture
def pg_exchange_url(pg_url):
    """A PostgreSQL database of its own for the exchange tables, beside the store's (pg_url: reachable, or skipped)."""
    admin = sa.create_engine(os.environ.get("SILOBRIDGE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"),
                             isolation_level="AUTOCOMMIT")
    name = f"silobridge_medins_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    yield admin.url.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.dispose()


_EXCHANGES = {"sqlite": None, "mariadb": "mariadb_url", "postgresql": "pg_exchange_url"}


@pytest.fixture(params=list(_EXCHANGES))
def exchange_url(request, tmp_path):
    """The contract's tables with UPDATE_TIME nullable, as an exchange database may have them."""
    fixture = _EXCHANGES[request.param]
    url = request.getfixturevalue(fixture) if fixture else f"sqlite:///{tmp_path / 'medins.db'}"
    metadata = sa.MetaData()
    for table in medins_db.metadata.tables.values():
        table.to_metadata(metadata).c.UPDATE_TIME.nullable = True
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    metadata.create_all(engine)
    engine.dispose()
    return url


def backend(url: str) -> str:
    return sa.make_url(url).get_backend_name()


def case(orgbusno: str, projid: str, updated: str | None, **fields) -> dict:
    return {"ORGBUSNO": orgbusno, "PROJID": projid, "DATAVER": 1,
            "IMPLEMENTCODE": "11340603MB1234567X1000123456789", "ITEMNAME": "异地就医备案", "APPLYERTYPE": "10",
            "APPLYERNAME": "张三", "APPLYERPAGETYPE": "111", "APPLYERPAGECODE": PERSON_ID, "MOBILE": PHONE,
            "SUBMIT": "1", "APPROVALTYPE": "1", "APPLYTIME": "2026-10-05 09:00:00",
            "ACCEPTTIME": "2026-10-05 09:00:00", "FINISHTIME": None, "PROMISETIMELIMIT": None,
            "PROMISETIMEUNIT": "1", "CASESTATE": "SL", "ACCEPTDEPTID": "11340603003000000X", "AREACODE": "340603",
            "FEE": None, "BIGUID": None, "DEL_FLAG": "0", "UPDATE_TIME": updated, **fields}


def evaluation(evaid: str, projid: str, updated: str | None, **fields) -> dict:
    return {"EVAID": evaid, "PROJID": projid, "ASSESSNUMBER": 1, "SATISFACTION": "4", "PF": "2", "ISDEFAULT": "0",
            "EVALDETAIL": "510", "WRITINGEVALUATION": f"请回电{PHONE}", "CERTKEY": PERSON_ID_X,
            "ASSESSTIME": "2026-10-05 10:00:00", "UPDATE_TIME": updated, **fields}


def settings(store_url: str, exchange_url: str) -> Settings:
    return Settings.resolve(store_url=store_url, connections={"silobridge_medins": {"uri": exchange_url}})


def ledger(store_url: str, run_id: str) -> dict[str, dict]:
    ledger_balances(store_url)
    return {r["stream"]: r for r in rows(store_url, "SELECT * FROM etl_run WHERE run_id = :r", r=run_id)}


def rejects(store_url: str) -> list[tuple]:
    return sorted((r["stream"], r["location"], r["record_key"], r["reason"])
                  for r in rows(store_url, "SELECT * FROM etl_reject"))


# --- rows the cursor cannot reach ----------------------------------------------------------------

def test_a_row_without_update_time_is_quarantined_once_and_stays_a_finding(exchange_url, store_url, capsys, caplog):
    zero = backend(exchange_url) != "postgresql"  # PostgreSQL cannot store a zero date
    medins_db.write_cases(exchange_url, [
        case("R1", "P1", "2026-10-05 10:00:00"),
        case("R2", "P2", None, APPLYERPAGECODE=PERSON_ID_X),
        *([case("R3", "P3", medins_db.ZERO_DATE)] if zero else []),
    ])
    medins_db.write_evaluations(exchange_url, [evaluation("E1", "P1", None)])
    first = run_source("medins", settings(store_url, exchange_url))

    missing = ["R2", "R3"] if zero else ["R2"]
    runs = ledger(store_url, first.run_id)
    assert (runs["cases"]["extracted"], runs["cases"]["inserted"], runs["cases"]["quarantined"]) == \
        (1 + len(missing), 1, len(missing))
    assert (runs["evaluations"]["extracted"], runs["evaluations"]["quarantined"]) == (1, 1)
    assert rejects(store_url) == sorted(
        [("cases", f"EX_CASE row {r}", f"P{r[1]}", "missing_update_time") for r in missing]
        + [("evaluations", "EX_EVALUATE row E1", "E1", "missing_update_time")])
    detail = rows(store_url, "SELECT detail FROM etl_reject WHERE location = 'EX_CASE row R2'")[0]["detail"]
    assert detail == ("medins EX_CASE row R2 (P2): UPDATE_TIME is empty, a zero date or not a time the read order "
                      "can hold, so the cursor can never reach the row; it is quarantined once")
    # The raw row is kept, encrypted, whole: a replay could load it once the source sets its time.
    raw = rows(store_url, "SELECT raw_encrypted FROM etl_reject WHERE location = 'EX_CASE row R2'")[0]
    kept = json.loads(settings(store_url, exchange_url).cipher.decrypt(bytes(raw["raw_encrypted"])))
    assert kept["record"]["ORGBUSNO"] == "R2" and kept["record"]["APPLYERPAGECODE"] == PERSON_ID_X
    assert [r["case_no"] for r in rows(store_url, "SELECT case_no FROM service_case")] == ["P1"]

    findings = {(f.kind, f.detail): f.count for f in reconcile(make_engine(store_url), "medins").findings}
    assert findings[("missing_update_time", f"cases: {len(missing)} row(s) without a usable UPDATE_TIME (NULL, a "
                     "zero date or no time): the cursor can never read them")] == len(missing)
    assert findings[("missing_update_time", "evaluations: 1 row(s) without a usable UPDATE_TIME (NULL, a zero date "
                     "or no time): the cursor can never read them")] == 1
    assert main(["--store", store_url, "reconcile", "--source", "medins"]) == 1
    out = capsys.readouterr().out
    assert "missing_update_time" in out and "not balanced" in out

    # Later runs leave the rows be: nothing is quarantined again, the new row is read, the ledger balances.
    medins_db.write_cases(exchange_url, [case("R4", "P4", "2026-10-05 11:00:00")])
    second = run_source("medins", settings(store_url, exchange_url))
    third = run_source("medins", settings(store_url, exchange_url))
    runs = ledger(store_url, second.run_id)
    assert (runs["cases"]["extracted"], runs["cases"]["inserted"], runs["cases"]["quarantined"]) == (1, 1, 0)
    assert runs["evaluations"]["extracted"] == 0
    assert second.notes["cases"]["unreachable_reported_before"] == len(missing)
    assert (third.streams["cases"].extracted, third.streams["evaluations"].extracted) == (0, 0)
    assert len(rejects(store_url)) == len(missing) + 1
    assert json.loads(rows(store_url, "SELECT value FROM etl_watermark WHERE stream = 'cases'")[0]["value"]) == \
        ["2026-10-05 11:00:00", "R4"]
    assert_nowhere_in_clear(store_url, NUMBERS, [caplog.text, out])


def test_a_row_stamped_far_in_the_future_is_reported_once_and_never_drags_the_cursor(exchange_url, sqlite_url,
                                                                                      caplog):
    medins_db.write_cases(exchange_url, [
        case("R1", "P1", "2026-10-05 10:00:00"),
        case("R9", "P9", "9999-12-31 23:59:59"),
        case("R2", "P2", "2026-10-05 10:30:00"),
    ])
    first = run_source("medins", settings(sqlite_url, exchange_url))
    runs = ledger(sqlite_url, first.run_id)
    assert (runs["cases"]["extracted"], runs["cases"]["inserted"], runs["cases"]["quarantined"]) == (3, 2, 1)
    assert rejects(sqlite_url) == [("cases", "EX_CASE row R9", "P9", "future_update_time")]
    detail = rows(sqlite_url, "SELECT detail FROM etl_reject")[0]["detail"]
    assert detail == ("medins EX_CASE row R9 (P9): UPDATE_TIME 9999-12-31 23:59:59 is more than 86400 s past the "
                      "database's clock, so the cursor will reach the row only then; it is quarantined once")
    position = rows(sqlite_url, "SELECT value FROM etl_watermark WHERE stream = 'cases'")[0]["value"]
    assert json.loads(position) == ["2026-10-05 10:30:00", "R2"]  # not dragged to 9999
    (finding,) = [f for f in reconcile(make_engine(sqlite_url), "medins").findings if f.kind == "future_update_time"]
    assert finding.count == 1 and finding.detail.startswith("cases: 1 row(s) with an UPDATE_TIME far past")

    medins_db.write_cases(exchange_url, [case("R3", "P3", "2026-10-05 11:00:00")])
    second = run_source("medins", settings(sqlite_url, exchange_url))
    assert (second.streams["cases"].extracted, second.streams["cases"].inserted) == (1, 1)
    assert len(rejects(sqlite_url)) == 1
    ledger_balances(sqlite_url)
    assert_nowhere_in_clear(sqlite_url, NUMBERS, [caplog.text])


def test_postgresql_times_python_cannot_hold_fail_no_run(pg_exchange_url, sqlite_url, caplog):
    medins_db.create_schema(pg_exchange_url)
    engine = sa.create_engine(pg_exchange_url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.exec_driver_sql('ALTER TABLE "EX_CASE" ALTER COLUMN "UPDATE_TIME" DROP NOT NULL')
    engine.dispose()
    medins_db.write_cases(pg_exchange_url, [
        case("R1", "P1", "2026-10-05 10:00:00", FINISHTIME="infinity"),
        case("R2", "P2", "2026-10-05 10:00:00", APPLYTIME="10000-01-01 00:00:00"),
        case("R3", "P3", "-infinity"),
        case("R4", "P4", "infinity"),
        case("R5", "P5", "0044-03-15 00:00:00 BC"),
    ])
    result = run_source("medins", settings(sqlite_url, pg_exchange_url))
    runs = ledger(sqlite_url, result.run_id)
    assert runs["cases"]["extracted"] == 5 and runs["cases"]["status"] == "success"
    unreachable = {r[1]: r[3] for r in rejects(sqlite_url) if r[3].endswith("update_time")}
    assert unreachable == {"EX_CASE row R3": "missing_update_time", "EX_CASE row R4": "missing_update_time",
                           "EX_CASE row R5": "missing_update_time"}
    reader = SqlTableReader(SqlTable(url=pg_exchange_url, table="EX_CASE", id_column="ORGBUSNO"))
    read = {r["ORGBUSNO"]: r for b in reader.batches() for r in b.to_pylist()}
    assert (read["R1"]["FINISHTIME"], read["R2"]["APPLYTIME"]) == ("infinity", "10000-01-01 00:00:00")
    assert_nowhere_in_clear(sqlite_url, NUMBERS, [caplog.text])


# --- no other row fails the read or vanishes -----------------------------------------------------

def _write_raw(url: str, sql: str, **params) -> None:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.execute(sa.text(sql), params)
    engine.dispose()


def test_nul_characters_and_the_last_day_of_9999_reach_the_transforms(exchange_url):
    if backend(exchange_url) == "postgresql":
        text = "好评"  # PostgreSQL text cannot hold NUL at all
    else:
        text = "好\x00评"
    medins_db.write_cases(exchange_url, [case("R1", "P1", "2026-10-05 10:00:00", APPLYTIME="9999-12-31 23:59:59",
                                              ITEMNAME="异地\x00就医" if "\x00" in text else "异地就医")])
    medins_db.write_evaluations(exchange_url, [evaluation("E1", "P1", "2026-10-05 10:00:00",
                                                          WRITINGEVALUATION=text)])
    cases = [r for b in SqlTableReader(SqlTable(url=exchange_url, table="EX_CASE", id_column="ORGBUSNO")).batches()
             for r in b.to_pylist()]
    evaluations = [r for b in SqlTableReader(SqlTable(url=exchange_url, table="EX_EVALUATE", id_column="EVAID"))
                   .batches() for r in b.to_pylist()]
    assert cases[0]["APPLYTIME"] == "9999-12-31 23:59:59" and cases[0]["_defect"] is None
    assert evaluations[0]["WRITINGEVALUATION"] == text and evaluations[0]["_defect"] is None


def test_bytes_that_are_not_utf8_make_their_row_a_defect_not_a_failed_run(exchange_url, sqlite_url, caplog):
    kind = backend(exchange_url)
    medins_db.write_cases(exchange_url, [case("R1", "P1", "2026-10-05 10:00:00"),
                                         case("R3", "P3", "2026-10-05 10:00:02")])
    medins_db.write_cases(exchange_url, [case("R2", "P2", "2026-10-05 10:00:01"),
                                         case("R4", "P4", "2026-10-05 10:00:03")])
    if kind == "sqlite":  # SQLite keeps whatever bytes it is given, in a TEXT column too
        column, update = "ITEMNAME", 'UPDATE "EX_CASE" SET "ITEMNAME" = {} WHERE "ORGBUSNO" = {}'
        _write_raw(exchange_url, update.format("CAST(x'e5bc82ff' AS TEXT)", "'R2'"))
        _write_raw(exchange_url, update.format("x'e5bc82e59cb0'", "'R4'"))  # a BLOB that is UTF-8 text
    elif kind == "postgresql":  # text there is always valid in its encoding: a binary column, as a table may grow one
        column, update = "NOTE", 'UPDATE "EX_CASE" SET "NOTE" = {} WHERE "ORGBUSNO" = {}'
        _write_raw(exchange_url, 'ALTER TABLE "EX_CASE" ADD COLUMN "NOTE" bytea NULL')
        _write_raw(exchange_url, update.format("'\\xe5bc82ff'::bytea", "'R2'"))
        _write_raw(exchange_url, update.format("'\\xe5bc82e59cb0'::bytea", "'R4'"))
    else:
        column, update = "NOTE", "UPDATE EX_CASE SET NOTE = {} WHERE ORGBUSNO = {}"
        _write_raw(exchange_url, "ALTER TABLE EX_CASE ADD COLUMN NOTE VARBINARY(16) NULL")
        _write_raw(exchange_url, update.format("x'e5bc82ff'", "'R2'"))
        _write_raw(exchange_url, update.format("x'e5bc82e59cb0'", "'R4'"))
    reader = SqlTableReader(SqlTable(url=exchange_url, table="EX_CASE", id_column="ORGBUSNO"))
    read = [r for b in reader.batches() for r in b.to_pylist()]
    assert [(r["ORGBUSNO"], r["_defect"]) for r in read] == [("R1", None), ("R2", "undecodable"), ("R3", None),
                                                             ("R4", None)]
    assert read[3][column] == "异地" and read[1][column] is None
    assert json.loads(read[1]["_raw"])[column] == "异\udcff"  # the byte that is not UTF-8 kept, escaped
    assert reader.last_position == Position("2026-10-05 10:00:03", "R4")

    result = run_source("medins", settings(sqlite_url, exchange_url))
    runs = ledger(sqlite_url, result.run_id)
    assert (runs["cases"]["extracted"], runs["cases"]["quarantined"]) == (4, 1)
    assert [r[3] for r in rejects(sqlite_url)] == ["undecodable"]
    assert "holds bytes that are not valid UTF-8" in rows(sqlite_url, "SELECT detail FROM etl_reject")[0]["detail"]
    assert_nowhere_in_clear(sqlite_url, NUMBERS, [caplog.text])


def test_ids_compare_as_bytes_at_pad_space_tab_and_non_ascii_edges(exchange_url):
    """MariaDB's ascii_bin pads with spaces, so there 'A<TAB>' sorts before 'A'; bytes put it after."""
    ascii_only = backend(exchange_url) in ("mysql", "mariadb")  # its ids are ascii, and 'A' = 'A ' under PAD SPACE
    ids = ["A", "A\t", "Ab", "B", "_", "a"] + ([] if ascii_only else ["A ", "É", "中"])
    medins_db.write_cases(exchange_url, [case(i, f"P{n}", "2026-10-05 10:00:00") for n, i in enumerate(ids)])
    source = SqlTable(url=exchange_url, table="EX_CASE", id_column="ORGBUSNO", batch_rows=1)
    after_a = [r["ORGBUSNO"] for b in SqlTableReader(source, Position("2026-10-05 10:00:00", "A")).batches()
               for r in b.to_pylist()]
    assert after_a == sorted((i for i in ids if i != "A"), key=str.encode)


def test_a_setting_of_the_wrong_kind_is_named():
    with pytest.raises(SqlSourceError, match="future_tolerance_seconds must be a whole number of at least 0, not -1"):
        SqlTable.from_spec("sqlite://", {"table": "EX_CASE", "id_column": "ORGBUSNO", "future_tolerance_seconds": -1})
    with pytest.raises(SqlSourceError, match=r"unknown key\(s\) lag \(known: table, id_column, cursor_column"):
        SqlTable.from_spec("sqlite://", {"table": "EX_CASE", "id_column": "ORGBUSNO", "lag": 5})
