"""Property-based fuzzing of the hrss CSV drop: arbitrary bytes and mutated deliveries as a drop file, and
arbitrary file names. The reader never raises; a run loads the file, quarantines it whole or record by record,
or fails with one sentence, and the ledger always balances."""

import os
from datetime import date, timedelta

from hypothesis import event, given
from hypothesis import strategies as st

from extractors.csv_drop import CsvFileReader, DropFile, scan_drop
from pipeline.specs import load_spec
from tests.handmade import BJ_HEADER, case_row
from tests.hostile.files_common import reject_reasons
from tests.hostile.fuzz_common import FAST, THROUGH_RUNS, checked_run, fresh_number, mutated

import pytest

pytestmark = pytest.mark.usefixtures("lenient_specs")
WHOLE_FILE = {"bad_header", "missing_trailer", "trailer_mismatch", "record_too_large", "malformed_csv"}
VALID = b"".join(",".join(r).encode("gb18030") + b"\r\n" for r in
                 [BJ_HEADER, case_row("C1"), case_row("C2", cert="91340600MA2NXCJ57P", applicant_type="1"),
                  ["合计", "2"]])
ANY_TEXT = st.text(st.characters(blacklist_categories=("Cs",)) | st.just("\udc81"), max_size=30)
ROW_TEXT = st.text(st.sampled_from(list('ab,"\r\n 张 \x00０1-:/') + ["\udc81"]), max_size=20)


@st.composite
def structured(draw) -> bytes:
    """The contract's header, rows of odd fields, and a trailer that may or may not fit."""
    rows = draw(st.lists(st.lists(ROW_TEXT, min_size=14, max_size=18), max_size=4))
    lines = [",".join(BJ_HEADER)] + [",".join(f'"{v}"' if draw(st.booleans()) else v for v in r) for r in rows]
    trailer = draw(st.sampled_from([len(rows), len(rows) + 1, None]))
    if trailer is not None:
        lines.append(f"合计,{trailer}")
    return "\r\n".join(lines).encode("gb18030", "surrogateescape") + b"\r\n"


@st.composite
def odd_values(draw) -> bytes:
    """A well-formed file whose rows carry arbitrary values: header and trailer fit, so it reaches unify."""
    rows = [case_row(f"C{i}") for i in range(draw(st.integers(1, 3)))]
    for row in rows:
        for _ in range(draw(st.integers(1, 3))):
            row[draw(st.integers(0, len(row) - 1))] = draw(ANY_TEXT | st.from_regex(r"[0-9.eE+-]{1,25}", fullmatch=True))
    lines = [BJ_HEADER, *rows, ["合计", str(len(rows))]]
    text = "\r\n".join(",".join('"' + v.replace('"', '""') + '"' for v in line) for line in lines) + "\r\n"
    return text.encode("gb18030", "surrogateescape")


CONTENTS = st.binary(max_size=600) | mutated(VALID) | structured() | odd_values()


def day_name(n: int) -> str:
    return f"HRSS_BJ_{date(2000, 1, 1) + timedelta(days=n):%Y%m%d}.csv"


@FAST
@given(data=CONTENTS)
def test_the_reader_gives_a_verdict_for_any_bytes(tmp_path, data):
    path = tmp_path / day_name(fresh_number())
    path.write_bytes(data)
    reader = CsvFileReader(DropFile(path, "cases", date(2026, 10, 5), 0), BJ_HEADER, encoding="gb18030",
                           trailer_label="合计", max_record_bytes=1024)
    numbers = [n for batch in reader.batches() for n in batch.column("_record_no").to_pylist()]
    verdict = reader.verdict
    assert verdict is not None
    assert verdict.problem in WHOLE_FILE | {None}
    if verdict.problem is None:
        assert numbers == list(range(1, verdict.records + 1)) and verdict.records == verdict.trailer
    assert "\n" not in verdict.detail


@THROUGH_RUNS
@given(data=CONTENTS)
def test_any_drop_file_is_loaded_or_quarantined_and_the_ledger_balances(sqlite_url, tmp_path, data):
    folder = tmp_path / f"drop{fresh_number()}"
    folder.mkdir()
    name = day_name(fresh_number())
    (folder / name).write_bytes(data)
    (folder / f"{name}.ok").write_bytes(b"")
    result = checked_run("hrss", sqlite_url, folder)
    if result is None:
        return
    [entry] = result.files
    event(f"{entry['outcome']} {entry.get('reason', '')}")
    assert entry["outcome"] in {"loaded", "quarantined"}
    if entry["outcome"] == "quarantined":
        assert ("file", name, entry["reason"]) in reject_reasons(sqlite_url)
        assert entry["reason"] in WHOLE_FILE


NAME_BYTES = st.binary(min_size=1, max_size=60).filter(lambda b: b"/" not in b and b"\x00" not in b
                                                       and b not in (b".", b".."))
LIKELY = st.builds(lambda pre, digits, post: pre + digits + post,
                   st.sampled_from([b"HRSS_BJ_", b"HRSS_PJ_", b"hrss_bj_", b""]),
                   st.text("0123456789０１２٣", min_size=6, max_size=10).map(lambda t: t.encode()),
                   st.sampled_from([b".csv", b".csv\n", b"_R1.csv", b"_R0.csv", b".csv.ok", b".CSV", b""]))


@FAST
@given(names=st.lists(NAME_BYTES | LIKELY, max_size=6, unique=True))
def test_any_file_names_are_sorted_into_ready_waiting_or_unknown(tmp_path, names):
    folder = tmp_path / f"names{fresh_number()}"
    folder.mkdir()
    for raw in names:
        (folder / os.fsdecode(raw)).write_bytes(b"x")
    spec = load_spec("hrss")
    scan = scan_drop(folder, {s: v.file_pattern for s, v in spec.streams.items()}, ".ok")
    taken = [f.name for f in scan.ready] + scan.unfinished + [u.name for u in scan.unknown]
    on_disk = {os.fsdecode(raw) for raw in names}
    assert sorted(taken) == sorted(n for n in on_disk if not n.endswith(".ok"))
    for f in scan.ready:
        assert f.name.isascii() and "\n" not in f.name and f.name + ".ok" in on_disk
    assert scan.refused == []


@THROUGH_RUNS
@given(names=st.lists(NAME_BYTES | LIKELY, min_size=1, max_size=4, unique=True))
def test_any_file_names_never_fail_a_run(sqlite_url, tmp_path, names):
    folder = tmp_path / f"drop{fresh_number()}"
    folder.mkdir()
    for raw in names:
        (folder / os.fsdecode(raw)).write_bytes(VALID)
        (folder / (os.fsdecode(raw) + ".ok")).write_bytes(b"")
    result = checked_run("hrss", sqlite_url, folder)
    assert result is not None, "a run failed on file names alone"
    shown = [u["file"] for u in result.notes.get("unknown_files", [])]
    assert all(s.isprintable() for s in shown)
