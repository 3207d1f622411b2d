"""Whole numbers and fees over a column: Arrow casts for the plain spellings, the scalar parser for the rest."""

from decimal import Decimal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from transforms.columns.text import distinct, ints_or, per_distinct
from transforms.values import BadValue, parse_int, parse_money

MONEY = pa.decimal128(16, 2)
# Spellings a cast reads exactly as the scalar parser does, far inside the store's limits.
_PLAIN_YUAN = r"^[0-9]{1,13}(\.[0-9]{1,2})?$"
_PLAIN_FEN = r"^[0-9]{1,15}$"


def parse_ints(values: pa.Array, minimum: int | None = None) -> tuple[pa.Array, dict[int, BadValue]]:
    """(whole numbers as int64, NULL for none or a bad one; row → BadValue); `values` stripped (text.strip_null).

    Counts and versions take few distinct values in a batch: parsed once each.
    """
    found, indices = distinct(values)
    parsed = [_scalar(parse_int, v) if minimum is None else _scalar(parse_int, v, minimum) for v in found]
    numbers = pa.array([None if isinstance(p, BadValue) else p for p in parsed], pa.int64()).take(indices)
    bad = np.array([isinstance(p, BadValue) for p in parsed] + [False], dtype=bool)
    index = ints_or(indices, -1)  # -1: NULL, the trailing False
    rows = np.flatnonzero(bad[index])
    return numbers, {int(row): parsed[index[row]] for row in rows}


def parse_fees(values: pa.Array, empty: str | None, unit: str) -> tuple[pa.Array, dict[int, BadValue]]:
    """(fees as decimal(16,2), row → BadValue): yuan with two places, or whole fen ÷ 100 (exact)."""
    n = len(values)
    plain = pc.fill_null(pc.match_substring_regex(values, _PLAIN_FEN if unit == "fen" else _PLAIN_YUAN),
                         False)
    text = values
    if unit == "fen":
        padded = pc.utf8_lpad(values, width=3, padding="0")
        text = pc.binary_join_element_wise(pc.utf8_slice_codeunits(padded, 0, -2),
                                           pc.utf8_slice_codeunits(padded, -2), ".")
    fees = pc.if_else(plain, pc.if_else(plain, text, pa.scalar("0", pa.string())).cast(MONEY),
                      pa.scalar(None, MONEY))
    errors: dict[int, BadValue] = {}
    rest = np.flatnonzero(~plain.to_numpy(zero_copy_only=False))
    if len(rest):
        parsed = per_distinct(values, lambda v: _scalar(parse_money, v, empty, unit), rest)
        slow: list[Decimal | None] = [None] * len(rest)
        for k, (row, p) in enumerate(zip(rest, parsed)):
            if isinstance(p, BadValue):
                errors[int(row)] = p
            else:
                slow[k] = p
        mask = np.zeros(n, dtype=bool)
        mask[rest] = True
        fees = pc.replace_with_mask(fees, pa.array(mask), pa.array(slow, MONEY))
    return fees, errors


def _scalar(parse, value, *args):
    try:
        return parse(value, *args)
    except BadValue as e:
        return e
