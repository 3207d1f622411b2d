"""Expectation suites derived from `schemas/`, checked on each unified batch.

The suites are Great Expectations (GX 1.x) expectations, written as plain data
(`Expectation`: GX's type name and kwargs): `quality.gx_suite` makes the GX
objects for Data Docs, and `quality.arrow_checks` computes each one's figures
with Arrow on the batch, as GX's pandas engine computes them, so that a run
never imports GX (seconds per process) nor copies a batch into pandas.

The suites are not written column by column: `expectations_for(table)` walks
a `schemas.tables.Table` and derives

- every key column and every NOT NULL column: not null (error);
- the key: unique within the batch (warning: a key repeated within a batch is
  a legitimate repeated delivery, resolved by precedence and counted as a
  duplicate in the ledger);
- every `code_set` column: its values in `schemas.codes.CODE_SETS[...]`
  (integers for integer columns, text for text columns) (error);
- every `pii="pseudonym"` column: lower-case hex HMAC-SHA256 (error);
- every `pii="masked"` column: no clear ID number (15/18 digits) and no clear
  mobile number, by the contract's free-text patterns (error);

and, from the small rule tables below (by column name; a rule applies to any
unified table that has its columns): identifier formats (实施编码,
受理部门 USCC, region code), time order, "accepted ⇒ accept time",
"completed ⇒ finish time", "default evaluation ⇒ no channel", the score
range, and the rules that need facts from the store (`store_facts`): an
evaluation's case present in the store (or staged in the same run), the
evaluation not before the case's accept time, and freshness.

Every expectation carries a severity (in GX: `meta["severity"]` and GX's own `severity`):
`error` for what the contract says never reaches the store (a pipeline defect
if it fails) and for data that contradicts itself (time order); `warning` for
findings the contract loads anyway (a malformed 实施编码, an accepted case
without accept time, an evaluation whose case has not arrived yet, a stale
source, a key repeated within a batch). Nothing here stops a run: results go
to `dq_result` (see `pipeline.staging`) and to GX Data Docs (`quality.data_docs`).

Beside the suites, the data-quality findings that only the transform can see
(schemas.findings: an unknown certificate type, a malformed phone, an
evaluator number without a key) arrive as counts per batch and are kept as
warning rows named `finding:<reason>` (`finding_results`); Data Docs show
them in a GX type's form (`gx_form`).

Personal data: the validated rows are unified rows (pseudonymized and masked),
and observed values keep no value of a `pii` column or of a derived column
built from one: counts only.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from quality.arrow_checks import Figures, figures
from schemas.arrow import LOADER_COLUMNS
from schemas.codes import CODE_SETS, PERSONAL_CERT_TYPES
from schemas.findings import FINDINGS
from schemas.sql import Instant, key_in_list, key_list, sql_tables
from schemas.tables import INTEGER, STREAM_TABLES, Table

log = logging.getLogger("silobridge")

ERROR, WARNING = "error", "warning"

# -- rules the table declaration cannot carry, by column name ------------------

PSEUDONYM_REGEX = r"^[0-9a-f]{64}$"
# The contract's free-text patterns (unified-store.md, PII): a masked column matches neither.
CLEAR_ID_REGEX = r"(?<!\d)(\d{17}[\dXx]|\d{15})(?!\d)"
CLEAR_MOBILE_REGEX = r"(?<!\d)(\+?86[- ]?)?1[3-9]\d{9}(?!\d)"
CLEAR_NUMBER_REGEX = f"{CLEAR_ID_REGEX}|{CLEAR_MOBILE_REGEX}"  # one pass over the column instead of two
_USCC = "[0-9A-HJ-NP-RTUW-Y]"  # the GB 32100 alphabet: no I, O, S, V, Z

# column → (regex, severity, description); loaded anyway when they fail, so warnings.
FORMATS: dict[str, tuple[str, str, str]] = {
    "impl_code": (rf"^{_USCC}{{18}}[1-7][0-9A-Z]{{12}}$", WARNING,
                  "实施编码: 31 characters = 实施主体 USCC (18) + 行使层级 1–7 + 基本编码 (12)"),
    "accept_org_code": (rf"^{_USCC}{{18}}$", WARNING, "受理部门 统一社会信用代码: 18 characters of the GB 32100 alphabet"),
    "region_code": (r"^\d{6}$", WARNING, "region code: 6 digits of GB/T 2260"),
}

# Conditional rules. A condition is a derived column computed before validation (`derived_columns`),
# not a GX row condition: the suites stay plain column checks, which Data Docs render as they are.
#
# (derived column, column, condition column, condition values, severity, description):
# where the condition holds the column is present; derived = True/False there, NULL elsewhere.
ACCEPTED_STATUSES = ("accepted", "in_progress", "suspended", "completed")
REQUIRED_WHEN = (
    ("_accept_time_present_when_accepted", "accept_time", "status", ACCEPTED_STATUSES, WARNING,
     "a case that was accepted (status accepted, in_progress, suspended or completed) has an accept time"),
    ("_finish_time_present_when_completed", "finish_time", "status", ("completed",), WARNING,
     "a completed case has a finish time"),
)
# Where the condition holds the column is NULL; derived = True/False there, NULL elsewhere.
NULL_WHEN = (
    ("_channel_null_when_default", "channel", "is_default", (True,), ERROR,
     "a default evaluation (默认评价) has no channel"),
)
# A masked column checked only where its value is personal (a USCC stays in clear):
# column → (derived column = the value where the condition holds, condition column, values).
MASKED_WHEN = {
    "applicant_cert_masked": ("_applicant_cert_masked_personal", "applicant_cert_type",
                              tuple(sorted(PERSONAL_CERT_TYPES))),
}

# (earlier, later): later ≥ earlier where both are present. A date alone is 00:00 Beijing
# (hrss 办结日期 has no time), so a later instant at exactly 00:00 Beijing stands for its whole
# day: the check compares `_<later>_latest`, the last instant the value may stand for.
TIME_ORDER = (("apply_time", "accept_time"), ("accept_time", "finish_time"), ("apply_time", "finish_time"))
_BEIJING_OFFSET_US = 8 * 3600 * 10**6
_DAY_US = 86_400 * 10**6

RANGES: dict[str, tuple[int, int]] = {"score": (1, 5)}

# Freshness: the newest record of a run at most this many days old when it is validated.
# Every source delivers at least daily (hrss files and police batches of the previous
# day, the APIs and medins continuously), so a run whose newest record is older than two
# days means a source that stopped sending current data, or a backfill: a warning.
FRESHNESS_DAYS: dict[str, float] = {"cases": 2.0, "evaluations": 2.0}

# Facts from the store (store_facts), for a table whose rows refer to a case (evaluations).
CASE_NOT_IN_STORE = "_case_no_not_in_store"  # the row's case_no where that case is neither stored nor staged
CASE_ACCEPT_TIME = "_case_accept_time"
EVENTS_AFTER_ACCEPT = ("assess_time",)  # an evaluation is given after its case was accepted
SOURCE_AGE_DAYS = "_source_age_days"

_SAMPLES = 5


# -- the suite -------------------------------------------------------------------


@dataclass(frozen=True)
class Expectation:
    """One expectation of a suite, as GX names and configures it: `type` is GX's expectation type, `kwargs` its
    configuration's kwargs. `quality.gx_suite` turns it into the GX object (for Data Docs); `quality.arrow_checks`
    computes its figures on a batch."""

    type: str
    kwargs: dict
    severity: str
    rule: str
    pii: bool = False
    subject: str | None = None  # the stored column a check on a derived column is about (dq_result.column_name)


def expectations_for(table: Table, stream: str | None = None) -> list[Expectation]:
    """The expectations derived from one table declaration (see the module doc), in a stable order."""
    columns = [c for c in table.columns if c.name not in LOADER_COLUMNS]  # set by the loader, not in a batch
    names = {c.name for c in columns}
    pii_columns = {c.name for c in columns if c.pii}
    out: list[Expectation] = []

    def add(kind: str, severity: str, rule: str, *, pii: bool = False, subject: str | None = None, **kwargs):
        out.append(Expectation(kind, kwargs, severity, rule, pii, subject))

    for c in columns:
        if c.key or not c.nullable:
            add("expect_column_values_to_not_be_null", ERROR,
                f"{c.name} is {'part of the key' if c.key else 'NOT NULL'}", column=c.name)
    key = table.key
    if len(key) == 1:
        add("expect_column_values_to_be_unique", WARNING,
            f"key {key[0]} once per batch (repeats resolved by precedence)", column=key[0])
    elif key:
        add("expect_compound_columns_to_be_unique", WARNING,
            f"key ({', '.join(key)}) once per batch (repeats resolved by precedence)", column_list=list(key))
    for c in columns:
        if c.code_set:
            codes = sorted(CODE_SETS[c.code_set])
            value_set = sorted(int(v) for v in codes) if c.type == INTEGER else codes
            add("expect_column_values_to_be_in_set", ERROR, f"{c.name} in code set {c.code_set}",
                column=c.name, value_set=value_set)
        if c.pii == "pseudonym":
            add("expect_column_values_to_match_regex", ERROR, f"{c.name} is a keyed pseudonym (64 lower-case hex)",
                pii=True, column=c.name, regex=PSEUDONYM_REGEX)
        elif c.pii == "masked":
            checked = c.name
            if c.name in MASKED_WHEN and MASKED_WHEN[c.name][1] in names:
                checked = MASKED_WHEN[c.name][0]
            add("expect_column_values_to_not_match_regex", ERROR,
                f"{c.name} holds no clear ID number or mobile number"
                + (" (personal certificates only)" if checked != c.name else ""),
                pii=True, subject=c.name, column=checked, regex=CLEAR_NUMBER_REGEX)
        if c.name in FORMATS:
            regex, severity, rule = FORMATS[c.name]
            add("expect_column_values_to_match_regex", severity, rule, pii=c.name in pii_columns,
                column=c.name, regex=regex)
        if c.name in RANGES:
            lo, hi = RANGES[c.name]
            # floats: GX keeps the bounds as floats, and dq_result.kwargs has always shown them so
            add("expect_column_values_to_be_between", ERROR, f"{c.name} from {lo} to {hi}",
                column=c.name, min_value=float(lo), max_value=float(hi))
    for earlier, later in TIME_ORDER:
        if {earlier, later} <= names:
            add("expect_column_pair_values_a_to_be_greater_than_b", ERROR,
                f"{earlier} ≤ {later} (a date alone: its whole day)", subject=later,
                column_A=latest(later), column_B=earlier, or_equal=True, ignore_row_if="either_value_is_missing")
    for derived, column, on, _, severity, rule in (*REQUIRED_WHEN, *NULL_WHEN):
        if {column, on} <= names:
            add("expect_column_values_to_be_in_set", severity, rule, subject=column, column=derived,
                value_set=[True])
    if _refers_to_case(table):
        add("expect_column_values_to_be_null", WARNING,
            "the evaluated case is in the store or in the same run (a warning: it may still arrive)",
            subject="case_no", column=CASE_NOT_IN_STORE)
        for event in EVENTS_AFTER_ACCEPT:
            if event in names:
                add("expect_column_pair_values_a_to_be_greater_than_b", ERROR,
                    f"{event} not before the case's accept time (a date alone: its whole day)",
                    subject=event, column_A=latest(event), column_B=CASE_ACCEPT_TIME, or_equal=True,
                    ignore_row_if="either_value_is_missing")
    if "source_updated_at" in names:
        days = FRESHNESS_DAYS.get(stream or "", 2.0)
        add("expect_column_min_to_be_between", WARNING,
            f"freshness: the newest source_updated_at at most {days:g} days old", subject="source_updated_at",
            column=SOURCE_AGE_DAYS, max_value=float(days))
    return out


def latest(column: str) -> str:
    """The derived column holding the last instant a time column's value may stand for."""
    return f"_{column}_latest"


def _refers_to_case(table: Table) -> bool:
    return "case_no" in table.names and "case_no" not in table.key


def referenced_columns(expectation: Expectation) -> list[str]:
    kw = expectation.kwargs
    return [kw[k] for k in ("column", "column_A", "column_B") if kw.get(k)] + list(kw.get("column_list") or [])


@lru_cache(maxsize=None)
def suite_for(stream: str) -> tuple[Expectation, ...]:
    """The stream's suite, derived once per process."""
    return tuple(expectations_for(STREAM_TABLES[stream], stream))


# -- derived columns: conditions, and facts from the store ------------------------


def derived_columns(table: pa.Table, stream: str, now: datetime | None = None) -> dict[str, pa.Array]:
    """The derived columns that need no store: conditions (REQUIRED_WHEN, NULL_WHEN, MASKED_WHEN),
    the last instant of each later time (TIME_ORDER) and each record's age in days (freshness)."""
    now = now or datetime.now(timezone.utc)
    names = set(table.column_names)
    out: dict[str, pa.Array] = {}
    for rules, met_when in ((REQUIRED_WHEN, pc.is_valid), (NULL_WHEN, pc.is_null)):
        for derived, column, on, values, _, _ in rules:
            if {column, on} <= names:
                holds = pc.is_in(table.column(on), value_set=pa.array(values, table.schema.field(on).type))
                out[derived] = pc.if_else(holds, met_when(table.column(column)), pa.scalar(None, pa.bool_()))
    for column, (derived, on, values) in MASKED_WHEN.items():
        if {column, on} <= names:
            holds = pc.is_in(table.column(on), value_set=pa.array(values, table.schema.field(on).type))
            out[derived] = pc.if_else(holds, table.column(column), pa.scalar(None, table.schema.field(column).type))
    later = {b for _, b in TIME_ORDER} | set(EVENTS_AFTER_ACCEPT)
    for column in sorted(later & names):
        out[latest(column)] = _latest_instant(table.column(column))
    if "source_updated_at" in names:
        updated = table.column("source_updated_at").cast(pa.timestamp("us", tz="UTC"))
        age_us = pc.subtract(pa.scalar(now, pa.timestamp("us", tz="UTC")), updated)
        out[SOURCE_AGE_DAYS] = pc.divide(age_us.cast(pa.int64()).cast(pa.float64()), 86_400e6)
    return out


def _latest_instant(column: pa.ChunkedArray) -> pa.Array:
    """A value at exactly 00:00 Beijing (a date alone) becomes the last microsecond of its day."""
    utc = pa.timestamp("us", tz="UTC")
    us = pc.fill_null(column.cast(utc).cast(pa.int64()), 1).to_numpy()
    date_only = (us + _BEIJING_OFFSET_US) % _DAY_US == 0
    shifted = us + np.where(date_only, _DAY_US - 1, 0)
    return pa.array(shifted, pa.int64(), mask=pc.is_null(column).to_numpy(zero_copy_only=False)).cast(utc)


def store_facts(conn: sa.Connection | None, source: str, stream: str, table: pa.Table, *,
                staged_cases: str | None = None, now: datetime | None = None) -> pa.Table:
    """Every derived column the stream's suite expects besides the batch's own, one row per batch row.

    Besides `derived_columns`, for a stream whose rows refer to a case
    (evaluations), queried in chunks: `_case_no_not_in_store` (the row's case_no
    where that case is neither in `service_case` nor staged in this run's
    `staged_cases` table, which commits with it) and `_case_accept_time` (the
    latest staged delivery's accept time, else the stored one). Without `conn`
    those two are NULL: not checked. `source` is the run's source (for logs).
    """
    columns = derived_columns(table, stream, now)
    if _refers_to_case(STREAM_TABLES[stream]):
        case_nos = table.column("case_no").to_pylist()
        found: dict[str, datetime | None] = {}
        if conn is not None:
            found = _case_accept_times(conn, [c for c in set(case_nos) if c], staged_cases)
        missing = [c if (conn is not None and c and c not in found) else None for c in case_nos]
        columns[CASE_NOT_IN_STORE] = pa.array(missing, pa.string())
        columns[CASE_ACCEPT_TIME] = pa.array([found.get(c) if c else None for c in case_nos],
                                             pa.timestamp("us", tz="UTC"))
    return pa.table(columns) if columns else pa.table({"_": pa.nulls(table.num_rows)})


def _case_accept_times(conn: sa.Connection, case_nos: list[str], staged_cases: str | None) -> dict:
    """case_no → accept time (or None) of each case stored or staged; a case that is neither is absent."""
    sqlite = conn.dialect.name == "sqlite"
    keys = {"keys": key_list(case_nos)}
    stored = sa.text(f"SELECT case_no, accept_time FROM service_case WHERE {key_in_list(sqlite, 'case_no')}"
                     ).columns(sa.column("case_no", sa.String()), sa.column("accept_time", Instant()))
    found: dict[str, datetime | None] = dict(conn.execute(stored, keys).all())
    if staged_cases:
        # Later deliveries last: the greatest _seq wins (a staged delivery is newer than the stored row).
        staged = sa.text(f"SELECT case_no, accept_time FROM {staged_cases} WHERE {key_in_list(sqlite, 'case_no')} "
                         "ORDER BY _seq")
        found.update((case_no, _instant(accept)) for case_no, accept in conn.execute(staged, keys))
    return found


def _instant(value) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)  # the SQLite staging table keeps instants as fixed-width UTC text


# -- validation -------------------------------------------------------------------


def describe(expectation: Expectation) -> tuple:
    """(type, column_name, kwargs JSON, severity, pii) of an expectation, as `dq_result` keeps them."""
    kwargs = {k: v for k, v in expectation.kwargs.items() if v is not None}
    column = (expectation.subject or kwargs.get("column") or kwargs.get("column_A")
              or (kwargs.get("column_list") or [None])[0])
    return (expectation.type, column, json.dumps(kwargs, ensure_ascii=False, sort_keys=True, default=str),
            expectation.severity, expectation.pii)


def validate_batch(table: pa.Table, stream: str, facts: pa.Table | None = None) -> list[dict]:
    """Validate one unified batch; one dict per expectation of the stream's suite, in the shape of `dq_result`.

    Keys: expectation, column_name, kwargs (JSON), severity, observed_value (text),
    element_count (rows checked: a NULL is not checked except by a (not-)null
    expectation), unexpected_count, success; and, for `aggregate`, `samples`
    (up to 5 distinct unexpected values; none for personal data or booleans)
    and `observed` (the number a min/max expectation observed).
    `facts`: from `store_facts`; without it, the store-dependent checks are skipped.
    The figures are computed with Arrow (`quality.arrow_checks`), as GX would compute them.
    """
    if facts is None:
        facts = store_facts(None, "", stream, table)
    columns = {name: facts.column(name) for name in facts.column_names}
    columns.update({name: table.column(name) for name in table.column_names})
    return [_result_row(figures(e.type, e.kwargs, columns), *describe(e)) for e in suite_for(stream)]


def _result_row(f: Figures, kind, column, kwargs, severity, pii) -> dict:
    row = {"expectation": kind, "column_name": column, "kwargs": kwargs, "severity": severity,
           "observed_value": None, "element_count": f.element_count, "unexpected_count": f.unexpected_count,
           "success": f.success, "samples": [], "observed": f.observed}
    if not pii and f.unexpected_count:
        samples: list[str] = []
        for value in f.unexpected or []:
            text = _short(value)
            if text not in samples and not isinstance(value, bool):
                samples.append(text)
            if len(samples) == _SAMPLES:
                break
        row["samples"] = samples
    row["observed_value"] = _observed_text(row)
    return row


def _short(value) -> str:
    if isinstance(value, (list, tuple)):
        return "(" + ", ".join(_short(v) for v in value) + ")"
    if value is None or value != value:  # None, NaN, NaT
        return "null"
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)[:80]


def _observed_text(row: dict) -> str:
    if row["unexpected_count"] is None:
        if row["observed"] is None:
            return "no rows"
        return f"{row['observed']:.2f} days" if SOURCE_AGE_DAYS in row["kwargs"] else f"{row['observed']:g}"
    n, bad = row["element_count"], row["unexpected_count"]
    text = f"{bad} of {n} unexpected" + (f" ({100 * bad / n:.2f}%)" if n else "")
    if row["samples"]:
        text += "; e.g. " + ", ".join(row["samples"])
    return text


_AGGREGATE_OBSERVED = {"expect_column_min_to_be_between": min, "expect_column_max_to_be_between": max}


def aggregate(results_per_batch: list[list[dict]]) -> list[dict]:
    """One row per expectation over a run's batches: counts summed, success = every batch met it.

    A min/max expectation (freshness) is judged again on the run's min/max:
    the newest record of the run decides, not the oldest file in it.
    """
    merged: dict[tuple, dict] = {}
    for results in results_per_batch:
        for r in results:
            key = (r["expectation"], r["column_name"], r["kwargs"])
            m = merged.get(key)
            if m is None:
                merged[key] = {**r, "samples": list(r["samples"])}
                continue
            for count in ("element_count", "unexpected_count"):
                if r[count] is not None:
                    m[count] = (m[count] or 0) + r[count]
            m["success"] = m["success"] and r["success"]
            m["samples"] = (m["samples"] + [s for s in r["samples"] if s not in m["samples"]])[:_SAMPLES]
            pick = _AGGREGATE_OBSERVED.get(r["expectation"])
            if pick and r["observed"] is not None:
                m["observed"] = r["observed"] if m["observed"] is None else pick(m["observed"], r["observed"])
    out = []
    for m in merged.values():
        if m["expectation"] in _AGGREGATE_OBSERVED and m["observed"] is not None:
            bounds = json.loads(m["kwargs"])
            lo, hi = bounds.get("min_value"), bounds.get("max_value")
            m["success"] = (lo is None or m["observed"] >= lo) and (hi is None or m["observed"] <= hi)
        m["observed_value"] = _observed_text(m)
        out.append(m)
    return out


# -- data-quality findings counted while unifying (schemas.findings) ------------------

# A finding's dq_result row is named `finding:<reason>`: it was counted by the transform, not evaluated by GX.
FINDING_PREFIX = "finding:"


def finding_results(findings: dict[tuple[str, str], int], rows: int) -> list[dict]:
    """One batch's finding counts as warning rows in the shape of `validate_batch`'s, for `aggregate`.

    `findings`: (reason, unified column) → records of the batch loaded with it; `rows`: records loaded.
    """
    out = []
    for (reason, column), n in sorted(findings.items()):
        row = {"expectation": FINDING_PREFIX + reason, "column_name": column,
               "kwargs": json.dumps({"column": column}, sort_keys=True), "severity": WARNING,
               "element_count": rows, "unexpected_count": n, "success": n == 0, "samples": [], "observed": None}
        row["observed_value"] = _observed_text(row)
        out.append(row)
    return out


def findings_found(results: list[dict]) -> dict[str, dict[str, int]]:
    """reason → unified column → records with that finding, of the findings that occurred (for ledger notes)."""
    out: dict[str, dict[str, int]] = {}
    for r in results:
        if r["expectation"].startswith(FINDING_PREFIX) and r["unexpected_count"]:
            out.setdefault(r["expectation"].removeprefix(FINDING_PREFIX), {})[r["column_name"]] = r["unexpected_count"]
    return out


def gx_form(row: dict) -> tuple[str, str, str | None]:
    """(GX expectation type, kwargs JSON, description or None) under which Data Docs shows a dq_result row.

    GX renders only expectation types it knows: a finding is shown as `expect_column_values_to_be_null`
    over its column's records that had it, with the finding's description.
    """
    if row["expectation"].startswith(FINDING_PREFIX):
        finding = FINDINGS.get(row["expectation"].removeprefix(FINDING_PREFIX))
        return ("expect_column_values_to_be_null", row["kwargs"],
                f"finding {row['expectation'].removeprefix(FINDING_PREFIX)}: " + (finding.doc if finding else ""))
    return row["expectation"], row["kwargs"], None


DQ_COLUMNS = ("expectation", "column_name", "kwargs", "severity", "observed_value", "element_count",
              "unexpected_count", "success")


def write_results(conn: sa.Connection, run_id: str, source: str, stream: str, results: list[dict],
                  evaluated_at: datetime) -> None:
    """A run's aggregated results for one stream into `dq_result`, in the caller's transaction."""
    if not results:
        return
    conn.execute(sql_tables["dq_result"].insert(), [
        {"run_id": run_id, "source": source, "stream": stream, "evaluated_at": evaluated_at,
         **{c: r[c] for c in DQ_COLUMNS}}
        for r in results
    ])
    for r in results:
        if not r["success"]:
            # At WARNING whatever the severity: the run goes on, and the operator should see it.
            log.warning("%s %s: data quality %s: %s on %s: %s", source, stream, r["severity"], r["expectation"],
                        r["column_name"], r["observed_value"])
