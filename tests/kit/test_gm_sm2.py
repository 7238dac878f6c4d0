"""kit.gm.sm2 against the standard's example and two independent implementations (gmssl, gmalg).

The example: GB/T 32918.5-2017 / GM/T 0003.5-2012 Annex A (digital signature on the recommended curve
sm2p256v1): signer id ``1234567812345678``, message ``message digest``, the private key, k and the
expected Z_A, e, r and s as published. (GB/T 32918.2's own examples use a test curve, not sm2p256v1,
which Tongsuo does not offer.) A non-default signer id has no published example on sm2p256v1: that path
is checked both ways against gmalg. The pure-Python implementations sign with the fixed k (the
production library, Tongsuo, takes no k) and must give the published (r, s); the production library
must verify that published signature and agree on the public key.
"""
from __future__ import annotations

import pytest
from gmalg import SM2 as GmalgSM2
from gmalg.sm2 import bytes_to_point
from gmssl import sm2 as gmssl_sm2

from kit.gm import sm2

MESSAGE = b"message digest"
SIGNER_ID = sm2.DEFAULT_SIGNER_ID
PRIVATE = "3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8"
PUBLIC_X = "09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020"
PUBLIC_Y = "CCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13"
K = "59276E27D506861A16680F3AD9C02DCCEF3CC1FA3CDBE4CE6D54B80DEAC1BC21"
Z_A = "B2E14C5C79C6DF5B85F4FE7ED8DB7A262B9DA7E07CCB0EA9F4747B8CCDA8A4F3"
E = "F0B43E94BA45ACCAACE692ED534382EB17E6AB5A19CE7B31F4486FDFC0D28640"
R = "F5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3"
S = "B1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA"
POINT = bytes.fromhex("04" + PUBLIC_X + PUBLIC_Y)


def _der(r: str, s: str) -> bytes:
    return sm2.der_signature(bytes.fromhex(r + s))


def _pem_of(private_hex: str) -> bytes:
    """The standard's private key as PKCS#8 PEM, built by the production library from the scalar."""
    from tongsuopy.crypto.asymciphers import ec
    key = ec.derive_private_key(int(private_hex, 16), ec.SM2())
    return sm2.private_pem(key)


def test_gmalg_signs_the_standards_example_with_its_k() -> None:
    signer = GmalgSM2(bytes.fromhex(PRIVATE), SIGNER_ID, rnd_fn=lambda _bits: int(K, 16))
    assert signer.generate_pk(bytes.fromhex(PRIVATE)) == POINT
    r, s = signer.sign(MESSAGE)
    assert (r.hex().upper(), s.hex().upper()) == (R, S)


def test_gmssl_signs_the_standards_digest_with_its_k() -> None:
    signer = gmssl_sm2.CryptSM2(private_key=PRIVATE.lower(), public_key=POINT[1:].hex(), asn1=True)
    assert signer.sign(bytes.fromhex(E), K.lower()) == _der(R, S).hex()


def test_z_and_e_are_the_standards() -> None:
    key = sm2.load_public_key(POINT)
    assert sm2.z_value(key, SIGNER_ID).hex().upper() == Z_A
    assert sm2.sm3(bytes.fromhex(Z_A) + MESSAGE).hex().upper() == E


def test_production_library_verifies_the_standards_signature() -> None:
    private = sm2.load_private_key(_pem_of(PRIVATE))
    assert sm2.public_point(private.public_key()) == POINT
    public = sm2.load_public_key(POINT)
    sm2.verify(public, _der(R, S), MESSAGE, SIGNER_ID)
    with pytest.raises(sm2.InvalidSignature):
        sm2.verify(public, _der(R, S), MESSAGE, b"ALICE123@YAHOO.COM")  # another id gives another Z
    with pytest.raises(sm2.InvalidSignature):
        sm2.verify(public, _der(R, S), b"message digesT", SIGNER_ID)
    # And its own signatures verify with gmalg and gmssl (independent).
    signature = sm2.sign(private, MESSAGE)
    raw = sm2.raw_signature(signature)
    assert GmalgSM2(pk=POINT, uid=SIGNER_ID).verify(MESSAGE, raw[:32], raw[32:])
    assert gmssl_sm2.CryptSM2(private_key="", public_key=POINT[1:].hex(), asn1=True).verify_with_sm3(
        signature.hex(), MESSAGE)


@pytest.mark.parametrize("signer_id", [sm2.DEFAULT_SIGNER_ID, b"lvrong@shanghai"], ids=["default_id", "other_id"])
def test_round_trip_and_independent_verification(signer_id: bytes) -> None:
    key = sm2.generate_private_key()
    pem = sm2.private_pem(key)
    loaded = sm2.load_private_key(pem)
    data = "沪绿证 licence".encode()
    signature = sm2.sign(loaded, data, signer_id)
    public = sm2.load_public_key(sm2.public_pem(key.public_key()))
    sm2.verify(public, signature, data, signer_id)
    sm2.verify(sm2.load_public_key(sm2.public_point(key.public_key()).hex()), signature, data, signer_id)
    raw = sm2.raw_signature(signature)
    assert sm2.der_signature(raw) == signature
    point = sm2.public_point(key.public_key())
    assert GmalgSM2(pk=point, uid=signer_id).verify(data, raw[:32], raw[32:])
    # gmalg's signature verifies with the production library.
    r, s = GmalgSM2(key.private_numbers().private_value.to_bytes(32, "big"), signer_id).sign(data)
    sm2.verify(public, sm2.der_signature(r.rjust(32, b"\0") + s.rjust(32, b"\0")), data, signer_id)
    if signer_id == sm2.DEFAULT_SIGNER_ID:  # gmssl only knows the default id
        checker = gmssl_sm2.CryptSM2(private_key="", public_key=point[1:].hex(), asn1=True)
        assert checker.verify_with_sm3(signature.hex(), data)
    assert bytes_to_point(point)  # gmalg reads the exported point


def test_tampering_and_wrong_keys_fail() -> None:
    key, other = sm2.generate_private_key(), sm2.generate_private_key()
    signature = sm2.sign(key, b"data")
    for public, sig, data in [(other.public_key(), signature, b"data"), (key.public_key(), signature, b"datA"),
                              (key.public_key(), signature[:-1] + bytes([signature[-1] ^ 1]), b"data"),
                              (key.public_key(), b"not der", b"data")]:
        with pytest.raises(sm2.InvalidSignature):
            sm2.verify(public, sig, data)
    with pytest.raises(sm2.InvalidSignature):
        sm2.der_signature(b"\0" * 64)
    with pytest.raises(sm2.InvalidSignature):
        sm2.der_signature(b"\1" * 63)


def test_other_curves_are_not_sm2() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    p256 = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(sm2.NotSM2):
        sm2.load_private_key(p256.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                serialization.NoEncryption()))
    with pytest.raises(sm2.NotSM2):
        sm2.load_public_key(p256.public_key().public_bytes(serialization.Encoding.PEM,
                                                           serialization.PublicFormat.SubjectPublicKeyInfo))
