// The peer rule (src/runtime/spawn-place.ts): a process spawned from JS whose arguments name a live
// process of the same host goes to that process's worker, unless that worker is saturated (the
// backlog mark of spawns waiting there) or down; otherwise round-robin decides (-1). Against a
// fake directory; end to end (placement and frames crossing) in test/placement-groups.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { peerWorker, type SpawnPlaceView } from '../src/runtime/spawn-place.js';
import { formatPid } from '../src/runtime/pid.js';

const HOST = 'app:host';

/** Process slots: uniq -> owner tid (all alive unless listed in `dead`). */
function view(owners: Record<number, number>, opts: { dead?: number[]; down?: number[]; waiting?: Record<number, number>; mark?: number } = {}): SpawnPlaceView {
  return {
    owner: (u) => owners[u] ?? -1,
    alive: (u) => u in owners && !(opts.dead ?? []).includes(u),
    down: (t) => (opts.down ?? []).includes(t),
    waiting: (t) => opts.waiting?.[t] ?? 0,
    mark: opts.mark ?? 1024,
  };
}

test('a spawn that names a live process of its host goes to that process\'s worker', () => {
  const v = view({ 7: 2, 9: 1 });
  assert.equal(peerWorker([formatPid(HOST, 7), 1000], HOST, [1, 2], v), 2);
  assert.equal(peerWorker([false, 1000, formatPid(HOST, 9)], HOST, [1, 2], v), 1, 'any top-level argument');
  assert.equal(peerWorker([formatPid(HOST, 9), formatPid(HOST, 7)], HOST, [1, 2], v), 1, 'the first PID named');
});

test('no peer: no PID argument, a PID of another host, of a dead process, of a worker not of the host, or inside a table', () => {
  const v = view({ 7: 2, 8: 2, 5: 3 }, { dead: [8] });
  assert.equal(peerWorker([], HOST, [1, 2], v), -1);
  assert.equal(peerWorker(['hello', 3, null, { pid: formatPid(HOST, 7) }, [formatPid(HOST, 7)]], HOST, [1, 2], v), -1,
    'a PID in a table is not looked for');
  assert.equal(peerWorker([formatPid('app:other', 7)], HOST, [1, 2], v), -1, 'another host');
  assert.equal(peerWorker([`{node1@${HOST}|0x00007}`], HOST, [1, 2], v), -1, 'a PID of another node');
  assert.equal(peerWorker([formatPid(HOST, 8)], HOST, [1, 2], v), -1, 'dead');
  assert.equal(peerWorker([formatPid(HOST, 6)], HOST, [1, 2], v), -1, 'never allocated');
  assert.equal(peerWorker([formatPid(HOST, 5)], HOST, [1, 2], v), -1, 'owned by a thread that is not a worker of the host');
  assert.equal(peerWorker([formatPid(HOST, 5), formatPid(HOST, 7)], HOST, [1, 2], v), 2, 'the next PID is looked at');
});

test('a saturated worker (the backlog mark of spawns waiting) or a dead one: round-robin', () => {
  const pid = formatPid(HOST, 7);
  assert.equal(peerWorker([pid], HOST, [1, 2], view({ 7: 2 }, { waiting: { 2: 1023 } })), 2, 'one under the mark');
  assert.equal(peerWorker([pid], HOST, [1, 2], view({ 7: 2 }, { waiting: { 2: 1024 } })), -1, 'at the mark');
  assert.equal(peerWorker([pid], HOST, [1, 2], view({ 7: 2 }, { waiting: { 2: 64 }, mark: 64 })), -1, 'a small deque\'s mark');
  assert.equal(peerWorker([pid], HOST, [1, 2], view({ 7: 2 }, { down: [2] })), -1);
});
