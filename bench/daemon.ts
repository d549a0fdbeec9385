// A git:// mirror of many repositories (issue 16: the tick must cost <= 1.5x its git floor on
// every transport): one branch of each of N repositories served by `git daemon`, read through
// createGitRefReader in process (git's native protocol over TCP) and by the old git path
// (`git ls-remote` per repository), against the floor of the same N reads by
// `xargs -P 8 git ls-remote`. Each figure is the median of `reps` rounds after a warm-up.
//
// `--heap-mib` first fills the heap with that much live data, as a tick at N = 1000 holds: a
// fork copies the page tables of the whole process, which is what the old path paid per read.
//
//   node bench/daemon.ts [--repos 100] [--reps 5] [--heap-mib 150]
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import { createGitRefReader } from '../src/adapters/git/ref-reader.ts';
import { createGitFixture } from '../test/support/git-fixtures.ts';
import { mdTable } from './lib/report.ts';
import { round, summarize, type Summary } from './lib/stats.ts';

export type DaemonRow = { method: string; ms: Summary };

export const benchDaemonMirror = async (o: { repos: number; reps: number; log: (line: string) => void }): Promise<{ repos: number; reps: number; rows: DaemonRow[] }> => {
  const fx = await createGitFixture();
  try {
    const repos = Array.from({ length: o.repos }, (_, i) => `bench/r${i}`);
    const tips = new Map<string, string>();
    for (const repo of repos) tips.set(repo, (await fx.commitMany(repo, ['main']))['main']!);
    const daemon = await fx.serveDaemon();
    o.log(`${o.repos} repositories served by git daemon at ${daemon.url}`);

    const measure = async (method: string, read: () => Promise<void>): Promise<DaemonRow> => {
      await read();
      const ms: number[] = [];
      for (let i = 0; i < o.reps; i++) {
        const t = performance.now();
        await read();
        ms.push(performance.now() - t);
      }
      return { method, ms: summarize(ms) };
    };
    const viaReader = (daemonTransport: 'in-process' | 'git') => async (): Promise<void> => {
      const r = createGitRefReader({ readUrl: daemon.url, daemonTransport });
      const res = await r.readMany(repos.map((repo) => ({ repo, branches: ['main'] })));
      for (const repo of repos) {
        const obs = res.get(repo)?.get('main');
        if (obs?.kind !== 'ok' || obs.sha !== tips.get(repo)) throw new Error(`bench read of ${repo}@main answered ${JSON.stringify(obs)}`);
      }
    };
    const floor = (): Promise<void> =>
      new Promise((resolve, reject) => {
        const child = spawn('xargs', ['-P', '8', '-I{}', 'git', 'ls-remote', '--heads', '{}', 'refs/heads/main'], { env: fx.env, stdio: ['pipe', 'pipe', 'inherit'] });
        let lines = 0;
        child.stdout.on('data', (b: Buffer) => (lines += b.toString('utf8').split('\n').length - 1));
        child.on('error', reject);
        child.on('close', (code) => (code === 0 && lines === repos.length ? resolve() : reject(new Error(`xargs git ls-remote exited ${code} with ${lines} lines`))));
        child.stdin.end(repos.map((r) => `${daemon.url}/${r}.git`).join('\n'));
      });

    const rows = [
      await measure('xargs -P 8 git ls-remote (the floor)', floor),
      await measure('createGitRefReader, git ls-remote per repository (old path)', viaReader('git')),
      await measure('createGitRefReader, in process over TCP (new path)', viaReader('in-process')),
    ];
    return { repos: o.repos, reps: o.reps, rows };
  } finally {
    await fx.cleanup();
  }
};

if (import.meta.main) {
  const { values } = parseArgs({ options: { repos: { type: 'string' }, reps: { type: 'string' }, 'heap-mib': { type: 'string' } } });
  // Live data kept until exit: about 100 bytes per small object.
  const ballast = Array.from({ length: Math.round((Number(values['heap-mib'] ?? 0) * 1024 * 1024) / 100) }, (_, i) => ({ i, s: `b${i}` }));
  process.stderr.write(`[bench] heap used ${Math.round(process.memoryUsage().heapUsed / 1048576)} MiB, rss ${Math.round(process.memoryUsage().rss / 1048576)} MiB (${ballast.length} ballast objects)\n`);
  const r = await benchDaemonMirror({ repos: Number(values.repos ?? 100), reps: Number(values.reps ?? 5), log: (l) => process.stderr.write(`[bench] ${l}\n`) });
  const floor = r.rows[0]!.ms.median;
  process.stdout.write(
    `\ngit:// mirror: one branch of each of ${r.repos} repositories, concurrency 8, ${r.reps} rounds after a warm-up\n\n${mdTable(
      ['read', 'ms (median)', 'ms (min–max)', 'x floor'],
      r.rows.map((x) => [x.method, String(round(x.ms.median)), `${round(x.ms.min)}–${round(x.ms.max)}`, String(round(x.ms.median / floor, 2))]),
    )}\n`,
  );
}
