/** Words every page shows for the API's codes, once: a code the table lacks is shown as it is. */
import type { Schemas } from "@lvrong/client";
import { t } from "./i18n";

/** How a status reads at a glance (always beside its words, never instead of them). */
export type Tone = "ok" | "warn" | "bad" | "info";

/** ``table[code]`` in the page's language (its first two members: Chinese, English), or the code itself. */
export function words(table: Readonly<Record<string, readonly [string, string, ...unknown[]]>>, code: string): string {
  const pair = table[code];
  return pair ? t(pair[0], pair[1]) : code;
}

/** An application's status (办件状态), as the applicant and the staff both read it. */
export const APPLICATION_STATUS: Record<Schemas["ApplicationStatus"], [string, string, Tone]> = {
  draft: ["草稿", "Draft", "info"],
  submitted: ["已提交", "Submitted", "info"],
  prereviewed: ["预审通过", "Pre-review passed", "ok"],
  returned: ["退回补正", "Returned for correction", "warn"],
  accepted: ["已受理", "Accepted", "ok"],
  refused: ["不予受理", "Not accepted", "bad"],
  under_review: ["审查中", "Under review", "info"],
  correction_requested: ["待补正", "Correction requested", "warn"],
  approved: ["准予许可", "Approved", "ok"],
  denied: ["不予许可", "Denied", "bad"],
  licence_issued: ["已出证", "Licence issued", "ok"],
  completed: ["已办结", "Completed", "ok"],
  withdrawn: ["已撤回", "Withdrawn", "bad"],
};

export const APPLICATION_STATUSES = Object.keys(APPLICATION_STATUS) as Schemas["ApplicationStatus"][];

export function applicationStatusLabel(status: string): string {
  return words(APPLICATION_STATUS, status);
}

export function applicationStatusTone(status: string): Tone {
  return APPLICATION_STATUS[status as Schemas["ApplicationStatus"]]?.[2] ?? "info";
}

/** A notification's kind (通知类别), in the inbox and its channel preferences. */
export const NOTIFICATION_KIND: Record<Schemas["NotificationView"]["kind"], [string, string]> = {
  application_returned: ["退回补正", "Returned for correction"],
  licence_expiring: ["证照到期提醒", "Licence expiring"],
  benefit_granted: ["免申即享", "Benefit granted"],
  rectification_replied: ["差评整改答复", "Reply to a rating"],
  ticket_answered: ["帮办答复", "Help-desk answer"],
  clock_warning: ["法定时限预警", "Statutory clock warning"],
  booking_promoted: ["候补成功", "Off the waiting list"],
  booking_expired: ["候补未成功", "Waiting list ended"],
};

export const NOTIFICATION_KINDS = Object.keys(NOTIFICATION_KIND) as Schemas["NotificationView"]["kind"][];
