/**
 * Logging in from a page: the gateway's development issuer (password grant) or, by the gateway's
 * configuration (`GET /app/config.json`), the city's identity platform with the authorization code
 * flow and PKCE (RFC 7636). The access token lives in this tab's sessionStorage only.
 */
import { useEffect, useState } from "preact/hooks";

const TOKEN_KEY = "lvrong.token";
const VERIFIER_KEY = "lvrong.pkce";
const listeners = new Set<() => void>();

export interface LoginConfiguration {
  login: "password" | "oidc";
  token_endpoint: string;
  authorization_endpoint?: string;
  client_id?: string;
  scope?: string;
}

export interface Claims {
  sub: string;
  name?: string;
  roles?: string[];
  scope?: string;
  kind?: string;
  department?: string;
  exp: number;
}

export class LoginFailed extends Error {}

let configuration: Promise<LoginConfiguration> | null = null;

export function loginConfiguration(): Promise<LoginConfiguration> {
  configuration ??= fetch("/app/config.json").then((r) => r.json() as Promise<LoginConfiguration>);
  return configuration;
}

function decode(token: string): Claims | null {
  try {
    const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const json = new TextDecoder().decode(Uint8Array.from(atob(payload), (c) => c.charCodeAt(0)));
    return JSON.parse(json) as Claims;
  } catch {
    return null;
  }
}

export function token(): string | null {
  const value = sessionStorage.getItem(TOKEN_KEY);
  if (!value) return null;
  const claims = decode(value);
  if (!claims || claims.exp * 1000 <= Date.now()) {
    sessionStorage.removeItem(TOKEN_KEY);
    return null;
  }
  return value;
}

export function claims(): Claims | null {
  const value = token();
  return value ? decode(value) : null;
}

export function hasRole(role: string): boolean {
  return claims()?.roles?.includes(role) ?? false;
}

function store(value: string | null): void {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
  listeners.forEach((notify) => notify());
}

export function logout(): void {
  store(null);
}

export async function loginWithPassword(username: string, password: string): Promise<Claims> {
  const config = await loginConfiguration();
  const response = await fetch(config.token_endpoint, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "password", username, password }),
  });
  const body = await response.json();
  if (!response.ok) throw new LoginFailed(body.title ?? String(response.status));
  store(body.access_token);
  return decode(body.access_token) as Claims;
}

function base64url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** Off to the city's identity platform; it sends the person back to this page with ``?code=``. */
export async function startOidcLogin(): Promise<void> {
  const config = await loginConfiguration();
  const verifier = base64url(crypto.getRandomValues(new Uint8Array(32)));
  const challenge = base64url(new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier))));
  const state = base64url(crypto.getRandomValues(new Uint8Array(16)));
  sessionStorage.setItem(VERIFIER_KEY, JSON.stringify({ verifier, state }));
  const url = new URL(config.authorization_endpoint ?? "");
  url.search = new URLSearchParams({
    response_type: "code", client_id: config.client_id ?? "", redirect_uri: location.origin + location.pathname,
    scope: config.scope ?? "openid", state, code_challenge: challenge, code_challenge_method: "S256",
  }).toString();
  location.assign(url.toString());
}

/** Back from the identity platform: exchange the code for a token (once), then clean the address. */
export async function completeOidcLogin(): Promise<boolean> {
  const params = new URLSearchParams(location.search);
  const code = params.get("code");
  const saved = sessionStorage.getItem(VERIFIER_KEY);
  if (!code || !saved) return false;
  sessionStorage.removeItem(VERIFIER_KEY);
  const { verifier, state } = JSON.parse(saved) as { verifier: string; state: string };
  if (params.get("state") !== state) throw new LoginFailed("state mismatch");
  const config = await loginConfiguration();
  const response = await fetch(config.token_endpoint, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code", code, code_verifier: verifier, client_id: config.client_id ?? "",
      redirect_uri: location.origin + location.pathname,
    }),
  });
  const body = await response.json();
  if (!response.ok) throw new LoginFailed(body.error_description ?? body.error ?? String(response.status));
  history.replaceState(null, "", location.pathname + location.hash);
  store(body.access_token);
  return true;
}

/** The person logged in now (null when nobody is), re-rendering on login, logout and expiry. */
export function useClaims(): Claims | null {
  const [value, setValue] = useState(claims());
  useEffect(() => {
    const notify = () => setValue(claims());
    listeners.add(notify);
    return () => void listeners.delete(notify);
  }, []);
  return value;
}
