/**
 * Writes k8s/ from the registry, so the kustomization installs exactly what `branch-follower
 * apply` would. `--check` writes nothing and exits 1 when a file is stale (for CI).
 *
 *   npx node scripts/render-k8s.ts [--registry config/cicd-branch-followers.yaml] [--out k8s] [--check]
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parse } from 'yaml';
import { formatInputError, parseRegistry } from '../src/core/registry.ts';
import { readRegistryFiles, renderManifestFiles } from '../src/adapters/kubernetes/manifests.ts';

const { values } = parseArgs({
  options: {
    registry: { type: 'string', default: 'config/cicd-branch-followers.yaml' },
    out: { type: 'string', default: 'k8s' },
    check: { type: 'boolean', default: false },
  },
});
const registryPath = values.registry;
const parsed = parseRegistry(registryPath, parse(await readFile(registryPath, 'utf8')));
if (!parsed.ok) {
  for (const e of parsed.errors) console.error(formatInputError(e));
  process.exit(2);
}
const files = renderManifestFiles(parsed.value, { registryFiles: await readRegistryFiles(registryPath) });
const stale: string[] = [];
for (const [name, text] of Object.entries(files)) {
  const path = join(values.out, name);
  const current = await readFile(path, 'utf8').catch(() => null);
  if (current === text) continue;
  stale.push(path);
  if (!values.check) await writeFile(path, text);
}
if (values.check && stale.length > 0) {
  console.error(`stale, run \`npx node scripts/render-k8s.ts\`: ${stale.join(', ')}`);
  process.exit(1);
}
console.log(stale.length === 0 ? `${values.out}/ is up to date` : `wrote ${stale.join(', ')}`);
