/** 一人（企）一码: the holder's own code — they choose what a scanning inspector or window officer may see
 * (valid licences, open applications), then show a QR that renews itself before it expires (a new code
 * supersedes the previous one at once); below, who scanned their codes and what it showed. */
import type { Problem, Schemas } from "@lvrong/client";
import { useEffect, useRef, useState } from "preact/hooks";
import { api, unwrap } from "../../shared/api";
import { t, useLanguage } from "../../shared/i18n";
import { problemOf, ProblemView } from "../../shared/ui";
import { useLoad } from "../../shared/load";
import { Countdown, QrCode } from "./qr";
import { renewDelay } from "./Present";

type Consent = Schemas["HolderCodeCreate"]["consent"][number];
const RESULTS: Record<string, [string, string]> = {
  shown: ["已出示", "shown"], expired: ["码已过期", "expired code"], superseded: ["旧码", "superseded code"],
  invalid: ["无效码", "invalid code"],
};

export function HolderCode() {
  useLanguage();
  const [consent, setConsent] = useState<Consent[]>(["licences"]);
  const [code, setCode] = useState<{ view: Schemas["HolderCodeView"]; expiresAt: number } | null>(null);
  const [problem, setProblem] = useState<Problem | null>(null);
  const [now, setNow] = useState(Date.now());
  const timer = useRef<number | undefined>(undefined);
  const scans = useLoad(() => unwrap(api.GET("/v1/licences/holder-codes/scans")), []);

  async function generate(chosen: Consent[]) {
    window.clearTimeout(timer.current);
    try {
      const view = await unwrap(api.POST("/v1/licences/holder-codes", { body: { consent: chosen } }));
      const lifetime = Math.max(1000, view.expires_in * 1000);
      setCode({ view, expiresAt: Date.now() + lifetime });
      setProblem(null);
      timer.current = window.setTimeout(() => void generate(chosen), renewDelay(lifetime));
    } catch (error) {
      setProblem(problemOf(error));
    }
  }

  useEffect(() => {
    const tick = window.setInterval(() => setNow(Date.now()), 1000);
    return () => { window.clearInterval(tick); window.clearTimeout(timer.current); };
  }, []);

  function toggle(which: Consent, on: boolean) {
    const next = on ? [...new Set([...consent, which])] : consent.filter((c) => c !== which);
    setConsent(next);
    window.clearTimeout(timer.current);
    setCode(null);  // a code shows what was consented to when it was made: choose, then show a new one
  }

  const secondsLeft = code ? Math.max(0, Math.ceil((code.expiresAt - now) / 1000)) : 0;
  return (
    <section class="app-present" aria-labelledby="code-title">
      <h2 id="code-title">{t("一人（企）一码", "My code")}</h2>
      <p class="hint">{t("检查人员或窗口人员扫码后，只能看到您同意出示的内容；每次扫码都会记录。",
        "An inspector or window officer who scans it sees only what you consent to; every scan is recorded.")}</p>
      <fieldset>
        <legend>{t("同意出示", "I consent to show")}</legend>
        <label><input type="checkbox" name="consent-licences" checked={consent.includes("licences")}
          onChange={(e) => toggle("licences", (e.target as HTMLInputElement).checked)} />
          {t("有效证照", "My valid licences")}</label>
        <label><input type="checkbox" name="consent-applications" checked={consent.includes("applications")}
          onChange={(e) => toggle("applications", (e.target as HTMLInputElement).checked)} />
          {t("在办事项", "My open applications")}</label>
      </fieldset>
      <p><button type="button" disabled={consent.length === 0} onClick={() => void generate(consent)}>
        {t("生成我的码", "Show my code")}</button></p>
      <ProblemView problem={problem} />
      {code && (
        <div class="app-qr-card app-present-card">
          <QrCode svg={code.view.qr_svg} label={t("一人一码二维码", "My code's QR")} />
          <Countdown seconds={secondsLeft} />
        </div>
      )}
      <h3>{t("扫码记录", "Who scanned my codes")}</h3>
      {scans.data && scans.data.items.length === 0 && <p>{t("暂无", "Nobody yet")}</p>}
      {scans.data && scans.data.items.length > 0 && (
        <ul class="app-scans">
          {scans.data.items.map((s) => (
            <li key={s.at + s.scanned_by}>{new Date(s.at).toLocaleString()} · {s.scanned_by_name ?? s.scanned_by} ·{" "}
              {t(...(RESULTS[s.result] ?? [s.result, s.result]))}</li>
          ))}
        </ul>
      )}
    </section>
  );
}
