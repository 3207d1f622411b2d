"""Pseudonyms and masks for personal data (unified-store.md, "PII").

Pure functions, stdlib only. Maskers take raw values and normalize them as
the contract demands ("before validating, hashing or masking"); a value that
is None or blank is NULL in every source, so maskers return None for it.
"""

from __future__ import annotations

import re
import unicodedata

from transforms.identifiers import FULLWIDTH_TO_ASCII, normalize_cert, normalize_mobile
from transforms.keyed import PseudonymKey, as_pseudonym_key

__all__ = [
    "pseudonym",
    "mask_id_card",
    "mask_other_cert",
    "mask_person_name",
    "mask_phone",
    "mask_free_text",
    "is_phone_number",
    "describe_value",
    "value_shape",
]

_STARS = ["*" * n for n in range(64)]


def _stars(n: int) -> str:
    return _STARS[n] if n < 64 else "*" * n


def pseudonym(key: PseudonymKey | bytes | str, normalized_number: str | None) -> str | None:
    """Lower-case hex keyed hash of the normalized number: HMAC-SHA256, or
    HMAC-SM3 for a key of the 国密 suite (``transforms.keyed.PseudonymKey``).

    The number is normalized again (idempotent), so a 15-digit, lower-case
    ``x`` or full-width spelling of one ID gets the one key that joins the
    person across departments. A blank number gives None: hashing "" would
    make every anonymous evaluator the same person. A bytes key, or a str
    key taken as its UTF-8 bytes, is a key of the standard suite; an empty
    key is refused, since it would make every key reproducible by anyone.
    """
    key = as_pseudonym_key(key)
    if normalized_number is None:
        return None
    number = normalize_cert(normalized_number)
    if not number:
        return None
    return key.hex(number.encode("utf-8"))


def _keep_ends(s: str, head: int, tail: int) -> str:
    return s[:head] + _stars(len(s) - head - tail) + s[len(s) - tail :]


def mask_id_card(value: str | None) -> str | None:
    """``340603********123X``: first 6 and last 4 of the normalized 18-char
    number (a 15-digit one is upgraded first). A value that is not 18
    characters long gets the other-certificate mask, which reveals less."""
    if value is None:
        return None
    s = normalize_cert(value)
    if len(s) != 18:
        return mask_other_cert(s)
    return _keep_ends(s, 6, 4)


def mask_other_cert(value: str | None) -> str | None:
    """First 2 and last 2 characters kept; a value of 4 characters or fewer
    would be revealed whole that way, so it becomes all ``*``. Not a
    居民身份证: a 15-digit number is masked as it is, never upgraded."""
    if value is None:
        return None
    s = normalize_cert(value, upgrade_15=False)
    if not s:
        return None
    if len(s) <= 4:
        return _stars(len(s))
    return _keep_ends(s, 2, 2)


# The contract names U+00B7 "·" (the standard 间隔号 in minority and foreign
# names); the look-alikes below are what people type for it, and whitespace
# separates the parts of a Latin-script name the same way.
_NAME_SEPARATORS = frozenset("·•・．･‧⋅∙.")


def _name_keep(letters: int) -> int:
    if letters <= 1:
        return 0
    return 1 if letters <= 3 else 2


def mask_person_name(name: str | None) -> str | None:
    """Mask a personal name: 1 character → ``*``; 2–3 keep the first
    (``张*``, ``李**``); 4 or more keep the first two (``欧阳**``).

    A ``·`` (or a look-alike: ``•・．･‧⋅∙.``, or inner whitespace) stays in
    place and is not counted, so ``买买提·艾力`` has 5 characters and becomes
    ``买买*·**``, and ``阿·布`` becomes ``阿·*``. Surrounding whitespace is
    stripped first.
    """
    if name is None:
        return None
    s = name.strip()
    if not s:
        return None
    if s.isalpha():
        keep = _name_keep(len(s))
        return s[:keep] + _stars(len(s) - keep)
    letters = sum(1 for c in s if c not in _NAME_SEPARATORS and not c.isspace())
    keep = _name_keep(letters)
    out = []
    for c in s:
        if c in _NAME_SEPARATORS or c.isspace():
            out.append(c)
        elif keep:
            out.append(c)
            keep -= 1
        else:
            out.append("*")
    return "".join(out)


# 010 and 02x are the 3-digit area codes, every other one is 0 + 3 digits;
# spelling that out keeps "01012345678" from being read as 0101-2345678.
_LANDLINE = re.compile(
    r"(?P<area>\(0(?:10|2[0-9]|[3-9][0-9]{2})\)|0(?:10|2[0-9]|[3-9][0-9]{2}))"
    r"(?P<sep>[- ]?)(?P<head>[0-9]{3,4})(?P<sep2>[- ]?)(?P<tail>[0-9]{4})"
)


def mask_phone(value: str | None) -> str | None:
    """Mask a contact phone number.

    - A mobile (see ``normalize_mobile``) → ``138****5678``; a ``+86`` prefix
      is dropped, so the column holds one form per number.
    - A landline with an area code (``0561-12344321``, ``0561 1234432``,
      ``(0561)12344321``, ``056112344321``) keeps its area code, separators
      and last 4 digits: ``0561-****4321``.
    - Anything else is masked whole, except that its last 4 characters stay
      when they are digits and at least as many characters are hidden; no
      more than 4 digits and no letters (a name typed into the field) remain.

    Full-width characters are turned into ASCII first. None/blank → None.
    """
    if value is None:
        return None
    s = (value if value.isascii() else value.translate(FULLWIDTH_TO_ASCII)).strip()
    if not s:
        return None
    mobile = normalize_mobile(s)
    if mobile is not None:
        return mobile[:3] + "****" + mobile[7:]
    m = _LANDLINE.fullmatch(s)
    if m is not None:
        return m["area"] + m["sep"] + _stars(len(m["head"])) + m["sep2"] + m["tail"]
    tail = s[-4:]
    if len(s) >= 8 and tail.isascii() and tail.isdigit():
        return _stars(len(s) - 4) + tail
    return _stars(len(s))


def is_phone_number(value: str) -> bool:
    """A mobile or a landline with its area code, the two forms ``mask_phone`` keeps the shape of;
    anything else in a phone field is malformed (a data-quality finding)."""
    s = (value if value.isascii() else value.translate(FULLWIDTH_TO_ASCII)).strip()
    return normalize_mobile(s) is not None or _LANDLINE.fullmatch(s) is not None


# The contract's two patterns in one pass, with [0-9] so that they mean what
# they say in ASCII whatever the regex flavour. Group 1: an ID number; group
# 2: the optional +86 prefix, which stays; group 3: the mobile. Beyond the
# contract, group 3 also takes a mobile written 3-4-4 with spaces or dashes
# (138-1234-5678): no personal phone number may stay in clear anywhere, and
# that spelling is common. The leading (?=[0-9+]) changes nothing matched but
# lets the engine skip to candidate characters (~6x faster on comments).
_FREE = re.compile(
    r"(?=[0-9+])(?<![0-9])"
    r"(?:([0-9]{17}[0-9Xx]|[0-9]{15})"
    r"|(\+?86[- ]?)?(1[3-9][0-9](?:[0-9]{8}|[- ][0-9]{4}[- ][0-9]{4})))"
    r"(?![0-9])"
)

# People type full-width digits (and Ｘ, －) in comments, and Python's own \d
# reads every Unicode decimal digit as a digit. Text that holds any is also
# matched on a copy with those characters folded to ASCII (one character for
# one, so positions carry over), and whatever either reading finds is masked.
_NEEDS_FOLD = re.compile(r"[\d\uFF38\uFF58\uFF0D](?<![0-9])")
_FOLD_X = {0xFF38: "X", 0xFF58: "x", 0xFF0D: "-", 0xFF0B: "+", 0x3000: " "}
_NON_ASCII_DIGIT = re.compile(r"\d(?<![0-9])")


def _free_repl(m: re.Match[str]) -> str:
    number = m.group(1)
    if number is not None:
        return number[:6] + _STARS[len(number) - 10] + number[-4:]
    mobile = m.group(3)
    # digits 4-7 of the 11 are hidden; in the 3-4-4 spelling they sit one
    # separator further on
    cut = 3 if len(mobile) == 11 else 4
    return (m.group(2) or "") + mobile[:cut] + "****" + mobile[cut + 4 :]


def _hidden_spans(text: str):
    for m in _FREE.finditer(text):
        if m.group(1) is not None:
            yield m.start(1) + 6, m.end(1) - 4
        else:
            cut = m.start(3) + (3 if m.end(3) - m.start(3) == 11 else 4)
            yield cut, cut + 4


def mask_free_text(text: str | None) -> str | None:
    """Mask ID numbers (first 6 and last 4 kept) and mobile numbers (first 3
    and last 4 of the 11 digits kept, a ``+86`` prefix stays) in free text,
    checksum or not, per the contract's patterns; also 3-4-4 spaced/dashed
    mobiles and full-width or other non-ASCII digits (see above). Other text
    is unchanged; None and "" come back as they are."""
    if not text:
        return text
    if text.isascii() or _NEEDS_FOLD.search(text) is None:
        return _FREE.sub(_free_repl, text)
    folded = _NON_ASCII_DIGIT.sub(
        lambda d: str(unicodedata.digit(d.group())), text.translate(_FOLD_X)
    )
    chars = list(text)
    for source in (folded, text):
        for start, end in _hidden_spans(source):
            chars[start:end] = _stars(end - start)
    return "".join(chars)


# A value short and plain enough to be a code (`7`, `QY`, `SFZ`, `5.0`): quoting it in a message helps
# whoever fixes a code map and can reveal no ID number, phone number or name.
_CODE_LIKE = re.compile(r"[A-Za-z0-9._+-]{1,8}")
_SHAPE_ORDER = ("digits", "letters", "CJK", "full-width", "spaces", "punctuation", "control characters", "other")


def describe_value(value: str) -> str:
    """A raw value as a message may show it: a short code-like value quoted (``'7'``), anything else
    only by its shape (``18 characters (digits)``), since a status, date, number or code field can
    hold an ID number, a phone number or a name that somebody typed into it."""
    if _CODE_LIKE.fullmatch(value) and mask_free_text(value) == value:
        return repr(value)
    return value_shape(value)


def value_shape(value: str) -> str:
    """``18 characters (digits)``, ``3 characters (CJK)``, ``11 characters (digits, punctuation)``."""
    if not value:
        return "an empty value"
    kinds = {_kind(c) for c in value}
    n = len(value)
    return f"{n} character{'' if n == 1 else 's'} ({', '.join(k for k in _SHAPE_ORDER if k in kinds)})"


def _kind(c: str) -> str:
    if "0" <= c <= "9":
        return "digits"
    if c.isascii() and c.isalpha():
        return "letters"
    if "\u3400" <= c <= "\u9fff" or "\uf900" <= c <= "\ufaff" or "\U00020000" <= c <= "\U0003134f":
        return "CJK"
    if "\uff01" <= c <= "\uff5e":
        return "full-width"
    if c.isspace():
        return "spaces"
    category = unicodedata.category(c)
    if category.startswith("P") or (c.isascii() and category.startswith("S")):
        return "punctuation"
    if category == "Cc":
        return "control characters"
    return "other"
