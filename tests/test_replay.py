"""rejects replay: after a code map is fixed, quarantined records move into the unified tables."""

import pipeline.replay
import pipeline.runner
from loaders.engine import make_engine
from pipeline.cli import main
from pipeline.config import Settings
from pipeline.runner import run_source
from pipeline.specs import ErrorLimit, load_spec
from quality.reconcile import reconcile
from tests.handmade import case_row, write_drop
from tests.test_hrss_contract import ledger_balances, rows


def _lenient(name):
    return load_spec(name).model_copy(update={"error_limit": ErrorLimit()})


def _with_status(name, extra):
    spec = _lenient(name)
    cases = spec.streams["cases"]
    fixed = cases.model_copy(update={"codes": {**cases.codes, "status": {**cases.codes["status"], **extra}}})
    return spec.model_copy(update={"streams": {**spec.streams, "cases": fixed}})


def test_a_fixed_code_map_and_a_replay_load_the_quarantined_records(store_url, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(pipeline.runner, "load_spec", _lenient)
    drop = tmp_path / "drop"
    write_drop(drop, "HRSS_BJ_20261005.csv", [
        case_row("C1"), case_row("C2", status="已挂起"), case_row("C3", status="已挂起", fee="abc"),
    ])
    run_source("hrss", Settings.resolve(store_url=store_url, folders={"hrss": drop}))
    assert not reconcile(make_engine(store_url)).balanced  # an unknown code value is a finding

    # The department confirms 已挂起 means 特别程序挂起: the code map gains it.
    monkeypatch.setattr(pipeline.replay, "load_spec", lambda name: _with_status(name, {"已挂起": "suspended"}))
    assert main(["--store", store_url, "rejects", "replay", "--reason", "unknown_code", "--json"]) == 2
    assert "--json lists quarantined records" in capsys.readouterr().err
    assert main(["--store", store_url, "rejects", "replay", "--reason", "unknown_code"]) == 0
    out = capsys.readouterr().out
    assert "1 loaded" in out and "1 quarantined again: invalid_value" in out

    cases = {r["case_no"]: r["status"] for r in rows(store_url, "SELECT case_no, status FROM service_case")}
    assert cases == {"C1": "submitted", "C2": "suspended"}
    replayed = rows(store_url, "SELECT record_key, replay_outcome, replay_run_id FROM etl_reject "
                               "WHERE reason = 'unknown_code' ORDER BY record_key")
    assert [(r["record_key"], r["replay_outcome"]) for r in replayed] == [
        ("C2", "loaded"), ("C3", "quarantined again: invalid_value")]
    assert all(r["replay_run_id"].startswith("hrss-replay-") for r in replayed)
    again = rows(store_url, "SELECT record_key, reason FROM etl_reject WHERE replayed_at IS NULL")
    assert again == [{"record_key": "C3", "reason": "invalid_value"}]
    ledger_balances(store_url)
    # A second replay finds nothing left with that reason.
    assert main(["--store", store_url, "rejects", "replay", "--reason", "unknown_code"]) == 0
    assert "no quarantined records" in capsys.readouterr().out
    findings = {f.kind for f in reconcile(make_engine(store_url)).findings}
    assert "unknown_code" not in findings
