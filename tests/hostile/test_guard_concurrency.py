"""Runs that meet each other, with real concurrent processes on SQLite and PostgreSQL."""

import logging
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from pipeline.config import Settings
from pipeline.runner import RunFailed, run_source
from simulators.police_outbox import write_batch
from tests.handmade import case_row, eval_row, write_drop
from tests.test_hrss_contract import ledger_balances, rows
from tests.test_police_source import case as police_case

pytestmark = pytest.mark.usefixtures("lenient_specs")

REPO = Path(__file__).resolve().parents[2]
WAIT = 60  # seconds a test waits for a child process before it fails

# A `silobridge` command that starts its run only once the file argv[1] exists: both runs start together.
CLI_AT_GO = """
import pathlib, sys, time
import pipeline.cli
go = pathlib.Path(sys.argv[1])
print("ready", flush=True)
while not go.exists():
    time.sleep(0.01)
sys.exit(pipeline.cli.main(sys.argv[2:]))
"""

# Another run of argv[2] in the middle of its transaction: it holds the source and the store's write transaction.
RUN_IN_PROGRESS = """
import sys
from loaders.engine import make_engine
from loaders.locks import source_lock
from loaders.run_writer import RunWriter
engine = make_engine(sys.argv[1])
with source_lock(engine, sys.argv[2]), RunWriter(engine, sys.argv[2], "a-run-in-progress"):
    print("held", flush=True)
    sys.stdin.readline()
"""


def _child(code: str, *args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code, *args], cwd=REPO, text=True, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})})


def _hrss_drop(folder: Path) -> None:
    write_drop(folder, "HRSS_BJ_20261005.csv", [case_row("C1"), case_row("C2", cert="91340600MA2NXCJ57P",
                                                                       applicant_type="1", name="某某有限公司")])
    write_drop(folder, "HRSS_BJ_20261006.csv", [case_row("C3", updated="2026-10-06 09:00:00"),
                                                case_row("C1", status="已受理", updated="2026-10-06 10:00:00")])
    write_drop(folder, "HRSS_PJ_20261006.csv", [eval_row("E1", "C1"), eval_row("E2", "C3")])


def _held(helper: subprocess.Popen) -> None:
    line = helper.stdout.readline()
    assert line == "held\n", helper.communicate(timeout=WAIT)


def _release(helper: subprocess.Popen) -> None:
    helper.communicate("go\n", timeout=WAIT)
    assert helper.returncode == 0


def test_two_runs_of_one_source_started_together_on_a_new_store_load_it_once(store_url, tmp_path):
    drop = tmp_path / "drop"
    _hrss_drop(drop)
    go = tmp_path / "go"
    runs = [_child(CLI_AT_GO, str(go), "-v", "--store", store_url, "run", "hrss", "--drop", str(drop)) for _ in range(2)]
    for run in runs:
        assert run.stdout.readline() == "ready\n", run.communicate(timeout=WAIT)
    go.touch()
    outcomes = [run.communicate(timeout=WAIT) + (run.returncode,) for run in runs]
    for out, err, code in outcomes:
        assert code == 0 and "Traceback" not in err, err

    assert [r["case_no"] for r in rows(store_url, "SELECT case_no FROM service_case ORDER BY case_no")] == [
        "C1", "C2", "C3"]
    ledger = rows(store_url, "SELECT run_id, stream, status, inserted, updated FROM etl_run")
    assert {r["status"] for r in ledger} == {"success"} and len({r["run_id"] for r in ledger}) == 2
    cases = [r for r in ledger if r["stream"] == "cases"]
    assert sorted((r["inserted"], r["updated"]) for r in cases) == [(0, 0), (3, 0)], "one run loaded, the other found it done"
    assert rows(store_url, "SELECT COUNT(*) AS n FROM etl_watermark") == [{"n": 3}]
    assert sorted(p.name for p in (drop / "archive").iterdir() if not p.name.endswith(".ok")) == [
        "HRSS_BJ_20261005.csv", "HRSS_BJ_20261006.csv", "HRSS_PJ_20261006.csv"]
    ledger_balances(store_url)


def test_on_postgresql_another_source_runs_while_one_is_held_and_the_held_one_gives_up_in_time(
        pg_url, tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("SILOBRIDGE_LOCK_TIMEOUT", "3")
    hrss, outbox = tmp_path / "drop", tmp_path / "outbox"
    _hrss_drop(hrss)
    write_batch(outbox, 1, date(2026, 10, 5), [police_case("GA1")], [], generated="2026-10-05T18:00:00+08:00")
    settings = Settings.resolve(store_url=pg_url, folders={"hrss": hrss, "police": outbox})
    run_source("hrss", settings)  # the store exists; the helper holds hrss as a run of it would
    _hrss_drop(hrss)

    helper = _child(RUN_IN_PROGRESS, pg_url, "hrss")
    try:
        _held(helper)
        police = run_source("police", settings)
        assert police.streams["cases"].inserted == 1

        caplog.set_level(logging.INFO, logger="silobridge")
        with pytest.raises(RunFailed, match=r"^hrss run hrss-\S+ failed: gave up after 3 s waiting for another hrss "
                                            r"run to finish with the store; run again once it has finished, or allow "
                                            r"a longer wait with SILOBRIDGE_LOCK_TIMEOUT$"):
            run_source("hrss", settings)
        assert "waiting up to 3 s for another hrss run to finish with the store" in caplog.text
        failed = rows(pg_url, "SELECT stream, failure_reason FROM etl_run WHERE status = 'failed' ORDER BY stream")
        assert [r["stream"] for r in failed] == ["cases", "evaluations"]
        assert all("gave up after 3 s" in r["failure_reason"] for r in failed)
    finally:
        _release(helper)
    again = run_source("hrss", settings)  # the same files again: already processed
    assert {f["outcome"] for f in again.files} == {"already_processed"}
    ledger_balances(pg_url)


def test_on_sqlite_a_run_waits_for_the_writer_says_so_and_gives_up_with_a_failed_ledger_row(sqlite_url, tmp_path):
    outbox = tmp_path / "outbox"
    write_batch(outbox, 1, date(2026, 10, 5), [police_case("GA1")], [], generated="2026-10-05T18:00:00+08:00")
    hrss = tmp_path / "drop"
    _hrss_drop(hrss)
    run_source("hrss", Settings.resolve(store_url=sqlite_url, folders={"hrss": hrss}))

    helper = _child(RUN_IN_PROGRESS, sqlite_url, "hrss")
    try:
        _held(helper)
        police = _child("import sys, pipeline.cli; sys.exit(pipeline.cli.main(sys.argv[1:]))", "-v", "--store",
                        sqlite_url, "run", "police", "--drop", str(outbox), env={"SILOBRIDGE_LOCK_TIMEOUT": "3"})
        log = []
        for line in police.stderr:  # the failed ledger row needs the store: the writer finishes once it has given up
            log.append(line)
            if "recording its failed ledger rows" in line:
                break
        _release(helper)
        out, err = police.communicate(timeout=WAIT)
    finally:
        if helper.returncode is None:
            _release(helper)
    log = "".join(log) + err
    assert police.returncode == 2
    assert f"waiting up to 3 s for another run to release the store {sqlite_url.removeprefix('sqlite:///')}" in log
    sentence = [line for line in log.splitlines() if line.startswith("error:")]
    assert len(sentence) == 1 and "police run police-" in sentence[0] and "gave up after 3 s waiting for another " \
        "run to release the store" in sentence[0] and "Traceback" not in log
    failed = rows(sqlite_url, "SELECT stream, failure_reason FROM etl_run WHERE source = 'police' ORDER BY stream")
    assert [r["stream"] for r in failed] == ["cases", "evaluations"]
    assert all("gave up after 3 s waiting for another run to release the store" in r["failure_reason"] for r in failed)
    assert rows(sqlite_url, "SELECT COUNT(*) AS n FROM service_case WHERE source_system = 'police'") == [{"n": 0}]

    run_source("police", Settings.resolve(store_url=sqlite_url, folders={"police": outbox}))
    assert rows(sqlite_url, "SELECT COUNT(*) AS n FROM service_case WHERE source_system = 'police'") == [{"n": 1}]
