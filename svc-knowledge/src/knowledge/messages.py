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
