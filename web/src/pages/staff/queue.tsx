/** The department's applications, earliest statutory due date first: overdue and paused said in words. */
import { useState } from "preact/hooks";
import type { Schemas } from "@lvrong/client";
import { api, unwrap } from "../../shared/api";
import { formatDate, t, useLanguage } from "../../shared/i18n";
import { Badge, ProblemView } from "../../shared/ui";
import { APPLICATION_STATUSES, applicationStatusLabel as statusLabel } from "../../shared/labels";
import { useLoad } from "../../shared/load";

type Item = Schemas["ApplicationListItem"];
type Status = NonNullable<Item["status"]>;
const PAGE_SIZE = 20;

export function ClockBadge(props: { overdue: boolean; paused: boolean; provisional?: boolean; due: string | null | undefined }) {
  if (props.paused) return <Badge tone="info">{t("已暂停计时", "Clock paused")}</Badge>;
  if (props.overdue) return <Badge tone="bad">{t("已超期", "Overdue")}</Badge>;
  if (!props.due) return <Badge tone="info">{t("未计时", "No clock yet")}</Badge>;
  return <Badge tone="ok">{props.provisional ? t("按期（暂定日历）", "On time (provisional calendar)") : t("按期", "On time")}</Badge>;
}

export function HolderText(props: { assignee: string | null | undefined; me: string }) {
  if (!props.assignee) return <span class="hint">{t("未认领", "Unassigned")}</span>;
  return <span>{props.assignee === props.me ? t("我", "Me") : props.assignee}</span>;
}

export function ApplicationQueue(props: { me: string }) {
  useLanguage();
  const [status, setStatus] = useState("");
  const [matter, setMatter] = useState("");
  const [holder, setHolder] = useState("");
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const cursor = cursors[cursors.length - 1];
  const page = useLoad(() => unwrap(api.GET("/v1/applications", { params: { query: {
    sort: "due_date", limit: PAGE_SIZE, ...(cursor ? { cursor } : {}), ...(status ? { status: status as Status } : {}),
    ...(matter.trim() ? { matter: matter.trim().toUpperCase() } : {}), ...(holder ? { assignee: holder } : {}),
  } } })), [status, matter, holder, cursor]);
  const restart = (apply: () => void) => { apply(); setCursors([null]); };
  const items = page.data?.items ?? [];
  return (
    <section class="card" aria-labelledby="queue-title">
      <h2 id="queue-title">{t("办件队列（按法定期限排序）", "Applications by statutory due date")}</h2>
      <form class="filters" onSubmit={(e) => e.preventDefault()} aria-label={t("筛选办件", "Filter applications")}>
        <div>
          <label for="filter-status">{t("状态", "Status")}</label>
          <select id="filter-status" value={status} onChange={(e) => restart(() => setStatus(e.currentTarget.value))}>
            <option value="">{t("全部", "All")}</option>
            {APPLICATION_STATUSES.map((s) => <option value={s}>{statusLabel(s)}</option>)}
          </select>
        </div>
        <div>
          <label for="filter-matter">{t("事项编码", "Matter code")}</label>
          <input id="filter-matter" value={matter} placeholder="LR-XK-008" maxLength={32}
            onChange={(e) => restart(() => setMatter(e.currentTarget.value))} />
        </div>
        <div>
          <label for="filter-holder">{t("承办人", "Held by")}</label>
          <select id="filter-holder" value={holder} onChange={(e) => restart(() => setHolder(e.currentTarget.value))}>
            <option value="">{t("全部", "Everyone")}</option>
            <option value="me">{t("我承办的", "Mine")}</option>
            <option value="none">{t("未认领", "Unassigned")}</option>
          </select>
        </div>
      </form>
      <ProblemView problem={page.problem} />
      <p class="hint" aria-live="polite">{page.loading ? t("正在加载…", "Loading…") : t(`本页 ${items.length} 件`, `${items.length} on this page`)}</p>
      <ul class="queue" aria-label={t("办件", "Applications")}>
        {items.map((a) => (
          <li class={`queue-item${a.overdue ? " is-overdue" : ""}${a.paused ? " is-paused" : ""}`} key={a.id}>
            <a href={`#/applications/${a.id}`}>
              <span class="visually-hidden">{t("办件", "Application")} </span>
              <span class="queue-id" title={a.id}>{a.id.slice(0, 8)}</span>
            </a>
            <span>{a.matter_code}</span>
            <span>{statusLabel(a.status)}</span>
            <span>{t("法定期限", "Due")} {formatDate(a.due_date)}</span>
            <ClockBadge overdue={a.overdue} paused={a.paused ?? false} provisional={a.due_date_provisional} due={a.due_date} />
            <span>{t("承办", "Held by")}: <HolderText assignee={a.assignee} me={props.me} /></span>
          </li>
        ))}
      </ul>
      <nav class="actions" aria-label={t("翻页", "Pages")}>
        <button type="button" disabled={cursors.length < 2} onClick={() => setCursors(cursors.slice(0, -1))}>
          {t("上一页", "Previous page")}
        </button>
        <button type="button" disabled={!page.data?.next_cursor}
          onClick={() => setCursors([...cursors, page.data?.next_cursor ?? null])}>
          {t("下一页", "Next page")}
        </button>
      </nav>
    </section>
  );
}
