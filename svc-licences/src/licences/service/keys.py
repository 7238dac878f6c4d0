"""The issuer's signing keys, kept as PEM files in a directory (``LICENCES_KEY_DIR``).

Ops rotate keys without a release and without a restart:

* a key file is named ``<activation>-<label>.pem`` with the activation time as ``YYYYMMDDTHHMMSSZ``
  (UTC); a file without a time is active from the moment it appears;
* the key that signs is the one activated most recently that is already active; a key whose
  activation lies ahead is **published** in the JWKS but does not sign yet, so verifiers have
  cached it before the switch;
* an old key stays published as long as its file stays; ops delete it once every credential it
  signed has expired.

Two algorithms, one directory: a file's algorithm is its PEM's curve — P-256 keys sign ES256 (the
SD-JWT VCs, status lists, 亮证 COSE, the trust list), SM2 keys (sm2p256v1) sign the licences' SM2
documents (``licences.service.sm2docs``) and, when asked for, 亮证 presentations. Every rule above holds
for each algorithm on its own: the newest active P-256 key signs ES256, the newest active SM2 key
signs SM2, and each is published ahead of its activation (the JWKS, ``/.well-known/sm2-keys.json``).
One directory keeps one Secret, one mount and one rotation procedure for ops.

The directory is read again every ``key_reload_seconds``. In the development profile, when it holds
no key of an algorithm (a fresh ``make run`` or the integration suite) one key of that algorithm is
created, with O_EXCL so replicas starting together end up with one key.

In the production profile the directory is a read-only Secret volume shared by every replica: the
service never creates a key nor writes there, and refuses to start without a usable key of each
algorithm. A file
without an activation time in its name is refused there too (logged with its name): its activation
would be its modification time, which each pod's copy of a Secret has its own of, so replicas could
sign with different keys for a while. Every replica reading the same files publishes the same JWKS
and signs with the same key. Key material is never logged: only key ids.
"""
from __future__ import annotations

import base64
import os
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import structlog
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cwt import COSEKey
from cwt.cose_key_interface import COSEKeyInterface
from jwcrypto.jwk import JWK

from kit.gm import sm2
from kit.settings import under_working_directory

log = structlog.get_logger("licences.keys")

ALG = "ES256"
SM2_ALG = "SM2"  # SM2 with SM3 (GB/T 32918.2, GB/T 35276)
KID_LENGTH = 8
INITIAL = {ALG: "initial", SM2_ALG: "initial-sm2"}  # the development keys' labels
_ACTIVATION = re.compile(r"^(\d{8}T\d{6}Z)")


@dataclass(frozen=True)
class IssuerKey:
    kid: str
    activates_at: datetime
    private_key: ec.EllipticCurvePrivateKey
    jwk: JWK  # private, for signing JOSE
    cose_key: COSEKeyInterface  # private, for signing COSE (亮证 presentations)
    public_key: ec.EllipticCurvePublicKey  # for verifying 亮证 presentations (``credentials``)

    @property
    def public_jwk(self) -> dict[str, Any]:
        public = self.jwk.export_public(as_dict=True)
        public.update({"kid": self.kid, "use": "sig", "alg": ALG})
        return public


@dataclass(frozen=True)
class SM2Key:
    """An SM2 signing key; its kid is the first 8 characters of base64url(SM3(04‖x‖y)) (there is no RFC
    7638 thumbprint for SM2), as short as the ES256 kids for the same reason."""
    kid: str
    activates_at: datetime
    private_key: sm2.PrivateKey
    signer_id: bytes = sm2.DEFAULT_SIGNER_ID

    @cached_property
    def public_key(self) -> sm2.PublicKey:
        return self.private_key.public_key()

    def sign(self, data: bytes) -> bytes:
        return sm2.sign(self.private_key, data, self.signer_id)

    def published(self) -> dict[str, Any]:
        """The key as ``/.well-known/sm2-keys.json`` and the trust list publish it."""
        public = self.public_key
        return {"kid": self.kid, "alg": SM2_ALG, "curve": sm2.CURVE, "hash": "SM3",
                "signer_id": self.signer_id.decode(), "activates_at": self.activates_at.isoformat(),
                "public_key": sm2.public_point(public).hex(), "public_key_pem": sm2.public_pem(public)}


def sm2_kid(public: sm2.PublicKey) -> str:
    return base64.urlsafe_b64encode(sm2.sm3(sm2.public_point(public))).decode()[:KID_LENGTH]


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


def create_key(directory: Path, activates_at: datetime | None = None, label: str = "key", *, alg: str = ALG) -> Path:
    """Write a new P-256 (``alg`` ES256) or SM2 key; it activates at ``activates_at`` (now when None)."""
    directory.mkdir(parents=True, exist_ok=True)
    when = (activates_at or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    path = directory / f"{when}-{label}.pem"
    if alg == SM2_ALG:
        pem = sm2.private_pem(sm2.generate_private_key())
    else:
        pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    return path


def load_key(path: Path, signer_id: bytes = sm2.DEFAULT_SIGNER_ID) -> IssuerKey | SM2Key:
    """The key in ``path``: a P-256 key for ES256, or an SM2 key (the algorithm is the PEM's curve)."""
    pem = _read_complete(path)
    try:
        sm2_private = sm2.load_private_key(pem)
    except sm2.NotSM2:
        pass
    else:
        return SM2Key(kid=sm2_kid(sm2_private.public_key()), activates_at=_activation(path), private_key=sm2_private,
                      signer_id=signer_id)
    private = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(private, ec.EllipticCurvePrivateKey) or private.curve.name != "secp256r1":
        raise ValueError(f"{path.name}: only P-256 (ES256) and SM2 keys are used")
    jwk = JWK.from_pem(pem)
    # The first 8 characters of the key's RFC 7638 thumbprint: unique among the issuer's few keys, and
    # short, since the kid travels in every 亮证 QR code (each byte counts towards QR version 12).
    kid = jwk.thumbprint()[:KID_LENGTH]
    return IssuerKey(kid=kid, activates_at=_activation(path), private_key=private, jwk=jwk,
                     cose_key=COSEKey.from_pem(pem, kid=kid, alg=ALG), public_key=private.public_key())


def _newest_active(keys: list[Any], now: datetime | None) -> Any:
    now = now or datetime.now(UTC)
    active = [k for k in keys if k.activates_at <= now]
    if not active:  # only future keys: sign with the earliest rather than not at all
        return min(keys, key=lambda k: k.activates_at)
    return max(active, key=lambda k: (k.activates_at, k.kid))


class KeyRing:
    """Every published key of the issuer, and the one of each algorithm that signs now.

    ``read_only`` (the production profile): never create a key or the directory, and only use key
    files whose name carries their activation time. ``sm2_signer_id``: the SM2 signer id (Z) of every
    SM2 key."""

    def __init__(self, directory: Path, *, read_only: bool = False,
                 sm2_signer_id: bytes = sm2.DEFAULT_SIGNER_ID) -> None:
        self.directory = directory
        self.read_only = read_only
        self.sm2_signer_id = sm2_signer_id
        self.keys: dict[str, IssuerKey] = {}  # ES256
        self.sm2_keys: dict[str, SM2Key] = {}
        self._loaded: dict[Path, float] = {}

    def _scan(self) -> tuple[dict[Path, float], dict[str, IssuerKey], dict[str, SM2Key]]:
        seen = {p: p.stat().st_mtime for p in sorted(self.directory.glob("*.pem"))}
        if seen == self._loaded and self.keys and self.sm2_keys:
            return seen, self.keys, self.sm2_keys
        keys: dict[str, IssuerKey] = {}
        sm2_keys: dict[str, SM2Key] = {}
        for path in seen:
            if self.read_only and not _ACTIVATION.match(path.name):
                log.error("issuer_key_undated", file=path.name,
                          note="name it <YYYYMMDDTHHMMSSZ>-<label>.pem: replicas must agree on when it signs")
                continue
            try:
                key = load_key(path, self.sm2_signer_id)
            except (ValueError, OSError) as e:
                log.error("issuer_key_unreadable", file=path.name, error=type(e).__name__)
                continue
            if isinstance(key, SM2Key):
                sm2_keys[key.kid] = key
            else:
                keys[key.kid] = key
        return seen, keys, sm2_keys

    def load(self) -> KeyRing:
        if self.read_only:
            if not self.directory.is_dir():
                raise RuntimeError(f"LICENCES_KEY_DIR={str(self.directory)!r}: no such directory "
                                   f"(mount the licence signing keys Secret there)")
        else:
            self.directory.mkdir(parents=True, exist_ok=True)
        seen, keys, sm2_keys = self._scan()
        if not self.read_only and not (keys and sm2_keys):
            for alg, found in ((ALG, keys), (SM2_ALG, sm2_keys)):
                if not found:
                    try:
                        create_key(self.directory, datetime(2000, 1, 1, tzinfo=UTC), label=INITIAL[alg], alg=alg)
                    except FileExistsError:
                        pass
            seen, keys, sm2_keys = self._scan()
        missing = [name for name, found in (("P-256 (ES256)", keys), ("SM2", sm2_keys)) if not found]
        if missing:
            raise RuntimeError(f"LICENCES_KEY_DIR={str(self.directory)!r}: no usable signing key for "
                               f"{' nor for '.join(missing)} (<YYYYMMDDTHHMMSSZ>-<label>.pem, PKCS#8)")
        if seen == self._loaded and keys is self.keys:
            return self
        added = sorted((set(keys) - set(self.keys)) | (set(sm2_keys) - set(self.sm2_keys)))
        self.keys, self.sm2_keys, self._loaded = keys, sm2_keys, seen
        log.info("issuer_keys_loaded", kids=sorted(keys), sm2_kids=sorted(sm2_keys), added=added,
                 signing=self.signing_key().kid, sm2_signing=self.sm2_signing_key().kid)
        return self

    def reload(self) -> None:
        """``load`` for the periodic re-read: when the directory has become unusable meanwhile (a Secret
        emptied or unmounted by mistake) the keys already loaded stay in use, and the error is logged."""
        try:
            self.load()
        except (RuntimeError, OSError) as e:
            log.error("issuer_keys_reload_failed", error=str(e), kept=sorted(self.keys) + sorted(self.sm2_keys))

    def signing_key(self, now: datetime | None = None) -> IssuerKey:
        """The ES256 key that signs now."""
        key: IssuerKey = _newest_active(list(self.keys.values()), now)
        return key

    def sm2_signing_key(self, now: datetime | None = None) -> SM2Key:
        """The SM2 key that signs now."""
        key: SM2Key = _newest_active(list(self.sm2_keys.values()), now)
        return key

    def get(self, kid: str) -> IssuerKey | None:
        return self.keys.get(kid)

    def get_sm2(self, kid: str) -> SM2Key | None:
        return self.sm2_keys.get(kid)

    def jwks(self) -> dict[str, Any]:
        return {"keys": [k.public_jwk for k in sorted(self.keys.values(), key=lambda k: k.activates_at)]}

    def sm2_published(self) -> list[dict[str, Any]]:
        return [k.published() for k in sorted(self.sm2_keys.values(), key=lambda k: k.activates_at)]


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
