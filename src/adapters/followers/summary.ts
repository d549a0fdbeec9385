import type { TargetSpec } from '../../core/target-spec.ts';

/** One line naming what a target reader looks at, never its full configuration. */
export const targetSummary = (t: TargetSpec): string => {
  switch (t.reader) {
    case 'argv-json':
      return `argv-json ${t.argv[0]}${t.argv.length > 1 ? ' …' : ''}`;
    case 'file':
      return `file ${t.path}`;
    case 'k8s-annotation':
      return `${t.kind} ${t.namespace}/${t.name} annotation ${t.annotation}`;
  }
};
