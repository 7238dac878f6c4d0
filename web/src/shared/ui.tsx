/** What every page shares: the frame (skip link, language and large-text switches, who is logged
 * in), problems shown with every field error, and the password login form. */
import type { ComponentChildren } from "preact";
import { useEffect, useState } from "preact/hooks";
import type { Problem } from "@lvrong/client";
import { ApiError } from "./api";
import { LoginFailed, completeOidcLogin, loginConfiguration, loginWithPassword, logout, startOidcLogin, useClaims } from "./auth";
import { pick, setLanguage, t, useLanguage } from "./i18n";
import type { Tone } from "./labels";
import { largeText, setLargeText } from "./preferences";
import "./styles.css";

export interface NavLink {
  href: string;
  label: ComponentChildren;
}

/** ``title`` is the page's one h1; ``tabTitle`` (the view within the page, when it has several) names the tab. */
export function Shell(props: { title: string; tabTitle?: string; nav?: NavLink[]; children: ComponentChildren }) {
  const lang = useLanguage();
  const who = useClaims();
  const [large, setLarge] = useState(largeText());
  document.title = `${props.tabTitle ?? props.title} · ${t("绿容一网通办", "Lvrong One-Stop Services")}`;
  return (
    <>
      <a class="skip-link" href="#main">{t("跳到主要内容", "Skip to main content")}</a>
      <header class="top-bar">
        <div class="brand">
          <span class="brand-mark" aria-hidden="true">绿</span>
          <span>{t("绿容一网通办", "Lvrong One-Stop")}</span>
        </div>
        <div class="top-actions">
          <button type="button" class="ghost" lang={lang === "zh" ? "en" : "zh-CN"}
            onClick={() => setLanguage(lang === "zh" ? "en" : "zh")}>
            {lang === "zh" ? "English" : "中文"}
          </button>
          <button type="button" class="ghost" aria-pressed={large}
            onClick={() => { setLargeText(!large); setLarge(!large); }}>
            {t("大字", "Large text")}
          </button>
          {who && (
            <button type="button" class="ghost" onClick={() => logout()}>
              {t("退出", "Log out")}<span class="visually-hidden"> {who.name ?? who.sub}</span>
            </button>
          )}
        </div>
      </header>
      {props.nav && (
        <nav class="page-nav" aria-label={t("页面导航", "Page navigation")}>
          {props.nav.map((link) => <a href={link.href}>{link.label}</a>)}
        </nav>
      )}
      <main id="main" tabIndex={-1}>
        <h1>{props.title}</h1>
        {props.children}
      </main>
    </>
  );
}

/** A problem the API answered: its title, detail and every field error, announced to screen readers. */
export function ProblemView(props: { problem: Problem | null | undefined }) {
  useLanguage();
  const problem = props.problem;
  if (!problem) return null;
  return (
    <div class="problem" role="alert">
      <p class="problem-title">{pick(problem.title_zh, problem.title_en)}</p>
      {problem.detail && <p>{problem.detail}</p>}
      {problem.errors && problem.errors.length > 0 && (
        <ul>
          {problem.errors.map((e) => <li><code>{e.field}</code> {pick(e.message, e.message_en)}</li>)}
        </ul>
      )}
    </div>
  );
}

export function problemOf(error: unknown): Problem {
  if (error instanceof ApiError) return error.problem;
  const message = error instanceof Error ? error.message : String(error);
  return { type: "about:blank", status: 0, title: message, title_zh: message, title_en: message };
}

/** Log in: the development issuer's password form, or a button to the city's identity platform. */
export function LoginForm(props: { hint?: string; onLoggedIn?: () => void }) {
  useLanguage();
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [problem, setProblem] = useState<Problem | null>(null);
  const [busy, setBusy] = useState(false);
  const [oidc, setOidc] = useState(false);
  useEffect(() => {
    loginConfiguration().then(async (config) => {
      setOidc(config.login === "oidc");
      // Back from the identity platform with ?code=: exchange it (completeOidcLogin checks the state).
      if (config.login === "oidc" && await completeOidcLogin()) props.onLoggedIn?.();
    }).catch((error) => setProblem(problemOf(error)));
  }, []);
  if (oidc) {
    return (
      <section class="card" aria-labelledby="login-title">
        <h2 id="login-title">{t("登录", "Log in")}</h2>
        <ProblemView problem={problem} />
        <button type="button" class="primary" onClick={() => startOidcLogin()}>
          {t("通过一网通办统一身份认证登录", "Log in with the city's identity platform")}
        </button>
      </section>
    );
  }
  async function submit(event: Event) {
    event.preventDefault();
    setBusy(true);
    setProblem(null);
    try {
      await loginWithPassword(username, password);
      props.onLoggedIn?.();
    } catch (error) {
      setProblem(error instanceof LoginFailed
        ? { type: "about:blank", status: 400, title: error.message, title_zh: t("用户名或密码错误", "Wrong user name or password"), title_en: "Wrong user name or password" }
        : problemOf(error));
    } finally {
      setBusy(false);
    }
  }
  return (
    <form class="card" onSubmit={submit} aria-labelledby="login-title">
      <h2 id="login-title">{t("登录", "Log in")}</h2>
      {props.hint && <p class="hint">{props.hint}</p>}
      <label for="login-username">{t("用户名", "User name")}</label>
      <input id="login-username" name="username" autocomplete="username" required value={username}
        onInput={(e) => setUsername(e.currentTarget.value)} />
      <label for="login-password">{t("密码", "Password")}</label>
      <input id="login-password" name="password" type="password" autocomplete="current-password" required value={password}
        onInput={(e) => setPassword(e.currentTarget.value)} />
      <ProblemView problem={problem} />
      <button type="submit" class="primary" disabled={busy}>{t("登录", "Log in")}</button>
    </form>
  );
}

/** A status shown in words and colour both (never colour alone). */
export function Badge(props: { tone: Tone; children: ComponentChildren }) {
  return <span class={`badge badge-${props.tone}`}>{props.children}</span>;
}
