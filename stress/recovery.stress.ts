// Worker recovery under churn: seeded random faults (all four kinds of Runtime.testFault) on a
// 2-worker and a 1-worker host while monitors spawn children across both and count their EXITs.
// Checks: every monitor hears exactly one EXIT per child (none from strangers, no duplicate even
// 300 ms later), every caller's exec settles (no waiter is forgotten), errors are only the worker
// errors, and stop() completes. STRESS_SEED=n replays a run; RECOVERY_STRESS_MS sets its length.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { createRuntime, type WorkerDown } from '../src/index.js';

const lua = (id: string, body: string) => ({ id, kind: 'process.lua', method: 'main', modules: ['time'],
  source: `local time = require("time")\nreturn { main = function(...)\n${body}\nend }` });

const seed = Number(process.env['STRESS_SEED'] ?? 11);
const runMs = Number(process.env['RECOVERY_STRESS_MS'] ?? 20_000);

test(`worker recovery under churn: seed ${seed}, ${runMs} ms`, { timeout: runMs + 120_000 }, async () => {
  const rt = await createRuntime({ logger: pino({ level: 'silent' }), entries: [
    { id: 't:p', kind: 'process.host', host: { workers: 2, stall_timeout: '300ms' } },
    { id: 't:q', kind: 'process.host', host: { workers: 1, stall_timeout: '300ms' } },
    lua('t:kid', 'local ms = ...; time.sleep(ms .. "ms"); return ms'),
    lua('t:mon', `local n = ...
      local kids, seen, left, crashed = {}, {}, n, 0
      for i = 1, n do
        kids[assert(process.spawn_monitored("t:kid", i % 3 == 0 and "t:q" or "t:p", 5 + (i * 37) % 150))] = true
      end
      local ev = process.events()
      while left > 0 do
        local e = ev:receive()
        if e.kind == "pid.exit" then
          if not kids[e.from] then error("EXIT from a stranger " .. tostring(e.from)) end
          if seen[e.from] then error("duplicate EXIT from " .. e.from) end
          seen[e.from] = true
          left = left - 1
          if e.result.error then crashed = crashed + 1 end
        end
      end
      time.sleep("300ms") -- a late duplicate would still arrive here (and be counted as a stranger)
      while true do
        local r = channel.select({ ev:case_receive(), default = true })
        if r.default then break end
        if r.value.kind == "pid.exit" then error("late EXIT from " .. tostring(r.value.from)) end
      end
      return crashed`),
  ] });
  let s = seed;
  const rnd = () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
  const downs: WorkerDown[] = [];
  rt.on('worker-down', (d: WorkerDown) => downs.push(d));
  const stopAt = Date.now() + runMs;
  let faults = 0;
  const killer = (async () => {
    while (Date.now() < stopAt) {
      await new Promise((r) => setTimeout(r, 300 + rnd() * 400));
      const tids = rt.workerTids(rnd() < 0.66 ? 't:p' : 't:q');
      if (tids.length === 0) continue;
      rt.testFault(tids[Math.floor(rnd() * tids.length)]!, (['throw', 'abort', 'exit', 'wedge'] as const)[Math.floor(rnd() * 4)]!);
      faults++;
    }
  })();
  let ok = 0;
  let kidsCrashed = 0;
  let monCrashed = 0;
  const bad: string[] = [];
  while (Date.now() < stopAt) {
    const batch: Promise<void>[] = [];
    for (let i = 0; i < 6; i++) {
      batch.push(rt.exec('t:mon', [30], { host: i % 2 ? 't:p' : 't:q' }).then(
        (c) => { ok++; kidsCrashed += c as number; },
        (e: Error) => { if (/^worker (crashed|stalled): /.test(e.message)) monCrashed++; else bad.push(e.message); }));
    }
    await Promise.all(batch); // hangs (and the test times out) if a waiter were forgotten
  }
  await killer;
  console.log(`seed ${seed}: ${faults} faults, ${downs.length} workers replaced, ${ok} monitors done ` +
    `(${kidsCrashed} children died with a worker), ${monCrashed} monitors died with a worker; ` +
    `scan ms max ${Math.max(...downs.map((d) => d.scanMs)).toFixed(1)}`);
  assert.deepEqual(bad, []);
  assert.ok(downs.length > 0 && ok > 0);
  await rt.stop(1000);
});
