/** The applicant's words for what the API sends as codes: statuses, stages, sources, licence states. */
import type { Schemas } from "@lvrong/client";
import { t } from "../../shared/i18n";

export type Tone = "ok" | "warn" | "bad" | "info";
type Status = Schemas["ApplicationStatus"];
type Stage = Schemas["Stage"];

const STATUS: Record<Status, [string, string, Tone]> = {
  draft: ["草稿", "Draft", "info"],
  submitted: ["已提交", "Submitted", "info"],
  prereviewed: ["预审通过", "Pre-review passed", "ok"],
  returned: ["退回补正", "Returned for correction", "warn"],
  accepted: ["已受理", "Accepted", "ok"],
  refused: ["不予受理", "Not accepted", "bad"],
  under_review: ["审查中", "Under review", "info"],
  correction_requested: ["需补正材料", "Correction requested", "warn"],
  approved: ["准予许可", "Approved", "ok"],
  denied: ["不予许可", "Denied", "bad"],
  licence_issued: ["已出证", "Licence issued", "ok"],
  completed: ["已办结", "Completed", "ok"],
  withdrawn: ["已撤回", "Withdrawn", "bad"],
};

export function statusLabel(status: Status): string {
  const [zh, en] = STATUS[status] ?? [status, status];
  return t(zh, en);
}

export function statusTone(status: Status): Tone {
  return STATUS[status]?.[2] ?? "info";
}

/** 申请→预审→受理→审查→决定→出证→办结 */
export const STAGES: [Stage, string, string][] = [
  ["apply", "申请", "Apply"],
  ["prereview", "预审", "Pre-review"],
  ["acceptance", "受理", "Acceptance"],
  ["review", "审查", "Review"],
  ["decision", "决定", "Decision"],
  ["issuance", "出证", "Licence"],
  ["completed", "办结", "Completed"],
];

export function stageLabel(stage: Stage): string {
  if (stage === "closed") return t("已终止", "Closed");
  const found = STAGES.find(([code]) => code === stage);
  return found ? t(found[1], found[2]) : stage;
}

const SOURCES: Record<Schemas["PrefilledField"]["source"], [string, string]> = {
  profile: ["个人/单位身份信息", "your identity profile"],
  licence: ["已持有的证照", "a licence you hold"],
  earlier_application: ["以往办件", "an earlier application"],
  business_data: ["企业登记信息", "the business register"],
};

export function sourceLabel(source: Schemas["PrefilledField"]["source"]): string {
  const [zh, en] = SOURCES[source] ?? [source, source];
  return t(zh, en);
}

const LICENCE: Record<Schemas["LicenceView"]["status"], [string, string, Tone]> = {
  active: ["有效", "Valid", "ok"],
  suspended: ["已暂停", "Suspended", "warn"],
  revoked: ["已撤销", "Revoked", "bad"],
  expired: ["已过期", "Expired", "bad"],
};

export function licenceStatusLabel(status: Schemas["LicenceView"]["status"]): string {
  const [zh, en] = LICENCE[status] ?? [status, status];
  return t(zh, en);
}

export function licenceTone(status: Schemas["LicenceView"]["status"]): Tone {
  return LICENCE[status]?.[2] ?? "info";
}

export const KINDS: Record<Schemas["MatterSummary"]["kind"], [string, string]> = {
  licence: ["行政许可", "Licence"],
  filing: ["备案", "Filing"],
  public_service: ["公共服务", "Public service"],
};

export function kindLabel(kind: Schemas["MatterSummary"]["kind"]): string {
  const [zh, en] = KINDS[kind] ?? [kind, kind];
  return t(zh, en);
}

/** The 16 districts of Shanghai, as the pre-review accepts them. */
export const DISTRICTS = ["黄浦区", "徐汇区", "长宁区", "静安区", "普陀区", "虹口区", "杨浦区", "闵行区", "宝山区",
  "嘉定区", "浦东新区", "金山区", "松江区", "青浦区", "奉贤区", "崇明区"];

/** The construction-waste disposal certificate (建筑垃圾处置证) is the licence with live data (亮数). */
export function hasLiveData(licence: Schemas["LicenceView"]): boolean {
  return licence.matter_code === "LR-XK-002" || licence.licence_type === "建筑垃圾处置证";
}
