"""The `silobridge` command line.

An error is one sentence on stderr (`--debug` adds the traceback): exit 2,
or 143 for a run stopped by SIGTERM. Commands that only read never create or
upgrade a store; they say when there is none yet or it needs `silobridge upgrade`.
"""

import argparse
import logging
import sys
import traceback
from datetime import date
from pathlib import Path

import sqlalchemy as sa
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn
from rich.table import Table

from loaders.engine import StoreError, describe, explain, make_engine, sqlite_file
from loaders.schema import NoStore, require_current, upgrade
from pipeline import views
from pipeline.config import ConfigError, Settings, home, lock_timeout_setting
from pipeline.reports import report_path
from pipeline.runner import RunFailed, RunResult, RunTerminated, run_source
from pipeline.specs import SpecError, load_spec
from quality.reconcile import declared_text, reconcile

# Piped output (make demo, CI logs) gets room for whole tables instead of 80 columns.
console = Console() if Console().is_terminal else Console(width=160)
err = Console(stderr=True)


class _RichProgress:
    """Draws one bar per file while a run reads it."""

    def __init__(self, progress: Progress):
        self.progress, self.tasks = progress, {}

    def start(self, name: str, total_bytes: int) -> None:
        self.tasks[name] = self.progress.add_task(name, total=total_bytes)

    def advance(self, name: str, done_bytes: int) -> None:
        self.progress.update(self.tasks[name], completed=done_bytes)

    def finish(self, name: str) -> None:
        task = self.tasks.pop(name)
        self.progress.update(task, completed=self.progress.tasks[task].total)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="silobridge", description="Bring department cases and evaluations into the unified store.")
    parser.add_argument("--store", help="store URL (default: the Airflow connection silobridge_store, else var/silobridge.db)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what each run does")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error, not only its sentence")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="process what is new at a source")
    run.add_argument("source", help="source name, e.g. hrss")
    run.add_argument("--drop", type=Path, help="drop folder of a file source (default: its Airflow connection, else var/drops/<source>)")

    sub.add_parser("status", help="watermarks and last runs per source")
    rejects = sub.add_parser("rejects", help="quarantined records, masked, with reasons; `replay` re-runs them")
    rejects.add_argument("action", nargs="?", choices=["list", "replay"], default="list",
                         help="replay: run the quarantined records of --reason through the current specs")
    rejects.add_argument("--source")
    rejects.add_argument("--reason")
    rejects.add_argument("--limit", type=int, default=50)
    sub.add_parser("summary", help="what the store holds, per source and stream, with quarantine reasons")
    rec = sub.add_parser("reconcile", help="declared against loaded counts per source, business day and stream; "
                                          "exit 1 if anything is off")
    rec.add_argument("--source")
    rec.add_argument("--from", dest="first", type=date.fromisoformat,
                     help="first business day (the day the records belong to), e.g. 2026-10-01")
    rec.add_argument("--to", dest="last", type=date.fromisoformat, help="last business day, inclusive")
    rep = sub.add_parser("report", help="write the auditors' HTML report (self-contained, opens offline)")
    rep.add_argument("--from", dest="first", type=date.fromisoformat, help="first day (Beijing), e.g. 2026-10-01")
    rep.add_argument("--to", dest="last", type=date.fromisoformat, help="last day (Beijing), inclusive")
    rep.add_argument("--out", type=Path, help="where to write it (default: var/reports/silobridge-report.html)")
    sub.add_parser("upgrade", help="create or upgrade the store's tables")
    reader = sub.add_parser("grant-reader", help="PostgreSQL: let a role read every table and view, and nothing else")
    reader.add_argument("role", help="an existing role, e.g. one created with CREATE ROLE platform LOGIN PASSWORD '…'")

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    url = ""
    try:
        url = args.store or _default_store_url()
        return _dispatch(args, url)
    except (ConfigError, SpecError, RunFailed, StoreError, sa.exc.OperationalError) as exc:
        if isinstance(exc, sa.exc.OperationalError):
            exc = explain(url, exc)  # the store went away half-way
        if args.debug:
            err.print(escape("".join(traceback.format_exception(exc))), soft_wrap=True, highlight=False)
        err.print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True, highlight=False)
        return 143 if isinstance(exc, RunTerminated) else 2


def _dispatch(args, url: str) -> int:
    if args.command == "run":
        folders = {args.source: args.drop.resolve()} if args.drop else None
        settings = Settings.resolve(store_url=args.store, folders=folders)
        with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                      TimeRemainingColumn(), console=err, transient=True, disable=not err.is_terminal) as bar:
            result = run_source(args.source, settings, progress=_RichProgress(bar))
        _print_run(result)
        return 0
    if getattr(args, "source", None):
        load_spec(args.source)  # an unknown source is an error naming the known ones, not an empty answer
    if args.command == "rejects" and args.action == "replay":
        _engine(url, create=False).dispose()  # a replay needs a store with quarantined records
        return _replay(args)
    if args.command == "upgrade":
        engine = _engine(url, create=True)
        upgrade(engine)
        console.print(f"store {describe(url)} is at the newest schema")
        return 0
    engine = _engine(url, create=False)
    require_current(engine, url)
    if args.command == "status":
        _table("Watermarks", views.watermarks(engine))
        _table("Last runs", views.last_runs(engine))
    elif args.command == "rejects":
        _table("Quarantine", views.rejects(engine, args.source, args.reason, args.limit))
    elif args.command == "summary":
        _print_summary(engine, url)
    elif args.command == "report":
        from quality.report import write_report

        path = write_report(engine, args.out or report_path(home()), args.first, args.last)
        console.print(f"report written to {path} (open it in any browser; it needs no network)")
    elif args.command == "reconcile":
        return _print_reconciliation(reconcile(engine, args.source, args.first, args.last))
    elif args.command == "grant-reader":
        from loaders.grants import GrantError, grant_reader

        try:
            with engine.begin() as conn:
                schema = grant_reader(conn, args.role)
        except GrantError as exc:
            err.print(f"[bold red]error:[/] {exc}")
            return 2
        console.print(f"role {args.role} may now read every table and view of schema {schema} in {describe(url)} "
                      "(and those created later), and change nothing")
    return 0


def _replay(args) -> int:
    if not args.reason:
        err.print("[bold red]error:[/] rejects replay needs --reason (e.g. --reason unknown_code)")
        return 2
    from pipeline.replay import replay

    results = replay(Settings.resolve(store_url=args.store), args.reason, args.source)
    if not results:
        console.print(f"no quarantined records with reason {args.reason} waiting for a replay")
    for result in results:
        _print_run(result)
        outcomes: dict[str, int] = {}
        for outcome in result.notes["outcomes"].values():
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
        for outcome, n in sorted(outcomes.items()):
            console.print(f"  {n} {outcome}")
    return 0


def _engine(url: str, *, create: bool) -> sa.Engine:
    """The store's engine, connected once so that a wrong or unreachable store is one sentence; never creates a
    SQLite file unless `create`."""
    path = sqlite_file(url)
    if not create and path is not None and not path.exists():
        raise NoStore(f"there is no store at {path} yet: `silobridge run <source>` or `silobridge upgrade` creates it")
    engine = make_engine(url, lock_timeout=lock_timeout_setting())
    try:
        with engine.connect():
            pass
    except sa.exc.DBAPIError as exc:
        raise explain(url, exc) from exc
    return engine


def _default_store_url() -> str:
    from pipeline.config import connection_from_env, store_url_from_connection

    conn = connection_from_env("silobridge_store")
    return store_url_from_connection(conn) if conn else f"sqlite:///{home() / 'silobridge.db'}"


def _table(title: str, rows: list[dict]) -> None:
    table = Table(title=title, title_justify="left")
    if not rows:
        console.print(f"{title}: none")
        return
    for column in rows[0]:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row.values()))
    console.print(table)


def _print_run(result: RunResult) -> None:
    rows = [
        {"stream": s.stream, "extracted": s.extracted, "inserted": s.inserted, "updated": s.updated,
         "unchanged": s.unchanged, "quarantined": s.quarantined, "duplicates": s.duplicates,
         "reasons": ", ".join(f"{k} {v}" for k, v in sorted(s.reasons.items())) or "-"}
        for s in result.streams.values()
    ]
    _table(f"{result.source} run {result.run_id} — {len(result.files)} file(s)", rows)
    for f in result.files:
        if f.get("outcome") == "quarantined":
            console.print(f"  [yellow]file quarantined[/] {f['file']}: {f['reason']}")


def _print_reconciliation(result) -> int:
    _table("Reconciliation per source, business day (Beijing) and stream",
           [{k: declared_text(r) if k == "declared" and v is None else v for k, v in r.items()
             if k != "declared_in_window"} for r in result.rows])
    if result.balanced:
        console.print("[green]balanced:[/] every ledger row adds up and nothing needs an auditor's look")
        return 0
    _table("Findings", [{"source": f.source, "day": f.day, "kind": f.kind, "count": f.count, "detail": f.detail}
                        for f in result.findings])
    console.print(f"[red]not balanced:[/] {len(result.findings)} finding(s)")
    return 1


def _print_summary(engine, url: str) -> None:
    _table("Runs per source and stream", views.run_totals(engine))
    _table("Quarantine by reason", views.reject_reasons(engine))
    _table("Unified tables", views.table_counts(engine))
    console.print(f"\nstore: {describe(url)}")
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")
        console.print(f"look at it with: sqlite3 {path} 'SELECT * FROM service_case LIMIT 5'")
    console.print("or: silobridge status | silobridge rejects --limit 20")


if __name__ == "__main__":
    sys.exit(main())
