"""Certificate numbers over a column: normalization, the 居民身份证 and USCC checks over the digit matrix
(NumPy), masks by string kernels, and keyed pseudonyms computed once per distinct number.

Only a 居民身份证 (or, where a source sends no type, a number the contract says must be one) is upgraded
from 15 digits to 18: another certificate's 15-digit number is hashed and masked as sent.
"""

from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from transforms.columns.text import per_distinct_array
from transforms.identifiers import USCC_ALPHABET, normalize_cert
from transforms.keyed import PseudonymKey, as_pseudonym_key
from transforms.pii import mask_id_card, mask_other_cert, value_shape

_ID_WEIGHTS = np.array((7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2), dtype=np.int64)
_ID_CHECK = np.frombuffer(b"10X98765432", dtype=np.uint8)
_USCC_WEIGHTS = np.array((1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28), dtype=np.int64)
_USCC_VALUE = np.full(256, -1, dtype=np.int64)
_USCC_VALUE[np.frombuffer(USCC_ALPHABET.encode("ascii"), dtype=np.uint8)] = np.arange(len(USCC_ALPHABET))
_USCC_ALPHABET = np.frombuffer(USCC_ALPHABET.encode("ascii"), dtype=np.uint8)
_ID_SHAPE = "^[0-9]{17}[0-9X]$"
_USCC_SHAPE = f"^[{USCC_ALPHABET}]{{18}}$"
_FIFTEEN_DIGITS = "^[0-9]{15}$"
# A USCC's first two characters decide a unit's applicant type (unified-store.md); anything else is 6.
_UNIT_PREFIXES = pa.array(["11", "12", "51", "52", "53", "91", "92"])
_UNIT_TYPES = np.array([5, 3, 4, 4, 4, 2, 7, 6], dtype=np.int64)
OTHER_ORG = 6
# Pseudonyms computed in earlier batches, per key: a deployment has one key, tests a few.
_PSEUDONYMS: dict[PseudonymKey, dict[str, str | None]] = {}
_KEYS_KEPT = 4


def normalize(numbers: pa.Array) -> pa.Array:
    """`normalize_cert` without the 15-digit upgrade, over stripped numbers: ASCII ones by `utf8_upper`,
    others (full-width digits, U+3000) by the scalar function once per distinct value."""
    upper = pc.utf8_upper(numbers)
    wide = ~_mask(pc.string_is_ascii(numbers)) & numbers.is_valid().to_numpy(zero_copy_only=False)
    if not wide.any():
        return upper
    rows = np.flatnonzero(wide)
    fixed = per_distinct_array(numbers, lambda v: normalize_cert(v, upgrade_15=False), pa.string(), rows)
    return pc.replace_with_mask(upper, pa.array(wide), fixed)


def upgrade_15(numbers: pa.Array, eligible: np.ndarray) -> pa.Array:
    """A 15-digit first-generation ID number → 18 ("19" after the area code, then the check character), in
    the `eligible` rows only."""
    rows = np.flatnonzero(eligible & _matches(numbers, _FIFTEEN_DIGITS))
    if not len(rows):
        return numbers
    old = _matrix(numbers.take(pa.array(rows)), 15)
    new = np.empty((len(rows), 18), dtype=np.uint8)
    new[:, :6], new[:, 6:8], new[:, 8:17] = old[:, :6], np.frombuffer(b"19", dtype=np.uint8), old[:, 6:]
    new[:, 17] = _ID_CHECK[((new[:, :17].astype(np.int64) - 48) @ _ID_WEIGHTS) % 11]
    mask = np.zeros(len(numbers), dtype=bool)
    mask[rows] = True
    return pc.replace_with_mask(numbers, pa.array(mask), _strings(new))


def id_shaped(numbers: pa.Array) -> np.ndarray:
    return _matches(numbers, _ID_SHAPE)


def valid_id_card(numbers: pa.Array, today: date) -> np.ndarray:
    """GB 11643-1999: shape, check character, a real birth date from 1900-01-01 to today (normalized input)."""
    out = np.zeros(len(numbers), dtype=bool)
    rows = np.flatnonzero(id_shaped(numbers))
    if not len(rows):
        return out
    m = _matrix(numbers.take(pa.array(rows)), 18)
    digits = m[:, :17].astype(np.int64) - 48
    ok = _ID_CHECK[(digits @ _ID_WEIGHTS) % 11] == m[:, 17]
    year = digits[:, 6] * 1000 + digits[:, 7] * 100 + digits[:, 8] * 10 + digits[:, 9]
    month, day = digits[:, 10] * 10 + digits[:, 11], digits[:, 12] * 10 + digits[:, 13]
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    days = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])[np.clip(month, 0, 12)] + (leap & (month == 2))
    born = year * 10000 + month * 100 + day
    ok &= (month >= 1) & (month <= 12) & (day >= 1) & (day <= days)
    ok &= (born >= 19000101) & (born <= today.year * 10000 + today.month * 100 + today.day)
    out[rows] = ok
    return out


def valid_uscc(numbers: pa.Array) -> np.ndarray:
    """GB 32100-2015: 18 characters of the alphabet and the check character (normalized input)."""
    out = np.zeros(len(numbers), dtype=bool)
    rows = np.flatnonzero(_matches(numbers, _USCC_SHAPE))
    if not len(rows):
        return out
    values = _USCC_VALUE[_matrix(numbers.take(pa.array(rows)), 18)]
    check = (31 - (values[:, :17] @ _USCC_WEIGHTS) % 31) % 31
    out[rows] = check == values[:, 17]
    return out


def unit_types(numbers: pa.Array) -> np.ndarray:
    """applicant_type of a unit from its USCC's first two characters."""
    found = pc.fill_null(pc.index_in(pc.utf8_slice_codeunits(numbers, 0, 2), value_set=_UNIT_PREFIXES),
                         len(_UNIT_PREFIXES))
    return _UNIT_TYPES[found.to_numpy(zero_copy_only=False)]


def pseudonyms(key: PseudonymKey | bytes, numbers: pa.Array) -> pa.Array:
    """Keyed hash of each (normalized) number, computed once per distinct number: a person recurs."""
    key = as_pseudonym_key(key)
    if key not in _PSEUDONYMS and len(_PSEUDONYMS) >= _KEYS_KEPT:
        _PSEUDONYMS.clear()
    return per_distinct_array(numbers, lambda v: key.hex(v.encode("utf-8")) if v else None, pa.string(),
                              memo=_PSEUDONYMS.setdefault(key, {}))


def mask_ids(numbers: pa.Array) -> pa.Array:
    """`340603********123X` for 18-character numbers."""
    return pc.binary_join_element_wise(pc.utf8_slice_codeunits(numbers, 0, 6), "*" * 8,
                                       pc.utf8_slice_codeunits(numbers, 14, 18), "")


def mask_others(numbers: pa.Array) -> pa.Array:
    """First 2 and last 2 characters kept, one `*` per hidden one; 4 characters or fewer all `*`."""
    length = pc.utf8_length(numbers)
    short = pc.less_equal(length, 4)
    hidden = pc.binary_repeat("*", pc.max_element_wise(pc.subtract(length, 4), 0))
    kept = pc.binary_join_element_wise(pc.utf8_slice_codeunits(numbers, 0, 2), hidden,
                                       pc.utf8_slice_codeunits(numbers, -2), "")
    return pc.if_else(short, pc.binary_repeat("*", length), kept)


def shown_cert(number: str) -> str:
    """A normalized number that failed its check, as a message may show it: with the contract's mask when it
    has an ID number's or a USCC's shape, else by its shape alone (a name typed into the field stays hidden).
    Nothing is upgraded here: the number is shown as its type normalized it."""
    one = pa.array([number], pa.string())
    if id_shaped(one)[0]:
        return mask_id_card(number)
    if _matches(one, _USCC_SHAPE)[0]:
        return mask_other_cert(number)
    return value_shape(number)


def _mask(values: pa.Array) -> np.ndarray:
    return pc.fill_null(values, False).to_numpy(zero_copy_only=False)


def _matches(values: pa.Array, pattern: str) -> np.ndarray:
    return _mask(pc.match_substring_regex(values, pattern))


def _matrix(values: pa.Array, width: int) -> np.ndarray:
    """Values all exactly `width` bytes long and not NULL as an (n, width) byte matrix."""
    values = pa.concat_arrays([values]) if values.offset else values
    offsets = np.frombuffer(values.buffers()[1], dtype=np.int32)[: len(values) + 1]
    data = np.frombuffer(values.buffers()[2], dtype=np.uint8)
    return data[offsets[0]: offsets[0] + width * len(values)].reshape(len(values), width)


def _strings(matrix: np.ndarray) -> pa.Array:
    n, width = matrix.shape
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
    return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(matrix.tobytes())])
