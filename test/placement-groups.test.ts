// Placement keeps talkers together (src/host/placement.ts): processes spawned by one process stay on
// its worker unless that worker is saturated, so their messages never cross threads. Checked with
// counts, not clocks: processes per worker from Runtime.stats(), and the frames each worker posted
// to each other worker (`sent`, counted by the endpoint), which must not grow while a group that
// stayed together works. A burst past the backlog mark still spreads (the stuck rule is covered by
// test/stealing.test.ts, where a coordinator computes while its children wait), unless the
// sibling is no lighter (the offer rule); processes spawned from JS with a peer's PID go to its
// worker (the peer rule, src/runtime/spawn-place.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRuntime, type Runtime, type WorkerStats, type ExitInfo } from '../src/index.js';
import { GROUP_BESIDE } from '../src/runtime/spawn-place.js';

/** A node of a ring: passes the token on, the last hop goes back to the driver. */
const NODE = `return { main = function(nxt, driver)
  local tok = process.listen("t")
  local n = 0
  while true do
    local h = tok:receive()
    if h < 0 then process.send(nxt, "t", h); return n end
    n = n + 1
    if h == 1 then process.send(driver, "t", 0) else process.send(nxt, "t", h - 1) end
  end
end }`;

/** Spawns a ring of `size` (counting itself), waits for "go", sends `hops` hops round, returns them. */
const DRIVER = `return { main = function(name, size, hops)
  local tok, go = process.listen("t"), process.listen("go")
  local me = process.pid()
  local nxt = me
  for _ = size - 1, 1, -1 do nxt = assert(process.spawn_linked("g:node", "g:p", nxt, me)) end
  assert(process.registry.register(name))
  go:receive()
  local count = 0
  process.send(nxt, "t", hops)
  while true do
    local h = tok:receive()
    if h == 0 then break end
    count = count + 1
    if h == 1 then break end
    process.send(nxt, "t", h - 1)
  end
  process.send(nxt, "t", -1)
  return hops
end }`;

const IDLE = 'return { main = function() process.inbox():receive() end }';
const BURST = `return { main = function(name, n)
  local go = process.listen("go")
  assert(process.registry.register(name))
  go:receive()
  for i = 1, n do assert(process.spawn("g:idle", "g:p")) end
  return n
end }`;

async function runtime(host: Record<string, unknown> = {}): Promise<Runtime> {
  return createRuntime({ entries: [
    { id: 'g:p', kind: 'process.host', host: { workers: 2, ...host } },
    { id: 'g:node', kind: 'process.lua', method: 'main', source: NODE },
    { id: 'g:driver', kind: 'process.lua', method: 'main', source: DRIVER },
    { id: 'g:idle', kind: 'process.lua', method: 'main', source: IDLE },
    { id: 'g:burst', kind: 'process.lua', method: 'main', source: BURST },
  ] });
}

/** Frames posted from one worker to another, summed over the workers (main thread and self excluded). */
function crossFrames(st: WorkerStats[]): number {
  const workers = new Set(st.map((w) => w.tid));
  let n = 0;
  for (const w of st) for (const [to, k] of Object.entries(w.sent)) if (Number(to) !== w.tid && workers.has(Number(to))) n += k;
  return n;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(rt: Runtime, cond: (st: WorkerStats[]) => boolean, what: string): Promise<WorkerStats[]> {
  for (let i = 0; i < 2000; i++) {
    const st = await rt.stats();
    if (cond(st)) return st;
    await sleep(5);
  }
  throw new Error(`timed out waiting for ${what}: ${JSON.stringify((await rt.stats()).map((w) => w.processes))}`);
}

/**
 * rt.spawn (it places drivers round-robin, one per worker); `exit` resolves to the process's
 * return value (wrapped: an async function returning a promise would wait for it).
 */
async function start(rt: Runtime, entry: string, args: unknown[]): Promise<{ pid: string; exit: Promise<unknown> }> {
  let done!: (e: ExitInfo) => void;
  const exit = new Promise<ExitInfo>((r) => { done = r; });
  const pid = await rt.spawn(entry, 'g:p', args, done);
  return { pid, exit: exit.then((e) => { if (e.error) throw new Error(e.error.message); return e.value; }) };
}

test('a ring of 1,000 spawned by one process on an idle 2-worker host stays on its worker: no frame crosses', async () => {
  const rt = await runtime();
  try {
    const before = crossFrames(await rt.stats());
    const { exit: result } = await start(rt, 'g:driver', ['ring.ready', 1000, 20_000]);
    const st = await until(rt, (s) => rt.lookup('ring.ready') !== undefined && s.reduce((a, w) => a + w.processes, 0) === 1000, 'the ring');
    assert.deepEqual(st.map((w) => w.processes).sort((a, b) => a - b), [0, 1000], 'all 1,000 on one worker');
    assert.equal(st.reduce((a, w) => a + w.queue.stolen, 0), 0, 'nothing was stolen');
    rt.send('ring.ready', 'go');
    assert.equal(await result, 20_000);
    const after = await until(rt, (s) => s.every((w) => w.processes === 0), 'the ring to exit');
    assert.equal(crossFrames(after) - before, 0, 'no frame went from one worker to the other');
  } finally {
    await rt.stop(1000);
  }
});

test('two drivers on two workers each keep their own children', async () => {
  const rt = await runtime();
  try {
    const before = crossFrames(await rt.stats());
    const results = [(await start(rt, 'g:driver', ['ring.a', 500, 5_000])).exit, (await start(rt, 'g:driver', ['ring.b', 500, 5_000])).exit];
    const st = await until(rt, (s) => rt.lookup('ring.a') !== undefined && rt.lookup('ring.b') !== undefined &&
      s.reduce((a, w) => a + w.processes, 0) === 1000, 'both rings');
    assert.deepEqual(st.map((w) => w.processes), [500, 500], 'each worker holds one driver and its 499 children');
    rt.send('ring.a', 'go');
    rt.send('ring.b', 'go');
    assert.deepEqual(await Promise.all(results), [5_000, 5_000]);
    const after = await until(rt, (s) => s.every((w) => w.processes === 0), 'the rings to exit');
    assert.equal(crossFrames(after) - before, 0, 'no frame went from one worker to the other');
    assert.equal(after.reduce((a, w) => a + w.queue.stolen + w.queue.global, 0), 0, 'each worker started its own queued spawns');
  } finally {
    await rt.stop(1000);
  }
});

/** One process spawns `n` idle processes on a fresh 2-worker host; the stats once all have started. */
async function burst(n: number, host: Record<string, unknown>): Promise<WorkerStats[]> {
  const rt = await runtime(host);
  try {
    const { exit } = await start(rt, 'g:burst', ['burst.ready', n]);
    await until(rt, () => rt.lookup('burst.ready') !== undefined, 'the burst process');
    rt.send('burst.ready', 'go');
    assert.equal(await exit, n);
    return await until(rt, (s) => s.reduce((a, w) => a + w.processes, 0) === n, 'every spawn to start');
  } finally {
    await rt.stop(2000);
  }
}

test('a burst past the backlog mark (local_queue_size) is shared with the idle worker; one under it is not', async () => {
  // local_queue_size 64: the mark is 64 queued spawns, so 1,000 spawns from one process pass it
  const past = await burst(1000, { local_queue_size: 64 });
  for (const w of past) assert.ok(w.processes > 0, `spread over both workers: ${past.map((x) => x.processes)}`);
  assert.ok(past.reduce((a, w) => a + w.queue.stolen + w.queue.global, 0) > 0, 'the idle worker took queued spawns');
  const under = await burst(1000, {});
  assert.deepEqual(under.map((w) => w.processes).sort((a, b) => a - b), [0, 1000], 'all on the spawner\'s worker');
});

/** Fan-in: sends `m` messages to `recv` once "go" comes, then returns m. */
const SENDER = `return { main = function(recv, m)
  process.listen("go"):receive()
  for i = 1, m do process.send(recv, "m", i) end
  return m
end }`;
/** Counts `want` messages after getting the senders' PIDs, sends them "go" first; returns the sum. */
const RECEIVER = `return { main = function(want)
  local pids = process.listen("pids"):receive()
  local ch = process.listen("m")
  for i = 1, #pids do process.send(pids[i], "go") end
  local sum = 0
  for _ = 1, want do sum = sum + ch:receive() end
  return sum
end }`;

test('the peer rule: senders spawned from JS with the receiver\'s PID go to its worker, and their messages never cross', async () => {
  const rt = await createRuntime({ entries: [
    { id: 'g:p', kind: 'process.host', host: { workers: 2 } },
    { id: 'g:sender', kind: 'process.lua', method: 'main', source: SENDER },
    { id: 'g:receiver', kind: 'process.lua', method: 'main', source: RECEIVER },
    { id: 'g:idle', kind: 'process.lua', method: 'main', source: IDLE },
  ] });
  try {
    const S = GROUP_BESIDE, M = 500; // a group that size stays whole (past it, the next test)
    const before = crossFrames(await rt.stats());
    const recv = await start(rt, 'g:receiver', [S * M]);
    const senders: Array<{ pid: string; exit: Promise<unknown> }> = [];
    for (let i = 0; i < S; i++) senders.push(await start(rt, 'g:sender', [recv.pid, M]));
    // Idle processes spawned without a PID: round-robin, one per worker in turn.
    for (let i = 0; i < 4; i++) await rt.spawn('g:idle', 'g:p', ['no peer', i]);
    const st = await until(rt, (s) => s.reduce((a, w) => a + w.processes, 0) === S + 5, 'the senders and idle processes');
    assert.deepEqual(st.map((w) => w.processes).sort((a, b) => a - b), [2, 1 + S + 2],
      'the receiver, every sender and half the idle ones on one worker; the other half on the other');
    rt.send(recv.pid, 'pids', senders.map((x) => x.pid));
    assert.equal(await recv.exit, S * (M * (M + 1)) / 2);
    assert.deepEqual(await Promise.all(senders.map((x) => x.exit)), senders.map(() => M));
    assert.equal(crossFrames(await rt.stats()) - before, 0, 'no frame went from one worker to the other');
  } finally {
    await rt.stop(1000);
  }
});

test('the peer rule spreads a fan-in past GROUP_BESIDE senders: GROUP_BESIDE beside, the rest on the other worker, every message counted once', async () => {
  // The rule spreads only while two cores are free of other processes' work, or when that is not
  // measured (WIPPY_FREE_CORES=0): not measured here, so the placement does not depend on the load.
  // WIPPY_SPREAD_GROUPS=1: spreading on whatever the environment says.
  const saved = process.env['WIPPY_FREE_CORES'];
  const savedSpread = process.env['WIPPY_SPREAD_GROUPS'];
  process.env['WIPPY_FREE_CORES'] = '0';
  process.env['WIPPY_SPREAD_GROUPS'] = '1';
  let rt: Runtime;
  try {
    rt = await createRuntime({ entries: [
      { id: 'g:p', kind: 'process.host', host: { workers: 2 } },
      { id: 'g:sender', kind: 'process.lua', method: 'main', source: SENDER },
      { id: 'g:receiver', kind: 'process.lua', method: 'main', source: RECEIVER },
    ] });
  } finally {
    if (saved === undefined) delete process.env['WIPPY_FREE_CORES']; else process.env['WIPPY_FREE_CORES'] = saved;
    if (savedSpread === undefined) delete process.env['WIPPY_SPREAD_GROUPS']; else process.env['WIPPY_SPREAD_GROUPS'] = savedSpread;
  }
  try {
    const S = 2 * GROUP_BESIDE + 8, M = 300;
    const before = crossFrames(await rt.stats());
    const recv = await start(rt, 'g:receiver', [S * M]);
    // all at once (the bench's Promise.all): each placement sees the ones before it
    const senders = await Promise.all(Array.from({ length: S }, () => start(rt, 'g:sender', [recv.pid, M])));
    const st = await until(rt, (s) => s.reduce((a, w) => a + w.processes, 0) === S + 1, 'the senders');
    const home = rt.where(recv.pid).runs;
    // S = 40: 16 beside, the other 24 on the other worker
    const beside = GROUP_BESIDE;
    assert.deepEqual(st.map((w) => [w.tid === home, w.processes]).sort(),
      [[false, S - beside], [true, 1 + beside]], 'GROUP_BESIDE beside the receiver, the rest on the other worker');
    const mine = senders.filter((x) => rt.where(x.pid).runs === home).length;
    assert.equal(mine, beside);
    rt.send(recv.pid, 'pids', senders.map((x) => x.pid));
    assert.equal(await recv.exit, S * (M * (M + 1)) / 2);
    assert.deepEqual(await Promise.all(senders.map((x) => x.exit)), senders.map(() => M));
    assert.ok(crossFrames(await rt.stats()) - before > 0, 'the other worker\'s senders\' messages crossed');
  } finally {
    await rt.stop(1000);
  }
});

test('the offer rule: a burst past the mark beside a heavier sibling stays a Lua list (nothing published, nothing crosses)', async () => {
  // local_queue_size 64: the mark is 64. Worker Y holds 401 processes (spawned from JS beside an
  // anchor there: the peer rule; each names the one before it, a chain of groups of one, which
  // the rule never spreads), so worker X's burst of 300 never makes Y lighter than X.
  const rt = await runtime({ local_queue_size: 64 });
  try {
    const anchorX = await rt.spawn('g:idle', 'g:p', []);
    const anchorY = await rt.spawn('g:idle', 'g:p', []);
    for (let i = 0, prev = anchorY; i < 400; i++) prev = await rt.spawn('g:idle', 'g:p', [prev]);
    let st = await until(rt, (s) => s.reduce((a, w) => a + w.processes, 0) === 402, 'the anchors and Y\'s processes');
    assert.deepEqual(st.map((w) => w.processes).sort((a, b) => a - b), [1, 401]);
    const x = st.find((w) => w.processes === 1)!.tid;
    const before = crossFrames(st);
    const { exit } = await start(rt, 'g:burst', ['burst.ready', 300, anchorX]);
    await until(rt, () => rt.lookup('burst.ready') !== undefined, 'the burst process');
    rt.send('burst.ready', 'go');
    assert.equal(await exit, 300);
    st = await until(rt, (s) => s.reduce((a, w) => a + w.processes, 0) === 702, 'every spawn to start');
    const wx = st.find((w) => w.tid === x)!;
    assert.equal(wx.processes, 301, 'anchor X and the 300 children (the burst process exited)');
    assert.equal(wx.queue.kept, 300, 'every spawn stayed in the Lua list: none encoded into a slot');
    assert.equal(st.reduce((a, w) => a + w.queue.stolen + w.queue.global + w.queue.shared, 0), 0, 'nothing moved');
    assert.equal(crossFrames(st) - before, 0, 'no frame went from one worker to the other');
  } finally {
    await rt.stop(2000);
  }
});
