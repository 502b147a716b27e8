// The soak's decision source and growth rule (stress/soak-lib.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rand, growth, median, parseOptions, MiB } from '../stress/soak-lib.js';

test('the same seed draws the same decisions; another seed others', () => {
  const draw = (seed: number) => { const r = new Rand(seed); return Array.from({ length: 50 }, () => r.weighted({ a: 3, b: 1, c: 6 }) + r.int(0, 9)); };
  assert.deepEqual(draw(7), draw(7));
  assert.notDeepEqual(draw(7), draw(8));
  const r = new Rand(1);
  for (let i = 0; i < 1000; i++) { const x = r.int(2, 5); assert.ok(x >= 2 && x <= 5); }
});

test('growth rule: warm-up dropped, medians of the first and last thirds, slack or ratio', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 2, 3]), 2.5);
  // flat with noise and a high first (warm-up) sample: ok
  assert.equal(growth([500, 100, 130, 95, 120, 101, 99], 24, 0.15).ok, true);
  // a steady climb past the slack: growth
  const climb = Array.from({ length: 12 }, (_, i) => 100 * MiB + i * 8 * MiB);
  const g = growth(climb, 24 * MiB, 0.15);
  assert.equal(g.ok, false);
  assert.ok(g.last > g.limit);
  // too few samples after warm-up: not judged
  assert.equal(growth([1, 2], 0, 0).n, 1);
});

test('options: defaults scale with the length; bad values are named', () => {
  const o = parseOptions(['--minutes', '1', '--seed', '3']);
  assert.equal(o.seed, 3);
  assert.equal(o.workers, 2);
  assert.equal(o.interval, 2);
  assert.equal(o.phase, 10);
  assert.equal(parseOptions([]).minutes, 10);
  assert.throws(() => parseOptions(['--minutes', 'x']), /--minutes needs a positive number/);
  assert.throws(() => parseOptions(['--nope']), /unknown option '--nope'/);
});
