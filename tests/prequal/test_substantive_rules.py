"""The substantive rules (实质性审查规则) of the 18 matters: each cites its legal basis, is shipped in version 2
as ``prequal.service.rulegen`` builds it, catches what it is for on a whole application, and revision
0014 publishes version 2 — or, where staff published rules of their own, adds it as a draft beside them."""
from __future__ import annotations

import asyncio
import copy
import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from alembic import command

from kit.migrations import alembic_config, upgrade
from prequal.service.rulegen import build_v2, rules_doc
from prequal.service.rules import compile_rules, shipped_rulesets, verdict_of
from prequal.service.substantive import SUBSTANTIVE
from prequal.settings import Settings
from support import connect, drop_databases, valid_form

CATALOGUE = {m["code"]: m for m in json.loads(
    (Path(__file__).parents[2] / "svc-matters/src/matters/catalogue/matters.json").read_text("utf-8"))}
V2 = shipped_rulesets(2)
PREFIX = os.environ.get("LVRONG_TEST_DATABASE_PREFIX", "lvrong_itest") + "_subst"
BEFORE = "0013_recognised_materials"


def test_every_matter_has_substantive_rules_citing_an_article_or_provision() -> None:
    assert set(SUBSTANTIVE) == set(CATALOGUE)
    for code, rules in SUBSTANTIVE.items():
        assert rules, code
        for rule in rules:
            assert rule["id"].startswith("law.") and rule["severity"] in ("blocking", "warning")
            basis = rule["legal_basis"]
            assert basis.startswith("《") and ("第" in basis or "（" in basis), (code, rule["id"], basis)
            assert rule["message_zh"] and rule["message_en"]
            assert rule["examples"]["pass"] and rule["examples"]["fail"]


@pytest.mark.parametrize("code", sorted(CATALOGUE))
def test_version_2_is_what_rulegen_builds(code: str) -> None:
    assert V2[code] == json.loads(json.dumps(build_v2(CATALOGUE[code]), ensure_ascii=False))


TODAY = dt.date(2030, 3, 2)


def test_the_rules_doc_is_generated_from_them() -> None:
    doc = (Path(__file__).parents[2] / "svc-prequal/RULES.md").read_text("utf-8")
    assert doc == rules_doc(list(CATALOGUE.values()))


def _review(code: str, changes: dict[str, Any], drop: tuple[str, ...] = (), on: dt.date | None = None,
            version: int = 2) -> tuple[str, list[str]]:
    matter = CATALOGUE[code]
    form = valid_form(matter, 3)
    on = on or TODAY
    for f in matter["fields"]:  # the dates of a valid form, reckoned from the day of the review
        if f["type"] == "date":
            form[f["key"]] = (on + dt.timedelta(days=30 if "end" in f["key"] else 5)).isoformat()
        if f["key"] == "declaration_year":
            form[f["key"]] = on.year
    form.update(changes)
    materials = {m["code"]: {"kind": "upload", "material_id": "m"} for m in matter["materials"]
                 if m["required"] and m["code"] not in drop}
    results = compile_rules(f"{code}@v{version}", shipped_rulesets(version)[code]["rules"]).evaluate(form, materials, on)
    return verdict_of(results), [r.rule_id for r in results if r.outcome == "failed"]


@pytest.mark.parametrize(("code", "changes", "verdict", "rule_id"), [
    # 18 months of temporary use of green space: version 1 let it through (2 years), the law allows 1
    ("LR-XK-007", {"start_date": "2030-03-10", "end_date": "2031-09-10"}, "returned", "law.max_period"),
    ("LR-XK-007", {"restoration_committed": False}, "returned", "law.restoration_commitment"),
    ("LR-XK-012", {"green_space_type": "park", "public_facility": False}, "returned",
     "law.public_green_only_for_public_works"),
    ("LR-XK-002", {"waste_volume_m3": 90000.0, "vehicle_count": 2, "start_date": "2030-03-10",
                   "end_date": "2030-04-09"}, "returned", "law.transport_capacity"),
    ("LR-XK-008", {"max_trunk_diameter_cm": 150.0}, "needs_human_review", "law.possible_old_tree"),
    ("LR-BA-001", {"water_recycling": False}, "returned", "law.water_recycling"),
    ("LR-BA-002", {"declaration_year": 2027}, "returned", "law.declaration_year"),
    ("LR-XK-014", {"use_type": "temporary", "start_date": "2030-03-10", "end_date": "2033-03-10"}, "returned",
     "law.max_period"),
])
def test_a_substantive_mistake_is_caught_on_a_whole_application(code: str, changes: dict[str, Any], verdict: str,
                                                                 rule_id: str) -> None:
    got, failed = _review(code, changes, on=TODAY)
    assert (got, failed) == (verdict, [rule_id])
    # and version 1 did not see it (but LR-XK-014's 3 years, which its period rule already refused)
    if code != "LR-XK-014":
        assert _review(code, changes, on=TODAY, version=1)[0] == "passed"


def test_a_material_the_case_requires_is_asked_for_only_in_that_case() -> None:
    assert _review("LR-XK-006", {"site_type": "public_site"}, on=TODAY) == ("returned", ["law.public_site_right"])
    assert _review("LR-XK-006", {"site_type": "leased_building"}, on=TODAY) == ("passed", [])
    assert _review("LR-XK-001", {"destination": "浙江省杭州市"}, on=TODAY) == (
        "returned", ["law.interprovincial_requirements"])


async def test_revision_0014_publishes_version_2_but_keeps_rules_staff_published(servers) -> None:
    settings = Settings(database_url=servers.database_url, database_name_prefix=PREFIX)
    await drop_databases(servers.database_url, [settings.database_name])

    async def sql(query: str, *args: object) -> list[asyncpg.Record]:
        conn = await connect(servers.database_url, settings.database_name)
        try:
            return await conn.fetch(query, *args)
        finally:
            await conn.close()

    async def versions() -> dict[str, list[tuple[int, str, str]]]:
        out: dict[str, list[tuple[int, str, str]]] = {}
        for r in await sql("SELECT matter_code, version, status, created_by FROM rulesets ORDER BY 1, 2"):
            out.setdefault(r["matter_code"], []).append((r["version"], r["status"], r["created_by"]))
        return out

    try:
        await asyncio.to_thread(upgrade, "prequal", settings, BEFORE)
        staff_rules = copy.deepcopy(shipped_rulesets(1)["LR-XK-008"]["rules"])[:3]
        await sql("UPDATE rulesets SET status = 'retired', retired_at = now() WHERE matter_code = 'LR-XK-008'")
        await sql("INSERT INTO rulesets (matter_code, version, status, rules, created_by, published_at) "
                  "VALUES ('LR-XK-008', 2, 'active', $1::jsonb, 'reviewer-1', now())", json.dumps(staff_rules))
        await asyncio.to_thread(upgrade, "prequal", settings)
        after = await versions()
        assert after["LR-XK-008"] == [(1, "retired", "seed:prequal/rulesets"), (2, "active", "reviewer-1"),
                                      (3, "draft", "seed:prequal/rulesets/v2")]
        for code in set(CATALOGUE) - {"LR-XK-008"}:
            assert after[code] == [(1, "retired", "seed:prequal/rulesets"), (2, "active", "seed:prequal/rulesets/v2")]
        [row] = await sql("SELECT rules FROM rulesets WHERE matter_code = 'LR-XK-007' AND version = 2")
        assert json.loads(row["rules"]) == V2["LR-XK-007"]["rules"]

        await asyncio.to_thread(command.downgrade, alembic_config("prequal", settings.service_database_url), BEFORE)
        back = await versions()
        assert back["LR-XK-008"] == [(1, "retired", "seed:prequal/rulesets"), (2, "active", "reviewer-1")]
        assert back["LR-XK-007"] == [(1, "active", "seed:prequal/rulesets")]
    finally:
        await drop_databases(servers.database_url, [settings.database_name])
