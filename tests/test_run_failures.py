"""Runs that fail or crash leave the store as if they never ran, apart from their failed ledger row."""

import pytest

import pipeline.drop_run
from pipeline.config import ConfigError, Settings
from pipeline.runner import RunFailed, run_source
from tests.handmade import case_row, eval_row, write_drop
from tests.test_hrss_contract import rows

# Their drops are small and bad on purpose; the error limit has its own tests.
pytestmark = pytest.mark.usefixtures("lenient_specs")


def _settings(store_url, folder):
    return Settings.resolve(store_url=store_url, folders={"hrss": folder})


def test_without_a_pii_key_a_run_stops_with_a_sentence_saying_how_to_set_it(monkeypatch, tmp_path):
    monkeypatch.delenv("SILOBRIDGE_PII_KEY")
    monkeypatch.delenv("AIRFLOW_VAR_SILOBRIDGE_PII_KEY", raising=False)
    with pytest.raises(ConfigError, match="SILOBRIDGE_PII_KEY.*silobridge_pii_key"):
        Settings.resolve(store_url=f"sqlite:///{tmp_path / 's.db'}")


def test_a_failed_run_commits_its_ledger_rows_and_nothing_else(sqlite_url, tmp_path, monkeypatch):
    write_drop(tmp_path / "drop", "HRSS_BJ_20261005.csv", [case_row("C1")])

    def unreadable(*args):
        raise OSError("Input/output error")  # the disk under the drop folder fails half-way

    monkeypatch.setattr(pipeline.drop_run, "_load_file", unreadable)
    with pytest.raises(RunFailed, match="hrss run .* failed: Input/output error"):
        run_source("hrss", _settings(sqlite_url, tmp_path / "drop"))
    ledger = rows(sqlite_url, "SELECT * FROM etl_run ORDER BY stream")
    assert [(r["stream"], r["status"]) for r in ledger] == [("cases", "failed"), ("evaluations", "failed")]
    assert "Input/output error" in ledger[0]["failure_reason"]
    assert all(r["extracted"] == 0 for r in ledger)
    assert rows(sqlite_url, "SELECT COUNT(*) AS n FROM etl_watermark") == [{"n": 0}]


def test_a_run_killed_half_way_and_run_again_equals_an_uninterrupted_run(store_url, tmp_path, monkeypatch):
    def drops(folder):
        write_drop(folder, "HRSS_BJ_20261005.csv", [case_row("C1"), case_row("C2", cert="340603199003070023")])
        write_drop(folder, "HRSS_BJ_20261006.csv", [case_row("C1", status="已受理", updated="2026-10-06 09:00:00")])
        write_drop(folder, "HRSS_PJ_20261006.csv", [eval_row("E1", "C1")])

    crashed, clean = tmp_path / "crashed", tmp_path / "clean"
    drops(crashed)
    drops(clean)
    real_load = pipeline.drop_run._load_file
    loaded = []

    def crash_on_second_file(writer, spec, settings, file, now, progress):
        loaded.append(file.name)
        if len(loaded) == 2:
            raise KeyboardInterrupt("killed")  # not an Exception: like a SIGINT in the middle of a run
        return real_load(writer, spec, settings, file, now, progress)

    monkeypatch.setattr(pipeline.drop_run, "_load_file", crash_on_second_file)
    with pytest.raises(KeyboardInterrupt):
        run_source("hrss", _settings(store_url, crashed))
    tables = ("service_case", "service_evaluation", "etl_reject", "etl_watermark")
    assert all(rows(store_url, f"SELECT COUNT(*) AS n FROM {t}") == [{"n": 0}] for t in tables)
    assert (crashed / "HRSS_BJ_20261005.csv").exists(), "files are archived only after the commit"

    monkeypatch.setattr(pipeline.drop_run, "_load_file", real_load)
    run_source("hrss", _settings(store_url, crashed))
    after_crash = rows(store_url, "SELECT case_no, status, applicant_key FROM service_case ORDER BY case_no")
    rejects_after_crash = rows(store_url, "SELECT record_key, reason FROM etl_reject")

    uninterrupted = f"sqlite:///{tmp_path / 'uninterrupted.db'}"
    run_source("hrss", _settings(uninterrupted, clean))
    assert rows(uninterrupted, "SELECT case_no, status, applicant_key FROM service_case ORDER BY case_no") == after_crash
    assert rows(uninterrupted, "SELECT record_key, reason FROM etl_reject") == rejects_after_crash
    assert [r["status"] for r in after_crash] == ["accepted"]
    assert rejects_after_crash == [{"record_key": "C2", "reason": "invalid_id_card"}]
