import { mkdtemp, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { checkBranchName } from '../../core/branch-name.ts';
import { startStopwatch } from '../../stopwatch.ts';
import { RepoName } from '../../core/primitives.ts';
import type { SourceObservation } from '../../core/observe.ts';
import type { RefReader, RepoRequest } from '../ports.ts';
import { checkBareRepo } from './bare-check.ts';
import { readFileRefs } from './file-refs.ts';
import { cleanGitEnv, runGit, type GitResult } from './git-process.ts';
import { branchSha, lsRemoteArgv, parseLsRemote } from './ls-remote.ts';
import { MirrorUrlError, assertMirrorUrl, filePathOf, repoUrl, type MirrorScheme } from './mirror-url.ts';
import { needsGitTransport, readAdvertisedRefs } from './smart-http.ts';
import { createConnectGate, daemonNeedsGit, readDaemonRefs } from './git-daemon.ts';

export type GitRefReaderOptions = {
  /** The registry's `controller.gitMirror.readUrl`; repositories live at `<readUrl>/<owner>/<repo>.git`. */
  readUrl: string;
  /** Per repository read; past it the read is killed (or aborted) and its repository reads unreachable. Default 20 s. */
  timeoutMs?: number;
  /** How many repositories are read at once. Default 8. */
  concurrency?: number;
  gitBinary?: string;
  /**
   * Extra variables for git (a proxy, a CA bundle); undefined removes one. GIT_* variables that
   * could select a repository or configuration are dropped.
   */
  env?: Readonly<Record<string, string | undefined>>;
  /**
   * How an http(s) mirror is read: `smart-http` (default) asks for its ref advertisement from
   * this process, `git` runs `git ls-remote`. A proxy or a CA bundle in the environment git
   * would get keeps the read with git, which honours them.
   */
  httpTransport?: 'smart-http' | 'git';
  /** Which smart-HTTP protocol: `auto` (default) speaks v2 where offered, `v0` reads the whole advertisement. */
  smartHttpProtocol?: 'auto' | 'v0';
  /**
   * How a git:// mirror is read: `in-process` (default) speaks git's native protocol over TCP
   * from this process, `git` runs `git ls-remote`. A proxy command in the environment git would
   * get keeps the read with git.
   */
  daemonTransport?: 'in-process' | 'git';
  /** The clock a mirror's Retry-After counts from. */
  now?: () => number;
};

export type GitRefReader = RefReader & {
  readonly readUrl: string;
  /** How many repository reads (a `git ls-remote`, a smart-HTTP, git:// or file:// read in process) were started, over the reader's lifetime. */
  readsIssued(): number;
  /** Response bytes the smart-HTTP and in-process git:// reads received, over the reader's lifetime. */
  bytesReceived(): number;
};

export const DEFAULT_TIMEOUT_MS = 20_000;
export const DEFAULT_CONCURRENCY = 8;
// Far above any real mirror's list of heads; beyond it the answer is not trusted.
const MAX_OUTPUT_BYTES = 64 * 1024 * 1024;

/** One repository on the mirror; `keys` maps each request key naming it to the branches that key wants. */
type RepoGroup = { url: string; keys: Map<string, Set<string>>; branches: Set<string> };

const summarize = (stderr: string): string => {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('Please make sure') && l !== 'and the repository exists.');
  const text = lines.join(' | ');
  return text.length > 400 ? `${text.slice(0, 400)}...` : text || '(no message)';
};

const mapLimit = async <T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> => {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++]!;
      await fn(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
};

/**
 * Reads branch heads from the git mirror: one read per distinct repository per call (an
 * info/refs GET for an http(s) mirror, one TCP exchange for git://, the ref files of a plain
 * file:// repository, else `git ls-remote`), whatever the number of followers and branches that
 * share it, a bounded number at a time. Each
 * repository's outcome is its own: one unreachable or refused repository never changes
 * another's answer, and `readMany` does not reject.
 */
export const createGitRefReader = (opts: GitRefReaderOptions): GitRefReader => {
  const scheme: MirrorScheme = assertMirrorUrl(opts.readUrl);
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const concurrency = opts.concurrency ?? DEFAULT_CONCURRENCY;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new MirrorUrlError(`timeoutMs must be a positive number of milliseconds, got ${timeoutMs}`);
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new MirrorUrlError(`concurrency must be a positive integer, got ${concurrency}`);
  const gitBinary = opts.gitBinary ?? 'git';
  const httpTransport = opts.httpTransport ?? 'smart-http';
  if (httpTransport !== 'smart-http' && httpTransport !== 'git') throw new MirrorUrlError(`httpTransport must be smart-http or git, got ${String(httpTransport)}`);
  const daemonTransport = opts.daemonTransport ?? 'in-process';
  if (daemonTransport !== 'in-process' && daemonTransport !== 'git') throw new MirrorUrlError(`daemonTransport must be in-process or git, got ${String(daemonTransport)}`);
  const readUrl = opts.readUrl;
  let reads = 0;
  let bytes = 0;
  // Seconds per repository of the last readMany: its wait for a free slot excluded.
  let timings = new Map<string, number>();
  const now = opts.now ?? Date.now;
  // Every repository of a git:// mirror is on one daemon, whose accept queue is small.
  const daemonGate = createConnectGate();

  const answerBranches = (refs: ReadonlyMap<string, string>, branches: readonly string[]): Map<string, SourceObservation> => {
    const out = new Map<string, SourceObservation>();
    for (const b of branches) {
      const sha = branchSha(refs, b);
      out.set(b, sha === null ? { kind: 'missing', repo: '', branch: b } : { kind: 'ok', sha });
    }
    return out;
  };

  const readGroupSmartHttp = async (group: RepoGroup): Promise<Map<string, SourceObservation> | SourceObservation> => {
    reads++;
    const branches = [...group.branches];
    const r = await readAdvertisedRefs(group.url, { timeoutMs, maxBytes: MAX_OUTPUT_BYTES, branches, protocol: opts.smartHttpProtocol ?? 'auto', now });
    bytes += r.kind === 'refs' ? r.bytes : 0;
    if (r.kind === 'throttled') return { kind: 'throttled', until: new Date(r.until).toISOString(), message: r.message };
    return r.kind === 'refs' ? answerBranches(r.refs, branches) : r;
  };

  const readGroupDaemon = async (group: RepoGroup): Promise<Map<string, SourceObservation> | SourceObservation> => {
    reads++;
    const branches = [...group.branches];
    const r = await readDaemonRefs(group.url, { timeoutMs, maxBytes: MAX_OUTPUT_BYTES, branches, gate: daemonGate });
    bytes += r.kind === 'refs' ? r.bytes : 0;
    return r.kind === 'refs' ? answerBranches(r.refs, branches) : r;
  };

  const readGroup = async (
    group: RepoGroup,
    run: (argv: readonly string[]) => Promise<GitResult>,
  ): Promise<Map<string, SourceObservation> | SourceObservation> => {
    let url = group.url;
    if (scheme === 'file') {
      const bare = await checkBareRepo(filePathOf(group.url), (gitDir) => run(['--git-dir', gitDir, 'rev-parse', '--is-bare-repository']));
      if (bare.kind === 'absent') return { kind: 'unreachable', message: bare.message };
      if (bare.kind === 'refused') return { kind: 'untrusted', message: `source authority: ${bare.message}` };
      // Read from the repository's own files when it is plain enough; else git reads it below.
      const local = await readFileRefs(bare.path, [...group.branches], bare.config);
      if (local.kind !== 'fallback') reads++;
      if (local.kind === 'untrusted') return { kind: 'untrusted', message: `${group.url}: ${local.message}` };
      if (local.kind === 'refs') return answerBranches(local.refs, [...group.branches]);
      url = pathToFileURL(bare.path).href;
    }
    const branches = [...group.branches];
    reads++;
    const r = await run(lsRemoteArgv(url, scheme, branches));
    switch (r.kind) {
      case 'timeout':
        return { kind: 'unreachable', message: `git ls-remote ${group.url} timed out after ${timeoutMs} ms and was killed${r.stderr.trim() ? `: ${summarize(r.stderr)}` : ''}` };
      case 'spawn-error':
        return { kind: 'unreachable', message: `could not run ${gitBinary} ls-remote ${group.url}: ${r.message}` };
      case 'too-large':
        return { kind: 'untrusted', message: `git ls-remote ${group.url} answered more than ${r.limit} bytes; the answer was not trusted` };
      case 'exit': {
        if (r.code !== 0) return { kind: 'unreachable', message: `git ls-remote ${group.url} failed (exit ${r.code}): ${summarize(r.stderr)}` };
        const parsed = parseLsRemote(r.stdout);
        if (!parsed.ok) return { kind: 'untrusted', message: `git ls-remote ${group.url}: ${parsed.message}` };
        return answerBranches(parsed.refs, branches);
      }
    }
  };

  return {
    readUrl,
    readsIssued: () => reads,
    bytesReceived: () => bytes,
    lastReadSeconds: () => timings,
    async readMany(requests: readonly RepoRequest[]) {
      timings = new Map();
      const result = new Map<string, Map<string, SourceObservation>>();
      const groups = new Map<string, RepoGroup>();
      for (const { repo, branches } of requests) {
        const perRepo = result.get(repo) ?? new Map<string, SourceObservation>();
        result.set(repo, perRepo);
        let url: string | null = null;
        let repoProblem: string | null = null;
        if (!RepoName.safeParse(repo).success) repoProblem = `repository ${JSON.stringify(repo)} must be owner/name`;
        else {
          try {
            url = repoUrl(readUrl, repo);
          } catch (e) {
            repoProblem = (e as Error).message;
          }
        }
        for (const branch of branches) {
          if (perRepo.has(branch)) continue;
          if (url === null) {
            perRepo.set(branch, { kind: 'invalid', message: repoProblem ?? 'invalid repository' });
            continue;
          }
          const named = checkBranchName(branch);
          if (!named.ok) {
            perRepo.set(branch, { kind: 'invalid', message: `branch ${JSON.stringify(branch)} of ${repo} is not a valid git branch name: ${named.rule}` });
            continue;
          }
          const group = groups.get(url) ?? { url, keys: new Map<string, Set<string>>(), branches: new Set<string>() };
          groups.set(url, group);
          const wanted = group.keys.get(repo) ?? new Set<string>();
          group.keys.set(repo, wanted);
          wanted.add(branch);
          group.branches.add(branch);
          // Holds the branch's place in request order until the read answers.
          perRepo.set(branch, { kind: 'unreachable', message: 'not read' });
        }
      }
      if (groups.size === 0) return result;

      const all = [...groups.values()];
      // What git would be given decides whether git must read an http(s) mirror (a proxy, a CA).
      const gitEnvShape = cleanGitEnv('/', '/', opts.env ?? {});
      const viaSmartHttp = (g: RepoGroup): boolean =>
        (scheme === 'http' || scheme === 'https') && httpTransport === 'smart-http' && needsGitTransport(g.url, gitEnvShape) === null;
      const viaDaemon = (): boolean => scheme === 'git' && daemonTransport === 'in-process' && daemonNeedsGit(gitEnvShape) === null;
      let workdir: string | null = null;
      // How git runs for the repositories it reads, or why it cannot.
      let run: ((argv: readonly string[]) => Promise<GitResult>) | string = 'git is not needed';
      if (!all.every((g) => viaSmartHttp(g) || viaDaemon())) {
        try {
          // An empty private directory to run in: no repository can be discovered from it.
          const dir = await realpath(await mkdtemp(join(tmpdir(), 'branch-follower-git-')));
          workdir = dir;
          const env = cleanGitEnv(dir, dirname(dir), opts.env ?? {});
          run = (argv) => runGit(argv, { gitBinary, cwd: dir, env, timeoutMs, maxOutputBytes: MAX_OUTPUT_BYTES });
        } catch (e) {
          run = `could not create a working directory for git: ${(e as Error).message}`;
        }
      }
      try {
        await mapLimit(all, concurrency, async (group) => {
          let answer: Map<string, SourceObservation> | SourceObservation;
          const elapsed = startStopwatch();
          try {
            if (viaSmartHttp(group)) answer = await readGroupSmartHttp(group);
            else if (viaDaemon()) answer = await readGroupDaemon(group);
            else if (typeof run === 'string') answer = { kind: 'unreachable', message: run };
            else answer = await readGroup(group, run);
          } catch (e) {
            answer = { kind: 'unreachable', message: `reading ${group.url} failed: ${(e as Error).message}` };
          }
          const seconds = elapsed();
          for (const [key, wanted] of group.keys) {
            timings.set(key, seconds);
            const perRepo = result.get(key)!;
            for (const b of wanted) {
              const obs = answer instanceof Map ? answer.get(b)! : answer;
              perRepo.set(b, obs.kind === 'missing' ? { kind: 'missing', repo: key, branch: b } : obs);
            }
          }
        });
      } finally {
        if (workdir !== null) await rm(workdir, { recursive: true, force: true });
      }
      return result;
    },
  };
};
