// Parsed config files kept as JSON by the SHA-256 of their text (config/parsed-yaml.ts): an entry
// gives back exactly what parsing gives, stands for no other text, and a missing, corrupt or
// unwritable cache only ever costs a parse.
import fc from 'fast-check';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { encodeParsed, NO_PARSED_YAML_CACHE, parsedYamlCacheFromEnv, parsedYamlDir, parsedYamlName, PARSED_YAML_FORMAT } from '../../src/adapters/config/parsed-yaml.ts';
import { loadRegistry } from '../../src/adapters/config/registry-file.ts';
import { parseYamlText, readYamlFile } from '../../src/adapters/config/yaml-file.ts';
import { parsedRegistryConfigMap, readRegistryFiles, REGISTRY_FILE } from '../../src/adapters/kubernetes/manifests.ts';
import { resolveRegistry } from '../../src/loops/prepare.ts';

const temps: string[] = [];
const tempDir = async (): Promise<string> => {
  const d = await mkdtemp(join(tmpdir(), 'bf-parsed-'));
  temps.push(d);
  return d;
};
afterAll(async () => {
  for (const d of temps) {
    await chmod(d, 0o700).catch(() => undefined);
    await rm(d, { recursive: true, force: true });
  }
});

// What YAML's core schema reads: strings, numbers (with .inf, .nan and -0), booleans, null, maps, lists.
const scalar = fc.oneof(
  fc.string(),
  fc.integer(),
  fc.double(),
  fc.constantFrom(Infinity, -Infinity, Number.NaN, -0),
  fc.boolean(),
  fc.constant(null),
);
const { doc } = fc.letrec((tie) => ({
  doc: fc.oneof({ depthSize: 'small', withCrossShrink: true }, scalar, tie('list'), tie('map')),
  list: fc.array(tie('doc'), { maxLength: 4 }),
  map: fc.dictionary(fc.oneof(fc.string(), fc.constantFrom('__proto__', 'constructor', '1')), tie('doc'), { maxKeys: 4 }),
}));
const hasNoJson = (v: unknown): boolean =>
  typeof v === 'number'
    ? !Number.isFinite(v) || Object.is(v, -0)
    : Array.isArray(v)
      ? v.some(hasNoJson)
      : typeof v === 'object' && v !== null
        ? Object.keys(v).includes('__proto__') || Object.values(v).some(hasNoJson)
        : false;

describe('encodeParsed', () => {
  it('gives JSON that reads back equal to the document, or null when JSON cannot hold it', () => {
    fc.assert(
      fc.property(doc, (d) => {
        const json = encodeParsed(d);
        if (hasNoJson(d)) return json === null;
        expect(json).not.toBeNull();
        // Equal as data: JSON.parse makes plain objects where js-yaml makes some without a
        // prototype, and every reader of a config goes by own keys (Object.hasOwn, zod).
        expect(JSON.parse(json!)).toEqual(d);
        return true;
      }),
      { numRuns: 500 },
    );
  });

  it('holds every document YAML text gives that JSON can hold: a YAML round trip through the cache is the parse', () => {
    fc.assert(
      fc.property(doc, (d) => {
        const text = stringify(d);
        const parsed = parseYamlText(text, 'x.yaml');
        if (!parsed.ok) return true;
        const json = encodeParsed(parsed.doc);
        if (json === null) return hasNoJson(parsed.doc);
        expect(JSON.parse(json)).toEqual(parsed.doc);
        return true;
      }),
      { numRuns: 300 },
    );
  });
});

describe('readYamlFile through a cache directory', () => {
  const lanes = { lanes: { a: { source: { repo: 'team/app', branch: 'main' } }, b: { n: 1, ok: true, none: null } } };

  it('keeps a parse under the hash of the text and reads it back instead of parsing; other text misses', async () => {
    const dir = await tempDir();
    const cacheDir = join(dir, 'cache');
    const cache = parsedYamlDir(cacheDir, { create: true });
    const file = join(dir, 'lanes.yaml');
    const text = stringify(lanes);
    await writeFile(file, text);

    expect(await readYamlFile(file, 'lanes.yaml', cache)).toEqual({ ok: true, doc: lanes });
    expect(await readdir(cacheDir)).toEqual([parsedYamlName(text)]);
    // Read back from the entry, with the text's own parse at hand for a reader whose checks fail.
    const again = await readYamlFile(file, 'lanes.yaml', cache);
    expect(again.ok && again.doc).toEqual(lanes);
    expect(again.ok && typeof again.reparse).toBe('function');
    expect(JSON.parse(await readFile(join(cacheDir, parsedYamlName(text)), 'utf8'))).toEqual(lanes);

    // The entry is what is read: an entry planted under the text's name is returned as it is.
    await writeFile(join(cacheDir, parsedYamlName(text)), JSON.stringify({ planted: true }));
    const planted = await readYamlFile(file, 'lanes.yaml', cache);
    expect(planted.ok && planted.doc).toEqual({ planted: true });
    // reparse gives the text's own document, and puts it back in the entry.
    expect(planted.ok && planted.reparse?.()).toEqual({ ok: true, doc: lanes });
    expect(JSON.parse(await readFile(join(cacheDir, parsedYamlName(text)), 'utf8'))).toEqual(lanes);

    // An edited file has another name, so it is parsed (and kept) afresh.
    const edited = stringify({ ...lanes, c: 2 });
    await writeFile(file, edited);
    expect(await readYamlFile(file, 'lanes.yaml', cache)).toEqual({ ok: true, doc: { ...lanes, c: 2 } });
    expect((await readdir(cacheDir)).sort()).toEqual([parsedYamlName(text), parsedYamlName(edited)].sort());
  });

  it('names entries by the parser too: another format would never read this one', () => {
    expect(PARSED_YAML_FORMAT).toMatch(/js-yaml \d+\.\d+\.\d+/);
    expect(parsedYamlName('a: 1\n')).toMatch(/^[0-9a-f]{64}\.json$/);
    expect(parsedYamlName('a: 1\n')).not.toBe(parsedYamlName('a: 2\n'));
  });

  it('parses when an entry is corrupt, and keeps nothing of a file that does not parse (its error keeps line and column)', async () => {
    const dir = await tempDir();
    const cache = parsedYamlDir(join(dir, 'cache'));
    const file = join(dir, 'lanes.yaml');
    const text = stringify(lanes);
    await writeFile(file, text);
    await mkdir(join(dir, 'cache'));
    await writeFile(join(dir, 'cache', parsedYamlName(text)), '{"half": ');
    const read = await readYamlFile(file, 'lanes.yaml', cache);
    expect(read.ok && read.doc).toEqual(lanes);

    await writeFile(file, 'a: 1\na: 2\n');
    const bad = await readYamlFile(file, 'lanes.yaml', cache);
    expect(bad).toEqual({ ok: false, error: { file: 'lanes.yaml', path: 'line 2, column 1', message: 'duplicated mapping key' } });
    expect(await readdir(join(dir, 'cache'))).toEqual([parsedYamlName(text)]);
  });

  it('reads as before where the directory cannot be written (a read-only pod volume)', async () => {
    if (process.getuid?.() === 0) {
      // root writes through modes; a missing parent that cannot be made stands in.
      const dir = await tempDir();
      await writeFile(join(dir, 'not-a-dir'), '');
      const cache = parsedYamlDir(join(dir, 'not-a-dir', 'cache'));
      await writeFile(join(dir, 'lanes.yaml'), stringify(lanes));
      expect(await readYamlFile(join(dir, 'lanes.yaml'), 'lanes.yaml', cache)).toEqual({ ok: true, doc: lanes });
      return;
    }
    const dir = await tempDir();
    await mkdir(join(dir, 'cache'));
    await chmod(join(dir, 'cache'), 0o500);
    await writeFile(join(dir, 'lanes.yaml'), stringify(lanes));
    expect(await readYamlFile(join(dir, 'lanes.yaml'), 'lanes.yaml', parsedYamlDir(join(dir, 'cache')))).toEqual({ ok: true, doc: lanes });
    expect(await readdir(join(dir, 'cache'))).toEqual([]);
  });

  it('BRANCH_FOLLOWER_CONFIG_CACHE picks an existing directory (never made), or turns it off; by default it is the user\'s cache directory, made when first written', async () => {
    const home = await tempDir();
    const text = stringify(lanes);
    parsedYamlCacheFromEnv({ HOME: home }).put(text, lanes);
    expect(await readdir(join(home, '.cache', 'branch-follower', 'parsed-yaml'))).toEqual([parsedYamlName(text)]);
    parsedYamlCacheFromEnv({ HOME: home, XDG_CACHE_HOME: join(home, 'xdg') }).put(text, lanes);
    expect(await readdir(join(home, 'xdg', 'branch-follower', 'parsed-yaml'))).toEqual([parsedYamlName(text)]);
    const chosen = { HOME: home, BRANCH_FOLLOWER_CONFIG_CACHE: join(home, 'chosen') };
    parsedYamlCacheFromEnv(chosen).put(text, lanes);
    expect(await readdir(home)).not.toContain('chosen');
    await mkdir(join(home, 'chosen'));
    parsedYamlCacheFromEnv(chosen).put(text, lanes);
    expect(parsedYamlCacheFromEnv(chosen).get(text)).toEqual({ doc: lanes });
    expect(parsedYamlCacheFromEnv({ HOME: home, BRANCH_FOLLOWER_CONFIG_CACHE: 'off' })).toBe(NO_PARSED_YAML_CACHE);
  });

  it('a damaged entry never becomes a verdict on the file: the registry and its configRefs are parsed again from their text, and the entries repaired', async () => {
    const root = join(import.meta.dirname, '..', '..', 'config');
    const dir = await tempDir();
    const cache = parsedYamlDir(dir);
    const files = await readRegistryFiles(join(root, REGISTRY_FILE));
    const parsed = await loadRegistry(join(root, REGISTRY_FILE), root);
    const want = (await resolveRegistry(parsed)).map((r) => r.resolution);
    // Every entry valid JSON, none of it the file's document.
    for (const text of Object.values(files)) await writeFile(join(dir, parsedYamlName(text)), '[]');
    const fromDamaged = await loadRegistry(join(root, REGISTRY_FILE), root, cache);
    expect(fromDamaged.registry).toEqual(parsed.registry);
    expect((await resolveRegistry(fromDamaged)).map((r) => r.resolution)).toEqual(want);
    // The registry's entry holds its document again (a configRef's file is repaired when a ref missed).
    expect(JSON.parse(await readFile(join(dir, parsedYamlName(files[REGISTRY_FILE] ?? '')), 'utf8'))).not.toEqual([]);
  });
});

describe('the parsed registry ConfigMap (what apply ships to the pods)', () => {
  it('holds an entry per registry file under the name a pod looks it up by: a tick reads the same registry and configRefs from it', async () => {
    const root = join(import.meta.dirname, '..', '..', 'config');
    const files = await readRegistryFiles(join(root, REGISTRY_FILE));
    const cm = parsedRegistryConfigMap('ns', files);
    expect(Object.keys(cm.data ?? {}).sort()).toEqual(Object.values(files).map(parsedYamlName).sort());
    // The pod's view: the entries as the kubelet projects them, read-only; the registry's own files beside.
    const mount = await tempDir();
    for (const [k, v] of Object.entries(cm.data ?? {})) await writeFile(join(mount, k), v);
    await chmod(mount, 0o500);
    const fromCache = await loadRegistry(join(root, REGISTRY_FILE), root, parsedYamlDir(mount));
    const parsed = await loadRegistry(join(root, REGISTRY_FILE), root);
    expect(fromCache.registry).toEqual(parsed.registry);
    expect((await resolveRegistry(fromCache)).map((r) => r.resolution)).toEqual((await resolveRegistry(parsed)).map((r) => r.resolution));
  });

  it('leaves out files that do not parse and entries past the ConfigMap limit, in path order', () => {
    const big = (n: number) => stringify({ lanes: Object.fromEntries(Array.from({ length: n }, (_, i) => [`lane-${i}`, { repo: `team/app-${i}`, branch: 'main' }])) });
    const files = { [REGISTRY_FILE]: 'controller: {}\n', 'a.yaml': big(12000), 'b.yaml': big(12000), 'bad.yaml': 'a: 1\na: 2\n' };
    const data = parsedRegistryConfigMap('ns', files).data ?? {};
    expect(Object.keys(data)).toEqual([parsedYamlName(files['a.yaml']), parsedYamlName(files[REGISTRY_FILE])]);
    const bytes = Object.entries(data).reduce((n, [k, v]) => n + Buffer.byteLength(k) + Buffer.byteLength(v), 0);
    expect(bytes).toBeLessThanOrEqual(1_000_000);
  });
});
