"""Arrow columns in PostgreSQL's binary COPY format, encoded column-wise (no Python loop per row).

Every value is its type's binary wire form (what the server's receive function reads) after its length as
a 4-byte big-endian integer, -1 for NULL; a row is the field count (2 bytes) and its fields
(PostgreSQL documentation, COPY, "Binary Format"). The server stores exactly what its text input would
have stored for the same value: timestamptz is microseconds since 2000-01-01 UTC, numeric is base-10000
digits that the server normalizes (leading and trailing zero digits stripped, the scale kept).
"""

from collections.abc import Iterator
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from schemas.tables import BOOLEAN, INSTANT, INTEGER, MONEY, TEXT

HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags (no OIDs), header extension length
TRAILER = b"\xff\xff"
_NULL = pa.scalar(b"\xff\xff\xff\xff", pa.binary())
_PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01T00:00:00Z in microseconds since 1970
_MONEY_DIGITS = 5  # numeric(16,2): up to 14 integer digits in 4 base-10000 digits, then the 2 decimals in one
_NUMERIC_NEG = 0x4000
_ROWS_PER_CHUNK = 50_000  # keeps a chunk's bytes far below Arrow's 2 GiB limit of one binary array


def encode(table: pa.Table, types: list[str]) -> Iterator[bytes]:
    """The rows of `table` (columns of the logical `types`, schemas.tables) as binary COPY tuples, in chunks.

    Send HEADER first and TRAILER last.
    """
    count = pa.scalar(len(types).to_bytes(2, "big"), pa.binary())
    for batch in table.to_batches(max_chunksize=_ROWS_PER_CHUNK):
        if not batch.num_rows:
            continue
        fields = [_field(batch.column(i), logical) for i, logical in enumerate(types)]
        rows = pc.binary_join_element_wise(count, *fields, pa.scalar(b"", pa.binary()))
        offsets = np.frombuffer(rows.buffers()[1], np.int32)[rows.offset:rows.offset + len(rows) + 1]
        yield rows.buffers()[2][offsets[0]:offsets[-1]].to_pybytes()


def _field(column: pa.Array, logical: str) -> pa.Array:
    """Each value of `column` as length + wire form, NULL as length -1."""
    if logical == TEXT:
        payload = column.cast(pa.binary())
        lengths = pc.binary_length(payload).fill_null(0).to_numpy(zero_copy_only=False).astype(">i4")
        field = pc.binary_join_element_wise(_fixed(lengths.view("V4")), payload, pa.scalar(b"", pa.binary()))
    elif logical == INTEGER:
        field = _fixed(_with_length(column.fill_null(0).to_numpy().astype(">i8")))
    elif logical == BOOLEAN:
        field = _fixed(_with_length(column.fill_null(False).to_numpy(zero_copy_only=False).astype("u1")))
    elif logical == INSTANT:
        micros = column.cast(pa.int64()).fill_null(0).to_numpy()
        field = _fixed(_with_length((micros - _PG_EPOCH_US).astype(">i8")))
    elif logical == MONEY:
        field = _fixed(_with_length(_numeric_2(column)))
    else:
        raise ValueError(f"no binary COPY form for {logical} values")
    return pc.if_else(column.is_null(), _NULL, field) if column.null_count else field


def _numeric_2(column: pa.Array) -> np.ndarray:
    """decimal(16,2) values as numeric's wire form: ndigits, weight, sign, dscale, then base-10000 digits."""
    # The unscaled integer (cents) of each decimal: its low 8 bytes, as |value| < 10**16 fits in them.
    filled = column.fill_null(pa.scalar(Decimal(0), column.type))
    words = np.frombuffer(filled.buffers()[1], "<i8")[2 * filled.offset:2 * (filled.offset + len(filled))]
    cents = words[::2]
    magnitude = np.abs(cents)
    whole = magnitude // 100
    wire = np.empty(len(cents), [("head", ">i2", 4), ("digits", ">i2", _MONEY_DIGITS)])
    wire["head"] = (_MONEY_DIGITS, _MONEY_DIGITS - 2, 0, 2)
    wire["head"][:, 2] = np.where(cents < 0, _NUMERIC_NEG, 0)
    for i, power in enumerate((10**12, 10**8, 10**4, 1)):
        wire["digits"][:, i] = whole // power % 10_000
    wire["digits"][:, 4] = magnitude % 100 * 100
    return wire


def _with_length(values: np.ndarray) -> np.ndarray:
    """Fixed-width wire values, each after its length."""
    width = values.dtype.itemsize
    out = np.empty(len(values), [("length", ">i4"), ("value", values.dtype)])
    out["length"] = width
    out["value"] = values
    return out


def _fixed(values: np.ndarray) -> pa.Array:
    """A NumPy array of fixed-width records as an Arrow binary array of their bytes (one copy)."""
    width = values.dtype.itemsize
    data = pa.py_buffer(np.ascontiguousarray(values).view(np.uint8))
    return pa.FixedSizeBinaryArray.from_buffers(pa.binary(width), len(values), [None, data]).cast(pa.binary())
