"""svc-notifications' catalogue of user-facing texts (kit.i18n): each in Chinese and English, referred to by
name. The ``*_TITLE`` / ``*_BODY`` pairs are the templates each kind of notification is written from."""
from __future__ import annotations

from kit.i18n import Text

# Templates.
RETURNED_TITLE = Text("您的申请（{matter_code}）需要补正", "Your application ({matter_code}) needs corrections")
RETURNED_BODY = Text("申请 {application_id} 已退回补正，请按以下意见修改后重新提交：{findings}",
                     "Application {application_id} was returned: please correct it as follows and submit it again: "
                     "{findings}")
CORRECTION_TITLE = Text("审查中的申请（{matter_code}）需要补正材料", "Your application ({matter_code}) under review needs "
                        "corrections")
CORRECTION_BODY = Text("申请 {application_id} 在审查中需要补正：{findings}（补正期间法定时限暂停）",
                       "Application {application_id} under review needs corrections: {findings} (the statutory "
                       "clock is paused meanwhile)")
NO_FINDINGS = Text("详见办件记录", "see the application's history")
EXPIRING_TITLE = Text("证照 {licence_number} 将于 {days} 天后到期", "Licence {licence_number} expires in {days} days")
BENEFIT_TITLE = Text("免申即享：{benefit}", "Granted without applying: {benefit}")
BENEFIT_BODY = Text("{business_name} 已符合条件，无需申请即获得“{benefit}”（办件 {application_id}）。",
                    "{business_name} qualifies and was granted “{benefit}” without applying (application "
                    "{application_id}).")
RECTIFICATION_TITLE = Text("您的评价已收到答复", "Your rating has been answered")
RECTIFICATION_BODY = Text("{department} 答复：{reply}", "{department} replied: {reply}")
TICKET_TITLE = Text("帮办人员已答复您的咨询", "A help-desk agent answered your question")
TICKET_BODY = Text("工单 {ticket_id} 有新的答复，请登录查看。", "Ticket {ticket_id} has a new answer: sign in to read it.")
CLOCK_TITLE = Text("办件 {application_id} 法定时限已用 {percent}%", "Application {application_id} has used {percent}% of "
                   "its statutory time")
CLOCK_BODY = Text("事项 {matter_code} 的办件 {application_id} 应于 {due_date} 前办结，剩余 {days_left} 个工作日。",
                  "Application {application_id} of matter {matter_code} is due on {due_date}: {days_left} working "
                  "days left.")
EMAIL_FOOTER = Text("此邮件由绿容一网通办自动发送，请勿回复。", "Sent by 绿容一网通办; please do not reply.")

# Errors
NOTIFICATION_NOT_FOUND = Text("通知不存在", "No such notification")
NO_INBOX = Text("该账号没有通知收件箱", "This account has no notification inbox")

# 预约游园 (svc-booking): the waiting list's outcome, for bookings made with our login.
BOOKING_PROMOTED_TITLE = Text("候补成功：{venue}", "Off the waiting list: {venue}")
BOOKING_PROMOTED_BODY = Text("您在 {venue} {day} {slot} 的候补已获得名额，预约码 {code}，请按时凭预约码或身份证入园。",
                             "Your waiting-list entry for {venue} on {day} at {slot} got a place: booking code {code}. "
                             "Enter with the code or your ID card in time.")
BOOKING_EXPIRED_TITLE = Text("候补未成功：{venue}", "No place from the waiting list: {venue}")
BOOKING_EXPIRED_BODY = Text("您在 {venue} {day} {slot} 的候补已结束，未获得名额（预约码 {code}）。欢迎改约其他日期或时段。",
                            "Your waiting-list entry for {venue} on {day} at {slot} ended without a place (booking code "
                            "{code}). You are welcome to book another day or time slot.")
