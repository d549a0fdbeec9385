// A large forge mirror: one repository with 70,000 refs (pull refs and tags) besides its
// branches. Bytes and time per read of one branch: the in-process smart-HTTP reader speaking
// protocol v2 (ls-refs with a ref-prefix), the same reader held to protocol v0 (the whole ref
// advertisement), and `git ls-remote` of the same branch, all against one `git http-backend`.
//
//   node bench/refs.ts [--refs 70000] [--reps 7]        (also part of `npm run bench`)
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import { createGitRefReader } from '../src/adapters/git/ref-reader.ts';
import { createGitFixture } from '../test/support/git-fixtures.ts';
import { mdTable } from './lib/report.ts';
import { round, summarize, type Summary } from './lib/stats.ts';

export type RefsRow = { method: string; protocol: string; requests: number; bytesPerRead: number; ms: Summary };
export type RefsResult = { refs: number; reps: number; rows: RefsRow[] };

const REPO = 'forge/big';

export const benchLargeMirror = async (o: { refs: number; reps: number; log: (line: string) => void }): Promise<RefsResult> => {
  const fx = await createGitFixture();
  try {
    const tips = await fx.commitMany(REPO, ['main', 'release/1.x']);
    await fx.addPullRefs(REPO, Math.round(o.refs / 1.1), tips.main!);
    const server = await fx.serveHttp();
    o.log(`large mirror: ${REPO} with ${o.refs} refs served by git http-backend at ${server.url}`);

    const measure = async (method: string, protocol: string, read: () => Promise<void>): Promise<RefsRow> => {
      await read(); // warm-up: the first read pays for the page cache
      const ms: number[] = [];
      const start = server.requests.length;
      for (let i = 0; i < o.reps; i++) {
        const t = performance.now();
        await read();
        ms.push(performance.now() - t);
      }
      const served = server.requests.slice(start);
      const bytes = served.reduce((n, r) => n + r.bytes, 0);
      return { method, protocol, requests: served.length / o.reps, bytesPerRead: Math.round(bytes / o.reps), ms: summarize(ms) };
    };

    const viaReader = (protocol: 'auto' | 'v0') => async (): Promise<void> => {
      const r = createGitRefReader({ readUrl: server.url, smartHttpProtocol: protocol });
      const obs = (await r.readMany([{ repo: REPO, branches: ['main'] }])).get(REPO)?.get('main');
      if (obs?.kind !== 'ok' || obs.sha !== tips.main) throw new Error(`bench read of ${REPO}@main answered ${JSON.stringify(obs)}`);
    };
    const lsRemote = (heads: boolean) => (): Promise<void> =>
      new Promise((resolve, reject) => {
        const child = spawn('git', ['ls-remote', ...(heads ? ['--heads'] : []), '--', `${server.url}/${REPO}.git`, 'refs/heads/main'], { env: fx.env, stdio: ['ignore', 'pipe', 'inherit'] });
        let out = '';
        child.stdout.on('data', (b: Buffer) => (out += b.toString('utf8')));
        child.on('error', reject);
        child.on('close', (code) => (code === 0 && out.startsWith(tips.main!) ? resolve() : reject(new Error(`git ls-remote exited ${code}: ${out}`))));
      });

    const rows = [
      await measure('smart-HTTP reader', 'v2 (ls-refs, ref-prefix)', viaReader('auto')),
      await measure('smart-HTTP reader', 'v0 (whole advertisement)', viaReader('v0')),
      await measure('git ls-remote <url> refs/heads/main', 'v2 (no ref-prefix: patterns are tail matches)', lsRemote(false)),
      await measure('git ls-remote --heads <url> refs/heads/main (the git path)', 'v2 (ref-prefix refs/heads/)', lsRemote(true)),
    ];
    return { refs: o.refs, reps: o.reps, rows };
  } finally {
    await fx.cleanup();
  }
};

export const refsTable = (r: RefsResult): string =>
  mdTable(
    ['read of one branch', 'protocol', 'HTTP requests', 'bytes per read', 'ms per read (median)', 'ms (min–max)'],
    r.rows.map((x) => [x.method, x.protocol, String(x.requests), x.bytesPerRead.toLocaleString('en-US'), String(round(x.ms.median)), `${round(x.ms.min)}–${round(x.ms.max)}`]),
  );

if (import.meta.main) {
  const { values } = parseArgs({ options: { refs: { type: 'string' }, reps: { type: 'string' } } });
  const r = await benchLargeMirror({ refs: Number(values.refs ?? 70_000), reps: Number(values.reps ?? 7), log: (l) => process.stderr.write(`[bench] ${l}\n`) });
  process.stdout.write(`\nLarge mirror: one branch of a repository with ${r.refs} refs, ${r.reps} reads each after a warm-up\n\n${refsTable(r)}\n`);
}
