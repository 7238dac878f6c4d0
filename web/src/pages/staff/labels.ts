/** The workbench's words for the API's codes (statuses, actions, clocks), Chinese first. */
import { t } from "../../shared/i18n";
import { words } from "../../shared/labels";

/** Each action of an application: its button, and what its form asks. */
export interface ActionSpec {
  label: [string, string];
  reason: "required" | "optional";
  reasonLabel: [string, string];
  tone?: "danger" | "primary";
}

export const ACTIONS: Record<string, ActionSpec> = {
  claim: { label: ["认领", "Claim"], reason: "optional", reasonLabel: ["备注", "Note"] },
  assign: { label: ["指派", "Assign"], reason: "optional", reasonLabel: ["备注", "Note"] },
  release: { label: ["释放", "Release"], reason: "optional", reasonLabel: ["备注", "Note"] },
  accept: { label: ["受理", "Accept"], reason: "optional", reasonLabel: ["受理意见", "Note"], tone: "primary" },
  refuse: { label: ["不予受理", "Refuse"], reason: "required", reasonLabel: ["不予受理理由", "Reason for refusal"], tone: "danger" },
  review: { label: ["开始审查", "Start review"], reason: "optional", reasonLabel: ["备注", "Note"], tone: "primary" },
  request_correction: { label: ["要求补正", "Request correction"], reason: "required",
    reasonLabel: ["需补正的内容", "What to correct"] },
  extend: { label: ["延期", "Extend"], reason: "required", reasonLabel: ["延期理由", "Reason for the extension"] },
  approve: { label: ["批准", "Approve"], reason: "optional", reasonLabel: ["审批意见", "Decision note"], tone: "primary" },
  deny: { label: ["不予批准", "Deny"], reason: "required", reasonLabel: ["不予批准理由", "Reason for denial"], tone: "danger" },
  complete: { label: ["办结", "Complete"], reason: "optional", reasonLabel: ["备注", "Note"], tone: "primary" },
};

export function actionLabel(action: string): string {
  const spec = ACTIONS[action];
  if (spec) return t(spec.label[0], spec.label[1]);
  const other: Record<string, [string, string]> = {
    submit: ["提交", "Submit"], save_draft: ["保存草稿", "Save draft"], prereview: ["智能预审", "Pre-review"],
    supplement: ["补正", "Supplement"], withdraw: ["撤回", "Withdraw"], issue_licence: ["出证", "Licence issued"],
    recompute_due_date: ["重算时限", "Due date recomputed"],
  };
  return words(other, action);
}

const TICKET_STATUS: Record<string, [string, string]> = {
  new: ["待认领", "New"], assigned: ["处理中", "Assigned"], waiting_applicant: ["等待申请人", "Waiting for the applicant"],
  resolved: ["已解决", "Resolved"], closed: ["已关闭", "Closed"], reopened: ["已重开", "Reopened"],
};

export function ticketStatusLabel(status: string): string {
  return words(TICKET_STATUS, status);
}

const CLOCK_KIND: Record<string, [string, string]> = {
  first_response: ["首次响应", "First response"], next_response: ["再次响应", "Next response"],
  resolution: ["解决", "Resolution"],
};

export function clockKindLabel(kind: string): string {
  return words(CLOCK_KIND, kind);
}

const PRIORITY: Record<string, [string, string]> = { normal: ["普通", "Normal"], high: ["高", "High"], urgent: ["紧急", "Urgent"] };

export function priorityLabel(priority: string): string {
  return words(PRIORITY, priority);
}

const CHANNEL: Record<string, [string, string]> = {
  online: ["网上", "Online"], hotline: ["热线", "Hotline"], hall: ["大厅", "Hall"], assistant: ["智能助手", "Assistant"],
};

export function channelLabel(channel: string): string {
  return words(CHANNEL, channel);
}
