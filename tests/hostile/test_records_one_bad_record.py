"""One bad record never fails a run (issue 7 §2): each is quarantined with a reason and a masked detail, the
rest of its file, page, table or batch loads, and the ledger balances, on SQLite and PostgreSQL alike.

Values at the edge of what the store keeps (the largest fee, the first and last instants of years 1–9999,
the largest integer) load and read back exactly; one step beyond is quarantined on both backends.
"""

from datetime import datetime, timezone
from decimal import Decimal

import pytest

from tests.handmade import case_row, eval_row, write_drop
from tests.hostile.test_records_contract import by_key, run_hrss, run_market, run_medins, run_police, run_tax
from tests.test_api_sources import market_case, market_eval, ms, tax_case
from tests.test_hrss_contract import ledger_balances, rows
from tests.test_medins_source import case as medins_case, evaluation as medins_evaluation
from tests.test_police_source import case as police_case, evaluation as police_evaluation

pytestmark = pytest.mark.usefixtures("lenient_specs")

HUGE = "99999999999999999999999"


def rejected(store_url) -> dict[str, str]:
    found = rows(store_url, "SELECT record_key, reason, detail, kind FROM etl_reject")
    assert all(r["kind"] == "record" and r["record_key"] for r in found), found
    assert len({r["record_key"] for r in found}) == len(found)
    return {r["record_key"]: r["reason"] for r in found}


def detail(store_url, key: str) -> str:
    return rows(store_url, "SELECT detail FROM etl_reject WHERE record_key = :k", k=key)[0]["detail"]


def instant(value) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def test_hrss_bad_values_are_quarantined_one_by_one(store_url, tmp_path):
    drop = tmp_path / "drop"
    write_drop(drop, "HRSS_BJ_20261005.csv", [
        case_row("G1"),
        # the largest fee, integer and instants the store keeps
        case_row("G2", fee="99999999999999.99", promise="2147483647", apply="9999-12-31 23:59:59"),
        case_row("G3", fee="0.005", apply="0001-01-01 08:00:00"),  # 00:00 UTC on 1 January of year 1
        case_row("B01", status=""),
        case_row("B02", status="null"),
        case_row("B03", promise=HUGE),
        case_row("B04", promise="-3"),  # a time limit cannot be negative
        case_row("B05", fee="1e30"),
        case_row("B06", fee="100000000000000"),
        case_row("B07", fee="99999999999999.995"),  # rounds half-up to 10^14
        case_row("B08", fee="９９９９９９９９９９９９９９９"),  # full-width digits read as a number, then too big
        case_row("B09", apply="10000-01-01 00:00:00"),
        case_row("B10", apply="0000-01-01 00:00:00"),
        case_row("B11", apply="0001-01-01 07:59:59"),  # its UTC instant falls in year 0
        case_row("B12", accept="2026-10-05 09:00:60"),
        case_row("B13", name="张\x00三"),
        case_row("B14", phone="138\x0012345678"),
        case_row("B15", promise="5.5"),
    ])
    write_drop(drop, "HRSS_PJ_20261005.csv", [
        eval_row("E1", "G1"), eval_row("E2", "G1", comment="好\x00"), eval_row("E3", "G1", score=""),
        eval_row("E4", "G1", at="2026-13-01 10:00:00"),
        eval_row("E5", "G1", at=""),  # 评价时间 is also the evaluation's update time, NOT NULL in the store
    ])
    result = run_hrss(store_url, drop)
    assert rejected(store_url) == {
        "B01": "missing_field", "B02": "missing_field", "B03": "out_of_range", "B04": "out_of_range",
        "B05": "invalid_value", "B06": "out_of_range", "B07": "out_of_range", "B08": "out_of_range",
        "B09": "bad_date", "B10": "bad_date", "B11": "bad_date", "B12": "bad_date", "B13": "nul_character",
        "B14": "nul_character", "B15": "invalid_value",
        "E2": "nul_character", "E3": "missing_field", "E4": "bad_date", "E5": "missing_field",
    }
    assert "办理状态 (status) is empty" in detail(store_url, "B01")
    assert "exponent" in detail(store_url, "B05") and "numeric(16,2)" in detail(store_url, "B06")
    assert "承诺时限(天) (promise_days): 23 characters (digits), outside" in detail(store_url, "B03")
    assert "申请人名称 (applicant_name) holds a NUL character" in detail(store_url, "B13")
    cases = by_key(store_url)
    assert set(cases) == {"G1", "G2", "G3"}
    assert Decimal(str(cases["G2"]["fee_yuan"])) == Decimal("99999999999999.99")
    assert cases["G2"]["promise_days"] == 2147483647
    assert instant(cases["G2"]["apply_time"]) == datetime(9999, 12, 31, 15, 59, 59, tzinfo=timezone.utc)
    assert instant(cases["G3"]["apply_time"]) == datetime(1, 1, 1, tzinfo=timezone.utc)
    assert Decimal(str(cases["G3"]["fee_yuan"])) == Decimal("0.01")
    assert (result.streams["cases"].inserted, result.streams["cases"].quarantined) == (3, 15)
    assert (result.streams["evaluations"].inserted, result.streams["evaluations"].quarantined) == (1, 4)
    ledger_balances(store_url)


def test_market_bad_values_are_quarantined_one_by_one(store_url):
    result = run_market(store_url, [
        market_case("SB01", 1),
        market_case("SB02", 2, BLZT=""),
        market_case("SB03", 3, BLZT=None),
        market_case("SB04", 4, CNSX=int(HUGE)),  # a JSON integer beyond any column
        market_case("SB05", 5, SFJE="1e30"),
        market_case("SB06", 6, SFJE=1e30),  # a JSON number written with an exponent
        market_case("SB07", 7, SQRMC="张\u0000三"),
        market_case("SB08", 8, SBSJ="10000-01-01 00:00:00"),
        market_case("SB09", 9, CNSX=-2),
        market_case("SB10", 10, SFJE="123456789012345678901234567890.5"),
        market_case("SB11", 11, BLZT=3),  # a JSON number where the contract has the string "3": the same code
        market_case("SB12", 12, BLZT={"code": "3"}),  # an object in a code field
        market_case("SB13", 13, BLZT=int(HUGE)),
        market_case("SB15", 15, SFJE="-0.00"),
    ], [
        market_eval("PJ1", "SB01", 40), market_eval("PJ2", "SB01", 41, PJNR="好\u0000"),
        market_eval("PJ3", "SB01", 42, PJDJ=""), market_eval("PJ4", "SB01", 43, PJSJ="2026-10-05 24:00:00"),
    ])
    assert rejected(store_url) == {
        "SB02": "missing_field", "SB03": "missing_field", "SB04": "out_of_range", "SB05": "invalid_value",
        "SB06": "invalid_value", "SB07": "nul_character", "SB08": "bad_date", "SB09": "out_of_range",
        "SB10": "out_of_range", "SB12": "unknown_code", "SB13": "unknown_code",
        "PJ2": "nul_character", "PJ3": "missing_field", "PJ4": "bad_date",
    }
    # an object's text is described, not quoted
    assert "BLZT (status): 12 characters (digits, letters, punctuation), not in" in detail(store_url, "SB12")
    assert "BLZT (status): 23 characters (digits), not in the market code map" in detail(store_url, "SB13")
    cases = by_key(store_url)
    assert set(cases) == {"SB01", "SB11", "SB15"} and cases["SB11"]["status"] == "completed"
    assert str(cases["SB15"]["fee_yuan"]) == "0.00"  # no negative zero
    assert (result.streams["cases"].inserted, result.streams["cases"].quarantined) == (3, 11)
    ledger_balances(store_url)


def test_tax_bad_values_are_quarantined_one_by_one(store_url):
    good = {"assessNumber": 1, "satisfaction": 5, "pf": 2, "evalDetail": None, "writingEvaluation": None,
            "assessTime": ms(3)}
    result = run_tax(store_url, [
        tax_case("TX1", 1, evaluations=[
            good,
            {**good, "assessNumber": 2**40},
            {**good, "assessNumber": 0},
            {**good, "assessNumber": 3, "assessTime": 10**15},  # epoch milliseconds beyond year 9999
            {**good, "assessNumber": 4, "satisfaction": 5.0},  # not the contract's code "5"
        ]),
        tax_case("TX2", 2, feeFen=3500.5, evaluations=[]),
        tax_case("TX3", 3, feeFen=10**20, evaluations=[]),
        tax_case("TX4", 4, feeFen=1e30, evaluations=[]),
        tax_case("TX5", 5, applyDate=10**15, evaluations=[]),
        tax_case("TX6", 6, proStatus=None, evaluations=[]),
        tax_case("TX7", 7, promiseDays=-3, evaluations=[]),
        tax_case("TX8", 8, applicant={"userName": "张\u0000三", "userProp": 1, "certType": "414",
                                      "userCert": "E12345678", "phoneNumber": "13800001111"}, evaluations=[]),
        tax_case("TX9", 9, feeFen=3500.0, evaluations=[]),  # a whole number of fen written as a float
        tax_case("TX10", 10, applyDate=-62135596800000, evaluations=[]),  # 0001-01-01T00:00:00Z: kept
    ])
    assert rejected(store_url) == {
        "TX1#1099511627776": "out_of_range", "TX1#0": "out_of_range", "TX1#3": "bad_date", "TX1#4": "unknown_code",
        "TX2": "invalid_value", "TX3": "out_of_range", "TX4": "invalid_value", "TX5": "bad_date",
        "TX6": "missing_field", "TX7": "out_of_range", "TX8": "nul_character",
    }
    assert "satisfaction (score): '5.0', not in the tax code map" in detail(store_url, "TX1#4")
    cases = by_key(store_url)
    assert set(cases) == {"TX1", "TX9", "TX10"} and str(cases["TX9"]["fee_yuan"]) == "35.00"
    assert instant(cases["TX10"]["apply_time"]) == datetime(1, 1, 1, tzinfo=timezone.utc)
    assert set(by_key(store_url, "service_evaluation", "eval_no")) == {"TX1#1"}
    assert result.streams["evaluations"].quarantined == 4
    ledger_balances(store_url)


def test_medins_bad_values_are_quarantined_one_by_one(store_url, tmp_path):
    updated = "2026-10-05 10:00:00"
    result = run_medins(store_url, f"sqlite:///{tmp_path / 'medins.db'}", [
        medins_case("R1", "P1", 1, updated),
        medins_case("R2", "P2", 99999999999, updated),  # DATAVER beyond integer
        medins_case("R3", "P3", 1, updated, PROMISETIMELIMIT=99999999999),
        medins_case("R4", "P4", 1, updated, CASESTATE=None),
        medins_case("R5", "P5", 1, updated, APPLYERNAME="张\x00三"),
        medins_case("R6", "P6", 1, updated, FEE="1e30"),  # read back from the database as 1e+30
        medins_case("R7", "P7", 1, updated, APPLYTIME="10000-01-01 00:00:00"),
        medins_case("R8", "P8", 1, updated, PROMISETIMELIMIT=-1),
    ], [
        medins_evaluation("E1", "P1", updated),
        medins_evaluation("E2", "P1", updated, ASSESSNUMBER=99999999999),
        medins_evaluation("E3", "P1", updated, SATISFACTION=None),
        medins_evaluation("E4", "P1", updated, WRITINGEVALUATION="好\x00"),
    ])
    assert rejected(store_url) == {
        "P2": "out_of_range", "P3": "out_of_range", "P4": "missing_field", "P5": "nul_character",
        "P6": "invalid_value", "P7": "bad_date", "P8": "out_of_range",
        "E2": "out_of_range", "E3": "missing_field", "E4": "nul_character",
    }
    assert set(by_key(store_url)) == {"P1"} and set(by_key(store_url, "service_evaluation", "eval_no")) == {"E1"}
    assert result.streams["cases"].quarantined == 7
    ledger_balances(store_url)


def test_police_bad_values_are_quarantined_one_by_one(store_url, tmp_path):
    result = run_police(store_url, tmp_path / "outbox", [
        police_case("GA1"),
        police_case("GA2", BJZT=""),
        police_case("GA3", CNQX=HUGE),
        police_case("GA4", SQSJ="9999-12-31T23:00:00-08:00"),  # in UTC already year 10000
        police_case("GA5", SQSJ="0001-01-01T00:00:00+08:00"),  # in UTC still year 0
        police_case("GA6", SQSJ="2026-10-05T09:00:60+08:00"),
        police_case("GA7", SLSJ="2026-10-05T09:00:00+24:00"),
        police_case("GA8", GXSJ="2026-10-05T09:10:00.1234567+08:00"),
        police_case("GA9", SQSJ="9999-12-31T23:59:59.999999Z"),  # the last instant the store keeps
    ], [
        police_evaluation("P1", "GA1"), police_evaluation("P2", "GA1", MYD=""),
        police_evaluation("P3", "GA1", PJSJ="２０２６-10-05T12:00:00+08:00"),  # full-width digits: no time form
    ])
    assert rejected(store_url) == {
        "GA2": "missing_field", "GA3": "out_of_range", "GA4": "bad_date", "GA5": "bad_date", "GA6": "bad_date",
        "GA7": "bad_date", "GA8": "bad_date", "P2": "missing_field", "P3": "bad_date",
    }
    cases = by_key(store_url)
    assert set(cases) == {"GA1", "GA9"}
    assert instant(cases["GA9"]["apply_time"]) == datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc)
    assert result.streams["cases"].quarantined == 7
    ledger_balances(store_url)
