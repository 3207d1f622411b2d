"""Numbered XML batches from the police one-way exchange outbox (contracts/police.md).

The reader yields Arrow record batches per stream (`cases` from CASE, `evaluations`
from PJ) of the contract's elements as sent, plus provenance (`_batch_seq`,
`_element_index`, `_generated`). It never renames, maps or drops a record. The
verdict on the batch as a whole (checksum, size, encoding, DOCTYPE,
well-formedness, root attributes, counts) is known once the batches are
exhausted; a batch with a problem is quarantined whole, so the caller rolls
back what it took from it. Verdicts describe what they found (lengths, shapes,
positions), never a value from the batch.

The parser only ever sees UTF-8 (a batch declaring or holding anything else is
`bad_encoding`) and never a run of bytes longer than the text cap (expat's time
grows with the square of one unfinished token): both are checked on the raw
bytes before each chunk reaches it. Only regular files are opened
(extractors.folder). Expat is driven directly (no element tree), with what
defusedxml would forbid forbidden the same way: a DOCTYPE, an entity
declaration, an external entity.

Certificate numbers (CASE/ZJHM, PJ/PJRZJHM) go through the caller's `pseudonymize`
before they enter a batch: the clear numbers exist only inside the parser's
current element. With a `pseudonymize_typed`, CASE/ZJHM goes through it instead,
with ZJLX: how a number is normalized before keying depends on its type (only a
居民身份证's 15 digits are upgraded). With a `mask`, CASE also gets `ZJHM_MASKED`, computed from
the clear number and ZJLX, because the store's `applicant_cert_masked` cannot be
derived from a pseudonym later. PJ gets no masked form: the store keeps none
for evaluators.
"""

import codecs
import hashlib
import os
import re
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from xml.parsers import expat

import pyarrow as pa
from defusedxml import DefusedXmlException, DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden

from extractors.folder import Skipped, list_folder, open_regular
from extractors.limits import MAX_BATCH_BYTES, MAX_TEXT_BYTES

BATCH_ROWS = 20_000
STREAMS = {"cases": "CASE", "evaluations": "PJ"}
FIELDS = {
    "CASE": ("BJBH", "SXBM", "SXMC", "SQRLX", "SQRXM", "ZJLX", "ZJHM", "LXDH", "QD",
             "SQSJ", "SLSJ", "BJSJ", "BJZT", "CNQX", "SLDW", "GXSJ"),
    "PJ": ("PJBH", "BJBH", "MYD", "PJQD", "MRPJ", "PJNR", "PJRZJHM", "PJSJ"),
}
CERT_FIELD = {"CASE": "ZJHM", "PJ": "PJRZJHM"}
_POSITION = {kind: {name: i for i, name in enumerate(names)} for kind, names in FIELDS.items()}
MASKED_COLUMN = "ZJHM_MASKED"
PROVENANCE = ("_batch_seq", "_element_index", "_generated")
MANIFEST_SUFFIX = ".sha256"

_NAME = re.compile(r"GA_(?P<date>[0-9]{8})_(?P<seq>[0-9]{6})\.xml", re.ASCII)
_MANIFEST_LINE = re.compile(r"([0-9a-fA-F]{64}) [ *](.+)")
_MANIFEST_BYTES = 4096  # a sha256sum line is far shorter; more is not a manifest
_CHUNK = 1 << 16
# The chunks ElementTree's iterparse read: the guard's verdicts name byte offsets that depend on them.
_PARSE_CHUNK = 16 * 1024
# A DOCTYPE may only stand in the prolog; one that a longer prolog hides from
# this look is still refused by the parser (_refuse_doctype).
_PROLOG_BYTES = 1 << 16
_PROLOG_ITEMS = re.compile(rb"(?:\s+|<\?.*?\?>|<!--.*?-->)*", re.S)
_BOM = b"\xef\xbb\xbf"
_XML_DECLARATION = re.compile(rb"<\?xml\s[^>]*?\?>")
_ENCODING = re.compile(rb"\sencoding\s*=\s*(['\"])(.*?)\1", re.S)
_CODE_LIKE = re.compile(r"[A-Za-z][A-Za-z0-9._-]{0,39}")


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

    def manifest_bytes(self) -> bytes:
        """The manifest's first bytes (enough for any valid one); RefusedFile when it is not a regular file."""
        with open_regular(self.manifest) as f:
            return f.read(_MANIFEST_BYTES + 1)

    def declared_sha256(self, manifest: bytes | None = None) -> str | None:
        """The manifest's checksum, lower-case; None when the manifest is not one `<hex>  <this name>` line.

        Compared with the checksum of a batch number already loaded, it tells a
        duplicate delivery from a changed one without reading the batch.
        """
        data = self.manifest_bytes() if manifest is None else manifest
        m = _MANIFEST_LINE.fullmatch(data[:_MANIFEST_BYTES].decode("utf-8", "replace").strip())
        if len(data) > _MANIFEST_BYTES or m is None or Path(m[2]).name != self.name:
            return None
        return m[1].lower()


def delivery_fingerprint(batch: BatchFile, max_batch_bytes: int = MAX_BATCH_BYTES) -> str:
    """What identifies one delivery of a batch: the SHA-256 of its bytes and of its manifest's.

    A batch over the size cap is never read: its size and modification time stand for its bytes.
    The reader's verdict carries the same fingerprint for the delivery it read.
    """
    with open_regular(batch.path) as f:
        st = os.fstat(f.fileno())
        if st.st_size > max_batch_bytes:
            content = _unread_id(st)
        else:
            digest = hashlib.sha256()
            while chunk := f.read(_CHUNK):
                digest.update(chunk)
            content = digest.hexdigest()
    return _fingerprint(content, batch.manifest_bytes())


def _unread_id(st: os.stat_result) -> str:
    return f"unread:{st.st_size}:{st.st_mtime_ns}"


def _fingerprint(content: str, manifest: bytes) -> str:
    return f"{content} manifest:{hashlib.sha256(manifest).hexdigest()}"


@dataclass
class OutboxScan:
    ready: list[BatchFile] = field(default_factory=list)  # complete batches, lowest seq first
    unfinished: list[str] = field(default_factory=list)  # batches still without their manifest
    unknown: list[Skipped] = field(default_factory=list)  # other regular files, orphan manifests included
    refused: list[Skipped] = field(default_factory=list)  # links, FIFOs, devices…: never opened


def scan_outbox(folder: Path) -> OutboxScan:
    """The complete batches of an outbox. A name is a batch only when it is all of `GA_<yyyyMMdd>_<seq>.xml`
    in ASCII digits with a calendar date; sub-folders (the archive) are not deliveries unless named like one."""
    scan = OutboxScan()
    listing = list_folder(folder)
    names = listing.files
    scan.refused = listing.refused + [
        Skipped(name, "is a directory, not a regular file; never read") for name in sorted(listing.directories)
        if _NAME.fullmatch(name.removesuffix(MANIFEST_SUFFIX))
    ]
    for name in sorted(names):
        m = _NAME.fullmatch(name)
        if m is None:
            base = name.removesuffix(MANIFEST_SUFFIX)
            of_batch = _NAME.fullmatch(base) if name.endswith(MANIFEST_SUFFIX) else None
            if of_batch is None:
                scan.unknown.append(Skipped(name, "is not named like a batch (GA_<yyyyMMdd>_<seq>.xml) "
                                                  "or its manifest"))
            elif base not in names:
                scan.unknown.append(Skipped(name, "is a manifest without its batch"))
            elif _day(of_batch["date"]) is None:
                scan.unknown.append(Skipped(name, "is the manifest of a file that is not taken as a batch"))
            continue
        day = _day(m["date"])
        if day is None:
            scan.unknown.append(Skipped(name, "is named like a batch but its date is not a calendar day"))
        elif name + MANIFEST_SUFFIX not in names:
            scan.unfinished.append(name)
        else:
            scan.ready.append(BatchFile(folder / name, int(m["seq"]), day))
    scan.ready.sort(key=lambda b: (b.seq, b.day))
    return scan


def _day(digits: str) -> date | None:
    try:
        return date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError:
        return None


def batch_gaps(loaded: Iterable[int], seen: Iterable[int] = (), first: int = 1) -> list[tuple[int, int]]:
    """Ranges (lowest, highest) of the batch numbers from `first` up to the highest loaded or seen one
    that are not loaded; the work grows with the batches that exist, not with the numbers they skip.

    `seen` holds numbers that arrived but were not loaded (quarantined,
    unfinished): a quarantined batch stays a gap until a good re-delivery loads.
    """
    loaded = sorted({n for n in loaded if n >= first})
    top = max(max(loaded, default=first - 1), max(seen, default=first - 1))
    gaps, expected = [], first
    for n in loaded:
        if n > expected:
            gaps.append((expected, n - 1))
        expected = n + 1
    if top >= expected:
        gaps.append((expected, top))
    return gaps


def gap_text(gap: tuple[int, int]) -> str:
    low, high = gap
    return f"{low:06d}" if low == high else f"{low:06d}–{high:06d}"


@dataclass
class BatchVerdict:
    seq: int
    sha256: str  # of the bytes read; "" when the batch was refused unread
    cases: int = 0  # CASE elements read
    evaluations: int = 0  # PJ elements read
    declared_cases: int | None = None
    declared_evaluations: int | None = None
    generated: str | None = None
    unknown: dict[str, int] = field(default_factory=dict)  # "DATA/X", "CASE/X", "PJ/X" → occurrences
    problem: str | None = None  # reason code when the batch must be quarantined whole
    detail: str = ""
    fingerprint: str = ""  # this delivery: its bytes and its manifest (see delivery_fingerprint)


class _Refused(Exception):
    def __init__(self, problem: str, detail: str):
        super().__init__(detail)
        self.problem, self.detail = problem, detail


class XmlBatchReader:
    """Streams one batch; memory is bounded by the largest element, not by the file.

    Before the parser sees a byte, the batch's size is checked against
    `max_batch_bytes` (stat), and while it streams every chunk is checked: valid
    UTF-8, and no run between markup starts longer than `max_text_bytes`.
    """

    def __init__(self, batch: BatchFile, pseudonymize: Callable[[str], str | None], *,
                 mask: Callable[[str, str | None], str | None] | None = None,
                 pseudonymize_typed: Callable[[str, str | None], str | None] | None = None,
                 batch_rows: int = BATCH_ROWS, max_batch_bytes: int = MAX_BATCH_BYTES,
                 max_text_bytes: int = MAX_TEXT_BYTES):
        """`mask(number, zjlx)` gives ZJHM_MASKED, `pseudonymize_typed(number, zjlx)` ZJHM's pseudonym; they see
        the clear number, so they must not keep it."""
        self.batch, self.pseudonymize, self.mask, self.batch_rows = batch, pseudonymize, mask, batch_rows
        self.pseudonymize_typed = pseudonymize_typed
        self.max_batch_bytes, self.max_text_bytes = max_batch_bytes, max_text_bytes
        self.verdict: BatchVerdict | None = None

    def batches(self, streams: Collection[str] = tuple(STREAMS)) -> Iterator[tuple[str, pa.RecordBatch]]:
        """(stream, batch) pairs; elements of other streams are still counted for the verdict.

        Raises extractors.folder.RefusedFile when the batch or its manifest is not a regular file.
        """
        manifest = self.batch.manifest_bytes()
        verdict = BatchVerdict(self.batch.seq, "")
        with open_regular(self.batch.path) as raw:
            st = os.fstat(raw.fileno())
            if st.st_size > self.max_batch_bytes:
                verdict.fingerprint = _fingerprint(_unread_id(st), manifest)
                verdict.problem = "too_large"
                verdict.detail = (f"{self.batch.name} is {st.st_size} bytes, over the cap of {self.max_batch_bytes} "
                                  "bytes per batch (extract.max_batch_bytes); refused unread")
                self.verdict = verdict
                return
            source = _Guarded(raw, self.batch.name, self.max_batch_bytes, self.max_text_bytes)
            refused = None
            head = raw.read(_PROLOG_BYTES)
            raw.seek(0)
            try:
                _check_prolog(self.batch.name, head)
                yield from self._parse(source, streams, verdict)
            except _Refused as r:
                refused = r
            except DefusedXmlException:
                refused = _Refused("doctype_refused", f"{self.batch.name} declares a DOCTYPE or entities; refused")
            except expat.ExpatError as e:
                refused = _Refused("malformed_xml", f"{self.batch.name} is not well-formed XML: {e}")
            source.drain()  # the rest of the file still counts for the checksum
        verdict.sha256 = source.digest.hexdigest()
        verdict.fingerprint = _fingerprint(verdict.sha256, manifest)
        self.verdict = _judge(self.batch, verdict, refused, manifest)

    def _parse(self, source, streams, verdict: BatchVerdict) -> Iterator[tuple[str, pa.RecordBatch]]:
        buffers = {kind: _Buffer(kind, self, verdict) for stream, kind in STREAMS.items() if stream in streams}
        stream_of = {kind: stream for stream, kind in STREAMS.items()}
        unknown, index = Counter(), Counter()
        # Handlers cannot yield: the batches they fill wait here until the parser has taken its chunk.
        full: list[tuple[str, pa.RecordBatch]] = []
        batch_rows = self.batch_rows
        depth, kind, position, row = 0, None, {}, []
        # A field's text: its first piece, and all its pieces once there is more than one (rare: expat gives a
        # text in one piece unless it outgrows the parser's buffer); no list per field for the collector to track.
        text, pieces, in_text = None, None, False

        def start(tag, attributes):
            nonlocal depth, kind, position, row, text, pieces, in_text
            depth += 1
            if depth == 3:
                in_text = True
            elif depth == 2:
                kind = tag if tag in FIELDS else None
                position = _POSITION.get(kind, {})
                row = [None] * len(position)  # an absent field is NULL
            elif depth == 1:
                self._read_root(tag, attributes, verdict)
            else:  # a field's value is its text before its first child element, as ElementTree's elem.text
                in_text = False

        def data(chunk):
            nonlocal text, pieces
            if not in_text:
                return
            if text is None:
                text = chunk
            elif pieces is None:
                pieces = [text, chunk]
            else:
                pieces.append(chunk)

        def end(tag):
            nonlocal depth, row, text, pieces, in_text
            if depth == 3:
                at = position.get(tag)
                if at is not None:
                    # Empty is NULL; a repeated field: the last one wins.
                    row[at] = (text if pieces is None else "".join(pieces)) or None
                elif kind is not None:
                    unknown[f"{kind}/{_shown_tag(_tree_tag(tag))}"] += 1
                text, pieces, in_text = None, None, False  # a clear number stays no longer than its element
            elif depth == 2:
                if kind is None:
                    unknown[f"DATA/{_shown_tag(_tree_tag(tag))}"] += 1
                else:
                    number = index[kind] = index[kind] + 1
                    buffer = buffers.get(kind)
                    if buffer is not None and buffer.add(row, number) >= batch_rows:
                        full.append((stream_of[kind], buffer.flush()))
                # The finished record, and with it any clear number, leaves memory here.
                row = []
            depth -= 1

        parser = _parser()
        parser.StartElementHandler, parser.EndElementHandler, parser.CharacterDataHandler = start, end, data
        try:
            for _ in feed_parser(parser, source):
                yield from full
                full.clear()
        except expat.ExpatError:
            yield from full  # what preceded the error, as iterparse passed it on before raising
            raise
        for kind, buffer in buffers.items():
            if len(buffer):
                yield stream_of[kind], buffer.flush()
        verdict.cases, verdict.evaluations, verdict.unknown = index["CASE"], index["PJ"], dict(unknown)

    def _read_root(self, tag: str, attributes: dict[str, str], verdict: BatchVerdict) -> None:
        name = self.batch.name
        if tag != "DATA":
            raise _Refused("malformed_xml", f"{name} has a root element other than DATA, which the contract requires")
        batch = attributes.get("batch", "")
        if not (batch.isascii() and batch.isdigit() and len(batch) <= 6 and int(batch) == self.batch.seq):
            shape = ("is missing or empty" if not batch else
                     f"is the number {int(batch):06d}" if batch.isascii() and batch.isdigit() and len(batch) <= 6 else
                     f"is {len(batch)} characters, not a batch number")
            raise _Refused("batch_attribute_mismatch",
                           f"{name}: the root's batch attribute {shape}, the file name says {self.batch.seq:06d}")
        verdict.generated = attributes.get("generated") or None
        verdict.declared_cases = _count(attributes.get("cases"))
        verdict.declared_evaluations = _count(attributes.get("evaluations"))


def _parser() -> expat.XMLParserType:
    """An expat parser that refuses, as defusedxml does, a DOCTYPE, entity declarations and external entities.

    Names come as ElementTree's would before `{`: `uri}local` (see _tree_tag).
    """
    parser = expat.ParserCreate(None, "}")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _refuse_doctype
    parser.EntityDeclHandler = _refuse_entity
    parser.UnparsedEntityDeclHandler = _refuse_unparsed_entity
    parser.ExternalEntityRefHandler = _refuse_external_entity
    parser.buffer_text = True
    return parser


def _refuse_doctype(name, sysid, pubid, has_internal_subset):
    raise DTDForbidden(name, sysid, pubid)


def _refuse_entity(name, is_parameter_entity, value, base, sysid, pubid, notation_name):
    raise EntitiesForbidden(name, value, base, sysid, pubid, notation_name)


def _refuse_unparsed_entity(name, base, sysid, pubid, notation_name):
    raise EntitiesForbidden(name, None, base, sysid, pubid, notation_name)


def _refuse_external_entity(context, base, sysid, pubid):
    raise ExternalReferenceForbidden(context, base, sysid, pubid)


def feed_parser(parser: expat.XMLParserType, source) -> Iterator[None]:
    """Gives the parser the source in chunks, pausing after each (and after the end) so that the caller can pass
    on what the handlers finished; the only way bytes reach the parser."""
    while chunk := source.read(_PARSE_CHUNK):
        parser.Parse(chunk, False)
        yield
    parser.Parse(b"", True)
    yield


def _tree_tag(name: str) -> str:
    """A name as ElementTree gives it (`{uri}local` for a namespaced one), so counts and verdicts read as before."""
    return "{" + name if "}" in name else name


def _judge(batch: BatchFile, verdict: BatchVerdict, refused: _Refused | None, manifest: bytes) -> BatchVerdict:
    declared = batch.declared_sha256(manifest)
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
        verdict.detail = (f"{batch.name} declares cases={_shown_count(verdict.declared_cases)} evaluations="
                          f"{_shown_count(verdict.declared_evaluations)} but holds {verdict.cases} CASE and "
                          f"{verdict.evaluations} PJ elements")
    return verdict


def _count(value: str | None) -> int | None:
    """A declared count; None when it is not a number of at most 12 ASCII digits (the most any batch may hold)."""
    return int(value) if value and value.isascii() and value.isdigit() and len(value) <= 12 else None


def _shown_count(count: int | None) -> str:
    """A declared count as reported; a long number is no count and might be a phone number, so only its length."""
    if count is None:
        return "(not a count)"
    return str(count) if count < 10_000_000 else f"(a number of {len(str(count))} digits)"


def _code_like(text: str) -> bool:
    """Short and shaped like a name or code (an element name, an encoding label): safe to quote. One with a
    run of six digits could carry a personal number, so it is described instead."""
    return _CODE_LIKE.fullmatch(text) is not None and re.search(r"[0-9]{6}", text) is None


def _shown_tag(tag: str) -> str:
    """An element name as counted and reported (see _code_like)."""
    return tag if _code_like(tag) else f"(a name of {len(tag)} characters)"


def _check_prolog(name: str, head: bytes) -> None:
    """Refuse, from the raw bytes alone, what the parser must never see: another encoding than UTF-8, a DOCTYPE."""
    body = head.removeprefix(_BOM)
    if body.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in body[:4]:
        raise _Refused("bad_encoding", f"{name} is encoded in UTF-16 or UTF-32; the contract requires UTF-8")
    declaration = _XML_DECLARATION.match(body)
    encoding = _ENCODING.search(declaration[0]) if declaration else None
    if encoding is not None and encoding[2].upper() != b"UTF-8":
        label = encoding[2].decode("ascii", "replace")
        shown = repr(label) if _code_like(label) else f"of {len(encoding[2])} bytes"
        raise _Refused("bad_encoding", f"{name} declares the encoding {shown}; the contract requires UTF-8")
    rest = body[_PROLOG_ITEMS.match(body).end():]
    if rest[:9].upper() == b"<!DOCTYPE":
        raise _Refused("doctype_refused", f"{name} declares a DOCTYPE; refused unread")


class _Guarded:
    """The file the parser reads through: the bytes parsed are the bytes hashed, and each chunk is checked
    (size, UTF-8, longest run between markup starts) before the parser gets it."""

    def __init__(self, raw, name: str, max_batch_bytes: int, max_text_bytes: int):
        self.raw, self.name = raw, name
        self.max_batch_bytes, self.max_text_bytes = max_batch_bytes, max_text_bytes
        self.digest = hashlib.sha256()
        self.utf8 = codecs.getincrementaldecoder("utf-8")()
        self.runs = _Runs(max_text_bytes)
        self.offset = 0

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.digest.update(data)
        start, self.offset = self.offset, self.offset + len(data)
        if self.offset > self.max_batch_bytes:  # it grew since it was measured
            raise _Refused("too_large", f"{self.name} grew past the cap of {self.max_batch_bytes} bytes per batch "
                                        "(extract.max_batch_bytes) while it was read")
        try:
            self.utf8.decode(data, final=not data)
        except UnicodeDecodeError as e:
            raise _Refused("bad_encoding", f"{self.name} is not valid UTF-8 (from byte {max(0, start + e.start)}); "
                                           "the contract requires UTF-8") from None
        at = self.runs.feed(data, final=not data)
        if at is not None:
            raise _Refused("too_large", f"{self.name} holds a text node or attribute value longer than "
                                        f"{self.max_text_bytes} bytes (before byte {at}), the cap per text "
                                        "(extract.max_text_bytes)")
        return data

    def drain(self) -> None:
        while data := self.raw.read(_CHUNK):
            self.digest.update(data)


_SECTIONS = re.compile(rb"<(?:!\[CDATA\[|!--|\?)")
_SECTION_END = {b"<![CDATA[": b"]]>", b"<!--": b"-->", b"<?": b"?>"}
_HELD_BACK = 8  # so that a section start (up to 9 bytes) split across two chunks is still seen whole


class _Runs:
    """Finds a run of bytes the parser would have to take whole that is longer than a cap.

    Outside CDATA sections, comments and processing instructions, no text node
    and no attribute value may contain `<`, so the stretch from one `<` to the
    next bounds them (with the tag before a text). Inside such a section only
    its end counts, so a section is measured whole.
    """

    def __init__(self, cap: int):
        self.cap = cap
        self.held = b""
        self.base = 0  # offset in the file of held[0]
        self.mark = 0  # offset in the file where the current run started
        self.section_end: bytes | None = None

    def feed(self, data: bytes, final: bool) -> int | None:
        """The file offset where a run went over the cap, or None."""
        buf = self.held + data
        limit = len(buf) if final else max(0, len(buf) - _HELD_BACK)
        pos = 0
        while pos < limit:
            if self.section_end is not None:
                end = buf.find(self.section_end, pos)
                if end == -1 or end >= limit:
                    pos = limit
                    break
                pos = end + len(self.section_end)
                if self.base + pos - self.mark > self.cap:
                    return self.base + pos
                self.mark, self.section_end = self.base + pos, None
                continue
            section = _SECTIONS.search(buf, pos)
            stop = section.start() if section is not None and section.start() < limit else limit
            over = self._plain(buf, pos, stop)
            if over is not None:
                return over
            if stop == limit:
                pos = limit
                break
            self.mark, self.section_end = self.base + stop, _SECTION_END[section[0]]
            pos = section.end()
        if self.base + max(pos, limit) - self.mark > self.cap:
            return self.base + max(pos, limit)
        keep = max(pos, limit)
        self.held, self.base = buf[keep:], self.base + keep
        return None

    def _plain(self, buf: bytes, pos: int, stop: int) -> int | None:
        """Checks the runs in buf[pos:stop], outside any section; moves the mark to its last `<`."""
        first = buf.find(b"<", pos, stop)
        if first == -1:
            return self.base + stop if self.base + stop - self.mark > self.cap else None
        if self.base + first - self.mark > self.cap:
            return self.base + first
        last = buf.rfind(b"<", first, stop)
        if last - first > self.cap:  # only when the cap is below a chunk: look at each run
            longest = max(len(run) for run in buf[first + 1:last].split(b"<")) + 1
            if longest > self.cap:
                return self.base + last
        self.mark = self.base + last
        return self.base + stop if self.base + stop - self.mark > self.cap else None


class _Buffer:
    """A stream's records as rows of its columns, certificate numbers already keyed; columns are made at flush."""

    def __init__(self, kind: str, reader: XmlBatchReader, verdict: BatchVerdict):
        self.kind, self.reader, self.verdict = kind, reader, verdict
        self.fields = FIELDS[kind]
        self.columns = list(self.fields)
        self.cert = self.fields.index(CERT_FIELD[kind])
        self.cert_type = self.fields.index("ZJLX") if kind == "CASE" else None
        self.masked = kind == "CASE" and reader.mask is not None
        if self.masked:
            self.columns.append(MASKED_COLUMN)
        self.typed = reader.pseudonymize_typed if kind == "CASE" else None
        self.row_type = pa.struct([(name, pa.string()) for name in self.columns])
        self._reset()

    def _reset(self) -> None:
        self.rows: list[tuple[str | None, ...]] = []
        self.index: list[int] = []

    def __len__(self) -> int:
        return len(self.index)

    def add(self, row: list[str | None], index: int) -> int:
        """Takes the row (the values of FIELDS[kind] in order, None for empty), keying its certificate number;
        the number of rows held."""
        clear = row[self.cert]
        cert_type = None if self.cert_type is None else row[self.cert_type]
        if clear is not None:
            row[self.cert] = self.reader.pseudonymize(clear) if self.typed is None else self.typed(clear, cert_type)
        if self.masked:
            row.append(None if clear is None else self.reader.mask(clear, cert_type))
        # A tuple of strings leaves the cyclic collector's view, so the rows held until flush do not set off
        # full collections.
        self.rows.append(tuple(row))
        self.index.append(index)
        return len(self.index)

    def flush(self) -> pa.RecordBatch:
        n = len(self.index)
        # Rows convert to Arrow in one pass as the fields of a struct, about twice as fast as column by column.
        arrays = pa.array(self.rows, self.row_type).flatten()
        arrays += [pa.array([self.reader.batch.seq] * n, pa.int64()), pa.array(self.index, pa.int64()),
                   pa.array([self.verdict.generated] * n, pa.string())]
        batch = pa.RecordBatch.from_arrays(arrays, names=[*self.columns, *PROVENANCE])
        self._reset()
        return batch
