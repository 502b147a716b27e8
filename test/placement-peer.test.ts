// The peer rule (src/runtime/spawn-place.ts): a process spawned from JS whose arguments name a live
// process of the same host goes to that process's worker, unless that worker is saturated (the
// backlog mark of spawns waiting there) or down; otherwise round-robin decides (-1). Past
// GROUP_BESIDE members of the peer's group on its worker, the group spreads: each further member
// to the worker holding the fewest. Against a fake directory and PeerGroups over a plain alive
// set; end to end (placement and frames crossing) in test/placement-groups.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GROUP_BESIDE, SPREAD_CORES, groupBeside, namedPeer, peerWorker, placeNear, type SpawnPlaceView } from '../src/runtime/spawn-place.js';
import { PeerGroups } from '../src/runtime/peer-groups.js';
import { formatPid } from '../src/runtime/pid.js';

const HOST = 'app:host';

/** Process slots: uniq -> owner tid (all alive unless listed in `dead`). */
function view(owners: Record<number, number>, opts: { dead?: number[]; down?: number[]; waiting?: Record<number, number>; mark?: number;
  members?: Record<number, Record<number, number>>; group?: number; free?: number } = {}): SpawnPlaceView {
  return {
    owner: (u) => owners[u] ?? -1,
    alive: (u) => u in owners && !(opts.dead ?? []).includes(u),
    down: (t) => (opts.down ?? []).includes(t),
    waiting: (t) => opts.waiting?.[t] ?? 0,
    mark: opts.mark ?? 1024,
    members: (p, t) => opts.members?.[p]?.[t] ?? 0,
    group: opts.group ?? GROUP_BESIDE,
    free: () => opts.free ?? -1,
  };
}

/**
 * What control.ts does for each spawn from JS: place it (peer rule, else round-robin over `tids`),
 * then mint its PID (uniqs from 1,000 up) on that worker and record it in the peer's group. Returns
 * the new processes' uniqs; `owners` and `live` grow with them.
 */
function spawnAll(argsOf: (i: number, made: number[]) => unknown[], n: number, tids: number[], owners: Record<number, number>,
  live: Set<number>, groups: PeerGroups, opts: { waiting?: Record<number, number> } = {}): number[] {
  const v: SpawnPlaceView = {
    owner: (u) => owners[u] ?? -1, alive: (u) => live.has(u), down: () => false, waiting: (t) => opts.waiting?.[t] ?? 0,
    mark: 1024, members: (p, t) => groups.members(p, t), group: GROUP_BESIDE, free: () => -1,
  };
  const made: number[] = [];
  let rr = -1, next = 1000 + Object.keys(owners).length;
  for (let i = 0; i < n; i++) {
    const args = argsOf(i, made);
    const peer = namedPeer(args, HOST, tids, v);
    let t = peer < 0 ? -1 : placeNear(peer, tids, v);
    if (t < 0) t = tids[rr = (rr + 1) % tids.length]!;
    const u = next++;
    owners[u] = t;
    live.add(u);
    if (peer >= 0) groups.add(peer, t, u);
    made.push(u);
  }
  return made;
}

/** How many of `uniqs` each of `tids` holds. */
const where = (uniqs: number[], owners: Record<number, number>, tids: number[]) => tids.map((t) => uniqs.filter((u) => owners[u] === t).length);

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

test('a group spreads past GROUP_BESIDE members beside its peer: every further one to the other worker holding the fewest', () => {
  const pid = formatPid(HOST, 7);
  const m = (a: number, b: number) => ({ members: { 7: { 2: a, 1: b } } });
  assert.equal(peerWorker([pid], HOST, [1, 2], view({ 7: 2 }, m(GROUP_BESIDE - 1, 0))), 2, 'under the size: beside');
  assert.equal(peerWorker([pid], HOST, [1, 2], view({ 7: 2 }, m(GROUP_BESIDE, 0))), 1, 'at the size: the other worker');
  assert.equal(peerWorker([pid], HOST, [1, 2], view({ 7: 2 }, m(GROUP_BESIDE, GROUP_BESIDE))), 1, 'as many away as beside: still away');
  assert.equal(peerWorker([pid], HOST, [1, 2], view({ 7: 2 }, m(GROUP_BESIDE, 500))), 1, 'however many away');
  assert.equal(peerWorker([pid], HOST, [1, 2], view({ 7: 2 }, { members: { 8: { 2: 99 } } })), 2, 'another peer\'s group does not count');
  const three = { members: { 7: { 2: 20, 1: 5, 3: 4 } } };
  assert.equal(peerWorker([pid], HOST, [1, 2, 3], view({ 7: 2 }, three)), 3, 'the fewest of three');
  assert.equal(peerWorker([pid], HOST, [1, 2, 3], view({ 7: 2 }, { ...three, waiting: { 3: 1024 } })), 1, 'a saturated sibling is skipped');
  assert.equal(peerWorker([pid], HOST, [1, 2, 3], view({ 7: 2 }, { ...three, down: [3] })), 1, 'a dead sibling is skipped');
  assert.equal(peerWorker([pid], HOST, [1, 2], view({ 7: 2 }, { members: { 7: { 2: 20 } }, down: [1] })), 2, 'no sibling left: beside');
  assert.equal(peerWorker([pid], HOST, [1, 2], view({ 7: 2 }, { members: { 7: { 2: 20 } }, waiting: { 2: 1024 } })), -1, 'its own worker saturated: round-robin');
});

test('a group spreads only while SPREAD_CORES cores are free of other processes (or that is not measured)', () => {
  const pid = formatPid(HOST, 7);
  const past = (free: number) => view({ 7: 2 }, { members: { 7: { 2: GROUP_BESIDE } }, free });
  assert.equal(SPREAD_CORES, 2);
  assert.equal(peerWorker([pid], HOST, [1, 2], past(0)), 2, 'no free core: beside');
  assert.equal(peerWorker([pid], HOST, [1, 2], past(1)), 2, 'one free core: beside');
  assert.equal(peerWorker([pid], HOST, [1, 2], past(2)), 1, 'two: spread');
  assert.equal(peerWorker([pid], HOST, [1, 2], past(-1)), 1, 'not measured: spread');
  const under = view({ 7: 2 }, { members: { 7: { 2: GROUP_BESIDE - 1 } }, free: 8 });
  assert.equal(peerWorker([pid], HOST, [1, 2], under), 2, 'under the group size the free cores do not matter');
});

test('placements, spawn by spawn: fan-in of 100 splits 16/84; a group of GROUP_BESIDE, pairs and a chain stay whole', () => {
  const tids = [1, 2];
  // the receiver (uniq 7) on worker 2; 100 senders name it
  let owners: Record<number, number> = { 7: 2 };
  let live = new Set([7]);
  let groups = new PeerGroups((u) => live.has(u));
  const fanIn = spawnAll(() => [formatPid(HOST, 7), 1000], 100, tids, owners, live, groups);
  assert.deepEqual(where(fanIn, owners, tids), [100 - GROUP_BESIDE, GROUP_BESIDE]);
  assert.deepEqual(fanIn.slice(0, GROUP_BESIDE).map((u) => owners[u]), Array(GROUP_BESIDE).fill(2), 'the first GROUP_BESIDE beside');
  assert.deepEqual(fanIn.slice(GROUP_BESIDE).map((u) => owners[u]), Array(100 - GROUP_BESIDE).fill(1), 'then all on the other worker');
  // 1,000 (the full counts)
  owners = { 7: 2 }; live = new Set([7]); groups = new PeerGroups((u) => live.has(u));
  assert.deepEqual(where(spawnAll(() => [formatPid(HOST, 7)], 1000, tids, owners, live, groups), owners, tids), [1000 - GROUP_BESIDE, GROUP_BESIDE]);
  // on 4 workers: 16 beside, the rest shared by the other three, the fewest first
  owners = { 7: 2 }; live = new Set([7]); groups = new PeerGroups((u) => live.has(u));
  assert.deepEqual(where(spawnAll(() => [formatPid(HOST, 7)], 100, [1, 2, 3, 4], owners, live, groups), owners, [1, 2, 3, 4]), [28, 16, 28, 28]);
  // a coordinator with GROUP_BESIDE workers: all beside it
  owners = { 7: 1 }; live = new Set([7]); groups = new PeerGroups((u) => live.has(u));
  assert.deepEqual(where(spawnAll(() => [formatPid(HOST, 7)], GROUP_BESIDE, tids, owners, live, groups), owners, tids), [GROUP_BESIDE, 0]);
  // ping-pong pairs: a pinger (no peer: round-robin), its ponger naming it; 8 pairs
  owners = {}; live = new Set(); groups = new PeerGroups((u) => live.has(u));
  const pairs = spawnAll((i, made) => (i % 2 ? [formatPid(HOST, made[i - 1]!)] : []), 16, tids, owners, live, groups);
  for (let i = 0; i < 16; i += 2) assert.equal(owners[pairs[i + 1]!], owners[pairs[i]!], `pair ${i / 2} together`);
  assert.deepEqual(where(pairs, owners, tids), [8, 8], 'the pairs round-robin');
  // a ring of 1,000 built from JS, each node naming the one before it: one worker
  owners = { 7: 2 }; live = new Set([7]); groups = new PeerGroups((u) => live.has(u));
  const ring = spawnAll((i, made) => [formatPid(HOST, i === 0 ? 7 : made[i - 1]!)], 999, tids, owners, live, groups);
  assert.deepEqual(where(ring, owners, tids), [0, 999]);
});

test('a group counts its live members: watched ones until their EXIT, unwatched ones until the list has doubled; a dead peer\'s group goes at the sweep', () => {
  const tids = [1, 2];
  const owners: Record<number, number> = { 7: 2 };
  const live = new Set([7]);
  const groups = new PeerGroups((u) => live.has(u));
  const v = view(owners, { members: {} });
  const members = { ...v, alive: (u: number) => live.has(u), members: (p: number, t: number) => groups.members(p, t) };
  // a coordinator whose watched workers come and go, GROUP_BESIDE at a time, 10 times over: each
  // wave exits (left) before the next is spawned, so every wave goes beside it
  for (let wave = 0; wave < 10; wave++) {
    const made: number[] = [];
    for (let i = 0; i < GROUP_BESIDE; i++) {
      const t = placeNear(7, tids, members);
      groups.join(7, t);
      made.push(t);
    }
    assert.deepEqual(made, Array(GROUP_BESIDE).fill(2), `wave ${wave}: all beside its coordinator`);
    assert.equal(groups.members(7, 2), GROUP_BESIDE);
    for (const t of made) groups.left(7, t);
    assert.equal(groups.members(7, 2), 0);
  }
  // unwatched members: still counted after they exit, until the list reaches twice the live count
  const first = spawnAll(() => [formatPid(HOST, 7)], 8, tids, owners, live, groups);
  for (const u of first) live.delete(u);
  assert.equal(groups.members(7, 2), 8, 'not counted again yet');
  spawnAll(() => [formatPid(HOST, 7)], 8, tids, owners, live, groups);
  assert.equal(groups.members(7, 2), 8, 'at 16 listed, counted again: the 8 exited dropped');
  // past the dead peer: its group is dropped at the next sweep (the table doubled)
  live.delete(7);
  for (let p = 100; p < 300; p++) { owners[p] = 1; live.add(p); live.add(5000 + p); groups.add(p, 1, 5000 + p); }
  assert.equal(groups.members(7, 2), 0, 'the dead coordinator\'s group is gone');
  assert.ok(groups.size <= 200, `live groups only (${groups.size})`);
  assert.equal(groups.members(150, 1), 1);
});

test('groups spread on every Node unless WIPPY_SPREAD_GROUPS=0', () => {
  assert.equal(groupBeside({}), GROUP_BESIDE);
  assert.equal(groupBeside({ WIPPY_SPREAD_GROUPS: '1' }), GROUP_BESIDE);
  assert.equal(groupBeside({ WIPPY_SPREAD_GROUPS: '' }), GROUP_BESIDE);
  assert.equal(groupBeside({ WIPPY_SPREAD_GROUPS: '0' }), Infinity);
  assert.throws(() => groupBeside({ WIPPY_SPREAD_GROUPS: 'yes' }), /WIPPY_SPREAD_GROUPS must be 1 or 0, got "yes"/);
  // a group that never spreads: every member beside its peer however many there are
  const t = placeNear(7, [1, 2], view({ 7: 1 }, { members: { 7: { 1: 500, 2: 0 } }, group: Infinity, free: 2 }));
  assert.equal(t, 1);
});
