"""The silobridge command line, as an operator uses it."""

import json
import logging
import re
import subprocess
import sys
from datetime import date, datetime, timedelta, timezone
from importlib.metadata import version
from pathlib import Path

import pytest
import sqlalchemy as sa

from pipeline.cli import main
from simulators.market_api import MarketApi
from simulators.medins_db import create_schema, write_cases
from simulators.tax_api import TaxApi
from tests.handmade import PERSON_ID, case_row, eval_row, write_drop
from tests.test_api_sources import market_case, tax_case
from tests.test_hrss_contract import ledger_balances, rows
from tests.test_medins_source import case as medins_case

# Their drops are small and bad on purpose; the error limit has its own tests.
pytestmark = pytest.mark.usefixtures("lenient_specs")

CLEAR = re.compile(r"(?<!\d)(\d{17}[\dXx]|\d{15}|1[3-9]\d{9})(?!\d)")


def test_run_status_rejects_and_summary(tmp_path, capsys, caplog):
    drop, store = tmp_path / "drop", f"sqlite:///{tmp_path / 'store.db'}"
    write_drop(drop, "HRSS_BJ_20261005.csv", [
        case_row("C1", cert=PERSON_ID, phone="13812345678"),
        case_row("C2", cert="340603199003070023", phone="13912345678"),
    ])
    write_drop(drop, "HRSS_PJ_20261005.csv", [eval_row("E1", "C1", comment="电话13812345678")], trailer=7)

    caplog.set_level(logging.INFO)
    assert main(["--store", store, "-v", "run", "hrss", "--drop", str(drop)]) == 0
    out = capsys.readouterr().out
    assert "cases" in out and "invalid_id_card 1" in out
    assert "file quarantined HRSS_PJ_20261005.csv: trailer_mismatch" in out

    assert main(["--store", store, "status"]) == 0
    out += (status := capsys.readouterr().out)
    assert "HRSS_BJ_20261005.csv" in status and "success" in status

    assert main(["--store", store, "rejects", "--source", "hrss"]) == 0
    out += (rejects := capsys.readouterr().out)
    assert "invalid_id_card" in rejects and "trailer_mismatch" in rejects and "340603********0023" in rejects

    assert main(["--store", store, "summary"]) == 0
    out += capsys.readouterr().out
    assert "service_case" in out and "store.db" in out

    logged = "\n".join(r.getMessage() for r in caplog.records)
    for text in (out, logged):
        assert not CLEAR.search(text), CLEAR.search(text)


def test_an_unknown_source_is_one_clear_sentence(tmp_path, capsys):
    assert main(["--store", f"sqlite:///{tmp_path / 's.db'}", "run", "ministry"]) == 2
    assert "unknown source 'ministry'" in capsys.readouterr().err


# --- options anywhere, JSON, times, positions -----------------------------------------------------------------

BEIJING_OFFSET = "+08:00"


@pytest.fixture
def hrss_store(tmp_path, capsys, store_url):
    """A store (SQLite, PostgreSQL) loaded by `run hrss` with every option after the command, as the README has it."""
    drop, store = tmp_path / "drop", store_url
    write_drop(drop, "HRSS_BJ_20261005.csv", [case_row("C1", cert=PERSON_ID),
                                               case_row("C2", cert="340603199003070023")])
    write_drop(drop, "HRSS_BJ_20261006.csv", [case_row(f"D{i}", status="9") for i in range(4)])
    write_drop(drop, "HRSS_PJ_20261005.csv", [eval_row("E1", "C1")], trailer=7)
    assert main(["run", "hrss", "--drop", str(drop), "--store", store]) == 0
    capsys.readouterr()
    return store


def test_global_options_work_after_the_command_as_before_it(hrss_store, capsys):
    assert main(["status", "--store", hrss_store]) == 0
    after = capsys.readouterr().out
    assert main(["--store", hrss_store, "status"]) == 0
    assert capsys.readouterr().out == after and "HRSS_BJ_20261006.csv" in after
    # --debug after the command shows the traceback of an error, not only its sentence.
    assert main(["status", "--store", "sqlite:///nowhere/none.db", "--debug"]) == 2
    assert "Traceback" in capsys.readouterr().err


def test_status_shows_each_committed_position_and_its_value(hrss_store, capsys):
    assert main(["status", "--store", hrss_store]) == 0
    out = capsys.readouterr().out
    assert "newest HRSS_BJ_20261006.csv = 2026-10-06" in out and "2 positions (2 loaded)" in out
    assert "1 quarantined" in out  # the evaluations file with a wrong trailer
    assert re.search(r"20\d\d-\d\d-\d\d \d\d:\d\d:\d\d \+08:00", out), "times in Beijing time, the zone named"

    assert main(["status", "--store", hrss_store, "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    cases = next(w for w in status["watermarks"] if (w["source"], w["stream"]) == ("hrss", "cases"))
    assert {(p["position"], p["value"], p["outcome"]) for p in cases["positions"]} == {
        ("HRSS_BJ_20261005.csv", "2026-10-05", "loaded"), ("HRSS_BJ_20261006.csv", "2026-10-06", "loaded")}
    committed = datetime.fromisoformat(cases["positions"][0]["committed_at"])
    assert committed.utcoffset() == timedelta(hours=8)
    assert abs(committed - datetime.now(timezone.utc)) < timedelta(minutes=10)
    assert {r["status"] for r in status["last_runs"]} == {"success"}
    assert all(r["started_at"].endswith(BEIJING_OFFSET) for r in status["last_runs"])


def test_rejects_say_how_many_they_show_of_how_many(hrss_store, capsys):
    assert main(["rejects", "--store", hrss_store, "--limit", "2"]) == 0
    assert "showing 2 of 6 quarantined record(s); --limit N or --all for more" in capsys.readouterr().out
    assert main(["rejects", "--store", hrss_store, "--all"]) == 0
    assert "showing 6 of 6 quarantined record(s)\n" in capsys.readouterr().out
    assert main(["rejects", "--store", hrss_store, "--reason", "unknown_code", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert (listed["total"], listed["shown"]) == (4, 4)
    assert {r["record_key"] for r in listed["rejects"]} == {"D0", "D1", "D2", "D3"}
    assert all(r["created_at"].endswith(BEIJING_OFFSET) for r in listed["rejects"])
    with pytest.raises(SystemExit) as exit:
        main(["rejects", "--store", hrss_store, "--limit", "0"])
    assert exit.value.code == 2 and "'0' is not a positive whole number" in capsys.readouterr().err


def test_summary_and_reconcile_as_json(hrss_store, capsys):
    assert main(["summary", "--json", "--store", hrss_store]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert {(t["table"], t["source_system"], t["rows"]) for t in summary["tables"]} == {("service_case", "hrss", 1)}
    assert summary["store"].split("/")[-1] == hrss_store.split("/")[-1]
    assert {(r["reason"], r["count"]) for r in summary["quarantine_reasons"]} >= {("unknown_code", 4)}

    assert main(["reconcile", "--json", "--store", hrss_store]) == 1  # the quarantined file is a finding
    result = json.loads(capsys.readouterr().out)
    assert result["balanced"] is False
    assert {(f["source"], f["kind"]) for f in result["findings"]} >= {("hrss", "file_quarantined")}
    cases = [r for r in result["rows"] if r["stream"] == "cases"]
    assert sum(r["extracted"] for r in cases) == 6 and sum(r["inserted"] for r in cases) == 1
    for f in result["findings"]:
        date.fromisoformat(f["day"])


def test_output_into_a_pipe_closed_early_ends_quietly(hrss_store):
    """`silobridge reconcile --json | head`: the reader has gone before the output comes (it closes its end
    before the command is past its imports); no traceback, the exit status of a process stopped by SIGPIPE."""
    script = Path(sys.executable).with_name("silobridge")
    command = subprocess.Popen([str(script), "reconcile", "--json", "--store", hrss_store],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    command.stdout.close()
    assert command.wait(timeout=120) == 141
    assert command.stderr.read() == ""


def test_version_comes_from_the_package(capsys):
    with pytest.raises(SystemExit) as exit:
        main(["--version"])
    assert exit.value.code == 0
    assert capsys.readouterr().out.strip() == f"silobridge {version('silobridge')}"


# --- check SOURCE ------------------------------------------------------------------------------------------------

def test_check_a_file_source_finds_its_folder_or_says_it_is_missing(tmp_path, capsys):
    (tmp_path / "drop").mkdir()
    assert main(["check", "hrss", "--drop", str(tmp_path / "drop")]) == 0
    assert capsys.readouterr().out.startswith(f"hrss: OK, the drop folder {tmp_path / 'drop'} exists and can be read")
    assert main(["check", "police"]) == 1  # its default folder under the home does not exist
    err = capsys.readouterr().err
    assert "police: check failed:" in err and "does not exist" in err and "\n" not in err.strip()


def _served(api, user: str, secret: str) -> str:
    return f"http://{user}:{secret}@{api.url.removeprefix('http://')}"


def test_check_market_asks_for_a_token_and_names_wrong_credentials(monkeypatch, capsys):
    api = MarketApi([market_case("SB1", 1)], [])
    with api.serve() as server:
        monkeypatch.setenv("AIRFLOW_CONN_SILOBRIDGE_MARKET", _served(server, api.client_id, api.client_secret))
        assert main(["check", "market"]) == 0
        assert "market: OK" in capsys.readouterr().out and api.tokens  # a token was issued
        assert not any(e.request.path.startswith("/api/") for e in api.log), "a check reads no records"
        monkeypatch.setenv("AIRFLOW_CONN_SILOBRIDGE_MARKET", _served(server, api.client_id, "wrong-secret"))
        assert main(["check", "market"]) == 1
    err = capsys.readouterr().err
    assert "market: check failed:" in err and "refused the client credentials" in err and "wrong-secret" not in err


def test_check_tax_sends_one_signed_request_and_names_a_wrong_secret(monkeypatch, capsys):
    api = TaxApi([tax_case("TX1", 1)])
    with api.serve() as server:
        monkeypatch.setenv("AIRFLOW_CONN_SILOBRIDGE_TAX", _served(server, api.app_id, api.app_secret))
        assert main(["check", "tax"]) == 0
        assert "tax: OK" in capsys.readouterr().out
        assert [e.request.query.get("limit") for e in api.log] == ["1"]
        monkeypatch.setenv("AIRFLOW_CONN_SILOBRIDGE_TAX", _served(server, api.app_id, "wrong-secret"))
        assert main(["check", "tax"]) == 1
    err = capsys.readouterr().err
    assert "tax: check failed:" in err and "SIGN_INVALID" in err and "wrong-secret" not in err


def test_check_medins_reads_one_row_of_each_exchange_table(tmp_path, monkeypatch, capsys):
    exchange = f"sqlite:///{tmp_path / 'medins.db'}"
    monkeypatch.setenv("AIRFLOW_CONN_SILOBRIDGE_MEDINS", exchange)
    assert main(["check", "medins"]) == 1
    assert "medins: check failed: there is no database file" in capsys.readouterr().err
    assert not (tmp_path / "medins.db").exists(), "a check creates nothing"
    create_schema(exchange)
    assert main(["check", "medins"]) == 0
    assert "medins: OK" in capsys.readouterr().out
    with sa.create_engine(exchange).begin() as conn:
        conn.exec_driver_sql("DROP TABLE EX_EVALUATE")
    assert main(["check", "medins"]) == 1
    assert "no such table: EX_EVALUATE" in capsys.readouterr().err


def test_check_medins_names_refused_credentials(mariadb_database, monkeypatch, capsys):
    wrong = sa.make_url(mariadb_database).set(username="nobody", password="wrong-pw")
    monkeypatch.setenv("AIRFLOW_CONN_SILOBRIDGE_MEDINS", wrong.render_as_string(hide_password=False))
    assert main(["check", "medins"]) == 1
    err = capsys.readouterr().err
    assert "medins: check failed:" in err and "Access denied" in err and "wrong-pw" not in err


# --- run SOURCE --from D --to D [--reread] ------------------------------------------------------------------------

DAY = 24 * 60  # market_case's minutes from 2026-10-05 09:00 Beijing


def _market_marks(store: str) -> set[str]:
    return {r["value"] for r in rows(store, "SELECT value FROM etl_watermark WHERE source = 'market'")}


def _last_run(store: str, source: str, stream: str = "cases") -> dict:
    return rows(store, "SELECT * FROM etl_run WHERE source = :s AND stream = :t ORDER BY started_at DESC",
                s=source, t=stream)[0]


def test_run_an_api_source_over_given_days_reads_what_is_not_committed_yet(tmp_path, monkeypatch, capsys):
    store = f"sqlite:///{tmp_path / 'store.db'}"
    monkeypatch.setenv("SILOBRIDGE_HISTORY_START_MARKET", "2026-10-01")
    api = MarketApi([market_case("OCT02", -3 * DAY), market_case("OCT05", 0), market_case("OCT06", DAY),
                     market_case("OCT09", 4 * DAY)], [])
    with api.serve() as server:
        monkeypatch.setenv("AIRFLOW_CONN_SILOBRIDGE_MARKET", _served(server, api.client_id, api.client_secret))

        def run(*window: str) -> str:
            assert main(["run", "market", *window, "--store", store]) == 0
            return capsys.readouterr().out

        out = run("--from", "2026-10-01", "--to", "2026-10-05")
        assert "read the updates of [2026-10-01 00:00:00 +08:00, 2026-10-06 00:00:00 +08:00)" in out
        assert _last_run(store, "market")["inserted"] == 2  # OCT02 and OCT05
        assert _market_marks(store) == {"2026-10-05T16:00:00+00:00"}  # committed up to 10-06 00:00 Beijing

        # Overlapping the committed days: only what follows them is read.
        out = run("--from", "2026-10-03", "--to", "2026-10-06")
        assert "[2026-10-06 00:00:00 +08:00, 2026-10-07 00:00:00 +08:00)" in out
        assert (_last_run(store, "market")["extracted"], _last_run(store, "market")["inserted"]) == (1, 1)

        # --reread reads committed days again, and leaves the committed position where it was.
        run("--from", "2026-10-02", "--to", "2026-10-05", "--reread")
        again = _last_run(store, "market")
        assert (again["extracted"], again["unchanged"], again["inserted"]) == (2, 2, 0)
        assert _market_marks(store) == {"2026-10-06T16:00:00+00:00"}

        # A window after a gap loads its days but does not commit past the unread ones.
        out = run("--from", "2026-10-09", "--to", "2026-10-09")
        assert _last_run(store, "market")["inserted"] == 1 and "stays 2026-10-06T16:00:00+00:00" in out
        assert _market_marks(store) == {"2026-10-06T16:00:00+00:00"}

        # A window reaching into the future ends 5 minutes before now, like a scheduled run's.
        run("--from", "2026-10-07", "--to", "2099-12-31")
        end = datetime.fromisoformat(_last_run(store, "market")["window_end"])
        assert timedelta(minutes=5) <= datetime.now(timezone.utc) - end < timedelta(minutes=10)
        assert {datetime.fromisoformat(v) for v in _market_marks(store)} == {end}
    assert sorted(r["case_no"] for r in rows(store, "SELECT case_no FROM service_case")) == [
        "OCT02", "OCT05", "OCT06", "OCT09"]
    ledger_balances(store)


@pytest.mark.parametrize("argv, says", [
    (["run", "hrss", "--from", "2026-10-01", "--to", "2026-10-02"], "hrss is a file source"),
    (["run", "market", "--from", "2026-10-01"], "give the window as --from DAY --to DAY"),
    (["run", "market", "--reread"], "--reread reads such a window again"),
    (["run", "market", "--from", "2026-10-05", "--to", "2026-10-01"], "ends before it starts"),
    (["run", "market", "--from", "2014-01-01", "--to", "2014-01-31"], "SILOBRIDGE_HISTORY_START_MARKET"),
    (["run", "market", "--from", "2099-01-01", "--to", "2099-01-01"], "there is nothing to read yet"),
])
def test_a_window_that_cannot_be_read_is_one_sentence_and_no_ledger_row(tmp_path, monkeypatch, capsys, argv, says):
    monkeypatch.setenv("AIRFLOW_CONN_SILOBRIDGE_MARKET", "http://id:secret@127.0.0.1:1")
    store = tmp_path / "store.db"
    assert main([*argv, "--store", f"sqlite:///{store}"]) == 2
    err = capsys.readouterr().err
    assert says in err and err.count("\n") == 1, err
    assert not store.exists() or rows(f"sqlite:///{store}", "SELECT * FROM etl_run") == []


def test_run_the_exchange_database_over_given_days(tmp_path, monkeypatch, capsys):
    store, exchange = f"sqlite:///{tmp_path / 'store.db'}", f"sqlite:///{tmp_path / 'medins.db'}"
    create_schema(exchange)
    write_cases(exchange, [medins_case("R2", "P2", 1, "2026-10-02 10:00:00"),
                           medins_case("R5", "P5", 1, "2026-10-05 10:00:00"),
                           medins_case("R6", "P6", 1, "2026-10-06 10:00:00")])
    monkeypatch.setenv("AIRFLOW_CONN_SILOBRIDGE_MEDINS", exchange)

    def run(*window: str) -> dict:
        assert main(["run", "medins", *window, "--store", store]) == 0
        capsys.readouterr()
        return _last_run(store, "medins")

    def cursor() -> list:
        return [json.loads(r["value"]) for r in rows(
            store, "SELECT value FROM etl_watermark WHERE source = 'medins' AND stream = 'cases'")]

    assert run("--from", "2026-10-05", "--to", "2026-10-05")["inserted"] == 1
    assert cursor() == [], "rows before the window are unread: nothing is committed"
    scheduled = run()  # a run without a window reads on from the committed position: here, from the start
    assert (scheduled["inserted"], scheduled["unchanged"]) == (2, 1)
    assert cursor() == [["2026-10-06 10:00:00", "R6"]]
    assert run("--from", "2026-10-01", "--to", "2026-10-06")["extracted"] == 0  # all committed
    reread = run("--from", "2026-10-05", "--to", "2026-10-05", "--reread")
    assert (reread["extracted"], reread["unchanged"]) == (1, 1)
    assert cursor() == [["2026-10-06 10:00:00", "R6"]]
    ledger_balances(store)
