"""`silobridge check SOURCE`: whether a source can be reached with its configuration, loading nothing.

Like Airbyte's `check`: a file source's folder exists and can be read; a REST
source answers one authenticated exchange (market: the OAuth token request;
tax: one signed page of one record); the exchange database answers a
`SELECT 1` from each table the spec reads. No store and no key are needed.
"""

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from pipeline.config import ConfigError, connection_from_env, home
from pipeline.specs import SourceSpec


class CheckFailed(RuntimeError):
    """The source cannot be used as configured; the message is one sentence naming the source and why."""


@dataclass(frozen=True)
class _Where:
    """What a check needs of the settings: where folders and connections are, and no keys."""

    home: Path
    folders: dict[str, Path] = field(default_factory=dict)

    def connection(self, conn_id: str) -> dict | None:
        return connection_from_env(conn_id)


def check_source(spec: SourceSpec, folder: Path | None = None) -> str:
    """A sentence saying what answered; CheckFailed with one saying what did not."""
    where = _Where(home(), {spec.name: folder} if folder else {})
    try:
        if spec.kind in ("csv_drop", "xml_batches"):
            return _check_folder(spec, where)
        conn = where.connection(spec.conn_id)
        if conn is None:
            raise ConfigError(f"no connection {spec.conn_id}: define the Airflow connection or "
                              f"AIRFLOW_CONN_{spec.conn_id.upper()}")
        return _check_api(spec, conn) if spec.kind == "http_api" else _check_database(spec, conn)
    except CheckFailed:
        raise
    except Exception as exc:  # every way a source can fail to answer ends in the one sentence of the check
        raise CheckFailed(f"{spec.name}: check failed: {_sentence(exc, spec.name)}") from exc


def _sentence(exc: Exception, source: str) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text.removeprefix(f"{source}: ")


def _check_folder(spec: SourceSpec, where: _Where) -> str:
    from pipeline.staging import drop_folder

    folder = drop_folder(spec, where)
    if not os.access(folder, os.R_OK | os.X_OK):
        raise CheckFailed(f"{spec.name}: check failed: the drop folder {folder} exists but cannot be read by this "
                          "user")
    entries = sum(1 for _ in os.scandir(folder))
    return f"{spec.name}: OK, the drop folder {folder} exists and can be read ({entries} entries)"


def _check_api(spec: SourceSpec, conn: dict) -> str:
    from extractors.http_api import HttpApiConfig, HttpApiExtractor
    from pipeline.connections import base_url, credentials

    stream = next(s for s in spec.streams.values() if "nested_in" not in s.extract)
    config = HttpApiConfig.from_dict({"source": spec.name, "base_url": base_url(conn), **spec.extract,
                                      **stream.extract})
    # One retry at most: a check answers now, it does not wait out an outage like a run.
    config = dataclasses.replace(config, max_failures=1)
    answered = HttpApiExtractor(config, credentials(conn, config.auth.kind)).probe()
    return f"{spec.name}: OK, {config.base_url} answered: {answered}"


def _check_database(spec: SourceSpec, conn: dict) -> str:
    from pipeline.connections import database_url

    url = sa.make_url(database_url(conn))
    shown = url.render_as_string(hide_password=True)
    if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).is_file():
        raise CheckFailed(f"{spec.name}: check failed: there is no database file {url.database}")
    tables = [s.extract["table"] for s in spec.streams.values()]
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as db:
            for name in tables:
                db.execute(sa.select(sa.literal(1)).select_from(sa.table(name)).limit(1))
    except sa.exc.DBAPIError as exc:
        raise CheckFailed(f"{spec.name}: check failed: the exchange database {shown} answered: "
                          f"{str(exc.orig).splitlines()[0]}") from exc
    finally:
        engine.dispose()
    return f"{spec.name}: OK, the exchange database {shown} answered SELECT 1 from {', '.join(tables)}"
