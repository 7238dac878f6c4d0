/** Load something from the API for a view: its data, the problem if the API refused, and a reload. */
import { useCallback, useEffect, useState } from "preact/hooks";
import type { Problem } from "@lvrong/client";
import { problemOf } from "../../shared/ui";

export interface Loaded<T> {
  data: T | null;
  problem: Problem | null;
  loading: boolean;
  reload: () => Promise<void>;
  set: (value: T) => void;
}

export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): Loaded<T> {
  const [data, setData] = useState<T | null>(null);
  const [problem, setProblem] = useState<Problem | null>(null);
  const [loading, setLoading] = useState(true);
  // eslint-disable-next-line react-hooks/exhaustive-deps
  const run = useCallback(async () => {
    setLoading(true);
    try {
      setData(await load());
      setProblem(null);
    } catch (error) {
      setProblem(problemOf(error));
    } finally {
      setLoading(false);
    }
  }, deps);
  useEffect(() => void run(), [run]);
  return { data, problem, loading, reload: run, set: setData };
}

export function yuan(fen: number): string {
  return (fen / 100).toFixed(2);
}
