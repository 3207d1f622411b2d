"""The command line when the store, the folder or a key is wrong: one sentence, never a store made by a reading command."""

import pytest
from alembic.script import ScriptDirectory
import sqlalchemy as sa
from alembic import command

from loaders.engine import make_engine
from loaders.schema import alembic_config
from pipeline.cli import main
from pipeline.config import ConfigError, Settings
from pipeline.runner import run_source
from tests.handmade import case_row, write_drop
from tests.test_hrss_contract import rows

pytestmark = pytest.mark.usefixtures("lenient_specs")

READING = (["status"], ["rejects"], ["rejects", "--source", "hrss"], ["summary"], ["reconcile"], ["report"])
KNOWN = "known sources: hrss, market, medins, police, tax"


def _one_sentence(capsys, code_expected: int, argv: list[str]) -> str:
    assert main(argv) == code_expected
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0]


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    with engine.connect() as conn:
        names = set(sa.inspect(conn).get_table_names())
    engine.dispose()
    return names


@pytest.mark.parametrize("argv", READING, ids=" ".join)
def test_a_reading_command_without_a_store_says_so_and_creates_nothing(tmp_path, capsys, argv):
    path = tmp_path / "not-yet" / "store.db"
    said = _one_sentence(capsys, 2, ["--store", f"sqlite:///{path}", *argv])
    assert said == (f"error: there is no store at {path} yet: `silobridge run <source>` or `silobridge upgrade` "
                    "creates it")
    assert not path.parent.exists()


@pytest.mark.parametrize("argv", READING, ids=" ".join)
def test_a_reading_command_on_an_empty_postgresql_database_says_there_is_no_store_yet(pg_url, capsys, argv):
    said = _one_sentence(capsys, 2, ["--store", pg_url, *argv])
    assert "there is no store in postgresql+psycopg://" in said and "yet (no silobridge tables)" in said
    assert _tables(pg_url) == set()


def test_a_store_at_an_older_revision_is_read_only_after_silobridge_upgrade(store_url, capsys):
    engine = make_engine(store_url)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0002")
    engine.dispose()
    for argv in READING:
        said = _one_sentence(capsys, 2, ["--store", store_url, *argv])
        head = ScriptDirectory.from_config(alembic_config()).get_current_head()
        assert said.endswith(f"is at schema revision 0002, this silobridge needs {head}: run `silobridge upgrade` first")
    assert "store_key" not in _tables(store_url), "a reading command never upgrades"
    assert main(["--store", store_url, "upgrade"]) == 0
    assert "is at the newest schema" in capsys.readouterr().out
    assert main(["--store", store_url, "status"]) == 0


@pytest.mark.parametrize("store, says", [
    ("postgresql://postgres@127.0.0.1:1/silobridge",
     "error: the store postgresql+psycopg://postgres@127.0.0.1:1/silobridge does not answer (Connection refused): "
     "start PostgreSQL there, or fix the host and port"),
    ("postgresql://no_such_role:secret-pw@127.0.0.1:5432/postgres",
     "error: the store postgresql+psycopg://no_such_role:***@127.0.0.1:5432/postgres refused the connection (role "
     "\"no_such_role\" does not exist): fix the user, password or database"),
    ("mysql://root@127.0.0.1/silobridge", "error: the store URL 'mysql://root@127.0.0.1/silobridge' is neither SQLite "
                                          "nor PostgreSQL"),
    ("silobridge.db", "error: the store URL 'silobridge.db' is not a database URL: give e.g. sqlite:////"),
])
@pytest.mark.parametrize("argv", [["status"], ["run", "hrss"], ["upgrade"]], ids=" ".join)
def test_a_wrong_or_unreachable_store_is_one_sentence_and_debug_shows_the_traceback(
        tmp_path, capsys, store, says, argv):
    drop = tmp_path / "drop"
    drop.mkdir()
    extra = ["--drop", str(drop)] if argv[0] == "run" else []
    said = _one_sentence(capsys, 2, ["--store", store, *argv, *extra])
    assert said.startswith(says) and "secret-pw" not in said
    assert main(["--debug", "--store", store, *argv, *extra]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and says in err


def test_a_file_that_is_not_a_sqlite_database_is_one_sentence_and_stays_untouched(tmp_path, capsys):
    path = tmp_path / "notes.txt"
    path.write_text("not a database\n" * 100)
    for argv in (["status"], ["run", "hrss", "--drop", str(tmp_path)], ["upgrade"]):
        said = _one_sentence(capsys, 2, ["--store", f"sqlite:///{path}", *argv])
        assert said.startswith(f"error: {path} is not a SQLite database: point --store")
    assert path.read_text() == "not a database\n" * 100


def test_a_missing_folder_and_blank_keys_are_one_sentence_without_a_store_or_ledger_row(tmp_path, capsys, monkeypatch):
    store = f"sqlite:///{tmp_path / 'store.db'}"
    said = _one_sentence(capsys, 2, ["--store", store, "run", "hrss", "--drop", str(tmp_path / "nowhere")])
    assert said.startswith(f"error: hrss: the drop folder {tmp_path / 'nowhere'} does not exist; point the Airflow "
                           "connection silobridge_hrss")
    assert not (tmp_path / "store.db").exists()
    monkeypatch.setenv("SILOBRIDGE_PII_KEY", " ")
    said = _one_sentence(capsys, 2, ["--store", store, "run", "hrss", "--drop", str(tmp_path)])
    assert said.startswith("error: SILOBRIDGE_PII_KEY is set but blank")
    monkeypatch.setenv("SILOBRIDGE_PII_KEY", "a-key")
    monkeypatch.setenv("SILOBRIDGE_QUARANTINE_KEY", "")
    said = _one_sentence(capsys, 2, ["--store", store, "run", "hrss", "--drop", str(tmp_path)])
    assert said.startswith("error: SILOBRIDGE_QUARANTINE_KEY is set but blank")
    assert not (tmp_path / "store.db").exists()


@pytest.mark.parametrize("argv", [["reconcile", "--source", "nosuch"], ["rejects", "--source", "nosuch"],
                                  ["rejects", "replay", "--reason", "unknown_code", "--source", "nosuch"],
                                  ["run", "nosuch"]], ids=" ".join)
def test_an_unknown_source_is_an_error_naming_the_known_ones(sqlite_url, tmp_path, capsys, argv):
    write_drop(tmp_path / "drop", "HRSS_BJ_20261005.csv", [case_row("C1")])
    run_source("hrss", Settings.resolve(store_url=sqlite_url, folders={"hrss": tmp_path / "drop"}))
    said = _one_sentence(capsys, 2, ["--store", sqlite_url, *argv])
    assert said == f"error: unknown source 'nosuch': there is no nosuch.toml in sources/ ({KNOWN})"


def test_configuration_errors_of_run_source_write_no_ledger_row(store_url, tmp_path, monkeypatch):
    write_drop(tmp_path / "drop", "HRSS_BJ_20261005.csv", [case_row("C1")])
    run_source("hrss", Settings.resolve(store_url=store_url, folders={"hrss": tmp_path / "drop"}))
    before = rows(store_url, "SELECT run_id, stream FROM etl_run ORDER BY run_id, stream")
    monkeypatch.delenv("AIRFLOW_CONN_SILOBRIDGE_MARKET", raising=False)
    settings = Settings.resolve(store_url=store_url, folders={"hrss": tmp_path / "gone", "police": tmp_path / "gone"})
    for source, says in (("nosuch", f"unknown source 'nosuch'.*{KNOWN}"),
                         ("hrss", "hrss: the drop folder .*gone does not exist"),
                         ("police", "police: the drop folder .*gone does not exist"),
                         ("market", "market: no connection silobridge_market; define the Airflow connection or "
                                    "AIRFLOW_CONN_SILOBRIDGE_MARKET")):
        with pytest.raises(ConfigError, match=says):
            run_source(source, settings)
    assert rows(store_url, "SELECT run_id, stream FROM etl_run ORDER BY run_id, stream") == before


def test_every_command_line_of_the_readme_runs(tmp_path, capsys):
    drop, store = tmp_path / "drop", f"sqlite:///{tmp_path / 'store.db'}"
    write_drop(drop, "HRSS_BJ_20261005.csv", [case_row("C1"), case_row("C2", status="已挂起")])
    assert main(["--store", store, "run", "hrss", "--drop", str(drop)]) == 0
    assert main(["--store", store, "status"]) == 0
    assert main(["--store", store, "rejects", "--source", "hrss", "--reason", "unknown_code"]) == 0
    assert main(["--store", store, "summary"]) == 0
    # reconcile exits 1 on findings; an error would be 2
    assert main(["--store", store, "reconcile", "--source", "hrss", "--from", "2026-10-01", "--to", "2026-10-31"]) in (0, 1)
    assert main(["--store", store, "report", "--from", "2026-10-01", "--to", "2026-10-31",
                 "--out", str(tmp_path / "r.html")]) == 0
    assert main(["--store", store, "rejects", "replay", "--reason", "unknown_code", "--source", "hrss"]) == 0
    assert main(["--store", store, "upgrade"]) == 0
    out, err = capsys.readouterr()
    assert "error" not in err and (tmp_path / "r.html").exists()
