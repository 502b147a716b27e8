// The job runner against real workers: exec/run/submit with signals and timeouts, a bounded
// queue, drain events, close() vs stop(), arguments that cannot cross, stats, and scripts that
// forget stop() (they must exit by themselves). Admission mechanics in isolation:
// test/jobs-runner.test.ts.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRuntime, AbortError, JobTimeoutError, QueueFullError, WippyError, type Runtime } from '../src/index.js';
import { CHILD_NODE_FLAGS } from './helpers/node-child.js';

const HOSTS = [
  { id: 'app:processes', kind: 'process.host', host: { workers: 2, queue_size: 2 } },
  { id: 'app:single', kind: 'process.host', host: { workers: 1 } },
];
const lua = (name: string, body: string, modules: string[] = []) =>
  ({ id: `app:${name}`, kind: 'process.lua', method: 'main', modules, source: `return { main = function(...)\n${body}\nend }` });
const ENTRIES = [
  ...HOSTS,
  { id: 'app:square', kind: 'function.lua', method: 'main', source: 'return { main = function(x) return x * x end }' },
  lua('echo', 'local a, b = ...; return { a = a, b = b }'),
  // blocked forever; ignores CANCEL (terminated at the deadline)
  lua('blocked', 'process.inbox():receive(); return "never"'),
  // returns on CANCEL
  lua('polite', `
    local ev = process.events()
    while true do
      local e = ev:receive()
      if e.kind == process.event.CANCEL then return "cancelled" end
    end`),
  // CPU-bound: never yields, so its worker cannot read a CANCEL frame until it ends
  lua('spin', 'local x = 0; while true do x = x + 1 end'),
  // WASM function jobs (admitted by the spawn rpc, not the synchronous Lua path)
  { id: 'app:answer', kind: 'function.wat', method: 'answer', wit: 'answer: func() -> s32;', pool: { type: 'inline' },
    source: '(module (func (export "answer") (result i32) i32.const 42))' },
  { id: 'app:wasm_spin', kind: 'function.wat', method: 'spin', wit: 'spin: func();', pool: { type: 'inline' },
    source: '(module (func (export "spin") (loop $l (br $l))))' },
  // finishes when told
  lua('until_told', 'local m = process.inbox():receive(); return m:payload():data()'),
];

describe('job runner on workers', () => {
  let rt: Runtime;
  before(async () => { rt = await createRuntime({ entries: ENTRIES, jobs: { cancelGraceMs: 50 } }); });
  after(async () => { await rt.stop(); });

  test('exec, run and submit; many jobs through a host whose run queue holds 2', async () => {
    assert.equal(await rt.exec('app:square', [7]), 49);
    assert.deepEqual(await rt.exec('app:echo', [1, 'x']), { a: 1, b: 'x' });
    const exit = await rt.run('app:echo', [2]);
    assert.match(exit.pid, /^\{app:processes\|/);
    assert.deepEqual(exit.value, { a: 2 });
    const h = rt.submit('app:square', [8]);
    assert.equal(await h.result, 64);
    assert.equal(await h.started, h.pid);
    // 300 jobs in one turn: whatever the host's queue refuses waits and starts later; nothing lost
    const n = 300;
    const results = await Promise.all(Array.from({ length: n }, (_, i) => rt.exec('app:square', [i])));
    assert.deepEqual(results, Array.from({ length: n }, (_, i) => i * i));
    const s = rt.jobStats();
    console.log(`${n} jobs on a host whose run queue holds 2: pushed back ${s.pushedBack} times`);
    assert.equal(s.running, 0);
    assert.equal(s.waiting, 0);
    assert.ok(s.completed >= n + 4);
  });

  test('abort before start spawns nothing', async () => {
    const before = rt.internals().liveSlots;
    const ac = new AbortController();
    ac.abort(new Error('changed my mind'));
    await assert.rejects(rt.exec('app:blocked', [], { signal: ac.signal }), (e: Error) =>
      e instanceof AbortError && e.name === 'AbortError' && (e.cause as Error).message === 'changed my mind');
    assert.equal(rt.internals().liveSlots, before);
    assert.equal(rt.internals().watchers, 0);
  });

  test('abort while running: a blocked job that ignores CANCEL is terminated at the deadline', async () => {
    for (const host of ['app:processes', 'app:single']) {
      const ac = new AbortController();
      const job = rt.submit('app:blocked', [], { signal: ac.signal, host });
      const pid = await job.started;
      ac.abort('enough');
      await assert.rejects(job.result, (e: Error) => e instanceof AbortError && e.cause === 'enough');
      assert.throws(() => rt.send(pid, 'x'), /process not found/, 'the process is gone when the job settles');
      assert.equal(rt.internals().watchers, 0);
    }
  });

  test('abort while running: a job that handles CANCEL returns, and the job still rejects as aborted', async () => {
    const job = rt.submit('app:polite', []);
    await job.started;
    job.cancel('please');
    await assert.rejects(job.result, (e: Error) => e instanceof AbortError && e.cause === 'please');
  });

  test('abort while running: a CPU-bound job is ended at the deadline inside its step; its worker lives on', async () => {
    const downs: unknown[] = [];
    rt.on('worker-down', (d) => downs.push(d));
    for (const host of ['app:single', 'app:processes']) {
      const job = rt.submit('app:spin', [], { host });
      await job.started;
      job.cancel();
      await assert.rejects(job.result, (e: Error) => e instanceof AbortError && (e.cause as WippyError).message === 'process terminated');
    }
    assert.equal(await rt.exec('app:square', [3], { host: 'app:single' }), 9);
    assert.deepEqual(downs, []);
  });

  test('timeout: the job is cancelled and rejects with JobTimeoutError', async () => {
    await assert.rejects(rt.exec('app:blocked', [], { timeout: 20, cancelGraceMs: 10 }), (e: Error) =>
      e instanceof JobTimeoutError && e.name === 'TimeoutError' && (e as WippyError).kind === 'Timeout' && /timed out after 20 ms/.test(e.message));
    // a job faster than its timeout resolves, and its timer is gone
    assert.equal(await rt.exec('app:square', [3], { timeout: 60_000 }), 9);
  });

  test('WASM jobs: a result, and a looping guest stopped by the timeout (its one-thread pool serves again)', async () => {
    assert.equal(await rt.exec('app:answer', []), 42);
    await assert.rejects(rt.exec('app:wasm_spin', [], { timeout: 30 }), JobTimeoutError);
    const ac = new AbortController();
    const job = rt.submit('app:wasm_spin', [], { signal: ac.signal });
    await job.started;
    ac.abort();
    await assert.rejects(job.result, AbortError);
    assert.equal(await rt.exec('app:answer', []), 42);
    assert.equal(rt.internals().wasmCalls, 0);
  });

  test('arguments that cannot cross are rejected up front with their path; nothing is held', async () => {
    const cyc: Record<string, unknown> = {}; cyc['me'] = cyc;
    await assert.rejects(rt.exec('app:echo', [1, { a: { b: () => 0 } }]), { name: 'TypeError', message: 'args[1].a.b is a function; a process argument must be data' });
    await assert.rejects(rt.exec('app:echo', [1n << 64n]), /^TypeError: args\[0\] is a BigInt beyond 64 bits/);
    await assert.rejects(rt.exec('app:echo', [Symbol('s')]), /args\[0\] is a Symbol/);
    await assert.rejects(rt.exec('app:echo', [{ c: cyc }]), /args\[0\]\.c\.me refers back to args\[0\]\.c/);
    await assert.rejects(rt.spawn('app:echo', undefined, [() => 0]), /args\[0\] is a function/);
    assert.throws(() => rt.send('{app:processes|0x1}', 't', 1, { f: Symbol('x') }), /payloads\[1\]\.f is a Symbol/);
    const i = rt.internals();
    assert.equal(i.watchers, 0);
    assert.equal(i.replies, 0);
  });

  test('stats(): still one entry per worker, plus the job figures', async () => {
    const s = await rt.stats();
    assert.equal(s.length, 3);
    assert.ok(s.every((w) => typeof w.tid === 'number'));
    assert.ok(s.jobs.completed > 0);
    assert.ok(s.jobs.runTime.count > 0 && s.jobs.runTime.p50 > 0 && s.jobs.runTime.max >= s.jobs.runTime.min);
    assert.equal(s.jobs.waitTime.count, s.jobs.runTime.count);
    assert.ok(s.jobs.utilization > 0);
    assert.ok(s.jobs.duration > 0);
  });
});

describe('bounded queue, drain, close vs stop', () => {
  test('concurrency 1 + maxQueue 1: the third job is refused; needsDrain then drain', async () => {
    const rt = await createRuntime({ entries: ENTRIES, jobs: { concurrency: 1, maxQueue: 1 } });
    const events: string[] = [];
    rt.on('needsDrain', () => events.push('needsDrain'));
    rt.on('drain', () => events.push('drain'));
    const first = rt.submit('app:until_told', []);
    const second = rt.exec('app:square', [5]);
    await assert.rejects(rt.exec('app:square', [6]), (e: Error) => e instanceof QueueFullError && (e as WippyError).kind === 'Unavailable');
    assert.deepEqual({ running: rt.jobStats().running, waiting: rt.jobStats().waiting }, { running: 1, waiting: 1 });
    rt.send(await first.started, 'go', 'first done');
    assert.equal(await first.result, 'first done');
    assert.equal(await second, 25);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(events, ['needsDrain', 'drain']);
    await rt.stop();
  });

  test('close() waits for running jobs; stop() cancels them', async () => {
    const rt = await createRuntime({ entries: ENTRIES });
    const job = rt.submit('app:until_told', []);
    const pid = await job.started;
    let closed = false;
    const closing = rt.close().then(() => { closed = true; });
    await assert.rejects(rt.exec('app:square', [2]), /closing/);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(closed, false, 'close() waits for the running job');
    rt.send(pid, 'go', 42);
    assert.equal(await job.result, 42);
    await closing;

    const rt2 = await createRuntime({ entries: ENTRIES });
    const j2 = rt2.submit('app:until_told', []);
    await j2.started;
    const rejected = assert.rejects(j2.result, (e: WippyError) => e instanceof WippyError && e.message === 'process terminated');
    await rt2.stop(100);
    await rejected;
  });
});

test("'error' is emitted for a worker that dies, when someone listens; jobs go on", async () => {
  const rt = await createRuntime({ entries: ENTRIES, logger: (await import('pino')).pino({ level: 'silent' }) });
  // Awaiting runtime events holds nothing (an idle runtime lets Node exit): a timer keeps this test alive.
  const keep = setInterval(() => {}, 1000);
  try {
    const errors: Error[] = [];
    rt.on('error', (e: Error) => errors.push(e));
    const [tid] = rt.workerTids('app:single');
    const down = new Promise((r) => rt.once('worker-down', r));
    rt.testFault(tid!, 'exit');
    await down;
    assert.equal(errors.length, 1);
    assert.match(errors[0]!.message, new RegExp(`^worker app:single#${tid} died: worker crashed: thread exited with code 3$`));
    await new Promise((r) => rt.once('worker-up', r));
    assert.equal(await rt.exec('app:square', [4], { host: 'app:single' }), 16);
  } finally {
    clearInterval(keep);
    await rt.stop(1000);
  }
});

describe('scripts that never call stop() exit by themselves', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wippy-jobs-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const index = new URL('../src/index.js', import.meta.url).href;
  const run = (name: string, body: string) => {
    const file = join(dir, `${name}.mjs`);
    writeFileSync(file, `import { createRuntime } from ${JSON.stringify(index)};\n` +
      `const rt = await createRuntime({ entries: ${JSON.stringify(ENTRIES)} });\n${body}\n`);
    // the timeout only guards the test run against a hang; the assertion is the exit status
    return spawnSync(process.execPath, [...CHILD_NODE_FLAGS, file], { encoding: 'utf8', timeout: 120_000 });
  };

  test('after jobs (one aborted while running)', () => {
    const r = run('forgets', `
      console.log(await rt.exec('app:square', [7]));
      const j = rt.submit('app:blocked', [], { cancelGraceMs: 10 });
      await j.started; j.cancel();
      console.log(await j.result.catch((e) => e.name));
      const s = await rt.stats(); console.log(s.jobs.completed);`);
    assert.equal(r.signal, null, `killed: ${r.stderr}`);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, '49\nAbortError\n2\n');
  });

  test('after a bad argument', () => {
    const r = run('bad-arg', `
      try { await rt.exec('app:echo', [1n << 70n]); } catch (e) { console.log(e.name); }
      try { await rt.exec('app:nope', []); } catch (e) { console.log(e.message); }`);
    assert.equal(r.signal, null, `killed: ${r.stderr}`);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'TypeError\nfactory not found: app:nope\n');
  });

  test('an idle runtime that did nothing', () => {
    const r = run('idle', `console.log('started');`);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'started\n');
  });
});
