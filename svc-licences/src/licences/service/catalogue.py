"""Licence types (证照类型) issued by the bureau, and the national licence identifier (证照标识).

The identifier follows GB/T 36903's form ``1.2.156.3005.2.<type code>.<issuer code>.<serial>.<version>.<check>``;
its check character is ISO 7064 MOD 37,36 (``stdnum.iso7064.mod_37_36``) over every character of the
identifier before it, the dots left out (they are not in the MOD 37,36 alphabet).
"""
from __future__ import annotations

from dataclasses import dataclass

from stdnum.iso7064 import mod_37_36

IDENTIFIER_ROOT = "1.2.156.3005.2"


@dataclass(frozen=True)
class LicenceType:
    code: str  # 证照类型代码
    name: str
    matter_code: str | None
    validity_days: int  # when the application names no end date
    reminders: bool = False  # expiry reminders (plan task 6)


# Type codes: the bureau's code space 1131 (Shanghai, 31) followed by the matter's number.
TYPES: dict[str, LicenceType] = {t.code: t for t in (
    LicenceType("1131XK001", "植物检疫证书", "LR-XK-001", 30),
    LicenceType("1131XK002", "建筑垃圾处置证", "LR-XK-002", 365, reminders=True),
    LicenceType("1131XK003", "陆生野生动物进出口批准文件", "LR-XK-003", 180),
    LicenceType("1131XK004", "野生植物进出口批准文件", "LR-XK-004", 180),
    LicenceType("1131XK005", "户外招牌设置审批决定书", "LR-XK-005", 3 * 365),
    LicenceType("1131XK006", "户外广告设施设置许可证", "LR-XK-006", 3 * 365),
    LicenceType("1131XK007", "临时使用绿地许可证", "LR-XK-007", 365, reminders=True),
    LicenceType("1131XK008", "迁移树木许可证", "LR-XK-008", 365),
    LicenceType("1131XK009", "临时性户外广告设置许可证", "LR-XK-009", 30),
    LicenceType("1131XK010", "产地检疫合格证", "LR-XK-010", 365),
    LicenceType("1131XK011", "出售、购买、利用国家重点保护陆生野生动物及其制品批准文件", "LR-XK-011", 365),
    LicenceType("1131XK012", "占用已建成绿地许可证", "LR-XK-012", 365),
    LicenceType("1131XK013", "生活垃圾经营许可证", "LR-XK-013", 5 * 365, reminders=True),
    LicenceType("1131XK014", "使用林地审核同意书", "LR-XK-014", 2 * 365, reminders=True),
    # 长三角: issued for a year instead of per batch, recognised by the four provinces.
    LicenceType("1131YD001", "林业有害生物调运检疫要求书", None, 365),
)}
BY_MATTER: dict[str, LicenceType] = {t.matter_code: t for t in TYPES.values() if t.matter_code}
CONSTRUCTION_WASTE = "1131XK002"
QUARANTINE_REQUIREMENT = "1131YD001"


def check_character(body: str) -> str:
    return mod_37_36.calc_check_digit(body.replace(".", "").upper())


def licence_identifier(type_code: str, issuer_code: str, serial: int, version: int) -> str:
    body = f"{IDENTIFIER_ROOT}.{type_code}.{issuer_code}.{serial:08d}.{version:03d}"
    return f"{body}.{check_character(body)}"


def is_valid_identifier(identifier: str) -> bool:
    body, _, check = identifier.rpartition(".")
    if not body.startswith(IDENTIFIER_ROOT + ".") or len(check) != 1:
        return False
    try:
        return mod_37_36.is_valid(body.replace(".", "").upper() + check)
    except ValueError:
        return False
