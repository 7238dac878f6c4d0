/** 亮证: the licence's short-lived signed presentation as a large, high-contrast QR code with the
 * licence's name, number and status and a countdown, renewed automatically before it expires. A
 * suspended, revoked or expired licence cannot be shown (the API answers 409): the page says so. */
import type { Problem, Schemas } from "@lvrong/client";
import { useEffect, useRef, useState } from "preact/hooks";
import { api, unwrap } from "../../shared/api";
import { pick, t, useLanguage } from "../../shared/i18n";
import { Badge, problemOf, ProblemView } from "../../shared/ui";
import { licenceStatusLabel } from "./labels";
import { LicenceHeading } from "./Licences";
import { useLoad } from "../../shared/load";
import { Countdown, QrCode } from "./qr";
import { href } from "./router";

interface Shown {
  presentation: Schemas["PresentationView"];
  /** When the code expires, on this device's clock (the server's expiry less the server's time). */
  expiresAt: number;
  lifetime: number;
}

/** Renew when a quarter of the lifetime (at least 5 s) is left, so a scan never meets an expired code. */
export function renewDelay(lifetimeMs: number): number {
  return Math.max(0, lifetimeMs - Math.max(5000, lifetimeMs / 4));
}

export function Present(props: { id: string }) {
  useLanguage();
  const licence = useLoad(() => unwrap(api.GET("/v1/licences/{licence_id}", { params: { path: { licence_id: props.id } } })), [props.id]);
  const [shown, setShown] = useState<Shown | null>(null);
  const [refused, setRefused] = useState<Problem | null>(null);
  const [problem, setProblem] = useState<Problem | null>(null);
  const [renewals, setRenewals] = useState(0);
  const [now, setNow] = useState(Date.now());
  const timer = useRef<number | undefined>(undefined);
  const alive = useRef(true);

  async function present(isRenewal: boolean) {
    window.clearTimeout(timer.current);
    try {
      const presentation = await unwrap(api.POST("/v1/licences/{licence_id}/presentations",
        { params: { path: { licence_id: props.id } } }));
      if (!alive.current) return;
      // Counted from the API's own lifetime, not from this phone's clock (which may be wrong).
      const lifetime = Math.max(1000, presentation.expires_in * 1000);
      setShown({ presentation, expiresAt: Date.now() + lifetime, lifetime });
      setProblem(null);
      if (isRenewal) setRenewals((n) => n + 1);
      timer.current = window.setTimeout(() => void present(true), renewDelay(lifetime));
    } catch (error) {
      if (!alive.current) return;
      const p = problemOf(error);
      if (p.status === 409) {
        setRefused(p);
        setShown(null);
        void licence.reload();
        return;
      }
      setProblem(p);
      // A network hiccup: try again shortly, while the code on screen may still be valid.
      timer.current = window.setTimeout(() => void present(true), 3000);
    }
  }

  // Only an active licence is asked for a code: for any other the API's answer is 409, and the page
  // says so without asking (a status that changed since the page loaded still gets the 409 handled).
  const active = licence.data?.status === "active";
  useEffect(() => {
    if (!active) return;
    alive.current = true;
    void present(false);
    const tick = window.setInterval(() => setNow(Date.now()), 1000);
    let lock: { release: () => Promise<void> } | null = null;
    const wakeLock = (navigator as Navigator & { wakeLock?: { request: (kind: "screen") => Promise<{ release: () => Promise<void> }> } }).wakeLock;
    wakeLock?.request("screen").then((l) => { lock = l; }).catch(() => undefined);
    return () => {
      alive.current = false;
      window.clearTimeout(timer.current);
      window.clearInterval(tick);
      void lock?.release().catch(() => undefined);
    };
  }, [props.id, active]);

  const secondsLeft = shown ? Math.max(0, Math.ceil((shown.expiresAt - now) / 1000)) : 0;
  const l = licence.data;
  return (
    <section class="app-present" aria-labelledby="present-title">
      <p><a href={href("licences", props.id)}>{t("← 证照详情", "← The licence")}</a></p>
      <h2 id="present-title">{t("亮证", "Show the licence")}</h2>
      {l && <LicenceHeading licence={l} />}
      {(refused || (l && l.status !== "active")) && (
        <div class="problem" role="alert">
          <p class="problem-title">{t("此证照不能亮证", "This licence cannot be shown")}</p>
          <p>{l && l.status !== "active"
            ? t(`证照状态为“${licenceStatusLabel(l.status)}”，暂停、撤销或过期的证照不能出示。`,
              `The licence is ${licenceStatusLabel(l.status).toLowerCase()}: a suspended, revoked or expired licence cannot be shown.`)
            : t("证照当前状态不允许出示。", "The licence's status does not allow showing it now.")}</p>
          {refused && <p class="hint">{pick(refused.title_zh, refused.title_en)}</p>}
        </div>
      )}
      <ProblemView problem={problem} />
      {shown && (
        <div class="app-qr-card app-present-card">
          <QrCode svg={shown.presentation.qr_svg} label={t("亮证二维码", "Licence QR code")} />
          <Countdown seconds={secondsLeft} />
          <p class="visually-hidden" aria-live="polite">
            {renewals > 0 ? t(`二维码已自动更新 ${renewals} 次`, `QR code renewed ${renewals} time(s)`) : ""}</p>
          {renewals > 0 && <p><Badge tone="ok">{t(`已自动更新 ${renewals} 次`, `Renewed ${renewals} time(s)`)}</Badge></p>}
        </div>
      )}
      {!shown && !refused && !problem && (!l || active) && <p role="status">{t("正在生成亮证码…", "Creating the code…")}</p>}
    </section>
  );
}
