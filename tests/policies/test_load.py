"""Loading policies: every malformed file is refused with file, rule, field and line."""

from __future__ import annotations

import hashlib
import textwrap
from pathlib import Path

import pytest

from policies.load import PolicyError, load_policy_dir, load_policy_file
from policies.model import (
    AllOf,
    AnyOf,
    LengthCondition,
    LexiconCondition,
    Not,
    RegexCondition,
    ScoreCondition,
)

VALID = """\
id: tiny
title: Tiny
summary: One rule about rude words.
rules:
  - id: rude
    title: Rude words
    when: {lexicon: rude}
    action: label
    notice: Your post is labelled because it is rude.
    examples:
      match: [you jerk]
      no_match: [hello]
"""


def write_dir(tmp_path: Path, files: dict[str, str], lexicon: str = "jerk\n") -> Path:
    (tmp_path / "lexicons").mkdir(parents=True)
    (tmp_path / "lexicons" / "rude.txt").write_text(lexicon, encoding="utf-8")
    for name, text in files.items():
        (tmp_path / name).write_text(textwrap.dedent(text), encoding="utf-8")
    return tmp_path


def load_error(tmp_path: Path, text: str, name: str = "tiny.yaml") -> PolicyError:
    directory = write_dir(tmp_path, {name: text})
    with pytest.raises(PolicyError) as caught:
        load_policy_dir(directory)
    return caught.value


def test_valid_minimal_policy_loads_with_defaults(tmp_path: Path) -> None:
    directory = write_dir(tmp_path, {"tiny.yaml": VALID})
    policies = load_policy_dir(directory)
    policy = policies.policies["tiny"]
    source = (directory / "tiny.yaml").read_bytes()
    assert policy.version == "sha256:" + hashlib.sha256(source).hexdigest()
    assert policy.source == source
    assert policy.path == str(directory / "tiny.yaml")
    assert policy.classifier == "lexicon"
    assert policy.public_excerpt == "none"
    assert policy.escalation == ()
    assert policy.appeals.window.text == "P6M"
    assert policy.appeals.decide_within.text == "P7D"
    [rule] = policy.rules
    assert rule.when == LexiconCondition("rude")
    assert rule.strike is None and rule.description is None
    assert rule.examples.match == ("you jerk",)
    assert policy.labels() == {"lexicon:rude"}
    assert policy.lexicons() == {"rude"}
    assert policies.lexicons == {"rude": ("jerk",)}


def test_version_changes_with_any_byte(tmp_path: Path) -> None:
    first = load_policy_dir(write_dir(tmp_path / "a", {"tiny.yaml": VALID})).policies["tiny"]
    second_dir = write_dir(tmp_path / "b", {"tiny.yaml": VALID + "# a comment\n"})
    second = load_policy_dir(second_dir).policies["tiny"]
    assert first.version != second.version


def test_every_condition_kind_is_built(tmp_path: Path) -> None:
    text = """\
    id: tiny
    title: Tiny
    summary: Every condition.
    classifier: text-linear
    public_excerpt: redacted
    rules:
      - id: mixed
        title: Mixed
        description: All kinds at once.
        when:
          all:
            - any:
                - score: {label: insult, at_least: 0.8}
                - score: {label: insult, below: 0.1}
                - lexicon: rude
            - regex: 'hello'
            - regex: {pattern: 'World', case_sensitive: true}
            - regex: {pattern: 'hello', skip_mentions: true}
            - length: {at_least: 3, at_most: 280}
            - not: {length: {at_most: 2}}
        action: hold_for_review
        strike: {weight: 2, expires_after: P1Y2M}
        notice: Held.
        examples: {match: [hello World], no_match: [hi]}
    escalation:
      - {active_strikes: 2, action: restrict_account, for: PT12H, notice: Slow down.}
      - {active_strikes: 5, action: suspend_account, for: P30D}
    appeals: {window: P1Y, decide_within: P14D}
    """
    policy = load_policy_dir(write_dir(tmp_path, {"tiny.yaml": text})).policies["tiny"]
    [rule] = policy.rules
    assert isinstance(rule.when, AllOf)
    any_of, plain, sensitive, said, length, negated = rule.when.conditions
    assert any_of == AnyOf(
        (
            ScoreCondition("insult", at_least=0.8),
            ScoreCondition("insult", below=0.1),
            LexiconCondition("rude"),
        )
    )
    assert isinstance(plain, RegexCondition) and plain.pattern.search("HELLO")
    assert isinstance(sensitive, RegexCondition) and not sensitive.pattern.search("world")
    assert not plain.skip_mentions and not sensitive.skip_mentions
    assert isinstance(said, RegexCondition) and said.skip_mentions
    assert length == LengthCondition(at_least=3, at_most=280)
    assert negated == Not(LengthCondition(at_most=2))
    assert rule.strike is not None and rule.strike.expires_after.text == "P1Y2M"
    assert [s.active_strikes for s in policy.escalation] == [2, 5]
    assert policy.escalation[0].for_ is not None and policy.escalation[0].notice == "Slow down."
    assert policy.appeals.window.text == "P1Y"
    assert policy.public_excerpt == "redacted"
    assert policy.labels() == {"insult", "lexicon:rude"}


def test_lexicon_files_skip_comments_and_blank_lines(tmp_path: Path) -> None:
    lexicon = "# header\n\njerk   # inline note\n  piece  of   cake \n"
    directory = write_dir(tmp_path, {"tiny.yaml": VALID}, lexicon=lexicon)
    assert load_policy_dir(directory).lexicons["rude"] == ("jerk", "piece of cake")


def test_load_policy_file_alone(tmp_path: Path) -> None:
    path = tmp_path / "tiny.yaml"
    path.write_text(VALID, encoding="utf-8")
    assert load_policy_file(path, {"rude": ("jerk",)}).id == "tiny"


# Each case: the file text, then the expected (rule, field, line) and part of the message.
MALFORMED = {
    "unknown rule key": (
        """\
        id: tiny
        title: Tiny
        summary: S
        rules:
          - id: rude
            title: Rude words
            when: {lexicon: rude}
            action: label
            notise: Typo.
            notice: Labelled.
            examples: {match: [a], no_match: [b]}
        """,
        ("rude", "notise", 9),
        "unknown key 'notise' (did you mean 'notice'?)",
    ),
    "unknown top-level key": (
        """\
        id: tiny
        title: Tiny
        summary: S
        colour: red
        rules: []
        """,
        (None, "colour", 4),
        "unknown key 'colour'",
    ),
    "duplicate key": (
        """\
        id: tiny
        title: Tiny
        summary: S
        rules:
          - id: rude
            title: Rude words
            when: {lexicon: rude}
            action: label
            action: remove
            notice: Labelled.
            examples: {match: [a], no_match: [b]}
        """,
        ("rude", "action", 9),
        "duplicate key 'action' (first written on line 8)",
    ),
    "threshold above one": (
        """\
        id: tiny
        title: Tiny
        summary: S
        classifier: text-linear
        rules:
          - id: rude
            title: Rude words
            when:
              score:
                label: insult
                at_least: 1.5
            action: label
            notice: Labelled.
            examples: {match: [a], no_match: [b]}
        """,
        ("rude", "when.score.at_least", 11),
        "must be a number between 0 and 1",
    ),
    "nested threshold not a number": (
        """\
        id: tiny
        title: Tiny
        summary: S
        classifier: text-linear
        rules:
          - id: rude
            title: Rude words
            when:
              any:
                - lexicon: rude
                - score: {label: insult, at_least: high}
            action: label
            notice: Labelled.
            examples: {match: [a], no_match: [b]}
        """,
        ("rude", "when.any[1].score.at_least", 11),
        "must be a number",
    ),
    "both bounds": (
        """\
        id: tiny
        title: Tiny
        summary: S
        classifier: text-linear
        rules:
          - id: rude
            title: Rude words
            when: {score: {label: insult, at_least: 0.2, below: 0.9}}
            action: label
            notice: Labelled.
            examples: {match: [a], no_match: [b]}
        """,
        ("rude", "when.score", 8),
        "give exactly one of at_least or below (not both)",
    ),
    "score label with the lexicon classifier": (
        """\
        id: tiny
        title: Tiny
        summary: S
        rules:
          - id: rude
            title: Rude words
            when: {score: {label: insult, at_least: 0.5}}
            action: label
            notice: Labelled.
            examples: {match: [a], no_match: [b]}
        """,
        ("rude", "when.score.label", 7),
        "the 'lexicon' classifier gives no score 'insult'",
    ),
    "missing notice": (
        """\
        id: tiny
        title: Tiny
        summary: S
        rules:
          - id: rude
            title: Rude words
            when: {lexicon: rude}
            action: label
            examples: {match: [a], no_match: [b]}
        """,
        ("rude", "notice", 5),
        "missing required key 'notice'",
    ),
    "empty notice": (
        """\
        id: tiny
        title: Tiny
        summary: S
        rules:
          - id: rude
            title: Rude words
            when: {lexicon: rude}
            action: label
            notice: "  "
            examples: {match: [a], no_match: [b]}
        """,
        ("rude", "notice", 9),
        "must not be empty",
    ),
    "missing examples": (
        """\
        id: tiny
        title: Tiny
        summary: S
        rules:
          - id: rude
            title: Rude words
            when: {lexicon: rude}
            action: label
            notice: Labelled.
        """,
        ("rude", "examples", 5),
        "missing required key 'examples'",
    ),
    "no no_match example": (
        """\
        id: tiny
        title: Tiny
        summary: S
        rules:
          - id: rude
            title: Rude words
            when: {lexicon: rude}
            action: label
            notice: Labelled.
            examples:
              match: [you jerk]
              no_match: []
        """,
        ("rude", "examples.no_match", 12),
        "must be a list of at least one example",
    ),
    "bad regex": (
        """\
        id: tiny
        title: Tiny
        summary: S
        rules:
          - id: rude
            title: Rude words
            when:
              all:
                - lexicon: rude
                - regex: '(unclosed'
            action: label
            notice: Labelled.
            examples: {match: [a], no_match: [b]}
        """,
        ("rude", "when.all[1].regex", 10),
        "is not a valid regular expression: missing ): (unclosed",
    ),
    "bad regex in mapping form": (
        """\
        id: tiny
        title: Tiny
        summary: S
        rules:
          - id: rude
            title: Rude words
            when:
              regex:
                pattern: 'a{2,1}'
                case_sensitive: true
            action: label
            notice: Labelled.
            examples: {match: [a], no_match: [b]}
        """,
        ("rude", "when.regex.pattern", 9),
        "is not a valid regular expression: invalid repetition size: {2,1}",
    ),
    "skip_mentions that is not a boolean": (
        """\
        id: tiny
        title: Tiny
        summary: S
        rules:
          - id: rude
            title: Rude words
            when:
              regex:
                pattern: 'idiot'
                skip_mentions: 'yes'
            action: label
            notice: Labelled.
            examples: {match: [idiot], no_match: [b]}
        """,
        ("rude", "when.regex.skip_mentions", 10),
        "must be true or false",
    ),
    # Policy patterns run on RE2: the constructs that need backtracking are refused, on
    # the line of the pattern where they are written.
    "lookahead in a verbose block pattern": (
        """\
        id: tiny
        title: Tiny
        summary: S
        rules:
          - id: rude
            title: Rude words
            when:
              regex: |
                (?x)
                \\b(?:i|we)\\s+will\\s+
                (?:(?!never\\b)\\w+\\s+){0,4}   # any word but "never"
                hurt\\s+you
            action: label
            notice: Labelled.
            examples: {match: [a], no_match: [b]}
        """,
        ("rude", "when.regex", 11),
        "uses a negative lookahead ((?!…): policy patterns run on a linear-time engine (RE2) "
        "that has no lookarounds or backreferences; say it with the policy's all/any/not "
        "conditions instead",
    ),
    "lookbehind": (
        """\
        id: tiny
        title: Tiny
        summary: S
        rules:
          - id: rude
            title: Rude words
            when: {regex: '(?<!not )rude'}
            action: label
            notice: Labelled.
            examples: {match: [a], no_match: [b]}
        """,
        ("rude", "when.regex", 7),
        "uses a negative lookbehind ((?<!…)",
    ),
    "backreference": (
        """\
        id: tiny
        title: Tiny
        summary: S
        rules:
          - id: rude
            title: Rude words
            when:
              regex: {pattern: '(\\w)\\1{3,}', case_sensitive: true}
            action: label
            notice: Labelled.
            examples: {match: [a], no_match: [b]}
        """,
        ("rude", "when.regex.pattern", 8),
        "uses a backreference (\\1)",
    ),
    "verbose flag inside a pattern": (
        """\
        id: tiny
        title: Tiny
        summary: S
        rules:
          - id: rude
            title: Rude words
            when: {regex: 'rude(?x: words)'}
            action: label
            notice: Labelled.
            examples: {match: [a], no_match: [b]}
        """,
        ("rude", "when.regex", 7),
        "uses verbose mode (x) inside the pattern",
    ),
    "unknown lexicon": (
        """\
        id: tiny
        title: Tiny
        summary: S
        rules:
          - id: rude
            title: Rude words
            when: {not: {lexicon: slurs}}
            action: label
            notice: Labelled.
            examples: {match: [a], no_match: [b]}
        """,
        ("rude", "when.not.lexicon", 7),
        "unknown word list 'slurs': there is no lexicons/slurs.txt (the directory has: rude)",
    ),
    "bad duration": (
        """\
        id: tiny
        title: Tiny
        summary: S
        rules:
          - id: rude
            title: Rude words
            when: {lexicon: rude}
            action: label
            strike: {weight: 1, expires_after: 90 days}
            notice: Labelled.
            examples: {match: [a], no_match: [b]}
        """,
        ("rude", "strike.expires_after", 9),
        "'90 days' is not an ISO-8601 duration",
    ),
    "zero duration": (
        """\
        id: tiny
        title: Tiny
        summary: S
        rules:
          - id: rude
            title: Rude words
            when: {lexicon: rude}
            action: label
            strike:
              weight: 1
              expires_after: P0D
            notice: Labelled.
            examples: {match: [a], no_match: [b]}
        """,
        ("rude", "strike.expires_after", 11),
        "'P0D' is zero",
    ),
    "strike weight zero": (
        """\
        id: tiny
        title: Tiny
        summary: S
        rules:
          - id: rude
            title: Rude words
            when: {lexicon: rude}
            action: label
            strike: {weight: 0, expires_after: P1D}
            notice: Labelled.
            examples: {match: [a], no_match: [b]}
        """,
        ("rude", "strike.weight", 9),
        "must be a positive whole number",
    ),
    "account action on a rule": (
        """\
        id: tiny
        title: Tiny
        summary: S
        rules:
          - id: rude
            title: Rude words
            when: {lexicon: rude}
            action: suspend_account
            notice: Labelled.
            examples: {match: [a], no_match: [b]}
        """,
        ("rude", "action", 8),
        "acts on an account, which only the escalation ladder does",
    ),
    "unknown action": (
        """\
        id: tiny
        title: Tiny
        summary: S
        rules:
          - id: rude
            title: Rude words
            when: {lexicon: rude}
            action: delete
            notice: Labelled.
            examples: {match: [a], no_match: [b]}
        """,
        ("rude", "action", 8),
        "'delete' is not one of: allow, label, reduce_visibility, hold_for_review, remove",
    ),
    "condition with two kinds": (
        """\
        id: tiny
        title: Tiny
        summary: S
        rules:
          - id: rude
            title: Rude words
            when: {lexicon: rude, regex: x}
            action: label
            notice: Labelled.
            examples: {match: [a], no_match: [b]}
        """,
        ("rude", "when", 7),
        "a condition has exactly one key of score, lexicon, regex, length, all, any, not; "
        "found lexicon, regex",
    ),
    "empty any": (
        """\
        id: tiny
        title: Tiny
        summary: S
        rules:
          - id: rude
            title: Rude words
            when: {any: []}
            action: label
            notice: Labelled.
            examples: {match: [a], no_match: [b]}
        """,
        ("rude", "when.any", 7),
        "must be a list of at least one condition",
    ),
    "length without bounds": (
        """\
        id: tiny
        title: Tiny
        summary: S
        rules:
          - id: rude
            title: Rude words
            when: {length: {}}
            action: label
            notice: Labelled.
            examples: {match: [a], no_match: [b]}
        """,
        ("rude", "when.length", 7),
        "give at_least, at_most or both",
    ),
    "negative length": (
        """\
        id: tiny
        title: Tiny
        summary: S
        rules:
          - id: rude
            title: Rude words
            when: {length: {at_least: -1}}
            action: label
            notice: Labelled.
            examples: {match: [a], no_match: [b]}
        """,
        ("rude", "when.length.at_least", 7),
        "must be a whole number, 0 or more",
    ),
    "account action without for": (
        """\
        id: tiny
        title: Tiny
        summary: S
        rules:
          - id: rude
            title: Rude words
            when: {lexicon: rude}
            action: label
            strike: {weight: 1, expires_after: P30D}
            notice: Labelled.
            examples: {match: [a], no_match: [b]}
        escalation:
          - {active_strikes: 3, action: restrict_account, for: P7D}
          - {active_strikes: 6, action: suspend_account}
        """,
        (None, "escalation[1].for", 14),
        "suspend_account needs 'for' (such as P7D): account restrictions always end",
    ),
    "escalation thresholds not increasing": (
        """\
        id: tiny
        title: Tiny
        summary: S
        rules:
          - id: rude
            title: Rude words
            when: {lexicon: rude}
            action: label
            strike: {weight: 1, expires_after: P30D}
            notice: Labelled.
            examples: {match: [a], no_match: [b]}
        escalation:
          - {active_strikes: 3, action: restrict_account, for: P7D}
          - {active_strikes: 3, action: suspend_account, for: P7D}
        """,
        (None, "escalation[1].active_strikes", 14),
        "must be greater than the previous step's 3",
    ),
    "escalation without any strike": (
        """\
        id: tiny
        title: Tiny
        summary: S
        rules:
          - id: rude
            title: Rude words
            when: {lexicon: rude}
            action: label
            notice: Labelled.
            examples: {match: [a], no_match: [b]}
        escalation:
          - {active_strikes: 3, action: restrict_account, for: P7D}
        """,
        (None, "escalation", 12),
        "no rule issues a strike",
    ),
    "appeal window too short": (
        """\
        id: tiny
        title: Tiny
        summary: S
        rules:
          - id: rude
            title: Rude words
            when: {lexicon: rude}
            action: label
            notice: Labelled.
            examples: {match: [a], no_match: [b]}
        appeals: {window: P5M30D}
        """,
        (None, "appeals.window", 11),
        "must be at least P6M",
    ),
    "bad public_excerpt": (
        """\
        id: tiny
        title: Tiny
        summary: S
        public_excerpt: some
        rules: []
        """,
        (None, "public_excerpt", 4),
        "'some' is not one of: none, redacted, full",
    ),
    "YAML reads an unquoted word as a boolean": (
        """\
        id: tiny
        title: Tiny
        summary: S
        rules:
          - id: rude
            title: Rude words
            when: {lexicon: rude}
            action: label
            notice: Labelled.
            examples: {match: [yes], no_match: [b]}
        """,
        ("rude", "examples.match[0]", 10),
        "must be text, not true/false (YAML reads 'yes' as true/false; put it in quotes)",
    ),
    "YAML syntax error": (
        """\
        id: tiny
        title: Tiny
        summary: S
        rules:
          - id: rude
            title: [unclosed
            action: label
        """,
        (None, None, 7),
        "is not valid YAML: while parsing a flow sequence; expected ',' or ']', but got ':'",
    ),
    "id differs from file name": (
        """\
        id: other
        title: Tiny
        summary: S
        rules: []
        """,
        (None, "id", 1),
        "id 'other' must equal the file name without its extension ('tiny')",
    ),
    "invalid policy id": (
        """\
        id: Tiny Policy
        title: Tiny
        summary: S
        rules: []
        """,
        (None, "id", 1),
        "'Tiny Policy' is not a valid id",
    ),
    "no rules": (
        """\
        id: tiny
        title: Tiny
        summary: S
        rules: []
        """,
        (None, "rules", 4),
        "must be a list of at least one rule",
    ),
    "invalid rule id": (
        """\
        id: tiny
        title: Tiny
        summary: S
        rules:
          - id: Rude!
            title: Rude words
        """,
        (None, "rules[0].id", 5),
        "'Rude!' is not a valid id",
    ),
    "rule without id": (
        """\
        id: tiny
        title: Tiny
        summary: S
        rules:
          - title: Rude words
            when: {lexicon: rude}
        """,
        (None, "rules[0].id", 5),
        "missing required key 'id'",
    ),
    "duplicate rule id": (
        """\
        id: tiny
        title: Tiny
        summary: S
        rules:
          - id: rude
            title: Rude words
            when: {lexicon: rude}
            action: label
            notice: Labelled.
            examples: {match: [a], no_match: [b]}
          - id: rude
            title: Rude again
            when: {lexicon: rude}
            action: remove
            notice: Removed.
            examples: {match: [a], no_match: [b]}
        """,
        ("rude", "id", 11),
        "rule id 'rude' is already used on line 5",
    ),
    "empty file": ("", (None, None, None), "is empty"),
    "two documents": (
        """\
        id: tiny
        ---
        id: tiny
        """,
        (None, None, 2),
        "expected a single document in the stream",
    ),
    "control character": ("id: tiny\ntitle: a\x07b\n", (None, None, 2), "U+0007"),
    "document is a list": (
        """\
        - id: tiny
        """,
        (None, None, 1),
        "must be a mapping of keys to values, not a list",
    ),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_policy_is_refused_precisely(tmp_path: Path, case: str) -> None:
    text, (rule, field, line), message = MALFORMED[case]
    error = load_error(tmp_path, text)
    assert (error.file, error.rule, error.field, error.line) == ("tiny.yaml", rule, field, line)
    assert message in error.message
    assert "\n" not in str(error)


def test_error_message_is_one_line_in_the_documented_format(tmp_path: Path) -> None:
    error = load_error(tmp_path, MALFORMED["threshold above one"][0])
    assert str(error) == (
        "tiny.yaml: rule 'rude': field 'when.score.at_least' (line 11): "
        "must be a number between 0 and 1"
    )
    top = load_error(tmp_path / "x", MALFORMED["unknown top-level key"][0])
    assert str(top).startswith("tiny.yaml: field 'colour' (line 4): unknown key 'colour'")


def test_invalid_utf8_is_reported_with_its_line(tmp_path: Path) -> None:
    directory = write_dir(tmp_path, {})
    (directory / "tiny.yaml").write_bytes(b"id: tiny\ntitle: \xff\n")
    with pytest.raises(PolicyError) as caught:
        load_policy_dir(directory)
    assert (caught.value.file, caught.value.line) == ("tiny.yaml", 2)


def test_empty_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="has no policy files"):
        load_policy_dir(tmp_path)


def test_missing_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="is not a directory"):
        load_policy_dir(tmp_path / "nowhere")


def test_one_bad_file_fails_the_whole_directory(tmp_path: Path) -> None:
    bad = VALID.replace("id: tiny", "id: broken").replace("action: label", "action: nope")
    directory = write_dir(tmp_path, {"tiny.yaml": VALID, "broken.yml": bad})
    with pytest.raises(PolicyError) as caught:
        load_policy_dir(directory)
    assert (caught.value.file, caught.value.rule, caught.value.field) == (
        "broken.yml",
        "rude",
        "action",
    )


def test_same_id_in_yaml_and_yml_is_an_error(tmp_path: Path) -> None:
    directory = write_dir(tmp_path, {"tiny.yaml": VALID, "tiny.yml": VALID})
    with pytest.raises(PolicyError) as caught:
        load_policy_dir(directory)
    assert (caught.value.file, caught.value.field) == ("tiny.yml", "id")
    assert "already used by tiny.yaml" in caught.value.message


@pytest.mark.parametrize(
    ("name", "content", "line", "message"),
    [
        ("rude.txt", "# only a comment\n\n", None, "has no terms"),
        ("rude.txt", "jerk\n!!!\n", 2, "a term needs at least one letter or digit"),
        ("Rude.txt", "jerk\n", None, "a word list's name must be lowercase"),
    ],
)
def test_bad_lexicon_files(
    tmp_path: Path, name: str, content: str, line: int | None, message: str
) -> None:
    (tmp_path / "lexicons").mkdir()
    (tmp_path / "lexicons" / name).write_text(content, encoding="utf-8")
    (tmp_path / "tiny.yaml").write_text(VALID, encoding="utf-8")
    with pytest.raises(PolicyError) as caught:
        load_policy_dir(tmp_path)
    assert caught.value.file == f"lexicons/{name}"
    assert caught.value.line == line
    assert message in caught.value.message


def test_recursive_alias_is_refused(tmp_path: Path) -> None:
    text = VALID.replace("when: {lexicon: rude}", "when: &loop {not: *loop}")
    error = load_error(tmp_path, text)
    assert (error.rule, error.field, error.line) == ("rude", "when.not", 7)
    assert "contains itself" in error.message
