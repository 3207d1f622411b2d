"""Stand-in for the 税务 (tax) signed REST API of contracts/tax.md, served over real HTTP on 127.0.0.1.

`TaxApi(cases)` holds the case items (dicts with the contract's camelCase
fields, `updatedAt` in epoch ms, evaluations nested) and answers
`GET /open/v1/cases` as the contract says: every request's signature is
checked (app id, timestamp within 300 s of the gateway clock, HMAC-SHA256 over
the canonical request, nonces remembered for 300 s), paging by opaque cursor
(keyset on `updatedAt`, `projectNo`; the cursor holds its window and expires
`cursor_ttl_ms` after it was issued), every page must repeat `since`, `until`
and `limit`. `with api.serve() as server:` runs it at `server.url`; `api.log`
lists every exchange.

Faults, switched on through `api.faults` (all off by default):

=========================  =====================================================
fail_next                  answers for the next calls, one per call:
                           429/502/503/504 (429 and 503 with `Retry-After:
                           retry_after`), `"drop"`, `"slow"` (no answer before
                           `slow_seconds`), or an errorCode: `NONCE_REUSED`,
                           `SIGN_INVALID`, `TIMESTAMP_EXPIRED` (HTTP 401),
                           `CURSOR_EXPIRED` (HTTP 410), anything else as HTTP
                           200 with `success: false`
clock_skew_ms              the gateway clock runs this far ahead
empty_pages                the next n pages come back `items: []` with
                           `hasMore: true` and a cursor at the same position
expire_cursor_after_pages  once n pages have been served, the next cursor
                           presented has expired (once)
=========================  =====================================================

Set `cursor_ttl_ms` to expire cursors by age (0: every cursor is expired).
"""

import base64
import hashlib
import hmac
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import quote

from simulators.market_api import Exchange, Reply, Request, SimServer, transient_reply

_MEMORY_MS = 300_000  # the gateway's nonce memory and allowed clock difference
_401 = {"NONCE_REUSED": "nonce已使用", "SIGN_INVALID": "签名无效", "TIMESTAMP_EXPIRED": "时间戳超出允许范围"}


@dataclass
class TaxFaults:
    fail_next: list = field(default_factory=list)
    retry_after: int = 1
    slow_seconds: float = 2.0
    clock_skew_ms: int = 0
    empty_pages: int = 0
    expire_cursor_after_pages: int | None = None


@dataclass
class _Cursor:
    window: tuple[str, str, str]  # since, until, limit as first sent
    after: tuple[int, str] | None  # (updatedAt, projectNo) of the last item served
    issued_ms: int


class TaxApi:
    def __init__(self, cases=(), *, app_id: str = "silobridge", app_secret: str = "tax-secret",
                 cursor_ttl_ms: int = 600_000):
        self.app_id, self.app_secret, self.cursor_ttl_ms = app_id, app_secret, cursor_ttl_ms
        self.cases = [dict(c) for c in cases]
        self.faults = TaxFaults()
        self.log: list[Exchange] = []
        self.lock = threading.Lock()
        self.nonces: dict[str, int] = {}
        self.cursors: dict[str, _Cursor] = {}
        self.pages_served = 0

    def serve(self) -> SimServer:
        return SimServer(self)

    def now_ms(self) -> int:
        return int(time.time() * 1000) + self.faults.clock_skew_ms

    def handle(self, req: Request) -> Reply:
        with self.lock:
            if self.faults.fail_next:
                item = self.faults.fail_next.pop(0)
                return transient_reply(item, self.faults.retry_after, self.faults.slow_seconds) or _error(item)
            if problem := self._check_signature(req):
                return _error(problem)
            if req.method == "GET" and req.path == "/open/v1/cases":
                return self._page(req.query)
            return _error("NOT_FOUND", "接口不存在", status=404)

    def _check_signature(self, req: Request) -> str | None:
        h = req.headers
        app_id, timestamp, nonce, signature = (h.get(n) for n in ("x-app-id", "x-timestamp", "x-nonce", "x-signature"))
        if (app_id != self.app_id or not (timestamp and nonce and signature)
                or not re.fullmatch(r"[0-9a-fA-F]{16}", nonce)):
            return "SIGN_INVALID"
        now = self.now_ms()
        if not timestamp.isdigit() or abs(now - int(timestamp)) > _MEMORY_MS:
            return "TIMESTAMP_EXPIRED"
        # The query signed is rebuilt from the parameters as received, not taken from the raw query string.
        query = "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(req.query.items()))
        message = "\n".join((req.method, req.path, query, timestamp, nonce))
        expected = hmac.new(self.app_secret.encode(), message.encode("utf-8"), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature):
            return "SIGN_INVALID"
        self.nonces = {n: t for n, t in self.nonces.items() if now - t <= _MEMORY_MS}
        if nonce in self.nonces:
            return "NONCE_REUSED"
        self.nonces[nonce] = now
        return None

    def _page(self, q: dict[str, str]) -> Reply:
        window = (q.get("since", ""), q.get("until", ""), q.get("limit", "100"))
        if not all(v.isdigit() for v in window):
            return _error("PARAM_INVALID", "since/until/limit必须为整数")
        since, until, limit = map(int, window)
        if not 1 <= limit <= 500:
            return _error("PARAM_INVALID", "limit取值范围1-500")
        after = None
        if "cursor" in q:
            state = self.cursors.get(q["cursor"])
            if state is None:
                return _error("CURSOR_INVALID", "游标无效")
            if state.window != window:
                return _error("PARAM_MISMATCH", "分页参数与游标不一致")
            due = self.faults.expire_cursor_after_pages
            if self.now_ms() - state.issued_ms >= self.cursor_ttl_ms or (due is not None and self.pages_served >= due):
                self.faults.expire_cursor_after_pages = None
                return _error("CURSOR_EXPIRED", "游标已过期", status=410)
            after = state.after
        self.pages_served += 1
        rest = sorted((c for c in self.cases if since <= c["updatedAt"] < until
                       and (after is None or (c["updatedAt"], c["projectNo"]) > after)),
                      key=lambda c: (c["updatedAt"], c["projectNo"]))
        if self.faults.empty_pages:
            self.faults.empty_pages -= 1
            items, more, last = [], True, after
        else:
            items, more = rest[:limit], len(rest) > limit
            last = (items[-1]["updatedAt"], items[-1]["projectNo"]) if items else after
        cursor = None
        if more:
            # Standard base64 with '+', '/' and '=' in it, so that clients must percent-encode it.
            cursor = base64.b64encode(b"\xfb\xef\xbe\xff\xff\xff" + secrets.token_bytes(4)).decode()
            self.cursors[cursor] = _Cursor(window, last, self.now_ms())
        return Reply(200, {"success": True, "errorCode": None, "errorMsg": None,
                           "result": {"items": items, "nextCursor": cursor, "hasMore": more}})


def _error(code: str, msg: str | None = None, *, status: int | None = None) -> Reply:
    status = status or (401 if code in _401 else 410 if code == "CURSOR_EXPIRED" else 200)
    return Reply(status, {"success": False, "errorCode": code, "errorMsg": msg or _401.get(code, "模拟的业务错误")})
