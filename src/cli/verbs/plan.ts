import { credentialSource, NO_CREDENTIALS_HINT } from '../../adapters/kubernetes/credentials.ts';
import type { ArmingRead } from '../../core/arming.ts';
import type { TargetSpec } from '../../core/target-spec.ts';
import type { PlanFollower } from '../../loops/plan.ts';
import { UsageError, type Outcome } from '../errors.ts';
import { duration, loadYamlWriter, table, TABLE_WIDTH, toJson, toYaml } from '../format.ts';
import { outputOf, defineVerb, outputFlag } from '../verb.ts';
import { armingProblem } from './arming-text.ts';

const OUTPUTS = ['table', 'wide', 'json', 'yaml'] as const;
type Output = (typeof OUTPUTS)[number];

/** kubectl's short names, so a target reads as kubectl names it (deploy/name); -o wide has the rest. */
const SHORT_KIND: Record<string, string> = { Deployment: 'deploy', StatefulSet: 'sts', DaemonSet: 'ds', CronJob: 'cj' };

const shortTarget = (t: TargetSpec | null): string => {
  if (!t) return '-';
  switch (t.reader) {
    case 'k8s-annotation':
      return `${SHORT_KIND[t.kind] ?? t.kind.toLowerCase()}/${t.name}`;
    case 'file':
      return `file ${t.path}`;
    case 'argv-json':
      return `argv-json ${t.argv[0] ?? ''}`;
  }
};

/** The gate that stops a follower, by its name; the reason is in -o wide and the notes. */
const armingCell = (f: PlanFollower): string => {
  if (!f.arming) return 'not shown';
  if (f.arming.armed) return 'armed';
  return { 'kill-switch': 'kill-switch', allowlist: 'allowlist', 'arming-absent': 'no data', 'arming-malformed': 'malformed' }[f.arming.gate];
};

/** `trigger` always comes first (the registry requires it), so the table lists what follows it. */
const checksCell = (f: PlanFollower): string => f.checks.slice(1).join(',') || '-';

const budgetCell = (f: PlanFollower): string => `${duration(f.budgets.triggerSeconds)}/${duration(f.budgets.closeoutSeconds)}×${f.budgets.maxAttempts}`;

export const plan = defineVerb({
  name: 'plan',
  summary: 'show followers, configRef summaries, budgets, checks, arming and the manifest diff',
  usage: 'plan [-o table|wide|json|yaml]',
  description:
    'Reads the registry and the owning configs its configRefs point into; needs no cluster. The default table fits 120 columns: TARGET as kubectl names it, CHECKS the closeout checks after trigger (always first), BUDGETS trigger/closeout×attempts, ARMING the gate that stops the follower. With cluster credentials (kubernetes driver) it also reads the arming ConfigMap and diffs the controller manifests against the cluster; without them those parts say "not shown" and the exit code stays 0. A follower whose configRefs do not resolve is shown with the reason and makes the exit code 2 (bad input).',
  flags: [outputFlag(OUTPUTS, 'wide adds the adapter, the full configRef summary and the budget sources')],
  examples: [
    { command: 'branch-follower plan', what: 'the shipped registry: works with no cluster at hand' },
    { command: 'branch-follower plan --kubeconfig ~/.kube/config', what: 'also the arming gates and the manifest diff against the cluster' },
    { command: 'branch-follower plan -o json', what: 'the same as one JSON document' },
  ],
  async run(s, a) {
    // Loaded with the verb that needs it, not by every verb's start-up (docs/performance.md, change 14).
    const { planFollowers } = await import('../../loops/plan.ts');
    const output = outputOf(a, OUTPUTS);
    const loaded = await s.registry();
    const driver = await s.driver();
    const namespace = await s.namespace();
    const cluster = driver === 'kubernetes' && credentialSource({ kubeconfig: s.cluster.kubeconfig, env: s.io.env }) !== null;
    let arming: ArmingRead | null = null;
    let armingError: string | null = null;
    if (driver === 'local' || cluster) {
      try {
        arming = (await (await s.context({ dryRun: true })).ports.arming.read()).read;
      } catch (e) {
        armingError = (e as Error).message;
      }
    }
    const p = await planFollowers(loaded, arming);
    let manifests: { text: string; entries: unknown[] } | { notShown: string } | null = null;
    // An unresolvable configRef is bad input (exit 2, as for the registry itself); a cluster that
    // could not be read is a failure (exit 1).
    const unresolved = !p.ok;
    let failed = armingError !== null;
    const outcome = (): Outcome => (unresolved ? 'bad-input' : failed ? 'failed' : 'ok');
    if (driver === 'kubernetes') {
      if (!cluster) manifests = { notShown: NO_CREDENTIALS_HINT };
      else {
        try {
          // Loaded only here: the Kubernetes client is the heaviest part of start-up.
          const { planManifests, renderDiff } = await import('../../loops/apply.ts');
          const { kubernetesDriver } = await import('../../loops/compose.ts');
          const entries = await planManifests(await kubernetesDriver({ loaded, ...s.cluster }, s.io.env, null), loaded, namespace);
          manifests = { text: renderDiff(entries), entries };
        } catch (e) {
          s.err(`cannot diff the manifests against the cluster: ${(e as Error).message}`);
          failed = true;
        }
      }
    }
    const head = { registry: loaded.display, driver, namespace, gitMirror: loaded.registry.controller.gitMirror.readUrl };
    if (output === 'json' || output === 'yaml') {
      const doc = {
        ...head,
        followers: p.followers,
        arming: arming ? { state: arming.kind, ...(arming.kind === 'malformed' ? { where: arming.where, message: arming.message } : {}) } : { state: 'not-shown', detail: armingError ?? NO_CREDENTIALS_HINT },
        manifests: manifests === null ? null : 'notShown' in manifests ? { notShown: manifests.notShown } : manifests.entries,
      };
      if (output === 'yaml') await loadYamlWriter();
      s.out(output === 'json' ? toJson(doc) : toYaml(doc));
      return outcome();
    }
    const wide = output === 'wide';
    const lines = [
      `registry: ${loaded.display} (driver ${driver}${driver === 'kubernetes' ? `, namespace ${namespace}` : ''})`,
      `git mirror: ${head.gitMirror}`,
      `followers: ${p.followers.length}`,
      '',
    ];
    const header = wide ? ['ID', 'ADAPTER', 'CONFIGREF SUMMARY', 'CHECKS', 'BUDGETS', 'BUDGET SOURCE', 'ARMING'] : ['ID', 'SOURCE', 'TARGET', 'CHECKS', 'BUDGETS', 'ARMING'];
    const rows = p.followers.map((f) => {
      const src = f.source ? `${f.source.repo}@${f.source.branch}` : '-';
      return wide
        ? [f.id, f.adapter, f.summary ?? `UNRESOLVED ${f.problem}`, f.checks.join(','), budgetCell(f), f.budgets.source, f.arming ? (f.arming.armed ? 'armed' : f.arming.reason) : 'not shown']
        : [f.id, src, f.resolved ? shortTarget(f.target) : 'UNRESOLVED (below)', checksCell(f), budgetCell(f), armingCell(f)];
    });
    lines.push(table(header, rows, wide ? {} : { width: TABLE_WIDTH, shrink: [2, 1] }));
    const notes: string[] = [];
    for (const f of p.followers) if (!f.resolved) notes.push(`${f.id}: UNRESOLVED ${f.problem} (it would be Blocked)`);
    if (arming === null) notes.push(`arming: not shown: ${armingError ?? NO_CREDENTIALS_HINT}`);
    else {
      const problem = armingProblem(arming);
      if (problem) notes.push(`arming: ${problem}`);
    }
    if (manifests && 'notShown' in manifests) notes.push(`manifests: not shown: ${manifests.notShown}`);
    if (notes.length) lines.push('', ...notes);
    if (manifests && 'text' in manifests) lines.push('', `manifests against the live cluster (namespace ${namespace}):`, manifests.text);
    s.out(lines.join('\n'));
    return outcome();
  },
});
