"""Creates the consumer layer declared in schemas/views.py on SQLite and PostgreSQL.

Only three things differ between the backends, and they live here: the
Beijing (UTC+8, no daylight saving) wall-clock time, date and month of an
instant (UTC text on SQLite, timestamptz on PostgreSQL), and the seconds
between two instants. Everything else — the KPI conditions above all — is
portable SQL taken from schemas/views.py, so downstream SQL and the report
count alike on both.

Views hold no data: a migration that changes one calls `create_views` again
(it drops and recreates them all). A SQLite migration that rebuilds a base
table in batch mode must `drop_views` first: SQLite refuses to rename a table
that a view names.
"""

import sqlalchemy as sa

from schemas.codes import code_values
from schemas.tables import SERVICE_CASE, SERVICE_EVALUATION
from schemas.views import (CASE_JOINS, CASE_LOCAL, CASE_NAMED, COUNTERS, EVALUATION_JOINS, EVALUATION_LOCAL,
                           EVALUATION_NAMED, RATES, VIEWS, View)


class _Dialect:
    """The dialect-specific expressions; `x` is SQL yielding a stored instant."""

    def __init__(self, name: str):
        if name not in ("sqlite", "postgresql"):
            raise ValueError(f"the consumer views exist for SQLite and PostgreSQL stores, not {name}")
        self.name = name

    def local(self, x: str) -> str:
        if self.name == "sqlite":  # 'YYYY-MM-DD HH:MM:SS.ffffff+00:00' → Beijing, microseconds kept
            return f"strftime('%Y-%m-%d %H:%M:%S', substr({x}, 1, 19), '+8 hours') || substr({x}, 20, 7)"
        # An interval zone is east-positive; the text '+08:00' would be a POSIX zone, i.e. west.
        return f"({x} AT TIME ZONE INTERVAL '+08:00')"

    def day(self, x: str) -> str:
        if self.name == "sqlite":
            return f"date(substr({x}, 1, 19), '+8 hours')"
        return f"CAST({x} AT TIME ZONE INTERVAL '+08:00' AS DATE)"

    def month(self, x: str) -> str:
        if self.name == "sqlite":
            return f"strftime('%Y-%m', substr({x}, 1, 19), '+8 hours')"
        return f"to_char({x} AT TIME ZONE INTERVAL '+08:00', 'YYYY-MM')"

    def seconds_between(self, a: str, b: str) -> str:
        if self.name == "sqlite":
            return f"CAST(round((julianday({b}) - julianday({a})) * 86400) AS INTEGER)"
        return f"CAST(round(EXTRACT(EPOCH FROM ({b}) - ({a}))) AS BIGINT)"


def _named_joins(alias: str, named: dict[str, str]) -> tuple[list[str], list[str]]:
    """The name columns of coded columns and their LEFT JOINs to code_value."""
    columns, joins = [], []
    for i, (column, code_set) in enumerate(named.items()):
        n = f"n{i}"
        columns += [f"{n}.name_zh AS {column}_name", f"{n}.name_en AS {column}_name_en"]
        joins.append(f"LEFT JOIN code_value {n} ON {n}.code_set = '{code_set}' "
                     f"AND {n}.code = CAST({alias}.{column} AS TEXT)")
    return columns, joins


def _service_case(d: _Dialect) -> str:
    names, joins = _named_joins("c", CASE_NAMED)
    start = "COALESCE(c.accept_time, c.apply_time)"
    # Two look-ups by key rather than a count per case: a correlated count also makes PostgreSQL's planner
    # expect a huge cost and JIT-compile the query for seconds.
    joins += [f"LEFT JOIN calendar_day ws ON ws.day = {d.day(start)}",
              f"LEFT JOIN calendar_day wf ON wf.day = {d.day('c.finish_time')}"]
    working_days = ("CASE WHEN wf.workday_number > ws.workday_number THEN wf.workday_number - ws.workday_number "
                    "WHEN wf.day IS NOT NULL AND ws.day IS NOT NULL THEN 0 END")
    columns = [f"c.{name}" for name in SERVICE_CASE.names] + names + [
        *(f"{d.local(f'c.{x}')} AS {x}_beijing" for x in CASE_LOCAL),
        f"{d.day('c.apply_time')} AS apply_date",
        f"{d.month('c.apply_time')} AS apply_month",
        f"{working_days} AS working_days",
        f"CASE WHEN c.status = 'completed' THEN ({working_days}) <= c.promise_days END AS on_time",
    ]
    return f"SELECT {', '.join(columns)} FROM service_case c {' '.join(joins)}"


def _service_evaluation(d: _Dialect) -> str:
    names, joins = _named_joins("e", EVALUATION_NAMED)
    columns = [f"e.{name}" for name in SERVICE_EVALUATION.names] + names + [
        *(f"{d.local(f'e.{x}')} AS {x}_beijing" for x in EVALUATION_LOCAL),
        f"{d.day('e.assess_time')} AS assess_date",
        f"{d.month('e.assess_time')} AS assess_month",
    ]
    return f"SELECT {', '.join(columns)} FROM service_evaluation e {' '.join(joins)}"


def _flag(condition: str | None) -> str:
    return "1" if condition is None else f"CASE WHEN {condition} THEN 1 ELSE 0 END"


def _kpi_day(d: _Dialect) -> str:
    def counters(stream: str) -> str:
        return ", ".join(f"{_flag(c.condition) if c.stream == stream else '0'} AS {c.name}" for c in COUNTERS)

    cases = ("SELECT c.source_system, c.channel, c.apply_date AS day, c.apply_month AS month, "
             f"{counters('cases')} FROM v_service_case c {CASE_JOINS} WHERE NOT c.deleted")
    evaluations = ("SELECT e.source_system, c.channel, e.assess_date AS day, e.assess_month AS month, "
                   f"{counters('evaluations')} FROM v_service_evaluation e "
                   "LEFT JOIN service_case c ON c.case_no = e.case_no AND c.source_system = e.source_system "
                   f"AND NOT c.deleted {EVALUATION_JOINS} WHERE NOT e.deleted")
    return (f"SELECT source_system, channel, day, month, {_sums()} FROM ({cases} UNION ALL {evaluations}) f "
            "GROUP BY source_system, channel, day, month")


def _sums() -> str:
    # PostgreSQL sums integers to bigint and bigints to numeric: counters stay integers either way.
    return ", ".join(f"CAST(SUM({c.name}) AS BIGINT) AS {c.name}" for c in COUNTERS)


def _kpi_month(d: _Dialect) -> str:
    sums = _sums()
    rates = ", ".join(f"CAST(SUM({r.numerator}) AS DOUBLE PRECISION) / NULLIF(SUM({r.denominator}), 0) AS {r.name}"
                      for r in RATES)
    return (f"SELECT source_system, month, {sums}, {rates} FROM v_kpi_department_channel_day "
            "GROUP BY source_system, month")


def _applicant_departments(d: _Dialect) -> str:
    seen = "COALESCE(apply_time, source_updated_at)"
    return ("SELECT applicant_key, source_system, COUNT(*) AS cases, "
            f"MIN({seen}) AS first_seen, MAX({seen}) AS last_seen, "
            "COUNT(*) OVER (PARTITION BY applicant_key) AS departments, "
            "CAST(SUM(COUNT(*)) OVER (PARTITION BY applicant_key) AS BIGINT) AS total_cases "
            "FROM service_case WHERE applicant_key IS NOT NULL AND NOT deleted "
            "GROUP BY applicant_key, source_system")


def _bundle(d: _Dialect) -> str:
    completed = "SUM(CASE WHEN status = 'completed' THEN 1 ELSE 0 END)"
    return ("SELECT bundle_id, COUNT(*) AS cases, COUNT(DISTINCT source_system) AS departments, "
            f"{completed} AS completed_cases, {completed} = COUNT(*) AS is_complete, "
            "MIN(apply_time) AS first_apply_time, MAX(finish_time) AS last_finish_time, "
            f"CASE WHEN {completed} = COUNT(*) THEN {d.seconds_between('MIN(apply_time)', 'MAX(finish_time)')} END "
            "AS elapsed_seconds "
            "FROM service_case WHERE bundle_id IS NOT NULL AND NOT deleted GROUP BY bundle_id")


_BUILDERS = {
    "v_service_case": _service_case,
    "v_service_evaluation": _service_evaluation,
    "v_kpi_department_channel_day": _kpi_day,
    "v_kpi_department_month": _kpi_month,
    "v_applicant_departments": _applicant_departments,
    "v_bundle": _bundle,
}


def view_sql(view: View, dialect: str) -> str:
    """The SELECT of a view on a backend."""
    return _BUILDERS[view.name](_Dialect(dialect))


def create_views(conn: sa.Connection) -> None:
    """(Re)creates every view of schemas/views.py."""
    drop_views(conn)
    for view in VIEWS:
        conn.exec_driver_sql(f"CREATE VIEW {view.name} AS {view_sql(view, conn.dialect.name)}")


def drop_views(conn: sa.Connection) -> None:
    for view in reversed(VIEWS):
        conn.exec_driver_sql(f"DROP VIEW IF EXISTS {view.name}")


def fill_code_values(conn: sa.Connection) -> None:
    """Makes code_value hold exactly the codes of schemas/codes.py."""
    table = sa.table("code_value", sa.column("code_set"), sa.column("code"), sa.column("name_zh"),
                     sa.column("name_en"))
    conn.execute(table.delete())
    conn.execute(table.insert(), [dict(zip(("code_set", "code", "name_zh", "name_en"), row))
                                  for row in code_values()])


FIRST_DAY, LAST_DAY = "2000-01-01", "2049-12-31"

# Numbers every day by the working days up to and including it; run again after is_workday changes.
RENUMBER_WORKDAYS = (
    "UPDATE calendar_day SET workday_number = w.n "
    "FROM (SELECT day, SUM(CASE WHEN is_workday THEN 1 ELSE 0 END) OVER (ORDER BY day) AS n FROM calendar_day) AS w "
    "WHERE w.day = calendar_day.day")


def fill_calendar(conn: sa.Connection) -> None:
    """calendar_day from FIRST_DAY to LAST_DAY, Monday–Friday as working days (holidays are not flagged)."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(
            f"WITH RECURSIVE d(day) AS (SELECT '{FIRST_DAY}' UNION ALL SELECT date(day, '+1 day') FROM d "
            f"WHERE day < '{LAST_DAY}') INSERT INTO calendar_day (day, is_workday, workday_number) "
            "SELECT day, strftime('%w', day) NOT IN ('0', '6'), 0 FROM d")
    else:
        conn.exec_driver_sql(
            "INSERT INTO calendar_day (day, is_workday, workday_number) "
            "SELECT CAST(g AS DATE), EXTRACT(ISODOW FROM g) < 6, 0 "
            f"FROM generate_series(DATE '{FIRST_DAY}', DATE '{LAST_DAY}', INTERVAL '1 day') g")
    conn.exec_driver_sql(RENUMBER_WORKDAYS)
