"""The Airflow part of `make demo`: a simulated month of every department, run through their DAGs.

First the departments' systems are simulated under SILOBRIDGE_HOME (var/):
the hrss drops are expected there already (the Makefile writes them), the
police outbox and the medins exchange database are written, and the market
and tax APIs are served from threads of this process on 127.0.0.1, their
connections handed to Airflow as AIRFLOW_CONN_* variables. Then, for each
day of the month, each source's DAG makes one real Airflow run in-process by
`dag.test()`, over the last of its own scheduled data intervals that starts
that day: the hourly API and database DAGs read from their committed
watermark up to the interval's end, so one run a day covers the day. One
line is printed per run; a failed run stops the demo (exit 1). At the end a
table per source sums up this demo's runs, and the store says how many
applicants it has seen in two or more departments.

    .venv/bin/python scripts/demo_airflow.py --month 2026-10 [--source all|hrss|market|tax|medins|police]

Running it again loads nothing new: files come again identically and are
skipped, the medins database is left as it is, the API windows read the same
records again.

Uses AIRFLOW_HOME (default: the repository, whose airflow.cfg keeps Airflow's
state under var/airflow/) and SILOBRIDGE_HOME (default: var/); the store and
the keys resolve as in the DAG (Airflow connections and variables, else the
environment).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import logging
import os
import shutil
import sqlite3
import sys
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SOURCES = ("hrss", "market", "tax", "medins", "police")  # the order runs go in, each day
POLICE_FAULTS = ("corrupt", "gap", "unknown_elements")
MEDINS_CASES = 1500
# All of the exchange database's quirks but its unknown codes: one in a hundred evaluations, and a quiet
# day's run of twenty would cross the 5 % error limit (market, tax and hrss show unknown codes instead).
MEDINS_BEHAVIOURS = ("bulk_seconds", "re_reports", "out_of_order", "deletions", "null_accept_time", "zero_dates",
                     "promise_units")


class DemoError(RuntimeError):
    """The demo cannot go on; the message says why."""


def _prepare_environment() -> None:
    """Before Airflow is imported: it reads its configuration and log level once, at import."""
    os.environ.setdefault("AIRFLOW_HOME", str(REPO))
    os.environ.setdefault("SILOBRIDGE_HOME", str(REPO / "var"))
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette.testclient` is deprecated")
    # One line per run and the tables: the runs' own warnings (expectation findings, a month old by now,
    # whole files quarantined) are in the tables, the store (dq_result, etl_reject) and `silobridge report`.
    logging.getLogger("silobridge").setLevel(logging.ERROR)


def _month(value: str) -> date:
    try:
        return date.fromisoformat(f"{value}-01")
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a month like 2026-10") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--month", required=True, type=_month, help="month to run, e.g. 2026-10")
    parser.add_argument("--source", default="all", choices=("all", *SOURCES),
                        help="one source, or all of them (default); the DAG is <source>_sync")
    parser.add_argument("--seed", type=int, default=7, help="seed of the simulated departments (default 7)")
    args = parser.parse_args(argv)
    sources = SOURCES if args.source == "all" else (args.source,)
    _prepare_environment()
    home = Path(os.environ["SILOBRIDGE_HOME"]).resolve()
    with contextlib.ExitStack() as servers:
        try:
            for source in sources:
                began = time.perf_counter()
                note = simulate(source, home, f"{args.month:%Y-%m}", args.seed, servers)
                print(f"{source}: {note} ({time.perf_counter() - began:.1f} s)", flush=True)
        except DemoError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        return _run_month(sources, args.month)


# --- the simulated departments ---------------------------------------------------


def _hrss(home: Path, month: str, seed: int, servers) -> str:
    folder = home / "drops" / "hrss"
    if not folder.is_dir():
        raise DemoError(f"no hrss drops in {folder}: write them first, e.g. `.venv/bin/python -m simulators.hrss "
                        f"--out {folder} --month {month} --seed {seed}` (make demo does)")
    return f"drops in {folder} ({sum(1 for p in folder.glob('*.csv'))} new data files)"


def _police(home: Path, month: str, seed: int, servers) -> str:
    from simulators.police_outbox import write_month

    manifest = write_month(home / "drops" / "police", month=month, seed=seed, faults=POLICE_FAULTS)
    faults = ", ".join(f"{r.fault} {r.name}" for r in manifest.injected)
    return f"{len(manifest.batches)} batches in {manifest.folder} (faults: {faults})"


def _medins(home: Path, month: str, seed: int, servers) -> str:
    """The exchange database, written once per month: a second demo must find no new rows in it."""
    from simulators import medins_db

    path = home / "medins.db"
    rows = medins_db.month_rows(month, seed, MEDINS_CASES, MEDINS_BEHAVIOURS)
    digest = hashlib.sha256(json.dumps([rows.cases, rows.evaluations], sort_keys=True).encode()).hexdigest()
    held = _medins_months(path)
    if held.get(month) == digest:
        note = f"{path} already holds {month}, left as it is"
    elif month in held or (path.exists() and not held):
        raise DemoError(f"{path} holds other rows for {month} than these simulator settings write; "
                        "start over with `make clean-var`")
    else:
        # Into a copy first: an interrupted write must not leave half a month behind.
        draft = path.with_name(path.name + ".draft")
        draft.unlink(missing_ok=True)
        if path.exists():
            shutil.copyfile(path, draft)
        written = medins_db.generate_month(url=f"sqlite:///{draft}", month=month, seed=seed,
                                           cases_per_month=MEDINS_CASES, behaviours=MEDINS_BEHAVIOURS)
        with contextlib.closing(sqlite3.connect(draft)) as db, db:
            db.execute("CREATE TABLE IF NOT EXISTS DEMO_MONTHS (MONTH TEXT PRIMARY KEY, SHA256 TEXT NOT NULL)")
            db.execute("INSERT INTO DEMO_MONTHS VALUES (?, ?)", (month, digest))
        os.replace(draft, path)
        note = f"wrote {written.cases} EX_CASE and {written.evaluations} EX_EVALUATE rows to {path}"
    # A JSON connection: Airflow's URI form would put the path in `schema`, where the pipeline does not look.
    os.environ["AIRFLOW_CONN_SILOBRIDGE_MEDINS"] = json.dumps({"conn_type": "sqlite", "host": str(path)})
    return note


def _medins_months(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    with contextlib.closing(sqlite3.connect(path)) as db:
        try:
            return dict(db.execute("SELECT MONTH, SHA256 FROM DEMO_MONTHS"))
        except sqlite3.OperationalError:  # written by someone else
            return {}


def _market(home: Path, month: str, seed: int, servers) -> str:
    from simulators.market_api import MarketApi, month_records

    cases, evaluations = month_records(month, seed)
    api = MarketApi(cases, evaluations)
    server = servers.enter_context(api.serve())
    os.environ["AIRFLOW_CONN_SILOBRIDGE_MARKET"] = _http_connection(server.url, api.client_id, api.client_secret)
    return f"API at {server.url} serving {len(cases)} cases and {len(evaluations)} evaluations"


def _tax(home: Path, month: str, seed: int, servers) -> str:
    from simulators.tax_api import TaxApi, month_cases

    cases = month_cases(month, seed)
    api = TaxApi(cases)
    server = servers.enter_context(api.serve())
    os.environ["AIRFLOW_CONN_SILOBRIDGE_TAX"] = _http_connection(server.url, api.app_id, api.app_secret)
    evaluations = sum(len(c["evaluations"]) for c in cases)
    return f"API at {server.url} serving {len(cases)} cases with {evaluations} evaluations"


def _http_connection(url: str, login: str, password: str) -> str:
    # JSON with schema "http": from a URI Airflow leaves `schema` empty, and the pipeline then assumes https.
    host, port = url.removeprefix("http://").split(":")
    return json.dumps({"conn_type": "http", "host": host, "port": int(port), "schema": "http",
                       "login": login, "password": password})


_PREPARE = {"hrss": _hrss, "police": _police, "medins": _medins, "market": _market, "tax": _tax}


def simulate(source: str, home: Path, month: str, seed: int, servers: contextlib.ExitStack) -> str:
    """Set up one simulated department under `home` (APIs served until `servers` closes); a line about it.

    Its connection, where it needs one, is handed over as an AIRFLOW_CONN_* variable of this process.
    """
    return _PREPARE[source](home, month, seed, servers)


# --- the runs ----------------------------------------------------------------------


@dataclass
class _Totals:
    runs: int = 0
    streams: dict[str, Counter] = field(default_factory=dict)
    reasons: dict[str, Counter] = field(default_factory=dict)

    def add(self, result: dict) -> None:
        self.runs += 1
        for name, s in result.get("streams", {}).items():
            self.streams.setdefault(name, Counter()).update(
                {k: s[k] for k in ("extracted", "inserted", "updated", "unchanged", "quarantined", "duplicates")})
            self.reasons.setdefault(name, Counter()).update(s.get("reasons") or {})
        for f in result.get("files", []):
            if f.get("outcome") == "quarantined":  # a whole file or batch: its records were never counted
                self.reasons.setdefault("whole files", Counter())[f.get("reason", "?")] += 1


def _run_month(sources: tuple[str, ...], month: date) -> int:
    started = time.perf_counter()
    from airflow.utils import db

    db.upgradedb()  # what `airflow db migrate` does; quick when the DB is already current
    dags = _load_dags([f"{s}_sync" for s in sources])
    if dags is None:
        return 2
    plans = {}
    for source in sources:
        for task in dags[source].tasks:
            # dag.test() waits out retry delays in-process; a demo run that fails should stop the demo at once.
            task.retries = 0
        plans[source] = _daily_intervals(dags[source], month)
    days = sorted({day for plan in plans.values() for day in plan})
    print(f"{', '.join(d.dag_id for d in dags.values())}: one run a day for {month:%Y-%m} "
          f"(Airflow DB ready in {time.perf_counter() - started:.1f} s; counts: +inserted ~updated =unchanged "
          f"q quarantined d duplicates)", flush=True)
    totals = {source: _Totals() for source in sources}
    for number, day in enumerate(days, 1):
        for source in sources:
            if day not in plans[source]:
                continue
            start, end = plans[source][day]
            began = time.perf_counter()
            # dag.test() gives a run the last complete interval before its logical date: pass the interval's
            # end. run_after = end too keeps the run id stable, so running the demo again re-runs the same runs.
            run = dags[source].test(logical_date=end, run_after=end)
            seconds = time.perf_counter() - began
            label = f"[{number:2d}/{len(days)}] {source:<6} {_bj(start)} → {_bj(end)}"
            if run.state != "success":
                reason = _failure_reason(source)
                print(f"{label}  FAILED ({seconds:.1f} s): "
                      + (reason or "see the task's error above"), flush=True)
                return 1
            if (run.data_interval_start, run.data_interval_end) != (start, end):
                print(f"{label}  ran over [{run.data_interval_start}, {run.data_interval_end}) instead", flush=True)
                return 1
            result = run.get_task_instance("load").xcom_pull(task_ids="load")
            totals[source].add(result)
            print(f"{label}  {_counts(result)}  ({seconds:.1f} s)", flush=True)
    print(f"{sum(t.runs for t in totals.values())} runs in {time.perf_counter() - started:.1f} s", flush=True)
    _summary(totals)
    return 0


def _load_dags(dag_ids: list[str]):
    """The DAGs as Airflow's DAG processor parses them from the configured dags folder, by source."""
    from airflow.configuration import conf
    from airflow.dag_processing.dagbag import BundleDagBag

    folder = Path(conf.get("core", "dags_folder"))
    bag = BundleDagBag(dag_folder=folder, bundle_path=folder, bundle_name="dags-folder")
    for path, error in bag.import_errors.items():
        print(f"error: {path} does not import:\n{error}", file=sys.stderr)
    missing = [d for d in dag_ids if d not in bag.dags]
    if missing:
        print(f"error: no DAG {', '.join(missing)} in {folder} (found: {', '.join(sorted(bag.dags)) or 'none'})",
              file=sys.stderr)
        return None
    return {d.removesuffix("_sync"): bag.dags[d] for d in dag_ids}


def _daily_intervals(dag, month: date) -> dict:
    """Beijing day → the last of the DAG's scheduled data intervals that starts that day, for the month's days.

    For the daily DAGs that is their one interval of the day; for the hourly ones the interval that ends
    shortly after the next midnight, so each day's run reads the whole day.
    """
    import pendulum
    from airflow.serialization.serialized_objects import DagSerialization
    from airflow.timetables.base import TimeRestriction

    # The scheduler's view of the timetable: the DAG serialized and read back.
    timetable = DagSerialization.deserialize_dag(DagSerialization.serialize_dag(dag)).timetable
    first = pendulum.datetime(month.year, month.month, 1, tz="Asia/Shanghai")
    after = first.add(months=1)
    restriction = TimeRestriction(earliest=first, latest=None, catchup=True)
    by_day, last = {}, None
    while (info := timetable.next_dagrun_info(last_automated_data_interval=last, restriction=restriction)) \
            and info.data_interval.start < after:
        start, end = info.data_interval.start, info.data_interval.end
        by_day[start.in_timezone("Asia/Shanghai").date()] = (start, end)
        last = info.data_interval
    return by_day


def _failure_reason(source: str) -> str | None:
    """The failed run's reason from the store's ledger, when the run got as far as the pipeline."""
    import sqlalchemy as sa

    from loaders.engine import make_engine
    from pipeline import views

    engine = make_engine(_store_url())
    try:
        latest = [r for r in views.last_runs(engine, per_source=1) if r["source"] == source]
    except sa.exc.SQLAlchemyError:  # it failed before it reached the store
        return None
    finally:
        engine.dispose()
    return latest[0]["failure_reason"] if latest and latest[0]["status"] == "failed" else None


def _store_url() -> str:
    from pipeline.config import connection_from_env, home, store_url_from_connection

    conn = connection_from_env("silobridge_store")
    return store_url_from_connection(conn) if conn else f"sqlite:///{home() / 'silobridge.db'}"


def _bj(moment) -> str:
    return moment.in_timezone("Asia/Shanghai").strftime("%m-%d %H:%M")


def _counts(result: dict) -> str:
    parts = []
    files = result.get("files", [])
    if files:
        outcomes = Counter(f.get("outcome", "?") for f in files)
        parts.append(f"files {len(files)} ({', '.join(f'{n} {o}' for o, n in sorted(outcomes.items()))})")
    for name, s in result.get("streams", {}).items():
        parts.append(f"{name} +{s['inserted']} ~{s['updated']} ={s['unchanged']} "
                     f"q{s['quarantined']} d{s['duplicates']}")
    notes = result.get("notes", {})
    if waiting := notes.get("waiting_for_marker") or notes.get("waiting_for_manifest"):
        parts.append(f"waiting: {len(waiting)}")
    if gaps := notes.get("gaps"):
        parts.append(f"gaps: {', '.join(gaps)}")
    return "  ".join(parts)


def _summary(totals: dict[str, _Totals]) -> None:
    from rich.console import Console
    from rich.table import Table

    from loaders.engine import describe, make_engine
    from pipeline import views

    console = Console() if Console().is_terminal else Console(width=160)
    columns = ("extracted", "inserted", "updated", "unchanged", "quarantined", "duplicates")
    for source, t in totals.items():
        table = Table(title=f"{source}: {t.runs} runs", title_justify="left")
        for column in ("stream", *columns, "quarantined by reason"):
            table.add_column(column, justify="left" if column.startswith(("stream", "quarantined by")) else "right")
        for stream in dict.fromkeys([*t.streams, *t.reasons]):
            counts = t.streams.get(stream, Counter())
            reasons = ", ".join(f"{r} {n}" for r, n in t.reasons.get(stream, Counter()).most_common()) or "-"
            table.add_row(stream, *(str(counts[c]) if stream in t.streams else "" for c in columns), reasons)
        console.print(table)
    url = _store_url()
    engine = make_engine(url)
    try:
        shared = views.cross_department_applicants(engine)
    finally:
        engine.dispose()
    console.print(f"applicants seen in two or more departments: {shared}")
    console.print(f"store: {describe(url)}  (silobridge summary | status | rejects for more)")


if __name__ == "__main__":
    sys.exit(main())
