"""The key guard: a store keeps the suite and fingerprints of its keys, and refuses a run, replay or command with others."""

import os

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

import pipeline.replay
import pipeline.runner
from loaders.engine import make_engine
from pipeline.cli import main
from pipeline.config import ConfigError, Settings
from pipeline.runner import run_source
from pipeline.specs import ErrorLimit, load_spec
from tests.clear_numbers import assert_nowhere_in_clear
from tests.handmade import PERSON_ID, case_row, write_drop
from tests.test_hrss_contract import rows
from transforms.keyed import fingerprint

pytestmark = pytest.mark.usefixtures("lenient_specs")


def _run(store_url, drop, **settings):
    return run_source("hrss", Settings.resolve(store_url=store_url, folders={"hrss": drop}, **settings))


def _first_run(store_url, drop):
    write_drop(drop, "HRSS_BJ_20261005.csv", [case_row("C1"), case_row("C2", status="已挂起")])
    return _run(store_url, drop)


def _ledger(store_url):
    return rows(store_url, "SELECT run_id, stream, status FROM etl_run ORDER BY run_id, stream")


def test_the_first_run_records_the_suite_and_key_fingerprints_never_the_keys(store_url, tmp_path):
    result = _first_run(store_url, tmp_path / "drop")
    key = os.environ["SILOBRIDGE_PII_KEY"]  # the fixtures' fixed test key
    recorded = {r["purpose"]: r for r in rows(store_url, "SELECT * FROM store_key")}
    assert set(recorded) == {"pseudonym", "quarantine"}
    assert (recorded["pseudonym"]["suite"], recorded["pseudonym"]["algorithm"]) == ("standard", "HMAC-SHA256")
    assert (recorded["quarantine"]["suite"], recorded["quarantine"]["algorithm"]) == ("standard", "Fernet")
    assert recorded["pseudonym"]["fingerprint"] == fingerprint("standard", key.encode(), "pseudonym")
    assert {r["run_id"] for r in recorded.values()} == {result.run_id}
    assert_nowhere_in_clear(store_url, [PERSON_ID, key])


@pytest.mark.parametrize("change, says", [
    ({"SILOBRIDGE_PII_KEY": "another-deployment-key"},
     r"^The pseudonymization key \(SILOBRIDGE_PII_KEY or the Airflow variable silobridge_pii_key\) is not the one "
     r"the store .* was set up with \(fingerprint [0-9a-f]{12}… recorded by run hrss-.*, this key's is [0-9a-f]{12}…\): "
     r"set the original key again"),
    ({"SILOBRIDGE_CRYPTO": "sm"},
     r"^The store .* was set up with the standard crypto suite \(HMAC-SHA256 pseudonyms, Fernet quarantine, recorded "
     r"by run .*\) but this run uses sm \(HMAC-SM3 pseudonyms, SM4-GCM quarantine\): set SILOBRIDGE_CRYPTO .* to "
     r"standard again"),
    ({"SILOBRIDGE_QUARANTINE_KEY": Fernet.generate_key().decode()},
     r"^The quarantine key \(SILOBRIDGE_QUARANTINE_KEY, or the one derived from the pseudonymization key when it is "
     r"unset\) is not the one the store .* encrypts its quarantined records with .*: set the original"),
])
def test_a_run_with_another_key_or_suite_is_refused_in_one_sentence_without_a_ledger_row(
        store_url, tmp_path, monkeypatch, change, says):
    drop = tmp_path / "drop"
    _first_run(store_url, drop)
    before = _ledger(store_url)
    write_drop(drop, "HRSS_BJ_20261006.csv", [case_row("C3", updated="2026-10-06 09:00:00")])
    original = {name: os.environ.get(name) for name in change}
    for name, value in change.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=says) as refused:
        _run(store_url, drop)
    assert "\n" not in str(refused.value) and str(refused.value).endswith(".")
    assert _ledger(store_url) == before, "a refused run writes no ledger row"
    assert rows(store_url, "SELECT case_no FROM service_case ORDER BY case_no") == [{"case_no": "C1"}]
    assert (drop / "HRSS_BJ_20261006.csv").exists(), "nothing was read or archived"

    for name, value in original.items():
        if value is None:
            monkeypatch.delenv(name)
        else:
            monkeypatch.setenv(name, value)
    _run(store_url, drop)  # with the store's own keys the day loads
    assert rows(store_url, "SELECT case_no FROM service_case ORDER BY case_no") == [{"case_no": "C1"}, {"case_no": "C3"}]


def test_the_runs_own_transaction_refuses_keys_another_run_recorded_meanwhile(store_url, tmp_path, monkeypatch):
    """Two first runs with different keys started together: the check in the run's transaction decides."""
    drop = tmp_path / "drop"
    _first_run(store_url, drop)
    before = _ledger(store_url)
    monkeypatch.setenv("SILOBRIDGE_PII_KEY", "another-deployment-key")
    monkeypatch.setattr(pipeline.runner, "key_differences", lambda keys, recorded: [])  # as if it looked first
    with pytest.raises(ConfigError, match=r"^The pseudonymization key .* is not the one the store"):
        _run(store_url, drop)
    assert _ledger(store_url) == before


def test_the_command_line_names_the_wrong_key_in_one_sentence_and_debug_adds_the_traceback(
        sqlite_url, tmp_path, monkeypatch, capsys):
    drop = tmp_path / "drop"
    _first_run(sqlite_url, drop)
    key = os.environ["SILOBRIDGE_PII_KEY"]
    monkeypatch.setenv("SILOBRIDGE_PII_KEY", "another-deployment-key")
    assert main(["--store", sqlite_url, "run", "hrss", "--drop", str(drop)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: The pseudonymization key") and err.count("\n") == 1 and "Traceback" not in err
    assert "another-deployment-key" not in err and key not in err
    assert main(["--debug", "--store", sqlite_url, "run", "hrss", "--drop", str(drop)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and "error: The pseudonymization key" in err


def _fixed(name):
    spec = load_spec(name).model_copy(update={"error_limit": ErrorLimit()})
    cases = spec.streams["cases"]
    fixed = cases.model_copy(update={"codes": {**cases.codes, "status": {**cases.codes["status"], "已挂起": "suspended"}}})
    return spec.model_copy(update={"streams": {**spec.streams, "cases": fixed}})


def test_a_replay_with_the_wrong_quarantine_key_says_so_in_one_sentence(store_url, tmp_path, monkeypatch, capsys):
    drop = tmp_path / "drop"
    _first_run(store_url, drop)
    monkeypatch.setattr(pipeline.replay, "load_spec", _fixed)
    before = _ledger(store_url)
    monkeypatch.setenv("SILOBRIDGE_QUARANTINE_KEY", Fernet.generate_key().decode())
    assert main(["--store", store_url, "rejects", "replay", "--reason", "unknown_code"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: The quarantine key (SILOBRIDGE_QUARANTINE_KEY") and err.count("\n") == 1

    # A store set up before it kept fingerprints (migration 0003) has none to compare: decrypting tells.
    engine = make_engine(store_url)
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM store_key"))
    engine.dispose()
    assert main(["--store", store_url, "rejects", "replay", "--reason", "unknown_code"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: hrss: quarantined record ") and err.count("\n") == 1
    assert "does not open with the configured quarantine key (Fernet)" in err and "nothing of hrss was replayed" in err
    assert _ledger(store_url) == before
    assert rows(store_url, "SELECT COUNT(*) AS n FROM etl_reject WHERE replayed_at IS NOT NULL") == [{"n": 0}]

    monkeypatch.delenv("SILOBRIDGE_QUARANTINE_KEY")
    assert main(["--store", store_url, "rejects", "replay", "--reason", "unknown_code"]) == 0
    assert "1 loaded" in capsys.readouterr().out
    assert rows(store_url, "SELECT status FROM service_case WHERE case_no = 'C2'") == [{"status": "suspended"}]
