"""svc-helpdesk's catalogue of user-facing texts (kit.i18n): each in Chinese and English, referred to by name."""
from __future__ import annotations

from kit.i18n import Text

# What the state machines call the things they move (in the kit's 409 "the <noun> is <status>").
TICKET = Text("工单", "ticket")
RECTIFICATION = Text("整改", "rectification case")
VISIT = Text("取号", "visit")

REQUIRED = Text("必填", "required")
FIELD_REQUIRED = Text("缺少 {field}", "{field} is required")

# Tickets
TICKET_NOT_FOUND = Text("工单不存在", "No such ticket")
TICKET_OTHER_DEPARTMENT = Text("该工单属于其他部门", "The ticket belongs to another department")
NO_SLA_POLICY = Text("没有适用的服务时限策略", "No SLA policy applies")
ONLY_STAFF_OPEN_FOR_OTHERS = Text("只有帮办人员可代为登记工单", "Only help-desk staff may open tickets for others")
NOT_FOR_SOMEONE_ELSE = Text("不能代他人提交", "Cannot open a ticket for someone else")
APPLICANTS_ASK_ONLINE = Text("申请人只能通过在线渠道提问", "Applicants ask online")
APPLICANTS_USE_ONLINE = Text("申请人只能使用 online", "Applicants use the online channel")
ONLY_PERSON_OR_AGENT_WRITES = Text("只有申请人和帮办人员可以留言", "Only the person helped and agents may write")
TICKET_FINISHED_REOPEN_FIRST = Text("工单已解决或关闭，请先重新打开", "The ticket is resolved or closed: reopen it first")
NOT_AN_AGENT_OF_DEPARTMENT = Text("该人员不是本部门的帮办人员", "Not an agent of the ticket's department")
NOT_AN_AGENT_OF_THIS_DEPARTMENT = Text("不是本部门的帮办人员", "Not an agent of this department")
POLICY_EXISTS = Text("策略已存在", "The policy already exists")
REASSIGNED_NO_ANSWER = Text("未在 {seconds} 秒内应答", "no answer within {seconds} s")

# Ratings and rectification
STAFF_CANNOT_RATE = Text("工作人员不能评价", "Staff cannot rate")
STEP_ONLY_FOR_APPLICATION_STEP = Text("只有办件环节需要 step", "step goes with application_step only")
STEP_FIELD = Text("仅办件环节评价需要", "Required for application_step only")
TICKET_NOT_FINISHED = Text("工单尚未办结，不能评价", "The ticket is not finished yet")
VISIT_NOT_FINISHED = Text("办理尚未结束，不能评价", "The visit is not finished yet")
ALREADY_RATED = Text("已经评价过", "This interaction has already been rated by you")
APPLICATION_LOOKUP_UNREACHABLE = Text("无法查询办件", "The application could not be looked up")
APPLICATION_NOT_FOUND = Text("办件不存在", "No such application")
APPLICATION_LOOKUP_FAILED = Text("办件查询失败（{code}）", "The application lookup failed ({code})")
APPLICATION_STEP_NOT_REACHED = Text("办件尚未经过环节 {step}", "The application has not been through {step}")
RECTIFICATION_NOT_FOUND = Text("整改记录不存在", "No such rectification case")
RECTIFICATION_OTHER_DEPARTMENT = Text("该整改属于其他部门", "The case belongs to another department")

# Hotline
TRANSFER_IN_FUTURE = Text("转接时间不能晚于现在", "The attempt cannot be in the future")
LATER_THAN_NOW = Text("晚于当前时间", "In the future")
UNCONNECTED_HAS_NO_AGENT = Text("未接通的转接不能有接听人", "An unconnected attempt has no agent")
EMPTY_WHEN_NOT_CONNECTED = Text("未接通时不应填写", "Must be empty when not connected")

# Routing
MATTER_NOT_FOUND = Text("没有这个事项", "No such matter")

# Halls
HALL_EXISTS = Text("大厅已存在", "The hall already exists")
HALL_NOT_FOUND = Text("大厅不存在", "No such hall")
BOOKABLE_WITHIN = Text("只能预约今天起 {days} 天内", "Bookable only from today to {days} days ahead")
ONLY_APPLICANTS_BOOK = Text("只有申请人可以预约", "Only applicants book appointments")
MATTER_NOT_SERVED = Text("该大厅不办理此事项", "The hall does not serve this matter")
SLOT_BEGUN = Text("预约时段已过", "The slot has already begun")
NOT_A_SLOT = Text("不是该大厅的预约时段（非工作日或非开放时段）",
                  "Not a slot of the hall (not a working day or outside opening hours)")
DAILY_CAP = Text("每人每天最多预约 {cap} 次", "At most {cap} bookings a day per person")
SLOT_FULL = Text("该时段已约满", "The slot is fully booked")
APPOINTMENT_NOT_FOUND = Text("预约不存在", "No such appointment")
APPOINTMENT_NOT_CANCELLABLE = Text("预约状态为 {status}，不能取消", "Cannot cancel an appointment that is {status}")
APPOINTMENT_NOT_BOOKED = Text("预约状态为 {status}", "The appointment is {status}")
APPOINTMENT_NOT_TODAY = Text("预约不是今天", "The appointment is not for today")
MATTER_DIFFERS_FROM_APPOINTMENT = Text("与预约的事项不一致", "Differs from the appointment's matter")
HALL_CLOSED_NOW = Text("大厅现在不开放", "The hall is not open now")
HALL_WINDOWS = Text("大厅只有 {windows} 个窗口", "The hall has {windows} windows")
NOBODY_WAITING = Text("没有等候的人", "Nobody is waiting")
VISIT_NOT_FOUND = Text("取号记录不存在", "No such visit")

# Reports

# Calendar
YEAR_OUT_OF_RANGE = Text("年份须在 {first}–{last} 之间", "The year must be within {first}–{last}")
NO_PENDING_CALENDAR = Text("{year} 年没有待审批的日历", "No calendar of {year} awaits approval")
SUBMITTER_CANNOT_APPROVE = Text("提交人不能审批自己提交的日历", "The submitter cannot approve their own submission")
CALENDAR_PUBLISH_FAILED = Text("日历发布失败，请稍后再试", "The calendar could not be published; try again")

# Request validation (kit.i18n.invalid)
OPENING_PERIODS_OUT_OF_ORDER = Text("办理时段须依次排列、互不重叠，且结束晚于开始",
                                    "periods must be in order, not overlap, and close after they open")
CHECKIN_NEEDS_MATTER_OR_APPOINTMENT = Text("须填写事项编码或预约号", "matter_code or appointment_id is required")

# The reports' rates and what each divides (service/reports.py DEFINITIONS).
KPI_TICKETS_WHAT = Text("期间内创建的帮办工单", "help tickets opened in the period")
KPI_FIRST_RESPONSE = Text("1 分钟响应率", "Answered within a minute")
KPI_FIRST_RESPONSE_WHAT = Text("其中 60 秒内得到首次人工响应的工单（未响应的计入分母）",
                               "of those, first answered by a person within 60 s (unanswered ones count against)")
KPI_RESOLUTION = Text("帮办解决率", "Help resolution rate")
KPI_RESOLVED_WHAT = Text("其中已解决或已关闭的工单", "of those, resolved or closed")
KPI_RESOLUTION_TARGET = Text("解决时限达标率", "Resolution targets met")
KPI_RESOLUTION_TARGET_WHAT = Text("其中在解决时限内停止的解决时钟", "of those, stopped within their target")
KPI_RESOLUTION_CLOCKS_WHAT = Text("期间内工单已停止的解决时钟", "resolution clocks of the period's tickets that stopped")
KPI_CONNECT = Text("12345 三方转接接通率", "Hotline transfer connect rate")
KPI_CALLS_WHAT = Text("期间内转接的 12345 来电", "12345 calls transferred in the period")
KPI_CALLS_CONNECTED_WHAT = Text("其中任一次转接接通的来电", "of those, calls where any transfer attempt connected")
KPI_ATTEMPT_CONNECT = Text("转接尝试接通率", "Transfer attempts connected")
KPI_ATTEMPTS_WHAT = Text("期间内的转接尝试", "transfer attempts in the period")
KPI_ATTEMPTS_CONNECTED_WHAT = Text("其中接通的尝试", "of those, connected")
KPI_RATINGS_WHAT = Text("期间内的“好差评”评价", "ratings (好差评) given in the period")
KPI_GOOD_RATINGS = Text("好评率", "Good ratings")
KPI_GOOD_WHAT = Text("其中 4–5 分（好评）", "of those, scored 4–5 (good)")
KPI_BAD_RATINGS = Text("差评率", "Bad ratings")
KPI_BAD_WHAT = Text("其中 1–2 分（差评）", "of those, scored 1–2 (bad)")
KPI_RECTIFIED_ON_TIME = Text("差评按时整改率", "Rectifications closed on time")
KPI_RECTIFIED_WHAT = Text("期间内评价引发、已办结的整改", "rectifications of the period's ratings that were closed")
KPI_RECTIFIED_ON_TIME_WHAT = Text("其中在整改期限内办结的", "of those, closed by their due date")
KPI_WAITS = Text("大厅等候达标率", "Hall waits within target")
KPI_CALLED_WHAT = Text("期间内已叫号的大厅到访", "hall visits of the period that were called")
KPI_WAITS_WHAT = Text("其中一般事项 10 分钟、复杂事项 30 分钟内叫号的",
                      "of those, called within 10 min (general) or 30 min (complex)")
KPI_HANDLING = Text("窗口办理达标率", "Window handling within target")
KPI_FINISHED_WHAT = Text("期间内已办结的大厅到访", "hall visits of the period that were finished")
KPI_HANDLING_WHAT = Text("其中窗口办理不超过 20 分钟的", "of those, handled at the window within 20 min")
