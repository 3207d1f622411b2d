"""The benchmarks work end to end at a tiny size and print their figures; no timing is asserted.

The scripts start together (they are processes, mostly waiting on imports and
databases), and each test reads one script's output and its JSON figures.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from benchmarks.run_all import render
from tests.conftest import MARIADB_ADMIN_URL, PG_ADMIN_URL, _unavailable

ROOT = Path(__file__).resolve().parent.parent
ROWS = 500
SCRIPTS = {
    "hrss": ["hrss_file_load.py", "--stores", "postgresql"],
    "police": ["police_outbox_load.py", "--batch-rows", "200"],
    "medins": ["medins_exchange_load.py", "--mariadb", MARIADB_ADMIN_URL],
    "rest": ["rest_api_load.py"],
}


def _reachable(url: str, what: str) -> None:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect():
            pass
    except sa.exc.OperationalError as exc:
        _unavailable(what, exc)


@pytest.fixture(scope="module")
def launched(tmp_path_factory):
    _reachable(PG_ADMIN_URL, "PostgreSQL")
    _reachable(MARIADB_ADMIN_URL, "MariaDB")
    work = tmp_path_factory.mktemp("bench")
    running = {}
    for name, (script, *options) in SCRIPTS.items():
        figures = work / f"{name}.jsonl"
        command = [sys.executable, str(ROOT / "benchmarks" / script), "--rows", str(ROWS), "--pg", PG_ADMIN_URL,
                   "--json", str(figures), *options]
        running[name] = (subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                          text=True), figures)
    yield running
    for process, _ in running.values():
        if process.poll() is None:
            process.kill()
            process.wait()


def finished(launched, name: str) -> tuple[str, list[dict]]:
    process, figures = launched[name]
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err[-3000:]
    return out, [json.loads(line) for line in figures.read_text(encoding="utf-8").splitlines()]


def runs_of(report: dict) -> dict[str, dict]:
    return {r["label"]: r for r in report["runs"]}


def check_figures(out: str, report: dict, labels: list[str], rows: int) -> None:
    """Each run has its rows, a rate, a peak RSS and a ratio to the COPY of the same records, printed and in JSON."""
    assert "NOT BALANCED" not in out
    table = out.split(f"\n{report['benchmark']}, {report['size']:,} rows\n")[1].split("\n\n")[0]
    assert table.splitlines()[0].split() == ["run", "rows", "seconds", "rows/s", "peak", "RSS", "vs", "COPY"]
    runs = runs_of(report)
    assert list(runs) == labels
    for label, r in runs.items():
        assert r["rows"] == rows, label
        assert r["rate"] > 0 and r["peak_rss_mb"] > 0 and r["balanced"], label
        assert r["ratio"] is not None and r["ratio"] > 0, label
        line = next(line for line in table.splitlines() if line.startswith(label))
        assert f"{r['rows']:,}" in line and " MB" in line and f"{r['ratio']:.3f}" in line
    assert runs["plain COPY"]["ratio"] == 1.0


def test_hrss_first_load_and_both_reloads_against_copy(launched):
    out, (report,) = finished(launched, "hrss")
    check_figures(out, report, ["pipeline → PostgreSQL", "plain COPY", "reload, every row changed → PG",
                                "reload, every row unchanged → PG", "floor → PG: insert",
                                "floor → PG: insert, index after", "floor → PG: update, index after"], ROWS)
    runs = runs_of(report)
    assert runs["pipeline → PostgreSQL"]["extra"]["inserted"] == ROWS
    changed, unchanged = runs["reload, every row changed → PG"], runs["reload, every row unchanged → PG"]
    # PostgreSQL's own count of updated rows is shown beside the pipeline's for both reloads.
    assert changed["extra"]["updated"] == ROWS and changed["extra"]["n_tup_upd"] == ROWS
    assert changed["extra"]["n_tup_ins"] == 0 and unchanged["extra"]["n_tup_ins"] == 0
    assert unchanged["extra"]["n_tup_upd"] == unchanged["extra"]["updated"]
    assert "n_tup_upd=" in out


def test_police_outbox_against_copy(launched):
    out, (report,) = finished(launched, "police")
    check_figures(out, report, ["pipeline → PostgreSQL", "plain COPY"], ROWS)
    assert "in 3 batches" in out


def test_medins_from_mariadb_and_postgresql_against_copy(launched):
    out, (report,) = finished(launched, "medins")
    check_figures(out, report, ["pipeline, MariaDB → PostgreSQL", "pipeline, PostgreSQL → PostgreSQL", "plain COPY"],
                  ROWS)


def test_rest_sources_against_copy(launched):
    out, reports = finished(launched, "rest")
    assert [r["benchmark"] for r in reports] == ["market REST API", "tax REST API"]
    for report in reports:
        # About ROWS records: cases and their evaluations, as the simulated month has them.
        assert ROWS * 0.8 < report["size"] < ROWS * 1.2
        check_figures(out, report, ["pipeline → PostgreSQL", "plain COPY"], report["size"])


def test_the_report_has_a_table_per_source_and_size_and_the_machine():
    run = {"rows": 1000, "seconds": 2.0, "peak_rss_mb": 300.0, "balanced": True, "extra": {"inserted": 1000},
           "rate": 500.0}
    reports = [
        {"benchmark": "hrss CSV drop", "size": n, "notes": [], "runs": [
            {**run, "label": "pipeline → PostgreSQL", "ratio": 0.25, "ratio_dlt": 2.0},
            {**run, "label": "plain COPY", "rate": 2000.0, "ratio": 1.0, "ratio_dlt": 8.0, "extra": {}},
            {**run, "label": "dlt merge → PostgreSQL", "rate": 250.0, "ratio": 0.125, "ratio_dlt": 1.0, "extra": {}}]}
        for n in (1000, 10_000)]
    text = render("small", reports, {"CPU": "Test CPU", "cores": "2"}, ["dlt 1.0"], {"all": 60.0}, [1000, 10_000],
                  "reader  rows\nCSV drop (hrss)  1,000")
    assert "```\nreader  rows\nCSV drop (hrss)  1,000\n```" in text
    assert "| CPU | Test CPU |" in text and "| cores | 2 |" in text and "- dlt 1.0" in text
    assert "## hrss CSV drop, 1,000 rows" in text and "## hrss CSV drop, 10,000 rows" in text
    assert "| pipeline → PostgreSQL | 1,000 | 2.0 | 500 | 300 MB | 0.250 | 2.000 | inserted 1,000 |" in text
    memory = text.split("## Peak memory by size")[1]
    assert "| 1,000 | 300 MB | 500 | 0.250 |" in memory and "| 10,000 | 300 MB | 500 | 0.250 |" in memory
