/**
 * 亮数: the holder's one-time link `/app/verify#data=<handle>`. Redeeming it needs a verifier's token
 * (an inspector, staff, or a partner system with licences:verify): the live data of a disposal
 * certificate is business data, a handle is used once, and the holder sees by name who redeemed it —
 * so a passer-by who photographs the QR cannot use it up or read it. The inspector logs in on the
 * phone (once per tab), and the page redeems the handle at once.
 */
import type { Problem, Schemas } from "@lvrong/client";
import { useEffect, useRef, useState } from "preact/hooks";
import { api, unwrap } from "../../shared/api";
import { useClaims } from "../../shared/auth";
import { formatDateTime, t, useLanguage } from "../../shared/i18n";
import { LoginForm, ProblemView, problemOf } from "../../shared/ui";

export function LiveDataView(props: { handle: string }) {
  useLanguage();
  const who = useClaims();
  const [data, setData] = useState<Schemas["LiveData"] | null>(null);
  const [problem, setProblem] = useState<Problem | null>(null);
  const asked = useRef(false);
  useEffect(() => {
    if (!who || asked.current) return;
    asked.current = true; // a handle redeems once: never ask twice from this page
    unwrap(api.POST("/v1/verifications/data/{handle}", { params: { path: { handle: props.handle } } }))
      .then(setData).catch((error) => setProblem(problemOf(error)));
  }, [who, props.handle]);
  if (!who) {
    return <LoginForm hint={t("查看亮数实时数据需由执法或核验人员登录（每个链接仅能使用一次，持证人可见查看者）。",
      "The live data opens for a logged-in inspector or verifier (each link works once, and the holder sees who opened it).")} />;
  }
  if (problem) return <section class="card" aria-labelledby="live-title"><h2 id="live-title">{t("亮数", "Live data")}</h2><ProblemView problem={problem} /></section>;
  if (!data) return <p role="status">{t("正在获取实时数据…", "Fetching the live data…")}</p>;
  const licence = data.licence as Record<string, string | number | null>;
  return (
    <section class="card live-data" aria-labelledby="live-title">
      <h2 id="live-title">{t("亮数：实时数据", "Live data")}</h2>
      <dl class="facts">
        <dt>{t("证照", "Licence")}</dt><dd>{String(licence.licence_type ?? "—")} {String(licence.licence_number ?? "")}</dd>
        <dt>{t("持证人", "Holder")}</dt><dd>{String(licence.holder_name ?? "—")}</dd>
        <dt>{t("有效期至", "Valid until")}</dt><dd>{formatDateTime(String(licence.valid_until ?? ""))}</dd>
        <dt>{t("消纳场所", "Disposal site")}</dt><dd>{String(data.disposal_site ?? "—")}</dd>
        <dt>{t("运输路线", "Transport route")}</dt><dd>{String(data.transport_route ?? "—")}</dd>
        <dt>{t("核准车辆数", "Vehicles permitted")}</dt><dd>{String(data.vehicles_permitted ?? "—")}</dd>
        <dt>{t("在用车辆", "Vehicles in service")}</dt><dd data-field="vehicles">{data.vehicles_in_service.join("、") || "—"}</dd>
        <dt>{t("核准消纳量", "Approved quota")}</dt><dd>{data.quota_m3 ?? "—"} m³</dd>
        <dt>{t("已消纳量", "Quota used")}</dt><dd data-field="quota-used">{data.quota_used_m3} m³</dd>
      </dl>
    </section>
  );
}
