// `wippy run` of process.wasm commands, as a child process against test/fixtures/wasm/app, and
// the process.wasm body (Init / Step / Close, EXIT value or error, cancel with a deadline,
// terminate) driven from JS the way the kernel's spawn will drive it.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { loadApp } from '../src/registry/loader.js';
import { createRegistry } from '../src/registry/registry.js';
import { WasmFunctions } from '../src/wasm/functions.js';
import { WasmProcess, WasmProcessTable, runWasmProcess, type WasmExit } from '../src/wasm/process.js';
import { CHILD_NODE_FLAGS } from './helpers/node-child.js';

const BIN = path.resolve('bin/wippy.js');
const APP = path.resolve('test/fixtures/wasm/app');
const ROOT = path.resolve('test/fixtures/wasm');
const MANIFEST = JSON.parse(readFileSync(path.join(ROOT, 'manifest.json'), 'utf8')) as Record<string, string>;

function wippy(args: string[]) {
  const r = spawnSync(process.execPath, [...CHILD_NODE_FLAGS, BIN, ...args], { cwd: APP, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('the app fixture declares the manifest hashes', async () => {
  const reg = await loadApp(APP);
  assert.equal((reg.require('wapp:greet') as unknown as { hash: string }).hash, MANIFEST['calc.wasm']);
  assert.equal((reg.require('wapp:say') as unknown as { hash: string }).hash, MANIFEST['sys.wasm']);
});

test('wippy run list shows WASM commands; wippy run greet runs one end to end', () => {
  const list = wippy(['run', 'list']);
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, /greet\s+Greet someone via WASM/);
  const r = wippy(['run', 'greet', 'wippy']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'hello, wippy\n');
  const say = wippy(['run', 'say', 'from the guest\n']);
  assert.equal(say.code, 0, say.stderr);
  assert.equal(say.stdout, 'from the guest\n', 'guest stdout reaches the terminal');
  const bad = wippy(['run', 'broken']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /entry wapp:broken: field hash: \/calc\.wasm does not match its hash: expected sha256:0{64}, actual sha256:/);
});

const bin = (name: string, method: string, extra: Record<string, unknown> = {}) =>
  ({ kind: 'process.wasm', fs: 'p:bin', path: `/${name}.wasm`, hash: MANIFEST[`${name}.wasm`], method, ...extra });
const registry = createRegistry([
  { id: 'p:bin', kind: 'fs.directory', directory: 'wasm' },
  { id: 'p:compute', ...bin('calc', 'compute') },
  { id: 'p:boom', ...bin('calc', 'boom') },
  { id: 'p:spin', ...bin('calc', 'spin') },
  { id: 'p:sleep', ...bin('sleeper', 'test-sleep#sleep-ms', { imports: ['wasi:io', 'wasi:clocks'] }) },
  { id: 'p:say', ...bin('sys', 'say', { imports: ['wasi:cli', 'wasi:io'] }) },
  { id: 'p:fn', kind: 'function.wat', source: '(module (func (export "f") (result i32) i32.const 1))', method: 'f' },
], { root: ROOT });
const wasm = new WasmFunctions(registry);
after(() => wasm.close());

test('process.wasm: Init / Step / Close; compute(6, 7) exits with value 42', async () => {
  const p = new WasmProcess(wasm, 'p:compute');
  assert.deepEqual(await p.init([6, 7]), {});
  assert.equal(p.state, 'ready');
  assert.deepEqual(await p.step(), { done: true, value: 42 });
  assert.equal(p.state, 'done');
  p.close();
  assert.equal(p.state, 'closed');
  assert.equal(failureOf(await wasm.call('p:compute', [1, 2])).kind, 'Invalid', 'a process.wasm is not a function');
});

test('process.wasm: a trap is the EXIT error with its message; a function entry is not a process', async () => {
  const { exit } = runWasmProcess(wasm, 'p:boom', []);
  const ev = await exit;
  assert.equal(ev.error?.kind, 'Internal');
  assert.match(ev.error!.message, /unreachable/);
  const notProc = await runWasmProcess(wasm, 'p:fn', []).exit;
  assert.match(notProc.error!.message, /p:fn is a function\.wat, not a process\.wasm/);
});

test('process.wasm: terminate and an expired cancel deadline stop a looping guest; cancel lets a short one finish', async () => {
  const looping = runWasmProcess(wasm, 'p:spin', []);
  setTimeout(() => looping.process.terminate(), 50);
  const t = await looping.exit;
  assert.equal(t.error?.kind, 'Canceled');
  assert.match(t.error!.message, /terminated/);

  const deadline = runWasmProcess(wasm, 'p:spin', []);
  deadline.process.cancel(80);
  const c = await deadline.exit;
  assert.equal(c.error?.kind, 'Canceled');
  assert.match(c.error!.message, /deadline 80 ms passed/);

  const sleeper = runWasmProcess(wasm, 'p:sleep', [20]);
  sleeper.process.cancel(10_000);
  assert.deepEqual(await sleeper.exit, { value: 20 }, 'finished before its deadline');
});

test('process.wasm: guest stdout streams to the sink as written, all of it before the EXIT', async () => {
  const seen: string[] = [];
  const { exit } = runWasmProcess(wasm, 'p:say', ['line one\n'], { sink: (stream, bytes) => void seen.push(`${stream}:${Buffer.from(bytes).toString()}`) });
  const ev = await exit;
  seen.push('exit');
  assert.deepEqual(ev, { value: true });
  assert.deepEqual(seen, ['stdout:line one\n', 'exit']);
});

test('WasmProcessTable: processes by PID; terminate one, the other exits with its value; one EXIT each', async () => {
  const table = new WasmProcessTable(wasm);
  const exits: Array<[string, WasmExit]> = [];
  const done = new Promise<void>((resolve) => {
    const onExit = (pid: string) => (ev: WasmExit) => {
      exits.push([pid, ev]);
      if (exits.length === 2) resolve();
    };
    table.start('<0.1.1>', 'p:spin', [], {}, onExit('<0.1.1>'));
    table.start('<0.1.2>', 'p:compute', [6, 7], {}, onExit('<0.1.2>'));
  });
  assert.equal(table.size, 2);
  assert.throws(() => table.start('<0.1.2>', 'p:compute', [], {}, () => {}), /already running/);
  setTimeout(() => table.terminate('<0.1.1>', 'terminated by test'), 50);
  await done;
  exits.sort(([a], [b]) => a.localeCompare(b));
  assert.equal(exits[0]![1].error?.kind, 'Canceled');
  assert.match(exits[0]![1].error!.message, /terminated by test/);
  assert.deepEqual(exits[1], ['<0.1.2>', { value: 42 }]);
  assert.equal(table.size, 0);
  assert.equal(table.terminate('<0.1.1>'), false, 'an exited PID is gone');
});

function failureOf(r: { values: unknown[] } | { error: { kind: string; message: string } }) {
  assert.ok('error' in r);
  return r.error;
}

test('embedding API: a WASM function of a running app, called from JS beside its Lua processes', async () => {
  const { createRuntime, WasmFunctions: Exported } = await import('../src/index.js');
  const rt = await createRuntime({
    root: ROOT,
    entries: [
      { id: 'e:processes', kind: 'process.host', host: { workers: 1 } },
      { id: 'e:bin', kind: 'fs.directory', directory: 'wasm' },
      { id: 'e:compute', kind: 'function.wasm', fs: 'e:bin', path: '/calc.wasm', hash: MANIFEST['calc.wasm'], method: 'compute' },
      { id: 'e:square', kind: 'function.lua', method: 'main', source: 'return { main = function(x) return x * x end }' },
    ],
  });
  const fns = new Exported(rt.registry);
  try {
    const [w, l] = await Promise.all([fns.call('e:compute', [6, 7]), rt.exec('e:square', [7])]);
    assert.deepEqual(w, { values: [42] });
    assert.equal(l, 49);
  } finally {
    await fns.close();
    await rt.stop();
  }
});
