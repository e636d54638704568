"""``fairwitness verify``, ``log key``, ``log audit`` and ``content erase``.

``verify`` and ``log audit`` are what a member of the public runs: ``verify`` is
offline (no database, no network, no instance), ``log audit`` talks only to the public
HTTP API. Heavy imports stay inside the commands.

Exit codes: 0 verified; 1 a check failed (the message names it); 2 the input could not
be read (file, key file, state file, network).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import click

EXIT_FAILED = 1
EXIT_UNREADABLE = 2
NDJSON = "application/x-ndjson"
_CHUNK = 1 << 16


def _say(message: str) -> None:
    click.echo(message, err=True)


class _Unreadable(Exception):
    """An input could not be read at all: exit 2."""


def _read_bytes(path: Path, what: str) -> bytes:
    try:
        if str(path) == "-":
            return sys.stdin.buffer.read()
        return path.read_bytes()
    except OSError as exc:
        raise _Unreadable(f"cannot read {what} {path}: {exc.strerror or exc}") from exc


def _read_keys(path: Path) -> list:
    """Verifier keys, one per line (as ``GET /v1/log/key`` serves them); '#' comments."""
    from audit_log.checkpoint import NoteError, Verifier

    try:
        text = _read_bytes(path, "key file").decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _Unreadable(f"key file {path} is not UTF-8 text") from exc
    verifiers = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            verifiers.append(Verifier.from_key(line))
        except NoteError as exc:
            raise _Unreadable(f"key file {path} line {number}: {exc}") from exc
    if not verifiers:
        raise _Unreadable(f"key file {path} holds no verifier key")
    return verifiers


def _key_names(signatures) -> str:
    return ", ".join(f"{s.name}+{s.key_id.hex()}" for s in signatures)


# --- fairwitness verify --------------------------------------------------------------


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@click.option(
    "--key",
    "key_file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="File of verifier keys, one per line, as GET /v1/log/key serves them.",
)
def verify(file: Path, key_file: Path) -> None:
    """Check a saved decision and its receipt offline.

    FILE is a POST /v1/moderations response ({"decision", "receipt"}) or a
    GET /v1/decisions/{id} response ({"entry", "receipt"}); "-" reads stdin. Checks the
    checkpoint's signature, its tree size, the body's leaf hash and the inclusion proof.
    Exit 0 verified, 1 a check failed, 2 unreadable input.
    """
    from audit_log.checkpoint import open_note
    from audit_log.verify import VerificationError, verify_document

    try:
        verifiers = _read_keys(key_file)
        raw = _read_bytes(file, "file")
        try:
            doc = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise _Unreadable(f"{file} is not JSON: {exc}") from exc
        if (
            not isinstance(doc, dict)
            or "receipt" not in doc
            or not (("decision" in doc) ^ ("entry" in doc))
        ):
            raise _Unreadable(
                f"{file} is not a Fair Witness document: expected a JSON object with a "
                f"receipt and one of decision, entry"
            )
    except _Unreadable as exc:
        _say(f"error: {exc}")
        sys.exit(EXIT_UNREADABLE)

    try:
        checkpoint = verify_document(doc, verifiers)
    except VerificationError as exc:
        _say(f"verification failed: {exc}")
        sys.exit(EXIT_FAILED)
    body = doc.get("decision", doc.get("entry"))
    receipt = doc["receipt"]
    _, signatures = open_note(receipt["checkpoint"], verifiers)
    kind = body.get("kind") or "entry"
    click.echo(
        f"{kind} {body.get('id')} is entry {receipt['index']} of the log "
        f"{checkpoint.origin}, in the tree of size {checkpoint.size} signed by "
        f"{_key_names(signatures)}"
    )


# --- fairwitness log ----------------------------------------------------------------


@click.group()
def log() -> None:
    """The public log: its key, and auditing it as a monitor."""


@log.command("key")
def log_key() -> None:
    """Print this instance's verifier key (what GET /v1/log/key serves)."""
    from service.config import Settings
    from service.instance import InstanceError, load_instance, signer_for

    settings = Settings.from_env()
    try:
        signer = signer_for(load_instance(settings.instance_dir), settings.log_origin)
    except InstanceError as exc:
        _say(f"error: {exc}")
        sys.exit(EXIT_FAILED)
    click.echo(signer.verifier_key())


class _Api:
    """The log's public HTTP API, read with the standard library only."""

    def __init__(self, base_url: str, timeout: float) -> None:
        self.base = base_url.rstrip("/")
        self.timeout = timeout

    def open(self, path: str, accept: str = "application/json"):
        import urllib.error
        import urllib.request

        url = self.base + path
        request = urllib.request.Request(
            url, headers={"Accept": accept, "User-Agent": "fairwitness-log-audit"}
        )
        try:
            return urllib.request.urlopen(request, timeout=self.timeout)
        except urllib.error.HTTPError as exc:
            exc.close()
            raise _HttpStatus(url, exc.code) from exc
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise _Unreadable(f"cannot fetch {url}: {reason}") from exc

    def read(self, path: str, accept: str = "application/json") -> bytes:
        import http.client

        with self.open(path, accept) as resp:
            try:
                return resp.read()
            except (OSError, http.client.HTTPException) as exc:
                raise _Unreadable(f"cannot read {self.base + path}: {exc}") from exc

    def json(self, path: str):
        from audit_log.audit import AuditError

        data = self.read(path)
        try:
            return json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise AuditError("response", f"{self.base + path} is not JSON") from exc

    def lines(self, path: str, accept: str) -> Iterator[bytes]:
        """The response body line by line, read in 64 KiB chunks, never whole."""
        import http.client

        with self.open(path, accept) as resp:
            rest = b""
            while True:
                try:
                    chunk = resp.read(_CHUNK)
                except (OSError, http.client.HTTPException) as exc:
                    raise _Unreadable(
                        f"the connection broke while reading {self.base + path}: {exc!r}"
                    ) from exc
                if not chunk:
                    break
                parts = (rest + chunk).split(b"\n")
                rest = parts.pop()
                yield from parts
            if rest:
                yield rest


class _HttpStatus(_Unreadable):
    def __init__(self, url: str, status: int) -> None:
        super().__init__(f"{url} answered HTTP {status}")
        self.status = status


def _checkpoint_notes(api: _Api, up_to: int) -> Iterator[tuple[int, str]]:
    """Every stored checkpoint up to size ``up_to``, oldest first, one page at a time."""
    from audit_log.audit import AuditError

    after = -1
    while True:
        page = api.json(f"/v1/log/checkpoints?after={after}&limit=1000")
        try:
            items = [(int(c["size"]), str(c["note"])) for c in page["checkpoints"]]
            next_after = page.get("next_after")
        except (KeyError, TypeError, ValueError) as exc:
            raise AuditError("response", f"checkpoint page after {after} is malformed") from exc
        for size, note in items:
            if size <= after:
                raise AuditError("response", f"checkpoint list went back to size {size}")
            if size > up_to:
                return
            after = size
            yield size, note
        if next_after is None or not items:
            return


def _parse_line(number: int, line: bytes):
    from audit_log.audit import AuditError, loads

    try:
        item = loads(line)
        index, leaf_hex, entry = item["index"], item["leaf_hash"], item["entry"]
        leaf = bytes.fromhex(leaf_hex)
    except (ValueError, UnicodeDecodeError, KeyError, TypeError) as exc:
        raise AuditError("entry", f"line {number} of the export is not an entry: {exc}") from exc
    return index, leaf, entry


def _load_state(path: Path | None):
    from audit_log.audit import AuditError, AuditState

    if path is None or not path.exists():
        return None
    try:
        state = AuditState.from_json(_read_bytes(path, "state file"))
        state.verifiers()
        return state
    except AuditError as exc:
        raise _Unreadable(f"state file {path}: {exc}") from exc


def _save_state(path: Path, state) -> None:
    """Replace the state file atomically: a crash never leaves half a state."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".fairwitness-state-", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(state.to_json())
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _pin_keys(api: _Api, key_file: Path | None, previous) -> list:
    from audit_log.checkpoint import NoteError, Verifier

    if key_file is not None:
        return _read_keys(key_file)
    if previous is not None:
        return previous.verifiers()
    text = api.read("/v1/log/key", accept="text/plain").decode("utf-8", "replace")
    try:
        verifiers = [Verifier.from_key(k.strip()) for k in text.splitlines() if k.strip()]
    except NoteError as exc:
        raise _Unreadable(f"the log's key is malformed: {exc}") from exc
    if not verifiers:
        raise _Unreadable("the log serves no verifier key")
    keys = ", ".join(v.verifier_key() for v in verifiers)
    _say(
        f"warning: trusting the key {keys} on first use, as {api.base} serves it; "
        f"check it through another channel and pin it with --key or --state"
    )
    return verifiers


def run_audit(api: _Api, key_file: Path | None, state_path: Path | None) -> tuple[object, str]:
    """Audit the whole log through ``api``; return the new state and a summary line."""
    from audit_log.audit import AuditError, AuditState, LogAuditor
    from audit_log.checkpoint import Checkpoint
    from audit_log.merkle import empty_tree_hash
    from audit_log.verify import VerificationError, parse_proof, verify_consistency

    previous = _load_state(state_path)
    verifiers = _pin_keys(api, key_file, previous)
    auditor = LogAuditor(verifiers, previous)
    try:
        latest_note = api.read("/v1/log/checkpoint", accept="text/plain").decode("utf-8")
    except _HttpStatus as exc:
        if exc.status != 404:
            raise
        if previous is not None and previous.size > 0:
            raise AuditError(
                "fork", f"the log is now empty, but a previous run saw size {previous.size}"
            ) from None
        state = AuditState(
            0,
            empty_tree_hash(),
            tuple(v.verifier_key() for v in verifiers),
            previous.origin if previous else None,
        )
        return state, f"ok: the log at {api.base} is empty"
    except UnicodeDecodeError as exc:
        raise AuditError("checkpoint_signature", "the latest checkpoint is not UTF-8") from exc

    latest = auditor.check_checkpoint(latest_note)
    if previous is not None and latest.size < previous.size:
        auditor.finish(latest_note)  # raises: the log lost entries a previous run saw

    notes = _checkpoint_notes(api, latest.size)
    upcoming = next(notes, None)
    if latest.size > 0:
        for number, line in enumerate(api.lines("/v1/log/entries", NDJSON), start=1):
            if not line.strip():
                continue
            index, leaf, entry = _parse_line(number, line)
            # Hand in every checkpoint the next entry reaches before feeding it, so its
            # root is compared the moment the recomputed tree reaches its size.
            while upcoming is not None and upcoming[0] <= auditor.size + 1:
                auditor.check_checkpoint(upcoming[1])
                upcoming = next(notes, None)
            auditor.feed(index, leaf, entry)
            if auditor.size == latest.size:
                break
    while upcoming is not None:  # checkpoints that the entries never reached
        auditor.check_checkpoint(upcoming[1])
        upcoming = next(notes, None)
    state = auditor.finish(latest_note)

    summary = (
        f"ok: log {latest.origin} at {api.base}: {auditor.size} entries and "
        f"{auditor.checkpoints_checked} checkpoints verified; tree size "
        f"{latest.size}, root {latest.root.hex()}"
    )
    if previous is not None and previous.size > 0:
        old = Checkpoint(latest.origin, previous.size, previous.root)
        if previous.size < latest.size:
            response = api.json(f"/v1/log/proof/consistency?from={previous.size}&to={latest.size}")
            # The entries already reproduced both roots, so a proof that fails here
            # means the server's stored hashes are wrong, not that the log forked.
            try:
                if not isinstance(response, dict):
                    raise VerificationError("receipt", "the answer is not a JSON object")
                proof = parse_proof(response.get("proof"), "consistency proof")
                verify_consistency(old, latest, proof)
            except VerificationError as exc:
                reason = str(exc).split(": ", 1)[-1]
                raise AuditError(
                    "consistency_proof",
                    f"the server's consistency proof from size {previous.size} to "
                    f"{latest.size} does not verify: {reason}",
                ) from exc
        summary += f"; consistent with the previous run at size {previous.size}"
    return state, summary


@log.command("audit")
@click.option("--url", required=True, help="The instance's base URL, e.g. https://fw.example.")
@click.option(
    "--state",
    "state_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Read the previous run's state from here and save the new one.",
)
@click.option(
    "--key",
    "key_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Pin these verifier keys (else the state's, else trust on first use).",
)
@click.option(
    "--timeout",
    default=60.0,
    show_default=True,
    type=float,
    help="Seconds to wait on any one network read.",
)
def log_audit(url: str, state_path: Path | None, key_file: Path | None, timeout: float) -> None:
    """Audit the whole log as a monitor, through the public API only.

    Replays every entry, recomputes the tree, checks every signed checkpoint against
    it and the server's consistency proof from the previous run's tree. Exit 0 clean,
    1 a check failed (the message names the entry or tree size), 2 could not fetch.
    """
    from audit_log.audit import AuditError

    api = _Api(url, timeout)
    try:
        state, summary = run_audit(api, key_file, state_path)
    except _Unreadable as exc:
        _say(f"error: {exc}")
        sys.exit(EXIT_UNREADABLE)
    except AuditError as exc:
        _say(f"audit failed: {exc}")
        sys.exit(EXIT_FAILED)
    if state_path is not None:
        _save_state(state_path, state)
    click.echo(summary)


# --- fairwitness content ------------------------------------------------------------


@click.group()
def content() -> None:
    """Private content kept beside the log (admin; runs with the instance's settings)."""


@content.command("erase")
@click.argument("decision_id")
def content_erase(decision_id: str) -> None:
    """Erase a decision's text and salt, and log an erasure entry, in one transaction."""
    from audit_log.store import Log
    from service.clock import system_clock
    from service.config import Settings
    from service.db import make_engine
    from service.erase import ErasureError, erase_content
    from service.instance import InstanceError, load_instance, signer_for

    settings = Settings.from_env()
    try:
        signer = signer_for(load_instance(settings.instance_dir), settings.log_origin)
    except InstanceError as exc:
        _say(f"error: {exc}")
        sys.exit(EXIT_FAILED)
    engine = make_engine(
        settings.effective_database_url, settings.db_timeout_seconds, settings.sqlite_synchronous
    )
    try:
        erased = erase_content(
            decision_id, log=Log(engine, settings.log_origin, (signer,)), clock=system_clock
        )
    except ErasureError as exc:
        _say(f"refused: {exc}")
        sys.exit(EXIT_FAILED)
    finally:
        engine.dispose()
    _say(
        f"erased the content of {decision_id}; erasure entry {erased.appended.index} "
        f"is in the tree of size {erased.tree_size}"
    )
    click.echo(erased.body["id"])
