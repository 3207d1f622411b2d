"""Throughput and memory of the REST sources (market, tax) through the full pipeline, against a plain COPY.

    .venv/bin/python benchmarks/rest_api_load.py [--rows 100000] [--sources market,tax]

Serves a simulated month of about N records (cases and evaluations) from the
department's simulator over real HTTP on 127.0.0.1, in this process; the
pipeline reads the month's window into a fresh PostgreSQL store in a process of
its own. The reference is a plain COPY of the same records, as CSV, into
tables of text columns. The simulators serve pages from Python, so these rates
bound the pipeline from above by the simulator's speed, not the department's.
"""

import argparse
import sys
import tempfile
from datetime import timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import (  # noqa: E402
    Report, common_arguments, copy_files, measure, scratch_pg, sigterm_exits, write_csv,
)

MONTH = "2026-10"
BEIJING = timezone(timedelta(hours=8))


def flat(record: dict, prefix: str = "") -> dict:
    """A record's scalar values, nested objects' under `parent.name`; lists (nested records) left out."""
    out = {}
    for key, value in record.items():
        if isinstance(value, dict):
            out.update(flat(value, f"{prefix}{key}."))
        elif not isinstance(value, list):
            out[f"{prefix}{key}"] = value
    return out


def reference_files(folder: Path, tables: dict[str, list[dict]]) -> list[dict]:
    files = []
    for name, records in tables.items():
        rows = [flat(r) for r in records]
        columns = sorted({k for r in rows for k in r})
        write_csv(folder / f"{name}.csv", columns, rows)
        files.append({"path": str(folder / f"{name}.csv"), "columns": len(columns)})
    return files


def month_window() -> list[str]:
    from simulators.market_api import month_bounds

    return [t.replace(tzinfo=BEIJING).isoformat() for t in month_bounds(MONTH)]


def market(records: int):
    from simulators.market_api import MarketApi, month_records

    cases, evaluations = month_records(MONTH, 1, cases_per_month=max(1, records * 10 // 19))
    api = MarketApi(cases, evaluations)
    return api, {"cases": cases, "evaluations": evaluations}, "silobridge_market", (api.client_id, api.client_secret)


def tax(records: int):
    from simulators.tax_api import TaxApi, month_cases

    cases = month_cases(MONTH, 1, cases_per_month=max(1, records * 10 // 19))
    api = TaxApi(cases)
    evaluations = [e for c in cases for e in c.get("evaluations") or []]
    return api, {"cases": cases, "evaluations": evaluations}, "silobridge_tax", (api.app_id, api.app_secret)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common_arguments(parser, 100_000)
    parser.add_argument("--sources", default="market,tax")
    args = parser.parse_args()
    sigterm_exits()
    for source in args.sources.split(","):
        api, tables, conn_id, (user, secret) = {"market": market, "tax": tax}[source](args.rows)
        total = sum(len(t) for t in tables.values())
        report = Report(f"{source} REST API", total)
        print(f"{source}: {len(tables['cases']):,} cases and {len(tables['evaluations']):,} evaluations simulated")
        with tempfile.TemporaryDirectory(prefix="silobridge-bench-") as tmp, scratch_pg(args.pg, source) as url:
            if url is None:
                report.notes.append("PostgreSQL unreachable: nothing measured")
            else:
                with api.serve() as server:
                    uri = f"http://{user}:{secret}@{server.url.removeprefix('http://')}"
                    report.runs.append(measure("pipeline → PostgreSQL", "pipeline", source=source, store_url=url,
                                               connections={conn_id: {"uri": uri}}, window=month_window()))
                report.runs.append(copy_files(url, reference_files(Path(tmp), tables)))
        report.print(args.json)


if __name__ == "__main__":
    main()
