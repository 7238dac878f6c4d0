/**
 * Following a Server-Sent Events stream of the API: an application's live status, the inbox's new
 * notifications. The streams authenticate with the bearer token in the Authorization header (kit.auth
 * reads no query parameter or cookie), which EventSource cannot send: so a stream is read with fetch()
 * and a ReadableStream, and on a drop, a `resync` or an `end` it reconnects with `Last-Event-ID` set to
 * the last event received (the service replays what was missed); it stops when nobody is logged in.
 */
import { token } from "./auth";

export type StreamState = "live" | "reconnecting" | "stopped";

export interface StreamHandlers {
  onEvent: (id: number, data: Record<string, unknown>) => void;
  onState?: (state: StreamState) => void;
}

/** Follow ``path``'s events named ``event`` from the one after ``after``; returns the function that stops. */
export function followStream(path: string, event: string, after: number | null, handlers: StreamHandlers): () => void {
  const abort = new AbortController();
  let lastId: number | null = after;
  let retryMs = 2000;
  let stopped = false;

  async function connectOnce(): Promise<"again" | "stop"> {
    const bearer = token();
    if (!bearer) return "stop";
    const headers: Record<string, string> = { Authorization: `Bearer ${bearer}`, Accept: "text/event-stream" };
    if (lastId !== null) headers["Last-Event-ID"] = String(lastId);
    const response = await fetch(path, { headers, signal: abort.signal, cache: "no-store" });
    if (response.status === 401 || response.status === 403 || response.status === 404) return "stop";
    if (!response.ok || !response.body) return "again";
    handlers.onState?.("live");
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return "again";
      buffer += value.replace(/\r\n?/g, "\n");
      let end: number;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const parsed = parse(block);
        if (parsed.retry) retryMs = parsed.retry;
        if (parsed.name === "resync" || parsed.name === "end") {
          await reader.cancel().catch(() => undefined);
          return "again";
        }
        if (parsed.name === event && parsed.id !== null && parsed.data) {
          lastId = parsed.id;
          handlers.onEvent(parsed.id, JSON.parse(parsed.data) as Record<string, unknown>);
        }
      }
    }
  }

  (async () => {
    while (!stopped) {
      let next: "again" | "stop";
      try {
        next = await connectOnce();
      } catch {
        next = abort.signal.aborted ? "stop" : "again";
      }
      if (next === "stop" || stopped) break;
      handlers.onState?.("reconnecting");
      await new Promise((resolve) => setTimeout(resolve, retryMs));
    }
    handlers.onState?.("stopped");
  })();

  return () => {
    stopped = true;
    abort.abort();
  };
}

function parse(block: string): { name: string; id: number | null; data: string; retry: number | null } {
  let name = "message";
  let id: number | null = null;
  const data: string[] = [];
  let retry: number | null = null;
  for (const line of block.split("\n")) {
    if (!line || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "event") name = value;
    else if (field === "data") data.push(value);
    else if (field === "id" && /^\d+$/.test(value)) id = Number(value);
    else if (field === "retry" && /^\d+$/.test(value)) retry = Number(value);
  }
  return { name, id, data: data.join("\n"), retry };
}
