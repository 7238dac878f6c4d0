"""The licence's SM2 document: every licence version signed with SM2-with-SM3 (GB/T 32918.2, DER
``SEQUENCE {r, s}`` per GB/T 35276) beside its SD-JWT VC (ES256), for verifiers and partner provinces
whose systems take 国密 only.

The presented form is one JSON object::

    {"typ": "lvrong-licence+sm2", "alg": "SM2", "kid": "<8 characters>", "signer_id": "1234567812345678",
     "iss": "<issuer URL>", "iat": <seconds>,
     "licence": {"licence_identifier", "licence_number", "licence_type", "licence_type_code",
                 "issuer_name", "issuer_code", "region", "version", "issued_at", "valid_from",
                 "valid_until", "data", "holder_name", "holder_code", "holder_code_type",
                 "status": {"idx", "uri"}},
     "signature": "<base64 of the DER signature>"}

What is signed: the RFC 8785 (JCS) canonical UTF-8 bytes of that object without ``signature`` — the
header members (type, algorithm, key id, signer id, issuer) included, so none can be swapped. ``alg``
``SM2`` means SM2 with SM3 and the Z of ``signer_id``; the key is the issuer's SM2 key ``kid`` of
``/.well-known/sm2-keys.json``. Unlike the SD-JWT VC, the holder's name and code are not selectively
disclosable (the national e-licence formats carry them in the signed licence): the document is given
to the holder only and kept encrypted at rest.
"""
from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import rfc8785

from kit.gm import sm2
from licences.service.credentials import CredentialInvalid, status_list_uri
from licences.service.keys import SM2_ALG, KeyRing, SM2Key

DOCUMENT_TYP = "lvrong-licence+sm2"
LICENCE_FIELDS = ("licence_identifier", "licence_number", "licence_type", "licence_type_code", "issuer_name",
                  "issuer_code", "region", "version", "issued_at", "valid_from", "valid_until", "data",
                  "holder_name", "holder_code", "holder_code_type", "status")
HEADER_FIELDS = ("typ", "alg", "kid", "signer_id", "iss", "iat")


def signed_bytes(document: dict[str, Any]) -> bytes:
    """The JCS canonical form of the document without its signature: what the SM2 signature covers."""
    return rfc8785.dumps({k: v for k, v in document.items() if k != "signature"})


def sign_document(key: SM2Key, issuer: str, licence: dict[str, Any], *, status_list_id: int,
                  status_index: int) -> str:
    """The licence's SM2 document as JSON text (stored as it was signed)."""
    body = {**{k: licence[k] for k in LICENCE_FIELDS if k != "status"},
            "status": {"idx": status_index, "uri": status_list_uri(issuer, status_list_id)}}
    document: dict[str, Any] = {"typ": DOCUMENT_TYP, "alg": SM2_ALG, "kid": key.kid,
                                "signer_id": key.signer_id.decode(), "iss": issuer, "iat": int(time.time()),
                                "licence": body}
    document["signature"] = base64.b64encode(key.sign(signed_bytes(document))).decode()
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))


def parse(document: dict[str, Any] | str) -> dict[str, Any]:
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except ValueError:
            raise CredentialInvalid("malformed") from None
    if not isinstance(document, dict) or not isinstance(document.get("licence"), dict) \
            or not all(isinstance(document.get(k), str) for k in ("typ", "alg", "kid", "signer_id", "iss", "signature")):
        raise CredentialInvalid("malformed")
    return document


PublicKeyLookup = Callable[[str, dict[str, Any]], tuple[sm2.PublicKey, bytes]]


def verify_document(document: dict[str, Any] | str, key_of: PublicKeyLookup, *, now: int | None = None) -> dict[str, Any]:
    """The verified document (its ``licence`` checked for validity now); ``CredentialInvalid`` with the reason.

    ``key_of(iss, document)`` answers the public key and the signer id to verify with, or raises
    ``CredentialInvalid`` (``unknown_issuer``, ``unknown_key``)."""
    doc = parse(document)
    if doc["typ"] != DOCUMENT_TYP or doc["alg"] != SM2_ALG:
        raise CredentialInvalid("wrong_algorithm_or_type")
    public, signer_id = key_of(doc["iss"], doc)
    try:
        signature = base64.b64decode(doc["signature"], validate=True)
        data = signed_bytes(doc)
    except (binascii.Error, ValueError, TypeError, rfc8785.CanonicalizationError):
        raise CredentialInvalid("malformed") from None
    if doc["signer_id"].encode() != signer_id:
        raise CredentialInvalid("bad_signature")  # signed for another id: it could not verify under this key's
    try:
        sm2.verify(public, signature, data, signer_id)
    except sm2.InvalidSignature:
        raise CredentialInvalid("bad_signature") from None
    licence = doc["licence"]
    try:
        valid_from = datetime.fromisoformat(licence["valid_from"]).timestamp()
        valid_until = datetime.fromisoformat(licence["valid_until"]).timestamp()
    except (KeyError, TypeError, ValueError):
        raise CredentialInvalid("malformed") from None
    now = now or int(time.time())
    if valid_from > now:
        raise CredentialInvalid("not_yet_valid")
    if valid_until <= now:
        raise CredentialInvalid("expired")
    return doc


def our_keys(keys: KeyRing, issuer: str) -> PublicKeyLookup:
    """Key lookup for documents this issuer signed (``keys``: the issuer's ``KeyRing``)."""
    def key_of(iss: str, doc: dict[str, Any]) -> tuple[sm2.PublicKey, bytes]:
        if iss != issuer:
            raise CredentialInvalid("unknown_issuer")
        key = keys.get_sm2(doc["kid"])
        if key is None:
            raise CredentialInvalid("unknown_key")
        return key.public_key, key.signer_id

    return key_of
