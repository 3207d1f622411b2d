"""The consumer layer of the store, declared once: views, their columns and the KPI definitions.

Downstream platforms and the auditors' report read the same views
(`loaders.views` creates them on both backends, the migrations call it, the
data dictionary documents them from here):

- `v_service_case`, `v_service_evaluation`: every column of the base table,
  the names of coded columns (`<column>_name` Chinese, `<column>_name_en`
  English, from `code_value`), Beijing local times (`<instant>_beijing`),
  the Beijing date and month, and for cases the working days and on-time flag;
- `v_kpi_department_channel_day`: the KPI counters per department, channel and
  Beijing day (the grain any period can be summed from);
- `v_kpi_department_month`: the same per department and Beijing month, with
  every rate as numerator, denominator and ratio;
- `v_applicant_departments`, `v_bundle`.

A KPI is a sum of 0/1 flags (`Counter.condition`, portable SQL over the
aliases `c` = v_service_case and `e` = v_service_evaluation, with `own` and
`fu` of `CASE_JOINS` / `EVALUATION_JOINS`) or a ratio of two counters
(`Rate`). The conditions below are the one definition: the views are
generated from them and the report reads the views.
"""

from dataclasses import dataclass

import sqlalchemy as sa

from schemas.sql import Instant, Money
from schemas.tables import (BLOB, BOOLEAN, DATE, INSTANT, INTEGER, MONEY, SERVICE_CASE, SERVICE_EVALUATION, TEXT,
                            Table)

# View-only logical types: a Beijing wall-clock time (timestamp without zone on PostgreSQL, text
# `YYYY-MM-DD HH:MM:SS.ffffff` on SQLite) and a ratio (double precision; NULL where the denominator is 0).
LOCAL_TIME, RATIO = "Beijing local time", "ratio"

# Cases whose department handled them online (GB/T 39046 A.5: 2 电脑端网上办理, 3 移动端网上申请).
ONLINE_CHANNELS = (2, 3)
# Denominators below this are too small to read a rate from: the report greys them and leaves them out of
# line charts.
SMALL_DENOMINATOR = 30


@dataclass(frozen=True)
class ViewColumn:
    name: str
    type: str
    doc: str


@dataclass(frozen=True)
class View:
    name: str
    doc: str
    columns: tuple[ViewColumn, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


@dataclass(frozen=True)
class Counter:
    name: str
    label: str  # Chinese term and English gloss, as the report shows it
    stream: str  # "cases" (condition over c) or "evaluations" (condition over e)
    condition: str | None  # portable SQL; None counts every row
    rule: str  # the definition in words


@dataclass(frozen=True)
class Rate:
    name: str
    label: str
    numerator: str
    denominator: str


# What the conditions may refer to besides c and e: the cases with an evaluation of the person's own (own),
# and the cases with a follow-up evaluation (fu). Joins rather than EXISTS inside CASE, which PostgreSQL
# can only run as a subplan, costs high and then JIT-compiles for seconds.
CASE_JOINS = ("LEFT JOIN (SELECT DISTINCT source_system, case_no FROM service_evaluation "
              "WHERE NOT deleted AND NOT is_default) own "
              "ON own.source_system = c.source_system AND own.case_no = c.case_no")
EVALUATION_JOINS = ("LEFT JOIN (SELECT DISTINCT source_system, case_no FROM service_evaluation "
                    "WHERE assess_number = 2 AND NOT deleted) fu "
                    "ON fu.source_system = e.source_system AND fu.case_no = e.case_no")
_FIRST_BAD = "e.score BETWEEN 1 AND 2 AND e.assess_number = 1"
_FOLLOWED = "fu.case_no IS NOT NULL"
_ACTIVE = "own.case_no IS NOT NULL"

COUNTERS = (
    Counter("cases", "办件量 cases", "cases", None, "cases"),
    Counter("online_cases", "网办件 cases handled online", "cases",
            f"c.channel IN ({', '.join(map(str, ONLINE_CHANNELS))})",
            "cases with channel ∈ {2 电脑端网上办理, 3 移动端网上申请}"),
    Counter("finished_cases", "办结量 finished cases", "cases", "c.status = 'completed'",
            "cases with status = completed (已办结)"),
    Counter("actively_evaluated_cases", "主动评价办件 finished cases with an evaluation of their own", "cases",
            f"c.status = 'completed' AND {_ACTIVE}",
            "finished cases having at least one evaluation with is_default = false (same case_no and "
            "source_system, not deleted, whatever its assess_time)"),
    Counter("ontime_measured_cases", "按时办结 measured", "cases", "c.on_time IS NOT NULL",
            "finished cases that have promise_days, a finish_time and a start (v_service_case.on_time is set)"),
    Counter("ontime_cases", "按时办结 on time", "cases", "c.on_time",
            "finished cases whose working days from start to finish_time ≤ promise_days (v_service_case.on_time)"),
    Counter("evaluations", "评价量 evaluations", "evaluations", None, "evaluations"),
    Counter("default_evaluations", "默认评价 default evaluations", "evaluations", "e.is_default",
            "evaluations with is_default = true (系统默认评价)"),
    Counter("evaluations_no_default", "评价量, default evaluations left out", "evaluations", "NOT e.is_default",
            "evaluations with is_default = false (主动评价)"),
    Counter("good_evaluations", "好评 (score 3–5)", "evaluations", "e.score BETWEEN 3 AND 5",
            "evaluations with score 3–5"),
    Counter("good_evaluations_no_default", "好评, default evaluations left out", "evaluations",
            "e.score BETWEEN 3 AND 5 AND NOT e.is_default", "evaluations with score 3–5 and is_default = false"),
    Counter("satisfied_evaluations", "满意 (score 4–5)", "evaluations", "e.score BETWEEN 4 AND 5",
            "evaluations with score 4–5"),
    Counter("satisfied_evaluations_no_default", "满意, default evaluations left out", "evaluations",
            "e.score BETWEEN 4 AND 5 AND NOT e.is_default", "evaluations with score 4–5 and is_default = false"),
    Counter("bad_evaluations", "差评 (score 1–2)", "evaluations", "e.score BETWEEN 1 AND 2",
            "evaluations with score 1–2 (any assess_number)"),
    Counter("bad_evaluations_no_default", "差评, default evaluations left out", "evaluations",
            "e.score BETWEEN 1 AND 2 AND NOT e.is_default",
            "evaluations with score 1–2 and is_default = false (any assess_number)"),
    Counter("first_bad_evaluations", "首次差评 first 差评", "evaluations", _FIRST_BAD,
            "差评 that are a first evaluation (score 1–2, assess_number 1)"),
    Counter("first_bad_evaluations_no_default", "首次差评, default evaluations left out", "evaluations",
            f"{_FIRST_BAD} AND NOT e.is_default", "first 差评 with is_default = false"),
    Counter("followed_up_bad_evaluations", "差评 followed up by a 2nd evaluation", "evaluations",
            f"{_FIRST_BAD} AND {_FOLLOWED}",
            "first 差评 whose case (same case_no and source_system) has an evaluation with assess_number 2, "
            "of any score and time, not deleted"),
    Counter("followed_up_bad_evaluations_no_default", "差评 followed up, default evaluations left out",
            "evaluations", f"{_FIRST_BAD} AND NOT e.is_default AND {_FOLLOWED}",
            "first 差评 with is_default = false whose case has an evaluation with assess_number 2"),
)

RATES = (
    Rate("online_rate", "网办率 share handled online", "online_cases", "cases"),
    Rate("active_evaluation_rate", "主动评价率 active evaluation rate", "actively_evaluated_cases", "finished_cases"),
    Rate("good_rate", "好评率 (score 3–5)", "good_evaluations", "evaluations"),
    Rate("good_rate_no_default", "好评率, default evaluations left out", "good_evaluations_no_default",
         "evaluations_no_default"),
    Rate("satisfied_rate", "满意率 (score 4–5)", "satisfied_evaluations", "evaluations"),
    Rate("satisfied_rate_no_default", "满意率, default evaluations left out", "satisfied_evaluations_no_default",
         "evaluations_no_default"),
    Rate("followup_rate", "差评 followed up by a 2nd evaluation (追评率)", "followed_up_bad_evaluations",
         "first_bad_evaluations"),
    Rate("followup_rate_no_default", "差评 followed up, default evaluations left out",
         "followed_up_bad_evaluations_no_default", "first_bad_evaluations_no_default"),
    Rate("ontime_rate", "按时办结率 finished within promise_days", "ontime_cases", "ontime_measured_cases"),
)

COUNTER = {c.name: c for c in COUNTERS}
RATE = {r.name: r for r in RATES}

WORKING_DAYS_RULE = (
    "working days = the dates d with start's Beijing date < d ≤ finish's Beijing date that calendar_day flags "
    "is_workday (the migration flags Monday–Friday; finished on the start day = 0 working days); start = "
    "accept_time (受理时间), or apply_time when accept_time is empty")


def _v(name: str, type_: str, doc: str) -> ViewColumn:
    return ViewColumn(name, type_, doc)


def _base(table: Table) -> tuple[ViewColumn, ...]:
    return tuple(ViewColumn(c.name, c.type, c.doc) for c in table.columns)


# Coded columns of the base tables whose names the views show: column → code set in code_value.
CASE_NAMED = {"source_system": "source_system", "case_type": "case_type", "applicant_type": "applicant_type",
              "applicant_cert_type": "cert_type", "channel": "channel", "status": "case_status"}
EVALUATION_NAMED = {"source_system": "source_system", "score": "score", "channel": "eval_channel"}
CASE_LOCAL = ("apply_time", "accept_time", "finish_time", "source_updated_at", "loaded_at")
EVALUATION_LOCAL = ("assess_time", "source_updated_at", "loaded_at")


def _names(named: dict[str, str]) -> tuple[ViewColumn, ...]:
    out: list[ViewColumn] = []
    for column, code_set in named.items():
        out += [_v(f"{column}_name", TEXT, f"Chinese name of `{column}` (code set `{code_set}`)"),
                _v(f"{column}_name_en", TEXT, f"English name of `{column}` (code set `{code_set}`)")]
    return tuple(out)


def _local(columns: tuple[str, ...]) -> tuple[ViewColumn, ...]:
    return tuple(_v(f"{c}_beijing", LOCAL_TIME, f"`{c}` as Beijing wall-clock time (UTC+8, no zone)")
                 for c in columns)


V_SERVICE_CASE = View(
    "v_service_case",
    "Every service_case row (deleted ones too: filter on `deleted`) with the names of its codes, Beijing local "
    "times, and what 按时办结 needs.",
    _base(SERVICE_CASE) + _names(CASE_NAMED) + _local(CASE_LOCAL) + (
        _v("apply_date", DATE, "Beijing date of apply_time"),
        _v("apply_month", TEXT, "Beijing month of apply_time, `YYYY-MM`"),
        _v("working_days", INTEGER, "working days from start to finish_time; NULL without both, or outside the "
                                     f"calendar's years. {WORKING_DAYS_RULE}"),
        _v("on_time", BOOLEAN, "for a completed case with promise_days and working_days: working_days ≤ "
                               "promise_days; NULL otherwise (not measured)"),
    ),
)

V_SERVICE_EVALUATION = View(
    "v_service_evaluation",
    "Every service_evaluation row (deleted ones too) with the names of its codes and Beijing local times.",
    _base(SERVICE_EVALUATION) + _names(EVALUATION_NAMED) + _local(EVALUATION_LOCAL) + (
        _v("assess_date", DATE, "Beijing date of assess_time"),
        _v("assess_month", TEXT, "Beijing month of assess_time, `YYYY-MM`"),
    ),
)

_KPI_GROUP_RULE = (
    "Deleted cases and evaluations are left out of every counter. A case counts on the Beijing day of its "
    "apply_time, an evaluation on the Beijing day of its assess_time (NULL day and month when that time is "
    "missing); an evaluation's channel is the channel of its case (same case_no and source_system, not "
    "deleted), NULL when there is no such case.")

V_KPI_DEPARTMENT_CHANNEL_DAY = View(
    "v_kpi_department_channel_day",
    "KPI counters per department, channel and Beijing day: sum them over any period. " + _KPI_GROUP_RULE,
    (
        _v("source_system", TEXT, "department"),
        _v("channel", INTEGER, "办理形式 of the case (code set `channel`); NULL where unknown"),
        _v("day", DATE, "Beijing date (apply_time of a case, assess_time of an evaluation)"),
        _v("month", TEXT, "Beijing month of `day`, `YYYY-MM`"),
        *(_v(c.name, INTEGER, f"{c.label}: {c.rule}") for c in COUNTERS),
    ),
)

V_KPI_DEPARTMENT_MONTH = View(
    "v_kpi_department_month",
    "KPIs per department and Beijing month, each rate with its numerator and denominator (NULL where the "
    "denominator is 0): the sums of v_kpi_department_channel_day. " + _KPI_GROUP_RULE,
    (
        _v("source_system", TEXT, "department"),
        _v("month", TEXT, "Beijing month, `YYYY-MM`; NULL for rows without their time"),
        *(_v(c.name, INTEGER, f"{c.label}: {c.rule}") for c in COUNTERS),
        *(_v(r.name, RATIO, f"{r.label} = {r.numerator} / {r.denominator}") for r in RATES),
    ),
)

V_APPLICANT_DEPARTMENTS = View(
    "v_applicant_departments",
    "One row per applicant (applicant_key) and department that holds cases of that applicant (deleted cases "
    "left out): one person's or company's cases across the silos.",
    (
        _v("applicant_key", TEXT, "the applicant's pseudonym (the same in every department)"),
        _v("source_system", TEXT, "a department holding cases of the applicant"),
        _v("cases", INTEGER, "the applicant's cases in that department"),
        _v("first_seen", INSTANT, "earliest apply_time of those cases (source_updated_at where a case has none)"),
        _v("last_seen", INSTANT, "latest apply_time of those cases (source_updated_at where a case has none)"),
        _v("departments", INTEGER, "how many departments hold cases of the applicant"),
        _v("total_cases", INTEGER, "the applicant's cases in all departments"),
    ),
)

V_BUNDLE = View(
    "v_bundle",
    "一件事一次办: one row per bundle_id with its cases across departments (deleted cases left out).",
    (
        _v("bundle_id", TEXT, "the bundle instance"),
        _v("cases", INTEGER, "cases in the bundle"),
        _v("departments", INTEGER, "departments the cases belong to"),
        _v("completed_cases", INTEGER, "cases with status completed"),
        _v("is_complete", BOOLEAN, "every case of the bundle is completed"),
        _v("first_apply_time", INSTANT, "earliest apply_time of its cases"),
        _v("last_finish_time", INSTANT, "latest finish_time of its cases"),
        _v("elapsed_seconds", INTEGER, "for a complete bundle, seconds from first_apply_time to last_finish_time "
                                       "(rounded); NULL until it is complete"),
    ),
)

# In dependency order: a view only reads views before it.
VIEWS = (V_SERVICE_CASE, V_SERVICE_EVALUATION, V_KPI_DEPARTMENT_CHANNEL_DAY, V_KPI_DEPARTMENT_MONTH,
         V_APPLICANT_DEPARTMENTS, V_BUNDLE)

_READ_TYPES = {
    TEXT: sa.Text, INTEGER: sa.Integer, BOOLEAN: sa.Boolean, INSTANT: Instant, MONEY: Money, BLOB: sa.LargeBinary,
    DATE: sa.Date, LOCAL_TIME: sa.DateTime, RATIO: sa.Float,
}

# SQLAlchemy tables to read the views with typed results (not part of the migrations' metadata).
view_metadata = sa.MetaData()
view_tables: dict[str, sa.Table] = {
    v.name: sa.Table(v.name, view_metadata, *(sa.Column(c.name, _READ_TYPES[c.type]()) for c in v.columns))
    for v in VIEWS
}
