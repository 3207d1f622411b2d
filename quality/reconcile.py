"""Reconciliation per source and day: what the sources declared, what was read, what became of it.

Anything an auditor must look at is a finding: a ledger row that does not
balance, a declared total that differs from what was read, a file or batch
quarantined whole, a police batch gap, an unknown code value, a failed run,
exchange-database rows whose UPDATE_TIME the cursor cannot reach.
"""

import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone

import sqlalchemy as sa

from schemas.sql import sql_tables

BEIJING = timezone(timedelta(hours=8))
COUNTS = ("extracted", "inserted", "updated", "unchanged", "quarantined", "duplicates")
# transforms.columnar's unknown-code detail: `<column> (<field>): <'code' or its shape>, not in the <source> code map`.
_CODE_VALUE = re.compile(r"(\S+) \((\w+)\): ('[^']*'|an empty value|\d+ characters? \([^)]*\)), not in the")
# Rejects of rows an exchange database's cursor cannot reach (extractors.sql), each quarantined once.
_UNREACHABLE = {
    "missing_update_time": "without a usable UPDATE_TIME (NULL, a zero date or no time): the cursor can never "
                           "read them",
    "future_update_time": "with an UPDATE_TIME far past the source database's clock: the cursor reads them only "
                          "when that time comes",
}


@dataclass
class Finding:
    source: str
    day: date | None
    kind: str  # unbalanced_ledger, total_mismatch, file_quarantined, batch_gap, unknown_code, failed_run,
    # missing_update_time, future_update_time
    detail: str
    count: int = 1


@dataclass
class Reconciliation:
    rows: list[dict] = field(default_factory=list)  # one per source, day and stream
    findings: list[Finding] = field(default_factory=list)

    @property
    def balanced(self) -> bool:
        return not self.findings


def reconcile(engine: sa.Engine, source: str | None = None, first: date | None = None,
              last: date | None = None) -> Reconciliation:
    run, reject, mark = sql_tables["etl_run"], sql_tables["etl_reject"], sql_tables["etl_watermark"]
    lo = datetime.combine(first, time(), BEIJING) if first else None
    hi = datetime.combine(last + timedelta(days=1), time(), BEIJING) if last else None
    out = Reconciliation()
    with engine.connect() as conn:
        runs = conn.execute(_between(sa.select(run), run.c.started_at, lo, hi, run.c.source, source)
                            .order_by(run.c.started_at)).mappings().all()
        rejects = conn.execute(_between(sa.select(reject), reject.c.created_at, lo, hi, reject.c.source, source)
                               .where(reject.c.replayed_at.is_(None))).mappings().all()
        marks = conn.execute(sa.select(mark).where(mark.c.source == source) if source else sa.select(mark)).mappings().all()

    totals: dict[tuple, dict] = defaultdict(lambda: dict.fromkeys(("runs", "failed", "declared", *COUNTS), 0))
    for r in runs:
        day = r["started_at"].astimezone(BEIJING).date()
        row = totals[(r["source"], day, r["stream"])]
        row["runs"] += 1
        if r["status"] == "failed":
            row["failed"] += 1
            out.findings.append(Finding(r["source"], day, "failed_run", r["failure_reason"] or r["run_id"]))
            continue
        for c in COUNTS:
            row[c] += r[c]
        row["declared"] += r["declared_total"] or 0
        if r["extracted"] != sum(r[c] for c in COUNTS[1:]):
            out.findings.append(Finding(r["source"], day, "unbalanced_ledger",
                                        f"run {r['run_id']} {r['stream']}: extracted {r['extracted']} ≠ "
                                        + " + ".join(f"{c} {r[c]}" for c in COUNTS[1:])))
        _total_findings(r, day, out)
    for (src, day, stream), row in sorted(totals.items()):
        out.rows.append({"source": src, "day": day.isoformat(), "stream": stream, **row})

    codes: dict[tuple, int] = defaultdict(int)
    unreachable: dict[tuple, int] = defaultdict(int)
    for r in rejects:
        day = r["created_at"].astimezone(BEIJING).date()
        if r["kind"] == "file":
            out.findings.append(Finding(r["source"], day, "file_quarantined", f"{r['location']}: {r['reason']}"))
        elif r["reason"] == "unknown_code":
            m = _CODE_VALUE.search(r["detail"])
            what = f"{m[1]} ({m[2]}) = {m[3]}" if m else r["detail"]
            codes[(r["source"], day, r["stream"], what)] += 1
        elif r["reason"] in _UNREACHABLE:
            unreachable[(r["source"], day, r["stream"], r["reason"])] += 1
    for (src, day, stream, what), n in sorted(codes.items()):
        out.findings.append(Finding(src, day, "unknown_code", f"{stream} {what}", n))
    for (src, day, stream, reason), n in sorted(unreachable.items()):
        out.findings.append(Finding(src, day, reason, f"{stream}: {n} row(s) {_UNREACHABLE[reason]}", n))
    _gap_findings(marks, out)
    return out


def _between(query, column, lo, hi, source_column, source):
    if lo is not None:
        query = query.where(column >= lo)
    if hi is not None:
        query = query.where(column < hi)
    if source:
        query = query.where(source_column == source)
    return query


def _total_findings(r, day: date, out: Reconciliation) -> None:
    """An API's steady `total` against the distinct records read in that window."""
    notes = json.loads(r["notes"]) if r["notes"] else {}
    read = notes.get(r["stream"]) if isinstance(notes.get(r["stream"]), dict) else None
    if read and read.get("declared_total") is not None and read["declared_total"] != read.get("distinct_keys"):
        out.findings.append(Finding(r["source"], day, "total_mismatch",
                                    f"run {r['run_id']} {r['stream']}: the source declared {read['declared_total']}, "
                                    f"{read.get('distinct_keys')} distinct records were read"))


def _gap_findings(marks, out: Reconciliation) -> None:
    """Batch numbers below the highest one seen that were never loaded (police), as ranges: a number far
    beyond the last one is one range, never a list of every number it skips."""
    by_source: dict[str, dict[int, str]] = defaultdict(dict)
    for m in marks:
        if m["stream"] == "batch" and m["position"].isascii() and m["position"].isdigit():
            by_source[m["source"]][int(m["position"])] = m["outcome"]
    for src, seqs in by_source.items():
        gaps, expected = [], min(seqs)
        for seq in sorted(s for s, outcome in seqs.items() if outcome == "loaded"):
            if seq > expected:
                gaps.append((expected, seq - 1))
            expected = seq + 1
        if max(seqs) >= expected:
            gaps.append((expected, max(seqs)))
        if gaps:
            shown = ", ".join(f"{lo:06d}" if lo == hi else f"{lo:06d}–{hi:06d}" for lo, hi in gaps)
            out.findings.append(Finding(src, None, "batch_gap", shown, sum(hi - lo + 1 for lo, hi in gaps)))
