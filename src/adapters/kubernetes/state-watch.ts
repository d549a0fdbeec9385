import { Watch, type KubeConfig } from '@kubernetes/client-node';
import { STATE_SELECTOR } from './labels.ts';

/**
 * Calls `onChange` whenever a follower state ConfigMap changes, through a Kubernetes watch
 * (`status -w`). Only a wake-up: the caller re-reads the store, so a missed or doubled event costs
 * nothing. A watch that ends or is refused (no `watch` right, an API restart) is re-opened after
 * `retryMs`; meanwhile the caller's own polling goes on.
 */
export const watchStateConfigMaps = (o: { kc: KubeConfig; namespace: string; onChange: () => void; signal: AbortSignal; retryMs?: number; onError?: (message: string) => void }): void => {
  const w = new Watch(o.kc);
  const path = `/api/v1/namespaces/${encodeURIComponent(o.namespace)}/configmaps`;
  let current: AbortController | null = null;
  let timer: ReturnType<typeof setTimeout> | null = null;
  const open = (): void => {
    if (o.signal.aborted) return;
    const again = (err: unknown): void => {
      current = null;
      if (o.signal.aborted) return;
      if (err) o.onError?.(`watch of the state ConfigMaps ended: ${(err as Error).message ?? String(err)}; polling meanwhile`);
      timer = setTimeout(open, o.retryMs ?? 5000);
    };
    w.watch(path, { labelSelector: STATE_SELECTOR, allowWatchBookmarks: false }, (phase) => {
      if (phase === 'ADDED' || phase === 'MODIFIED' || phase === 'DELETED') o.onChange();
    }, again)
      .then((c) => {
        current = c;
        if (o.signal.aborted) c.abort();
      })
      .catch(again);
  };
  o.signal.addEventListener(
    'abort',
    () => {
      if (timer) clearTimeout(timer);
      current?.abort();
    },
    { once: true },
  );
  open();
};
