// `retry` (issue 17, "Operating"): a follower Blocked on used-up attempts gets exactly one more
// attempt at the same commit per grant, audited, through the CLI as a subprocess on real git
// with a real deploy command.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWorld, tickUntil, type World } from '../support/cli-world.ts';

const OK = { id: 'webapp-main', repo: 'acme/webapp', branch: 'main' };
const FLAKY = { id: 'flaky-main', repo: 'acme/flaky', branch: 'main', budgets: { maxAttempts: 2 } };

describe('retry', () => {
  let w: World;
  beforeAll(async () => {
    w = await createWorld([OK, FLAKY]);
    await w.armAll();
  });
  afterAll(async () => {
    await w.cleanup();
  });

  it('grants one extra attempt in the current episode, audited; refuses what another attempt cannot cure', async () => {
    await w.failDeploys(FLAKY.id, true);
    const sha = await w.git.commit(FLAKY.repo, FLAKY.branch);
    await tickUntil(w, async () => (await w.row(FLAKY.id)).phase === 'Blocked');
    const mine = async () => (await w.invocations()).filter((l) => l.startsWith(`${FLAKY.id} `));
    expect(await mine()).toEqual([`${FLAKY.id} ${sha} 1`, `${FLAKY.id} ${sha} 2`]);
    expect((await w.row(FLAKY.id)).next.join('\n')).toContain(`branch-follower retry --follower ${FLAKY.id} --reason`);

    // A reason is required; without --confirm nothing changes.
    const before = await w.snapshotState();
    const noReason = await w.cli(['retry', '--follower', FLAKY.id, '--confirm']);
    expect(noReason.code).toBe(2);
    expect(noReason.stderr).toContain('retry needs --reason TEXT');
    const dry = await w.cli(['retry', '--follower', FLAKY.id]);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain(`would grant ${FLAKY.id} attempt 3`);
    expect(await w.snapshotState()).toEqual(before);
    // Not Blocked: refused, exit 2.
    const notBlocked = await w.cli(['retry', '--follower', OK.id, '--confirm', '--reason', 'why not']);
    expect(notBlocked.code).toBe(2);
    expect(notBlocked.stderr).toContain(`cannot retry ${OK.id}: `);

    const granted = await w.cli(['retry', '--follower', FLAKY.id, '--confirm', '--reason', 'credentials rotated', '--by', 'alice']);
    expect(granted.code, granted.stderr).toBe(0);
    expect(granted.stdout).toContain(`granted: ${FLAKY.id} attempt 3`);
    // Granting again before the attempt ran is refused: the grant is one attempt, not a tally.
    const twice = await w.cli(['retry', '--follower', FLAKY.id, '--confirm', '--reason', 'again']);
    expect(twice.code).toBe(2);
    await tickUntil(w, async () => (await w.row(FLAKY.id)).phase === 'Blocked' && (await mine()).length === 3);
    expect(await mine()).toEqual([`${FLAKY.id} ${sha} 1`, `${FLAKY.id} ${sha} 2`, `${FLAKY.id} ${sha} 3`]);
    // More ticks do not try again: one grant, one attempt.
    await w.cli(['tick', 'observer']);
    await w.cli(['tick', 'closer']);
    await w.cli(['tick', 'observer']);
    expect(await mine()).toHaveLength(3);
    const events = await w.cli(['events', '--follower', FLAKY.id, '-o', 'wide']);
    expect(events.stdout).toContain('retry granted by alice: credentials rotated');

    // The cause fixed, one more grant deploys the same commit.
    await w.failDeploys(FLAKY.id, false);
    expect((await w.cli(['retry', '--follower', FLAKY.id, '--confirm', '--reason', 'fixed'])).code).toBe(0);
    await tickUntil(w, async () => (await w.row(FLAKY.id)).phase === 'Succeeded');
    expect(await mine()).toEqual([1, 2, 3, 4].map((n) => `${FLAKY.id} ${sha} ${n}`));
    const l = await w.cli(['logs', '--follower', FLAKY.id, '--attempt', '3']);
    expect(l.stdout).toContain('deploy failed on purpose');
  });
});
