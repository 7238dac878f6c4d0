/** The applicant's words for what the API sends as codes: statuses, stages, sources, licence states. */
import type { Schemas } from "@lvrong/client";
import { t } from "../../shared/i18n";
import { type Tone, words } from "../../shared/labels";

type Stage = Schemas["Stage"];

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
  return words(SOURCES, source);
}

const LICENCE: Record<Schemas["LicenceView"]["status"], [string, string, Tone]> = {
  active: ["有效", "Valid", "ok"],
  suspended: ["已暂停", "Suspended", "warn"],
  revoked: ["已撤销", "Revoked", "bad"],
  expired: ["已过期", "Expired", "bad"],
};

export function licenceStatusLabel(status: Schemas["LicenceView"]["status"]): string {
  return words(LICENCE, status);
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
  return words(KINDS, kind);
}

/** The 16 districts of Shanghai, as the pre-review accepts them. */
export const DISTRICTS = ["黄浦区", "徐汇区", "长宁区", "静安区", "普陀区", "虹口区", "杨浦区", "闵行区", "宝山区",
  "嘉定区", "浦东新区", "金山区", "松江区", "青浦区", "奉贤区", "崇明区"];

/** The construction-waste disposal certificate (建筑垃圾处置证) is the licence with live data (亮数). */
export function hasLiveData(licence: Schemas["LicenceView"]): boolean {
  return licence.matter_code === "LR-XK-002" || licence.licence_type === "建筑垃圾处置证";
}

/** 分 → 元, two decimals. */
export function yuan(fen: number): string {
  return (fen / 100).toFixed(2);
}
