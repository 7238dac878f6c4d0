"""The merged OpenAPI document checked by a tool nobody here wrote: Schemathesis generates requests
from the document the gateway serves (``/openapi.json``), valid and invalid, sends them through the
gateway, and checks every answer: no 5xx, the content type is one the document names, and the body
matches the documented schema (errors included: ``application/problem+json`` ``ProblemDocument``).

Bounded: five examples per operation (``SCHEMATHESIS_MAX_EXAMPLES``), a fixed seed
(``SCHEMATHESIS_SEED``) so a failure reproduces, once as a citizen and once as ops (most staff
endpoints answer only 403 to a citizen). It covers every operation of the merged document
(``SCHEMATHESIS_PATHS`` narrows it, e.g. ``^/v1/licences``, to chase one service's failures).
"""
from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

# Every operation of the merged document: the gateway's own and every service's.
PATHS = os.environ.get("SCHEMATHESIS_PATHS", r"^/")
MAX_EXAMPLES = os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "5")
SEED = os.environ.get("SCHEMATHESIS_SEED", "20261127")
CHECKS = "not_a_server_error,content_type_conformance,response_schema_conformance"
# The explicit examples and random (valid and invalid) requests: one to two minutes per user here. The
# coverage phase (every boundary and invalid value of every parameter) takes five to ten times
# longer: run it with SCHEMATHESIS_PHASES=examples,coverage,fuzzing before a release.
PHASES = os.environ.get("SCHEMATHESIS_PHASES", "examples,fuzzing")
TIMEOUT = int(os.environ.get("SCHEMATHESIS_TIMEOUT", "300"))


def schemathesis(gateway: str, token: str) -> subprocess.CompletedProcess[str]:
    command = [
        str(Path(sys.executable).with_name("schemathesis")), "run", f"{gateway}/openapi.json",
        "--header", f"Authorization: Bearer {token}", "--include-path-regex", PATHS,
        "--checks", CHECKS, "--phases", PHASES, "--max-examples", MAX_EXAMPLES,
        "--seed", SEED, "--workers", "2", "--request-timeout", "20", "--generation-database", "none",
        "--no-color",
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT - 60, check=False)


@pytest.mark.timeout(TIMEOUT)
@pytest.mark.parametrize("user", ["applicant-person", "ops"])
async def test_every_answer_matches_the_merged_openapi(suite, token, user: str) -> None:
    result = await asyncio.to_thread(schemathesis, suite.gateway, await token(user))
    output = result.stdout + result.stderr
    tested = re.search(r"Tested:\s+(\d+)", output)
    assert tested and int(tested.group(1)) >= 150, output[-3000:]  # it really ran against the whole document
    assert result.returncode == 0, output[-12000:]
