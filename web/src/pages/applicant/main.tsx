/** The applicant's H5 (/app/): service guides, applying with pre-fill and a dry-run pre-review, my
 * applications followed live, my licences, 亮证 and 亮数, 一人（企）一码, booking a zoo or botanical-garden visit (预约游园), the inbox (站内信) — one page, routed by the address's hash. */
import { render } from "preact";
import { useClaims } from "../../shared/auth";
import { t, useLanguage } from "../../shared/i18n";
import { Inbox, inboxLabel, NotificationPreferences, useInbox, useInboxLive } from "../../shared/inbox";
import { LoginForm, Shell } from "../../shared/ui";
import { Apply } from "./Apply";
import { ApplicationDetail, ApplicationList } from "./Applications";
import { Assistant } from "./Assistant";
import { BookVisit } from "./Booking";
import { DataHandles, LicenceDetail, LicenceList } from "./Licences";
import { MatterGuide, MatterList } from "./Matters";
import { HolderCode } from "./HolderCode";
import { Present } from "./Present";
import { href, useRoute, type Route } from "./router";
import "./applicant.css";

function titleOf(route: Route): string {
  switch (route.view) {
    case "matters": case "matter": return t("办事指南", "Service guides");
    case "apply": return t("在线申请", "Apply online");
    case "applications": case "application": return t("我的办件", "My applications");
    case "present": return t("亮证", "Show a licence");
    case "data": return t("亮数", "Share live data");
    case "assistant": return t("智能客服", "Ask the assistant");
    case "code": return t("一人（企）一码", "My code");
    case "messages": return t("消息", "Messages");
    case "booking": return t("预约游园", "Book a visit");
    default: return t("我的证照", "My licences");
  }
}

/** Where a notification's subject is on these pages. */
function linkOf(refType: string, refId: string): string | null {
  if (refType === "application") return href("applications", refId);
  if (refType === "licence") return href("licences", refId);
  if (refType === "booking") return href("booking");  // 预约游园 lists the family's bookings
  return null;
}

function View(props: { route: Route }) {
  const route = props.route;
  switch (route.view) {
    case "matters": return <MatterList />;
    case "matter": return <MatterGuide code={route.code} />;
    case "apply": return <Apply code={route.code} />;
    case "applications": return <ApplicationList />;
    case "application": return <ApplicationDetail id={route.id} />;
    case "licences": return <LicenceList />;
    case "licence": return <LicenceDetail id={route.id} />;
    case "present": return <Present id={route.id} />;
    case "data": return <DataHandles id={route.id} />;
    case "assistant": return <Assistant />;
    case "code": return <HolderCode />;
    case "booking": return <BookVisit />;
    case "messages": return <><Inbox linkOf={linkOf} /><NotificationPreferences /></>;
  }
}

function Page() {
  useLanguage();
  const who = useClaims();
  const route = useRoute();
  useInboxLive(who?.sub ?? null);
  const inbox = useInbox();
  const nav = who ? [
    { href: href("matters"), label: t("办事指南", "Service guides") },
    { href: href("applications"), label: t("我的办件", "My applications") },
    { href: href("licences"), label: t("我的证照", "My licences") },
    { href: href("assistant"), label: t("智能客服", "Assistant") },
    { href: href("code"), label: t("一人一码", "My code") },
    { href: href("booking"), label: t("预约游园", "Book a visit") },
    { href: href("messages"), label: inboxLabel(inbox.unread) },
  ] : undefined;
  return (
    // The page's one h1 names the service; each view's own h2 names the view (no heading said twice).
    <Shell title={t("绿容办事", "Lvrong services")} tabTitle={who ? titleOf(route) : t("登录", "Log in")} nav={nav}>
      {who ? <View route={route} /> : (
        <LoginForm hint={t("个人或企业账号登录后办事。演示账号：applicant-person、applicant-company（密码 demo）。",
          "Log in as a person or a company. Demo users: applicant-person, applicant-company (password demo).")} />
      )}
    </Shell>
  );
}

render(<Page />, document.getElementById("root")!);
