"""Helpers of the hostile file-source tests: batches and drops written byte by byte, runs, and what a user checks."""

import hashlib
import logging
import os
import signal
from contextlib import contextmanager
from pathlib import Path

from pipeline.config import Settings
from pipeline.runner import RunResult, run_source
from simulators.police_outbox import render
from tests.test_hrss_contract import ledger_balances, rows
from tests.test_police_source import case, evaluation

__all__ = ["case", "evaluation", "ledger_balances", "rows", "batch_bytes", "put_batch", "run", "no_hang",
           "captured", "reject_reasons", "warnings_about", "make_socket"]

GENERATED = "2026-10-05T18:00:00+08:00"


def batch_bytes(seq: int, cases: list[dict], evaluations: list[dict] = ()) -> bytes:
    return render(seq, GENERATED, list(cases), list(evaluations))


def put_batch(folder: Path, seq: int, data: bytes, *, day: str = "20261005", manifest: bytes | None = None) -> Path:
    """A batch file and then its manifest (the sha256sum line of these bytes unless `manifest` is given)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"GA_{day}_{seq:06d}.xml"
    path.write_bytes(data)
    line = manifest if manifest is not None else f"{hashlib.sha256(data).hexdigest()}  {path.name}\n".encode()
    path.with_name(path.name + ".sha256").write_bytes(line)
    return path


def run(source: str, store_url: str, folder: Path, window=None) -> RunResult:
    return run_source(source, Settings.resolve(store_url=store_url, folders={source: folder}), window=window)


def reject_reasons(store_url: str) -> list[tuple[str, str, str]]:
    """(kind, location, reason) of every reject, in the order written."""
    return [(r["kind"], r["location"], r["reason"]) for r in
            rows(store_url, "SELECT kind, location, reason FROM etl_reject ORDER BY reject_id")]


@contextmanager
def no_hang(seconds: int = 60):
    """Fails the test, instead of hanging it, if the block takes longer than `seconds` (a FIFO opened for reading)."""
    def alarm(signum, frame):
        raise AssertionError(f"the run did not finish within {seconds} s: something blocked")
    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def captured(caplog) -> str:
    """Everything the silobridge logger said, messages and arguments rendered."""
    return "\n".join(r.getMessage() for r in caplog.records)


def warnings_about(caplog, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and text in r.getMessage()]


def make_socket(path: Path):
    """A UNIX socket bound at `path` (bound by a relative name: socket paths are limited to 108 bytes)."""
    import socket

    s = socket.socket(socket.AF_UNIX)
    here = os.getcwd()
    os.chdir(path.parent)
    try:
        s.bind(path.name)
    finally:
        os.chdir(here)
    return s
