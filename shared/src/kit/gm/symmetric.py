"""SM3 and SM4 (国密, GB/T 32905 and GB/T 32907): the digest, HMAC-SM3, and SM4-GCM as an AEAD.

Built on pyca ``cryptography`` (its bundled OpenSSL implements SM3 and SM4, GCM included), not on
``tongsuopy``: the same library and OpenSSL as AES-GCM and SHA-256 beside it, released every few
weeks, and as fast or faster here (tests/bench/RESULTS.md, "国密 libraries"). ``tongsuopy`` stays for
SM2 only, which pyca does not implement (``kit.gm.sm2``).

``SM4GCM`` has the shape of pyca's ``AESGCM`` (``encrypt(nonce, data, associated_data)`` returns the
ciphertext followed by the 16-byte tag, ``decrypt`` raises ``cryptography.exceptions.InvalidTag``), so a
keyring treats both alike. The nonce is 96 bits (RFC 8998 §3.1, the only length GCM handles without
hashing it) and the tag 128 bits.
"""
from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

SM3_DIGEST_BYTES = 32
SM4_KEY_BYTES = 16
GCM_NONCE_BYTES = 12
GCM_TAG_BYTES = 16

__all__ = ["GCM_NONCE_BYTES", "GCM_TAG_BYTES", "SM3_DIGEST_BYTES", "SM4GCM", "SM4_KEY_BYTES", "InvalidTag",
           "hmac_sm3", "sm3"]


def sm3(data: bytes) -> bytes:
    """The SM3 digest of ``data`` (32 bytes)."""
    digest = hashes.Hash(hashes.SM3())
    digest.update(data)
    return digest.finalize()


def hmac_sm3(key: bytes, data: bytes) -> bytes:
    """HMAC (RFC 2104) with SM3 of ``data`` under ``key`` (32 bytes)."""
    mac = crypto_hmac.HMAC(key, hashes.SM3())
    mac.update(data)
    return mac.finalize()


class SM4GCM:
    """SM4 in Galois/Counter Mode (RFC 8998's AEAD_SM4_GCM): a 128-bit key, a 96-bit nonce, a 128-bit tag."""

    def __init__(self, key: bytes) -> None:
        if len(key) != SM4_KEY_BYTES:
            raise ValueError(f"an SM4 key is {SM4_KEY_BYTES} bytes, not {len(key)}")
        self._algorithm = algorithms.SM4(key)

    @staticmethod
    def generate_key() -> bytes:
        return os.urandom(SM4_KEY_BYTES)

    def encrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes:
        """``data`` sealed: its ciphertext followed by the tag."""
        _check_nonce(nonce)
        encryptor = Cipher(self._algorithm, modes.GCM(nonce)).encryptor()
        if associated_data:
            encryptor.authenticate_additional_data(associated_data)
        sealed = encryptor.update(data) + encryptor.finalize()
        return sealed + encryptor.tag

    def decrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes:
        """The plaintext of ``data`` (ciphertext ‖ tag); ``InvalidTag`` when it, the nonce or the
        associated data were altered, or the key is another."""
        _check_nonce(nonce)
        if len(data) < GCM_TAG_BYTES:
            raise InvalidTag
        decryptor = Cipher(self._algorithm, modes.GCM(nonce, data[-GCM_TAG_BYTES:])).decryptor()
        if associated_data:
            decryptor.authenticate_additional_data(associated_data)
        return decryptor.update(data[:-GCM_TAG_BYTES]) + decryptor.finalize()


def _check_nonce(nonce: bytes) -> None:
    if len(nonce) != GCM_NONCE_BYTES:
        raise ValueError(f"an SM4-GCM nonce is {GCM_NONCE_BYTES} bytes, not {len(nonce)}")
