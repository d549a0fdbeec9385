import type { ArmingRead, Arming } from '../core/arming.ts';
import type { Budgets } from '../core/budgets.ts';
import type { StageReading } from '../core/fold.ts';
import type { TickSummary, TickTotals } from '../core/tick-metrics.ts';
import type { MirrorHolds } from '../core/mirror-holds.ts';
import type { Notification } from '../core/notifications.ts';
import type { SourceObservation, TargetObservation } from '../core/observe.ts';
import type { CheckLabel } from '../core/registry.ts';
import type { FollowerState, Run, Transition, Writer, WriterLiveness } from '../core/state.ts';
import type { PipelineSpec, RunnerSpec, TargetSpec } from '../core/target-spec.ts';

/**
 * The small interfaces the loops are written against. Each driver (local, kubernetes)
 * implements them; tests and dry-run substitute or guard them.
 */

/** A write lost a compare-and-swap race, or a create found the object already there. */
export class ConflictError extends Error {
  override name = 'ConflictError';
}

/** Stored input that does not pass its schema: reported and left for a person, never overwritten. */
export class CorruptStateError extends Error {
  override name = 'CorruptStateError';
  readonly where: string;
  constructor(where: string, message: string) {
    super(`${where}: ${message}`);
    this.where = where;
  }
}

export type Stored =
  | { id: string; version: string; state: FollowerState }
  | { id: string; version: string; corrupt: { where: string; message: string } };

export interface StateStore {
  /** Every follower's state in one read (one labelled LIST on Kubernetes). */
  list(): Promise<Stored[]>;
  get(id: string): Promise<Stored | null>;
  /** Creates the first state of a follower; ConflictError when it already exists. */
  create(state: FollowerState): Promise<string>;
  /** Compare-and-swap on the version read; ConflictError when someone else wrote in between. */
  update(state: FollowerState, version: string): Promise<string>;
}

export interface ArmingStore {
  read(): Promise<{ read: ArmingRead; version: string | null }>;
  /** Compare-and-swap; `version: null` creates it and fails with ConflictError if it exists. */
  write(arming: Arming, version: string | null): Promise<void>;
}

/** Mirror back-pressure holds (core/mirror-holds.ts), one document per installation. */
export type HoldsRead = { holds: MirrorHolds; version: string | null } | { corrupt: { where: string; message: string }; version: string | null };

export interface MirrorHoldStore {
  read(): Promise<HoldsRead>;
  /** Compare-and-swap; `version: null` creates it and fails with ConflictError if it exists. */
  write(holds: MirrorHolds, version: string | null): Promise<void>;
}

export type DispatchRequest = {
  followerId: string;
  sha: string;
  /** The visit of the branch to this sha the dispatch belongs to (see FollowerState.episode). */
  episode: number;
  attempt: number;
  name: string;
  argv: readonly string[];
  repo: string;
  branch: string;
  budgets: Budgets;
  /** Where the argv runs, from the owning config (kubernetes driver); absent: the driver's default. */
  runner?: RunnerSpec;
};

export type DispatchResult = { name: string; kind: Run['kind']; startedAt: string; adopted: boolean };

export interface Dispatcher {
  readonly kind: Run['kind'];
  /** Creates the named dispatch, or adopts it when it already exists (never a second run). */
  dispatch(req: DispatchRequest): Promise<DispatchResult>;
  /** Stops and removes a dispatch; a missing one is fine. */
  cancel(name: string): Promise<void>;
  /** The `trigger` stage of many dispatches in one read; a name not found reads NONE. */
  statuses(names: readonly string[]): Promise<Map<string, StageReading>>;
}

export type TargetRequest = { key: string; spec: TargetSpec };

export interface TargetReader {
  /** Reads many targets at once (grouped into one LIST per kind and namespace on Kubernetes). */
  readMany(requests: readonly TargetRequest[]): Promise<Map<string, TargetObservation>>;
}

export type PipelineRequest = { key: string; spec: PipelineSpec; sha: string };

export interface PipelineReader {
  readMany(requests: readonly PipelineRequest[]): Promise<Map<string, StageReading>>;
}

export type RepoRequest = { repo: string; branches: readonly string[] };

export interface RefReader {
  /** One read per distinct repository, whatever the number of followers sharing it. */
  readMany(requests: readonly RepoRequest[]): Promise<Map<string, Map<string, SourceObservation>>>;
  /**
   * Seconds each repository's read took in the last `readMany` (a repository not read there has
   * none): for the per-repository metrics. A reader that does not time its reads leaves it out.
   */
  lastReadSeconds?(): ReadonlyMap<string, number>;
}

export type FollowerEvent = Transition & { id: string; source: 'event' | 'history' };

export interface EventSink {
  emit(id: string, transitions: readonly Transition[]): Promise<void>;
  list(id: string): Promise<FollowerEvent[]>;
}

export interface LogReader {
  /** The given run's log; without one, the newest run's, or with `attempt`, the newest run of that attempt number. */
  logs(id: string, run: Run | null, pick?: { attempt: number }): Promise<string>;
}

export interface Notifier {
  notify(n: Notification): Promise<void>;
}

export type StageReaders = {
  /** Reads one non-trigger check for a run (`pipeline` or `target`). */
  read(check: Exclude<CheckLabel, 'trigger'>, ctx: { id: string; run: Run }): Promise<StageReading>;
};

export type SweepReport = { pruned: string[]; tempsRemoved: number };

/**
 * Who this tick is, and whether the writer of a pending dispatch is still alive. A tick records
 * itself on the dispatches it writes ahead; a later tick that finds one never made asks here,
 * and takes it over at once when its writer is gone. `unknown` leaves it to the 300 s lease.
 */
export interface WriterProbe {
  readonly self: Writer | null;
  liveness(writer: Writer): Promise<WriterLiveness>;
}

/** Keeps a driver's own records bounded over time (the local driver's run directories and temp files). */
export interface Housekeeper {
  sweep(now: number): Promise<SweepReport>;
}

/**
 * Where ticks leave their summaries and where `serve` reads the totals (core/tick-metrics.ts).
 * A tick records itself once, at its end; a failure to record is the tick's to log, never its
 * error. The totals only ever grow (Prometheus counters), whatever restarts in between.
 */
export interface TickLog {
  record(summary: TickSummary): Promise<void>;
  /** The totals so far, read only (on Kubernetes, the tick pods' summaries not kept yet are folded in, in memory). */
  totals(): Promise<TickTotals>;
  /** As `totals`, and keeps what it folded in where it outlives the reader (Kubernetes: a ConfigMap): a write. */
  collect(): Promise<TickTotals>;
}
