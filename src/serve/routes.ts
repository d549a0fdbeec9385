import type { LoopContext } from '../loops/context.ts';
import { healthRoutes } from './health.ts';
import { followedSources, pushRoutes } from './push-route.ts';
import type { Route } from './route.ts';
import type { Waker } from './wake-local.ts';

/** What every route module of `serve` may use: one loop context (read-only), built once. */
export type ServeDeps = {
  /** A dry-run context: its ports' write methods throw, so a route cannot write by mistake. */
  loop: LoopContext;
  driver: 'local' | 'kubernetes';
  env: NodeJS.ProcessEnv;
  log: (line: string) => void;
  signal: AbortSignal;
  /** The push receiver, when the registry sets controller.serve.push: its secret and the driver's waker. */
  push?: { secret: string; waker: Waker };
};

/** Every route `serve` answers; each concern adds its module's routes here. */
export const serveRoutes = (deps: ServeDeps): Route[] => [
  ...healthRoutes(),
  ...(deps.push ? pushRoutes({ secret: deps.push.secret, sources: () => followedSources(deps.loop.loaded), wake: (w) => deps.push?.waker.wake(w), log: deps.log }) : []),
];
