"""The DAG files through Airflow itself: parsing, schedule, settings resolution, and a dag.test() run.

Airflow runs with the repository's airflow.cfg and dags/ but a throwaway
AIRFLOW_HOME (tests/conftest.py sets it before Airflow is first imported), so
its metadata DB lives in a temporary folder, never in the developer's var/.
"""

import json
import os
from datetime import date, datetime, timedelta, timezone
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


def test_only_the_dag_file_is_parsed_and_each_spec_has_its_dag(bag):
    assert bag.import_errors == {}
    parsed = {Path(path).name for path in bag.file_last_changed}
    assert parsed == {"silobridge_dags.py"}, "dags/.airflowignore should leave only the DAG file to parse"
    assert (DAGS / "dag_factory.py").exists()
    assert set(bag.dag_ids) == {f"{name}_sync" for name in load_specs()} | {"quality_report"}


def test_quality_report_is_scheduled_on_the_tables_the_load_tasks_attach_to_their_alias(bag):
    from airflow.sdk import AssetAlias

    from dag_factory import table_assets

    report = bag.dags["quality_report"]
    published = set()
    for name in load_specs():
        load = bag.dags[f"{name}_sync"].get_task("load")
        # An alias, not the Assets themselves: a declared Asset would get an event from every run.
        assert load.outlets == [AssetAlias(name=f"silobridge_{name}_tables", group="silobridge")]
        uris = {a.uri for a in table_assets(name).values()}
        assert uris == {f"silobridge://store/service_case/{name}", f"silobridge://store/service_evaluation/{name}"}
        published |= uris
    assert {a.uri for a in report.timetable.asset_condition.objects} == published


def test_hrss_sync_runs_own_a_real_data_interval_at_2am_beijing(hrss_dag):
    from airflow.sdk import CronDataIntervalTimetable
    from airflow.timetables.base import TimeRestriction

    assert isinstance(hrss_dag.timetable, CronDataIntervalTimetable)
    timetable = _scheduler_timetable(hrss_dag)
    earliest = pendulum.datetime(2026, 1, 1, tz=BEIJING)
    first = timetable.next_dagrun_info(
        last_automated_data_interval=None,
        restriction=TimeRestriction(earliest=earliest, latest=None, catchup=True),
    )
    start, end = first.data_interval.start, first.data_interval.end
    assert start < end
    assert start == pendulum.datetime(2026, 1, 1, 2, tz=BEIJING)
    assert end == pendulum.datetime(2026, 1, 2, 2, tz=BEIJING)
    following = timetable.next_dagrun_info(
        last_automated_data_interval=first.data_interval,
        restriction=TimeRestriction(earliest=earliest, latest=None, catchup=True),
    )
    assert following.data_interval.start == end, "consecutive runs must tile time without gaps"
    # A manual run (and dag.test) gets the last complete interval before it, not an empty one.
    manual = timetable.infer_manual_data_interval(run_after=pendulum.datetime(2026, 10, 6, 9, tz=BEIJING))
    assert (manual.start, manual.end) == (pendulum.datetime(2026, 10, 5, 2, tz=BEIJING),
                                          pendulum.datetime(2026, 10, 6, 2, tz=BEIJING))


def test_hrss_sync_schedule_retries_pool_tags_and_docs(hrss_dag):
    spec = load_specs()["hrss"]
    # No DAG start date: Airflow would create no task for a manual run before it and call that run a success.
    assert hrss_dag.start_date is None
    assert hrss_dag.catchup is False
    assert hrss_dag.max_active_runs == 1
    assert hrss_dag.tags == {"silobridge", "hrss", *spec.tags}
    assert [t.task_id for t in hrss_dag.tasks] == ["load"]
    load = hrss_dag.get_task("load")
    assert load.start_date is None
    assert (load.pool, load.pool_slots) == ("silobridge_hrss", 1), "one run of a source at a time, however started"
    assert load.retries == 2
    assert load.retry_delay == timedelta(minutes=5)
    assert load.retry_exponential_backoff > 1, "Airflow 3 takes a multiplier: 1 (or True) means no backoff"
    assert load.multiple_outputs is False, "the summary is one XCom, not one per key"
    for needed in (spec.title, spec.schedule, spec.conn_id, "silobridge_store", "silobridge_pii_key",
                   "SILOBRIDGE_PII_KEY", "silobridge_hrss", "SILOBRIDGE_HISTORY_START_HRSS", "2026-01-01",
                   "`fs` connection", ".ok"):
        assert needed in hrss_dag.doc_md


@pytest.mark.parametrize("source, says, never", [
    ("market", ["`http` connection", "client id and secret", "5 minutes"], ["`fs`", "drop", "folder", ".ok"]),
    ("tax", ["`http` connection", "app secret", "5 minutes"], ["`fs`", "drop", "folder", ".ok"]),
    ("medins", ["SQLAlchemy URL", "UPDATE_TIME", "120 s"], ["`fs`", "drop", "folder", ".ok", "http"]),
    ("police", ["`fs` connection", ".sha256", "archive"], [".ok", "http"]),
])
def test_each_dags_doc_describes_its_kind_of_source(bag, source, says, never):
    doc = bag.dags[f"{source}_sync"].doc_md
    for needed in says:
        assert needed in doc, f"{source}_sync's doc should mention {needed!r}"
    for wrong in never:
        assert wrong not in doc, f"{source}_sync's doc describes another kind of source ({wrong!r})"


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


# --- what an operator sees: asset events, failures without retries, history ----------------------------------


def _hrss_run_env(monkeypatch, tmp_path, drop: Path) -> str:
    store_url = f"sqlite:///{tmp_path / 'store.db'}"
    monkeypatch.setenv("AIRFLOW_CONN_SILOBRIDGE_STORE", store_url)
    monkeypatch.setenv("AIRFLOW_CONN_SILOBRIDGE_HRSS", json.dumps({"conn_type": "fs", "extra": {"path": str(drop)}}))
    monkeypatch.setenv("SILOBRIDGE_PII_KEY", TEST_PII_KEY)
    monkeypatch.delenv("AIRFLOW_VAR_SILOBRIDGE_PII_KEY", raising=False)
    return store_url


def _fresh_hrss_dag(retries: int = 0):
    dag = _bag().dags["hrss_sync"]  # a fresh parse: it reads the environment (history start) anew
    for task in dag.tasks:
        task.retries = retries
        task.retry_delay = timedelta(0)  # dag.test() would wait out a real delay in-process
    return dag


def _asset_events(run_id: str) -> dict[str, dict]:
    """The Asset events a DAG run emitted, by asset URI, from Airflow's metadata DB."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.execute(sa.select(AssetModel.uri, AssetEvent.extra)
                               .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
                               .where(AssetEvent.source_run_id == run_id)).all()
    return {uri: extra for uri, extra in rows}


def _ledger(store_url: str) -> list[dict]:
    engine = make_engine(store_url)
    try:
        with engine.connect() as conn:
            return [dict(r) for r in conn.execute(sa.text("SELECT * FROM etl_run ORDER BY started_at")).mappings()]
    except sa.exc.OperationalError:  # no etl_run table: the run never reached the store
        return []
    finally:
        engine.dispose()


def test_a_run_publishes_asset_events_only_for_the_tables_it_changed(airflow_db, tmp_path, monkeypatch):
    from simulators.hrss import write_day

    drop = tmp_path / "drop"
    for day in ("2026-10-04", "2026-10-05"):
        write_day(drop, day, seed=7, cases_per_month=120)
    _hrss_run_env(monkeypatch, tmp_path, drop)
    dag = _fresh_hrss_dag()

    loaded = dag.test(logical_date=pendulum.datetime(2026, 10, 6, 2, tz=BEIJING))
    assert loaded.state == "success"
    result = loaded.get_task_instance("load").xcom_pull(task_ids="load")
    events = _asset_events(loaded.run_id)
    assert set(events) == {"silobridge://store/service_case/hrss", "silobridge://store/service_evaluation/hrss"}
    cases = events["silobridge://store/service_case/hrss"]
    assert cases["run_id"] == result["run_id"]
    assert cases["inserted"] == result["streams"]["cases"]["inserted"] > 0

    # The next day has no new file: the run succeeds, changes nothing and wakes nobody.
    empty = dag.test(logical_date=pendulum.datetime(2026, 10, 7, 2, tz=BEIJING))
    assert empty.state == "success"
    counts = empty.get_task_instance("load").xcom_pull(task_ids="load")["streams"]
    assert all(s["inserted"] == s["updated"] == s["quarantined"] == 0 for s in counts.values())
    assert _asset_events(empty.run_id) == {}


def test_a_configuration_error_fails_the_task_once_without_retries_or_ledger_rows(airflow_db, tmp_path,
                                                                                     monkeypatch):
    from simulators.hrss import write_day

    drop = tmp_path / "drop"
    write_day(drop, "2026-10-05", seed=7, cases_per_month=120)
    store_url = _hrss_run_env(monkeypatch, tmp_path, drop)
    monkeypatch.delenv("SILOBRIDGE_PII_KEY")  # no pseudonymization key anywhere
    dag = _fresh_hrss_dag(retries=2)

    run = dag.test(logical_date=pendulum.datetime(2026, 10, 6, 2, tz=BEIJING))

    ti = run.get_task_instance("load")
    assert (run.state, ti.state) == ("failed", "failed")
    assert ti.try_number == 1, "a missing key cannot be fixed by retrying: AirflowFailException, no retry"
    assert _ledger(store_url) == []
    assert sorted(p.name for p in drop.glob("*.csv")), "the files stay for the run after the fix"


def test_a_run_that_fails_on_the_source_is_retried(airflow_db, tmp_path, monkeypatch):
    from simulators.hrss import write_day

    drop = tmp_path / "drop"
    # Half the records carry an invalid ID number: over hrss's 10 % error limit, the run fails (RunFailed).
    write_day(drop, "2026-10-05", seed=7, cases_per_month=120, faults={"invalid_id"}, fault_rate=0.5)
    store_url = _hrss_run_env(monkeypatch, tmp_path, drop)
    dag = _fresh_hrss_dag(retries=1)

    run = dag.test(logical_date=pendulum.datetime(2026, 10, 6, 2, tz=BEIJING))

    ti = run.get_task_instance("load")
    assert (run.state, ti.state, ti.try_number) == ("failed", "failed", 2), "a failed run is tried again"
    failed = [r for r in _ledger(store_url) if r["stream"] == "cases"]
    assert [r["status"] for r in failed] == ["failed", "failed"], "each try leaves its failed ledger row"
    assert "error limit" in failed[0]["failure_reason"]


def test_a_run_before_the_history_start_fails_loudly_instead_of_succeeding_empty(airflow_db, tmp_path,
                                                                                   monkeypatch, capfd):
    # Issue 8: `airflow dags test market_sync 2023-07-05` reported success without running its task.
    from simulators.hrss import write_day

    drop = tmp_path / "drop"
    write_day(drop, "2023-07-04", seed=7, cases_per_month=120)
    store_url = _hrss_run_env(monkeypatch, tmp_path, drop)
    dag = _fresh_hrss_dag(retries=2)

    run = dag.test(logical_date=pendulum.datetime(2023, 7, 5, tz=BEIJING))

    ti = run.get_task_instance("load")
    assert ti is not None, "the run must have its task, not be an empty success"
    assert (run.state, ti.state, ti.try_number) == ("failed", "failed", 1)
    assert "ends before the source's history starts on 2026-01-01" in capfd.readouterr().out
    assert _ledger(store_url) == []

    # The deployment asks for history from July 2023, as an Airflow variable: the same span now loads.
    monkeypatch.setenv("AIRFLOW_VAR_SILOBRIDGE_HISTORY_START_HRSS", "2023-07-01")
    run = dag.test(logical_date=pendulum.datetime(2023, 7, 5, 3, tz=BEIJING))
    assert run.state == "success"
    assert sum(r["inserted"] for r in _ledger(store_url) if r["status"] == "success") > 0
    assert "SILOBRIDGE_HISTORY_START_HRSS" not in os.environ, "the variable applies to its task only"
    # Or in the environment, where the DAG's doc shows it too.
    monkeypatch.setenv("SILOBRIDGE_HISTORY_START_HRSS", "2023-07-01")
    assert "from 2023-07-01" in _fresh_hrss_dag().doc_md


def test_the_history_start_comes_from_the_spec_unless_the_deployment_sets_one(monkeypatch):
    from pipeline.specs import OutsideHistory, SpecError, check_window, history_start

    monkeypatch.delenv("SILOBRIDGE_HISTORY_START_MARKET", raising=False)
    assert history_start(load_spec("market")) == date(2015, 1, 1)  # the spec's history_start
    assert history_start(load_spec("hrss")) == date(2026, 1, 1)  # no history_start: its start_date
    monkeypatch.setenv("SILOBRIDGE_HISTORY_START_MARKET", "2024-01-01")
    spec = load_spec("market")
    assert (spec.history_start, spec.start_date) == (date(2024, 1, 1), date(2024, 1, 1))
    assert history_start(load_spec("tax")) == date(2015, 1, 1), "one source's setting leaves the others alone"

    new_year = datetime(2023, 12, 31, 16, tzinfo=timezone.utc)  # 2024-01-01 00:00 Beijing
    check_window(spec, (new_year - timedelta(hours=1), new_year + timedelta(seconds=1)))
    with pytest.raises(OutsideHistory, match="SILOBRIDGE_HISTORY_START_MARKET=2024-01-01"):
        check_window(spec, (new_year - timedelta(hours=1), new_year))
    monkeypatch.setenv("SILOBRIDGE_HISTORY_START_MARKET", "2024-13-01")
    with pytest.raises(SpecError, match="SILOBRIDGE_HISTORY_START_MARKET='2024-13-01' is not a date"):
        load_spec("market")
