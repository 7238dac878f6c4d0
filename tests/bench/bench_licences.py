"""svc-licences' speed: presentation verification in process, issuing a status list of 1,000,000
licences, and online verification through the gateway beside a bare endpoint in the same run; each
with ES256 and with SM2 (国密, SM2-with-SM3 on Tongsuo) side by side.

0. The signatures alone, one core: ES256 (cryptography) and SM2 (``kit.gm.sm2``) sign and verify of
   the same 300-byte message, per second.
1. In process, one core: ``verify_presentation`` (base45, COSE_Sign1 ES256 or SM2 signature, lifetime)
   plus the status read from a cached status list, over ``--presentations`` distinct presentations.
2. A status list of 1,000,000 licences (2 bits each, 1% revoked, 1% suspended): zlib + ES256 JWT,
   as ``GET /v1/licences/status-lists/{id}`` does when the list changed (the bits are kept up to date
   in place in PostgreSQL, so no scan of the licences is needed).
3. The whole suite on free ports (``fresh_suite``); ``--licences`` licences issued by svc-licences'
   own issuing code into its database, one distinct presentation per request signed with the
   service's key (ES256 ``LR1:`` and SM2 ``LS1:`` ones); then ``wrk`` (``-t1 -c32``) for ``--seconds``:
   ``POST /v1/verifications`` through the gateway with ES256 then SM2 presentations, the same straight
   to svc-licences, and ``GET /healthz`` of svc-licences (bare); ``--rounds`` repeats the pairs in
   alternating order (ES256 first, then SM2 first) so that a change of the machine's load between two
   runs does not favour one algorithm.
   Every verification is recorded and each presentation is used once. The callers are anonymous, as an
   inspector's phone on /app/verify is (``--as inspector`` sends that user's token instead); the gateway's
   per-address limit for anonymous callers is raised for the run by configuration (``GATEWAY_RATE_LIMITS``).
   Beside each rate, the CPU each request cost svc-licences, the gateway and the PostgreSQL backends of
   their databases (from /proc): on a machine other work shares, a steadier measure than the rate. Each
   process's CPU with no request at all is measured for 3 s before each run and also shown subtracted
   ("less idle work"): at a low rate (a loaded machine) the background jobs' share per request grows.

Needs ``wrk`` (``apt-get install wrk``).
``--profile``: py-spy samples svc-licences' and the gateway's processes during each wrk run (raw
collapsed stacks, their paths printed; their own time per function: ``--top``).

Usage: python tests/bench/bench_licences.py [--presentations 20000] [--seconds 10] [--licences 200] [--as USER] [--profile]
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(Path(__file__).parent))

from bench_gateway import parse_wrk  # noqa: E402
from bench_prequal import cpu_seconds  # noqa: E402

from support import fresh_suite  # noqa: E402

# Its own databases on the shared server (BENCH_LICENCES_PREFIX: two runs side by side must not share them).
PREFIX = os.environ.get("BENCH_LICENCES_PREFIX", "lvrong_bench_lic")
IDLE_SECONDS = 3.0
WRK_SCRIPT = """
local bodies = {}
for line in io.lines("%s") do bodies[#bodies + 1] = line end
local i = 0
local headers = {["Content-Type"] = "application/json"}
if "%s" ~= "" then headers["Authorization"] = "Bearer %s" end
request = function()
  i = i + 1
  if i > #bodies then i = 1 end
  return wrk.format("POST", "/v1/verifications", headers, bodies[i])
end
local shown = 0
response = function(status, headers, body)
  if status ~= 200 and shown < 3 then
    shown = shown + 1
    io.stderr:write(status .. " " .. string.sub(body, 1, 300) .. "\\n")
  end
end
"""


def primitives(n: int) -> dict[str, float]:
    """Sign and verify per second on one core: ES256 (cryptography) and SM2 (kit.gm.sm2, Tongsuo)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    from kit.gm import sm2

    message = bytes(random.Random(3).randbytes(300))
    p256, sm2_key = ec.generate_private_key(ec.SECP256R1()), sm2.generate_private_key()
    ecdsa = ec.ECDSA(hashes.SHA256())
    cases: dict[str, tuple[Callable[[], bytes], Callable[[bytes], None]]] = {
        "ES256": (lambda: p256.sign(message, ecdsa), lambda sig: p256.public_key().verify(sig, message, ecdsa)),
        "SM2": (lambda: sm2.sign(sm2_key, message), lambda sig: sm2.verify(sm2_key.public_key(), sig, message)),
    }
    result: dict[str, float] = {}
    for name, (sign, verify) in cases.items():
        started = time.process_time()
        signatures = [sign() for _ in range(n)]
        result[f"{name}_sign"] = n / (time.process_time() - started)
        started = time.process_time()
        for signature in signatures:
            verify(signature)
        result[f"{name}_verify"] = n / (time.process_time() - started)
    return result


def in_process(n: int, algorithm: str = "ES256") -> dict[str, float]:
    from licences.service.credentials import get_status, sign_presentation, verify_presentation
    from licences.service.keys import KeyRing

    ring = KeyRing(Path(tempfile.mkdtemp(prefix="lvrong-bench-keys-"))).load()
    key = ring.sm2_signing_key() if algorithm == "SM2" else ring.signing_key()
    issuer = "https://lvrong.example.gov.cn"
    bits = bytes(random.Random(1).randbytes(131_072 // 4))
    tokens = [sign_presentation(key, issuer, identifier=f"1.2.156.3005.2.1131XK002.11310000MB0F4213X0.{i:08d}.001.K",
                                valid_until=int(time.time()) + 86400, status_list_id=1, status_index=i % 131_072,
                                ttl_seconds=600)[0] for i in range(n)]
    started = time.process_time()  # CPU time: the machine's other work does not count
    valid = 0
    for token in tokens:
        claims = verify_presentation(ring, issuer, token)
        valid += get_status(bits, claims.status_index) == 0
    elapsed = time.process_time() - started
    return {"per_second": n / elapsed, "mean_us": elapsed / n * 1e6, "qr_chars": len(tokens[0])}


def status_list_million() -> dict[str, float]:
    from licences.service.credentials import STATUS_INVALID, STATUS_SUSPENDED, set_status, sign_status_list
    from licences.service.keys import KeyRing

    ring = KeyRing(Path(tempfile.mkdtemp(prefix="lvrong-bench-keys-"))).load()
    size = 1_000_000
    bits = bytearray(size // 4)
    rng = random.Random(7)
    for index in rng.sample(range(size), 20_000):
        set_status(bits, index, STATUS_INVALID if index % 2 else STATUS_SUSPENDED)
    times = []
    for _ in range(5):
        started = time.perf_counter()
        token = sign_status_list(ring.signing_key(), "https://lvrong.example.gov.cn", 1, bytes(bits),
                                 ttl_seconds=300, valid_seconds=86400)
        times.append(time.perf_counter() - started)
    return {"best_ms": min(times) * 1000, "worst_ms": max(times) * 1000, "jwt_bytes": len(token)}


async def seed(env: dict[str, str], licences: int, presentations: int) -> dict[str, list[str]]:
    """Licences issued by the service's own code, and presentations signed with its keys (``presentations`` with
    each algorithm) and recorded."""
    from kit.db import Database
    from licences.models import Presentation
    from licences.service import catalogue, issuance
    from licences.service.credentials import sign_presentation
    from licences.service.issuer import Issuer
    from licences.settings import Settings

    settings = Settings(database_url=env["DATABASE_URL"], database_name_prefix=PREFIX, key_dir=Path(env["LICENCES_KEY_DIR"]))
    issuer = Issuer(settings=settings, url=env["GATEWAY_URL"], key_dir=settings.key_dir)
    issuer.keys.load()
    database = Database(settings.service_database_url)
    now = dt.datetime.now(dt.UTC)
    issued = []
    async with database.transaction() as session:
        for _ in range(licences):
            issued.append(await issuance.issue(
                session, issuer, catalogue.TYPES["1131XK002"], holder_subject="u-applicant-company", holder_kind="company",
                holder={"holder_name": "基准测试公司", "holder_code": "91310115MA1H7GXQ3E", "holder_code_type": "uscc"},
                data={"disposal_site": "老港", "waste_volume_m3": 1000}, valid_from=now - dt.timedelta(days=1),
                valid_until=now + dt.timedelta(days=365), actor="bench"))
    bodies: dict[str, list[str]] = {"ES256": [], "SM2": []}
    keys = {"ES256": issuer.keys.signing_key(), "SM2": issuer.keys.sm2_signing_key()}
    for algorithm, key in keys.items():
        async with database.transaction() as session:
            for i in range(presentations):
                lic = issued[i % len(issued)]
                token, cti = sign_presentation(key, issuer.url, identifier=lic.identifier,
                                               valid_until=int(lic.valid_until.timestamp()),
                                               status_list_id=lic.status_list_id, status_index=lic.status_index,
                                               ttl_seconds=1800)
                session.add(Presentation(cti=cti, licence_id=lic.id, expires_at=now + dt.timedelta(seconds=1800)))
                bodies[algorithm].append(json.dumps({"presentation": token}))
    await database.dispose()
    return bodies


def wrk(url: str, seconds: int, script: Path | None = None, connections: int = 32) -> dict[str, float]:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if script:
        command[1:1] = ["-s", str(script)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    if done.stderr.strip():
        print(f"  first refusals from {url}:\n  " + done.stderr.strip().replace("\n", "\n  "))
    return parse_wrk(done.stdout)


async def backend_cpu(database_url: str, databases: list[str]) -> dict[int, float]:
    """CPU seconds so far of each PostgreSQL backend serving ``databases`` (the server on this machine)."""
    from support import _admin

    conn = await _admin(database_url)
    try:
        pids = [r["pid"] for r in await conn.fetch("SELECT pid FROM pg_stat_activity WHERE datname = ANY($1)", databases)]
    finally:
        await conn.close()
    return {pid: cpu_seconds(pid) for pid in pids}


def profiled(processes: dict[str, int], seconds: int, out: Path | None) -> list[subprocess.Popen[bytes]]:
    """py-spy sampling each process (and its uvicorn workers) for ``seconds``, when ``out`` is given."""
    if out is None:
        return []
    spy = Path(sys.executable).with_name("py-spy")
    return [subprocess.Popen([str(spy), "record", "--pid", str(pid), "--subprocesses", "--nonblocking", "--duration",
                              str(seconds), "--rate", "250", "--format", "raw", "--output", f"{out}-{name}.raw"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for name, pid in processes.items()]


def top(raw: Path, n: int = 25) -> list[tuple[float, str]]:
    """The functions with most own time in a py-spy raw profile: (share of samples, function)."""
    own: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        own[stack.rsplit(";", 1)[-1]] += int(count)
    total = sum(own.values()) or 1
    return [(count / total, frame) for frame, count in own.most_common(n)]


def measured(env: dict[str, str], processes: dict[str, int], run: Callable[[], dict[str, float]],
             seconds: int, profile: Path | None = None) -> dict[str, float]:
    """``run`` (a wrk run of ``seconds``) and the CPU milliseconds per request each process spent meanwhile."""
    databases = [f"{PREFIX}_licences", f"{PREFIX}_gateway"]
    # What each process spends with no request at all (relays, consumers, rate-limit sync, ...), per second:
    # subtracted below, so that runs at different rates (a loaded machine) compare by what a request costs.
    idle_from = {name: cpu_seconds(pid) for name, pid in processes.items()}
    idle_started = time.monotonic()
    time.sleep(IDLE_SECONDS)
    idle = {name: (cpu_seconds(pid) - idle_from[name]) / (time.monotonic() - idle_started)
            for name, pid in processes.items()}
    before = {name: cpu_seconds(pid) for name, pid in processes.items()}
    backends = asyncio.run(backend_cpu(env["DATABASE_URL"], databases))
    spies = profiled(processes, max(1, seconds - 2), profile)
    started = time.monotonic()
    result = run()
    elapsed = time.monotonic() - started
    for spy in spies:
        spy.wait()
    requests = result["rps"] * seconds
    for name, pid in processes.items():
        result[f"cpu_{name}"] = (cpu_seconds(pid) - before[name]) * 1000 / requests
        result[f"net_{name}"] = result[f"cpu_{name}"] - idle[name] * elapsed * 1000 / requests
        result[f"idle_{name}"] = idle[name] * 1000
    after = asyncio.run(backend_cpu(env["DATABASE_URL"], databases))
    result["cpu_postgres"] = sum(t - backends.get(pid, 0.0) for pid, t in after.items()) * 1000 / requests
    return result


def token_for(gateway: str, username: str) -> str:
    form = urllib.parse.urlencode({"grant_type": "password", "username": username, "password": "demo"})
    with urllib.request.urlopen(f"{gateway}/auth/token", form.encode()) as r:
        return json.load(r)["access_token"]


def through_gateway(args: argparse.Namespace) -> dict[str, dict[str, float]]:
    work = Path(tempfile.mkdtemp(prefix="lvrong-bench-licences-"))
    os.environ["LICENCES_KEY_DIR"] = str(work / "keys")
    # A shared PostgreSQL has 100 connections: keep this suite's share small.
    os.environ.setdefault("LICENCES_DATABASE_POOL_SIZE", "10")
    # One address sends every request here: its anonymous limit (60 a minute, scaled by the suite's
    # multiplier of 1,000) would cap the run at 1,000/s, so the run allows 1,000 times more.
    os.environ["GATEWAY_RATE_LIMITS"] = json.dumps({"/v1/verifications": {"anonymous_per_ip": 60_000}})
    results: dict[str, dict[str, float]] = {}
    with fresh_suite(PREFIX, ROOT / "var" / "bench", expose_suite=True) as (env, ports, suite):
        env["LICENCES_KEY_DIR"] = os.environ["LICENCES_KEY_DIR"]
        gateway, direct = f"http://127.0.0.1:{ports['gateway']}", f"http://127.0.0.1:{ports['licences']}"
        # Enough distinct presentations that none is used twice within a run at the measured rates.
        per_target = int(args.seconds * 1500)
        runs: list[tuple[str, str, str]] = []  # (name, url, algorithm)
        for round_ in range(args.rounds):
            order = ("ES256", "SM2") if round_ % 2 == 0 else ("SM2", "ES256")
            runs += [(f"POST /v1/verifications through the gateway, {alg} #{round_ + 1}", gateway, alg) for alg in order]
            runs += [(f"POST /v1/verifications straight to svc-licences, {alg} #{round_ + 1}", direct, alg)
                     for alg in order]
        bodies = asyncio.run(seed(env, args.licences, per_target * 2 * args.rounds + 2000))
        caller = token_for(gateway, args.caller) if args.caller else ""
        taken = {"ES256": 0, "SM2": 0}

        def script(name: str, algorithm: str, count: int) -> Path:
            chunk = bodies[algorithm][taken[algorithm]:taken[algorithm] + count]
            taken[algorithm] += count
            (work / f"{name}.jsonl").write_text("\n".join(chunk) + "\n")
            (work / f"{name}.lua").write_text(WRK_SCRIPT % (work / f"{name}.jsonl", caller, caller))
            return work / f"{name}.lua"

        for algorithm in ("ES256", "SM2"):
            wrk(gateway, 2, script(f"warmup-{algorithm}", algorithm, 1000))
        processes = {"licences": suite.processes["licences"].pid, "gateway": suite.processes["gateway"].pid}
        bare = "bare GET /healthz (svc-licences direct)"
        results[bare] = measured(env, processes, partial(wrk, f"{direct}/healthz", args.seconds, None), args.seconds,
                                 work / "profile-healthz" if args.profile else None)
        for i, (name, url, algorithm) in enumerate(runs):
            lua = script(f"run{i}", algorithm, per_target)
            results[name] = measured(env, processes, partial(wrk, url, args.seconds, lua), args.seconds,
                                     work / f"profile-run{i}" if args.profile else None)
        if args.profile:
            print(f"py-spy profiles (raw collapsed stacks): {work}/profile-*.raw")
            for raw in sorted(work.glob("profile-*.raw")):
                print(f"  {raw.name}, own time:")
                for share, frame in top(raw, args.top):
                    print(f"    {share:6.1%} {frame}")
    return results


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--presentations", type=int, default=20_000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--licences", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=2, help="pairs of ES256/SM2 runs, in alternating order")
    parser.add_argument("--skip-gateway", action="store_true")
    parser.add_argument("--as", dest="caller", default="", help="a demo user whose token the requests carry")
    parser.add_argument("--profile", action="store_true", help="py-spy svc-licences and the gateway during each run")
    parser.add_argument("--top", type=int, default=25, help="functions shown per profile")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"load average {load_before:.1f}")
    alone = primitives(2000)
    print("signatures alone, one core (CPU time): " + ", ".join(
        f"{alg} sign {alone[f'{alg}_sign']:,.0f}/s verify {alone[f'{alg}_verify']:,.0f}/s" for alg in ("ES256", "SM2"))
        + f"; SM2/ES256 verify {alone['SM2_verify'] / alone['ES256_verify']:.2f}")
    for algorithm in ("ES256", "SM2"):
        local = in_process(args.presentations, algorithm)
        print(f"in process, {algorithm}: {local['per_second']:,.0f} presentation verifications/s on one core "
              f"({local['mean_us']:.0f} µs of CPU each, signature and status included); QR text {local['qr_chars']:.0f} characters")
    million = status_list_million()
    print(f"status list of 1,000,000 licences: {million['best_ms']:.0f} ms best, {million['worst_ms']:.0f} ms worst "
          f"of 5 (compress + sign), {million['jwt_bytes']:,.0f} bytes")
    if args.skip_gateway:
        return 0
    results = through_gateway(args)
    bare = results["bare GET /healthz (svc-licences direct)"]["rps"]
    for name, r in results.items():
        extra = f"   non-2xx {r['non2xx']:.0f}" if r["non2xx"] else ""
        print(f"{name:<52} {r['rps']:8.0f} req/s   p50 {r['p50']:6.2f} ms   p99 {r['p99']:6.2f} ms   "
              f"{r['rps'] / bare:5.0%} of bare{extra}")
        print(f"{'':<52} CPU per request: svc-licences {r['cpu_licences']:.2f} ms, gateway {r['cpu_gateway']:.2f} ms, "
              f"PostgreSQL {r['cpu_postgres']:.2f} ms = {r['cpu_licences'] + r['cpu_gateway'] + r['cpu_postgres']:.2f} ms")
        print(f"{'':<52} less idle work: svc-licences {r['net_licences']:.2f} ms, gateway {r['net_gateway']:.2f} ms "
              f"(idle: {r['idle_licences']:.0f} and {r['idle_gateway']:.0f} ms of CPU per second)")
    for where in ("through the gateway", "straight to svc-licences"):
        rates = {alg: [r["rps"] for name, r in results.items() if where in name and name.split(", ")[1].startswith(alg)]
                 for alg in ("ES256", "SM2")}
        print(f"SM2 / ES256 {where}: best {max(rates['SM2']) / max(rates['ES256']):.2f}, "
              f"mean {sum(rates['SM2']) / sum(rates['ES256']):.2f} (target ≥ 0.8)")
    print(f"load average {load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end. CPU per request is utime+stime "
          "of each process (and its workers) from /proc over the run ÷ its requests: with other work on the machine it "
          "moves far less than the rates.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
