"""The shipped rule sets (every rule's own examples) and the CEL rule engine of svc-prequal."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from kit.contracts import MatterRequirements
from prequal.service.rules import (
    LATEST_SHIPPED,
    SHIPPED_VERSIONS,
    RuleCompileError,
    compile_rules,
    generic_rules,
    run_examples,
    shipped_rulesets,
    verdict_of,
)
from support import valid_form

CATALOGUE = json.loads((Path(__file__).parents[2] / "svc-matters/src/matters/catalogue/matters.json").read_text("utf-8"))
SHIPPED = shipped_rulesets(LATEST_SHIPPED)


def _cases() -> list[Any]:
    cases = []
    for version in SHIPPED_VERSIONS:
        for code, doc in sorted(shipped_rulesets(version).items()):
            for rule in doc["rules"]:
                for kind in ("pass", "fail"):
                    for i, example in enumerate(rule["examples"][kind]):
                        cases.append(pytest.param(code, rule, kind, example,
                                                  id=f"v{version}:{code}:{rule['id']}:{kind}[{i}]"))
    return cases


@pytest.mark.parametrize("version", SHIPPED_VERSIONS)
def test_every_matter_has_a_ruleset_whose_rules_all_have_examples(version: int) -> None:
    shipped = shipped_rulesets(version)
    assert set(shipped) == {m["code"] for m in CATALOGUE}
    for doc in shipped.values():
        assert doc["version"] == version
        for rule in doc["rules"]:
            assert rule["examples"]["pass"] and rule["examples"]["fail"], rule["id"]
            assert rule["message_zh"] and rule["message_en"] and rule["legal_basis"]


@pytest.mark.parametrize(("code", "rule", "kind", "example"), _cases())
def test_shipped_rule_example(code: str, rule: dict[str, Any], kind: str, example: dict[str, Any]) -> None:
    on = dt.date.fromisoformat(example["today"]) if example.get("today") else None
    result = compile_rules(f"{code}:{rule['id']}", [rule]).evaluate(example.get("form") or {},
                                                                    example.get("materials") or {}, on)[0]
    assert result.outcome == ("passed" if kind == "pass" else "failed"), result


@pytest.mark.parametrize("matter", CATALOGUE, ids=lambda m: m["code"])
def test_a_valid_form_passes_the_shipped_ruleset(matter: dict[str, Any]) -> None:
    materials = {m["code"]: {"kind": "upload", "material_id": "m"} for m in matter["materials"] if m["required"]}
    results = compile_rules(matter["code"], SHIPPED[matter["code"]]["rules"]).evaluate(valid_form(matter, 7), materials)
    assert verdict_of(results) == "passed", [r for r in results if r.outcome != "passed"]
    empty = compile_rules(matter["code"], SHIPPED[matter["code"]]["rules"]).evaluate({}, {})
    assert verdict_of(empty) == "returned"


def _rule(**kw: Any) -> dict[str, Any]:
    return {"id": "r", "targets": ["form.a"], "expr": "true", "message_zh": "错", "message_en": "wrong", **kw}


def test_invalid_expression_is_refused_with_the_parser_message() -> None:
    with pytest.raises(RuleCompileError) as err:
        compile_rules("bad", [_rule(expr="form.a ==")])
    assert "form.a ==" in str(err.value) and "line 1, column" in str(err.value) and err.value.rule_id == "r"
    with pytest.raises(RuleCompileError):
        compile_rules("bad", [_rule(when="(((")])


def test_when_false_is_not_applicable_and_failures_carry_the_message() -> None:
    rs = compile_rules("t", [_rule(when='has(form.kind) && form.kind == "x"', expr="has(form.a) && present(form.a)")])
    assert rs.evaluate({"kind": "y"}, {})[0].outcome == "not_applicable"
    failed = rs.evaluate({"kind": "x", "a": "  "}, {})[0]
    assert failed.outcome == "failed" and failed.message_zh == "错" and failed.message_en == "wrong"
    assert rs.evaluate({"kind": "x", "a": "v"}, {})[0].outcome == "passed"


def test_effective_period() -> None:
    rs = compile_rules("t", [_rule(expr="false", effective_from="2030-01-01", effective_to="2030-12-31")])
    assert rs.evaluate({}, {}, dt.date(2029, 12, 31))[0].outcome == "not_applicable"
    assert rs.evaluate({}, {}, dt.date(2030, 6, 1))[0].outcome == "failed"
    assert rs.evaluate({}, {}, dt.date(2031, 1, 1))[0].outcome == "not_applicable"


def test_custom_functions_and_verdicts() -> None:
    rs = compile_rules("t", [
        _rule(id="d", expr='days_between(form.s, form.e) == 9 && date(form.e) > date(form.s) && is_date(form.s)'),
        _rule(id="m", expr='material("plan") && !material("other")'),
        _rule(id="i", expr='is_uscc(form.u) && is_mobile(form.p) && is_shanghai_district(form.addr) && form.n >= 1.0'),
        _rule(id="w", expr="false", severity="warning"),
    ])
    form = {"s": "2030-01-01", "e": "2030-01-10", "u": "913101154283FEFC61", "p": "13912345678",
            "addr": "上海市浦东新区世纪大道100号", "n": 2}
    results = rs.evaluate(form, {"plan": {"kind": "upload"}})
    assert [r.outcome for r in results] == ["passed", "passed", "passed", "failed"]
    assert verdict_of(results) == "needs_human_review"
    errored = compile_rules("t2", [_rule(expr="form.missing > 1.0")]).evaluate({}, {})
    assert errored[0].outcome == "error" and verdict_of(errored) == "needs_human_review"
    assert verdict_of(compile_rules("t3", [_rule(expr="false")]).evaluate({}, {})) == "returned"


def test_generic_rules_cover_required_when_formats_ranges_and_materials() -> None:
    matter = next(m for m in CATALOGUE if m["code"] == "LR-XK-014")
    req = MatterRequirements.model_validate({**matter, "version": 3})
    rules = generic_rules(req)
    ids = {r["id"] for r in rules}
    assert {"required.applicant_uscc", "format.applicant_uscc", "required.end_date", "range.forest_area_m2"} <= ids
    assert all(e["ok"] for e in run_examples(rules))
    rs = compile_rules("generic", rules)
    form = valid_form(matter)
    form["use_type"] = next(o["value"] for o in matter["fields"][next(
        i for i, f in enumerate(matter["fields"]) if f["key"] == "use_type")]["options"] if o["value"] != "temporary")
    del form["end_date"]
    mats = {m["code"]: "x" for m in matter["materials"]}
    assert verdict_of(rs.evaluate(form, mats)) == "passed"  # end date only required for temporary use
    form["use_type"] = "temporary"
    failed = [r.rule_id for r in rs.evaluate(form, mats) if r.outcome == "failed"]
    assert failed == ["required.end_date"]


def test_a_value_of_the_wrong_type_fails_the_rule_that_checks_it() -> None:
    # CEL's equality across types is false, not an error: a number where an option is expected fails the
    # option rule with its message (the applicant is told what to fix), rather than needing a reviewer.
    rs = compile_rules("types", [_rule(id="o", when="has(form.kind)", expr='form.kind in ["a", "b"]'),
                                 _rule(id="q", expr='!has(form.kind) || form.kind != "a"')])
    assert [r.outcome for r in rs.evaluate({"kind": 1}, {})] == ["failed", "passed"]
    assert [r.outcome for r in rs.evaluate({"kind": "a"}, {})] == ["passed", "failed"]
    # Numbers are doubles however they were sent, so 1 and 1.0 are the same value.
    ints = compile_rules("ints", [_rule(expr="form.n == 1.0 && form.n == double(int(form.n))")])
    assert ints.evaluate({"n": 1}, {})[0].outcome == "passed"


def test_an_evaluation_error_names_the_problem_but_not_the_value() -> None:
    # Logged by the engine: a form value (possibly personal data) must not be in the message.
    [result] = compile_rules("err", [_rule(expr='date(form.birth) > date("2000-01-01")')]).evaluate(
        {"birth": "1949-12-3X 110105"}, {})
    assert result.outcome == "error" and "not a date" in (result.error or "")
    assert "110105" not in (result.error or "")


def test_size_counts_characters_not_bytes() -> None:
    # A staff rule such as "the shop name has at least 6 characters" must count 上海演示绿化商店 as 8.
    rs = compile_rules("size", [_rule(id="g", expr="size(form.s) == 8"), _rule(id="m", expr="form.s.size() == 8"),
                                _rule(id="l", expr='size(form.l) == 2 && size({"a": 1}) == 1 && size(b"ab") == 2'),
                                _rule(id="q", expr='"size(x)".size() == 7 && r"size(" != "" // size('),
                                _rule(id="n", expr="size(form.n) == 1")])
    results = rs.evaluate({"s": "上海演示绿化商店", "l": ["a", "b"], "n": 1}, {})
    assert [r.outcome for r in results] == ["passed", "passed", "passed", "passed", "error"]
    assert "size" in (results[-1].error or "")
