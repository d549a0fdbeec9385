import { chmod, mkdir, mkdtemp, readFile, readdir, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TargetObservation } from '../../src/core/observe.ts';
import type { TargetSpec } from '../../src/core/target-spec.ts';
import { isRunning } from '../../src/adapters/local/processes.ts';
import type { TargetReader, TargetRequest } from '../../src/adapters/ports.ts';
import { createTargetReader } from '../../src/adapters/targets/target-reader.ts';

const SHA = 'ab'.repeat(20);

let cwd: string;

beforeEach(async () => {
  cwd = await realpath(await mkdtemp(path.join(tmpdir(), 'bf-targets-')));
});
afterEach(async () => {
  await rm(cwd, { recursive: true, force: true });
});

const script = async (name: string, body: string): Promise<string> => {
  const file = path.join(cwd, name);
  await writeFile(file, `#!/bin/sh\n${body}\n`);
  await chmod(file, 0o755);
  return file;
};

const readOne = async (spec: TargetSpec, opts: { timeoutMs?: number; k8s?: TargetReader } = {}): Promise<TargetObservation> => {
  const got = await createTargetReader({ cwd, ...opts }).readMany([{ key: 'k', spec }]);
  const obs = got.get('k');
  if (!obs) throw new Error('no observation for k');
  return obs;
};

const unreadable = (pattern: RegExp) => ({ kind: 'unreadable', message: expect.stringMatching(pattern) });

describe('argv-json target reader', () => {
  it('reads a sha, and null when nothing is deployed', async () => {
    await script('deployed.sh', `echo '{"sha": "${SHA}", "deployedAt": "yesterday"}'`);
    await script('nothing.sh', `printf '  {"sha": null}\\n\\n'`);
    expect(await readOne({ reader: 'argv-json', argv: ['./deployed.sh'] })).toEqual({ kind: 'ok', sha: SHA });
    expect(await readOne({ reader: 'argv-json', argv: ['./nothing.sh'] })).toEqual({ kind: 'ok', sha: null });
  });

  it('reads the forms targets really report: upper case, abbreviated, Flux revisions', async () => {
    await script('upper.sh', `echo '{"sha": "${SHA.toUpperCase()}"}'`);
    await script('abbrev.sh', `echo '{"sha": "${SHA.slice(0, 7).toUpperCase()}"}'`);
    await script('flux.sh', `echo '{"sha": "main@sha1:${SHA}"}'`);
    expect(await readOne({ reader: 'argv-json', argv: ['./upper.sh'] })).toEqual({ kind: 'ok', sha: SHA });
    expect(await readOne({ reader: 'argv-json', argv: ['./abbrev.sh'] })).toEqual({ kind: 'ok', sha: SHA.slice(0, 7) });
    expect(await readOne({ reader: 'argv-json', argv: ['./flux.sh'] })).toEqual({ kind: 'ok', sha: SHA });
  });

  it('names the command and what was wrong with its output', async () => {
    await script('garbage.sh', 'echo "deployed: yes"');
    await script('short.sh', `echo '{"sha": "abc123"}'`);
    await script('tag.sh', `echo '{"sha": "v1.2.3-secret"}'`);
    await script('array.sh', `echo '["${SHA}"]'`);
    await script('silent.sh', 'exit 0');
    expect(await readOne({ reader: 'argv-json', argv: ['./garbage.sh', '--json'] })).toEqual(
      unreadable(/^target reader `\.\/garbage\.sh --json` printed 13 bytes in 1 line that is not JSON; the first character is a letter; expected/),
    );
    expect(await readOne({ reader: 'argv-json', argv: ['./short.sh'] })).toEqual(unreadable(/^target reader `\.\/short\.sh` printed a "sha" that is 6 hex digits; an abbreviated sha needs at least 7$/));
    const tag = await readOne({ reader: 'argv-json', argv: ['./tag.sh'] });
    expect(tag).toEqual(unreadable(/printed a "sha" that is 13 characters that are not a commit sha \(first stray: a letter at 1\); expected a commit sha \(7 to 64 hex digits\) or a Flux revision/));
    expect(JSON.stringify(tag)).not.toContain('secret');
    expect(await readOne({ reader: 'argv-json', argv: ['./array.sh'] })).toEqual(unreadable(/printed JSON that is not \{"sha": "<revision>"\} or \{"sha": null\} \(the whole document: .*expected object/));
    expect(await readOne({ reader: 'argv-json', argv: ['./silent.sh'] })).toEqual(unreadable(/printed nothing/));
  });

  it('reports a non-zero exit with the end of stderr', async () => {
    await script('broken.sh', `echo '{"sha": "${SHA}"}'; echo 'cluster unreachable: connection refused' >&2; exit 4`);
    expect(await readOne({ reader: 'argv-json', argv: ['./broken.sh'] })).toEqual(
      unreadable(/^target reader `\.\/broken\.sh` exited with code 4; stderr: cluster unreachable: connection refused$/),
    );
  });

  it('reports a command that cannot be run', async () => {
    expect(await readOne({ reader: 'argv-json', argv: ['no-such-reader-bf', 'x'] })).toEqual(unreadable(/`no-such-reader-bf x` cannot run: "no-such-reader-bf" not found on PATH/));
  });

  it('kills a reader that runs past its timeout, including what it started', async () => {
    await script('hang.sh', 'sleep 300 &\necho $! > bg.pid\nwait');
    const obs = await readOne({ reader: 'argv-json', argv: ['./hang.sh'] }, { timeoutMs: 1500 });
    expect(obs).toEqual(unreadable(/^target reader `\.\/hang\.sh` timed out after 1\.5s and was killed/));
    // On a very slow machine the script may be killed before it started the sleep; then there is none to check.
    const text = await readFile(path.join(cwd, 'bg.pid'), 'utf8').catch(() => '');
    if (text.trim() === '') return;
    const bg = Number(text.trim());
    const end = Date.now() + 30_000;
    while (await isRunning(bg)) {
      if (Date.now() > end) throw new Error('the background sleep outlived the timeout');
      await new Promise((r) => setTimeout(r, 25));
    }
  });

  it('passes argv literally, never through a shell', async () => {
    await script('args.sh', `for a in "$@"; do printf "%s\\n" "$a"; done > args.txt\necho '{"sha": null}'`);
    const args = ['$(touch pwned1)', '; touch pwned2', '`touch pwned3`', '| touch pwned4'];
    expect(await readOne({ reader: 'argv-json', argv: ['./args.sh', ...args] })).toEqual({ kind: 'ok', sha: null });
    expect((await readFile(path.join(cwd, 'args.txt'), 'utf8')).split('\n').slice(0, -1)).toEqual(args);
    expect((await readdir(cwd)).filter((f) => f.startsWith('pwned'))).toEqual([]);
  });

  it('runs at most four reads at once, and answers every key', async () => {
    await mkdir(path.join(cwd, 'running'));
    await script(
      'counted.sh',
      `touch "running/$1"\nls running | wc -l >> counts.txt\nsleep 0.2\nrm "running/$1"\necho '{"sha": "${SHA}"}'`,
    );
    const requests: TargetRequest[] = Array.from({ length: 10 }, (_, i) => ({ key: `t${i}`, spec: { reader: 'argv-json', argv: ['./counted.sh', `t${i}`] } }));
    const got = await createTargetReader({ cwd }).readMany(requests);
    expect([...got.keys()].sort()).toEqual(requests.map((r) => r.key).sort());
    for (const obs of got.values()) expect(obs).toEqual({ kind: 'ok', sha: SHA });
    const counts = (await readFile(path.join(cwd, 'counts.txt'), 'utf8')).trim().split('\n').map(Number);
    expect(counts).toHaveLength(10);
    expect(Math.max(...counts)).toBeLessThanOrEqual(4);
  });
});

describe('file target reader', () => {
  it('reads a sha with or without a trailing newline, relative to the registry directory', async () => {
    await mkdir(path.join(cwd, 'deploy'));
    await writeFile(path.join(cwd, 'deploy', 'current'), `${SHA}\n`);
    await writeFile(path.join(cwd, 'bare'), SHA);
    expect(await readOne({ reader: 'file', path: 'deploy/current' })).toEqual({ kind: 'ok', sha: SHA });
    expect(await readOne({ reader: 'file', path: 'bare' })).toEqual({ kind: 'ok', sha: SHA });
    expect(await readOne({ reader: 'file', path: path.join(cwd, 'bare') })).toEqual({ kind: 'ok', sha: SHA });
  });

  it('reads an absent file as nothing deployed', async () => {
    expect(await readOne({ reader: 'file', path: 'never-written' })).toMatchObject({ kind: 'ok', sha: null, absent: expect.stringMatching(/^target file .*never-written does not exist$/) });
  });

  it('reads upper case, abbreviated and Flux revisions, normalised to lower-case hex', async () => {
    const SHA64 = `${SHA}${'0123456789abcdef0123456789ab'}`.slice(0, 64);
    const cases: [string, string][] = [
      [`${SHA.toUpperCase()}\r\n`, SHA],
      [`${SHA.slice(0, 12)}\n`, SHA.slice(0, 12)],
      [`refs/heads/main@sha1:${SHA.toUpperCase()}\n`, SHA],
      [`sha1:${SHA}`, SHA],
      [`v0.3@sha256:${SHA64}\n`, SHA64],
    ];
    for (const [i, [text, want]] of cases.entries()) {
      await writeFile(path.join(cwd, `form-${i}`), text);
      expect(await readOne({ reader: 'file', path: `form-${i}` }), text).toEqual({ kind: 'ok', sha: want });
    }
  });

  it('calls empty, garbage, oversized and non-files unreadable', async () => {
    await writeFile(path.join(cwd, 'empty'), '');
    await writeFile(path.join(cwd, 'garbage'), 'v1.2.3\n');
    await writeFile(path.join(cwd, 'two'), `${SHA}\n${SHA}\n`);
    await writeFile(path.join(cwd, 'huge'), 'a'.repeat(10_000));
    await mkdir(path.join(cwd, 'a-dir'));
    const file = (p: string): string => path.join(cwd, p).replaceAll('.', '\\.');
    expect(await readOne({ reader: 'file', path: 'empty' })).toEqual(unreadable(new RegExp(`^target file ${file('empty')}: is empty`)));
    // Described, never echoed: a target file is not repeated into states, events and logs.
    const garbage = await readOne({ reader: 'file', path: 'garbage' });
    expect(garbage).toEqual(unreadable(/: content is 6 characters that are not a commit sha \(first stray: a letter at 1\); expected a commit sha/));
    expect(JSON.stringify(garbage)).not.toContain('v1.2.3');
    expect(await readOne({ reader: 'file', path: 'two' })).toEqual(unreadable(/holds 2 lines; expected one line with a commit sha/));
    for (const [name, text, why] of [
      ['six', 'abc123', /content is 6 hex digits; an abbreviated sha needs at least 7/],
      ['long', 'a'.repeat(65), /content is 65 hex digits; a commit sha has at most 64/],
      ['flux-short', `main@sha1:${SHA.slice(0, 12)}`, /content is a Flux sha1 revision of 12 hex digits; sha1 names 40/],
      ['flux-noref', `@sha1:${SHA}`, /is 46 characters that are not a commit sha/],
      ['flux-algo', `main@md5:${SHA}`, /characters that are not a commit sha/],
    ] as const) {
      await writeFile(path.join(cwd, name), text);
      expect(await readOne({ reader: 'file', path: name }), name).toEqual(unreadable(why));
    }
    expect(await readOne({ reader: 'file', path: 'huge' })).toEqual(unreadable(/is 10000 bytes; expected a commit sha/));
    expect(await readOne({ reader: 'file', path: 'a-dir' })).toEqual(unreadable(/is not a regular file|EISDIR/));
  });
});

describe('k8s-annotation targets', () => {
  const spec: TargetSpec = { reader: 'k8s-annotation', apiVersion: 'apps/v1', kind: 'Deployment', namespace: 'apps', name: 'web', annotation: 'example.com/sha' };

  it('are unreadable without a Kubernetes client', async () => {
    expect(await readOne(spec)).toEqual({ kind: 'unreadable', message: 'k8s-annotation target: no Kubernetes client on the local driver' });
  });

  it('go to the Kubernetes reader in one call, next to the local reads', async () => {
    const calls: string[][] = [];
    const k8s: TargetReader = {
      async readMany(requests) {
        calls.push(requests.map((r) => r.key));
        return new Map(requests.filter((r) => r.key !== 'k2').map((r) => [r.key, { kind: 'ok', sha: SHA } as const]));
      },
    };
    await writeFile(path.join(cwd, 'current'), SHA);
    const got = await createTargetReader({ cwd, k8s }).readMany([
      { key: 'k1', spec },
      { key: 'f', spec: { reader: 'file', path: 'current' } },
      { key: 'k2', spec: { ...spec, name: 'api' } },
    ]);
    expect(calls).toEqual([['k1', 'k2']]);
    expect(got.get('k1')).toEqual({ kind: 'ok', sha: SHA });
    expect(got.get('f')).toEqual({ kind: 'ok', sha: SHA });
    expect(got.get('k2')).toMatchObject({ kind: 'unreadable' });
  });

  it('are unreadable, and only they, when the Kubernetes reader fails', async () => {
    const k8s: TargetReader = {
      async readMany() {
        throw new Error('connect ECONNREFUSED 127.0.0.1:6443');
      },
    };
    await writeFile(path.join(cwd, 'current'), SHA);
    const got = await createTargetReader({ cwd, k8s }).readMany([
      { key: 'k', spec },
      { key: 'f', spec: { reader: 'file', path: 'current' } },
    ]);
    expect(got.get('k')).toEqual({ kind: 'unreadable', message: 'k8s-annotation target: connect ECONNREFUSED 127.0.0.1:6443' });
    expect(got.get('f')).toEqual({ kind: 'ok', sha: SHA });
  });

  it('are not asked for when no request needs them', async () => {
    let asked = false;
    const k8s: TargetReader = {
      async readMany() {
        asked = true;
        return new Map();
      },
    };
    expect(await createTargetReader({ cwd, k8s }).readMany([])).toEqual(new Map());
    expect(asked).toBe(false);
  });
});
