"""The keyed primitives of the two crypto suites a store can be set up with.

- `standard`: pseudonyms by HMAC-SHA256 (unified-store.md), quarantined raw
  records by Fernet (AES-128-CBC + HMAC-SHA256).
- `sm` (国密, for a deployment assessed under GB/T 39786 密评): pseudonyms by
  HMAC-SM3 (SM3: GB/T 32905), quarantined raw records by SM4-GCM (SM4: GB/T 32907).

Both come from the `cryptography` package, whose OpenSSL provides SM3 and SM4.
A store keeps the suite and a fingerprint of each key (an HMAC of a fixed
label under the key), never a key.
"""

from __future__ import annotations

import base64
import hmac
import os
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

STANDARD, SM = "standard", "sm"
SUITES = (STANDARD, SM)
PSEUDONYM_ALGORITHM = {STANDARD: "HMAC-SHA256", SM: "HMAC-SM3"}
QUARANTINE_ALGORITHM = {STANDARD: "Fernet", SM: "SM4-GCM"}

# Lower-case and spaced: no normalized certificate number (upper-case, no spaces)
# can equal it, so a fingerprint is never the pseudonym of a number.
_FINGERPRINT_LABEL = b"silobridge key fingerprint v1 "

SM4_KEY_BYTES = 16
# SM4-GCM token: version byte, 12-byte nonce, ciphertext, 16-byte tag; the version byte is authenticated too.
SM4_GCM_V1 = b"\x01"
_NONCE_BYTES, _TAG_BYTES = 12, 16


class UndecryptableToken(ValueError):
    """A quarantined record that the configured key does not open (another key, or damaged)."""


def _check_suite(suite: str) -> None:
    if suite not in SUITES:
        raise ValueError(f"unknown crypto suite {suite!r} (known: {', '.join(SUITES)})")


def keyed_hash(suite: str, key: bytes, message: bytes) -> bytes:
    """HMAC-SHA256 (standard) or HMAC-SM3 (sm) of `message` under `key`."""
    if suite == STANDARD:
        return hmac.digest(key, message, "sha256")
    _check_suite(suite)
    mac = crypto_hmac.HMAC(key, hashes.SM3())
    mac.update(message)
    return mac.finalize()


@dataclass(frozen=True)
class PseudonymKey:
    """The pseudonymization secret with the suite it is used under.

    Hashable (the identity transforms are lru_cached on it) and equal only to
    the same secret under the same suite, so a cache never hands a key of one
    suite to the other; its repr never shows the secret.
    """

    secret: bytes = field(repr=False)
    suite: str = STANDARD

    def __post_init__(self) -> None:
        _check_suite(self.suite)
        if not self.secret:
            raise ValueError("pseudonym key is empty; configure the deployment secret")

    @property
    def algorithm(self) -> str:
        return PSEUDONYM_ALGORITHM[self.suite]

    def hex(self, message: bytes) -> str:
        return keyed_hash(self.suite, self.secret, message).hex()

    def hex_texts(self, texts: list[str]) -> list[str]:
        """`hex` of each text's UTF-8 bytes, one HMAC call each without the per-call dispatch (a batch of
        new applicants)."""
        if self.suite != STANDARD:
            return [self.hex(text.encode("utf-8")) for text in texts]
        secret, digest = self.secret, hmac.digest
        return [digest(secret, text.encode("utf-8"), "sha256").hex() for text in texts]


def as_pseudonym_key(key: PseudonymKey | bytes | str) -> PseudonymKey:
    """A PseudonymKey as it is; bytes or str (its UTF-8 bytes) as a key of the standard suite."""
    if isinstance(key, PseudonymKey):
        return key
    return PseudonymKey(key.encode("utf-8") if isinstance(key, str) else bytes(key))


def fingerprint(suite: str, key: bytes, purpose: str) -> str:
    """Lower-case hex HMAC of a fixed label naming `purpose`, under `key`: identifies a key without revealing it."""
    return keyed_hash(suite, key, _FINGERPRINT_LABEL + purpose.encode("ascii")).hex()


def derive_quarantine_key(suite: str, pii_secret: bytes) -> bytes:
    """A quarantine key derived from the pseudonymization secret by HKDF (SHA-256, or SM3 for sm)."""
    if suite == STANDARD:
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"silobridge quarantine").derive(pii_secret)
        return base64.urlsafe_b64encode(derived)
    _check_suite(suite)
    return HKDF(algorithm=hashes.SM3(), length=SM4_KEY_BYTES, salt=None,
                info=b"silobridge quarantine sm4").derive(pii_secret)


def parse_quarantine_key(suite: str, configured: str) -> bytes:
    """A configured quarantine key: a Fernet key (standard) or 32 hex characters (sm); ValueError if it is not one."""
    if suite == STANDARD:
        Fernet(configured)
        return configured.encode("ascii")
    _check_suite(suite)
    key = bytes.fromhex(configured)  # ValueError on anything but hex
    if len(key) != SM4_KEY_BYTES:
        raise ValueError(f"an SM4 key is {SM4_KEY_BYTES} bytes, this one is {len(key)}")
    return key


class FernetCipher:
    def __init__(self, key: bytes):
        self._fernet = Fernet(key)

    def encrypt(self, data: bytes) -> bytes:
        return self._fernet.encrypt(data)

    def decrypt(self, token: bytes) -> bytes:
        try:
            return self._fernet.decrypt(token)
        except InvalidToken as exc:
            raise UndecryptableToken("not a Fernet token of this key") from exc


def sm4_gcm_encrypt(key: bytes, nonce: bytes, data: bytes, aad: bytes) -> bytes:
    """SM4-GCM (GB/T 32907 SM4 in GCM mode, as in RFC 8998): ciphertext followed by the 16-byte tag."""
    encryptor = Cipher(algorithms.SM4(key), modes.GCM(nonce)).encryptor()
    encryptor.authenticate_additional_data(aad)
    return encryptor.update(data) + encryptor.finalize() + encryptor.tag


def sm4_gcm_decrypt(key: bytes, nonce: bytes, sealed: bytes, aad: bytes) -> bytes:
    """The plaintext of ciphertext-and-tag; UndecryptableToken if the tag does not verify under `key`."""
    body, tag = sealed[:-_TAG_BYTES], sealed[-_TAG_BYTES:]
    decryptor = Cipher(algorithms.SM4(key), modes.GCM(nonce, tag)).decryptor()
    decryptor.authenticate_additional_data(aad)
    try:
        return decryptor.update(body) + decryptor.finalize()
    except InvalidTag as exc:
        raise UndecryptableToken("the SM4-GCM tag does not verify under this key") from exc


class Sm4GcmCipher:
    def __init__(self, key: bytes):
        if len(key) != SM4_KEY_BYTES:
            raise ValueError(f"an SM4 key is {SM4_KEY_BYTES} bytes, this one is {len(key)}")
        self._key = key

    def encrypt(self, data: bytes) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return SM4_GCM_V1 + nonce + sm4_gcm_encrypt(self._key, nonce, data, SM4_GCM_V1)

    def decrypt(self, token: bytes) -> bytes:
        token = bytes(token)
        if len(token) < 1 + _NONCE_BYTES + _TAG_BYTES or token[:1] != SM4_GCM_V1:
            raise UndecryptableToken("not an SM4-GCM token of silobridge")
        return sm4_gcm_decrypt(self._key, token[1:1 + _NONCE_BYTES], token[1 + _NONCE_BYTES:], SM4_GCM_V1)


def quarantine_cipher(suite: str, key: bytes) -> FernetCipher | Sm4GcmCipher:
    if suite == STANDARD:
        return FernetCipher(key)
    _check_suite(suite)
    return Sm4GcmCipher(key)
