"""Stand-in for the 市场监管 (market) REST API of contracts/market.md, served over real HTTP on 127.0.0.1.

`MarketApi(cases, evaluations)` holds the records (dicts with the contract's
fields, `GXSJ` as `yyyy-MM-dd HH:mm:ss` Beijing time) and answers
`POST /oauth/token`, `GET /api/v2/bj` and `GET /api/v2/pj` as the contract
says: real client-credential checks, tokens that stay valid until revoked,
paging by `pageNo`/`pageSize` with `total` counted at each request, records
ordered by `GXSJ` then key, code `4001` above 500 per page. `with api.serve()
as server:` runs it at `server.url`; `api.log` lists every exchange.

Faults, switched on through `api.faults` (all off by default):

====================  ==========================================================
fail_next             answers for the next API calls (not the token endpoint),
                      one per call: 429/502/503/504 (429 and 503 with
                      `Retry-After: retry_after`), `"drop"` (connection closed
                      without an answer), `"slow"` (no answer before
                      `slow_seconds`), `"4011"` (the presented token is revoked:
                      HTTP 401, token失效), or any other business code in an
                      HTTP 200 envelope (`"5001"` 系统繁忙 is the busy one)
update_before_page    {n: [keys]}: just before the n-th page is served, those
                      records are updated (their `GXSJ` set to now), so they
                      leave the window and later records shift one page back
====================  ==========================================================

`SimServer`, `Request`, `Reply` and `Exchange` are the HTTP plumbing the other
REST simulators share.
"""

import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

BEIJING = timezone(timedelta(hours=8))
_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


@dataclass
class Request:
    method: str
    path: str
    raw_query: str  # as sent, to check the client's percent-encoding
    query: dict[str, str]
    headers: dict[str, str]  # names lower-cased
    form: dict[str, str]


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drop: bool = False  # close the connection without answering


@dataclass
class Exchange:
    request: Request
    reply: Reply


class SimServer:
    """Serves `app.handle(Request) -> Reply` on 127.0.0.1 at a free port, one thread per connection.

    `app` also has `log` (a list, every exchange is appended) and `lock` (guarding it).
    """

    def __init__(self, app):
        handler = type("Handler", (_Handler,), {"app": app})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._httpd.block_on_close = False  # a "slow" answer still sleeping must not hold up the test
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        # A short poll so that leaving the `with` block (shutdown) takes milliseconds, not half a second.
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)

    def __enter__(self) -> "SimServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


class _Handler(BaseHTTPRequestHandler):
    app = None

    def do_GET(self):
        self._serve()

    def do_POST(self):
        self._serve()

    def _serve(self):
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        form = self.rfile.read(length).decode("utf-8") if length else ""
        request = Request(self.command, split.path, split.query, dict(parse_qsl(split.query, keep_blank_values=True)),
                          {k.lower(): v for k, v in self.headers.items()}, dict(parse_qsl(form)))
        reply = self.app.handle(request)
        with self.app.lock:
            self.app.log.append(Exchange(request, reply))
        if reply.drop:
            self.close_connection = True
            return
        time.sleep(reply.delay)
        data = json.dumps(reply.body, ensure_ascii=False).encode("utf-8")
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client stopped waiting (a timeout fault)

    def log_message(self, *args):
        pass


def transient_reply(item, retry_after: int, slow_seconds: float) -> Reply | None:
    """The gateway-level faults both REST simulators share; None for a business-level item."""
    if item in (429, 503):
        return Reply(item, {"message": "Too Many Requests" if item == 429 else "Service Unavailable"},
                     {"Retry-After": str(retry_after)})
    if item in (502, 504):
        return Reply(item, {"message": "Bad Gateway" if item == 502 else "Gateway Timeout"})
    if item == "drop":
        return Reply(0, drop=True)
    if item == "slow":
        return Reply(504, {"message": "too late"}, delay=slow_seconds)
    return None


@dataclass
class MarketFaults:
    fail_next: list = field(default_factory=list)
    retry_after: int = 1
    slow_seconds: float = 2.0
    update_before_page: dict[int, list[str]] = field(default_factory=dict)


_MESSAGES = {"5001": "系统繁忙", "4011": "token失效"}


class MarketApi:
    def __init__(self, cases=(), evaluations=(), *, client_id: str = "silobridge",
                 client_secret: str = "market-secret"):
        self.client_id, self.client_secret = client_id, client_secret
        self.datasets = {"/api/v2/bj": ("SBLSH", [dict(r) for r in cases]),
                         "/api/v2/pj": ("PJBH", [dict(r) for r in evaluations])}
        self.faults = MarketFaults()
        self.log: list[Exchange] = []
        self.lock = threading.Lock()
        self.tokens: set[str] = set()
        self.pages_served = 0

    def serve(self) -> SimServer:
        return SimServer(self)

    def handle(self, req: Request) -> Reply:
        with self.lock:
            if req.method == "POST" and req.path == "/oauth/token":
                return self._token(req)
            if req.method == "GET" and req.path in self.datasets:
                return self._page(req)
            return Reply(404, {"code": "4040", "msg": "接口不存在"})

    def _token(self, req: Request) -> Reply:
        f = req.form
        if f.get("grant_type") != "client_credentials":
            return Reply(400, {"error": "unsupported_grant_type"})
        if (f.get("client_id"), f.get("client_secret")) != (self.client_id, self.client_secret):
            return Reply(401, {"error": "invalid_client"})
        token = secrets.token_urlsafe(16)
        self.tokens.add(token)
        return Reply(200, {"access_token": token, "token_type": "bearer", "expires_in": 7200})

    def _page(self, req: Request) -> Reply:
        auth = req.headers.get("authorization", "")
        token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None
        if token not in self.tokens:
            return _envelope("4011", status=401)
        if self.faults.fail_next:
            item = self.faults.fail_next.pop(0)
            if (reply := transient_reply(item, self.faults.retry_after, self.faults.slow_seconds)) is not None:
                return reply
            if item == "4011":
                self.tokens.discard(token)
                return _envelope(item, status=401)
            return _envelope(item)
        q = req.query
        try:
            start, end = (datetime.strptime(q[k], _TIME_FORMAT).strftime(_TIME_FORMAT)
                          for k in ("gxsj_start", "gxsj_end"))
            page_no, page_size = int(q.get("pageNo", "1")), int(q.get("pageSize", "100"))
        except (KeyError, ValueError):
            return _envelope("4002", msg="参数格式错误")
        if page_size > 500:
            return _envelope("4001", msg="pageSize超过上限500")
        if page_no < 1 or page_size < 1:
            return _envelope("4002", msg="参数格式错误")
        self.pages_served += 1
        key, records = self.datasets[req.path]
        for moved in self.faults.update_before_page.pop(self.pages_served, []):
            for record in records:
                if record[key] == moved:
                    record["GXSJ"] = datetime.now(BEIJING).strftime(_TIME_FORMAT)
        in_window = sorted((r for r in records if start <= r["GXSJ"] < end), key=lambda r: (r["GXSJ"], r[key]))
        page = in_window[(page_no - 1) * page_size:page_no * page_size]
        return Reply(200, {"code": "0000", "msg": "成功", "data": {
            "total": len(in_window), "pageNo": page_no, "pageSize": page_size, "list": page}})


def _envelope(code: str, *, status: int = 200, msg: str | None = None) -> Reply:
    return Reply(status, {"code": code, "msg": msg or _MESSAGES.get(code, "模拟的业务错误")})
