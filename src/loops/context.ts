import type { LoadedRegistry } from '../adapters/config/registry-file.ts';
import type {
  ArmingStore,
  Dispatcher,
  EventSink,
  Housekeeper,
  TickLog,
  WriterProbe,
  LogReader,
  MirrorHoldStore,
  Notifier,
  PipelineReader,
  RefReader,
  StateStore,
  TargetReader,
} from '../adapters/ports.ts';

export type Ports = {
  store: StateStore;
  arming: ArmingStore;
  /** Mirror back-pressure holds: repositories no tick reads before a time. */
  holds: MirrorHoldStore;
  dispatcher: Dispatcher;
  targets: TargetReader;
  pipelines: PipelineReader;
  refs: RefReader;
  events: EventSink;
  notifier: Notifier;
  logs: LogReader;
  /** The driver's own clean-up (the local driver's old runs and temp files); none on Kubernetes. */
  housekeeper?: Housekeeper;
  /** Where ticks leave their summaries and serve reads the totals (tick metrics); without it, ticks are not counted. */
  ticks?: TickLog;
  /** Who this tick is, and whether a pending dispatch's writer is alive; without it, the lease alone decides. */
  writers?: WriterProbe;
};

/** Everything a loop needs, built once by the composition root (compose.ts). */
export type LoopContext = {
  loaded: LoadedRegistry;
  ports: Ports;
  now: () => number;
  /** Progress and diagnostics, one line each; the CLI decides where they go. */
  log: (line: string) => void;
  /** Dry-run: the ports' write methods throw, and the loops only report what they would do. */
  dryRun: boolean;
  /** Epoch ms after which a tick starts no more followers, so it exits before its deadline. */
  deadline: number | null;
};
