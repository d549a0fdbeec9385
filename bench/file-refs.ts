// One readMany of 100 file:// repositories (2 branches each, half of them packed) through
// createGitRefReader, against the floor: the same 100 `git ls-remote` reads, 8 at once, by
// xargs. `--module` names another tree's ref-reader.ts, for before/after comparisons.
//
//   node bench/file-refs.ts [--repos 100] [--reps 5] [--module /path/to/src/adapters/git/ref-reader.ts]
import { spawn } from 'node:child_process';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { createGitFixture } from '../test/support/git-fixtures.ts';
import { mdTable } from './lib/report.ts';
import { summarize } from './lib/stats.ts';

const { values } = parseArgs({
  options: {
    repos: { type: 'string', default: '100' },
    reps: { type: 'string', default: '5' },
    module: { type: 'string', default: join(import.meta.dirname, '..', 'src', 'adapters', 'git', 'ref-reader.ts') },
  },
});
const repos = Number(values.repos);
const reps = Number(values.reps);
type Reader = { readMany(r: { repo: string; branches: string[] }[]): Promise<Map<string, Map<string, { kind: string }>>> };
const { createGitRefReader } = (await import(pathToFileURL(resolve(values.module!)).href)) as { createGitRefReader: (o: { readUrl: string }) => Reader };

const fx = await createGitFixture();
try {
  const names = Array.from({ length: repos }, (_, i) => `fleet/r${i}`);
  for (const [i, repo] of names.entries()) {
    await fx.commitMany(repo, ['main', 'release/1.x']);
    if (i % 2 === 0) await fx.git(['--git-dir', join(fx.mirrorRoot, `${repo}.git`), 'pack-refs', '--all']);
  }
  const requests = names.map((repo) => ({ repo, branches: ['main', 'release/1.x'] }));
  const floor = (): Promise<void> =>
    new Promise((done, fail) => {
      const urls = names.map((r) => `${fx.fileUrl}/${r}.git`).join('\n');
      const child = spawn('sh', ['-c', 'xargs -P 8 -I{} git ls-remote --heads {} main release/1.x >/dev/null'], { env: fx.env, stdio: ['pipe', 'ignore', 'inherit'] });
      child.on('error', fail);
      child.on('close', (code) => (code === 0 ? done() : fail(new Error(`floor exited ${code}`))));
      child.stdin.end(`${urls}\n`);
    });
  const read = async (): Promise<void> => {
    const res = await createGitRefReader({ readUrl: fx.fileUrl }).readMany(requests);
    if (res.get(names[0]!)?.get('main')?.kind !== 'ok') throw new Error('the reader did not read the mirror');
  };
  const floorMs: number[] = [];
  const readMs: number[] = [];
  await read();
  for (let i = 0; i < reps; i++) {
    let t = performance.now();
    await floor();
    floorMs.push(performance.now() - t);
    t = performance.now();
    await read();
    readMs.push(performance.now() - t);
  }
  const f = summarize(floorMs);
  const r = summarize(readMs);
  process.stdout.write(`${repos} file:// repositories, ${reps} rounds, load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}\nreader: ${values.module}\n`);
  process.stdout.write(`${mdTable(['what', 'median ms', 'min–max ms', '/ floor'], [
    ['floor: git ls-remote, 8 at once', f.median.toFixed(0), `${f.min.toFixed(0)}–${f.max.toFixed(0)}`, '1.00'],
    ['createGitRefReader().readMany', r.median.toFixed(0), `${r.min.toFixed(0)}–${r.max.toFixed(0)}`, (r.median / f.median).toFixed(2)],
  ])}\n`);
} finally {
  await fx.cleanup();
}
