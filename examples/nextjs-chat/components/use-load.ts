"use client";
import { useCallback, useEffect, useState } from "react";

/** Load something once the component mounts; `reload` fetches it again after a change. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]) {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  // `deps` says when `load` changes, as with useEffect: the caller lists what it reads.
  const reload = useCallback(load, deps);
  const refresh = useCallback(async () => {
    try {
      setData(await reload());
      setError(null);
    } catch (caught) {
      setError((caught as Error).message);
    }
  }, [reload]);
  useEffect(() => {
    void refresh();
  }, [refresh]);
  // `replace` puts in what the page learnt another way (a title from the chat stream).
  return { data, error, reload: refresh, replace: setData };
}

/** Run an action from a form or button, keeping its error to show next to it. */
export function useAction() {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const run = useCallback(async (action: () => Promise<unknown>) => {
    setBusy(true);
    setError(null);
    try {
      await action();
      return true;
    } catch (caught) {
      setError((caught as Error).message);
      return false;
    } finally {
      setBusy(false);
    }
  }, []);
  return { error, busy, run };
}
