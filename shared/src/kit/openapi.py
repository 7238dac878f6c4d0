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


def correct_error_responses(document: dict[str, Any]) -> dict[str, Any]:
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    content = problem_content(schemas)
    for path_item in document.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict):
                continue
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
