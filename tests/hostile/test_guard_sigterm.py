"""SIGTERM (Airflow stopping a task, a service manager) ends a run cleanly: rolled back, its failed ledger rows
committed with a reason starting `terminated`, a non-zero exit; a rerun then loads everything exactly once."""

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

from loaders.engine import make_engine
from pipeline.config import Settings
from pipeline.runner import run_source
from schemas.sql import sql_tables
from simulators.hrss import write_day
from tests.clear_numbers import assert_nowhere_in_clear
from tests.test_hrss_contract import ledger_balances, rows
from transforms.identifiers import is_valid_id_card, is_valid_uscc

REPO = Path(__file__).resolve().parents[2]
DAYS = ("2026-10-05", "2026-10-06", "2026-10-07", "2026-10-08")

# The real command line, announcing each file as the run starts reading it (where its progress bar would start).
ANNOUNCING_CLI = """
import sys
import pipeline.cli as cli

class Announce:
    def __init__(self, bar): pass
    def start(self, name, total): print("reading", name, flush=True)
    def advance(self, name, done): pass
    def finish(self, name): pass

cli._RichProgress = Announce
sys.exit(cli.main(sys.argv[1:]))
"""


def _drop(folder: Path) -> None:
    for day in DAYS:
        write_day(folder, day, cases_per_month=3000)


def _personal_numbers(folder: Path) -> list[str]:
    """ID and mobile numbers the drop holds in clear (a sample is enough to look for)."""
    text = "".join(p.read_bytes().decode("gb18030", "replace") for p in folder.glob("HRSS_BJ_*.csv"))
    ids = [n for n in re.findall(r"(?<![0-9A-Z])\d{17}[0-9X](?![0-9A-Z])", text)
           if is_valid_id_card(n) and not is_valid_uscc(n)]
    mobiles = re.findall(r"(?<![0-9])1[3-9]\d{9}(?![0-9])", text)
    return sorted(set(ids))[:100] + sorted(set(mobiles))[:100]


def _contents(store_url: str) -> dict:
    """What the store holds, read through the typed tables (instants compare alike on both backends)."""
    columns = {
        "service_case": ("case_no", "status", "applicant_key", "applicant_cert_masked", "source_updated_at",
                         "delivery_order"),
        "service_evaluation": ("eval_no", "score", "comment", "source_updated_at"),
        "etl_reject": ("location", "record_key", "reason"),
        "etl_watermark": ("stream", "position", "fingerprint", "outcome"),
    }
    engine = make_engine(store_url)
    with engine.connect() as conn:
        held = {name: [tuple(r) for r in conn.execute(sa.select(*(sql_tables[name].c[c] for c in cols))
                                                      .order_by(*(sql_tables[name].c[c] for c in cols[:2])))]
                for name, cols in columns.items()}
    engine.dispose()
    return held


def test_sigterm_mid_run_rolls_back_records_terminated_and_a_rerun_loads_everything_once(store_url, tmp_path):
    drop = tmp_path / "drop"
    _drop(drop)
    numbers = _personal_numbers(drop)
    assert len(numbers) > 20
    files = sorted(p.name for p in drop.iterdir() if not p.name.endswith(".ok"))
    run = subprocess.Popen([sys.executable, "-c", ANNOUNCING_CLI, "--store", store_url, "run", "hrss", "--drop",
                            str(drop)], cwd=REPO, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env={**os.environ, "PYTHONPATH": str(REPO)})
    started = []
    for line in run.stdout:
        started.append(line)
        if len(started) == 3:  # two files staged in the run's transaction, the third being read
            run.send_signal(signal.SIGTERM)
            break
    out, err = run.communicate(timeout=120)
    assert started[-1].startswith("reading HRSS_"), started
    assert run.returncode == 143, err
    sentence = [line for line in err.splitlines() if line.strip()]
    assert len(sentence) == 1 and sentence[0].startswith("error: terminated: hrss run hrss-"), err

    ledger = rows(store_url, "SELECT stream, status, failure_reason, extracted FROM etl_run ORDER BY stream")
    assert [(r["stream"], r["status"], r["extracted"]) for r in ledger] == [("cases", "failed", 0),
                                                                            ("evaluations", "failed", 0)]
    assert all(r["failure_reason"].startswith("terminated: hrss run hrss-") for r in ledger)
    assert all(not table for table in _contents(store_url).values()), "nothing of the stopped run was committed"
    assert sorted(p.name for p in drop.iterdir() if not p.name.endswith(".ok")) == files, "nothing was archived"

    rerun = run_source("hrss", Settings.resolve(store_url=store_url, folders={"hrss": drop}))
    assert {f["file"]: f["outcome"] for f in rerun.files} == dict.fromkeys(files, "loaded")

    uninterrupted = f"sqlite:///{tmp_path / 'uninterrupted.db'}"
    clean = tmp_path / "clean"
    _drop(clean)
    run_source("hrss", Settings.resolve(store_url=uninterrupted, folders={"hrss": clean}))
    assert _contents(store_url) == _contents(uninterrupted)
    ledger_balances(store_url)
    assert_nowhere_in_clear(store_url, numbers, [err])
