/** My applications, and one application followed live: the stage bar, the statutory clock, the
 * timeline (updated over SSE as staff act) and, when asked for, the correction (补正) form. */
import type { Schemas } from "@lvrong/client";
import { useEffect, useState } from "preact/hooks";
import { api, unwrap } from "../../shared/api";
import { formatDate, formatDateTime, pick, t, useLanguage } from "../../shared/i18n";
import { Badge, ProblemView } from "../../shared/ui";
import { asInputValue, type Values } from "./fields";
import { ApplicationForm } from "./form";
import { applicationStatusLabel as statusLabel, applicationStatusTone as statusTone } from "../../shared/labels";
import { STAGES, stageLabel } from "./labels";
import { useLoad } from "../../shared/load";
import type { MaterialRefs } from "./materials";
import { href } from "./router";
import { followStream } from "../../shared/stream";

type Application = Schemas["ApplicationView"];
type Step = Schemas["TimelineStep"];

export function ApplicationList() {
  useLanguage();
  const list = useLoad(() => unwrap(api.GET("/v1/applications", { params: { query: { limit: 50 } } })), []);
  return (
    <section aria-labelledby="applications-title">
      <h2 id="applications-title">{t("我的办件", "My applications")}</h2>
      <ProblemView problem={list.problem} />
      {list.data && list.data.items.length === 0 && (
        <p>{t("还没有办件。", "No applications yet.")} <a href={href("matters")}>{t("去办事", "Find a service")}</a></p>
      )}
      <ul class="app-list">
        {list.data?.items.map((a) => (
          <li class="card app-item">
            <a class="app-item-title" href={href("applications", a.id)}>{a.matter_code} · {a.id}</a>
            <p><Badge tone={statusTone(a.status)}>{statusLabel(a.status)}</Badge>{" "}
              <span class="hint">{t("提交于 ", "Filed ")}{formatDateTime(a.created_at)}</span>
              {a.due_date && <span class="hint"> · {t("截止 ", "due ")}{formatDate(a.due_date)}</span>}
              {a.overdue && <> <Badge tone="bad">{t("已超期", "Overdue")}</Badge></>}</p>
          </li>
        ))}
      </ul>
    </section>
  );
}

export function ApplicationDetail(props: { id: string }) {
  useLanguage();
  const id = props.id;
  const app = useLoad(() => unwrap(api.GET("/v1/applications/{application_id}", { params: { path: { application_id: id } } })), [id]);
  const timeline = useLoad(() => unwrap(api.GET("/v1/applications/{application_id}/timeline",
    { params: { path: { application_id: id }, query: { limit: 200 } } })), [id]);
  const [live, setLive] = useState<"live" | "reconnecting" | "stopped" | "connecting">("connecting");
  const loadedStep = app.data ? (app.data.last_step?.id ?? 0) : null;

  // Live: from the step the page loaded on, so nothing between the two requests is missed; each
  // status event reloads the application (stage, clock) and its timeline.
  useEffect(() => {
    if (loadedStep === null) return;
    const stop = followStream(`/v1/applications/${encodeURIComponent(id)}/stream`, "status", loadedStep, {
      onEvent: () => {
        void app.reload();
        void timeline.reload();
      },
      onState: setLive,
    });
    return stop;
  }, [id, loadedStep === null]);

  const a = app.data;
  return (
    <section aria-labelledby="application-title">
      <p><a href={href("applications")}>{t("← 我的办件", "← My applications")}</a></p>
      <ProblemView problem={app.problem} />
      {a && (
        <>
          <h2 id="application-title">{t("办件 ", "Application ")}{a.id}</h2>
          <p class="app-live" role="status">
            <Badge tone={live === "live" ? "ok" : "warn"}>
              {live === "live" ? t("实时更新中", "Live") : live === "connecting" ? t("正在连接", "Connecting")
                : live === "reconnecting" ? t("正在重新连接", "Reconnecting") : t("未实时更新", "Not live")}</Badge>
          </p>
          <div class="card">
            <p class="app-status-line">
              {t("当前状态：", "Status: ")}<strong data-testid="application-status">
                <Badge tone={statusTone(a.status)}>{statusLabel(a.status)}</Badge></strong>
            </p>
            <StageBar stage={a.stage} />
            <Clock clock={a.clock} />
          </div>
          {(a.status === "returned" || a.status === "correction_requested") && (
            <Correction application={a} steps={timeline.data?.items ?? []} onDone={() => { void app.reload(); void timeline.reload(); }} />
          )}
          <Timeline steps={timeline.data?.items ?? []} />
          <Details application={a} />
        </>
      )}
    </section>
  );
}

function StageBar(props: { stage: Schemas["Stage"] }) {
  const current = STAGES.findIndex(([code]) => code === props.stage);
  return (
    <>
      <h3 id="stages-title">{t("办理进度", "Progress")}</h3>
      {props.stage === "closed" && <p><Badge tone="bad">{t("办件已终止", "This application was closed")}</Badge></p>}
      <ol class="app-stages" aria-labelledby="stages-title">
        {STAGES.map(([, zh, en], index) => {
          const state = index < current ? "done" : index === current ? "current" : "todo";
          return (
            <li class={`app-stage app-stage-${state}`} aria-current={state === "current" ? "step" : undefined}>
              <span class="app-stage-mark" aria-hidden="true">{state === "done" ? "✓" : index + 1}</span>
              <span class="app-stage-name">{t(zh, en)}</span>
              <span class="app-stage-state">
                {state === "done" ? t("已完成", "done") : state === "current" ? t("当前", "current") : t("未开始", "to come")}
              </span>
            </li>
          );
        })}
      </ol>
      <p class="visually-hidden">{t("当前阶段：", "Current stage: ")}{stageLabel(props.stage)}</p>
    </>
  );
}

function Clock(props: { clock: Schemas["matters.ClockView"] }) {
  const c = props.clock;
  if (!c.started_on && c.limit_days == null) {
    return <p class="hint">{t("法定时限自受理之日起计算。", "The statutory clock starts on acceptance.")}</p>;
  }
  const state = c.stopped ? t("已停止计时", "stopped") : c.paused ? t("暂停计时（补正期间）", "paused (waiting for you)")
    : c.overdue ? t("已超期", "overdue") : t("计时中", "running");
  const tone = c.overdue ? "bad" : c.paused ? "warn" : c.stopped ? "info" : "ok";
  return (
    <>
      <h3>{t("法定时限", "Statutory clock")}</h3>
      <dl class="facts" data-testid="clock">
        <dt>{t("状态", "State")}</dt><dd><Badge tone={tone}>{state}</Badge></dd>
        <dt>{t("起算日", "Started")}</dt><dd>{formatDate(c.started_on)}</dd>
        <dt>{t("时限", "Limit")}</dt><dd>{c.limit_days != null ? t(`${c.limit_days} 个工作日`, `${c.limit_days} working days`) : "—"}</dd>
        <dt>{t("截止日", "Due")}</dt>
        <dd>{formatDate(c.due_date)}{c.due_date_provisional && <> <Badge tone="warn">{t("暂定", "provisional")}</Badge></>}</dd>
        <dt>{t("剩余", "Left")}</dt>
        <dd>{c.working_days_left != null ? t(`${c.working_days_left} 个工作日`, `${c.working_days_left} working days`) : "—"}
          {c.percent_used != null && <span class="hint"> ({t("已用", "used")} {c.percent_used}%)</span>}</dd>
      </dl>
    </>
  );
}

function findingsOf(step: Step | undefined): Schemas["Finding"][] {
  const list = step?.details?.findings;
  return Array.isArray(list) ? (list as Schemas["Finding"][]) : [];
}

function Correction(props: { application: Application; steps: Step[]; onDone: () => void }) {
  const a = props.application;
  const matter = useLoad(() => unwrap(api.GET("/v1/matters/{code}/versions/{version}",
    { params: { path: { code: a.matter_code, version: a.matter_version } } })), [a.matter_code, a.matter_version]);
  const ask = [...props.steps].reverse().find((s) => s.status === a.status);
  const findings = findingsOf(ask);
  const initial: Values = {};
  for (const [k, v] of Object.entries(a.form)) initial[k] = asInputValue(v);
  const materials: MaterialRefs = {};
  for (const [k, v] of Object.entries(a.materials)) materials[k] = { kind: "existing", value: v };
  return (
    <section class="card app-correction" aria-labelledby="correction-title">
      <h3 id="correction-title">{a.status === "returned" ? t("预审退回，请补正", "Returned: please correct")
        : t("审查人员要求补正", "The reviewer asks for a correction")}</h3>
      {ask?.reason && <p>{t("原因：", "Reason: ")}<span lang="zh-CN">{ask.reason}</span></p>}
      {findings.length > 0 && (
        <ul class="app-problems">
          {findings.map((f) => <li><Badge tone={f.severity === "blocking" ? "bad" : "warn"}>
            {f.severity === "blocking" ? t("需修改", "Must fix") : t("提醒", "Warning")}</Badge> {pick(f.message_zh, f.message_en)}</li>)}
        </ul>
      )}
      <ProblemView problem={matter.problem} />
      {matter.data && (
        <ApplicationForm matter={matter.data} initial={initial} initialMaterials={materials}
          submitLabel={t("提交补正", "Send the correction")}
          onSubmit={async (form, mats) => {
            await unwrap(api.POST("/v1/applications/{application_id}/actions/{action}", {
              params: { path: { application_id: a.id, action: "supplement" } },
              body: { form, materials: mats },
            }));
            props.onDone();
          }} />
      )}
    </section>
  );
}

function actionLabel(action: string): string {
  const names: Record<string, [string, string]> = {
    submit: ["提交", "submitted"], create: ["提交", "submitted"], prereview: ["智能预审", "pre-review"],
    accept: ["受理", "accepted"], refuse: ["不予受理", "not accepted"], review: ["审查", "review started"],
    request_correction: ["要求补正", "correction requested"], supplement: ["补正", "corrected"],
    approve: ["准予许可", "approved"], deny: ["不予许可", "denied"], issue: ["出证", "licence issued"],
    complete: ["办结", "completed"], withdraw: ["撤回", "withdrawn"], extend: ["延长时限", "time limit extended"],
  };
  const name = names[action];
  return name ? t(name[0], name[1]) : action;
}

function roleLabel(role: string): string {
  const names: Record<string, [string, string]> = {
    applicant: ["申请人", "applicant"], window_officer: ["窗口人员", "window officer"], reviewer: ["审查人员", "reviewer"],
    service: ["系统", "the platform"],
  };
  const name = names[role];
  return name ? t(name[0], name[1]) : role;
}

function Timeline(props: { steps: Step[] }) {
  return (
    <section class="card" aria-labelledby="timeline-title">
      <h3 id="timeline-title">{t("办理记录", "Timeline")}</h3>
      <ol class="app-timeline" data-testid="timeline">
        {props.steps.map((s) => (
          <li>
            <p><Badge tone={statusTone(s.status)}>{statusLabel(s.status)}</Badge>{" "}
              <span>{actionLabel(s.action)}</span> · <span class="hint">{roleLabel(s.actor_role)}</span></p>
            <p class="hint"><time dateTime={s.occurred_at}>{formatDateTime(s.occurred_at)}</time></p>
            {s.reason && <p lang="zh-CN">{s.reason}</p>}
            {findingsOf(s).length > 0 && (
              <ul class="app-problems">
                {findingsOf(s).map((f) => <li>{pick(f.message_zh, f.message_en)}</li>)}
              </ul>
            )}
          </li>
        ))}
      </ol>
    </section>
  );
}

function Details(props: { application: Application }) {
  const a = props.application;
  return (
    <details class="card">
      <summary>{t("申请内容", "What you submitted")}</summary>
      <dl class="facts">
        <dt>{t("事项", "Matter")}</dt><dd><a href={href("matters", a.matter_code)}>{a.matter_code}</a></dd>
        <dt>{t("提交次数", "Attempt")}</dt><dd>{a.attempt}</dd>
        {Object.entries(a.form).map(([k, v]) => <><dt>{k}</dt><dd>{String(asInputValue(v))}</dd></>)}
        <dt>{t("材料", "Materials")}</dt><dd>{Object.keys(a.materials).join(t("、", ", ")) || "—"}</dd>
      </dl>
    </details>
  );
}
