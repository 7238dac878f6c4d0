/**
 * The trust material on this device: the issuer's keys (JWKS) and the status lists, fetched from the
 * gateway when it is reachable and kept in localStorage with their fetch time, so a phone without a
 * network still verifies with what it fetched last.
 */
import { api, unwrap } from "../../shared/api";
import { type Jwk, type StatusList, type TrustMaterial, importKeys, listIdOf, readStatusList } from "./offline";

const KEY = "lvrong.verify.trust.v1";

interface Saved {
  issuer: string;
  jwks: { keys: Jwk[] };
  keysFetchedAt: number;
  lists: Record<string, { jwt: string; fetchedAt: number }>;
}

function saved(): Saved | null {
  try {
    const value = JSON.parse(localStorage.getItem(KEY) ?? "null") as Saved | null;
    return value && typeof value.issuer === "string" && Array.isArray(value.jwks?.keys) ? value : null;
  } catch {
    return null;
  }
}

function save(value: Saved): void {
  localStorage.setItem(KEY, JSON.stringify(value));
}

/** What was cached on this device, checked again (a list whose signature fails is dropped). */
export async function cachedTrust(): Promise<TrustMaterial | null> {
  const value = saved();
  if (!value) return null;
  const keys = await importKeys(value.jwks);
  const lists = new Map<string, StatusList>();
  for (const [uri, entry] of Object.entries(value.lists ?? {})) {
    try {
      lists.set(uri, await readStatusList(entry.jwt, keys, entry.fetchedAt));
    } catch {
      // not signed by a key we hold any more: fetched again when online
    }
  }
  return { issuer: value.issuer, keys, lists, keysFetchedAt: value.keysFetchedAt };
}

/** The issuer and its keys from the gateway (public, no token), saved on the device. */
export async function fetchKeys(): Promise<TrustMaterial> {
  const [metadata, jwks] = await Promise.all([
    unwrap(api.GET("/.well-known/jwt-vc-issuer", { cache: "no-cache" })) as Promise<{ issuer: string }>,
    unwrap(api.GET("/v1/licences/issuer/jwks.json", { cache: "no-cache" })) as Promise<{ keys: Jwk[] }>,
  ]);
  const now = Date.now();
  const previous = saved();
  const value: Saved = { issuer: metadata.issuer, jwks, keysFetchedAt: now,
    lists: previous?.issuer === metadata.issuer ? previous.lists : {} };
  save(value);
  const material = await cachedTrust();
  return material ?? { issuer: metadata.issuer, keys: await importKeys(jwks), lists: new Map(), keysFetchedAt: now };
}

/** The status list at ``uri`` fetched now (never from the HTTP cache: a revocation shows at once), checked and saved. */
export async function fetchList(material: TrustMaterial, uri: string): Promise<StatusList> {
  const id = listIdOf(uri);
  if (id === null || !uri.startsWith(material.issuer + "/")) throw new Error("not this issuer's status list");
  const jwt = await unwrap(api.GET("/v1/licences/status-lists/{list_id}", { params: { path: { list_id: id } },
    parseAs: "text", cache: "no-store" })) as string;
  const fetchedAt = Date.now();
  const list = await readStatusList(jwt, material.keys, fetchedAt);
  if (list.uri !== uri) throw new Error("the list answered is not the one named");
  material.lists.set(uri, list);
  const value = saved();
  if (value && value.issuer === material.issuer) {
    value.lists = { ...value.lists, [uri]: { jwt, fetchedAt } };
    save(value);
  }
  return list;
}
