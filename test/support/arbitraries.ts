// fast-check arbitraries for the core's values: shas, ids, times, budgets, arming, observations
// and follower states in every phase. Shas come mostly from a small pool so observed, target,
// pending and in-flight shas collide often enough to reach the interesting branches.
import fc from 'fast-check';
import { gateFor, type AllowEntry, type Arming, type ArmingRead, type Gate } from '../../src/core/arming.ts';
import type { Budgets, BudgetOverrides } from '../../src/core/budgets.ts';
import { foldStages, type Fold, type StageReading } from '../../src/core/fold.ts';
import { checksToRead, rememberedReading } from '../../src/core/next-action.ts';
import type { Observation, SourceObservation, TargetObservation } from '../../src/core/observe.ts';
import { PHASES, TRANSITIONS, type Phase } from '../../src/core/phases.ts';
import type { Policy } from '../../src/core/policy.ts';
import { toIso } from '../../src/core/primitives.ts';
import { CHECKS, type CheckLabel } from '../../src/core/registry.ts';
import { runName } from '../../src/core/run-name.ts';
import { FollowerState, HISTORY_LIMIT, type CheckResult, type Run, type Transition, type Writer, type WriterLiveness } from '../../src/core/state.ts';

/** Property runs: at least `min` (1,000 by default); `FC_RUNS=<n>` raises every suite at once. */
export const runs = (min = 1000): number => {
  const env = Number(process.env.FC_RUNS ?? 0);
  return Math.max(min, Number.isFinite(env) ? env : 0);
};

/** `fc.assert` parameters with `runs()` cases. */
export const fcParams = (min = 1000): { numRuns: number } => ({ numRuns: runs(min) });

// ---------------------------------------------------------------------------------------------
// Primitives

/** A fixed instant the generated times are laid out around (ISO strings stay readable). */
export const T0 = Date.parse('2025-06-01T00:00:00.000Z');

/** Five distinct full shas; index order is commit order in the simulations (later = newer). */
export const SHA_POOL = [
  '1111111111111111111111111111111111111111',
  '2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a',
  '3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b',
  '4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c',
  '5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d',
] as const;

/**
 * Five commits of a SHA-256 repository (`git init --object-format=sha256`): 64 hex each. They
 * share no prefix with SHA_POOL: a mirror converted from SHA-1 has wholly new object names, and
 * dispatch names carry a 12-hex prefix, which two pools sharing prefixes would make collide.
 */
export const SHA256_POOL = [
  '6161616161616161616161616161616161616161616161616161616161616161',
  '7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a',
  '8b8b8b8b8b8b8b8b8b8b8b8b8b8b8b8b8b8b8b8b8b8b8b8b8b8b8b8b8b8b8b8b',
  '9c9c9c9c9c9c9c9c9c9c9c9c9c9c9c9c9c9c9c9c9c9c9c9c9c9c9c9c9c9c9c9c',
  'adadadadadadadadadadadadadadadadadadadadadadadadadadadadadadadad',
] as const;

/** The pool of a repository's object format. */
export const shaPool = (format: 'sha1' | 'sha256'): readonly string[] => (format === 'sha256' ? SHA256_POOL : SHA_POOL);
export const objectFormatArb: fc.Arbitrary<'sha1' | 'sha256'> = fc.constantFrom('sha1' as const, 'sha1' as const, 'sha256' as const);

const HEX = '0123456789abcdef'.split('');

/** Any full sha: 40 hex (SHA-1) or 64 hex (SHA-256). */
export const anyShaArb: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: fc.constantFrom(...HEX), minLength: 40, maxLength: 40 }),
  fc.string({ unit: fc.constantFrom(...HEX), minLength: 64, maxLength: 64 }),
);

/**
 * A sha, mostly from one pool so that shas meet; now and then from the other object format's
 * pool or any sha, so a generated state also meets a mirror whose format changed under it.
 */
export const shaArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...SHA_POOL) },
  { weight: 2, arbitrary: fc.constantFrom(...SHA256_POOL) },
  { weight: 1, arbitrary: anyShaArb },
);

/**
 * Branch-name candidates, valid and not, built from the pieces git's rules are about: separators,
 * dots, `.lock`, `@` and `{`, the forbidden ASCII, control characters, space, and unicode (letters,
 * a no-break space, a right-to-left override, an emoji). NUL is left out: no argv can carry it.
 */
const BRANCH_PIECES = [
  'a', 'Z', '0', 'release', 'v0.3', 'feat', 'x_y', '-', '_', '+', '#', '=', ',', '!', '%', '&', "'", '"', '<', '>', '|', '(', ')', '$', ';', '`',
  '/', '/', '.', '.', '..', '.lock', 'lock', '@', '@', '{', '}', '@{', 'HEAD', 'ü', 'ünï', '中文', 'ключ', '\u00a0', '\u202e', '😀', 'é',
  '~', '^', ':', '?', '*', '[', ']', '\\', ' ', '\t', '\n', '\u0001', '\u001f', '\u007f',
] as const;
export const branchCandidateArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 6, arbitrary: fc.array(fc.constantFrom(...BRANCH_PIECES), { minLength: 1, maxLength: 8 }).map((p) => p.join('')) },
  // Long names: git has no length limit of its own.
  { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 64, max: 200 }), fc.constantFrom('a', 'ü', 'x/')).map(([n, c]) => `r/${c.repeat(n)}z`) },
);

export const SEED_IDS = ['hwlab-jd01-v03', 'agentrun-jd01-v02', 'web-probe-sentinel-master'] as const;

/** A valid follower id: a DNS-1123 label of at most 40 characters. */
export const followerIdArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 1, arbitrary: fc.constantFrom(...SEED_IDS) },
  { weight: 3, arbitrary: fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$/) },
);

/** Any millisecond instant within a year of T0. */
export const timeArb: fc.Arbitrary<number> = fc.integer({ min: T0, max: T0 + 365 * 24 * 3600_000 });

/** ISO-8601 UTC timestamps as the state stores them. */
export const isoTimeArb: fc.Arbitrary<string> = timeArb.map(toIso);

/**
 * How far `now` lies after a state's own timestamps: biased to the edges that matter (the
 * pending lease of 300 s and budgets of up to a few hours), with a little clock skew backwards.
 */
export const elapsedMsArb: fc.Arbitrary<number> = fc.oneof(
  fc.integer({ min: -5_000, max: 10_000 }),
  fc.integer({ min: 290_000, max: 310_000 }),
  fc.integer({ min: 0, max: 3 * 3600_000 }),
  fc.integer({ min: 0, max: 3 * 24 * 3600_000 }),
);

// ---------------------------------------------------------------------------------------------
// Budgets and policy

/** Budgets small enough that generated elapsed times land on both sides of them. */
export const budgetsArb: fc.Arbitrary<Budgets> = fc.record({
  triggerSeconds: fc.oneof(fc.integer({ min: 1, max: 3600 }), fc.constantFrom(60, 300, 600)),
  closeoutSeconds: fc.oneof(fc.integer({ min: 1, max: 7200 }), fc.constantFrom(600, 1800, 2400)),
  maxAttempts: fc.integer({ min: 1, max: 4 }),
});

/** Budgets anywhere in the schema's range (for parsing and resolution). */
export const fullBudgetsArb: fc.Arbitrary<Budgets> = fc.record({
  triggerSeconds: fc.integer({ min: 1, max: 7 * 24 * 3600 }),
  closeoutSeconds: fc.integer({ min: 1, max: 7 * 24 * 3600 }),
  maxAttempts: fc.integer({ min: 1, max: 20 }),
});

/** A follower's partial override of the controller defaults. */
export const budgetOverridesArb: fc.Arbitrary<BudgetOverrides> = fc.record(
  {
    triggerSeconds: fc.integer({ min: 1, max: 7 * 24 * 3600 }),
    closeoutSeconds: fc.integer({ min: 1, max: 7 * 24 * 3600 }),
    maxAttempts: fc.integer({ min: 1, max: 20 }),
  },
  { requiredKeys: [] },
);

export const onSupersedeArb: fc.Arbitrary<Policy['onSupersede']> = fc.constantFrom('wait', 'cancel');

export const policyArb = (id: string, budgets: fc.Arbitrary<Budgets> = budgetsArb): fc.Arbitrary<Policy> =>
  fc.record({
    id: fc.constant(id),
    budgets,
    onSupersede: onSupersedeArb,
    runKind: fc.constantFrom('Job' as const, 'Process' as const),
  });

// ---------------------------------------------------------------------------------------------
// Arming

const changeArb = fc.record({
  by: fc.constantFrom('install', 'alice', 'bob@example.com', 'ci-bot'),
  at: fc.option(isoTimeArb, { nil: null }),
  reason: fc.constantFrom('', 'ships disabled', 'incident 42', 'release window'),
});

const allowEntryArb = (id: fc.Arbitrary<string>): fc.Arbitrary<AllowEntry> =>
  fc.record({ id, by: changeArb.map((c) => c.by), at: changeArb.map((c) => c.at), reason: changeArb.map((c) => c.reason) });

/** Allowlist entries for other followers (never `id`). */
const othersArb = (id: string): fc.Arbitrary<AllowEntry[]> =>
  fc.uniqueArray(allowEntryArb(followerIdArb.filter((o) => o !== id)), { selector: (e) => e.id, maxLength: 4 });

export type ArmingKind = 'armed' | 'kill-switch' | 'allowlist' | 'absent' | 'malformed';

/** Stored arming that arms `id`: kill switch off, `id` allowlisted. */
export const armedArmingArb = (id: string): fc.Arbitrary<Arming> =>
  fc.record({ ks: changeArb, me: allowEntryArb(fc.constant(id)), others: othersArb(id), at: fc.nat() }).map(({ ks, me, others, at }) => {
    const allowlist = [...others];
    allowlist.splice(at % (allowlist.length + 1), 0, me);
    return { killSwitch: { on: false, ...ks }, allowlist };
  });

/** Stored, valid arming that does not arm `id`, with the gate that stops it. */
export const disarmedArmingArb = (id: string): fc.Arbitrary<{ gate: 'kill-switch' | 'allowlist'; arming: Arming }> =>
  fc.oneof(
    // kill switch on, allowlisted or not
    fc.record({ ks: changeArb, armed: armedArmingArb(id), keep: fc.boolean() }).map(({ ks, armed, keep }) => ({
      gate: 'kill-switch' as const,
      arming: { killSwitch: { on: true, ...ks }, allowlist: keep ? armed.allowlist : armed.allowlist.filter((e) => e.id !== id) },
    })),
    // kill switch off, not allowlisted
    fc.record({ ks: changeArb, others: othersArb(id) }).map(({ ks, others }) => ({
      gate: 'allowlist' as const,
      arming: { killSwitch: { on: false, ...ks }, allowlist: others },
    })),
  );

/** What reading the arming store can answer for `id`, tagged with the gate expected to decide. */
export const armingReadArb = (id: string, want: 'armed' | 'disarmed' | 'any' = 'any'): fc.Arbitrary<{ kind: ArmingKind; read: ArmingRead }> => {
  const armed = armedArmingArb(id).map((arming) => ({ kind: 'armed' as ArmingKind, read: { kind: 'ok', arming } as ArmingRead }));
  const disarmed = fc.oneof(
    { weight: 4, arbitrary: disarmedArmingArb(id).map(({ gate, arming }) => ({ kind: gate as ArmingKind, read: { kind: 'ok', arming } as ArmingRead })) },
    { weight: 1, arbitrary: fc.constant({ kind: 'absent' as ArmingKind, read: { kind: 'absent' } as ArmingRead }) },
    {
      weight: 1,
      arbitrary: fc
        .record({ where: fc.constantFrom('configmap/branch-follower-arming: killSwitch', 'arming.json: allowlist'), message: fc.constantFrom('not JSON', 'missing key', 'Invalid input') })
        .map((m) => ({ kind: 'malformed' as ArmingKind, read: { kind: 'malformed', ...m } as ArmingRead })),
    },
  );
  if (want === 'armed') return armed;
  if (want === 'disarmed') return disarmed;
  return fc.oneof({ weight: 1, arbitrary: armed }, { weight: 1, arbitrary: disarmed });
};

/** The gate the observer is handed for `id`, derived from a generated arming read by the core's gateFor. */
export const gateArb = (id: string, want: 'armed' | 'disarmed' | 'any' = 'any'): fc.Arbitrary<Gate> =>
  armingReadArb(id, want).map(({ read }) => gateFor(read, id));

/** Raw ConfigMap/file data that is not valid arming: missing keys, broken JSON, schema violations. */
export const malformedArmingDataArb: fc.Arbitrary<Record<string, string>> = fc.oneof(
  fc.constant({ killSwitch: '{"on":false,"by":"a","at":null,"reason":""}' }),
  fc.constant({ allowlist: '[]' }),
  fc.constant({ killSwitch: '{"on":false', allowlist: '[]' }),
  fc.constant({ killSwitch: '{"on":"no","by":"a","at":null,"reason":""}', allowlist: '[]' }),
  fc.constant({ killSwitch: '{"on":false,"by":"a","at":null,"reason":""}', allowlist: '[{"id":"Not_A_Label","by":"a","at":null,"reason":""}]' }),
  fc.constant({ killSwitch: '{"on":false,"by":"a","at":null,"reason":""}', allowlist: '[{"id":"x","by":"a","at":null,"reason":""},{"id":"x","by":"b","at":null,"reason":""}]' }),
  fc.constant({ killSwitch: '{"on":false,"by":"a","at":null,"reason":"","extra":1}', allowlist: '[]' }),
  fc.string({ maxLength: 20 }).map((junk) => ({ killSwitch: junk, allowlist: junk })).filter((d) => {
    // "on"/"off" is the kill switch's valid plain (hand-edited) form.
    if (['on', 'off'].includes(d.killSwitch.trim())) return false;
    try {
      JSON.parse(d.killSwitch);
      return false;
    } catch {
      return true;
    }
  }),
);

// ---------------------------------------------------------------------------------------------
// Observations

export const sourceObsArb: fc.Arbitrary<SourceObservation> = fc.oneof(
  { weight: 8, arbitrary: shaArb.map((sha) => ({ kind: 'ok' as const, sha })) },
  { weight: 1, arbitrary: fc.constant({ kind: 'missing' as const, repo: 'pikasTech/HWLAB', branch: 'v0.3' }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'unreachable' as const, message: 'connect ECONNREFUSED 10.0.0.7:80' }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'invalid' as const, message: 'hwlab-node-lanes.yaml#lanes.v03.source: key not found' }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'untrusted' as const, message: 'malformed ref advertisement: the body is empty' }) },
  { weight: 1, arbitrary: isoTimeArb.map((until) => ({ kind: 'throttled' as const, until, message: 'mirror answered HTTP 429 with Retry-After' })) },
);

export const targetObsArb: fc.Arbitrary<TargetObservation> = fc.oneof(
  { weight: 6, arbitrary: shaArb.map((sha) => ({ kind: 'ok' as const, sha })) },
  // What targets really report: an abbreviation (an image tag) of a sha, as the readers normalise it.
  { weight: 2, arbitrary: fc.tuple(shaArb, fc.integer({ min: 7, max: 39 })).map(([sha, n]) => ({ kind: 'ok' as const, sha: sha.slice(0, n) })) },
  { weight: 2, arbitrary: fc.constant({ kind: 'ok' as const, sha: null }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'unreadable' as const, message: 'deployments.apps "hwlab" is forbidden' }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'invalid' as const, message: 'hwlab-node-lanes.yaml#nodes.JD01: key not found' }) },
);

export const checkResultArb: fc.Arbitrary<CheckResult> = fc.constantFrom('NONE', 'PENDING', 'SUCCESS', 'FAILURE');

/** The dispatch's trigger stage as the observer reads it; undefined when the state names none. */
export const dispatchStatusArb: fc.Arbitrary<CheckResult | undefined> = fc.option(checkResultArb, { nil: undefined });

export const observationArb: fc.Arbitrary<Observation> = fc.record({
  source: sourceObsArb,
  target: targetObsArb,
  dispatch: dispatchStatusArb,
});

// ---------------------------------------------------------------------------------------------
// Stages and folds

export const stageReadingArb: fc.Arbitrary<StageReading> = fc.record({
  result: checkResultArb,
  detail: fc.constantFrom('', 'Job bf-x complete', 'PipelineRun deploy-7 Failed', 'target at 1111111'),
});

/** A registry-valid check list: unique labels, `trigger` first. */
export const checkLabelsArb: fc.Arbitrary<CheckLabel[]> = fc
  .shuffledSubarray(CHECKS.filter((c) => c !== 'trigger'))
  .map((rest) => ['trigger' as CheckLabel, ...rest]);

/** Any ordered list of labels (the fold itself does not require `trigger` first). */
export const anyCheckLabelsArb: fc.Arbitrary<CheckLabel[]> = fc.shuffledSubarray([...CHECKS]);

// ---------------------------------------------------------------------------------------------
// Follower states

export const phaseArb: fc.Arbitrary<Phase> = fc.constantFrom(...PHASES);

/** Shortest allowed path from one phase to another (exclusive of `from`), through TRANSITIONS. */
export const phasePath = (from: Phase, to: Phase): Phase[] => {
  if (from === to) return [];
  const prev = new Map<Phase, Phase>();
  const queue: Phase[] = [from];
  while (queue.length > 0) {
    const p = queue.shift() as Phase;
    for (const q of TRANSITIONS[p]) {
      if (q === from || prev.has(q)) continue;
      prev.set(q, p);
      if (q === to) {
        const path: Phase[] = [to];
        for (let c = p; c !== from; c = prev.get(c) as Phase) path.unshift(c);
        return path;
      }
      queue.push(q);
    }
  }
  throw new Error(`no path from ${from} to ${to}`);
};

/** A bounded history of allowed transitions that ends in `phase`, all at or before `end`. */
const historyArb = (phase: Phase, end: number): fc.Arbitrary<Transition[]> =>
  fc
    .record({
      walk: fc.oneof({ weight: 5, arbitrary: fc.array(fc.nat(), { maxLength: 8 }) }, { weight: 1, arbitrary: fc.array(fc.nat(), { minLength: HISTORY_LIMIT, maxLength: HISTORY_LIMIT + 5 }) }),
      shas: fc.array(fc.option(shaArb, { nil: null }), { minLength: 1, maxLength: 4 }),
      reason: fc.constantFrom('observed', 'dispatching', 'check pipeline failed', 'kill switch on'),
    })
    .map(({ walk, shas, reason }) => {
      const phases: Phase[] = [];
      let at: Phase = 'Observed';
      for (const n of walk) {
        const options = TRANSITIONS[at];
        at = options[n % options.length] as Phase;
        phases.push(at);
      }
      phases.push(...phasePath(at, phase));
      const steps = phases.slice(-HISTORY_LIMIT);
      let from: Phase = phases.length > steps.length ? (phases[phases.length - steps.length - 1] as Phase) : 'Observed';
      return steps.map((to, i): Transition => {
        const t: Transition = {
          at: toIso(end - (steps.length - i) * 60_000),
          from,
          to,
          sha: shas[i % shas.length] ?? null,
          attempt: to === 'Triggering' || to === 'ClosingOut' ? 1 + (i % 3) : null,
          reason: `${reason} (${i})`,
        };
        from = to;
        return t;
      });
    });

export type StateOptions = {
  id?: string;
  /** Restrict the phase (any by default). */
  phases?: readonly Phase[];
  /** Attempts a pending or in-flight dispatch may use: keep it within the policy's maxAttempts. */
  maxAttempts?: number;
};

/** A valid FollowerState in `phases`, with its timestamps at or before `base` (ms). */
/** Who wrote a pending dispatch: a controller pod, or a process on some host (core/state.ts Writer). */
export const writerArb: fc.Arbitrary<Writer> = fc.oneof(
  fc.record({ kind: fc.constant('pod' as const), name: fc.constantFrom('branch-follower-observer-29123456-abcde', 'branch-follower-closer-29123457-x1y2z'), uid: fc.uuid() }),
  fc.record({ kind: fc.constant('process' as const), host: fc.constantFrom('build-01', 'laptop.local'), pid: fc.integer({ min: 1, max: 4_194_304 }), bootId: fc.uuid() }),
);

export const livenessArb: fc.Arbitrary<WriterLiveness> = fc.constantFrom('alive', 'gone', 'unknown');

export const followerStateArb = (base: number, opts: StateOptions = {}): fc.Arbitrary<FollowerState> => {
  const maxAttempts = opts.maxAttempts ?? 4;
  return fc
    .record({
      id: opts.id !== undefined ? fc.constant(opts.id) : followerIdArb,
      phase: opts.phases ? fc.constantFrom(...opts.phases) : phaseArb,
      reason: fc.constantFrom('not observed yet', 'target is at 1111111', 'disarmed: kill switch is on', 'waiting on check pipeline'),
      observedSha: fc.option(shaArb, { nil: null }),
      targetSha: fc.option(shaArb, { nil: null }),
      lastTriggeredSha: fc.option(shaArb, { nil: null }),
      lastSucceededSha: fc.option(shaArb, { nil: null }),
      // Episodes: the current one, and runs and attempt counts of earlier visits of the same sha
      // (the branch left and came back while they were pending or in flight).
      episode: fc.integer({ min: 1, max: 6 }),
      attempts: fc.uniqueArray(fc.record({ sha: shaArb, count: fc.integer({ min: 0, max: maxAttempts + 1 }) }), { selector: (a) => a.sha, maxLength: 6 }),
      runFromEarlierVisit: fc.constantFrom(false, false, false, true),
      /** A state written before episodes existed: no episode fields at all, read through the schema. */
      legacy: fc.constantFrom(false, false, false, false, false, true),
      targetUnreadableSince: fc.option(fc.integer({ min: 0, max: 4 * 3600_000 }).map((d) => toIso(base - d)), { nil: null }),
      checks: fc.array(fc.record({ check: fc.constantFrom(...CHECKS), result: checkResultArb, detail: fc.constantFrom('', 'ok', 'Failed') }), { maxLength: 3 }),
      runSha: shaArb,
      runAttempt: fc.integer({ min: 1, max: maxAttempts }),
      runAge: fc.oneof(fc.integer({ min: 0, max: 10_000 }), fc.integer({ min: 0, max: 4 * 3600_000 })),
      superseded: fc.boolean(),
      withRun: fc.boolean(),
      kind: fc.constantFrom('Job' as const, 'Process' as const),
      writer: fc.option(writerArb, { nil: undefined }),
    })
    .chain((r) => historyArb(r.phase, base).map((history) => ({ r, history })))
    .map(({ r, history }): FollowerState => {
      const episode = r.legacy ? 1 : r.observedSha === null ? r.episode - 1 : r.episode;
      const runEpisode = r.runFromEarlierVisit && !r.legacy ? Math.max(0, episode - 1) : episode;
      const name = r.legacy ? `bf-${r.id}-${r.runSha.slice(0, 12)}-a${r.runAttempt}`.slice(0, 63) : runName(r.id, r.runSha, runEpisode, r.runAttempt);
      const at = toIso(base - r.runAge);
      const counts = r.attempts.map((a) => ({ ...a, episode }));
      const others = counts.filter((a) => a.sha !== r.runSha);
      const run: Run = { sha: r.runSha, episode: runEpisode, attempt: r.runAttempt, name, kind: r.kind, startedAt: at, superseded: false };
      let pending: FollowerState['pending'] = null;
      let inFlight: FollowerState['inFlight'] = null;
      let attempts = counts;
      // Attempts stay coherent with the dispatch the state names, as the core keeps them (the
      // counts of an earlier visit are dropped when the next one starts).
      if (r.phase === 'PendingTrigger') {
        pending = { sha: r.runSha, episode: runEpisode, attempt: r.runAttempt, name, at, ...(r.writer && !r.legacy ? { writer: r.writer } : {}) };
        if (runEpisode === episode) attempts = [...others, { sha: r.runSha, episode, count: r.runAttempt - 1 }];
      } else if (r.phase === 'Triggering' || r.phase === 'ClosingOut' || (r.phase === 'Superseded' && r.withRun)) {
        inFlight = r.phase === 'Superseded' ? { ...run, superseded: true } : run;
        if (runEpisode === episode) attempts = [...others, { sha: r.runSha, episode, count: r.runAttempt }];
      }
      const state: FollowerState = {
        schemaVersion: 1,
        id: r.id,
        phase: r.phase,
        reason: r.reason,
        observedSha: r.observedSha,
        episode,
        targetSha: r.targetSha,
        lastTriggeredSha: inFlight ? inFlight.sha : r.lastTriggeredSha,
        lastSucceededSha: r.lastSucceededSha,
        pending,
        inFlight,
        attempts,
        targetUnreadableSince: r.targetUnreadableSince,
        checks: r.checks,
        updatedAt: toIso(base),
        history: history.map((t) => (r.legacy ? t : { ...t, episode })),
      };
      return r.legacy ? upgraded(state) : state;
    });
};

/** A state as the previous version stored it (no episode anywhere), read by today's schema. */
export const upgraded = (s: FollowerState): FollowerState => {
  const strip = <T extends object>(o: T): Omit<T, 'episode'> => {
    const { episode: _drop, ...rest } = o as T & { episode?: unknown };
    return rest;
  };
  return FollowerState.parse({
    ...strip(s),
    pending: s.pending && strip(s.pending),
    inFlight: s.inFlight && strip(s.inFlight),
    attempts: s.attempts.map(strip),
    history: s.history.map((t) => strip(t)),
  });
};

// ---------------------------------------------------------------------------------------------
// Whole inputs of the two pure decisions

export type ObserveInput = {
  prev: FollowerState | null;
  obs: Observation;
  arming: { kind: ArmingKind; read: ArmingRead };
  gate: Gate;
  policy: Policy;
  now: number;
};

/** Everything observe() takes, for one follower, with `now` shortly or long after the state. */
export const observeInputArb = (want: 'armed' | 'disarmed' | 'any' = 'any'): fc.Arbitrary<ObserveInput> =>
  fc
    .record({ id: followerIdArb, base: timeArb, elapsed: elapsedMsArb, budgets: budgetsArb })
    .chain(({ id, base, elapsed, budgets }) =>
      fc.record({
        prev: fc.option(followerStateArb(base, { id, maxAttempts: budgets.maxAttempts }), { nil: null, freq: 8 }),
        obs: observationArb,
        arming: armingReadArb(id, want),
        policy: policyArb(id, fc.constant(budgets)),
        now: fc.constant(base + elapsed),
      }),
    )
    .map((i) => ({ ...i, gate: gateFor(i.arming.read, i.policy.id) }));

export type CloseInput = {
  state: FollowerState & { inFlight: Run };
  checks: CheckLabel[];
  /** What each stage would read if asked. */
  stages: Record<CheckLabel, StageReading>;
  fold: Fold;
  policy: Policy;
  now: number;
};

/** A run in flight, the registry's checks, stage readings folded the way the closer folds them, and a time. */
export const closeInputArb: fc.Arbitrary<CloseInput> = fc
  .record({ id: followerIdArb, base: timeArb, elapsed: elapsedMsArb, budgets: budgetsArb })
  .chain(({ id, base, elapsed, budgets }) =>
    fc.record({
      state: followerStateArb(base, { id, maxAttempts: budgets.maxAttempts, phases: ['Triggering', 'ClosingOut', 'Superseded'] }).filter(
        (s): s is FollowerState & { inFlight: Run } => s.inFlight !== null,
      ),
      checks: checkLabelsArb,
      stages: fc.record({ trigger: stageReadingArb, pipeline: stageReadingArb, target: stageReadingArb }),
      policy: policyArb(id, fc.constant(budgets)),
      now: fc.constant(base + elapsed),
    }),
  )
  .map((i) => ({
    ...i,
    fold: foldStages(checksToRead(i.state.inFlight, i.checks), (c) => rememberedReading(i.state, c) ?? i.stages[c]),
  }));
