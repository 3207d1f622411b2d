"""Certificate numbers over a column: normalization, the 居民身份证 and USCC checks over the digit matrix
(NumPy), masks by string kernels, and keyed pseudonyms computed once per distinct number.

Only a 居民身份证 (or, where a source sends no type, a number the contract says must be one) is upgraded
from 15 digits to 18: another certificate's 15-digit number is hashed and masked as sent.
"""

from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from transforms.columns.text import distinct, fixed_width, layout, mask_of, per_distinct_array, present, remembered
from transforms.identifiers import USCC_ALPHABET, normalize_cert
from transforms.keyed import PseudonymKey, as_pseudonym_key

_ID_WEIGHTS = np.array((7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2), dtype=np.int64)
_ID_CHECK = np.frombuffer(b"10X98765432", dtype=np.uint8)
_USCC_WEIGHTS = np.array((1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28), dtype=np.int64)
_USCC_VALUE = np.full(256, -1, dtype=np.int64)
_USCC_VALUE[np.frombuffer(USCC_ALPHABET.encode("ascii"), dtype=np.uint8)] = np.arange(len(USCC_ALPHABET))
# Shapes as the bytes allowed at each position: a byte below 0x80 is a whole character in UTF-8.
_DIGITS = np.zeros(256, dtype=bool)
_DIGITS[ord("0"): ord("9") + 1] = True
_ID_SHAPE = np.array([_DIGITS] * 17 + [_DIGITS | (np.arange(256) == ord("X"))])
_USCC_SHAPE = np.array([_USCC_VALUE >= 0] * 18)
_FIFTEEN_DIGITS = np.array([_DIGITS] * 15)
# A USCC's first two characters decide a unit's applicant type (unified-store.md); anything else is 6.
OTHER_ORG = 6
_UNIT_TYPES = np.full(1 << 16, OTHER_ORG, dtype=np.int64)
_UNIT_TYPES[[int.from_bytes(p, "big") for p in (b"11", b"12", b"51", b"52", b"53", b"91", b"92")]] = [5, 3, 4, 4, 4, 2, 7]
# Pseudonyms computed in earlier batches, per key: a deployment has one key, tests a few.
_PSEUDONYMS: dict[PseudonymKey, dict[str, str | None]] = {}
_KEYS_KEPT = 4


def normalize(numbers: pa.Array) -> pa.Array:
    """`normalize_cert` without the 15-digit upgrade, over stripped numbers: ASCII ones by `utf8_upper`,
    others (full-width digits, U+3000) by the scalar function once per distinct value."""
    upper = pc.utf8_upper(numbers)
    wide = ~mask_of(pc.string_is_ascii(numbers)) & present(numbers)
    if not wide.any():
        return upper
    rows = np.flatnonzero(wide)
    fixed = per_distinct_array(numbers, lambda v: normalize_cert(v, upgrade_15=False), pa.string(), rows)
    return pc.replace_with_mask(upper, pa.array(wide), fixed)


def upgrade_15(numbers: pa.Array, eligible: np.ndarray) -> pa.Array:
    """A 15-digit first-generation ID number → 18 ("19" after the area code, then the check character), in
    the `eligible` rows only."""
    rows, old = _shaped(numbers, _FIFTEEN_DIGITS)
    old = old[eligible[rows]]
    rows = rows[eligible[rows]]
    if not len(rows):
        return numbers
    new = np.empty((len(rows), 18), dtype=np.uint8)
    new[:, :6], new[:, 6:8], new[:, 8:17] = old[:, :6], np.frombuffer(b"19", dtype=np.uint8), old[:, 6:]
    new[:, 17] = _ID_CHECK[((new[:, :17].astype(np.int64) - 48) @ _ID_WEIGHTS) % 11]
    mask = np.zeros(len(numbers), dtype=bool)
    mask[rows] = True
    return pc.replace_with_mask(numbers, pa.array(mask), _strings(new))


def id_shaped(numbers: pa.Array) -> np.ndarray:
    out = np.zeros(len(numbers), dtype=bool)
    out[_shaped(numbers, _ID_SHAPE)[0]] = True
    return out


def valid_id_card(numbers: pa.Array, today: date) -> np.ndarray:
    """GB 11643-1999: shape, check character, a real birth date from 1900-01-01 to today (normalized input)."""
    out = np.zeros(len(numbers), dtype=bool)
    rows, m = _shaped(numbers, _ID_SHAPE)
    if not len(rows):
        return out
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
    rows, m = _shaped(numbers, _USCC_SHAPE)
    if not len(rows):
        return out
    values = _USCC_VALUE[m]
    check = (31 - (values[:, :17] @ _USCC_WEIGHTS) % 31) % 31
    out[rows] = check == values[:, 17]
    return out


def unit_types(numbers: pa.Array) -> np.ndarray:
    """applicant_type of a unit from its USCC's first two characters (ASCII: the first two bytes)."""
    offsets, data = layout(numbers)
    out = np.full(len(numbers), OTHER_ORG, dtype=np.int64)
    rows = np.flatnonzero(present(numbers) & (np.diff(offsets) >= 2))
    out[rows] = _UNIT_TYPES[fixed_width(offsets, data, rows, 2).astype(np.int64) @ np.array([256, 1])]
    return out


def pseudonyms(key: PseudonymKey | bytes, numbers: pa.Array) -> pa.Array:
    """Keyed hash of each (normalized) number, computed once per distinct number: a person recurs."""
    key = as_pseudonym_key(key)
    if key not in _PSEUDONYMS and len(_PSEUDONYMS) >= _KEYS_KEPT:
        _PSEUDONYMS.clear()
    found, indices = distinct(numbers)
    keys = remembered(found, lambda new: [h if n else None for n, h in zip(new, key.hex_texts(new))],
                      _PSEUDONYMS.setdefault(key, {}))  # an empty number has no pseudonym
    return pa.array(keys, pa.string()).take(indices)


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


def _shaped(numbers: pa.Array, shape: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows whose number has len(shape) bytes, each allowed at its position; their bytes as a matrix)."""
    offsets, data = layout(numbers)
    width = len(shape)
    rows = np.flatnonzero(present(numbers) & (np.diff(offsets) == width))
    matrix = fixed_width(offsets, data, rows, width)
    fits = np.ones(len(rows), dtype=bool)
    for at in range(width):
        fits &= shape[at][matrix[:, at]]
    return rows[fits], matrix[fits]


def _strings(matrix: np.ndarray) -> pa.Array:
    n, width = matrix.shape
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
    return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(matrix.tobytes())])
