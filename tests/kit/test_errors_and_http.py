"""Errors as RFC 9457 problem+json through a real FastAPI app with the request-context middleware,
request ids, the log scrubber, pagination cursors, trace context and idempotency keys (on the
real PostgreSQL)."""
from __future__ import annotations

import asyncio
import importlib
import json
import re
import types
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Query
from pydantic import BaseModel, Field, field_validator
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, OperationalError

from kit.db import Database
from kit.devstack import free_port
from kit.errors import (
    PROBLEM_MEDIA_TYPE,
    BadRequest,
    Conflict,
    FieldError,
    IdempotencyKeyReused,
    NotFound,
    ValidationFailed,
    install_problem_handlers,
    problem_body,
)
from kit.http import RequestContextMiddleware
from kit.i18n import Text, catalogue_problems, invalid, prefers_english
from kit.idempotency import check_key, create_once, fingerprint, record, replay
from kit.logging import scrub_personal_data
from kit.pagination import decode_cursor, encode_cursor
from kit.tracing import TraceContext, current_request_id, current_trace

# --- a tiny service --------------------------------------------------------------------------


class Planting(BaseModel):
    tree_count: int = Field(ge=1, le=10_000)
    species: str = Field(min_length=1)


class PermitRequest(BaseModel):
    applicant: str
    form: Planting

    @field_validator("applicant")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise invalid(Text("申请人不能为空 {x}", "The applicant must not be blank {x}"), "blank")
        return value


SEEN: dict[str, Any] = {}
# Every package's catalogue of user-facing texts (kit.i18n): each service adds its own here.
CATALOGUES = ["kit.messages", "gateway.messages", "helpdesk.messages", "matters.messages", "licences.messages",
              "knowledge.messages", "prequal.messages", "notifications.messages", "booking.messages"]


def build_app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    unreachable = Database(f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/nothing", pool_size=1)

    @app.post("/permits", status_code=201)
    async def create(body: PermitRequest) -> dict[str, Any]:
        return {"trees": body.form.tree_count}

    @app.get("/permits")
    async def listing(limit: int = Query(20, ge=1, le=100)) -> dict[str, Any]:
        return {"limit": limit}

    @app.get("/permits/{permit_id}")
    async def read(permit_id: str) -> dict[str, Any]:
        raise NotFound(f"办件 {permit_id} 不存在 / no permit {permit_id}")

    @app.get("/texts/{permit_id}")
    async def text(permit_id: str) -> None:
        missing = Text("许可 {id} 不存在", "No permit {id}").format(id=permit_id)
        raise NotFound(missing, errors=[FieldError.of("permit_id", missing, "unknown")])

    @app.post("/conflict")
    async def conflict() -> None:
        raise Conflict("已受理 / already accepted", current_stage="accepted")

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internal detail: password=hunter2")

    @app.get("/db-down")
    async def db_down() -> None:
        raise OperationalError("SELECT 1", {}, ConnectionRefusedError("connection refused"))

    @app.get("/db-unreachable")
    async def db_unreachable() -> None:
        await unreachable.ping()  # a real connection attempt to a port nobody listens on

    @app.get("/db-error")
    async def db_error() -> None:
        raise DBAPIError("SELECT broken", {}, Exception("syntax error at or near broken"))

    @app.get("/context")
    async def context() -> dict[str, Any]:
        trace = current_trace.get()
        return {"request_id": current_request_id.get(), "trace_id": trace.trace_id if trace else None}

    app.state.unreachable = unreachable
    return app


@pytest.fixture(scope="module")
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = build_app()
    # Unexpected exceptions are re-raised after the 500 is sent (so servers can log them): the
    # transport must hand back the response the client got rather than the exception.
    transport = httpx.ASGITransport(app=RequestContextMiddleware(app, service="t"), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        yield client
    await app.state.unreachable.dispose()


def problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE)
    body = response.json()
    assert body["type"] == f"https://lvrong.example.gov.cn/problems/{slug}"
    assert body["status"] == status
    assert body["title_zh"] and body["title_en"]
    return body


# --- problem+json ----------------------------------------------------------------------------


async def test_validation_error_is_422_problem_with_field_paths_in_chinese(client: httpx.AsyncClient) -> None:
    response = await client.post("/permits", json={"applicant": "张三", "form": {"tree_count": 0, "species": "樟树"}})
    body = problem(response, 422, "validation")
    assert body["title"] == body["title_zh"] == "输入内容不符合要求"
    assert body["title_en"] == "The input is not valid"
    assert body["instance"] == "/permits"
    assert [e["field"] for e in body["errors"]] == ["form.tree_count"]
    assert body["errors"][0]["code"] == "greater_than_equal" and body["errors"][0]["message"]


async def test_validation_title_follows_accept_language(client: httpx.AsyncClient) -> None:
    payload = {"form": {"tree_count": "many"}}
    english = problem(await client.post("/permits", json=payload, headers={"Accept-Language": "en-GB,en;q=0.9"}),
                      422, "validation")
    assert english["title"] == "The input is not valid"
    chinese = problem(await client.post("/permits", json=payload, headers={"Accept-Language": "zh-CN,en;q=0.5"}),
                      422, "validation")
    assert chinese["title"] == "输入内容不符合要求"
    assert sorted(e["field"] for e in english["errors"]) == ["applicant", "form.species", "form.tree_count"]


async def test_malformed_json_and_bad_query_are_422_not_500(client: httpx.AsyncClient) -> None:
    body = problem(await client.post("/permits", content=b"{not json", headers={"Content-Type": "application/json"}),
                   422, "validation")
    assert body["errors"]
    body = problem(await client.get("/permits", params={"limit": 1000}), 422, "validation")
    assert [e["field"] for e in body["errors"]] == ["query.limit"]


async def test_not_found_and_conflict_are_problems(client: httpx.AsyncClient) -> None:
    body = problem(await client.get("/permits/p-1"), 404, "not-found")
    assert body["title"] == "资源不存在" and "p-1" in body["detail"]
    body = problem(await client.get("/no/such/route"), 404, "not-found")
    body = problem(await client.post("/conflict"), 409, "conflict")
    assert body["current_stage"] == "accepted"  # extension members travel in the body


async def test_method_not_allowed_is_a_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/conflict")
    problem(response, 405, "http-405")
    assert response.headers["allow"] == "POST"


async def test_an_unexpected_exception_is_a_500_problem_without_internals(client: httpx.AsyncClient) -> None:
    response = await client.get("/boom")
    body = problem(response, 500, "internal")
    assert body["title"] == "服务内部错误"
    text = response.text
    assert "Traceback" not in text and "RuntimeError" not in text and "hunter2" not in text
    assert "detail" not in body
    assert response.headers["x-request-id"]


async def test_a_database_outage_is_503_with_retry_after(client: httpx.AsyncClient) -> None:
    for path in ("/db-down", "/db-unreachable"):
        response = await client.get(path)
        body = problem(response, 503, "unavailable")
        assert int(response.headers["retry-after"]) > 0
        assert "connection refused" not in response.text.lower()
        assert body["title_en"] == "Service temporarily unavailable"


async def test_any_other_database_error_is_a_plain_500(client: httpx.AsyncClient) -> None:
    response = await client.get("/db-error")
    problem(response, 500, "internal")
    assert "syntax error" not in response.text and "SELECT" not in response.text


# --- request id and trace context ------------------------------------------------------------


async def test_a_well_formed_request_id_is_echoed(client: httpx.AsyncClient) -> None:
    request_id = "front-end.7f3c:42-" + uuid.uuid4().hex
    response = await client.get("/context", headers={"X-Request-ID": request_id})
    assert response.headers["x-request-id"] == request_id
    assert response.json()["request_id"] == request_id
    body = problem(await client.get("/permits/x", headers={"X-Request-ID": request_id}), 404, "not-found")
    assert body["request_id"] == request_id


@pytest.mark.parametrize("bad", ["has spaces in it", "x" * 500, "short", "<script>alert(1)</script>",
                                 "id\u00e9-with-latin1-1234"])
async def test_a_malformed_request_id_is_replaced(client: httpx.AsyncClient, bad: str) -> None:
    response = await client.get("/context", headers={"X-Request-ID": bad.encode("latin-1")})
    replaced = response.headers["x-request-id"]
    assert replaced != bad and re.fullmatch(r"[0-9a-f]{32}", replaced)
    assert response.json()["request_id"] == replaced
    # An error body carries the same, replaced id: arbitrary input is never echoed.
    failed = await client.get("/permits/x", headers={"X-Request-ID": bad.encode("latin-1")})
    body = problem(failed, 404, "not-found")
    assert body["request_id"] == failed.headers["x-request-id"] != bad


async def test_no_request_id_gets_a_new_one(client: httpx.AsyncClient) -> None:
    first = await client.get("/context")
    second = await client.get("/context")
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


async def test_the_caller_trace_is_continued(client: httpx.AsyncClient) -> None:
    parent = TraceContext.new()
    response = await client.get("/context", headers={"traceparent": parent.traceparent})
    assert response.json()["trace_id"] == parent.trace_id
    fresh = await client.get("/context", headers={"traceparent": "00-garbage"})
    assert fresh.json()["trace_id"] and fresh.json()["trace_id"] != parent.trace_id


VALID_TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_traceparent_parse_accepts_a_valid_header() -> None:
    parsed = TraceContext.parse(VALID_TRACEPARENT)
    assert parsed == TraceContext("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", "01")
    assert parsed.traceparent == VALID_TRACEPARENT
    assert TraceContext.parse(f"  {VALID_TRACEPARENT}\t") == parsed


@pytest.mark.parametrize("header", [
    None, "", "garbage",
    "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # all-zero trace id
    "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  # all-zero span id
    "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # unknown version
    "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",   # short trace id
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",     # no flags
    "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",  # not hex
    VALID_TRACEPARENT + "-extra",
])
def test_traceparent_parse_rejects_malformed_headers(header: str | None) -> None:
    assert TraceContext.parse(header) is None


def test_continue_from_keeps_the_trace_in_a_new_span() -> None:
    child = TraceContext.continue_from(VALID_TRACEPARENT)
    assert child.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736" and child.span_id != "00f067aa0ba902b7"
    fresh = TraceContext.continue_from("00-00000000000000000000000000000000-00f067aa0ba902b7-01")
    assert TraceContext.parse(fresh.traceparent) == fresh and fresh.trace_id != "0" * 32


# --- log scrubber ----------------------------------------------------------------------------

RESIDENT_ID = "11010519491231002X"
MOBILE = "13812345678"


def test_the_log_scrubber_masks_identifiers_in_strings_and_redacts_secret_keys() -> None:
    event = {
        "event": f"applicant {RESIDENT_ID} called from {MOBILE}",
        "note": "联系电话：+86 138 1234 5678，身份证号110105194912310021。",
        "Authorization": "Bearer eyJhbGciOi...",
        "password": "demo",
        "nested": {"mobile": MOBILE, "comment": f"回拨{MOBILE}", "token": "abc"},
        "items": [f"id {RESIDENT_ID.lower()}", ("tuple", MOBILE)],
        "count": 18,
        "application_no": "SQ20250601000123",
    }
    scrubbed = scrub_personal_data(None, "info", event)
    flat = json.dumps(scrubbed, ensure_ascii=False)
    for secret in (RESIDENT_ID, RESIDENT_ID.lower(), "110105194912310021", MOBILE, "138 1234 5678", "eyJhbGciOi",
                   "demo", "abc"):
        assert secret not in flat, secret
    assert scrubbed["event"] == "applicant [id-number] called from [mobile]"
    assert "[mobile]" in scrubbed["note"] and "[id-number]" in scrubbed["note"] and scrubbed["note"].startswith("联系电话")
    assert scrubbed["Authorization"] == scrubbed["password"] == "[redacted]"
    assert scrubbed["nested"]["mobile"] == scrubbed["nested"]["token"] == "[redacted]"
    assert scrubbed["nested"]["comment"] == "回拨[mobile]"
    assert scrubbed["count"] == 18 and scrubbed["application_no"] == "SQ20250601000123"


def test_the_log_scrubber_leaves_other_long_numbers_alone() -> None:
    event = {"event": "order 2025060112345678901234 amount 13812345678901"}
    assert scrub_personal_data(None, "info", dict(event)) == event


# --- pagination cursors ----------------------------------------------------------------------


def test_a_cursor_round_trips_and_is_url_safe() -> None:
    values = {"created_at": "2025-06-01T08:00:00+08:00", "id": "a/b+c=d", "name": "绿化/市容", "n": 3}
    cursor = encode_cursor(values)
    assert re.fullmatch(r"[A-Za-z0-9_-]+", cursor)
    assert decode_cursor(cursor) == values
    assert decode_cursor(None) is None and decode_cursor("") is None


@pytest.mark.parametrize("garbage", ["!!!!", "not a cursor", encode_cursor({"a": 1})[:-3] + "$$$",
                                     "W10",  # base64 of "[]": JSON, but not an object
                                     "_w",  # base64 of invalid UTF-8
                                     "bnVsbA"])  # "null"
def test_a_garbage_cursor_is_a_bad_request(garbage: str) -> None:
    with pytest.raises(BadRequest) as caught:
        decode_cursor(garbage)
    assert caught.value.status == 400


# --- idempotency keys ------------------------------------------------------------------------


def test_the_fingerprint_is_stable_across_key_order() -> None:
    a = {"applicant": "张三", "form": {"tree_count": 3, "species": "樟树"}, "materials": ["m1", "m2"]}
    b = {"materials": ["m1", "m2"], "form": {"species": "樟树", "tree_count": 3}, "applicant": "张三"}
    assert fingerprint(a) == fingerprint(b)
    assert re.fullmatch(r"[0-9a-f]{64}", fingerprint(a))
    assert fingerprint(a) != fingerprint({**a, "materials": ["m2", "m1"]})
    assert fingerprint(a) != fingerprint({**a, "form": {"tree_count": 4, "species": "樟树"}})


def test_check_key_accepts_printable_keys_and_refuses_others() -> None:
    assert check_key(None) is None
    assert check_key("  8e0f-4a1b  ") == "8e0f-4a1b"
    for bad in ("", "   ", "x" * 256, "tab\tinside", "new\nline"):
        with pytest.raises(ValidationFailed):
            check_key(bad)


@pytest.fixture(scope="module")
async def database(make_database) -> Database:
    return await make_database("lvrong_test_kit_errors")


async def test_idempotency_replay_and_record(database: Database) -> None:
    key, scope = uuid.uuid4().hex, "person:user-1"
    request = fingerprint({"tree_count": 3})
    response = {"id": "app-1", "status": "submitted", "title": "绿化许可"}
    async with database.transaction() as session:
        assert await replay(session, scope, key, request) is None  # a new key
        assert await record(session, scope, key, request, 201, response) is True
    async with database.transaction() as session:
        assert await replay(session, scope, key, request) == (201, response)
        with pytest.raises(IdempotencyKeyReused) as caught:
            await replay(session, scope, key, fingerprint({"tree_count": 4}))
        assert caught.value.status == 422
        assert await replay(session, "person:user-2", key, request) is None  # keys are scoped by caller
    async with database.transaction() as session:
        assert await record(session, scope, key, request, 201, {"id": "app-2"}) is False  # the first one stays
    async with database.transaction() as session:
        assert await replay(session, scope, key, request) == (201, response)


async def test_an_idempotency_record_rolls_back_with_its_transaction(database: Database) -> None:
    key, scope = uuid.uuid4().hex, "person:user-1"
    with pytest.raises(RuntimeError):
        async with database.transaction() as session:
            await record(session, scope, key, fingerprint({}), 201, {"id": "x"})
            raise RuntimeError("the effect failed")
    async with database.transaction() as session:
        assert await replay(session, scope, key, fingerprint({})) is None


@pytest.mark.parametrize("member", ["status", "type", "title", "instance", "title_zh", "request_id"])
def test_an_extension_may_not_reuse_a_member_of_the_problem_document(member: str) -> None:
    # RFC 9457: ``status`` is the HTTP code; the state of the thing goes in ``status_now``.
    with pytest.raises(TypeError, match="status_now"):
        Conflict(Text("状态冲突", "Conflict"), **{member: "revoked"})
    body = problem_body(Conflict(Text("状态冲突", "Conflict"), status_now="revoked"), instance="/x")
    assert body["status"] == 409 and body["status_now"] == "revoked" and body["instance"] == "/x"


async def test_the_detail_follows_accept_language(client: httpx.AsyncClient) -> None:
    zh = problem(await client.get("/texts/42"), 404, "not-found")
    assert (zh["title"], zh["detail"]) == ("资源不存在", "许可 42 不存在")
    en = problem(await client.get("/texts/42", headers={"Accept-Language": "en-GB,en;q=0.9,zh;q=0.5"}), 404, "not-found")
    assert (en["title"], en["detail"]) == ("Not found", "No permit 42")
    field = en["errors"][0]
    assert field == {"field": "permit_id", "message": "许可 42 不存在", "message_en": "No permit 42", "code": "unknown"}


@pytest.mark.parametrize(("header", "english"), [
    (None, False), ("", False), ("zh-CN", False), ("en", True), ("en-US,en;q=0.9", True),
    ("zh-CN,zh;q=0.9,en;q=0.8", False), ("en;q=0.5,zh;q=0.8", False), ("fr,en;q=0.7", True),
    ("fr,de", False), ("zh;q=0,en", True), ("en;q=0,zh;q=0", False), ("en;q=abc,zh;q=0.1", False),
    ("*", False),
])
def test_english_is_chosen_only_when_preferred_over_chinese(header: str | None, english: bool) -> None:
    assert prefers_english(header) is english


def test_a_text_fills_each_language_with_its_own_values() -> None:
    noun = Text("办件", "application")
    text = Text("{noun} {id} 不存在", "No {noun} {id}").format(noun=noun, id="A1")
    assert (text.zh, text.en, str(text)) == ("办件 A1 不存在", "No application A1", "No application A1")


def test_a_stored_note_keeps_both_languages_chinese_first() -> None:
    assert Text("办件 {id} 已撤回", "Application {id} withdrawn").format(id="A1").both() == \
        "办件 A1 已撤回 / Application A1 withdrawn"


def test_every_catalogue_has_both_languages_and_the_same_placeholders() -> None:
    catalogues = [importlib.import_module(name) for name in CATALOGUES]
    assert [problem for module in catalogues for problem in catalogue_problems(module)] == []
    assert sum(isinstance(v, Text) for module in catalogues for v in vars(module).values()) > 20


def test_a_catalogue_with_a_missing_language_or_a_placeholder_mismatch_is_reported() -> None:
    broken = types.ModuleType("broken")
    broken.EMPTY = Text("", "Empty")  # type: ignore[attr-defined]
    broken.MISMATCH = Text("{a}", "{b}")  # type: ignore[attr-defined]
    assert catalogue_problems(broken) == ["broken.EMPTY: a language is empty",
                                          "broken.MISMATCH: placeholders differ (['a'] vs ['b'])"]


class Filed(BaseModel):
    id: str
    trees: int


async def test_create_once_returns_the_result_and_a_replay_the_same_result(database: Database) -> None:
    key, scope, made = uuid.uuid4().hex, f"filings:{uuid.uuid4().hex}", []

    async def create(session: Any) -> Filed:
        made.append(1)
        return Filed(id=f"f{len(made)}", trees=3)

    first = await create_once(database, scope, key, {"trees": 3}, create, Filed)
    again = await create_once(database, scope, key, {"trees": 3}, create, Filed)
    assert first == again == Filed(id="f1", trees=3) and len(made) == 1
    with pytest.raises(IdempotencyKeyReused):
        await create_once(database, scope, key, {"trees": 4}, create, Filed)
    assert len(made) == 1
    assert await create_once(database, scope, None, {"trees": 3}, create, Filed) == Filed(id="f2", trees=3)


async def test_create_once_racing_on_one_key_creates_once(database: Database) -> None:
    key, scope = uuid.uuid4().hex, f"filings:{uuid.uuid4().hex}"
    both_inside = asyncio.Barrier(2)

    async def create(session: Any) -> Filed:
        await both_inside.wait()  # both transactions have looked for the key and not found it
        await session.execute(text("SELECT 1"))
        return Filed(id=uuid.uuid4().hex, trees=1)

    results = await asyncio.gather(*(create_once(database, scope, key, {}, create, Filed) for _ in range(2)))
    assert results[0] == results[1]
    async with database.session() as session:
        stored = await replay(session, scope, key, fingerprint({}))
    assert stored == (201, results[0].model_dump())


async def test_create_once_of_one_write_needs_no_transaction_without_a_key(database: Database) -> None:
    """``one_write``: without a key each statement commits by itself (no BEGIN, no COMMIT: two round trips
    fewer per submission); with a key the effect and the stored response still share one transaction."""
    scope = f"filings:{uuid.uuid4().hex}"
    seen: list[bool] = []

    async def create(session: Any) -> Filed:
        first = await session.scalar(text("SELECT pg_current_xact_id()::text"))
        second = await session.scalar(text("SELECT pg_current_xact_id()::text"))
        seen.append(first != second)  # each statement a transaction of its own
        return Filed(id=uuid.uuid4().hex, trees=1)

    # One pooled connection: the transactions after one_write run on the very connection it used.
    single = Database(database.url, pool_size=1)
    try:
        await create_once(single, scope, None, {}, create, Filed, one_write=True)
        await create_once(single, scope, uuid.uuid4().hex, {}, create, Filed, one_write=True)
        await create_once(single, scope, None, {}, create, Filed)
    finally:
        await single.dispose()
    assert seen == [True, False, False]


async def test_a_validator_refusing_with_a_catalogue_text_gives_both_languages(client: httpx.AsyncClient) -> None:
    body = problem(await client.post("/permits", json={"applicant": " ", "form": {"tree_count": 3, "species": "银杏"}}),
                   422, "validation")
    assert body["errors"] == [{"field": "applicant", "message": "申请人不能为空 {x}",
                               "message_en": "The applicant must not be blank {x}", "code": "blank"}]
