"""market.md and tax.md through the whole pipeline, against the simulators over real HTTP."""

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from pipeline.config import Settings
from pipeline.runner import run_source
from simulators.market_api import MarketApi
from simulators.tax_api import TaxApi
from tests.handmade import PERSON_ID, PERSON_ID_X, USCC, USCC_N
from tests.test_hrss_contract import ledger_balances, rows

# Their drops are small and bad on purpose; the error limit has its own tests.
pytestmark = pytest.mark.usefixtures("lenient_specs")

BEIJING = timezone(timedelta(hours=8))
T0 = datetime(2026, 10, 5, 9, 0, tzinfo=BEIJING)


def bj(minutes: int) -> str:
    return (T0 + timedelta(minutes=minutes)).strftime("%Y-%m-%d %H:%M:%S")


def ms(minutes: int) -> int:
    return int((T0 + timedelta(minutes=minutes)).timestamp() * 1000)


def market_case(no: str, minute: int, **fields) -> dict:
    return {"SBLSH": no, "SXBM": "11340603MB1234567X40001170030001A", "SXMC": "\u3000食品经营许可\uff08ＡＢ）",
            "SQRLX": "QY", "SQRMC": "淮北某某商贸有限公司", "SQRZJLX": "TYDM", "SQRZJHM": USCC,
            "LXRSJ": "13800001111", "SBFS": "02", "SBSJ": bj(minute), "SLSJ": "", "BJSJ": None, "BLZT": "0",
            "BJLX": "CN", "CNSX": "5", "SLBMBM": "11340603003000000X", "XZQHDM": "340603000000", "SFJE": "35.5",
            "GXSJ": bj(minute), **fields}


def market_eval(no: str, case_no: str, minute: int, **fields) -> dict:
    return {"PJBH": no, "SBLSH": case_no, "PJDJ": "满意", "PJQD": "移动端", "SFMRPJ": "否", "PJXX": "510,517",
            "PJNR": "很好 13912345678", "PJRZJHM": PERSON_ID, "PJSJ": bj(minute), "GXSJ": bj(minute), **fields}


def settings(store_url, conn_id, uri) -> Settings:
    return Settings.resolve(store_url=store_url, connections={conn_id: {"uri": uri}})


def window(minutes_from: int, minutes_to: int):
    return (T0 + timedelta(minutes=minutes_from)).astimezone(timezone.utc), \
        (T0 + timedelta(minutes=minutes_to)).astimezone(timezone.utc)


def test_market_cases_and_evaluations_map_to_the_unified_store(store_url):
    api = MarketApi(
        [market_case("SB1", 1),
         market_case("SB2", 2, SQRLX="GR", SQRMC="欧阳小明", SQRZJLX="SFZ", SQRZJHM=PERSON_ID_X.lower(), SFJE="",
                     BLZT="3", BJSJ=bj(30), SLSJ=bj(3), XZQHDM="null", SBFS="05"),
         market_case("SB3", 3, BLZT="7"),  # a status code the contract does not list
         market_case("SB4", 4, SQRZJLX="XX", SQRLX="GR", SQRZJHM="AB1234567")],  # unknown certificate type
        [market_eval("PJ1", "SB2", 40), market_eval("PJ2", "SB1", 41, SFMRPJ="是", PJQD="评价器", PJRZJHM="")],
    )
    with api.serve() as server:
        uri = f"http://{api.client_id}:{api.client_secret}@{server.url.removeprefix('http://')}"
        result = run_source("market", settings(store_url, "silobridge_market", uri), window=window(0, 60))
    assert result.streams["cases"].inserted == 3 and result.streams["cases"].quarantined == 1
    cases = {r["case_no"]: r for r in rows(store_url, "SELECT * FROM service_case")}
    sb1, sb2, sb4 = cases["SB1"], cases["SB2"], cases["SB4"]
    assert sb1["item_name"] == "食品经营许可（AB）" and sb1["impl_code"] == "11340603MB1234567X40001170030001A"[:31]
    assert (sb1["applicant_type"], sb1["applicant_cert_type"], sb1["applicant_cert_masked"]) == (2, "001", USCC)
    assert sb1["region_code"] == "340603" and sb1["case_type"] == 2 and sb1["channel"] == 2
    assert str(sb1["fee_yuan"]) == "35.50" and sb1["source_record_id"] is None and sb1["bundle_id"] is None
    assert (sb2["applicant_cert_type"], sb2["applicant_cert_masked"], sb2["applicant_name_masked"]) == \
        ("111", "340603********108X", "欧阳**")
    assert sb2["status"] == "completed" and sb2["channel"] == 4 and sb2["region_code"] is None
    assert Decimal(str(sb2["fee_yuan"])) == Decimal("0.00")
    assert sb4["applicant_cert_type"] == "999"  # an unknown certificate type is "other", not a quarantine
    reject = rows(store_url, "SELECT * FROM etl_reject")[0]
    assert (reject["record_key"], reject["reason"]) == ("SB3", "unknown_code") and "BLZT" in reject["detail"]

    evals = {r["eval_no"]: r for r in rows(store_url, "SELECT * FROM service_evaluation")}
    assert (evals["PJ1"]["score"], evals["PJ1"]["score_raw"], evals["PJ1"]["channel"]) == (4, "满意", 2)
    assert evals["PJ1"]["evaluator_key"] == cases["SB2"]["applicant_key"] is None or \
        len(evals["PJ1"]["evaluator_key"]) == 64
    assert evals["PJ1"]["comment"] == "很好 139****5678"
    assert evals["PJ2"]["is_default"] and evals["PJ2"]["channel"] is None and evals["PJ2"]["evaluator_key"] is None
    ledger_balances(store_url)


def test_market_a_second_run_over_the_same_window_changes_nothing(store_url):
    api = MarketApi([market_case(f"SB{i}", i) for i in range(7)], [])
    with api.serve() as server:
        uri = f"http://{api.client_id}:{api.client_secret}@{server.url.removeprefix('http://')}"
        s = settings(store_url, "silobridge_market", uri)
        first = run_source("market", s, window=window(0, 60))
        before = rows(store_url, "SELECT * FROM service_case ORDER BY case_no")
        second = run_source("market", s, window=window(0, 60))
    assert first.streams["cases"].inserted == 7
    assert second.streams["cases"].extracted == 0  # the window was committed: nothing to read again
    after = rows(store_url, "SELECT * FROM service_case ORDER BY case_no")
    assert before == after
    assert rows(store_url, "SELECT COUNT(*) AS n FROM etl_reject") == [{"n": 0}]
    ledger_balances(store_url)


def test_market_records_moving_while_paged_are_read_once_and_counted_as_duplicates(sqlite_url):
    api = MarketApi([market_case(f"SB{i}", i) for i in range(6)], [])
    api.faults.update_before_page = {2: ["SB0"]}  # SB0 leaves the window after page 1 was served
    with api.serve() as server:
        uri = f"http://{api.client_id}:{api.client_secret}@{server.url.removeprefix('http://')}"
        spec_page = {"page_size": 2}
        from pipeline import specs

        spec = specs.load_spec("market")
        paging = {**spec.extract["paging"], **spec_page}
        patched = spec.model_copy(update={"extract": {**spec.extract, "paging": paging}})
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(specs, "load_spec", lambda name: patched)
            import pipeline.runner

            mp.setattr(pipeline.runner, "load_spec", lambda name: patched)
            result = run_source("market", settings(sqlite_url, "silobridge_market", uri), window=window(0, 60))
    cases = result.streams["cases"]
    assert cases.inserted == 6 and cases.duplicates == cases.extracted - 6
    assert sorted(r["case_no"] for r in rows(sqlite_url, "SELECT case_no FROM service_case")) == [f"SB{i}" for i in range(6)]
    ledger_balances(sqlite_url)


def tax_case(no: str, minute: int, **fields) -> dict:
    return {"projectNo": no, "taskCode": "11340603MB0000000T3000117001000", "taskName": "发票领用", "taskType": 2,
            "proStatus": 3, "applicant": {"userName": "某村股份经济合作社", "userProp": 9, "certType": "001",
                                          "userCert": USCC_N, "phoneNumber": "0561-3012345"},
            "channel": 2, "applyDate": ms(minute), "acceptDate": ms(minute + 1), "resultDate": None,
            "promiseDays": 5, "deptCode": "11340603003000000X", "areaCode": "340603", "feeFen": 3505,
            "updatedAt": ms(minute + 2),
            "evaluations": [{"assessNumber": 1, "satisfaction": 2, "pf": 6, "evalDetail": "601",
                             "writingEvaluation": "慢", "assessTime": ms(minute + 2)},
                            {"assessNumber": 2, "satisfaction": 5, "pf": 7, "evalDetail": None,
                             "writingEvaluation": None, "assessTime": ms(minute + 2)}], **fields}


def test_tax_cases_and_their_nested_evaluations(store_url):
    geti = tax_case("TX2", 5, applicant={"userName": "王小二", "userProp": 5, "certType": "111", "userCert": PERSON_ID,
                                         "phoneNumber": "13800001111"}, feeFen=None, evaluations=[])
    api = TaxApi([tax_case("TX1", 1), geti])
    with api.serve() as server:
        uri = f"http://{api.app_id}:{api.app_secret}@{server.url.removeprefix('http://')}"
        result = run_source("tax", settings(store_url, "silobridge_tax", uri), window=window(0, 60))
    assert result.streams["cases"].inserted == 2 and result.streams["evaluations"].inserted == 2
    cases = {r["case_no"]: r for r in rows(store_url, "SELECT * FROM service_case")}
    tx1, tx2 = cases["TX1"], cases["TX2"]
    assert str(tx1["fee_yuan"]) == "35.05" and tx1["applicant_type"] == 6 and tx1["applicant_cert_masked"] == USCC_N
    assert tx1["contact_phone_masked"] == "0561-***2345" and tx1["status"] == "completed"
    assert tx2["applicant_type"] == 7 and tx2["applicant_name_masked"] == "王**"
    assert tx2["applicant_cert_masked"] == "340603********0022"
    evals = {r["eval_no"]: r for r in rows(store_url, "SELECT * FROM service_evaluation")}
    first, second = evals["TX1#1"], evals["TX1#2"]
    assert (first["channel"], first["score"], first["assess_number"], first["is_default"]) == (7, 2, 1, False)
    assert (second["channel"], second["is_default"], second["assess_number"]) == (None, True, 2)
    assert first["case_no"] == "TX1" and first["source_updated_at"] == tx1["source_updated_at"]
    ledger_balances(store_url)


def test_tax_an_evaluation_missing_from_a_later_delivery_is_marked_deleted(store_url):
    api = TaxApi([tax_case("TX1", 1)])
    with api.serve() as server:
        uri = f"http://{api.app_id}:{api.app_secret}@{server.url.removeprefix('http://')}"
        s = settings(store_url, "silobridge_tax", uri)
        run_source("tax", s, window=window(0, 60))
        # The case is sent again, later, with only its second evaluation.
        again = tax_case("TX1", 1, updatedAt=ms(70))
        again["evaluations"] = again["evaluations"][1:]
        api.cases[:] = [again]
        result = run_source("tax", s, window=window(60, 120))
    evals = {r["eval_no"]: r for r in rows(store_url, "SELECT * FROM service_evaluation")}
    assert evals["TX1#1"]["deleted"] and not evals["TX1#2"]["deleted"]
    assert _ms(evals["TX1#1"]["source_updated_at"]) == ms(70)
    assert result.notes["evaluations_marked_deleted"] == 1
    ledger_balances(store_url)


def test_tax_an_evaluation_listed_but_quarantined_in_a_later_delivery_is_not_marked_deleted(sqlite_url):
    # It did not disappear from the complete list: the stored version stands, the new one is in quarantine.
    api = TaxApi([tax_case("TX1", 1)])
    with api.serve() as server:
        uri = f"http://{api.app_id}:{api.app_secret}@{server.url.removeprefix('http://')}"
        s = settings(sqlite_url, "silobridge_tax", uri)
        run_source("tax", s, window=window(0, 60))
        again = tax_case("TX1", 1, updatedAt=ms(70))
        again["evaluations"][0]["satisfaction"] = 9  # a score code the contract does not list
        api.cases[:] = [again]
        result = run_source("tax", s, window=window(60, 120))
    evals = {r["eval_no"]: r for r in rows(sqlite_url, "SELECT * FROM service_evaluation")}
    assert not evals["TX1#1"]["deleted"] and evals["TX1#1"]["score"] == 2
    assert _ms(evals["TX1#2"]["source_updated_at"]) == ms(70)
    assert [(r["record_key"], r["reason"]) for r in rows(sqlite_url, "SELECT * FROM etl_reject")] == [
        ("TX1#1", "unknown_code")]
    assert result.notes["evaluations_marked_deleted"] == 0
    ledger_balances(sqlite_url)


def test_tax_an_evaluation_without_its_assess_number_has_no_eval_no_and_is_quarantined(sqlite_url):
    case = tax_case("TX1", 1)
    del case["evaluations"][0]["assessNumber"]
    case["evaluations"][1]["assessNumber"] = None
    api = TaxApi([case])
    with api.serve() as server:
        uri = f"http://{api.app_id}:{api.app_secret}@{server.url.removeprefix('http://')}"
        result = run_source("tax", settings(sqlite_url, "silobridge_tax", uri), window=window(0, 60))
    assert rows(sqlite_url, "SELECT eval_no FROM service_evaluation") == []
    assert [r["reason"] for r in rows(sqlite_url, "SELECT reason FROM etl_reject WHERE stream = 'evaluations'")] == [
        "missing_field", "missing_field"]
    assert result.streams["evaluations"].quarantined == 2 and result.streams["cases"].inserted == 1
    ledger_balances(sqlite_url)


def test_tax_an_evaluation_missing_from_a_quarantined_case_delivery_is_still_marked_deleted(store_url):
    # The case is quarantined (a status code the contract does not list), its evaluations are loaded on their own
    # merits, and its list is complete all the same: the one it lacks is deleted.
    api = TaxApi([tax_case("TX1", 1)])
    with api.serve() as server:
        uri = f"http://{api.app_id}:{api.app_secret}@{server.url.removeprefix('http://')}"
        s = settings(store_url, "silobridge_tax", uri)
        run_source("tax", s, window=window(0, 60))
        again = tax_case("TX1", 1, updatedAt=ms(70), proStatus=9)
        again["evaluations"] = again["evaluations"][1:]
        api.cases[:] = [again]
        result = run_source("tax", s, window=window(60, 120))
    assert result.streams["cases"].quarantined == 1 and result.streams["evaluations"].updated == 1
    evals = {r["eval_no"]: r for r in rows(store_url, "SELECT * FROM service_evaluation")}
    assert evals["TX1#1"]["deleted"] and not evals["TX1#2"]["deleted"]
    assert _ms(evals["TX1#1"]["source_updated_at"]) == ms(70)
    assert result.notes["evaluations_marked_deleted"] == 1
    ledger_balances(store_url)


def _ms(value) -> int:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return int(moment.timestamp() * 1000)
