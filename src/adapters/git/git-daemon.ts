import { connect, type Socket } from 'node:net';
import { FLUSH_PKT, MAX_PKT_LENGTH, encodePkt } from './pkt-line.ts';
import { lsRefsRequest, parseLsRefs, parseV2Capabilities } from './protocol-v2.ts';
import { OBJECT_ID_WIDTH, parseAdvertisement } from './ref-advertisement.ts';

/**
 * Reads a git:// mirror repository's refs over git's native transport from this process
 * (gitprotocol-pack(5) "git Transport", gitprotocol-v2(5)): one TCP connection, the request
 * `git-upload-pack /<path>\0host=<host>\0\0version=2\0`, then either the v2 capability
 * advertisement (answered with one `ls-refs` for just the wanted heads) or, from a server that
 * does not speak v2, the v0 ref advertisement. Forking `git ls-remote` per repository from a
 * large Node process cost a tick 2.6-3.2x its git floor; the bytes are the same.
 *
 * The guarantees of the git path hold: one deadline for the whole read (the socket is
 * destroyed past it), a cap on the bytes taken, and an answer that is not exactly what the
 * protocol allows is not trusted. A daemon's `ERR` line (repository not exported or not found)
 * makes the repository unreachable, with its message: git:// carries no credentials to leak.
 */

export type DaemonResult =
  /** `bytes`: bytes received from the daemon over the read. */
  | { kind: 'refs'; refs: ReadonlyMap<string, string>; protocol: 'v0' | 'v2'; bytes: number }
  | { kind: 'unreachable'; message: string }
  | { kind: 'untrusted'; message: string };

export type DaemonReadOptions = {
  /** One deadline for the whole read, connection included. */
  timeoutMs: number;
  /** Past this many received bytes the answer is not trusted. */
  maxBytes: number;
  /** The branches wanted: protocol v2 asks for just their heads. */
  branches: readonly string[];
  /** `auto` (default) asks for protocol v2; `v0` sends the plain request an old client sends. */
  protocol?: 'auto' | 'v0';
  /** Shared by the reads of one mirror: bounds its connections not yet answered (see `createConnectGate`). */
  gate?: ConnectGate;
};

export type ConnectGate = { enter(): Promise<void>; leave(): void };

/**
 * `git daemon` listens with a backlog of 5 and forks between accepts: a burst of connections
 * beyond that overflows its accept queue, and each dropped one waits for the kernel to resend
 * its SYN (1 s and more), which made 8 parallel reads slower than one at a time. The gate lets
 * at most `limit` connections wait for the daemon's first byte at once; one that has been
 * answered (or failed) no longer counts. A forked `git ls-remote` never met this: forking
 * spaced its connections out.
 */
export const DAEMON_UNANSWERED_LIMIT = 4;
export const createConnectGate = (limit = DAEMON_UNANSWERED_LIMIT): ConnectGate & { peak(): number } => {
  let inside = 0;
  let peak = 0;
  const waiting: (() => void)[] = [];
  return {
    peak: () => peak,
    async enter() {
      if (inside >= limit) await new Promise<void>((resolve) => waiting.push(resolve));
      else inside++;
      peak = Math.max(peak, inside);
    },
    leave() {
      const next = waiting.shift();
      // The slot passes straight to the next waiter, so `inside` stays as it is.
      if (next !== undefined) next();
      else inside--;
    },
  };
};

export const DEFAULT_DAEMON_PORT = 9418;

/**
 * The request line that opens a git:// read, as git's connect.c writes it: the service and the
 * path, then NUL-separated `host=`, and after a second NUL the extra parameters a v2 client adds
 * (a daemon that does not know them ignores them and answers v0).
 */
export const daemonRequest = (repoUrl: string, protocol: 'auto' | 'v0' = 'auto'): Buffer => {
  const url = new URL(repoUrl);
  if (url.protocol !== 'git:') throw new TypeError(`not a git:// URL: ${url.protocol}`);
  // git decodes the URL's escapes before sending the path.
  const path = decodeURIComponent(url.pathname);
  if (/[\x00-\x1f]/.test(path) || /[\x00-\x1f]/.test(url.host)) throw new TypeError('a git:// path or host cannot hold control characters');
  return encodePkt(`git-upload-pack ${path}\0host=${url.host}\0${protocol === 'auto' ? '\0version=2\0' : ''}`);
};

/**
 * Why `git ls-remote` must read a git:// mirror instead of this process, or null: git reaches a
 * git:// host through a proxy command when its environment names one (`GIT_PROXY_COMMAND`, or
 * `core.gitProxy` given as configuration by variable); this reader connects directly.
 */
export const daemonNeedsGit = (env: NodeJS.ProcessEnv): string | null => {
  if ((env.GIT_PROXY_COMMAND ?? '') !== '') return 'GIT_PROXY_COMMAND is set';
  if (/core\.gitproxy/i.test(env.GIT_CONFIG_PARAMETERS ?? '')) return 'GIT_CONFIG_PARAMETERS sets core.gitProxy';
  for (const [key, value] of Object.entries(env)) {
    if (/^GIT_CONFIG_KEY_\d+$/.test(key) && value?.toLowerCase() === 'core.gitproxy') return `${key} sets core.gitProxy`;
  }
  return null;
};

const HEX4 = /^[0-9a-fA-F]{4}$/;

/**
 * Received bytes, grown by doubling (a large v0 advertisement arrives in many chunks), and a
 * scan of its pkt-line headers that finds where each flush-terminated answer ends.
 */
class Received {
  private store = Buffer.allocUnsafe(4096);
  length = 0;
  // Start of the next packet header not yet scanned; start of the answer not yet taken.
  private scan = 0;
  private taken = 0;

  append(chunk: Buffer): void {
    if (this.length + chunk.length > this.store.length) {
      const grown = Buffer.allocUnsafe(Math.max(this.store.length * 2, this.length + chunk.length));
      this.store.copy(grown, 0, 0, this.length);
      this.store = grown;
    }
    chunk.copy(this.store, this.length);
    this.length += chunk.length;
  }

  /** `flush`: an answer up to a flush packet is complete; `bad`: the framing is broken; null: more bytes are needed. */
  answerEnd(): 'flush' | 'bad' | null {
    while (this.length - this.scan >= 4) {
      const header = this.store.toString('latin1', this.scan, this.scan + 4);
      if (!HEX4.test(header)) return 'bad';
      const len = Number.parseInt(header, 16);
      if (len === 0) {
        this.scan += 4;
        return 'flush';
      }
      if (len === 3 || len > MAX_PKT_LENGTH) return 'bad';
      if (len < 4) {
        this.scan += 4;
        continue;
      }
      if (this.length - this.scan < len) return null;
      this.scan += len;
    }
    return null;
  }

  /** The answer scanned so far (to its flush, or all that came when it never framed), and moves past it. */
  take(all: boolean): Buffer {
    const end = all ? this.length : this.scan;
    const out = Buffer.from(this.store.subarray(this.taken, end));
    this.taken = end;
    this.scan = Math.max(this.scan, end);
    return out;
  }
}

/** The first packet's text when it is a daemon's `ERR <message>` line, else null. */
const errLine = (answer: Buffer): string | null => {
  if (answer.length < 4 || !HEX4.test(answer.toString('latin1', 0, 4))) return null;
  const len = Number.parseInt(answer.toString('latin1', 0, 4), 16);
  if (len < 4 || len > answer.length) return null;
  const text = answer.toString('utf8', 4, len).replace(/\n$/, '');
  return text.startsWith('ERR ') ? text.slice(4) : null;
};

export const readDaemonRefs = async (repoUrl: string, opts: DaemonReadOptions): Promise<DaemonResult> => {
  const url = new URL(repoUrl);
  const unreachable = (why: string): { kind: 'unreachable'; message: string } => ({ kind: 'unreachable', message: `${repoUrl}: ${why}` });
  let request: Buffer;
  try {
    request = daemonRequest(repoUrl, opts.protocol ?? 'auto');
  } catch (e) {
    return unreachable((e as Error).message);
  }
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const port = url.port === '' ? DEFAULT_DAEMON_PORT : Number(url.port);

  let gated = false;
  if (opts.gate !== undefined) {
    await opts.gate.enter();
    gated = true;
  }
  const leaveGate = (): void => {
    if (gated) {
      gated = false;
      opts.gate!.leave();
    }
  };
  const received = new Received();
  let ended = false;
  let failure: Error | null = null;
  let timedOut = false;
  let tooLarge = false;
  let wake: (() => void) | null = null;
  const poke = (): void => {
    const w = wake;
    wake = null;
    w?.();
  };
  const socket: Socket = connect({ host, port });
  const timer = setTimeout(() => {
    timedOut = true;
    socket.destroy();
    poke();
  }, opts.timeoutMs);
  socket.on('data', (chunk: Buffer) => {
    leaveGate();
    if (tooLarge) return;
    if (received.length + chunk.length > opts.maxBytes) {
      tooLarge = true;
      socket.destroy();
    } else received.append(chunk);
    poke();
  });
  socket.on('error', (e) => {
    failure = e;
    poke();
  });
  socket.on('end', () => {
    ended = true;
    poke();
  });
  socket.on('close', () => {
    ended = true;
    poke();
  });

  type Answer = { kind: 'answer'; bytes: Buffer; complete: boolean } | Exclude<DaemonResult, { kind: 'refs' }>;
  /** The next answer up to its flush packet, or what came before the connection ended. */
  const nextAnswer = async (step: string): Promise<Answer> => {
    for (;;) {
      if (tooLarge) return { kind: 'untrusted', message: `${repoUrl}: the daemon answered more than ${opts.maxBytes} bytes; the answer was not trusted` };
      if (timedOut) return unreachable(`${step} timed out after ${opts.timeoutMs} ms and the connection was closed`);
      const end = received.answerEnd();
      if (end === 'flush') return { kind: 'answer', bytes: received.take(false), complete: true };
      if (end === 'bad') return { kind: 'answer', bytes: received.take(true), complete: false };
      if (failure !== null) return unreachable(`${step} failed: ${(failure as Error).message}`);
      if (ended) return { kind: 'answer', bytes: received.take(true), complete: false };
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
    }
  };
  /** A daemon's error line, or an answer cut short: both end the read. */
  const refused = (answer: Buffer, complete: boolean): DaemonResult | null => {
    const err = errLine(answer);
    if (err !== null) return unreachable(`the daemon answered an error: ${JSON.stringify(err.slice(0, 300))}`);
    if (answer.length === 0) return unreachable('the daemon closed the connection without answering');
    return complete ? null : unreachable(`the daemon's answer is not a pkt-line answer ending in a flush packet (${answer.length} bytes${ended ? ', then the connection closed' : ''})`);
  };

  try {
    socket.write(request);
    const first = await nextAnswer('reading the capability advertisement');
    if (first.kind !== 'answer') return first;
    const stop = refused(first.bytes, first.complete);
    if (stop !== null) return stop;
    const caps = parseV2Capabilities(first.bytes);
    if (caps !== null) {
      if (!caps.ok) return unreachable(caps.message);
      // A v2 server that cannot list refs cannot fall back to v0 on the same connection.
      const format = caps.value.objectFormat;
      if (format !== null && OBJECT_ID_WIDTH[format] === undefined) {
        return { kind: 'untrusted', message: `${repoUrl}: the repository uses object format ${JSON.stringify(format)}: only sha1 and sha256 are known` };
      }
      if (!caps.value.lsRefs) return unreachable('the daemon speaks protocol v2 without the ls-refs command');
      socket.write(lsRefsRequest(caps.value, opts.branches));
      const answer = await nextAnswer('reading the ls-refs answer');
      if (answer.kind !== 'answer') return answer;
      const stopped = refused(answer.bytes, answer.complete);
      if (stopped !== null) return stopped;
      const refs = parseLsRefs(answer.bytes, caps.value.objectFormat);
      if (!refs.ok) return unreachable(refs.message);
      return { kind: 'refs', refs: refs.value, protocol: 'v2', bytes: received.length };
    }
    const ad = parseAdvertisement(first.bytes, { serviceLine: false });
    if (!ad.ok) return ad.kind === 'unsupported' ? { kind: 'untrusted', message: `${repoUrl}: ${ad.message}` } : unreachable(ad.message);
    return { kind: 'refs', refs: ad.refs, protocol: 'v0', bytes: received.length };
  } finally {
    leaveGate();
    clearTimeout(timer);
    // A flush-pkt ends the exchange politely (v0: no wants; v2: no further command); then close.
    if (!socket.destroyed && !timedOut && !tooLarge && failure === null && !ended) socket.end(FLUSH_PKT, () => socket.destroy());
    else socket.destroy();
  }
};
