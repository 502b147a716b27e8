// A job's path on the worker: a process started by a frame (a job from JS: "sp" on a one-worker
// host, a run-queue task on a two-worker host) runs its module's chunk in a hooked coroutine that
// then goes on as the process's main thread (src/lua/kernel/spawn.lua run_chunk). What must hold
// whatever coroutine a job runs in: each job gets its own module instance and globals, a job that
// fails, is cancelled or is killed leaves nothing to the next, the errors of a chunk that yields or
// has no main are the spawn's own, and a failing main's traceback shows no frame of the kernel's.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRuntime, AbortError, type Runtime, type WippyError } from '../src/index.js';

const HOSTS = [
  { id: 't:one', kind: 'process.host', host: { workers: 1 } },
  { id: 't:two', kind: 'process.host', host: { workers: 2 } },
  { id: 't:small', kind: 'process.host', host: { workers: 1, max_reductions: 2_000_000 } },
];
const FAIL = 'local function inner(x)\n  error("boom " .. x)\nend\nreturn { main = function(x) LEFT = x; inner(x) end }';
const ENTRIES = [
  ...HOSTS,
  { id: 't:fail', kind: 'function.lua', method: 'main', source: FAIL },
  { id: 't:pfail', kind: 'process.lua', method: 'main', source: FAIL },
  { id: 't:read', kind: 'function.lua', method: 'main', source: 'return { main = function() return tostring(LEFT) end }' },
  { id: 't:count', kind: 'function.lua', method: 'main', source: 'local n = 0\nreturn { main = function() n = n + 1; COUNT = (COUNT or 0) + 1; return n * 10 + COUNT end }' },
  { id: 't:yield', kind: 'function.lua', method: 'main', source: 'coroutine.yield(1)\nreturn { main = function() return 1 end }' },
  { id: 't:nomain', kind: 'function.lua', method: 'main', source: 'return { other = function() return 1 end }' },
  { id: 't:told', kind: 'process.lua', method: 'main',
    source: 'local y = coroutine.isyieldable()\nreturn { main = function() local m = process.inbox():receive(); return { y, coroutine.isyieldable(), m:payload():data() } end }' },
  { id: 't:blocked', kind: 'process.lua', method: 'main', source: 'return { main = function() process.inbox():receive(); return "never" end }' },
  { id: 't:spin', kind: 'function.lua', method: 'main', source: 'return { main = function() local x = 0; while true do x = x + 1 end end }' },
  { id: 't:square', kind: 'function.lua', method: 'main', source: 'return { main = function(x) return x * x end }' },
];

describe('a job started by a frame', () => {
  let rt: Runtime;
  before(async () => { rt = await createRuntime({ entries: ENTRIES, jobs: { cancelGraceMs: 20 } }); });
  after(async () => { await rt.stop(); });

  for (const host of ['t:one', 't:two']) {
    test(`${host}: every job has its own module instance and globals`, async () => {
      const rs = await Promise.all(Array.from({ length: 40 }, () => rt.exec('t:count', [], { host })));
      assert.deepEqual(rs, Array(40).fill(11));
    });

    test(`${host}: a failed job leaves nothing to the next; the error and its traceback are the job's own`, async () => {
      for (const id of ['t:fail', 't:pfail']) {
        for (let i = 0; i < 3; i++) {
          await assert.rejects(rt.exec(id, [i], { host }), (e: WippyError) => {
            assert.equal(e.message, `${id}:2: boom ${i}`);
            assert.equal(e.kind, 'Internal');
            const tb = String(e.traceback);
            assert.match(tb, new RegExp(`${id}:2: in upvalue 'inner'`));
            // the coroutine the chunk ran in tail-calls main: no frame of its own in the traceback
            if (id === 't:pfail') assert.doesNotMatch(tb, /kernel\//);
            assert.match(tb, /\(\.\.\.tail calls\.\.\.\)$/);
            return true;
          });
        }
      }
      assert.equal(await rt.exec('t:read', [], { host }), 'nil');
    });

    test(`${host}: a chunk that yields, or has no main, fails the job with the spawn's error`, async () => {
      for (let i = 0; i < 2; i++) {
        await assert.rejects(rt.exec('t:yield', [], { host }), (e: WippyError) => {
          assert.equal(e.message, "failed to create process: the module's top-level code yielded; it runs once, synchronously");
          assert.equal(e.kind, 'Internal');
          return true;
        });
        await assert.rejects(rt.exec('t:nomain', [], { host }), (e: WippyError) => {
          assert.equal(e.message, 'method "main" not found in module');
          assert.equal(e.kind, 'NotFound');
          return true;
        });
      }
      assert.equal(await rt.exec('t:square', [9], { host }), 81);
    });

    test(`${host}: main parks and is woken with a message as in any process`, async () => {
      const job = rt.submit('t:told', [], { host });
      rt.send(await job.started, 'go', 'hello');
      assert.deepEqual(await job.result, [true, true, 'hello']);
    });

    test(`${host}: a cancelled job and a job past its deadline leave the worker serving`, async () => {
      const ac = new AbortController();
      const blocked = rt.submit('t:blocked', [], { host, signal: ac.signal });
      await blocked.started;
      ac.abort('enough');
      await assert.rejects(blocked.result, (e: unknown) => e instanceof AbortError);
      await assert.rejects(rt.exec('t:spin', [], { host, timeout: 30 }), (e: WippyError) => e.name === 'TimeoutError');
      const rs = await Promise.all(Array.from({ length: 20 }, (_, i) => rt.exec('t:square', [i], { host })));
      assert.deepEqual(rs, Array.from({ length: 20 }, (_, i) => i * i));
    });
  }

  test('a job killed by the reduction budget leaves nothing to the next', async () => {
    for (let i = 0; i < 2; i++) {
      await assert.rejects(rt.exec('t:spin', [], { host: 't:small' }), (e: WippyError) => {
        assert.match(e.message, /reduction budget exceeded/);
        return true;
      });
      assert.equal(await rt.exec('t:count', [], { host: 't:small' }), 11);
    }
  });
});
