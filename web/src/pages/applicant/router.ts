/** Hash routing inside the one page /app/: `#/matters/LR-XK-001`, `#/apply/LR-XK-001`, `#/applications/<id>`,
 * `#/licences`, `#/licences/<id>`, `#/assistant`, `#/licences/<id>/show`, `#/licences/<id>/data`, `#/code` (一人一码),
 * `#/messages` (站内信 and its settings), `#/booking` (预约游园). */
import { hashParts, useHash } from "../../shared/load";

export type Route =
  | { view: "matters" }
  | { view: "matter"; code: string }
  | { view: "apply"; code: string }
  | { view: "applications" }
  | { view: "application"; id: string }
  | { view: "licences" }
  | { view: "licence"; id: string }
  | { view: "present"; id: string }
  | { view: "data"; id: string }
  | { view: "assistant" }
  | { view: "code" }
  | { view: "messages" }
  | { view: "booking" };

export function parseRoute(hash: string): Route {
  const [head, id, tail] = hashParts(hash);
  if (head === "assistant") return { view: "assistant" };
  if (head === "matters" && id) return { view: "matter", code: id };
  if (head === "apply" && id) return { view: "apply", code: id };
  if (head === "applications") return id ? { view: "application", id } : { view: "applications" };
  if (head === "code") return { view: "code" };
  if (head === "messages") return { view: "messages" };
  if (head === "booking") return { view: "booking" };
  if (head === "licences" && id && tail === "show") return { view: "present", id };
  if (head === "licences" && id && tail === "data") return { view: "data", id };
  if (head === "licences") return id ? { view: "licence", id } : { view: "licences" };
  return { view: "matters" };
}

export function href(...parts: string[]): string {
  return "#/" + parts.map(encodeURIComponent).join("/");
}

export function go(...parts: string[]): void {
  location.hash = href(...parts);
}

/** The route of the address now, re-rendering when it changes; a new view starts at the top. */
export function useRoute(): Route {
  return parseRoute(useHash(() => window.scrollTo(0, 0)));
}
