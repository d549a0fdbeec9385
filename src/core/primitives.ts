import { z } from 'zod';
import { checkBranchName } from './branch-name.ts';

/**
 * A full git object id: 40 hex (a SHA-1 repository) or 64 hex (SHA-256, `git init
 * --object-format=sha256`); abbreviated shas are never trusted for decisions.
 */
export const SHA_PATTERN = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;
export const Sha = z.string().regex(SHA_PATTERN, 'must be a full commit sha (40 or 64 lower-case hex)');
export type Sha = z.infer<typeof Sha>;

export type ObjectFormat = 'sha1' | 'sha256';
/** The object format a full sha belongs to: its length says it. */
export const objectFormatOf = (sha: string): ObjectFormat => (sha.length === 64 ? 'sha256' : 'sha1');
export const OBJECT_FORMAT_NAME: Readonly<Record<ObjectFormat, string>> = { sha1: 'SHA-1', sha256: 'SHA-256' };

/** Follower ids become parts of Kubernetes names and labels, hence DNS-1123 labels of at most 40. */
export const FollowerId = z
  .string()
  .min(1)
  .max(40, 'must be at most 40 characters')
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a DNS-1123 label (lower-case letters, digits and "-", starting and ending with a letter or digit)');
export type FollowerId = z.infer<typeof FollowerId>;

/** Timestamps are stored as ISO-8601 UTC strings so a person can read the state object. */
export const IsoTime = z.iso.datetime({ offset: true });
export type IsoTime = z.infer<typeof IsoTime>;

/** `owner/name` of a repository on the git mirror. */
export const RepoName = z
  .string()
  .regex(/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/, 'must be owner/name')
  .refine((r) => !r.split('/').some((p) => p === '.' || p === '..'), 'must not contain "." or ".." segments');
export type RepoName = z.infer<typeof RepoName>;

/** A git branch name: exactly what `git check-ref-format --branch` accepts (see branch-name.ts). */
export const BranchName = z.string().superRefine((b, ctx) => {
  const r = checkBranchName(b);
  if (!r.ok) ctx.addIssue({ code: 'custom', message: `is not a valid git branch name: ${r.rule}` });
});
export type BranchName = z.infer<typeof BranchName>;

export const toIso = (ms: number): string => new Date(ms).toISOString();
export const fromIso = (iso: string): number => Date.parse(iso);
export const shortSha = (sha: string | null | undefined): string => (sha ? sha.slice(0, 12) : '-');

/** Where a problem sits when it is the file as a whole (no path inside it), in words. */
export const WHOLE_FILE = 'the whole file';
