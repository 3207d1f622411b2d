"""The 国密 suite's primitives against published known-answer vectors, and the keys' properties a store relies on.

Sources of the vectors:
- SM3: GB/T 32905-2016 Appendix A (examples 1 and 2);
- SM4: GB/T 32907-2016 Appendix A (example 1, and example 2: 1,000,000 encryptions);
- HMAC-SM3: GM/T 0042-2015 Appendix D.3 (as reproduced in OpenSSL's test/recipes/30-test_evp_data/evpmac_sm3.txt);
- SM4-GCM: RFC 8998 Appendix A.1.
"""

import hashlib
import hmac
import pickle
from functools import lru_cache

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from pipeline.config import ConfigError, Settings
from transforms.keyed import (
    SM4_GCM_V1,
    PseudonymKey,
    Sm4GcmCipher,
    UndecryptableToken,
    fingerprint,
    keyed_hash,
    sm4_gcm_decrypt,
    sm4_gcm_encrypt,
)
from transforms.pii import pseudonym

SM4_KEY = bytes.fromhex("0123456789abcdeffedcba9876543210")
PERSON = "340603199003070022"


def _sm3(data: bytes) -> str:
    digest = hashes.Hash(hashes.SM3())
    digest.update(data)
    return digest.finalize().hex()


def test_sm3_known_answers_of_gb_t_32905_appendix_a():
    assert _sm3(b"abc") == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    assert _sm3(b"abcd" * 16) == "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"


def _sm4_block(key: bytes, block: bytes) -> bytes:
    encryptor = Cipher(algorithms.SM4(key), modes.ECB()).encryptor()
    return encryptor.update(block) + encryptor.finalize()


def test_sm4_known_answer_of_gb_t_32907_appendix_a_example_1():
    assert _sm4_block(SM4_KEY, SM4_KEY).hex() == "681edf34d206965e86b3e94f536e4246"


def test_sm4_known_answer_of_gb_t_32907_appendix_a_example_2_a_million_encryptions():
    encryptor = Cipher(algorithms.SM4(SM4_KEY), modes.ECB()).encryptor()
    block = SM4_KEY
    for _ in range(1_000_000):  # about 1 s here: one C call per block
        block = encryptor.update(block)
    assert block.hex() == "595298c7c6fd271f0402f804c33d3f66"


@pytest.mark.parametrize("key, message, expected", ids=["D.3-1", "D.3-2", "D.3-3", "D.3-4"], argvalues=[
    (bytes(range(1, 33)),
     b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq" * 2,
     "ca05e144ed05d1857840d1f318a4a8669e559fc8391f414485bfdf7bb408963a"),
    (bytes(range(1, 38)), b"\xcd" * 50, "220bf579ded555393f0159f66c99877822a3ecf610d1552154b41d44b94db3ae"),
    (b"\x0b" * 32, b"Hi There", "c0ba18c68b90c88bc07de794bfc7d2c8d19ec31ed8773bc2b390c9604e0be11e"),
    (b"Jefe Jeferson Jr", b"what do ya want for nothing?",
     "ce791a34c59adef472997a249600f3f244d59e875be04055ba2ae12fc845e78c"),
])
def test_hmac_sm3_known_answers_of_gm_t_0042_appendix_d3(key, message, expected):
    assert keyed_hash("sm", key, message).hex() == expected
    assert PseudonymKey(key, "sm").hex(message) == expected


def test_sm4_gcm_known_answer_of_rfc_8998_appendix_a1():
    nonce = bytes.fromhex("00001234567800000000abcd")
    aad = bytes.fromhex("feedfacedeadbeeffeedfacedeadbeefabaddad2")
    plain = bytes.fromhex("aa" * 8 + "bb" * 8 + "cc" * 8 + "dd" * 8 + "ee" * 8 + "ff" * 8 + "ee" * 8 + "aa" * 8)
    sealed = sm4_gcm_encrypt(SM4_KEY, nonce, plain, aad)
    assert sealed.hex() == (
        "17f399f08c67d5ee19d0dc9969c4bb7d5fd46fd3756489069157b282bb200735"
        "d82710ca5c22f0ccfa7cbf93d496ac15a56834cbcf98c397b4024a2691233b8d"
        "83de3541e4c2b58177e065a9bf7b62ec"  # the tag
    )
    assert sm4_gcm_decrypt(SM4_KEY, nonce, sealed, aad) == plain


def test_an_sm4_gcm_token_opens_only_with_its_key_and_unaltered():
    cipher = Sm4GcmCipher(SM4_KEY)
    token = cipher.encrypt("张三 340603199003070022".encode())
    assert token[:1] == SM4_GCM_V1 and PERSON.encode() not in token
    assert cipher.decrypt(token) == "张三 340603199003070022".encode()
    assert cipher.encrypt(b"same") != cipher.encrypt(b"same")  # a fresh nonce each time
    with pytest.raises(UndecryptableToken):
        Sm4GcmCipher(bytes(16)).decrypt(token)
    altered = bytearray(token)
    altered[20] ^= 1
    with pytest.raises(UndecryptableToken):
        cipher.decrypt(bytes(altered))
    with pytest.raises(UndecryptableToken):  # a Fernet token is not an SM4 one
        cipher.decrypt(b"gAAAAABfake")


def test_standard_pseudonyms_stay_byte_identical_to_hmac_sha256_of_the_key_bytes(monkeypatch):
    monkeypatch.setenv("SILOBRIDGE_PII_KEY", "部署密钥-2026")
    settings = Settings.resolve(store_url="sqlite://")
    expected = hmac.new("部署密钥-2026".encode(), PERSON.encode(), hashlib.sha256).hexdigest()
    assert pseudonym(settings.pii_key, PERSON) == expected == pseudonym("部署密钥-2026", PERSON)


def test_the_sm_suite_keys_by_hmac_sm3_and_never_gives_the_standard_pseudonym(monkeypatch):
    monkeypatch.setenv("SILOBRIDGE_PII_KEY", "部署密钥-2026")
    monkeypatch.setenv("SILOBRIDGE_CRYPTO", "sm")
    settings = Settings.resolve(store_url="sqlite://")
    assert pseudonym(settings.pii_key, PERSON) == keyed_hash("sm", "部署密钥-2026".encode(), PERSON.encode()).hex()
    assert pseudonym(settings.pii_key, PERSON) != pseudonym("部署密钥-2026", PERSON)


def test_a_key_is_hashable_per_suite_and_never_shows_its_secret(monkeypatch):
    standard, sm = PseudonymKey(b"s3cret-value", "standard"), PseudonymKey(b"s3cret-value", "sm")
    assert standard != sm and len({standard, sm}) == 2
    monkeypatch.setenv("SILOBRIDGE_PII_KEY", "s3cret-value")
    settings = Settings.resolve(store_url="sqlite://")
    for shown in (repr(standard), str(sm), f"{sm}", repr(settings), str(settings),
                  repr(pickle.loads(pickle.dumps(sm)))):
        assert "s3cret" not in shown

    @lru_cache
    def cached(key, number):
        return pseudonym(key, number)

    # One process may hold both suites (tests, a migration tool): a cache must not hand one suite's key to the other.
    assert cached(standard, PERSON) != cached(sm, PERSON)
    assert cached(sm, PERSON) == pseudonym(sm, PERSON)


def test_a_fingerprint_names_the_key_and_purpose_without_being_a_pseudonym():
    key = b"s3cret-value"
    assert fingerprint("standard", key, "pseudonym") != fingerprint("standard", key, "quarantine")
    assert fingerprint("standard", key, "pseudonym") != fingerprint("sm", key, "pseudonym")
    assert fingerprint("standard", key, "pseudonym") != fingerprint("standard", b"other", "pseudonym")
    assert key.hex() not in fingerprint("standard", key, "pseudonym")


@pytest.mark.parametrize("value", ["", "   ", "\t\n"])
def test_a_blank_key_is_refused_from_every_place_it_can_come_from(monkeypatch, value):
    monkeypatch.setenv("SILOBRIDGE_PII_KEY", value)
    with pytest.raises(ConfigError, match=r"^SILOBRIDGE_PII_KEY is set but blank: set it to a secret"):
        Settings.resolve(store_url="sqlite://")
    monkeypatch.setenv("SILOBRIDGE_PII_KEY", "fine")
    with pytest.raises(ConfigError, match=r"^the Airflow variable silobridge_pii_key is set but blank"):
        Settings.resolve(store_url="sqlite://", pii_key=value)
    monkeypatch.setenv("SILOBRIDGE_QUARANTINE_KEY", value)
    with pytest.raises(ConfigError, match=r"^SILOBRIDGE_QUARANTINE_KEY is set but blank.*or unset it to derive"):
        Settings.resolve(store_url="sqlite://")


def test_a_quarantine_key_of_the_wrong_kind_for_the_suite_is_one_sentence(monkeypatch):
    from cryptography.fernet import Fernet

    monkeypatch.setenv("SILOBRIDGE_CRYPTO", "sm")
    monkeypatch.setenv("SILOBRIDGE_QUARANTINE_KEY", Fernet.generate_key().decode())
    with pytest.raises(ConfigError, match="not a quarantine key of the sm crypto suite: give 32 hex characters"):
        Settings.resolve(store_url="sqlite://")
    monkeypatch.setenv("SILOBRIDGE_QUARANTINE_KEY", "00112233445566778899aabbccddeeff")
    settings = Settings.resolve(store_url="sqlite://")
    assert settings.quarantine_key == bytes.fromhex("00112233445566778899aabbccddeeff")
    monkeypatch.setenv("SILOBRIDGE_CRYPTO", "gm")
    with pytest.raises(ConfigError, match="'gm', which is not a crypto suite: use standard .* or sm"):
        Settings.resolve(store_url="sqlite://")


def test_without_a_configured_one_the_sm4_quarantine_key_is_derived_by_hkdf_with_sm3(monkeypatch):
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    monkeypatch.setenv("SILOBRIDGE_PII_KEY", "部署密钥-2026")
    monkeypatch.setenv("SILOBRIDGE_CRYPTO", "sm")
    settings = Settings.resolve(store_url="sqlite://")
    derived = HKDF(algorithm=hashes.SM3(), length=16, salt=None,
                   info=b"silobridge quarantine sm4").derive("部署密钥-2026".encode())
    token = settings.cipher.encrypt(b"raw record")
    assert Sm4GcmCipher(derived).decrypt(token) == b"raw record"
