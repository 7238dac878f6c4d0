/** One application as staff handle it: status and clock, what they may do, the pre-review per rule, the
 * materials (downloaded with the token), the form and the timeline. */
import { useState } from "preact/hooks";
import type { Schemas } from "@lvrong/client";
import { api, unwrap } from "../../shared/api";
import { formatDate, formatDateTime, pick, t, useLanguage } from "../../shared/i18n";
import { Badge, ProblemView, problemOf } from "../../shared/ui";
import { ActionPanel } from "./actions";
import { applicationStatusLabel as statusLabel } from "../../shared/labels";
import { actionLabel } from "./labels";
import { useLoad } from "../../shared/load";
import { ClockBadge, HolderText } from "./queue";

type View = Schemas["ApplicationView"];

function Material(props: { code: string; reference: unknown }) {
  useLanguage();
  const ref = (props.reference ?? {}) as { material_id?: string; licence_id?: string; from_application?: string };
  const id = ref.material_id;
  const info = useLoad(() => id ? unwrap(api.GET("/v1/materials/{material_id}", { params: { path: { material_id: id } } }))
    : Promise.resolve(null), [id]);
  const [problem, setProblem] = useState<ReturnType<typeof problemOf> | null>(null);
  async function download() {
    if (!id) return;
    setProblem(null);
    try {
      const blob = await unwrap(api.GET("/v1/materials/{material_id}/content", {
        params: { path: { material_id: id } }, parseAs: "blob" })) as Blob;
      const url = URL.createObjectURL(blob);
      const link = document.createElement("a");
      link.href = url;
      link.download = info.data?.filename ?? `${props.code}`;
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    } catch (error) {
      setProblem(problemOf(error));
    }
  }
  return (
    <li>
      <strong>{props.code}</strong>{" "}
      {id && info.data && (
        <>
          <span>{info.data.filename}（{Math.ceil(info.data.size / 1024)} KB）</span>{" "}
          <button type="button" onClick={download}>{t("下载", "Download")}<span class="visually-hidden"> {info.data.filename}</span></button>
        </>
      )}
      {ref.licence_id && <span>{t("以电子证照代替：", "Licence instead: ")}{ref.licence_id}</span>}
      {ref.from_application && <span>{t("沿用办件材料：", "From application ")}{ref.from_application}</span>}
      <ProblemView problem={info.problem ?? problem} />
    </li>
  );
}

const OUTCOME: Record<string, { tone: "ok" | "warn" | "bad" | "info"; zh: string; en: string }> = {
  passed: { tone: "ok", zh: "通过", en: "Passed" }, failed: { tone: "bad", zh: "未通过", en: "Failed" },
  not_applicable: { tone: "info", zh: "不适用", en: "Not applicable" }, error: { tone: "warn", zh: "无法判断", en: "Could not evaluate" },
};
const VERDICT: Record<string, { tone: "ok" | "warn" | "bad"; zh: string; en: string }> = {
  passed: { tone: "ok", zh: "预审通过", en: "Passed" }, returned: { tone: "bad", zh: "退回补正", en: "Returned" },
  needs_human_review: { tone: "warn", zh: "需人工核对", en: "Needs human review" },
};

function PreReview(props: { id: string }) {
  useLanguage();
  const review = useLoad(() => unwrap(api.GET("/v1/prequal/reviews/{application_id}", {
    params: { path: { application_id: props.id } } })), [props.id]);
  const r = review.data;
  return (
    <section class="card" aria-labelledby="review-title">
      <h2 id="review-title">{t("智能预审（逐条规则）", "Pre-review, rule by rule")}</h2>
      {review.problem?.status === 404 ? <p>{t("尚无预审结果。", "No pre-review yet.")}</p> : <ProblemView problem={review.problem} />}
      {r && (
        <>
          <p>
            <Badge tone={VERDICT[r.verdict]?.tone ?? "info"}>{t(VERDICT[r.verdict]?.zh ?? r.verdict, VERDICT[r.verdict]?.en ?? r.verdict)}</Badge>{" "}
            <span class="hint">{t("规则集", "Rule set")} {r.ruleset}{r.ruleset_version ? ` v${r.ruleset_version}` : ""} · {formatDateTime(r.checked_at)}</span>
          </p>
          <div class="table-scroll">
            <table>
              <caption class="visually-hidden">{t("每条规则的结果", "The result of each rule")}</caption>
              <thead><tr><th scope="col">{t("规则", "Rule")}</th><th scope="col">{t("结果", "Result")}</th><th scope="col">{t("说明", "Message")}</th></tr></thead>
              <tbody>
                {r.results.map((o) => (
                  <tr>
                    <td><code>{o.rule_id}</code>{o.severity === "warning" ? t("（提示）", " (warning)") : ""}</td>
                    <td><Badge tone={OUTCOME[o.outcome]?.tone ?? "info"}>{t(OUTCOME[o.outcome]?.zh ?? o.outcome, OUTCOME[o.outcome]?.en ?? o.outcome)}</Badge></td>
                    <td>{pick(o.message_zh, o.message_en) || "—"}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
    </section>
  );
}

function Timeline(props: { id: string; version: string }) {
  useLanguage();
  const steps = useLoad(() => unwrap(api.GET("/v1/applications/{application_id}/timeline", {
    params: { path: { application_id: props.id }, query: { limit: 200 } } })), [props.id, props.version]);
  return (
    <section class="card" aria-labelledby="timeline-title">
      <h2 id="timeline-title">{t("办理过程", "Timeline")}</h2>
      <ProblemView problem={steps.problem} />
      <ol class="timeline">
        {(steps.data?.items ?? []).map((s) => (
          <li>
            <strong>{actionLabel(s.action)}</strong>{" "}
            <span>{s.from_status && s.from_status !== s.status ? `${statusLabel(s.from_status)} → ` : ""}{statusLabel(s.status)}</span>
            <div class="hint">{formatDateTime(s.occurred_at)} · {s.actor}</div>
            {s.reason && <div>{t("意见：", "Note: ")}{s.reason}</div>}
          </li>
        ))}
      </ol>
    </section>
  );
}

function FormData(props: { form: Record<string, unknown> }) {
  const entries = Object.entries(props.form ?? {});
  return (
    <section class="card" aria-labelledby="form-title">
      <h2 id="form-title">{t("申请表", "Form")}</h2>
      {entries.length === 0 ? <p>—</p> : (
        <dl class="facts">
          {entries.map(([key, value]) => (
            <>
              <dt>{key}</dt>
              <dd>{typeof value === "object" ? JSON.stringify(value) : String(value)}</dd>
            </>
          ))}
        </dl>
      )}
    </section>
  );
}

export function ApplicationDetail(props: { id: string; me: string }) {
  useLanguage();
  const loaded = useLoad(() => unwrap(api.GET("/v1/applications/{application_id}", {
    params: { path: { application_id: props.id } } })), [props.id]);
  const [changed, setChanged] = useState<View | null>(null);
  const view = changed && changed.id === props.id ? changed : loaded.data;
  return (
    <>
      <p><a href="#/">{t("← 返回办件队列", "← Back to the queue")}</a></p>
      <ProblemView problem={loaded.problem} />
      {view && (
        <>
          <section class="card" aria-labelledby="application-title">
            <h2 id="application-title">{t("办件", "Application")} {view.id}</h2>
            <dl class="facts">
              <dt>{t("事项", "Matter")}</dt><dd>{view.matter_code}（v{view.matter_version}）</dd>
              <dt>{t("状态", "Status")}</dt><dd data-testid="application-status">{statusLabel(view.status)}</dd>
              <dt>{t("法定期限", "Statutory due date")}</dt>
              <dd>
                {formatDate(view.clock.due_date)}{" "}
                <ClockBadge overdue={view.clock.overdue} paused={view.clock.paused} provisional={view.clock.due_date_provisional}
                  due={view.clock.due_date} />
                {view.clock.working_days_left != null && !view.clock.stopped && (
                  <span class="hint"> {t(`剩余 ${view.clock.working_days_left} 个工作日`, `${view.clock.working_days_left} working days left`)}</span>
                )}
              </dd>
              <dt>{t("承办人", "Held by")}</dt><dd><HolderText assignee={view.assignee} me={props.me} /></dd>
              <dt>{t("申请人", "Applicant")}</dt><dd>{view.applicant}</dd>
              <dt>{t("部门", "Department")}</dt><dd>{view.department}</dd>
              <dt>{t("提交时间", "Submitted")}</dt><dd>{formatDateTime(view.submitted_at)}</dd>
            </dl>
          </section>
          <ActionPanel view={view} onChanged={setChanged} />
          <PreReview id={view.id} />
          <section class="card" aria-labelledby="materials-title">
            <h2 id="materials-title">{t("材料", "Materials")}</h2>
            <ul class="materials">
              {Object.entries(view.materials ?? {}).map(([code, reference]) => <Material code={code} reference={reference} />)}
            </ul>
          </section>
          <FormData form={view.form} />
          <Timeline id={view.id} version={`${view.status}:${view.updated_at}:${view.assignee ?? ""}`} />
        </>
      )}
    </>
  );
}
