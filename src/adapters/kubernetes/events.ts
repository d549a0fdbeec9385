import { createHash } from 'node:crypto';
import type { CoreV1Event } from '@kubernetes/client-node';
import { eventKey } from '../../core/outbox.ts';
import { FollowerId } from '../../core/primitives.ts';
import { Transition } from '../../core/state.ts';
import type { EventSink, FollowerEvent } from '../ports.ts';
import { LIST_PAGE, isoTime, listAll, makeClients, type KubeAccess } from './client.ts';
import { isAlreadyExists } from './errors.ts';
import { APP, BASE_LABELS, LABEL_FOLLOWER, LABEL_MANAGED_BY } from './labels.ts';
import { stateConfigMapName } from './state-store.ts';

/**
 * Every transition as a core/v1 Event on the follower's state ConfigMap, so `kubectl describe
 * configmap branch-follower-state-<id>` and `kubectl get events` show a follower's story. What
 * an Event has no field for (the phase it left, the sha, the attempt, the exact time) rides in
 * annotations so `events` can map it back. Clusters keep Events for about an hour by default;
 * the state's bounded history is the durable record.
 */

export type KubernetesEventSinkOptions = KubeAccess & { namespace: string };

export const EVENT_COMPONENT = 'branch-follower';
export const ANNOTATION_FROM = 'branch-follower.dev/from';
export const ANNOTATION_TO = 'branch-follower.dev/to';
export const ANNOTATION_SHA = 'branch-follower.dev/sha';
export const ANNOTATION_ATTEMPT = 'branch-follower.dev/attempt';
export const ANNOTATION_AT = 'branch-follower.dev/at';
/** The run and episode the transition is about: with them an Event maps back to its idempotency key (core/outbox.ts). */
export const ANNOTATION_RUN = 'branch-follower.dev/run';
export const ANNOTATION_EPISODE = 'branch-follower.dev/episode';
/** The whole reason, only when the Event's message had to be cut. */
export const ANNOTATION_REASON = 'branch-follower.dev/reason';
export const MESSAGE_MAX = 1024;

const WARNING_PHASES = new Set(['Failed', 'Blocked']);

const checkId = (id: string): string => {
  const r = FollowerId.safeParse(id);
  if (!r.success) throw new Error(`invalid follower id ${JSON.stringify(id)}: ${r.error.issues[0]?.message ?? 'invalid'}`);
  return id;
};

export const eventSelector = (id: string): string => `${LABEL_MANAGED_BY}=${APP},${LABEL_FOLLOWER}=${id}`;

/**
 * kubectl's naming, the object's name, a dot and hex: the transition's time in milliseconds and
 * its place among the transitions of that instant (one write appends several, delivered
 * together, in order), so names sort as the transitions happened; then a digest of its
 * idempotency key (core/outbox.ts). An Event delivered again from the outbox gets the same
 * name, and AlreadyExists means it was delivered already.
 */
export const eventName = (cm: string, id: string, t: Transition, ordinal = 0): string => {
  const ms = Math.max(0, Date.parse(t.at) || 0);
  const digest = createHash('sha256').update(eventKey(id, t)).digest('hex').slice(0, 10);
  return `${cm}.${ms.toString(16).padStart(12, '0')}${Math.min(ordinal, 255).toString(16).padStart(2, '0')}${digest}`;
};

export const transitionEvent = (namespace: string, id: string, t: Transition, ordinal = 0): CoreV1Event => {
  const cm = stateConfigMapName(id);
  const clipped = t.reason.length > MESSAGE_MAX;
  const at = new Date(t.at);
  return {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: {
      name: eventName(cm, id, t, ordinal),
      namespace,
      labels: { ...BASE_LABELS, [LABEL_FOLLOWER]: id },
      annotations: {
        [ANNOTATION_FROM]: t.from,
        [ANNOTATION_TO]: t.to,
        [ANNOTATION_AT]: t.at,
        ...(t.sha !== null ? { [ANNOTATION_SHA]: t.sha } : {}),
        ...(t.attempt !== null ? { [ANNOTATION_ATTEMPT]: String(t.attempt) } : {}),
        ...(t.run ? { [ANNOTATION_RUN]: t.run } : {}),
        ...(t.episode !== undefined ? { [ANNOTATION_EPISODE]: String(t.episode) } : {}),
        ...(clipped ? { [ANNOTATION_REASON]: t.reason } : {}),
      },
    },
    involvedObject: { apiVersion: 'v1', kind: 'ConfigMap', name: cm, namespace },
    reason: t.to,
    message: clipped ? `${t.reason.slice(0, MESSAGE_MAX - 1)}…` : t.reason,
    type: WARNING_PHASES.has(t.to) ? 'Warning' : 'Normal',
    source: { component: EVENT_COMPONENT },
    reportingComponent: EVENT_COMPONENT,
    firstTimestamp: at,
    lastTimestamp: at,
    count: 1,
  };
};

/** An Event back to the transition it records; null for one this controller did not write. */
export const eventTransition = (e: CoreV1Event): Transition | null => {
  const a = e.metadata?.annotations ?? {};
  const attempt = a[ANNOTATION_ATTEMPT];
  const episode = a[ANNOTATION_EPISODE];
  const r = Transition.safeParse({
    at: a[ANNOTATION_AT] ?? isoTime(e.firstTimestamp) ?? isoTime(e.metadata?.creationTimestamp),
    from: a[ANNOTATION_FROM],
    to: a[ANNOTATION_TO] ?? e.reason,
    sha: a[ANNOTATION_SHA] ?? null,
    attempt: attempt !== undefined && /^\d+$/.test(attempt) ? Number(attempt) : null,
    reason: a[ANNOTATION_REASON] ?? e.message ?? '',
    ...(episode !== undefined && /^\d+$/.test(episode) ? { episode: Number(episode) } : {}),
    ...(a[ANNOTATION_RUN] ? { run: a[ANNOTATION_RUN] } : {}),
  });
  return r.success ? r.data : null;
};

export const createKubernetesEventSink = (o: KubernetesEventSinkOptions): EventSink => {
  const c = makeClients(o);
  const { namespace } = o;
  return {
    async emit(id, transitions) {
      checkId(id);
      // One at a time, in order. The ordinal counts earlier transitions of the same instant in
      // this call: a write's transitions are always delivered together, so it is stable.
      const seen = new Map<string, number>();
      for (const t of transitions) {
        const ordinal = seen.get(t.at) ?? 0;
        seen.set(t.at, ordinal + 1);
        const body = transitionEvent(namespace, id, Transition.parse(t), ordinal);
        try {
          await c.call(() => c.core.createNamespacedEvent({ namespace, body }));
        } catch (e) {
          // The same name again is this very Event, written by a try whose answer was lost.
          if (!isAlreadyExists(e)) throw e;
        }
      }
    },

    async list(id) {
      const events = await listAll(c, (cont) =>
        c.core.listNamespacedEvent({ namespace, labelSelector: eventSelector(checkId(id)), limit: LIST_PAGE, ...(cont ? { _continue: cont } : {}) }),
      );
      const out: (FollowerEvent & { name: string })[] = [];
      for (const e of events) {
        const t = eventTransition(e);
        if (t) out.push({ ...t, id, source: 'event', name: e.metadata?.name ?? '' });
      }
      out.sort((a, b) => Date.parse(a.at) - Date.parse(b.at) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      return out.map(({ name: _name, ...rest }) => rest);
    },
  };
};
