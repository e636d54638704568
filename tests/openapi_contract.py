"""``openapi.yaml`` as data: its operations, the app's routes, and a strict response check.

The response check uses ``jsonschema`` (Draft 2020-12, the dialect of OpenAPI 3.1) on
the very schemas the spec holds, following ``$ref``s through the whole document, so a
test can hold any response to the contract without schemathesis.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml
from flask import Flask
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC_PATH = Path(__file__).resolve().parent.parent / "openapi.yaml"
SPEC_URI = "urn:fairwitness:openapi"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
# Flask adds HEAD to every GET rule and OPTIONS to every rule by itself; they are not
# part of the contract unless a view declares them.
AUTOMATIC_METHODS = frozenset({"HEAD", "OPTIONS"})
_FLASK_VARIABLE = re.compile(r"<(?:[^<>:]+:)?([^<>:]+)>")


@functools.cache
def load_spec() -> dict[str, Any]:
    with SPEC_PATH.open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def documented_operations(spec: Mapping[str, Any]) -> set[tuple[str, str]]:
    """Every (path template, METHOD) the spec documents."""
    return {
        (path, method.upper())
        for path, item in spec.get("paths", {}).items()
        for method in item
        if method in HTTP_METHODS
    }


def flask_path(rule: str) -> str:
    """Flask's ``/v1/policies/<policy_id>`` (or ``<string:policy_id>``) as an OpenAPI
    template, ``/v1/policies/{policy_id}``."""
    return _FLASK_VARIABLE.sub(r"{\1}", rule)


def served_operations(app: Flask) -> set[tuple[str, str]]:
    """Every (path template, METHOD) the app routes, without Flask's ``static`` and the
    automatic HEAD/OPTIONS."""
    served = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.endpoint.endswith(".static"):
            continue
        for method in (rule.methods or set()) - AUTOMATIC_METHODS:
            served.add((flask_path(rule.rule), method))
    return served


def required_roles(spec: Mapping[str, Any], path: str, method: str) -> list[str] | None:
    """The roles of the bearer key an operation needs, or None when it is public."""
    operation = spec["paths"][path][method.lower()]
    requirements = operation.get("security", spec.get("security", []))
    for requirement in requirements:
        if "bearerAuth" in requirement:
            return list(requirement["bearerAuth"])
    return None


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def pointer(*tokens: str) -> str:
    """A JSON Pointer (RFC 6901) to ``tokens``, as a URI fragment."""
    return "#" + "".join("/" + _escape(str(t)) for t in tokens)


def resolve(spec: Mapping[str, Any], node: Any, at: str) -> tuple[Any, str]:
    """Follow local ``$ref``s from ``node`` (found at pointer ``at``) to the object they
    name; returns it and its own pointer."""
    seen = set()
    while isinstance(node, Mapping) and "$ref" in node:
        ref = node["$ref"]
        if not ref.startswith("#/") or ref in seen:
            raise ValueError(f"cannot follow $ref {ref!r} at {at}")
        seen.add(ref)
        node = spec
        for token in ref[2:].split("/"):
            node = node[token.replace("~1", "/").replace("~0", "~")]
        at = ref
    return node, at


@functools.cache
def _registry() -> Registry:
    resource = Resource.from_contents(load_spec(), default_specification=DRAFT202012)
    return Registry().with_resource(SPEC_URI, resource)


def schema_validator(at: str) -> Draft202012Validator:
    """A validator for the schema at pointer ``at`` in the spec, with formats asserted."""
    return Draft202012Validator(
        {"$ref": SPEC_URI + at},
        registry=_registry(),
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )


def _describe(error: Any, depth: int = 0) -> list[str]:
    where = "/".join(map(str, error.absolute_path)) or "(root)"
    message = error.message if len(error.message) <= 300 else error.message[:300] + "…"
    lines = ["  " * depth + f"{where}: {message}"]
    if error.context and depth < 3:
        # oneOf/anyOf: say why each branch failed, not only that all did.
        for sub in sorted(error.context, key=lambda e: (list(e.schema_path)[:1], list(e.path))):
            lines.extend(_describe(sub, depth + 1))
    return lines


def schema_errors(at: str, instance: Any) -> list[str]:
    """Why ``instance`` breaks the schema at ``at`` (empty if it fits); the branches of a
    failed ``oneOf`` are explained on indented lines."""
    errors = sorted(schema_validator(at).iter_errors(instance), key=lambda e: list(e.path))
    return [line for error in errors for line in _describe(error)]


def _coerce_header(value: str, schema: Mapping[str, Any]) -> Any:
    if schema.get("type") == "integer":
        try:
            return int(value)
        except ValueError:
            return value
    return value


def response_problems(
    path: str,
    method: str,
    status: int,
    content_type: str | None,
    headers: Mapping[str, str],
    body: bytes,
) -> list[str]:
    """Everything about a response that the spec does not allow: an undocumented
    status, a missing or invalid required header, an undocumented media type, or a body
    that breaks the documented schema."""
    import json

    spec = load_spec()
    op_at = pointer("paths", path, method.lower())
    operation, _ = resolve(spec, spec["paths"][path][method.lower()], op_at)
    responses = operation["responses"]
    key = next((k for k in (str(status), f"{str(status)[0]}XX", "default") if k in responses), None)
    if key is None:
        return [
            f"status {status} is not documented for {method.upper()} {path} "
            f"(documented: {', '.join(responses)})"
        ]
    response, resp_at = resolve(spec, responses[key], op_at + "/responses/" + _escape(key))

    problems = []
    for name, header in response.get("headers", {}).items():
        header, header_at = resolve(spec, header, resp_at + "/headers/" + _escape(name))
        value = headers.get(name)
        if value is None:
            if header.get("required"):
                problems.append(f"required header {name} is missing")
            continue
        if "schema" in header:
            for error in schema_errors(
                header_at + "/schema", _coerce_header(value, header["schema"])
            ):
                problems.append(f"header {name}: {error}")

    content = response.get("content")
    if not content:
        if body:
            problems.append(f"status {status} documents no body but {len(body)} bytes came")
        return problems
    mimetype = (content_type or "").split(";")[0].strip().lower()
    if mimetype not in content:
        return [
            *problems,
            f"media type {mimetype!r} is not documented for status {status} "
            f"(documented: {', '.join(content)})",
        ]
    media_at = resp_at + "/content/" + _escape(mimetype)
    if "schema" not in content[mimetype]:
        return problems
    if mimetype == "application/json" or mimetype.endswith("+json"):
        try:
            instance = json.loads(body)
        except ValueError as exc:
            return [*problems, f"body is not JSON: {exc}"]
    else:
        try:
            instance = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            return [*problems, f"body is not UTF-8 text: {exc}"]
    problems.extend(schema_errors(media_at + "/schema", instance))
    return problems


def assert_conforms(path: str, method: str, response: Any) -> None:
    """Fail unless a Flask/werkzeug test ``response`` to ``METHOD path`` fits the spec."""
    problems = response_problems(
        path,
        method,
        response.status_code,
        response.content_type,
        response.headers,
        response.get_data(),
    )
    assert not problems, (
        f"{method.upper()} {path} → {response.status_code} breaks openapi.yaml:\n  "
        + "\n  ".join(problems)
        + f"\nbody: {response.get_data()[:2000]!r}"
    )


def iter_examples(spec: Mapping[str, Any]) -> Iterator[tuple[str, str, Any]]:
    """(where, schema pointer, example value) for every example in the spec, each once:
    those beside a schema (media types of request bodies and responses, parameters,
    headers) and the ``examples`` keyword of the component schemas."""
    seen = set()
    for where, at, value in _all_examples(spec):
        if where not in seen:
            seen.add(where)
            yield where, at, value


def _all_examples(spec: Mapping[str, Any]) -> Iterator[tuple[str, str, Any]]:

    def from_holder(holder: Mapping[str, Any], at: str) -> Iterator[tuple[str, str, Any]]:
        if "schema" not in holder:
            return
        if "example" in holder:
            yield at + "/example", at + "/schema", holder["example"]
        for name, example in holder.get("examples", {}).items():
            example, ex_at = resolve(spec, example, at + "/examples/" + _escape(name))
            if "value" in example:
                yield ex_at + "/value", at + "/schema", example["value"]

    def from_content(content: Mapping[str, Any], at: str) -> Iterator[tuple[str, str, Any]]:
        for media_type, media in content.items():
            yield from from_holder(media, at + "/content/" + _escape(media_type))

    def from_response(response: Mapping[str, Any], at: str) -> Iterator[tuple[str, str, Any]]:
        response, at = resolve(spec, response, at)
        yield from from_content(response.get("content", {}), at)
        for name, header in response.get("headers", {}).items():
            header, header_at = resolve(spec, header, at + "/headers/" + _escape(name))
            yield from from_holder(header, header_at)

    for path, item in spec.get("paths", {}).items():
        for method, operation in item.items():
            if method not in HTTP_METHODS:
                continue
            op_at = pointer("paths", path, method)
            for i, param in enumerate(operation.get("parameters", [])):
                param, param_at = resolve(spec, param, f"{op_at}/parameters/{i}")
                yield from from_holder(param, param_at)
            if "requestBody" in operation:
                body, body_at = resolve(spec, operation["requestBody"], op_at + "/requestBody")
                yield from from_content(body.get("content", {}), body_at)
            for status, response in operation.get("responses", {}).items():
                yield from from_response(response, op_at + "/responses/" + _escape(status))
    components = spec.get("components", {})
    for name, response in components.get("responses", {}).items():
        yield from from_response(response, pointer("components", "responses", name))
    for name, header in components.get("headers", {}).items():
        yield from from_holder(header, pointer("components", "headers", name))
    for name, param in components.get("parameters", {}).items():
        yield from from_holder(param, pointer("components", "parameters", name))
    for name, schema in components.get("schemas", {}).items():
        at = pointer("components", "schemas", name)
        for i, value in enumerate(schema.get("examples", [])):
            yield f"{at}/examples/{i}", at, value
