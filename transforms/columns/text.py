"""Trimming, the contracts' NULL spellings, text the store cannot keep, and per-distinct fallbacks."""

from collections.abc import Callable
from itertools import repeat

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# What Python's str.strip() removes (none is above U+3000): the value of each one's UTF-8 bytes read as a
# big-endian number, by their count. A value starting or ending with one is stripped by str.strip() itself.
_PY_SPACE = [c for c in map(chr, range(0x3001)) if c.isspace()]
_SPACE_BYTES = {k: np.array(sorted(int.from_bytes(c.encode("utf-8"), "big") for c in _PY_SPACE
                                   if len(c.encode("utf-8")) == k), dtype=np.int64) for k in (1, 2, 3)}
_SPACE_1 = np.isin(np.arange(256), _SPACE_BYTES[1]).tobytes()
_SPACE_LEAD = {k: np.isin(np.arange(256), _SPACE_BYTES[k] >> 8 * (k - 1)).tobytes() for k in (2, 3)}
_SPACE_END = {k: np.isin(np.arange(256), _SPACE_BYTES[k] & 0xFF).tobytes() for k in (2, 3)}
_MEMO_LIMIT = 1 << 16
_NULL_WORDS = np.frombuffer(b"nullNULL", dtype="<u4")


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
    values = unsliced(values)
    edged = present(values) & _edge_space(*layout(values))
    if edged.any():
        rows = np.flatnonzero(edged)
        stripped = [v.strip() for v in values.take(pa.array(rows)).to_numpy(zero_copy_only=False).tolist()]
        values = pc.replace_with_mask(values, pa.array(edged), pa.array(stripped, pa.string()))
    offsets, data = layout(values)
    valid = present(values)
    lengths = np.diff(offsets)
    blank = valid & (lengths == 0)
    four = np.flatnonzero(valid & (lengths == 4))
    if len(four):
        word = fixed_width(offsets, data, four, 4).copy().view("<u4")[:, 0]
        blank[four[np.isin(word, _NULL_WORDS)]] = True
    if not blank.any():
        return values
    validity = pa.py_buffer(np.packbits(valid & ~blank, bitorder="little"))
    return pa.Array.from_buffers(pa.string(), len(values), [validity, *values.buffers()[1:]])


def holds_nul(values: pa.Array) -> np.ndarray:
    """U+0000, which PostgreSQL refuses in text (an Arrow string can hold no lone surrogate)."""
    offsets, data = layout(values)
    out = np.zeros(len(values), dtype=bool)
    if not len(values):
        return out
    at = np.flatnonzero(data[offsets[0]: offsets[-1]] == 0) + offsets[0]
    out[np.searchsorted(offsets, at, side="right") - 1] = True
    return out & present(values)


def per_distinct(values: pa.Array, fn: Callable, rows: np.ndarray | None = None) -> list:
    """fn applied once per distinct value (NULL included) of `values`, or of its `rows`; one result per row."""
    if rows is not None:
        values = values.take(pa.array(rows, pa.int64()))
    encoded = values.dictionary_encode(null_encoding="encode")
    results = [fn(v) for v in encoded.dictionary.to_numpy(zero_copy_only=False).tolist()]
    indices = encoded.indices.to_numpy(zero_copy_only=False)
    table = np.empty(len(results), dtype=object)
    table[:] = results
    return table[indices].tolist() if len(indices) else []


def distinct(values: pa.Array, rows: np.ndarray | None = None) -> tuple[list, pa.Array]:
    """(the distinct values of `values`, or of its `rows`, NULL left out; each row's index into them, NULL
    for NULL)."""
    if rows is not None:
        values = values.take(pa.array(rows, pa.int64()))
    encoded = values.dictionary_encode()
    return encoded.dictionary.to_numpy(zero_copy_only=False).tolist(), encoded.indices


def per_distinct_array(values: pa.Array, fn: Callable, type_: pa.DataType, rows: np.ndarray | None = None,
                       memo: dict | None = None) -> pa.Array:
    """fn applied once per distinct value of `values`, or of its `rows`, as an array of `type_`; NULL stays
    NULL. `memo`: results kept from earlier batches, for an `fn` whose result depends on its argument alone
    (people recur from one batch to the next)."""
    found, indices = distinct(values, rows)
    results = [fn(v) for v in found] if memo is None else remembered(found, lambda new: list(map(fn, new)), memo)
    return pa.array(results, type_).take(indices)


def remembered(found: list, compute: Callable[[list], list], memo: dict) -> list:
    """The result of each value, from `memo` where an earlier batch computed it, by `compute` (all the values
    not in the memo → their results) for the rest; the memo starts over when full."""
    if len(memo) > _MEMO_LIMIT:
        memo.clear()
    out = list(map(memo.get, found, repeat(memo)))  # the memo itself where it has none: no result can be it
    new = [at for at, result in enumerate(out) if result is memo]
    for at, result in zip(new, compute([found[at] for at in new])):
        out[at] = memo[found[at]] = result
    return out


def mask_of(values: pa.Array) -> np.ndarray:
    """A boolean column as a NumPy mask, NULL as False."""
    if values.null_count == len(values):
        return np.zeros(len(values), dtype=bool)
    bits = _bits(values.buffers()[1], values.offset, len(values))
    return bits & present(values) if values.null_count else bits


def present(values: pa.Array) -> np.ndarray:
    """The rows that are not NULL, from the validity bitmap (no kernel call: a page of 100 records reads
    this for every field)."""
    n = len(values)
    if not values.null_count:
        return np.ones(n, dtype=bool)
    if values.null_count == n:
        return np.zeros(n, dtype=bool)
    return _bits(values.buffers()[0], values.offset, n)


def ints_or(values: pa.Array, default: int) -> np.ndarray:
    """An int32 column as int64, `default` where it is NULL."""
    numbers = np.frombuffer(values.buffers()[1], dtype=np.int32)[values.offset: values.offset + len(values)]
    return np.where(present(values), numbers, default).astype(np.int64)


def _bits(bitmap: pa.Buffer, offset: int, n: int) -> np.ndarray:
    return np.unpackbits(np.frombuffer(bitmap, dtype=np.uint8), count=offset + n, bitorder="little")[offset:].view(bool)


def _edge_space(offsets: np.ndarray, data: np.ndarray) -> np.ndarray:
    """Values whose first or last character is one str.strip() removes. A k-byte character starts with a
    lead byte only k-byte characters have: the values whose first byte is the lead byte of a k-byte space,
    or whose last byte ends one and whose byte k before the end leads one, are then compared k bytes whole."""
    n = len(offsets) - 1
    if not len(data):
        return np.zeros(n, dtype=bool)
    lengths = np.diff(offsets)
    some = lengths > 0
    first = data[np.minimum(offsets[:-1], len(data) - 1)].tobytes()
    last = data[offsets[1:] - 1].tobytes()  # -1 for an empty first value: any byte, masked by `some`
    out = some & (_byte_class(first, _SPACE_1) | _byte_class(last, _SPACE_1))
    for k in (2, 3):
        rows = np.flatnonzero(some & (lengths >= k) & _byte_class(first, _SPACE_LEAD[k]))
        out[rows[_is_space(data, offsets[rows], k)]] = True
        rows = np.flatnonzero(some & (lengths >= k) & _byte_class(last, _SPACE_END[k]))
        rows = rows[_byte_class(data[offsets[rows + 1] - k].tobytes(), _SPACE_LEAD[k])]
        out[rows[_is_space(data, offsets[rows + 1] - k, k)]] = True
    return out


def _byte_class(values: bytes, table: bytes) -> np.ndarray:
    """table[b] for each byte b, as booleans (bytes.translate: far faster than NumPy's fancy indexing)."""
    return np.frombuffer(values.translate(table), dtype=bool)


def _is_space(data: np.ndarray, at: np.ndarray, k: int) -> np.ndarray:
    if not len(at):
        return np.zeros(0, dtype=bool)
    code = np.zeros(len(at), dtype=np.int64)
    for j in range(k):
        code = code << 8 | data[at + j]
    return np.isin(code, _SPACE_BYTES[k])


def layout(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, n + 1 of them, as int64; the data bytes) of a string array, for byte-level checks in NumPy.
    A NULL slot's bytes are whatever the array holds there: mask them with `present`."""
    n = len(values)
    offsets = np.frombuffer(values.buffers()[1], dtype=np.int32)[values.offset: values.offset + n + 1].astype(np.int64)
    data = values.buffers()[2]
    return offsets, np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, dtype=np.uint8)


def fixed_width(offsets: np.ndarray, data: np.ndarray, rows: np.ndarray, width: int) -> np.ndarray:
    """The bytes of `rows`, each exactly `width` bytes long, as a (rows, width) matrix."""
    if len(data) < width:
        return np.zeros((0, width), dtype=np.uint8)
    # Every run of `width` bytes as a row of a view: picking the rows copies whole runs, not single bytes.
    runs = np.lib.stride_tricks.as_strided(data, shape=(len(data) - width + 1, width), strides=(1, 1))
    return runs[offsets[rows]]
