"""Throughput and memory of an hrss drop through the full pipeline, against a plain COPY.

    .venv/bin/python benchmarks/hrss_file_load.py [--rows 1000000] [--pg postgresql://postgres@127.0.0.1:5432/postgres]

Writes one HRSS_BJ file of N simulated rows, then, each in its own process so
peak RSS is that run's alone: the pipeline into a fresh SQLite store, the
pipeline into a fresh PostgreSQL database, and — the reference, measured in the
same run on the same rows — a plain PostgreSQL `COPY` of the file's records into
a table of text columns (no validation, no pseudonymization, no merge).
"""

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BENCH_KEY = "benchmark-only-pii-key"


def _child(mode: str, folder: str, url: str) -> None:
    """Runs in a subprocess; prints one JSON line with its own figures."""
    import os

    os.environ["SILOBRIDGE_PII_KEY"] = BENCH_KEY
    started = time.perf_counter()
    if mode == "pipeline":
        from pipeline.config import Settings
        from pipeline.runner import run_source

        result = run_source("hrss", Settings.resolve(store_url=url, folders={"hrss": Path(folder)}))
        cases = result.streams["cases"]
        rows, balanced = cases.extracted, cases.balanced()
    else:
        rows, balanced = _plain_copy(Path(folder), url), True
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"rows": rows, "seconds": seconds, "peak_rss_mb": peak_mb, "balanced": balanced}))


def _plain_copy(folder: Path, url: str) -> int:
    import psycopg

    from loaders.engine import normalize_url

    path = next(folder.glob("HRSS_BJ_*.csv"))
    data_end = _trailer_offset(path)
    dsn = normalize_url(url).replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("CREATE TEMP TABLE copy_reference (" + ", ".join(f"c{i} text" for i in range(16)) + ")")
        with path.open("rb") as f, cur.copy("COPY copy_reference FROM STDIN WITH (FORMAT csv, HEADER true, ENCODING 'GB18030')") as copy:
            remaining = data_end
            while remaining > 0:
                chunk = f.read(min(1 << 20, remaining))
                remaining -= len(chunk)
                copy.write(chunk)
        cur.execute("SELECT COUNT(*) FROM copy_reference")
        return cur.fetchone()[0]


def _trailer_offset(path: Path) -> int:
    """Byte offset where the trailer line `合计,<n>` starts (COPY must not read it)."""
    size = path.stat().st_size
    with path.open("rb") as f:
        f.seek(max(0, size - 64))
        tail = f.read()
    return size - len(tail) + tail.rstrip(b"\r\n").rfind(b"\n") + 1


def _measure(mode: str, folder: Path, url: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", mode, str(folder), url],
                         check=True, capture_output=True, text=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _fresh_drop(source: Path, work: Path) -> Path:
    folder = work / f"drop-{uuid.uuid4().hex[:6]}"
    shutil.copytree(source, folder)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
                        help="an existing PostgreSQL database to create scratch databases from")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(*args.child)
        return

    from simulators.hrss import write_bulk

    with tempfile.TemporaryDirectory(prefix="silobridge-bench-") as tmp:
        work = Path(tmp)
        source = work / "source"
        started = time.perf_counter()
        write_bulk(source, rows=args.rows, seed=1)
        size_mb = sum(p.stat().st_size for p in source.iterdir()) / 1e6
        print(f"hrss drop: {args.rows:,} rows, {size_mb:,.0f} MB GB18030, written in {time.perf_counter() - started:.1f} s")

        results = {"pipeline → SQLite": _measure("pipeline", _fresh_drop(source, work), f"sqlite:///{work / 'bench.db'}")}
        admin = sa.create_engine(args.pg.replace("postgresql://", "postgresql+psycopg://", 1)
                                 if args.pg.startswith("postgresql://") else args.pg, isolation_level="AUTOCOMMIT")
        name = f"silobridge_bench_{uuid.uuid4().hex[:8]}"
        try:
            with admin.connect() as conn:
                conn.exec_driver_sql(f"CREATE DATABASE {name}")
        except sa.exc.OperationalError as exc:
            print(f"PostgreSQL at {admin.url.render_as_string()} is not reachable ({str(exc).splitlines()[0]}); "
                  "measured SQLite only")
        else:
            pg_url = admin.url.set(database=name).render_as_string(hide_password=False)
            try:
                results["pipeline → PostgreSQL"] = _measure("pipeline", _fresh_drop(source, work), pg_url)
                results["reference: plain COPY"] = _measure("copy", source, pg_url)
            finally:
                with admin.connect() as conn:
                    conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    reference = results.get("reference: plain COPY")
    print(f"\n{'run':<24}{'rows':>12}{'seconds':>10}{'rows/s':>12}{'peak RSS':>11}{'vs COPY':>9}  ledger")
    for label, r in results.items():
        rate = r["rows"] / r["seconds"]
        ratio = f"{rate / (reference['rows'] / reference['seconds']):.3f}" if reference else "-"
        print(f"{label:<24}{r['rows']:>12,}{r['seconds']:>10.1f}{rate:>12,.0f}{r['peak_rss_mb']:>8,.0f} MB{ratio:>9}"
              f"  {'balanced' if r['balanced'] else 'NOT BALANCED'}")


if __name__ == "__main__":
    main()
