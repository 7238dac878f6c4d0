"""Who holds an application: staff register for the workbench, claim, assign to a colleague of the
department, release; the queue by due date, "mine" and "unassigned"; every refusal writes nothing."""
from __future__ import annotations

from typing import Any

import httpx
import pytest

from support import bearer, prereviewed_application

pytestmark = pytest.mark.integration


async def act(client: httpx.AsyncClient, tok: str, app_id: str, action: str, body: Any = None) -> httpx.Response:
    return await client.post(f"/v1/applications/{app_id}/actions/{action}", json=body or {}, headers=bearer(tok))


async def written(suite, app_id: str) -> tuple[Any, ...]:
    """What an action on ``app_id`` writes: steps, events, audit records, the holder."""
    conn = await suite.db("matters")
    try:
        return (await conn.fetchval("SELECT count(*) FROM application_steps WHERE application_id = $1", app_id),
                await conn.fetchval("SELECT count(*) FROM outbox WHERE subject = $1", app_id),
                await conn.fetchval("SELECT count(*) FROM audit_log WHERE resource_id = $1", app_id),
                await conn.fetchval("SELECT assignee_subject FROM applications WHERE id = $1", app_id))
    finally:
        await conn.close()


async def handlers_registered(client: httpx.AsyncClient, token) -> None:
    for user in ("officer", "reviewer"):
        r = await client.put("/v1/applications/handlers/me", headers=bearer(await token(user)))
        assert r.status_code == 200, r.text


async def ids(client: httpx.AsyncClient, tok: str, **params: Any) -> list[str]:
    r = await client.get("/v1/applications", params={"limit": 100, **params}, headers=bearer(tok))
    assert r.status_code == 200, r.text
    return [a["id"] for a in r.json()["items"]]


async def test_claim_assign_and_release_move_the_holder_and_leave_the_status(suite, client, token) -> None:
    officer, reviewer = await token("officer"), await token("reviewer")
    await handlers_registered(client, token)
    listed = (await client.get("/v1/applications/handlers", headers=bearer(officer))).json()
    assert {"u-officer", "u-reviewer"} <= {h["subject"] for h in listed}
    assert next(h for h in listed if h["subject"] == "u-reviewer")["roles"] == ["reviewer"]

    app_id = await prereviewed_application(client, await token("applicant-person"), seed=301)
    view = (await client.get(f"/v1/applications/{app_id}", headers=bearer(officer))).json()
    assert view["assignee"] is None and "claim" in view["allowed_actions"] and "release" not in view["allowed_actions"]
    assert set(view["allowed_actions"]) == {"accept", "refuse", "claim", "assign"}
    assert app_id in await ids(client, officer, assignee="none")

    r = await act(client, officer, app_id, "claim")
    assert r.status_code == 200, r.text
    assert r.json()["assignee"] == "u-officer" and r.json()["status"] == "prereviewed"
    assert set(r.json()["allowed_actions"]) == {"accept", "refuse", "assign", "release"}
    assert app_id in await ids(client, officer, assignee="me")
    assert app_id not in await ids(client, officer, assignee="none")
    assert app_id not in await ids(client, reviewer, assignee="me")

    r = await act(client, officer, app_id, "accept")
    assert r.status_code == 200 and r.json()["assignee"] == "u-officer"
    r = await act(client, officer, app_id, "assign", {"assignee": "u-reviewer", "reason": "请审查"})
    assert r.status_code == 200, r.text
    assert r.json()["assignee"] == "u-reviewer" and r.json()["status"] == "accepted"
    assert app_id in await ids(client, reviewer, assignee="me")
    assert app_id in await ids(client, officer, assignee="u-reviewer")

    r = await act(client, reviewer, app_id, "release")
    assert r.status_code == 200 and r.json()["assignee"] is None

    timeline = (await client.get(f"/v1/applications/{app_id}/timeline", headers=bearer(officer))).json()["items"]
    holding = [(s["action"], s["from_status"], s["status"], s["details"].get("assignee")) for s in timeline
               if s["action"] in ("claim", "assign", "release")]
    assert holding == [("claim", "prereviewed", "prereviewed", "u-officer"),
                       ("assign", "accepted", "accepted", "u-reviewer"), ("release", "accepted", "accepted", None)]
    # The applicant sees the steps by role, never who holds the application.
    mine = (await client.get(f"/v1/applications/{app_id}", headers=bearer(await token("applicant-person")))).json()
    assert mine["assignee"] is None and mine["allowed_actions"] == ["withdraw"]
    conn = await suite.db("matters")
    try:
        audited = await conn.fetch("SELECT action FROM audit_log WHERE resource_id = $1 ORDER BY position", app_id)
    finally:
        await conn.close()
    assert [a["action"] for a in audited if a["action"] in ("application.claim", "application.assign",
                                                           "application.release")] == [
        "application.claim", "application.assign", "application.release"]


async def test_the_queue_sorts_by_due_date_page_by_page(suite, client, token) -> None:
    officer = await token("officer")
    applicant = await token("applicant-person")
    apps = [await prereviewed_application(client, applicant, seed=310 + i) for i in range(3)]
    for app_id in apps:
        assert (await act(client, officer, app_id, "accept")).status_code == 200
    conn = await suite.db("matters")
    try:  # the first one's statutory period ran out a month ago
        await conn.execute("UPDATE applications SET clock_due_date = clock_started_on - 30 WHERE id = $1", apps[0])
    finally:
        await conn.close()
    whole = (await client.get("/v1/applications", params={"sort": "due_date", "limit": 100},
                              headers=bearer(officer))).json()["items"]
    dues = [a["due_date"] for a in whole]
    dated = [d for d in dues if d is not None]
    assert dated == sorted(dated) and dues == dated + [None] * (len(dues) - len(dated))
    first = next(a for a in whole if a["id"] == apps[0])
    assert first["overdue"] is True and first["paused"] is False
    assert [a["id"] for a in whole].index(apps[0]) < min([a["id"] for a in whole].index(x) for x in apps[1:])
    paged: list[str] = []
    cursor = None
    while True:
        r = await client.get("/v1/applications", params={"sort": "due_date", "limit": 2,
                                                          **({"cursor": cursor} if cursor else {})}, headers=bearer(officer))
        assert r.status_code == 200, r.text
        paged += [a["id"] for a in r.json()["items"]]
        cursor = r.json()["next_cursor"]
        if not cursor:
            break
    assert paged[:len(whole)] == [a["id"] for a in whole]


@pytest.mark.parametrize(("user", "query", "status"), [
    ("applicant-person", {"assignee": "me"}, 400),
    ("officer", {"assignee": "a b"}, 422),
    ("officer", {"assignee": "x" * 129}, 422),
    ("officer", {"sort": "priority"}, 422),
    ("officer", {"sort": "due_date", "cursor": "eyJkdWUiOiJub3QtYS1kYXRlIn0"}, 400),
    # {"due": null, "t": "2026-01-01T00:00:00", "id": "x"}: a time without its zone
    ("officer", {"sort": "due_date", "cursor": "eyJkdWUiOm51bGwsInQiOiIyMDI2LTAxLTAxVDAwOjAwOjAwIiwiaWQiOiJ4In0"}, 400),
])
async def test_bad_queue_queries_are_refused(client, token, user: str, query: dict, status: int) -> None:
    r = await client.get("/v1/applications", params=query, headers=bearer(await token(user)))
    assert r.status_code == status and r.headers["content-type"].startswith("application/problem+json")


async def test_who_may_not_handle_applications_is_refused_the_directory(client, token) -> None:
    for user in ("agent", "applicant-person"):
        r = await client.put("/v1/applications/handlers/me", headers=bearer(await token(user)))
        assert r.status_code == 403, r.text
    r = await client.get("/v1/applications/handlers", headers=bearer(await token("applicant-person")))
    assert r.status_code == 403
    handlers = (await client.get("/v1/applications/handlers", headers=bearer(await token("ops")))).json()
    assert "u-agent" not in {h["subject"] for h in handlers}


async def down_scoped(client: httpx.AsyncClient, user: str, scope: str) -> str:
    r = await client.post("/auth/token", data={"grant_type": "password", "username": user, "password": "demo",
                                               "scope": scope})
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


# (who acts, action, body, status, what the problem carries): on an application the officer holds.
REFUSALS = [
    ("applicant-person", "claim", None, 403, None),
    ("agent", "claim", None, 403, None),
    ("officer:read-only", "claim", None, 403, "missing_scopes"),
    ("reviewer", "claim", None, 409, "assignee"),
    ("officer", "claim", None, 409, "assignee"),
    ("reviewer", "release", None, 409, "assignee"),
    ("officer", "claim", {"assignee": "u-reviewer"}, 422, "errors"),
    ("officer", "release", {"assignee": "u-reviewer"}, 422, "errors"),
    ("officer", "assign", None, 422, "errors"),
    ("officer", "assign", {"assignee": ""}, 422, "errors"),
    ("officer", "assign", {"assignee": "x" * 129}, 422, "errors"),
    ("officer", "assign", {"assignee": 7}, 422, "errors"),
    ("officer", "assign", {"assignee": "u-nobody"}, 422, "errors"),
    ("officer", "assign", {"assignee": "u-agent"}, 422, "errors"),
    ("officer", "assign", {"assignee": "u-officer"}, 409, "assignee"),
    ("officer", "assign", {"assignee": "u-reviewer", "extra": 1}, 422, "errors"),
    ("officer", "hand_over", None, 404, "actions"),
]


@pytest.mark.parametrize(("user", "action", "body", "status", "member"), REFUSALS)
async def test_a_refused_holding_action_writes_nothing(suite, client, token, user: str, action: str, body: Any,
                                                       status: int, member: str | None) -> None:
    await handlers_registered(client, token)
    officer = await token("officer")
    app_id = await prereviewed_application(client, await token("applicant-person"), seed=330 + len(user) + len(action))
    assert (await act(client, officer, app_id, "claim")).status_code == 200
    before = await written(suite, app_id)
    caller = (await down_scoped(client, "officer", "applications:read applications:accept")
              if user == "officer:read-only" else await token(user))
    r = await act(client, caller, app_id, action, body)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    if member:
        assert member in r.json(), r.json()
    if member == "assignee":
        assert r.json()["assignee"] == "u-officer"
    assert await written(suite, app_id) == before


async def test_holding_a_finished_or_unknown_application_is_refused(suite, client, token) -> None:
    officer = await token("officer")
    app_id = await prereviewed_application(client, await token("applicant-person"), seed=350)
    assert (await act(client, officer, app_id, "refuse", {"reason": "材料不全"})).status_code == 200
    before = await written(suite, app_id)
    r = await act(client, officer, app_id, "claim")
    assert r.status_code == 409 and r.json()["status_now"] == "refused" and r.json()["allowed_actions"] == []
    assert await written(suite, app_id) == before
    view = (await client.get(f"/v1/applications/{app_id}", headers=bearer(officer))).json()
    assert view["allowed_actions"] == []
    r = await act(client, officer, "0" * 32, "claim")
    assert r.status_code == 404


async def test_only_the_holder_acts_on_a_held_application(suite, client, token) -> None:
    officer, reviewer = await token("officer"), await token("reviewer")
    await handlers_registered(client, token)
    app_id = await prereviewed_application(client, await token("applicant-person"), seed=331)
    assert (await act(client, officer, app_id, "accept")).status_code == 200
    assert (await act(client, officer, app_id, "claim")).status_code == 200
    # The reviewer sees nothing to do on it, and acting anyway is refused with who holds it; nothing is written.
    view = (await client.get(f"/v1/applications/{app_id}", headers=bearer(reviewer))).json()
    assert view["allowed_actions"] == []
    before = await written(suite, app_id)
    for action, body in (("review", {}), ("assign", {"assignee": "u-reviewer"}), ("release", {})):
        r = await act(client, reviewer, app_id, action, body)
        assert r.status_code == 409, (action, r.text)
        assert r.json()["assignee"] == "u-officer" and r.json()["status_now"] == "accepted"
    assert await written(suite, app_id) == before
    # Handed on by its holder, it is the reviewer's to act on.
    assert (await act(client, officer, app_id, "assign", {"assignee": "u-reviewer"})).status_code == 200
    r = await act(client, reviewer, app_id, "review")
    assert r.status_code == 200 and r.json()["status"] == "under_review", r.text
    # …and no longer the officer's.
    r = await act(client, officer, app_id, "release")
    assert r.status_code == 409 and r.json()["assignee"] == "u-reviewer", r.text
