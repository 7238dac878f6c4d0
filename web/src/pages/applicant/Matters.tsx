/** 办事指南: the matters one may apply for, and one matter's guide. */
import { api, unwrap } from "../../shared/api";
import { pick, t, useLanguage } from "../../shared/i18n";
import { Badge, ProblemView } from "../../shared/ui";
import { kindLabel } from "./labels";
import { useLoad } from "../../shared/load";
import { yuan } from "./labels";
import { href } from "./router";

export function MatterList() {
  useLanguage();
  const matters = useLoad(() => unwrap(api.GET("/v1/matters", { params: { query: { limit: 100 } } })), []);
  return (
    <section aria-labelledby="matters-title">
      <h2 id="matters-title">{t("办事指南", "Service guides")}</h2>
      <ProblemView problem={matters.problem} />
      {matters.loading && !matters.data && <p role="status">{t("正在加载…", "Loading…")}</p>}
      <ul class="app-list">
        {matters.data?.items.map((m) => (
          <li class="card app-item">
            <a href={href("matters", m.code)} class="app-item-title">{pick(m.name_zh, m.name_en)}</a>
            <p class="hint">
              <span>{m.code}</span> · <span>{kindLabel(m.kind)}</span> · <span>{m.department}</span>
            </p>
            <p class="hint">
              {t(`承诺 ${m.promised_days} 个工作日（法定 ${m.statutory_days} 个工作日）`,
                `Promised in ${m.promised_days} working days (statutory ${m.statutory_days})`)}
            </p>
          </li>
        ))}
      </ul>
    </section>
  );
}

export function MatterGuide(props: { code: string }) {
  useLanguage();
  const matter = useLoad(() => unwrap(api.GET("/v1/matters/{code}", { params: { path: { code: props.code } } })), [props.code]);
  const m = matter.data;
  return (
    <section aria-labelledby="guide-title">
      <p><a href={href("matters")}>{t("← 全部事项", "← All matters")}</a></p>
      <ProblemView problem={matter.problem} />
      {!m && !matter.problem && <p role="status">{t("正在加载…", "Loading…")}</p>}
      {m && (
        <>
          <h2 id="guide-title">{pick(m.name_zh, m.name_en)}</h2>
          <p><Badge tone="info">{kindLabel(m.kind)}</Badge> <span class="hint">{m.code} · {t("版本", "version")} {m.version}</span></p>
          <div class="card">
            <h3>{t("基本信息", "At a glance")}</h3>
            <dl class="facts">
              <dt>{t("实施机构", "Department")}</dt><dd>{m.department}</dd>
              <dt>{t("法定时限", "Statutory time limit")}</dt><dd>{t(`${m.statutory_days} 个工作日`, `${m.statutory_days} working days`)}</dd>
              <dt>{t("承诺时限", "Promised time limit")}</dt><dd>{t(`${m.promised_days} 个工作日`, `${m.promised_days} working days`)}</dd>
              <dt>{t("收费", "Fee")}</dt>
              <dd>{m.fee.amount_fen === 0 ? t("不收费", "Free of charge") : t(`${yuan(m.fee.amount_fen)} 元`, `CNY ${yuan(m.fee.amount_fen)}`)}
                {m.fee.note_zh && <span class="hint app-block" lang="zh-CN">{m.fee.note_zh}</span>}</dd>
              {m.licence_type && <><dt>{t("办理结果", "Result")}</dt><dd>{m.licence_type}</dd></>}
              <dt>{t("办理渠道", "Channels")}</dt><dd>{m.channels.map(channelLabel).join(t("、", ", "))}</dd>
            </dl>
            {m.help_video_url && (
              <p><a href={m.help_video_url} rel="noopener noreferrer" target="_blank">
                {t("观看办事指引视频（新窗口）", "Watch the help video (new window)")}</a></p>
            )}
          </div>
          {m.conditions_zh.length > 0 && (
            <div class="card">
              <h3>{t("申请条件", "Conditions")}</h3>
              <ul lang="zh-CN">{m.conditions_zh.map((c) => <li>{c}</li>)}</ul>
            </div>
          )}
          <div class="card">
            <h3>{t("需填写的信息", "Information to fill in")}</h3>
            <ul>
              {m.fields.map((f) => (
                <li>{pick(f.label, f.label_en)} {f.required
                  ? <Badge tone="warn">{t("必填", "required")}</Badge>
                  : <Badge tone="info">{t("选填", "optional")}</Badge>}</li>
              ))}
            </ul>
          </div>
          <div class="card">
            <h3>{t("申请材料", "Materials")}</h3>
            <ul>
              {m.materials.map((x) => (
                <li>{pick(x.name, x.name_en)} {x.required
                  ? <Badge tone="warn">{t("必交", "required")}</Badge>
                  : <Badge tone="info">{t("选交", "optional")}</Badge>}
                  <span class="hint app-block">
                    {x.file_types.length > 0 && t(`格式：${x.file_types.join("、")}`, `Formats: ${x.file_types.join(", ")}`)}
                    {x.max_size_mb ? t(`，不超过 ${x.max_size_mb} MB`, `, up to ${x.max_size_mb} MB`) : ""}
                    {x.substitutes.length > 0 && t("；可用已持有的电子证照免交", "; a licence you hold can stand in for it")}
                  </span>
                </li>
              ))}
            </ul>
          </div>
          {m.legal_basis.length > 0 && (
            <div class="card">
              <h3>{t("设定依据", "Legal basis")}</h3>
              <ul lang="zh-CN">{m.legal_basis.map((b) => <li>{b}</li>)}</ul>
            </div>
          )}
          <p class="actions"><a class="app-button primary" href={href("apply", m.code)}>{t("在线申请", "Apply online")}</a></p>
        </>
      )}
    </section>
  );
}

function channelLabel(channel: string): string {
  const names: Record<string, [string, string]> = {
    online: ["网上办", "online"], hall: ["窗口办", "at the hall"], mobile: ["掌上办", "on the phone"],
    kiosk: ["自助终端", "self-service kiosk"], mail: ["邮寄", "by post"],
  };
  const name = names[channel];
  return name ? t(name[0], name[1]) : channel;
}
