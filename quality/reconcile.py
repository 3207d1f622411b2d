"""Reconciliation per source, business day and stream: what the sources declared, what was read, what became of it.

The day is the one the records belong to (etl_run_day): the file's date for
hrss, the batch's date for police, the Beijing day of the update time for
market, tax and medins. A catch-up that loaded a month in one run shows the
month's days; `first`/`last` select business days.

Anything an auditor must look at is a finding: a ledger row that does not
balance, a run whose days do not add up to it, a declared total that differs
from what was read, a file or batch quarantined whole, a police batch gap, an
unknown code value, a failed run, exchange-database rows whose UPDATE_TIME the
cursor cannot reach. A quarantined record's or file's day is the one its
location names, else its place in its run's days (see `reject_days`).
"""

import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone

import sqlalchemy as sa

from schemas.sql import sql_tables

BEIJING = timezone(timedelta(hours=8))
COUNTS = ("extracted", "inserted", "updated", "unchanged", "quarantined", "duplicates")
NOT_DECLARED = "not declared"
_CHUNK = 900  # stays under every backend's bind-parameter limit
# transforms.columnar's unknown-code detail: `<column> (<field>): <'code' or its shape>, not in the <source> code map`.
_CODE_VALUE = re.compile(r"(\S+) \((\w+)\): ('[^']*'|an empty value|\d+ characters? \([^)]*\)), not in the")
# Rejects of rows an exchange database's cursor cannot reach (extractors.sql), each quarantined once.
_UNREACHABLE = {
    "missing_update_time": "without a usable UPDATE_TIME (NULL, a zero date or no time): the cursor can never "
                           "read them",
    "future_update_time": "with an UPDATE_TIME far past the source database's clock: the cursor reads them only "
                          "when that time comes",
}
# The day a reject's location names: a delivery's name (HRSS_BJ_20261005.csv, GA_20261005_000001.xml) or a
# business day the runner wrote into it (`cases 2026-10-05 page 3`, `EX_CASE (UPDATE_TIME 2026-10-05)`).
_DELIVERY_DAY = re.compile(r"_([0-9]{4})([0-9]{2})([0-9]{2})(?=[._])")
_ISO_DAY = re.compile(r"(?<![0-9])([0-9]{4})-([0-9]{2})-([0-9]{2})(?![0-9])")


@dataclass
class Finding:
    source: str
    day: date | None
    kind: str  # unbalanced_ledger, days_differ_from_run, total_mismatch, file_quarantined, batch_gap,
    # unknown_code, failed_run, missing_update_time, future_update_time
    detail: str
    count: int = 1


@dataclass
class Reconciliation:
    rows: list[dict] = field(default_factory=list)  # one per source, business day and stream
    findings: list[Finding] = field(default_factory=list)

    @property
    def balanced(self) -> bool:
        return not self.findings


def declared_text(row: dict) -> str:
    """A row's declared total as shown: the number, or why there is none."""
    if row["declared"] is not None:
        return f"{row['declared']:,}"
    return "in a window total" if row.get("declared_in_window") else NOT_DECLARED


def reconcile(engine: sa.Engine, source: str | None = None, first: date | None = None,
              last: date | None = None) -> Reconciliation:
    day_t, run, reject, mark = (sql_tables[t] for t in ("etl_run_day", "etl_run", "etl_reject", "etl_watermark"))
    out = Reconciliation()
    with engine.connect() as conn:
        query = sa.select(day_t)
        if first:
            query = query.where(day_t.c.business_day >= first)
        if last:
            query = query.where(day_t.c.business_day <= last)
        if source:
            query = query.where(day_t.c.source == source)
        selected = conn.execute(query).mappings().all()
        run_ids = sorted({d["run_id"] for d in selected})
        runs = {(r["run_id"], r["stream"]): r for r in _chunked(conn, sa.select(run), run.c.run_id, run_ids)}
        all_days = _chunked(conn, sa.select(day_t), day_t.c.run_id, run_ids)
        failed = conn.execute(sa.select(run).where(run.c.status == "failed", *_of(run, source))).mappings().all()
        # A reject may lie outside the range by when it was written yet belong to a day in it (a catch-up);
        # replayed ones are read too: they keep their place in their run's order (reject_days).
        lo = datetime.combine(first, time(), BEIJING) if first else None
        rejects = conn.execute(sa.select(reject).where(*_of(reject, source), sa.or_(
            reject.c.run_id.in_(sa.select(day_t.c.run_id).where(*_days_of(day_t, first, last))),
            reject.c.created_at >= lo if lo else sa.true()))).mappings().all()
        marks = conn.execute(sa.select(mark).where(*_of(mark, source))).mappings().all()

    days_of_run: dict[tuple, list[dict]] = defaultdict(list)
    for d in all_days:
        days_of_run[(d["run_id"], d["stream"])].append(d)
    _day_rows(selected, runs, failed, first, last, out)
    for key, r in sorted(runs.items(), key=lambda kv: kv[1]["started_at"]):
        _run_findings(r, days_of_run[key], first, last, out)
    _reject_findings(rejects, days_of_run, first, last, out)
    _gap_findings(marks, out)
    return out


def _of(table, source):
    return (table.c.source == source,) if source else ()


def _days_of(day_t, first, last):
    return ((day_t.c.business_day >= first,) if first else ()) + ((day_t.c.business_day <= last,) if last else ())


def _chunked(conn, query, column, values) -> list:
    rows = []
    for i in range(0, len(values), _CHUNK):
        rows += conn.execute(query.where(column.in_(values[i:i + _CHUNK]))).mappings().all()
    return rows


def _in(day: date, first: date | None, last: date | None) -> bool:
    return (first is None or day >= first) and (last is None or day <= last)


def _day_rows(selected, runs, failed, first, last, out: Reconciliation) -> None:
    totals: dict[tuple, dict] = defaultdict(lambda: {"runs": set(), "failed": 0, "declared": None,
                                                      **dict.fromkeys(COUNTS, 0), "declared_in_window": False})
    for d in selected:
        row = totals[(d["source"], d["business_day"], d["stream"])]
        row["runs"].add(d["run_id"])
        for c in COUNTS:
            row[c] += d[c]
        if d["declared_total"] is not None:
            row["declared"] = (row["declared"] or 0) + d["declared_total"]
        elif runs[(d["run_id"], d["stream"])]["declared_total"] is not None:
            row["declared_in_window"] = True  # an API window over several days declared a total for all of them
        if d["extracted"] != sum(d[c] for c in COUNTS[1:]):
            out.findings.append(Finding(d["source"], d["business_day"], "unbalanced_ledger",
                                        f"run {d['run_id']} {d['stream']} {d['business_day']}: extracted "
                                        f"{d['extracted']} ≠ " + " + ".join(f"{c} {d[c]}" for c in COUNTS[1:])))
    for r in failed:
        for day in _failed_days(r):
            if _in(day, first, last):
                row = totals[(r["source"], day, r["stream"])]
                row["runs"].add(r["run_id"])
                row["failed"] += 1
                out.findings.append(Finding(r["source"], day, "failed_run", r["failure_reason"] or r["run_id"]))
    for (src, day, stream), row in sorted(totals.items()):
        out.rows.append({"source": src, "day": day.isoformat(), "stream": stream, "runs": len(row["runs"]),
                         "failed": row["failed"], "declared": row["declared"], **{c: row[c] for c in COUNTS},
                         "declared_in_window": row["declared_in_window"] and row["declared"] is None})


def _failed_days(r) -> list[date]:
    """The business days a failed run was to cover: its window's Beijing days, else the day it started."""
    if r["window_start"] is not None and r["window_end"] is not None and r["window_start"] < r["window_end"]:
        day, end = r["window_start"].astimezone(BEIJING).date(), \
            (r["window_end"] - timedelta(microseconds=1)).astimezone(BEIJING).date()
        return [day + timedelta(days=i) for i in range((end - day).days + 1)]
    return [r["started_at"].astimezone(BEIJING).date()]


def _run_findings(r, days: list[dict], first, last, out: Reconciliation) -> None:
    """A run's own row against its days, and an API's total against what it read."""
    shown = min((d["business_day"] for d in days if _in(d["business_day"], first, last)), default=None)
    if r["extracted"] != sum(r[c] for c in COUNTS[1:]):
        out.findings.append(Finding(r["source"], shown, "unbalanced_ledger",
                                    f"run {r['run_id']} {r['stream']}: extracted {r['extracted']} ≠ "
                                    + " + ".join(f"{c} {r[c]}" for c in COUNTS[1:])))
    differ = [c for c in (*COUNTS, "stale") if sum(d[c] for d in days) != r[c]]
    if differ:
        out.findings.append(Finding(r["source"], shown, "days_differ_from_run",
                                    f"run {r['run_id']} {r['stream']}: its days add up to "
                                    + ", ".join(f"{c} {sum(d[c] for d in days)} (run: {r[c]})" for c in differ)))
    notes = json.loads(r["notes"]) if r["notes"] else {}
    read = notes.get(r["stream"]) if isinstance(notes.get(r["stream"]), dict) else None
    if read and read.get("declared_total") is not None and read["declared_total"] != read.get("distinct_keys"):
        out.findings.append(Finding(r["source"], shown, "total_mismatch",
                                    f"run {r['run_id']} {r['stream']}: the source declared {read['declared_total']}, "
                                    f"{read.get('distinct_keys')} distinct records were read"))


def reject_days(rejects, days_of_run: dict[tuple, list[dict]]) -> dict[int, date]:
    """reject_id → the business day the quarantined record or file belongs to.

    The day its location names (a delivery's name, a day the runner wrote into it); else, for a record,
    its run's days in turn: a run quarantines records day after day, so its undated rejects, in the order
    they were written, fill its days' `quarantined` counts from the first day on (exact for a run of one
    day; market, tax and medins read in update-time order); else the Beijing day it was written.
    """
    out: dict[int, date] = {}
    undated: dict[tuple, list] = defaultdict(list)
    dated: dict[tuple, Counter] = defaultdict(Counter)
    for r in rejects:
        day = _named_day(r["location"] or "")
        if day is not None:
            out[r["reject_id"]] = day
            if r["kind"] == "record":
                dated[(r["run_id"], r["stream"])][day] += 1
        elif r["kind"] == "record":
            undated[(r["run_id"], r["stream"])].append(r)
        else:
            out[r["reject_id"]] = r["created_at"].astimezone(BEIJING).date()
    for key, records in undated.items():
        left = [[d["business_day"], d["quarantined"] - dated[key][d["business_day"]]]
                for d in sorted(days_of_run.get(key, []), key=lambda d: d["business_day"])]
        for r in sorted(records, key=lambda r: r["reject_id"]):
            while left and left[0][1] <= 0:
                left.pop(0)
            if left:
                left[0][1] -= 1
                out[r["reject_id"]] = left[0][0]
            else:
                out[r["reject_id"]] = r["created_at"].astimezone(BEIJING).date()
    return out


def _named_day(location: str) -> date | None:
    for pattern in (_DELIVERY_DAY, _ISO_DAY):
        if m := pattern.search(location):
            try:
                return date(int(m[1]), int(m[2]), int(m[3]))
            except ValueError:
                pass
    return None


def _reject_findings(rejects, days_of_run, first, last, out: Reconciliation) -> None:
    codes: dict[tuple, int] = defaultdict(int)
    unreachable: dict[tuple, int] = defaultdict(int)
    days = reject_days(rejects, days_of_run)
    for r in rejects:
        day = days[r["reject_id"]]
        if r["replayed_at"] is not None or not _in(day, first, last):
            continue
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
