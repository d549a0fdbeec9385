import { z } from 'zod';
import { fnv1a32 } from './run-name.ts';
import { shortSha } from './primitives.ts';

/**
 * The push receiver's decisions, pure: which forge sent a request (by its headers), what a push
 * payload says once normalised, which followers it concerns, whether a delivery was seen before,
 * and when a repository's observer tick starts. A push is only a hint: nothing here decides a
 * dispatch, and the payload's sha names a poke (for coalescing) but never what is deployed; the
 * observer tick it wakes reads the git mirror as a scheduled one does.
 */

export const FORGES = ['github', 'gitea', 'gitlab', 'generic'] as const;
export type Forge = (typeof FORGES)[number];

export type HookHeaders = Readonly<Record<string, string | string[] | undefined>>;

/** How a request proves it knows the secret: an HMAC-SHA256 of the body in hex, or the secret itself (GitLab). */
export type HookCredential = { scheme: 'hmac-sha256'; hex: string } | { scheme: 'token'; token: string } | null;

export type HookRequest = {
  forge: Forge;
  /** The forge's event name (`push`, `Push Hook`, `ping`, ...); the generic form has none. */
  event: string | null;
  /** The delivery id a redelivery repeats; null when the sender gives none. */
  delivery: string | null;
  credential: HookCredential;
};

const header = (h: HookHeaders, name: string): string | null => {
  const v = h[name];
  const s = Array.isArray(v) ? v[0] : v;
  return s === undefined || s === '' ? null : s;
};

/**
 * Who sent a request, from the headers each forge documents. Gitea and Forgejo also send the
 * `X-GitHub-Event` header for compatibility, so their own headers are looked at first:
 * - GitHub: `X-GitHub-Event`, `X-GitHub-Delivery`, `X-Hub-Signature-256: sha256=<hex>`;
 * - Gitea / Forgejo: `X-Gitea-Event` / `X-Forgejo-Event`, `...-Delivery`, `...-Signature: <hex>`
 *   (Forgejo sends both names; its own wins);
 * - GitLab: `X-Gitlab-Event: Push Hook`, `X-Gitlab-Token: <the secret>`, and as delivery id
 *   `Idempotency-Key` (GitLab 17.4+, the same on a retry) else `X-Gitlab-Event-UUID`;
 * - generic (a git mirror's post-receive hook, curl): `X-Hub-Signature-256` as GitHub's, and an
 *   optional `X-Branch-Follower-Delivery` or `Idempotency-Key`.
 */
export const readHookHeaders = (h: HookHeaders): HookRequest => {
  const hubSignature = (): HookCredential => {
    const v = header(h, 'x-hub-signature-256');
    const m = v === null ? null : /^sha256=([0-9a-fA-F]{64})$/.exec(v.trim());
    return m?.[1] ? { scheme: 'hmac-sha256', hex: m[1].toLowerCase() } : null;
  };
  const bareHex = (v: string | null): HookCredential => (v !== null && /^[0-9a-fA-F]{64}$/.test(v.trim()) ? { scheme: 'hmac-sha256', hex: v.trim().toLowerCase() } : null);
  const gitlab = header(h, 'x-gitlab-event');
  if (gitlab !== null) {
    const token = header(h, 'x-gitlab-token');
    return { forge: 'gitlab', event: gitlab, delivery: header(h, 'idempotency-key') ?? header(h, 'x-gitlab-event-uuid'), credential: token === null ? null : { scheme: 'token', token } };
  }
  const forgejo = header(h, 'x-forgejo-event');
  const gitea = header(h, 'x-gitea-event');
  if (forgejo !== null || gitea !== null) {
    const signature = header(h, 'x-forgejo-signature') ?? header(h, 'x-gitea-signature');
    return { forge: 'gitea', event: forgejo ?? gitea, delivery: header(h, 'x-forgejo-delivery') ?? header(h, 'x-gitea-delivery'), credential: bareHex(signature) };
  }
  const github = header(h, 'x-github-event');
  if (github !== null) return { forge: 'github', event: github, delivery: header(h, 'x-github-delivery'), credential: hubSignature() };
  return { forge: 'generic', event: null, delivery: header(h, 'x-branch-follower-delivery') ?? header(h, 'idempotency-key'), credential: hubSignature() };
};

/** What an authenticated request's event asks for: a push, a forge's "are you there" ping, or something not ours. */
export const eventKind = (r: Pick<HookRequest, 'forge' | 'event'>): 'push' | 'ping' | 'other' => {
  switch (r.forge) {
    case 'github':
    case 'gitea':
      return r.event === 'push' ? 'push' : r.event === 'ping' ? 'ping' : 'other';
    case 'gitlab':
      return r.event === 'Push Hook' ? 'push' : 'other';
    case 'generic':
      return 'push';
  }
};

/** A commit id in a payload: full hex of either object format (all zeros when a branch was deleted). */
const PayloadSha = z.string().regex(/^(?:[0-9a-f]{40}|[0-9a-f]{64})$/, 'must be a full commit sha (40 or 64 lower-case hex)');
const PayloadRepo = z.string().min(1).max(512);
const FullRef = z.string().min(1).max(1024).startsWith('refs/', 'must be a full ref name (refs/heads/...)');

// The forges send far more than this; only these fields are read, the rest is dropped unread.
const GitHubPush = z.object({ ref: FullRef, after: PayloadSha, repository: z.object({ full_name: PayloadRepo }) });
const GitLabPush = z.object({ ref: FullRef, after: PayloadSha, project: z.object({ path_with_namespace: PayloadRepo }) });
/** The generic form: exactly these three keys; `ref` a full ref or a bare branch name. */
export const GenericPush = z.object({ repo: PayloadRepo, ref: z.string().min(1).max(1024), after: PayloadSha }).strict();

/** A push, normalised: the repository as `owner/name`, the branch (null for a tag or other ref). */
export type PushEvent = { repo: string; ref: string; branch: string | null; after: string };

const BRANCH_PREFIX = 'refs/heads/';

const normalise = (repo: string, ref: string, after: string): PushEvent => {
  const full = ref.startsWith('refs/') ? ref : `${BRANCH_PREFIX}${ref}`;
  return { repo: repo.replace(/\.git$/, ''), ref: full, branch: full.startsWith(BRANCH_PREFIX) ? full.slice(BRANCH_PREFIX.length) : null, after };
};

export type PayloadResult = { ok: true; push: PushEvent } | { ok: false; message: string };

const issueText = (e: z.ZodError): string => {
  const i = e.issues[0];
  // The path and the rule only: a message never repeats what the payload held.
  if (!i) return 'invalid';
  const where = i.path.map(String).join('.') || 'the body';
  // zod's own messages may quote what was sent (an unknown key's name): only the rule is said.
  if (i.code === 'invalid_type') return `${where}: expected ${i.expected}`;
  if (i.code === 'unrecognized_keys') return `${where}: unknown keys (the generic form has only repo, ref and after)`;
  return `${where}: ${i.message}`;
};

/** The push a JSON body describes, by forge; a body of the wrong shape names the field, never its value. */
export const parsePushPayload = (forge: Forge, body: unknown): PayloadResult => {
  if (forge === 'gitlab') {
    const r = GitLabPush.safeParse(body);
    return r.success ? { ok: true, push: normalise(r.data.project.path_with_namespace, r.data.ref, r.data.after) } : { ok: false, message: issueText(r.error) };
  }
  if (forge === 'generic') {
    const r = GenericPush.safeParse(body);
    return r.success ? { ok: true, push: normalise(r.data.repo, r.data.ref, r.data.after) } : { ok: false, message: issueText(r.error) };
  }
  const r = GitHubPush.safeParse(body);
  return r.success ? { ok: true, push: normalise(r.data.repository.full_name, r.data.ref, r.data.after) } : { ok: false, message: issueText(r.error) };
};

/** A follower's source as the registry resolves it. */
export type FollowedSource = { id: string; repo: string; branch: string };

/**
 * The followers a push concerns: same repository (compared without case, as GitHub, Gitea and
 * GitLab name repositories) and exactly the branch. The registry decides: anything else is ignored.
 */
export const followersOfPush = (sources: readonly FollowedSource[], push: PushEvent): FollowedSource[] =>
  push.branch === null ? [] : sources.filter((s) => s.repo.toLowerCase() === push.repo.toLowerCase() && s.branch === push.branch);

/** The repository as the registry spells it (the key pokes are coalesced under). */
export const pokeKey = (matched: readonly FollowedSource[]): string | null => matched[0]?.repo ?? null;

/**
 * The Kubernetes Job a poke creates, named from (repository, sha) alone: a redelivered or
 * duplicated hook names the same Job, whose create answers AlreadyExists and is coalesced. The
 * repository is hashed (its spelling is not DNS-safe), the sha kept short and readable.
 */
export const pokeJobName = (repo: string, sha: string): string => `bf-poke-${fnv1a32(repo.toLowerCase())}-${sha.slice(0, 12)}`;

/** The closer Job woken by a dispatch's end, named from the dispatch: one wake per run end. */
export const closerWakeJobName = (dispatchName: string): string => `bf-wake-${fnv1a32(dispatchName)}`;

/** What a log line may say of a push: repository, ref and short sha, printable and bounded. */
export const pushLogText = (push: PushEvent): string => `${JSON.stringify(push.repo.slice(0, 200))} ${JSON.stringify(push.ref.slice(0, 200))} ${shortSha(push.after)}`;

// ---------------------------------------------------------------------------------------------
// Replayed deliveries

/** The delivery ids seen lately, oldest first, at most `max` (a bounded memory, not a log). */
export type Deliveries = { readonly ids: readonly string[]; readonly max: number };

export const DELIVERIES_REMEMBERED = 1000;
export const noDeliveries = (max: number = DELIVERIES_REMEMBERED): Deliveries => ({ ids: [], max });

/** Whether `id` was seen; when not, the memory with it added (the oldest forgotten past `max`). */
export const noteDelivery = (d: Deliveries, id: string): { deliveries: Deliveries; replay: boolean } => {
  if (d.ids.includes(id)) return { deliveries: d, replay: true };
  const ids = [...d.ids, id];
  return { deliveries: { ids: ids.length > d.max ? ids.slice(ids.length - d.max) : ids, max: d.max }, replay: false };
};

// ---------------------------------------------------------------------------------------------
// Coalescing: at most one tick running and one waiting per repository

/** Per repository: a tick running, and whether another must follow it (a poke came meanwhile). */
export type PokeSlot = 'running' | 'running+waiting';
export type Pokes = ReadonlyMap<string, PokeSlot>;

export const NO_POKES: Pokes = new Map();

/**
 * A poke for `key`: starts a tick when none runs; while one runs, one more is queued (the running
 * tick may have read the mirror before this push landed); a poke beyond that is absorbed, since
 * the queued tick starts after it and reads the newest ref anyway.
 */
export const onPoke = (pokes: Pokes, key: string): { pokes: Pokes; start: boolean } => {
  const slot = pokes.get(key);
  if (slot === undefined) return { pokes: new Map(pokes).set(key, 'running'), start: true };
  if (slot === 'running') return { pokes: new Map(pokes).set(key, 'running+waiting'), start: false };
  return { pokes, start: false };
};

/** A tick for `key` ended: the waiting one, if any, starts now. */
export const onTickEnd = (pokes: Pokes, key: string): { pokes: Pokes; start: boolean } => {
  const slot = pokes.get(key);
  if (slot === 'running+waiting') return { pokes: new Map(pokes).set(key, 'running'), start: true };
  const next = new Map(pokes);
  next.delete(key);
  return { pokes: next, start: false };
};

// ---------------------------------------------------------------------------------------------
// One request, decided

export type HookDecision =
  | { status: 401; text: string }
  | { status: 400; text: string }
  | { status: 202; text: string; ignored: true }
  | { status: 200; text: string; replay?: true }
  | { status: 202; text: string; poke: { key: string; sha: string; followers: string[] }; log: string };

export type HookInput = {
  request: HookRequest;
  /** Whether the credential matched the secret (checked in constant time by the caller, over the raw body). */
  authenticated: boolean;
  body: string;
  sources: readonly FollowedSource[];
  deliveries: Deliveries;
};

/**
 * What one request to `POST /hooks/push` gets, in order: 401 unless authenticated (before the body
 * is parsed), 202 for an event that is not a push (a forge treats any 2xx as delivered), 200 for a
 * ping, 400 for a body that is not JSON or not a push, 200 for a delivery seen before, 200 for a
 * push no follower follows, else 202 and a poke of the repository's followers.
 */
export const decideHook = (i: HookInput): { decision: HookDecision; deliveries: Deliveries } => {
  const keep = i.deliveries;
  if (!i.authenticated) return { decision: { status: 401, text: 'bad or missing signature' }, deliveries: keep };
  const kind = eventKind(i.request);
  if (kind === 'ping') return { decision: { status: 200, text: 'pong' }, deliveries: keep };
  if (kind === 'other') return { decision: { status: 202, text: 'ignored: not a push event', ignored: true }, deliveries: keep };
  let json: unknown;
  try {
    json = JSON.parse(i.body);
  } catch {
    return { decision: { status: 400, text: 'body is not JSON' }, deliveries: keep };
  }
  const parsed = parsePushPayload(i.request.forge, json);
  if (!parsed.ok) return { decision: { status: 400, text: `not a ${i.request.forge} push payload: ${parsed.message}` }, deliveries: keep };
  let deliveries = keep;
  if (i.request.delivery !== null) {
    const seen = noteDelivery(keep, i.request.delivery);
    if (seen.replay) return { decision: { status: 200, text: 'delivery already received', replay: true }, deliveries: keep };
    deliveries = seen.deliveries;
  }
  const matched = followersOfPush(i.sources, parsed.push);
  const key = pokeKey(matched);
  if (key === null) return { decision: { status: 200, text: 'ignored: no follower follows this repository and branch' }, deliveries };
  return {
    decision: { status: 202, text: `observer woken for ${matched.map((m) => m.id).join(', ')}`, poke: { key, sha: parsed.push.after, followers: matched.map((m) => m.id) }, log: pushLogText(parsed.push) },
    deliveries,
  };
};
