import type { z } from 'zod';
import type { Controller, Follower } from '../../core/registry.ts';
import type { ResolvedFollowerSpec, SourceSection } from '../../core/target-spec.ts';

export type SectionInput = {
  follower: Follower;
  controller: Controller;
  /** The values the follower's configRefs point at, and the refs themselves for messages. */
  source: { ref: string; value: unknown };
  target: { ref: string; value: unknown };
};

export type Resolution =
  | { ok: true; spec: ResolvedFollowerSpec }
  /** A failed target still carries its source, so the follower is observed and blocked for the right reason. */
  | { ok: false; side: 'source' | 'target'; message: string; source?: SourceSection };

/** A follower adapter: how one kind of owning config becomes a source, a target reader and checks. */
export type FollowerAdapter = { resolve(input: SectionInput): Resolution };

const joinPath = (path: readonly PropertyKey[]): string => path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('');

/** Parses one owning-config section; the message names the configRef and the path inside it. */
export const section = <T>(schema: z.ZodType<T>, side: 'source' | 'target', at: { ref: string; value: unknown }):
  | { ok: true; value: T }
  | { ok: false; side: 'source' | 'target'; message: string } => {
  const r = schema.safeParse(at.value);
  if (r.success) return { ok: true, value: r.data };
  // An unknown key says more about a pasted section than the first missing field does.
  const issue = r.error.issues.find((i) => i.code === 'unrecognized_keys') ?? r.error.issues[0];
  const where = `${at.ref}${issue ? joinPath(issue.path) : ''}`;
  const message = issue?.code === 'unrecognized_keys' ? `unknown key(s) ${issue.keys.join(', ')}` : (issue?.message ?? 'invalid');
  return { ok: false, side, message: `${where}: ${message}` };
};

/** The default PipelineRun selection: runs labelled with the follower id, in the controller's namespace. */
export const defaultPipeline = (follower: Follower, controller: Controller): ResolvedFollowerSpec['pipeline'] => ({
  namespace: controller.namespace,
  labels: { 'branch-follower.dev/follower': follower.id },
  shaLabel: 'branch-follower.dev/sha',
});
