/** Loading something from the API into a view, and following the address's hash: once for every page. */
import { useCallback, useEffect, useState } from "preact/hooks";
import type { Problem } from "@lvrong/client";
import { problemOf } from "./ui";

export interface Loaded<T> {
  data: T | null;
  problem: Problem | null;
  loading: boolean;
  reload: () => void;
}

/** ``load()`` now and again whenever ``deps`` change or ``reload()`` is called; an answer that arrives
 * after a newer load began is dropped (the view never shows an older answer over a newer one). */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): Loaded<T> {
  const [data, setData] = useState<T | null>(null);
  const [problem, setProblem] = useState<Problem | null>(null);
  const [loading, setLoading] = useState(true);
  const [round, setRound] = useState(0);
  useEffect(() => {
    let current = true;
    setLoading(true);
    load()
      .then((v) => { if (current) { setData(v); setProblem(null); } })
      .catch((e: unknown) => { if (current) setProblem(problemOf(e)); })
      .finally(() => { if (current) setLoading(false); });
    return () => { current = false; };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, round]);
  const reload = useCallback(() => setRound((r) => r + 1), []);
  return { data, problem, loading, reload };
}

/** The address's fragment (``location.hash``), re-rendering when it changes. */
export function useHash(onChange?: () => void): string {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const changed = () => {
      setHash(location.hash);
      onChange?.();
    };
    addEventListener("hashchange", changed);
    return () => removeEventListener("hashchange", changed);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);
  return hash;
}

/** ``#/applications/<id>`` → ``["applications", "<id>"]``, each part decoded. */
export function hashParts(hash: string): string[] {
  return hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
}
