"""docs/querying.md runs as written: every SQL block on SQLite and PostgreSQL, against results computed here.

The store is tests/test_views.py's small five-department store built by the pipeline. Each block starts with
`-- query: <name>`; `sql` blocks run on both backends, `sql sqlite` / `sql postgresql` on theirs. The
expected rows are computed in Python from the base tables' rows (the views are not used), with working days
from numpy's business-day calendar, and compared as multisets after normalizing types (SQLite returns
instants as text and booleans as 0/1).

The EXPLAIN test checks that PostgreSQL's planner can serve the documented look-ups from the indexes
declared for them. The test store holds hundreds of rows, where a sequential scan is cheaper and the
planner rightly takes it; `SET enable_seqscan = off` asks instead whether an index can serve the query at
all — which is what breaks when an index is missing or a view hides its column behind an expression (the
plan then still scans the table, at a prohibitive cost).
"""

import re
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from loaders.engine import make_engine
from schemas.codes import CODE_NAMES_EN, CODE_SETS, SOURCE_SYSTEMS
from tests.test_views import demo_store, view_rows  # noqa: F401  (the fixture)

DOC = Path(__file__).resolve().parent.parent / "docs" / "querying.md"
BLOCK = re.compile(r"^```sql( sqlite| postgresql)?\n(.*?)^```", re.S | re.M)
BJ = timezone(timedelta(hours=8))
OCT = (datetime(2026, 10, 1, tzinfo=BJ), datetime(2026, 11, 1, tzinfo=BJ))
OPEN = ("submitted", "accepted", "in_progress", "supplement", "suspended")


def blocks() -> list[tuple[str | None, str, str]]:
    """(backend or None for both, name, SQL) of every SQL block of the page."""
    out = []
    for backend, sql in BLOCK.findall(DOC.read_text(encoding="utf-8")):
        first = sql.splitlines()[0]
        m = re.fullmatch(r"-- query: (\w+)", first)
        assert m, f"a SQL block of {DOC.name} does not start with `-- query: <name>`: {first!r}"
        out.append((backend.strip() or None, m[1], sql))
    return out


# --- normalizing -----------------------------------------------------------------------------------------

_TIME_TEXT = re.compile(r"^\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d")


def norm(value):
    if isinstance(value, str) and _TIME_TEXT.match(value):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime):
        return (value.astimezone(timezone.utc) if value.tzinfo else value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (float, Decimal)):
        return round(float(value), 9)
    return value


def multiset(rows) -> Counter:
    return Counter(tuple(norm(v) for v in row) for row in rows)


# --- the expected results, from the base tables' rows --------------------------------------------------------


def bj(t: datetime | None) -> datetime | None:
    return None if t is None else t.astimezone(BJ)


def local(t: datetime | None) -> datetime | None:
    return None if t is None else bj(t).replace(tzinfo=None)


def month(t: datetime | None) -> str | None:
    return None if t is None else bj(t).strftime("%Y-%m")


def within(t: datetime | None, span) -> bool:
    return t is not None and span[0] <= t < span[1]


def ratio(num: int, den: int):
    return num / den if den else None


class Expected:
    def __init__(self, url: str):
        self.cases = view_rows(url, "service_case")
        self.evals = view_rows(url, "service_evaluation")
        self.live = [c for c in self.cases if not c["deleted"]]
        self.history = view_rows(url, "service_case_history")
        self.live_evals = [e for e in self.evals if not e["deleted"]]
        own = {(e["source_system"], e["case_no"]) for e in self.live_evals if not e["is_default"]}
        second = {(e["source_system"], e["case_no"]) for e in self.live_evals if e["assess_number"] == 2}
        self.case_flags = {c["case_no"]: self._case_flags(c, own) for c in self.live}
        self.eval_flags = [(e, self._eval_flags(e, second)) for e in self.live_evals]

    @staticmethod
    def _case_flags(c: dict, own: set) -> dict:
        finished = c["status"] == "completed"
        start, finish = c["accept_time"] or c["apply_time"], c["finish_time"]
        measured = finished and c["promise_days"] is not None and start is not None and finish is not None
        days = 0
        if measured:
            d0, d1 = bj(start).date(), bj(finish).date()
            days = max(0, int(np.busday_count(d0 + timedelta(1), d1 + timedelta(1))))
        return {"cases": 1, "online_cases": int(c["channel"] in (2, 3)), "finished_cases": int(finished),
                "actively_evaluated_cases": int(finished and (c["source_system"], c["case_no"]) in own),
                "ontime_measured_cases": int(measured), "ontime_cases": int(measured and days <= c["promise_days"])}

    @staticmethod
    def _eval_flags(e: dict, second: set) -> dict:
        own, score = not e["is_default"], e["score"]
        first_bad = score <= 2 and e["assess_number"] == 1
        followed = first_bad and (e["source_system"], e["case_no"]) in second
        return {"evaluations": 1, "default_evaluations": int(e["is_default"]), "evaluations_no_default": int(own),
                "good_evaluations": int(score >= 3), "good_evaluations_no_default": int(score >= 3 and own),
                "satisfied_evaluations": int(score >= 4), "satisfied_evaluations_no_default": int(score >= 4 and own),
                "bad_evaluations": int(score <= 2), "bad_evaluations_no_default": int(score <= 2 and own),
                "first_bad_evaluations": int(first_bad), "first_bad_evaluations_no_default": int(first_bad and own),
                "followed_up_bad_evaluations": int(followed),
                "followed_up_bad_evaluations_no_default": int(followed and own)}

    def kpis(self, key_case, key_eval) -> dict:
        """Counters summed per key (None: left out); key_case(case) / key_eval(evaluation)."""
        out: dict = defaultdict(Counter)
        for c in self.live:
            k = key_case(c)
            if k is not None:
                out[k].update(self.case_flags[c["case_no"]])
        for e, flags in self.eval_flags:
            k = key_eval(e)
            if k is not None:
                out[k].update(flags)
        return out

    def by_month(self) -> dict:
        return self.kpis(lambda c: (c["source_system"], month(c["apply_time"])),
                         lambda e: (e["source_system"], month(e["assess_time"])))

    # the queries of the page, by name -------------------------------------------------------------------

    def cases_per_department_month(self, p):
        return [(s, m, k["cases"]) for (s, m), k in self.by_month().items() if k["cases"] > 0]

    def cases_per_department_month_named(self, p):
        n = Counter((c["source_system"], month(c["apply_time"])) for c in self.live)
        return [(s, SOURCE_SYSTEMS[s][0], m, count) for (s, m), count in n.items()]

    def cases_in_october_by_department(self, p):
        return list(Counter(c["source_system"] for c in self.live if within(c["apply_time"], OCT)).items())

    def active_evaluation_rate_per_department_month(self, p):
        return [(s, m, k["actively_evaluated_cases"], k["finished_cases"],
                 ratio(k["actively_evaluated_cases"], k["finished_cases"]))
                for (s, m), k in self.by_month().items() if k["finished_cases"] > 0]

    def active_evaluation_rate_per_department_period(self, p):
        period = self.kpis(lambda c: c["source_system"] if within(c["apply_time"], OCT) else None,
                           lambda e: e["source_system"] if within(e["assess_time"], OCT) else None)
        return [(s, k["actively_evaluated_cases"], k["finished_cases"],
                 ratio(k["actively_evaluated_cases"], k["finished_cases"])) for s, k in period.items()]

    def _applicants(self) -> dict:
        out: dict = defaultdict(lambda: defaultdict(list))
        for c in self.live:
            if c["applicant_key"]:
                out[c["applicant_key"]][c["source_system"]].append(c["apply_time"] or c["source_updated_at"])
        return out

    def applicant_departments(self, p):
        mine = self._applicants()[p["applicant_key"]]
        total = sum(len(v) for v in mine.values())
        return [(s, len(seen), min(seen), max(seen), len(mine), total) for s, seen in mine.items()]

    def applicant_cases(self, p):
        return [(SOURCE_SYSTEMS[c["source_system"]][0], c["case_no"], c["item_name"],
                 CODE_SETS["case_status"][c["status"]], local(c["apply_time"]), local(c["finish_time"]))
                for c in self.live if c["applicant_key"] == p["applicant_key"]]

    def applicants_in_several_departments(self, p):
        n = Counter(len(depts) for depts in self._applicants().values())
        return [(d, count) for d, count in n.items() if d >= 2]

    def case_status(self, p):
        return [(c["case_no"], SOURCE_SYSTEMS[c["source_system"]][0], c["status"],
                 CODE_SETS["case_status"][c["status"]], CODE_NAMES_EN["case_status"][c["status"]],
                 local(c["accept_time"]), local(c["finish_time"]), local(c["source_updated_at"]), c["deleted"])
                for c in self.cases if c["case_no"] == p["case_no"]]

    def open_cases_by_status(self, p):
        n = Counter((c["source_system"], c["status"]) for c in self.live if c["status"] in OPEN)
        return [(s, st, CODE_SETS["case_status"][st], count) for (s, st), count in n.items()]

    def cases_changed_since(self, p):
        since = datetime(2026, 10, 21, tzinfo=BJ)
        return [(c["case_no"], c["source_system"], c["status"], c["source_updated_at"])
                for c in self.cases if c["source_updated_at"] >= since]

    def case_status_history(self, p):
        changes = sorted((h["source_updated_at"], h["run_id"], h["previous_status"], h["status"])
                         for h in self.history if h["case_no"] == p["case_no"])
        case = next(c for c in self.cases if c["case_no"] == p["case_no"])
        # The changes chain from a first load to the case's stored state.
        assert changes[0][2] is None and (changes[-1][0], changes[-1][3]) == (case["source_updated_at"], case["status"])
        assert all(later[2] == earlier[3] for earlier, later in zip(changes, changes[1:]))
        return [(previous, status, at, run) for at, run, previous, status in changes]

    def _bundles(self) -> dict:
        out: dict = defaultdict(list)
        for c in self.live:
            if c["bundle_id"]:
                out[c["bundle_id"]].append(c)
        return out

    def _bundle_row(self, bundle: str) -> tuple:
        cases = self._bundles()[bundle]
        done = sum(c["status"] == "completed" for c in cases)
        applied = [c["apply_time"] for c in cases if c["apply_time"]]
        finished = [c["finish_time"] for c in cases if c["finish_time"]]
        first, last = min(applied, default=None), max(finished, default=None)
        elapsed = round((last - first).total_seconds()) if done == len(cases) and first and last else None
        return (bundle, len(cases), len({c["source_system"] for c in cases}), done, done == len(cases), first, last,
                elapsed)

    def bundle(self, p):
        return [self._bundle_row(p["bundle_id"])]

    def bundle_cases(self, p):
        return [(c["case_no"], c["source_system"], c["status"], local(c["apply_time"]), local(c["finish_time"]))
                for c in self._bundles()[p["bundle_id"]]]

    def complete_bundles(self, p):
        rows = [self._bundle_row(b) for b in self._bundles()]
        return [(b, n, d, None if elapsed is None else elapsed / 86400) for b, n, d, _, complete, _, _, elapsed in rows
                if complete]

    def kpis_of_october(self, p):
        out = []
        for (s, m), k in self.by_month().items():
            if m != "2026-10":
                continue
            out.append((s, k["cases"], k["online_cases"], ratio(k["online_cases"], k["cases"]), k["finished_cases"],
                        k["actively_evaluated_cases"], ratio(k["actively_evaluated_cases"], k["finished_cases"]),
                        k["evaluations"], k["default_evaluations"], k["good_evaluations"],
                        ratio(k["good_evaluations"], k["evaluations"]), k["good_evaluations_no_default"],
                        k["evaluations_no_default"],
                        ratio(k["good_evaluations_no_default"], k["evaluations_no_default"]),
                        k["satisfied_evaluations"], ratio(k["satisfied_evaluations"], k["evaluations"]),
                        ratio(k["satisfied_evaluations_no_default"], k["evaluations_no_default"]),
                        k["bad_evaluations"], k["bad_evaluations_no_default"], k["first_bad_evaluations"],
                        k["followed_up_bad_evaluations"],
                        ratio(k["followed_up_bad_evaluations"], k["first_bad_evaluations"]),
                        k["ontime_cases"], k["ontime_measured_cases"],
                        ratio(k["ontime_cases"], k["ontime_measured_cases"])))
        return out

    def case_kpis_from_tables(self, p):
        per = self.kpis(lambda c: c["source_system"] if month(c["apply_time"]) == "2026-10" else None, lambda e: None)
        return [(s, "2026-10", k["cases"], k["online_cases"], k["finished_cases"], k["actively_evaluated_cases"],
                 k["ontime_measured_cases"], k["ontime_cases"]) for s, k in per.items()]

    def evaluation_kpis_from_tables(self, p):
        per = self.kpis(lambda c: None, lambda e: e["source_system"] if month(e["assess_time"]) == "2026-10" else None)
        return [(s, k["evaluations"], k["default_evaluations"], k["good_evaluations"], k["satisfied_evaluations"],
                 k["bad_evaluations"], k["evaluations_no_default"], k["good_evaluations_no_default"])
                for s, k in per.items()]

    def channel_names(self, p):
        n = Counter(c["channel"] for c in self.live)
        return [(ch, None if ch is None else CODE_SETS["channel"][str(ch)],
                 None if ch is None else CODE_NAMES_EN["channel"][str(ch)], count) for ch, count in n.items()]

    def flag_holiday(self, p):
        return 1  # one calendar row

    def renumber_workdays(self, p):
        return (date(2049, 12, 31) - date(2000, 1, 1)).days + 1  # every calendar row

    def parameters(self) -> dict:
        """An applicant in several departments, a completed case, a complete bundle."""
        applicants = self._applicants()
        key = sorted(k for k, depts in applicants.items() if len(depts) >= 2)[0]
        case = sorted(c["case_no"] for c in self.live if c["status"] == "completed" and c["finish_time"])[0]
        bundle = sorted(b for b in self._bundles() if self._bundle_row(b)[4])[0]
        return {"applicant_key": key, "case_no": case, "bundle_id": bundle}


# --- the tests ---------------------------------------------------------------------------------------------


def test_every_block_has_a_name_and_both_backends_get_every_query():
    found = blocks()
    assert len(found) >= 15
    names = {name for _, name, _ in found}
    for backend in ("sqlite", "postgresql"):
        assert {name for b, name, _ in found if b in (None, backend)} == names, backend
    assert names <= {m for m in dir(Expected) if not m.startswith("_")}, names - set(dir(Expected))


# Blocks that change the store, with the blocks that run before them in the same transaction (rolled back).
WRITES = {"flag_holiday": (), "renumber_workdays": ("flag_holiday",)}
HOLIDAY = date(2026, 10, 1)


def test_every_query_of_the_page_returns_what_the_tables_hold(demo_store):
    backend = make_engine(demo_store).dialect.name
    expected = Expected(demo_store)
    params = expected.parameters()
    engine = make_engine(demo_store)
    mine = [(name, sql) for target, name, sql in blocks() if target in (None, backend)]
    ran = []
    for name, sql in mine:
        used = {k: v for k, v in params.items() if f":{k}" in sql}
        with engine.connect() as conn:  # each block in a transaction of its own, rolled back
            for before in WRITES.get(name, ()):
                conn.execute(sa.text(dict(mine)[before]))
            result = conn.execute(sa.text(sql), used)
            if name in WRITES:
                ran.append((name, result.rowcount))
                assert result.rowcount == getattr(expected, name)(used), f"{name} on {backend}: {sql}"
                if name == "renumber_workdays":
                    _assert_holiday_counted(conn, expected)
            else:
                got = result.all()
                assert multiset(got) == multiset(getattr(expected, name)(used)), f"{name} on {backend}: {sql}"
                ran.append((name, len(got)))
            conn.rollback()
    engine.dispose()
    assert all(n > 0 for _, n in ran), [name for name, n in ran if n == 0]  # no comparison of two empties
    assert len(ran) == len({name for name, _ in mine})


def _assert_holiday_counted(conn, expected: "Expected") -> None:
    """After flagging 1 October and renumbering, every case's working days skip it."""
    shown = dict(conn.execute(sa.text("SELECT case_no, working_days FROM v_service_case")).all())
    crossing = 0
    for c in expected.cases:
        start, finish = c["accept_time"] or c["apply_time"], c["finish_time"]
        want = None
        if start and finish:
            d0, d1 = bj(start).date(), bj(finish).date()
            want = max(0, int(np.busday_count(d0 + timedelta(1), d1 + timedelta(1), holidays=[HOLIDAY])))
            crossing += d0 < HOLIDAY <= d1
        assert shown[c["case_no"]] == want, c["case_no"]
    assert crossing >= 10  # cases whose count changed


# The index each documented look-up is to use (index names follow schemas/sql.py: ix_<table>_<columns>).
INDEX_FOR = {
    "cases_in_october_by_department": "ix_service_case_apply_time",
    "applicant_departments": "ix_service_case_applicant_key",
    "applicant_cases": "ix_service_case_applicant_key",
    "case_status": "service_case_pkey",
    "case_status_history": "service_case_history_pkey",
    "open_cases_by_status": "ix_service_case_status",
    "cases_changed_since": "ix_service_case_source_updated_at",
    "bundle": "ix_service_case_bundle_id",
    "bundle_cases": "ix_service_case_bundle_id",
}


@pytest.mark.parametrize("demo_store", ["postgresql"], indirect=True)  # the production store's planner
def test_postgresql_serves_the_documented_look_ups_from_their_indexes(demo_store):
    engine = make_engine(demo_store)
    params = Expected(demo_store).parameters()
    queries = {name: sql for target, name, sql in blocks() if target in (None, "postgresql")}
    assert set(INDEX_FOR) <= set(queries)
    with engine.connect() as conn:
        conn.exec_driver_sql("SET enable_seqscan = off")  # see the module's docstring
        plans = {}
        for name, index in INDEX_FOR.items():
            sql = queries[name]
            used = {k: v for k, v in params.items() if f":{k}" in sql}
            plan = "\n".join(r[0] for r in conn.execute(sa.text(f"EXPLAIN {sql}"), used))
            assert index in plan, f"{name} does not use {index}:\n{plan}"
            assert "Seq Scan on service_case" not in plan, f"{name} scans service_case:\n{plan}"
            plans[name] = plan
    engine.dispose()
    assert "Index" in plans["applicant_departments"]  # the view's GROUP BY and window pass the key down
