/** My licences, one licence with its status and validity, and 亮数 (live data of a construction-waste
 * disposal certificate by a one-time handle) with the list of redemptions. */
import type { Problem, Schemas } from "@lvrong/client";
import { idempotencyKey } from "@lvrong/client";
import { useState } from "preact/hooks";
import { api, unwrap } from "../../shared/api";
import { formatDate, formatDateTime, t, useLanguage } from "../../shared/i18n";
import { Badge, problemOf, ProblemView } from "../../shared/ui";
import { hasLiveData, licenceStatusLabel, licenceTone } from "./labels";
import { useLoad } from "../../shared/load";
import { QrCode } from "./qr";
import { href } from "./router";

type Licence = Schemas["LicenceView"];

export function LicenceList() {
  useLanguage();
  const list = useLoad(() => unwrap(api.GET("/v1/licences", { params: { query: { limit: 100 } } })), []);
  return (
    <section aria-labelledby="licences-title">
      <h2 id="licences-title">{t("我的证照", "My licences")}</h2>
      <ProblemView problem={list.problem} />
      {list.data && list.data.items.length === 0 && <p>{t("还没有电子证照。", "No licences yet.")}</p>}
      <ul class="app-list">
        {list.data?.items.map((l) => (
          <li class="card app-item">
            <a class="app-item-title" href={href("licences", l.id)}>{l.licence_type} · {l.licence_number}</a>
            <p><Badge tone={licenceTone(l.status)}>{licenceStatusLabel(l.status)}</Badge>{" "}
              <span class="hint">{t("有效期至 ", "Valid until ")}{formatDate(l.valid_until)}</span></p>
          </li>
        ))}
      </ul>
    </section>
  );
}

export function LicenceDetail(props: { id: string }) {
  useLanguage();
  const licence = useLoad(() => unwrap(api.GET("/v1/licences/{licence_id}", { params: { path: { licence_id: props.id } } })), [props.id]);
  const l = licence.data;
  return (
    <section aria-labelledby="licence-title">
      <p><a href={href("licences")}>{t("← 我的证照", "← My licences")}</a></p>
      <ProblemView problem={licence.problem} />
      {l && (
        <>
          <h2 id="licence-title">{l.licence_type}</h2>
          <div class="card">
            <dl class="facts">
              <dt>{t("状态", "Status")}</dt><dd><Badge tone={licenceTone(l.status)}>{licenceStatusLabel(l.status)}</Badge></dd>
              <dt>{t("证照编号", "Number")}</dt><dd>{l.licence_number}</dd>
              <dt>{t("证照标识", "Identifier")}</dt><dd class="app-break">{l.identifier}</dd>
              <dt>{t("持证主体", "Holder")}</dt><dd>{l.holder_name} <span class="hint">{l.holder_code}</span></dd>
              <dt>{t("发证机关", "Issued by")}</dt><dd>{l.issuer_name}</dd>
              <dt>{t("签发时间", "Issued")}</dt><dd>{formatDateTime(l.issued_at)}</dd>
              <dt>{t("有效期", "Valid")}</dt><dd>{formatDate(l.valid_from)} – {formatDate(l.valid_until)}</dd>
              <dt>{t("版本", "Version")}</dt><dd>{l.version}</dd>
              {l.application_id && <><dt>{t("办件", "Application")}</dt><dd><a href={href("applications", l.application_id)}>{l.application_id}</a></dd></>}
            </dl>
          </div>
          {l.status !== "active" && (
            <p class="problem" role="note">{t(`此证照${licenceStatusLabel(l.status)}，不能亮证。`,
              `This licence is ${licenceStatusLabel(l.status).toLowerCase()}: it cannot be shown.`)}</p>
          )}
          <div class="actions">
            <a class="app-button primary" href={href("licences", l.id, "show")}>{t("亮证", "Show this licence")}</a>
            {hasLiveData(l) && <a class="app-button" href={href("licences", l.id, "data")}>{t("亮数", "Share live data")}</a>}
          </div>
        </>
      )}
    </section>
  );
}

export function DataHandles(props: { id: string }) {
  useLanguage();
  const licence = useLoad(() => unwrap(api.GET("/v1/licences/{licence_id}", { params: { path: { licence_id: props.id } } })), [props.id]);
  const redemptions = useLoad(() => unwrap(api.GET("/v1/licences/{licence_id}/data-handles",
    { params: { path: { licence_id: props.id } } })), [props.id]);
  const [handle, setHandle] = useState<Schemas["DataHandleView"] | null>(null);
  const [problem, setProblem] = useState<Problem | null>(null);
  async function create() {
    setProblem(null);
    try {
      setHandle(await unwrap(api.POST("/v1/licences/{licence_id}/data-handles", {
        params: { path: { licence_id: props.id }, header: { "Idempotency-Key": idempotencyKey() } },
      })));
      void redemptions.reload();
    } catch (error) {
      setProblem(problemOf(error));
    }
  }
  const items = (redemptions.data?.items ?? []) as Redemption[];
  return (
    <section aria-labelledby="data-title">
      <p><a href={href("licences", props.id)}>{t("← 证照详情", "← The licence")}</a></p>
      <h2 id="data-title">{t("亮数", "Share live data")}</h2>
      <ProblemView problem={licence.problem ?? problem} />
      {licence.data && <LicenceHeading licence={licence.data} />}
      <p class="hint">{t("生成一次性亮数码，核验人员扫码后可查看本证的实时数据（车辆、消纳场所、已用额度等）。每个码只能使用一次。",
        "Create a one-time code: an inspector who scans it sees this licence's live data (vehicles, disposal site, quota used). Each code works once.")}</p>
      <button type="button" class="primary" onClick={create}>{t("生成亮数码", "Create a code")}</button>
      {handle && (
        <div class="card app-qr-card">
          <QrCode svg={handle.qr_svg} label={t("亮数二维码", "Live-data QR code")} />
          <p class="app-break"><a href={handle.url}>{handle.url}</a></p>
          <p class="hint">{t("有效期至 ", "Valid until ")}{formatDateTime(handle.expires_at)}</p>
        </div>
      )}
      <section class="card" aria-labelledby="redemptions-title">
        <h3 id="redemptions-title">{t("使用记录", "Who used the codes")}</h3>
        <ProblemView problem={redemptions.problem} />
        {items.length === 0 && <p>{t("暂无记录。", "None yet.")}</p>}
        {items.length > 0 && (
          <div class="table-scroll">
            <table>
              <caption class="visually-hidden">{t("亮数码使用记录", "Live-data codes and their use")}</caption>
              <thead><tr><th scope="col">{t("生成时间", "Created")}</th><th scope="col">{t("使用情况", "Used")}</th></tr></thead>
              <tbody>
                {items.map((r) => (
                  <tr>
                    <td>{formatDateTime(r.handle_created_at)}</td>
                    <td>{r.redeemed_at
                      ? <><Badge tone="info">{t("已使用", "Used")}</Badge> {formatDateTime(r.redeemed_at)} · {r.redeemed_by_name ?? r.redeemed_by}</>
                      : new Date(r.expires_at).getTime() < Date.now()
                        ? <Badge tone="warn">{t("已过期未使用", "Expired unused")}</Badge>
                        : <Badge tone="ok">{t("未使用", "Not used yet")}</Badge>}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
    </section>
  );
}

interface Redemption {
  handle_created_at: string;
  expires_at: string;
  redeemed_at: string | null;
  redeemed_by: string | null;
  redeemed_by_name: string | null;
}

export function LicenceHeading(props: { licence: Licence }) {
  const l = props.licence;
  return (
    <p class="app-licence-heading">
      <strong>{l.licence_type}</strong> <span>{l.licence_number}</span>{" "}
      <Badge tone={licenceTone(l.status)}>{licenceStatusLabel(l.status)}</Badge>
    </p>
  );
}
