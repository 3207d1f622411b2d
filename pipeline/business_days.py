"""The run ledger by business day (etl_run_day): the day each record a run read belongs to, and what became of it.

A runner tells `BusinessDays` what it read of each day as it goes — a file of
hrss (its date), a police batch (its date), the market or tax records of one
Beijing day of update times, a run of medins rows with one UPDATE_TIME day — and which
staged rows that was: the rows staged since the day's part began. Parts of
one day add up. Before the merge, `split` asks the store what the merge will
make of each day's staged rows; a stream read on one day only needs no such
query: the whole merge is that day's.
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from loaders.run_writer import MergeCounts, RunWriter
from transforms.values import BEIJING


@dataclass
class _Day:
    extracted: int = 0
    quarantined: int = 0
    declared_total: int | None = None


class BusinessDays:
    def __init__(self, writer: RunWriter):
        self.writer = writer
        self._days: dict[str, dict[date, _Day]] = {}
        self._bounds: dict[str, list[tuple[int, date]]] = {}  # per stream: (end of a run of staged rows, its day)

    def add(self, stream: str, day: date, *, extracted: int, quarantined: int, staged_from: int,
            declared_total: int | None = None) -> None:
        """`extracted` records of `day` were read, `quarantined` of them rejected, and the rows staged since
        `staged_from` (the stream's staged count when this part began) are the rest."""
        bounds = self._bounds.setdefault(stream, [])
        end = self.writer.staged_so_far(stream)
        if (bounds[-1][0] if bounds else 0) != staged_from:
            raise ValueError(f"{stream}: the rows staged from {staged_from} on follow rows no business day claimed")
        if end > staged_from:
            if bounds and bounds[-1][1] == day:
                bounds[-1] = (end, day)
            else:
                bounds.append((end, day))
        tally = self._days.setdefault(stream, {}).setdefault(day, _Day())
        tally.extracted += extracted
        tally.quarantined += quarantined
        if declared_total is not None:
            tally.declared_total = (tally.declared_total or 0) + declared_total

    def declare(self, stream: str, day: date, total: int) -> None:
        """The source declared `total` records of `day` (beside those of its parts)."""
        tally = self._days.setdefault(stream, {}).setdefault(day, _Day())
        tally.declared_total = (tally.declared_total or 0) + total

    def split(self, stream: str) -> dict[date, MergeCounts] | None:
        """Before the merge: what it will make of each day's staged rows; None when one day holds them all."""
        bounds = self._bounds.get(stream, [])
        if len({day for _, day in bounds}) < 2:
            return None
        if bounds[-1][0] != self.writer.staged_so_far(stream):
            raise ValueError(f"{stream}: rows were staged after the last business day's part")
        return self.writer.day_counts(stream, bounds)

    def rows(self, stream: str, split: dict[date, MergeCounts] | None, merged: MergeCounts) -> list[dict]:
        """The stream's etl_run_day rows, given `split` (from before the merge) and the merge's counts."""
        days = self._days.get(stream, {})
        if split is None:
            staged_days = {day for _, day in self._bounds.get(stream, [])}
            split = {day: merged if day in staged_days or len(days) == 1 else MergeCounts() for day in days}
        rows = []
        for day, tally in sorted(days.items()):
            counts = split.get(day, MergeCounts())
            rows.append({"stream": stream, "business_day": day, "extracted": tally.extracted,
                         "inserted": counts.inserted, "updated": counts.updated, "unchanged": counts.unchanged,
                         "stale": counts.stale, "quarantined": tally.quarantined, "duplicates": counts.duplicates,
                         "declared_total": tally.declared_total})
        return rows


def beijing_days(start: datetime, end: datetime) -> list[tuple[datetime, datetime, date]]:
    """The window [start, end) cut at Beijing midnights: (part start, part end, its Beijing day)."""
    parts = []
    while start < end:
        day = start.astimezone(BEIJING).date()
        midnight = datetime.combine(day + timedelta(days=1), time(), BEIJING)
        parts.append((start, min(end, midnight), day))
        start = min(end, midnight)
    return parts
