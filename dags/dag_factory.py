"""One Airflow DAG per source spec: thin, scheduled, calling pipeline.runner.

The DAG holds no logic: its one task resolves the settings from what Airflow
knows (connections, variables) and hands the run's data interval to
`pipeline.runner.run_source`, the same function the command line and the
tests call. State lives in the store, not in Airflow; the task returns only
the run's small summary (counts, run id) as its XCom.

Parsing this file must stay cheap: the pipeline is imported inside the task.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

import pendulum
from airflow.sdk import DAG, Asset, AssetAlias, AssetAny, Connection, CronDataIntervalTimetable, Variable, task
from airflow.sdk.exceptions import AirflowNotFoundException
from lineage_task import load_task  # lineage (OpenLineage); dags/ is on sys.path

if TYPE_CHECKING:
    from pipeline.config import Settings
    from pipeline.specs import SourceSpec

SCHEDULE_TZ = "Asia/Shanghai"
STORE_CONN_ID = "silobridge_store"
PII_KEY_VARIABLE = "silobridge_pii_key"
CRYPTO_VARIABLE = "silobridge_crypto"

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
    """The DAG `<name>_sync` for one source spec; each run owns the data interval [start, end).

    No start_date: where a source's history starts is the spec's (or the deployment's
    SILOBRIDGE_HISTORY_START_<NAME>) and the task checks each run's interval against it.
    With a DAG start date, Airflow would create no task at all for a manual run before
    it and report that empty run as a success.
    """
    source = spec.name
    with DAG(
        dag_id=dag_id_for(source),
        description=spec.title,
        doc_md=_doc_md(spec),
        schedule=CronDataIntervalTimetable(spec.schedule, timezone=SCHEDULE_TZ),
        catchup=False,
        max_active_runs=1,
        default_args=DEFAULT_ARGS,
        tags=list(dict.fromkeys(["silobridge", source, *spec.tags])),
    ) as dag:

        alias = table_alias(source)

        # multiple_outputs=False: a `-> dict` task would otherwise push one XCom per key besides return_value.
        # -- lineage (OpenLineage): `@task` plus the methods through which the provider learns what
        #    the run read and wrote (dags/lineage_task.py); lineage_of is called in its listener.
        # The pool has one slot: scheduled, manual and backfill runs of a source queue for it in turn.
        @load_task(lineage_of=lambda: (spec, resolve_settings(source, spec.conn_id)),
                   task_id="load", multiple_outputs=False, outlets=[alias], pool=pool_for(source), pool_slots=1)
        # -- end lineage
        def load(data_interval_start=None, data_interval_end=None, outlet_events=None) -> dict:
            """Load what became due in this run's data interval; return the run's summary."""
            from airflow.sdk.exceptions import AirflowFailException

            from pipeline.config import ConfigError
            from pipeline.runner import run_source
            from pipeline.specs import OutsideHistory, check_window, load_spec

            _quiet_third_party()
            window = None
            if data_interval_start is not None and data_interval_end is not None:
                window = (_utc(data_interval_start), _utc(data_interval_end))
            try:
                with history_start_from_variable(source):
                    check_window(load_spec(source), window)
                    result = run_source(source, resolve_settings(source, spec.conn_id), window=window)
            except (ConfigError, OutsideHistory) as exc:
                # A retry cannot fix a setting or a span: fail once, with the sentence that says what to do.
                raise AirflowFailException(str(exc)) from exc
            for asset, extra in changed_tables(source, result):
                outlet_events[alias].add(asset, extra=extra)
            return result.as_dict()

        load()
    return dag


def pool_for(source: str) -> str:
    return f"silobridge_{source}"


@contextmanager
def history_start_from_variable(source: str):
    """The Airflow variable silobridge_history_start_<source>, when set, as the pipeline's own setting.

    The pipeline reads SILOBRIDGE_HISTORY_START_<SOURCE> from the environment (the command
    line does too); a deployment may instead keep it as an Airflow variable, set in the UI.
    The environment, when it has the setting, wins. Restored afterwards: a task process may
    run more than one task.
    """
    from pipeline.specs import history_variable

    name = history_variable(source)
    value = None if os.environ.get(name) else Variable.get(name.lower(), default=None)
    if not value:
        yield
        return
    os.environ[name] = value
    try:
        yield
    finally:
        del os.environ[name]


def table_assets(source: str) -> dict[str, Asset]:
    """The unified tables a source's runs change, one Asset per table and source."""
    return {stream: Asset(name=f"{table}.{source}", uri=f"silobridge://store/{table}/{source}", group="silobridge")
            for stream, table in (("cases", "service_case"), ("evaluations", "service_evaluation"))}


def table_alias(source: str) -> AssetAlias:
    """What a load task declares as its outlet: the tables it changed are attached to it at run time.

    A declared Asset gets an event on every successful run; through the alias a run
    that changed nothing emits none, and `quality_report` is not woken for it.
    """
    return AssetAlias(name=f"silobridge_{source}_tables", group="silobridge")


def changed_tables(source: str, result) -> list[tuple[Asset, dict]]:
    """The tables the run changed rows of or quarantined records for, each with the run's counts."""
    changed = []
    for stream, asset in table_assets(source).items():
        counts = result.streams.get(stream)
        if counts is None:
            continue
        deleted = result.notes.get(f"{stream}_marked_deleted", 0)
        whole = sum(1 for f in result.files if f.get("outcome") == "quarantined" and f.get("stream", stream) == stream)
        if counts.inserted or counts.updated or counts.quarantined or deleted or whole:
            changed.append((asset, {"run_id": result.run_id, "inserted": counts.inserted,
                                    "updated": counts.updated, "quarantined": counts.quarantined,
                                    "marked_deleted": deleted, "files_quarantined": whole}))
    return changed


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
            from airflow.sdk.exceptions import AirflowFailException

            from pipeline.config import ConfigError
            from pipeline.reports import refresh

            _quiet_third_party()
            try:
                settings = resolve_settings("quality", STORE_CONN_ID)
            except ConfigError as exc:
                raise AirflowFailException(str(exc)) from exc
            return {name: str(path) for name, path in refresh(settings).items()}

        rebuild()
    return dag


def resolve_settings(source: str, conn_id: str) -> Settings:
    """Settings from Airflow's connections and variables where defined, else the environment.

    - store: connection `silobridge_store` (its URI), else Settings' own resolution;
    - PII key: variable `silobridge_pii_key`, else SILOBRIDGE_PII_KEY;
    - crypto suite: variable `silobridge_crypto`, else SILOBRIDGE_CRYPTO (the store refuses another one);
    - the source: connection `conn_id` (a drop folder's fs connection, an API's http connection, a database's),
      else AIRFLOW_CONN_<ID> from the environment, else (file drops) the spec's default folder.
    Must run inside a task: connections and variables come through the task's supervisor.
    """
    from pipeline.config import Settings

    conn = _source_connection(conn_id)
    settings = Settings.resolve(
        store_url=_store_url_from_connection(),
        pii_key=Variable.get(PII_KEY_VARIABLE, default=None),
        crypto=Variable.get(CRYPTO_VARIABLE, default=None),
        connections={conn_id: conn} if conn is not None else None,
    )
    # From a variable or the environment: never in task logs (a derived quarantine key is never text anywhere).
    _mask(settings.pii_key.secret.decode("utf-8"))
    configured = (os.environ.get("SILOBRIDGE_QUARANTINE_KEY") or "").strip()
    if configured:
        _mask(configured)
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


def _quiet_third_party() -> None:
    """Task logs are for silobridge's own lines (one per file or page batch, expectation findings).

    Great Expectations announces at INFO every function it registers, Alembic its dialect
    on every run. Airflow's [logging] namespace_levels does not reach these standard-library
    loggers in a task process, so their levels are set here.
    """
    import logging

    for name in ("great_expectations", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _mask(secret: str) -> None:
    from airflow.sdk.log import mask_secret

    mask_secret(secret)


def _utc(moment: datetime) -> datetime:
    """A plain, aware UTC datetime (Airflow hands over pendulum DateTimes)."""
    return datetime.fromtimestamp(moment.timestamp(), tz=timezone.utc)


def _doc_md(spec: SourceSpec) -> str:
    from pipeline.specs import history_start, history_variable

    reads, connection = _KIND_DOCS[spec.kind](spec)
    settings = "connection, " + ("drop folder, " if spec.default_folder else "") + "key, history start"
    return f"""\
### {spec.title}

Loads source **`{spec.name}`** ({spec.kind}) into the unified store, one run per data interval.

- **Schedule:** `{spec.schedule}` (cron, {SCHEDULE_TZ}); each run owns the data interval
  `[data_interval_start, data_interval_end)`. {reads}
  No catch-up; at most one run of `{spec.name}` at a time, however it was started (schedule, manual
  trigger, backfill): the task runs in the pool **`{pool_for(spec.name)}`** of one slot, which must exist
  (`airflow pools set {pool_for(spec.name)} 1 "one {spec.name} run at a time"`; `make airflow` creates it),
  and the store holds a lock per source while a run commits.
- **History:** from {history_start(spec)} (Beijing); a deployment moves it with the environment variable
  `{history_variable(spec.name)}=YYYY-MM-DD` or the Airflow variable `{history_variable(spec.name).lower()}`. `airflow backfill create --dag-id {dag_id_for(spec.name)}
  --from-date … --to-date …` loads a past span; a run whose interval ends before the history starts fails.
- **Source connection `{spec.conn_id}`:** {connection}
- **Store connection `{STORE_CONN_ID}`** (optional): the store's URL, SQLite
  (`sqlite:////abs/path/store.db`) or PostgreSQL (`postgresql://user:pass@host:5432/db`).
  Without it: `AIRFLOW_CONN_SILOBRIDGE_STORE` from the environment, else `$SILOBRIDGE_HOME/silobridge.db`.
- **Secrets:** the pseudonymization key, Airflow variable `{PII_KEY_VARIABLE}` or the environment
  variable `SILOBRIDGE_PII_KEY` (required; keep it unchanged for the life of the store);
  optionally `SILOBRIDGE_QUARANTINE_KEY` (a Fernet key for quarantined raw records,
  derived from the PII key when unset).
- **Failures:** a missing or wrong setting ({settings}) fails the task at once,
  without retries; a source fault (timeout, 5xx) is retried twice (after 5 min, then 10 min).
- **Result:** the run's ledger row in `etl_run` (the XCom `return_value` is a short summary with the counts);
  an Asset event for `service_case.{spec.name}` / `service_evaluation.{spec.name}` when the run changed
  rows of that table or quarantined records for it, which wakes `quality_report`.
"""


def _file_docs(spec: SourceSpec) -> tuple[str, str]:
    folder = f"`$SILOBRIDGE_HOME/{spec.default_folder}`" if spec.default_folder else "none (the connection is required)"
    complete = (f"data files with their `{spec.csv.marker_suffix}` marker" if spec.csv
                else "numbered XML batches with their `.sha256` manifest")
    return (f"It loads the complete deliveries ({complete}) of the days (Beijing) that ended before the "
            f"interval's end, and moves them to `{_archive(spec)}/` in the folder once committed.",
            f"an `fs` connection whose extra `path` is the folder the department delivers into, e.g. "
            f"`AIRFLOW_CONN_{spec.conn_id.upper()}='{{\"conn_type\": \"fs\", \"extra\": {{\"path\": "
            f"\"/data/{spec.name}\"}}}}'`. Without it: {folder}.")


def _archive(spec: SourceSpec) -> str:
    return spec.csv.archive_folder if spec.csv else spec.extract.get("archive_folder", "archive")


def _http_docs(spec: SourceSpec) -> tuple[str, str]:
    credentials = {"bearer_client_credentials": "the OAuth2 client id and secret",
                   "hmac_signed": "the app id and the app secret that signs each request"}
    auth = credentials.get(spec.extract.get("auth", {}).get("kind"), "the API's credentials")
    return ("It reads the records updated from the committed window end (the first run: from the history "
            "start) up to the interval's end, never later than 5 minutes before now.",
            f"an `http` connection: host, port and schema give the API's base URL, login and password are "
            f"{auth}, e.g. `AIRFLOW_CONN_{spec.conn_id.upper()}='https://ID:SECRET@gateway.example:8443'`. "
            "Required.")


def _sql_docs(spec: SourceSpec) -> tuple[str, str]:
    lag = spec.extract.get("lag_seconds")
    return (f"It reads the rows changed after its committed cursor ({spec.extract.get('cursor_column')}, id) up "
            f"to the interval's end{f' and {lag} s before the database clock' if lag else ''}.",
            f"the exchange database as any SQLAlchemy URL with a read-only account, e.g. "
            f"`AIRFLOW_CONN_{spec.conn_id.upper()}='mysql+pymysql://reader:PASSWORD@exchange-db:3306/{spec.name}'`. "
            "Required.")


_KIND_DOCS = {"csv_drop": _file_docs, "xml_batches": _file_docs, "http_api": _http_docs, "sql": _sql_docs}
