"""The kit's catalogue of user-facing texts (kit.i18n): what every service may answer alike."""
from __future__ import annotations

from kit.i18n import Text

REQUEST_INVALID = Text("请求内容未通过校验", "The request did not pass validation")
DATABASE_UNAVAILABLE = Text("数据库暂不可用", "The database is unavailable")
DATABASE_CONNECTION_LOST = Text("数据库连接中断", "The database connection was lost")
UNSTORABLE_INPUT = Text("输入包含无法保存的字符或数值（如 NUL 字符、超出范围的数字）",
                        "The input holds a character or number that cannot be stored (e.g. a NUL character, "
                        "a number out of range)")
DEPENDENCY_UNREACHABLE = Text("依赖服务不可达", "A dependency is unreachable")
BUS_UNAVAILABLE = Text("消息总线暂不可用", "The message bus is unavailable")
AUDIT_ANCHORS_UNAVAILABLE = Text("审计锚点库暂不可用", "The audit anchor database is unavailable")
CURSOR_INVALID = Text("分页游标无效", "Invalid pagination cursor")

IDEMPOTENCY_KEY_MALFORMED = Text("Idempotency-Key 须为 1–255 个可打印字符",
                                 "Idempotency-Key must be 1–255 printable characters")
IDEMPOTENCY_KEY_REUSED = Text("该 Idempotency-Key 已用于内容不同的请求", "The key was used with a different request")

DEAD_LETTER_NOT_FOUND = Text("没有这条死信：{service} 的 {sequence}", "No dead letter {sequence} of {service}")
DEAD_LETTER_NOT_REPLAYABLE = Text("这条消息不是可读的事件，只能丢弃",
                                  "The message is not a readable event: it cannot be replayed, only discarded")

ISSUER_KEYS_UNAVAILABLE = Text("无法获取签名公钥", "The issuer's keys are unavailable")
TOKEN_KEY_UNKNOWN = Text("令牌的签名密钥未知", "The token's signing key is unknown")
TOKEN_MALFORMED = Text("令牌格式错误", "Malformed token")
TOKEN_ALGORITHM_REFUSED = Text("令牌算法或密钥标识不被接受", "Token algorithm or kid not accepted")
TOKEN_EXPIRED = Text("令牌已过期", "The token has expired")
TOKEN_INVALID = Text("令牌无效（{reason}）", "Invalid token ({reason})")
TOKEN_WITHOUT_IDENTITY = Text("令牌缺少身份信息", "The token lacks identity claims")
BEARER_REQUIRED = Text("缺少 Bearer 令牌", "A bearer token is required")
ROLE_REQUIRED = Text("需要以下角色之一：{roles}", "Requires one of the roles: {roles}")
SCOPE_MISSING = Text("令牌缺少权限范围：{scopes}", "The token lacks the scope: {scopes}")

ACTION_UNKNOWN = Text("没有名为 {action} 的操作", "No action named {action}")
ACTION_NOT_NOW = Text("{noun}当前状态为 {status}，不能执行 {action}", "The {noun} is {status}: {action} is not possible now")
ACTION_ROLE_REQUIRED = Text("{action} 需要以下角色之一：{roles}", "{action} requires one of the roles: {roles}")
REASON_REQUIRED = Text("{action} 须说明理由", "{action} requires a reason")
REASON_FIELD_REQUIRED = Text("请填写理由", "A reason is required")

CALENDAR_PROVISIONAL = Text("{years} 年的工作日历尚未批准，办理时限按暂定日历计算",
                            "No approved working-day calendar for {years}: due dates are provisional until ops "
                            "approve the State Council's notice")

# Report periods (kit.kpi)
PERIOD_REVERSED = Text("开始日期不能晚于结束日期", "from must not be after to")
PERIOD_REVERSED_FIELD = Text("开始日期晚于结束日期", "from is after to")
PERIOD_TOO_LONG = Text("统计期间不能超过 {days} 天", "The period may span at most {days} days")
PERIOD_TOO_LONG_FIELD = Text("期间最长 {days} 天", "At most {days} days")
PERIOD_OUT_OF_RANGE = Text("统计期间须在 {first}–{last} 年之内", "The period must lie within the years {first}–{last}")
