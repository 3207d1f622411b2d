"""Property-based fuzzing of the police XML outbox: arbitrary bytes and mutated valid batches, each with a
manifest that fits (so the checks behind the checksum are reached) or not. The reader never raises; a run
loads the batch, quarantines it whole or record by record, or fails with one sentence; the ledger balances."""

import hashlib
from functools import partial

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from extractors.xml_batches import BatchFile, XmlBatchReader
from tests.hostile.files_common import batch_bytes, case, evaluation, put_batch, reject_reasons
from tests.hostile.fuzz_common import FAST, THROUGH_RUNS, checked_run, fresh_number, mutated
from transforms.pii import pseudonym

pytestmark = pytest.mark.usefixtures("lenient_specs")
WHOLE_BATCH = {"checksum_mismatch", "malformed_xml", "doctype_refused", "count_mismatch", "batch_attribute_mismatch",
               "bad_encoding", "too_large"}
SEQ = 7
VALID = batch_bytes(SEQ, [case("GA1"), case("GA2", SXMC="办&理")], [evaluation("P1", "GA1", PJNR="好<评>")])
ANY_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)


@st.composite
def odd_values(draw) -> bytes:
    """A well-formed batch whose elements carry arbitrary values (escaped as XML wants), so it reaches unify."""
    cases = [case(f"GA{i}") for i in range(draw(st.integers(1, 3)))]
    evaluations = [evaluation(f"P{i}", "GA0") for i in range(draw(st.integers(0, 2)))]
    for record in cases + evaluations:
        for _ in range(draw(st.integers(1, 3))):
            name = draw(st.sampled_from(sorted(record)))
            record[name] = draw(ANY_TEXT | st.from_regex(r"[0-9.eE+:T-]{1,25}", fullmatch=True))
    return batch_bytes(SEQ, cases, evaluations)


BATCHES = (st.binary(max_size=800) | mutated(VALID) | mutated(VALID.replace(b'encoding="UTF-8"', b""))
           | odd_values())
MANIFEST_FITS = st.sampled_from([True, True, True, False])


def write(folder, data: bytes, good_manifest: bool, seq: int = SEQ):
    """The batch as number `seq` (its root's batch attribute follows, where it is intact)."""
    data = data.replace(f'batch="{SEQ:06d}"'.encode(), f'batch="{seq:06d}"'.encode())
    manifest = None if good_manifest else b"0" * 64 + f"  GA_20261005_{seq:06d}.xml\n".encode()
    return put_batch(folder, seq, data, manifest=manifest), data


@FAST
@given(data=BATCHES, good_manifest=MANIFEST_FITS)
def test_the_reader_gives_a_verdict_for_any_bytes(tmp_path, data, good_manifest):
    folder = tmp_path / f"outbox{fresh_number()}"
    path, _ = write(folder, data, good_manifest)
    reader = XmlBatchReader(BatchFile(path, SEQ, None), partial(pseudonym, b"k"), max_text_bytes=1024)
    rows = sum(batch.num_rows for _, batch in reader.batches())
    verdict = reader.verdict
    event(str(verdict.problem))
    assert verdict.problem in WHOLE_BATCH | {None}
    assert verdict.sha256 == hashlib.sha256(data).hexdigest()
    if verdict.problem is None:
        assert good_manifest and rows == verdict.cases + verdict.evaluations
        assert (verdict.cases, verdict.evaluations) == (verdict.declared_cases, verdict.declared_evaluations)
    assert "\n" not in verdict.detail


@THROUGH_RUNS
@given(data=BATCHES, good_manifest=MANIFEST_FITS)
def test_any_batch_is_loaded_or_quarantined_and_the_ledger_balances(sqlite_url, tmp_path, data,
                                                                     good_manifest):
    folder = tmp_path / f"outbox{fresh_number()}"
    seq = fresh_number()  # a batch number of its own: the store is shared by the examples
    path, _ = write(folder, data, good_manifest, seq)
    result = checked_run("police", sqlite_url, folder)
    if result is None:
        return
    [entry] = result.files
    event(f"{entry['outcome']} {entry.get('reason', '')}")
    assert entry["outcome"] in {"loaded", "quarantined"}
    if entry["outcome"] == "quarantined":
        assert entry["reason"] in WHOLE_BATCH
        assert ("file", path.name, entry["reason"]) in reject_reasons(sqlite_url)
    else:
        assert entry["cases"] + entry["evaluations"] == sum(s.extracted for s in result.streams.values())


def longest_run_over(data: bytes, cap: int) -> bool:
    """The guard's rule read byte by byte: outside sections every `<` starts a run; a CDATA section, comment or
    processing instruction is one run up to its end."""
    ends = {b"<![CDATA[": b"]]>", b"<!--": b"-->", b"<?": b"?>"}
    mark, i, end = 0, 0, None
    while i < len(data):
        if end is not None:
            j = data.find(end, i)
            if j == -1:
                break
            i = j + len(end)
            if i - mark > cap:
                return True
            mark, end = i, None
        elif data[i:i + 1] == b"<":
            if i - mark > cap:
                return True
            mark = i
            start = next((s for s in ends if data.startswith(s, i)), None)
            end, i = (ends[start], i + len(start)) if start else (None, i + 1)
        else:
            i += 1
    return len(data) - mark > cap


PIECES = st.sampled_from([b"<", b">", b"a", b"aaaaaaa", b"<![CDATA[", b"]]>", b"<!--", b"-->", b"<?", b"?>", b"]",
                          b"-", b"!", b"<a>", b"</a>", b"\n"])


@FAST
@given(pieces=st.lists(PIECES, max_size=60), cap=st.integers(1, 40), cuts=st.lists(st.integers(0, 400), max_size=8))
def test_the_run_guard_sees_the_same_runs_whatever_the_chunks(pieces, cap, cuts):
    from extractors.xml_batches import _Runs

    data = b"".join(pieces)
    bounds = [0, *sorted(c for c in cuts if c <= len(data)), len(data)]
    guard = _Runs(cap)
    over = any(guard.feed(data[a:b], final=False) is not None for a, b in zip(bounds, bounds[1:]))
    over = over or guard.feed(b"", final=True) is not None
    assert over == longest_run_over(data, cap)


NAME_BYTES = st.binary(min_size=1, max_size=40).filter(lambda b: b"/" not in b and b"\x00" not in b
                                                       and b not in (b".", b".."))
DIGITS = st.text("0123456789", min_size=8, max_size=8) | st.text("0123456789０٣", min_size=7, max_size=9)
LIKELY = st.builds(lambda day, seq, post, manifest: [b"GA_" + day + b"_" + seq + post]
                   + ([b"GA_" + day + b"_" + seq + post + b".sha256"] if manifest else []),
                   DIGITS.map(str.encode), st.text("0123456789０", min_size=5, max_size=7).map(str.encode),
                   st.sampled_from([b".xml", b".xml", b".xml\n", b".XML", b""]), st.booleans())
NAMES = st.lists(NAME_BYTES.map(lambda b: [b]) | LIKELY, max_size=5).map(
    lambda groups: sorted({n for g in groups for n in g}))


@FAST
@given(names=NAMES)
def test_any_outbox_names_are_sorted_into_ready_waiting_or_unknown(tmp_path, names):
    import os

    from extractors.xml_batches import scan_outbox

    folder = tmp_path / f"names{fresh_number()}"
    folder.mkdir()
    for raw in names:
        (folder / os.fsdecode(raw)).write_bytes(b"x")
    scan = scan_outbox(folder)
    manifests_of_ready = {b.name + ".sha256" for b in scan.ready}
    taken = [b.name for b in scan.ready] + scan.unfinished + [u.name for u in scan.unknown]
    on_disk = {os.fsdecode(raw) for raw in names}
    assert sorted(taken + sorted(manifests_of_ready)) == sorted(on_disk)
    assert all(b.name.isascii() and "\n" not in b.name for b in scan.ready)
