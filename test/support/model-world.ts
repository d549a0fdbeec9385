// The world of the model-based fault suite: the real observer and closer ticks, run against one
// driver's real adapters (see model-local-driver.ts and model-k8s-driver.ts) behind the tap
// (model-tap.ts), with the mirror, the targets and the runs moved by the model, and every
// invariant checked after every adapter call and every step.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { loadRegistry, type LoadedRegistry } from '../../src/adapters/config/registry-file.ts';
import { ConflictError, type DispatchRequest, type Stored } from '../../src/adapters/ports.ts';
import { resolveBudgets } from '../../src/core/budgets.ts';
import type { StageReading } from '../../src/core/fold.ts';
import { idempotencyKey } from '../../src/core/notifications.ts';
import { NOTIFY_PHASES } from '../../src/core/phases.ts';
import type { FollowerState, Transition } from '../../src/core/state.ts';
import { closerTick } from '../../src/loops/closer.ts';
import type { LoopContext, Ports } from '../../src/loops/context.ts';
import { guardWrites } from '../../src/loops/dry-run.ts';
import { observerTick, type TickReport } from '../../src/loops/observer.ts';
import type { Figures } from './model-figures.ts';
import { Mirror, Notifications, Targets, noLogs, noPipelines, type Branch } from './model-fakes.ts';
import { ArmingTimeline, TERMINAL, extendsHistory, historyProblems, transitionKey, type ArmingModel } from './model-oracle.ts';
import { CrashError, Interleaver, pointText, tapPorts, type ArmingChange, type CrashPlan, type HookAction, type HookPlan, type Loop, type TapListener, type TickCtx } from './model-tap.ts';

export const T0 = Date.parse('2026-01-01T00:00:00.000Z');

export type ModelFollower = {
  id: string;
  repo: string;
  branch: string;
  onSupersede: 'wait' | 'cancel';
  budgets?: { triggerSeconds?: number; closeoutSeconds?: number; maxAttempts?: number };
};

export const DEFAULT_BUDGETS = { triggerSeconds: 60, closeoutSeconds: 120, maxAttempts: 2 };

/** Two repositories, three branches: two followers share a repository (one ref read for both). */
export const MODEL_FOLLOWERS: readonly ModelFollower[] = [
  { id: 'web', repo: 'acme/app', branch: 'main', onSupersede: 'wait' },
  { id: 'api', repo: 'acme/app', branch: 'release', onSupersede: 'cancel' },
  { id: 'tools', repo: 'acme/tools', branch: 'main', onSupersede: 'wait', budgets: { maxAttempts: 1, triggerSeconds: 30 } },
];

export const writeModelRegistry = async (dir: string, followers: readonly ModelFollower[] = MODEL_FOLLOWERS): Promise<LoadedRegistry> => {
  const lanes: Record<string, unknown> = {};
  for (const f of followers) lanes[f.id] = { source: { repo: f.repo, branch: f.branch }, target: { reader: 'file', path: `targets/${f.id}.sha` } };
  await writeFile(join(dir, 'lanes.yaml'), stringify({ lanes }));
  const registry = {
    controller: {
      namespace: 'branch-follower',
      driver: 'local',
      gitMirror: { readUrl: 'file:///model-mirror' },
      source: { repo: 'acme/branch-follower', ref: 'main' },
      schedules: { observer: '* * * * *', closer: '* * * * *' },
      defaults: { budgets: DEFAULT_BUDGETS },
      local: { stateDir: 'state' },
    },
    followers: followers.map((f) => ({
      id: f.id,
      adapter: 'generic',
      source: { configRef: `lanes.yaml#lanes.${f.id}.source` },
      target: { configRef: `lanes.yaml#lanes.${f.id}.target` },
      command: ['./deploy.sh', '--follower', f.id],
      checks: ['trigger', 'target'],
      onSupersede: f.onSupersede,
      ...(f.budgets ? { budgets: f.budgets } : {}),
    })),
  };
  const path = join(dir, 'cicd-branch-followers.yaml');
  await writeFile(path, stringify(registry));
  return loadRegistry(path);
};

/** A dispatch as the backend knows it: a model run, or a Job. */
export type RunView = { name: string; followerId: string; sha: string; episode: number; attempt: number; uid: string; running: boolean; succeeded: boolean };

export type RawStored = { id: string; version: string; state: FollowerState } | { id: string; version: string; corrupt: string };

/** What a driver flavour gives the world: its real adapters, and the backend seen from the outside. */
export interface ModelDriver {
  readonly kind: 'local' | 'kubernetes';
  /** Fresh adapters, as a restarted process builds them. */
  ports(): Pick<Ports, 'store' | 'arming' | 'holds' | 'dispatcher' | 'events' | 'logs'>;
  /** Every dispatch that exists. */
  runs(): RunView[];
  /** The model moves a run: its trigger succeeds or fails. */
  finishRun(name: string, ok: boolean): Promise<void>;
  /** Writes the arming as an operator would (kubectl, the CLI), outside any tick. */
  writeArming(a: ArmingModel): Promise<void>;
  /** Every stored follower state, read straight from the backend (no faults, no tap). */
  readStates(): RawStored[];
  readEvents(id: string): Promise<Transition[]>;
  /** Someone else writes the state object (same content, new version): the next update loses its race. */
  racingWrite(id: string): Promise<boolean>;
  /** Changes whenever anything is written to the backend. */
  fingerprint(): Promise<string>;
  /** Waits until no request the model delayed is still being served. */
  settle(): Promise<void>;
  /** Requests an injected fault shaped so far (0 where there are none). */
  faultsSeen(): number;
  clearFaults(): void;
  close(): Promise<void>;
}

type TickResult = { tick: TickCtx; report: TickReport | null; thrown: unknown; dryRun: boolean; guard: boolean };

type TickData = { list: Stored[] | null; statuses: Map<string, StageReading>; refReads: number };

export type WorldParts = {
  driver: ModelDriver;
  loaded: LoadedRegistry;
  mirror: Mirror;
  targets: Targets;
  notes: Notifications;
  clock: { t: number };
  figures: Figures;
};

export class ModelViolation extends Error {
  override name = 'ModelViolation';
}

export class World implements TapListener {
  readonly driver: ModelDriver;
  readonly loaded: LoadedRegistry;
  readonly mirror: Mirror;
  readonly targets: Targets;
  readonly notes: Notifications;
  readonly clock: { t: number };
  readonly figures: Figures;
  readonly followers: readonly ModelFollower[];
  readonly timeline: ArmingTimeline;
  private seq = 0;
  private tickIds = 0;
  private stepNo = 0;
  private readonly maxAttempts = new Map<string, number>();
  private readonly lastSeen = new Map<string, { version: string; state: FollowerState }>();
  private readonly terminal = new Map<string, { id: string; t: Transition; step: number; strict: boolean; counted: boolean }>();
  private readonly maxHistory = new Map<string, number>();
  /** For each notification sent (same index as notes.sent): its step, and whether the stored outbox held it then. */
  private readonly noteMeta: { step: number; fromOutbox: boolean }[] = [];
  /** Steps without crash, mid-tick action, guard or injected fault. */
  private readonly cleanSteps = new Set<number>();
  private repeatsCountedUpTo = 0;
  /** The notification every Succeeded, Failed or Blocked a stored history ever held owes, by key. */
  private readonly owedNotes = new Map<string, { id: string; t: Transition }>();
  private readonly ledger = new Map<string, Set<string>>();
  private readonly tickData = new WeakMap<TickCtx, TickData>();
  /** For each dispatch call: whether its dispatch already existed, and the faults seen, when it started. */
  private readonly dispatchStarts = new WeakMap<object, { existed: boolean; faults: number }>();
  private readonly violations = new Set<string>();
  private reported = 0;
  private step_: { label: string; crashed: boolean; hooked: boolean; guard: boolean; faultsBefore: number; results: TickResult[] } | null = null;
  readonly trace: string[] = [];

  constructor(p: WorldParts, initial: ArmingModel) {
    this.driver = p.driver;
    this.loaded = p.loaded;
    this.mirror = p.mirror;
    this.targets = p.targets;
    this.notes = p.notes;
    this.clock = p.clock;
    this.figures = p.figures;
    this.followers = MODEL_FOLLOWERS.filter((f) => p.loaded.registry.followers.some((r) => r.id === f.id));
    for (const f of p.loaded.registry.followers) this.maxAttempts.set(f.id, resolveBudgets(f.id, f.budgets, p.loaded.registry.controller.defaults.budgets).maxAttempts);
    this.timeline = new ArmingTimeline(initial);
  }

  follower(i: number): ModelFollower {
    return this.followers[i % this.followers.length] as ModelFollower;
  }

  violation(text: string): void {
    if (!this.violations.has(text)) this.trace.push(`VIOLATION ${text}`);
    this.violations.add(text);
  }

  // ---- the tap's listener ----------------------------------------------------------------

  nextSeq(): number {
    return ++this.seq;
  }

  async runHook(action: HookAction, tick: TickCtx): Promise<void> {
    this.figures.hook(action.kind);
    if (this.step_) this.step_.hooked = true;
    this.trace.push(`  hook before call ${tick.calls} of ${tick.loop}#${tick.id}: ${JSON.stringify(action)}`);
    switch (action.kind) {
      case 'arming':
        return this.changeArming(action.change);
      case 'push':
        this.mirror.push(this.mirror.branches[action.branch % this.mirror.branches.length] as Branch);
        return;
      case 'finish':
        await this.finishFollowerRun(action.follower, action.ok);
        return;
      case 'nested':
        await this.runTick(action.loop, {});
        return;
      case 'race-write': {
        const wrote = await this.driver.racingWrite(this.follower(action.follower).id);
        if (wrote) this.figures.count('racingWrites');
        return;
      }
    }
  }

  crashed(tick: TickCtx, call: string, when: 'before' | 'after'): void {
    this.figures.crash(call, when);
    if (this.step_) this.step_.crashed = true;
    this.trace.push(`  crash ${when} ${call} (call ${tick.calls} of ${tick.loop}#${tick.id})`);
  }

  onStart(tick: TickCtx, call: string, args: readonly unknown[], seq: number): void {
    this.figures.count('adapterCalls');
    const data = this.dataOf(tick);
    if (call === 'dispatcher.dispatch') {
      const req = args[0] as DispatchRequest;
      this.figures.count('dispatchCalls');
      if (tick.loop !== 'observer') this.violation(`the ${tick.loop} dispatched ${req.name}`);
      const ends = ['refs.readMany', 'targets.readMany', 'dispatcher.statuses'].map((c) => tick.firstEnds.get(c));
      if (ends.some((e) => e === undefined)) {
        this.violation(`${req.name} dispatched before the observer finished reading (refs, targets, dispatches)`);
      } else {
        const readEnd = Math.max(...(ends as number[]));
        // The brake pulled while the tick was still reading must stop it: if the follower was
        // disarmed during the whole stretch from the end of the tick's reads to this dispatch,
        // the tick's gate re-read (which falls in that stretch) saw it disarmed.
        if (!this.timeline.armedSomewhere(req.followerId, readEnd, seq)) {
          this.violation(`${req.name} dispatched although ${req.followerId} was disarmed from the end of the tick's reads (seq ${readEnd}) to the dispatch (seq ${seq})`);
        }
      }
      const max = this.maxAttempts.get(req.followerId) ?? 0;
      if (req.attempt > max) this.violation(`${req.name}: attempt ${req.attempt} over maxAttempts ${max}`);
      this.dispatchStarts.set(req, { existed: this.driver.runs().some((r) => r.name === req.name), faults: this.driver.faultsSeen() });
    }
    if (call === 'refs.readMany') {
      data.refReads++;
      const repos = (args[0] as { repo: string }[]).map((r) => r.repo);
      if (new Set(repos).size !== repos.length) this.violation(`one ref read asked for a repository twice: ${repos.join(', ')}`);
      if (data.refReads > 1) this.violation(`${tick.loop}#${tick.id} read the git mirror ${data.refReads} times in one tick`);
    }
    if (call === 'targets.readMany' && tick.loop === 'closer') this.checkStageOrder(tick, data, args[0] as { key: string }[]);
    if (call === 'pipelines.readMany') this.violation(`pipelines read for followers that do not check them`);
  }

  onEnd(tick: TickCtx, call: string, args: readonly unknown[], outcome: { ok: true; value: unknown } | { ok: false; error: unknown }, seq: number): void {
    if (!tick.firstEnds.has(call)) tick.firstEnds.set(call, seq);
    const data = this.dataOf(tick);
    if (outcome.ok && call === 'store.list' && data.list === null) data.list = outcome.value as Stored[];
    if (outcome.ok && call === 'dispatcher.statuses') for (const [k, v] of outcome.value as Map<string, StageReading>) data.statuses.set(k, v);
    if (!outcome.ok && (call === 'store.update' || call === 'store.create') && outcome.error instanceof ConflictError) this.figures.count('casConflicts');
    if (call === 'dispatcher.dispatch') {
      const req = args[0] as DispatchRequest;
      const start = this.dispatchStarts.get(req);
      // Exactly-once at the adapter: creating a dispatch that exists adopts it, with no error
      // (unless an injected fault broke the call).
      if (start?.existed && start.faults === this.driver.faultsSeen()) {
        if (!outcome.ok) this.violation(`creating ${req.name}, which exists, failed instead of adopting it: ${(outcome.error as Error).message}`);
        else if (!(outcome.value as { adopted: boolean }).adopted) this.violation(`creating ${req.name}, which exists, did not answer adopted`);
      }
      if (outcome.ok && (outcome.value as { adopted: boolean }).adopted) this.figures.count('adoptions');
    }
  }

  private dataOf(tick: TickCtx): TickData {
    let d = this.tickData.get(tick);
    if (!d) {
      d = { list: null, statuses: new Map(), refReads: 0 };
      this.tickData.set(tick, d);
    }
    return d;
  }

  /** Invariant 7 in the loop: the target is read for a run only once its trigger stage succeeded, and never for a superseded run. */
  private checkStageOrder(tick: TickCtx, data: TickData, requests: readonly { key: string }[]): void {
    for (const r of requests) {
      const stored = data.list?.find((s) => s.id === r.key);
      const st = stored && 'state' in stored ? stored.state : null;
      if (!st?.inFlight) continue;
      if (st.inFlight.superseded) this.violation(`closer read the target of superseded run ${st.inFlight.name}`);
      const trigger = data.statuses.get(st.inFlight.name)?.result;
      if (st.phase !== 'ClosingOut' && trigger !== 'SUCCESS') this.violation(`closer read the target of ${st.inFlight.name} while its trigger read ${trigger ?? 'nothing'}`);
    }
  }

  async snapshot(): Promise<void> {
    const running = new Map<string, string[]>();
    for (const r of this.driver.runs()) {
      // A run's identity: a sha the branch comes back to is a new episode, hence a new run.
      const key = `${r.followerId}/${r.sha}/${r.episode}/${r.attempt}`;
      const uids = this.ledger.get(key) ?? new Set<string>();
      if (!uids.has(r.uid)) {
        if (uids.size === 0) this.figures.count('dispatchesCreated');
        uids.add(r.uid);
        this.ledger.set(key, uids);
      }
      if (uids.size > 1) this.violation(`(${r.followerId}, ${r.sha.slice(0, 12)}, episode ${r.episode}, attempt ${r.attempt}) dispatched ${uids.size} times (${r.name})`);
      const max = this.maxAttempts.get(r.followerId) ?? 0;
      if (r.attempt > max) this.violation(`${r.name}: attempt ${r.attempt} exists, over maxAttempts ${max}`);
      if (r.running) running.set(r.followerId, [...(running.get(r.followerId) ?? []), r.name]);
    }
    for (const [id, names] of running) if (names.length > 1) this.violation(`${id} has ${names.length} runs in flight at once: ${names.join(', ')}`);

    for (const s of this.driver.readStates()) {
      if ('corrupt' in s) {
        this.violation(`stored state of ${s.id} does not pass its schema: ${s.corrupt}`);
        continue;
      }
      const prev = this.lastSeen.get(s.id);
      if (prev && prev.version === s.version) continue;
      this.checkVersion(s.id, prev?.state ?? null, s.state);
      this.lastSeen.set(s.id, { version: s.version, state: s.state });
    }
  }

  private checkVersion(id: string, prev: FollowerState | null, next: FollowerState): void {
    this.figures.count('storedVersions');
    for (const p of historyProblems(next)) this.violation(`${id}: ${p}`);
    if (prev && !extendsHistory(prev.history, next.history)) {
      this.violation(`${id}: a write lost history (lost update): ${prev.history.map((t) => t.to).join('>')} became ${next.history.map((t) => t.to).join('>')}`);
    }
    const sha = next.lastSucceededSha;
    if (sha && sha !== (prev?.lastSucceededSha ?? null)) {
      // Invariant 5: a sha becomes lastSucceededSha only when every check of it passed: its
      // dispatch succeeded and the target reported it.
      const ok = this.driver.runs().some((r) => r.followerId === id && r.sha === sha && r.succeeded);
      if (!ok) this.violation(`${id}: lastSucceededSha became ${sha.slice(0, 12)} without a successful dispatch of it`);
      if (!this.targets.ever.get(id)?.has(sha)) this.violation(`${id}: lastSucceededSha became ${sha.slice(0, 12)} though its target never reported it`);
    }
    this.maxHistory.set(id, Math.max(this.maxHistory.get(id) ?? 0, next.history.length));
    for (const t of next.history) if (NOTIFY_PHASES.includes(t.to) && !this.owedNotes.has(idempotencyKey(id, t))) this.owedNotes.set(idempotencyKey(id, t), { id, t });
    for (const t of next.history) {
      if (!TERMINAL.has(t.to)) continue;
      const key = `${id} ${transitionKey(t)}`;
      if (!this.terminal.has(key)) this.terminal.set(key, { id, t, step: this.stepNo, strict: false, counted: false });
    }
  }

  // ---- the model's actions ---------------------------------------------------------------

  async changeArming(change: ArmingChange): Promise<void> {
    const cur = this.timeline.current;
    const base = cur.kind === 'ok' ? cur : { kind: 'ok' as const, killSwitch: true, allow: [] as string[] };
    let next: ArmingModel;
    switch (change.kind) {
      case 'kill-switch':
        next = { ...base, killSwitch: change.on };
        break;
      case 'allow': {
        const id = this.follower(change.follower).id;
        next = { ...base, allow: change.on ? [...new Set([...base.allow, id])] : base.allow.filter((a) => a !== id) };
        break;
      }
      case 'all':
        next = { kind: 'ok', killSwitch: false, allow: this.followers.map((f) => f.id) };
        break;
      case 'malformed':
        next = { kind: 'malformed' };
        break;
      case 'absent':
        next = { kind: 'absent' };
        break;
    }
    const start = this.nextSeq();
    await this.driver.writeArming(next);
    this.timeline.record(start, this.nextSeq(), next);
    this.figures.count('armingChanges');
  }

  async finishFollowerRun(follower: number, ok: boolean): Promise<boolean> {
    const id = this.follower(follower).id;
    const run = this.driver.runs().find((r) => r.followerId === id && r.running);
    if (!run) return false;
    // The deploy did its work before its trigger reports success.
    if (ok) this.targets.set(id, run.sha);
    await this.driver.finishRun(run.name, ok);
    this.figures.count(ok ? 'runsSucceeded' : 'runsFailed');
    return true;
  }

  // ---- ticks ---------------------------------------------------------------------------

  async runTick(loop: Loop, o: { crash?: CrashPlan | null; hook?: HookPlan | null; interleaver?: Interleaver; dryRun?: boolean; guard?: boolean; only?: ReadonlySet<string> }): Promise<TickResult> {
    const tick: TickCtx = {
      id: ++this.tickIds,
      loop,
      calls: 0,
      perCall: new Map(),
      crash: o.crash ?? null,
      hook: o.hook ?? null,
      dead: false,
      crashed: null,
      hooked: null,
      interleaver: o.interleaver ?? null,
      firstEnds: new Map(),
      writes: [],
      log: [],
      inflight: new Set(),
    };
    o.interleaver?.join(tick.id);
    this.figures.count(o.dryRun ? 'dryRunTicks' : o.guard ? 'guardedTicks' : loop === 'observer' ? 'observerTicks' : 'closerTicks');
    const sink = this.notes.notifier();
    // Every notification goes out from the outbox: the stored state must hold it when it is sent.
    const notifier: Ports['notifier'] = {
      notify: async (n) => {
        this.noteMeta.push({ step: this.stepNo, fromOutbox: this.inStoredOutbox(n.id, n.idempotencyKey) });
        await sink.notify(n);
      },
    };
    const raw: Ports = { ...this.driver.ports(), targets: this.targets.reader(), refs: this.mirror.refReader(), notifier, pipelines: noPipelines, logs: noLogs };
    const tapped = tapPorts(raw, tick, this);
    const ports = o.guard ? guardWrites(tapped) : tapped;
    const ctx: LoopContext = { loaded: this.loaded, ports, now: () => this.clock.t, log: (l) => void tick.log.push(l), dryRun: o.dryRun ?? false, deadline: null };
    const result: TickResult = { tick, report: null, thrown: undefined, dryRun: o.dryRun ?? false, guard: o.guard ?? false };
    try {
      result.report = loop === 'observer' ? await observerTick(ctx, o.only) : await closerTick(ctx);
    } catch (e) {
      result.thrown = e;
    }
    while (tick.inflight.size > 0) await Promise.all([...tick.inflight]);
    o.interleaver?.leave(tick.id);
    const summary = result.report
      ? result.report.followers.map((f) => `${f.id}:${f.phase ?? '-'}${f.dispatched ? `+${f.dispatched}` : ''}${f.error ? `!${f.error.slice(0, 80)}` : ''}`).join(' ')
      : `threw ${(result.thrown as Error | undefined)?.message ?? ''}`;
    this.trace.push(`  ${loop}#${tick.id}${o.dryRun ? ' (dry-run)' : o.guard ? ' (guarded)' : ''}: ${summary}`);
    this.step_?.results.push(result);
    return result;
  }

  private inStoredOutbox(id: string, key: string): boolean {
    const s = this.driver.readStates().find((x) => x.id === id);
    return !!s && 'state' in s && (s.state.outbox?.items.some((i) => i.key === key) ?? false);
  }

  // ---- steps ---------------------------------------------------------------------------

  /** One command of the model: runs it, then checks every invariant; throws on a violation. */
  async step(label: string, body: () => Promise<void>): Promise<void> {
    await this.driver.settle();
    this.stepNo++;
    this.figures.count('steps');
    this.trace.push(`#${this.stepNo} ${label}`);
    this.step_ = { label, crashed: false, hooked: false, guard: false, faultsBefore: this.driver.faultsSeen(), results: [] };
    try {
      await body();
      await this.endStep();
    } finally {
      this.step_ = null;
    }
  }

  markGuarded(): void {
    if (this.step_) this.step_.guard = true;
  }

  private async endStep(): Promise<void> {
    const st = this.step_;
    if (!st) return;
    await this.snapshot();
    const faulted = this.driver.faultsSeen() > st.faultsBefore;
    const clean = !st.crashed && !st.hooked && !st.guard && !faulted;
    if (clean) this.cleanSteps.add(this.stepNo);
    if (clean) {
      for (const r of st.results) {
        if (r.thrown !== undefined) this.violation(`step "${st.label}": ${r.tick.loop} tick threw without any fault: ${(r.thrown as Error).message}`);
        for (const f of r.report?.followers ?? []) if (f.error) this.violation(`step "${st.label}": ${r.tick.loop} reported an error without any fault: ${f.id}: ${f.error}`);
      }
    }
    for (const r of st.results) {
      if (r.thrown !== undefined && !(r.thrown instanceof CrashError) && !faulted && !st.guard) {
        this.violation(`${r.tick.loop} tick threw: ${(r.thrown as Error).stack ?? String(r.thrown)}`);
      }
    }
    // No terminal transition lost: every Succeeded, Failed or Blocked a stored state ever reached
    // is still in the follower's history or among its events; after a clean step, among its events.
    const events = new Map<string, Set<string>>();
    for (const f of this.followers) events.set(f.id, new Set((await this.driver.readEvents(f.id)).map(transitionKey)));
    for (const [key, e] of this.terminal) {
      if (e.step === this.stepNo && clean) e.strict = true;
      // Events are append-only (the model lets none expire): once recorded, it stays recorded.
      if (events.get(e.id)?.has(transitionKey(e.t))) {
        this.terminal.delete(key);
        continue;
      }
      const inHistory = this.lastSeen.get(e.id)?.state.history.some((t) => transitionKey(t) === transitionKey(e.t)) ?? false;
      if (e.strict) this.violation(`${e.id}: transition to ${e.t.to} (${e.t.at}) written by a tick without crash or fault, but no event records it`);
      else if (!inHistory) this.violation(`${e.id}: transition to ${e.t.to} (${e.t.at}) lost: neither in history nor in events`);
      else if (!e.counted) {
        // A crash or fault between a won write and its events: history still has it.
        e.counted = true;
        this.figures.count('terminalOnlyInHistory');
      }
    }
    // Notifications: at most once per (follower, run, phase) for Succeeded and Failed, once per
    // visit of a sha for Blocked, as far as history remembers: one idempotency key each. Each is
    // sent from the outbox (the stored state holds it then). Delivery is at least once: a key
    // goes out again only when the tick that sent it first had a crash or fault in its step
    // (it died, or could not remove it from the outbox, after sending).
    const first = new Map<string, number>();
    this.notes.sent.forEach((n, i) => {
      if (n.phase !== 'Blocked' && (n.run === null || n.idempotencyKey !== `${n.run}/${n.phase}`)) this.violation(`notification ${n.idempotencyKey} of a ${n.phase} is not keyed by its run`);
      const k = n.idempotencyKey;
      const meta = this.noteMeta[i];
      if (meta && !meta.fromOutbox) this.violation(`notification ${k} sent while the stored outbox did not hold it`);
      const at = first.get(k);
      if (at !== undefined && this.cleanSteps.has(at) && (this.maxHistory.get(n.id) ?? 0) < 50) this.violation(`notification ${k} sent twice, though the step that first sent it had no crash or fault`);
      if (at === undefined) first.set(k, meta?.step ?? this.stepNo);
      else if (i >= this.repeatsCountedUpTo) this.figures.count('notificationsRedelivered');
    });
    this.repeatsCountedUpTo = this.notes.sent.length;
    this.throwIfViolated();
  }

  throwIfViolated(): void {
    if (this.violations.size > this.reported) {
      const all = [...this.violations];
      this.reported = all.length;
      this.figures.count('violations', all.length);
      throw new ModelViolation(`${all.join('\n')}\n--- trace (last 120 lines) ---\n${this.trace.slice(-120).join('\n')}`);
    }
  }

  // ---- commands as the suite uses them -------------------------------------------------

  async tick(loop: Loop, crash: CrashPlan | null, hook: HookPlan | null): Promise<void> {
    await this.step(`${loop} tick${crash ? ` crash ${crash.when} ${pointText(crash)}` : ''}${hook ? ` before ${pointText(hook)}: ${JSON.stringify(hook.action)}` : ''}`, async () => {
      await this.runTick(loop, { crash, hook });
    });
  }

  async overlap(pair: readonly [Loop, Loop], c1: CrashPlan | null, c2: CrashPlan | null, choices: readonly number[], hook: HookPlan | null): Promise<void> {
    const crashes = [c1, c2].map((c, i) => (c ? ` ${pair[i] ?? ''} crash ${c.when} ${pointText(c)}` : '')).join('');
    await this.step(`${pair.join(' and ')} overlapping [${choices.join(',')}]${crashes}${hook ? ` with ${JSON.stringify(hook.action)} before ${pointText(hook)}` : ''}`, async () => {
      const il = new Interleaver(choices);
      this.figures.count('overlaps');
      const drive = il.drive();
      await Promise.all([this.runTick(pair[0], { crash: c1, hook, interleaver: il }), this.runTick(pair[1], { crash: c2, interleaver: il }), drive]);
    });
  }

  /**
   * A push hook's poke (`serve`, local driver): the branch moves, and the observer tick the
   * receiver runs for that repository's followers races a scheduled observer tick, interleaved
   * call by call; either may crash. Every invariant (one dispatch per run, ...) still holds.
   */
  async poke(branch: number, choices: readonly number[], crash: CrashPlan | null): Promise<void> {
    const b = this.mirror.branches[branch % this.mirror.branches.length] as Branch;
    await this.step(`poke: push ${b.repo}@${b.branch}, its woken observer tick racing a scheduled one [${choices.join(',')}]${crash ? ` woken tick crash ${crash.when} ${pointText(crash)}` : ''}`, async () => {
      this.mirror.push(b);
      const only = new Set(this.followers.filter((f) => f.repo === b.repo).map((f) => f.id));
      const il = new Interleaver(choices);
      this.figures.count('pokes');
      const drive = il.drive();
      await Promise.all([this.runTick('observer', { crash, interleaver: il, only }), this.runTick('observer', { interleaver: il }), drive]);
    });
  }

  /** Dry-run ticks write nothing (checked below the guards and at the backend), decide the same twice, and never even try a write. */
  async dryRun(): Promise<void> {
    await this.step('dry-run observer twice, closer once', async () => {
      const before = await this.driver.fingerprint();
      const faults = this.driver.faultsSeen();
      const o1 = await this.runTick('observer', { dryRun: true, guard: true });
      const o2 = await this.runTick('observer', { dryRun: true, guard: true });
      const c = await this.runTick('closer', { dryRun: true, guard: true });
      for (const r of [o1, o2, c]) {
        if (r.tick.writes.length > 0) this.violation(`dry-run ${r.tick.loop} tick wrote through its adapters: ${r.tick.writes.join(', ')}`);
        for (const f of r.report?.followers ?? []) if (f.error?.includes('dry-run: refused')) this.violation(`dry-run ${r.tick.loop} tick tried to write (the guard refused): ${f.id}: ${f.error}`);
      }
      if ((await this.driver.fingerprint()) !== before) this.violation('dry-run ticks changed the backend');
      if (this.driver.faultsSeen() === faults && o1.report && o2.report) {
        const view = (r: TickReport) => JSON.stringify(r.followers.map((f) => [f.id, f.decision, f.state, f.error]));
        if (view(o1.report) !== view(o2.report)) this.violation(`the same inputs gave different decisions:\n${view(o1.report)}\n${view(o2.report)}`);
      }
    });
  }

  /** A live tick handed the dry-run guards (as a loop that forgot its dry-run branch would be): still no write gets through. */
  async guarded(loop: Loop): Promise<void> {
    await this.step(`${loop} tick behind the dry-run guards`, async () => {
      this.markGuarded();
      const before = await this.driver.fingerprint();
      const r = await this.runTick(loop, { guard: true });
      if (r.tick.writes.length > 0) this.violation(`the dry-run guards let writes through: ${r.tick.writes.join(', ')}`);
      if ((await this.driver.fingerprint()) !== before) this.violation('a guarded tick changed the backend');
    });
  }

  // ---- convergence ---------------------------------------------------------------------

  private converged(id: string): boolean {
    const f = this.followers.find((x) => x.id === id) as ModelFollower;
    const newest = this.mirror.branchOf(f.repo, f.branch)?.head ?? null;
    const st = this.lastSeen.get(id)?.state;
    if (!st || !newest || st.pending || st.inFlight || (st.outbox?.items.length ?? 0) > 0) return false;
    if (this.targets.current.get(id) !== newest) return false;
    return (st.phase === 'Succeeded' && st.lastSucceededSha === newest) || (st.phase === 'Noop' && st.targetSha === newest);
  }

  /**
   * Faults stop, everything is armed and deploys succeed: every follower must reach its source's
   * newest sha within `maxRounds` rounds (a round: runs finish, a closer tick, an observer tick,
   * 30 s pass). A sha whose attempts were used up by failures before stays Blocked by design until
   * a new commit: the operator pushes one then, as the Blocked reason says.
   */
  async converge(maxRounds: number): Promise<number> {
    await this.step('faults stop: mirror reachable, branches restored, targets readable, all armed', async () => {
      this.driver.clearFaults();
      this.mirror.unreachable.clear();
      this.targets.unreadable = false;
      for (const b of this.mirror.branches) if (b.head === null) this.mirror.push(b);
      await this.changeArming({ kind: 'all' });
    });
    for (let round = 1; round <= maxRounds; round++) {
      await this.step(`converge round ${round}`, async () => {
        for (let i = 0; i < this.followers.length; i++) while (await this.finishFollowerRun(i, true));
        for (const f of this.followers) {
          const st = this.lastSeen.get(f.id)?.state;
          const b = this.mirror.branchOf(f.repo, f.branch);
          if (b && st?.phase === 'Blocked' && st.reason.includes('attempts exhausted') && st.observedSha === b.head) {
            this.mirror.push(b);
            this.figures.count('operatorPushes');
            this.trace.push(`  operator pushes a new commit on ${f.repo}@${f.branch} (${f.id} Blocked: attempts exhausted)`);
          }
        }
        await this.runTick('closer', {});
        await this.runTick('observer', {});
      });
      if (this.followers.every((f) => this.converged(f.id))) {
        await this.step('stable once converged', async () => {
          const c = await this.runTick('closer', {});
          const o = await this.runTick('observer', {});
          const writes = [...c.tick.writes, ...o.tick.writes];
          if (writes.length > 0) this.violation(`ticks after convergence still wrote: ${writes.join(', ')}`);
          for (const f of this.followers) if (!this.converged(f.id)) this.violation(`${f.id} left its converged state`);
          // Nothing lost once the outboxes are empty: every terminal transition has its event,
          // every Succeeded, Failed and Blocked its notification.
          for (const e of this.terminal.values()) this.violation(`${e.id}: transition to ${e.t.to} (${e.t.at}) never recorded as an event`);
          const sent = new Set(this.notes.sent.map((n) => n.idempotencyKey));
          for (const [k, o] of this.owedNotes) if (!sent.has(k) && (this.maxHistory.get(o.id) ?? 0) < 50) this.violation(`${o.id}: ${o.t.to} (${k}) never notified`);
        });
        this.figures.converged(round);
        return round;
      }
      this.clock.t += 30_000;
    }
    const dump = this.followers.map((f) => `${f.id}: ${JSON.stringify(this.lastSeen.get(f.id)?.state ?? null)} target=${this.targets.current.get(f.id) ?? null} head=${this.mirror.branchOf(f.repo, f.branch)?.head ?? null}`);
    this.violation(`not converged within ${maxRounds} rounds:\n${dump.join('\n')}`);
    this.throwIfViolated();
    return maxRounds;
  }
}
