"""Parsing single source values: nulls, text, times, numbers, money.

Each parser returns the unified value or raises `BadValue` with a reason
code; the caller turns that into a quarantined record naming the field. A
value that parses but that the store cannot hold (an integer beyond
PostgreSQL's `integer`, a fee beyond `numeric(16,2)`, an instant outside
the years 1–9999) is a `BadValue` too: one record is quarantined instead of
the whole run failing at the merge. Messages describe a bad value by its
shape (`transforms.pii.describe_value`), never quote it: a number field can
hold an ID number that somebody typed into it.
"""

import re
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache

from transforms.pii import describe_value

BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")  # a fixed +08:00, as the contracts say
_CENT = Decimal("0.01")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_NULL_TOKENS = frozenset({"", "null", "NULL"})

# The store's integer columns are PostgreSQL `integer`; its fees `numeric(16,2)`, below 10^14 in size.
INT_MIN, INT_MAX = -(2**31), 2**31 - 1
_MONEY_DIGITS = 14
_MONEY_LIMIT = Decimal(10) ** _MONEY_DIGITS

# Full-width letters and digits to ASCII; full-width punctuation and the ideographic space stay as sent
# (market.md: "full-width letters and digits → ASCII").
_WIDE_ALNUM = {c: c - 0xFEE0 for r in ((0xFF10, 0xFF19), (0xFF21, 0xFF3A), (0xFF41, 0xFF5A))
               for c in range(r[0], r[1] + 1)}
# In a number, full-width digits, sign and decimal point read as their ASCII forms.
_WIDE_NUMERIC = {c: c - 0xFEE0 for c in range(0xFF10, 0xFF1A)} | {0xFF0B: 0x2B, 0xFF0D: 0x2D, 0xFF0E: 0x2E}
_WHOLE = re.compile(r"[+-]?[0-9]+(?:\.0*)?")  # `5.0` is the whole number 5 (a JSON peer may send a float)
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")


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
    """Full-width letters and digits to their ASCII forms; everything else (`（）`, U+3000) as sent."""
    return value if value.isascii() else value.translate(_WIDE_ALNUM)


# Named time formats a spec may allow; anything else in a time field quarantines the record.
# Wall-clock forms are Beijing time; `iso_offset` carries its own offset, `epoch_ms` is a UTC instant.
# ASCII digits only: Python's \d and int() would read Arabic-Indic or full-width digits as a date.
_TIME_FORMATS = {
    "datetime_seconds": (re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}"), "%Y-%m-%d %H:%M:%S"),
    "slash_minutes": (re.compile(r"[0-9]{4}/[0-9]{1,2}/[0-9]{1,2} [0-9]{1,2}:[0-9]{2}"), "%Y/%m/%d %H:%M"),
    "date_only": (re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}"), "%Y-%m-%d"),
    "iso_offset": (re.compile(
        r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?([+-][0-9]{2}:[0-9]{2}|Z)"), None),
    "epoch_ms": (re.compile(r"-?[0-9]{1,15}"), None),
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
                # 30 February, a 60th second, year 0, an offset of 24 hours, or an instant whose UTC
                # form leaves the years 1–9999 that both stores (and Python) keep.
                raise BadValue("bad_date", f"{describe_value(value)}, not a real date and time the store "
                                           "can keep (years 1–9999)") from None
    raise BadValue("bad_date", f"{describe_value(value)}, not in an allowed time form ({', '.join(formats)})")


def parse_int(value: str | None, minimum: int = INT_MIN, maximum: int = INT_MAX) -> int | None:
    """A whole number within [minimum, maximum] (by default the store's integer range)."""
    value = null_if_blank(value)
    if value is None:
        return None
    text = value.translate(_WIDE_NUMERIC)
    if not _WHOLE.fullmatch(text):
        raise BadValue("invalid_value", f"{describe_value(value)}, not a whole number")
    whole = text.split(".")[0]
    # Length first: int() of thousands of digits is refused (and slow) before any range check.
    if len(whole.lstrip("+-").lstrip("0")) > len(str(INT_MAX)) or not minimum <= int(whole) <= maximum:
        raise BadValue("out_of_range", f"{describe_value(value)}, outside {minimum}…{maximum}")
    return int(whole)


def parse_money(value: str | None, empty: str | None, unit: str = "yuan") -> Decimal | None:
    """Yuan with exactly two places, rounded half-up; an empty field is `empty`.

    `unit` "fen": the source sends whole fen (tax `feeFen`), and fen ÷ 100 is exact.
    Exponent forms (`1e30`) are refused: no contract writes money that way.
    """
    value = null_if_blank(value)
    if value is None:
        return None if empty is None else Decimal(empty).quantize(_CENT)
    text = value.translate(_WIDE_NUMERIC)
    if unit == "fen":
        if not _WHOLE.fullmatch(text):
            raise BadValue("invalid_value", f"{describe_value(value)}, not a whole number of fen")
        amount = Decimal(text).scaleb(-2)
    else:
        if not _DECIMAL.fullmatch(text):
            raise BadValue("invalid_value", f"{describe_value(value)}, not a decimal amount"
                           + (" (exponent forms are not accepted)" if "e" in text.lower() else ""))
        amount = Decimal(text)
    # Size first: quantizing 10^30 to cents needs more digits than Decimal's context keeps.
    if amount and amount.adjusted() >= _MONEY_DIGITS:
        raise _money_out_of_range(value)
    cents = amount.quantize(_CENT, rounding=ROUND_HALF_UP)
    if abs(cents) >= _MONEY_LIMIT:
        raise _money_out_of_range(value)
    return cents if cents else abs(cents)  # -0.00 would read back as "-0.00" from SQLite


def _money_out_of_range(value: str) -> BadValue:
    return BadValue("out_of_range", f"{describe_value(value)}, does not fit the store's numeric(16,2) "
                                    f"(less than 10^{_MONEY_DIGITS} yuan)")
