// Short, seeded version of the transport stress (the long one: npm run stress).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runStress } from './helpers/stress.js';

for (const workers of [1, 2]) {
  for (const seed of [1, 7]) {
    test(`transport stress: ${workers} worker(s) + a second host, seed ${seed}`, async () => {
      const r = await runStress({ seed, workers, sinks: 4, sources: 4, messages: 150, bigEvery: 100, fromMain: 50, queuedSinks: 6 });
      assert.deepEqual(r.violations, [], `seed ${seed}`);
      assert.equal(r.delivered, r.expected, `seed ${seed}: delivered ${r.delivered} of ${r.expected}`);
      assert.equal(r.leftover, 0, 'no process left behind');
      assert.equal(r.queuedStarted, r.queued, 'every queued spawn was taken and started exactly once');
      // the spawner of the queued sinks burns ~20-60 ms in one resume: it shares them with its idle
      // sibling (the budget hook counts its instructions), or the sibling steals them
      if (workers > 1) assert.ok(r.stolen + r.shared > 0, 'queued sinks moved to the idle worker');
      if (process.env.STRESS_VERBOSE) console.log(`seed ${seed}, ${workers} worker(s): ${r.delivered} messages, ${r.stolen} queued spawns stolen, ${r.shared} shared`);
    });
  }
}

// Regression: the main thread's batch larger than a ring waited forever in its local queue,
// because the parked receive loop never asked the worker to ring it when space freed.
test('the main thread can send more than a ring holds in one go', async () => {
  const { createRuntime } = await import('../src/index.js');
  const rt = await createRuntime({ entries: [
    { id: 't:a', kind: 'process.host', host: { workers: 1 } },
    { id: 't:sink', kind: 'process.lua', method: 'main',
      source: 'return { main = function(n) local inbox = process.inbox(); local s = 0; for i = 1, n do s = s + inbox:receive():payload():data().seq end; return s end }' },
  ] });
  try {
    const n = 20_000; // ~1.2 MB of frames in one flush, ring is 256 KiB
    let done!: (v: unknown) => void;
    const result = new Promise((r) => { done = r; });
    const pid = await rt.spawn('t:sink', 't:a', [n], (e) => done(e.error ?? e.value));
    for (let i = 1; i <= n; i++) rt.send(pid, 'm', { seq: i, pad: 'x'.repeat(40) });
    assert.equal(await result, (n * (n + 1)) / 2);
  } finally {
    await rt.stop(1000);
  }
});
