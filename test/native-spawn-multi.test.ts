// A spawn on a host of two workers in C (native/lua/lqspawn.c: the spawn queued in the worker's
// Lua-side list as a flat record, and started at its START slot; lspawn.c's spawner, ljob.c's slot)
// against the Lua it stands for (spawn.lua's queue_local, take_task, start_task, start_here;
// taskq.lua's push and take), which wasmoon's module and WIPPY_CSCHED=0 run. Both runtimes run the
// same seeded work and must give the same transcript:
//   - the driver of test/native-spawn.test.ts (spawns of every variant and outcome, sends, kills,
//     yields, receives) on a two-worker host with the budget hook, so that every spawn of an entry
//     that instantiated once is queued in the Lua-side list (taskq.lua) and starts at its turn;
//   - sharing: a driver queues children, then computes past the sharing mark without yielding, so
//     its worker hands every other queued spawn to the sibling (taskq.lua share: the flat records
//     leave as W.task descriptors), then releases each child with a message (reaching the moved
//     ones through their home) and collects their EXITs;
//   - the backlog rule: a burst past a small backlog mark, published to the shared run queues
//     while the sibling is idle (taskq.lua publish), where either worker may take them.
// On two workers the order of a driver's events is not the C's or the Lua's to keep: a worker's run
// loop also starts the list's oldest spawn every TAKE_EVERY-th resume of a step (sched.lua), ahead
// of its START slot, and a step's length is its wall clock (STEP_MS), so which child ends first
// varies from run to run on either path (two runs of the Lua alone differ). So the driver's
// transcript is compared as its actions in order (every spawn's result, send, terminate, with PIDs
// numbered by spawn) and its events as a sorted list; the sharing and backlog drivers report their
// children's results by index.
import { test, after } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import assert from 'node:assert/strict';
import { createRuntime, type Runtime } from '../src/index.js';
import { CHILDREN, SHOWN, child, sorted, transcript } from './helpers/spawn-driver.js';

// a budget (the hook on: queued spawns stay in the Lua-side list below the backlog mark)
const HOOKED = { workers: 2, crash_reports: false, max_reductions: 50_000_000 };
const ENTRIES: Array<Record<string, unknown>> = [
  { id: 'ns:m2', kind: 'process.host', host: HOOKED },
  { id: 'ns:q2', kind: 'process.host', host: { ...HOOKED, local_queue_size: 32 } },
  ...CHILDREN,
  // returns its arguments and the message that released it
  child('ns:held', `return { main = function(...)
    local parts = { tostring(select("#", ...)) }
    for i = 1, select("#", ...) do local v = select(i, ...); parts[#parts + 1] = type(v) == "table" and ("t" .. tostring(v.k)) or tostring(v) end
    local m = process.inbox():receive()
    return table.concat(parts, ":") .. "/" .. tostring(m:payload():data())
  end }`),
  child('ns:quick', `return { main = function(i, t) return i * 2 + (t and t.k or 0) end }`),
  // queues k children (after one that instantiates the entry here), computes `loops` iterations
  // without yielding, releases each child, collects the EXITs: -> the results by child index
  child('ns:sharer', String.raw`return { main = function(seed, k, loops, host)
    local ev = process.events()
    local s = seed
    local function rnd(n) s = (s * 1103515245 + 12345) % 2147483648; return (s >> 16) % n + 1 end
    local first = process.spawn_monitored("ns:held", host)
    process.send(first, "go", "first")
    local out = { "first " .. tostring(ev:receive().result.value) }
    local kids, idx = {}, {}
    for i = 1, k do
      local n = rnd(3) - 1
      local a1, a2 = i, (rnd(2) == 1) and { k = i } or ("s" .. i)
      local pid = assert(process.spawn_monitored("ns:held", host, table.unpack({ a1, a2 }, 1, n)))
      kids[i], idx[pid] = pid, i
    end
    local x = 0
    for i = 1, loops do x = x + i % 3 end
    for i = 1, k do process.send(kids[i], "go", "m" .. i) end
    local got = {}
    for _ = 1, k do
      local e = ev:receive()
      got[idx[e.from]] = tostring(e.result.value or ("error " .. tostring(e.result.error)))
    end
    for i = 1, k do out[#out + 1] = i .. " " .. got[i] end
    return table.concat(out, "\n")
  end }`),
  // blocks until released, after telling its parent it runs
  child('ns:up', `return { main = function(parent) process.send(parent, "up", 1); process.inbox():receive() end }`),
  // spawns k children one at a time (each runs before the next is spawned: its list never reaches
  // the mark, so they all run on its worker), then waits for "release": releases them and collects
  // their EXITs (-> how many); its worker stays heavier than the sibling meanwhile
  child('ns:filler', String.raw`return { main = function(k, host)
    local ev, up = process.events(), process.listen("up")
    local kids = {}
    for i = 1, k do kids[i] = assert(process.spawn_monitored("ns:up", host, process.pid())); up:receive() end
    process.registry.register("ns.filled")
    process.inbox():receive()
    for i = 1, k do process.send(kids[i], "go", "f") end
    local n = 0
    for _ = 1, k do if ev:receive().kind == "pid.exit" then n = n + 1 end end
    return n
  end }`),
  // function entries (jobs from JS): several results, an error, an error value in second place
  { id: 'ns:fmulti', kind: 'function.lua', method: 'main', source: 'return { main = function(a, b) return a, b, "third" end }' },
  { id: 'ns:ferr', kind: 'function.lua', method: 'main', source: 'return { main = function(a) error("ferr " .. tostring(a)) end }' },
  { id: 'ns:fnil', kind: 'function.lua', method: 'main', source: 'return { main = function() return nil, "fnil: failed" end }' },
  { id: 'ns:fnone', kind: 'function.lua', method: 'main', source: 'return { other = function() end }' },
  // a burst of n children that return at once: -> their EXITs' values by index
  child('ns:burst', String.raw`return { main = function(n, host)
    local ev = process.events()
    assert(process.spawn_monitored("ns:quick", host, 0))
    ev:receive()
    local idx = {}
    for i = 1, n do idx[assert(process.spawn_monitored("ns:quick", host, i, (i % 3 == 0) and { k = i } or nil))] = i end
    local got = {}
    for _ = 1, n do local e = ev:receive(); got[idx[e.from]] = e.result.value end
    local out = {}
    for i = 1, n do out[i] = tostring(got[i]) end
    return table.concat(out, ",")
  end }`),
];

after(() => { delete process.env.WIPPY_CSCHED; });

/** A transcript's actions in order, then its events sorted (see the top) */
const settled = (t: string): string => {
  const lines = t.split('\n');
  const ev = lines.filter((x) => x.startsWith('ev ')).sort();
  return [...lines.filter((x) => !x.startsWith('ev ')), '--', ...ev].join('\n');
};

/** fn on a runtime of two workers (the Lua paths alone with `lua`); -> its result and the workers' stats */
async function on<T>(lua: boolean, fn: (rt: Runtime) => Promise<T>): Promise<{ out: T; stats: Awaited<ReturnType<Runtime['stats']>> }> {
  const prev = process.env.WIPPY_CSCHED;
  if (lua) process.env.WIPPY_CSCHED = '0';
  let rt: Runtime | undefined;
  try {
    rt = await createRuntime({ workers: 2, entries: ENTRIES });
    const out = await fn(rt);
    return { out, stats: await rt.stats() };
  } finally {
    if (prev === undefined) delete process.env.WIPPY_CSCHED; else process.env.WIPPY_CSCHED = prev;
    await rt?.stop(1000);
  }
}

for (const seed of [11, 2024, 777]) {
  test(`two workers: seeded spawns, exits, monitors, links and kills (seed ${seed}): the C and the Lua give the same transcript`, async () => {
    const c = settled(await transcript(ENTRIES, 2, false, seed, 200, 'ns:m2'));
    const l = settled(await transcript(ENTRIES, 2, true, seed, 200, 'ns:m2'));
    // (a child whose module yields at its top level fails once queued: it starts in the step's loop)
    const shown = [...SHOWN.filter((w) => w !== 'after yield'), "top-level code yielded", 'terminate #'];
    for (const want of shown) assert.ok(c.includes(want), `the transcript shows "${want}"\n${c}`);
    assert.ok(c.split('\n').length > 120, 'a transcript of real work');
    assert.equal(c, l);
  });
}

for (const [seed, k] of [[5, 24], [31337, 40]] as const) {
  test(`two workers: queued spawns shared with the sibling while their spawner computes (seed ${seed}, ${k} children): the same results`, async () => {
    const run = (lua: boolean) => on(lua, (rt) => rt.exec('ns:sharer', [seed, k, 400_000, 'ns:m2'], { host: 'ns:m2' }) as Promise<string>);
    const c = await run(false);
    const l = await run(true);
    const lines = c.out.split('\n');
    assert.equal(lines[0], 'first 0/first');
    assert.equal(lines.length, k + 1, 'every child exited');
    for (let i = 1; i <= k; i++) assert.match(lines[i]!, new RegExp(`^${i} [0-2][^ ]*/m${i}$`), 'a child returned its arguments and its message');
    assert.equal(c.out, l.out);
    const shared = (s: typeof c.stats) => s.reduce((a, w) => a + w.queue.shared, 0);
    assert.ok(shared(c.stats) > 0, `queued spawns were shared: ${JSON.stringify(c.stats.map((w) => w.queue))}`);
    assert.equal(shared(c.stats), shared(l.stats), 'as many shared by the C as by the Lua');
    // the sibling (a worker of the host that shared nothing) started exactly the shared ones
    for (const st of [c.stats, l.stats]) {
      assert.ok(st.some((w) => w.queue.shared === 0 && w.started === shared(st)),
        `the sibling started the shared ones: ${JSON.stringify(st.map((w) => [w.started, w.queue]))}`);
    }
  });
}

test('two workers: jobs from JS (queued in the list as "spj" frames, started at their START slot) give the same results', async () => {
  const IDS = ['ns:ret', 'ns:tbl', 'ns:fmulti', 'ns:ferr', 'ns:fnil', 'ns:fnone', 'ns:err', 'ns:two', 'ns:nil', 'ns:toperr', 'ns:nomethod'];
  const run = (lua: boolean) => on(lua, async (rt) => {
    let s = 4711;
    const rnd = (n: number) => { s = (s * 1103515245 + 12345) % 2147483648; return (s >> 16) % n; };
    // 200 jobs, 40 in flight at a time, each with 0-3 arguments
    const out: string[] = [];
    for (let round = 0; round < 5; round++) {
      const jobs = Array.from({ length: 40 }, (_, i) => {
        const id = IDS[rnd(IDS.length)]!;
        const args = Array.from({ length: rnd(4) }, (_, j) => (j === 1 && rnd(2) ? { k: i } : i * 10 + j));
        return rt.exec(id, args, { host: 'ns:m2' }).then((v) => `${id} ${args.length} -> ${sorted(v)}`,
          (e: Error) => `${id} ${args.length} -> error ${e.message}`);
      });
      out.push(...(await Promise.all(jobs)));
    }
    return out.join('\n');
  });
  const c = await run(false);
  const l = await run(true);
  for (const want of ['ns:fmulti 2 -> ', 'ns:ferr:1: ferr', 'fnil: failed', 'not found in module', 'top-level failure', 'ns:tbl 3 -> {']) {
    assert.ok(c.out.includes(want), `the results show "${want}"\n${c.out}`);
  }
  assert.equal(c.out, l.out);
  assert.ok(c.stats.reduce((a, w) => a + w.queue.kept, 0) === 0, 'jobs are not spawns of a worker');
});

test('two workers: a burst past the backlog mark is published to the shared queues and every spawn starts', async () => {
  const n = 400;
  const run = (lua: boolean) => on(lua, (rt) => rt.exec('ns:burst', [n, 'ns:q2'], { host: 'ns:q2' }) as Promise<string>);
  const c = await run(false);
  const l = await run(true);
  const want = Array.from({ length: n }, (_, j) => String((j + 1) * 2 + ((j + 1) % 3 === 0 ? j + 1 : 0))).join(',');
  assert.equal(c.out, want);
  assert.equal(l.out, want);
  for (const st of [c.stats, l.stats]) {
    const published = st.reduce((a, w) => a + w.queue.pushed - w.queue.kept, 0);
    assert.ok(published > 0, `spawns left the list for the shared queues: ${JSON.stringify(st.map((w) => w.queue))}`);
  }
});

// Session 11, second wave: a list past the backlog mark while no sibling is lighter (two workers
// each bursting, `hold`) queues its spawns in C (lqspawn.c: room()'s inline case `len < offer_at`)
// and starts them in C (ljob.c's slot: take's offer_at step). First a burst of n0 beside an idle
// sibling is published when its list reaches the mark (exactly the mark's 32: one look, the
// sibling lighter by the whole list; the rest stays). Then a filler makes one worker heavier
// than the other by 300 blocked processes; a burst of n1 on the other worker then keeps its list
// past the small mark (nothing published: the offer rule finds nobody lighter); after the filler's
// children are gone a second burst of n2 is offered to the now lighter sibling (published) once
// its list is looked at again. Both give the bursts' exact results, on the C and on the Lua.
test('two workers: a list past the backlog mark with a heavier sibling is kept, and offered again once the sibling is lighter', async () => {
  const [n0, n1, n2] = [40, 150, 100];
  const want = (n: number) => Array.from({ length: n }, (_, j) => String((j + 1) * 2 + ((j + 1) % 3 === 0 ? j + 1 : 0))).join(',');
  const published = (st: Awaited<ReturnType<Runtime['stats']>>) => st.map((w) => w.queue.pushed - w.queue.kept);
  const run = (lua: boolean) => on(lua, async (rt) => {
    // a fresh list at the mark beside an idle sibling: published then, all 32 (the rest stays)
    const sa = await rt.stats({ counts: true });
    const b0 = await rt.exec('ns:burst', [n0, 'ns:q2'], { host: 'ns:q2' });
    const sb = await rt.stats({ counts: true });
    let fexit: unknown;
    const f = await rt.spawn('ns:filler', 'ns:q2', [300, 'ns:q2'], (e) => { fexit = e.value ?? `error ${e.error?.message}`; });
    while (rt.lookup('ns.filled') === undefined || !(await rt.stats({ counts: true })).some((w) => w.processes >= 301)) await sleep(5);
    const s0 = await rt.stats({ counts: true });
    const b1 = await rt.exec('ns:burst', [n1, 'ns:q2'], { host: 'ns:q2' });
    const s1 = await rt.stats({ counts: true });
    rt.send(f, 'release', 'now');
    while (fexit === undefined || (await rt.stats({ counts: true })).some((w) => w.processes > 0)) await sleep(5);
    const b2 = await rt.exec('ns:burst', [n2, 'ns:q2'], { host: 'ns:q2' });
    const s2 = await rt.stats({ counts: true });
    const d = (a: number[], b: number[]) => a.map((x, i) => x - b[i]!);
    return { b0, b1, b2, fexit, pub0: d(published(sb), published(sa)).reduce((a, x) => a + x, 0), pub1: d(published(s1), published(s0)), kept1: d(s1.map((w) => w.queue.kept), s0.map((w) => w.queue.kept)),
      pub2: d(published(s2), published(s1)) };
  });
  for (const lua of [false, true]) {
    const { out } = await run(lua);
    const side = lua ? 'the Lua' : 'the C';
    assert.equal(out.b0, want(n0), side);
    assert.equal(out.pub0, 32, `${side}: the list was published at the mark: ${JSON.stringify(out)}`);
    assert.equal(out.b1, want(n1), side);
    assert.equal(out.b2, want(n2), side);
    assert.equal(out.fexit, 300, side);
    assert.ok(out.pub1.every((x) => x === 0), `${side}: nothing left the first burst's list (its sibling was heavier): ${JSON.stringify(out)}`);
    assert.ok(Math.max(...out.kept1) >= n1, `${side}: the first burst stayed in its list past the mark: ${JSON.stringify(out)}`);
    assert.ok(out.pub2.reduce((a, x) => a + x, 0) > 0, `${side}: the second burst was offered to the lighter sibling: ${JSON.stringify(out)}`);
  }
});
