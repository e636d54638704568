"""``fairwitness verify``, ``log key``, ``log rotate-key``, ``log audit`` and ``log check``.

``verify`` and ``log audit`` are what a member of the public runs: ``verify`` is
offline (no database, no network, no instance), ``log audit`` talks only to the public
HTTP API. ``log check`` is the operator's: it reads the instance's database. Heavy
imports stay inside the commands.

Exit codes: 0 verified; 1 a check failed (the message names it); 2 the input could not
be read (file, key file, state file, network).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import click

from service.cli.common import say

if TYPE_CHECKING:
    from audit_log.checkpoint import Checkpoint, Verifier
    from audit_log.keyschedule import KeySchedule

EXIT_FAILED = 1
EXIT_UNREADABLE = 2
NDJSON = "application/x-ndjson"
_CHUNK = 1 << 16


class _Unreadable(Exception):
    """An input could not be read at all: exit 2."""


def _read_bytes(path: Path, what: str) -> bytes:
    try:
        if str(path) == "-":
            return sys.stdin.buffer.read()
        return path.read_bytes()
    except OSError as exc:
        raise _Unreadable(f"cannot read {what} {path}: {exc.strerror or exc}") from exc


def _read_keys(path: Path) -> list[Verifier]:
    """Verifier keys from a key file: one per line (as ``GET /v1/log/key`` serves them as
    text, '#' comments allowed) or the JSON key list it serves."""
    return _read_key_file(path)[0]


def _read_key_file(path: Path) -> tuple[list[Verifier], KeySchedule | None]:
    """The verifiers in a key file, and the key schedule when the file is the JSON list."""
    from audit_log.checkpoint import NoteError, Verifier
    from audit_log.keyschedule import ScheduleError, parse_key_list

    try:
        text = _read_bytes(path, "key file").decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _Unreadable(f"key file {path} is not UTF-8 text") from exc
    if text.lstrip().startswith("{"):
        try:
            schedule = parse_key_list(json.loads(text).get("keys"))
        except (ValueError, AttributeError, ScheduleError) as exc:
            raise _Unreadable(f"key file {path} is not a key list: {exc}") from exc
        return schedule.verifiers(), schedule
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
    return verifiers, None


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
    checkpoint's signature, its tree size, the body's leaf hash and the inclusion proof,
    and that a published excerpt opens the commitment the body holds. Exit 0 verified,
    1 a check failed, 2 unreadable input.
    """
    from audit_log.checkpoint import open_note
    from audit_log.verify import VerificationError, check_signing_window, verify_document

    try:
        verifiers, schedule = _read_key_file(key_file)
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
        say(f"error: {exc}")
        sys.exit(EXIT_UNREADABLE)

    body = doc["decision"] if "decision" in doc else doc["entry"]
    receipt = doc["receipt"]
    try:
        checkpoint = verify_document(doc, verifiers)
        _, signatures = open_note(receipt["checkpoint"], verifiers)
        if schedule is not None:
            check_signing_window(signatures, schedule, body.get("time"))
    except VerificationError as exc:
        say(f"verification failed: {exc}")
        sys.exit(EXIT_FAILED)
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


def instance_log():
    """The log as this host signs it: settings, engine and every key the instance holds."""
    from audit_log.store import Log
    from service.config import Settings
    from service.storage.db import make_engine
    from service.storage.instance import InstanceError, load_instance, signers_for

    settings = Settings.from_env()
    try:
        instance = load_instance(settings.instance_dir)
    except InstanceError as exc:
        say(f"error: {exc}")
        sys.exit(EXIT_FAILED)
    engine = make_engine(
        settings.effective_database_url, settings.db_timeout_seconds, settings.sqlite_synchronous
    )
    return settings, Log(engine, settings.log_origin, signers_for(instance, settings.log_origin))


@log.command("key")
@click.option("--json", "as_json", is_flag=True, help="Print the keys with their validity.")
def log_key(as_json: bool) -> None:
    """Print the log's verifier keys, newest first (what GET /v1/log/key serves)."""
    from audit_log.keyschedule import key_list
    from service.clock import rfc3339, system_clock
    from service.storage.failures import StorageError

    settings, log = instance_log()
    try:
        with log.engine.connect() as conn:
            schedule = log.keyring.current_schedule(conn)
    except StorageError as exc:
        say(f"error: cannot read the log's keys from the database: {type(exc).__name__}")
        sys.exit(EXIT_UNREADABLE)
    finally:
        log.engine.dispose()
    if as_json:
        keys = key_list(schedule, rfc3339(system_clock()))
        click.echo(json.dumps({"origin": settings.log_origin, "keys": keys}, indent=2))
        return
    for key in schedule.newest_first():
        click.echo(key.verifier_key)


@log.command("rotate-key")
@click.option(
    "--prepare",
    is_flag=True,
    help="Only generate the new key into this instance's signing-keys/ and print "
    "it; copy it to every host, then run rotate-key without --prepare.",
)
@click.option(
    "--overlap",
    default=None,
    metavar="DURATION",
    help="How long the current key keeps signing beside the new one, e.g. P7D "
    "(default: FAIRWITNESS_KEY_OVERLAP). PT0S for none.",
)
def log_rotate_key(prepare: bool, overlap: str | None) -> None:
    """Introduce a new signing key: announce it in the log and sign with it from now on.

    Uses the key prepared with --prepare (or generates one when none is). Checkpoints are
    signed by the new key and, for the overlap, by the current one too; every server
    switches on its next append and refuses to append (503) until it holds the new
    key's file. Prints the new verifier key on stdout.
    """
    from service.clock import system_clock
    from service.domain.key_rotation import RotationError, parse_overlap, rotate_signing_key
    from service.storage.failures import StorageError
    from service.storage.instance import add_signing_key

    settings, log = instance_log()
    try:
        try:
            overlap_value = parse_overlap(overlap or settings.key_overlap)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--overlap") from exc
        with log.engine.connect() as conn:
            schedule = log.keyring.current_schedule(conn)
        prepared = [s for s in log.signers if schedule.find(s.verifier()) is None]
        if len(prepared) > 1:
            names = ", ".join(s.verifier_key() for s in prepared)
            say(
                f"error: several prepared keys are waiting ({names}); remove all but one "
                f"from {settings.instance_dir / 'signing-keys'}"
            )
            sys.exit(EXIT_FAILED)
        if prepare:
            if prepared:
                signer = prepared[0]
                say(f"a key is already prepared: {signer.key_id.hex()}.pem")
            else:
                signer, path = add_signing_key(settings.instance_dir, settings.log_origin)
                logging.getLogger("fairwitness.keys").info(
                    "signing key prepared",
                    extra={"event": "signing_key_prepared", "key_id": signer.key_id.hex()},
                )
                say(
                    f"prepared {path}; copy it into every host's "
                    f"{settings.instance_dir.name}/signing-keys/, then run "
                    f"`fairwitness log rotate-key`"
                )
            click.echo(signer.verifier_key())
            return
        if prepared:
            new_key = prepared[0]
        else:
            new_key, path = add_signing_key(settings.instance_dir, settings.log_origin)
            say(f"generated {path}; copy it to every other host's instance")
            log = type(log)(log.engine, log.origin, (*log.signers, new_key))
        try:
            rotated = rotate_signing_key(log, new_key, overlap_value, system_clock)
        except RotationError as exc:
            say(f"refused: {exc}")
            sys.exit(EXIT_FAILED)
    except StorageError as exc:
        say(f"error: the database is unavailable ({type(exc).__name__}); nothing changed")
        sys.exit(EXIT_UNREADABLE)
    finally:
        log.engine.dispose()
    body = rotated.body
    say(
        f"rotated: {new_key.key_id.hex()} signs from {body['time']}; the previous key "
        f"signs beside it until {body['previous_signs_until']} (key_rotation entry "
        f"{rotated.appended.index}, tree size {rotated.tree_size})"
    )
    click.echo(new_key.verifier_key())


@log.command("check")
def log_check() -> None:
    """Hold every stored entry row to its hashed body (admin; the instance's settings).

    Escalation and the public pages select entries by index columns (subject, policy,
    kind, action, strike weight and expiry, ...); this re-derives each from the entry's
    body, with its rule rows and leaf hash, and replays every decision's counted strikes
    and escalation from the bodies. Exit 0 when all agree, 1 naming every entry that
    does not, 2 when the database cannot be read.
    """
    from audit_log.escalation import EscalationError, StrikeLedger
    from audit_log.store import check_index, entry_body, head
    from service.domain.reads.entries import entries_in_order
    from service.storage.failures import StorageError

    _, log = instance_log()
    problems: list[str] = []
    try:
        with log.engine.connect() as conn:
            size, _ = head(conn)
            problems.extend(f"index: {m}" for m in check_index(conn, 0, size))
            ledger = StrikeLedger()
            for index, row in entries_in_order(conn, size):
                try:
                    ledger.feed(index, entry_body(row))
                except EscalationError as exc:
                    problems.append(str(exc))
                except ValueError:
                    continue  # an unparseable body is already named by the index check
    except StorageError as exc:
        say(f"error: cannot read the log from the database: {type(exc).__name__}")
        sys.exit(EXIT_UNREADABLE)
    finally:
        log.engine.dispose()
    if problems:
        for problem in problems:
            say(f"mismatch: {problem}")
        say(f"check failed: {len(problems)} problems in {size} entries")
        sys.exit(EXIT_FAILED)
    unchecked = ledger.unchecked_escalations
    click.echo(
        f"ok: {size} entries; every index column, rule row and leaf hash matches its body, "
        f"and {ledger.checked_decisions} decisions' strike counts replay from the bodies"
        + (f" ({unchecked} older escalations carry no counted strikes)" if unchecked else "")
    )


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


def _parse_line(number: int, line: bytes) -> tuple[int, bytes, object]:
    from audit_log.audit import AuditError, loads

    try:
        item = loads(line)
        if not isinstance(item, dict):
            raise TypeError(f"expected a JSON object, not {type(item).__name__}")
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


def _served_keys(api: _Api):
    """The key list the log serves as JSON, or None from a server that serves only text."""
    from audit_log.audit import AuditError
    from audit_log.keyschedule import ScheduleError, parse_key_list

    try:
        doc = api.json("/v1/log/key")
    except AuditError:
        return None
    try:
        return parse_key_list(doc.get("keys") if isinstance(doc, dict) else None)
    except ScheduleError as exc:
        raise AuditError("key_list", f"the log's key list is malformed: {exc}") from exc


def _pin_keys(api: _Api, key_file: Path | None, previous, served) -> list:
    from audit_log.checkpoint import NoteError, Verifier

    if key_file is not None:
        return _read_keys(key_file)
    if previous is not None:
        return previous.verifiers()
    if served is not None:
        verifiers = served.verifiers()
    else:
        text = api.read("/v1/log/key", accept="text/plain").decode("utf-8", "replace")
        try:
            verifiers = [Verifier.from_key(k.strip()) for k in text.splitlines() if k.strip()]
        except NoteError as exc:
            raise _Unreadable(f"the log's key is malformed: {exc}") from exc
    if not verifiers:
        raise _Unreadable("the log serves no verifier key")
    keys = ", ".join(v.verifier_key() for v in verifiers)
    say(
        f"warning: trusting the key {keys} on first use, as {api.base} serves it; "
        f"check it through another channel and pin it with --key or --state"
    )
    return verifiers


def _check_consistency_proof(api: _Api, old: Checkpoint, latest: Checkpoint) -> None:
    """Check the server's proof that the tree at ``old`` (a previous run's) is a prefix of
    ``latest``; raises ``AuditError`` when it does not verify."""
    from audit_log.audit import AuditError
    from audit_log.verify import VerificationError, parse_proof, verify_consistency

    response = api.json(f"/v1/log/proof/consistency?from={old.size}&to={latest.size}")
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
            f"the server's consistency proof from size {old.size} to "
            f"{latest.size} does not verify: {reason}",
        ) from exc


def run_audit(api: _Api, key_file: Path | None, state_path: Path | None) -> tuple[object, str]:
    """Audit the whole log through ``api``; return the new state and a summary line."""
    from audit_log.audit import AuditError, AuditState, LogAuditor
    from audit_log.checkpoint import Checkpoint
    from audit_log.merkle import empty_tree_hash

    previous = _load_state(state_path)
    served = _served_keys(api)
    verifiers = _pin_keys(api, key_file, previous, served)
    auditor = LogAuditor(verifiers, previous, served)
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
                auditor.check_checkpoint(upcoming[1], listed=True)
                upcoming = next(notes, None)
            auditor.feed(index, leaf, entry)
            if auditor.size == latest.size:
                break
    while upcoming is not None:  # checkpoints that the entries never reached
        auditor.check_checkpoint(upcoming[1], listed=True)
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
            _check_consistency_proof(api, old, latest)
        summary += f"; consistent with the previous run at size {previous.size}"
    unchecked = auditor.strikes.unchecked_escalations
    if unchecked:
        summary += (
            f"; {unchecked} escalations written before decisions named their counted "
            f"strikes were not checked"
        )
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
        say(f"error: {exc}")
        sys.exit(EXIT_UNREADABLE)
    except AuditError as exc:
        say(f"audit failed: {exc}")
        sys.exit(EXIT_FAILED)
    if state_path is not None:
        _save_state(state_path, state)
    click.echo(summary)
