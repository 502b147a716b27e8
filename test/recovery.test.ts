// Worker death and stall recovery (src/runtime/recovery.ts): a worker that crashes, exits or
// wedges is replaced; every process that died with it exits with "worker crashed: …" /
// "worker stalled: …", which its monitors and links on the other worker hear, its names are
// released, rt.exec of it rejects, supervised services restart, and the runtime keeps serving.
// Faults come from the test-only door Runtime.testFault. No wall-clock thresholds: the tests wait
// for events and assert outcomes; the timings printed are measurements, not checks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pino } from 'pino';
import { createRuntime, createRegistry, Supervisor, WippyError, type ExitInfo, type Runtime, type WorkerDown } from '../src/index.js';
import { TidPool } from '../src/runtime/recovery.js';
import { MAX_THREADS } from '../src/shm/layout.js';
import { CHILD_NODE_FLAGS } from './helpers/node-child.js';

const silent = pino({ level: 'silent' });
const lua = (id: string, body: string) => ({ id, kind: 'process.lua', method: 'main', modules: ['time'],
  source: `local time = require("time")\nreturn { main = function(...)\n${body}\nend }` });

const entries = (host: Record<string, unknown> = {}) => [
  { id: 't:p', kind: 'process.host', host: { workers: 2, ...host } },
  // holds a name until it gets a message
  lua('t:holder', `local name = ...
    assert(process.registry.register(name))
    process.inbox():receive()
    return "released"`),
  // monitors and links `victim` (trapping links), then reports the two events it gets; `near`
  // only places it (a spawn from JS goes to the worker of the first PID it names: the peer rule)
  lua('t:watcher', `local near, victim, ready = ...
    process.set_options({ trap_links = true })
    assert(process.monitor(victim))
    assert(process.link(victim))
    assert(process.registry.register(ready))
    local ev = process.events()
    local got = {}
    for _ = 1, 2 do
      local e = ev:receive()
      got[e.kind] = { from = e.from, kind = e.result.error:kind(), message = tostring(e.result.error) }
    end
    return got`),
  lua('t:square', 'local x = ...; return x * x'),
  lua('t:service', `assert(process.registry.register("svc"))
    process.events():receive() -- until CANCEL (stop)`),
  { id: 't:svc', kind: 'process.service', process: 't:service', host: 't:p',
    lifecycle: { auto_start: true, restart: { initial_delay: '10ms', max_delay: '40ms', jitter: 0 } } },
];

/** Wait until `cond` holds (checked every few ms; the test's own timeout bounds the wait). */
async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setTimeout(r, 5));
}

/** A spawn whose EXIT is awaited through a promise. */
async function spawnWatched(rt: Runtime, entry: string, args: unknown[]): Promise<{ pid: string; exit: Promise<ExitInfo> }> {
  let done!: (e: ExitInfo) => void;
  const exit = new Promise<ExitInfo>((r) => { done = r; });
  const pid = await rt.spawn(entry, 't:p', args, done);
  return { pid, exit };
}

/** The outcome of a promise that may still be pending. */
function settle<T>(p: Promise<T>): { state: () => 'pending' | 'resolved' | 'rejected'; value?: T; error?: unknown } {
  const s: { st: 'pending' | 'resolved' | 'rejected'; value?: T; error?: unknown } = { st: 'pending' };
  p.then((v) => { s.st = 'resolved'; s.value = v; }, (e) => { s.st = 'rejected'; s.error = e; });
  return { state: () => s.st, get value() { return s.value; }, get error() { return s.error; } } as any;
}

test('a killed worker: watchers on the other worker hear EXIT and LINK_DOWN, names go, execs reject, services restart, the runtime keeps serving', async () => {
  const rt = await createRuntime({ entries: entries(), logger: silent });
  const sup = new Supervisor(rt, silent, () => 0.5);
  try {
    await sup.start();
    const svcPid = sup.status()[0]!.pid!;
    await until(() => rt.lookup('svc') === svcPid);
    const victim = rt.where(svcPid).runs;
    const [a, b] = rt.workerTids('t:p');
    const other = victim === a ? b! : a!;
    assert.ok(victim === a || victim === b);

    // Round-robin spawns: of two consecutive ones, one lands on each worker.
    const holders = [await spawnWatched(rt, 't:holder', ['h0']), await spawnWatched(rt, 't:holder', ['h1'])];
    const onVictim = holders.find((h) => rt.where(h.pid).runs === victim)!;
    const onOther = holders.find((h) => rt.where(h.pid).runs === other)!;
    assert.ok(onVictim && onOther, 'one holder per worker');
    await until(() => rt.lookup('h0') !== undefined && rt.lookup('h1') !== undefined);
    // One watcher beside each holder (the peer rule places a spawn from JS by the first PID it names).
    const watchers = [await spawnWatched(rt, 't:watcher', [onOther.pid, onVictim.pid, 'w0']),
      await spawnWatched(rt, 't:watcher', [onVictim.pid, onVictim.pid, 'w1'])];
    const watcher = watchers.find((w) => rt.where(w.pid).runs === other)!;
    assert.ok(watcher, 'a watcher on the other worker');
    await until(() => rt.lookup('w0') !== undefined && rt.lookup('w1') !== undefined);
    // Jobs: each goes to the lightest worker (live processes plus queued spawns; the holders and
    // the watchers do not exit), so of four jobs at least one has its home on the victim and dies
    // with it (home or runner).
    const JOBS = 4;
    const names = Array.from({ length: JOBS }, (_, i) => `e${i}`);
    const jobs = names.map((n) => settle(rt.exec('t:holder', [n], { host: 't:p' })));
    await until(() => names.every((n) => rt.lookup(n) !== undefined));
    const jobPids = names.map((n) => rt.lookup(n)!);
    const jobDies = jobPids.map((pid) => { const w = rt.where(pid); return w.home === victim || w.runs === victim; });
    assert.ok(jobDies.includes(true), 'one job dies with the victim');

    const t0 = performance.now();
    const down = once(rt, 'worker-down') as Promise<[WorkerDown]>;
    rt.testFault(victim, 'throw');
    const [ev] = await down;
    const tDown = performance.now();
    const got = (await watcher.exit).value as Record<string, { from: string; kind: string; message: string }>;
    const tExit = performance.now();
    console.log(`# kill -> worker-down ${(tDown - t0).toFixed(1)} ms, -> EXIT at the watcher ${(tExit - t0).toFixed(1)} ms; ` +
      `directory scan ${ev.scanMs.toFixed(2)} ms for ${ev.processes} PIDs`);

    assert.equal(ev.tid, victim);
    assert.equal(ev.host, 't:p');
    assert.match(ev.message, /^worker crashed: test fault: uncaught error in the worker$/);
    assert.ok(ev.processes >= 3, `PIDs that died: ${ev.processes}`);
    // the watcher on the other worker got both events, with the worker's error
    assert.deepEqual(got['pid.exit'], { from: onVictim.pid, kind: 'Internal', message: ev.message });
    assert.deepEqual(got['pid.link.down'], { from: onVictim.pid, kind: 'Internal', message: ev.message });
    // the processes on the victim exited with it, as their JS watchers hear
    const ve = await onVictim.exit;
    assert.ok(ve.error instanceof WippyError);
    assert.equal(ve.error.message, ev.message);
    assert.equal(ve.error.kind, 'Internal');
    // names held there are released; names elsewhere stay
    assert.equal(rt.lookup(onVictim === holders[0] ? 'h0' : 'h1'), undefined);
    assert.equal(rt.lookup(onOther === holders[0] ? 'h0' : 'h1'), onOther.pid);
    assert.throws(() => rt.send(onVictim.pid, 'x'), /process not found/);
    // execs of processes that died with it reject; the other one still runs and finishes
    await until(() => jobs.every((j, i) => !jobDies[i] || j.state() === 'rejected'));
    for (let i = 0; i < JOBS; i++) {
      if (jobDies[i]) {
        assert.equal((jobs[i]!.error as WippyError).message, ev.message);
        assert.equal(rt.lookup(`e${i}`), undefined);
      } else {
        assert.equal(jobs[i]!.state(), 'pending');
        rt.send(jobPids[i]!, 'go');
      }
    }
    await until(() => jobs.every((j) => j.state() !== 'pending'));
    for (let i = 0; i < JOBS; i++) if (!jobDies[i]) assert.equal(jobs[i]!.value, 'released');

    // the supervised service restarts through its backoff, and can take its name again
    await until(() => { const s = sup.status()[0]!; return s.state === 'running' && s.pid !== svcPid && rt.lookup('svc') === s.pid; });
    assert.match(sup.status()[0]!.lastError ?? '', /^worker crashed: /);

    // a replacement joined the host, and work lands on it
    const R = ev.replacement!;
    assert.ok(R !== undefined && R !== victim);
    assert.deepEqual(rt.workerTids('t:p').sort(), [other, R].sort());
    const squares = await Promise.all([1, 2, 3, 4, 5, 6].map((x) => rt.exec('t:square', [x], { host: 't:p' })));
    assert.deepEqual(squares, [1, 4, 9, 16, 25, 36]);
    const spawned = [await spawnWatched(rt, 't:square', [7]), await spawnWatched(rt, 't:square', [8])];
    assert.ok(spawned.some((s) => rt.where(s.pid).runs === R), 'a round-robin spawn lands on the replacement');
    assert.deepEqual((await Promise.all(spawned.map((s) => s.exit))).map((e) => e.value), [49, 64]);
    rt.send(onOther.pid, 'go');
    assert.equal((await onOther.exit).value, 'released');
  } finally {
    await sup.stop();
    await rt.stop(1000);
  }
});

test('every kind of worker fault is recovered, repeatedly, and stop() completes after the replacements', async () => {
  const rt = await createRuntime({ entries: entries(), logger: silent });
  try {
    const faults = ['abort', 'exit', 'throw', 'abort', 'exit', 'throw'] as const;
    const seen: string[] = [];
    for (let i = 0; i < faults.length; i++) {
      assert.equal(rt.workerTids('t:p').length, 2);
      // a process on the victim (round-robin: the workers take turns), so there is something to lose
      const h = await spawnWatched(rt, 't:holder', [`k${i}`]);
      const victim = rt.where(h.pid).runs;
      const down = once(rt, 'worker-down') as Promise<[WorkerDown]>;
      rt.testFault(victim, faults[i]!);
      const [ev] = await down;
      assert.equal(ev.tid, victim);
      seen.push(ev.message);
      const e = await h.exit;
      assert.equal(e.error?.message, ev.message);
      assert.equal(await rt.exec('t:square', [i], { host: 't:p' }), i * i);
    }
    assert.match(seen[0]!, /^worker crashed: kernel fault: /);
    assert.equal(seen[1], 'worker crashed: thread exited with code 3');
    assert.equal(seen[2], 'worker crashed: test fault: uncaught error in the worker');
  } finally {
    await rt.stop(1000);
  }
});

test('process.exec from Lua of a process on a worker that dies returns the worker error', async () => {
  const rt = await createRuntime({ logger: silent, entries: [...entries(), { id: 't:q', kind: 'process.host', host: { workers: 1 } },
    lua('t:caller', `local v, err = process.exec("t:holder", "t:q", "callee")
      return { v = v, kind = err and err:kind(), message = err and tostring(err) }`)] });
  try {
    const caller = rt.exec('t:caller', [], { host: 't:p' }) as Promise<{ kind: string; message: string }>;
    await until(() => rt.lookup('callee') !== undefined);
    const [q] = rt.workerTids('t:q');
    assert.equal(rt.where(rt.lookup('callee')!).runs, q);
    const down = once(rt, 'worker-down') as Promise<[WorkerDown]>;
    rt.testFault(q!, 'exit');
    const [ev] = await down;
    assert.deepEqual(await caller, { kind: 'Internal', message: ev.message });
    assert.equal(rt.lookup('callee'), undefined);
    // the host got its replacement: a spawn there works again
    const again = rt.exec('t:holder', ['callee2'], { host: 't:q' });
    await until(() => rt.lookup('callee2') !== undefined);
    assert.equal(rt.where(rt.lookup('callee2')!).runs, ev.replacement);
    rt.send('callee2', 'go');
    assert.equal(await again, 'released');
  } finally {
    await rt.stop(1000);
  }
});

test('a wedged worker is terminated after host.stall_timeout and replaced', async () => {
  const rt = await createRuntime({ entries: entries({ stall_timeout: '400ms' }), logger: silent });
  try {
    const [a] = rt.workerTids('t:p');
    const hs = [await spawnWatched(rt, 't:holder', ['s0']), await spawnWatched(rt, 't:holder', ['s1'])];
    const h = hs.find((x) => rt.where(x.pid).runs === a)!;
    // (on a loaded machine a healthy worker descheduled inside a step could be taken for stalled
    // too; the runtime would replace it as well, so wait for the wedged one's event)
    const downs: WorkerDown[] = [];
    rt.on('worker-down', (d: WorkerDown) => downs.push(d));
    rt.testFault(a!, 'wedge');
    await until(() => downs.some((d) => d.tid === a));
    const ev = downs.find((d) => d.tid === a)!;
    assert.match(ev.message, /^worker stalled: inside one step for \d+ ms \(host\.stall_timeout 400 ms\)$/);
    assert.equal((await h.exit).error?.message, ev.message);
    assert.ok(ev.replacement !== undefined);
    assert.deepEqual(await Promise.all([2, 3, 4].map((x) => rt.exec('t:square', [x], { host: 't:p' }))), [4, 9, 16]);
  } finally {
    await rt.stop(1000);
  }
});

test('stop() ends with a wedged worker: it is terminated after the grace and waiting callers hear', async () => {
  const rt = await createRuntime({ entries: entries(), logger: silent });
  const [a] = rt.workerTids('t:p');
  const hs = [await spawnWatched(rt, 't:holder', ['x0']), await spawnWatched(rt, 't:holder', ['x1'])];
  const h = hs.find((x) => rt.where(x.pid).runs === a)!;
  rt.testFault(a!, 'wedge');
  await rt.stop(100);
  const e = await h.exit;
  assert.equal(e.error?.message, 'runtime stopped before the process exited');
});

test('thread ids: fresh ones first; a dead one comes back only after every told worker handled its death', () => {
  const pool = new TidPool(MAX_THREADS - 2);
  assert.equal(pool.take(), MAX_THREADS - 2);
  assert.equal(pool.take(), MAX_THREADS - 1);
  assert.equal(pool.take(), undefined, 'ids are bytes in the owner table');
  pool.retire(7, [1, 2]);
  assert.equal(pool.take(), undefined);
  pool.ack(1, 7);
  assert.equal(pool.take(), undefined, 'worker 2 has not answered yet');
  pool.forget(2); // worker 2 died: it owes nothing
  assert.equal(pool.take(), 7);
  pool.retire(9, []);
  assert.equal(pool.take(), 9);
});

test('host.stall_timeout: a duration greater than zero, with precise errors', () => {
  const bad = (v: unknown) => {
    try {
      createRegistry([{ id: 'app:h', kind: 'process.host', host: { stall_timeout: v } }] as any);
    } catch (e) {
      return (e as Error).message;
    }
    return 'accepted';
  };
  assert.match(bad(5), /entry app:h: field host\.stall_timeout: duration 5 needs a unit/);
  assert.match(bad('0s'), /entry app:h: field host\.stall_timeout: stall timeout must be greater than 0/);
  assert.match(bad('soon'), /entry app:h: field host\.stall_timeout: invalid duration "soon"/);
  const reg = createRegistry([{ id: 'app:h', kind: 'process.host', host: { stall_timeout: '2m' } }, { id: 'app:d', kind: 'process.host' }] as any);
  assert.equal((reg.get('app:h') as any).host.stallTimeoutMs, 120_000);
  assert.equal((reg.get('app:d') as any).host.stallTimeoutMs, 30_000);
});

test('wippy run --exec ends on SIGTERM even when the shutdown wedges a worker', async () => {
  // The process wedges its worker only once the shutdown's CANCEL reaches it, so SIGTERM comes
  // first whatever the timing; the stall watchdog keeps running during stop and ends the worker.
  const dir = mkdtempSync(join(tmpdir(), 'wippy-wedge-'));
  mkdirSync(join(dir, 'src'));
  writeFileSync(join(dir, 'wippy.lock'), 'directories:\n  src: ./src\n');
  writeFileSync(join(dir, 'src', '_index.yaml'), [
    'version: "1.0"',
    'namespace: app',
    'entries:',
    '  - name: processes',
    '    kind: process.host',
    '    host: { workers: 2, max_reductions: 0, stall_timeout: 300ms }',
    '  - name: spin',
    '    kind: process.lua',
    '    method: main',
    '    source: |',
    '      return { main = function()',
    '        local ev = process.events()',
    '        print("waiting")',
    '        ev:receive()',
    '        while true do end',
    '      end }',
    '',
  ].join('\n'));
  const child = spawn(process.execPath, [...CHILD_NODE_FLAGS, resolve('bin/wippy.js'), 'run', '--exec', 'app:spin'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { err += d; });
  await until(() => out.includes('waiting'));
  child.kill('SIGTERM');
  const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  assert.equal(code, 143, err);
  assert.match(err, /"signal":"SIGTERM","msg":"shutting down/);
  assert.match(err, /error: worker stalled: inside one step for \d+ ms \(host\.stall_timeout 300 ms\)/);
});
