"""Source times → UTC instants: `pc.strptime` per allowed format, the scalar parser only for the rows it missed."""

from datetime import datetime, timezone

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from transforms.columns.text import per_distinct
from transforms.values import BadValue, parse_beijing_time

INSTANT = pa.timestamp("us", tz="UTC")
_BEIJING_US = 8 * 3600 * 1_000_000
# Wall-clock forms Arrow parses exactly as the scalar parser does: a year from 1000 (its UTC form stays in
# years 1–9999) and a value that prints back the same (Arrow's strptime rolls 30 February into March).
_WALL_CLOCK = {
    "datetime_seconds": ("^[1-9][0-9]{3}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}$", "%Y-%m-%d %H:%M:%S"),
    "date_only": ("^[1-9][0-9]{3}-[0-9]{2}-[0-9]{2}$", "%Y-%m-%d"),
}
# yyyy/M/d H:mm: its parts padded to two digits, it is read as the wall-clock form above.
_SLASH = r"^(?P<y>[1-9][0-9]{3})/(?P<m>[0-9]{1,2})/(?P<d>[0-9]{1,2}) (?P<H>[0-9]{1,2}):(?P<M>[0-9]{2})$"
_EPOCH_MS = "^-?[0-9]{1,15}$"
# Milliseconds of 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999Z: the instants both stores keep.
_MS_MIN, _MS_MAX = -62_135_596_800_000, 253_402_300_799_999
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_ZERO_DATES = pa.array(["0000-00-00 00:00:00", "0000-00-00"])


def parse_times(values: pa.Array, formats: list[str]) -> tuple[pa.Array, dict[int, BadValue]]:
    """(instants, row → the BadValue of a row whose time is not one the contract allows).

    `values` are stripped with the NULL spellings already NULL (text.strip_null).
    """
    n = len(values)
    values = pc.if_else(pc.is_in(values, value_set=_ZERO_DATES), pa.scalar(None, pa.string()), values)
    micros = np.zeros(n, dtype=np.int64)
    todo = values.is_valid().to_numpy(zero_copy_only=False).copy()
    done = np.zeros(n, dtype=bool)
    for name in formats:
        if not todo.any():
            break
        if name in _WALL_CLOCK:
            pattern, fmt = _WALL_CLOCK[name]
            hit = todo & _matches(values, pattern)
            if hit.any():
                rows = np.flatnonzero(hit)
                _wall_clock(values.take(pa.array(rows)), fmt, rows, micros, done, todo)
        elif name == "slash_minutes":
            hit = todo & _matches(values, _SLASH)
            if hit.any():
                rows = np.flatnonzero(hit)
                parts = pc.extract_regex(values.take(pa.array(rows)), _SLASH)
                y, m, d, hh, mm = (pc.utf8_lpad(parts.field(k), width=2, padding="0") for k in "ymdHM")
                text = pc.binary_join_element_wise(pc.binary_join_element_wise(y, m, d, "-"),
                                                   pc.binary_join_element_wise(hh, mm, "00", ":"), " ")
                _wall_clock(text, _WALL_CLOCK["datetime_seconds"][1], rows, micros, done, todo)
        elif name == "epoch_ms":
            hit = todo & _matches(values, _EPOCH_MS)
            if hit.any():
                rows = np.flatnonzero(hit)
                ms = values.take(pa.array(rows)).cast(pa.int64()).to_numpy(zero_copy_only=False)
                same = (ms >= _MS_MIN) & (ms <= _MS_MAX)
                good = rows[same]
                micros[good] = ms[same] * 1000
                done[good] = True
                todo[good] = False
    errors: dict[int, BadValue] = {}
    rest = np.flatnonzero(todo)
    if len(rest):
        formats = list(formats)
        for row, parsed in zip(rest, per_distinct(values, lambda v: _scalar(v, formats), rest)):
            if isinstance(parsed, BadValue):
                errors[int(row)] = parsed
            elif parsed is not None:
                micros[row] = _micros(parsed)
                done[row] = True
    instants = pa.array(micros, pa.int64(), mask=~done).cast(INSTANT)
    return instants, errors


def _wall_clock(text: pa.Array, fmt: str, rows: np.ndarray, micros: np.ndarray, done: np.ndarray,
                todo: np.ndarray) -> None:
    """Beijing wall-clock `text` (of `rows`) in `fmt` into `micros`; a value that does not print back the
    same (Arrow's strptime rolls 30 February into March) is left to the scalar parser."""
    parsed = pc.strptime(text, format=fmt, unit="s", error_is_null=True)  # "us" would print 28.000000
    same = pc.fill_null(pc.equal(pc.strftime(parsed, format=fmt), text), False).to_numpy(zero_copy_only=False)
    good = rows[same]
    micros[good] = _seconds(parsed)[same] * 1_000_000 - _BEIJING_US
    done[good] = True
    todo[good] = False


def _seconds(parsed: pa.Array) -> np.ndarray:
    return pc.fill_null(parsed.cast(pa.int64()), 0).to_numpy(zero_copy_only=False)


def _matches(values: pa.Array, pattern: str) -> np.ndarray:
    return pc.fill_null(pc.match_substring_regex(values, pattern), False).to_numpy(zero_copy_only=False)


def _scalar(value: str, formats: list[str]):
    try:
        return parse_beijing_time(value, formats)
    except BadValue as e:
        return e


def _micros(instant: datetime) -> int:
    delta = instant - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
