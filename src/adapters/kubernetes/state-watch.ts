import { describeError } from './errors.ts';
import type { KubeConnection } from './kubeconfig.ts';
import { kubeWatch } from './rest.ts';
import { STATE_SELECTOR } from './labels.ts';

/**
 * Calls `onChange` whenever a follower state ConfigMap changes, through a Kubernetes watch
 * (`status -w`). Only a wake-up: the caller re-reads the store, so a missed or doubled event costs
 * nothing. A watch that ends or is refused (no `watch` right, an API restart) is re-opened after
 * `retryMs`; meanwhile the caller's own polling goes on.
 */
export const watchStateConfigMaps = (o: { kc: KubeConnection; namespace: string; onChange: () => void; signal: AbortSignal; retryMs?: number; onError?: (message: string) => void }): void => {
  const path = `/api/v1/namespaces/${encodeURIComponent(o.namespace)}/configmaps`;
  const loop = async (): Promise<void> => {
    while (!o.signal.aborted) {
      try {
        await kubeWatch(o.kc, path, { labelSelector: STATE_SELECTOR, allowWatchBookmarks: false }, (ev) => {
          if (ev.type === 'ADDED' || ev.type === 'MODIFIED' || ev.type === 'DELETED') o.onChange();
        }, o.signal);
      } catch (err) {
        if (!o.signal.aborted) o.onError?.(`watch of the state ConfigMaps ended: ${describeError(err)}; polling meanwhile`);
      }
      if (o.signal.aborted) return;
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, o.retryMs ?? 5000);
        function done(): void {
          clearTimeout(t);
          o.signal.removeEventListener('abort', done);
          resolve();
        }
        o.signal.addEventListener('abort', done, { once: true });
      });
    }
  };
  void loop();
};
