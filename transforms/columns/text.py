"""Trimming, the contracts' NULL spellings, text the store cannot keep, and per-distinct fallbacks."""

from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# Python's str.strip() removes exactly these; RE2's \s knows only the ASCII ones.
_PY_SPACE = "\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_EDGE_SPACE = f"^[{_PY_SPACE}]|[{_PY_SPACE}]$"
_NULL_TOKENS = pa.array(["", "null", "NULL"])


def as_text(column: pa.Array | pa.ChunkedArray | None, n: int) -> pa.Array:
    """A raw column as one string array; a column the batch lacks is all NULL (the contracts' null rule)."""
    if column is None:
        return pa.nulls(n, pa.string())
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    return unsliced(column if column.type == pa.string() else column.cast(pa.string()))


def unsliced(values: pa.Array) -> pa.Array:
    """A string array whose data starts at offset 0: pyarrow 22's `if_else` misreads a sliced string array's
    offsets (garbage bytes in the result), and a batch may be a slice of a larger one."""
    return pa.concat_arrays([values]) if values.offset else values


def strip_null(values: pa.Array) -> pa.Array:
    """`null_if_blank` over a column: stripped as str.strip() strips, NULL for "", null, NULL."""
    edged = pc.fill_null(pc.match_substring_regex(values, _EDGE_SPACE), False)
    if pc.any(edged).as_py():
        rows = np.flatnonzero(edged.to_numpy(zero_copy_only=False))
        stripped = [v.strip() for v in values.take(pa.array(rows)).to_pylist()]
        values = pc.replace_with_mask(values, edged, pa.array(stripped, pa.string()))
    return pc.if_else(pc.is_in(values, value_set=_NULL_TOKENS), pa.scalar(None, pa.string()), values)


def holds_nul(values: pa.Array) -> np.ndarray:
    """U+0000, which PostgreSQL refuses in text (an Arrow string can hold no lone surrogate)."""
    return pc.fill_null(pc.match_substring(values, "\x00"), False).to_numpy(zero_copy_only=False)


def per_distinct(values: pa.Array, fn: Callable, rows: np.ndarray | None = None) -> list:
    """fn applied once per distinct value (NULL included) of `values`, or of its `rows`; one result per row."""
    if rows is not None:
        values = values.take(pa.array(rows, pa.int64()))
    encoded = values.dictionary_encode(null_encoding="encode")
    results = [fn(v) for v in encoded.dictionary.to_pylist()]
    indices = encoded.indices.to_numpy(zero_copy_only=False)
    table = np.empty(len(results), dtype=object)
    table[:] = results
    return table[indices].tolist() if len(indices) else []


def mask_of(values: pa.Array) -> np.ndarray:
    """A boolean column as a NumPy mask, NULL as False."""
    return pc.fill_null(values, False).to_numpy(zero_copy_only=False)


def present(values: pa.Array) -> np.ndarray:
    return values.is_valid().to_numpy(zero_copy_only=False)


def layout(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, n + 1 of them, as int64; the data bytes) of a string array, for byte-level checks in NumPy.
    A NULL slot's bytes are whatever the array holds there: mask them with `present`."""
    n = len(values)
    offsets = np.frombuffer(values.buffers()[1], dtype=np.int32)[values.offset: values.offset + n + 1].astype(np.int64)
    data = values.buffers()[2]
    return offsets, np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, dtype=np.uint8)


def fixed_width(offsets: np.ndarray, data: np.ndarray, rows: np.ndarray, width: int) -> np.ndarray:
    """The bytes of `rows`, each exactly `width` bytes long, as a (rows, width) matrix."""
    return data[offsets[rows][:, None] + np.arange(width)]
