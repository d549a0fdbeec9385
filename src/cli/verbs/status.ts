import type { MirrorStatus, StatusRow } from '../../core/status-view.ts';
import type { StatusResult } from '../../loops/status.ts';
import { UsageError } from '../errors.ts';
import { abbrev, loadYamlWriter, table, TABLE_WIDTH, toJson, toYaml, wrap, type Paint } from '../format.ts';
import type { Session } from '../session.ts';
import { outputOf, defineVerb, followerFlag, intervalFlag, outputFlag, watchFlag } from '../verb.ts';
import { armingProblem } from './arming-text.ts';
import { intervalMs, watchLoop, type Wake } from './watch.ts';

const OUTPUTS = ['table', 'wide', 'json', 'yaml'] as const;
type Output = (typeof OUTPUTS)[number];

/** `next:` hints from the core name bare commands; they must act on this same installation. */
const withFlags = (s: Session, cmd: string): string => {
  const m = /^branch-follower (.*?)( \(.*\))?$/.exec(cmd);
  return m ? `${s.hint(m[1] ?? '')}${m[2] ?? ''}` : cmd;
};

export const renderStatus = (
  rows: StatusRow[],
  output: Output,
  paint: Paint,
  hint: (cmd: string) => string = (c) => c,
  mirror: MirrorStatus = { held: 0, holds: [] },
): string => {
  if (output === 'json') return toJson({ followers: rows, mirror });
  if (output === 'yaml') return toYaml({ followers: rows, mirror });
  const wide = output === 'wide';
  const sha = wide ? (x: string | null) => x ?? '-' : abbrev;
  const header = wide
    ? ['ID', 'PHASE', 'ADAPTER', 'SOURCE', 'OBSERVED', 'TARGET', 'TRIGGERED', 'SUCCEEDED', 'IN-FLIGHT', 'BUDGET', 'REASON']
    : ['ID', 'PHASE', 'SOURCE', 'OBSERVED', 'TARGET', 'TRIGGERED', 'SUCCEEDED', 'IN-FLIGHT'];
  const body = rows.map((r) => {
    const source = r.source.repo ? `${r.source.repo}@${r.source.branch}` : '-';
    // The run's name is derived from (follower, sha, attempt); -o wide shows it in full.
    const inFlight = r.inFlight ? (wide ? `${r.inFlight.kind}/${r.inFlight.name}` : `${r.inFlight.kind} a${r.inFlight.attempt}`) : '-';
    const shas = [r.source.observedSha, r.targetSha, r.lastTriggeredSha, r.lastSucceededSha].map(sha);
    return wide ? [r.id, r.phase, r.adapter, source, ...shas, inFlight, r.budget.source, r.reason] : [r.id, r.phase, source, ...shas, inFlight];
  });
  const next = rows.flatMap((r) => [wrap(`${r.id}: ${r.reason}`), ...r.next.map((n) => `  next: ${hint(n)}`)]);
  // A repository the mirror asked us to leave alone (429/503 with Retry-After) is not read before its time.
  const held = mirror.holds.map((h) => `  ${wrap(`${h.repo}: not read before ${h.until} (since ${h.since}): ${h.reason}`, TABLE_WIDTH - 2, '    ')}`);
  const pressure = mirror.held > 0 ? `\n\ngit mirror back-pressure: ${mirror.held} repositor${mirror.held === 1 ? 'y' : 'ies'} held\n${held.join('\n')}` : '';
  return `${table(header, body, { paint: { index: 1, paint }, ...(wide ? {} : { width: TABLE_WIDTH, shrink: [2] }) })}\n\n${next.join('\n')}${pressure}`;
};

const renderAll = (s: Session, r: StatusResult, output: Output): { text: string; problems: string[] } => {
  const problems = r.problems.map((p) => p.text);
  const arming = armingProblem(r.arming);
  if (arming) problems.unshift(`arming: ${arming}`);
  return { text: renderStatus(r.rows, output, s.paint, (c) => withFlags(s, c), r.mirror), problems };
};

export const status = defineVerb({
  name: 'status',
  summary: 'show each follower from the state store (--live adds fresh reads; writes nothing)',
  usage: 'status [--live] [--follower ID]... [-o table|wide|json|yaml] [-w]',
  description:
    'Reads only the state store and the arming data. The default table fits 120 columns; -o wide adds the adapter, full shas, the run name, the budget source and the reason. Under the table, each follower\'s reason and the commands to run next. Problems (corrupt stored state, malformed arming data) go to stderr; corrupt stored state makes the exit code 2.',
  flags: [
    { name: 'live', help: 'also read the git mirror, the targets and the runs now, through a dry-run tick (still writes nothing)' },
    followerFlag('only this follower', true),
    outputFlag(OUTPUTS, 'json prints { "followers": [...] }'),
    { name: 'exit-code', help: 'exit 3 when any follower needs a person (Blocked), as `git diff --exit-code` does for changes: for monitoring' },
    watchFlag('keep watching: print the view again each time it changes (on Kubernetes through a watch on the state ConfigMaps)'),
    intervalFlag,
  ],
  examples: [
    { command: 'branch-follower status', what: 'every follower, from the state store' },
    { command: 'branch-follower status -w --follower hwlab-jd01-v03', what: 'watch one follower move through its phases' },
    { command: 'branch-follower status --live -o json', what: 'fresh reads, as JSON for scripts' },
    { command: 'branch-follower status --exit-code >/dev/null || alert', what: 'monitoring: exit 3 when a follower is Blocked' },
  ],
  async run(s, a) {
    // Loaded with the verb that needs it, not by every verb's start-up (docs/performance.md, change 14).
    const { status: readStatus } = await import('../../loops/status.ts');
    const output = outputOf(a, OUTPUTS);
    if (output === 'yaml') await loadYamlWriter();
    const only = await s.followers(a.list('follower'));
    const live = a.flag('live');
    const ctx = await s.context({ dryRun: true });
    if (!a.flag('watch')) {
      const r = await readStatus(ctx, { live, only });
      const { text, problems } = renderAll(s, r, output);
      s.out(text);
      for (const p of problems) s.err(p);
      if (r.problems.some((p) => p.kind === 'corrupt')) return 'bad-input';
      return a.flag('exit-code') && r.rows.some((row) => row.phase === 'Blocked') ? 'needs-person' : 'ok';
    }
    // On Kubernetes a watch on the state ConfigMaps shows a change at once; polling stays the
    // fallback (for arming edits, and a watch the API refuses or drops).
    let wake: Wake | undefined;
    if ((await s.driver()) === 'kubernetes') {
      const { kubernetesDriver } = await import('../../loops/compose.ts');
      const { watchStateConfigMaps } = await import('../../adapters/kubernetes/state-watch.ts');
      const { kc } = await kubernetesDriver({ loaded: await s.registry(), ...s.cluster }, s.io.env, null);
      const namespace = await s.namespace();
      wake = (onChange, signal) => watchStateConfigMaps({ kc, namespace, onChange, signal, onError: s.err });
    }
    await watchLoop(
      s,
      intervalMs(a, wake ? 30 : 2),
      async () => {
        const { text, problems } = renderAll(s, await readStatus(ctx, { live, only }), output);
        return [text, ...problems.map((p) => `! ${p}`)].join('\n');
      },
      wake,
    );
    return 'ok';
  },
});
