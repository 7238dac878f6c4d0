/** The plan's promises: each measured figure beside its target, the period it covers and its
 * definition as the API documents it. Rates are fractions 0–1; the target says which way is good. */
import { t } from "../../shared/i18n";
import type { Definition, Loaded } from "./data";

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

/** A rate's definition as the API documents it beside the figure: numerator / denominator. */
export function defined(d: Definition | undefined, fallback: string): string {
  if (!d) return fallback;
  const numerator = t(d.numerator_zh, d.numerator_en);
  return d.denominator_zh ? `${numerator} / ${t(d.denominator_zh, d.denominator_en ?? d.denominator_zh)}` : numerator;
}

export function promises(data: Loaded): Promise_[] {
  const period = `${data.query.from} – ${data.query.to}`;
  const m = data.measures.total;
  const totals = data.cockpit.totals;
  const help = data.helpdesk.groups.find((g) => g.key === "all") ?? { key: "all" };
  const assistant = data.knowledge.assistant;
  const cockpitDefs = data.cockpit.definitions;
  const helpDefs = data.helpdesk.definitions ?? {};
  const knowledgeDefs = data.knowledge.definitions ?? {};
  const ofMatter = data.query.matter ? ` · ${data.query.matter}` : "";
  return [
    { id: "prefill", label: t("智能预填率", "Pre-fill rate"), value: m.prefill_ratio ?? null, target: 0.7, unit: "%",
      direction: "min", period: period + ofMatter, basis: `${m.fields_prefilled} / ${m.form_fields}`,
      definition: defined(data.measures.definitions?.prefill_ratio,
        t("预填字段数 / 表单字段数（期间内发出的预填）", "fields pre-filled / fields in the form, over pre-fills handed out in the period")) },
    { id: "prereview", label: t("智能预审覆盖率", "Pre-review coverage"), value: totals.prereview_coverage ?? null,
      target: 0.9, unit: "%", direction: "min", period: period + ofMatter, basis: `${totals.prereviewed} / ${totals.received}`,
      definition: defined(cockpitDefs.prereview_coverage, t("已预审（通过或退回）/ 收件", "pre-reviewed / received")) },
    { id: "first-time", label: t("首次申请受理成功率", "First-time acceptance"), value: totals.first_time_acceptance_rate ?? null,
      target: 0.9, unit: "%", direction: "min", period: period + ofMatter,
      basis: `${totals.accepted_first_time} / ${totals.acceptance_decided}` +
        t(`（不予受理 ${totals.refused}）`, ` (refused: ${totals.refused})`),
      definition: defined(cockpitDefs.first_time_acceptance_rate,
        t("首次提交即受理 / 已作出受理决定", "accepted on the first submission / acceptance decided")) },
    { id: "assistant", label: t("智能客服解决率", "Assistant resolution"), value: assistant.resolution_rate,
      target: 0.6, unit: "%", direction: "min", period: `${data.knowledge.from} – ${data.knowledge.to}`,
      basis: `${assistant.resolved} / ${assistant.sessions}` +
        t(`（未确认 ${assistant.unconfirmed}，不计为已解决）`, ` (unconfirmed: ${assistant.unconfirmed}, not counted as resolved)`),
      definition: defined(knowledgeDefs.assistant?.resolution_rate,
        t("用户确认已解决的会话 / 会话", "conversations confirmed solved / conversations")) },
    { id: "first-response", label: t("人工首次响应 ≤ 60 秒", "First human response ≤ 60 s"),
      value: help.tickets?.first_response_within_60s_rate ?? null, target: 1, unit: "%", direction: "min", period,
      basis: `${help.tickets?.answered_within_60s ?? 0} / ${help.tickets?.tickets ?? 0}` +
        (help.tickets?.response_p50_s != null ? t(`，中位数 ${help.tickets.response_p50_s} 秒`, `, median ${help.tickets.response_p50_s} s`) : ""),
      definition: defined(helpDefs.tickets?.first_response_within_60s_rate,
        t("60 秒内首次人工响应的工单 / 工单", "tickets first answered within 60 s / tickets")) },
    { id: "hotline", label: t("12345 三方转接接通率", "Hotline transfer connect rate"),
      value: help.hotline?.connect_rate ?? null, target: 0.9, unit: "%", direction: "min", period,
      basis: `${help.hotline?.calls_connected ?? 0} / ${help.hotline?.calls ?? 0}`,
      definition: defined(helpDefs.hotline?.connect_rate,
        t("任一次转接接通的来电 / 来电", "calls where any transfer attempt connected / calls")) },
    { id: "hall-wait", label: t("大厅等候达标率", "Hall waits within target"),
      value: help.halls?.wait_compliance_rate ?? null, target: 1, unit: "%", direction: "min", period,
      basis: `${help.halls?.waits_within_target ?? 0} / ${help.halls?.called ?? 0}` +
        (help.halls?.wait_p50_min != null ? t(`，等候中位数 ${help.halls.wait_p50_min} 分钟`, `, median wait ${help.halls.wait_p50_min} min`) : ""),
      definition: defined(helpDefs.halls?.wait_compliance_rate,
        t("按时叫号的到访 / 已叫号的到访", "visits called within target / visits called")) },
  ];
}
