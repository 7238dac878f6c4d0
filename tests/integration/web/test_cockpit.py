"""The ops cockpit (/app/cockpit): ops log in and see the plan's promises against their targets and the
charts of the platform's own figures, each chart drawn and readable as a table, each table as a CSV.

The data is made through the API first: applications submitted and accepted (one approved), a help-desk
ticket answered, a question asked of the assistant."""
from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from browser_support import OpenPage, check_accessibility, log_in, screenshot
from playwright.async_api import Page, expect

from support import all_materials, bearer, matter, valid_form, wait_status

pytestmark = pytest.mark.integration

FILING = "LR-BA-002"  # a filing of 市绿化市容局分类处: approved is its decision


async def act(client: httpx.AsyncClient, tok: str, app_id: str, action: str) -> None:
    r = await client.post(f"/v1/applications/{app_id}/actions/{action}", json={}, headers=bearer(tok))
    assert r.status_code == 200, r.text


@pytest.fixture(scope="module")
async def figures_made(client: httpx.AsyncClient, token) -> None:
    applicant, officer, reviewer = [await token(u) for u in ("applicant-company", "officer", "reviewer")]
    m = await matter(client, applicant, FILING)
    ids = []
    for seed in (7101, 7102):
        r = await client.post("/v1/applications", json={"matter_code": FILING, "form": valid_form(m, seed),
                                                        "materials": await all_materials(client, applicant, m)},
                              headers=bearer(applicant))
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    for app_id in ids:
        await wait_status(client, applicant, app_id, {"prereviewed"})
        await act(client, officer, app_id, "accept")
    await act(client, reviewer, ids[0], "review")
    await act(client, reviewer, ids[0], "approve")

    person = bearer(await token("applicant-person"))
    r = await client.post("/v1/tickets", json={"subject": "迁移树木许可需要哪些材料？", "matter_code": "LR-XK-008"},
                          headers=person)
    assert r.status_code == 201, r.text
    r = await client.post(f"/v1/tickets/{r.json()['id']}/messages", json={"body": "需要申请表和现场照片。"},
                          headers=bearer(await token("agent")))
    assert r.status_code == 201, r.text

    r = await client.post("/v1/assistant/sessions", json={"channel": "web"}, headers=person)
    assert r.status_code == 201, r.text
    r = await client.post(f"/v1/assistant/sessions/{r.json()['id']}/messages", json={"text": "迁移树木需要什么材料"},
                          headers=person)
    assert r.status_code in (200, 201), r.text


async def table_rows(page: Page, figure: str) -> list[list[str]]:
    return await page.locator(f"#{figure}-table tbody tr").evaluate_all(
        "rows => rows.map(r => [...r.cells].map(c => c.textContent.trim()))")


async def painted_pixels(page: Page, figure: str) -> int:
    """How many pixels of the chart's canvas are not blank (Chart.js draws into it, nothing else does)."""
    return await page.locator(f"#{figure}-canvas").evaluate(
        "c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;"
        " for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; }")


async def open_cockpit(open_page: OpenPage, viewport: str) -> Page:
    page = await open_page("/app/cockpit", viewport=viewport)
    await log_in(page, "ops")
    await expect(page.locator("#volume-table")).to_be_attached()
    return page


def shown(value: Any) -> str:
    return "—" if value is None else str(value)


async def test_ops_see_every_promise_and_chart_with_its_data(open_page: OpenPage, client: httpx.AsyncClient, token,
                                                             figures_made, tmp_path: Path) -> None:
    page = await open_cockpit(open_page, "desktop")
    period = {"from": await page.locator("#period-from").input_value(), "to": await page.locator("#period-to").input_value()}
    ops = bearer(await token("ops"))

    # The promises, each beside its target, met or not in words — as the figures say (the suite's other
    # tests have filed and answered much besides this module's own, so the figures are read, not assumed).
    prereview = page.locator("#promise-prereview")
    await expect(prereview).to_contain_text("≥ 90.0 %")
    await expect(prereview).to_contain_text(f"{period['from']} – {period['to']}")
    counted = re.search(r"(\d+) / (\d+)", await prereview.inner_text())
    assert counted and int(counted[2]) >= 2, await prereview.inner_text()
    await expect(prereview).to_contain_text(f"{100 * int(counted[1]) / int(counted[2]):.1f} %")
    knowledge = (await client.get("/v1/knowledge/reports", params=period, headers=ops)).json()
    assistant = knowledge["assistant"]
    assert assistant["sessions"] >= 1
    await expect(page.locator("#promise-assistant")).to_contain_text(f"{assistant['resolved']} / {assistant['sessions']}")
    # Each promise shows the definition the API returns beside its number (issue 21): first-time acceptance
    # divides by every application whose acceptance was decided, the assistant counts confirmed answers only.
    await expect(page.locator("#promise-first-time")).to_contain_text("已作出受理决定的办件（受理或不予受理）")
    await expect(page.locator("#promise-assistant")).to_contain_text(knowledge["definitions"]["assistant"][
        "resolution_rate"]["numerator_zh"])
    await expect(page.locator("#promise-assistant")).to_contain_text(f"未确认 {assistant['unconfirmed']}")
    promise_rows = await table_rows(page, "promises")
    assert {r[0] for r in promise_rows} >= {"智能预审覆盖率", "人工首次响应 ≤ 60 秒", "12345 三方转接接通率"}
    for name, value, target, verdict in (row[:4] for row in promise_rows):
        assert target.startswith("≥ ") and target.endswith(" %"), target
        if value == "—":
            assert verdict == "无数据", name
        else:
            met = float(value.removesuffix(" %")) >= float(target[2:].removesuffix(" %"))
            assert verdict == ("达标" if met else "未达标"), (name, value, target, verdict)
    assert dict((r[0], r[3]) for r in promise_rows)["人工首次响应 ≤ 60 秒"] != "无数据"  # a ticket was answered

    # Volume and time per stage over time: the tables are the API's series, bucket by bucket.
    series = (await client.get("/v1/cockpit/series", params={**period, "interval": "day"}, headers=ops)).json()
    assert len(series["buckets"]) == 30
    volume = await table_rows(page, "volume")
    assert volume == [[b["start"], *(shown(b[k]) for k in ("received", "accepted", "decided", "overdue"))]
                      for b in series["buckets"]]
    today = series["buckets"][-1]
    assert today["received"] >= 2 and today["accepted"] >= 2 and today["decided"] >= 1
    stages = await table_rows(page, "stages")
    assert stages[-1][0] == today["start"]
    assert [float(x) for x in stages[-1][1:] if x != "—"] == [s["median_hours"] for s in today["stage_times"]]

    # Backlog and overdue now, per matter, as the cockpit reports them.
    cockpit = (await client.get("/v1/cockpit", params=period, headers=ops)).json()
    backlog = {r[0].split(" ")[0]: r[1:3] for r in await table_rows(page, "backlog")}
    assert backlog[FILING] == [str(next(m for m in cockpit["matters"] if m["matter_code"] == FILING)[k])
                               for k in ("backlog", "overdue")]

    # Every chart with data is drawn: its canvas has an accessible name and painted pixels.
    for figure in ("promises", "volume", "stages", "backlog"):
        canvas = page.locator(f"#{figure}-canvas")
        assert await canvas.get_attribute("role") == "img"
        assert (await canvas.get_attribute("aria-label") or "").strip()
        assert await painted_pixels(page, figure) > 500, figure

    # The CSV of a chart has the rows its table shows.
    async with page.expect_download() as download_info:
        await page.locator("#volume-title").locator("..").get_by_role("button", name="下载 CSV").click()
    download = await download_info.value
    assert download.suggested_filename == f"cockpit-volume-all-{period['from']}-{period['to']}.csv"
    path = tmp_path / "volume.csv"
    await download.save_as(path)
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
    assert rows[0] == ["期间起", "收件", "受理", "决定", "现超期"]
    assert [[("—" if c == "" else c) for c in row] for row in rows[1:]] == volume

    await check_accessibility(page)
    await screenshot(page, "cockpit-desktop")


async def test_one_matter_by_week_and_in_english(open_page: OpenPage, client: httpx.AsyncClient, token,
                                                 figures_made) -> None:
    page = await open_cockpit(open_page, "desktop")
    await page.get_by_label("事项", exact=True).select_option(FILING)
    await page.get_by_label("时间粒度", exact=True).select_option("week")
    await page.get_by_role("button", name="查询").click()
    period = {"from": await page.locator("#period-from").input_value(), "to": await page.locator("#period-to").input_value()}
    series = (await client.get("/v1/cockpit/series", params={**period, "matter": FILING, "interval": "week"},
                               headers=bearer(await token("ops")))).json()
    expected = [[b["start"], *(str(b[k]) for k in ("received", "accepted", "decided", "overdue"))] for b in series["buckets"]]
    await expect(page.locator("#volume-table tbody tr")).to_have_count(len(expected))
    assert await table_rows(page, "volume") == expected
    verdict = await page.locator("#promise-prereview .badge").inner_text()
    await page.get_by_role("button", name="English").click()
    await expect(page.locator("#promise-prereview .badge")).to_have_text(
        {"达标": "Met", "未达标": "Not met", "无数据": "No data"}[verdict])
    await check_accessibility(page)


async def test_the_cockpit_on_a_phone(open_page: OpenPage, figures_made) -> None:
    page = await open_cockpit(open_page, "phone")
    await expect(page.locator("#promise-prereview .badge")).to_have_text(re.compile("^(达标|未达标)$"))
    # Stacked: the charts are one column, as wide as the screen allows.
    boxes = [await page.locator(f"#{f}-title").locator("..").bounding_box() for f in ("volume", "stages")]
    assert boxes[0] and boxes[1] and boxes[0]["x"] == boxes[1]["x"] and boxes[1]["y"] > boxes[0]["y"]
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    await check_accessibility(page)
    await screenshot(page, "cockpit-phone")
