"""The production profile's checks of each process's own settings: the gateway's development issuer,
svc-licences' signing keys, svc-matters' blob directory (tests/kit/test_profile.py has the kit's)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from gateway.settings import Settings as GatewaySettings
from kit.settings import NotDeployable
from licences.app import deployment_checks
from licences.service.keys import create_key
from licences.settings import Settings as LicencesSettings
from matters.settings import Settings as MattersSettings
from support import IDENTITY_PLATFORM, enter_production_profile, mount_service_secrets


@pytest.fixture
def production(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    return enter_production_profile(monkeypatch, tmp_path)


def test_svc_matters_keeps_no_blob_directory_in_its_image(production: Path, monkeypatch: pytest.MonkeyPatch,
                                                           tmp_path: Path) -> None:
    mount_service_secrets(monkeypatch, tmp_path / "secrets", ["matters"])
    monkeypatch.setenv("MATTERS_BLOB_STORE", "filesystem")
    assert MattersSettings().production_problems() == [
        f"MATTERS_BLOB_DIR='var/blobs' lies in the working directory ({production}), which is read-only in production: "
        f"set it to a mounted volume"]
    assert MattersSettings(blob_dir=tmp_path / "blobs").production_problems() == []
    monkeypatch.setenv("MATTERS_BLOB_STORE", "postgres")  # materials in its database: no directory at all
    assert MattersSettings().production_problems() == []


def test_the_gateway_refuses_its_development_issuer_in_production(production: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in IDENTITY_PLATFORM.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("GATEWAY_DEV_ISSUER_ENABLED", "true")
    problems = GatewaySettings().production_problems()
    assert len(problems) == 1 and problems[0].startswith("GATEWAY_DEV_ISSUER_ENABLED is true")
    monkeypatch.setenv("GATEWAY_DEV_ISSUER_ENABLED", "false")
    GatewaySettings().refuse_unless_deployable()  # and no data-protection keys needed: it keeps no personal data


def test_svc_licences_refuses_to_mint_its_own_signing_key_in_production(production: Path, monkeypatch: pytest.MonkeyPatch,
                                                                        tmp_path: Path) -> None:
    mount_service_secrets(monkeypatch, tmp_path / "secrets", ["licences"])
    def refused(settings: LicencesSettings) -> list[str]:
        with pytest.raises(NotDeployable) as caught:
            settings.refuse_unless_deployable(*deployment_checks(settings))
        return caught.value.problems

    assert "LICENCES_KEY_DIR='var/licences/keys' lies in the working directory" in refused(LicencesSettings())[0]
    keys = tmp_path / "secrets" / "licence-keys"
    assert "no such directory" in refused(LicencesSettings(key_dir=keys))[0]
    keys.mkdir()
    assert "no usable signing key" in refused(LicencesSettings(key_dir=keys))[0]
    assert list(keys.iterdir()) == []  # nothing was created
    create_key(keys, label="initial")
    assert "no usable signing key for SM2 (" in refused(LicencesSettings(key_dir=keys))[0]  # 国密 too
    create_key(keys, label="initial-sm2", alg="SM2")
    LicencesSettings(key_dir=keys).refuse_unless_deployable(*deployment_checks(LicencesSettings(key_dir=keys)))
    assert os.listdir(production) == []  # and nothing at all in the working directory
