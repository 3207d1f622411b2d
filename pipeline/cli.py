"""The `silobridge` command line.

An error is one sentence on stderr (`--debug` adds the traceback): exit 2,
or 143 for a run stopped by SIGTERM. Commands that only read never create or
upgrade a store; they say when there is none yet or it needs `silobridge upgrade`.
The global options (--store, --verbose, --debug) go before or after the command.
"""

import argparse
import dataclasses
import json
import logging
import os
import sys
import traceback
from datetime import date, datetime, time, timedelta
from importlib.metadata import version
from pathlib import Path

import sqlalchemy as sa
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

from loaders.engine import StoreError, describe, explain, make_engine, sqlite_file
from loaders.schema import NoStore, require_current, upgrade
from pipeline import views
from pipeline.cli_output import beijing, console, err, print_json, table
from pipeline.config import ConfigError, Settings, home, lock_timeout_setting
from pipeline.reports import report_path
from pipeline.runner import ExplicitWindow, RunFailed, RunResult, RunTerminated, run_source
from pipeline.specs import SpecError, load_spec
from quality.reconcile import declared_text, reconcile
from transforms.values import BEIJING


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


def _global_options(parser: argparse.ArgumentParser, default) -> None:
    parser.add_argument("--store", default=default,
                        help="store URL (default: the Airflow connection silobridge_store, else var/silobridge.db)")
    parser.add_argument("-v", "--verbose", action="store_true", default=default, help="log what each run does")
    parser.add_argument("--debug", action="store_true", default=default,
                        help="show the traceback of an error, not only its sentence")


def _parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="silobridge",
                                   description="Bring department cases and evaluations into the unified store.")
    _global_options(main, None)
    # The same options on every command, so that `run hrss --store URL` works like `--store URL run hrss`;
    # SUPPRESS keeps a command's parser from overwriting a value given before the command.
    common = argparse.ArgumentParser(add_help=False)
    _global_options(common, argparse.SUPPRESS)
    main.add_argument("--version", action="version", version=f"silobridge {version('silobridge')}")
    sub = main.add_subparsers(dest="command", required=True)

    def command(name: str, help: str, json_output: bool = False) -> argparse.ArgumentParser:
        parser = sub.add_parser(name, help=help, description=help, parents=[common])
        if json_output:
            parser.add_argument("--json", action="store_true", help="print JSON (times in ISO 8601 with their offset)")
        return parser

    run = command("run", "process what is new at a source")
    run.add_argument("source", help="source name, e.g. hrss")
    run.add_argument("--drop", type=Path, help="drop folder of a file source (default: its Airflow connection, "
                     "else var/drops/<source>)")
    run.add_argument("--from", dest="first", type=_day, help="API and database sources: first day (Beijing) of a "
                     "window to read, e.g. 2026-10-01; needs --to")
    run.add_argument("--to", dest="last", type=_day, help="last day (Beijing) of the window, inclusive")
    run.add_argument("--reread", action="store_true", help="read the window even where it was committed before")

    check = command("check", "test a source's connection and credentials without loading anything; exit 1 if "
                             "it fails")
    check.add_argument("source", help="source name, e.g. market")
    check.add_argument("--drop", type=Path, help="drop folder of a file source")

    command("status", "committed positions (watermarks) and last runs per source", json_output=True)
    rejects = command("rejects", "quarantined records, masked, with reasons; `replay` re-runs them",
                      json_output=True)
    rejects.add_argument("action", nargs="?", choices=["list", "replay"], default="list",
                         help="replay: run the quarantined records of --reason through the current specs")
    rejects.add_argument("--source")
    rejects.add_argument("--reason")
    shown = rejects.add_mutually_exclusive_group()
    shown.add_argument("--limit", type=_positive, default=50, help="show the newest N (default 50)")
    shown.add_argument("--all", action="store_true", help="show every one")
    command("summary", "what the store holds, per source and stream, with quarantine reasons", json_output=True)
    rec = command("reconcile", "declared against loaded counts per source, business day and stream; exit 1 if anything is off",
                  json_output=True)
    rec.add_argument("--source")
    rec.add_argument("--from", dest="first", type=_day,
                     help="first business day (the day the records belong to), e.g. 2026-10-01")
    rec.add_argument("--to", dest="last", type=_day, help="last business day, inclusive")
    rep = command("report", "write the auditors' HTML report (self-contained, opens offline)")
    rep.add_argument("--from", dest="first", type=_day, help="first day (Beijing), e.g. 2026-10-01")
    rep.add_argument("--to", dest="last", type=_day, help="last day (Beijing), inclusive")
    rep.add_argument("--out", type=Path, help="where to write it (default: var/reports/silobridge-report.html)")
    command("upgrade", "create or upgrade the store's tables")
    reader = command("grant-reader", "PostgreSQL: let a role read every table and view, and nothing else")
    reader.add_argument("role", help="an existing role, e.g. one created with CREATE ROLE platform LOGIN PASSWORD '…'")
    return main


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a day like 2026-10-01") from None


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return int(text)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    url = ""
    try:
        url = args.store or _default_store_url()
        return _dispatch(args, url)
    except (ConfigError, SpecError, RunFailed, StoreError, sa.exc.OperationalError) as exc:
        if isinstance(exc, sa.exc.OperationalError):
            exc = explain(url, exc)  # the store went away half-way
        _error(exc, args.debug)
        return 143 if isinstance(exc, RunTerminated) else 2
    except BrokenPipeError:
        # The reader went away (`silobridge rejects --all | head`): stop quietly, as other commands do, and
        # keep Python from reporting the pipe again when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


def _error(exc: Exception, debug: bool) -> None:
    if debug:
        err.print(escape("".join(traceback.format_exception(exc))), soft_wrap=True, highlight=False)
    err.print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True, highlight=False)


def _dispatch(args, url: str) -> int:
    if args.command == "run":
        return _run(args)
    if args.command == "check":
        return _check(args)
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
        _print_status(engine, args.json)
    elif args.command == "rejects":
        _print_rejects(engine, args)
    elif args.command == "summary":
        _print_summary(engine, url, args.json)
    elif args.command == "report":
        from quality.report import write_report

        path = write_report(engine, args.out or report_path(home()), args.first, args.last)
        console.print(f"report written to {path} (open it in any browser; it needs no network)")
    elif args.command == "reconcile":
        return _print_reconciliation(reconcile(engine, args.source, args.first, args.last), args.json)
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


def _run(args) -> int:
    explicit = None
    if args.first or args.last or args.reread:
        if not (args.first and args.last):
            raise ConfigError(f"{args.source}: give the window as --from DAY --to DAY (Beijing days, both included)"
                              f"{'; --reread reads such a window again' if args.reread else ''}")
        if args.last < args.first:
            raise ConfigError(f"{args.source}: the window --from {args.first} --to {args.last} ends before it starts")
        explicit = ExplicitWindow(datetime.combine(args.first, time(), BEIJING),
                                  datetime.combine(args.last + timedelta(days=1), time(), BEIJING), args.reread)
    folders = {args.source: args.drop.resolve()} if args.drop else None
    settings = Settings.resolve(store_url=args.store, folders=folders)
    with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                  TimeRemainingColumn(), console=err, transient=True, disable=not err.is_terminal) as bar:
        result = run_source(args.source, settings, progress=_RichProgress(bar), explicit=explicit)
    _print_run(result)
    return 0


def _check(args) -> int:
    from pipeline.source_check import CheckFailed, check_source

    spec = load_spec(args.source)
    try:
        console.print(escape(check_source(spec, args.drop.resolve() if args.drop else None)), highlight=False)
    except CheckFailed as exc:
        _error(exc, args.debug)
        return 1
    return 0


def _replay(args) -> int:
    if not args.reason:
        err.print("[bold red]error:[/] rejects replay needs --reason (e.g. --reason unknown_code)")
        return 2
    if args.json:
        err.print("[bold red]error:[/] --json lists quarantined records; rejects replay prints each run's counts")
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


def _print_run(result: RunResult) -> None:
    rows = [
        {"stream": s.stream, "extracted": s.extracted, "inserted": s.inserted, "updated": s.updated,
         "unchanged": s.unchanged, "quarantined": s.quarantined, "duplicates": s.duplicates,
         "reasons": ", ".join(f"{k} {v}" for k, v in sorted(s.reasons.items())) or "-"}
        for s in result.streams.values()
    ]
    table(f"{result.source} run {result.run_id} — {len(result.files)} file(s)", rows)
    for f in result.files:
        if f.get("outcome") == "quarantined":
            console.print(f"  [yellow]file quarantined[/] {f['file']}: {f['reason']}")
    notes = result.notes
    if "window" in notes:
        start, end = (datetime.fromisoformat(t) for t in notes["window"])
        console.print(f"  read the updates of [{beijing(start)}, {beijing(end)})")
        if notes.get("committed_position_kept"):
            console.print(f"  {escape(notes['committed_position_kept'])}")
    for stream, note in notes.items():
        if isinstance(note, dict) and "below" in note:  # an exchange table, read from its cursor position
            after = f"after {note['from'][0]} (id {note['from'][1] or '-'})" if note["from"] else "from the start"
            kept = f"; {note['committed_position_kept']}" if note.get("committed_position_kept") else ""
            console.print(f"  {stream}: read the rows {after} below {note['below']} (UPDATE_TIME, Beijing){kept}")


def _print_status(engine: sa.Engine, as_json: bool) -> None:
    marks, runs = views.watermarks(engine), views.last_runs(engine)
    if as_json:
        streams: dict[tuple, list] = {}
        for m in marks:
            streams.setdefault((m["source"], m["stream"]), []).append(
                {k: v for k, v in m.items() if k not in ("source", "stream")})
        print_json({"watermarks": [{"source": s, "stream": t, "positions": p} for (s, t), p in streams.items()],
                    "last_runs": runs})
        return
    table("Committed positions (times: Beijing, UTC+08:00)", _positions(marks))
    table("Last runs", runs)


def _positions(marks: list[dict]) -> list[dict]:
    """One line per source and stream: the committed value itself where there is one position (an API's window
    end, an exchange table's cursor), else how many files or batches, by outcome, and the newest."""
    streams: dict[tuple, list] = {}
    for m in marks:
        streams.setdefault((m["source"], m["stream"]), []).append(m)
    rows = []
    for (source, stream), ms in streams.items():
        last = ms[-1]  # ordered by commit time
        if len(ms) == 1 and last["position"] == "window_end":
            what = f"window end {beijing(datetime.fromisoformat(last['value']))}"
        elif len(ms) == 1 and last["position"] == "cursor":
            update_time, row_id = json.loads(last["value"])
            what = f"cursor UPDATE_TIME {update_time} (Beijing), id {row_id}"
        else:
            outcomes: dict[str, int] = {}
            for m in ms:
                outcomes[m["outcome"] or "committed"] = outcomes.get(m["outcome"] or "committed", 0) + 1
            counted = ", ".join(f"{n} {o}" for o, n in sorted(outcomes.items()))
            what = f"{len(ms)} positions ({counted}); newest {last['position']} = {last['value']}"
        rows.append({"source": source, "stream": stream, "committed position": what,
                     "committed at": last["committed_at"], "by run": last["run_id"]})
    return rows


def _print_rejects(engine: sa.Engine, args) -> None:
    rows, total = views.rejects(engine, args.source, args.reason, None if args.all else args.limit)
    if args.json:
        print_json({"total": total, "shown": len(rows), "rejects": rows})
        return
    table("Quarantine (newest first; times: Beijing, UTC+08:00)", rows)
    more = "" if len(rows) == total else "; --limit N or --all for more"
    console.print(f"showing {len(rows)} of {total} quarantined record(s){more}")


def _print_reconciliation(result, as_json: bool) -> int:
    if as_json:
        print_json({"balanced": result.balanced, **dataclasses.asdict(result)})
        return 0 if result.balanced else 1
    table("Reconciliation per source, business day (Beijing) and stream",
          [{k: declared_text(r) if k == "declared" and v is None else v for k, v in r.items()
            if k != "declared_in_window"} for r in result.rows])
    if result.balanced:
        console.print("[green]balanced:[/] every ledger row adds up and nothing needs an auditor's look")
        return 0
    table("Findings", [{"source": f.source, "day": f.day, "kind": f.kind, "count": f.count, "detail": f.detail}
                       for f in result.findings])
    console.print(f"[red]not balanced:[/] {len(result.findings)} finding(s)")
    return 1


def _print_summary(engine: sa.Engine, url: str, as_json: bool) -> None:
    runs, reasons, tables = views.run_totals(engine), views.reject_reasons(engine), views.table_counts(engine)
    if as_json:
        print_json({"store": describe(url), "runs": runs, "quarantine_reasons": reasons, "tables": tables})
        return
    table("Runs per source and stream", runs)
    table("Quarantine by reason", reasons)
    table("Unified tables", tables)
    console.print(f"\nstore: {describe(url)}")
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")
        console.print(f"look at it with: sqlite3 {path} 'SELECT * FROM service_case LIMIT 5'")
    console.print("or: silobridge status | silobridge rejects --limit 20")


if __name__ == "__main__":
    sys.exit(main())
