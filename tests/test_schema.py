"""The one schema declaration: migrations, backends and the data dictionary agree with it."""

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from loaders.engine import make_engine
from loaders.schema import is_current, upgrade
from schemas import dictionary
from schemas.sql import metadata, sql_tables
from schemas.tables import SERVICE_CASE, TABLES


def test_the_data_dictionary_is_generated_from_the_current_schema():
    assert dictionary.OUTPUT.read_text(encoding="utf-8") == dictionary.render(), (
        "docs/data-dictionary.md is out of date: run `make dictionary`"
    )


def test_migrations_create_exactly_the_declared_tables(store_url):
    engine = make_engine(store_url)
    upgrade(engine)
    upgrade(engine)  # a second upgrade is a no-op
    assert is_current(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
        names = set(sa.inspect(conn).get_table_names())
    assert diff == []
    assert {t.name for t in TABLES} <= names
    engine.dispose()


def test_unified_columns_of_the_public_contract_exist():
    public = {"case_no", "source_system", "source_record_id", "source_version", "impl_code", "item_name", "case_type",
              "applicant_type", "applicant_cert_type", "applicant_key", "applicant_cert_masked",
              "applicant_name_masked", "contact_phone_masked", "channel", "apply_time", "accept_time", "finish_time",
              "promise_days", "status", "accept_org_code", "region_code", "fee_yuan", "bundle_id", "deleted",
              "source_updated_at", "loaded_at", "run_id"}
    assert public <= set(SERVICE_CASE.names)
    evaluation = {"eval_no", "source_system", "case_no", "assess_number", "score", "score_raw", "channel",
                  "is_default", "option_codes", "comment", "evaluator_key", "assess_time", "deleted",
                  "source_updated_at", "loaded_at", "run_id"}
    assert evaluation <= set(sql_tables["service_evaluation"].c.keys())


def test_instants_and_money_round_trip_exactly(store_url):
    engine = make_engine(store_url)
    upgrade(engine)
    instant = datetime(2026, 10, 5, 1, 2, 3, 456789, tzinfo=timezone.utc)
    beijing = instant.astimezone(timezone(timedelta(hours=8)))
    table = sql_tables["service_case"]
    row = {c: None for c in table.c.keys()} | {
        "case_no": "RT1", "source_system": "hrss", "source_version": 1, "status": "completed", "deleted": False,
        "delivery_order": "0", "run_id": "r", "loaded_at": beijing, "source_updated_at": instant,
        "fee_yuan": Decimal("35.00"),
    }
    with engine.begin() as conn:
        conn.execute(table.insert().values(**row))
    with engine.connect() as conn:
        back = conn.execute(sa.select(table)).one()._mapping
    assert back["source_updated_at"] == instant and back["source_updated_at"].utcoffset() == timedelta(0)
    assert back["loaded_at"] == instant
    assert str(back["fee_yuan"]) == "35.00"
    engine.dispose()
