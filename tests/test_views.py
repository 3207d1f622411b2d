"""The consumer layer (schemas/views.py, loaders/views.py) against figures computed here, on both backends.

The store is demo-like and small: every department's simulator feeds the pipeline through `run_source`
(two hrss days, three police batches, a month of the medins exchange database and of the market and tax
APIs at a low volume). It is built once per backend per test session (`demo_store`), also for
tests/test_querying_doc.py. Expected values are computed in Python from the base tables' rows, or by
tests/test_report.py's independent SQL; working days by numpy's business-day calendar.
"""

import atexit
import os
import re
import tempfile
import uuid
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from loaders.engine import make_engine
from loaders.schema import upgrade
from loaders.views import RENUMBER_WORKDAYS
from pipeline.config import Settings
from pipeline.runner import run_source
from quality.report import write_report
from schemas.codes import CODE_NAMES_EN, CODE_SETS, SOURCE_SYSTEMS, code_values
from schemas.sql import Instant, sql_tables
from schemas.views import VIEWS, view_tables
from simulators import hrss, medins_db, police_outbox
from simulators.market_api import MarketApi, month_records
from simulators.tax_api import TaxApi, month_cases
from tests.test_report import DEPARTMENTS, Store, read_figures

BJ = timezone(timedelta(hours=8))
MONTH = "2026-10"
# As tests/conftest.py (which pytest imports as `conftest`: importing it again here would run it twice).
PG_ADMIN_URL = os.environ.get("SILOBRIDGE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
TEST_PII_KEY = "test-pii-key-fixed-for-fixtures"

# --- the store ---------------------------------------------------------------------------------------------


def build_demo_store(url: str, folder: Path) -> str:
    """A small simulated month of all five departments, loaded by the pipeline."""
    def settings(**kw) -> Settings:
        return Settings.resolve(store_url=url, pii_key=TEST_PII_KEY, **kw)

    for day in (1, 2):
        hrss.write_day(folder / "hrss", date(2026, 10, day), seed=7, cases_per_month=3000, faults=(), fault_rate=0)
    run_source("hrss", settings(folders={"hrss": folder / "hrss"}))
    police_outbox.write_month(folder / "police", MONTH, seed=7, batches_per_day=1, cases_per_day=40)
    for later in sorted((folder / "police").glob("GA_*"))[6:]:  # three batches and their manifests
        later.unlink()
    run_source("police", settings(folders={"police": folder / "police"}))
    exchange = f"sqlite:///{folder / 'medins.db'}"
    medins_db.generate_month(exchange, MONTH, seed=7, cases_per_month=250, behaviours=("deletions",))
    run_source("medins", settings(connections={"silobridge_medins": {"uri": exchange}}))
    window = (datetime(2026, 8, 1, tzinfo=timezone.utc), datetime(2026, 11, 30, tzinfo=timezone.utc))
    market = MarketApi(*month_records(MONTH, seed=7, cases_per_month=250))
    with market.serve() as server:
        uri = f"http://{market.client_id}:{market.client_secret}@{server.url.removeprefix('http://')}"
        run_source("market", settings(connections={"silobridge_market": {"uri": uri}}), window=window)
    tax = TaxApi(month_cases(MONTH, seed=7, cases_per_month=200))
    with tax.serve() as server:
        uri = f"http://{tax.app_id}:{tax.app_secret}@{server.url.removeprefix('http://')}"
        run_source("tax", settings(connections={"silobridge_tax": {"uri": uri}}), window=window)
    return url


def _new_pg_database() -> str:
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"silobridge_views_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
    except sa.exc.OperationalError as exc:
        message = f"PostgreSQL at {admin.url.render_as_string()} is not reachable ({type(exc).__name__})"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}, and CI=true makes these tests mandatory")
        pytest.skip(message)

    def drop():
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()

    atexit.register(drop)
    return admin.url.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(params=["sqlite", "postgresql"])
def demo_store(request) -> str:
    """The small demo store on each backend, built once per test session (read it, do not change it)."""
    backend = request.param
    # Kept on the session: pytest imports this module as `test_views`, tests/test_querying_doc.py as
    # `tests.test_views`, and a module-level cache would exist once per name.
    built = request.session.__dict__.setdefault("silobridge_demo_stores", {})
    if backend not in built:
        folder = Path(tempfile.mkdtemp(prefix=f"silobridge-views-{backend}-"))
        url = f"sqlite:///{folder / 'store.db'}" if backend == "sqlite" else _new_pg_database()
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("SILOBRIDGE_HOME", str(folder / "home"))
            built[backend] = build_demo_store(url, folder)
    return built[backend]


def rows(url: str, query: str, **types) -> list[dict]:
    engine = make_engine(url)
    with engine.connect() as conn:
        out = [dict(r) for r in conn.execute(sa.text(query).columns(**types)).mappings()]
    engine.dispose()
    return out


def view_rows(url: str, name: str) -> list[dict]:
    """A view's or a table's rows, typed as declared."""
    engine = make_engine(url)
    with engine.connect() as conn:
        out = [dict(r) for r in conn.execute(sa.select(view_tables.get(name, sql_tables.get(name)))).mappings()]
    engine.dispose()
    return out


def working_days(start: datetime, finish: datetime) -> int:
    """Monday–Friday dates after the start's Beijing date up to and including the finish's."""
    d0, d1 = start.astimezone(BJ).date(), finish.astimezone(BJ).date()
    return max(0, int(np.busday_count(d0 + timedelta(1), d1 + timedelta(1))))


# --- the tests ---------------------------------------------------------------------------------------------


def test_the_store_is_demo_like(demo_store):
    """What the comparisons below stand on: every department, several months, bundles, shared applicants."""
    cases = rows(demo_store, "SELECT source_system, COUNT(*) AS n FROM service_case GROUP BY source_system")
    assert {r["source_system"] for r in cases} == set(DEPARTMENTS) and all(r["n"] >= 20 for r in cases), cases
    evals = rows(demo_store, "SELECT source_system, COUNT(*) AS n FROM service_evaluation GROUP BY source_system")
    assert {r["source_system"] for r in evals} == set(DEPARTMENTS), evals
    months = {r["apply_month"] for r in view_rows(demo_store, "v_service_case")}
    assert {"2026-09", "2026-10"} <= months
    assert len(view_rows(demo_store, "v_bundle")) >= 3
    assert any(r["departments"] >= 2 for r in view_rows(demo_store, "v_applicant_departments"))
    assert rows(demo_store, "SELECT COUNT(*) AS n FROM service_case WHERE deleted")[0]["n"] >= 1


def test_each_view_has_exactly_its_declared_columns(demo_store):
    engine = make_engine(demo_store)
    with engine.connect() as conn:
        for view in VIEWS:
            result = conn.exec_driver_sql(f"SELECT * FROM {view.name} LIMIT 0")
            assert tuple(result.keys()) == view.names, view.name
        assert set(view_names := sa.inspect(conn).get_view_names()) >= {v.name for v in VIEWS}, view_names
    engine.dispose()


def test_code_value_holds_every_code_with_both_names(demo_store):
    stored = {(r["code_set"], r["code"]): (r["name_zh"], r["name_en"])
              for r in rows(demo_store, "SELECT * FROM code_value")}
    expected = {(s, c): (zh, CODE_NAMES_EN[s][c]) for s, codes in CODE_SETS.items() for c, zh in codes.items()}
    expected |= {("source_system", c): names for c, names in SOURCE_SYSTEMS.items()}
    assert stored == expected and len(code_values()) == len(expected)
    assert stored[("channel", "2")] == ("电脑端网上办理", "online on a computer")
    assert all(zh and en for zh, en in stored.values())


def test_the_calendar_flags_and_numbers_monday_to_friday(demo_store):
    days = view_rows(demo_store, "calendar_day")
    days.sort(key=lambda r: r["day"])
    assert days[0]["day"] == date(2000, 1, 1) and days[-1]["day"] == date(2049, 12, 31)
    assert len(days) == (date(2049, 12, 31) - date(2000, 1, 1)).days + 1
    assert all(r["is_workday"] == (r["day"].weekday() < 5) for r in days)
    running = 0
    for r in days:
        running += r["is_workday"]
        assert r["workday_number"] == running, r


def test_v_service_case_names_times_and_working_days(demo_store):
    base = {r["case_no"]: r for r in view_rows(demo_store, "service_case")}
    shown = {r["case_no"]: r for r in view_rows(demo_store, "v_service_case")}
    assert set(shown) == set(base)
    measured = on_time = 0
    for no, b in base.items():
        v = shown[no]
        assert {k: v[k] for k in b} == b, no  # every base column, unchanged
        assert v["source_system_name"] == SOURCE_SYSTEMS[b["source_system"]][0]
        assert v["status_name"] == CODE_SETS["case_status"][b["status"]]
        assert v["status_name_en"] == CODE_NAMES_EN["case_status"][b["status"]]
        for column, code_set in (("channel", "channel"), ("case_type", "case_type"),
                                 ("applicant_type", "applicant_type"), ("applicant_cert_type", "cert_type")):
            code = None if b[column] is None else str(b[column])
            assert v[f"{column}_name"] == CODE_SETS[code_set].get(code), (no, column)
        for column in ("apply_time", "accept_time", "finish_time", "source_updated_at", "loaded_at"):
            local = None if b[column] is None else b[column].astimezone(BJ).replace(tzinfo=None)
            assert v[f"{column}_beijing"] == local, (no, column)
        apply = b["apply_time"].astimezone(BJ) if b["apply_time"] else None
        assert v["apply_date"] == (apply.date() if apply else None)
        assert v["apply_month"] == (apply.strftime("%Y-%m") if apply else None)
        start = b["accept_time"] or b["apply_time"]
        days = working_days(start, b["finish_time"]) if start and b["finish_time"] else None
        assert v["working_days"] == days, no
        expected = (days <= b["promise_days"] if b["status"] == "completed" and days is not None
                    and b["promise_days"] is not None else None)
        assert v["on_time"] == expected, no
        measured += expected is not None
        on_time += bool(expected)
    assert measured >= 50 and 0 < on_time < measured  # both outcomes occur


def test_v_service_evaluation_names_and_times(demo_store):
    base = {(r["source_system"], r["eval_no"]): r for r in view_rows(demo_store, "service_evaluation")}
    shown = {(r["source_system"], r["eval_no"]): r for r in view_rows(demo_store, "v_service_evaluation")}
    assert set(shown) == set(base)
    for key, b in base.items():
        v = shown[key]
        assert {k: v[k] for k in b} == b, key
        assert (v["score_name"], v["score_name_en"]) == (CODE_SETS["score"][str(b["score"])],
                                                         CODE_NAMES_EN["score"][str(b["score"])])
        channel = None if b["channel"] is None else str(b["channel"])
        assert v["channel_name"] == CODE_SETS["eval_channel"].get(channel)
        local = b["assess_time"].astimezone(BJ) if b["assess_time"] else None
        assert v["assess_time_beijing"] == (local.replace(tzinfo=None) if local else None)
        assert v["assess_month"] == (local.strftime("%Y-%m") if local else None)


def test_working_days_follow_the_calendar_on_both_backends(store_url):
    """Hand-made cases over every start/finish pair of a few weeks; then a holiday flagged in calendar_day."""
    engine = make_engine(store_url)
    upgrade(engine)
    table = sql_tables["service_case"]
    base = {c: None for c in table.c.keys()} | {
        "source_system": "hrss", "source_version": 1, "status": "completed", "deleted": False, "delivery_order": "0",
        "run_id": "r", "loaded_at": datetime(2026, 11, 1, tzinfo=timezone.utc), "promise_days": 5}
    start = datetime(2026, 9, 28, 23, 30, tzinfo=BJ)  # late on a Monday: still the 28th in Beijing
    pairs = [(start + timedelta(days=a), start + timedelta(days=b, hours=h))
             for a in range(0, 15, 2) for b in range(-1, 22) for h in (0, 1)]
    with engine.begin() as conn:
        conn.execute(table.insert(), [base | {"case_no": f"W{i}", "accept_time": s, "finish_time": f,
                                              "source_updated_at": f} for i, (s, f) in enumerate(pairs)])
    shown = {r["case_no"]: r for r in view_rows(store_url, "v_service_case")}
    for i, (s, f) in enumerate(pairs):
        assert shown[f"W{i}"]["working_days"] == working_days(s, f), (s, f)
        assert shown[f"W{i}"]["on_time"] == (working_days(s, f) <= 5)
    before = shown["W0"]
    # An operator flags Thursday 1 October (国庆) as a holiday and renumbers: working days across it drop by one.
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE calendar_day SET is_workday = false WHERE day = :d")
                     .bindparams(sa.bindparam("d", type_=sa.Date())), {"d": date(2026, 10, 1)})
        conn.exec_driver_sql(RENUMBER_WORKDAYS)
    after = {r["case_no"]: r for r in view_rows(store_url, "v_service_case")}
    for i, (s, f) in enumerate(pairs):
        crosses = s.astimezone(BJ).date() < date(2026, 10, 1) <= f.astimezone(BJ).date()
        assert after[f"W{i}"]["working_days"] == working_days(s, f) - crosses, (s, f)
    assert before["working_days"] == 0  # accepted and finished on the same Beijing day
    engine.dispose()


def _month_group(month: str) -> dict:
    y, m = map(int, month.split("-"))
    return {"month": (datetime(y, m, 1, tzinfo=BJ), datetime(y + m // 12, m % 12 + 1, 1, tzinfo=BJ))}


# figure of tests/test_report.py's independent SQL → the KPI view's counter(s)
FIGURE_KPIS = {
    "cases": "cases", "finished": "finished_cases", "evaluations": "evaluations",
    "default_evaluations": "default_evaluations", "chaping": "bad_evaluations",
    "chaping_no_default": "bad_evaluations_no_default",
    "online_share": ("online_cases", "cases"),
    "zhudong_rate": ("actively_evaluated_cases", "finished_cases"),
    "haoping_rate": ("good_evaluations", "evaluations"),
    "haoping_rate_no_default": ("good_evaluations_no_default", "evaluations_no_default"),
    "manyi_rate": ("satisfied_evaluations", "evaluations"),
    "manyi_rate_no_default": ("satisfied_evaluations_no_default", "evaluations_no_default"),
    "followup_rate": ("followed_up_bad_evaluations", "first_bad_evaluations"),
    "followup_rate_no_default": ("followed_up_bad_evaluations_no_default", "first_bad_evaluations_no_default"),
    "ontime_rate": ("ontime_cases", "ontime_measured_cases"),
}
RATE_COLUMNS = {"online_share": "online_rate", "zhudong_rate": "active_evaluation_rate", "haoping_rate": "good_rate",
                "haoping_rate_no_default": "good_rate_no_default", "manyi_rate": "satisfied_rate",
                "manyi_rate_no_default": "satisfied_rate_no_default", "followup_rate": "followup_rate",
                "followup_rate_no_default": "followup_rate_no_default", "ontime_rate": "ontime_rate"}


def _as_figures(row: dict) -> dict:
    """A v_kpi_department_month row in the shape of the independent figures."""
    out = {}
    for figure, kpi in FIGURE_KPIS.items():
        out[figure] = row[kpi] if isinstance(kpi, str) else (row[kpi[0]], row[kpi[1]])
    return out


def test_v_kpi_department_month_equals_independent_sql(demo_store):
    month_rows = view_rows(demo_store, "v_kpi_department_month")
    by_key = {(r["source_system"], r["month"]): r for r in month_rows}
    engine = make_engine(demo_store)
    with engine.connect() as conn:
        oracle = Store(conn, None, None)
        months = oracle.months()
        for source in DEPARTMENTS:
            for month in months:
                group = {"source": source, **({"month": "none"} if month is None else _month_group(month))}
                expected = {k.split(".", 1)[1]: v for k, v in oracle.figures("g", group).items()}
                row = by_key.get((source, month))
                if row is None:
                    assert expected["cases"] == 0 and expected["evaluations"] == 0, (source, month)
                    continue
                assert _as_figures(row) == expected, (source, month)
                for figure, rate in RATE_COLUMNS.items():
                    num, den = expected[figure]
                    assert row[rate] == (pytest.approx(num / den) if den else None), (source, month, rate)
    engine.dispose()
    assert sum(r["cases"] for r in month_rows) > 500 and sum(r["ontime_measured_cases"] for r in month_rows) > 50


def test_the_day_view_sums_to_the_month_view(demo_store):
    days = view_rows(demo_store, "v_kpi_department_channel_day")
    months = {(r["source_system"], r["month"]): r for r in view_rows(demo_store, "v_kpi_department_month")}
    sums: dict = defaultdict(Counter)
    for r in days:
        assert r["month"] == (r["day"].strftime("%Y-%m") if r["day"] else None)
        sums[(r["source_system"], r["month"])].update({k: v for k, v in r.items() if isinstance(v, int)
                                                       and k != "channel"})
    for key, total in sums.items():
        assert {k: months[key][k] for k in total} == dict(total), key
    assert len({r["channel"] for r in days}) >= 4


def test_the_report_shows_the_views_figures(demo_store, tmp_path):
    """The report of the demo month and of all time equals the KPI view's sums, department by department."""
    months = view_rows(demo_store, "v_kpi_department_month")
    engine = make_engine(demo_store)
    october = read_figures(write_report(engine, tmp_path / "oct.html", date(2026, 10, 1), date(2026, 10, 31))
                           .read_text(encoding="utf-8"))
    everything = read_figures(write_report(engine, tmp_path / "all.html").read_text(encoding="utf-8"))
    engine.dispose()
    for shown, selected in ((october, [r for r in months if r["month"] == MONTH]), (everything, months)):
        for source in DEPARTMENTS:
            total = Counter()
            for r in selected:
                if r["source_system"] == source:
                    total.update({k: v for k, v in r.items() if isinstance(v, int)})
            for figure, value in _as_figures(total).items():
                assert shown[f"{source}.{figure}"] == value, (source, figure)
    for month in {r["month"] for r in months}:
        total = Counter()
        for r in months:
            if r["month"] == month:
                total.update({k: v for k, v in r.items() if isinstance(v, int)})
        for figure, value in _as_figures(total).items():
            assert everything[f"month-{month or 'none'}.{figure}"] == value, (month, figure)


def test_v_applicant_departments(demo_store):
    base = rows(demo_store, "SELECT applicant_key, source_system, apply_time, source_updated_at, deleted "
                            "FROM service_case", apply_time=Instant(), source_updated_at=Instant(),
                deleted=sa.Boolean())
    expected: dict = defaultdict(lambda: {"cases": 0, "seen": []})
    for r in base:
        if r["applicant_key"] and not r["deleted"]:
            e = expected[(r["applicant_key"], r["source_system"])]
            e["cases"] += 1
            e["seen"].append(r["apply_time"] or r["source_updated_at"])
    per_applicant = Counter(k for k, _ in expected)
    totals = Counter()
    for (k, _), e in expected.items():
        totals[k] += e["cases"]
    shown = view_rows(demo_store, "v_applicant_departments")
    assert len(shown) == len(expected)
    for r in shown:
        e = expected[(r["applicant_key"], r["source_system"])]
        assert (r["cases"], r["first_seen"], r["last_seen"]) == (e["cases"], min(e["seen"]), max(e["seen"]))
        assert (r["departments"], r["total_cases"]) == (per_applicant[r["applicant_key"]], totals[r["applicant_key"]])


def test_v_bundle(demo_store):
    base = rows(demo_store, "SELECT bundle_id, source_system, status, apply_time, finish_time FROM service_case "
                            "WHERE bundle_id IS NOT NULL AND NOT deleted", apply_time=Instant(), finish_time=Instant())
    groups: dict = defaultdict(list)
    for r in base:
        groups[r["bundle_id"]].append(r)
    shown = {r["bundle_id"]: r for r in view_rows(demo_store, "v_bundle")}
    assert set(shown) == set(groups)
    complete = 0
    for bundle, cases in groups.items():
        v = shown[bundle]
        done = sum(c["status"] == "completed" for c in cases)
        applied = [c["apply_time"] for c in cases if c["apply_time"]]
        finished = [c["finish_time"] for c in cases if c["finish_time"]]
        assert (v["cases"], v["departments"], v["completed_cases"]) == \
            (len(cases), len({c["source_system"] for c in cases}), done)
        assert v["is_complete"] == (done == len(cases))
        assert v["first_apply_time"] == (min(applied) if applied else None)
        assert v["last_finish_time"] == (max(finished) if finished else None)
        if v["is_complete"] and applied and finished:
            complete += 1
            assert v["elapsed_seconds"] == round((max(finished) - min(applied)).total_seconds())
        elif not v["is_complete"]:
            assert v["elapsed_seconds"] is None
    assert complete >= 1


def test_a_bundle_across_departments(store_url):
    """Only medins sends bundle ids today; the view groups whatever departments share one."""
    engine = make_engine(store_url)
    upgrade(engine)
    table = sql_tables["service_case"]
    base = {c: None for c in table.c.keys()} | {
        "source_version": 1, "deleted": False, "delivery_order": "0", "run_id": "r", "bundle_id": "YJS1",
        "loaded_at": datetime(2026, 11, 1, tzinfo=timezone.utc)}
    t0 = datetime(2026, 10, 5, 9, tzinfo=BJ)
    with engine.begin() as conn:
        conn.execute(table.insert(), [
            base | {"case_no": "B1", "source_system": "medins", "status": "completed", "apply_time": t0,
                    "finish_time": t0 + timedelta(days=2), "source_updated_at": t0 + timedelta(days=2)},
            base | {"case_no": "B2", "source_system": "hrss", "status": "in_progress",
                    "apply_time": t0 + timedelta(hours=1), "source_updated_at": t0 + timedelta(hours=1)},
            base | {"case_no": "B3", "source_system": "tax", "status": "completed", "deleted": True,
                    "apply_time": t0 - timedelta(days=9), "source_updated_at": t0}])
    (open_bundle,) = view_rows(store_url, "v_bundle")
    assert (open_bundle["cases"], open_bundle["departments"], open_bundle["completed_cases"],
            open_bundle["is_complete"], open_bundle["elapsed_seconds"]) == (2, 2, 1, False, None)
    assert open_bundle["first_apply_time"] == t0  # the deleted case is left out
    with engine.begin() as conn:
        conn.execute(table.update().where(table.c.case_no == "B2").values(
            status="completed", finish_time=t0 + timedelta(days=3, hours=4, seconds=30)))
    (done,) = view_rows(store_url, "v_bundle")
    assert done["is_complete"] and done["elapsed_seconds"] == 3 * 86400 + 4 * 3600 + 30
    engine.dispose()


@pytest.mark.parametrize("demo_store", ["sqlite"], indirect=True)  # what is drawn does not depend on the backend
def test_rates_over_fewer_than_30_are_greyed_and_left_out_of_line_charts(demo_store, tmp_path):
    engine = make_engine(demo_store)
    page = write_report(engine, tmp_path / "report.html").read_text(encoding="utf-8")
    engine.dispose()
    shown = read_figures(page)

    cells = {fid: css for css, fid in re.findall(r'<td class="([^"]*)" data-figure="([^"]+)"', page)}
    rates = {fid: v for fid, v in shown.items() if isinstance(v, tuple) and not fid.startswith(("dq", "recon"))}
    small = {fid for fid, (_, den) in rates.items() if 0 < den < 30}
    assert small and len(small) < len(rates)  # the store has both kinds
    assert {fid for fid in rates if "small" in cells[fid].split()} == small
    for fid in small:
        assert f'data-figure="{fid}" title="n = {rates[fid][1]:,}: fewer than 30' in page

    # The rates-by-month line chart: a point for each month whose denominator is at least 30, none for the rest.
    chart = page[page.index("<figcaption>Rates by month</figcaption>"):]
    chart = chart[:chart.index("</figure>")]
    months = sorted({fid.split(".")[0] for fid in rates if fid.startswith("month-")})
    assert len(months) >= 3
    for series, figure in (("网办率", "online_share"), ("主动评价率", "zhudong_rate"), ("按时办结率", "ontime_rate")):
        points = re.findall(rf"<title>([^<]*) · {series}: ", chart)
        drawn = {f"month-{'none' if label.startswith('unknown') else label}" for label in points}
        assert drawn == {m for m in months if rates[f"{m}.{figure}"][1] >= 30}, series
    assert any(rates[f"{m}.ontime_rate"][1] < 30 for m in months)  # so something was left out
