"""What the kit makes a service's OpenAPI document say about answers every route can give, and the
``Allow`` of a 405 (checked end to end by tests/integration/test_schemathesis.py)."""
from __future__ import annotations

from typing import Annotated

import pytest
from fastapi import FastAPI, Header
from fastapi.testclient import TestClient
from pydantic import BaseModel, TypeAdapter, ValidationError

from gateway.openapi import document_gateway_answers
from kit.errors import install_problem_handlers
from kit.openapi import business_rules, document_problem_responses
from kit.pagination import CursorQuery
from kit.params import IsoDate, IsoDateTime


class Body(BaseModel):
    name: str


def contract_app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    document_problem_responses(app)

    @app.get("/things", openapi_extra=business_rules((422, "a year at most")))
    async def things(cursor: CursorQuery = None, day: IsoDate | None = None, at: IsoDateTime | None = None) -> list[str]:
        return [str(day), str(at)]

    @app.get("/things/{thing_id}")
    async def thing(thing_id: str) -> str:
        return thing_id

    @app.post("/things/import")
    async def import_things(body: Body,
                            key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)] = None) -> str:
        return body.name

    @app.put("/things/{thing_id}")
    async def replace(thing_id: str, body: Body) -> str:
        return thing_id

    return app


def test_business_rules_and_universal_answers_are_documented() -> None:
    document = contract_app().openapi()
    listing = document["paths"]["/things"]["get"]
    assert [r["status"] for r in listing["x-business-rules"]] == [422, 400]  # declared, then the cursor's
    assert {"400", "422"} <= set(listing["responses"])
    create = document["paths"]["/things/import"]["post"]
    assert create["responses"]["400"]["description"] == "The body could not be parsed"
    assert create["x-business-rules"][0]["status"] == 422  # Idempotency-Key: malformed or reused
    header = next(p for p in create["parameters"] if p["in"] == "header")
    assert header["schema"]["type"] == "string" and "anyOf" not in header["schema"]  # never "null"


def test_the_gateway_documents_what_it_answers_itself() -> None:
    secured: dict = {"responses": {"200": {}}, "requestBody": {}}
    public: dict = {"responses": {"200": {}, "503": {"description": "the service's own"}}, "security": []}
    document_gateway_answers(secured, {"application/problem+json": {}})
    document_gateway_answers(public, {"application/problem+json": {}})
    assert {"401", "403", "413", "429", "502", "503", "504"} <= set(secured["responses"])
    assert "401" not in public["responses"] and public["responses"]["503"]["description"] == "the service's own"


def test_a_405_allows_every_method_of_the_resource() -> None:
    client = TestClient(contract_app())
    collection = client.options("/things/import")
    assert collection.status_code == 405 and collection.headers["allow"] == "POST"  # not /things/{thing_id}'s GET
    item = client.delete("/things/x")
    assert item.status_code == 405 and item.headers["allow"] == "GET, PUT"


def test_dates_are_text_as_the_document_says() -> None:
    client = TestClient(contract_app())
    assert client.get("/things", params={"day": "2026-01-31"}).status_code == 200
    assert client.get("/things", params={"day": "0"}).status_code == 422  # not 1970-01-01
    assert client.get("/things", params={"at": "2026-01-31T09:00:00+08:00"}).status_code == 200
    assert client.get("/things", params={"at": "0.5"}).status_code == 422


def test_json_dates_are_text_too() -> None:
    for kind, good in ((IsoDate, "2026-01-31"), (IsoDateTime, "2026-01-31T09:00:00+08:00")):
        assert TypeAdapter(kind).validate_json(f'"{good}"')
        for number in ("0", "0.5"):
            with pytest.raises(ValidationError):
                TypeAdapter(kind).validate_json(number)
