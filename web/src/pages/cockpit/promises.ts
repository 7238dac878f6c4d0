/** The plan's promises: each measured figure beside its target, the period it covers and its
 * definition as the API documents it. Rates are fractions 0–1; the target says which way is good. */
import { t } from "../../shared/i18n";
import type { Loaded } from "./data";

export interface Promise_ {
  id: string;
  label: string;
  value: number | null;
  target: number;
  unit: "%" | "s";
  /** "min": the value must reach the target; "max": it must not exceed it. */
  direction: "min" | "max";
  period: string;
  basis: string;
  definition: string;
}

export type Verdict = "met" | "missed" | "no-data";

export function verdict(p: Promise_): Verdict {
  if (p.value === null) return "no-data";
  return (p.direction === "min" ? p.value >= p.target : p.value <= p.target) ? "met" : "missed";
}

export function formatValue(value: number | null, unit: "%" | "s"): string {
  if (value === null) return "—";
  return unit === "%" ? `${(value * 100).toFixed(1)} %` : `${value.toFixed(1)} s`;
}

export function formatTarget(p: Promise_): string {
  return `${p.direction === "min" ? "≥" : "≤"} ${formatValue(p.target, p.unit)}`;
}

export function promises(data: Loaded): Promise_[] {
  const period = `${data.query.from} – ${data.query.to}`;
  const m = data.measures.total;
  const totals = data.cockpit.totals;
  const help = data.helpdesk.groups.find((g) => g.key === "all") ?? { key: "all" };
  const assistant = data.knowledge.assistant;
  const ofMatter = data.query.matter ? ` · ${data.query.matter}` : "";
  return [
    { id: "prefill", label: t("智能预填率", "Pre-fill rate"), value: m.prefill_ratio ?? null, target: 0.7, unit: "%",
      direction: "min", period: period + ofMatter, basis: `${m.fields_prefilled} / ${m.form_fields}`,
      definition: t("预填字段数 / 表单字段数（期间内发出的预填）", "fields pre-filled / fields in the form, over pre-fills handed out in the period") },
    { id: "prereview", label: t("智能预审覆盖率", "Pre-review coverage"), value: totals.prereview_coverage ?? null,
      target: 0.9, unit: "%", direction: "min", period: period + ofMatter, basis: `${totals.prereviewed} / ${totals.received}`,
      definition: t("已预审（通过或退回）/ 收件", "pre-reviewed (a verdict, passed or returned) / received") },
    { id: "first-time", label: t("一次受理率", "First-time acceptance"), value: totals.first_time_acceptance_rate ?? null,
      target: 0.9, unit: "%", direction: "min", period: period + ofMatter,
      basis: `${totals.accepted_first_time} / ${totals.accepted}`,
      definition: t("首次提交即受理（受理前无补正）/ 受理", "accepted on their first attempt (no correction before acceptance) / accepted") },
    { id: "assistant", label: t("智能客服解决率", "Assistant resolution"), value: assistant.resolution_rate,
      target: 0.6, unit: "%", direction: "min", period: t("全部会话（接口不分期间）", "all sessions (the API has no period)"),
      basis: `${assistant.resolved} / ${assistant.sessions}`,
      definition: t("（标记已解决的会话 + 已回答、未转人工且未标记未解决的会话）/ 至少提过一个问题的会话",
        "(sessions marked solved + sessions with an answer, no hand-over and no 'unsolved' mark) / sessions with at least one question") },
    { id: "first-response", label: t("人工首次响应 ≤ 60 秒", "First human response ≤ 60 s"),
      value: help.tickets?.first_response_within_60s_rate ?? null, target: 1, unit: "%", direction: "min", period,
      basis: `${help.tickets?.answered_within_60s ?? 0} / ${help.tickets?.tickets ?? 0}` +
        (help.tickets?.response_p50_s != null ? t(`，中位数 ${help.tickets.response_p50_s} 秒`, `, median ${help.tickets.response_p50_s} s`) : ""),
      definition: t("60 秒内首次人工响应的工单 / 工单（承诺：每一单 1 分钟内响应）",
        "tickets first answered within 60 s / tickets (the promise: every one within a minute)") },
    { id: "hotline", label: t("12345 三方转接接通率", "Hotline transfer connect rate"),
      value: help.hotline?.connect_rate ?? null, target: 0.9, unit: "%", direction: "min", period,
      basis: `${help.hotline?.calls_connected ?? 0} / ${help.hotline?.calls ?? 0}`,
      definition: t("任一次转接接通的来电 / 来电", "calls where any transfer attempt connected / calls") },
    { id: "hall-wait", label: t("大厅等候达标率", "Hall waits within target"),
      value: help.halls?.wait_compliance_rate ?? null, target: 1, unit: "%", direction: "min", period,
      basis: `${help.halls?.waits_within_target ?? 0} / ${help.halls?.called ?? 0}` +
        (help.halls?.wait_p50_min != null ? t(`，等候中位数 ${help.halls.wait_p50_min} 分钟`, `, median wait ${help.halls.wait_p50_min} min`) : ""),
      definition: t("一般事项 10 分钟、复杂事项 30 分钟内叫号的到访 / 已叫号的到访（承诺：每一位）",
        "visits called within 10 min (general) or 30 min (complex) / visits called (the promise: every one)") },
  ];
}
