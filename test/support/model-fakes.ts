// The parts of the model-based fault suite's world that stand outside both drivers: the git
// mirror's branches (a RefReader the model moves), the targets (a TargetReader the model's
// deploys write), and recording notifier, log and pipeline ports.
import { createHash } from 'node:crypto';
import type { SourceObservation, TargetObservation } from '../../src/core/observe.ts';
import type { Notification } from '../../src/core/notifications.ts';
import type { StageReading } from '../../src/core/fold.ts';
import type { LogReader, Notifier, PipelineReader, RefReader, TargetReader } from '../../src/adapters/ports.ts';

export type Branch = { repo: string; branch: string; /** Every sha the branch ever pointed at, oldest first. */ shas: string[]; head: string | null };

export const shaOf = (text: string): string => createHash('sha1').update(text).digest('hex');

/** The mirror as the model sees it: branches that move, and repositories that may be unreachable. */
export class Mirror {
  readonly branches: Branch[];
  readonly unreachable = new Set<string>();
  private commits = 0;
  /** Calls of readMany and the repositories each asked for, for the one-read-per-repository check. */
  readonly reads: string[][] = [];

  constructor(branches: readonly { repo: string; branch: string }[]) {
    this.branches = branches.map((b) => {
      const first = shaOf(`${b.repo}@${b.branch}#0`);
      return { ...b, shas: [first], head: first };
    });
  }

  branchOf(repo: string, branch: string): Branch | undefined {
    return this.branches.find((b) => b.repo === repo && b.branch === branch);
  }

  push(b: Branch): string {
    const sha = shaOf(`${b.repo}@${b.branch}#${++this.commits}`);
    b.shas.push(sha);
    b.head = sha;
    return sha;
  }

  /** Moves the branch back to an older commit it held (a force-push), or does nothing if there is none. */
  forcePushBack(b: Branch, back: number): string | null {
    const older = b.shas.filter((s) => s !== b.head);
    if (older.length === 0) return null;
    const sha = older[Math.max(0, older.length - 1 - (back % older.length))] as string;
    b.head = sha;
    return sha;
  }

  deleteBranch(b: Branch): void {
    b.head = null;
  }

  refReader(): RefReader {
    return {
      readMany: async (requests) => {
        this.reads.push(requests.map((r) => r.repo));
        const out = new Map<string, Map<string, SourceObservation>>();
        for (const r of requests) {
          const m = new Map<string, SourceObservation>();
          for (const branch of r.branches) {
            const b = this.branchOf(r.repo, branch);
            m.set(
              branch,
              this.unreachable.has(r.repo)
                ? { kind: 'unreachable', message: `git ls-remote ${r.repo}: connection refused (model)` }
                : !b || b.head === null
                  ? { kind: 'missing', repo: r.repo, branch }
                  : { kind: 'ok', sha: b.head },
            );
          }
          out.set(r.repo, m);
        }
        return out;
      },
    };
  }
}

/** What each follower's target runs: written by the model's successful deploys. */
export class Targets {
  readonly current = new Map<string, string | null>();
  /** Every sha each target ever reported. */
  readonly ever = new Map<string, Set<string>>();
  unreadable = false;

  set(id: string, sha: string | null): void {
    this.current.set(id, sha);
    if (sha) {
      const s = this.ever.get(id) ?? new Set<string>();
      s.add(sha);
      this.ever.set(id, s);
    }
  }

  reader(): TargetReader {
    return {
      readMany: async (requests) => {
        const out = new Map<string, TargetObservation>();
        for (const r of requests) {
          out.set(r.key, this.unreadable ? { kind: 'unreadable', message: 'target API unavailable (model)' } : { kind: 'ok', sha: this.current.get(r.key) ?? null });
        }
        return out;
      },
    };
  }
}

export class Notifications {
  readonly sent: Notification[] = [];
  notifier(): Notifier {
    return { notify: async (n) => void this.sent.push(n) };
  }
}

export const noLogs: LogReader = { logs: async () => '' };

/** The suite's followers check only `trigger` and `target`; a pipeline read would be a bug. */
export const noPipelines: PipelineReader = {
  readMany: async (requests) => new Map<string, StageReading>(requests.map((r) => [r.key, { result: 'FAILURE', detail: 'no pipelines in the model' }])),
};
