"""Two builds of the gateway side by side in front of one upstream: the CPU each costs per request.

On a machine other work shares, requests/s of one run say little and the ratio of two runs minutes apart
less; what holds is a comparison made in the same minutes. This starts the trivial upstream of
``bench_gateway.py``, gateway A from the sources of ``--base`` (a git revision, exported with
``git archive``) and gateway B from the working tree, then loads them in turn with ``wrk -t1 -c32``
for ``--seconds``, ``--rounds`` times, alternating which goes first. Each round prints both
gateways' and the upstream's CPU per request (``utime + stime`` from /proc over the run ÷ requests),
the rate and the load average; then the medians.

Usage: python tests/bench/bench_gateway_ab.py [--base main] [--seconds 5] [--rounds 6]
"""
from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "shared" / "src"))

from bench_gateway import PATH, wrk  # noqa: E402
from bench_prequal import cpu_seconds  # noqa: E402

from kit.devstack import free_port, http_ok, service_command, wait_for  # noqa: E402


def exported(revision: str, into: Path) -> Path:
    """The gateway's and the kit's sources at ``revision``."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", revision, "gateway/src", "shared/src"],
                             capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", default="main")
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="lvrong-bench-gateway-ab-"))
    base = exported(args.base, work / "base")
    upstream_port, a_port, b_port = free_port(), free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(LOG_LEVEL="WARNING", GATEWAY_DEV_ISSUER_ENABLED="true", GATEWAY_DEV_ISSUER_KEY_DIR=str(work / "keys"),
               GATEWAY_UPSTREAM_MATTERS_URL=f"http://127.0.0.1:{upstream_port}",
               GATEWAY_RATE_LIMIT_MULTIPLIER="1000000", GATEWAY_RATE_LIMIT_STORE="local")
    upstream_command = [sys.executable, "-m", "uvicorn", "trivial_upstream:create_app", "--factory", "--host", "127.0.0.1",
                        "--port", str(upstream_port), "--loop", "uvloop", "--http",
                        "kit.serving:CoalescingHttpToolsProtocol", "--no-access-log"]
    processes = [
        subprocess.Popen(upstream_command, env=dict(env, PYTHONPATH=str(Path(__file__).parent)),
                         stdout=subprocess.DEVNULL, stderr=open(work / "upstream.log", "wb")),
        subprocess.Popen(service_command("gateway", a_port),
                         env=dict(env, PYTHONPATH=f"{base / 'gateway' / 'src'}:{base / 'shared' / 'src'}"),
                         stdout=subprocess.DEVNULL, stderr=open(work / "a.log", "wb")),
        subprocess.Popen(service_command("gateway", b_port), env=env, stdout=subprocess.DEVNULL,
                         stderr=open(work / "b.log", "wb")),
    ]
    upstream_pid = processes[0].pid
    gateways = {"A": (a_port, processes[1].pid), "B": (b_port, processes[2].pid)}
    results: dict[str, list[tuple[float, float, float]]] = {"A": [], "B": []}
    try:
        for port in (upstream_port, a_port, b_port):
            wait_for(lambda port=port: http_ok(f"http://127.0.0.1:{port}/healthz"), 60, f"port {port}")
        form = urllib.parse.urlencode({"grant_type": "password", "username": "applicant-person", "password": "demo"})
        with urllib.request.urlopen(f"http://127.0.0.1:{a_port}/auth/token", form.encode()) as r:
            token = json.load(r)["access_token"]  # both gateways share the issuer's key directory
        for port, _ in gateways.values():  # warm up connections and the token cache
            wrk(f"http://127.0.0.1:{port}{PATH}", 2, 32, token)
        for round_no in range(args.rounds):
            for name in ("A", "B") if round_no % 2 == 0 else ("B", "A"):
                port, pid = gateways[name]
                before, upstream_before = cpu_seconds(pid), cpu_seconds(upstream_pid)
                result = wrk(f"http://127.0.0.1:{port}{PATH}", args.seconds, 32, token)
                if result["non2xx"] or result["socket_errors"]:
                    sys.exit(f"gateway {name}: {result['non2xx']} non-2xx, socket errors {result['socket_errors']!r}")
                gateway_us = (cpu_seconds(pid) - before) * 1e6 / result["requests"]
                upstream_us = (cpu_seconds(upstream_pid) - upstream_before) * 1e6 / result["requests"]
                results[name].append((gateway_us, upstream_us, result["rps"]))
                print(f"round {round_no + 1} {name}: gateway {gateway_us:6.1f} µs/request, upstream {upstream_us:6.1f}, "
                      f"{result['rps']:7.0f} req/s, load average {os.getloadavg()[0]:.1f}", flush=True)
    finally:
        for proc in processes:
            proc.terminate()
        for proc in processes:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
    print(f"\nA = {args.base}, B = the working tree; wrk -t1 -c32 -d{args.seconds}s, {args.rounds} rounds, medians:")
    for name, rows in results.items():
        print(f"{name}: gateway {statistics.median(r[0] for r in rows):6.1f} µs/request, "
              f"upstream {statistics.median(r[1] for r in rows):6.1f} µs/request, "
              f"{statistics.median(r[2] for r in rows):7.0f} req/s")


if __name__ == "__main__":
    main()
