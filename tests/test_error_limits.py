"""Error limits per source (like DataX's errorLimit): over the limit a run fails, loads nothing, and says why."""

import pytest

from pipeline.config import Settings
from pipeline.runner import RunFailed, run_source
from tests.handmade import case_row, write_drop
from tests.test_hrss_contract import rows


def drop_with_bad_share(folder, total: int, bad: int):
    good = [case_row(f"C{i:03d}") for i in range(total - bad)]
    wrong = [case_row(f"B{i:03d}", cert="340603199003070023") for i in range(bad)]  # invalid check character
    write_drop(folder, "HRSS_BJ_20261005.csv", good + wrong)


def test_a_run_under_the_limit_loads_the_rest_and_reports_the_share(store_url, tmp_path):
    drop_with_bad_share(tmp_path / "drop", 100, 3)  # 3% under hrss's 10% limit
    result = run_source("hrss", Settings.resolve(store_url=store_url, folders={"hrss": tmp_path / "drop"}))
    assert (result.streams["cases"].inserted, result.streams["cases"].quarantined) == (97, 3)
    assert result.streams["cases"].reasons == {"invalid_id_card": 3}


def test_a_run_over_the_limit_fails_commits_no_rows_and_says_why(store_url, tmp_path, monkeypatch):
    import pipeline.runner
    from pipeline.specs import ErrorLimit, load_spec

    monkeypatch.setattr(pipeline.runner, "load_spec",
                        lambda name: load_spec(name).model_copy(update={"error_limit": ErrorLimit(percent=5.0)}))
    drop_with_bad_share(tmp_path / "drop", 100, 10)
    with pytest.raises(RunFailed, match=r"hrss cases: 10 of 100 records \(10.0%\).*error limit of 5%.*invalid_id_card 10"):
        run_source("hrss", Settings.resolve(store_url=store_url, folders={"hrss": tmp_path / "drop"}))
    assert rows(store_url, "SELECT COUNT(*) AS n FROM service_case") == [{"n": 0}]
    assert rows(store_url, "SELECT COUNT(*) AS n FROM etl_reject") == [{"n": 0}]
    failed = rows(store_url, "SELECT status, failure_reason FROM etl_run WHERE stream = 'cases'")
    assert failed[0]["status"] == "failed" and "error limit of 5%" in failed[0]["failure_reason"]
    assert (tmp_path / "drop" / "HRSS_BJ_20261005.csv").exists(), "the file stays for a run after the fix"


def test_a_record_count_limit(sqlite_url, tmp_path, monkeypatch):
    import pipeline.runner
    from pipeline.specs import ErrorLimit, load_spec

    monkeypatch.setattr(pipeline.runner, "load_spec",
                        lambda name: load_spec(name).model_copy(update={"error_limit": ErrorLimit(records=2)}))
    drop_with_bad_share(tmp_path / "drop", 1000, 3)
    with pytest.raises(RunFailed, match="over the error limit of 2 records"):
        run_source("hrss", Settings.resolve(store_url=sqlite_url, folders={"hrss": tmp_path / "drop"}))
