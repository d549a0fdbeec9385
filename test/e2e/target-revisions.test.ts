// Issue 10, part 4: the sha formats targets really report (upper case, abbreviated image tags,
// Flux revisions), through the CLI on real git: the file and argv-json readers on the local
// driver, the k8s-annotation reader on the kubernetes driver (against the API-server double).
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterEach, describe, expect, it } from 'vitest';
import { createWorld, type World } from '../support/cli-world.ts';
import { createK8sWorld, type K8sWorld } from '../support/k8s-world.ts';

const A = { id: 'hwlab-jd01-v03', repo: 'pikasTech/HWLAB', branch: 'v0.3' };

let world: World | null = null;
let k8s: K8sWorld | null = null;
afterEach(async () => {
  await world?.cleanup();
  await k8s?.cleanup();
  world = null;
  k8s = null;
});

const E2E_TIMEOUT = 300_000;

/** The forms a target may report for `sha`, as operators' tools write them. */
const forms = (sha: string): [string, string][] => [
  ['upper case', sha.toUpperCase()],
  ['a 7-hex image tag', sha.slice(0, 7)],
  ['a 12-hex image tag in upper case', sha.slice(0, 12).toUpperCase()],
  ["Flux's <ref>@sha1:<hex>", `v0.3@sha1:${sha}`],
  ["Flux's sha1:<hex>", `sha1:${sha}`],
];

const ticks = async (w: World, n: number): Promise<void> => {
  for (let i = 0; i < n; i++) {
    expect((await w.cli(['tick', 'closer'])).code).toBe(0);
    expect((await w.cli(['tick', 'observer'])).code).toBe(0);
  }
};

describe('file target: the forms targets really report', () => {
  it('a target at the observed sha in any of its forms is Noop: nothing is dispatched, however many ticks', async () => {
    const w = (world = await createWorld([A]));
    await w.armAll();
    const sha = await w.git.commit(A.repo, A.branch);
    for (const [what, text] of forms(sha)) {
      await writeFile(join(w.configDir, 'targets', `${A.id}.sha`), `${text}\n`);
      await ticks(w, 2);
      const row = await w.row(A.id);
      expect(row.phase, what).toBe('Noop');
      // Stored as the full sha it stands for: status shows the whole id.
      expect(row.targetSha, what).toBe(sha);
    }
    expect(await w.invocations()).toEqual([]);
  }, E2E_TIMEOUT);

  it('an abbreviation of another sha deploys; the closeout target check accepts the abbreviation it then reports; no redeploy loop', async () => {
    const w = (world = await createWorld([A]));
    // This deploy reports what an image tag carries: the first 9 hex of the sha, upper case.
    await writeFile(
      join(w.configDir, 'deploy-tag.sh'),
      '#!/bin/sh\nset -eu\necho "$BRANCH_FOLLOWER_ID $BRANCH_FOLLOWER_SHA $BRANCH_FOLLOWER_ATTEMPT" >> invocations.log\nprintf "%s\\n" "$BRANCH_FOLLOWER_SHA" | cut -c1-9 | tr a-f A-F > "targets/$BRANCH_FOLLOWER_ID.sha"\n',
    );
    await chmod(join(w.configDir, 'deploy-tag.sh'), 0o755);
    await w.writeRegistry((reg) => {
      const f = (reg.followers as { command: string[] }[])[0];
      if (f) f.command = ['./deploy-tag.sh'];
    });
    const old = await w.git.commit(A.repo, A.branch);
    await writeFile(join(w.configDir, 'targets', `${A.id}.sha`), `${old.slice(0, 9)}\n`);
    await w.armAll();
    await ticks(w, 1);
    expect((await w.row(A.id)).phase).toBe('Noop');
    const next = await w.git.commit(A.repo, A.branch);
    for (let i = 0; i < 30 && (await w.row(A.id)).lastSucceededSha !== next; i++) await ticks(w, 1);
    const row = await w.row(A.id);
    expect(row).toMatchObject({ phase: 'Succeeded', lastSucceededSha: next, targetSha: next });
    await ticks(w, 3);
    expect((await w.row(A.id)).phase).toBe('Succeeded');
    expect(await w.invocations()).toEqual([`${A.id} ${next} 1`]);
  }, E2E_TIMEOUT);

  it('anything else is unreadable: the reason names the file and what is wrong, never its content', async () => {
    const w = (world = await createWorld([A]));
    await w.armAll();
    await w.git.commit(A.repo, A.branch);
    for (const [text, why] of [
      ['v1.2.3-token-Zq9', 'content is 16 characters that are not a commit sha'],
      ['abc12', 'content is 5 hex digits; an abbreviated sha needs at least 7'],
      [`main@sha1:${'ab'.repeat(10)}`, 'content is a Flux sha1 revision of 20 hex digits; sha1 names 40'],
    ] as const) {
      await writeFile(join(w.configDir, 'targets', `${A.id}.sha`), `${text}\n`);
      await ticks(w, 1);
      const row = await w.row(A.id);
      expect(row.phase).toBe('Observed');
      expect(row.reason).toContain(`target file ${join(w.configDir, 'targets', `${A.id}.sha`)}: ${why}`);
      const everything = [(await w.cli(['status'])).stdout, (await w.cli(['status', '-o', 'json'])).stdout, (await w.cli(['events', '--follower', A.id, '-o', 'json'])).stdout, ...(await w.snapshotState()).values()].join('\n');
      expect(everything).not.toContain(text);
    }
    expect(await w.invocations()).toEqual([]);
  }, E2E_TIMEOUT);
});

describe('argv-json target: the forms targets really report', () => {
  it('reads a Flux revision and an upper-case abbreviation as the observed sha (Noop), and deploys past another one', async () => {
    const w = (world = await createWorld([A]));
    await writeFile(join(w.configDir, 'read-target.sh'), '#!/bin/sh\nprintf \'{"sha": "%s", "source": "flux"}\\n\' "$(cat reported)"\n');
    await chmod(join(w.configDir, 'read-target.sh'), 0o755);
    await writeFile(join(w.configDir, 'lanes.yaml'), stringify({ lanes: { [A.id]: { source: { repo: A.repo, branch: A.branch }, target: { reader: 'argv-json', argv: ['./read-target.sh'] } } } }));
    await w.armAll();
    const sha = await w.git.commit(A.repo, A.branch);
    for (const text of [`refs/heads/v0.3@sha1:${sha}`, sha.slice(0, 10).toUpperCase()]) {
      await writeFile(join(w.configDir, 'reported'), text);
      await ticks(w, 2);
      expect(await w.row(A.id)).toMatchObject({ phase: 'Noop', targetSha: sha });
    }
    expect(await w.invocations()).toEqual([]);
    const next = await w.git.commit(A.repo, A.branch);
    await ticks(w, 1);
    expect((await w.row(A.id)).lastTriggeredSha).toBe(next);
    expect(await w.invocations()).toEqual([`${A.id} ${next} 1`]);
  }, E2E_TIMEOUT);
});

describe('k8s-annotation target: the forms targets really report', () => {
  it('an annotation with a Flux revision or an abbreviated tag is the observed sha; a Job that stamps an abbreviation closes out', async () => {
    const F = { id: 'alpha', repo: 'pikasTech/HWLAB', branch: 'v0.3', checks: ['trigger', 'target'] };
    const w = (k8s = await createK8sWorld([F]));
    w.armDirect();
    const sha = await w.git.commit(F.repo, F.branch);
    for (const text of [`main@sha1:${sha.toUpperCase()}`, sha.slice(0, 8)]) {
      w.setTarget(F.id, text);
      const t = await w.tick('observer');
      expect(t.followers.find((f) => f.id === F.id)?.phase).toBe('Noop');
    }
    expect(w.jobs()).toEqual([]);
    const next = await w.git.commit(F.repo, F.branch);
    expect((await w.tick('observer')).followers[0]?.phase).toBe('Triggering');
    w.settleJobs({});
    w.setTarget(F.id, next.slice(0, 7).toUpperCase());
    expect((await w.tick('closer')).followers[0]?.phase).toBe('Succeeded');
    expect((await w.tick('observer')).followers[0]?.phase).toBe('Succeeded');
    expect(w.jobs()).toHaveLength(1);
  }, E2E_TIMEOUT);
});
