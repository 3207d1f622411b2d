"""A full run both ways: the standard suite and the 国密 suite, each run and replayed on SQLite and PostgreSQL."""

import base64
import hashlib
import hmac
import json
import os

import pytest
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

import pipeline.replay
from pipeline.cli import main
from pipeline.config import ConfigError, Settings
from pipeline.runner import run_source
from pipeline.specs import ErrorLimit, load_spec
from tests.clear_numbers import assert_nowhere_in_clear
from tests.handmade import PERSON_ID, PERSON_ID_X, USCC, case_row, eval_row, write_drop
from tests.test_hrss_contract import ledger_balances, rows
from transforms.keyed import SM4_GCM_V1, Sm4GcmCipher, keyed_hash

pytestmark = pytest.mark.usefixtures("lenient_specs")

SM4_HEX = "8f3a0c1e5b7d9f2143658709badcfe10"


def _expected_key(suite: str, number: str) -> str:
    """The pseudonym computed here, independently of transforms.pii: HMAC-SHA256, or HMAC-SM3 (vector-checked)."""
    secret = os.environ["SILOBRIDGE_PII_KEY"].encode()
    if suite == "standard":
        return hmac.new(secret, number.encode(), hashlib.sha256).hexdigest()
    return keyed_hash("sm", secret, number.encode()).hex()


def _open(suite: str, token: bytes) -> bytes:
    """A quarantined record opened with the key the deployment configured (sm) or HKDF-derived (standard)."""
    if suite == "standard":
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                       info=b"silobridge quarantine").derive(os.environ["SILOBRIDGE_PII_KEY"].encode())
        return Fernet(base64.urlsafe_b64encode(derived)).decrypt(token)
    assert token[:1] == SM4_GCM_V1
    return Sm4GcmCipher(bytes.fromhex(SM4_HEX)).decrypt(token)


def _fixed(name):
    spec = load_spec(name).model_copy(update={"error_limit": ErrorLimit()})
    cases = spec.streams["cases"]
    fixed = cases.model_copy(update={"codes": {**cases.codes, "status": {**cases.codes["status"], "已挂起": "suspended"}}})
    return spec.model_copy(update={"streams": {**spec.streams, "cases": fixed}})


@pytest.mark.parametrize("suite", ["standard", "sm"])
def test_a_run_and_a_replay_under_each_suite(store_url, tmp_path, monkeypatch, capsys, suite):
    if suite == "sm":
        monkeypatch.setenv("SILOBRIDGE_CRYPTO", "sm")
        monkeypatch.setenv("SILOBRIDGE_QUARANTINE_KEY", SM4_HEX)
    drop = tmp_path / "drop"
    write_drop(drop, "HRSS_BJ_20261005.csv", [
        case_row("C1", cert=PERSON_ID, phone="13812345678"),
        case_row("C2", cert=PERSON_ID_X, status="已挂起"),  # not in the code map yet: quarantined
        case_row("C3", applicant_type="1", name="淮北市某某科技有限公司", cert=USCC),
    ])
    write_drop(drop, "HRSS_PJ_20261005.csv", [eval_row("E1", "C1", comment="我的身份证340603199003070022")])
    run_source("hrss", Settings.resolve(store_url=store_url, folders={"hrss": drop}))

    recorded = {r["purpose"]: (r["suite"], r["algorithm"]) for r in rows(store_url, "SELECT * FROM store_key")}
    assert recorded == {"pseudonym": (suite, {"standard": "HMAC-SHA256", "sm": "HMAC-SM3"}[suite]),
                        "quarantine": (suite, {"standard": "Fernet", "sm": "SM4-GCM"}[suite])}
    keys = {r["case_no"]: r["applicant_key"] for r in rows(store_url, "SELECT case_no, applicant_key FROM service_case")}
    assert keys == {"C1": _expected_key(suite, PERSON_ID), "C3": _expected_key(suite, USCC)}
    other = "sm" if suite == "standard" else "standard"
    assert keys["C1"] != _expected_key(other, PERSON_ID), "the suites give different pseudonyms"

    [reject] = rows(store_url, "SELECT reject_id, reason, raw_encrypted FROM etl_reject")
    assert reject["reason"] == "unknown_code"
    record = json.loads(_open(suite, bytes(reject["raw_encrypted"])))["record"]
    assert record["办件编号"] == "C2" and record["证件号码"] == PERSON_ID_X

    monkeypatch.setattr(pipeline.replay, "load_spec", _fixed)
    assert main(["--store", store_url, "rejects", "replay", "--reason", "unknown_code"]) == 0
    assert "1 loaded" in capsys.readouterr().out
    assert rows(store_url, "SELECT applicant_key, status FROM service_case WHERE case_no = 'C2'") == [
        {"applicant_key": _expected_key(suite, PERSON_ID_X), "status": "suspended"}]
    ledger_balances(store_url)
    assert_nowhere_in_clear(store_url, [PERSON_ID, PERSON_ID_X, "13812345678", os.environ["SILOBRIDGE_PII_KEY"]])

    # The suite is the store's for life: switching it (or the key) on this store is refused.
    if suite == "sm":
        monkeypatch.delenv("SILOBRIDGE_CRYPTO")
        monkeypatch.delenv("SILOBRIDGE_QUARANTINE_KEY")
    else:
        monkeypatch.setenv("SILOBRIDGE_CRYPTO", "sm")
    with pytest.raises(ConfigError, match=rf"^The store .* was set up with the {suite} crypto suite .* but this run "
                                          rf"uses {other} .*: set SILOBRIDGE_CRYPTO .* to {suite} again"):
        run_source("hrss", Settings.resolve(store_url=store_url, folders={"hrss": drop}))
    assert rows(store_url, "SELECT COUNT(*) AS n FROM etl_run WHERE status = 'failed'") == [{"n": 0}]
