"""Throughput and memory of the police XML outbox through the full pipeline, against a plain COPY.

    .venv/bin/python benchmarks/police_outbox_load.py [--rows 1000000] [--batch-rows 20000]

Writes N CASE records as numbered, checksummed batches (simulators.police_outbox:
records of a simulated month, each with its own 办件编号), then, each in its own
process: the pipeline into a fresh PostgreSQL store, and the reference — a
plain COPY of the same records, as CSV, into a table of text columns.
"""

import argparse
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import (  # noqa: E402
    Report, common_arguments, copy_files, measure, scratch_pg, sigterm_exits, write_csv,
)

DAY = date(2026, 10, 5)


def records(rows: int, seed: int = 1):
    """`rows` CASE records: the simulated month's, again and again, each under a new 办件编号 of the same shape."""
    from simulators.police_outbox import _plan

    pool = [c for b in _plan(DAY.year, DAY.month, seed, 1, 40) for c in b.cases]
    for i in range(rows):
        yield {**pool[i % len(pool)], "BJBH": f"GA340603B{i:012d}"}


def write_outbox(folder: Path, rows: int, batch_rows: int) -> None:
    from simulators.police_outbox import write_batch

    batch, seq = [], 1
    for record in records(rows):
        batch.append(record)
        if len(batch) == batch_rows:
            write_batch(folder, seq, DAY, batch, [])
            batch, seq = [], seq + 1
    if batch:
        write_batch(folder, seq, DAY, batch, [])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common_arguments(parser, 1_000_000)
    parser.add_argument("--batch-rows", type=int, default=20_000, help="CASE records per batch file")
    args = parser.parse_args()
    sigterm_exits()
    from extractors.xml_batches import FIELDS

    report = Report("police XML outbox", args.rows)
    with tempfile.TemporaryDirectory(prefix="silobridge-bench-") as tmp:
        work = Path(tmp)
        started = time.perf_counter()
        write_outbox(work / "outbox", args.rows, args.batch_rows)
        columns = list(FIELDS["CASE"])
        write_csv(work / "cases.csv", columns, records(args.rows))
        size = sum(p.stat().st_size for p in (work / "outbox").iterdir())
        print(f"police outbox: {args.rows:,} CASE records in {-(-args.rows // args.batch_rows)} batches, "
              f"{size / 1e6:,.0f} MB, written in {time.perf_counter() - started:.1f} s")
        with scratch_pg(args.pg, "police") as url:
            if url is None:
                report.notes.append("PostgreSQL unreachable: nothing measured")
            else:
                report.runs.append(measure("pipeline → PostgreSQL", "pipeline", source="police", store_url=url,
                                           folders={"police": str(work / "outbox")}))
                report.runs.append(copy_files(url, [{"path": str(work / "cases.csv"), "columns": len(columns)}]))
    report.print(args.json)


if __name__ == "__main__":
    main()
