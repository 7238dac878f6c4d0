/** The answer, unmistakable at a glance: a big icon, a word in Chinese and English, a colour, and
 * underneath what was checked offline (with the status list's fetch time) and what online. */
import type { Schemas } from "@lvrong/client";
import { formatDateTime, t, useLanguage } from "../../shared/i18n";
import type { OfflineResult } from "./offline";

export type Verdict = "valid" | "revoked" | "suspended" | "expired" | "presentation_expired" | "forged" | "malformed"
  | "replayed" | "superseded" | "status_unknown" | "not_yet_valid";

const LOOK: Record<Verdict, { tone: "ok" | "bad" | "warn"; icon: string; zh: string; en: string }> = {
  valid: { tone: "ok", icon: "✓", zh: "有效", en: "Valid" },
  revoked: { tone: "bad", icon: "✕", zh: "已撤销", en: "Revoked" },
  suspended: { tone: "warn", icon: "⏸", zh: "已暂停", en: "Suspended" },
  expired: { tone: "bad", icon: "⌛", zh: "证照已过期", en: "Licence expired" },
  presentation_expired: { tone: "warn", icon: "⌛", zh: "亮证码已过期", en: "QR expired" },
  forged: { tone: "bad", icon: "✕", zh: "伪造或签名无效", en: "Forged: signature invalid" },
  malformed: { tone: "bad", icon: "✕", zh: "无法识别", en: "Not a licence QR" },
  replayed: { tone: "warn", icon: "!", zh: "亮证码已被使用", en: "QR already used" },
  superseded: { tone: "warn", icon: "!", zh: "已有新版本", en: "Superseded" },
  status_unknown: { tone: "warn", icon: "?", zh: "状态未知", en: "Status unknown" },
  not_yet_valid: { tone: "warn", icon: "!", zh: "尚未生效", en: "Not yet valid" },
};

const ADVICE: Partial<Record<Verdict, [string, string]>> = {
  valid: ["签名、状态与有效期均已核验。", "Signature, status and validity all checked."],
  revoked: ["发证机关已撤销此证照，不得作为有效证照使用。", "The issuer revoked this licence; it is not valid."],
  suspended: ["此证照已被暂停，暂不可用。", "This licence is suspended for now."],
  expired: ["此证照已超过有效期。", "This licence is past its validity."],
  presentation_expired: ["请持证人刷新亮证码后重新出示。", "Ask the holder to refresh the QR and show it again."],
  forged: ["签名与发证机关公布的密钥不符，请勿采信。", "The signature does not match the issuer's published keys: do not accept it."],
  malformed: ["这不是本平台的亮证码。", "This is not a licence QR of this platform."],
  replayed: ["此亮证码此前已核验过，请持证人重新生成。", "This QR was verified before; ask the holder for a fresh one."],
  status_unknown: ["设备上没有该证照的状态列表，联网后重试。", "This device has no status list for the licence; retry online."],
};

const REASONS: Record<string, [string, string]> = {
  bad_signature: ["签名与内容不符", "the signature does not match the content"],
  unknown_key: ["签名密钥不是发证机关公布的", "signed with a key the issuer did not publish"],
  unknown_issuer: ["不是本平台签发", "not issued by this platform"],
  wrong_algorithm_or_type: ["算法或类型不符", "wrong algorithm or type"],
};

function reasonText(reason: string | null | undefined): string {
  const known = reason ? REASONS[reason] : undefined;
  return known ? t(...known) : reason ?? "";
}

/** From the API's online answer to a verdict. */
export function onlineVerdict(result: Schemas["VerificationResult"]): Verdict {
  if (result.result !== "invalid") return result.result;
  switch (result.reason) {
    case "presentation_expired": case "replayed": case "superseded": case "malformed": return result.reason;
    default: return "forged"; // bad_signature, unknown_key, unknown_issuer, unknown_licence
  }
}

/** The final word: offline decides unless it found nothing wrong, then the online answer (if any) speaks. */
export function finalVerdict(offline: OfflineResult, online: Schemas["VerificationResult"] | null): Verdict {
  if (online && (offline.outcome === "valid" || offline.outcome === "status_unknown")) return onlineVerdict(online);
  return offline.outcome;
}

export interface Checked {
  offline: OfflineResult;
  listFresh: boolean;
  online: Schemas["VerificationResult"] | null;
  onlineProblem: string | null;
  checkedAt: number;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

export function VerdictView(props: { checked: Checked }) {
  useLanguage();
  const { offline, online, onlineProblem, listFresh } = props.checked;
  const verdict = finalVerdict(offline, online);
  const look = LOOK[verdict];
  const advice = ADVICE[verdict];
  const claims = offline.claims;
  const licence = online?.licence as Record<string, string | number | null> | null | undefined;
  return (
    <section class={`card verdict verdict-${look.tone}`} aria-labelledby="verdict-word" data-verdict={verdict}>
      <div class="verdict-head" role="status">
        <span class="verdict-icon" aria-hidden="true">{look.icon}</span>
        <div>
          <h2 id="verdict-word" class="verdict-word">{t(look.zh, look.en)}</h2>
          <p class="verdict-other" lang={t("en", "zh-CN")}>{t(look.en, look.zh)}</p>
        </div>
      </div>
      {advice && <p>{t(...advice)}</p>}
      {licence && (
        <dl class="facts">
          <dt>{t("证照名称", "Licence")}</dt><dd>{String(licence.licence_type ?? "—")}</dd>
          <dt>{t("证照编号", "Number")}</dt><dd>{String(licence.licence_number ?? "—")}</dd>
          <dt>{t("持证人", "Holder")}</dt><dd>{String(licence.holder_name ?? "—")}</dd>
          <dt>{t("发证机关", "Issuer")}</dt><dd>{String(licence.issuer_name ?? "—")}</dd>
        </dl>
      )}
      <h3>{t("离线核验（本设备）", "Checked offline (on this device)")}</h3>
      <ul class="checks">
        <li data-check="signature">{offline.reason === "sm2_online_only"
          ? t("签名：国密 SM2，本设备不能离线核验，以平台联网核验为准", "Signature: SM2 (国密), not checked on this device; the platform's online check decides")
          : offline.outcome === "malformed" ? t("格式：无法解析", "Format: cannot be read")
          : offline.outcome === "forged" ? t(`签名：无效（${reasonText(offline.reason)}）`, `Signature: invalid (${reasonText(offline.reason)})`)
          : t(`签名：有效（密钥 ${offline.kid}）`, `Signature: valid (key ${offline.kid})`)}</li>
        {claims && <li>{t("证照标识：", "Licence identifier: ")}<code>{claims.identifier}</code></li>}
        {claims && <li>{t("证照有效期至：", "Licence valid until: ")}{formatDateTime(iso(claims.validUntil * 1000))}</li>}
        {claims && <li>{t("亮证码有效期至：", "QR valid until: ")}{formatDateTime(iso(claims.expiresAt * 1000))}</li>}
        {offline.statusList && (
          <li data-check="status-list">
            {t("状态列表：", "Status list: ")}{offline.outcome === "revoked" ? t("已撤销", "revoked")
              : offline.outcome === "suspended" ? t("已暂停", "suspended") : t("正常", "in good standing")}
            {"，"}{t("获取于 ", "fetched ")}{formatDateTime(iso(offline.statusList.fetchedAt))}
            {listFresh ? t("（刚刚联网获取）", " (just now, online)") : t("（本设备缓存）", " (cached on this device)")}
            {offline.statusListStale && t("，已过期，请联网更新", ", out of date: go online to refresh")}
          </li>
        )}
      </ul>
      <h3>{t("联网核验（平台）", "Checked online (platform)")}</h3>
      <p data-check="online">
        {online ? t(`平台答复：${online.reason_zh}（已记录）`, `The platform answered: ${online.reason ? reasonText(online.reason).replace(/_/g, " ") : online.result} (recorded)`)
          : onlineProblem ?? t("未联网：仅离线核验", "Offline: checked on this device only")}
      </p>
      <p class="hint">{t("核验时间：", "Checked at: ")}{formatDateTime(iso(props.checked.checkedAt))}</p>
    </section>
  );
}
