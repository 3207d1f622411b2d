"""Raw source records → unified rows, driven by a source's stream spec.

Pure functions: a raw Arrow batch in, a unified Arrow table and a list of
rejects out. Personal numbers are pseudonymized and masked here, the first
step after reading, so nothing downstream ever holds them in clear.
"""

import json
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

import pyarrow as pa

from schemas.arrow import UNIFIED_BATCH_SCHEMAS
from schemas.codes import PERSONAL_APPLICANT_TYPES, PERSONAL_CERT_TYPES
from transforms.identifiers import (
    applicant_type_from_uscc,
    is_id_shaped,
    is_valid_id_card,
    is_valid_uscc,
    normalize_cert,
    normalize_impl_code,
)
from transforms.pii import mask_free_text, mask_id_card, mask_other_cert, mask_person_name, mask_phone, pseudonym
from transforms.values import (
    BadValue,
    clean_text,
    null_if_blank,
    parse_beijing_time,
    parse_int,
    parse_money,
    to_ascii_width,
)

# How a reader that pseudonymizes numbers marks, in the masked form, a number that failed its check.
PSEUDONYMIZED_INVALID = "!"

# Fields without which a record cannot be placed (unified-store.md, Outcomes).
REQUIRED = {"cases": ("case_no", "source_updated_at"), "evaluations": ("eval_no", "case_no", "score")}
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


class _Reject(Exception):
    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason, self.detail = reason, detail


def unify(batch: pa.RecordBatch, ctx: Context, held_elsewhere: dict[str, str] | None = None,
          ) -> tuple[pa.Table, list[RecordReject]]:
    """`held_elsewhere`: case_no → the other source system already holding it (a collision)."""
    held_elsewhere = held_elsewhere or {}
    columns = batch.to_pydict()
    build = _case if ctx.stream == "cases" else _evaluation
    out: dict[str, list] = {name: [] for name in UNIFIED_BATCH_SCHEMAS[ctx.stream].names}
    rejects: list[RecordReject] = []
    source_columns = [c for c in columns if not c.startswith("_")]
    defects = columns.get("_defect") or [None] * batch.num_rows
    # A replayed record brings the delivery order it had when it first arrived.
    orders = columns.get("_delivery_order") or [None] * batch.num_rows
    for i, record_no in enumerate(columns["_record_no"]):
        where = f"{ctx.location} record {record_no}"
        if defects[i]:
            rejects.append(_defect_reject(ctx, where, defects[i], columns["_raw"][i], record_no))
            continue
        order = orders[i] or (f"{ctx.delivery_prefix}.{record_no:09d}" if ctx.delivery_prefix else "0")
        raw = {c: columns[c][i] for c in source_columns}
        key = clean_text(raw.get(ctx.fields[KEY_FIELD[ctx.stream]]))
        try:
            row = build(raw, ctx)
            for name in REQUIRED[ctx.stream]:
                if row[name] is None:
                    raise _Reject("missing_field", f"{ctx.fields[name]} ({name}) is empty")
            if ctx.stream == "cases" and row["case_no"] in held_elsewhere:
                raise _Reject("case_no_collision",
                              f"办件编号 {row['case_no']} is already held by source {held_elsewhere[row['case_no']]}")
        except _Reject as r:
            payload = json.dumps({"record": raw, "delivery_order": order}, ensure_ascii=False)
            rejects.append(RecordReject(where, key, r.reason, f"{ctx.source} {where} ({key or 'no key'}): {r.detail}",
                                        payload, record_no))
            continue
        row["delivery_order"] = order
        for name, values in out.items():
            values.append(row[name])
    return pa.table(out, schema=UNIFIED_BATCH_SCHEMAS[ctx.stream]), rejects


def _defect_reject(ctx: Context, where: str, defect: str, raw: str, record_no: int) -> RecordReject:
    # Built for the one defect at hand: the raw of a not_an_object may be a number, which has no length.
    detail = {
        "wrong_field_count": lambda: f"has {len(json.loads(raw))} fields where the header has {ctx.width}",
        "undecodable": lambda: f"holds bytes that are not valid {ctx.encoding}; quarantined rather than garbled",
        "not_an_object": lambda: "is not a JSON object",
        "not_a_list": lambda: "is a page whose list of records is not a JSON list",
    }[defect]()
    return RecordReject(where, None, defect, f"{ctx.source} {where}: {detail}",
                        json.dumps({"fields": json.loads(raw)}, ensure_ascii=True), record_no)


def _get(raw: dict, ctx: Context, name: str) -> str | None:
    column = ctx.fields.get(name)
    return None if column is None else null_if_blank(raw.get(column))


def _code(raw: dict, ctx: Context, name: str, required: bool = True):
    """The unified value of a coded field; an unknown code quarantines the record unless not `required`."""
    value = _get(raw, ctx, name)
    if value is None:
        return None
    table = ctx.codes[name]
    if value not in table:
        if not required:
            return None
        raise _Reject("unknown_code", f"{ctx.fields[name]} ({name}) value {value!r} is not in the {ctx.source} code map")
    return table[value]


def _time(raw: dict, ctx: Context, name: str):
    try:
        return parse_beijing_time(raw.get(ctx.fields[name]) if name in ctx.fields else None, ctx.time_formats)
    except BadValue as e:
        raise _Reject(e.reason, f"{ctx.fields[name]} ({name}) {e}") from None


def _number(raw: dict, ctx: Context, name: str, parse, *args):
    if name not in ctx.fields:
        return None
    try:
        return parse(raw.get(ctx.fields[name]), *args)
    except BadValue as e:
        raise _Reject(e.reason, f"{ctx.fields[name]} ({name}) {e}") from None


def _case(raw: dict, ctx: Context) -> dict:
    applicant = _applicant(raw, ctx)
    impl = _get(raw, ctx, "impl_code")
    item = clean_text(raw.get(ctx.fields.get("item_name")))
    if item and ctx.options.get("item_name_ascii"):
        item = to_ascii_width(item)
    region = _get(raw, ctx, "region_code")
    return {
        "case_no": _get(raw, ctx, "case_no"),
        "source_system": ctx.source,
        "source_record_id": _get(raw, ctx, "source_record_id"),
        "source_version": _number(raw, ctx, "source_version", parse_int) or 1,
        "impl_code": normalize_impl_code(impl) if impl else None,
        "item_name": item,
        "case_type": _code(raw, ctx, "case_type"),
        **applicant,
        "channel": _code(raw, ctx, "channel"),
        "apply_time": _time(raw, ctx, "apply_time"),
        "accept_time": _time(raw, ctx, "accept_time"),
        "finish_time": _time(raw, ctx, "finish_time"),
        "promise_days": _promise_days(raw, ctx),
        "status": _code(raw, ctx, "status"),
        "accept_org_code": _get(raw, ctx, "accept_org_code"),
        # A 12-digit division code (340603000000) names the same county as its first 6 digits.
        "region_code": region[:6] if region else None,
        "fee_yuan": _fee(raw, ctx),
        "bundle_id": _get(raw, ctx, "bundle_id"),
        "deleted": bool(_code(raw, ctx, "deleted")),
        "source_updated_at": _time(raw, ctx, "source_updated_at"),
    }


def _promise_days(raw: dict, ctx: Context) -> int | None:
    """承诺时限 in working days: n 自然日 → (5n + 6) div 7, h 小时 → (h + 7) div 8."""
    n = _number(raw, ctx, "promise_days", parse_int)
    unit = _code(raw, ctx, "promise_unit") if n is not None else None
    if unit == "natural_days":
        return (5 * n + 6) // 7
    if unit == "hours":
        return (n + 7) // 8
    return n


def _fee(raw: dict, ctx: Context):
    fee = _number(raw, ctx, "fee_yuan", parse_money, ctx.options.get("fee_empty"))
    if fee is not None and ctx.options.get("fee_unit") == "fen":
        fee = parse_money(str(fee / 100), None)  # fen ÷ 100 is exact; parse_money rounds half-up to 2 places
    return fee


def _applicant(raw: dict, ctx: Context) -> dict:
    applicant_type = _code(raw, ctx, "applicant_type")
    number = _get(raw, ctx, "applicant_cert")
    column = ctx.fields.get("applicant_cert")
    if ctx.options.get("cert_type") == "infer":
        identity = _inferred_identity(number, applicant_type == "uscc", ctx.pii_key, ctx.today) if number else None
    elif ctx.options.get("cert_type") == "pseudonymized":
        identity = _pseudonymized_identity(number, _get(raw, ctx, "applicant_cert_masked"),
                                           _code(raw, ctx, "applicant_cert_type", required=False))
    else:
        declared = _code(raw, ctx, "applicant_cert_type", required=False)
        if declared is None and "applicant_cert_type" in ctx.fields and number:
            # A certificate type the map does not know is kept as "other", not quarantined (a DQ finding).
            declared = "999" if applicant_type in PERSONAL_APPLICANT_TYPES else "099"
        identity = _declared_identity(number, declared, ctx.pii_key, ctx.today) if number else None
    if isinstance(identity, _Reject):
        raise _Reject(identity.reason, f"{column} {identity.detail}")
    if identity is None:
        if applicant_type == "uscc" and ctx.options.get("cert_type") == "infer":
            raise _Reject("invalid_uscc", f"{column} of a unit is empty")
        identity = (None, None, None, None)
    uscc_type, cert_type, key, masked = identity
    if applicant_type == "uscc":
        # Where a source only says "unit", the USCC decides; without one it is 其他组织.
        applicant_type = uscc_type or 6
    name = clean_text(raw.get(ctx.fields.get("applicant_name")))
    personal = applicant_type in PERSONAL_APPLICANT_TYPES
    return {
        "applicant_type": applicant_type,
        "applicant_cert_type": cert_type,
        "applicant_key": key,
        "applicant_cert_masked": masked,
        "applicant_name_masked": mask_person_name(name) if (name and personal) else name,
        "contact_phone_masked": mask_phone(_get(raw, ctx, "contact_phone")),
    }


def _pseudonymized_identity(key: str | None, masked: str | None, cert_type: str | None):
    """A source whose reader pseudonymized the number (police): it checked the number and says so in `masked`."""
    if not key:
        return None
    if masked and masked.startswith(PSEUDONYMIZED_INVALID):
        reason = masked.removeprefix(PSEUDONYMIZED_INVALID)
        return _Reject(reason, f"fails the {'统一社会信用代码' if reason == 'invalid_uscc' else '居民身份证'} check "
                               "(checked before pseudonymization)")
    uscc_type = applicant_type_from_uscc(masked) if cert_type == "001" and masked else None
    return uscc_type, cert_type or "999", key, masked


def declared_identity(raw_number: str, cert_type: str, pii_key: bytes, today: date):
    """(applicant type a USCC decides, cert type, key, masked number) or a rejection, for a declared type."""
    return _declared_identity(raw_number, cert_type, pii_key, today)


@lru_cache(maxsize=1 << 17)
def _declared_identity(raw_number: str, cert_type: str, pii_key: bytes, today: date):
    """Like _inferred_identity, for a source that sends the certificate type."""
    if cert_type == "111":
        number = normalize_cert(raw_number)
        if not is_valid_id_card(number, today):
            return _Reject("invalid_id_card", f"{mask_id_card(number) if is_id_shaped(number) else mask_other_cert(number)} "
                                              "fails the 居民身份证 check")
        return None, "111", pseudonym(pii_key, number), mask_id_card(number)
    number = normalize_cert(raw_number, upgrade_15=False)
    if cert_type == "001":
        if not is_valid_uscc(number):
            return _Reject("invalid_uscc", f"{mask_other_cert(number)} fails the 统一社会信用代码 check")
        return applicant_type_from_uscc(number), "001", pseudonym(pii_key, number), number
    if cert_type in PERSONAL_CERT_TYPES:
        return None, cert_type, pseudonym(pii_key, number), mask_other_cert(number)
    return None, cert_type, pseudonym(pii_key, number), number  # an organisation's certificate stays in clear


@lru_cache(maxsize=1 << 17)  # applicants recur across a drop; validation and HMAC need doing once each
def _inferred_identity(raw_number: str, unit: bool, pii_key: bytes, today: date):
    """(applicant type decided by a USCC, cert type, key, masked number), or a _Reject.

    人社 sends no certificate type; the contract infers it from the applicant
    type. A unit's number is never upgraded from 15 digits: that upgrade is
    for ID numbers only.
    """
    number = normalize_cert(raw_number, upgrade_15=not unit)
    if unit:
        if not is_valid_uscc(number):
            return _Reject("invalid_uscc", f"{mask_other_cert(number)} of a unit fails the 统一社会信用代码 check")
        return applicant_type_from_uscc(number), "001", pseudonym(pii_key, number), number
    if is_id_shaped(number):
        if not is_valid_id_card(number, today):
            return _Reject("invalid_id_card", f"{mask_id_card(number)} fails the 居民身份证 check")
        return None, "111", pseudonym(pii_key, number), mask_id_card(number)
    return None, "999", pseudonym(pii_key, number), mask_other_cert(number)


def _evaluation(raw: dict, ctx: Context) -> dict:
    channel = _code(raw, ctx, "channel")
    # A source may spell "system default evaluation" as a channel code (tax pf 7): that is is_default, not a channel.
    is_default = bool(_code(raw, ctx, "is_default")) or channel == "default"
    comment = clean_text(raw.get(ctx.fields.get("comment")))
    evaluator = _get(raw, ctx, "evaluator_cert")
    return {
        "source_system": ctx.source,
        "eval_no": _get(raw, ctx, "eval_no"),
        "case_no": _get(raw, ctx, "case_no"),
        "source_version": _number(raw, ctx, "source_version", parse_int) or 1,
        "assess_number": _number(raw, ctx, "assess_number", parse_int) or 1,
        "score": _code(raw, ctx, "score"),
        "score_raw": raw.get(ctx.fields["score"]),
        "channel": None if is_default else channel,
        "is_default": is_default,
        "option_codes": _get(raw, ctx, "option_codes"),
        "comment": mask_free_text(comment) if comment else None,
        "evaluator_key": _evaluator_key(evaluator, ctx) if evaluator else None,
        "assess_time": _time(raw, ctx, "assess_time"),
        "deleted": bool(_code(raw, ctx, "deleted")),
        "source_updated_at": _time(raw, ctx, "source_updated_at"),
    }


def _evaluator_key(raw_number: str, ctx: Context) -> str | None:
    """The evaluator's pseudonym; a number that is neither a valid ID nor a USCC gets none (a DQ finding)."""
    if ctx.options.get("evaluator_pseudonymized"):
        return raw_number  # pseudonymized by the extractor before anything was written
    number = normalize_cert(raw_number)
    if is_valid_id_card(number, ctx.today) or is_valid_uscc(normalize_cert(raw_number, upgrade_15=False)):
        return pseudonym(ctx.pii_key, number if is_id_shaped(number) else normalize_cert(raw_number, upgrade_15=False))
    return None
