"""Drop folders and outboxes holding what is not a regular file: links (to a secrets file), FIFOs, sockets,
directories, a marker or manifest that is a link, a file swapped for a link after the scan. None is ever opened;
each is reported every run; the good files load and only they are archived."""

import json
import logging
import os
from pathlib import Path

import pytest

import pipeline.batch_run
import pipeline.drop_run
from tests.clear_numbers import assert_nowhere_in_clear
from tests.handmade import BJ_HEADER, PERSON_ID, case_row, write_drop
from tests.hostile.files_common import (
    batch_bytes, captured, case, ledger_balances, make_socket, no_hang, put_batch, reject_reasons, rows, run,
    warnings_about,
)

pytestmark = pytest.mark.usefixtures("lenient_specs")


@pytest.fixture
def secrets_file(tmp_path) -> Path:
    """A file the pipeline can read but must never show: shaped like a delivery, with a personal number."""
    path = tmp_path / "secrets" / "id.csv"
    path.parent.mkdir()
    row = case_row("S1", cert=PERSON_ID)
    path.write_bytes("\r\n".join([",".join(row), ",".join(BJ_HEADER), ",".join(row), "合计,1", ""]).encode("gb18030"))
    return path


def refused_names(result) -> dict[str, str]:
    return {r["file"]: r["why"] for r in result.notes.get("refused_files", [])}


def test_hrss_refuses_links_fifos_sockets_and_directories_and_loads_the_rest(store_url, tmp_path, secrets_file,
                                                                              caplog):
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "HRSS_BJ_20261005.csv").symlink_to(secrets_file)
    (drop / "HRSS_BJ_20261005.csv.ok").write_bytes(b"")
    os.mkfifo(drop / "HRSS_PJ_20261005.csv")
    (drop / "HRSS_PJ_20261005.csv.ok").write_bytes(b"")
    sock = make_socket(drop / "HRSS_BJ_20261006.csv")
    (drop / "HRSS_BJ_20261006.csv.ok").write_bytes(b"")
    (drop / "HRSS_BJ_20261007.csv").mkdir()
    (drop / "HRSS_BJ_20261007.csv.ok").write_bytes(b"")
    write_drop(drop, "HRSS_BJ_20261008.csv", [case_row("C8", updated="2026-10-08 09:00:00")], marker=False)
    (drop / "HRSS_BJ_20261008.csv.ok").symlink_to(secrets_file)  # a marker that is a link
    (drop / "notes.txt").symlink_to(secrets_file)
    write_drop(drop, "HRSS_BJ_20261009.csv", [case_row("C9", updated="2026-10-09 09:00:00")])
    try:
        with caplog.at_level(logging.INFO, logger="silobridge"), no_hang():
            first = run("hrss", store_url, drop)
            second = run("hrss", store_url, drop)
    finally:
        sock.close()

    refused = {
        "HRSS_BJ_20261005.csv": "is a symbolic link, not a regular file; never opened",
        "HRSS_PJ_20261005.csv": "is a FIFO (named pipe), not a regular file; never opened",
        "HRSS_BJ_20261006.csv": "is a socket, not a regular file; never opened",
        "HRSS_BJ_20261007.csv": "is a directory, not a regular file; never read",
        "HRSS_BJ_20261008.csv.ok": "is a symbolic link, not a regular file; never opened",
        "notes.txt": "is a symbolic link, not a regular file; never opened",
    }
    assert refused_names(first) == refused and refused_names(second) == refused  # every run until they go
    assert first.notes["waiting_for_marker"] == ["HRSS_BJ_20261008.csv"]
    assert [(f["file"], f["outcome"]) for f in first.files] == [("HRSS_BJ_20261009.csv", "loaded")]
    assert [r["case_no"] for r in rows(store_url, "SELECT case_no FROM service_case")] == ["C9"]
    assert reject_reasons(store_url) == []
    assert len(warnings_about(caplog, "hrss: HRSS_BJ_20261005.csv is a symbolic link")) == 2
    # Archived: the loaded file and its marker only; every link stays where it was, pointing where it did.
    assert sorted(p.name for p in (drop / "archive").iterdir()) == ["HRSS_BJ_20261009.csv", "HRSS_BJ_20261009.csv.ok"]
    assert (drop / "HRSS_BJ_20261005.csv").is_symlink() and (drop / "HRSS_BJ_20261008.csv.ok").is_symlink()
    assert secrets_file.exists()
    texts = [captured(caplog), json.dumps([first.as_dict(), second.as_dict()], ensure_ascii=False)]
    assert_nowhere_in_clear(store_url, [PERSON_ID], texts)
    ledger_balances(store_url)


def test_police_refuses_links_fifos_and_a_linked_manifest_and_loads_the_rest(store_url, tmp_path, secrets_file,
                                                                              caplog):
    out = tmp_path / "outbox"
    put_batch(out, 1, batch_bytes(1, [case("GA1")]))
    put_batch(out, 2, batch_bytes(2, [case("GA2")]))
    (out / "GA_20261005_000002.xml").unlink()
    (out / "GA_20261005_000002.xml").symlink_to(secrets_file)
    os.mkfifo(out / "GA_20261005_000003.xml")
    (out / "GA_20261005_000003.xml.sha256").write_bytes(b"0" * 64 + b"  GA_20261005_000003.xml\n")
    put_batch(out, 4, batch_bytes(4, [case("GA4")]))
    (out / "GA_20261005_000004.xml.sha256").unlink()
    (out / "GA_20261005_000004.xml.sha256").symlink_to(secrets_file)
    os.mkfifo(out / "GA_20261005_000005.xml.sha256")
    put_batch(out, 6, batch_bytes(6, [case("GA6")]))
    with caplog.at_level(logging.INFO, logger="silobridge"), no_hang():
        result = run("police", store_url, out)

    assert refused_names(result) == {
        "GA_20261005_000002.xml": "is a symbolic link, not a regular file; never opened",
        "GA_20261005_000003.xml": "is a FIFO (named pipe), not a regular file; never opened",
        "GA_20261005_000004.xml.sha256": "is a symbolic link, not a regular file; never opened",
        "GA_20261005_000005.xml.sha256": "is a FIFO (named pipe), not a regular file; never opened",
    }
    assert result.notes["waiting_for_manifest"] == ["GA_20261005_000004.xml"]
    assert result.notes["gaps"] == ["000002–000005"]
    assert [r["case_no"] for r in rows(store_url, "SELECT case_no FROM service_case ORDER BY case_no")] == ["GA1", "GA6"]
    assert reject_reasons(store_url) == []
    assert sorted(p.name for p in (out / "archive").iterdir()) == [
        "GA_20261005_000001.xml", "GA_20261005_000001.xml.sha256", "GA_20261005_000006.xml",
        "GA_20261005_000006.xml.sha256"]
    assert len(warnings_about(caplog, "police: GA_20261005_000004.xml.sha256 is a symbolic link")) == 1
    assert_nowhere_in_clear(store_url, [PERSON_ID], [captured(caplog), json.dumps(result.as_dict())])
    ledger_balances(store_url)


def swap_for_link_after_scan(monkeypatch, module, scan_name: str, victim: str, target: Path):
    real = getattr(module, scan_name)

    def scan_then_swap(folder, *args):
        scan = real(folder, *args)
        (folder / victim).unlink()
        (folder / victim).symlink_to(target)
        return scan

    monkeypatch.setattr(module, scan_name, scan_then_swap)


def test_an_hrss_file_swapped_for_a_link_after_the_scan_is_refused(store_url, tmp_path, secrets_file, monkeypatch,
                                                                   caplog):
    drop = tmp_path / "drop"
    write_drop(drop, "HRSS_BJ_20261005.csv", [case_row("C1")])
    write_drop(drop, "HRSS_BJ_20261006.csv", [case_row("C2", updated="2026-10-06 09:00:00")])
    swap_for_link_after_scan(monkeypatch, pipeline.drop_run, "scan_drop", "HRSS_BJ_20261005.csv", secrets_file)
    with caplog.at_level(logging.INFO, logger="silobridge"):
        result = run("hrss", store_url, drop)
    assert refused_names(result) == {"HRSS_BJ_20261005.csv": "is a symbolic link, not a regular file; never opened"}
    assert [(f["file"], f["outcome"]) for f in result.files] == [("HRSS_BJ_20261006.csv", "loaded")]
    assert [r["case_no"] for r in rows(store_url, "SELECT case_no FROM service_case")] == ["C2"]
    assert (drop / "HRSS_BJ_20261005.csv").is_symlink()  # not archived
    assert rows(store_url, "SELECT position FROM etl_watermark") == [{"position": "HRSS_BJ_20261006.csv"}]
    assert_nowhere_in_clear(store_url, [PERSON_ID], [captured(caplog)])
    ledger_balances(store_url)


def test_a_police_batch_swapped_for_a_link_after_the_scan_is_refused(store_url, tmp_path, secrets_file,
                                                                     monkeypatch, caplog):
    out = tmp_path / "outbox"
    put_batch(out, 1, batch_bytes(1, [case("GA1")]))
    put_batch(out, 2, batch_bytes(2, [case("GA2")]))
    swap_for_link_after_scan(monkeypatch, pipeline.batch_run, "scan_outbox", "GA_20261005_000001.xml", secrets_file)
    with caplog.at_level(logging.INFO, logger="silobridge"):
        result = run("police", store_url, out)
    assert refused_names(result) == {"GA_20261005_000001.xml": "is a symbolic link, not a regular file; never opened"}
    assert [(f["file"], f["outcome"]) for f in result.files] == [("GA_20261005_000002.xml", "loaded")]
    assert (out / "GA_20261005_000001.xml").is_symlink()
    assert rows(store_url, "SELECT position FROM etl_watermark") == [{"position": "000002"}]
    assert_nowhere_in_clear(store_url, [PERSON_ID], [captured(caplog)])
    ledger_balances(store_url)


def test_an_archive_folder_that_is_a_link_receives_nothing(sqlite_url, tmp_path, caplog):
    drop, elsewhere = tmp_path / "drop", tmp_path / "elsewhere"
    elsewhere.mkdir()
    write_drop(drop, "HRSS_BJ_20261005.csv", [case_row("C1")])
    (drop / "archive").symlink_to(elsewhere)
    with caplog.at_level(logging.INFO, logger="silobridge"):
        run("hrss", sqlite_url, drop)
    assert list(elsewhere.iterdir()) == [] and (drop / "HRSS_BJ_20261005.csv").exists()
    assert warnings_about(caplog, "is a symbolic link, not a folder")
    assert [f["outcome"] for f in run("hrss", sqlite_url, drop).files] == ["already_processed"]


def test_names_are_shown_masked_and_escaped(sqlite_url, tmp_path, secrets_file, caplog):
    drop = tmp_path / "drop"
    write_drop(drop, "HRSS_BJ_20261005.csv", [case_row("C1")])
    (drop / f"{PERSON_ID}.csv").write_bytes(b"x")
    (drop / f"call {PERSON_ID[:3]}-{PERSON_ID[3:7]}-13812345678.txt").write_bytes(b"x")
    (drop / os.fsdecode(b"HRSS_BJ_\xff\xfe.csv")).symlink_to(secrets_file)
    with caplog.at_level(logging.INFO, logger="silobridge"):
        result = run("hrss", sqlite_url, drop)
    shown = sorted(u["file"] for u in result.notes["unknown_files"])
    assert shown == ["340603********0022.csv", "call 340-6031-138****5678.txt"]
    assert refused_names(result) == {"HRSS_BJ_\\xff\\xfe.csv": "is a symbolic link, not a regular file; never opened"}
    assert_nowhere_in_clear(sqlite_url, [PERSON_ID, "13812345678"], [captured(caplog)])
