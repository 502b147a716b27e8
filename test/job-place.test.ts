// Where a job from the main thread goes (src/runtime/job-place.ts), against plain arrays: the
// lightest worker, an awake one among equals, then the round-robin cursor; dead workers skipped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { placeJob, type JobPlaceView } from '../src/runtime/job-place.js';

function view(weights: number[], parked: boolean[], down: boolean[] = weights.map(() => false)): JobPlaceView {
  return { n: weights.length, weight: (i) => weights[i]!, parked: (i) => parked[i]!, down: (i) => down[i]! };
}

test('the lightest worker wins, parked or not', () => {
  assert.equal(placeJob(view([3, 1, 2], [false, true, false]), 0), 1);
  assert.equal(placeJob(view([0, 5], [true, false]), 1), 0);
});

test('among equals an awake worker wins over parked ones, wherever the cursor is', () => {
  assert.equal(placeJob(view([0, 0, 0], [true, false, true]), 0), 1);
  assert.equal(placeJob(view([0, 0, 0], [true, false, true]), 2), 1);
  assert.equal(placeJob(view([2, 2, 1], [false, false, true]), 0), 2, 'weight first');
});

test('among equals in the same state, the first from the cursor', () => {
  for (let start = 0; start < 3; start++) {
    assert.equal(placeJob(view([0, 0, 0], [true, true, true]), start), start);
    assert.equal(placeJob(view([4, 4, 4], [false, false, false]), start), start);
  }
});

test('dead workers are skipped; none alive gives -1', () => {
  assert.equal(placeJob(view([0, 9], [false, true], [true, false]), 0), 1);
  assert.equal(placeJob(view([0, 0], [false, false], [true, true]), 0), -1);
});

test('a burst spreads evenly when each job adds to the weight of its worker', () => {
  // Seeded: the parked states change as the workers step; the counts must not drift apart.
  let seed = 7;
  const rnd = () => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed / 0x7fffffff; };
  const weights = [0, 0];
  let cursor = 0;
  for (let k = 0; k < 1000; k++) {
    const i = placeJob(view(weights, [rnd() < 0.5, rnd() < 0.5]), cursor);
    weights[i]!++;
    cursor = (i + 1) % 2;
    assert.ok(Math.abs(weights[0]! - weights[1]!) <= 1, `after ${k + 1} jobs: ${weights.join('/')}`);
  }
  assert.deepEqual(weights, [500, 500]);
});
