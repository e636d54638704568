"""Request and response schemas (marshmallow), one per shape on the wire."""

from __future__ import annotations

from marshmallow import (
    RAISE,
    Schema,
    ValidationError,
    fields,
    validate,
    validates,
    validates_schema,
)

from policies.language import canonical_tag
from service.domain.appeals import MAX_RATIONALE, MAX_STATEMENT, OUTCOMES
from service.http.body import text_problem

ACTION_NAMES = (
    "allow",
    "label",
    "reduce_visibility",
    "hold_for_review",
    "remove",
    "restrict_account",
    "suspend_account",
)


class StrictSchema(Schema):
    class Meta:
        unknown = RAISE


def _checked_string(value: str) -> None:
    reason = text_problem(value)
    if reason:
        raise ValidationError(f"Value {reason}.")


class ModerationItemSchema(StrictSchema):
    text = fields.String(required=True)
    subject = fields.String(required=True, validate=validate.Length(min=1, max=256))
    content_ref = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(min=1, max=256)
    )
    policy = fields.String(load_default=None, validate=validate.Length(min=1, max=64))
    language = fields.String(load_default=None)

    @validates("text")
    def _text(self, value: str, **_: object) -> None:
        _checked_string(value)
        if not value.strip():
            raise ValidationError("Text must not be empty.")

    @validates("subject")
    def _subject(self, value: str, **_: object) -> None:
        _checked_string(value)

    @validates("content_ref")
    def _content_ref(self, value: str | None, **_: object) -> None:
        if value is not None:
            _checked_string(value)

    @validates("language")
    def _language(self, value: str | None, **_: object) -> None:
        if value is not None:
            try:
                canonical_tag(value)
            except ValueError as exc:
                raise ValidationError(f"{str(exc)[0].upper()}{str(exc)[1:]}.") from None


class ModerationBatchSchema(StrictSchema):
    items = fields.List(
        fields.Nested(ModerationItemSchema),
        required=True,
        validate=validate.Length(min=1, max=1000),
    )


class PolicyRefSchema(Schema):
    id = fields.String(required=True)
    version = fields.String(required=True)


class ClassifierRefSchema(Schema):
    name = fields.String(required=True)
    version = fields.String(required=True)


class MatchedRuleSchema(Schema):
    id = fields.String(required=True)
    action = fields.String(required=True)
    notice = fields.String(required=True)
    labels = fields.List(fields.String(), required=True)
    spans = fields.List(fields.List(fields.Integer()), required=True)


class StrikeSchema(Schema):
    weight = fields.Integer(required=True)
    expires_at = fields.String(required=True)


class EscalationSchema(Schema):
    active_strikes = fields.Integer(required=True)
    threshold = fields.Integer(required=True)
    action = fields.String(required=True)
    ends_at = fields.String(allow_none=True)


class LanguageSchema(Schema):
    tag = fields.String(required=True)
    source = fields.String(required=True, validate=validate.OneOf(("stated", "detected")))
    detector = fields.String()


class DecisionSchema(Schema):
    """The decision as the public log holds it: dumping it must not add or drop a key."""

    kind = fields.String(required=True)
    id = fields.String(required=True)
    time = fields.String(required=True)
    app = fields.String(required=True)
    subject = fields.String(required=True)
    content = fields.String(required=True)
    # Automated decisions made before languages were recorded have none.
    language = fields.Nested(LanguageSchema)
    policy = fields.Nested(PolicyRefSchema, required=True)
    classifier = fields.Nested(ClassifierRefSchema, required=True)
    scores = fields.Dict(keys=fields.String(), values=fields.Float(), required=True)
    rules = fields.List(fields.Nested(MatchedRuleSchema), required=True)
    action = fields.String(required=True, validate=validate.OneOf(ACTION_NAMES))
    content_action = fields.String(required=True, validate=validate.OneOf(ACTION_NAMES))
    automated = fields.Boolean(required=True)
    notice = fields.String(allow_none=True, required=True)
    # ``{"commitment": "sha256:…"}`` or null; older entries hold the excerpt text itself.
    excerpt = fields.Raw(allow_none=True, required=True)
    strike = fields.Nested(StrikeSchema, allow_none=True, required=True)
    escalation = fields.Nested(EscalationSchema, allow_none=True, required=True)


class HexBytes(fields.Field):
    """Bytes as lowercase hex; None stays null."""

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else bytes(value).hex()


class ReceiptSchema(Schema):
    """A ``service.domain.receipts.Receipt``. Public receipts (``PUBLIC_RECEIPT``) leave
    out ``content_salt``, which only the decision's author receives."""

    index = fields.Integer(required=True)
    leaf_hash = HexBytes(required=True)
    tree_size = fields.Integer(required=True)
    inclusion_proof = fields.List(HexBytes(), required=True)
    checkpoint = fields.String(required=True)
    content_salt = HexBytes(allow_none=True)


PUBLIC_RECEIPT = ("content_salt",)


class AppealOfferSchema(Schema):
    url = fields.String(required=True)
    token = fields.String(required=True)
    deadline = fields.String(required=True)


class ModerationResultSchema(Schema):
    # The decision is passed through untouched: it must stay byte-for-byte the body whose
    # canonical form was hashed. ``DecisionSchema`` documents and checks its shape.
    decision = fields.Dict(required=True)
    receipt = fields.Nested(ReceiptSchema, required=True)
    # Secret, for the author only: never part of the logged decision.
    appeal = fields.Nested(AppealOfferSchema, allow_none=True, required=True)


class PolicySummarySchema(Schema):
    id = fields.String(required=True)
    title = fields.String(required=True)
    summary = fields.String(required=True)
    version = fields.String(required=True)
    classifier = fields.String(required=True)
    public_excerpt = fields.String(required=True)


class PolicyListSchema(Schema):
    policies = fields.List(fields.Nested(PolicySummarySchema), required=True)


class PolicyRuleSchema(Schema):
    id = fields.String(required=True)
    title = fields.String(required=True)
    description = fields.String(allow_none=True)
    action = fields.String(required=True)
    notice = fields.String(required=True)
    translations = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    strike = fields.Dict(allow_none=True)
    examples = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))


class PolicyVersionSchema(Schema):
    version = fields.String(required=True)
    published_at = fields.String(required=True)
    log_index = fields.Integer(required=True)


class PolicyDetailSchema(PolicySummarySchema):
    language = fields.String(required=True)
    rules = fields.List(fields.Nested(PolicyRuleSchema), required=True)
    escalation = fields.List(fields.Dict(), required=True)
    appeals = fields.Dict(required=True)
    versions = fields.List(fields.Nested(PolicyVersionSchema), required=True)


class LogEntrySchema(Schema):
    index = fields.Integer(required=True)
    leaf_hash = fields.String(required=True)
    entry = fields.Dict(required=True)


class EntryPageSchema(Schema):
    entries = fields.List(fields.Nested(LogEntrySchema), required=True)
    next_cursor = fields.String(allow_none=True, required=True)
    tree_size = fields.Integer(required=True)


class InclusionProofSchema(Schema):
    index = fields.Integer(required=True)
    size = fields.Integer(required=True)
    root = fields.String(required=True)
    proof = fields.List(fields.String(), required=True)


class ConsistencyProofSchema(Schema):
    from_ = fields.Integer(required=True, data_key="from")
    to = fields.Integer(required=True)
    proof = fields.List(fields.String(), required=True)


class CheckpointSchema(Schema):
    size = fields.Integer(required=True)
    note = fields.String(required=True)
    created_at = fields.String(required=True)


class CheckpointListSchema(Schema):
    checkpoints = fields.List(fields.Nested(CheckpointSchema), required=True)
    next_after = fields.Integer(allow_none=True, required=True)


class LogKeySchema(Schema):
    verifier_key = fields.String(required=True)
    name = fields.String(required=True)
    key_id = fields.String(required=True)
    valid_from = fields.String(allow_none=True, required=True)
    signs_until = fields.String(allow_none=True, required=True)
    log_index = fields.Integer(allow_none=True, required=True)
    status = fields.String(required=True)


class LogKeyListSchema(Schema):
    origin = fields.String(required=True)
    keys = fields.List(fields.Nested(LogKeySchema), required=True)


class PublishedExcerptSchema(Schema):
    text = fields.String(allow_none=True, required=True)
    salt = fields.String(allow_none=True, required=True)
    erased_at = fields.String(allow_none=True, required=True)


class DecisionViewSchema(Schema):
    entry = fields.Dict(required=True)
    excerpt = fields.Nested(PublishedExcerptSchema, allow_none=True, required=True)
    receipt = fields.Nested(ReceiptSchema, exclude=PUBLIC_RECEIPT, required=True)
    related = fields.List(fields.Nested(LogEntrySchema), required=True)


class StrikeViewSchema(Schema):
    decision_id = fields.String(required=True)
    policy = fields.String(required=True)
    rules = fields.List(fields.String(), required=True)
    weight = fields.Integer(required=True)
    issued_at = fields.String(required=True)
    expires_at = fields.String(required=True)


class RestrictionViewSchema(Schema):
    decision_id = fields.String(required=True)
    policy = fields.String(required=True)
    action = fields.String(required=True)
    starts_at = fields.String(required=True)
    ends_at = fields.String(required=True)


class SubjectSchema(Schema):
    subject = fields.String(required=True)
    as_of = fields.String(required=True)
    active_restrictions = fields.List(fields.Nested(RestrictionViewSchema), required=True)
    active_strikes = fields.List(fields.Nested(StrikeViewSchema), required=True)
    entries = fields.List(fields.Nested(LogEntrySchema), required=True)


# --- appeals, human decisions, transparency, webhooks ---------------------------------

DECISION_ID = r"^dec_[0-9A-HJKMNP-TV-Z]{26}$"


def _checked_text(value: str, what: str) -> None:
    _checked_string(value)
    if not value.strip():
        raise ValidationError(f"{what} must not be empty.")


class AppealRequestSchema(StrictSchema):
    decision_id = fields.String(required=True, validate=validate.Regexp(DECISION_ID))
    statement = fields.String(required=True, validate=validate.Length(min=1, max=MAX_STATEMENT))
    token = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(min=1, max=256)
    )

    @validates("statement")
    def _statement(self, value: str, **_: object) -> None:
        _checked_text(value, "The statement")

    @validates("token")
    def _token(self, value: str | None, **_: object) -> None:
        if value is not None:
            _checked_string(value)


class AppealFiledSchema(Schema):
    id = fields.String(required=True)
    decision_id = fields.String(required=True)
    status = fields.String(required=True)
    filed_at = fields.String(required=True)
    decide_by = fields.String(required=True)
    filed_by = fields.String(required=True)


class ResolutionRequestSchema(StrictSchema):
    outcome = fields.String(required=True, validate=validate.OneOf(OUTCOMES))
    action = fields.String(
        load_default=None, allow_none=True, validate=validate.OneOf(ACTION_NAMES)
    )
    rationale = fields.String(required=True, validate=validate.Length(min=1, max=MAX_RATIONALE))

    @validates("rationale")
    def _rationale(self, value: str, **_: object) -> None:
        _checked_text(value, "The rationale")

    @validates_schema
    def _action_iff_modified(self, data: dict, **_: object) -> None:
        if data.get("outcome") == "modified" and data.get("action") is None:
            raise ValidationError("A modified outcome needs the new action.", "action")
        if data.get("outcome") in ("upheld", "overturned") and data.get("action") is not None:
            raise ValidationError("Only a modified outcome takes an action.", "action")


class ResolutionResultSchema(Schema):
    resolution = fields.Dict(required=True)
    reversal = fields.Dict(allow_none=True, required=True)
    receipt = fields.Nested(ReceiptSchema, exclude=PUBLIC_RECEIPT, required=True)


class AppealViewSchema(Schema):
    id = fields.String(required=True)
    decision_id = fields.String(required=True)
    app = fields.String(required=True)
    subject = fields.String(required=True)
    policy = fields.Nested(PolicyRefSchema, required=True)
    status = fields.String(required=True)
    filed_at = fields.String(required=True)
    filed_by = fields.String(required=True)
    decide_by = fields.String(required=True)
    overdue = fields.Boolean(required=True)
    outcome = fields.String(allow_none=True, required=True)
    rationale = fields.String(allow_none=True, required=True)
    resolved_at = fields.String(allow_none=True, required=True)
    resolution_id = fields.String(allow_none=True, required=True)
    reversal_id = fields.String(allow_none=True, required=True)
    action = fields.String(allow_none=True, required=True)


class ReviewerAppealSchema(Schema):
    id = fields.String(required=True)
    decision_id = fields.String(required=True)
    status = fields.String(required=True)
    filed_at = fields.String(required=True)
    decide_by = fields.String(required=True)
    overdue = fields.Boolean(required=True)
    filed_by = fields.String(required=True)
    subject = fields.String(required=True)
    policy = fields.String(required=True)
    statement = fields.String(allow_none=True, required=True)
    outcome = fields.String(allow_none=True, required=True)
    resolved_at = fields.String(allow_none=True, required=True)


class AppealListSchema(Schema):
    appeals = fields.List(fields.Nested(ReviewerAppealSchema), required=True)
    next_cursor = fields.String(allow_none=True, required=True)


class HumanDecisionRequestSchema(StrictSchema):
    subject = fields.String(required=True, validate=validate.Length(min=1, max=256))
    policy = fields.String(required=True, validate=validate.Length(min=1, max=64))
    rule = fields.String(required=True, validate=validate.Length(min=1, max=64))
    action = fields.String(
        load_default=None, allow_none=True, validate=validate.OneOf(ACTION_NAMES)
    )
    content_ref = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(min=1, max=256)
    )
    text = fields.String(load_default=None, allow_none=True)
    notice = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(min=1, max=5000)
    )

    @validates("subject", "policy", "rule", "content_ref")
    def _plain(self, value: str | None, **_: object) -> None:
        if value is not None:
            _checked_string(value)

    @validates("text")
    def _text(self, value: str | None, **_: object) -> None:
        if value is not None:
            _checked_text(value, "Text")

    @validates("notice")
    def _notice(self, value: str | None, **_: object) -> None:
        if value is not None:
            _checked_text(value, "The notice")


class TimeToResolutionSchema(Schema):
    count = fields.Integer(required=True)
    median = fields.Float(allow_none=True, required=True)
    p90 = fields.Float(allow_none=True, required=True)


class RuleOverturnSchema(Schema):
    resolved = fields.Integer(required=True)
    overturned = fields.Integer(required=True)
    modified = fields.Integer(required=True)
    overturn_rate = fields.Float(required=True)


class TransparencyDecisionsSchema(Schema):
    total = fields.Integer(required=True)
    by_action = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    by_rule = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    by_app = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    automated = fields.Integer(required=True)
    human = fields.Integer(required=True)


class TransparencyAppealsSchema(Schema):
    filed = fields.Integer(required=True)
    resolved = fields.Integer(required=True)
    upheld = fields.Integer(required=True)
    overturned = fields.Integer(required=True)
    modified = fields.Integer(required=True)
    open = fields.Integer(required=True)
    overdue = fields.Integer(required=True)
    overdue_ids = fields.List(fields.String(), required=True)
    overturn_rate_by_rule = fields.Dict(
        keys=fields.String(), values=fields.Nested(RuleOverturnSchema), required=True
    )
    time_to_resolution_seconds = fields.Nested(TimeToResolutionSchema, required=True)


class WindowSchema(Schema):
    since = fields.String(allow_none=True, required=True)
    until = fields.String(allow_none=True, required=True)


class TransparencySchema(Schema):
    window = fields.Nested(WindowSchema, required=True)
    as_of = fields.String(required=True)
    decisions = fields.Nested(TransparencyDecisionsSchema, required=True)
    appeals = fields.Nested(TransparencyAppealsSchema, required=True)
    reversals = fields.Integer(required=True)


class WebhookRequestSchema(StrictSchema):
    url = fields.String(required=True, validate=validate.Length(min=1, max=2048))


class WebhookSchema(Schema):
    id = fields.String(required=True)
    url = fields.String(required=True)
    created_at = fields.String(required=True)


class WebhookCreatedSchema(WebhookSchema):
    # Shown at registration only.
    secret = fields.String(required=True)


class WebhookListSchema(Schema):
    webhooks = fields.List(fields.Nested(WebhookSchema), required=True)


class DeliverySchema(Schema):
    id = fields.String(required=True)
    webhook_id = fields.String(required=True)
    url = fields.String(required=True)
    event_id = fields.String(required=True)
    event_type = fields.String(required=True)
    status = fields.String(required=True)
    attempts = fields.Integer(required=True)
    last_status = fields.Integer(allow_none=True, required=True)
    last_error = fields.String(allow_none=True, required=True)
    next_attempt_at = fields.String(allow_none=True, required=True)
    created_at = fields.String(required=True)
    delivered_at = fields.String(allow_none=True, required=True)


class DeliveryListSchema(Schema):
    deliveries = fields.List(fields.Nested(DeliverySchema), required=True)


# --- Perspective-compatible API (comments:analyze) ----------------------------------------


class PerspectiveTextSchema(StrictSchema):
    text = fields.String(required=True)
    type = fields.String(load_default="PLAIN_TEXT", validate=validate.OneOf(["PLAIN_TEXT"]))

    @validates("text")
    def _text(self, value: str, **_: object) -> None:
        _checked_string(value)
        if not value.strip():
            raise ValidationError("Text must not be empty.")


class PerspectiveContextSchema(StrictSchema):
    entries = fields.List(fields.Nested(PerspectiveTextSchema), validate=validate.Length(max=20))
    article_and_parent_comment = fields.Dict(data_key="articleAndParentComment")


class PerspectiveAttributeRequestSchema(StrictSchema):
    score_type = fields.String(validate=validate.OneOf(["PROBABILITY"]), data_key="scoreType")
    score_threshold = fields.Float(validate=validate.Range(min=0, max=1), data_key="scoreThreshold")


class PerspectiveAnalyzeRequestSchema(StrictSchema):
    comment = fields.Nested(PerspectiveTextSchema, required=True)
    requested_attributes = fields.Dict(
        data_key="requestedAttributes",
        keys=fields.String(validate=validate.Length(min=1, max=64)),
        values=fields.Nested(PerspectiveAttributeRequestSchema),
        required=True,
        validate=validate.Length(min=1, max=32),
    )
    languages = fields.List(
        fields.String(validate=validate.Length(min=1, max=35)), validate=validate.Length(max=8)
    )
    do_not_store = fields.Boolean(load_default=False, data_key="doNotStore")
    span_annotations = fields.Boolean(load_default=False, data_key="spanAnnotations")
    client_token = fields.String(validate=validate.Length(max=256), data_key="clientToken")
    session_id = fields.String(validate=validate.Length(min=1, max=256), data_key="sessionId")
    community_id = fields.String(validate=validate.Length(max=256), data_key="communityId")
    context = fields.Nested(PerspectiveContextSchema)

    @validates("session_id")
    def _session(self, value: str, **_: object) -> None:
        _checked_string(value)


class PerspectiveScoreSchema(Schema):
    value = fields.Float(required=True)
    type = fields.String(required=True)


class PerspectiveSpanScoreSchema(Schema):
    begin = fields.Integer(required=True)
    end = fields.Integer(required=True)
    score = fields.Nested(PerspectiveScoreSchema, required=True)


class PerspectiveAttributeScoresSchema(Schema):
    summary_score = fields.Nested(PerspectiveScoreSchema, data_key="summaryScore")
    span_scores = fields.List(fields.Nested(PerspectiveSpanScoreSchema), data_key="spanScores")


class EmulatedDecisionSchema(Schema):
    """The decision an emulated call made, where it is in the log, and its appeal."""

    id = fields.String(required=True)
    action = fields.String(required=True)
    url = fields.String(required=True)
    log_index = fields.Integer(required=True)
    leaf_hash = fields.String(required=True)
    content_salt = fields.String(required=True)
    content_stored = fields.Boolean(required=True)
    appeal = fields.Nested(AppealOfferSchema, allow_none=True, required=True)


class PerspectiveAnalyzeResponseSchema(Schema):
    attribute_scores = fields.Dict(
        data_key="attributeScores",
        keys=fields.String(),
        values=fields.Nested(PerspectiveAttributeScoresSchema),
    )
    languages = fields.List(fields.String())
    client_token = fields.String(data_key="clientToken")
    decision = fields.Nested(EmulatedDecisionSchema, required=True)


# --- OpenAI-compatible API (moderations) ---------------------------------------------------


class OpenAIModerationRequestSchema(StrictSchema):
    """``input`` is checked by the view: a string, a list of strings, or a list of
    content parts, which marshmallow has no one field for."""

    input = fields.Raw(required=True)
    model = fields.String(load_default=None, validate=validate.Length(min=1, max=128))
    # Not in OpenAI's schema: who wrote the texts, so strikes and appeals reach them.
    user = fields.String(load_default=None, validate=validate.Length(min=1, max=256))

    @validates("user")
    def _user(self, value: str | None, **_: object) -> None:
        if value is not None:
            _checked_string(value)


class OpenAIModerationResultSchema(Schema):
    flagged = fields.Boolean(required=True)
    categories = fields.Dict(keys=fields.String(), values=fields.Boolean(), required=True)
    category_scores = fields.Dict(keys=fields.String(), values=fields.Float(), required=True)
    category_applied_input_types = fields.Dict(
        keys=fields.String(), values=fields.List(fields.String()), required=True
    )
    decision = fields.Nested(EmulatedDecisionSchema, required=True)


class OpenAIModerationResponseSchema(Schema):
    id = fields.String(required=True)
    model = fields.String(required=True)
    results = fields.List(fields.Nested(OpenAIModerationResultSchema), required=True)
