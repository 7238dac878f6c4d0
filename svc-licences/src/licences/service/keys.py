"""The issuer's signing keys, kept as PEM files in a directory (``LICENCES_KEY_DIR``).

Ops rotate keys without a release and without a restart:

* a key file is named ``<activation>-<label>.pem`` with the activation time as ``YYYYMMDDTHHMMSSZ``
  (UTC); a file without a time is active from the moment it appears;
* the key that signs is the one activated most recently that is already active; a key whose
  activation lies ahead is **published** in the JWKS but does not sign yet, so verifiers have
  cached it before the switch;
* an old key stays published as long as its file stays; ops delete it once every credential it
  signed has expired.

The directory is read again every ``key_reload_seconds``. In the development profile, when it holds
no key at all (a fresh ``make run`` or the integration suite) one P-256 key is created, with O_EXCL
so replicas starting together end up with one key.

In the production profile the directory is a read-only Secret volume shared by every replica: the
service never creates a key nor writes there, and refuses to start without a usable key. A file
without an activation time in its name is refused there too (logged with its name): its activation
would be its modification time, which each pod's copy of a Secret has its own of, so replicas could
sign with different keys for a while. Every replica reading the same files publishes the same JWKS
and signs with the same key. Key material is never logged: only key ids.
"""
from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cwt import COSEKey
from cwt.cose_key_interface import COSEKeyInterface
from jwcrypto.jwk import JWK

from kit.settings import under_working_directory

log = structlog.get_logger("licences.keys")

ALG = "ES256"
KID_LENGTH = 8
_ACTIVATION = re.compile(r"^(\d{8}T\d{6}Z)")


@dataclass(frozen=True)
class IssuerKey:
    kid: str
    activates_at: datetime
    private_key: ec.EllipticCurvePrivateKey
    jwk: JWK  # private, for signing JOSE
    cose_key: COSEKeyInterface  # private, for signing COSE (亮证 presentations)
    cose_public: COSEKeyInterface

    @property
    def public_jwk(self) -> dict[str, Any]:
        public = self.jwk.export_public(as_dict=True)
        public.update({"kid": self.kid, "use": "sig", "alg": ALG})
        return public


def _activation(path: Path) -> datetime:
    match = _ACTIVATION.match(path.name)
    if match:
        return datetime.strptime(match.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    return datetime.fromtimestamp(path.stat().st_mtime, UTC)


def _read_complete(path: Path) -> bytes:
    for _ in range(50):  # a replica starting at the same time may still be writing it
        data = path.read_bytes()
        if data.strip().endswith(b"-----END PRIVATE KEY-----"):
            return data
        time.sleep(0.01)
    raise ValueError(f"{path.name}: not a complete PKCS#8 PEM key")


def create_key(directory: Path, activates_at: datetime | None = None, label: str = "key") -> Path:
    """Write a new P-256 key; it activates at ``activates_at`` (now when None)."""
    directory.mkdir(parents=True, exist_ok=True)
    when = (activates_at or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    path = directory / f"{when}-{label}.pem"
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    return path


def load_key(path: Path) -> IssuerKey:
    pem = _read_complete(path)
    private = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(private, ec.EllipticCurvePrivateKey) or private.curve.name != "secp256r1":
        raise ValueError(f"{path.name}: only P-256 keys are used for ES256")
    jwk = JWK.from_pem(pem)
    # The first 8 characters of the key's RFC 7638 thumbprint: unique among the issuer's few keys, and
    # short, since the kid travels in every 亮证 QR code (each byte counts towards QR version 12).
    kid = jwk.thumbprint()[:KID_LENGTH]
    public_pem = private.public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo)
    return IssuerKey(kid=kid, activates_at=_activation(path), private_key=private, jwk=jwk,
                     cose_key=COSEKey.from_pem(pem, kid=kid, alg=ALG),
                     cose_public=COSEKey.from_pem(public_pem, kid=kid, alg=ALG))


class KeyRing:
    """Every published key of the issuer, and the one that signs now.

    ``read_only`` (the production profile): never create a key or the directory, and only use key
    files whose name carries their activation time."""

    def __init__(self, directory: Path, *, read_only: bool = False) -> None:
        self.directory = directory
        self.read_only = read_only
        self.keys: dict[str, IssuerKey] = {}
        self._loaded: dict[Path, float] = {}

    def load(self) -> KeyRing:
        if self.read_only:
            if not self.directory.is_dir():
                raise RuntimeError(f"LICENCES_KEY_DIR={str(self.directory)!r}: no such directory "
                                   f"(mount the licence signing keys Secret there)")
        else:
            self.directory.mkdir(parents=True, exist_ok=True)
            if not any(self.directory.glob("*.pem")):
                try:
                    create_key(self.directory, datetime(2000, 1, 1, tzinfo=UTC), label="initial")
                except FileExistsError:
                    pass
        seen = {p: p.stat().st_mtime for p in sorted(self.directory.glob("*.pem"))}
        if seen == self._loaded and self.keys:
            return self
        keys: dict[str, IssuerKey] = {}
        for path in seen:
            if self.read_only and not _ACTIVATION.match(path.name):
                log.error("issuer_key_undated", file=path.name,
                          note="name it <YYYYMMDDTHHMMSSZ>-<label>.pem: replicas must agree on when it signs")
                continue
            try:
                key = load_key(path)
            except (ValueError, OSError) as e:
                log.error("issuer_key_unreadable", file=path.name, error=type(e).__name__)
                continue
            keys[key.kid] = key
        if not keys:
            raise RuntimeError(f"LICENCES_KEY_DIR={str(self.directory)!r}: no usable signing key "
                               f"(<YYYYMMDDTHHMMSSZ>-<label>.pem, P-256 PKCS#8)")
        added = sorted(set(keys) - set(self.keys))
        self.keys, self._loaded = keys, seen
        log.info("issuer_keys_loaded", kids=sorted(keys), added=added, signing=self.signing_key().kid)
        return self

    def reload(self) -> None:
        """``load`` for the periodic re-read: when the directory has become unusable meanwhile (a Secret
        emptied or unmounted by mistake) the keys already loaded stay in use, and the error is logged."""
        try:
            self.load()
        except (RuntimeError, OSError) as e:
            log.error("issuer_keys_reload_failed", error=str(e), kept=sorted(self.keys))

    def signing_key(self, now: datetime | None = None) -> IssuerKey:
        now = now or datetime.now(UTC)
        active = [k for k in self.keys.values() if k.activates_at <= now]
        if not active:  # only future keys: sign with the earliest rather than not at all
            return min(self.keys.values(), key=lambda k: k.activates_at)
        return max(active, key=lambda k: (k.activates_at, k.kid))

    def get(self, kid: str) -> IssuerKey | None:
        return self.keys.get(kid)

    def jwks(self) -> dict[str, Any]:
        return {"keys": [k.public_jwk for k in sorted(self.keys.values(), key=lambda k: k.activates_at)]}


def key_ring_problems(key_dir: Path) -> list[str]:
    """Why the signing keys in ``key_dir`` cannot serve in production (a key directory under the working
    directory is refused by the settings already)."""
    if under_working_directory(key_dir):
        return []
    try:
        KeyRing(key_dir, read_only=True).load()
    except RuntimeError as e:
        return [str(e)]
    return []
