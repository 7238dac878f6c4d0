"""RFC 9457 problem details: one error hierarchy, one handler, Chinese and English titles.

Every error a client can see is a ``Problem`` subclass carrying its status, a stable ``type`` URI
and both titles; the handlers turn it, request validation errors, and unexpected failures into
``application/problem+json``. ``title`` and ``detail`` follow ``Accept-Language`` (Chinese unless
English is preferred, kit.i18n); ``title_zh`` and ``title_en`` are always present.

``status`` is the HTTP status code and nothing else (RFC 9457): a problem that reports the state
of the thing it is about puts it in ``status_now``. Extensions may not reuse a member's name.
"""
from __future__ import annotations

from typing import Any, cast

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from pydantic import BaseModel, Field
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from kit import messages
from kit.i18n import Text, prefers_english

PROBLEM_BASE = "https://lvrong.example.gov.cn/problems/"
PROBLEM_MEDIA_TYPE = "application/problem+json"

log = structlog.get_logger("kit.errors")


class FieldError(BaseModel):
    field: str = Field(description="Dotted path of the offending input, e.g. `form.tree_count`")
    message: str
    message_en: str | None = None
    code: str | None = None

    @classmethod
    def of(cls, field: str, text: Text, code: str | None = None) -> FieldError:
        """A field error from a catalogue text: ``message`` in Chinese, ``message_en`` in English."""
        return cls(field=field, message=text.zh, message_en=text.en, code=code)


class ProblemDocument(BaseModel):
    """The body of every error response (RFC 9457)."""

    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    title_zh: str
    title_en: str
    request_id: str | None = None
    errors: list[FieldError] | None = None


# The members of the document itself: an extension of the same name would be ignored (or, for
# ``status``, contradict the response's code), so naming one is a programming error.
RESERVED_MEMBERS = frozenset(ProblemDocument.model_fields)


class Problem(Exception):
    status: int = 500
    slug: str = "internal"
    title_zh: str = "服务内部错误"
    title_en: str = "Internal server error"

    def __init__(self, detail: Text | str | None = None, *, errors: list[FieldError] | None = None,
                 headers: dict[str, str] | None = None, **extensions: Any) -> None:
        """``detail`` is a catalogue text (kit.i18n); a plain string is the same in both languages."""
        if reserved := RESERVED_MEMBERS.intersection(extensions):
            raise TypeError(f"problem extensions may not reuse the members {sorted(reserved)}"
                            " (the state of a thing goes in status_now)")
        super().__init__(str(detail) if detail is not None else self.title_en)
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}
        self.extensions = extensions

    @property
    def type_uri(self) -> str:
        return PROBLEM_BASE + self.slug


class BadRequest(Problem):
    status, slug, title_zh, title_en = 400, "bad-request", "请求有误", "Bad request"


class Unauthorized(Problem):
    status, slug, title_zh, title_en = 401, "unauthorized", "未认证或令牌无效", "Missing or invalid credentials"

    def __init__(self, detail: Text | str | None = None, **kw: Any) -> None:
        kw.setdefault("headers", {"WWW-Authenticate": 'Bearer realm="lvrong"'})
        super().__init__(detail, **kw)


class Forbidden(Problem):
    status, slug, title_zh, title_en = 403, "forbidden", "无权执行此操作", "Not allowed"


class NotFound(Problem):
    status, slug, title_zh, title_en = 404, "not-found", "资源不存在", "Not found"


class Conflict(Problem):
    status, slug, title_zh, title_en = 409, "conflict", "与当前状态冲突", "Conflict with the current state"


class IdempotencyKeyReused(Problem):
    status, slug, title_zh, title_en = (
        422, "idempotency-key-reused", "幂等键已用于不同的请求", "Idempotency-Key already used for a different request")


class ValidationFailed(Problem):
    status, slug, title_zh, title_en = 422, "validation", "输入内容不符合要求", "The input is not valid"


class PayloadTooLarge(Problem):
    status, slug, title_zh, title_en = 413, "payload-too-large", "请求内容过大", "Payload too large"


class UnsupportedMediaType(Problem):
    status, slug, title_zh, title_en = 415, "unsupported-media-type", "不支持的内容类型", "Unsupported media type"


class TooManyRequests(Problem):
    status, slug, title_zh, title_en = 429, "too-many-requests", "请求过于频繁，请稍后再试", "Too many requests"


class ServiceUnavailable(Problem):
    status, slug, title_zh, title_en = 503, "unavailable", "服务暂不可用，请稍后再试", "Service temporarily unavailable"


class BadGateway(Problem):
    status, slug, title_zh, title_en = 502, "bad-gateway", "上游服务无响应", "The upstream service failed"


class GatewayTimeout(Problem):
    status, slug, title_zh, title_en = 504, "gateway-timeout", "上游服务超时", "The upstream service timed out"


_GENERIC: dict[int, type[Problem]] = {
    400: BadRequest, 401: Unauthorized, 403: Forbidden, 404: NotFound, 409: Conflict, 413: PayloadTooLarge,
    415: UnsupportedMediaType,
    422: ValidationFailed, 429: TooManyRequests, 502: BadGateway, 503: ServiceUnavailable, 504: GatewayTimeout,
}


def problem_body(problem: Problem, *, instance: str | None = None, request_id: str | None = None,
                 english: bool = False) -> dict[str, Any]:
    doc = ProblemDocument(
        type=problem.type_uri,
        title=problem.title_en if english else problem.title_zh,
        status=problem.status,
        detail=problem.detail.pick(english) if isinstance(problem.detail, Text) else problem.detail,
        instance=instance,
        title_zh=problem.title_zh,
        title_en=problem.title_en,
        request_id=request_id,
        errors=problem.errors,
    ).model_dump(exclude_none=True)
    return doc | problem.extensions


def problem_response(problem: Problem, request: Request | None = None) -> JSONResponse:
    instance = request_id = None
    english = False
    if request is not None:
        instance = request.url.path
        # The id RequestContextMiddleware checked (and replaced when malformed) before the raw header.
        request_id = request.scope.get("state", {}).get("request_id") or request.headers.get("x-request-id")
        english = prefers_english(request.headers.get("accept-language"))
    body = problem_body(problem, instance=instance, request_id=request_id, english=english)
    return JSONResponse(body, status_code=problem.status, media_type=PROBLEM_MEDIA_TYPE, headers=problem.headers)


def _location(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] == "body":
        parts = parts[1:]
    return ".".join(parts) or "body"


def validation_problem(exc: RequestValidationError) -> ValidationFailed:
    # A validator that refused with a catalogue text (kit.i18n.invalid) says it in English in its context.
    errors = [FieldError(field=_location(tuple(e.get("loc", ()))), message=str(e.get("msg", "")),
                         message_en=str((e.get("ctx") or {}).get("message_en") or e.get("msg", "")),
                         code=str(e.get("type", "")))
              for e in exc.errors()]
    return ValidationFailed(messages.REQUEST_INVALID, errors=errors)


def allowed_methods(request: Request) -> str:
    """The ``Allow`` of a 405: Starlette names only the methods of the first route matching the path, while
    RFC 9110 (and the OpenAPI document) mean every method of the resource, whichever route declares it. The
    resource is the most specific template matching (``/v1/licences/import``, not ``/v1/licences/{id}``)."""
    matching = [(route.path_format.count("{"), route.methods) for route in iter_route_contexts(request.app.routes)
                if route.methods and route.path_format is not None
                and (regex := getattr(route, "path_regex", None)) and regex.match(request.scope["path"])]
    fewest = min((placeholders for placeholders, _ in matching), default=0)
    return ", ".join(sorted({method for placeholders, methods in matching if placeholders == fewest
                             for method in methods}))


def install_problem_handlers(app: FastAPI) -> None:
    """Every error leaves the service as problem+json, never as an HTML page or a traceback."""

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc, request)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return problem_response(validation_problem(exc), request)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        cls = _GENERIC.get(exc.status_code)
        if cls is None:
            # A Problem subclass for this status (type() with a base is typed as a plain type).
            cls = cast(type[Problem], type("HTTPProblem", (Problem,), {
                "status": exc.status_code, "slug": f"http-{exc.status_code}",
                "title_zh": "请求未完成", "title_en": "Request not completed"}))
        detail = exc.detail if isinstance(exc.detail, str) else None
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = allowed_methods(request)
        return problem_response(cls(detail, headers=headers), request)

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    @app.exception_handler(PoolTimeout)
    @app.exception_handler(OSError)
    async def _database_down(request: Request, exc: Exception) -> JSONResponse:
        log.warning("dependency_unavailable", error=type(exc).__name__)
        return problem_response(ServiceUnavailable(messages.DATABASE_UNAVAILABLE,
                                                   headers={"Retry-After": "5"}), request)

    @app.exception_handler(DBAPIError)
    async def _database_error(request: Request, exc: DBAPIError) -> JSONResponse:
        if exc.connection_invalidated:
            return problem_response(ServiceUnavailable(messages.DATABASE_CONNECTION_LOST,
                                                       headers={"Retry-After": "5"}), request)
        sqlstate = str(getattr(exc.orig, "sqlstate", "") or "")
        if sqlstate[:2] in ("08", "53") or sqlstate in ("57P01", "57P02", "57P03"):
            # No connection to be had (too many clients, the server starting or shutting down): the
            # database is away for a while, not the request at fault.
            log.warning("dependency_unavailable", sqlstate=sqlstate)
            return problem_response(ServiceUnavailable(messages.DATABASE_UNAVAILABLE,
                                                       headers={"Retry-After": "5"}), request)
        if sqlstate.startswith("22"):
            # Data exception: a value the database cannot hold (a NUL character, a number out of range).
            log.warning("unstorable_input", sqlstate=sqlstate)
            return problem_response(ValidationFailed(messages.UNSTORABLE_INPUT), request)
        log.error("database_error", error=type(exc.orig).__name__ if exc.orig else type(exc).__name__)
        return problem_response(Problem(), request)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled_error", error=type(exc).__name__)
        return problem_response(Problem(), request)


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ProblemDocument, "content": {PROBLEM_MEDIA_TYPE: {}}, "description": cls.title_en}
    for status, cls in _GENERIC.items() if status in (400, 401, 403, 404, 409, 422, 503)
}
