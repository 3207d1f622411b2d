"""Raw source records → unified rows, a whole Arrow batch at a time, driven by a source's stream spec.

The same contract as a record-by-record reading, as column operations: every
check gives a mask of the rows that fail it, the first failing check of a row
(in the order a record's fields are read) names its reject, and the rows no
check failed are loaded. Values outside the fast paths go to the scalar
functions of transforms.values / pii / identifiers once per distinct value.
Personal numbers are pseudonymized and masked here, the first step after
reading; a reject detail shows a raw value only through `describe_value` (a
short code quoted, anything else by its shape) or a contract mask.
"""

import json
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from schemas.arrow import UNIFIED_BATCH_SCHEMAS
from schemas.codes import PERSONAL_APPLICANT_TYPES, PERSONAL_CERT_TYPES
from schemas.findings import FINDINGS
from transforms.columns import identity, masks
from transforms.columns.codes import code_map
from transforms.columns.numbers import parse_fees, parse_ints
from transforms.columns.text import as_text, holds_nul, per_distinct_array, present, strip_null, unsliced
from transforms.columns.times import INSTANT, parse_times
from transforms.identifiers import normalize_impl_code
from transforms.pii import describe_value
from transforms.reader import PSEUDONYM, Refused, pseudonymized_identity, shown_cert
from transforms.records import KEY_FIELD, REQUIRED, Context, RecordReject, Unified
from transforms.values import BadValue, to_ascii_width

_ORGANISATION_CERT_TYPES = ("001", "099")
_UNIT = -2  # an applicant type the USCC decides ("uscc" in a code map), among the integer types
_NO_TEXT = pa.scalar(None, pa.string())
# Codes whose unknown values load with a finding (field, finding); the contract quarantines only unknown
# status, channel, applicant type and score codes.
_FLAG_FINDINGS = {"cases": (("case_type", "unknown_case_type"), ("promise_unit", "unknown_promise_unit"),
                            ("deleted", "unknown_deleted_flag")),
                  "evaluations": (("is_default", "unknown_default_flag"), ("deleted", "unknown_deleted_flag"))}


def unify_columnar(batch: pa.RecordBatch | pa.Table, ctx: Context,
                   held_elsewhere: dict[str, str] | None = None) -> Unified:
    """`held_elsewhere`: case_no → the other source system already holding it (a collision)."""
    batch = pa.table(batch) if isinstance(batch, pa.RecordBatch) else batch
    read = _Batch(batch, ctx)
    columns = (_cases if ctx.stream == "cases" else _evaluations)(read, held_elsewhere or {})
    kept = ~read.defect & ~read.rejected
    schema = UNIFIED_BATCH_SCHEMAS[ctx.stream]
    columns["delivery_order"] = read.delivery_order()
    # One filter over the whole table, none when every record loads (an API page, most file batches).
    rows = pa.Table.from_arrays([_typed(columns[name], field.type) for name, field in zip(schema.names, schema)],
                                schema=schema)
    rows = rows if kept.all() else rows.filter(pa.array(kept))
    # Every check the stream's fields allow is present, with 0 when it found nothing; loaded rows only.
    findings = {(reason, FINDINGS[reason].column): int((read.found[reason] & kept).sum()) if reason in read.found
                else 0 for reason in read.checks()}
    return Unified(rows, read.rejects(columns["delivery_order"]), findings)


def _typed(values, type_: pa.DataType) -> pa.Array:
    if isinstance(values, np.ndarray):
        return pa.array(values, type_)
    return values if values.type == type_ else values.cast(type_)


class _Batch:
    """One raw batch as its spec reads it, with the first failing check of each row."""

    def __init__(self, table: pa.Table, ctx: Context):
        self.table, self.ctx, self.n = table, ctx, table.num_rows
        self._names = set(table.column_names)  # a property that builds a new list each time it is read
        self.found: dict[str, np.ndarray] = {}
        self.first: dict[int, tuple[str, str]] = {}  # row → (reason, detail) of its first failing check
        self.rejected = np.zeros(self.n, dtype=bool)
        self.defect = present(self._column("_defect")) if "_defect" in self._names else np.zeros(self.n, bool)
        # Every mapped column is read once, and stripped and checked as one array: a page of 100 records
        # costs a few kernel calls, not a few per field.
        self._sent = {c: self._column(c) for c in dict.fromkeys(ctx.fields.values()) if c in self._names}
        stripped = _per_column(self._sent, strip_null)
        self._stripped = {field: stripped[c] for field, c in ctx.fields.items() if c in stripped}
        self._storable()

    def _column(self, name: str | None) -> pa.Array:
        return as_text(self.table.column(name) if name in self._names else None, self.n)

    def raw(self, field: str) -> pa.Array:
        """A field's column as sent (NULL where the spec or the batch lacks it)."""
        column = self.ctx.fields.get(field)
        return self._sent[column] if column in self._sent else pa.nulls(self.n, pa.string())

    def get(self, field: str) -> pa.Array:
        """A field's column stripped, NULL for every spelling of NULL."""
        return self._stripped[field] if field in self._stripped else pa.nulls(self.n, pa.string())

    def fail(self, rows, reason: str, detail) -> None:
        """Rows failing a check; a row keeps the first check it failed. `detail`: row → text after the key."""
        for row in np.flatnonzero(rows) if isinstance(rows, np.ndarray) and rows.dtype == bool else rows:
            row = int(row)
            if row not in self.first:
                self.first[row] = (reason, detail(row))
                self.rejected[row] = True

    def finding(self, reason: str, rows: np.ndarray) -> None:
        self.found[reason] = self.found.get(reason, np.zeros(self.n, dtype=bool)) | rows

    def checks(self) -> list[str]:
        """The findings the stream's fields allow (schemas.findings)."""
        fields, options = self.ctx.fields, self.ctx.options
        if self.ctx.stream == "evaluations":
            checks = ["invalid_evaluator_cert"] if "evaluator_cert" in fields else []
            return checks + [reason for field, reason in _FLAG_FINDINGS["evaluations"] if field in fields]
        checks = ["invalid_phone"] if "contact_phone" in fields else []
        if "applicant_cert" in fields and options.get("cert_type") != "infer":
            checks.append("unknown_cert_type")
        return checks + [reason for field, reason in _FLAG_FINDINGS[self.ctx.stream] if field in fields]

    def _storable(self) -> None:
        """Text the store cannot keep quarantines the record on every backend alike (SQLite would keep it)."""
        if not self._sent:
            return
        nul = holds_nul(pa.concat_arrays(list(self._sent.values()))).reshape(len(self._sent), self.n)
        at = dict(zip(self._sent, nul))
        for name, column in self.ctx.fields.items():
            if column in at:
                self.fail(at[column], "nul_character",
                          lambda row, name=name, column=column: f"{column} ({name}) holds a NUL character (U+0000) "
                                                                "or other text the store cannot keep")

    # -- typed readings of a field, failing the rows that do not read ----------------------------------

    def code(self, field: str, required: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """(index into the field's code map, -1 for none; mask of codes the map does not know)."""
        if field not in self.ctx.fields:
            return np.full(self.n, -1, dtype=np.int64), np.zeros(self.n, dtype=bool)
        index, unknown = code_map(self.ctx.codes[field]).lookup(self.get(field))
        if required:
            self.unknown_code(field, unknown)
        return index, unknown

    def unknown_code(self, field: str, rows: np.ndarray) -> None:
        values = self.get(field)
        self.fail(rows, "unknown_code", lambda row: f"{self.ctx.fields[field]} ({field}): "
                  f"{describe_value(values[row].as_py())}, not in the {self.ctx.source} code map")

    def unified(self, field: str, index: np.ndarray) -> np.ndarray:
        if field not in self.ctx.fields:
            return np.full(self.n, None, dtype=object)
        return code_map(self.ctx.codes[field]).unified(index)

    def bad_values(self, field: str, errors: dict[int, BadValue]) -> None:
        for row in sorted(errors):
            e = errors[row]
            self.fail([row], e.reason, lambda row, e=e: f"{self.ctx.fields[field]} ({field}): {e}")

    def times(self, *fields: str) -> list[pa.Array]:
        """The fields' instants, parsed as one array; a bad time fails its row in the order of `fields`."""
        read = {f: self.get(f) for f in fields if f in self.ctx.fields}
        if not read:
            return [pa.nulls(self.n, INSTANT) for _ in fields]
        instants, errors = parse_times(pa.concat_arrays(list(read.values())), self.ctx.time_formats)
        by_field = {f: instants.slice(k * self.n, self.n) for k, f in enumerate(read)}
        for row in sorted(errors, key=lambda r: (r % self.n if self.n else 0, r)):
            field, e = list(read)[row // self.n], errors[row]
            self.fail([row % self.n], e.reason, lambda _, f=field, e=e: f"{self.ctx.fields[f]} ({f}): {e}")
        return [by_field.get(f, pa.nulls(self.n, INSTANT)) for f in fields]

    def integer(self, field: str, minimum: int | None = None) -> pa.Array:
        if field not in self.ctx.fields:
            return pa.nulls(self.n, pa.int64())
        values, errors = parse_ints(self.get(field), minimum)
        self.bad_values(field, errors)
        return values

    # -- the rejects ------------------------------------------------------------------------------------

    def delivery_order(self) -> pa.Array:
        """The record's precedence after its version and update time; a replayed record brings its own."""
        numbers = self.table.column("_record_no").combine_chunks().cast(pa.int64())
        prefix = self.ctx.delivery_prefix
        if prefix is None:
            computed = pa.array(["0"] * self.n, pa.string())
        elif pc.min(numbers).as_py() is None or pc.min(numbers).as_py() >= 0:
            padded = pc.utf8_lpad(numbers.cast(pa.string()), width=9, padding="0")
            computed = pc.binary_join_element_wise(prefix, padded, ".")
        else:
            computed = pa.array([f"{prefix}.{n:09d}" for n in numbers.to_pylist()], pa.string())
        if "_delivery_order" not in self._names:
            return computed
        sent = self._column("_delivery_order")
        given = pc.fill_null(pc.not_equal(sent, ""), False)
        return pc.if_else(given, sent, computed)

    def rejects(self, orders: pa.Array) -> list[RecordReject]:
        """One reject per defect row and per row that failed a check, in record order."""
        rows = sorted(set(np.flatnonzero(self.defect).tolist()) | set(self.first))
        if not rows:
            return []
        ctx = self.ctx
        picked = self.table.take(pa.array(rows, pa.int64())).to_pylist()
        key_column = ctx.fields[KEY_FIELD[ctx.stream]]
        out = []
        for row, record in zip(rows, picked):
            record_no = record["_record_no"]
            where = f"{ctx.location} record {record_no}"
            key = _readable_key(record.get(key_column))
            if self.defect[row]:
                out.append(_defect_reject(ctx, where, record["_defect"], record.get("_raw"), record_no, key))
                continue
            reason, detail = self.first[row]
            raw = {c: v for c, v in record.items() if not c.startswith("_")}
            payload = json.dumps({"record": raw, "delivery_order": orders[row].as_py()}, ensure_ascii=False)
            out.append(RecordReject(where, key, reason, f"{ctx.source} {where} ({key or 'no key'}): {detail}",
                                    payload, record_no))
        return out


def _per_column(columns: dict[str, pa.Array], fn) -> dict[str, pa.Array]:
    """`fn` over several equally long columns as one array, cut back into the columns."""
    if not columns:
        return {}
    n = len(next(iter(columns.values())))
    done = fn(pa.concat_arrays(list(columns.values())))
    # Each piece copied out: some kernels misread a string slice's offsets (seen with pyarrow 22).
    return {c: unsliced(done.slice(k * n, n)) for k, c in enumerate(columns)}


def _readable_key(value) -> str | None:
    """The record's key as etl_reject can keep it; None when it is empty or not storable text."""
    if not isinstance(value, str):
        return None
    key = value.strip()
    return None if key in ("", "null", "NULL") or "\x00" in key else key


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


def _cases(read: _Batch, held: dict[str, str]) -> dict:
    """The unified case columns; fields are read, and so fail, in the order a record's were."""
    ctx, n = read.ctx, read.n
    applicant = _applicant(read)
    impl = per_distinct_array(read.get("impl_code"), normalize_impl_code, pa.string())
    ascii_names = ctx.options.get("item_name_ascii")
    items = per_distinct_array(read.get("item_name"), to_ascii_width, pa.string()) if ascii_names else read.get("item_name")
    regions = pc.utf8_slice_codeunits(read.get("region_code"), 0, 6)  # 340603000000 names the county 340603
    version = read.integer("source_version")
    case_type, case_type_unknown = read.code("case_type", required=False)
    read.finding("unknown_case_type", case_type_unknown)
    channel, _ = read.code("channel")
    apply_time, accept_time, finish_time = read.times("apply_time", "accept_time", "finish_time")
    promise_days = _promise_days(read)
    status, _ = read.code("status")
    fee = pa.nulls(n, pa.decimal128(16, 2))
    if "fee_yuan" in ctx.fields:
        fee, errors = parse_fees(read.get("fee_yuan"), ctx.options.get("fee_empty"), ctx.options.get("fee_unit", "yuan"))
        read.bad_values("fee_yuan", errors)
    deleted = _flag(read, "deleted", "unknown_deleted_flag")
    updated, = read.times("source_updated_at")
    columns = {
        "case_no": read.get("case_no"),
        "source_system": pa.array([ctx.source] * n, pa.string()),
        "source_record_id": read.get("source_record_id"),
        "source_version": pc.fill_null(version, 1),
        "impl_code": impl,
        "item_name": items,
        "case_type": read.unified("case_type", case_type),
        **applicant,
        "channel": read.unified("channel", channel),
        "apply_time": apply_time, "accept_time": accept_time, "finish_time": finish_time,
        "promise_days": promise_days,
        "status": read.unified("status", status),
        "accept_org_code": read.get("accept_org_code"),
        "region_code": regions,
        "fee_yuan": fee,
        "bundle_id": read.get("bundle_id"),
        "deleted": deleted,
        "source_updated_at": updated,
    }
    _required(read, columns)
    if held:
        case_no = columns["case_no"]
        taken = present(case_no) & pc.fill_null(pc.is_in(case_no, value_set=pa.array(list(held), pa.string())),
                                                False).to_numpy(zero_copy_only=False)
        read.fail(taken, "case_no_collision", lambda row: f"办件编号 {case_no[row].as_py()} is already held by source "
                                                          f"{held[case_no[row].as_py()]}")
    return columns


def _flag(read: _Batch, field: str, finding: str) -> np.ndarray:
    """A yes/no code: true only where the map says so. A code the map does not know is loaded as false with a
    finding (the contract quarantines unknown status, channel, applicant type and score codes only)."""
    index, unknown = read.code(field, required=False)
    read.finding(finding, unknown)
    if field not in read.ctx.fields:
        return np.zeros(read.n, dtype=bool)
    truth = [bool(v) for v in code_map(read.ctx.codes[field]).values.tolist()]
    return np.array(truth + [False], dtype=bool)[index]  # index -1: no code, false


def _promise_days(read: _Batch) -> pa.Array:
    """承诺时限 in working days: n 自然日 → (5n + 6) div 7, h 小时 → (h + 7) div 8. A negative time limit is no
    time limit at all: quarantined (out_of_range) like one beyond the store's integer range. A unit the map
    does not know cannot be converted: NULL with a finding."""
    days = read.integer("promise_days", 0)
    if "promise_unit" not in read.ctx.fields:
        return days
    index, unknown = read.code("promise_unit", required=False)
    units = read.unified("promise_unit", index)
    unknown &= present(days)
    read.finding("unknown_promise_unit", unknown)
    d = pc.fill_null(days, 0).to_numpy()
    working = np.where(units == "natural_days", (5 * d + 6) // 7, np.where(units == "hours", (d + 7) // 8, d))
    return pa.array(working, pa.int64(), mask=~present(days) | unknown)


def _required(read: _Batch, columns: dict) -> None:
    """Fields without which a record cannot be placed (unified-store.md, Outcomes), and those the store keeps
    NOT NULL without a default."""
    for name in REQUIRED[read.ctx.stream]:
        values = columns[name]
        missing = (~present(values) if isinstance(values, pa.Array)
                   else np.array([v is None for v in np.asarray(values, dtype=object).tolist()], dtype=bool))
        read.fail(missing, "missing_field",
                  lambda row, name=name: f"{read.ctx.fields.get(name, 'no field')} ({name}) is empty")


def _applicant(read: _Batch) -> dict:
    ctx, n = read.ctx, read.n
    index, _ = read.code("applicant_type")
    types = _applicant_types(read, index)  # int, _UNIT for "the USCC decides", -1 for none
    unit = types == _UNIT
    number = read.get("applicant_cert")
    has = present(number)
    column = ctx.fields.get("applicant_cert")
    mode = ctx.options.get("cert_type")
    cert_type = np.full(n, None, dtype=object)
    uscc_type = np.full(n, -1, dtype=np.int64)
    if mode == "pseudonymized":
        key, masked = _pseudonymized(read, number, types, cert_type, uscc_type)
    else:
        base = identity.normalize(number)
        if mode == "infer":
            # 人社 sends no type: a 个人 number of an ID number's shape (15 digits too) must be one, another is
            # 999; a 单位 number must be a USCC (hrss.md).
            person = has & ~unit
            normalized = identity.upgrade_15(base, person)
            shaped = person & identity.id_shaped(normalized)
            cert_type[has & unit], cert_type[shaped], cert_type[person & ~shaped] = "001", "111", "999"
            bad_id = shaped & ~identity.valid_id_card(normalized, ctx.today)
            bad_uscc = has & unit & ~identity.valid_uscc(normalized)
            _fail_numbers(read, normalized, bad_id, bad_uscc, column, unit_words=" of a unit")
            read.fail(unit & ~has, "invalid_uscc", lambda row: f"{column} of a unit is empty")
        else:
            cert_index, _ = read.code("applicant_cert_type", required=False)
            cert_type[:] = read.unified("applicant_cert_type", cert_index)
            unknown = has & (cert_type == None)  # noqa: E711 (elementwise over objects)
            # A type the map does not know is "other", not a quarantine (unified-store.md, cert_type).
            personal_applicant = (types == -1) | np.isin(types, list(PERSONAL_APPLICANT_TYPES))
            cert_type[unknown & personal_applicant], cert_type[unknown & ~personal_applicant] = "999", "099"
            read.finding("unknown_cert_type", unknown)
            card, uscc = has & (cert_type == "111"), has & (cert_type == "001")
            normalized = identity.upgrade_15(base, card)
            _fail_numbers(read, normalized, card & ~identity.valid_id_card(normalized, ctx.today),
                          uscc & ~identity.valid_uscc(normalized), column, unit_words="")
        card = has & (cert_type == "111")
        uscc = has & (cert_type == "001")
        other_personal = has & _in(cert_type, PERSONAL_CERT_TYPES - {"111"})
        uscc_type[uscc] = identity.unit_types(normalized)[uscc]
        key = identity.pseudonyms(ctx.pii_key, pc.if_else(pa.array(has), normalized, _NO_TEXT))
        masked = pc.if_else(pa.array(card), identity.mask_ids(normalized),
                            pc.if_else(pa.array(other_personal), identity.mask_others(normalized), normalized))
        cert_type[~has] = None
    final_type = np.where(unit, np.where(uscc_type >= 0, uscc_type, identity.OTHER_ORG), types)
    # A personal certificate makes the name a personal one whatever applicant type was sent: no clear
    # personal name in the store (unified-store.md, PII).
    personal = (uscc_type == 7) | _in(cert_type, PERSONAL_CERT_TYPES) | np.where(
        final_type == -1, ~_in(cert_type, _ORGANISATION_CERT_TYPES),
        np.isin(final_type, list(PERSONAL_APPLICANT_TYPES)))
    names = read.get("applicant_name")
    phone_masked, malformed = masks.phones(read.get("contact_phone"))
    read.finding("invalid_phone", malformed)
    return {
        "applicant_type": pa.array(final_type, pa.int64(), mask=final_type == -1),
        "applicant_cert_type": cert_type,
        "applicant_key": key,
        "applicant_cert_masked": masked,
        "applicant_name_masked": masks.mask_names(names, personal & present(names)),
        "contact_phone_masked": phone_masked,
    }


def _applicant_types(read: _Batch, index: np.ndarray) -> np.ndarray:
    if "applicant_type" not in read.ctx.fields:
        return np.full(read.n, -1, dtype=np.int64)
    values = code_map(read.ctx.codes["applicant_type"]).values
    as_int = np.array([_UNIT if v == "uscc" else int(v) for v in values.tolist()] + [-1], dtype=np.int64)
    return as_int[index]  # index -1 picks the trailing "none"


def _fail_numbers(read: _Batch, numbers: pa.Array, bad_id: np.ndarray, bad_uscc: np.ndarray, column: str,
                  unit_words: str) -> None:
    """Numbers failing the check their type demands; both kinds are read at the same step of a record."""
    for row in np.flatnonzero(bad_id | bad_uscc):
        shown = shown_cert(numbers[int(row)].as_py())
        if bad_id[row]:
            read.fail([row], "invalid_id_card", lambda _, s=shown: f"{column} {s} fails the 居民身份证 check")
        else:
            read.fail([row], "invalid_uscc", lambda _, s=shown: f"{column} {s}{unit_words} fails the 统一社会信用代码 check")


def _in(values: np.ndarray, allowed) -> np.ndarray:
    """Elementwise membership over an object column that may hold None."""
    return np.fromiter((v in allowed for v in values.tolist()), dtype=bool, count=len(values))


def _pseudonymized(read: _Batch, keys: pa.Array, types: np.ndarray, cert_type: np.ndarray,
                   uscc_type: np.ndarray) -> tuple[pa.Array, pa.Array]:
    """A source whose reader pseudonymized the number (police): it checked the number and says so in the mask."""
    ctx = read.ctx
    column = ctx.fields.get("applicant_cert")
    cert_index, _ = read.code("applicant_cert_type", required=False)
    declared = read.unified("applicant_cert_type", cert_index)
    has = present(keys)
    unknown = has & (declared == None)  # noqa: E711 (elementwise over objects)
    personal_applicant = (types == -1) | np.isin(types, list(PERSONAL_APPLICANT_TYPES))
    declared[unknown & personal_applicant], declared[unknown & ~personal_applicant] = "999", "099"
    read.finding("unknown_cert_type", unknown)
    out_keys, out_masked = [None] * read.n, [None] * read.n
    for row, (key, masked) in enumerate(zip(_values(keys), _values(read.get("applicant_cert_masked")))):
        found = pseudonymized_identity(key, masked, declared[row])
        if isinstance(found, Refused):
            read.fail([row], found.reason, lambda _, d=found.detail: f"{column} {d}")
        elif found is not None:
            unit_type, cert_type[row], out_keys[row], out_masked[row] = found
            uscc_type[row] = -1 if unit_type is None else unit_type
    return pa.array(out_keys, pa.string()), pa.array(out_masked, pa.string())


def _evaluations(read: _Batch, held: dict[str, str]) -> dict:
    ctx, n = read.ctx, read.n
    channel_index, channel_unknown = read.code("channel", required=False)
    channel = read.unified("channel", channel_index)
    # A source may spell "system default evaluation" as a channel code (tax pf 7): that is is_default.
    is_default = _flag(read, "is_default", "unknown_default_flag") | (channel == "default")
    # A default evaluation's channel is NULL "whatever channel code the source sent" (unified-store.md), so
    # only an evaluation by the person is quarantined for a channel code the map does not know.
    read.unknown_code("channel", channel_unknown & ~is_default)
    comments = masks.mask_texts(read.get("comment"))
    evaluator = _evaluator_keys(read)
    version = read.integer("source_version")
    assess_number = read.integer("assess_number", 1)  # 评价次数 counts from 1
    score, _ = read.code("score")
    assess_time, = read.times("assess_time")
    deleted = _flag(read, "deleted", "unknown_deleted_flag")
    updated, = read.times("source_updated_at")
    channel[is_default] = None
    columns = {
        "source_system": pa.array([ctx.source] * n, pa.string()),
        "eval_no": read.get("eval_no"),
        "case_no": read.get("case_no"),
        "source_version": pc.fill_null(version, 1),
        "assess_number": pc.fill_null(assess_number, 1),
        "score": read.unified("score", score),
        "score_raw": read.raw("score"),
        "channel": channel,
        "is_default": is_default,
        "option_codes": read.get("option_codes"),
        "comment": comments,
        "evaluator_key": evaluator,
        "assess_time": assess_time,
        "deleted": deleted,
        "source_updated_at": updated,
    }
    _required(read, columns)
    return columns


def _evaluator_keys(read: _Batch) -> pa.Array:
    """The evaluator's pseudonym; a number that is neither a valid ID nor a USCC gets none (a finding)."""
    numbers = read.get("evaluator_cert")
    has = present(numbers)
    if read.ctx.options.get("evaluator_pseudonymized"):
        # Keyed by the reader, which marked a number that failed the same check (see reader_key).
        valid = pc.fill_null(pc.match_substring_regex(numbers, f"^{PSEUDONYM.pattern}$"), False)
        keys = pc.if_else(valid, numbers, _NO_TEXT)
    else:
        base = identity.normalize(numbers)
        card = identity.upgrade_15(base, has)
        is_card = identity.valid_id_card(card, read.ctx.today)
        is_uscc = ~is_card & identity.valid_uscc(base)
        chosen = pc.if_else(pa.array(is_card), card, pc.if_else(pa.array(is_uscc), base, _NO_TEXT))
        keys = identity.pseudonyms(read.ctx.pii_key, chosen)
    read.finding("invalid_evaluator_cert", has & ~present(keys))
    return keys


def _values(column: pa.Array) -> list:
    """A column as Python values; to_numpy makes no Arrow scalar per value as to_pylist does."""
    return column.to_numpy(zero_copy_only=False).tolist()
