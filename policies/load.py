"""Read policy files and word lists, and refuse anything not exactly right.

A policy decides what happens to people's speech, so a typo must never quietly disable a
rule: unknown keys, duplicate keys and loose types are errors, and every error names the
file, the rule, the field and the line.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from policies.duration import Duration, parse_duration
from policies.language import UNDETERMINED, canonical_tag
from policies.model import (
    ACCOUNT_ACTIONS,
    ACTIONS,
    CONTENT_ACTIONS,
    PUBLIC_EXCERPTS,
    AllOf,
    AnyOf,
    AppealSettings,
    Condition,
    EscalationStep,
    Examples,
    LengthCondition,
    LexiconCondition,
    Not,
    Policy,
    PolicySet,
    PublicExcerpt,
    RegexCondition,
    Rule,
    ScoreCondition,
    Strike,
    Translations,
)
from policies.regex import PatternError, compile_pattern

ID_PATTERN = re.compile(r"[a-z][a-z0-9_-]{0,63}")
"""Policy ids, rule ids and word-list names (``fullmatch``)."""

DEFAULT_CLASSIFIER = "lexicon"
DEFAULT_LANGUAGE = "en"
DEFAULT_APPEAL_WINDOW = parse_duration("P6M")
DEFAULT_DECIDE_WITHIN = parse_duration("P7D")
# DSA Art. 20(1): the internal complaint system stays open for at least six months.
MINIMUM_APPEAL_WINDOW = DEFAULT_APPEAL_WINDOW

POLICY_SUFFIXES = (".yaml", ".yml")
LEXICON_DIR = "lexicons"
CONDITION_KINDS = ("score", "lexicon", "regex", "length", "all", "any", "not")
# Far deeper than any readable rule, and far from Python's recursion limit.
_Option = TypeVar("_Option", bound=str)  # one of the allowed values, as typed there
_MAX_DEPTH = 32

_TOP_KEYS = {
    "id": True,
    "title": True,
    "summary": True,
    "classifier": False,
    "rules": True,
    "escalation": False,
    "appeals": False,
    "public_excerpt": False,
    "language": False,
}
_RULE_KEYS = {
    "id": True,
    "title": True,
    "description": False,
    "when": True,
    "action": True,
    "notice": True,
    "strike": False,
    "examples": True,
}


class PolicyError(Exception):
    """A policy directory, policy file or word list that cannot be used as written.

    ``file`` is relative to the policy directory; ``rule`` is the rule id (None outside
    a rule, or when the rule's own id is the problem); ``field`` is a dotted path inside
    the rule or document (``when.any[1].score.at_least``); ``line`` is 1-based.
    """

    def __init__(
        self,
        file: str,
        message: str,
        *,
        rule: str | None = None,
        field: str | None = None,
        line: int | None = None,
    ) -> None:
        self.file = file
        self.rule = rule
        self.field = field
        self.line = line
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        parts = [self.file]
        if self.rule is not None:
            parts.append(f"rule '{self.rule}'")
        if self.field is not None:
            parts.append(f"field '{self.field}'")
        where = ": ".join(parts)
        if self.line is not None:
            where += f" (line {self.line})"
        return f"{where}: {self.message}"


def load_policy_dir(path: str | Path) -> PolicySet:
    """Every policy (``*.yaml``, ``*.yml``) in ``path`` and every word list in
    ``path/lexicons/*.txt``, all valid, or ``PolicyError`` at the first problem."""
    directory = Path(path)
    if not directory.is_dir():
        raise PolicyError(str(directory), "is not a directory")
    lexicons: dict[str, tuple[str, ...]] = {}
    lexicon_dir = directory / LEXICON_DIR
    if lexicon_dir.is_dir():
        for file in sorted(lexicon_dir.glob("*.txt")):
            lexicons[file.stem] = load_lexicon_file(file)
    files = sorted(p for p in directory.iterdir() if p.suffix in POLICY_SUFFIXES and p.is_file())
    if not files:
        raise PolicyError(str(directory), "has no policy files (*.yaml or *.yml)")
    policies: dict[str, Policy] = {}
    for file in files:
        policy = load_policy_file(file, lexicons)
        if policy.id in policies:
            raise PolicyError(
                file.name,
                f"policy id {policy.id!r} is already used by {Path(policies[policy.id].path).name}",
                field="id",
            )
        policies[policy.id] = policy
    return PolicySet(
        directory=directory,
        policies=MappingProxyType(policies),
        lexicons=MappingProxyType(lexicons),
    )


def load_lexicon_file(path: str | Path) -> tuple[str, ...]:
    """The terms of one word list: one per line, ``#`` starts a comment, blank lines are
    skipped, a term may contain spaces. ``PolicyError`` if the list is unusable."""
    path = Path(path)
    file = f"{LEXICON_DIR}/{path.name}"
    if ID_PATTERN.fullmatch(path.stem) is None:
        raise PolicyError(
            file,
            "a word list's name must be lowercase letters, digits, '-' or '_', "
            "starting with a letter",
        )
    text = _decode(_read(path, file), file)
    terms: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        term = " ".join(raw.split("#", 1)[0].split())
        if not term:
            continue
        if not any(ch.isalnum() for ch in term):
            raise PolicyError(file, "a term needs at least one letter or digit", line=number)
        terms.append(term)
    if not terms:
        raise PolicyError(file, "has no terms")
    return tuple(terms)


def load_policy_file(path: str | Path, lexicons: Mapping[str, tuple[str, ...]]) -> Policy:
    """One policy, checked against the word lists ``lexicons`` it may use, or
    ``PolicyError`` at the first problem."""
    path = Path(path)
    source = _read(path, path.name)
    return _Reader(path, lexicons).policy(source)


def _read(path: Path, file: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise PolicyError(file, f"cannot be read: {exc.strerror or exc}") from None


def _decode(source: bytes, file: str) -> str:
    try:
        text = source.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = source[: exc.start].count(b"\n") + 1
        raise PolicyError(file, "is not valid UTF-8", line=line) from None
    return text.removeprefix("\ufeff")


@dataclass(frozen=True)
class _At:
    """Where in the document a node sits, in the terms PolicyError reports."""

    rule: str | None = None
    field: str | None = None

    def key(self, name: str) -> _At:
        return _At(self.rule, f"{self.field}.{name}" if self.field else name)

    def index(self, i: int) -> _At:
        return _At(self.rule, f"{self.field}[{i}]" if self.field else f"[{i}]")


def _line(node: Node) -> int:
    return node.start_mark.line + 1


def _kind(value: Any) -> str:
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    return f"a {type(value).__name__}"


def _node_kind(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    return "a single value"


class _Reader:
    """Turns one file's YAML nodes into a ``Policy``, raising at the first problem."""

    def __init__(self, path: Path, lexicons: Mapping[str, tuple[str, ...]]) -> None:
        self.path = path
        self.file = path.name
        self.lexicons = lexicons
        self.constructor = SafeConstructor()
        self.classifier = DEFAULT_CLASSIFIER
        self.language = DEFAULT_LANGUAGE

    def fail(self, at: _At, node: Node | None, message: str) -> PolicyError:
        line = _line(node) if node is not None else None
        return PolicyError(self.file, message, rule=at.rule, field=at.field, line=line)

    # -- document ---------------------------------------------------------------------

    def policy(self, source: bytes) -> Policy:
        root = self.compose(_decode(source, self.file))
        top = _At()
        fields = self.mapping(root, top, _TOP_KEYS)
        policy_id = self.identifier(fields["id"], top.key("id"))
        stem = self.path.stem
        if policy_id != stem:
            raise self.fail(
                top.key("id"),
                fields["id"],
                f"id {policy_id!r} must equal the file name without its extension ({stem!r})",
            )
        title = self.string(fields["title"], top.key("title"))
        summary = self.string(fields["summary"], top.key("summary"))
        if "classifier" in fields:
            self.classifier = self.string(fields["classifier"], top.key("classifier"))
        if "language" in fields:
            self.language = self.language_tag(fields["language"], top.key("language"))
        excerpt: PublicExcerpt = "none"
        if "public_excerpt" in fields:
            excerpt = self.choice(
                fields["public_excerpt"], top.key("public_excerpt"), PUBLIC_EXCERPTS
            )
        rules = self.rules(fields["rules"], top.key("rules"))
        escalation: tuple[EscalationStep, ...] = ()
        if "escalation" in fields:
            escalation = self.escalation(fields["escalation"], top.key("escalation"), rules)
        appeals = AppealSettings(DEFAULT_APPEAL_WINDOW, DEFAULT_DECIDE_WITHIN)
        if "appeals" in fields:
            appeals = self.appeals(fields["appeals"], top.key("appeals"))
        return Policy(
            id=policy_id,
            title=title,
            summary=summary,
            classifier=self.classifier,
            rules=rules,
            escalation=escalation,
            appeals=appeals,
            public_excerpt=excerpt,
            version="sha256:" + hashlib.sha256(source).hexdigest(),
            source=source,
            path=str(self.path),
            language=self.language,
        )

    def compose(self, text: str) -> Node:
        try:
            root = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            problem = "; ".join(p for p in (exc.context, exc.problem) if p)
            raise PolicyError(
                self.file,
                f"is not valid YAML: {problem or type(exc).__name__}",
                line=mark.line + 1 if mark else None,
            ) from None
        except yaml.YAMLError as exc:
            # Reader errors (e.g. control characters) carry a character offset, not a mark.
            position = getattr(exc, "position", None)
            line = text[:position].count("\n") + 1 if isinstance(position, int) else None
            reason = getattr(exc, "reason", None) or type(exc).__name__
            character = getattr(exc, "character", None)
            if isinstance(character, str):
                character = ord(character)
            if isinstance(character, int):
                reason += f" (character U+{character:04X})"
            raise PolicyError(self.file, f"is not valid YAML: {reason}", line=line) from None
        if root is None:
            raise PolicyError(self.file, "is empty")
        return root

    # -- rules ------------------------------------------------------------------------

    def rules(self, node: Node, at: _At) -> tuple[Rule, ...]:
        rules: list[Rule] = []
        first_line: dict[str, int] = {}
        for i, item in enumerate(self.sequence(node, at, what="rule")):
            rule = self.rule(item, at.index(i))
            id_node = _value_of(item, "id") if isinstance(item, MappingNode) else None
            assert id_node is not None, "rule() checked the id"
            if rule.id in first_line:
                raise self.fail(
                    _At(rule.id, "id"),
                    id_node,
                    f"rule id {rule.id!r} is already used on line {first_line[rule.id]}",
                )
            first_line[rule.id] = _line(id_node)
            rules.append(rule)
        return tuple(rules)

    def rule(self, node: Node, at: _At) -> Rule:
        if not isinstance(node, MappingNode):
            raise self.fail(at, node, f"a rule must be a mapping, not {_node_kind(node)}")
        # The id comes first so every later error can name the rule.
        id_node = _value_of(node, "id")
        rule_id = self.identifier(id_node, at.key("id")) if id_node is not None else None
        if rule_id is not None:
            at = _At(rule_id)
        fields = self.mapping(node, at, _RULE_KEYS)
        assert rule_id is not None  # mapping() reported a missing id
        if self.scalar(fields["action"], at.key("action")) in ACCOUNT_ACTIONS:
            raise self.fail(
                at.key("action"),
                fields["action"],
                "acts on an account, which only the escalation ladder does; "
                f"a rule's action is one of: {', '.join(CONTENT_ACTIONS)}",
            )
        action = self.choice(fields["action"], at.key("action"), CONTENT_ACTIONS)
        strike = None
        if "strike" in fields:
            strike = self.strike(fields["strike"], at.key("strike"))
            if action == "allow":
                raise self.fail(
                    at.key("strike"), fields["strike"], "a rule that allows cannot issue a strike"
                )
        description = None
        if "description" in fields:
            description = self.string(fields["description"], at.key("description"))
        notice, translations = self.notice(fields["notice"], at.key("notice"))
        return Rule(
            id=rule_id,
            title=self.string(fields["title"], at.key("title")),
            when=self.condition(fields["when"], at.key("when"), ()),
            action=action,
            notice=notice,
            strike=strike,
            examples=self.examples(fields["examples"], at.key("examples")),
            description=description,
            translations=translations,
        )

    def notice(self, node: Node, at: _At) -> tuple[str, Translations]:
        """A notice written as text (in the policy's language) or as a mapping from
        language tags to texts, which must include the policy's language."""
        if not isinstance(node, MappingNode):
            return self.string(node, at), ()
        texts: dict[str, str] = {}
        written: dict[str, str] = {}
        for key_node, value_node in node.value:
            key = self.scalar(key_node, at)
            if not isinstance(key, str):
                raise self.fail(
                    at, key_node, f"keys are language tags such as 'en' or 'fr', not {_kind(key)}"
                )
            tag = self.language_tag(key_node, at.key(key))
            if tag in texts:
                raise self.fail(
                    at.key(key),
                    key_node,
                    f"language {tag!r} is given twice (first as {written[tag]!r})",
                )
            written[tag] = key
            texts[tag] = self.string(value_node, at.key(key))
        if self.language not in texts:
            given = ", ".join(texts) or "none"
            raise self.fail(
                at,
                node,
                f"has no text in the policy's language {self.language!r} (the fallback for "
                f"every other language); given: {given}",
            )
        own = texts.pop(self.language)
        return own, tuple(texts.items())

    def language_tag(self, node: Node, at: _At) -> str:
        value = self.string(node, at)
        try:
            tag = canonical_tag(value)
        except ValueError as exc:
            raise self.fail(at, node, str(exc)) from None
        if tag == UNDETERMINED:
            raise self.fail(at, node, f"{UNDETERMINED!r} (undetermined) names no language")
        return tag

    def strike(self, node: Node, at: _At) -> Strike:
        fields = self.mapping(node, at, {"weight": True, "expires_after": True})
        return Strike(
            weight=self.integer(fields["weight"], at.key("weight"), minimum=1),
            expires_after=self.duration(fields["expires_after"], at.key("expires_after")),
        )

    def examples(self, node: Node, at: _At) -> Examples:
        fields = self.mapping(node, at, {"match": True, "no_match": True})
        lists = {}
        for key in ("match", "no_match"):
            items = self.sequence(fields[key], at.key(key), what="example")
            lists[key] = tuple(self.string(n, at.key(key).index(i)) for i, n in enumerate(items))
        return Examples(match=lists["match"], no_match=lists["no_match"])

    # -- conditions -------------------------------------------------------------------

    def condition(self, node: Node, at: _At, outer: tuple[Node, ...]) -> Condition:
        if any(node is o for o in outer):
            raise self.fail(at, node, "this condition contains itself (a YAML alias loop)")
        if len(outer) >= _MAX_DEPTH:
            raise self.fail(at, node, f"conditions are nested more than {_MAX_DEPTH} deep")
        inner = (*outer, node)
        kinds = ", ".join(CONDITION_KINDS)
        if not isinstance(node, MappingNode):
            raise self.fail(at, node, f"a condition is a mapping with one key: {kinds}")
        fields = self.mapping(node, at, dict.fromkeys(CONDITION_KINDS, False))
        if len(fields) != 1:
            found = ", ".join(fields) or "nothing"
            raise self.fail(at, node, f"a condition has exactly one key of {kinds}; found {found}")
        [(kind, value)] = fields.items()
        at = at.key(kind)
        if kind == "score":
            return self.score(value, at)
        if kind == "lexicon":
            return self.lexicon(value, at)
        if kind == "regex":
            return self.regex(value, at)
        if kind == "length":
            return self.length(value, at)
        if kind == "not":
            return Not(self.condition(value, at, inner))
        items = self.sequence(value, at, what="condition")
        children = tuple(self.condition(n, at.index(i), inner) for i, n in enumerate(items))
        return AllOf(children) if kind == "all" else AnyOf(children)

    def score(self, node: Node, at: _At) -> ScoreCondition:
        fields = self.mapping(node, at, {"label": True, "at_least": False, "below": False})
        label = self.string(fields["label"], at.key("label"))
        if label.startswith("lexicon:"):
            name = label.removeprefix("lexicon:")
            raise self.fail(
                at.key("label"), fields["label"], f"write {{lexicon: {name}}} to use a word list"
            )
        if self.classifier == DEFAULT_CLASSIFIER:
            raise self.fail(
                at.key("label"),
                fields["label"],
                f"the {DEFAULT_CLASSIFIER!r} classifier gives no score {label!r}, only "
                "word-list hits; use {lexicon: NAME} or name another classifier",
            )
        bounds = [k for k in ("at_least", "below") if k in fields]
        if len(bounds) != 1:
            problem = "not both" if bounds else "one is required"
            raise self.fail(at, node, f"give exactly one of at_least or below ({problem})")
        [bound] = bounds
        value = self.number(fields[bound], at.key(bound))
        if not 0.0 <= value <= 1.0:
            raise self.fail(at.key(bound), fields[bound], "must be a number between 0 and 1")
        return ScoreCondition(label=label, **{bound: value})

    def lexicon(self, node: Node, at: _At) -> LexiconCondition:
        name = self.string(node, at)
        if name not in self.lexicons:
            known = ", ".join(sorted(self.lexicons)) or "none"
            raise self.fail(
                at,
                node,
                f"unknown word list {name!r}: there is no {LEXICON_DIR}/{name}.txt "
                f"(the directory has: {known})",
            )
        return LexiconCondition(name)

    def regex(self, node: Node, at: _At) -> RegexCondition:
        flags = {"case_sensitive": False, "skip_mentions": False}
        pattern_node = node
        pattern_at = at
        if isinstance(node, MappingNode):
            fields = self.mapping(node, at, {"pattern": True, **dict.fromkeys(flags, False)})
            pattern_node, pattern_at = fields["pattern"], at.key("pattern")
            for flag in flags:
                if flag in fields:
                    flags[flag] = self.boolean(fields[flag], at.key(flag))
        source = self.string(pattern_node, pattern_at)
        try:
            pattern = compile_pattern(source, case_sensitive=flags["case_sensitive"])
        except PatternError as exc:
            error = self.fail(pattern_at, pattern_node, str(exc))
            error.line = _line_in_scalar(pattern_node, source, exc.offset)
            raise error from None
        return RegexCondition(source=source, pattern=pattern, skip_mentions=flags["skip_mentions"])

    def length(self, node: Node, at: _At) -> LengthCondition:
        fields = self.mapping(node, at, {"at_least": False, "at_most": False})
        if not fields:
            raise self.fail(at, node, "give at_least, at_most or both")
        bounds = {k: self.integer(v, at.key(k), minimum=0) for k, v in fields.items()}
        if "at_least" in bounds and "at_most" in bounds and bounds["at_most"] < bounds["at_least"]:
            raise self.fail(at.key("at_most"), fields["at_most"], "is smaller than at_least")
        return LengthCondition(**bounds)

    # -- escalation and appeals -------------------------------------------------------

    def escalation(
        self, node: Node, at: _At, rules: tuple[Rule, ...]
    ) -> tuple[EscalationStep, ...]:
        keys = {"active_strikes": True, "action": True, "for": False, "notice": False}
        steps: list[EscalationStep] = []
        items = self.sequence(node, at, nonempty=False)
        if items and not any(rule.strike for rule in rules):
            raise self.fail(at, node, "no rule issues a strike, so no step can ever apply")
        for i, item in enumerate(items):
            step_at = at.index(i)
            fields = self.mapping(item, step_at, keys)
            count_at = step_at.key("active_strikes")
            count = self.integer(fields["active_strikes"], count_at, minimum=1)
            if steps and count <= steps[-1].active_strikes:
                raise self.fail(
                    count_at,
                    fields["active_strikes"],
                    f"must be greater than the previous step's {steps[-1].active_strikes}",
                )
            action = self.choice(fields["action"], step_at.key("action"), ACTIONS)
            if action not in ACCOUNT_ACTIONS:
                raise self.fail(
                    step_at.key("action"),
                    fields["action"],
                    f"an escalation step acts on the account: one of {', '.join(ACCOUNT_ACTIONS)}",
                )
            if "for" not in fields:
                raise self.fail(
                    step_at.key("for"),
                    item,
                    f"{action} needs 'for' (such as P7D): account restrictions always end",
                )
            notice: str | None = None
            translations: tuple[tuple[str, str], ...] = ()
            if "notice" in fields:
                notice, translations = self.notice(fields["notice"], step_at.key("notice"))
            steps.append(
                EscalationStep(
                    active_strikes=count,
                    action=action,
                    for_=self.duration(fields["for"], step_at.key("for")),
                    notice=notice,
                    translations=translations,
                )
            )
        return tuple(steps)

    def appeals(self, node: Node, at: _At) -> AppealSettings:
        fields = self.mapping(node, at, {"window": False, "decide_within": False})
        window = DEFAULT_APPEAL_WINDOW
        if "window" in fields:
            window = self.duration(fields["window"], at.key("window"))
            if not window.is_at_least(MINIMUM_APPEAL_WINDOW):
                raise self.fail(
                    at.key("window"),
                    fields["window"],
                    f"must be at least {MINIMUM_APPEAL_WINDOW.text}: the EU Digital Services "
                    "Act (Art. 20) keeps complaints open for at least six months",
                )
        decide_within = DEFAULT_DECIDE_WITHIN
        if "decide_within" in fields:
            decide_within = self.duration(fields["decide_within"], at.key("decide_within"))
        return AppealSettings(window=window, decide_within=decide_within)

    # -- YAML shapes and scalar types -------------------------------------------------

    def mapping(self, node: Node | None, at: _At, keys: Mapping[str, bool]) -> dict[str, Node]:
        """The mapping's values by key; unknown, duplicate and missing required keys are
        errors (``keys`` maps each allowed key to whether it is required)."""
        if not isinstance(node, MappingNode):
            shown = _node_kind(node) if node is not None else "missing"
            raise self.fail(at, node, f"must be a mapping of keys to values, not {shown}")
        values: dict[str, Node] = {}
        key_lines: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = self.scalar(key_node, at)
            if not isinstance(key, str):
                raise self.fail(at, key_node, f"keys must be words, not {_kind(key)}")
            if key in key_lines:
                raise self.fail(
                    at.key(key),
                    key_node,
                    f"duplicate key {key!r} (first written on line {key_lines[key]})",
                )
            if key not in keys:
                raise self.fail(at.key(key), key_node, _unknown_key(key, keys))
            key_lines[key] = _line(key_node)
            values[key] = value_node
        for key, required in keys.items():
            if required and key not in values:
                raise self.fail(at.key(key), node, f"missing required key {key!r}")
        return values

    def sequence(
        self, node: Node, at: _At, *, nonempty: bool = True, what: str = "item"
    ) -> list[Node]:
        if not isinstance(node, SequenceNode):
            raise self.fail(at, node, f"must be a list, not {_node_kind(node)}")
        if nonempty and not node.value:
            raise self.fail(at, node, f"must be a list of at least one {what}")
        return list(node.value)

    def scalar(self, node: Node, at: _At) -> Any:
        if not isinstance(node, ScalarNode):
            raise self.fail(at, node, f"must be a single value, not {_node_kind(node)}")
        if node.tag == "tag:yaml.org,2002:merge":
            raise self.fail(at, node, "YAML merge keys ('<<') are not supported")
        try:
            return self.constructor.construct_object(node)
        except yaml.YAMLError as exc:
            problem = getattr(exc, "problem", None) or str(exc)
            raise self.fail(at, node, f"cannot be read: {problem}") from None

    def string(self, node: Node, at: _At) -> str:
        value = self.scalar(node, at)
        if not isinstance(value, str):
            hint = ""
            # A plain (unquoted) scalar that YAML read as something else: quotes make it text.
            if isinstance(node, ScalarNode) and node.style is None and value is not None:
                hint = f" (YAML reads {node.value!r} as {_kind(value)}; put it in quotes)"
            raise self.fail(at, node, f"must be text, not {_kind(value)}{hint}")
        if not value.strip():
            raise self.fail(at, node, "must not be empty")
        return value

    def identifier(self, node: Node, at: _At) -> str:
        value = self.string(node, at)
        if ID_PATTERN.fullmatch(value) is None:
            raise self.fail(
                at,
                node,
                f"{value!r} is not a valid id: use 1 to 64 lowercase letters, digits, "
                "'-' or '_', starting with a letter",
            )
        return value

    def choice(self, node: Node, at: _At, options: tuple[_Option, ...]) -> _Option:
        value = self.string(node, at)
        for option in options:
            if option == value:
                return option
        raise self.fail(at, node, f"{value!r} is not one of: {', '.join(options)}")

    def number(self, node: Node, at: _At) -> float:
        value = self.scalar(node, at)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(at, node, f"must be a number, not {_kind(value)}")
        return float(value)

    def integer(self, node: Node, at: _At, *, minimum: int) -> int:
        value = self.scalar(node, at)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            wanted = "a positive whole number" if minimum == 1 else "a whole number, 0 or more"
            raise self.fail(at, node, f"must be {wanted}")
        return value

    def boolean(self, node: Node, at: _At) -> bool:
        value = self.scalar(node, at)
        if not isinstance(value, bool):
            raise self.fail(at, node, f"must be true or false, not {_kind(value)}")
        return value

    def duration(self, node: Node, at: _At) -> Duration:
        value = self.scalar(node, at)
        try:
            return parse_duration(value)
        except ValueError as exc:
            raise self.fail(at, node, str(exc)) from None


def _line_in_scalar(node: Node, value: str, offset: int | None) -> int:
    """The file line of ``value[offset]`` inside the scalar ``node``: exact for literal
    block scalars (``|``), whose lines are the file's; the scalar's first line otherwise."""
    if offset is None or getattr(node, "style", None) != "|":
        return _line(node)
    # The block's content starts on the line after its '|' indicator.
    return _line(node) + 1 + value.count("\n", 0, offset)


def _value_of(node: MappingNode, key: str) -> Node | None:
    """The value node of the first ``key`` in a mapping node, before any validation."""
    return next((v for k, v in node.value if isinstance(k, ScalarNode) and k.value == key), None)


def _unknown_key(key: str, allowed: Mapping[str, bool]) -> str:
    message = f"unknown key {key!r}"
    close = difflib.get_close_matches(key, list(allowed), n=1)
    if close:
        message += f" (did you mean {close[0]!r}?)"
    return f"{message}; expected one of: {', '.join(allowed)}"
