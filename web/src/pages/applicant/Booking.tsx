/** 预约游园 (Book a visit): a family books a zoo or botanical garden of 三省一市 by real name — province → venue →
 * day → time slot with the places left; the visitor's name, resident ID number and mobile; a full slot offers its
 * waiting list (候补). Below, "my bookings": the booking code as text and QR for the gate, the status, the place on
 * the waiting list, and cancelling until the cut-off (the API's refusal shown). */
import type { Problem, Schemas } from "@lvrong/client";
import { idempotencyKey } from "@lvrong/client";
import qrcode from "qrcode-generator";
import { useMemo, useRef, useState } from "preact/hooks";
import { api, unwrap } from "../../shared/api";
import { formatDate, pick, t, todayInShanghai, useLanguage } from "../../shared/i18n";
import { words, type Tone } from "../../shared/labels";
import { useLoad } from "../../shared/load";
import { Badge, problemOf, ProblemView } from "../../shared/ui";
import { QrCode } from "./qr";

type Booking = Schemas["BookingView"];
type Slot = Schemas["SlotView"];

const PROVINCES: [Schemas["VenueView"]["province"], string, string][] = [
  ["SH", "上海", "Shanghai"], ["JS", "江苏", "Jiangsu"], ["ZJ", "浙江", "Zhejiang"], ["AH", "安徽", "Anhui"],
];
export const BOOKING_STATUS: Record<Schemas["BookingView"]["status"], [string, string, Tone]> = {
  booked: ["已预约", "Booked", "ok"],
  waiting: ["候补中", "On the waiting list", "warn"],
  entered: ["已入园", "Entered", "info"],
  cancelled: ["已取消", "Cancelled", "bad"],
  no_show: ["爽约", "No-show", "bad"],
  expired: ["候补未成功", "Waiting list ended without a place", "bad"],
};

/** The booking code as a QR the gate's scanner reads (made on the page: the code is all it holds). */
function codeSvg(code: string): string {
  const qr = qrcode(0, "M");
  qr.addData(code);
  qr.make();
  return qr.createSvgTag({ cellSize: 4, margin: 4, scalable: true });
}

/** The field errors of a 422 for ``person.<name>`` (or ``<name>``). */
function fieldError(problem: Problem | null, name: string): string | null {
  const error = problem?.errors?.find((e) => e.field === name || e.field.endsWith("." + name));
  return error ? pick(error.message, error.message_en) : null;
}

export function BookVisit() {
  useLanguage();
  const [province, setProvince] = useState<string>("SH");
  const [venueId, setVenueId] = useState("");
  const [day, setDay] = useState(todayInShanghai());
  const [slotStart, setSlotStart] = useState("");
  const [person, setPerson] = useState({ name: "", id_number: "", phone: "" });
  const [problem, setProblem] = useState<Problem | null>(null);
  const [made, setMade] = useState<Booking | null>(null);
  const [busy, setBusy] = useState(false);
  const key = useRef(idempotencyKey());
  const venues = useLoad(() => unwrap(api.GET("/v1/booking/venues", { params: { query: { province: province as "SH" } } })),
    [province]);
  const slots = useLoad(() => venueId
    ? unwrap(api.GET("/v1/booking/venues/{venue_id}/slots", { params: { path: { venue_id: venueId }, query: { date: day } } }))
    : Promise.resolve([] as Slot[]), [venueId, day]);
  const mine = useLoad(() => unwrap(api.GET("/v1/booking/bookings")), []);
  const chosen = slots.data?.find((s) => s.start === slotStart) ?? null;
  const full = chosen !== null && chosen.remaining <= 0;

  async function book(event: Event) {
    event.preventDefault();
    if (!chosen) return;
    setBusy(true);
    setProblem(null);
    setMade(null);
    try {
      const booking = await unwrap(api.POST("/v1/booking/bookings", {
        params: { header: { "Idempotency-Key": key.current } },
        body: { venue_id: venueId, day, slot_start: chosen.start, wait_if_full: full,
          person: { name: person.name.trim(), id_number: person.id_number.trim(), phone: person.phone.trim() || null } },
      }));
      setMade(booking);
      setPerson({ name: "", id_number: "", phone: "" });  // the next visitor starts from an empty form
      key.current = idempotencyKey();  // the next booking is a new one
      mine.reload();
      slots.reload();
    } catch (error) {
      setProblem(problemOf(error));
      // A refusal the API answered is final: a retry after a fix is a new request (a lost answer keeps the key).
      if (problemOf(error).status !== 0) key.current = idempotencyKey();
      slots.reload();
    } finally {
      setBusy(false);
    }
  }

  function personField(name: "name" | "id_number" | "phone", label: string, extra: Record<string, string>) {
    const error = fieldError(problem, name);
    const id = `booking-${name}`;
    return (
      <div class={`app-field${error ? " app-field-invalid" : ""}`}>
        <label for={id}>{label}</label>
        <input id={id} name={name} value={person[name]} aria-invalid={error ? "true" : undefined}
          aria-describedby={error ? `${id}-error` : undefined} {...extra}
          onInput={(e) => setPerson({ ...person, [name]: e.currentTarget.value })} />
        {error && <p id={`${id}-error`} class="field-error">{error}</p>}
      </div>
    );
  }

  return (
    <section aria-labelledby="booking-title">
      <h2 id="booking-title">{t("预约游园", "Book a visit")}</h2>
      <p class="hint">{t("沪苏浙皖动物园、植物园统一预约，实名入园，每人每天每个场馆限约一次。",
        "Zoos and botanical gardens of Shanghai, Jiangsu, Zhejiang and Anhui: one real-name booking per person, venue and day.")}</p>
      <form class="card" onSubmit={book} aria-labelledby="booking-form-title">
        <h3 id="booking-form-title">{t("选择场馆和时段", "Choose a venue and a time slot")}</h3>
        <label for="booking-province">{t("省市", "Province")}</label>
        <select id="booking-province" value={province}
          onChange={(e) => { setProvince(e.currentTarget.value); setVenueId(""); setSlotStart(""); }}>
          {PROVINCES.map(([code, zh, en]) => <option value={code}>{t(zh, en)}</option>)}
        </select>
        <label for="booking-venue">{t("场馆", "Venue")}</label>
        <select id="booking-venue" value={venueId} required
          onChange={(e) => { setVenueId(e.currentTarget.value); setSlotStart(""); }}>
          <option value="">{t("请选择", "Choose")}</option>
          {(venues.data ?? []).map((v) => <option value={v.id}>{v.name} · {v.city}</option>)}
        </select>
        <ProblemView problem={venues.problem} />
        <label for="booking-day">{t("日期", "Day")}</label>
        <input id="booking-day" type="date" min={todayInShanghai()} value={day} required
          onInput={(e) => { setDay(e.currentTarget.value); setSlotStart(""); }} />
        {venueId && (
          <fieldset>
            <legend>{t("时段", "Time slot")}</legend>
            {slots.data && slots.data.length === 0 && <p>{t("当日闭园或无可约时段", "Closed that day, or no slot to book")}</p>}
            {(slots.data ?? []).map((s) => (
              <div class="app-check">
                <input type="radio" id={`slot-${s.start}`} name="slot" value={s.start} checked={slotStart === s.start}
                  onChange={() => setSlotStart(s.start)} />
                <label for={`slot-${s.start}`}>{s.start}–{s.end} · {s.remaining > 0
                  ? t(`余 ${s.remaining} 个`, `${s.remaining} left`)
                  : t(`已约满，候补 ${s.waiting} 人`, `Full, ${s.waiting} waiting`)}</label>
              </div>
            ))}
            <ProblemView problem={slots.problem} />
          </fieldset>
        )}
        <h3>{t("游客实名信息", "The visitor, by real name")}</h3>
        {personField("name", t("姓名", "Name"), { autocomplete: "name", required: "" })}
        {personField("id_number", t("身份证号码", "Resident ID number"), { autocomplete: "off", required: "" })}
        {personField("phone", t("手机号码", "Mobile number"), { autocomplete: "tel", inputmode: "tel" })}
        <ProblemView problem={problem} />
        <button type="submit" class="primary" disabled={busy || !chosen}>
          {full ? t("加入候补", "Join the waiting list") : t("预约", "Book")}</button>
      </form>
      {made && (
        <p role="status" class="card">{made.status === "waiting"
          ? t(`已加入候补，第 ${made.waiting_position ?? "?"} 位`, `On the waiting list, number ${made.waiting_position ?? "?"}`)
          : t(`预约成功，预约码 ${made.code}`, `Booked: code ${made.code}`)}</p>
      )}
      <MyBookings bookings={mine.data} problem={mine.problem} onChanged={() => { mine.reload(); slots.reload(); }} />
    </section>
  );
}

function MyBookings(props: { bookings: Booking[] | null; problem: Problem | null; onChanged: () => void }) {
  return (
    <section aria-labelledby="my-bookings-title">
      <h3 id="my-bookings-title">{t("我的预约", "My bookings")}</h3>
      <ProblemView problem={props.problem} />
      {props.bookings && props.bookings.length === 0 && <p>{t("暂无预约", "No bookings yet")}</p>}
      {props.bookings && props.bookings.length > 0 && (
        <ul class="app-list">
          {props.bookings.map((b) => <li key={b.id} class="card app-item"><BookingCard booking={b} onChanged={props.onChanged} /></li>)}
        </ul>
      )}
    </section>
  );
}

function BookingCard(props: { booking: Booking; onChanged: () => void }) {
  const b = props.booking;
  const [problem, setProblem] = useState<Problem | null>(null);
  const svg = useMemo(() => codeSvg(b.code), [b.code]);
  const tone = BOOKING_STATUS[b.status][2];
  async function cancel() {
    setProblem(null);
    try {
      await unwrap(api.POST("/v1/booking/bookings/{booking_id}/cancel", { params: { path: { booking_id: b.id } } }));
      props.onChanged();
    } catch (error) {
      setProblem(problemOf(error));
    }
  }
  return (
    <article aria-label={`${b.venue_name} ${b.code}`}>
      <p class="app-item-title">{b.venue_name}</p>
      <p>{formatDate(b.day)} · {b.slot_start}–{b.slot_end} · {b.person_name}</p>
      <p><Badge tone={tone}>{words(BOOKING_STATUS, b.status)}</Badge>
        {b.status === "waiting" && b.waiting_position ? t(` 第 ${b.waiting_position} 位`, ` number ${b.waiting_position}`) : ""}</p>
      {(b.status === "booked" || b.status === "waiting") && (
        <>
          <p>{t("预约码：", "Booking code: ")}<strong data-testid="booking-code" class="app-break">{b.code}</strong></p>
          {b.status === "booked" && <div class="app-qr-card"><QrCode svg={svg} label={t("预约码二维码", "Booking code QR")} /></div>}
          <button type="button" class="app-small" onClick={() => void cancel()}>{t("取消预约", "Cancel the booking")}</button>
        </>
      )}
      <ProblemView problem={problem} />
    </article>
  );
}
