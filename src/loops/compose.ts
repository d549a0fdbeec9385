import { resolve } from 'node:path';
import { createGitRefReader } from '../adapters/git/ref-reader.ts';
import { createLocalArmingStore } from '../adapters/local/arming-store.ts';
import { createLocalDispatcher } from '../adapters/local/dispatcher.ts';
import { createLocalEventSink } from '../adapters/local/events.ts';
import { createLocalLogReader } from '../adapters/local/logs.ts';
import { createLocalStateStore } from '../adapters/local/state-store.ts';
import { createWebhookNotifier } from '../adapters/notify/webhook.ts';
import type { PipelineReader } from '../adapters/ports.ts';
import { createTargetReader } from '../adapters/targets/target-reader.ts';
import type { LoadedRegistry } from '../adapters/config/registry-file.ts';
import type { LoopContext, Ports } from './context.ts';
import { guardWrites } from './dry-run.ts';

export type ComposeOptions = {
  loaded: LoadedRegistry;
  driver?: 'local' | 'kubernetes';
  dryRun: boolean;
  /** Overrides the registry's local.stateDir (relative to the registry). */
  stateDir?: string;
  log: (line: string) => void;
  deadlineSeconds?: number;
  env?: NodeJS.ProcessEnv;
  now?: () => number;
};

export const localStateDir = (loaded: LoadedRegistry, override?: string): string =>
  resolve(loaded.dir, override ?? loaded.registry.controller.local.stateDir);

/** Tekton PipelineRuns live in a cluster; without one the pipeline check cannot pass. */
const noCluster: PipelineReader = {
  async readMany(requests) {
    return new Map(requests.map((r) => [r.key, { result: 'FAILURE' as const, detail: 'the pipeline check needs the kubernetes driver (no Tekton on the local driver)' }]));
  },
};

/** The composition root: the only place adapters are chosen and wired. */
export const compose = (o: ComposeOptions): LoopContext => {
  const env = o.env ?? process.env;
  const driver = o.driver ?? o.loaded.registry.controller.driver;
  if (driver !== 'local') throw new Error(`the ${driver} driver is not wired in this build`);
  const stateDir = localStateDir(o.loaded, o.stateDir);
  const webhookEnv = o.loaded.registry.controller.notify?.webhookUrlEnv;
  const ports: Ports = {
    store: createLocalStateStore(stateDir),
    arming: createLocalArmingStore(stateDir),
    // The webhook URL is a secret of the controller's, not the deploy command's.
    dispatcher: createLocalDispatcher({ stateDir, cwd: o.loaded.dir, env: webhookEnv ? { ...env, [webhookEnv]: undefined } : env }),
    targets: createTargetReader({ cwd: o.loaded.dir }),
    pipelines: noCluster,
    refs: createGitRefReader({ readUrl: o.loaded.registry.controller.gitMirror.readUrl }),
    events: createLocalEventSink(stateDir),
    notifier: createWebhookNotifier({ url: webhookEnv ? env[webhookEnv] : undefined, log: o.log }),
    logs: createLocalLogReader(stateDir),
  };
  const now = o.now ?? (() => Date.now());
  return {
    loaded: o.loaded,
    ports: o.dryRun ? guardWrites(ports) : ports,
    now,
    log: o.log,
    dryRun: o.dryRun,
    deadline: o.deadlineSeconds ? now() + o.deadlineSeconds * 1000 : null,
  };
};
