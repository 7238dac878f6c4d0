/** Loading something from the API into a component: the value, the problem, and a way to load again. */
import { useCallback, useEffect, useState } from "preact/hooks";
import type { Problem } from "@lvrong/client";
import { problemOf } from "../../shared/ui";

export interface Loaded<T> {
  value: T | null;
  problem: Problem | null;
  loading: boolean;
  reload: () => void;
}

export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): Loaded<T> {
  const [value, setValue] = useState<T | null>(null);
  const [problem, setProblem] = useState<Problem | null>(null);
  const [loading, setLoading] = useState(true);
  const [round, setRound] = useState(0);
  useEffect(() => {
    let current = true;
    setLoading(true);
    load()
      .then((v) => { if (current) { setValue(v); setProblem(null); } })
      .catch((e: unknown) => { if (current) setProblem(problemOf(e)); })
      .finally(() => { if (current) setLoading(false); });
    return () => { current = false; };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, round]);
  const reload = useCallback(() => setRound((r) => r + 1), []);
  return { value, problem, loading, reload };
}

/** The hash route of the workbench: ``#/applications/<id>``, ``#/tickets``, ``#/tickets/<id>``, ``#/``. */
export function useRoute(): string[] {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const changed = () => setHash(location.hash);
    addEventListener("hashchange", changed);
    return () => removeEventListener("hashchange", changed);
  }, []);
  return hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
}
