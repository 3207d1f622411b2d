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

`month_cases(month, seed)` makes a month of realistic case items from the shared
population: mostly companies (letter-prefixed USCCs among them), 个体工商户 under
their owner's ID number, fees in fen, null times, nested evaluations with
default ones (pf 7) and follow-ups (assessNumber 2).
"""

import base64
import hashlib
import hmac
import random
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from itertools import accumulate
from urllib.parse import quote

from simulators.hrss import is_workday
from simulators.market_api import (
    BAD_SHARE,
    BEIJING,
    Exchange,
    Reply,
    Request,
    SimServer,
    application_days,
    broken_id,
    daily_count,
    day_rng,
    default_evaluation_moment,
    fixed_uscc,
    month_bounds,
    next_office_moment,
    office_moment,
    online_moment,
    pick_unit_of,
    transient_reply,
)
from simulators.population import REGION, Population, build_population

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


# --- a month of cases -------------------------------------------------------------
#
# Generated like the market's month (see simulators.market_api): per application
# day from its own random stream, each case once, in its state at the month's
# end with the evaluations made by then; `updatedAt` is its last change, an
# evaluation included.

TAX_USCC = fixed_uscc("11", "00302917")  # 国家税务总局淮北市相山区税务局


@dataclass(frozen=True)
class _Item:
    name: str
    task_type: int  # 1 即办件, 2 承诺件
    days: int
    fee_fen: int  # per page copied; 0 for a free item
    applicant: str  # company, taxpayer (any unit), person, any
    weight: int
    code: str = ""


_ITEMS_SPEC = (
    _Item("发票领用", 1, 0, 0, "taxpayer", 220),
    _Item("增值税专用发票（增值税税控系统）最高开票限额审批", 2, 10, 0, "company", 25),
    _Item("代开增值税发票", 1, 0, 0, "any", 140),
    _Item("一照一码户信息变更", 1, 0, 0, "taxpayer", 60),
    _Item("增值税一般纳税人登记", 1, 0, 0, "company", 30),
    _Item("清税注销", 2, 20, 0, "taxpayer", 35),
    _Item("出口退（免）税备案", 1, 0, 0, "company", 8),
    _Item("退抵税费", 2, 10, 0, "any", 30),
    _Item("个人所得税纳税记录开具", 1, 0, 0, "person", 70),
    _Item("税收完税证明开具", 1, 0, 0, "any", 40),
    _Item("契税申报", 1, 0, 0, "person", 45),
    _Item("纳税信用复评", 2, 15, 0, "company", 6),
    _Item("涉税资料复制", 1, 0, 50, "any", 12),  # 50 fen a page
)


def _with_codes(items: tuple[_Item, ...]) -> tuple[_Item, ...]:
    return tuple(_Item(**{**item.__dict__, "code": f"{TAX_USCC}4{'07' if item.task_type == 2 else '20'}"
                                                   f"{n + 520:05d}{1 + n % 3:03d}00"})
                 for n, item in enumerate(items))


TAX_ITEMS = _with_codes(_ITEMS_SPEC)
_ITEM_CUM = tuple(accumulate(i.weight for i in TAX_ITEMS))
_CHANNELS = ((1, 2, 3, 5), (30, 45, 20, 5))
_CLOSED_CHANNELS = ((2, 3), (60, 40))
_PF = {1: (4, 4, 3, 6), 2: (1,), 3: (2, 2, 3), 5: (5, 5, 6)}
_USER_PROP = {"enterprise": 2, "individual": 5}  # every other kind of unit is 9 其他
_PRAISE = ("办税很顺利", "网上就办好了，很方便", "窗口服务热情，讲解清楚", "非常满意", "", "")
_COMPLAINTS = ("排队太久", "发票领用审核太慢", "电话咨询一直占线，请回电{phone}", "材料要求不清楚，跑了两趟")


def _ms(t: datetime | None) -> int | None:
    return None if t is None else int(t.replace(tzinfo=BEIJING).timestamp()) * 1000


def _applicant(rng: random.Random, item: _Item, pop: Population) -> dict:
    kind = item.applicant
    if kind == "any":
        kind = "taxpayer" if rng.random() < 0.7 else "person"
    if kind == "person":
        person = pop.pick_person(rng)
        return {"userName": person.name, "userProp": 1, "certType": person.cert_type, "userCert": person.cert_no,
                "phoneNumber": person.mobile}
    unit = pick_unit_of(rng, pop, ("enterprise", "other") if kind == "company" else
                        ("enterprise", "individual", "institution", "social", "organ", "other"))
    if unit.kind == "individual":  # a 个体工商户 is known to the tax office by its owner's ID number
        owner = pop.persons[unit.owner]
        return {"userName": unit.name, "userProp": 5, "certType": owner.cert_type, "userCert": owner.cert_no,
                "phoneNumber": unit.phone}
    return {"userName": unit.name, "userProp": _USER_PROP.get(unit.kind, 9), "certType": "001",
            "userCert": unit.uscc, "phoneNumber": unit.phone}


def _lifecycle(rng: random.Random, item: _Item, channel: int, applied: datetime) -> list[tuple[datetime, int]]:
    """(time, proStatus) of every state the case goes through; the first 2 is its acceptance."""
    events, t = [(applied, 1)], applied
    if channel in (1, 5):
        t += timedelta(minutes=rng.randint(1, 8), seconds=rng.randrange(60))
    elif item.task_type == 1 and rng.random() < 0.6:  # checked automatically
        t += timedelta(minutes=rng.randint(1, 30), seconds=rng.randrange(60))
    else:
        t = next_office_moment(rng, t, rng.choice((0, 0, 1, 1, 2)))
        r = rng.random()
        if r < 0.03:
            return events + [(t, 4)]
        if r < 0.05:
            return events + [(t, 5)]
    events.append((t, 2))
    if item.task_type == 1:
        return events + [(t + timedelta(minutes=rng.randint(2, 40), seconds=rng.randrange(60)), 3)]
    if rng.random() < 0.04:
        return events + [(next_office_moment(rng, t, rng.randint(1, 5)), 5)]
    delay = rng.randint(0, item.days) if rng.random() < 0.95 else item.days + rng.randint(1, 3)
    return events + [(next_office_moment(rng, t, delay), 3)]


def _evaluations(rng: random.Random, channel: int, finished: datetime, status: int, phone: str) -> list[dict]:
    """The case's evaluations (with `assessTime` as a datetime still); none for 1 in 100 finished cases."""
    if status not in (3, 4) or rng.random() < 0.01:
        return []
    if rng.random() < 0.22:
        when = default_evaluation_moment(rng, finished)
        return [{"assessNumber": 1, "satisfaction": 5, "pf": 7, "evalDetail": None, "writingEvaluation": None,
                 "assessTime": when}]
    pf = rng.choice(_PF[channel])
    when = finished + timedelta(minutes=rng.uniform(0.3, 10) if pf in (4, 5) else rng.uniform(5, 2880))
    weights = (1.5, 2.5, 4, 14, 78) if status == 3 else (25, 30, 25, 12, 8)
    score = rng.choices((1, 2, 3, 4, 5), weights=weights)[0]
    detail = rng.sample(("501", "503", "505", "507") if score >= 3 else ("101", "103", "104"), rng.randint(1, 2))
    evaluations = [{"assessNumber": 1, "satisfaction": score, "pf": pf, "evalDetail": ",".join(sorted(detail)),
                    "writingEvaluation": rng.choice(_PRAISE if score >= 3 else _COMPLAINTS).format(phone=phone),
                    "assessTime": when.replace(microsecond=0)}]
    if score <= 2 and rng.random() < 0.4:  # rectified after a call-back, then rated again (追评)
        again = when + timedelta(days=rng.randint(1, 4), minutes=rng.randint(1, 600))
        evaluations.append({"assessNumber": 2, "satisfaction": rng.choice((4, 5)), "pf": rng.choice((2, 6)),
                            "evalDetail": "502", "writingEvaluation": "回访后问题已解决",
                            "assessTime": again.replace(microsecond=0)})
    return evaluations


@dataclass
class _TaxCase:
    base: dict
    events: list[tuple[datetime, int]]
    evaluations: list[dict]
    hide_accept: bool  # a completed case whose acceptDate the system never filled
    bad: dict  # fields that spoil the item, when it changes on a working day (see market_api.BAD_SHARE)


def _tax_case(rng: random.Random, day: date, seq: int, pop: Population) -> _TaxCase:
    item = rng.choices(TAX_ITEMS, cum_weights=_ITEM_CUM)[0]
    channel = rng.choices(*(_CHANNELS if is_workday(day) else _CLOSED_CHANNELS))[0]
    applied = office_moment(rng, day) if channel in (1, 5) and is_workday(day) else online_moment(rng, day)
    applicant = _applicant(rng, item, pop)
    fee = item.fee_fen * rng.randint(1, 30) if item.fee_fen else rng.choice((0, 0, 0, None))
    base = {"projectNo": f"SW{REGION}{day:%Y%m%d}{seq:05d}", "taskCode": item.code, "taskName": item.name,
            "taskType": item.task_type, "applicant": applicant, "channel": channel, "applyDate": _ms(applied),
            "promiseDays": item.days if item.task_type == 2 else rng.choice((0, None)), "deptCode": TAX_USCC,
            "areaCode": REGION, "feeFen": fee}
    events = _lifecycle(rng, item, channel, applied)
    evaluations = _evaluations(rng, channel, *events[-1], applicant["phoneNumber"])
    bad = {}
    if rng.random() < BAD_SHARE:
        if applicant["certType"] == "111" and rng.random() < 0.5:
            bad = {"applicant": {**applicant, "userCert": broken_id(applicant["userCert"])}}
        elif rng.random() < 0.5 or not evaluations:
            bad = dict([rng.choice((("channel", 4), ("taskType", 3), ("applicant", {**applicant, "userProp": 3})))])
        else:
            bad = {"evaluations": [{**evaluations[0], "satisfaction": rng.choice((0, 6))}, *evaluations[1:]]}
    return _TaxCase(base, events, evaluations, rng.random() < 0.01, bad)


def _tax_item(case: _TaxCase, end: datetime, lag: random.Random) -> dict | None:
    """The case as the API serves it once `end` has passed; None when nothing of it happened before."""
    upto = max((i for i, (t, _) in enumerate(case.events) if t < end), default=None)
    if upto is None:
        return None
    t, status = case.events[upto]
    accepted = next((e for e, s in case.events[:upto + 1] if s == 2), None)
    changed = max([t, *(e["assessTime"] for e in case.evaluations if e["assessTime"] < end)])
    bad = case.bad if is_workday(changed.date()) else {}
    evaluations = bad.get("evaluations", case.evaluations)
    return {
        **case.base, **bad, "proStatus": status,
        "acceptDate": None if case.hide_accept and status == 3 else _ms(accepted),
        "resultDate": _ms(t) if status in (3, 4, 5) else None,
        "updatedAt": _ms(changed) + lag.randrange(1000, 30000),
        "evaluations": [{**e, "assessTime": _ms(e["assessTime"])} for e in evaluations if e["assessTime"] < end],
    }


def month_cases(month: str = "2026-10", seed: int = 7, cases_per_month: int = 2000) -> list[dict]:
    """The case items as the API holds them at the end of `month`: each case changed in the month once, in its
    latest state, evaluations nested. Derived from the seed and the calendar only."""
    start, end = month_bounds(month)
    lo, hi = _ms(start), _ms(end)
    pop = build_population(seed)
    cases = []
    for day in application_days(month):
        rng = day_rng("tax", seed, day)
        for seq in range(1, daily_count(rng, day, cases_per_month) + 1):
            case_rng = random.Random(rng.getrandbits(64))
            case = _tax_case(case_rng, day, seq, pop)
            item = _tax_item(case, end, case_rng)
            if item is not None and lo <= item["updatedAt"] < hi:
                cases.append(item)
    cases.sort(key=lambda c: (c["updatedAt"], c["projectNo"]))
    return cases
