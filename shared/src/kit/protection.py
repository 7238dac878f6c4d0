"""Personal data (个人信息) at rest: AES-GCM field encryption under configured keys, keyed hashes
for exact lookups, and masking (脱敏) for responses.

What is personal here: resident ID numbers (居民身份证号码), phone numbers, and the names of the
people they belong to (contact person, technical lead, ...). Everything else stays in clear so the
hot paths (submission, lists, the cockpit) pay nothing for it.

Keys come from configuration (``DATA_PROTECTION_*``, read by ``ProtectionSettings``):

- ``DATA_PROTECTION_KEYS``: a JSON object ``{"<key id>": "<base64 of 32 random bytes>", ...}``;
- ``DATA_PROTECTION_ACTIVE_KEY``: the key id new values are encrypted under (default: the last one
  listed). Older keys stay listed so what they encrypted still decrypts; ``Keyring.reencrypt``
  (and ``reencrypt_form``) move a value to the active key, so ops can rotate and then retire a key;
- ``DATA_PROTECTION_LOOKUP_KEY``: base64 of the HMAC-SHA256 key of lookup hashes. A lookup hash
  cannot be "rotated" in place: changing it means recomputing every hash from the decrypted values.

With none configured (a workstation, ``make run``, the tests) a development keyring is created once
under ``DATA_PROTECTION_DEV_KEY_DIR`` (default ``var/data-protection``) and shared by every process
of the checkout; a warning says so at start. Production sets ``DATA_PROTECTION_ALLOW_DEV_KEYS=false``
so that a missing key stops the service instead. Key material is never logged, only key ids.

Each ciphertext is the string ``pd1.<key id>.<base64url(nonce ‖ ciphertext ‖ tag)>``; the value's
context (e.g. the form field's key) is bound as associated data, so a ciphertext copied into another
field does not decrypt.
"""
from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import os
import re
import secrets
import threading
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator

log = structlog.get_logger("kit.protection")

TOKEN_PREFIX = "pd1"
# A protected value inside a JSON document (a form): {"$protected": "<token>"}. Form values the
# platform accepts for personal fields are strings, so a submitted object can never pass for one.
PROTECTED_MARKER = "$protected"
# Optionally beside it, the value's keyed hash ({"$protected": ..., "$digest": ...}): lets SQL tell
# whether two stored values are equal (``coalesce(value -> '$digest', value)``) without decrypting.
DIGEST_MARKER = "$digest"
_KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_NONCE_BYTES = 12


class ProtectionError(Exception):
    """A value could not be decrypted: unknown key id, wrong context, or tampered ciphertext."""


class ProtectionSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", env_prefix="DATA_PROTECTION_")

    keys: dict[str, str] = {}
    active_key: str | None = None
    lookup_key: str | None = None
    allow_dev_keys: bool = True
    dev_key_dir: Path = Path("var/data-protection")

    @field_validator("keys")
    @classmethod
    def _key_ids(cls, keys: dict[str, str]) -> dict[str, str]:
        for kid in keys:
            if not _KEY_ID.match(kid):
                raise ValueError(f"key id {kid!r}: letters, digits, '_' and '-' only")
        return keys


def _decode_key(kid: str, value: str) -> bytes:
    try:
        raw = base64.b64decode(value, validate=True)
    except ValueError:
        raise ValueError(f"data-protection key {kid!r} is not base64") from None
    if len(raw) != 32:
        raise ValueError(f"data-protection key {kid!r} must be 32 bytes (AES-256), not {len(raw)}")
    return raw


class Keyring:
    """The keys of one process: every configured key decrypts, the active one encrypts."""

    def __init__(self, keys: Mapping[str, bytes], active: str, lookup_key: bytes) -> None:
        if active not in keys:
            raise ValueError(f"the active data-protection key {active!r} is not among the keys")
        if len(lookup_key) < 32:
            raise ValueError("the lookup key must be at least 32 bytes")
        self._ciphers = {kid: AESGCM(key) for kid, key in keys.items()}
        self.active = active
        self._lookup_key = lookup_key

    @property
    def key_ids(self) -> list[str]:
        return list(self._ciphers)

    @classmethod
    def generate(cls, kid: str = "test") -> Keyring:
        return cls({kid: AESGCM.generate_key(bit_length=256)}, kid, secrets.token_bytes(32))

    @classmethod
    def from_settings(cls, settings: ProtectionSettings) -> Keyring:
        if settings.keys:
            keys = {kid: _decode_key(kid, value) for kid, value in settings.keys.items()}
            active = settings.active_key or list(keys)[-1]
            if not settings.lookup_key:
                raise ValueError("DATA_PROTECTION_LOOKUP_KEY is required with DATA_PROTECTION_KEYS")
            return cls(keys, active, base64.b64decode(settings.lookup_key, validate=True))
        if not settings.allow_dev_keys:
            raise RuntimeError("no data-protection keys configured (DATA_PROTECTION_KEYS) and development keys are off")
        return development_keyring(settings.dev_key_dir)

    def encrypt(self, plaintext: str, *, context: str = "") -> str:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._ciphers[self.active].encrypt(nonce, plaintext.encode(), context.encode())
        return f"{TOKEN_PREFIX}.{self.active}.{base64.urlsafe_b64encode(nonce + sealed).decode().rstrip('=')}"

    def decrypt(self, token: str, *, context: str = "") -> str:
        kid, body = _split(token)
        cipher = self._ciphers.get(kid)
        if cipher is None:
            raise ProtectionError(f"unknown data-protection key id {kid!r}")
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            return cipher.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], context.encode()).decode()
        except (InvalidTag, ValueError) as e:
            raise ProtectionError("the protected value does not decrypt (tampered, or another context)") from e

    @staticmethod
    def key_id_of(token: str) -> str:
        """The id of the key ``token`` was encrypted under (a re-encryption job's selector)."""
        return _split(token)[0]

    def needs_reencryption(self, token: str) -> bool:
        return self.key_id_of(token) != self.active

    def reencrypt(self, token: str, *, context: str = "") -> str:
        """The value under the active key (unchanged when it already is)."""
        if not self.needs_reencryption(token):
            return token
        return self.encrypt(self.decrypt(token, context=context), context=context)

    def lookup_hash(self, value: str, *, purpose: str) -> str:
        """A keyed hash for exact lookups of ``value`` (normalised: trimmed, upper case, no spaces or
        hyphens); ``purpose`` (e.g. ``"resident_id"``) keeps hashes of different kinds apart."""
        normalised = re.sub(r"[\s-]", "", value).upper()
        return hmac.new(self._lookup_key, f"{purpose}\x00{normalised}".encode(), hashlib.sha256).hexdigest()


def is_token(value: Any) -> bool:
    """Whether ``value`` has the shape of a protected value's token (``pd1.<key id>.<sealed>``)."""
    try:
        _split(value)
    except ProtectionError:
        return False
    return True


def _split(token: str) -> tuple[str, str]:
    parts = token.split(".", 2) if isinstance(token, str) else []
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX:
        raise ProtectionError("not a protected value")
    return parts[1], parts[2]


def development_keyring(directory: Path) -> Keyring:
    """The checkout's development keyring, created on first use (atomically: processes starting
    together all end up with the same file)."""
    path = directory / "keys.json"
    if not path.exists():
        directory.mkdir(parents=True, exist_ok=True)
        kid = "dev-" + datetime.now(UTC).strftime("%Y%m%d%H%M%S")
        document = {"keys": {kid: base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()},
                    "lookup_key": base64.b64encode(secrets.token_bytes(32)).decode()}
        scratch = directory / f".keys-{os.getpid()}-{secrets.token_hex(4)}"
        scratch.write_text(json.dumps(document))
        scratch.chmod(0o600)
        with contextlib.suppress(FileExistsError):
            os.link(scratch, path)  # fails when another process was first: theirs is kept
        scratch.unlink()
    document = json.loads(path.read_text())
    keys = {kid: _decode_key(kid, value) for kid, value in document["keys"].items()}
    active = document.get("active") or list(keys)[-1]
    log.warning("data_protection_development_keys", key_dir=str(directory.resolve()), active_key=active,
                note="development keys: set DATA_PROTECTION_KEYS and DATA_PROTECTION_LOOKUP_KEY in production")
    return Keyring(keys, active, base64.b64decode(document["lookup_key"]))


_keyring: Keyring | None = None
_keyring_lock = threading.Lock()


def keyring() -> Keyring:
    """The process's keyring, built from ``ProtectionSettings`` on first use."""
    global _keyring
    if _keyring is None:
        with _keyring_lock:
            if _keyring is None:
                _keyring = Keyring.from_settings(ProtectionSettings())
    return _keyring


@contextlib.contextmanager
def using_keyring(ring: Keyring) -> Iterator[Keyring]:
    """Use ``ring`` as the process's keyring inside the block (tests, key rotation jobs)."""
    global _keyring
    previous, _keyring = _keyring, ring
    try:
        yield ring
    finally:
        _keyring = previous


# --- what is personal, and how it is masked ------------------------------------------------------

# Form fields are personal by their key: the catalogue gives resident-ID and mobile fields keys
# ending like this, and names of people (not of shops, projects or plants) the *_contact_name /
# *_lead_name / *_person_name / *_representative forms.
_ID_NUMBER_KEYS = ("id_number", "id_no", "resident_id")
_PHONE_KEYS = ("mobile", "phone", "telephone")
_NAME_KEYS = ("contact_name", "lead_name", "person_name", "representative", "applicant_name", "holder_name")
PERSONAL_FIELD_TYPES = frozenset({"resident_id", "mobile"})


def personal_kind(key: str) -> str | None:
    """``"id_number"``, ``"phone"`` or ``"name"`` when the field ``key`` holds personal data, else None."""
    k = key.lower()
    if k.endswith(_ID_NUMBER_KEYS):
        return "id_number"
    if k.endswith(_PHONE_KEYS):
        return "phone"
    if k.endswith(_NAME_KEYS) or k == "name":
        return "name"
    return None


def is_personal(key: str) -> bool:
    return personal_kind(key) is not None


def mask_id_number(value: str) -> str:
    """310101199001011234 → 310***********1234."""
    if len(value) <= 7:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


def mask_phone(value: str) -> str:
    """13856785678 → 138****5678."""
    if len(value) <= 7:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


def mask_name(value: str) -> str:
    """张三 → 张*, 欧阳娜娜 → 欧***."""
    if len(value) <= 1:
        return "*"
    return value[0] + "*" * (len(value) - 1)


_MASKS = {"id_number": mask_id_number, "phone": mask_phone, "name": mask_name}


def mask_value(key: str, value: Any) -> Any:
    """``value`` masked as the field ``key`` requires; non-personal fields and non-strings unchanged."""
    kind = personal_kind(key)
    if kind is None or not isinstance(value, str):
        return value
    return _MASKS[kind](value)


def mask_form(form: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if form is None:
        return None
    return {k: mask_value(k, v) for k, v in form.items()}


# --- protected JSON documents and columns --------------------------------------------------------

def protect_form(form: Mapping[str, Any], ring: Keyring | None = None, *, digests: bool = False) -> dict[str, Any]:
    """``form`` with every personal value replaced by ``{"$protected": <token>}`` (and its keyed
    hash under ``"$digest"`` when ``digests``, for equality comparisons in SQL)."""
    ring = ring or keyring()
    out: dict[str, Any] = {}
    for k, v in form.items():
        if v is not None and is_personal(k) and not _is_protected(v):
            plain = json.dumps(v, ensure_ascii=False)
            v = {PROTECTED_MARKER: ring.encrypt(plain, context=k)}
            if digests:
                v[DIGEST_MARKER] = ring.lookup_hash(plain, purpose=f"form:{k}")
        out[k] = v
    return out


def reveal_form(form: Mapping[str, Any], ring: Keyring | None = None) -> dict[str, Any]:
    """The inverse of ``protect_form``."""
    ring = ring or keyring()
    return {k: (json.loads(ring.decrypt(v[PROTECTED_MARKER], context=k)) if _is_protected(v) else v)
            for k, v in form.items()}


def reencrypt_form(form: Mapping[str, Any], ring: Keyring | None = None) -> dict[str, Any]:
    """``form`` with every protected value under the active key (for a key-rotation job)."""
    ring = ring or keyring()
    return {k: ({**v, PROTECTED_MARKER: ring.reencrypt(v[PROTECTED_MARKER], context=k)} if _is_protected(v) else v)
            for k, v in form.items()}


def _is_protected(value: Any) -> bool:
    return (isinstance(value, dict) and isinstance(value.get(PROTECTED_MARKER), str)
            and set(value) <= {PROTECTED_MARKER, DIGEST_MARKER})


class ProtectedText(TypeDecorator[str]):
    """A text column holding one personal value, encrypted; ``context`` binds it to its column
    (use ``"<table>.<column>"``)."""

    impl = Text
    cache_ok = True

    def __init__(self, context: str) -> None:
        super().__init__()
        self.context = context

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        return None if value is None else keyring().encrypt(value, context=self.context)

    def process_result_value(self, value: str | None, dialect: Any) -> str | None:
        return None if value is None else keyring().decrypt(value, context=self.context)


class ProtectedForm(TypeDecorator[dict[str, Any]]):
    """A JSONB document (a form) whose personal fields (``is_personal``) are encrypted one by one;
    every other field stays queryable in clear (``form['district'].astext``). ``digests=True`` keeps
    each personal value's keyed hash beside it, for tables whose SQL compares values."""

    impl = JSONB
    cache_ok = True

    def __init__(self, *, digests: bool = False) -> None:
        super().__init__()
        self.digests = digests

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        return protect_form(value, digests=self.digests) if isinstance(value, Mapping) else value

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        return reveal_form(value) if isinstance(value, Mapping) else value
