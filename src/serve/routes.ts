import type { TickLog } from '../adapters/ports.ts';
import type { LoopContext } from '../loops/context.ts';
import { healthRoutes } from './health.ts';
import { metricsRoutes } from './metrics.ts';
import { pageRoutes } from './page.ts';
import { followedSources, pushRoutes } from './push-route.ts';
import type { Route } from './route.ts';
import { cachedSnapshots } from './snapshot.ts';
import type { Waker } from './wake-local.ts';

/** What every route module of `serve` may use: one loop context (read-only), built once. */
export type ServeDeps = {
  /** A dry-run context: its ports' write methods throw, so a route cannot write by mistake. */
  loop: LoopContext;
  driver: 'local' | 'kubernetes';
  env: NodeJS.ProcessEnv;
  log: (line: string) => void;
  signal: AbortSignal;
  /**
   * Where serve keeps the tick totals it folds (a write, so not the dry-run context's): on
   * Kubernetes, the tick pods' summaries into a ConfigMap. Absent: the totals are read only.
   */
  ticks?: TickLog;
  /** The push receiver, when the registry sets controller.serve.push: its secret and the driver's waker. */
  push?: { secret: string; waker: Waker };
};

/**
 * How long one read of the state store serves every read-only route: at 100 requests a second
 * and 1,000 followers, still one LIST a second, and a page or a scrape is never older than that.
 */
export const SNAPSHOT_TTL_MS = 1000;

/** Every route `serve` answers; each concern adds its module's routes here. */
export const serveRoutes = (deps: ServeDeps): Route[] => {
  const snapshots = cachedSnapshots(deps.loop, SNAPSHOT_TTL_MS, deps.log, deps.ticks);
  return [
    ...healthRoutes(),
    ...metricsRoutes(snapshots),
    ...pageRoutes(snapshots),
    ...(deps.push ? pushRoutes({ secret: deps.push.secret, sources: () => followedSources(deps.loop.loaded), wake: (w) => deps.push?.waker.wake(w), log: deps.log }) : []),
  ];
};
