"""SM2 signatures with SM3 (GB/T 32918.2, GB/T 35276 / GM/T 0009) on the recommended curve sm2p256v1,
with the Tongsuo project's C-backed binding ``tongsuopy``.

* Keys: generated here or by ``openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:SM2`` (OpenSSL 3
  or Tongsuo), kept as PKCS#8 PEM; public keys exported as SubjectPublicKeyInfo PEM and as the
  uncompressed point ``04‖x‖y`` (the form gmssl, gmalg and most Chinese toolkits take, in hex).
* Signatures: DER ``SEQUENCE {r, s}`` (GB/T 35276) over ``e = SM3(Z‖M)``, where
  ``Z = SM3(ENTL‖ID‖a‖b‖xG‖yG‖xA‖yA)`` binds the signer's id and public key. The signer id defaults to
  ``1234567812345678`` (GB/T 35276 / GM/T 0009's default). With the default id, tongsuopy's own
  ``sign``/``verify`` (``EVP_DigestSign`` with SM3, which computes Z itself) are used. tongsuopy has no
  API to set another id (its ``Prehashed`` is not accepted for SM2), so for another id Z and ``e`` are
  computed here (a few lines of SM3 over the curve's published constants) and ``e`` is signed and
  verified by Tongsuo's SM2 itself (``EVP_PKEY_sign``/``EVP_PKEY_verify`` of the binding) — the tests
  prove both paths against gmalg and gmssl and the GB/T 32918.5 example (id ``ALICE123@YAHOO.COM``).
* :func:`raw_signature` / :func:`der_signature`: the fixed 64-byte ``r‖s`` form, where a signature must
  be short (the COSE_Sign1 of a 亮证 QR code, like ES256 there).

Key material is never logged or put in an exception's text.
"""
from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from tongsuopy.backends.tongsuo import backend as _backend
from tongsuopy.crypto import hashes, serialization
from tongsuopy.crypto.asymciphers import ec
from tongsuopy.crypto.asymciphers.ec import EllipticCurvePrivateKey as PrivateKey
from tongsuopy.crypto.asymciphers.ec import EllipticCurvePublicKey as PublicKey
from tongsuopy.crypto.exceptions import InvalidSignature, UnsupportedAlgorithm

from kit.gm.symmetric import sm3

__all__ = [
    "ALGORITHM", "CURVE", "DEFAULT_SIGNER_ID", "InvalidSignature", "NotSM2", "PrivateKey", "PublicKey",
    "der_signature", "generate_private_key", "load_private_key", "load_public_key", "private_pem", "public_pem",
    "public_point", "raw_signature", "sign", "sm3", "verify", "z_value",
]

ALGORITHM = "SM2-with-SM3"  # the name documents carry (GM/T 0006 OID 1.2.156.10197.1.501)
CURVE = "sm2p256v1"
DEFAULT_SIGNER_ID = b"1234567812345678"


# sm2p256v1's a, b, xG, yG (GB/T 32918.5), the part of Z that does not depend on the signer.
_CURVE_CONSTANTS = bytes.fromhex(
    "FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC"
    "28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93"
    "32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7"
    "BC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0")
_ORDER = int("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123", 16)
_ECDSA_SM3 = ec.ECDSA(hashes.SM3())


class NotSM2(ValueError):
    """The PEM holds a key, but not an SM2 one (a P-256 key, say)."""


def generate_private_key() -> PrivateKey:
    return ec.generate_private_key(ec.SM2())


def _is_sm2(key: Any) -> bool:
    return isinstance(key.curve, ec.SM2)


def load_private_key(pem: bytes) -> PrivateKey:
    """An unencrypted PKCS#8 (or SEC1) PEM SM2 private key; :class:`NotSM2` for a key on another curve."""
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except UnsupportedAlgorithm:
        raise NotSM2("not an SM2 key") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not _is_sm2(key):
        raise NotSM2("not an SM2 key")
    return key


def load_public_key(data: bytes | str) -> PublicKey:
    """A public key from SubjectPublicKeyInfo PEM, or from the uncompressed point (bytes, or hex text)."""
    if isinstance(data, str):
        data = data.encode() if data.lstrip().startswith("-----") else bytes.fromhex(data)
    try:
        if data.lstrip().startswith(b"-----"):
            key = serialization.load_pem_public_key(data)
        else:
            key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SM2(), data)
    except UnsupportedAlgorithm:
        raise NotSM2("not an SM2 key") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not _is_sm2(key):
        raise NotSM2("not an SM2 key")
    return key


def private_pem(key: PrivateKey) -> bytes:
    return bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption()))


def public_pem(key: PublicKey) -> str:
    return str(key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode())


def public_point(key: PublicKey) -> bytes:
    """``04‖x‖y`` (65 bytes)."""
    return bytes(key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint))


def z_value(key: PublicKey, signer_id: bytes = DEFAULT_SIGNER_ID) -> bytes:
    """``Z = SM3(ENTL‖ID‖a‖b‖xG‖yG‖xA‖yA)`` (GB/T 32918.2 §5.5)."""
    if len(signer_id) >= 8192:
        raise ValueError("signer id too long")
    return sm3((len(signer_id) * 8).to_bytes(2, "big") + signer_id + _CURVE_CONSTANTS + public_point(key)[1:])


def _pkey_ctx(key: Any) -> Any:
    lib, ffi = _backend._lib, _backend._ffi
    ctx = lib.EVP_PKEY_CTX_new(key._evp_pkey, ffi.NULL)
    _backend.openssl_assert(ctx != ffi.NULL)
    return ffi.gc(ctx, lib.EVP_PKEY_CTX_free)


def _sign_digest(key: PrivateKey, e: bytes) -> bytes:
    lib, ffi = _backend._lib, _backend._ffi
    ctx = _pkey_ctx(key)
    _backend.openssl_assert(lib.EVP_PKEY_sign_init(ctx) == 1)
    size = ffi.new("size_t *")
    _backend.openssl_assert(lib.EVP_PKEY_sign(ctx, ffi.NULL, size, e, len(e)) == 1)
    buf = ffi.new("unsigned char[]", size[0])
    _backend.openssl_assert(lib.EVP_PKEY_sign(ctx, buf, size, e, len(e)) == 1)
    return bytes(ffi.buffer(buf)[: size[0]])


def _verify_digest(key: PublicKey, signature: bytes, e: bytes) -> None:
    lib = _backend._lib
    ctx = _pkey_ctx(key)
    _backend.openssl_assert(lib.EVP_PKEY_verify_init(ctx) == 1)
    if lib.EVP_PKEY_verify(ctx, signature, len(signature), e, len(e)) != 1:
        _backend._consume_errors()
        raise InvalidSignature


def sign(key: PrivateKey, data: bytes, signer_id: bytes = DEFAULT_SIGNER_ID) -> bytes:
    """The DER ``SEQUENCE {r, s}`` SM2 signature of ``data`` (SM3, with Z of ``signer_id``)."""
    if signer_id == DEFAULT_SIGNER_ID:
        return bytes(key.sign(data, _ECDSA_SM3))
    return _sign_digest(key, sm3(z_value(key.public_key(), signer_id) + data))


def verify(key: PublicKey, signature: bytes, data: bytes, signer_id: bytes = DEFAULT_SIGNER_ID) -> None:
    """Raises :class:`InvalidSignature` unless ``signature`` (DER) is ``key``'s over ``data``."""
    try:
        if signer_id == DEFAULT_SIGNER_ID:
            key.verify(signature, data, _ECDSA_SM3)
        else:
            _verify_digest(key, signature, sm3(z_value(key, signer_id) + data))
    except InvalidSignature:
        raise
    except Exception:  # a signature that is not DER at all: Tongsuo's decoding error
        _backend._consume_errors()
        raise InvalidSignature from None


def raw_signature(der: bytes) -> bytes:
    """DER ``SEQUENCE {r, s}`` → ``r‖s`` (32 bytes each)."""
    r, s = decode_dss_signature(der)
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def der_signature(raw: bytes) -> bytes:
    """``r‖s`` → DER; :class:`InvalidSignature` when it is not 64 bytes of two values below the order."""
    if len(raw) != 64:
        raise InvalidSignature
    r, s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
    if not (0 < r < _ORDER and 0 < s < _ORDER):
        raise InvalidSignature
    return encode_dss_signature(r, s)
