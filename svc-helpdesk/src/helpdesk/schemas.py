"""Request and response bodies of svc-helpdesk."""
from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    field_validator,
    model_validator,
)

from helpdesk import messages
from kit.i18n import invalid
from kit.params import IsoDateTime

Channel = Literal["online", "hotline", "hall", "assistant"]
Priority = Literal["normal", "high", "urgent"]
TicketStatus = Literal["new", "assigned", "waiting_applicant", "resolved", "closed", "reopened"]
ClockKind = Literal["first_response", "next_response", "resolution"]
Unit = Literal["seconds", "working_hours", "working_days"]
MatterCode = Annotated[str, Field(min_length=3, max_length=32, pattern=r"^[A-Z0-9-]+$", examples=["LR-XK-008"])]
Department = Annotated[str, Field(min_length=2, max_length=200, examples=["市绿化市容局许可处"])]
OpaqueId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
MobilePhone = Annotated[str, Field(pattern=r"^1[3-9]\d{9}$", examples=["13812345678"])]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# -- tickets --------------------------------------------------------------------------------------


class TicketCreate(Strict):
    channel: Literal["online", "hotline", "hall"] = Field(
        "online", description="Where the help was asked for; assistant hand-overs arrive as events")
    subject: str = Field(min_length=2, max_length=2000, description="The question, in the person's words",
                         examples=["迁移树木许可需要哪些材料？"])
    matter_code: MatterCode | None = None
    application_id: OpaqueId | None = Field(None, description="The application (办件) the question concerns")
    priority: Priority = "normal"
    department: Department | None = Field(
        None, description="Department whose professional staff should answer; default: the matter's department")
    contact_name: str | None = Field(None, min_length=1, max_length=50, description="Personal data: stored encrypted")
    contact_phone: MobilePhone | None = Field(None, description="Personal data: stored encrypted, shown masked to staff")
    applicant_subject: str | None = Field(None, max_length=128,
                                          description="Staff only (hotline, hall): the person helped, if known")


class ClockView(BaseModel):
    kind: ClockKind
    cycle: int
    unit: Unit
    amount: int
    started_at: datetime
    due_at: datetime | None
    due_at_provisional: bool = Field(description=(
        "The due time counts on a year whose holiday arrangement ops have not approved yet (暂定); it is "
        "recomputed when the year is approved"))
    paused: bool
    stopped_at: datetime | None
    elapsed_seconds: float = Field(description="Counted time so far (office time for working units)")
    percent_used: int
    breached: bool
    met: bool | None = Field(description="For a stopped clock: whether it met its target")


class TicketView(BaseModel):
    id: str
    channel: Channel
    status: TicketStatus
    priority: Priority
    matter_code: str | None
    department: str
    subject: str
    applicant_subject: str | None
    contact_name: str | None = Field(description="Masked unless the caller is the person helped")
    contact_phone: str | None = Field(description="Masked unless the caller is the person helped")
    application_id: str | None
    conversation_id: str | None
    assigned_agent: str | None
    created_at: datetime
    first_response_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    reopen_count: int
    due_at: datetime | None = Field(description="When the most urgent running clock breaches")
    due_at_provisional: bool = Field(description="That clock's due time counts on a provisional calendar year")
    policy_id: str
    clocks: list[ClockView]
    allowed_actions: list[str]


class TicketListItem(BaseModel):
    id: str
    channel: Channel
    status: TicketStatus
    priority: Priority
    matter_code: str | None
    department: str
    subject: str
    assigned_agent: str | None
    created_at: datetime
    due_at: datetime | None


class MessageCreate(Strict):
    body: str = Field(min_length=1, max_length=5000)


class MessageView(BaseModel):
    id: int
    author_kind: Literal["applicant", "agent", "assistant", "system"]
    author_subject: str | None
    body: str
    created_at: datetime


class TicketStepView(BaseModel):
    action: str
    status_before: str | None
    status_after: str
    actor_subject: str | None
    note: str | None
    at: datetime


class TicketAction(Strict):
    note: str | None = Field(None, max_length=1000)
    agent: str | None = Field(None, max_length=128, description="assign: the agent to assign to")
    department: Department | None = Field(None, description="transfer: the department to hand the ticket to")
    question: str | None = Field(None, min_length=2, max_length=2000, description="propose_answer: the question")
    answer: str | None = Field(None, min_length=2, max_length=5000, description="propose_answer: the good answer")


class AgentUpdate(Strict):
    available: bool
    max_open: int = Field(8, ge=1, le=50, description="Most open tickets assigned at once")


class AgentView(BaseModel):
    subject: str
    department: str
    available: bool
    max_open: int
    open_tickets: int
    last_assigned_at: datetime | None


class Target(Strict):
    amount: int = Field(ge=1, le=100_000)
    unit: Unit


class PolicyCreate(Strict):
    id: OpaqueId
    name: str = Field(min_length=1, max_length=200)
    channel: Channel | None = None
    matter_code: MatterCode | None = None
    priority: Priority | None = None
    first_response: Target
    next_response: Target
    resolution: Target
    warn_percent: int = Field(80, ge=1, le=99)
    escalation_percents: list[Annotated[int, Field(gt=100, le=1000)]] = Field(default_factory=lambda: [150, 200],
                                                                              max_length=5)


class PolicyView(PolicyCreate):
    model_config = ConfigDict(extra="ignore")
    active: bool


# -- hotline --------------------------------------------------------------------------------------


class TransferCreate(Strict):
    call_id: OpaqueId = Field(description="The 12345 call; several attempts of one call share it")
    department: Department
    matter_code: MatterCode | None = None
    attempted_at: IsoDateTime
    connected: StrictBool  # the document says boolean: not 0 or "yes"
    wait_seconds: StrictInt = Field(ge=0, le=3600, description="Ringing time until answered or given up")  # not `false`
    agent_subject: str | None = Field(None, max_length=128, description="Who answered, when connected")
    ticket_id: OpaqueId | None = None


class TransferView(BaseModel):
    id: str
    call_id: str
    department: str
    matter_code: str | None
    attempted_at: datetime
    connected: bool
    wait_seconds: int
    agent_subject: str | None
    ticket_id: str | None


# -- ratings --------------------------------------------------------------------------------------

Tag = Annotated[str, Field(min_length=1, max_length=20)]


class RatingCreate(Strict):
    target_kind: Literal["ticket", "hall_visit", "application_step"]
    target_id: OpaqueId
    score: int = Field(ge=1, le=5, description="1–5; 1 and 2 are bad ratings (差评) and open a rectification case")
    tags: list[Tag] = Field(default_factory=list, max_length=10)
    comment: str | None = Field(None, max_length=1000)
    step: str | None = Field(None, max_length=32, pattern=r"^[a-z_]+$",
                             description="application_step only: the step rated, e.g. accepted")


class RatingView(BaseModel):
    id: str
    target_kind: str
    target_id: str
    score: int
    tags: list[str]
    comment: str | None
    matter_code: str | None
    department: str | None
    created_at: datetime
    rectification_id: str | None
    reply: str | None = Field(None, description="For a bad rating: the answer given to the person")
    replied_at: datetime | None = None


class RectificationView(BaseModel):
    id: str
    rating_id: str
    score: int
    department: str
    owner_subject: str | None
    status: Literal["open", "replied", "rectified", "closed"]
    opened_at: datetime
    due_on: date
    late: bool
    reply: str | None
    replied_at: datetime | None
    measures: str | None
    rectified_at: datetime | None
    follow_up: str | None
    satisfied: bool | None
    closed_at: datetime | None


class RectificationAction(Strict):
    text: str | None = Field(None, min_length=2, max_length=2000,
                             description="reply: the answer to the person; rectify: the measures; close: the follow-up")
    owner: str | None = Field(None, max_length=128, description="assign: the owner")
    satisfied: bool | None = Field(None, description="close: whether the person was satisfied at the follow-up")


# -- halls ----------------------------------------------------------------------------------------

HHMM = Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", examples=["09:00"])]


class OpeningPeriod(Strict):
    opens: HHMM
    closes: HHMM


class HallCreate(Strict):
    id: OpaqueId
    name: str = Field(min_length=2, max_length=200)
    district: str | None = Field(None, max_length=64)
    windows: int = Field(ge=1, le=100)
    opening_periods: list[OpeningPeriod] = Field(
        min_length=1, max_length=4, examples=[[{"opens": "09:00", "closes": "12:00"}, {"opens": "13:00", "closes": "17:00"}]])
    open_on_rest_days: bool = Field(False, description="Weekend and holiday service (周末不打烊): open every day")
    slot_minutes: int = Field(30, ge=5, le=240)
    slot_capacity: int = Field(ge=1, le=500)
    daily_cap_per_person: int = Field(2, ge=1, le=10)
    matters: dict[MatterCode, Literal["general", "complex"]] = Field(min_length=1, max_length=300)

    @field_validator("opening_periods")
    @classmethod
    def _periods(cls, value: list[OpeningPeriod]) -> list[OpeningPeriod]:
        previous = "00:00"
        for period in value:
            if not (previous <= period.opens < period.closes):
                raise invalid(messages.OPENING_PERIODS_OUT_OF_ORDER, "value_error")
            previous = period.closes
        return value


class HallView(HallCreate):
    model_config = ConfigDict(extra="ignore")


class SlotView(BaseModel):
    slot_start: datetime
    capacity: int
    booked: int
    available: int


class AppointmentCreate(Strict):
    hall_id: OpaqueId
    matter_code: MatterCode
    slot_start: AwareDatetime


class AppointmentView(BaseModel):
    id: str
    hall_id: str
    matter_code: str
    applicant_subject: str
    slot_start: datetime
    status: Literal["booked", "cancelled", "checked_in"]
    created_at: datetime
    cancelled_at: datetime | None


class CheckinCreate(Strict):
    hall_id: OpaqueId
    matter_code: MatterCode | None = Field(None, description="Required without an appointment")
    appointment_id: OpaqueId | None = None
    priority_reason: Literal["elderly", "disabled"] | None = Field(
        None, description="Elderly and disabled visitors are called first (适老化、无障碍)")

    @model_validator(mode="after")
    def _matter_or_appointment(self) -> CheckinCreate:
        if self.matter_code is None and self.appointment_id is None:
            raise invalid(messages.CHECKIN_NEEDS_MATTER_OR_APPOINTMENT, "value_error")
        return self


class CallRequest(Strict):
    window: int = Field(ge=1, le=100)


class VisitView(BaseModel):
    id: str
    hall_id: str
    local_day: date
    number: str
    matter_code: str
    complexity: Literal["general", "complex"]
    appointment_id: str | None
    priority_reason: str | None
    status: Literal["waiting", "called", "handling", "done", "no_show"]
    checked_in_at: datetime
    called_at: datetime | None
    window: int | None
    started_at: datetime | None
    finished_at: datetime | None
    waiting_ahead: int | None = Field(None, description="While waiting: visitors called before this one")
    wait_minutes: float | None
    wait_target_minutes: int
    handling_minutes: float | None
    handling_target_minutes: int


# -- calendar -------------------------------------------------------------------------------------


class CalendarSubmit(Strict):
    holidays: list[date] = Field(min_length=1, max_length=366, description="Public-holiday days off (法定节假日)")
    workdays: list[date] = Field(max_length=60, description="Make-up working days (调休上班), Saturdays or Sundays")
    source: str = Field(min_length=4, max_length=300, examples=["国务院办公厅关于2027年部分节假日安排的通知"])
    notes: str | None = Field(None, max_length=2000)


class CalendarSubmissionView(BaseModel):
    id: str
    year: int
    status: Literal["pending", "approved", "superseded"]
    holidays: list[date]
    workdays: list[date]
    source: str
    submitted_by: str
    submitted_at: datetime
    approved_by: str | None
    approved_at: datetime | None
    kv_revision: int | None


class CalendarYearView(BaseModel):
    year: int
    known: bool = Field(description="Whether clocks can run in this year (on approved or provisional data)")
    provisional: bool = Field(description=(
        "No approved arrangement: clocks count on the provisional year computed from the holiday regulation "
        "(its holidays and 补假 below, no make-up working days) and are recomputed when ops approve the year"))
    origin: str | None = Field(description="Where this process's data for the year comes from")
    source: str | None
    approved_by: str | None
    holidays: list[date]
    workdays: list[date]
    working_days: int | None
    pending: CalendarSubmissionView | None
    coverage_days_left: int = Field(description="Days until the calendar's unbroken data ends")
    alarm: bool = Field(description="True when the data ends within the alarm window: approve next year now")
    missing_year: int
