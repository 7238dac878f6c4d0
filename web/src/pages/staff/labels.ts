/** The workbench's words for the API's codes (statuses, actions, clocks), Chinese first. */
import { t } from "../../shared/i18n";

const STATUS: Record<string, [string, string]> = {
  draft: ["草稿", "Draft"], submitted: ["已提交", "Submitted"], prereviewed: ["预审通过", "Pre-review passed"],
  returned: ["退回补正", "Returned for correction"], accepted: ["已受理", "Accepted"], refused: ["不予受理", "Refused"],
  under_review: ["审查中", "Under review"], correction_requested: ["待补正", "Correction requested"],
  approved: ["准予许可", "Approved"], denied: ["不予许可", "Denied"], licence_issued: ["已出证", "Licence issued"],
  completed: ["已办结", "Completed"], withdrawn: ["已撤回", "Withdrawn"],
};

export function statusLabel(status: string): string {
  const pair = STATUS[status];
  return pair ? t(pair[0], pair[1]) : status;
}

export const APPLICATION_STATUSES = Object.keys(STATUS);

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
  return other[action] ? t(other[action][0], other[action][1]) : action;
}

const TICKET_STATUS: Record<string, [string, string]> = {
  new: ["待认领", "New"], assigned: ["处理中", "Assigned"], waiting_applicant: ["等待申请人", "Waiting for the applicant"],
  resolved: ["已解决", "Resolved"], closed: ["已关闭", "Closed"], reopened: ["已重开", "Reopened"],
};

export function ticketStatusLabel(status: string): string {
  const pair = TICKET_STATUS[status];
  return pair ? t(pair[0], pair[1]) : status;
}

const CLOCK_KIND: Record<string, [string, string]> = {
  first_response: ["首次响应", "First response"], next_response: ["再次响应", "Next response"],
  resolution: ["解决", "Resolution"],
};

export function clockKindLabel(kind: string): string {
  const pair = CLOCK_KIND[kind];
  return pair ? t(pair[0], pair[1]) : kind;
}

const PRIORITY: Record<string, [string, string]> = { normal: ["普通", "Normal"], high: ["高", "High"], urgent: ["紧急", "Urgent"] };

export function priorityLabel(priority: string): string {
  const pair = PRIORITY[priority];
  return pair ? t(pair[0], pair[1]) : priority;
}

const CHANNEL: Record<string, [string, string]> = {
  online: ["网上", "Online"], hotline: ["热线", "Hotline"], hall: ["大厅", "Hall"], assistant: ["智能助手", "Assistant"],
};

export function channelLabel(channel: string): string {
  const pair = CHANNEL[channel];
  return pair ? t(pair[0], pair[1]) : channel;
}
