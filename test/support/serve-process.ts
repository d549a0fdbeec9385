import { spawn } from 'node:child_process';
import { CLI } from './cli-world.ts';

export type ServeProcess = {
  /** `http://host:port`, as the server printed it. */
  url: string;
  /** Everything it wrote to stderr so far. */
  stderr(): string;
  /** SIGTERM, as a pod's stop sends; resolves with the exit code. */
  stop(): Promise<number | null>;
};

/**
 * `branch-follower serve` as a real subprocess, on a free port: resolves once it says where it
 * listens. Use it to test what a forge, Prometheus or a browser sees.
 */
export const startServe = (args: readonly string[], o: { cwd: string; env?: NodeJS.ProcessEnv }): Promise<ServeProcess> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, 'serve', '--listen', '127.0.0.1:0', ...args], { cwd: o.cwd, env: { ...process.env, NO_COLOR: '1', ...o.env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`serve did not start within 60 s: ${err}`));
    }, 60_000);
    child.stderr.on('data', (b: Buffer) => {
      err += b.toString();
      const m = /serving on (http:\/\/\S+?:\d+)/.exec(err);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve({
          url: m[1],
          stderr: () => err,
          stop: () => {
            child.kill('SIGTERM');
            return exited;
          },
        });
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited (${code}) before listening: ${err}`));
    });
  });
