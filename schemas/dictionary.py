"""Renders docs/data-dictionary.md from the declaration (`python -m schemas.dictionary`)."""

import sys
from pathlib import Path

from schemas.codes import CODE_NAMES_EN, CODE_SETS, SOURCE_SYSTEMS
from schemas.tables import TABLES
from schemas.views import (CASE_JOINS, COUNTER, COUNTERS, EVALUATION_JOINS, RATES, SMALL_DENOMINATOR, VIEWS,
                           WORKING_DAYS_RULE)

OUTPUT = Path(__file__).resolve().parent.parent / "docs" / "data-dictionary.md"


def _cell(text: str) -> str:
    return text.replace("|", "/")


def render() -> str:
    lines = [
        "# Data dictionary",
        "",
        "Generated from `schemas/` by `python -m schemas.dictionary`; do not edit by hand.",
        "Instants are UTC (`timestamptz` on PostgreSQL, fixed-width UTC text on SQLite); the views add",
        "Beijing (UTC+8) local times. How to query them: [querying.md](querying.md).",
        "",
        "## Tables",
        "",
    ]
    for t in TABLES:
        lines += [f"### {t.name}", "", t.doc, "", f"Key: {', '.join(f'`{k}`' for k in t.key)}", ""]
        if t.indexes:
            lines += ["Indexes: " + ", ".join(f"({', '.join(cols)})" for cols in t.indexes), ""]
        lines += ["| column | type | null | code set | personal data | meaning |", "| --- | --- | --- | --- | --- | --- |"]
        for c in t.columns:
            lines.append(
                f"| {c.name}{' (key)' if c.key else ''} | {c.type} | {'yes' if c.nullable else 'no'} "
                f"| {c.code_set or ''} | {c.pii or ''} | {_cell(c.doc)} |"
            )
        lines.append("")
    lines += ["## Views", "",
              "Created by the migrations on both backends (`loaders/views.py` from `schemas/views.py`); they "
              "hold no data and read the tables above. Booleans read as 0/1 on SQLite.", ""]
    for v in VIEWS:
        lines += [f"### {v.name}", "", v.doc, "", "| column | type | meaning |", "| --- | --- | --- |"]
        lines += [f"| {c.name} | {c.type} | {_cell(c.doc)} |" for c in v.columns]
        lines.append("")
    lines += _kpi_formulas()
    lines += ["## Code sets", "",
              "The same codes, with their English names, are rows of `code_value` (`code_set`, `code`).", ""]
    for name, codes in CODE_SETS.items():
        lines.append(f"- `{name}`: " + ", ".join(f"`{k}` {v} ({CODE_NAMES_EN[name][k]})" for k, v in codes.items()))
    lines.append("- `source_system`: " + ", ".join(f"`{k}` {zh} ({en})" for k, (zh, en) in SOURCE_SYSTEMS.items()))
    lines.append("")
    return "\n".join(lines)


def _kpi_formulas() -> list[str]:
    lines = ["## KPI formulas", "",
             "Each counter of `v_kpi_department_channel_day` / `v_kpi_department_month` sums "
             "`CASE WHEN <condition> THEN 1 ELSE 0 END` over `v_service_case c` (case counters, by the Beijing "
             "day of apply_time) or over `v_service_evaluation e` joined to its case's channel (evaluation "
             "counters, by the Beijing day of assess_time); deleted rows count nowhere. A rate is numerator ÷ "
             f"denominator, NULL where the denominator is 0; the auditors' report greys rates over fewer than "
             f"{SMALL_DENOMINATOR}. On-time completion: {WORKING_DAYS_RULE}.", "",
             f"The case counters read `v_service_case c {CASE_JOINS}`; the evaluation counters "
             f"`v_service_evaluation e LEFT JOIN service_case c ON c.case_no = e.case_no AND c.source_system = "
             f"e.source_system AND NOT c.deleted {EVALUATION_JOINS}`.", "",
             "| counter | label | counts | condition (SQL) |", "| --- | --- | --- | --- |"]
    for c in COUNTERS:
        condition = f"`{_cell(c.condition)}`" if c.condition else "every row"
        lines.append(f"| {c.name} | {c.label} | {_cell(c.rule)} | {condition} |")
    lines += ["", "| rate | label | numerator | denominator |", "| --- | --- | --- | --- |"]
    for r in RATES:
        lines.append(f"| {r.name} | {r.label} | {r.numerator} ({COUNTER[r.numerator].rule}) | "
                     f"{r.denominator} ({COUNTER[r.denominator].rule}) |")
    lines.append("")
    return lines


if __name__ == "__main__":
    OUTPUT.write_text(render(), encoding="utf-8")
    print(f"wrote {OUTPUT}", file=sys.stderr)
