"""The merged OpenAPI document checked by a tool nobody here wrote: Schemathesis generates requests
from the document the gateway serves (``/openapi.json``), valid and invalid, sends them through the
gateway, and runs every check it has (``--checks all``) in every phase (explicit examples, coverage of
every boundary and invalid value, random fuzzing, stateful sequences following the document's links):
no 5xx; every status, content type, header and body is one the document lists; every request the
schema forbids is refused; every request it admits is accepted — or refused by a business rule the
document names (``x-business-rules``, ``kit.openapi.business_rules``), which this test turns into what
Schemathesis expects of that operation; and a 405's ``Allow`` lists the methods the document has.

Bounded for CI: ``SCHEMATHESIS_MAX_EXAMPLES`` (5 here) per operation, a fixed seed
(``SCHEMATHESIS_SEED``) so a failure reproduces, once as a citizen and once as ops (most staff
endpoints answer only 403 to a citizen). ``make contract`` runs it with 25 examples per operation.
``SCHEMATHESIS_PATHS`` narrows it (e.g. ``^/v1/licences``) to chase one service's failures.
"""
from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.integration

# Every operation of the merged document: the gateway's own and every service's.
PATHS = os.environ.get("SCHEMATHESIS_PATHS", r"^/")
MAX_EXAMPLES = os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "5")
SEED = os.environ.get("SCHEMATHESIS_SEED", "20261127")
PHASES = os.environ.get("SCHEMATHESIS_PHASES", "examples,coverage,fuzzing,stateful")
TIMEOUT = int(os.environ.get("SCHEMATHESIS_TIMEOUT", "600"))
# What Schemathesis accepts as the answer to a request the schema admits (its default), and more for an
# operation whose document names business rules.
ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]
STREAM_SECONDS = 4


def schemathesis_config(document: dict[str, Any]) -> str:
    """A schemathesis.toml from the document: an operation with ``x-business-rules`` may also refuse valid
    data with the statuses its rules name (no other operation may); a live stream (``text/event-stream``)
    never ends, so a few seconds show its status, head and first events instead of the whole request timeout
    (one second was too short for the head on a loaded CI machine: a "Network Error")."""
    sections = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if not isinstance(operation, dict):
                continue
            name = json.dumps(f"{method.upper()} {path}")
            if operation.get("x-business-rules"):
                statuses = sorted({str(rule["status"]) for rule in operation["x-business-rules"]})
                sections.append(f"[[operations]]\ninclude-name = {name}\n"
                                f"checks.positive_data_acceptance.expected-statuses = {json.dumps(ACCEPTED + statuses)}\n")
            if any("text/event-stream" in (r.get("content") or {}) for r in operation.get("responses", {}).values()):
                sections.append(f"[[operations]]\ninclude-name = {name}\nrequest-timeout = {STREAM_SECONDS}\n")
    return "\n".join(sections)


def schemathesis(gateway: str, token: str, config: Path) -> subprocess.CompletedProcess[str]:
    command = [
        str(Path(sys.executable).with_name("schemathesis")), "--config-file", str(config), "run", f"{gateway}/openapi.json",
        "--header", f"Authorization: Bearer {token}", "--include-path-regex", PATHS,
        "--checks", "all", "--phases", PHASES, "--max-examples", MAX_EXAMPLES,
        "--seed", SEED, "--workers", "8", "--request-timeout", "20", "--generation-database", "none",
        # A connection reset or a timeout is tried once more (a loaded CI machine, not the API); a hang still fails.
        "--request-retries", "1",
        # Hypothesis's health checks judge the generator (slow or filtered generation on a loaded 2-core CI
        # machine failed one run), not the API; every check of the answers stays on (--checks all).
        "--suppress-health-check", "all", "--no-color",
    ]
    env = os.environ | {"SCHEMATHESIS_HOOKS": str(Path(__file__).with_name("schemathesis_hooks.py"))}
    return subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT - 60, check=False, env=env)


def test_the_document_says_what_schemathesis_expects() -> None:
    stream = {"responses": {"200": {"content": {"text/event-stream": {}}}}}
    document = {"paths": {"/v1/cockpit": {"get": {"x-business-rules": [{"status": 422, "rule": "a year at most"}]},
                                          "parameters": []},
                          "/v1/matters": {"get": {}}, "/v1/applications/stream": {"get": stream}}}
    config = schemathesis_config(document)
    assert 'include-name = "GET /v1/cockpit"\nchecks.positive_data_acceptance.expected-statuses' in config
    assert '"5xx", "422"]' in config and "/v1/matters" not in config
    assert f'include-name = "GET /v1/applications/stream"\nrequest-timeout = {STREAM_SECONDS}' in config


def test_a_failed_run_reports_its_failures_before_its_summary() -> None:
    output = "x" * 50_000 + "\n=== FAILURES ===\nGET /v1/matters: Server error\n" + "y" * 50_000 + "\nSUMMARY 1 failure"
    report = failures_first(output)
    assert report.startswith("FAILURES ===\nGET /v1/matters: Server error") and report.endswith("SUMMARY 1 failure")
    assert len(report) < 8000
    assert failures_first("only a summary") == "only a summary"


@pytest.mark.timeout(TIMEOUT)
@pytest.mark.parametrize("user", ["applicant-person", "ops"])
async def test_every_answer_matches_the_merged_openapi(suite, token, user: str, tmp_path: Path) -> None:
    async with httpx.AsyncClient(base_url=suite.gateway, timeout=30) as client:
        document = (await client.get("/openapi.json")).json()
    config = tmp_path / "schemathesis.toml"
    config.write_text(schemathesis_config(document))
    result = await asyncio.to_thread(schemathesis, suite.gateway, await token(user), config)
    output = result.stdout + result.stderr
    tested = re.search(r"Tested:\s+(\d+)", output)
    assert tested and int(tested.group(1)) >= 150, output[-3000:]  # it really ran against the whole document
    for phase in PHASES.split(","):  # every phase ran, none was skipped for want of something
        assert re.search(rf"[✅❌🚫] {phase.capitalize()}", output), output[-3000:]
    assert result.returncode == 0, failures_first(output)


def failures_first(output: str, limit: int = 6000) -> str:
    """Schemathesis's report of what failed (its FAILURES and ERRORS sections) ahead of its summary, bounded: the
    whole output of a run is hundreds of kilobytes, and a CI log's tail must still show what failed and how."""
    start = min((i for i in (output.find("FAILURES"), output.find("ERRORS")) if i >= 0), default=-1)
    if start < 0:
        return output[-limit:]
    return output[start:start + limit] + "\n…\n" + output[-1500:]
