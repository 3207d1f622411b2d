"""The Airflow part of `make demo`: run `<source>_sync` through Airflow for every daily interval of a month.

Each run is a real Airflow DAG run made in-process by `dag.test()`, in order,
one per data interval of the DAG's own timetable that starts in the month; a
run loads the files that became due in its interval. Airflow's metadata DB is
created or upgraded first (`airflow db migrate`). One line is printed per run.

    .venv/bin/python scripts/demo_airflow.py --month 2026-10 --source hrss

Uses AIRFLOW_HOME (default: the repository, whose airflow.cfg keeps Airflow's
state under var/airflow/) and SILOBRIDGE_HOME (default: var/); the store, the
drop folder and the keys resolve as in the DAG (Airflow connections and
variables, else the environment).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _prepare_environment() -> None:
    """Before Airflow is imported: it reads its configuration and log level once, at import."""
    os.environ.setdefault("AIRFLOW_HOME", str(REPO))
    os.environ.setdefault("SILOBRIDGE_HOME", str(REPO / "var"))
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette.testclient` is deprecated")


def _month(value: str) -> date:
    try:
        return date.fromisoformat(f"{value}-01")
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a month like 2026-10") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--month", required=True, type=_month, help="month to run, e.g. 2026-10")
    parser.add_argument("--source", default="hrss", help="source spec name (the DAG is <source>_sync)")
    args = parser.parse_args(argv)
    _prepare_environment()

    started = time.perf_counter()
    from airflow.utils import db

    db.upgradedb()  # what `airflow db migrate` does; quick when the DB is already current
    migrated = time.perf_counter() - started

    dag = _load_dag(f"{args.source}_sync")
    if dag is None:
        return 2
    for task in dag.tasks:
        # dag.test() waits out retry delays in-process; a demo run that fails should stop the demo at once.
        task.retries = 0

    intervals = _intervals_starting_in(dag, args.month)
    print(f"{dag.dag_id}: {len(intervals)} runs for {args.month:%Y-%m}, one per data interval "
          f"(Airflow DB ready in {migrated:.1f} s; counts: +inserted ~updated =unchanged "
          f"q quarantined d duplicates)", flush=True)
    for number, (start, end) in enumerate(intervals, 1):
        began = time.perf_counter()
        # dag.test() gives a run the last complete interval before its logical date: pass the interval's
        # end. run_after = end too keeps the run id stable, so running the demo again re-runs the same runs.
        run = dag.test(logical_date=end, run_after=end)
        seconds = time.perf_counter() - began
        label = f"[{number:2d}/{len(intervals)}] {_bj(start)} → {_bj(end)}"
        if run.state != "success":
            print(f"{label}  FAILED ({seconds:.1f} s): see the task's error above; "
                  f"the store's etl_run ledger has the reason", flush=True)
            return 1
        if (run.data_interval_start, run.data_interval_end) != (start, end):
            print(f"{label}  ran over [{run.data_interval_start}, {run.data_interval_end}) instead", flush=True)
            return 1
        result = run.get_task_instance("load").xcom_pull(task_ids="load")
        print(f"{label}  {_counts(result)}  ({seconds:.1f} s)", flush=True)
    total = time.perf_counter() - started
    print(f"{dag.dag_id}: {len(intervals)} runs in {total:.1f} s", flush=True)
    return 0


def _load_dag(dag_id: str):
    """The DAG as Airflow's DAG processor parses it from the configured dags folder."""
    from airflow.configuration import conf
    from airflow.dag_processing.dagbag import BundleDagBag

    folder = Path(conf.get("core", "dags_folder"))
    bag = BundleDagBag(dag_folder=folder, bundle_path=folder, bundle_name="dags-folder")
    for path, error in bag.import_errors.items():
        print(f"error: {path} does not import:\n{error}", file=sys.stderr)
    if dag_id not in bag.dags:
        print(f"error: no DAG {dag_id} in {folder} (found: {', '.join(sorted(bag.dags)) or 'none'})",
              file=sys.stderr)
        return None
    return bag.dags[dag_id]


def _intervals_starting_in(dag, month: date) -> list:
    """The DAG's scheduled data intervals that start within the month (Beijing time), in order."""
    import pendulum
    from airflow.serialization.serialized_objects import DagSerialization
    from airflow.timetables.base import TimeRestriction

    # The scheduler's view of the timetable: the DAG serialized and read back.
    timetable = DagSerialization.deserialize_dag(DagSerialization.serialize_dag(dag)).timetable
    first = pendulum.datetime(month.year, month.month, 1, tz="Asia/Shanghai")
    after = first.add(months=1)
    restriction = TimeRestriction(earliest=max(first, dag.start_date), latest=None, catchup=True)
    intervals, last = [], None
    while (info := timetable.next_dagrun_info(last_automated_data_interval=last, restriction=restriction)) \
            and info.data_interval.start < after:
        intervals.append((info.data_interval.start, info.data_interval.end))
        last = info.data_interval
    return intervals


def _bj(moment) -> str:
    return moment.in_timezone("Asia/Shanghai").strftime("%m-%d %H:%M")


def _counts(result: dict) -> str:
    files = result.get("files", [])
    outcomes = {}
    for f in files:
        outcomes[f.get("outcome", "?")] = outcomes.get(f.get("outcome", "?"), 0) + 1
    parts = [f"files {len(files)}" + (f" ({', '.join(f'{n} {o}' for o, n in sorted(outcomes.items()))})"
                                      if files else "")]
    for name, s in result.get("streams", {}).items():
        parts.append(f"{name} +{s['inserted']} ~{s['updated']} ={s['unchanged']} "
                     f"q{s['quarantined']} d{s['duplicates']}")
    waiting = result.get("notes", {}).get("waiting_for_marker")
    if waiting:
        parts.append(f"waiting for marker: {len(waiting)}")
    return "  ".join(parts)


if __name__ == "__main__":
    sys.exit(main())
