"""The quality layer: GX suites derived from schemas/, what each expectation catches, dq_result, Data Docs."""

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from datetime import datetime, timedelta, timezone

import pyarrow as pa
import pytest

from pipeline.config import Settings
from pipeline.runner import run_source
from quality.data_docs import build_data_docs
from quality.expectations import (
    CLEAR_NUMBER_REGEX, ERROR, PSEUDONYM_REGEX, WARNING, aggregate, describe, expectations_for, store_facts,
    suite_for, validate_batch,
)
from schemas.arrow import UNIFIED_BATCH_SCHEMAS
from schemas.codes import CODE_SETS
from schemas.tables import INTEGER, STREAM_TABLES, TEXT, Column, Table
from tests.handmade import PERSON_ID, USCC, case_row, eval_row, write_drop
from tests.test_hrss_contract import rows as query

NOW = datetime(2026, 10, 6, 2, 0, tzinfo=timezone.utc)
KEY = "a" * 64


# -- the suite is derived from the declaration -----------------------------------


def _described(table: Table) -> list[tuple]:
    return [describe(e) for e in expectations_for(table)]


def test_a_code_set_column_added_to_a_table_adds_its_expectation():
    small = Table("small", "a synthetic table", (
        Column("k", TEXT, "key", key=True, nullable=False),
        Column("kind", INTEGER, "a coded integer", code_set="case_type"),
        Column("who", TEXT, "pseudonym", pii="pseudonym"),
        Column("shown", TEXT, "masked", pii="masked"),
    ))
    before = _described(small)
    bigger = replace(small, columns=(*small.columns, Column("status", TEXT, "a coded text", code_set="case_status")))
    added = [d for d in _described(bigger) if d not in before]
    assert [(kind, column, json.loads(kwargs), severity) for kind, column, kwargs, severity, _ in added] == [
        ("expect_column_values_to_be_in_set", "status",
         {"column": "status", "value_set": sorted(CODE_SETS["case_status"])}, ERROR)]
    # integers for an integer column, and the key, pseudonym and masked rules from the same walk
    by = {(kind, column): (json.loads(kwargs), severity) for kind, column, kwargs, severity, _ in before}
    assert by[("expect_column_values_to_be_in_set", "kind")][0]["value_set"] == [1, 2, 9]
    assert ("expect_column_values_to_not_be_null", "k") in by and ("expect_column_values_to_be_unique", "k") in by
    assert by[("expect_column_values_to_match_regex", "who")][0]["regex"] == PSEUDONYM_REGEX
    assert by[("expect_column_values_to_not_match_regex", "shown")][0]["regex"] == CLEAR_NUMBER_REGEX


@pytest.mark.parametrize("stream", ["cases", "evaluations"])
def test_every_declared_rule_of_a_stream_is_in_its_suite(stream):
    table = STREAM_TABLES[stream]
    described = [describe(e) for e in suite_for(stream)]
    columns = {(kind, column) for kind, column, _, _, _ in described}
    for c in table.columns:
        if c.name in ("loaded_at", "run_id"):
            continue
        if c.key or not c.nullable:
            assert ("expect_column_values_to_not_be_null", c.name) in columns
        if c.code_set:
            assert ("expect_column_values_to_be_in_set", c.name) in columns
    assert all(severity in (ERROR, WARNING) for _, _, _, severity, _ in described)


# -- what each expectation catches, on tiny batches -------------------------------


def _case(case_no="C1", **overrides) -> dict:
    row = dict(
        case_no=case_no, source_system="hrss", source_record_id=f"L-{case_no}", source_version=1,
        impl_code="11340603MB1234567X1000123456789", item_name="社会保障卡申领", case_type=None, applicant_type=1,
        applicant_cert_type="111", applicant_key=KEY, applicant_cert_masked="340603********0022",
        applicant_name_masked="张*", contact_phone_masked="138****5678", channel=1,
        apply_time=NOW - timedelta(hours=5), accept_time=NOW - timedelta(hours=4), finish_time=None,
        promise_days=5, status="accepted", accept_org_code=None, region_code="340603", fee_yuan=None,
        bundle_id=None, deleted=False, source_updated_at=NOW - timedelta(hours=4), delivery_order="0",
    )
    row.update(overrides)
    return row


def _evaluation(eval_no="E1", **overrides) -> dict:
    row = dict(
        source_system="hrss", eval_no=eval_no, case_no="C1", source_version=1, assess_number=1, score=5,
        score_raw="5", channel=2, is_default=False, option_codes=None, comment="办得快", evaluator_key=None,
        assess_time=NOW - timedelta(hours=1), deleted=False, source_updated_at=NOW - timedelta(hours=1),
        delivery_order="0",
    )
    row.update(overrides)
    return row


def _validate(stream: str, rows: list[dict], facts=None) -> dict[tuple[str, str], list[dict]]:
    table = pa.Table.from_pylist(rows, schema=UNIFIED_BATCH_SCHEMAS[stream])
    facts = facts if facts is not None else store_facts(None, "hrss", stream, table, now=NOW)
    out: dict[tuple[str, str], list[dict]] = {}
    for r in validate_batch(table, stream, facts):
        out.setdefault((r["expectation"], r["column_name"]), []).append(r)
    return out


def _failed(results) -> set[tuple[str, str, str]]:
    return {(kind, column, r["severity"]) for (kind, column), rs in results.items() for r in rs if not r["success"]}


def test_clean_rows_meet_every_expectation():
    assert _failed(_validate("cases", [_case("C1"), _case("C2", status="completed", finish_time=NOW)])) == set()
    evaluations = [_evaluation("E1"), _evaluation("E2", is_default=True, channel=None)]
    assert _failed(_validate("evaluations", evaluations)) == set()


def test_an_unknown_code_is_an_error():
    results = _validate("cases", [_case("C1"), _case("C2", status="paused", channel=8)])
    assert _failed(results) == {("expect_column_values_to_be_in_set", "status", ERROR),
                                ("expect_column_values_to_be_in_set", "channel", ERROR)}
    status = results[("expect_column_values_to_be_in_set", "status")][0]
    assert (status["element_count"], status["unexpected_count"]) == (2, 1) and "paused" in status["observed_value"]


def test_a_key_twice_in_a_batch_is_a_warning():
    results = _validate("evaluations", [_evaluation("E1"), _evaluation("E1")])
    assert _failed(results) == {("expect_compound_columns_to_be_unique", "source_system", WARNING)}
    assert _failed(_validate("cases", [_case("C1"), _case("C1")])) == {
        ("expect_column_values_to_be_unique", "case_no", WARNING)}


def test_accept_before_apply_is_an_error_but_a_date_alone_is_its_whole_day():
    results = _validate("cases", [_case("C1", accept_time=NOW - timedelta(hours=6))])
    assert _failed(results) == {("expect_column_pair_values_a_to_be_greater_than_b", "accept_time", ERROR)}
    # 办结日期 without a time is 00:00 Beijing of the apply day: not before the 09:00 application
    apply = datetime(2026, 10, 5, 1, 0, tzinfo=timezone.utc)  # 09:00 Beijing
    finish_date = datetime(2026, 10, 4, 16, 0, tzinfo=timezone.utc)  # 2026-10-05 00:00 Beijing
    same_day = _case("C2", status="completed", apply_time=apply, accept_time=apply, finish_time=finish_date)
    day_before = _case("C3", status="completed", apply_time=apply, accept_time=apply,
                       finish_time=finish_date - timedelta(days=1))
    failed = _validate("cases", [same_day, day_before])
    pairs = failed[("expect_column_pair_values_a_to_be_greater_than_b", "finish_time")]
    assert sorted(r["unexpected_count"] for r in pairs) == [1, 1]  # accept ≤ finish and apply ≤ finish, C3 only


def test_an_accepted_case_without_accept_time_is_a_warning():
    results = _validate("cases", [
        _case("C1", accept_time=None), _case("C2", status="submitted", accept_time=None),
        _case("C3", status="completed", finish_time=None),
    ])
    assert _failed(results) == {("expect_column_values_to_be_in_set", "accept_time", WARNING),
                                ("expect_column_values_to_be_in_set", "finish_time", WARNING)}
    accepted = results[("expect_column_values_to_be_in_set", "accept_time")][0]
    assert (accepted["element_count"], accepted["unexpected_count"]) == (2, 1)  # submitted is not checked


def test_a_score_of_7_is_an_error():
    results = _validate("evaluations", [_evaluation("E1", score=7, score_raw="7")])
    assert _failed(results) == {("expect_column_values_to_be_in_set", "score", ERROR),
                                ("expect_column_values_to_be_between", "score", ERROR)}


def test_a_default_evaluation_with_a_channel_is_an_error():
    results = _validate("evaluations", [_evaluation("E1", is_default=True, channel=2)])
    assert _failed(results) == {("expect_column_values_to_be_in_set", "channel", ERROR)}


def test_a_pseudonym_that_is_not_hex_is_an_error_and_its_value_is_not_kept():
    results = _validate("cases", [_case("C1", applicant_key=PERSON_ID)])
    assert _failed(results) == {("expect_column_values_to_match_regex", "applicant_key", ERROR)}
    r = results[("expect_column_values_to_match_regex", "applicant_key")][0]
    assert r["unexpected_count"] == 1 and PERSON_ID not in r["observed_value"] and not r["samples"]


def test_a_clear_number_in_a_masked_column_is_an_error_and_is_not_kept():
    results = _validate("cases", [
        _case("C1", applicant_cert_masked=PERSON_ID),
        _case("C2", contact_phone_masked="13812345678"),
        _case("C3", applicant_type=2, applicant_cert_type="001", applicant_cert_masked="123406000000123450"),
    ])  # C3: a USCC (even all digits) stays in clear
    assert _failed(results) == {("expect_column_values_to_not_match_regex", "applicant_cert_masked", ERROR),
                                ("expect_column_values_to_not_match_regex", "contact_phone_masked", ERROR)}
    assert results[("expect_column_values_to_not_match_regex", "applicant_cert_masked")][0]["unexpected_count"] == 1
    comment = _validate("evaluations", [_evaluation("E1", comment="电话 +86 13812345678 身份证 " + PERSON_ID)])
    assert _failed(comment) == {("expect_column_values_to_not_match_regex", "comment", ERROR)}
    text = json.dumps([list(results.values()), list(comment.values())], default=str)
    assert PERSON_ID not in text and "13812345678" not in text


def test_a_malformed_impl_code_is_a_warning():
    results = _validate("cases", [_case("C1", impl_code="11340603MB1234567X10001234")])
    assert _failed(results) == {("expect_column_values_to_match_regex", "impl_code", WARNING)}


def test_freshness_is_judged_on_the_newest_record_of_the_run():
    old = _validate("cases", [_case("C1", source_updated_at=NOW - timedelta(days=10))])
    assert _failed(old) == {("expect_column_min_to_be_between", "source_updated_at", WARNING)}
    fresh = _validate("cases", [_case("C2")])
    run = {(r["expectation"], r["column_name"]): r
           for r in aggregate([[r for rs in old.values() for r in rs], [r for rs in fresh.values() for r in rs]])}
    freshness = run[("expect_column_min_to_be_between", "source_updated_at")]
    assert freshness["success"] and freshness["observed_value"].startswith("0.17 days")
    not_null = run[("expect_column_values_to_not_be_null", "case_no")]
    assert (not_null["element_count"], not_null["unexpected_count"], not_null["success"]) == (2, 0, True)


def test_an_evaluation_before_its_case_was_accepted_is_an_error():
    table = pa.Table.from_pylist([_evaluation("E1", assess_time=NOW - timedelta(days=1))],
                                 schema=UNIFIED_BATCH_SCHEMAS["evaluations"])
    facts = store_facts(None, "hrss", "evaluations", table, now=NOW)
    facts = facts.set_column(facts.schema.get_field_index("_case_accept_time"), "_case_accept_time",
                             pa.array([NOW - timedelta(hours=4)], pa.timestamp("us", tz="UTC")))
    results = _validate("evaluations", table.to_pylist(), facts)
    assert _failed(results) == {("expect_column_pair_values_a_to_be_greater_than_b", "assess_time", ERROR)}


# -- through the pipeline -----------------------------------------------------------


def _run(store_url, folder):
    return run_source("hrss", Settings.resolve(store_url=store_url, folders={"hrss": folder}))


def _dq(store_url, stream) -> dict[tuple[str, str], list[dict]]:
    out: dict[tuple[str, str], list[dict]] = {}
    for r in query(store_url, "SELECT * FROM dq_result WHERE stream = :s ORDER BY result_id", s=stream):
        out.setdefault((r["expectation"], r["column_name"]), []).append(r)
    return out


def test_a_run_writes_its_results_to_dq_result(store_url, tmp_path):
    drop = tmp_path / "drop"
    write_drop(drop, "HRSS_BJ_20261005.csv", [
        case_row("C1", accept="2026-10-05 09:30:00", status="已受理", updated="2026-10-05 09:30:00"),
        case_row("C2", applicant_type="1", name="淮北市某某科技有限公司", cert=USCC, status="已办结",
                 finish="2026-10-05", updated="2026-10-05 16:00:00"),  # completed: no accept time (a warning)
    ])
    write_drop(drop, "HRSS_PJ_20261005.csv", [
        eval_row("E1", "C1", at="2026-10-05 09:00:00"),  # before its case was accepted (same run): an error
        eval_row("E2", "C2", at="2026-10-05 17:00:00"),  # C2 has no accept time: not checked
        eval_row("E3", "C404", at="2026-10-05 18:00:00"),  # its case has not arrived: a warning
    ])
    result = _run(store_url, drop)
    run_id = result.run_id
    cases, evals = _dq(store_url, "cases"), _dq(store_url, "evaluations")
    assert {r["run_id"] for rs in (*cases.values(), *evals.values()) for r in rs} == {run_id}
    assert len(cases) > 20 and len(evals) > 15

    key = cases[("expect_column_values_to_not_be_null", "case_no")][0]
    assert (key["success"], key["element_count"], key["unexpected_count"], key["severity"]) == (True, 2, 0, ERROR)
    accepted = cases[("expect_column_values_to_be_in_set", "accept_time")][0]
    assert (accepted["success"], accepted["element_count"], accepted["unexpected_count"]) == (False, 2, 1)
    assert accepted["severity"] == WARNING
    stale = cases[("expect_column_min_to_be_between", "source_updated_at")][0]
    assert not stale["success"] and stale["severity"] == WARNING and stale["observed_value"].endswith("days")

    missing = evals[("expect_column_values_to_be_null", "case_no")][0]
    assert (missing["success"], missing["severity"], missing["unexpected_count"]) == (False, WARNING, 1)
    assert "C404" in missing["observed_value"] and "C1" not in missing["observed_value"]
    early = evals[("expect_column_pair_values_a_to_be_greater_than_b", "assess_time")][0]
    assert (early["success"], early["severity"], early["element_count"], early["unexpected_count"]) == \
        (False, ERROR, 1, 1)
    everything = json.dumps(query(store_url, "SELECT * FROM dq_result"), default=str)
    assert PERSON_ID not in everything and "13812345678" not in everything and "张三" not in everything

    # A later run: the case is now in the store, and E3's case has arrived.
    write_drop(drop, "HRSS_BJ_20261006.csv", [case_row("C404", updated="2026-10-06 09:00:00")])
    write_drop(drop, "HRSS_PJ_20261006.csv", [eval_row("E3", "C404", score="4", at="2026-10-06 10:00:00"),
                                             eval_row("E4", "C1", at="2026-10-06 10:00:00")])
    second = _run(store_url, drop).run_id
    later = [r for r in query(store_url, "SELECT * FROM dq_result WHERE run_id = :r AND stream = 'evaluations'",
                              r=second)]
    found = {(r["expectation"], r["column_name"]): r for r in later}
    assert found[("expect_column_values_to_be_null", "case_no")]["success"]
    assert found[("expect_column_pair_values_a_to_be_greater_than_b", "assess_time")]["success"]


@pytest.mark.parametrize("bad_first", [True, False])
def test_a_file_quarantined_whole_leaves_no_results(sqlite_url, tmp_path, bad_first):
    drop = tmp_path / "drop"
    bad, good = ("HRSS_BJ_20261005.csv", "HRSS_BJ_20261006.csv") if bad_first else \
        ("HRSS_BJ_20261006.csv", "HRSS_BJ_20261005.csv")
    write_drop(drop, bad, [case_row("B1", status="已受理"), case_row("B2"), case_row("B3")], trailer=7)
    write_drop(drop, good, [case_row("G1")])
    _run(sqlite_url, drop)
    cases = _dq(sqlite_url, "cases")
    key = cases[("expect_column_values_to_not_be_null", "case_no")]
    assert [(r["element_count"], r["success"]) for r in key] == [(1, True)]
    assert cases[("expect_column_values_to_be_in_set", "accept_time")][0]["element_count"] == 0


def test_data_docs_build_from_the_stored_results(sqlite_url, tmp_path):
    drop = tmp_path / "drop"
    write_drop(drop, "HRSS_BJ_20261005.csv", [case_row("C1")])
    write_drop(drop, "HRSS_PJ_20261005.csv", [eval_row("E1", "C9")])
    run_id = _run(sqlite_url, drop).run_id
    home = tmp_path / "home"
    index = build_data_docs(sqlite_url, home)
    assert index == home / "quality" / "data_docs" / "index.html" and index.is_file()
    assert (home / "quality" / "gx").is_dir()
    pages = {p.name: p for p in (home / "quality" / "data_docs" / "validations").rglob("*.html")}
    assert set(pages) == {"hrss.cases.html", "hrss.evaluations.html"}
    page = pages["hrss.evaluations.html"].read_text(encoding="utf-8")
    assert run_id in page and "warning: the evaluated case is in the store" in page
    assert build_data_docs(sqlite_url, home) == index  # again: idempotent


def test_a_run_never_imports_great_expectations(sqlite_url, tmp_path):
    """GX defines the suites and renders Data Docs; a run computes the figures itself (importing GX costs seconds
    per process). In a fresh interpreter, as a task or the command line would run."""
    drop = tmp_path / "drop"
    write_drop(drop, "HRSS_BJ_20261005.csv", [case_row("C1", status="已受理", accept="2026-10-05 09:30:00")])
    write_drop(drop, "HRSS_PJ_20261005.csv", [eval_row("E1", "C1")])
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from pipeline.config import Settings\n"
        "from pipeline.runner import run_source\n"
        f"run_source('hrss', Settings.resolve(store_url={sqlite_url!r}, folders={{'hrss': Path({str(drop)!r})}}))\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'great_expectations'))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"
    assert len(query(sqlite_url, "SELECT * FROM dq_result WHERE stream = 'cases'")) > 20  # and it did check
