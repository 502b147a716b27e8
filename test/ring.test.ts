// SpscRing and Doorbell (src/transport): shrunken rings so wrap-around, full rings, chunking and
// back-pressure happen on every test; seeded single-thread interleavings; real two-thread runs.
// Every seeded failure message names its seed; rerun one with RING_SEED=<seed>.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SpscRing } from '../src/transport/ring.js';
import { Doorbell } from '../src/transport/doorbell.js';
import { Exchange, backoff, frameLength, frameMismatch, makeFrame, mulberry32, startWorker } from './helpers/ring-worker.js';

function seeds(n: number): number[] {
  const fixed = process.env.RING_SEED;
  if (fixed !== undefined) return [Number(fixed)];
  const base = (Date.now() ^ (process.pid << 8)) >>> 0;
  return Array.from({ length: n }, (_, i) => (base + i * 0x9e3779b9) >>> 0);
}

/** Drain a ring completely into copies. */
function drain(ring: SpscRing): Uint8Array[] {
  const out: Uint8Array[] = [];
  ring.read((bytes) => out.push(bytes.slice()));
  return out;
}

function pair(capacity: number, startIndex = 0): { tx: SpscRing; rx: SpscRing } {
  const sab = SpscRing.create(capacity, startIndex);
  return { tx: new SpscRing(sab), rx: new SpscRing(sab) };
}

test('frames wrap around the end of a 64-byte ring, payloads split in two parts', () => {
  const { tx, rx } = pair(64);
  // Records of 20, 8 and 48 bytes: headers land on every word of the ring, payloads straddle its end.
  for (let seq = 0; seq < 500; seq++) {
    const length = seq % 3 === 0 ? 14 : seq % 3 === 1 ? 3 : 41;
    assert.ok(tx.write(makeFrame(seq, length)), `write ${seq}`);
    const got = drain(rx);
    assert.equal(got.length, 1);
    assert.equal(frameMismatch(got[0], seq, length), null);
  }
  assert.ok(rx.isEmpty());
});

test('a frame that exactly fills the ring, at every start offset', () => {
  const { tx, rx } = pair(64);
  assert.equal(tx.maxWholeFrame, 60);
  for (let shift = 0; shift < 16; shift++) {
    // Move the indices by shift × 4 bytes, then send a 60-byte frame (a 64-byte record).
    if (shift > 0) {
      assert.ok(tx.write(new Uint8Array(0)));
      drain(rx);
    }
    const frame = makeFrame(shift, 60);
    assert.ok(tx.write(frame));
    assert.equal(tx.write(new Uint8Array(0)), false, 'full ring refuses even an empty frame');
    const got = drain(rx);
    assert.equal(got.length, 1);
    assert.equal(frameMismatch(got[0], shift, 60), null);
  }
  assert.throws(() => tx.write(new Uint8Array(61)), RangeError);
});

test('frames longer than the staging mark, from sources at every offset mod 8, at every ring offset, wrapping', () => {
  // copyIn() stages a copy whose source and ring offsets differ mod 8 (ring.ts): every pairing of
  // the two offsets, and payloads that straddle the ring's end, must arrive byte for byte.
  const { tx, rx } = pair(1024);
  const backing = new Uint8Array(1024);
  let seq = 0;
  for (let round = 0; round < 6; round++) {
    for (let srcOff = 0; srcOff < 8; srcOff++) {
      for (const length of [129, 200, 333, 500]) {
        const f = makeFrame(seq, length);
        backing.set(f, srcOff);
        assert.ok(tx.write(backing.subarray(srcOff, srcOff + length)), `write ${seq}`);
        const got = drain(rx);
        assert.equal(got.length, 1);
        assert.equal(frameMismatch(got[0], seq, length), null, `frame ${seq}: source offset ${srcOff}, length ${length}`);
        seq++;
      }
    }
  }
  // through the FIFO too (offer of a full ring, then pump)
  const fill = makeFrame(seq++, 900);
  assert.ok(tx.write(fill));
  const queued: number[] = [];
  for (let srcOff = 1; srcOff < 8; srcOff += 2) {
    backing.set(makeFrame(seq, 300), srcOff);
    tx.offer(backing.subarray(srcOff, srcOff + 300));
    queued.push(seq++);
  }
  const got = [...drain(rx)];
  while (!tx.pump()) got.push(...drain(rx));
  got.push(...drain(rx));
  assert.equal(frameMismatch(got[0], seq - queued.length - 1, 900), null);
  queued.forEach((q, i) => assert.equal(frameMismatch(got[i + 1], q, 300), null, `queued frame ${q}`));
});

test('0-byte frames: a 16-byte ring holds four', () => {
  const { tx, rx } = pair(16);
  for (let lap = 0; lap < 10; lap++) {
    for (let i = 0; i < 4; i++) assert.ok(tx.write(new Uint8Array(0)));
    assert.equal(tx.write(new Uint8Array(0)), false);
    let n = 0;
    assert.equal(rx.read((bytes) => { assert.equal(bytes.length, 0); n++; }), 4);
    assert.equal(n, 4);
  }
});

test('frames several times the ring size arrive whole and in order between small ones', () => {
  for (const capacity of [16, 64, 256]) {
    const { tx, rx } = pair(capacity);
    const lengths = [5, capacity * 4 + 3, 0, capacity * 7, capacity - 4, capacity - 3, 1, capacity * 3 + 1];
    for (let seq = 0; seq < lengths.length; seq++) tx.offer(makeFrame(seq, lengths[seq]));
    const got: Uint8Array[] = [];
    for (let rounds = 0; got.length < lengths.length; rounds++) {
      assert.ok(rounds < 10_000, 'no progress');
      tx.pump();
      got.push(...drain(rx));
    }
    assert.ok(tx.pump());
    for (let seq = 0; seq < lengths.length; seq++) assert.equal(frameMismatch(got[seq], seq, lengths[seq]), null, `capacity ${capacity}`);
    assert.equal(tx.pendingFrames, 0);
    assert.equal(tx.pendingBytes, 0);
  }
});

test('a full ring queues offered frames in the FIFO; write() cannot overtake them', () => {
  const { tx, rx } = pair(64);
  let seq = 0;
  const lengths: number[] = [];
  const offer = (length: number): boolean => {
    lengths.push(length);
    return tx.offer(makeFrame(seq++, length));
  };
  assert.ok(offer(20)); // 24 bytes
  assert.ok(offer(20)); // 48
  assert.equal(offer(20), false); // would be 72: queued
  assert.equal(offer(0), false, 'queued behind the pending frame, although it would fit');
  assert.equal(tx.pendingFrames, 2);
  assert.equal(tx.pendingBytes, 20);
  assert.equal(tx.write(new Uint8Array(0)), false, 'write refuses while frames are pending');
  assert.equal(tx.pump(), false, 'still full');
  const got = drain(rx);
  assert.equal(got.length, 2);
  assert.ok(tx.pump());
  got.push(...drain(rx));
  assert.equal(got.length, 4);
  for (let i = 0; i < got.length; i++) assert.equal(frameMismatch(got[i], i, lengths[i]), null);
});

test('offer copies a queued frame unless transferred', () => {
  const { tx, rx } = pair(16);
  assert.ok(tx.offer(new Uint8Array(12)));
  const mine = makeFrame(1, 8);
  assert.equal(tx.offer(mine), false);
  mine.fill(0);
  drain(rx);
  assert.ok(tx.pump());
  assert.equal(frameMismatch(drain(rx)[0], 1, 8), null);
});

test('canPump() asks the consumer for a wake-up at the head the producer needs', () => {
  const { tx, rx } = pair(64);
  assert.equal(tx.canPump(), false, 'nothing pending');
  for (let i = 0; i < 4; i++) assert.ok(tx.write(makeFrame(i, 12))); // four 16-byte records: full
  assert.equal(tx.offer(makeFrame(4, 40)), false); // needs 44 bytes: head must reach 44
  assert.equal(tx.canPump(), false, 'full; arms the request');
  assert.equal(rx.takeSpaceWanted(), false, 'nothing read yet');
  assert.equal(rx.read(() => {}, 2), 2); // head 32: not enough
  assert.equal(rx.takeSpaceWanted(), false, 'freed too little: no wake-up, the request stays');
  assert.equal(rx.read(() => {}, 1), 1); // head 48
  assert.equal(rx.takeSpaceWanted(), true, 'enough now');
  assert.equal(rx.takeSpaceWanted(), false, 'once');
  assert.equal(tx.canPump(), true);
  assert.ok(tx.pump());
  const got = drain(rx);
  assert.equal(frameMismatch(got[1], 4, 40), null);
  assert.equal(rx.takeSpaceWanted(), false, 'no request pending');
  // A chunked frame: the producer waits for a chunk's worth (a quarter of the ring, 16 bytes).
  assert.ok(tx.write(makeFrame(5, 56)));
  assert.equal(tx.offer(makeFrame(6, 200)), false);
  assert.equal(tx.canPump(), false);
  drain(rx);
  assert.equal(rx.takeSpaceWanted(), true);
  const big: Uint8Array[] = [];
  for (let r = 0; big.length === 0; r++) {
    assert.ok(r < 100);
    tx.pump();
    rx.read((b) => big.push(b.slice()));
  }
  assert.equal(frameMismatch(big[0], 6, 200), null);
});

test('indices cross 2^31 and 2^32', () => {
  for (const start of [0x7fffffc0, 0xffffffc0 | 0, -64]) {
    const { tx, rx } = pair(64, start);
    for (let seq = 0; seq < 200; seq++) {
      const length = (seq * 13) % 130;
      tx.offer(makeFrame(seq, length));
      let got: Uint8Array[] = [];
      for (let r = 0; got.length === 0; r++) {
        assert.ok(r < 100, `no progress at ${seq} from ${start}`);
        tx.pump();
        got = drain(rx);
      }
      assert.equal(got.length, 1);
      assert.equal(frameMismatch(got[0], seq, length), null, `start ${start}`);
    }
  }
});

test('read(max) stops after max frames; a throwing callback consumes its frame', () => {
  const { tx, rx } = pair(256);
  for (let seq = 0; seq < 5; seq++) assert.ok(tx.write(makeFrame(seq, 4)));
  const seen: number[] = [];
  assert.equal(rx.read((b) => seen.push(b[0]), 2), 2);
  assert.throws(() => rx.read(() => { throw new Error('handler failed'); }), /handler failed/);
  assert.equal(rx.read((b) => seen.push(b[0])), 2);
  assert.deepEqual(seen, [makeFrame(0, 4)[0], makeFrame(1, 4)[0], makeFrame(3, 4)[0], makeFrame(4, 4)[0]]);
  assert.ok(rx.isEmpty());
  // The producer got the bytes of all five back.
  assert.ok(tx.write(new Uint8Array(252)));
});

test('seeded random interleavings of offer, write, pump and read (single thread)', () => {
  for (const seed of seeds(24)) {
    const rng = mulberry32(seed);
    const capacity = [16, 32, 64, 128, 256][Math.floor(rng() * 5)];
    const { tx, rx } = pair(capacity, (Math.floor(rng() * 2 ** 32) & ~3) | 0);
    const lengths: number[] = [];
    let received = 0;
    const onFrame = (bytes: Uint8Array): void => {
      const problem = frameMismatch(bytes, received, lengths[received]);
      if (problem !== null) assert.fail(`seed ${seed} (capacity ${capacity}): ${problem}`);
      received++;
    };
    for (let op = 0; op < 3000; op++) {
      const r = rng();
      if (r < 0.45) {
        const length = frameLength(rng, capacity);
        lengths.push(length);
        tx.offer(makeFrame(lengths.length - 1, length), rng() < 0.5);
      } else if (r < 0.55) {
        const length = Math.floor(rng() * (tx.maxWholeFrame + 1));
        if (tx.write(makeFrame(lengths.length, length))) lengths.push(length);
      } else if (r < 0.75) {
        tx.pump();
      } else {
        rx.read(onFrame, 1 + Math.floor(rng() * 4));
      }
    }
    for (let r = 0; !(tx.pump() && rx.isEmpty()); r++) {
      assert.ok(r < 1_000_000, `seed ${seed}: no progress`);
      rx.read(onFrame);
    }
    assert.equal(received, lengths.length, `seed ${seed}: ${received} of ${lengths.length} frames`);
  }
});

// --- two threads -------------------------------------------------------------------------------


function yieldToLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

for (const capacity of [16, 256]) {
  test(`two threads: a producer worker sends seeded frames of 0..4× a ${capacity}-byte ring`, async () => {
    const [seed] = seeds(1);
    const count = 10_000;
    const sab = SpscRing.create(capacity);
    const rx = new SpscRing(sab);
    const { report } = await startWorker({ role: 'produce', ring: sab, seed, count });
    const rng = mulberry32(seed);
    let received = 0;
    const onFrame = (bytes: Uint8Array): void => {
      const problem = frameMismatch(bytes, received, frameLength(rng, capacity));
      if (problem !== null) assert.fail(`seed ${seed}: ${problem}`);
      received++;
    };
    const deadline = Date.now() + 15_000;
    for (let idle = 0; received < count;) {
      idle = backoff(rx.read(onFrame) > 0, idle);
      if ((idle & 255) === 255) await yieldToLoop();
      assert.ok(Date.now() < deadline, `seed ${seed}: stalled at ${received}/${count}`);
    }
    const r = await report;
    assert.ok(r.ok, r.error);
    assert.ok(rx.isEmpty(), `seed ${seed}: extra bytes after the last frame`);
  });
}

for (const capacity of [16, 64]) {
  test(`two threads send to each other through two ${capacity}-byte rings at once: no deadlock, no loss`, async () => {
    const [seed] = seeds(1);
    const count = 4_000;
    const aToB = SpscRing.create(capacity);
    const bToA = SpscRing.create(capacity);
    const { report } = await startWorker({ role: 'exchange', input: aToB, out: bToA, sendSeed: seed + 1, recvSeed: seed, count, timeoutMs: 15_000 });
    const ex = new Exchange({ input: new SpscRing(bToA), out: new SpscRing(aToB), capacity, sendSeed: seed, recvSeed: seed + 1, count, label: `main (seed ${seed})` });
    const deadline = Date.now() + 15_000;
    for (let i = 0, idle = 0; !ex.done; i++) {
      idle = backoff(ex.step(), idle);
      if ((i & 255) === 0) await yieldToLoop();
      assert.ok(Date.now() < deadline, `seed ${seed}: no progress, received ${ex.received}/${count}`);
    }
    const r = await report;
    assert.ok(r.ok, r.error);
  });
}

for (const [name, bellOptions] of [
  ['always parking (no spin)', { minSpins: 0, maxSpins: 0 }],
  ['adaptive spinning', {}],
] as const) {
  test(`doorbell ping-pong, ${name}: no lost wake-up in 3000 round trips`, async () => {
    const rounds = 3000;
    const bellSab = Doorbell.create(2);
    const ping = SpscRing.create(64);
    const pong = SpscRing.create(64);
    const { report } = await startWorker({ role: 'pong', input: ping, out: pong, bell: bellSab, self: 1, peer: 0, rounds, parkTimeoutMs: 2000, bellOptions });
    const bell = new Doorbell(bellSab, 0, bellOptions);
    const tx = new SpscRing(ping);
    const rx = new SpscRing(pong);
    const check = (): boolean => !rx.isEmpty();
    let timeouts = 0;
    let echoed = 0;
    let expected = 0;
    const onFrame = (bytes: Uint8Array): void => {
      assert.equal(frameMismatch(bytes, expected, 8), null);
      echoed++;
    };
    for (let seq = 0; seq < rounds; seq++) {
      expected = seq;
      assert.ok(tx.offer(makeFrame(seq, 8)));
      bell.ring(1);
      while (echoed === seq) {
        // Blocking park on the main thread is fine here: the worker needs nothing from our loop.
        if (!bell.idle(check, 2000)) timeouts++;
        rx.read(onFrame);
        assert.ok(timeouts < 3, 'parked through three 2-second timeouts: wake-ups are lost');
      }
    }
    bell.close();
    const r = await report;
    assert.ok(r.ok, r.error);
    assert.equal(timeouts, 0, 'main thread slept until its park timed out: a lost wake-up');
    assert.equal(r.timeouts, 0, 'worker slept until its park timed out: a lost wake-up');
    const stats = bell.stats();
    if (bellOptions.maxSpins === 0) assert.ok(stats.parks[0] + stats.parks[1] > rounds, `few parks: ${JSON.stringify(stats)}`);
  });
}

test('two threads, both parking: a producer blocked on a full 64-byte ring is woken by the consumer', async () => {
  const [seed] = seeds(1);
  const capacity = 64;
  const count = 3_000;
  const bellOptions = { minSpins: 0, maxSpins: 0 };
  const bellSab = Doorbell.create(2);
  const sab = SpscRing.create(capacity);
  const { report } = await startWorker({ role: 'produce-parking', ring: sab, bell: bellSab, self: 1, peer: 0, seed, count, parkTimeoutMs: 2000, bellOptions });
  const bell = new Doorbell(bellSab, 0, bellOptions);
  const rx = new SpscRing(sab);
  const rng = mulberry32(seed);
  let received = 0;
  const onFrame = (bytes: Uint8Array): void => {
    const problem = frameMismatch(bytes, received, frameLength(rng, capacity));
    if (problem !== null) assert.fail(`seed ${seed}: ${problem}`);
    received++;
  };
  const check = (): boolean => !rx.isEmpty();
  let timeouts = 0;
  while (received < count) {
    rx.read(onFrame);
    if (rx.takeSpaceWanted()) bell.ring(1);
    if (received < count && !bell.idle(check, 2000)) timeouts++;
    assert.ok(timeouts < 3, `seed ${seed}: parked through three 2-second timeouts at ${received}/${count}`);
  }
  bell.close();
  const r = await report;
  assert.ok(r.ok, r.error);
  assert.equal(timeouts, 0, `seed ${seed}: the consumer's park timed out: a lost wake-up`);
  assert.equal(r.timeouts, 0, `seed ${seed}: the producer's park timed out: a lost wake-up`);
  assert.ok((r.parks as number) > 0, 'the producer never parked on a full ring');
});

test('doorbell: ring() notifies only a parked thread, once per park', () => {
  const sab = Doorbell.create(2);
  const a = new Doorbell(sab, 0, { cores: 2 });
  const b = new Doorbell(sab, 1, { cores: 2 });
  assert.equal(a.ring(1), false, 'b is running');
  b.prepareToPark();
  assert.equal(a.ring(1), true);
  assert.equal(a.ring(1), false, 'already notified');
  assert.equal(b.park(1000), 'not-equal', 'the notify came before the wait: it returns at once');
  assert.equal(a.ring(1), false);
  b.prepareToPark();
  assert.equal(b.park(5), 'timed-out');
  assert.deepEqual(a.stats().wakes, [0, 1]);
  assert.equal(a.stats().awake, 2);
  b.prepareToPark();
  assert.equal(a.stats().awake, 1);
  b.cancelPark();
  assert.equal(a.stats().awake, 2);
});

test('doorbell: spinning only while spinning threads < free cores', () => {
  const sab = Doorbell.create(3);
  const bells = [0, 1, 2].map((t) => new Doorbell(sab, t, { cores: 2, minSpins: 4, maxSpins: 16 }));
  let calls = 0;
  const never = (): boolean => { calls++; return false; };
  assert.equal(bells[0].spin(never), false);
  assert.equal(calls, 0, 'three awake threads on two cores: no spinning');
  bells[2].prepareToPark();
  assert.equal(bells[0].spin(never), false);
  assert.equal(calls, 16, 'two awake threads on two cores: spins its limit');
  let n = 0;
  assert.equal(bells[0].spin(() => ++n === 3), true);
  bells[2].cancelPark();
});

test('doorbell: the spin limit halves after a park that times out, doubles after a short one', () => {
  const sab = Doorbell.create(2);
  const a = new Doorbell(sab, 0, { cores: 2 });
  const b = new Doorbell(sab, 1, { cores: 2, minSpins: 4, maxSpins: 64 });
  assert.equal(b.spinLimit, 64);
  b.prepareToPark();
  assert.equal(b.park(1), 'timed-out');
  assert.equal(b.spinLimit, 32);
  b.prepareToPark();
  assert.equal(b.park(1), 'timed-out');
  assert.equal(b.spinLimit, 16);
  b.prepareToPark();
  a.ring(1);
  assert.equal(b.park(1000), 'not-equal');
  assert.equal(b.spinLimit, 32, 'work came right after parking: spin longer');
  let n = 0;
  assert.ok(b.spin(() => ++n === 3));
  assert.ok(b.spinLimit < 32, `work came after 2 iterations: the limit moves towards 4, got ${b.spinLimit}`);
});

test('doorbell: parkAsync resolves on ring() and keeps the event loop running', async () => {
  const sab = Doorbell.create(2);
  const a = new Doorbell(sab, 0);
  const b = new Doorbell(sab, 1);
  b.prepareToPark();
  const parked = b.parkAsync(5000);
  let timerRan = false;
  await new Promise<void>((resolve) => setTimeout(() => { timerRan = true; resolve(); }, 5));
  assert.ok(timerRan);
  assert.ok(a.ring(1));
  assert.equal(await parked, 'ok');
  b.prepareToPark();
  const again = b.parkAsync(5000);
  assert.ok(b.interrupt());
  assert.equal(await again, 'ok');
});

test('doorbell: the reply wait spins past the adaptive limit until its window ends, and learns nothing from it', () => {
  const sab = Doorbell.create(2);
  const a = new Doorbell(sab, 0, { cores: 2, minSpins: 4, maxSpins: 4 });
  let n = 0;
  // The answer comes at the 1000th check: far past the limit of 4, within a window of 10 s.
  assert.equal(a.spin(() => ++n === 1000, 10_000), true);
  assert.equal(n, 1000);
  assert.equal(a.spinLimit, 4, 'the await phase does not move the adaptive limit');
  n = 0;
  assert.equal(a.spin(() => ++n === 1000), false, 'without a window: the adaptive limit only');
  assert.equal(n, 4);
  // Nothing comes: the spin ends once the window has passed (checks counted, not timed).
  n = 0;
  assert.equal(a.spin(() => { n++; return false; }, 1), false);
  assert.ok(n > 4, `the window was spun after the limit (${n} checks)`);
  assert.equal(a.stats().spinning, 0);
  a.close();
});

test('doorbell: the reply wait obeys the spin rule, at its start and while it spins', () => {
  const sab = Doorbell.create(3);
  const bells = [0, 1, 2].map((t) => new Doorbell(sab, t, { cores: 2, minSpins: 4, maxSpins: 4 }));
  let calls = 0;
  assert.equal(bells[0].spin(() => { calls++; return false; }, 10_000), false);
  assert.equal(calls, 0, 'three awake threads on two cores: no reply wait either');
  bells[2].prepareToPark();
  // A thread of ours wakes up in the middle of the wait: the wait ends within one look (64 checks)
  // instead of spinning out its 10 s on a core that is no longer free.
  calls = 0;
  assert.equal(bells[0].spin(() => { if (++calls === 100) bells[2].cancelPark(); return false; }, 10_000), false);
  assert.ok(calls >= 100 && calls <= 100 + 64, `ended within one look after the wake-up (${calls} checks)`);
  assert.equal(bells[0].stats().spinning, 0);
  for (const b of bells) b.close();
});
