"""What every benchmark shares: runs measured each in its own process, the plain-COPY reference, scratch
PostgreSQL databases, and the printed table.

Each measured run is a child process (`python -m benchmarks.child`) so its peak RSS
(VmHWM) is that run's alone. The reference is a plain PostgreSQL
`COPY` of the same records, as CSV, into a table of text columns, measured in the
same invocation on the same machine: the ratio `rows/s ÷ COPY rows/s` is what the
benchmarks report, since absolute rates say more about the machine than the code.
"""

import csv
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
# The pipeline needs a pseudonymization key; this one exists only for scratch stores that are dropped afterwards.
BENCH_KEY = "benchmark-only-pii-key"
COPY = "plain COPY"
DLT = "dlt merge → PostgreSQL"


@dataclass
class Measured:
    label: str
    rows: int
    seconds: float
    peak_rss_mb: float
    balanced: bool = True
    extra: dict = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


@dataclass
class Report:
    """One benchmark's figures at one size; ratios divide by the COPY run's rate (and by dlt's, if measured)."""
    benchmark: str
    size: int
    runs: list[Measured] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def ratio(self, run: Measured, reference: str = COPY) -> float | None:
        ref = next((r for r in self.runs if r.label == reference), None)
        return run.rate / ref.rate if ref and ref.rate else None

    def print(self, json_out: Path | None = None) -> None:
        with_dlt = any(r.label == DLT for r in self.runs)
        print(f"\n{self.benchmark}, {self.size:,} rows")
        print(f"{'run':<36}{'rows':>11}{'seconds':>9}{'rows/s':>11}{'peak RSS':>12}{'vs COPY':>9}"
              + (f"{'vs dlt':>9}" if with_dlt else ""))
        for r in self.runs:
            ratios = [self.ratio(r)] + ([self.ratio(r, DLT)] if with_dlt else [])
            shown = "".join(f"{x:>9.3f}" if x is not None else f"{'-':>9}" for x in ratios)
            flag = "" if r.balanced else "  NOT BALANCED"
            more = "".join(f"  {k}={v}" for k, v in r.extra.items())
            print(f"{r.label:<36}{r.rows:>11,}{r.seconds:>9.1f}{r.rate:>11,.0f}{r.peak_rss_mb:>9,.0f} MB"
                  f"{shown}{flag}{more}")
        for note in self.notes:
            print(f"note: {note}")
        if json_out is not None:
            with json_out.open("a", encoding="utf-8") as f:
                f.write(json.dumps({**asdict(self), "runs": [{**asdict(r), "rate": r.rate, "ratio": self.ratio(r),
                                                               "ratio_dlt": self.ratio(r, DLT)}
                                                              for r in self.runs]}) + "\n")


def measure(label: str, mode: str, python: str = sys.executable, **args) -> Measured:
    """Runs benchmarks.child in a fresh process (of `python`) and returns its figures; its stderr is shown if
    it fails."""
    env = {**os.environ, "SILOBRIDGE_PII_KEY": BENCH_KEY, "PYTHONPATH": str(ROOT)}
    env.pop("SILOBRIDGE_QUARANTINE_KEY", None)  # derived from BENCH_KEY, as the scratch stores were made with
    done = subprocess.run([python, "-m", "benchmarks.child", mode, json.dumps(args)],
                          capture_output=True, text=True, cwd=ROOT, env=env)
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-4000:])
        raise RuntimeError(f"{label}: the measured run failed (exit {done.returncode})")
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    return Measured(label, figures.pop("rows"), figures.pop("seconds"), figures.pop("peak_rss_mb"),
                    figures.pop("balanced", True), figures)


def pg_url(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1) if url.startswith("postgresql://") else url


@contextmanager
def scratch_pg(admin_url: str, purpose: str) -> Iterator[str | None]:
    """A new empty PostgreSQL database, dropped afterwards; None (and a printed note) when the server is away."""
    with scratch_database(pg_url(admin_url), purpose, "PostgreSQL", drop_options=" WITH (FORCE)") as url:
        yield url


@contextmanager
def scratch_database(admin_url: str, purpose: str, server: str, *, create_options: str = "",
                     drop_options: str = "") -> Iterator[str | None]:
    """A new empty database on the server of `admin_url`, dropped afterwards; None when the server is away."""
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"silobridge_bench_{purpose}_{uuid.uuid4().hex[:8]}"
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {name}{create_options}")
    except sa.exc.OperationalError as exc:
        print(f"{server} at {admin.url.render_as_string()} is not reachable ({str(exc).splitlines()[0]})")
        admin.dispose()
        yield None
        return
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}{drop_options}")
        admin.dispose()


def write_csv(path: Path, columns: list[str], records: Iterable[dict]) -> int:
    """The records as the UTF-8 CSV that the COPY reference reads (header line first); returns their number."""
    n = 0
    with path.open("w", encoding="utf-8", newline="") as f:
        out = csv.writer(f)
        out.writerow(columns)
        for record in records:
            out.writerow(["" if record.get(c) is None else record.get(c) for c in columns])
            n += 1
    return n


def copy_files(url: str, files: list[dict]) -> Measured:
    """The reference: `files` ([{path, columns, encoding, end}]) each COPYed into a temp table of text columns."""
    return measure(COPY, "copy", url=url, files=files)


def table_updates(url: str, table: str) -> dict[str, int]:
    """PostgreSQL's own count of rows updated, inserted and dead in `table` (pg_stat_user_tables)."""
    engine = sa.create_engine(pg_url(url))
    try:
        with engine.connect() as conn:
            row = conn.execute(sa.text("SELECT n_tup_ins, n_tup_upd, n_tup_del, n_dead_tup FROM pg_stat_user_tables "
                                       "WHERE relname = :t"), {"t": table}).one()
        return {"ins": row[0], "upd": row[1], "del": row[2], "dead": row[3]}
    finally:
        engine.dispose()


def sigterm_exits() -> None:
    """SIGTERM (a stopped `make bench`) unwinds like Ctrl-C, so the scratch databases are dropped."""
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


def common_arguments(parser, rows: int) -> None:
    parser.add_argument("--rows", type=int, default=rows, help=f"records to load (default {rows:,})")
    parser.add_argument("--pg", default=DEFAULT_PG, help="an existing PostgreSQL database to create scratch databases from")
    parser.add_argument("--json", type=Path, help="append the figures as one JSON line to this file (for run_all.py)")
