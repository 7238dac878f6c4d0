/**
 * The inbox (站内信) every logged-in page shares: the unread count, kept live over the notifications
 * stream (one stream a page, reconnecting with the last notification id), the list newest first and
 * paged (opening one marks it read), "mark all read", and the person's channel preferences (e-mail,
 * mobile — shown masked as the API returns them — and, per kind, e-mail / SMS / 随申办 push).
 */
import type { Problem, Schemas } from "@lvrong/client";
import type { ComponentChildren } from "preact";
import { useEffect, useState } from "preact/hooks";
import { api, unwrap } from "./api";
import { formatDateTime, pick, t, useLanguage } from "./i18n";
import { NOTIFICATION_KIND, NOTIFICATION_KINDS, words } from "./labels";
import { useLoad } from "./load";
import { followStream } from "./stream";
import { Badge, problemOf, ProblemView } from "./ui";

type Notification = Schemas["NotificationView"];
type Kind = Notification["kind"];
type Channel = "email" | "sms" | "push";
const CHANNELS: [Channel, string, string][] = [["email", "邮件", "E-mail"], ["sms", "短信", "SMS"], ["push", "随申办推送", "App push"]];

// What the page knows of the inbox: the unread count and a round that moves on whenever the inbox changed
// (a notification arrived, one or all were read), so the list reloads.
let unread: number | null = null;
let round = 0;
const listeners = new Set<() => void>();

function changed(): void {
  round += 1;
  listeners.forEach((notify) => notify());
}

async function refreshCount(): Promise<void> {
  try {
    unread = (await unwrap(api.GET("/v1/notifications/unread-count"))).unread;
  } catch {
    return;  // offline or logged out: the badge keeps what it showed
  }
  changed();
}

/** The unread count (null until known) and the inbox's round, re-rendering when either changes. */
export function useInbox(): { unread: number | null; round: number } {
  const [, setSeen] = useState(0);
  useEffect(() => {
    const notify = () => setSeen((n) => n + 1);
    listeners.add(notify);
    return () => void listeners.delete(notify);
  }, []);
  return { unread, round };
}

/** Keep the count live while ``subject`` is logged in: counted again each time the stream (re)connects,
 * so nothing made between the count and the stream is missed, and at each new notification. */
export function useInboxLive(subject: string | null): void {
  useEffect(() => {
    unread = null;
    changed();
    if (!subject) return;
    return followStream("/v1/notifications/stream", "notification", null, {
      onEvent: () => void refreshCount(),
      onState: (state) => { if (state === "live") void refreshCount(); },
    });
  }, [subject]);
}

/** The nav's label for the inbox: "消息" and, when there are, the unread count in words and a badge. */
export function inboxLabel(count: number | null): ComponentChildren {
  return (
    <>
      {t("消息", "Messages")}
      {count ? <> <span class="badge badge-bad inbox-badge" data-testid="unread-badge">{count}</span>
        <span class="visually-hidden">{t(" 条未读", " unread")}</span></> : null}
    </>
  );
}

export function Inbox(props: { linkOf: (refType: string, refId: string) => string | null }) {
  useLanguage();
  const { unread: count, round: current } = useInbox();
  const [items, setItems] = useState<Notification[]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [open, setOpen] = useState<number | null>(null);
  const [problem, setProblem] = useState<Problem | null>(null);

  async function load(cursor: string | null) {
    try {
      const page = await unwrap(api.GET("/v1/notifications", { params: { query: { limit: 20, ...(cursor ? { cursor } : {}) } } }));
      setItems((before) => cursor ? [...before, ...page.items] : page.items);
      setNext(page.next_cursor ?? null);
      setProblem(null);
    } catch (error) {
      setProblem(problemOf(error));
    }
  }
  // The first page again whenever the inbox changed (what was loaded further is loaded again on request).
  useEffect(() => void load(null), [current]);

  async function openOne(n: Notification) {
    setOpen(open === n.id ? null : n.id);
    if (n.read) return;
    try {
      await unwrap(api.POST("/v1/notifications/{notification_id}/read", { params: { path: { notification_id: n.id } } }));
      await refreshCount();
    } catch (error) {
      setProblem(problemOf(error));
    }
  }

  async function readAll() {
    try {
      await unwrap(api.POST("/v1/notifications/read-all"));
      await refreshCount();
    } catch (error) {
      setProblem(problemOf(error));
    }
  }

  return (
    <section aria-labelledby="inbox-title">
      <h2 id="inbox-title">{t("消息", "Messages")}</h2>
      <p role="status" data-testid="unread-count">{count === null ? "" : count === 0 ? t("没有未读消息", "No unread messages")
        : t(`${count} 条未读`, `${count} unread`)}</p>
      <p><button type="button" disabled={!count} onClick={() => void readAll()}>{t("全部标为已读", "Mark all read")}</button></p>
      <ProblemView problem={problem} />
      {items.length === 0 && !problem && <p>{t("暂无消息。", "No messages yet.")}</p>}
      <ul class="inbox-list" aria-label={t("消息列表", "Message list")}>
        {items.map((n) => {
          const link = n.ref_type && n.ref_id ? props.linkOf(n.ref_type, n.ref_id) : null;
          return (
            <li key={n.id} class={`card inbox-item${n.read ? "" : " is-unread"}`}>
              <button type="button" class="inbox-open" aria-expanded={open === n.id} onClick={() => void openOne(n)}>
                {!n.read && <><Badge tone="bad">{t("未读", "Unread")}</Badge> </>}
                <span class="inbox-title">{pick(n.title_zh, n.title_en)}</span>
              </button>
              <p class="hint">{words(NOTIFICATION_KIND, n.kind)} · <time dateTime={n.created_at}>{formatDateTime(n.created_at)}</time></p>
              {open === n.id && (
                <div class="inbox-body">
                  <p class="inbox-text">{pick(n.body_zh, n.body_en)}</p>
                  {link && <p><a href={link}>{t("查看详情", "Open it")}</a></p>}
                </div>
              )}
            </li>
          );
        })}
      </ul>
      {next && <p><button type="button" onClick={() => void load(next)}>{t("加载更多", "Load more")}</button></p>}
    </section>
  );
}

export function NotificationPreferences() {
  useLanguage();
  const saved = useLoad(() => unwrap(api.GET("/v1/notifications/preferences")), []);
  const [email, setEmail] = useState("");
  const [phone, setPhone] = useState("");
  const [channels, setChannels] = useState<Partial<Record<Kind, Partial<Record<Channel, boolean>>>> | null>(null);
  const [problem, setProblem] = useState<Problem | null>(null);
  const [done, setDone] = useState(false);
  const shown = channels ?? saved.data?.channels ?? {};
  const on = (kind: Kind, channel: Channel) => shown[kind]?.[channel] ?? true;  // every channel on until switched off

  function toggle(kind: Kind, channel: Channel, value: boolean) {
    setDone(false);
    setChannels({ ...shown, [kind]: { ...(shown[kind] ?? {}), [channel]: value } });
  }

  async function save(body: Schemas["PreferencesUpdate"]) {
    setDone(false);
    try {
      await unwrap(api.PUT("/v1/notifications/preferences", { body }));
      setProblem(null);
      setEmail("");
      setPhone("");
      setChannels(null);
      saved.reload();
      setDone(true);
    } catch (error) {
      setProblem(problemOf(error));
    }
  }

  function submit(event: Event) {
    event.preventDefault();
    const full: Record<string, Record<string, boolean>> = {};
    for (const kind of NOTIFICATION_KINDS) full[kind] = Object.fromEntries(CHANNELS.map(([c]) => [c, on(kind, c)]));
    void save({ channels: full, ...(email.trim() ? { email: email.trim() } : {}), ...(phone.trim() ? { phone: phone.trim() } : {}) });
  }

  const s = saved.data;
  return (
    <section class="card" aria-labelledby="preferences-title">
      <h3 id="preferences-title">{t("通知设置", "Notification settings")}</h3>
      <ProblemView problem={saved.problem} />
      {s && (
        <form onSubmit={submit}>
          <p>{t("当前邮箱：", "E-mail now: ")}<span data-testid="email-now">{s.email ?? t("未设置", "not set")}</span>
            {s.email && <> <button type="button" onClick={() => void save({ email: null })}>{t("删除邮箱", "Remove the e-mail")}</button></>}</p>
          <label for="preferences-email">{t("新邮箱（不改请留空）", "New e-mail (leave empty to keep)")}</label>
          <input id="preferences-email" type="email" autocomplete="email" value={email} onInput={(e) => setEmail(e.currentTarget.value)} />
          <p>{t("当前手机号：", "Mobile now: ")}<span data-testid="phone-now">{s.phone ?? t("未设置", "not set")}</span>
            {s.phone && <> <button type="button" onClick={() => void save({ phone: null })}>{t("删除手机号", "Remove the mobile")}</button></>}</p>
          <label for="preferences-phone">{t("新手机号（不改请留空）", "New mobile number (leave empty to keep)")}</label>
          <input id="preferences-phone" type="tel" autocomplete="tel" inputMode="numeric" value={phone}
            onInput={(e) => setPhone(e.currentTarget.value)} />
          <table class="inbox-channels">
            <caption>{t("各类通知的发送渠道（站内信总会收到）", "Where each kind is sent (the inbox always gets it)")}</caption>
            <thead><tr><th scope="col">{t("类别", "Kind")}</th>{CHANNELS.map(([, zh, en]) => <th scope="col">{t(zh, en)}</th>)}</tr></thead>
            <tbody>
              {NOTIFICATION_KINDS.map((kind) => (
                <tr>
                  <th scope="row">{words(NOTIFICATION_KIND, kind)}</th>
                  {CHANNELS.map(([channel, zh, en]) => (
                    <td><input type="checkbox" checked={on(kind, channel)}
                      aria-label={`${words(NOTIFICATION_KIND, kind)} · ${t(zh, en)}`}
                      onChange={(e) => toggle(kind, channel, e.currentTarget.checked)} /></td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
          <ProblemView problem={problem} />
          <p><button type="submit" class="primary">{t("保存设置", "Save the settings")}</button></p>
          {done && <p role="status">{t("已保存", "Saved")}</p>}
        </form>
      )}
    </section>
  );
}
