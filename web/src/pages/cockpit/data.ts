/** What the cockpit reads, all through the gateway with the typed client, for one period and matter. */
import type { Schemas } from "@lvrong/client";
import { api, unwrap } from "../../shared/api";

export type Cockpit = Schemas["Cockpit"];
export type Series = Schemas["CockpitSeries"];
export type Measures = Schemas["MeasuresView"];
export type StallRanking = Schemas["StallRanking"];
export type Interval = "day" | "week";
/** How a figure is computed, as the API returns it beside the figure (kit.kpi.Definition). */
export type Definition = Schemas["Definition"];

/** The parts of GET /v1/helpdesk/reports the cockpit shows (the endpoint documents no schema). */
export interface HelpdeskGroup {
  key: string;
  tickets?: { tickets: number; answered_within_60s: number; first_response_within_60s_rate: number | null;
    response_p50_s: number | null };
  hotline?: { calls: number; calls_connected: number; connect_rate: number | null };
  halls?: { called: number; waits_within_target: number; wait_compliance_rate: number | null; wait_p50_min: number | null };
}
export interface HelpdeskReport {
  from: string; to: string; groups: HelpdeskGroup[];
  definitions: Record<string, Record<string, Definition>>;
}

/** The parts of GET /v1/knowledge/reports the cockpit shows. */
export interface KnowledgeReport {
  from: string; to: string;
  assistant: { sessions: number; resolved: number; unconfirmed: number; resolution_rate: number | null };
  definitions: Record<string, Record<string, Definition>>;
}

export interface Query { from: string; to: string; matter: string; interval: Interval }

export interface Loaded {
  query: Query;
  cockpit: Cockpit;
  series: Series;
  measures: Measures;
  stalls: StallRanking;
  helpdesk: HelpdeskReport;
  knowledge: KnowledgeReport;
}

function isoDay(date: Date): string {
  const shanghai = new Date(date.getTime() + 8 * 3600_000);
  return shanghai.toISOString().slice(0, 10);
}

/** The last 30 days (Asia/Shanghai), today included; by week when longer than two months. */
export function defaultQuery(now = new Date()): Query {
  return { from: isoDay(new Date(now.getTime() - 29 * 86400_000)), to: isoDay(now), matter: "", interval: "day" };
}

export async function load(query: Query): Promise<Loaded> {
  const period = { from: query.from, to: query.to };
  const matter = query.matter || undefined;
  const [cockpit, series, measures, stalls, helpdesk, knowledge] = await Promise.all([
    unwrap(api.GET("/v1/cockpit", { params: { query: { ...period, matter } } })),
    unwrap(api.GET("/v1/cockpit/series", { params: { query: { ...period, matter, interval: query.interval } } })),
    unwrap(api.GET("/v1/prequal/measures", { params: { query: { ...period, matter } } })),
    unwrap(api.GET("/v1/stalls/ranking", { params: { query: period } })),
    unwrap(api.GET("/v1/helpdesk/reports", { params: { query: { ...period, group_by: "none" } } })),
    unwrap(api.GET("/v1/knowledge/reports", { params: { query: period } })),
  ]);
  return { query, cockpit: cockpit as Cockpit, series, measures, stalls,
    helpdesk: helpdesk as unknown as HelpdeskReport, knowledge: knowledge as unknown as KnowledgeReport };
}

/** Every matter the caller may filter by (the cockpit of every matter lists them, names included). */
export async function matterChoices(query: Query): Promise<{ code: string; name_zh: string; name_en: string }[]> {
  const all = await unwrap(api.GET("/v1/cockpit", { params: { query: { from: query.from, to: query.to } } }));
  return (all as Cockpit).matters.map((m) => ({ code: m.matter_code, name_zh: m.name_zh, name_en: m.name_en }));
}
