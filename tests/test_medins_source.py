"""medins.md through the whole pipeline: versions, deletions, units, zero dates, the (UPDATE_TIME, id) cursor."""

from datetime import datetime, timedelta, timezone

import pytest

from pipeline.config import Settings
from pipeline.runner import run_source
from simulators.medins_db import create_schema, write_cases, write_evaluations
from tests.handmade import PERSON_ID, USCC_GETI
from tests.test_hrss_contract import ledger_balances, rows

# Their drops are small and bad on purpose; the error limit has its own tests.
pytestmark = pytest.mark.usefixtures("lenient_specs")

@pytest.fixture(params=["sqlite", "mariadb"])
def exchange_url(request, tmp_path):
    """An empty exchange database with the contract's tables: a SQLite file, or MariaDB."""
    url = f"sqlite:///{tmp_path / 'medins.db'}" if request.param == "sqlite" else request.getfixturevalue("mariadb_url")
    create_schema(url)
    return url


OLD = "2026-10-05 09:00:00"


def case(orgbusno: str, projid: str, version: int, updated: str, **fields) -> dict:
    return {"ORGBUSNO": orgbusno, "PROJID": projid, "DATAVER": version,
            "IMPLEMENTCODE": "11340603MB1234567X1000123456789", "ITEMNAME": "异地就医备案", "APPLYERTYPE": "10",
            "APPLYERNAME": "张三", "APPLYERPAGETYPE": "111", "APPLYERPAGECODE": PERSON_ID, "MOBILE": "13812345678",
            "SUBMIT": "1", "APPROVALTYPE": "2", "APPLYTIME": OLD, "ACCEPTTIME": OLD, "FINISHTIME": None,
            "PROMISETIMELIMIT": 10, "PROMISETIMEUNIT": "2", "CASESTATE": "SL", "ACCEPTDEPTID": "11340603003000000X",
            "AREACODE": "340603", "FEE": "12.50", "BIGUID": "B-1", "DEL_FLAG": "0", "UPDATE_TIME": updated,
            **fields}


def evaluation(evaid: str, projid: str, updated: str, **fields) -> dict:
    return {"EVAID": evaid, "PROJID": projid, "ASSESSNUMBER": 1, "SATISFACTION": "4", "PF": "2", "ISDEFAULT": "0",
            "EVALDETAIL": "510", "WRITINGEVALUATION": "不错", "CERTKEY": PERSON_ID, "ASSESSTIME": updated,
            "UPDATE_TIME": updated, **fields}


def run(store_url, exchange_url, window_end=None):
    settings = Settings.resolve(store_url=store_url, connections={"silobridge_medins": {"uri": exchange_url}})
    window = (window_end - timedelta(hours=1), window_end) if window_end else None
    return run_source("medins", settings, window=window)


def test_highest_version_wins_in_any_order_and_deletions_mark_the_case(exchange_url, sqlite_url):
    write_cases(exchange_url, [
        case("R3", "P1", 3, "2026-10-05 10:00:00", CASESTATE="BJ", FINISHTIME="2026-10-06 10:00:00"),
        case("R1", "P1", 1, "2026-10-05 11:00:00"),  # an older version written later
        case("R2", "P2", 1, "2026-10-05 10:00:00", APPLYERTYPE="20", APPLYERPAGETYPE="001",
             APPLYERPAGECODE=USCC_GETI, APPLYERNAME="王记小吃", PROMISETIMEUNIT="3", PROMISETIMELIMIT=20,
             ACCEPTTIME="0000-00-00 00:00:00" if "mysql" in exchange_url else None, FEE=None),
        case("R4", "P3", 2, "2026-10-05 10:00:00", DEL_FLAG="1", APPLYERPAGETYPE="414", APPLYERPAGECODE="E1234567"),
    ])
    write_evaluations(exchange_url, [evaluation("E1", "P1", "2026-10-06 12:00:00")])
    result = run(sqlite_url, exchange_url)
    cases = {r["case_no"]: r for r in rows(sqlite_url, "SELECT * FROM service_case")}
    p1, p2, p3 = cases["P1"], cases["P2"], cases["P3"]
    assert (p1["source_version"], p1["status"], p1["source_record_id"]) == (3, "completed", "R3")
    assert p1["promise_days"] == 8  # 10 自然日 → (5·10 + 6) div 7
    assert str(p1["fee_yuan"]) == "12.50" and p1["bundle_id"] == "B-1" and p1["channel"] == 2
    assert result.streams["cases"].stale == 0 and result.streams["cases"].duplicates == 1
    assert (p2["applicant_type"], p2["applicant_name_masked"], p2["promise_days"]) == (7, "王记**", 3)  # 20 h → 3 days
    assert p2["accept_time"] is None and str(p2["fee_yuan"]) == "0.00"
    assert p3["deleted"] and p3["applicant_cert_masked"] == "E1****67"
    e1 = rows(sqlite_url, "SELECT * FROM service_evaluation")[0]
    assert (e1["score"], e1["channel"], e1["is_default"], e1["evaluator_key"]) == (4, 2, False, p1["applicant_key"])
    ledger_balances(sqlite_url)

    # The older version arriving in a later run changes nothing.
    write_cases(exchange_url, [case("R0", "P1", 2, "2026-10-05 12:00:00")])
    later = run(sqlite_url, exchange_url)
    assert (later.streams["cases"].unchanged, later.streams["cases"].stale) == (1, 1)
    assert rows(sqlite_url, "SELECT status FROM service_case WHERE case_no = 'P1'") == [{"status": "completed"}]


def test_rows_sharing_a_second_are_read_once_and_a_second_run_reads_nothing(exchange_url, sqlite_url):
    same = "2026-10-05 10:00:00"
    write_cases(exchange_url, [case(f"R{i:03d}", f"P{i:03d}", 1, same) for i in range(30)])
    first = run(sqlite_url, exchange_url)
    write_cases(exchange_url, [case("R100", "P100", 1, "2026-10-05 10:00:01")])
    second = run(sqlite_url, exchange_url)
    third = run(sqlite_url, exchange_url)
    assert (first.streams["cases"].extracted, first.streams["cases"].inserted) == (30, 30)
    assert (second.streams["cases"].extracted, second.streams["cases"].inserted) == (1, 1)
    assert third.streams["cases"].extracted == 0
    position = rows(sqlite_url, "SELECT value FROM etl_watermark WHERE stream = 'cases'")[0]["value"]
    assert position == '["2026-10-05 10:00:01", "R100"]'
    ledger_balances(sqlite_url)


def test_a_window_end_bounds_the_read_and_the_next_run_continues(exchange_url, sqlite_url):
    write_cases(exchange_url, [case("R1", "P1", 1, "2026-10-05 09:30:00"), case("R2", "P2", 1, "2026-10-05 10:30:00")])
    end = datetime(2026, 10, 5, 10, 0, tzinfo=timezone(timedelta(hours=8)))
    first = run(sqlite_url, exchange_url, window_end=end)
    second = run(sqlite_url, exchange_url)
    assert (first.streams["cases"].inserted, second.streams["cases"].inserted) == (1, 1)
