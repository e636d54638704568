"""The instance folder: the log's signing key and the pseudonym secret.

Both are created once by ``fairwitness init`` and never rewritten: a new signing key
would orphan every checkpoint, a new secret would break every subject's pseudonym.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit_log.checkpoint import Signer, generate_private_key_pem, load_private_key_pem

SIGNING_KEY_FILE = "signing-key.pem"
SECRET_FILE = "pseudonym-secret"


class InstanceError(RuntimeError):
    """The instance folder is missing or incomplete."""


@dataclass(frozen=True)
class Instance:
    signing_key: Ed25519PrivateKey
    secret: bytes


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def init_instance(directory: Path) -> list[str]:
    """Create whatever of the instance is missing; return what was created."""
    directory.mkdir(parents=True, exist_ok=True)
    created = []
    key_path = directory / SIGNING_KEY_FILE
    if not key_path.exists():
        _write_private(key_path, generate_private_key_pem())
        created.append(SIGNING_KEY_FILE)
    secret_path = directory / SECRET_FILE
    if not secret_path.exists():
        _write_private(secret_path, secrets.token_hex(32).encode())
        created.append(SECRET_FILE)
    return created


def load_instance(directory: Path) -> Instance:
    key_path = directory / SIGNING_KEY_FILE
    secret_path = directory / SECRET_FILE
    for path in (key_path, secret_path):
        if not path.exists():
            raise InstanceError(f"{path} is missing: run `fairwitness init` first")
    secret = bytes.fromhex(secret_path.read_text().strip())
    return Instance(signing_key=load_private_key_pem(key_path.read_bytes()), secret=secret)


def signer_for(instance: Instance, origin: str) -> Signer:
    return Signer(origin, instance.signing_key)
