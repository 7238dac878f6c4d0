"""svc-matters' catalogue of user-facing texts (kit.i18n): every error, field error and note it answers."""
from __future__ import annotations

from kit.i18n import Text

APPLICATION_NOUN = Text("办件", "application")
APPLICATION_NOT_FOUND = Text("办件不存在", "No such application")
APPLICATION_UNFIT = Text("申请内容不符合事项要求", "The application does not fit the matter")
MATTER_UNKNOWN = Text("事项不存在", "Unknown matter")
MATTER_NOT_FOUND = Text("事项 {code} 不存在", "No matter {code}")
MATTER_REPUBLISHED = Text("事项 {code} 刚刚发布了新版本，请按新版本重新提交",
                          "Matter {code} was just republished: submit again under its new version")
APPLICANT_FILTER_STAFF_ONLY = Text("仅工作人员可按申请人筛选", "Only staff filter by applicant")

FIELD_UNKNOWN = Text("该事项没有此填报项", "This matter has no such field")
FIELD_SHAPE = Text("{label}{problem}", "{label} {problem}")
MUST_BE_STRING = Text("应为文本", "must be a string")
MUST_BE_AT_MOST_CHARACTERS = Text("长度不能超过 {limit} 个字符", "must be at most {limit} characters")
MUST_BE_INTEGER = Text("应为整数", "must be an integer")
MUST_BE_NUMBER = Text("应为数字", "must be a number")
MUST_BE_BOOLEAN = Text("应为是/否", "must be true or false")
MUST_BE_DATE = Text("应为日期（YYYY-MM-DD）", "must be a date (YYYY-MM-DD)")
MUST_BE_ONE_OF = Text("应为以下之一：{options}", "must be one of: {options}")

EXTEND_NEEDS_DAYS = Text("延期须给出工作日数", "Extend requires working_days")
EXTEND_DAYS_FIELD = Text("请填写延长的工作日数", "working_days is required")
WORKING_DAYS_ONLY_FOR_EXTEND = Text("working_days 仅用于延期", "working_days is only for extend")
WORKING_DAYS_FIELD_UNEXPECTED = Text("仅延期操作可填写", "Only for extend")
FORM_ONLY_ON_RESUBMISSION = Text("仅提交或补正时可更改表单与材料",
                                 "Form and materials change only on submit or supplement")
FORM_FIELD_UNEXPECTED = Text("此操作不接受表单或材料", "This action takes no form or materials")
