/**
 * 亮证 verified offline, without the DOM: only the issuer's published keys (JWKS) and a signed Token
 * Status List fetched earlier. The presentation's format is svc-licences' (service/credentials.py):
 * `LR1:` + base45(COSE_Sign1 CWT, ES256), claims 4 exp, 6 iat, 7 cti, 65535 status
 * {status_list: {idx, uri}}, -65537 identifier, -65539 valid_until.
 */
import { decode as decodeCbor, type DecodeOptions, type TagDecoder } from "cborg";
import { base45Decode } from "./base45";

export const PREFIX = "LR1:";
/** An SM2-signed presentation (国密, svc-licences README): WebCrypto has no SM2, so the platform checks it online. */
export const SM2_PREFIX = "LS1:";
const CWT_EXP = 4, CWT_IAT = 6, CWT_CTI = 7, CWT_STATUS = 65535, CWT_IDENTIFIER = -65537, CWT_VALID_UNTIL = -65539;
const COSE_ALG = 1, COSE_KID = 4, ES256 = -7;
// Token Status List values (2 bits per licence).
export const STATUS_VALID = 0, STATUS_INVALID = 1, STATUS_SUSPENDED = 2;

// Maps as Map (COSE and CWT keys are integers); the CWT (61) and COSE_Sign1 (18) tags are optional
// wrappers, unwrapped; any other tag is malformed.
const unwrap: TagDecoder = (decodeInner) => decodeInner();
const CBOR_OPTIONS: DecodeOptions = { useMaps: true, tags: { 18: unwrap, 61: unwrap } };
const cbor = { decode: (bytes: Uint8Array): unknown => decodeCbor(bytes, CBOR_OPTIONS) };

export type Outcome = "valid" | "revoked" | "suspended" | "expired" | "presentation_expired" | "forged" | "malformed"
  | "status_unknown";

export interface PresentationClaims {
  identifier: string;
  validUntil: number;
  issuedAt: number;
  expiresAt: number;
  cti: string;
  statusUri: string;
  statusIndex: number;
}

export interface StatusList {
  uri: string;
  bits: Uint8Array;
  issuedAt: number;
  expiresAt: number;
  ttl: number;
  /** When this device fetched it (ms since the epoch). */
  fetchedAt: number;
}

/** What offline verification needs: the issuer, its keys by kid, and the status lists by URI. */
export interface TrustMaterial {
  issuer: string;
  keys: Map<string, CryptoKey>;
  lists: Map<string, StatusList>;
  keysFetchedAt: number;
}

export interface OfflineResult {
  outcome: Outcome;
  /** Why, in the API's words: bad_signature, unknown_key, unknown_issuer, malformed, ... */
  reason: string;
  kid?: string;
  claims?: PresentationClaims;
  /** The status list used (its fetch time says how fresh the answer is). */
  statusList?: StatusList;
  statusListStale?: boolean;
}

export class Malformed extends Error {}

interface Sign1 {
  protectedBytes: Uint8Array;
  payload: Uint8Array;
  signature: Uint8Array;
  kid: string;
  alg: unknown;
}

function isBytes(value: unknown): value is Uint8Array {
  return value instanceof Uint8Array;
}

function textOf(value: unknown): string | undefined {
  if (typeof value === "string") return value;
  if (isBytes(value)) return new TextDecoder().decode(value);
  return undefined;
}

/** The COSE_Sign1 inside a presentation's text (tags 61 and 18 optional); Malformed otherwise. */
export function parseSign1(text: string): Sign1 {
  const trimmed = text.trim();
  if (!trimmed.startsWith(PREFIX)) throw new Malformed("prefix");
  let value: unknown;
  try {
    value = cbor.decode(base45Decode(trimmed.slice(PREFIX.length)));
  } catch {
    throw new Malformed("encoding");
  }
  if (!Array.isArray(value) || value.length !== 4) throw new Malformed("structure");
  const [protectedBytes, unprotected, payload, signature] = value;
  if (!isBytes(protectedBytes) || !isBytes(payload) || !isBytes(signature)) throw new Malformed("structure");
  let header: unknown = new Map();
  try {
    if (protectedBytes.length) header = cbor.decode(protectedBytes);
  } catch {
    throw new Malformed("header");
  }
  if (!(header instanceof Map)) throw new Malformed("header");
  const loose = unprotected instanceof Map ? unprotected : new Map();
  const kid = textOf(header.get(COSE_KID) ?? loose.get(COSE_KID));
  if (!kid) throw new Malformed("kid");
  return { protectedBytes, payload, signature, kid, alg: header.get(COSE_ALG) };
}

function head(major: number, length: number): number[] {
  if (length < 24) return [(major << 5) | length];
  if (length < 0x100) return [(major << 5) | 24, length];
  if (length < 0x10000) return [(major << 5) | 25, length >> 8, length & 0xff];
  return [(major << 5) | 26, (length >>> 24) & 0xff, (length >> 16) & 0xff, (length >> 8) & 0xff, length & 0xff];
}

/** RFC 9052 Sig_structure ["Signature1", protected, external_aad = h'', payload], CBOR-encoded. */
export function sigStructure(protectedBytes: Uint8Array, payload: Uint8Array): Uint8Array<ArrayBuffer> {
  const context = new TextEncoder().encode("Signature1");
  const parts = [[0x84], head(3, context.length), context, head(2, protectedBytes.length), protectedBytes, [0x40],
    head(2, payload.length), payload];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

function claimsOf(payload: Uint8Array): PresentationClaims {
  let map: unknown;
  try {
    map = cbor.decode(payload);
  } catch {
    throw new Malformed("payload");
  }
  if (!(map instanceof Map)) throw new Malformed("payload");
  const status = map.get(CWT_STATUS);
  const list = status instanceof Map ? status.get("status_list") : undefined;
  const cti = map.get(CWT_CTI);
  const claims = {
    identifier: map.get(CWT_IDENTIFIER), validUntil: map.get(CWT_VALID_UNTIL), issuedAt: map.get(CWT_IAT),
    expiresAt: map.get(CWT_EXP), cti: isBytes(cti) ? [...cti].map((b) => b.toString(16).padStart(2, "0")).join("") : "",
    statusUri: list instanceof Map ? list.get("uri") : undefined, statusIndex: list instanceof Map ? list.get("idx") : undefined,
  };
  if (typeof claims.identifier !== "string" || typeof claims.statusUri !== "string" || !claims.cti
      || ![claims.validUntil, claims.issuedAt, claims.expiresAt, claims.statusIndex].every(Number.isInteger)) {
    throw new Malformed("claims");
  }
  return claims as PresentationClaims;
}

/** The status list's URI named by a presentation, without checking anything (to fetch it first). */
export function statusUriOf(text: string): string | null {
  try {
    return claimsOf(parseSign1(text).payload).statusUri;
  } catch {
    return null;
  }
}

/** The id of a status list from its URI (`…/v1/licences/status-lists/{id}`). */
export function listIdOf(uri: string): number | null {
  const match = /\/v1\/licences\/status-lists\/(\d+)$/.exec(uri);
  return match ? Number(match[1]) : null;
}

export function statusAt(bits: Uint8Array, index: number): number | null {
  const byte = bits[index >> 2];
  return byte === undefined ? null : (byte >> ((index % 4) * 2)) & 0b11;
}

/**
 * Verify one presentation offline: signature (ES256 over the Sig_structure with the published key of
 * its kid), then the licence's status in the cached list, the licence's validity, the presentation's
 * lifetime. `now` in seconds since the epoch.
 */
export async function verifyOffline(text: string, trust: TrustMaterial, now = Date.now() / 1000): Promise<OfflineResult> {
  if (text.trim().startsWith(SM2_PREFIX)) return { outcome: "status_unknown", reason: "sm2_online_only" };
  let sign1: Sign1;
  let claims: PresentationClaims;
  try {
    sign1 = parseSign1(text);
    claims = claimsOf(sign1.payload);
  } catch {
    return { outcome: "malformed", reason: "malformed" };
  }
  const key = trust.keys.get(sign1.kid);
  if (!key) return { outcome: "forged", reason: "unknown_key", kid: sign1.kid };
  if (sign1.alg !== ES256 || sign1.signature.length !== 64) return { outcome: "forged", reason: "bad_signature", kid: sign1.kid };
  const signed = await crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, key, sign1.signature as BufferSource,
    sigStructure(sign1.protectedBytes, sign1.payload));
  if (!signed) return { outcome: "forged", reason: "bad_signature", kid: sign1.kid };
  if (!claims.statusUri.startsWith(trust.issuer + "/")) return { outcome: "forged", reason: "unknown_issuer", kid: sign1.kid, claims };
  const base = { kid: sign1.kid, claims };
  const list = trust.lists.get(claims.statusUri);
  const status = list ? statusAt(list.bits, claims.statusIndex) : null;
  if (!list || status === null) return { outcome: "status_unknown", reason: "status_unknown", ...base };
  const known = { ...base, statusList: list, statusListStale: list.expiresAt <= now };
  if (status === STATUS_INVALID) return { outcome: "revoked", reason: "revoked", ...known };
  if (status === STATUS_SUSPENDED) return { outcome: "suspended", reason: "suspended", ...known };
  if (claims.validUntil <= now) return { outcome: "expired", reason: "expired", ...known };
  if (claims.expiresAt <= now) return { outcome: "presentation_expired", reason: "presentation_expired", ...known };
  return { outcome: "valid", reason: "valid", ...known };
}

// ---- the trust material: keys and status lists, checked here too ----------------------------------

export interface Jwk {
  kty: string;
  crv?: string;
  x?: string;
  y?: string;
  kid?: string;
}

export async function importKeys(jwks: { keys: Jwk[] }): Promise<Map<string, CryptoKey>> {
  const keys = new Map<string, CryptoKey>();
  for (const jwk of jwks.keys) {
    if (jwk.kty !== "EC" || jwk.crv !== "P-256" || !jwk.kid) continue;
    const key = await crypto.subtle.importKey("jwk", { kty: "EC", crv: "P-256", x: jwk.x, y: jwk.y, ext: true },
      { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"]);
    keys.set(jwk.kid, key);
  }
  return keys;
}

export function base64urlDecode(text: string): Uint8Array {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (text.length % 4)) % 4);
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

async function inflate(data: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([data as BlobPart]).stream().pipeThrough(new DecompressionStream("deflate"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

export class StatusListInvalid extends Error {}

/** A Token Status List JWT (typ statuslist+jwt, ES256) checked with the issuer's keys and unpacked. */
export async function readStatusList(jwt: string, keys: Map<string, CryptoKey>, fetchedAt: number): Promise<StatusList> {
  const parts = jwt.trim().split(".");
  if (parts.length !== 3) throw new StatusListInvalid("format");
  let header: { alg?: string; kid?: string; typ?: string };
  let payload: { sub?: string; iat?: number; exp?: number; ttl?: number; status_list?: { bits?: number; lst?: string } };
  try {
    header = JSON.parse(new TextDecoder().decode(base64urlDecode(parts[0])));
    payload = JSON.parse(new TextDecoder().decode(base64urlDecode(parts[1])));
  } catch {
    throw new StatusListInvalid("format");
  }
  const key = header.kid ? keys.get(header.kid) : undefined;
  if (header.alg !== "ES256" || header.typ !== "statuslist+jwt" || !key) throw new StatusListInvalid("key");
  const ok = await crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, key, base64urlDecode(parts[2]) as BufferSource,
    new TextEncoder().encode(`${parts[0]}.${parts[1]}`));
  if (!ok) throw new StatusListInvalid("signature");
  if (payload.status_list?.bits !== 2 || !payload.status_list.lst || !payload.sub) throw new StatusListInvalid("content");
  return { uri: payload.sub, bits: await inflate(base64urlDecode(payload.status_list.lst)), issuedAt: payload.iat ?? 0,
    expiresAt: payload.exp ?? 0, ttl: payload.ttl ?? 0, fetchedAt };
}
