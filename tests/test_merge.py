"""The loader's merge as a store reader sees it: what each delivery of a case does to service_case, to
service_case_history and to the ledger's counts, on both backends; and on PostgreSQL, that a reload of
unchanged rows writes nothing."""

import threading
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from alembic import command
import pyarrow as pa
import pytest
import sqlalchemy as sa

from loaders.engine import make_engine
from loaders.run_writer import RunWriter
from loaders.schema import alembic_config, upgrade
from schemas.arrow import UNIFIED_BATCH_SCHEMAS
from schemas.sql import sql_tables

T0 = datetime(2026, 10, 5, 1, 2, 3, 456789, tzinfo=timezone.utc)


def case(case_no: str, status: str, updated: datetime, *, source: str = "hrss", **values) -> dict:
    row = dict.fromkeys(UNIFIED_BATCH_SCHEMAS["cases"].names)
    return row | {"case_no": case_no, "source_system": source, "source_version": 1, "status": status,
                  "deleted": False, "source_updated_at": updated, "delivery_order": "0"} | values


def load(engine, run_id: str, *rows: dict, source: str = "hrss"):
    with RunWriter(engine, source, run_id) as writer:
        writer.stage("cases", pa.Table.from_pylist(list(rows), UNIFIED_BATCH_SCHEMAS["cases"]))
        return writer.merge("cases", datetime.now(timezone.utc))


def history(engine, case_no: str) -> list[tuple]:
    table = sql_tables["service_case_history"]
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(
            sa.select(table.c.previous_status, table.c.status, table.c.source_updated_at, table.c.run_id)
            .where(table.c.case_no == case_no).order_by(table.c.source_updated_at))]


def stored(engine, case_no: str) -> dict:
    table = sql_tables["service_case"]
    with engine.connect() as conn:
        return dict(conn.execute(sa.select(table).where(table.c.case_no == case_no)).one()._mapping)


def counts(merged) -> tuple[int, int, int, int, int]:
    return merged.inserted, merged.updated, merged.unchanged, merged.stale, merged.duplicates


@pytest.fixture
def store(store_url):
    engine = make_engine(store_url)
    upgrade(engine)
    yield engine
    engine.dispose()


def test_a_case_through_several_statuses_keeps_every_change(store):
    t = [T0 + timedelta(days=d) for d in range(5)]
    assert counts(load(store, "r1", case("C1", "submitted", t[0]), case("C2", "accepted", t[0]))) == (2, 0, 0, 0, 0)
    assert counts(load(store, "r2", case("C1", "accepted", t[1]), case("C2", "accepted", t[0]))) == (0, 1, 1, 0, 0)
    # Two deliveries in one run: only the greater one is merged, and only it is a change.
    assert counts(load(store, "r3", case("C1", "in_progress", t[2]), case("C1", "completed", t[3]))) == (0, 1, 0, 0, 1)
    # A greater delivery with the same status updates the row but is no status change.
    assert counts(load(store, "r4", case("C1", "completed", t[4], item_name="corrected"))) == (0, 1, 0, 0, 0)
    # A smaller (older) delivery changes nothing, whatever its status.
    assert counts(load(store, "r5", case("C1", "returned", t[1]))) == (0, 0, 1, 1, 0)

    assert history(store, "C1") == [
        (None, "submitted", t[0], "r1"),
        ("submitted", "accepted", t[1], "r2"),
        ("accepted", "completed", t[3], "r3"),
    ]
    assert history(store, "C2") == [(None, "accepted", t[0], "r1")]
    assert stored(store, "C1")["status"] == "completed" and stored(store, "C1")["run_id"] == "r4"


def test_a_reload_of_the_same_rows_adds_no_history_and_changes_no_row(store):
    rows = [case(f"C{i}", "accepted", T0 + timedelta(minutes=i), fee_yuan=Decimal("35.00")) for i in range(50)]
    load(store, "first", *rows)
    before = {r: stored(store, r) for r in ("C0", "C49")}
    assert counts(load(store, "again", *rows)) == (0, 0, 50, 0, 0)
    assert {r: stored(store, r) for r in before} == before  # loaded_at and run_id too
    with store.connect() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*), MIN(run_id), MAX(run_id) FROM service_case_history")).one() \
            == (50, "first", "first")


def test_a_case_another_source_holds_is_neither_written_nor_recorded(store):
    load(store, "medins-1", case("X1", "accepted", T0, source="medins"), source="medins")
    # The unify step quarantines such a case (case_no_collision); the merge never overwrites one either.
    load(store, "hrss-1", case("X1", "completed", T0 + timedelta(days=1)))
    assert stored(store, "X1")["source_system"] == "medins" and stored(store, "X1")["status"] == "accepted"
    assert history(store, "X1") == [(None, "accepted", T0, "medins-1")]


def test_the_case_numbers_other_sources_hold_are_found_whatever_characters_they_have(store):
    odd = ['X"2,\\n', "办件 3", "X'4"]
    load(store, "medins-1", *(case(c, "accepted", T0, source="medins") for c in ["X1", *odd]), source="medins")
    load(store, "hrss-1", case("H1", "accepted", T0))
    with RunWriter(store, "hrss", "hrss-2") as writer:
        held = writer.keys_held_by_other_sources(["X1", "H1", "H2", "X1", *odd, "X1\x00", "X\udc801"])
    # The unify step quarantines these (case_no_collision); hrss's own case and an unknown one are not held,
    # and raw keys no store can hold (a NUL, an undecodable byte) are looked up without failing the run.
    assert held == {c: "medins" for c in ["X1", *odd]}


def test_staged_values_are_stored_as_a_plain_insert_stores_them(store):
    """Every type the loader stages (instants with microseconds and before 2000, money, text, NULLs) is
    stored exactly as SQLAlchemy's own INSERT of the same values stores it."""
    values = [
        {"fee_yuan": Decimal("35.00"), "item_name": "失业保险金申领", "apply_time": T0, "case_type": 2,
         "promise_days": 0, "channel": None},
        {"fee_yuan": Decimal("-0.01"), "item_name": "", "apply_time": datetime(1999, 12, 31, 23, 59, 59, 999999,
                                                                                tzinfo=timezone.utc)},
        {"fee_yuan": Decimal("99999999999999.99"), "item_name": "tab\t\"quote\"\nline \\N", "case_type": 2**31 - 1},
        {"fee_yuan": None, "item_name": None, "apply_time": datetime(1900, 1, 1, tzinfo=timezone.utc)},
        {"fee_yuan": Decimal("0.00"), "deleted": True, "bundle_id": "NULL"},
    ]
    rows = [case(f"S{i}", "accepted", T0, **v) for i, v in enumerate(values)]
    load(store, "staged", *rows)
    table = sql_tables["service_case"]
    now = datetime.now(timezone.utc)
    with store.begin() as conn:
        conn.execute(table.insert(), [r | {"case_no": "P" + r["case_no"], "loaded_at": now, "run_id": "plain"}
                                      for r in rows])
    columns = [c for c in UNIFIED_BATCH_SCHEMAS["cases"].names if c != "case_no"]
    # The stored forms themselves: text of every value, and its storage class on SQLite.
    shown = ", ".join(f"CAST({c} AS TEXT), " + (f"typeof({c})" if store.dialect.name == "sqlite" else f"pg_typeof({c})")
                      for c in columns)
    with store.connect() as conn:
        staged = conn.execute(sa.text(f"SELECT {shown} FROM service_case WHERE case_no LIKE 'S%' ORDER BY case_no")).all()
        plain = conn.execute(sa.text(f"SELECT {shown} FROM service_case WHERE case_no LIKE 'PS%' ORDER BY case_no")).all()
        back = [dict(r._mapping) for r in conn.execute(
            sa.select(table).where(table.c.case_no.like("S%")).order_by(table.c.case_no))]
    assert staged == plain
    for row, read in zip(rows, back):
        assert {c: read[c] for c in row} == row


def _pg_counters(engine) -> tuple:
    with engine.connect() as conn:
        conn.exec_driver_sql("SELECT pg_stat_force_next_flush()")
    with engine.connect() as conn:
        return conn.exec_driver_sql(
            "SELECT n_tup_ins, n_tup_upd, n_tup_del FROM pg_stat_user_tables WHERE relname = 'service_case'").one()


def test_postgresql_a_reload_of_unchanged_rows_writes_nothing(pg_url):
    engine = make_engine(pg_url)
    upgrade(engine)
    rows = [case(f"C{i:04d}", "accepted", T0 + timedelta(seconds=i)) for i in range(1000)]
    load(engine, "first", *rows)
    before = _pg_counters(engine)
    assert counts(load(engine, "reload", *rows)) == (0, 0, 1000, 0, 0)
    assert _pg_counters(engine) == before
    with engine.connect() as conn:
        # Not even a row lock: an upsert that finds nothing to do still stamps every row it visited.
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM service_case WHERE xmax <> 0").scalar_one() == 0
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM service_case_history").scalar_one() == 1000

    changed = rows[:10] + [case(r["case_no"], "completed", r["source_updated_at"] + timedelta(days=1))
                           for r in rows[10:40]]
    assert counts(load(engine, "changed", *changed)) == (0, 30, 10, 0, 0)
    ins, upd, dele = _pg_counters(engine)
    assert (ins - before[0], upd - before[1], dele - before[2]) == (0, 30, 0)
    engine.dispose()


def test_postgresql_a_case_another_source_commits_during_the_merge_is_not_recorded(pg_url):
    """Another source's run commits the same case_no after this run picked its winners: its row stays,
    and this run's history holds only what it wrote."""
    engine = make_engine(pg_url)
    upgrade(engine)
    table = sql_tables["service_case"]
    other = engine.connect()
    other_tx = other.begin()
    other.execute(table.insert().values(case("X1", "accepted", T0, source="medins") | {
        "loaded_at": T0, "run_id": "medins-1"}))
    # The merge's insert of X1 waits for this transaction, then finds medins' row.
    threading.Timer(1.0, other_tx.commit).start()
    load(engine, "hrss-1", case("X1", "completed", T0), case("Y1", "submitted", T0))
    other.close()
    assert stored(engine, "X1")["source_system"] == "medins"
    assert history(engine, "X1") == []
    assert history(engine, "Y1") == [(None, "submitted", T0, "hrss-1")]
    engine.dispose()


def test_an_upgraded_store_starts_the_history_with_each_stored_case(store_url):
    engine = make_engine(store_url)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0004")
        conn.execute(sql_tables["service_case"].insert().values(
            case("OLD1", "in_progress", T0) | {"loaded_at": T0 + timedelta(hours=1), "run_id": "before-0005"}))
    upgrade(engine)
    assert history(engine, "OLD1") == [(None, "in_progress", T0, "before-0005")]
    load(engine, "after-0005", case("OLD1", "completed", T0 + timedelta(days=1)))
    assert history(engine, "OLD1")[1:] == [("in_progress", "completed", T0 + timedelta(days=1), "after-0005")]
    engine.dispose()
