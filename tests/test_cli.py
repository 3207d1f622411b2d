"""The silobridge command line, as an operator uses it."""

import logging
import re

import pytest

from pipeline.cli import main
from tests.handmade import PERSON_ID, case_row, eval_row, write_drop

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
