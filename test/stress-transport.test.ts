// Short, seeded version of the transport stress (the long one: npm run stress).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runStress } from './helpers/stress.js';

for (const workers of [1, 2]) {
  for (const seed of [1, 7]) {
    test(`transport stress: ${workers} worker(s) + a second host, seed ${seed}`, async () => {
      const r = await runStress({ seed, workers, sinks: 4, sources: 4, messages: 150, bigEvery: 100, fromMain: 50 });
      assert.deepEqual(r.violations, [], `seed ${seed}`);
      assert.equal(r.delivered, r.expected, `seed ${seed}: delivered ${r.delivered} of ${r.expected}`);
      assert.equal(r.leftover, 0, 'no process left behind');
    });
  }
}
