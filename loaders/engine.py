"""Connecting to the store: an embedded SQLite file or a PostgreSQL server."""

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url


def normalize_url(url: str) -> str:
    """Accept the URL spellings people and Airflow connections use for the two backends."""
    for prefix in ("postgres://", "postgresql://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def make_engine(url: str) -> sa.Engine:
    url = normalize_url(url)
    backend = make_url(url).get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(url)
    if backend == "postgresql":
        return sa.create_engine(url, pool_pre_ping=True)
    raise ValueError(f"store URL {make_url(url).render_as_string()!r}: silobridge stores data in SQLite or PostgreSQL only")


def _sqlite_engine(url: str) -> sa.Engine:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, connect_args={"timeout": 60})

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
        connection.exec_driver_sql(f"BEGIN {mode}")

    return engine


def describe(url: str) -> str:
    """The store's URL without its password, for messages."""
    return make_url(normalize_url(url)).render_as_string(hide_password=True)
