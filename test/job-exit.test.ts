// A job's EXIT on its way back: the "jx" frame (src/wire/spec.ts). A job from JS (rt.exec, rt.run,
// rt.submit, a spawn with an EXIT callback) is watched by a number, not a control PID: its worker
// sends one compact frame to the main thread (lifecycle.lua post_jx), the control endpoint settles
// the job from it (control.ts onJobExit). What must hold: every job is settled once, with its own
// result, whatever the mix of outcomes and however many EXITs share a batch; a nil result is no
// value (as with the "e" frame); an error keeps its kind and the traceback where it was raised;
// a result that cannot cross is an error saying why; the runtime's 'event' still fires for a
// listener; nothing is left behind (watchers, directory slots).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRuntime, type Runtime, type WippyError } from '../src/index.js';
import { mulberry32 } from './helpers/prng.js';

const HOSTS = [
  { id: 't:one', kind: 'process.host', host: { workers: 1 } },
  { id: 't:two', kind: 'process.host', host: { workers: 2 } },
];
// mode 0: x*x; 1: nil; 2: an error raised in a nested function; 3: a result that cannot cross;
// 4: several values (the first is the result); 5: a table
const MIXED = `
local function inner(x) error("bad " .. x) end
return { main = function(mode, x)
  if mode == 0 then return x * x end
  if mode == 1 then return nil end
  if mode == 2 then inner(x) end
  if mode == 3 then return function() end end
  if mode == 4 then return x, x + 1 end
  return { x = x, s = "v" .. x }
end }`;
const ENTRIES = [
  ...HOSTS,
  { id: 't:mixed', kind: 'function.lua', method: 'main', source: MIXED },
  { id: 't:pmixed', kind: 'process.lua', method: 'main', source: MIXED },
];

function expected(mode: number, x: number): { value?: unknown; error?: string } {
  switch (mode) {
    case 0: return { value: x * x };
    case 1: return {};
    case 2: return { error: `bad ${x}` };
    case 3: return { error: 'cannot send a function' };
    case 4: return { value: x };
    default: return { value: { x, s: `v${x}` } };
  }
}

describe('the job EXIT frame', () => {
  let rt: Runtime;
  before(async () => { rt = await createRuntime({ entries: ENTRIES }); });
  after(async () => { await rt.stop(); });

  for (const host of ['t:one', 't:two']) {
    test(`${host}: 3,000 jobs of mixed outcomes, seeded, each settled once with its own result`, async () => {
      const rnd = mulberry32(host === 't:one' ? 14 : 15);
      const jobs: Array<{ mode: number; x: number; id: string }> = [];
      for (let i = 0; i < 3000; i++) {
        jobs.push({ mode: Math.floor(rnd() * 6), x: i, id: rnd() < 0.5 ? 't:mixed' : 't:pmixed' });
      }
      const settled = new Array<number>(jobs.length).fill(0);
      const results = await Promise.all(jobs.map(async (j, i) => {
        try {
          const exit = await rt.run(j.id, [j.mode, j.x], { host });
          settled[i]!++;
          return exit;
        } catch (e) {
          settled[i]!++;
          throw e;
        }
      }));
      assert.deepEqual(settled, new Array(jobs.length).fill(1));
      const pids = new Set<string>();
      results.forEach((exit, i) => {
        const j = jobs[i]!;
        const want = expected(j.mode, j.x);
        pids.add(exit.pid);
        if (want.error !== undefined) {
          assert.ok(exit.error, `job ${i} (mode ${j.mode}) has no error`);
          assert.ok(exit.error.message.includes(want.error), `job ${i}: ${exit.error.message}`);
          assert.equal('value' in exit, false);
        } else if ('value' in want) {
          assert.equal(exit.error, undefined, `job ${i}: ${exit.error?.message}`);
          assert.deepEqual(exit.value, want.value, `job ${i} (mode ${j.mode})`);
        } else {
          assert.deepEqual(Object.keys(exit).sort(), ['pid'], `job ${i}: a nil result is no value`);
        }
      });
      assert.equal(pids.size, jobs.length, 'every EXIT is its own job\'s');
      const inside = rt.internals();
      assert.equal(inside.watchers, 0);
    });

    test(`${host}: exec rejects with the error's kind and the traceback where it was raised`, async () => {
      const e = await rt.exec('t:mixed', [2, 7], { host }).then(() => undefined, (err: WippyError) => err);
      assert.ok(e, 'exec of a failing job rejected');
      assert.equal(e.kind, 'Internal');
      assert.match(e.message, /t:mixed:2: bad 7/);
      assert.match(String(e.traceback), /in (upvalue|local|function) 'inner'/);
    });
  }

  test('a listener of the runtime\'s "event" still hears a job\'s EXIT', async () => {
    const heard: Array<{ kind: string; exit: { pid: string; value?: unknown } }> = [];
    const on = (_to: unknown, ev: { kind: string; exit: { pid: string; value?: unknown } }): void => { heard.push(ev); };
    rt.on('event', on);
    try {
      const job = rt.submit('t:mixed', [0, 9], { host: 't:one' });
      assert.equal(await job.result, 81);
      assert.equal(heard.length, 1);
      assert.equal(heard[0]!.kind, 'pid.exit');
      assert.deepEqual(heard[0]!.exit, { pid: job.pid, value: 81 });
    } finally {
      rt.off('event', on);
    }
  });

  test('nothing is left behind: no watcher, no directory slot', async () => {
    const before = rt.internals().liveSlots;
    await Promise.all(Array.from({ length: 200 }, (_, i) => rt.exec('t:mixed', [i % 6 === 2 ? 2 : 0, i], { host: i % 2 ? 't:one' : 't:two' }).catch(() => undefined)));
    const inside = rt.internals();
    assert.equal(inside.watchers, 0);
    assert.equal(inside.liveSlots, before);
  });
});
