"""Filing an appeal over HTTP: the one path of ``POST /v1/appeals`` and the appeal form.

Both file through ``file_as``, so the form's checks, limits and answers are the API's.
"""

from __future__ import annotations

from typing import Any

from service.domain import appeals as use_cases
from service.http.body import load_object
from service.http.identity import unauthenticated
from service.http.problems import Problem, field_error
from service.http.ratelimits import client_address, limits_of
from service.http.schemas import AppealRequestSchema
from service.http.state import current_runtime
from service.storage.keys import ApiKey

_request = AppealRequestSchema()


def load_request(payload: Any) -> dict:
    """An ``AppealRequest`` body, checked: 422 naming the fields at fault."""
    return load_object(_request, payload)


def appeal_problem(err: use_cases.AppealError) -> Problem:
    """An appeal refused by the rules on appealing, as the API answers it."""
    status, slug = {
        use_cases.NotFound: (404, "not-found"),
        use_cases.Forbidden: (403, "forbidden"),
        use_cases.Conflict: (409, "conflict"),
        use_cases.Invalid: (422, "invalid-request"),
    }[type(err)]
    errors = [field_error(err.pointer, err.detail)] if err.pointer else []
    return Problem(status, slug, err.detail, errors)


def file_as(loaded: dict, key: ApiKey | None) -> use_cases.FiledAppeal:
    """File the appeal ``loaded`` (an ``AppealRequest``) asks for, with ``key`` if the
    request carried a client key: the one path of the API and the appeal page.

    Without a key the token is checked first, in a read that takes no lock. An attempt
    it does not authenticate counts against the client address's budget of refused
    attempts (429 once spent). A genuine token is never counted or limited here, so no
    one but its holder can stand between an author and the rules on appealing, which
    answer for themselves (409).
    """
    runtime = current_runtime()
    if loaded["token"] is None and key is None:
        raise unauthenticated(
            "Send the appeal token from the decision's notice as 'token', or act "
            "for your user with your app's client key."
        )
    if key is None:
        try:
            with runtime.engine.connect() as conn:
                use_cases.authenticate_author(conn, loaded["decision_id"], loaded["token"])
        except use_cases.AppealError as err:
            limits = limits_of()
            limits.hit(
                limits.appeal_failures_per_ip,
                "appeal-failures",
                client_address(),
                "with refused appeal tokens from your address",
            )
            raise appeal_problem(err) from err
    try:
        return use_cases.file_appeal(
            decision_id=loaded["decision_id"],
            statement=loaded["statement"],
            token=loaded["token"],
            key=key,
            log=runtime.log,
            policies=runtime.policies.policies,
            clock=runtime.clock,
        )
    except use_cases.AppealError as err:
        raise appeal_problem(err) from err
