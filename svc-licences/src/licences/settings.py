"""svc-licences' configuration (``LICENCES_*``): the only place it is read."""
from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from kit.settings import ServiceSettings, under_working_directory


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(extra="ignore", env_prefix="LICENCES_")
    service_name: ClassVar[str] = "licences"
    port: int = 8003
    # The issuer's signing keys (see licences.service.keys): a directory ops manage; in development one key is
    # created when it is empty, in production it is the licence signing keys Secret, mounted read-only.
    key_dir: Path = Path("var/licences/keys")
    key_reload_seconds: float = 30.0
    # The SM2 signer id (the ID in Z = SM3(ENTL‖ID‖a‖b‖xG‖yG‖xA‖yA)) of the licences' SM2 signatures; published
    # with the keys. GB/T 35276's default unless a partner's profile requires another.
    sm2_signer_id: str = "1234567812345678"
    # The public base URL of the issuer (the gateway); the credentials' ``iss``. Defaults to GATEWAY_URL.
    issuer_url: str | None = None
    issuer_name: str = "上海市绿化和市容管理局"
    issuer_code: str = "11310000MB0F4213X0"  # unified social credit code of the issuing body
    region: str = "310000"
    status_list_size: int = 131_072  # entries per list (2 bits each: 32 KiB)
    status_list_ttl_seconds: int = 300
    status_list_valid_seconds: int = 86_400
    presentation_ttl_seconds: int = 120
    data_handle_ttl_seconds: int = 300
    # Online presentation checks are committed in batches (licences.service.checks): this many writers
    # per process, each keeping one of the pool's connections, and at most this many checks a batch.
    verification_writers: int = 4
    verification_batch: int = 128
    reminder_days: list[int] = [90, 30, 7]
    reminder_interval_seconds: float = 3600.0
    expiry_interval_seconds: float = 600.0
    # SM2 documents for versions issued before SM2 signatures (licences.service.sm2backfill): at start, then
    # every so often, this many licences a transaction.
    sm2_backfill_interval_seconds: float = 3600.0
    sm2_backfill_batch: int = 200
    # 长三角 partners' keys fetched from their jwks_uri (licences.service.partners): refreshed when their
    # Cache-Control max-age says (kept within the bounds), or after partner_refresh_seconds without one; a
    # replica looks for due partners every partner_refresh_check_seconds (once per interval across replicas).
    partner_refresh_seconds: float = 3600.0
    partner_refresh_min_seconds: float = 60.0
    partner_refresh_max_seconds: float = 86_400.0
    partner_refresh_check_seconds: float = 60.0
    partner_retry_seconds: float = 300.0  # after a failed fetch
    # Keys not fetched successfully for this long are no longer trusted (documents refused as issuer_keys_stale).
    partner_keys_max_stale_seconds: float = 172_800.0
    # A document signed with a kid we do not know refreshes the partner's keys at most this often.
    partner_unknown_kid_refresh_seconds: float = 60.0
    partner_fetch_timeout_seconds: float = 5.0
    partner_fetch_max_bytes: int = 1_048_576
    # Partners' status lists (Token Status List) are cached at most this long (less when their ttl says so).
    partner_status_cache_seconds: float = 60.0
    # Recognised partner documents naming a status list are re-checked against it this often (once per interval
    # across replicas; the lists' cache above honoured): a revocation reaches the read models within about this
    # plus partner_status_cache_seconds. At most partner_recheck_batch documents per interval.
    partner_recheck_seconds: float = 60.0
    partner_recheck_batch: int = 5_000

    # 一人（企）一码: how long a holder's code is valid (it rotates: a new one supersedes the previous at once).
    holder_code_ttl_seconds: int = 300
    # 应归尽归: an import is validated and recorded at once; the import job issues its lines in transactions of
    # ``import_batch``, looking every ``import_interval_seconds``. A file holds at most ``import_max_lines`` lines
    # (split a larger register: a rerun skips what is in).
    import_max_lines: int = 5000
    import_batch: int = 50
    import_interval_seconds: float = 2.0

    def production_problems(self) -> list[str]:
        problems = super().production_problems()
        if under_working_directory(self.key_dir):
            problems.append(f"LICENCES_KEY_DIR={str(self.key_dir)!r} lies in the working directory: set it to the "
                            f"mounted licence signing keys Secret")
        return problems
