// The eight invariants of DESIGN.md as fast-check properties: single decisions over generated
// states, observations, arming, budgets and times, and sequences of ticks over the simulated
// world of sim.ts (crashes and lost compare-and-swap races included).
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { foldStages, foldStagesAsync, foldStep, type StageReading } from '../../src/core/fold.ts';
import { checksToRead, closeRun, isSuperseded, nextAction, type CloserAction } from '../../src/core/next-action.ts';
import { notificationsFor } from '../../src/core/notifications.ts';
import { dispatched, dispatchFailed, observe, type ObserveResult } from '../../src/core/observe.ts';
import { runName } from '../../src/core/run-name.ts';
import { attemptsFor, type CheckResult, type FollowerState } from '../../src/core/state.ts';
import { statusRow } from '../../src/core/status-view.ts';
import { resolveBudgets } from '../../src/core/budgets.ts';
import {
  anyCheckLabelsArb,
  checkResultArb,
  closeInputArb,
  fcParams,
  observeInputArb,
  T0,
  type CloseInput,
  type ObserveInput,
} from '../support/arbitraries.ts';
import { deepFreeze, isPlainData, transitionProblems } from './helpers.ts';
import { rollbackSimArb, simArb, simulate, type SimStats, type Step, type Violation } from './sim.ts';

const SIM_STEPS = 150;

const runObserve = (i: ObserveInput): ObserveResult => observe(i.prev, i.obs, i.gate, i.policy, i.now);
const decideClose = (i: CloseInput): CloserAction => nextAction({ state: i.state, fold: i.fold, policy: i.policy }, i.now);
const concluded = (r: CheckResult | undefined): boolean => r === 'SUCCESS' || r === 'FAILURE';

/** Runs the sequence property and collects coverage, so a sim that never dispatches cannot pass quietly. */
const simProperty = (invariants: readonly Violation['invariant'][]): SimStats & { runs: number } => {
  const total = { runs: 0, created: 0, adopted: 0, succeeded: 0, failed: 0, blocked: 0, superseded: 0, cancelled: 0, casLost: 0, recreatedAfterGc: 0, revisited: 0, resucceeded: 0 };
  fc.assert(
    fc.property(simArb(SIM_STEPS), ({ cfg, steps }) => {
      const w = simulate(cfg, steps);
      total.runs++;
      for (const k of Object.keys(w.stats) as (keyof SimStats)[]) total[k] += w.stats[k];
      const broken = w.violations.filter((v) => invariants.includes(v.invariant));
      expect(broken.map((v) => `invariant ${v.invariant}: ${v.message}`)).toEqual([]);
    }),
    fcParams(),
  );
  return total;
};

const expectBusySim = (t: SimStats & { runs: number }): void => {
  // Not a limit on the core: a floor on the simulation, so the properties above exercised it.
  expect(t.created).toBeGreaterThan(t.runs);
  expect(t.adopted).toBeGreaterThan(0);
  expect(t.succeeded).toBeGreaterThan(0);
  expect(t.failed).toBeGreaterThan(0);
  expect(t.blocked).toBeGreaterThan(0);
  expect(t.superseded).toBeGreaterThan(0);
  expect(t.cancelled).toBeGreaterThan(0);
  expect(t.casLost).toBeGreaterThan(0);
  // Histories with force-pushes back to earlier shas: revisits are dispatched again.
  expect(t.revisited).toBeGreaterThan(0);
};

/** Rollback histories (rollbackSimArb): the revisits of invariants 2 and 5, deploying again. */
const rollbackProperty = (invariants: readonly Violation['invariant'][]): SimStats & { runs: number } => {
  const total = { runs: 0, created: 0, adopted: 0, succeeded: 0, failed: 0, blocked: 0, superseded: 0, cancelled: 0, casLost: 0, recreatedAfterGc: 0, revisited: 0, resucceeded: 0 };
  fc.assert(
    fc.property(rollbackSimArb(12), ({ cfg, steps }) => {
      const w = simulate(cfg, steps);
      total.runs++;
      for (const k of Object.keys(w.stats) as (keyof SimStats)[]) total[k] += w.stats[k];
      expect(w.violations.filter((v) => invariants.includes(v.invariant)).map((v) => `invariant ${v.invariant}: ${v.message}`)).toEqual([]);
    }),
    fcParams(),
  );
  // Not a limit on the core: a floor on the histories, so revisits really deployed again.
  expect(total.revisited).toBeGreaterThan(total.runs);
  expect(total.resucceeded).toBeGreaterThan(total.runs / 10);
  return total;
};

describe('invariant 1: disarmed ⇒ no dispatch, whatever the state and observation', () => {
  it('observe() under any disarming gate never asks for a dispatch', () => {
    fc.assert(
      fc.property(observeInputArb('disarmed'), (i) => {
        expect(i.gate.armed).toBe(false);
        const r = runObserve(i);
        expect(r.effects.filter((e) => e.kind === 'dispatch')).toEqual([]);
        expect(r.decision.kind).not.toBe('dispatch');
      }),
      fcParams(),
    );
  });

  it('a world that is never armed never creates a dispatch, through any sequence of ticks', () => {
    const neverArmed = simArb(SIM_STEPS).map(({ cfg, steps }) => ({ cfg: { ...cfg, armed: false }, steps: steps.filter((s) => s.t !== 'arm') }));
    let ticks = 0;
    fc.assert(
      fc.property(neverArmed, ({ cfg, steps }) => {
        const w = simulate(cfg, steps);
        ticks += steps.filter((s) => s.t === 'observer').length;
        expect(w.creations).toEqual([]);
        expect(w.violations.filter((v) => v.invariant === 1)).toEqual([]);
      }),
      fcParams(),
    );
    expect(ticks).toBeGreaterThan(1000);
  });
});

describe('invariant 2: no (follower, sha, episode, attempt) dispatched twice; attempts per episode within maxAttempts', () => {
  it('every dispatch observe() asks for is named runName(id, sha, episode, attempt) with a fresh attempt of the current episode within the budget', () => {
    fc.assert(
      fc.property(observeInputArb('armed'), (i) => {
        const r = runObserve(i);
        for (const e of r.effects.filter((x) => x.kind === 'dispatch')) {
          // A pending dispatch is repeated under the name it was written ahead with (by a
          // previous version, an old-format name); every new one is runName of its tuple.
          if (e.name === i.prev?.pending?.name) expect(e).toMatchObject({ sha: i.prev.pending.sha, episode: i.prev.pending.episode, attempt: i.prev.pending.attempt });
          else expect(e.name).toBe(runName(i.policy.id, e.sha, e.episode, e.attempt));
          // A dispatch always belongs to the visit of the branch observed now.
          expect(e.sha).toBe(r.state.observedSha);
          expect(e.episode).toBe(r.state.episode);
          expect(e.attempt).toBeGreaterThanOrEqual(1);
          expect(e.attempt).toBeLessThanOrEqual(i.policy.budgets.maxAttempts);
          // Only the pending dispatch itself is repeated (same name, adopted if it exists);
          // anything else uses an attempt the state has not spent.
          if (e.name !== i.prev?.pending?.name) expect(e.attempt).toBe(attemptsFor(r.state, e.sha, e.episode) + 1);
          expect(r.state.pending?.name).toBe(e.name);
        }
      }),
      fcParams(),
    );
  });

  it('sequences of ticks with crashes and lost races never create a name twice, nor beyond maxAttempts', () => {
    expectBusySim(simProperty([2]));
  });

  it('histories that keep force-pushing back to earlier shas: each visit is a new run with its own name and budget', () => {
    rollbackProperty([2]);
  });

  // The tick that dispatched crashed before recording the run, the run finished, and its Job was
  // removed by its TTL before any tick recorded it: "never created" and "created and removed"
  // look alike, so a pending dispatch past its lease counts its attempt as used.
  it('invariant 2 also holds when an unrecorded, finished dispatch is removed by its TTL', () => {
    const steps: Step[] = [
      { t: 'observer', crash: 'afterDispatch' },
      { t: 'finish', result: 'SUCCESS', deploy: false, pipeline: null },
      { t: 'time', seconds: 600 },
      { t: 'gc' },
      { t: 'observer', crash: 'none' },
    ];
    const w = simulate(
      { policy: { id: 'hwlab-jd01-v03', budgets: { triggerSeconds: 60, closeoutSeconds: 120, maxAttempts: 1 }, onSupersede: 'wait', runKind: 'Job' }, checks: ['trigger'], armed: true, source: 0, deployed: null, gcAfterSeconds: 600 },
      steps,
    );
    expect(w.creations.map((c) => c.name)).toEqual(['bf-hwlab-jd01-v03-111111111111-e1-a1']);
  });
});

describe('invariant 3: dry-run ⇒ zero writes (the core only returns data)', () => {
  it('observe() and dispatched() never touch their (deep-frozen) inputs and return plain data', () => {
    fc.assert(
      fc.property(observeInputArb(), (i) => {
        const snapshot = structuredClone(i);
        const frozen = deepFreeze(structuredClone(i));
        const r = observe(frozen.prev, frozen.obs, frozen.gate, frozen.policy, frozen.now);
        expect(frozen).toEqual(snapshot);
        expect(r).toEqual(runObserve(structuredClone(i)));
        expect(isPlainData(r)).toBe(true);
        for (const e of r.effects) expect(Object.keys(e).sort()).toEqual(['attempt', 'episode', 'kind', 'name', 'sha']);
        const d = r.effects.find((e) => e.kind === 'dispatch');
        if (d) {
          const frozenState = deepFreeze(structuredClone(r.state));
          const rec = dispatched(frozenState, { name: d.name, kind: i.policy.runKind, startedAt: new Date(i.now).toISOString() }, i.now);
          expect(isPlainData(rec)).toBe(true);
          const failed = dispatchFailed(frozenState, d.name, 'forbidden', i.now);
          expect(isPlainData(failed)).toBe(true);
          expect(frozenState).toEqual(r.state);
        }
      }),
      fcParams(),
    );
  });

  it('nextAction(), closeRun(), foldStages() and notificationsFor() never touch their inputs', () => {
    fc.assert(
      fc.property(closeInputArb, (i) => {
        const snapshot = structuredClone(i);
        const f = deepFreeze(structuredClone(i));
        const action = nextAction({ state: f.state, fold: f.fold, policy: f.policy }, f.now);
        const next = closeRun(f.state, action, f.fold, f.now);
        const fold = foldStages(checksToRead(f.state.inFlight, f.checks), (c) => f.stages[c]);
        const notes = notificationsFor(f.state, next);
        expect(f).toEqual(snapshot);
        expect(isPlainData({ action, next, fold, notes })).toBe(true);
      }),
      fcParams(),
    );
  });

  it('src/core imports nothing that does I/O and reads no clock or randomness', () => {
    const dir = fileURLToPath(new URL('../../src/core/', import.meta.url));
    const files = readdirSync(dir).filter((f) => f.endsWith('.ts'));
    expect(files.length).toBeGreaterThan(5);
    for (const f of files) {
      const src = readFileSync(`${dir}${f}`, 'utf8');
      const imports = [...src.matchAll(/from\s+'([^']+)'/g)].map((m) => m[1] as string);
      for (const spec of imports) expect(spec === 'zod' || spec.startsWith('./'), `${f} imports ${spec}`).toBe(true);
      expect(src, f).not.toMatch(/\bDate\.now\(|new Date\(\)|Math\.random|performance\.now|process\.|globalThis|\bfetch\(|\brequire\(|\bimport\(/);
    }
  });
});

describe('invariant 4: at most one run in flight per follower', () => {
  it('observe() dispatches beside a known run only once that run concluded or is cancelled first', () => {
    fc.assert(
      fc.property(observeInputArb('armed'), (i) => {
        const r = runObserve(i);
        const d = r.effects.findIndex((e) => e.kind === 'dispatch');
        if (d === -1) return;
        const dispatch = r.effects[d] as { name: string };
        const run = i.prev?.inFlight;
        const pending = i.prev?.pending;
        if (run) {
          const cancelled = r.effects.findIndex((e) => e.kind === 'cancel' && e.name === run.name);
          expect(concluded(i.obs.dispatch) || (cancelled !== -1 && cancelled < d)).toBe(true);
        } else if (pending && pending.name !== dispatch.name) {
          // A pending dispatch that exists is adopted as the run; only a missing one is replaced.
          expect(i.obs.dispatch === undefined || i.obs.dispatch === 'NONE' || concluded(i.obs.dispatch)).toBe(true);
        }
        expect(r.state.inFlight).toBeNull();
        expect(r.state.pending?.name).toBe(dispatch.name);
      }),
      fcParams(),
    );
  });

  it('in sequences of ticks, nothing is dispatched while another run of the follower still runs', () => {
    expectBusySim(simProperty([4]));
  });
});

describe('invariant 5: lastSucceededSha changes only when every closeout check of that sha succeeded', () => {
  it('observe() and dispatched() never change it', () => {
    fc.assert(
      fc.property(observeInputArb(), (i) => {
        const r = runObserve(i);
        expect(r.state.lastSucceededSha).toBe(i.prev?.lastSucceededSha ?? null);
        const d = r.effects.find((e) => e.kind === 'dispatch');
        if (d) expect(dispatched(r.state, { name: d.name, kind: 'Job', startedAt: new Date(i.now).toISOString() }, i.now).lastSucceededSha).toBe(r.state.lastSucceededSha);
      }),
      fcParams(),
    );
  });

  it('the closer sets it to the run sha only when every registry check of that run read SUCCESS', () => {
    fc.assert(
      fc.property(closeInputArb, (i) => {
        const next = closeRun(i.state, decideClose(i), i.fold, i.now);
        if (next.lastSucceededSha === i.state.lastSucceededSha) return;
        expect(next.lastSucceededSha).toBe(i.state.inFlight.sha);
        expect(i.fold.verdict).toBe('GREEN');
        expect(i.fold.readings.map((r) => r.check)).toEqual(i.checks);
        expect(i.fold.readings.every((r) => r.reading.result === 'SUCCESS')).toBe(true);
      }),
      fcParams(),
    );
  });

  it('in sequences of ticks, it only moves to a sha whose trigger, pipeline and target really succeeded', () => {
    expectBusySim(simProperty([5]));
  });

  it('in rollback histories, a sha succeeds again only when the checks of its new run succeeded', () => {
    rollbackProperty([5]);
  });
});

describe('invariant 6: only transitions in the table occur; every produced state passes its schema', () => {
  it('observe(), dispatched() and dispatchFailed()', () => {
    fc.assert(
      fc.property(observeInputArb(), (i) => {
        const r = runObserve(i);
        expect(transitionProblems(i.prev, r.state)).toEqual([]);
        for (const e of r.effects.filter((x) => x.kind === 'dispatch')) {
          const rec = dispatched(r.state, { name: e.name, kind: i.policy.runKind, startedAt: new Date(i.now).toISOString() }, i.now + 1);
          expect(transitionProblems(r.state, rec)).toEqual([]);
          expect(rec.phase).toBe('Triggering');
          expect(transitionProblems(r.state, dispatchFailed(r.state, e.name, 'quota exceeded', i.now + 1))).toEqual([]);
        }
      }),
      fcParams(),
    );
  });

  it('closeRun(nextAction())', () => {
    fc.assert(
      fc.property(closeInputArb, (i) => {
        expect(transitionProblems(i.state, closeRun(i.state, decideClose(i), i.fold, i.now))).toEqual([]);
      }),
      fcParams(),
    );
  });

  it('in sequences of ticks, every stored state and every recorded transition', () => {
    expectBusySim(simProperty([6]));
  });
});

describe('invariant 7: stage folding', () => {
  const readingsArb = fc.record({ trigger: checkResultArb, pipeline: checkResultArb, target: checkResultArb });

  it('FAILURE ⇒ RED, NONE/PENDING ⇒ PENDING at the first deciding stage, all SUCCESS ⇒ GREEN; later stages are never read', () => {
    fc.assert(
      fc.property(anyCheckLabelsArb, readingsArb, (checks, results) => {
        const reads: string[] = [];
        const fold = foldStages(checks, (c): StageReading => {
          reads.push(c);
          return { result: results[c], detail: c };
        });
        const first = checks.findIndex((c) => results[c] !== 'SUCCESS');
        if (first === -1) {
          expect(fold).toMatchObject({ verdict: 'GREEN', decidedBy: null });
          expect(reads).toEqual(checks);
        } else {
          const decider = checks[first] as (typeof checks)[number];
          expect(fold.verdict).toBe(results[decider] === 'FAILURE' ? 'RED' : 'PENDING');
          expect(fold.decidedBy).toBe(decider);
          expect(reads).toEqual(checks.slice(0, first + 1));
        }
        expect(fold.readings.map((r) => r.check)).toEqual(reads);
      }),
      fcParams(),
    );
  });

  it('foldStagesAsync() and foldStep() agree with foldStages()', async () => {
    await fc.assert(
      fc.asyncProperty(anyCheckLabelsArb, readingsArb, async (checks, results) => {
        const read = (c: (typeof checks)[number]): StageReading => ({ result: results[c], detail: '' });
        const sync = foldStages(checks, read);
        expect(await foldStagesAsync(checks, async (c) => read(c))).toEqual(sync);
        const readings = sync.readings.map((r) => r.reading);
        expect(foldStep(checks, readings)).toEqual({ kind: 'verdict', verdict: sync.verdict, decidedBy: sync.decidedBy });
        for (let n = 0; n < readings.length; n++) expect(foldStep(checks, readings.slice(0, n))).toEqual({ kind: 'read', check: checks[n] });
      }),
      fcParams(),
    );
  });

  it('the closer turns RED into Failed or Blocked, GREEN into Succeeded, and otherwise waits (within budget)', () => {
    fc.assert(
      fc.property(closeInputArb, (i) => {
        if (isSuperseded(i.state)) return;
        const action = decideClose(i);
        const next = closeRun(i.state, action, i.fold, i.now);
        if (i.fold.verdict === 'RED') expect(['Failed', 'Blocked']).toContain(next.phase);
        else if (i.fold.verdict === 'GREEN') expect(next.phase).toBe('Succeeded');
        else if (action.kind === 'wait') expect(['Triggering', 'ClosingOut']).toContain(next.phase);
        else {
          // Only a budget ends a run that has no verdict.
          expect(['Failed', 'Blocked']).toContain(next.phase);
          expect(action.reason).toMatch(/budget of \d+s ran out/);
        }
      }),
      fcParams(),
    );
  });
});

describe('invariant 8: same inputs ⇒ same decision', () => {
  it('observe(), twice and on structured clones', () => {
    fc.assert(
      fc.property(observeInputArb(), (i) => {
        const a = runObserve(i);
        expect(runObserve(i)).toEqual(a);
        expect(runObserve(structuredClone(i))).toEqual(a);
      }),
      fcParams(),
    );
  });

  it('nextAction(), closeRun(), notificationsFor() and statusRow(), twice and on structured clones', () => {
    fc.assert(
      fc.property(closeInputArb, (i) => {
        const once = (x: CloseInput) => {
          const action = decideClose(x);
          const next = closeRun(x.state, action, x.fold, x.now);
          const budgets = resolveBudgets(x.policy.id, undefined, x.policy.budgets);
          return { action, next, notes: notificationsFor(x.state, next), row: statusRow({ id: x.policy.id, adapter: 'generic', source: null, budgets, state: next, gate: { armed: true } }) };
        };
        const a = once(i);
        expect(once(i)).toEqual(a);
        expect(once(structuredClone(i))).toEqual(a);
      }),
      fcParams(),
    );
  });

  it('runName(), twice and for equal inputs built separately', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 80 }), fc.string({ minLength: 40, maxLength: 64 }), fc.nat(), fc.integer({ min: 1, max: 1000 }), (id, sha, episode, attempt) => {
        expect(runName(id, sha, episode, attempt)).toBe(runName(`${id}`, sha.slice(0), episode, attempt));
      }),
      fcParams(),
    );
  });

  it('a whole simulated history is reproduced exactly from the same inputs', () => {
    fc.assert(
      fc.property(simArb(60), ({ cfg, steps }) => {
        const a = simulate(cfg, steps);
        const b = simulate(structuredClone(cfg), structuredClone(steps));
        expect(b.store).toEqual(a.store);
        expect(b.creations).toEqual(a.creations);
      }),
      fcParams(),
    );
  });
});

// Guards the generators themselves: if they stopped producing the phases and observations the
// properties are about, the properties would pass vacuously.
describe('generators reach what the properties are about', () => {
  it('states in every phase, runs in flight, pending dispatches, full histories, every source and target kind', () => {
    const seen = new Set<string>();
    fc.assert(
      fc.property(observeInputArb(), (i) => {
        const s: FollowerState | null = i.prev;
        seen.add(`phase:${s?.phase ?? 'none'}`);
        if (s?.inFlight) seen.add(`inFlight:${s.phase}`);
        if (s?.pending) seen.add('pending');
        if (s && s.history.length === 50) seen.add('history:50');
        seen.add(`source:${i.obs.source.kind}`);
        seen.add(`target:${i.obs.target.kind}${i.obs.target.kind === 'ok' && i.obs.target.sha === null ? ':null' : ''}`);
        seen.add(`arming:${i.arming.kind}`);
        seen.add(`now>start:${i.now > T0}`);
        const r = runObserve(i);
        seen.add(`decision:${r.decision.kind}`);
        for (const e of r.effects) seen.add(`effect:${e.kind}`);
      }),
      fcParams(),
    );
    for (const k of [
      'phase:none', 'phase:Observed', 'phase:Noop', 'phase:PendingTrigger', 'phase:Triggering', 'phase:ClosingOut', 'phase:Succeeded', 'phase:Failed', 'phase:Superseded', 'phase:Blocked', 'phase:Skipped',
      'inFlight:Triggering', 'inFlight:ClosingOut', 'inFlight:Superseded', 'pending', 'history:50',
      'source:ok', 'source:missing', 'source:unreachable', 'source:invalid', 'target:ok', 'target:ok:null', 'target:unreadable', 'target:invalid',
      'arming:armed', 'arming:kill-switch', 'arming:allowlist', 'arming:absent', 'arming:malformed',
      'decision:none', 'decision:dispatch', 'decision:supersede', 'decision:block', 'decision:skip', 'effect:dispatch', 'effect:cancel',
    ]) expect([...seen], k).toContain(k);
  });
});
