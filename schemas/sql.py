"""SQLAlchemy tables derived from the declaration in schemas/tables.py.

SQLite has no timezone-aware timestamp and no exact decimal, so instants are
stored there as fixed-width UTC text (`2023-07-05 02:03:00.000000+00:00`,
which sorts chronologically) and money as text with two decimals; PostgreSQL
uses timestamptz and numeric(16,2). Either way a value reads back exactly as
it was written.
"""

import json
from collections.abc import Iterable
from datetime import datetime, timezone
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator

from schemas.tables import BLOB, BOOLEAN, DATE, INSTANT, INTEGER, MONEY, TABLES, TEXT, Column, Table

INSTANT_TEXT_FORMAT = "%Y-%m-%d %H:%M:%S.%f+00:00"


def key_in_list(sqlite: bool, column: str) -> str:
    """SQL true when `column` is one of the keys bound as `:keys` (see key_list): one statement for a whole
    batch, each key a probe of the column's index, with no bind-parameter limit to chunk around."""
    if sqlite:
        return f"{column} IN (SELECT value FROM json_each(:keys))"
    return f"{column} IN (SELECT json_array_elements_text(CAST(:keys AS json)))"


def key_list(keys: Iterable[str]) -> str:
    """The value for `:keys`: one JSON array, which both stores unpack (encoding it is a single C call, where
    a PostgreSQL array parameter is dumped key by key in Python).

    A key no store can hold is left out, so that raw keys looked up before their record is checked never
    fail the statement: one with a NUL character or a byte that was not UTF-8 (a lone surrogate).
    """
    return json.dumps(sorted({k for k in keys if "\x00" not in k and is_utf8(k)}), ensure_ascii=False)


def is_utf8(text: str) -> bool:
    """False for text holding a lone surrogate (a byte that was not UTF-8, kept by surrogateescape)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class Instant(TypeDecorator):
    """A timezone-aware UTC instant on every backend."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.String(32))
        return dialect.type_descriptor(sa.DateTime(timezone=True))

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the store keeps timezone-aware instants only")
        value = value.astimezone(timezone.utc)
        return value.strftime(INSTANT_TEXT_FORMAT) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if isinstance(value, str):
            return datetime.fromisoformat(value)
        return value.astimezone(timezone.utc)


class Money(TypeDecorator):
    """A decimal with exactly two places on every backend."""

    impl = sa.Numeric(16, 2)
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.String(24))
        return dialect.type_descriptor(sa.Numeric(16, 2, asdecimal=True))

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        value = Decimal(value).quantize(Decimal("0.01"))
        return str(value) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        return None if value is None else Decimal(value).quantize(Decimal("0.01"))


_TYPES = {
    TEXT: sa.Text,
    INTEGER: sa.Integer,
    BOOLEAN: sa.Boolean,
    INSTANT: Instant,
    MONEY: Money,
    BLOB: sa.LargeBinary,
    DATE: sa.Date,  # SQLite: ISO text YYYY-MM-DD, which sorts and compares as dates
}

metadata = sa.MetaData()


def _column(c: Column) -> sa.Column:
    return sa.Column(
        c.name,
        _TYPES[c.type](),
        primary_key=c.key,
        nullable=c.nullable,
        autoincrement=c.autoincrement if c.key else False,
        comment=c.doc,
    )


def _table(t: Table) -> sa.Table:
    table = sa.Table(t.name, metadata, *(_column(c) for c in t.columns), comment=t.doc)
    for cols in t.indexes:
        sa.Index(f"ix_{t.name}_{'_'.join(cols)}", *(table.c[c] for c in cols))
    return table


sql_tables: dict[str, sa.Table] = {t.name: _table(t) for t in TABLES}
