"""File drops of CSV files: completion markers, corrections, trailers, streaming reads.

The reader yields Arrow record batches of the raw fields exactly as read,
plus provenance (`_record_no`) and, for a record that could not be read into
columns, `_defect` and `_raw`. It never renames, maps or drops a record; the
verdict on the file as a whole (header, trailer, a record over the size cap)
is known once the batches are exhausted.

Only regular files are read (extractors.folder): links, FIFOs and the like in
the drop folder are listed as refused, never opened.
"""

import csv
import hashlib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa
import pyarrow.compute as pc

from extractors.folder import Skipped, list_folder, open_regular
from extractors.limits import MAX_RECORD_BYTES

BATCH_ROWS = 20_000
# Bytes read and decoded at once by the plain-block path (see CsvFileReader); a record's cap is still per record.
BLOCK_BYTES = 1 << 20
_UNDECODABLE = re.compile("[\udc80-\udcff]")  # what surrogateescape turns bad bytes into
_SHOWN_MISMATCHES = 5  # header positions named in a bad_header detail


@dataclass(frozen=True)
class DropFile:
    path: Path
    stream: str
    file_date: date
    correction: int  # n of an `_R<n>` re-delivery; 0 for the original

    @property
    def name(self) -> str:
        return self.path.name

    def sha256(self) -> str:
        """Raises extractors.folder.RefusedFile when the file is no longer a regular file."""
        digest = hashlib.sha256()
        with open_regular(self.path) as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
        return digest.hexdigest()


@dataclass
class DropScan:
    ready: list[DropFile] = field(default_factory=list)
    unfinished: list[str] = field(default_factory=list)  # data files still without their marker
    unknown: list[Skipped] = field(default_factory=list)  # regular files no stream takes, with why
    refused: list[Skipped] = field(default_factory=list)  # links, FIFOs, devices…: never opened


def scan_drop(folder: Path, patterns: dict[str, str], marker_suffix: str) -> DropScan:
    """The complete files in a drop folder, oldest day first, originals before corrections.

    A name is a delivery only when a stream's pattern matches all of it (ASCII
    digits only, no trailing newline) and its date is a calendar day; other
    regular files are unknown and left alone. Sub-folders are not deliveries
    (the archive is one), unless named like one.
    """
    scan = DropScan()
    compiled = {stream: re.compile(p, re.ASCII) for stream, p in patterns.items()}
    listing = list_folder(folder)
    scan.refused = listing.refused + [
        Skipped(name, "is a directory, not a regular file; never read") for name in sorted(listing.directories)
        if any(p.fullmatch(name.removesuffix(marker_suffix)) for p in compiled.values())
    ]
    for name in sorted(listing.files):
        if name.endswith(marker_suffix):
            continue
        found = next(((stream, m) for stream, p in compiled.items() if (m := p.fullmatch(name))), None)
        if found is None:
            scan.unknown.append(Skipped(name, "matches no stream's file name pattern"))
            continue
        stream, m = found
        groups = m.groupdict()
        day, correction = _day(groups.get("date")), _number(groups.get("correction") or "0")
        if day is None or correction is None:
            scan.unknown.append(Skipped(name, f"is named like a {stream} file but its date is not a calendar day "
                                              "written in 8 ASCII digits (yyyyMMdd)"))
        elif name + marker_suffix not in listing.files:
            scan.unfinished.append(name)
        else:
            scan.ready.append(DropFile(folder / name, stream, day, correction))
    scan.ready.sort(key=lambda f: (f.file_date, f.correction, f.stream))
    return scan


def _number(text: str) -> int | None:
    return int(text) if text.isascii() and text.isdigit() else None


def _day(text: str | None) -> date | None:
    if text is None or len(text) != 8 or _number(text) is None:
        return None
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None


@dataclass
class FileVerdict:
    records: int
    trailer: int | None
    problem: str | None = None  # reason code when the file must be quarantined whole
    detail: str = ""


class _RecordTooLarge(Exception):
    pass


class _CappedLines:
    """The file's lines, decoded, for csv.reader; one record's bytes never exceed the cap.

    The cap is checked before a line is taken whole (readline with a limit), so a
    file without line breaks costs one cap of memory, not the file. Lines end at
    CR, LF or CRLF as with open(newline=""); GB18030 and UTF-8 never use these
    bytes inside a character, so splitting the bytes splits no character.
    """

    def __init__(self, raw: BinaryIO, encoding: str, cap: int, lines: int = 0):
        self.raw, self.encoding, self.cap = raw, encoding, cap
        self.record_bytes = 0  # of the record csv.reader is reading
        self.lines = lines  # read so far, from the file's start
        self.record_line = lines + 1  # where that record starts

    def next_record(self) -> None:
        self.record_bytes = 0
        self.record_line = self.lines + 1

    def __iter__(self) -> Iterator[str]:
        while line := self.raw.readline(self.cap - self.record_bytes + 1):
            self.record_bytes += len(line)
            if self.record_bytes > self.cap:
                raise _RecordTooLarge(self.record_line)
            body = len(line) - 2 if line.endswith(b"\r\n") else len(line) - 1
            parts = [line] if line.find(b"\r", 0, body) == -1 else re.split(rb"(?<=\r)(?!\n)", line)
            for part in parts:
                if part:
                    self.lines += 1
                    yield part.decode(self.encoding, "surrogateescape")


@dataclass
class _Position:
    """Where the reading stands, handed from the plain-block path to the line-by-line one."""
    offset: int = 0  # bytes of the file taken whole
    lines: int = 0  # lines in them
    header_read: bool = False
    records: int = 0
    pending: list[str] | None = None  # the last non-blank row: a record, or the trailer if nothing follows
    held: list[pa.RecordBatch] = field(default_factory=list)  # records not yet in a batch of batch_rows
    done: bool = False


class CsvFileReader:
    """Streams one delivered CSV file in bounded batches; memory does not grow with the file.

    Most of a delivery is plain: lines without quotes, NULs or lone CRs, that
    decode cleanly and are shorter than the record cap. Such a block of lines is
    decoded at once and split into columns with Arrow kernels, where csv.reader
    would give the same fields. The first block that is not plain, and
    everything after it, is read line by line through csv.reader, with the byte
    cap checked before a line is taken whole: both paths give the same batches,
    rows and verdicts.
    """

    def __init__(self, file: DropFile, columns: list[str], *, encoding: str, trailer_label: str,
                 batch_rows: int = BATCH_ROWS, max_record_bytes: int = MAX_RECORD_BYTES):
        self.file, self.columns, self.encoding = file, columns, encoding
        self.trailer_label, self.batch_rows, self.max_record_bytes = trailer_label, batch_rows, max_record_bytes
        self.verdict: FileVerdict | None = None
        self.bytes_read = 0

    def batches(self, on_progress: Callable[[int], None] | None = None) -> Iterator[pa.RecordBatch]:
        """Raises extractors.folder.RefusedFile when the file is not a regular file when opened."""
        # csv's own limit (131072 characters by default, process-wide) must not fail a field that the byte cap,
        # which bounds every field, allows.
        if csv.field_size_limit() < self.max_record_bytes:
            csv.field_size_limit(self.max_record_bytes)
        with open_regular(self.file.path) as raw:
            at = _Position()
            yield from self._plain_blocks(raw, at, on_progress)
            if at.done:
                return
            raw.seek(at.offset)
            lines = _CappedLines(raw, self.encoding, self.max_record_bytes, at.lines)
            try:
                yield from self._read(csv.reader(lines), lines, raw, at, on_progress)
            except csv.Error as exc:
                self.verdict = FileVerdict(0, None, "malformed_csv",
                                           f"{self.file.name} is not readable CSV near line {lines.lines}: {exc}")
            except _RecordTooLarge as exc:
                self.verdict = FileVerdict(
                    0, None, "record_too_large",
                    f"{self.file.name}: the record starting on line {exc.args[0]} is longer than "
                    f"{self.max_record_bytes} bytes, the cap per record (csv.max_record_bytes)")

    def _plain_blocks(self, raw, at: _Position, on_progress) -> Iterator[pa.RecordBatch]:
        """Reads blocks of whole plain lines; returns at the first block that is not plain (at.offset: its start),
        or at the end of the file with the verdict given (at.done)."""
        out = _Batches(self.batch_rows)
        carry = b""
        while True:
            block = raw.read(BLOCK_BYTES)
            if len(carry) + len(block) > self.max_record_bytes and b"\n" not in block:
                break  # a line over the cap: the line-by-line path names it, holding no more than the cap
            data = carry + block
            cut = len(data) if not block else data.rfind(b"\n") + 1
            if cut == 0 and block:
                carry = data
                continue
            if cut:
                text = self._plain_text(data[:cut])
                if text is None or not self._plain_lines(text, cut, at, out):
                    break
                if at.done:
                    return
                carry = data[cut:]
                for batch in out.full():
                    self._progress(raw, on_progress)
                    yield batch
            if not block:
                if not at.header_read:
                    break  # an empty file: the line-by-line path says so
                yield from self._finish(out.rest(), at, raw, on_progress)
                at.done = True
                return
        at.held = out.rest()

    def _plain_lines(self, text: str, size: int, at: _Position, out: "_Batches") -> bool:
        """Takes a decoded block of plain lines; False (nothing taken) when it must be read line by line."""
        lines = pc.split_pattern(pa.array([text], pa.string()), "\n").flatten()
        if text.endswith("\n"):
            lines = lines.slice(0, len(lines) - 1)  # what follows the last line break is no line
        if "\r" in text:  # each one ends a line (CRLF): csv.reader leaves it out of the row
            lines = pc.utf8_rtrim(lines, characters="\r")
        read = len(lines)
        if not at.header_read:
            header = lines[0].as_py().split(",")
            if header == [""]:  # a blank first line: csv.reader makes it an empty row, read there
                return False
            at.header_read = True
            if header != self.columns:
                at.done = True
                self.verdict = FileVerdict(0, None, "bad_header", f"{self.file.name} {self._header_problem(header)}")
                return True
            lines = lines.slice(1)
        lines = lines.filter(pc.greater(pc.binary_length(lines), 0))  # a blank line is no record
        at.offset += size
        at.lines += read
        if len(lines):
            records = lines.slice(0, len(lines) - 1)
            if at.pending is not None:
                records = pa.concat_arrays([pa.array([",".join(at.pending)], pa.string()), records])
            out.add(self._plain_records(records, at))
            at.pending = lines[len(lines) - 1].as_py().split(",")
        return True

    def _plain_text(self, data: bytes) -> str | None:
        """The block decoded, when every line in it is plain (see the class); None when one is not."""
        if b'"' in data or b"\0" in data or (b"\r" in data and data.count(b"\r") != data.count(b"\r\n")):
            return None
        if len(data) > self.max_record_bytes and max(map(len, data.split(b"\n"))) + 1 > self.max_record_bytes:
            return None
        try:
            return data.decode(self.encoding)
        except UnicodeDecodeError:
            return None

    def _plain_records(self, lines: pa.Array, at: _Position) -> pa.RecordBatch:
        """Records of plain lines: their fields, split at every comma as csv.reader splits an unquoted line."""
        width = len(self.columns)
        fields = pc.split_pattern(lines, ",")
        if not pc.all(pc.equal(pc.list_value_length(fields), width)).as_py():
            buffer = _BatchBuffer(self.columns)  # the few rows of a wrong width, as the line-by-line path has them
            for line in lines.to_pylist():
                at.records += 1
                buffer.add(at.records, line.split(","), width)
            return buffer.flush()
        n = len(lines)
        nulls = pa.nulls(n, pa.string())
        arrays = [pc.list_element(fields, i) for i in range(width)]
        arrays += [pa.array(range(at.records + 1, at.records + n + 1), pa.int64()), nulls, nulls]
        at.records += n
        return pa.RecordBatch.from_arrays(arrays, names=[*self.columns, "_record_no", "_defect", "_raw"])

    def _progress(self, raw, on_progress) -> None:
        self.bytes_read = raw.tell()
        if on_progress:
            on_progress(self.bytes_read)

    def _read(self, rows, lines: _CappedLines, raw, at: _Position, on_progress) -> Iterator[pa.RecordBatch]:
        name = self.file.name
        if not at.header_read:
            header = next(rows, None)
            if header != self.columns:
                self.verdict = FileVerdict(0, None, "bad_header", f"{name} {self._header_problem(header)}")
                return
        buffer = _BatchBuffer(self.columns)
        records, pending, held = at.records, at.pending, at.held
        room = self.batch_rows - sum(b.num_rows for b in held)
        lines.next_record()
        for row in rows:
            lines.next_record()
            if not row:  # a blank line is no record
                continue
            if pending is not None:
                records += 1
                buffer.add(records, pending, len(self.columns))
                if len(buffer) >= room:
                    self._progress(raw, on_progress)
                    yield _concat([*held, buffer.flush()])
                    held, room = [], self.batch_rows
            pending = row
        at.records, at.pending = records, pending
        yield from self._finish([*held, buffer.flush()] if len(buffer) else held, at, raw, on_progress)

    def _finish(self, last: list[pa.RecordBatch], at: _Position, raw, on_progress) -> Iterator[pa.RecordBatch]:
        """The last batches, the last row taken as the trailer or as a record, and the file's verdict."""
        name = self.file.name
        trailer = self._trailer(at.pending)
        if trailer is None and at.pending is not None:
            at.records += 1
            buffer = _BatchBuffer(self.columns)
            buffer.add(at.records, at.pending, len(self.columns))
            last = [*last, buffer.flush()]
        if last:
            yield _concat(last)
        self._progress(raw, on_progress)
        records = at.records
        if trailer is None:
            self.verdict = FileVerdict(records, None, "missing_trailer",
                                       f"{name} has no trailer line `{self.trailer_label},<n>`: the file is incomplete")
        elif trailer != records:
            self.verdict = FileVerdict(records, trailer, "trailer_mismatch",
                                       f"{name} declares {trailer} records in its trailer but holds {records}")
        else:
            self.verdict = FileVerdict(records, trailer)

    def _header_problem(self, header: list[str] | None) -> str:
        """What differs from the contract's header, by count and position; the file's own values are never quoted
        (a file without its header starts with a data row of personal numbers)."""
        expected = ",".join(self.columns)
        if header is None:
            return f"is empty: the contract requires the header {expected}"
        differ = [i for i, column in enumerate(self.columns) if i >= len(header) or header[i] != column]
        parts = []
        if len(header) != len(self.columns):
            parts.append(f"its first line has {len(header)} field(s), the contract's header has {len(self.columns)}")
        if differ:
            named = ", ".join(f"{i + 1} ({self.columns[i]})" for i in differ[:_SHOWN_MISMATCHES])
            more = f" and {len(differ) - _SHOWN_MISMATCHES} more" if len(differ) > _SHOWN_MISMATCHES else ""
            parts.append(f"it differs at position(s) {named}{more}")
        return f"has no valid header: {'; '.join(parts)}; the contract requires {expected}"

    def _trailer(self, row: list[str] | None) -> int | None:
        if (row and len(row) == 2 and row[0] == self.trailer_label and row[1].isascii() and row[1].isdigit()
                and len(row[1]) <= 12):  # longer is no count, and int() refuses thousands of digits
            return int(row[1])
        return None


def _concat(batches: list[pa.RecordBatch]) -> pa.RecordBatch:
    return pa.Table.from_batches(batches).combine_chunks().to_batches()[0]


class _Batches:
    """Record batches of any length gathered into batches of `batch_rows` rows (the last one shorter)."""

    def __init__(self, batch_rows: int):
        self.batch_rows = batch_rows
        self.pieces: list[pa.RecordBatch] = []
        self.rows = 0

    def add(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows:
            self.pieces.append(batch)
            self.rows += batch.num_rows

    def full(self) -> Iterator[pa.RecordBatch]:
        while self.rows >= self.batch_rows:
            whole = _concat(self.pieces)
            yield whole.slice(0, self.batch_rows)
            rest = whole.slice(self.batch_rows)
            self.pieces, self.rows = ([rest] if rest.num_rows else []), rest.num_rows

    def rest(self) -> list[pa.RecordBatch]:
        pieces, self.pieces, self.rows = self.pieces, [], 0
        return pieces


class _BatchBuffer:
    def __init__(self, columns: list[str]):
        self.columns = columns
        self._reset()

    def _reset(self) -> None:
        self.values: list[list[str | None]] = [[] for _ in self.columns]
        self.record_no: list[int] = []
        self.defect: list[str | None] = []
        self.raw: list[str | None] = []

    def __len__(self) -> int:
        return len(self.record_no)

    def add(self, record_no: int, row: list[str], width: int) -> None:
        defect = None
        if len(row) != width:
            defect = "wrong_field_count"
        elif any(_UNDECODABLE.search(v) for v in row):
            defect = "undecodable"
        self.record_no.append(record_no)
        self.defect.append(defect)
        if defect:
            # Kept escaped so the exact bytes can be recovered on replay, never garbled into text.
            self.raw.append(json.dumps(row, ensure_ascii=True))
            # The fields that decoded cleanly stay at their positions, so the record's key can still be named.
            for i, col in enumerate(self.values):
                value = row[i] if i < len(row) else None
                col.append(None if value is None or _UNDECODABLE.search(value) else value)
        else:
            self.raw.append(None)
            for col, v in zip(self.values, row):
                col.append(v)

    def flush(self) -> pa.RecordBatch:
        arrays = [pa.array(v, pa.string()) for v in self.values]
        arrays += [pa.array(self.record_no, pa.int64()), pa.array(self.defect, pa.string()), pa.array(self.raw, pa.string())]
        batch = pa.RecordBatch.from_arrays(arrays, names=[*self.columns, "_record_no", "_defect", "_raw"])
        self._reset()
        return batch
