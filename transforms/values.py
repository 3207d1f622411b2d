"""Parsing single source values: nulls, text, times, numbers, money.

Each parser returns the unified value or raises `BadValue` with a reason
code; the caller turns that into a quarantined record naming the field.
"""

import re
from functools import lru_cache
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")  # a fixed +08:00, as the contracts say
_CENT = Decimal("0.01")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_NULL_TOKENS = frozenset({"", "null", "NULL"})
# str.strip() already covers U+3000 (ideographic space) and other Unicode spaces.
_FULL_WIDTH = {c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}


class BadValue(ValueError):
    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


def null_if_blank(value: str | None) -> str | None:
    """None for every spelling of NULL the contracts list, else the value stripped."""
    if value is None:
        return None
    value = value.strip()
    return None if value in _NULL_TOKENS else value


def clean_text(value: str | None) -> str | None:
    return null_if_blank(value)


def to_ascii_width(value: str) -> str:
    """Full-width letters, digits and punctuation to their ASCII forms."""
    return value.translate(_FULL_WIDTH)


# Named time formats a spec may allow; anything else in a time field quarantines the record.
# Wall-clock forms are Beijing time; `iso_offset` carries its own offset, `epoch_ms` is a UTC instant.
_TIME_FORMATS = {
    "datetime_seconds": (re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}"), "%Y-%m-%d %H:%M:%S"),
    "slash_minutes": (re.compile(r"\d{4}/\d{1,2}/\d{1,2} \d{1,2}:\d{2}"), "%Y/%m/%d %H:%M"),
    "date_only": (re.compile(r"\d{4}-\d{2}-\d{2}"), "%Y-%m-%d"),
    "iso_offset": (re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?([+-]\d{2}:\d{2}|Z)"), None),
    "epoch_ms": (re.compile(r"-?\d{1,15}"), None),
}
# MySQL's zero date, which the exchange database uses for "not reached".
_ZERO_DATES = frozenset({"0000-00-00 00:00:00", "0000-00-00"})


def parse_beijing_time(value: str | None, formats: list[str]) -> datetime | None:
    """A Beijing wall-clock time in one of the allowed forms, as a UTC instant."""
    value = null_if_blank(value)
    if value is None or value in _ZERO_DATES:
        return None
    return _parse_beijing(value, tuple(formats))


@lru_cache(maxsize=1 << 16)  # a day's records share few distinct seconds; strptime is the costly part
def _parse_beijing(value: str, formats: tuple[str, ...]) -> datetime:
    for name in formats:
        pattern, fmt = _TIME_FORMATS[name]
        if pattern.fullmatch(value):
            try:
                if name == "epoch_ms":
                    return _EPOCH + timedelta(milliseconds=int(value))  # exact, unlike a float division
                if name == "iso_offset":
                    return datetime.fromisoformat(value).astimezone(timezone.utc)
                return datetime.strptime(value, fmt).replace(tzinfo=BEIJING).astimezone(timezone.utc)
            except (ValueError, OverflowError, OSError):
                raise BadValue("bad_date", f"{value!r} is not a real date and time") from None
    raise BadValue("bad_date", f"{value!r} is not in an allowed time form")


def parse_int(value: str | None) -> int | None:
    value = null_if_blank(value)
    if value is None:
        return None
    value = to_ascii_width(value)
    if not re.fullmatch(r"[+-]?\d+", value):
        raise BadValue("invalid_value", f"{value!r} is not a whole number")
    return int(value)


def parse_money(value: str | None, empty: str | None) -> Decimal | None:
    """Yuan with exactly two places, rounded half-up; an empty field is `empty`."""
    value = null_if_blank(value)
    if value is None:
        return None if empty is None else Decimal(empty).quantize(_CENT)
    try:
        amount = Decimal(to_ascii_width(value))
    except InvalidOperation:
        raise BadValue("invalid_value", f"{value!r} is not a decimal amount") from None
    if not amount.is_finite():
        raise BadValue("invalid_value", f"{value!r} is not a decimal amount")
    return amount.quantize(_CENT, rounding=ROUND_HALF_UP)
