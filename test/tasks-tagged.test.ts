// Spawns a worker published with a tag and took back itself (src/scheduler/tasks.ts, "Taken back
// without a copy"): the owner's claim of its own tagged push gives the tag (the slot freed unread),
// a thief's gives the bytes, every item is taken exactly once, and a tag comes back at most once,
// in increasing order, only for the claim of the push that carried it — also across the int32
// wrap of the deque's indices, over a seeded mix of pushes, takes and steals.
// Rerun a seed with RING_SEED=<seed>.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TaskQueues, createTaskRegion, type TaskRegion } from '../src/scheduler/tasks.js';
import { Deque } from '../src/scheduler/deque.js';
import { mulberry32, taskDescriptor, taskItem } from './helpers/ring-worker.js';

const region = (localQueueSize: number, start = 0): TaskRegion => {
  const r = createTaskRegion({ workers: 2, queueSize: 4, localQueueSize, slotBytes: 64 });
  if (start !== 0) r.local = r.local.map(() => Deque.create(localQueueSize, start));
  return r;
};

test('the owner takes its tagged pushes back as their tags, a thief as bytes; untagged ones are bytes', () => {
  const r = region(8);
  const owner = new TaskQueues(r, 0), thief = new TaskQueues(r, 1);
  for (let i = 1; i <= 6; i++) assert.ok(owner.push(taskDescriptor(100 + i, 16), 0, i));
  assert.ok(owner.push(taskDescriptor(107, 16)), 'untagged');
  const stolen = taskItem(thief.take(true)!);
  assert.equal(stolen, 101, 'the thief moved half (4) and takes the oldest: bytes');
  assert.deepEqual([owner.takeTagged(false), owner.takeTagged(false)], [5, 6], 'the rest of the tagged ones: tags');
  const last = owner.takeTagged(false);
  assert.ok(last instanceof Uint8Array && taskItem(last) === 107, 'the untagged one: bytes');
  assert.equal(owner.takeTagged(false), undefined);
  const rest = [thief.takeTagged(false), thief.takeTagged(false), thief.takeTagged(false)];
  assert.deepEqual(rest.map((d) => (d instanceof Uint8Array ? taskItem(d) : d)), [102, 103, 104], 'moved to the thief: bytes');
  assert.equal(owner.back, 2);
  assert.equal(thief.back, 0);
  assert.deepEqual(owner.counters, { pushed: 7, own: 3, global: 0, stolen: 0, shared: 0 });
});

test('take() copies a tagged one (the sharing rule takes bytes) and its tag is not given later', () => {
  const owner = new TaskQueues(region(8), 0);
  for (let i = 1; i <= 3; i++) owner.push(taskDescriptor(i, 16), 0, i);
  assert.equal(taskItem(owner.take(false)!), 1);
  owner.push(taskDescriptor(1, 16)); // handed back untagged, as share() re-pushes bytes
  assert.deepEqual([owner.takeTagged(false), owner.takeTagged(false)], [2, 3]);
  assert.equal(taskItem(owner.takeTagged(false) as Uint8Array), 1);
  assert.equal(owner.back, 2);
});

test('an overflow to the global queue is not tagged: it comes back as bytes', () => {
  const owner = new TaskQueues(region(4), 0);
  for (let i = 1; i <= 6; i++) assert.ok(owner.push(taskDescriptor(i, 16), 0, i));
  const got = Array.from({ length: 6 }, () => owner.takeTagged(false));
  assert.deepEqual(got.map((d) => (d instanceof Uint8Array ? `b${taskItem(d)}` : `t${d}`)), ['t1', 't2', 't3', 't4', 'b5', 'b6']);
});

for (const start of [0, 0x7ffffff0, -0x10]) {
  const seed = Number(process.env['RING_SEED'] ?? 0) || 0x5eed + start;
  test(`seed ${seed}, deque indices from ${start}: each item taken once, each tag back at most once, in order, only by its own claim`, () => {
    const rnd = mulberry32(seed);
    const r = region(8, start);
    const owner = new TaskQueues(r, 0), thief = new TaskQueues(r, 1);
    const tagOf = new Map<number, number>(); // tag -> item
    const taken = new Set<number>();
    const onDeque = new Set<number>(); // tagged items the push put on the owner's deque (not the overflow)
    let next = 0, tag = 0, lastTag = 0, tagsBack = 0, bytesOfTagged = 0;
    const take = (who: TaskQueues, steal: boolean): boolean => {
      const d = who.takeTagged(steal);
      if (d === undefined) return false;
      let it: number;
      if (typeof d === 'number') {
        assert.equal(who, owner, 'only the owner gets tags');
        assert.ok(d > lastTag, `tag ${d} after ${lastTag}: increasing, at most once`);
        lastTag = d;
        it = tagOf.get(d)!;
        tagsBack++;
      } else it = taskItem(d);
      assert.ok(!taken.has(it), `item ${it} taken twice`);
      taken.add(it);
      if (who === owner && typeof d !== 'number' && onDeque.has(it)) bytesOfTagged++;
      onDeque.delete(it);
      return true;
    };
    for (let step = 0; step < 20_000; step++) {
      const x = rnd();
      if (x < 0.5) {
        const tagged = rnd() < 0.8;
        const before = owner.ownQueued();
        if (owner.push(taskDescriptor(next, 8), 0, tagged ? tag + 1 : -1)) {
          if (tagged) tagOf.set(++tag, next);
          if (tagged && owner.ownQueued() > before) onDeque.add(next);
          next++;
        }
      } else if (x < 0.8) take(owner, false);
      else if (x < 0.9) take(thief, true);
      else take(thief, false);
      if (tagOf.size > 64) for (const k of [...tagOf.keys()].slice(0, 32)) if (taken.has(tagOf.get(k)!)) tagOf.delete(k);
    }
    while (take(owner, false) || take(thief, true) || take(thief, false));
    assert.equal(taken.size, next, 'every item taken exactly once');
    assert.equal(tagsBack, owner.back);
    assert.ok(tagsBack > 1000, `tags came back (${tagsBack})`);
    assert.equal(bytesOfTagged, 0, 'every tagged item the owner claimed from its deque came back as its tag');
  });
}
