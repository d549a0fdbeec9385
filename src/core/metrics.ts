import { PHASES } from './phases.ts';
import { fromIso } from './primitives.ts';
import { allowedAttempts, attemptsFor, type FollowerState } from './state.ts';
import { BLOCKED_KINDS, EMPTY_TALLY, LEAD_TIME_BUCKETS_SECONDS, RUN_RESULTS } from './tally.ts';

/**
 * The values `/metrics` exports, as plain data: what the state store holds, turned into
 * Prometheus series. Labels take values only from closed sets (follower ids from the registry,
 * phases, run results, Blocked kinds): never a sha, a branch name or a reason, so the number of
 * series is a fixed multiple of the number of followers.
 */

export type Labels = Readonly<Record<string, string>>;
export type Sample = { labels: Labels; value: number };
export type HistogramSeries = {
  labels: Labels;
  /** Cumulative counts, one per upper bound of `buckets` (the `+Inf` bucket is `count`). */
  cumulative: number[];
  sum: number;
  count: number;
};

export type MetricFamily =
  | { name: string; help: string; type: 'gauge' | 'counter'; labelNames: readonly string[]; samples: Sample[] }
  | { name: string; help: string; type: 'histogram'; labelNames: readonly string[]; buckets: readonly number[]; series: HistogramSeries[] };

export type FollowerInput = {
  id: string;
  /** The follower's stored state; null when none is stored yet or it is unreadable (`corrupt`). */
  state: FollowerState | null;
  corrupt: boolean;
  /** Both arming gates open: the kill switch off and the follower allowlisted. */
  armed: boolean;
  maxAttempts: number;
};

/** Every label value a family may carry, per label name (the follower label: the registry's ids). */
export const KNOWN_LABEL_VALUES: Readonly<Record<string, readonly string[]>> = {
  phase: PHASES,
  result: RUN_RESULTS,
  kind: BLOCKED_KINDS,
};

const ageSeconds = (iso: string | null, now: number): number | null => (iso === null ? null : Math.max(0, (now - fromIso(iso)) / 1000));

const gauge = (name: string, help: string, labelNames: readonly string[], samples: Sample[]): MetricFamily => ({ name, help, type: 'gauge', labelNames, samples });
const counter = (name: string, help: string, labelNames: readonly string[], samples: Sample[]): MetricFamily => ({ name, help, type: 'counter', labelNames, samples });

/** The follower families, from the registry's followers and their stored states at `now`. */
export const followerMetrics = (followers: readonly FollowerInput[], now: number): MetricFamily[] => {
  const each = <T>(f: (x: FollowerInput) => T[]): T[] => followers.flatMap(f);
  const one = (f: FollowerInput, value: number | null): Sample[] => (value === null ? [] : [{ labels: { follower: f.id }, value }]);
  const tally = (f: FollowerInput) => f.state?.tally ?? EMPTY_TALLY;
  const F = ['follower'];
  return [
    gauge(
      'branch_follower_phase',
      'The follower\'s phase: one series per phase, 1 for the current one (a follower with no readable state counts as Observed).',
      ['follower', 'phase'],
      each((f) => PHASES.map((p) => ({ labels: { follower: f.id, phase: p }, value: (f.state?.phase ?? 'Observed') === p ? 1 : 0 }))),
    ),
    gauge('branch_follower_state_corrupt', 'Whether the follower\'s stored state fails its schema and is left for a person (1) or not (0).', F, each((f) => one(f, f.corrupt ? 1 : 0))),
    gauge('branch_follower_armed', 'Whether both arming gates let this follower dispatch: kill switch off and allowlisted (1) or not (0).', F, each((f) => one(f, f.armed ? 1 : 0))),
    gauge(
      'branch_follower_observed_sha_age_seconds',
      'Seconds since the follower first observed the sha its branch points at now (this visit of the branch).',
      F,
      each((f) => one(f, f.state?.observedSha ? ageSeconds(tally(f).observedSince, now) : null)),
    ),
    gauge(
      'branch_follower_target_sha_age_seconds',
      'Seconds since the follower first saw its target report the sha it reports now.',
      F,
      each((f) => one(f, f.state?.targetSha ? ageSeconds(tally(f).targetSince, now) : null)),
    ),
    gauge(
      'branch_follower_succeeded_sha_age_seconds',
      'Seconds since the last sha of the follower succeeded.',
      F,
      each((f) => one(f, ageSeconds(tally(f).lastSucceededAt, now))),
    ),
    gauge(
      'branch_follower_last_success_timestamp_seconds',
      'When the follower\'s last run succeeded, in seconds since the Unix epoch.',
      F,
      each((f) => {
        const at = tally(f).lastSucceededAt;
        return one(f, at === null ? null : fromIso(at) / 1000);
      }),
    ),
    counter(
      'branch_follower_runs_total',
      'Runs (dispatches) that ended, by result; a run ending Blocked used the last of its attempts.',
      ['follower', 'result'],
      each((f) => RUN_RESULTS.map((r) => ({ labels: { follower: f.id, result: r }, value: tally(f).results[r] }))),
    ),
    counter('branch_follower_dispatches_total', 'Dispatches made (attempts started), retries and rollbacks included.', F, each((f) => one(f, tally(f).dispatches))),
    gauge(
      'branch_follower_attempts',
      'Attempts used for the observed sha in this visit of the branch.',
      F,
      each((f) => one(f, f.state?.observedSha ? attemptsFor(f.state, f.state.observedSha, f.state.episode) : 0)),
    ),
    gauge(
      'branch_follower_attempts_allowed',
      'Attempts the observed sha may use in this visit: budgets.maxAttempts plus those granted by `retry`.',
      F,
      each((f) => one(f, f.state?.observedSha ? allowedAttempts(f.state, f.state.observedSha, f.state.episode, f.maxAttempts) : f.maxAttempts)),
    ),
    counter(
      'branch_follower_blocked_total',
      'Times the follower became Blocked, by kind of reason.',
      ['follower', 'kind'],
      each((f) => BLOCKED_KINDS.map((k) => ({ labels: { follower: f.id, kind: k }, value: tally(f).blocked[k] }))),
    ),
    gauge(
      'branch_follower_blocked_reason',
      'The kind of reason of a follower that is Blocked now (1); no series for a follower that is not.',
      ['follower', 'kind'],
      each((f) => {
        const kind = tally(f).blockedKind;
        return f.state?.phase === 'Blocked' ? [{ labels: { follower: f.id, kind: kind ?? 'other' }, value: 1 }] : [];
      }),
    ),
    {
      name: 'branch_follower_lead_time_seconds',
      help: 'Seconds from the first observation of a sha (in its visit of the branch) to its Succeeded.',
      type: 'histogram',
      labelNames: F,
      buckets: LEAD_TIME_BUCKETS_SECONDS,
      series: followers.map((f) => {
        const lt = tally(f).leadTime;
        let running = 0;
        const cumulative = LEAD_TIME_BUCKETS_SECONDS.map((_b, i) => (running += lt.buckets[i] ?? 0));
        return { labels: { follower: f.id }, cumulative, sum: lt.sumSeconds, count: lt.count };
      }),
    },
  ];
};
