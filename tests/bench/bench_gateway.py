"""The gateway hop, measured side by side in one run: direct, through the gateway, through nginx.

A trivial FastAPI endpoint under uvicorn (``trivial_upstream.py``, one process, served as every service
is: ``kit.serving``'s protocol) answers a small JSON GET. ``wrk -t1 -c32`` loads it three ways, each for ``--seconds``, in rounds (direct, gateway,
nginx, repeated ``--rounds`` times, best round reported) so that a passing load on the machine does
not favour one of them:

- direct: straight to the upstream;
- gateway: through the platform's gateway with a valid bearer token (signature checked once, then
  cached), ``--gateway-workers`` processes;
- nginx: through nginx from Debian (``proxy_pass`` with keep-alive to the upstream), started here on
  loopback, as the reference for what a real proxy costs.

Prints requests/s, p50/p99 latency, the gateway's share of direct throughput and its p99 added
latency, and beside each rate the CPU each request cost each process (``utime + stime`` from /proc
over the run ÷ requests: the upstream, the gateway, nginx, and wrk itself), which on a machine other
work shares moves far less than the rate; the load average before and after. Needs ``wrk`` and ``nginx`` (``apt-get install wrk nginx-light``).
Usage: python tests/bench/bench_gateway.py [--seconds 10] [--rounds 2] [--connections 32] [--gateway-workers 1]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "shared" / "src"))

from bench_prequal import cpu_seconds  # noqa: E402

from kit.devstack import free_port, http_ok, service_command, wait_for  # noqa: E402

PATH = "/v1/matters/bench-ping"

NGINX_CONF = """
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {dir}/body; proxy_temp_path {dir}/proxy; fastcgi_temp_path {dir}/fcgi;
  uwsgi_temp_path {dir}/uwsgi; scgi_temp_path {dir}/scgi;
  upstream app {{ server 127.0.0.1:{upstream}; keepalive 64; }}
  server {{
    listen 127.0.0.1:{port};
    location / {{ proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; }}
  }}
}}
"""


def parse_wrk(output: str) -> dict[str, float]:
    def ms(text: str) -> float:
        value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    latency = {int(p): ms(v) for p, v in re.findall(r"^\s+(50|75|90|99)%\s+(\S+)", output, re.M)}
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: (.*)", output)
    requests = int(re.search(r"(\d+) requests in", output).group(1))
    return {"rps": rps, "requests": requests, "p50": latency[50], "p99": latency[99],
            "non2xx": int(errors.group(1)) if errors else 0, "socket_errors": socket_errors.group(1) if socket_errors else ""}


def wrk(url: str, seconds: int, connections: int, token: str | None,
        headers: dict[str, str] | None = None) -> dict[str, float]:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    for name, value in {**({"Authorization": f"Bearer {token}"} if token else {}), **(headers or {})}.items():
        command[1:1] = ["-H", f"{name}: {value}"]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stdout} {done.stderr}")
    return parse_wrk(done.stdout)


def children_cpu() -> float:
    """CPU seconds of the finished child processes so far (wrk's runs)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measured(processes: dict[str, int], url: str, seconds: int, connections: int,
             token: str | None) -> dict[str, float]:
    """A wrk run and the CPU milliseconds per request each process (and wrk) spent meanwhile."""
    before = {name: cpu_seconds(pid) for name, pid in processes.items()}
    wrk_before = children_cpu()
    result = wrk(url, seconds, connections, token)
    for name, pid in processes.items():
        result[f"cpu_{name}"] = (cpu_seconds(pid) - before[name]) * 1000 / result["requests"]
    result["cpu_wrk"] = (children_cpu() - wrk_before) * 1000 / result["requests"]
    return result


def cpu_line(result: dict[str, float]) -> str:
    return ", ".join(f"{name.removeprefix('cpu_')} {value * 1000:4.0f}" for name, value in result.items()
                     if name.startswith("cpu_") and value * 1000 >= 0.5)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--gateway-workers", type=int, default=int(os.environ.get("GATEWAY_WORKERS", "1")))
    parser.add_argument("--upstream-http", default="kit.serving:CoalescingHttpToolsProtocol",
                        help="uvicorn's --http for the upstream (httptools: uvicorn's own, head and body written apart)")
    args = parser.parse_args()
    for tool in ("wrk", "nginx"):
        if not shutil.which(tool) and not Path(f"/usr/sbin/{tool}").exists():
            sys.exit(f"{tool} is needed: apt-get install wrk nginx-light")

    work = Path(tempfile.mkdtemp(prefix="lvrong-bench-gateway-"))
    upstream_port, gateway_port, nginx_port = free_port(), free_port(), free_port()
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).parent), LOG_LEVEL="WARNING",
               GATEWAY_DEV_ISSUER_ENABLED="true", GATEWAY_DEV_ISSUER_KEY_DIR=str(work / "keys"),
               GATEWAY_UPSTREAM_MATTERS_URL=f"http://127.0.0.1:{upstream_port}",
               # The limits are checked on every request, as in production, but set above what wrk sends
               # with one token; counted per replica (one sync query per 0.2 s would not show here).
               GATEWAY_RATE_LIMIT_MULTIPLIER="1000000", GATEWAY_RATE_LIMIT_STORE="local")
    upstream_command = [sys.executable, "-m", "uvicorn", "trivial_upstream:create_app", "--factory", "--host", "127.0.0.1",
                        "--port", str(upstream_port), "--loop", "uvloop", "--http", args.upstream_http, "--no-access-log"]
    (work / "nginx.conf").write_text(NGINX_CONF.format(dir=work, upstream=upstream_port, port=nginx_port))
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    processes = [
        subprocess.Popen(upstream_command, env=env, stdout=subprocess.DEVNULL, stderr=open(work / "upstream.log", "wb")),
        subprocess.Popen(service_command("gateway", gateway_port, workers=args.gateway_workers), env=env,
                         stdout=subprocess.DEVNULL, stderr=open(work / "gateway.log", "wb")),
        subprocess.Popen([nginx, "-c", str(work / "nginx.conf"), "-p", str(work)], stdout=subprocess.DEVNULL,
                         stderr=open(work / "nginx.log", "wb")),
    ]
    try:
        for port in (upstream_port, gateway_port):
            wait_for(lambda port=port: http_ok(f"http://127.0.0.1:{port}/healthz"), 30, f"port {port}")
        wait_for(lambda: http_ok(f"http://127.0.0.1:{nginx_port}/healthz"), 30, "nginx")
        form = urllib.parse.urlencode({"grant_type": "password", "username": "applicant-person", "password": "demo"})
        with urllib.request.urlopen(f"http://127.0.0.1:{gateway_port}/auth/token", form.encode()) as r:
            token = json.load(r)["access_token"]
        targets = {"direct": (f"http://127.0.0.1:{upstream_port}{PATH}", None),
                   "gateway": (f"http://127.0.0.1:{gateway_port}{PATH}", token),
                   "nginx": (f"http://127.0.0.1:{nginx_port}{PATH}", None)}
        for url, bearer in targets.values():  # warm up connections, caches and the token check
            wrk(url, 2, args.connections, bearer)
        pids = {"upstream": processes[0].pid, "gateway": processes[1].pid, "nginx": processes[2].pid}
        load_before = os.getloadavg()
        best: dict[str, dict[str, float]] = {}
        for round_no in range(args.rounds):
            for name, (url, bearer) in targets.items():
                result = measured(pids, url, args.seconds, args.connections, bearer)
                if result["non2xx"] or result["socket_errors"]:
                    print(f"  {name}: {result['non2xx']} non-2xx responses, socket errors {result['socket_errors']!r}")
                print(f"  round {round_no + 1} {name:<8} {result['rps']:8.0f} req/s   p50 {result['p50']:6.2f} ms   "
                      f"p99 {result['p99']:6.2f} ms   CPU µs/request: {cpu_line(result)}", flush=True)
                if name not in best or result["rps"] > best[name]["rps"]:
                    best[name] = result
    finally:
        for proc in processes:
            proc.terminate()
        for proc in processes:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()

    print(f"\nmachine: {platform.node()} {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"wrk -t1 -c{args.connections} -d{args.seconds}s, best of {args.rounds} rounds; "
          f"gateway workers: {args.gateway_workers}; upstream served with --http {args.upstream_http}; "
          f"load average {load_before[0]:.1f} before, {os.getloadavg()[0]:.1f} after")
    for name, r in best.items():
        print(f"{name:<8} {r['rps']:8.0f} req/s ({r['rps'] / best['direct']['rps']:5.0%} of direct)   "
              f"p50 {r['p50']:6.2f} ms   p99 {r['p99']:6.2f} ms   p99 added {r['p99'] - best['direct']['p99']:6.2f} ms")
        print(f"{'':<8} CPU µs per request: {cpu_line(r)}")
    print("CPU per request is utime+stime of each process from /proc over the round ÷ its requests (wrk: its own "
          "run); with other work on the machine it moves far less than the rates. The ratio is of the best rounds.")


if __name__ == "__main__":
    main()
