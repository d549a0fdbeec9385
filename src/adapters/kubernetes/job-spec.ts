import type { V1EnvVar, V1Job, V1ResourceRequirements } from '@kubernetes/client-node';
import type { RunnerSpec } from '../../core/target-spec.ts';
import type { DispatchRequest } from '../ports.ts';
import { ANNOTATION_SHA, LABEL_ATTEMPT, LABEL_SHA, followerLabels, shaLabelValue } from './labels.ts';
import { containerSecurity, podSecurity } from './manifests.ts';

/**
 * The batch/v1 Job a dispatch runs as: the trigger argv as the container's command (no shell),
 * one try (backoffLimit 0: a deploy is never silently re-run; retries are the core's attempts),
 * bounded by the trigger budget, and fit for a namespace that enforces the `restricted` Pod
 * Security Standard.
 */

export type DispatchJobOptions = {
  namespace: string;
  image: string;
  serviceAccountName?: string;
  /** How long a finished Job stays readable; long, so the closer can still read its verdict. */
  ttlSecondsAfterFinished?: number;
  resources?: V1ResourceRequirements;
};

export const DEFAULT_TTL_SECONDS = 86_400;
export const TRIGGER_CONTAINER = 'trigger';
/** The only writable place in the pod (the root filesystem is read-only): also HOME and the working directory. */
export const SCRATCH_DIR = '/tmp';

export const DEFAULT_TRIGGER_RESOURCES: V1ResourceRequirements = Object.freeze({
  requests: { cpu: '100m', memory: '128Mi' },
  limits: { cpu: '1', memory: '512Mi' },
});

/** Labels of a dispatch Job and its pods: the follower's, plus which sha and attempt it deploys. */
export const dispatchLabels = (req: Pick<DispatchRequest, 'followerId' | 'sha' | 'attempt'>): Record<string, string> => ({
  ...followerLabels('dispatch', req.followerId),
  [LABEL_SHA]: shaLabelValue(req.sha),
  [LABEL_ATTEMPT]: String(req.attempt),
});

/** Annotations of a dispatch Job and its pods: the full sha, which a 63-character label cannot always hold. */
export const dispatchAnnotations = (req: Pick<DispatchRequest, 'sha'>): Record<string, string> => ({ [ANNOTATION_SHA]: req.sha });

/** The runner's environment: plain values as they are, Secret keys as references the kubelet resolves. */
export const runnerEnv = (runner: RunnerSpec | undefined): V1EnvVar[] =>
  Object.entries(runner?.env ?? {}).map(([name, v]) =>
    'value' in v ? { name, value: v.value } : { name, valueFrom: { secretKeyRef: { name: v.secretRef.name, key: v.secretRef.key } } },
  );

export const dispatchJob = (req: DispatchRequest, o: DispatchJobOptions): V1Job => {
  const labels = dispatchLabels(req);
  const annotations = dispatchAnnotations(req);
  const resources = o.resources ?? DEFAULT_TRIGGER_RESOURCES;
  // The owning config's runner wins; without one, the driver's defaults (the controller image, no token).
  const image = req.runner?.image ?? o.image;
  const serviceAccountName = req.runner?.serviceAccountName ?? o.serviceAccountName;
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: req.name, namespace: o.namespace, labels, annotations },
    spec: {
      backoffLimit: 0,
      activeDeadlineSeconds: req.budgets.triggerSeconds,
      ttlSecondsAfterFinished: o.ttlSecondsAfterFinished ?? DEFAULT_TTL_SECONDS,
      template: {
        metadata: { labels, annotations },
        spec: {
          restartPolicy: 'Never',
          enableServiceLinks: false,
          ...(serviceAccountName !== undefined
            ? { serviceAccountName, automountServiceAccountToken: true }
            : { automountServiceAccountToken: false }),
          securityContext: { ...podSecurity },
          containers: [
            {
              name: TRIGGER_CONTAINER,
              image,
              imagePullPolicy: 'IfNotPresent',
              command: [...req.argv],
              workingDir: SCRATCH_DIR,
              env: [
                ...runnerEnv(req.runner),
                { name: 'BRANCH_FOLLOWER_ID', value: req.followerId },
                { name: 'BRANCH_FOLLOWER_SHA', value: req.sha },
                { name: 'BRANCH_FOLLOWER_ATTEMPT', value: String(req.attempt) },
                { name: 'BRANCH_FOLLOWER_EPISODE', value: String(req.episode) },
                { name: 'BRANCH_FOLLOWER_REPO', value: req.repo },
                { name: 'BRANCH_FOLLOWER_BRANCH', value: req.branch },
                { name: 'HOME', value: SCRATCH_DIR },
              ],
              resources: { requests: { ...resources.requests }, limits: { ...resources.limits } },
              securityContext: { ...containerSecurity },
              volumeMounts: [{ name: 'tmp', mountPath: SCRATCH_DIR }],
            },
          ],
          volumes: [{ name: 'tmp', emptyDir: { sizeLimit: '256Mi' } }],
        },
      },
    },
  };
};
