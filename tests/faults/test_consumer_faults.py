"""Consumer faults on a NATS server of the test's own, with the real PostgreSQL:

- a consumer process killed with SIGKILL in the middle of handling an event: the event is delivered
  again to the next consumer and its effect is applied exactly once — whether the kill came before
  the handler's transaction committed or after it committed but before the acknowledgement;
- a poison event (its handler keeps failing): after the bounded deliveries it lands on
  ``lvrong.deadletter.<durable>``, the events behind it keep flowing, and ops list it and replay it
  through the service's ``/v1/ops/<service>/deadletters`` API after the fix; it is then applied once.
"""
from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
import uvicorn
from prometheus_client import REGISTRY
from pydantic_settings import SettingsConfigDict
from sqlalchemy import text

import kit.app
import kit.events.outbox  # registers outbox and processed_events on platform_metadata
from gateway.issuer import DEMO_USERS, DevIssuer
from kit.app import ServiceDefinition, create_service_app
from kit.auth import TokenVerifier
from kit.db import Database, platform_metadata
from kit.devstack import LocalNats, LocalPostgres, free_port
from kit.events import CloudEvent, EventConsumer, EventSubscription, JetStreamBus
from kit.events.envelope import stream_name, stream_subjects
from kit.settings import ServiceSettings
from support import bearer, consumers_settled, recreate_database, until

HERE = Path(__file__).resolve().parent


async def _effects_database(own_postgres: LocalPostgres, name: str) -> Database:
    url = await recreate_database(own_postgres.url, name)
    database = Database(url, pool_size=4)
    async with database.engine.begin() as conn:
        await conn.run_sync(platform_metadata.create_all)
        await conn.execute(text("CREATE TABLE effects (id bigserial PRIMARY KEY, event_id text NOT NULL)"))
    return database


async def _effects(database: Database) -> list[str]:
    async with database.session() as session:
        return list((await session.execute(text("SELECT event_id FROM effects ORDER BY id"))).scalars())


def _event(producer: str, **data: Any) -> CloudEvent:
    return CloudEvent(source=f"/lvrong/{producer}", type=f"lvrong.{producer}.thing.happened", subject="thing-1",
                      data=data)


@pytest.mark.parametrize("mode", ["before_commit", "after_commit"])
async def test_a_consumer_killed_mid_handling_gets_the_event_again_and_applies_it_once(
        mode: str, own_postgres: LocalPostgres, own_nats: LocalNats, fault_prefix: str, tmp_path: Path) -> None:
    producer = f"faultsrc{uuid.uuid4().hex[:8]}"
    database = await _effects_database(own_postgres, f"{fault_prefix}_crash_{mode}")
    bus = JetStreamBus(own_nats.client(), name="faulttest")
    await bus.connect()
    survivor: asyncio.Task[None] | None = None
    try:
        await bus.ensure_stream(stream_name(producer), stream_subjects(producer))
        event = _event(producer, n=1)
        await bus.publish(event.type, event.to_json_bytes(), msg_id=event.id)
        marker = tmp_path / "in-the-middle"
        crashing = await asyncio.create_subprocess_exec(sys.executable, str(HERE / "crashing_consumer.py"), own_nats.url,
                                                        str(own_nats.client().seed_file),
                                                        database.url, producer, event.type, mode, str(marker))
        try:
            await until(marker.exists, "the consumer in the middle of handling", within=30)
        finally:
            crashing.send_signal(signal.SIGKILL)
            await crashing.wait()
        assert crashing.returncode == -signal.SIGKILL
        assert len(await _effects(database)) == (1 if mode == "after_commit" else 0)

        # The next replica of the consumer binds the same durable and gets the event once its
        # acknowledgement wait (2 s) has passed.
        async def handler(session: Any, ev: CloudEvent) -> None:
            await session.execute(text("INSERT INTO effects (event_id) VALUES (:id)"), {"id": ev.id})

        consumer = EventConsumer(database, bus, "crashtest", EventSubscription("things", producer, [event.type], handler))
        consumer.spec.ack_wait_seconds = 2.0  # as the crashed replica declared it (a differing one would be applied)
        survivor = asyncio.create_task(consumer.run())
        js = await bus.jetstream()

        async def settled() -> bool:
            info = await js.consumer_info(stream_name(producer), consumer.durable)
            return info.num_ack_pending == 0 and info.num_pending == 0 and info.delivered.stream_seq == 1

        await until(settled, "the event redelivered and acknowledged", within=20)
        assert await _effects(database) == [event.id]  # applied exactly once in all
        info = await js.consumer_info(stream_name(producer), consumer.durable)
        assert info.delivered.consumer_seq >= 2  # it was delivered again after the kill
        outcome = "duplicate" if mode == "after_commit" else "applied"
        assert REGISTRY.get_sample_value("lvrong_events_handled_total", {
            "consumer": consumer.durable, "type": event.type, "outcome": outcome}) == 1
    finally:
        if survivor is not None:
            survivor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await survivor
        await bus.close()
        await database.dispose()


# --- poison events and the dead-letter API --------------------------------------------------------

class FaultSettings(ServiceSettings):
    model_config = SettingsConfigDict(extra="ignore", env_prefix="FAULTTEST_")
    service_name: ClassVar[str] = "faulttest"


class PoisonService:
    """A service whose handler fails on events marked poison while ``broken`` is set (the bug)."""

    def __init__(self, producer: str) -> None:
        self.producer = producer
        self.broken = True

    async def handle(self, session: Any, event: CloudEvent) -> None:
        if event.data.get("poison") and self.broken:
            raise RuntimeError("the handler cannot cope with this event")
        await session.execute(text("INSERT INTO effects (event_id) VALUES (:id)"), {"id": event.id})


@pytest.fixture(scope="module")
async def poison_service(own_postgres: LocalPostgres, own_nats: LocalNats, fault_prefix: str) -> AsyncIterator[dict[str, Any]]:
    producer = f"faultsrc{uuid.uuid4().hex[:8]}"
    database = await _effects_database(own_postgres, f"{fault_prefix}_faulttest")
    service = PoisonService(producer)
    kit.app.OPERATIONS_METRICS_SECONDS = 0.3  # the gauges refreshed quickly enough to be watched here
    settings = FaultSettings(database_url=own_postgres.url, database_name_prefix=fault_prefix,
                             nats_url=own_nats.url, nats_seed_file=own_nats.client().seed_file, consumer_max_deliver=3, log_level="WARNING",
                             database_pool_size=3)
    app = create_service_app(ServiceDefinition(
        settings=settings, title="fault test", description="a service with a poison-sensitive handler",
        subscriptions=[EventSubscription("things", producer, [f"lvrong.{producer}.>"], service.handle)],
        produces_events=False))
    issuer = DevIssuer(Path(tempfile.mkdtemp(prefix="lvrong-faults-issuer-")), issuer="http://faults.test",
                       audience="lvrong", ttl_seconds=600)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    serving = asyncio.create_task(server.serve())
    await until(lambda: server.started, "the fault-test service", within=20)

    async def local_keys() -> dict[str, Any]:
        return issuer.jwks()

    app.state.token_verifier = TokenVerifier(local_keys, issuer="http://faults.test", audience="lvrong")
    bus = JetStreamBus(own_nats.client(), name="faulttest-publisher")
    await bus.connect()
    await bus.ensure_stream(stream_name(producer), stream_subjects(producer))
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=20) as client:
        yield {"client": client, "bus": bus, "service": service, "database": database, "producer": producer,
               "nats_admin": own_nats.client(),
               "ops": issuer.issue(DEMO_USERS["ops"])["access_token"],
               "applicant": issuer.issue(DEMO_USERS["applicant-person"])["access_token"]}
    server.should_exit = True
    await serving
    kit.app.OPERATIONS_METRICS_SECONDS = 15.0
    await bus.close()
    await database.dispose()


async def _dead_letters(client: httpx.AsyncClient, token: str, **params: Any) -> list[dict[str, Any]]:
    r = await client.get("/v1/ops/faulttest/deadletters", params=params, headers=bearer(token))
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def test_a_poison_event_is_dead_lettered_the_rest_flows_and_ops_replay_it_after_the_fix(
        poison_service: dict[str, Any]) -> None:
    client, bus, service, database = (poison_service[k] for k in ("client", "bus", "service", "database"))
    ops, producer = poison_service["ops"], poison_service["producer"]
    poison = _event(producer, n=0, poison=True)
    good = [_event(producer, n=i) for i in range(1, 21)]
    for event in [poison, *good]:
        await bus.publish(event.type, event.to_json_bytes(), msg_id=event.id)

    async def poison_dead_lettered() -> bool:
        return len(await _dead_letters(client, ops)) == 1 and len(await _effects(database)) == 20

    await until(poison_dead_lettered, "the poison dead-lettered and the 20 others applied", within=30)
    assert set(await _effects(database)) == {e.id for e in good}  # the rest flowed, the poison had no effect
    [letter] = await _dead_letters(client, ops)
    assert letter["consumer"] == "faulttest-things" and letter["original_subject"] == poison.type
    assert letter["original_stream"] == stream_name(producer) and letter["replayable"] is True
    assert letter["error"].startswith("RuntimeError: the handler cannot cope")
    assert letter["event"]["id"] == poison.id and letter["event"]["type"] == poison.type
    r = await client.get(f"/v1/ops/faulttest/deadletters/{letter['sequence']}", headers=bearer(ops))
    assert r.status_code == 200 and r.json()["dead_letter"] == letter
    metrics = (await client.get("/metrics")).text
    assert 'lvrong_events_dead_lettered_total{consumer="faulttest-things"} 1.0' in metrics
    assert 'lvrong_event_redeliveries_total{consumer="faulttest-things"} 2.0' in metrics

    async def gauges_show(*lines: str) -> bool:
        text = (await client.get("/metrics")).text
        return all(line in text for line in lines)

    # What ops alert on: one dead letter waiting, nothing pending, no outbox backlog.
    await until(lambda: gauges_show('lvrong_dead_letters{consumer="faulttest-things"} 1.0',
                                    'lvrong_consumer_lag{consumer="faulttest-things"} 0.0',
                                    'lvrong_consumer_ack_pending{consumer="faulttest-things"} 0.0',
                                    'lvrong_outbox_unpublished{service="faulttest"} 0.0'),
                "the operations gauges", within=10)

    # The fix is deployed; ops replay the dead letter: applied once, and gone from the list.
    service.broken = False
    r = await client.post(f"/v1/ops/faulttest/deadletters/{letter['sequence']}/replay", headers=bearer(ops))
    assert r.status_code == 200, r.text
    assert r.json()["action"] == "replayed" and r.json()["dead_letter"]["event"]["id"] == poison.id

    async def applied() -> bool:
        return poison.id in await _effects(database)

    await until(applied, "the replayed event applied", within=15)
    # Everything on the stream handled and acknowledged: a second delivery of it would have been by now.
    await consumers_settled(poison_service["nats_admin"], stream_name(producer), ["faulttest-things"])
    effects = await _effects(database)
    assert effects.count(poison.id) == 1 and len(effects) == 21
    assert await _dead_letters(client, ops) == []
    r = await client.post(f"/v1/ops/faulttest/deadletters/{letter['sequence']}/replay", headers=bearer(ops))
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")
    await until(lambda: gauges_show('lvrong_dead_letters{consumer="faulttest-things"} 0.0'), "no dead letter waiting",
                within=10)


async def test_a_message_that_is_no_event_can_only_be_discarded(poison_service: dict[str, Any]) -> None:
    client, bus, ops, producer = (poison_service[k] for k in ("client", "bus", "ops", "producer"))
    await bus.publish(f"lvrong.{producer}.thing.happened", b"{not an event", msg_id=uuid.uuid4().hex)

    async def listed() -> bool:
        return len(await _dead_letters(client, ops)) == 1

    await until(listed, "the malformed message dead-lettered", within=15)
    [letter] = await _dead_letters(client, ops)
    assert letter["replayable"] is False and letter["event"] is None and letter["raw_base64"]
    r = await client.post(f"/v1/ops/faulttest/deadletters/{letter['sequence']}/replay", headers=bearer(ops))
    assert r.status_code == 409 and r.json()["title_en"]
    assert len(await _dead_letters(client, ops)) == 1  # refused: nothing changed
    r = await client.delete(f"/v1/ops/faulttest/deadletters/{letter['sequence']}", headers=bearer(ops))
    assert r.status_code == 200 and r.json()["action"] == "discarded"
    assert await _dead_letters(client, ops) == []


@pytest.mark.parametrize(("method", "path", "params", "who", "status"), [
    ("GET", "", {}, None, 401),
    ("GET", "", {}, "applicant", 403),
    ("POST", "/1/replay", {}, "applicant", 403),
    ("DELETE", "/1", {}, "applicant", 403),
    ("GET", "/999999", {}, "ops", 404),
    ("POST", "/999999/replay", {}, "ops", 404),
    ("DELETE", "/999999", {}, "ops", 404),
    ("GET", "/0", {}, "ops", 422),
    ("GET", "/abc", {}, "ops", 422),
    ("GET", "", {"cursor": "%%%"}, "ops", 400),
    ("GET", "", {"cursor": "eyJhZnRlciI6LTF9"}, "ops", 400),  # {"after":-1}
    ("GET", "", {"limit": 0}, "ops", 422),
    ("GET", "", {"limit": 1000}, "ops", 422),
])
async def test_the_dead_letter_api_refuses_bad_calls_and_changes_nothing(
        poison_service: dict[str, Any], method: str, path: str, params: dict[str, Any], who: str | None,
        status: int) -> None:
    client, bus, ops, producer = (poison_service[k] for k in ("client", "bus", "ops", "producer"))
    headers = bearer(poison_service[who]) if who else {}
    before = await _dead_letters(client, ops)
    r = await client.request(method, f"/v1/ops/faulttest/deadletters{path}", params=params, headers=headers)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert await _dead_letters(client, ops) == before


async def test_another_services_dead_letters_are_not_listed_or_replayable(poison_service: dict[str, Any]) -> None:
    client, bus, ops = (poison_service[k] for k in ("client", "bus", "ops"))
    await bus.ensure_stream("LVRONG_DEADLETTER", ["lvrong.deadletter.>"])
    await bus.publish("lvrong.deadletter.othersvc-things", b"{}", msg_id=uuid.uuid4().hex,
                      headers={"Lvrong-Consumer": "othersvc-things", "Lvrong-Original-Subject": "lvrong.othersvc.x.y"})
    js = await bus.jetstream()
    info = await js.stream_info("LVRONG_DEADLETTER")
    assert await _dead_letters(client, ops) == []
    r = await client.post(f"/v1/ops/faulttest/deadletters/{info.state.last_seq}/replay", headers=bearer(ops))
    assert r.status_code == 404
    assert (await js.stream_info("LVRONG_DEADLETTER")).state.last_seq == info.state.last_seq
