// The window of a wait for an expected answer (SpinWindow, src/transport/doorbell.ts), shared by
// the worker loop's reply wait and the main thread's result spin: an answer within it restores
// the maximum (or, tracking, pulls it towards twice the wait); an empty window followed soon by
// the answer (within the maximum, and for the reply wait within twice the window) doubles it; one
// followed by nothing for longer halves it; it stays within [min, max]. Seeded sequences check the bounds under any mix. And the spin rule those
// waits run under, on 2 cores: both sides of a ping-pong across workers may spin while the main
// thread is parked and both cores are free; not with the main thread awake, nor with one core
// free while the peer steps.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Doorbell, SpinWindow } from '../src/transport/doorbell.js';
import { BELL_CORES } from '../src/shm/layout.js';
import { mulberry32 } from './helpers/prng.js';

test('not tracking: a hit restores the maximum; a late answer halves, a soon one doubles', () => {
  const w = new SpinWindow(0.02, 0.2);
  assert.equal(w.ms, 0.2);
  w.missed(1);
  assert.equal(w.ms, 0.1);
  w.missed(0.5);
  assert.equal(w.ms, 0.05);
  w.missed(0.15); // the answer came 0.15 ms after the wait began: a longer window had caught it
  assert.equal(w.ms, 0.1);
  w.missed(1); w.missed(1); w.missed(1); w.missed(1);
  assert.equal(w.ms, 0.02, 'never below the floor');
  w.hit(0.001);
  assert.equal(w.ms, 0.2);
  w.missed(0.01);
  assert.equal(w.ms, 0.2, 'never above the maximum');
});

test('soon = 2 (the reply wait): only an answer within twice the window doubles it', () => {
  const w = new SpinWindow(0.02, 0.2, false, 2);
  w.missed(1); w.missed(1); w.missed(1);
  assert.equal(w.ms, 0.025);
  w.missed(0.06); // more than twice the window: a peer that had to wake up, or had no core
  assert.equal(w.ms, 0.02);
  w.missed(0.05); // still later than twice the floor: the floor holds
  assert.equal(w.ms, 0.02);
  w.missed(0.03); // just after the window: a little longer had caught it
  assert.equal(w.ms, 0.04);
  w.missed(0.07);
  assert.equal(w.ms, 0.08);
  w.missed(0.15);
  assert.equal(w.ms, 0.16);
  w.missed(0.19);
  assert.equal(w.ms, 0.2, 'never above the maximum');
  w.missed(0.3); // later than the maximum, though within twice the window
  assert.equal(w.ms, 0.1);
});

test('tracking (the result spin): a hit pulls the window an eighth of the way towards twice the wait', () => {
  const w = new SpinWindow(0.005, 0.1, true);
  assert.equal(w.ms, 0.1);
  w.hit(0.01); // target 0.02
  assert.ok(Math.abs(w.ms - (0.1 + (0.02 - 0.1) / 8)) < 1e-12);
  for (let i = 0; i < 200; i++) w.hit(0.001); // target clamps at the floor 0.005
  assert.ok(Math.abs(w.ms - 0.005) < 1e-6, `converges to the floor: ${w.ms}`);
  w.missed(0.05);
  assert.ok(Math.abs(w.ms - 0.01) < 1e-6);
  w.hit(1); // target clamps at the maximum
  assert.ok(w.ms > 0.01 && w.ms <= 0.1);
});

test('any mix of hits and misses keeps the window within [min, max] (seeded)', () => {
  for (const seed of [1, 2, 3, 4]) {
    const rnd = mulberry32(seed);
    for (const track of [false, true]) {
      const w = new SpinWindow(0.02, 0.2, track, track ? Infinity : 2);
      for (let i = 0; i < 10_000; i++) {
        const waited = rnd() * 0.5;
        if (rnd() < 0.5) w.hit(waited); else w.missed(waited);
        assert.ok(w.ms >= 0.02 - 1e-12 && w.ms <= 0.2 + 1e-12, `seed ${seed} step ${i}: ${w.ms}`);
      }
    }
  }
});

test('2 cores, the main thread parked: the waiting side spins while its peer steps, and both may spin at once', () => {
  const sab = Doorbell.create(3);
  const main = new Doorbell(sab, 0, { cores: 2 });
  const a = new Doorbell(sab, 1, { cores: 2 });
  const b = new Doorbell(sab, 2, { cores: 2 });
  const words = new Int32Array(sab);
  Atomics.store(words, BELL_CORES, 2 + 1); // FreeCores: 2 free
  main.prepareToPark(); // the main thread awaits the drivers' exits, parked
  assert.equal(a.maySpin(), true, 'a waits for b, which steps: 1 spinning, 1 busy, 2 cores');
  let bothSpin: boolean | undefined;
  // a spins; inside its check, b (done stepping) asks whether it may spin too
  a.spin(() => { bothSpin = b.maySpin(); return true; });
  assert.equal(bothSpin, true, 'both spinning, nothing else busy');
  main.cancelPark(); // the main thread wakes up (a control message, a result)
  assert.equal(a.maySpin(), false, 'a third thread of ours awake: no core for a spinner');
  main.prepareToPark();
  Atomics.store(words, BELL_CORES, 1 + 1); // other processes took a core
  assert.equal(a.maySpin(), false, 'one free core and b steps on it');
  main.close(); a.close(); b.close();
});
