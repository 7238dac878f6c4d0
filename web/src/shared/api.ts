/** The pages' one way to the API: the generated typed client, with the token and the language. */
import { createLvrongClient, isProblem, type Problem } from "@lvrong/client";
import { logout, token } from "./auth";
import { language, t } from "./i18n";

export const api = createLvrongClient({ token, language, onUnauthorized: () => logout() });

/** An error answer of the API, or a network failure described as one. */
export class ApiError extends Error {
  constructor(readonly problem: Problem) {
    super(problem.title);
  }
}

/**
 * The data of a call, or an ApiError with the problem the API answered:
 * `const matter = await unwrap(api.GET("/v1/matters/{code}", { params: { path: { code } } }))`.
 */
export async function unwrap<T>(call: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  let result: { data?: T; error?: unknown; response: Response };
  try {
    result = await call;
  } catch {
    throw new ApiError(offline());
  }
  if (result.response.ok) return result.data as T;
  throw new ApiError(isProblem(result.error) ? result.error : {
    type: "about:blank", title: `HTTP ${result.response.status}`, title_zh: `HTTP ${result.response.status}`,
    title_en: `HTTP ${result.response.status}`, status: result.response.status,
  });
}

export function offline(): Problem {
  return { type: "about:blank", status: 0, title: t("网络不可用", "Network unavailable"),
    title_zh: "网络不可用，请稍后再试", title_en: "The network is unavailable; please try again later" };
}
