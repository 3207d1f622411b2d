"""Shared fixtures: a fixed test key, a private silobridge home, and stores on both backends."""

import atexit
import os
import shutil
import tempfile
import uuid
from pathlib import Path

# Airflow reads its configuration once, when it is first imported: before any test imports it,
# use the repository's airflow.cfg and dags/ with a throwaway AIRFLOW_HOME, so that Airflow's
# metadata DB and logs (${AIRFLOW_HOME}/var/airflow/...) never touch the developer's var/.
_REPO = Path(__file__).resolve().parent.parent
_AIRFLOW_HOME = tempfile.mkdtemp(prefix="silobridge-test-airflow-")
atexit.register(shutil.rmtree, _AIRFLOW_HOME, ignore_errors=True)
os.environ["AIRFLOW_HOME"] = _AIRFLOW_HOME
os.environ["AIRFLOW_CONFIG"] = str(_REPO / "airflow.cfg")
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(_REPO / "dags")

import pytest
import sqlalchemy as sa

TEST_PII_KEY = "test-pii-key-fixed-for-fixtures"
PG_ADMIN_URL = os.environ.get("SILOBRIDGE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
MARIADB_ADMIN_URL = os.environ.get("SILOBRIDGE_TEST_MARIADB", "mysql+pymysql://root@127.0.0.1:3306/test")


@pytest.fixture(autouse=True)
def _private_home(tmp_path, monkeypatch):
    monkeypatch.setenv("SILOBRIDGE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SILOBRIDGE_PII_KEY", TEST_PII_KEY)
    monkeypatch.delenv("SILOBRIDGE_QUARANTINE_KEY", raising=False)
    monkeypatch.delenv("AIRFLOW_CONN_SILOBRIDGE_STORE", raising=False)


def _unavailable(what: str, exc: Exception):
    message = f"{what} is not reachable ({type(exc).__name__}: {str(exc).splitlines()[0]}); these tests need it"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message}, and CI=true makes them mandatory")
    pytest.skip(message)


@pytest.fixture
def pg_url():
    """A fresh, empty PostgreSQL database, dropped afterwards."""
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"silobridge_test_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
    except sa.exc.OperationalError as exc:
        _unavailable(f"PostgreSQL at {admin.url.render_as_string()}", exc)
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    yield url
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.dispose()


@pytest.fixture(scope="module")
def mariadb_database():
    """A fresh MariaDB database for a test module, dropped afterwards."""
    admin = sa.create_engine(MARIADB_ADMIN_URL, poolclass=sa.pool.NullPool)
    name = f"silobridge_medins_{uuid.uuid4().hex[:10]}"
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {name} CHARACTER SET utf8mb4")
    except sa.exc.OperationalError as exc:
        _unavailable(f"MariaDB at {admin.url.render_as_string()}", exc)
    yield admin.url.set(database=name).render_as_string(hide_password=False)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
    admin.dispose()


@pytest.fixture
def mariadb_url(mariadb_database):
    """The module's MariaDB database, emptied."""
    engine = sa.create_engine(mariadb_database, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        for table in sa.inspect(conn).get_table_names():
            conn.exec_driver_sql(f"DROP TABLE `{table}`")
    engine.dispose()
    return mariadb_database


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path / 'store.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request):
    """The same test on the embedded store and on PostgreSQL."""
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")


@pytest.fixture
def lenient_specs(monkeypatch):
    """Source specs without their error limits, for tests whose tiny drops are mostly bad on purpose."""
    import pipeline.runner
    from pipeline.specs import ErrorLimit, load_spec

    monkeypatch.setattr(pipeline.runner, "load_spec",
                        lambda name: load_spec(name).model_copy(update={"error_limit": ErrorLimit()}))
