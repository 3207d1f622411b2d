"""hrss.md, sentence by sentence, with drops made by hand, on SQLite and PostgreSQL."""

import json
import re
from datetime import datetime, timezone
from decimal import Decimal

import pytest
import sqlalchemy as sa

from loaders.engine import make_engine
from pipeline.config import Settings
from pipeline.runner import RunResult, run_source
from tests.handmade import (
    PERSON_ID, PERSON_ID_15, PERSON_ID_X, USCC, USCC_GETI, USCC_N, case_row, eval_row, write_drop,
)

# Their drops are small and bad on purpose; the error limit has its own tests.
pytestmark = pytest.mark.usefixtures("lenient_specs")


def run(store_url, folder, window=None) -> RunResult:
    settings = Settings.resolve(store_url=store_url, folders={"hrss": folder})
    return run_source("hrss", settings, window=window)


def rows(store_url, sql, **params) -> list[dict]:
    engine = make_engine(store_url)
    with engine.connect() as conn:
        result = [dict(r._mapping) for r in conn.execute(sa.text(sql), params)]
    engine.dispose()
    return result


def ledger_balances(store_url):
    for r in rows(store_url, "SELECT * FROM etl_run"):
        assert r["extracted"] == r["inserted"] + r["updated"] + r["unchanged"] + r["quarantined"] + r["duplicates"], r


@pytest.fixture
def drop(tmp_path):
    return tmp_path / "drop"


def test_a_clean_day_loads_cases_and_evaluations(store_url, drop):
    write_drop(drop, "HRSS_BJ_20261005.csv", [
        case_row("C1", accept="2026/10/5 9:30", status="已受理", fee="35.5", updated="2026-10-05 09:30:00"),
        case_row("C2", applicant_type="1", name="淮北市某某科技有限公司", cert=USCC, phone="0561-12344321",
                 source="3", status="已办结", finish="2026-10-05", updated="2026-10-05 16:00:00"),
    ])
    write_drop(drop, "HRSS_PJ_20261005.csv", [
        eval_row("E1", "C2", score="4", channel="掌上人社",
                 comment="办得快,\r\n我的电话13812345678,身份证340603199003070022", at="2026-10-05 17:00:00"),
        eval_row("E2", "C1", score="5", channel="短信", default="Y", at="2026-10-05 18:00:00"),
    ])
    result = run(store_url, drop)
    assert result.streams["cases"].inserted == 2 and result.streams["evaluations"].inserted == 2

    cases = {r["case_no"]: r for r in rows(store_url, "SELECT * FROM service_case")}
    c1, c2 = cases["C1"], cases["C2"]
    assert (c1["source_system"], c1["source_record_id"], c1["status"], c1["channel"]) == ("hrss", "LSH-C1", "accepted", 1)
    assert (c1["applicant_type"], c1["applicant_cert_type"]) == (1, "111")
    assert c1["applicant_cert_masked"] == "340603********0022"
    assert c1["applicant_name_masked"] == "张*" and c1["contact_phone_masked"] == "138****5678"
    assert Decimal(str(c1["fee_yuan"])) == Decimal("35.50")
    assert _instant(c1["accept_time"]) == datetime(2026, 10, 5, 1, 30, tzinfo=timezone.utc)
    assert _instant(c1["apply_time"]) == datetime(2026, 10, 5, 1, 0, tzinfo=timezone.utc)
    assert (c2["applicant_type"], c2["applicant_cert_type"], c2["applicant_cert_masked"]) == (2, "001", USCC)
    assert c2["applicant_name_masked"] == "淮北市某某科技有限公司" and c2["contact_phone_masked"] == "0561-****4321"
    assert c2["channel"] == 6 and c2["status"] == "completed"  # 业务来源 3 is 12333, the phone line
    assert _instant(c2["finish_time"]) == datetime(2026, 10, 4, 16, 0, tzinfo=timezone.utc)  # a date alone is 00:00 Beijing
    assert Decimal(str(c2["fee_yuan"])) == Decimal("0.00")  # empty fee means 0.00

    evals = {r["eval_no"]: r for r in rows(store_url, "SELECT * FROM service_evaluation")}
    e1, e2 = evals["E1"], evals["E2"]
    assert (e1["score"], e1["score_raw"], e1["channel"], e1["is_default"], e1["assess_number"]) == (4, "4", 2, False, 1)
    assert "13812345678" not in e1["comment"] and "138****5678" in e1["comment"]
    assert "340603********0022" in e1["comment"] and "\n" in e1["comment"]
    assert e2["is_default"] and e2["channel"] is None  # a default evaluation has no channel
    assert _instant(e2["source_updated_at"]) == _instant(e2["assess_time"])
    ledger_balances(store_url)


def test_identifier_variants_give_one_pseudonym(store_url, drop):
    full_width = PERSON_ID.translate({ord(c): ord(c) + 0xFEE0 for c in "0123456789"})
    write_drop(drop, "HRSS_BJ_20261005.csv", [
        case_row("C1", cert=PERSON_ID), case_row("C2", cert=PERSON_ID_15), case_row("C3", cert=full_width),
        case_row("C4", cert=PERSON_ID_X.lower()), case_row("C5", cert=PERSON_ID_X),
        case_row("C6", applicant_type="1", name="王五", cert=USCC_GETI),
        case_row("C7", applicant_type="1", name="某村股份经济合作社", cert=USCC_N),
        case_row("C8", cert="E12345678"),  # a passport: not shaped like an ID number
    ])
    run(store_url, drop)
    cases = {r["case_no"]: r for r in rows(store_url, "SELECT * FROM service_case")}
    assert len({cases[c]["applicant_key"] for c in ("C1", "C2", "C3")}) == 1
    assert cases["C4"]["applicant_key"] == cases["C5"]["applicant_key"]
    assert cases["C4"]["applicant_cert_masked"] == "340603********108X"
    assert re.fullmatch(r"[0-9a-f]{64}", cases["C1"]["applicant_key"])
    assert (cases["C6"]["applicant_type"], cases["C6"]["applicant_cert_type"], cases["C6"]["applicant_name_masked"]) == (7, "001", "王*")
    assert (cases["C7"]["applicant_type"], cases["C7"]["applicant_cert_masked"]) == (6, USCC_N)
    assert (cases["C8"]["applicant_cert_type"], cases["C8"]["applicant_cert_masked"]) == ("999", "E1*****78")


def test_bad_records_are_quarantined_with_reasons_and_the_rest_loads(store_url, drop):
    bad_bytes = ",".join(case_row("C9")[:5]).encode("gb18030") + b",\x81\x20bad," + \
        ",".join(case_row("C9")[6:]).encode("gb18030")
    write_drop(drop, "HRSS_BJ_20261005.csv", [
        case_row("C1"),
        case_row("C2", cert="340603199003070023"),  # wrong check character
        case_row("C3", cert="340603199002300026"),  # 30 February
        case_row("C4", applicant_type="1", cert="91340600MA2NXCJ57A"),  # bad USCC check
        case_row("C5", status="已挂起"),  # unknown status
        case_row("C6", source="9"),  # unknown channel
        case_row("C7", apply="05/10/2026"),  # a date form the contract does not allow
        case_row("C8", updated=""),  # no update time
        case_row("C10")[:10],  # a stray separator missing: wrong number of fields
    ], raw_rows=[bad_bytes])
    result = run(store_url, drop)
    cases = result.streams["cases"]
    assert cases.extracted == 10 and cases.inserted == 1 and cases.quarantined == 9
    reasons = {r["record_key"] or r["location"]: r["reason"] for r in rows(store_url, "SELECT * FROM etl_reject")}
    assert reasons == {
        "C2": "invalid_id_card", "C3": "invalid_id_card", "C4": "invalid_uscc", "C5": "unknown_code",
        "C6": "unknown_code", "C7": "bad_date", "C8": "missing_field",
        # The key of a record with a stray separator or a bad byte is still named when its own field reads cleanly.
        "C10": "wrong_field_count", "C9": "undecodable",
    }
    details = {r["record_key"]: r["detail"] for r in rows(store_url, "SELECT * FROM etl_reject")}
    # A code value that is not short ASCII (it could be a name typed into the field) is described, not quoted.
    assert "hrss" in details["C5"] and "办理状态" in details["C5"] and "3 characters (CJK)" in details["C5"]
    assert "已挂起" not in details["C5"]
    assert "340603199003070023" not in details["C2"]
    assert all(r["raw_encrypted"] for r in rows(store_url, "SELECT raw_encrypted FROM etl_reject"))
    ledger_balances(store_url)


def test_a_default_evaluation_has_no_channel_whatever_code_was_sent(store_url, drop):
    # unified-store.md: channel "always NULL for a default evaluation (is_default), whatever channel code the
    # source sent"; an unknown channel still quarantines an evaluation by the person.
    write_drop(drop, "HRSS_PJ_20261005.csv", [
        eval_row("E1", "C1", default="Y", channel="微信"),
        eval_row("E2", "C1", default="N", channel="微信"),
    ])
    result = run(store_url, drop)
    assert [(r["eval_no"], r["is_default"], r["channel"]) for r in rows(store_url, "SELECT * FROM service_evaluation")] \
        == [("E1", True, None)]
    assert [(r["record_key"], r["reason"]) for r in rows(store_url, "SELECT * FROM etl_reject")] == [("E2", "unknown_code")]
    assert (result.streams["evaluations"].inserted, result.streams["evaluations"].quarantined) == (1, 1)


@pytest.mark.parametrize("trailer", [None, 1, 3])
def test_a_file_whose_trailer_does_not_match_is_quarantined_whole(store_url, drop, trailer):
    write_drop(drop, "HRSS_BJ_20261005.csv", [case_row("C1"), case_row("C2")], trailer=trailer)
    write_drop(drop, "HRSS_BJ_20261006.csv", [case_row("C3", updated="2026-10-06 09:00:00")])
    result = run(store_url, drop)
    assert [r["case_no"] for r in rows(store_url, "SELECT case_no FROM service_case")] == ["C3"]
    files = rows(store_url, "SELECT * FROM etl_reject")
    assert [(f["kind"], f["location"]) for f in files] == [("file", "HRSS_BJ_20261005.csv")]
    assert files[0]["reason"] == ("missing_trailer" if trailer is None else "trailer_mismatch")
    assert result.streams["cases"].extracted == 1  # a file quarantined whole is not counted as extracted
    ledger_balances(store_url)


def test_a_file_with_another_header_is_quarantined_whole(store_url, drop):
    header = ["办件编号", "业务流水号", *case_row("X")[2:]]
    write_drop(drop, "HRSS_BJ_20261005.csv", [case_row("C1")], header=header[:16])
    run(store_url, drop)
    assert rows(store_url, "SELECT reason FROM etl_reject") == [{"reason": "bad_header"}]
    assert rows(store_url, "SELECT * FROM service_case") == []


def test_a_file_without_its_marker_is_not_read_until_the_marker_comes(store_url, drop):
    write_drop(drop, "HRSS_BJ_20261005.csv", [case_row("C1")], marker=False)
    result = run(store_url, drop)
    assert result.streams["cases"].extracted == 0 and (drop / "HRSS_BJ_20261005.csv").exists()
    (drop / "HRSS_BJ_20261005.csv.ok").write_bytes(b"")
    run(store_url, drop)
    assert [r["case_no"] for r in rows(store_url, "SELECT case_no FROM service_case")] == ["C1"]


def test_a_correction_replaces_the_day_and_keeps_keys_it_lacks(store_url, drop):
    write_drop(drop, "HRSS_BJ_20261005.csv", [
        case_row("C1", status="待受理"), case_row("C2", status="待受理"),
    ])
    run(store_url, drop)
    write_drop(drop, "HRSS_BJ_20261005_R1.csv", [
        case_row("C1", status="已受理", accept="2026-10-05 09:00:00"),  # same 更新时间: later n wins
    ])
    result = run(store_url, drop)
    cases = {r["case_no"]: r for r in rows(store_url, "SELECT * FROM service_case")}
    assert cases["C1"]["status"] == "accepted" and cases["C2"]["status"] == "submitted"
    assert result.streams["cases"].updated == 1
    assert result.files[0]["kept_keys_missing_from_correction"] == 1
    ledger_balances(store_url)


def test_an_older_record_never_overwrites_a_newer_one_whatever_the_order(store_url, drop):
    # Day 6 holds the newer state; the R1 correction of day 5, arriving later, holds an older 更新时间.
    write_drop(drop, "HRSS_BJ_20261006.csv", [case_row("C1", status="已办结", updated="2026-10-06 10:00:00")])
    run(store_url, drop)
    write_drop(drop, "HRSS_BJ_20261005_R1.csv", [case_row("C1", status="已受理", updated="2026-10-05 10:00:00")])
    result = run(store_url, drop)
    assert rows(store_url, "SELECT status FROM service_case") == [{"status": "completed"}]
    assert (result.streams["cases"].unchanged, result.streams["cases"].stale) == (1, 1)


def test_repeats_within_one_run_count_as_duplicates(store_url, drop):
    write_drop(drop, "HRSS_BJ_20261005.csv", [case_row("C1", updated="2026-10-05 09:00:00")])
    write_drop(drop, "HRSS_BJ_20261006.csv", [case_row("C1", status="已受理", updated="2026-10-06 09:00:00")])
    result = run(store_url, drop)
    assert (result.streams["cases"].inserted, result.streams["cases"].duplicates) == (1, 1)
    assert rows(store_url, "SELECT status FROM service_case") == [{"status": "accepted"}]
    ledger_balances(store_url)


def test_the_same_file_dropped_again_is_loaded_once(store_url, drop):
    write_drop(drop, "HRSS_BJ_20261005.csv", [case_row("C1")])
    first = run(store_url, drop)
    assert (drop / "archive" / "HRSS_BJ_20261005.csv").exists() and not (drop / "HRSS_BJ_20261005.csv").exists()
    write_drop(drop, "HRSS_BJ_20261005.csv", [case_row("C1")])
    second = run(store_url, drop)
    assert first.streams["cases"].inserted == 1
    assert second.streams["cases"].extracted == 0 and second.files[0]["outcome"] == "already_processed"
    assert rows(store_url, "SELECT COUNT(*) AS n FROM etl_reject") == [{"n": 0}]


def test_a_changed_file_under_a_processed_name_is_quarantined(store_url, drop):
    write_drop(drop, "HRSS_BJ_20261005.csv", [case_row("C1")])
    run(store_url, drop)
    write_drop(drop, "HRSS_BJ_20261005.csv", [case_row("C1"), case_row("C2")])
    run(store_url, drop)
    assert rows(store_url, "SELECT kind, reason FROM etl_reject") == [{"kind": "file", "reason": "file_changed"}]
    assert [r["case_no"] for r in rows(store_url, "SELECT case_no FROM service_case")] == ["C1"]


def test_a_file_quarantined_whole_can_be_delivered_again_and_loads(store_url, drop):
    write_drop(drop, "HRSS_BJ_20261005.csv", [case_row("C1")], trailer=5)
    run(store_url, drop)
    write_drop(drop, "HRSS_BJ_20261005.csv", [case_row("C1")])
    run(store_url, drop)
    assert [r["case_no"] for r in rows(store_url, "SELECT case_no FROM service_case")] == ["C1"]
    assert [r["reason"] for r in rows(store_url, "SELECT reason FROM etl_reject")] == ["trailer_mismatch"]


def test_a_window_loads_only_the_days_that_ended(store_url, drop):
    write_drop(drop, "HRSS_BJ_20261005.csv", [case_row("C1")])
    write_drop(drop, "HRSS_BJ_20261006.csv", [case_row("C2", updated="2026-10-06 09:00:00")])
    # The daily run for [10-05 02:00, 10-06 02:00) Beijing time.
    window = (datetime(2026, 10, 4, 18, tzinfo=timezone.utc), datetime(2026, 10, 5, 18, tzinfo=timezone.utc))
    run(store_url, drop, window)
    assert [r["case_no"] for r in rows(store_url, "SELECT case_no FROM service_case")] == ["C1"]
    run_row = rows(store_url, "SELECT * FROM etl_run WHERE stream = 'cases'")[0]
    assert _instant(run_row["window_end"]) == window[1]
    assert json.loads(run_row["files"])[0]["file"] == "HRSS_BJ_20261005.csv"


def test_no_clear_personal_numbers_anywhere_in_the_store(store_url, drop):
    write_drop(drop, "HRSS_BJ_20261005.csv", [
        case_row("C1", cert=PERSON_ID, phone="13812345678"),
        case_row("C2", cert="340603199003070023", phone="+86 139-1234-5678"),  # quarantined
    ])
    write_drop(drop, "HRSS_PJ_20261005.csv", [eval_row("E1", "C1", comment="call 13812345678 or 340603199003070022")])
    run(store_url, drop)
    clear = re.compile(r"(?<!\d)(\d{17}[\dXx]|\d{15}|1[3-9]\d{9})(?!\d)")
    for table in ("service_case", "service_evaluation", "etl_reject", "etl_run", "etl_watermark"):
        for row in rows(store_url, f"SELECT * FROM {table}"):
            for column, value in row.items():
                if isinstance(value, str) and column != "applicant_key":
                    assert not clear.search(value.replace("-", "").replace(" ", "")), (table, column, value)


def _instant(value) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)
