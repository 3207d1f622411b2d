"""The silobridge command line, as an operator uses it."""

import logging
import re

import pytest

from pipeline.cli import main
from tests.handmade import PERSON_ID, case_row, eval_row, write_drop

# Their drops are small and bad on purpose; the error limit has its own tests.
pytestmark = pytest.mark.usefixtures("lenient_specs")

CLEAR = re.compile(r"(?<!\d)(\d{17}[\dXx]|\d{15}|1[3-9]\d{9})(?!\d)")


def test_run_status_rejects_and_summary(tmp_path, capsys, caplog):
    drop, store = tmp_path / "drop", f"sqlite:///{tmp_path / 'store.db'}"
    write_drop(drop, "HRSS_BJ_20261005.csv", [
        case_row("C1", cert=PERSON_ID, phone="13812345678"),
        case_row("C2", cert="340603199003070023", phone="13912345678"),
    ])
    write_drop(drop, "HRSS_PJ_20261005.csv", [eval_row("E1", "C1", comment="电话13812345678")], trailer=7)

    caplog.set_level(logging.INFO)
    assert main(["--store", store, "-v", "run", "hrss", "--drop", str(drop)]) == 0
    out = capsys.readouterr().out
    assert "cases" in out and "invalid_id_card 1" in out
    assert "file quarantined HRSS_PJ_20261005.csv: trailer_mismatch" in out

    assert main(["--store", store, "status"]) == 0
    out += (status := capsys.readouterr().out)
    assert "HRSS_BJ_20261005.csv" in status and "success" in status

    assert main(["--store", store, "rejects", "--source", "hrss"]) == 0
    out += (rejects := capsys.readouterr().out)
    assert "invalid_id_card" in rejects and "trailer_mismatch" in rejects and "340603********0023" in rejects

    assert main(["--store", store, "summary"]) == 0
    out += capsys.readouterr().out
    assert "service_case" in out and "store.db" in out

    logged = "\n".join(r.getMessage() for r in caplog.records)
    for text in (out, logged):
        assert not CLEAR.search(text), CLEAR.search(text)


def test_an_unknown_source_is_one_clear_sentence(tmp_path, capsys):
    assert main(["--store", f"sqlite:///{tmp_path / 's.db'}", "run", "ministry"]) == 2
    assert "unknown source 'ministry'" in capsys.readouterr().err


# --- options anywhere, JSON, times, positions -----------------------------------------------------------------

import json
from datetime import date, datetime, timedelta, timezone
from importlib.metadata import version

import sqlalchemy as sa

from simulators.market_api import MarketApi
from simulators.medins_db import create_schema, write_cases
from simulators.tax_api import TaxApi
from tests.test_api_sources import market_case, tax_case
from tests.test_medins_source import case as medins_case

BEIJING_OFFSET = "+08:00"


@pytest.fixture
def hrss_store(tmp_path, capsys):
    """A store loaded by `run hrss` with every option after the command, as the README writes it."""
    drop, store = tmp_path / "drop", f"sqlite:///{tmp_path / 'store.db'}"
    write_drop(drop, "HRSS_BJ_20261005.csv", [case_row("C1", cert=PERSON_ID),
                                               case_row("C2", cert="340603199003070023")])
    write_drop(drop, "HRSS_BJ_20261006.csv", [case_row(f"D{i}", status="9") for i in range(4)])
    write_drop(drop, "HRSS_PJ_20261005.csv", [eval_row("E1", "C1")], trailer=7)
    assert main(["run", "hrss", "--drop", str(drop), "--store", store]) == 0
    capsys.readouterr()
    return store


def test_global_options_work_after_the_command_as_before_it(hrss_store, capsys):
    assert main(["status", "--store", hrss_store]) == 0
    after = capsys.readouterr().out
    assert main(["--store", hrss_store, "status"]) == 0
    assert capsys.readouterr().out == after and "HRSS_BJ_20261006.csv" in after
    # --debug after the command shows the traceback of an error, not only its sentence.
    assert main(["status", "--store", "sqlite:///nowhere/none.db", "--debug"]) == 2
    assert "Traceback" in capsys.readouterr().err


def test_status_shows_each_committed_position_and_its_value(hrss_store, capsys):
    assert main(["status", "--store", hrss_store]) == 0
    out = capsys.readouterr().out
    assert "newest HRSS_BJ_20261006.csv = 2026-10-06" in out and "2 positions (2 loaded)" in out
    assert "1 quarantined" in out  # the evaluations file with a wrong trailer
    assert re.search(r"20\d\d-\d\d-\d\d \d\d:\d\d:\d\d \+08:00", out), "times in Beijing time, the zone named"

    assert main(["status", "--store", hrss_store, "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    cases = next(w for w in status["watermarks"] if (w["source"], w["stream"]) == ("hrss", "cases"))
    assert {(p["position"], p["value"], p["outcome"]) for p in cases["positions"]} == {
        ("HRSS_BJ_20261005.csv", "2026-10-05", "loaded"), ("HRSS_BJ_20261006.csv", "2026-10-06", "loaded")}
    committed = datetime.fromisoformat(cases["positions"][0]["committed_at"])
    assert committed.utcoffset() == timedelta(hours=8)
    assert abs(committed - datetime.now(timezone.utc)) < timedelta(minutes=10)
    assert {r["status"] for r in status["last_runs"]} == {"success"}
    assert all(r["started_at"].endswith(BEIJING_OFFSET) for r in status["last_runs"])


def test_rejects_say_how_many_they_show_of_how_many(hrss_store, capsys):
    assert main(["rejects", "--store", hrss_store, "--limit", "2"]) == 0
    assert "showing 2 of 6 quarantined record(s); --limit N or --all for more" in capsys.readouterr().out
    assert main(["rejects", "--store", hrss_store, "--all"]) == 0
    assert "showing 6 of 6 quarantined record(s)\n" in capsys.readouterr().out
    assert main(["rejects", "--store", hrss_store, "--reason", "unknown_code", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert (listed["total"], listed["shown"]) == (4, 4)
    assert {r["record_key"] for r in listed["rejects"]} == {"D0", "D1", "D2", "D3"}
    assert all(r["created_at"].endswith(BEIJING_OFFSET) for r in listed["rejects"])
    with pytest.raises(SystemExit) as exit:
        main(["rejects", "--store", hrss_store, "--limit", "0"])
    assert exit.value.code == 2 and "'0' is not a positive whole number" in capsys.readouterr().err


def test_summary_and_reconcile_as_json(hrss_store, capsys):
    assert main(["summary", "--json", "--store", hrss_store]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert {(t["table"], t["source_system"], t["rows"]) for t in summary["tables"]} == {("service_case", "hrss", 1)}
    assert summary["store"].endswith("store.db")
    assert {(r["reason"], r["count"]) for r in summary["quarantine_reasons"]} >= {("unknown_code", 4)}

    assert main(["reconcile", "--json", "--store", hrss_store]) == 1  # the quarantined file is a finding
    result = json.loads(capsys.readouterr().out)
    assert result["balanced"] is False
    assert {(f["source"], f["kind"]) for f in result["findings"]} >= {("hrss", "file_quarantined")}
    cases = [r for r in result["rows"] if r["stream"] == "cases"]
    assert sum(r["extracted"] for r in cases) == 6 and sum(r["inserted"] for r in cases) == 1
    for f in result["findings"]:
        date.fromisoformat(f["day"])


def test_version_comes_from_the_package(capsys):
    with pytest.raises(SystemExit) as exit:
        main(["--version"])
    assert exit.value.code == 0
    assert capsys.readouterr().out.strip() == f"silobridge {version('silobridge')}"
