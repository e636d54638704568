"""Signed checkpoints of the audit log: C2SP signed notes with Ed25519 keys.

Two layers, each following its spec to the letter so that Go's ``sumdb/note`` and the
transparency-dev witnesses read our checkpoints and we read theirs:

- the signed note (https://c2sp.org/signed-note): a text ending in a newline, a blank
  line, then lines ``— <key name> base64(4-byte key ID || signature)``; the key ID is
  SHA-256(name || 0x0A || 0x01 || Ed25519 public key)[:4], and a verifier key is written
  ``<name>+<hex key ID>+base64(0x01 || public key)``;
- the checkpoint (https://c2sp.org/tlog-checkpoint): a note text of an origin line, a
  decimal tree size, the base64 RFC 6962 root hash, and optional extension lines.

Everything here is pure; every malformed input raises ``NoteError`` saying why.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

MAX_NOTE_BYTES = 1 << 20
"""Longest note accepted or produced, in UTF-8 bytes (the spec asks verifiers for a cap)."""

MAX_SIGNATURES = 100
"""Most signature lines accepted in one note; Go's ``note.Open`` uses the same cap."""

MAX_TREE_SIZE = (1 << 63) - 1
"""Largest tree size accepted: a log index must fit a signed 64-bit database column."""

ALG_ED25519 = 0x01
"""C2SP signature type byte for Ed25519 (signed-note, "Signature types")."""

KEY_ID_SIZE = 4
ROOT_HASH_SIZE = 32
_ED25519_PUBLIC_KEY_SIZE = 32
_SIGNATURE_PREFIX = "\u2014 "  # em dash, space
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")
_DECIMAL = re.compile(r"0|[1-9][0-9]*")
_HEX_KEY_ID = re.compile(r"[0-9a-fA-F]{8}")


class NoteError(ValueError):
    """A note, checkpoint or key is malformed, or a note's signatures do not verify."""


# --- Encoding helpers -------------------------------------------------------------


def _b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _b64decode(text: str, what: str, *, canonical: bool = False) -> bytes:
    """Decode standard padded base64 (RFC 4648 §4), rejecting anything outside it."""
    try:
        data = base64.b64decode(text.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error) as exc:
        raise NoteError(f"{what} is not standard base64") from exc
    # For values we compare byte for byte (root hashes, keys), one spelling only: a
    # second encoding of the same bytes would let two texts carry one meaning.
    if canonical and _b64encode(data) != text:
        raise NoteError(f"{what} is not canonical base64")
    return data


def _check_key_name(name: object) -> str:
    if not isinstance(name, str) or not name:
        raise NoteError("key name must be a non-empty string")
    if "+" in name or any(ch.isspace() for ch in name):
        raise NoteError(f"key name {name!r} must not contain '+' or whitespace")
    if _CONTROL.search(name):
        raise NoteError(f"key name {name!r} must not contain control characters")
    return name


def ed25519_key_id(name: str, public_key: bytes) -> bytes:
    """Return the 4-byte C2SP key ID SHA-256(name || 0x0A || 0x01 || public key)[:4].

    (c2sp.org/signed-note, "Ed25519 signatures".)
    """
    name = _check_key_name(name)
    if len(public_key) != _ED25519_PUBLIC_KEY_SIZE:
        raise NoteError(f"an Ed25519 public key is 32 bytes, got {len(public_key)}")
    digest = hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([ALG_ED25519]) + public_key)
    return digest.digest()[:KEY_ID_SIZE]


def _note_text(text: object) -> str:
    """Return the note as str after the encoding checks every note must pass."""
    if isinstance(text, bytes | bytearray):
        if len(text) > MAX_NOTE_BYTES:
            raise NoteError(f"note is longer than {MAX_NOTE_BYTES} bytes")
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise NoteError("note is not valid UTF-8") from exc
    elif isinstance(text, str):
        try:
            size = len(text.encode("utf-8"))
        except UnicodeEncodeError as exc:
            raise NoteError("note is not valid UTF-8 (lone surrogate)") from exc
        if size > MAX_NOTE_BYTES:
            raise NoteError(f"note is longer than {MAX_NOTE_BYTES} bytes")
    else:
        raise NoteError(f"a note is text, got {type(text).__name__}")
    if _CONTROL.search(text):
        raise NoteError("note contains an ASCII control character other than newline")
    return text


# --- Keys --------------------------------------------------------------------------


@dataclass(frozen=True)
class Verifier:
    """An Ed25519 public key with its C2SP name and key ID; checks signatures by it."""

    name: str
    key_id: bytes
    public_key_bytes: bytes

    def __post_init__(self) -> None:
        expected = ed25519_key_id(self.name, self.public_key_bytes)
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key_bytes)
        except ValueError as exc:
            raise NoteError(f"key {self.name} is not a valid Ed25519 public key") from exc
        if self.key_id != expected:
            raise NoteError(
                f"key ID {self.key_id.hex()} does not match key {self.name} "
                f"(expected {expected.hex()})"
            )

    @classmethod
    def from_key(cls, vkey: object) -> Verifier:
        """Parse a verifier key ``<name>+<hex key ID>+<base64(0x01 || public key)>``.

        Raises ``NoteError`` unless the name is valid, the algorithm byte is Ed25519
        (0x01), the key is 32 bytes and the key ID is the one the name and key imply.
        """
        if not isinstance(vkey, str):
            raise NoteError(f"a verifier key is text, got {type(vkey).__name__}")
        # Names hold no '+', but base64 keys may: split at the first two only.
        parts = vkey.split("+", 2)
        if len(parts) != 3:
            raise NoteError("verifier key must be <name>+<hex key id>+<base64 key>")
        name, key_id_hex, key_b64 = parts
        _check_key_name(name)
        if not _HEX_KEY_ID.fullmatch(key_id_hex):
            raise NoteError(f"verifier key ID {key_id_hex!r} is not 8 hexadecimal digits")
        key = _b64decode(key_b64, "verifier public key", canonical=True)
        if not key:
            raise NoteError("verifier public key is empty")
        if key[0] != ALG_ED25519:
            raise NoteError(f"verifier key algorithm 0x{key[0]:02x} is not Ed25519 (0x01)")
        if len(key) != 1 + _ED25519_PUBLIC_KEY_SIZE:
            raise NoteError(f"an Ed25519 verifier key is 33 bytes, got {len(key)}")
        return cls(name, bytes.fromhex(key_id_hex), key[1:])

    def verifier_key(self) -> str:
        """Return this key in verifier key form, as ``from_key`` reads it."""
        encoded = _b64encode(bytes([ALG_ED25519]) + self.public_key_bytes)
        return f"{self.name}+{self.key_id.hex()}+{encoded}"

    def verify(self, message: bytes, signature: bytes) -> bool:
        """Report whether ``signature`` is this key's Ed25519 signature of ``message``."""
        public_key = Ed25519PublicKey.from_public_bytes(self.public_key_bytes)
        try:
            public_key.verify(signature, message)
        except (InvalidSignature, ValueError):
            return False
        return True


class Signer:
    """An Ed25519 private key under a C2SP key name; signs note texts."""

    __slots__ = ("_private_key", "key_id", "name", "public_key_bytes")

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        if not isinstance(private_key, Ed25519PrivateKey):
            raise NoteError("a signer needs an Ed25519 private key")
        self.name: str = _check_key_name(name)
        self._private_key = private_key
        self.public_key_bytes: bytes = private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.key_id: bytes = ed25519_key_id(name, self.public_key_bytes)

    def __repr__(self) -> str:
        return f"Signer({self.name!r}, key_id={self.key_id.hex()})"

    def verifier(self) -> Verifier:
        """Return the public half of this key."""
        return Verifier(self.name, self.key_id, self.public_key_bytes)

    def verifier_key(self) -> str:
        """Return the public key as ``<name>+<hex key ID>+<base64(0x01 || public key)>``."""
        return self.verifier().verifier_key()

    def sign_bytes(self, message: bytes) -> bytes:
        """Return the raw 64-byte Ed25519 signature (RFC 8032) of ``message``."""
        return self._private_key.sign(message)

    def sign(self, checkpoint: Checkpoint) -> str:
        """Return the checkpoint as a signed note carrying this key's signature line."""
        return sign_note(checkpoint, [self])


def generate_private_key_pem() -> bytes:
    """Return a new Ed25519 private key as unencrypted PKCS#8 PEM."""
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def load_private_key_pem(data: bytes) -> Ed25519PrivateKey:
    """Load an unencrypted PEM private key; raise ``NoteError`` unless it is Ed25519."""
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise NoteError(f"cannot load the signing key: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise NoteError(f"the signing key is {type(key).__name__}, not Ed25519")
    return key


# --- Signed notes (c2sp.org/signed-note) -----------------------------------------


@dataclass(frozen=True)
class Signature:
    """One signature line of a note: key name, 4-byte key ID, signature bytes."""

    name: str
    key_id: bytes
    signature: bytes

    def line(self) -> str:
        """Return the signature line ``— <name> base64(key ID || signature)`` with newline."""
        return f"{_SIGNATURE_PREFIX}{self.name} {_b64encode(self.key_id + self.signature)}\n"


def sign_text(text: str, signers: Sequence[Signer]) -> str:
    """Return ``text`` as a C2SP signed note with one signature line per signer.

    Each signer signs the UTF-8 bytes of ``text`` including its final newline. Several
    signers let a log overlap an old and a new key during rotation. Raises ``NoteError``
    if the text is empty, lacks the final newline or holds control characters, if no or
    duplicate signers are given, or if the note would exceed the size cap.
    """
    text = _note_text(text)
    if not text.endswith("\n"):
        raise NoteError("note text must end with a newline")
    if not signers:
        raise NoteError("a note needs at least one signer")
    if len(signers) > MAX_SIGNATURES:
        raise NoteError(f"a note carries at most {MAX_SIGNATURES} signatures")
    seen: set[tuple[str, bytes]] = set()
    message = text.encode("utf-8")
    lines = []
    for signer in signers:
        if (signer.name, signer.key_id) in seen:
            raise NoteError(f"key {signer.name}+{signer.key_id.hex()} signs twice")
        seen.add((signer.name, signer.key_id))
        lines.append(Signature(signer.name, signer.key_id, signer.sign_bytes(message)).line())
    note = text + "\n" + "".join(lines)
    if len(note.encode("utf-8")) > MAX_NOTE_BYTES:
        raise NoteError(f"signed note would be longer than {MAX_NOTE_BYTES} bytes")
    return note


def split_note(text: object) -> tuple[str, tuple[Signature, ...]]:
    """Parse a signed note into its text and signature lines, verifying nothing.

    The text is everything up to and including the newline before the last blank line
    (c2sp.org/signed-note, "Format"). Raises ``NoteError`` naming the first violation.
    """
    note = _note_text(text)
    split = note.rfind("\n\n")
    if split < 0:
        raise NoteError("note has no blank line before its signatures")
    body, block = note[: split + 1], note[split + 2 :]
    if not block:
        raise NoteError("note has no signature lines")
    if not block.endswith("\n"):
        raise NoteError("note does not end with a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(f"note has more than {MAX_SIGNATURES} signatures")
    signatures = []
    for number, line in enumerate(lines, start=1):
        if not line.startswith(_SIGNATURE_PREFIX):
            raise NoteError(f"signature line {number} does not start with an em dash and space")
        name, space, encoded = line[len(_SIGNATURE_PREFIX) :].partition(" ")
        if not space or not encoded:
            raise NoteError(f"signature line {number} has no signature after the key name")
        try:
            _check_key_name(name)
        except NoteError as exc:
            raise NoteError(f"signature line {number}: {exc}") from exc
        raw = _b64decode(encoded, f"signature line {number}")
        if len(raw) <= KEY_ID_SIZE:
            raise NoteError(f"signature line {number} is too short to hold a key ID")
        signatures.append(Signature(name, raw[:KEY_ID_SIZE], raw[KEY_ID_SIZE:]))
    return body, tuple(signatures)


def open_note(text: object, verifiers: Sequence[Verifier]) -> tuple[str, tuple[Signature, ...]]:
    """Return a note's text and its verified signatures, or raise ``NoteError``.

    Follows c2sp.org/signed-note "Signatures": lines whose (name, key ID) matches no
    known key are ignored; a line that matches a known key must verify or the whole
    note is rejected; at least one line must verify.
    """
    body, signatures = split_note(text)
    known: dict[tuple[str, bytes], Verifier] = {}
    for verifier in verifiers:
        key = (verifier.name, verifier.key_id)
        if known.get(key, verifier) != verifier:
            # Two different keys share a name and ID: which one signed is undecidable.
            raise NoteError(f"ambiguous key {verifier.name}+{verifier.key_id.hex()}")
        known[key] = verifier
    message = body.encode("utf-8")
    verified = []
    for signature in signatures:
        signer_key = known.get((signature.name, signature.key_id))
        if signer_key is None:
            continue
        if not signer_key.verify(message, signature.signature):
            raise NoteError(f"invalid signature for key {signature.name}+{signature.key_id.hex()}")
        verified.append(signature)
    if not verified:
        raise NoteError("note has no valid signature by a known key")
    return body, tuple(verified)


# --- Checkpoints (c2sp.org/tlog-checkpoint) ---------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    """A log's tree head: origin, tree size, RFC 6962 root hash, extension lines."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.origin, str) or not self.origin:
            raise NoteError("checkpoint origin must be a non-empty string")
        if "\n" in self.origin or _CONTROL.search(self.origin):
            raise NoteError("checkpoint origin must be one line without control characters")
        size = self.size
        if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= MAX_TREE_SIZE:
            raise NoteError(f"checkpoint size must be an integer in [0, 2^63), got {size!r}")
        if not isinstance(self.root, bytes | bytearray) or len(self.root) != ROOT_HASH_SIZE:
            raise NoteError(f"checkpoint root must be {ROOT_HASH_SIZE} bytes")
        # Frozen, so normalise through object.__setattr__: equality and hashing of
        # checkpoints must not depend on whether a caller passed a list or a bytearray.
        object.__setattr__(self, "root", bytes(self.root))
        object.__setattr__(self, "extensions", tuple(self.extensions))
        for extension in self.extensions:
            if not isinstance(extension, str) or not extension:
                raise NoteError("checkpoint extension lines must be non-empty strings")
            if "\n" in extension or _CONTROL.search(extension):
                raise NoteError("checkpoint extension must be one line without control chars")

    def body(self) -> str:
        """Return the note text: origin, size, base64 root and extensions, one per line."""
        lines = [self.origin, str(self.size), _b64encode(self.root), *self.extensions]
        return "".join(line + "\n" for line in lines)


@dataclass(frozen=True)
class SignedCheckpoint:
    """A parsed checkpoint note: the checkpoint, its signature lines and the full text.

    Nothing in it has been verified; ``verify_note`` is the function that trusts.
    """

    checkpoint: Checkpoint
    signatures: tuple[Signature, ...]
    text: str


def parse_checkpoint(body: str) -> Checkpoint:
    """Parse a checkpoint note text (c2sp.org/tlog-checkpoint, "Note text").

    At least three non-empty lines: origin; tree size in decimal without leading zeros;
    standard base64 of a 32-byte root hash; then optional non-empty extension lines.
    """
    if not body.endswith("\n"):
        raise NoteError("checkpoint text must end with a newline")
    lines = body[:-1].split("\n")
    if len(lines) < 3:
        raise NoteError("checkpoint needs origin, size and root hash lines")
    if any(not line for line in lines):
        raise NoteError("checkpoint lines must not be empty")
    origin, size_text, root_text, *extensions = lines
    if not _DECIMAL.fullmatch(size_text):
        raise NoteError(f"checkpoint size {size_text!r} is not a decimal without leading zeros")
    if len(size_text) > len(str(MAX_TREE_SIZE)):
        raise NoteError("checkpoint size is out of range")
    root = _b64decode(root_text, "checkpoint root hash", canonical=True)
    if len(root) != ROOT_HASH_SIZE:
        raise NoteError(f"checkpoint root hash is {len(root)} bytes, not {ROOT_HASH_SIZE}")
    return Checkpoint(origin, int(size_text), root, tuple(extensions))


def sign_note(checkpoint: Checkpoint, signers: Sequence[Signer]) -> str:
    """Return the checkpoint as a signed note with one signature line per signer."""
    return sign_text(checkpoint.body(), signers)


def parse_note(text: object) -> SignedCheckpoint:
    """Parse a checkpoint note strictly, without verifying it; ``NoteError`` says why not."""
    note = _note_text(text)
    body, signatures = split_note(note)
    return SignedCheckpoint(parse_checkpoint(body), signatures, note)


def verify_note(text: object, verifiers: Sequence[Verifier]) -> Checkpoint:
    """Return the checkpoint of a note signed by at least one of ``verifiers``.

    Signature lines by unknown keys are ignored; a line by a known key that fails to
    verify rejects the note (c2sp.org/signed-note). Raises ``NoteError``.
    """
    body, _ = open_note(text, verifiers)
    return parse_checkpoint(body)
