"""Numbered XML batches from the police one-way exchange outbox (contracts/police.md).

The reader yields Arrow record batches per stream (`cases` from CASE, `evaluations`
from PJ) of the contract's elements as sent, plus provenance (`_batch_seq`,
`_element_index`, `_generated`). It never renames, maps or drops a record. The
verdict on the batch as a whole (checksum, DOCTYPE, well-formedness, root
attributes, counts) is known once the batches are exhausted; a batch with a
problem is quarantined whole, so the caller rolls back what it took from it.

Certificate numbers (CASE/ZJHM, PJ/PJRZJHM) go through the caller's `pseudonymize`
before they enter a batch: the clear numbers exist only inside the parser's
current element. With a `mask`, CASE also gets `ZJHM_MASKED`, computed from
the clear number and ZJLX, because the store's `applicant_cert_masked` cannot be
derived from a pseudonym later. PJ gets no masked form: the store keeps none
for evaluators.
"""

import hashlib
import re
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import pyarrow as pa
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, iterparse

BATCH_ROWS = 20_000
STREAMS = {"cases": "CASE", "evaluations": "PJ"}
FIELDS = {
    "CASE": ("BJBH", "SXBM", "SXMC", "SQRLX", "SQRXM", "ZJLX", "ZJHM", "LXDH", "QD",
             "SQSJ", "SLSJ", "BJSJ", "BJZT", "CNQX", "SLDW", "GXSJ"),
    "PJ": ("PJBH", "BJBH", "MYD", "PJQD", "MRPJ", "PJNR", "PJRZJHM", "PJSJ"),
}
CERT_FIELD = {"CASE": "ZJHM", "PJ": "PJRZJHM"}
MASKED_COLUMN = "ZJHM_MASKED"
PROVENANCE = ("_batch_seq", "_element_index", "_generated")
MANIFEST_SUFFIX = ".sha256"

_NAME = re.compile(r"GA_(?P<date>\d{8})_(?P<seq>\d{6})\.xml")
_MANIFEST_LINE = re.compile(r"([0-9a-fA-F]{64}) [ *](.+)")
_CHUNK = 1 << 16
# A DOCTYPE may only stand in the prolog; one that a longer prolog hides from
# this look is still refused by the parser (forbid_dtd).
_PROLOG_BYTES = 1 << 16
_PROLOG_ITEMS = re.compile(rb"(?:\s+|<\?.*?\?>|<!--.*?-->)*", re.S)
_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class BatchFile:
    path: Path
    seq: int
    day: date

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def manifest(self) -> Path:
        return self.path.with_name(self.path.name + MANIFEST_SUFFIX)

    def declared_sha256(self) -> str | None:
        """The manifest's checksum, lower-case; None when the manifest is not one `<hex>  <this name>` line.

        Compared with the checksum of a batch number already loaded, it tells a
        duplicate delivery from a changed one without reading the batch.
        """
        with self.manifest.open("rb") as f:
            text = f.read(4096).decode("utf-8", "replace").strip()
        m = _MANIFEST_LINE.fullmatch(text)
        if m is None or Path(m[2]).name != self.name:
            return None
        return m[1].lower()


@dataclass
class OutboxScan:
    ready: list[BatchFile] = field(default_factory=list)  # complete batches, lowest seq first
    unfinished: list[str] = field(default_factory=list)  # batches still without their manifest
    unknown: list[str] = field(default_factory=list)  # other files, orphan manifests included


def scan_outbox(folder: Path) -> OutboxScan:
    scan = OutboxScan()
    names = {p.name for p in folder.iterdir() if p.is_file()}
    for name in sorted(names):
        m = _NAME.fullmatch(name)
        if m is None:
            if not (name.endswith(MANIFEST_SUFFIX) and _NAME.fullmatch(name.removesuffix(MANIFEST_SUFFIX))
                    and name.removesuffix(MANIFEST_SUFFIX) in names):
                scan.unknown.append(name)
        elif name + MANIFEST_SUFFIX not in names:
            scan.unfinished.append(name)
        else:
            day = datetime.strptime(m["date"], "%Y%m%d").date()
            scan.ready.append(BatchFile(folder / name, int(m["seq"]), day))
    scan.ready.sort(key=lambda b: (b.seq, b.day))
    return scan


def batch_gaps(loaded: Iterable[int], seen: Iterable[int] = (), first: int = 1) -> list[int]:
    """Batch numbers from `first` up to the highest loaded or seen one that are not loaded.

    `seen` holds numbers that arrived but were not loaded (quarantined,
    unfinished): a quarantined batch stays a gap until a good re-delivery loads.
    """
    loaded = set(loaded)
    top = max(loaded.union(seen), default=first - 1)
    return [n for n in range(first, top + 1) if n not in loaded]


@dataclass
class BatchVerdict:
    seq: int
    sha256: str  # of the bytes read
    cases: int = 0  # CASE elements read
    evaluations: int = 0  # PJ elements read
    declared_cases: int | None = None
    declared_evaluations: int | None = None
    generated: str | None = None
    unknown: dict[str, int] = field(default_factory=dict)  # "DATA/X", "CASE/X", "PJ/X" → occurrences
    problem: str | None = None  # reason code when the batch must be quarantined whole
    detail: str = ""


class _Refused(Exception):
    def __init__(self, problem: str, detail: str):
        super().__init__(detail)
        self.problem, self.detail = problem, detail


class XmlBatchReader:
    """Streams one batch; memory is bounded by the largest element, not by the file."""

    def __init__(self, batch: BatchFile, pseudonymize: Callable[[str], str | None], *,
                 mask: Callable[[str, str | None], str | None] | None = None, batch_rows: int = BATCH_ROWS):
        """`mask(number, zjlx)` gives ZJHM_MASKED; it sees the clear number, so it must not keep it."""
        self.batch, self.pseudonymize, self.mask, self.batch_rows = batch, pseudonymize, mask, batch_rows
        self.verdict: BatchVerdict | None = None

    def batches(self, streams: Collection[str] = tuple(STREAMS)) -> Iterator[tuple[str, pa.RecordBatch]]:
        """(stream, batch) pairs; elements of other streams are still counted for the verdict."""
        digest = hashlib.sha256()
        verdict = BatchVerdict(self.batch.seq, "")
        refused = None
        with self.batch.path.open("rb") as raw:
            head = raw.read(_PROLOG_BYTES)
            raw.seek(0)
            source = _Hashing(raw, digest)
            if _declares_doctype(head):
                refused = _Refused("doctype_refused", f"{self.batch.name} declares a DOCTYPE; refused unread")
            else:
                try:
                    yield from self._parse(source, streams, verdict)
                except _Refused as r:
                    refused = r
                except DefusedXmlException:
                    refused = _Refused("doctype_refused", f"{self.batch.name} declares a DOCTYPE or entities; refused")
                except ParseError as e:
                    refused = _Refused("malformed_xml", f"{self.batch.name} is not well-formed XML: {e}")
            while source.read(_CHUNK):  # the rest of the file still counts for the checksum
                pass
        verdict.sha256 = digest.hexdigest()
        self.verdict = _judge(self.batch, verdict, refused)

    def _parse(self, source, streams, verdict: BatchVerdict) -> Iterator[tuple[str, pa.RecordBatch]]:
        buffers = {kind: _Buffer(kind, self, verdict) for stream, kind in STREAMS.items() if stream in streams}
        stream_of = {kind: stream for stream, kind in STREAMS.items()}
        unknown, index = Counter(), Counter()
        depth, root, kind, record = 0, None, None, {}
        for event, elem in iterparse(source, events=("start", "end"), forbid_dtd=True):
            if event == "start":
                depth += 1
                if depth == 1:
                    root = elem
                    self._read_root(elem, verdict)
                elif depth == 2:
                    kind = elem.tag if elem.tag in FIELDS else None
                continue
            if depth == 3 and kind is not None:
                if elem.tag in FIELDS[kind]:
                    record[elem.tag] = elem.text
                else:
                    unknown[f"{kind}/{elem.tag}"] += 1
            elif depth == 2:
                if kind is None:
                    unknown[f"DATA/{elem.tag}"] += 1
                else:
                    index[kind] += 1
                    buffer = buffers.get(kind)
                    if buffer is not None:
                        buffer.add(record, index[kind])
                        if len(buffer) >= self.batch_rows:
                            yield stream_of[kind], buffer.flush()
                # The finished element, and with it any clear number, leaves memory here.
                root.remove(elem)
                record = {}
            depth -= 1
        for kind, buffer in buffers.items():
            if len(buffer):
                yield stream_of[kind], buffer.flush()
        verdict.cases, verdict.evaluations, verdict.unknown = index["CASE"], index["PJ"], dict(unknown)

    def _read_root(self, root, verdict: BatchVerdict) -> None:
        name = self.batch.name
        if root.tag != "DATA":
            raise _Refused("malformed_xml", f"{name} has root element {root.tag!r}, the contract requires DATA")
        batch = root.get("batch", "")
        if not (batch.isascii() and batch.isdigit() and int(batch) == self.batch.seq):
            raise _Refused("batch_attribute_mismatch",
                           f"{name} carries batch={batch!r} on its root, the file name says {self.batch.seq:06d}")
        verdict.generated = root.get("generated") or None
        verdict.declared_cases = _count(root.get("cases"))
        verdict.declared_evaluations = _count(root.get("evaluations"))


def _judge(batch: BatchFile, verdict: BatchVerdict, refused: _Refused | None) -> BatchVerdict:
    declared = batch.declared_sha256()
    if declared is None:
        verdict.problem = "checksum_mismatch"
        verdict.detail = f"{batch.manifest.name} is not one line `<sha256>  {batch.name}`"
    elif declared != verdict.sha256:
        verdict.problem = "checksum_mismatch"
        verdict.detail = f"{batch.name} has SHA-256 {verdict.sha256}, its manifest says {declared}"
    elif refused is not None:
        verdict.problem, verdict.detail = refused.problem, refused.detail
    elif (verdict.declared_cases, verdict.declared_evaluations) != (verdict.cases, verdict.evaluations):
        verdict.problem = "count_mismatch"
        verdict.detail = (f"{batch.name} declares cases={verdict.declared_cases} evaluations="
                          f"{verdict.declared_evaluations} but holds {verdict.cases} CASE and "
                          f"{verdict.evaluations} PJ elements")
    return verdict


def _count(value: str | None) -> int | None:
    return int(value) if value and value.isascii() and value.isdigit() else None


def _declares_doctype(head: bytes) -> bool:
    """Whether a DOCTYPE opens before the root element, judged from the raw bytes alone."""
    head = head.removeprefix(_BOM)
    rest = head[_PROLOG_ITEMS.match(head).end():]
    return rest[:9].upper() == b"<!DOCTYPE"


class _Hashing:
    """A file the parser reads through, so that the bytes parsed are the bytes checked."""

    def __init__(self, raw, digest):
        self.raw, self.digest = raw, digest

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.digest.update(data)
        return data


class _Buffer:
    def __init__(self, kind: str, reader: XmlBatchReader, verdict: BatchVerdict):
        self.kind, self.reader, self.verdict = kind, reader, verdict
        self.columns = list(FIELDS[kind])
        if kind == "CASE" and reader.mask is not None:
            self.columns.append(MASKED_COLUMN)
        self._reset()

    def _reset(self) -> None:
        self.values: dict[str, list[str | None]] = {c: [] for c in self.columns}
        self.index: list[int] = []

    def __len__(self) -> int:
        return len(self.index)

    def add(self, record: dict[str, str | None], index: int) -> None:
        row = {name: record.get(name) or None for name in FIELDS[self.kind]}  # empty or absent: NULL
        cert = CERT_FIELD[self.kind]
        clear = row[cert]
        row[cert] = None if clear is None else self.reader.pseudonymize(clear)
        if MASKED_COLUMN in self.values:
            row[MASKED_COLUMN] = None if clear is None else self.reader.mask(clear, row["ZJLX"])
        for name, values in self.values.items():
            values.append(row[name])
        self.index.append(index)

    def flush(self) -> pa.RecordBatch:
        n = len(self.index)
        arrays = [pa.array(v, pa.string()) for v in self.values.values()]
        arrays += [pa.array([self.reader.batch.seq] * n, pa.int64()), pa.array(self.index, pa.int64()),
                   pa.array([self.verdict.generated] * n, pa.string())]
        batch = pa.RecordBatch.from_arrays(arrays, names=[*self.columns, *PROVENANCE])
        self._reset()
        return batch
