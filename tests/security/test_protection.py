"""Field protection (kit.protection): AES-GCM and SM4-GCM under configured keys with rotation (AES → SM4 →
SM4), lookup hashes, masking, the development keyring, and the form column type on a real database."""
from __future__ import annotations

import base64
import json
import os
import secrets
from pathlib import Path

import pytest
from tongsuopy.crypto.ciphers.aead import SM4GCM as TongsuoSM4GCM

from kit.protection import (
    AES_256_GCM,
    SM4_GCM,
    Keyring,
    ProtectionError,
    ProtectionSettings,
    development_keyring,
    mask_form,
    mask_id_number,
    mask_name,
    mask_phone,
    personal_kind,
    protect_form,
    reencrypt_form,
    reveal_form,
)

ID_NUMBER = "310101199001011237"
MOBILE = "13856785678"


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def test_a_value_round_trips_and_its_ciphertext_reveals_nothing() -> None:
    ring = Keyring.generate("k1")
    token = ring.encrypt(ID_NUMBER, context="applicant_id_number")
    assert ID_NUMBER not in token and token.startswith("pd1.k1.")
    assert ring.decrypt(token, context="applicant_id_number") == ID_NUMBER
    # A fresh nonce each time: equal values do not give equal ciphertexts.
    assert ring.encrypt(ID_NUMBER, context="applicant_id_number") != token


def test_wrong_context_tampering_and_foreign_keys_are_refused() -> None:
    ring = Keyring.generate("k1")
    token = ring.encrypt(MOBILE, context="contact_mobile")
    with pytest.raises(ProtectionError):
        ring.decrypt(token, context="applicant_id_number")  # copied into another field
    body = token.rsplit(".", 1)[1]
    flipped = token[: -len(body)] + ("A" if body[0] != "A" else "B") + body[1:]
    with pytest.raises(ProtectionError):
        ring.decrypt(flipped, context="contact_mobile")
    with pytest.raises(ProtectionError):
        Keyring.generate("other").decrypt(token, context="contact_mobile")
    with pytest.raises(ProtectionError):
        ring.decrypt("13856785678", context="contact_mobile")


def test_rotation_new_values_under_the_newest_key_old_ones_still_decrypt_and_reencrypt() -> None:
    old_key, new_key, lookup = os.urandom(32), os.urandom(32), os.urandom(32)
    before = Keyring.from_settings(ProtectionSettings(keys={"2025": b64(old_key)}, lookup_key=b64(lookup)))
    form = protect_form({"contact_mobile": MOBILE, "tree_species": "香樟"}, before)
    after = Keyring.from_settings(ProtectionSettings(keys={"2025": b64(old_key), "2026": b64(new_key)},
                                                     lookup_key=b64(lookup)))
    assert after.active == "2026"
    assert reveal_form(form, after)["contact_mobile"] == MOBILE
    assert after.needs_reencryption(form["contact_mobile"]["$protected"])
    moved = reencrypt_form(form, after)
    assert moved["contact_mobile"]["$protected"].startswith("pd1.2026.")
    assert moved["tree_species"] == "香樟"
    retired = Keyring({"2026": new_key}, "2026", lookup)  # the old key removed after the re-encryption
    assert reveal_form(moved, retired)["contact_mobile"] == MOBILE
    with pytest.raises(ProtectionError):
        reveal_form(form, retired)
    # Lookup hashes do not depend on the encryption keys: rotation leaves them valid.
    assert before.lookup_hash(MOBILE, purpose="mobile") == after.lookup_hash(MOBILE, purpose="mobile")


def test_lookup_hash_is_keyed_normalised_and_separated_by_purpose() -> None:
    ring = Keyring.generate()
    h = ring.lookup_hash("310101199001011237", purpose="resident_id")
    assert h == ring.lookup_hash(" 310101199001011237 ", purpose="resident_id")
    assert ring.lookup_hash("31010119900101123x", purpose="resident_id") == \
        ring.lookup_hash("31010119900101123X", purpose="resident_id")
    assert h != ring.lookup_hash("310101199001011237", purpose="mobile")
    assert h != Keyring.generate().lookup_hash("310101199001011237", purpose="resident_id")
    assert ID_NUMBER not in h


def test_bad_configuration_is_refused() -> None:
    with pytest.raises(ValueError):
        ProtectionSettings(keys={"bad.id": b64(os.urandom(32))})
    with pytest.raises(ValueError, match="32 bytes"):
        Keyring.from_settings(ProtectionSettings(keys={"k": b64(os.urandom(16))}, lookup_key=b64(os.urandom(32))))
    with pytest.raises(ValueError, match="LOOKUP_KEY"):
        Keyring.from_settings(ProtectionSettings(keys={"k": b64(os.urandom(32))}))
    with pytest.raises(ValueError, match="active"):
        Keyring.from_settings(ProtectionSettings(keys={"k": b64(os.urandom(32))}, active_key="nope",
                                                 lookup_key=b64(os.urandom(32))))
    with pytest.raises(RuntimeError):
        Keyring.from_settings(ProtectionSettings(allow_dev_keys=False))


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    key, lookup = os.urandom(32), os.urandom(32)
    monkeypatch.setenv("DATA_PROTECTION_KEYS", json.dumps({"prod-1": b64(key)}))
    monkeypatch.setenv("DATA_PROTECTION_LOOKUP_KEY", b64(lookup))
    ring = Keyring.from_settings(ProtectionSettings())
    assert ring.active == "prod-1"
    assert Keyring({"prod-1": key}, "prod-1", lookup).decrypt(ring.encrypt("x", context="c"), context="c") == "x"


def test_development_keyring_is_created_once_and_shared(tmp_path, capsys) -> None:
    first = development_keyring(tmp_path / "dp")
    second = development_keyring(tmp_path / "dp")
    assert second.decrypt(first.encrypt(MOBILE, context="c"), context="c") == MOBILE
    assert oct((tmp_path / "dp" / "keys.json").stat().st_mode & 0o777) == "0o600"
    stored = json.loads((tmp_path / "dp" / "keys.json").read_text())
    out = capsys.readouterr().out
    assert "data_protection_development_keys" in out
    for value in [*stored["keys"].values(), stored["lookup_key"]]:
        assert value not in out  # key material is never logged


def test_masks() -> None:
    assert mask_id_number("310101199001011234") == "310***********1234"
    assert mask_phone("13856785678") == "138****5678"
    assert mask_name("张三") == "张*"
    assert mask_name("欧阳娜娜") == "欧***"
    assert mask_name("王") == "*"
    assert mask_phone("12345") == "*****"
    assert mask_form({"applicant_id_number": "310101199001011234", "contact_mobile": MOBILE, "contact_name": "张三",
                      "technical_lead_name": "李四", "shop_name": "张三小吃", "tree_count": 3}) == {
        "applicant_id_number": "310***********1234", "contact_mobile": "138****5678", "contact_name": "张*",
        "technical_lead_name": "李*", "shop_name": "张三小吃", "tree_count": 3}


def test_only_personal_fields_are_protected() -> None:
    assert [personal_kind(k) for k in ("applicant_id_number", "contact_mobile", "contact_name", "technical_lead_name",
                                       "business_name", "project_name", "address", "applicant_uscc")] == \
        ["id_number", "phone", "name", "name", None, None, None, None]
    ring = Keyring.generate()
    form = {"contact_name": "张三", "contact_mobile": MOBILE, "project_name": "工程", "tree_count": 3, "note": None}
    stored = protect_form(form, ring)
    assert stored["project_name"] == "工程" and stored["tree_count"] == 3 and stored["note"] is None
    assert "张三" not in json.dumps(stored, ensure_ascii=False) and MOBILE not in json.dumps(stored)
    assert protect_form(stored, ring) == stored  # protecting twice changes nothing
    assert reveal_form(stored, ring) == form


def test_a_submitted_object_cannot_pass_for_a_protected_value() -> None:
    ring = Keyring.generate()
    forged = {"contact_mobile": {"$protected": "pd1.x." + secrets.token_urlsafe(20)}}
    with pytest.raises(ProtectionError):
        reveal_form(forged, ring)


def test_digests_let_equal_values_be_compared_without_decrypting() -> None:
    ring = Keyring.generate()
    first = protect_form({"contact_mobile": MOBILE, "n": 1}, ring, digests=True)
    again = protect_form({"contact_mobile": MOBILE, "n": 1}, ring, digests=True)
    other = protect_form({"contact_mobile": "13900000000", "n": 1}, ring, digests=True)
    assert first["contact_mobile"]["$protected"] != again["contact_mobile"]["$protected"]
    assert first["contact_mobile"]["$digest"] == again["contact_mobile"]["$digest"] != other["contact_mobile"]["$digest"]
    assert MOBILE not in json.dumps(first)
    assert reveal_form(first, ring) == {"contact_mobile": MOBILE, "n": 1}
    assert reencrypt_form(first, ring)["contact_mobile"]["$digest"] == first["contact_mobile"]["$digest"]


# --- SM4-GCM (issue 19): a key declares its algorithm, a token names its key and so its algorithm ---


def sealed_parts(token: str) -> tuple[bytes, bytes]:
    body = token.split(".", 2)[2]
    raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    return raw[:12], raw[12:]


def test_an_sm4_key_seals_with_sm4_gcm_as_another_implementation_opens_it() -> None:
    key, lookup = os.urandom(16), os.urandom(32)
    ring = Keyring({"sm4-1": key}, "sm4-1", lookup, {"sm4-1": SM4_GCM})
    token = ring.encrypt(ID_NUMBER, context="applicant_id_number")
    assert token.startswith("pd1.sm4-1.") and ID_NUMBER not in token
    assert ring.algorithm_of(token) == SM4_GCM
    assert ring.decrypt(token, context="applicant_id_number") == ID_NUMBER
    nonce, sealed = sealed_parts(token)
    assert len(nonce) == 12 and len(sealed) == len(ID_NUMBER) + 16  # 96-bit nonce, 128-bit tag
    # Tongsuo (another OpenSSL fork) opens it with the key and the context as associated data: SM4-GCM it is.
    assert TongsuoSM4GCM(key).decrypt(nonce, sealed, b"applicant_id_number").decode() == ID_NUMBER


def test_wrong_key_wrong_context_and_tampering_are_refused_under_sm4() -> None:
    ring = Keyring.generate("s", SM4_GCM)
    token = ring.encrypt(MOBILE, context="contact_mobile")
    with pytest.raises(ProtectionError):
        Keyring.generate("s", SM4_GCM).decrypt(token, context="contact_mobile")  # same id, another key
    with pytest.raises(ProtectionError):
        ring.decrypt(token, context="applicant_id_number")
    body = token.rsplit(".", 1)[1]
    for position in (0, len(body) // 2, len(body) - 2):  # the nonce, the ciphertext, the tag
        flipped = list(body)
        flipped[position] = "A" if body[position] != "A" else "B"
        with pytest.raises(ProtectionError):
            ring.decrypt(token[: -len(body)] + "".join(flipped), context="contact_mobile")
    with pytest.raises(ProtectionError):
        ring.decrypt(token[:-4], context="contact_mobile")


def test_the_algorithm_is_the_keys_so_a_token_cannot_choose_it() -> None:
    key = os.urandom(32)
    aes = Keyring({"k": key}, "k", os.urandom(32))
    token = aes.encrypt(MOBILE, context="c")
    # The same id declared SM4 elsewhere (16 of the bytes): the AES token does not open, nothing is guessed.
    with pytest.raises(ProtectionError):
        Keyring({"k": key[:16]}, "k", os.urandom(32), {"k": SM4_GCM}).decrypt(token, context="c")
    assert aes.algorithm_of(token) == AES_256_GCM
    with pytest.raises(ProtectionError):
        aes.algorithm_of("pd1.gone." + token.rsplit(".", 1)[1])


def test_a_mixed_keyring_reads_both_and_rotation_moves_aes_to_sm4_then_to_a_new_sm4_key() -> None:
    aes_key, sm4_key, sm4_next, lookup = os.urandom(32), os.urandom(16), os.urandom(16), os.urandom(32)
    before = Keyring({"aes-2025": aes_key}, "aes-2025", lookup)
    form = protect_form({"contact_mobile": MOBILE, "contact_name": "张三", "tree_species": "香樟"}, before, digests=True)
    mixed = Keyring({"aes-2025": aes_key, "sm4-2026": sm4_key}, "sm4-2026", lookup, {"sm4-2026": SM4_GCM})
    assert reveal_form(form, mixed)["contact_mobile"] == MOBILE  # old tokens stay readable
    fresh = protect_form({"contact_mobile": MOBILE}, mixed)
    assert mixed.algorithm_of(fresh["contact_mobile"]["$protected"]) == SM4_GCM
    moved = reencrypt_form(form, mixed)
    assert all(moved[k]["$protected"].startswith("pd1.sm4-2026.") for k in ("contact_mobile", "contact_name"))
    assert moved["contact_mobile"]["$digest"] == form["contact_mobile"]["$digest"]  # lookups unaffected
    sm4_only = Keyring({"sm4-2026": sm4_key}, "sm4-2026", lookup, {"sm4-2026": SM4_GCM})
    assert reveal_form(moved, sm4_only) == {"contact_mobile": MOBILE, "contact_name": "张三", "tree_species": "香樟"}
    with pytest.raises(ProtectionError):
        reveal_form(form, sm4_only)  # the AES key retired: what was not moved is unreadable
    rotated = Keyring({"sm4-2026": sm4_key, "sm4-2027": sm4_next}, "sm4-2027", lookup,
                      {"sm4-2026": SM4_GCM, "sm4-2027": SM4_GCM})
    again = reencrypt_form(moved, rotated)
    assert again["contact_name"]["$protected"].startswith("pd1.sm4-2027.")
    assert reveal_form(again, rotated)["contact_name"] == "张三"
    # The lookup hash is the lookup key's alone (HMAC-SHA256, see kit.protection): the same for every ring.
    assert before.lookup_hash(ID_NUMBER, purpose="p") == sm4_only.lookup_hash(ID_NUMBER, purpose="p")


def key_directory(tmp_path: Path, files: dict[str, bytes], active: str | None = None) -> Path:
    directory = tmp_path / "keys"
    directory.mkdir()
    for name, raw in files.items():
        (directory / name).write_text(b64(raw) + "\n")
    (directory / "lookup-key").write_text(b64(os.urandom(32)))
    if active:
        (directory / "active-key-id").write_text(active)
    return directory


def test_a_key_directory_declares_sm4_keys_by_their_file_name(tmp_path: Path) -> None:
    directory = key_directory(tmp_path, {"aes-1.key": os.urandom(32), "sm4-1.sm4.key": os.urandom(16)}, "sm4-1")
    ring = Keyring.from_settings(ProtectionSettings(key_dir=directory))
    assert ring.algorithms == {"aes-1": AES_256_GCM, "sm4-1": SM4_GCM} and ring.active == "sm4-1"
    assert ring.algorithm_of(ring.encrypt("x")) == SM4_GCM


@pytest.mark.parametrize(("files", "problem"), [
    ({"s.sm4.key": os.urandom(32)}, "'s' must be 16 bytes (SM4-GCM), not 32"),
    ({"s.sm4.key": os.urandom(15)}, "'s' must be 16 bytes (SM4-GCM), not 15"),
    ({"a.key": os.urandom(16)}, "'a' must be 32 bytes (AES-256-GCM), not 16"),
    ({"s.key": os.urandom(32), "s.sm4.key": os.urandom(16)}, "two files for the key id 's'"),
], ids=["sm4-32-bytes", "sm4-15-bytes", "aes-16-bytes", "one-id-two-keys"])
def test_production_checks_refuse_a_key_of_the_wrong_length_for_its_algorithm(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, files: dict[str, bytes], problem: str) -> None:
    monkeypatch.setenv("LVRONG_PROFILE", "production")
    directory = key_directory(tmp_path, files, "s" if any(n.startswith("s.") for n in files) else None)
    [found] = ProtectionSettings(key_dir=directory).production_problems()
    assert problem in found
    for raw in files.values():
        assert b64(raw) not in found  # key material never in a message


def test_keys_from_the_environment_name_their_algorithm(monkeypatch: pytest.MonkeyPatch) -> None:
    sm4_key, lookup = os.urandom(16), os.urandom(32)
    monkeypatch.setenv("DATA_PROTECTION_KEYS", json.dumps({"aes": b64(os.urandom(32)), "sm4": b64(sm4_key)}))
    monkeypatch.setenv("DATA_PROTECTION_KEY_ALGORITHMS", json.dumps({"sm4": "SM4-GCM"}))
    monkeypatch.setenv("DATA_PROTECTION_LOOKUP_KEY", b64(lookup))
    ring = Keyring.from_settings(ProtectionSettings())
    assert ring.active == "sm4" and ring.algorithms == {"aes": AES_256_GCM, "sm4": SM4_GCM}
    token = ring.encrypt(MOBILE, context="c")
    assert Keyring({"sm4": sm4_key}, "sm4", lookup, {"sm4": SM4_GCM}).decrypt(token, context="c") == MOBILE
    with pytest.raises(ValueError, match="unknown algorithm"):
        ProtectionSettings(key_algorithms={"sm4": "SM4-CBC"})
    with pytest.raises(ValueError, match="lacks"):
        Keyring.from_settings(ProtectionSettings(keys={"a": b64(os.urandom(32))}, key_algorithms={"b": "SM4-GCM"},
                                                 lookup_key=b64(lookup)))


def test_a_development_keyring_may_hold_an_sm4_key(tmp_path: Path) -> None:
    directory = tmp_path / "dp"
    directory.mkdir()
    (directory / "keys.json").write_text(json.dumps({
        "keys": {"dev-sm4": b64(os.urandom(16))}, "algorithms": {"dev-sm4": "SM4-GCM"},
        "lookup_key": b64(os.urandom(32))}))
    ring = development_keyring(directory)
    assert ring.algorithms == {"dev-sm4": SM4_GCM} and ring.decrypt(ring.encrypt("x")) == "x"


def test_a_required_algorithm_refuses_an_active_key_of_another(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LVRONG_PROFILE", "production")
    directory = key_directory(tmp_path, {"aes-1.key": os.urandom(32), "sm4-1.sm4.key": os.urandom(16)}, "aes-1")
    [problem] = ProtectionSettings(key_dir=directory, required_algorithm="SM4-GCM").production_problems()
    assert problem == ("DATA_PROTECTION_REQUIRED_ALGORITHM is SM4-GCM, but the active data-protection key 'aes-1' "
                       "is AES-256-GCM")
    (directory / "active-key-id").write_text("sm4-1")  # step 2 of the move to SM4: the SM4 key active
    assert ProtectionSettings(key_dir=directory, required_algorithm="SM4-GCM").production_problems() == []
    with pytest.raises(ValueError, match="unknown algorithm"):
        ProtectionSettings(required_algorithm="SM1")
