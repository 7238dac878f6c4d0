"""国密 libraries side by side (issue 19), in one process and one run: SM2 sign/verify per CPU-second
(tongsuopy, and the pure-Python gmssl and gmalg; ES256 of ``cryptography`` as the baseline), SM3 and
SM4-GCM throughput (pyca ``cryptography`` — what ``kit.gm.symmetric`` uses — against tongsuopy and the
pure-Python libraries), with SHA-256 and AES-256-GCM as baselines, and the keyring's case: one small
value sealed and opened per call.

Every figure is operations (or MB) per second of this process's CPU time (``time.process_time``), so a
loaded machine slows the wall clock but changes the figures less; the ratios within one run are what
to compare.

Usage: uv run python tests/bench/bench_gm.py [--seconds 1.0]
"""
from __future__ import annotations

import argparse
import hashlib
import os
import platform
import time
from collections.abc import Callable

import gmalg
from cryptography.hazmat.primitives import hashes as crypto_hashes
from cryptography.hazmat.primitives.asymmetric import ec as crypto_ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from gmssl import func as gmssl_func
from gmssl import sm2 as gmssl_sm2
from gmssl import sm3 as gmssl_sm3
from gmssl import sm4 as gmssl_sm4
from tongsuopy.crypto import hashes as tongsuo_hashes
from tongsuopy.crypto.asymciphers import ec as tongsuo_ec
from tongsuopy.crypto.ciphers.aead import SM4GCM as TongsuoSM4GCM

from kit.gm.symmetric import SM4GCM, hmac_sm3, sm3

MESSAGE = b'{"licence":"LR-XK-003-2026-000123","holder":"913101150000000000","valid_until":"2029-12-31"}'
BULK = os.urandom(1 << 20)  # 1 MiB for the C libraries
PURE_BULK = BULK[:16 << 10]  # 16 KiB for the pure-Python ones (they run at kB/s)
SMALL = b"310115198506120012"  # a value the keyring seals: an ID number
NONCE = os.urandom(12)


def per_cpu_second(operation: Callable[[], object], seconds: float) -> float:
    """Calls of ``operation`` per second of this process's CPU time, over about ``seconds`` of it."""
    operation()  # warm up
    calls, started = 0, time.process_time()
    while (spent := time.process_time() - started) < seconds:
        operation()
        calls += 1
    return calls / spent


def row(label: str, figure: float, unit: str, baseline: float | None = None) -> None:
    ratio = f"  ({figure / baseline:.2g}× baseline)" if baseline else ""
    print(f"  {label:<52} {figure:>12,.1f} {unit}{ratio}")


def signatures(seconds: float) -> None:
    print("SM2 sign / verify (with SM3), per CPU-second; ES256 (P-256, SHA-256) of cryptography as baseline")
    es_key = crypto_ec.generate_private_key(crypto_ec.SECP256R1())
    es_signature = es_key.sign(MESSAGE, crypto_ec.ECDSA(crypto_hashes.SHA256()))
    es_public = es_key.public_key()
    es_sign = per_cpu_second(lambda: es_key.sign(MESSAGE, crypto_ec.ECDSA(crypto_hashes.SHA256())), seconds)
    es_verify = per_cpu_second(lambda: es_public.verify(es_signature, MESSAGE, crypto_ec.ECDSA(crypto_hashes.SHA256())),
                               seconds)
    row("ES256 sign (cryptography)", es_sign, "/s")
    row("ES256 verify (cryptography)", es_verify, "/s")

    ts_key = tongsuo_ec.generate_private_key(tongsuo_ec.SM2())
    ts_algorithm = tongsuo_ec.ECDSA(tongsuo_hashes.SM3())
    ts_signature = ts_key.sign(MESSAGE, ts_algorithm)
    ts_public = ts_key.public_key()
    row("SM2 sign (tongsuopy, C)", per_cpu_second(lambda: ts_key.sign(MESSAGE, ts_algorithm), seconds), "/s", es_sign)
    row("SM2 verify (tongsuopy, C)", per_cpu_second(lambda: ts_public.verify(ts_signature, MESSAGE, ts_algorithm),
                                                     seconds), "/s", es_verify)

    secret, public = gmalg.SM2().generate_keypair()
    ga = gmalg.SM2(secret, b"1234567812345678", public)
    r, s = ga.sign(MESSAGE)
    row("SM2 sign (gmalg, pure Python)", per_cpu_second(lambda: ga.sign(MESSAGE), seconds), "/s", es_sign)
    row("SM2 verify (gmalg, pure Python)", per_cpu_second(lambda: ga.verify(MESSAGE, r, s), seconds), "/s", es_verify)

    gs = gmssl_sm2.CryptSM2(secret.hex(), public.hex()[2:], mode=1)
    gs_signature = gs.sign_with_sm3(MESSAGE, gmssl_func.random_hex(64))
    row("SM2 sign (gmssl, pure Python)",
        per_cpu_second(lambda: gs.sign_with_sm3(MESSAGE, gmssl_func.random_hex(64)), seconds), "/s", es_sign)
    row("SM2 verify (gmssl, pure Python)", per_cpu_second(lambda: gs.verify_with_sm3(gs_signature, MESSAGE), seconds),
        "/s", es_verify)


def digests(seconds: float) -> None:
    print("SM3 throughput, MB per CPU-second; SHA-256 as baseline (1 MiB messages; pure Python: 16 KiB)")
    mb, pure_mb = len(BULK) / 1e6, len(PURE_BULK) / 1e6

    def tongsuo_sm3() -> bytes:
        digest = tongsuo_hashes.Hash(tongsuo_hashes.SM3())
        digest.update(BULK)
        return digest.finalize()

    def gmalg_sm3() -> bytes:
        digest = gmalg.SM3()
        digest.update(PURE_BULK)
        return digest.value()

    sha = per_cpu_second(lambda: hashlib.sha256(BULK).digest(), seconds) * mb
    row("SHA-256 (hashlib)", sha, "MB/s")
    row("SM3 (cryptography: kit.gm.symmetric.sm3)", per_cpu_second(lambda: sm3(BULK), seconds) * mb, "MB/s", sha)
    row("HMAC-SM3 (cryptography: kit.gm.symmetric.hmac_sm3)",
        per_cpu_second(lambda: hmac_sm3(SMALL * 2, BULK), seconds) * mb, "MB/s", sha)
    row("SM3 (tongsuopy)", per_cpu_second(tongsuo_sm3, seconds) * mb, "MB/s", sha)
    row("SM3 (gmalg, pure Python)", per_cpu_second(gmalg_sm3, seconds) * pure_mb, "MB/s", sha)
    pure_list = gmssl_func.bytes_to_list(PURE_BULK)
    row("SM3 (gmssl, pure Python)", per_cpu_second(lambda: gmssl_sm3.sm3_hash(pure_list), seconds) * pure_mb, "MB/s",
        sha)


def ciphers(seconds: float) -> None:
    print("SM4-GCM throughput, MB per CPU-second; AES-256-GCM as baseline (1 MiB; pure Python: 16 KiB)")
    mb, pure_mb = len(BULK) / 1e6, len(PURE_BULK) / 1e6
    aes, ours, tongsuo = AESGCM(AESGCM.generate_key(256)), SM4GCM(SM4GCM.generate_key()), TongsuoSM4GCM(os.urandom(16))
    base = per_cpu_second(lambda: aes.encrypt(NONCE, BULK, b"ctx"), seconds) * mb
    row("AES-256-GCM seal (cryptography AESGCM)", base, "MB/s")
    row("SM4-GCM seal (cryptography: kit.gm.symmetric.SM4GCM)",
        per_cpu_second(lambda: ours.encrypt(NONCE, BULK, b"ctx"), seconds) * mb, "MB/s", base)
    row("SM4-GCM seal (tongsuopy SM4GCM)", per_cpu_second(lambda: tongsuo.encrypt(NONCE, BULK, b"ctx"), seconds) * mb,
        "MB/s", base)
    pure = gmssl_sm4.CryptSM4()
    pure.set_key(os.urandom(16), gmssl_sm4.SM4_ENCRYPT)
    row("SM4-CBC (gmssl, pure Python; no pure GCM exists)",
        per_cpu_second(lambda: pure.crypt_cbc(bytes(16), PURE_BULK), seconds) * pure_mb, "MB/s", base)
    block = gmalg.SM4(os.urandom(16))
    row("SM4 blocks, ECB (gmalg, pure Python)",
        per_cpu_second(lambda: [block.encrypt(PURE_BULK[i:i + 16]) for i in range(0, len(PURE_BULK), 16)], seconds)
        * pure_mb, "MB/s", base)

    print("The keyring's case: an 18-byte value sealed, then opened, per call (calls per CPU-second)")
    sealed_aes, sealed_ours = aes.encrypt(NONCE, SMALL, b"ctx"), ours.encrypt(NONCE, SMALL, b"ctx")
    sealed_tongsuo = tongsuo.encrypt(NONCE, SMALL, b"ctx")
    seal = per_cpu_second(lambda: aes.encrypt(NONCE, SMALL, b"ctx"), seconds)
    open_ = per_cpu_second(lambda: aes.decrypt(NONCE, sealed_aes, b"ctx"), seconds)
    row("AES-256-GCM seal (cryptography AESGCM)", seal, "/s")
    row("AES-256-GCM open (cryptography AESGCM)", open_, "/s")
    row("SM4-GCM seal (cryptography: kit.gm.symmetric.SM4GCM)",
        per_cpu_second(lambda: ours.encrypt(NONCE, SMALL, b"ctx"), seconds), "/s", seal)
    row("SM4-GCM open (cryptography: kit.gm.symmetric.SM4GCM)",
        per_cpu_second(lambda: ours.decrypt(NONCE, sealed_ours, b"ctx"), seconds), "/s", open_)
    row("SM4-GCM seal (tongsuopy SM4GCM)", per_cpu_second(lambda: tongsuo.encrypt(NONCE, SMALL, b"ctx"), seconds),
        "/s", seal)
    row("SM4-GCM open (tongsuopy SM4GCM)",
        per_cpu_second(lambda: tongsuo.decrypt(NONCE, sealed_tongsuo, b"ctx"), seconds), "/s", open_)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="CPU seconds per figure (default 1)")
    args = parser.parse_args()
    print(f"国密 libraries — {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"load {os.getloadavg()[0]:.1f}; one process, figures per second of its CPU time")
    signatures(args.seconds)
    digests(args.seconds)
    ciphers(args.seconds)


if __name__ == "__main__":
    main()
