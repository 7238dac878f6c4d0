/**
 * The staff workbench (工作台): window officers and reviewers work the department's applications, by
 * statutory due date, claim them and move them on; help-desk agents answer tickets within their SLA
 * clocks; ops see both. Window officers and inspectors scan a holder's 一人（企）一码 (``#/scan``); everyone has
 * the inbox (站内信, ``#/messages``: officers and reviewers get statutory clock warnings there), its unread
 * count live in the nav. Venue staff check visitors in at a zoo or garden's gate and read its day (``#/gate``). Routes live in the hash: ``#/applications/<id>``, ``#/tickets``, ``#/tickets/<id>``.
 */
import { render } from "preact";
import { useEffect } from "preact/hooks";
import { api } from "../../shared/api";
import { useClaims } from "../../shared/auth";
import { t, useLanguage } from "../../shared/i18n";
import { LoginForm, Shell, type NavLink } from "../../shared/ui";
import { ApplicationDetail } from "./application";
import { Inbox, inboxLabel, NotificationPreferences, useInbox, useInboxLive } from "../../shared/inbox";
import { hashParts, useHash } from "../../shared/load";
import { ApplicationQueue } from "./queue";
import { Gate } from "./gate";
import { HolderCodeScan } from "./scan";
import { TicketDetail, TicketQueue } from "./tickets";
import "./staff.css";

const HANDLERS = ["window_officer", "reviewer"];
const SCANNERS = ["window_officer", "inspector"];
const GATE = ["venue_staff", "ops_admin"];

/** Where a notification's subject is on the workbench. */
function linkOf(refType: string, refId: string): string | null {
  if (refType === "application") return `#/applications/${encodeURIComponent(refId)}`;
  if (refType === "ticket") return `#/tickets/${encodeURIComponent(refId)}`;
  return null;
}

function Page() {
  useLanguage();
  const who = useClaims();
  const route = hashParts(useHash());
  const roles = who?.roles ?? [];
  const handles = roles.some((r) => HANDLERS.includes(r));
  const seesApplications = handles || roles.includes("ops_admin");
  const seesTickets = roles.includes("helpdesk_agent") || roles.includes("ops_admin");
  const scans = roles.some((r) => SCANNERS.includes(r));
  const gate = roles.some((r) => GATE.includes(r));
  useInboxLive(who?.sub ?? null);
  const inbox = useInbox();
  useEffect(() => {
    // A window officer or reviewer at the workbench is a colleague applications can be assigned to.
    if (handles) void api.PUT("/v1/applications/handlers/me").catch(() => undefined);
  }, [who?.sub, handles]);
  if (!who) {
    return (
      <Shell title={t("工作台", "Workbench")}>
        <LoginForm hint={t("工作人员登录（受理、审查、帮办、运维）", "Staff log in (window, review, help desk, operations)")} />
      </Shell>
    );
  }
  const nav: NavLink[] = [
    ...(seesApplications ? [{ href: "#/", label: t("办件队列", "Applications") }] : []),
    ...(seesTickets ? [{ href: "#/tickets", label: t("帮办工单", "Help tickets") }] : []),
    ...(scans ? [{ href: "#/scan", label: t("扫码查看", "Scan a code") }] : []),
    ...(gate ? [{ href: "#/gate", label: t("入园核验", "Gate check") }] : []),
    { href: "#/messages", label: inboxLabel(inbox.unread) },
  ];
  const [section, id] = route;
  let body;
  if (section === "messages") body = <><Inbox linkOf={linkOf} /><NotificationPreferences /></>;
  else if (section === "scan" && scans) body = <HolderCodeScan />;
  else if (section === "gate" && gate) body = <Gate />;
  else if (section === "applications" && id && seesApplications) body = <ApplicationDetail id={id} me={who.sub} />;
  else if (section === "tickets" && id && seesTickets) body = <TicketDetail id={id} />;
  else if ((section === "tickets" || !seesApplications) && seesTickets) body = <TicketQueue />;
  else if (seesApplications) body = <ApplicationQueue me={who.sub} />;
  else if (scans) body = <HolderCodeScan />;
  else if (gate) body = <Gate />;
  else body = <p role="alert">{t("您的角色不使用工作台。", "Your role does not use the workbench.")}</p>;
  return (
    <Shell title={t("工作台", "Workbench")} nav={nav.length > 1 ? nav : undefined}>
      <p class="hint">{t("当前用户：", "Logged in as ")}{who.name ?? who.sub}{who.department ? ` · ${who.department}` : ""}</p>
      {body}
    </Shell>
  );
}

render(<Page />, document.getElementById("root")!);
