"""What a user checks after feeding silobridge personal numbers: none of them is anywhere in clear.

`assert_nowhere_in_clear(store_url, numbers, texts)` looks in every text column
of every table of the store (whatever tables a migration added) and in the
given texts (captured logs, command output, report HTML) for each number, in
the spellings a source may use for it: as given, upper- and lower-case, and
with full-width digits.
"""

import sqlalchemy as sa

from loaders.engine import make_engine

_FULL_WIDTH = {c: c + 0xFEE0 for c in range(0x21, 0x7F)}


def spellings(number: str) -> set[str]:
    return {number, number.upper(), number.lower(), number.translate(_FULL_WIDTH)}


def assert_nowhere_in_clear(store_url: str, numbers, texts=()) -> None:
    wanted = {s for n in numbers for s in spellings(n)}
    engine = make_engine(store_url)
    try:
        with engine.connect() as conn:
            for table in sa.inspect(conn).get_table_names():
                for row in conn.execute(sa.text(f'SELECT * FROM "{table}"')).mappings():
                    for column, value in row.items():
                        if isinstance(value, (bytes, memoryview)):
                            value = bytes(value).decode("utf-8", "replace")
                        if isinstance(value, str):
                            found = [n for n in wanted if n in value]
                            assert not found, f"{table}.{column} holds {found[0]} in clear: {value[:200]!r}"
    finally:
        engine.dispose()
    for i, text in enumerate(texts):
        found = [n for n in wanted if n in text]
        assert not found, f"text #{i} holds {found[0]} in clear"
