import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { DEFAULT_REGISTRY, loadRegistry, type LoadedRegistry } from '../adapters/config/registry-file.ts';
import { parsedYamlCacheFromEnv } from '../adapters/config/parsed-yaml.ts';
import type { Redactor } from '../adapters/redaction.ts';
import { compose, namespaceOf } from '../loops/compose.ts';
import type { LoopContext } from '../loops/context.ts';
import { unknownFollowers } from '../loops/prepare.ts';
import { UsageError } from './errors.ts';
import { makePaint, type Paint } from './format.ts';
import type { Args } from './verb.ts';

export type Io = {
  stdout: { write(s: string): unknown; isTTY?: boolean };
  stderr: { write(s: string): unknown; isTTY?: boolean };
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Aborted on Ctrl-C: a watching verb stops and exits 0. */
  signal?: AbortSignal;
};

export type Driver = 'local' | 'kubernetes';

/** The flags that choose an installation, which every `next:` hint must repeat. */
const INSTALLATION_FLAGS = ['registry', 'driver', 'state-dir', 'kubeconfig', 'context', 'namespace'] as const;
const PATH_FLAGS = new Set(['registry', 'state-dir', 'kubeconfig']);

/** What a verb's run works with: the io, the installation flags, and the registry once loaded. */
export type Session = {
  io: Io;
  out(s: string): void;
  err(s: string): void;
  paint: Paint;
  /** The registry named by --registry (loaded once). */
  registry(): Promise<LoadedRegistry>;
  /** --driver, else the registry's. */
  driver(): Promise<Driver>;
  namespace(): Promise<string>;
  cluster: { kubeconfig?: string; context?: string; namespace?: string };
  stateDir?: string;
  context(o: { dryRun: boolean; deadlineSeconds?: number }): Promise<LoopContext>;
  /** The ids given, checked against the registry: unknown ones are a usage error. */
  followers(ids: readonly string[]): Promise<Set<string> | undefined>;
  /** A copy-paste command acting on this same installation: `branch-follower <rest> <flags>`. */
  hint(rest: string): string;
  sleep(ms: number): Promise<boolean>;
};

export const createSession = (io: Io, a: Args, redactor?: Redactor): Session => {
  const out = (s: string) => void io.stdout.write(s.endsWith('\n') ? s : `${s}\n`);
  const err = (s: string) => void io.stderr.write(s.endsWith('\n') ? s : `${s}\n`);
  const d = a.str('driver');
  if (d !== undefined && d !== 'local' && d !== 'kubernetes') throw new UsageError(`--driver must be local or kubernetes, not ${JSON.stringify(d)}`);
  const stateDir = a.str('state-dir');
  // A mistyped --state-dir would otherwise read as a page of followers with no state at all.
  if (stateDir !== undefined) {
    const dir = resolve(io.cwd, stateDir);
    if (!statSync(dir, { throwIfNoEntry: false })?.isDirectory()) {
      throw new UsageError(`--state-dir ${dir} does not exist or is not a directory (create it with mkdir -p, or leave --state-dir out to use the registry's controller.local.stateDir)`);
    }
  }
  const cluster = { kubeconfig: a.str('kubeconfig'), context: a.str('context'), namespace: a.str('namespace') };
  let loaded: Promise<LoadedRegistry> | null = null;
  const registry = (): Promise<LoadedRegistry> => (loaded ??= loadRegistry(a.str('registry') ?? DEFAULT_REGISTRY, io.cwd, parsedYamlCacheFromEnv(io.env)));
  const hintFlags = INSTALLATION_FLAGS.flatMap((f) => {
    const v = a.str(f);
    if (v === undefined) return [];
    return [`--${f}`, PATH_FLAGS.has(f) ? resolve(io.cwd, v) : v];
  })
    .map(quote)
    .join(' ');
  return {
    io,
    out,
    err,
    paint: makePaint(io.stdout, io.env),
    registry,
    async driver() {
      return (d as Driver | undefined) ?? (await registry()).registry.controller.driver;
    },
    async namespace() {
      return namespaceOf({ loaded: await registry(), namespace: cluster.namespace });
    },
    cluster,
    stateDir: a.str('state-dir'),
    async context({ dryRun, deadlineSeconds }) {
      return compose({ loaded: await registry(), driver: d as Driver | undefined, dryRun, stateDir: a.str('state-dir'), log: err, env: io.env, deadlineSeconds, ...cluster, ...(redactor ? { redactor } : {}) });
    },
    async followers(ids) {
      if (ids.length === 0) return undefined;
      const l = await registry();
      const unknown = unknownFollowers(l.registry, ids);
      if (unknown.length) {
        throw new UsageError(`unknown follower(s) ${unknown.join(', ')} in ${l.display}; its followers: ${l.registry.followers.map((f) => f.id).join(', ') || '(none)'}`);
      }
      return new Set(ids);
    },
    hint: (rest) => `branch-follower ${rest}${hintFlags ? ` ${hintFlags}` : ''}`,
    sleep: (ms) =>
      new Promise<boolean>((done) => {
        if (io.signal?.aborted) return done(false);
        const t = setTimeout(() => {
          io.signal?.removeEventListener('abort', stop);
          done(true);
        }, ms);
        const stop = () => {
          clearTimeout(t);
          done(false);
        };
        io.signal?.addEventListener('abort', stop, { once: true });
      }),
  };
};

/** Shell-quotes a word only when it needs it, so hints stay copy-paste commands. */
export const quote = (w: string): string => (/^[-\w./:=@,+]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`);
