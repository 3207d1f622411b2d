"""Arrow schemas derived from the declaration in schemas/tables.py."""

import pyarrow as pa

from schemas.tables import BLOB, BOOLEAN, INSTANT, INTEGER, MONEY, STREAM_TABLES, TEXT, Table

_TYPES = {
    TEXT: pa.string(),
    INTEGER: pa.int64(),
    BOOLEAN: pa.bool_(),
    INSTANT: pa.timestamp("us", tz="UTC"),
    MONEY: pa.decimal128(16, 2),
    BLOB: pa.binary(),
}

# Set by the loader when a row is written, not by transforms.
LOADER_COLUMNS = ("loaded_at", "run_id")


def arrow_schema(table: Table, exclude: tuple[str, ...] = ()) -> pa.Schema:
    return pa.schema(
        [pa.field(c.name, _TYPES[c.type], nullable=c.nullable) for c in table.columns if c.name not in exclude]
    )


# What a transform hands to the loader for each stream.
UNIFIED_BATCH_SCHEMAS = {stream: arrow_schema(t, LOADER_COLUMNS) for stream, t in STREAM_TABLES.items()}
