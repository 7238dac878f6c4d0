"""Every transition of an application through the gateway, with the statutory clock on the
platform calendar (a holiday and a make-up working day inside the period), and every refusal."""
from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import httpx
import pytest

from kit.calendar import WorkingDayCalendar
from kit.contracts import MatterRequirements
from support import (
    all_materials,
    bearer,
    connect_nats,
    make_overdue,
    matter,
    prereviewed_application,
    settled,
    valid_form,
    wait_status,
)

pytestmark = pytest.mark.integration

SHANGHAI = dt.timezone(dt.timedelta(hours=8))






async def prereviewed(client: httpx.AsyncClient, token, code: str = "LR-XK-008", user: str = "applicant-person",
                      seed: int = 0) -> str:
    return await prereviewed_application(client, await token(user), code, seed)


async def act(client: httpx.AsyncClient, tok: str, app_id: str, action: str, **body: Any) -> httpx.Response:
    return await client.post(f"/v1/applications/{app_id}/actions/{action}", json=body, headers=bearer(tok))


async def publish_licence_issued(suite, app_id: str) -> None:
    """What svc-licences sends when it issues the licence (出证)."""
    nc = await connect_nats(suite.nats_admin)
    js = nc.jetstream()
    event_id = uuid.uuid4().hex
    envelope = {"specversion": "1.0", "id": event_id, "source": "/lvrong/licences",
                "type": "lvrong.licences.licence.issued", "time": dt.datetime.now(dt.UTC).isoformat(),
                "subject": app_id, "datacontenttype": "application/json",
                "data": {"licence_id": "lic-" + event_id[:8], "licence_number": "沪绿迁字〔2026〕第0001号",
                         "licence_type": "迁移树木许可决定书", "application_id": app_id,
                         "holder_subject": "u-applicant-person", "issued_at": dt.datetime.now(dt.UTC).isoformat()}}
    try:
        await js.add_stream(name="LVRONG_LICENCES", subjects=["lvrong.licences.>"])
    except Exception:  # it exists once svc-licences has started
        pass
    await js.publish("lvrong.licences.licence.issued", json.dumps(envelope).encode(),
                     headers={"Nats-Msg-Id": event_id})
    await nc.close()


async def test_licence_application_goes_all_the_way_with_its_clock(suite, client, token) -> None:
    applicant, officer, reviewer = [await token(u) for u in ("applicant-person", "officer", "reviewer")]
    app_id = await prereviewed(client, token, seed=101)
    calendar = WorkingDayCalendar(suite.env["CALENDAR_DIR"])

    r = await act(client, officer, app_id, "accept", reason="材料齐全")
    assert r.status_code == 200, r.text
    accepted = r.json()
    today = dt.datetime.now(SHANGHAI).date()
    limit = (await matter(client, applicant, "LR-XK-008"))["statutory_days"]
    clock = accepted["clock"]
    assert clock["started_on"] == today.isoformat() and clock["limit_days"] == limit
    expected_due = calendar.add_working_days(today, limit)
    assert clock["due_date"] == expected_due.isoformat()
    # The test calendar puts a two-day holiday and one make-up working day inside the period.
    naive, d = today, 0
    while d < limit:
        naive += dt.timedelta(days=1)
        d += naive.weekday() < 5
    assert expected_due != naive
    assert clock["working_days_left"] == limit and clock["paused"] is False and clock["overdue"] is False
    assert accepted["stage"] == "review" and accepted["status"] == "accepted"

    assert (await act(client, reviewer, app_id, "review")).json()["status"] == "under_review"
    paused = await act(client, reviewer, app_id, "request_correction", reason="请补充移植方案的施工时间")
    assert paused.status_code == 200 and paused.json()["clock"]["paused"] is True
    assert paused.json()["status"] == "correction_requested"
    # While paused, the applicant sees it and the staff cannot decide.
    assert (await act(client, reviewer, app_id, "approve")).status_code == 409
    m = await matter(client, applicant, "LR-XK-008")
    supplemented = await act(client, applicant, app_id, "supplement", form={m["fields"][0]["key"]: valid_form(m, 7)[m["fields"][0]["key"]]})
    assert supplemented.status_code == 200, supplemented.text
    assert supplemented.json()["status"] == "under_review" and supplemented.json()["clock"]["paused"] is False
    # Paused and resumed on the same day: no working day passed, the due date stands.
    assert supplemented.json()["clock"]["due_date"] == expected_due.isoformat()

    extended = await act(client, reviewer, app_id, "extend", reason="需现场踏勘", working_days=5)
    assert extended.status_code == 200
    assert extended.json()["clock"]["due_date"] == calendar.add_working_days(expected_due, 5).isoformat()
    assert extended.json()["clock"]["limit_days"] == limit + 5 and extended.json()["status"] == "under_review"

    approved = await act(client, reviewer, app_id, "approve", reason="符合条件")
    assert approved.json()["status"] == "approved" and approved.json()["stage"] == "issuance"
    assert approved.json()["clock"]["stopped"] is True
    assert (await act(client, officer, app_id, "complete")).status_code == 409  # the licence is not issued yet
    await publish_licence_issued(suite, app_id)
    issued = await wait_status(client, applicant, app_id, {"licence_issued"})
    assert issued["last_step"]["actor"] == "svc-licences" and issued["last_step"]["details"]["licence_number"]
    done = await act(client, officer, app_id, "complete")
    assert done.json()["status"] == "completed" and done.json()["stage"] == "completed"

    steps = (await client.get(f"/v1/applications/{app_id}/timeline", headers=bearer(applicant))).json()["items"]
    assert [(s["from_status"], s["status"]) for s in steps] == [
        (None, "submitted"), ("submitted", "prereviewed"), ("prereviewed", "accepted"), ("accepted", "under_review"),
        ("under_review", "correction_requested"), ("correction_requested", "under_review"),
        ("under_review", "under_review"), ("under_review", "approved"), ("approved", "licence_issued"),
        ("licence_issued", "completed")]
    # The applicant sees staff by their role, never by who they are; staff see who acted.
    assert steps[2]["actor"] == "窗口工作人员" and steps[3]["actor"] == "审查人员"
    staff_view = (await client.get(f"/v1/applications/{app_id}/timeline", headers=bearer(officer))).json()["items"]
    assert staff_view[2]["actor"] == "u-officer"
    assert steps[4]["reason"] == "请补充移植方案的施工时间" and steps[6]["details"]["working_days"] == 5


async def test_filing_is_completed_without_a_licence(client, token) -> None:
    officer, reviewer = await token("officer"), await token("reviewer")
    app_id = await prereviewed(client, token, code="LR-BA-003", user="applicant-company", seed=5)
    for tok, action in ((officer, "accept"), (reviewer, "review"), (reviewer, "approve")):
        assert (await act(client, tok, app_id, action)).status_code == 200
    r = await act(client, officer, app_id, "complete")
    assert r.status_code == 200 and r.json()["status"] == "completed"


async def test_refusal_and_denial_require_a_reason_and_end_the_application(client, token) -> None:
    officer, reviewer = await token("officer"), await token("reviewer")
    refused_id = await prereviewed(client, token, seed=11)
    missing = await act(client, officer, refused_id, "refuse")
    assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "reason"
    blank = await act(client, officer, refused_id, "refuse", reason="   ")
    assert blank.status_code == 422
    refused = await act(client, officer, refused_id, "refuse", reason="不属于本机关职权范围")
    assert refused.json()["status"] == "refused" and refused.json()["stage"] == "closed"
    after = await act(client, officer, refused_id, "accept")
    assert after.status_code == 409 and after.json()["allowed_actions"] == []

    denied_id = await prereviewed(client, token, seed=12)
    await act(client, officer, denied_id, "accept")
    await act(client, reviewer, denied_id, "review")
    assert (await act(client, reviewer, denied_id, "deny")).status_code == 422
    denied = await act(client, reviewer, denied_id, "deny", reason="古树名木不得迁移")
    assert denied.json()["status"] == "denied" and denied.json()["clock"]["stopped"] is True


async def test_wrong_state_is_409_with_the_actions_possible_now(client, token) -> None:
    reviewer = await token("reviewer")
    app_id = await prereviewed(client, token, seed=21)
    r = await act(client, reviewer, app_id, "approve")
    assert r.status_code == 409 and r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["status_now"] == "prereviewed"
    assert {(a["action"], tuple(a["roles"])) for a in body["allowed_actions"]} == {
        ("accept", ("window_officer",)), ("refuse", ("window_officer",)), ("withdraw", ("applicant",)),
        # Who holds it may change too while it waits on staff (claim, assign, release).
        *((a, ("reviewer", "window_officer")) for a in ("claim", "assign", "release"))}


@pytest.mark.parametrize(("user", "action"), [("reviewer", "accept"), ("applicant-person", "accept"),
                                               ("ops", "refuse"), ("agent", "accept")])
async def test_right_state_wrong_role_is_403_and_changes_nothing(client, token, user: str, action: str) -> None:
    app_id = await prereviewed(client, token, seed=31)
    r = await act(client, await token(user), app_id, action, reason="x")
    assert r.status_code == 403
    now = (await client.get(f"/v1/applications/{app_id}", headers=bearer(await token("officer")))).json()
    assert now["status"] == "prereviewed"


async def test_unknown_action_and_bad_bodies(client, token) -> None:
    officer = await token("officer")
    app_id = await prereviewed(client, token, seed=41)
    assert (await act(client, officer, app_id, "teleport")).status_code == 404
    assert (await act(client, officer, app_id, "accept", working_days=3)).status_code == 422
    assert (await act(client, officer, app_id, "accept", unexpected="x")).status_code == 422
    assert (await act(client, officer, app_id, "accept", form={"a": 1})).status_code == 422
    r = await client.post(f"/v1/applications/{app_id}/actions/accept", content=b"[1,2", headers={
        **bearer(officer), "Content-Type": "application/json"})
    assert r.status_code == 422
    status = (await client.get(f"/v1/applications/{app_id}", headers=bearer(officer))).json()["status"]
    assert status == "prereviewed"
    assert (await act(client, officer, "no-such-application", "accept")).status_code == 404


async def test_extend_needs_days_and_reason_and_a_running_clock(client, token) -> None:
    officer, reviewer = await token("officer"), await token("reviewer")
    app_id = await prereviewed(client, token, seed=51)
    assert (await act(client, reviewer, app_id, "extend", reason="x", working_days=3)).status_code == 409
    await act(client, officer, app_id, "accept")
    assert (await act(client, reviewer, app_id, "extend", reason="需要专家论证")).status_code == 422
    assert (await act(client, reviewer, app_id, "extend", working_days=3)).status_code == 422
    assert (await act(client, reviewer, app_id, "extend", reason="x", working_days=0)).status_code == 422
    assert (await act(client, reviewer, app_id, "extend", reason="x", working_days=61)).status_code == 422
    assert (await act(client, officer, app_id, "extend", reason="x", working_days=3)).status_code == 403


async def test_withdrawal_before_the_decision_only_by_the_applicant(client, token) -> None:
    applicant, officer, reviewer = [await token(u) for u in ("applicant-person", "officer", "reviewer")]
    app_id = await prereviewed(client, token, seed=61)
    await act(client, officer, app_id, "accept")
    await act(client, reviewer, app_id, "review")
    assert (await act(client, await token("applicant-company"), app_id, "withdraw")).status_code == 404
    assert (await act(client, officer, app_id, "withdraw")).status_code == 403
    withdrawn = await act(client, applicant, app_id, "withdraw", reason="项目取消")
    assert withdrawn.json()["status"] == "withdrawn" and withdrawn.json()["clock"]["stopped"] is True
    decided = await prereviewed(client, token, seed=62)
    await act(client, officer, decided, "accept")
    await act(client, reviewer, decided, "review")
    await act(client, reviewer, decided, "approve")
    late = await act(client, applicant, decided, "withdraw")
    assert late.status_code == 409


async def test_correction_loop_after_pre_review(suite, client, token) -> None:
    tok = await token("applicant-company")
    m = await matter(client, tok, "LR-XK-002")
    materials = await all_materials(client, tok, m)
    required = next(x["code"] for x in m["materials"] if x["required"])
    r = await client.post("/v1/applications", json={"matter_code": m["code"], "form": valid_form(m, 71),
                                                    "materials": {k: v for k, v in materials.items() if k != required}},
                          headers=bearer(tok))
    app_id = r.json()["id"]
    returned = await wait_status(client, tok, app_id, {"returned"})
    assert returned["stage"] == "apply" and returned["attempt"] == 1
    assert (await act(client, await token("officer"), app_id, "accept")).status_code == 409
    again = await act(client, tok, app_id, "supplement", materials={required: materials[required]})
    assert again.status_code == 200 and again.json()["status"] == "submitted" and again.json()["attempt"] == 2
    passed = await wait_status(client, tok, app_id, {"prereviewed"})
    assert passed["attempt"] == 2
    steps = (await client.get(f"/v1/applications/{app_id}/timeline", headers=bearer(tok))).json()["items"]
    assert [s["status"] for s in steps] == ["submitted", "returned", "submitted", "prereviewed"]
    assert steps[2]["details"]["changed_materials"] == [required]
    # The new application's event named its (current) matter version; the correction's carried the
    # requirements, its version possibly older than any a consumer set up since has been told of.
    conn = await suite.db("matters")
    try:
        sent = [json.loads(r["matter"]) for r in await conn.fetch(
            "SELECT envelope -> 'data' -> 'matter' AS matter FROM outbox WHERE envelope ->> 'subject' = $1 "
            "AND subject = 'lvrong.matters.application.submitted' ORDER BY position", app_id)]
    finally:
        await conn.close()
    assert [sorted(m) for m in sent] == [["code", "digest", "kind", "version"],
                                         ["code", "fields", "kind", "materials", "version"]]
    assert sent[0]["digest"] == MatterRequirements.model_validate(sent[1]).digest and sent[0]["version"] == 1


async def test_draft_then_submit(suite, client, token) -> None:
    tok = await token("applicant-person")
    m = await matter(client, tok, "LR-XK-007")
    r = await client.post("/v1/applications", json={"matter_code": m["code"], "form": {}, "draft": True},
                          headers=bearer(tok))
    assert r.status_code == 201 and r.json()["status"] == "draft" and r.json()["stage"] == "apply"
    app_id = r.json()["id"]
    # Whatever svc-matters published so far has been handled by the pre-review: a draft is not reviewed.
    await settled(suite, "matters", ["prequal-submissions"])
    assert (await client.get(f"/v1/applications/{app_id}", headers=bearer(tok))).json()["status"] == "draft"
    assert (await client.get(f"/v1/prequal/reviews/{app_id}", headers=bearer(tok))).status_code == 404
    submitted = await act(client, tok, app_id, "submit", form=valid_form(m, 81),
                          materials=await all_materials(client, tok, m))
    assert submitted.status_code == 200 and submitted.json()["status"] == "submitted"
    await wait_status(client, tok, app_id, {"prereviewed"})


async def test_overdue_clock_is_listed_and_flagged(suite, client, token) -> None:
    officer = await token("officer")
    app_id = await prereviewed(client, token, seed=91)
    await act(client, officer, app_id, "accept")
    # Arrange an accepted application whose statutory period ran out (time cannot be waited for here).
    await make_overdue(suite, app_id)
    view = (await client.get(f"/v1/applications/{app_id}", headers=bearer(officer))).json()
    assert view["clock"]["overdue"] is True and view["clock"]["working_days_left"] < 0
    overdue = (await client.get("/v1/applications", params={"overdue": "true", "limit": 100},
                                headers=bearer(officer))).json()["items"]
    assert app_id in {a["id"] for a in overdue} and all(a["overdue"] for a in overdue)
    on_time = (await client.get("/v1/applications", params={"overdue": "false", "limit": 100},
                                headers=bearer(officer))).json()["items"]
    assert app_id not in {a["id"] for a in on_time}
    mine = (await client.get("/v1/applications", params={"overdue": "true"},
                             headers=bearer(await token("applicant-company")))).json()["items"]
    assert app_id not in {a["id"] for a in mine}


@pytest.mark.parametrize("query", [{"from": "2026-13-01"}, {"overdue": "maybe"}, {"status": "flying"},
                                   {"limit": "0"}, {"cursor": "%%%"}])
async def test_bad_list_filters_are_4xx(client, token, query: dict) -> None:
    r = await client.get("/v1/applications", params=query, headers=bearer(await token("officer")))
    assert r.status_code in (400, 422) and r.headers["content-type"].startswith("application/problem+json")


async def test_applicant_cannot_filter_by_applicant(client, token) -> None:
    r = await client.get("/v1/applications", params={"applicant": "u-applicant-company"},
                         headers=bearer(await token("applicant-person")))
    assert r.status_code == 400
