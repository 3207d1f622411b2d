"""Configuration and secrets, from the environment or values Airflow hands over.

Nothing here has a default secret: a missing key stops the run with a
sentence saying how to set it.
"""

import base64
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


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


@dataclass(frozen=True)
class Settings:
    store_url: str
    home: Path
    pii_key: bytes = field(repr=False)
    quarantine_key: bytes = field(repr=False)
    folders: dict[str, Path] = field(default_factory=dict)
    connections: dict[str, dict] = field(default_factory=dict, repr=False)

    @property
    def cipher(self) -> Fernet:
        return Fernet(self.quarantine_key)

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
    ) -> "Settings":
        """Explicit values (command line, Airflow) first, then the environment, then the embedded default."""
        base = home()
        if store_url is None:
            conn = connection_from_env("silobridge_store")
            store_url = store_url_from_connection(conn) if conn else f"sqlite:///{base / 'silobridge.db'}"
        pii = pii_key or os.environ.get("SILOBRIDGE_PII_KEY") or os.environ.get("AIRFLOW_VAR_SILOBRIDGE_PII_KEY")
        if not pii:
            raise ConfigError(
                "No pseudonymization key is configured: set the environment variable SILOBRIDGE_PII_KEY "
                "or the Airflow variable silobridge_pii_key to a long random secret "
                "(e.g. `export SILOBRIDGE_PII_KEY=$(python -c 'import secrets; print(secrets.token_hex(32))')`), "
                "and keep it unchanged for the life of the store: it is what joins one person across departments."
            )
        return cls(
            store_url=store_url,
            home=base,
            pii_key=pii.encode("utf-8"),
            quarantine_key=_quarantine_key(
                quarantine_key or os.environ.get("SILOBRIDGE_QUARANTINE_KEY"), pii.encode("utf-8")
            ),
            folders=dict(folders or {}),
            connections=dict(connections or {}),
        )


def _quarantine_key(configured: str | None, pii_key: bytes) -> bytes:
    """SILOBRIDGE_QUARANTINE_KEY (a Fernet key) if set, else one derived from the PII key.

    Deriving keeps a one-secret deployment possible; a separate key lets the
    bureau give replay rights without the pseudonym key.
    """
    if configured:
        try:
            Fernet(configured)
        except ValueError as exc:
            raise ConfigError(
                "SILOBRIDGE_QUARANTINE_KEY is not a Fernet key (32 url-safe base64 bytes); "
                "make one with `python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`"
            ) from exc
        return configured.encode()
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"silobridge quarantine").derive(pii_key)
    return base64.urlsafe_b64encode(derived)
