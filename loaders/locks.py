"""One run per source at a time, and waits that end.

A run holds its source's lock from before it reads anything until after it
has archived what it committed, so a second run of the source started at the
same time finds the first one's work done instead of its files moving away
under it. PostgreSQL: a session-level advisory lock per source (runs of other
sources go on in parallel). SQLite: a lock file per source next to the store
(SQLite's own write lock, taken by BEGIN IMMEDIATE, then lets one run write at
a time). Every wait is logged and bounded by the engine's lock timeout.
"""

import fcntl
import logging
import os
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

from loaders.engine import StoreBusy, lock_timeout

log = logging.getLogger("silobridge")

_RUN_NAMESPACE = 0x5B1E  # two-int advisory keys (namespace, source); the upgrade lock uses its own namespace
_POLL_SECONDS = 0.1


def source_key(source: str) -> int:
    """A source's advisory lock key as PostgreSQL's int4 (signed)."""
    crc = zlib.crc32(source.encode())
    return crc - (1 << 32) if crc >= 1 << 31 else crc


def _gave_up(timeout: float, waiting: str) -> str:
    return (f"gave up after {timeout:g} s waiting for {waiting}; run again once it has finished, "
            "or allow a longer wait with SILOBRIDGE_LOCK_TIMEOUT")


def pg_lock(conn: sa.Connection, key: int | tuple[int, int], timeout: float, *, transaction: bool,
            waiting: str) -> None:
    """Take a PostgreSQL advisory lock (transaction- or session-level) on `conn`, waiting at most `timeout` s."""
    scope = "xact_" if transaction else ""
    args, params = ("(:a, :b)", {"a": key[0], "b": key[1]}) if isinstance(key, tuple) else ("(:a)", {"a": key})
    if conn.execute(sa.text(f"SELECT pg_try_advisory_{scope}lock{args}"), params).scalar():
        return
    log.warning("waiting up to %g s for %s", timeout, waiting)
    setting = "SET LOCAL lock_timeout" if transaction else "SET lock_timeout"
    conn.exec_driver_sql(f"{setting} = {max(1, int(timeout * 1000))}")
    try:
        conn.execute(sa.text(f"SELECT pg_advisory_{scope}lock{args}"), params)
    except sa.exc.OperationalError as exc:
        if getattr(exc.orig, "sqlstate", None) == "55P03":  # lock_not_available
            raise StoreBusy(_gave_up(timeout, waiting)) from exc
        raise
    conn.exec_driver_sql(f"{setting} TO DEFAULT")


@contextmanager
def source_lock(engine: sa.Engine, source: str) -> Iterator[None]:
    """Held for a whole run of `source`; StoreBusy after the engine's lock timeout."""
    timeout = lock_timeout(engine)
    waiting = f"another {source} run to finish with the store"
    if engine.dialect.name == "postgresql":
        conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            pg_lock(conn, (_RUN_NAMESPACE, source_key(source)), timeout, transaction=False, waiting=waiting)
            yield
        finally:
            # Closing the session releases its lock whatever state the run left it in; it never goes back to the pool.
            conn.invalidate()
            conn.close()
        return
    database = engine.url.database
    if not database or database == ":memory:":
        yield
        return
    with _file_lock(Path(f"{database}.{source}.lock"), timeout, waiting):
        yield


@contextmanager
def _file_lock(path: Path, timeout: float, waiting: str) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.warning("waiting up to %g s for %s", timeout, waiting)
            deadline = time.monotonic() + timeout
            while True:
                time.sleep(_POLL_SECONDS)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise StoreBusy(_gave_up(timeout, waiting)) from None
        yield
    finally:
        os.close(fd)  # releases the lock, also when the process dies
