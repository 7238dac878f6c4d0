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


STALL_NOT_FOUND = Text("堵点不存在", "No such stall")
STALL_ALREADY_RESOLVED_ACKNOWLEDGE = Text("堵点已解决，无需认领", "The stall is already resolved")
STALL_ALREADY_RESOLVED = Text("堵点已解决", "The stall is already resolved")
THRESHOLD_SET_BY_OPS = Text("运维配置", "set by ops")

BUNDLE_NOT_FOUND = Text("一件事不存在", "No such bundle")
BUNDLE_MATTER_UNAVAILABLE = Text("一件事 {bundle} 的事项 {code} 暂不可办", "matter {code} of bundle {bundle} is unavailable")
BUNDLE_TYPE_UNKNOWN = Text("没有这种一件事", "unknown bundle type")
BUNDLE_TYPE_UNKNOWN_FIELD = Text("一件事类型 {bundle_type} 不存在，可选：{known}", "no bundle type {bundle_type}; known: {known}")
BUNDLE_PARTS_MISMATCH = Text("一件事的事项不完整或有多余", "the parts do not match the bundle type")
BUNDLE_PART_MISSING = Text("缺少事项 {code} 的申请内容", "the bundle needs a part for {code}")
BUNDLE_PART_UNKNOWN = Text("该一件事不包含事项 {code}", "{code} is not part of this bundle")
BUNDLE_SHARED_FIELD_UNKNOWN = Text("该一件事的事项均无此填报项", "no matter of this bundle has this field")
BUNDLE_SHARED_MATERIAL_UNKNOWN = Text("该一件事的事项均不需要此材料", "no matter of this bundle needs this material")
BUNDLE_FIELD_FIXED = Text("本一件事中该项须为 {value}", "this bundle fixes this field to {value}")
BUNDLE_UNFIT = Text("一件事申请内容不符合事项要求，均未提交", "the bundle does not fit its matters: nothing was filed")

# Stored once with the record and shown as stored (Text.both): the reader's language is not known.
LICENCE_EXEMPTION_NOTE = Text("申请人持有的证照可替代该材料", "a licence the applicant holds stands in for it")
EARLIER_EXEMPTION_NOTE = Text("同一申请人此前办件已提交该材料", "submitted with an earlier application of the same applicant")
BENEFIT_GRANTED_NOTE = Text("免申即享：符合条件，无需申请即予备案", "granted without application")
DUE_DATE_RECOMPUTED_NOTE = Text("法定日历 {year} 已批准，办理时限重新计算为 {due}",
                                "the statutory calendar of {year} was approved; the due date is recomputed as {due}")
DUE_DATE_RECOMPUTED_PROVISIONAL_NOTE = Text(
    "法定日历 {year} 已批准，办理时限重新计算为 {due}（仍含暂定年份）",
    "the statutory calendar of {year} was approved; the due date is recomputed as {due} (still counting on a provisional year)")

BUSINESS_LINE_MALFORMED = Text("格式不符合要求：{problem}", "{problem}")
BUSINESS_USCC_INVALID = Text("统一社会信用代码无效（格式或校验位错误）",
                             "not a valid unified social credit code (format or check character)")
BUSINESS_LINE_REPEATED = Text("与第 {line} 行重复", "repeats line {line}")

AUTHORISATION_NOT_FOUND = Text("授权不存在", "No such authorisation")
AUTHORISATION_COMPANY_ONLY = Text("仅企业账号可以管理授权", "Only a company account grants and revokes authorisations")
AUTHORISATION_SELF = Text("企业账号无需授权给自己", "A company account cannot authorise itself")
AUTHORISATION_SELF_FIELD = Text("不能授权给本账号", "Cannot authorise the granting account")
AUTHORISATION_EXISTS = Text("该用户已获本企业授权", "This person is already authorised for the company")
AUTHORISATIONS_NOT_VISIBLE = Text("无权查看授权", "Not allowed to see authorisations")

MATTER_VERSION_NOT_FOUND = Text("事项 {code} 没有第 {version} 版", "Matter {code} has no version {version}")
MATTER_OF_ANOTHER_DEPARTMENT = Text("该事项不属于您所在部门", "The matter belongs to another department")
MATTER_UNAVAILABLE = Text("事项 {code} 暂不可办", "Matter {code} is unavailable")

# Importing matters: rules across the fields of a well-typed entry.
IMPORT_PROMISED_EXCEEDS_STATUTORY = Text("承诺时限（{promised}）不能超过法定时限（{statutory}）",
                                         "the promised time limit ({promised}) cannot exceed the statutory one ({statutory})")
IMPORT_CHANNEL_REPEATED = Text("办理渠道重复", "duplicate channel")
IMPORT_FIELD_KEY_REPEATED = Text("表单字段 {key} 重复", "duplicate field key {key}")
IMPORT_OPTIONS_REQUIRED = Text("枚举字段须列出可选项", "an enum field needs its options")
IMPORT_OPTIONS_NOT_ALLOWED = Text("只有枚举字段可以有可选项", "only enum fields have options")
IMPORT_OPTION_REPEATED = Text("可选项取值重复", "duplicate option value")
IMPORT_RANGE_NOT_ALLOWED = Text("只有数值字段可以设置取值范围", "only integer and decimal fields have a range")
IMPORT_MIN_EXCEEDS_MAX = Text("最小值不能大于最大值", "min cannot exceed max")
IMPORT_MAX_LENGTH_NOT_ALLOWED = Text("只有文本字段可以设置长度上限", "only text fields have a max_length")
IMPORT_CONDITION_FIELD_UNKNOWN = Text("条件引用的字段 {other} 不存在", "the condition names no other field {other}")
IMPORT_CONDITION_OPTION_INVALID = Text("{value} 不是字段 {other} 的可选项", "{value} is not an option of {other}")
IMPORT_MATERIAL_CODE_REPEATED = Text("材料编码 {code} 重复", "duplicate material code {code}")
IMPORT_FILE_TYPE_REPEATED = Text("文件格式重复", "duplicate file type")
IMPORT_CODE_REPEATED_IN_REQUEST = Text("同一请求中第 {index} 项已是事项 {code}", "entry {index} of this request already is {code}")

# Who holds an application (claim, assign, release).
ASSIGNEE_ONLY_FOR_ASSIGN = Text("assignee 仅用于指派", "assignee is only for assign")
ASSIGNEE_FIELD_UNEXPECTED = Text("仅指派操作可填写", "Only for assign")
ASSIGN_NEEDS_ASSIGNEE = Text("指派须给出承办人", "Assign requires an assignee")
ASSIGNEE_FIELD_REQUIRED = Text("请选择承办人", "Choose the colleague to assign to")
NOT_A_HANDLER = Text("承办人须为本部门的窗口受理或审查人员", "The assignee must be a window officer or reviewer of the department")
NOT_A_HANDLER_FIELD = Text("不是本部门的受理或审查人员", "Not a window officer or reviewer of this department")
ALREADY_YOURS = Text("该办件已由您承办", "You hold this application already")
HELD_BY_COLLEAGUE = Text("该办件已由 {assignee} 承办，请由其释放或改派", "{assignee} holds this application: they release it, or it is reassigned")
ALREADY_ASSIGNED_TO = Text("该办件已由 {assignee} 承办", "{assignee} holds this application already")
NOT_HELD_BY_YOU = Text("只有承办人可以释放办件", "Only who holds the application releases it")
HANDLER_ROLE_REQUIRED = Text("仅窗口受理人员和审查人员承办办件", "Only window officers and reviewers handle applications")
ASSIGNEE_FILTER_STAFF_ONLY = Text("仅工作人员可按承办人筛选", "Only staff filter by assignee")

# The cockpit's figures and what each counts (service/cockpit.py DEFINITIONS).
KPI_RECEIVED = Text("收件数", "Received")
KPI_RECEIVED_WHAT = Text("期间内提交的办件（未提交的草稿不计）",
                         "applications filed in the period and submitted (drafts never submitted are not counted)")
KPI_ACCEPTED = Text("受理数", "Accepted")
KPI_ACCEPTED_WHAT = Text("其中已受理的办件（无论补正几次）", "of those, accepted (after any number of corrections)")
KPI_REFUSED = Text("不予受理数", "Refused")
KPI_REFUSED_WHAT = Text("其中不予受理的办件", "of those, refused")
KPI_ACCEPTANCE_DECIDED = Text("受理已决数", "Acceptance decided")
KPI_ACCEPTANCE_DECIDED_WHAT = Text("其中已作出受理决定的办件（受理或不予受理）",
                                   "of those, the applications whose acceptance was decided (accepted or refused)")
KPI_ACCEPTED_FIRST_TIME = Text("首次申请受理数", "Accepted on the first submission")
KPI_ACCEPTED_FIRST_TIME_WHAT = Text("其中首次提交即被受理、受理前未经补正的办件",
                                    "of those, accepted on their first submission, with no correction (补正) before")
KPI_FIRST_TIME_ACCEPTANCE = Text("首次申请受理成功率", "First-time acceptance rate")
KPI_PREREVIEWED = Text("预审数", "Pre-reviewed")
KPI_PREREVIEWED_WHAT = Text("其中经智能预审得出结论（通过或退回）的办件",
                            "of those, pre-reviewed by the smart pre-review (passed or returned)")
KPI_PREREVIEW_COVERAGE = Text("智能预审比例", "Smart pre-review coverage")
KPI_EXEMPTED_MATERIALS = Text("免提交材料数", "Materials exempted")
KPI_EXEMPTED_MATERIALS_WHAT = Text("因证照或此前办件可替代而免于提交的材料份数",
                                   "materials not submitted because a licence or an earlier application stood in")
KPI_WITH_EXEMPTIONS = Text("免提交办件数", "Applications with exemptions")
KPI_WITH_EXEMPTIONS_WHAT = Text("至少一份材料免于提交的办件", "applications with at least one material exempted")
KPI_DECIDED = Text("已决定数", "Decided")
KPI_DECIDED_WHAT = Text("其中已作出准予或不予许可决定、且有法定时限的办件",
                        "of those, approved or denied, with a statutory clock")
KPI_DECIDED_ANY_WHAT = Text("其中已作出准予或不予许可决定的办件", "of those, approved or denied")
KPI_DECIDED_ON_TIME = Text("按时办结数", "Decided on time")
KPI_DECIDED_ON_TIME_WHAT = Text("其中在承诺（法定）时限届满之日或之前作出决定的办件",
                                "of those with a clock, decided on or before the due date (Asia/Shanghai)")
KPI_ON_TIME = Text("承诺时限内办结率", "On-time completion rate")
KPI_BACKLOG = Text("当前积压", "Backlog now")
KPI_BACKLOG_WHAT = Text("当前已提交、尚未办结或终止的办件（不限期间）",
                        "open applications now: submitted and not yet ended, filed at any time")
KPI_OVERDUE = Text("当前超期", "Overdue now")
KPI_OVERDUE_WHAT = Text("当前运行中、未暂停且已过法定期限的办件（不限期间）",
                        "running, unpaused statutory clocks past their due date now, filed at any time")
KPI_PROVISIONAL = Text("暂定时限办件数", "Provisional due dates")
KPI_PROVISIONAL_WHAT = Text("法定期限落在运维尚未批准的日历年度、批准后将重算的办件",
                            "running clocks whose due date counts on a calendar year not yet approved")

# Help videos (帮办微视频)
VIDEO_TYPE_NOT_ACCEPTED = Text("帮办视频须为 MP4 或 WebM 文件", "A help video must be an MP4 or WebM file")
VIDEO_TOO_LARGE = Text("上传的视频不能超过 {mb} MB，更长的视频请提供链接",
                       "An uploaded video may be at most {mb} MB; link a longer one instead")
HELP_VIDEO_NOT_FOUND = Text("帮办视频不存在", "No such help video")
