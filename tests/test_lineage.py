"""OpenLineage events of the load tasks, read back from the file transport the shipped airflow.cfg configures.

The DAGs run in a fresh Python process (this module run as a script), as `airflow dags test` would
run them: the repository's airflow.cfg, the installed OpenLineage provider and its listener, a
throwaway AIRFLOW_HOME and SILOBRIDGE_HOME. A fresh process matters: the provider builds its
client (and so the event file's path) once per process. The tests then read
`$SILOBRIDGE_HOME/lineage/` and compare the events with the store: the run's ledger row
(`etl_run`), its expectation results (`dq_result`) and the tables' columns; and one more run
shows the events going to an HTTP endpoint (as Marquez's) when the transport says so.
"""

import json
import os
import subprocess
import sys
import threading
import uuid
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import sqlalchemy as sa

from loaders.engine import make_engine
from pipeline.config import Settings
from pipeline.lineage import input_datasets, output_datasets, store_dataset
from pipeline.specs import load_spec
from schemas.tables import SERVICE_CASE, SERVICE_EVALUATION
from simulators.market_api import MarketApi
from simulators.police_outbox import write_batch
from tests.clear_numbers import assert_nowhere_in_clear
from tests.handmade import PERSON_ID, PERSON_ID_X, case_row, eval_row, write_drop
from tests.test_api_sources import market_case, market_eval
from tests.test_hrss_contract import rows
from tests.test_police_source import case as police_case, evaluation as police_evaluation

REPO = Path(__file__).resolve().parent.parent
DAGS = REPO / "dags"
PII_KEY = "lineage-test-pii-key-0123456789abcdef"
STORE_PASSWORD = "store-pw-Zq81lineage"
EXCHANGE_PASSWORD = "exchange-pw-Kx42lineage"
MARKET_SECRET = "market-secret-Mv77lineage"
PHONES = ("13812345678", "13800001111", "13912345678")  # the handmade, police and market records' phone numbers


# -- names, without Airflow -------------------------------------------------------------------------


def test_store_and_exchange_tables_are_named_by_the_openlineage_conventions_without_credentials(tmp_path):
    assert store_dataset(f"postgresql+psycopg://loader:{STORE_PASSWORD}@db.example:6543/platform?sslmode=require",
                         "service_case") == ("postgres://db.example:6543", "platform.public.service_case")
    assert store_dataset("postgresql://loader@db.example/platform", "service_case") == \
        ("postgres://db.example:5432", "platform.public.service_case")
    assert store_dataset(f"mysql+pymysql://reader:{EXCHANGE_PASSWORD}@exchange-db:3307/medins", "EX_CASE") == \
        ("mysql://exchange-db:3307", "medins.EX_CASE")
    assert store_dataset(f"sqlite:///{tmp_path / 'store.db'}", "service_evaluation") == \
        (f"sqlite://{tmp_path / 'store.db'}", "main.service_evaluation")


def test_api_sources_name_each_endpoint_they_read_under_the_servers_origin(tmp_path):
    market = Settings.resolve(store_url=f"sqlite:///{tmp_path / 's.db'}", connections={"silobridge_market": {
        "uri": f"https://client:{MARKET_SECRET}@gateway.example/market/"}})
    assert [(d.namespace, d.name) for d in input_datasets(load_spec("market"), market)] == [
        ("https://gateway.example:443", "/market/api/v2/bj"), ("https://gateway.example:443", "/market/api/v2/pj")]
    # tax's evaluations come nested in its cases: one endpoint read.
    tax = Settings.resolve(store_url=f"sqlite:///{tmp_path / 's.db'}", connections={"silobridge_tax": {
        "conn_type": "http", "host": "tax-gateway.example", "port": 8443, "schema": "https",
        "login": "app", "password": "app-secret"}})
    assert [(d.namespace, d.name) for d in input_datasets(load_spec("tax"), tax)] == [
        ("https://tax-gateway.example:8443", "/open/v1/cases")]
    outputs = output_datasets(load_spec("tax"), tax)
    assert [d.name for d in outputs] == ["main.service_case", "main.service_evaluation"]
    assert all(not d.outputFacets for d in outputs), "no counts before the run"


# -- events of real DAG runs --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def market_api():
    """The market system serving a case and its evaluation on 127.0.0.1 for the whole module."""
    api = MarketApi([market_case("SBL1", 1, SQRLX="GR", SQRMC="欧阳小明", SQRZJLX="SFZ", SQRZJHM=PERSON_ID_X)],
                    [market_eval("PJL1", "SBL1", 40)], client_secret=MARKET_SECRET)
    with api.serve() as server:
        yield server


@pytest.fixture(scope="module")
def module_pg_url():
    """A fresh PostgreSQL database for the module's DAG runs, dropped afterwards (conftest's pg_url, module-wide)."""
    admin = sa.create_engine(os.environ.get("SILOBRIDGE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"),
                             isolation_level="AUTOCOMMIT")
    name = f"silobridge_lineage_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
    except sa.exc.OperationalError as exc:
        message = f"PostgreSQL at {admin.url.render_as_string()} is not reachable ({type(exc).__name__}); this test needs it"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}, and CI=true makes it mandatory")
        pytest.skip(message)
    yield admin.url.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.dispose()


@pytest.fixture(scope="module")
def airflow_runs(tmp_path_factory, module_pg_url, market_api):
    """Five loads run through Airflow with lineage on: hrss and a failing medins into PostgreSQL (the store's
    URL with a password), police (twice) and market into SQLite. Returns what the tests need to know."""
    tmp = tmp_path_factory.mktemp("lineage")
    home = tmp / "home"
    pg_store = sa.make_url(module_pg_url).set(password=STORE_PASSWORD).render_as_string(hide_password=False)
    sqlite_store = f"sqlite:///{tmp / 'store.db'}"

    drop = tmp / "hrss-drop"
    write_drop(drop, "HRSS_BJ_20261005.csv", [
        *(case_row(f"LC{i}") for i in range(10)),
        # accepted without an accept time: loaded, and the expectation says so (a warning)
        case_row("LC10", status="已受理"),
        case_row("LC11", cert="340603199003070023"),  # a wrong check digit: quarantined (1 of 12, under hrss's 10%)
    ])
    write_drop(drop, "HRSS_PJ_20261005.csv", [eval_row("PL1", "LC1"), eval_row("PL2", "LC2", score="3")])
    outbox = tmp / "police-outbox"
    write_batch(outbox, 1, date(2026, 10, 5), [police_case("GAL1")], [police_evaluation("PJG1", "GAL1")])
    # Due a day later: GAL1 completed (an update) and a new case.
    write_batch(outbox, 2, date(2026, 10, 6), [
        police_case("GAL1", BJZT="03", BJSJ="2026-10-06T10:00:00+08:00", GXSJ="2026-10-06T10:00:00+08:00"),
        police_case("GAL2", GXSJ="2026-10-06T11:00:00+08:00")], [])

    host, port = market_api.url.removeprefix("http://").split(":")
    market_conn = json.dumps({"conn_type": "http", "host": host, "port": int(port), "schema": "http",
                              "login": "silobridge", "password": MARKET_SECRET})
    # A closed port: the exchange database refuses the connection and the run fails.
    medins_conn = f"mysql+pymysql://reader:{EXCHANGE_PASSWORD}@127.0.0.1:1/medins"
    plan = [
        {"dag_id": "hrss_sync", "logical_date": "2026-10-06T02:00:00+08:00", "env": {
            "AIRFLOW_CONN_SILOBRIDGE_STORE": pg_store,
            "AIRFLOW_CONN_SILOBRIDGE_HRSS": json.dumps({"conn_type": "fs", "extra": {"path": str(drop)}})}},
        {"dag_id": "police_sync", "logical_date": "2026-10-06T02:30:00+08:00", "env": {
            "AIRFLOW_CONN_SILOBRIDGE_STORE": sqlite_store,
            "AIRFLOW_CONN_SILOBRIDGE_POLICE": json.dumps({"conn_type": "fs", "extra": {"path": str(outbox)}})}},
        {"dag_id": "police_sync", "logical_date": "2026-10-07T02:30:00+08:00", "env": {}},
        {"dag_id": "market_sync", "logical_date": "2026-10-06T00:05:00+08:00", "env": {
            "AIRFLOW_CONN_SILOBRIDGE_STORE": sqlite_store, "AIRFLOW_CONN_SILOBRIDGE_MARKET": market_conn}},
        {"dag_id": "medins_sync", "logical_date": "2026-10-06T00:15:00+08:00", "env": {
            "AIRFLOW_CONN_SILOBRIDGE_STORE": pg_store, "AIRFLOW_CONN_SILOBRIDGE_MEDINS": medins_conn}},
    ]
    states = _in_airflow(plan, airflow_home=tmp / "airflow", home=home, work=tmp)
    assert states == ["success"] * 4 + ["failed"]
    return {"home": home, "pg_store": pg_store, "sqlite_store": sqlite_store, "drop": drop, "outbox": outbox,
            "market": market_api.url, "airflow_home": tmp / "airflow"}


def _in_airflow(plan: list[dict], *, airflow_home: Path, home: Path, work: Path, env: dict | None = None) -> list[str]:
    """Runs the plan's DAG runs in a fresh process (see `_run_dags`) with the repository's airflow.cfg and
    nothing of this process's Airflow or OpenLineage settings; returns each DAG run's final state."""
    plan_file, states_file = work / "plan.json", work / "states.json"
    plan_file.write_text(json.dumps(plan), encoding="utf-8")
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("AIRFLOW_CONN_", "AIRFLOW_VAR_", "OPENLINEAGE", "AIRFLOW__OPENLINEAGE"))}
    clean.update(AIRFLOW_HOME=str(airflow_home), AIRFLOW_CONFIG=str(REPO / "airflow.cfg"),
                 AIRFLOW__CORE__DAGS_FOLDER=str(DAGS), SILOBRIDGE_HOME=str(home), SILOBRIDGE_PII_KEY=PII_KEY,
                 **(env or {}))
    done = subprocess.run([sys.executable, "-m", "tests.test_lineage", str(plan_file), str(states_file)],
                          cwd=REPO, env=clean, capture_output=True, text=True, timeout=540)
    assert done.returncode == 0, f"the DAG runs did not finish:\n{done.stdout[-3000:]}\n{done.stderr[-6000:]}"
    return json.loads(states_file.read_text(encoding="utf-8"))


def _loads(home: Path) -> dict[str, list[list[dict]]]:
    """Per load task (`<dag_id>.load`), the events of each of its runs (one OpenLineage run id), in time order."""
    events = [json.loads(f.read_text(encoding="utf-8")) for f in (home / "lineage").glob("events-*.json")]
    runs: dict[str, dict[str, list[dict]]] = {}
    for event in sorted(events, key=lambda e: e["eventTime"]):
        if event["job"]["name"].endswith(".load"):
            runs.setdefault(event["job"]["name"], {}).setdefault(event["run"]["runId"], []).append(event)
    return {job: list(by_run.values()) for job, by_run in runs.items()}


def _names(datasets: list[dict]) -> list[tuple[str, str]]:
    return [(d["namespace"], d["name"]) for d in datasets]


def _assert_counts_and_checks(event: dict, store_url: str) -> str:
    """Each output's counts are its run's etl_run row, its assertions the run's dq_result rows; returns the run id."""
    run_ids = {o["outputFacets"]["silobridge_ledger"]["runId"] for o in event["outputs"]}
    assert len(run_ids) == 1, run_ids
    run_id = run_ids.pop()
    ledger = {r["stream"]: r for r in rows(store_url, "SELECT * FROM etl_run WHERE run_id = :run_id", run_id=run_id)}
    for output, stream in zip(event["outputs"], ("cases", "evaluations"), strict=True):
        row = ledger[stream]
        assert row["status"] == "success"
        facet = output["outputFacets"]["silobridge_ledger"]
        for count in ("extracted", "inserted", "updated", "unchanged", "stale", "quarantined", "duplicates"):
            assert facet[count] == row[count], (stream, count)
        assert facet["declaredTotal"] == row["declared_total"]
        assert output["outputFacets"]["outputStatistics"]["rowCount"] == row["inserted"] + row["updated"]

        checks = rows(store_url, "SELECT * FROM dq_result WHERE run_id = :run_id AND stream = :stream "
                      "ORDER BY result_id", run_id=run_id, stream=stream)
        # A stream without rows in the run was not checked: no results, no facet.
        assertions = output["facets"]["dataQualityAssertions"]["assertions"] if checks else []
        assert ("dataQualityAssertions" in output["facets"]) == bool(checks)
        assert [(a["assertion"], a["column"], a["success"], a["severity"]) for a in assertions] == \
            [(c["expectation"], c["column_name"], bool(c["success"]),
              {"error": "error", "warning": "warn"}[c["severity"]]) for c in checks]
        assert [a["params"] for a in assertions] == [json.loads(c["kwargs"]) for c in checks]
        assert [a.get("actual") for a in assertions] == [
            None if c["unexpected_count"] is None else f"{c['unexpected_count']} of {c['element_count']} rows unexpected"
            for c in checks]
    return run_id


def _assert_schema(output: dict, store_url: str, table) -> None:
    fields = output["facets"]["schema"]["fields"]
    assert [(f["name"], f["type"]) for f in fields] == [(c.name, c.type) for c in table.columns]
    engine = make_engine(store_url)
    try:
        stored = {c["name"] for c in sa.inspect(engine).get_columns(table.name)}
    finally:
        engine.dispose()
    assert {f["name"] for f in fields} == stored, "the schema facet differs from the table in the store"


def test_each_load_emits_one_start_and_one_complete_naming_what_it_read_and_wrote(airflow_runs):
    loads = _loads(airflow_runs["home"])
    pg = sa.make_url(airflow_runs["pg_store"])
    pg_outputs = [("postgres://127.0.0.1:5432", f"{pg.database}.public.{t}") for t in ("service_case", "service_evaluation")]
    sqlite_path = airflow_runs["sqlite_store"].removeprefix("sqlite:///")
    sqlite_outputs = [(f"sqlite://{sqlite_path}", f"main.{t}") for t in ("service_case", "service_evaluation")]
    expected = {
        "hrss": ([("file", str(airflow_runs["drop"]))], pg_outputs, airflow_runs["pg_store"]),
        "police": ([("file", str(airflow_runs["outbox"]))], sqlite_outputs, airflow_runs["sqlite_store"]),
        "market": ([(airflow_runs["market"], "/api/v2/bj"), (airflow_runs["market"], "/api/v2/pj")],
                   sqlite_outputs, airflow_runs["sqlite_store"]),
    }
    completes = {}
    for source, (inputs, outputs, store) in expected.items():
        run_ids = set()
        for events in loads[f"{source}_sync.load"]:
            assert [e["eventType"] for e in events] == ["START", "COMPLETE"], source
            start, complete = events
            for event in events:
                assert _names(event["inputs"]) == inputs, source
                assert _names(event["outputs"]) == outputs, source
                for output, table in zip(event["outputs"], (SERVICE_CASE, SERVICE_EVALUATION), strict=True):
                    _assert_schema(output, store, table)
            assert not any(o["outputFacets"] for o in start["outputs"]), "a START cannot know the run's counts"
            run_ids.add(_assert_counts_and_checks(complete, store))
            completes.setdefault(source, []).append(complete)
        # One START and one COMPLETE per load: as many as the ledger has runs of the source, and the same runs.
        ledger_runs = {r["run_id"] for r in rows(store, "SELECT run_id FROM etl_run WHERE source = :s", s=source)}
        assert run_ids == ledger_runs, source
    assert [len(completes[s]) for s in ("hrss", "police", "market")] == [1, 2, 1]

    # The counts are the run's own: hrss quarantined a record; police's second load updated a case.
    hrss_cases = completes["hrss"][0]["outputs"][0]
    assert hrss_cases["outputFacets"]["silobridge_ledger"]["quarantined"] == 1
    second_police = completes["police"][1]["outputs"][0]["outputFacets"]
    assert (second_police["silobridge_ledger"]["updated"], second_police["silobridge_ledger"]["inserted"]) == (1, 1)
    assert second_police["outputStatistics"]["rowCount"] == 2
    # An accepted case without accept time was loaded: its expectation failed, as a warning.
    check = next(a for a in hrss_cases["facets"]["dataQualityAssertions"]["assertions"]
                 if a["column"] == "accept_time" and a["assertion"] == "expect_column_values_to_be_in_set")
    assert (check["success"], check["severity"], check["actual"]) == (False, "warn", "1 of 1 rows unexpected")


def test_a_failed_load_emits_start_and_fail_with_its_source_and_tables_and_no_counts(airflow_runs):
    [events] = _loads(airflow_runs["home"])["medins_sync.load"]
    assert [e["eventType"] for e in events] == ["START", "FAIL"]
    pg = sa.make_url(airflow_runs["pg_store"])
    for event in events:
        assert _names(event["inputs"]) == [("mysql://127.0.0.1:1", "medins.EX_CASE"),
                                           ("mysql://127.0.0.1:1", "medins.EX_EVALUATE")]
        assert _names(event["outputs"]) == [("postgres://127.0.0.1:5432", f"{pg.database}.public.service_case"),
                                            ("postgres://127.0.0.1:5432", f"{pg.database}.public.service_evaluation")]
        assert not any(o["outputFacets"] for o in event["outputs"])
    failed = rows(airflow_runs["pg_store"], "SELECT * FROM etl_run WHERE source = 'medins'")
    assert failed and {r["status"] for r in failed} == {"failed"}
    assert failed[0]["run_id"] in events[1]["run"]["facets"]["errorMessage"]["message"]


def test_no_event_holds_a_secret_or_a_personal_number(airflow_runs):
    texts = [p.read_text(encoding="utf-8") for p in sorted((airflow_runs["home"] / "lineage").iterdir())]
    assert texts, "no event was written"
    for secret in (STORE_PASSWORD, EXCHANGE_PASSWORD, MARKET_SECRET, PII_KEY):
        assert not any(secret in text for text in texts), "a secret is in the lineage events"
    assert_nowhere_in_clear(airflow_runs["pg_store"], [PERSON_ID, PERSON_ID_X, *PHONES], texts)
    assert_nowhere_in_clear(airflow_runs["sqlite_store"], [PERSON_ID, PERSON_ID_X, *PHONES], texts)


class _Collector(BaseHTTPRequestHandler):
    """An OpenLineage HTTP endpoint (as Marquez's /api/v1/lineage) that keeps what it is sent."""

    received: list[tuple[str, dict]] = []

    def do_POST(self):  # noqa: N802 - the http.server API
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, json.loads(body)))
        self.send_response(201)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_events_go_to_an_http_endpoint_such_as_marquez_when_configured(airflow_runs, tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    outbox, home = tmp_path / "outbox", tmp_path / "home"
    write_batch(outbox, 1, date(2026, 10, 5), [police_case("GAH1")], [])
    transport = {"type": "http", "url": f"http://127.0.0.1:{server.server_address[1]}", "endpoint": "api/v1/lineage"}
    try:
        states = _in_airflow([{"dag_id": "police_sync", "logical_date": "2026-10-06T02:30:00+08:00", "env": {
            "AIRFLOW_CONN_SILOBRIDGE_STORE": f"sqlite:///{tmp_path / 'store.db'}",
            "AIRFLOW_CONN_SILOBRIDGE_POLICE": json.dumps({"conn_type": "fs", "extra": {"path": str(outbox)}})}}],
            airflow_home=airflow_runs["airflow_home"], home=home, work=tmp_path,
            env={"AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(transport)})
    finally:
        server.shutdown()
        server.server_close()
    assert states == ["success"]
    loads = [(path, event) for path, event in _Collector.received if event["job"]["name"] == "police_sync.load"]
    assert [(path, event["eventType"]) for path, event in loads] == [("/api/v1/lineage", "START"),
                                                                     ("/api/v1/lineage", "COMPLETE")]
    assert _names(loads[1][1]["inputs"]) == [("file", str(outbox))]
    assert not (home / "lineage").exists(), "with an HTTP transport configured, no event file is written"


# -- the DAG runs, in a fresh process -------------------------------------------------------------


def _run_dags(plan: list[dict]) -> list[str]:
    """Airflow's metadata DB, then each planned DAG run through dag.test(), with that run's connections."""
    import pendulum
    from airflow.dag_processing.dagbag import BundleDagBag
    from airflow.utils import db
    from airflow.utils.state import DagRunState

    db.upgradedb()
    bag = BundleDagBag(dag_folder=DAGS, bundle_path=DAGS, bundle_name="dags-folder")
    states = []
    for step in plan:
        os.environ.update(step["env"])
        dag = bag.dags[step["dag_id"]]
        for task in dag.tasks:
            task.retries = 0  # a failing load fails at once instead of waiting out its retry delays
        moment = pendulum.parse(step["logical_date"])
        states.append(DagRunState(dag.test(logical_date=moment, run_after=moment).state).value)
    return states


if __name__ == "__main__":
    plan_file, states_file = map(Path, sys.argv[1:3])
    states_file.write_text(json.dumps(_run_dags(json.loads(plan_file.read_text(encoding="utf-8")))), encoding="utf-8")
