"""Live status through the gateway: Server-Sent Events of one application and of all the caller may
see, arriving within a second of each step, resuming after a step id without gaps or duplicates, and
shown only to those who may read the application."""
from __future__ import annotations

import asyncio
import contextlib
import json
import re
import signal
import subprocess
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from kit.devstack import free_port, http_ok, service_command
from support import all_materials, bearer, matter, valid_form, wait_status

pytestmark = pytest.mark.integration

# Every measured delay from sending an action to its event arriving on a stream, for the report.
LATENCIES: list[float] = []


class EventStream:
    """An SSE client: a task reads frames into a queue, so waiting with a timeout never breaks the reader."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.frames: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.comments = 0
        self.retry: int | None = None
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        frame: dict[str, Any] = {}
        async for line in self.response.aiter_lines():
            if line == "":
                if "event" in frame or "data" in frame:
                    if "data" in frame:
                        frame["data"] = json.loads(frame["data"])
                    await self.frames.put(frame)
                frame = {}
            elif line.startswith(":"):
                self.comments += 1
            else:
                name, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if name == "retry":
                    self.retry = int(value)
                else:
                    frame[name] = value

    async def next(self, within: float = 3.0) -> dict[str, Any]:
        try:
            return await asyncio.wait_for(self.frames.get(), within)
        except TimeoutError:
            pytest.fail(f"no event within {within} s")

    async def until(self, predicate: Any, within: float = 15.0) -> list[dict[str, Any]]:
        """Every frame up to and including the first that satisfies ``predicate``."""
        seen: list[dict[str, Any]] = []
        deadline = time.monotonic() + within
        while True:
            seen.append(await self.next(max(0.01, deadline - time.monotonic())))
            if predicate(seen[-1]):
                return seen

    async def nothing_for(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        assert self.frames.empty(), f"unexpected event: {self.frames.get_nowait()}"

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
            await self._task


@contextlib.asynccontextmanager
async def open_stream(client: httpx.AsyncClient, path: str, tok: str, **headers: str) -> AsyncIterator[EventStream]:
    async with client.stream("GET", path, headers={**bearer(tok), **headers}) as response:
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        stream = EventStream(response)
        try:
            yield stream
        finally:
            await stream.close()






async def file(client: httpx.AsyncClient, tok: str, code: str, seed: int) -> str:
    m = await matter(client, tok, code)
    r = await client.post("/v1/applications", json={"matter_code": code, "form": valid_form(m, seed),
                                                    "materials": await all_materials(client, tok, m)},
                          headers=bearer(tok))
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def prereviewed(client: httpx.AsyncClient, token, seed: int, code: str = "LR-XK-008",
                      user: str = "applicant-person") -> str:
    tok = await token(user)
    app_id = await file(client, tok, code, seed)
    await wait_status(client, tok, app_id, {"prereviewed"})
    return app_id


async def act(client: httpx.AsyncClient, tok: str, app_id: str, action: str, **body: Any) -> httpx.Response:
    r = await client.post(f"/v1/applications/{app_id}/actions/{action}", json=body, headers=bearer(tok))
    assert r.status_code == 200, r.text
    return r


async def timeline(client: httpx.AsyncClient, tok: str, app_id: str) -> list[dict[str, Any]]:
    return (await client.get(f"/v1/applications/{app_id}/timeline", headers=bearer(tok))).json()["items"]


async def listeners(suite) -> float:
    """Open streams on svc-matters, from its metrics (the gateway does not route /metrics)."""
    async with httpx.AsyncClient() as direct:
        text = (await direct.get(suite.direct("matters") + "/metrics")).text
    found = re.search(r"^lvrong_live_listeners (\S+)$", text, re.MULTILINE)
    assert found, "lvrong_live_listeners missing from /metrics"
    return float(found.group(1))


async def wait_listeners(suite, wanted: float) -> None:
    deadline = time.monotonic() + 5
    while (now := await listeners(suite)) != wanted:
        assert time.monotonic() < deadline, f"{now} open streams, expected {wanted}"
        await asyncio.sleep(0.05)


EVENT_FIELDS = {"application_id", "matter_code", "from_status", "to_status", "stage", "action", "reason", "occurred_at"}


async def test_one_application_stream_shows_every_step_within_a_second(client, token) -> None:
    applicant, officer, reviewer = [await token(u) for u in ("applicant-person", "officer", "reviewer")]
    app_id = await prereviewed(client, token, seed=301)
    steps = [(officer, "accept", {}), (reviewer, "review", {}),
             (reviewer, "request_correction", {"reason": "请补充施工方案"}),
             (applicant, "supplement", {}), (reviewer, "extend", {"reason": "需现场踏勘", "working_days": 3}),
             (reviewer, "approve", {"reason": "符合条件"})]
    received = []
    # As a front-end does: load the application, then stream from its last step so nothing in between is lost.
    last_step = (await client.get(f"/v1/applications/{app_id}", headers=bearer(applicant))).json()["last_step"]["id"]
    async with open_stream(client, f"/v1/applications/{app_id}/stream?after={last_step}", applicant) as stream, \
            open_stream(client, f"/v1/applications/{app_id}/stream", officer) as staff_stream:
        for tok, action, body in steps:
            sent = time.monotonic()
            await act(client, tok, app_id, action, **body)
            event = await stream.next()
            LATENCIES.append(time.monotonic() - sent)
            assert LATENCIES[-1] < 1.0, f"{action} took {LATENCIES[-1]:.3f} s to arrive"
            assert event["event"] == "status" and event["data"]["action"] == action
            received.append(event)
            assert (await staff_stream.next())["id"] == event["id"]  # every watcher gets it
        # svc-licences issues the licence of the approval and reports it: 出证 arrives on the same streams.
        issued = await stream.next(within=10)
        assert issued["data"]["action"] == "issue_licence" and issued["data"]["to_status"] == "licence_issued"
        assert (await staff_stream.next())["id"] == issued["id"]
        received.append(issued)
        await stream.nothing_for(0.3)
        assert stream.retry == 2000
    recorded = await timeline(client, applicant, app_id)
    later = recorded[2:]  # submitted and prereviewed happened before the stream opened
    assert [int(e["id"]) for e in received] == [s["id"] for s in later]
    for event, step in zip(received, later, strict=True):
        assert set(event["data"]) == EVENT_FIELDS
        assert event["data"]["application_id"] == app_id and event["data"]["matter_code"] == "LR-XK-008"
        assert (event["data"]["from_status"], event["data"]["to_status"]) == (step["from_status"], step["status"])
        assert event["data"]["reason"] == step["reason"]
    assert [e["data"]["stage"] for e in received] == ["review"] * 5 + ["issuance", "issuance"]
    assert received[2]["data"]["reason"] == "请补充施工方案"
    print(f"\nlive status latency over {len(LATENCIES)} steps: max {max(LATENCIES) * 1000:.1f} ms, "
          f"mean {sum(LATENCIES) / len(LATENCIES) * 1000:.1f} ms")


async def test_reconnecting_with_last_event_id_replays_only_later_steps(client, token) -> None:
    applicant, officer, reviewer = [await token(u) for u in ("applicant-person", "officer", "reviewer")]
    app_id = await prereviewed(client, token, seed=302)
    path = f"/v1/applications/{app_id}/stream"
    async with open_stream(client, path, applicant) as stream:
        await act(client, officer, app_id, "accept")
        accepted = await stream.next()
    # While the client is away, two more steps happen.
    await act(client, reviewer, app_id, "review")
    await act(client, reviewer, app_id, "request_correction", reason="请补充照片")
    async with open_stream(client, path, applicant, **{"Last-Event-ID": accepted["id"]}) as stream:
        replayed = [await stream.next(), await stream.next()]
        assert [e["data"]["action"] for e in replayed] == ["review", "request_correction"]
        await act(client, applicant, app_id, "supplement")
        live = await stream.next()  # the next event is the new one: nothing older, nothing twice before it
        assert live["data"]["action"] == "supplement" and int(live["id"]) > int(replayed[-1]["id"])
        await stream.nothing_for(0.3)
    ids = [s["id"] for s in await timeline(client, applicant, app_id)]
    assert [int(e["id"]) for e in [accepted, *replayed, live]] == ids[2:]
    # ?after= is the same for a first connection; Last-Event-ID wins when both are given.
    async with open_stream(client, f"{path}?after={replayed[0]['id']}", applicant) as stream:
        assert [(await stream.next())["id"] for _ in range(2)] == [replayed[1]["id"], live["id"]]
        await stream.nothing_for(0.2)
    async with open_stream(client, f"{path}?after=0", applicant, **{"Last-Event-ID": replayed[1]["id"]}) as stream:
        assert (await stream.next())["id"] == live["id"]
        await stream.nothing_for(0.2)


async def test_all_applications_stream_shows_only_what_the_caller_may_see(suite, client, token) -> None:
    person, company, officer = [await token(u) for u in ("applicant-person", "applicant-company", "officer")]
    async with open_stream(client, "/v1/applications/stream", person) as mine, \
            open_stream(client, "/v1/applications/stream", officer) as staff:
        theirs = await file(client, company, "LR-BA-003", seed=303)
        await wait_status(client, company, theirs, {"prereviewed"})
        own = await file(client, person, "LR-XK-008", seed=304)
        seen = await mine.until(lambda e: e["data"]["application_id"] == own and e["data"]["to_status"] == "prereviewed")
        assert theirs not in {e["data"]["application_id"] for e in seen}
        assert [e["data"]["to_status"] for e in seen if e["data"]["application_id"] == own] == ["submitted", "prereviewed"]
        # Staff of the bureau see every department's applications.
        everything = await staff.until(lambda e: e["data"]["application_id"] == own and e["data"]["to_status"] == "prereviewed")
        assert {(e["data"]["application_id"], e["data"]["to_status"]) for e in everything} >= {
            (theirs, "submitted"), (theirs, "prereviewed"), (own, "submitted"), (own, "prereviewed")}
        # Later changes of the company's application still do not reach the person.
        await act(client, officer, theirs, "accept")
        await act(client, officer, own, "accept")
        more = await mine.until(lambda e: e["data"]["application_id"] == own and e["data"]["to_status"] == "accepted")
        assert theirs not in {e["data"]["application_id"] for e in more}
    # Resuming the all-applications stream replays the caller's own later steps, and only those.
    first_own = next(e for e in seen if e["data"]["application_id"] == own)
    async with open_stream(client, "/v1/applications/stream", person, **{"Last-Event-ID": first_own["id"]}) as again:
        replay = await again.until(lambda e: e["data"]["application_id"] == own and e["data"]["to_status"] == "accepted")
        assert all(int(e["id"]) > int(first_own["id"]) for e in replay)
        assert theirs not in {e["data"]["application_id"] for e in replay}
        assert [e["data"]["to_status"] for e in replay if e["data"]["application_id"] == own] == ["prereviewed", "accepted"]
    # The company sees its own application (an applicant's stream: their own and their company's).
    async with open_stream(client, "/v1/applications/stream", company, **{"Last-Event-ID": "0"}) as company_stream:
        replay = await company_stream.until(lambda e: e["data"]["application_id"] == theirs
                                            and e["data"]["to_status"] == "accepted")
        assert own not in {e["data"]["application_id"] for e in replay}


@contextlib.asynccontextmanager
async def second_matters_replica(suite) -> AsyncIterator[str]:
    """Another svc-matters process on the same database and bus, as a second pod would be."""
    port = free_port()
    log = open(suite.log_dir / "matters-replica.log", "ab")  # noqa: ASYNC230
    process = await asyncio.create_subprocess_exec(*service_command("matters", port), env=dict(suite.env), stdout=log,
                                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while not await asyncio.to_thread(http_ok, base + "/readyz"):
            assert process.returncode is None and time.monotonic() < deadline, "the second replica did not start"
            await asyncio.sleep(0.1)
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            process.kill()
            await process.wait()
        log.close()


async def test_every_replica_streams_changes_made_on_another(suite, client, token) -> None:
    applicant, officer = await token("applicant-person"), await token("officer")
    app_id = await prereviewed(client, token, seed=306)
    async with second_matters_replica(suite) as replica, httpx.AsyncClient(base_url=replica, timeout=30) as direct:
        async with open_stream(direct, f"/v1/applications/{app_id}/stream", applicant) as on_replica, \
                open_stream(client, f"/v1/applications/{app_id}/stream", applicant) as via_gateway:
            await asyncio.sleep(0.5)  # the replica's subscription is made as it starts, ahead of readiness
            sent = time.monotonic()
            await act(client, officer, app_id, "accept")  # handled by the first replica, behind the gateway
            for stream in (on_replica, via_gateway):
                event = await stream.next()
                assert event["data"]["to_status"] == "accepted" and time.monotonic() - sent < 1.0
            # And the other way round: a change made on the second replica reaches the first one's streams.
            sent = time.monotonic()
            r = await direct.post(f"/v1/applications/{app_id}/actions/review", json={},
                                  headers=bearer(await token("reviewer")))
            assert r.status_code == 200, r.text
            for stream in (via_gateway, on_replica):
                event = await stream.next()
                assert event["data"]["to_status"] == "under_review" and time.monotonic() - sent < 1.0
                await stream.nothing_for(0.2)


async def test_someone_elses_or_unknown_application_stream_is_404(suite, client, token) -> None:
    app_id = await file(client, await token("applicant-person"), "LR-XK-008", seed=305)
    before = await listeners(suite)
    for who, path in (("applicant-company", f"/v1/applications/{app_id}/stream"),
                      ("applicant-person", "/v1/applications/no-such-application/stream"),
                      ("applicant-person", "/v1/applications/" + "x" * 32 + "/stream")):
        r = await client.get(path, headers=bearer(await token(who)))
        assert r.status_code == 404, (who, path)
        assert r.headers["content-type"].startswith("application/problem+json") and r.json()["status"] == 404
    assert await listeners(suite) == before  # a refused stream leaves no listener behind


async def test_streams_need_a_valid_token(client) -> None:
    for path in ("/v1/applications/stream", "/v1/applications/abc/stream"):
        for headers in ({}, {"Authorization": "Bearer not-a-token"}):
            r = await client.get(path, headers=headers)
            assert r.status_code == 401, (path, headers)
            assert r.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(("query", "headers", "status"), [
    ("?after=-1", {}, 422), ("?after=abc", {}, 422), ("", {"Last-Event-ID": "abc"}, 422),
    ("", {"Last-Event-ID": "-5"}, 422), ("", {"Last-Event-ID": "9" * 40}, 422),
])
async def test_bad_resume_points_are_refused(suite, client, token, query: str, headers: dict, status: int) -> None:
    before = await listeners(suite)
    r = await client.get(f"/v1/applications/stream{query}", headers={**bearer(await token("applicant-person")), **headers})
    assert r.status_code == status and r.headers["content-type"].startswith("application/problem+json")
    assert await listeners(suite) == before


async def test_a_client_leaving_closes_its_stream_behind_the_gateway(suite, client, token) -> None:
    before = await listeners(suite)
    async with open_stream(client, "/v1/applications/stream", await token("officer")):
        await wait_listeners(suite, before + 1)
    # The gateway notices the client went away and closes its upstream request, which ends the listener.
    await wait_listeners(suite, before)
