"""police.md through the whole pipeline: batches loaded or quarantined whole, gaps, precedence, no clear numbers."""

import pytest
from datetime import date

from pipeline.config import Settings
from pipeline.runner import run_source
from simulators.police_outbox import CData, write_batch
from tests.handmade import PERSON_ID, PERSON_ID_15, USCC
from tests.test_hrss_contract import ledger_balances, rows

# Their drops are small and bad on purpose; the error limit has its own tests.
pytestmark = pytest.mark.usefixtures("lenient_specs")

DAY = date(2026, 10, 5)


def case(no: str, **fields) -> dict:
    return {"BJBH": no, "SXBM": "11340603MB1234567X1000123456789", "SXMC": CData("居住证签注 & 换领"), "SQRLX": "1",
            "SQRXM": "李四", "ZJLX": "111", "ZJHM": PERSON_ID, "LXDH": "13812345678", "QD": "CK",
            "SQSJ": "2026-10-05T09:00:00+08:00", "SLSJ": "2026-10-05T09:10:00+08:00", "BJSJ": "", "BJZT": "01",
            "CNQX": "5", "SLDW": "11340603003000000X", "GXSJ": "2026-10-05T09:10:00+08:00", **fields}


def evaluation(no: str, case_no: str, **fields) -> dict:
    return {"PJBH": no, "BJBH": case_no, "MYD": "B", "PJQD": "2", "MRPJ": "0", "PJNR": "好", "PJRZJHM": PERSON_ID,
            "PJSJ": "2026-10-05T12:00:00+08:00", **fields}


def run(store_url, folder):
    return run_source("police", Settings.resolve(store_url=store_url, folders={"police": folder}))


def test_batches_load_with_gaps_reported_and_bad_batches_quarantined_whole(store_url, tmp_path):
    out = tmp_path / "outbox"
    write_batch(out, 1, DAY, [case("GA1"), case("GA2", ZJHM=PERSON_ID_15, SQRLX="2", ZJLX="001")], [],
                generated="2026-10-05T18:00:00+08:00", bom=True)
    write_batch(out, 2, DAY, [case("GA3")], [evaluation("P1", "GA1")], faults=("corrupt",))
    write_batch(out, 4, DAY, [case("GA1", BJZT="03", BJSJ="2026-10-06T10:00:00+08:00",
                                   GXSJ="2026-10-06T10:00:00+08:00")],
                [evaluation("P1", "GA1", MYD="E", MRPJ="1")], generated="2026-10-06T18:00:00+08:00")
    result = run(store_url, out)

    cases = {r["case_no"]: r for r in rows(store_url, "SELECT * FROM service_case")}
    assert set(cases) == {"GA1"}  # GA2's 15 digits upgraded are no USCC; GA3's batch was corrupt
    assert cases["GA1"]["status"] == "completed" and cases["GA1"]["item_name"] == "居住证签注 & 换领"
    assert cases["GA1"]["applicant_cert_masked"] == "340603********0022"
    rejects = {r["location"] if r["kind"] == "file" else r["record_key"]: r["reason"]
               for r in rows(store_url, "SELECT * FROM etl_reject")}
    assert rejects == {"GA2": "invalid_uscc", "GA_20261005_000002.xml": "checksum_mismatch"}
    assert (result.notes["gaps"], result.notes["missing_batches"]) == (["000002–000003"], 2)
    evaluation_row = rows(store_url, "SELECT * FROM service_evaluation")[0]
    assert (evaluation_row["score"], evaluation_row["is_default"], evaluation_row["channel"]) == (1, True, None)
    assert evaluation_row["evaluator_key"] == cases["GA1"]["applicant_key"]
    ledger_balances(store_url)

    # A good re-delivery of the quarantined batch, and the missing one, close the gaps.
    write_batch(out, 2, DAY, [case("GA3")], [])
    write_batch(out, 3, DAY, [case("GA4")], [])
    result = run(store_url, out)
    assert "gaps" not in result.notes
    assert {r["case_no"] for r in rows(store_url, "SELECT case_no FROM service_case")} == {"GA1", "GA3", "GA4"}


def test_a_repeated_batch_loads_once_and_a_changed_one_is_quarantined(store_url, tmp_path):
    out = tmp_path / "outbox"
    write_batch(out, 7, DAY, [case("GA1")], [])
    run(store_url, out)
    write_batch(out, 7, DAY, [case("GA1")], [])
    second = run(store_url, out)
    assert second.files[0]["outcome"] == "already_processed"
    write_batch(out, 7, DAY, [case("GA1", BJZT="03")], [])
    run(store_url, out)
    assert [r["reason"] for r in rows(store_url, "SELECT reason FROM etl_reject")] == ["batch_changed"]
    write_batch(out, 8, DAY, [case("GA8")], [], faults=("corrupt",))
    run(store_url, out)
    write_batch(out, 8, DAY, [case("GA8")], [], faults=("corrupt",))  # the same bad batch once more
    assert run(store_url, out).files[0]["outcome"] == "already_processed"
    assert [r["reason"] for r in rows(store_url, "SELECT reason FROM etl_reject ORDER BY reject_id")] == \
        ["batch_changed", "checksum_mismatch"]
    assert rows(store_url, "SELECT status FROM service_case") == [{"status": "accepted"}]


def test_certificate_numbers_appear_nowhere_in_clear(store_url, tmp_path):
    out = tmp_path / "outbox"
    write_batch(out, 1, DAY, [case("GA1"), case("GA2", ZJHM="340603199003070023")],  # the second fails its check
                [evaluation("P1", "GA1", PJNR=f"我的身份证{PERSON_ID}")])
    write_batch(out, 2, DAY, [case("GA3")], [], faults=("wrong_counts",))
    run(store_url, out)
    numbers = (PERSON_ID, PERSON_ID_15, "340603199003070023")
    for table in ("service_case", "service_evaluation", "etl_reject", "etl_run", "etl_watermark"):
        for row in rows(store_url, f"SELECT * FROM {table}"):
            for column, value in row.items():
                if isinstance(value, str):
                    assert not any(n in value for n in numbers), (table, column, value)
    # The quarantined record's raw form, decrypted, holds the pseudonym, not the number.
    from pipeline.config import Settings as S

    cipher = S.resolve(store_url=store_url).cipher
    raw = [cipher.decrypt(bytes(r["raw_encrypted"])).decode() for r in
           rows(store_url, "SELECT raw_encrypted FROM etl_reject WHERE kind = 'record'")]
    assert raw and all("340603199003070023" not in r for r in raw)
    assert {r["reason"] for r in rows(store_url, "SELECT reason FROM etl_reject")} == {"invalid_id_card", "count_mismatch"}
    assert USCC not in "".join(raw)


def test_only_a_declared_id_card_number_is_upgraded_from_15_digits_before_keying(store_url, tmp_path):
    # unified-store.md upgrades a 15-digit *ID* number; another certificate's 15 digits are keyed as sent, as
    # every other department keys them, so the same number gets the same key everywhere.
    import hmac

    from tests.conftest import TEST_PII_KEY

    out = tmp_path / "outbox"
    write_batch(out, 1, DAY, [case("GA1", ZJLX="111", ZJHM=PERSON_ID_15), case("GA2", ZJLX="414", ZJHM=PERSON_ID_15),
                              case("GA3", SQRLX="6", SQRXM="某厂", ZJLX="099", ZJHM=PERSON_ID_15)], [])
    run(store_url, out)
    keys = {r["case_no"]: r["applicant_key"] for r in rows(store_url, "SELECT * FROM service_case")}

    def keyed(number: str) -> str:
        return hmac.digest(TEST_PII_KEY.encode(), number.encode(), "sha256").hex()

    assert keys == {"GA1": keyed(PERSON_ID), "GA2": keyed(PERSON_ID_15), "GA3": keyed(PERSON_ID_15)}
