/** 实名核验入园 at a venue's gate: venue staff check at their own venue (the one their account's department names;
 * ops and inspectors choose any), enter a visitor's booking code or resident ID
 * number and see "admitted" or why not (no booking, another venue, another day, too early, too late, already
 * entered, cancelled, waiting, no-show) in Chinese or English; below, the venue's day report (booked, entered,
 * cancelled, no-shows, waiting, per slot). */
import type { Problem, Schemas } from "@lvrong/client";
import { useEffect, useState } from "preact/hooks";
import { api, unwrap } from "../../shared/api";
import { useClaims } from "../../shared/auth";
import { formatDateTime, pick, t, todayInShanghai, useLanguage } from "../../shared/i18n";
import { words } from "../../shared/labels";
import { useLoad } from "../../shared/load";
import { Badge, problemOf, ProblemView } from "../../shared/ui";

// The gate's refusal (the problem's ``reason``), in words.
const REFUSALS: Record<string, [string, string]> = {
  no_booking: ["未找到预约", "No booking found"],
  wrong_venue: ["不是本场馆的预约", "Booked for another venue"],
  wrong_day: ["不是今天的预约", "Booked for another day"],
  too_early: ["未到入园时间", "Too early for the slot"],
  too_late: ["预约时段已结束", "The slot has ended"],
  entered: ["已入园，不能重复入园", "Already entered"],
  cancelled: ["预约已取消", "The booking was cancelled"],
  waiting: ["仍在候补，未获名额", "Still on the waiting list"],
  no_show: ["已记爽约", "Marked as a no-show"],
  expired: ["候补未成功，无入园名额", "The waiting list ended without a place"],
};

export function Gate() {
  useLanguage();
  const venues = useLoad(() => unwrap(api.GET("/v1/booking/venues")), []);
  const who = useClaims();
  const roles = who?.roles ?? [];
  // svc-booking lets a venue's own staff check and read only the venue their department names.
  const anyVenue = roles.includes("ops_admin") || roles.includes("inspector");
  const choices = (venues.data ?? []).filter((v) => anyVenue || v.name === who?.department);
  const [venueId, setVenueId] = useState("");
  useEffect(() => {
    if (!venueId && choices.length === 1) setVenueId(choices[0].id);
  }, [venueId, choices.length]);
  const [by, setBy] = useState<"code" | "id_number">("code");
  const [text, setText] = useState("");
  const [busy, setBusy] = useState(false);
  const [admitted, setAdmitted] = useState<Schemas["BookingView"] | null>(null);
  const [refused, setRefused] = useState<Problem | null>(null);
  const [day, setDay] = useState(todayInShanghai());
  const report = useLoad(() => venueId
    ? unwrap(api.GET("/v1/booking/venues/{venue_id}/report", { params: { path: { venue_id: venueId }, query: { date: day } } }))
    : Promise.resolve(null), [venueId, day]);

  async function check(event: Event) {
    event.preventDefault();
    setBusy(true);
    setAdmitted(null);
    setRefused(null);
    try {
      const value = text.trim();
      setAdmitted(await unwrap(api.POST("/v1/booking/gate/entries", {
        body: by === "code" ? { venue_id: venueId, code: value } : { venue_id: venueId, id_number: value } })));
      setText("");
      report.reload();
    } catch (error) {
      setRefused(problemOf(error));
    } finally {
      setBusy(false);
    }
  }

  const reason = (refused as (Problem & { reason?: string }) | null)?.reason;
  return (
    <section aria-labelledby="gate-title">
      <h2 id="gate-title">{t("实名核验入园", "Gate check")}</h2>
      <form class="card" onSubmit={check}>
        <label for="gate-venue">{t("场馆", "Venue")}</label>
        <select id="gate-venue" value={venueId} required onChange={(e) => setVenueId(e.currentTarget.value)}>
          <option value="">{t("请选择", "Choose")}</option>
          {choices.map((v) => <option value={v.id}>{v.name}</option>)}
        </select>
        <ProblemView problem={venues.problem} />
        {venues.data && choices.length === 0 &&
          <p role="alert">{t("您的账号不属于任何场馆，请联系运维人员", "Your account belongs to no venue: ask ops")}</p>}
        <fieldset>
          <legend>{t("核验方式", "Check by")}</legend>
          <label><input type="radio" name="gate-by" checked={by === "code"} onChange={() => setBy("code")} />
            {t("预约码", "Booking code")}</label>
          <label><input type="radio" name="gate-by" checked={by === "id_number"} onChange={() => setBy("id_number")} />
            {t("身份证号码", "Resident ID number")}</label>
        </fieldset>
        <label for="gate-text">{by === "code" ? t("填写预约码", "Enter the booking code") : t("填写身份证号码", "Enter the ID number")}</label>
        <input id="gate-text" autocomplete="off" required value={text} onInput={(e) => setText(e.currentTarget.value)} />
        <button type="submit" class="primary" disabled={busy || !venueId}>{t("核验", "Check")}</button>
      </form>
      {admitted && (
        <section class="card" aria-labelledby="gate-admitted-title" role="status">
          <h3 id="gate-admitted-title"><Badge tone="ok">{t("准予入园", "Admitted")}</Badge></h3>
          <p>{admitted.person_name} · {admitted.id_number} · {admitted.slot_start}–{admitted.slot_end}
            {admitted.entered_at ? ` · ${formatDateTime(admitted.entered_at)}` : ""}</p>
        </section>
      )}
      {refused && (
        <section class="card" aria-labelledby="gate-refused-title">
          <h3 id="gate-refused-title">{t("不能入园", "No entry")}</h3>
          {reason && <p data-testid="gate-refusal"><Badge tone="bad">{words(REFUSALS, reason)}</Badge></p>}
          <ProblemView problem={refused} />
        </section>
      )}
      {venueId && (
        <section class="card" aria-labelledby="gate-report-title">
          <h3 id="gate-report-title">{t("当日报表", "The day's report")}</h3>
          <label for="gate-day">{t("日期", "Day")}</label>
          <input id="gate-day" type="date" value={day} onInput={(e) => setDay(e.currentTarget.value)} />
          <ProblemView problem={report.problem} />
          {report.data && <DayReport report={report.data} />}
        </section>
      )}
    </section>
  );
}

function DayReport(props: { report: Schemas["DayReport"] }) {
  const r = props.report;
  const heads: [string, string][] = [["时段", "Slot"], ["容量", "Capacity"], ["已约", "Taken"], ["余量", "Left"], ["候补", "Waiting"]];
  return (
    <>
      <dl class="facts" data-testid="gate-report">
        <dt>{t("容量", "Capacity")}</dt><dd>{r.capacity}</dd>
        <dt>{t("已预约", "Booked")}</dt><dd>{r.booked}</dd>
        <dt>{t("已入园", "Entered")}</dt><dd>{r.entered}</dd>
        <dt>{t("已取消", "Cancelled")}</dt><dd>{r.cancelled}</dd>
        <dt>{t("爽约", "No-shows")}</dt><dd>{r.no_show}</dd>
        <dt>{t("候补", "Waiting")}</dt><dd>{r.waiting}</dd>
        <dt>{t("候补未成功", "Waiting, no place")}</dt><dd>{r.expired}</dd>
      </dl>
      <table>
        <thead><tr>{heads.map(([zh, en]) => <th scope="col">{pick(zh, en)}</th>)}</tr></thead>
        <tbody>
          {r.slots.map((s) => (
            <tr><td>{s.start}–{s.end}</td><td>{s.capacity}</td><td>{s.taken}</td><td>{s.remaining}</td><td>{s.waiting}</td></tr>
          ))}
        </tbody>
      </table>
    </>
  );
}
