"""The public web pages: what was decided, under which rules, and how to check the log.

Each page is the HTML face of a JSON route and renders the very value that route
answers (``service.http.lookups.decision`` for ``/decisions/{id}`` and
``GET /v1/decisions/{id}``, and so on), so the two cannot drift apart; everything else a
page shows comes from ``service.domain.reads``. The log's filters are parsed by
``service.http.params.parse_log_query``, as for ``GET /v1/log/entries``. Read-only but for
one form: the appeal form files through ``POST /v1/appeals``'s own path
(``service.http.appeal_filing``), so its checks and limits are the API's; nothing else
here opens a write transaction.
"""

from __future__ import annotations

import re

from flask import Blueprint, Response, redirect, render_template, request, url_for

from audit_log.store import head, latest_checkpoint
from service.domain.appeals import APPEAL_ID, MAX_STATEMENT
from service.domain.log_query import DEFAULT_LIMIT
from service.domain.reads.decisions import ENTRY_ID, SUBJECT
from service.domain.reads.entries import appeal_entries, decisions_per_day, entry_view, known_apps
from service.domain.reads.policies import policy_source
from service.http import appeal_filing, lookups, params
from service.http.export import NDJSON, export_response
from service.http.pages import views
from service.http.problems import Problem, field_error, invalid
from service.http.schemas import DECISION_ID
from service.http.state import current_runtime

bp = Blueprint("web", __name__)

# No inline script or style anywhere: every script and stylesheet is a file under
# /static, so an injected tag that slipped past escaping still could not run.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'; "
    "object-src 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}
VERSION = re.compile(r"sha256:[0-9a-f]{64}")
DECISION = re.compile(DECISION_ID)
FORM = "application/x-www-form-urlencoded"


@bp.after_app_request
def _security_headers(resp: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        resp.headers.setdefault(name, value)
    return resp


# --- pages ---------------------------------------------------------------------------


@bp.get("/")
def home():
    runtime = current_runtime()
    with runtime.engine.connect() as conn:
        latest = latest_checkpoint(conn)
        apps = known_apps(conn, views.MAX_APPS_LISTED)
        schedule = runtime.log.keyring.current_schedule(conn)
    checkpoint = views.checkpoint_view(latest[1]) if latest else None
    return render_template(
        "home.html",
        checkpoint=checkpoint,
        apps=apps,
        max_apps=views.MAX_APPS_LISTED,
        keys=[k.verifier_key for k in schedule.newest_first()],
        policies=lookups.policy_list()["policies"],
    )


@bp.get("/log")
def log_page():
    query = params.parse_log_query(request.args, default_order="desc")
    with current_runtime().engine.connect() as conn:
        rows, cursor = query.page(conn)
        size, _ = head(conn)
        apps = known_apps(conn, views.MAX_APPS_LISTED)
    args = views.query_args(query)
    more = dict(args)
    if query.limit != DEFAULT_LIMIT:
        more["limit"] = str(query.limit)
    older = url_for("web.log_page", **more, cursor=cursor) if cursor else None
    api_args = {**args, "order": query.order}
    if request.args.get("cursor"):  # already checked by parse_log_query
        api_args["cursor"] = request.args["cursor"]
    return render_template(
        "log.html",
        rows=[views.entry_row(entry_view(r)) for r in rows],
        args=args,
        filtered=bool(args),
        paged=query.after is not None,
        older=older,
        tree_size=size,
        apps=apps,
        policy_ids=sorted(current_runtime().policies.policies),
        kinds=views.KINDS,
        actions=views.ACTIONS,
        json_url=url_for("log.list_entries", **api_args),
        api_url=url_for("log.list_entries", _external=True, **args),
        csv_url=url_for("web.log_csv", **args),
        ndjson_url=url_for("web.log_ndjson", **args),
    )


@bp.get("/log/export.csv")
def log_csv():
    return export_response(params.parse_log_query(request.args), "text/csv")


@bp.get("/log/export.ndjson")
def log_ndjson():
    return export_response(params.parse_log_query(request.args), NDJSON)


@bp.get("/decisions/<decision_id>")
def decision_page(decision_id: str):
    view = lookups.decision(decision_id)
    entry = view["entry"]
    published = view["excerpt"]
    # Older entries hold the excerpt inline; newer ones commit to one served beside them.
    excerpt = entry["excerpt"] if isinstance(entry["excerpt"], str) else None
    if published is not None:
        excerpt = published["text"]
    policy = entry["policy"]
    with current_runtime().engine.connect() as conn:
        source = policy_source(conn, policy["id"], policy["version"])
    texts = views.rule_texts(policy["version"], source)
    rules = []
    for rule in entry["rules"]:
        text = texts.get(rule["id"], {})
        segments = views.excerpt_segments(excerpt, rule["spans"]) if excerpt is not None else None
        rules.append(
            {
                **rule,
                "title": text.get("title"),
                "description": text.get("description"),
                "segments": segments,
            }
        )
    receipt = view["receipt"]
    return render_template(
        "decision.html",
        entry=entry,
        excerpt=excerpt,
        excerpt_erased_at=published["erased_at"] if published is not None else None,
        rules=rules,
        receipt=receipt,
        related=[views.entry_row(r) for r in view["related"]],
        checkpoint=views.checkpoint_view(receipt["checkpoint"]),
        policy_known=policy["id"] in current_runtime().policies.policies,
    )


@bp.get("/policies")
def policies_page():
    return render_template("policies.html", policies=lookups.policy_list()["policies"])


@bp.get("/policies/<policy_id>")
def policy_page(policy_id: str):
    detail = lookups.policy_detail(policy_id)
    old, new = (
        params.matching(request.args, name, VERSION, "A policy version, sha256:<64 hex>.")
        for name in ("from", "to")
    )
    diff = None
    if old or new:
        if not (old and new):
            missing = "to" if old else "from"
            raise Problem(
                400,
                "bad-parameter",
                "A diff needs both from and to versions.",
                [field_error(f"#/query/{missing}", "Required with the other.")],
            )
        with current_runtime().engine.connect() as conn:
            sources = {v: policy_source(conn, policy_id, v) for v in (old, new)}
        published = {v: source for v, source in sources.items() if source is not None}
        for name, version in (("from", old), ("to", new)):
            if version not in published:
                raise Problem(
                    404,
                    "not-found",
                    f"No published version {version} of {policy_id}.",
                    [field_error(f"#/query/{name}", "Not a published version.")],
                )
        diff = views.policy_diff(published[old], published[new], old, new)
    return render_template(
        "policy.html",
        policy=detail,
        diff=diff,
        diff_from=old,
        diff_to=new,
        describe=views.describe_duration,
    )


@bp.get("/subjects/<subject>")
def subject_page(subject: str):
    standing = lookups.subject(subject)
    return render_template(
        "subject.html", standing=standing, entries=[views.entry_row(e) for e in standing["entries"]]
    )


@bp.get("/appeals/<appeal_id>")
def appeal_page(appeal_id: str):
    appeal = lookups.appeal(appeal_id)
    with current_runtime().engine.connect() as conn:
        entries = appeal_entries(conn, appeal["id"], appeal["reversal_id"])
    return render_template(
        "appeal.html", appeal=appeal, entries=[views.entry_row(e) for e in entries]
    )


# The appeal form. The link handed to authors names only the decision, which is public;
# the token that proves authorship is typed or pasted into the form and travels only in
# the POST body, so the link can be shared, logged or kept in a browser's history without
# giving anyone the right to appeal. There are no cookies and no sessions: a cross-site
# form could file an appeal only with a token it already holds, so there is nothing for
# a CSRF token to protect.


@bp.get("/appeals/new")
def new_appeal_page():
    value = request.args.get("decision", "")
    if not DECISION.fullmatch(value):
        raise Problem(
            400,
            "bad-parameter",
            "decision must be a decision id, dec_ followed by 26 characters: open the "
            "appeal link from your notice again.",
            [field_error("#/query/decision", "Not a decision id.")],
        )
    return _appeal_form(value)


@bp.post("/appeals/new")
def file_appeal_page():
    fields = _form_fields()
    decision_id = fields.get("decision_id", "")
    if not DECISION.fullmatch(decision_id):
        raise invalid(
            [field_error("#/decision_id", "Not a decision id.")],
            "The form does not name a decision: open the appeal link from your notice again.",
        )
    kept = {"statement": fields.get("statement", ""), "token": fields.get("token", "")}
    try:
        if not kept["token"].strip():
            # The API answers 401 here; a person needs to be told which field is empty.
            raise invalid(
                [field_error("#/token", "Paste the appeal token from your notice.")],
                "The appeal token is missing.",
            )
        filed = appeal_filing.file_as(appeal_filing.load_request(fields), key=None)
    except Problem as problem:
        if problem.status == 403 or problem.status == 429:
            kept["token"] = ""
        return _appeal_form(decision_id, problem, kept)
    return redirect(url_for("web.appeal_page", appeal_id=filed.body["id"]), code=303)


def _form_fields() -> dict[str, str]:
    """The posted form, one value per field: 415 for another encoding, 400 for a field
    sent more than once (which value counts would be a guess)."""
    if request.mimetype != FORM:
        raise Problem(415, "unsupported-media-type", f"Send the form as {FORM}.")
    form = request.form
    repeated = [name for name in form if len(form.getlist(name)) > 1]
    if repeated:
        raise Problem(
            400,
            "malformed-request",
            "A form field was sent more than once.",
            [field_error(f"#/{name}", "Sent more than once.") for name in repeated],
        )
    return form.to_dict()


def _appeal_form(
    decision_id: str, problem: Problem | None = None, kept: dict[str, str] | None = None
) -> Response:
    """The appeal form for ``decision_id`` (404 when there is no such decision), showing
    ``problem`` with its status and the values the author had ``kept``."""
    view = lookups.decision(decision_id)
    entry = view["entry"]
    html = render_template(
        "appeal_new.html",
        entry=entry,
        earlier=[
            views.entry_row(r) for r in view["related"] if r["entry"]["kind"] == "appeal_filed"
        ],
        policy_known=entry["policy"]["id"] in current_runtime().policies.policies,
        problem=problem,
        field_errors=views.errors_by_field(problem.errors) if problem else {},
        kept=kept or {},
        max_statement=MAX_STATEMENT,
    )
    resp = Response(html, status=problem.status if problem else 200, mimetype="text/html")
    if problem is not None and "Retry-After" in problem.headers:
        resp.headers["Retry-After"] = problem.headers["Retry-After"]
    # The page may hold the token the author typed: never keep it in a cache.
    resp.headers["Cache-Control"] = "no-store"
    return resp


CHART_DAYS = 60
CHART_MIN_DAYS = 14


@bp.get("/transparency")
def transparency_page():
    report = lookups.transparency()
    # The window as the JSON view parsed it (``service.http.params.time``): fixed-width UTC
    # that always parses back.
    window = {k: v for k, v in report["window"].items() if v}
    days, clipped = views.chart_days(
        current_runtime().clock(), window.get("since"), window.get("until"), CHART_DAYS
    )
    counts = {}
    if days:
        since, until = report["window"]["since"], report["window"]["until"]
        with current_runtime().engine.connect() as conn:
            counts = decisions_per_day(conn, max(since or "", days[0]), until or "9999")
        # Start at the first day with a decision, but show at least two weeks.
        while len(days) > CHART_MIN_DAYS and days[0] not in counts:
            days.pop(0)
    rates = report["appeals"]["overturn_rate_by_rule"]
    timing = report["appeals"]["time_to_resolution_seconds"]
    return render_template(
        "transparency.html",
        report=report,
        days=days,
        chart_days=CHART_DAYS,
        clipped=clipped,
        per_day=views.stacked_day_chart(days, counts) if days else None,
        actions_seen=[a for a in views.ACTIONS if any(a in c for c in counts.values())],
        overturn=views.horizontal_bars(
            [
                (
                    rule,
                    r["overturn_rate"],
                    f"{r['overturn_rate']:.0%} ({r['overturned']} of {r['resolved']})",
                )
                for rule, r in rates.items()
            ],
            peak=1.0,
        )
        if rates
        else None,
        timing=views.horizontal_bars(
            [
                (name, timing[key], views.describe_seconds(timing[key]))
                for name, key in (("median", "median"), ("90th percentile", "p90"))
                if timing[key] is not None
            ]
        )
        if timing["count"]
        else None,
        json_url=url_for("transparency.get_transparency", **window),
    )


@bp.app_template_filter("action_words")
def _action_words(action):
    return views.action_words(action)


@bp.app_template_filter("kind_words")
def _kind_words(kind):
    return views.kind_words(kind)


@bp.app_template_filter("when")
def _when(value):
    """An RFC 3339 time as "2026-11-24 07:34 UTC" (the full value stays in datetime=)."""
    if not isinstance(value, str) or len(value) < 16:
        return value or ""
    return f"{value[:10]} {value[11:16]} UTC"


@bp.app_template_global()
def subject_link(subject):
    return (
        url_for("web.subject_page", subject=subject)
        if isinstance(subject, str) and SUBJECT.fullmatch(subject)
        else None
    )


@bp.app_template_global()
def nav_links() -> list[tuple[str, str]]:
    return [
        ("web.log_page", "Log"),
        ("web.policies_page", "Policies"),
        ("web.transparency_page", "Transparency"),
    ]


def _page_of(entry_id: str | None) -> str | None:
    if not isinstance(entry_id, str):
        return None
    if entry_id.startswith("dec_") and ENTRY_ID.fullmatch(entry_id):
        return url_for("web.decision_page", decision_id=entry_id)
    if APPEAL_ID.fullmatch(entry_id):
        return url_for("web.appeal_page", appeal_id=entry_id)
    return None


@bp.app_template_global()
def entry_link(row: views.EntryRow) -> str | None:
    """The page of an entry, for the kinds that have one (decisions and appeals)."""
    return _page_of(row.id) if row.kind in ("decision", "appeal_filed") else None


@bp.app_template_global()
def ref_link(ref: str | None) -> str | None:
    """The page of the entry another entry refers to."""
    return _page_of(ref)
