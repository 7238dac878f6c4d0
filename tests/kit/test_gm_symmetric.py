"""SM3, HMAC-SM3 and SM4(-GCM) of ``kit.gm.symmetric`` against the standards' own examples (GB/T 32905
Annex A, GB/T 32907 Annex A, RFC 8998 Appendix A.1), each cross-checked with an independent
implementation: the pure-Python ``gmssl`` and ``gmalg``, and Tongsuo (``tongsuopy``, another OpenSSL fork)."""
from __future__ import annotations

import hmac
import secrets
from typing import Self

import gmalg
import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from gmssl import func as gmssl_func
from gmssl import sm3 as gmssl_sm3
from gmssl import sm4 as gmssl_sm4
from tongsuopy.crypto.ciphers.aead import SM4GCM as TongsuoSM4GCM

from kit.gm.symmetric import SM4GCM, InvalidTag, hmac_sm3, sm3

# GB/T 32905-2016 Annex A.1 and A.2.
SM3_VECTORS = [
    (b"abc", "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"),
    (b"abcd" * 16, "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"),
]
# GB/T 32907-2016 Annex A: the key is also the plaintext.
SM4_KEY = bytes.fromhex("0123456789abcdeffedcba9876543210")
SM4_ONCE = bytes.fromhex("681edf34d206965e86b3e94f536e4246")
SM4_MILLION_TIMES = bytes.fromhex("595298c7c6fd271f0402f804c33d3f66")
# RFC 8998 Appendix A.1 (AEAD_SM4_GCM).
GCM_KEY = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
GCM_NONCE = bytes.fromhex("00001234567800000000ABCD")
GCM_AAD = bytes.fromhex("FEEDFACEDEADBEEFFEEDFACEDEADBEEFABADDAD2")
GCM_PLAINTEXT = bytes.fromhex("AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBBCCCCCCCCCCCCCCCCDDDDDDDDDDDDDDDD"
                              "EEEEEEEEEEEEEEEEFFFFFFFFFFFFFFFFEEEEEEEEEEEEEEEEAAAAAAAAAAAAAAAA")
GCM_CIPHERTEXT = bytes.fromhex("17F399F08C67D5EE19D0DC9969C4BB7D5FD46FD3756489069157B282BB200735"
                               "D82710CA5C22F0CCFA7CBF93D496AC15A56834CBCF98C397B4024A2691233B8D")
GCM_TAG = bytes.fromhex("83DE3541E4C2B58177E065A9BF7B62EC")


def gmalg_sm3(data: bytes) -> bytes:
    digest = gmalg.SM3()
    digest.update(data)
    return digest.value()


@pytest.mark.parametrize(("message", "expected"), SM3_VECTORS, ids=["abc", "abcd-x16"])
def test_sm3_gives_the_standards_digests_as_gmssl_and_gmalg_do(message: bytes, expected: str) -> None:
    assert sm3(message).hex() == expected
    assert gmssl_sm3.sm3_hash(gmssl_func.bytes_to_list(message)) == expected
    assert gmalg_sm3(message).hex() == expected


class PureSM3:
    """gmalg's SM3 in the shape the standard library's ``hmac`` takes (``digestmod``)."""

    digest_size, block_size, name = 32, 64, "sm3"

    def __init__(self, data: bytes = b"") -> None:
        self._data = bytes(data)

    def update(self, data: bytes) -> None:
        self._data += bytes(data)

    def copy(self) -> Self:
        return type(self)(self._data)

    def digest(self) -> bytes:
        return gmalg_sm3(self._data)


@pytest.mark.parametrize("key_length", [16, 32, 64, 100])  # shorter, equal to and longer than the block
def test_hmac_sm3_equals_the_standard_librarys_hmac_over_a_pure_python_sm3(key_length: int) -> None:
    key = secrets.token_bytes(key_length)
    for message in (b"", b"abc", secrets.token_bytes(1000)):
        assert hmac_sm3(key, message) == hmac.new(key, message, PureSM3).digest()
    assert hmac_sm3(key, b"abc") != hmac_sm3(key[:-1] + bytes([key[-1] ^ 1]), b"abc")


def test_sm4_single_block_and_one_million_times_as_the_standard_gives() -> None:
    encrypt = Cipher(algorithms.SM4(SM4_KEY), modes.ECB()).encryptor().update
    assert encrypt(SM4_KEY) == SM4_ONCE
    assert gmalg.SM4(SM4_KEY).encrypt(SM4_KEY) == SM4_ONCE
    pure = gmssl_sm4.CryptSM4()
    pure.set_key(SM4_KEY, gmssl_sm4.SM4_ENCRYPT)
    assert pure.crypt_ecb(SM4_KEY)[:16] == SM4_ONCE  # (gmssl pads: the first block is the block's)
    block = SM4_KEY
    for _ in range(1_000_000):  # ~0.3 s in C; the pure-Python libraries would take minutes
        block = encrypt(block)
    assert block == SM4_MILLION_TIMES


def ctr_with_gmalg(key: bytes, nonce: bytes, data: bytes) -> bytes:
    """GCM's encryption half by hand (counter mode from J0 + 1 = nonce ‖ 2), over gmalg's SM4 block."""
    cipher, out = gmalg.SM4(key), bytearray()
    for i in range(0, len(data), 16):
        stream = cipher.encrypt(nonce + (2 + i // 16).to_bytes(4, "big"))
        out += bytes(a ^ b for a, b in zip(data[i:i + 16], stream, strict=False))
    return bytes(out)


def test_sm4_gcm_gives_rfc_8998s_example_as_tongsuo_and_a_pure_python_counter_mode_do() -> None:
    sealed = SM4GCM(GCM_KEY).encrypt(GCM_NONCE, GCM_PLAINTEXT, GCM_AAD)
    assert sealed == GCM_CIPHERTEXT + GCM_TAG
    assert TongsuoSM4GCM(GCM_KEY).encrypt(GCM_NONCE, GCM_PLAINTEXT, GCM_AAD) == sealed
    assert ctr_with_gmalg(GCM_KEY, GCM_NONCE, GCM_PLAINTEXT) == GCM_CIPHERTEXT
    assert SM4GCM(GCM_KEY).decrypt(GCM_NONCE, sealed, GCM_AAD) == GCM_PLAINTEXT
    assert TongsuoSM4GCM(GCM_KEY).decrypt(GCM_NONCE, sealed, GCM_AAD) == GCM_PLAINTEXT


def test_sm4_gcm_refuses_any_change_and_wrong_sizes() -> None:
    gcm = SM4GCM(GCM_KEY)
    sealed = gcm.encrypt(GCM_NONCE, GCM_PLAINTEXT, GCM_AAD)
    flipped = bytes([sealed[0] ^ 1]) + sealed[1:]
    for nonce, data, aad in ((GCM_NONCE, flipped, GCM_AAD), (GCM_NONCE, sealed, GCM_AAD + b"x"),
                             (GCM_NONCE, sealed[:-1], GCM_AAD), (GCM_NONCE, sealed[:15], GCM_AAD),
                             (bytes(12), sealed, GCM_AAD)):
        with pytest.raises(InvalidTag):
            gcm.decrypt(nonce, data, aad)
    with pytest.raises(InvalidTag):
        SM4GCM(SM4GCM.generate_key()).decrypt(GCM_NONCE, sealed, GCM_AAD)
    assert gcm.decrypt(GCM_NONCE, gcm.encrypt(GCM_NONCE, b"", None), None) == b""
    for key in (bytes(15), bytes(32)):
        with pytest.raises(ValueError, match="16 bytes"):
            SM4GCM(key)
    with pytest.raises(ValueError, match="12 bytes"):
        gcm.encrypt(bytes(16), b"x", None)
