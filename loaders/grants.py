"""Read-only access to a PostgreSQL store for downstream platforms (`silobridge grant-reader ROLE`).

The role gets USAGE on the store's schema, SELECT on every table and view in
it, and the same SELECT on tables and views the connected (owning) role
creates later (default privileges, e.g. the views of a future migration).
Nothing else: no INSERT/UPDATE/DELETE/TRUNCATE, no CREATE on the schema, no
sequences. The role itself is created by the database administrator (with
its password), never by silobridge.
"""

import sqlalchemy as sa


class GrantError(ValueError):
    """The grant cannot be made; the message says why and what to do."""


def grant_reader(conn: sa.Connection, role: str) -> str:
    """Grants read-only access on the connection's current schema to `role`; returns the schema's name."""
    if conn.dialect.name != "postgresql":
        raise GrantError(
            f"grant-reader {role}: read-only roles exist on a PostgreSQL store; a SQLite store is a file, so "
            "give readers read permission on it and have them open it read-only (sqlite3 -readonly, or a "
            "`file:…?mode=ro` URI)")
    if conn.execute(sa.text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).first() is None:
        raise GrantError(
            f"grant-reader {role}: there is no role {role!r} on this server; create it first, e.g. "
            f"CREATE ROLE {_quote(conn, role)} LOGIN PASSWORD '…', then run grant-reader again")
    schema = conn.execute(sa.text("SELECT current_schema()")).scalar_one()
    who, where = _quote(conn, role), _quote(conn, schema)
    for statement in (
        f"GRANT USAGE ON SCHEMA {where} TO {who}",
        f"GRANT SELECT ON ALL TABLES IN SCHEMA {where} TO {who}",  # views included
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {where} GRANT SELECT ON TABLES TO {who}",
    ):
        conn.exec_driver_sql(statement)
    return schema


def _quote(conn: sa.Connection, name: str) -> str:
    return conn.dialect.identifier_preparer.quote_identifier(name)
