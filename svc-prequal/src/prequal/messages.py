"""svc-prequal's catalogue of user-facing texts (kit.i18n): errors in Chinese and English.

The messages of rule results (a finding telling the applicant what to fix) are not here: they are
data of the rules (``rulesets/*.json``, ``service/rules.py``) and of the comparison, stored and
published with both languages in every verdict.
"""
from __future__ import annotations

from kit.i18n import Text

RULE_SET = Text("规则集", "rule set")

NO_VERDICT = Text("没有该办件的预审结果", "No pre-review verdict for this application")
MATTER_UNKNOWN = Text("预审尚不知道事项 {matter}（事项目录中没有该事项，或其发布尚未送达）",
                      "The pre-review does not know matter {matter} (not in the catalogue, or its publication has "
                      "not arrived yet)")
LICENCE_REFERENCE_MALFORMED = Text("材料 {code} 的证照引用格式不正确：{error}",
                                   "Material {code}: not a licence reference: {error}")

RULE_SET_NOT_FOUND = Text("事项 {matter} 没有第 {version} 版规则集", "Matter {matter} has no rule set version {version}")
RULE_IDS_NOT_UNIQUE = Text("规则 id 不能重复", "Rule ids must be unique")
RULE_RECORD_INVALID = Text("规则记录不完整：{errors}", "Invalid rule record: {errors}")
RULE_CEL_INVALID = Text("规则 {rule_id} 的 {part} 不是有效的 CEL 表达式：{error}",
                        "Rule {rule_id}: invalid CEL in '{part}': {error}")
RULE_SET_EXAMPLES_FAIL = Text("规则集的示例未全部通过，不能发布",
                              "The rule set's own examples do not all pass: not published")
SHADOW_TAKEN = Text("事项 {matter} 的第 {version} 版已在影子运行，请先停止",
                    "Version {version} of {matter} is already in shadow: unshadow it first (one shadow per matter)")

MEASURES_PERIOD_REVERSED = Text("结束日期 {end} 早于开始日期 {start}", "`to` ({end}) is before `from` ({start})")
