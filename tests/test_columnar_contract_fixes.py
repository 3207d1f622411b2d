"""Contract points the per-record unify got wrong, checked on hand-made records through the columnar unify."""

import hmac
from datetime import date

import pyarrow as pa

from pipeline.specs import load_specs
from tests.handmade import PERSON_ID, PERSON_ID_15
from tests.test_api_sources import market_case, market_eval
from tests.test_medins_source import case as medins_case, evaluation as medins_evaluation
from transforms.columnar import unify_columnar
from transforms.records import Context

KEY = b"contract-fix-key"
SPECS = load_specs()


def _unify(source: str, stream: str, records: list[dict]):
    spec = SPECS[source]
    s = spec.streams[stream]
    ctx = Context(source=source, stream=stream, fields=s.fields, codes=s.codes, options=s.options,
                  time_formats=spec.time_formats, pii_key=KEY, location="hand-made", delivery_prefix=None,
                  today=date(2026, 10, 5))
    columns = {c: pa.array([None if r.get(c) is None else str(r[c]) for r in records], pa.string())
               for c in records[0]}
    return unify_columnar(pa.table({**columns, "_record_no": pa.array(range(1, len(records) + 1), pa.int64())}), ctx)


def _hmac(number: str) -> str:
    return hmac.digest(KEY, number.encode(), "sha256").hex()


def test_only_a_15_digit_id_card_is_upgraded_other_certificates_are_keyed_and_masked_as_sent():
    rows, rejects, _ = _unify("market", "cases", [
        market_case("SB1", 1, SQRLX="GR", SQRZJLX="SFZ", SQRZJHM=PERSON_ID_15),  # 居民身份证: upgraded
        market_case("SB2", 2, SQRLX="GR", SQRZJLX="HZ", SQRZJHM=PERSON_ID_15),  # a passport with 15 digits
        market_case("SB3", 3, SQRLX="GR", SQRZJLX="XX", SQRZJHM=PERSON_ID_15),  # unknown type → 999
    ])
    assert not rejects
    by_case = {r["case_no"]: r for r in rows.to_pylist()}
    assert by_case["SB1"]["applicant_key"] == _hmac(PERSON_ID)
    assert by_case["SB1"]["applicant_cert_masked"] == "340603********0022"
    for case_no, cert_type in (("SB2", "414"), ("SB3", "999")):
        row = by_case[case_no]
        assert row["applicant_cert_type"] == cert_type
        assert row["applicant_key"] == _hmac(PERSON_ID_15) != _hmac(PERSON_ID)
        assert row["applicant_cert_masked"] == "34" + "*" * 11 + "02"


def test_a_15_digit_number_of_a_unit_is_not_shown_as_an_upgraded_id_number():
    _, rejects, _ = _unify("medins", "cases", [medins_case("R1", "P1", 1, "2026-10-05 10:00:00", APPLYERTYPE="20",
                                                           APPLYERPAGETYPE="001", APPLYERPAGECODE=PERSON_ID_15)])
    assert [r.reason for r in rejects] == ["invalid_uscc"]
    assert "15 characters (digits) fails the 统一社会信用代码 check" in rejects[0].detail


def test_unknown_case_type_promise_unit_and_deletion_flag_load_with_findings_an_unknown_status_does_not():
    rows, rejects, findings = _unify("medins", "cases", [
        medins_case("R1", "P1", 1, "2026-10-05 10:00:00", APPROVALTYPE="7"),
        medins_case("R2", "P2", 1, "2026-10-05 10:00:00", PROMISETIMEUNIT="9", PROMISETIMELIMIT=10),
        medins_case("R3", "P3", 1, "2026-10-05 10:00:00", DEL_FLAG="2"),
        medins_case("R4", "P4", 1, "2026-10-05 10:00:00", CASESTATE="XX"),
        medins_case("R5", "P5", 1, "2026-10-05 10:00:00", PROMISETIMEUNIT="9", PROMISETIMELIMIT=None),
    ])
    loaded = {r["case_no"]: r for r in rows.to_pylist()}
    assert set(loaded) == {"P1", "P2", "P3", "P5"}
    assert loaded["P1"]["case_type"] is None and loaded["P2"]["case_type"] == 2
    assert loaded["P2"]["promise_days"] is None and loaded["P1"]["promise_days"] == 8  # 10 自然日 → 8 working days
    assert loaded["P3"]["deleted"] is False and loaded["P5"]["promise_days"] is None
    assert [(r.record_key, r.reason) for r in rejects] == [("P4", "unknown_code")]
    assert findings[("unknown_case_type", "case_type")] == 1
    assert findings[("unknown_promise_unit", "promise_days")] == 1  # P5 has no time limit to convert
    assert findings[("unknown_deleted_flag", "deleted")] == 1


def test_an_unknown_default_flag_loads_as_an_evaluation_by_the_person_with_a_finding():
    rows, rejects, findings = _unify("medins", "evaluations", [
        medins_evaluation("E1", "P1", "2026-10-05 10:00:00", ISDEFAULT="5"),
        medins_evaluation("E2", "P1", "2026-10-05 10:00:00", ISDEFAULT="1"),
    ])
    assert not rejects
    assert [(r["eval_no"], r["is_default"], r["channel"]) for r in rows.to_pylist()] == [("E1", False, 2),
                                                                                        ("E2", True, None)]
    assert findings[("unknown_default_flag", "is_default")] == 1


def test_a_default_evaluation_loads_without_a_channel_whatever_channel_code_was_sent():
    # unified-store.md: channel is "always NULL for a default evaluation, whatever channel code the source sent".
    rows, rejects, _ = _unify("medins", "evaluations", [
        medins_evaluation("E1", "P1", "2026-10-05 10:00:00", ISDEFAULT="1", PF="9"),
        medins_evaluation("E2", "P1", "2026-10-05 10:00:00", ISDEFAULT="0", PF="9"),  # by the person: unknown code
    ])
    assert [(r["eval_no"], r["is_default"], r["channel"]) for r in rows.to_pylist()] == [("E1", True, None)]
    assert [(r.record_key, r.reason) for r in rejects] == [("E2", "unknown_code")]
    assert "PF (channel): '9', not in the medins code map" in rejects[0].detail
    rows, rejects, _ = _unify("market", "evaluations", [market_eval("PJ1", "SB1", 1, SFMRPJ="是", PJQD="微信")])
    assert not rejects and rows.to_pylist()[0]["channel"] is None


def test_a_personal_certificate_masks_the_name_whatever_applicant_type_was_sent():
    medins, _, _ = _unify("medins", "cases", [medins_case("R1", "P1", 1, "2026-10-05 10:00:00", APPLYERTYPE="20",
                                                          APPLYERNAME="张三", APPLYERPAGETYPE="111",
                                                          APPLYERPAGECODE=PERSON_ID)])
    market, _, _ = _unify("market", "cases", [market_case("SB1", 1, SQRLX="QY", SQRMC="李四", SQRZJLX="SFZ",
                                                          SQRZJHM=PERSON_ID)])
    company, _, _ = _unify("market", "cases", [market_case("SB2", 2)])
    assert [r["applicant_name_masked"] for r in medins.to_pylist()] == ["张*"]
    assert [r["applicant_name_masked"] for r in market.to_pylist()] == ["李*"]
    assert [r["applicant_name_masked"] for r in company.to_pylist()] == ["淮北某某商贸有限公司"]
