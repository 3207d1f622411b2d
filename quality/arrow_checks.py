"""The figures of each expectation type the suites use, computed with Arrow compute on a whole batch.

Great Expectations defines the suites and renders Data Docs, but importing it
costs seconds per process and validating a pandas copy of every batch costs
more; these kernels compute the same figures GX's pandas engine computes
(tests/test_expectations_differential.py runs both and compares them):

- `element_count`: the rows a check considers. A NULL is missing (not
  considered) except for the (not-)null checks themselves; a column pair
  ignores a row where either value is missing, a compound key one where all are.
- `unexpected_count`: the considered rows that fail it.
- `unexpected`: the first `PARTIAL` failing values in row order, as GX lists
  them (a pair as a tuple, a compound key as a dict).
- `observed`: the number an aggregate check (a column's minimum) observed.

Regular expressions: GX matches with Python's `re` (search, Unicode `\\d`, `$`
also before a final newline); Arrow's RE2 has no look-arounds and an ASCII
`\\d`, so `re2` rewrites the constructs the suites use into their RE2 equals.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timezone
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

PARTIAL = 20  # GX's partial_unexpected_count, which the dq_result samples were chosen from


@dataclass
class Figures:
    element_count: int | None = None
    unexpected_count: int | None = None
    unexpected: list | None = None
    observed: float | None = None
    success: bool = True


# GX arguments these kernels do not implement: a suite using one would get other figures than GX's.
_UNSUPPORTED = ("mostly", "row_condition", "condition_parser", "strict_min", "strict_max")


def figures(kind: str, kwargs: dict, columns: dict[str, pa.ChunkedArray | pa.Array]) -> Figures:
    """The figures of one expectation (GX type name and kwargs) over a batch's columns (batch and derived)."""
    check = _CHECKS.get(kind)
    if check is None:
        raise ValueError(f"no Arrow implementation of the expectation type {kind}")
    unsupported = [k for k in _UNSUPPORTED if kwargs.get(k) is not None]
    if unsupported:
        raise ValueError(f"{kind}: the Arrow checks do not implement {', '.join(unsupported)}")
    return check(kwargs, columns)


def _column(columns, name: str) -> pa.Array:
    column = columns[name]
    return column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column


def _map(considered: pa.Array, failed: pa.Array, values) -> Figures:
    """A map check's figures from the considered rows (bool, no NULL) and the failing ones among them."""
    failed = pc.and_(considered, pc.fill_null(failed, False))
    bad = int(pc.sum(failed).as_py() or 0)
    first = pc.indices_nonzero(failed).slice(0, PARTIAL) if bad else pa.array([], pa.uint64())
    return Figures(int(pc.sum(considered).as_py() or 0), bad, values(first), success=bad == 0)


def _values(column: pa.Array):
    return lambda rows: column.take(rows).to_pylist()


def _not_null(kwargs, columns) -> Figures:
    column = _column(columns, kwargs["column"])
    every = pa.array(np.ones(len(column), dtype=bool))
    return _map(every, pc.is_null(column), _values(column))


def _null(kwargs, columns) -> Figures:
    column = _column(columns, kwargs["column"])
    every = pa.array(np.ones(len(column), dtype=bool))
    return _map(every, pc.is_valid(column), _values(column))


def _in_set(kwargs, columns) -> Figures:
    column = _column(columns, kwargs["column"])
    value_set = pa.array(kwargs["value_set"], column.type)
    return _map(pc.is_valid(column), pc.invert(pc.is_in(column, value_set=value_set)), _values(column))


def _between(kwargs, columns) -> Figures:
    column = _column(columns, kwargs["column"])
    lo, hi = kwargs.get("min_value"), kwargs.get("max_value")
    inside = pa.array(np.ones(len(column), dtype=bool))
    if lo is not None:
        inside = pc.and_(inside, pc.greater_equal(column, pa.scalar(lo)))
    if hi is not None:
        inside = pc.and_(inside, pc.less_equal(column, pa.scalar(hi)))
    return _map(pc.is_valid(column), pc.invert(inside), _values(column))


def _match(kwargs, columns, *, expected: bool) -> Figures:
    column = _column(columns, kwargs["column"])
    found = pc.match_substring_regex(column, re2(kwargs["regex"]))
    failed = pc.invert(found) if expected else found
    return _map(pc.is_valid(column), failed, _values(column))


def _unique(kwargs, columns) -> Figures:
    column = _column(columns, kwargs["column"])
    considered = pc.is_valid(column)
    return _map(considered, _repeated([column], considered), _values(column))


def _compound_unique(kwargs, columns) -> Figures:
    names = list(kwargs["column_list"])
    parts = [_column(columns, name) for name in names]
    considered = pc.invert(_all(pc.is_null(p) for p in parts))  # GX's default: ignore a row only if all are missing
    table = pa.table(dict(zip(names, parts)))
    return _map(considered, _repeated(parts, considered), lambda rows: table.take(rows).to_pylist())


def _pair_greater(kwargs, columns) -> Figures:
    a, b = _column(columns, kwargs["column_A"]), _column(columns, kwargs["column_B"])
    ignore = kwargs.get("ignore_row_if", "both_values_are_missing")
    missing = {"either_value_is_missing": pc.or_, "both_values_are_missing": pc.and_}[ignore](pc.is_null(a),
                                                                                           pc.is_null(b))
    compare = pc.greater_equal if kwargs.get("or_equal") else pc.greater
    considered = pc.invert(missing)
    return _map(considered, pc.invert(compare(a, b)), lambda rows: list(zip(_pair_values(a.take(rows)),
                                                                            _pair_values(b.take(rows)))))


def _pair_values(column: pa.Array) -> list:
    """GX lists a pair's values as NumPy values: an instant prints as naive UTC with microseconds."""
    if pa.types.is_timestamp(column.type):
        return [None if v is None else v.astimezone(timezone.utc).replace(tzinfo=None).isoformat(
            timespec="microseconds") for v in column.to_pylist()]
    return column.to_pylist()


def _min_between(kwargs, columns) -> Figures:
    column = _column(columns, kwargs["column"])
    observed = pc.min(column).as_py()
    if observed is None:
        return Figures(observed=None, success=False)
    lo, hi = kwargs.get("min_value"), kwargs.get("max_value")
    return Figures(observed=float(observed), success=(lo is None or observed >= lo) and (hi is None or observed <= hi))


def _all(masks) -> pa.Array:
    masks = list(masks)
    out = masks[0]
    for m in masks[1:]:
        out = pc.and_(out, m)
    return out


def _repeated(parts: list[pa.Array], considered: pa.Array) -> pa.Array:
    """Rows whose value (tuple of values) occurs more than once among the considered rows; NULL equals NULL."""
    codes = np.zeros(len(parts[0]), dtype=np.int64)
    for part in parts:
        encoded = pc.dictionary_encode(part, null_encoding="encode")
        width = len(encoded.dictionary) + 1
        codes = codes * width + pc.fill_null(encoded.indices, width - 1).to_numpy(zero_copy_only=False)
        codes = np.unique(codes, return_inverse=True)[1].astype(np.int64)  # keeps the product small
    keep = considered.to_numpy(zero_copy_only=False)
    counts = np.bincount(codes[keep], minlength=int(codes.max(initial=0)) + 1)
    return pa.array((counts[codes] > 1) & keep)


_CHECKS = {
    "expect_column_values_to_not_be_null": _not_null,
    "expect_column_values_to_be_null": _null,
    "expect_column_values_to_be_in_set": _in_set,
    "expect_column_values_to_be_between": _between,
    "expect_column_values_to_match_regex": lambda kw, cols: _match(kw, cols, expected=True),
    "expect_column_values_to_not_match_regex": lambda kw, cols: _match(kw, cols, expected=False),
    "expect_column_values_to_be_unique": _unique,
    "expect_compound_columns_to_be_unique": _compound_unique,
    "expect_column_pair_values_a_to_be_greater_than_b": _pair_greater,
    "expect_column_min_to_be_between": _min_between,
}
KINDS = frozenset(_CHECKS)


# -- Python regular expressions as RE2 ----------------------------------------------

_DIGIT, _NOT_DIGIT = r"\p{Nd}", r"\P{Nd}"  # Python's \d on text is any Unicode decimal digit


@lru_cache(maxsize=None)
def re2(pattern: str) -> str:
    """`pattern` (Python `re`, searched) as an RE2 pattern that matches the same strings.

    Knows the constructs the suites use: `\\d`, a `$` at the end (Python also
    matches before a final newline), and digit look-arounds, which RE2 lacks:
    `(?<!\\d)` = start or a non-digit before, `(?!\\d)` = end or a non-digit
    after (the same strings contain a match; which text matched is not used).
    A look-around of anything else, a back-reference or a class whose meaning differs
    (`\\D \\w \\s \\b`) is refused rather than translated wrongly.
    """
    out = re.sub(r"(?<!\\)\$(?=\)|\||$)", r"\\n?$", pattern)
    out = out.replace(r"(?<!\d)", rf"(?:^|{_NOT_DIGIT})").replace(r"(?!\d)", rf"(?:{_NOT_DIGIT}|$)")
    if re.search(r"\(\?<?[=!]|\\[1-9DwWsSbB]", out):
        raise ValueError(f"the regular expression {pattern!r} uses a construct RE2 lacks")
    return out.replace(r"\d", _DIGIT)
