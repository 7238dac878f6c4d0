/** The cockpit's charts as data: for each, the table a screen reader (and the CSV) gets and the Chart.js
 * configuration drawn from the same rows. */
import type { ChartConfiguration } from "chart.js";
import { pick, t } from "../../shared/i18n";
import type { Table } from "./csv";
import type { Loaded } from "./data";
import { PALETTE } from "./ChartFigure";
import { formatTarget, formatValue, promises, verdict } from "./promises";

export interface Figure {
  id: string;
  title: string;
  summary: string;
  table: Table;
  config: ChartConfiguration;
  empty: boolean;
}

const STAGES: [string, string, string][] = [
  ["apply", "申请", "Application"], ["prereview", "预审", "Pre-review"], ["acceptance", "受理", "Acceptance"],
  ["review", "审查", "Review"], ["decision", "决定", "Decision"], ["issuance", "出证", "Issuance"],
];

export function verdictText(v: ReturnType<typeof verdict>): string {
  return v === "met" ? t("达标", "Met") : v === "missed" ? t("未达标", "Not met") : t("无数据", "No data");
}

function percent(value: number | null): number | null {
  return value === null ? null : Math.round(value * 1000) / 10;
}

function promisesFigure(data: Loaded): Figure {
  const list = promises(data);
  const table: Table = {
    columns: [t("承诺", "Promise"), t("实测", "Measured"), t("目标", "Target"), t("结果", "Result"), t("期间", "Period"),
      t("分子 / 分母", "Numerator / denominator")],
    rows: list.map((p) => [p.label, formatValue(p.value, p.unit), formatTarget(p), verdictText(verdict(p)), p.period, p.basis]),
  };
  return {
    id: "promises", title: t("承诺与目标", "Promises against their targets"), table, empty: false,
    summary: list.map((p) => `${p.label} ${formatValue(p.value, p.unit)}，${t("目标", "target")} ${formatTarget(p)}，${verdictText(verdict(p))}`).join("；"),
    config: {
      type: "bar",
      data: {
        labels: list.map((p) => p.label),
        datasets: [
          { label: t("实测 (%)", "Measured (%)"), data: list.map((p) => percent(p.value)), backgroundColor: PALETTE[1] },
          { label: t("目标 (%)", "Target (%)"), data: list.map((p) => percent(p.target)), backgroundColor: "#8a8a8a" },
        ],
      },
      options: { indexAxis: "y", scales: { x: { min: 0, max: 100 } } },
    },
  };
}

function volumeFigure(data: Loaded): Figure {
  const buckets = data.series.buckets;
  const keys = [["received", t("收件", "Received")], ["accepted", t("受理", "Accepted")], ["decided", t("决定", "Decided")],
    ["overdue", t("现超期", "Overdue now")]] as const;
  const table: Table = {
    columns: [t("期间起", "Bucket start"), ...keys.map(([, label]) => label)],
    rows: buckets.map((b) => [b.start, ...keys.map(([k]) => b[k])]),
  };
  const total = (k: (typeof keys)[number][0]) => buckets.reduce((sum, b) => sum + b[k], 0);
  return {
    id: "volume", title: t("办件量（按申请日）", "Applications by filing date"), table,
    empty: buckets.every((b) => b.received === 0),
    summary: keys.map(([k, label]) => `${label} ${total(k)}`).join("，") + t(`，共 ${buckets.length} 个时段`, `, over ${buckets.length} buckets`),
    config: {
      type: "bar",
      data: { labels: buckets.map((b) => b.start),
        datasets: keys.map(([k, label], i) => ({ label, data: buckets.map((b) => b[k]), backgroundColor: PALETTE[i] })) },
      options: { scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } },
    },
  };
}

function stageFigure(data: Loaded): Figure {
  const buckets = data.series.buckets;
  const hours = (stage: string) => buckets.map((b) => b.stage_times.find((s) => s.stage === stage)?.median_hours ?? null);
  const present = STAGES.filter(([stage]) => hours(stage).some((h) => h !== null));
  const table: Table = {
    columns: [t("期间起", "Bucket start"), ...present.map(([, zh, en]) => t(`${zh}（小时，中位数）`, `${en} (hours, median)`))],
    rows: buckets.map((b, i) => [b.start, ...present.map(([stage]) => hours(stage)[i])]),
  };
  return {
    id: "stages", title: t("各环节用时（中位数，小时）", "Time per stage (median hours)"), table, empty: present.length === 0,
    summary: present.map(([stage, zh, en]) => {
      const values = hours(stage).filter((h): h is number => h !== null);
      return `${t(zh, en)} ${t("最长", "up to")} ${Math.max(...values)} ${t("小时", "h")}`;
    }).join("，"),
    config: {
      type: "line",
      data: { labels: buckets.map((b) => b.start),
        datasets: present.map(([stage, zh, en], i) => ({ label: t(zh, en), data: hours(stage), borderColor: PALETTE[i],
          backgroundColor: PALETTE[i], spanGaps: true })) },
      options: { scales: { y: { beginAtZero: true } } },
    },
  };
}

/** Horizontal bars of whole counts per matter: one dataset per (label, counts, colour). */
function countBars(labels: string[], datasets: [string, number[], string][]): ChartConfiguration {
  return {
    type: "bar",
    data: { labels, datasets: datasets.map(([label, data, colour]) => ({ label, data, backgroundColor: colour })) },
    options: { indexAxis: "y", scales: { x: { beginAtZero: true, ticks: { precision: 0 } } } },
  };
}

function stallsFigure(data: Loaded): Figure {
  const ranked = data.stalls.matters.slice(0, 10);
  const table: Table = {
    columns: [t("事项", "Matter"), t("堵点数", "Stalls"), t("未解决", "Open"), t("损失小时", "Hours lost")],
    rows: ranked.map((r) => [r.label_zh ? `${r.key} ${r.label_zh}` : r.key, r.stalls, r.open, r.hours_lost]),
  };
  return {
    id: "stalls", title: t("堵点排行", "Stalls ranking"), table, empty: ranked.length === 0,
    summary: ranked.slice(0, 3).map((r) => `${r.key} ${r.stalls}`).join("，"),
    config: countBars(ranked.map((r) => r.key), [[t("堵点数", "Stalls"), ranked.map((r) => r.stalls), PALETTE[2]],
      [t("未解决", "Open"), ranked.map((r) => r.open), PALETTE[3]]]),
  };
}

function backlogFigure(data: Loaded): Figure {
  const rows = data.cockpit.matters.filter((m) => m.backlog > 0 || m.overdue > 0)
    .sort((a, b) => b.overdue - a.overdue || b.backlog - a.backlog);
  const table: Table = {
    columns: [t("事项", "Matter"), t("积压", "Backlog"), t("超期", "Overdue"), t("暂定时限", "Provisional due dates")],
    rows: rows.map((m) => [`${m.matter_code} ${pick(m.name_zh, m.name_en)}`, m.backlog, m.overdue, m.provisional_due_dates ?? 0]),
  };
  return {
    id: "backlog", title: t("当前积压与超期", "Backlog and overdue now"), table, empty: rows.length === 0,
    summary: t(`积压 ${data.cockpit.totals.backlog}，超期 ${data.cockpit.totals.overdue}`,
      `backlog ${data.cockpit.totals.backlog}, overdue ${data.cockpit.totals.overdue}`),
    config: countBars(rows.map((m) => m.matter_code), [[t("积压", "Backlog"), rows.map((m) => m.backlog), PALETTE[1]],
      [t("超期", "Overdue"), rows.map((m) => m.overdue), PALETTE[3]]]),
  };
}

export function figures(data: Loaded): Figure[] {
  return [promisesFigure(data), volumeFigure(data), stageFigure(data), stallsFigure(data), backlogFigure(data)];
}
