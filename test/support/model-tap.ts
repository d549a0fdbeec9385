// The tap every port of a tick goes through in the model-based fault suite: it numbers each
// adapter call, crashes the tick before or after its Nth call (a crashed tick's process is gone:
// every later call of that tick fails too), runs a model action just before a chosen call (a brake
// pulled mid-tick, a push, a racing tick), lets an Interleaver order the calls of overlapping
// ticks, and tells the world about every call so its oracles can watch.
import type { Ports } from '../../src/loops/context.ts';

export class CrashError extends Error {
  override name = 'CrashError';
}

/** Where in a tick: its Nth adapter call, or the Nth call of one adapter method (e.g. the first `dispatcher.dispatch`). */
export type Point = { at: number } | { call: string; nth: number };

export type CrashPlan = Point & { when: 'before' | 'after' };

export const ADAPTER_CALLS = [
  'store.list',
  'store.get',
  'store.create',
  'store.update',
  'arming.read',
  'refs.readMany',
  'targets.readMany',
  'dispatcher.statuses',
  'dispatcher.dispatch',
  'dispatcher.cancel',
  'events.emit',
  'notifier.notify',
] as const;

const hits = (p: Point, n: number, call: string, nth: number): boolean => ('at' in p ? p.at === n : p.call === call && p.nth === nth);

export const pointText = (p: Point): string => ('at' in p ? `call ${p.at}` : `${p.call}#${p.nth}`);

export type HookAction =
  | { kind: 'arming'; change: ArmingChange }
  | { kind: 'push'; branch: number }
  | { kind: 'finish'; follower: number; ok: boolean }
  | { kind: 'nested'; loop: 'observer' | 'closer' }
  | { kind: 'race-write'; follower: number };

export type ArmingChange =
  | { kind: 'kill-switch'; on: boolean }
  | { kind: 'allow'; follower: number; on: boolean }
  | { kind: 'all' }
  | { kind: 'malformed' }
  | { kind: 'absent' };

export type HookPlan = Point & { action: HookAction };

export type Loop = 'observer' | 'closer';

/** One tick's life as the tap sees it. */
export type TickCtx = {
  id: number;
  loop: Loop;
  calls: number;
  /** Calls so far of each adapter method. */
  perCall: Map<string, number>;
  crash: CrashPlan | null;
  hook: HookPlan | null;
  dead: boolean;
  crashed: { port: string; method: string; when: 'before' | 'after' } | null;
  hooked: HookAction | null;
  interleaver: Interleaver | null;
  /** Seq at which each of the tick's first reads ended (the observer's reading phase). */
  firstEnds: Map<string, number>;
  /** Writes that reached the tap (so got past any dry-run guard). */
  writes: string[];
  log: string[];
  inflight: Set<Promise<void>>;
};

export const WRITE_METHODS: ReadonlySet<string> = new Set([
  'store.create',
  'store.update',
  'arming.write',
  'dispatcher.dispatch',
  'dispatcher.cancel',
  'events.emit',
  'notifier.notify',
]);

export type TapListener = {
  nextSeq(): number;
  runHook(action: HookAction, tick: TickCtx): Promise<void>;
  onStart(tick: TickCtx, call: string, args: readonly unknown[], seq: number): void;
  onEnd(tick: TickCtx, call: string, args: readonly unknown[], outcome: { ok: true; value: unknown } | { ok: false; error: unknown }, seq: number): void;
  /** Looks at the backend after every call (what exists, what is stored). */
  snapshot(): Promise<void>;
  crashed(tick: TickCtx, call: string, when: 'before' | 'after'): void;
};

type AnyFn = (...args: unknown[]) => Promise<unknown>;

const wrapPort = <T extends object>(name: string, port: T, tick: TickCtx, l: TapListener): T =>
  new Proxy(port, {
    get(target, prop, receiver) {
      const v: unknown = Reflect.get(target, prop, receiver);
      if (typeof v !== 'function') return v;
      const fn = v as AnyFn;
      const call = `${name}.${String(prop)}`;
      const body = async (args: unknown[]): Promise<unknown> => {
        const n = ++tick.calls;
        const nth = (tick.perCall.get(call) ?? 0) + 1;
        tick.perCall.set(call, nth);
        if (tick.dead) throw new CrashError(`tick ${tick.id} is dead (${call})`);
        if (tick.hook && hits(tick.hook, n, call, nth)) {
          const h = tick.hook;
          tick.hook = null;
          tick.hooked = h.action;
          await l.runHook(h.action, tick);
        }
        if (tick.interleaver) await tick.interleaver.gate(tick.id);
        let crashAfter = false;
        try {
          // The process died while this call waited (for its turn, or behind a model action).
          if (tick.dead) throw new CrashError(`tick ${tick.id} is dead (${call})`);
          const start = l.nextSeq();
          if (tick.crash && hits(tick.crash, n, call, nth)) {
            tick.dead = true;
            tick.crashed = { port: name, method: String(prop), when: tick.crash.when };
            l.crashed(tick, call, tick.crash.when);
            if (tick.crash.when === 'before') throw new CrashError(`crash before call ${n} (${call}) of tick ${tick.id}`);
            crashAfter = true;
          }
          if (WRITE_METHODS.has(call)) tick.writes.push(call);
          l.onStart(tick, call, args, start);
          let outcome: { ok: true; value: unknown } | { ok: false; error: unknown };
          try {
            outcome = { ok: true, value: await fn.apply(target, args) };
          } catch (error) {
            outcome = { ok: false, error };
          }
          l.onEnd(tick, call, args, outcome, l.nextSeq());
          if (crashAfter) throw new CrashError(`crash after call ${n} (${call}) of tick ${tick.id}`);
          if (!outcome.ok) throw outcome.error;
          return outcome.value;
        } finally {
          await l.snapshot();
          tick.interleaver?.callDone();
        }
      };
      return (...args: unknown[]): Promise<unknown> => {
        const p = body(args);
        // A tick is over only when every call it started is: a crash rejects the tick early while
        // a parallel call (or a model action before it) may still be running.
        const settled = p.then(
          () => undefined,
          () => undefined,
        );
        tick.inflight.add(settled);
        void settled.then(() => tick.inflight.delete(settled));
        return p;
      };
    },
  });

/** Every port of a tick behind the tap (dry-run guards, when used, go on top of it). */
export const tapPorts = (ports: Ports, tick: TickCtx, l: TapListener): Ports => ({
  store: wrapPort('store', ports.store, tick, l),
  arming: wrapPort('arming', ports.arming, tick, l),
  holds: wrapPort('holds', ports.holds, tick, l),
  dispatcher: wrapPort('dispatcher', ports.dispatcher, tick, l),
  targets: wrapPort('targets', ports.targets, tick, l),
  pipelines: wrapPort('pipelines', ports.pipelines, tick, l),
  refs: wrapPort('refs', ports.refs, tick, l),
  events: wrapPort('events', ports.events, tick, l),
  notifier: wrapPort('notifier', ports.notifier, tick, l),
  logs: wrapPort('logs', ports.logs, tick, l),
});

/**
 * Orders the adapter calls of overlapping ticks by a list of choices fast-check generated (and can
 * shrink): calls run one at a time, and the next one released is picked, among the calls every
 * live tick is waiting on, by the next choice. Deterministic whatever the machine's speed.
 */
export class Interleaver {
  private readonly choices: readonly number[];
  private waiting: { tick: number; release: () => void }[] = [];
  private readonly live = new Set<number>();
  private busy = false;
  private kick: (() => void) | null = null;
  private i = 0;

  constructor(choices: readonly number[]) {
    this.choices = choices.length > 0 ? choices : [0];
  }

  join(tick: number): void {
    this.live.add(tick);
  }

  leave(tick: number): void {
    this.live.delete(tick);
    this.poke();
  }

  gate(tick: number): Promise<void> {
    return new Promise((release) => {
      this.waiting.push({ tick, release });
      this.poke();
    });
  }

  callDone(): void {
    this.busy = false;
    this.poke();
  }

  private poke(): void {
    const k = this.kick;
    this.kick = null;
    k?.();
  }

  async drive(): Promise<void> {
    for (;;) {
      // Let the released call's continuation run up to its tick's next call (or its end).
      await new Promise<void>((r) => setImmediate(r));
      if (this.live.size === 0) return;
      const ready = !this.busy && [...this.live].every((t) => this.waiting.some((w) => w.tick === t));
      if (!ready) {
        await new Promise<void>((r) => {
          this.kick = r;
        });
        continue;
      }
      const pick = (this.choices[this.i++ % this.choices.length] ?? 0) % this.waiting.length;
      const [w] = this.waiting.splice(pick, 1);
      if (!w) continue;
      this.busy = true;
      w.release();
    }
  }
}
