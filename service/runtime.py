"""Everything a running instance holds: settings, storage, policies and their judges."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial

from sqlalchemy import Engine

from audit_log.store import IndexCorrupt, check_index, head
from classifiers.language import load_detector
from classifiers.registry import build_classifier
from policies.load import PolicyError, load_policy_dir
from policies.model import PolicySet
from service.clock import Clock, system_clock
from service.config import Settings
from service.domain.idempotency import Claim
from service.domain.moderation import Item, Judge, LogSide, Moderated, Moderator
from service.metrics import INFERENCE_BATCH_TEXTS, MeteredLog
from service.storage.db import make_engine
from service.storage.instance import (
    Instance,
    load_instance,
    reload_signers,
    secure_instance_files,
    signers_for,
)


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    log: MeteredLog
    policies: PolicySet
    judges: dict[str, Judge]
    instance: Instance
    clock: Clock = system_clock
    published: set[tuple[str, str]] = field(default_factory=set)
    moderator: Moderator = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.moderator = Moderator(
            self.judges,
            self.instance.secret,
            LogSide(
                log=self.log,
                clock=self.clock,
                published=self.published,
                public_url=self.settings.public_url,
            ),
            observe=INFERENCE_BATCH_TEXTS.observe,
        )

    def moderate(
        self, items: Sequence[Item], *, app: str, claim: Claim | None = None
    ) -> list[Moderated]:
        """Judge ``items`` for ``app`` with this instance's judges, log and keys; the
        decisions of concurrent requests share an append."""
        return self.moderator.moderate(items, app=app, claim=claim)


def build_judges(policies: PolicySet) -> dict[str, Judge]:
    """One judge per policy; refuses a policy that asks for a label no classifier gives."""
    judges = {}
    for policy in policies.policies.values():
        wanted = {name: policies.lexicons[name] for name in sorted(policy.lexicons())}
        classifier = build_classifier(policy.classifier, wanted)
        missing = sorted(policy.labels() - set(classifier.labels))
        if missing:
            raise PolicyError(
                file=policy.path,
                rule=None,
                field="classifier",
                line=None,
                message=(
                    f"classifier {policy.classifier!r} gives no label "
                    f"{', '.join(missing)}; it gives {', '.join(classifier.labels)}"
                ),
            )
        judges[policy.id] = Judge(policy=policy, classifier=classifier)
    return judges


def build_runtime(settings: Settings, clock: Clock = system_clock) -> Runtime:
    """Load policies first: a broken policy must stop start-up before anything else."""
    policies = load_policy_dir(settings.policy_dir)
    judges = build_judges(policies)
    load_detector()
    secure_instance_files(settings.instance_dir, settings.effective_database_url)
    instance = load_instance(settings.instance_dir)
    engine = make_engine(
        settings.effective_database_url, settings.db_timeout_seconds, settings.sqlite_synchronous
    )
    log = MeteredLog(
        engine=engine,
        origin=settings.log_origin,
        signers=signers_for(instance, settings.log_origin),
        load_signers=partial(reload_signers, settings.instance_dir, settings.log_origin),
    )
    return Runtime(
        settings=settings,
        engine=engine,
        log=log,
        policies=policies,
        judges=judges,
        instance=instance,
        clock=clock,
    )


# How many of the newest entries every start-up holds to their bodies: a bounded cost
# (parsing 2,000 bodies, a fraction of a second) paid by every worker as it starts.
# Older rows are covered by `fairwitness log check`, which checks the whole log, and by
# the decisions' counted strikes, which a monitor replays from the bodies.
STARTUP_INDEX_WINDOW = 2_000


def check_recent_index(engine: Engine, window: int = STARTUP_INDEX_WINDOW) -> None:
    """Raise ``IndexCorrupt`` if a stored row among the newest ``window`` entries
    disagrees with its body."""
    with engine.connect() as conn:
        size, _ = head(conn)
        mismatches = check_index(conn, max(0, size - window), size)
    if mismatches:
        raise IndexCorrupt(mismatches, f"the newest {min(size, window)} entries")
