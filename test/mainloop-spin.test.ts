// The main thread's receive loop (src/runtime/mainloop.ts) and its result spin, on a real doorbell
// and endpoint, with frames arriving as the endpoint's local input (what a worker's ring write and
// ring() look like to this loop: hasInput() true, then a notify if it is parked). A result that
// the handled frame's continuation brings is read without a park while a job is awaited and a core
// is free; never while none is awaited or no core is free; and none is lost either way, whether it
// comes before the spin, during it, or after the loop parked.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { MainLoop } from '../src/runtime/mainloop.js';
import { Doorbell } from '../src/transport/doorbell.js';
import { encodeValue } from '../src/codec/msgpack.js';
import { BELL_CORES } from '../src/shm/layout.js';
import { mulberry32 } from './helpers/prng.js';

const log = pino({ level: 'silent' });

/** How the next frame is delivered once the previous one was handled. */
type When = 'microtask' | 'immediate' | 'timeout';

/**
 * Run a loop that handles `n` frames, each delivered after the previous one was handled, at the
 * moment `when(k)` says. Returns the frames in the order handled and the loop's parks.
 */
async function chain(n: number, when: (k: number) => When, opts: { awaiting: boolean; freeCores?: number }): Promise<{ got: number[]; parks: number }> {
  const sab = Doorbell.create(2);
  if (opts.freeCores !== undefined) Atomics.store(new Int32Array(sab), BELL_CORES, opts.freeCores + 1);
  const got: number[] = [];
  let loop!: MainLoop;
  let finish!: () => void;
  const done = new Promise<void>((resolve) => { finish = resolve; });
  const deliver = (k: number): void => {
    loop.ep.deliverLocal(encodeValue(k));
    loop.ep.bell.interrupt(); // a producer's ring(): notifies only a parked loop
  };
  const next = (k: number): void => {
    const w = when(k);
    if (w === 'microtask') queueMicrotask(() => deliver(k));
    else if (w === 'immediate') setImmediate(() => deliver(k));
    else setTimeout(() => deliver(k), 0);
  };
  loop = new MainLoop(sab, new Map(), () => log, (raw) => {
    const k = raw as number;
    got.push(k);
    if (k + 1 < n) next(k + 1); else finish();
  }, () => opts.awaiting && got.length < n);
  const running = loop.run();
  next(0);
  await done;
  const parks = loop.ep.bell.stats().parks[0]!;
  loop.close();
  await running;
  return { got, parks };
}

const order = (n: number) => Array.from({ length: n }, (_, i) => i);

test('a result brought by the continuation is read without a park while a job is awaited and a core is free', async () => {
  const r = await chain(200, () => 'microtask', { awaiting: true, freeCores: 2 });
  assert.deepEqual(r.got, order(200));
  // The first frame finds the loop parked (nothing was awaited yet: it came from outside).
  assert.ok(r.parks <= 1, `parks: ${r.parks}`);
});

test('nothing awaited: the loop parks after every frame', async () => {
  const r = await chain(200, () => 'timeout', { awaiting: false, freeCores: 2 });
  assert.deepEqual(r.got, order(200));
  assert.ok(r.parks >= 200, `parks: ${r.parks}`);
});

test('no free core: the loop parks instead of spinning', async () => {
  const r = await chain(200, () => 'timeout', { awaiting: true, freeCores: 0 });
  assert.deepEqual(r.got, order(200));
  assert.ok(r.parks >= 200, `parks: ${r.parks}`);
});

test('no result is lost: before the spin, during the event-loop turn, or after the loop parked (seeded)', async () => {
  for (const seed of [1, 2, 3]) {
    const rnd = mulberry32(seed);
    const kinds: When[] = ['microtask', 'immediate', 'timeout'];
    const r = await chain(300, () => kinds[Math.floor(rnd() * 3)]!, { awaiting: true, freeCores: 2 });
    assert.deepEqual(r.got, order(300), `seed ${seed}`);
  }
});
