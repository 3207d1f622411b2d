"""While both paths exist: the columnar unify gives what the per-record unify gave, column by column, on every
batch of each department's simulated month (faults on), apart from the contract fixes it makes."""

from datetime import datetime, timezone

import pyarrow as pa
import pytest

import pipeline.staging
from pipeline.config import Settings
from pipeline.runner import run_source
from transforms.columnar import unify_columnar
from transforms.unify import unify

pytestmark = pytest.mark.usefixtures("lenient_specs")
MONTH = "2026-10"
WINDOW = (datetime(2026, 9, 1, tzinfo=timezone.utc), datetime(2026, 11, 30, tzinfo=timezone.utc))
# Findings the per-record path did not count (it quarantined those records: see test_columnar_contract_fixes).
NEW_FINDINGS = {"unknown_case_type", "unknown_promise_unit", "unknown_deleted_flag", "unknown_default_flag"}


@pytest.fixture
def compared(monkeypatch):
    """Every batch a run unifies goes through both paths; the run goes on with the columnar result."""
    batches = []

    def both(batch, ctx, held_elsewhere=None):
        old, new = unify(batch, ctx, held_elsewhere), unify_columnar(batch, ctx, held_elsewhere)
        _same(batch, old, new, ctx)
        batches.append(batch.num_rows)
        return new

    monkeypatch.setattr(pipeline.staging, "unify_columnar", both)
    return batches


def _same(batch, old, new, ctx):
    """Equal, but for records the per-record path quarantined for an unknown case type, promise unit, deletion
    or default flag: the columnar path loads those (contract fix, see test_columnar_contract_fixes)."""
    where = f"{ctx.source} {ctx.stream} {ctx.location}"
    fixed = [r for r in old.rejects if r.reason == "unknown_code" and any(
        f"({field})" in r.detail for field in ("case_type", "promise_unit", "deleted", "is_default"))]
    numbers = batch.column("_record_no").to_pylist()
    old_out, new_out = {r.record_no for r in old.rejects}, {r.record_no for r in new.rejects}
    fixed_numbers = {r.record_no for r in fixed}  # loaded now, or quarantined for a check read later
    assert new_out <= old_out and old_out - new_out <= fixed_numbers, where
    # Rows keep the batch's order: the new rows of the records both paths loaded are the old rows.
    new_loaded = [n for n in numbers if n not in new_out]
    both = pa.array([i for i, n in enumerate(new_loaded) if n not in old_out], pa.int64())
    new_rows = new.rows.take(both)
    assert new_rows.schema == old.rows.schema, where
    for name in old.rows.column_names:
        assert new_rows.column(name).equals(old.rows.column(name)), f"{where}: column {name} differs"
    assert [vars(r) for r in new.rejects if r.record_no not in fixed_numbers] == \
        [vars(r) for r in old.rejects if r not in fixed], where
    if not fixed:
        assert {k: v for k, v in new.findings.items() if k[0] not in NEW_FINDINGS} == old.findings, where


def test_hrss_month(tmp_path, store_url, compared):
    from simulators.hrss import ROW_FAULTS, write_month

    write_month(tmp_path / "hrss", MONTH, seed=7, cases_per_month=1500, faults=set(ROW_FAULTS), fault_rate=0.05)
    result = run_source("hrss", Settings.resolve(store_url=store_url, folders={"hrss": tmp_path / "hrss"}))
    assert result.streams["cases"].extracted > 1200 and sum(compared) == sum(
        s.extracted for s in result.streams.values())


def test_police_month(tmp_path, store_url, compared):
    from simulators.police_outbox import write_month

    write_month(tmp_path / "police", MONTH, seed=7, batches_per_day=1, cases_per_day=10)
    result = run_source("police", Settings.resolve(store_url=store_url, folders={"police": tmp_path / "police"}))
    assert result.streams["cases"].extracted > 200 and compared


def test_medins_month(tmp_path, store_url, compared):
    from simulators import medins_db

    url = f"sqlite:///{tmp_path / 'medins.db'}"
    medins_db.generate_month(url=url, month=MONTH, seed=7, cases_per_month=600)
    settings = Settings.resolve(store_url=store_url, connections={"silobridge_medins": {"uri": url}})
    result = run_source("medins", settings)
    assert result.streams["cases"].extracted > 400 and compared


def test_market_and_tax_months(store_url, compared):
    from simulators.market_api import MarketApi, month_records
    from simulators.tax_api import TaxApi, month_cases

    cases, evaluations = month_records(MONTH, 7, cases_per_month=600)
    market, tax = MarketApi(cases, evaluations), TaxApi(month_cases(MONTH, 7, cases_per_month=400))
    with market.serve() as m, tax.serve() as t:
        connections = {
            "silobridge_market": {"uri": f"http://{market.client_id}:{market.client_secret}@{m.url.removeprefix('http://')}"},
            "silobridge_tax": {"uri": f"http://{tax.app_id}:{tax.app_secret}@{t.url.removeprefix('http://')}"},
        }
        settings = Settings.resolve(store_url=store_url, connections=connections)
        for source in ("market", "tax"):
            result = run_source(source, settings, window=WINDOW)
            assert result.streams["cases"].extracted > 200, source
    assert compared


def test_small_batches_and_empty_ones_agree():
    from pipeline.specs import load_specs
    from transforms.records import Context
    from datetime import date

    spec = load_specs()["hrss"]
    s = spec.streams["cases"]
    ctx = Context(source="hrss", stream="cases", fields=s.fields, codes=s.codes, options=s.options,
                  time_formats=spec.time_formats, pii_key=b"k", location="f", delivery_prefix="20261005.000",
                  today=date(2026, 10, 5), width=len(s.columns))
    empty = pa.RecordBatch.from_pydict({"_record_no": pa.array([], pa.int64()),
                                        **{c: pa.array([], pa.string()) for c in s.columns}})
    _same(empty, unify(empty, ctx), unify_columnar(empty, ctx), ctx)
