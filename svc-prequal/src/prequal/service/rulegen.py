"""Builds the shipped rule sets from the matter catalogue: ``prequal/rulesets/<code>.json`` (version 1), the
generic rules of each matter's requirements plus the matter's own date and period rules, and
``prequal/rulesets/v2/<code>.json`` (version 2), version 1 with the substantive rules of the matter's legal
basis (``prequal.service.substantive``; a substantive rule replaces the version-1 rules listed in ``REPLACED``).

    uv run python -m prequal.service.rulegen ../svc-matters/src/matters/catalogue/matters.json
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from kit.contracts import MatterRequirements
from prequal.service.rules import generic_rules
from prequal.service.substantive import REPLACED, SUBSTANTIVE

# matter code → (maximum days from start to end, legal basis index, zh / en wording of the limit)
PERIODS: dict[str, tuple[int, int, str, str]] = {
    "LR-XK-002": (366, 0, "建筑垃圾处置核准的处置期限不得超过1年", "the disposal period cannot exceed 1 year"),
    "LR-XK-006": (1096, 0, "户外广告设施设置期限不得超过3年", "an outdoor advertising facility may be set for at most 3 years"),
    "LR-XK-007": (730, 0, "临时使用绿地的期限不得超过2年", "temporary use of green space cannot exceed 2 years"),
    "LR-XK-009": (31, 0, "临时性户外广告设置期限不得超过1个月", "temporary outdoor advertising cannot exceed 1 month"),
    "LR-XK-014": (730, 0, "临时使用林地的期限不得超过2年", "temporary use of forest land cannot exceed 2 years"),
    "LR-BA-004": (1096, 0, "户外广告设施设置期限不得超过3年", "an outdoor advertising facility may be set for at most 3 years"),
}
NOT_PAST = ("start_date", "ship_date")


def _rule(rule_id: str, targets: list[str], when: str | None, expr: str, zh: str, en: str, basis: str | None,
          passing: list[dict[str, Any]], failing: list[dict[str, Any]]) -> dict[str, Any]:
    code = "dates-order" if rule_id == "dates.order" else None
    return {"id": rule_id, "finding_code": code, "targets": targets, "when": when, "expr": expr, "severity": "blocking",
            "message_zh": zh, "message_en": en, "legal_basis": basis, "effective_from": None, "effective_to": None,
            "examples": {"pass": passing, "fail": failing}}


def build(matter: dict[str, Any]) -> dict[str, Any]:
    req = MatterRequirements.model_validate({**matter, "version": 1})
    basis = "；".join(matter.get("legal_basis") or []) or None
    rules = generic_rules(req, basis)
    keys = {f.key: f for f in req.fields}
    cond: dict[str, Any] = {}
    if "start_date" in keys and "end_date" in keys:
        rw = keys["end_date"].required_when or {}
        cond = dict(rw)
        guard = " && ".join([f"has(form.{k}) && form.{k} == {json.dumps(v)}" for k, v in rw.items()]
                            + ["has(form.start_date) && has(form.end_date)",
                               "is_date(form.start_date) && is_date(form.end_date)"])
        rules.append(_rule("dates.order", ["form.start_date", "form.end_date"], guard,
                           "date(form.end_date) >= date(form.start_date)",
                           "结束日期不能早于开始日期，请修改“结束日期”", "the end date cannot be before the start date",
                           basis, [{"form": {**cond, "start_date": "2030-01-01", "end_date": "2030-01-10"}}],
                           [{"form": {**cond, "start_date": "2030-01-10", "end_date": "2030-01-01"}}]))
        if matter["code"] in PERIODS:
            days, idx, zh, en = PERIODS[matter["code"]]
            legal = matter["legal_basis"][idx]
            rules.append(_rule("dates.max_period", ["form.end_date"], guard,
                               f"days_between(form.start_date, form.end_date) <= {days}",
                               f"{zh}（{legal}），请缩短“结束日期”", f"{en}; please bring the end date forward",
                               legal, [{"form": {**cond, "start_date": "2030-01-01", "end_date": "2030-01-20"}}],
                               [{"form": {**cond, "start_date": "2030-01-01", "end_date": "2033-01-02"}}]))
    for key in NOT_PAST:
        if key in keys:
            f = keys[key]
            rules.append(_rule(f"dates.not_past.{key}", [f"form.{key}"],
                               f"has(form.{key}) && is_date(form.{key})", f"date(form.{key}) >= date(today)",
                               f"“{f.label}”不能早于申请当日", f"{f.label_en or key} cannot be before the day of application",
                               basis, [{"form": {**cond, key: "2030-01-02"}, "today": "2030-01-01"}],
                               [{"form": {**cond, key: "2029-12-31"}, "today": "2030-01-01"}]))
    return {"matter_code": matter["code"], "version": 1, "name": f"{matter['code']} v1 — {matter['name_zh']}",
            "legal_basis": matter.get("legal_basis") or [], "rules": rules}


def build_v2(matter: dict[str, Any]) -> dict[str, Any]:
    """Version 2: version 1's rules (but those a substantive rule replaces) and the substantive rules."""
    v1 = build(matter)
    replaced = REPLACED.get(matter["code"], set())
    rules = [r for r in v1["rules"] if r["id"] not in replaced] + SUBSTANTIVE[matter["code"]]
    return {**v1, "version": 2, "name": f"{matter['code']} v2 — {matter['name_zh']}", "rules": rules}


def rules_doc(catalogue: list[dict[str, Any]]) -> str:
    """``svc-prequal/RULES.md``: the substantive rules of every matter, as shipped in version 2."""
    lines = ["# The substantive pre-review rules (实质性审查规则) of the 18 matters", "",
             "Generated by `python -m prequal.service.rulegen` from `prequal/service/substantive.py`; shipped in",
             "version 2 of each matter's rule set (`prequal/rulesets/v2/`, published by migration `0014_substantive_rules`).",
             "They come on top of the generated required/format/range/material checks of version 1. *blocking*: the",
             "application is returned to the applicant with the message (退回补正); *warning*: it goes on to a reviewer",
             "with the message, who judges. Each rule's passing and failing examples run as tests",
             "(`tests/prequal/test_rulesets.py`) and before any version is published. Where a provision is named by its",
             "subject in brackets instead of an article number, the article is for the legal division to confirm.", ""]
    for matter in catalogue:
        lines += [f"## {matter['code']} {matter['name_zh']} ({matter['name_en']})", "",
                  "| rule | severity | legal basis | message (中文) | message (English) |", "|---|---|---|---|---|"]
        replaced = REPLACED.get(matter["code"])
        for r in SUBSTANTIVE[matter["code"]]:
            cells = [f"`{r['id']}`", r["severity"], r["legal_basis"], r["message_zh"], r["message_en"]]
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        if replaced:
            lines += ["", f"Replaces version 1's {', '.join(f'`{x}`' for x in sorted(replaced))}."]
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    catalogue = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    root = Path(__file__).parent.parent / "rulesets"
    for folder, builder in ((root, build), (root / "v2", build_v2)):
        folder.mkdir(exist_ok=True)
        for matter in catalogue:
            doc = builder(matter)
            (folder / f"{matter['code']}.json").write_text(json.dumps(doc, ensure_ascii=False, indent=1) + "\n",
                                                           encoding="utf-8")
            print(folder.name, matter["code"], len(doc["rules"]), "rules")
    (Path(__file__).parents[3] / "RULES.md").write_text(rules_doc(catalogue), encoding="utf-8")


if __name__ == "__main__":
    main()
