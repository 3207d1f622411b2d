"""Source times → UTC instants: the wall-clock forms read from their bytes in NumPy, epoch milliseconds by a
cast, the scalar parser only for the rows they missed."""

from datetime import datetime, timezone

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from transforms.columns.text import distinct, fixed_width, layout, mask_of, present
from transforms.values import BadValue, parse_beijing_time

INSTANT = pa.timestamp("us", tz="UTC")
_BEIJING_US = 8 * 3600 * 1_000_000
# Wall-clock forms read byte by byte ("N": a digit 1–9, "9": any digit, anything else itself): a year from
# 1000 keeps the UTC form in years 1–9999. A value whose parts name no real date and time (30 February, a
# 60th second) is left to the scalar parser, which refuses it.
_WALL_CLOCK = {"datetime_seconds": "N999-99-99 99:99:99", "date_only": "N999-99-99"}
# Per position of a template: (lowest byte allowed, highest minus lowest).
_TEMPLATE_BYTES = {template: [(np.uint8(ord(low)), np.uint8(ord(high) - ord(low)))
                              for low, high in ({"N": "19", "9": "09"}.get(c, c + c) for c in template)]
                   for template in _WALL_CLOCK.values()}
# yyyy/M/d H:mm: its parts read as the wall-clock forms' are.
_SLASH = r"^(?P<y>[1-9][0-9]{3})/(?P<m>[0-9]{1,2})/(?P<d>[0-9]{1,2}) (?P<H>[0-9]{1,2}):(?P<M>[0-9]{2})$"
_EPOCH_MS = "^-?[0-9]{1,15}$"
# Milliseconds of 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999Z: the instants both stores keep.
_MS_MIN, _MS_MAX = -62_135_596_800_000, 253_402_300_799_999
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_ZERO_DATES = pa.array(["0000-00-00 00:00:00", "0000-00-00"])
_MONTH_DAYS = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)


def parse_times(values: pa.Array, formats: list[str]) -> tuple[pa.Array, dict[int, BadValue]]:
    """(instants, row → the BadValue of a row whose time is not one the contract allows).

    `values` are stripped with the NULL spellings already NULL (text.strip_null).
    """
    n = len(values)
    micros = np.zeros(n, dtype=np.int64)
    offsets, data = layout(values)
    lengths = np.diff(offsets)
    todo = present(values)
    zero = np.flatnonzero(todo & ((lengths == 19) | (lengths == 10)) & (_first_bytes(offsets, data) == ord("0")))
    if len(zero):  # a zero date has the length of a wall-clock form and starts with 0
        todo[zero] = ~mask_of(pc.is_in(values.take(pa.array(zero)), value_set=_ZERO_DATES))
    done = np.zeros(n, dtype=bool)
    for name in formats:
        if not todo.any():
            break
        if name in _WALL_CLOCK:
            rows, parts = _wall_clock_parts(offsets, data, np.flatnonzero(todo & (lengths == len(_WALL_CLOCK[name]))),
                                            _WALL_CLOCK[name])
            _store(rows, parts, micros, done, todo)
        elif name == "slash_minutes":
            rows = np.flatnonzero(todo)
            found = pc.extract_regex(values.take(pa.array(rows)), _SLASH)
            hit = present(found)
            if hit.any():
                parts = [p.cast(pa.int64()).to_numpy() for p in found.filter(pa.array(hit)).flatten()]
                _store(rows[hit], parts + [np.zeros(int(hit.sum()), dtype=np.int64)], micros, done, todo)
        elif name == "epoch_ms":
            hit = todo & mask_of(pc.match_substring_regex(values, _EPOCH_MS))
            if hit.any():
                rows = np.flatnonzero(hit)
                ms = values.take(pa.array(rows)).cast(pa.int64()).to_numpy(zero_copy_only=False)
                same = (ms >= _MS_MIN) & (ms <= _MS_MAX)
                good = rows[same]
                micros[good] = ms[same] * 1000
                done[good] = True
                todo[good] = False
    rest = np.flatnonzero(todo)
    errors = _scalar_rows(values, rest, formats, micros, done) if len(rest) else {}
    instants = pa.array(micros, pa.int64(), mask=~done).cast(INSTANT)
    return instants, errors


def _scalar_rows(values: pa.Array, rows: np.ndarray, formats: list[str], micros: np.ndarray,
                 done: np.ndarray) -> dict[int, BadValue]:
    """The scalar parser over the distinct values of `rows`, into `micros`; row → BadValue of those it refuses."""
    found, indices = distinct(values, rows)
    parsed = [_scalar(v, list(formats)) for v in found]
    index = indices.to_numpy()
    read = np.array([isinstance(p, datetime) for p in parsed], dtype=bool)[index]
    micros[rows[read]] = np.array([_micros(p) if isinstance(p, datetime) else 0 for p in parsed],
                                  dtype=np.int64)[index][read]
    done[rows[read]] = True
    bad = np.array([isinstance(p, BadValue) for p in parsed], dtype=bool)[index]
    return {int(row): parsed[k] for row, k in zip(rows[bad], index[bad])}


def _wall_clock_parts(offsets: np.ndarray, data: np.ndarray, rows: np.ndarray,
                      template: str) -> tuple[np.ndarray, list[np.ndarray]]:
    """(the `rows` whose bytes fit `template`, their year, month, day, hour, minute and second)."""
    # One row per byte position: a check or a digit is one NumPy operation over all the values.
    by_position = np.ascontiguousarray(fixed_width(offsets, data, rows, len(template)).T)
    fits = np.ones(len(rows), dtype=bool)
    for at, (low, span) in enumerate(_TEMPLATE_BYTES[template]):
        fits &= (by_position[at] - low) <= span  # uint8: a byte below `low` wraps above any span
    digits = by_position - np.uint8(0x30)

    def number(start: int, end: int) -> np.ndarray:
        value = digits[start].astype(np.int64)
        for at in range(start + 1, end):
            value = value * 10 + digits[at]
        return value[fits]

    parts = [number(0, 4), number(5, 7), number(8, 10)]
    zero = np.zeros(int(fits.sum()), dtype=np.int64)
    parts += [number(11, 13), number(14, 16), number(17, 19)] if len(template) > 10 else [zero, zero, zero]
    return rows[fits], parts


def _store(rows: np.ndarray, parts: list[np.ndarray], micros: np.ndarray, done: np.ndarray,
           todo: np.ndarray) -> None:
    """Beijing wall-clock parts (year ≥ 1000) of `rows` into `micros`, where they name a real date and time."""
    year, month, day, hour, minute, second = parts
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    month_days = _MONTH_DAYS[np.clip(month, 0, 12)] + (leap & (month == 2))
    real = ((month >= 1) & (month <= 12) & (day >= 1) & (day <= month_days) & (hour <= 23) & (minute <= 59)
            & (second <= 59))
    good = rows[real]
    seconds = (_days(year[real], month[real], day[real]) * 86_400 + hour[real] * 3600 + minute[real] * 60
               + second[real])
    micros[good] = seconds * 1_000_000 - _BEIJING_US
    done[good] = True
    todo[good] = False


def _days(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of proleptic Gregorian dates (years from 1)."""
    year = year - (month <= 2)
    era = year // 400
    of_era = year - era * 400
    of_year = (153 * (month + np.where(month > 2, -3, 9)) + 2) // 5 + day - 1
    return era * 146_097 + of_era * 365 + of_era // 4 - of_era // 100 + of_year - 719_468


def _first_bytes(offsets: np.ndarray, data: np.ndarray) -> np.ndarray:
    """Each value's first byte (anything for an empty value)."""
    return data[np.minimum(offsets[:-1], len(data) - 1)] if len(data) else np.zeros(len(offsets) - 1, np.uint8)


def _scalar(value: str, formats: list[str]):
    try:
        return parse_beijing_time(value, formats)
    except BadValue as e:
        return e


def _micros(instant: datetime) -> int:
    delta = instant - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
