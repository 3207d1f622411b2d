"""police outbox against hostile batches: re-deliveries after a whole-batch quarantine, other encodings,
far-away batch numbers, size caps, and no raw value in any detail or log line."""

import hashlib
import json
import logging
import tracemalloc

import pytest

from extractors import xml_batches
from loaders.engine import make_engine
from quality.reconcile import reconcile
from tests.clear_numbers import assert_nowhere_in_clear
from tests.handmade import PERSON_ID
from tests.hostile.files_common import (
    batch_bytes, captured, case, evaluation, ledger_balances, put_batch, reject_reasons, rows, run,
)

pytestmark = pytest.mark.usefixtures("lenient_specs")
NAME2 = "GA_20261005_000002.xml"
PHONE = "13912345678"


def good_manifest(data: bytes, name: str) -> bytes:
    return f"{hashlib.sha256(data).hexdigest()}  {name}\n".encode()


def wrong_manifest(data: bytes, name: str) -> bytes:
    return f"{hashlib.sha256(data + b'x').hexdigest()}  {name}\n".encode()


GOOD2 = batch_bytes(2, [case("GA2")])
# Each way a batch is quarantined whole: (its bytes, how its manifest is written, the reason).
BAD = {
    "corrupt_bytes": (GOOD2.replace(b"GA2", b"GA7"), lambda d, n: good_manifest(GOOD2, n), "checksum_mismatch"),
    "wrong_manifest": (GOOD2, wrong_manifest, "checksum_mismatch"),
    "count_mismatch": (GOOD2.replace(b'cases="1"', b'cases="2"'), good_manifest, "count_mismatch"),
    "malformed_xml": (GOOD2.replace(b"</CASE>", b"</CASE> R&D", 1), good_manifest, "malformed_xml"),
    "doctype": (GOOD2.replace(b"?>\n", b'?>\n<!DOCTYPE DATA [<!ENTITY a "b">]>\n', 1), good_manifest,
                "doctype_refused"),
    "declared_gbk": (GOOD2.replace(b'encoding="UTF-8"', b'encoding="GBK"'), good_manifest, "bad_encoding"),
    "batch_attribute": (GOOD2.replace(b'batch="000002"', b'batch="000009"'), good_manifest,
                        "batch_attribute_mismatch"),
    "text_over_cap": (GOOD2.replace(b"<SXMC>", b"<!--" + b"x" * (xml_batches.MAX_TEXT_BYTES + 10) + b"--><SXMC>"),
                      good_manifest, "too_large"),
}


@pytest.mark.parametrize("kind", list(BAD))
def test_a_batch_quarantined_whole_is_skipped_when_the_same_delivery_comes_again_and_loads_when_good(
        store_url, tmp_path, kind):
    out = tmp_path / "outbox"
    bad, manifest, reason = BAD[kind]
    put_batch(out, 1, batch_bytes(1, [case("GA1")]))
    put_batch(out, 2, bad, manifest=manifest(bad, NAME2))
    first = run("police", store_url, out)
    assert reject_reasons(store_url) == [("file", NAME2, reason)]
    assert first.notes["gaps"] == ["000002"]

    put_batch(out, 2, bad, manifest=manifest(bad, NAME2))  # the same bad delivery again
    second = run("police", store_url, out)
    assert [f["outcome"] for f in second.files] == ["already_processed"]
    assert reject_reasons(store_url) == [("file", NAME2, reason)]  # reported once
    assert second.notes["gaps"] == ["000002"]

    other = bad + b"\n"  # another delivery, still bad the same way: judged again
    put_batch(out, 2, other, manifest=manifest(other, NAME2))
    run("police", store_url, out)
    assert reject_reasons(store_url) == [("file", NAME2, reason)] * 2

    put_batch(out, 2, GOOD2)  # a good re-delivery loads and closes the gap
    last = run("police", store_url, out)
    assert [(f["outcome"], f.get("cases")) for f in last.files] == [("loaded", 1)]
    assert "gaps" not in last.notes
    assert [r["case_no"] for r in rows(store_url, "SELECT case_no FROM service_case ORDER BY case_no")] == \
        ["GA1", "GA2"]
    assert rows(store_url, "SELECT outcome FROM etl_watermark WHERE position = '000002'") == [{"outcome": "loaded"}]
    assert not [f for f in reconcile(make_engine(store_url), "police").findings if f.kind == "batch_gap"]
    ledger_balances(store_url)


MOJIBAKE = "å±\x85ä½\x8f"  # 居住 read as ISO-8859-1


@pytest.mark.parametrize("data", [
    # UTF-8 bytes declared ISO-8859-1: expat would decode them into mojibake
    batch_bytes(1, [case("GA1")]).replace(b'encoding="UTF-8"', b'encoding="ISO-8859-1"'),
    batch_bytes(1, [case("GA1")]).replace(b'encoding="UTF-8"', b"encoding='gb2312'"),
    batch_bytes(1, [case("GA1")]).replace(b'encoding="UTF-8"', b'encoding="UTF-16"'),
    batch_bytes(1, [case("GA1")]).decode().replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16"),
    batch_bytes(1, [case("GA1")]).decode().replace('encoding="UTF-8"', 'encoding="GB18030"').encode("gb18030"),
    # declared UTF-8 (or not declared at all) but the bytes are GB18030 or Latin-1
    batch_bytes(1, [case("GA1")]).decode().encode("gb18030"),
    batch_bytes(1, [case("GA1", SXMC="Café")]).replace(b'<?xml version="1.0" encoding="UTF-8"?>\n', b"")
    .decode().encode("latin-1", "replace"),
], ids=["iso-8859-1", "gb2312", "utf-16-declared", "utf-16", "gb18030-declared", "gb18030-bytes", "latin-1-bytes"])
def test_a_batch_in_another_encoding_is_quarantined_whole_never_loaded_garbled(store_url, tmp_path, data):
    out = tmp_path / "outbox"
    put_batch(out, 1, data)
    put_batch(out, 2, batch_bytes(2, [case("GA2")]))
    result = run("police", store_url, out)
    assert reject_reasons(store_url) == [("file", "GA_20261005_000001.xml", "bad_encoding")]
    assert [r["case_no"] for r in rows(store_url, "SELECT case_no FROM service_case")] == ["GA2"]
    assert "UTF-8" in rows(store_url, "SELECT detail FROM etl_reject")[0]["detail"]
    assert MOJIBAKE not in json.dumps(rows(store_url, "SELECT item_name FROM service_case"), ensure_ascii=False)
    assert result.notes["gaps"] == ["000001"]
    ledger_balances(store_url)


def test_a_batch_number_far_beyond_the_last_is_one_gap_range_everywhere(store_url, tmp_path, caplog):
    out = tmp_path / "outbox"
    for seq in range(10, 13):  # the outbox's history starts at 000010 here
        put_batch(out, seq, batch_bytes(seq, [case(f"GA{seq}")]))
    put_batch(out, 999_999, batch_bytes(999_999, [case("GA999999")]))
    with caplog.at_level(logging.INFO, logger="silobridge"):
        result = run("police", store_url, out)
    assert (result.notes["gaps"], result.notes["missing_batches"]) == (["000013–999998"], 999_986)
    gap_lines = [m for m in captured(caplog).splitlines() if "missing" in m]
    assert gap_lines == ["police: 999986 batch number(s) missing or not yet loaded: 000013–999998"]
    [finding] = [f for f in reconcile(make_engine(store_url), "police").findings if f.kind == "batch_gap"]
    assert (finding.detail, finding.count) == ("000013–999998", 999_986)
    notes = rows(store_url, "SELECT notes FROM etl_run WHERE stream = 'cases'")[0]["notes"]
    assert len(notes) < 500

    put_batch(out, 500_000, batch_bytes(500_000, [case("GA500000")]))
    assert run("police", store_url, out).notes["gaps"] == ["000013–499999", "500001–999998"]


def spy_on_parser(monkeypatch) -> dict:
    """Counts the bytes the XML parser is given."""
    seen = {"bytes": 0}
    real = xml_batches.feed_parser

    class Counting:
        def __init__(self, source):
            self.source = source

        def read(self, size=-1):
            data = self.source.read(size)
            seen["bytes"] += len(data)
            return data

    monkeypatch.setattr(xml_batches, "feed_parser", lambda parser, source: real(parser, Counting(source)))
    return seen


def test_a_50_mb_attribute_is_refused_after_the_cap_with_bounded_memory(store_url, tmp_path, monkeypatch):
    out = tmp_path / "outbox"
    huge = 50 << 20
    good = batch_bytes(1, [case("GA1")])
    data = good.replace(b"<DATA ", b'<DATA x="' + b"a" * huge + b'" ', 1)
    put_batch(out, 1, data)
    put_batch(out, 2, batch_bytes(2, [case("GA2")]))
    del data
    parsed = spy_on_parser(monkeypatch)
    tracemalloc.start()
    try:
        run("police", store_url, out)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert reject_reasons(store_url) == [("file", "GA_20261005_000001.xml", "too_large")]
    detail = rows(store_url, "SELECT detail FROM etl_reject")[0]["detail"]
    assert "extract.max_text_bytes" in detail and "1048576" in detail
    assert [r["case_no"] for r in rows(store_url, "SELECT case_no FROM service_case")] == ["GA2"]
    # The parser got about one cap of the 50 MB (so its square stays small), and the run's memory stays far
    # below the file's size.
    assert parsed["bytes"] < 2 * xml_batches.MAX_TEXT_BYTES + len(good) + huge // 1000
    assert peak < 16 << 20
    ledger_balances(store_url)


def test_a_batch_over_the_size_cap_is_refused_unread(store_url, tmp_path, monkeypatch):
    out = tmp_path / "outbox"
    path = put_batch(out, 1, b"")
    with path.open("r+b") as f:  # sparse: 300 MB that take no disk
        f.truncate(300 << 20)
    path.with_name(path.name + ".sha256").write_bytes(good_manifest(b"", path.name))
    put_batch(out, 2, batch_bytes(2, [case("GA2")]))
    parsed = spy_on_parser(monkeypatch)
    result = run("police", store_url, out)
    assert reject_reasons(store_url) == [("file", "GA_20261005_000001.xml", "too_large")]
    assert "extract.max_batch_bytes" in rows(store_url, "SELECT detail FROM etl_reject")[0]["detail"]
    assert parsed["bytes"] == len(batch_bytes(2, [case("GA2")]))  # only batch 2 went to the parser
    assert [f["outcome"] for f in result.files] == ["quarantined", "loaded"]
    ledger_balances(store_url)


def test_the_caps_come_from_the_spec(store_url, tmp_path, monkeypatch):
    import pipeline.runner
    from pipeline.specs import ErrorLimit, load_spec

    def small_caps(name):
        spec = load_spec(name)
        extract = {**spec.extract, "max_batch_bytes": 4096, "max_text_bytes": 1024}
        return spec.model_copy(update={"error_limit": ErrorLimit(), "extract": extract})

    monkeypatch.setattr(pipeline.runner, "load_spec", small_caps)
    out = tmp_path / "outbox"
    put_batch(out, 1, batch_bytes(1, [case("GA1", SXMC="长" * 400)]))  # 1200 bytes of text
    put_batch(out, 2, batch_bytes(2, [case(f"GA2{i}") for i in range(12)]))  # over 4096 bytes
    put_batch(out, 3, batch_bytes(3, [case("GA3", SXMC="长" * 300)]))  # 900 bytes: under the cap
    run("police", store_url, out)
    assert [(r[1], r[2]) for r in reject_reasons(store_url)] == [
        ("GA_20261005_000001.xml", "too_large"), ("GA_20261005_000002.xml", "too_large")]
    assert [r["case_no"] for r in rows(store_url, "SELECT case_no FROM service_case")] == ["GA3"]


def test_caps_are_validated_when_the_spec_is_loaded():
    from pydantic import ValidationError

    from pipeline.specs import load_spec

    spec = load_spec("police")
    assert spec.batch_extract().max_text_bytes == xml_batches.MAX_TEXT_BYTES
    for bad in ({"max_text_bytes": 0}, {"max_batch_bytes": "big"}, {"archive_folder": "../elsewhere"},
                {"max_text_byte": 5}):
        with pytest.raises(ValidationError):
            type(spec).model_validate({**spec.model_dump(), "extract": {**spec.extract, **bad}})


def test_no_raw_value_of_a_refused_batch_is_quoted(store_url, tmp_path, caplog):
    out = tmp_path / "outbox"
    put_batch(out, 1, batch_bytes(1, [case("GA1")]).replace(b'batch="000001"', f'batch="{PERSON_ID}"'.encode()))
    put_batch(out, 2, batch_bytes(2, [case("GA2")]).replace(b'cases="1"', f'cases="{PHONE}"'.encode()))
    put_batch(out, 3, batch_bytes(3, [case("GA3")]).replace(b"<DATA ", f"<X{PERSON_ID} ".encode())
              .replace(b"</DATA>", f"</X{PERSON_ID}>".encode()))
    put_batch(out, 4, batch_bytes(4, [{**case("GA4"), f"N{PHONE}": "x"}], [evaluation("P4", "GA4")]))
    put_batch(out, 5, batch_bytes(5, [case("GA5")]).replace(b'"UTF-8"', f'"X{PERSON_ID}"'.encode()))
    with caplog.at_level(logging.INFO, logger="silobridge"):
        result = run("police", store_url, out)
    assert [(r[1], r[2]) for r in reject_reasons(store_url)] == [
        ("GA_20261005_000001.xml", "batch_attribute_mismatch"), ("GA_20261005_000002.xml", "count_mismatch"),
        ("GA_20261005_000003.xml", "malformed_xml"), ("GA_20261005_000005.xml", "bad_encoding")]
    details = [r["detail"] for r in rows(store_url, "SELECT detail FROM etl_reject ORDER BY reject_id")]
    assert "18 characters" in details[0] and "(a number of 11 digits)" in details[1]
    assert "the encoding of 19 bytes" in details[3]
    assert result.files[3]["unknown_elements"] == {"CASE/(a name of 12 characters)": 1}
    assert_nowhere_in_clear(store_url, [PERSON_ID, PHONE], [captured(caplog), json.dumps(result.as_dict())])
