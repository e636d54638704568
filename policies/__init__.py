"""The policy language: load YAML policies, validate them, evaluate them against scores."""

from policies.duration import Duration, parse_duration
from policies.evaluate import Outcome, RuleMatch, evaluate, match_rule
from policies.examples import ExampleFailure, check_examples
from policies.load import PolicyError, load_policy_dir, load_policy_file
from policies.model import (
    ACCOUNT_ACTIONS,
    ACTIONS,
    CONTENT_ACTIONS,
    AppealSettings,
    EscalationStep,
    Policy,
    PolicySet,
    Rule,
    Strike,
    most_severe,
    severity,
)

__all__ = [
    "ACCOUNT_ACTIONS",
    "ACTIONS",
    "CONTENT_ACTIONS",
    "AppealSettings",
    "Duration",
    "EscalationStep",
    "ExampleFailure",
    "Outcome",
    "Policy",
    "PolicyError",
    "PolicySet",
    "Rule",
    "RuleMatch",
    "Strike",
    "check_examples",
    "evaluate",
    "load_policy_dir",
    "load_policy_file",
    "match_rule",
    "most_severe",
    "parse_duration",
    "severity",
]
