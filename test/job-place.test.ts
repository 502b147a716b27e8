// Where a job from the main thread goes (src/runtime/job-place.ts), against plain arrays: the
// lightest worker, an awake one among equals, then the previous job's worker and the next ones in
// index order; dead workers skipped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { placeJob, TurnView, type JobPlaceView } from '../src/runtime/job-place.js';
import { mulberry32 } from './helpers/prng.js';

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

test('one job at a time stays on the worker of the previous job, parked or not', () => {
  // Each job ends before the next is placed (weights back to 0); its worker may have parked by
  // then, and so has the sibling: the stream still goes to the same worker.
  for (const start of [0, 1, 2]) {
    let last = start;
    for (let k = 0; k < 10; k++) {
      const awake = k % 3 === 0; // sometimes still spinning, sometimes parked
      const parked = [true, true, true];
      parked[last] = !awake;
      const i = placeJob(view([0, 0, 0], parked), last);
      assert.equal(i, start, `job ${k + 1}`);
      last = i;
    }
  }
});

test('an awake sibling still wins over the previous job\'s parked worker', () => {
  assert.equal(placeJob(view([0, 0], [true, false]), 0), 1);
});

test('a burst spreads evenly with the previous job\'s worker as the tie-break', () => {
  const rnd = mulberry32(11);
  const weights = [0, 0, 0];
  let last = 0;
  for (let k = 0; k < 999; k++) {
    const i = placeJob(view(weights, [rnd() < 0.5, rnd() < 0.5, rnd() < 0.5]), last);
    weights[i]!++;
    last = i;
    assert.ok(Math.max(...weights) - Math.min(...weights) <= 1, `after ${k + 1} jobs: ${weights.join('/')}`);
  }
  assert.deepEqual(weights, [333, 333, 333]);
});

test('TurnView: weights and parked states read once per turn, additions counted, down read live', () => {
  const weights = [2, 2], parked = [false, true], down = [false, false];
  let reads = 0;
  const live: JobPlaceView = {
    n: 2,
    weight: (i) => { reads++; return weights[i]!; },
    parked: (i) => { reads++; return parked[i]!; },
    down: (i) => down[i]!,
  };
  const ends: Array<() => void> = [];
  const v = new TurnView(live, (f) => { ends.push(f); });
  // a burst of 6 jobs in one turn spreads as with live reads: each placement counts
  const got: number[] = [];
  let last = 0;
  for (let k = 0; k < 6; k++) {
    const i = placeJob(v, last);
    got.push(i);
    v.added(i);
    last = i;
  }
  assert.deepEqual(got, [0, 1, 0, 1, 0, 1], 'awake first among equals, then alternating by weight');
  assert.equal(reads, 4, 'one read of each worker\'s weight and parked state for the whole turn');
  assert.equal(ends.length, 1, 'one end-of-turn hook');
  // the workers changed meanwhile: seen only after the turn ends
  weights[0] = 0; weights[1] = 9;
  assert.equal(v.weight(0), 5);
  ends.shift()!();
  assert.equal(v.weight(0), 0);
  assert.equal(v.weight(1), 9);
  assert.equal(reads, 8);
  // down is never cached
  down[0] = true;
  assert.equal(placeJob(v, 0), 1);
  down[1] = true;
  assert.equal(placeJob(v, 0), -1);
});

test('TurnView: an addition outside a read turn is not counted twice (the next read sees it live)', () => {
  const weights = [0, 0];
  const ends: Array<() => void> = [];
  const v = new TurnView({ n: 2, weight: (i) => weights[i]!, parked: () => false, down: () => false }, (f) => { ends.push(f); });
  v.added(0); // no read this turn: nothing cached to adjust
  weights[0] = 1; // the live figure already holds it
  assert.equal(v.weight(0), 1);
  v.added(0);
  assert.equal(v.weight(0), 2);
});
