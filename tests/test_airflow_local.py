"""hrss_sync and police_sync on a real Airflow 3 (LocalExecutor, SQLite metadata DB): the stack `make airflow`
starts — api-server, scheduler, dag-processor, triggerer — on a temporary AIRFLOW_HOME, driven through the
REST API, stopped afterwards with nothing left running.
"""

import csv
import json
from collections import Counter, defaultdict

import pendulum
import pytest
import sqlalchemy as sa

from tests.airflow_live import TEST_PII_KEY, LiveAirflow, ledger
from tests.clear_numbers import assert_nowhere_in_clear

BEIJING = "Asia/Shanghai"
HRSS_DAYS = ("2026-10-12", "2026-10-13", "2026-10-14")  # workdays: the holiday week has few cases


@pytest.fixture
def deliveries(tmp_path):
    """A few days of hrss drops and of small police batches, as the departments deliver them."""
    from simulators.hrss import write_day
    from simulators.police_outbox import write_month

    hrss, police, month = tmp_path / "drops" / "hrss", tmp_path / "drops" / "police", tmp_path / "police-month"
    for day in HRSS_DAYS:
        write_day(hrss, day, seed=7, cases_per_month=120)
    write_month(month, "2026-10", seed=7, batches_per_day=1, cases_per_day=3)
    police.mkdir()
    for day in HRSS_DAYS:  # the outbox of those days only (earlier batch numbers show as a gap)
        for path in month.glob(f"GA_{day.replace('-', '')}_*"):
            path.rename(police / path.name)
    return hrss, police


def test_hrss_and_police_run_on_a_real_scheduler_and_wake_the_quality_report(tmp_path, deliveries):
    hrss, police = deliveries
    numbers = _personal_numbers(hrss)
    delivered = {"hrss": sorted(p.name for p in hrss.glob("*.csv")), "police": sorted(p.name for p in police.glob("*.xml"))}
    store_url = f"sqlite:///{tmp_path / 'store.db'}"
    connections = {
        "AIRFLOW_CONN_SILOBRIDGE_STORE": store_url,
        "AIRFLOW_CONN_SILOBRIDGE_HRSS": json.dumps({"conn_type": "fs", "extra": {"path": str(hrss)}}),
        "AIRFLOW_CONN_SILOBRIDGE_POLICE": json.dumps({"conn_type": "fs", "extra": {"path": str(police)}}),
    }
    with LiveAirflow(tmp_path, executor="local", env=connections) as airflow:
        assert {p["name"] for p in airflow.api("GET", "/pools")["pools"]} >= {"silobridge_hrss", "silobridge_police"}
        # Unpausing also lets the scheduler create each DAG's latest scheduled run: real scheduled runs too.
        airflow.unpause("hrss_sync", "police_sync", "quality_report")
        manual = {dag_id: airflow.trigger(dag_id, pendulum.datetime(2026, 10, 15, 3, tz=BEIJING))
                  for dag_id in ("hrss_sync", "police_sync")}

        runs = airflow.wait_all_finished(["hrss_sync", "police_sync"], timeout=240)
        for dag_id, dag_runs in runs.items():
            assert {r["run_type"] for r in dag_runs} == {"manual", "scheduled"}
            assert all(r["state"] == "success" for r in dag_runs), f"{dag_id}: {dag_runs}"
        hrss_manual = next(r for r in runs["hrss_sync"] if r["dag_run_id"] == manual["hrss_sync"])
        assert pendulum.parse(hrss_manual["data_interval_end"]) == pendulum.datetime(2026, 10, 15, 2, tz=BEIJING)

        # The runs changed tables: their Asset events woke quality_report, which rebuilt the report.
        report = airflow.wait(lambda: [r for r in airflow.runs("quality_report") if r["state"] in ("success", "failed")],
                              timeout=180, what="an Asset-triggered quality_report run")
        assert report[0]["run_type"] == "asset_triggered" and report[0]["state"] == "success"
        assert (tmp_path / "home" / "reports" / "silobridge-report.html").exists()

        logs = [entry for dag_id, dag_runs in runs.items() for r in dag_runs
                for entry in airflow.task_log(dag_id, r["dag_run_id"])]
        logs += airflow.task_log("quality_report", report[0]["dag_run_id"], task_id="rebuild")

    # One ledger row per run and stream; together the runs loaded every delivered file exactly once.
    rows = [r for r in ledger(store_url) if r["source"] in ("hrss", "police")]
    assert rows and all(r["status"] == "success" for r in rows)
    for r in rows:
        assert r["extracted"] == r["inserted"] + r["updated"] + r["unchanged"] + r["quarantined"] + r["duplicates"]
    loaded_by = defaultdict(set)  # (source, file) → the runs that loaded it (a police batch feeds both streams)
    for r in rows:
        for f in json.loads(r["files"]) if isinstance(r["files"], str) else (r["files"] or []):
            if f.get("outcome") == "loaded":
                loaded_by[(r["source"], f["file"])].add(r["run_id"])
    for source, names in delivered.items():
        assert {name for s, name in loaded_by if s == source} == set(names), f"{source}: not every file was loaded"
    assert all(len(runs) == 1 for runs in loaded_by.values()), "a file was loaded by two runs"
    engine = sa.create_engine(store_url)
    with engine.connect() as conn:
        held = dict(conn.execute(sa.text("SELECT source_system, count(*) FROM service_case GROUP BY source_system")).all())
    engine.dispose()
    inserted = Counter()
    for r in rows:
        if r["stream"] == "cases":
            inserted[r["source"]] += r["inserted"]
    assert held == dict(inserted) and set(held) == {"hrss", "police"}

    # The task log: a line per file with its counts, no third-party chatter, no secret in clear.
    events = [str(e.get("event", "")) for e in logs]
    assert any(e.startswith("hrss cases (HRSS_BJ_20261014.csv):") and "records read" in e for e in events), events
    assert not [e for e in events if "Skipping registering function" in e or "Context impl" in e]
    findings = [e for e in logs if "data quality" in str(e.get("event"))]
    assert findings and {e["level"] for e in findings} == {"warning"}, "expectation findings are warnings"
    text = json.dumps(logs, ensure_ascii=False)
    assert TEST_PII_KEY not in text
    assert_nowhere_in_clear(store_url, numbers, [text])


def _personal_numbers(folder) -> list[str]:
    """The certificate and phone numbers of the persons (申请人类型 2) in the hrss drops, as delivered."""
    found = set()
    for path in folder.glob("HRSS_BJ_*.csv"):
        with path.open(encoding="gb18030", newline="") as f:
            for row in csv.DictReader(f):
                if row.get("申请人类型") == "2":
                    found |= {row[k].strip() for k in ("证件号码", "联系电话") if len((row[k] or "").strip()) >= 8}
    assert found, "the drops should hold personal numbers"
    return sorted(found)
