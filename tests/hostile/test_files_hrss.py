"""hrss drop against hostile files: names that only look like deliveries, records without end, a file without
its header; nothing of them quoted anywhere."""

import csv
import json
import logging
import tracemalloc
from datetime import date

import pytest

from extractors.csv_drop import CsvFileReader, DropFile
from extractors.limits import MAX_RECORD_BYTES
from tests.clear_numbers import assert_nowhere_in_clear
from tests.handmade import BJ_HEADER, PERSON_ID, case_row, eval_row, write_drop
from tests.hostile.files_common import captured, ledger_balances, reject_reasons, rows, run, warnings_about

pytestmark = pytest.mark.usefixtures("lenient_specs")
PHONE = "13812345678"


@pytest.fixture
def drop(tmp_path):
    return tmp_path / "drop"


LOOKALIKES = {
    "HRSS_BJ_20261399.csv": "HRSS_BJ_20261399.csv",  # month 13, day 99
    "HRSS_BJ_20260230.csv": "HRSS_BJ_20260230.csv",  # 30 February
    "HRSS_BJ_２０２６１００５.csv": "HRSS_BJ_２０２６１００５.csv",  # full-width digits
    "HRSS_PJ_٢٠٢٦١٠٠٥.csv": "HRSS_PJ_٢٠٢٦١٠٠٥.csv",  # Arabic-Indic digits
    "HRSS_BJ_20261005.csv\n": "HRSS_BJ_20261005.csv\\x0a",  # `$` would match before the newline
    "HRSS_BJ_20261005_R０.csv": "HRSS_BJ_20261005_R０.csv",
}


def test_names_that_only_look_like_deliveries_are_reported_every_run_and_left_alone(store_url, drop, caplog):
    for name in LOOKALIKES:
        write_drop(drop, name, [case_row("X1")])
    write_drop(drop, "HRSS_BJ_20261006.csv", [case_row("C1", updated="2026-10-06 09:00:00")])
    with caplog.at_level(logging.INFO, logger="silobridge"):
        first = run("hrss", store_url, drop)
        write_drop(drop, "HRSS_BJ_20261007.csv", [case_row("C2", updated="2026-10-07 09:00:00")])
        second = run("hrss", store_url, drop)

    for result in (first, second):
        assert sorted(u["file"] for u in result.notes["unknown_files"]) == sorted(LOOKALIKES.values())
    assert {u["file"]: u["why"] for u in first.notes["unknown_files"]}["HRSS_BJ_20261399.csv"] == \
        "is named like a cases file but its date is not a calendar day written in 8 ASCII digits (yyyyMMdd)"
    assert [f["file"] for f in first.files] == ["HRSS_BJ_20261006.csv"]
    assert [f["file"] for f in second.files] == ["HRSS_BJ_20261007.csv"]
    assert [r["case_no"] for r in rows(store_url, "SELECT case_no FROM service_case ORDER BY case_no")] == ["C1", "C2"]
    assert all((drop / name).exists() and (drop / f"{name}.ok").exists() for name in LOOKALIKES)
    assert len(warnings_about(caplog, "HRSS_BJ_20261399.csv is named like a cases file")) == 2
    assert reject_reasons(store_url) == []
    ledger_balances(store_url)


def test_the_spec_patterns_match_whole_ascii_names_only():
    import re

    from pipeline.specs import load_spec

    spec = load_spec("hrss")
    for stream, name in (("cases", "HRSS_BJ_20261005_R2.csv"), ("evaluations", "HRSS_PJ_20261005.csv")):
        pattern = re.compile(spec.streams[stream].file_pattern, re.ASCII)
        assert pattern.fullmatch(name)
        assert not pattern.fullmatch(name + "\n") and not pattern.fullmatch("x" + name)
        assert not re.compile(spec.streams[stream].file_pattern).fullmatch(name.replace("1005", "１００５"))


def sparse_drop(drop, name: str, size: int):
    """A file that starts with the header and then holds `size` bytes with no line break at all."""
    drop.mkdir(parents=True, exist_ok=True)
    path = drop / name
    path.write_bytes(",".join(BJ_HEADER).encode("gb18030") + b"\r\n")
    with path.open("r+b") as f:
        f.truncate(size)
    (drop / f"{name}.ok").write_bytes(b"")
    return path


def test_a_file_without_line_breaks_is_quarantined_whole_and_the_others_load(store_url, drop):
    sparse_drop(drop, "HRSS_BJ_20261005.csv", 64 << 20)
    write_drop(drop, "HRSS_PJ_20261005.csv", [eval_row("E1", "C1")])
    tracemalloc.start()
    try:
        result = run("hrss", store_url, drop)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert reject_reasons(store_url) == [("file", "HRSS_BJ_20261005.csv", "record_too_large")]
    detail = rows(store_url, "SELECT detail FROM etl_reject")[0]["detail"]
    assert "line 2" in detail and "csv.max_record_bytes" in detail and str(MAX_RECORD_BYTES) in detail
    assert [r["eval_no"] for r in rows(store_url, "SELECT eval_no FROM service_evaluation")] == ["E1"]
    assert [f["outcome"] for f in result.files] == ["quarantined", "loaded"]
    assert peak < 16 << 20
    ledger_balances(store_url)


def test_the_reader_holds_one_cap_of_a_2_gb_line_not_the_line(drop):
    path = sparse_drop(drop, "HRSS_BJ_20261005.csv", 2 << 30)
    reader = CsvFileReader(DropFile(path, "cases", date(2026, 10, 5), 0), BJ_HEADER, encoding="gb18030",
                           trailer_label="合计")
    tracemalloc.start()
    try:
        assert list(reader.batches()) == []
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert reader.verdict.problem == "record_too_large"
    assert peak < 4 * MAX_RECORD_BYTES


def test_a_long_but_legal_field_loads_whatever_csvs_own_limit(store_url, drop, monkeypatch):
    monkeypatch.setattr(csv, "field_size_limit", csv.field_size_limit)  # restored after the test
    csv.field_size_limit(131_072)  # the standard library's default
    comment = "好" * 300_000  # 600 000 bytes in GB18030: under the cap, far over 131 072 characters
    write_drop(drop, "HRSS_PJ_20261005.csv", [eval_row("E1", "C1", comment=comment)])
    run("hrss", store_url, drop)
    assert [len(r["comment"]) for r in rows(store_url, "SELECT comment FROM service_evaluation")] == [300_000]
    assert reject_reasons(store_url) == []


def test_a_quoted_field_that_never_ends_is_a_record_too_large(store_url, drop):
    lines = [f"第{i}行说明文字," for i in range(80_000)]  # a quote opened and never closed
    write_drop(drop, "HRSS_PJ_20261005.csv", [eval_row("E1", "C1")],
               raw_rows=["E2,C1,5,网厅,N,\"开始".encode("gb18030")] + [line.encode("gb18030") for line in lines])
    write_drop(drop, "HRSS_PJ_20261006.csv", [eval_row("E3", "C1", at="2026-10-07 10:00:00")])
    run("hrss", store_url, drop)
    assert reject_reasons(store_url) == [("file", "HRSS_PJ_20261005.csv", "record_too_large")]
    assert "line 3" in rows(store_url, "SELECT detail FROM etl_reject")[0]["detail"]
    assert [r["eval_no"] for r in rows(store_url, "SELECT eval_no FROM service_evaluation")] == ["E3"]
    ledger_balances(store_url)


def test_the_record_cap_comes_from_the_spec(store_url, drop, monkeypatch):
    import pipeline.runner
    from pipeline.specs import ErrorLimit, load_spec

    def small_cap(name):
        spec = load_spec(name)
        return spec.model_copy(update={"error_limit": ErrorLimit(),
                                       "csv": spec.csv.model_copy(update={"max_record_bytes": 2048})})

    monkeypatch.setattr(pipeline.runner, "load_spec", small_cap)
    write_drop(drop, "HRSS_PJ_20261005.csv", [eval_row("E1", "C1", comment="x" * 3000)])
    write_drop(drop, "HRSS_PJ_20261006.csv", [eval_row("E2", "C1", comment="x" * 1500, at="2026-10-07 10:00:00")])
    run("hrss", store_url, drop)
    assert reject_reasons(store_url) == [("file", "HRSS_PJ_20261005.csv", "record_too_large")]
    assert [r["eval_no"] for r in rows(store_url, "SELECT eval_no FROM service_evaluation")] == ["E2"]


def test_the_record_cap_and_encoding_are_validated_when_the_spec_is_loaded():
    from pydantic import ValidationError

    from pipeline.specs import CsvSpec, load_spec

    spec = load_spec("hrss").csv
    assert spec.max_record_bytes == MAX_RECORD_BYTES
    for bad in ({"max_record_bytes": 10}, {"encoding": "utf-16"}, {"encoding": "nosuch"},
                {"archive_folder": "/tmp"}, {"marker_suffix": ""}):
        with pytest.raises(ValidationError):
            CsvSpec.model_validate({**spec.model_dump(), **bad})


def test_a_file_without_its_header_is_quarantined_and_its_first_row_quoted_nowhere(store_url, drop, caplog):
    first = case_row("C1", name="张三丰", cert=PERSON_ID, phone=PHONE)
    write_drop(drop, "HRSS_BJ_20261005.csv", [case_row("C2")], header=first)
    swapped = ["办件编号", "业务流水号", *BJ_HEADER[2:]]
    write_drop(drop, "HRSS_BJ_20261006.csv", [case_row("C3")], header=swapped)
    write_drop(drop, "HRSS_PJ_20261005.csv", [eval_row("E1", "C1")], header=[PERSON_ID, PHONE])
    with caplog.at_level(logging.INFO, logger="silobridge"):
        result = run("hrss", store_url, drop)
    assert [r[2] for r in reject_reasons(store_url)] == ["bad_header"] * 3
    details = {r["location"]: r["detail"] for r in rows(store_url, "SELECT location, detail FROM etl_reject")}
    assert "position(s) 1 (业务流水号), 2 (办件编号), 3 (实施编码), 4 (事项名称), 5 (申请人类型) and 11 more" \
        in details["HRSS_BJ_20261005.csv"]
    assert "it differs at position(s) 1 (业务流水号), 2 (办件编号);" in details["HRSS_BJ_20261006.csv"]
    assert "its first line has 2 field(s), the contract's header has 7" in details["HRSS_PJ_20261005.csv"]
    texts = [captured(caplog), json.dumps(result.as_dict(), ensure_ascii=False)]
    assert_nowhere_in_clear(store_url, [PERSON_ID, PHONE], texts)
    assert all("张三丰" not in t for t in [*texts, *details.values()])
