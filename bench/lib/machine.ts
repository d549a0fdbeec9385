// What the figures were measured on: they mean little without it.
import { readFile } from 'node:fs/promises';
import { availableParallelism, cpus, freemem, loadavg, release, totalmem, type } from 'node:os';
import { run } from './proc.ts';

export type Machine = {
  cpuModel: string;
  nproc: number;
  memTotalGiB: number;
  memFreeGiB: number;
  os: string;
  node: string;
  git: string;
  kubectl: string | null;
  /** 1, 5 and 15 minute load averages when the run started: a busy machine bends every figure. */
  loadAverage: number[];
  /** `free -h` as printed, when the tool is there. */
  freeH: string | null;
};

const gib = (bytes: number): number => Math.round((bytes / 2 ** 30) * 10) / 10;

export const describeMachine = async (): Promise<Machine> => {
  const cpuinfo = await readFile('/proc/cpuinfo', 'utf8').catch(() => '');
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? cpus()[0]?.model ?? 'unknown';
  const git = await run('git', ['--version']).catch(() => null);
  const kubectl = await run('kubectl', ['version', '--client', '-o', 'json']).catch(() => null);
  let kubectlVersion: string | null = null;
  if (kubectl && kubectl.code === 0) {
    try {
      kubectlVersion = (JSON.parse(kubectl.stdout) as { clientVersion?: { gitVersion?: string } }).clientVersion?.gitVersion ?? null;
    } catch {
      kubectlVersion = null;
    }
  }
  const free = await run('free', ['-h']).catch(() => null);
  return {
    cpuModel: model.trim(),
    nproc: availableParallelism(),
    memTotalGiB: gib(totalmem()),
    memFreeGiB: gib(freemem()),
    os: `${type()} ${release()}`,
    node: process.version,
    git: git?.stdout.trim().replace(/^git version /, '') ?? 'unknown',
    kubectl: kubectlVersion,
    loadAverage: loadavg().map((x) => Math.round(x * 100) / 100),
    freeH: free && free.code === 0 ? free.stdout.trimEnd() : null,
  };
};
