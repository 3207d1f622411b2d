"""Staging and merge throughput of unified rows, against a plain bulk load of the same rows.

    .venv/bin/python benchmarks/merge_load.py [--rows 100000] [--pg postgresql://postgres@127.0.0.1:5432/postgres]

Builds N unified 办件 rows (as the transforms hand them to the loader: pseudonymized, masked, typed Arrow
batches of 20,000) and loads them through `loaders.run_writer.RunWriter` (stage, merge, case history, commit)
into a fresh store, each backend in its own process so peak RSS is that backend's alone. Three loads per store:

- first: every key new (every row also starts its case's history);
- reload: the same rows again, every row equal to the stored one: nothing may be written (PostgreSQL:
  `n_tup_upd`/`n_tup_ins` of service_case and row versions touched, from the statistics);
- changed: the same keys with a later `source_updated_at` and another status: every row updates and
  adds a history row.

The reference, measured in the same run on the same rows: PostgreSQL's plain `COPY` (CSV written by
Arrow) into a table of the same column types without keys, merge or history; on SQLite a plain
`executemany` INSERT into such a table in one transaction. "history" is the share of the load's time spent
in the statement that writes service_case_history (timed around `RunWriter._record_history`).
"""

import argparse
import io
import json
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BATCH_ROWS = 20_000
_STATUSES = np.array(["submitted", "accepted", "in_progress", "completed", "returned"])


def unified_cases(rows: int, *, seed: int, updated: datetime, status_shift: int = 0) -> list[pa.Table]:
    """`rows` unified cases in batches, built column-wise; the same seed gives the same keys and values."""
    from schemas.arrow import UNIFIED_BATCH_SCHEMAS

    rng = np.random.default_rng(seed)
    n = rows
    ids = np.arange(n)
    case_no = pc.binary_join_element_wise("HR", pa.array(np.char.mod("%012d", ids)), "")
    base = np.datetime64("2026-10-01T00:00:00", "us")
    apply = base + rng.integers(0, 30 * 86_400_000_000, n).astype("timedelta64[us]")
    some = rng.random(n)
    cents = rng.integers(0, 100_000, n)
    statuses = _STATUSES[(rng.integers(0, len(_STATUSES), n) + status_shift) % len(_STATUSES)]
    columns = {
        "case_no": case_no,
        "source_system": pa.array(np.full(n, "hrss")),
        "source_record_id": pa.array(np.char.mod("%d", ids)),
        "source_version": pa.array(np.ones(n, np.int64)),
        "impl_code": pa.array(np.full(n, "11341100MB1502871Q4000113110001")),
        "item_name": pa.array(np.full(n, "失业保险金申领")),
        "case_type": pa.array(rng.integers(1, 3, n)),
        "applicant_type": pa.array(np.ones(n, np.int64)),
        "applicant_cert_type": pa.array(np.full(n, "111")),
        "applicant_key": pa.array(np.char.mod("%064x", rng.integers(0, 2**62, n))),
        "applicant_cert_masked": pa.array(np.full(n, "340603********123X")),
        "applicant_name_masked": pa.array(np.full(n, "张*")),
        "contact_phone_masked": pa.array(np.where(some < 0.1, None, "138****5678")),
        "channel": pa.array(rng.integers(1, 4, n)),
        "apply_time": pa.array(apply, pa.timestamp("us", tz="UTC")),
        "accept_time": pa.array(apply + np.timedelta64(3_600_000_000, "us"), pa.timestamp("us", tz="UTC")),
        "finish_time": pa.array(np.where(statuses == "completed", apply + np.timedelta64(86_400_000_000, "us"),
                                         np.datetime64("NaT")), pa.timestamp("us", tz="UTC")),
        "promise_days": pa.array(rng.integers(1, 20, n)),
        "status": pa.array(statuses),
        "accept_org_code": pa.array(np.full(n, "11341100MB1502871Q")),
        "region_code": pa.array(np.full(n, "340603")),
        "fee_yuan": pa.array([Decimal(int(c)).scaleb(-2) for c in cents], pa.decimal128(16, 2)),
        "bundle_id": pa.array(np.where(some > 0.95, "B1", None)),
        "deleted": pa.array(np.zeros(n, bool)),
        "source_updated_at": pa.array(np.full(n, np.datetime64(updated.replace(tzinfo=None), "us")),
                                      pa.timestamp("us", tz="UTC")),
        "delivery_order": pa.array(np.char.mod("20261001.000.%09d", ids)),
    }
    table = pa.table(columns).cast(UNIFIED_BATCH_SCHEMAS["cases"])
    return [table.slice(i, BATCH_ROWS) for i in range(0, n, BATCH_ROWS)]


def _load(engine, batches: list[pa.Table], run_id: str) -> dict:
    from loaders.run_writer import RunWriter

    started = time.perf_counter()
    with RunWriter(engine, "hrss", run_id) as writer:
        for batch in batches:
            writer.stage("cases", batch)
        counts = writer.merge("cases", datetime.now(timezone.utc))
    return {"seconds": time.perf_counter() - started, "inserted": counts.inserted, "updated": counts.updated,
            "unchanged": counts.unchanged, "duplicates": counts.duplicates}


def _pg_written(engine) -> tuple[int, int]:
    """Tuples service_case's statistics count as inserted or updated so far (flushed first)."""
    with engine.connect() as conn:
        conn.exec_driver_sql("SELECT pg_stat_force_next_flush()")
    with engine.connect() as conn:
        return conn.exec_driver_sql(
            "SELECT n_tup_ins, n_tup_upd FROM pg_stat_user_tables WHERE relname = 'service_case'"
        ).one()


def _reference(engine, batches: list[pa.Table]) -> float:
    """A plain bulk load of the same rows into a keyless table of the same types."""
    import pyarrow.csv as pacsv

    from loaders.run_writer import _sql_type, _sqlite_values
    from schemas.tables import SERVICE_CASE

    names = batches[0].schema.names
    sqlite = engine.dialect.name == "sqlite"
    columns = ", ".join(f"{n} {_sql_type(sqlite, SERVICE_CASE.column(n).type)}" for n in names)
    started = time.perf_counter()
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE TABLE reference_copy ({columns})")
        for batch in batches:
            if sqlite:
                values = [_sqlite_values(batch.column(n), SERVICE_CASE.column(n).type) for n in names]
                conn.exec_driver_sql(f"INSERT INTO reference_copy VALUES ({', '.join('?' * len(names))})",
                                     list(zip(*values)))
            else:
                buffer = io.BytesIO()
                pacsv.write_csv(batch, buffer, write_options=pacsv.WriteOptions(include_header=False,
                                                                                 quoting_style="all_valid"))
                cursor = conn.connection.dbapi_connection.cursor()
                with cursor.copy("COPY reference_copy FROM STDIN WITH (FORMAT csv)") as copy:
                    copy.write(buffer.getvalue())
    return time.perf_counter() - started


def _child(url: str, rows: int) -> None:
    import os

    from loaders import run_writer
    from loaders.engine import make_engine
    from loaders.schema import upgrade

    os.environ.setdefault("SILOBRIDGE_PII_KEY", "benchmark-only-pii-key")
    engine = make_engine(url)
    upgrade(engine)
    pg = engine.dialect.name == "postgresql"
    history_seconds = [0.0]
    record = getattr(run_writer.RunWriter, "_record_history", None)
    if record:
        def timed(self, *args, **kwargs):
            t = time.perf_counter()
            try:
                return record(self, *args, **kwargs)
            finally:
                history_seconds[0] += time.perf_counter() - t
        run_writer.RunWriter._record_history = timed

    first = unified_cases(rows, seed=1, updated=datetime(2026, 10, 31, 16, tzinfo=timezone.utc))
    changed = unified_cases(rows, seed=1, updated=datetime(2026, 11, 1, 16, tzinfo=timezone.utc), status_shift=1)
    out = {}
    for label, batches in (("first", first), ("reload", first), ("changed", changed)):
        history_seconds[0] = 0.0
        before = _pg_written(engine) if pg else None
        out[label] = _load(engine, batches, f"bench-{label}")
        out[label]["history_seconds"] = history_seconds[0] if record else None
        if pg:
            after = _pg_written(engine)
            out[label]["tuples_inserted"], out[label]["tuples_updated"] = (a - b for a, b in zip(after, before))
    out["reference"] = {"seconds": _reference(engine, first)}
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    engine.dispose()
    print(json.dumps(out))


def _measure(url: str, rows: int) -> dict:
    done = subprocess.run([sys.executable, __file__, "--child", url, str(rows)], check=True, capture_output=True,
                          text=True, cwd=ROOT)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _measure_pg(admin_url: str, rows: int) -> dict | None:
    """The figures in a scratch database, dropped afterwards; None if PostgreSQL does not answer."""
    admin = sa.create_engine(admin_url.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
    name = f"silobridge_bench_{uuid.uuid4().hex[:8]}"
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
    except sa.exc.OperationalError as exc:
        print(f"PostgreSQL at {admin.url.render_as_string()} is not reachable ({str(exc).splitlines()[0]}); "
              "measured SQLite only")
        return None
    try:
        return _measure(admin.url.set(database=name).render_as_string(hide_password=False), rows)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
                        help="an existing PostgreSQL database to create a scratch database from")
    parser.add_argument("--repeat", type=int, default=3, help="each load's fastest of this many repetitions")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child[0], int(args.child[1]))
        return

    runs: dict[str, list[dict]] = {}
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory(prefix="silobridge-bench-") as tmp:
            runs.setdefault("SQLite", []).append(_measure(f"sqlite:///{Path(tmp) / 'bench.db'}", args.rows))
        pg = _measure_pg(args.pg, args.rows)
        if pg:
            runs.setdefault("PostgreSQL", []).append(pg)
    # Each load's fastest repetition: the figure least disturbed by other work on the machine.
    results = {store: {label: min((r[label] for r in reps), key=lambda m: m["seconds"]) for label in reps[0]
                       if label != "peak_rss_mb"} | {"peak_rss_mb": max(r["peak_rss_mb"] for r in reps)}
               for store, reps in runs.items()}

    copy = results.get("PostgreSQL", {}).get("reference")
    copy_rate = args.rows / copy["seconds"] if copy else None
    print(f"{args.rows:,} unified cases in batches of {BATCH_ROWS:,}, fastest of {args.repeat}; reference = plain "
          "bulk load of the same rows (PostgreSQL COPY, SQLite executemany)\n")
    print(f"{'store':<12}{'load':<9}{'seconds':>9}{'rows/s':>11}{'vs own ref':>11}{'vs PG COPY':>11}"
          f"{'history':>9}  ledger (inserted/updated/unchanged/duplicates){'  tuples ins/upd' if copy else ''}")
    for store, r in results.items():
        ref_rate = args.rows / r["reference"]["seconds"]
        print(f"{store:<12}{'reference':<9}{r['reference']['seconds']:>9.2f}{ref_rate:>11,.0f}{1:>11.2f}"
              f"{(ref_rate / copy_rate) if copy_rate else float('nan'):>11.2f}")
        for label in ("first", "reload", "changed"):
            m = r[label]
            rate = args.rows / m["seconds"]
            share = f"{m['history_seconds'] / m['seconds']:.1%}" if m["history_seconds"] is not None else "-"
            tuples = f"  {m['tuples_inserted']}/{m['tuples_updated']}" if "tuples_inserted" in m else ""
            print(f"{store:<12}{label:<9}{m['seconds']:>9.2f}{rate:>11,.0f}{rate / ref_rate:>11.2f}"
                  f"{(rate / copy_rate) if copy_rate else float('nan'):>11.2f}{share:>9}  "
                  f"{m['inserted']}/{m['updated']}/{m['unchanged']}/{m['duplicates']}{tuples}")
        print(f"{store:<12}peak RSS {r['peak_rss_mb']:,.0f} MB")


if __name__ == "__main__":
    main()
