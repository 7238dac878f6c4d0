/**
 * Chinese first, English on request: every text a page shows is written as `t("中文", "English")`.
 * The choice is remembered on the device and sent to the API (Accept-Language) so problem titles
 * and translated texts follow it.
 */
import { useEffect, useState } from "preact/hooks";

export type Language = "zh" | "en";
const KEY = "lvrong.language";
const listeners = new Set<() => void>();

function initial(): Language {
  const saved = localStorage.getItem(KEY);
  if (saved === "zh" || saved === "en") return saved;
  return "zh";
}

let current: Language = initial();
document.documentElement.lang = current === "zh" ? "zh-CN" : "en";

export function language(): Language {
  return current;
}

export function setLanguage(next: Language): void {
  current = next;
  localStorage.setItem(KEY, next);
  document.documentElement.lang = next === "zh" ? "zh-CN" : "en";
  listeners.forEach((notify) => notify());
}

export function t(zh: string, en: string): string {
  return current === "en" ? en : zh;
}

/** The Chinese or English member of a pair the API sends (``title_zh``/``title_en``, ``message``/``message_en``). */
export function pick(zh: string | null | undefined, en: string | null | undefined): string {
  return (current === "en" ? en || zh : zh || en) ?? "";
}

/** Re-render the calling component when the language changes. */
export function useLanguage(): Language {
  const [value, setValue] = useState(current);
  useEffect(() => {
    const notify = () => setValue(current);
    listeners.add(notify);
    return () => void listeners.delete(notify);
  }, []);
  return value;
}

const DATE_TIME = { year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" } as const;

export function formatDateTime(iso: string | null | undefined): string {
  if (!iso) return "—";
  return new Date(iso).toLocaleString(current === "en" ? "en-GB" : "zh-CN", DATE_TIME);
}

export function formatDate(iso: string | null | undefined): string {
  if (!iso) return "—";
  const date = iso.length === 10 ? new Date(`${iso}T00:00:00`) : new Date(iso);
  return date.toLocaleDateString(current === "en" ? "en-GB" : "zh-CN", { year: "numeric", month: "2-digit", day: "2-digit" });
}

/** Today in Shanghai as YYYY-MM-DD (the platform's days — a venue's booking day, a report's — are Shanghai days). */
export function todayInShanghai(): string {
  return new Intl.DateTimeFormat("en-CA", { timeZone: "Asia/Shanghai" }).format(new Date());
}
