// Kubernetes resource quantities as bytes, for the memory limits the manifests ship (`512Mi`):
// the suffixes of the Kubernetes quantity format that memory is written in.
const FACTORS: Readonly<Record<string, number>> = {
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
};

/** Bytes of a memory quantity such as `512Mi` or `1G`; throws on anything else, naming it. */
export const quantityBytes = (q: string): number => {
  const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(q);
  const factor = m ? FACTORS[m[2] ?? ''] : undefined;
  if (!m || factor === undefined) throw new Error(`not a memory quantity the bench reads: ${JSON.stringify(q)}`);
  return Number(m[1]) * factor;
};
