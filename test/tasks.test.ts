// The run queues of a multi-worker host (src/scheduler/tasks.ts) with shrunken capacities — 4-slot
// deques, inject queues and global queue, 64-byte slots — so full queues, overflow, slot reuse and
// steal-vs-take races happen constantly; then two real threads pushing and taking at once.
// Rerun a seed with RING_SEED=<seed>.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TaskQueues, createTaskRegion, GLOBAL_EVERY, type TaskPolicy } from '../src/scheduler/tasks.js';
import { startWorker, mulberry32, taskDescriptor, taskItem, tasksLoop } from './helpers/ring-worker.js';

const tiny = () => createTaskRegion({ workers: 2, queueSize: 4, localQueueSize: 4, slotBytes: 64 });
const item = (d: Uint8Array | undefined): number | undefined => (d === undefined ? undefined : taskItem(d));

test('own deque, then the global queue on overflow, then refused; taken oldest first', () => {
  const q = new TaskQueues(tiny(), 0);
  for (let i = 0; i < 8; i++) assert.ok(q.push(taskDescriptor(i, 16)), `push ${i}`);
  assert.equal(q.push(taskDescriptor(8, 16)), false, 'deque and global queue full');
  assert.equal(q.ownQueued(), 4);
  const order: Array<number | undefined> = [];
  for (let i = 0; i < 8; i++) order.push(item(q.take(false)));
  assert.deepEqual(order, [0, 1, 2, 3, 4, 5, 6, 7], 'FIFO: the deque, then the overflow');
  assert.equal(q.take(true), undefined);
  assert.deepEqual(q.counters, { pushed: 8, own: 4, global: 4, stolen: 0, shared: 0 });
});

test('slots are reused: many more pushes than slots, and a refused push leaks none', () => {
  const q = new TaskQueues(tiny(), 0);
  assert.equal(q.maxBytes, 60);
  assert.equal(q.push(new Uint8Array(61)), false, 'a descriptor larger than a slot is refused');
  for (let i = 0; i < 1000; i++) {
    assert.ok(q.push(taskDescriptor(i, i % 61)));
    const d = q.take(false)!;
    assert.equal(item(d), i);
    assert.equal(d.length, Math.max(4, i % 61));
    assert.deepEqual(d, taskDescriptor(i, d.length));
  }
  // every slot is free again: the queues (not the slots) limit the next burst
  for (let i = 0; i < 8; i++) assert.ok(q.push(taskDescriptor(i, 60)));
});

test('placement into a sibling\'s inject queue; the sibling takes it', () => {
  const r = tiny();
  const a = new TaskQueues(r, 0);
  const b = new TaskQueues(r, 1);
  for (let i = 0; i < 4; i++) assert.ok(a.push(taskDescriptor(i, 8), 1));
  assert.equal(a.push(taskDescriptor(4, 8), 1), false, 'the 4-slot inject queue is full');
  assert.equal(b.ownQueued(), 4);
  assert.equal(a.take(false), undefined, 'not on the placer\'s queues');
  assert.deepEqual([0, 1, 2, 3].map(() => item(b.take(false))), [0, 1, 2, 3]);
});

test('stealing takes half of a sibling\'s deque, only when the policy allows it', () => {
  const r = tiny();
  let allow = false;
  const policy: TaskPolicy = { canSteal: () => allow, canTakeGlobal: () => true };
  const a = new TaskQueues(r, 0);
  const b = new TaskQueues(r, 1, policy);
  for (let i = 0; i < 4; i++) a.push(taskDescriptor(i, 8));
  assert.equal(b.visible(), false);
  assert.equal(b.take(true), undefined, 'the policy forbids it');
  assert.equal(b.queuedElsewhere(), true);
  allow = true;
  assert.equal(b.visible(), true);
  assert.equal(b.take(false), undefined, 'take(false) never steals');
  assert.equal(item(b.take(true)), 0, 'oldest first');
  assert.equal(b.counters.stolen, 2, 'half of four');
  assert.equal(item(b.take(false)), 1, 'the rest of the stolen half is on its own deque now');
  assert.deepEqual([item(a.take(false)), item(a.take(false)), item(a.take(false))], [2, 3, undefined]);
});

test('the global queue is taken first every GLOBAL_EVERY takes, and only when the policy allows', () => {
  const r = createTaskRegion({ workers: 2, queueSize: 4, localQueueSize: 256, slotBytes: 64 });
  let global = false;
  const q = new TaskQueues(r, 0, { canSteal: () => true, canTakeGlobal: () => global });
  const other = new TaskQueues(r, 1);
  // the sibling's overflow: fill its deque, then two go to the global queue
  for (let i = 0; i < 258; i++) assert.ok(other.push(taskDescriptor(1000 + i, 8)));
  for (let i = 0; i < 2 * GLOBAL_EVERY; i++) assert.ok(q.push(taskDescriptor(i, 8)));
  const seen: number[] = [];
  for (let i = 0; i < GLOBAL_EVERY; i++) seen.push(item(q.take(false))!);
  assert.ok(seen.every((x) => x < 1000), 'not allowed: the global queue is left alone');
  global = true;
  for (let i = 0; i < 2 * GLOBAL_EVERY; i++) seen.push(item(q.take(false))!);
  assert.ok(seen.includes(1256) && seen.includes(1257), 'allowed: the overflow is taken while the own deque still has work');
});

test('two threads push, place and steal on 4-slot queues: every descriptor taken once, intact', async () => {
  const fixed = process.env.RING_SEED;
  const seed = fixed !== undefined ? Number(fixed) : (Date.now() ^ (process.pid << 8)) >>> 0;
  const count = 50_000;
  const region = tiny();
  const taken = new SharedArrayBuffer(2 * count * 4);
  const total = new SharedArrayBuffer(4);
  const { report } = await startWorker({ role: 'tasks', region, me: 1, taken, total, count, all: 2 * count, seed: seed + 1 });
  const mine = tasksLoop(region, 0, new Int32Array(taken), new Int32Array(total), count, 2 * count, mulberry32(seed), `main (seed ${seed})`);
  const r = await report;
  assert.ok(r.ok, r.error);
  const t = new Int32Array(taken);
  for (let i = 0; i < t.length; i++) if (t[i] !== 1) assert.fail(`seed ${seed}: descriptor ${i} taken ${t[i]} times`);
  assert.equal(mine.takes + (r.takes as number), 2 * count);
  assert.ok(mine.stolen + (r.stolen as number) > 0, `seed ${seed}: nothing was ever stolen`);
});
