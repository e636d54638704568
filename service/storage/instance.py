"""The instance folder: the log's signing keys and the pseudonym secret.

Everything in it is private to the service's user: files ``0600``, folders ``0700``
(``secure_instance_files``), as is an SQLite database kept elsewhere.

``fairwitness init`` creates the original signing key and the secret once; neither is
ever rewritten (a new secret would break every subject's pseudonym). A key rotation
adds keys beside the original under ``signing-keys/``, one PEM file per key named by
its key ID; old keys stay, since old checkpoints were signed with them and the log's
schedule, not the files present, says which keys sign now.
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import make_url

from audit_log.checkpoint import (
    NoteError,
    Signer,
    generate_private_key_pem,
    load_private_key_pem,
)

SIGNING_KEY_FILE = "signing-key.pem"
SIGNING_KEYS_DIR = "signing-keys"
SECRET_FILE = "pseudonym-secret"
# Permission bits for the group and everyone else: none of them, ever.
OTHERS = 0o077
# The files SQLite and the append lock keep beside a database.
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal", ".append-lock")

_log = logging.getLogger("fairwitness.instance")


class InstanceError(RuntimeError):
    """The instance folder is missing or incomplete."""


@dataclass(frozen=True)
class Instance:
    signing_key: Ed25519PrivateKey
    secret: bytes
    # Keys added for rotations (``signing-keys/*.pem``), in file-name order.
    added_keys: tuple[Ed25519PrivateKey, ...] = ()


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def sqlite_files(database_url: str) -> list[Path]:
    """The files of an SQLite database and those kept beside it; none for a server."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return []
    database = Path(url.database)
    return [database, *(Path(f"{database}{suffix}") for suffix in SQLITE_SIDE_FILES)]


def secure_instance_files(directory: Path, database_url: str) -> list[Path]:
    """Make the instance private to this user, now and for what is created later.

    Sets the process umask to ``077``, so new files are ``0600`` and folders ``0700``
    (SQLite gives its write-ahead log and shared-memory files the database file's
    mode), then takes every group and other permission off what exists: the instance
    folder and everything in it, and the files of an SQLite database kept elsewhere.
    Returns the paths changed. Raises ``InstanceError`` when a path cannot be changed
    (another user owns it): the service does not run with keys or content others can
    read.
    """
    os.umask(OTHERS)
    changed = []
    targets = []
    if directory.is_dir():
        targets.append(directory)
        for root, dirs, files in os.walk(directory):
            targets.extend(Path(root, name) for name in (*dirs, *files))
    targets.extend(sqlite_files(database_url))
    for path in targets:
        try:
            info = path.lstat()
        except FileNotFoundError:
            continue
        mode = stat.S_IMODE(info.st_mode)
        if stat.S_ISLNK(info.st_mode) or mode & OTHERS == 0:
            continue
        try:
            path.chmod(mode & ~OTHERS)
        except OSError as exc:
            raise InstanceError(
                f"{path} is open to other users (mode {mode:o}) and cannot be made "
                f"private: {exc.strerror}; the service's user must own it"
            ) from exc
        _log.warning("made %s private (it was mode %o)", path, mode)
        changed.append(path)
    return changed


def init_instance(directory: Path) -> list[str]:
    """Create whatever of the instance is missing; return what was created."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
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
    added = []
    keys_dir = directory / SIGNING_KEYS_DIR
    if keys_dir.is_dir():
        for path in sorted(keys_dir.glob("*.pem")):
            try:
                added.append(load_private_key_pem(path.read_bytes()))
            except NoteError as exc:
                raise InstanceError(f"{path}: {exc}") from exc
    return Instance(
        signing_key=load_private_key_pem(key_path.read_bytes()),
        secret=secret,
        added_keys=tuple(added),
    )


def signer_for(instance: Instance, origin: str) -> Signer:
    """The instance's original signing key."""
    return Signer(origin, instance.signing_key)


def signers_for(instance: Instance, origin: str) -> tuple[Signer, ...]:
    """Every signing key the instance holds, the original first."""
    return tuple(Signer(origin, key) for key in (instance.signing_key, *instance.added_keys))


def add_signing_key(directory: Path, origin: str) -> tuple[Signer, Path]:
    """Generate a new signing key into ``signing-keys/<key id>.pem`` (mode 0600)."""
    keys_dir = directory / SIGNING_KEYS_DIR
    keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    pem = generate_private_key_pem()
    signer = Signer(origin, load_private_key_pem(pem))
    path = keys_dir / f"{signer.key_id.hex()}.pem"
    _write_private(path, pem)
    return signer, path


def reload_signers(directory: Path, origin: str) -> tuple[Signer, ...]:
    """Every signing key the instance folder holds now; none when it cannot be read (a
    key file half-copied, say), so a caller retries on its next use."""
    try:
        return signers_for(load_instance(directory), origin)
    except (InstanceError, OSError, ValueError):
        return ()
