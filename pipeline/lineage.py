"""OpenLineage datasets of one load run: the department system it read and the store tables it wrote.

Built from the source spec, the settings, the run's result and its `dq_result` rows. This module
knows OpenLineage's model, not Airflow: `dags/lineage_task.py` hands what it builds to the
OpenLineage provider.

Names follow the OpenLineage naming conventions (https://openlineage.io/docs/spec/naming), through
the client's own naming helpers where it has one:

| dataset                        | namespace                              | name                                 |
| ------------------------------ | -------------------------------------- | ------------------------------------ |
| a drop folder (hrss, police)   | `file`                                 | the folder's absolute path           |
| an API endpoint (market, tax)  | `https://host:port` of the base URL    | the endpoint's path, `/api/v2/bj`    |
| an exchange table (medins)     | `mysql://host:port`                    | `database.TABLE`                     |
| the store on PostgreSQL        | `postgres://host:port`                 | `database.public.service_case`       |
| an embedded SQLite database    | `sqlite://` + the file's absolute path | `main.service_case`                  |

The spec has no SQLite entry: as OpenLineage's own dbt integration names an embedded DuckDB file
(`duckdb://{path}`), the file is the datasource and `main` (SQLite's name for it) the database.

Namespaces are built from scheme, host, port and path only, never from a whole URL: no user,
password or query parameter (which may hold a key) reaches an event. The expectation results
carry counts, not the observed values (`dq_result.observed_value` may quote sample values).
"""

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from urllib.parse import urlsplit

import attr
import sqlalchemy as sa
from openlineage.client.event_v2 import InputDataset, OutputDataset
from openlineage.client.facet_v2 import (
    OutputDatasetFacet,
    data_quality_assertions_dataset,
    documentation_dataset,
    output_statistics_output_dataset,
    schema_dataset,
)
from openlineage.client.naming.dataset import LocalFileSystem, MySQL, Postgres

from loaders.engine import make_engine, normalize_url
from pipeline.config import ConfigError, Settings
from pipeline.connections import base_url, database_url
from pipeline.runner import StreamResult
from pipeline.specs import SourceSpec
from pipeline.staging import drop_folder
from schemas.sql import sql_tables
from schemas.tables import STREAM_TABLES, Table

LEDGER_FACET = "silobridge_ledger"
# dq_result's severities in the words OpenLineage's assertion facet suggests.
_SEVERITY = {"error": "error", "warning": "warn"}


@attr.define
class LedgerFacet(OutputDatasetFacet):
    """What one run did to one unified table: its `etl_run` row's counts (the ledger balances:
    extracted = inserted + updated + unchanged + quarantined + duplicates)."""

    runId: str  # noqa: N815 - facet fields are camelCase in OpenLineage
    extracted: int
    inserted: int
    updated: int
    unchanged: int
    stale: int
    quarantined: int
    duplicates: int
    declaredTotal: int | None = None  # noqa: N815


def input_datasets(spec: SourceSpec, settings: Settings) -> list[InputDataset]:
    """The department system one run of `spec` reads: its drop folder, its API endpoints or its exchange tables."""
    about = {"documentation": documentation_dataset.DocumentationDatasetFacet(description=spec.title)}
    return [InputDataset(namespace=namespace, name=name, facets=about)
            for namespace, name in _source_datasets(spec, settings)]


def output_datasets(spec: SourceSpec, settings: Settings, run_id: str | None = None,
                    streams: Mapping[str, StreamResult] | None = None,
                    checks: Iterable[Mapping] = ()) -> list[OutputDataset]:
    """The unified tables a run of `spec` writes, with their schema; after the run, with its counts
    (`streams`, the run's StreamResults) and its expectation results (`checks`, its `dq_result` rows)."""
    by_stream: dict[str, list[Mapping]] = {}
    for check in checks:
        by_stream.setdefault(check["stream"], []).append(check)
    outputs = []
    for stream in spec.streams:
        table = STREAM_TABLES[stream]
        namespace, name = store_dataset(settings.store_url, table.name)
        facets = {"schema": _schema(table), "documentation": documentation_dataset.DocumentationDatasetFacet(
            description=table.doc)}
        if stream in by_stream:
            facets["dataQualityAssertions"] = _assertions(by_stream[stream])
        output_facets = {}
        if streams is not None and run_id is not None:
            output_facets = _statistics(run_id, streams[stream])
        outputs.append(OutputDataset(namespace=namespace, name=name, facets=facets, outputFacets=output_facets))
    return outputs


def run_checks(store_url: str, run_id: str) -> list[dict]:
    """A run's expectation results as `dq_result` holds them, in the order they were written."""
    table = sql_tables["dq_result"]
    engine = make_engine(store_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.select(table).where(table.c.run_id == run_id).order_by(table.c.result_id))
            return [dict(row._mapping) for row in rows]
    finally:
        engine.dispose()


def store_dataset(store_url: str, table: str) -> tuple[str, str]:
    """(namespace, name) of a table in the store or in any database given by a SQLAlchemy URL."""
    url = sa.make_url(normalize_url(store_url))
    backend = url.get_backend_name()
    if backend == "sqlite":
        return f"sqlite://{Path(url.database).resolve()}", f"main.{table}"
    schema, _, bare = table.rpartition(".")
    if backend == "postgresql":
        naming = Postgres(host=url.host or "localhost", port=str(url.port or 5432), database=url.database,
                          schema=schema or "public", table=bare)
    elif backend in ("mysql", "mariadb"):
        naming = MySQL(host=url.host or "localhost", port=str(url.port or 3306), database=schema or url.database,
                       table=bare)
    else:
        raise ConfigError(f"no OpenLineage naming for a {backend} database (table {table}): "
                          "use SQLite, PostgreSQL or MySQL/MariaDB")
    return naming.get_namespace(), naming.get_name()


def _source_datasets(spec: SourceSpec, settings: Settings) -> list[tuple[str, str]]:
    if spec.kind in ("csv_drop", "xml_batches"):
        naming = LocalFileSystem(path=str(drop_folder(spec, settings).resolve()))
        return [(naming.get_namespace(), naming.get_name())]
    conn = settings.connection(spec.conn_id)
    if conn is None:
        raise ConfigError(f"{spec.name}: no connection {spec.conn_id}, so no source to name in the lineage; "
                          f"define the Airflow connection or AIRFLOW_CONN_{spec.conn_id.upper()}")
    if spec.kind == "http_api":
        return [_endpoint(base_url(conn), s.extract["endpoint"]) for s in spec.streams.values()
                if "endpoint" in s.extract]
    return [store_dataset(database_url(conn), s.extract["table"]) for s in spec.streams.values()]


def _endpoint(base: str, endpoint: str) -> tuple[str, str]:
    """`https://host:port` (the port always given, so one server has one namespace) and the endpoint's path."""
    parts = urlsplit(base)
    port = parts.port or {"http": 80, "https": 443}[parts.scheme]
    return f"{parts.scheme}://{parts.hostname}:{port}", parts.path.rstrip("/") + endpoint


def _schema(table: Table) -> schema_dataset.SchemaDatasetFacet:
    return schema_dataset.SchemaDatasetFacet(fields=[
        schema_dataset.SchemaDatasetFacetFields(name=c.name, type=c.type, description=c.doc) for c in table.columns
    ])


def _statistics(run_id: str, counts: StreamResult) -> dict[str, OutputDatasetFacet]:
    return {
        # Rows the run wrote: new keys and replaced records; the rest left the table as it was.
        "outputStatistics": output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
            rowCount=counts.inserted + counts.updated),
        LEDGER_FACET: LedgerFacet(
            runId=run_id, extracted=counts.extracted, inserted=counts.inserted, updated=counts.updated,
            unchanged=counts.unchanged, stale=counts.stale, quarantined=counts.quarantined,
            duplicates=counts.duplicates, declaredTotal=counts.declared_total),
    }


def _assertions(checks: list[Mapping]) -> data_quality_assertions_dataset.DataQualityAssertionsDatasetFacet:
    """One assertion per expectation result; `params` are the expectation's arguments (a code set, a
    pattern, the columns it compares), which tell apart two results of one kind on one column."""
    module = data_quality_assertions_dataset
    return module.DataQualityAssertionsDatasetFacet(assertions=[
        module.Assertion(
            assertion=c["expectation"], success=bool(c["success"]), column=c["column_name"],
            severity=_SEVERITY[c["severity"]],
            actual=None if c["unexpected_count"] is None else f"{c['unexpected_count']} of {c['element_count']} rows unexpected",
            params=json.loads(c["kwargs"]) if c["kwargs"] else {},
        )
        for c in checks
    ])
