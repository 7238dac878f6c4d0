"""The issuer as the services see it: its public URL, identity, keys and settings."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from licences.service.keys import KeyRing
from licences.service.partners import Partners
from licences.settings import Settings

SM2_KEYS_PATH = "/.well-known/sm2-keys.json"


@dataclass
class Issuer:
    settings: Settings
    url: str
    key_dir: Path
    keys: KeyRing = field(init=False)
    # The signed status lists by (list id, revision), so a verifier's fetch is a dictionary lookup.
    signed_lists: dict[int, tuple[int, float, str]] = field(default_factory=dict)
    # 长三角 partners' keys and status lists as this process fetches them (licences.service.partners).
    partners: Partners = field(init=False)

    def __post_init__(self) -> None:
        # Loaded by the app once logging is configured; in production a read-only Secret volume.
        self.keys = KeyRing(self.key_dir, read_only=self.settings.production,
                            sm2_signer_id=self.settings.sm2_signer_id.encode())
        self.partners = Partners(self.settings)

    def metadata(self) -> dict[str, Any]:
        """``/.well-known/jwt-vc-issuer`` (SD-JWT VC issuer metadata)."""
        return {"issuer": self.url, "jwks_uri": f"{self.url}/v1/licences/issuer/jwks.json",
                "issuer_name": self.settings.issuer_name, "issuer_code": self.settings.issuer_code,
                "sm2_keys_uri": f"{self.url}{SM2_KEYS_PATH}"}

    def sm2_keys(self) -> dict[str, Any]:
        """``/.well-known/sm2-keys.json``: the issuer's SM2 public keys with their kids, activation times and
        signer id (the ones ahead of their activation included, so verifiers have them before they sign)."""
        return {"issuer": self.url, "issuer_name": self.settings.issuer_name, "keys": self.keys.sm2_published()}
