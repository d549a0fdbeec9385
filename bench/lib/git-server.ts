// The git mirror of the benchmarks, in a process of its own: `git http-backend` behind the test
// fixtures' node:http bridge. Apart from the runner (which holds the API-server double and a
// large heap), so the mirror neither waits on the runner's event loop nor pays for forking a
// large process on every request: it stands for a mirror on another machine.
//
// Protocol (IPC): the parent sends { root, env }; the child answers { url }. Then { stats: id }
// is answered with { id, requests, infoRefs }, and { stop: true } stops the server and exits.
import { fork, type ChildProcess } from 'node:child_process';
import { startGitHttpBackend, type HttpGitServer } from '../../test/support/git-fixtures.ts';

type Start = { root: string; env: NodeJS.ProcessEnv };
type Stats = { requests: number; infoRefs: number };

export type GitServerProcess = {
  url: string;
  stats(): Promise<Stats>;
  stop(): Promise<void>;
};

export const startGitServerProcess = async (root: string, env: NodeJS.ProcessEnv): Promise<GitServerProcess> => {
  const child: ChildProcess = fork(import.meta.filename, [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const waiting = new Map<number, (s: Stats) => void>();
  let seq = 0;
  const url = await new Promise<string>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`git server process exited (${code}) before it was ready`)));
    child.on('message', (m: { url?: string; id?: number } & Partial<Stats>) => {
      if (m.url) resolve(m.url);
      else if (m.id !== undefined) {
        waiting.get(m.id)?.({ requests: m.requests ?? 0, infoRefs: m.infoRefs ?? 0 });
        waiting.delete(m.id);
      }
    });
    child.send({ root, env } satisfies Start);
  });
  child.removeAllListeners('exit');
  child.removeAllListeners('error');
  return {
    url,
    stats: () =>
      new Promise((resolve) => {
        const id = ++seq;
        waiting.set(id, resolve);
        child.send({ stats: id });
      }),
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        child.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
        child.send({ stop: true });
      }),
  };
};

const serve = (): void => {
  let server: HttpGitServer | null = null;
  // An orphaned mirror must not outlive the runner.
  process.on('disconnect', () => {
    void (server?.stop() ?? Promise.resolve()).finally(() => process.exit(0));
  });
  process.on('message', (m: Partial<Start> & { stats?: number; stop?: boolean }) => {
    if (m.root && m.env) {
      void startGitHttpBackend(m.root, m.env).then((s) => {
        server = s;
        process.send?.({ url: s.url });
      });
    } else if (m.stats !== undefined && server) {
      process.send?.({ id: m.stats, requests: server.requests.length, infoRefs: server.requests.filter((r) => r.path.endsWith('/info/refs')).length });
    } else if (m.stop) {
      void (server?.stop() ?? Promise.resolve()).finally(() => process.exit(0));
    }
  });
};

if (import.meta.main) serve();
