/** Help-desk agents: the queue, most urgent first, with the SLA clocks; claim, answer and resolve. */
import { useState } from "preact/hooks";
import type { Problem, Schemas } from "@lvrong/client";
import { api, unwrap } from "../../shared/api";
import { formatDateTime, t, useLanguage } from "../../shared/i18n";
import { Badge, ProblemView, problemOf } from "../../shared/ui";
import { channelLabel, clockKindLabel, priorityLabel, ticketStatusLabel } from "./labels";
import { useLoad } from "../../shared/load";

type Ticket = Schemas["TicketView"];
type Clock = Schemas["ClockView"];
const PAGE_SIZE = 20;

const TICKET_ACTIONS: Record<string, [string, string]> = {
  claim: ["认领", "Claim"], resolve: ["解决", "Resolve"], wait_for_applicant: ["等待申请人", "Wait for the applicant"],
  close: ["关闭", "Close"], reopen: ["重开", "Reopen"],
};

function DueBadge(props: { due: string | null | undefined; paused?: boolean; breached?: boolean }) {
  if (props.paused) return <Badge tone="info">{t("已暂停", "Paused")}</Badge>;
  if (props.breached || (props.due && new Date(props.due).getTime() < Date.now())) return <Badge tone="bad">{t("已超时", "Breached")}</Badge>;
  if (!props.due) return <Badge tone="info">{t("无时限", "No clock")}</Badge>;
  return <Badge tone="ok">{t("未超时", "Within time")}</Badge>;
}

function ClockRow(props: { clock: Clock }) {
  const c = props.clock;
  const state = c.stopped_at ? (c.met ? <Badge tone="ok">{t("已达标", "Met")}</Badge> : <Badge tone="bad">{t("未达标", "Missed")}</Badge>)
    : <DueBadge due={c.due_at} paused={c.paused} breached={c.breached} />;
  return (
    <tr>
      <th scope="row">{clockKindLabel(c.kind)}</th>
      <td>{formatDateTime(c.due_at)}{c.due_at_provisional ? t("（暂定）", " (provisional)") : ""}</td>
      <td>{state}</td>
      <td>{c.percent_used}%</td>
    </tr>
  );
}

export function TicketQueue() {
  useLanguage();
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const cursor = cursors[cursors.length - 1];
  const page = useLoad(() => unwrap(api.GET("/v1/helpdesk/queue", { params: { query: {
    limit: PAGE_SIZE, ...(cursor ? { cursor } : {}) } } })), [cursor]);
  const items = page.data?.items ?? [];
  return (
    <section class="card" aria-labelledby="tickets-title">
      <h2 id="tickets-title">{t("帮办工单（最紧急的在前）", "Help tickets, most urgent first")}</h2>
      <ProblemView problem={page.problem} />
      <p class="hint" aria-live="polite">{page.loading ? t("正在加载…", "Loading…") : t(`本页 ${items.length} 件`, `${items.length} on this page`)}</p>
      <ul class="queue" aria-label={t("工单", "Tickets")}>
        {items.map((ticket) => (
          <li class="queue-item" key={ticket.id}>
            <a href={`#/tickets/${ticket.id}`}>{ticket.subject}</a>
            <span>{ticketStatusLabel(ticket.status)}</span>
            <span>{priorityLabel(ticket.priority)} · {channelLabel(ticket.channel)}</span>
            <span>{t("时限", "Due")} {formatDateTime(ticket.due_at)}</span>
            <DueBadge due={ticket.due_at} paused={ticket.status === "waiting_applicant"} />
            <span>{t("承办", "Held by")}: {ticket.assigned_agent ?? t("未认领", "Unassigned")}</span>
          </li>
        ))}
      </ul>
      <nav class="actions" aria-label={t("工单翻页", "Ticket pages")}>
        <button type="button" disabled={cursors.length < 2} onClick={() => setCursors(cursors.slice(0, -1))}>{t("上一页", "Previous page")}</button>
        <button type="button" disabled={!page.data?.next_cursor}
          onClick={() => setCursors([...cursors, page.data?.next_cursor ?? null])}>{t("下一页", "Next page")}</button>
      </nav>
    </section>
  );
}

function Messages(props: { id: string; version: number; canWrite: boolean; onSent: () => void }) {
  useLanguage();
  const messages = useLoad(() => unwrap(api.GET("/v1/tickets/{ticket_id}/messages", { params: { path: { ticket_id: props.id } } })),
    [props.id, props.version]);
  const [text, setText] = useState("");
  const [problem, setProblem] = useState<Problem | null>(null);
  const [busy, setBusy] = useState(false);
  async function send(event: Event) {
    event.preventDefault();
    setBusy(true);
    setProblem(null);
    try {
      await unwrap(api.POST("/v1/tickets/{ticket_id}/messages", { params: { path: { ticket_id: props.id } }, body: { body: text } }));
      setText("");
      props.onSent();
    } catch (error) {
      setProblem(problemOf(error));
    } finally {
      setBusy(false);
    }
  }
  const author = (kind: string) => ({ applicant: t("申请人", "Applicant"), agent: t("帮办人员", "Agent"),
    assistant: t("智能助手", "Assistant"), system: t("系统", "System") } as Record<string, string>)[kind] ?? kind;
  return (
    <section class="card" aria-labelledby="messages-title">
      <h2 id="messages-title">{t("对话", "Conversation")}</h2>
      <ProblemView problem={messages.problem} />
      <ol class="timeline">
        {(messages.data ?? []).map((m) => (
          <li><strong>{author(m.author_kind)}</strong> <span class="hint">{formatDateTime(m.created_at)}</span><div>{m.body}</div></li>
        ))}
      </ol>
      {props.canWrite && (
        <form onSubmit={send}>
          <label for="ticket-answer">{t("答复", "Answer")}</label>
          <textarea id="ticket-answer" rows={4} required maxLength={5000} value={text} onInput={(e) => setText(e.currentTarget.value)} />
          <ProblemView problem={problem} />
          <div class="actions"><button type="submit" class="primary" disabled={busy}>{t("发送答复", "Send answer")}</button></div>
        </form>
      )}
    </section>
  );
}

export function TicketDetail(props: { id: string }) {
  useLanguage();
  const [round, setRound] = useState(0);
  const loaded = useLoad(() => unwrap(api.GET("/v1/tickets/{ticket_id}", { params: { path: { ticket_id: props.id } } })), [props.id, round]);
  const [note, setNote] = useState("");
  const [problem, setProblem] = useState<Problem | null>(null);
  const [done, setDone] = useState("");
  const ticket: Ticket | null = loaded.data;
  async function act(action: string) {
    setProblem(null);
    try {
      await unwrap(api.POST("/v1/tickets/{ticket_id}/actions/{action}", { params: { path: { ticket_id: props.id, action } },
        body: note.trim() ? { note: note.trim() } : {} }));
      setNote("");
      setDone(action);
      setRound((r) => r + 1);
    } catch (error) {
      setProblem(problemOf(error));
    }
  }
  const actions = (ticket?.allowed_actions ?? []).filter((a) => a in TICKET_ACTIONS);
  const label = (a: string) => t(TICKET_ACTIONS[a][0], TICKET_ACTIONS[a][1]);
  return (
    <>
      <p><a href="#/tickets">{t("← 返回工单队列", "← Back to the tickets")}</a></p>
      <ProblemView problem={loaded.problem} />
      {ticket && (
        <>
          <section class="card" aria-labelledby="ticket-title">
            <h2 id="ticket-title">{ticket.subject}</h2>
            <dl class="facts">
              <dt>{t("状态", "Status")}</dt><dd data-testid="ticket-status">{ticketStatusLabel(ticket.status)}</dd>
              <dt>{t("优先级", "Priority")}</dt><dd>{priorityLabel(ticket.priority)}</dd>
              <dt>{t("渠道", "Channel")}</dt><dd>{channelLabel(ticket.channel)}</dd>
              <dt>{t("事项", "Matter")}</dt><dd>{ticket.matter_code ?? "—"}</dd>
              <dt>{t("承办", "Held by")}</dt><dd>{ticket.assigned_agent ?? t("未认领", "Unassigned")}</dd>
              <dt>{t("联系人", "Contact")}</dt><dd>{[ticket.contact_name, ticket.contact_phone].filter(Boolean).join(" ") || "—"}</dd>
            </dl>
            <h3>{t("服务时限", "Service-level clocks")}</h3>
            <div class="table-scroll">
              <table>
                <caption class="visually-hidden">{t("响应与解决时限", "Response and resolution clocks")}</caption>
                <thead><tr><th scope="col">{t("时限", "Clock")}</th><th scope="col">{t("到期", "Due")}</th>
                  <th scope="col">{t("状态", "State")}</th><th scope="col">{t("已用", "Used")}</th></tr></thead>
                <tbody>{ticket.clocks.map((c) => <ClockRow clock={c} />)}</tbody>
              </table>
            </div>
          </section>
          <section class="card" aria-labelledby="ticket-actions-title">
            <h2 id="ticket-actions-title">{t("办理", "Actions")}</h2>
            <p role="status" class="hint">{done && TICKET_ACTIONS[done] ? t(`已${label(done)}`, `Done: ${label(done)}`) : ""}</p>
            {actions.length > 0 && (
              <>
                <label for="ticket-note">{t("备注（选填）", "Note (optional)")}</label>
                <input id="ticket-note" maxLength={1000} value={note} onInput={(e) => setNote(e.currentTarget.value)} />
              </>
            )}
            <div class="actions">
              {actions.map((a) => <button type="button" onClick={() => act(a)}>{label(a)}</button>)}
            </div>
            <ProblemView problem={problem} />
          </section>
          <Messages id={ticket.id} version={round} canWrite={!["resolved", "closed"].includes(ticket.status)}
            onSent={() => setRound((r) => r + 1)} />
        </>
      )}
    </>
  );
}
