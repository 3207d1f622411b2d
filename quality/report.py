"""The auditors' report: one self-contained HTML file computed from the store.

`write_report(engine, path, first, last)` writes the bureau's headline figures
by department, channel and month (办件量, 网办率, 主动评价率, 好评率, 满意率,
差评 and their follow-up, 按时办结率, each evaluation figure also without
默认评价), the reconciliation of counts, the expectation results and their
trend, and the quarantine reasons with masked examples. The formulas are
written in the report itself (`DEFINITIONS`).

The headline figures are read from the store's KPI view
`v_kpi_department_channel_day` (schemas/views.py declares its counters and
rates, loaders/views.py creates it): the report and downstream SQL count with
one definition. Rates over fewer than `SMALL_DENOMINATOR` are greyed and left
out of the line charts.

The file needs nothing but itself to open: CSS and SVG charts are inline,
there is no script, no font, no image and no URL, and a Content-Security-
Policy forbids the browser to fetch anything.

Every figure cell carries a stable `data-figure` id, `<group>.<figure>`:
group `all`, a department (`hrss`), `channel-<code>` / `channel-none`,
`month-<YYYY-MM>` / `month-none`; see `FIGURES` for the figure names. The
reconciliation, expectation and quarantine cells have ids of their own
(`recon.…`, `dq.…`, `dq-day.…`, `quarantine.…`).

Counting is done by SQL on the store (SQLAlchemy Core). The only
dialect-specific part left here is the Beijing (UTC+8, no daylight saving)
day of an instant for the expectation trend (`_beijing`).
"""

from __future__ import annotations

import html
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path

import sqlalchemy as sa

from quality.reconcile import COUNTS as RECON_COUNTS
from quality.reconcile import declared_text, reconcile
from schemas.codes import CODE_SETS, SOURCE_SYSTEMS
from schemas.sql import sql_tables
from schemas.views import COUNTER, COUNTERS, RATE, SMALL_DENOMINATOR, WORKING_DAYS_RULE, view_tables

BEIJING = timezone(timedelta(hours=8))
DEPARTMENTS = {code: zh for code, (zh, _) in SOURCE_SYSTEMS.items()}
CHANNELS = {int(code): name.split(" (")[0] for code, name in CODE_SETS["channel"].items()}
EXAMPLES_PER_REASON = 3


@dataclass(frozen=True)
class Figure:
    name: str  # the id's second part: data-figure="<group>.<name>"
    kpi: str  # a counter or a rate of schemas/views.py

    @property
    def label(self) -> str:
        return (RATE[self.kpi] if self.kpi in RATE else COUNTER[self.kpi]).label

    @property
    def numerator(self) -> str:
        return RATE[self.kpi].numerator if self.kpi in RATE else self.kpi

    @property
    def denominator(self) -> str | None:
        return RATE[self.kpi].denominator if self.kpi in RATE else None


FIGURES = (
    Figure("cases", "cases"),
    Figure("online_share", "online_rate"),
    Figure("finished", "finished_cases"),
    Figure("zhudong_rate", "active_evaluation_rate"),
    Figure("evaluations", "evaluations"),
    Figure("default_evaluations", "default_evaluations"),
    Figure("haoping_rate", "good_rate"),
    Figure("haoping_rate_no_default", "good_rate_no_default"),
    Figure("manyi_rate", "satisfied_rate"),
    Figure("manyi_rate_no_default", "satisfied_rate_no_default"),
    Figure("chaping", "bad_evaluations"),
    Figure("chaping_no_default", "bad_evaluations_no_default"),
    Figure("followup_rate", "followup_rate"),
    Figure("followup_rate_no_default", "followup_rate_no_default"),
    Figure("ontime_rate", "ontime_rate"),
)


def _rule(kpi: str) -> str:
    if kpi in RATE:
        r = RATE[kpi]
        return f"{COUNTER[r.numerator].rule} ÷ {COUNTER[r.denominator].rule}."
    return f"count of {COUNTER[kpi].rule}."


# The definitions as the report states them (term, rule); the formulas are those of schemas/views.py.
DEFINITIONS = (
    ("Source 来源",
     "The headline figures are sums of the store's view v_kpi_department_channel_day (per department, channel "
     "and Beijing day); v_kpi_department_month holds the same per month for downstream use. Both, and these "
     "definitions, come from one declaration (schemas/views.py, documented in docs/data-dictionary.md)."),
    ("Scope 范围",
     "Rows marked deleted (service_case.deleted or service_evaluation.deleted = true) are left out of every "
     "figure, as numerator, denominator and matching evaluation alike. With --from/--to (Beijing dates, both "
     "inclusive) a case counts when its apply_time (申报时间) lies in [from 00:00, to + 1 day 00:00) Beijing "
     "time (UTC+8), an evaluation when its assess_time (评价时间) does; without a range every row counts, and a "
     "row without that time is shown under the month “unknown”."),
    ("Groups 分组",
     "Department = source_system. A case's channel is service_case.channel (办理形式) and its month the Beijing "
     "month of apply_time. An evaluation's month is the Beijing month of its assess_time; its channel is the "
     "channel of its case — the service_case row with the same case_no and source_system that is not deleted "
     "— or “unknown” when there is no such case or it has no channel. Case figures below follow the case, "
     "evaluation figures the evaluation."),
    *((f.label, _rule(f.kpi)) for f in FIGURES),
    ("On-time working days", f"{WORKING_DAYS_RULE[0].upper()}{WORKING_DAYS_RULE[1:]}; public holidays and 调休 "
                             "working weekends count only where calendar_day is changed to flag them."),
    ("Rates", "shown as a percentage with one decimal, numerator / denominator beside it; “—” where the "
              f"denominator is 0. A rate over fewer than {SMALL_DENOMINATOR} (n, the denominator) is greyed "
              "and not drawn in the line charts: too few to compare."),
    ("Expectations",
     "success rate = expectations met ÷ expectations evaluated over at least one row; a check that saw no rows "
     "(a rule whose condition no row met, an empty batch) proves nothing and is left out, and a line whose "
     "checks all saw no rows says “no rows”."),
    ("Reconciliation, expectations, quarantine",
     "the same range applies to etl_run.started_at, dq_result.evaluated_at and etl_reject.created_at "
     "(Beijing dates)."),
)

SERIES_COLOURS = ("#2f6db5", "#e07b39", "#3a9d5d", "#c23b4e", "#8a5cc2", "#7a6a4f", "#4fa3a5")


@dataclass
class Tally:
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys((c.name for c in COUNTERS), 0))

    def add(self, other: dict) -> None:
        for k, v in other.items():
            self.counts[k] += int(v or 0)


def write_report(engine: sa.Engine, path, first: date | None = None, last: date | None = None) -> Path:
    """Writes the auditors' report for [first, last] (Beijing dates, inclusive; open where None) to `path`."""
    if first and last and first > last:
        raise ValueError(f"report range: --from {first} is after --to {last}")
    lo = datetime.combine(first, time(), BEIJING) if first else None
    hi = datetime.combine(last + timedelta(days=1), time(), BEIJING) if last else None
    dialect = engine.dialect.name
    with engine.connect() as conn:
        cube = _headline_cube(conn, first, last)
        dq_rows = _dq_by_expectation(conn, lo, hi)
        dq_days = _dq_by_day(conn, dialect, lo, hi)
        reasons, examples = _quarantine(conn, lo, hi)
    recon = reconcile(engine, None, first, last)
    page = _page(engine, first, last, cube, recon, dq_rows, dq_days, reasons, examples)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path


# --- SQL -------------------------------------------------------------------------------------------------


def _beijing(column, dialect: str, unit: str):
    """The Beijing (UTC+8) month `YYYY-MM` or day `YYYY-MM-DD` of an instant column, as text; NULL stays NULL."""
    if dialect == "sqlite":  # UTC text 'YYYY-MM-DD HH:MM:SS.ffffff+00:00'
        fmt = {"month": "%Y-%m", "day": "%Y-%m-%d"}[unit]
        return sa.func.strftime(fmt, sa.func.substr(column, 1, 19), "+8 hours", type_=sa.String)
    if dialect == "postgresql":  # timestamptz; an interval zone is east-positive (a text '+08:00' would be POSIX, west)
        fmt = {"month": "YYYY-MM", "day": "YYYY-MM-DD"}[unit]
        local = sa.func.timezone(sa.literal_column("INTERVAL '+08:00'"), column)
        return sa.func.to_char(local, fmt, type_=sa.String)
    raise ValueError(f"the report knows SQLite and PostgreSQL stores, not {dialect}")


def _flag(condition):
    return sa.case((condition, 1), else_=0)


def _in_range(query, column, lo, hi):
    if lo is not None:
        query = query.where(column >= lo)
    if hi is not None:
        query = query.where(column < hi)
    return query


def _headline_cube(conn, first: date | None, last: date | None) -> dict[tuple, Tally]:
    """Counters per (source, channel, month), summed from the KPI view over the Beijing days [first, last]."""
    kpi = view_tables["v_kpi_department_channel_day"]
    keys = (kpi.c.source_system, kpi.c.channel, kpi.c.month)
    query = sa.select(*keys, *(sa.func.sum(kpi.c[c.name]).label(c.name) for c in COUNTERS)).group_by(*keys)
    if first is not None:
        query = query.where(kpi.c.day >= first)
    if last is not None:
        query = query.where(kpi.c.day <= last)
    cube: dict[tuple, Tally] = defaultdict(Tally)
    for row in conn.execute(query).mappings():
        cube[(row["source_system"], row["channel"], row["month"])].add({c.name: row[c.name] for c in COUNTERS})
    return cube


def _dq_counts(dq) -> tuple:
    """checks = expectations evaluated over at least one row, passed = those met; a check that saw no rows
    (element_count 0, or an aggregate that observed nothing) proves nothing and counts in neither."""
    no_rows = sa.or_(dq.c.element_count == 0, sa.and_(dq.c.element_count.is_(None), dq.c.observed_value == "no rows"))
    saw = sa.case((no_rows, 0), else_=1)
    passed = sa.case((no_rows, 0), (dq.c.success, 1), else_=0)
    return sa.func.sum(saw).label("checks"), sa.func.sum(passed).label("passed")


def _dq_by_expectation(conn, lo, hi) -> list[dict]:
    dq = sql_tables["dq_result"]
    keys = (dq.c.source, dq.c.stream, dq.c.expectation, dq.c.column_name, dq.c.severity)
    query = _in_range(sa.select(
        *keys, *_dq_counts(dq),
        sa.func.sum(dq.c.element_count).label("elements"), sa.func.sum(dq.c.unexpected_count).label("unexpected"),
        sa.func.max(dq.c.evaluated_at).label("last_evaluated"),
    ), dq.c.evaluated_at, lo, hi).group_by(*keys).order_by(*keys)
    return [dict(r._mapping) for r in conn.execute(query)]


def _dq_by_day(conn, dialect: str, lo, hi) -> list[dict]:
    dq = sql_tables["dq_result"]
    day = _beijing(dq.c.evaluated_at, dialect, "day").label("day")
    query = _in_range(sa.select(day, dq.c.source, *_dq_counts(dq),
                                sa.func.sum(dq.c.unexpected_count).label("unexpected")),
                      dq.c.evaluated_at, lo, hi).group_by(day, dq.c.source).order_by(day, dq.c.source)
    return [dict(r._mapping) for r in conn.execute(query)]


def _quarantine(conn, lo, hi) -> tuple[list[dict], dict[tuple, list[str]]]:
    reject = sql_tables["etl_reject"]
    keys = (reject.c.source, reject.c.reason)
    reasons = conn.execute(_in_range(sa.select(
        *keys, sa.func.count().label("count"),
        sa.func.sum(_flag(reject.c.replayed_at.is_not(None))).label("replayed"),
        sa.func.min(reject.c.stream).label("stream_min"), sa.func.max(reject.c.stream).label("stream_max"),
    ), reject.c.created_at, lo, hi).group_by(*keys).order_by(reject.c.source, sa.func.count().desc(),
                                                              reject.c.reason)).mappings().all()
    ranked = _in_range(sa.select(
        *keys, reject.c.detail,
        sa.func.row_number().over(partition_by=keys, order_by=reject.c.reject_id.desc()).label("n"),
    ), reject.c.created_at, lo, hi).subquery()
    examples: dict[tuple, list[str]] = defaultdict(list)
    for r in conn.execute(sa.select(ranked).where(ranked.c.n <= EXAMPLES_PER_REASON)
                          .order_by(ranked.c.source, ranked.c.reason, ranked.c.n)):
        examples[(r.source, r.reason)].append(mask_free_text(r.detail))
    return [dict(r) for r in reasons], examples


# --- defensive masking -----------------------------------------------------------------------------------

# The contract's free-text patterns (unified-store.md, PII). The stored details are masked already; this is a
# second line, kept here because quality/ imports only schemas/ (transforms.pii is the first line). Full-width
# digits are folded first, and a mobile may be spaced or dashed 3-4-4.
_FOLD = str.maketrans({**{chr(0xFF10 + i): str(i) for i in range(10)}, "Ｘ": "X", "ｘ": "x"})
_ID_NUMBER = re.compile(r"(?<!\d)(\d{17}[\dXx]|\d{15})(?!\d)")
_MOBILE = re.compile(r"(?<!\d)(\+?86[- ]?)?(1[3-9]\d)([- ]?)(\d{4})([- ]?)(\d{4})(?!\d)")


def mask_free_text(text: str | None) -> str | None:
    if not text:
        return text
    text = _ID_NUMBER.sub(lambda m: m[1][:6] + "*" * (len(m[1]) - 10) + m[1][-4:], text.translate(_FOLD))
    return _MOBILE.sub(lambda m: f"{m[1] or ''}{m[2]}{m[3]}****{m[5]}{m[6]}", text)


# --- HTML ------------------------------------------------------------------------------------------------

CSS = """
:root { --ink: #1d2733; --muted: #5d6b7a; --line: #d7dee6; --band: #f3f6f9; --accent: #2f6db5; --bad: #b3261e; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1360px; padding: 24px 32px 64px; color: var(--ink); background: #fff;
       font: 14px/1.5 "Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei",
       "WenQuanYi Zen Hei", system-ui, sans-serif; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 36px 0 8px; padding-bottom: 4px; border-bottom: 2px solid var(--accent); }
h3 { font-size: 15px; margin: 20px 0 6px; }
.meta { color: var(--muted); margin: 0; }
nav { margin: 12px 0 0; display: flex; gap: 16px; flex-wrap: wrap; }
nav a { color: var(--accent); text-decoration: none; }
dl.defs { display: grid; grid-template-columns: 220px 1fr; gap: 4px 16px; margin: 0; }
dl.defs dt { font-weight: 600; }
dl.defs dd { margin: 0; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; margin: 6px 0 12px; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid var(--line); padding: 4px 8px; vertical-align: top; }
thead th { background: var(--band); text-align: center; white-space: nowrap; }
tbody th { text-align: left; font-weight: 500; white-space: nowrap; }
td.n { text-align: right; white-space: nowrap; }
td.rate { text-align: right; white-space: nowrap; }
td.rate .pct { font-weight: 600; }
td.rate .nd { display: block; color: var(--muted); font-size: 12px; }
td.rate.small, td.rate.small .pct { color: #9aa5b1; font-weight: 400; }
td.fail { color: var(--bad); font-weight: 600; }
td.text { max-width: 760px; overflow-wrap: anywhere; }
table.dq thead th { white-space: normal; }
table.dq th.name { white-space: normal; max-width: 300px; }
td.norows { color: var(--muted); font-style: italic; text-align: right; }
.examples { margin: 0; padding-left: 18px; color: var(--muted); }
.ok { color: #2b7a3d; font-weight: 600; }
.warn { color: var(--bad); font-weight: 600; }
.charts { display: flex; flex-wrap: wrap; gap: 12px 24px; }
figure { margin: 8px 0; }
figcaption { font-weight: 600; margin-bottom: 2px; }
svg text { font-family: inherit; fill: var(--ink); }
.empty { color: var(--muted); font-style: italic; }
"""


def _e(value) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _count_cell(fid: str, n: int | None) -> str:
    return f'<td class="n" data-figure="{_e(fid)}">{_e(f"{n:,}" if n is not None else "—")}</td>'


def _rate_text(num: int, den: int) -> str:
    return "—" if den == 0 else f"{100 * num / den:.1f}%"


def _rate_cell(fid: str, num: int, den: int, css: str = "rate", *, small_n: bool = False) -> str:
    """A rate with its numerator and denominator; `small_n`: greyed when 0 < denominator < SMALL_DENOMINATOR."""
    title = ""
    if small_n and 0 < den < SMALL_DENOMINATOR:
        css += " small"
        title = f' title="n = {den:,}: fewer than {SMALL_DENOMINATOR}, too few to compare"'
    return (f'<td class="{css}" data-figure="{_e(fid)}"{title}><span class="pct">{_rate_text(num, den)}</span> '
            f'<span class="nd">{num:,} / {den:,}</span></td>')


def _rate(num: int, den: int) -> float | None:
    return None if den == 0 else num / den


def _dept_label(source: str) -> str:
    return f"{DEPARTMENTS[source]} {source}" if source in DEPARTMENTS else source


def _channel_label(code) -> str:
    return "unknown 未知" if code is None else f"{code} {CHANNELS.get(code, '')}".strip()


def _month_label(month) -> str:
    return "unknown 未知" if month is None else month


def _rollup(cube: dict[tuple, Tally], position: int | None) -> dict:
    out: dict = defaultdict(Tally)
    for key, tally in cube.items():
        out["all" if position is None else key[position]].add(tally.counts)
    return out


def _figure_table(groups: list[tuple[str, str, Tally]], first_header: str) -> str:
    """Rows are figures, columns are groups (id prefix, label, tally)."""
    head = "".join(f"<th>{_e(label)}</th>" for _, label, _ in groups)
    rows = []
    for f in FIGURES:
        cells = []
        for prefix, _, tally in groups:
            c = tally.counts
            fid = f"{prefix}.{f.name}"
            cells.append(_count_cell(fid, c[f.numerator]) if f.denominator is None
                         else _rate_cell(fid, c[f.numerator], c[f.denominator], small_n=True))
        rows.append(f"<tr><th>{_e(f.label)}</th>{''.join(cells)}</tr>")
    return (f'<div class="scroll"><table class="figures"><thead><tr><th>{_e(first_header)}</th>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table></div>")


# The rates drawn in the charts (label, rate of schemas/views.py).
RATE_SERIES = (("网办率", "online_rate"), ("主动评价率", "active_evaluation_rate"), ("好评率", "good_rate"),
               ("满意率", "satisfied_rate"), ("好评率 excl. default", "good_rate_no_default"),
               ("按时办结率", "ontime_rate"))


@dataclass(frozen=True)
class Faint:
    """A rate over fewer than SMALL_DENOMINATOR: drawn faint in bar charts, not at all in line charts."""

    value: float
    n: int


def _chart_rate(num: int, den: int) -> float | Faint | None:
    if den == 0:
        return None
    return Faint(num / den, den) if den < SMALL_DENOMINATOR else num / den


def _group_charts(groups: list[tuple[str, str, Tally]], what: str, line: bool = False) -> str:
    labels = [label for _, label, _ in groups]
    counts = [("办件量 cases", [t.counts["cases"] for *_, t in groups]),
              ("评价量 evaluations", [t.counts["evaluations"] for *_, t in groups]),
              ("差评", [t.counts["bad_evaluations"] for *_, t in groups])]
    rates = [(name, [_chart_rate(t.counts[RATE[r].numerator], t.counts[RATE[r].denominator]) for *_, t in groups])
             for name, r in RATE_SERIES]
    chart = _line_chart if line else _bar_chart
    room = 0 if line else 100 * len(labels)  # bars need room for their two-line labels; wide charts wrap
    return ('<div class="charts">'
            + chart(f"Cases, evaluations and 差评 by {what}", labels, counts, percent=False,
                    width=min(1290, max(520, room)))
            + chart(f"Rates by {what}", labels, rates, percent=True, width=min(1290, max(740, room)))
            + "</div>")


def _headline_sections(cube: dict[tuple, Tally]) -> str:
    total = _rollup(cube, None)["all"]
    by_dept, by_channel, by_month = _rollup(cube, 0), _rollup(cube, 1), _rollup(cube, 2)
    depts = [(s, _dept_label(s), by_dept.get(s, Tally()))
             for s in [*DEPARTMENTS, *sorted(k for k in by_dept if k not in DEPARTMENTS)]]
    channels = [("channel-none" if k is None else f"channel-{k}", _channel_label(k), by_channel[k])
                for k in sorted(by_channel, key=lambda k: (k is None, k or 0))]
    months = [("month-none" if k is None else f"month-{k}", _month_label(k), by_month[k])
              for k in sorted(by_month, key=lambda k: (k is None, k or ""))]
    return (
        '<section id="headline"><h2>Headline figures by department 各部门主要指标</h2>'
        + _figure_table([("all", "all 全部", total), *depts], "figure \\ department")
        + _group_charts(depts, "department")
        + '</section><section id="channel"><h2>By channel 按办理渠道</h2>'
        + (_figure_table(channels, "figure \\ channel") + _group_charts(channels, "channel")
           if channels else '<p class="empty">No cases or evaluations in the period.</p>')
        + '</section><section id="month"><h2>By month (Beijing time) 按月</h2>'
        + (_figure_table(months, "figure \\ month") + _group_charts(months, "month", line=len(months) > 1)
           if months else '<p class="empty">No cases or evaluations in the period.</p>')
        + "</section>"
    )


def _recon_section(recon) -> str:
    cols = ("runs", "failed", "declared", *RECON_COUNTS)
    if recon.rows:
        body = []
        for r in recon.rows:
            prefix = f"recon.{r['source']}.{r['day']}.{r['stream']}"
            body.append(f"<tr><th>{_e(r['source'])}</th><th>{_e(r['day'])}</th><th>{_e(r['stream'])}</th>"
                        + "".join(_declared_cell(f"{prefix}.{c}", r) if c == "declared"
                                  else _count_cell(f"{prefix}.{c}", r[c]) for c in cols) + "</tr>")
        table = ('<div class="scroll"><table><thead><tr><th>source</th><th>business day (Beijing)</th><th>stream</th>'
                 + "".join(f"<th>{c}</th>" for c in cols) + f"</tr></thead><tbody>{''.join(body)}</tbody></table></div>")
    else:
        table = '<p class="empty">No runs in the period.</p>'
    if recon.balanced:
        verdict = ('<p class="ok"><span data-figure="recon.findings">0</span> findings: every ledger row adds up '
                   '(extracted = inserted + updated + unchanged + quarantined + duplicates) and nothing needs a look.</p>')
        findings = ""
    else:
        verdict = (f'<p class="warn">Not balanced: <span data-figure="recon.findings">{len(recon.findings)}</span> '
                   "finding(s).</p>")
        findings = ("<table><thead><tr><th>source</th><th>day</th><th>kind</th><th>count</th><th>detail</th></tr>"
                    "</thead><tbody>"
                    + "".join(f"<tr><td>{_e(f.source)}</td><td>{_e(f.day or '')}</td><td>{_e(f.kind)}</td>"
                              f'<td class="n">{f.count}</td><td class="text">{_e(mask_free_text(f.detail))}</td></tr>'
                              for f in recon.findings)
                    + "</tbody></table>")
    return ('<section id="reconciliation"><h2>Reconciliation 对账</h2>'
            "<p>Per source, business day and stream, from the run ledger by day etl_run_day: the day the "
            "records belong to (hrss the file's date, police the batch's date, market, tax and medins the Beijing "
            "day of the record's update time), what the sources declared for it (trailers, manifests, an API's "
            "total for a window within the day; “not declared” where the source declares none), what was read "
            "and what became of it. Failed runs load nothing and count only under “failed”, on the days "
            "their window covered or the day they started.</p>"
            + table + verdict + findings + "</section>")


def _declared_cell(fid: str, row: dict) -> str:
    css = "n" if row["declared"] is not None else "n norows"
    return f'<td class="{css}" data-figure="{_e(fid)}">{_e(declared_text(row))}</td>'


def _dq_rate_cell(fid: str, passed: int, checks: int, css: str = "rate") -> str:
    if checks == 0:
        return f'<td class="rate norows" data-figure="{_e(fid)}">no rows</td>'
    return _rate_cell(fid, passed, checks, css)


def _breakable(name: str) -> str:
    """An expectation or column name that may wrap after its underscores."""
    return _e(name).replace("_", "_<wbr>")


def _dq_section(dq_rows: list[dict], dq_days: list[dict]) -> str:
    if not dq_rows:
        return ('<section id="expectations"><h2>Expectation results 数据质量校验</h2>'
                '<p class="empty">No expectation results (dq_result) in the period.</p></section>')
    body = []
    for r in dq_rows:
        fid = f"dq.{r['source']}.{r['stream']}.{r['expectation']}.{r['column_name'] or '-'}"
        passed, checks = int(r["passed"] or 0), int(r["checks"] or 0)
        failing = passed < checks and r["severity"] == "error"
        rate = _dq_rate_cell(f"{fid}.success_rate", passed, checks, "rate fail" if failing else "rate")
        body.append(f"<tr><th>{_e(r['source'])}</th><th>{_e(r['stream'])}</th>"
                    f"<th class=\"name\">{_breakable(r['expectation'])}</th>"
                    f"<th class=\"name\">{_breakable(r['column_name'] or '')}</th><td>{_e(r['severity'])}</td>{rate}"
                    + _count_cell(f"{fid}.elements", int(r["elements"] or 0))
                    + _count_cell(f"{fid}.unexpected", int(r["unexpected"] or 0)) + "</tr>")
    table = ('<div class="scroll"><table class="dq"><thead><tr><th>source</th><th>stream</th><th>expectation</th>'
             "<th>column</th><th>severity</th><th>success rate (passed / checks over rows)</th><th>rows checked</th>"
             f"<th>unexpected rows</th></tr></thead><tbody>{''.join(body)}</tbody></table></div>")
    trend_rows = []
    for r in dq_days:
        fid = f"dq-day.{r['day']}.{r['source']}"
        trend_rows.append(f"<tr><th>{_e(r['day'])}</th><th>{_e(r['source'])}</th>"
                          + _dq_rate_cell(f"{fid}.success_rate", int(r["passed"] or 0), int(r["checks"] or 0))
                          + _count_cell(f"{fid}.unexpected", int(r["unexpected"] or 0)) + "</tr>")
    trend = ('<div class="scroll"><table class="dq"><thead><tr><th>day (Beijing)</th><th>source</th>'
             "<th>success rate (passed / checks over rows)</th><th>unexpected rows</th></tr></thead>"
             f"<tbody>{''.join(trend_rows)}</tbody></table></div>")
    days = sorted({r["day"] for r in dq_days})
    sources = sorted({r["source"] for r in dq_days})
    by = {(r["day"], r["source"]): r for r in dq_days}
    series = [(s, [_rate(int(by[(d, s)]["passed"] or 0), int(by[(d, s)]["checks"] or 0)) if (d, s) in by else None
                   for d in days]) for s in sources]
    chart = (_line_chart if len(days) > 1 else _bar_chart)("Expectation success rate per day and source",
                                                           days, series, percent=True, width=900)
    return ('<section id="expectations"><h2>Expectation results 数据质量校验</h2>'
            "<p>From dq_result: each row is one expectation evaluated on one run's batch. Success rate = "
            "expectations met ÷ expectations evaluated over at least one row (“no rows” where none saw a row); "
            "unexpected rows summed over the evaluations.</p>"
            + table + "<h3>Trend per day 趋势</h3>" + chart + trend + "</section>")


def _quarantine_section(reasons: list[dict], examples: dict[tuple, list[str]]) -> str:
    if not reasons:
        return ('<section id="quarantine"><h2>Quarantine 隔离记录</h2>'
                '<p class="empty">Nothing quarantined in the period.</p></section>')
    body = []
    for r in reasons:
        fid = f"quarantine.{r['source']}.{r['reason']}"
        streams = r["stream_min"] if r["stream_min"] == r["stream_max"] else f"{r['stream_min']}, {r['stream_max']}"
        items = "".join(f"<li>{_e(x)}</li>" for x in examples.get((r["source"], r["reason"]), []))
        body.append(f"<tr><th>{_e(_dept_label(r['source']))}</th><th>{_e(r['reason'])}</th><td>{_e(streams)}</td>"
                    + _count_cell(f"{fid}.count", int(r["count"]))
                    + _count_cell(f"{fid}.replayed", int(r["replayed"] or 0))
                    + f'<td class="text"><ul class="examples">{items}</ul></td></tr>')
    return ('<section id="quarantine"><h2>Quarantine 隔离记录</h2>'
            f"<p>Records and files quarantined (etl_reject) by source and reason, with up to {EXAMPLES_PER_REASON} "
            "of the latest details each. Details never hold clear personal data (ID and phone numbers are "
            "masked before they are stored, and masked again here).</p>"
            '<div class="scroll"><table><thead><tr><th>source</th><th>reason</th><th>stream</th><th>count</th>'
            f"<th>replayed since</th><th>examples</th></tr></thead><tbody>{''.join(body)}</tbody></table></div>"
            "</section>")


def _page(engine, first, last, cube, recon, dq_rows, dq_days, reasons, examples) -> str:
    period = f"{first or 'the beginning'} – {last or 'now'} (Beijing dates, inclusive)"
    generated = datetime.now(BEIJING).strftime("%Y-%m-%d %H:%M:%S +08:00")
    store = f"{engine.dialect.name} store"
    defs = "".join(f"<dt>{_e(term)}</dt><dd>{_e(rule)}</dd>" for term, rule in DEFINITIONS)
    return f"""<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>silobridge auditors' report {_e(first or '')}{' – ' if first or last else ''}{_e(last or '')}</title>
<style>{CSS}</style>
</head>
<body>
<header>
<h1>silobridge — 办件与好差评 auditors' report</h1>
<p class="meta">Period: <span id="period">{_e(period)}</span> · generated {_e(generated)} from the {_e(store)} ·
self-contained: opens without network</p>
<nav><a href="#definitions">Definitions</a><a href="#headline">By department</a><a href="#channel">By channel</a>
<a href="#month">By month</a><a href="#reconciliation">Reconciliation</a><a href="#expectations">Expectations</a>
<a href="#quarantine">Quarantine</a></nav>
</header>
<section id="definitions"><h2>Definitions 口径</h2><dl class="defs">{defs}</dl></section>
{_headline_sections(cube)}
{_recon_section(recon)}
{_dq_section(dq_rows, dq_days)}
{_quarantine_section(reasons, examples)}
</body>
</html>
"""


# --- SVG charts, drawn here: no library, no script -------------------------------------------------------


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1
    magnitude = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 4, 5, 8, 10):  # a quarter of each is a round tick
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude


def _axes(title: str, labels: list[str], top: float, percent: bool, width: int, height: int, left: int,
          bottom: int, series: list) -> tuple[list[str], float, float, float]:
    plot_w, plot_h = width - left - 12, height - bottom - 56
    parts = [f'<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
             f'aria-label="{_e(title)}"><rect width="{width}" height="{height}" fill="#fff"/>']
    x = left
    for i, (name, _) in enumerate(series):  # legend
        colour = SERIES_COLOURS[i % len(SERIES_COLOURS)]
        parts.append(f'<rect x="{x}" y="8" width="10" height="10" fill="{colour}"/>'
                     f'<text x="{x + 14}" y="17" font-size="11">{_e(name)}</text>')
        x += 24 + 7 * len(name) + 5 * sum(1 for ch in name if ord(ch) > 0x2E80)
    for k in range(5):
        value = top * k / 4
        y = 40 + plot_h - plot_h * k / 4
        text = f"{value * 100:.0f}%" if percent else (f"{value:,.0f}" if top >= 4 else f"{value:g}")
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" stroke="#e3e8ee"/>'
                     f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end">{text}</text>')
    step = max(1, (len(labels) + 13) // 14)
    slot = plot_w / max(len(labels), 1)
    for i, label in enumerate(labels):
        if i % step == 0:
            cx = left + slot * (i + 0.5)
            lines = str(label).split(" ", 1)  # "1 窗口办理", "医保 medins": two lines
            parts.append(f'<text x="{cx:.1f}" y="{40 + plot_h + 15}" font-size="11" text-anchor="middle">'
                         + "".join(f'<tspan x="{cx:.1f}" dy="{0 if k == 0 else 13}">{_e(line)}</tspan>'
                                   for k, line in enumerate(lines)) + "</text>")
    parts.append(f'<line x1="{left}" y1="{40 + plot_h}" x2="{left + plot_w}" y2="{40 + plot_h}" stroke="#8a97a6"/>')
    return parts, plot_w, plot_h, slot


def _frame(title: str, labels: list[str], series: list[tuple[str, list]], percent: bool, width: int, height: int):
    """The scale's top, the plot's left edge, and the axes both chart kinds draw on."""
    values = [v.value if isinstance(v, Faint) else v for _, vs in series for v in vs if v is not None]
    top = 1.0 if percent else _nice_max(max(values, default=0))
    left, bottom = 52, 40
    return top, left, _axes(title, labels, top, percent, width, height, left, bottom, series)


def _shown(v: float, percent: bool) -> str:
    return f"{v * 100:.1f}%" if percent else f"{v:,}"


def _bar_chart(title: str, labels: list[str], series: list[tuple[str, list]], *, percent: bool,
               width: int = 760, height: int = 300) -> str:
    top, left, (parts, plot_w, plot_h, slot) = _frame(title, labels, series, percent, width, height)
    bar = slot * 0.8 / max(len(series), 1)
    for s, (name, vs) in enumerate(series):
        colour = SERIES_COLOURS[s % len(SERIES_COLOURS)]
        for i, v in enumerate(vs):
            if v is None:
                continue
            faint = isinstance(v, Faint)
            value = v.value if faint else v
            h = plot_h * value / top
            x = left + slot * i + slot * 0.1 + bar * s
            note = f" (n = {v.n}, fewer than {SMALL_DENOMINATOR})" if faint else ""
            look = ' fill-opacity="0.3" class="faint"' if faint else ""
            parts.append(f'<rect x="{x:.1f}" y="{40 + plot_h - h:.1f}" width="{max(bar - 1, 1):.1f}" '
                         f'height="{h:.1f}" fill="{colour}"{look}>'
                         f"<title>{_e(labels[i])} · {_e(name)}: {_shown(value, percent)}{note}</title></rect>")
    parts.append("</svg>")
    return f"<figure><figcaption>{_e(title)}</figcaption>{''.join(parts)}</figure>"


def _line_chart(title: str, labels: list[str], series: list[tuple[str, list]], *, percent: bool,
                width: int = 760, height: int = 300) -> str:
    """Points joined where neighbours both have a value; a rate over a small denominator is left out (a gap)."""
    top, left, (parts, plot_w, plot_h, slot) = _frame(title, labels, series, percent, width, height)
    for s, (name, vs) in enumerate(series):
        colour = SERIES_COLOURS[s % len(SERIES_COLOURS)]
        runs: list[list[tuple]] = [[]]
        for i, v in enumerate(vs):
            if v is None or isinstance(v, Faint):
                runs.append([])
                continue
            runs[-1].append((left + slot * (i + 0.5), 40 + plot_h - plot_h * v / top, i, v))
        for run in runs:
            if len(run) > 1:
                parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="'
                             + " ".join(f"{x:.1f},{y:.1f}" for x, y, *_ in run) + '"/>')
            for x, y, i, v in run:
                parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{colour}">'
                             f"<title>{_e(labels[i])} · {_e(name)}: {_shown(v, percent)}</title></circle>")
    parts.append("</svg>")
    return f"<figure><figcaption>{_e(title)}</figcaption>{''.join(parts)}</figure>"
