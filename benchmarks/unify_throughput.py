"""Rows per second of the columnar unify on simulated hrss cases (CSV records as the extractor hands them over).

    .venv/bin/python benchmarks/unify_throughput.py [--rows 100000] [--batch 20000]

Prints rows/s and peak RSS; the transform alone (no file reading, no store).
"""

import argparse
import csv
import io
import resource
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import pyarrow as pa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.specs import load_specs  # noqa: E402
from simulators.hrss import write_month  # noqa: E402
from transforms.columnar import unify_columnar  # noqa: E402
from transforms.records import Context  # noqa: E402


def _records(rows: int) -> tuple[list[str], list[list[str]]]:
    """At least `rows` simulated case records of one month (repeated if the month is short), as text fields."""
    with tempfile.TemporaryDirectory() as folder:
        write_month(Path(folder), "2026-10", seed=7, cases_per_month=max(rows // 3, 1000))
        out: list[list[str]] = []
        header: list[str] = []
        for path in sorted(Path(folder).glob("HRSS_BJ_*.csv")):
            lines = list(csv.reader(io.StringIO(path.read_bytes().decode("gb18030"), newline="")))
            header = lines[0]
            out += [r for r in lines[1:] if r and r[0] != "合计"]
    while len(out) < rows:
        out += out[: rows - len(out)]
    return header, out[:rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=20_000)
    args = parser.parse_args()
    spec = load_specs()["hrss"]
    s = spec.streams["cases"]
    ctx = Context(source="hrss", stream="cases", fields=s.fields, codes=s.codes, options=s.options,
                  time_formats=spec.time_formats, pii_key=b"benchmark-only-pii-key", location="bench",
                  delivery_prefix="20261001.000", today=date(2026, 11, 1), width=len(s.columns))
    header, records = _records(args.rows)
    batches = []
    for start in range(0, len(records), args.batch):
        chunk = records[start: start + args.batch]
        columns = {name: pa.array([r[i] for r in chunk], pa.string()) for i, name in enumerate(header)}
        columns["_record_no"] = pa.array(range(start + 1, start + len(chunk) + 1), pa.int64())
        batches.append(pa.RecordBatch.from_pydict(columns))
    started = time.perf_counter()
    loaded = sum(unify_columnar(b, ctx).rows.num_rows for b in batches)
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"columnar unify: {len(records):,} rows in {seconds:.2f} s = {len(records) / seconds:,.0f} rows/s "
          f"({loaded:,} loaded), batches of {args.batch:,}, peak RSS {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
