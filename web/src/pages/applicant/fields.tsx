/** One input per field definition of a matter (type, required, options, limits), with its label, the
 * pre-filled value's source and freshness, and the problems the pre-review found with it. */
import type { Schemas } from "@lvrong/client";
import { formatDateTime, pick, t, useLanguage } from "../../shared/i18n";
import { Badge } from "../../shared/ui";
import { DISTRICTS, sourceLabel } from "./labels";

export type FieldSpec = Schemas["FormFieldSpec"];
export type Prefilled = Schemas["PrefilledField"];
export type Finding = Schemas["Finding"];
export type Values = Record<string, string | boolean>;

export function inputId(key: string): string {
  return `field-${key}`;
}

/** The form as text inputs hold it → the values the API expects (numbers as numbers, empty left out). */
export function formPayload(fields: FieldSpec[], values: Values): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of fields) {
    const value = values[f.key];
    if (f.type === "boolean") {
      if (value !== undefined) out[f.key] = value === true;
      continue;
    }
    if (typeof value !== "string" || value.trim() === "") continue;
    const text = value.trim();
    if (f.type === "integer" && /^-?\d+$/.test(text)) out[f.key] = Number(text);
    else if (f.type === "decimal" && !Number.isNaN(Number(text))) out[f.key] = Number(text);
    else out[f.key] = text;
  }
  return out;
}

/** Values of the API (an application's form, a pre-fill) as the inputs hold them. */
export function asInputValue(value: unknown): string | boolean {
  if (typeof value === "boolean") return value;
  if (value === null || value === undefined) return "";
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}

export function FieldInput(props: {
  spec: FieldSpec; value: string | boolean | undefined; prefilled?: Prefilled; problems: Finding[];
  onChange: (value: string | boolean) => void;
}) {
  useLanguage();
  const { spec, value, prefilled, problems } = props;
  const id = inputId(spec.key);
  const describedBy = [prefilled && `${id}-source`, problems.length > 0 && `${id}-problems`].filter(Boolean).join(" ") || undefined;
  const invalid = problems.some((p) => p.severity === "blocking");
  const common = { id, name: spec.key, required: spec.required ?? false, "aria-describedby": describedBy,
    "aria-invalid": invalid || undefined };
  const text = typeof value === "string" ? value : "";
  let input;
  if (spec.type === "boolean") {
    input = (
      <div class="app-check">
        <input {...common} type="checkbox" required={false} checked={value === true}
          onChange={(e) => props.onChange(e.currentTarget.checked)} />
        <label for={id}>{pick(spec.label, spec.label_en)}</label>
      </div>
    );
  } else if (spec.type === "enum" || spec.type === "district") {
    const options = spec.type === "enum" ? (spec.options ?? []) : DISTRICTS.map((d) => ({ value: d, label: d }));
    input = (
      <select {...common} value={text} onChange={(e) => props.onChange(e.currentTarget.value)}>
        <option value="">{t("请选择", "Choose")}</option>
        {options.map((o) => <option value={o.value}>{o.label}</option>)}
      </select>
    );
  } else if (spec.type === "text") {
    input = <textarea {...common} rows={3} maxLength={spec.max_length ?? undefined} value={text}
      onInput={(e) => props.onChange(e.currentTarget.value)} />;
  } else {
    const kind = spec.type === "date" ? "date" : spec.type === "mobile" ? "tel" : "text";
    const mode = spec.type === "integer" ? "numeric" : spec.type === "decimal" ? "decimal" : spec.type === "mobile" ? "tel" : undefined;
    input = <input {...common} type={kind} inputMode={mode} maxLength={spec.max_length ?? undefined} value={text}
      autocomplete={spec.type === "mobile" ? "tel" : "off"}
      onInput={(e) => props.onChange(e.currentTarget.value)} />;
  }
  return (
    <div class={`app-field${invalid ? " app-field-invalid" : ""}`}>
      {spec.type !== "boolean" && (
        <label for={id}>
          {pick(spec.label, spec.label_en)}
          {spec.required && <span class="app-required"> {t("（必填）", "(required)")}</span>}
        </label>
      )}
      {input}
      {hint(spec) && <p class="hint">{hint(spec)}</p>}
      {prefilled && (
        <p class="app-source" id={`${id}-source`}>
          <Badge tone="info">{t("已预填", "Pre-filled")}</Badge>{" "}
          {t("来源：", "Source: ")}{sourceLabel(prefilled.source)}
          <span class="hint"> ({prefilled.source_ref})</span>
          {" · "}{t("数据截至 ", "as of ")}<time dateTime={prefilled.as_of}>{formatDateTime(prefilled.as_of)}</time>
          {String(asInputValue(prefilled.value)) !== String(value ?? "") && (
            <> · <Badge tone="warn">{t("已修改", "changed by you")}</Badge></>
          )}
        </p>
      )}
      {problems.length > 0 && (
        <ul class="app-field-problems" id={`${id}-problems`}>
          {problems.map((p) => (
            <li><Badge tone={p.severity === "blocking" ? "bad" : "warn"}>
              {p.severity === "blocking" ? t("需修改", "Must fix") : t("提醒", "Warning")}</Badge>{" "}
              {pick(p.message_zh, p.message_en)}</li>
          ))}
        </ul>
      )}
    </div>
  );
}

function hint(spec: FieldSpec): string {
  switch (spec.type) {
    case "uscc": return t("18 位统一社会信用代码", "18-character unified social credit code");
    case "resident_id": return t("18 位居民身份证号码", "18-digit resident ID number");
    case "mobile": return t("11 位手机号码", "11-digit mobile number");
    case "integer": case "decimal": {
      const range = [spec.min != null ? `≥ ${spec.min}` : "", spec.max != null ? `≤ ${spec.max}` : ""].filter(Boolean).join(", ");
      return range ? t(`数值 ${range}`, `A number ${range}`) : "";
    }
    default: return "";
  }
}
