"""What the issuer signs: the licence as an SD-JWT VC (RFC 9901 + SD-JWT VC), the status list as
an IETF Token Status List JWT, and the 亮证 presentation as a CWT (COSE_Sign1, ES256) in base45.

ES256 rather than EdDSA: it is what the national cryptography-neutral profiles of SD-JWT VC and
HAIP require verifiers to support, every JOSE and COSE library partners may use verifies it, and
with ``cryptography`` it verifies faster than Ed25519 here (see DESIGN's speed notes).

SD-JWT issuance and disclosure handling use the OpenWallet Foundation's reference implementation
(``sd-jwt``); its verifier checks the signature and the disclosures but not ``exp``/``nbf``, which
``verify_credential`` checks itself.
"""
from __future__ import annotations

import base64
import secrets
import time
import zlib
from dataclasses import dataclass
from typing import Any

import base45
import cbor2
import cwt
import jwt
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from sd_jwt.common import SDObj
from sd_jwt.issuer import SDJWTIssuer
from sd_jwt.verifier import SDJWTVerifier

from kit.gm import sm2
from licences.service.keys import ALG, IssuerKey, KeyRing, SM2Key

CREDENTIAL_TYP = "dc+sd-jwt"
STATUS_LIST_TYP = "statuslist+jwt"
PRESENTATION_PREFIX = "LR1:"  # context identifier in front of the base45 text, as EU DCC's "HC1:"
# An SM2-signed presentation (the holder asked for 国密): the same CWT claims in a COSE_Sign1 signed with
# SM2-with-SM3 (r‖s, 64 bytes, as ES256's). COSE registers no SM2 algorithm and a private-use one (< -65536)
# would cost 4 more bytes in a QR at the edge of version 12, so the algorithm is carried by the prefix and
# bound into the signature as COSE's external AAD; the protected header stays empty. The verifier never
# takes the algorithm from the token: the kid names one of the issuer's SM2 keys (sm2-keys.json).
SM2_PRESENTATION_PREFIX = "LS1:"
SM2_EXTERNAL_AAD = b"LS1:SM2-with-SM3"

# Token Status List values (2 bits per licence).
STATUS_VALID, STATUS_INVALID, STATUS_SUSPENDED = 0, 1, 2
LIST_VALUE = {"active": STATUS_VALID, "expired": STATUS_VALID, "revoked": STATUS_INVALID, "suspended": STATUS_SUSPENDED}

# CWT claim keys: the registered ones (RFC 8392), the Token Status List's ``status`` (65535), and
# private claims (negative). Kept to what an inspector needs so the QR stays at version 12 (M): no
# ``iss`` (the key id names one of this issuer's published keys), no type code (it is inside the
# identifier). Measured: 409 base45 characters with a 22-character issuer URL, version 12.
CWT_EXP, CWT_NBF, CWT_IAT, CWT_CTI, CWT_STATUS = 4, 5, 6, 7, 65535
NBF_LEEWAY_SECONDS = 60  # cwt's default leeway, which issued presentations were checked with
# COSE (RFC 9052): CBOR tags, header parameters, ES256's algorithm id.
CBOR_TAG_CWT, CBOR_TAG_SIGN1 = 61, 18
COSE_ALG, COSE_KID, COSE_ES256 = 1, 4, -7
_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())
CWT_IDENTIFIER, CWT_VALID_UNTIL = -65537, -65539

# Holder fields a holder may leave out when showing the credential (selective disclosure).
PERSONAL_FIELDS = ("holder_name", "holder_code", "holder_code_type")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def status_list_uri(issuer: str, list_id: int) -> str:
    return f"{issuer}/v1/licences/status-lists/{list_id}"


def vct_of(issuer: str, type_code: str) -> str:
    return f"{issuer}/vct/{type_code}"


def sign_credential(key: IssuerKey, issuer: str, visible: dict[str, Any], personal: dict[str, Any], *,
                    valid_from: int, valid_until: int, status_list_id: int, status_index: int) -> str:
    """The licence as an SD-JWT VC: ``visible`` claims in clear, ``personal`` ones selectively disclosable."""
    claims: dict[Any, Any] = {
        "iss": issuer, "iat": int(time.time()), "nbf": valid_from, "exp": valid_until,
        "vct": vct_of(issuer, visible["licence_type_code"]),
        "status": {"status_list": {"idx": status_index, "uri": status_list_uri(issuer, status_list_id)}},
        **visible,
    }
    for name, value in personal.items():
        claims[SDObj(name)] = value
    issued = SDJWTIssuer(claims, key.jwk, sign_alg=ALG, extra_header_parameters={"typ": CREDENTIAL_TYP, "kid": key.kid})
    return issued.sd_jwt_issuance


class CredentialInvalid(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def verify_credential(keys: KeyRing, issuer: str, credential: str, *, now: int | None = None) -> dict[str, Any]:
    """The disclosed claims of a credential this issuer signed; ``CredentialInvalid`` with the reason otherwise."""
    def issuer_key(iss: str, header: dict[str, Any]) -> Any:
        if iss != issuer:
            raise CredentialInvalid("unknown_issuer")
        if header.get("alg") != ALG or header.get("typ") != CREDENTIAL_TYP:
            raise CredentialInvalid("wrong_algorithm_or_type")
        key = keys.get(str(header.get("kid")))
        if key is None:
            raise CredentialInvalid("unknown_key")
        return key.jwk

    try:
        claims = SDJWTVerifier(credential, issuer_key).get_verified_payload()
    except CredentialInvalid:
        raise
    except Exception as e:  # the library raises its own and jwcrypto's exceptions for a bad signature or format
        raise CredentialInvalid("bad_signature" if "Verification failed" in str(e) or "signature" in str(e).lower()
                                else "malformed") from None
    now = now or int(time.time())
    if int(claims.get("nbf", 0)) > now:
        raise CredentialInvalid("not_yet_valid")
    if int(claims.get("exp", 0)) <= now:
        raise CredentialInvalid("expired")
    return claims


# ---- Token Status List -------------------------------------------------------------------------


def get_status(bits: bytes, index: int) -> int:
    return (bits[index // 4] >> ((index % 4) * 2)) & 0b11


def set_status(bits: bytearray, index: int, value: int) -> None:
    shift = (index % 4) * 2
    bits[index // 4] = (bits[index // 4] & ~(0b11 << shift) & 0xFF) | (value << shift)


def sign_status_list(key: IssuerKey, issuer: str, list_id: int, bits: bytes, *, ttl_seconds: int,
                     valid_seconds: int) -> str:
    """The status list as a signed JWT (draft-ietf-oauth-status-list): 2 bits per entry, zlib (DEFLATE)."""
    now = int(time.time())
    payload = {"sub": status_list_uri(issuer, list_id), "iss": issuer, "iat": now, "exp": now + valid_seconds,
               "ttl": ttl_seconds, "status_list": {"bits": 2, "lst": b64url(zlib.compress(bits, 9))}}
    return jwt.encode(payload, key.private_key, algorithm=ALG, headers={"kid": key.kid, "typ": STATUS_LIST_TYP})


# ---- 亮证 presentations (CWT) -----------------------------------------------------------------


@dataclass(frozen=True)
class PresentationClaims:
    cti: str
    identifier: str
    valid_until: int
    issued_at: int
    expires_at: int
    status_list_uri: str
    status_index: int


def _presentation_claims(issuer: str, *, identifier: str, valid_until: int, status_list_id: int, status_index: int,
                         ttl_seconds: int) -> tuple[dict[int, Any], bytes]:
    now = int(time.time())
    cti = secrets.token_bytes(8)
    return {CWT_IAT: now, CWT_EXP: now + ttl_seconds, CWT_CTI: cti,
            CWT_STATUS: {"status_list": {"idx": status_index, "uri": status_list_uri(issuer, status_list_id)}},
            CWT_IDENTIFIER: identifier, CWT_VALID_UNTIL: valid_until}, cti


def _sm2_to_be_signed(payload: bytes) -> bytes:
    """COSE's Sig_structure (RFC 9052 §4.4) with the empty protected header and the SM2 external AAD."""
    return bytes(cbor2.dumps(["Signature1", b"", SM2_EXTERNAL_AAD, payload]))


def sign_presentation(key: IssuerKey | SM2Key, issuer: str, *, identifier: str, valid_until: int,
                      status_list_id: int, status_index: int, ttl_seconds: int) -> tuple[str, str]:
    """A short-lived presentation: (QR text ``LR1:<base45 CWT>``, or ``LS1:…`` with an SM2 key, its ``cti`` as hex)."""
    claims, cti = _presentation_claims(issuer, identifier=identifier, valid_until=valid_until,
                                       status_list_id=status_list_id, status_index=status_index,
                                       ttl_seconds=ttl_seconds)
    if isinstance(key, SM2Key):
        payload = cbor2.dumps(claims)
        signature = sm2.raw_signature(key.sign(_sm2_to_be_signed(payload)))
        token = cbor2.dumps(cbor2.CBORTag(18, [b"", {4: key.kid.encode()}, payload, signature]))
        return SM2_PRESENTATION_PREFIX + base45.b45encode(token).decode("ascii"), cti.hex()
    return sign_es256_claims(key, claims, PRESENTATION_PREFIX), cti.hex()


def sign_es256_claims(key: IssuerKey, claims: dict[int, Any], prefix: str) -> str:
    """``prefix`` + base45 of a CWT (COSE_Sign1, ES256, the key's kid) of ``claims``: the 亮证 presentation's
    form, also that of the holder's 一人（企）一码 code (``licences.service.onecode``, prefix ``LC1:``)."""
    return prefix + base45.b45encode(cwt.encode(claims, key.cose_key)).decode("ascii")


def verify_es256_claims(keys: KeyRing, text: str, prefix: str) -> dict[Any, Any]:
    """The claims of a ``prefix`` + base45 CWT signed ES256 under one of the issuer's keys (checked as a 亮证
    presentation's signature is); ``PresentationInvalid`` with the reason. Lifetime and meaning are the caller's."""
    if not text.startswith(prefix):
        raise PresentationInvalid("malformed")
    try:
        token = base45.b45decode(text[len(prefix):])
    except ValueError:
        raise PresentationInvalid("malformed") from None
    claims = _verify_es256_presentation(keys, token)
    if not isinstance(claims, dict):
        raise PresentationInvalid("malformed")
    return claims


class PresentationInvalid(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _sign1(token: bytes, *, cwt_tag: bool) -> tuple[bytes, dict[Any, Any], bytes, bytes]:
    """A COSE_Sign1's parts (protected header as bytes, unprotected header, payload, signature), its structure
    checked; ``malformed`` otherwise. ``cwt_tag``: the CWT tag (61) may wrap it (ES256 tokens, as RFC 8392 allows)."""
    try:
        sign1 = cbor2.loads(token)
        if cwt_tag and isinstance(sign1, cbor2.CBORTag) and sign1.tag == CBOR_TAG_CWT:
            sign1 = sign1.value
        if not (isinstance(sign1, cbor2.CBORTag) and sign1.tag == CBOR_TAG_SIGN1):
            raise PresentationInvalid("malformed")
        protected, unprotected, payload, signature = sign1.value
    except (ValueError, TypeError, cbor2.CBORDecodeError):
        raise PresentationInvalid("malformed") from None
    if not (isinstance(protected, bytes) and isinstance(unprotected, dict) and isinstance(payload, bytes)
            and isinstance(signature, bytes)):
        raise PresentationInvalid("malformed")
    return protected, unprotected, payload, signature


def _claims_of(payload: bytes) -> Any:
    try:
        return cbor2.loads(payload)
    except (ValueError, cbor2.CBORDecodeError):
        raise PresentationInvalid("malformed") from None


def _verify_es256_presentation(keys: KeyRing, token: bytes) -> Any:
    """The claims of an ``LR1:`` presentation whose ES256 signature verifies under the issuer's key named by its kid.

    The COSE_Sign1 is decoded once and verified with ``cryptography`` (RFC 9052 §4.4), as strictly as ``cwt`` did
    and more: a COSE_Sign1 (optionally in the CWT tag), the protected header naming ES256 and nothing but the
    algorithm and the kid (an unknown, maybe critical, parameter is refused), the kid one of the issuer's ES256 keys,
    a 64-byte r‖s signature. The algorithm is never taken from the token: the key is verified with ES256."""
    protected_bytes, unprotected, payload, signature = _sign1(token, cwt_tag=True)
    try:
        protected = cbor2.loads(protected_bytes) if protected_bytes else {}
    except (ValueError, cbor2.CBORDecodeError):
        raise PresentationInvalid("malformed") from None
    if not isinstance(protected, dict) or not protected.keys() <= {COSE_ALG, COSE_KID}:
        raise PresentationInvalid("malformed")
    kid = protected.get(COSE_KID) or unprotected.get(COSE_KID)
    if not isinstance(kid, bytes):
        raise PresentationInvalid("malformed")
    if protected.get(COSE_ALG) != COSE_ES256 or COSE_ALG in unprotected:
        raise PresentationInvalid("wrong_algorithm_or_type")
    key = keys.get(kid.decode(errors="replace"))
    if key is None:
        raise PresentationInvalid("unknown_key")
    if len(signature) != 64:
        raise PresentationInvalid("bad_signature")
    der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
    try:
        key.public_key.verify(der, bytes(cbor2.dumps(["Signature1", protected_bytes, b"", payload])), _ECDSA_SHA256)
    except InvalidSignature:
        raise PresentationInvalid("bad_signature") from None
    return _claims_of(payload)


def _verify_sm2_presentation(keys: KeyRing, token: bytes) -> Any:
    """The claims of an ``LS1:`` presentation whose SM2 signature verifies under the issuer's SM2 key named by its
    kid (the token decoded once: this is the online check's hot path)."""
    protected, unprotected, payload, signature = _sign1(token, cwt_tag=False)
    kid = unprotected.get(COSE_KID)
    if protected != b"" or not isinstance(kid, bytes):
        raise PresentationInvalid("malformed")
    key = keys.get_sm2(kid.decode(errors="replace"))
    if key is None:
        raise PresentationInvalid("unknown_key")
    try:
        sm2.verify(key.public_key, sm2.der_signature(signature), _sm2_to_be_signed(payload), key.signer_id)
    except sm2.InvalidSignature:
        raise PresentationInvalid("bad_signature") from None
    return _claims_of(payload)


def verify_presentation(keys: KeyRing, issuer: str, text: str, *, now: int | None = None) -> PresentationClaims:
    """Check a presentation's signature (ES256, or SM2 for ``LS1:``), issuer and lifetime (status and replay are
    the caller's)."""
    is_sm2 = text.startswith(SM2_PRESENTATION_PREFIX)
    if not (is_sm2 or text.startswith(PRESENTATION_PREFIX)):
        raise PresentationInvalid("malformed")
    try:
        token = base45.b45decode(text[len(PRESENTATION_PREFIX):])
    except ValueError:
        raise PresentationInvalid("malformed") from None
    now = now or int(time.time())
    claims = _verify_sm2_presentation(keys, token) if is_sm2 else _verify_es256_presentation(keys, token)
    if not isinstance(claims, dict):  # a payload that is not a claims map
        raise PresentationInvalid("malformed")
    if not all(isinstance(claims.get(name), int) for name in (CWT_EXP, CWT_IAT, CWT_VALID_UNTIL)):
        raise PresentationInvalid("malformed")
    try:
        status = claims[CWT_STATUS]["status_list"]
        result = PresentationClaims(cti=bytes(claims[CWT_CTI]).hex(), identifier=str(claims[CWT_IDENTIFIER]),
                                    valid_until=int(claims[CWT_VALID_UNTIL]),
                                    issued_at=int(claims[CWT_IAT]), expires_at=int(claims[CWT_EXP]),
                                    status_list_uri=str(status["uri"]), status_index=int(status["idx"]))
    except (KeyError, TypeError, ValueError):
        raise PresentationInvalid("malformed") from None
    if not result.status_list_uri.startswith(issuer + "/"):
        raise PresentationInvalid("unknown_issuer")
    if result.expires_at <= now:
        raise PresentationInvalid("presentation_expired")
    # ES256 presentations carry ``nbf`` (the issuing time, set by cwt when signing); one whose lifetime begins more
    # than a minute ahead of this clock (cwt's leeway) comes from an issuer clock gone wrong and is refused.
    not_before = claims.get(CWT_NBF, now)
    if not isinstance(not_before, int) or not_before > now + NBF_LEEWAY_SECONDS:
        raise PresentationInvalid("malformed")
    return result
