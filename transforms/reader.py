"""Certificate numbers one at a time: what a reader that pseudonymizes them itself (police) puts in place
of a number, and how unify reads that back. Police batches are small; the bulk paths are in
transforms.columns.identity, which keeps the same rules."""

import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from schemas.codes import PERSONAL_CERT_TYPES
from transforms.identifiers import applicant_type_from_uscc, is_valid_id_card, is_valid_uscc, normalize_cert
from transforms.keyed import PseudonymKey, as_pseudonym_key
from transforms.pii import mask_id_card, mask_other_cert, value_shape
from transforms.values import null_if_blank

# How a reader that pseudonymizes numbers marks, in the masked form, a number that failed its check.
PSEUDONYMIZED_INVALID = "!"
# ... and, in front of a key, a number that is neither a valid 居民身份证 nor a valid USCC (see reader_key).
NOT_ID_OR_USCC = "?"
PSEUDONYM = re.compile(r"[0-9a-f]{64}")
CHECK_NAMES = {"invalid_id_card": "居民身份证", "invalid_uscc": "统一社会信用代码"}
_ID_SHAPE = re.compile(r"[0-9]{17}[0-9X]")
_USCC_SHAPE = re.compile(r"[0-9A-HJ-NPQRTUWXY]{18}")


@dataclass(frozen=True)
class Refused:
    """A number that cannot be loaded: the reject reason and what the detail says after the column."""

    reason: str
    detail: str


def keyed(pii_key: PseudonymKey | bytes, number: str) -> str:
    """The pseudonym of a number already normalized for its type (no further upgrade)."""
    return as_pseudonym_key(pii_key).hex(number.encode("utf-8"))


def shown_cert(number: str) -> str:
    """A normalized number that failed its check, as a message may show it: with the contract's mask when it
    has an ID number's or a USCC's shape, else by its shape alone (a name typed into the field stays hidden)."""
    if _ID_SHAPE.fullmatch(number):
        return mask_id_card(number)
    if _USCC_SHAPE.fullmatch(number):
        return mask_other_cert(number)
    return value_shape(number)


@lru_cache(maxsize=1 << 16)
def declared_identity(raw_number: str, cert_type: str, pii_key: PseudonymKey | bytes, today: date):
    """(applicant type a USCC decides, cert type, key, masked number), or Refused, for a declared type.

    Only a 居民身份证 is upgraded from 15 digits: another certificate's number is keyed and masked as sent.
    """
    if cert_type == "111":
        number = normalize_cert(raw_number)
        if not is_valid_id_card(number, today):
            return Refused("invalid_id_card", f"{shown_cert(number)} fails the 居民身份证 check")
        return None, "111", keyed(pii_key, number), mask_id_card(number)
    number = normalize_cert(raw_number, upgrade_15=False)
    if cert_type == "001":
        if not is_valid_uscc(number):
            return Refused("invalid_uscc", f"{shown_cert(number)} fails the 统一社会信用代码 check")
        return applicant_type_from_uscc(number), "001", keyed(pii_key, number), number
    if cert_type in PERSONAL_CERT_TYPES:
        return None, cert_type, keyed(pii_key, number), mask_other_cert(number)
    return None, cert_type, keyed(pii_key, number), number  # an organisation's certificate stays in clear


@lru_cache(maxsize=1 << 16)
def id_or_uscc_key(raw_number: str, pii_key: PseudonymKey | bytes, today: date) -> str | None:
    """The pseudonym of a valid 居民身份证 (a 15-digit one upgraded) or 统一社会信用代码; None for any other."""
    number = normalize_cert(raw_number)
    if is_valid_id_card(number, today):
        return keyed(pii_key, number)
    unit = normalize_cert(raw_number, upgrade_15=False)
    return keyed(pii_key, unit) if is_valid_uscc(unit) else None


def reader_key(raw_number: str | None, pii_key: PseudonymKey | bytes, today: date) -> str | None:
    """What a reader that pseudonymizes certificate numbers (police) puts in place of one.

    The key, with NOT_ID_OR_USCC in front when the number is neither a valid
    居民身份证 nor a valid USCC: an evaluator number of that kind then becomes
    NULL with a finding, never its clear form, while an applicant's passport
    number keeps its key (an applicant's number is checked by its declared
    type, in the reader's mask, see `declared_identity`).
    """
    if null_if_blank(raw_number) is None:
        return None
    return (id_or_uscc_key(raw_number, pii_key, today)
            or NOT_ID_OR_USCC + keyed(pii_key, normalize_cert(raw_number, upgrade_15=False)))


def pseudonymized_identity(key: str | None, masked: str | None, cert_type: str | None):
    """A number the reader pseudonymized (police): it checked the number and says so in `masked`.

    An unknown certificate type has been masked as a person's number by the reader (it cannot see the
    applicant type): an organisation's number of unknown type stays masked rather than in clear.
    """
    if not key:
        return None
    if masked and masked.startswith(PSEUDONYMIZED_INVALID):
        reason = masked.removeprefix(PSEUDONYMIZED_INVALID)
        if reason in CHECK_NAMES:
            return Refused(reason, f"fails the {CHECK_NAMES[reason]} check (checked before pseudonymization)")
    elif PSEUDONYM.fullmatch(key := key.removeprefix(NOT_ID_OR_USCC)):
        return applicant_type_from_uscc(masked) if cert_type == "001" and masked else None, cert_type, key, masked
    return Refused("not_pseudonymized", "does not hold what the reader puts in place of a number; "
                                        "nothing of it is stored")
