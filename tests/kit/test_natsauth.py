"""The platform's NATS identities (kit.natsauth): permissions derived from the contracts and the services'
declared consumers, enforced by a real server; a key rotated without a moment in which the service is
locked out."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path

import nats

from kit.contracts import EVENT_TYPES
from kit.devstack import LocalNats, free_port
from kit.events.consumer import durable_name
from kit.natsauth import NatsClient, generate, platform_buses, platform_permissions, retire, rotate, seed_file


def test_every_producer_has_an_identity_that_may_publish_only_its_own_events_and_its_dead_letters() -> None:
    permissions = platform_permissions()
    producers = {c.source_service for c in EVENT_TYPES.values()}
    assert producers <= set(permissions)
    for bus in platform_buses():
        publish = set(permissions[bus.service].publish)
        assert f"lvrong.{bus.service}.>" in publish
        assert not any(s.startswith("lvrong.") and not s.startswith((f"lvrong.{bus.service}.", "lvrong.deadletter."))
                       for s in publish), publish
        assert {s for s in publish if s.startswith("lvrong.deadletter.")} == {
            f"lvrong.deadletter.{c.durable}" for c in bus.consumes}
        # Its ops identity may republish exactly what the service consumes, nothing it produces.
        if bus.consumes:
            ops = set(permissions[f"ops-{bus.service}"].publish)
            assert {s for s in ops if s.startswith("lvrong.")} == {s for c in bus.consumes for s in c.subjects}


def test_the_declared_consumers_are_the_services_own() -> None:
    from licences.events import subscriptions as licences_subscriptions
    from matters.events import SUBSCRIPTIONS as MATTERS

    buses = {b.service: b for b in platform_buses()}
    assert {c.durable for c in buses["matters"].consumes} == {durable_name("matters", s) for s in MATTERS}
    assert {c.durable for c in buses["licences"].consumes} == {
        durable_name("licences", s) for s in licences_subscriptions(None)}


async def _connects(client: NatsClient) -> bool:
    try:
        nc = await nats.connect(**client.connect_options(), allow_reconnect=False, connect_timeout=3)
    except nats.errors.Error as e:
        assert "Authorization Violation" in str(e)
        return False
    await nc.close()
    return True


async def test_a_rotated_key_is_accepted_beside_the_old_one_until_the_old_one_is_retired(tmp_path: Path) -> None:
    server = LocalNats(tmp_path / "nats", port=free_port())
    server.start()
    credentials = server.credentials_dir
    assert credentials is not None
    old_seed = seed_file(credentials, "matters").read_bytes()
    (tmp_path / "old.nk").write_bytes(old_seed)
    old = NatsClient(server.url, str(tmp_path / "old.nk"), "matters")
    try:
        assert await _connects(old)
        rotate(credentials, "matters")
        server.stop()
        server.start()  # generates the configuration again, as ops run `generate` and reload the server
        new = server.client("matters")
        assert seed_file(credentials, "matters").read_bytes() != old_seed
        assert await _connects(new) and await _connects(old)  # pods on either key keep working meanwhile
        retire(credentials, "matters")
        server.stop()
        server.start()
        assert await _connects(new) and not await _connects(old)
        # The configuration holds public keys only: nothing in it lets anyone connect.
        config = (credentials / "authorization.conf").read_text()
        assert old_seed.strip().decode() not in config
        assert all(u["nkey"].startswith("U") for u in json.loads(config)["authorization"]["users"])
    finally:
        server.stop()


async def test_an_identity_may_not_read_another_identitys_replies(tmp_path: Path) -> None:
    server = LocalNats(tmp_path / "nats", port=free_port())
    server.start()
    errors: list[Exception] = []

    async def record(e: Exception) -> None:
        errors.append(e)

    try:
        helpdesk = await nats.connect(**server.client("helpdesk").connect_options(), error_cb=record)
        try:
            # The replies of JetStream fetches carry the fetched events: another service's are not its to read.
            await helpdesk.subscribe("_INBOX_matters.>")
            await helpdesk.subscribe("_INBOX.>")
            await helpdesk.flush()
            for _ in range(50):
                if len(errors) == 2:
                    break
                await asyncio.sleep(0.05)
            refused = [str(e).lower() for e in errors]
            assert len(refused) == 2 and all("permissions violation for subscription" in e for e in refused), refused
        finally:
            await helpdesk.close()
    finally:
        server.stop()


def test_generate_keeps_existing_seeds(tmp_path: Path) -> None:
    generate(tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.glob("*.nk")}
    generate(tmp_path)
    assert {p.name: p.read_bytes() for p in tmp_path.glob("*.nk")} == before
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in tmp_path.glob("*.nk"))  # secrets: owner only
