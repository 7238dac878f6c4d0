/** Upload a matter's materials (POST /v1/materials, multipart field `file`), or name a licence the
 * person holds instead (两个免于提交); the application refers to each by material code. */
import type { Schemas } from "@lvrong/client";
import { useState } from "preact/hooks";
import { api, unwrap } from "../../shared/api";
import { pick, t, useLanguage } from "../../shared/i18n";
import { Badge, problemOf, ProblemView } from "../../shared/ui";
import type { Finding } from "./fields";

type MaterialSpec = Schemas["MaterialSpec"];
export type MaterialRef = { kind: "upload"; view: Schemas["MaterialView"] } | { kind: "licence"; licence: Schemas["HeldLicence"] }
  | { kind: "existing"; value: unknown };
export type MaterialRefs = Record<string, MaterialRef>;

export type MaterialsBody = NonNullable<Schemas["ApplicationCreate"]["materials"]>;

export function materialsPayload(refs: MaterialRefs): MaterialsBody {
  const out: MaterialsBody = {};
  for (const [code, ref] of Object.entries(refs)) {
    out[code] = ref.kind === "upload" ? ref.view.id : ref.kind === "licence" ? { licence_id: ref.licence.licence_id }
      : ref.value as MaterialsBody[string];
  }
  return out;
}

export async function uploadMaterial(file: File): Promise<Schemas["MaterialView"]> {
  return unwrap(api.POST("/v1/materials", {
    body: { file: file.name },
    bodySerializer: () => {
      const form = new FormData();
      form.append("file", file, file.name);
      return form;
    },
  }));
}

const ACCEPT: Record<string, string> = { pdf: ".pdf,application/pdf", jpg: ".jpg,.jpeg,image/jpeg", png: ".png,image/png", ofd: ".ofd" };

export function MaterialInput(props: {
  spec: MaterialSpec; value: MaterialRef | undefined; licences: Schemas["HeldLicence"][]; problems: Finding[];
  onChange: (value: MaterialRef | undefined) => void;
}) {
  useLanguage();
  const { spec, value } = props;
  const id = `material-${spec.code}`;
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<ReturnType<typeof problemOf> | null>(null);
  const standIns = props.licences.filter((l) => spec.substitutes.includes(l.licence_type));
  async function chosen(event: Event) {
    const input = event.currentTarget as HTMLInputElement;
    const file = input.files?.[0];
    if (!file) return;
    setBusy(true);
    setProblem(null);
    try {
      props.onChange({ kind: "upload", view: await uploadMaterial(file) });
    } catch (error) {
      setProblem(problemOf(error));
    } finally {
      setBusy(false);
      input.value = "";
    }
  }
  const blocking = props.problems.some((p) => p.severity === "blocking");
  return (
    <div class={`app-field${blocking ? " app-field-invalid" : ""}`}>
      <label for={id}>
        {pick(spec.name, spec.name_en)}
        <span class="app-required"> {spec.required ? t("（必交）", "(required)") : t("（选交）", "(optional)")}</span>
      </label>
      <input id={id} type="file" accept={spec.file_types.map((x) => ACCEPT[x] ?? `.${x}`).join(",")} disabled={busy}
        aria-describedby={`${id}-state`} onChange={chosen} />
      <p class="hint" id={`${id}-state`} aria-live="polite">
        {busy && t("正在上传…", "Uploading…")}
        {!busy && !value && t("尚未上传", "Not uploaded yet")}
        {!busy && value?.kind === "upload" && (
          <><Badge tone="ok">{t("已上传", "Uploaded")}</Badge> {value.view.filename} ({Math.max(1, Math.round(value.view.size / 1024))} KB)</>
        )}
        {!busy && value?.kind === "licence" && (
          <><Badge tone="ok">{t("证照免交", "Licence instead")}</Badge> {value.licence.licence_type} {value.licence.licence_number}</>
        )}
        {!busy && value?.kind === "existing" && <Badge tone="ok">{t("沿用原材料", "As submitted before")}</Badge>}
      </p>
      {standIns.map((licence) => (
        <button type="button" class="app-small" onClick={() => props.onChange({ kind: "licence", licence })}>
          {t(`用已持有的${licence.licence_type}（${licence.licence_number}）免交`,
            `Use your ${licence.licence_type} (${licence.licence_number}) instead`)}
        </button>
      ))}
      {value && (
        <button type="button" class="app-small" onClick={() => props.onChange(undefined)}>
          {t("移除", "Remove")}<span class="visually-hidden"> {pick(spec.name, spec.name_en)}</span>
        </button>
      )}
      <ProblemView problem={problem} />
      {props.problems.length > 0 && (
        <ul class="app-field-problems">
          {props.problems.map((p) => <li><Badge tone={p.severity === "blocking" ? "bad" : "warn"}>
            {p.severity === "blocking" ? t("需修改", "Must fix") : t("提醒", "Warning")}</Badge> {pick(p.message_zh, p.message_en)}</li>)}
        </ul>
      )}
    </div>
  );
}
