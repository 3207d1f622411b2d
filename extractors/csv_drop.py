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

from extractors.folder import Skipped, list_folder, open_regular
from extractors.limits import MAX_RECORD_BYTES

BATCH_ROWS = 20_000
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

    def __init__(self, raw: BinaryIO, encoding: str, cap: int):
        self.raw, self.encoding, self.cap = raw, encoding, cap
        self.record_bytes = 0  # of the record csv.reader is reading
        self.lines = 0
        self.record_line = 1  # where that record starts

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


class CsvFileReader:
    """Streams one delivered CSV file in bounded batches; memory does not grow with the file."""

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
            lines = _CappedLines(raw, self.encoding, self.max_record_bytes)
            try:
                yield from self._read(csv.reader(lines), lines, raw, on_progress)
            except csv.Error as exc:
                self.verdict = FileVerdict(0, None, "malformed_csv",
                                           f"{self.file.name} is not readable CSV near line {lines.lines}: {exc}")
            except _RecordTooLarge as exc:
                self.verdict = FileVerdict(
                    0, None, "record_too_large",
                    f"{self.file.name}: the record starting on line {exc.args[0]} is longer than "
                    f"{self.max_record_bytes} bytes, the cap per record (csv.max_record_bytes)")

    def _read(self, rows, lines: _CappedLines, raw, on_progress) -> Iterator[pa.RecordBatch]:
        name = self.file.name
        header = next(rows, None)
        if header != self.columns:
            self.verdict = FileVerdict(0, None, "bad_header", f"{name} {self._header_problem(header)}")
            return
        buffer = _BatchBuffer(self.columns)
        records, pending = 0, None
        lines.next_record()
        for row in rows:
            lines.next_record()
            if not row:  # a blank line is no record
                continue
            if pending is not None:
                records += 1
                buffer.add(records, pending, len(self.columns))
                if len(buffer) >= self.batch_rows:
                    self.bytes_read = raw.tell()
                    if on_progress:
                        on_progress(self.bytes_read)
                    yield buffer.flush()
            pending = row
        trailer = self._trailer(pending)
        if trailer is None and pending is not None:
            records += 1
            buffer.add(records, pending, len(self.columns))
        if len(buffer):
            yield buffer.flush()
        self.bytes_read = raw.tell()
        if on_progress:
            on_progress(self.bytes_read)
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
