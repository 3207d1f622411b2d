"""A merge at least as large as the table it writes (a first load, a backfill) builds the table's secondary
indexes after the write instead of maintaining them row by row: what a store reader sees afterwards (the
rows, their history, the indexes) is the same either way, a failing run leaves the indexes as they were,
and the small scheduled runs never touch them. The threshold is lowered here so a few hundred rows
take the bulk path that a production run takes from 50,000."""

from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

import pyarrow as pa
import pytest
import sqlalchemy as sa

import loaders.run_writer as run_writer
from loaders.engine import make_engine
from loaders.run_writer import RunWriter
from loaders.schema import upgrade
from schemas.arrow import UNIFIED_BATCH_SCHEMAS

T0 = datetime(2026, 10, 5, 1, 2, 3, tzinfo=timezone.utc)


def cases(first: int, n: int, status: str = "accepted", day: int = 0) -> pa.Table:
    base = dict.fromkeys(UNIFIED_BATCH_SCHEMAS["cases"].names)
    return pa.Table.from_pylist([
        base | {"case_no": f"C{i:06d}", "source_system": "hrss", "source_version": 1, "status": status,
                "deleted": False, "source_updated_at": T0 + timedelta(days=day, seconds=i),
                "delivery_order": f"{day}", "applicant_key": f"k{i % 37}", "apply_time": T0}
        for i in range(first, first + n)
    ], UNIFIED_BATCH_SCHEMAS["cases"])


def load(engine, run_id: str, batch: pa.Table):
    with RunWriter(engine, "hrss", run_id) as writer:
        writer.stage("cases", batch)
        return writer.merge("cases", datetime.now(timezone.utc))


def index_definitions(engine) -> set[str]:
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            query = "SELECT sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
        else:
            query = "SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema()"
        return set(conn.exec_driver_sql(query).scalars())


def dump(engine) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.exec_driver_sql(
            "SELECT case_no, status, source_updated_at, applicant_key, run_id FROM service_case ORDER BY case_no")
        ] + [tuple(r) for r in conn.exec_driver_sql(
            "SELECT case_no, previous_status, status, run_id FROM service_case_history ORDER BY case_no, run_id")]


@pytest.fixture
def store(store_url):
    engine = make_engine(store_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def index_ddl(store):
    """The index statements each merge runs."""
    seen: list[str] = []

    @sa.event.listens_for(store, "before_cursor_execute")
    def record(conn, cursor, statement, parameters, context, executemany):
        if "INDEX" in statement and "stg_" not in statement:
            seen.append(statement.split(" ON ")[0].strip())

    return seen


@pytest.fixture
def bulk_from_300(monkeypatch):
    monkeypatch.setattr(run_writer, "_BULK_ROWS", 300)


def test_a_first_load_builds_the_indexes_after_and_leaves_them_as_declared(store, index_ddl, bulk_from_300):
    declared = index_definitions(store)
    merged = load(store, "r1", cases(0, 400))

    assert (merged.inserted, merged.updated) == (400, 0)
    assert any(s.startswith("DROP INDEX") for s in index_ddl) and any(s.startswith("CREATE INDEX") for s in index_ddl)
    assert index_definitions(store) == declared
    with store.connect() as conn:
        # The rebuilt index answers: a lookup by applicant finds exactly that applicant's cases.
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM service_case WHERE applicant_key = 'k5'").scalar() == 11


def test_the_store_is_the_same_whichever_way_the_indexes_were_kept(store_url, tmp_path, monkeypatch):
    def loaded(threshold: int, url: str) -> list[tuple]:
        monkeypatch.setattr(run_writer, "_BULK_ROWS", threshold)
        engine = make_engine(url)
        upgrade(engine)
        load(engine, "r1", cases(0, 400))
        load(engine, "r2", cases(200, 400, status="completed", day=1))  # 200 updated, 200 new
        rows = dump(engine)
        engine.dispose()
        return rows

    bulk = loaded(300, store_url)
    if store_url.startswith("sqlite"):
        assert loaded(10**9, f"sqlite:///{tmp_path / 'row-by-row.db'}") == bulk
    else:
        with second_database(store_url) as other:
            assert loaded(10**9, other) == bulk
    assert len(bulk) == 600 + 400 + 400


@contextmanager
def second_database(url: str):
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    name = f"{sa.make_url(url).database}_b"
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    try:
        yield sa.make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()


def test_small_runs_and_runs_smaller_than_the_table_leave_the_indexes_alone(store, index_ddl, bulk_from_300):
    load(store, "r1", cases(0, 1000))
    index_ddl.clear()
    load(store, "r2", cases(1000, 50))      # under the threshold
    load(store, "r3", cases(2000, 400))     # over it, but the table already holds more
    assert index_ddl == []


def test_a_run_failing_after_the_indexes_were_dropped_leaves_them_and_the_rows_as_they_were(
        store, bulk_from_300, monkeypatch):
    declared = index_definitions(store)

    def fail(*args, **kwargs):
        raise RuntimeError("the machine went away during the merge")

    monkeypatch.setattr(RunWriter, "_record_history", fail)
    with pytest.raises(RuntimeError, match="went away"):
        load(store, "r1", cases(0, 400))
    assert index_definitions(store) == declared
    with store.connect() as conn:
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM service_case").scalar() == 0
