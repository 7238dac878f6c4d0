/** The application form of a matter: inputs generated from its field definitions, its materials, the
 * dry-run pre-review (every problem, per field and per rule, before anything is submitted) and a
 * submit that first runs the same check. Used to apply and to answer a correction request (补正). */
import type { Problem, Schemas } from "@lvrong/client";
import { useState } from "preact/hooks";
import { api, unwrap } from "../../shared/api";
import { pick, t, useLanguage } from "../../shared/i18n";
import { Badge, problemOf, ProblemView } from "../../shared/ui";
import { FieldInput, formPayload, inputId, type Finding, type Prefilled, type Values } from "./fields";
import { MaterialInput, materialsPayload, type MaterialRefs, type MaterialsBody } from "./materials";

export interface FormProps {
  matter: Schemas["MatterDetail"];
  initial: Values;
  initialMaterials: MaterialRefs;
  prefilled?: Record<string, Prefilled>;
  licences?: Schemas["HeldLicence"][];
  submitLabel: string;
  onSubmit: (form: Record<string, unknown>, materials: MaterialsBody) => Promise<void>;
}

export function ApplicationForm(props: FormProps) {
  useLanguage();
  const { matter } = props;
  const [values, setValues] = useState<Values>(props.initial);
  const [materials, setMaterials] = useState<MaterialRefs>(props.initialMaterials);
  const [check, setCheck] = useState<Schemas["CheckResult"] | null>(null);
  const [problem, setProblem] = useState<Problem | null>(null);
  const [busy, setBusy] = useState<"check" | "submit" | null>(null);

  const findings = (target: string): Finding[] => check?.problems.filter((p) => p.target === target) ?? [];
  const known = new Set([...matter.fields.map((f) => `form.${f.key}`), ...matter.materials.map((m) => `materials.${m.code}`)]);

  async function dryRun(): Promise<Schemas["CheckResult"]> {
    const result = await unwrap(api.POST("/v1/prequal/check", {
      body: { matter_code: matter.code, form: formPayload(matter.fields, values), materials: materialsPayload(materials) },
    }));
    setCheck(result);
    return result;
  }

  async function runCheck() {
    setBusy("check");
    setProblem(null);
    try {
      await dryRun();
    } catch (error) {
      setProblem(problemOf(error));
    } finally {
      setBusy(null);
    }
    document.getElementById("check-result")?.focus();
  }

  async function submit(event: Event) {
    event.preventDefault();
    setBusy("submit");
    setProblem(null);
    try {
      const result = await dryRun();
      if (result.problems.some((p) => p.severity === "blocking")) {
        document.getElementById("check-result")?.focus();
        return;
      }
      await props.onSubmit(formPayload(matter.fields, values), materialsPayload(materials));
    } catch (error) {
      setProblem(problemOf(error));
    } finally {
      setBusy(null);
    }
  }

  const blocking = check?.problems.filter((p) => p.severity === "blocking").length ?? 0;
  return (
    <form onSubmit={submit} noValidate aria-label={pick(matter.name_zh, matter.name_en)}>
      <fieldset class="card">
        <legend>{t("填写信息", "Your details")}</legend>
        {matter.fields.map((spec) => (
          <FieldInput spec={spec} value={values[spec.key]} prefilled={props.prefilled?.[spec.key]}
            problems={findings(`form.${spec.key}`)}
            onChange={(value) => setValues((old) => ({ ...old, [spec.key]: value }))} />
        ))}
      </fieldset>
      <fieldset class="card">
        <legend>{t("上传材料", "Materials")}</legend>
        {matter.materials.map((spec) => (
          <MaterialInput spec={spec} value={materials[spec.code]} licences={props.licences ?? []}
            problems={findings(`materials.${spec.code}`)}
            onChange={(value) => setMaterials((old) => {
              const next = { ...old };
              if (value) next[spec.code] = value;
              else delete next[spec.code];
              return next;
            })} />
        ))}
      </fieldset>
      <section class="card app-check-result" id="check-result" tabIndex={-1} aria-labelledby="check-title" aria-live="polite">
        <h2 id="check-title">{t("智能预审", "Pre-review")}</h2>
        {!check && <p class="hint">{t("提交前可先检查，系统会一次列出全部问题，不会提交申请。",
          "Check before you submit: every problem is listed at once, and nothing is submitted.")}</p>}
        {check && check.problems.length === 0 && (
          <p><Badge tone="ok">{t("检查通过", "No problems found")}</Badge></p>
        )}
        {check && check.problems.length > 0 && (
          <>
            <p>{blocking > 0
              ? <Badge tone="bad">{t(`发现 ${blocking} 个需修改的问题`, `${blocking} problem(s) to fix`)}</Badge>
              : <Badge tone="warn">{t("有提醒，可以提交", "Warnings only: you may submit")}</Badge>}</p>
            <ul class="app-problems">
              {check.problems.map((p) => (
                <li>
                  <Badge tone={p.severity === "blocking" ? "bad" : "warn"}>
                    {p.severity === "blocking" ? t("需修改", "Must fix") : t("提醒", "Warning")}</Badge>{" "}
                  {known.has(p.target)
                    ? <a href={`#${targetId(p.target)}`} onClick={(e) => { e.preventDefault(); document.getElementById(targetId(p.target))?.focus(); }}>
                      {pick(p.message_zh, p.message_en)}</a>
                    : pick(p.message_zh, p.message_en)}
                  <span class="hint"> ({t("规则", "rule")} {p.rule_id})</span>
                </li>
              ))}
            </ul>
          </>
        )}
      </section>
      <ProblemView problem={problem} />
      <div class="actions">
        <button type="button" onClick={runCheck} disabled={busy !== null}>
          {busy === "check" ? t("正在检查…", "Checking…") : t("预审检查", "Check for problems")}</button>
        <button type="submit" class="primary" disabled={busy !== null}>
          {busy === "submit" ? t("正在提交…", "Submitting…") : props.submitLabel}</button>
      </div>
    </form>
  );
}

function targetId(target: string): string {
  return target.startsWith("form.") ? inputId(target.slice(5)) : `material-${target.slice("materials.".length)}`;
}
