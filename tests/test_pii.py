"""transforms.pii against unified-store.md "PII"."""

from __future__ import annotations

import hashlib
import hmac
import re

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from transforms.identifiers import id_check_char, normalize_cert
from transforms.pii import (
    mask_free_text,
    mask_id_card,
    mask_other_cert,
    mask_person_name,
    mask_phone,
    pseudonym,
)

KEY = b"test-only-secret"
GB_EXAMPLE = "11010519491231002X"


def to_fullwidth(s: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in s)


def from_fullwidth(s: str) -> str:
    return "".join(chr(ord(c) - 0xFEE0) if "\uff01" <= c <= "\uff5e" else c for c in s)


# --- pseudonym ----------------------------------------------------------------


def test_pseudonym_is_hex_hmac_sha256_of_the_utf8_number():
    expected = hmac.new(KEY, GB_EXAMPLE.encode("utf-8"), hashlib.sha256).hexdigest()
    assert pseudonym(KEY, GB_EXAMPLE) == expected
    assert re.fullmatch(r"[0-9a-f]{64}", expected)


@pytest.mark.parametrize(
    "variant",
    [
        GB_EXAMPLE,
        "11010519491231002x",
        "110105491231002",  # legacy 15-digit
        to_fullwidth("11010519491231002x"),
        to_fullwidth("110105491231002"),
        "\u3000 11010519491231002x\t",
    ],
)
def test_every_spelling_of_one_id_gets_one_key(variant):
    assert pseudonym(KEY, variant) == pseudonym(KEY, GB_EXAMPLE)


def test_uscc_spellings_get_one_key():
    assert pseudonym(KEY, " 91340600ma2n0ab1cc") == pseudonym(KEY, "91340600MA2N0AB1CC")


def test_the_key_matters_and_a_str_key_is_its_utf8_bytes():
    assert pseudonym(b"other", GB_EXAMPLE) != pseudonym(KEY, GB_EXAMPLE)
    assert pseudonym("密钥", GB_EXAMPLE) == pseudonym("密钥".encode("utf-8"), GB_EXAMPLE)


def test_empty_key_is_refused():
    with pytest.raises(ValueError):
        pseudonym(b"", GB_EXAMPLE)


@pytest.mark.parametrize("blank", [None, "", "   ", "\u3000"])
def test_blank_number_has_no_key(blank):
    assert pseudonym(KEY, blank) is None


# --- certificate masks ----------------------------------------------------------


@pytest.mark.parametrize(
    "value, expected",
    [
        ("34060319850108123X", "340603********123X"),  # the contract's example
        ("34060319850108123x", "340603********123X"),
        (to_fullwidth("34060319850108123x"), "340603********123X"),
        ("340603850101123", "340603********1231"),  # upgraded first
        (" 110105194912310021 ", "110105********0021"),  # checksum not needed
        ("1101051949123", "11*********23"),  # not 18 long: reveals less
        ("", None),
        (None, None),
    ],
)
def test_mask_id_card(value, expected):
    assert mask_id_card(value) == expected


@pytest.mark.parametrize(
    "value, expected",
    [
        ("E12345678", "E1*****78"),
        ("e12345678", "E1*****78"),
        ("H1234567890", "H1*******90"),
        ("AB123", "AB*23"),
        ("AB12", "****"),
        ("A1", "**"),
        ("  ", None),
        (None, None),
    ],
)
def test_mask_other_cert(value, expected):
    assert mask_other_cert(value) == expected


@given(st.text(st.characters(exclude_characters="*"), min_size=1, max_size=30))
def test_cert_masks_keep_length_and_reveal_little(value):
    s = normalize_cert(value)
    other = mask_other_cert(value)
    if not s:
        assert other is None and mask_id_card(value) is None
        return
    as_sent = normalize_cert(value, upgrade_15=False)  # another certificate's 15 digits are not an ID number's
    assert len(other) == len(as_sent)
    assert sum(c != "*" for c in other) == (0 if len(as_sent) <= 4 else 4)
    card = mask_id_card(value)
    if len(s) == 18:
        assert card == s[:6] + "*" * 8 + s[-4:]
    else:
        assert card == other


# --- names ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, expected",
    [
        ("张", "*"),
        ("张三", "张*"),
        ("李小明", "李**"),
        ("欧阳娜娜", "欧阳**"),
        ("欧阳", "欧*"),
        ("诸葛孔明亮", "诸葛***"),
        (" 张三\u3000", "张*"),
        # "·" stays in place and is not counted: 5 name characters → keep 2
        ("买买提·艾力", "买买*·**"),
        ("阿·布", "阿·*"),  # 2 characters → keep 1
        ("阿·布·都", "阿·*·*"),  # 3 characters → keep 1
        ("克里斯蒂娜·罗纳尔多", "克里***·****"),
        ("买买提•艾力", "买买*•**"),  # look-alike bullets people type
        ("买买提・艾力", "买买*・**"),
        ("买买提．艾力", "买买*．**"),
        ("买买提.艾力", "买买*.**"),
        ("John Smith", "Jo** *****"),
        ("·", "·"),
        ("", None),
        ("   ", None),
        (None, None),
    ],
)
def test_mask_person_name(name, expected):
    assert mask_person_name(name) == expected


@given(st.text(st.characters(categories=["Lo"]), min_size=1, max_size=12))
def test_name_mask_keeps_length_and_reveals_at_most_two(name):
    out = mask_person_name(name)
    assert len(out) == len(name)
    assert sum(c != "*" for c in out) == (0 if len(name) == 1 else 1 if len(name) <= 3 else 2)


# --- phones ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, expected",
    [
        ("13812345678", "138****5678"),  # the contract's example
        ("+86 138-1234-5678", "138****5678"),  # the prefix is dropped
        ("8613812345678", "138****5678"),
        (to_fullwidth("13812345678"), "138****5678"),
        ("0561-12344321", "0561-****4321"),  # the contract's example
        ("0561 1234432", "0561 ***4432"),
        ("056112344321", "0561****4321"),
        ("(0561)12344321", "(0561)****4321"),
        ("0561-1234-4321", "0561-****-4321"),
        ("010-12345678", "010-****5678"),
        ("01012345678", "010****5678"),  # 010 is a 3-digit area code
        ("021 6123 4567", "021 **** 4567"),
        (to_fullwidth("0561-12344321"), "0561-****4321"),
        # unrecognised: masked whole, the last 4 kept only if they are digits
        ("12345678", "****5678"),
        ("400-123-4567", "********4567"),
        ("13812345678/13912345678", "*******************5678"),
        ("张先生13812345678", "**********5678"),
        ("13812345678(张)", "**************"),
        ("1234567", "*******"),
        ("110", "***"),
        ("", None),
        ("  ", None),
        (None, None),
    ],
)
def test_mask_phone(value, expected):
    assert mask_phone(value) == expected


@given(st.text(st.sampled_from("0123456789 -+()张"), min_size=1, max_size=30))
def test_phone_mask_never_leaves_five_clear_digits_in_a_row(value):
    out = mask_phone(value)
    if out is None:
        assert not value.strip()
        return
    assert re.search(r"[0-9]{5}", out) is None
    assert sum(c.isdigit() for c in out) <= 8  # area code + last 4 at most


# --- free text ------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("身份证110105194912310021号", "身份证110105********0021号"),  # checksum or not
        ("id 11010519491231002x.", "id 110105********002x."),
        ("id 11010519491231002X", "id 110105********002X"),
        ("老证110105491231002", "老证110105*****1002"),  # 15 digits, not upgraded
        ("电话13812345678谢谢", "电话138****5678谢谢"),
        ("call +8613812345678", "call +86138****5678"),
        ("call +86 13812345678", "call +86 138****5678"),
        ("call +86-13812345678", "call +86-138****5678"),
        ("call 86-13812345678", "call 86-138****5678"),
        ("call 8613812345678", "call 86138****5678"),
        ("a13812345678b", "a138****5678b"),
        ("13812345678,13987654321", "138****5678,139****4321"),
        (
            "号码11010519491231002X，手机+86 19912345678。",
            "号码110105********002X，手机+86 199****5678。",
        ),
        # 3-4-4 spellings are masked too (no phone number stays in clear)
        ("call 138-1234-5678 now", "call 138-****-5678 now"),
        ("call +86 138 1234 5678", "call +86 138 **** 5678"),
        # digits next to other digits are not a match
        ("订单0138123456789", "订单0138123456789"),
        ("订单138123456789", "订单138123456789"),
        ("1101051949123100211", "1101051949123100211"),  # 19 digits
        ("11010519491231002", "11010519491231002"),  # 17 digits
        ("1101051949123100", "1101051949123100"),  # 16 digits
        ("12812345678", "12812345678"),  # not a mobile
        ("2023年10月1日 评分5", "2023年10月1日 评分5"),
        ("办理很快，非常满意", "办理很快，非常满意"),
        ("", ""),
        (None, None),
    ],
)
def test_mask_free_text(text, expected):
    assert mask_free_text(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("电话１３８１２３４５６７８", "电话１３８****５６７８"),
        ("证号１１０１０５１９４９１２３１００２Ｘ", "证号１１０１０５********００２Ｘ"),
        ("证号１１０１０５１９４９１２３１００２ｘ", "证号１１０１０５********００２ｘ"),
        ("＋８６　１３８１２３４５６７８", "＋８６　１３８****５６７８"),
        ("１３８－１２３４－５６７８", "１３８－****－５６７８"),
        ("混合138１２３４5678", "混合138****5678"),
        ("11010519491231002Ｘ", "110105********002Ｘ"),
        # Python's \d reads these as digits too, so the contract's pattern does
        ("١٣٨١٢٣٤٥٦٧٨", "١٣٨****٥٦٧٨"),
        # either reading masks: as ASCII the run is a mobile, as Unicode digits
        # it is 12 long; masking the union leaves nothing the contract names
        ("１13812345678", "１138****5678"),
    ],
)
def test_free_text_full_width_and_other_digits(text, expected):
    assert mask_free_text(text) == expected


# The contract's patterns, verbatim, with ASCII \d, applied one after the other.
_REF_ID = re.compile(r"(?<!\d)(\d{17}[\dXx]|\d{15})(?!\d)", re.ASCII)
_REF_PHONE = re.compile(r"(?<!\d)(\+?86[- ]?)?1[3-9]\d{9}(?!\d)", re.ASCII)
_GROUPED = re.compile(r"1[3-9][0-9][- ][0-9]{4}[- ][0-9]{4}")


def reference_mask(text: str) -> str:
    text = _REF_ID.sub(lambda m: m[0][:6] + "*" * (len(m[0]) - 10) + m[0][-4:], text)

    def phone(m):
        prefix = m[1] or ""
        number = m[0][len(prefix) :]
        return prefix + number[:3] + "****" + number[7:]

    return _REF_PHONE.sub(phone, text)


_TEXTISH = st.text(st.sampled_from("0123456789" * 4 + "1313Xx+86- 号a"), max_size=60)


@st.composite
def texts_with_numbers(draw):
    parts = draw(
        st.lists(
            st.one_of(
                _TEXTISH,
                st.from_regex(r"(\+?86[- ]?)?1[3-9][0-9]{9}", fullmatch=True),
                st.from_regex(r"[0-9]{17}[0-9Xx]|[0-9]{15}", fullmatch=True),
            ),
            max_size=6,
        )
    )
    return "".join(parts)


@given(texts_with_numbers())
def test_free_text_matches_the_contract_patterns(text):
    assume(_GROUPED.search(text) is None)  # our one documented extension
    assert mask_free_text(text) == reference_mask(text)


@given(texts_with_numbers())
def test_free_text_in_full_width_is_masked_the_same(text):
    assume(_GROUPED.search(text) is None)
    assert from_fullwidth(mask_free_text(to_fullwidth(text))) == reference_mask(text)


# The same patterns read the Python way, where \d is any Unicode digit.
_UNI_ID = re.compile(_REF_ID.pattern)
_UNI_PHONE = re.compile(_REF_PHONE.pattern)


@given(st.one_of(st.text(), st.text(st.sampled_from("0123456789１３８０Ｘ٣－＋Xx+86- 　"))))
def test_free_text_leaves_nothing_the_contract_would_mask(text):
    out = mask_free_text(text)
    assert len(out) == len(text)
    for pattern in (_REF_ID, _REF_PHONE, _UNI_ID, _UNI_PHONE):
        assert pattern.search(out) is None, pattern
    # only digits become "*"; everything else is untouched
    for before, after in zip(text, out):
        assert after == before or (after == "*" and before.isdecimal())


def test_masks_of_a_valid_id_checksum_example():
    first17 = "34060319850108123"
    number = first17 + id_check_char(first17)
    assert mask_free_text(f"我是{number}") == "我是340603********123X"
