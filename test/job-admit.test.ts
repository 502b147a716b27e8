// Admission of jobs on a multi-worker host (src/runtime/control.ts, "Admission"): a job goes to
// its worker by "sp" frame while that worker has fewer such jobs unfinished than its inject
// queue holds (the bound), else through the run queues as before (inject queue, global queue,
// then HOST_FULL: the runner pushes it back). What must hold: every job runs exactly once and
// settles with its own result; the bound is released by every kind of end (a result, an error, a
// cancel, a timeout), so a stream of jobs keeps going by frame; past the bound the queues take
// the overflow and a full host pushes back, with nothing lost. Counted through the workers'
// own figures: processes started, and spawns taken from the run queues (Runtime.stats()).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRuntime, AbortError, type Runtime, type WippyError } from '../src/index.js';
import { mulberry32 } from './helpers/prng.js';

const ENTRIES = [
  // local_queue_size 2: two jobs by frame per worker, then two in its inject queue, two in the
  // host's global queue (queue_size 2), then HOST_FULL
  { id: 't:tight', kind: 'process.host', host: { workers: 2, queue_size: 2, local_queue_size: 2 } },
  { id: 't:wide', kind: 'process.host', host: { workers: 2 } },
  // no budget hook: jobs go through the inject queues, where an idle sibling's stuck rule sees them
  { id: 't:bare', kind: 'process.host', host: { workers: 2, max_reductions: 0, max_memory_mb: 0 } },
  { id: 't:square', kind: 'function.lua', method: 'main', source: 'return { main = function(x) return x * x end }' },
  { id: 't:fail', kind: 'function.lua', method: 'main', source: 'return { main = function(x) error("no " .. x) end }' },
  // computes ~40M VM instructions without yielding (under the default budget of 100M)
  { id: 't:compute', kind: 'function.lua', method: 'main', source: 'return { main = function() local x = 0; for i = 1, 10000000 do x = x + i end; return x end }' },
  { id: 't:blocked', kind: 'process.lua', method: 'main', source: 'return { main = function() process.inbox():receive(); return 0 end }' },
];

/**
 * Processes started, and spawns taken from the run queues (a job that came by frame and waited in
 * its worker's Lua-side list is not one of the worker's spawns: not counted), summed over the
 * workers.
 */
async function counts(rt: Runtime): Promise<{ started: number; taken: number }> {
  let started = 0, taken = 0;
  for (const w of await rt.stats()) {
    started += w.started;
    taken += w.queue.own + w.queue.global + w.queue.stolen;
  }
  return { started, taken };
}

describe('job admission on a two-worker host', () => {
  let rt: Runtime;
  before(async () => { rt = await createRuntime({ entries: ENTRIES, jobs: { cancelGraceMs: 20 } }); });
  after(async () => { await rt.stop(); });

  test('under the bound every job goes by frame and runs once', async () => {
    const rnd = mulberry32(0x5eed01);
    const c0 = await counts(rt);
    let total = 0;
    for (let round = 0; round < 5; round++) {
      const n = 1 + Math.floor(rnd() * 64); // at most 64 in flight: under the default bound (1,024 per worker)
      const xs = Array.from({ length: n }, () => Math.floor(rnd() * 1000));
      const rs = await Promise.all(xs.map((x) => rt.exec('t:square', [x], { host: 't:wide' })));
      assert.deepEqual(rs, xs.map((x) => x * x));
      total += n;
    }
    const c1 = await counts(rt);
    assert.equal(c1.started - c0.started, total, 'each job started exactly once');
    assert.equal(c1.taken - c0.taken, 0, 'no job went through the shared run queues');
  });

  test('every end releases the bound: results, errors, cancels and timeouts, one at a time, all by frame', async () => {
    const rnd = mulberry32(0x5eed02);
    const c0 = await counts(rt);
    let jobs = 0;
    // 40 jobs one at a time on a host whose bound is 2 per worker: any end that kept its place
    // would send the later ones through the queues
    for (let i = 0; i < 40; i++) {
      const kind = Math.floor(rnd() * 4);
      jobs++;
      if (kind === 0) assert.equal(await rt.exec('t:square', [i], { host: 't:tight' }), i * i);
      else if (kind === 1) {
        await assert.rejects(rt.exec('t:fail', [i], { host: 't:tight' }), (e: WippyError) => e.message.endsWith(`no ${i}`));
      } else if (kind === 2) {
        const job = rt.submit('t:blocked', [], { host: 't:tight' });
        await job.started;
        job.cancel('enough');
        await assert.rejects(job.result, (e: unknown) => e instanceof AbortError);
      } else {
        await assert.rejects(rt.exec('t:blocked', [], { host: 't:tight', timeout: 5 }), (e: WippyError) => e.name === 'TimeoutError');
      }
    }
    const c1 = await counts(rt);
    assert.equal(c1.started - c0.started, jobs);
    assert.equal(c1.taken - c0.taken, 0, 'every job went by frame');
    assert.equal(rt.internals().watchers, 0);
  });

  test('past the bound the run queues take the overflow and a full host pushes back; nothing lost or run twice', async () => {
    const rnd = mulberry32(0x5eed03);
    const c0 = await counts(rt);
    const before = rt.jobStats().pushedBack;
    const n = 200 + Math.floor(rnd() * 100);
    const xs = Array.from({ length: n }, () => Math.floor(rnd() * 10_000));
    // all submitted in one turn: 4 by frame, 6 in the queues, the rest pushed back and admitted
    // as jobs end
    const rs = await Promise.all(xs.map((x) => rt.exec('t:square', [x], { host: 't:tight' })));
    assert.deepEqual(rs, xs.map((x) => x * x));
    const c1 = await counts(rt);
    assert.equal(c1.started - c0.started, n, 'each job started exactly once');
    assert.ok(c1.taken - c0.taken > 0, 'some jobs went through the run queues');
    assert.ok(rt.jobStats().pushedBack > before, 'the full host pushed jobs back');
    const s = rt.jobStats();
    assert.equal(s.running, 0);
    assert.equal(s.waiting, 0);
    // and the bound is free again: the next jobs go by frame
    const c2 = await counts(rt);
    for (let i = 0; i < 8; i++) assert.equal(await rt.exec('t:square', [i], { host: 't:tight' }), i * i);
    const c3 = await counts(rt);
    assert.equal(c3.taken - c2.taken, 0);
    assert.equal(c3.started - c2.started, 8);
  });

  test('a job behind one that computes is handed to the idle sibling (the sharing rule), not held behind it', async () => {
    // The computing job goes first; the short ones of the same turn spread over both workers, so
    // about half queue behind it. The computing resume hands its worker's queued jobs to the
    // sibling, so every short job settles before the computing one.
    for (const host of ['t:wide', 't:bare']) {
      const c0 = await counts(rt);
      const order: string[] = [];
      const long = rt.exec('t:compute', [], { host }).then((v) => { order.push('compute'); return v; });
      const short = Array.from({ length: 20 }, (_, i) => rt.exec('t:square', [i], { host }).then((v) => { order.push(`s${i}`); return v; }));
      assert.deepEqual(await Promise.all(short), Array.from({ length: 20 }, (_, i) => i * i));
      assert.equal(await long, 50000005000000);
      assert.equal(order.at(-1), 'compute', `${host}: settled in order ${order.join(' ')}`);
      const c1 = await counts(rt);
      assert.equal(c1.started - c0.started, 21);
    }
  });
});
