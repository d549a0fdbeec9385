import { readFile } from 'node:fs/promises';

const errCode = (e: unknown): string | undefined => (e as NodeJS.ErrnoException | null)?.code;

/** Signal 0 probes a pid without touching it; EPERM means it exists but belongs to someone else. */
export const pidAlive = (pid: number): boolean => {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return errCode(e) === 'EPERM';
  }
};

/**
 * Alive and not a zombie. An exited process whose parent has not reaped it (an orphan under an
 * init that does not reap, as in some containers) still answers signal 0.
 */
export const isRunning = async (pid: number): Promise<boolean> => {
  if (!pidAlive(pid)) return false;
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // The state letter follows the parenthesised command name, which may itself hold spaces or ')'.
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch (e) {
    return errCode(e) !== 'ENOENT' || !(await hasProc());
  }
};

let procProbe: Promise<boolean> | null = null;
/** Whether this system has a Linux-style /proc to ask; elsewhere liveness probes are all there is. */
const hasProc = (): Promise<boolean> =>
  (procProbe ??= readFile('/proc/self/stat').then(
    () => true,
    () => false,
  ));

/**
 * Whether `pid` is still the process we recorded. A bare liveness probe is fooled by a reused
 * pid and by a zombie awaiting its parent's wait(); on Linux /proc tells both apart: a zombie has
 * an empty command line, and a reused pid's arguments do not pass `isOurs`.
 * Elsewhere (no /proc) it falls back to the liveness probe.
 */
export const processMatches = async (pid: number, isOurs: (args: string[]) => boolean): Promise<boolean> => {
  if (!pidAlive(pid)) return false;
  try {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8');
    return cmdline !== '' && isOurs(cmdline.split('\0'));
  } catch (e) {
    // No entry for the pid: it is gone, unless this system has no /proc at all.
    return errCode(e) !== 'ENOENT' || !(await hasProc());
  }
};

/** Sends a signal to a whole process group, then to the pid alone; a missing target is fine. */
export const signalGroup = (pid: number, signal: NodeJS.Signals): boolean => {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  for (const target of [-pid, pid]) {
    try {
      process.kill(target, signal);
      return true;
    } catch {
      // ESRCH: no such group (or process); try the next form.
    }
  }
  return false;
};

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
