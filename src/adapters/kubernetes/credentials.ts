import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';

/**
 * Whether any Kubernetes credentials are at hand, in kubectl's order, without reading them:
 * `plan` shows everything it can without a cluster, and must not pay for (or fail on) the
 * driver when there is nothing to connect with.
 */

export type CredentialSource = 'kubeconfig-flag' | 'KUBECONFIG' | 'in-cluster' | 'default-file';

export const NO_CREDENTIALS_HINT = 'no cluster credentials (--kubeconfig, KUBECONFIG, in-cluster)';

/** No kubeconfig, no KUBECONFIG, no service account, no ~/.kube/config. */
export class NoCredentialsError extends Error {
  override name = 'NoCredentialsError';
}

export const credentialSource = (o: { kubeconfig?: string; env: NodeJS.ProcessEnv }): CredentialSource | null => {
  if (o.kubeconfig) return 'kubeconfig-flag';
  if (o.env.KUBECONFIG) return 'KUBECONFIG';
  if (o.env.KUBERNETES_SERVICE_HOST) return 'in-cluster';
  return existsSync(path.join(o.env.HOME || homedir(), '.kube', 'config')) ? 'default-file' : null;
};
