"""silobridge reconcile: balances on clean data, flags what an auditor must see."""

from datetime import date

import pytest

from loaders.engine import make_engine
from pipeline.cli import main
from pipeline.config import Settings
from pipeline.runner import run_source
from quality.reconcile import reconcile
from simulators.hrss import write_month
from simulators.police_outbox import write_batch
from tests.handmade import case_row, write_drop
from tests.test_police_source import case

pytestmark = pytest.mark.usefixtures("lenient_specs")


def test_a_clean_simulated_month_balances(sqlite_url, tmp_path, capsys):
    write_month(tmp_path / "drop", month="2026-10", seed=3, cases_per_month=600)
    run_source("hrss", Settings.resolve(store_url=sqlite_url, folders={"hrss": tmp_path / "drop"}))
    result = reconcile(make_engine(sqlite_url))
    assert result.balanced, result.findings
    assert {r["stream"] for r in result.rows} == {"cases", "evaluations"}
    assert all(r["declared"] == r["extracted"] for r in result.rows)
    assert main(["--store", sqlite_url, "reconcile"]) == 0
    assert "balanced" in capsys.readouterr().out


def test_a_dropped_batch_a_trailer_mismatch_and_an_unknown_code_are_flagged(sqlite_url, tmp_path, capsys):
    outbox, drop = tmp_path / "outbox", tmp_path / "drop"
    write_batch(outbox, 1, date(2026, 10, 5), [case("GA1")], [])
    write_batch(outbox, 3, date(2026, 10, 5), [case("GA3")], [])  # batch 2 never arrives
    write_drop(drop, "HRSS_BJ_20261005.csv", [case_row("C1")], trailer=4)
    write_drop(drop, "HRSS_BJ_20261006.csv", [case_row("C2", status="已挂起")])
    for source, folder in (("police", outbox), ("hrss", drop)):
        run_source(source, Settings.resolve(store_url=sqlite_url, folders={source: folder}))

    result = reconcile(make_engine(sqlite_url))
    kinds = {(f.source, f.kind): f for f in result.findings}
    assert not result.balanced
    assert kinds[("police", "batch_gap")].detail == "000002"
    assert "HRSS_BJ_20261005.csv: trailer_mismatch" in kinds[("hrss", "file_quarantined")].detail
    assert "办理状态 (status) = 3 characters (CJK)" in kinds[("hrss", "unknown_code")].detail
    assert main(["--store", sqlite_url, "reconcile", "--source", "hrss"]) == 1
    out = capsys.readouterr().out
    assert "not balanced" in out and "trailer_mismatch" in out and "batch_gap" not in out
