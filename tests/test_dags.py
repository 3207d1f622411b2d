"""The DAG files through Airflow itself: parsing, schedule, settings resolution, and a dag.test() run.

Airflow runs with the repository's airflow.cfg and dags/ but a throwaway
AIRFLOW_HOME (tests/conftest.py sets it before Airflow is first imported), so
its metadata DB lives in a temporary folder, never in the developer's var/.
"""

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pendulum
import pytest
import sqlalchemy as sa

from loaders.engine import make_engine
from pipeline.staging import drop_folder
from pipeline.specs import load_spec, load_specs

pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient` is deprecated")

DAGS = Path(__file__).resolve().parent.parent / "dags"
BEIJING = "Asia/Shanghai"
TEST_PII_KEY = "dag-test-pii-key-fixed-0123456789"


def _bag():
    """The DAG files parsed as Airflow's DAG processor parses them (dags/ on sys.path)."""
    from airflow.dag_processing.dagbag import BundleDagBag

    return BundleDagBag(dag_folder=DAGS, bundle_path=DAGS, bundle_name="dags-folder")


def _scheduler_timetable(dag):
    """The timetable the scheduler works with: the DAG serialized and read back, as the scheduler reads it."""
    from airflow.serialization.serialized_objects import DagSerialization

    return DagSerialization.deserialize_dag(DagSerialization.serialize_dag(dag)).timetable


@pytest.fixture(scope="module")
def bag():
    return _bag()


@pytest.fixture(scope="module")
def hrss_dag(bag):
    assert "hrss_sync" in bag.dags, f"hrss_sync is not among the parsed DAGs {bag.dag_ids}"
    return bag.dags["hrss_sync"]  # not get_dag(): that also consults the metadata DB


def test_the_repository_airflow_cfg_keeps_all_airflow_state_under_var_airflow():
    import os

    from airflow.configuration import conf

    state = f"{os.environ['AIRFLOW_HOME']}/var/airflow/"
    assert os.environ["AIRFLOW_CONFIG"] == str(DAGS.parent / "airflow.cfg")
    assert conf.get("database", "sql_alchemy_conn") == f"sqlite:///{state}airflow.db"
    assert conf.get("logging", "base_log_folder").startswith(state)
    assert conf.get("logging", "dag_processor_child_process_log_directory").startswith(state)
    assert conf.get("core", "simple_auth_manager_passwords_file").startswith(state)
    assert conf.get("core", "default_timezone") == BEIJING
    assert conf.getboolean("core", "load_examples") is False


def test_every_dag_file_imports_without_errors_and_each_spec_has_its_dag(bag):
    assert bag.import_errors == {}
    parsed = {Path(path).name for path in bag.file_last_changed}
    assert parsed == {p.name for p in DAGS.glob("*.py")}, "some file in dags/ was not parsed"
    assert set(bag.dag_ids) == {f"{name}_sync" for name in load_specs()} | {"quality_report"}
    assert "hrss_sync" in bag.dag_ids


def test_quality_report_is_scheduled_on_the_tables_every_load_task_publishes(bag):
    report = bag.dags["quality_report"]
    published = set()
    for name in load_specs():
        load = bag.dags[f"{name}_sync"].get_task("load")
        uris = {a.uri for a in load.outlets}
        assert uris == {f"silobridge://store/service_case/{name}", f"silobridge://store/service_evaluation/{name}"}
        published |= uris
    assert {a.uri for a in report.timetable.asset_condition.objects} == published


def test_hrss_sync_runs_own_a_real_data_interval_at_2am_beijing(hrss_dag):
    from airflow.sdk import CronDataIntervalTimetable
    from airflow.timetables.base import TimeRestriction

    assert isinstance(hrss_dag.timetable, CronDataIntervalTimetable)
    timetable = _scheduler_timetable(hrss_dag)
    first = timetable.next_dagrun_info(
        last_automated_data_interval=None,
        restriction=TimeRestriction(earliest=hrss_dag.start_date, latest=None, catchup=True),
    )
    start, end = first.data_interval.start, first.data_interval.end
    assert start < end
    assert start == pendulum.datetime(2026, 1, 1, 2, tz=BEIJING)
    assert end == pendulum.datetime(2026, 1, 2, 2, tz=BEIJING)
    following = timetable.next_dagrun_info(
        last_automated_data_interval=first.data_interval,
        restriction=TimeRestriction(earliest=hrss_dag.start_date, latest=None, catchup=True),
    )
    assert following.data_interval.start == end, "consecutive runs must tile time without gaps"
    # A manual run (and dag.test) gets the last complete interval before it, not an empty one.
    manual = timetable.infer_manual_data_interval(run_after=pendulum.datetime(2026, 10, 6, 9, tz=BEIJING))
    assert (manual.start, manual.end) == (pendulum.datetime(2026, 10, 5, 2, tz=BEIJING),
                                          pendulum.datetime(2026, 10, 6, 2, tz=BEIJING))


def test_hrss_sync_schedule_retries_tags_and_docs(hrss_dag):
    spec = load_specs()["hrss"]
    assert hrss_dag.start_date == pendulum.datetime(2026, 1, 1, tz=BEIJING)
    assert hrss_dag.catchup is False
    assert hrss_dag.max_active_runs == 1
    assert hrss_dag.tags == {"silobridge", "hrss", *spec.tags}
    assert [t.task_id for t in hrss_dag.tasks] == ["load"]
    load = hrss_dag.get_task("load")
    assert load.retries == 2
    assert load.retry_delay == timedelta(minutes=5)
    assert load.retry_exponential_backoff > 1, "Airflow 3 takes a multiplier: 1 (or True) means no backoff"
    assert load.multiple_outputs is False, "the summary is one XCom, not one per key"
    for needed in (spec.title, spec.schedule, spec.conn_id, "silobridge_store", "silobridge_pii_key",
                   "SILOBRIDGE_PII_KEY"):
        assert needed in hrss_dag.doc_md


def test_settings_come_from_airflow_connections_and_variables_when_defined(bag, tmp_path, monkeypatch):
    from dag_factory import resolve_settings  # dags/ is on sys.path once Airflow has parsed it

    monkeypatch.setenv("AIRFLOW_CONN_SILOBRIDGE_STORE", f"sqlite:///{tmp_path / 'store.db'}")
    monkeypatch.setenv("AIRFLOW_CONN_SILOBRIDGE_HRSS",
                       json.dumps({"conn_type": "fs", "extra": {"path": str(tmp_path / "drop")}}))
    monkeypatch.setenv("AIRFLOW_VAR_SILOBRIDGE_PII_KEY", "from-the-airflow-variable")
    monkeypatch.setenv("SILOBRIDGE_PII_KEY", "from-the-environment")
    (tmp_path / "drop").mkdir()
    settings = resolve_settings("hrss", "silobridge_hrss")
    assert make_engine(settings.store_url).url.database == str(tmp_path / "store.db")
    assert drop_folder(load_spec("hrss"), settings) == tmp_path / "drop"
    assert settings.pii_key.secret == b"from-the-airflow-variable"


def test_settings_fall_back_to_the_environment_when_airflow_has_none(bag, tmp_path, monkeypatch):
    from dag_factory import resolve_settings

    for name in ("AIRFLOW_CONN_SILOBRIDGE_STORE", "AIRFLOW_CONN_SILOBRIDGE_HRSS", "AIRFLOW_VAR_SILOBRIDGE_PII_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SILOBRIDGE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SILOBRIDGE_PII_KEY", "from-the-environment")
    (tmp_path / "home" / "drops" / "hrss").mkdir(parents=True)
    settings = resolve_settings("hrss", "silobridge_hrss")
    assert settings.store_url == f"sqlite:///{tmp_path / 'home' / 'silobridge.db'}"
    assert drop_folder(load_spec("hrss"), settings) == tmp_path / "home" / "drops" / "hrss"
    assert settings.pii_key.secret == b"from-the-environment"


@pytest.fixture(scope="module")
def airflow_db():
    """Airflow's metadata DB (what `airflow db migrate` makes), under the throwaway AIRFLOW_HOME."""
    from airflow.utils import db

    db.upgradedb()


def test_a_dag_test_run_loads_the_days_that_became_due_into_the_store(airflow_db, tmp_path, monkeypatch):
    from simulators.hrss import write_month

    drop, store = tmp_path / "drop", tmp_path / "store.db"
    write_month(drop, month="2026-10", seed=7, cases_per_month=120, faults=set())
    store_url = f"sqlite:///{store}"
    monkeypatch.setenv("AIRFLOW_CONN_SILOBRIDGE_STORE", store_url)
    monkeypatch.setenv("AIRFLOW_CONN_SILOBRIDGE_HRSS", json.dumps({"conn_type": "fs", "extra": {"path": str(drop)}}))
    monkeypatch.setenv("SILOBRIDGE_PII_KEY", TEST_PII_KEY)
    monkeypatch.delenv("AIRFLOW_VAR_SILOBRIDGE_PII_KEY", raising=False)
    dag = _bag().dags["hrss_sync"]  # a fresh parse: the shared one keeps its retries
    for task in dag.tasks:
        task.retries = 0  # dag.test() would otherwise wait out the retry delays of a failing task

    # dag.test() gives a run the last complete interval before its logical date: [10-05 02:00, 10-06 02:00).
    end = pendulum.datetime(2026, 10, 6, 2, tz=BEIJING)
    run = dag.test(logical_date=end, run_after=end)

    assert run.state == "success", "the load task failed: see its log above"
    assert (run.data_interval_start, run.data_interval_end) == (end - timedelta(days=1), end)
    result = run.get_task_instance("load").xcom_pull(task_ids="load")
    assert result["status"] == "success" and result["source"] == "hrss"
    assert sum(s["inserted"] for s in result["streams"].values()) > 0
    assert result["files"], "no file was due"
    assert all(f["file"].split("_")[2][:8] <= "20261005" for f in result["files"]), "a file of a later day was loaded"

    engine = make_engine(store_url)
    with engine.connect() as conn:
        ledger = conn.execute(
            sa.text("SELECT * FROM etl_run WHERE run_id = :run_id"), {"run_id": result["run_id"]}
        ).mappings().all()
        cases = conn.execute(sa.text("SELECT count(*) FROM service_case WHERE source_system = 'hrss'")).scalar()
    engine.dispose()
    assert {row["stream"] for row in ledger} == {"cases", "evaluations"}
    for row in ledger:
        assert row["status"] == "success" and row["source"] == "hrss"
        assert row["extracted"] == (row["inserted"] + row["updated"] + row["unchanged"] + row["quarantined"]
                                    + row["duplicates"])
        assert _instant(row["window_start"]) == datetime(2026, 10, 4, 18, tzinfo=timezone.utc)
        assert _instant(row["window_end"]) == datetime(2026, 10, 5, 18, tzinfo=timezone.utc)
    assert cases == result["streams"]["cases"]["inserted"] > 0


def _instant(value) -> datetime:
    """An instant column as read back raw from SQLite (text) or already as a datetime."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
