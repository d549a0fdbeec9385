// The three seed followers of DESIGN.md, as a registry document and as the policies the cores
// take, plus small builders for observations and gates used by the example tests.
import { gateFor, type Gate } from '../../src/core/arming.ts';
import { resolveBudgets } from '../../src/core/budgets.ts';
import { foldStages, type Fold } from '../../src/core/fold.ts';
import { checksToRead, closeRun, nextAction, rememberedReading, type CloserAction } from '../../src/core/next-action.ts';
import { dispatched, observe, type Observation } from '../../src/core/observe.ts';
import type { Policy } from '../../src/core/policy.ts';
import { toIso } from '../../src/core/primitives.ts';
import { parseRegistry, type CheckLabel, type Follower, type Registry } from '../../src/core/registry.ts';
import type { CheckResult, FollowerState, Run } from '../../src/core/state.ts';
import { SHA_POOL, T0 } from '../support/arbitraries.ts';

export const HWLAB = 'hwlab-jd01-v03';
export const AGENTRUN = 'agentrun-jd01-v02';
export const SENTINEL = 'web-probe-sentinel-master';

/** A registry document as YAML would parse it (fresh each call, so tests may edit it). */
export const seedRegistryDoc = (): { controller: Record<string, unknown>; followers: Record<string, unknown>[] } => ({
  controller: {
    namespace: 'branch-follower',
    driver: 'kubernetes',
    gitMirror: { readUrl: 'http://git-mirror.git-mirror.svc.cluster.local/git' },
    source: { repo: 'pikasTech/unidesk', ref: 'master' },
    schedules: { observer: '* * * * *', closer: '* * * * *' },
    defaults: { budgets: { triggerSeconds: 600, closeoutSeconds: 1800, maxAttempts: 2 } },
    local: { stateDir: '.branch-follower' },
    notify: { webhookUrlEnv: 'BRANCH_FOLLOWER_WEBHOOK_URL' },
  },
  followers: [
    {
      id: HWLAB,
      adapter: 'hwlab-node-runtime',
      source: { configRef: 'hwlab-node-lanes.yaml#lanes.v03.source' },
      target: { configRef: 'hwlab-node-lanes.yaml#nodes.JD01.lanes.v03.runtime' },
      command: ['hwlab', 'nodes', 'control-plane', 'trigger-current', '--node', 'JD01', '--lane', 'v03', '--confirm', '--wait'],
      checks: ['trigger', 'pipeline', 'target'],
      budgets: { closeoutSeconds: 2400 },
      onSupersede: 'wait',
    },
    {
      id: AGENTRUN,
      adapter: 'agentrun-yaml-lane',
      source: { configRef: 'agentrun.yaml#lanes.jd01-v02.source' },
      target: { configRef: 'agentrun.yaml#lanes.jd01-v02.target' },
      command: ['agentrun', 'control-plane', 'trigger-current', '--node', 'JD01', '--lane', 'jd01-v02', '--confirm', '--wait'],
      checks: ['trigger', 'pipeline', 'target'],
      onSupersede: 'cancel',
    },
    {
      id: SENTINEL,
      adapter: 'web-probe-sentinel-cicd',
      source: { configRef: 'hwlab-web-probe-sentinel/sentinels.yaml#jd01-web-probe-sentinel.source' },
      target: { configRef: 'hwlab-web-probe-sentinel/sentinels.yaml#jd01-web-probe-sentinel.target' },
      command: ['web-probe', 'sentinel', 'publish-current', '--node', 'JD01', '--lane', 'v03', '--sentinel', 'jd01-web-probe-sentinel', '--confirm', '--wait'],
      checks: ['trigger', 'target'],
      budgets: { triggerSeconds: 900, closeoutSeconds: 3600, maxAttempts: 3 },
    },
  ],
});

export const seedRegistry = (): Registry => {
  const r = parseRegistry('config/cicd-branch-followers.yaml', seedRegistryDoc());
  if (!r.ok) throw new Error(`seed registry does not parse: ${JSON.stringify(r.errors)}`);
  return r.value;
};

export const follower = (id: string): Follower => {
  const f = seedRegistry().followers.find((x) => x.id === id);
  if (!f) throw new Error(`no seed follower ${id}`);
  return f;
};

/** The policy the loops would derive for a seed follower from the registry. */
export const policyFor = (id: string, runKind: Policy['runKind'] = 'Job'): Policy => {
  const reg = seedRegistry();
  const f = follower(id);
  const b = resolveBudgets(id, f.budgets, reg.controller.defaults.budgets);
  return { id, budgets: { triggerSeconds: b.triggerSeconds, closeoutSeconds: b.closeoutSeconds, maxAttempts: b.maxAttempts }, onSupersede: f.onSupersede, runKind };
};

export const [A, B, C, D] = SHA_POOL as unknown as [string, string, string, string];

/** T0 plus whole seconds. */
export const at = (seconds: number): number => T0 + seconds * 1000;

export const ARMED: Gate = { armed: true };

export const killSwitchOn = (id: string): Gate =>
  gateFor({ kind: 'ok', arming: { killSwitch: { on: true, by: 'alice', at: null, reason: 'incident 42' }, allowlist: [{ id, by: 'alice', at: null, reason: '' }] } }, id);
export const notAllowlisted = (id: string): Gate =>
  gateFor({ kind: 'ok', arming: { killSwitch: { on: false, by: 'alice', at: null, reason: '' }, allowlist: [] } }, id);
export const armingAbsent = (id: string): Gate => gateFor({ kind: 'absent' }, id);
export const armingMalformed = (id: string): Gate => gateFor({ kind: 'malformed', where: 'configmap/branch-follower-arming: killSwitch', message: 'not JSON' }, id);

export const obs = (source: string, target: string | null, dispatch?: Observation['dispatch']): Observation => ({
  source: { kind: 'ok', sha: source },
  target: { kind: 'ok', sha: target },
  ...(dispatch !== undefined ? { dispatch } : {}),
});

/** Drives the observer to a dispatched run of `sha` (written ahead, then recorded), as the loop would. */
export const startRun = (policy: Policy, sha: string, t: number, prev: FollowerState | null = null, target: string | null = null): FollowerState & { inFlight: Run } => {
  const r = observe(prev, obs(sha, target), ARMED, policy, t);
  const d = r.effects.find((e) => e.kind === 'dispatch');
  if (!d) throw new Error(`observe did not dispatch ${sha}: ${r.state.phase}: ${r.state.reason}`);
  const s = dispatched(r.state, { name: d.name, kind: policy.runKind, startedAt: toIso(t) }, t);
  if (!s.inFlight) throw new Error('dispatched() recorded no run');
  return s as FollowerState & { inFlight: Run };
};

export type Closed = { fold: Fold; action: CloserAction; state: FollowerState; reads: CheckLabel[] };

/** One closer pass over a run: fold the follower's checks from `results` (missing = NONE), decide, apply. */
export const close = (
  s: FollowerState & { inFlight: Run },
  checks: readonly CheckLabel[],
  results: Partial<Record<CheckLabel, CheckResult>>,
  policy: Policy,
  t: number,
): Closed => {
  const reads: CheckLabel[] = [];
  const fold = foldStages(checksToRead(s.inFlight, checks), (c) => {
    const remembered = rememberedReading(s, c);
    if (remembered) return remembered;
    reads.push(c);
    return { result: results[c] ?? 'NONE', detail: `${c} ${results[c] ?? 'NONE'}` };
  });
  const action = nextAction({ state: s, fold, policy }, t);
  return { fold, action, state: closeRun(s, action, fold, t), reads };
};

export const withRun = (s: FollowerState): FollowerState & { inFlight: Run } => {
  if (!s.inFlight) throw new Error(`no run in flight (phase ${s.phase})`);
  return s as FollowerState & { inFlight: Run };
};
