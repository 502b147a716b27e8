// Long transport stress: over a million messages per run, seeded and repeatable
// (STRESS_SEED=n to replay one). Checks FIFO, no loss/duplication, dead sends, and that nothing
// leaks: no processes afterwards, and the Lua heap of each worker back near its baseline.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runStress } from '../test/helpers/stress.js';

const seeds = process.env['STRESS_SEED'] ? [Number(process.env['STRESS_SEED'])] : [11, 23];
for (const workers of [1, 2]) {
  for (const seed of seeds) {
    test(`long transport stress: ${workers} worker(s), seed ${seed}`, { timeout: 600_000 }, async () => {
      const r = await runStress({ seed, workers, sinks: 16, sources: 16, messages: 32_000, bigEvery: 20_000, fromMain: 2_000, queuedSinks: 32 });
      console.log(`seed ${seed} workers ${workers}: ${r.delivered} messages, queued spawns stolen ${r.stolen}, shared ${r.shared}, worker heaps ${r.heapBytes.map((b) => (b / 1048576).toFixed(1) + ' MiB').join(', ')}`);
      assert.deepEqual(r.violations, []);
      assert.equal(r.delivered, r.expected);
      assert.ok(r.delivered >= 1_000_000, `volume ${r.delivered}`);
      assert.equal(r.leftover, 0);
      assert.equal(r.queuedStarted, r.queued, 'every queued spawn was taken and started exactly once');
      for (const h of r.heapBytes) assert.ok(h < 64 * 1048576, `Lua heap after the run: ${h} bytes`);
    });
  }
}
