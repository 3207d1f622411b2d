"""Every benchmark at one set of sizes, then docs/performance.md from their figures (what `make bench` runs).

    .venv/bin/python benchmarks/run_all.py [--size small|default|full] [--out docs/performance.md] [--no-dlt]

Sizes (also from the environment variable SIZE):
- default — the sizes of issue 9: hrss, police and medins at 10⁶ rows, the REST
  sources at 10⁵ records, and hrss peak memory at 10⁵ and 10⁶ rows;
- full    — default, plus hrss peak memory at 10⁷ rows;
- small   — a quick run of every benchmark (minutes), to check they work.

dlt's merge is measured beside the hrss loads when `dlt[postgres]` installs
cleanly into its own environment (var/bench-dlt-venv, made on first use);
otherwise the report says it was skipped and why.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import DEFAULT_PG, DLT, ROOT, pg_url  # noqa: E402

SIZES = {
    "small": {"hrss": 20_000, "police": 20_000, "medins": 20_000, "rest": 5_000, "memory": [20_000, 100_000]},
    "default": {"hrss": 1_000_000, "police": 1_000_000, "medins": 1_000_000, "rest": 100_000,
                "memory": [100_000, 1_000_000]},
    "full": {"hrss": 1_000_000, "police": 1_000_000, "medins": 1_000_000, "rest": 100_000,
             "memory": [100_000, 1_000_000, 10_000_000]},
}
DLT_VENV = ROOT / "var" / "bench-dlt-venv"
MARIADB = "mysql+pymysql://root@127.0.0.1:3306/mysql"


def dlt_python(wanted: bool) -> tuple[str | None, str]:
    """The Python of dlt's own environment, made if missing; or None and why not."""
    if not wanted:
        return None, "dlt not measured (--no-dlt)"
    python = DLT_VENV / "bin" / "python"
    if not python.exists():
        print(f"making {DLT_VENV.relative_to(ROOT)} for dlt (once)")
        made = subprocess.run([sys.executable, "-m", "venv", str(DLT_VENV)], capture_output=True, text=True)
        if made.returncode == 0:
            made = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "dlt[postgres]"],
                                  capture_output=True, text=True)
        if made.returncode != 0:
            return None, f"dlt not measured: `pip install dlt[postgres]` failed ({made.stderr.strip()[-300:]})"
    version = subprocess.run([str(python), "-c", "import dlt; print(dlt.__version__)"], capture_output=True, text=True)
    if version.returncode != 0:
        return None, f"dlt not measured: its environment cannot import dlt ({version.stderr.strip()[-300:]})"
    return str(python), f"dlt {version.stdout.strip()}, merge with its defaults"


def run(script: str, args: list[str], json_out: Path) -> float:
    """One benchmark script, its output shown as it goes; returns its wall time."""
    started = time.perf_counter()
    command = [sys.executable, str(ROOT / "benchmarks" / script), *args, "--json", str(json_out)]
    print(f"\n$ {' '.join(command[1:])}", flush=True)
    subprocess.run(command, check=True, cwd=ROOT)
    return time.perf_counter() - started


def readers_table(rows: int) -> str:
    """benchmarks/readers.py's table: the file readers alone, without transforms or a store."""
    command = [sys.executable, str(ROOT / "benchmarks" / "readers.py"), "--rows", str(rows)]
    print(f"\n$ {' '.join(command[1:])}", flush=True)
    out = subprocess.run(command, check=True, cwd=ROOT, capture_output=True, text=True).stdout
    print(out)
    return out.strip().split("\n", 1)[1]


def server_version(url: str) -> str:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            version = conn.exec_driver_sql("SELECT version()").scalar()
    except sa.exc.SQLAlchemyError as exc:
        return f"unreachable ({str(exc).splitlines()[0][:80]})"
    finally:
        engine.dispose()
    # "PostgreSQL 15.20 (Debian …) on x86_64…", "10.11.19-MariaDB-0+deb12u1": the number is enough.
    return version.split(" (")[0].split(" on ")[0].removeprefix("PostgreSQL ").split("-")[0]


def machine(pg: str, mariadb: str) -> dict[str, str]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "unknown")
    mem_kb = next((int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal:")), 0)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT)
    return {
        "CPU": cpu, "cores": str(os.cpu_count()), "RAM": f"{mem_kb / 1024 / 1024:.0f} GiB",
        "OS": f"{platform.system()} {platform.release()}",
        "PostgreSQL": server_version(pg_url(pg)), "MariaDB": server_version(mariadb),
        "Python": platform.python_version(), "commit": commit.stdout.strip() or "unknown",
        # Other work on the machine slows every run alike, COPY included: the ratios suffer less than the rates.
        "load average (1, 5, 15 min) at the end": ", ".join(f"{x:.1f}" for x in os.getloadavg()),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def _ratio(x: float | None) -> str:
    return "–" if x is None else f"{x:.3f}"


def _extra(extra: dict) -> str:
    return ", ".join(f"{k} {v:,}" if isinstance(v, int) else f"{k} {v}" for k, v in extra.items())


def render(size: str, reports: list[dict], info: dict[str, str], notes: list[str], walls: dict[str, float],
           memory_sizes: list[int], readers: str = "") -> str:
    lines = ["# Performance", "",
             f"Generated by `make bench SIZE={size}` (benchmarks/run_all.py); do not edit by hand, run it again.",
             "Each run is a process of its own (peak RSS is its own VmHWM); rows/s include the process's imports and",
             "setup, as a user's run does. **vs COPY** divides by the rate of a plain PostgreSQL `COPY` of the same",
             "records into text columns, measured in the same invocation on the same machine; **vs dlt** by dlt's",
             "merge of the same records. Seconds and rates vary from run to run by a few percent.", "",
             "## Machine", "", "| | |", "| --- | --- |"]
    lines += [f"| {k} | {v} |" for k, v in info.items()]
    lines += [""] + [f"- {n}" for n in notes]
    for report in reports:
        with_dlt = any(r["label"] == DLT for r in report["runs"])
        lines += ["", f"## {report['benchmark']}, {report['size']:,} rows", "",
                  "| run | rows | seconds | rows/s | peak RSS | vs COPY |" + (" vs dlt |" if with_dlt else "")
                  + " counts |",
                  "| --- | ---: | ---: | ---: | ---: | ---: |" + (" ---: |" if with_dlt else "") + " --- |"]
        for r in report["runs"]:
            balanced = "" if r["balanced"] else " **not balanced**"
            lines.append(f"| {r['label']} | {r['rows']:,} | {r['seconds']:.1f} | {r['rate']:,.0f} | "
                         f"{r['peak_rss_mb']:,.0f} MB | {_ratio(r['ratio'])} |"
                         + (f" {_ratio(r['ratio_dlt'])} |" if with_dlt else "") + f" {_extra(r['extra'])}{balanced} |")
        lines += [f"- {n}" for n in report["notes"]]
    memory = [(rep["size"], r) for rep in reports if rep["benchmark"] == "hrss CSV drop" and rep["size"] in memory_sizes
              for r in rep["runs"] if r["label"] == "pipeline → PostgreSQL"]
    if memory:
        lines += ["", "## Peak memory by size (hrss drop → PostgreSQL)", "",
                  "| rows | peak RSS | rows/s | vs COPY |", "| ---: | ---: | ---: | ---: |"]
        lines += [f"| {n:,} | {r['peak_rss_mb']:,.0f} MB | {r['rate']:,.0f} | {_ratio(r['ratio'])} |"
                  for n, r in sorted(memory, key=lambda m: m[0])]
    if readers:
        lines += ["", "## The file readers alone (benchmarks/readers.py)", "", "```", readers, "```"]
    lines += ["", "## Wall time", "", "| benchmark | seconds |", "| --- | ---: |"]
    lines += [f"| {name} | {seconds:,.0f} |" for name, seconds in walls.items()]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=SIZES, default=os.environ.get("SIZE") or "default")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "performance.md")
    parser.add_argument("--pg", default=DEFAULT_PG)
    parser.add_argument("--mariadb", default=MARIADB)
    parser.add_argument("--no-dlt", action="store_true", help="do not measure (or install) dlt")
    args = parser.parse_args()
    sizes = SIZES[args.size]
    python, dlt_note = dlt_python(not args.no_dlt)
    print(dlt_note)
    common = ["--pg", args.pg]
    walls: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="silobridge-bench-") as tmp:
        out = Path(tmp) / "figures.jsonl"
        hrss = common + ["--rows", str(sizes["hrss"])] + (["--dlt-python", python] if python else [])
        walls["hrss CSV drop"] = run("hrss_file_load.py", hrss, out)
        for n in sizes["memory"]:
            if n != sizes["hrss"]:
                walls[f"hrss memory at {n:,} rows"] = run(
                    "hrss_file_load.py", common + ["--rows", str(n), "--stores", "postgresql", "--no-reload"], out)
        walls["police XML outbox"] = run("police_outbox_load.py", common + ["--rows", str(sizes["police"])], out)
        walls["medins exchange database"] = run(
            "medins_exchange_load.py", common + ["--rows", str(sizes["medins"]), "--mariadb", args.mariadb], out)
        walls["REST sources"] = run("rest_api_load.py", common + ["--rows", str(sizes["rest"])], out)
        started = time.perf_counter()
        readers = readers_table(sizes["hrss"])
        walls["readers"] = time.perf_counter() - started
        reports = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    walls["all"] = sum(walls.values())
    text = render(args.size, reports, machine(args.pg, args.mariadb), [dlt_note], walls, sizes["memory"], readers)
    args.out.write_text(text, encoding="utf-8")
    print(f"\nwrote {args.out} ({walls['all'] / 60:.1f} minutes of benchmarks)")


if __name__ == "__main__":
    main()
