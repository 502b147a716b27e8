// Fuzzing the registry loader (src/registry/): whatever is on disk, loadApp either returns a
// registry holding what the files say or throws one RegistryError whose problems each name a
// file (and a line and field when the parser knows them). Any other exception — a RangeError from
// a stack overflow, a TypeError from a cyclic value — is a loader bug.
//
// Sizes: WIPPY_FUZZ_RUNS multiplies the case counts (test/helpers/fuzz.ts).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import fc from 'fast-check';
import YAML from 'yaml';
import { loadApp, RegistryError, type Registry } from '../src/registry/loader.js';
import { fuzzParams } from './helpers/fuzz.js';
import {
  VALID_ENTRIES, validFile, mutatedFile, randomStructure, tokenSoup, aliasBomb, deepFile, RECURSIVE_ALIASES,
} from './helpers/gen-yaml.js';

let base: string;
let n = 0;
before(() => { base = mkdtempSync(path.join(tmpdir(), 'wippy-fuzz-registry-')); });
after(() => { rmSync(base, { recursive: true, force: true }); });

type Place = 'src' | 'nested' | 'config' | 'lock';
const PLACES: Place[] = ['src', 'nested', 'config', 'lock'];

/** A fresh app directory with `text` written at `place` (plus a valid definition file elsewhere). */
function app(text: string | Uint8Array, place: Place = 'src'): { root: string; file: string } {
  const root = path.join(base, `app${n++}`);
  mkdirSync(path.join(root, 'src', 'sub'), { recursive: true });
  const file = {
    src: 'src/_index.yaml', nested: 'src/sub/more.yml', config: '.wippy.yaml', lock: 'wippy.lock',
  }[place];
  writeFileSync(path.join(root, file), text);
  if (place !== 'src') writeFileSync(path.join(root, 'src', '_index.yaml'), 'namespace: base\nentries:\n  - { name: ok, kind: registry.entry }\n');
  return { root, file };
}

/** The property: a Registry, or a RegistryError whose every problem names a file and says what. */
async function load(root: string): Promise<{ reg?: Registry; err?: RegistryError }> {
  try {
    return { reg: await loadApp(root) };
  } catch (e) {
    if (!(e instanceof RegistryError)) {
      assert.fail(`loadApp threw ${(e as Error)?.name ?? typeof e}, not a RegistryError: ${(e as Error)?.stack ?? String(e)}`);
    }
    assert.ok(e.problems.length > 0, 'a RegistryError lists at least one problem');
    for (const p of e.problems) {
      assert.equal(typeof p.file, 'string');
      assert.ok(p.file.length > 0, 'problem names a file');
      assert.ok(typeof p.message === 'string' && p.message.length > 0, 'problem says what is wrong');
      assert.ok(p.message.length < 2000, `problem message is readable, not ${p.message.length} characters`);
    }
    return { err: e };
  }
}

async function rmApp(root: string): Promise<void> { rmSync(root, { recursive: true, force: true }); }

test('fuzz registry: the valid app with one entry of every kind loads', async () => {
  const { root } = app(YAML.stringify(validFile()));
  const { reg, err } = await load(root);
  assert.equal(err, undefined, err?.message);
  assert.equal(reg!.entries.size, VALID_ENTRIES.length);
  for (const e of VALID_ENTRIES) assert.ok(reg!.has(`app:${e.name as string}`), `app:${e.name as string}`);
});

test('fuzz registry: a wrong value in any field of any kind is a located problem or a correct load', async () => {
  await fc.assert(fc.asyncProperty(mutatedFile, async ({ where, file }) => {
    const { root, file: rel } = app(YAML.stringify(file));
    const { reg, err } = await load(root);
    if (reg) {
      // A value the schema accepts: every entry still loads.
      const entries = file.entries;
      if (Array.isArray(entries)) assert.equal(reg.entries.size, entries.length, `entries after mutating ${where}`);
    } else {
      // The mutated field is in the file: at least one problem points into it with a line.
      assert.ok(err!.problems.some((p) => p.file === rel && p.line !== undefined),
        `no problem located in ${rel} after mutating ${where}:\n${err!.message}`);
    }
    await rmApp(root);
  }), fuzzParams('registry-mutations', 150));
});

test('fuzz registry: random structures in definition, config and lock files', async () => {
  await fc.assert(fc.asyncProperty(randomStructure, fc.constantFrom(...PLACES), async (doc, place) => {
    const { root } = app(YAML.stringify(doc), place);
    await load(root);
    await rmApp(root);
  }), fuzzParams('registry-structures', 100));
});

test('fuzz registry: token soup, arbitrary text and binary files', async () => {
  const text = fc.oneof(
    tokenSoup,
    fc.string({ unit: 'grapheme', maxLength: 200 }),
    fc.string({ unit: 'binary', maxLength: 200 }),
  );
  await fc.assert(fc.asyncProperty(text, fc.constantFrom(...PLACES), async (t, place) => {
    const { root } = app(t, place);
    await load(root);
    await rmApp(root);
  }), fuzzParams('registry-text', 150));
  await fc.assert(fc.asyncProperty(fc.uint8Array({ maxLength: 4096 }), fc.constantFrom(...PLACES), async (bytes, place) => {
    const { root } = app(bytes, place);
    await load(root);
    await rmApp(root);
  }), fuzzParams('registry-bytes', 60));
});

test('fuzz registry: alias bombs are refused with the file named', async () => {
  await fc.assert(fc.asyncProperty(
    fc.integer({ min: 1, max: 40 }), fc.integer({ min: 2, max: 10 }), fc.constantFrom('data', 'namespace', 'name', 'config') as fc.Arbitrary<'data' | 'namespace' | 'name' | 'config'>,
    async (levels, fan, where) => {
      const { root, file } = app(aliasBomb(levels, fan, where), where === 'config' ? 'config' : 'src');
      const { err } = await load(root);
      // Small expansions may load; a bomb (more than the parser's alias budget) must not.
      if (fan ** levels > 1e6) assert.ok(err?.problems.some((p) => p.file === file && /alias/i.test(p.message)), `bomb ${levels}x${fan} in ${where} loaded`);
      await rmApp(root);
    }), fuzzParams('registry-alias-bombs', 40));
});

test('fuzz registry: recursive aliases are a located problem, not a stack overflow', async () => {
  for (const text of RECURSIVE_ALIASES) {
    const { root, file } = app(text);
    const { err } = await load(root);
    assert.ok(err, `loaded: ${text}`);
    const p = err.problems.find((q) => /recursive alias/.test(q.message));
    assert.ok(p, err.message);
    assert.equal(p.file, file);
    assert.ok(p.line !== undefined, `line of: ${err.message}`);
  }
  // the same in a config file and in wippy.lock
  for (const place of ['config', 'lock'] as const) {
    const { root, file } = app('directories: &d { src: *d }\nsecurity: &s [*s]\n', place);
    const { err } = await load(root);
    assert.ok(err?.problems.some((p) => p.file === file && p.line === 1 && /recursive alias/.test(p.message)), err?.message);
  }
});

test('fuzz registry: !!omap, !!pairs and !!set values are refused instead of silently emptied', async () => {
  const { root, file } = app('namespace: app\nentries:\n  - name: h\n    kind: process.host\n    host: !!omap [workers: 2]\n');
  const { err } = await load(root);
  assert.ok(err, 'loaded with the host block silently dropped');
  assert.deepEqual(err.problems.map((p) => [p.file, p.line, p.field]), [[file, 5, 'entries[0].host']]);
  assert.match(err.problems[0]!.message, /!!omap\/!!pairs values are not supported/);
  const set = app('namespace: app\nentries: !!set { a, b }\n');
  assert.match((await load(set.root)).err?.message ?? '', /!!set values are not supported/);
});

test('fuzz registry: deep nesting in every style ends in a load or a located problem', async () => {
  await fc.assert(fc.asyncProperty(
    fc.integer({ min: 1, max: 6000 }), fc.constantFrom('flow-seq', 'flow-map', 'block-seq', 'block-map') as fc.Arbitrary<'flow-seq' | 'flow-map' | 'block-seq' | 'block-map'>,
    async (depth, style) => {
      const { root, file } = app(deepFile(depth, style));
      const { err } = await load(root);
      if (err) assert.ok(err.problems.some((p) => p.file === file && p.line !== undefined), err.message);
      await rmApp(root);
    }), fuzzParams('registry-deep', 20));
});

test('fuzz registry: duplicate keys and duplicate ids are located problems', async () => {
  const dupKey = app('namespace: app\nentries:\n  - name: a\n    kind: registry.entry\n    kind: process.lua\n');
  const e1 = (await load(dupKey.root)).err;
  assert.ok(e1?.problems.some((p) => p.file === dupKey.file && p.line === 5 && /unique|duplicate/i.test(p.message)), e1?.message);
  const dupTop = app('namespace: app\nnamespace: other\nentries: []\n');
  assert.ok((await load(dupTop.root)).err?.problems.some((p) => p.line === 2), 'duplicate top-level key');
  const dupId = app('namespace: app\nentries:\n  - { name: a, kind: registry.entry }\n  - { name: a, kind: registry.entry }\n');
  const e3 = (await load(dupId.root)).err;
  assert.ok(e3?.problems.some((p) => p.file === dupId.file && p.line === 4 && p.entry === 'app:a'), e3?.message);
});

test('fuzz registry: huge and binary files', async () => {
  // ~2 MB on one line, a 1 MB file of NULs, 1 MB of pseudo-random bytes, invalid UTF-8 in a key,
  // a 50k-line list: each loads or is a problem naming the file.
  let x = 0x2545f491;
  const rnd = new Uint8Array(1 << 20).map(() => { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; return x & 0xff; });
  const cases: Array<[string, string | Uint8Array, boolean]> = [
    ['long scalar', `namespace: app\nentries:\n  - name: a\n    kind: registry.entry\n    x: "${'y'.repeat(2 << 20)}"\n`, true],
    ['NULs', new Uint8Array(1 << 20), false],
    ['random bytes', rnd, false],
    ['invalid UTF-8', Buffer.concat([Buffer.from('namespace: app\nentries:\n  - name: a\n    kind: registry.entry\n    '), Buffer.from([0xff, 0xfe, 0xc0]), Buffer.from(': 1\n')]), true],
    ['long list', `namespace: app\nentries:\n  - name: a\n    kind: registry.entry\n    x:\n${'      - 1\n'.repeat(50_000)}`, true],
  ];
  for (const [what, content, loads] of cases) {
    const { root, file } = app(content);
    const { reg, err } = await load(root);
    if (loads) assert.equal(reg?.entries.size, 1, `${what}: ${err?.message}`);
    else assert.ok(reg || err!.problems.every((p) => p.file === file), `${what}: ${err?.message}`);
    await rmApp(root);
  }
});

// Regression (issue 9): a 49 MB definition file (~1.15M entries) crashed the loader with an
// uncaught "RangeError: Maximum call stack size exceeded" from `raws.push(...entries)`, a spread
// that passes one argument per entry. The limit scales with the stack, so the same code fails at
// 20k entries on a 0.3 MB stack: the regression loads 25k entries in a worker with that stack
// instead of writing 49 MB (the full file loads in ~90 s with ~4 GB RSS, too slow for npm test).
test('regression: a definition file with more entries than a call can take arguments loads', async () => {
  const { root } = app(`namespace: app\nentries:\n${'  - { name: eN, kind: k }\n'.repeat(25_000).replace(/eN/g, () => `e${n++}`)}`);
  const loaderUrl = new URL('../src/registry/loader.js', import.meta.url).href;
  const result = await new Promise<{ ok?: number; err?: string }>((resolve, reject) => {
    const w = new Worker(`const { parentPort, workerData } = require('node:worker_threads');
      import(workerData.loaderUrl).then((m) => m.loadApp(workerData.root)).then(
        (r) => parentPort.postMessage({ ok: r.entries.size }),
        (e) => parentPort.postMessage({ err: e.name + ': ' + e.message.slice(0, 300) }));`,
    { eval: true, workerData: { loaderUrl, root }, resourceLimits: { stackSizeMb: 0.3 } });
    w.once('message', (m) => { resolve(m as { ok?: number; err?: string }); void w.terminate(); });
    w.once('error', reject);
  });
  assert.deepEqual(result, { ok: 25_000 });
  await rmApp(root);
});
