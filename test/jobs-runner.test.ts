// The job runner's admission, queue, events and cancellation against a fake host (no workers):
// the host's run queue can be made full at will, so pushback and maxQueue are deterministic here.
// test/jobs.test.ts drives the same API against real workers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HOST_FULL, type ExitInfo, type ExitReceiver } from '../src/runtime/control.js';
import { JobRunner, AbortError, JobTimeoutError, QueueFullError, type JobHost, type JobRunnerOptions } from '../src/runtime/jobs.js';
import { uncrossable } from '../src/runtime/crossing.js';
import { WippyError } from '../src/index.js';

/** A host whose queue takes `room` spawns; the test ends processes by hand. */
class FakeHost implements JobHost {
  room = Infinity;
  seq = 0;
  readonly live = new Map<string, ExitReceiver>();
  readonly started: string[] = [];
  readonly cancels: Array<[string, number, string | undefined]> = [];
  readonly events: string[] = [];
  holds = 0;
  spawnLua(id: string, _h: string | undefined, args: unknown[], onExit: ExitReceiver): string | typeof HOST_FULL | undefined {
    if (id === 'app:missing') throw new WippyError('factory not found', 'NotFound', false);
    if (this.room <= 0) return HOST_FULL;
    this.room--;
    const pid = `{app:p|0x${(++this.seq).toString(16)}}`;
    this.live.set(pid, onExit);
    this.started.push(`${id}:${JSON.stringify(args)}`);
    return pid;
  }
  spawn(): Promise<string> { return Promise.reject(new Error('not used')); }
  cancel(pid: string, graceMs: number, reason: string | undefined): void { this.cancels.push([pid, graceMs, reason]); }
  readonly kills: Array<[string, boolean]> = [];
  kill(pid: string, on: boolean): void { this.kills.push([pid, on]); }
  hold(): void { this.holds++; }
  release(): void { this.holds--; }
  emit(event: string): void { this.events.push(event); }
  workers(): number { return 2; }
  /** Process `pid` exits with `value` (or `error`). */
  exit(pid: string, value?: unknown, error?: WippyError): void {
    const cb = this.live.get(pid)!;
    this.live.delete(pid);
    const e: ExitInfo = error ? { pid, error } : { pid, value };
    if (typeof cb === 'function') cb(e); else cb.exited(e);
  }
}

function setup(opts: JobRunnerOptions = {}): { host: FakeHost; jobs: JobRunner } {
  const host = new FakeHost();
  return { host, jobs: new JobRunner(host, opts) };
}
const tick = () => new Promise((r) => setImmediate(r));
/** Wait for timers to make `cond` true (no time limit of its own: the test runner's timeout is the guard). */
async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setTimeout(r, 1));
}

test('a job resolves with its result, rejects with its error; run gives the EXIT as data', async () => {
  const { host, jobs } = setup();
  const a = jobs.exec('app:a', [1], {});
  const b = jobs.exec('app:b', [2], {});
  const c = jobs.run('app:c', [], {});
  host.exit('{app:p|0x1}', 'one');
  host.exit('{app:p|0x2}', undefined, new WippyError('boom', 'Internal'));
  host.exit('{app:p|0x3}', 3);
  assert.equal(await a, 'one');
  await assert.rejects(b, /boom/);
  assert.deepEqual(await c, { pid: '{app:p|0x3}', value: 3 });
  const s = jobs.stats();
  assert.equal(s.completed, 3);
  assert.equal(s.runTime.count, 3);
  assert.equal(s.waitTime.count, 3);
  assert.equal(s.running, 0);
});

test('a full host queue pushes jobs back; they start in order as room frees, then drain fires', async () => {
  const { host, jobs } = setup();
  host.room = 2;
  const results = [0, 1, 2, 3, 4].map((i) => jobs.exec('app:j', [i], {}));
  assert.deepEqual(host.started, ['app:j:[0]', 'app:j:[1]']);
  let s = jobs.stats();
  assert.equal(s.waiting, 3);
  assert.equal(s.needsDrain, true);
  assert.equal(host.holds, 1, 'waiting jobs hold Node alive');
  await tick();
  assert.deepEqual(host.events, ['needsDrain']);
  host.room = 1;
  host.exit('{app:p|0x1}', 0); // an EXIT pumps the queue
  assert.deepEqual(host.started.slice(2), ['app:j:[2]']);
  host.room = 5;
  await until(() => host.started.length === 5); // the retry timer admits the rest
  assert.deepEqual(host.started.slice(3), ['app:j:[3]', 'app:j:[4]']);
  s = jobs.stats();
  assert.equal(s.waiting, 0);
  assert.equal(s.needsDrain, false);
  assert.equal(host.holds, 0);
  assert.ok(s.pushedBack >= 2, `pushed back ${s.pushedBack} times`); // job 2 at submit, job 3 after the EXIT (+ retries)
  await tick();
  assert.deepEqual(host.events, ['needsDrain', 'drain']);
  for (const pid of [...host.live.keys()]) host.exit(pid, pid);
  assert.equal((await Promise.all(results)).length, 5);
});

test('maxQueue: one job more than maxQueue waiting is rejected with QueueFullError', async () => {
  const { host, jobs } = setup({ maxQueue: 2 });
  host.room = 0;
  const waiting = [jobs.exec('app:w', [1], {}), jobs.exec('app:w', [2], {})];
  await assert.rejects(jobs.exec('app:w', [3], {}), (e: Error) =>
    e instanceof QueueFullError && e.name === 'QueueFullError' && (e as WippyError).kind === 'Unavailable' &&
    (e as WippyError).retryable === true && /maxQueue 2/.test(e.message));
  assert.equal(jobs.stats().rejected, 1);
  await jobs.close(true);
  for (const w of waiting) await assert.rejects(w, (e: Error) => e instanceof AbortError);
  assert.equal(host.holds, 0);
});

test('concurrency bounds running jobs; the next starts when one exits', async () => {
  const { host, jobs } = setup({ concurrency: 2 });
  const all = [1, 2, 3].map((i) => jobs.exec('app:c', [i], {}));
  assert.equal(host.started.length, 2);
  host.exit('{app:p|0x2}', 2);
  assert.deepEqual(host.started, ['app:c:[1]', 'app:c:[2]', 'app:c:[3]']);
  host.exit('{app:p|0x1}', 1); host.exit('{app:p|0x3}', 3);
  assert.deepEqual(await Promise.all(all), [1, 2, 3]);
});

test('abort before start, while waiting, and while running; timeout', async () => {
  const { host, jobs } = setup({ cancelGraceMs: 250 });
  // before start: nothing is spawned
  const pre = new AbortController(); pre.abort('no');
  await assert.rejects(jobs.exec('app:x', [], { signal: pre.signal }), (e: Error) =>
    e instanceof AbortError && e.name === 'AbortError' && (e as WippyError).kind === 'Canceled' && (e as { cause?: unknown }).cause === 'no');
  assert.equal(host.started.length, 0);
  // while running: CANCEL with the grace, rejected when the EXIT comes
  const ac = new AbortController();
  const job = jobs.submit('app:x', [], { signal: ac.signal });
  assert.equal(await job.started, '{app:p|0x1}');
  ac.abort('stop it');
  assert.deepEqual(host.cancels, [['{app:p|0x1}', 250, 'aborted']]);
  let settled = false;
  job.result.catch(() => { settled = true; });
  await tick();
  assert.equal(settled, false, 'not settled before the process exits');
  host.exit('{app:p|0x1}', undefined, new WippyError('process terminated', ''));
  await assert.rejects(job.result, (e: Error) => e instanceof AbortError && (e as { cause?: unknown }).cause === 'stop it');
  // while waiting: leaves the queue, never starts
  host.room = 0;
  const ac2 = new AbortController();
  const w = jobs.submit('app:y', [], { signal: ac2.signal });
  ac2.abort();
  await assert.rejects(w.result, AbortError);
  await assert.rejects(w.started, /ended before it started/);
  assert.equal(jobs.stats().waiting, 0);
  // timeout while running. The kills asked for the first job (its 250 ms grace may have passed
  // before its EXIT on a loaded machine) are not this job's: only its own are compared.
  host.room = 1;
  const t = jobs.submit('app:slow', [], { timeout: 5, cancelGraceMs: 7 });
  await until(() => host.cancels.length === 2);
  assert.deepEqual(host.cancels[1], [t.pid, 7, 'timeout']);
  const killsOfT = () => host.kills.filter(([pid]) => pid === t.pid);
  await until(() => killsOfT().length === 1);
  assert.deepEqual(killsOfT(), [[t.pid, true]], 'past the grace the worker is asked to end it inside its step');
  host.exit(t.pid!, 'late');
  assert.deepEqual(killsOfT(), [[t.pid, true], [t.pid, false]], 'withdrawn at the EXIT');
  await assert.rejects(t.result, (e: Error) => e instanceof JobTimeoutError && e.name === 'TimeoutError' && (e as WippyError).kind === 'Timeout');
  // handle cancel()
  host.room = 1;
  const h = jobs.submit('app:z', [], {});
  h.cancel('bye');
  assert.equal(host.cancels[2]![0], h.pid);
  host.exit(h.pid!, 1);
  await assert.rejects(h.result, AbortError);
});

test('an EventEmitter emitting abort works as a signal, and listeners are removed when a job settles', async () => {
  const { EventEmitter } = await import('node:events');
  const { host, jobs } = setup();
  const ee = new EventEmitter();
  const p = jobs.exec('app:e', [], { signal: ee });
  assert.equal(ee.listenerCount('abort'), 1);
  host.exit('{app:p|0x1}', 'ok');
  assert.equal(await p, 'ok');
  assert.equal(ee.listenerCount('abort'), 0);
  const ac = new AbortController();
  for (let i = 0; i < 20; i++) { const q = jobs.exec('app:e', [], { signal: ac.signal }); host.exit(`{app:p|0x${(i + 2).toString(16)}}`, i); await q; }
  // an AbortSignal keeps no listener either: aborting now reaches no settled job
  ac.abort();
  assert.equal(host.cancels.length, 0);
});

test('bad input: arguments that cannot cross, an unknown entry, bad options — rejected, nothing held', async () => {
  const { host, jobs } = setup();
  const cyc: Record<string, unknown> = { a: 1 }; cyc['self'] = cyc;
  const cases: Array<[unknown[], RegExp]> = [
    [[1, { a: { b: () => 1 } }], /^args\[1\]\.a\.b is a function/],
    [[Symbol('s')], /^args\[0\] is a Symbol/],
    [[{ n: 1n << 70n }], /^args\[0\]\.n is a BigInt beyond 64 bits \(1180591620717411303424\)/],
    [[0, [cyc]], /^args\[1\]\[0\]\.self refers back to args\[1\]\[0\]: a cyclic value/],
    [[{ 'a b': [new Map([['k', () => 0]])] }], /^args\[0\]\["a b"\]\[0\]\.get\("k"\) is a function/],
  ];
  for (const [args, re] of cases) {
    await assert.rejects(jobs.exec('app:a', args, {}), (e: Error) => e instanceof TypeError && re.test(e.message));
  }
  await assert.rejects(jobs.exec('app:missing', [], {}), /factory not found/);
  await assert.rejects(jobs.exec('app:a', [], { timeout: -1 }), TypeError);
  assert.equal(host.started.length, 0);
  assert.equal(host.holds, 0);
  // shared but acyclic values and every kind of data cross
  const shared = { x: 1 };
  assert.equal(uncrossable([shared, shared, { m: new Map([[1, shared]]), d: new Date(0), b: new Uint8Array(2), big: (1n << 64n) - 1n, neg: -(1n << 63n), u: undefined, n: null }]), undefined);
  assert.throws(() => new JobRunner(host, { concurrency: 0 }), RangeError);
});

test('close() waits for running and waiting jobs, then resolves; new jobs are refused meanwhile', async () => {
  const { host, jobs } = setup({ concurrency: 1 });
  const a = jobs.exec('app:a', [], {});
  const b = jobs.exec('app:b', [], {});
  let closed = false;
  const c = jobs.close().then(() => { closed = true; });
  await assert.rejects(jobs.exec('app:late', [], {}), /closing/);
  host.exit('{app:p|0x1}', 'a');
  await tick();
  assert.equal(closed, false);
  host.exit('{app:p|0x2}', 'b');
  await c;
  assert.equal(closed, true);
  assert.deepEqual([await a, await b], ['a', 'b']);
});

test('stopping() rejects the waiting jobs at once', async () => {
  const { host, jobs } = setup();
  host.room = 0;
  const w = jobs.exec('app:w', [], {});
  jobs.stopping();
  await assert.rejects(w, /runtime stopped before the job started/);
  assert.equal(host.holds, 0);
});
