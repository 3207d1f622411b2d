"""Source specs: the declarative files in sources/, validated into typed models."""

import codecs
import os
import re
import tomllib
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from extractors.limits import MAX_BATCH_BYTES, MAX_RECORD_BYTES, MAX_TEXT_BYTES

from transforms.values import BEIJING

SOURCES_DIR = Path(__file__).resolve().parent.parent / "sources"

# A code map entry: the unified value, or "uscc" where the applicant's USCC decides the type.
CodeValue = int | str | bool


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


TimeFormat = Literal["datetime_seconds", "slash_minutes", "date_only", "iso_offset", "epoch_ms"]


class StreamSpec(_Strict):
    file_pattern: str | None = None
    columns: list[str] = []
    fields: dict[str, str]
    options: dict[str, Any] = {}
    codes: dict[str, dict[str, CodeValue]] = {}
    # Extractor settings of this stream (endpoint, table, id column…), passed to the extractor as they are.
    extract: dict[str, Any] = {}


def _plain_name(value: str) -> str:
    """A sub-folder of the delivery folder: one plain name, so that archiving stays inside it."""
    if not value or value in (".", "..") or "/" in value or "\\" in value or "\0" in value:
        raise ValueError(f"{value!r} must be the name of a sub-folder of the delivery folder (no / or ..)")
    return value


class CsvSpec(_Strict):
    encoding: str
    marker_suffix: str = Field(min_length=1)
    trailer_label: str
    archive_folder: str
    # Bytes one record may take (its line, or its lines when a quoted field holds line breaks); a longer one
    # quarantines the file whole (record_too_large) and is never held in memory.
    max_record_bytes: int = Field(MAX_RECORD_BYTES, ge=1024)

    @field_validator("encoding")
    @classmethod
    def _ascii_compatible(cls, value: str) -> str:
        """The reader splits lines on the bytes of CR and LF: the encoding must write ASCII as ASCII."""
        try:
            codecs.lookup(value)
            same = '\r\n,"'.encode(value) == b'\r\n,"' and b"\n".decode(value) == "\n"
        except (LookupError, UnicodeError):
            same = False
        if not same:
            raise ValueError(f"{value!r} is not an encoding that writes ASCII as ASCII (e.g. gb18030, utf-8)")
        return value

    @field_validator("archive_folder")
    @classmethod
    def _archive(cls, value: str) -> str:
        return _plain_name(value)


class XmlBatchExtract(_Strict):
    """The `extract` settings of an XML outbox (kind xml_batches)."""

    archive_folder: str = "archive"
    # A batch file larger than this is quarantined whole (too_large) from its size alone, never read.
    max_batch_bytes: int = Field(MAX_BATCH_BYTES, ge=1024)
    # The longest text node, attribute value, comment or CDATA section a batch may hold; a longer one
    # quarantines the batch whole (too_large) before the parser has taken it in.
    max_text_bytes: int = Field(MAX_TEXT_BYTES, ge=1024)

    @field_validator("archive_folder")
    @classmethod
    def _archive(cls, value: str) -> str:
        return _plain_name(value)


class ErrorLimit(_Strict):
    """Like DataX's errorLimit: a run quarantining more records than this fails and loads nothing."""

    records: int | None = None
    percent: float | None = None


class SourceSpec(_Strict):
    name: str
    title: str
    kind: Literal["csv_drop", "http_api", "sql", "xml_batches"]
    conn_id: str
    default_folder: str | None = None
    schedule: str
    start_date: date
    # Windowed sources: where the first run's window starts (their history), before any watermark.
    history_start: date | None = None
    tags: list[str] = []
    time_formats: list[TimeFormat]
    error_limit: ErrorLimit = ErrorLimit(percent=5.0)
    csv: CsvSpec | None = None
    # Extractor settings shared by the streams (auth, paging, envelope, lag…).
    extract: dict[str, Any] = {}
    streams: dict[Literal["cases", "evaluations"], StreamSpec]

    @model_validator(mode="after")
    def _file_settings(self) -> "SourceSpec":
        if self.kind == "xml_batches":
            self.batch_extract()
        if self.kind == "csv_drop":
            if self.csv is None:
                raise ValueError("a csv_drop source needs a [csv] table")
            for stream, spec in self.streams.items():
                _file_pattern(stream, spec.file_pattern)
        return self

    def batch_extract(self) -> XmlBatchExtract:
        """The validated `extract` settings of an xml_batches source."""
        return XmlBatchExtract.model_validate(self.extract)


def _file_pattern(stream: str, pattern: str | None) -> None:
    """A stream's file name pattern must compile and capture the file's `date` (yyyyMMdd)."""
    try:
        compiled = re.compile(pattern or "", re.ASCII)
    except re.error as exc:
        raise ValueError(f"streams.{stream}.file_pattern is not a regular expression: {exc}") from None
    if "date" not in compiled.groupindex:
        raise ValueError(f"streams.{stream}.file_pattern must capture the file's date as (?P<date>[0-9]{{8}})")


class SpecError(ValueError):
    pass


class OutsideHistory(ValueError):
    """A run's window ends before the source's history starts: there is nothing it may load."""


def load_spec(name: str) -> SourceSpec:
    """The spec in sources/<name>.toml, with the deployment's history start applied (see with_history_start)."""
    path = SOURCES_DIR / f"{name}.toml"
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in SOURCES_DIR.glob("*.toml")))
        raise SpecError(f"unknown source {name!r}: there is no {path.name} in sources/ (known sources: {known})")
    try:
        spec = SourceSpec.model_validate(tomllib.loads(path.read_text(encoding="utf-8")))
    except (tomllib.TOMLDecodeError, ValidationError) as exc:
        raise SpecError(f"source spec sources/{path.name} is invalid: {exc}") from exc
    return with_history_start(spec)


def history_variable(name: str) -> str:
    return f"SILOBRIDGE_HISTORY_START_{name.upper()}"


def with_history_start(spec: SourceSpec) -> SourceSpec:
    """The spec with SILOBRIDGE_HISTORY_START_<NAME> (a date), when set, as where its history starts.

    A deployment chooses from when it wants a source's history: the first window
    of an API source starts there, and no run may end before it (check_window).
    """
    variable = history_variable(spec.name)
    value = os.environ.get(variable)
    if not value:
        return spec
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise SpecError(f"{variable}={value!r} is not a date like 2024-01-01: set it to the first day of "
                        f"{spec.name}'s history, or unset it to use sources/{spec.name}.toml") from None
    return spec.model_copy(update={"start_date": day, "history_start": day})


def history_start(spec: SourceSpec) -> date:
    """The first day (Beijing) of the source's history: `history_start`, else `start_date`."""
    return spec.history_start or spec.start_date


def check_window(spec: SourceSpec, window: tuple[datetime, datetime] | None) -> None:
    """Refuse a run whose window ends before the source's history starts: it would load nothing and say so."""
    if window is None:
        return
    first_day = history_start(spec)
    if window[1] > datetime.combine(first_day, time(), BEIJING):
        return
    variable = history_variable(spec.name)
    origin = f"{variable}={os.environ[variable]}" if os.environ.get(variable) else f"sources/{spec.name}.toml"
    start, end = (moment.astimezone(BEIJING) for moment in window)
    raise OutsideHistory(
        f"{spec.name}: the run's window [{start:%Y-%m-%d %H:%M}, {end:%Y-%m-%d %H:%M}) Beijing time ends before "
        f"the source's history starts on {first_day} ({origin}); nothing was loaded. To load that span, set "
        f"{variable} to its first day (under Airflow: in every process's environment, or as the variable "
        f"{variable.lower()}) and run it again."
    )


def load_specs() -> dict[str, SourceSpec]:
    return {p.stem: load_spec(p.stem) for p in sorted(SOURCES_DIR.glob("*.toml"))}
