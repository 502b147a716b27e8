// Free cores (src/transport/freecores.ts): the figure the main thread publishes for the spin rule,
// from /proc/stat and the process's own CPU time, and the doorbell's spin obeying it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FreeCores, freeCores, parseProcStat } from '../src/transport/freecores.js';
import { Doorbell } from '../src/transport/doorbell.js';
import { BELL_CORES } from '../src/shm/layout.js';

const STAT = 'cpu  100 5 50 800 20 3 2 10 0 0\ncpu0 50 2 25 400 10 1 1 5 0 0\nintr 1 2 3\n';

test('/proc/stat: busy is everything but idle and iowait (steal counts as busy)', () => {
  assert.deepEqual(parseProcStat(STAT), { busyTicks: 100 + 5 + 50 + 3 + 2 + 10, totalTicks: 990 });
  assert.equal(parseProcStat('intr 1 2\n'), undefined);
  assert.equal(parseProcStat('cpu a b c d\n'), undefined);
});

test('free cores = cores minus what other processes used, rounded, within [0, cores]', () => {
  const at = (busyTicks: number, oursMicros: number, atMs: number) => ({ busyTicks, totalTicks: 0, oursMicros, atMs });
  // 100 ms on 2 cores: 20 ticks. Nothing busy: 2 free.
  assert.equal(freeCores(2, at(0, 0, 0), at(0, 0, 100)), 2);
  // 10 ticks busy (one core), all of it ours: still 2 free (our spinning does not count against us).
  assert.equal(freeCores(2, at(0, 0, 0), at(10, 100_000, 100)), 2);
  // 10 ticks busy, none ours: one core taken by someone else.
  assert.equal(freeCores(2, at(0, 0, 0), at(10, 0, 100)), 1);
  // 20 ticks busy, 5 of them ours: 1.5 cores elsewhere, 0.5 left, rounded up to 1; 18 busy, none ours: 0.2, rounded to 0.
  assert.equal(freeCores(2, at(0, 0, 0), at(20, 50_000, 100)), 1);
  assert.equal(freeCores(2, at(0, 0, 0), at(18, 0, 100)), 0);
  // Tick rounding may make ours exceed busy: never more than all cores.
  assert.equal(freeCores(2, at(0, 0, 0), at(1, 90_000, 100)), 2);
});

test('a published figure limits spinning: one free core, two awake threads, no spin; unpublished, the option', () => {
  const sab = Doorbell.create(3);
  const a = new Doorbell(sab, 1, { cores: 2, minSpins: 4, maxSpins: 4 });
  const b = new Doorbell(sab, 2, { cores: 2, minSpins: 4, maxSpins: 4 });
  let calls = 0;
  const never = (): boolean => { calls++; return false; };
  assert.equal(a.spin(never), false);
  assert.equal(calls, 4, 'not measured: two awake threads on two cores may spin');
  // A fake /proc/stat: other processes keep one core busy (10 ticks per 100 ms, none of them ours).
  let busy = 0;
  const fc = new FreeCores(new Int32Array(sab), () => `cpu  ${busy} 0 0 0 0 0 0 0\n`);
  assert.equal(fc.start(), true);
  fc.stop();
  busy += 1_000_000; // far more than the elapsed time: every core taken
  assert.equal(fc.tick(), 0);
  calls = 0;
  assert.equal(a.spin(never), false);
  assert.equal(calls, 0, 'no free core: no spinning');
  a.close();
  b.close();
});

test('where /proc/stat cannot be read nothing is published', () => {
  const sab = Doorbell.create(2);
  const fc = new FreeCores(new Int32Array(sab), () => { throw new Error('ENOENT'); });
  assert.equal(fc.start(), false);
  assert.equal(fc.tick(), undefined);
  assert.equal(new Int32Array(sab)[BELL_CORES], 0);
});

test('current(): the last figure published; before the first tick, a tick now; -1 when not sampling', () => {
  const sab = Doorbell.create(2);
  let busy = 0;
  const fc = new FreeCores(new Int32Array(sab), () => `cpu  ${busy} 0 0 0 0 0 0 0\n`);
  assert.equal(fc.current(), -1, 'not started');
  assert.equal(fc.start(), true);
  fc.stop();
  busy += 1_000_000; // every core taken since start()
  assert.equal(fc.current(), 0, 'measured now, over the time since start()');
  assert.equal(new Int32Array(sab)[BELL_CORES], 1, 'and published (free + 1)');
  assert.equal(fc.current(), 0, 'then the last figure, not a new tick (the timer ticks)');
  const off = new FreeCores(new Int32Array(Doorbell.create(2)), () => { throw new Error('ENOENT'); });
  assert.equal(off.start(), false);
  assert.equal(off.current(), -1, 'not measurable');
});
