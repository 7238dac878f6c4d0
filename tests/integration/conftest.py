"""The six processes of the platform, started once for the integration suite, against the real
PostgreSQL and NATS; tests talk to the gateway as a front-end would."""
from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest
from notification_servers import HttpGateway, SmtpServer
from sqlalchemy.engine import make_url

from kit.devstack import SERVICE_PORTS, Suite, free_port, migrate_all, platform_environment
from kit.natsauth import NatsClient
from support import WEB_ROOT, drop_databases, drop_streams, nats_admin, write_test_calendar

SERVICES = list(SERVICE_PORTS)  # the gateway too: it keeps its rate-limit counters in a database
# Overridable so that several test runs can share one PostgreSQL server (each with its own NATS).
DATABASE_PREFIX = os.environ.get("LVRONG_TEST_DATABASE_PREFIX", "lvrong_itest")


@dataclass
class RunningSuite:
    gateway: str
    ports: dict[str, int]
    env: dict[str, str]
    log_dir: Path
    suite: Suite

    @property
    def nats_admin(self) -> NatsClient:
        """The admin identity on the suite's NATS: what a test connects as to look at streams."""
        return nats_admin(self.env)

    def direct(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    async def db(self, service: str) -> asyncpg.Connection:
        url = make_url(self.env["DATABASE_URL"])
        return await asyncpg.connect(host=url.host, port=url.port or 5432, user=url.username or "postgres",
                                     password=url.password, database=f"{DATABASE_PREFIX}_{service}")


async def _reset(database_url: str, nats: NatsClient) -> None:
    await drop_databases(database_url, [f"{DATABASE_PREFIX}_{s}" for s in SERVICES])
    await drop_streams(nats)


@dataclass
class ChannelServers:
    smtp: SmtpServer
    http: HttpGateway


@pytest.fixture(scope="session")
def channel_servers() -> ChannelServers:
    """The outside channels' servers svc-notifications sends to (e-mail, SMS, 随申办 push)."""
    smtp, http = SmtpServer().start(), HttpGateway().start()
    yield ChannelServers(smtp, http)
    smtp.stop()
    http.stop()


@pytest.fixture(scope="session")
def suite(servers, channel_servers: ChannelServers) -> RunningSuite:
    ports = {name: free_port() for name in SERVICE_PORTS}
    log_dir = Path(tempfile.mkdtemp(prefix="lvrong-itest-"))
    env = platform_environment(servers.database_url, servers.nats_url, ports=ports,
                               nats_credentials_dir=servers.nats_credentials_dir)
    env["DATABASE_NAME_PREFIX"] = DATABASE_PREFIX
    env["GATEWAY_DEV_ISSUER_KEY_DIR"] = str(log_dir / "dev-issuer")
    env["LOG_LEVEL"] = os.environ.get("LOG_LEVEL", "INFO")
    env["GATEWAY_WEB_ROOT"] = str(WEB_ROOT)
    env["CALENDAR_DIR"] = str(write_test_calendar(log_dir / "calendar")["directory"])
    # Stall detection every half second, and one threshold from the environment: 退回补正 (off by
    # default) stalls after 3 working days. Tests make applications idle by moving status_since back.
    env["MATTERS_STALL_DETECTION_INTERVAL_SECONDS"] = "0.5"
    env["MATTERS_STALL_THRESHOLDS"] = '{"returned": {"working_days": 3}}'
    # Each audited service anchors its audit chain's head every 2 s (production: every 5 minutes).
    env["AUDIT_ANCHOR_INTERVAL_SECONDS"] = "2"
    # svc-licences re-checks recognised partner documents against their partners' status lists every second.
    env["LICENCES_PARTNER_RECHECK_SECONDS"] = "1"
    # svc-notifications sends to the local channel servers, every 0.2 s, retrying after 0.2 s doubling;
    # without quiet hours, which tests/notifications checks under a frozen clock.
    env.update(NOTIFICATIONS_SMTP_HOST="127.0.0.1", NOTIFICATIONS_SMTP_PORT=str(channel_servers.smtp.port),
               NOTIFICATIONS_SMS_URL=channel_servers.http.url("/sms"),
               NOTIFICATIONS_PUSH_URL=channel_servers.http.url("/push"), NOTIFICATIONS_CHANNEL_TOKEN="itest-channel",
               NOTIFICATIONS_QUIET_HOURS="", NOTIFICATIONS_DELIVERY_INTERVAL_SECONDS="0.2",
               NOTIFICATIONS_RETRY_BASE_SECONDS="0.2")
    asyncio.run(_reset(servers.database_url, servers.nats_admin))
    migrate_all(env)
    suite = Suite(env, ports=ports, log_dir=log_dir)
    try:
        suite.start(timeout=60)
        suite.wait_ready(timeout=60)
    except Exception:
        suite.stop()
        logs = "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in log_dir.glob("*.log"))
        pytest.fail(f"the suite did not start:\n{logs}")
    yield RunningSuite(f"http://127.0.0.1:{ports['gateway']}", ports, env, log_dir, suite)
    suite.stop()


async def problem_status_is_the_code(response: httpx.Response) -> None:
    """Every problem any service or the gateway answers in these tests: RFC 9457 reserves ``status``
    for the response's code (a thing's own state is ``status_now``)."""
    if response.headers.get("content-type", "").startswith("application/problem+json"):
        await response.aread()
        status = response.json().get("status")
        assert status == response.status_code, (
            f"{response.request.method} {response.request.url.path}: problem status {status!r}, code {response.status_code}")


@pytest.fixture(scope="session")
async def client(suite: RunningSuite) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=suite.gateway, timeout=30,
                                 event_hooks={"response": [problem_status_is_the_code]}) as c:
        yield c


_tokens: dict[str, str] = {}


@pytest.fixture(scope="session")
def token(client: httpx.AsyncClient):
    async def get(username: str) -> str:
        if username not in _tokens:
            r = await client.post("/auth/token", data={"grant_type": "password", "username": username, "password": "demo"})
            assert r.status_code == 200, r.text
            _tokens[username] = r.json()["access_token"]
        return _tokens[username]

    return get
