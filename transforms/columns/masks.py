"""Masks of names, phone numbers and free text over a column: string kernels for the plain spellings,
the scalar masker (transforms.pii) for the rest, once per distinct value."""

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from transforms.columns.text import distinct, mask_of, per_distinct_array, present, remembered
from transforms.pii import is_phone_number, mask_free_text, mask_person_name, mask_phone

# A name all of CJK ideographs or all of ASCII letters: no separator to keep in place, every character counts.
_PLAIN_NAME = r"^(?:[\x{4e00}-\x{9fff}]+|[A-Za-z]+)$"
_MOBILE = r"^1[3-9][0-9]{9}$"
# Free text without any decimal digit holds no number to mask.
_DIGIT = r"\p{Nd}"
# Masks computed in earlier batches: an applicant recurs.
_NAMES: dict[str, str] = {}
_PHONES: dict[str, tuple[str, bool]] = {}


def mask_names(names: pa.Array, personal: np.ndarray) -> pa.Array:
    """Personal names masked (`张*`, `欧阳**`, `买买*·**`), the others as they are."""
    length = pc.utf8_length(names)
    keep = pc.if_else(pc.less_equal(length, 1), 0, pc.if_else(pc.less_equal(length, 3), 1, 2))
    plain = pc.binary_join_element_wise(_head(names, keep), pc.binary_repeat("*", pc.subtract(length, keep)), "")
    fancy = personal & present(names) & ~_matches(names, _PLAIN_NAME)
    masked = plain
    if fancy.any():
        rows = np.flatnonzero(fancy)
        masked = pc.replace_with_mask(plain, pa.array(fancy),
                                      per_distinct_array(names, mask_person_name, pa.string(), rows, _NAMES))
    return pc.if_else(pa.array(personal), masked, names)


def phones(values: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """(masked phone numbers, mask of the ones that are neither a mobile nor a landline with its area code)."""
    mobile = _matches(values, _MOBILE)
    masked = pc.binary_join_element_wise(pc.utf8_slice_codeunits(values, 0, 3), "****",
                                         pc.utf8_slice_codeunits(values, 7), "")
    malformed = np.zeros(len(values), dtype=bool)
    other = ~mobile & present(values)
    if other.any():
        rows = np.flatnonzero(other)
        found, indices = distinct(values, rows)
        both = remembered(found, lambda new: [(mask_phone(v), not is_phone_number(v)) for v in new], _PHONES)
        masked = pc.replace_with_mask(masked, pa.array(other), pa.array([b[0] for b in both], pa.string()).take(indices))
        malformed[rows] = np.array([b[1] for b in both], dtype=bool)[indices.to_numpy()]
    return masked, malformed


def mask_texts(values: pa.Array) -> pa.Array:
    """ID and mobile numbers inside free text masked (`mask_free_text`); text without digits as it is."""
    digits = _matches(values, _DIGIT)
    if not digits.any():
        return values
    rows = np.flatnonzero(digits)
    return pc.replace_with_mask(values, pa.array(digits), per_distinct_array(values, mask_free_text, pa.string(), rows))


def _head(values: pa.Array, keep: pa.Array) -> pa.Array:
    """The first `keep` (0, 1 or 2) characters of each value."""
    return pc.if_else(pc.equal(keep, 0), "", pc.if_else(pc.equal(keep, 1), pc.utf8_slice_codeunits(values, 0, 1),
                                                          pc.utf8_slice_codeunits(values, 0, 2)))


def _matches(values: pa.Array, pattern: str) -> np.ndarray:
    return mask_of(pc.match_substring_regex(values, pattern))
