"""Field protection (kit.protection): AES-GCM under configured keys with rotation, lookup hashes,
masking, the development keyring, and the form column type on a real database."""
from __future__ import annotations

import base64
import json
import os
import secrets

import pytest

from kit.protection import (
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
