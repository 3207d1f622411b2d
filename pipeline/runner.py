"""run_source(): one run of one source — extract, transform, check, load — called alike by
Airflow tasks, the command line and the tests.

What a run can end in:
- ConfigError, before anything is read and with no ledger row: an unknown
  source, a missing connection or drop folder, a missing or blank key, a wrong
  store URL or credentials, keys or a crypto suite other than the store's;
- StoreUnreachable or StoreBusy (loaders.engine), with no ledger row: the
  store's server does not answer, or another run held a new or outdated store
  for longer than SILOBRIDGE_LOCK_TIMEOUT while upgrading it (worth retrying);
- RunFailed, with its failed `etl_run` rows committed and nothing else: a
  source fault, a run that gave up waiting for another one (SILOBRIDGE_LOCK_TIMEOUT),
  or (RunTerminated) a run stopped by SIGTERM, its reason starting `terminated`.
"""

import logging
import secrets
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Protocol

import sqlalchemy as sa

from loaders.engine import StoreError, StoreMisconfigured, describe, explain, make_engine
from loaders.locks import source_lock
from loaders.run_writer import StoreKeyMismatch, key_differences, record_failed_run, recorded_keys, with_store_keys
from loaders.schema import upgrade
from pipeline.config import ConfigError, Settings, key_mismatch
from pipeline.specs import OutsideHistory, SourceSpec, SpecError, check_window, load_spec
from transforms.values import BEIJING

log = logging.getLogger("silobridge")

# Changes become visible in the APIs and the exchange database within 5 minutes: no window ends later than that.
SETTLE = timedelta(minutes=5)


class Progress(Protocol):
    """What a run reports while it works through large inputs (the CLI draws it)."""

    def start(self, name: str, total_bytes: int) -> None: ...
    def advance(self, name: str, done_bytes: int) -> None: ...
    def finish(self, name: str) -> None: ...


@dataclass
class StreamResult:
    stream: str
    extracted: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    stale: int = 0
    quarantined: int = 0
    duplicates: int = 0
    declared_total: int | None = None
    reasons: dict[str, int] = field(default_factory=dict)

    def add(self, part: "StreamResult") -> None:
        """Counts of one loaded file or batch, added once it is known to be loaded."""
        self.extracted += part.extracted
        self.quarantined += part.quarantined
        if part.declared_total is not None:
            self.declared_total = (self.declared_total or 0) + part.declared_total
        for reason, n in part.reasons.items():
            self.reasons[reason] = self.reasons.get(reason, 0) + n

    def balanced(self) -> bool:
        return self.extracted == self.inserted + self.updated + self.unchanged + self.quarantined + self.duplicates


@dataclass
class RunResult:
    run_id: str
    source: str
    status: str
    store: str
    streams: dict[str, StreamResult]
    files: list[dict] = field(default_factory=list)
    notes: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ExplicitWindow:
    """A window asked for on the command line (`silobridge run SOURCE --from D --to D`), for API and database
    sources: the run reads [start, end) but for what is already committed (all of it with `reread`), and moves
    the committed position only when the window continues it without a gap."""

    start: datetime
    end: datetime
    reread: bool = False


class RunFailed(RuntimeError):
    """A run failed and committed only its failed ledger rows; the message says why."""


def _csv_drop():
    from pipeline.drop_run import run_csv_drop

    return run_csv_drop


def _http_api():
    from pipeline.api_run import run_api

    return run_api


def _xml_batches():
    from pipeline.batch_run import run_batches

    return run_batches


def _sql():
    from pipeline.sql_run import run_sql

    return run_sql


# Imported on use: each kind's extractor brings its own dependencies.
_RUNNERS = {"csv_drop": _csv_drop, "http_api": _http_api, "xml_batches": _xml_batches, "sql": _sql}


def new_run_id(source: str, now: datetime) -> str:
    return f"{source}-{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


class RunTerminated(RunFailed):
    """The run was stopped by SIGTERM and committed only its failed ledger rows (reason `terminated: …`)."""


class _Terminated(SystemExit):
    """Raised in the main thread by SIGTERM. Not an Exception, so no `except Exception` on the way swallows it;
    a SystemExit, so psycopg cancels a query it interrupts instead of leaving the connection busy."""


def run_source(source: str, settings: Settings, *, window: tuple[datetime, datetime] | None = None,
               progress: Progress | None = None, explicit: ExplicitWindow | None = None) -> RunResult:
    spec = _spec(source)
    extra = {}
    if explicit is not None:
        explicit = _settled(spec, explicit)
        window, extra = (explicit.start, explicit.end), {"explicit": explicit}
    _check_source(spec, settings)
    engine = open_store(settings)
    started = datetime.now(timezone.utc)
    run_id = new_run_id(source, started)
    log.info("%s: run %s into %s", source, run_id, describe(settings.store_url))
    try:
        with _sigterm_ends_the_run():
            try:
                with source_lock(engine, source):
                    result = _RUNNERS[spec.kind]()(spec, settings, engine, run_id, started, window, progress,
                                                   **extra)
            except StoreKeyMismatch as exc:  # another run recorded other keys since open_store looked
                raise ConfigError(key_mismatch(exc.differences, describe(settings.store_url))) from exc
            except ConfigError:  # found by a kind before it read anything (e.g. credentials): no ledger row
                raise
            except _Terminated as exc:
                reason = (f"terminated: {source} run {run_id} was stopped by SIGTERM (e.g. Airflow stopping the task) "
                          "before it committed; nothing it read was loaded and the next run starts where it did")
                _record_failure(engine, spec, run_id, started, reason, window)
                raise RunTerminated(reason) from exc
            except Exception as exc:
                reason = f"{source} run {run_id} failed: {exc}"
                _record_failure(engine, spec, run_id, started, reason, window)
                raise RunFailed(reason) from exc
            except BaseException as exc:  # KeyboardInterrupt, Airflow's task timeout: recorded, then passed on
                _record_failure(engine, spec, run_id, started,
                                f"interrupted: {source} run {run_id} was interrupted ({type(exc).__name__}) "
                                "before it committed; nothing it read was loaded", window)
                raise
    finally:
        engine.dispose()
    result.store = describe(settings.store_url)
    return result


def open_store(settings: Settings) -> sa.Engine:
    """The store, upgraded under its lock, whose runs record this deployment's keys or refuse other ones.

    ConfigError for a wrong store or keys other than those the store was set up with; StoreUnreachable.
    """
    try:
        engine = make_engine(settings.store_url, lock_timeout=settings.lock_timeout)
    except StoreMisconfigured as exc:
        raise ConfigError(str(exc)) from exc
    try:
        try:
            with engine.connect():
                pass
        except sa.exc.DBAPIError as exc:
            error = explain(settings.store_url, exc)
            raise (ConfigError(str(error)) if isinstance(error, StoreMisconfigured) else error) from exc
        upgrade(engine)
        with engine.connect() as conn:
            differences = key_differences(settings.store_keys(), recorded_keys(conn))
        if differences:
            raise ConfigError(key_mismatch(differences, describe(settings.store_url)))
    except BaseException:
        engine.dispose()
        raise
    return with_store_keys(engine, settings.store_keys())


def _spec(source: str) -> SourceSpec:
    try:
        return load_spec(source)
    except SpecError as exc:
        raise ConfigError(str(exc)) from exc


def _settled(spec: SourceSpec, explicit: ExplicitWindow) -> ExplicitWindow:
    """The window as it may be read: API and database sources only, within their history, ended 5 minutes ago."""
    if spec.kind not in ("http_api", "sql"):
        raise ConfigError(f"{spec.name} is a file source: it loads every delivery in its folder that no run has "
                          "loaded yet, so --from, --to and --reread apply only to API and database sources")
    try:
        check_window(spec, (explicit.start, explicit.end))
    except OutsideHistory as exc:
        raise ConfigError(str(exc)) from exc
    settled = datetime.now(timezone.utc) - SETTLE
    if explicit.start >= settled:
        raise ConfigError(f"{spec.name}: the window starting {explicit.start.astimezone(BEIJING):%Y-%m-%d %H:%M} "
                          "Beijing time has no part that ended 5 minutes ago, when changes become visible; there "
                          "is nothing to read yet")
    # In UTC, like the windows Airflow hands over: the committed window end is stored as this instant's text.
    return ExplicitWindow(explicit.start.astimezone(timezone.utc), min(explicit.end, settled).astimezone(timezone.utc),
                          explicit.reread)


def _check_source(spec: SourceSpec, settings: Settings) -> None:
    """What a run needs from its configuration before it reads anything: its connection or drop folder."""
    if spec.kind in ("csv_drop", "xml_batches"):
        from pipeline.staging import drop_folder

        drop_folder(spec, settings)
    elif settings.connection(spec.conn_id) is None:
        raise ConfigError(
            f"{spec.name}: no connection {spec.conn_id}; define the Airflow connection or "
            f"AIRFLOW_CONN_{spec.conn_id.upper()} with the {'API' if spec.kind == 'http_api' else 'database'}'s "
            "address and credentials"
        )


def _record_failure(engine: sa.Engine, spec: SourceSpec, run_id: str, started: datetime, reason: str,
                    window: tuple[datetime, datetime] | None) -> None:
    log.info("%s; recording its failed ledger rows", reason)
    try:
        record_failed_run(engine, spec.name, run_id, list(spec.streams), started, reason, window or (None, None))
    except (sa.exc.DBAPIError, StoreError) as exc:
        log.error("%s: the failed ledger row of run %s could not be written (%s); %s", spec.name, run_id,
                  str(exc).splitlines()[0], reason)
        raise RunFailed(f"{reason}; its failed ledger row could not be written either "
                        f"({str(exc).splitlines()[0]})") from exc


@contextmanager
def _sigterm_ends_the_run() -> Iterator[None]:
    """SIGTERM (Airflow stopping the task, a service manager) raises _Terminated in the run, once.

    Airflow's task runner has its own SIGTERM handler, which calls the
    operator's on_kill() and lets the task go on until the supervisor's
    SIGKILL 5 s later: it is called first, then the run stops and rolls back.
    A second SIGTERM while the failed ledger row is written is ignored.
    """
    previous = signal.getsignal(signal.SIGTERM) if threading.current_thread() is threading.main_thread() else None
    if previous in (None, signal.SIG_IGN):
        yield  # handlers can only be set from the main thread; a process that ignores SIGTERM keeps doing so
        return
    stopping = False

    def _on_sigterm(signum, frame):
        nonlocal stopping
        if stopping:
            return
        stopping = True
        if callable(previous):
            previous(signum, frame)
        raise _Terminated()

    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
