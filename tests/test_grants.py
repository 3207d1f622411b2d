"""`silobridge grant-reader ROLE`: a PostgreSQL login role that reads every table and view and changes nothing."""

import uuid

import pytest
import sqlalchemy as sa

from loaders.engine import make_engine
from pipeline.cli import main
from schemas.tables import TABLES
from schemas.views import VIEWS
from tests.test_report import _build

pytestmark = pytest.mark.usefixtures("lenient_specs")  # the report's store quarantines one record on purpose


@pytest.fixture
def reader(pg_url):
    """A login role with a password, made as a database administrator would; dropped afterwards."""
    name, password = f"reader_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    admin = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE ROLE {name} LOGIN PASSWORD '{password}'")
    yield name, sa.make_url(pg_url).set(username=name, password=password).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP OWNED BY {name}")  # its grants in this database
        conn.exec_driver_sql(f"DROP ROLE {name}")
    admin.dispose()


def _refused(engine: sa.Engine, statement: str) -> None:
    with engine.connect() as conn:
        with pytest.raises(sa.exc.ProgrammingError, match="InsufficientPrivilege"):
            conn.exec_driver_sql(statement)
        conn.rollback()


def test_the_reader_reads_every_view_and_table_and_writes_nothing(pg_url, reader, tmp_path, capsys):
    store = _build(pg_url, tmp_path)  # hrss and medins through the pipeline, and a few dq_result rows
    role, url = reader
    as_reader = make_engine(url)
    _refused(as_reader, "SELECT COUNT(*) FROM v_service_case")  # nothing before the grant

    assert main(["--store", store, "grant-reader", role]) == 0
    assert f"role {role} may now read every table and view of schema public" in capsys.readouterr().out

    with as_reader.connect() as conn:
        for view in VIEWS:
            conn.exec_driver_sql(f"SELECT * FROM {view.name}").all()
        for table in TABLES:
            conn.exec_driver_sql(f"SELECT * FROM {table.name} LIMIT 5").all()
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM v_service_case WHERE NOT deleted").scalar() == 9
        assert conn.exec_driver_sql("SELECT SUM(cases) FROM v_kpi_department_month").scalar() == 9
    for statement in (
        "INSERT INTO service_case (case_no, source_system, source_version, status, deleted, source_updated_at, "
        "delivery_order, loaded_at, run_id) VALUES ('X1', 'hrss', 1, 'submitted', false, now(), '0', now(), 'r')",
        "UPDATE service_case SET status = 'voided'",
        "DELETE FROM service_evaluation",
        "TRUNCATE etl_run",
        "UPDATE calendar_day SET is_workday = false",
        "CREATE TABLE mine (x integer)",
        "CREATE VIEW mine AS SELECT 1 AS x",
        "DROP VIEW v_bundle",
    ):
        _refused(as_reader, statement)

    # A table or view a later migration creates is readable too (default privileges), and still not writable.
    owner = make_engine(store)
    with owner.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE later_table (x integer)")
        conn.exec_driver_sql("CREATE VIEW later_view AS SELECT case_no FROM service_case WHERE NOT deleted")
    with as_reader.connect() as conn:
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM later_view").scalar() == 9
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM later_table").scalar() == 0
    _refused(as_reader, "INSERT INTO later_table VALUES (1)")
    with owner.begin() as conn:
        conn.exec_driver_sql("DROP VIEW later_view")
        conn.exec_driver_sql("DROP TABLE later_table")
    owner.dispose()
    as_reader.dispose()


def test_grant_reader_says_what_to_do_when_it_cannot(pg_url, sqlite_url, capsys):
    assert main(["--store", pg_url, "grant-reader", "platform"]) == 2
    assert "there is no store" in capsys.readouterr().err  # nothing to grant on yet
    assert main(["--store", pg_url, "upgrade"]) == 0
    capsys.readouterr()
    assert main(["--store", pg_url, "grant-reader", "nobody_of_that_name"]) == 2
    err = capsys.readouterr().err
    assert "there is no role 'nobody_of_that_name'" in err and "CREATE ROLE" in err
    assert main(["--store", sqlite_url, "upgrade"]) == 0
    assert main(["--store", sqlite_url, "grant-reader", "platform"]) == 2
    assert "read-only roles exist on a PostgreSQL store" in capsys.readouterr().err
