"""The hrss simulator writes what contracts/hrss.md describes, and its faults where it says.

Headers, code values and identifier rules are spelled out here from the
contract rather than imported from the simulator, so a drift on either side
shows up as a failure.
"""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import subprocess
import sys
import time
import unicodedata
from collections import Counter, defaultdict
from datetime import date, datetime
from pathlib import Path

import pytest
from stdnum.cn import ric, uscc

from simulators import hrss
from simulators.population import build_population, service_items

BJ_HEADER = [
    "业务流水号", "办件编号", "实施编码", "事项名称", "申请人类型", "申请人名称", "证件号码", "联系电话",
    "业务来源", "申请日期", "受理日期", "办结日期", "办理状态", "承诺时限(天)", "收费金额(元)", "更新时间",
]
PJ_HEADER = ["评价流水号", "办件编号", "评价分值", "评价渠道", "是否默认好评", "评价意见", "评价时间"]
STATUSES = ("待受理", "已受理", "办理中", "补正", "已办结", "不予受理", "已退回", "已作废")
TERMINAL = ("已办结", "不予受理", "已退回", "已作废")
RANK = {"待受理": 0, "已受理": 1, "办理中": 2, "补正": 2, **{s: 3 for s in TERMINAL}}
EVAL_CHANNELS = ("网厅", "掌上人社", "扫码", "评价器", "自助机", "12333", "短信")
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
FILE_NAME = re.compile(r"^HRSS_(BJ|PJ)_(\d{8})(?:_R(\d+))?\.csv$")
MOBILE = re.compile(r"^1[3-9]\d{9}$")
LANDLINE = re.compile(r"^0561-\d{8}$")
SMALL = 2000  # cases per month in most tests


# --- reading a drop the way the contract describes it -------------------------


def parse_time(text: str) -> datetime | None:
    if text == "":
        return None
    for pattern, fmt in (
        (r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", "%Y-%m-%d %H:%M:%S"),
        (r"\d{4}/\d{1,2}/\d{1,2} \d{1,2}:\d{2}", "%Y/%m/%d %H:%M"),
        (r"\d{4}-\d{2}-\d{2}", "%Y-%m-%d"),
    ):
        if re.fullmatch(pattern, text):
            return datetime.strptime(text, fmt)
    raise ValueError(f"date form not allowed: {text!r}")


def time_ok(text: str) -> bool:
    try:
        parse_time(text)
        return True
    except ValueError:
        return False


def normalize_cert(text: str) -> str:
    n = unicodedata.normalize("NFKC", text.strip()).upper()
    if re.fullmatch(r"\d{15}", n):
        first17 = n[:6] + "19" + n[6:]
        n = first17 + ric.calc_check_digit(first17 + "0")
    return n


def id_shaped(n: str) -> bool:
    return bool(re.fullmatch(r"\d{17}[\dX]", n))


def id_valid(n: str) -> bool:
    """GB 11643 checksum (stdnum's arithmetic) and a real birth date, for every prefix."""
    if not id_shaped(n) or n[-1] != ric.calc_check_digit(n):
        return False
    try:
        born = date(int(n[6:10]), int(n[10:12]), int(n[12:14]))
    except ValueError:
        return False
    if not date(1900, 1, 1) <= born <= date(2026, 12, 31):
        return False
    # stdnum's place table dates area codes by birth year, so its full check
    # only applies to mainland numbers of people born after the codes existed.
    return ric.is_valid(n) if n[0] in "123456" and born.year >= 1998 else True


def uscc_valid(n: str) -> bool:
    if len(n) != 18 or any(c not in USCC_ALPHABET for c in n):
        return False
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(n, USCC_WEIGHTS))
    if n[-1] != USCC_ALPHABET[(31 - total % 31) % 31]:
        return False
    # stdnum is right for digit-prefixed codes (it wrongly rejects N…/A…/Y…).
    return uscc.is_valid(n) if n[:2].isdigit() else True


class Drop:
    """One data file as read back: bytes, header, data records, trailer."""

    def __init__(self, path: Path):
        self.path, self.name = path, path.name
        self.kind = FILE_NAME.match(path.name).group(1)
        self.raw = path.read_bytes()
        self.text = self.raw.decode("gb18030", "surrogateescape")
        rows = list(csv.reader(io.StringIO(self.text, newline="")))
        self.header, body = rows[0], rows[1:]
        self.trailer = None
        if body and len(body[-1]) == 2 and body[-1][0] == "合计":
            self.trailer, body = body[-1][1], body[:-1]
        self.records = body

    @property
    def width(self) -> int:
        return len(BJ_HEADER) if self.kind == "BJ" else len(PJ_HEADER)

    def decodes(self) -> bool:
        try:
            self.raw.decode("gb18030")
            return True
        except UnicodeDecodeError:
            return False


def drops(folder: Path) -> dict[str, Drop]:
    return {p.name: Drop(p) for p in sorted(folder.glob("HRSS_*.csv"))}


def problems(kind: str, rec: list[str]) -> set[str]:
    """What the contract would reject in one record."""
    found = set()
    if any("\udc80" <= c <= "\udcff" for f in rec for c in f):
        found.add("undecodable")
    if len(rec) != (len(BJ_HEADER) if kind == "BJ" else len(PJ_HEADER)):
        return found | {"wrong_field_count"}
    if kind == "BJ":
        if rec[4] not in ("1", "2") or rec[8] not in ("1", "2", "3", "4", "5") or rec[12] not in STATUSES:
            found.add("unknown_code")
        if not all(time_ok(rec[i]) for i in (9, 10, 11, 15)):
            found.add("bad_date")
        cert = normalize_cert(rec[6])
        if rec[4] == "2" and (id_shaped(cert) or re.fullmatch(r"\d{15}", cert)) and not id_valid(cert):
            found.add("invalid_id")
        if rec[4] == "1" and not uscc_valid(cert):
            found.add("invalid_uscc")
    else:
        if rec[2] not in ("1", "2", "3", "4", "5") or rec[3] not in EVAL_CHANNELS + ("",) or rec[4] not in ("Y", "N"):
            found.add("unknown_code")
        if not time_ok(rec[6]):
            found.add("bad_date")
    return found


def crlf_outside_quotes(text: str) -> bool:
    quoted = False
    for i, c in enumerate(text):
        if c == '"':
            quoted = not quoted
        elif not quoted and c == "\n" and (i == 0 or text[i - 1] != "\r"):
            return False
        elif not quoted and c == "\r" and text[i + 1: i + 2] != "\n":
            return False
    return text.endswith("\r\n")


# --- fixtures -------------------------------------------------------------------


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clean")
    return hrss.write_month(folder, "2026-10", seed=7, cases_per_month=SMALL), drops(folder)


@pytest.fixture(scope="module")
def faulty(tmp_path_factory):
    folder = tmp_path_factory.mktemp("faulty")
    m = hrss.write_month(folder, "2026-10", seed=7, cases_per_month=SMALL, faults=hrss.FAULTS)
    return m, drops(folder)


# --- population -----------------------------------------------------------------


def test_population_has_valid_identifiers_and_varied_names():
    pop = build_population(7)
    ids = [p for p in pop.persons if p.cert_type == "111"]
    assert all(id_valid(p.cert_no) for p in ids)
    assert all(1940 <= p.birth.year <= 2006 and p.cert_no[6:14] == f"{p.birth:%Y%m%d}" for p in ids)
    # stdnum's place table dates codes by birth year, so it is right for those born after 1998.
    ordinary = [p.cert_no for p in ids if p.cert_no[0] == "3" and p.birth.year >= 1998]
    assert ordinary and all(ric.is_valid(n) for n in ordinary[::5])
    areas = Counter(p.cert_no[:6] for p in ids)
    assert areas.most_common(1)[0][0] == "340603"
    assert {"340602", "340604", "340621"} <= set(areas) and any(a[:4] not in ("3406",) for a in areas)
    assert sum(areas[a] for a in ("810000", "820000", "830000")) > len(ids) * 0.005
    assert all(MOBILE.match(p.mobile) for p in pop.persons)
    assert all(LANDLINE.match(p.landline) for p in pop.persons if p.landline)
    names = [p.name for p in pop.persons]
    lengths = Counter(len(n) for n in names if "·" not in n)
    assert lengths[2] > 1000 and lengths[3] > 10000 and lengths[4] > 50
    assert any(n.startswith("欧阳") for n in names) and any("·" in n for n in names)
    for n in names:
        n.encode("gb18030")

    prefixes = Counter(u.uscc[:2] for u in pop.units)
    assert prefixes.most_common(1)[0][0] == "91"
    assert {"92", "12", "11", "51", "52"} <= set(prefixes)
    assert any(p[0] in "NAY" for p in prefixes)
    assert all(uscc_valid(u.uscc) for u in pop.units)
    assert sum(u.uscc[2:8] == "340603" for u in pop.units) > len(pop.units) / 2
    owners = [u for u in pop.units if u.kind == "individual"]
    assert owners and all(u.uscc.startswith("92") and u.name == pop.persons[u.owner].name for u in owners)


def test_population_is_fast_and_deterministic():
    started = time.perf_counter()
    fresh = build_population.__wrapped__(seed=7, persons=50_000)  # bypasses the cache
    assert time.perf_counter() - started < 8
    assert fresh == build_population(7)
    assert build_population.__wrapped__(seed=8, persons=1000).persons != fresh.persons[:1000]


def test_service_items_have_31_character_codes():
    items = service_items("hrss")
    names = {i.name for i in items}
    assert {"社会保障卡申领", "失业保险金申领", "城乡居民养老保险参保登记", "就业登记", "职业资格证书核发"} <= names
    for item in items:
        assert len(item.impl_code) == 31
        assert uscc_valid(item.impl_code[:18]) and item.impl_code[18] in "1234567"
        assert item.impl_code[:2] in ("11", "12") and item.impl_code[19:].isalnum()


# --- files as the contract describes them ----------------------------------------------


def test_every_day_has_both_files_with_markers(clean):
    manifest, files = clean
    days = [date(2026, 10, d) for d in range(1, 32)]
    assert sorted(files) == sorted(f"HRSS_{k}_{d:%Y%m%d}.csv" for d in days for k in ("BJ", "PJ"))
    for name in files:
        marker = manifest.folder / (name + ".ok")
        assert marker.is_file() and marker.stat().st_size == 0
    assert not any(p.name.endswith(".ok") and p.name[:-3] not in files for p in manifest.folder.iterdir())


def test_files_are_gb18030_crlf_with_exact_header_and_trailer(clean):
    manifest, files = clean
    for name, f in files.items():
        assert not f.raw.startswith((b"\xef\xbb\xbf", b"\x84\x31\x95\x33")), name
        assert f.decodes(), name
        assert crlf_outside_quotes(f.text), name
        assert f.header == (BJ_HEADER if f.kind == "BJ" else PJ_HEADER), name
        assert f.text.endswith(f"\r\n合计,{len(f.records)}\r\n"), name
        assert manifest.file(name).records == len(f.records) == manifest.file(name).trailer
        assert all(len(r) == f.width for r in f.records), name
    # Multi-line comments must not fool a line count: the csv count is what the trailer means.
    assert any(f.text.count("\r\n") - 2 != len(f.records) for f in files.values())


def test_records_hold_allowed_codes_dates_and_valid_identifiers(clean):
    _, files = clean
    for name, f in files.items():
        day = datetime.strptime(FILE_NAME.match(name).group(2), "%Y%m%d").date()
        for rec in f.records:
            assert problems(f.kind, rec) == set(), (name, rec)
            stamp = parse_time(rec[15] if f.kind == "BJ" else rec[6])
            assert stamp.date() == day, (name, rec)


def test_records_carry_the_contract_quirks(clean):
    _, files = clean
    bj = [r for f in files.values() if f.kind == "BJ" for r in f.records]
    certs = [r[6] for r in bj if r[4] == "2"]
    assert any(re.fullmatch(r"\d{15}", c) for c in certs), "legacy 15-digit IDs"
    assert any(c.endswith("x") for c in certs), "lower-case x"
    assert any(re.search("[０-９]", c) for c in certs), "full-width digits"
    assert any(c != c.strip() for c in certs), "surrounding blanks"
    assert any(not id_shaped(normalize_cert(c)) for c in certs), "other personal certificates (999)"
    assert any(normalize_cert(c)[:2] in ("81", "82", "83") for c in certs), "residence permits"
    phones = [r[7] for r in bj]
    assert any(LANDLINE.match(p) for p in phones) and any(MOBILE.match(p) for p in phones)
    assert any(p == "" for p in phones)
    assert any(r[14] == "" for r in bj) and any(r[14] not in ("", "0", "0.00") for r in bj)
    assert any(r[13] == "" and r[3] != "" for r in bj) and any(r[13].isdigit() and int(r[13]) > 0 for r in bj)
    forms = Counter(
        "full" if re.fullmatch(r"\S+ \d\d:\d\d:\d\d", r[15]) else "short" if "/" in r[15] else "date" for r in bj
    )
    assert forms["full"] > 0.8 * len(bj) and forms["short"] > 0 and forms["date"] > 0
    units = [r for r in bj if r[4] == "1"]
    assert units and any(r[6].startswith("92") for r in units)


def test_cases_follow_a_plausible_lifecycle(clean):
    manifest, files = clean
    history = defaultdict(list)
    for name in sorted(files):
        if files[name].kind == "BJ":
            for rec in files[name].records:
                history[rec[1]].append(rec)
    statuses, channels = Counter(), Counter()
    for case_no, rows in history.items():
        updates = [parse_time(r[15]) for r in rows]
        assert updates == sorted(updates) and len(set(u.date() for u in updates)) == len(rows), case_no
        ranks = [RANK[r[12]] for r in rows]
        assert ranks == sorted(ranks), case_no
        assert all(r[12] not in TERMINAL for r in rows[:-1]), case_no
        for r in rows:
            applied, accepted, finished, updated = (parse_time(r[i]) for i in (9, 10, 11, 15))
            assert applied <= updated and all(t is None or applied <= t <= updated for t in (accepted, finished))
            assert (finished is not None) == (r[12] == "已办结"), case_no
        statuses[rows[-1][12]] += 1
        channels[rows[0][8]] += 1
    assert set(TERMINAL) | {"办理中"} <= set(statuses)
    assert statuses["已办结"] > 0.7 * sum(statuses.values())
    assert channels["1"] > 0.3 * sum(channels.values()) and channels["1"] + channels["2"] > 0.6 * sum(channels.values())
    assert all(channels[c] > 0 for c in ("3", "4", "5"))
    applied_in_month = {c for c, rows in history.items() if parse_time(rows[0][9]).month == 10}
    assert len(applied_in_month) == manifest.cases_applied == SMALL


def completed_and_evaluated(files: dict[str, Drop], last_finish: date) -> tuple[set, set]:
    completed, evaluated = set(), set()
    for f in files.values():
        for rec in f.records:
            if f.kind == "BJ" and rec[12] == "已办结" and parse_time(rec[11]).date() <= last_finish:
                completed.add(rec[1])
            elif f.kind == "PJ":
                evaluated.add(rec[1])
    return completed, evaluated


def test_evaluations_look_like_a_service_hall(clean):
    _, files = clean
    completed, evaluated = completed_and_evaluated(files, date(2026, 10, 23))
    assert len(completed & evaluated) >= 0.98 * len(completed)
    pj = [r for f in files.values() if f.kind == "PJ" for r in f.records]
    assert len({r[0] for r in pj}) == len(pj)
    defaults = [r for r in pj if r[4] == "Y"]
    assert 0.2 * len(pj) < len(defaults) < 0.8 * len(pj) and all(r[2] == "5" for r in defaults)
    scores = Counter(r[2] for r in pj if r[4] == "N")
    assert scores["5"] + scores["4"] > 0.85 * sum(scores.values()) and scores["1"] + scores["2"] > 0
    comments = [r[5] for r in pj]
    assert any("\n" in c for c in comments) and any("," in c for c in comments)
    assert any(re.search(r"(?<!\d)1[3-9]\d{9}(?!\d)", c) for c in comments)
    assert any(re.search(r"(?<!\d)\d{17}[\dX](?!\d)", c) for c in comments)
    assert {r[3] for r in pj if r[4] == "N"} >= {"网厅", "掌上人社", "评价器", "扫码"}


def test_a_default_month_has_20000_cases_nearly_all_evaluated(tmp_path):
    manifest = hrss.write_month(tmp_path, "2026-10", seed=7)
    files = drops(tmp_path)
    assert manifest.cases_applied == 20_000
    applied = {r[1] for f in files.values() if f.kind == "BJ" for r in f.records if parse_time(r[9]).month == 10}
    assert len(applied) == 20_000
    completed, evaluated = completed_and_evaluated(files, date(2026, 10, 23))
    assert len(completed) > 10_000 and len(completed & evaluated) >= 0.98 * len(completed)


# --- determinism ------------------------------------------------------------------


def folder_bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_same_arguments_give_byte_identical_files(tmp_path):
    a = hrss.write_month(tmp_path / "a", "2026-10", seed=7, cases_per_month=500, faults=hrss.FAULTS)
    b = hrss.write_month(tmp_path / "b", "2026-10", seed=7, cases_per_month=500, faults=hrss.FAULTS)
    assert folder_bytes(tmp_path / "a") == folder_bytes(tmp_path / "b")
    assert a.injected == b.injected and a.late == b.late
    # Another process with another string-hash seed must agree too.
    subprocess.run(
        [sys.executable, "-m", "simulators.hrss", "--out", str(tmp_path / "c"), "--seed", "7",
         "--cases-per-month", "500", "--fault", "all"],
        check=True, capture_output=True, cwd=Path(hrss.__file__).parents[1],
        env={**os.environ, "PYTHONHASHSEED": "12345"},
    )
    assert folder_bytes(tmp_path / "c") == folder_bytes(tmp_path / "a")
    assert {p.name: p.stat().st_mtime for p in (tmp_path / "c").iterdir()} == {
        p.name: p.stat().st_mtime for p in (tmp_path / "a").iterdir()}


def test_a_day_written_alone_equals_that_day_in_the_month(clean, tmp_path):
    manifest, _ = clean
    hrss.write_day(tmp_path, "2026-10-12", seed=7, cases_per_month=SMALL)
    for name in ("HRSS_BJ_20261012.csv", "HRSS_PJ_20261012.csv"):
        assert (tmp_path / name).read_bytes() == (manifest.folder / name).read_bytes()


def test_consecutive_months_continue_the_same_cases(clean, tmp_path):
    manifest, files = clean
    hrss.write_month(tmp_path, "2026-11", seed=7, cases_per_month=SMALL)
    november = drops(tmp_path)
    october_last = {r[1]: r for f in files.values() if f.kind == "BJ" for r in f.records}
    carried = [r for f in november.values() if f.kind == "BJ" for r in f.records if r[1] in october_last]
    assert carried, "cases applied in October go on changing in November"
    for r in carried:
        assert parse_time(r[15]) > parse_time(october_last[r[1]][15])
        assert r[2:10] == october_last[r[1]][2:10]


# --- faults -----------------------------------------------------------------------


def test_every_fault_is_injected_and_listed(faulty):
    manifest, _ = faulty
    assert {r.fault for r in manifest.injected + manifest.late} == set(hrss.FAULTS)


def test_row_faults_are_exactly_where_the_manifest_says(faulty):
    manifest, files = faulty
    whole_file = {r.file for r in manifest.injected if r.record is None and r.fault in hrss.FILE_FAULTS}
    expected = {(r.file, r.record): r for r in manifest.injected if r.fault in hrss.ROW_FAULTS}
    counts = Counter(r.fault for r in expected.values())
    assert all(counts[f] >= 1 for f in hrss.ROW_FAULTS)
    for name, f in files.items():
        if name in whole_file:
            continue
        for i, rec in enumerate(f.records, 1):
            found = problems(f.kind, rec)
            want = expected.get((name, i))
            assert found == ({want.fault} if want else set()), (name, i, rec, want)
            if want:
                assert want.key == rec[0 if f.kind == "PJ" else 1]
        assert f.decodes() == (not any(r.fault == "undecodable" for r in manifest.in_file(name)))


def test_file_faults_are_exactly_where_the_manifest_says(faulty):
    manifest, files = faulty
    by_fault = defaultdict(set)
    for r in manifest.injected:
        if r.fault in hrss.FILE_FAULTS:
            by_fault[r.fault].add(r.file)
    assert all(by_fault[f] for f in hrss.FILE_FAULTS)
    for name, f in files.items():
        assert (f.header != (BJ_HEADER if f.kind == "BJ" else PJ_HEADER)) == (name in by_fault["bad_header"])
        assert (f.trailer is None) == (name in by_fault["no_trailer"])
        off = f.trailer is not None and int(f.trailer) != len(f.records)
        assert off == (name in by_fault["bad_trailer"])
        if off:
            assert abs(int(f.trailer) - len(f.records)) == 1
        has_marker = (manifest.folder / (name + ".ok")).exists()
        assert has_marker == (name not in by_fault["missing_ok"]) == manifest.file(name).marker


def test_redelivery_is_the_full_corrected_day_minus_one_key(faulty):
    manifest, files = faulty
    notes = manifest.of("redelivery")
    corrections = sorted({r.file for r in notes})
    assert [n[-7:] for n in corrections] == ["_R1.csv"] * 2 and corrections[0][:8] == "HRSS_BJ_"
    for name in corrections:
        r1 = files[name]
        original = files[name.replace("_R1", "")]
        assert (manifest.folder / (name + ".ok")).is_file()
        assert r1.header == original.header and r1.trailer == str(len(r1.records))
        key = 1 if r1.kind == "BJ" else 0
        before = {r[key]: r for r in original.records}
        after = {r[key]: r for r in r1.records}
        missing = [r.key for r in notes if r.file == name and r.record is None]
        assert set(before) - set(after) == set(missing) and len(missing) == 1
        assert set(after) <= set(before)
        changed = {k for k in after if after[k] != before[k]}
        listed = {r.key for r in notes if r.file == name and r.record is not None}
        assert changed == listed and changed
        for r in notes:
            if r.file == name and r.record is not None:
                assert r1.records[r.record - 1][key] == r.key
        stamp = 15 if r1.kind == "BJ" else 6
        for k in changed:
            assert parse_time(after[k][stamp]) >= parse_time(before[k][stamp])
            assert problems(r1.kind, after[k]) == set()
        if r1.kind == "BJ":
            assert any(parse_time(after[k][15]) > parse_time(before[k][15]) for k in changed)
            assert any(after[k][15] == before[k][15] for k in changed)


def test_late_drops_repeat_or_change_an_archived_file(tmp_path):
    manifest = hrss.write_month(tmp_path, "2026-10", seed=7, cases_per_month=300,
                                faults={"duplicate_drop", "changed_file"})
    assert {r.fault for r in manifest.late} == {"duplicate_drop", "changed_file"}
    archive = tmp_path / "archive"
    archive.mkdir()
    for p in list(tmp_path.glob("HRSS_*")):
        shutil.move(p, archive / p.name)
    written = hrss.write_late_drops(tmp_path, manifest)
    assert sorted(p.name for p in written) == sorted(r.file for r in manifest.late)
    for r in manifest.late:
        new, old = tmp_path / r.file, archive / r.file
        assert (tmp_path / (r.file + ".ok")).is_file()
        if r.fault == "duplicate_drop":
            assert new.read_bytes() == old.read_bytes()
        else:
            a, b = Drop(old), Drop(new)
            assert new.read_bytes() != old.read_bytes()
            assert b.decodes() and b.header == a.header and b.trailer == str(len(b.records)) == a.trailer
            assert sum(x != y for x, y in zip(a.records, b.records)) == 1
            assert crlf_outside_quotes(b.text)


def test_redrop_refuses_a_file_that_was_never_dropped(tmp_path):
    with pytest.raises(FileNotFoundError, match="HRSS_BJ_20261001.csv"):
        hrss.redrop(tmp_path, "HRSS_BJ_20261001.csv")


def test_unknown_fault_names_are_refused(tmp_path):
    with pytest.raises(ValueError, match="missing_ok"):
        hrss.write_month(tmp_path, faults={"missing_marker"})


def test_row_faults_follow_the_fault_rate(tmp_path):
    manifest = hrss.write_month(tmp_path, "2026-10", seed=7, cases_per_month=SMALL,
                                faults={"bad_date"}, fault_rate=0.02)
    records = sum(f.records for f in manifest.files)
    assert len(manifest.of("bad_date")) == round(0.02 * records)


# --- bulk and command line ---------------------------------------------------------


def test_bulk_writes_the_requested_number_of_valid_rows(tmp_path):
    f = hrss.write_bulk(tmp_path, rows=20_000, seed=7, day="2026-10-31", chunk_rows=7_000)
    drop = Drop(tmp_path / f.name)
    assert f.name == "HRSS_BJ_20261031.csv" and (tmp_path / (f.name + ".ok")).is_file()
    assert drop.decodes() and crlf_outside_quotes(drop.text) and drop.header == BJ_HEADER
    assert len(drop.records) == f.records == 20_000 and drop.trailer == "20000"
    assert len({r[1] for r in drop.records}) == 20_000
    for rec in drop.records[::97]:
        assert problems("BJ", rec) == set(), rec
        applied, accepted, finished, updated = (parse_time(rec[i]) for i in (9, 10, 11, 15))
        assert applied <= updated and all(t is None or applied <= t <= updated for t in (accepted, finished))


def test_command_line_writes_a_month_and_a_bulk_file(tmp_path, capsys):
    assert hrss.main(["--out", str(tmp_path / "m"), "--cases-per-month", "300", "--fault", "bad_trailer",
                      "--manifest", str(tmp_path / "manifest.json")]) == 0
    assert len(list((tmp_path / "m").glob("*.csv"))) == 62
    assert "bad_trailer" in capsys.readouterr().out
    assert '"bad_trailer"' in (tmp_path / "manifest.json").read_text(encoding="utf-8")
    assert hrss.main(["--out", str(tmp_path / "b"), "--bulk-rows", "1000"]) == 0
    assert "1000 rows" in capsys.readouterr().out
    assert hrss.main(["--out", str(tmp_path / "x"), "--fault", "nonsense"]) == 2
    assert "nonsense" in capsys.readouterr().err
