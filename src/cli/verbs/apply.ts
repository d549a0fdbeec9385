import { localStateDir } from '../../loops/compose.ts';
import { defineVerb } from '../verb.ts';

export const apply = defineVerb({
  name: 'apply',
  summary: 'deploy or update the controller on the cluster',
  usage: 'apply [--confirm] [--wait]',
  description:
    'Renders the controller manifests from the registry and server-side applies them; creates the arming ConfigMap disarmed only when it is absent, never overwriting it. Without --confirm it shows the diff against the cluster and changes nothing. On the local driver there is nothing to deploy.',
  flags: [
    { name: 'confirm', help: 'really apply (without it: the diff only)' },
    { name: 'wait', help: 'with --confirm: wait until both CronJobs exist and are not suspended (up to 120 s)' },
  ],
  examples: [
    { command: 'branch-follower apply', what: 'what would change on the cluster' },
    { command: 'branch-follower apply --confirm --wait', what: 'install or update, and wait for the CronJobs' },
    { command: 'branch-follower apply --confirm --context prod -n branch-follower', what: 'another context and namespace' },
  ],
  async run(s, a) {
    const loaded = await s.registry();
    if ((await s.driver()) !== 'kubernetes') {
      s.out(`the local driver has nothing to deploy: its state lives in ${localStateDir(loaded, s.stateDir)}; schedule \`${s.hint('tick observer')}\` and \`${s.hint('tick closer')}\` (e.g. from cron) every minute.`);
      return 'ok';
    }
    const namespace = await s.namespace();
    // Loaded only here: the Kubernetes client is the heaviest part of start-up.
    const { applyController, planManifests, renderDiff } = await import('../../loops/apply.ts');
    const { kubernetesDriver } = await import('../../loops/compose.ts');
    const drv = await kubernetesDriver({ loaded, ...s.cluster }, s.io.env, null);
    if (!a.flag('confirm')) {
      const diff = await planManifests(drv, loaded, namespace);
      s.out(`would apply to namespace ${namespace} (nothing changed: add --confirm to do it):\n${renderDiff(diff)}`);
      return 'ok';
    }
    s.out((await applyController(drv, loaded, namespace, { wait: a.flag('wait'), timeoutMs: 120_000 })).text);
    return 'ok';
  },
});
