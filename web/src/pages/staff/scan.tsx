/** 一人（企）一码 at the window or in the field: an inspector or a window officer scans (camera, picture) or pastes a
 * holder's `LC1:` code and sees what the holder consented to — their valid licences and/or open applications,
 * the holder masked — or why the code is refused (expired, superseded by a newer one, not ours). Every scan
 * is recorded and shown to the holder. */
import type { Problem, Schemas } from "@lvrong/client";
import { useState } from "preact/hooks";
import { api, unwrap } from "../../shared/api";
import { formatDate, formatDateTime, t, useLanguage } from "../../shared/i18n";
import { applicationStatusLabel, applicationStatusTone, words } from "../../shared/labels";
import { Scanner } from "../../shared/scanner";
import { Badge, problemOf, ProblemView } from "../../shared/ui";

type Shown = Schemas["HolderCodeScanView"];

// Why a code is refused (the problem's ``reason``; a code not signed here is a 422 on the field ``code``).
const REFUSALS: Record<string, [string, string]> = {
  expired: ["码已过期", "The code has expired"],
  superseded: ["持码人已生成新码，此码已失效", "Superseded by the holder's newer code"],
  invalid: ["无效码", "Not a valid code"],
};
const HOLDER_KIND: Record<string, [string, string]> = { company: ["企业", "Company"], person: ["个人", "Person"] };
const LICENCE_STATUS: Record<string, [string, string]> = { active: ["有效", "Valid"] };

function refusalOf(problem: Problem): string {
  const reason = (problem as Problem & { reason?: string }).reason;
  return reason && REFUSALS[reason] ? reason : "invalid";
}

export function HolderCodeScan() {
  useLanguage();
  const [busy, setBusy] = useState(false);
  const [shown, setShown] = useState<Shown | null>(null);
  const [refused, setRefused] = useState<Problem | null>(null);

  async function scan(code: string) {
    setBusy(true);
    setShown(null);
    setRefused(null);
    try {
      setShown(await unwrap(api.POST("/v1/licences/holder-codes/scan", { body: { code } })));
    } catch (error) {
      setRefused(problemOf(error));
    } finally {
      setBusy(false);
    }
  }

  return (
    <>
      <Scanner onText={(text) => void scan(text)} busy={busy} texts={{
        title: t("扫描一人（企）一码", "Scan a holder's code"),
        paste: t("或粘贴持码人的码（LC1: 开头）", "Or paste the holder's code (starting with LC1:)"),
        submit: t("查看", "Look up"),
      }} />
      {refused && (
        <section class="card scan-refused" aria-labelledby="scan-refused-title">
          <h2 id="scan-refused-title">{t("不能出示", "Not shown")}</h2>
          {refused.status === 409 || refused.status === 422
            ? <p data-testid="scan-refusal"><Badge tone="bad">{words(REFUSALS, refusalOf(refused))}</Badge></p> : null}
          <ProblemView problem={refused} />
        </section>
      )}
      {shown && <ScanResult shown={shown} />}
    </>
  );
}

function ScanResult(props: { shown: Shown }) {
  const s = props.shown;
  const missing = (["licences", "applications"] as const).filter((c) => !s.consent.includes(c));
  return (
    <section class="card" aria-labelledby="scan-result-title">
      <h2 id="scan-result-title">{t("持码人同意出示的内容", "What the holder consents to show")}</h2>
      <dl class="facts">
        <dt>{t("持码人", "Holder")}</dt>
        <dd data-testid="scan-holder">{words(HOLDER_KIND, s.holder.kind)} · {s.holder.name ?? "—"}{s.holder.org_code ? ` · ${s.holder.org_code}` : ""}</dd>
        <dt>{t("码有效至", "Code valid until")}</dt><dd>{formatDateTime(s.code_expires_at)}</dd>
      </dl>
      {missing.length > 0 && (
        <p class="hint">{t("持码人未同意出示：", "Not consented to: ")}
          {missing.map((c) => c === "licences" ? t("有效证照", "valid licences") : t("在办事项", "open applications")).join(t("、", ", "))}</p>
      )}
      {s.licences && (
        <section aria-labelledby="scan-licences-title">
          <h3 id="scan-licences-title">{t("有效证照", "Valid licences")}</h3>
          {s.licences.length === 0 ? <p>{t("无", "None")}</p> : (
            <ul class="queue" aria-labelledby="scan-licences-title">
              {s.licences.map((l) => (
                <li class="queue-item">
                  <strong>{l.licence_number}</strong> <span>{l.licence_type}</span>
                  <Badge tone={l.status === "active" ? "ok" : "bad"}>{words(LICENCE_STATUS, l.status)}</Badge>
                  <span class="hint">{t("有效期 ", "Valid ")}{formatDate(l.valid_from)} – {formatDate(l.valid_until)}</span>
                </li>
              ))}
            </ul>
          )}
        </section>
      )}
      {s.applications && (
        <section aria-labelledby="scan-applications-title">
          <h3 id="scan-applications-title">{t("在办事项", "Open applications")}</h3>
          {s.applications.length === 0 ? <p>{t("无", "None")}</p> : (
            <ul class="queue" aria-labelledby="scan-applications-title">
              {s.applications.map((a) => (
                <li class="queue-item">
                  <span class="queue-id">{a.application_id.slice(0, 8)}</span> <span>{a.matter_code}</span>
                  <Badge tone={applicationStatusTone(a.status)}>{applicationStatusLabel(a.status)}</Badge>
                  <span class="hint">{t("提交于 ", "Filed ")}{formatDateTime(a.submitted_at)}</span>
                </li>
              ))}
            </ul>
          )}
        </section>
      )}
    </section>
  );
}
