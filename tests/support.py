"""Helpers shared by the test suites: scratch databases, stream resets, valid applications."""
from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import datetime as dt
import importlib
import inspect
import itertools
import json
import os
import random
import secrets
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import asyncpg
import base45
import cbor2
import nats
import pytest
from sqlalchemy.engine import make_url

from kit.identifiers import USCC_CHARSET, resident_id_check_char, uscc_check_char
from kit.natsauth import ADMIN, NatsClient

# The web front end as `make web` builds it; the integration suite's gateway serves it under /app/.
WEB_ROOT = Path(__file__).resolve().parents[1] / "web" / "dist"


async def connect(database_url: str, database: str = "postgres") -> asyncpg.Connection:
    """A raw connection to ``database`` on the server of ``database_url``."""
    url = make_url(database_url)
    return await asyncpg.connect(host=url.host, port=url.port or 5432, user=url.username or "postgres",
                                 password=url.password, database=database)


async def _admin(database_url: str) -> asyncpg.Connection:
    return await connect(database_url)


async def drop_databases(database_url: str, names: list[str]) -> None:
    conn = await _admin(database_url)
    try:
        for name in names:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def recreate_database(database_url: str, name: str) -> str:
    """Drop and create database ``name`` on the server; returns its SQLAlchemy asyncpg URL."""
    await drop_databases(database_url, [name])
    conn = await _admin(database_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    url = make_url(database_url).set(drivername="postgresql+asyncpg", database=name)
    return url.render_as_string(hide_password=False)


def nats_admin(env: Mapping[str, str]) -> NatsClient:
    """The admin identity on the NATS of a suite's environment (its seed in ``NATS_CREDENTIALS_DIR``)."""
    return NatsClient.from_directory(env["NATS_URL"], env.get("NATS_CREDENTIALS_DIR"), ADMIN)


async def connect_nats(client: NatsClient, **options: Any) -> nats.aio.client.Client:
    """A plain NATS connection of a test or tool, as ``client`` (the admin, usually)."""
    return await nats.connect(**client.connect_options(), **{"connect_timeout": 3, **options})


@contextlib.contextmanager
def own_local_nats(name: str) -> Iterator[Any]:
    """A NATS of the caller's own (a module's or a session's) on a free port, with the platform's identities
    and permissions (``kit.natsauth``): for tests that change the server or need streams no other test sees."""
    from kit.devstack import LocalNats, free_port

    server = LocalNats(Path(tempfile.mkdtemp(prefix=f"lvrong-{name}-nats-")), port=free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextlib.asynccontextmanager
async def admin_jetstream(server: Any) -> AsyncIterator[nats.js.JetStreamContext]:
    """The test's own admin connection to ``server`` (a ``LocalNats``), to read streams back or change them."""
    nc = await connect_nats(server.client())
    try:
        yield nc.jetstream(timeout=5)
    finally:
        await nc.close()


@contextlib.asynccontextmanager
async def identity_buses(server: Any, identities: Iterable[str]) -> AsyncIterator[dict[str, Any]]:
    """A connected ``JetStreamBus`` per platform identity on ``server``, as each service's process has."""
    from kit.events import JetStreamBus

    made = {who: JetStreamBus(server.client(who), name=f"test-{who}") for who in identities}
    try:
        for bus in made.values():
            await bus.connect()
        yield made
    finally:
        for bus in made.values():
            await bus.close()


async def drop_streams(client: NatsClient, prefix: str = "LVRONG_") -> None:
    """Remove the platform's JetStream streams so a run starts with no events of an earlier one.

    The tests own the servers they are pointed at: never point them at a production NATS.
    """
    nc = await connect_nats(client)
    try:
        js = nc.jetstream()
        for info in await js.streams_info():
            if info.config.name.startswith(prefix):
                await js.delete_stream(info.config.name)
    finally:
        await nc.close()


async def partner_token(client: Any, client_id: str) -> str:
    """A partner province's system's token (client credentials of the development issuer)."""
    r = await client.post("/auth/token", data={"grant_type": "client_credentials", "client_id": client_id,
                                               "client_secret": "demo"})
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def valid_uscc(rng: random.Random) -> str:
    body = "91310115" + "".join(rng.choice(USCC_CHARSET[:10] + "ABCDEFGH") for _ in range(9))
    return body + uscc_check_char(body)


def valid_resident_id(rng: random.Random) -> str:
    body = "310115" + "19850612" + f"{rng.randrange(1000):03d}"
    return body + resident_id_check_char(body)


_ADDRESSES = itertools.count(1)

# Values the substantive rules (prequal.service.substantive) ask for, where the field's first option or
# minimum would not do: commitments given, facilities in place, a destination and choices that need no
# material beyond the required ones, a depot large enough, this year's declaration.
_SUBSTANTIVE_VALUES: dict[tuple[str, str], Any] = {
    ("LR-XK-001", "destination"): "上海市崇明区", ("LR-XK-001", "product_category"): "timber",
    ("LR-XK-003", "direction"): "export", ("LR-XK-003", "purpose"): "scientific",
    ("LR-XK-004", "direction"): "export",
    ("LR-XK-005", "mounting_position"): "upper_wall",
    ("LR-XK-007", "restoration_committed"): True,
    ("LR-XK-011", "activity"): "use", ("LR-XK-011", "specimen_type"): "product",
    ("LR-XK-012", "public_facility"): True, ("LR-XK-012", "affected_tree_count"): 0,
    ("LR-XK-013", "parking_area_m2"): 500.0,
    ("LR-BA-001", "water_recycling"): True, ("LR-BA-001", "sewage_treatment"): True,
    ("LR-BA-003", "commitment_signed"): True,
}


def valid_form(matter: dict[str, Any], seed: int = 0) -> dict[str, Any]:
    """Every field of ``matter`` filled with a value its pre-review accepts (its required materials supplied)."""
    rng = random.Random(seed)
    today = dt.date.today()
    form: dict[str, Any] = {}
    for f in matter["fields"]:
        key, typ = f["key"], f["type"]
        if (matter.get("code"), key) in _SUBSTANTIVE_VALUES:
            form[key] = _SUBSTANTIVE_VALUES[matter["code"], key]
        elif key == "declaration_year":
            form[key] = today.year
        elif typ == "enum":
            form[key] = f["options"][0]["value"]
        elif typ == "uscc":
            form[key] = valid_uscc(rng)
        elif typ == "resident_id":
            form[key] = valid_resident_id(rng)
        elif typ == "mobile":
            form[key] = "139" + f"{rng.randrange(10**8):08d}"
        elif typ == "district":
            form[key] = "浦东新区"
        elif typ == "date":
            form[key] = (today + dt.timedelta(days=30 if "end" in key else 5)).isoformat()
        elif typ in ("integer", "decimal"):
            value = max(f.get("min") or 1, 1)
            form[key] = int(value) if typ == "integer" else float(value)
        elif typ == "boolean":
            form[key] = False
        elif typ == "address":
            # Another place each time: the pre-review returns a second open application of one subject
            # for the same object (prequal.compare), which identical test forms would otherwise be.
            form[key] = f"上海市浦东新区测试路{next(_ADDRESSES)}号"
        else:
            form[key] = "测试内容"
    return form


def public_service_item(code: str, **changes: Any) -> dict[str, Any]:
    """A complete public-service matter (公共服务事项) in the format of ``POST /v1/matters/import``; ``changes``
    replace top-level keys."""

    item: dict[str, Any] = {
        "code": code, "name_zh": "园林绿化养护技术咨询", "name_en": "Technical advice on landscape maintenance",
        "kind": "public_service", "department": "市绿化市容局", "complexity": "general",
        "statutory_days": 10, "promised_days": 5, "fee": {"amount_fen": 0, "note_zh": "不收费"},
        "legal_basis": ["《上海市绿化条例》第五条"], "conditions_zh": ["本市绿地的养护单位或个人"],
        "channels": ["online", "hall"], "help_video_url": f"https://lhsr.sh.gov.cn/videos/{code}.mp4",
        "licence_type": None,
        "fields": [
            {"key": "contact_name", "label": "联系人", "label_en": "Contact person", "type": "string", "required": True,
             "max_length": 50},
            {"key": "contact_mobile", "label": "联系电话", "label_en": "Contact mobile", "type": "mobile",
             "required": True},
            {"key": "topic", "label": "咨询类别", "label_en": "Topic", "type": "enum", "required": True,
             "options": [{"value": "maintenance", "label": "养护"}, {"value": "planting", "label": "种植"}]},
        ],
        "materials": [{"code": "request_letter", "name": "咨询函", "name_en": "Request letter", "required": True,
                       "file_types": ["pdf"], "max_size_mb": 10, "substitutes": []}],
    }
    item.update(copy.deepcopy(changes))
    return item


PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"


async def upload(client: Any, token: str, name: str = "material.pdf", content: bytes = PDF,
                 content_type: str = "application/pdf") -> Any:
    """POST /v1/materials as a front-end would (multipart field ``file``)."""
    return await client.post("/v1/materials", files={"file": (name, content, content_type)}, headers=bearer(token))


async def all_materials(client: Any, token: str, matter: dict[str, Any]) -> dict[str, str]:
    """Upload a small PDF for every material of ``matter``; returns material code → uploaded id."""
    ids = {}
    for m in matter["materials"]:
        r = (await upload(client, token, f"{m['code']}.pdf") if "pdf" in m["file_types"]
             else await upload(client, token, f"{m['code']}.jpg", JPEG, "image/jpeg"))
        assert r.status_code == 201, r.text
        ids[m["code"]] = r.json()["id"]
    return ids


def write_test_calendar(directory: Any, today: dt.date | None = None) -> dict[str, Any]:
    """An ops-style calendar for the integration suite: this year's and next year's real data where the
    library has it, plus a two-day holiday on the next Wednesday-Thursday and a make-up working day on
    the Saturday after, so every clock started today crosses both. Marked as test data.

    Returns the test holidays and make-up day it added.
    """
    from pathlib import Path

    from kit.calendar import library_years

    today = today or dt.date.today()
    wednesday = today + dt.timedelta(days=(2 - today.weekday()) % 7 or 7)
    added_holidays = [wednesday, wednesday + dt.timedelta(days=1)]
    added_workday = wednesday + dt.timedelta(days=3)  # that Saturday
    known = library_years()
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for year in (today.year, today.year + 1):
        base = known.get(year)
        holidays = set(base.holidays) if base else {dt.date(year, 1, 1)}
        workdays = set(base.workdays) if base else set()
        holidays |= {d for d in added_holidays if d.year == year}
        workdays |= {added_workday} if added_workday.year == year else set()
        workdays -= holidays
        (directory / f"{year}.json").write_text(json.dumps({
            "year": year, "holidays": sorted(d.isoformat() for d in holidays),
            "workdays": sorted(d.isoformat() for d in workdays),
            "source": "integration-test calendar: not an official schedule", "approved_by": "test-suite",
            "approved_at": dt.datetime.now(dt.UTC).isoformat(),
        }, ensure_ascii=False), encoding="utf-8")
    return {"holidays": added_holidays, "workday": added_workday, "directory": directory}


def stall_entry_day(calendar: Any, working_days: int, today: dt.date, extra: int = 0) -> dt.date:
    """A day of entry into a status from which a stall threshold of ``working_days`` has been crossed by
    ``today`` (svc-matters' stalls.py: a stay entered on day d stalls at 00:00 of the (N+1)-th working day
    after d): the day before the (N+1)-th working day on or before today, ``extra`` working days earlier
    still. Counted with ``calendar`` (a ``kit.calendar.WorkingDayCalendar``), never in calendar days."""
    return calendar.add_working_days(today + dt.timedelta(days=1), -(working_days + 1 + extra)) - dt.timedelta(days=1)


@contextlib.contextmanager
def another_replica(env: Mapping[str, str], service: str, log_dir: Path) -> Iterator[str]:
    """Another process of ``service`` with the suite's environment ``env`` (its databases, keys, bus), as a
    second replica would be: its own port, its log in ``log_dir``; yields its URL, stops it afterwards."""
    from kit.devstack import Suite, free_port

    replica = Suite(dict(env), ports={service: free_port()}, log_dir=log_dir)
    try:
        replica.start(timeout=60)
    except Exception:
        replica.stop()
        pytest.fail(f"the second {service} did not start:\n"
                    f"{(log_dir / f'{service}.log').read_text(errors='replace')[-3000:]}")
    try:
        yield f"http://127.0.0.1:{replica.ports[service]}"
    finally:
        replica.stop()


@contextlib.contextmanager
def fresh_suite(prefix: str, var: Any, log_prefix: str = "lvrong-bench-", *,
                expose_suite: bool = False) -> Iterator[tuple[Any, ...]]:
    """The whole suite on free ports with empty databases ``<prefix>_*`` and no old streams, for
    benchmark and generator scripts; yields (environment, ports), or (environment, ports, suite) with
    ``expose_suite``, and stops everything afterwards."""
    from pathlib import Path

    from kit.devstack import SERVICE_PORTS, Servers, Suite, free_port, migrate_all, platform_environment

    servers = Servers.configured_or_local(Path(var), postgres_port=54349, nats_port=free_port())
    ports = {name: free_port() for name in SERVICE_PORTS}
    log_dir = Path(tempfile.mkdtemp(prefix=log_prefix))
    env = platform_environment(servers.database_url, servers.nats_url, ports=ports,
                               nats_credentials_dir=servers.nats_credentials_dir)
    env.update(DATABASE_NAME_PREFIX=prefix, GATEWAY_DEV_ISSUER_KEY_DIR=str(log_dir / "dev-issuer"), LOG_LEVEL="WARNING")
    suite = Suite(env, ports=ports, log_dir=log_dir)
    try:
        asyncio.run(drop_databases(servers.database_url, [f"{prefix}_{s}" for s in SERVICE_PORTS if s != "gateway"]))
        asyncio.run(drop_streams(servers.nats_admin))
        migrate_all(env)
        suite.start()
        suite.wait_ready()
        yield (env, ports, suite) if expose_suite else (env, ports)
    finally:
        suite.stop()
        servers.stop()


async def matter(client: Any, token: str, code: str) -> dict[str, Any]:
    """GET /v1/matters/{code} as a front-end would; fails the test unless it answers 200."""
    r = await client.get(f"/v1/matters/{code}", headers=bearer(token))
    assert r.status_code == 200, r.text
    return r.json()


async def wait_status(client: Any, token: str, app_id: str, wanted: set[str], seconds: float = 15) -> dict[str, Any]:
    """Poll the application until its status is one of ``wanted`` (events arrive asynchronously)."""

    async def application() -> dict[str, Any]:
        r = await client.get(f"/v1/applications/{app_id}", headers=bearer(token))
        assert r.status_code == 200, r.text
        return dict(r.json())

    return await eventually(application, lambda body: body["status"] in wanted, f"{app_id} reaching {wanted}", seconds)


async def wait_for_verdict(client: Any, token: str, app_id: str) -> dict[str, Any]:
    """Wait for the pre-review verdict, whatever it is."""
    return await wait_status(client, token, app_id, {"prereviewed", "returned"})


async def submit_for_verdict(client: Any, token: str, matter_detail: dict[str, Any], form: dict[str, Any],
                             materials: dict[str, Any]) -> dict[str, Any]:
    """Submit an application and return it once the pre-review has decided."""
    r = await client.post("/v1/applications", json={"matter_code": matter_detail["code"], "form": form,
                                                    "materials": materials}, headers=bearer(token))
    assert r.status_code == 201, r.text
    return await wait_for_verdict(client, token, r.json()["id"])


async def prereviewed_application(client: Any, token: str, code: str = "LR-XK-008", seed: int = 0) -> str:
    """The id of an application of ``code`` filed by the holder of ``token`` with a valid form and every
    material, once the pre-review has passed it (预审通过: the window officer's to accept)."""
    m = await matter(client, token, code)
    r = await client.post("/v1/applications", json={"matter_code": code, "form": valid_form(m, seed),
                                                    "materials": await all_materials(client, token, m)},
                          headers=bearer(token))
    assert r.status_code == 201, r.text
    await wait_status(client, token, r.json()["id"], {"prereviewed"})
    return str(r.json()["id"])


async def returned_application(client: Any, token: str, seed: int = 7) -> str:
    """The id of a company's application (LR-XK-002) that the pre-review returns (退回补正): a wrong USCC and a
    required material missing."""
    m = await matter(client, token, "LR-XK-002")
    form = valid_form(m, seed)
    key = next(f["key"] for f in m["fields"] if f["type"] == "uscc")
    form[key] = form[key][:-1] + ("0" if form[key][-1] != "0" else "1")
    required = next(x["code"] for x in m["materials"] if x["required"])
    materials = {k: v for k, v in (await all_materials(client, token, m)).items() if k != required}
    r = await client.post("/v1/applications", json={"matter_code": m["code"], "form": form, "materials": materials},
                          headers=bearer(token))
    assert r.status_code == 201, r.text
    done = await wait_for_verdict(client, token, r.json()["id"])
    assert done["status"] == "returned"
    return str(r.json()["id"])


def holder_code_cti(code: str) -> str:
    """A 一人（企）一码's cti (its row in svc-licences' ``holder_codes``), read with base45 and cbor2 (not
    svc-licences' code)."""
    assert code.startswith("LC1:")
    sign1 = cbor2.loads(base45.b45decode(code[4:]))
    while isinstance(sign1, cbor2.CBORTag) and sign1.tag != 18:
        sign1 = sign1.value
    assert sign1.tag == 18
    claims = cbor2.loads(sign1.value[2])
    return bytes(claims[7]).hex()


async def throughout(seconds: float, holds: Callable[[], Awaitable[bool | str]], what: str) -> None:
    """Keep checking, for ``seconds`` (an outage's length, which is what is being tested), that ``holds``
    answers True: a fault that must last is watched the whole time, never slept through. Any other
    answer fails the test at once with ``what`` and that answer."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        answer = await holds()
        if answer is not True:
            pytest.fail(f"{what} stopped holding: {answer}")
        await asyncio.sleep(min(0.2, max(0.0, deadline - time.monotonic())))


async def until(check: Callable[[], Any], what: str, *, within: float = 15.0) -> Any:
    """Wait for the evidence: ``check`` (plain or async) polled until it answers something true, which is
    returned; after ``within`` seconds the test fails naming ``what``."""
    deadline = time.monotonic() + within
    while True:
        answer = check()
        if inspect.isawaitable(answer):
            answer = await answer
        if answer:
            return answer
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {within:.0f} s")
        await asyncio.sleep(0.05)


async def eventually(probe: Callable[[], Awaitable[Any]], ok: Callable[[Any], bool], what: str,
                     seconds: float = 15) -> Any:
    """Poll ``probe`` until ``ok`` holds of its answer (read models are fed by events); fails with ``what``
    and the last answer."""
    last: list[Any] = []

    async def holds() -> bool:
        last[:] = [await probe()]
        return ok(last[0])

    try:
        await until(holds, what, within=seconds)
    except AssertionError:
        raise AssertionError(f"{what}: {last[0] if last else None}") from None
    return last[0]


@contextlib.asynccontextmanager
async def scratch_service_database(database_url: str, service: str, prefix: str) -> Any:
    """A fresh database of ``service`` migrated to head (named ``<prefix>_<service>``), dropped afterwards."""

    from kit.db import Database
    from kit.migrations import upgrade

    settings = importlib.import_module(f"{service}.app").Settings(database_url=database_url,
                                                                 database_name_prefix=prefix)
    await drop_databases(database_url, [settings.database_name])
    await asyncio.to_thread(upgrade, service, settings)
    database = Database(settings.service_database_url)
    try:
        yield database
    finally:
        await database.dispose()
        await drop_databases(database_url, [settings.database_name])


def percentile(values: list[float], p: float) -> float:
    """The ``p``-th percentile by nearest rank, as the benchmarks report it."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))]


async def issue_quarantine_document(client: Any, officer_token: str, holder_subject: str, *, company: str | None = None,
                                    seed: int = 0) -> dict[str, Any]:
    """A real licence without an application: an officer issues this year's forestry pest transport
    quarantine requirement document (林业有害生物调运检疫要求书) through svc-licences, to a company (by its
    credit code) or a person (by a resident ID number); returns svc-licences' answer."""
    holder = ({"holder_kind": "company", "holder_code": company, "holder_code_type": "uscc"} if company else
              {"holder_kind": "person", "holder_code": valid_resident_id(random.Random(seed)),
               "holder_code_type": "resident_id"})
    body = {"holder_subject": holder_subject, "holder_name": "测试持证人", **holder,
            "year": dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).year, "plant_species": ["香樟"],
            "origin": "上海市浦东新区", "destination_provinces": ["JS"]}
    r = await client.post("/v1/licences/quarantine-documents", json=body, headers=bearer(officer_token))
    assert r.status_code == 201, r.text
    return r.json()


async def publish_as(suite: Any, stream: str, event: Any, *, msg_id: str | None = None) -> None:
    """Put ``event`` on ``stream`` as its producer's relay would (with the admin identity); ``msg_id``
    other than the event id makes the stream keep a second copy: the same event delivered again."""
    nc = await connect_nats(suite.nats_admin)
    try:
        await nc.jetstream().publish(event.type, event.to_json_bytes(), stream=stream,
                                     headers={"Nats-Msg-Id": msg_id or event.id, "Lvrong-Key": event.subject or event.id})
    finally:
        await nc.close()


async def publish_as_licences(env: Mapping[str, str], event: Any, key: str) -> None:
    """Publish ``event`` (a CloudEvent) on svc-licences' stream as its outbox relay would, with its identity."""
    nc = await connect_nats(NatsClient.from_directory(env["NATS_URL"], env.get("NATS_CREDENTIALS_DIR"), "licences"))
    try:
        ack = await nc.jetstream().publish(event.type, event.to_json_bytes(), stream="LVRONG_LICENCES",
                                           headers={"Nats-Msg-Id": event.id, "Lvrong-Key": key})
        assert ack.stream == "LVRONG_LICENCES"
    finally:
        await nc.close()


async def wait_licence_known_to_matters(suite: Any, licence_id: str, status: str = "active",
                                        seconds: float = 15) -> None:
    """Wait until svc-matters' read model of licences (两个免于提交) has the licence in ``status``."""
    await wait_licence_known(suite, "matters", licence_id, status, seconds)


async def wait_licence_known(suite: Any, service: str, licence_id: str, status: str = "active",
                             seconds: float = 15) -> None:
    """Wait until ``service``'s read model of licences (``kit.licence_read_model``) has the licence in
    ``status``: its consumer writes the row in the handler's transaction."""
    await eventually(lambda: _fetchval(suite, service, "SELECT status FROM known_licences WHERE licence_id = $1",
                                       licence_id),
                     lambda found: found == status, f"svc-{service} learning of licence {licence_id} as {status}",
                     seconds)


# The demo company account's unified social credit code (applicant-company).
COMPANY_USCC = "91310115MA1H7GXQ3E"


async def approved_licence(client: Any, token, code: str = "LR-XK-002", user: str = "applicant-company",
                           form: dict[str, Any] | None = None, seed: int = 0) -> tuple[str, dict[str, Any]]:
    """Apply, accept, review and approve; returns (application id, the licence issued for it)."""
    tok = await token(user)
    m = await matter(client, tok, code)
    today = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date().isoformat()
    starts_today = {"start_date": today} if any(f["key"] == "start_date" for f in m["fields"]) else {}
    full = {**valid_form(m, seed), **starts_today,
            **({"applicant_uscc": COMPANY_USCC} if user == "applicant-company" else {}), **(form or {})}
    r = await client.post("/v1/applications", json={"matter_code": code, "form": full,
                                                    "materials": await all_materials(client, tok, m)},
                          headers=bearer(tok))
    assert r.status_code == 201, r.text
    app_id = r.json()["id"]
    await wait_status(client, tok, app_id, {"prereviewed"})
    officer, reviewer = await token("officer"), await token("reviewer")
    for who, action in ((officer, "accept"), (reviewer, "review"), (reviewer, "approve")):
        assert (await client.post(f"/v1/applications/{app_id}/actions/{action}", json={"reason": "符合条件"},
                                  headers=bearer(who))).status_code == 200
    issued = await wait_status(client, tok, app_id, {"licence_issued"})
    licence_id = issued["last_step"]["details"]["licence_id"]
    r = await client.get(f"/v1/licences/{licence_id}", headers=bearer(tok))
    assert r.status_code == 200, r.text
    return app_id, r.json()



async def make_overdue(suite: Any, app_id: str) -> None:
    """Move an accepted application's statutory period into the past (started 60 days ago, due 30 days
    ago): time cannot be waited for in a test."""
    await _fetchval(suite, "matters", "UPDATE applications SET clock_started_on = clock_started_on - 60, "
                                      "clock_due_date = clock_started_on - 30 WHERE id = $1", app_id)


# --- evidence that something was handled (never a sleep before asserting that nothing happened) ------

async def _fetchval(suite: Any, service: str, query: str, *args: Any) -> Any:
    conn = await suite.db(service)
    try:
        return await conn.fetchval(query, *args)
    finally:
        await conn.close()


async def handled(suite: Any, service: str, event_id: str, *, consumer: str | None = None,
                  seconds: float = 15) -> str:
    """Wait until ``service`` recorded ``event_id`` in its ``processed_events`` (by the durable consumer
    ``consumer``, or by any of its consumers); returns the consumer. The record is written in the
    handler's own transaction, so whatever the event changed (or did not change) is committed by then.

    ``suite`` is anything with ``async db(service) -> asyncpg.Connection`` (the integration suite)."""

    return str(await until(
        lambda: _fetchval(suite, service, "SELECT consumer FROM processed_events WHERE event_id = $1 "
                                          "AND ($2::text IS NULL OR consumer = $2) LIMIT 1", event_id, consumer),
        f"svc-{service} handling event {event_id}" + (f" (consumer {consumer})" if consumer else ""), within=seconds))


async def ticked(suite: Any, service: str, job: str, *, ticks: int = 1, seconds: float = 15) -> None:
    """Wait until ``ticks`` runs of ``service``'s periodic ``job`` (``kit.scheduling``) that began after
    this call have committed: each claims its tick in ``processed_events`` in the job's own transaction,
    stamped with that transaction's start, so such a run saw everything committed before this call."""

    since = await _fetchval(suite, service, "SELECT clock_timestamp()")
    consumer = f"scheduler:{job}"[:128]
    await eventually(lambda: _fetchval(suite, service, "SELECT count(*) FROM processed_events WHERE consumer = $1 "
                                                       "AND handled_at > $2", consumer, since),
                     lambda ran: ran >= ticks, f"svc-{service}'s job {job} running {ticks} ticks (ran)", seconds)


async def consumers_settled(client: NatsClient, stream: str, durables: list[str] | None = None, *,
                            seconds: float = 15) -> int:
    """Wait until every durable consumer ``durables`` of ``stream`` (default: all of them) has handled
    and acknowledged everything the stream held when this was called; returns that last sequence.

    A consumer is through when its ack floor reached the stream's last sequence, or — a consumer
    filtered to some subjects never sees the messages past its last match — when nothing matching its
    filter is left undelivered (``num_pending``) or unacknowledged (``num_ack_pending``). A message is
    acknowledged after its handler's transaction committed, so its effects are visible by then."""

    nc = await connect_nats(client)
    try:
        js = nc.jetstream()
        last = (await js.stream_info(stream)).state.last_seq
        waiting = durables if durables is not None else [c.name for c in await js.consumers_info(stream)]
        behind: dict[str, str] = {}

        async def through() -> bool:
            nonlocal waiting
            behind.clear()
            for name in waiting:
                info = await js.consumer_info(stream, name)
                if not (info.ack_floor.stream_seq >= last or (info.num_pending == 0 and info.num_ack_pending == 0)):
                    behind[name] = (f"ack floor {info.ack_floor.stream_seq}, pending {info.num_pending}, "
                                    f"unacknowledged {info.num_ack_pending}")
            waiting = list(behind)
            return not behind

        try:
            await until(through, f"consumers of {stream} through sequence {last}", within=seconds)
        except AssertionError as e:
            raise AssertionError(f"{e}: {behind}") from None
        return last
    finally:
        await nc.close()


async def outbox_published(suite: Any, service: str, *, seconds: float = 15) -> None:
    """Wait until ``service``'s outbox relay has published every event written before this call."""

    written = await _fetchval(suite, service, "SELECT coalesce(max(position), 0) FROM outbox")
    await eventually(lambda: _fetchval(suite, service, "SELECT count(*) FROM outbox WHERE published_at IS NULL "
                                                       "AND position <= $1", written),
                     lambda waiting: waiting == 0, f"svc-{service} publishing its outbox (events left)", seconds)


async def settled(suite: Any, producer: str, durables: list[str] | None = None, *, seconds: float = 15) -> int:
    """Wait until every event ``producer`` wrote before this call is on its stream and each consumer
    ``durables`` of that stream (all by default) has handled and acknowledged it; returns the stream's
    last sequence. What those events could cause has then happened, so its absence can be asserted.

    ``suite`` is anything with ``env`` (``NATS_URL``, ``NATS_CREDENTIALS_DIR``) and ``async db(service)``."""
    from kit.events.envelope import stream_name

    await outbox_published(suite, producer, seconds=seconds)
    return await consumers_settled(nats_admin(suite.env), stream_name(producer), durables, seconds=seconds)


async def stream_events(client: NatsClient, stream: str, subject: str) -> list[dict[str, Any]]:
    """Every CloudEvent on ``subject`` (wildcards allowed) that ``stream`` holds now, in order (as many as
    the stream counts for the matching subjects when called, so nothing is waited for by a timeout)."""

    nc = await connect_nats(client)
    try:
        js = nc.jetstream()
        info = await js.stream_info(stream, subjects_filter=subject)
        expected = sum((info.state.subjects or {}).values())
        found: list[dict[str, Any]] = []
        if expected:
            sub = await js.subscribe(subject, stream=stream, ordered_consumer=True)
            try:
                while len(found) < expected:
                    found.append(json.loads((await sub.next_msg(timeout=10)).data))
            finally:
                await sub.unsubscribe()
        return found
    finally:
        await nc.close()


# --- the production profile (tests/kit/test_profile.py, tests/production/) ----------------------

IDENTITY_PLATFORM = {"AUTH_ISSUER": "https://id.example.gov.cn", "AUTH_JWKS_URL": "https://id.example.gov.cn/jwks"}


def random_base64(n: int) -> str:

    return base64.b64encode(secrets.token_bytes(n)).decode()


def write_keyring(directory: Any, kids: list[str], active: str | None = None) -> Any:
    """A data-protection keyring directory as ops write it: ``<kid>.key``, ``active-key-id``,
    ``lookup-key`` (with the trailing newlines ``echo`` and ``base64`` leave)."""
    directory.mkdir(parents=True, exist_ok=True)
    for kid in kids:
        (directory / f"{kid}.key").write_text(random_base64(32) + "\n")
    if active:
        (directory / "active-key-id").write_text(active + "\n")
    (directory / "lookup-key").write_text(random_base64(32) + "\n")
    return directory


def enter_production_profile(monkeypatch: Any, tmp_path: Any) -> Any:
    """``LVRONG_PROFILE=production`` with a database server configured and none of the other settings
    it checks inherited, in a working directory of its own (``tmp_path / "app"``, returned)."""

    for name in ("DATA_PROTECTION_KEYS", "DATA_PROTECTION_KEY_DIR", "DATA_PROTECTION_LOOKUP_KEY", "LVRONG_TRACE_DIR",
                 "AUTH_ISSUER", "AUTH_JWKS_URL", "GATEWAY_DEV_ISSUER_ENABLED", "LICENCES_KEY_DIR", "MATTERS_BLOB_DIR",
                 "NATS_CREDENTIALS_DIR", "AUDIT_CHAIN_KEY_DIR", "AUDIT_ANCHOR_KEY_DIR"):
        monkeypatch.delenv(name, raising=False)
    for name in [n for n in os.environ if n.endswith(("_NATS_SEED_FILE", "_NATS_OPS_SEED_FILE"))]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("LVRONG_PROFILE", "production")
    monkeypatch.setenv("DATABASE_URL", "postgresql://lvrong@pg.example.internal:5432/postgres")
    workdir = tmp_path / "app"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    return workdir


def mount_service_secrets(monkeypatch: Any, directory: Any, identities: list[str]) -> Any:
    """Everything a service's pod is given in production, as deploy/README.md "Secrets to create" makes
    it — a data-protection keyring, NKey seeds for ``identities`` (kit.natsauth), an audit chain key and
    an anchor key — with the variables pointing at it, and the identity platform; ``directory`` returned."""

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from kit.natsauth import ensure_seeds

    monkeypatch.setenv("DATA_PROTECTION_KEY_DIR", str(write_keyring(directory / "data-protection", ["k1"])))
    for name, value in IDENTITY_PLATFORM.items():
        monkeypatch.setenv(name, value)
    ensure_seeds(directory / "nats", identities)
    (directory / "audit-chain").mkdir(parents=True)
    (directory / "audit-chain" / "2026-12.key").write_text(base64.b64encode(secrets.token_bytes(32)).decode() + "\n")
    (directory / "audit-anchor").mkdir()
    (directory / "audit-anchor" / "2026-12.pem").write_bytes(Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    for variable, sub in (("NATS_CREDENTIALS_DIR", "nats"), ("AUDIT_CHAIN_KEY_DIR", "audit-chain"),
                          ("AUDIT_ANCHOR_KEY_DIR", "audit-anchor")):
        monkeypatch.setenv(variable, str(directory / sub))
    return directory
