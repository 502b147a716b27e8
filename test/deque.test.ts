// Deque (Chase-Lev) and InjectQueue (Vyukov MPMC) from src/scheduler/deque.ts: 4-slot queues so
// full, empty and last-item races happen constantly; a seeded model check; real two-thread runs
// checking every item is taken exactly once. Rerun a seed with RING_SEED=<seed>.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Deque, InjectQueue } from '../src/scheduler/deque.js';
import { injectLoop, mulberry32, startWorker } from './helpers/ring-worker.js';

function seeds(n: number): number[] {
  const fixed = process.env.RING_SEED;
  if (fixed !== undefined) return [Number(fixed)];
  const base = (Date.now() ^ (process.pid << 8)) >>> 0;
  return Array.from({ length: n }, (_, i) => (base + i * 0x9e3779b9) >>> 0);
}

test('a 4-slot deque: push until full, pop LIFO, steal FIFO, empty returns undefined', () => {
  const d = new Deque(Deque.create(4));
  assert.equal(d.capacity, 4);
  assert.equal(d.pop(), undefined);
  assert.equal(d.steal(), undefined);
  for (let i = 1; i <= 4; i++) assert.ok(d.push(i));
  assert.equal(d.push(5), false, 'full');
  assert.equal(d.size(), 4);
  assert.equal(d.steal(), 1);
  assert.ok(d.push(5), 'a steal made room');
  assert.equal(d.pop(), 5);
  assert.equal(d.pop(), 4);
  assert.equal(d.steal(), 2);
  assert.equal(d.pop(), 3, 'the last item, through the compareExchange path');
  assert.equal(d.pop(), undefined);
  assert.equal(d.steal(), undefined);
  assert.equal(d.size(), 0);
  assert.ok(d.push(6));
  assert.equal(d.steal(), 6, 'a thief takes the last item');
  assert.equal(d.pop(), undefined, 'and the owner then finds it empty');
});

test('capacities round up to a power of two', () => {
  assert.equal(new Deque(Deque.create(3)).capacity, 4);
  assert.equal(new Deque(Deque.create(256)).capacity, 256);
  assert.equal(new InjectQueue(InjectQueue.create(1000)).capacity, 1024);
  assert.throws(() => Deque.create(1), RangeError);
});

test('stealHalf moves half (rounded up), oldest first, bounded by the thief\'s room', () => {
  const victim = new Deque(Deque.create(8));
  const own = new Deque(Deque.create(4));
  for (let i = 0; i < 7; i++) victim.push(i);
  assert.equal(victim.stealHalf(own), 4);
  assert.equal(victim.size(), 3);
  assert.deepEqual([own.pop(), own.pop(), own.pop(), own.pop()], [3, 2, 1, 0]);
  own.push(100);
  own.push(101);
  own.push(102);
  assert.equal(victim.stealHalf(own), 1, 'only one free slot');
  assert.equal(victim.stealHalf(own), 0, 'full');
  const empty = new Deque(Deque.create(4));
  assert.equal(empty.stealHalf(new Deque(Deque.create(4))), 0);
  const one = new Deque(Deque.create(4));
  one.push(9);
  const into = new Deque(Deque.create(4));
  assert.equal(one.stealHalf(into), 1, 'half of one item is one');
  assert.equal(into.pop(), 9);
});

test('a 4-slot inject queue: FIFO, full, empty, laps', () => {
  const q = new InjectQueue(InjectQueue.create(4));
  assert.equal(q.pop(), undefined);
  let next = 0;
  let expect = 0;
  for (let lap = 0; lap < 10; lap++) {
    while (q.push(next)) next++;
    assert.equal(q.size(), 4);
    assert.equal(q.pop(), expect++);
    assert.ok(q.push(next++));
    for (let item = q.pop(); item !== undefined; item = q.pop()) assert.equal(item, expect++);
    assert.equal(q.size(), 0);
  }
  const into = new Deque(Deque.create(2));
  q.push(1);
  q.push(2);
  q.push(3);
  assert.equal(q.popInto(into, 8), 2, 'bounded by the deque\'s room');
  assert.equal(q.pop(), 3);
});

test('seeded random deque and inject queue operations against a model, across index wraps', () => {
  for (const seed of seeds(20)) {
    const rng = mulberry32(seed);
    const start = [0, 0x7ffffff0, 0xfffffff0 | 0][Math.floor(rng() * 3)];
    const d = new Deque(Deque.create(4, start));
    const q = new InjectQueue(InjectQueue.create(4, start));
    const model: number[] = [];
    const qModel: number[] = [];
    for (let op = 0; op < 5000; op++) {
      const r = rng();
      const where = `seed ${seed}, op ${op}, start ${start}`;
      if (r < 0.4) {
        assert.equal(d.push(op), model.length < 4, where);
        if (model.length < 4) model.push(op);
        assert.equal(q.push(op), qModel.length < 4, where);
        if (qModel.length < 4) qModel.push(op);
      } else if (r < 0.7) {
        assert.equal(d.pop(), model.pop(), where);
        assert.equal(q.pop(), qModel.shift(), where);
      } else {
        assert.equal(d.steal(), model.shift(), where);
      }
      assert.equal(d.size(), model.length, where);
      assert.equal(q.size(), qModel.length, where);
    }
  }
});


function checkOnce(taken: Int32Array, what: string): void {
  for (let item = 0; item < taken.length; item++) {
    if (taken[item] !== 1) assert.fail(`${what}: item ${item} taken ${taken[item]} times`);
  }
}

test('two threads: an owner pushes and pops a 4-slot deque while a thief steals; each item once', async () => {
  for (const seed of seeds(2)) {
    const n = 500_000;
    const victim = Deque.create(4);
    const taken = new SharedArrayBuffer(n * 4);
    const flags = new SharedArrayBuffer(4);
    const { report } = await startWorker({ role: 'thief', victim, own: Deque.create(4), taken, flags, seed });
    const d = new Deque(victim);
    const counts = new Int32Array(taken);
    const rng = mulberry32(seed);
    let pops = 0;
    const take = (item: number | undefined): void => {
      if (item === undefined) return;
      Atomics.add(counts, item, 1);
      pops++;
    };
    for (let item = 0; item < n; item++) {
      while (!d.push(item)) take(d.pop());
      // Pop now and then, often enough that the deque runs down to its last item.
      if (rng() < 0.3) take(d.pop());
      if (rng() < 0.1) take(d.pop());
    }
    for (let item = d.pop(); item !== undefined; item = d.pop()) take(item);
    // Pairs with Atomics.load(flags) in the thief: after this it drains what is left and stops.
    Atomics.store(new Int32Array(flags), 0, 1);
    const r = await report;
    assert.ok(r.ok, r.error);
    checkOnce(counts, `seed ${seed} (owner popped ${pops}, thief stole ${r.steals})`);
    assert.ok((r.steals as number) > 0, `seed ${seed}: the thief never stole anything`);
  }
});

test('two threads push and pop one 4-slot inject queue; each item once, per-producer order kept', async () => {
  const [seed] = seeds(1);
  const count = 100_000;
  const queue = InjectQueue.create(4);
  const taken = new SharedArrayBuffer(2 * count * 4);
  const total = new SharedArrayBuffer(4);
  const { report } = await startWorker({ role: 'inject', queue, taken, total, first: count, count, all: 2 * count, seed: seed + 1 });
  const mine = injectLoop(new InjectQueue(queue), new Int32Array(taken), new Int32Array(total), 0, count, 2 * count, mulberry32(seed), `main (seed ${seed})`);
  const r = await report;
  assert.ok(r.ok, r.error);
  checkOnce(new Int32Array(taken), `seed ${seed} (main popped ${mine.pops}, worker ${r.pops})`);
});
