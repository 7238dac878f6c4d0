"""Request and response bodies of svc-knowledge."""
from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from kit.i18n import invalid
from knowledge import messages

MAX_QUESTION_CHARS = 500
MAX_ANSWER_CHARS = 20_000
ENTRY_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"

Category = Literal["materials", "time_limit", "fees", "process", "eligibility", "validity", "channel", "progress",
                   "licence", "help", "general"]
CATEGORIES: tuple[str, ...] = get_args(Category)
EntryStatus = Literal["draft", "in_review", "published", "retired"]


Phrasing = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_QUESTION_CHARS)]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)]


class Input(BaseModel):
    """A request body: unknown fields refused, and no NUL character anywhere (PostgreSQL text cannot
    hold one, so it would otherwise fail only when stored)."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        if _has_nul(data):
            raise invalid(messages.TEXT_HAS_NUL, "nul_character")
        return data


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _not_blank(value: str) -> str:
    value = value.strip()
    if not value:
        raise invalid(messages.BLANK, "blank")
    return value


class EntryContent(Input):
    """What an editor writes; the fields of a line of the JSON Lines import (``faq.jsonl``)."""

    question: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS, description="The standard question")
    similar: list[Phrasing] = Field(
        default_factory=list, max_length=30, description="Other phrasings of the question")
    answer: str = Field(min_length=1, max_length=MAX_ANSWER_CHARS,
                        description="Rich text allowed (p, br, ul/ol/li, strong, em, a, table); sanitised on save")
    matter: str | None = Field(default=None, max_length=128, description="Exact name of the matter (事项), or null")
    category: Category = "general"
    policy_ref: str | None = Field(default=None, max_length=500)
    policy_effective_date: date | None = Field(default=None, description="When the policy the answer rests on takes effect")
    tags: list[Tag] = Field(default_factory=list, max_length=20)
    owner_department: str | None = Field(default=None, max_length=128)
    effective_from: date | None = None
    effective_to: date | None = None

    _strip = field_validator("question", "answer")(_not_blank)

    @field_validator("effective_to")
    @classmethod
    def _period(cls, value: date | None, info: ValidationInfo) -> date | None:
        start = info.data.get("effective_from")
        if value and start and value < start:
            raise invalid(messages.EFFECTIVE_PERIOD_REVERSED, "period_reversed")
        return value


class EntryCreate(EntryContent):
    id: str | None = Field(default=None, pattern=ENTRY_ID_PATTERN, description="Kept when given (imports); else assigned")


class EntryPatch(Input):
    """A change to an entry: the given fields replace the newest version's, as a new version."""

    question: str | None = Field(default=None, min_length=1, max_length=MAX_QUESTION_CHARS)
    similar: list[Phrasing] | None = Field(default=None, max_length=30)
    answer: str | None = Field(default=None, min_length=1, max_length=MAX_ANSWER_CHARS)
    matter: str | None = Field(default=None, max_length=128)
    category: Category | None = None
    policy_ref: str | None = Field(default=None, max_length=500)
    policy_effective_date: date | None = None
    tags: list[Tag] | None = Field(default=None, max_length=20)
    owner_department: str | None = Field(default=None, max_length=128)
    effective_from: date | None = None
    effective_to: date | None = None
    note: str | None = Field(default=None, max_length=500, description="Why it changed (kept in the history)")


class EntryView(BaseModel):
    id: str
    status: EntryStatus
    version: int
    published_version: int | None
    live: bool
    content: dict[str, Any]
    policy_deadline: date | None = None
    next_inspection_due: date | None = None
    last_inspected_at: datetime | None = None
    created_by: str
    created_at: datetime
    updated_at: datetime


class PublicEntry(BaseModel):
    id: str
    version: int
    question: str
    similar: list[str]
    answer: str
    matter: str | None
    category: str
    policy_ref: str | None = None


class HistoryItem(BaseModel):
    version: int
    action: str
    actor: str
    note: str | None
    changed_fields: list[str] | None
    at: datetime


class SearchItem(BaseModel):
    id: str
    question: str
    answer: str
    score: float
    matter: str | None
    category: str


class SearchResult(BaseModel):
    items: list[SearchItem]
    matter: str | None = Field(description="The matter recognised in the question, when one")
    intent: str | None = Field(description="The want recognised (materials, time_limit, fees…), when one")


class ImportRejection(BaseModel):
    line: int
    id: str | None = None
    errors: list[str]


class ImportReport(BaseModel):
    received: int
    created: int
    updated: int
    unchanged: int
    published: int
    rejected: list[ImportRejection]


class Transition(Input):
    note: str | None = Field(default=None, max_length=500)


class SessionCreate(Input):
    channel: Literal["web", "app", "kiosk", "hotline", "other"] = "web"


class SessionView(BaseModel):
    id: str
    channel: str
    turns: int
    answered: bool
    handed_over: bool
    solved: bool | None
    created_at: datetime
    messages: list[dict[str, Any]] = []


class MessageIn(Input):
    text: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS, description="What the person typed")

    _strip = field_validator("text")(_not_blank)


class EntryRef(BaseModel):
    id: str
    question: str
    matter: str | None
    category: str


class Suggestion(BaseModel):
    id: str
    question: str


# Why the assistant hands over: the person asked, asked the same again, the base has nothing (or nothing
# the model trusts) to answer with, or the question belongs to another department (routed to 12345, not
# to the bureau's help desk).
HandoverReason = Literal["user_asked", "repeated_question", "no_answer", "low_confidence", "out_of_scope",
                         "not_resolved"]


class Referral(BaseModel):
    """Where a question of another department goes: the 12345 citizen hotline, which takes every matter."""

    department: str = Field(description="The department that handles the matter asked about (Chinese)")
    name: str = Field(description="12345市民服务热线")
    name_en: str
    phone: str


class ConfirmPrompt(BaseModel):
    question_zh: str
    question_en: str


class AssistantReply(BaseModel):
    answer: str = Field(description="What the assistant says (Chinese)")
    answer_en: str | None = Field(default=None, description="English, for the fixed phrases of the assistant")
    entry: EntryRef | None
    confidence: float
    suggestions: list[Suggestion]
    handover: bool
    handover_reason: HandoverReason | None = Field(
        default=None, description="Why the assistant handed over: out_of_scope goes to 12345 (``referral``), "
                                  "the others to the bureau's help desk")
    referral: Referral | None = Field(default=None, description="Where to turn, for a question of another department")
    clarify: str | None = Field(description="The clarifying question, when the assistant asks one")
    intent: str | None = None
    matter: str | None = None
    applications: list[dict[str, Any]] | None = Field(
        default=None, description="The caller's applications, when they asked for their progress while logged in")
    answer_seq: int | None = Field(
        default=None, description="The answer's number in the conversation, to confirm it with "
                                  "PUT /v1/assistant/sessions/{id}/answers/{answer_seq}/confirmation")
    confirm: ConfirmPrompt | None = Field(
        default=None, description="The question to show under an answer (这个回答解决了您的问题吗); null when the "
                                  "reply is not an answer")



class ConfirmationIn(Input):
    resolved: StrictBool = Field(description="Did the answer solve the problem? (这个回答解决了您的问题吗)")
    hand_over: StrictBool = Field(False, description="With resolved false: pass the conversation to a human desk "
                                                     "(the offer a 'no' gets)")

    @model_validator(mode="after")
    def _hand_over_only_when_unresolved(self) -> ConfirmationIn:
        if self.resolved and self.hand_over:
            raise invalid(messages.HAND_OVER_ONLY_WHEN_UNRESOLVED, "hand_over_when_resolved")
        return self


class HandoverOffer(BaseModel):
    text_zh: str
    text_en: str


class ConfirmationView(BaseModel):
    conversation_id: str
    answer_seq: int
    resolved: bool
    confirmed_at: datetime
    handed_over: bool = Field(description="The conversation went to a human desk on this 'no'")
    handover_offer: HandoverOffer | None = Field(
        description="After a 'no' not yet handed over: the offer of a human desk (confirm again with hand_over true)")


class FeedbackIn(Input):
    solved: StrictBool  # the document says boolean: not 0, 1 or "yes"
    comment: str | None = Field(default=None, max_length=500)


class UnansweredGroupView(BaseModel):
    id: str
    question: str
    matter: str | None
    count: int
    status: str
    due_date: date
    overdue: bool
    first_asked_at: datetime
    last_asked_at: datetime
    entry_id: str | None
    examples: list[str] = []


class ResolveGroup(Input):
    entry_id: str = Field(pattern=ENTRY_ID_PATTERN, description="The entry that answers the group's questions")


class PolicyItem(BaseModel):
    id: str
    question: str
    policy_ref: str | None
    policy_effective_date: date
    policy_deadline: date | None = Field(description="Null while the platform calendar has no data for that year")
    status: str
    published_at: datetime | None
    working_days_left: int | None


class PolicyDeadlines(BaseModel):
    at_risk: list[PolicyItem]
    late: list[PolicyItem]
    waiting_for_calendar: list[PolicyItem] = Field(
        default_factory=list, description="Not published, effective in a year the platform calendar has no data for yet")
