"""Contract rules about one record that used to fail (issue 7 §1), with hand-made input through run_source,
on SQLite and PostgreSQL: unknown certificate types (999 for a person, 099 for an organisation), evaluator
numbers that fail their check (police included), full-width item names, the key of a record quarantined
for its shape, and 个体工商户 names."""

import json
from datetime import date

import pytest

from pipeline.config import Settings
from pipeline.runner import run_source
from simulators.market_api import MarketApi
from simulators.medins_db import create_schema, write_cases, write_evaluations
from simulators.police_outbox import write_batch
from simulators.tax_api import TaxApi
from tests.clear_numbers import assert_nowhere_in_clear
from tests.handmade import PERSON_ID, USCC, USCC_GETI, case_row, write_drop
from tests.test_api_sources import market_case, market_eval, settings, tax_case, window
from tests.test_hrss_contract import ledger_balances, rows
from tests.test_medins_source import case as medins_case, evaluation as medins_evaluation
from tests.test_police_source import case as police_case, evaluation as police_evaluation

pytestmark = pytest.mark.usefixtures("lenient_specs")

DAY = date(2026, 10, 5)
BAD_ID = "340603199003070023"  # PERSON_ID with a wrong check character
PASSPORT = "E12345678"


def run_market(store_url, cases, evaluations=()):
    api = MarketApi(cases, evaluations)
    with api.serve() as server:
        uri = f"http://{api.client_id}:{api.client_secret}@{server.url.removeprefix('http://')}"
        return run_source("market", settings(store_url, "silobridge_market", uri), window=window(0, 60))


def run_tax(store_url, cases):
    api = TaxApi(cases)
    with api.serve() as server:
        uri = f"http://{api.app_id}:{api.app_secret}@{server.url.removeprefix('http://')}"
        return run_source("tax", settings(store_url, "silobridge_tax", uri), window=window(0, 60))


def run_medins(store_url, exchange_url, cases, evaluations=()):
    create_schema(exchange_url)
    write_cases(exchange_url, cases)
    if evaluations:
        write_evaluations(exchange_url, evaluations)
    return run_source("medins", Settings.resolve(store_url=store_url,
                                                 connections={"silobridge_medins": {"uri": exchange_url}}))


def run_police(store_url, outbox, cases, evaluations=(), seq=1):
    write_batch(outbox, seq, DAY, cases, list(evaluations))
    return run_source("police", Settings.resolve(store_url=store_url, folders={"police": outbox}))


def run_hrss(store_url, drop):
    return run_source("hrss", Settings.resolve(store_url=store_url, folders={"hrss": drop}))


def by_key(store_url, table="service_case", key="case_no") -> dict[str, dict]:
    return {r[key]: r for r in rows(store_url, f"SELECT * FROM {table}")}


def finding_row(store_url, run_id, stream, reason) -> dict:
    found = rows(store_url, "SELECT * FROM dq_result WHERE run_id = :r AND stream = :s AND expectation = :e",
                 r=run_id, s=stream, e=f"finding:{reason}")
    assert len(found) == 1, found
    return found[0]


def ledger_findings(store_url, run_id, stream) -> dict:
    notes = rows(store_url, "SELECT notes FROM etl_run WHERE run_id = :r AND stream = :s", r=run_id, s=stream)[0]
    return json.loads(notes["notes"] or "{}").get("findings", {})


# -- an unknown certificate type: 999 for a person, 099 for an organisation, with a finding -------------


def test_market_unknown_certificate_type_is_999_for_a_person_and_099_for_an_organisation(store_url):
    result = run_market(store_url, [
        market_case("SB1", 1, SQRLX="GR", SQRMC="李小明", SQRZJLX="XX", SQRZJHM=PASSPORT),
        market_case("SB2", 2, SQRLX="QY", SQRZJLX="XX", SQRZJHM="MA2NXCJ57"),
        market_case("SB3", 3, SQRLX="GT", SQRMC="王小二", SQRZJLX="null", SQRZJHM=PASSPORT),  # a type sent as null
        market_case("SB4", 4),
    ])
    cases = by_key(store_url)
    sb1, sb2, sb3 = cases["SB1"], cases["SB2"], cases["SB3"]
    assert (sb1["applicant_type"], sb1["applicant_cert_type"], sb1["applicant_cert_masked"]) == (1, "999", "E1*****78")
    assert sb1["applicant_name_masked"] == "李**"
    assert (sb2["applicant_type"], sb2["applicant_cert_type"], sb2["applicant_cert_masked"]) == (2, "099", "MA2NXCJ57")
    assert sb2["applicant_name_masked"] == "淮北某某商贸有限公司"  # an organisation's name stays in clear
    assert (sb3["applicant_type"], sb3["applicant_cert_type"], sb3["applicant_name_masked"]) == (7, "999", "王**")
    assert len(sb1["applicant_key"]) == 64 and sb1["applicant_key"] == sb3["applicant_key"]
    assert cases["SB4"]["applicant_cert_type"] == "001"
    assert rows(store_url, "SELECT * FROM etl_reject") == []  # a finding, not a quarantine

    dq = finding_row(store_url, result.run_id, "cases", "unknown_cert_type")
    assert (dq["column_name"], dq["severity"], dq["element_count"], dq["unexpected_count"], dq["success"]) == \
        ("applicant_cert_type", "warning", 4, 3, False)
    assert ledger_findings(store_url, result.run_id, "cases") == {"unknown_cert_type": {"applicant_cert_type": 3}}
    phone = finding_row(store_url, result.run_id, "cases", "invalid_phone")
    assert (phone["unexpected_count"], phone["success"]) == (0, True)
    assert_nowhere_in_clear(store_url, [PASSPORT])
    ledger_balances(store_url)


def test_tax_unknown_certificate_type_follows_the_user_prop(store_url):
    def applicant(prop, cert, name):
        return {"userName": name, "userProp": prop, "certType": "X9", "userCert": cert, "phoneNumber": "13800001111"}

    result = run_tax(store_url, [
        tax_case("TX1", 1, applicant=applicant(1, PASSPORT, "张三"), evaluations=[]),
        tax_case("TX2", 2, applicant=applicant(2, "MA2NXCJ57", "淮北某某科技有限公司"), evaluations=[]),
        tax_case("TX3", 3, applicant=applicant(5, PASSPORT, "王小二"), evaluations=[]),  # 个体工商户 → 7, a person
    ])
    cases = by_key(store_url)
    assert [(cases[c]["applicant_type"], cases[c]["applicant_cert_type"], cases[c]["applicant_cert_masked"],
             cases[c]["applicant_name_masked"]) for c in ("TX1", "TX2", "TX3")] == [
        (1, "999", "E1*****78", "张*"), (2, "099", "MA2NXCJ57", "淮北某某科技有限公司"), (7, "999", "E1*****78", "王**")]
    assert finding_row(store_url, result.run_id, "cases", "unknown_cert_type")["unexpected_count"] == 3
    assert_nowhere_in_clear(store_url, [PASSPORT])
    ledger_balances(store_url)


def test_medins_unknown_certificate_type_follows_the_applicant_type(store_url, tmp_path):
    exchange = f"sqlite:///{tmp_path / 'medins.db'}"
    result = run_medins(store_url, exchange, [
        medins_case("R1", "P1", 1, "2026-10-05 10:00:00", APPLYERPAGETYPE="9", APPLYERPAGECODE=PASSPORT),
        medins_case("R2", "P2", 1, "2026-10-05 10:00:00", APPLYERTYPE="20", APPLYERNAME="淮北某某药房有限公司",
                    APPLYERPAGETYPE="9", APPLYERPAGECODE="MA2NXCJ57"),
        medins_case("R3", "P3", 1, "2026-10-05 10:00:00", APPLYERTYPE="30", APPLYERNAME="某某协会",
                    APPLYERPAGETYPE="9", APPLYERPAGECODE="MA2NXCJ58"),
    ])
    cases = by_key(store_url)
    assert [(cases[c]["applicant_type"], cases[c]["applicant_cert_type"], cases[c]["applicant_cert_masked"],
             cases[c]["applicant_name_masked"]) for c in ("P1", "P2", "P3")] == [
        (1, "999", "E1*****78", "张*"),
        (6, "099", "MA2NXCJ57", "淮北某某药房有限公司"),  # a unit without a USCC is 其他组织
        (6, "099", "MA2NXCJ58", "某某协会")]
    assert finding_row(store_url, result.run_id, "cases", "unknown_cert_type")["unexpected_count"] == 3
    ledger_balances(store_url)


def test_police_unknown_certificate_type_follows_the_applicant_type(store_url, tmp_path):
    result = run_police(store_url, tmp_path / "outbox", [
        police_case("GA1", ZJLX="998", ZJHM=PASSPORT, SQRXM="李四"),
        police_case("GA2", ZJLX="998", ZJHM="MA2NXCJ57", SQRLX="2", SQRXM="淮北某某保安服务有限公司"),
        police_case("GA3", ZJLX="", ZJHM=PASSPORT, SQRXM="李四"),  # a number without a type
    ])
    cases = by_key(store_url)
    assert (cases["GA1"]["applicant_cert_type"], cases["GA1"]["applicant_cert_masked"],
            cases["GA1"]["applicant_name_masked"]) == ("999", "E1*****78", "李*")
    # The reader masks a number of unknown type before it can see the applicant type: an organisation's
    # number stays masked too (099), never a person's in clear.
    assert (cases["GA2"]["applicant_type"], cases["GA2"]["applicant_cert_type"],
            cases["GA2"]["applicant_cert_masked"], cases["GA2"]["applicant_name_masked"]) == \
        (2, "099", "MA*****57", "淮北某某保安服务有限公司")
    assert cases["GA3"]["applicant_cert_type"] == "999" and cases["GA3"]["applicant_key"] == \
        cases["GA1"]["applicant_key"]
    assert finding_row(store_url, result.run_id, "cases", "unknown_cert_type")["unexpected_count"] == 3
    assert_nowhere_in_clear(store_url, [PASSPORT])
    ledger_balances(store_url)


# -- an evaluator number that fails its check: evaluator_key NULL with a finding ------------------------


def test_police_evaluator_numbers_are_checked_before_they_are_keyed(store_url, tmp_path):
    result = run_police(store_url, tmp_path / "outbox", [
        police_case("GA1"),
        police_case("GA2", SQRLX="1", ZJLX="414", ZJHM=PASSPORT),  # an applicant's passport keeps its key
        police_case("GA3", SQRLX="2", ZJLX="001", ZJHM=USCC, SQRXM="淮北某某有限公司"),
    ], [
        police_evaluation("P1", "GA1"),  # the applicant's own valid number
        police_evaluation("P2", "GA1", PJRZJHM=BAD_ID),  # fails the 居民身份证 check
        police_evaluation("P3", "GA1", PJRZJHM=PASSPORT),  # neither an ID number nor a USCC
        police_evaluation("P4", "GA1", PJRZJHM=USCC),
        police_evaluation("P5", "GA1", PJRZJHM="null"),  # NULL: anonymous, no finding
        police_evaluation("P6", "GA1", PJRZJHM=BAD_ID, MYD="X"),  # quarantined for its score
    ])
    cases = by_key(store_url)
    evals = by_key(store_url, "service_evaluation", "eval_no")
    assert evals["P1"]["evaluator_key"] == cases["GA1"]["applicant_key"]
    assert evals["P2"]["evaluator_key"] is None and evals["P3"]["evaluator_key"] is None
    assert evals["P4"]["evaluator_key"] == cases["GA3"]["applicant_key"]
    assert evals["P5"]["evaluator_key"] is None
    assert len(cases["GA2"]["applicant_key"]) == 64 and cases["GA2"]["applicant_cert_masked"] == "E1*****78"
    dq = finding_row(store_url, result.run_id, "evaluations", "invalid_evaluator_cert")
    assert (dq["column_name"], dq["element_count"], dq["unexpected_count"], dq["severity"]) == \
        ("evaluator_key", 5, 2, "warning")
    assert ledger_findings(store_url, result.run_id, "evaluations") == \
        {"invalid_evaluator_cert": {"evaluator_key": 2}}
    reject = rows(store_url, "SELECT * FROM etl_reject")
    assert [(r["record_key"], r["reason"]) for r in reject] == [("P6", "unknown_code")]
    raw = Settings.resolve(store_url=store_url).cipher.decrypt(bytes(reject[0]["raw_encrypted"])).decode()
    assert json.loads(raw)["record"]["PJRZJHM"].startswith("?")  # keyed and marked, never the clear number
    assert_nowhere_in_clear(store_url, [PERSON_ID, BAD_ID, PASSPORT])
    ledger_balances(store_url)


def test_market_and_medins_evaluator_numbers_that_fail_their_check_get_no_key(store_url, tmp_path):
    market = run_market(store_url, [market_case("SB1", 1)], [
        market_eval("PJ1", "SB1", 40), market_eval("PJ2", "SB1", 41, PJRZJHM=BAD_ID),
        market_eval("PJ3", "SB1", 42, PJRZJHM="")])
    medins = run_medins(store_url, f"sqlite:///{tmp_path / 'medins.db'}", [], [
        medins_evaluation("E1", "P1", "2026-10-05 10:00:00", CERTKEY=PASSPORT)])
    evals = by_key(store_url, "service_evaluation", "eval_no")
    assert len(evals["PJ1"]["evaluator_key"]) == 64
    assert evals["PJ2"]["evaluator_key"] is None and evals["PJ3"]["evaluator_key"] is None
    assert evals["E1"]["evaluator_key"] is None
    assert finding_row(store_url, market.run_id, "evaluations", "invalid_evaluator_cert")["unexpected_count"] == 1
    assert finding_row(store_url, medins.run_id, "evaluations", "invalid_evaluator_cert")["unexpected_count"] == 1
    assert_nowhere_in_clear(store_url, [BAD_ID, PASSPORT])


# -- item names: only full-width letters and digits become ASCII ---------------------------------------


def test_market_item_names_keep_full_width_punctuation(store_url):
    run_market(store_url, [market_case("SB1", 1, SXMC="\u3000食品（ＡＢ１２）经营\u3000许可，ｘ：Ｚ\u3000")])
    assert by_key(store_url)["SB1"]["item_name"] == "食品（AB12）经营\u3000许可，x：Z"


# -- a record quarantined for its shape keeps its key when the key field reads cleanly --------------------


def test_a_record_with_a_stray_separator_or_a_bad_byte_keeps_its_key(store_url, tmp_path):
    drop = tmp_path / "drop"
    bad_name = (",".join(case_row("C9")[:5]).encode("gb18030") + b",\x81\x20bad,"
                + ",".join(case_row("C9")[6:]).encode("gb18030"))
    bad_key = b"LSH-C8,C\x818," + ",".join(case_row("C8")[2:]).encode("gb18030")
    stray = ",".join(case_row("C10")[:10]).encode("gb18030")
    write_drop(drop, "HRSS_BJ_20261005.csv", [case_row("C1")], raw_rows=[bad_name, bad_key, stray])
    result = run_hrss(store_url, drop)
    rejects = rows(store_url, "SELECT * FROM etl_reject ORDER BY location")
    assert [(r["location"], r["record_key"], r["reason"]) for r in rejects] == [
        ("HRSS_BJ_20261005.csv record 2", "C9", "undecodable"),
        ("HRSS_BJ_20261005.csv record 3", None, "undecodable"),  # the key field itself holds the bad byte
        ("HRSS_BJ_20261005.csv record 4", "C10", "wrong_field_count"),
    ]
    assert "(C9)" in rejects[0]["detail"] and "(no key)" in rejects[1]["detail"]
    cipher = Settings.resolve(store_url=store_url).cipher
    for reject, line in zip(rejects, (bad_name, bad_key, stray)):
        fields = json.loads(cipher.decrypt(bytes(reject["raw_encrypted"])).decode())["fields"]
        assert ",".join(fields).encode("gb18030", "surrogateescape") == line  # the raw is kept byte for byte
    assert result.streams["cases"].quarantined == 3 and result.streams["cases"].inserted == 1
    ledger_balances(store_url)


# -- a 个体工商户 (USCC 92…) is a person for masking, whatever applicant type was sent ------------------------


def test_a_getihu_name_is_masked_whatever_applicant_type_the_source_sent(store_url, tmp_path):
    run_market(store_url, [
        market_case("SB1", 1, SQRLX="QY", SQRZJHM=USCC_GETI, SQRMC="王记小吃"),
        market_case("SB2", 2, SQRLX="QY", SQRZJHM=USCC, SQRMC="淮北某某商贸有限公司"),
    ])
    run_tax(store_url, [tax_case("TX1", 1, applicant={"userName": "王小二", "userProp": 2, "certType": "001",
                                                      "userCert": USCC_GETI, "phoneNumber": "13800001111"},
                                 evaluations=[])])
    run_police(store_url, tmp_path / "outbox", [police_case("GA1", SQRLX="2", ZJLX="001", ZJHM=USCC_GETI,
                                                            SQRXM="李记修车")])
    write_drop(tmp_path / "drop", "HRSS_BJ_20261005.csv",
               [case_row("C1", applicant_type="1", cert=USCC_GETI, name="赵记面馆")])
    run_hrss(store_url, tmp_path / "drop")
    cases = by_key(store_url)
    assert [(cases[c]["applicant_type"], cases[c]["applicant_cert_masked"], cases[c]["applicant_name_masked"])
            for c in ("SB1", "SB2", "TX1", "GA1", "C1")] == [
        (2, USCC_GETI, "王记**"),  # the type the source sent is kept; the name is a person's
        (2, USCC, "淮北某某商贸有限公司"),
        (2, USCC_GETI, "王**"),
        (2, USCC_GETI, "李记**"),
        (7, USCC_GETI, "赵记**"),  # a "unit"-only source: the USCC decides the type
    ]
