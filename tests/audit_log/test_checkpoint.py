"""Tests for audit_log.checkpoint: C2SP signed notes and tlog checkpoints."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit_log.checkpoint import (
    MAX_NOTE_BYTES,
    Checkpoint,
    NoteError,
    Signer,
    Verifier,
    ed25519_key_id,
    generate_private_key_pem,
    load_private_key_pem,
    open_note,
    parse_checkpoint,
    parse_note,
    sign_note,
    sign_text,
    split_note,
    verify_note,
)

# --- Published vectors of Go's golang.org/x/mod/sumdb/note (note_test.go) -----------

PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER_SIG = (
    "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNX"
    "gKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)
ENOCH_SIG = (
    "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01o"
    "OTGwnWLox33WWd1RvMc+QQ=\n"
)


def peter_signer() -> Signer:
    # Go's private key encoding: PRIVATE+KEY+<name>+<hex id>+base64(0x01 || seed).
    raw = base64.b64decode(PETER_SKEY.split("+", 4)[4])
    assert raw[0] == 0x01
    return Signer("PeterNeumann", Ed25519PrivateKey.from_private_bytes(raw[1:]))


def test_go_note_vector_key_id_and_verifier_key() -> None:
    signer = peter_signer()
    assert signer.key_id.hex() == "c74f20a3"
    assert signer.verifier_key() == PETER_VKEY
    verifier = Verifier.from_key(PETER_VKEY)
    assert verifier.name == "PeterNeumann"
    assert verifier.key_id == bytes.fromhex("c74f20a3")
    assert verifier == signer.verifier()
    assert verifier.verifier_key() == PETER_VKEY


def test_key_id_follows_c2sp_formula() -> None:
    signer = peter_signer()
    digest = hashlib.sha256(b"PeterNeumann\n\x01" + signer.public_key_bytes).digest()
    assert ed25519_key_id("PeterNeumann", signer.public_key_bytes) == digest[:4]


def test_go_note_vector_signature_is_byte_exact() -> None:
    # Ed25519 is deterministic, so our note must equal Go's byte for byte.
    assert sign_text(GO_TEXT, [peter_signer()]) == GO_TEXT + "\n" + PETER_SIG


def test_go_note_vector_open() -> None:
    peter, enoch = Verifier.from_key(PETER_VKEY), Verifier.from_key(ENOCH_VKEY)
    note = GO_TEXT + "\n" + PETER_SIG + ENOCH_SIG
    text, sigs = open_note(note, [peter])
    assert text == GO_TEXT
    assert [s.name for s in sigs] == ["PeterNeumann"]
    _, sigs = open_note(note, [peter, enoch])
    assert [s.name for s in sigs] == ["PeterNeumann", "EnochRoot"]
    _, sigs = open_note(note.encode(), [enoch])
    assert [s.name for s in sigs] == ["EnochRoot"]
    with pytest.raises(NoteError, match="no valid signature"):
        open_note(note, [])


def test_go_note_vector_invalid_signature_by_known_key() -> None:
    peter = Verifier.from_key(PETER_VKEY)
    broken = PETER_SIG[:60] + "ABCD" + PETER_SIG[60:]
    with pytest.raises(NoteError, match="invalid signature for key PeterNeumann\\+c74f20a3"):
        open_note(GO_TEXT + "\n" + broken, [peter])
    # The same broken line is ignored when the key is not known...
    _, sigs = open_note(GO_TEXT + "\n" + broken + ENOCH_SIG, [Verifier.from_key(ENOCH_VKEY)])
    assert [s.name for s in sigs] == ["EnochRoot"]
    # ...but a known key's bad line rejects the note even next to a good one.
    with pytest.raises(NoteError, match="invalid signature"):
        open_note(GO_TEXT + "\n" + ENOCH_SIG + broken, [Verifier.from_key(ENOCH_VKEY), peter])


@pytest.mark.parametrize(
    "note",
    [
        GO_TEXT,
        GO_TEXT + "\n",
        GO_TEXT + "\n" + PETER_SIG[:-1],
        "\x01" + GO_TEXT + "\n" + PETER_SIG,
        GO_TEXT.replace("you", "you\t", 1) + "\n" + PETER_SIG,
        GO_TEXT + "\n" + "— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2p",
        GO_TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
        GO_TEXT + "\n" + PETER_SIG.replace("—", "-"),
        GO_TEXT + "\n" + PETER_SIG.replace("— ", "—"),
        GO_TEXT + "\n" + PETER_SIG.replace("PeterNeumann", "Peter+Neumann"),
        GO_TEXT + "\n" + "— PeterNeumann \n",
        GO_TEXT + "\n" + "— PeterNeumann AAAA\n",
        GO_TEXT + "\n" + "— PeterNeumann not*base64\n",
        GO_TEXT + "\n" + PETER_SIG + "\n",
        "\ud800" + GO_TEXT + "\n" + PETER_SIG,
    ],
)
def test_malformed_notes_are_rejected(note: str) -> None:
    with pytest.raises(NoteError):
        split_note(note)
    with pytest.raises(NoteError):
        open_note(note, [Verifier.from_key(PETER_VKEY)])


def test_invalid_utf8_bytes_rejected() -> None:
    with pytest.raises(NoteError, match="UTF-8"):
        split_note(b"\xff" + (GO_TEXT + "\n" + PETER_SIG).encode())


def test_signature_count_cap() -> None:
    peter = Verifier.from_key(PETER_VKEY)
    _, sigs = open_note(GO_TEXT + "\n" + PETER_SIG * 100, [peter])
    assert len(sigs) == 100
    with pytest.raises(NoteError, match="more than 100"):
        open_note(GO_TEXT + "\n" + PETER_SIG * 101, [peter])


def test_note_size_cap() -> None:
    big = ("x" * 1000 + "\n") * (MAX_NOTE_BYTES // 1001 + 1)
    with pytest.raises(NoteError, match="longer than"):
        split_note(big + "\n" + PETER_SIG)
    with pytest.raises(NoteError, match="longer than"):
        split_note((big + "\n" + PETER_SIG).encode())
    with pytest.raises(NoteError, match="longer than"):
        sign_text(big, [peter_signer()])


def test_verifier_key_manglings_rejected() -> None:
    Verifier.from_key(PETER_VKEY)
    # As Go's TestNewVerifier: every proper substring and every single-byte increment.
    for i in range(len(PETER_VKEY) + 1):
        for j in range(i + 1, len(PETER_VKEY) + 1):
            if (i, j) != (0, len(PETER_VKEY)):
                with pytest.raises(NoteError):
                    Verifier.from_key(PETER_VKEY[i:j])
    for i in range(len(PETER_VKEY)):
        mangled = PETER_VKEY[:i] + chr(ord(PETER_VKEY[i]) + 1) + PETER_VKEY[i + 1 :]
        with pytest.raises(NoteError):
            Verifier.from_key(mangled)
    # Wrong key length, and unknown algorithm, each with the key ID adjusted to match.
    with pytest.raises(NoteError):
        Verifier.from_key(
            "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=="
        )
    with pytest.raises(NoteError, match="not Ed25519"):
        Verifier.from_key("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")


@pytest.mark.parametrize("name", ["", "a+b", "a b", "a\tb", "a\u00a0b", "a\u2003b", "a\nb"])
def test_invalid_key_names(name: str) -> None:
    with pytest.raises(NoteError):
        Signer(name, Ed25519PrivateKey.generate())


def test_verifier_rejects_mismatched_key_id() -> None:
    signer = Signer("example.com/log", Ed25519PrivateKey.generate())
    with pytest.raises(NoteError, match="does not match"):
        Verifier(signer.name, b"\x00\x00\x00\x00", signer.public_key_bytes)


# --- Checkpoints ---------------------------------------------------------------------

ORIGIN = "fairwitness.example/log"
ROOT = hashlib.sha256(b"some root").digest()


@pytest.fixture
def signer() -> Signer:
    return Signer(ORIGIN, Ed25519PrivateKey.generate())


def test_checkpoint_body_format() -> None:
    cp = Checkpoint(ORIGIN, 20852163, ROOT)
    assert cp.body() == f"{ORIGIN}\n20852163\n{base64.b64encode(ROOT).decode()}\n"
    with_ext = Checkpoint(ORIGIN, 0, ROOT, ("ext one", "ext two"))
    assert with_ext.body().endswith("\next one\next two\n")
    assert parse_checkpoint(with_ext.body()) == with_ext


def test_sign_and_verify_round_trip(signer: Signer) -> None:
    cp = Checkpoint(ORIGIN, 42, ROOT)
    note = signer.sign(cp)
    sig_b64 = note.rsplit(" ", 1)[1].strip()
    raw = base64.b64decode(sig_b64)
    assert note == cp.body() + "\n" + f"— {ORIGIN} {sig_b64}\n"
    assert raw[:4] == signer.key_id and len(raw) == 4 + 64
    assert verify_note(note, [signer.verifier()]) == cp
    assert verify_note(note, [Verifier.from_key(signer.verifier_key())]) == cp
    parsed = parse_note(note)
    assert parsed.checkpoint == cp
    assert parsed.text == note
    assert [(s.name, s.key_id) for s in parsed.signatures] == [(ORIGIN, signer.key_id)]


def test_key_rotation_overlap(signer: Signer) -> None:
    new = Signer(ORIGIN, Ed25519PrivateKey.generate())
    cp = Checkpoint(ORIGIN, 7, ROOT)
    note = sign_note(cp, [signer, new])
    assert len(parse_note(note).signatures) == 2
    assert verify_note(note, [signer.verifier()]) == cp
    assert verify_note(note, [new.verifier()]) == cp
    assert verify_note(note, [new.verifier(), signer.verifier()]) == cp
    with pytest.raises(NoteError, match="signs twice"):
        sign_note(cp, [signer, signer])
    with pytest.raises(NoteError, match="at least one"):
        sign_note(cp, [])


def test_unknown_key_only_note_rejected(signer: Signer) -> None:
    other = Signer("someone.else/log", Ed25519PrivateKey.generate())
    note = signer.sign(Checkpoint(ORIGIN, 7, ROOT))
    with pytest.raises(NoteError, match="no valid signature by a known key"):
        verify_note(note, [other.verifier()])
    # Same name, different key (so a different key ID): still unknown, still ignored.
    impostor = Signer(ORIGIN, Ed25519PrivateKey.generate())
    with pytest.raises(NoteError, match="no valid signature by a known key"):
        verify_note(note, [impostor.verifier()])


def _tamper_body(note: str, old: str, new: str) -> str:
    body, sigs = note.split("\n\n", 1)
    assert old in body
    return body.replace(old, new, 1) + "\n\n" + sigs


def test_tampered_checkpoints_rejected(signer: Signer) -> None:
    cp = Checkpoint(ORIGIN, 42, ROOT)
    note = signer.sign(cp)
    verifier = signer.verifier()
    root_b64 = base64.b64encode(ROOT).decode()
    other_root = base64.b64encode(hashlib.sha256(b"other").digest()).decode()
    for forged in (
        _tamper_body(note, "42", "43"),
        _tamper_body(note, ORIGIN, ORIGIN + "2"),
        _tamper_body(note, root_b64, other_root),
        note.replace("\n\n", "\nextension\n\n", 1),
    ):
        with pytest.raises(NoteError, match="invalid signature"):
            verify_note(forged, [verifier])
    # Flip a byte of the Ed25519 signature itself (keep the key ID).
    prefix, sig_b64 = note.rstrip("\n").rsplit(" ", 1)
    raw = bytearray(base64.b64decode(sig_b64))
    raw[10] ^= 1
    forged = f"{prefix} {base64.b64encode(bytes(raw)).decode()}\n"
    with pytest.raises(NoteError, match="invalid signature"):
        verify_note(forged, [verifier])
    # Truncated signature by the known key.
    forged = f"{prefix} {base64.b64encode(bytes(raw[:40])).decode()}\n"
    with pytest.raises(NoteError, match="invalid signature"):
        verify_note(forged, [verifier])


@pytest.mark.parametrize(
    "body",
    [
        "origin\n",
        "origin\n5\n",
        "\n5\nROOT\n",
        "origin\n05\nROOT\n",
        "origin\n-1\nROOT\n",
        "origin\n+5\nROOT\n",
        "origin\n 5\nROOT\n",
        "origin\n５\nROOT\n",
        "origin\n99999999999999999999\nROOT\n",
        "origin\n9223372036854775808\nROOT\n",
        "origin\n5\nROOT\n\next\n",
        "origin\n5\nROOT",
        "origin\n5\nAAAA\n",
        "origin\n5\nnot base64!\n",
        "origin\n5\n" + base64.b64encode(b"x" * 33).decode() + "\n",
    ],
)
def test_malformed_checkpoint_bodies(body: str) -> None:
    body = body.replace("ROOT", base64.b64encode(ROOT).decode())
    with pytest.raises(NoteError):
        parse_checkpoint(body)


def test_non_canonical_root_base64_rejected() -> None:
    good = base64.b64encode(ROOT).decode()
    # The last character before '=' carries 2 unused bits; setting one is non-canonical.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    last = good[-2]
    bad = good[:-2] + alphabet[alphabet.index(last) ^ 1] + "="
    assert base64.b64decode(bad) == ROOT
    with pytest.raises(NoteError, match="canonical"):
        parse_checkpoint(f"origin\n1\n{bad}\n")


def test_checkpoint_zero_size_and_max_size() -> None:
    assert parse_checkpoint(Checkpoint(ORIGIN, 0, ROOT).body()).size == 0
    largest = f"o\n{2**63 - 1}\n{base64.b64encode(ROOT).decode()}\n"
    assert parse_checkpoint(largest).size == 2**63 - 1


@pytest.mark.parametrize(
    "kwargs",
    [
        {"origin": ""},
        {"origin": "a\nb"},
        {"size": -1},
        {"size": True},
        {"size": 2**63},
        {"root": b"short"},
        {"extensions": ("",)},
        {"extensions": ("two\nlines",)},
    ],
)
def test_invalid_checkpoints_cannot_be_built(kwargs: dict) -> None:
    args = {"origin": ORIGIN, "size": 1, "root": ROOT, **kwargs}
    with pytest.raises(NoteError):
        Checkpoint(**args)


def test_parse_note_reports_reason(signer: Signer) -> None:
    note = signer.sign(Checkpoint(ORIGIN, 3, ROOT))
    with pytest.raises(NoteError, match="blank line"):
        parse_note(note.replace("\n\n", "\n"))


def test_duplicate_verifiers_accepted(signer: Signer) -> None:
    note = signer.sign(Checkpoint(ORIGIN, 3, ROOT))
    verifier = signer.verifier()
    assert verify_note(note, [verifier, verifier]).size == 3  # the same key twice is fine


# --- PEM keys ----------------------------------------------------------------------


def test_pem_round_trip() -> None:
    pem = generate_private_key_pem()
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    key = load_private_key_pem(pem)
    signer = Signer(ORIGIN, key)
    assert Signer(ORIGIN, load_private_key_pem(pem)).verifier_key() == signer.verifier_key()


def test_pem_errors() -> None:
    with pytest.raises(NoteError):
        load_private_key_pem(b"not a key")
    ec_pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(NoteError, match="not Ed25519"):
        load_private_key_pem(ec_pem)


def test_signer_repr_hides_private_key(signer: Signer) -> None:
    assert "PRIVATE" not in repr(signer)
    assert signer.key_id.hex() in repr(signer)


def test_verifier_key_with_plus_in_base64() -> None:
    # Names never hold '+', base64 keys may: parsing must split at the first two only.
    for seed in range(256):
        signer = Signer(ORIGIN, Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32))
        if "+" in signer.verifier_key().split("+", 2)[2]:
            break
    else:
        pytest.fail("no seed gave a '+' in the key")
    assert Verifier.from_key(signer.verifier_key()) == signer.verifier()
