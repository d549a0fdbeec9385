// One API-server double per test file, fresh namespaces per test, and adapter access that never
// really sleeps on a retry: the set-up every Kubernetes adapter suite shares.
import { afterAll, afterEach, beforeAll } from 'vitest';
import { startApiServerDouble, type ApiServerDouble } from './apiserver-double.ts';

export type K8sSuite = {
  /** The running double (valid inside tests and hooks). */
  readonly api: ApiServerDouble;
  freshNamespace(): string;
  access(): { kc: ReturnType<ApiServerDouble["connection"]>; sleep: () => Promise<void>; random: () => number };
};

export const useK8sSuite = (prefix: string): K8sSuite => {
  let api: ApiServerDouble | null = null;
  let count = 0;
  beforeAll(async () => {
    api = await startApiServerDouble();
  });
  afterAll(async () => {
    await api?.close();
  });
  afterEach(() => {
    api?.faults.clear();
  });
  const suite: K8sSuite = {
    get api(): ApiServerDouble {
      if (!api) throw new Error('the API-server double is only running inside the suite');
      return api;
    },
    freshNamespace: () => `${prefix}-${++count}`,
    access: () => ({ kc: suite.api.connection(), sleep: async () => {}, random: () => 0.5 }),
  };
  return suite;
};
