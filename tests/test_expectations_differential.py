"""The Arrow figures of every expectation equal Great Expectations' own, batch by batch.

A run computes its expectations with Arrow (quality.arrow_checks) and never imports GX; here GX 1.x
validates the same batches with the same suites (quality.gx_suite) and each dq_result row made from
GX's result (as the pipeline made them when it validated with GX) must equal the Arrow one, field by
field: counts, success, observed value and its text, samples. On the simulated month's batches as a
run stages them (with their store facts), and on hand-made batches breaking every rule the suites have.
"""

import json
import re
import warnings
from datetime import datetime, timedelta, timezone

import pyarrow as pa
import pyarrow.compute as pc
import pytest

import pipeline.staging
from pipeline.config import Settings
from pipeline.runner import run_source
from quality.arrow_checks import KINDS, figures, re2
from quality.expectations import (
    _SAMPLES, _observed_text, _short, describe, expectations_for, referenced_columns, store_facts, suite_for,
    validate_batch,
)
from quality.gx_suite import gx, gx_expectation, gx_suite
from schemas.arrow import UNIFIED_BATCH_SCHEMAS
from schemas.tables import STREAM_TABLES
from simulators import hrss, police_outbox
from tests.handmade import PERSON_ID, PERSON_ID_15, PERSON_ID_X, USCC
from tests.test_expectations import KEY, NOW, _case, _evaluation

STREAMS = tuple(STREAM_TABLES)
TEST_PII_KEY = "test-pii-key-fixed-for-fixtures"  # as tests/conftest.py's (pytest imports that as `conftest`)


# -- GX, as the pipeline ran it before ------------------------------------------------------


def gx_described(expectation) -> tuple:
    """(type, column_name, kwargs JSON, severity, pii) read from the GX expectation's configuration."""
    config = expectation.configuration
    kwargs = {k: v for k, v in config.kwargs.items() if k not in ("batch_id", "result_format") and v is not None}
    meta = config.meta or {}
    column = (meta.get("column") or kwargs.get("column") or kwargs.get("column_A")
              or (kwargs.get("column_list") or [None])[0])
    return (config.type, column, json.dumps(kwargs, ensure_ascii=False, sort_keys=True, default=str),
            meta.get("severity"), bool(meta.get("pii")))


def gx_row(r, kind, column, kwargs, severity, pii) -> dict:
    """The dq_result row of one GX validation result."""
    row = {"expectation": kind, "column_name": column, "kwargs": kwargs, "severity": severity,
           "observed_value": None, "element_count": None, "unexpected_count": None, "success": bool(r.success),
           "samples": [], "observed": None}
    assert not (r.exception_info or {}).get("raised_exception"), r.exception_info
    result = r.result or {}
    if "unexpected_count" not in result:  # an aggregate expectation (min)
        value = result.get("observed_value")
        row["observed"] = None if value is None else float(value)
        row["observed_value"] = _observed_text(row)
        return row
    row["element_count"] = int(result.get("element_count") or 0) - int(result.get("missing_count") or 0)
    row["unexpected_count"] = int(result.get("unexpected_count") or 0)
    if not pii and row["unexpected_count"]:
        samples: list[str] = []
        for value in result.get("partial_unexpected_list") or []:
            text = _short(value)
            if text not in samples and not isinstance(value, bool):
                samples.append(text)
            if len(samples) == _SAMPLES:
                break
        row["samples"] = samples
    row["observed_value"] = _observed_text(row)
    return row


class GxValidator:
    """An ephemeral GX context validating pandas frames of a batch and its derived columns."""

    def __init__(self):
        great_expectations, _, _ = gx()
        from great_expectations.data_context.types.base import ProgressBarsConfig

        self.context = great_expectations.get_context(mode="ephemeral")
        self.context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
        self.datasource = self.context.data_sources.add_pandas("differential")
        self.plans = {}

    def plan(self, stream):
        if stream not in self.plans:
            suite = self.context.suites.add(gx_suite(stream))
            definition = self.datasource.add_dataframe_asset(stream).add_batch_definition_whole_dataframe(stream)
            columns = []
            for e in suite_for(stream):
                columns += [c for c in referenced_columns(e) if c not in columns]
            self.plans[stream] = (suite, definition, columns)
        return self.plans[stream]

    def rows(self, table: pa.Table, stream: str, facts: pa.Table) -> list[dict]:
        suite, definition, columns = self.plan(stream)
        sources = {name: facts.column(name) for name in facts.column_names}
        sources.update({name: table.column(name) for name in table.column_names})
        frame = pa.table({name: sources[name] for name in columns}).to_pandas()
        batch = definition.get_batch(batch_parameters={"dataframe": frame})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            validation = batch.validate(suite, result_format={"result_format": "BASIC",
                                                               "partial_unexpected_count": 20})
        assert len(validation.results) == len(suite.expectations)
        by_id = {r.expectation_config.id: r for r in validation.results}
        return [gx_row(by_id[e.id], *gx_described(e)) for e in suite.expectations]


@pytest.fixture(scope="module")
def gx_validator():
    return GxValidator()


def assert_same(gx_validator, table: pa.Table, stream: str, facts: pa.Table) -> list[dict]:
    arrow = validate_batch(table, stream, facts)
    reference = gx_validator.rows(table, stream, facts)
    assert len(arrow) == len(reference)
    for mine, theirs in zip(arrow, reference):
        assert mine == theirs, (mine["expectation"], mine["column_name"])
    return arrow


# -- the suites are GX's ------------------------------------------------------------------


@pytest.mark.parametrize("stream", STREAMS)
def test_each_expectation_is_described_as_gx_configures_it(stream):
    for e in expectations_for(STREAM_TABLES[stream], stream):
        built = gx_expectation(e)
        assert gx_described(built) == describe(e)
        assert built.configuration.description == e.rule


def test_the_suites_use_only_types_the_arrow_checks_compute():
    used = {e.type for stream in STREAMS for e in suite_for(stream)}
    assert used <= KINDS


def test_an_argument_the_arrow_checks_do_not_implement_is_refused():
    column = {"score": pa.array([1, 2])}
    with pytest.raises(ValueError, match="mostly"):
        figures("expect_column_values_to_be_in_set", {"column": "score", "value_set": [1], "mostly": 0.5}, column)
    with pytest.raises(ValueError, match="construct RE2 lacks"):
        re2(r"(?<=a)b")


# -- the simulated month ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def month_batches(tmp_path_factory):
    """Every (batch, stream, facts) a run of the simulated hrss month (row faults on) and of police stages."""
    seen = []
    real = pipeline.staging.validate_batch

    def recording(table, stream, facts=None):
        seen.append((table, stream, facts))
        return real(table, stream, facts)

    root = tmp_path_factory.mktemp("month")
    store = f"sqlite:///{root / 'store.db'}"
    hrss.write_month(root / "hrss", "2026-10", seed=7, cases_per_month=1500, faults=hrss.ROW_FAULTS,
                     fault_rate=0.01)
    police_outbox.write_month(root / "police", "2026-10", seed=7, batches_per_day=1, cases_per_day=40)
    for later in sorted((root / "police").glob("GA_*"))[10:]:  # five batches and their manifests
        later.unlink()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pipeline.staging, "validate_batch", recording)
        mp.setenv("SILOBRIDGE_HOME", str(root / "home"))  # module-scoped: before the per-test home and key
        mp.setenv("SILOBRIDGE_PII_KEY", TEST_PII_KEY)
        for source in ("hrss", "police"):
            run_source(source, Settings.resolve(store_url=store, folders={source: root / source}))
    return seen


def test_the_simulated_month_gets_gx_figures(gx_validator, month_batches):
    streams = {stream for _, stream, _ in month_batches}
    assert streams == set(STREAMS) and len(month_batches) > 40
    failed = set()
    for table, stream, facts in month_batches:
        failed |= {(r["expectation"], r["column_name"]) for r in assert_same(gx_validator, table, stream, facts)
                   if not r["success"]}
    # the month is not clean: the comparison covers failing checks too
    assert len(failed) >= 3, failed


# -- hand-made batches breaking every rule ----------------------------------------------------

FULLWIDTH_ID = "３４０６０３１９９００３０７００２２"  # Python's \d (GX) takes full-width digits too


def _cases() -> list[dict]:
    apply = datetime(2026, 10, 5, 1, 0, tzinfo=timezone.utc)  # 09:00 Beijing
    midnight = datetime(2026, 10, 4, 16, 0, tzinfo=timezone.utc)  # 2026-10-05 00:00 Beijing: a date alone
    return [
        _case("C1"),
        _case("C1", status="paused"),  # a repeated key, an unknown status
        _case("C1", channel=8, case_type=3, applicant_type=0, applicant_cert_type="112"),
        _case(None, source_version=None),
        _case(None, status=None, deleted=None, delivery_order=None),
        _case("C4", source_updated_at=None, channel=None, region_code="34060"),
        _case("C5", impl_code="11340603MB1234567X10001234", accept_org_code="91340600MA2NXCJ5IP"),
        _case("C6", impl_code="11340603MB1234567X1000123456789\n", region_code="３４０６０３"),
        _case("C7", region_code="340603\n", accept_org_code=USCC),
        _case("C8", applicant_key=KEY.upper()),
        _case("C9", applicant_key=KEY[:63]),
        _case("C10", applicant_key=KEY + "\n"),
        _case("C11", applicant_key=PERSON_ID),
        _case("C12", applicant_cert_masked=PERSON_ID, contact_phone_masked="13812345678"),
        _case("C13", applicant_cert_masked=PERSON_ID_15, contact_phone_masked="+86 13812345678"),
        _case("C14", applicant_cert_masked=PERSON_ID_X, contact_phone_masked="86-13812345678"),
        _case("C15", applicant_cert_masked="3406031990030700221", contact_phone_masked="113812345678"),  # too long
        _case("C16", applicant_cert_masked="3406031990030700", contact_phone_masked="tel:13812345678;"),
        _case("C17", applicant_cert_masked=FULLWIDTH_ID, applicant_name_masked="张*" + "１３８１２３４５６７８"),
        _case("C18", applicant_type=2, applicant_cert_type="001", applicant_cert_masked="123406000000123450"),
        _case("C19", applicant_cert_type=None, applicant_cert_masked=PERSON_ID),  # a condition that does not hold
        _case("C20", accept_time=None),  # accepted, no accept time
        _case("C21", status="completed", finish_time=None),
        _case("C22", status="submitted", accept_time=None),
        _case("C23", accept_time=NOW - timedelta(hours=6)),  # before the application
        _case("C24", status="completed", apply_time=apply, accept_time=apply, finish_time=midnight),  # same day
        _case("C25", status="completed", apply_time=apply, accept_time=apply, finish_time=midnight - timedelta(days=1)),
        _case("C26", apply_time=None, accept_time=None),
        _case("C27", source_updated_at=NOW - timedelta(days=40)),
    ]


def _evaluations() -> list[dict]:
    return [
        _evaluation("E1"),
        _evaluation("E1", score=7, score_raw="7"),  # a repeated key; a score outside the range
        _evaluation("E2", score=0, score_raw="0", channel=8),
        _evaluation(None), _evaluation(None),  # a key with a NULL part, twice: a repeat for GX
        _evaluation(None, source_system=None, score=None, is_default=None),  # every key part missing: not checked
        _evaluation("E3", is_default=True, channel=2),
        _evaluation("E4", is_default=True, channel=None),
        _evaluation("E5", comment="电话 +86 13812345678 身份证 " + PERSON_ID),
        _evaluation("E6", comment="编号 1381234567890123"),  # 16 digits: neither
        _evaluation("E7", comment="号码" + FULLWIDTH_ID),
        _evaluation("E8", evaluator_key="ABC"),
        _evaluation("E9", evaluator_key=KEY),
        _evaluation("E10", source_version=None, assess_number=None, score_raw=None, deleted=None,
                    delivery_order=None),
        _evaluation("E11", assess_time=None, source_updated_at=NOW - timedelta(days=3)),
    ]


def _table(stream, rows) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=UNIFIED_BATCH_SCHEMAS[stream])


def test_hand_made_cases_get_gx_figures(gx_validator):
    table = _table("cases", _cases())
    results = assert_same(gx_validator, table, "cases", store_facts(None, "hrss", "cases", table, now=NOW))
    failed = {r["expectation"] for r in results if not r["success"]}
    # every kind of check failed somewhere (freshness, judged on the newest record: in the stale batch below)
    assert failed == {e.type for e in suite_for("cases")} - {"expect_column_min_to_be_between"}


def test_hand_made_evaluations_with_store_facts_get_gx_figures(gx_validator):
    rows = _evaluations()
    table = _table("evaluations", rows)
    facts = store_facts(None, "hrss", "evaluations", table, now=NOW)
    accepted = [NOW - timedelta(hours=2), None, NOW, None, NOW - timedelta(days=1)] + [NOW - timedelta(hours=3)] * 10
    missing = [None, "C404", None, "C405", "C404"] + [None] * 10
    facts = facts.set_column(facts.schema.get_field_index("_case_accept_time"), "_case_accept_time",
                             pa.array(accepted[:len(rows)], pa.timestamp("us", tz="UTC")))
    facts = facts.set_column(facts.schema.get_field_index("_case_no_not_in_store"), "_case_no_not_in_store",
                             pa.array(missing[:len(rows)], pa.string()))
    results = assert_same(gx_validator, table, "evaluations", facts)
    assert {r["expectation"] for r in results if not r["success"]} == \
        {e.type for e in suite_for("evaluations")} - {"expect_column_min_to_be_between"}
    unique = next(r for r in results if r["expectation"] == "expect_compound_columns_to_be_unique")
    assert (unique["element_count"], unique["unexpected_count"]) == (len(rows) - 1, 4)


@pytest.mark.parametrize("stream", STREAMS)
def test_clean_stale_and_empty_batches_get_gx_figures(gx_validator, stream):
    row = _case if stream == "cases" else _evaluation
    clean = [row("K1"), row("K2", deleted=True)]
    stale = [row("K1", source_updated_at=NOW - timedelta(days=3)), row("K2", source_updated_at=NOW - timedelta(days=9))]
    missing_everything = [{name: None for name in UNIFIED_BATCH_SCHEMAS[stream].names}]
    freshness = []
    for rows in (clean, stale, missing_everything):
        table = _table(stream, rows)
        results = assert_same(gx_validator, table, stream, store_facts(None, "hrss", stream, table, now=NOW))
        freshness.append(next(r for r in results if r["expectation"] == "expect_column_min_to_be_between"))
    assert [(r["success"], r["observed_value"]) for r in freshness] == \
        [(True, freshness[0]["observed_value"]), (False, "3.00 days"), (False, "no rows")]


@pytest.mark.parametrize("pattern, text", [
    (r"^\d{6}$", "３４０６０３"), (r"^\d{6}$", "340603\n"), (r"^\d{6}$", "340603\n\n"),
    (r"(?<!\d)\d{15}(?!\d)", "x340603900307002"), (r"(?<!\d)\d{15}(?!\d)", "3406039003070021"),
])
def test_python_patterns_and_their_re2_form_agree(pattern, text):
    assert pc.match_substring_regex(pa.array([text]), re2(pattern))[0].as_py() == bool(re.search(pattern, text))
