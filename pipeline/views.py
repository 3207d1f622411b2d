"""Read-only views of the store for the command line: runs, watermarks, quarantine."""

import sqlalchemy as sa

from schemas.sql import sql_tables

run, mark, reject = sql_tables["etl_run"], sql_tables["etl_watermark"], sql_tables["etl_reject"]


def _rows(engine: sa.Engine, query) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]


def watermarks(engine: sa.Engine) -> list[dict]:
    """Every committed position with its value: one per API stream (window end) and exchange table (cursor),
    one per file or batch of a file source."""
    return _rows(engine, sa.select(
        mark.c.source, mark.c.stream, mark.c.position, mark.c.value, mark.c.outcome, mark.c.run_id,
        mark.c.updated_at.label("committed_at"),
    ).order_by(mark.c.source, mark.c.stream, mark.c.updated_at, mark.c.position))


def last_runs(engine: sa.Engine, per_source: int = 3) -> list[dict]:
    ranked = sa.select(
        run.c.source, run.c.stream, run.c.run_id, run.c.status, run.c.started_at, run.c.extracted, run.c.inserted,
        run.c.updated, run.c.unchanged, run.c.quarantined, run.c.duplicates, run.c.failure_reason,
        sa.func.dense_rank().over(partition_by=run.c.source, order_by=run.c.started_at.desc()).label("n"),
    ).subquery()
    return [
        {k: v for k, v in r.items() if k != "n"}
        for r in _rows(engine, sa.select(ranked).where(ranked.c.n <= per_source)
                       .order_by(ranked.c.source, ranked.c.started_at.desc(), ranked.c.stream))
    ]


def rejects(engine: sa.Engine, source: str | None, reason: str | None, limit: int | None) -> tuple[list[dict], int]:
    """The newest `limit` quarantined records (all with None) matching the filters, and how many match."""
    # The stored detail never holds clear personal data; the raw record stays encrypted.
    query = sa.select(reject.c.reject_id, reject.c.created_at, reject.c.source, reject.c.stream, reject.c.kind,
                      reject.c.location, reject.c.record_key, reject.c.reason, reject.c.detail, reject.c.replay_outcome)
    count = sa.select(sa.func.count()).select_from(reject)
    for column, value in ((reject.c.source, source), (reject.c.reason, reason)):
        if value:
            query, count = query.where(column == value), count.where(column == value)
    with engine.connect() as conn:
        total = conn.execute(count).scalar_one()
    return _rows(engine, query.order_by(reject.c.reject_id.desc()).limit(limit)), total


def run_totals(engine: sa.Engine) -> list[dict]:
    counts = ("extracted", "inserted", "updated", "unchanged", "quarantined", "duplicates")
    return _rows(engine, sa.select(
        run.c.source, run.c.stream,
        sa.func.count().label("runs"),
        sa.func.sum(sa.case((run.c.status == "failed", 1), else_=0)).label("failed"),
        *(sa.func.sum(run.c[c]).label(c) for c in counts),
    ).group_by(run.c.source, run.c.stream).order_by(run.c.source, run.c.stream))


def reject_reasons(engine: sa.Engine) -> list[dict]:
    return _rows(engine, sa.select(
        reject.c.source, reject.c.stream, reject.c.kind, reject.c.reason, sa.func.count().label("count"),
    ).group_by(reject.c.source, reject.c.stream, reject.c.kind, reject.c.reason)
        .order_by(reject.c.source, reject.c.stream, sa.func.count().desc()))


def table_counts(engine: sa.Engine) -> list[dict]:
    rows = []
    for name in ("service_case", "service_evaluation"):
        t = sql_tables[name]
        rows += [{"table": name, **r} for r in _rows(engine, sa.select(
            t.c.source_system, sa.func.count().label("rows"),
            sa.func.sum(sa.case((t.c.deleted, 1), else_=0)).label("deleted"),
        ).group_by(t.c.source_system).order_by(t.c.source_system))]
    return rows


def cross_department_applicants(engine: sa.Engine) -> int:
    """How many applicants (by pseudonym) the store holds cases of from two or more departments."""
    case = sql_tables["service_case"]
    shared = (sa.select(case.c.applicant_key).where(case.c.applicant_key.is_not(None))
              .group_by(case.c.applicant_key).having(sa.func.count(sa.distinct(case.c.source_system)) >= 2))
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(shared.subquery())).scalar_one()
