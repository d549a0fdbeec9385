import type { LoopContext } from '../loops/context.ts';
import { healthRoutes } from './health.ts';
import type { Route } from './route.ts';

/** What every route module of `serve` may use: one loop context (read-only), built once. */
export type ServeDeps = {
  /** A dry-run context: its ports' write methods throw, so a route cannot write by mistake. */
  loop: LoopContext;
  driver: 'local' | 'kubernetes';
  env: NodeJS.ProcessEnv;
  log: (line: string) => void;
  signal: AbortSignal;
};

/** Every route `serve` answers; each concern adds its module's routes here. */
export const serveRoutes = (_deps: ServeDeps): Route[] => [...healthRoutes()];
