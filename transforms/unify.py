"""Raw source records → unified rows, driven by a source's stream spec.

Pure functions: a raw Arrow batch in; the unified rows, the rejects and the
counts of data-quality findings (schemas.findings) out. Personal numbers are
pseudonymized and masked here, the first step after reading, so nothing
downstream ever holds them in clear. Every reject detail shows a raw value
only through `describe_value` (a short code quoted, anything else by its
shape) or a contract mask.
"""

import json
import re
from collections import Counter
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import NamedTuple

import pyarrow as pa

from schemas.arrow import UNIFIED_BATCH_SCHEMAS
from schemas.codes import PERSONAL_APPLICANT_TYPES, PERSONAL_CERT_TYPES
from schemas.findings import FINDINGS
from transforms.records import KEY_FIELD, REQUIRED, Context, RecordReject, Unified
from transforms.identifiers import (
    USCC_ALPHABET,
    applicant_type_from_uscc,
    is_id_shaped,
    is_valid_id_card,
    is_valid_uscc,
    normalize_cert,
    normalize_impl_code,
)
from transforms.pii import (
    describe_value,
    is_phone_number,
    mask_free_text,
    mask_id_card,
    mask_other_cert,
    mask_person_name,
    mask_phone,
    pseudonym,
    value_shape,
)
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
# ... and, in front of a key, a number that is neither a valid 居民身份证 nor a valid USCC (see reader_key).
NOT_ID_OR_USCC = "?"
_PSEUDONYM = re.compile(r"[0-9a-f]{64}")

_ORGANISATION_CERT_TYPES = frozenset({"001", "099"})
# PostgreSQL refuses U+0000 in text; a lone surrogate (an undecodable byte kept escaped) is no text at all.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class _Reject(Exception):
    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason, self.detail = reason, detail


def unify(batch: pa.RecordBatch, ctx: Context, held_elsewhere: dict[str, str] | None = None) -> Unified:
    """`held_elsewhere`: case_no → the other source system already holding it (a collision)."""
    held_elsewhere = held_elsewhere or {}
    columns = batch.to_pydict()
    build = _case if ctx.stream == "cases" else _evaluation
    out: dict[str, list] = {name: [] for name in UNIFIED_BATCH_SCHEMAS[ctx.stream].names}
    rejects: list[RecordReject] = []
    findings = Counter({(reason, FINDINGS[reason].column): 0 for reason in _checks(ctx)})
    source_columns = [c for c in columns if not c.startswith("_")]
    keys = columns.get(ctx.fields[KEY_FIELD[ctx.stream]]) or [None] * batch.num_rows
    defects = columns.get("_defect") or [None] * batch.num_rows
    # A replayed record brings the delivery order it had when it first arrived.
    orders = columns.get("_delivery_order") or [None] * batch.num_rows
    for i, record_no in enumerate(columns["_record_no"]):
        where = f"{ctx.location} record {record_no}"
        key = _readable_key(keys[i])
        if defects[i]:
            rejects.append(_defect_reject(ctx, where, defects[i], columns["_raw"][i], record_no, key))
            continue
        order = orders[i] or (f"{ctx.delivery_prefix}.{record_no:09d}" if ctx.delivery_prefix else "0")
        raw = {c: columns[c][i] for c in source_columns}
        found: list[str] = []
        try:
            _check_storable(raw, ctx)
            row = build(raw, ctx, found)
            for name in REQUIRED[ctx.stream]:
                if row[name] is None:
                    raise _Reject("missing_field", f"{ctx.fields.get(name, 'no field')} ({name}) is empty")
            if ctx.stream == "cases" and row["case_no"] in held_elsewhere:
                raise _Reject("case_no_collision",
                              f"办件编号 {row['case_no']} is already held by source {held_elsewhere[row['case_no']]}")
        except _Reject as r:
            payload = json.dumps({"record": raw, "delivery_order": order}, ensure_ascii=False)
            rejects.append(RecordReject(where, key, r.reason, f"{ctx.source} {where} ({key or 'no key'}): {r.detail}",
                                        payload, record_no))
            continue
        findings.update((reason, FINDINGS[reason].column) for reason in found)
        row["delivery_order"] = order
        for name, values in out.items():
            values.append(row[name])
    return Unified(pa.table(out, schema=UNIFIED_BATCH_SCHEMAS[ctx.stream]), rejects, dict(findings))


def _checks(ctx: Context) -> list[str]:
    """The findings the stream's fields allow (schemas.findings)."""
    if ctx.stream == "evaluations":
        return ["invalid_evaluator_cert"] if "evaluator_cert" in ctx.fields else []
    checks = ["invalid_phone"] if "contact_phone" in ctx.fields else []
    if "applicant_cert" in ctx.fields and ctx.options.get("cert_type") != "infer":
        checks.append("unknown_cert_type")
    return checks


def _readable_key(value: str | None) -> str | None:
    """The record's key as etl_reject can keep it; None when it is empty or not storable text."""
    key = clean_text(value)
    return None if key is None or _UNSTORABLE.search(key) else key


def _check_storable(raw: dict, ctx: Context) -> None:
    """Text the store cannot keep quarantines the record on every backend alike (SQLite would keep it)."""
    for name, column in ctx.fields.items():
        value = raw.get(column)
        if isinstance(value, str) and _UNSTORABLE.search(value):
            raise _Reject("nul_character", f"{column} ({name}) holds a NUL character (U+0000) or other text "
                                           "the store cannot keep")


def _defect_reject(ctx: Context, where: str, defect: str, raw: str | None, record_no: int,
                   key: str | None) -> RecordReject:
    """A record the extractor could not read into fields; its key is kept when its own field read cleanly."""
    fields = json.loads(raw) if raw else None
    if defect == "wrong_field_count" and isinstance(fields, list):
        detail = f"has {len(fields)} fields where the header has {ctx.width}"
    elif defect == "undecodable":
        detail = f"holds bytes that are not valid {ctx.encoding}; quarantined rather than garbled"
    elif defect == "not_an_object":
        detail = "is not a JSON object"
    elif defect == "not_a_list":
        detail = "is a page whose list of records is not a JSON list"
    else:
        detail = f"could not be read into fields ({describe_value(defect)})"
    return RecordReject(where, key, defect, f"{ctx.source} {where} ({key or 'no key'}): {detail}",
                        json.dumps({"fields": fields}, ensure_ascii=True), record_no)


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
        raise _Reject("unknown_code", f"{ctx.fields[name]} ({name}): {describe_value(value)}, "
                                      f"not in the {ctx.source} code map")
    return table[value]


def _time(raw: dict, ctx: Context, name: str):
    return _number(raw, ctx, name, parse_beijing_time, ctx.time_formats)


def _number(raw: dict, ctx: Context, name: str, parse, *args):
    if name not in ctx.fields:
        return None
    try:
        return parse(raw.get(ctx.fields[name]), *args)
    except BadValue as e:
        raise _Reject(e.reason, f"{ctx.fields[name]} ({name}): {e}") from None


def _case(raw: dict, ctx: Context, found: list[str]) -> dict:
    applicant = _applicant(raw, ctx, found)
    impl = _get(raw, ctx, "impl_code")
    item = clean_text(raw.get(ctx.fields.get("item_name")))
    if item and ctx.options.get("item_name_ascii"):
        item = to_ascii_width(item)
    region = _get(raw, ctx, "region_code")
    version = _number(raw, ctx, "source_version", parse_int)
    return {
        "case_no": _get(raw, ctx, "case_no"),
        "source_system": ctx.source,
        "source_record_id": _get(raw, ctx, "source_record_id"),
        "source_version": 1 if version is None else version,
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
        "fee_yuan": _number(raw, ctx, "fee_yuan", parse_money, ctx.options.get("fee_empty"),
                            ctx.options.get("fee_unit", "yuan")),
        "bundle_id": _get(raw, ctx, "bundle_id"),
        "deleted": bool(_code(raw, ctx, "deleted")),
        "source_updated_at": _time(raw, ctx, "source_updated_at"),
    }


def _promise_days(raw: dict, ctx: Context) -> int | None:
    """承诺时限 in working days: n 自然日 → (5n + 6) div 7, h 小时 → (h + 7) div 8. A negative time limit is
    no time limit at all: quarantined (out_of_range) like one beyond the store's integer range."""
    n = _number(raw, ctx, "promise_days", parse_int, 0)
    unit = _code(raw, ctx, "promise_unit") if n is not None else None
    if unit == "natural_days":
        return (5 * n + 6) // 7
    if unit == "hours":
        return (n + 7) // 8
    return n


def _applicant(raw: dict, ctx: Context, found: list[str]) -> dict:
    applicant_type = _code(raw, ctx, "applicant_type")
    number = _get(raw, ctx, "applicant_cert")
    column = ctx.fields.get("applicant_cert")
    mode = ctx.options.get("cert_type")
    if mode == "infer":
        identity = _inferred_identity(number, applicant_type == "uscc", ctx.pii_key, ctx.today) if number else None
    else:
        cert_type = _code(raw, ctx, "applicant_cert_type", required=False)
        if cert_type is None and number:
            # A type the map does not know is "other", not a quarantine (unified-store.md, cert_type).
            cert_type = "999" if applicant_type is None or applicant_type in PERSONAL_APPLICANT_TYPES else "099"
            found.append("unknown_cert_type")
        if mode == "pseudonymized":
            identity = _pseudonymized_identity(number, _get(raw, ctx, "applicant_cert_masked"), cert_type)
        else:
            identity = _declared_identity(number, cert_type, ctx.pii_key, ctx.today) if number else None
    if isinstance(identity, _Reject):
        raise _Reject(identity.reason, f"{column} {identity.detail}")
    if identity is None:
        if applicant_type == "uscc" and mode == "infer":
            raise _Reject("invalid_uscc", f"{column} of a unit is empty")
        identity = (None, None, None, None)
    uscc_type, cert_type, key, masked = identity
    if applicant_type == "uscc":
        # Where a source only says "unit", the USCC decides; without one it is 其他组织.
        applicant_type = uscc_type or 6
    name = clean_text(raw.get(ctx.fields.get("applicant_name")))
    phone = _get(raw, ctx, "contact_phone")
    if phone and not is_phone_number(phone):
        found.append("invalid_phone")
    return {
        "applicant_type": applicant_type,
        "applicant_cert_type": cert_type,
        "applicant_key": key,
        "applicant_cert_masked": masked,
        "applicant_name_masked": mask_person_name(name) if (name and _personal_name(applicant_type, uscc_type,
                                                                                      cert_type)) else name,
        "contact_phone_masked": mask_phone(phone),
    }


def _personal_name(applicant_type, uscc_type: int | None, cert_type: str | None) -> bool:
    """Whether the applicant's name is a person's, to be masked.

    A 个体工商户 (a 92… USCC) is a person whatever applicant type the source sent with it; an applicant
    of unknown type is one unless an organisation's certificate says otherwise.
    """
    if uscc_type == 7:
        return True
    if applicant_type is None:
        return cert_type not in _ORGANISATION_CERT_TYPES
    return applicant_type in PERSONAL_APPLICANT_TYPES


def _pseudonymized_identity(key: str | None, masked: str | None, cert_type: str | None):
    """A source whose reader pseudonymized the number (police): it checked the number and says so in `masked`.

    An unknown certificate type has been masked as a person's number by the reader (it cannot see the
    applicant type): an organisation's number of unknown type stays masked rather than in clear.
    """
    if not key:
        return None
    if masked and masked.startswith(PSEUDONYMIZED_INVALID):
        reason = masked.removeprefix(PSEUDONYMIZED_INVALID)
        if reason in _CHECK_NAMES:
            return _Reject(reason, f"fails the {_CHECK_NAMES[reason]} check (checked before pseudonymization)")
    elif _PSEUDONYM.fullmatch(key := key.removeprefix(NOT_ID_OR_USCC)):
        return applicant_type_from_uscc(masked) if cert_type == "001" and masked else None, cert_type, key, masked
    return _Reject("not_pseudonymized", "does not hold what the reader puts in place of a number; "
                                        "nothing of it is stored")


_CHECK_NAMES = {"invalid_id_card": "居民身份证", "invalid_uscc": "统一社会信用代码"}


def declared_identity(raw_number: str, cert_type: str, pii_key: bytes, today: date):
    """(applicant type a USCC decides, cert type, key, masked number) or a rejection, for a declared type."""
    return _declared_identity(raw_number, cert_type, pii_key, today)


@lru_cache(maxsize=1 << 17)
def _declared_identity(raw_number: str, cert_type: str, pii_key: bytes, today: date):
    """Like _inferred_identity, for a source that sends the certificate type."""
    if cert_type == "111":
        number = normalize_cert(raw_number)
        if not is_valid_id_card(number, today):
            return _Reject("invalid_id_card", f"{_shown_cert(number)} fails the 居民身份证 check")
        return None, "111", pseudonym(pii_key, number), mask_id_card(number)
    number = normalize_cert(raw_number, upgrade_15=False)
    if cert_type == "001":
        if not is_valid_uscc(number):
            return _Reject("invalid_uscc", f"{_shown_cert(number)} fails the 统一社会信用代码 check")
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
            return _Reject("invalid_uscc", f"{_shown_cert(number)} of a unit fails the 统一社会信用代码 check")
        return applicant_type_from_uscc(number), "001", pseudonym(pii_key, number), number
    if is_id_shaped(number):
        if not is_valid_id_card(number, today):
            return _Reject("invalid_id_card", f"{mask_id_card(number)} fails the 居民身份证 check")
        return None, "111", pseudonym(pii_key, number), mask_id_card(number)
    return None, "999", pseudonym(pii_key, number), mask_other_cert(number)


def _shown_cert(number: str) -> str:
    """A number that failed its check, as a message may show it: with the contract's mask when it has an
    ID number's or a USCC's shape, else by its shape alone (a name typed into the field stays hidden)."""
    if is_id_shaped(number):
        return mask_id_card(number)
    if len(number) == 18 and all(c in USCC_ALPHABET for c in number):
        return mask_other_cert(number)
    return value_shape(number)


def _evaluation(raw: dict, ctx: Context, found: list[str]) -> dict:
    channel = _code(raw, ctx, "channel")
    # A source may spell "system default evaluation" as a channel code (tax pf 7): that is is_default, not a channel.
    is_default = bool(_code(raw, ctx, "is_default")) or channel == "default"
    comment = clean_text(raw.get(ctx.fields.get("comment")))
    evaluator = _get(raw, ctx, "evaluator_cert")
    version = _number(raw, ctx, "source_version", parse_int)
    assess_number = _number(raw, ctx, "assess_number", parse_int, 1)  # 评价次数 counts from 1
    return {
        "source_system": ctx.source,
        "eval_no": _get(raw, ctx, "eval_no"),
        "case_no": _get(raw, ctx, "case_no"),
        "source_version": 1 if version is None else version,
        "assess_number": 1 if assess_number is None else assess_number,
        "score": _code(raw, ctx, "score"),
        "score_raw": raw.get(ctx.fields["score"]),
        "channel": None if is_default else channel,
        "is_default": is_default,
        "option_codes": _get(raw, ctx, "option_codes"),
        "comment": mask_free_text(comment) if comment else None,
        "evaluator_key": _evaluator_key(evaluator, ctx, found) if evaluator else None,
        "assess_time": _time(raw, ctx, "assess_time"),
        "deleted": bool(_code(raw, ctx, "deleted")),
        "source_updated_at": _time(raw, ctx, "source_updated_at"),
    }


def _evaluator_key(raw_number: str, ctx: Context, found: list[str]) -> str | None:
    """The evaluator's pseudonym; a number that is neither a valid ID nor a USCC gets none (a finding)."""
    if ctx.options.get("evaluator_pseudonymized"):
        # Keyed by the reader, which marked a number that failed the same check (see reader_key).
        key = raw_number if _PSEUDONYM.fullmatch(raw_number) else None
    else:
        key = id_or_uscc_key(raw_number, ctx.pii_key, ctx.today)
    if key is None:
        found.append("invalid_evaluator_cert")
    return key


@lru_cache(maxsize=1 << 16)
def id_or_uscc_key(raw_number: str, pii_key: bytes, today: date) -> str | None:
    """The pseudonym of a valid 居民身份证 or 统一社会信用代码; None for any other number."""
    number = normalize_cert(raw_number)
    if is_valid_id_card(number, today):
        return pseudonym(pii_key, number)
    unit = normalize_cert(raw_number, upgrade_15=False)
    return pseudonym(pii_key, unit) if is_valid_uscc(unit) else None


def reader_key(raw_number: str | None, pii_key: bytes, today: date) -> str | None:
    """What a reader that pseudonymizes certificate numbers (police) puts in place of one.

    The key, with NOT_ID_OR_USCC in front when the number is neither a valid
    居民身份证 nor a valid USCC: an evaluator number of that kind then becomes
    NULL with a finding, never its clear form, while an applicant's passport
    number keeps its key (an applicant's number is checked by its declared
    type, in the reader's mask, see `declared_identity`).
    """
    if null_if_blank(raw_number) is None:
        return None
    return id_or_uscc_key(raw_number, pii_key, today) or NOT_ID_OR_USCC + (pseudonym(pii_key, raw_number) or "")
