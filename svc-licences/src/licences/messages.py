"""svc-licences' catalogue of user-facing texts (kit.i18n): errors, field errors and reminders."""
from __future__ import annotations

from kit.i18n import Text

LICENCE = Text("证照", "licence")

LICENCE_NOT_FOUND = Text("证照不存在", "No such licence")
LICENCE_NOT_FOUND_OR_NO_GRANT = Text("证照不存在或未获授权", "No such licence, or no grant to fetch it")
OWN_LICENCES_ONLY = Text("只能查看本人的证照", "You can list only your own licences")
STATUS_LIST_NOT_FOUND = Text("状态列表不存在", "No such status list")
VALIDITY_ENDED = Text("有效期届满", "validity ended")
EXPIRY_REMINDER = Text("您的{licence_type}（{licence_number}）将于{days}天后到期，请及时办理延续。",
                       "Your {licence_type} ({licence_number}) expires in {days} days: apply for its renewal in time.")

# Fetching another's licence (useCause)
USE_CAUSE_REQUIRED = Text("调取他人证照须说明事由", "Fetching another's licence requires a reason (useCause)")
USE_CAUSE_FIELD_REQUIRED = Text("请填写调证事由", "A reason (useCause) is required")
USE_CAUSE_TOO_LONG = Text("事由过长", "The reason is too long")
USE_CAUSE_FIELD_TOO_LONG = Text("不超过{limit}字", "At most {limit} characters")

# New versions
CHANGE_NEEDS_DATA = Text("变更须给出变更内容", "A change needs data_changes")
CHANGE_DATA_FIELD_REQUIRED = Text("请填写变更内容", "Required")
DATA_ONLY_FOR_CHANGE = Text("仅变更可修改证照内容", "Only a change alters the data")
DATA_FIELD_ONLY_FOR_CHANGE = Text("仅变更可填写", "Only for a change")
RENEWAL_NEEDS_LATER_END = Text("延续须给出晚于当前有效期的截止日期", "A renewal needs a later valid_until")
RENEWAL_END_FIELD_TOO_EARLY = Text("须晚于当前有效期截止日", "Must be after the current end")
END_ONLY_FOR_RENEWAL = Text("仅延续可修改有效期", "Only a renewal changes valid_until")
END_FIELD_ONLY_FOR_RENEWAL = Text("仅延续可填写", "Only for a renewal")

# 授权调证
PARENT_GRANT_NOT_FOUND = Text("上级授权不存在或已失效", "No such parent grant, or it is no longer in force")
GRANT_NOT_DELEGABLE = Text("该授权不允许转授权", "This grant may not be delegated")
DELEGATION_TOO_DEEP = Text("转授权不能再转授", "A delegated grant cannot be delegated again")
DELEGATION_FIELD_TOO_DEEP = Text("转授权只允许一级", "Only one level of delegation")
DELEGATION_EXCEEDS_PARENT = Text("转授权不能超出上级授权的期限或范围", "A delegation cannot exceed its parent")
DELEGATION_FIELD_EXCEEDS_PARENT = Text("不得晚于上级授权的截止时间，范围不得超出", "Within the parent's period and scope")
REVOKED_LICENCE_NOT_GRANTABLE = Text("已撤销的证照不能授权", "A revoked licence cannot be granted")
GRANT_NOT_FOUND = Text("授权不存在", "No such grant")
GRANT_REVOCATION_FORBIDDEN = Text("只有授权人或证照持有人可以撤销授权", "Only the grantor or the holder revokes a grant")

# 亮证, 亮数 and verification
VERIFIER_REQUIRED = Text("核验需要检查人员角色或 licences:verify 权限",
                         "Verifying needs an inspector or the licences:verify scope")
PRESENTATION_NOT_NOW = Text("状态为 {status} 的证照不能亮证", "A {status} licence cannot be shown")
PRESENTATION_OR_CREDENTIAL = Text("须给出 presentation、credential 或 sm2_document 之一",
                                  "Give either presentation, credential or sm2_document")
PRESENTATION_OR_CREDENTIAL_FIELD = Text("presentation、credential 与 sm2_document 须且仅须给出一个",
                                        "Exactly one of presentation, credential and sm2_document")
LIVE_DATA_WRONG_TYPE = Text("亮数仅适用于建筑垃圾处置证",
                            "Live data is shown for construction-waste disposal certificates only")
LIVE_DATA_NOT_NOW = Text("状态为 {status} 的证照不能亮数", "A {status} licence cannot be shown")
HANDLE_NOT_FOUND = Text("亮数码不存在", "No such handle")
HANDLE_REDEEMED = Text("亮数码已被使用", "The handle was already redeemed")
HANDLE_EXPIRED = Text("亮数码已过期", "The handle has expired")
HANDLE_LICENCE_NOT_ACTIVE = Text("证照状态为 {status}", "The licence is {status}")
DISPOSAL_NOT_ALLOWED = Text("仅有效的建筑垃圾处置证可登记处置量", "Only an active disposal certificate records loads")
DISPOSAL_OVER_QUOTA = Text("超出核准处置量", "The load exceeds the approved quota")

# 长三角: trust list, quarantine requirement documents, shipments
PARTNER_KEYS_INVALID = Text("合作方公钥无效", "The partner's keys are not valid")
JWKS_EMPTY = Text("jwks.keys 或 sm2_keys 须至少包含一个公钥", "jwks.keys or sm2_keys must list at least one key")
SM2_KEY_INVALID = Text("sm2_keys[{index}] 不是有效的 SM2 公钥", "sm2_keys[{index}] is not a valid SM2 public key")
JWKS_KEY_INVALID = Text("jwks.keys[{index}] 不是有效的 JWK", "jwks.keys[{index}] is not a valid JWK")
JWKS_KEY_NOT_PUBLIC = Text("jwks.keys[{index}] 须为带 kid 的公钥", "jwks.keys[{index}] must be a public key with a kid")
ISSUER_ALREADY_TRUSTED = Text("该签发方已在信任列表中", "The issuer is already on the trust list")
PARTNER_DOCUMENT_REFUSED = Text("该外省证照未获认可（{reason}）", "The partner document is not recognised ({reason})")
PARTNER_DOCUMENT_FIELD_REFUSED = Text("未通过核验：{reason}", "failed the check: {reason}")
PARTNER_DOCUMENT_NOT_FOUND = Text("未找到与该编号和持证人代码相符的证照",
                                  "No document of ours matches this number and holder code")
PARTNER_CLIENT_ONLY = Text("仅限长三角合作省份的系统调用", "Only a partner province's system (长三角) may call this")
PARTNER_ALREADY_SUBSCRIBED = Text("已订阅该证照的变更", "The changes of this document are already subscribed to")
PARTNER_SUBSCRIPTION_NOT_FOUND = Text("订阅不存在", "No such subscription")
FEED_CURSOR_INVALID = Text("游标无效", "Invalid cursor")
FEED_CURSOR_FIELD_INVALID = Text("请使用上次返回的 next_cursor", "use the next_cursor of an earlier answer")
TRUSTED_ISSUER_NOT_FOUND = Text("信任列表中无此签发方", "No such trusted issuer")
YEAR_OVER = Text("年度已过", "The year is over")
YEAR_FIELD_PAST = Text("须为当前或以后的年度", "This year or a later one")
SHIPMENT_WRONG_TYPE = Text("仅调运检疫要求书可登记调运批次",
                           "Shipments are recorded under quarantine requirement documents")
SHIPMENT_NOT_IN_FORCE = Text("调运日期不在要求书有效期内或要求书已失效", "The document is not in force on that date")
DESTINATION_NOT_COVERED = Text("目的地不在要求书范围内", "The destination is not covered")
DESTINATION_FIELD_NOT_COVERED = Text("目的地省份不在要求书范围内", "Not one of the document's destination provinces")

# 长三角 partner self-service (licences.service.partners)
PARTNER_REGISTRATION = Text("合作方登记", "partner registration")
PARTNER_REGISTRATION_NOT_FOUND = Text("合作方登记不存在", "No such partner registration")
PARTNER_REGISTRATION_PENDING = Text("该签发方已有待审核的登记", "The issuer already has a registration awaiting approval")
REGISTRANT_CANNOT_DECIDE = Text("登记人不能审核自己提交的登记（四眼原则）",
                                "The registrant cannot decide their own registration (four eyes)")
PARTNER_OTHER_PROVINCE = Text("合作方只能登记本省市的签发方", "A partner registers only its own province's issuer")
PARTNER_URI_INVALID = Text("地址无效", "The address is not valid")
PARTNER_URI_FIELD = Text("须为 https 地址（开发环境可用 http），不含用户信息和片段",
                         "An https URL (http in development), without user information or fragment")
PARTNER_KEYS_UNREACHABLE = Text("无法从合作方地址获取有效公钥：{reason}",
                                "Could not fetch valid keys from the partner's address: {reason}")
PARTNER_ISSUER_NOT_REGISTERED = Text("该签发方不是通过 jwks_uri 登记的", "The issuer was not registered with a jwks_uri")

# Why a partner's document is refused (licences.service.partners.REFUSALS)
PARTNER_DOCUMENT_REFUSED = Text("外省市证照不予认可：{reason}", "The partner's document is not accepted: {reason}")
REFUSED_MALFORMED = Text("文件格式错误", "the document is malformed")
REFUSED_UNKNOWN_ISSUER = Text("签发方不在信任列表中", "its issuer is not on the trust list")
REFUSED_ISSUER_NOT_TRUSTED_NOW = Text("签发方当前不在信任期内", "its issuer is not trusted at this time")
REFUSED_ISSUER_KEYS_STALE = Text("签发方公钥长时间未能更新", "its issuer's keys could not be refreshed for too long")
REFUSED_WRONG_ALGORITHM = Text("签名算法或类型不符", "wrong signature algorithm or type")
REFUSED_UNKNOWN_KEY = Text("签名密钥未知或已被签发方撤下", "signed with a key the issuer does not publish (any more)")
REFUSED_BAD_SIGNATURE = Text("签名无效", "the signature is not valid")
REFUSED_TYPE = Text("该类证照不在互认范围内", "this type of document is not recognised")
REFUSED_EXPIRED = Text("证照已过期", "the document has expired")
REFUSED_NOT_YET_VALID = Text("证照尚未生效", "the document is not valid yet")
REFUSED_REVOKED = Text("证照已被签发方撤销", "the issuer has revoked the document")
REFUSED_SUSPENDED = Text("证照已被签发方暂停", "the issuer has suspended the document")
REFUSED_STATUS_UNAVAILABLE = Text("无法获取签发方的状态列表", "the issuer's status list could not be obtained")
REFUSED_STATUS_INVALID = Text("签发方的状态列表无效", "the issuer's status list is not valid")
REFUSED_STATUS_NOT_ALLOWED = Text("状态列表地址不属于该签发方", "the status list address is not the issuer's")
REFUSED_OTHER = Text("证照无效", "the document is not valid")

# 一人（企）一码
CONSENT_REQUIRED = Text("请至少选择一项同意出示的内容", "Consent to show at least one of licences and applications")
CONSENT_FIELD_REQUIRED = Text("须包含 licences 或 applications", "licences and/or applications")
SCANNER_REQUIRED = Text("扫码查看需要检查人员或窗口人员角色", "Scanning a holder's code needs an inspector or window officer")
HOLDER_CODE_INVALID = Text("该码无效", "The code is not valid")
HOLDER_CODE_FIELD_INVALID = Text("不是本平台签发的一人（企）一码", "Not a holder's code signed by this platform")
HOLDER_CODE_EXPIRED = Text("该码已过期，请持码人刷新后重新出示", "The code has expired: ask the holder to show a fresh one")
HOLDER_CODE_SUPERSEDED = Text("持码人已生成新码，该码已失效", "The holder has generated a newer code: this one no longer works")

# 应归尽归: bulk import of earlier licences
IMPORT_UNSUPPORTED_TYPE = Text("仅支持 CSV（text/csv）或 JSON（application/json）文件",
                               "Send a CSV (text/csv) or JSON (application/json) file")
IMPORT_EMPTY = Text("文件没有任何数据行", "The file holds no line")
IMPORT_NOT_UTF8 = Text("文件须为 UTF-8 编码", "The file must be UTF-8")
IMPORT_BAD_JSON = Text("JSON 须为对象 {\"licences\": [...]}，每项为一个对象",
                       'The JSON must be an object {"licences": [...]} of objects')
IMPORT_BAD_CSV = Text("CSV 格式错误（第 {line} 行）", "Malformed CSV (line {line})")
IMPORT_MISSING_COLUMNS = Text("缺少必需的列：{columns}", "Required columns missing: {columns}")
IMPORT_COLUMN_MISSING = Text("缺少该列", "Column missing")
IMPORT_TOO_MANY_LINES = Text("单个文件最多 {limit} 行，请拆分后分批导入", "At most {limit} lines a file: split it")
IMPORT_NOT_FOUND = Text("导入记录不存在", "No such import")
IMPORT_FIELD_REQUIRED = Text("必填", "Required")
IMPORT_NOT_TEXT = Text("须为文本（不含空字符）", "Text (without NUL characters)")
IMPORT_FIELD_TOO_LONG = Text("不超过{limit}个字符", "At most {limit} characters")
IMPORT_UNKNOWN_MATTER = Text("不是本局的许可事项编码", "Not one of the bureau's licence matters")
IMPORT_BAD_CODE_TYPE = Text("须为 uscc 或 resident_id", "uscc or resident_id")
IMPORT_BAD_USCC = Text("统一社会信用代码无效", "Not a valid unified social credit code")
IMPORT_BAD_RESIDENT_ID = Text("身份证号码无效", "Not a valid resident ID number")
IMPORT_BAD_DATE = Text("日期格式须为 YYYY-MM-DD", "A date YYYY-MM-DD")
IMPORT_FUTURE_DATE = Text("发证日期不能晚于今天", "The issue date cannot be in the future")
IMPORT_END_BEFORE_START = Text("有效期截止日须晚于起始日", "Must be after valid_from")
IMPORT_START_BEFORE_ISSUE = Text("有效期起始日不能早于发证日期", "Cannot be before issued_on")
IMPORT_DUPLICATE_IN_FILE = Text("与第 {line} 行证照编号重复", "The same licence number as line {line}")
IMPORT_NUMBER_TAKEN = Text("该证照编号已被本平台签发的证照使用", "The number is that of a licence the platform issued")
IMPORT_BAD_DATA = Text("须为 JSON 对象", "A JSON object")
