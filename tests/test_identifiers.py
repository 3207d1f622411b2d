"""transforms.identifiers against unified-store.md "Identifier validation"
and the hrss.md certificate-inference paragraph.

python-stdnum serves as an oracle only where it is right: its cn.ric place
table rejects 81/82/83 and 9x numbers and it accepts birth dates outside
1900..today; its cn.uscc demands 8 leading digits. The tests that show those
mistakes assert them, so a stdnum upgrade that fixes them is noticed.
"""

from __future__ import annotations

import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum.cn import ric, uscc

from transforms.identifiers import (
    USCC_ALPHABET,
    _ID_WEIGHTS,
    applicant_type_from_uscc,
    id_check_char,
    is_id_shaped,
    is_valid_id_card,
    is_valid_impl_code,
    is_valid_uscc,
    normalize_cert,
    normalize_impl_code,
    normalize_mobile,
    uscc_check_char,
)

TODAY = datetime.date.today()


def make_id(area: str, born: datetime.date | str, seq: str = "123") -> str:
    date = born if isinstance(born, str) else born.strftime("%Y%m%d")
    first17 = area + date + seq
    return first17 + id_check_char(first17)


def make_uscc(first17: str) -> str:
    return first17 + uscc_check_char(first17)


def to_fullwidth(s: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in s)


# GB 11643-1999's own example, and one that gives the contract's mask example.
GB_EXAMPLE = "11010519491231002X"
XIANGSHAN = "34060319850108123X"


# --- normalize_cert ---------------------------------------------------------


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("11010519491231002x", GB_EXAMPLE),
        ("  11010519491231002X\t", GB_EXAMPLE),
        ("\u300011010519491231002X\u3000", GB_EXAMPLE),
        (to_fullwidth("11010519491231002x"), GB_EXAMPLE),
        ("\u3000" + to_fullwidth("110105491231002") + " ", GB_EXAMPLE),
        ("110105491231002", GB_EXAMPLE),  # 15 → 18: "19" after the area code
        ("340603850101123", "340603198501011231"),
        ("e12345678", "E12345678"),  # a passport: upper-cased, nothing else
        ("91340600ma2n0ab1cc", "91340600MA2N0AB1CC"),
        ("", ""),
        ("   ", ""),
    ],
)
def test_normalize_cert(raw, expected):
    assert normalize_cert(raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["11010549123100", "1101054912310021", "11010549123100X", "1101054912310 2"],
)
def test_only_exactly_15_digits_are_upgraded(raw):
    assert normalize_cert(raw) == raw


def test_inner_whitespace_is_kept():
    # only leading and trailing whitespace is stripped
    assert normalize_cert(" 110105 19491231002X ") == "110105 19491231002X"


@given(st.text())
def test_normalize_cert_is_idempotent(raw):
    once = normalize_cert(raw)
    assert normalize_cert(once) == once


@given(st.from_regex(r"[0-9]{15}", fullmatch=True))
def test_upgrade_inserts_19_and_a_check_char(raw):
    up = normalize_cert(raw)
    assert up[:6] == raw[:6] and up[6:8] == "19" and up[8:17] == raw[6:]
    assert up[17] == id_check_char(up[:17])


# --- 居民身份证 -----------------------------------------------------------------


@given(st.from_regex(r"[0-9]{17}", fullmatch=True))
def test_id_check_char_is_the_contract_formula(first17):
    total = sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS))
    assert id_check_char(first17) == "10X98765432"[total % 11]


@pytest.mark.parametrize(
    "bad",
    ["", "1234567890123456", "123456789012345678", "1101051949123100X", "１１０１０５１９４９１２３１００２"],
)
def test_id_check_char_rejects_non_digit_input(bad):
    with pytest.raises(ValueError):
        id_check_char(bad)


@pytest.mark.parametrize(
    "value",
    [
        GB_EXAMPLE,
        XIANGSHAN,
        "11010519491231002x",  # lower-case x
        to_fullwidth(GB_EXAMPLE),  # full-width digits and X
        to_fullwidth("11010519491231002x"),
        "\u3000 11010519491231002X ",
        "110105491231002",  # legacy 15-digit number
        make_id("340603", "19000101"),  # first valid birth date
        make_id("340603", TODAY),  # born today
    ],
)
def test_valid_id_cards(value):
    assert is_id_shaped(value)
    assert is_valid_id_card(value)


@pytest.mark.parametrize(
    "value",
    [
        "110105194912310021",  # bad checksum (should be X)
        "11010519491231002Y",
        make_id("110105", "19990230"),  # 30 February
        make_id("110105", "19991301"),  # month 13
        make_id("110105", "19990001"),
        make_id("110105", "18991231"),  # before 1900
        make_id("110105", "29990101"),  # future
        make_id("110105", TODAY + datetime.timedelta(days=1)),
        "1101051949123100",
        "",
    ],
)
def test_invalid_id_cards(value):
    assert not is_valid_id_card(value)


def test_birth_date_is_compared_with_the_given_today():
    number = make_id("340603", "20200615")
    assert not is_valid_id_card(number, today=datetime.date(2020, 6, 14))
    assert is_valid_id_card(number, today=datetime.date(2020, 6, 15))


@pytest.mark.parametrize(
    "value, shaped",
    [
        (GB_EXAMPLE, True),
        ("110105194912310021", True),  # shape only, checksum not looked at
        ("11010519491231002x", True),
        ("110105491231002", True),  # 15 digits become 18
        ("E12345678", False),
        ("1101051949123100", False),
        ("11010519491231002XX", False),
        ("X10105194912310021", False),
        ("11010519491231002Y", False),
        ("١١٠١٠٥١٩٤٩١٢٣١٠٠٢١", False),  # Arabic-Indic digits are not ID digits
    ],
)
def test_is_id_shaped(value, shaped):
    assert is_id_shaped(value) is shaped


@pytest.mark.parametrize("prefix", ["810000", "820000", "830000", "910000", "931234"])
def test_residence_permit_numbers_are_valid_although_stdnum_rejects_them(prefix):
    number = make_id(prefix, "19900101")
    assert is_valid_id_card(number)
    assert not ric.is_valid(number)  # stdnum's place table: the oracle's mistake


def test_stdnum_accepts_dates_the_contract_rejects():
    before_1900 = make_id("110105", "18991231")
    future = make_id("110105", "29990101")
    assert ric.is_valid(before_1900) and not is_valid_id_card(before_1900)
    assert ric.is_valid(future) and not is_valid_id_card(future)


# Area codes stdnum knows for every year since 1900; dates strictly before
# this year (so never in the future). Within that, stdnum is a fair oracle.
_STABLE_AREAS = ["110101", "110105", "110108", "310101", "340600"]


@given(
    area=st.sampled_from(_STABLE_AREAS),
    born=st.dates(datetime.date(1900, 1, 1), datetime.date(TODAY.year - 1, 12, 31)),
    seq=st.from_regex(r"[0-9]{3}", fullmatch=True),
    check=st.sampled_from("0123456789X"),
)
def test_id_card_agrees_with_stdnum_on_ordinary_numbers(area, born, seq, check):
    number = area + born.strftime("%Y%m%d") + seq + check
    assert is_valid_id_card(number) == ric.is_valid(number)


@given(
    area=st.sampled_from(_STABLE_AREAS),
    year=st.integers(1900, TODAY.year - 1),
    mmdd=st.from_regex(r"[0-9]{4}", fullmatch=True),
    seq=st.from_regex(r"[0-9]{3}", fullmatch=True),
)
def test_impossible_dates_agree_with_stdnum(area, year, mmdd, seq):
    number = make_id(area, f"{year:04d}{mmdd}", seq)
    assert is_valid_id_card(number) == ric.is_valid(number)


@given(
    area=st.sampled_from(_STABLE_AREAS),
    born=st.dates(datetime.date(1900, 1, 1), datetime.date(1999, 12, 31)),
    seq=st.from_regex(r"[0-9]{3}", fullmatch=True),
)
def test_15_digit_upgrade_gives_a_valid_number(area, born, seq):
    legacy = area + born.strftime("%y%m%d") + seq
    assert is_valid_id_card(legacy)
    assert ric.is_valid(normalize_cert(legacy))


# --- 统一社会信用代码 -------------------------------------------------------------


def test_uscc_check_char_known_code():
    assert uscc_check_char("91340600MA2N0AB1C") == "C"
    assert is_valid_uscc("91340600MA2N0AB1CC") and uscc.is_valid("91340600MA2N0AB1CC")


@pytest.mark.parametrize(
    "first17",
    ["N2340603MA2N0AB1C", "A1340603MA2N0AB1C", "Y1340603MA2N0AB1C", "N1340603000000001"],
)
def test_letter_prefixed_uscc_is_valid_although_stdnum_rejects_it(first17):
    code = make_uscc(first17)
    assert is_valid_uscc(code)
    assert not uscc.is_valid(code)  # the oracle's mistake


@pytest.mark.parametrize(
    "value, valid",
    [
        (make_uscc("91340600MA2N0AB1C"), True),
        (make_uscc("91340600MA2N0AB1C").lower(), True),
        (" " + to_fullwidth(make_uscc("91340600MA2N0AB1C")) + "\u3000", True),
        ("91340600MA2N0AB1CD", False),  # wrong check character
        (make_uscc("91340600MA2N0AB1C")[:-1], False),
        (make_uscc("91340600MA2N0AB1C") + "0", False),
        ("91340600MA2N0AB1IC", False),  # I is not in the alphabet
        ("", False),
        (GB_EXAMPLE, False),
    ],
)
def test_is_valid_uscc(value, valid):
    assert is_valid_uscc(value) is valid


@pytest.mark.parametrize("letter", "IOSVZ")
def test_letters_outside_the_alphabet_are_invalid(letter):
    assert letter not in USCC_ALPHABET
    with pytest.raises(ValueError):
        uscc_check_char("91340600MA2N0AB1" + letter)
    for check in USCC_ALPHABET:
        assert not is_valid_uscc("91340600MA2N0AB" + letter + "1" + check)


def test_a_15_digit_string_is_never_upgraded_into_a_uscc():
    # Some of these, upgraded as ID numbers, happen to end in a passing USCC
    # check character; as a USCC, a 15-character value is simply too short.
    legacy = [f"{n:015d}" for n in range(110105491231000, 110105491231400)]
    assert any(is_valid_uscc(normalize_cert(v)) for v in legacy)
    assert not any(is_valid_uscc(v) for v in legacy)
    assert not any(is_valid_uscc(normalize_cert(v, upgrade_15=False)) for v in legacy)


def test_upgrade_can_be_turned_off_for_unit_numbers():
    assert normalize_cert(" ３４０６０３８５０１０１１２３ ", upgrade_15=False) == "340603850101123"


_ALPHABET = st.sampled_from(USCC_ALPHABET)


@given(
    head=st.from_regex(r"9[0-9]{7}", fullmatch=True),
    body=st.text(_ALPHABET, min_size=9, max_size=9),
    check=_ALPHABET,
)
def test_uscc_agrees_with_stdnum_on_numeric_prefixed_codes(head, body, check):
    code = head + body + check
    assert is_valid_uscc(code) == uscc.is_valid(code)


@given(body=st.text(_ALPHABET, min_size=17, max_size=17))
def test_uscc_check_char_is_the_contract_formula(body):
    weights = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(body, weights))
    assert uscc_check_char(body) == USCC_ALPHABET[(31 - total % 31) % 31]
    assert is_valid_uscc(body + uscc_check_char(body))


@pytest.mark.parametrize(
    "code, expected",
    [
        ("11340600003189637G", 5),
        ("12340600485999999X", 3),
        ("51340600MJ0000000X", 4),
        ("52340600MJ0000000X", 4),
        ("53340600MJ0000000X", 4),
        ("91340600MA2N0AB1CC", 2),
        ("92340600MA2N0AB1CC", 7),
        ("93340600MA2N0AB1CC", 6),
        ("N2340603MA2N0AB1C7", 6),
        ("31340600000000000X", 6),
        (" 92340600ma2n0ab1cc", 7),
        ("", 6),
    ],
)
def test_applicant_type_from_uscc(code, expected):
    assert applicant_type_from_uscc(code) == expected


# --- mobile numbers -----------------------------------------------------------


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("13812345678", "13812345678"),
        ("+8613812345678", "13812345678"),
        ("+86 138 1234 5678", "13812345678"),
        ("+86-138-1234-5678", "13812345678"),
        (" 138-1234-5678 ", "13812345678"),
        ("8613812345678", "13812345678"),  # the free-text pattern's +-less prefix
        ("008613812345678", "13812345678"),
        (to_fullwidth("+8613812345678"), "13812345678"),
        ("\u3000１９９１２３４５６７８", "19912345678"),
        ("12812345678", None),  # second digit 0-2
        ("1381234567", None),
        ("138123456789", None),
        ("0561-12344321", None),
        ("+85213812345678", None),
        ("١٣٨١٢٣٤٥٦٧٨", None),  # Arabic-Indic digits
        ("13812345678转8", None),
        ("", None),
        (None, None),
    ],
)
def test_normalize_mobile(raw, expected):
    assert normalize_mobile(raw) == expected


# --- 实施编码 ------------------------------------------------------------------

ORG = make_uscc("11340600003189637")
IMPL = ORG + "4" + "000117002000"


@pytest.mark.parametrize(
    "raw, expected",
    [
        (IMPL, IMPL),
        (IMPL + "01", IMPL),  # 33-character 业务办理项编码 → first 31
        ("  " + IMPL.lower() + "\u3000", IMPL),
        (to_fullwidth(IMPL + "01"), IMPL),
        (IMPL[:30], IMPL[:30]),
        (IMPL + "0", IMPL + "0"),  # 32: not cut, and so invalid
        ("", ""),
    ],
)
def test_normalize_impl_code(raw, expected):
    assert normalize_impl_code(raw) == expected


@pytest.mark.parametrize(
    "code, valid",
    [
        (IMPL, True),
        (IMPL + "01", True),  # judged by its first 31 characters
        (ORG + "1" + "00011700200Y", True),
        (ORG + "7" + "000117002000", True),
        (ORG + "0" + "000117002000", False),  # 行使层级 is 1-7
        (ORG + "8" + "000117002000", False),
        (ORG[:-1] + "0" + "4" + "000117002000", False),  # 实施主体 check fails
        (ORG + "4" + "00011700200", False),  # 30 characters
        (IMPL + "0", False),  # 32 characters
        (ORG + "4" + "00011700200-", False),
        ("", False),
    ],
)
def test_is_valid_impl_code(code, valid):
    assert ORG != ORG[:-1] + "0"
    assert is_valid_impl_code(code) is valid
