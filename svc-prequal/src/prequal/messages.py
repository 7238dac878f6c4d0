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


# The measures' rates and what each divides (service/measures.py DEFINITIONS).
KPI_SUBMITTED_WHAT = Text("期间内首次提交的办件", "applications first submitted in the period")
KPI_PREREVIEW_COVERAGE = Text("智能预审比例", "Smart pre-review coverage")
KPI_PREREVIEWED_WHAT = Text("其中得到智能预审结论的办件", "of those, given an automatic pre-review verdict")
KPI_AUTOMATIC = Text("自动判定率", "Automatic decision rate")
KPI_DECIDED_WHAT = Text("其中预审结论为通过或退回（非转人工审查）的办件",
                        "of those, the verdict was passed or returned (not needs_human_review)")
KPI_FIRST_TIME = Text("首次申请受理成功率", "First-time acceptance rate")
KPI_FIRST_TIME_WHAT = Text("期间内受理、受理前从未被退回的办件", "accepted in the period, never returned before the acceptance")
KPI_ACCEPTANCE_DECIDED_WHAT = Text("期间内作出受理决定（受理或不予受理）的办件",
                                   "applications whose acceptance was decided in the period (accepted or refused)")
KPI_PREFILL = Text("智能预填比例", "Smart pre-fill ratio")
KPI_PREFILLED_WHAT = Text("期间内发出的预填中已预填的字段", "fields pre-filled, over the pre-fills handed out in the period")
KPI_FORM_FIELDS_WHAT = Text("这些预填对应表单的全部字段", "the fields of those forms")
KPI_KEPT = Text("预填保留率", "Pre-filled values kept")
KPI_KEPT_WHAT = Text("申请人随后提交时未修改的预填字段", "pre-filled fields the applicant's next submission kept unchanged")
KPI_PREFILLED_SUBMITTED_WHAT = Text("随后有提交的预填中已预填的字段", "pre-filled fields of the pre-fills followed by a submission")
KPI_WRONGLY_BLOCKED = Text("误退回率", "Wrongly blocked rate")
KPI_WRONGLY_BLOCKED_WHAT = Text("被预审退回后原样重新提交并获受理的办件",
                                "returned, resubmitted unchanged and then accepted")
KPI_RETURNED_WHAT = Text("期间内被智能预审退回的办件", "applications the pre-review returned in the period")
