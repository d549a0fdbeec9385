import type { TargetObservation } from '../../core/observe.ts';
import type { TargetReader, TargetRequest } from '../ports.ts';
import { mapLimit } from '../local/map-limit.ts';
import { readArgvJson } from './argv-json.ts';
import { readShaFile } from './file.ts';

/**
 * The target readers of the generic adapter, shared by both drivers: `argv-json` and `file`
 * run here; `k8s-annotation` goes to the Kubernetes reader handed in (one LIST per kind and
 * namespace), or is unreadable on a driver that has none.
 */

export type TargetReaderOptions = {
  /** The registry's directory: argv runs there and file paths are relative to it. */
  cwd: string;
  timeoutMs?: number;
  k8s?: TargetReader;
  /** How many local reads run at once. */
  concurrency?: number;
};

export const DEFAULT_TARGET_TIMEOUT_MS = 30_000;

export const createTargetReader = (opts: TargetReaderOptions): TargetReader => {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TARGET_TIMEOUT_MS;
  return {
    async readMany(requests) {
      const out = new Map<string, TargetObservation>();
      const kube: TargetRequest[] = [];
      const local: TargetRequest[] = [];
      for (const r of requests) (r.spec.reader === 'k8s-annotation' ? kube : local).push(r);

      const kubeRead = (async (): Promise<void> => {
        if (kube.length === 0) return;
        if (!opts.k8s) {
          for (const r of kube) out.set(r.key, { kind: 'unreadable', message: 'k8s-annotation target: no Kubernetes client on the local driver' });
          return;
        }
        try {
          const got = await opts.k8s.readMany(kube);
          for (const r of kube) out.set(r.key, got.get(r.key) ?? { kind: 'unreadable', message: 'k8s-annotation target: the Kubernetes reader returned nothing for it' });
        } catch (e) {
          for (const r of kube) out.set(r.key, { kind: 'unreadable', message: `k8s-annotation target: ${(e as Error).message}` });
        }
      })();

      const localReads = mapLimit(local, opts.concurrency ?? 4, async (r) => {
        const spec = r.spec;
        try {
          const obs: TargetObservation =
            spec.reader === 'argv-json'
              ? await readArgvJson(spec.argv, opts.cwd, timeoutMs)
              : spec.reader === 'file'
                ? await readShaFile(spec.path, opts.cwd)
                : { kind: 'invalid', message: 'unknown target reader' };
          out.set(r.key, obs);
        } catch (e) {
          // One broken read must not sink the others in the same tick.
          out.set(r.key, { kind: 'unreadable', message: `${spec.reader} target: ${(e as Error).message}` });
        }
      });

      await Promise.all([kubeRead, localReads]);
      return out;
    },
  };
};
