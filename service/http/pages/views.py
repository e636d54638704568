"""View models for the public web pages: what the templates show, shaped from the
domain's reads (``service.domain.reads``), the same data the JSON API serves. No Flask
and no queries here; the blueprint fetches, this shapes.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import yaml

from audit_log.checkpoint import NoteError, parse_checkpoint, split_note
from policies.duration import parse_duration
from service.clock import parse_rfc3339
from service.domain.log_query import FILTERS, LogQuery

ACTION_WORDS = {
    "allow": "Allowed",
    "label": "Shown with a label",
    "reduce_visibility": "Shown to fewer people",
    "hold_for_review": "Held for a person to review",
    "remove": "Removed",
    "restrict_account": "Account restricted",
    "suspend_account": "Account suspended",
}
ACTIONS = tuple(ACTION_WORDS)
KIND_WORDS = {
    "decision": "Decision",
    "reversal": "Reversal",
    "appeal_filed": "Appeal filed",
    "appeal_resolved": "Appeal resolved",
    "policy_published": "Policy published",
    "erasure": "Content erased",
    "key_rotation": "Signing key rotated",
}
KINDS = tuple(KIND_WORDS)
# Every filter the log page's form offers, in the order it shows them.
FORM_FIELDS = (*FILTERS, "since", "until")
MAX_APPS_LISTED = 50


def action_words(action: str | None) -> str:
    if action is None:
        return ""
    return ACTION_WORDS.get(action, action)


def kind_words(kind: str | None) -> str:
    return KIND_WORDS.get(kind or "", kind or "")


def describe_duration(text: str | None) -> str:
    """``P90D`` as "90 days"; anything unparseable as written."""
    if not text:
        return ""
    try:
        return parse_duration(text).describe()
    except ValueError:
        return text


def query_args(query: LogQuery) -> dict[str, str]:
    """The filters of ``query`` as request arguments, with the API's names."""
    args = {name: query.filters[name] for name in FILTERS if name in query.filters}
    if query.since:
        args["since"] = query.since
    if query.until:
        args["until"] = query.until
    return args


@dataclass(frozen=True)
class CheckpointView:
    origin: str
    size: int
    root_base64: str
    root_hex: str
    signers: tuple[str, ...]
    note: str


def checkpoint_view(note: str) -> CheckpointView | None:
    """The parts of a signed checkpoint note a reader wants to see, unverified."""
    try:
        body, signatures = split_note(note)
        checkpoint = parse_checkpoint(body)
    except NoteError:
        return None
    root_base64 = body.split("\n")[2]
    return CheckpointView(
        origin=checkpoint.origin,
        size=checkpoint.size,
        root_base64=root_base64,
        root_hex=checkpoint.root.hex(),
        signers=tuple(f"{s.name}+{s.key_id.hex()}" for s in signatures),
        note=note,
    )


@dataclass(frozen=True)
class EntryRow:
    """One log entry as a row of the log page."""

    index: int
    id: str
    kind: str
    time: str
    app: str | None
    subject: str | None
    policy: str | None
    action: str | None
    rules: tuple[str, ...]
    ref: str | None
    leaf_hash: str


def entry_row(view: Mapping) -> EntryRow:
    """``view`` is a ``LogEntry`` as the API shows it: index, leaf_hash, entry."""
    entry = view["entry"]
    policy = entry.get("policy")
    rules = entry.get("rules") or ()
    return EntryRow(
        index=int(view["index"]),
        id=str(entry.get("id", "")),
        kind=str(entry.get("kind", "")),
        time=str(entry.get("time", "")),
        app=entry.get("app"),
        subject=entry.get("subject"),
        policy=policy.get("id") if isinstance(policy, Mapping) else None,
        action=entry.get("action"),
        rules=tuple(str(r["id"]) if isinstance(r, Mapping) else str(r) for r in rules),
        ref=entry.get("ref"),
        leaf_hash=str(view["leaf_hash"]),
    )


def errors_by_field(errors: Sequence[Mapping]) -> dict[str, str]:
    """A problem's field errors keyed by the form field they name (``#/token`` as
    ``token``), the first one of each field."""
    by_field: dict[str, str] = {}
    for error in errors:
        pointer = str(error.get("pointer", ""))
        if pointer.startswith("#/") and "/" not in pointer[2:]:
            by_field.setdefault(pointer[2:], str(error.get("detail", "")))
    return by_field


@functools.lru_cache(maxsize=64)
def _rules_of(version: str, source: bytes) -> Mapping[str, Mapping[str, str | None]]:
    # Keyed by version, which is the SHA-256 of the source: an entry never goes stale.
    try:
        doc = yaml.safe_load(source.decode("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError):
        return {}
    out: dict[str, dict[str, str | None]] = {}
    rules = doc.get("rules") if isinstance(doc, dict) else None
    for rule in rules if isinstance(rules, list) else ():
        if isinstance(rule, dict) and isinstance(rule.get("id"), str):
            title, description = rule.get("title"), rule.get("description")
            out[rule["id"]] = {
                "title": title if isinstance(title, str) else None,
                "description": description if isinstance(description, str) else None,
            }
    return out


def rule_texts(version: str, source: bytes | None) -> Mapping[str, Mapping[str, str | None]]:
    """Each rule's title and description as the version that judged wrote them."""
    return _rules_of(version, source) if source is not None else {}


def excerpt_segments(excerpt: str, spans: Sequence[Sequence[int]]) -> list[tuple[str, bool]]:
    """Split the public excerpt into (text, matched) runs.

    Spans are code-point offsets into the original text; a ``full`` or ``redacted``
    excerpt keeps its length, so they index the excerpt too. Out-of-range spans are
    clipped, never trusted.
    """
    marked = [False] * len(excerpt)
    for span in spans:
        if len(span) != 2:
            continue
        start, end = max(0, int(span[0])), min(len(excerpt), int(span[1]))
        for i in range(start, end):
            marked[i] = True
    segments: list[tuple[str, bool]] = []
    for ch, flag in zip(excerpt, marked, strict=True):
        if segments and segments[-1][1] == flag:
            segments[-1] = (segments[-1][0] + ch, flag)
        else:
            segments.append((ch, flag))
    return segments


@dataclass(frozen=True)
class DiffLine:
    kind: str  # "add", "del", "hunk", "same"
    text: str


def policy_diff(old: bytes, new: bytes, old_name: str, new_name: str) -> list[DiffLine]:
    """A unified diff of two stored policy files, line by line, for escaped display."""
    a = old.decode("utf-8", errors="replace").splitlines()
    b = new.decode("utf-8", errors="replace").splitlines()
    lines = []
    for line in difflib.unified_diff(a, b, old_name, new_name, lineterm="", n=3):
        if line.startswith(("---", "+++")):
            continue
        kind = {"+": "add", "-": "del", "@": "hunk"}.get(line[:1], "same")
        lines.append(DiffLine(kind, line))
    return lines


# --- charts, drawn on the server as SVG geometry for the template --------------------


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    css: str
    title: str


@dataclass(frozen=True)
class Label:
    x: float
    y: float
    text: str
    anchor: str = "start"


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    bars: tuple[Bar, ...]
    labels: tuple[Label, ...]
    axis: tuple[float, float, float, float]  # x1, y1, x2, y2 of the baseline


def chart_days(
    now: datetime, since: str | None, until: str | None, most: int
) -> tuple[list[str], bool]:
    """The UTC days a daily chart of the window [since, until) shows: at most the last
    ``most`` of them, and none after ``now``. Also whether the window starts earlier."""
    end = now
    try:
        if until:
            end = min(end, parse_rfc3339(until) - timedelta(milliseconds=1))
        first = end.date() - timedelta(days=most - 1)
    except OverflowError:  # a window that ends at the start of time has no days
        return [], False
    start = parse_rfc3339(since).date() if since else None
    clipped = start is None or start < first
    if start is not None:
        first = max(first, start)
    days = [(first + timedelta(days=i)).isoformat() for i in range((end.date() - first).days + 1)]
    return days, clipped


def stacked_day_chart(
    days: Sequence[str],
    counts: Mapping[str, Mapping[str, int]],
    width: int = 720,
    height: int = 260,
) -> Chart:
    """One bar per day, stacked by action in severity order, with a labelled y axis."""
    left, right, top, bottom = 40, 10, 10, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max((sum(counts.get(d, {}).values()) for d in days), default=0) or 1
    slot = plot_w / max(len(days), 1)
    bar_w = max(slot * 0.8, 1.0)
    bars, labels = [], []
    for i, d in enumerate(days):
        x = left + i * slot + (slot - bar_w) / 2
        y: float = top + plot_h
        for action in ACTIONS:
            n = counts.get(d, {}).get(action, 0)
            if not n:
                continue
            h = plot_h * n / peak
            y -= h
            bars.append(
                Bar(
                    round(x, 2),
                    round(y, 2),
                    round(bar_w, 2),
                    round(h, 2),
                    f"a-{action}",
                    f"{d}: {n} {action_words(action).lower()}",
                )
            )
    step = max(1, round(len(days) / 6))
    for i in range(0, len(days), step):
        labels.append(
            Label(round(left + i * slot + slot / 2, 2), height - bottom + 16, days[i][5:], "middle")
        )
    for value in sorted({0, peak // 2, peak}):
        labels.append(
            Label(left - 6, round(top + plot_h - plot_h * value / peak + 4, 2), str(value), "end")
        )
    return Chart(
        width, height, tuple(bars), tuple(labels), (left, top + plot_h, width - right, top + plot_h)
    )


def horizontal_bars(
    items: Sequence[tuple[str, float, str]],
    peak: float | None = None,
    width: int = 720,
    css: str = "bar",
) -> Chart:
    """One labelled bar per item: (label, value, text shown after the bar)."""
    row, left, right = 28, 170, 150
    plot_w = width - left - right
    top = max((v for _, v, _ in items), default=0) if peak is None else peak
    top = top or 1
    bars, labels = [], []
    for i, (label, value, text) in enumerate(items):
        y = 6 + i * row
        w = plot_w * max(0.0, value) / top
        bars.append(Bar(left, y, round(max(w, 1.0), 2), row - 10, css, f"{label}: {text}"))
        labels.append(Label(left - 8, y + row / 2, label[:24], "end"))
        labels.append(Label(round(left + max(w, 1.0) + 6, 2), y + row / 2, text))
    height = 12 + len(items) * row
    return Chart(width, height, tuple(bars), tuple(labels), (left, 2, left, height - 2))


def describe_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"
