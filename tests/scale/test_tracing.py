"""One submission through the gateway is one connected OpenTelemetry trace across the gateway,
svc-matters and svc-prequal — through HTTP and through the events between them — and the processes
export nothing and add nothing to a request when tracing is not configured.

The processes export their spans as JSON lines (``LVRONG_TRACE_DIR``, the same SDK pipeline as the
OTLP exporter used in production); the test reads them back.
"""
from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from scale.cluster import Cluster

from kit.tracing import traced, tracing_enabled
from support import all_materials, bearer, matter, valid_form, wait_for_verdict

PREFIX = os.environ.get("LVRONG_TEST_DATABASE_PREFIX", "lvrong_itest") + "_trace"
MATTER = "LR-XK-008"

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def traced_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cluster, Path]]:
    spans = tmp_path_factory.mktemp("spans")
    with Cluster(PREFIX, database_url=None, extra_env={"LVRONG_TRACE_DIR": str(spans)}).running() as running:
        yield running, spans


def _spans(directory: Path) -> list[dict[str, Any]]:
    found = []
    for path in directory.glob("*.jsonl"):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                found.append(json.loads(line))
    return found


async def test_one_submission_is_one_connected_trace_across_gateway_matters_and_prequal(
        traced_cluster: tuple[Cluster, Path]) -> None:
    cluster, directory = traced_cluster
    async with httpx.AsyncClient(base_url=cluster.gateway, timeout=30) as client:
        token = await cluster.token(client, "applicant-person")
        detail = await matter(client, token, MATTER)
        uploaded = await all_materials(client, token, detail)
        r = await client.post("/v1/applications", headers=bearer(token),
                              json={"matter_code": MATTER, "form": valid_form(detail, seed=7), "materials": uploaded})
        assert r.status_code == 201, r.text
        request_id = r.headers["x-request-id"]
        await wait_for_verdict(client, token, r.json()["id"])

    def trace_of_submission() -> list[dict[str, Any]]:
        spans = _spans(directory)
        roots = [s for s in spans if s["attributes"].get("lvrong.request_id") == request_id
                 and s["resource"]["attributes"]["service.name"] == "lvrong-gateway"]
        if not roots:
            return []
        return [s for s in spans if s["context"]["trace_id"] == roots[0]["context"]["trace_id"]]

    deadline = time.monotonic() + 15
    # Each process writes its spans in batches a fraction of a second after they end, so the verdict's
    # handling in svc-matters can be on file before the svc-prequal span it hangs off: wait for both.
    while True:
        spans = trace_of_submission()
        handled_verdict = [s for s in spans if s["name"].startswith("handle lvrong.prequal.")
                           and s["resource"]["attributes"]["service.name"] == "lvrong-matters"]
        recorded = {s["context"]["span_id"] for s in spans}
        connected = all(s["parent_id"] is None or s["parent_id"] in recorded for s in spans)
        if (handled_verdict and connected) or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)

    by_id = {s["context"]["span_id"]: s for s in spans}
    roots = [s for s in spans if s["parent_id"] is None]
    assert len(roots) == 1, [s["name"] for s in roots]  # one trace, one root: the gateway's request
    root = roots[0]
    assert root["resource"]["attributes"]["service.name"] == "lvrong-gateway" and root["kind"] == "SpanKind.SERVER"
    assert root["name"].startswith("POST /v1/applications")
    for span in spans:  # connected: every other span's parent was recorded too
        assert span is root or span["parent_id"] in by_id, f"{span['name']} hangs off a span that was not recorded"

    def one(service: str, kind: str, name_prefix: str) -> dict[str, Any]:
        found = [s for s in spans if s["resource"]["attributes"]["service.name"] == f"lvrong-{service}"
                 and s["kind"] == f"SpanKind.{kind}" and s["name"].startswith(name_prefix)]
        assert found, f"no {kind} span {name_prefix!r} of {service} in {[s['name'] for s in spans]}"
        return found[0]

    matters_request = one("matters", "SERVER", "POST /v1/applications")
    submitted = one("matters", "PRODUCER", "publish lvrong.matters.application.submitted")
    reviewing = one("prequal", "CONSUMER", "handle lvrong.matters.application.submitted")
    verdict_event = one("prequal", "PRODUCER", "publish lvrong.prequal.")
    verdict_applied = one("matters", "CONSUMER", "handle lvrong.prequal.")
    # The chain: gateway → svc-matters (HTTP) → its event → svc-prequal → its event → svc-matters.
    assert matters_request["parent_id"] == root["context"]["span_id"]
    assert submitted["parent_id"] == matters_request["context"]["span_id"]
    assert reviewing["parent_id"] == submitted["context"]["span_id"]
    assert verdict_event["parent_id"] == reviewing["context"]["span_id"]
    assert verdict_applied["parent_id"] == verdict_event["context"]["span_id"]
    assert matters_request["attributes"]["http.route"] == "/v1/applications"
    assert matters_request["attributes"]["http.response.status_code"] == 201


def test_without_configuration_nothing_is_added_to_a_request() -> None:
    assert "LVRONG_TRACE_DIR" not in os.environ and "OTEL_EXPORTER_OTLP_ENDPOINT" not in os.environ

    async def app(scope: Any, receive: Any, send: Any) -> None:
        pass

    assert traced(app, "matters") is app and not tracing_enabled()
