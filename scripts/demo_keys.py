"""Prints fresh secrets as an env file: the demo's store keys (var/demo.env), or with --airflow the
secrets every process of one Airflow deployment must share (var/airflow.env, for `make airflow`).

    python scripts/demo_keys.py            # SILOBRIDGE_PII_KEY, SILOBRIDGE_QUARANTINE_KEY
    python scripts/demo_keys.py --airflow  # the API's JWT and session secrets, the Fernet key
"""

import argparse
import secrets

from cryptography.fernet import Fernet


def store_keys() -> dict[str, str]:
    return {"SILOBRIDGE_PII_KEY": secrets.token_hex(32),
            "SILOBRIDGE_QUARANTINE_KEY": Fernet.generate_key().decode()}


def airflow_keys() -> dict[str, str]:
    """Without these shared, each Airflow process makes up its own and tasks fail their JWT check."""
    return {
        # Signs the tokens of the UI, the REST API and the task processes (execution API); HS512 wants 64 bytes.
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),
        "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
        # Encrypts connection passwords and variables in Airflow's metadata database.
        "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--airflow", action="store_true", help="the Airflow deployment's shared secrets")
    keys = airflow_keys() if parser.parse_args().airflow else store_keys()
    for name, value in keys.items():
        print(f"{name}={value}")


if __name__ == "__main__":
    main()
