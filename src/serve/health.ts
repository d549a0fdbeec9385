import { text, type Route } from './route.ts';

/**
 * `GET /healthz`: the process answers. It reads nothing else on purpose: a liveness probe that
 * failed when the API server or the mirror did would restart a healthy pod for someone else's fault.
 */
export const healthRoutes = (): Route[] => [{ method: 'GET', path: '/healthz', handle: async () => text(200, 'ok') }];
