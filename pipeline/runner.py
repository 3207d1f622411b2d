"""run_source(): one run of one source — extract, transform, check, load — called alike by
Airflow tasks, the command line and the tests."""

import logging
import secrets
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Protocol

from loaders.engine import describe, make_engine
from loaders.run_writer import record_failed_run
from loaders.schema import upgrade
from pipeline.config import Settings
from pipeline.specs import load_spec

log = logging.getLogger("silobridge")


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


def run_source(source: str, settings: Settings, *, window: tuple[datetime, datetime] | None = None,
               progress: Progress | None = None) -> RunResult:
    spec = load_spec(source)
    engine = make_engine(settings.store_url)
    upgrade(engine)
    started = datetime.now(timezone.utc)
    run_id = new_run_id(source, started)
    log.info("%s: run %s into %s", source, run_id, describe(settings.store_url))
    try:
        result = _RUNNERS[spec.kind]()(spec, settings, engine, run_id, started, window, progress)
    except Exception as exc:
        reason = f"{source} run {run_id} failed: {exc}"
        record_failed_run(engine, source, run_id, list(spec.streams), started, reason,
                          window or (None, None))
        raise RunFailed(reason) from exc
    finally:
        engine.dispose()
    result.store = describe(settings.store_url)
    return result
