"""The CSV reader's plain-block path gives what reading line by line through csv.reader gives: the same rows,
defects, record numbers and verdict (line numbers in its detail included), wherever blocks end and wherever a
line that is not plain (quotes, lone CR, NUL, bad bytes, over the cap) stands."""

from datetime import date

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from extractors import csv_drop
from extractors.csv_drop import CsvFileReader, DropFile
from tests.handmade import BJ_HEADER, case_row

CAP = 400
PLAIN = [",".join(case_row("C1")), ",".join(case_row("C2", cert="91340600MA2NXCJ57P", applicant_type="1")),
         "a,b,c", "", " ", "张三," * 15 + "尾", "合计,3", ",".join(BJ_HEADER)]
NOT_PLAIN = ['"C9",' + ",".join(case_row("C9")[1:]), 'x,"a\r\nb",' + "y," * 13 + "z", "a\rb", "a\x00b",
             "\udc81" + ",".join(case_row("C8"))[1:], "x" * (CAP + 5)]
ENDINGS = ["\r\n", "\n"]


@st.composite
def deliveries(draw) -> bytes:
    header = draw(st.sampled_from([",".join(BJ_HEADER)] * 4 + ["", "a,b", '"' + BJ_HEADER[0] + '",x']))
    body = draw(st.lists(st.sampled_from(PLAIN) | st.sampled_from(NOT_PLAIN), max_size=25)) \
        if draw(st.booleans()) else draw(st.lists(st.sampled_from(PLAIN), max_size=25))
    trailer = draw(st.sampled_from([[f"合计,{n}"] for n in range(0, 26)] + [[], ["合计,x"]]))
    lines = [header, *body, *trailer]
    text = "".join(line + draw(st.sampled_from(ENDINGS)) for line in lines)
    if draw(st.booleans()):
        text = text.rstrip("\r\n")  # a last line without its line break
    return text.encode("gb18030", "surrogateescape")


def read(path, plain: bool, block: int):
    with pytest.MonkeyPatch.context() as m:
        m.setattr(csv_drop, "BLOCK_BYTES", block)
        if not plain:
            m.setattr(CsvFileReader, "_plain_text", lambda self, data: None)
        reader = CsvFileReader(DropFile(path, "cases", date(2026, 10, 5), 0), BJ_HEADER, encoding="gb18030",
                               trailer_label="合计", batch_rows=4, max_record_bytes=CAP)
        batches = list(reader.batches())
    return [b.to_pylist() for b in batches], reader.verdict


@settings(max_examples=300, deadline=None)
@given(data=deliveries(), block=st.sampled_from([16, 64, 300, 1 << 20]))
def test_plain_blocks_read_as_csv_reader_reads_line_by_line(tmp_path_factory, data, block):
    path = tmp_path_factory.mktemp("drop") / "HRSS_BJ_20261005.csv"
    path.write_bytes(data)
    by_blocks, verdict = read(path, True, block)
    assert (by_blocks, verdict) == read(path, False, block)
    assert all(len(rows) == 4 for rows in by_blocks[:-1]) and all(len(rows) <= 4 for rows in by_blocks)


def test_a_large_plain_file_is_read_in_blocks_with_every_record(tmp_path, monkeypatch):
    """Many blocks and batches: every record once, in order, numbered, and the trailer taken as the trailer."""
    rows = [case_row(f"C{i}") for i in range(3000)]
    path = tmp_path / "HRSS_BJ_20261005.csv"
    path.write_bytes("".join(",".join(r) + "\r\n" for r in [BJ_HEADER, *rows, ["合计", "3000"]]).encode("gb18030"))
    monkeypatch.setattr(csv_drop, "BLOCK_BYTES", 10_000)
    reader = CsvFileReader(DropFile(path, "cases", date(2026, 10, 5), 0), BJ_HEADER, encoding="gb18030",
                           trailer_label="合计", batch_rows=1000)
    batches = list(reader.batches())
    assert [b.num_rows for b in batches] == [1000, 1000, 1000]
    table = pa.Table.from_batches(batches)
    assert table.column("_record_no").to_pylist() == list(range(1, 3001))
    assert table.column(BJ_HEADER[1]).to_pylist() == [r[1] for r in rows]
    assert table.column("_defect").null_count == 3000
    assert (reader.verdict.records, reader.verdict.trailer, reader.verdict.problem) == (3000, 3000, None)
