"""Throughput and memory of the medins exchange database through the full pipeline, against a plain COPY.

    .venv/bin/python benchmarks/medins_exchange_load.py [--rows 1000000] [--exchange mariadb,postgresql]
        [--mariadb mysql+pymysql://root@127.0.0.1:3306/mysql]

Writes N EX_CASE rows (simulators.medins_db: rows of a simulated month, each
under its own row id and 办件编号) into a fresh exchange database on MariaDB and
on PostgreSQL (not timed), then, each in its own process: the pipeline reading
each exchange database into a fresh PostgreSQL store, and the reference — a
plain COPY of the same rows, as CSV, into a table of text columns.
"""

import argparse
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import (  # noqa: E402
    Report, common_arguments, copy_files, measure, scratch_database, scratch_pg, sigterm_exits, write_csv,
)

DEFAULT_MARIADB = "mysql+pymysql://root@127.0.0.1:3306/mysql"
_WRITE_ROWS = 20_000


def records(rows: int, seed: int = 1) -> Iterator[dict]:
    """`rows` EX_CASE rows: the simulated month's, again and again, each a case of its own (ids of the same shape)."""
    from simulators.medins_db import month_rows

    pool = month_rows("2026-10", seed, 1500, behaviours=()).cases
    for i in range(rows):
        r = pool[i % len(pool)]
        yield {**r, "ORGBUSNO": r["ORGBUSNO"][:-10] + f"{i:010d}", "PROJID": r["PROJID"][:-10] + f"{i:010d}"}


def fill(url: str, rows: int) -> None:
    from simulators.medins_db import create_schema, write_cases

    create_schema(url)
    chunk = []
    for record in records(rows):
        chunk.append(record)
        if len(chunk) == _WRITE_ROWS:
            write_cases(url, chunk)
            chunk = []
    if chunk:
        write_cases(url, chunk)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common_arguments(parser, 1_000_000)
    parser.add_argument("--exchange", default="mariadb,postgresql", help="exchange databases to read from")
    parser.add_argument("--mariadb", default=DEFAULT_MARIADB, help="an existing MariaDB database to create one from")
    args = parser.parse_args()
    sigterm_exits()
    from simulators.medins_db import EX_CASE

    columns = [c.name for c in EX_CASE.columns]
    report = Report("medins exchange database", args.rows)
    with tempfile.TemporaryDirectory(prefix="silobridge-bench-") as tmp:
        csv_path = Path(tmp) / "cases.csv"
        write_csv(csv_path, columns, records(args.rows))
        with scratch_pg(args.pg, "store") as store:
            if store is None:
                report.notes.append("PostgreSQL unreachable: nothing measured")
            else:
                for kind in args.exchange.split(","):
                    _measure_from(kind, args, report)
                report.runs.append(copy_files(store, [{"path": str(csv_path), "columns": len(columns)}]))
    report.print(args.json)


def _measure_from(kind: str, args, report: Report) -> None:
    scratch = scratch_database(args.mariadb, "medins", "MariaDB", create_options=" CHARACTER SET utf8mb4") if kind == "mariadb" else scratch_pg(args.pg, "exchange")
    with scratch as exchange, scratch_pg(args.pg, "medins") as store:
        if exchange is None:
            report.notes.append(f"{kind} unreachable: not measured")
            return
        started = time.perf_counter()
        fill(exchange, args.rows)
        print(f"medins exchange on {kind}: {args.rows:,} EX_CASE rows written in {time.perf_counter() - started:.1f} s")
        label = "pipeline, MariaDB → PostgreSQL" if kind == "mariadb" else "pipeline, PostgreSQL → PostgreSQL"
        report.runs.append(measure(label, "pipeline", source="medins", store_url=store,
                                   connections={"silobridge_medins": {"uri": exchange}}))


if __name__ == "__main__":
    main()
