/**
 * /app/verify: an inspector or a partner province's officer checks a 亮证 QR on a phone without
 * logging in — offline first (published keys and the cached status list, on this device), then online
 * when the platform is reachable (recorded; a second check of the same QR answers "already used").
 * `#LR1:…` (or an SM2-signed `#LS1:…`, checked online only) in the address verifies at once; `#data=<handle>` opens 亮数 (see livedata.tsx).
 */
import type { Schemas } from "@lvrong/client";
import { render } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { ApiError, api, offline as offlineProblem, unwrap } from "../../shared/api";
import { formatDateTime, t, useLanguage } from "../../shared/i18n";
import { Shell, problemOf } from "../../shared/ui";
import { LiveDataView } from "./livedata";
import { type TrustMaterial, statusUriOf, verifyOffline } from "./offline";
import { Scanner } from "../../shared/scanner";
import { cachedTrust, fetchKeys, fetchList } from "./trust";
import { type Checked, VerdictView } from "./verdict";
import "./verify.css";

let material: TrustMaterial | null = null;

/** The keys: fetched now when online, else what this device cached; null when neither. */
async function keys(): Promise<TrustMaterial | null> {
  try {
    if (!navigator.onLine) throw new Error("offline");
    material = await fetchKeys();
  } catch {
    material ??= await cachedTrust();
  }
  return material;
}

// For tests and scripted checks from the developer tools: the offline check over the trust material in hand.
declare global {
  interface Window {
    lvrongVerify?: { verifyOffline: typeof verifyOffline; material: () => TrustMaterial | null };
  }
}
window.lvrongVerify = { verifyOffline, material: () => material };

async function check(text: string): Promise<Checked> {
  const trust = material ?? await keys();
  let listFresh = false;
  const uri = statusUriOf(text);
  // A device that knows it is offline does not try (nor fill its console with refused requests).
  const online = navigator.onLine;
  if (trust && uri && online) {
    try {
      await fetchList(trust, uri);
      listFresh = true;
    } catch {
      // offline or unreachable: the cached list (with its fetch time) answers
    }
  }
  let offline = trust ? await verifyOffline(text, trust)
    : { outcome: "status_unknown" as const, reason: "no_keys" };
  if (offline.reason === "unknown_key" && online) {
    // The issuer may have published a new key since this page loaded: fetch the keys once more.
    const again = await keys();
    if (again) offline = await verifyOffline(text, again);
  }
  let confirmed: Schemas["VerificationResult"] | null = null;
  let onlineProblem: string | null = null;
  try {
    if (!online) throw new ApiError(offlineProblem());
    confirmed = await unwrap(api.POST("/v1/verifications", { body: { presentation: text } }));
  } catch (error) {
    const problem = problemOf(error);
    onlineProblem = problem.status === 0 ? t("未联网：仅离线核验", "Offline: checked on this device only")
      : t(`平台未能核验：${problem.title_zh}`, `The platform could not check it: ${problem.title_en}`);
  }
  return { offline, listFresh, online: confirmed, onlineProblem, checkedAt: Date.now() };
}

function fragment(): { presentation?: string; handle?: string } {
  let hash = location.hash.slice(1);
  try {
    hash = decodeURIComponent(hash);
  } catch {
    // base45 has '%': a fragment written without encoding is taken as it is
  }
  if (hash.startsWith("data=")) return { handle: hash.slice(5) };
  if (hash.startsWith("LR1:") || hash.startsWith("LS1:")) return { presentation: hash };
  return {};
}

function Page() {
  useLanguage();
  const [checked, setChecked] = useState<Checked | null>(null);
  const [busy, setBusy] = useState(false);
  const [ready, setReady] = useState(false);
  const [handle, setHandle] = useState(fragment().handle ?? null);
  const result = useRef<HTMLDivElement>(null);

  async function verify(text: string) {
    setBusy(true);
    try {
      setChecked(await check(text));
      result.current?.focus();
    } finally {
      setBusy(false);
    }
  }

  useEffect(() => {
    keys().finally(() => setReady(true));
    const first = fragment();
    if (first.presentation) verify(first.presentation);
    const changed = () => {
      const next = fragment();
      setHandle(next.handle ?? null);
      if (next.presentation) verify(next.presentation);
    };
    addEventListener("hashchange", changed);
    return () => removeEventListener("hashchange", changed);
  }, []);

  return (
    <Shell title={handle ? t("亮数核验", "Live data check") : t("亮证核验", "Verify a licence")}>
      {handle ? <LiveDataView handle={handle} /> : (
        <>
          <p class="hint">{t("无需登录。先在本设备离线核验签名与状态，联网时再由平台确认。",
            "No login needed. Signature and status are checked on this device first, then confirmed online when reachable.")}</p>
          <div ref={result} tabIndex={-1} aria-live="polite" class="verify-result">
            {busy && <p role="status">{t("正在核验…", "Verifying…")}</p>}
            {!busy && checked && <VerdictView checked={checked} />}
          </div>
          <Scanner onText={verify} busy={busy} />
          {ready && <p class="hint" data-keys={material ? "ready" : "missing"}>
            {material ? t(`发证机关公钥已就绪（${material.keys.size} 个，获取于 ${formatDateTime(new Date(material.keysFetchedAt).toISOString())}）`,
              `Issuer keys ready (${material.keys.size}, fetched ${formatDateTime(new Date(material.keysFetchedAt).toISOString())})`)
              : t("尚无发证机关公钥：请联网一次", "No issuer keys yet: go online once")}</p>}
        </>
      )}
    </Shell>
  );
}

render(<Page />, document.getElementById("root")!);

// Opened once with a network, the page opens again without one (public/verify-sw.js).
if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("/app/verify-sw.js", { scope: "/app/verify" }).catch(() => undefined);
}
