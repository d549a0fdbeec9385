// The figures of a model-based fault suite run: how much was exercised and what was found. Printed
// once per suite and written to test-results/ for docs/reliability.md.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export class Figures {
  readonly flavour: string;
  sequences = 0;
  readonly counts: Record<string, number> = {};
  readonly crashes: Record<string, number> = {};
  readonly hooks: Record<string, number> = {};
  readonly apiFaults: Record<string, number> = {};
  readonly rounds: number[] = [];
  private readonly started = Date.now();

  constructor(flavour: string) {
    this.flavour = flavour;
  }

  count(name: string, n = 1): void {
    this.counts[name] = (this.counts[name] ?? 0) + n;
  }

  crash(call: string, when: 'before' | 'after'): void {
    const k = `${when} ${call}`;
    this.crashes[k] = (this.crashes[k] ?? 0) + 1;
    this.count('crashes');
  }

  hook(kind: string): void {
    this.hooks[kind] = (this.hooks[kind] ?? 0) + 1;
  }

  apiFault(kind: string, n = 1): void {
    this.apiFaults[kind] = (this.apiFaults[kind] ?? 0) + n;
  }

  converged(round: number): void {
    this.rounds.push(round);
  }

  summary(): Record<string, unknown> {
    const faults = (this.counts['crashes'] ?? 0) + Object.values(this.apiFaults).reduce((a, b) => a + b, 0) + (this.counts['racingWrites'] ?? 0) + (this.counts['mirrorOutages'] ?? 0) + (this.counts['targetOutages'] ?? 0);
    return {
      flavour: this.flavour,
      sequences: this.sequences,
      steps: this.counts['steps'] ?? 0,
      faultsInjected: faults,
      violations: this.counts['violations'] ?? 0,
      convergence: {
        sequences: this.rounds.length,
        maxRounds: this.rounds.length ? Math.max(...this.rounds) : null,
        meanRounds: this.rounds.length ? Number((this.rounds.reduce((a, b) => a + b, 0) / this.rounds.length).toFixed(2)) : null,
      },
      counts: Object.fromEntries(Object.entries(this.counts).sort()),
      crashPoints: Object.fromEntries(Object.entries(this.crashes).sort()),
      midTickActions: Object.fromEntries(Object.entries(this.hooks).sort()),
      apiFaults: Object.fromEntries(Object.entries(this.apiFaults).sort()),
      seconds: Number(((Date.now() - this.started) / 1000).toFixed(1)),
    };
  }

  /** One line to the console, the whole record to test-results/model-faults-<flavour>.json. */
  async publish(): Promise<Record<string, unknown>> {
    const s = this.summary();
    console.log(
      `model fault suite (${this.flavour}): ${s['sequences']} sequences, ${s['steps']} steps, ${s['faultsInjected']} faults injected, ${s['violations']} violations; ${JSON.stringify(s)}`,
    );
    const dir = join(import.meta.dirname, '..', '..', 'test-results');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, `model-faults-${this.flavour}.json`), `${JSON.stringify(s, null, 2)}\n`);
    return s;
  }
}

/**
 * Sequences per flavour: 200 on the local driver and 80 on the Kubernetes one (280 in all) by
 * default; FAULT_RUNS sets the total, split in the same proportion.
 */
export const faultRuns = (flavour: 'local' | 'kubernetes'): number => {
  const raw = Number(process.env.FAULT_RUNS ?? '');
  const total = Number.isFinite(raw) && raw >= 2 ? Math.floor(raw) : 280;
  const local = Math.round((total * 5) / 7);
  return flavour === 'local' ? local : total - local;
};

/** fast-check parameters, with FAULT_SEED (from a failure's report) to draw the same sequences again. */
export const replay = (p: { numRuns: number }): { numRuns: number; seed?: number } => {
  const seed = process.env.FAULT_SEED;
  return { ...p, ...(seed ? { seed: Number(seed) } : {}) };
};
