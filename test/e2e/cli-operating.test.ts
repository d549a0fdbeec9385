// Operating a follower from cron and monitoring (issue 17, "Operating"), through the CLI as a
// subprocess on real git: exit codes that say what needs a person, messages in words, and what
// run-once and logs tell about the runs they did.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT_CODES } from '../../src/cli/errors.ts';
import { createWorld, tickUntil, type World } from '../support/cli-world.ts';

const OK = { id: 'webapp-main', repo: 'acme/webapp', branch: 'main' };
const FLAKY = { id: 'flaky-main', repo: 'acme/flaky', branch: 'main', budgets: { maxAttempts: 2 } };

describe('exit codes and messages a person and a monitor can act on', () => {
  let w: World;
  beforeAll(async () => {
    w = await createWorld([OK, FLAKY]);
    await w.armAll();
  });
  afterAll(async () => {
    await w.cleanup();
  });

  it('the codes for "needs a person" and "mirror unreadable" are their own: not 0, 1 or 2, and not each other', () => {
    const codes = [EXIT_CODES.ok, EXIT_CODES.failed, EXIT_CODES['bad-input'], EXIT_CODES['needs-person'], EXIT_CODES['mirror-unreadable']];
    expect(new Set(codes).size).toBe(codes.length);
    expect(EXIT_CODES['needs-person']).toBe(3);
    expect(EXIT_CODES['mirror-unreadable']).toBe(4);
  });

  it('run-once --confirm --wait says it dispatched and closed out; the tick line names the dispatch once', async () => {
    await w.git.commit(OK.repo, OK.branch);
    const r = await w.cli(['run-once', '--follower', OK.id, '--confirm', '--wait', '--poll-seconds', '0.2']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`${OK.id}\\s+Succeeded\\s+dispatched bf-${OK.id}\\S* and closed it out: Succeeded`));
    expect(r.stdout).not.toMatch(/\bnothing\b/);
    await w.git.commit(OK.repo, OK.branch);
    const t = await w.cli(['tick', 'observer']);
    const line = t.stdout.split('\n').find((l) => l.startsWith(`observer ${OK.id}:`)) ?? '';
    expect(line).toContain('Triggering');
    expect(line.match(/dispatched/g)).toHaveLength(1);
    await tickUntil(w, async () => (await w.row(OK.id)).phase === 'Succeeded');
  });

  it('a tick that leaves a follower Blocked exits 3, status --exit-code too; logs --attempt N shows each attempt', async () => {
    await w.failDeploys(FLAKY.id, true);
    const sha = await w.git.commit(FLAKY.repo, FLAKY.branch);
    await tickUntil(w, async () => (await w.row(FLAKY.id)).phase === 'Blocked');
    const before = await w.cli(['status']);
    expect(before.code, before.stderr).toBe(0);
    const st = await w.cli(['status', '--exit-code']);
    expect(st.code, st.stderr).toBe(3);
    for (const loop of ['observer', 'closer']) {
      const t = await w.cli(['tick', loop]);
      expect(t.code, `${loop}: ${t.stdout}${t.stderr}`).toBe(loop === 'observer' ? 3 : 0);
    }
    for (const n of [1, 2]) {
      const l = await w.cli(['logs', '--follower', FLAKY.id, '--attempt', String(n)]);
      expect(l.code, l.stderr).toBe(0);
      expect(l.stdout).toContain(`${sha.slice(0, 12)} attempt ${n}`);
      expect(l.stdout).toContain('deploy failed on purpose');
    }
    const none = await w.cli(['logs', '--follower', FLAKY.id, '--attempt', '3']);
    expect(none.stdout).toContain(`no runs of attempt 3 recorded for ${FLAKY.id}`);
    const bad = await w.cli(['logs', '--follower', FLAKY.id, '--attempt', '0']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--attempt must be a whole number from 1 up');
    // A new commit clears it: the next tick exits 0 again.
    await w.failDeploys(FLAKY.id, false);
    await w.git.commit(FLAKY.repo, FLAKY.branch);
    await tickUntil(w, async () => (await w.row(FLAKY.id)).phase === 'Succeeded');
    expect((await w.cli(['status', '--exit-code'])).code).toBe(0);
    expect((await w.cli(['tick', 'observer'])).code).toBe(0);
  });

  it('a tick that cannot read the git mirror exits 4 and says why on stderr', async () => {
    await w.writeRegistry((reg) => {
      (reg.controller as { gitMirror: { readUrl: string } }).gitMirror.readUrl = 'http://127.0.0.1:9/git';
    });
    try {
      const t = await w.cli(['tick', 'observer']);
      expect(t.code, t.stdout + t.stderr).toBe(4);
      expect(t.stderr).toContain('git mirror unreadable: ');
      expect(t.stderr).toContain('127.0.0.1:9');
    } finally {
      await w.writeRegistry();
    }
  });

  it('a deploy that never writes the file target is told as "target file X does not exist"', async () => {
    // The lane's target points where the deploy command does not write.
    const lanes = { lanes: Object.fromEntries([OK, FLAKY].map((f) => [f.id, { source: { repo: f.repo, branch: f.branch }, target: { reader: 'file', path: `targets/${f.id}.sha` } }])) };
    lanes.lanes[OK.id] = { ...lanes.lanes[OK.id], target: { reader: 'file', path: 'targets/elsewhere.sha' } } as (typeof lanes.lanes)[string];
    await writeFile(join(w.configDir, 'lanes.yaml'), stringify(lanes));
    await w.git.commit(OK.repo, OK.branch);
    await w.cli(['tick', 'observer']);
    await tickUntil(w, async () => (await w.row(OK.id)).phase === 'ClosingOut');
    const c = await w.cli(['tick', 'closer']);
    expect(c.stdout).toContain(`target file ${join(w.configDir, 'targets', 'elsewhere.sha')} does not exist`);
    expect(c.stdout).not.toContain('target reports -');
  });

  it('plan with an unresolvable configRef exits 2 (bad input), naming it', async () => {
    await w.writeRegistry((reg) => {
      const f = (reg.followers as { target: { configRef: string } }[])[0];
      if (f) f.target.configRef = 'lanes.yaml#lanes.no-such-lane.target';
    });
    try {
      const p = await w.cli(['plan']);
      expect(p.code, p.stderr).toBe(2);
      expect(p.stdout).toContain('lanes.yaml#lanes.no-such-lane');
    } finally {
      await w.writeRegistry();
    }
  });

  it('a --state-dir that does not exist is an error that names it, not a page of blank followers', async () => {
    const missing = join(w.dir, 'no-such-state');
    const r = await w.cli(['status', '--state-dir', missing]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`--state-dir ${missing} does not exist`);
    expect(r.stdout).toBe('');
  });

  it('unknown verbs and flags suggest the nearest, in words, not the parser text', async () => {
    const cases: [string[], string][] = [
      [['statsu'], 'unknown verb "statsu"; did you mean status?'],
      [['plna'], 'unknown verb "plna"; did you mean plan?'],
      [['status', '--folower', OK.id], 'unknown flag --folower; did you mean --follower?'],
      [['run-once', '--al', '--dry-run'], 'unknown flag --al; did you mean --all?'],
      [['status', '--follower'], '--follower needs a value: --follower ID'],
      [['status', '--live=yes'], '--live is a switch and takes no value'],
    ];
    for (const [args, want] of cases) {
      const r = await w.cli(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toContain(want);
      expect(r.stderr, args.join(' ')).not.toMatch(/Unknown option|To specify a positional/);
    }
    const far = await w.cli(['xyzzy']);
    expect(far.stderr).toContain('unknown verb "xyzzy"');
    expect(far.stderr).not.toContain('did you mean');
  });
});
