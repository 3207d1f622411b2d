"""What a source's connection holds, in the two shapes it arrives in (a URI, or Airflow's fields)."""

import json
from urllib.parse import unquote, urlsplit

from pipeline.config import ConfigError


def _fields(conn: dict) -> dict:
    if "uri" not in conn:
        extra = conn.get("extra") or {}
        return {**conn, "extra": json.loads(extra) if isinstance(extra, str) else extra}
    parts = urlsplit(conn["uri"])
    return {
        "conn_type": parts.scheme, "host": parts.hostname, "port": parts.port, "schema": parts.path.lstrip("/"),
        "login": unquote(parts.username) if parts.username else None,
        "password": unquote(parts.password) if parts.password else None, "extra": {},
    }


def base_url(conn: dict) -> str:
    """scheme://host[:port][/path] of an http connection."""
    if "uri" in conn:
        parts = urlsplit(conn["uri"])
        host = parts.hostname + (f":{parts.port}" if parts.port else "")
        return f"{parts.scheme}://{host}{parts.path}".rstrip("/")
    f = _fields(conn)
    # Airflow keeps the scheme in `schema`, or (parsing an https:// URI) in conn_type; HttpHook's default is http.
    scheme = next((v for v in (f.get("schema"), f.get("conn_type")) if v in ("http", "https")), "http")
    host = f.get("host") or ""
    if "://" in host:
        return host.rstrip("/")
    return f"{scheme}://{host}{':' + str(f['port']) if f.get('port') else ''}"


def credentials(conn: dict, auth_kind: str) -> dict[str, str]:
    """The connection's login/password as the auth kind names them."""
    f = _fields(conn)
    if not f.get("login") or not f.get("password"):
        raise ConfigError("the connection has no login and password: give the client id / app id as login "
                          "and the secret as password")
    if auth_kind == "hmac_signed":
        return {"app_id": f["login"], "app_secret": f["password"]}
    return {"client_id": f["login"], "client_secret": f["password"]}


def database_url(conn: dict) -> str:
    """A SQLAlchemy URL from a database connection (a URI is taken as it is)."""
    if "uri" in conn:
        return conn["uri"]
    f = _fields(conn)
    driver = {"mysql": "mysql+pymysql", "postgres": "postgresql+psycopg", "sqlite": "sqlite"}.get(
        f.get("conn_type"), f.get("conn_type"))
    if driver == "sqlite":
        return f"sqlite:///{f.get('host') or f.get('schema')}"  # Airflow puts a URI's path in schema
    auth = f"{f['login']}{':' + f['password'] if f.get('password') else ''}@" if f.get("login") else ""
    return f"{driver}://{auth}{f.get('host')}{':' + str(f['port']) if f.get('port') else ''}/{f.get('schema') or ''}"
