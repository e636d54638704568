"""Replaying strikes and escalations from bodies alone (``audit_log.escalation``)."""

from __future__ import annotations

import pytest

from audit_log.escalation import EscalationError, StrikeLedger

SUBJECT = "sub_" + "a" * 32
LATER = "2030-01-01T00:00:00.000000Z"


def at(day: int) -> str:
    return f"2026-01-{day:02d}T00:00:00.000000Z"


def decision(
    n: int,
    day: int,
    weight: int | None = 2,
    counted: list[tuple[int, int]] | None = None,
    complete: bool = True,
    escalation: dict | None = None,
    expires: str = LATER,
    subject: str = SUBJECT,
    evidence: bool = True,
) -> dict:
    body = {
        "kind": "decision",
        "id": f"dec_{n}",
        "time": at(day),
        "subject": subject,
        "policy": {"id": "civility", "version": "sha256:00"},
        "strike": None if weight is None else {"weight": weight, "expires_at": expires},
        "escalation": escalation,
    }
    if evidence:
        body["counted_strikes"] = (
            None
            if weight is None
            else {
                "strikes": [{"index": i, "weight": w} for i, w in counted or []],
                "complete": complete,
            }
        )
    return body


def escalate(active: int, threshold: int = 3) -> dict:
    return {
        "active_strikes": active,
        "threshold": threshold,
        "action": "restrict_account",
        "ends_at": LATER,
    }


def replay(*entries: dict) -> StrikeLedger:
    ledger = StrikeLedger()
    for index, entry in enumerate(entries):
        ledger.feed(index, entry)
    return ledger


def test_an_honest_history_replays_and_leaves_the_standing():
    ledger = replay(
        decision(0, 1),
        decision(1, 2, counted=[(0, 2)], escalation=escalate(4)),
        {"kind": "reversal", "id": "rev_2", "time": at(3), "ref": "dec_0"},
        decision(3, 4, counted=[(1, 2)], escalation=escalate(4)),
        decision(4, 5, weight=None),
    )
    assert [(s.index, s.weight) for s in ledger.live(SUBJECT, "civility")] == [(1, 2), (3, 2)]
    assert ledger.checked_decisions == 4 and ledger.unchecked_escalations == 0


@pytest.mark.parametrize(
    "entries, message",
    [
        # a strike left out of a count that says it is complete: the escalation was dodged
        (
            [decision(0, 1), decision(1, 2, counted=[])],
            "leaves out entries 0",
        ),
        # a weight other than the counted entry's own
        (
            [decision(0, 1), decision(1, 2, counted=[(0, 5)], escalation=escalate(7, 6))],
            "counts entry 0 with weight 5, but that entry's strike weighs 2",
        ),
        # counts that do not add up to the escalation's total
        (
            [decision(0, 1), decision(1, 2, counted=[(0, 2)], escalation=escalate(9, 6))],
            "escalates with 9 active strikes, but the strikes it counts weigh 2 and its own 2",
        ),
        # an escalation below its own threshold
        (
            [
                decision(0, 1, weight=1),
                decision(1, 2, weight=1, counted=[(0, 1)], escalation=escalate(2)),
            ],
            "escalates at threshold 3 with only 2 active strikes",
        ),
        # a reversed strike still counted
        (
            [
                decision(0, 1),
                {"kind": "reversal", "id": "rev_1", "time": at(2), "ref": "dec_0"},
                decision(2, 3, counted=[(0, 2)], escalation=escalate(4)),
            ],
            "counts entry 0, which is not a live strike",
        ),
        # an expired strike still counted
        (
            [
                decision(0, 1, expires=at(2)),
                decision(1, 3, counted=[(0, 2)], escalation=escalate(4)),
            ],
            "counts entry 0, which is not a live strike",
        ),
        # another subject's strike counted
        (
            [
                decision(0, 1, subject="sub_" + "b" * 32),
                decision(1, 2, counted=[(0, 2)], escalation=escalate(4)),
            ],
            "counts entry 0, which is not a live strike",
        ),
        # a future entry counted
        (
            [decision(0, 1, counted=[(1, 2)], escalation=escalate(4)), decision(1, 2)],
            "counts entry 1, which is not a live strike",
        ),
        # the same strike counted twice
        (
            [
                decision(0, 1, weight=1),
                decision(1, 2, counted=[(0, 1), (0, 1)], escalation=escalate(3)),
            ],
            "counts entry 0 twice",
        ),
        # an escalation without evidence
        (
            [{**decision(0, 1), "counted_strikes": None, "escalation": escalate(2, 2)}],
            "escalates but names no counted strikes",
        ),
        # a count that stopped early without reaching the step it claims
        (
            [
                decision(0, 1),
                decision(1, 2, counted=[(0, 2)], complete=False, escalation=escalate(4)),
            ],
            "stopped counting after 1 strikes, before the threshold 3",
        ),
        # the evidence dropped after the log started carrying it
        (
            [decision(0, 1), decision(1, 2, evidence=False)],
            "has no counted_strikes field, though earlier decisions carry it",
        ),
    ],
)
def test_a_forged_escalation_is_named(entries, message):
    with pytest.raises(EscalationError, match="escalation: entry") as caught:
        replay(*entries)
    assert message in str(caught.value)


def test_older_decisions_without_evidence_still_count_but_are_not_checked():
    ledger = replay(
        decision(0, 1, evidence=False),
        decision(1, 2, evidence=False, escalation=escalate(99)),
        decision(2, 3, counted=[(0, 2), (1, 2)], escalation=escalate(6, 6)),
    )
    assert ledger.unchecked_escalations == 1
    assert ledger.checked_decisions == 1
    # A count that leaves out a pre-evidence strike is caught all the same.
    with pytest.raises(EscalationError, match="leaves out entries 1"):
        replay(
            decision(0, 1, evidence=False),
            decision(1, 2, evidence=False),
            decision(2, 3, counted=[(0, 2)], escalation=escalate(4)),
        )
