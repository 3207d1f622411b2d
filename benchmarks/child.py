"""One measured run, in a process of its own: `python -m benchmarks.child <mode> <json arguments>`.

Prints one JSON line: rows, seconds, peak_rss_mb (this process's peak resident memory), and
mode-specific counts. Modes: `pipeline` (run_source, the public entry point, as
Airflow and the command line call it), `copy` (the plain COPY reference),
`floor` (the database's own cost of writing the loaded cases, SQL alone) and
`dlt` (a dlt merge of the same records, run by the Python of dlt's own
environment: so this module imports nothing but the standard library at the top).
"""

import json
import os
import resource
import sys
import time
from datetime import datetime
from pathlib import Path


def pipeline(source: str, store_url: str, folders: dict | None = None, connections: dict | None = None,
             window: list[str] | None = None) -> dict:
    from pipeline.config import Settings
    from pipeline.runner import run_source

    settings = Settings.resolve(store_url=store_url, folders={k: Path(v) for k, v in (folders or {}).items()},
                                connections=connections or {})
    span = tuple(datetime.fromisoformat(t) for t in window) if window else None
    result = run_source(source, settings, window=span)
    streams = result.streams.values()
    return {"rows": sum(s.extracted for s in streams), "balanced": all(s.balanced() for s in streams),
            "inserted": sum(s.inserted for s in streams), "updated": sum(s.updated for s in streams),
            "unchanged": sum(s.unchanged for s in streams), "quarantined": sum(s.quarantined for s in streams)}


def copy(url: str, files: list[dict]) -> dict:
    """Each file ({path, columns, encoding, end}) COPYed as CSV with its header into a temp table of text
    columns; `end` is the byte offset where the records stop (an hrss trailer must not be read)."""
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://", 1)
    rows = 0
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        for i, f in enumerate(files):
            table = f"copy_reference_{i}"
            cur.execute(f"CREATE TEMP TABLE {table} (" + ", ".join(f"c{j} text" for j in range(f["columns"])) + ")")
            path = Path(f["path"])
            remaining = f.get("end") or path.stat().st_size
            with path.open("rb") as src, cur.copy(f"COPY {table} FROM STDIN WITH (FORMAT csv, HEADER true, "
                                                  f"ENCODING '{f.get('encoding', 'UTF8')}')") as sink:
                while remaining > 0:
                    chunk = src.read(min(1 << 20, remaining))
                    if not chunk:
                        break
                    remaining -= len(chunk)
                    sink.write(chunk)
            cur.execute(f"SELECT COUNT(*) FROM {table}")
            rows += cur.fetchone()[0]
    return {"rows": rows}


def floor(url: str, built_after: bool, update: bool = False) -> dict:
    """What writing the loaded cases into service_case costs the store alone (SQL, no Python per row): the
    table's rows are set aside (untimed), then timed: one INSERT … SELECT of them into the emptied table with
    its indexes kept, or with its secondary indexes dropped first and built after (as a large merge does),
    in one transaction. With `update`, the table is not emptied: each row is rewritten with its own values
    by one UPDATE … FROM (what a reload that changes every row costs at least). The table ends as it
    began."""
    if url.startswith("sqlite:///"):
        import sqlite3

        conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        indexes = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' "
                               "AND tbl_name = 'service_case' AND sql IS NOT NULL").fetchall()
        empty = "DELETE FROM service_case"
    else:
        import psycopg

        conn = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://", 1), autocommit=True)
        indexes = conn.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'service_case' "
                               "AND indexname <> 'service_case_pkey'").fetchall()
        empty = "TRUNCATE service_case CASCADE"
    try:
        conn.execute("CREATE TEMP TABLE floor_rows AS SELECT * FROM service_case")
        columns = [c[0] for c in conn.execute("SELECT * FROM floor_rows LIMIT 0").description]
        if update:
            assignments = ", ".join(f"{c} = f.{c}" for c in columns if c != "case_no")
            write = f"UPDATE service_case SET {assignments} FROM floor_rows f WHERE service_case.case_no = f.case_no"
        else:
            conn.execute(empty)
            write = "INSERT INTO service_case SELECT * FROM floor_rows"
        indexes = indexes if built_after else []
        started = time.perf_counter()
        conn.execute("BEGIN")
        for name, _ in indexes:
            conn.execute(f"DROP INDEX {name}")
        rows = conn.execute(write).rowcount
        for _, definition in indexes:
            conn.execute(definition)
        conn.execute("COMMIT")
        seconds = time.perf_counter() - started
    finally:
        conn.close()
    return {"rows": rows, "timed_seconds": seconds}


def peak_rss_mb() -> float:
    """This process's peak resident memory. Linux's VmHWM is the process image's own; ru_maxrss would also
    count the parent's resident memory at the fork that started it (Linux keeps it across exec)."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")) / 1024


def dlt_merge(url: str, path: str, encoding: str, end: int, key_column: int) -> dict:
    """dlt's merge, with its defaults, of a CSV file's records (header skipped, read up to byte `end`) into
    PostgreSQL; runs in the separate environment that has dlt (benchmarks/run_all.py makes it)."""
    import csv
    import io
    import tempfile

    import dlt

    def records():
        with open(path, "rb") as f:
            text = io.TextIOWrapper(io.BytesIO(f.read(end)), encoding=encoding, newline="")
            rows = csv.reader(text)
            width = len(next(rows))
            batch = []
            for row in rows:
                batch.append({f"c{i}": row[i] for i in range(width)})
                if len(batch) == 10_000:
                    yield batch
                    batch = []
            if batch:
                yield batch

    # dlt insists on a password; a server that trusts local connections (as the test servers do) ignores it.
    os.environ.setdefault("DESTINATION__POSTGRES__CREDENTIALS__PASSWORD", "unused-on-trust")
    resource = dlt.resource(records(), name="cases", write_disposition="merge", primary_key=f"c{key_column}")
    with tempfile.TemporaryDirectory(prefix="silobridge-dlt-") as home:
        pipe = dlt.pipeline(pipeline_name="bench", pipelines_dir=home, dataset_name="dlt_bench",
                            destination=dlt.destinations.postgres(url.replace("+psycopg", "")))
        pipe.run(resource)
        with pipe.sql_client() as client:
            rows = client.execute_sql("SELECT COUNT(*) FROM cases")[0][0]
    return {"rows": rows}


def main() -> None:
    mode, args = sys.argv[1], json.loads(sys.argv[2])
    started = time.perf_counter()
    figures = {"pipeline": pipeline, "copy": copy, "dlt": dlt_merge, "floor": floor}[mode](**args)
    figures["seconds"] = figures.pop("timed_seconds", None) or time.perf_counter() - started
    figures["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
