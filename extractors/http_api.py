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

A hostile or broken server never hangs a read. Each exchange has a deadline
(`request_deadline_seconds`, connecting at most `connect_timeout_seconds` of
it): the body is streamed and a server that drips bytes is cut off there, at
the latest one pending read later; that counts as a retriable failure like a
timeout. Reading the whole window has a deadline too (`run_deadline_seconds`,
retries and passes included): past it the read fails. A body larger than
`max_page_bytes` is never held: the read fails. So does a pass of more than
`max_pages` pages, a cursor given a second time within a pass, a page with
exactly the records of the page before it, and (page numbers) a page with
records beyond what the declared `total` allows. An item of the page list that
is not a JSON object is passed on as a `not_an_object` defect, and a page list
that is not a JSON list as one `not_a_list` defect, for the transforms to
quarantine. Error messages never quote the body: a non-JSON body is described
by its size and type, and a business `msg` is quoted with its numbers masked.
"""

import hashlib
import hmac
import itertools
import json
import logging
import math
import re
import secrets
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import MISSING, dataclass, fields, is_dataclass
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote, urlsplit

import pyarrow as pa
import requests
import urllib3

log = logging.getLogger("silobridge")

MAX_PAGE_SIZE = 500  # both REST contracts cap a page at 500 (market answers 4001 above it)
RETRY_STATUSES = frozenset({429, 502, 503, 504})
BEIJING = timezone(timedelta(hours=8))
# urllib3's own errors arrive while the body is streamed from `raw`, outside requests' wrapping.
_TRANSPORT_ERRORS = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError,
                     urllib3.exceptions.HTTPError)
_READ_CHUNK = 64 * 1024


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
    # Nested fields passed on as JSON text whatever their JSON type (a string arrives quoted), so that the
    # transforms can tell an object or a list from a string that merely holds JSON.
    json_fields: tuple[str, ...] = ()
    connect_timeout_seconds: float = 10.0
    request_deadline_seconds: float = 60.0  # one exchange, headers and body, however slowly the server sends
    run_deadline_seconds: float = 3600.0  # reading one window, retries, waits and passes included
    max_page_bytes: int = 16 * 1024 * 1024  # one response body, decompressed
    max_pages: int = 10_000  # pages in one pass over a window
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
        for name in ("connect_timeout_seconds", "request_deadline_seconds", "run_deadline_seconds",
                     "backoff_seconds", "max_backoff_seconds"):
            if not 0 < getattr(self, name) < math.inf:
                problems.append(f"{name} {getattr(self, name)} is not a positive number of seconds")
        if self.max_page_bytes < 1024:
            problems.append(f"max_page_bytes {self.max_page_bytes} is below 1024 (the default is {16 * 1024 * 1024})")
        for name in ("max_pages", "max_passes"):
            if getattr(self, name) < 1:
                problems.append(f"{name} {getattr(self, name)} is below 1")
        if self.max_failures < 0:
            problems.append(f"max_failures {self.max_failures} is negative")
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
        answer = self.api._exchange("POST", cfg.auth.token_path, what, data=form)
        body = answer.body
        token = body.get("access_token") if isinstance(body, dict) else None
        if answer.status == 200 and isinstance(token, str) and token:
            self.token = token
            return
        error = _redacted(body.get("error")) if isinstance(body, dict) else None
        if answer.status == 401 or error == "invalid_client":
            raise ExtractError(f"{cfg.source}: the token endpoint {cfg.auth.token_path} refused the client credentials "
                               f"(HTTP {answer.status} {error}); check the client id and secret of this source")
        raise ExtractError(f"{cfg.source}: the token endpoint {cfg.auth.token_path} answered HTTP {answer.status} "
                           f"without an access_token ({error or answer.describe()})")


_AUTH = {"bearer_client_credentials": (_BearerAuth, ("client_id", "client_secret")),
         "hmac_signed": (_HmacAuth, ("app_id", "app_secret"))}


# --- the extractor --------------------------------------------------------------------------------

class _Restart(Exception):
    """The source says the cursor expired: the window is read again from its start."""


class _Overdue(Exception):
    """An exchange ran past its deadline while its body was still arriving."""


@dataclass(frozen=True)
class _Answer:
    """One complete HTTP answer: its status, what its body was, and the body parsed as JSON (None if it is not)."""

    status: int
    size: int
    content_type: str
    body: Any

    def describe(self) -> str:
        """The body by its size and type, never its text: a body that is not JSON may quote anything."""
        return f"with a body of {self.size} bytes of {self.content_type} that is not the JSON envelope"


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
        if self.api.monotonic() + delay >= self.api.deadline:
            raise self.api.overdue(f"{self.what} failed ({reason}) and its retry would start after it")
        log.warning("%s: %s failed (%s), attempt %d; retrying in %.1f s", cfg.source, self.what, reason,
                    self.count, delay)
        self.api.sleep(delay)


class HttpApiExtractor:
    def __init__(self, config: HttpApiConfig, credentials: Mapping[str, str], *,
                 session: requests.Session | None = None, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.time, monotonic: Callable[[], float] = time.monotonic):
        auth_class, needed = _AUTH[config.auth.kind]
        if missing := [n for n in needed if not credentials.get(n)]:
            raise ConfigError(f"{config.source}: the credentials lack {', '.join(missing)}; "
                              f"{config.auth.kind} needs {', '.join(needed)} from the source's connection")
        self.config, self.sleep, self.clock, self.monotonic = config, sleep, clock, monotonic
        self.session = session or requests.Session()
        self.auth = auth_class(self, credentials)
        self.stats = WindowStats()
        self.deadline = math.inf  # the run's deadline on the monotonic clock, set by read_window
        self._keys: set[str] = set()  # the window's keys: the one thing that grows with the window, not the page

    def read_window(self, start: datetime, end: datetime, *, deadline: float | None = None
                    ) -> Iterator[pa.RecordBatch]:
        """The window [start, end) of update times; refused unless it ended settle_seconds before now.

        `deadline`: when the run must be done, on the `monotonic` clock (a run reading several
        streams passes the one it set when it began); by default run_deadline_seconds from now.
        """
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
        self.deadline = deadline if deadline is not None else self.monotonic() + cfg.run_deadline_seconds
        pages = self._by_page_number if cfg.paging.kind == "page_number" else self._by_cursor
        return pages(window)

    def probe(self) -> str:
        """One authenticated exchange that loads nothing, to check the address and credentials: the token request
        (bearer), or a signed first page of one record over the last settled minute. Says what answered;
        raises ExtractError (or ConfigError) with the source's sentence otherwise."""
        cfg = self.config
        if cfg.auth.kind == "bearer_client_credentials":
            self.auth.renew()
            return f"the token endpoint {cfg.auth.token_path} issued a token for these client credentials"
        end = datetime.fromtimestamp(self.clock(), timezone.utc) - timedelta(seconds=cfg.window.settle_seconds)
        params = {cfg.window.start_param: self._time_param(end - timedelta(minutes=1)),
                  cfg.window.end_param: self._time_param(end), cfg.paging.size_param: "1"}
        if cfg.paging.kind == "page_number":
            params[cfg.paging.page_param] = "1"
        self._get(params)
        return f"GET {cfg.endpoint} accepted a signed request"

    def overdue(self, what: str) -> ExtractError:
        cfg = self.config
        return ExtractError(
            f"{cfg.source}: reading GET {cfg.endpoint} did not finish within the run deadline of "
            f"{cfg.run_deadline_seconds:g} s (run_deadline_seconds; {what}); the source is too slow or the window "
            "too large: read smaller windows or raise run_deadline_seconds")

    def _time_param(self, moment: datetime) -> str:
        if self.config.window.format == "epoch_ms":
            return str((moment - datetime(1970, 1, 1, tzinfo=timezone.utc)) // timedelta(milliseconds=1))
        return moment.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")

    def _by_page_number(self, window: dict[str, str]) -> Iterator[pa.RecordBatch]:
        p = self.config.paging
        while True:
            self._begin_pass()
            first_total, previous = None, None
            for page_no in itertools.count(1):
                self._count_page(page_no)
                body = self._get({**window, p.page_param: str(page_no), p.size_param: str(p.page_size)})
                total = self._int(body, p.total_path)
                items, listed = self._items(body)
                yield from self._batches(items, page_no)
                first_total = total if first_total is None else first_total
                if total != first_total:
                    break  # records slid onto pages already read: only a pass with a steady total is complete
                if listed and (page_no - 1) * p.page_size >= total:
                    raise ExtractError(
                        f"{self.config.source}: GET {self.config.endpoint} answered page {page_no} with records "
                        f"although its total of {total} fits in {math.ceil(total / p.page_size)} page(s) of "
                        f"{p.page_size}; the server ignores {p.page_param} or miscounts, so paging would not end")
                previous = self._not_repeated(items, listed, page_no, previous, p.page_param)
                if listed < p.page_size:
                    self.stats.declared_total = total
                    return

    def _by_cursor(self, window: dict[str, str]) -> Iterator[pa.RecordBatch]:
        cfg, p = self.config, self.config.paging
        while True:
            self._begin_pass()
            params = {**window, p.size_param: str(p.page_size)}
            given: dict[bytes, int] = {}  # digests of the cursors of this pass → the page that gave each
            previous = None
            try:
                for page_no in itertools.count(1):
                    self._count_page(page_no)
                    body = self._get(params)
                    items, listed = self._items(body)
                    yield from self._batches(items, page_no)
                    previous = self._not_repeated(items, listed, page_no, previous, p.cursor_param)
                    has_more = _dig(body, p.has_more_path)
                    if has_more is False:
                        return
                    cursor = _dig(body, p.cursor_path)
                    if has_more is not True or not isinstance(cursor, str) or not cursor:
                        raise ExtractError(f"{cfg.source}: GET {cfg.endpoint} answered {p.has_more_path}="
                                           f"{_shape(has_more)} with {p.cursor_path}={_shape(cursor)}; "
                                           "the contract wants true with a cursor, or false")
                    digest = hashlib.sha256(cursor.encode("utf-8", "surrogatepass")).digest()
                    if digest in given:
                        raise ExtractError(
                            f"{cfg.source}: GET {cfg.endpoint} answered page {page_no} with the {p.cursor_path} it "
                            f"had already given on page {given[digest]} of this pass, so paging would never end; "
                            "the server's cursors loop")
                    given[digest] = page_no
                    params = {**window, p.size_param: str(p.page_size), p.cursor_param: cursor}
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

    def _count_page(self, page_no: int) -> None:
        cfg = self.config
        if page_no > cfg.max_pages:
            raise ExtractError(
                f"{cfg.source}: GET {cfg.endpoint} had still not reached the end of the window after {cfg.max_pages} "
                "pages in one pass (max_pages); the server pages without end, or the window is too large: read "
                "smaller windows or raise max_pages")

    def _not_repeated(self, items: list, listed: int, page_no: int, previous: bytes | None, param: str
                      ) -> bytes | None:
        """The page's digest; a page holding exactly the records of the page before it means the server loops."""
        if not listed:
            return None
        digest = hashlib.sha256(_json_text(items).encode("utf-8", "surrogatepass")).digest()
        if digest == previous:
            cfg = self.config
            raise ExtractError(f"{cfg.source}: GET {cfg.endpoint} answered page {page_no} with exactly the records of "
                               f"page {page_no - 1}; the server ignores {param}, so paging would never end")
        return digest

    # -- one call ----------------------------------------------------------------------------------

    def _get(self, params: dict[str, str]) -> dict:
        """One page, after retries; returns the envelope on success, raises ExtractError or _Restart."""
        cfg, env = self.config, self.config.envelope
        what = f"GET {cfg.endpoint}"
        failures = _Failures(self, what)
        renewed = False  # a call is repeated once with renewed credentials, never twice
        while True:
            answer = self._exchange("GET", cfg.endpoint, what, params=params, failures=failures)
            body = answer.body
            code = _text(_dig(body, env.code_path))
            if 200 <= answer.status < 300 and _dig(body, env.ok_path) == env.ok_value:
                return body
            if code in env.busy_codes:
                failures.record(f"code {_redacted(code)} {_redacted(_dig(body, env.msg_path))}")
            elif code in cfg.auth.renew_codes and not renewed:
                log.info("%s: %s answered %s; renewing credentials and repeating the call", cfg.source, what,
                         _redacted(code))
                self.auth.renew()
                renewed = True
            elif code in cfg.paging.restart_codes:
                log.warning("%s: %s answered %s; reading the window again from its start", cfg.source, what,
                            _redacted(code))
                raise _Restart()
            else:
                again = " again after renewing" if renewed and code in cfg.auth.renew_codes else ""
                detail = (f"code {_redacted(code)} ({_redacted(_dig(body, env.msg_path))})" if isinstance(body, dict)
                          else answer.describe())
                raise ExtractError(f"{cfg.source}: {what} answered HTTP {answer.status} {detail}{again}; "
                                   "the contract makes this fatal")

    def _exchange(self, method: str, path: str, what: str, *, params: dict[str, str] | None = None,
                  data: dict[str, str] | None = None, failures: _Failures | None = None) -> _Answer:
        """One HTTP exchange, retried over transport errors, deadlines and 429/502/503/504."""
        failures = failures or _Failures(self, what)
        url = self.config.base_url.rstrip("/") + path
        target = f"{url}?{canonical_query(params)}" if params else url  # the query sent is the query signed
        while True:
            headers = {} if params is None else self.auth.headers(method, urlsplit(url).path, params)
            try:
                answer, retry_after = self._once(method, target, headers, data, what)
            except _TRANSPORT_ERRORS as exc:
                failures.record(type(exc).__name__)
                continue
            except _Overdue:
                failures.record(f"no complete answer within its deadline of "
                                f"{self.config.request_deadline_seconds:g} s (request_deadline_seconds)")
                continue
            if answer.status in RETRY_STATUSES:
                failures.record(f"HTTP {answer.status}", retry_after)
                continue
            return answer

    def _once(self, method: str, target: str, headers: dict, data: dict | None, what: str
              ) -> tuple[_Answer, float | None]:
        """One attempt, its body streamed under the deadline and the size cap; (answer, Retry-After)."""
        cfg = self.config
        started = self.monotonic()
        if started >= self.deadline:
            raise self.overdue(f"{what} was still to be sent")
        limit = min(started + cfg.request_deadline_seconds, self.deadline)
        # A read timeout bounds each wait for bytes; `limit` bounds the whole answer, checked between reads.
        timeout = (min(cfg.connect_timeout_seconds, limit - started), limit - started)
        with self.session.request(method, target, headers=headers, data=data, timeout=timeout, stream=True) as resp:
            if resp.status_code in RETRY_STATUSES:
                return _Answer(resp.status_code, 0, "", None), _retry_after(resp)  # the body is not read
            content = self._receive(resp, what, limit)
        try:
            body = json.loads(content.decode("utf-8"), parse_int=_Number, parse_float=_Number)
        except (ValueError, RecursionError):  # not UTF-8, not JSON, or nested deeper than the parser goes
            body = None
        return _Answer(resp.status_code, len(content), _media_type(resp), body), None

    def _receive(self, resp: requests.Response, what: str, limit: float) -> bytes:
        cfg = self.config
        declared = resp.headers.get("Content-Length", "")
        size = int(declared) if declared.isdigit() else 0
        content = bytearray()
        while size <= cfg.max_page_bytes:
            if self.monotonic() >= limit:
                if limit >= self.deadline:
                    raise self.overdue(f"{what} was still sending its answer")
                raise _Overdue()
            chunk = resp.raw.read1(_READ_CHUNK, decode_content=True)
            if not chunk:
                return bytes(content)
            content += chunk
            size = len(content)
        raise ExtractError(f"{cfg.source}: {what} answered with a body of more than {cfg.max_page_bytes} bytes "
                           f"(max_page_bytes); the answer was not read whole: ask for smaller pages (page_size) "
                           "or raise max_page_bytes")

    # -- batches -----------------------------------------------------------------------------------

    def _items(self, body: dict) -> tuple[list, int]:
        """The page's items and how many it lists; a list that is not a JSON list is one item to quarantine."""
        items = _dig(body, self.config.paging.list_path)
        if isinstance(items, list):
            return items, len(items)
        return [_NotAList(items)], 0

    def _int(self, body: dict, path: str) -> int:
        value = _dig(body, path)
        if not isinstance(value, str) or not value.isdigit():
            raise ExtractError(f"{self.config.source}: GET {self.config.endpoint} answered {path}={_shape(value)}, "
                               "not a count")
        return int(value)

    def _batches(self, items: list, page_no: int) -> Iterator[pa.RecordBatch]:
        if not items:
            return
        cfg = self.config
        objects = [i for i in items if isinstance(i, dict)]
        names = list(dict.fromkeys(itertools.chain(cfg.fields, *objects)))
        columns: dict[str, list] = {n: [] for n in names}
        page, passes, record_no, defect, raw = [], [], [], [], []
        for item in items:
            good = isinstance(item, dict)
            for name, values in columns.items():
                value = item.get(name) if good else None
                values.append(_json_text(value) if name in cfg.json_fields and value is not None else _text(value))
            self.stats.read += 1
            self.stats.last_pass_read += 1
            page.append(page_no)
            passes.append(self.stats.passes)
            record_no.append(self.stats.read)
            if isinstance(item, _NotAList):
                defect.append("not_a_list")
                raw.append(_json_text(item.value))
            else:
                defect.append(None if good else "not_an_object")
                raw.append(None if good else _json_text(item))
            key = _text(item.get(cfg.key_field)) if good else None
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


@dataclass(frozen=True)
class _NotAList:
    """A page's list that is not a JSON list: passed on as one defect, never read as records."""

    value: Any


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


# Digit runs (spaces and dashes inside them allowed, an ID number's X at the end) that could be an ID or a
# phone number; a server's message may quote the record it choked on.
_NUMBER_RUN = re.compile(r"\d(?:[\d \-]*\d)?[Xx]?")
_MESSAGE_CHARS = 120


def _redacted(value: Any) -> str | None:
    """A code or message from the server, fit to quote: one line, numbers of 5 digits or more masked, short."""
    text = _text(value)
    if text is None:
        return None
    length = len(text)
    text = re.sub(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+", " ", text[:10 * _MESSAGE_CHARS])
    text = _NUMBER_RUN.sub(lambda m: m[0] if sum(c.isdigit() for c in m[0]) < 5 else "*" * len(m[0]), text)
    return text if length <= _MESSAGE_CHARS else f"{text[:_MESSAGE_CHARS]}… ({length} characters)"


def _shape(value: Any) -> str:
    """A JSON value described without quoting text that may be personal."""
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, _Number):
        return _redacted(value)
    if isinstance(value, str):
        return f"a string of {len(value)} characters"
    return "an object" if isinstance(value, dict) else "a list"


def _media_type(resp: requests.Response) -> str:
    media = resp.headers.get("Content-Type", "").split(";")[0].strip()
    return media if re.fullmatch(r"[\w.+-]{1,40}/[\w.+-]{1,80}", media) else "unnamed type"
