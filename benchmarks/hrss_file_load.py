"""Throughput and memory of an hrss drop through the full pipeline, against a plain COPY.

    .venv/bin/python benchmarks/hrss_file_load.py [--rows 1000000] [--stores sqlite,postgresql] [--no-reload]

Writes one HRSS_BJ file of N simulated rows, then, each in its own process so
peak RSS is that run's alone: the pipeline into a fresh SQLite store, the
pipeline into a fresh PostgreSQL database, and — the reference, measured in the
same run on the same rows — a plain PostgreSQL `COPY` of the file's records into
a table of text columns (no validation, no pseudonymization, no merge).
With --dlt-python, also dlt's merge (its defaults) of the same records into
PostgreSQL, for comparison with a general-purpose loader.

Then two reloads into the PostgreSQL store: the day's correction `_R1`, every
row again with another fee (each row conflicts and is greater: updated), then
the same `_R1` once more after its committed position is deleted (each row
conflicts at the same precedence: unchanged, and the store should write
nothing; a correction `_R2` of the same rows would be greater again, which
the contract counts as updated). For each,
PostgreSQL's own count of updated rows (pg_stat_user_tables.n_tup_upd of
service_case) is printed beside the pipeline's.

Last, the floor that the table shape sets, measured on each loaded
store: the loaded cases written again by one `INSERT … SELECT` into the emptied
service_case, with its seven indexes maintained row by row, and with the
secondary ones built after (as a large merge does); and every stored row
rewritten by one `UPDATE … FROM`, indexes built after (a reload's floor). SQL
alone, no Python: a pipeline that validates and merges cannot load faster.
"""

import argparse
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import (  # noqa: E402
    DLT, Report, common_arguments, copy_files, measure, pg_url, scratch_pg, sigterm_exits, table_updates,
)


def trailer_offset(path: Path) -> int:
    """Byte offset where the trailer line `合计,<n>` starts (COPY must not read it)."""
    size = path.stat().st_size
    with path.open("rb") as f:
        f.seek(max(0, size - 64))
        tail = f.read()
    return size - len(tail) + tail.rstrip(b"\r\n").rfind(b"\n") + 1


def write_drop(folder: Path, rows: int) -> Path:
    """A folder holding one complete HRSS_BJ file of `rows` rows."""
    from simulators.hrss import write_bulk

    return folder / write_bulk(folder, rows=rows, seed=1).name


def write_correction(original: Path, folder: Path, n: int) -> Path:
    """The day again as correction `_R<n>`: the same rows, each with another 收费金额 than the original's."""
    folder.mkdir(parents=True)
    path = folder / f"{original.stem}_R{n}.csv"
    with original.open("rb") as src, path.open("wb") as out:
        out.write(src.readline())
        for line in src:
            if not line.startswith("合计,".encode("gb18030")):
                head, _fee, updated = line.rsplit(b",", 2)
                line = head + b",1.50," + updated
            out.write(line)
    path.with_name(path.name + ".ok").write_bytes(b"")
    return path


def fresh_copy(source: Path, work: Path) -> Path:
    """The pipeline archives what it loaded: each run gets its own copy of the drop."""
    folder = work / f"drop-{uuid.uuid4().hex[:6]}"
    shutil.copytree(source, folder)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common_arguments(parser, 1_000_000)
    parser.add_argument("--stores", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql")
    parser.add_argument("--no-reload", action="store_true", help="measure the first loads only")
    parser.add_argument("--dlt-python", help="the Python of an environment with dlt[postgres]: also measure "
                                             "dlt's merge of the same records into PostgreSQL")
    args = parser.parse_args()
    sigterm_exits()
    stores = set(args.stores.split(","))
    report = Report("hrss CSV drop", args.rows)

    with tempfile.TemporaryDirectory(prefix="silobridge-bench-") as tmp:
        work = Path(tmp)
        started = time.perf_counter()
        first = write_drop(work / "first", args.rows)
        print(f"hrss drop: {args.rows:,} rows, {first.stat().st_size / 1e6:,.0f} MB GB18030, "
              f"written in {time.perf_counter() - started:.1f} s")

        sqlite_url = f"sqlite:///{work / 'bench.db'}"
        if "sqlite" in stores:
            report.runs.append(measure("pipeline → SQLite", "pipeline", source="hrss", store_url=sqlite_url,
                                       folders={"hrss": str(fresh_copy(first.parent, work))}))
        with scratch_pg(args.pg, "hrss") as url:
            if url is None:
                report.notes.append("PostgreSQL unreachable: no COPY reference, no PostgreSQL runs")
            else:
                if "postgresql" in stores:
                    report.runs.append(measure("pipeline → PostgreSQL", "pipeline", source="hrss", store_url=url,
                                               folders={"hrss": str(fresh_copy(first.parent, work))}))
                report.runs.append(copy_files(url, [{"path": str(first), "columns": 16, "encoding": "GB18030",
                                                     "end": trailer_offset(first)}]))
                if args.dlt_python:
                    # 办件编号 (the second field) is the case's key, as in the pipeline's merge.
                    report.runs.append(measure(DLT, "dlt", python=args.dlt_python, url=url, path=str(first),
                                               encoding="gb18030", end=trailer_offset(first), key_column=1))
                if "postgresql" in stores and not args.no_reload:
                    _reloads(report, work, first, url)
                if not args.no_reload:
                    _floors(report, {"SQLite": sqlite_url if "sqlite" in stores else None,
                                     "PG": url if "postgresql" in stores else None})
    report.print(args.json)


def _floors(report: Report, stores: dict[str, str | None]) -> None:
    """The floor each loaded store's table shape sets (benchmarks.child.floor), last: it rewrites the table."""
    for store, url in stores.items():
        if url is not None:
            for how, built_after, update in (("insert", False, False), ("insert, index after", True, False),
                                             ("update, index after", True, True)):
                report.runs.append(measure(f"floor → {store}: {how}", "floor", url=url, built_after=built_after,
                                           update=update))
    report.notes.append(
        "the floor rows are the store alone (SQL, no Python; seconds of the statements only): the loaded cases "
        "written again into the emptied service_case by one INSERT … SELECT, its indexes kept, or its six "
        "secondary indexes built after; or every stored row rewritten by one UPDATE … FROM, indexes built "
        "after (a reload's floor). No pipeline that validates and merges into this table can pass them")


def _reloads(report: Report, work: Path, first: Path, url: str) -> None:
    # _R1 changes every row loaded (each a greater record: updated). Then _R1 is read once more after its
    # committed position is deleted, as an operator re-runs a delivery: the same records at the same
    # precedence, so each is unchanged and the store should write nothing.
    correction = write_correction(first, work / "reload-1", 1)
    for label, forget in (("reload, every row changed → PG", False), ("reload, every row unchanged → PG", True)):
        folder = fresh_copy(correction.parent, work)
        if forget:
            engine = sa.create_engine(pg_url(url))
            with engine.begin() as conn:
                conn.execute(sa.text("DELETE FROM etl_watermark WHERE source = 'hrss' AND position = :name"),
                             {"name": correction.name})
            engine.dispose()
        before = table_updates(url, "service_case")
        run = measure(label, "pipeline", source="hrss", store_url=url, folders={"hrss": str(folder)})
        time.sleep(1)  # PostgreSQL publishes a backend's table counts at most once a second
        after = table_updates(url, "service_case")
        run.extra = {"updated": run.extra["updated"], "unchanged": run.extra["unchanged"],
                     "n_tup_upd": after["upd"] - before["upd"], "n_tup_ins": after["ins"] - before["ins"]}
        report.runs.append(run)

if __name__ == "__main__":
    main()
