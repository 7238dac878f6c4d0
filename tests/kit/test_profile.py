"""The production profile (``LVRONG_PROFILE``) and the data-protection keyring read from mounted
secret files: what production refuses, the key directory's layout (as a Kubernetes Secret volume
lays it out), rotation across it, and that development still needs no set-up."""
from __future__ import annotations

from pathlib import Path

import pytest

from kit.protection import Keyring, ProtectionError, ProtectionSettings
from kit.settings import NotDeployable, Profile, ServiceSettings, current_profile, writable_path_problem
from support import enter_production_profile, mount_service_secrets, random_base64, write_keyring


@pytest.fixture
def production(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    return enter_production_profile(monkeypatch, tmp_path)


def as_secret_volume(source: Path, mount: Path) -> Path:
    """``source``'s files laid out as the kubelet mounts a Secret: a timestamped directory, ``..data``
    pointing at it and one symlink per key through ``..data``."""
    stamped = mount / "..2026_12_06_20_00_00.123456789"
    stamped.mkdir(parents=True)
    for f in source.iterdir():
        (stamped / f.name).write_bytes(f.read_bytes())
        (mount / f.name).symlink_to(Path("..data") / f.name)
    (mount / "..data").symlink_to(stamped.name)
    return mount


def test_the_profile_defaults_to_development_and_refuses_a_typo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LVRONG_PROFILE", raising=False)
    assert current_profile() is Profile.DEVELOPMENT and not ServiceSettings().production
    monkeypatch.setenv("LVRONG_PROFILE", "Production")
    assert current_profile() is Profile.PRODUCTION and ServiceSettings().production
    monkeypatch.setenv("LVRONG_PROFILE", "prod")
    with pytest.raises(ValueError, match="LVRONG_PROFILE must be 'development' or 'production', not 'prod'"):
        current_profile()


def test_a_keyring_directory_mounted_as_a_secret_volume_reads_the_same_in_every_replica(tmp_path: Path) -> None:
    mount = as_secret_volume(write_keyring(tmp_path / "ops", ["k2026a", "k2026b"], active="k2026b"), tmp_path / "mnt")
    first, second = Keyring.from_directory(mount), Keyring.from_directory(mount)
    assert first.key_ids == ["k2026a", "k2026b"] and first.active == "k2026b"
    token = first.encrypt("310101199001011234", context="applications.id_number")
    assert Keyring.key_id_of(token) == "k2026b"
    assert second.decrypt(token, context="applications.id_number") == "310101199001011234"
    assert first.lookup_hash("13812345678", purpose="phone") == second.lookup_hash("13812345678", purpose="phone")


def test_rotation_a_new_key_encrypts_and_the_old_one_still_decrypts(tmp_path: Path) -> None:
    directory = write_keyring(tmp_path / "keys", ["k1"])
    before = Keyring.from_directory(directory)
    old = before.encrypt("张三", context="c")
    # Step 1: the new key is added everywhere, the old one still encrypts.
    (directory / "k2.key").write_text(random_base64(32))
    (directory / "active-key-id").write_text("k1")
    added = Keyring.from_directory(directory)
    assert added.key_ids == ["k1", "k2"] and Keyring.key_id_of(added.encrypt("x", context="c")) == "k1"
    # Step 2: the new key becomes active; what the old one encrypted still reads, and moves over.
    (directory / "active-key-id").write_text("k2")
    after = Keyring.from_directory(directory)
    assert after.decrypt(old, context="c") == "张三" and after.needs_reencryption(old)
    moved = after.reencrypt(old, context="c")
    assert Keyring.key_id_of(moved) == "k2" and after.decrypt(moved, context="c") == "张三"
    # Step 3: the old key retired once nothing uses it: its values no longer decrypt.
    (directory / "k1.key").unlink()
    retired = Keyring.from_directory(directory)
    assert retired.decrypt(moved, context="c") == "张三"
    with pytest.raises(ProtectionError, match="unknown data-protection key id 'k1'"):
        retired.decrypt(old, context="c")


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: (d / "notes.txt").write_text("x"), "unexpected file 'notes.txt'"),
    (lambda d: (d / "active-key-id").unlink(), "active-key-id is missing and there are 2 keys"),
    (lambda d: (d / "active-key-id").write_text("k9"), "active-key-id names 'k9', which has no k9.key"),
    (lambda d: (d / "lookup-key").unlink(), "lookup-key is missing"),
    (lambda d: (d / "lookup-key").write_text(random_base64(16)), "lookup-key must hold at least 32 bytes, not 16"),
    (lambda d: (d / "k1.key").write_text(random_base64(16)), "data-protection key 'k1' must be 32 bytes"),
    (lambda d: (d / "k1.key").write_text("not base64!"), "data-protection key 'k1' is not base64"),
])
def test_a_wrong_keyring_directory_is_refused_naming_the_file(tmp_path: Path, change, message: str) -> None:
    directory = write_keyring(tmp_path / "keys", ["k1", "k2"], active="k1")
    change(directory)
    with pytest.raises(ValueError, match=message):
        Keyring.from_directory(directory)


def test_production_never_makes_development_keys(production: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATA_PROTECTION_ALLOW_DEV_KEYS", "true")
    settings = ProtectionSettings(dev_key_dir=production / "var" / "data-protection")
    with pytest.raises(RuntimeError, match="set DATA_PROTECTION_KEY_DIR"):
        Keyring.from_settings(settings)
    assert not (production / "var").exists()
    # Keys in the environment are not accepted in production either: only the mounted files.
    env_keys = ProtectionSettings(keys={"k1": random_base64(32)}, lookup_key=random_base64(32))
    assert "set DATA_PROTECTION_KEY_DIR" in env_keys.production_problems()[0]


def test_development_still_needs_no_set_up(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("LVRONG_PROFILE", raising=False)
    ring = Keyring.from_settings(ProtectionSettings(dev_key_dir=tmp_path / "dev"))
    assert ring.active.startswith("dev-") and (tmp_path / "dev" / "keys.json").exists()
    assert Keyring.from_settings(ProtectionSettings(dev_key_dir=tmp_path / "dev")).key_ids == ring.key_ids
    ServiceSettings().refuse_unless_deployable()  # no problem is looked for outside production


def test_production_lists_every_missing_setting_at_once(production: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LVRONG_TRACE_DIR", "traces")
    monkeypatch.delenv("DATABASE_URL")
    with pytest.raises(NotDeployable) as refused:
        ServiceSettings().refuse_unless_deployable()
    problems = "\n".join(refused.value.problems)
    assert len(refused.value.problems) == 8, problems
    for named in ("AUTH_ISSUER is not set", "AUTH_JWKS_URL is not set", "LVRONG_TRACE_DIR='traces' lies in the "
                  "working directory", "set DATA_PROTECTION_KEY_DIR", "DATABASE_URL (or DATABASE_URL) is not set",
                  "no NATS credentials for service (neither NATS_CREDENTIALS_DIR nor NATS_SEED_FILE is set)",
                  "AUDIT_CHAIN_KEY_DIR is not set", "AUDIT_ANCHOR_KEY_DIR is not set"):
        assert named in problems
    assert "LVRONG_PROFILE=production" in str(refused.value)


def test_production_starts_with_everything_mounted(production: Path, monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path) -> None:
    mount_service_secrets(monkeypatch, tmp_path / "secrets", ["service"])
    ServiceSettings().refuse_unless_deployable()
    # Anything that resolves into the working directory is refused, however it is written.
    assert writable_path_problem("LVRONG_TRACE_DIR", production / "x" / ".." / "traces")
    assert writable_path_problem("LVRONG_TRACE_DIR", tmp_path / "traces") is None


def test_production_needs_the_services_own_nats_seed(production: Path, monkeypatch: pytest.MonkeyPatch,
                                                     tmp_path: Path) -> None:
    """An anonymous client works only against a NATS without authentication: production refuses to
    start a service that has no seed of its own, wherever the seed was to come from."""
    secrets = mount_service_secrets(monkeypatch, tmp_path / "secrets", ["ops-service", "other"])
    with pytest.raises(NotDeployable) as refused:  # the directory holds other identities' seeds only
        ServiceSettings().refuse_unless_deployable()
    assert refused.value.problems == [f"no NATS credentials for service (no service.nk in NATS_CREDENTIALS_DIR="
                                      f"{str(secrets / 'nats')!r}): production's NATS refuses clients without an "
                                      f"NKey seed (deploy/README.md \"NATS identities\")"]
    assert "NATS_SEED_FILE='/nowhere/service.nk' is not a file" in ServiceSettings(
        nats_seed_file="/nowhere/service.nk").production_problems()[0]
    assert ServiceSettings(nats_seed_file=str(secrets / "nats" / "other.nk")).production_problems() == []
    monkeypatch.setenv("NATS_CREDENTIALS_DIR", str(secrets / "nats"))
    (secrets / "nats" / "service.nk").write_bytes((secrets / "nats" / "other.nk").read_bytes())
    ServiceSettings().refuse_unless_deployable()


def test_production_needs_mounted_audit_keys(production: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    mount_service_secrets(monkeypatch, tmp_path / "secrets", ["service"])
    monkeypatch.setenv("AUDIT_ANCHOR_KEY_DIR", str(tmp_path / "not-mounted"))
    monkeypatch.delenv("AUDIT_CHAIN_KEY_DIR")
    problems = ServiceSettings().production_problems()
    assert problems == [
        "AUDIT_CHAIN_KEY_DIR is not set: production never makes development audit keys "
        "(deploy/README.md \"Audit trail\")",
        f"AUDIT_ANCHOR_KEY_DIR={str(tmp_path / 'not-mounted')!r}: no such directory (mount the Secret there)"]
    assert not (production / "var").exists()  # no development keys were made on the way
