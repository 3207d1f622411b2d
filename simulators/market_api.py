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

`month_records(month, seed)` makes a month of realistic records from the shared
population (see its section below); `SimServer`, `Request`, `Reply` and
`Exchange` are the HTTP plumbing, and the calendar helpers of that section the
month logic, that the other REST simulators share.
"""

import json
import random
import secrets
import string
import threading
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import accumulate
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from simulators.hrss import add_workdays, is_workday
from simulators.population import REGION, Population, Unit, build_population, org_code_check_char, uscc_check_char

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


# --- a month of records ---------------------------------------------------------
#
# Shared with the tax simulator: the calendar and the hall's hours. Cases are
# generated per application day, each day from its own random stream, so any
# month shows the same cases; the API serves each case once, in its state at
# the month's end, so a month holds the cases whose last change by then falls
# inside it (cases applied in the weeks before it included).

LOOKBACK_DAYS = 62  # a case applied this long before a month can still change (or be rated) inside it
# Records the pipeline must quarantine (unknown codes, an invalid ID number). Only in records that change on a
# working day: a quiet holiday run of twenty records would otherwise cross a 5 % error limit with one of them.
BAD_SHARE = 0.005


def month_bounds(month: str) -> tuple[datetime, datetime]:
    start = datetime.strptime(month, "%Y-%m")
    return start, (start + timedelta(days=32)).replace(day=1)


def application_days(month: str) -> list[date]:
    start, end = month_bounds(month)
    first = (start - timedelta(days=LOOKBACK_DAYS)).date()
    return [first + timedelta(days=n) for n in range((end.date() - first).days)]


def day_rng(system: str, seed: int, day: date) -> random.Random:
    return random.Random(f"{system}:{seed}:{day.isoformat()}")


def daily_count(rng: random.Random, day: date, cases_per_month: int) -> int:
    base = cases_per_month / 21.75 * (1.0 if is_workday(day) else 0.12)  # closed days: online only
    return int(base * rng.uniform(0.85, 1.15) + rng.random())


def office_moment(rng: random.Random, day: date) -> datetime:
    """Hall hours 08:30–12:00 and 14:30–17:30 on the day, or the next working day."""
    day = add_workdays(day, 0)
    second = 30600 + rng.randrange(12600) if rng.random() < 0.55 else 52200 + rng.randrange(10800)
    return datetime(day.year, day.month, day.day) + timedelta(seconds=second)


def online_moment(rng: random.Random, day: date) -> datetime:
    hour = rng.choices(range(24), cum_weights=_ONLINE_CUM)[0]
    return datetime(day.year, day.month, day.day) + timedelta(seconds=hour * 3600 + rng.randrange(3600))


def next_office_moment(rng: random.Random, after: datetime, workdays: int) -> datetime:
    t = office_moment(rng, add_workdays(after.date(), workdays))
    return t if t > after else after + timedelta(minutes=rng.randint(3, 90), seconds=rng.randrange(60))


def default_evaluation_moment(rng: random.Random, finished: datetime) -> datetime:
    """No opinion within five days: the 好差评 system gives its default one in a night batch."""
    day = finished.date() + timedelta(days=5)
    return datetime(day.year, day.month, day.day, 1) + timedelta(seconds=rng.randrange(7200))


def fixed_uscc(prefix: str, body: str) -> str:
    """A department's own USCC, independent of the seed so that item codes never change."""
    first17 = prefix + REGION + body + org_code_check_char(body)
    return first17 + uscc_check_char(first17)


def broken_id(number: str) -> str:
    """The same ID number with a wrong check character."""
    right = number[17]
    return number[:17] + next(c for c in "10X98765432" if c != right)


def pick_unit_of(rng: random.Random, pop: Population, kinds: tuple[str, ...]) -> Unit:
    while (unit := pop.pick_unit(rng)).kind not in kinds:
        pass
    return unit


_ONLINE_CUM = tuple(accumulate((1, 1, 0.5, 0.5, 0.5, 1, 2, 4, 8, 10, 10, 9, 6, 5, 8, 9, 9, 8, 6, 6, 7, 7, 5, 3)))
_COMPANIES = ("enterprise", "other")
_FULL_WIDTH = {ord(c): ord(c) + 0xFEE0 for c in string.ascii_letters + string.digits}
_SQRLX = {"enterprise": "QY", "individual": "GT", "institution": "SY", "social": "SH", "organ": "JG", "other": "QT"}
MARKET_USCC = fixed_uscc("11", "00381562")  # 淮北市相山区市场监督管理局


@dataclass(frozen=True)
class _Item:
    name: str
    bjlx: str  # JB 即办, CN 承诺
    days: int
    fee: str  # yuan
    applicant: str  # company, individual (a 个体工商户), owner (a person founding one), unit, person
    weight: int
    code: str = ""


_ITEMS_SPEC = (
    _Item("企业设立登记", "CN", 3, "0.00", "company", 90),
    _Item("企业变更登记", "CN", 3, "0.00", "company", 140),
    _Item("企业注销登记", "CN", 3, "0.00", "company", 40),
    _Item("企业简易注销登记", "CN", 3, "0.00", "company", 25),
    _Item("个体工商户设立登记", "JB", 0, "0.00", "owner", 110),
    _Item("个体工商户变更登记", "JB", 0, "0.00", "individual", 60),
    _Item("个体工商户注销登记", "JB", 0, "0.00", "individual", 35),
    _Item("营业执照遗失补领", "JB", 0, "0.00", "company", 20),
    _Item("市场主体歇业备案", "JB", 0, "0.00", "company", 8),
    _Item("食品经营许可", "CN", 10, "0.00", "company", 60),
    _Item("食品经营许可（小餐饮）", "CN", 10, "0.00", "individual", 45),
    _Item("食品生产许可（SC）", "CN", 15, "0.00", "company", 8),
    _Item("药品零售企业许可", "CN", 15, "0.00", "company", 10),
    _Item("第2类医疗器械经营备案", "JB", 0, "0.00", "company", 12),
    _Item("特种设备使用登记", "CN", 5, "0.00", "unit", 25),
    _Item("计量器具强制检定", "CN", 10, "35.00", "unit", 20),
    _Item("股权出质登记", "JB", 0, "0.00", "company", 10),
    _Item("动产抵押登记", "JB", 0, "0.00", "company", 12),
    _Item("广告发布登记", "CN", 10, "0.00", "company", 5),
    _Item("经营异常名录移出申请", "CN", 5, "0.00", "company", 15),
    _Item("企业信用信息查询打印", "JB", 0, "0.00", "person", 30),
)


def _with_codes(items: tuple[_Item, ...]) -> tuple[_Item, ...]:
    out = []
    for n, item in enumerate(items):
        code = f"{MARKET_USCC}4{'01' if item.bjlx == 'CN' else '20'}{n + 410:05d}{1 + n % 3:03d}00"
        # Some items are published down to their 业务办理项: 33 characters.
        out.append(_Item(**{**item.__dict__, "code": code + ("01" if n % 6 == 2 else "")}))
    return tuple(out)


MARKET_ITEMS = _with_codes(_ITEMS_SPEC)
_ITEM_CUM = tuple(accumulate(i.weight for i in MARKET_ITEMS))
_SBFS = (("01", "02", "03", "04", "05"), (45, 33, 17, 4, 1))
_CLOSED_SBFS = (("02", "03"), (60, 40))
_PJDJ = ("非常不满意", "不满意", "基本满意", "满意", "非常满意")
_PJQD = {"01": ("评价器", "二维码", "短信"), "02": ("PC端",), "03": ("移动端",), "04": ("自助终端", "二维码"),
         "05": ("电话", "短信")}
_PRAISE = ("办事效率高，态度好", "网上申报很方便，一次都没跑", "窗口人员很耐心", "非常满意", "流程清楚，材料一次说清",
           "营业执照当天就拿到了", "")
_COMPLAINTS = ("材料退回了两次，要求前后不一致", "系统总是卡顿", "等了很久才受理", "电话打不通，请回电{phone}",
               "审核太慢，请尽快处理")
_STREETS = tuple(f"340603{n:03d}000" for n in range(1, 10))


def _applicant(rng: random.Random, item: _Item, pop: Population) -> tuple[str, str, str, str, str]:
    """SQRLX, SQRMC, SQRZJLX, SQRZJHM, LXRSJ."""
    if item.applicant in ("person", "owner"):
        if item.applicant == "owner":
            person = pop.persons[pick_unit_of(rng, pop, ("individual",)).owner]
        else:
            person = pop.pick_person(rng)
        return "GR", person.name, "SFZ" if person.cert_type == "111" else "HZ", person.cert_no, person.mobile
    kinds = {"company": _COMPANIES, "individual": ("individual",)}.get(item.applicant, tuple(_SQRLX))
    unit = pick_unit_of(rng, pop, kinds)
    return _SQRLX[unit.kind], unit.name, "TYDM", unit.uscc, unit.phone


def _lifecycle(rng: random.Random, item: _Item, channel: str, applied: datetime) -> list[tuple[datetime, str]]:
    """(time, BLZT) of every state the case goes through."""
    events, t = [(applied, "0")], applied
    if channel in ("01", "04"):  # at the counter or a kiosk: accepted on the spot
        t += timedelta(minutes=rng.randint(1, 10), seconds=rng.randrange(60))
    else:
        t = next_office_moment(rng, t, rng.choice((0, 0, 1, 1, 2)))
        r = rng.random()
        if r < 0.04:
            return events + [(t, "4")]
        if r < 0.06:
            return events + [(t, "8")]
        if r < 0.065:  # submitted twice: the copy is voided
            return events + [(t, "9")]
    events.append((t, "1"))
    if item.bjlx == "JB":
        return events + [(t + timedelta(minutes=rng.randint(3, 45), seconds=rng.randrange(60)), "3")]
    t = next_office_moment(rng, t, rng.choice((0, 0, 1)))
    events.append((t, "2"))
    if rng.random() < 0.08:
        t = next_office_moment(rng, t, rng.randint(0, 2))
        events.append((t, "5"))
        if rng.random() < 0.2:  # the missing papers never came
            return events + [(next_office_moment(rng, t, rng.randint(5, 10)), "8")]
        t = next_office_moment(rng, t, rng.randint(1, 5))
        events.append((t, "2"))
    if rng.random() < 0.015:  # 特别程序: 听证, 现场核查
        t = next_office_moment(rng, t, 1)
        events.append((t, "6"))
        t = next_office_moment(rng, t, rng.randint(3, 10))
        events.append((t, "2"))
    delay = rng.randint(0, item.days) if rng.random() < 0.95 else item.days + rng.randint(1, 3)
    return events + [(next_office_moment(rng, t, delay), "3")]


def _blank(rng: random.Random):
    """How the API spells "nothing": mostly "", sometimes null, now and then the string "null"."""
    r = rng.random()
    return "" if r < 0.9 else None if r < 0.98 else "null"


def _fmt(t: datetime) -> str:
    return t.isoformat(" ", "seconds")  # _TIME_FORMAT, several times faster than strftime


@dataclass
class _MarketCase:
    no: str
    base: dict  # the fields that do not change over the case's life
    events: list[tuple[datetime, str, datetime]]  # (time, BLZT, GXSJ)
    blanks: tuple  # this case's spelling of a time not reached, and of an empty promise
    bad: dict  # fields that spoil the record, when it changes on a working day
    evaluation: dict | None = None
    evaluation_bad: dict = field(default_factory=dict)


def _market_case(rng: random.Random, day: date, seq: int, pop: Population) -> _MarketCase:
    item = rng.choices(MARKET_ITEMS, cum_weights=_ITEM_CUM)[0]
    channel = rng.choices(*(_SBFS if is_workday(day) else _CLOSED_SBFS))[0]
    applied = office_moment(rng, day) if channel in ("01", "04") and is_workday(day) else online_moment(rng, day)
    sqrlx, name, cert_type, cert, phone = _applicant(rng, item, pop)
    no = f"SC{REGION}{day:%Y%m%d}{seq:05d}"
    sxmc = item.name
    r = rng.random()
    if r < 0.02:
        sxmc = rng.choice(("\u3000", " ", "")) + sxmc + rng.choice(("\u3000", "\u3000\u3000", " "))
    elif r < 0.04:
        sxmc = sxmc.translate(_FULL_WIDTH)
    base = {
        "SBLSH": no, "SXBM": item.code, "SXMC": sxmc, "SQRLX": sqrlx, "SQRMC": name, "SQRZJLX": cert_type,
        "SQRZJHM": cert, "LXRSJ": phone if rng.random() < 0.98 else _blank(rng), "SBFS": channel,
        "SBSJ": _fmt(applied), "BJLX": item.bjlx, "CNSX": str(item.days) if item.bjlx == "CN" else "",
        "SLBMBM": MARKET_USCC, "XZQHDM": rng.choice(_STREETS) if rng.random() < 0.3 else f"{REGION}000000",
        "SFJE": item.fee if item.fee != "0.00" else rng.choice(("", "0.00", "0")),
    }
    if rng.random() < 0.005:
        base["XZQHDM"] = "null"
    events = [(t, s, t + timedelta(seconds=rng.randrange(1, 30))) for t, s in _lifecycle(rng, item, channel, applied)]
    bad = {}
    if rng.random() < BAD_SHARE:
        if sqrlx == "GR" and cert_type == "SFZ" and rng.random() < 0.5:
            bad = {"SQRZJHM": broken_id(cert)}
        else:  # 7: a state the contract does not list
            bad = dict([rng.choice((("BLZT", "7"), ("BLZT", "7"), ("SBFS", "06"), ("SQRLX", "GTH"), ("BJLX", "TB")))])
    case = _MarketCase(no, base, events, (_blank(rng), _blank(rng)), bad)
    case.evaluation = _market_evaluation(rng, case, sqrlx, cert_type, cert, phone)
    if rng.random() < BAD_SHARE:
        case.evaluation_bad = {"PJDJ": rng.choice(("一般", "很好"))}
    return case


def _market_evaluation(rng: random.Random, case: _MarketCase, sqrlx: str, cert_type: str, cert: str,
                       phone: str) -> dict | None:
    finished, status, _ = case.events[-1]
    if status not in ("3", "4") or rng.random() < 0.01:
        return None
    if rng.random() < 0.8:
        channel = rng.choice(_PJQD[case.base["SBFS"]] if case.base["SBFS"] in _PJQD else ("PC端",))
        when = finished + timedelta(minutes=rng.uniform(0.3, 10) if channel in ("评价器", "自助终端")
                                    else rng.uniform(5, 2880))
        weights = (1.5, 2.5, 4, 12, 80) if status == "3" else (25, 30, 25, 12, 8)
        score = rng.choices(range(5), weights=weights)[0]
        text = rng.choice(_PRAISE if score >= 3 else _COMPLAINTS).format(phone=phone)
        options = rng.sample(("510", "511", "512", "513", "517") if score >= 3 else ("101", "102", "105", "108"),
                             rng.randint(0, 2))
        fields = {"PJDJ": _PJDJ[score], "PJQD": channel, "SFMRPJ": "否", "PJXX": ",".join(sorted(options)),
                  "PJNR": text}
    else:
        when = default_evaluation_moment(rng, finished)
        fields = {"PJDJ": "非常满意", "PJQD": "", "SFMRPJ": "是", "PJXX": "", "PJNR": ""}
    evaluator = cert if sqrlx == "GR" and cert_type == "SFZ" and rng.random() < 0.7 else ""
    when = when.replace(microsecond=0)
    return {"PJBH": f"PJ{case.no[2:]}", "SBLSH": case.no, **fields, "PJRZJHM": evaluator, "PJSJ": _fmt(when),
            "GXSJ": _fmt(when + timedelta(seconds=rng.randrange(1, 30)))}


def _market_record(case: _MarketCase, upto: int) -> dict:
    """The case as the API shows it after its `upto`-th change."""
    t, status, stamp = case.events[upto]
    accepted = next((e for e, s, _ in case.events[:upto + 1] if s == "1"), None)
    not_yet, no_promise = case.blanks
    return {
        **case.base, "SLSJ": _fmt(accepted) if accepted else not_yet,
        "BJSJ": _fmt(t) if status in ("3", "4", "8", "9") else not_yet, "BLZT": status,
        "CNSX": case.base["CNSX"] or no_promise, "GXSJ": _fmt(stamp),
        **(case.bad if is_workday(stamp.date()) else {}),
    }


def month_records(month: str = "2026-10", seed: int = 7, cases_per_month: int = 3000) -> tuple[list[dict], list[dict]]:
    """(cases, evaluations) as the API holds them at the end of `month`: each case once, in its latest state,
    `GXSJ` its last change; each evaluation made in the month. Derived from the seed and the calendar only."""
    start, end = month_bounds(month)
    lo, hi = _fmt(start), _fmt(end)
    pop = build_population(seed)
    cases, evaluations = [], []
    for day in application_days(month):
        rng = day_rng("market", seed, day)
        for seq in range(1, daily_count(rng, day, cases_per_month) + 1):
            case = _market_case(random.Random(rng.getrandbits(64)), day, seq, pop)
            upto = max((i for i, (_, _, stamp) in enumerate(case.events) if stamp < end), default=None)
            if upto is not None and case.events[upto][2] >= start:
                cases.append(_market_record(case, upto))
            if case.evaluation and lo <= case.evaluation["GXSJ"] < hi:
                on_workday = is_workday(date.fromisoformat(case.evaluation["GXSJ"][:10]))
                evaluations.append({**case.evaluation, **(case.evaluation_bad if on_workday else {})})
    cases.sort(key=lambda r: (r["GXSJ"], r["SBLSH"]))
    evaluations.sort(key=lambda r: (r["GXSJ"], r["PJBH"]))
    return cases, evaluations
