import type { Gate } from './arming.ts';
import { PENDING_LEASE_SECONDS, type Policy } from './policy.ts';
import { OBJECT_FORMAT_NAME, fromIso, objectFormatOf, shortSha, toIso } from './primitives.ts';
import { expandRevision } from './revision.ts';
import { runName } from './run-name.ts';
import {
  attemptsExhausted,
  allowedAttempts,
  attemptsFor,
  initialState,
  observeSha,
  stamp,
  transition,
  withAttempts,
  type CheckResult,
  type FollowerState,
  type Run,
  type Writer,
  type WriterLiveness,
} from './state.ts';

export type SourceObservation =
  | { kind: 'ok'; sha: string }
  | { kind: 'missing'; repo: string; branch: string }
  | { kind: 'unreachable'; message: string }
  /** The mirror asked (HTTP 429/503 with Retry-After) not to be read before `until`; it is not, by any tick. */
  | { kind: 'throttled'; until: string; message: string }
  /** The mirror answered, but not something to decide on (a malformed answer, not a bare repository). */
  | { kind: 'untrusted'; message: string; unblock?: string }
  /** The follower's source configRef does not resolve to a repository and branch. */
  | { kind: 'invalid'; message: string };

export type TargetObservation =
  /** `absent` says in words why nothing is deployed (a file target whose file does not exist). */
  | { kind: 'ok'; sha: string | null; absent?: string }
  | { kind: 'unreadable'; message: string }
  | { kind: 'invalid'; message: string };

export type Observation = {
  source: SourceObservation;
  target: TargetObservation;
  /** The trigger stage of the state's pending or in-flight dispatch, when it has one. */
  dispatch?: CheckResult;
  /** Who this tick is: recorded on a pending dispatch it writes, or takes over from a writer that is gone. */
  self?: Writer;
  /** Whether the writer of the state's pending dispatch is alive, as far as this tick can tell (absent: unknown). */
  pendingWriter?: WriterLiveness;
};

export type Effect =
  | { kind: 'dispatch'; sha: string; episode: number; attempt: number; name: string }
  | { kind: 'cancel'; sha: string; episode: number; attempt: number; name: string };

export type Decision =
  | { kind: 'none'; reason: string }
  | { kind: 'dispatch'; sha: string; episode: number; attempt: number; name: string }
  | { kind: 'supersede'; reason: string }
  | { kind: 'block'; reason: string }
  | { kind: 'skip'; reason: string };

export type ObserveResult = { state: FollowerState; decision: Decision; effects: Effect[] };

const concluded = (r: CheckResult | undefined): boolean => r === 'SUCCESS' || r === 'FAILURE';

/**
 * The observer's pure decision for one follower: from the stored state, what the git mirror
 * and the target say, the arming gate, the budgets and the time, to the next state and what to
 * do. A dispatch is always written ahead as PendingTrigger (the loop writes the state, then
 * dispatches, then records the run with `dispatched`).
 */
export const observe = (
  prev: FollowerState | null,
  observation: Observation,
  gate: Gate,
  policy: Policy,
  now: number,
): ObserveResult => {
  const before = prev ?? initialState(policy.id, now);
  let s: FollowerState = before;
  const effects: Effect[] = [];
  const done = (state: FollowerState, decision?: Decision): ObserveResult => {
    const next = stamp(prev, state, now);
    return { state: next, decision: decision ?? decide(next, effects), effects };
  };

  const obs: Observation = { ...observation, source: sameObjectFormat(before, observation.source) };
  if (obs.source.kind === 'ok') s = observeSha(s, obs.source.sha);
  // An abbreviated report is stored as the full sha it stands for, when the follower knows one:
  // every comparison below is then plain equality, and status shows the whole id.
  if (obs.target.kind === 'ok') {
    const targetSha = expandRevision(obs.target.sha, [s.observedSha, s.inFlight?.sha, s.pending?.sha, s.lastSucceededSha, s.lastTriggeredSha]);
    s = { ...s, targetSha, targetUnreadableSince: null };
  }

  // A pending dispatch: adopt it when it exists, repeat it (same name) while its lease runs and
  // it is still wanted, and otherwise leave it to its writer until the lease runs out, or until
  // its writer is known to be gone (a dead writer will never make it). Past that its attempt
  // counts as used: a dispatch that ran and was removed (a Job's TTL) looks like one that never
  // ran, and must not run again under the same name.
  let adopted = false;
  if (s.pending) {
    const p = s.pending;
    const leaseEnds = fromIso(p.at) + PENDING_LEASE_SECONDS * 1000;
    const writerGone = obs.pendingWriter === 'gone';
    if (obs.dispatch !== undefined && obs.dispatch !== 'NONE') {
      s = dispatched(s, { name: p.name, kind: policy.runKind, startedAt: p.at }, now);
      adopted = true;
    } else if (now < leaseEnds && obs.source.kind === 'ok' && obs.source.sha === p.sha && p.episode === s.episode && gate.armed && p.attempt <= allowedAttempts(s, p.sha, p.episode, policy.budgets.maxAttempts)) {
      // Taken over from a writer that is gone: this tick becomes the writer a later tick asks
      // about. A live writer may still create it after this tick, so it stays the writer.
      if (writerGone && obs.self) s = { ...s, pending: { ...p, writer: obs.self } };
      effects.push({ kind: 'dispatch', sha: p.sha, episode: p.episode, attempt: p.attempt, name: p.name });
      return done(s);
    } else if (now < leaseEnds && !writerGone) {
      return done(s, { kind: 'none', reason: `pending dispatch ${p.name} is left to the tick that wrote it until ${toIso(leaseEnds)}` });
    } else if (now < leaseEnds && unread(obs.source)) {
      // A mirror that cannot be read decides nothing here either: whether the dispatch is still
      // wanted is for the next answered read. Given up now, its attempt would count as used for a
      // dispatch nobody made (with one attempt left, the follower would be Blocked for it).
      return done(s, { kind: 'none', reason: `pending dispatch ${p.name} is kept until the git mirror answers (its writer is gone; lease until ${toIso(leaseEnds)})` });
    } else {
      s = { ...s, pending: null, attempts: withAttempts(s, p.sha, p.episode, Math.max(attemptsFor(s, p.sha, p.episode), p.attempt)) };
    }
  }

  if (s.inFlight) {
    const run = s.inFlight;
    if (obs.source.kind !== 'ok' || (obs.source.sha === run.sha && run.episode === s.episode)) {
      return done(s, { kind: 'none', reason: `${run.name} is in flight; the closer owns it` });
    }
    const moved =
      obs.source.sha === run.sha
        ? `source left ${shortSha(run.sha)} and came back while ${run.name} was in flight: a new visit is a new run`
        : `source moved to ${shortSha(obs.source.sha)} while ${shortSha(run.sha)} (attempt ${run.attempt}) was in flight`;
    s = transition({ ...s, inFlight: { ...run, superseded: true } }, 'Superseded', moved, now, run);
    if (concluded(obs.dispatch)) {
      s = { ...s, inFlight: null };
    } else if (policy.onSupersede === 'cancel' && gate.armed && !adopted) {
      // A run adopted by this very tick is cancelled by the next one: its record must be written
      // before the cancel, or a crash in between would re-create its name from the pending.
      effects.push({ kind: 'cancel', sha: run.sha, episode: run.episode, attempt: run.attempt, name: run.name });
      s = { ...s, inFlight: null };
    } else {
      // The dispatch is never killed mid-deploy by default: wait for it to finish, then go.
      return done({ ...s, reason: `${moved}; waiting for ${run.name} to finish before dispatching the newest sha` });
    }
  }

  return done(settle(s, obs, gate, policy, now, effects));
};

/** The mirror was not read, or did not answer: nothing about the branch is known this tick. */
const unread = (src: SourceObservation): boolean => src.kind === 'unreachable' || src.kind === 'throttled';

/**
 * A follower never mixes object formats: once it has followed SHA-1 ids, a SHA-256 id from the
 * mirror (or the other way round) means the repository was converted or replaced under it, and
 * its attempts, runs and succeeded sha no longer name the same commits. That needs a person.
 */
const sameObjectFormat = (s: FollowerState, src: SourceObservation): SourceObservation => {
  const known = s.observedSha ?? s.lastTriggeredSha ?? s.lastSucceededSha;
  if (src.kind !== 'ok' || known === null || objectFormatOf(known) === objectFormatOf(src.sha)) return src;
  const was = OBJECT_FORMAT_NAME[objectFormatOf(known)];
  const now = OBJECT_FORMAT_NAME[objectFormatOf(src.sha)];
  return {
    kind: 'untrusted',
    message:
      `the mirror's object format changed under this follower: it followed ${was} ids (last ${shortSha(known)}), the mirror now answers ${now} (${shortSha(src.sha)}); ` +
      'a follower never mixes formats',
    unblock: `restore the ${was} repository on the mirror, or remove ${s.id}'s stored state to follow the ${now} repository from scratch`,
  };
};

/** Nothing pending or in flight: decide for the newest sha. */
const settle = (s: FollowerState, obs: Observation, gate: Gate, policy: Policy, now: number, effects: Effect[]): FollowerState => {
  const src = obs.source;
  const unblockConfig = `fix it, then check with: branch-follower plan`;
  switch (src.kind) {
    case 'untrusted':
      return transition(s, 'Blocked', `git mirror answer not used: ${src.message}; unblock: ${src.unblock ?? 'fix the repository on the git mirror, then check with: branch-follower status --live'}`, now, undefined, 'mirror-untrusted');
    case 'invalid':
      return transition(s, 'Blocked', `source configRef unresolvable: ${src.message}; unblock: ${unblockConfig}`, now, undefined, 'source-config');
    case 'missing':
      return transition(
        s,
        'Blocked',
        `source branch ${src.repo}@${src.branch} is missing on the git mirror; unblock: restore the branch on the mirror (a new commit clears this), or point the source configRef at an existing branch`,
        now,
        undefined,
        'source-missing',
      );
    // A mirror that cannot be read now decides nothing: the phase stays (a Succeeded follower
    // moved to Observed would no longer be guarded against redeploying its succeeded sha), and
    // only the reason says why. The next answered read decides afresh.
    case 'unreachable':
      return transition(s, s.phase === 'PendingTrigger' ? 'Observed' : s.phase, `git mirror unreachable: ${src.message}; state left as it was`, now);
    case 'throttled':
      return transition(s, s.phase === 'PendingTrigger' ? 'Observed' : s.phase, `git mirror back-pressure: not read again before ${src.until} (${src.message}); nothing decided until then`, now);
    case 'ok':
      break;
  }
  const sha = src.sha;
  const tgt = obs.target;
  if (tgt.kind === 'invalid') {
    return transition(s, 'Blocked', `target configRef unresolvable: ${tgt.message}; unblock: ${unblockConfig}`, now, undefined, 'target-config');
  }
  if (tgt.kind === 'unreadable') {
    const since = s.targetUnreadableSince ?? toIso(now);
    const limit = policy.budgets.triggerSeconds;
    const t = { ...s, targetUnreadableSince: since };
    if (now - fromIso(since) > limit * 1000) {
      return transition(t, 'Blocked', `target unreadable since ${since} (over the ${limit}s budget): ${tgt.message}; unblock: fix the target reader, then check with: branch-follower status --live`, now, undefined, 'target-unreadable');
    }
    return transition(t, 'Observed', `target unreadable since ${since}: ${tgt.message}; Blocked after ${limit}s`, now);
  }
  const target = s.targetSha;
  if (s.phase === 'Succeeded' && s.lastSucceededSha === sha) {
    // A succeeded sha is never redeployed on its own: drift is reported, not chased.
    if (target !== sha) {
      return transition(s, 'Succeeded', `target reports ${shortSha(target)}, not the succeeded ${shortSha(sha)}; a succeeded sha is not redeployed automatically`, now);
    }
    // Back at the succeeded sha: a passing reason (the mirror unreadable, the drift) gives way to
    // the one the follower succeeded with, kept by the history entry into Succeeded.
    const into = s.history.at(-1);
    return into?.to === 'Succeeded' && into.reason !== s.reason ? { ...s, reason: into.reason } : s;
  }
  if (target === sha) return transition(s, 'Noop', `target is at ${shortSha(sha)}`, now);

  const episode = s.episode;
  const used = attemptsFor(s, sha, episode);
  const max = allowedAttempts(s, sha, episode, policy.budgets.maxAttempts);
  if (used >= max) {
    return transition(
      s,
      'Blocked',
      attemptsExhausted(s.id, shortSha(sha), used, max),
      now,
      { sha, attempt: used, episode },
      'attempts-exhausted',
    );
  }
  if (!gate.armed) return transition(s, 'Skipped', `${gate.reason}; ${shortSha(sha)} not dispatched`, now, { sha, attempt: null, episode });
  const attempt = used + 1;
  const name = runName(s.id, sha, episode, attempt);
  effects.push({ kind: 'dispatch', sha, episode, attempt, name });
  const pending = { sha, episode, attempt, name, at: toIso(now), ...(obs.self ? { writer: obs.self } : {}) };
  return transition({ ...s, pending }, 'PendingTrigger', `dispatching ${shortSha(sha)} attempt ${attempt}/${max} as ${name}`, now, pending);
};

const decide = (s: FollowerState, effects: Effect[]): Decision => {
  const d = effects.find((e) => e.kind === 'dispatch');
  if (d) return { kind: 'dispatch', sha: d.sha, episode: d.episode, attempt: d.attempt, name: d.name };
  switch (s.phase) {
    case 'Blocked':
      return { kind: 'block', reason: s.reason };
    case 'Skipped':
      return { kind: 'skip', reason: s.reason };
    case 'Superseded':
      return { kind: 'supersede', reason: s.reason };
    default:
      return { kind: 'none', reason: s.reason };
  }
};

/**
 * Records a dispatch that exists (created or adopted). Idempotent, and it only ever completes
 * the pending dispatch it names: a state that moved on meanwhile is left alone.
 */
export const dispatched = (
  s: FollowerState,
  run: { name: string; kind: Run['kind']; startedAt: string },
  now: number,
): FollowerState => {
  if (s.inFlight?.name === run.name) return s;
  const p = s.pending;
  if (s.phase !== 'PendingTrigger' || !p || p.name !== run.name) return s;
  const next: FollowerState = {
    ...s,
    pending: null,
    inFlight: { sha: p.sha, episode: p.episode, attempt: p.attempt, name: p.name, kind: run.kind, startedAt: run.startedAt, superseded: false },
    lastTriggeredSha: p.sha,
    attempts: withAttempts(s, p.sha, p.episode, Math.max(attemptsFor(s, p.sha, p.episode), p.attempt)),
    checks: [],
  };
  return transition(next, 'Triggering', `dispatched ${p.name} (${shortSha(p.sha)} attempt ${p.attempt})`, now, p);
};

/** A dispatch that could not be created: the intent stays written and the same name is retried. */
export const dispatchFailed = (s: FollowerState, name: string, message: string, now: number): FollowerState =>
  s.pending?.name === name ? stamp(s, { ...s, reason: `dispatch of ${name} failed: ${message}; retried next tick with the same name` }, now) : s;
