// The commands of the model-based fault suite, as fast-check generates and shrinks them: ticks
// (alone, overlapping, crashing before or after any adapter call, with a model action slipped in
// before any call), the mirror moving, runs ending, time passing, the arming changing, outages,
// and dry-run ticks.
import fc from 'fast-check';
import type { Branch } from './model-fakes.ts';
import { ADAPTER_CALLS, pointText, type ArmingChange, type CrashPlan, type HookAction, type HookPlan, type Loop, type Point } from './model-tap.ts';
import type { World } from './model-world.ts';

export type Model = { readonly flavour: 'local' | 'kubernetes' };

/** A command is its label and what it does to the world; every one applies in any state. */
export class WorldCommand<R extends World = World> implements fc.AsyncCommand<Model, R> {
  readonly label: string;
  readonly act: (w: R) => Promise<void>;
  constructor(label: string, act: (w: R) => Promise<void>) {
    this.label = label;
    this.act = act;
  }
  check(): boolean {
    return true;
  }
  async run(_m: Model, w: R): Promise<void> {
    await this.act(w);
  }
  toString(): string {
    return this.label;
  }
}

/**
 * A point in a tick: its Nth adapter call (ticks make about 5 to 20), or the first or second call
 * of a given adapter method, so every call gets its turn, writes and dispatches most. A point the
 * tick never reaches does nothing.
 */
export const pointArb = (maxAt: number): fc.Arbitrary<Point> =>
  fc.oneof(
    { weight: 2, arbitrary: fc.record({ at: fc.integer({ min: 1, max: maxAt }) }) },
    { weight: 1, arbitrary: fc.record({ call: fc.constantFrom(...ADAPTER_CALLS), nth: fc.integer({ min: 1, max: 2 }) }) },
    {
      weight: 2,
      arbitrary: fc.record({ call: fc.constantFrom('store.create', 'store.update', 'dispatcher.dispatch', 'dispatcher.cancel', 'events.emit'), nth: fc.integer({ min: 1, max: 2 }) }),
    },
  );

export const crashArb: fc.Arbitrary<CrashPlan | null> = fc.oneof(
  { weight: 1, arbitrary: fc.constant(null) },
  { weight: 1, arbitrary: fc.tuple(pointArb(18), fc.constantFrom('before' as const, 'after' as const)).map(([p, when]) => ({ ...p, when })) },
);

export const armingChangeArb: fc.Arbitrary<ArmingChange> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('kill-switch' as const), on: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('allow' as const), follower: fc.nat(2), on: fc.boolean() }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'all' as const }) },
  { weight: 1, arbitrary: fc.constantFrom({ kind: 'malformed' as const }, { kind: 'absent' as const }) },
);

const hookActionArb: fc.Arbitrary<HookAction> = fc.oneof(
  { weight: 4, arbitrary: armingChangeArb.map((change) => ({ kind: 'arming' as const, change })) },
  { weight: 2, arbitrary: fc.nat(2).map((branch) => ({ kind: 'push' as const, branch })) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('finish' as const), follower: fc.nat(2), ok: fc.boolean() }) },
  { weight: 3, arbitrary: fc.constantFrom('observer' as const, 'closer' as const).map((loop) => ({ kind: 'nested' as const, loop })) },
  { weight: 2, arbitrary: fc.nat(2).map((follower) => ({ kind: 'race-write' as const, follower })) },
);

/** Model actions land most often just before a write or a dispatch: where a race does harm. */
const hookPointArb: fc.Arbitrary<Point> = fc.oneof(
  { weight: 1, arbitrary: fc.record({ at: fc.integer({ min: 1, max: 12 }) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      call: fc.constantFrom('dispatcher.dispatch', 'store.update', 'store.create', 'arming.read', 'dispatcher.cancel', 'refs.readMany', 'dispatcher.statuses'),
      nth: fc.integer({ min: 1, max: 2 }),
    }),
  },
);

export const hookArb: fc.Arbitrary<HookPlan | null> = fc.oneof(
  { weight: 2, arbitrary: fc.constant(null) },
  { weight: 1, arbitrary: fc.tuple(hookPointArb, hookActionArb).map(([p, action]) => ({ ...p, action })) },
);

/** Overlapping ticks take only actions that make no adapter call of their own (no nested tick). */
const overlapHookArb: fc.Arbitrary<HookPlan | null> = fc.oneof(
  { weight: 2, arbitrary: fc.constant(null) },
  { weight: 1, arbitrary: fc.tuple(pointArb(10), armingChangeArb).map(([p, change]) => ({ ...p, action: { kind: 'arming' as const, change } })) },
);

/**
 * Which ticks overlap: the observer and the closer (two CronJobs) mostly; now and then two of the
 * same loop, as when a CronJob controller starts a Job twice (Kubernetes does not rule it out).
 */
const overlapPairArb: fc.Arbitrary<readonly [Loop, Loop]> = fc.oneof(
  { weight: 4, arbitrary: fc.constant(['observer', 'closer'] as const) },
  { weight: 1, arbitrary: fc.constant(['observer', 'observer'] as const) },
  { weight: 1, arbitrary: fc.constant(['closer', 'closer'] as const) },
);

const crashText = (c: CrashPlan | null): string => (c ? ` crash ${c.when} ${pointText(c)}` : '');
const hookText = (h: HookPlan | null): string => (h ? ` ${h.action.kind === 'arming' ? `arming ${JSON.stringify(h.action.change)}` : JSON.stringify(h.action)} before ${pointText(h)}` : '');

export const worldCommands = (): fc.Arbitrary<WorldCommand>[] => [
  fc
    .tuple(crashArb, hookArb)
    .map(([crash, hook]) => new WorldCommand(`observer${crashText(crash)}${hookText(hook)}`, (w) => w.tick('observer', crash, hook))),
  fc
    .tuple(crashArb, hookArb)
    .map(([crash, hook]) => new WorldCommand(`closer${crashText(crash)}${hookText(hook)}`, (w) => w.tick('closer', crash, hook))),
  fc
    .tuple(overlapPairArb, crashArb, crashArb, fc.array(fc.nat(5), { minLength: 1, maxLength: 24 }), overlapHookArb)
    .map(
      ([pair, c1, c2, choices, hook]) =>
        new WorldCommand(`${pair.join('+')}[${choices.join(',')}]${crashText(c1)}${crashText(c2)}${hookText(hook)}`, (w) => w.overlap(pair, c1, c2, choices, hook)),
    ),
  fc.nat(2).map((b) => new WorldCommand(`push ${b}`, (w) => w.step(`push branch ${b}`, async () => void w.mirror.push(w.mirror.branches[b % w.mirror.branches.length] as Branch)))),
  fc.tuple(fc.nat(2), fc.nat(3)).map(([b, back]) => new WorldCommand(`force-push back ${b}/${back}`, (w) => w.step(`force-push branch ${b} back ${back}`, async () => void w.mirror.forcePushBack(w.mirror.branches[b % w.mirror.branches.length] as Branch, back)))),
  fc.nat(2).map((b) => new WorldCommand(`delete branch ${b}`, (w) => w.step(`delete branch ${b}`, async () => w.mirror.deleteBranch(w.mirror.branches[b % w.mirror.branches.length] as Branch)))),
  fc
    .tuple(fc.nat(2), fc.constantFrom('success' as const, 'failure' as const, 'hang' as const), fc.integer({ min: 1, max: 90 }))
    .map(([f, outcome, extra]) =>
      new WorldCommand(`run of ${f}: ${outcome}`, (w) =>
        w.step(`run of follower ${f}: ${outcome}`, async () => {
          if (outcome === 'hang') {
            // The run keeps going past its trigger budget (and maybe its closeout budget).
            const budgets = w.loaded.registry.followers[f % w.followers.length]?.budgets;
            w.clock.t += ((budgets?.triggerSeconds ?? 60) + extra) * 1000;
            w.figures.count('hangs');
          } else await w.finishFollowerRun(f, outcome === 'success');
        }),
      ),
    ),
  fc.integer({ min: 1, max: 200 }).map((s) => new WorldCommand(`+${s}s`, (w) => w.step(`clock +${s}s`, async () => void (w.clock.t += s * 1000)))),
  armingChangeArb.map((c) => new WorldCommand(`arming ${JSON.stringify(c)}`, (w) => w.step(`arming ${JSON.stringify(c)}`, () => w.changeArming(c)))),
  fc.tuple(fc.constantFrom('acme/app', 'acme/tools'), fc.boolean()).map(([repo, down]) =>
    new WorldCommand(`mirror ${repo} ${down ? 'down' : 'up'}`, (w) =>
      w.step(`mirror ${repo} ${down ? 'unreachable' : 'reachable'}`, async () => {
        if (down) {
          w.mirror.unreachable.add(repo);
          w.figures.count('mirrorOutages');
        } else w.mirror.unreachable.delete(repo);
      }),
    ),
  ),
  fc.boolean().map((down) =>
    new WorldCommand(`targets ${down ? 'down' : 'up'}`, (w) =>
      w.step(`targets ${down ? 'unreadable' : 'readable'}`, async () => {
        w.targets.unreadable = down;
        if (down) w.figures.count('targetOutages');
      }),
    ),
  ),
  fc.constant(new WorldCommand('dry-run', (w) => w.dryRun())),
  fc.constantFrom('observer' as const, 'closer' as const).map((loop) => new WorldCommand(`guarded ${loop}`, (w) => w.guarded(loop))),
  // serve's push receiver: a push whose woken tick races the schedule.
  fc
    .tuple(fc.nat(2), fc.array(fc.nat(5), { minLength: 1, maxLength: 24 }), crashArb)
    .map(([b, choices, crash]) => new WorldCommand(`poke ${b}[${choices.join(',')}]${crashText(crash)}`, (w) => w.poke(b, choices, crash))),
];

/** Ticks come up most, then what moves the world; the rest now and then. */
export const WEIGHTS = [7, 5, 3, 3, 1, 1, 4, 2, 2, 1, 1, 1, 1, 2];

export const weighted = <T>(arbs: fc.Arbitrary<T>[], weights: readonly number[]): fc.Arbitrary<T>[] =>
  arbs.flatMap((a, i) => Array.from({ length: weights[i] ?? 1 }, () => a));
