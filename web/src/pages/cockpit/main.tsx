import { render } from "preact";
import { useEffect, useMemo, useState } from "preact/hooks";
import { hasRole, useClaims } from "../../shared/auth";
import { pick, t, useLanguage } from "../../shared/i18n";
import { useLoad } from "../../shared/load";
import { Badge, LoginForm, ProblemView, Shell } from "../../shared/ui";
import { ChartFigure } from "./ChartFigure";
import { defaultQuery, load, matterChoices, type Interval, type Loaded, type Query } from "./data";
import { figures, verdictText } from "./figures";
import { formatTarget, formatValue, promises, verdict } from "./promises";
import "./cockpit.css";

function Filters(props: { query: Query; matters: { code: string; name_zh: string; name_en: string }[];
  busy: boolean; onApply: (query: Query) => void }) {
  const [draft, setDraft] = useState(props.query);
  const set = (change: Partial<Query>) => setDraft({ ...draft, ...change });
  return (
    <form class="card filters" aria-labelledby="filters-title"
      onSubmit={(e) => { e.preventDefault(); props.onApply(draft); }}>
      <h2 id="filters-title">{t("统计期间与事项", "Period and matter")}</h2>
      <div class="filter-fields">
        <div>
          <label for="period-from">{t("开始日期", "From")}</label>
          <input id="period-from" type="date" required value={draft.from} max={draft.to}
            onInput={(e) => set({ from: e.currentTarget.value })} />
        </div>
        <div>
          <label for="period-to">{t("结束日期", "To")}</label>
          <input id="period-to" type="date" required value={draft.to} min={draft.from}
            onInput={(e) => set({ to: e.currentTarget.value })} />
        </div>
        <div>
          <label for="matter">{t("事项", "Matter")}</label>
          <select id="matter" value={draft.matter} onChange={(e) => set({ matter: e.currentTarget.value })}>
            <option value="">{t("全部事项", "Every matter")}</option>
            {props.matters.map((m) => <option value={m.code}>{m.code} {pick(m.name_zh, m.name_en)}</option>)}
          </select>
        </div>
        <div>
          <label for="interval">{t("时间粒度", "Interval")}</label>
          <select id="interval" value={draft.interval} onChange={(e) => set({ interval: e.currentTarget.value as Interval })}>
            <option value="day">{t("按日", "By day")}</option>
            <option value="week">{t("按周", "By week")}</option>
          </select>
        </div>
      </div>
      <div class="actions">
        <button type="submit" class="primary" disabled={props.busy}>{t("查询", "Show")}</button>
      </div>
    </form>
  );
}

function PromiseCards(props: { data: Loaded }) {
  return (
    <section aria-labelledby="promises-cards-title">
      <h2 id="promises-cards-title">{t("承诺达标情况", "Promises kept")}</h2>
      <ul class="promise-cards">
        {promises(props.data).map((p) => {
          const v = verdict(p);
          return (
            <li class={`card promise promise-${v}`} id={`promise-${p.id}`}>
              <h3>{p.label}</h3>
              <p class="promise-figure">
                <span class="promise-value">{formatValue(p.value, p.unit)}</span>
                <span class="promise-target">{t("目标", "Target")} {formatTarget(p)}</span>
              </p>
              <Badge tone={v === "met" ? "ok" : v === "missed" ? "bad" : "info"}>{verdictText(v)}</Badge>
              <p class="hint">{t("期间", "Period")}: {p.period} · {p.basis}</p>
              <p class="hint">{t("口径", "Definition")}: {p.definition}</p>
            </li>
          );
        })}
      </ul>
    </section>
  );
}

function Dashboard() {
  const [query, setQuery] = useState(defaultQuery());
  // A newer query's answer is never overwritten by an older, slower one (shared/load.ts).
  const { data, problem, loading: busy } = useLoad(() => load(query), [query]);
  const [matters, setMatters] = useState<{ code: string; name_zh: string; name_en: string }[]>([]);
  useEffect(() => { matterChoices(query).then(setMatters).catch(() => undefined); }, []);
  const lang = useLanguage();
  const charts = useMemo(() => (data ? figures(data) : []), [data, lang]);
  return (
    <>
      <Filters query={query} matters={matters} busy={busy} onApply={setQuery} />
      <ProblemView problem={problem} />
      <p class="visually-hidden" role="status">{busy ? t("正在加载", "Loading") : data ? t("已更新", "Updated") : ""}</p>
      {data && (
        <>
          <p class="hint">{t("期间", "Period")} {data.query.from} – {data.query.to}（Asia/Shanghai）
            {data.cockpit.department ? ` · ${data.cockpit.department}` : ""}</p>
          <PromiseCards data={data} />
          <div class="dashboard">
            {charts.map((f) => (
              <ChartFigure id={f.id} title={f.title} summary={f.summary} table={f.table} config={f.config} empty={f.empty}
                csvName={`cockpit-${f.id}-${data.query.matter || "all"}-${data.query.from}-${data.query.to}.csv`} />
            ))}
          </div>
        </>
      )}
    </>
  );
}

function Page() {
  useLanguage();
  const who = useClaims();
  const allowed = who && (hasRole("ops_admin") || hasRole("inspector"));
  return (
    <Shell title={t("运营驾驶舱", "Operations cockpit")}>
      {!who && <LoginForm hint={t("运营人员与督查人员登录后查看。", "For operations staff and inspectors.")} />}
      {who && !allowed && <p class="problem">{t("驾驶舱仅供运营与督查人员使用。", "The cockpit is for operations staff and inspectors.")}</p>}
      {allowed && <Dashboard />}
    </Shell>
  );
}

render(<Page />, document.getElementById("root")!);
