"""The development token issuer: demo users and partner clients, ES256 tokens, a JWKS.

Runs only when ``GATEWAY_DEV_ISSUER_ENABLED`` is set (``make run`` sets it); in production the
platform trusts the city's identity platform configured by ``AUTH_JWKS_URL`` / ``AUTH_ISSUER``.
The signing key is kept under ``var/`` so tokens survive a restart and every gateway worker
signs with the same key; the JWKS lists every key in the folder, so a new key can be added ahead
of a switch and an old one kept until its tokens expire.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from gateway import messages
from kit.auth import Role, SubjectKind
from kit.i18n import Text

DEMO_PASSWORD = "demo"
# The demo staff work for the bureau as a whole, so they see every department's applications; a
# token whose department is one office (e.g. 市绿化市容局林业总站) sees only that office's.
BUREAU = "市绿化市容局"


@dataclass(frozen=True)
class DemoAccount:
    subject: str
    kind: SubjectKind
    roles: tuple[str, ...]
    name: str
    org_code: str | None = None
    department: str | None = None
    province: str | None = None
    extra_scopes: tuple[str, ...] = field(default=())


# The scopes each role's tokens carry: reads are ``<area>:read``, writes ``<area>:write``, and work that
# only some roles do has its own (``applications:accept`` the window's, ``applications:decide`` the
# reviewer's, ``applications:handle`` both's for who holds an application, ``<area>:admin`` ops'). Every route declares the one it needs (``kit.auth.needs_scope``),
# the service checks it and the gateway checks it at the door. A token may be issued with fewer
# (``scope=`` at the token endpoint); the role checks of the services still apply on top.
# Everyone who signs in has an inbox (svc-notifications): reading it, marking read, choosing channels.
_INBOX = ("notifications:read", "notifications:write")
_STAFF_COMMON = ("matters:read", "applications:read", "helpdesk:read", *_INBOX)
_LICENCE_STAFF = ("licences:read", "licences:manage", "licences:verify", "recognition:read", "recognition:write")
ROLE_SCOPES: dict[str, tuple[str, ...]] = {
    Role.APPLICANT: ("matters:read", "applications:read", "applications:write", "licences:read", "licences:write",
                     "helpdesk:read", "helpdesk:write", "knowledge:read", "booking:read", "booking:write",
                     *_INBOX),
    Role.WINDOW_OFFICER: (*_STAFF_COMMON, "applications:accept", "applications:handle", "stalls:write", *_LICENCE_STAFF, "helpdesk:handle"),
    Role.REVIEWER: (*_STAFF_COMMON, "applications:decide", "applications:handle", "stalls:write", "rulesets:read", "rulesets:write",
                    *_LICENCE_STAFF, "helpdesk:handle", "knowledge:read", "knowledge:write", "knowledge:publish"),
    Role.HELPDESK_AGENT: (*_STAFF_COMMON, "helpdesk:write", "helpdesk:handle", "hotline:write", "knowledge:read"),
    Role.KNOWLEDGE_EDITOR: ("matters:read", "helpdesk:read", "knowledge:read", "knowledge:write", "guides:write",
                            *_INBOX),
    Role.OPS_ADMIN: (*_STAFF_COMMON, "matters:admin", "guides:write", "stalls:write", "rulesets:read", "rulesets:write",
                     *_LICENCE_STAFF, "recognition:admin", "partner:read", "partner:write",
                     "helpdesk:handle", "helpdesk:admin", "hotline:write",
                     "knowledge:read", "knowledge:write", "ops:read", "ops:write", "audit:read",
                     "booking:read", "booking:verify", "visitors:read", "booking:admin"),
    Role.INSPECTOR: (*_STAFF_COMMON, "stalls:write", "licences:read", "licences:verify", "recognition:read",
                     "recognition:write", "helpdesk:handle", "knowledge:read", "ops:read", "audit:read", "booking:read",
                     "visitors:read"),
    # Staff of a zoo or botanical garden: the gate's real-name entry check and the venue's day.
    Role.VENUE_STAFF: ("booking:read", "booking:verify", "visitors:read", *_INBOX),
    # Partner provinces' systems verify, read the licences granted to them and the recognitions.
    # They look up our documents and follow those they rely on, register their own issuer (合作方自助接入,
    # approved by ops): partner:read; partner:write to subscribe and to register. They also book zoo and
    # botanical-garden visits for their residents (svc-booking's partner routes).
    Role.PARTNER: ("licences:read", "licences:verify", "recognition:read", "partner:read", "partner:write",
                   "booking:read", "booking:write"),
    Role.SERVICE: ("hotline:write",),
}

# Users of `make run`: one per role, all with password "demo".
DEMO_USERS: dict[str, DemoAccount] = {
    "applicant-person": DemoAccount("u-applicant-person", SubjectKind.PERSON, (Role.APPLICANT,), "演示个人申请人"),
    "applicant-company": DemoAccount("u-applicant-company", SubjectKind.COMPANY, (Role.APPLICANT,), "上海演示绿化工程有限公司",
                                     org_code="91310115MA1H7GXQ3E"),
    "officer": DemoAccount("u-officer", SubjectKind.STAFF, (Role.WINDOW_OFFICER,), "窗口受理人员", department=BUREAU),
    "reviewer": DemoAccount("u-reviewer", SubjectKind.STAFF, (Role.REVIEWER,), "审查人员", department=BUREAU),
    "agent": DemoAccount("u-agent", SubjectKind.STAFF, (Role.HELPDESK_AGENT,), "帮办人员", department=BUREAU),
    # Help-desk agents of single offices: they see and answer only their office's tickets.
    "agent-licensing": DemoAccount("u-agent-licensing", SubjectKind.STAFF, (Role.HELPDESK_AGENT,), "许可处帮办人员",
                                   department="市绿化市容局许可处"),
    "agent-forestry": DemoAccount("u-agent-forestry", SubjectKind.STAFF, (Role.HELPDESK_AGENT,), "林业总站帮办人员",
                                  department="市林业总站"),
    # A second ops person: a calendar year submitted by one is approved by another (四眼原则).
    "ops-2": DemoAccount("u-ops-2", SubjectKind.STAFF, (Role.OPS_ADMIN,), "运维管理员（复核）", department=BUREAU),
    "editor": DemoAccount("u-editor", SubjectKind.STAFF, (Role.KNOWLEDGE_EDITOR,), "知识库编辑", department=BUREAU),
    "ops": DemoAccount("u-ops", SubjectKind.STAFF, (Role.OPS_ADMIN,), "运维管理员", department=BUREAU),
    "inspector": DemoAccount("u-inspector", SubjectKind.STAFF, (Role.INSPECTOR,), "监督检查人员", department=BUREAU),
    "gate": DemoAccount("u-gate", SubjectKind.STAFF, (Role.VENUE_STAFF,), "上海动物园检票员", department="上海动物园"),
}

# Partner systems (client credentials), secret "demo".
DEMO_CLIENTS: dict[str, DemoAccount] = {
    "partner-js": DemoAccount("c-partner-js", SubjectKind.PARTNER, (Role.PARTNER,), "江苏省林业局", province="JS"),
    "partner-zj": DemoAccount("c-partner-zj", SubjectKind.PARTNER, (Role.PARTNER,), "浙江省林业局", province="ZJ"),
    "partner-ah": DemoAccount("c-partner-ah", SubjectKind.PARTNER, (Role.PARTNER,), "安徽省林业局", province="AH"),
    # The 12345 hotline's telephony system records its three-way transfer attempts.
    "hotline-12345": DemoAccount("c-hotline-12345", SubjectKind.SERVICE, (Role.SERVICE,), "12345 市民服务热线"),
}


class InvalidGrant(Exception):
    def __init__(self, error: str, description: Text, status: int = 400) -> None:
        super().__init__(str(description))
        self.error = error
        self.description = description
        self.status = status


@dataclass
class SigningKey:
    kid: str
    private_key: ec.EllipticCurvePrivateKey

    @property
    def public_jwk(self) -> dict[str, Any]:
        jwk: dict[str, Any] = json.loads(ECAlgorithm.to_jwk(self.private_key.public_key()))
        jwk.update({"kid": self.kid, "use": "sig", "alg": "ES256"})
        return jwk


def _rfc7638(jwk: dict[str, Any]) -> str:
    """The key's JWK thumbprint (RFC 7638), used as its ``kid``."""
    canonical = json.dumps({k: jwk[k] for k in ("crv", "kty", "x", "y")}, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()


def load_or_create_keys(directory: Path) -> list[SigningKey]:
    """Every ``*.pem`` key in ``directory``, newest last; one is created when there is none.

    Created with O_EXCL so gateway workers starting together end up with a single key.
    """
    directory.mkdir(parents=True, exist_ok=True)
    if not any(directory.glob("*.pem")):
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        try:
            fd = os.open(directory / "signing-key-0001.pem", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(pem)
        except FileExistsError:
            pass
    keys = []
    for path in sorted(directory.glob("*.pem")):
        for _ in range(50):  # a concurrent worker may still be writing it
            data = path.read_bytes()
            if data.strip().endswith(b"-----END PRIVATE KEY-----"):
                break
            time.sleep(0.01)
        private = serialization.load_pem_private_key(data, password=None)
        if not isinstance(private, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{path}: only P-256 keys are used for ES256")
        keys.append(SigningKey(_rfc7638(json.loads(ECAlgorithm.to_jwk(private.public_key()))), private))
    return keys


class DevIssuer:
    def __init__(self, key_dir: Path, *, issuer: str, audience: str, ttl_seconds: int) -> None:
        self.keys = load_or_create_keys(key_dir)
        self.issuer = issuer
        self.audience = audience
        self.ttl = ttl_seconds

    @property
    def active_key(self) -> SigningKey:
        return self.keys[-1]

    def jwks(self) -> dict[str, Any]:
        return {"keys": [k.public_jwk for k in self.keys]}

    def issue(self, account: DemoAccount, *, client_id: str | None = None, requested_scope: str | None = None) -> dict[str, Any]:
        allowed = sorted({s for r in account.roles for s in ROLE_SCOPES.get(r, ())} | set(account.extra_scopes))
        if requested_scope:
            wanted = requested_scope.split()
            unknown = [s for s in wanted if s not in allowed]
            if unknown:
                raise InvalidGrant("invalid_scope", messages.SCOPE_NOT_ALLOWED.format(scopes=" ".join(unknown)))
            granted = wanted
        else:
            granted = allowed
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer, "aud": self.audience, "sub": account.subject, "iat": now, "nbf": now,
            "exp": now + self.ttl, "jti": uuid.uuid4().hex, "roles": list(account.roles), "scope": " ".join(granted),
            "subject_kind": account.kind.value, "name": account.name,
        }
        for claim in ("org_code", "department", "province"):
            if getattr(account, claim):
                claims[claim] = getattr(account, claim)
        if client_id:
            claims["client_id"] = client_id
        token = jwt.encode(claims, self.active_key.private_key, algorithm="ES256", headers={"kid": self.active_key.kid})
        return {"access_token": token, "token_type": "Bearer", "expires_in": self.ttl, "scope": " ".join(granted)}

    def grant(self, form: dict[str, str]) -> dict[str, Any]:
        """OAuth 2.0 token endpoint (RFC 6749): ``password`` for demo users, ``client_credentials`` for partners."""
        grant_type = form.get("grant_type")
        if grant_type == "password":
            account = DEMO_USERS.get(form.get("username", ""))
            if account is None or not hmac.compare_digest(form.get("password", ""), DEMO_PASSWORD):
                raise InvalidGrant("invalid_grant", messages.WRONG_PASSWORD)
            return self.issue(account, requested_scope=form.get("scope"))
        if grant_type == "client_credentials":
            client_id = form.get("client_id", "")
            account = DEMO_CLIENTS.get(client_id)
            if account is None or not hmac.compare_digest(form.get("client_secret", ""), DEMO_PASSWORD):
                raise InvalidGrant("invalid_client", messages.CLIENT_AUTHENTICATION_FAILED, status=401)
            return self.issue(account, client_id=client_id, requested_scope=form.get("scope"))
        raise InvalidGrant("unsupported_grant_type", messages.GRANT_TYPE_UNSUPPORTED)
