"""File drops of CSV files: completion markers, corrections, trailers, streaming reads.

The reader yields Arrow record batches of the raw fields exactly as read,
plus provenance (`_record_no`) and, for a record that could not be read into
columns, `_defect` and `_raw`. It never renames, maps or drops a record; the
verdict on the file as a whole (header, trailer) is known once the batches
are exhausted.
"""

import csv
import hashlib
import io
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import pyarrow as pa

BATCH_ROWS = 20_000
_UNDECODABLE = re.compile("[\udc80-\udcff]")  # what surrogateescape turns bad bytes into


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
        digest = hashlib.sha256()
        with self.path.open("rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
        return digest.hexdigest()


@dataclass
class DropScan:
    ready: list[DropFile] = field(default_factory=list)
    unfinished: list[str] = field(default_factory=list)  # data files still without their marker
    unknown: list[str] = field(default_factory=list)  # names no stream pattern knows


def scan_drop(folder: Path, patterns: dict[str, str], marker_suffix: str) -> DropScan:
    """The complete files in a drop folder, oldest day first, originals before corrections."""
    scan = DropScan()
    compiled = {stream: re.compile(p) for stream, p in patterns.items()}
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        if path.name.endswith(marker_suffix):
            continue
        for stream, pattern in compiled.items():
            m = pattern.match(path.name)
            if m:
                if not path.with_name(path.name + marker_suffix).exists():
                    scan.unfinished.append(path.name)
                    break
                day = datetime.strptime(m["date"], "%Y%m%d").date()
                scan.ready.append(DropFile(path, stream, day, int(m["correction"] or 0)))
                break
        else:
            scan.unknown.append(path.name)
    scan.ready.sort(key=lambda f: (f.file_date, f.correction, f.stream))
    return scan


@dataclass
class FileVerdict:
    records: int
    trailer: int | None
    problem: str | None = None  # reason code when the file must be quarantined whole
    detail: str = ""


class CsvFileReader:
    """Streams one delivered CSV file in bounded batches; memory does not grow with the file."""

    def __init__(self, file: DropFile, columns: list[str], *, encoding: str, trailer_label: str,
                 batch_rows: int = BATCH_ROWS):
        self.file, self.columns, self.encoding = file, columns, encoding
        self.trailer_label, self.batch_rows = trailer_label, batch_rows
        self.verdict: FileVerdict | None = None
        self.bytes_read = 0

    def batches(self, on_progress: Callable[[int], None] | None = None) -> Iterator[pa.RecordBatch]:
        with self.file.path.open("rb") as raw:
            text = io.TextIOWrapper(raw, encoding=self.encoding, errors="surrogateescape", newline="")
            rows = csv.reader(text)
            try:
                yield from self._read(rows, raw, on_progress)
            except csv.Error as exc:
                self.verdict = FileVerdict(0, None, "malformed_csv", f"{self.file.name} is not readable CSV: {exc}")

    def _read(self, rows, raw, on_progress) -> Iterator[pa.RecordBatch]:
        name = self.file.name
        header = next(rows, None)
        if header != self.columns:
            shown = "(empty file)" if header is None else ",".join(_UNDECODABLE.sub("?", h) for h in header)[:200]
            self.verdict = FileVerdict(0, None, "bad_header",
                                       f"{name} has header {shown!r}, the contract requires {','.join(self.columns)!r}")
            return
        buffer = _BatchBuffer(self.columns)
        records, pending = 0, None
        for row in rows:
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

    def _trailer(self, row: list[str] | None) -> int | None:
        if row and len(row) == 2 and row[0] == self.trailer_label and row[1].isascii() and row[1].isdigit():
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
