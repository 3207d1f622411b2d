"""Connecting to the store: an embedded SQLite file or a PostgreSQL server.

Opening a store that cannot be used raises a StoreError whose message is one
sentence naming the store and the fix; waiting for another run is bounded by
the engine's lock timeout (seconds), and a run that gives up raises StoreBusy.
"""

import logging
import re
import sqlite3
import time
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

log = logging.getLogger("silobridge")

DEFAULT_LOCK_TIMEOUT = 600.0
_TIMEOUT_OPTION = "silobridge_lock_timeout"
_BUSY_SLICE_MS = 200


class StoreError(RuntimeError):
    """The store cannot be used; the message says why and what to do."""


class StoreMisconfigured(StoreError):
    """The store's URL, credentials or file are wrong: retrying will not help."""


class StoreUnreachable(StoreError):
    """The store's server did not answer: it may be down for a while."""


class StoreBusy(StoreError):
    """Another run held the store (or the source) for longer than the lock timeout."""


def normalize_url(url: str) -> str:
    """Accept the URL spellings people and Airflow connections use for the two backends."""
    for prefix in ("postgres://", "postgresql://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def _parse(url: str) -> sa.URL:
    try:
        return make_url(normalize_url(url))
    except sa.exc.ArgumentError as exc:
        raise StoreMisconfigured(
            f"the store URL {url.split('@')[-1]!r} is not a database URL: give e.g. sqlite:////srv/silobridge/store.db "
            "or postgresql://user:password@host:5432/db (--store or the Airflow connection silobridge_store)"
        ) from exc


def make_engine(url: str, *, lock_timeout: float = DEFAULT_LOCK_TIMEOUT) -> sa.Engine:
    """An engine for the store; StoreMisconfigured for a URL that names no SQLite or PostgreSQL store."""
    parsed = _parse(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(parsed, lock_timeout)
    if backend == "postgresql":
        return sa.create_engine(parsed, pool_pre_ping=True, execution_options={_TIMEOUT_OPTION: lock_timeout})
    raise StoreMisconfigured(
        f"the store URL {parsed.render_as_string()!r} is neither SQLite nor PostgreSQL, the two stores silobridge "
        "keeps its data in: give e.g. sqlite:////srv/silobridge/store.db or postgresql://user:password@host:5432/db"
    )


def lock_timeout(bind: sa.Engine | sa.Connection) -> float:
    """How long (seconds) a run waits for another one to release the store or its source."""
    return bind.get_execution_options().get(_TIMEOUT_OPTION, DEFAULT_LOCK_TIMEOUT)


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite store URL; None for PostgreSQL or an in-memory database."""
    parsed = _parse(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def _sqlite_engine(url: sa.URL, timeout: float) -> sa.Engine:
    database = url.database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, connect_args={"timeout": timeout}, execution_options={_TIMEOUT_OPTION: timeout})

    # pysqlite's own transaction handling breaks SAVEPOINT; SQLAlchemy's
    # documented recipe takes BEGIN over, which also lets a run take the write
    # lock up front (BEGIN IMMEDIATE) instead of failing half-way on a busy store.
    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA cache_size=-65536")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _begin(connection):
        mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
        if mode == "IMMEDIATE":
            _begin_immediate(connection.connection.dbapi_connection, lock_timeout(connection), database)
        else:
            connection.exec_driver_sql(f"BEGIN {mode}")

    return engine


def _begin_immediate(dbapi: sqlite3.Connection, timeout: float, database: str | None) -> None:
    """Take SQLite's one write lock; if another run holds it, say so and wait up to `timeout` seconds.

    The wait is a loop of short busy waits, so that a signal (SIGTERM) is handled within a fraction of a second.
    """
    deadline = time.monotonic() + timeout
    waited = False
    try:
        dbapi.execute("PRAGMA busy_timeout = 0")
        while True:
            try:
                dbapi.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorname != "SQLITE_BUSY":
                    raise
                if time.monotonic() >= deadline:
                    raise StoreBusy(
                        f"gave up after {timeout:g} s waiting for another run to release the store {database} (SQLite "
                        "lets one run write at a time); run again once it has finished, or allow a longer wait with "
                        "SILOBRIDGE_LOCK_TIMEOUT"
                    ) from exc
            if not waited:
                waited = True
                log.warning("waiting up to %g s for another run to release the store %s (SQLite lets one run "
                            "write at a time)", timeout, database)
                dbapi.execute(f"PRAGMA busy_timeout = {_BUSY_SLICE_MS}")
    finally:
        dbapi.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")


def explain(url: str, exc: sa.exc.DBAPIError) -> StoreError:
    """One sentence for a store that could not be opened or went away: wrong (StoreMisconfigured) or not answering."""
    where = describe(url)
    orig = exc.orig
    if isinstance(orig, sqlite3.Error):
        if getattr(orig, "sqlite_errorname", "") == "SQLITE_NOTADB":
            return StoreMisconfigured(f"{sqlite_file(url)} is not a SQLite database: point --store or the Airflow "
                                      "connection silobridge_store at the store's file, or at a new path")
        if getattr(orig, "sqlite_errorname", "") in ("SQLITE_CANTOPEN", "SQLITE_PERM", "SQLITE_READONLY"):
            return StoreMisconfigured(f"the SQLite store {sqlite_file(url)} cannot be opened ({orig}): it must be "
                                      "a file that silobridge may read and write, in a folder that exists")
        return StoreError(f"the SQLite store {sqlite_file(url)} failed ({orig})")
    first = str(orig).splitlines()[0] if str(orig) else type(orig).__name__
    # "connection failed: connection to server at "h", port 5432 failed: FATAL:  role "x" does not exist"
    detail = re.sub(r"^.*failed: ", "", first).strip()
    if "FATAL:" in first:
        detail = re.sub(r"^FATAL:\s*", "", detail)
        return StoreMisconfigured(f"the store {where} refused the connection ({detail}): fix the user, password or "
                                  "database in --store or the Airflow connection silobridge_store")
    return StoreUnreachable(f"the store {where} does not answer ({detail}): start PostgreSQL there, or fix the "
                            "host and port in --store or the Airflow connection silobridge_store")


def describe(url: str) -> str:
    """The store's URL without its password, for messages."""
    return make_url(normalize_url(url)).render_as_string(hide_password=True)
