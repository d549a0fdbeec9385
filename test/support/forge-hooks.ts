// Push hooks as each forge sends them, from the forges' documented headers and payload fields,
// signed with a test secret: GitHub (X-Hub-Signature-256: sha256=<hex>), Gitea and Forgejo
// (X-Gitea-Signature / X-Forgejo-Signature: bare hex, plus the GitHub and Gogs header names they
// also send), GitLab (X-Gitlab-Token: the secret itself; Idempotency-Key), and the generic form a
// post-receive hook sends.
import { randomUUID } from 'node:crypto';
import { signBody } from '../../src/serve/push-auth.ts';

export const FORGE_KINDS = ['github', 'gitea', 'forgejo', 'gitlab', 'generic'] as const;
export type ForgeKind = (typeof FORGE_KINDS)[number];

export type Hook = { headers: Record<string, string>; body: string };

export type PushSpec = { repo: string; branch: string; after: string; before?: string; delivery?: string; secret: string; event?: string };

const ZERO = '0'.repeat(40);

export const forgePush = (forge: ForgeKind, p: PushSpec): Hook => {
  const delivery = p.delivery ?? randomUUID();
  const [owner, name] = p.repo.split('/') as [string, string];
  const ref = `refs/heads/${p.branch}`;
  const commit = { id: p.after, message: 'change\n', timestamp: '2026-11-29T12:00:00+00:00', author: { name: 'Dev', email: 'dev@example.invalid' } };
  const json = { 'content-type': 'application/json' };
  if (forge === 'gitlab') {
    const body = JSON.stringify({
      object_kind: 'push',
      event_name: 'push',
      before: p.before ?? ZERO,
      after: p.after,
      ref,
      ref_protected: true,
      checkout_sha: p.after,
      user_username: 'dev',
      project_id: 15,
      project: { id: 15, name, namespace: owner, path_with_namespace: p.repo, default_branch: 'main', git_http_url: `https://gitlab.example.invalid/${p.repo}.git` },
      commits: [commit],
      total_commits_count: 1,
      repository: { name, url: `git@gitlab.example.invalid:${p.repo}.git` },
    });
    return {
      headers: { ...json, 'user-agent': 'GitLab/17.6.0', 'x-gitlab-event': p.event ?? 'Push Hook', 'x-gitlab-token': p.secret, 'x-gitlab-instance': 'https://gitlab.example.invalid', 'x-gitlab-event-uuid': randomUUID(), 'x-gitlab-webhook-uuid': randomUUID(), 'idempotency-key': delivery },
      body,
    };
  }
  if (forge === 'generic') {
    const body = JSON.stringify({ repo: p.repo, ref, after: p.after });
    return { headers: { ...json, 'x-hub-signature-256': `sha256=${signBody(body, p.secret)}`, 'x-branch-follower-delivery': delivery }, body };
  }
  const body = JSON.stringify({
    ref,
    before: p.before ?? ZERO,
    after: p.after,
    compare_url: '',
    commits: [commit],
    head_commit: commit,
    repository: { id: 140, name, full_name: p.repo, owner: { login: owner }, private: false, default_branch: 'main' },
    pusher: { login: 'dev' },
    sender: { login: 'dev' },
  });
  const sig = signBody(body, p.secret);
  const event = p.event ?? 'push';
  if (forge === 'github') {
    return { headers: { ...json, 'user-agent': 'GitHub-Hookshot/abc1234', 'x-github-event': event, 'x-github-delivery': delivery, 'x-github-hook-id': '42', 'x-hub-signature-256': `sha256=${sig}` }, body };
  }
  const gitea = { 'x-github-event': event, 'x-github-delivery': delivery, 'x-gogs-event': event, 'x-gogs-delivery': delivery, 'x-gitea-event': event, 'x-gitea-delivery': delivery, 'x-gitea-signature': sig, 'x-gogs-signature': sig, 'x-hub-signature-256': `sha256=${sig}` };
  if (forge === 'gitea') return { headers: { ...json, 'user-agent': 'Go-http-client/1.1', ...gitea }, body };
  return { headers: { ...json, 'user-agent': 'Go-http-client/1.1', ...gitea, 'x-forgejo-event': event, 'x-forgejo-delivery': delivery, 'x-forgejo-signature': sig }, body };
};

/** POSTs a hook to `<url>/hooks/push`; answers the status and the body text. */
export const sendHook = async (url: string, hook: Hook): Promise<{ status: number; text: string }> => {
  const r = await fetch(`${url}/hooks/push`, { method: 'POST', headers: hook.headers, body: hook.body });
  return { status: r.status, text: await r.text() };
};
