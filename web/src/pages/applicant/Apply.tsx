/** Apply for a matter: the form pre-filled by the platform (each field with its source and freshness). */
import { idempotencyKey } from "@lvrong/client";
import { useRef } from "preact/hooks";
import { api, unwrap } from "../../shared/api";
import { pick, t, useLanguage } from "../../shared/i18n";
import { ProblemView } from "../../shared/ui";
import { asInputValue, type Values } from "./fields";
import { ApplicationForm } from "./form";
import { useLoad } from "../../shared/load";
import { go, href } from "./router";

export function Apply(props: { code: string }) {
  useLanguage();
  // One key per filled-in form: a retried submit (a lost answer) files one application, not two.
  const key = useRef(idempotencyKey());
  const loaded = useLoad(async () => {
    const path = { params: { path: { code: props.code } } };
    const [matter, prefill] = await Promise.all([
      unwrap(api.GET("/v1/matters/{code}", path)),
      unwrap(api.POST("/v1/prequal/prefill", { body: { matter_code: props.code } })).catch(() => null),
    ]);
    return { matter, prefill };
  }, [props.code]);
  const data = loaded.data;
  const initial: Values = {};
  for (const [k, field] of Object.entries(data?.prefill?.fields ?? {})) initial[k] = asInputValue(field.value);
  return (
    <section aria-labelledby="apply-title">
      <p><a href={href("matters", props.code)}>{t("← 办事指南", "← Service guide")}</a></p>
      <ProblemView problem={loaded.problem} />
      {!data && !loaded.problem && <p role="status">{t("正在加载…", "Loading…")}</p>}
      {data && (
        <>
          <h2 id="apply-title">{t("申请：", "Apply: ")}{pick(data.matter.name_zh, data.matter.name_en)}</h2>
          {data.prefill && (
            <p class="card app-prefill-summary" role="status">
              {t(`智能预填：已为您填好 ${data.prefill.fields_filled}/${data.prefill.fields_total} 项，请核对来源和时间。`,
                `Pre-filled ${data.prefill.fields_filled} of ${data.prefill.fields_total} fields for you: check each source and date.`)}
            </p>
          )}
          <ApplicationForm matter={data.matter} initial={initial} initialMaterials={{}}
            prefilled={data.prefill?.fields} licences={data.prefill?.licences}
            submitLabel={t("提交申请", "Submit the application")}
            onSubmit={async (form, materials) => {
              const created = await unwrap(api.POST("/v1/applications", {
                params: { header: { "Idempotency-Key": key.current } },
                body: { matter_code: data.matter.code, form, materials, draft: false },
              }));
              go("applications", created.id);
            }} />
        </>
      )}
    </section>
  );
}
