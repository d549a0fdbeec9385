// Whether the writer of a pending dispatch is gone: real processes on this machine (a reaped
// child's pid, this boot's id) and pods on the API-server double.
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { POD_NAME_ENV, POD_UID_ENV, createKubernetesWriterProbe } from '../../src/adapters/kubernetes/writer.ts';
import { BOOT_ID_FILE, createLocalWriterProbe, processLiveness, readBootId, thisProcess } from '../../src/adapters/local/writer.ts';
import type { Writer } from '../../src/core/state.ts';
import { useK8sSuite } from '../support/k8s-suite.ts';

const exited = async (): Promise<number> => {
  const p = spawn('true', [], { stdio: 'ignore' });
  await new Promise((r) => p.once('exit', r));
  return p.pid!;
};

describe('a process writer (local driver)', () => {
  it('names this process by host, pid and the kernel boot id', async () => {
    const me = await thisProcess();
    expect(me.bootId).toBe((await readFile(BOOT_ID_FILE, 'utf8')).trim());
    expect(createLocalWriterProbe(me).self).toEqual({ kind: 'process', host: hostname(), pid: process.pid, bootId: me.bootId });
    // Without a boot id a pid cannot be told from its reuse after a reboot: no writer is recorded.
    expect(await readBootId('/nonexistent/boot_id')).toBeNull();
    expect(createLocalWriterProbe({ ...me, bootId: null }).self).toBeNull();
  });

  it('is gone when its pid has exited, or its machine has booted since; alive while it runs; unknown elsewhere', async () => {
    const me = await thisProcess();
    const bootId = me.bootId as string;
    const w = (pid: number, over: Partial<Writer & { kind: 'process' }> = {}): Writer => ({ kind: 'process', host: me.host, pid, bootId, ...over });
    const dead = await exited();
    const live = spawn('sleep', ['300'], { stdio: 'ignore' });
    try {
      expect(await processLiveness(me, w(dead))).toBe('gone');
      expect(await processLiveness(me, w(live.pid!))).toBe('alive');
      expect(await processLiveness(me, w(process.pid))).toBe('alive');
      expect(await processLiveness(me, w(live.pid!, { bootId: '00000000-0000-4000-8000-000000000000' }))).toBe('gone');
      expect(await processLiveness(me, w(dead, { host: `not-${me.host}` }))).toBe('unknown');
      expect(await processLiveness(me, { kind: 'pod', name: 'x', uid: 'y' })).toBe('unknown');
      expect(await processLiveness({ ...me, bootId: null }, w(dead))).toBe('unknown');
    } finally {
      live.kill('SIGKILL');
    }
  });
});

describe('a killed writer', () => {
  it('is alive while its process runs and gone once it is killed (SIGKILL), on this boot', async () => {
    const me = await thisProcess();
    const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    const w: Writer = { kind: 'process', host: me.host, pid: child.pid!, bootId: me.bootId as string };
    const probe = createLocalWriterProbe(me);
    expect(await probe.liveness(w)).toBe('alive');
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    expect(await probe.liveness(w)).toBe('gone');
  });
});

describe('a pod writer (Kubernetes driver, API-server double)', () => {
  const suite = useK8sSuite('bf-writer');

  const putPod = (namespace: string, name: string, phase: string): string => {
    const pod = suite.api.store.put('pods', {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace },
      spec: { containers: [{ name: 'observer', image: 'ghcr.io/branch-follower/branch-follower:0.1.0' }] },
      status: { phase },
    });
    return pod.metadata?.uid as string;
  };

  it('names its pod from the downward API, and is gone when the pod is, or was replaced, or has ended', async () => {
    const namespace = suite.freshNamespace();
    const me = await thisProcess();
    const uid = putPod(namespace, 'observer-1', 'Running');
    const probe = createKubernetesWriterProbe({ ...suite.access(), namespace, env: { [POD_NAME_ENV]: 'observer-1', [POD_UID_ENV]: uid }, me });
    expect(probe.self).toEqual({ kind: 'pod', name: 'observer-1', uid });
    suite.api.requests.reset();
    expect(await probe.liveness({ kind: 'pod', name: 'observer-1', uid })).toBe('alive');
    expect(await probe.liveness({ kind: 'pod', name: 'observer-1', uid: 'another-uid' })).toBe('gone');
    expect(await probe.liveness({ kind: 'pod', name: 'observer-0', uid })).toBe('gone');
    const ended = putPod(namespace, 'observer-2', 'Succeeded');
    expect(await probe.liveness({ kind: 'pod', name: 'observer-2', uid: ended })).toBe('gone');
    const failed = putPod(namespace, 'observer-3', 'Failed');
    expect(await probe.liveness({ kind: 'pod', name: 'observer-3', uid: failed })).toBe('gone');
    // One GET per question, nothing else.
    expect(suite.api.requests.all().map((r) => `${r.verb} ${r.resource}`)).toEqual(Array(5).fill('get pods'));
  });

  it('is unknown when the API server does not say (forbidden), so the lease decides', async () => {
    const namespace = suite.freshNamespace();
    const uid = putPod(namespace, 'observer-1', 'Running');
    const probe = createKubernetesWriterProbe({ ...suite.access(), namespace, env: {}, me: await thisProcess() });
    suite.api.faults.add({ match: { verb: 'get', resource: 'pods' }, respond: { status: 403 } });
    expect(await probe.liveness({ kind: 'pod', name: 'observer-1', uid })).toBe('unknown');
    // Outside a pod, a tick is a process writer.
    expect(probe.self?.kind).toBe('process');
  });
});
