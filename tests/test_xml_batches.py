"""police.md, as it concerns reading the outbox: extractors.xml_batches on batches made by hand and by the simulator.

Hand-made documents are spelled out here from the contract, not rendered by the
simulator, so that a drift on either side shows up as a failure.
"""

from __future__ import annotations

import hashlib
import re
import tracemalloc
from datetime import date
from functools import partial
from pathlib import Path

import pyarrow as pa
import pytest

from extractors import xml_batches
from extractors.xml_batches import FIELDS, PROVENANCE, XmlBatchReader, batch_gaps, gap_text, scan_outbox
from simulators import police_outbox
from tests.handmade import PERSON_ID, PERSON_ID_X, USCC
from transforms.pii import mask_id_card, mask_other_cert, pseudonym

KEY = b"test-only-secret"
PSEUDONYMIZE = partial(pseudonym, KEY)
GENERATED = "2026-10-05T10:00:00+08:00"
EVALUATOR_ID = "11010519491231002X"


def mask(number: str, zjlx: str | None) -> str | None:
    """What the police transform wants in applicant_cert_masked: a USCC stays in clear."""
    return number if zjlx == "001" else mask_id_card(number) if zjlx == "111" else mask_other_cert(number)


CASE = {"BJBH": "GA1", "SXBM": "113406000468295434400003000010", "SXMC": "居民身份证申领", "SQRLX": "1",
        "SQRXM": "张三", "ZJLX": "111", "ZJHM": PERSON_ID, "LXDH": "13812345678", "QD": "CK",
        "SQSJ": "2026-10-05T09:00:00+08:00", "SLSJ": "2026-10-05T09:01:00+08:00", "BJSJ": "", "BJZT": "01",
        "CNQX": "20", "SLDW": USCC, "GXSJ": "2026-10-05T09:01:00+08:00"}
PJ = {"PJBH": "PJ1", "BJBH": "GA1", "MYD": "A", "PJQD": "4", "MRPJ": "0", "PJNR": "满意", "PJRZJHM": EVALUATOR_ID,
      "PJSJ": "2026-10-05T09:30:00+08:00"}


def element(kind: str, values: dict[str, str]) -> str:
    """Markup as given, so a test can put CDATA or entities in; "" is written `<X/>`."""
    return f"<{kind}>" + "".join(f"<{k}>{v}</{k}>" if v else f"<{k}/>" for k, v in values.items()) + f"</{kind}>"


def case_xml(bjbh: str = "GA1", zjhm: str = PERSON_ID, **fields: str) -> str:
    return element("CASE", {**CASE, "BJBH": bjbh, "ZJHM": zjhm, **fields})


def pj_xml(pjbh: str = "PJ1", bjbh: str = "GA1", cert: str = EVALUATOR_ID, **fields: str) -> str:
    return element("PJ", {**PJ, "PJBH": pjbh, "BJBH": bjbh, "PJRZJHM": cert, **fields})


def doc(seq: int, cases: list[str] = (), pjs: list[str] = (), *, n_cases=None, n_pjs=None, batch=None,
        prolog: str = '<?xml version="1.0" encoding="UTF-8"?>\n') -> str:
    n_cases = len(cases) if n_cases is None else n_cases
    n_pjs = len(pjs) if n_pjs is None else n_pjs
    batch = f"{seq:06d}" if batch is None else batch
    body = "\n".join(f"  {e}" for e in [*cases, *pjs])
    return (f'{prolog}<DATA batch="{batch}" generated="{GENERATED}" cases="{n_cases}" evaluations="{n_pjs}">\n'
            f"{body}\n</DATA>\n")


def drop(folder: Path, seq: int, content: str | bytes, *, day: str = "20261005", manifest: bool | str = True,
         bom: bool = False) -> Path:
    """A batch file and, as the 前置机 writes it afterwards, its sha256sum manifest."""
    folder.mkdir(parents=True, exist_ok=True)
    data = content if isinstance(content, bytes) else content.encode("utf-8")
    data = (b"\xef\xbb\xbf" if bom else b"") + data
    path = folder / f"GA_{day}_{seq:06d}.xml"
    path.write_bytes(data)
    if manifest:
        line = manifest if isinstance(manifest, str) else f"{hashlib.sha256(data).hexdigest()}  {path.name}\n"
        path.with_name(path.name + ".sha256").write_text(line, encoding="ascii")
    return path


def read(folder: Path, seq: int | None = None, **options):
    """(tables per stream, verdict) of one ready batch, the first one unless `seq` is given."""
    ready = scan_outbox(folder).ready
    batch = ready[0] if seq is None else next(b for b in ready if b.seq == seq)
    reader = XmlBatchReader(batch, PSEUDONYMIZE, **options)
    out: dict[str, list[pa.RecordBatch]] = {"cases": [], "evaluations": []}
    for stream, records in reader.batches():
        out[stream].append(records)
    tables = {s: pa.Table.from_batches(b) if b else None for s, b in out.items()}
    return tables, reader.verdict


@pytest.fixture
def outbox(tmp_path):
    return tmp_path / "outbox"


# --- files and manifests ------------------------------------------------------


def test_scan_orders_complete_batches_by_seq_across_days_and_lists_the_rest(outbox):
    drop(outbox, 124, doc(124), day="20261006")
    drop(outbox, 122, doc(122), day="20261005")
    drop(outbox, 123, doc(123), day="20261005")
    drop(outbox, 125, doc(125), day="20261006", manifest=False)
    (outbox / "GA_20261004_000121.xml.sha256").write_text("0" * 64 + "  GA_20261004_000121.xml\n")
    (outbox / "notes.txt").write_text("hello")
    (outbox / "archive").mkdir()
    drop(outbox / "archive", 120, doc(120))

    scan = scan_outbox(outbox)
    assert [(b.seq, b.day) for b in scan.ready] == [(122, date(2026, 10, 5)), (123, date(2026, 10, 5)),
                                                   (124, date(2026, 10, 6))]
    assert scan.unfinished == ["GA_20261006_000125.xml"]
    assert [(s.name, s.why) for s in scan.unknown] == [
        ("GA_20261004_000121.xml.sha256", "is a manifest without its batch"),
        ("notes.txt", "is not named like a batch (GA_<yyyyMMdd>_<seq>.xml) or its manifest")]
    assert scan.refused == []  # the archive sub-folder is no delivery


def test_a_batch_without_its_manifest_is_not_read(outbox):
    drop(outbox, 1, doc(1, [case_xml()]), manifest=False)
    scan = scan_outbox(outbox)
    assert scan.ready == [] and scan.unfinished == ["GA_20261005_000001.xml"]


def test_a_clean_batch_gives_raw_strings_with_provenance(outbox):
    drop(outbox, 7, doc(7, [case_xml("GA1"), case_xml("GA2", BJZT="03")], [pj_xml("PJ1", "GA1")]))
    tables, verdict = read(outbox, mask=mask)

    cases, evals = tables["cases"], tables["evaluations"]
    assert cases.column_names == [*FIELDS["CASE"], "ZJHM_MASKED", *PROVENANCE]
    assert evals.column_names == [*FIELDS["PJ"], *PROVENANCE]
    assert all(cases.schema.field(c).type == pa.string() for c in FIELDS["CASE"])
    assert cases.column("BJBH").to_pylist() == ["GA1", "GA2"]
    assert cases.column("CNQX").to_pylist() == ["20", "20"]  # as sent: extractors do not convert
    assert cases.column("BJZT").to_pylist() == ["01", "03"]
    assert cases.column("_batch_seq").to_pylist() == [7, 7]
    assert cases.column("_element_index").to_pylist() == [1, 2]
    assert evals.column("_element_index").to_pylist() == [1]  # counted within its kind
    assert cases.column("_generated").to_pylist() == [GENERATED] * 2
    assert (verdict.problem, verdict.cases, verdict.evaluations, verdict.unknown) == (None, 2, 1, {})
    assert (verdict.declared_cases, verdict.declared_evaluations, verdict.generated) == (2, 1, GENERATED)


def test_one_stream_can_be_read_while_the_other_is_still_counted(outbox):
    drop(outbox, 1, doc(1, [case_xml()], [pj_xml("PJ1"), pj_xml("PJ2")]))
    reader = XmlBatchReader(scan_outbox(outbox).ready[0], PSEUDONYMIZE)
    assert [s for s, _ in reader.batches(streams=("evaluations",))] == ["evaluations"]
    assert (reader.verdict.cases, reader.verdict.evaluations, reader.verdict.problem) == (1, 2, None)


def test_a_checksum_that_does_not_match_quarantines_the_batch(outbox):
    path = drop(outbox, 3, doc(3, [case_xml()]))
    path.write_bytes(path.read_bytes().replace(b"09:01:00", b"09:02:00", 1))  # still well-formed
    _, verdict = read(outbox)
    assert verdict.problem == "checksum_mismatch"
    assert verdict.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("line", ["not a checksum\n", "ab" * 32 + "  GA_20261005_000009.xml\n"])
def test_a_manifest_that_is_not_this_batchs_sha256sum_line_quarantines_it(outbox, line):
    drop(outbox, 3, doc(3, [case_xml()]), manifest=line)
    _, verdict = read(outbox)
    assert verdict.problem == "checksum_mismatch" and "GA_20261005_000003.xml.sha256" in verdict.detail


def test_the_manifest_tells_a_duplicate_from_a_changed_delivery_before_reading(outbox, tmp_path):
    first = drop(outbox, 5, doc(5, [case_xml()]))
    declared = scan_outbox(outbox).ready[0].declared_sha256()
    assert declared == hashlib.sha256(first.read_bytes()).hexdigest()

    again = tmp_path / "again"
    drop(again, 5, doc(5, [case_xml()]))
    assert scan_outbox(again).ready[0].declared_sha256() == declared  # loaded once
    changed = tmp_path / "changed"
    drop(changed, 5, doc(5, [case_xml(LXDH="13900000000")]))
    assert scan_outbox(changed).ready[0].declared_sha256() != declared  # batch_changed


# --- what the XML may hold ----------------------------------------------------


def test_a_utf8_bom_is_read_like_any_batch(outbox):
    drop(outbox, 1, doc(1, [case_xml(SQRXM="欧阳娜娜")]), bom=True)
    tables, verdict = read(outbox)
    assert verdict.problem is None
    assert tables["cases"].column("SQRXM").to_pylist() == ["欧阳娜娜"]


def test_cdata_and_predefined_entities_give_the_text_as_sent(outbox):
    drop(outbox, 1, doc(1, [
        case_xml("GA1", SXMC="<![CDATA[居民身份证挂失&补领 <加急>]]>"),
        case_xml("GA2", SXMC="机动车注册登记&amp;号牌核发 &lt;&gt;&quot;&apos; &#x4E2D;&#22269;"),
        case_xml("GA3", SXMC="户口迁移<![CDATA[（迁入）&]]>登记"),
    ]))
    tables, verdict = read(outbox)
    assert verdict.problem is None
    assert tables["cases"].column("SXMC").to_pylist() == [
        "居民身份证挂失&补领 <加急>", "机动车注册登记&号牌核发 <>\"' 中国", "户口迁移（迁入）&登记"]


def test_an_empty_or_absent_element_is_null(outbox):
    without_bjsj = case_xml("GA3").replace("<BJSJ/>", "")
    drop(outbox, 1, doc(1, [case_xml("GA1"), case_xml("GA2").replace("<BJSJ/>", "<BJSJ></BJSJ>"), without_bjsj],
                        [pj_xml(cert="", PJNR="")]))
    tables, verdict = read(outbox, mask=mask)
    assert verdict.problem is None
    assert tables["cases"].column("BJSJ").to_pylist() == [None, None, None]
    assert tables["evaluations"].column("PJRZJHM").to_pylist() == [None]
    assert tables["evaluations"].column("PJNR").to_pylist() == [None]


def test_unknown_elements_are_ignored_and_counted(outbox):
    guardian = police_outbox.GUARDIAN_ID
    drop(outbox, 1, doc(1, [
        case_xml("GA1").replace("</CASE>", f"<JHRZJHM>{guardian}</JHRZJHM><HJDZ>相山区</HJDZ></CASE>"),
        case_xml("GA2").replace("</CASE>", f"<JHRZJHM>{guardian}</JHRZJHM></CASE>"),
    ], [pj_xml().replace("</PJ>", "<PJBQ><BQ>510</BQ></PJBQ></PJ>")]).replace(
        "</DATA>", '<SIGN alg="SM3">3f9a</SIGN></DATA>'))
    tables, verdict = read(outbox)
    assert verdict.problem is None and (verdict.cases, verdict.evaluations) == (2, 1)
    assert verdict.unknown == {"CASE/JHRZJHM": 2, "CASE/HJDZ": 1, "PJ/PJBQ": 1, "DATA/SIGN": 1}
    assert tables["cases"].column_names == [*FIELDS["CASE"], *PROVENANCE]
    assert guardian not in all_strings(tables["cases"].to_pylist())


# --- what quarantines a batch whole ---------------------------------------------


SECRET = "TOP-SECRET-HOST-FILE-CONTENT"


def hostile_doctype(secret_file: Path) -> str:
    laughs = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 9))
    return (f'<!DOCTYPE DATA [<!ENTITY l0 "lol">{laughs}'
            f'<!ENTITY ext SYSTEM "{secret_file.as_uri()}">]>\n')


def test_a_doctype_is_refused_unread(outbox, tmp_path, monkeypatch):
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text(SECRET)
    prolog = '\ufeff<?xml version="1.0" encoding="UTF-8"?>\n<!-- 公安前置机 -->\n' + hostile_doctype(secret_file)
    drop(outbox, 1, doc(1, [case_xml(SXMC="&l8;", LXDH="&ext;")], prolog=prolog))
    monkeypatch.setattr(xml_batches, "feed_parser", lambda *a, **k: pytest.fail("a DOCTYPE reached the parser"))

    tracemalloc.start()
    tables, verdict = read(outbox)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert verdict.problem == "doctype_refused"
    assert tables == {"cases": None, "evaluations": None}
    assert SECRET not in repr(verdict) and "lol" not in repr(verdict)
    assert peak < 2_000_000  # 10^8 laughs were never expanded


def test_a_doctype_hidden_behind_a_long_prolog_is_refused_by_the_parser(outbox, tmp_path):
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text(SECRET)
    prolog = '<?xml version="1.0"?>\n<!--' + "x" * 70_000 + "-->\n" + hostile_doctype(secret_file)
    drop(outbox, 1, doc(1, [case_xml(SXMC="&l8;", LXDH="&ext;")], prolog=prolog))
    tables, verdict = read(outbox)
    assert verdict.problem == "doctype_refused"
    assert tables == {"cases": None, "evaluations": None}
    assert SECRET not in repr(verdict)


def test_an_undeclared_entity_is_not_well_formed(outbox):
    drop(outbox, 1, doc(1, [case_xml(SXMC="&nbsp;")]))
    _, verdict = read(outbox)
    assert verdict.problem == "malformed_xml"


@pytest.mark.parametrize("spoil", [
    lambda d: d.replace("</CASE>\n", "</CASE>\n  R&D\n", 1),
    lambda d: d.replace("</DATA>\n", ""),  # cut short: what was yielded must be rolled back
    lambda d: d.replace("<BJZT>01</BJZT>", "<BJZT>01</bjzt>", 1),
])
def test_xml_that_is_not_well_formed_quarantines_the_batch(outbox, spoil):
    drop(outbox, 1, spoil(doc(1, [case_xml("GA1"), case_xml("GA2")], [pj_xml()])))
    _, verdict = read(outbox)
    assert verdict.problem == "malformed_xml" and "GA_20261005_000001.xml" in verdict.detail


@pytest.mark.parametrize("counts", [dict(n_cases=3), dict(n_pjs=0), dict(n_cases="")])
def test_counts_that_disagree_with_the_elements_quarantine_the_batch(outbox, counts):
    drop(outbox, 1, doc(1, [case_xml("GA1"), case_xml("GA2")], [pj_xml()], **counts))
    tables, verdict = read(outbox)
    assert verdict.problem == "count_mismatch"
    assert (verdict.cases, verdict.evaluations) == (2, 1)


@pytest.mark.parametrize("batch", ["000008", "", "abc"])
def test_a_batch_attribute_other_than_the_file_seq_quarantines_the_batch(outbox, batch):
    drop(outbox, 7, doc(7, [case_xml()], batch=batch))
    tables, verdict = read(outbox)
    assert verdict.problem == "batch_attribute_mismatch"
    assert tables == {"cases": None, "evaluations": None}


def test_a_short_batch_attribute_with_the_same_number_is_accepted(outbox):
    drop(outbox, 7, doc(7, [case_xml()], batch="7"))
    assert read(outbox)[1].problem is None


# --- gaps -----------------------------------------------------------------------


def test_skipped_numbers_below_the_highest_are_gaps_kept_as_ranges():
    assert batch_gaps({120, 121, 123, 126}, first=120) == [(122, 122), (124, 125)]
    assert batch_gaps({1, 2, 4}) == [(3, 3)]
    assert batch_gaps(set()) == []
    assert [gap_text(g) for g in batch_gaps({1, 12, 999_999})] == ["000002–000011", "000013–999998"]


def test_a_quarantined_or_unfinished_batch_stays_a_gap_until_it_is_loaded():
    loaded = {1, 2, 3}
    assert batch_gaps(loaded, seen={4, 6}) == [(4, 6)]
    assert batch_gaps(loaded | {4, 5, 6}, seen={4, 6}) == []


# --- certificate numbers ----------------------------------------------------------


def test_the_reader_pseudonymizes_certificate_numbers_and_masks_from_the_clear_one(outbox):
    drop(outbox, 1, doc(1, [case_xml("GA1", PERSON_ID_X),
                            case_xml("GA2", USCC, SQRLX="2", ZJLX="001"),
                            case_xml("GA3", "E12345678", ZJLX="414")],
                        [pj_xml(cert=EVALUATOR_ID)]))
    tables, _ = read(outbox, mask=mask)
    cases = tables["cases"]
    assert cases.column("ZJHM").to_pylist() == [pseudonym(KEY, n) for n in (PERSON_ID_X, USCC, "E12345678")]
    assert cases.column("ZJHM_MASKED").to_pylist() == ["340603********108X", USCC, "E1*****78"]
    assert tables["evaluations"].column("PJRZJHM").to_pylist() == [pseudonym(KEY, EVALUATOR_ID)]


def all_strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in all_strings(k) + all_strings(v)]
    if isinstance(value, (list, tuple)):
        return [s for v in value for s in all_strings(v)]
    return []


def test_no_produced_batch_holds_a_certificate_number_in_clear(tmp_path):
    folder = tmp_path / "outbox"
    police_outbox.write_month(folder, seed=7, batches_per_day=2, cases_per_day=12,
                              faults={"unknown_elements", "corrupt", "malformed", "wrong_counts"})
    personal: set[str] = set()
    for path in folder.glob("*.xml"):
        text = path.read_text(encoding="utf-8-sig")
        personal |= {n for t, n in re.findall(r"<ZJLX>(\d+)</ZJLX><ZJHM>([^<]+)</ZJHM>", text) if t != "001"}
        personal |= set(re.findall(r"<(?:PJRZJHM|JHRZJHM)>([^<]+)<", text))
    assert len(personal) > 100 and police_outbox.GUARDIAN_ID in personal
    fifteen = {n[:6] + n[8:17] for n in personal if len(n) == 18}  # a legacy spelling would leak as much

    produced, rows = [], 0
    for batch in scan_outbox(folder).ready:  # quarantined batches too: their rows were yielded before the verdict
        reader = XmlBatchReader(batch, PSEUDONYMIZE, mask=mask)
        for _, records in reader.batches():
            rows += records.num_rows
            produced += all_strings(records.to_pylist())
        produced += all_strings(vars(reader.verdict))
    assert rows > 500
    blob = "\x00".join(produced)
    assert {n for n in personal | fifteen if n in blob} == set()


# --- memory -----------------------------------------------------------------------


def test_memory_is_bounded_by_the_element_not_by_the_file(tmp_path):
    day = date(2026, 10, 5)
    def peak(n: int) -> tuple[int, int]:
        folder = tmp_path / str(len(list(tmp_path.iterdir())))
        police_outbox.write_batch(folder, 1, day, [{**CASE, "BJBH": f"GA{i}"} for i in range(n)],
                                  [{**PJ, "PJBH": f"PJ{i}"} for i in range(n // 2)])
        reader = XmlBatchReader(scan_outbox(folder).ready[0], PSEUDONYMIZE, mask=mask, batch_rows=100)
        tracemalloc.start()
        try:
            rows = sum(b.num_rows for _, b in reader.batches())
            top = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert reader.verdict.problem is None and rows == n + n // 2
        return top, (folder / police_outbox.batch_name(1, day)).stat().st_size

    peak(300)  # the first read imports parts of pyarrow lazily; those are not the reader's memory
    small, _ = peak(300)
    large, size = peak(2_400)
    assert large < 1.5 * small  # eight times the file, not eight times the memory
    assert large < size / 2


# --- the simulator's outbox, read back ----------------------------------------------


EXPECTED = {"corrupt": "checksum_mismatch", "malformed": "malformed_xml", "wrong_counts": "count_mismatch",
            "bad_batch_attribute": "batch_attribute_mismatch", "doctype": "doctype_refused"}


def test_every_injected_fault_is_found_where_the_simulator_put_it(tmp_path):
    folder = tmp_path / "outbox"
    manifest = police_outbox.write_month(folder, seed=7, batches_per_day=2, cases_per_day=8,
                                         faults=set(police_outbox.FAULTS))
    scan = scan_outbox(folder)
    assert [b.seq for b in scan.ready] == sorted(b.seq for b in scan.ready)
    assert scan.unfinished == [r.name for r in manifest.of("missing_manifest")]

    loaded, quarantined = set(), {}
    for batch in scan.ready:
        _, verdict = read(folder, batch.seq)
        if verdict.problem:
            quarantined[batch.seq] = verdict.problem
        else:
            loaded.add(batch.seq)
            if batch.seq in {r.seq for r in manifest.of("unknown_elements")}:
                assert verdict.unknown == {"CASE/JHRZJHM": 1, "PJ/PJBQ": 1, "DATA/SIGN": 1}
            else:
                assert verdict.unknown == {}
    assert quarantined == {r.seq: EXPECTED[r.fault] for r in manifest.injected if r.fault in EXPECTED}

    unfinished = {r.seq for r in manifest.of("missing_manifest")}
    gaps = batch_gaps(loaded, seen=set(quarantined) | unfinished, first=manifest.batches[0].seq)
    missing = [n for low, high in gaps for n in range(low, high + 1)]
    assert missing == sorted({r.seq for r in manifest.of("gap")} | set(quarantined) | unfinished)

    # Late deliveries: a duplicate, a changed batch, and a good copy of the corrupt one.
    declared = {b.seq: b.declared_sha256() for b in scan.ready}
    police_outbox.write_late(folder, manifest)
    again = {b.seq: b for b in scan_outbox(folder).ready}
    [dup], [changed], [redelivered] = (manifest.of(f) for f in ("duplicate", "batch_changed", "redelivery"))
    assert again[dup.seq].declared_sha256() == declared[dup.seq]
    assert again[changed.seq].declared_sha256() != declared[changed.seq]
    assert read(folder, changed.seq)[1].problem is None  # well-formed: the caller quarantines it as batch_changed
    assert redelivered.seq == manifest.of("corrupt")[0].seq
    assert read(folder, redelivered.seq)[1].problem is None


def test_the_simulator_is_deterministic_for_a_seed(tmp_path):
    def files(folder: Path) -> dict[str, bytes]:
        return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}

    one = police_outbox.write_month(tmp_path / "a", seed=7, batches_per_day=2, cases_per_day=6, faults={"gap"})
    two = police_outbox.write_month(tmp_path / "b", seed=7, batches_per_day=2, cases_per_day=6, faults={"gap"})
    assert files(tmp_path / "a") == files(tmp_path / "b")
    assert one.batches == two.batches


def test_the_simulator_writes_the_contracts_quirks(tmp_path):
    folder = tmp_path / "outbox"
    police_outbox.write_month(folder, seed=7, batches_per_day=2, cases_per_day=12)
    raw = [p.read_bytes() for p in sorted(folder.glob("*.xml"))]
    with_bom = [data.startswith(b"\xef\xbb\xbf<?xml") for data in raw]
    assert any(with_bom) and not all(with_bom)
    text = b"".join(raw).decode("utf-8")
    assert "<SXMC><![CDATA[" in text and "&amp;" in text
    assert "<BJSJ/>" in text and "<BJSJ></BJSJ>" in text
    assert re.search(r"<GXSJ>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00</GXSJ>", text)
    assert set(re.findall(r"<MYD>(.)</MYD>", text)) <= set("ABCDE")
    assert set(re.findall(r"<MRPJ>(.)</MRPJ>", text)) == {"0", "1"}
    assert set(re.findall(r"<PJQD>(\d)</PJQD>", text)) <= set("1234567")
    zjlx = re.findall(r"<ZJLX>(\d+)</ZJLX>", text)
    assert zjlx.count("111") > 0.8 * len(zjlx)
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    for number in re.findall(r"<ZJLX>111</ZJLX><ZJHM>([^<]+)</ZJHM>", text):
        assert "10X98765432"[sum(int(c) * w for c, w in zip(number, weights)) % 11] == number[17], number
