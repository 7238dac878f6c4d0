"""Speed of the pre-review (issue 4): rule evaluation in process, and sustained verdicts from the bus.

(a) in process: every matter's full shipped rule set (CEL, compiled once) evaluated on realistic forms —
    complete valid ones and ones with the usual mistakes (a missing field, a bad credit code, dates the
    wrong way round, a missing material) — timing each application; p50/p95/p99 per matter and overall.
(b) from the bus: svc-prequal alone (its own database ``<prefix>_prequal`` and the NATS given), N
    ``ApplicationSubmitted`` events of the 18 matters published to JetStream (stream LVRONG_MATTERS, as
    svc-matters' relay would), timed from the first publish until the N-th
    ``lvrong.prequal.verdict.issued`` has been published by svc-prequal's outbox relay (seen on a core
    subscription). Includes everything the service does per submission: the matter-requirements read
    model, the rule set, the 数据比对 checks and read model, the shadow lookup, the verdict row and the
    outbox event, the other consumers of the same events (pre-fill read models). Also the CPU time
    svc-prequal's processes and the PostgreSQL backends of its database spent per verdict (from /proc,
    so independent of what else the machine runs; the backends' only when PostgreSQL is on this machine).

Usage: DATABASE_URL=… NATS_URL=nats://127.0.0.1:<own port> uv run python tests/bench/bench_prequal.py
       [--forms 200] [--events 3000] [--prefix lvrong_prequalbench] [--skip-bus] [--skip-in-process] [--workers 1]
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from kit.devstack import Servers, free_port, http_ok, platform_environment, service_command, wait_for  # noqa: E402
from prequal.service.rules import LATEST_SHIPPED, compile_rules, shipped_rulesets, verdict_of  # noqa: E402
from support import connect_nats, drop_databases, nats_admin, valid_form  # noqa: E402

CATALOGUE = json.loads((ROOT / "svc-matters/src/matters/catalogue/matters.json").read_text("utf-8"))
VERDICT_SUBJECT = "lvrong.prequal.verdict.issued"


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))]


def realistic(matter: dict[str, Any], seed: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """A form and materials as applicants send them: 70% complete, 30% with one usual mistake."""
    form = valid_form(matter, seed)
    for f in matter["fields"]:
        if f["type"] == "address":
            form[f["key"]] = f"上海市浦东新区张江路{seed}号{uuid.uuid4().hex[:4]}"
    materials: dict[str, Any] = {m["code"]: {"kind": "upload", "material_id": uuid.uuid4().hex,
                                             "content_type": "application/pdf"} for m in matter["materials"]}
    mistake = seed % 10
    if mistake == 7:
        form.pop(next(f["key"] for f in matter["fields"] if f.get("required")), None)
    elif mistake == 8 and "applicant_uscc" in form:
        form["applicant_uscc"] = form["applicant_uscc"][:-1] + ("0" if form["applicant_uscc"][-1] != "0" else "1")
    elif mistake == 9:
        materials.pop(next(m["code"] for m in matter["materials"] if m["required"]), None)
        if "start_date" in form and "end_date" in form:
            form["start_date"], form["end_date"] = form["end_date"], form["start_date"]
    return form, materials


def bench_in_process(forms: int, version: int = LATEST_SHIPPED) -> dict[str, Any]:
    shipped = shipped_rulesets(version)
    per_matter: dict[str, list[float]] = {}
    verdicts: dict[str, int] = {}
    for matter in CATALOGUE:
        rules = compile_rules(f"{matter['code']}@v{version}", shipped[matter["code"]]["rules"])
        samples = [realistic(matter, seed) for seed in range(forms)]
        for form, materials in samples[:20]:  # warm-up
            rules.evaluate(form, materials)
        times = []
        for form, materials in samples:
            t0 = time.perf_counter()
            results = rules.evaluate(form, materials)
            verdict = verdict_of(results)
            times.append((time.perf_counter() - t0) * 1000)
            verdicts[verdict] = verdicts.get(verdict, 0) + 1
        per_matter[matter["code"]] = times
    every = [t for ts in per_matter.values() for t in ts]
    print(f"\n(a) in-process evaluation of each matter's full rule set (shipped version {version}), "
          f"{forms} realistic forms per matter")
    print(f"{'matter':<11} {'rules':>5} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for code, ts in per_matter.items():
        print(f"{code:<11} {len(shipped[code]['rules']):>5} {statistics.median(ts):8.2f} {pct(ts, 95):8.2f} "
              f"{pct(ts, 99):8.2f} {max(ts):8.2f}")
    print(f"{'all':<11} {'':>5} {statistics.median(every):8.2f} {pct(every, 95):8.2f} {pct(every, 99):8.2f} "
          f"{max(every):8.2f}   (n={len(every)}, verdicts {verdicts}; target p95 < 20 ms)")
    return {"p50": statistics.median(every), "p95": pct(every, 95), "worst_matter_p95": max(pct(ts, 95) for ts in per_matter.values())}


def submitted_event(matter: dict[str, Any], seed: int) -> tuple[str, bytes, dict[str, str]]:
    from kit.contracts import ApplicationSubmitted, MatterRequirements

    form, materials = realistic(matter, seed)
    requirements = MatterRequirements(code=matter["code"], version=1, kind=matter["kind"], fields=matter["fields"],
                                      materials=matter["materials"])
    app_id = uuid.uuid4().hex[:20]
    contract = ApplicationSubmitted(application_id=app_id, matter=requirements,
                                    applicant={"subject": f"bench-user-{seed % 97}", "kind": "organisation"},
                                    form=form, materials=materials, submitted_at=dt.datetime.now(dt.UTC))
    event = contract.envelope(subject=app_id)
    return app_id, event.to_json_bytes(), {"Nats-Msg-Id": event.id, "Lvrong-Key": app_id}


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a process and its descendants (uvicorn's workers), from /proc: what
    the service spent, whatever else the machine was doing."""
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            todo += [int(c) for c in Path(f"/proc/{p}/task/{p}/children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


async def database_cpu_seconds(database_url: str, database: str) -> float:
    """CPU time of the PostgreSQL backends serving ``database`` (when the server runs on this machine)."""
    from support import _admin

    conn = await _admin(database_url)
    try:
        pids = [r["pid"] for r in await conn.fetch("SELECT pid FROM pg_stat_activity WHERE datname = $1", database)]
    finally:
        await conn.close()
    return sum(cpu_seconds(pid) for pid in pids)


async def bench_bus(args: argparse.Namespace, env: dict[str, str], port: int, service_pid: int) -> dict[str, Any]:
    events = [submitted_event(CATALOGUE[i % len(CATALOGUE)], i) for i in range(args.events)]
    warm = [submitted_event(CATALOGUE[i % len(CATALOGUE)], 100_000 + i) for i in range(50)]
    nc = await connect_nats(nats_admin(env))
    js = nc.jetstream()
    seen: dict[str, float] = {}
    done = asyncio.Event()
    expected: set[str] = set()

    async def on_verdict(msg) -> None:
        app_id = json.loads(msg.data)["data"]["application_id"]
        if app_id not in seen:
            seen[app_id] = time.perf_counter()
            if expected and expected <= seen.keys():
                done.set()

    await nc.subscribe(VERDICT_SUBJECT, cb=on_verdict)

    async def publish(batch: list[tuple[str, bytes, dict[str, str]]]) -> None:
        for i in range(0, len(batch), 256):  # pipelined: up to 256 publish acks in flight
            await asyncio.gather(*(js.publish("lvrong.matters.application.submitted", data, headers=headers)
                                   for _, data, headers in batch[i:i + 256]))

    expected.update(a for a, _, _ in warm)
    await publish(warm)
    await asyncio.wait_for(done.wait(), 120)
    done.clear()
    expected.clear()
    expected.update(a for a, _, _ in events)
    database = f"{args.prefix}_prequal"
    db_cpu0 = await database_cpu_seconds(env["DATABASE_URL"], database)
    cpu0, t0 = cpu_seconds(service_pid), time.perf_counter()
    await publish(events)
    published = time.perf_counter() - t0
    await asyncio.wait_for(done.wait(), 600)
    wall = max(seen[a] for a in expected) - t0
    cpu = cpu_seconds(service_pid) - cpu0
    db_cpu = await database_cpu_seconds(env["DATABASE_URL"], database) - db_cpu0
    await nc.close()
    rate = args.events / wall
    print(f"\n(b) sustained verdicts from the bus: {args.events} ApplicationSubmitted events over {len(CATALOGUE)} matters")
    print(f"    published to JetStream in {published:.2f} s; last verdict event after {wall:.2f} s")
    print(f"    {rate:.0f} verdicts/s (target ≥ 300/s); svc-prequal used {cpu:.1f} s of CPU, "
          f"{1000 * cpu / args.events:.2f} ms per verdict; its PostgreSQL backends {1000 * db_cpu / args.events:.2f} ms "
          f"per verdict; load average {os.getloadavg()[0]:.1f}")
    return {"rate": rate, "wall": wall, "published": published, "cpu_ms_per_verdict": 1000 * cpu / args.events}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--forms", type=int, default=200, help="forms per matter for (a)")
    parser.add_argument("--events", type=int, default=3000, help="submissions for (b)")
    parser.add_argument("--prefix", default="lvrong_prequalbench", help="database name prefix for (b)")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers of svc-prequal for (b)")
    parser.add_argument("--ruleset-version", type=int, default=LATEST_SHIPPED, help="shipped rule sets for (a)")
    parser.add_argument("--skip-bus", action="store_true")
    parser.add_argument("--skip-in-process", action="store_true", help="only (b)")
    args = parser.parse_args()
    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    if not args.skip_in_process:
        bench_in_process(args.forms, args.ruleset_version)
    if args.skip_bus:
        return 0
    servers = Servers.configured_or_local(ROOT / "var" / "bench", postgres_port=54349, nats_port=free_port())
    port, gateway_port = free_port(), free_port()
    env = platform_environment(servers.database_url, servers.nats_url, ports={"gateway": gateway_port, "prequal": port},
                               nats_credentials_dir=servers.nats_credentials_dir)
    env.update(DATABASE_NAME_PREFIX=args.prefix, LOG_LEVEL="WARNING")
    log = Path(tempfile.mkdtemp(prefix="lvrong-prequal-bench-")) / "prequal.log"
    proc = None
    try:
        from support import drop_streams

        asyncio.run(drop_databases(servers.database_url, [f"{args.prefix}_prequal"]))
        asyncio.run(drop_streams(servers.nats_admin))
        subprocess.run([sys.executable, "-c", "from kit.migrations import upgrade; upgrade('prequal')"], env=env, check=True)
        with open(log, "ab") as out:
            proc = subprocess.Popen(service_command("prequal", port, workers=args.workers), env=env, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        wait_for(lambda: http_ok(f"http://127.0.0.1:{port}/readyz"), 60, "svc-prequal")
        print(f"svc-prequal pid {proc.pid} (workers {args.workers}), log {log}")
        asyncio.run(bench_bus(args, env, port, proc.pid))
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(15)
        asyncio.run(drop_databases(servers.database_url, [f"{args.prefix}_prequal"]))
        servers.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
