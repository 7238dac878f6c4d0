"""svc-knowledge's catalogue of user-facing texts (kit.i18n): errors and import reports, in Chinese and English.

The assistant's answers and clarifying questions are content, not catalogue entries."""
from __future__ import annotations

from kit.i18n import Text

ENTRY = Text("知识条目", "entry")

# Input checks (schemas.py)
TEXT_HAS_NUL = Text("文本不能包含 NUL 字符", "Text must not contain NUL characters")
BLANK = Text("不能为空", "Must not be blank")
EFFECTIVE_PERIOD_REVERSED = Text("有效期结束早于开始", "effective_to is before effective_from")
QUESTION_BLANK = Text("问题不能为空", "The question must not be blank")

# Entries
ENTRY_NOT_FOUND = Text("知识条目 {entry_id} 不存在", "Entry {entry_id} not found")
ENTRY_EXISTS = Text("知识条目 {entry_id} 已存在", "Entry {entry_id} already exists")
ENTRY_NOT_PUBLISHED = Text("知识条目 {entry_id} 未发布", "Entry {entry_id} is not published")
ENTRY_NOT_PUBLISHED_ON = Text("知识条目 {entry_id} 在 {day} 未发布", "Entry {entry_id} was not published on {day}")
ENTRY_NOT_IN_EFFECT_ON = Text("知识条目 {entry_id} 在 {day} 不在有效期内", "Entry {entry_id} was not in effect on {day}")
VERSION_NOT_FOUND = Text("版本 {version} 不存在", "Version {version} not found")
ANSWER_EMPTY_ONCE_SANITISED = Text("答案清理后为空", "The answer is empty once sanitised")
CHANGED_ENTRY_INVALID = Text("修改后的条目不符合要求", "The changed entry is not valid")

# JSON Lines import
IMPORT_PUBLISH_ROLE_REQUIRED = Text("导入并发布需要审核或运维角色",
                                    "Publishing on import needs the reviewer or ops_admin role")
IMPORT_EMPTY = Text("导入内容为空", "The body is empty")
IMPORT_NOT_UTF8 = Text("导入内容须为 UTF-8 编码的 JSON Lines", "The body must be UTF-8 JSON Lines")
IMPORT_TOO_MANY_LINES = Text("一次最多导入 {limit} 行", "At most {limit} lines per import")
LINE_NOT_JSON = Text("不是合法的 JSON：{reason}", "Not valid JSON: {reason}")
LINE_NOT_OBJECT = Text("每行须为一个 JSON 对象", "Each line must be an object")
LINE_DUPLICATE_ID = Text("同一 id 在文件中重复", "Duplicate id in the file")

# Conversations and unanswered questions
CONVERSATION_NOT_FOUND = Text("会话不存在", "Conversation not found")
NOT_YOUR_CONVERSATION = Text("这不是您的会话", "Not your conversation")
GROUP_NOT_FOUND = Text("问题组不存在", "Unanswered group not found")
GROUP_ALREADY_RESOLVED = Text("该问题组已解决", "The group is already resolved")
ANSWER_NOT_FOUND = Text("会话中没有第 {seq} 条回答", "The conversation has no answer {seq}")
ANSWER_ALREADY_CONFIRMED = Text("这条回答已确认为“{said}”，不能更改", "This answer was already confirmed as '{said}'")
YES = Text("已解决", "resolved")
NO = Text("未解决", "not resolved")
NOT_YOUR_CONVERSATION_TO_CONFIRM = Text("只有会话本人可以确认回答", "Only the conversation's owner confirms its answers")
HAND_OVER_ONLY_WHEN_UNRESOLVED = Text("只有未解决时才能转人工", "hand_over is only for an answer that did not resolve")

# The assistant's confirmation under each answer, and the offer after a "no".
CONFIRM_QUESTION = Text("这个回答解决了您的问题吗？", "Did this answer solve your problem?")
HANDOVER_OFFER = Text("很抱歉没能帮到您。需要为您转接人工帮办吗？",
                      "Sorry this did not help. Shall I pass you to a member of staff?")

# The report's figures and what each counts (service/reports.py DEFINITIONS).
KPI_SESSIONS = Text("咨询会话数", "Conversations")
KPI_SESSIONS_WHAT = Text("期间内开始、至少提过一个问题的会话", "conversations started in the period with at least one question")
KPI_RESOLVED = Text("已解决会话数", "Resolved")
KPI_RESOLVED_WHAT = Text("其中用户本人确认“已解决”的会话（以最后一次确认为准）",
                         "of those, the conversations the person confirmed as solved (their latest word)")
KPI_NOT_RESOLVED = Text("未解决会话数", "Not resolved")
KPI_NOT_RESOLVED_WHAT = Text("其中用户本人确认“未解决”的会话", "of those, the conversations the person said were not solved")
KPI_UNCONFIRMED = Text("未确认会话数", "Unconfirmed")
KPI_UNCONFIRMED_WHAT = Text("其中已回答、未转人工、用户未作确认的会话（不计为已解决）",
                            "of those, answered, not handed over and never confirmed (not counted as resolved)")
KPI_HANDED_OVER = Text("转人工会话数", "Handed over")
KPI_HANDED_OVER_WHAT = Text("其中转接人工帮办或 12345 的会话", "of those, handed over to a human desk or to 12345")
KPI_RESOLUTION_RATE = Text("智能客服解决率", "Assistant resolution rate")
KPI_CONFIRMATION_RATE = Text("回答确认率", "Confirmation rate")
KPI_CONFIRMED_WHAT = Text("已回答且用户确认（已解决或未解决）的会话", "answered conversations the person confirmed (yes or no)")
KPI_ANSWERED_WHAT = Text("期间内开始、至少得到一个回答的会话", "conversations started in the period that got at least one answer")
KPI_ANSWERS_UNCONFIRMED = Text("未确认回答数", "Answers unconfirmed")
KPI_ANSWERS_UNCONFIRMED_WHAT = Text("这些会话中用户未作确认的回答条数", "answers in those conversations the person did not confirm")
KPI_UNANSWERED_ON_TIME = Text("未解答问题按时补充率", "Unanswered questions answered on time")
KPI_UNANSWERED_ON_TIME_WHAT = Text("在 5 个工作日内补充答复口径的问题组",
                                   "question groups given an answer within 5 working days")
KPI_UNANSWERED_RESOLVED_WHAT = Text("期间内首次提出、已补充答复口径的问题组",
                                    "question groups first asked in the period and given an answer")
KPI_KNOWLEDGE_CONFIRMATION = Text("存量知识确认率", "Knowledge confirmation rate")
KPI_KNOWLEDGE_CURRENT_WHAT = Text("当前巡检未逾期的已发布条目（周期内确认、发布或修订）",
                                  "published entries whose inspection is not overdue now (confirmed, published or revised in the cycle)")
KPI_PUBLISHED_WHAT = Text("当前全部已发布条目", "all published entries now")
KPI_INSPECTION_RATE = Text("知识巡检率", "Inspection rate")
KPI_INSPECTED_WHAT = Text("最近一个巡检周期内完成的巡检", "inspections done in the last cycle")
KPI_INSPECTION_DUE_WHAT = Text("最近一个周期内完成的巡检 + 当前逾期未巡检的条目",
                               "inspections done in the last cycle + entries now overdue for inspection")
