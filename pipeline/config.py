"""Configuration and secrets, from the environment or values Airflow hands over.

Nothing here has a default secret: a missing or blank key stops the run with
a sentence saying how to set it. The crypto suite (SILOBRIDGE_CRYPTO,
`standard` or `sm` for 国密) decides how pseudonyms are keyed and quarantined
records encrypted (transforms.keyed); a store keeps the suite and the keys'
fingerprints, and refuses a run with others.
"""

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from loaders.engine import DEFAULT_LOCK_TIMEOUT
from loaders.run_writer import StoreKey
from transforms.keyed import (
    PSEUDONYM_ALGORITHM,
    QUARANTINE_ALGORITHM,
    SM,
    STANDARD,
    SUITES,
    FernetCipher,
    PseudonymKey,
    Sm4GcmCipher,
    derive_quarantine_key,
    fingerprint,
    parse_quarantine_key,
    quarantine_cipher,
)


class ConfigError(RuntimeError):
    """A setting is missing or wrong; the message says how to fix it."""


def home() -> Path:
    """Where generated state lives (the store, drops, Airflow's files): SILOBRIDGE_HOME or ./var."""
    return Path(os.environ.get("SILOBRIDGE_HOME") or Path.cwd() / "var").resolve()


def connection_from_env(conn_id: str) -> dict | None:
    """An Airflow connection given as AIRFLOW_CONN_<ID> (URI or JSON), as Airflow itself reads it."""
    raw = os.environ.get(f"AIRFLOW_CONN_{conn_id.upper()}")
    if not raw:
        return None
    if raw.lstrip().startswith("{"):
        try:
            return json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"AIRFLOW_CONN_{conn_id.upper()} is not valid JSON: {exc}") from exc
    return {"uri": raw}


def store_url_from_connection(conn: dict) -> str:
    if "uri" in conn:
        return conn["uri"]
    kind = conn.get("conn_type", "")
    if kind == "sqlite":
        return f"sqlite:///{conn.get('host') or conn.get('schema')}"
    user = conn.get("login") or ""
    password = f":{conn['password']}" if conn.get("password") else ""
    port = f":{conn['port']}" if conn.get("port") else ""
    return f"postgresql://{user}{password}{'@' if user else ''}{conn.get('host', '')}{port}/{conn.get('schema', '')}"


def folder_from_connection(conn: dict) -> Path | None:
    """An fs connection's folder: extra.path (Airflow's fs convention), else the URI's path."""
    extra = conn.get("extra") or {}
    if isinstance(extra, str):
        extra = json.loads(extra or "{}")
    if extra.get("path"):
        return Path(extra["path"])
    if "uri" in conn:
        return Path(unquote(urlsplit(conn["uri"]).path)) if urlsplit(conn["uri"]).path else None
    return Path(conn["host"]) if conn.get("host") else None


PII_KEY_HELP = ("`export SILOBRIDGE_PII_KEY=$(python -c 'import secrets; print(secrets.token_hex(32))')`")


@dataclass(frozen=True)
class Settings:
    store_url: str
    home: Path
    pii_key: PseudonymKey = field(repr=False)
    quarantine_key: bytes = field(repr=False)
    folders: dict[str, Path] = field(default_factory=dict)
    connections: dict[str, dict] = field(default_factory=dict, repr=False)
    crypto: str = STANDARD
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT  # seconds a run waits for another one to release the store

    @property
    def cipher(self) -> FernetCipher | Sm4GcmCipher:
        """Encrypts quarantined raw records: Fernet (standard) or SM4-GCM (sm)."""
        return quarantine_cipher(self.crypto, self.quarantine_key)

    def store_keys(self) -> tuple[StoreKey, StoreKey]:
        """What the store records of this deployment's keys: the suite and fingerprints, never the keys."""
        return (
            StoreKey("pseudonym", self.crypto, PSEUDONYM_ALGORITHM[self.crypto],
                     fingerprint(self.crypto, self.pii_key.secret, "pseudonym")),
            StoreKey("quarantine", self.crypto, QUARANTINE_ALGORITHM[self.crypto],
                     fingerprint(self.crypto, self.quarantine_key, "quarantine")),
        )

    def connection(self, conn_id: str) -> dict | None:
        """A source's connection: as handed over (Airflow), else AIRFLOW_CONN_<ID> from the environment."""
        return self.connections.get(conn_id) or connection_from_env(conn_id)

    @classmethod
    def resolve(
        cls,
        store_url: str | None = None,
        pii_key: str | None = None,
        quarantine_key: str | None = None,
        folders: dict[str, Path] | None = None,
        connections: dict[str, dict] | None = None,
        crypto: str | None = None,
    ) -> "Settings":
        """Explicit values (command line, Airflow) first, then the environment, then the embedded default."""
        base = home()
        if store_url is None:
            conn = connection_from_env("silobridge_store")
            store_url = store_url_from_connection(conn) if conn else f"sqlite:///{base / 'silobridge.db'}"
        suite = _suite(crypto)
        pii = _secret((pii_key, "the Airflow variable silobridge_pii_key"), "SILOBRIDGE_PII_KEY",
                      "AIRFLOW_VAR_SILOBRIDGE_PII_KEY", help=PII_KEY_HELP)
        if pii is None:
            raise ConfigError(
                "No pseudonymization key is configured: set the environment variable SILOBRIDGE_PII_KEY "
                "or the Airflow variable silobridge_pii_key to a long random secret "
                f"(e.g. {PII_KEY_HELP}), "
                "and keep it unchanged for the life of the store: it is what joins one person across departments."
            )
        secret = pii.encode("utf-8")
        configured = _secret((quarantine_key, "the quarantine key given"), "SILOBRIDGE_QUARANTINE_KEY",
                             help=_QUARANTINE_HELP[suite],
                             or_else=", or unset it to derive one from the pseudonymization key")
        return cls(
            store_url=store_url,
            home=base,
            pii_key=PseudonymKey(secret, suite),
            quarantine_key=_quarantine_key(suite, configured, secret),
            folders=dict(folders or {}),
            connections=dict(connections or {}),
            crypto=suite,
            lock_timeout=lock_timeout_setting(),
        )


_QUARANTINE_HELP = {
    STANDARD: "a Fernet key, made with `python -c 'from cryptography.fernet import Fernet; "
              "print(Fernet.generate_key().decode())'`",
    SM: "32 hex characters (an SM4 key of 16 bytes), made with "
        "`python -c 'import secrets; print(secrets.token_hex(16))'`",
}


def _secret(explicit: tuple[str | None, str], *env_names: str, help: str, or_else: str = "") -> str | None:
    """The first of the explicit value and the environment variables that is set; a blank one is refused."""
    for value, name in (explicit, *((os.environ.get(n), n) for n in env_names)):
        if value is None:
            continue
        if not value.strip():
            raise ConfigError(f"{name} is set but blank: set it to a secret ({help}){or_else}")
        return value
    return None


def _suite(explicit: str | None) -> str:
    value = explicit or os.environ.get("SILOBRIDGE_CRYPTO") or os.environ.get("AIRFLOW_VAR_SILOBRIDGE_CRYPTO") or STANDARD
    suite = value.strip().lower()
    if suite not in SUITES:
        raise ConfigError(
            f"SILOBRIDGE_CRYPTO (or the Airflow variable silobridge_crypto) is {value.strip()[:20]!r}, which is not "
            "a crypto suite: use standard (HMAC-SHA256 pseudonyms, Fernet quarantine) or sm (国密: HMAC-SM3 "
            "pseudonyms, SM4-GCM quarantine), the same for the life of the store"
        )
    return suite


def lock_timeout_setting() -> float:
    """SILOBRIDGE_LOCK_TIMEOUT (or the Airflow variable silobridge_lock_timeout): seconds a run waits for another."""
    raw = os.environ.get("SILOBRIDGE_LOCK_TIMEOUT") or os.environ.get("AIRFLOW_VAR_SILOBRIDGE_LOCK_TIMEOUT")
    if raw is None or not raw.strip():
        return DEFAULT_LOCK_TIMEOUT
    try:
        seconds = float(raw)
    except ValueError:
        seconds = float("nan")
    if not 0 < seconds < float("inf"):
        raise ConfigError(f"SILOBRIDGE_LOCK_TIMEOUT is {raw.strip()[:20]!r}: give the seconds a run may wait for "
                          f"another one to release the store as a positive number (default {DEFAULT_LOCK_TIMEOUT:g})")
    return seconds


def _quarantine_key(suite: str, configured: str | None, pii_secret: bytes) -> bytes:
    """SILOBRIDGE_QUARANTINE_KEY if set (a Fernet key, or 32 hex characters for sm), else one derived from the PII key.

    Deriving keeps a one-secret deployment possible; a separate key lets the
    bureau give replay rights without the pseudonym key.
    """
    if configured is None:
        return derive_quarantine_key(suite, pii_secret)
    try:
        return parse_quarantine_key(suite, configured.strip())
    except ValueError as exc:
        raise ConfigError(
            f"SILOBRIDGE_QUARANTINE_KEY is not a quarantine key of the {suite} crypto suite: give "
            f"{_QUARANTINE_HELP[suite]}, or unset it to derive one from the pseudonymization key"
        ) from exc


def key_mismatch(differences: list[tuple[StoreKey, dict]], store: str) -> str:
    """One sentence for keys that differ from those the store recorded: what differs and what to do."""
    by_purpose = {wanted.purpose: (wanted, recorded) for wanted, recorded in differences}
    wanted, recorded = next(iter(by_purpose.values()))
    when = f"recorded by run {recorded['run_id']} on {recorded['created_at']:%Y-%m-%d}"
    if wanted.suite != recorded["suite"]:
        return (
            f"The store {store} was set up with the {recorded['suite']} crypto suite ({_suite_text(recorded['suite'])}, "
            f"{when}) but this run uses {wanted.suite} ({_suite_text(wanted.suite)}): set SILOBRIDGE_CRYPTO (or the "
            f"Airflow variable silobridge_crypto) to {recorded['suite']} again, or point silobridge at a new store, "
            "since one store keeps one suite for life."
        )
    if "pseudonym" in by_purpose:
        wanted, recorded = by_purpose["pseudonym"]
        return (
            f"The pseudonymization key (SILOBRIDGE_PII_KEY or the Airflow variable silobridge_pii_key) is not the one "
            f"the store {store} was set up with (fingerprint {recorded['fingerprint'][:12]}… {when}, this key's is "
            f"{wanted.fingerprint[:12]}…): set the original key again, since another key gives every person a new "
            "applicant_key and breaks the joins across departments, or point silobridge at a new store."
        )
    return (
        f"The quarantine key (SILOBRIDGE_QUARANTINE_KEY, or the one derived from the pseudonymization key when it is "
        f"unset) is not the one the store {store} encrypts its quarantined records with (fingerprint "
        f"{recorded['fingerprint'][:12]}… {when}, this key's is {wanted.fingerprint[:12]}…): set the original "
        "SILOBRIDGE_QUARANTINE_KEY again, or unset it if the store was set up with the derived one."
    )


def _suite_text(suite: str) -> str:
    return f"{PSEUDONYM_ALGORITHM[suite]} pseudonyms, {QUARANTINE_ALGORITHM[suite]} quarantine"
