"""svc-booking's catalogue of user-facing texts (kit.i18n): each in Chinese and English, referred to by name."""
from __future__ import annotations

from kit.i18n import Text

BOOKING = Text("预约", "booking")

VENUE_NOT_FOUND = Text("场馆不存在", "No such venue")
VENUE_EXISTS = Text("场馆已存在", "The venue already exists")
SLOT_NOT_FOUND = Text("该场馆没有此时段", "The venue has no such time slot")
BOOKING_NOT_FOUND = Text("预约不存在", "No such booking")
VENUE_CLOSED = Text("场馆当日闭园", "The venue is closed that day")
DAY_OUT_OF_RANGE = Text("只能预约今天起 {days} 天内的日期", "Only the next {days} days (from today) can be booked")
SLOT_STARTED = Text("该时段已开始，不能预约", "The time slot has already started")
SLOT_FULL = Text("该时段已约满", "The time slot is full")
ALREADY_BOOKED = Text("同一人同一天在同一场馆只能预约一次", "One booking per person per venue per day")
PERSON_BLOCKED = Text("因多次预约未到，{until} 前不能预约", "Booking is blocked until {until} after repeated no-shows")
CANCEL_TOO_LATE = Text("入园前 {minutes} 分钟内不能取消", "Cancellation closes {minutes} minutes before the slot")
NOT_YOURS = Text("不是您的预约", "Not your booking")
CAPACITY_BELOW_TAKEN = Text("容量不能少于已预约人数 {taken}", "The capacity cannot be below the {taken} places already taken")
PARTNER_PROVINCE_REQUIRED = Text("合作方令牌缺少所属省份", "The partner token names no province")
ID_NUMBER_INVALID = Text("身份证号码格式不正确", "The resident ID number is malformed")
PHONE_INVALID = Text("手机号码格式不正确", "The mobile number is malformed")
SLOTS_INVALID = Text("时段须按时间先后排列且不重叠，结束晚于开始", "Slots are in order, do not overlap, and each ends after it starts")
WEEKDAYS_INVALID = Text("每周闭园日为 1（周一）至 7（周日），不重复，且至少一天开放",
                        "Weekly closing days are 1 (Monday) to 7 (Sunday), each once, with one open day at least")
NOT_STAFF_OF_VENUE = Text("您不是该场馆的工作人员", "You are not staff of this venue")
CODE_OR_ID_REQUIRED = Text("请提供预约码或身份证号码（二选一）", "Give the booking code or the ID number (one of them)")

# Gate refusals (reason codes in the problem's ``reason``).
ENTRY_NO_BOOKING = Text("未找到该预约", "No booking found")
ENTRY_WRONG_VENUE = Text("该预约不是本场馆的（{venue}）", "The booking is for another venue ({venue})")
ENTRY_WRONG_DAY = Text("该预约日期为 {day}，不是今天", "The booking is for {day}, not today")
ENTRY_TOO_EARLY = Text("预约时段 {slot} 尚未到入园时间", "Too early for the booking's slot {slot}")
ENTRY_TOO_LATE = Text("预约时段 {slot} 已结束", "The booking's slot {slot} has ended")
ENTRY_NOT_ADMISSIBLE = Text("预约状态为 {status}，不能入园", "The booking is {status}: no entry")
