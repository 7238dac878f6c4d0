"""Personal data (个人信息) at rest: authenticated field encryption (AES-256-GCM, or SM4-GCM of 国密)
under configured keys, keyed hashes for exact lookups, and masking (脱敏) for responses.

What is personal here: resident ID numbers (居民身份证号码), phone numbers, and the names of the
people they belong to (contact person, technical lead, ...). Everything else stays in clear so the
hot paths (submission, lists, the cockpit) pay nothing for it.

Keys come from mounted secret files or from the environment (``DATA_PROTECTION_*``, read by
``ProtectionSettings``); production uses the files:

- ``DATA_PROTECTION_KEY_DIR``: a directory laid out as a Kubernetes Secret volume is (flat; names
  starting with ``.`` are the volume's own and ignored):

  - ``<key id>.key``, one file per AES-256-GCM key: base64 of 32 random bytes;
  - ``<key id>.sm4.key``, one file per SM4-GCM key (国密, GB/T 32907 with GCM as RFC 8998 gives it):
    base64 of 16 random bytes;
  - ``active-key-id``: the key id new values are encrypted under (optional with a single key);
  - ``lookup-key``: base64 of the HMAC-SHA256 key of lookup hashes (at least 32 bytes).

  Create them with ``head -c 32 /dev/urandom | base64 > <key id>.key`` or
  ``head -c 16 /dev/urandom | base64 > <key id>.sm4.key`` (see deploy/README.md).
- or ``DATA_PROTECTION_KEYS``: a JSON object ``{"<key id>": "<base64 of the key>", ...}``,
  ``DATA_PROTECTION_KEY_ALGORITHMS`` (``{"<key id>": "SM4-GCM"}`` for the SM4 ones; a key not named
  there is AES-256-GCM), ``DATA_PROTECTION_ACTIVE_KEY`` (default: the last one listed) and
  ``DATA_PROTECTION_LOOKUP_KEY``.

The algorithm is a property of the key, declared where the key is: each key serves one algorithm only,
a key of the wrong length for its algorithm stops the process (``production_problems`` says so before a
deployment), and what decrypts a stored value is chosen by the key id the value names, never by the
value itself, so a stored value cannot ask for another algorithm. Moving from AES to SM4 is a rotation
like any other: list the SM4 key, make it active, run the re-encryption job (``lvrong-reencrypt``).

Every key listed decrypts; the active one encrypts. Rotation: add the new key everywhere first,
then make it active, so no process encrypts under a key another cannot read yet; ``Keyring.key_id_of``
tells which key a stored value uses and ``Keyring.reencrypt`` (and ``reencrypt_form``) move a value
to the active key, so ops can retire the old one once nothing uses it. A lookup key cannot be
"rotated" in place: changing it means recomputing every hash from the decrypted values.

Lookup hashes stay HMAC-SHA256 whatever the keys' algorithm, on purpose. They are stored and compared
by three services (svc-prequal's declared applicant and its forms' ``$digest``, svc-licences' holder
code), so a different function would change every stored hash at once and a lookup would miss every
value written before: switching needs a re-indexing migration per service that decrypts and rehashes
every row (as svc-prequal's ``0009_form_digests`` did when digests were added), with lookups wrong
between the key change and the end of that migration. They protect no value's confidentiality or
integrity — SM4-GCM (or AES-GCM) does, with its tag — they only let equal values be found, which
HMAC-SHA256 does as well as HMAC-SM3. Should a 密评 ask for HMAC-SM3 there too, the path is that
migration per service plus a ``lookup-key`` that declares its function like the keys above; nothing
else here changes (deploy/README.md, "国密: SM4-GCM keys at rest, the HMAC-SM3 audit chain, SM2-signed checkpoints").

With none configured in the development profile (a workstation, ``make run``, the tests) a
development keyring is created once under ``DATA_PROTECTION_DEV_KEY_DIR`` (default
``var/data-protection``) and shared by every process of the checkout; a warning says so at start.
The production profile (``LVRONG_PROFILE=production``) never does: a missing key stops the process
(as ``DATA_PROTECTION_ALLOW_DEV_KEYS=false`` does in development). Key material is never logged,
only key ids.

Each ciphertext is the string ``pd1.<key id>.<base64url(nonce ‖ ciphertext ‖ tag)>`` (a 96-bit
nonce, a 128-bit tag, with either algorithm), unchanged since before SM4: the key id says which key,
hence which algorithm, so every token ever written stays readable while its key is listed; the value's
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
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import structlog
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator

from kit.gm.symmetric import SM4GCM
from kit.settings import Profile, current_profile

log = structlog.get_logger("kit.protection")

TOKEN_PREFIX = "pd1"
# A protected value inside a JSON document (a form): {"$protected": "<token>"}. Form values the
# platform accepts for personal fields are strings, so a submitted object can never pass for one.
PROTECTED_MARKER = "$protected"
# Optionally beside it, the value's keyed hash ({"$protected": ..., "$digest": ...}): lets SQL tell
# whether two stored values are equal (``coalesce(value -> '$digest', value)``) without decrypting.
DIGEST_MARKER = "$digest"
_KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# The files of a key directory besides the keys themselves (``<key id>.key``).
ACTIVE_KEY_FILE = "active-key-id"
LOOKUP_KEY_FILE = "lookup-key"
KEY_FILE_SUFFIX = ".key"
_NONCE_BYTES = 12

AES_256_GCM = "AES-256-GCM"
SM4_GCM = "SM4-GCM"


class _Aead(Protocol):
    def encrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes: ...
    def decrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes: ...


# Algorithm → (key bytes, AEAD class with AESGCM's interface, the key file's suffix in a key directory).
ALGORITHMS: dict[str, tuple[int, Callable[[bytes], _Aead], str]] = {
    AES_256_GCM: (32, AESGCM, KEY_FILE_SUFFIX),
    SM4_GCM: (16, SM4GCM, ".sm4" + KEY_FILE_SUFFIX),
}
DEFAULT_ALGORITHM = AES_256_GCM


class ProtectionError(Exception):
    """A value could not be decrypted: unknown key id, wrong context, or tampered ciphertext."""


class ProtectionSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", env_prefix="DATA_PROTECTION_")

    keys: dict[str, str] = {}
    # Key id → algorithm, for the keys of DATA_PROTECTION_KEYS that are not AES-256-GCM.
    key_algorithms: dict[str, str] = {}
    active_key: str | None = None
    lookup_key: str | None = None
    key_dir: Path | None = None
    # When set (e.g. "SM4-GCM" where 密评 asks for 国密), the active key must be of this algorithm, or no
    # process starts: a deployment states its algorithm and a key mounted by mistake cannot weaken it.
    required_algorithm: str | None = None
    allow_dev_keys: bool = True
    dev_key_dir: Path = Path("var/data-protection")

    def production_problems(self) -> list[str]:
        """Why this configuration would not give a production keyring (empty when it would)."""
        try:
            Keyring.from_settings(self)
        except (ValueError, OSError, RuntimeError) as e:
            return [str(e)]
        return []

    @field_validator("keys")
    @classmethod
    def _key_ids(cls, keys: dict[str, str]) -> dict[str, str]:
        for kid in keys:
            if not _KEY_ID.match(kid):
                raise ValueError(f"key id {kid!r}: letters, digits, '_' and '-' only")
        return keys

    @field_validator("key_algorithms")
    @classmethod
    def _algorithms(cls, algorithms: dict[str, str]) -> dict[str, str]:
        for kid, algorithm in algorithms.items():
            if algorithm not in ALGORITHMS:
                raise ValueError(f"key {kid!r}: unknown algorithm {algorithm!r} (one of {', '.join(ALGORITHMS)})")
        return algorithms

    @field_validator("required_algorithm")
    @classmethod
    def _required(cls, algorithm: str | None) -> str | None:
        if algorithm is not None and algorithm not in ALGORITHMS:
            raise ValueError(f"unknown algorithm {algorithm!r} (one of {', '.join(ALGORITHMS)})")
        return algorithm


def _decode_key(kid: str, value: str, algorithm: str = DEFAULT_ALGORITHM) -> bytes:
    try:
        raw = base64.b64decode(value, validate=True)
    except ValueError:
        raise ValueError(f"data-protection key {kid!r} is not base64") from None
    _check_length(kid, raw, algorithm)
    return raw


def _check_length(kid: str, raw: bytes, algorithm: str) -> None:
    length = ALGORITHMS[algorithm][0]
    if len(raw) != length:
        raise ValueError(f"data-protection key {kid!r} must be {length} bytes ({algorithm}), not {len(raw)}")


class Keyring:
    """The keys of one process: every configured key decrypts, the active one encrypts."""

    def __init__(self, keys: Mapping[str, bytes], active: str, lookup_key: bytes,
                 algorithms: Mapping[str, str] | None = None) -> None:
        """``algorithms``: key id → algorithm (``ALGORITHMS``) for the keys that are not AES-256-GCM."""
        if active not in keys:
            raise ValueError(f"the active data-protection key {active!r} is not among the keys")
        if len(lookup_key) < 32:
            raise ValueError("the lookup key must be at least 32 bytes")
        algorithms = algorithms or {}
        if unknown := set(algorithms) - set(keys):
            raise ValueError(f"algorithms given for keys that are not there: {sorted(unknown)}")
        self.algorithms = {kid: algorithms.get(kid, DEFAULT_ALGORITHM) for kid in keys}
        for kid, key in keys.items():
            if self.algorithms[kid] not in ALGORITHMS:
                raise ValueError(f"data-protection key {kid!r}: unknown algorithm {self.algorithms[kid]!r}")
            _check_length(kid, key, self.algorithms[kid])
        self._ciphers = {kid: ALGORITHMS[self.algorithms[kid]][1](key) for kid, key in keys.items()}
        self.active = active
        self._lookup_key = lookup_key

    @property
    def key_ids(self) -> list[str]:
        return list(self._ciphers)

    @classmethod
    def generate(cls, kid: str = "test", algorithm: str = DEFAULT_ALGORITHM) -> Keyring:
        return cls({kid: secrets.token_bytes(ALGORITHMS[algorithm][0])}, kid, secrets.token_bytes(32),
                   {kid: algorithm})

    @classmethod
    def from_directory(cls, directory: Path) -> Keyring:
        """The keyring in ``directory`` (``<key id>.key`` files, ``active-key-id``, ``lookup-key``), read
        only: a Secret volume mounted read-only works, and every replica reading it gets the same ring."""
        where = f"DATA_PROTECTION_KEY_DIR={str(directory)!r}"
        if not directory.is_dir():
            raise ValueError(f"{where}: no such directory (mount the data-protection keyring Secret there)")
        keys: dict[str, bytes] = {}
        algorithms: dict[str, str] = {}
        # The longest suffix first: "<id>.sm4.key" is an SM4 key, not an AES key named "<id>.sm4".
        suffixes = sorted(((suffix, name) for name, (_, _, suffix) in ALGORITHMS.items()), key=lambda s: -len(s[0]))
        for path in sorted(directory.iterdir()):
            if path.name.startswith("."):  # a Secret volume's own entries (..data, ..<timestamp>)
                continue
            if path.name in (ACTIVE_KEY_FILE, LOOKUP_KEY_FILE):
                continue
            suffix, algorithm = next(((s, a) for s, a in suffixes if path.name.endswith(s)), ("", ""))
            kid = path.name.removesuffix(suffix)
            if not suffix or not _KEY_ID.match(kid):
                raise ValueError(f"{where}: unexpected file {path.name!r} (expected <key id>{KEY_FILE_SUFFIX}, "
                                 f"<key id>{ALGORITHMS[SM4_GCM][2]}, {ACTIVE_KEY_FILE}, {LOOKUP_KEY_FILE})")
            if kid in keys:
                raise ValueError(f"{where}: two files for the key id {kid!r} (one key id, one key, one algorithm)")
            keys[kid], algorithms[kid] = _decode_key(kid, path.read_text().strip(), algorithm), algorithm
        if not keys:
            raise ValueError(f"{where}: no key file (<key id>{KEY_FILE_SUFFIX})")
        active_file = directory / ACTIVE_KEY_FILE
        if active_file.exists():
            active = active_file.read_text().strip()
        elif len(keys) == 1:
            [active] = keys
        else:
            raise ValueError(f"{where}: {ACTIVE_KEY_FILE} is missing and there are {len(keys)} keys: "
                             f"write the id of the one that encrypts into it")
        if active not in keys:
            raise ValueError(f"{where}: {ACTIVE_KEY_FILE} names {active!r}, which has no {active}{KEY_FILE_SUFFIX}")
        lookup_file = directory / LOOKUP_KEY_FILE
        if not lookup_file.exists():
            raise ValueError(f"{where}: {LOOKUP_KEY_FILE} is missing")
        try:
            lookup_key = base64.b64decode(lookup_file.read_text().strip(), validate=True)
        except ValueError:
            raise ValueError(f"{where}: {LOOKUP_KEY_FILE} is not base64") from None
        if len(lookup_key) < 32:
            raise ValueError(f"{where}: {LOOKUP_KEY_FILE} must hold at least 32 bytes, not {len(lookup_key)}")
        ring = cls(keys, active, lookup_key, algorithms)
        log.info("data_protection_keys_loaded", key_dir=str(directory), key_ids=sorted(keys), active_key=active,
                 algorithms=ring.algorithms)
        return ring

    @classmethod
    def from_settings(cls, settings: ProtectionSettings) -> Keyring:
        ring = cls._configured(settings)
        active_algorithm = ring.algorithms[ring.active]
        if settings.required_algorithm and active_algorithm != settings.required_algorithm:
            raise ValueError(f"DATA_PROTECTION_REQUIRED_ALGORITHM is {settings.required_algorithm}, but the active "
                             f"data-protection key {ring.active!r} is {active_algorithm}")
        return ring

    @classmethod
    def _configured(cls, settings: ProtectionSettings) -> Keyring:
        if settings.key_dir is not None:
            if settings.keys:
                raise ValueError("set DATA_PROTECTION_KEY_DIR or DATA_PROTECTION_KEYS, not both")
            return cls.from_directory(settings.key_dir)
        if current_profile() is Profile.PRODUCTION:
            # Keys in the environment leak into /proc/<pid>/environ, child processes and crash reports.
            raise RuntimeError("no data-protection keyring: set DATA_PROTECTION_KEY_DIR to the mounted keyring "
                               "Secret (the production profile uses neither development keys nor DATA_PROTECTION_KEYS)")
        if settings.keys:
            algorithms = settings.key_algorithms
            if unknown := set(algorithms) - set(settings.keys):
                raise ValueError(f"DATA_PROTECTION_KEY_ALGORITHMS names keys DATA_PROTECTION_KEYS lacks: {sorted(unknown)}")
            keys = {kid: _decode_key(kid, value, algorithms.get(kid, DEFAULT_ALGORITHM))
                    for kid, value in settings.keys.items()}
            active = settings.active_key or list(keys)[-1]
            if not settings.lookup_key:
                raise ValueError("DATA_PROTECTION_LOOKUP_KEY is required with DATA_PROTECTION_KEYS")
            return cls(keys, active, base64.b64decode(settings.lookup_key, validate=True), algorithms)
        if not settings.allow_dev_keys:
            raise RuntimeError("no data-protection keys configured (DATA_PROTECTION_KEY_DIR or DATA_PROTECTION_KEYS) "
                               "and development keys are off")
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

    def algorithm_of(self, token: str) -> str:
        """The algorithm ``token`` was sealed with (its key's); ``ProtectionError`` for a key not listed."""
        kid = self.key_id_of(token)
        if kid not in self.algorithms:
            raise ProtectionError(f"unknown data-protection key id {kid!r}")
        return self.algorithms[kid]

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
    algorithms = document.get("algorithms", {})  # written by hand to try SM4 on a workstation
    keys = {kid: _decode_key(kid, value, algorithms.get(kid, DEFAULT_ALGORITHM)) for kid, value in document["keys"].items()}
    active = document.get("active") or list(keys)[-1]
    log.warning("data_protection_development_keys", key_dir=str(directory.resolve()), active_key=active,
                note="development keys: set DATA_PROTECTION_KEYS and DATA_PROTECTION_LOOKUP_KEY in production")
    return Keyring(keys, active, base64.b64decode(document["lookup_key"]), algorithms)


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
