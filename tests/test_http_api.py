"""market.md and tax.md, quirk by quirk: the generic REST extractor against the simulators over real HTTP."""

import hashlib
import hmac
import json
import threading
import time
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

import pyarrow as pa
import pytest
import requests

from extractors.http_api import ConfigError, ExtractError, HttpApiConfig, HttpApiExtractor, hmac_signature
from simulators.market_api import MarketApi, Reply, Request, SimServer
from simulators.tax_api import TaxApi

BEIJING = timezone(timedelta(hours=8))
END = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=1)
START = END - timedelta(days=1)
MARKET_CREDENTIALS = {"client_id": "silobridge", "client_secret": "market-secret"}
TAX_CREDENTIALS = {"app_id": "silobridge", "app_secret": "tax-secret"}


def market_spec(url: str) -> dict:
    return {
        "source": "market", "base_url": url, "endpoint": "/api/v2/bj", "key_field": "SBLSH",
        "auth": {"kind": "bearer_client_credentials", "token_path": "/oauth/token", "renew_codes": ["4011"]},
        "envelope": {"ok_path": "code", "ok_value": "0000", "code_path": "code", "msg_path": "msg",
                     "busy_codes": ["5001"]},
        "paging": {"kind": "page_number", "page_param": "pageNo", "size_param": "pageSize", "page_size": 2,
                   "list_path": "data.list", "total_path": "data.total"},
        "window": {"start_param": "gxsj_start", "end_param": "gxsj_end", "format": "beijing_datetime"},
    }


def tax_spec(url: str) -> dict:
    return {
        "source": "tax", "base_url": url, "endpoint": "/open/v1/cases", "key_field": "projectNo",
        "auth": {"kind": "hmac_signed", "renew_codes": ["NONCE_REUSED"]},
        "envelope": {"ok_path": "success", "ok_value": True, "code_path": "errorCode", "msg_path": "errorMsg"},
        "paging": {"kind": "cursor", "size_param": "limit", "page_size": 2, "list_path": "result.items",
                   "cursor_param": "cursor", "cursor_path": "result.nextCursor", "has_more_path": "result.hasMore",
                   "restart_codes": ["CURSOR_EXPIRED"]},
        "window": {"start_param": "since", "end_param": "until", "format": "epoch_ms"},
    }


def market_config(url: str, **overrides) -> HttpApiConfig:
    return HttpApiConfig.from_dict({**market_spec(url), **overrides})


def tax_config(url: str, **overrides) -> HttpApiConfig:
    return HttpApiConfig.from_dict({**tax_spec(url), **overrides})


def gxsj(minutes: int) -> str:
    return (START + timedelta(minutes=minutes)).astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")


def market_case(i: int, **fields) -> dict:
    return {"SBLSH": f"SB{i:04d}", "SXBM": "11340603MB1234567X4000117003000", "SXMC": "食品经营许可", "SQRLX": "QY",
            "SQRMC": "淮北某某商贸有限公司", "SQRZJLX": "TYDM", "SQRZJHM": "91340603MA2N0000X1", "LXRSJ": "13800000000",
            "SBFS": "02", "SBSJ": gxsj(i), "SLSJ": "", "BJSJ": "", "BLZT": "0", "BJLX": "CN", "CNSX": "5",
            "SLBMBM": "11340603003000000X", "XZQHDM": "340603000000", "SFJE": "", "GXSJ": gxsj(10 + i), **fields}


def updated_at(minutes: int) -> int:
    return int((START + timedelta(minutes=minutes)).timestamp() * 1000)


def tax_case(i: int, **fields) -> dict:
    return {"projectNo": f"TX{i:04d}", "taskCode": "11340603MB0000000T3000117001000", "taskName": "发票领用",
            "taskType": 2, "proStatus": 3,
            "applicant": {"userName": "淮北某某科技有限公司", "userProp": 2, "certType": "001",
                          "userCert": "91340603MA2N0000X1", "phoneNumber": "13800000000"},
            "channel": 2, "applyDate": updated_at(i), "acceptDate": updated_at(i + 1), "resultDate": None,
            "promiseDays": 5, "deptCode": "11340603003000000X", "areaCode": "340603", "feeFen": 3500,
            "updatedAt": updated_at(10 + i),
            "evaluations": [{"assessNumber": 1, "satisfaction": 5, "pf": 2, "evalDetail": "510,517",
                             "writingEvaluation": "很好", "assessTime": updated_at(20 + i)}], **fields}


@pytest.fixture
def sleeps() -> list[float]:
    return []


def read(extractor: HttpApiExtractor, start=START, end=END) -> list[dict]:
    batches = list(extractor.read_window(start, end))
    return pa.Table.from_batches(batches).to_pylist() if batches else []


def api_calls(api, path: str) -> list:
    return [e for e in api.log if e.request.path == path]


# --- market ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("endpoint, key", [("/api/v2/bj", "SBLSH"), ("/api/v2/pj", "PJBH")])
def test_market_pages_a_window_by_page_number_in_beijing_time(endpoint, key, sleeps):
    records = [{key: f"K{i}", "GXSJ": gxsj(i)} for i in range(5)]
    at_end = END.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")
    outside = [{key: "EARLY", "GXSJ": gxsj(-1)}, {key: "AT_END", "GXSJ": at_end}]
    api = MarketApi(records + outside if key == "SBLSH" else [], records + outside if key == "PJBH" else [])
    with api.serve() as server:
        extractor = HttpApiExtractor(market_config(server.url, endpoint=endpoint, key_field=key), MARKET_CREDENTIALS,
                                     sleep=sleeps.append)
        rows = read(extractor)
    assert [r[key] for r in rows] == [f"K{i}" for i in range(5)]  # start inclusive, end exclusive
    calls = api_calls(api, endpoint)
    assert [c.request.query["pageNo"] for c in calls] == ["1", "2", "3"]  # the short page 3 is the end
    assert {c.request.query["gxsj_start"] for c in calls} == {START.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")}
    assert {c.request.query["gxsj_end"] for c in calls} == {END.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")}
    assert {c.request.query["pageSize"] for c in calls} == {"2"}
    assert all(c.request.headers["authorization"].startswith("Bearer ") for c in calls)
    s = extractor.stats
    assert (s.read, s.distinct_keys, s.passes, s.declared_total, s.last_pass_read) == (5, 5, 1, 5, 5)
    assert [r["_page"] for r in rows] == [1, 1, 2, 2, 3] and [r["_record_no"] for r in rows] == [1, 2, 3, 4, 5]
    assert sleeps == []


def test_market_page_past_the_end_is_empty(sleeps):
    api = MarketApi([market_case(i) for i in range(4)])
    with api.serve() as server:
        extractor = HttpApiExtractor(market_config(server.url), MARKET_CREDENTIALS, sleep=sleeps.append)
        assert len(read(extractor)) == 4
    assert [c.request.query["pageNo"] for c in api_calls(api, "/api/v2/bj")] == ["1", "2", "3"]
    assert api_calls(api, "/api/v2/bj")[-1].reply.body["data"]["list"] == []


def test_market_raw_fields_are_kept_exactly_as_sent(sleeps):
    case = market_case(1, SLSJ="", BJSJ=None, SFJE="null", CNSX=5, SXMC="　食品经营许可 ", EXTRA={"a": [1, 2.50]})
    api = MarketApi([case])
    with api.serve() as server:
        extractor = HttpApiExtractor(market_config(server.url, fields=["SBLSH", "MISSING"]), MARKET_CREDENTIALS,
                                     sleep=sleeps.append)
        (row,) = read(extractor)
    assert row["SLSJ"] == "" and row["BJSJ"] is None and row["SFJE"] == "null"  # nulls are the transforms' business
    assert row["CNSX"] == "5" and row["SXMC"] == "　食品经营许可 " and row["EXTRA"] == '{"a":[1,2.5]}'
    assert row["MISSING"] is None
    assert list(row)[:2] == ["SBLSH", "MISSING"] and set(case) <= set(row)
    assert (row["_page"], row["_pass"], row["_record_no"], row["_defect"], row["_raw"]) == (1, 1, 1, None, None)


def test_market_token_that_expired_early_is_refreshed_and_the_call_repeated_once(sleeps):
    api = MarketApi([market_case(i) for i in range(3)])
    api.faults.fail_next = ["4011"]
    with api.serve() as server:
        extractor = HttpApiExtractor(market_config(server.url), MARKET_CREDENTIALS, sleep=sleeps.append)
        assert len(read(extractor)) == 3
    assert len(api_calls(api, "/oauth/token")) == 2
    first, again = api_calls(api, "/api/v2/bj")[:2]
    assert first.reply.status == 401 and first.request.query == again.request.query
    assert first.request.headers["authorization"] != again.request.headers["authorization"]
    assert sleeps == []


def test_market_second_4011_in_a_row_is_fatal(sleeps):
    api = MarketApi([market_case(1)])
    api.faults.fail_next = ["4011", "4011"]
    with api.serve() as server:
        extractor = HttpApiExtractor(market_config(server.url), MARKET_CREDENTIALS, sleep=sleeps.append)
        with pytest.raises(ExtractError, match=r"market: GET /api/v2/bj answered HTTP 401 code 4011 \(token失效\)"):
            read(extractor)
    assert len(api_calls(api, "/oauth/token")) == 2 and len(api_calls(api, "/api/v2/bj")) == 2


def test_market_bad_credentials_are_fatal_at_once(sleeps):
    api = MarketApi([market_case(1)])
    with api.serve() as server:
        extractor = HttpApiExtractor(market_config(server.url), {**MARKET_CREDENTIALS, "client_secret": "wrong"},
                                     sleep=sleeps.append)
        with pytest.raises(ExtractError, match="market: the token endpoint /oauth/token refused .*invalid_client"):
            read(extractor)
    assert [e.request.form["grant_type"] for e in api.log] == ["client_credentials"]
    assert api.log[0].request.form["client_id"] == "silobridge" and sleeps == []


def test_market_429_waits_as_long_as_retry_after_says(sleeps):
    api = MarketApi([market_case(1)])
    api.faults.fail_next, api.faults.retry_after = [429], 7
    with api.serve() as server:
        extractor = HttpApiExtractor(market_config(server.url), MARKET_CREDENTIALS, sleep=sleeps.append)
        assert len(read(extractor)) == 1
    assert sleeps == [7]


def test_market_five_failures_in_a_row_are_survived_with_backoff(sleeps):
    api = MarketApi([market_case(i) for i in range(3)])
    api.faults.fail_next, api.faults.slow_seconds = [502, 504, "5001", "drop", "slow"], 1.0
    with api.serve() as server:
        extractor = HttpApiExtractor(market_config(server.url, request_deadline_seconds=0.2), MARKET_CREDENTIALS,
                                     sleep=sleeps.append)
        assert len(read(extractor)) == 3
    assert sleeps == [1, 2, 4, 8, 16]
    assert extractor.stats.read == 3 and extractor.stats.passes == 1


def test_market_more_than_five_failures_in_a_row_are_fatal(sleeps):
    api = MarketApi([market_case(1)])
    api.faults.fail_next = [502, 503, 504, "5001", 429, 502]
    with api.serve() as server:
        extractor = HttpApiExtractor(market_config(server.url), MARKET_CREDENTIALS, sleep=sleeps.append)
        with pytest.raises(ExtractError, match=r"market: GET /api/v2/bj failed 6 times in a row \(last: HTTP 502\)"):
            read(extractor)
    assert len(api_calls(api, "/api/v2/bj")) == 6 and len(sleeps) == 5


def test_market_other_business_code_is_fatal_with_its_msg(sleeps):
    api = MarketApi([market_case(1)])
    api.faults.fail_next = ["9001"]
    with api.serve() as server:
        extractor = HttpApiExtractor(market_config(server.url), MARKET_CREDENTIALS, sleep=sleeps.append)
        with pytest.raises(ExtractError, match=r"^market: GET /api/v2/bj answered HTTP 200 code 9001 \(模拟的业务错误\)"):
            read(extractor)
    assert len(api_calls(api, "/api/v2/bj")) == 1 and sleeps == []


def test_market_page_size_above_500_is_refused_before_the_api_answers_4001():
    with pytest.raises(ConfigError, match="market http_api config is invalid: paging.page_size 501"):
        market_config("http://127.0.0.1:9", paging={**market_spec("")["paging"], "page_size": 501})
    api = MarketApi([market_case(1)])
    with api.serve() as server:
        form = {"grant_type": "client_credentials", **MARKET_CREDENTIALS}
        token = requests.post(f"{server.url}/oauth/token", data=form, timeout=5).json()["access_token"]
        answer = requests.get(f"{server.url}/api/v2/bj", headers={"Authorization": f"Bearer {token}"}, timeout=5,
                              params={"gxsj_start": gxsj(0), "gxsj_end": gxsj(99), "pageNo": 1, "pageSize": 501})
    assert answer.status_code == 200 and answer.json()["code"] == "4001"


@pytest.mark.parametrize("api, config, credentials", [(MarketApi, market_config, MARKET_CREDENTIALS),
                                                      (TaxApi, tax_config, TAX_CREDENTIALS)])
def test_a_window_ending_less_than_5_minutes_ago_is_refused_not_clipped(api, config, credentials):
    api = api()
    with api.serve() as server:
        extractor = HttpApiExtractor(config(server.url), credentials)
        end = datetime.now(timezone.utc) - timedelta(minutes=4)
        with pytest.raises(ConfigError, match="ends less than 300 s before now"):
            extractor.read_window(end - timedelta(hours=1), end)
        assert api.log == []
        with pytest.raises(ConfigError, match="must be timezone-aware"):
            extractor.read_window(START.replace(tzinfo=None), END)
        assert list(extractor.read_window(START, datetime.now(timezone.utc) - timedelta(minutes=5, seconds=1))) == []
    assert api.log[-1].reply.status == 200


def test_market_total_shrinking_between_pages_makes_the_window_read_again(sleeps):
    # Page 1 holds SB0000, SB0001; SB0000 is then updated out of the window, so SB0002 slides onto page 1
    # and page 2 holds SB0003, SB0004: a single pass would never see SB0002.
    api = MarketApi([market_case(i) for i in range(5)])
    api.faults.update_before_page = {2: ["SB0000"]}
    with api.serve() as server:
        extractor = HttpApiExtractor(market_config(server.url), MARKET_CREDENTIALS, sleep=sleeps.append)
        rows = read(extractor)
    keys = [(r["SBLSH"], r["_pass"]) for r in rows]
    assert keys == [("SB0000", 1), ("SB0001", 1), ("SB0003", 1), ("SB0004", 1),
                    ("SB0001", 2), ("SB0002", 2), ("SB0003", 2), ("SB0004", 2)]
    totals = [c.reply.body["data"]["total"] for c in api_calls(api, "/api/v2/bj")]
    assert totals == [5, 4, 4, 4, 4]
    s = extractor.stats
    assert (s.read, s.distinct_keys, s.passes, s.declared_total, s.last_pass_read) == (8, 5, 2, 4, 4)
    assert [r["_record_no"] for r in rows] == list(range(1, 9))


def test_market_window_whose_total_never_settles_is_fatal(sleeps):
    api = MarketApi([market_case(i) for i in range(8)])
    api.faults.update_before_page = {2: ["SB0000"], 4: ["SB0001"], 6: ["SB0002"]}
    with api.serve() as server:
        extractor = HttpApiExtractor(market_config(server.url, max_passes=3), MARKET_CREDENTIALS, sleep=sleeps.append)
        with pytest.raises(ExtractError, match="market: GET /api/v2/bj could not finish one steady pass .* 3 passes"):
            read(extractor)


# --- tax ------------------------------------------------------------------------------------------

def test_signature_matches_an_independently_computed_vector():
    params = {"until": "1688606400000", "since": "1688520000000", "limit": "500", "cursor": "++++////YWJj ZA==",
              "q": "税务~a-b_c.d*'"}
    encoded = sorted((quote(k, safe="-_.~"), quote(v, safe="-_.~")) for k, v in params.items())
    query = "&".join(f"{k}={v}" for k, v in encoded)
    assert query == ("cursor=%2B%2B%2B%2B%2F%2F%2F%2FYWJj%20ZA%3D%3D&limit=500&q=%E7%A8%8E%E5%8A%A1~a-b_c.d%2A%27"
                     "&since=1688520000000&until=1688606400000")
    message = f"GET\n/open/v1/cases\n{query}\n1688606400123\n0123456789abcdef"
    expected = hmac.new(b"tax-secret", message.encode(), hashlib.sha256).hexdigest()
    assert hmac_signature("tax-secret", "GET", "/open/v1/cases", params, 1688606400123, "0123456789abcdef") == expected
    empty = hmac.new(b"k", b"GET\n/p\n\n1\n0123456789abcdef", hashlib.sha256).hexdigest()
    assert hmac_signature("k", "GET", "/p", {}, 1, "0123456789abcdef") == empty


def test_tax_pages_a_signed_window_by_cursor_in_epoch_ms(sleeps):
    api = TaxApi([tax_case(i) for i in range(5)] + [tax_case(90, updatedAt=updated_at(-1)),
                                                    tax_case(91, updatedAt=int(END.timestamp() * 1000))])
    with api.serve() as server:
        extractor = HttpApiExtractor(tax_config(server.url), TAX_CREDENTIALS, sleep=sleeps.append)
        rows = read(extractor)
    assert [r["projectNo"] for r in rows] == [f"TX{i:04d}" for i in range(5)]
    calls = api_calls(api, "/open/v1/cases")
    assert all(c.reply.status == 200 for c in calls) and len(calls) == 3
    window = {"since": str(int(START.timestamp() * 1000)), "until": str(int(END.timestamp() * 1000)), "limit": "2"}
    assert all({k: c.request.query[k] for k in window} == window for c in calls)  # every page repeats them
    assert "cursor" not in calls[0].request.query
    assert [c.request.query["cursor"] for c in calls[1:]] == [c.reply.body["result"]["nextCursor"] for c in calls[:-1]]
    assert "%2B%2B%2B%2B%2F%2F%2F%2F" in calls[1].request.raw_query
    assert calls[-1].reply.body["result"]["hasMore"] is False and calls[-1].reply.body["result"]["nextCursor"] is None
    assert len({c.request.headers["x-nonce"] for c in calls}) == 3
    s = extractor.stats
    assert (s.read, s.distinct_keys, s.passes, s.declared_total) == (5, 5, 1, None)


def test_tax_numbers_and_nested_objects_arrive_as_text(sleeps):
    api = TaxApi([tax_case(1, resultDate=None, evaluations=[])])
    with api.serve() as server:
        (row,) = read(HttpApiExtractor(tax_config(server.url), TAX_CREDENTIALS, sleep=sleeps.append))
    assert row["feeFen"] == "3500" and row["taskType"] == "2" and row["updatedAt"] == str(updated_at(11))
    assert row["resultDate"] is None and row["evaluations"] == "[]"
    assert json.loads(row["applicant"]) == tax_case(1)["applicant"]
    assert row["applicant"].startswith('{"userName":"淮北某某科技有限公司","userProp":2,')


def test_tax_evaluations_nested_in_their_case_are_kept_whole(sleeps):
    api = TaxApi([tax_case(1)])
    with api.serve() as server:
        (row,) = read(HttpApiExtractor(tax_config(server.url), TAX_CREDENTIALS, sleep=sleeps.append))
    assert json.loads(row["evaluations"]) == tax_case(1)["evaluations"]
    assert '"assessTime":' + str(updated_at(21)) in row["evaluations"]


def test_tax_bad_signature_is_really_rejected_and_fatal(sleeps):
    api = TaxApi([tax_case(1)])
    with api.serve() as server:
        extractor = HttpApiExtractor(tax_config(server.url), {**TAX_CREDENTIALS, "app_secret": "wrong"},
                                     sleep=sleeps.append)
        with pytest.raises(ExtractError, match=r"tax: GET /open/v1/cases answered HTTP 401 code SIGN_INVALID"):
            read(extractor)
    assert len(api.log) == 1 and sleeps == []


def test_tax_gateway_rejects_a_replayed_nonce():
    api = TaxApi([tax_case(1)])
    with api.serve() as server:
        params = {"since": "1", "until": "2", "limit": "10"}
        timestamp, nonce = int(time.time() * 1000), "00112233445566aa"
        signature = hmac_signature("tax-secret", "GET", "/open/v1/cases", params, timestamp, nonce)
        headers = {"X-App-Id": "silobridge", "X-Timestamp": str(timestamp), "X-Nonce": nonce, "X-Signature": signature}
        answers = [requests.get(f"{server.url}/open/v1/cases", params=params, headers=headers, timeout=5)
                   for _ in range(2)]
    assert answers[0].json()["success"] is True
    assert (answers[1].status_code, answers[1].json()["errorCode"]) == (401, "NONCE_REUSED")


def test_tax_nonce_reused_is_retried_once_with_a_new_nonce(sleeps):
    api = TaxApi([tax_case(1)])
    api.faults.fail_next = ["NONCE_REUSED"]
    with api.serve() as server:
        assert len(read(HttpApiExtractor(tax_config(server.url), TAX_CREDENTIALS, sleep=sleeps.append))) == 1
    first, again = api.log
    assert first.reply.status == 401 and again.reply.status == 200
    assert first.request.headers["x-nonce"] != again.request.headers["x-nonce"]


def test_tax_nonce_reused_twice_in_a_row_is_fatal(sleeps):
    api = TaxApi([tax_case(1)])
    api.faults.fail_next = ["NONCE_REUSED", "NONCE_REUSED"]
    with api.serve() as server:
        with pytest.raises(ExtractError, match="code NONCE_REUSED .* again after renewing"):
            read(HttpApiExtractor(tax_config(server.url), TAX_CREDENTIALS, sleep=sleeps.append))
    assert len(api.log) == 2


def test_tax_timestamp_more_than_300_s_off_is_fatal(sleeps):
    api = TaxApi([tax_case(1)])
    api.faults.clock_skew_ms = 301_000
    with api.serve() as server:
        with pytest.raises(ExtractError, match="code TIMESTAMP_EXPIRED"):
            read(HttpApiExtractor(tax_config(server.url), TAX_CREDENTIALS, sleep=sleeps.append))
    assert len(api.log) == 1 and sleeps == []


def test_tax_503_is_retried_after_retry_after_and_signed_afresh(sleeps):
    api = TaxApi([tax_case(i) for i in range(3)])
    api.faults.fail_next, api.faults.retry_after = [503, 503], 3
    with api.serve() as server:
        assert len(read(HttpApiExtractor(tax_config(server.url), TAX_CREDENTIALS, sleep=sleeps.append))) == 3
    assert sleeps == [3, 3]
    assert len({e.request.headers["x-nonce"] for e in api.log}) == len(api.log) == 4
    assert len({e.request.headers["x-signature"] for e in api.log}) == 4


def test_tax_success_false_is_fatal_with_its_message(sleeps):
    api = TaxApi([tax_case(1)])
    api.faults.fail_next = ["QUOTA_EXCEEDED"]
    with api.serve() as server:
        with pytest.raises(ExtractError,
                           match=r"^tax: GET /open/v1/cases answered HTTP 200 code QUOTA_EXCEEDED \(模拟的业务错误\)"):
            read(HttpApiExtractor(tax_config(server.url), TAX_CREDENTIALS, sleep=sleeps.append))
    assert len(api.log) == 1


def test_tax_empty_page_with_has_more_is_not_the_end(sleeps):
    api = TaxApi([tax_case(i) for i in range(3)])
    api.faults.empty_pages = 2
    with api.serve() as server:
        rows = read(HttpApiExtractor(tax_config(server.url), TAX_CREDENTIALS, sleep=sleeps.append))
    assert [r["projectNo"] for r in rows] == ["TX0000", "TX0001", "TX0002"]
    assert [len(e.reply.body["result"]["items"]) for e in api.log] == [0, 0, 2, 1]


def test_tax_expired_cursor_restarts_the_window_and_counts_each_record_once(sleeps):
    api = TaxApi([tax_case(i) for i in range(5)])
    api.faults.expire_cursor_after_pages = 2
    with api.serve() as server:
        extractor = HttpApiExtractor(tax_config(server.url), TAX_CREDENTIALS, sleep=sleeps.append)
        rows = read(extractor)
    assert [(r["projectNo"], r["_pass"], r["_page"]) for r in rows] == [
        ("TX0000", 1, 1), ("TX0001", 1, 1), ("TX0002", 1, 2), ("TX0003", 1, 2),
        ("TX0000", 2, 1), ("TX0001", 2, 1), ("TX0002", 2, 2), ("TX0003", 2, 2), ("TX0004", 2, 3)]
    expired = [i for i, e in enumerate(api.log) if e.reply.status == 410]
    assert len(expired) == 1 and "cursor" not in api.log[expired[0] + 1].request.query
    s = extractor.stats
    assert (s.read, s.distinct_keys, s.passes, s.last_pass_read) == (9, 5, 2, 5)
    assert sleeps == []


def test_tax_cursors_that_always_expire_end_in_a_clear_error(sleeps):
    api = TaxApi([tax_case(i) for i in range(5)], cursor_ttl_ms=0)
    with api.serve() as server:
        extractor = HttpApiExtractor(tax_config(server.url, max_passes=3), TAX_CREDENTIALS, sleep=sleeps.append)
        with pytest.raises(ExtractError, match="tax: GET /open/v1/cases could not finish one steady pass .* 3 passes"):
            read(extractor)
    assert [e.reply.status for e in api.log] == [200, 410] * 3


def test_missing_credentials_and_bad_config_are_named():
    with pytest.raises(ConfigError, match="tax: the credentials lack app_secret"):
        HttpApiExtractor(tax_config("http://127.0.0.1:9"), {"app_id": "x"})
    paging = tax_spec("")["paging"]
    with pytest.raises(ConfigError, match=r"tax http_api config.paging has unknown key\(s\) pageSize"):
        tax_config("http://127.0.0.1:9", paging={**paging, "pageSize": 5})
    with pytest.raises(ConfigError, match="tax http_api config.paging.page_size must be a int, not '500'"):
        tax_config("http://127.0.0.1:9", paging={**paging, "page_size": "500"})
    with pytest.raises(ConfigError, match="cursor_param, cursor_path and has_more_path are required"):
        tax_config("http://127.0.0.1:9", paging={**paging, "cursor_path": ""})


class _FixedPage:
    """A market-like API that answers every page with the same two items, one of them not an object."""

    def __init__(self):
        self.log, self.lock = [], threading.Lock()

    def handle(self, req: Request) -> Reply:
        if req.path == "/oauth/token":
            return Reply(200, {"access_token": "t", "token_type": "bearer", "expires_in": 7200})
        items = [{"SBLSH": "SB1", "GXSJ": gxsj(1)}, ["SB2", 7]]
        return Reply(200, {"code": "0000", "msg": "成功", "data": {"total": 2, "list": items}})


def test_an_item_that_is_not_an_object_is_passed_on_as_a_defect(sleeps):
    with SimServer(_FixedPage()) as server:
        config = market_config(server.url, paging={**market_spec("")["paging"], "page_size": 3})
        rows = read(HttpApiExtractor(config, MARKET_CREDENTIALS, sleep=sleeps.append))
    assert [(r["SBLSH"], r["_defect"], r["_raw"]) for r in rows] == [("SB1", None, None),
                                                                     (None, "not_an_object", '["SB2",7]')]


def test_an_api_that_ignores_page_numbers_does_not_loop_forever(sleeps):
    with SimServer(_FixedPage()) as server:
        extractor = HttpApiExtractor(market_config(server.url), MARKET_CREDENTIALS, sleep=sleeps.append)
        with pytest.raises(ExtractError, match=r"answered page 2 with records although its total of 2 fits in 1 page\(s\)"):
            read(extractor)
