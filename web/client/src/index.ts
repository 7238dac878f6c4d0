/**
 * The typed client of the 绿容一网通办 public API (everything goes through the gateway).
 *
 * `paths` and `components` are generated from the gateway's merged OpenAPI document at every build
 * (`npm run generate`), so a request or a field the API no longer has is a type error here and in
 * every app that imports this package.
 */
import createClient, { type Client, type Middleware } from "openapi-fetch";
import type { components, paths } from "./schema";

export type { components, paths };
export type Schemas = components["schemas"];

/** One offending input of a 422 (RFC 9457 extension ``errors``). */
export interface FieldError {
  field: string;
  message: string;
  message_en?: string | null;
  code?: string | null;
}

/** Every error the platform answers: RFC 9457 problem details, titles in Chinese and English. */
export interface Problem {
  type: string;
  title: string;
  title_zh: string;
  title_en: string;
  status: number;
  detail?: string;
  instance?: string;
  request_id?: string;
  errors?: FieldError[];
  [extension: string]: unknown;
}

export function isProblem(value: unknown): value is Problem {
  return typeof value === "object" && value !== null && "title_zh" in value && "status" in value;
}

export interface ClientOptions {
  /** Where the gateway is; "" (the default) is the page's own origin. */
  baseUrl?: string;
  /** The bearer token to send, if any (read at every request, so a refreshed token is used at once). */
  token?: () => string | null | undefined;
  /** "zh" or "en": the language of problem titles and of texts the API translates. */
  language?: () => string;
  /** Called when the gateway answers 401 (token missing or expired). */
  onUnauthorized?: (response: Response) => void;
  fetch?: typeof fetch;
}

export type LvrongClient = Client<paths>;

export function createLvrongClient(options: ClientOptions = {}): LvrongClient {
  const client = createClient<paths>({ baseUrl: options.baseUrl ?? "", fetch: options.fetch });
  const middleware: Middleware = {
    onRequest({ request }) {
      const token = options.token?.();
      if (token && !request.headers.has("Authorization")) request.headers.set("Authorization", `Bearer ${token}`);
      const language = options.language?.();
      if (language) request.headers.set("Accept-Language", language === "en" ? "en" : "zh-CN");
      return request;
    },
    onResponse({ response }) {
      if (response.status === 401) options.onUnauthorized?.(response);
      return response;
    },
  };
  client.use(middleware);
  return client;
}

/** A fresh ``Idempotency-Key`` for a request that creates something (safe to retry with the same key). */
export function idempotencyKey(): string {
  return crypto.randomUUID();
}
