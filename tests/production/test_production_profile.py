"""The suite as production runs it: ``LVRONG_PROFILE=production``, key material only from secret
files an ops person created with the commands of deploy/README.md, every process in a read-only
root filesystem (its own mount namespace, no capabilities) with only its declared data paths
writable, the city's identity platform instead of the development issuer, and two replicas of
svc-matters and of svc-licences on their own ports — the gateway forwards to the first of each,
the test talks to the second directly, as another pod would be reached.

What must hold: a submission with uploaded materials, its licence and a 亮证 verification succeed;
what one replica writes (protected personal data, materials) the other reads; a credential signed
by either licences replica verifies against both replicas' JWKS, which are the same; a licence key
added to the shared Secret is published, and signs, on every replica alike while the old one still
verifies; and every process refuses to start when a secret is missing, writing nothing."""
from __future__ import annotations

import asyncio
import datetime as dt
import errno
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import asyncpg
import base45
import cbor2
import httpx
import pytest
from joserfc import jws
from joserfc.jwk import KeySet
from sqlalchemy.engine import make_url

from gateway.issuer import DEMO_CLIENTS, DEMO_USERS, DevIssuer
from kit.devstack import (
    SERVICE_PORTS,
    LocalNats,
    Suite,
    free_port,
    production_environment,
    read_only_root,
    service_command,
)
from licences.service.keys import SM2Key, create_key, load_key
from support import (
    IDENTITY_PLATFORM,
    all_materials,
    bearer,
    drop_databases,
    eventually,
    matter,
    valid_form,
    wait_status,
    write_test_calendar,
)

# Eight processes migrated and started (module fixture, counted in the first test's time) on a machine
# that may be running other suites: more than the default 300 s is possible without anything wrong.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]  # the working directory of every process, as /app in the image
PREFIX = os.environ.get("LVRONG_TEST_DATABASE_PREFIX", "lvrong_itest") + "_prod"
COMPANY_USCC = "91310115MA1H7GXQ3E"
DATA_PROTECTION_KEY_ID = "dp-2026-12"

# deploy/README.md, "Secrets to create": the same commands, run here as ops would run them.
CREATE_SECRETS = f"""
set -e
mkdir -p data-protection licence-keys audit-chain audit-anchor
head -c 32 /dev/urandom | base64 > data-protection/{DATA_PROTECTION_KEY_ID}.key
printf %s {DATA_PROTECTION_KEY_ID} > data-protection/active-key-id
head -c 32 /dev/urandom | base64 > data-protection/lookup-key
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \\
    -out "licence-keys/$(date -u +%Y%m%dT%H%M%SZ)-initial.pem"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:SM2 \\
    -out "licence-keys/$(date -u +%Y%m%dT%H%M%SZ)-initial-sm2.pem"
openssl rand -base64 32 > audit-chain/2026-12.key
openssl genpkey -algorithm ed25519 -out audit-anchor/2026-12.pem
"$PYTHON" -m kit.natsauth generate nats
"""
SECRETS = ("data-protection", "licence-keys", "audit-chain", "audit-anchor")


def create_secrets(directory: Path) -> dict[str, Path]:
    """The secret directories, made by the documented commands (``uv run python`` is this interpreter)."""
    subprocess.run(["sh", "-c", CREATE_SECRETS], cwd=directory, check=True, env={**os.environ, "PYTHON": sys.executable},
                   stdout=subprocess.DEVNULL)
    return {name: directory / name for name in SECRETS}


class IdentityPlatform:
    """The city's identity platform as the suite sees it: ES256 tokens and a JWKS over HTTP. The
    gateway's development issuer is used here as a library only; the gateway runs with it off."""

    def __init__(self, directory: Path) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.issuer = DevIssuer(directory, issuer=self.url, audience="lvrong", ttl_seconds=3600)
        jwks = json.dumps(self.issuer.jwks()).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # the http.server name
                self.send_response(200 if self.path == "/jwks.json" else 404)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(jwks if self.path == "/jwks.json" else b"{}")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def token(self, name: str) -> str:
        if name in DEMO_CLIENTS:
            return self.issuer.issue(DEMO_CLIENTS[name], client_id=name)["access_token"]
        return self.issuer.issue(DEMO_USERS[name])["access_token"]


@dataclass
class ProductionSuite:
    suite: Suite
    env: dict[str, str]
    secrets: Path
    data: dict[str, Path]
    idp: IdentityPlatform
    started: float  # time.time() before the first process started

    @property
    def gateway(self) -> str:
        return f"http://127.0.0.1:{self.suite.ports['gateway']}"

    def replica(self, service: str, n: int) -> str:
        return f"http://127.0.0.1:{self.suite.instances(service)[n - 1][1]}"

    async def db(self, service: str) -> asyncpg.Connection:
        url = make_url(self.env["DATABASE_URL"])
        return await asyncpg.connect(host=url.host, port=url.port or 5432, user=url.username or "postgres",
                                     password=url.password, database=f"{PREFIX}_{service}")


def _logs(directory: Path) -> str:
    return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in sorted(directory.glob("*.log")))


@pytest.fixture(scope="module")
def production(servers) -> Iterator[ProductionSuite]:
    started = time.time()
    var = Path(tempfile.mkdtemp(prefix="lvrong-production-"))
    secrets = var / "secrets"
    secrets.mkdir()
    mounted = create_secrets(secrets)
    # The declared data paths: svc-matters' upload spool only (materials are kept in its database).
    data = {"tmp": var / "data" / "tmp"}
    for path in data.values():
        path.mkdir(parents=True)
    (var / "logs").mkdir()
    idp = IdentityPlatform(var / "identity-platform")
    # Its own NATS, authenticated with the identities ops generated (secrets/nats), as production's servers are.
    nats = LocalNats(var / "nats", port=free_port(), credentials_dir=secrets / "nats")
    nats.start()
    ports = {name: free_port() for name in SERVICE_PORTS}
    env = production_environment(
        servers.database_url, nats.url, ports=ports, base=os.environ, secrets=mounted,
        nats_credentials_dir=secrets / "nats", auth_issuer=idp.url, auth_jwks_url=idp.url + "/jwks.json")
    env.update(
        DATABASE_NAME_PREFIX=PREFIX, LOG_LEVEL="INFO", TMPDIR=str(data["tmp"]),
        LICENCES_KEY_RELOAD_SECONDS="0.5",  # a rotation is watched, not waited for by the default 30 s
        CALENDAR_DIR=str(write_test_calendar(var / "calendar")["directory"]),
        # A PostgreSQL of 100 connections shared with the integration session's suites (run_sessions.py): ten
        # processes here, whose tests are one request at a time, pool two each (four each ran it out on a slow CI).
        **{f"{s.upper()}_DATABASE_POOL_SIZE": "2" for s in SERVICE_PORTS})
    asyncio.run(drop_databases(servers.database_url, [f"{PREFIX}_{s}" for s in SERVICE_PORTS]))
    # Only svc-matters has writable paths (uploads over 1 MB spool to TMPDIR), as only its pods mount an
    # emptyDir on /tmp; every other process has none at all.
    wrappers = {name: read_only_root(list(data.values()) if name == "matters" else []) for name in SERVICE_PORTS}
    suite = Suite(env, ports=ports, log_dir=var / "logs", wrappers=wrappers, cwd=ROOT,
                  replicas={"matters": [free_port()], "licences": [free_port()]})
    try:
        # The migrations run as the migration Job's containers do: read-only too, nothing writable.
        migrated = subprocess.run([*read_only_root([]), sys.executable, "-m", "kit.migrations"], env=env, cwd=ROOT,
                                  capture_output=True, text=True, timeout=300)
        assert migrated.returncode == 0, migrated.stdout[-2000:] + migrated.stderr[-3000:]
        suite.start(timeout=120)
        suite.wait_ready(timeout=60)
    except Exception as e:
        suite.stop()
        nats.stop()
        pytest.fail(f"the production suite did not start: {e}\n{_logs(var / 'logs')}")
    yield ProductionSuite(suite, env, secrets, data, idp, started)
    suite.stop()
    nats.stop()
    idp.server.shutdown()
    asyncio.run(drop_databases(servers.database_url, [f"{PREFIX}_{s}" for s in SERVICE_PORTS]))
    shutil.rmtree(var, ignore_errors=True)


def test_every_process_runs_read_only_without_capabilities(production: ProductionSuite) -> None:
    """The wrapper really enforces it: each service process can write only to its declared paths (svc-matters:
    its temporary directory; the others: nowhere) and has no capability to remount; a probe started
    the same way finds a write in the working directory or the secrets failing with EROFS, and the
    declared paths taking it."""
    kernel = ("/proc", "/sys", "/dev")
    for name, process in production.suite.processes.items():
        mounts = [line.split() for line in Path(f"/proc/{process.pid}/mountinfo").read_text().splitlines()]
        writable = {m[4] for m in mounts if "rw" in m[5].split(",") and not m[4].startswith(kernel)}
        declared = {str(p) for p in production.data.values()} if name.startswith("matters") else set()
        assert writable == declared, f"{name} can write to {writable}"
        status = dict(line.split(":\t") for line in Path(f"/proc/{process.pid}/status").read_text().splitlines())
        assert int(status["CapEff"], 16) == 0 and int(status["CapBnd"], 16) == 0, name
    probe = """
import os, sys
def write(path):
    try:
        with open(path, "w") as f:
            f.write("x")
    except OSError as e:
        return e.errno
    os.unlink(path)
    return 0
print(*(write(os.path.join(directory, "probe")) for directory in sys.argv[1:]))
"""
    wrapper = read_only_root(list(production.data.values()))
    tried = {ROOT: errno.EROFS, production.secrets / "licence-keys": errno.EROFS, Path("/tmp"): errno.EROFS,
             production.data["tmp"]: 0}
    result = subprocess.run([*wrapper, sys.executable, "-c", probe, *map(str, tried)],
                            env=production.env, cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.split() == [str(e) for e in tried.values()], result.stderr
    remount = subprocess.run([*wrapper, "mount", "-o", "remount,rw", "/"], capture_output=True, text=True)
    assert remount.returncode != 0 and "permission denied" in remount.stderr
    assert not (ROOT / "probe").exists()
    # A development run in this checkout leaves its licence key under var/licences: nothing new there.
    development_keys = ROOT / "var" / "licences"
    assert not [p for p in [development_keys, *development_keys.rglob("*")]
                if p.exists() and p.stat().st_mtime >= production.started]


async def submit(client: httpx.AsyncClient, company: str, seed: int) -> tuple[str, dict[str, str]]:
    """A company's application for a licence (建筑垃圾处置证) with every material uploaded, with a
    contact person's name and mobile (personal data, stored encrypted); (its id, the material ids)."""
    m = await matter(client, company, "LR-XK-002")
    today = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date().isoformat()
    form = {**valid_form(m, seed), "start_date": today, "applicant_uscc": COMPANY_USCC,
            "contact_name": "欧阳娜娜", "contact_mobile": "13912345678"}
    materials = await all_materials(client, company, m)
    r = await client.post("/v1/applications", json={"matter_code": "LR-XK-002", "form": form, "materials": materials},
                          headers=bearer(company))
    assert r.status_code == 201, r.text
    return r.json()["id"], materials


async def approve(client: httpx.AsyncClient, idp: IdentityPlatform, app_id: str) -> str:
    """Accept, review and approve the application once pre-reviewed; the id of the licence issued."""
    await wait_status(client, idp.token("applicant-company"), app_id, {"prereviewed"}, seconds=30)
    for who, action in (("officer", "accept"), ("reviewer", "review"), ("reviewer", "approve")):
        r = await client.post(f"/v1/applications/{app_id}/actions/{action}", json={"reason": "符合条件"},
                              headers=bearer(idp.token(who)))
        assert r.status_code == 200, r.text
    issued = await wait_status(client, idp.token("applicant-company"), app_id, {"licence_issued"}, seconds=30)
    return issued["last_step"]["details"]["licence_id"]


async def test_two_replicas_each_share_data_keys_and_credentials(production: ProductionSuite) -> None:
    company, inspector, partner = (production.idp.token(u) for u in ("applicant-company", "inspector", "partner-js"))
    async with httpx.AsyncClient(base_url=production.gateway, timeout=30) as client:
        # The development issuer is off: tokens come from the identity platform only.
        assert (await client.post("/auth/token", data={"grant_type": "password", "username": "officer",
                                                       "password": "demo"})).status_code == 404

        app_id, materials = await submit(client, company, seed=7)  # through the gateway: the first replica

        async with httpx.AsyncClient(base_url=production.replica("matters", 2), timeout=30) as other:
            # Materials uploaded through one replica download through the other, byte for byte.
            for material_id in materials.values():
                first = await client.get(f"/v1/materials/{material_id}/content", headers=bearer(company))
                second = await other.get(f"/v1/materials/{material_id}/content", headers=bearer(company))
                assert first.status_code == second.status_code == 200, second.text
                assert second.content == first.content and second.content.startswith(b"%PDF")
            # Personal data written by one replica, encrypted under the mounted key, reads through the other.
            mine = (await client.get(f"/v1/applications/{app_id}", headers=bearer(company))).json()
            theirs = await other.get(f"/v1/applications/{app_id}", headers=bearer(company))
            assert theirs.status_code == 200, theirs.text
            assert theirs.json()["form"] == mine["form"]
            assert theirs.json()["form"]["contact_mobile"] in ("13912345678", "139****5678")
        conn = await production.db("matters")
        try:
            stored = json.loads(await conn.fetchval("SELECT form::text FROM applications WHERE id = $1", app_id))
        finally:
            await conn.close()
        assert stored["contact_mobile"]["$protected"].startswith(f"pd1.{DATA_PROTECTION_KEY_ID}.")
        assert "13912345678" not in json.dumps(stored)

        licence_id = await approve(client, production.idp, app_id)

        replicas = [production.replica("licences", 1), production.replica("licences", 2)]
        async with httpx.AsyncClient(timeout=30) as direct:
            # Both replicas publish the keys of the mounted Secret, and nothing else.
            jwks = [(await direct.get(f"{base}/v1/licences/issuer/jwks.json")).json() for base in replicas]
            assert jwks[0] == jwks[1]
            mounted = kids_in(production.secrets / "licence-keys")
            assert {k["kid"] for k in jwks[0]["keys"]} == mounted
            sm2_keys = [(await direct.get(f"{base}/.well-known/sm2-keys.json")).json() for base in replicas]
            assert sm2_keys[0] == sm2_keys[1]  # the mounted SM2 key, published alike by both
            assert {k["kid"] for k in sm2_keys[0]["keys"]} == kids_in(production.secrets / "licence-keys", sm2=True)
            keys = KeySet.import_key_set(jwks[1])
            licence = (await direct.get(f"{replicas[1]}/v1/licences/{licence_id}", headers=bearer(company))).json()
            assert licence["status"] == "active"
            header = jws.deserialize_compact(licence["credential"].split("~")[0], keys, algorithms=["ES256"]).protected
            assert header["kid"] in mounted
            for base in replicas:  # the credential verifies online on either replica
                r = await direct.post(f"{base}/v1/verifications", json={"credential": licence["credential"]},
                                      headers=bearer(partner))
                assert r.status_code == 200 and r.json()["result"] == "valid", r.text
            # 亮证: shown through one replica, verified by the other, both ways.
            for shown_on, checked_on in ((replicas[1], replicas[0]), (replicas[0], replicas[1])):
                shown = await direct.post(f"{shown_on}/v1/licences/{licence_id}/presentations", headers=bearer(company))
                assert shown.status_code == 201, shown.text
                checked = await direct.post(f"{checked_on}/v1/verifications", json={"presentation": shown.json()["token"]},
                                            headers=bearer(inspector))
                assert checked.status_code == 200, checked.text
                assert checked.json()["result"] == "valid" and checked.json()["licence"]["identifier"] == licence["identifier"]
    assert production.suite.failed() == []


def kids_in(directory: Path, *, sm2: bool = False) -> set[str]:
    """The kids of the P-256 (or, ``sm2``, of the SM2) keys in a key directory."""
    return {key.kid for key in map(load_key, directory.glob("*.pem")) if isinstance(key, SM2Key) == sm2}


def presentation_kid(token: str) -> str:
    """The key id (COSE header 4) of a 亮证 presentation (``LR1:`` + base45 of a COSE_Sign1)."""
    sign1 = cbor2.loads(base45.b45decode(token.removeprefix("LR1:")))
    protected, unprotected, *_ = sign1.value if isinstance(sign1, cbor2.CBORTag) else sign1
    return (cbor2.loads(protected).get(4) or unprotected[4]).decode()


async def test_a_rotated_licence_key_reaches_every_replica_and_the_old_one_still_verifies(
        production: ProductionSuite) -> None:
    """Ops add keys to the shared Secret (here: the test writes the files, as the kubelet would update
    the volume): a key activating later is published by every replica at once but signs nowhere; a key
    active now signs on every replica; what the old key signed still verifies on both."""
    company, partner = production.idp.token("applicant-company"), production.idp.token("partner-js")
    keys = production.secrets / "licence-keys"
    published_before = kids_in(keys)
    replicas = [production.replica("licences", 1), production.replica("licences", 2)]
    async with httpx.AsyncClient(base_url=production.gateway, timeout=30) as client:
        app_id, _ = await submit(client, company, seed=8)
        old_credential = (await client.get(f"/v1/licences/{await approve(client, production.idp, app_id)}",
                                           headers=bearer(company))).json()
    now = dt.datetime.now(dt.UTC)
    upcoming = load_key(create_key(keys, now + dt.timedelta(days=2), label="next")).kid
    rotated = load_key(create_key(keys, now - dt.timedelta(seconds=1), label="rotated")).kid

    async with httpx.AsyncClient(timeout=30) as direct:
        async def published() -> list[list[str]]:
            return [[k["kid"] for k in (await direct.get(f"{base}/v1/licences/issuer/jwks.json")).json()["keys"]]
                    for base in replicas]

        expected = published_before | {upcoming, rotated}
        jwks = await eventually(published, lambda found: all(set(kids) == expected for kids in found),
                                "every replica publishing the new keys", seconds=30)
        assert jwks[0] == jwks[1]
        for base in replicas:
            shown = await direct.post(f"{base}/v1/licences/{old_credential['id']}/presentations", headers=bearer(company))
            assert shown.status_code == 201, shown.text
            assert presentation_kid(shown.json()["token"]) == rotated  # neither the old key nor the one ahead
            r = await direct.post(f"{base}/v1/verifications", json={"credential": old_credential["credential"]},
                                  headers=bearer(partner))
            assert r.status_code == 200 and r.json()["result"] == "valid", r.text


MISSING = {
    "gateway": "GATEWAY_DEV_ISSUER_ENABLED is true",
    "matters": "DATA_PROTECTION_KEY_DIR",
    "prequal": "AUDIT_CHAIN_KEY_DIR is not set",
    "licences": "LICENCES_KEY_DIR",
    "helpdesk": "no NATS credentials for helpdesk",
    "knowledge": "AUTH_JWKS_URL is not set",
    "notifications": "DATA_PROTECTION_KEY_DIR",
    "booking": "DATA_PROTECTION_KEY_DIR",
}


def test_every_process_refuses_to_start_without_its_secrets(servers, tmp_path: Path) -> None:
    """Each process with one thing missing (the gateway: its development issuer on) exits non-zero
    naming it, and writes nothing in its (here writable) working directory."""
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    mounted = create_secrets(secrets)
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("DATA_PROTECTION_", "LICENCES_", "GATEWAY_", "AUTH_", "LVRONG_TRACE", "AUDIT_", "NATS_"))}
    complete = production_environment(servers.database_url, "nats://127.0.0.1:1", ports=SERVICE_PORTS, base=base,
                                      secrets=mounted, nats_credentials_dir=secrets / "nats",
                                      auth_issuer=IDENTITY_PLATFORM["AUTH_ISSUER"],
                                      auth_jwks_url=IDENTITY_PLATFORM["AUTH_JWKS_URL"])
    started = {}
    for name in SERVICE_PORTS:
        env = dict(complete)
        if name == "gateway":
            env["GATEWAY_DEV_ISSUER_ENABLED"] = "true"
        elif name == "licences":
            del env["LICENCES_KEY_DIR"]
        elif name == "knowledge":
            del env["AUTH_JWKS_URL"]
        elif name == "prequal":
            del env["AUDIT_CHAIN_KEY_DIR"]
        elif name == "helpdesk":
            del env["NATS_CREDENTIALS_DIR"]
        else:
            del env["DATA_PROTECTION_KEY_DIR"]
        workdir = tmp_path / name
        workdir.mkdir()
        started[name] = subprocess.Popen(service_command(name, free_port()), env=env, cwd=workdir,
                                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for name, process in started.items():
        output, _ = process.communicate(timeout=120)
        assert process.returncode != 0, f"{name} started:\n{output[-2000:]}"
        assert "refuses to start in the production profile" in output and MISSING[name] in output, output[-2000:]
        assert list((tmp_path / name).iterdir()) == [], f"{name} wrote in its working directory"


def test_the_migrations_never_make_a_development_keyring_either(servers, tmp_path: Path) -> None:
    """lvrong-migrate is a process of the profile too: svc-matters' revision that encrypts stored
    personal data stops without the mounted keyring instead of encrypting under a key it made up."""
    prefix = PREFIX + "mig"
    env = production_environment(servers.database_url, "nats://127.0.0.1:1", ports=SERVICE_PORTS, base=os.environ,
                                 secrets={name: tmp_path / "absent" for name in SECRETS},
                                 auth_issuer=IDENTITY_PLATFORM["AUTH_ISSUER"],
                                 auth_jwks_url=IDENTITY_PLATFORM["AUTH_JWKS_URL"])
    del env["DATA_PROTECTION_KEY_DIR"]
    env["DATABASE_NAME_PREFIX"] = prefix
    workdir = tmp_path / "app"
    workdir.mkdir()
    asyncio.run(drop_databases(servers.database_url, [f"{prefix}_matters"]))
    try:
        migrated = subprocess.run([sys.executable, "-m", "kit.migrations", "matters"], env=env, cwd=workdir,
                                  capture_output=True, text=True, timeout=300)
    finally:
        asyncio.run(drop_databases(servers.database_url, [f"{prefix}_matters"]))
    assert migrated.returncode != 0 and "set DATA_PROTECTION_KEY_DIR" in migrated.stderr, migrated.stderr[-2000:]
    assert list(workdir.iterdir()) == []
