"""Prints fresh demo secrets as an env file (make demo keeps them in var/demo.env)."""

import secrets

from cryptography.fernet import Fernet

print(f"SILOBRIDGE_PII_KEY={secrets.token_hex(32)}")
print(f"SILOBRIDGE_QUARANTINE_KEY={Fernet.generate_key().decode()}")
