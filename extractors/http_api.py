"""REST sources: token or signed auth, page-number or cursor paging, retries — one class configured by data.

`HttpApiExtractor.read_window(start, end)` reads one update-time window of one
endpoint and yields one Arrow record batch per page: the raw fields exactly as
sent (every scalar as text, JSON numbers as their decimal text, nested objects
and arrays as JSON text, null as null, the source's own field names), plus
provenance `_page`, `_pass`, `_record_no` and, as in every extractor, `_defect`
and `_raw` for an item that is not a JSON object. It never renames, maps or drops.

Reading a window again. Market's `total` shrinking between pages of a pass
(records slid onto pages already read) and tax's CURSOR_EXPIRED both make the
extractor read the whole window again as a new pass. Records read again are
yielded again, with a higher `_pass`: the loader's merge counts the repeats of
one key as duplicates, so `extracted = … + duplicates` balances without the
extractor dropping anything. `stats` (complete once the batches are exhausted)
gives the numbers to reconcile: `read` (rows yielded, repeats included),
`distinct_keys`, `passes`, `declared_total` (the steady `total` of the last
pass, page-number paging only) and `last_pass_read`.

Windows must end at least `settle_seconds` (300) before now, since a change
becomes visible in these APIs only within 5 minutes: a window ending later is
refused, never clipped, so the caller's watermark always matches what was read.
"""

import hashlib
import hmac
import itertools
import json
import logging
import secrets
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import MISSING, dataclass, fields, is_dataclass
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote, urlsplit

import pyarrow as pa
import requests

log = logging.getLogger("silobridge")

MAX_PAGE_SIZE = 500  # both REST contracts cap a page at 500 (market answers 4001 above it)
RETRY_STATUSES = frozenset({429, 502, 503, 504})
BEIJING = timezone(timedelta(hours=8))
_TRANSPORT_ERRORS = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)


class ConfigError(ValueError):
    """The configuration, the credentials or the requested window cannot work."""


class ExtractError(RuntimeError):
    """The source answered with something fatal; the message is one sentence naming source and endpoint."""


@dataclass(frozen=True)
class AuthConfig:
    kind: str  # "bearer_client_credentials" or "hmac_signed"
    token_path: str = ""  # bearer: the token endpoint
    renew_codes: tuple[str, ...] = ()  # codes meaning "renew the credentials and repeat the call once"


@dataclass(frozen=True)
class EnvelopeConfig:
    ok_path: str  # dotted path to the field that says success, e.g. "code" or "success"
    ok_value: Any  # its value on success, e.g. "0000" or true
    code_path: str
    msg_path: str
    busy_codes: tuple[str, ...] = ()  # business codes retried like a 5xx


@dataclass(frozen=True)
class PagingConfig:
    kind: str  # "page_number" or "cursor"
    size_param: str
    list_path: str
    page_size: int = MAX_PAGE_SIZE
    page_param: str = ""  # page_number
    total_path: str = ""  # page_number
    cursor_param: str = ""  # cursor
    cursor_path: str = ""  # cursor
    has_more_path: str = ""  # cursor
    restart_codes: tuple[str, ...] = ()  # cursor: codes meaning "the cursor expired, read the window again"


@dataclass(frozen=True)
class WindowConfig:
    start_param: str
    end_param: str
    format: str  # "beijing_datetime" (yyyy-MM-dd HH:mm:ss, +08:00) or "epoch_ms"
    settle_seconds: int = 300


@dataclass(frozen=True)
class HttpApiConfig:
    source: str
    base_url: str
    endpoint: str
    key_field: str  # the natural key, counted for de-duplication accounting only
    auth: AuthConfig
    envelope: EnvelopeConfig
    paging: PagingConfig
    window: WindowConfig
    fields: tuple[str, ...] = ()  # columns every batch has, in this order, even when a page lacks them
    timeout_seconds: float = 30.0
    max_failures: int = 5  # failures in a row one request survives; one more is fatal
    backoff_seconds: float = 1.0
    max_backoff_seconds: float = 60.0
    max_passes: int = 10

    @classmethod
    def from_dict(cls, data: Mapping) -> "HttpApiConfig":
        source = data.get("source", "?") if isinstance(data, Mapping) else "?"
        return _build(cls, data, f"{source} http_api config")

    def __post_init__(self):
        a, p, w = self.auth, self.paging, self.window
        problems = []
        if a.kind not in ("bearer_client_credentials", "hmac_signed"):
            problems.append(f"auth.kind {a.kind!r} is neither bearer_client_credentials nor hmac_signed")
        if a.kind == "bearer_client_credentials" and not a.token_path:
            problems.append("auth.token_path is required for bearer_client_credentials")
        if p.kind == "page_number" and not (p.page_param and p.total_path):
            problems.append("paging.page_param and paging.total_path are required for page_number paging")
        elif p.kind == "cursor" and not (p.cursor_param and p.cursor_path and p.has_more_path):
            problems.append("paging.cursor_param, cursor_path and has_more_path are required for cursor paging")
        elif p.kind not in ("page_number", "cursor"):
            problems.append(f"paging.kind {p.kind!r} is neither page_number nor cursor")
        if not 1 <= p.page_size <= MAX_PAGE_SIZE:
            problems.append(f"paging.page_size {p.page_size} is outside 1..{MAX_PAGE_SIZE}")
        if w.format not in ("beijing_datetime", "epoch_ms"):
            problems.append(f"window.format {w.format!r} is neither beijing_datetime nor epoch_ms")
        if problems:
            raise ConfigError(f"{self.source} http_api config is invalid: {'; '.join(problems)}")


def _build(cls, data: Any, where: str):
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where} must be a table, not {type(data).__name__}")
    known = {f.name: f for f in fields(cls)}
    if unknown := sorted(set(data) - set(known)):
        raise ConfigError(f"{where} has unknown key(s) {', '.join(unknown)} (known: {', '.join(known)})")
    values = {}
    for name, f in known.items():
        if name not in data:
            if f.default is MISSING:
                raise ConfigError(f"{where} lacks the required key {name}")
            continue
        value = data[name]
        if is_dataclass(f.type):
            value = _build(f.type, value, f"{where}.{name}")
        elif f.type in (str, int, float) and (isinstance(value, bool) or not isinstance(
                value, (int, float) if f.type is float else f.type)):
            raise ConfigError(f"{where}.{name} must be a {f.type.__name__}, not {value!r}")
        values[name] = tuple(value) if isinstance(value, list) else value
    return cls(**values)


@dataclass
class WindowStats:
    """What one read_window saw, for reconciliation; complete once its batches are exhausted."""

    read: int = 0  # rows yielded, records read again included
    distinct_keys: int = 0  # distinct non-null key_field values among them
    passes: int = 0
    declared_total: int | None = None  # page_number: the total every page of the last pass agreed on
    last_pass_read: int = 0  # rows of the last pass; equals declared_total when the source is consistent


# --- signing (tax) --------------------------------------------------------------------------------

def _rfc3986(text: str) -> str:
    return quote(text, safe="-_.~", encoding="utf-8")


def canonical_query(params: Mapping[str, str]) -> str:
    """Parameters sorted by name, name and value percent-encoded (RFC 3986, upper-case %XX), joined by &."""
    return "&".join(f"{_rfc3986(k)}={_rfc3986(v)}" for k, v in sorted(params.items()))


def hmac_signature(secret: str, method: str, path: str, params: Mapping[str, str], timestamp_ms: int,
                   nonce: str) -> str:
    message = f"{method}\n{path}\n{canonical_query(params)}\n{timestamp_ms}\n{nonce}"
    return hmac.new(secret.encode(), message.encode("utf-8"), hashlib.sha256).hexdigest()


# --- auth -----------------------------------------------------------------------------------------

class _HmacAuth:
    def __init__(self, api: "HttpApiExtractor", credentials: Mapping[str, str]):
        self.api, self.app_id, self.secret = api, credentials["app_id"], credentials["app_secret"]

    def headers(self, method: str, path: str, params: Mapping[str, str]) -> dict[str, str]:
        timestamp = int(self.api.clock() * 1000)
        nonce = secrets.token_hex(8)  # 64 random bits: a repeat within the gateway's 300 s memory is negligible
        return {"X-App-Id": self.app_id, "X-Timestamp": str(timestamp), "X-Nonce": nonce,
                "X-Signature": hmac_signature(self.secret, method, path, params, timestamp, nonce)}

    def renew(self) -> None:
        """Nothing to renew: every call is signed afresh, with a new nonce."""


class _BearerAuth:
    """Token expiry is learned from the renew code: the contract says a token can expire before expires_in."""

    def __init__(self, api: "HttpApiExtractor", credentials: Mapping[str, str]):
        self.api, self.credentials, self.token = api, credentials, None

    def headers(self, method: str, path: str, params: Mapping[str, str]) -> dict[str, str]:
        if self.token is None:
            self.renew()
        return {"Authorization": f"Bearer {self.token}"}

    def renew(self) -> None:
        cfg = self.api.config
        form = {"grant_type": "client_credentials", "client_id": self.credentials["client_id"],
                "client_secret": self.credentials["client_secret"]}
        what = f"POST {cfg.auth.token_path}"
        resp, body = self.api._exchange("POST", cfg.auth.token_path, what, data=form)
        token = body.get("access_token") if isinstance(body, dict) else None
        if resp.status_code == 200 and token:
            self.token = str(token)
            return
        error = body.get("error") if isinstance(body, dict) else None
        if resp.status_code == 401 or error == "invalid_client":
            raise ExtractError(f"{cfg.source}: the token endpoint {cfg.auth.token_path} refused the client credentials "
                               f"(HTTP {resp.status_code} {error}); check the client id and secret of this source")
        raise ExtractError(f"{cfg.source}: the token endpoint {cfg.auth.token_path} answered HTTP {resp.status_code} "
                           f"without an access_token ({error or _snippet(resp)})")


_AUTH = {"bearer_client_credentials": (_BearerAuth, ("client_id", "client_secret")),
         "hmac_signed": (_HmacAuth, ("app_id", "app_secret"))}


# --- the extractor --------------------------------------------------------------------------------

class _Restart(Exception):
    """The source says the cursor expired: the window is read again from its start."""


class _Failures:
    """Counts one request's failures in a row, sleeps between them, and gives up after max_failures."""

    def __init__(self, api: "HttpApiExtractor", what: str):
        self.api, self.what, self.count = api, what, 0

    def record(self, reason: str, retry_after: float | None = None) -> None:
        cfg = self.api.config
        self.count += 1
        if self.count > cfg.max_failures:
            raise ExtractError(f"{cfg.source}: {self.what} failed {self.count} times in a row (last: {reason}); "
                               "the source is unreachable or overloaded, run again later")
        backoff = cfg.backoff_seconds * 2 ** (self.count - 1)
        delay = min(retry_after if retry_after is not None else backoff, cfg.max_backoff_seconds)
        log.warning("%s: %s failed (%s), attempt %d; retrying in %.1f s", cfg.source, self.what, reason,
                    self.count, delay)
        self.api.sleep(delay)


class HttpApiExtractor:
    def __init__(self, config: HttpApiConfig, credentials: Mapping[str, str], *,
                 session: requests.Session | None = None, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.time):
        auth_class, needed = _AUTH[config.auth.kind]
        if missing := [n for n in needed if not credentials.get(n)]:
            raise ConfigError(f"{config.source}: the credentials lack {', '.join(missing)}; "
                              f"{config.auth.kind} needs {', '.join(needed)} from the source's connection")
        self.config, self.sleep, self.clock = config, sleep, clock
        self.session = session or requests.Session()
        self.auth = auth_class(self, credentials)
        self.stats = WindowStats()
        self._keys: set[str] = set()  # the window's keys: the one thing that grows with the window, not the page

    def read_window(self, start: datetime, end: datetime) -> Iterator[pa.RecordBatch]:
        """The window [start, end) of update times; refused unless it ended settle_seconds before now."""
        cfg = self.config
        if start.tzinfo is None or end.tzinfo is None:
            raise ConfigError(f"{cfg.source}: window bounds must be timezone-aware, got {start!r} and {end!r}")
        if not start < end:
            raise ConfigError(f"{cfg.source}: the window start {start.isoformat()} is not before its end "
                              f"{end.isoformat()}")
        now = datetime.fromtimestamp(self.clock(), timezone.utc)
        settled = now - timedelta(seconds=cfg.window.settle_seconds)
        if end > settled:
            raise ConfigError(
                f"{cfg.source}: the window ending {end.isoformat()} ends less than {cfg.window.settle_seconds} s "
                f"before now ({now.isoformat()}), so changes in it may not be visible yet; "
                f"read only windows ending at or before {settled.isoformat()}")
        window = {cfg.window.start_param: self._time_param(start), cfg.window.end_param: self._time_param(end)}
        self.stats, self._keys = WindowStats(), set()
        pages = self._by_page_number if cfg.paging.kind == "page_number" else self._by_cursor
        return pages(window)

    def _time_param(self, moment: datetime) -> str:
        if self.config.window.format == "epoch_ms":
            return str((moment - datetime(1970, 1, 1, tzinfo=timezone.utc)) // timedelta(milliseconds=1))
        return moment.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")

    def _by_page_number(self, window: dict[str, str]) -> Iterator[pa.RecordBatch]:
        p = self.config.paging
        while True:
            self._begin_pass()
            first_total = None
            for page_no in itertools.count(1):
                body = self._get({**window, p.page_param: str(page_no), p.size_param: str(p.page_size)})
                total = self._int(body, p.total_path)
                items = self._items(body)
                yield from self._batches(items, page_no)
                first_total = total if first_total is None else first_total
                if total != first_total:
                    break  # records slid onto pages already read: only a pass with a steady total is complete
                if items and (page_no - 1) * p.page_size >= total:
                    raise ExtractError(f"{self.config.source}: GET {self.config.endpoint} page {page_no} still holds "
                                       f"records beyond the total {total}; the API seems to ignore {p.page_param}")
                if len(items) < p.page_size:
                    self.stats.declared_total = total
                    return

    def _by_cursor(self, window: dict[str, str]) -> Iterator[pa.RecordBatch]:
        p = self.config.paging
        while True:
            self._begin_pass()
            params = {**window, p.size_param: str(p.page_size)}
            try:
                for page_no in itertools.count(1):
                    body = self._get(params)
                    yield from self._batches(self._items(body), page_no)
                    has_more = _dig(body, p.has_more_path)
                    if has_more is False:
                        return
                    cursor = _dig(body, p.cursor_path)
                    if has_more is not True or cursor is None:
                        raise ExtractError(f"{self.config.source}: GET {self.config.endpoint} answered "
                                           f"{p.has_more_path}={has_more!r} with {p.cursor_path}={cursor!r}; "
                                           "the contract wants true with a cursor or false")
                    params = {**window, p.size_param: str(p.page_size), p.cursor_param: str(cursor)}
            except _Restart:
                continue

    def _begin_pass(self) -> None:
        cfg = self.config
        if self.stats.passes == cfg.max_passes:
            raise ExtractError(
                f"{cfg.source}: GET {cfg.endpoint} could not finish one steady pass over the window in "
                f"{cfg.max_passes} passes (records kept changing or cursors kept expiring); read smaller windows")
        self.stats.passes += 1
        self.stats.last_pass_read = 0

    # -- one call ----------------------------------------------------------------------------------

    def _get(self, params: dict[str, str]) -> dict:
        """One page, after retries; returns the envelope on success, raises ExtractError or _Restart."""
        cfg, env = self.config, self.config.envelope
        what = f"GET {cfg.endpoint}"
        failures = _Failures(self, what)
        renewed = False  # a call is repeated once with renewed credentials, never twice
        while True:
            resp, body = self._exchange("GET", cfg.endpoint, what, params=params, failures=failures)
            code = _text(_dig(body, env.code_path))
            if 200 <= resp.status_code < 300 and _dig(body, env.ok_path) == env.ok_value:
                return body
            if code in env.busy_codes:
                failures.record(f"code {code} {_text(_dig(body, env.msg_path))}")
            elif code in cfg.auth.renew_codes and not renewed:
                log.info("%s: %s answered %s; renewing credentials and repeating the call", cfg.source, what, code)
                self.auth.renew()
                renewed = True
            elif code in cfg.paging.restart_codes:
                log.warning("%s: %s answered %s; reading the window again from its start", cfg.source, what, code)
                raise _Restart()
            else:
                again = " again after renewing" if renewed and code in cfg.auth.renew_codes else ""
                msg = _text(_dig(body, env.msg_path))
                detail = f"code {code} ({msg})" if isinstance(body, dict) else _snippet(resp)
                raise ExtractError(f"{cfg.source}: {what} answered HTTP {resp.status_code} {detail}{again}; "
                                   "the contract makes this fatal")

    def _exchange(self, method: str, path: str, what: str, *, params: dict[str, str] | None = None,
                 data: dict[str, str] | None = None, failures: _Failures | None = None):
        """One HTTP exchange, retried over transport errors and 429/502/503/504; (response, JSON body or None)."""
        failures = failures or _Failures(self, what)
        url = self.config.base_url.rstrip("/") + path
        target = f"{url}?{canonical_query(params)}" if params else url  # the query sent is the query signed
        while True:
            headers = {} if params is None else self.auth.headers(method, urlsplit(url).path, params)
            try:
                resp = self.session.request(method, target, headers=headers, data=data,
                                            timeout=self.config.timeout_seconds)
            except _TRANSPORT_ERRORS as exc:
                failures.record(type(exc).__name__)
                continue
            if resp.status_code in RETRY_STATUSES:
                failures.record(f"HTTP {resp.status_code}", _retry_after(resp))
                continue
            try:
                body = json.loads(resp.content.decode("utf-8"), parse_int=_Number, parse_float=_Number)
            except ValueError:
                body = None
            return resp, body

    # -- batches -----------------------------------------------------------------------------------

    def _items(self, body: dict) -> list:
        items = _dig(body, self.config.paging.list_path)
        if not isinstance(items, list):
            raise ExtractError(f"{self.config.source}: GET {self.config.endpoint} answered without a list at "
                               f"{self.config.paging.list_path}")
        return items

    def _int(self, body: dict, path: str) -> int:
        value = _dig(body, path)
        if not isinstance(value, str) or not value.isdigit():
            raise ExtractError(f"{self.config.source}: GET {self.config.endpoint} answered {path}={value!r}, "
                               "not a count")
        return int(value)

    def _batches(self, items: list, page_no: int) -> Iterator[pa.RecordBatch]:
        if not items:
            return
        objects = [i for i in items if isinstance(i, dict)]
        names = list(dict.fromkeys(itertools.chain(self.config.fields, *objects)))
        columns: dict[str, list] = {n: [] for n in names}
        page, passes, record_no, defect, raw = [], [], [], [], []
        for item in items:
            good = isinstance(item, dict)
            for name, values in columns.items():
                values.append(_text(item.get(name)) if good else None)
            self.stats.read += 1
            self.stats.last_pass_read += 1
            page.append(page_no)
            passes.append(self.stats.passes)
            record_no.append(self.stats.read)
            defect.append(None if good else "not_an_object")
            raw.append(None if good else _json_text(item))
            key = _text(item.get(self.config.key_field)) if good else None
            if key is not None:
                self._keys.add(key)
        self.stats.distinct_keys = len(self._keys)
        arrays = [pa.array(v, pa.string()) for v in columns.values()]
        arrays += [pa.array(page, pa.int32()), pa.array(passes, pa.int32()), pa.array(record_no, pa.int64()),
                   pa.array(defect, pa.string()), pa.array(raw, pa.string())]
        yield pa.RecordBatch.from_arrays(arrays, names=[*names, "_page", "_pass", "_record_no", "_defect", "_raw"])


# --- raw values -----------------------------------------------------------------------------------

class _Number(str):
    """A JSON number kept as the text the source sent: no float rounding, "35.00" stays "35.00"."""


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, (dict, list)):
        return _json_text(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _json_text(value: Any) -> str:
    """JSON text of a nested value with its numbers exactly as sent."""
    if isinstance(value, _Number):
        return str(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k, ensure_ascii=False)}:{_json_text(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_json_text(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def _dig(body: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(body, dict):
            return None
        body = body.get(part)
    return body


def _retry_after(resp: requests.Response) -> float | None:
    try:
        return max(0.0, float(resp.headers["Retry-After"]))
    except (KeyError, ValueError):
        return None  # absent or an HTTP date: fall back to exponential backoff


def _snippet(resp: requests.Response) -> str:
    return f"with a body that is not the JSON envelope: {resp.text[:80]!r}"
