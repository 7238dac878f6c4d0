"""Help videos (帮办微视频, issue 21) through the gateway: editors set a matter's video — a link or an
uploaded MP4/WebM — each change a new guide version carrying it (history kept, audited), the cached guide
page dropped at once; an import's new version carries the video; anyone watches an upload; bad inputs
change nothing."""
from __future__ import annotations

from typing import Any

import httpx
import pytest

from support import bearer, public_service_item

pytestmark = pytest.mark.integration

CODE = "LR-GG-961"
MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00\x00\x00\x08free" + bytes(range(256)) * 4
WEBM = b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01" + bytes(64)


async def fetch(suite, query: str, *args: Any) -> Any:
    conn = await suite.db("matters")
    try:
        return await conn.fetchval(query, *args)
    finally:
        await conn.close()


async def guide(client: httpx.AsyncClient, tok: str, headers: dict | None = None) -> httpx.Response:
    return await client.get(f"/v1/matters/{CODE}", headers={**bearer(tok), **(headers or {})})


@pytest.fixture(scope="module")
async def matter_without_video(client, token) -> None:
    r = await client.post("/v1/matters/import", json=[public_service_item(CODE, help_video_url=None)],
                          headers=bearer(await token("ops")))
    assert r.status_code == 200 and r.json()["results"][0]["outcome"] in ("created", "unchanged"), r.text


async def test_an_editor_sets_links_and_uploads_each_a_new_guide_version(suite, client, token, matter_without_video) -> None:
    editor, person = await token("editor"), await token("applicant-person")
    before = await guide(client, person)
    etag, start = before.headers["etag"], before.json()["version"]
    assert before.json()["help_video"] is None

    link = "https://lhsr.sh.gov.cn/videos/help/LR-GG-961-v2.mp4"
    r = await client.put(f"/v1/matters/{CODE}/help-video", json={"url": link}, headers=bearer(editor))
    assert r.status_code == 200, r.text
    assert r.json()["version"] == start + 1 and r.json()["help_video_url"] == link
    assert r.json()["help_video"]["source"] == "link" and r.json()["help_video"]["url"] == link
    # The cached guide is dropped: the old ETag gets the new guide, the new one a 304.
    after = await guide(client, person, {"If-None-Match": etag})
    assert after.status_code == 200 and after.json()["help_video_url"] == link and after.headers["etag"] != etag
    assert (await guide(client, person, {"If-None-Match": after.headers["etag"]})).status_code == 304
    # The same link again changes nothing.
    again = await client.put(f"/v1/matters/{CODE}/help-video", json={"url": link}, headers=bearer(editor))
    assert again.status_code == 200 and again.json()["version"] == start + 1

    up = await client.put(f"/v1/matters/{CODE}/help-video/file", files={"file": ("指引.mp4", MP4, "video/mp4")},
                          headers=bearer(editor))
    assert up.status_code == 200, up.text
    video = up.json()["help_video"]
    assert up.json()["version"] == start + 2 and video["source"] == "upload" and video["content_type"] == "video/mp4"
    assert video["size"] == len(MP4) and up.json()["help_video_url"] == f"/v1/help-videos/{video['id']}/content"
    same = await client.put(f"/v1/matters/{CODE}/help-video/file", files={"file": ("again.mp4", MP4, "video/mp4")},
                            headers=bearer(editor))
    assert same.json()["version"] == start + 2 and same.json()["help_video"]["id"] == video["id"]
    # Anyone watches it, without a token, as the guide is public information.
    watched = await client.get(up.json()["help_video_url"])
    assert watched.status_code == 200 and watched.content == MP4
    assert watched.headers["content-type"] == "video/mp4"

    # History: each guide version with the video it carried; the earlier version is still readable as it was.
    history = (await client.get(f"/v1/matters/{CODE}/help-video/versions", headers=bearer(person))).json()
    assert [(h["version"], h["help_video_url"]) for h in history[:3]] == [
        (start + 2, up.json()["help_video_url"]), (start + 1, link), (start, None)]
    assert history[0]["is_current"] and not history[1]["is_current"]
    old = (await client.get(f"/v1/matters/{CODE}/versions/{start + 1}", headers=bearer(person))).json()
    assert old["help_video"]["url"] == link

    # An import publishing the guide's next version (a changed name) carries its video.
    imported = await client.post("/v1/matters/import", json=[public_service_item(
        CODE, help_video_url=None, name_zh="园林绿化养护技术咨询（新）")], headers=bearer(await token("ops")))
    assert imported.json()["results"][0]["outcome"] == "new_version", imported.text
    current = (await guide(client, person)).json()
    assert current["version"] == start + 3 and current["help_video"]["id"] == video["id"]

    # Removing it is one more version; every change is audited.
    removed = await client.delete(f"/v1/matters/{CODE}/help-video", headers=bearer(await token("ops")))
    assert removed.status_code == 200 and removed.json()["help_video"] is None and removed.json()["help_video_url"] is None
    assert removed.json()["version"] == start + 4
    actions = await fetch(suite, "SELECT array_agg(action ORDER BY position) FROM audit_log WHERE resource_id = $1", CODE)
    assert actions[-3:] == ["matter.help_video_set", "matter.help_video_set", "matter.help_video_removed"]
    assert await fetch(suite, "SELECT count(*) FROM help_videos WHERE matter_code = $1", CODE) == 2


async def test_webm_is_accepted(client, token, matter_without_video) -> None:
    r = await client.put(f"/v1/matters/{CODE}/help-video/file", files={"file": ("v.webm", WEBM, "video/webm")},
                         headers=bearer(await token("editor")))
    assert r.status_code == 200 and r.json()["help_video"]["content_type"] == "video/webm", r.text


@pytest.mark.parametrize(("user", "status"), [("applicant-person", 403), ("reviewer", 403), ("agent", 403),
                                              (None, 401)])
async def test_only_editors_and_ops_set_videos(suite, client, token, matter_without_video, user, status) -> None:
    headers = bearer(await token(user)) if user else {}
    versions = await fetch(suite, "SELECT count(*) FROM matter_versions WHERE code = $1", CODE)
    for r in (await client.put(f"/v1/matters/{CODE}/help-video", json={"url": "https://example.org/v.mp4"}, headers=headers),
              await client.put(f"/v1/matters/{CODE}/help-video/file", files={"file": ("v.mp4", MP4, "video/mp4")},
                               headers=headers),
              await client.delete(f"/v1/matters/{CODE}/help-video", headers=headers)):
        assert r.status_code == status, r.text
    assert await fetch(suite, "SELECT count(*) FROM matter_versions WHERE code = $1", CODE) == versions


@pytest.mark.parametrize(("call", "status"), [
    (("PUT", "", {"json": {"url": "http://example.org/v.mp4"}}), 422),
    (("PUT", "", {"json": {"url": "https://example.org/v.mp4", "title": "x"}}), 422),
    (("PUT", "", {"json": {"url": "https://" + "a" * 500}}), 422),
    (("PUT", "", {"json": {}}), 422),
    (("PUT", "/file", {"files": {"file": ("v.mp4", b"%PDF-1.4 not a video", "video/mp4")}}), 422),
    (("PUT", "/file", {"files": {"file": ("v.mp4", b"", "video/mp4")}}), 422),
    (("PUT", "/file", {"data": {"x": "1"}}), 422),
])
async def test_bad_videos_change_nothing(suite, client, token, matter_without_video, call, status) -> None:
    method, suffix, kwargs = call
    versions = await fetch(suite, "SELECT count(*) FROM matter_versions WHERE code = $1", CODE)
    videos = await fetch(suite, "SELECT count(*) FROM help_videos")
    r = await client.request(method, f"/v1/matters/{CODE}/help-video{suffix}", headers=bearer(await token("editor")),
                             **kwargs)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert await fetch(suite, "SELECT count(*) FROM matter_versions WHERE code = $1", CODE) == versions
    assert await fetch(suite, "SELECT count(*) FROM help_videos") == videos


async def test_unknown_matters_and_videos(client, token) -> None:
    editor = bearer(await token("editor"))
    assert (await client.put("/v1/matters/LR-ZZ-999/help-video", json={"url": "https://example.org/v.mp4"},
                             headers=editor)).status_code == 404
    assert (await client.get("/v1/matters/LR-ZZ-999/help-video/versions", headers=editor)).status_code == 404
    assert (await client.get(f"/v1/help-videos/{'0' * 32}/content")).status_code == 404
    assert (await client.get("/v1/help-videos/not-an-id/content")).status_code == 422
