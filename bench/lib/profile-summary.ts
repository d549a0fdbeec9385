// Self time of a V8 CPU profile (node --cpu-prof) per function and per package.

export type CpuProfile = {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  samples: number[];
  timeDeltas: number[];
};

/** Self time per function and per package (node_modules package, node internals, the project's own files). */
export const summarizeProfile = (p: CpuProfile, top: number): string => {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  p.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (p.timeDeltas[i] ?? 0)));
  const fns = new Map<string, number>();
  const groups = new Map<string, number>();
  let total = 0;
  for (const [id, us] of selfUs) {
    total += us;
    const f = byId.get(id)?.callFrame;
    const url = f?.url ?? '';
    const short = url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*?\/(src|bench|test)\//, '$1/');
    fns.set(`${f?.functionName || '(anonymous)'} ${short}${url ? `:${(f?.lineNumber ?? 0) + 1}` : ''}`, (fns.get(`${f?.functionName || '(anonymous)'} ${short}${url ? `:${(f?.lineNumber ?? 0) + 1}` : ''}`) ?? 0) + us);
    const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)?.[1];
    const group = pkg ? `package ${pkg}` : url.startsWith('node:') ? 'node internals (module loading, fs, ...)' : /\/(src)\//.test(url) ? 'project src/' : url === '' ? `(${f?.functionName ?? 'native'})` : 'other';
    groups.set(group, (groups.get(group) ?? 0) + us);
  }
  const fmt = (m: Map<string, number>, k: number) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, k)
      .map(([name, us]) => `${(us / 1000).toFixed(1).padStart(9)} ms  ${((us / total) * 100).toFixed(1).padStart(5)} %  ${name}`)
      .join('\n');
  return `sampled ${(total / 1000).toFixed(0)} ms on the main thread\n\nby group:\n${fmt(groups, 15)}\n\nby function (self time):\n${fmt(fns, top)}`;
};
