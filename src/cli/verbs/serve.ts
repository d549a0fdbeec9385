import type { Waker } from '../../serve/wake-local.ts';
import { UsageError } from '../errors.ts';
import type { Session } from '../session.ts';
import { defineVerb } from '../verb.ts';

/** `HOST:PORT`, `:PORT` or `PORT`; IPv6 hosts in brackets (`[::1]:8080`), as URLs write them. */
export const parseListen = (v: string): { host: string | undefined; port: number } => {
  const m = /^(?:(\[[0-9a-fA-F:.]+\]|[^:[\]]*):)?(\d{1,5})$/.exec(v);
  const port = Number(m?.[2]);
  if (!m || !Number.isInteger(port) || port > 65535) throw new UsageError(`--listen must be HOST:PORT, :PORT or PORT, not ${JSON.stringify(v)}`);
  const host = m[1]?.replace(/^\[(.*)\]$/, '$1');
  return { host: host || undefined, port };
};

export const serve = defineVerb({
  name: 'serve',
  summary: 'run the HTTP server: status page, /metrics, /healthz; push hooks that wake the observer sooner',
  usage: 'serve [--listen HOST:PORT]',
  description:
    "Runs until Ctrl-C or SIGTERM. It never dispatches by itself: what it serves reads the state store, and a push only makes the next observer tick come sooner (the schedule stays the floor). GET / is a read-only status page (GET /followers/<id> one follower with its transitions), GET /metrics Prometheus metrics, GET /healthz liveness; one read of the state store serves them all for a second. With controller.serve.push in the registry it answers POST /hooks/push: GitHub, Gitea/Forgejo and GitLab push hooks and the generic {repo, ref, after} form, authenticated with the secret in the environment variable controller.serve.push.secretEnv names (401 otherwise). A push to a followed branch wakes the observer for that repository (locally: a tick in this process; on Kubernetes: a Job from the observer CronJob, named from the repository and sha); a dispatched run's end wakes the closer the same way. On Kubernetes it runs as the branch-follower-serve Deployment when the registry sets controller.serve.enabled. Listens on 127.0.0.1 with the local driver and on every address with the kubernetes driver (inside its pod), at controller.serve.port (default 8080).",
  flags: [{ name: 'listen', value: 'HOST:PORT', help: 'where to listen (default 127.0.0.1:<controller.serve.port> locally, 0.0.0.0:<port> on kubernetes)' }],
  examples: [
    { command: 'branch-follower serve --driver local', what: 'serve the local state directory on 127.0.0.1:8080' },
    { command: 'branch-follower serve --listen :9090', what: 'on another port' },
    { command: 'curl -s localhost:8080/metrics | promtool check metrics', what: 'scrape the metrics and lint them' },
    { command: 'BRANCH_FOLLOWER_PUSH_SECRET=... branch-follower serve', what: 'with controller.serve.push: { secretEnv: BRANCH_FOLLOWER_PUSH_SECRET } in the registry' },
  ],
  async run(s, a) {
    // Loaded with the verb that needs it, not by every verb's start-up (docs/performance.md, change 14).
    const [{ serveRoutes }, { startServer }] = await Promise.all([import('../../serve/routes.ts'), import('../../serve/server.ts')]);
    const loaded = await s.registry();
    const driver = await s.driver();
    const listen = a.str('listen');
    const parsed = listen === undefined ? { host: undefined, port: loaded.registry.controller.serve.port } : parseListen(listen);
    const host = parsed.host ?? (driver === 'kubernetes' ? '0.0.0.0' : '127.0.0.1');
    const stop = new AbortController();
    const loop = await s.context({ dryRun: true });
    // The one write of the read-only routes: the tick totals serve folds and keeps (on Kubernetes,
    // one ConfigMap its Role may update), through a context of its own.
    const ticks = (await s.context({ dryRun: false })).ports.ticks;
    const push = await pushReceiver(s, loaded.registry.controller.serve.push, driver, stop.signal);
    const routes = serveRoutes({ loop, driver, env: s.io.env, log: s.err, signal: stop.signal, ...(ticks ? { ticks } : {}), ...(push ? { push } : {}) });
    const server = await startServer({ routes, host, port: parsed.port, log: s.err });
    s.err(`serving on http://${host.includes(':') ? `[${host}]` : host}:${server.port} (${driver} driver); Ctrl-C stops`);
    await new Promise<void>((resolve) => {
      if (s.io.signal?.aborted) return resolve();
      s.io.signal?.addEventListener('abort', () => resolve(), { once: true });
    });
    stop.abort();
    await server.close();
    // A woken tick in flight finishes its writes (bounded by its deadline) before the process ends.
    await push?.waker.idle();
    return 'ok';
  },
});

/** The push receiver's secret (read once, from the variable the registry names) and the driver's waker. */
const pushReceiver = async (
  s: Session,
  push: { secretEnv: string } | undefined,
  driver: 'local' | 'kubernetes',
  signal: AbortSignal,
): Promise<{ secret: string; waker: Waker } | null> => {
  if (!push) return null;
  const secret = s.io.env[push.secretEnv];
  if (!secret) throw new UsageError(`controller.serve.push.secretEnv names ${push.secretEnv}, which is unset or empty in the environment of serve: without it no push can be authenticated`);
  if (driver === 'kubernetes') {
    const { createKubernetesWaker } = await import('../../serve/wake-kubernetes.ts');
    const { kubernetesDriver } = await import('../../loops/compose.ts');
    const { kc } = await kubernetesDriver({ loaded: await s.registry(), ...s.cluster }, s.io.env, null);
    return { secret, waker: createKubernetesWaker({ kc, namespace: await s.namespace(), log: s.err, signal }) };
  }
  const { createLocalWaker } = await import('../../serve/wake-local.ts');
  return { secret, waker: createLocalWaker({ context: () => s.context({ dryRun: false, deadlineSeconds: 200 }), log: s.err, signal }) };
};
