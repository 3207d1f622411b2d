"""Reconciliation by business day: the day the records belong to, whatever day the run happened."""

import csv
from collections import Counter
from datetime import date, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from loaders.engine import make_engine
from pipeline.cli import main
from pipeline.config import Settings
from pipeline.runner import run_source
from schemas.sql import Instant
from quality.reconcile import reconcile
from simulators.hrss import write_month
from simulators.market_api import MarketApi
from simulators.medins_db import create_schema, write_cases
from simulators.police_outbox import write_batch
from simulators.tax_api import TaxApi
from tests.handmade import case_row, write_drop
from tests.test_api_sources import market_case, settings, tax_case
from tests.test_medins_source import case as medins_case
from tests.test_police_source import case as police_case
from tests.test_police_source import evaluation as police_evaluation

pytestmark = pytest.mark.usefixtures("lenient_specs")

BEIJING = timezone(timedelta(hours=8))
COUNTS = ("inserted", "updated", "unchanged", "quarantined", "duplicates")
OCTOBER = [date(2026, 10, d) for d in range(1, 32)]


def by_day(result, source: str, stream: str) -> dict[str, dict]:
    return {r["day"]: r for r in result.rows if r["source"] == source and r["stream"] == stream}


def run_totals(url: str, source: str) -> dict[str, dict]:
    with make_engine(url).connect() as conn:
        rows = conn.execute(sa.text("SELECT * FROM etl_run WHERE source = :s AND status = 'success'"),
                            {"s": source}).mappings().all()
    totals: dict[str, Counter] = {}
    for r in rows:
        totals.setdefault(r["stream"], Counter()).update({c: r[c] for c in ("extracted", *COUNTS)})
    return totals


def file_records(path) -> int:
    """Data lines of a drop, read here with the csv module: all lines but the header and the 合计 trailer."""
    with open(path, encoding="gb18030", newline="") as f:
        lines = list(csv.reader(f))
    assert lines[-1][0] == "合计"
    return len(lines) - 2


def test_a_31_day_hrss_catch_up_in_one_run_reconciles_day_by_day(store_url, tmp_path, capsys):
    drop = tmp_path / "drop"
    write_month(drop, month="2026-10", seed=5, cases_per_month=900)
    expected = {(stream, day.isoformat()): file_records(drop / f"HRSS_{kind}_{day:%Y%m%d}.csv")
                for stream, kind in (("cases", "BJ"), ("evaluations", "PJ")) for day in OCTOBER
                if (drop / f"HRSS_{kind}_{day:%Y%m%d}.csv").exists()}
    result = run_source("hrss", Settings.resolve(store_url=store_url, folders={"hrss": drop}))
    assert len(result.files) >= 31  # one run loaded the whole month

    rec = reconcile(make_engine(store_url), "hrss", date(2026, 10, 1), date(2026, 10, 31))
    assert rec.balanced, rec.findings
    totals = run_totals(store_url, "hrss")
    for stream in ("cases", "evaluations"):
        days = by_day(rec, "hrss", stream)
        assert sorted(days) == sorted(d for s, d in expected if s == stream)
        assert stream != "cases" or len(days) == 31
        for day, row in days.items():
            assert row["extracted"] == expected[(stream, day)], (stream, day)
            assert row["declared"] == row["extracted"]  # the trailer of that day's file
            assert row["extracted"] == sum(row[c] for c in COUNTS)
            assert row["runs"] == 1
        # The days add up to the run's own ledger row, count by count.
        assert {c: sum(r[c] for r in days.values()) for c in ("extracted", *COUNTS)} == dict(totals[stream])
    with make_engine(store_url).connect() as conn:
        stored = conn.execute(sa.text("SELECT COUNT(*) FROM service_case WHERE source_system = 'hrss'")).scalar()
    assert sum(r["inserted"] for r in by_day(rec, "hrss", "cases").values()) == stored

    assert main(["--store", store_url, "reconcile", "--from", "2026-10-01", "--to", "2026-10-31"]) == 0
    out = capsys.readouterr().out
    assert "2026-10-01" in out and "2026-10-31" in out
    # --from/--to select business days: three of them, per stream.
    three = reconcile(make_engine(store_url), "hrss", date(2026, 10, 5), date(2026, 10, 7))
    assert [(r["day"], r["stream"]) for r in three.rows] == [
        (d, s) for d in ("2026-10-05", "2026-10-06", "2026-10-07") for s in ("cases", "evaluations")]
    # The run happened today, not in October: the day it ran selects nothing of it.
    today = datetime.now(BEIJING).date()
    assert reconcile(make_engine(store_url), "hrss", today, today).rows == []


def test_a_key_delivered_on_two_days_of_one_run_is_a_duplicate_on_the_day_that_lost(sqlite_url, tmp_path):
    drop = tmp_path / "drop"
    write_drop(drop, "HRSS_BJ_20261005.csv", [case_row("C1"), case_row("C2")])
    write_drop(drop, "HRSS_BJ_20261006.csv", [case_row("C1", status="已受理", updated="2026-10-06 09:00:00")])
    run_source("hrss", Settings.resolve(store_url=sqlite_url, folders={"hrss": drop}))
    days = by_day(reconcile(make_engine(sqlite_url)), "hrss", "cases")
    assert {d: (r["extracted"], r["inserted"], r["duplicates"]) for d, r in days.items()} == {
        "2026-10-05": (2, 1, 1),  # C2 new; its C1 lost to the 6th's
        "2026-10-06": (1, 1, 0),
    }
    # A later run's correction of the 5th counts on the 5th again.
    write_drop(drop, "HRSS_BJ_20261005_R1.csv", [case_row("C2", status="已受理", updated="2026-10-05 18:00:00")])
    run_source("hrss", Settings.resolve(store_url=sqlite_url, folders={"hrss": drop}))
    fifth = by_day(reconcile(make_engine(sqlite_url), first=date(2026, 10, 5), last=date(2026, 10, 5)),
                   "hrss", "cases")["2026-10-05"]
    assert (fifth["runs"], fifth["extracted"], fifth["updated"], fifth["declared"]) == (2, 3, 1, 3)


def test_police_batches_count_on_their_batch_date(store_url, tmp_path):
    outbox = tmp_path / "outbox"
    write_batch(outbox, 1, date(2026, 10, 5), [police_case("GA1"), police_case("GA2")],
                [police_evaluation("PJ1", "GA1")])
    write_batch(outbox, 2, date(2026, 10, 6), [police_case("GA3")], [])
    write_batch(outbox, 3, date(2026, 10, 6), [police_case("GA4", BJZT="99")], [])  # an unknown status
    run_source("police", Settings.resolve(store_url=store_url, folders={"police": outbox}))
    rec = reconcile(make_engine(store_url), "police")
    cases = by_day(rec, "police", "cases")
    assert {d: (r["declared"], r["extracted"], r["inserted"], r["quarantined"]) for d, r in cases.items()} == {
        "2026-10-05": (2, 2, 2, 0), "2026-10-06": (2, 2, 1, 1)}
    # The 6th's batches declared and held no evaluations: a day of 0, declared 0.
    assert {d: (r["declared"], r["extracted"]) for d, r in by_day(rec, "police", "evaluations").items()} == {
        "2026-10-05": (1, 1), "2026-10-06": (0, 0)}
    assert [(f.kind, f.day) for f in rec.findings] == [("unknown_code", date(2026, 10, 6))]


def market_api(*hours: tuple[int, int]) -> MarketApi:
    times = [datetime(2026, 10, d, h, tzinfo=BEIJING).strftime("%Y-%m-%d %H:%M:%S") for d, h in hours]
    return MarketApi([market_case(f"SB{i}", 0, GXSJ=t, SBSJ=t) for i, t in enumerate(times)], [])


def test_an_api_window_over_three_beijing_days_is_three_days(store_url):
    api = market_api((3, 12), (5, 9), (5, 23), (6, 0), (6, 10), (6, 11), (7, 8))
    api.datasets["/api/v2/bj"][1].append(market_case("SBX", 0, GXSJ="2026-10-06 12:00:00", BLZT="7"))  # unknown
    bj = lambda *a: datetime(*a, tzinfo=BEIJING).astimezone(timezone.utc)  # noqa: E731
    with api.serve() as server:
        uri = f"http://{api.client_id}:{api.client_secret}@{server.url.removeprefix('http://')}"
        s = settings(store_url, "silobridge_market", uri)
        # The first run reads from the history start, years in one read: its total is for all of them.
        run_source("market", s, window=(bj(2026, 10, 4, 23), bj(2026, 10, 5)))
        # From the 5th 00:00 to the 7th 12:00: three Beijing days, each read with its own total.
        run_source("market", s, window=(bj(2026, 10, 7, 11), bj(2026, 10, 7, 12)))
        api.datasets["/api/v2/bj"][1].append(market_case("SB9", 0, GXSJ="2026-10-07 13:00:00"))
        run_source("market", s, window=(bj(2026, 10, 7, 17), bj(2026, 10, 7, 18)))
    rec = reconcile(make_engine(store_url), "market", date(2026, 10, 1), date(2026, 10, 31))
    cases = by_day(rec, "market", "cases")
    assert {d: (r["runs"], r["declared"], r["extracted"], r["inserted"], r["quarantined"])
            for d, r in cases.items()} == {
        "2026-10-03": (1, None, 1, 1, 0), "2026-10-05": (1, 2, 2, 2, 0), "2026-10-06": (1, 4, 4, 3, 1),
        "2026-10-07": (2, 2, 2, 2, 0)}
    assert cases["2026-10-03"]["declared_in_window"]
    # The quarantined record is a finding of its business day, though its run read three days.
    assert [(f.kind, f.day, f.count) for f in rec.findings] == [("unknown_code", date(2026, 10, 6), 1)]
    assert reconcile(make_engine(store_url), "market", date(2026, 10, 7), date(2026, 10, 31)).balanced


def test_medins_rows_count_on_their_update_time_day(sqlite_url, tmp_path):
    exchange = f"sqlite:///{tmp_path / 'medins.db'}"
    create_schema(exchange)
    write_cases(exchange, [
        medins_case("R1", "P1", 1, "2026-10-05 10:00:00"),
        medins_case("R2", "P2", 1, "2026-10-05 23:59:59"),
        medins_case("R3", "P3", 1, "2026-10-06 00:00:00", CASESTATE="??"),  # an unknown status: quarantined
        medins_case("R4", "P1", 2, "2026-10-08 08:00:00"),  # a newer version of P1, three days on
        medins_case("R5", "P5", 1, "2099-01-01 00:00:00"),  # out of the cursor's reach: counts on the day found
    ])
    run_source("medins", Settings.resolve(store_url=sqlite_url, connections={"silobridge_medins": {"uri": exchange}}))
    rec = reconcile(make_engine(sqlite_url), "medins")
    cases = by_day(rec, "medins", "cases")
    today = datetime.now(BEIJING).date().isoformat()
    assert {d: (r["extracted"], r["inserted"], r["quarantined"], r["duplicates"]) for d, r in cases.items()} == {
        "2026-10-05": (2, 1, 0, 1), "2026-10-06": (1, 0, 1, 0), "2026-10-08": (1, 1, 0, 0), today: (1, 0, 1, 0)}
    assert all(r["declared"] is None for r in cases.values())
    kinds = {(f.kind, f.day) for f in rec.findings}
    assert ("unknown_code", date(2026, 10, 6)) in kinds and ("future_update_time", date.fromisoformat(today)) in kinds


def test_not_declared_is_said_not_zero(sqlite_url, capsys):
    api = TaxApi([tax_case("SW1", 0)])
    end = datetime(2026, 10, 5, 12, tzinfo=BEIJING).astimezone(timezone.utc)
    with api.serve() as server:
        uri = f"http://{api.app_id}:{api.app_secret}@{server.url.removeprefix('http://')}"
        run_source("tax", settings(sqlite_url, "silobridge_tax", uri), window=(end - timedelta(hours=1), end))
    rec = reconcile(make_engine(sqlite_url), "tax")
    assert [(r["day"], r["stream"], r["declared"]) for r in rec.rows] == [("2026-10-05", "cases", None),
                                                                          ("2026-10-05", "evaluations", None)]
    main(["--store", sqlite_url, "reconcile", "--source", "tax", "--from", "2026-10-05", "--to", "2026-10-05"])
    assert capsys.readouterr().out.count("not declared") == 2


def test_runs_recorded_before_the_ledger_by_day_get_their_days_on_upgrade(store_url):
    from alembic import command

    from loaders.schema import alembic_config, upgrade

    engine = make_engine(store_url)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0004")
    zero = dict.fromkeys(("inserted", "updated", "unchanged", "stale", "quarantined", "duplicates"), 0)
    started = datetime(2026, 12, 1, 3, tzinfo=timezone.utc)
    bj = lambda *a: datetime(*a, tzinfo=BEIJING)  # noqa: E731
    old = [  # an hrss run of one file, a market run of one Beijing day, a market catch-up, a failed run
        {"run_id": "h1", "stream": "cases", "source": "hrss", "extracted": 3, "declared_total": 3,
         "files": '[{"file": "HRSS_BJ_20261005.csv", "stream": "cases", "outcome": "loaded"}]'},
        {"run_id": "m1", "stream": "cases", "source": "market", "extracted": 2, "declared_total": 2,
         "window_start": bj(2026, 10, 6), "window_end": bj(2026, 10, 7)},
        {"run_id": "m2", "stream": "cases", "source": "market", "extracted": 5, "declared_total": 5,
         "window_start": bj(2015, 1, 1), "window_end": bj(2026, 10, 6)},
        {"run_id": "f1", "stream": "cases", "source": "hrss", "extracted": 0, "status": "failed"},
    ]
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO etl_run (run_id, stream, source, started_at, status, extracted, inserted, updated, "
            "unchanged, stale, quarantined, duplicates, declared_total, files, window_start, window_end) VALUES "
            "(:run_id, :stream, :source, :started_at, :status, :extracted, :inserted, :updated, :unchanged, :stale, "
            ":quarantined, :duplicates, :declared_total, :files, :window_start, :window_end)").bindparams(
            *(sa.bindparam(k, type_=Instant()) for k in ("started_at", "window_start", "window_end"))),
            [{"status": "success", "files": None, "window_start": None, "window_end": None, "declared_total": None,
              "started_at": started, **zero, **r, "inserted": r["extracted"]} for r in old])
    upgrade(engine)
    rows = {d["run_id"]: d for d in by_day_rows(engine)}
    assert {k: (str(v["business_day"]), v["extracted"], v["inserted"], v["declared_total"]) for k, v in rows.items()} \
        == {"h1": ("2026-10-05", 3, 3, 3), "m1": ("2026-10-06", 2, 2, 2),
            "m2": ("2026-12-01", 5, 5, 5)}  # years in one window: the day it ran, as reconciliation showed before
    assert reconcile(engine, first=date(2026, 10, 1), last=date(2026, 10, 31)).balanced


def by_day_rows(engine) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.text("SELECT * FROM etl_run_day")).mappings()]
