"""Records loaded "with a data-quality finding" (unified-store.md, Outcomes): counted per run and reason into
dq_result as warnings and into the ledger's notes, shown by the auditors' report and the GX Data Docs, and
dropped with a file quarantined whole."""

import json

import pytest

from quality.data_docs import build_data_docs
from quality.report import write_report
from loaders.engine import make_engine
from tests.handmade import case_row, write_drop
from tests.hostile.test_records_contract import finding_row, ledger_findings, run_hrss, run_market
from tests.test_api_sources import market_case
from tests.test_hrss_contract import rows

pytestmark = pytest.mark.usefixtures("lenient_specs")


def test_findings_reach_dq_result_the_ledger_the_report_and_the_data_docs(store_url, tmp_path):
    result = run_market(store_url, [
        market_case("SB1", 1, SQRLX="GR", SQRMC="李小明", SQRZJLX="XX", SQRZJHM="E12345678"),
        market_case("SB2", 2, LXRSJ="12345"),  # no mobile, no landline with an area code
        market_case("SB3", 3, LXRSJ="0561-12344321"),
        market_case("SB4", 4),
    ])
    cert = finding_row(store_url, result.run_id, "cases", "unknown_cert_type")
    phone = finding_row(store_url, result.run_id, "cases", "invalid_phone")
    assert (phone["column_name"], phone["element_count"], phone["unexpected_count"], phone["severity"]) == \
        ("contact_phone_masked", 4, 1, "warning")
    assert phone["observed_value"] == "1 of 4 unexpected (25.00%)"
    assert ledger_findings(store_url, result.run_id, "cases") == {
        "unknown_cert_type": {"applicant_cert_type": 1}, "invalid_phone": {"contact_phone_masked": 1}}
    notes = json.loads(rows(store_url, "SELECT notes FROM etl_run WHERE stream = 'cases'")[0]["notes"])
    assert notes["window"]  # the run's other notes are kept beside the findings
    assert rows(store_url, "SELECT contact_phone_masked FROM service_case WHERE case_no = 'SB2'") == \
        [{"contact_phone_masked": "*****"}]

    html = write_report(make_engine(store_url), tmp_path / "report.html").read_text(encoding="utf-8")
    fid = "dq.market.cases.finding:unknown_cert_type.applicant_cert_type"
    assert f'data-figure="{fid}.unexpected">1<' in html and f'data-figure="{fid}.elements">4<' in html
    shown = html.replace("<wbr>", "")  # names may wrap after their underscores
    assert '<th class="name">finding:invalid_phone</th><th class="name">contact_phone_masked</th><td>warning</td>' in shown
    assert not cert["success"] and cert["unexpected_count"] == 1

    index = build_data_docs(store_url, tmp_path / "home")
    page = next((index.parent / "validations").rglob("market.cases.html")).read_text(encoding="utf-8")
    assert "finding unknown_cert_type: a certificate number whose type code the source" in page
    assert "finding invalid_phone: a contact phone that is neither a mobile number nor a landline" in page


def test_a_file_quarantined_whole_takes_its_findings_with_it(sqlite_url, tmp_path):
    drop = tmp_path / "drop"
    write_drop(drop, "HRSS_BJ_20261005.csv", [case_row("B1", phone="12345"), case_row("B2", phone="6")],
               trailer=9)  # the trailer does not match: nothing of this file loads
    write_drop(drop, "HRSS_BJ_20261006.csv", [case_row("G1", phone="1234", updated="2026-10-06 09:00:00"),
                                              case_row("G2", updated="2026-10-06 09:00:00")])
    result = run_hrss(sqlite_url, drop)
    phone = finding_row(sqlite_url, result.run_id, "cases", "invalid_phone")
    assert (phone["element_count"], phone["unexpected_count"]) == (2, 1)
    assert ledger_findings(sqlite_url, result.run_id, "cases") == {"invalid_phone": {"contact_phone_masked": 1}}
    # hrss sends no certificate type: no such check, no row for it
    assert rows(sqlite_url, "SELECT COUNT(*) AS n FROM dq_result WHERE expectation = 'finding:unknown_cert_type'") \
        == [{"n": 0}]
