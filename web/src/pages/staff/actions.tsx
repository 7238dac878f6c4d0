/** The actions open to the caller on one application, each with the note or reason the API asks for. */
import { useState } from "preact/hooks";
import type { Problem, Schemas } from "@lvrong/client";
import { api, unwrap } from "../../shared/api";
import { t, useLanguage } from "../../shared/i18n";
import { ProblemView, problemOf } from "../../shared/ui";
import { ACTIONS, actionLabel } from "./labels";
import { useLoad } from "../../shared/load";

type View = Schemas["ApplicationView"];

function AssigneeField(props: { department: string; value: string; onChange: (v: string) => void }) {
  const handlers = useLoad(() => unwrap(api.GET("/v1/applications/handlers", { params: { query: { department: props.department } } })),
    [props.department]);
  return (
    <>
      <label for="action-assignee">{t("指派给", "Assign to")}</label>
      <select id="action-assignee" required value={props.value} onChange={(e) => props.onChange(e.currentTarget.value)}>
        <option value="">{t("请选择同事", "Choose a colleague")}</option>
        {(handlers.data ?? []).map((h) => (
          <option value={h.subject}>
            {`${h.name ?? h.subject}（${h.roles.map((r) => r === "reviewer" ? t("审查", "reviewer") : t("受理", "window")).join("、")}，${t("在办", "holding")} ${h.open_applications}）`}
          </option>
        ))}
      </select>
      <ProblemView problem={handlers.problem} />
    </>
  );
}

function ActionForm(props: { view: View; action: string; onDone: (view: View) => void; onCancel: () => void }) {
  const spec = ACTIONS[props.action];
  const [reason, setReason] = useState("");
  const [days, setDays] = useState("5");
  const [assignee, setAssignee] = useState("");
  const [problem, setProblem] = useState<Problem | null>(null);
  const [busy, setBusy] = useState(false);
  async function submit(event: Event) {
    event.preventDefault();
    setBusy(true);
    setProblem(null);
    try {
      const body = {
        ...(reason.trim() ? { reason: reason.trim() } : {}),
        ...(props.action === "extend" ? { working_days: Number(days) } : {}),
        ...(props.action === "assign" ? { assignee } : {}),
      };
      props.onDone(await unwrap(api.POST("/v1/applications/{application_id}/actions/{action}", {
        params: { path: { application_id: props.view.id, action: props.action } }, body })));
    } catch (error) {
      setProblem(problemOf(error));
    } finally {
      setBusy(false);
    }
  }
  const label = actionLabel(props.action);
  return (
    <form class="action-form" onSubmit={submit} aria-label={label}>
      {props.action === "assign" && <AssigneeField department={props.view.department} value={assignee} onChange={setAssignee} />}
      {props.action === "extend" && (
        <>
          <label for="action-days">{t("延长工作日数", "Working days to add")}</label>
          <input id="action-days" type="number" min={1} max={60} required value={days} onInput={(e) => setDays(e.currentTarget.value)} />
        </>
      )}
      <label for="action-reason">
        {spec ? t(spec.reasonLabel[0], spec.reasonLabel[1]) : t("备注", "Note")}
        {spec?.reason === "required" ? t("（必填）", " (required)") : t("（选填）", " (optional)")}
      </label>
      <textarea id="action-reason" rows={3} maxLength={2000} required={spec?.reason === "required"} value={reason}
        onInput={(e) => setReason(e.currentTarget.value)} />
      <ProblemView problem={problem} />
      <div class="actions">
        <button type="submit" class={spec?.tone === "danger" ? "danger" : "primary"} disabled={busy}>
          {t(`确认${label}`, `Confirm: ${label}`)}
        </button>
        <button type="button" onClick={props.onCancel}>{t("取消", "Cancel")}</button>
      </div>
    </form>
  );
}

export function ActionPanel(props: { view: View; onChanged: (view: View) => void }) {
  useLanguage();
  const [open, setOpen] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const allowed = props.view.allowed_actions ?? [];
  return (
    <section class="card" aria-labelledby="actions-title">
      <h2 id="actions-title">{t("办理", "Actions")}</h2>
      <p role="status" class="hint">{done ? t(`已${actionLabel(done)}`, `Done: ${actionLabel(done)}`) : ""}</p>
      {allowed.length === 0 && <p>{t("当前没有您可以办理的操作。", "There is nothing for you to do on it now.")}</p>}
      <div class="actions">
        {allowed.map((action) => (
          <button type="button" class={ACTIONS[action]?.tone === "danger" ? "danger" : ""} aria-expanded={open === action}
            onClick={() => setOpen(open === action ? null : action)}>
            {actionLabel(action)}
          </button>
        ))}
      </div>
      {open && allowed.includes(open) && (
        <ActionForm key={open} view={props.view} action={open} onCancel={() => setOpen(null)}
          onDone={(view) => { setDone(open); setOpen(null); props.onChanged(view); }} />
      )}
    </section>
  );
}
