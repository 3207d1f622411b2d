"""Hostile and broken REST peers (market, tax) through whole runs into SQLite and PostgreSQL.

Each peer is a real HTTP server on 127.0.0.1 that misbehaves on purpose: cursors
that loop, page numbers ignored, more pages than the total allows, `hasMore`
forever, bytes dripped one at a time, bodies without end, items that are not
objects, nested fields of the wrong JSON type, personal numbers in error bodies.
Every run either fails with one sentence naming the source, the endpoint and
what the server did (committing only its failed ledger rows), or quarantines
the bad record and balances its ledger; no personal number the peer sent is
anywhere in clear, in the store or in the log.
"""

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import count, repeat
from urllib.parse import parse_qsl, urlsplit

import pytest

import pipeline.runner
from extractors.http_api import ConfigError, HttpApiConfig
from pipeline.config import Settings
from pipeline.runner import RunFailed, run_source
from pipeline.specs import ErrorLimit, load_spec
from tests.clear_numbers import assert_nowhere_in_clear
from tests.handmade import PERSON_ID, PERSON_ID_X
from tests.test_hrss_contract import ledger_balances, rows

BEIJING = timezone(timedelta(hours=8))
WINDOW = (datetime(2026, 10, 5, tzinfo=BEIJING), datetime(2026, 10, 6, tzinfo=BEIJING))
PHONE = "13912345678"
NUMBERS = (PERSON_ID, PERSON_ID_X, PHONE)


# --- a peer that answers whatever a test scripts -----------------------------------------------------

@dataclass
class Raw:
    """An answer written as it is: `chunks` one after another with `pause` seconds before each.

    Without `length` there is no Content-Length: the body ends when the connection closes.
    """

    chunks: Iterable[bytes]
    status: int = 200
    length: int | None = None
    pause: float = 0.0
    content_type: str = "application/json; charset=utf-8"


def answer(body, status: int = 200) -> Raw:
    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    return Raw([data], status, len(data))


@dataclass
class Peer:
    """Serves `script(method, path, query) -> Raw` on 127.0.0.1; `calls` lists (path, query) as they came."""

    script: Callable[[str, str, dict], Raw]
    calls: list = field(default_factory=list)
    finished: list = field(default_factory=list)  # paths of answers written to their end

    def __enter__(self) -> "Peer":
        peer, self.stop = self, threading.Event()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                peer._serve(self)

            do_POST = do_GET

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads, self.httpd.block_on_close = True, False
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def _serve(self, h: BaseHTTPRequestHandler) -> None:
        split = urlsplit(h.path)
        h.rfile.read(int(h.headers.get("Content-Length") or 0))
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        self.calls.append((split.path, query))
        reply = self.script(h.command, split.path, query)
        try:
            h.send_response(reply.status)
            h.send_header("Content-Type", reply.content_type)
            if reply.length is not None:
                h.send_header("Content-Length", str(reply.length))
            h.end_headers()
            for chunk in reply.chunks:
                if self.stop.wait(reply.pause):
                    return
                h.wfile.write(chunk)
                h.wfile.flush()
            self.finished.append(split.path)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up on this answer


def api_calls(peer: Peer, path: str) -> list[dict]:
    return [query for p, query in peer.calls if p == path]


# --- records as the contracts shape them -----------------------------------------------------------

def market_case(no: str, **fields) -> dict:
    return {"SBLSH": no, "SXBM": "11340603MB1234567X4000117003000", "SXMC": "食品经营许可", "SQRLX": "GR",
            "SQRMC": "张三", "SQRZJLX": "SFZ", "SQRZJHM": PERSON_ID, "LXRSJ": PHONE, "SBFS": "02",
            "SBSJ": "2026-10-05 09:00:00", "SLSJ": "", "BJSJ": "", "BLZT": "0", "BJLX": "CN", "CNSX": "5",
            "SLBMBM": "11340603003000000X", "XZQHDM": "340603000000", "SFJE": "", "GXSJ": "2026-10-05 09:00:00",
            **fields}


def market_page(items, total: int | None = None) -> Raw:
    return answer({"code": "0000", "msg": "成功",
                   "data": {"total": len(items) if total is None else total, "list": items}})


EMPTY_MARKET_PAGE = market_page([])


def tax_case(no: str, **fields) -> dict:
    return {"projectNo": no, "taskCode": "11340603MB0000000T3000117001000", "taskName": "个税纳税记录开具",
            "taskType": 1, "proStatus": 3,
            "applicant": {"userName": "王小二", "userProp": 1, "certType": "111", "userCert": PERSON_ID_X,
                          "phoneNumber": PHONE},
            "channel": 2, "applyDate": 1759626000000, "acceptDate": 1759626060000, "resultDate": None,
            "promiseDays": 0, "deptCode": "11340603003000000X", "areaCode": "340603", "feeFen": 0,
            "updatedAt": 1759626120000,
            "evaluations": [{"assessNumber": 1, "satisfaction": 5, "pf": 2, "evalDetail": "510",
                             "writingEvaluation": f"请回电{PHONE}", "assessTime": 1759626120000}], **fields}


def tax_page(items, cursor: str | None = None) -> Raw:
    return answer({"success": True, "errorCode": None, "errorMsg": None,
                   "result": {"items": items, "nextCursor": cursor, "hasMore": cursor is not None}})


def market_peer(pages: Callable[[int], Raw], evaluations: Callable[[int], Raw] = lambda n: EMPTY_MARKET_PAGE) -> Peer:
    def script(method, path, query):
        if path == "/oauth/token":
            return answer({"access_token": "token", "token_type": "bearer", "expires_in": 7200})
        return (pages if path == "/api/v2/bj" else evaluations)(int(query["pageNo"]))

    return Peer(script)


def tax_peer(pages: Callable[[int, str | None], Raw]) -> Peer:
    """`pages(n, cursor)`: the answer to the n-th call, given the cursor it presented."""
    served = count(1)
    return Peer(lambda method, path, query: pages(next(served), query.get("cursor")))


# --- runs ----------------------------------------------------------------------------------------

@pytest.fixture
def spec_with(monkeypatch):
    """spec_with(**extract): the source's spec with these extractor settings, and without an error limit."""
    def patch(**extract):
        def load(name):
            spec = load_spec(name)
            return spec.model_copy(update={"extract": {**spec.extract, **extract}, "error_limit": ErrorLimit()})

        monkeypatch.setattr(pipeline.runner, "load_spec", load)

    patch()
    return patch


@pytest.fixture
def logged(caplog):
    caplog.set_level(logging.DEBUG, logger="silobridge")
    return caplog


def run(source: str, store_url: str, peer: Peer):
    login = {"market": "client:secret", "tax": "app:secret"}[source]
    uri = f"http://{login}@{peer.url.removeprefix('http://')}"
    settings = Settings.resolve(store_url=store_url, connections={f"silobridge_{source}": {"uri": uri}})
    return run_source(source, settings, window=(WINDOW[0].astimezone(timezone.utc), WINDOW[1].astimezone(timezone.utc)))


def fails(source: str, store_url: str, peer: Peer, logged, pattern: str) -> str:
    """Runs, expecting a failure with one sentence matching `pattern`; checks what the failed run left behind."""
    with peer, pytest.raises(RunFailed) as failure:
        run(source, store_url, peer)
    message = str(failure.value)
    assert pattern in message, message
    reason = message.split(" failed: ", 1)[1]
    assert reason.startswith(f"{source}: ") and reason.count("; ") <= 2 and "\n" not in reason, reason
    ledger = rows(store_url, "SELECT * FROM etl_run ORDER BY stream")
    assert {r["stream"] for r in ledger} == {"cases", "evaluations"}
    assert all(r["status"] == "failed" and r["failure_reason"] == message and r["extracted"] == 0 for r in ledger)
    for table in ("service_case", "service_evaluation", "etl_reject", "etl_watermark"):
        assert rows(store_url, f"SELECT COUNT(*) AS n FROM {table}") == [{"n": 0}], table
    assert_nowhere_in_clear(store_url, NUMBERS, [logged.text, message])
    return message


def ledger(store_url: str) -> dict[str, dict]:
    runs = rows(store_url, "SELECT * FROM etl_run")
    assert all(r["status"] == "success" for r in runs), runs
    ledger_balances(store_url)
    return {r["stream"]: r for r in runs}


def rejects(store_url: str) -> list[tuple]:
    return sorted((r["stream"], r["reason"], r["record_key"])
                  for r in rows(store_url, "SELECT stream, reason, record_key FROM etl_reject"))


# --- paging that would never end -----------------------------------------------------------------

def test_tax_a_cursor_given_again_within_a_pass_fails_the_run(store_url, spec_with, logged):
    def pages(n, cursor):
        return tax_page([tax_case(f"TX{n}")], {None: "c1", "c1": "c2", "c2": "c1"}[cursor])

    peer = tax_peer(pages)
    fails("tax", store_url, peer, logged, "tax: GET /open/v1/cases answered page 3 with the result.nextCursor it "
          "had already given on page 1 of this pass, so paging would never end; the server's cursors loop")
    assert len(peer.calls) == 3


def test_market_a_server_that_ignores_page_numbers_fails_the_run(store_url, spec_with, logged):
    spec_with(paging={**load_spec("market").extract["paging"], "page_size": 2})
    peer = market_peer(lambda n: market_page([market_case("SB1"), market_case("SB2")], total=100))
    fails("market", store_url, peer, logged, "market: GET /api/v2/bj answered page 2 with exactly the records of "
          "page 1; the server ignores pageNo, so paging would never end")
    assert [q["pageNo"] for q in api_calls(peer, "/api/v2/bj")] == ["1", "2"]


def test_market_more_pages_than_the_total_allows_fail_the_run(store_url, spec_with, logged):
    spec_with(paging={**load_spec("market").extract["paging"], "page_size": 2})
    peer = market_peer(lambda n: market_page([market_case(f"SB{n}a"), market_case(f"SB{n}b")], total=3))
    fails("market", store_url, peer, logged, "market: GET /api/v2/bj answered page 3 with records although its "
          "total of 3 fits in 2 page(s) of 2; the server ignores pageNo or miscounts")


def test_tax_has_more_without_end_stops_at_max_pages(store_url, spec_with, logged):
    spec_with(max_pages=25)
    peer = tax_peer(lambda n, cursor: tax_page([], f"cursor-{n}"))  # empty pages, each with a fresh cursor
    fails("tax", store_url, peer, logged, "tax: GET /open/v1/cases had still not reached the end of the window "
          "after 25 pages in one pass (max_pages)")
    assert len(peer.calls) == 25


def test_market_a_total_without_end_stops_at_max_pages(store_url, spec_with, logged):
    spec_with(max_pages=4, paging={**load_spec("market").extract["paging"], "page_size": 1})
    peer = market_peer(lambda n: market_page([market_case(f"SB{n}")], total=10**12))
    fails("market", store_url, peer, logged, "market: GET /api/v2/bj had still not reached the end of the window "
          "after 4 pages in one pass (max_pages)")


# --- deadlines and size caps ----------------------------------------------------------------------

def dripping(body: bytes, pause: float) -> Raw:
    """The whole body announced, then sent one byte at a time: each read gets a byte long before any timeout."""
    return Raw((body[i:i + 1] for i in range(len(body))), length=len(body), pause=pause)


def test_a_server_that_drips_its_answer_is_cut_off_at_the_request_deadline(store_url, spec_with, logged):
    spec_with(request_deadline_seconds=0.8, max_failures=1, backoff_seconds=0.01)
    body = json.dumps({"code": "0000", "msg": "成功", "data": {"total": 1, "list": [market_case("SB1")]}}).encode()
    peer = market_peer(lambda n: dripping(body, 0.05))  # ~40 s per answer if it were waited for
    message = fails("market", store_url, peer, logged, "market: GET /api/v2/bj failed 2 times in a row (last: no "
                    "complete answer within its deadline of 0.8 s (request_deadline_seconds))")
    assert "/api/v2/bj" not in peer.finished and len(api_calls(peer, "/api/v2/bj")) == 2
    assert "retrying" in logged.text and message.endswith("run again later")


def test_a_request_over_its_deadline_is_retried_like_a_timeout(store_url, spec_with, logged):
    spec_with(request_deadline_seconds=0.5, backoff_seconds=0.01)
    good = market_page([market_case("SB1")])
    peer = market_peer(lambda n: dripping(b"{" * 5000, 0.05) if len(peer.calls) <= 2 else good)
    with peer:
        run("market", store_url, peer)
    assert [r["case_no"] for r in rows(store_url, "SELECT case_no FROM service_case")] == ["SB1"]
    assert ledger(store_url)["cases"]["inserted"] == 1
    assert "no complete answer within its deadline of 0.5 s" in logged.text
    assert_nowhere_in_clear(store_url, NUMBERS, [logged.text])


def test_a_run_past_its_deadline_fails_with_one_sentence(store_url, spec_with, logged):
    spec_with(run_deadline_seconds=1.5, request_deadline_seconds=30)

    def slow_pages(n, cursor):
        time.sleep(0.3)  # each page well within the request deadline, but the pages never end
        return tax_page([tax_case(f"TX{n}")], f"cursor-{n}")

    fails("tax", store_url, tax_peer(slow_pages), logged,
          "tax: reading GET /open/v1/cases did not finish within the run deadline of 1.5 s (run_deadline_seconds; ")


def test_the_run_deadline_also_cuts_off_an_answer_still_dripping(store_url, spec_with, logged):
    spec_with(run_deadline_seconds=1, request_deadline_seconds=600)
    peer = tax_peer(lambda n, cursor: dripping(json.dumps({"success": True}).encode() * 100, 0.05))
    fails("tax", store_url, peer, logged, "tax: reading GET /open/v1/cases did not finish within the run deadline "
          "of 1 s (run_deadline_seconds; GET /open/v1/cases was still sending its answer)")
    assert peer.finished == []


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "until-close"])
def test_a_body_over_max_page_bytes_fails_the_run_without_being_held(declared, store_url, spec_with, logged):
    spec_with(max_page_bytes=64 * 1024)
    page = json.dumps({"code": "0000", "data": {"total": 1, "list": [market_case("SB1", SXMC="食" * 40_000)]}})
    if declared:
        reply = Raw([page.encode()], length=len(page.encode()))
    else:  # a body that never ends: only the cap stops reading it
        reply = Raw(repeat(b"[" * 4096))
    peer = market_peer(lambda n: reply)
    fails("market", store_url, peer, logged, "market: GET /api/v2/bj answered with a body of more than 65536 bytes "
          "(max_page_bytes); the answer was not read whole")


# --- what a peer says when it fails ---------------------------------------------------------------

def test_a_body_that_is_not_json_is_described_never_quoted(store_url, spec_with, logged):
    html = f"<html><body>Internal error for {PERSON_ID} / {PHONE}</body></html>".encode()
    peer = market_peer(lambda n: Raw([html], status=500, length=len(html), content_type="text/html"))
    fails("market", store_url, peer, logged, f"market: GET /api/v2/bj answered HTTP 500 with a body of {len(html)} "
          "bytes of text/html that is not the JSON envelope; the contract makes this fatal")


def test_a_business_error_keeps_its_msg_with_numbers_masked(store_url, spec_with, logged):
    msg = f"证件号码{PERSON_ID}与手机 139-1234-5678 不匹配，错误码 4002"
    peer = market_peer(lambda n: answer({"code": "9001", "msg": msg}))
    fails("market", store_url, peer, logged,
          "market: GET /api/v2/bj answered HTTP 200 code 9001 (证件号码******************与手机 ************* 不匹配，"
          "错误码 4002); the contract makes this fatal")
    assert_nowhere_in_clear(store_url, ["139-1234-5678"], [logged.text])


def test_a_busy_answer_is_logged_with_its_numbers_masked_and_retried(store_url, spec_with, logged):
    spec_with(backoff_seconds=0.01)
    busy = answer({"code": "5001", "msg": f"系统繁忙 {PHONE}"})
    peer = market_peer(lambda n: busy if len(peer.calls) == 2 else market_page([market_case("SB1")]))
    with peer:
        run("market", store_url, peer)
    assert "code 5001 系统繁忙 ***********" in logged.text
    assert ledger(store_url)["cases"]["inserted"] == 1
    assert_nowhere_in_clear(store_url, NUMBERS, [logged.text])


# --- items that are not records -------------------------------------------------------------------

def test_market_items_that_are_numbers_null_or_booleans_are_quarantined_one_by_one(store_url, spec_with, logged):
    peer = market_peer(lambda n: market_page([int(PERSON_ID), market_case("SB1"), None, True, False],
                                             total=5) if n == 1 else EMPTY_MARKET_PAGE)
    with peer:
        result = run("market", store_url, peer)
    cases = ledger(store_url)["cases"]
    assert (cases["extracted"], cases["inserted"], cases["quarantined"]) == (5, 1, 4)
    assert rejects(store_url) == [("cases", "not_an_object", None)] * 4
    assert [r["case_no"] for r in rows(store_url, "SELECT case_no FROM service_case")] == ["SB1"]
    details = [r["detail"] for r in rows(store_url, "SELECT detail FROM etl_reject ORDER BY location")]
    assert details[0] == "market cases page 1 record 1 (no key): is not a JSON object"
    assert result.streams["cases"].reasons == {"not_an_object": 4}
    assert_nowhere_in_clear(store_url, NUMBERS, [logged.text])


@pytest.mark.parametrize("items", [[13912345678, None, True], None, {"SBLSH": "SB1", "SQRZJHM": PERSON_ID}],
                         ids=["every-item", "null-list", "object-list"])
def test_market_a_page_without_a_single_record_is_quarantined_not_fatal(items, store_url, spec_with, logged):
    peer = market_peer(lambda n: market_page(items, total=3) if n == 1 else EMPTY_MARKET_PAGE)
    with peer:
        run("market", store_url, peer)
    cases = ledger(store_url)["cases"]
    expected = ("not_an_object", 3) if isinstance(items, list) else ("not_a_list", 1)
    assert rejects(store_url) == [("cases", expected[0], None)] * expected[1]
    assert (cases["extracted"], cases["quarantined"], cases["inserted"]) == (expected[1], expected[1], 0)
    assert rows(store_url, "SELECT COUNT(*) AS n FROM service_case") == [{"n": 0}]
    assert_nowhere_in_clear(store_url, NUMBERS, [logged.text])


def test_tax_a_page_of_items_that_are_not_objects_is_quarantined(store_url, spec_with, logged):
    peer = tax_peer(lambda n, cursor: tax_page([int(PERSON_ID), None, False]) if n == 1 else tax_page(None))
    with peer:
        run("tax", store_url, peer)
    runs = ledger(store_url)
    assert (runs["cases"]["extracted"], runs["cases"]["quarantined"]) == (3, 3)
    assert runs["evaluations"]["extracted"] == 0
    assert rejects(store_url) == [("cases", "not_an_object", None)] * 3
    assert_nowhere_in_clear(store_url, NUMBERS, [logged.text])


def test_tax_a_list_of_items_that_is_null_or_an_object_is_quarantined(store_url, spec_with, logged):
    peer = tax_peer(lambda n, cursor: tax_page(tax_case("TX1"), "c1") if n == 1 else tax_page(None))
    with peer:
        run("tax", store_url, peer)
    runs = ledger(store_url)
    assert (runs["cases"]["extracted"], runs["cases"]["quarantined"]) == (2, 2)
    assert rejects(store_url) == [("cases", "not_a_list", None)] * 2
    assert_nowhere_in_clear(store_url, NUMBERS, [logged.text])


def test_tax_evaluations_that_are_not_objects_are_quarantined_and_their_case_loads(store_url, spec_with, logged):
    case = tax_case("TX1")
    case["evaluations"] += [int(PHONE), None, True]
    peer = tax_peer(lambda n, cursor: tax_page([case]))
    with peer:
        run("tax", store_url, peer)
    runs = ledger(store_url)
    assert (runs["cases"]["extracted"], runs["cases"]["inserted"]) == (1, 1)
    assert (runs["evaluations"]["extracted"], runs["evaluations"]["inserted"], runs["evaluations"]["quarantined"]) \
        == (4, 1, 3)
    assert rejects(store_url) == [("evaluations", "not_an_object", None)] * 3
    evaluation = rows(store_url, "SELECT eval_no, comment FROM service_evaluation")
    assert evaluation == [{"eval_no": "TX1#1", "comment": "请回电139****5678"}]
    assert_nowhere_in_clear(store_url, NUMBERS, [logged.text])


ABSENT = object()


@pytest.mark.parametrize("evaluations", [{"assessNumber": 1, "satisfaction": 5}, 7, f"[{PHONE}]", True, None, ABSENT],
                         ids=["object", "number", "string", "boolean", "null", "absent"])
def test_tax_evaluations_of_the_wrong_json_type_quarantine_their_case(evaluations, store_url, spec_with, logged):
    """Evaluations come as a complete list; what cannot be read as one must not delete the stored ones."""
    broken = tax_case("TX1", evaluations=evaluations)
    if evaluations is ABSENT:
        del broken["evaluations"]
    peer = tax_peer(lambda n, cursor: tax_page([broken, tax_case("TX2")]))
    with peer:
        run("tax", store_url, peer)
    runs = ledger(store_url)
    assert (runs["cases"]["extracted"], runs["cases"]["inserted"], runs["cases"]["quarantined"]) == (2, 1, 1)
    assert rejects(store_url) == [("cases", "not_a_list", "TX1")]
    (detail,) = [r["detail"] for r in rows(store_url, "SELECT detail FROM etl_reject")]
    kind = {dict: "a JSON object", int: "a JSON number", str: "a JSON string", bool: "a JSON boolean"}.get(
        type(evaluations), "absent or JSON null")
    assert detail == f"tax cases page 1 record 1 (TX1): evaluations is {kind}, not a JSON list"
    assert [r["eval_no"] for r in rows(store_url, "SELECT eval_no FROM service_evaluation")] == ["TX2#1"]
    assert_nowhere_in_clear(store_url, NUMBERS, [logged.text])


@pytest.mark.parametrize("applicant", [int(PERSON_ID), [PERSON_ID_X], f"王小二 {PERSON_ID_X}", False],
                         ids=["number", "list", "string", "boolean"])
def test_tax_an_applicant_of_the_wrong_json_type_quarantines_the_case_not_its_evaluations(
        applicant, store_url, spec_with, logged):
    peer = tax_peer(lambda n, cursor: tax_page([tax_case("TX1", applicant=applicant)]))
    with peer:
        run("tax", store_url, peer)
    runs = ledger(store_url)
    assert (runs["cases"]["extracted"], runs["cases"]["quarantined"], runs["cases"]["inserted"]) == (1, 1, 0)
    assert rejects(store_url) == [("cases", "not_an_object", "TX1")]
    (detail,) = [r["detail"] for r in rows(store_url, "SELECT detail FROM etl_reject")]
    assert detail.startswith("tax cases page 1 record 1 (TX1): applicant is a JSON ") and \
        detail.endswith(", not a JSON object")
    # An evaluation is loaded on its own merits, whatever became of its case.
    assert (runs["evaluations"]["extracted"], runs["evaluations"]["inserted"]) == (1, 1)
    assert_nowhere_in_clear(store_url, NUMBERS, [logged.text])


def test_tax_an_applicant_of_null_means_none_and_the_case_loads(store_url, spec_with, logged):
    peer = tax_peer(lambda n, cursor: tax_page([tax_case("TX1", applicant=None)]))
    with peer:
        run("tax", store_url, peer)
    assert ledger(store_url)["cases"]["inserted"] == 1
    (case,) = rows(store_url, "SELECT applicant_key, applicant_name_masked FROM service_case")
    assert case == {"applicant_key": None, "applicant_name_masked": None}
    assert rejects(store_url) == []


@pytest.mark.parametrize("evaluations", [{"broken": True}, None], ids=["object", "null"])
def test_tax_a_quarantined_case_leaves_its_stored_evaluations_alone(evaluations, store_url, spec_with, logged):
    """A case whose list cannot be read says nothing about which evaluations it lost."""
    first = tax_case("TX1")
    peer = tax_peer(lambda n, cursor: tax_page([first]))
    with peer:
        run("tax", store_url, peer)
    later = tax_case("TX1", updatedAt=first["updatedAt"] + 60_000, evaluations=evaluations)
    peer = tax_peer(lambda n, cursor: tax_page([later]))
    with peer:
        settings = Settings.resolve(store_url=store_url, connections={
            "silobridge_tax": {"uri": f"http://app:secret@{peer.url.removeprefix('http://')}"}})
        run_source("tax", settings, window=(WINDOW[1].astimezone(timezone.utc),
                                            (WINDOW[1] + timedelta(days=1)).astimezone(timezone.utc)))
    assert rows(store_url, "SELECT eval_no, deleted FROM service_evaluation") == [{"eval_no": "TX1#1",
                                                                                   "deleted": False}]
    assert rejects(store_url) == [("cases", "not_a_list", "TX1")]
    ledger_balances(store_url)


# --- the settings themselves ----------------------------------------------------------------------

LIMITS = ("connect_timeout_seconds", "request_deadline_seconds", "run_deadline_seconds", "max_page_bytes",
          "max_pages", "max_failures")


def market_settings(**overrides) -> dict:
    spec = load_spec("market")
    return {"source": "market", "base_url": "http://127.0.0.1:9", **spec.extract, **spec.streams["cases"].extract,
            **overrides}


def test_the_limits_have_safe_defaults_that_the_specs_spell_out():
    defaults = HttpApiConfig.from_dict({k: v for k, v in market_settings().items() if k not in LIMITS})
    assert [getattr(defaults, name) for name in LIMITS] == [10, 60, 3600, 16 * 1024 * 1024, 10_000, 5]
    for source in ("market", "tax"):
        assert {name: load_spec(source).extract[name] for name in LIMITS} == \
            {name: getattr(defaults, name) for name in LIMITS}


@pytest.mark.parametrize("setting, message", [
    ({"request_deadline_seconds": 0}, "request_deadline_seconds 0 is not a positive number of seconds"),
    ({"run_deadline_seconds": float("inf")}, "run_deadline_seconds inf is not a positive number of seconds"),
    ({"connect_timeout_seconds": -1}, "connect_timeout_seconds -1 is not a positive number of seconds"),
    ({"max_page_bytes": 100}, "max_page_bytes 100 is below 1024 (the default is 16777216)"),
    ({"max_pages": 0}, "max_pages 0 is below 1"),
    ({"run_deadline_seconds": "1h"}, "run_deadline_seconds must be a float, not '1h'"),
    ({"max_page_bytes": 1.5e6}, "max_page_bytes must be a int, not 1500000.0"),
])
def test_a_limit_that_cannot_work_is_refused_in_one_sentence(setting, message):
    with pytest.raises(ConfigError, match="^market http_api config") as refused:
        HttpApiConfig.from_dict(market_settings(**setting))
    assert message in str(refused.value)
