// WebAssembly entries end to end through WasmFunctions (the interface the kernel will call):
// fixtures built from test/fixtures/wasm/src (scripts/build-wasm-fixtures.mjs), one pool per
// entry, real threads. No timing thresholds: outcomes, kinds, messages, and counts.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRegistry } from '../src/registry/registry.js';
import { WasmFunctions, type WasmCallResult } from '../src/wasm/functions.js';
import { poolShape } from '../src/wasm/pool.js';

const ROOT = path.resolve('test/fixtures/wasm');
const MANIFEST = JSON.parse(readFileSync(path.join(ROOT, 'manifest.json'), 'utf8')) as Record<string, string>;
const ro = mkdtempSync(path.join(os.tmpdir(), 'wippy-wasm-ro-'));
const rw = mkdtempSync(path.join(os.tmpdir(), 'wippy-wasm-rw-'));
writeFileSync(path.join(ro, 'keep.txt'), 'original');

const bin = (name: string, method: string, extra: Record<string, unknown> = {}) =>
  ({ kind: 'function.wasm', fs: 'app:bin', path: `/${name}.wasm`, hash: MANIFEST[`${name}.wasm`], method, ...extra });

const registry = createRegistry([
  { id: 'app:bin', kind: 'fs.directory', directory: 'wasm' },
  { id: 'app:ro', kind: 'fs.directory', directory: ro },
  { id: 'app:rw', kind: 'fs.directory', directory: rw },
  { id: 'app:vars', kind: 'env.storage.static', values: { GREETING: 'hej' } },
  { id: 'app:greeting', kind: 'env.variable', variable: 'GREETING', storage: 'app:vars' },
  { id: 'app:absent', kind: 'env.variable', variable: 'NOPE', storage: 'app:vars' },
  {
    id: 'app:answer', kind: 'function.wat', method: 'answer', wit: 'answer: func() -> s32;', pool: { type: 'inline' },
    source: '(module (func (export "answer") (result i32) i32.const 42))',
  },
  { id: 'app:answer_file', kind: 'function.wat', source: 'file://src/answer.wat', method: 'answer', wit: 'answer: func() -> s32;' },
  { id: 'app:bad_wat', kind: 'function.wat', source: '(module (func (export "x") (result i32) i32.const))', method: 'x' },
  { id: 'app:core_compute', ...bin('core-math', 'compute', { wit: 'compute: func(a: s32, b: s32) -> s32;', pool: { type: 'static', workers: 1 } }) },
  { id: 'app:core_add64', ...bin('core-math', 'add64', { wit: 'add64: func(a: s64, b: s64) -> s64;' }) },
  { id: 'app:core_even', ...bin('core-math', 'is-even', { wit: 'is-even: func(n: s32) -> bool;' }) },
  { id: 'app:core_boom', ...bin('core-math', 'boom', { wit: 'boom: func() -> s32;' }) },
  { id: 'app:core_small', ...bin('core-math', 'compute', { wit: 'compute: func(a: s32, b: s32) -> s32;', limits: { memory: '32KiB' } }) },
  { id: 'app:comp_small', ...bin('calc', 'compute', { limits: { memory: 1000 } }) },
  { id: 'app:comp_fits', ...bin('calc', 'compute', { limits: { memory: '1MiB' } }) },
  { id: 'app:mismatch', ...bin('core-math', 'compute', { hash: `sha256:${'0'.repeat(64)}` }) },
  { id: 'app:compute', ...bin('calc', 'compute', { pool: { type: 'lazy', max_size: 2 } }) },
  { id: 'app:echo_user', ...bin('calc', 'echo-user') },
  { id: 'app:reverse', ...bin('calc', 'reverse') },
  { id: 'app:greet', ...bin('calc', 'greet') },
  { id: 'app:maybe_double', ...bin('calc', 'maybe-double') },
  { id: 'app:checked_div', ...bin('calc', 'checked-div') },
  { id: 'app:classify', ...bin('calc', 'classify') },
  { id: 'app:perms_of', ...bin('calc', 'perms-of') },
  { id: 'app:area', ...bin('calc', 'area') },
  { id: 'app:boom', ...bin('calc', 'boom', { pool: { type: 'inline' } }) },
  { id: 'app:spin', ...bin('calc', 'spin', { pool: { type: 'inline' } }) },
  { id: 'app:spin_limited', ...bin('calc', 'spin', { limits: { max_execution_ms: 200 }, pool: { type: 'inline' } }) },
  { id: 'app:sleep', ...bin('sleeper', 'test-sleep#sleep-ms', { imports: ['wasi:io', 'wasi:clocks'] }) },
  { id: 'app:sleep_undeclared', ...bin('sleeper', 'test-sleep#sleep-ms', { imports: ['wasi:io'] }) },
  {
    id: 'app:env', ...bin('sys', 'env', {
      imports: ['wasi:cli', 'wasi:io'],
      wasi: { env: [{ id: 'app:greeting', name: 'GREETING', required: true }, { id: 'app:absent', name: 'OPTIONAL' }] },
    }),
  },
  { id: 'app:env_required', ...bin('sys', 'env', { imports: ['wasi:cli', 'wasi:io'], wasi: { env: [{ id: 'app:absent', name: 'API_KEY', required: true }] } }) },
  { id: 'app:args', ...bin('sys', 'args', { imports: ['wasi:cli', 'wasi:io'], wasi: { args: ['--verbose', 'x'], cwd: '/app' } }) },
  { id: 'app:cwd', ...bin('sys', 'cwd', { imports: ['wasi:cli', 'wasi:io'], wasi: { cwd: '/app' } }) },
  { id: 'app:say', ...bin('sys', 'say', { imports: ['wasi:cli', 'wasi:io'] }) },
  { id: 'app:write_ro', ...bin('files', 'write-file', { imports: ['wasi:filesystem'], wasi: { mounts: [{ fs: 'app:ro', guest: '/data', read_only: true }] } }) },
  { id: 'app:write_rw', ...bin('files', 'write-file', { imports: ['wasi:filesystem'], wasi: { mounts: [{ fs: 'app:rw', guest: '/out' }] } }) },
], { root: ROOT });

const output: Array<[string, string]> = [];
const wasm = new WasmFunctions(registry, { sink: (stream, bytes) => void output.push([stream, Buffer.from(bytes).toString()]) });
after(() => wasm.close());

const value = (r: WasmCallResult): unknown => {
  assert.ok('values' in r, `expected values, got ${JSON.stringify(r)}`);
  return r.values[0];
};
const failure = (r: WasmCallResult) => {
  assert.ok('error' in r, `expected an error, got ${JSON.stringify(r)}`);
  return r.error;
};

test('fixtures: every binary matches the hash its manifest records', () => {
  for (const [file, hash] of Object.entries(MANIFEST)) {
    const actual = `sha256:${createHash('sha256').update(readFileSync(path.join(ROOT, 'wasm', file))).digest('hex')}`;
    assert.equal(actual, hash, `${file}: rebuild with node scripts/build-wasm-fixtures.mjs`);
  }
});

test('function.wat: inline and file:// WAT returning 42; a WAT syntax error names entry and line', async () => {
  assert.equal(value(await wasm.call('app:answer')), 42);
  assert.equal(value(await wasm.call('app:answer_file')), 42);
  await assert.rejects(wasm.prepare('app:bad_wat'), (err: Error & { kind?: string }) => {
    assert.equal(err.kind, 'Invalid');
    assert.match(err.message, /entry app:bad_wat: field source: invalid WAT: .*:1:/);
    return true;
  });
});

test('core module from an fs.directory with its hash, called through its wit signature', async () => {
  assert.equal(value(await wasm.call('app:core_compute', [6, 7])), 42);
  assert.equal(value(await wasm.call('app:core_add64', [2 ** 40, 2])), 2 ** 40 + 2);
  assert.equal(value(await wasm.call('app:core_even', [10])), true);
  assert.equal(value(await wasm.call('app:core_even', [7])), false);
  const bad = failure(await wasm.call('app:core_compute', ['six', 7]));
  assert.equal(bad.kind, 'Invalid');
  assert.match(bad.message, /argument 1 \(a\): expected a number for s32, got string/);
});

test('hash mismatch: a load error naming the entry, the expected and the actual hash; nothing compiles', async () => {
  await assert.rejects(wasm.prepare('app:mismatch'), (err: Error) => {
    assert.match(err.message, /entry app:mismatch: field hash: \/core-math\.wasm does not match its hash/);
    assert.match(err.message, new RegExp(`expected sha256:${'0'.repeat(64)}, actual ${MANIFEST['core-math.wasm']}`));
    return true;
  });
  const r = failure(await wasm.call('app:mismatch', [1, 2]));
  assert.equal(r.kind, 'Invalid');
});

test('component: compute(6, 7) = 42', async () => {
  assert.equal(value(await wasm.call('app:compute', [6, 7])), 42);
});

test('component values: records, lists, strings, options, results, enums, flags, variants', async () => {
  const user = { id: 7, name: 'Alice', tags: ['admin', 'dev'], active: true, nick: 'al' };
  assert.deepEqual(value(await wasm.call('app:echo_user', [user])), user);
  assert.deepEqual(value(await wasm.call('app:echo_user', [{ ...user, tags: [], nick: null }])), { ...user, tags: [], nick: null });
  assert.deepEqual(value(await wasm.call('app:reverse', [[1, 2, 3, 4]])), [4, 3, 2, 1]);
  assert.equal(value(await wasm.call('app:greet', ['wippy'])), 'hello, wippy');
  assert.equal(value(await wasm.call('app:maybe_double', [21])), 42);
  assert.deepEqual(await wasm.call('app:maybe_double', [null]), { values: [] }, 'none is nil: no value');
  assert.equal(value(await wasm.call('app:checked_div', [84, 2])), 42);
  const div = failure(await wasm.call('app:checked_div', [1, 0]));
  assert.equal(div.message, 'division by zero', 'an error result becomes the call error with its payload as message');
  assert.equal(div.payload, 'division by zero');
  assert.equal(value(await wasm.call('app:classify', [-5])), 'negative');
  assert.equal(value(await wasm.call('app:classify', [0])), 'zero');
  assert.deepEqual(value(await wasm.call('app:perms_of', [5])), { read: true, write: false, exec: true });
  assert.equal(value(await wasm.call('app:area', [{ tag: 'circle', val: 2 }])), 12);
  assert.equal(value(await wasm.call('app:area', [{ tag: 'square', val: 3 }])), 9);
  assert.equal(value(await wasm.call('app:area', [{ tag: 'none' }])), 0);
  const wrong = failure(await wasm.call('app:echo_user', [{ id: 1 }]));
  assert.equal(wrong.kind, 'Invalid');
});

test('a trap is an Internal error keeping its message; the pool keeps serving', async () => {
  const core = failure(await wasm.call('app:core_boom'));
  assert.equal(core.kind, 'Internal');
  assert.match(core.message, /wasm trap: unreachable/);
  const comp = failure(await wasm.call('app:boom'));
  assert.match(comp.message, /unreachable/);
  assert.equal(value(await wasm.call('app:core_compute', [2, 3])), 6);
});

test('wasi:clocks sleep runs on a pool thread while the main thread keeps answering', async () => {
  let ticks = 0;
  const timer = setInterval(() => ticks++, 5);
  try {
    assert.equal(value(await wasm.call('app:sleep', [60])), 60);
  } finally {
    clearInterval(timer);
  }
  assert.ok(ticks > 0, 'the main thread ran timers during the guest sleep');
});

test('an undeclared WASI interface fails to instantiate naming it', async () => {
  const r = failure(await wasm.call('app:sleep_undeclared', [1]));
  assert.equal(r.kind, 'PermissionDenied');
  assert.match(r.message, /imports wasi:clocks\/monotonic-clock, which needs "wasi:clocks"/);
});

test('wasi:cli: env from registry env entries, args, cwd; stdout to the sink; a required env missing', async () => {
  assert.deepEqual(value(await wasm.call('app:env')), [['GREETING', 'hej']], 'only declared variables, never the host environment');
  assert.deepEqual(value(await wasm.call('app:args')), ['--verbose', 'x']);
  assert.equal(value(await wasm.call('app:cwd')), '/app');
  output.length = 0;
  assert.equal(value(await wasm.call('app:say', ['hello from wasm\n'])), true);
  assert.deepEqual(output, [['stdout', 'hello from wasm\n']]);
  const r = failure(await wasm.call('app:env_required'));
  assert.equal(r.kind, 'NotFound');
  assert.match(r.message, /app:env_required: required environment variable API_KEY \(from app:absent\) is not set/);
});

test('wasi:filesystem: a read-only mount refuses a write; a writable mount takes it', async () => {
  const r = failure(await wasm.call('app:write_ro', ['keep.txt', 'changed']));
  assert.equal(r.message, 'read-only');
  assert.equal(readFileSync(path.join(ro, 'keep.txt'), 'utf8'), 'original');
  assert.equal(failure(await wasm.call('app:write_ro', ['new.txt', 'x'])).message, 'read-only');
  assert.equal(existsSync(path.join(ro, 'new.txt')), false);
  assert.equal(value(await wasm.call('app:write_rw', ['made.txt', 'by wasm'])), 7);
  assert.equal(readFileSync(path.join(rw, 'made.txt'), 'utf8'), 'by wasm');
});

test('an infinite loop is stopped by cancel() and by max_execution_ms; the main thread keeps answering', async () => {
  let ticks = 0;
  const timer = setInterval(() => ticks++, 5);
  try {
    const call = wasm.start('app:spin');
    await new Promise((r) => setTimeout(r, 100));
    const before = ticks;
    call.cancel();
    const r = failure(await call.result);
    assert.equal(r.kind, 'Canceled');
    assert.ok(before > 0, 'timers ran while the guest looped');
    const t = failure(await wasm.call('app:spin_limited'));
    assert.equal(t.kind, 'Timeout');
    assert.match(t.message, /exceeded max_execution_ms \(200 ms\)/);
    const ac = new AbortController();
    const p = wasm.call('app:spin', [], { signal: ac.signal });
    setTimeout(() => ac.abort(), 50);
    assert.equal(failure(await p).kind, 'Canceled');
  } finally {
    clearInterval(timer);
  }
  // The pool replaced its thread: the same entry's pool answers again.
  assert.equal(failure(await wasm.call('app:boom')).kind, 'Internal');
});

test('limits.memory: a core module or component whose memory exceeds it fails; one within it runs', async () => {
  const core = failure(await wasm.call('app:core_small', [6, 7]));
  assert.equal(core.kind, 'Internal');
  assert.match(core.message, /app:core_small: memory 65536 bytes exceeds limits.memory 32768/);
  assert.match(failure(await wasm.call('app:comp_small', [6, 7])).message, /app:comp_small: memory 65536 bytes exceeds limits.memory 1000/);
  assert.equal(value(await wasm.call('app:comp_fits', [6, 7])), 42);
});

test('pool types map onto piscina thread counts and queues', () => {
  assert.deepEqual(poolShape({ type: 'inline' }), { minThreads: 1, maxThreads: 1, maxQueue: Infinity, reuse: false });
  assert.deepEqual(poolShape({ type: 'lazy', maxSize: 4 }), { minThreads: 0, maxThreads: 4, maxQueue: Infinity, reuse: true });
  assert.deepEqual(poolShape({ type: 'lazy' }).maxThreads, 16);
  assert.deepEqual(poolShape({ type: 'static', size: 4, workers: 2 }), { minThreads: 2, maxThreads: 2, maxQueue: 128, reuse: true });
  assert.deepEqual(poolShape({ type: 'static', workers: 2, buffer: 16 }).maxQueue, 16);
  assert.deepEqual(poolShape({ type: 'adaptive', maxSize: 8 }), { minThreads: 1, maxThreads: 8, maxQueue: Infinity, reuse: true });
});

test('registry: function.wasm / function.wat fields and problems', () => {
  const e = registry.require('app:write_ro') as unknown as Record<string, unknown>;
  assert.deepEqual(e.wasi, { args: [], env: [], mounts: [{ fs: 'app:ro', guest: '/data', readOnly: true }] });
  assert.deepEqual(e.pool, {});
  const limited = registry.require('app:spin_limited') as unknown as Record<string, unknown>;
  assert.deepEqual(limited.limits, { maxExecutionMs: 200 });
  assert.throws(() => createRegistry([
    { id: 'a:w', kind: 'function.wat', method: 'x', pool: { type: 'huge' }, limits: { memory: 'lots' } },
    { id: 'a:d', kind: 'fs.directory', directory: '.' },
    { id: 'a:b', kind: 'function.wasm', fs: 'a:d', path: '/x.wasm', hash: 'sha256:12', method: 'm', wasi: { cwd: 'rel', mounts: [{ fs: 'a:d', guest: '/x' }, { fs: 'a:d', guest: '/x' }] } },
  ], { root: ROOT }), (err: Error) => {
    assert.match(err.message, /entry a:w: field source: is required/);
    assert.match(err.message, /entry a:w: field pool.type: must be one of "inline", "lazy", "static", "adaptive"/);
    assert.match(err.message, /entry a:w: field limits.memory: must be a positive size/);
    assert.match(err.message, /entry a:b: field hash: must be "sha256:"/);
    assert.match(err.message, /entry a:b: field wasi.cwd: must be an absolute path/);
    assert.match(err.message, /entry a:b: field wasi.mounts: mount guest paths must be unique/);
    return true;
  });
});
