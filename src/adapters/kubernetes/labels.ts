/**
 * The labels every object of the controller carries, shared by the manifests and the driver so
 * a selector written in one place matches what the other place created.
 */

export const LABEL_NAME = 'app.kubernetes.io/name';
export const LABEL_PART_OF = 'app.kubernetes.io/part-of';
export const LABEL_MANAGED_BY = 'app.kubernetes.io/managed-by';
export const LABEL_COMPONENT = 'app.kubernetes.io/component';

export const APP = 'branch-follower';

/** Per-follower objects (state ConfigMaps, dispatch Jobs, their pods and events) carry the follower id. */
export const LABEL_FOLLOWER = 'branch-follower.dev/follower';
/**
 * Dispatch Jobs carry the sha they deploy under this key twice: as a label that selects (the sha
 * cut to the 63 characters a label value holds: a SHA-1 id whole, a SHA-256 id less its last
 * digit) and as an annotation with the full id, which a reader checks after selecting.
 */
export const LABEL_SHA = 'branch-follower.dev/sha';
export const ANNOTATION_SHA = LABEL_SHA;
export const LABEL_VALUE_MAX = 63;

/** The label value that selects objects of `sha`. */
export const shaLabelValue = (sha: string): string => sha.slice(0, LABEL_VALUE_MAX);

/**
 * Whether an object's labels and annotations name exactly `sha` under `key`: the label selects,
 * the annotation decides. An object without the annotation counts only when its label can hold
 * the whole sha (objects labelled before SHA-256 support, or by tools that label SHA-1 ids).
 */
export const carriesSha = (
  meta: { labels?: Readonly<Record<string, string>> | undefined; annotations?: Readonly<Record<string, string>> | undefined },
  key: string,
  sha: string,
): boolean => {
  if (meta.labels?.[key] !== shaLabelValue(sha)) return false;
  const full = meta.annotations?.[key];
  return full === undefined ? sha.length <= LABEL_VALUE_MAX : full === sha;
};
/** Dispatch Jobs carry their attempt number, as a decimal string. */
export const LABEL_ATTEMPT = 'branch-follower.dev/attempt';

export const COMPONENTS = ['state', 'arming', 'dispatch', 'observer', 'closer', 'registry', 'serve'] as const;
export type Component = (typeof COMPONENTS)[number];

/** The labels shared by everything the controller installs or creates. */
export const BASE_LABELS: Readonly<Record<string, string>> = Object.freeze({
  [LABEL_NAME]: APP,
  [LABEL_PART_OF]: APP,
  [LABEL_MANAGED_BY]: APP,
});

export const componentLabels = (component: Component): Record<string, string> => ({
  ...BASE_LABELS,
  [LABEL_COMPONENT]: component,
});

/** Labels of an object that belongs to one follower (its state ConfigMap, its dispatches). */
export const followerLabels = (component: Component, followerId: string): Record<string, string> => ({
  ...componentLabels(component),
  [LABEL_FOLLOWER]: followerId,
});

/** Lists every follower state ConfigMap in one call. */
export const STATE_SELECTOR = `${LABEL_MANAGED_BY}=${APP},${LABEL_COMPONENT}=state`;

/** Lists every dispatch Job (or its pods) of the controller. */
export const DISPATCH_SELECTOR = `${LABEL_MANAGED_BY}=${APP},${LABEL_COMPONENT}=dispatch`;
