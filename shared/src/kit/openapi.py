"""A service's OpenAPI document as its answers really are: every error is ``application/problem+json``.

FastAPI documents its automatic 422 as ``application/json`` with its own ``HTTPValidationError``
shape, and a route's ``responses={...: {"model": ProblemDocument}}`` under ``application/json`` too,
while every error the platform sends is a ``ProblemDocument`` as ``application/problem+json``
(``kit.errors``). Schemathesis (``tests/integration/test_schemathesis.py``) checks answers against
the document, so the document is corrected once here: ``document_problem_responses(app)``.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts

from kit.auth import scope_declaration
from kit.errors import PROBLEM_MEDIA_TYPE, ProblemDocument

_FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")
BEARER_SCHEME = {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}


def problem_content(schemas: dict[str, Any]) -> dict[str, Any]:
    """The ``content`` of an error response; adds ``ProblemDocument`` (and what it uses) to ``schemas``."""
    problem = ProblemDocument.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(problem.pop("$defs", {}))
    schemas["ProblemDocument"] = problem
    return {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/ProblemDocument"}}}


BUSINESS_RULES = "x-business-rules"
# Rules every operation with such a parameter has, whichever service declares it.
_PARAMETER_RULES = {
    ("query", "cursor"): (400, "`cursor` is opaque: only a `next_cursor` this list returned is valid"),
    ("header", "Idempotency-Key"): (422, "`Idempotency-Key` is 1–255 printable characters (surrounding blanks "
                                         "ignored), and a key already used for a different request is refused"),
}


def business_rules(*rules: tuple[int, str]) -> dict[str, Any]:
    """A route's ``openapi_extra``: what refuses a request its schema admits (a period longer than a year,
    ``to`` before ``from``, a check digit), with the status it is refused with. The document lists them under
    ``x-business-rules`` and answers them in ``responses``; Schemathesis expects them from valid data."""
    return {BUSINESS_RULES: [{"status": status, "rule": rule} for status, rule in rules]}


def _document_business_rules(operation: dict[str, Any]) -> None:
    rules = list(operation.get(BUSINESS_RULES, []))
    for parameter in operation.get("parameters", []):
        if parameter.get("in") == "header":
            # A header is absent or a string: FastAPI's `anyOf [string, null]` of an optional one is
            # sent by clients as the text "null".
            variants = parameter.get("schema", {}).get("anyOf", [])
            if len(variants) == 2 and {"type": "null"} in variants:
                parameter["schema"] = {**parameter["schema"], **next(v for v in variants if v != {"type": "null"})}
                del parameter["schema"]["anyOf"]
        rule = _PARAMETER_RULES.get((parameter.get("in"), parameter.get("name")))
        if rule is not None:
            rules.append({"status": rule[0], "rule": rule[1]})
    if operation.get("requestBody"):
        # Starlette's answer to a body it cannot parse (malformed JSON, a broken form), before validation.
        operation["responses"].setdefault("400", {"description": "The body could not be parsed"})
    if not rules:
        return
    operation[BUSINESS_RULES] = rules
    for status in sorted({rule["status"] for rule in rules}):
        operation["responses"].setdefault(str(status), {
            "description": "; ".join(rule["rule"] for rule in rules if rule["status"] == status)})


def correct_error_responses(document: dict[str, Any]) -> dict[str, Any]:
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    content = problem_content(schemas)
    for path_item in document.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict):
                continue
            _document_business_rules(operation)
            for status, response in operation.get("responses", {}).items():
                if str(status)[:1] in ("4", "5"):
                    response["content"] = content
    # FastAPI's validation-error shapes are never sent: drop them once nothing refers to them.
    for name in _FASTAPI_VALIDATION_SCHEMAS:
        schemas.pop(name, None)
    text = json.dumps(document)
    for name in _FASTAPI_VALIDATION_SCHEMAS:
        if f'"#/components/schemas/{name}"' in text:
            raise RuntimeError(f"{name} is still referenced in the OpenAPI document")
    return document


def document_required_scopes(app: FastAPI, document: dict[str, Any]) -> dict[str, Any]:
    """Each operation's scope declaration (``kit.auth.needs_scope``): ``x-required-scopes`` and the security
    requirement. The gateway enforces what this says (``gateway.scopes``), so docs and door cannot differ."""
    for context in iter_route_contexts(app.routes):
        if not isinstance(context.original_route, APIRoute):
            continue
        declaration = scope_declaration(context.dependant)
        path_item = document.get("paths", {}).get(context.path_format)
        if declaration is None or path_item is None:
            continue
        for method in context.methods or ():
            operation = path_item.get(method.lower())
            if isinstance(operation, dict):
                operation.update(declaration.as_openapi())
    if any("security" in op for item in document.get("paths", {}).values() for op in item.values() if isinstance(op, dict)):
        document.setdefault("components", {}).setdefault("securitySchemes", {}).update(BEARER_SCHEME)
    return document


def document_problem_responses(app: FastAPI) -> FastAPI:
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_required_scopes(app, correct_error_responses(generate()))
        return app.openapi_schema

    # FastAPI's documented way to adjust the generated document is to replace this method.
    app.openapi = openapi  # type: ignore[method-assign]
    return app
