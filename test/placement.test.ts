// The placement and steal policy of a host worker (src/host/placement.ts) against a fake process
// directory and fake queue lengths: which worker a new process goes to, when an idle worker may
// rob a sibling or take from the global queue (the balance, backlog and stuck rules), and whom a
// queued spawn wakes. The clock is a counter the test moves by hand.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Placement, PLACE_SLACK, STEAL_AFTER_MS, STEAL_BACKLOG, type DirectoryView } from '../src/host/placement.js';

/** A directory of plain numbers: load, busy, heartbeat and down per thread id. */
class FakeDirectory implements DirectoryView {
  loads = new Map<number, number>();
  busyTids = new Set<number>();
  beats = new Map<number, number>();
  downTids = new Set<number>();
  load(tid: number): number { return this.loads.get(tid) ?? 0; }
  addLoad(tid: number, delta: number): void { this.loads.set(tid, this.load(tid) + delta); }
  isDown(tid: number): boolean { return this.downTids.has(tid); }
  busy(tid: number): boolean { return this.busyTids.has(tid); }
  heartbeat(tid: number): number { return this.beats.get(tid) ?? 0; }
  lists = new Map<number, number>();
  listed(tid: number): number { return this.lists.get(tid) ?? 0; }
}

/**
 * Worker `tid` of a host of workers `tids`, with queue lengths `queued` and queue progress counters
 * `progress` (by index), deques of `capacity`, and a hand clock.
 */
function setup(tid: number, tids: number[], queued: number[] = tids.map(() => 0), capacity = STEAL_BACKLOG) {
  const dir = new FakeDirectory();
  const clock = { now: 0 };
  const progress = tids.map(() => 0);
  const p = new Placement(dir, tid, [...tids], () => clock.now);
  p.attach({ queuedAt: (i) => queued[i]!, progressAt: (i) => progress[i]!, localCapacity: capacity });
  return { dir, clock, p, queued, progress };
}

test('placement: the spawner keeps its processes until it holds more than PLACE_SLACK above the lightest', () => {
  const { dir, p } = setup(1, [1, 2, 3]);
  dir.loads.set(1, PLACE_SLACK);
  assert.equal(p.place(), 1, 'exactly the slack above an empty sibling: stays');
  assert.equal(dir.load(2), 0, 'nothing counted elsewhere');
  dir.loads.set(1, PLACE_SLACK + 1);
  dir.loads.set(2, 1);
  assert.equal(p.place(), 3, 'one over the slack: the least loaded sibling');
  assert.equal(dir.load(3), 1, 'counted there at once, so a burst spreads');
  assert.equal(dir.load(1), PLACE_SLACK + 1, 'the spawner counts its own processes itself (loadAdd)');
});

test('placement: a burst from one worker spreads evenly over the host', () => {
  const { dir, p } = setup(1, [1, 2]);
  for (let i = 0; i < 1000; i++) {
    const t = p.place();
    if (t === 1) dir.addLoad(1, 1);
  }
  assert.equal(dir.load(1) + dir.load(2), 1000);
  assert.ok(Math.abs(dir.load(1) - dir.load(2)) <= PLACE_SLACK + 1, `split ${dir.load(1)}/${dir.load(2)}`);
});

test('placement skips a dead worker until its replacement takes its index', () => {
  const { dir, p } = setup(1, [1, 2, 3]);
  dir.loads.set(1, 100);
  dir.loads.set(3, 50);
  dir.downTids.add(2);
  assert.equal(p.place(), 3, 'thread 2 is down: the next lightest');
  p.replaced(1, 9);
  assert.equal(p.place(), 9, 'the replacement, empty, at index 1');
  assert.equal(p.indexOf(9), 1);
  assert.equal(p.indexOf(2), -1, 'the dead id is no longer in the host');
  p.replaced(7, 10); // out of range: ignored
  assert.equal(p.indexOf(10), -1);
});

test('the balance rule: rob a sibling only while lighter by more than one', () => {
  const { dir, p, queued } = setup(1, [1, 2], [0, STEAL_BACKLOG]);
  dir.loads.set(1, STEAL_BACKLOG - 1);
  assert.equal(p.canSteal(1), false, 'weights 1023 vs 1024: 1023 + 1 is not below 1024');
  dir.loads.set(1, STEAL_BACKLOG - 2);
  assert.equal(p.canSteal(1), true, 'weights 1022 vs 1024, and the sibling holds a backlog');
  queued[1] = STEAL_BACKLOG - 1;
  dir.loads.set(1, 0);
  assert.equal(p.canSteal(1), false, 'below the backlog and not stuck: a group of 1,023 stays together');
});

test('the backlog mark is the deque capacity when that is smaller than STEAL_BACKLOG', () => {
  const { p, queued } = setup(1, [1, 2], [0, 63], 64);
  assert.equal(p.backlogMark(), 64);
  assert.equal(p.canSteal(1), false, '63 queued: under the mark');
  queued[1] = 64;
  assert.equal(p.canSteal(1), true, 'a full deque: saturated');
});

test('the stuck rule: a sibling inside one step with nothing moving for longer than STEAL_AFTER_MS may be robbed', () => {
  const { dir, clock, p } = setup(1, [1, 2], [0, 4]);
  dir.busyTids.add(2);
  dir.beats.set(2, 7);
  assert.equal(p.canSteal(1), false, 'first look: the heartbeat is new');
  clock.now += STEAL_AFTER_MS;
  assert.equal(p.canSteal(1), false, 'exactly STEAL_AFTER_MS later: not yet');
  clock.now += 0.5;
  assert.equal(p.canSteal(1), true, 'same heartbeat, same queues, busy, longer than STEAL_AFTER_MS');
  dir.beats.set(2, 8);
  assert.equal(p.canSteal(1), false, 'it started another step: a new look');
  clock.now += 5;
  dir.busyTids.delete(2);
  assert.equal(p.canSteal(1), false, 'not busy: never robbed for being slow');
});

test('the stuck rule: a sibling whose queue moves (a spawn loop, or starting its spawns) is busy, not stuck', () => {
  const { dir, clock, p, progress } = setup(1, [1, 2], [0, 500]);
  dir.busyTids.add(2);
  dir.loads.set(2, 1);
  assert.equal(p.canSteal(1), false, 'first look');
  for (let i = 0; i < 50; i++) {
    clock.now += 2 * STEAL_AFTER_MS;
    progress[1]! += 3; // pushed or took spawns since the last look, all inside one step
    assert.equal(p.canSteal(1), false, `look ${i + 2}: its queue moved, so it is not stuck`);
  }
  clock.now += 2 * STEAL_AFTER_MS;
  assert.equal(p.canSteal(1), true, 'the queue stopped moving for longer than STEAL_AFTER_MS: stuck');
});

test('a replacement worker starts with a fresh heartbeat look', () => {
  const { dir, clock, p } = setup(1, [1, 2], [0, 4]);
  dir.busyTids.add(2);
  assert.equal(p.canSteal(1), false);
  clock.now += 10;
  assert.equal(p.canSteal(1), true);
  p.replaced(1, 5);
  dir.busyTids.add(5); // same heartbeat value (0) as the dead one had
  assert.equal(p.canSteal(1), false, 'the new worker is looked at afresh');
});

test('the global queue: taken only while within PLACE_SLACK of the lightest sibling', () => {
  const { dir, p, queued } = setup(2, [1, 2, 3]);
  dir.loads.set(2, PLACE_SLACK);
  assert.equal(p.canTakeGlobal(), true, 'exactly the slack above the empty siblings');
  queued[1] = 1; // own queued spawns count too
  assert.equal(p.canTakeGlobal(), false);
  dir.loads.set(1, 1);
  assert.equal(p.canTakeGlobal(), false, 'one sibling is still light enough');
  dir.loads.set(3, 1);
  assert.equal(p.canTakeGlobal(), true);
});

test('wake-ups after a push: a placed spawn wakes its target; an own push the first parked sibling at 1 and at the backlog mark', () => {
  const { p, queued } = setup(2, [1, 2, 3]);
  const parked = new Set([3]);
  const isParked = (t: number) => parked.has(t);
  assert.equal(p.wakeAfterPush(0, isParked), 1, 'placed on index 0: wake thread 1 (the ring itself checks parked)');
  queued[1] = 1;
  assert.equal(p.wakeAfterPush(1, isParked), 3, 'own queue now 1: the first parked sibling');
  parked.add(1);
  assert.equal(p.wakeAfterPush(1, isParked), 1, 'in host order');
  queued[1] = 2;
  assert.equal(p.wakeAfterPush(1, isParked), -1, 'nothing new for a sibling to take');
  queued[1] = STEAL_BACKLOG;
  assert.equal(p.wakeAfterPush(1, isParked), 1, 'a backlog a sibling may steal at once');
  parked.clear();
  assert.equal(p.wakeAfterPush(1, isParked), -1, 'nobody parked: nobody to wake');
});

test('with the stuck rule off (a hooked host) the first queued spawn wakes nobody; the backlog mark still does', () => {
  const dir = new FakeDirectory();
  const queued = [1, 0];
  const p = new Placement(dir, 1, [1, 2], () => 0, Infinity);
  p.attach({ queuedAt: (i) => queued[i]!, progressAt: () => 0, localCapacity: STEAL_BACKLOG });
  const parked = () => true;
  assert.equal(p.wakeAfterPush(0, parked), -1, 'one queued spawn: nobody to wake');
  queued[0] = STEAL_BACKLOG;
  assert.equal(p.wakeAfterPush(0, parked), 2, 'a backlog a sibling may steal at once');
  dir.busyTids.add(2);
  queued[1] = 5;
  dir.loads.set(2, 10);
  assert.equal(p.siblingStuck(1), false);
  assert.equal(p.siblingStuck(1), false, 'never stuck, however long it has not moved');
});

test('a worker with no queues (single-worker host) places on itself', () => {
  const dir = new FakeDirectory();
  const p = new Placement(dir, 4, [4]);
  dir.loads.set(4, 1000);
  assert.equal(p.place(), 4);
  assert.equal(p.canTakeGlobal(), true);
});

test('the weight counts the Lua-side lists the workers report (T_LISTED): a long list is a heavy worker', () => {
  const { dir, p, queued } = setup(2, [1, 2], [STEAL_BACKLOG, 0]);
  dir.lists.set(2, STEAL_BACKLOG); // this thief lists as many as the sibling published
  assert.equal(p.weight(1), STEAL_BACKLOG);
  assert.equal(p.weight(0), STEAL_BACKLOG, 'its own list counts the same');
  assert.equal(p.canSteal(0), false, 'equally heavy: no steal, though the sibling holds the backlog mark');
  dir.lists.set(2, 0);
  assert.equal(p.canSteal(0), true, 'its list is started: now it is lighter');
  queued[0] = 0;
  dir.lists.set(1, 5000);
  assert.equal(p.canTakeGlobal(), true, 'the lightest by far');
  dir.lists.set(2, 5000 + PLACE_SLACK + 1);
  assert.equal(p.canTakeGlobal(), false, 'the sibling\'s list is lighter than ours by more than the slack');
});

test('the offer rule: a sibling is lighter only by more than half the backlog mark, lists included', () => {
  const { dir, p } = setup(1, [1, 2, 3]);
  const half = STEAL_BACKLOG / 2;
  dir.lists.set(1, STEAL_BACKLOG);
  dir.lists.set(2, STEAL_BACKLOG);
  dir.loads.set(3, STEAL_BACKLOG - half);
  assert.equal(p.siblingLighter(), false, 'exactly half the mark below: not lighter (two bursts a few ms apart)');
  dir.loads.set(3, STEAL_BACKLOG - half - 1);
  assert.equal(p.siblingLighter(), true, 'one more below: lighter');
  dir.downTids.add(3);
  assert.equal(p.siblingLighter(), false, 'a dead worker is nobody to offer to');
  dir.downTids.clear();
  dir.loads.set(1, 2 * STEAL_BACKLOG);
  dir.lists.set(1, 0);
  assert.equal(p.siblingLighter(), true, 'live processes weigh too');
});

test('the offer rule: a lighter sibling building a list of its own is not offered to until its list is empty', () => {
  const { dir, p } = setup(1, [1, 2, 3]);
  dir.lists.set(1, 4 * STEAL_BACKLOG);
  dir.lists.set(2, 4 * STEAL_BACKLOG);
  dir.lists.set(3, 64); // lighter by far, but bursting too (a burst that began a few ms later)
  assert.equal(p.siblingLighter(), false, 'the only lighter sibling has a list of its own');
  dir.lists.set(3, 0);
  dir.loads.set(3, STEAL_BACKLOG); // its list started: now live processes
  assert.equal(p.siblingLighter(), true, 'its list empty (reported 0): offered');
  dir.busyTids.add(3);
  assert.equal(p.siblingLighter(), true, 'busy (starting spawns it took from us) but with no list: offered');
  dir.lists.set(2, 0);
  dir.lists.set(3, 1);
  assert.equal(p.siblingLighter(), true, 'another sibling without a list is lighter');
});

test('the offer rule on a small deque: half of local_queue_size', () => {
  const { dir, p } = setup(1, [1, 2], [0, 0], 64);
  dir.lists.set(1, 64);
  dir.loads.set(2, 32); // (live processes: a sibling with a list of its own is never offered to)
  assert.equal(p.siblingLighter(), false, '32 below: exactly half the mark');
  dir.loads.set(2, 31);
  assert.equal(p.siblingLighter(), true);
});
