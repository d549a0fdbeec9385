import { decideHook, noDeliveries, readHookHeaders, type FollowedSource } from '../core/push.ts';
import { resolveRegistry } from '../loops/prepare.ts';
import type { LoadedRegistry } from '../adapters/config/registry-file.ts';
import { verifyCredential } from './push-auth.ts';
import { text, type Route } from './route.ts';

/** What an accepted push asks of the driver: wake the observer for these followers of one repository. */
export type PushWake = { key: string; sha: string; followers: readonly string[] };

export type PushRouteOptions = {
  /** The shared secret (read from the environment variable the registry names). */
  secret: string;
  /** The followed (repository, branch) pairs, resolved from the registry when a push arrives. */
  sources: () => Promise<FollowedSource[]>;
  /** Hands an accepted push to the driver's waker; returns at once (the forge is not kept waiting). */
  wake: (w: PushWake) => void;
  log: (line: string) => void;
};

/** Every follower whose source resolves, as (id, repository, branch). */
export const followedSources = async (loaded: LoadedRegistry): Promise<FollowedSource[]> =>
  (await resolveRegistry(loaded)).flatMap((r) => {
    const src = r.resolution.ok ? r.resolution.spec.source : r.resolution.source;
    return src ? [{ id: r.follower.id, repo: src.repo, branch: src.branch }] : [];
  });

/**
 * `POST /hooks/push`: authenticates a forge's push hook over the raw body, then either ignores it
 * (with the status core/push.ts decides) or wakes the observer through `wake`. It never
 * dispatches, and logs of a push only its repository, ref and short sha.
 */
export const pushRoutes = (o: PushRouteOptions): Route[] => {
  let deliveries = noDeliveries();
  return [
    {
      method: 'POST',
      path: '/hooks/push',
      async handle(req) {
        const body = await req.body();
        const request = readHookHeaders(req.headers);
        const authenticated = verifyCredential(request.credential, body, o.secret);
        const sources = authenticated ? await o.sources() : [];
        // Decided and remembered with no await in between, so two copies of one delivery racing
        // each other cannot both pass the replay check.
        const r = decideHook({ request, authenticated, body: body.toString('utf8'), sources, deliveries });
        deliveries = r.deliveries;
        const d = r.decision;
        if ('poke' in d) {
          o.log(`serve: push ${d.log} (${request.forge}): waking the observer for ${d.poke.followers.join(', ')}`);
          o.wake(d.poke);
        } else if (d.status === 401) o.log(`serve: POST /hooks/push -> 401 (${request.forge}: ${request.credential === null ? 'no signature' : 'signature does not match'})`);
        else if (d.status === 400) o.log(`serve: POST /hooks/push -> 400 (${request.forge}: ${d.text})`);
        return text(d.status, d.text);
      },
    },
  ];
};
