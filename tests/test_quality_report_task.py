"""What the quality_report DAG's task does: rebuild the auditors' report and the GX Data Docs."""

import pytest

from pipeline.config import Settings
from pipeline.reports import refresh
from pipeline.runner import run_source
from tests.handmade import case_row, eval_row, write_drop

pytestmark = pytest.mark.usefixtures("lenient_specs")


def test_refresh_writes_the_report_and_the_data_docs(sqlite_url, tmp_path):
    drop = tmp_path / "drop"
    write_drop(drop, "HRSS_BJ_20261005.csv", [case_row("C1", status="已办结", finish="2026-10-05 15:00:00")])
    write_drop(drop, "HRSS_PJ_20261005.csv", [eval_row("E1", "C1", score="2")])
    settings = Settings.resolve(store_url=sqlite_url, folders={"hrss": drop})
    run_source("hrss", settings)
    paths = refresh(settings)
    report = paths["report"].read_text(encoding="utf-8")
    assert paths["report"] == settings.home / "reports" / "silobridge-report.html"
    assert 'data-figure="hrss.cases"' in report and "主动评价率" in report
    assert paths["data_docs"].name == "index.html" and paths["data_docs"].exists()
