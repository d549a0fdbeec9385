// The Kubernetes driver in the model-based fault suite: its real state store (ConfigMaps, CAS on
// resourceVersion), arming store, Job dispatcher and event sink, talking HTTP to the API-server
// double through client-node. The model plays the Job controller (Jobs end Complete or Failed via
// the status subresource) and injects faults into the double: 409s, 429 with Retry-After, 5xx,
// dropped connections (before or after the write landed) and slow or timed-out answers.
import type { CoreV1Event, V1ConfigMap } from '@kubernetes/client-node';
import type { KubeConnection } from '../../src/adapters/kubernetes/kubeconfig.ts';
import fc from 'fast-check';
import type { LoadedRegistry } from '../../src/adapters/config/registry-file.ts';
import { createKubernetesDriver } from '../../src/adapters/kubernetes/driver.ts';
import { describeError } from '../../src/adapters/kubernetes/errors.ts';
import { eventTransition } from '../../src/adapters/kubernetes/events.ts';
import { LABEL_ATTEMPT, LABEL_COMPONENT, LABEL_FOLLOWER, LABEL_SHA, componentLabels } from '../../src/adapters/kubernetes/labels.ts';
import { readStateConfigMap, stateConfigMapName } from '../../src/adapters/kubernetes/state-store.ts';
import { ARMING_CONFIGMAP, armingToData } from '../../src/core/arming.ts';
import type { Transition } from '../../src/core/state.ts';
import type { ApiServerDouble, FaultHandle, FaultResponse, KubeObject, Verb } from './apiserver-double.ts';
import { WorldCommand } from './model-commands.ts';
import type { Figures } from './model-figures.ts';
import { Mirror, Notifications, Targets } from './model-fakes.ts';
import { armingOf } from './model-local-driver.ts';
import type { ArmingModel } from './model-oracle.ts';
import { MODEL_FOLLOWERS, T0, World, type ModelDriver, type RawStored, type RunView } from './model-world.ts';

/** Each request's own limit: a `timeout` fault answers later than this. */
/** A variable the dispatch Job's container is given: the episode rides there, not in a label. */
const jobEnv = (j: KubeObject, name: string): string | undefined =>
  (j['spec'] as { template?: { spec?: { containers?: { env?: { name: string; value?: string }[] }[] } } } | undefined)?.template?.spec?.containers?.[0]?.env?.find((e) => e.name === name)?.value;

export const REQUEST_TIMEOUT_MS = 300;

export const FAULT_KINDS = ['409', '429', '500', '503', 'drop', 'drop-after-commit', '500-after-commit', 'slow', 'timeout'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export type FaultSpec = { kind: FaultKind; resource: 'configmaps' | 'jobs' | 'events' | null; verb: Verb | null; times: number; retryAfter: number };

const respond = (f: FaultSpec): FaultResponse => {
  switch (f.kind) {
    case '409':
      return { status: 409 };
    case '429':
      return { status: 429, retryAfterSeconds: f.retryAfter };
    case '500':
      return { status: 500 };
    case '503':
      return { status: 503, retryAfterSeconds: f.retryAfter };
    case 'drop':
      return { drop: true };
    case 'drop-after-commit':
      return { drop: true, afterCommit: true };
    case '500-after-commit':
      return { status: 500, afterCommit: true };
    case 'slow':
      return { delayMs: 10 };
    case 'timeout':
      return { delayMs: REQUEST_TIMEOUT_MS + 50 };
  }
};

export const faultSpecArb: fc.Arbitrary<FaultSpec> = fc.record({
  kind: fc.oneof(
    { weight: 2, arbitrary: fc.constantFrom<FaultKind>('409', '429', '500', '503', 'drop', 'drop-after-commit', '500-after-commit') },
    { weight: 1, arbitrary: fc.constant<FaultKind>('slow') },
    { weight: 1, arbitrary: fc.constant<FaultKind>(process.env.NO_TIMEOUTS ? 'slow' : 'timeout') },
  ),
  resource: fc.constantFrom('configmaps' as const, 'jobs' as const, 'events' as const, null),
  verb: fc.constantFrom<Verb | null>('get', 'list', 'create', 'update', 'delete', null),
  // Mostly fewer than the driver's 5 tries (the call succeeds in the end), sometimes more.
  times: fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 1, max: 3 }) }, { weight: 1, arbitrary: fc.integer({ min: 5, max: 8 }) }),
  retryAfter: fc.integer({ min: 0, max: 2 }),
});

export type K8sModelDriver = ModelDriver & { inject(f: FaultSpec): void; readonly namespace: string };

const isK8s = (d: ModelDriver): d is K8sModelDriver => d.kind === 'kubernetes';

/** The command that injects faults: they shape the next matching requests, of whichever tick. */
export const faultCommandArb: fc.Arbitrary<WorldCommand> = fc
  .array(faultSpecArb, { minLength: 1, maxLength: 3 })
  .map((specs) =>
    new WorldCommand(`faults ${specs.map((s) => `${s.kind}x${s.times} ${s.verb ?? '*'} ${s.resource ?? '*'}`).join(', ')}`, (w) =>
      w.step(`inject API faults ${JSON.stringify(specs)}`, async () => {
        if (isK8s(w.driver)) for (const s of specs) w.driver.inject(s);
      }),
    ),
  );

const condition = (job: KubeObject, type: string): boolean => {
  const conditions = ((job['status'] as { conditions?: { type?: string; status?: string }[] } | undefined)?.conditions ?? []);
  return conditions.some((c) => c.type === type && c.status === 'True');
};

let worlds = 0;

/** A fresh world on the Kubernetes driver, in a namespace of its own on the shared double. */
export const createK8sModelWorld = async (api: ApiServerDouble, kc: KubeConnection, clockRef: { current: { t: number } }, loaded: LoadedRegistry, figures: Figures): Promise<World> => {
  const namespace = `model-${++worlds}`;
  const clock = { t: T0 };
  clockRef.current = clock;
  api.faults.clear();
  api.requests.reset();
  let races = 0;
  const delayed: FaultHandle[] = [];
  let lateRisk = false;
  const pendingDelayed = (): number => delayed.reduce((n, h) => n + h.hits, 0) - api.requests.all({ namespace }).filter((r) => r.fault === 'delay').length;

  const driver: K8sModelDriver = {
    kind: 'kubernetes',
    namespace,
    ports: () => {
      const d = createKubernetesDriver({
        kc,
        namespace,
        image: 'registry.example/branch-follower:model',
        // Retries wait in model time: Retry-After and backoff move the tick's clock, not the test's.
        sleep: async (ms) => {
          clock.t += ms;
          figures.count('retryWaits');
        },
        random: () => 0.5,
        timeoutMs: REQUEST_TIMEOUT_MS,
        onRetry: ({ error }) => {
          if (describeError(error) === 'request timed out') lateRisk = true;
        },
      });
      return { store: d.store, arming: d.arming, holds: d.holds, dispatcher: d.dispatcher, events: d.events, logs: d.logs };
    },
    runs: (): RunView[] =>
      api.store.list('jobs', namespace).map((j) => {
        const labels = j.metadata?.labels ?? {};
        const done = condition(j, 'Complete') || condition(j, 'Failed');
        return {
          name: j.metadata?.name ?? '',
          followerId: labels[LABEL_FOLLOWER] ?? '',
          sha: labels[LABEL_SHA] ?? '',
          episode: Number(jobEnv(j, 'BRANCH_FOLLOWER_EPISODE') ?? '-1'),
          attempt: Number(labels[LABEL_ATTEMPT] ?? '0'),
          uid: j.metadata?.uid ?? '',
          running: !done && j.metadata?.['deletionTimestamp'] === undefined,
          succeeded: condition(j, 'Complete'),
        };
      }),
    async finishRun(name, ok) {
      const at = new Date(clock.t).toISOString();
      api.store.patchStatus('jobs', namespace, name, ok
        ? { conditions: [{ type: 'Complete', status: 'True', lastTransitionTime: at }], succeeded: 1, active: 0, completionTime: at }
        : { conditions: [{ type: 'Failed', status: 'True', reason: 'BackoffLimitExceeded', message: 'Job has reached the specified backoff limit', lastTransitionTime: at }], failed: 1, active: 0 });
    },
    async writeArming(a: ArmingModel) {
      if (a.kind === 'absent') {
        api.store.delete('configmaps', namespace, ARMING_CONFIGMAP);
        return;
      }
      api.store.put('configmaps', {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: ARMING_CONFIGMAP, namespace, labels: componentLabels('arming') },
        data: a.kind === 'ok' ? armingToData(armingOf(a, clock.t)) : { killSwitch: '{not json', allowlist: '[]' },
      });
    },
    readStates: (): RawStored[] =>
      api.store
        .list('configmaps', namespace)
        .filter((cm) => cm.metadata?.labels?.[LABEL_COMPONENT] === 'state')
        .flatMap((cm): RawStored[] => {
          const s = readStateConfigMap(namespace, cm as unknown as V1ConfigMap);
          if (!s) return [];
          return 'state' in s ? [s] : [{ id: s.id, version: s.version, corrupt: `${s.corrupt.where}: ${s.corrupt.message}` }];
        }),
    readEvents: async (id): Promise<Transition[]> =>
      api.store
        .list('events', namespace)
        .filter((e) => e.metadata?.labels?.[LABEL_FOLLOWER] === id)
        .flatMap((e) => eventTransition(e as unknown as CoreV1Event) ?? []),
    async racingWrite(id) {
      const name = stateConfigMapName(id);
      if (!api.store.get('configmaps', namespace, name)) return false;
      api.store.patch('configmaps', namespace, name, { metadata: { annotations: { 'model.example/racing-write': String(++races) } } });
      return true;
    },
    fingerprint: async () => `${api.requests.writes({ namespace })}/${api.store.revision()}`,
    // A delayed request counts from the moment it was taken, not only once it is answered.
    faultsSeen: () => api.requests.count({ namespace, fault: true }) + pendingDelayed(),
    clearFaults: () => api.faults.clear(),
    async settle() {
      // A request the client gave up on (a timeout) is still served once its delay is over: wait
      // for it, so its late write is not taken for one of the next step's.
      for (let i = 0; i < 200 && pendingDelayed() > 0; i++) await new Promise((r) => setTimeout(r, 10));
      // A request that timed out on a slow machine (no fault of ours) may land late as well.
      if (lateRisk) {
        lateRisk = false;
        for (let i = 0, seen = -1; i < 40 && seen !== api.requests.count(); i++) {
          seen = api.requests.count();
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    },
    inject(f) {
      const handle = api.faults.add({
        match: { namespace, ...(f.resource ? { resource: f.resource } : {}), ...(f.verb ? { verb: f.verb } : {}) },
        times: f.times,
        respond: respond(f),
      });
      if (f.kind === 'slow' || f.kind === 'timeout') delayed.push(handle);
      figures.count('faultRulesAdded');
    },
    async close() {
      for (const r of api.requests.all({ namespace, fault: true })) figures.apiFault(`${r.fault === 'delay' ? 'delayed' : r.fault === 'drop' ? 'dropped' : String(r.status)} ${r.verb} ${r.resource}`);
      api.faults.clear();
    },
  };

  const mirror = new Mirror(MODEL_FOLLOWERS.map((f) => ({ repo: f.repo, branch: f.branch })));
  const targets = new Targets();
  for (const f of MODEL_FOLLOWERS) {
    const head = mirror.branchOf(f.repo, f.branch)?.head ?? null;
    targets.set(f.id, f.id === 'web' ? head : f.id === 'api' ? null : 'f'.repeat(40));
  }
  const initial: ArmingModel = { kind: 'ok', killSwitch: false, allow: MODEL_FOLLOWERS.map((f) => f.id) };
  await driver.writeArming(initial);
  return new World({ driver, loaded, mirror, targets, notes: new Notifications(), clock, figures }, initial);
};
