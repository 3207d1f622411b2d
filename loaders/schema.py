"""Schema creation and upgrades, through Alembic, on any backend.

Upgrades happen under a lock (PostgreSQL: a transaction-level advisory lock;
SQLite: BEGIN IMMEDIATE), so two runs meeting a new store create it once.
"""

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from loaders.engine import StoreError, describe, lock_timeout, sqlite_file
from loaders.locks import pg_lock

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_UPGRADE_LOCK = (0x5B1D, 0)  # (namespace, key) of the two-int advisory lock; a run's locks use other namespaces


class NoStore(StoreError):
    """There is no store at the URL yet (a missing SQLite file, or a database without silobridge's tables)."""


class StoreOutdated(StoreError):
    """The store's schema is not the one this silobridge needs; `silobridge upgrade` brings it there."""


def alembic_config(connection: sa.Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head() -> str:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def revision(engine: sa.Engine) -> str | None:
    """The store's schema revision; None for a database without silobridge's tables."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def is_current(engine: sa.Engine) -> bool:
    return revision(engine) == head()


def upgrade(engine: sa.Engine) -> None:
    """Bring the store to the newest revision (creates it on first use), under the upgrade lock."""
    if is_current(engine):
        return
    with engine.connect().execution_options(sqlite_begin="IMMEDIATE") as connection, connection.begin():
        if connection.dialect.name == "postgresql":
            pg_lock(connection, _UPGRADE_LOCK, lock_timeout(engine), transaction=True,
                    waiting="another run to finish upgrading the store")
        # Alembic reads the revision again under the lock: a run that waited finds the store current.
        command.upgrade(alembic_config(connection), "head")


def require_current(engine: sa.Engine, url: str) -> None:
    """For commands that only read: NoStore or StoreOutdated, each saying what to run; never creates or upgrades."""
    path = sqlite_file(url)
    if path is not None and not path.exists():
        raise NoStore(f"there is no store at {path} yet: `silobridge run <source>` or `silobridge upgrade` "
                      "creates it")
    found, newest = revision(engine), head()
    if found is None:
        raise NoStore(f"there is no store in {describe(url)} yet (no silobridge tables): `silobridge run <source>` "
                      "or `silobridge upgrade` creates it")
    if found != newest:
        scripts = ScriptDirectory.from_config(alembic_config())
        if found not in {s.revision for s in scripts.walk_revisions()}:
            raise StoreOutdated(f"the store {describe(url)} is at schema revision {found}, which this silobridge "
                                f"does not know (its newest is {newest}): use the silobridge that wrote it")
        raise StoreOutdated(f"the store {describe(url)} is at schema revision {found}, this silobridge needs "
                            f"{newest}: run `silobridge upgrade` first")

