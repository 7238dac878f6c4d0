"""The catalogue of the 18 high-volume matters (事项), shipped as package data of ``matters``."""
from __future__ import annotations

import json
import re
from importlib.resources import files
from typing import Any

import pytest

# The 18 matters of CONTEXT.md, in its order: 14 licences, then 4 filings.
CONTEXT_NAMES = [
    "对植物调运检疫的许可",
    "城市建筑垃圾处置核准",
    "进出口国际公约限制进出口的陆生野生动物或其产品审批",
    "进出口中国参加的国际公约限制进出口野生植物审批",
    "对户外招牌设置的审批",
    "对户外广告设施设置的许可",
    "对临时使用绿地的许可",
    "对迁移树木的许可",
    "对临时性户外广告设置的许可",
    "对林业植物产地检疫的许可",
    "对出售、购买、利用国家重点保护陆生野生动物及其制品的审批",
    "对占用已建成绿地的许可",
    "对从事城市生活垃圾经营性清扫、收集、运输服务的许可",
    "对建设工程占用林地审核",
    "机动车清洗企业设立备案",
    "对餐厨垃圾产生单位的种类和产生量的申报",
    "户外招牌设置备案",
    "对户外广告设施设置备案",
]

FIELD_TYPES = {
    "string", "text", "integer", "decimal", "date", "boolean", "enum",
    "uscc", "resident_id", "mobile", "district", "address",
}
FIELD_KEYS = {"key", "label", "label_en", "type", "required", "options", "min", "max", "max_length", "required_when"}
MATTER_KEYS = {
    "code", "name_zh", "name_en", "kind", "department", "complexity", "statutory_days", "promised_days", "fee",
    "legal_basis", "conditions_zh", "channels", "help_video_url", "licence_type", "fields", "materials",
}
MATERIAL_KEYS = {"code", "name", "name_en", "required", "file_types", "max_size_mb", "substitutes"}
CHANNELS = {"online", "hall", "mobile", "kiosk"}
FILE_TYPES = {"pdf", "jpg", "png"}
# Licences issued outside this bureau that the licence library can supply instead of an upload.
EXTERNAL_LICENCES = {
    "营业执照",
    "不动产权证书",
    "建筑工程施工许可证",
    "建设工程规划许可证",
    "食品经营许可证",
    "城镇污水排入排水管网许可证",
    "林木种子生产经营许可证",
    "陆生野生动物人工繁育许可证",
    "林业有害生物调运检疫要求书",
    "使用林地现场查验表",
}
CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")
SNAKE = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$")
URL_SAFE = re.compile(r"^[A-Za-z0-9._~-]+$")


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    duplicates = {k for k in keys if keys.count(k) > 1}
    assert not duplicates, f"duplicate JSON keys: {duplicates}"
    return dict(pairs)


@pytest.fixture(scope="module")
def catalogue() -> list[dict[str, Any]]:
    resource = files("matters") / "catalogue" / "matters.json"
    return json.loads(resource.read_text(encoding="utf-8"), object_pairs_hook=_no_duplicate_keys)


@pytest.fixture(scope="module")
def licence_types(catalogue: list[dict[str, Any]]) -> set[str]:
    return {m["licence_type"] for m in catalogue if m["licence_type"]}


def by_key(matter: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["key"]: f for f in matter["fields"]}


def test_eighteen_matters_in_context_order(catalogue: list[dict[str, Any]]) -> None:
    assert len(catalogue) == 18
    assert [m["name_zh"] for m in catalogue] == CONTEXT_NAMES


def test_kinds(catalogue: list[dict[str, Any]]) -> None:
    kinds = [m["kind"] for m in catalogue]
    assert kinds == ["licence"] * 14 + ["filing"] * 4


def test_codes(catalogue: list[dict[str, Any]]) -> None:
    codes = [m["code"] for m in catalogue]
    assert len(set(codes)) == 18
    for matter in catalogue:
        assert URL_SAFE.match(matter["code"]), matter["code"]
        prefix = "LR-XK-" if matter["kind"] == "licence" else "LR-BA-"
        assert re.fullmatch(re.escape(prefix) + r"\d{3}", matter["code"]), matter["code"]
    assert codes[0] == "LR-XK-001" and codes[13] == "LR-XK-014"
    assert codes[14] == "LR-BA-001" and codes[17] == "LR-BA-004"


def test_matter_shape(catalogue: list[dict[str, Any]]) -> None:
    for m in catalogue:
        assert set(m) == MATTER_KEYS, m["code"]
        assert m["name_en"].strip() and not CJK.search(m["name_en"]), m["code"]
        assert m["department"].strip()
        assert m["complexity"] in {"general", "complex"}
        assert m["channels"] and set(m["channels"]) <= CHANNELS
        assert m["help_video_url"].startswith("https://") and m["code"] in m["help_video_url"]
        assert m["legal_basis"] and all(isinstance(x, str) and x.startswith("《") for x in m["legal_basis"])
        assert m["conditions_zh"] and all(isinstance(x, str) and x.strip() for x in m["conditions_zh"])


def test_time_limits(catalogue: list[dict[str, Any]]) -> None:
    for m in catalogue:
        statutory, promised = m["statutory_days"], m["promised_days"]
        assert type(statutory) is int and type(promised) is int, m["code"]
        assert 1 <= promised <= statutory, m["code"]


def test_all_free_of_charge(catalogue: list[dict[str, Any]]) -> None:
    for m in catalogue:
        assert m["fee"]["amount_fen"] == 0 and type(m["fee"]["amount_fen"]) is int
        assert m["fee"]["note_zh"].strip()
        assert set(m["fee"]) == {"amount_fen", "note_zh"}


def test_licence_type(catalogue: list[dict[str, Any]]) -> None:
    for m in catalogue:
        if m["kind"] == "licence":
            assert isinstance(m["licence_type"], str) and m["licence_type"].strip(), m["code"]
        else:
            assert m["licence_type"] is None, m["code"]
    names = {m["code"]: m["licence_type"] for m in catalogue}
    assert names["LR-XK-002"] == "建筑垃圾处置证"
    assert names["LR-XK-013"] == "生活垃圾经营许可证"
    assert names["LR-XK-001"] == "植物检疫证书"


def test_fields(catalogue: list[dict[str, Any]]) -> None:
    for m in catalogue:
        fields = m["fields"]
        assert 5 <= len(fields) <= 12, m["code"]
        keys = [f["key"] for f in fields]
        assert len(keys) == len(set(keys)), m["code"]
        for f in fields:
            where = f"{m['code']}.{f['key']}"
            assert set(f) <= FIELD_KEYS, where
            assert SNAKE.match(f["key"]), where
            assert f["type"] in FIELD_TYPES, where
            assert isinstance(f["required"], bool), where
            assert f["label"].strip() and f["label_en"].strip() and not CJK.search(f["label_en"]), where
            if f["type"] == "enum":
                values = [o["value"] for o in f.get("options", [])]
                assert len(values) >= 2 and len(values) == len(set(values)), where
                assert all(SNAKE.match(v) for v in values), where
                assert all(o["label"].strip() and set(o) == {"value", "label"} for o in f["options"]), where
            else:
                assert "options" not in f, where
            if "min" in f or "max" in f:
                assert f["type"] in {"integer", "decimal"}, where
            if f["type"] in {"integer", "decimal"}:
                assert "min" in f and "max" in f and f["min"] <= f["max"], where
                if f["type"] == "integer":
                    assert type(f["min"]) is int and type(f["max"]) is int, where
            if "max_length" in f:
                assert f["type"] in {"string", "text", "address"} and f["max_length"] > 0, where
            if f["type"] in {"string", "text"}:
                assert "max_length" in f, where


def test_conditional_fields(catalogue: list[dict[str, Any]]) -> None:
    for m in catalogue:
        fields = by_key(m)
        for f in m["fields"]:
            if "required_when" not in f:
                continue
            where = f"{m['code']}.{f['key']}"
            assert f["required"] is False, where
            for key, value in f["required_when"].items():
                assert fields[key]["type"] == "enum", where
                assert value in {o["value"] for o in fields[key]["options"]}, where


def test_applicant_identification_and_contact(catalogue: list[dict[str, Any]]) -> None:
    for m in catalogue:
        fields = by_key(m)
        types = {f["type"] for f in m["fields"]}
        assert "uscc" in types or "resident_id" in types, m["code"]
        if "applicant_uscc" in fields and "applicant_id_number" in fields:
            # Either kind of applicant: the applicant type says which identifier is required.
            assert fields["applicant_type"]["required"] is True
            assert fields["applicant_uscc"]["required_when"] == {"applicant_type": "organisation"}
            assert fields["applicant_id_number"]["required_when"] == {"applicant_type": "individual"}
        elif "applicant_uscc" in fields:
            assert fields["applicant_uscc"] == {**fields["applicant_uscc"], "type": "uscc", "required": True}
        else:
            assert fields["applicant_id_number"]["type"] == "resident_id"
            assert fields["applicant_id_number"]["required"] is True
        assert fields["contact_name"]["type"] == "string" and fields["contact_name"]["required"]
        assert fields["contact_mobile"]["type"] == "mobile" and fields["contact_mobile"]["required"]


def test_locations_and_periods(catalogue: list[dict[str, Any]]) -> None:
    for m in catalogue:
        fields = by_key(m)
        for f in m["fields"]:
            if f["type"] == "address":
                district_key = f["key"][: -len("address")] + "district"
                assert fields.get(district_key, {}).get("type") == "district", f"{m['code']}.{f['key']}"
        assert ("start_date" in fields) == ("end_date" in fields), m["code"]
        if "start_date" in fields:
            assert fields["start_date"]["type"] == fields["end_date"]["type"] == "date"
            assert fields["start_date"]["required"] == fields["end_date"]["required"]
    # Matters tied to a place in Shanghai have a district (the CITES matters are not).
    for m in catalogue:
        if m["code"] not in ("LR-XK-003", "LR-XK-004", "LR-XK-011"):
            assert any(f["type"] == "district" for f in m["fields"]), m["code"]
    # Time-bounded permits (expiry reminders and periods of use) have a period.
    for code in ("LR-XK-002", "LR-XK-006", "LR-XK-007", "LR-XK-009", "LR-XK-014", "LR-BA-004"):
        assert "start_date" in by_key(next(m for m in catalogue if m["code"] == code)), code


def test_materials(catalogue: list[dict[str, Any]], licence_types: set[str]) -> None:
    for m in catalogue:
        materials = m["materials"]
        assert 2 <= len(materials) <= 6, m["code"]
        codes = [x["code"] for x in materials]
        assert len(codes) == len(set(codes)), m["code"]
        assert any(x["required"] for x in materials), m["code"]
        for x in materials:
            where = f"{m['code']}.{x['code']}"
            assert set(x) == MATERIAL_KEYS, where
            assert SNAKE.match(x["code"]), where
            assert x["name"].strip() and x["name_en"].strip() and not CJK.search(x["name_en"]), where
            assert isinstance(x["required"], bool), where
            assert x["file_types"] and set(x["file_types"]) <= FILE_TYPES, where
            assert type(x["max_size_mb"]) is int and 1 <= x["max_size_mb"] <= 100, where
            for sub in x["substitutes"]:
                # Another material of the same matter, a licence this bureau issues, or a known
                # licence of another authority held in the licence library.
                assert sub in codes and sub != x["code"] or sub in licence_types or sub in EXTERNAL_LICENCES, (where, sub)


def test_business_licence_can_be_fetched_instead_of_uploaded(catalogue: list[dict[str, Any]]) -> None:
    for m in catalogue:
        for x in m["materials"]:
            if x["code"] == "business_licence":
                assert x["substitutes"] == ["营业执照"]


def test_cross_matter_substitutes(catalogue: list[dict[str, Any]]) -> None:
    # Plant transport quarantine accepts the origin-quarantine certificate issued by matter 10.
    transport = next(m for m in catalogue if m["code"] == "LR-XK-001")
    origin = next(m for m in catalogue if m["code"] == "LR-XK-010")
    subs = {s for x in transport["materials"] for s in x["substitutes"]}
    assert origin["licence_type"] in subs
