"""Rows per second of the file readers alone (no transform, no store): the CSV drop reader on an hrss file,
the XML outbox reader on police batches.

    .venv/bin/python benchmarks/readers.py [--rows 1000000] [--baseline main]

With --baseline, the readers as they are at that git revision are measured in
the same run on the same files (before/after a change to extractors/). Each
reader runs in this process, one after the other; peak RSS is not measured
here (the load benchmarks measure it per process). Rows per CPU second are
printed too: on a shared machine they vary less than rows per second.
"""

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import ROOT  # noqa: E402


def module_at(revision: str, name: str) -> ModuleType:
    """extractors/<name>.py as it is at a git revision, imported under another name."""
    source = subprocess.run(["git", "show", f"{revision}:extractors/{name}.py"], capture_output=True, text=True,
                            cwd=ROOT, check=True).stdout
    spec = importlib.util.spec_from_loader(f"baseline_{name}", loader=None)
    module = importlib.util.module_from_spec(spec)
    exec(compile(source, f"{revision}:extractors/{name}.py", "exec"), module.__dict__)
    return module


def read_csv(module: ModuleType, path: Path) -> int:
    from simulators.hrss import BJ_HEADER

    file = module.DropFile(path, "cases", None, 0)
    reader = module.CsvFileReader(file, list(BJ_HEADER), encoding="gb18030", trailer_label="合计")
    rows = sum(batch.num_rows for batch in reader.batches())
    assert reader.verdict.problem is None, reader.verdict.detail
    return rows


def read_xml(module: ModuleType, folder: Path) -> int:
    rows = 0
    for batch in module.scan_outbox(folder).ready:
        reader = module.XmlBatchReader(batch, lambda number: "p" + number[-4:], mask=lambda number, kind: "m")
        rows += sum(b.num_rows for _, b in reader.batches())
        assert reader.verdict.problem is None, reader.verdict.detail
    return rows


def timed(label: str, read, *args) -> None:
    started, cpu = time.perf_counter(), time.process_time()
    rows = read(*args)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(f"{label:<34}{rows:>11,}{seconds:>9.1f}{rows / seconds:>12,.0f}{cpu:>9.1f}{rows / cpu:>14,.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--baseline", help="a git revision whose readers to measure too (e.g. main)")
    args = parser.parse_args()
    from benchmarks.hrss_file_load import write_drop
    from benchmarks.police_outbox_load import write_outbox
    from extractors import csv_drop, xml_batches

    with tempfile.TemporaryDirectory(prefix="silobridge-bench-") as tmp:
        work = Path(tmp)
        csv_path = write_drop(work / "hrss", args.rows)
        write_outbox(work / "outbox", args.rows, 20_000)
        print(f"\nreaders, {args.rows:,} rows\n{'reader':<34}{'rows':>11}{'seconds':>9}{'rows/s':>12}"
              f"{'CPU s':>9}{'rows/CPU s':>14}")
        readers = [("", csv_drop, xml_batches)]
        if args.baseline:
            readers.insert(0, (f" @ {args.baseline}", module_at(args.baseline, "csv_drop"),
                               module_at(args.baseline, "xml_batches")))
        for suffix, csv_module, _ in readers:
            timed(f"CSV drop (hrss){suffix}", read_csv, csv_module, csv_path)
        for suffix, _, xml_module in readers:
            timed(f"XML outbox (police){suffix}", read_xml, xml_module, work / "outbox")


if __name__ == "__main__":
    main()
