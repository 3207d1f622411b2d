"""Property-based fuzzing of `transforms.columnar.unify_columnar` with every source's spec (issue 7, "How it is shown").

Arbitrary text or NULL in every raw field, missing and extra columns, defect rows: unify never raises; every
input record ends as exactly one unified row or one reject; the rows fit the store (checked value by value
against PostgreSQL's limits, and staged and merged into a SQLite store); no reject detail holds an ID number
or a mobile number that was in the input.
"""

import json
import re
from datetime import date, datetime, timezone
from decimal import Decimal
from functools import lru_cache

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from loaders.engine import make_engine
from loaders.run_writer import RunWriter
from loaders.schema import upgrade
from pipeline.specs import load_specs
from schemas.findings import FINDINGS
from schemas.tables import INSTANT, INTEGER, MONEY, STREAM_TABLES, TEXT
from tests.handmade import BJ_HEADER, PERSON_ID, PERSON_ID_15, PJ_HEADER, USCC, USCC_GETI, case_row, eval_row
from tests.test_api_sources import market_case, market_eval, tax_case
from tests.test_medins_source import case as medins_case, evaluation as medins_evaluation
from tests.test_police_source import case as police_case, evaluation as police_evaluation
from transforms.columnar import unify_columnar
from transforms.reader import reader_key
from transforms.records import Context

SPECS = load_specs()
STREAMS = [(name, stream) for name, spec in sorted(SPECS.items()) for stream in spec.streams]
KEY = b"fuzz-key"
TODAY = date(2026, 10, 5)
INT_MIN, INT_MAX = -(2**31), 2**31 - 1
# The contract's free-text patterns: what no detail may quote from the input.
_PERSONAL_RUN = re.compile(r"(?<!\d)(\d{17}[\dXx]|\d{15})(?!\d)|(?<!\d)1[3-9]\d{9}(?!\d)")

PERSONAL = [PERSON_ID, PERSON_ID_15, "34060319851120108x", "340603199003070023", "13812345678",
            "+86 139-1234-5678", "0561-12344321", "张三", "欧阳小明", "买买提·艾力", USCC, USCC_GETI, "E12345678"]
# Values at and beyond what the store keeps, drawn more often than the rest.
NASTY = ["\x00", "a\x00b", "2147483648", "-2147483649", "-1", "99999999999999.995", "1e30", "9999-12-31T23:00:00-08:00",
         "0001-01-01 00:00:00", "-62135596800001", "253402300800000"]
EDGE = ["", " ", "null", "NULL", "\u3000", "0", "5.0", "35.5", "-0.00", "NaN",
        "Infinity", "99999999999999999999999", "１２３", "（ＡＢ）",
        '{"a": 1}', "[1, 2]", "true", "2026-10-05 09:00:00", "2026/10/5 9:30", "2026-10-05", "0000-00-00 00:00:00",
        "9999-12-31 23:59:59", "0001-01-01 00:00:00", "2026-10-05 09:00:60", "2026-10-05T09:00:00+08:00",
        "9999-12-31T23:00:00-08:00", "2026-10-05T09:00:00+24:00", "1759626000000", "999999999999999",
        "-62135596800001", "9" * 5000, PERSON_ID + "\x00"]


def _context(source: str, stream: str) -> Context:
    spec = SPECS[source]
    s = spec.streams[stream]
    return Context(source=source, stream=stream, fields=s.fields, codes=s.codes, options=s.options,
                   time_formats=spec.time_formats, pii_key=KEY, location="fuzz batch",
                   delivery_prefix="20261005.000" if spec.kind in ("csv_drop", "xml_batches") else None,
                   today=TODAY, width=len(s.columns), encoding="GB18030")


@lru_cache(maxsize=None)
def _values(source: str, stream: str, column: str) -> st.SearchStrategy:
    """Anything at all, often enough a value the spec knows, so that records get past their first field."""
    s = SPECS[source].streams[stream]
    known: list[str] = []
    for name, mapped in s.fields.items():
        if mapped == column:
            known += list(s.codes.get(name, {}))
            if name in ("case_no", "eval_no"):
                known += ["K1", "K2", "K3"]
            if name == "source_updated_at":
                known += ["2026-10-05 09:00:00", "2026-10-05T09:00:00+08:00", "1759626000000"]
    if column in ("ZJHM", "PJRZJHM"):  # what the police reader puts there
        known += [reader_key(n, KEY, TODAY) for n in PERSONAL]
    if column == "ZJHM_MASKED":
        known += ["340603********0022", "!invalid_id_card", "!invalid_uscc", "!other", USCC]
    return st.one_of(st.none(), st.text(max_size=24), st.sampled_from(NASTY), st.sampled_from(PERSONAL),
                     st.sampled_from(EDGE + (known or ["x"])), st.integers().map(str), st.floats().map(str))


_DEFECTS = st.sampled_from([None, None, None, "wrong_field_count", "undecodable", "not_an_object"])


def _text(value) -> str | None:
    return None if value is None else str(value)


@lru_cache(maxsize=None)
def _valid(source: str, stream: str) -> dict[str, str | None]:
    """One record that loads, as its extractor hands it over: the fuzzer changes some of its fields."""
    if source == "hrss":
        return dict(zip(BJ_HEADER, case_row("K1")) if stream == "cases" else zip(PJ_HEADER, eval_row("K1", "C1")))
    if source == "market":
        return {k: _text(v) for k, v in (market_case("K1", 1) if stream == "cases" else
                                          market_eval("K1", "C1", 2)).items()}
    if source == "medins":
        return {k: _text(v) for k, v in (medins_case("R1", "K1", 1, "2026-10-05 10:00:00") if stream == "cases" else
                                          medins_evaluation("K1", "P1", "2026-10-05 10:00:00")).items()}
    if source == "police":
        record = police_case("K1") if stream == "cases" else {**police_evaluation("K1", "C1"),
                                                              "BATCH_GENERATED": "2026-10-05T18:00:00+08:00"}
        number = record.pop("ZJHM" if stream == "cases" else "PJRZJHM")
        keyed = {"ZJHM": reader_key(number, KEY, TODAY), "ZJHM_MASKED": "340603********0022"} if stream == "cases" \
            else {"PJRZJHM": reader_key(number, KEY, TODAY)}
        return {k: _text(v) for k, v in {**record, **keyed}.items()}
    case = tax_case("K1", 1)
    if stream == "cases":
        return {**{k: _text(v) for k, v in case.items() if k not in ("applicant", "evaluations")},
                **{f"applicant.{k}": _text(v) for k, v in case["applicant"].items()}}
    return {"eval_no": "K1#1", "projectNo": "K1", "updatedAt": _text(case["updatedAt"]),
            **{k: _text(v) for k, v in case["evaluations"][0].items()}}


_DEFECTS = st.sampled_from([None, None, None, None, "wrong_field_count", "undecodable", "not_an_object"])


@st.composite
def _batch(draw, source: str, stream: str):
    """Records that start valid and get a few fields replaced by anything; columns come and go."""
    valid = _valid(source, stream)
    columns = list(valid)
    present = [c for c in columns if draw(st.integers(0, 9))]  # a column is missing now and then
    present += draw(st.lists(st.sampled_from(["EXTRA", "备注", "unknown.field"]), max_size=2, unique=True))
    n = draw(st.integers(1, 4))
    data = {c: [valid.get(c)] * n for c in present}
    for i in range(n):  # each record gets a few fields replaced by anything (none: it stays valid)
        for c in draw(st.lists(st.sampled_from(present), max_size=3, unique=True)) if present else []:
            data[c][i] = draw(_values(source, stream, c))
    data["_record_no"] = list(range(1, n + 1))
    if source in ("hrss", "tax"):  # file rows, and list items nested in a case, can be defects
        defects = draw(st.lists(_DEFECTS, min_size=n, max_size=n))
        data["_defect"] = defects
        data["_raw"] = [json.dumps(["a", "b\udc81", ""]) if d else None for d in defects]
    types = {"_record_no": pa.int64()}
    return pa.RecordBatch.from_arrays([pa.array(v, types.get(c, pa.string())) for c, v in data.items()],
                                      names=list(data))


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'store.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()


def _fits_the_store(rows: pa.Table, stream: str) -> None:
    """Every value within what PostgreSQL keeps (SQLite would keep more: it must not get more)."""
    table = STREAM_TABLES[stream]
    for column in rows.schema.names:
        declared = table.column(column) if column in table.names else None
        for value in rows.column(column).to_pylist():
            if value is None:
                assert declared is None or declared.nullable, f"{column} is NOT NULL"
            elif declared is None:
                continue
            elif declared.type == INTEGER:
                assert INT_MIN <= value <= INT_MAX, (column, value)
            elif declared.type == MONEY:
                assert abs(value) < Decimal(10) ** 14 and value == value.quantize(Decimal("0.01")), (column, value)
            elif declared.type == TEXT:
                assert "\x00" not in value, column
            elif declared.type == INSTANT:
                assert value.tzinfo is not None and datetime(1, 1, 1, tzinfo=timezone.utc) <= value, column


def _inputs_runs(batch: pa.RecordBatch, key_column: str) -> set[str]:
    keys = {v for v in batch.column(key_column).to_pylist() if v} if key_column in batch.schema.names else set()
    runs = set()
    for name in batch.schema.names:
        if name in ("_record_no", key_column):
            continue
        for value in batch.column(name).to_pylist():
            if isinstance(value, str):
                runs |= {m.group(0) for m in _PERSONAL_RUN.finditer(value)}
    return {r for r in runs if not any(r in k for k in keys)}  # a record's own key is named on purpose


@pytest.mark.parametrize("source,stream", STREAMS)
def test_unify_never_raises_and_accounts_for_every_record(source, stream, store):
    ctx = _context(source, stream)
    key_column = ctx.fields["case_no" if stream == "cases" else "eval_no"]
    run = iter(range(10**9))

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                     HealthCheck.data_too_large])
    @given(_batch(source, stream))
    def check(batch):
        rows, rejects, findings = unify_columnar(batch, ctx)
        assert rows.num_rows + len(rejects) == batch.num_rows
        assert len({r.record_no for r in rejects}) == len(rejects)
        assert {r.record_no for r in rejects} <= set(batch.column("_record_no").to_pylist())
        assert all(f in {(r, FINDINGS[r].column) for r in FINDINGS} for f in findings)
        assert all(0 <= n <= rows.num_rows for n in findings.values())
        runs = _inputs_runs(batch, key_column)
        for reject in rejects:
            assert reject.reason and reject.reason.isascii() and "\x00" not in reject.detail
            assert reject.record_key is None or "\x00" not in reject.record_key
            assert not [r for r in runs if r in reject.detail], reject.detail
            json.loads(reject.raw)  # the raw record is kept whole, for a replay
        _fits_the_store(rows, stream)
        with RunWriter(store, source, f"fuzz-{source}-{next(run)}") as writer:
            writer.stage(stream, rows)
            writer.merge(stream, datetime.now(timezone.utc))

    check()
