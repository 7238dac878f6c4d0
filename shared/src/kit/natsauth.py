"""Who may do what on the platform's NATS: identities, permissions and credentials from one source.

Every process authenticates with an NKey (an Ed25519 key pair): the server's configuration holds only
public keys, the client proves it holds the seed by signing a nonce, so the secret never travels and
a leaked server configuration reveals nothing. nats-py and nats-server both support NKeys natively;
the decentralised JWT/operator mode would add an operator, accounts and a resolver for a platform
that is one account of six services, so plain NKeys in the server's ``authorization`` block it is.

The permissions are derived, never listed by hand: a service's published subjects from the event
contracts (``kit.contracts``, ``lvrong.<service>.>``), what it consumes from the services' own
``EventSubscription`` declarations, the JetStream API subjects from what ``kit.events.bus`` and
``kit.calendar`` ask of nats-py. Identities:

- ``<service>``: publishes its own events and its consumers' dead letters, manages its own stream
  and its own durable consumers on the streams it consumes, fetches and acknowledges from them,
  watches the calendar bucket (svc-helpdesk also writes it); replies come to ``_INBOX_<service>.>``
  only, so no identity can read another's JetStream replies (fetched messages travel in them);
- ``ops-<service>``: ops' dead-letter tool of that service (``kit.events.deadletters``): reads and
  deletes its dead letters and republishes one on its original subject — the only identity besides
  the producer that may publish a producer's events, and only those the service consumes;
- ``admin``: everything; for the tests and for an operator's break-glass CLI, never mounted in a pod.

``python -m kit.natsauth generate DIR`` writes a seed per identity (``DIR/<identity>.nk``, kept when
it exists) and the server's ``DIR/authorization.conf``; ``rotate DIR IDENTITY`` makes a new seed and
keeps the old public key accepted until ``retire DIR IDENTITY``.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import ssl
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

JS_API = "$JS.API"
ADMIN = "admin"
SEED_SUFFIX = ".nk"
PREVIOUS_SUFFIX = ".previous.pub"
SERVER_CONFIG = "authorization.conf"
# The KV bucket of ops-approved calendar years (kit.calendar); its stream is KV_<bucket>.
CALENDAR_BUCKET_WRITER = "helpdesk"


def inbox_prefix(identity: str) -> str:
    """Where the server sends an identity's replies: its own, so no one else may subscribe to them."""
    return f"_INBOX_{identity}"


def ops_identity(service: str) -> str:
    return f"ops-{service}"


@dataclass(frozen=True)
class Consumes:
    """One durable consumer of a service: the producer's stream and the subjects it reads."""

    durable: str
    producer: str
    subjects: tuple[str, ...]


@dataclass(frozen=True)
class ServiceBus:
    """What one service does on the bus."""

    service: str
    consumes: tuple[Consumes, ...] = ()


@dataclass
class Permissions:
    publish: list[str] = field(default_factory=list)
    subscribe: list[str] = field(default_factory=list)

    def server_config(self) -> dict[str, Any]:
        return {"publish": {"allow": sorted(set(self.publish))}, "subscribe": {"allow": sorted(set(self.subscribe))}}


def producers() -> list[str]:
    """The services that publish events, from the event contracts."""
    from kit.contracts import EVENT_TYPES

    return sorted({contract.source_service for contract in EVENT_TYPES.values()})


def _subscriptions_of(service: str) -> Sequence[Any]:
    module = importlib.import_module(f"{service}.events")
    subscriptions: Sequence[Any]
    if hasattr(module, "SUBSCRIPTIONS"):
        subscriptions = module.SUBSCRIPTIONS
    else:
        # svc-licences builds its subscriptions around its issuer; only their names and subjects are read here.
        subscriptions = module.subscriptions(None)
    return subscriptions


def platform_buses() -> list[ServiceBus]:
    """Every service of the platform with the consumers it declares (imports each service's ``events``)."""
    from kit.events.consumer import durable_name

    buses = []
    for service in producers():
        consumes = tuple(Consumes(durable_name(service, s), s.producer, tuple(s.subjects))
                         for s in _subscriptions_of(service))
        buses.append(ServiceBus(service, consumes))
    return buses


def _stream_api(stream: str, *verbs: str) -> list[str]:
    return [f"{JS_API}.STREAM.{verb}.{stream}" for verb in verbs]


def _consumer_api(stream: str, durable: str) -> list[str]:
    return [f"{JS_API}.CONSUMER.INFO.{stream}.{durable}",
            # nats-py names the filter subject after the durable when there is exactly one.
            f"{JS_API}.CONSUMER.CREATE.{stream}.{durable}", f"{JS_API}.CONSUMER.CREATE.{stream}.{durable}.>",
            f"{JS_API}.CONSUMER.DURABLE.CREATE.{stream}.{durable}",
            f"{JS_API}.CONSUMER.MSG.NEXT.{stream}.{durable}",
            # Reconciled at start: a setting the server cannot change in place means delete and create.
            f"{JS_API}.CONSUMER.DELETE.{stream}.{durable}",
            f"$JS.ACK.{stream}.{durable}.>"]


def _calendar_watch(bucket: str) -> list[str]:
    stream = f"KV_{bucket}"
    # A KV watch is an ordered, ephemeral push consumer: created, recreated on a gap, flow-controlled.
    return [*_stream_api(stream, "INFO"), f"{JS_API}.CONSUMER.CREATE.{stream}", f"{JS_API}.CONSUMER.CREATE.{stream}.>",
            f"{JS_API}.CONSUMER.DELETE.{stream}.>", f"{JS_API}.CONSUMER.INFO.{stream}.>", f"$JS.FC.{stream}.>"]


def service_permissions(bus: ServiceBus, *, calendar_bucket: str) -> Permissions:
    # Imported here: kit.events imports this module (its bus connects with a NatsClient).
    from kit.events.envelope import DEAD_LETTER_PREFIX, DEAD_LETTER_STREAM, stream_name
    from kit.events.streams import UNSETTLED_STREAM

    own = stream_name(bus.service)
    allowed = Permissions(
        publish=[f"lvrong.{bus.service}.>", *_stream_api(own, "INFO", "CREATE", "UPDATE"),
                 # The dead-letter stream is everyone's: whichever consumer needs it first creates it.
                 *_stream_api(DEAD_LETTER_STREAM, "INFO", "CREATE", "UPDATE"), *_calendar_watch(calendar_bucket),
                 # So is the stream of MaxDeliver advisories (kit.events.streams): the server writes them.
                 *_stream_api(UNSETTLED_STREAM, "INFO", "CREATE", "UPDATE")],
        # Its own subjects too: core fan-out of its own events to every replica (svc-matters' live status).
        subscribe=[f"{inbox_prefix(bus.service)}.>", f"lvrong.{bus.service}.>"])
    for consumer in bus.consumes:
        stream = stream_name(consumer.producer)
        allowed.publish += [f"{DEAD_LETTER_PREFIX}.{consumer.durable}", *_stream_api(stream, "INFO"),
                            *_consumer_api(stream, consumer.durable),
                            # Reading back one message of a stream it consumes: the one whose last delivery
                            # ended unsettled, named by the server's MaxDeliver advisory, is dead-lettered.
                            *_stream_api(stream, "MSG.GET"), f"{JS_API}.DIRECT.GET.{stream}",
                            f"{JS_API}.DIRECT.GET.{stream}.>",
                            # Its watcher of the advisories of this consumer (``<durable>-unsettled``).
                            *_consumer_api(UNSETTLED_STREAM, f"{consumer.durable}-unsettled")]
        allowed.subscribe.append(f"$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{stream}.{consumer.durable}")
    if bus.service == CALENDAR_BUCKET_WRITER:
        allowed.publish += [*_stream_api(f"KV_{calendar_bucket}", "CREATE"), f"$KV.{calendar_bucket}.>"]
    return allowed


def ops_permissions(bus: ServiceBus) -> Permissions:
    from kit.events.envelope import DEAD_LETTER_STREAM

    identity = ops_identity(bus.service)
    return Permissions(
        publish=[*(s for c in bus.consumes for s in c.subjects),
                 *_stream_api(DEAD_LETTER_STREAM, "INFO", "MSG.GET", "MSG.DELETE"),
                 f"{JS_API}.DIRECT.GET.{DEAD_LETTER_STREAM}", f"{JS_API}.DIRECT.GET.{DEAD_LETTER_STREAM}.>"],
        subscribe=[f"{inbox_prefix(identity)}.>"])


def platform_permissions(buses: Iterable[ServiceBus] | None = None) -> dict[str, Permissions]:
    """Every identity of the platform and what it may do."""
    from kit.calendar import CALENDAR_BUCKET

    found: dict[str, Permissions] = {ADMIN: Permissions(publish=[">"], subscribe=[">"])}
    for bus in platform_buses() if buses is None else buses:
        found[bus.service] = service_permissions(bus, calendar_bucket=CALENDAR_BUCKET)
        if bus.consumes:
            found[ops_identity(bus.service)] = ops_permissions(bus)
    return found


# --- credentials -------------------------------------------------------------------------------------

def _new_seed() -> bytes:
    import nkeys

    return bytes(nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER))


def public_key(seed: bytes) -> str:
    import nkeys

    key: bytes = nkeys.from_seed(bytearray(seed.strip())).public_key
    return key.decode()


def _write_secret(path: Path, content: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(content)
    tmp.replace(path)


def seed_file(directory: Path, identity: str) -> Path:
    return directory / f"{identity}{SEED_SUFFIX}"


def ensure_seeds(directory: Path, identities: Iterable[str]) -> None:
    """A seed for every identity that has none yet; existing ones are kept (their clients keep working)."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    for identity in identities:
        path = seed_file(directory, identity)
        if not path.exists():
            _write_secret(path, _new_seed() + b"\n")


def authorization_config(directory: Path, permissions: Mapping[str, Permissions]) -> dict[str, Any]:
    """The server's ``authorization`` block: each identity's current public key (and the previous one
    while a rotation is under way) with its permissions."""
    users = []
    for identity, allowed in sorted(permissions.items()):
        keys = [public_key(seed_file(directory, identity).read_bytes())]
        previous = directory / f"{identity}{PREVIOUS_SUFFIX}"
        if previous.exists():
            keys.append(previous.read_text().strip())
        users += [{"nkey": key, "permissions": allowed.server_config()} for key in keys]
    return {"authorization": {"users": users}}


def generate(directory: Path, permissions: Mapping[str, Permissions] | None = None) -> Path:
    """Seeds for every identity and the server's authorization config (JSON, which nats-server reads)."""
    permissions = platform_permissions() if permissions is None else permissions
    ensure_seeds(directory, permissions)
    path = directory / SERVER_CONFIG
    path.write_text(json.dumps(authorization_config(directory, permissions), indent=2) + "\n")
    return path


def rotate(directory: Path, identity: str) -> None:
    """A new seed for ``identity``; the old public key stays accepted until ``retire``."""
    current = seed_file(directory, identity)
    (directory / f"{identity}{PREVIOUS_SUFFIX}").write_text(public_key(current.read_bytes()) + "\n")
    _write_secret(current, _new_seed() + b"\n")


def retire(directory: Path, identity: str) -> None:
    (directory / f"{identity}{PREVIOUS_SUFFIX}").unlink(missing_ok=True)


# --- clients -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class NatsClient:
    """How one process connects: server URL(s), its seed file and TLS (a ``tls://`` URL, or a CA file)."""

    url: str
    seed_file: str | None = None
    identity: str | None = None
    tls_ca_file: str | None = None
    tls_cert_file: str | None = None
    tls_key_file: str | None = None

    def tls_context(self) -> ssl.SSLContext | None:
        if not (self.tls_ca_file or self.tls_cert_file or self.url.startswith("tls://")):
            return None
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=self.tls_ca_file)
        if self.tls_cert_file:
            context.load_cert_chain(self.tls_cert_file, self.tls_key_file)
        return context

    def connect_options(self) -> dict[str, Any]:
        """Keyword arguments of ``nats.connect`` (besides callbacks and timeouts)."""
        options: dict[str, Any] = {"servers": [u.strip() for u in self.url.split(",") if u.strip()]}
        if self.seed_file:
            options["nkeys_seed"] = self.seed_file
        if self.identity and self.identity != ADMIN:
            options["inbox_prefix"] = inbox_prefix(self.identity)
        if (context := self.tls_context()) is not None:
            options["tls"] = context
        return options

    @classmethod
    def from_directory(cls, url: str, directory: str | Path | None, identity: str, **tls: str | None) -> NatsClient:
        """``identity``'s client with its seed from a credentials directory; no credentials when the
        directory is not given or holds no seed for it (an unauthenticated server)."""
        path = seed_file(Path(directory), identity) if directory else None
        if path is None or not path.exists():
            return cls(url, **tls)
        return cls(url, str(path), identity, **tls)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kit.natsauth", description="NATS identities of the platform")
    commands = parser.add_subparsers(dest="command", required=True)
    show = commands.add_parser("permissions", help="print every identity's permissions (JSON)")
    show.set_defaults(run=lambda a: print(json.dumps({i: p.server_config() for i, p in platform_permissions().items()},
                                                     indent=2)))
    gen = commands.add_parser("generate", help="seeds (kept when present) and the server's authorization.conf")
    gen.add_argument("directory", type=Path)
    gen.set_defaults(run=lambda a: print(generate(a.directory)))
    for name, action in (("rotate", rotate), ("retire", retire)):
        sub = commands.add_parser(name, help=f"{name} an identity's key; run generate afterwards")
        sub.add_argument("directory", type=Path)
        sub.add_argument("identity")
        sub.set_defaults(run=lambda a, action=action: action(a.directory, a.identity))
    args = parser.parse_args(argv)
    args.run(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
