"""All five sources on a real Airflow 3 scaled out: CeleryExecutor with two workers, Redis as the broker,
PostgreSQL as Airflow's metadata database and as the store — what `make airflow EXECUTOR=celery` starts.

Scheduled runs of every source, a manual run and a backfill of hrss go at once; the ledger then shows that
no two runs of one source overlapped, and the store equals a sequential run over the same deliveries.
"""

import contextlib
import json
import secrets
import socket
import uuid
from collections import defaultdict

import pendulum
import pytest
import sqlalchemy as sa

from loaders.engine import make_engine
from loaders.schema import upgrade
from tests.airflow_live import TEST_PII_KEY, LiveAirflow, ledger, require, store_rows
from tests.conftest import PG_ADMIN_URL

BEIJING = "Asia/Shanghai"
MONTH = "2026-10"
HRSS_DAYS = ("2026-10-12", "2026-10-13", "2026-10-14")
SOURCES = ("hrss", "market", "tax", "medins", "police")
# The exchange database's quirks but its unknown codes (a tiny month would cross medins' 5 % error limit).
MEDINS_BEHAVIOURS = ("bulk_seconds", "re_reports", "out_of_order", "deletions", "null_accept_time", "zero_dates")


@contextlib.contextmanager
def postgres_database(purpose: str):
    """A fresh PostgreSQL database (a URL the store and Airflow both read), dropped afterwards."""
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"silobridge_test_{purpose}_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()


@pytest.fixture
def services():
    require("PostgreSQL at 127.0.0.1:5432", lambda: sa.create_engine(PG_ADMIN_URL).connect().close())
    require("Redis at 127.0.0.1:6379", lambda: socket.create_connection(("127.0.0.1", 6379), timeout=3).close())


@pytest.fixture
def departments(tmp_path):
    """Each department's small month, twice where the pipeline consumes it (files move to archive/)."""
    from simulators import medins_db
    from simulators.hrss import write_day
    from simulators.market_api import MarketApi, month_records
    from simulators.police_outbox import write_month
    from simulators.tax_api import TaxApi, month_cases

    inputs = {}
    for copy in ("airflow", "sequential"):
        home = tmp_path / f"deliveries-{copy}"
        for day in HRSS_DAYS:
            write_day(home / "hrss", day, seed=7, cases_per_month=120)
        month = tmp_path / f"police-month-{copy}"
        write_month(month, MONTH, seed=7, batches_per_day=1, cases_per_day=3)
        (home / "police").mkdir()
        for day in HRSS_DAYS:
            for path in month.glob(f"GA_{day.replace('-', '')}_*"):
                path.rename(home / "police" / path.name)
        medins = home / "medins.db"
        medins_db.generate_month(url=f"sqlite:///{medins}", month=MONTH, seed=7, cases_per_month=60,
                                 behaviours=MEDINS_BEHAVIOURS)
        inputs[copy] = {"hrss": home / "hrss", "police": home / "police", "medins": medins}
    cases, evaluations = month_records(MONTH, 7, cases_per_month=80)
    with MarketApi(cases, evaluations).serve() as market, TaxApi(month_cases(MONTH, 7, cases_per_month=60)).serve() as tax:
        yield inputs, {"market": market, "tax": tax}


def _connections(inputs: dict, servers: dict) -> dict[str, str]:
    def http(server, login, password):
        host, port = server.url.removeprefix("http://").split(":")
        return json.dumps({"conn_type": "http", "host": host, "port": int(port), "schema": "http",
                           "login": login, "password": password})

    return {
        "AIRFLOW_CONN_SILOBRIDGE_HRSS": json.dumps({"conn_type": "fs", "extra": {"path": str(inputs["hrss"])}}),
        "AIRFLOW_CONN_SILOBRIDGE_POLICE": json.dumps({"conn_type": "fs", "extra": {"path": str(inputs["police"])}}),
        "AIRFLOW_CONN_SILOBRIDGE_MEDINS": json.dumps({"conn_type": "sqlite", "host": str(inputs["medins"])}),
        "AIRFLOW_CONN_SILOBRIDGE_MARKET": http(servers["market"], "silobridge", "market-secret"),
        "AIRFLOW_CONN_SILOBRIDGE_TAX": http(servers["tax"], "silobridge", "tax-secret"),
    }


def test_five_sources_and_a_backfill_on_celery_never_overlap_a_source_and_load_what_a_sequential_run_loads(
        tmp_path, services, departments, monkeypatch):
    inputs, servers = departments
    with postgres_database("airflow") as metadata_db, postgres_database("store") as store_url, \
            postgres_database("sequential") as sequential_url:
        env = {
            **_connections(inputs["airflow"], servers),
            "AIRFLOW_CONN_SILOBRIDGE_STORE": store_url,
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_db,
            # A queue of its own: a `make airflow EXECUTOR=celery` on the same Redis takes none of these tasks.
            "AIRFLOW__OPERATORS__DEFAULT_QUEUE": f"silobridge_test_{secrets.token_hex(4)}",
        }
        # The store's schema first, as `silobridge upgrade` does for a new deployment: this test is about
        # runs of the sources, not about first runs racing to create the schema.
        engine = make_engine(store_url)
        upgrade(engine)
        engine.dispose()
        with LiveAirflow(tmp_path, executor="celery", env=env, args=("--workers", "2")) as airflow:
            dag_ids = [f"{s}_sync" for s in SOURCES]
            airflow.unpause(*dag_ids)  # each DAG's latest scheduled run starts at once
            manual = airflow.trigger("hrss_sync", pendulum.datetime(2026, 10, 15, 3, tz=BEIJING))
            airflow.api("POST", "/backfills", json={
                "dag_id": "hrss_sync", "from_date": "2026-10-12T00:00:00+08:00",
                "to_date": "2026-10-14T23:00:00+08:00", "max_active_runs": 3})
            runs = airflow.wait_all_finished(dag_ids, timeout=300)
            worker_logs = {n: (airflow.home / "var" / "airflow" / "logs" / "processes" / f"worker-{n}.log").read_text()
                           for n in (1, 2)}

        for dag_id, dag_runs in runs.items():
            assert all(r["state"] == "success" for r in dag_runs), f"{dag_id}: {dag_runs}"
            assert any(r["run_type"] == "scheduled" for r in dag_runs), f"{dag_id} had no scheduled run"
        hrss_types = sorted(r["run_type"] for r in runs["hrss_sync"])
        assert hrss_types == ["backfill", "backfill", "backfill", "manual", "scheduled"], hrss_types
        assert manual in {r["dag_run_id"] for r in runs["hrss_sync"]}
        for n, text in worker_logs.items():
            assert "execute_workload" in text, f"worker {n} ran no task: the two workers should share the load"

        # At most one run per source at any time, whatever started it: the ledger's times do not overlap.
        rows = ledger(store_url)
        assert all(r["status"] == "success" for r in rows), [r for r in rows if r["status"] != "success"]
        spans = defaultdict(dict)
        for r in rows:
            spans[r["source"]][r["run_id"]] = (r["started_at"], r["finished_at"])
        assert set(spans) == set(SOURCES)
        assert len(spans["hrss"]) == 5, "each hrss run leaves its ledger rows"
        for source, by_run in spans.items():
            ordered = sorted(by_run.values())
            for (_, finished), (started, _) in zip(ordered, ordered[1:]):
                assert finished <= started, f"two {source} runs overlapped: one ended {finished}, the next began {started}"

        # The same deliveries loaded one source after another, in this process, give the same store.
        _sequential_run(inputs["sequential"], servers, sequential_url, monkeypatch)
        for table in ("service_case", "service_evaluation"):
            for source in SOURCES:
                loaded = store_rows(store_url, table, source)
                assert loaded, f"{table} holds nothing from {source}"
                assert loaded == store_rows(sequential_url, table, source), f"{table} of {source} differs"


def _sequential_run(inputs: dict, servers: dict, store_url: str, monkeypatch) -> None:
    from pipeline.config import Settings
    from pipeline.runner import run_source

    for name, value in _connections(inputs, servers).items():
        monkeypatch.setenv(name, value)
    settings = Settings.resolve(store_url=store_url, pii_key=TEST_PII_KEY)
    for source in SOURCES:
        run_source(source, settings)
