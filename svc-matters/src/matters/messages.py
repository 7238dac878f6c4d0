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

MATERIAL_NOT_FOUND = Text("材料不存在", "No such material")
FILE_TOO_LARGE = Text("文件不能超过 {mb} MB（{bytes} 字节）", "The file exceeds {mb} MB ({bytes} bytes)")
FILE_EMPTY = Text("文件为空", "The file is empty")
FILE_TYPE_NOT_ACCEPTED = Text("不支持的文件类型", "File type not accepted")
FILE_TYPES_ACCEPTED = Text("仅接受：{types}", "Accepted: {types}")
FILE_CONTENT_MISMATCH = Text("文件内容与声明的类型不符", "The content does not match its declared type")
FILE_NOT_VALID = Text("文件内容不是有效的 {extension} 文件", "The content is not a valid {extension} file")

LAST_EVENT_ID_INVALID = Text("Last-Event-ID 应为时间线步骤编号", "Last-Event-ID must be a timeline step id")

STALL_NOT_FOUND = Text("堵点不存在", "No such stall")
STALL_ALREADY_RESOLVED_ACKNOWLEDGE = Text("堵点已解决，无需认领", "The stall is already resolved")
STALL_ALREADY_RESOLVED = Text("堵点已解决", "The stall is already resolved")
THRESHOLD_SET_BY_OPS = Text("运维配置", "set by ops")

BUNDLE_NOT_FOUND = Text("一件事不存在", "No such bundle")

AUTHORISATION_NOT_FOUND = Text("授权不存在", "No such authorisation")
AUTHORISATION_COMPANY_ONLY = Text("仅企业账号可以管理授权", "Only a company account grants and revokes authorisations")
AUTHORISATION_SELF = Text("企业账号无需授权给自己", "A company account cannot authorise itself")
AUTHORISATION_SELF_FIELD = Text("不能授权给本账号", "Cannot authorise the granting account")
AUTHORISATION_EXISTS = Text("该用户已获本企业授权", "This person is already authorised for the company")
AUTHORISATIONS_NOT_VISIBLE = Text("无权查看授权", "Not allowed to see authorisations")

MATTER_VERSION_NOT_FOUND = Text("事项 {code} 没有第 {version} 版", "Matter {code} has no version {version}")
MATTER_OF_ANOTHER_DEPARTMENT = Text("该事项不属于您所在部门", "The matter belongs to another department")
MATTER_UNAVAILABLE = Text("事项 {code} 暂不可办", "Matter {code} is unavailable")
PERIOD_REVERSED = Text("开始日期不能晚于结束日期", "from must not be after to")
PERIOD_REVERSED_FIELD = Text("开始日期晚于结束日期", "from is after to")
PERIOD_TOO_LONG = Text("统计期间不能超过 {days} 天", "The period may span at most {days} days")
PERIOD_TOO_LONG_FIELD = Text("期间最长 {days} 天", "At most {days} days")
