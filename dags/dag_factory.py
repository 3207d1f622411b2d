"""One Airflow DAG per source spec: thin, scheduled, calling pipeline.runner.

The DAG holds no logic: its one task resolves the settings from what Airflow
knows (connections, variables) and hands the run's data interval to
`pipeline.runner.run_source`, the same function the command line and the
tests call. State lives in the store, not in Airflow; the task returns only
the run's small summary (counts, run id) as its XCom.

Parsing this file must stay cheap: the pipeline is imported inside the task.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

import pendulum
from airflow.sdk import DAG, Asset, AssetAny, Connection, CronDataIntervalTimetable, Variable, task
from airflow.sdk.exceptions import AirflowNotFoundException
from lineage_task import load_task  # lineage (OpenLineage); dags/ is on sys.path

if TYPE_CHECKING:
    from pipeline.config import Settings
    from pipeline.specs import SourceSpec

SCHEDULE_TZ = "Asia/Shanghai"
STORE_CONN_ID = "silobridge_store"
PII_KEY_VARIABLE = "silobridge_pii_key"

DEFAULT_ARGS = {
    "owner": "silobridge",
    "retries": 2,
    "retry_delay": timedelta(minutes=5),
    # Airflow 3 takes a multiplier here (True would mean 1.0: no backoff): 5 min, then 10 min.
    "retry_exponential_backoff": 2.0,
}


def dag_id_for(source: str) -> str:
    return f"{source}_sync"


def build_source_dag(spec: SourceSpec) -> DAG:
    """The DAG `<name>_sync` for one source spec; each run owns the data interval [start, end)."""
    source = spec.name
    with DAG(
        dag_id=dag_id_for(source),
        description=spec.title,
        doc_md=_doc_md(spec),
        schedule=CronDataIntervalTimetable(spec.schedule, timezone=SCHEDULE_TZ),
        start_date=pendulum.datetime(
            spec.start_date.year, spec.start_date.month, spec.start_date.day, tz=SCHEDULE_TZ
        ),
        catchup=False,
        max_active_runs=1,
        default_args=DEFAULT_ARGS,
        tags=list(dict.fromkeys(["silobridge", source, *spec.tags])),
    ) as dag:

        outlets = table_assets(source)

        # multiple_outputs=False: a `-> dict` task would otherwise push one XCom per key besides return_value.
        # -- lineage (OpenLineage): `@task` plus the methods through which the provider learns what
        #    the run read and wrote (dags/lineage_task.py); lineage_of is called in its listener.
        @load_task(lineage_of=lambda: (spec, resolve_settings(source, spec.conn_id)),
                   task_id="load", multiple_outputs=False, outlets=list(outlets.values()))
        # -- end lineage
        def load(data_interval_start=None, data_interval_end=None, outlet_events=None) -> dict:
            """Load what became due in this run's data interval; return the run's summary."""
            from pipeline.runner import run_source

            window = None
            if data_interval_start is not None and data_interval_end is not None:
                window = (_utc(data_interval_start), _utc(data_interval_end))
            settings = resolve_settings(source, spec.conn_id)
            result = run_source(source, settings, window=window)
            # Each table's asset event carries what the run did to it.
            for stream, asset in outlets.items():
                counts = result.streams[stream]
                outlet_events[asset].extra = {"run_id": result.run_id, "inserted": counts.inserted,
                                              "updated": counts.updated, "quarantined": counts.quarantined}
            return result.as_dict()

        load()
    return dag


def table_assets(source: str) -> dict[str, Asset]:
    """The unified tables a source's runs change, one Asset per table and source."""
    return {stream: Asset(name=f"{table}.{source}", uri=f"silobridge://store/{table}/{source}", group="silobridge")
            for stream, table in (("cases", "service_case"), ("evaluations", "service_evaluation"))}


def build_quality_report_dag(specs: list[SourceSpec]) -> DAG:
    """`quality_report`: rebuilds the auditors' report and GX Data Docs whenever any source changed a table."""
    assets = [a for spec in specs for a in table_assets(spec.name).values()]
    with DAG(
        dag_id="quality_report",
        description="auditors' report and Data Docs, rebuilt when the unified tables change",
        doc_md="Rebuilds `$SILOBRIDGE_HOME/reports/silobridge-report.html` (the auditors' report) and the "
               "GX Data Docs under `$SILOBRIDGE_HOME/quality/data_docs` after any `<source>_sync` run "
               "changed `service_case` or `service_evaluation` (scheduled on their Assets).",
        schedule=AssetAny(*assets),
        start_date=pendulum.datetime(2026, 1, 1, tz=SCHEDULE_TZ),
        catchup=False,
        max_active_runs=1,
        default_args=DEFAULT_ARGS,
        tags=["silobridge", "quality"],
    ) as dag:

        @task(task_id="rebuild")
        def rebuild() -> dict:
            from pipeline.reports import refresh

            return {name: str(path) for name, path in refresh(resolve_settings("quality", "silobridge_store")).items()}

        rebuild()
    return dag


def resolve_settings(source: str, conn_id: str) -> Settings:
    """Settings from Airflow's connections and variables where defined, else the environment.

    - store: connection `silobridge_store` (its URI), else Settings' own resolution;
    - PII key: variable `silobridge_pii_key`, else SILOBRIDGE_PII_KEY;
    - the source: connection `conn_id` (a drop folder's fs connection, an API's http connection, a database's),
      else AIRFLOW_CONN_<ID> from the environment, else (file drops) the spec's default folder.
    Must run inside a task: connections and variables come through the task's supervisor.
    """
    from pipeline.config import Settings

    conn = _source_connection(conn_id)
    settings = Settings.resolve(
        store_url=_store_url_from_connection(),
        pii_key=Variable.get(PII_KEY_VARIABLE, default=None),
        connections={conn_id: conn} if conn is not None else None,
    )
    _mask(settings.pii_key.secret.decode("utf-8"))  # from the variable or the environment: never in task logs
    return settings


def _store_url_from_connection() -> str | None:
    try:
        conn = Connection.get(STORE_CONN_ID)
    except AirflowNotFoundException:
        return None
    if conn.conn_type == "sqlite":
        # Connection.get_uri() percent-encodes a SQLite path into something SQLAlchemy
        # reads as a relative file name (or a host, i.e. an in-memory database):
        # rebuild the URL from the parsed path instead.
        path = conn.host or conn.schema
        if not path:
            from pipeline.config import ConfigError

            raise ConfigError(
                f"The Airflow connection {STORE_CONN_ID} is a sqlite connection without a database path: "
                "give it as a URI, e.g. AIRFLOW_CONN_SILOBRIDGE_STORE='sqlite:////srv/silobridge/store.db'."
            )
        return f"sqlite:///{path}"
    return conn.get_uri()


def _source_connection(conn_id: str) -> dict | None:
    """The source's Airflow connection as plain fields; the pipeline reads what its kind needs from them."""
    try:
        conn = Connection.get(conn_id)
    except AirflowNotFoundException:
        return None
    return {"conn_type": conn.conn_type, "host": conn.host, "port": conn.port, "schema": conn.schema,
            "login": conn.login, "password": conn.password, "extra": conn.extra_dejson}


def _mask(secret: str) -> None:
    from airflow.sdk.log import mask_secret

    mask_secret(secret)


def _utc(moment: datetime) -> datetime:
    """A plain, aware UTC datetime (Airflow hands over pendulum DateTimes)."""
    return datetime.fromtimestamp(moment.timestamp(), tz=timezone.utc)


def _doc_md(spec: SourceSpec) -> str:
    folder = f"`$SILOBRIDGE_HOME/{spec.default_folder}`" if spec.default_folder else "none (the connection is required)"
    return f"""\
### {spec.title}

Loads source **`{spec.name}`** ({spec.kind}) into the unified store, one run per data interval.

- **Schedule:** `{spec.schedule}` (cron, {SCHEDULE_TZ}); each run owns the data interval
  `[data_interval_start, data_interval_end)` and loads what became due in it.
  Runs never overlap (max_active_runs = 1); no catch-up; retries twice (5 min, then 10 min).
- **Source connection `{spec.conn_id}`:** an `fs` connection whose extra `path` is the drop folder, e.g.
  `AIRFLOW_CONN_{spec.conn_id.upper()}='{{"conn_type": "fs", "extra": {{"path": "/data/{spec.name}"}}}}'`.
  Without it: {folder}.
- **Store connection `{STORE_CONN_ID}`** (optional): the store's URL, SQLite
  (`sqlite:////abs/path/store.db`) or PostgreSQL (`postgresql://user:pass@host:5432/db`).
  Without it: `AIRFLOW_CONN_SILOBRIDGE_STORE` from the environment, else `$SILOBRIDGE_HOME/silobridge.db`.
- **Secrets:** the pseudonymization key, Airflow variable `{PII_KEY_VARIABLE}` or the environment
  variable `SILOBRIDGE_PII_KEY` (required; keep it unchanged for the life of the store);
  optionally `SILOBRIDGE_QUARANTINE_KEY` (a Fernet key for quarantined raw records,
  derived from the PII key when unset).
- **Result:** the run's ledger row in `etl_run` (the XCom `return_value` is a short summary with the counts).
"""
