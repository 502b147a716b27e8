// The ring producer's queue copies (src/transport/spill.ts): a queued frame is a real copy (the
// caller's buffer is reused at once), blocks are reused only once every frame in them is in the
// ring, a backlog as large as the one before allocates no new block, frames larger than a block
// get their own buffer; and seeded backlogs of several blocks come out whole and in order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SpscRing } from '../src/transport/ring.js';
import { SPILL_BLOCK, SpillBlocks } from '../src/transport/spill.js';
import { frameMismatch, makeFrame, mulberry32 } from './helpers/ring-worker.js';

function pair(capacity: number): { tx: SpscRing; rx: SpscRing } {
  const sab = SpscRing.create(capacity);
  return { tx: new SpscRing(sab), rx: new SpscRing(sab) };
}

function drainAll(tx: SpscRing, rx: SpscRing): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let guard = 0; guard < 1e6; guard++) {
    rx.read((b) => out.push(b.slice()));
    if (tx.pump() && rx.isEmpty()) break;
  }
  return out;
}

test('a block is freed only once none of its frames is queued, then reused before a new one is made', () => {
  const s = new SpillBlocks();
  const half = SPILL_BLOCK / 2;
  const a1 = s.copy(makeFrame(1, half));
  const big = s.copy(makeFrame(2, SPILL_BLOCK + 8)); // its own buffer, between two frames of block A
  const a2 = s.copy(makeFrame(3, half)); // A is full
  const b1 = s.copy(makeFrame(4, 10)); // block B, now the current one
  assert.strictEqual(a1.buffer, a2.buffer);
  assert.notStrictEqual(big.buffer, a1.buffer);
  assert.notStrictEqual(b1.buffer, a1.buffer);
  assert.equal(s.blocks(), 2);
  s.written(a1);
  s.written(big); // not a block's: nothing changes
  const b2 = s.copy(makeFrame(5, SPILL_BLOCK - 5)); // not in B's rest; A still holds a2: a third block, C
  assert.equal(s.blocks(), 3);
  assert.equal(frameMismatch(a2, 3, half), null, 'a2 untouched');
  s.written(a2); // A's last queued frame: A is free
  const c1 = s.copy(makeFrame(6, 100)); // not in C's rest: the next block is A again, not a fourth
  assert.strictEqual(c1.buffer, a1.buffer);
  assert.equal(s.blocks(), 3);
  for (const [v, seq, n] of [[b1, 4, 10], [b2, 5, SPILL_BLOCK - 5], [c1, 6, 100]] as const) assert.equal(frameMismatch(v, seq, n), null);
});

test('the current block is refilled from its start once none of its frames is queued', () => {
  const s = new SpillBlocks();
  const x = s.copy(makeFrame(8, 64));
  const x2 = s.copy(makeFrame(9, 64));
  s.written(x);
  const y = s.copy(makeFrame(10, 64)); // x2 is still queued: after it
  assert.equal(y.byteOffset, x2.byteOffset + 64);
  s.written(x2);
  s.written(y);
  const z = s.copy(makeFrame(11, 64));
  assert.strictEqual(z.buffer, x.buffer);
  assert.equal(z.byteOffset, x.byteOffset, 'refilled from the start');
  assert.equal(s.blocks(), 1);
});

test('offer copies: the caller reuses its buffer at once, and every frame arrives as offered', () => {
  const { tx, rx } = pair(4096);
  const buf = new Uint8Array(3000);
  for (let seq = 0; seq < 50; seq++) {
    buf.set(makeFrame(seq, 3000));
    tx.offer(buf); // the ring fills after one: the rest are queued copies
    buf.fill(0xee); // the caller's next use of its buffer
  }
  assert.ok(tx.pendingFrames > 40);
  const got = drainAll(tx, rx);
  assert.equal(got.length, 50);
  got.forEach((g, seq) => assert.equal(frameMismatch(g, seq, 3000), null));
});

test('a second backlog as large as the first allocates no new block', () => {
  const { tx, rx } = pair(64 * 1024);
  const burst = (from: number) => {
    for (let seq = from; seq < from + 60; seq++) tx.offer(makeFrame(seq, 100_000)); // ~6 MB: several blocks
    return drainAll(tx, rx);
  };
  const first = burst(0);
  const kept = tx.spillBlocks;
  assert.ok(kept >= 5, `${kept} blocks after a 6 MB backlog`);
  const second = burst(60);
  assert.equal(tx.spillBlocks, kept);
  [...first, ...second].forEach((g, seq) => assert.equal(frameMismatch(g, seq, 100_000), null));
});

test('seeded backlogs of mixed sizes, pumped and read at random points, arrive whole and in order', () => {
  for (const seed of [1, 2, 3, 0x5eed, 0xc0ffee, 0xdeadbeef]) {
    const rnd = mulberry32(seed);
    const { tx, rx } = pair(256 * 1024);
    const sizes: number[] = [];
    const got: Uint8Array[] = [];
    for (let step = 0; step < 400; step++) {
      const r = rnd();
      if (r < 0.6) {
        const n = rnd() < 0.05 ? SPILL_BLOCK + Math.floor(rnd() * 1000) : 1 + Math.floor(rnd() * 200_000);
        tx.offer(makeFrame(sizes.length, n));
        sizes.push(n);
      } else if (r < 0.8) {
        tx.pump();
      } else {
        rx.read((b) => got.push(b.slice()));
      }
    }
    got.push(...drainAll(tx, rx));
    assert.equal(got.length, sizes.length, `seed ${seed}`);
    got.forEach((g, seq) => assert.equal(frameMismatch(g, seq, sizes[seq]!), null, `seed ${seed}`));
  }
});
