"""The rule engine of the pre-review (审查规则指标化): rules are data, their logic is CEL.

A rule set is a list of rule records (see ``Rule``). Each rule's ``when`` (optional) and ``expr`` are
CEL expressions over ``form`` (the form fields; numbers are doubles, write ``1.0`` not ``1``),
``materials`` (material code → reference) and ``today`` (ISO date of the evaluation). Besides
CEL's own ``has(form.key)``, ``in``, ``size``, ``matches``… an expression may call:

``present(x)`` (not null, not blank), ``is_uscc(s)``, ``is_resident_id(s)``, ``is_mobile(s)``,
``is_shanghai_district(s)`` (a district, or an address starting with one), ``is_number(x)``,
``length(x)``, ``is_date(s)``, ``date(s)`` (days since year 1, comparable), ``days_between(a, b)``
(b − a in days), ``year(s)`` (the year of a date, a double: ``year(today) + 1.0``) and ``material(code)``
(that material is supplied).

Every rule is compiled once per rule-set content (cache); an invalid expression is refused with the
CEL parser's message.
"""
from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any, Literal

import cel
from pydantic import BaseModel, Field, TypeAdapter

from kit.calendar import local_date
from kit.contracts import MatterRequirements
from kit.identifiers import (
    district_of_address,
    is_shanghai_district,
    is_valid_mainland_mobile,
    is_valid_resident_id,
    is_valid_uscc,
)
from prequal import messages

Outcome = Literal["passed", "failed", "not_applicable", "error"]


class RuleExamples(BaseModel):
    passing: list[dict[str, Any]] = Field(default_factory=list, alias="pass")
    failing: list[dict[str, Any]] = Field(default_factory=list, alias="fail")

    model_config = {"populate_by_name": True, "serialize_by_alias": True}


class Rule(BaseModel):
    """One review rule. ``expr`` true = passes; ``when`` false = not applicable."""

    id: str = Field(min_length=1, max_length=120)
    # The rule_id its findings carry (e.g. "format-uscc" for every identifier check), so clients that
    # group findings by kind keep working; defaults to ``id``.
    finding_code: str | None = None
    targets: list[str] = Field(default_factory=list)
    when: str | None = None
    expr: str = Field(min_length=1)
    severity: Literal["blocking", "warning"] = "blocking"
    message_zh: str = Field(min_length=1)
    message_en: str = Field(min_length=1)
    legal_basis: str | None = None
    effective_from: dt.date | None = None
    effective_to: dt.date | None = None
    examples: RuleExamples = Field(default_factory=RuleExamples)


class RuleResult(BaseModel):
    rule_id: str
    finding_code: str | None = None
    targets: list[str]
    outcome: Outcome
    severity: Literal["blocking", "warning"]
    message_zh: str | None = None
    message_en: str | None = None
    error: str | None = None


def dumped(result: RuleResult) -> dict[str, Any]:
    """``result.model_dump()`` without pydantic's serializer: every field is a plain value, and a
    pre-review dumps a result per rule of every submission (4–5% of svc-prequal's CPU)."""
    return {**result.__dict__, "targets": list(result.targets)}


class RuleCompileError(ValueError):
    """A rule whose CEL does not compile; ``text`` says so with the rule id and the parser's message."""

    def __init__(self, rule_id: str, part: str, message: str) -> None:
        self.text = messages.RULE_CEL_INVALID.format(rule_id=rule_id, part=part, error=message)
        super().__init__(str(self.text))
        self.rule_id, self.part, self.message = rule_id, part, message


# ---- custom functions -------------------------------------------------------------------------------
# They receive and return plain Python values: the engine converts CEL null, bool, int, double,
# string, list and map to None, bool, int, float, str, list and dict and back.

def _s(x: Any) -> str | None:
    return x if isinstance(x, str) else None


def _present(x: Any) -> bool:
    if x is None:
        return False
    if isinstance(x, str):
        return bool(x.strip())
    if isinstance(x, list | dict):
        return len(x) > 0
    return True


def _district(x: Any) -> bool:
    s = _s(x)
    if not s:
        return False
    return is_shanghai_district(s.strip()) or bool(district_of_address(s))


def _to_date(x: Any) -> dt.date:
    if isinstance(x, str):
        try:
            return dt.date.fromisoformat(x[:10])
        except ValueError:
            pass
    # Without the value: the engine logs this message, and the value may be personal data.
    raise ValueError("not a date (YYYY-MM-DD)")


def _is_date(x: Any) -> bool:
    try:
        _to_date(x)
        return True
    except ValueError:
        return False


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "present": _present,
    "is_uscc": lambda x: bool(_s(x)) and is_valid_uscc(x.strip().upper()),
    "is_resident_id": lambda x: bool(_s(x)) and is_valid_resident_id(x.strip()),
    "is_mobile": lambda x: bool(_s(x)) and is_valid_mainland_mobile(x),
    "is_shanghai_district": _district,
    "is_number": lambda x: isinstance(x, int | float) and not isinstance(x, bool),
    "length": lambda x: len(str(x)),
    "is_date": _is_date,
    "date": lambda x: _to_date(x).toordinal(),
    "year": lambda x: float(_to_date(x).year),
    "days_between": lambda a, b: (_to_date(b) - _to_date(a)).days,
    "size_in_code_points": lambda x: _size(x),  # CEL's own size(), see ``_SIZE_CALLS``
    # "material" is bound to each evaluation's materials (``_material_of``).
}


def _material_of(materials: dict[str, Any]) -> Callable[[Any], bool]:
    def material(code: Any) -> bool:
        value = materials.get(str(code))
        return value is not None and value != "" and value != {}
    return material


# The parser's position, "<input>:LINE:COLUMN: ..." in its message.
_POSITION = re.compile(r"<input>:(\d+):(\d+)")


def _compile(rule_id: str, part: str, source: str) -> cel.Program:
    try:
        program = cel.compile(source)
    except ValueError as exc:
        found = _POSITION.search(str(exc))
        where = f"line {found[1]}, column {found[2]}" if found else "line ?, column ?"
        raise RuleCompileError(rule_id, part, f"syntax error at {where}:\n{exc}") from exc
    if "size" in program.functions():
        program = cel.compile(_counting_code_points(source))
    return program


# cel-rust 0.10 gives a string's size() in UTF-8 bytes, where CEL counts code points (a Chinese
# character is one): calls of size, global or as a method, are renamed to ours, outside literals
# (strings and bytes, raw or not, in any of CEL's quotes) and comments.
_SIZE = "size_in_code_points"
_SIZE_CALLS = re.compile(r'''
    (?P<literal>
        (?:[rR][bB]?|[bB][rR]) (?: """[\s\S]*?""" | \'\'\'[\s\S]*?\'\'\' | "[^"\n]*" | '[^'\n]*' )
      | [bB]? (?: """(?:\\[\s\S]|[^\\])*?""" | \'\'\'(?:\\[\s\S]|[^\\])*?\'\'\' | "(?:\\.|[^"\\\n])*" | '(?:\\.|[^'\\\n])*' )
    )
    | (?P<comment>//[^\n]*)
    | (?P<size>\bsize(?=\s*\())''', re.VERBOSE)


def _counting_code_points(source: str) -> str:
    return _SIZE_CALLS.sub(lambda m: _SIZE if m["size"] else m[0], source)


def _size(x: Any) -> int:
    if isinstance(x, str | bytes | list | dict):
        return len(x)
    raise TypeError(f"no such overload: size({type(x).__name__})")


@dataclass(frozen=True)
class CompiledRule:
    rule: Rule
    when: cel.Program | None
    expr: cel.Program


class CompiledRuleSet:
    def __init__(self, name: str, rules: list[Rule]) -> None:
        self.name = name
        self.rules = rules
        self.compiled = [CompiledRule(r, _compile(r.id, "when", r.when) if r.when else None, _compile(r.id, "expr", r.expr))
                         for r in rules]
        # What the set's expressions refer to: only those variables are converted to CEL values and only
        # those functions registered for an evaluation. Converting every variable (the materials, which no
        # shipped rule reads but through ``material()``) was most of an evaluation's time.
        programs = [p for c in self.compiled for p in (c.when, c.expr) if p is not None]
        self.variables = frozenset(v for p in programs for v in p.variables())
        called = frozenset(f for p in programs for f in p.functions())
        self.functions = {name: f for name, f in FUNCTIONS.items() if name in called}
        self.calls_material = "material" in called

    def evaluate(self, form: dict[str, Any], materials: dict[str, Any], on: dt.date | None = None) -> list[RuleResult]:
        on = on or local_date()  # Shanghai's date, not the server's
        materials = _plain(materials)
        given = {"form": lambda: _plain(form), "materials": lambda: materials, "today": on.isoformat}
        # One context for every rule of the set: the inputs are converted to CEL values once.
        context = cel.Context({name: value() for name, value in given.items() if name in self.variables},
                              {**self.functions, "material": _material_of(materials)} if self.calls_material
                              else self.functions)
        return _RESULTS.validate_python([_evaluate_one(c, context, on) for c in self.compiled])


def _plain(value: dict[str, Any]) -> dict[str, Any]:
    """JSON-like values with every number a double, as the rules are written (``1.0``, not ``1``)."""
    def norm(v: Any) -> Any:
        if isinstance(v, bool) or v is None or isinstance(v, str):
            return v
        if isinstance(v, int | float):
            return float(v)
        if isinstance(v, dict):
            return {str(k): norm(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [norm(x) for x in v]
        if isinstance(v, BaseModel):
            return norm(v.model_dump(mode="json"))
        return str(v)
    return norm(value)


def _truth(program: cel.Program, context: cel.Context) -> bool:
    value = program.execute(context)
    if not isinstance(value, bool):
        raise TypeError(f"the expression gave {type(value).__name__}, not a bool")
    return value


# A set's results are validated as one list of plain values: pydantic does that in one call several times
# faster than it makes a model per rule (``model_construct``, in Python, is the slowest way of all).
_RESULTS = TypeAdapter(list[RuleResult])
_result = dict


def _evaluate_one(c: CompiledRule, context: cel.Context, on: dt.date) -> dict[str, Any]:
    r = c.rule
    base: dict[str, Any] = {"rule_id": r.id, "finding_code": r.finding_code, "targets": r.targets,
                            "severity": r.severity}
    if (r.effective_from and on < r.effective_from) or (r.effective_to and on > r.effective_to):
        return _result(outcome="not_applicable", **base)
    try:
        if c.when is not None and not _truth(c.when, context):
            return _result(outcome="not_applicable", **base)
        if _truth(c.expr, context):
            return _result(outcome="passed", **base)
    except Exception as exc:  # any evaluation error makes the rule "error" (human review)
        return _result(outcome="error", error=str(exc)[:500], message_zh="该规则无法自动判断，需人工审核",
                          message_en="this rule could not be evaluated automatically; a reviewer will check it", **base)
    return _result(outcome="failed", message_zh=r.message_zh, message_en=r.message_en, **base)


def verdict_of(results: Iterable[RuleResult]) -> str:
    results = list(results)
    if any(x.outcome == "failed" and x.severity == "blocking" for x in results):
        return "returned"
    if any(x.outcome == "error" or (x.outcome == "failed" and x.severity == "warning") for x in results):
        return "needs_human_review"
    return "passed"


def _digest(rules: list[dict[str, Any]]) -> str:
    return hashlib.sha256(json.dumps(rules, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()


_CACHE: dict[tuple[str, str], CompiledRuleSet] = {}
# name → (a copy of the rules, compiled) last asked for: equal rules (read again for every batch of
# submissions) are found without hashing their JSON.
_LAST: dict[str, tuple[list[dict[str, Any]], CompiledRuleSet]] = {}


def compile_rules(name: str, rules: list[dict[str, Any]]) -> CompiledRuleSet:
    """Validate and compile a rule set (cached by its name and content). Raises ``RuleCompileError`` /
    ``pydantic.ValidationError``."""
    last = _LAST.get(name)
    if last is not None and last[0] == rules:
        return last[1]
    key = (name, _digest(rules))
    if key not in _CACHE:
        if len(_CACHE) > 512:
            _CACHE.clear()
            _LAST.clear()
        _CACHE[key] = CompiledRuleSet(name, [Rule.model_validate(r) for r in rules])
    _LAST[name] = (copy.deepcopy(rules), _CACHE[key])
    return _CACHE[key]


def run_examples(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each rule against its own examples: one entry per example with the expected and actual outcome."""
    out = []
    for raw in rules:
        rule = Rule.model_validate(raw)
        compiled = compile_rules(f"example:{rule.id}", [raw])
        for expected, examples in (("passed", rule.examples.passing), ("failed", rule.examples.failing)):
            for i, ex in enumerate(examples):
                on = dt.date.fromisoformat(ex["today"]) if ex.get("today") else None
                got = compiled.evaluate(ex.get("form") or {}, ex.get("materials") or {}, on)[0]
                out.append({"rule_id": rule.id, "example": f"{'pass' if expected == 'passed' else 'fail'}[{i}]",
                            "expected": expected, "actual": got.outcome, "ok": got.outcome == expected,
                            "error": got.error})
    return out


# ---- shipped rule sets and generic rules ------------------------------------------------------------

# The versions shipped: 1 (generated checks, ``prequal/rulesets/<code>.json``, seeded by migration 0002) and
# 2 (version 1 with the substantive rules, ``prequal/rulesets/v2/<code>.json``, published by migration 0013).
SHIPPED_VERSIONS = (1, 2)
LATEST_SHIPPED = SHIPPED_VERSIONS[-1]


def shipped_rulesets(version: int = 1) -> dict[str, dict[str, Any]]:
    """matter code → the rule-set document of that shipped version (``prequal/rulesets/[v<n>/]<code>.json``)."""
    out = {}
    folder = resources.files("prequal").joinpath("rulesets")
    if version != 1:
        folder = folder.joinpath(f"v{version}")
    for entry in folder.iterdir():
        if entry.name.endswith(".json"):
            doc = json.loads(entry.read_text(encoding="utf-8"))
            out[doc["matter_code"]] = doc
    return out


@lru_cache(maxsize=1)
def _sample_values() -> dict[str, Any]:
    return {"uscc": "913101154283FEFC61", "resident_id": "11010519491231002X", "mobile": "13912345678",
            "district": "浦东新区", "address": "上海市浦东新区世纪大道100号", "date": "2030-01-01",
            "boolean": True, "string": "测试内容", "text": "测试内容"}


def _sample(spec: Any) -> Any:
    if spec.type == "enum" and spec.options:
        return spec.options[0].value
    if spec.type in ("integer", "decimal"):
        return spec.min if spec.min is not None else 1
    return _sample_values().get(spec.type, "测试内容")


def _num(v: float) -> str:
    return repr(float(v))


def _fmt(v: float) -> str:
    return f"{v:f}".rstrip("0").rstrip(".")


FINDING_CODES = {"required": "required-field", "material": "required-material", "range": "range",
                 "option": "option", "integer": "integer", "length": "max-length"}


# Field type → the generic check of its format: (rule kind, CEL function, zh, en, a failing example).
_TYPE_CHECKS: dict[str, tuple[str, str, str, str, str]] = {
    "uscc": ("format", "is_uscc", "{label}不是有效的统一社会信用代码，请核对后重新填写",
             "{label} is not a valid unified social credit code", "913101154283FEFC62"),
    "resident_id": ("format", "is_resident_id", "{label}不是有效的居民身份证号码，请核对后重新填写",
                    "{label} is not a valid resident ID number", "110105194912310021"),
    "mobile": ("format", "is_mobile", "{label}不是有效的手机号码", "{label} is not a valid mobile number", "1234567"),
    "district": ("district", "is_shanghai_district", "{label}应为上海市的区，例如“浦东新区”",
                 "{label} must be a district of Shanghai", "苏州市姑苏区"),
    "date": ("format", "is_date", "{label}应为有效日期（格式 YYYY-MM-DD）", "{label} must be a valid date (YYYY-MM-DD)",
             "2030-13-45"),
}


def generic_rules(requirements: MatterRequirements, legal_basis: str | None = None) -> list[dict[str, Any]]:
    """Rules generated from a matter's requirements: required (respecting ``required_when``), formats,
    options, lengths and ranges of fields, and required materials — each with examples."""
    rules: list[dict[str, Any]] = []
    types = {f.key: f.type for f in requirements.fields}

    def add(rule_id: str, target: str, expr: str, zh: str, en: str, passing: list[dict[str, Any]],
            failing: list[dict[str, Any]], when: str | None = None) -> None:
        code = FINDING_CODES.get(rule_id.split(".")[0])
        if rule_id.startswith("format.") or rule_id.startswith("district."):
            code = {"uscc": "format-uscc", "resident_id": "format-resident-id", "mobile": "format-mobile",
                    "district": "format-district", "date": "format-date"}.get(types[target[5:]], code)
        rules.append({"id": rule_id, "finding_code": code, "targets": [target], "when": when, "expr": expr,
                      "severity": "blocking",
                      "message_zh": zh, "message_en": en, "legal_basis": legal_basis,
                      "effective_from": None, "effective_to": None,
                      "examples": {"pass": passing, "fail": failing}})

    for spec in requirements.fields:
        k, label, label_en = spec.key, spec.label, spec.label_en or spec.key
        target, sample = f"form.{k}", _sample(spec)
        has = f"has(form.{k}) && present(form.{k})"
        if spec.required or spec.required_when:
            when, cond = None, {}
            if not spec.required and spec.required_when:
                cond = dict(spec.required_when)
                when = " && ".join(f"has(form.{ck}) && form.{ck} == {json.dumps(cv, ensure_ascii=False)}"
                                   for ck, cv in cond.items())
            add(f"required.{k}", target, has, f"请填写“{label}”", f"please fill in {label_en}",
                [{"form": {**cond, k: sample}}], [{"form": dict(cond)}, {"form": {**cond, k: " "}}], when)
        checks: list[tuple[str, str, str, str, Any]] = []
        if spec.type in _TYPE_CHECKS:
            kind, function, zh, en, bad = _TYPE_CHECKS[spec.type]
            checks.append((kind, f"{function}(form.{k})", zh.format(label=label), en.format(label=label_en), bad))
        elif spec.type == "enum" and spec.options:
            values = [o.value for o in spec.options]
            names = "、".join(o.label for o in spec.options)
            checks.append(("option", f"form.{k} in {json.dumps(values, ensure_ascii=False)}",
                           f"{label}应为以下之一：{names}", f"{label_en} must be one of: {', '.join(values)}",
                           "__other__"))
        if spec.type in ("integer", "decimal"):
            lo, hi = spec.min, spec.max
            parts = [f"is_number(form.{k})"]
            if lo is not None:
                parts.append(f"form.{k} >= {_num(lo)}")
            if hi is not None:
                parts.append(f"form.{k} <= {_num(hi)}")
            if lo is not None and hi is not None:
                checks.append(("range", " && ".join(parts), f"{label}应在 {_fmt(lo)} 至 {_fmt(hi)} 之间",
                               f"{label_en} must be between {_fmt(lo)} and {_fmt(hi)}", lo - 1))
            elif lo is not None:
                checks.append(("range", " && ".join(parts), f"{label}应不小于 {_fmt(lo)}",
                               f"{label_en} must be at least {_fmt(lo)}", lo - 1))
            elif hi is not None:
                checks.append(("range", " && ".join(parts), f"{label}应不大于 {_fmt(hi)}",
                               f"{label_en} must be at most {_fmt(hi)}", hi + 1))
            if spec.type == "integer":
                checks.append(("integer", f"is_number(form.{k}) && form.{k} == double(int(form.{k}))",
                               f"{label}应为整数", f"{label_en} must be a whole number", (lo or 0) + 0.5))
        if spec.max_length and spec.type in ("string", "text", "address"):
            checks.append(("length", f"length(form.{k}) <= {spec.max_length}",
                           f"{label}不能超过 {spec.max_length} 个字", f"{label_en} must be at most {spec.max_length} characters",
                           "长" * (spec.max_length + 1)))
        for kind, expr, zh, en, bad in checks:
            add(f"{kind}.{k}", target, expr, zh, en, [{"form": {k: sample}}], [{"form": {k: bad}}], has)
    for m in requirements.materials:
        if m.required:
            add(f"material.{m.code}", f"materials.{m.code}", f'material("{m.code}")', f"请上传“{m.name}”",
                f"please upload {m.name_en or m.code}", [{"materials": {m.code: {"kind": "upload", "material_id": "m1"}}}],
                [{"materials": {}}])
    return rules
