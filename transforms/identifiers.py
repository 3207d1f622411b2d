"""Certificate numbers, mobile numbers and 实施编码: normalization and checks.

Implements "Identifier validation" in shared/contracts/unified-store.md.
Pure functions, stdlib only.

Every validator normalizes its argument again (``normalize_cert`` is
idempotent), so passing a raw value gives the same answer as passing the
normalized one: the contract says validation happens after normalization,
and a caller that forgets it must not turn a good number into a quarantine.
"""

from __future__ import annotations

import datetime
import re

__all__ = [
    "normalize_cert",
    "id_check_char",
    "is_id_shaped",
    "is_valid_id_card",
    "uscc_check_char",
    "is_valid_uscc",
    "applicant_type_from_uscc",
    "normalize_mobile",
    "normalize_impl_code",
    "is_valid_impl_code",
]

# U+FF01..U+FF5E are ASCII 0x21..0x7E shifted by 0xFEE0; U+3000 is the
# ideographic space. Callers skip the (per-character) translate for ASCII
# input, which is nearly all of it.
FULLWIDTH_TO_ASCII: dict[int, int] = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)}
FULLWIDTH_TO_ASCII[0x3000] = 0x20

_DIGITS15 = re.compile(r"[0-9]{15}")
_ID_SHAPE = re.compile(r"[0-9]{17}[0-9X]")

# The contract's weights; id_check_char uses an equivalent closed form, and
# the tests hold the two together.
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_MIN_BIRTH = datetime.date(1900, 1, 1)

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_VALUE = {c: i for i, c in enumerate(USCC_ALPHABET)}
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)

_UNIT_TYPE_BY_PREFIX = {"11": 5, "12": 3, "51": 4, "52": 4, "53": 4, "91": 2, "92": 7}
_OTHER_ORG = 6

# Separators people put inside phone numbers; all are removed before the
# contract's ^1[3-9]\d{9}$ is applied (hyphen-minus plus the Unicode dashes
# that word processors substitute for it).
_PHONE_JUNK = re.compile(r"[\s\-\u2010-\u2015\u2212]+")
_MOBILE = re.compile(r"1[3-9][0-9]{9}")

_IMPL_CODE_LEN = 31
_ITEM_CODE_LEN = 33  # 业务办理项编码 = 实施编码 + 2
_IMPL_TAIL = re.compile(r"[1-7][0-9A-Z]{12}")


def _clean(value: str) -> str:
    # normalize_cert without the 15-digit upgrade, for codes that are never
    # ID numbers (a USCC, an item code).
    if not value.isascii():  # translate() with a dict is slow; most values are ASCII
        value = value.translate(FULLWIDTH_TO_ASCII)
    return value.strip().upper()


def normalize_cert(value: str, *, upgrade_15: bool = True) -> str:
    """Normalize a certificate number before validating, hashing or masking.

    Full-width → ASCII (U+3000 → space), strip surrounding whitespace,
    upper-case, and upgrade a first-generation 15-digit ID number to 18
    digits ("19" after the area code, then the check character). Only a value
    of exactly 15 ASCII digits is upgraded; the contract's 15-digit shape is
    the ID number's, so every source gets the same key for the same person.

    Pass ``upgrade_15=False`` for a number known not to be a personal one (a
    unit's): a 15-digit 工商注册号 upgraded as an ID number ends in a check
    character that passes the USCC check about once in 31 times.
    """
    s = _clean(value)
    if upgrade_15 and len(s) == 15 and _DIGITS15.fullmatch(s):
        first17 = s[:6] + "19" + s[6:]
        s = first17 + id_check_char(first17)
    return s


def id_check_char(first17: str) -> str:
    """GB 11643-1999 check character of the first 17 digits."""
    if len(first17) != 17 or not first17.isascii() or not first17.isdigit():
        raise ValueError("id_check_char needs exactly 17 ASCII digits")
    # The weights are 2**(17-i) mod 11 and 13 ≡ 2 (mod 11), so twice the
    # base-13 reading of the digits is Σ digit·weight (mod 11), computed in C.
    return _ID_CHECK[2 * int(first17, 13) % 11]


def is_id_shaped(normalized: str) -> bool:
    """18 characters: 17 digits then a digit or X (after normalization).

    A 15-digit value counts too, because normalization turns it into 18.
    """
    return _ID_SHAPE.fullmatch(normalize_cert(normalized)) is not None


def is_valid_id_card(normalized: str, today: datetime.date | None = None) -> bool:
    """居民身份证 check: shape, check character, birth date 1900-01-01..today.

    The area code is deliberately not looked up: 81/82/83 (港澳台居民居住证)
    and 9x (外国人永久居留身份证) numbers are valid when checksum and date hold.
    """
    s = normalize_cert(normalized)
    if _ID_SHAPE.fullmatch(s) is None or id_check_char(s[:17]) != s[17]:
        return False
    try:
        born = datetime.date(int(s[6:10]), int(s[10:12]), int(s[12:14]))
    except ValueError:
        return False
    return _MIN_BIRTH <= born <= (today or datetime.date.today())


def uscc_check_char(first17: str) -> str:
    """GB 32100-2015 check character of the first 17 characters."""
    if len(first17) != 17:
        raise ValueError("uscc_check_char needs exactly 17 characters")
    try:
        total = sum(_USCC_VALUE[c] * w for c, w in zip(first17, _USCC_WEIGHTS))
    except KeyError as exc:
        raise ValueError(f"character {exc.args[0]!r} is not in the USCC alphabet") from None
    return USCC_ALPHABET[(31 - total % 31) % 31]


def is_valid_uscc(normalized: str) -> bool:
    """统一社会信用代码 check: 18 alphabet characters and the check character.

    Only the alphabet and checksum are checked, so letter-prefixed codes
    (N 农业集体经济组织, A, Y, …) pass, unlike python-stdnum's cn.uscc.
    """
    s = _clean(normalized)
    if len(s) != 18 or any(c not in _USCC_VALUE for c in s):
        return False
    return uscc_check_char(s[:17]) == s[17]


def applicant_type_from_uscc(uscc: str) -> int:
    """Unified applicant_type of a "unit" from its USCC's first two characters."""
    return _UNIT_TYPE_BY_PREFIX.get(_clean(uscc)[:2], _OTHER_ORG)


def normalize_mobile(value: str | None) -> str | None:
    """The 11-digit mobile number, or None when the value is not a mobile.

    Full-width → ASCII, spaces and dashes removed, then a leading ``+86`` (or
    ``0086``, or ``86`` in front of exactly 11 more digits, the same prefix
    the contract's free-text pattern accepts without ``+``) is stripped
    before ``^1[3-9]\\d{9}$`` is applied, with ASCII digits only.
    """
    if not value:
        return None
    if not value.isascii():
        value = value.translate(FULLWIDTH_TO_ASCII)
    s = _PHONE_JUNK.sub("", value)
    if s.startswith("+86"):
        s = s[3:]
    elif s.startswith("0086"):
        s = s[4:]
    elif len(s) == 13 and s.startswith("86"):
        s = s[2:]
    return s if _MOBILE.fullmatch(s) else None


def normalize_impl_code(value: str) -> str:
    """Trimmed, full-width → ASCII, upper-cased 实施编码; a 33-character
    业务办理项编码 is cut to its first 31 characters. Blank gives ""."""
    s = _clean(value)
    if len(s) == _ITEM_CODE_LEN:
        s = s[:_IMPL_CODE_LEN]
    return s


def is_valid_impl_code(code: str) -> bool:
    """31 characters = 实施主体 USCC (18, checksum verified) + 行使层级 (1–7)
    + 基本编码 (12 digits or upper-case letters).

    The code is normalized first, so a 33-character 业务办理项编码 is judged
    by its first 31 characters.
    """
    s = normalize_impl_code(code)
    if len(s) != _IMPL_CODE_LEN:
        return False
    return _IMPL_TAIL.fullmatch(s, 18) is not None and is_valid_uscc(s[:18])
