import { z } from 'zod';
import { Budgets, BudgetOverrides } from './budgets.ts';
import { ConfigRef } from './configref.ts';
import { BranchName, FollowerId, RepoName, WHOLE_FILE } from './primitives.ts';

export const ADAPTERS = ['generic', 'hwlab-node-runtime', 'agentrun-yaml-lane', 'web-probe-sentinel-cicd'] as const;
export const AdapterKind = z.enum(ADAPTERS);
export type AdapterKind = z.infer<typeof AdapterKind>;

export const CHECKS = ['trigger', 'pipeline', 'target'] as const;
export const CheckLabel = z.enum(CHECKS);
export type CheckLabel = z.infer<typeof CheckLabel>;

/** Where each seed adapter's runtime, GitOps and Secret details live instead of the registry. */
export const OWNING_CONFIG: Record<AdapterKind, string> = {
  generic: 'the owning config named by the follower\'s configRefs',
  'hwlab-node-runtime': 'config/hwlab-node-lanes.yaml',
  'agentrun-yaml-lane': 'config/agentrun.yaml',
  'web-probe-sentinel-cicd': 'config/hwlab-web-probe-sentinel/*.yaml',
};

const CronSchedule = z
  .string()
  .regex(/^(\S+\s+){4}\S+$/, 'must be a five-field cron schedule');

// An argv element is passed to execve as is; NUL cannot be represented there.
const ArgvElement = z.string().min(1, 'argv elements must not be empty').max(4096).refine((s) => !s.includes('\0'), 'must not contain NUL');

export const Follower = z
  .object({
    id: FollowerId,
    adapter: AdapterKind,
    source: ConfigRef,
    target: ConfigRef,
    command: z.array(ArgvElement).min(1, 'the trigger argv must not be empty').max(64),
    checks: z
      .array(CheckLabel)
      .min(1)
      .refine((c) => new Set(c).size === c.length, 'check labels must be unique')
      .refine((c) => c[0] === 'trigger', 'the first check must be "trigger": a run is not closed out while its dispatch runs'),
    budgets: BudgetOverrides.optional(),
    onSupersede: z.enum(['wait', 'cancel']).default('wait'),
  })
  .strict();
export type Follower = z.infer<typeof Follower>;

export const Controller = z
  .object({
    // Cluster-only settings have defaults (namespace, schedules) or are required only by the
    // kubernetes driver (source), so a local registry names none of them.
    namespace: z.string().max(63).regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a DNS-1123 label').default('branch-follower'),
    driver: z.enum(['kubernetes', 'local']),
    gitMirror: z.object({ readUrl: z.string().regex(/^(https?|git|file):\/\/\S+$/, 'must be an http(s)://, git:// or file:// URL') }).strict(),
    /** What controller pods clone to run the CLI: the kubernetes driver needs it. */
    source: z.object({ repo: RepoName, ref: BranchName }).strict().optional(),
    schedules: z.object({ observer: CronSchedule, closer: CronSchedule }).strict().default({ observer: '* * * * *', closer: '* * * * *' }),
    defaults: z.object({ budgets: Budgets }).strict().default({ budgets: { triggerSeconds: 600, closeoutSeconds: 1800, maxAttempts: 2 } }),
    local: z
      .object({
        stateDir: z.string().min(1),
        /** Finished local runs older than this keep only a tombstone (their records, not their log). */
        runRetentionDays: z.number().positive().max(3650).default(7),
      })
      .strict()
      .default({ stateDir: '.branch-follower', runRetentionDays: 7 }),
    notify: z
      .object({ webhookUrlEnv: z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'must be an environment variable name') })
      .strict()
      .optional(),
    image: z.string().min(1).default('ghcr.io/branch-follower/branch-follower:0.1.0'),
    /**
     * `branch-follower serve` (push receiver, metrics, status page). Off by default: `apply` and
     * `plan` render its Deployment and Service only when enabled; the verb itself runs when called.
     */
    serve: z
      .object({
        enabled: z.boolean().default(false),
        /** The TCP port it listens on (and the Service's targetPort). */
        port: z.number().int().min(1).max(65535).default(8080),
        /**
         * `POST /hooks/push`: present only when this is set. The secret itself never sits in the
         * registry: `secretEnv` names the environment variable holding it (a Secret on Kubernetes).
         */
        push: z
          .object({
            secretEnv: z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'must be an environment variable name (upper-case letters, digits and "_"), not the secret itself'),
          })
          .strict()
          .optional(),
      })
      .strict()
      .default({ enabled: false, port: 8080 }),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.driver === 'kubernetes' && !c.source)
      ctx.addIssue({ code: 'custom', path: ['source'], message: 'the kubernetes driver needs controller.source { repo, ref }: what controller pods clone from the git mirror to run the CLI' });
  });
export type Controller = z.infer<typeof Controller>;

export const Registry = z
  .object({
    controller: Controller,
    followers: z.array(Follower).max(5000),
  })
  .strict()
  .superRefine((reg, ctx) => {
    const seen = new Map<string, number>();
    reg.followers.forEach((f, i) => {
      const first = seen.get(f.id);
      if (first !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['followers', i, 'id'], message: `duplicate follower id "${f.id}" (first at followers.${first}.id)` });
      } else seen.set(f.id, i);
    });
  });
export type Registry = z.infer<typeof Registry>;

// Keys people paste into the registry that belong to an owning config; named in the error.
const OWNED_KEYS = new Set(['namespace', 'image', 'workload', 'deployment', 'secret', 'secrets', 'secretRef', 'env', 'gitops', 'repo', 'branch', 'node', 'lane', 'pipeline', 'pipelineRun', 'annotation', 'kustomization', 'helm', 'token', 'password']);

export type InputError = { file: string; path: string; message: string };

export const formatInputError = (e: InputError): string => `${e.file}: ${e.path || WHOLE_FILE}: ${e.message}`;

const joinPath = (path: readonly PropertyKey[]): string =>
  path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i === 0 ? '' : '.'}${String(p)}`)).join('');

/** Zod issues flattened into "file: path: message", with ownership hints for misplaced keys. */
export const zodIssues = (file: string, error: z.ZodError, doc?: unknown): InputError[] =>
  error.issues.flatMap((issue): InputError[] => {
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => {
        const path = joinPath([...issue.path, key]);
        let hint = '';
        if (issue.path[0] === 'followers' && typeof issue.path[1] === 'number' && OWNED_KEYS.has(key)) {
          const adapter = adapterAt(doc, issue.path[1]);
          hint = `; runtime, GitOps and Secret details belong in ${adapter ? OWNING_CONFIG[adapter] : 'the owning config'}, referenced by a configRef`;
        }
        return { file, path, message: `unknown key "${key}"${hint}` };
      });
    }
    return [{ file, path: joinPath(issue.path), message: issue.message }];
  });

const adapterAt = (doc: unknown, index: number): AdapterKind | undefined => {
  if (!doc || typeof doc !== 'object') return undefined;
  const followers = (doc as { followers?: unknown }).followers;
  if (!Array.isArray(followers)) return undefined;
  const parsed = AdapterKind.safeParse((followers[index] as { adapter?: unknown } | undefined)?.adapter);
  return parsed.success ? parsed.data : undefined;
};

export type ParseResult<T> = { ok: true; value: T } | { ok: false; errors: InputError[] };

export const parseRegistry = (file: string, doc: unknown): ParseResult<Registry> => {
  const r = Registry.safeParse(doc);
  return r.success ? { ok: true, value: r.data } : { ok: false, errors: zodIssues(file, r.error, doc) };
};
