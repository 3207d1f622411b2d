"""What a transform of raw records gives and takes: its context, its result, a quarantined record."""

from dataclasses import dataclass
from datetime import date
from typing import NamedTuple

import pyarrow as pa

# Fields without which a record cannot be placed (unified-store.md, Outcomes), and those the store keeps
# NOT NULL without a default: a case's status, an evaluation's update time.
REQUIRED = {"cases": ("case_no", "source_updated_at", "status"),
            "evaluations": ("eval_no", "case_no", "score", "source_updated_at")}
KEY_FIELD = {"cases": "case_no", "evaluations": "eval_no"}


@dataclass(frozen=True)
class Context:
    """What a transform needs besides the records: no I/O, no environment."""

    source: str
    stream: str
    fields: dict[str, str]  # unified field → source column
    codes: dict[str, dict]  # unified field → source code → unified value
    options: dict
    time_formats: list[str]
    pii_key: bytes
    location: str  # file or batch name, for messages
    delivery_prefix: str | None  # precedence component before the record number; None: the source has none
    today: date
    width: int = 0  # fields a well-formed record has
    encoding: str = "GB18030"


@dataclass
class RecordReject:
    location: str
    record_key: str | None
    reason: str
    detail: str
    # JSON {"record": raw fields, "delivery_order": …} (a defect: {"fields": [...]}), encrypted before it is
    # stored; the delivery order lets a replay give the record the precedence it had on arrival.
    raw: str
    record_no: int = 0


class Unified(NamedTuple):
    rows: pa.Table
    rejects: list[RecordReject]
    # (finding reason, unified column) → loaded records with that finding; every check the stream's
    # fields allow is present, with 0 when it found nothing.
    findings: dict[tuple[str, str], int]
