"""Source specs: the declarative files in sources/, validated into typed models."""

import tomllib
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

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


class CsvSpec(_Strict):
    encoding: str
    marker_suffix: str
    trailer_label: str
    archive_folder: str


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


class SpecError(ValueError):
    pass


def load_spec(name: str) -> SourceSpec:
    path = SOURCES_DIR / f"{name}.toml"
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in SOURCES_DIR.glob("*.toml")))
        raise SpecError(f"unknown source {name!r}: there is no {path.name} in sources/ (known sources: {known})")
    try:
        return SourceSpec.model_validate(tomllib.loads(path.read_text(encoding="utf-8")))
    except (tomllib.TOMLDecodeError, ValidationError) as exc:
        raise SpecError(f"source spec sources/{path.name} is invalid: {exc}") from exc


def load_specs() -> dict[str, SourceSpec]:
    return {p.stem: load_spec(p.stem) for p in sorted(SOURCES_DIR.glob("*.toml"))}
