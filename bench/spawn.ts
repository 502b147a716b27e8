// Workloads 1 and 2: process lifecycle.
//
//   spawn-exit  a driver spawns N children with spawn_monitored; each returns its argument at once;
//               the driver receives N EXIT events and checks the sum of their values. At most
//               WINDOW children are alive at a time (a new spawn per EXIT received), so the heap
//               stays small and the figure is the steady lifecycle cost, not the GC of a huge heap.
//               After its untimed warm run each driver waits for the others: the timed runs start
//               at one instant (SPAWN_LEAD_MS), as hold's do.
//   hold        a holder spawns N children that block in `inbox:receive()`, then measures what they
//               cost while parked: Lua heap and process RSS per process, and the spawn rate up to
//               "all N blocked". Then it sends each a message and they all exit. Before the
//               baselines, an untimed warm-up: 5,000 such children per holder, each stopped at
//               once, at most HOLD_WINDOW alive. The holders start their timed spawns at one
//               instant (HOLD_LEAD_MS), not each on its own "go".
//
// On all workers, one driver runs per worker thread and spawns its share of N on its own host
// (on its own thread, unless the runtime places a spawn on a less loaded worker), so the figure is
// the aggregate.
import type { Runtime } from '../src/index.js';
import {
  type BenchContext, type Figure, type Workload, type Watched, MAIN_HOST, benchRuntime, luaEntry, withRuntime,
  runDrivers, spawnWatched, exitValue, waitFor, check, spanSeconds, shares, fmtInt, workersLabel,
  workerCounts, withTimeout, cpuSecondsSince,
} from './harness.js';
import { type ThreadStat, threadIds, threadStatsNamed, threadStatDelta } from './threadcpu.js';

/** Children alive at a time in spawn-exit. */
export const WINDOW = 1000;

// The child is its module and nothing else, as BEAM's `child() -> ok.`: no LUA_PRELUDE (whose
// `require("time")` and four closures a child never used were, until session 13, a fifth of the
// bytes and ~7% of the worker's CPU per spawn+exit: docs/design/native-core.md, "Session 13").
export const EXIT_CHILD = { id: 'bench:exit_child', kind: 'process.lua', method: 'main', source: `return { main = function(i) return i end }` };

/**
 * How far ahead of "start" the spawn-exit drivers' common start instant is (the Lua's `now_us`, as
 * HOLD_LEAD_MS). Each driver's timed run used to begin as its own warm run ended, and the figure's
 * span runs from the first driver's start to the last one's end: on 2 workers the drivers' warm
 * runs ended 5–24 ms apart on Node 20 (V8 still tiers the Lua module up meanwhile: its helper
 * threads take CPU from the two workers unevenly), against a ~27 ms timed run, so the span counted
 * one driver's warm-up tail as time in which only the other did timed work
 * (docs/design/scheduler.md, "Session 15: spawn+exit on two workers, Node 20").
 */
export const SPAWN_LEAD_MS = 5;

export const SPAWN_DRIVER = luaEntry('spawn_driver', `
local CHILD = "bench:exit_child"
-- sync: after the warm run, register ready .. ".warmed" and wait for "start" (an instant on the
-- workers' clock), so that every driver's timed run starts together (runDrivers' startTogether)
local function main(ready, n, host, window, warm, sync)
  local ev = process.events()
  ready_go(ready)
  -- n children, at most window alive, each EXIT awaited; -> EXITs received, their values' sum
  local function run(n)
    local spawned, got, sum = 0, 0, 0
    local first = window < n and window or n
    for i = 1, first do must(process.spawn_monitored(CHILD, host, i)) end
    spawned = first
    while got < n do
      local e = ev:receive()
      if e.kind ~= "pid.exit" then error("unexpected event " .. tostring(e.kind)) end
      if e.result.error ~= nil then error("child failed: " .. tostring(e.result.error)) end
      sum = sum + e.result.value
      got = got + 1
      if spawned < n then
        spawned = spawned + 1
        must(process.spawn_monitored(CHILD, host, spawned), nil, "spawn_monitored")
      end
    end
    return got, sum
  end
  -- untimed first (spawnWarm); bench/parallel.ts's drivers have none. Every EXIT of the warm
  -- run is received before the timed run starts.
  if (warm or 0) > 0 then
    local wgot, wsum = run(warm)
    if wgot ~= warm or wsum ~= warm * (warm + 1) // 2 then error("warm run: " .. wgot .. " EXITs, sum " .. wsum) end
  end
  local tw = now_us()
  if sync then
    local start = process.listen("start")
    must(process.registry.register(ready .. ".warmed"))
    local at = start:receive()
    while now_us() < at do for _ = 1, 1000 do end end
  end
  local t0 = now_us()
  local got, sum = run(n)
  return { tw = tw, t0 = t0, t1 = now_us(), n = got, sum = sum }
end
return { main = main }`);

/** hold's warm-up: children alive at a time (holdWarm). */
const HOLD_WINDOW = 200;

/**
 * How far ahead of "go" the holders' common start instant is (the Lua's `now_us`, a worker's
 * performance.timeOrigin + now(), as here). A parked worker wakes in well under a millisecond on a
 * quiet machine; a holder that still starts late starts at once, and its lateness stays in the span.
 */
const HOLD_LEAD_MS = 5;

export const HOLD_CHILD = luaEntry('hold_child', `
return { main = function()
  local m = process.inbox():receive()
  return m:topic()
end }`);

/**
 * Lua, shared with bench/hold-probe.ts: `timed_spawns(go, n, host, pids)` waits for the instant
 * "go" carries, then spawns n hold_children into pids; -> the clock before the first spawn and
 * after the last. The holders start together: a holder that started at once when its "go"
 * arrived reached the backlog mark while its sibling was still waking, found it idle and
 * published 1,024 spawns that nobody took (docs/design/scheduler.md, "Session 14: hold on two
 * workers"). A clock reading allocates a Time: one per ~1,000 empty iterations (a few µs) keeps
 * the wait's garbage to a few KB, which would otherwise bring the collector's next cycle closer.
 */
export const HOLD_TIMED_SPAWNS = `
local function timed_spawns(go, n, host, pids)
  local start = go:receive()
  while now_us() < start do for _ = 1, 1000 do end end
  local t0 = now_us()
  for i = 1, n do pids[i] = must(process.spawn("bench:hold_child", host), nil, "spawn") end
  return t0, now_us()
end
`;

const HOLDER = luaEntry('holder', `${HOLD_TIMED_SPAWNS}
local function main(n, host, idx, warm)
  local go, more, release = process.listen("go"), process.listen("more"), process.listen("release")
  local wgo = process.listen("warm")
  must(process.registry.register("bench.ready." .. idx))
  -- Untimed first (holdWarm): warm children spawned, each sent "stop" at once, at most
  -- HOLD_WINDOW alive, every EXIT received (few alive at a time: the memory figures' baselines
  -- come after this and stay about the first N).
  if (warm or 0) > 0 then
    wgo:receive()
    local ev = process.events()
    local alive, spawned, done = 0, 0, 0
    while done < warm do
      while alive < ${HOLD_WINDOW} and spawned < warm do
        local pid = must(process.spawn_monitored("bench:hold_child", host), nil, "spawn")
        must(process.send(pid, "stop"))
        spawned, alive = spawned + 1, alive + 1
      end
      local e = ev:receive()
      if e.kind == "pid.exit" then
        if e.result.error ~= nil then error("warm child failed: " .. tostring(e.result.error)) end
        alive, done = alive - 1, done + 1
      end
    end
    must(process.registry.register("bench.warmed." .. idx))
  end
  local pids = {}
  local t0, t1 = timed_spawns(go, n, host, pids)
  must(process.registry.register("bench.held." .. idx))
  more:receive()
  for i = n + 1, 2 * n do pids[i] = must(process.spawn("bench:hold_child", host), nil, "spawn") end
  must(process.registry.register("bench.more." .. idx))
  release:receive()
  for i = 1, 2 * n do must(process.send(pids[i], "stop")) end
  return { t0 = t0, t1 = t1, n = n }
end
return { main = main }`);

/**
 * Run-queue barrier: a process exec'd on a worker after its spawns were delivered runs after every
 * process queued before it (the run queue is FIFO), so its clock reading is "all earlier spawns
 * have run to their first block".
 */
export const STAMP = luaEntry('stamp', `return { main = function() return now_us() end }`);

/** Allocates short-lived tables: lets the incremental GC finish cycles (the sandbox has no collectgarbage). */
export const GARBAGE = luaEntry('garbage', `
return { main = function(n)
  local t
  for i = 1, n do t = { i, i, i } end
  return n
end }`);

async function spawnExit(ctx: BenchContext, workers: number): Promise<Figure[]> {
  const total = ctx.quick ? 20_000 : 100_000;
  const rt = await benchRuntime([EXIT_CHILD, SPAWN_DRIVER], { workers });
  return withRuntime(rt, async (): Promise<Figure[]> => {
    const per = shares(total, workers);
    ctx.note(`${fmtInt(total)} spawns`);
    // Untimed spawn+exits per driver first, for the reason ping-pong's warm-up gives (V8 tiers the
    // Lua module and the workers' JS up in a new runtime's first fraction of a second). 20,000:
    // with 5,000 the quick 1-worker row read 92–161k/s against 176–193k after 30,000 (session 10,
    // Node 24, load ~2, the spawn and exit now running through more of the module's C functions).
    const spawnWarm = 20_000;
    // (one driver has nobody to wait for: its timed run starts as its warm run ends, as before; the
    // wait of two — each spins up to SPAWN_LEAD_MS before its start — is in their CPU per op)
    const together = per.length > 1;
    const { results: res, placement, cpuSeconds, startAt } = await runDrivers(rt, 'bench:spawn_driver', MAIN_HOST,
      per.map((n) => [n, MAIN_HOST, WINDOW, spawnWarm, together]), ctx, together ? { startTogether: SPAWN_LEAD_MS } : {});
    check(placement.every((p) => p === 1), `drivers not one per worker: ${placement.join('/')}`);
    res.forEach((r, i) => {
      const n = per[i]!;
      check(r.n === n, `driver ${i + 1}: ${r.n} EXIT events, expected ${n}`);
      check(r.sum === (n * (n + 1)) / 2, `driver ${i + 1}: EXIT values sum to ${r.sum}, expected ${(n * (n + 1)) / 2}`);
    });
    const span = spanSeconds(res as any);
    return [{
      workload: 'spawn-exit', variant: workersLabel(workers), workers,
      figure: 'spawn + exit (monitored, EXIT received)', value: total / span, unit: 'processes/s',
      work: `${fmtInt(total)} spawn_monitored + EXIT, ≤${fmtInt(WINDOW)} alive per driver (after ${fmtInt(spawnWarm)} untimed per driver)`,
      timing: `Lua clock in ${workers} driver(s)${together ? ', timed runs started at one instant' : ''}`,
      details: { spanSeconds: span, cpuUsPerOp: (cpuSeconds * 1e6) / (total + spawnWarm * per.length),
        // how far apart the drivers' warm runs ended (what the span counted before the common start)
        // and how far apart their timed runs started (≥ 0: a driver that woke late starts late)
        warmEndSkewSeconds: (Math.max(...res.map((r) => r.tw)) - Math.min(...res.map((r) => r.tw))) / 1e6,
        startSkewSeconds: (Math.max(...res.map((r) => r.t0)) - Math.min(...res.map((r) => r.t0))) / 1e6,
        driverSeconds: res.map((r) => ((r.t1 - r.t0) / 1e6).toFixed(4)).join('/'),
        // each driver's first timed spawn after the common instant (µs; ≥ 0: it waited for it)
        ...(startAt !== undefined ? { startAfterInstantUs: res.map((r) => r.t0 - startAt).join('/') } : {}) },
    }];
  });
}

/** Per-worker Lua heap after churning garbage for up to `budgetMs` (the minimum seen per worker). */
export async function settledHeap(rt: Runtime, workers: number, budgetMs: number): Promise<number[]> {
  const first = await rt.stats();
  const min = first.map((s) => s.heapBytes);
  const start = performance.now();
  while (performance.now() - start < budgetMs) {
    await Promise.all(Array.from({ length: workers }, () => rt.exec('bench:garbage', [20_000])));
    const s = await rt.stats();
    s.forEach((w, i) => { if (w.heapBytes < min[i]!) min[i] = w.heapBytes; });
  }
  return min;
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

/**
 * What the kernel did for hold's spawn phase (details only): minor page faults of the whole
 * process and of the workers' threads, user vs system CPU (getrusage), the wasm memory added.
 */
function spawnKernelDetails(ru0: NodeJS.ResourceUsage, ru1: NodeJS.ResourceUsage, th0: Map<string, ThreadStat>, th1: Map<string, ThreadStat>,
  n: number, wasm0: number, wasm1: number, wasmHeld: number[]): Record<string, number | string> {
  const w = threadStatDelta(th0, th1, `${MAIN_HOST}#`);
  const us = (t: ThreadStat | undefined) => (t ? (t.cpu * 1e6) / n : 0);
  const perWorker = [...th1.keys()].filter((k) => k.startsWith(`${MAIN_HOST}#`.slice(0, 15))).sort()
    .map((k) => threadStatDelta(th0, th1, k)!);
  return {
    mainThreadCpuUsPerOp: us(threadStatDelta(th0, th1, 'MainThread')), v8WorkersCpuUsPerOp: us(threadStatDelta(th0, th1, 'V8Worker')),
    perWorkerCpuMs: perWorker.map((t) => (t.cpu * 1e3).toFixed(1)).join('/'), perWorkerFaults: perWorker.map((t) => t.minflt).join('/'),
    minorFaultsPerOp: (ru1.minorPageFault - ru0.minorPageFault) / n,
    userUsPerOp: (ru1.userCPUTime - ru0.userCPUTime) / n,
    sysUsPerOp: (ru1.systemCPUTime - ru0.systemCPUTime) / n,
    ...(w ? { workerFaults: w.minflt, workerCpuUsPerOp: (w.cpu * 1e6) / n, workerSysShare: w.stimeTicks / Math.max(1, w.utimeTicks + w.stimeTicks) } : {}),
    wasmGrownBytes: wasm1 - wasm0, wasmHeld: wasmHeld.join('/'),
  };
}

async function hold(ctx: BenchContext, workers: number): Promise<Figure[]> {
  const total = ctx.quick ? 10_000 : 100_000;
  const churnMs = ctx.quick ? 800 : 3000;
  // the runtime's worker threads by OS id (Node 20 names no thread: threadStatsNamed names them)
  const tids0 = new Set(threadIds());
  const rt = await benchRuntime([HOLD_CHILD, HOLDER, GARBAGE, STAMP], { workers });
  const workerTids = threadIds().filter((t) => !tids0.has(t));
  const threads = () => threadStatsNamed(workerTids, `${MAIN_HOST}#`);
  return withRuntime(rt, async (): Promise<Figure[]> => {
    const per = shares(total, workers);
    const holders: Watched[] = [];
    // Untimed spawns per holder first, for the reason ping-pong's warm-up gives (V8 tiers the Lua
    // module and the workers' JS up in a new runtime's first fraction of a second): hold_children
    // spawned, stopped and exited, at most HOLD_WINDOW alive, before the baselines below.
    const holdWarm = 5_000;
    for (let i = 0; i < workers; i++) holders.push(await spawnWatched(rt, 'bench:holder', MAIN_HOST, [per[i], MAIN_HOST, i, holdWarm]));
    const exits = Promise.all(holders.map((h, i) => exitValue(h, `holder ${i + 1}`)));
    exits.catch(() => {}); // awaited below; do not let an early failure go unhandled meanwhile
    const named = (prefix: string) => () => holders.every((_, i) => rt.lookup(`${prefix}.${i}`) !== undefined);
    // Polled every few ms while children start: `counts` skips the two full Lua collections per
    // worker that a heap figure needs and the walk of every process for the mailbox sizes (4-5 ms
    // per poll per worker of 6,000 processes), which would otherwise slow the spawning being
    // measured — on 2 workers, whose queued children start after the holder's loop, over 10-25 polls.
    const alive = async () => sum((await rt.stats({ counts: true })).map((s) => s.processes));
    await withTimeout(Promise.race([waitFor(named('bench.ready'), 'holders'), exits]), ctx.timeoutMs, 'hold');
    const start = (await rt.stats()).map((s) => s.processes);
    check(start.every((p) => p === 1), `holders not one per worker: ${start.join('/')}`);
    ctx.note('warm-up');
    for (const h of holders) rt.send(h.pid, 'warm');
    await withTimeout(Promise.race([waitFor(named('bench.warmed'), 'warmed'), exits]), ctx.timeoutMs, 'hold');
    await withTimeout(waitFor(async () => (await alive()) === workers, 'warm children to exit'), ctx.timeoutMs, 'hold');

    ctx.note('baseline heap');
    const heap0 = await settledHeap(rt, workers, 200);
    const rss0 = process.memoryUsage().rss;
    // Where RSS goes besides the Lua heap (details only): the workers' wasm memories and JS heaps,
    // and this (main) thread's JS heap, before and while held.
    const parts = async () => {
      const s = await rt.stats({ quick: true });
      return { wasm: sum(s.map((w) => w.wasmBytes)), jsWorkers: sum(s.map((w) => w.jsHeapBytes)), jsMain: process.memoryUsage().heapUsed };
    };
    const parts0 = await parts();

    ctx.note(`spawning ${fmtInt(total)}`);
    const q0 = (await rt.stats({ counts: true })).map((w) => w.queue);
    const cpu0 = process.cpuUsage();
    const ru0 = process.resourceUsage(), th0 = threads();
    const startUs = Math.round((performance.timeOrigin + performance.now() + HOLD_LEAD_MS) * 1000);
    for (const h of holders) rt.send(h.pid, 'go', startUs);
    // The runtime may place some spawns on another worker of the host, asynchronously: wait until
    // all N exist, then let one stamp process per worker run behind them.
    await withTimeout(Promise.race([waitFor(named('bench.held'), 'held'), exits]), ctx.timeoutMs, 'hold');
    await withTimeout(waitFor(async () => (await alive()) === total + workers, 'all spawned'), ctx.timeoutMs, 'hold');
    const stamps = (await Promise.all(Array.from({ length: workers }, () => rt.exec('bench:stamp')))) as number[];
    const spawnCpuSeconds = cpuSecondsSince(cpu0);
    const ru1 = process.resourceUsage(), th1 = threads();
    const rss1 = process.memoryUsage().rss;
    const parts1 = await parts();
    const held = await rt.stats();
    const placement = held.map((w) => w.processes);
    check(sum(placement) === total + workers, `${sum(placement)} processes alive while held, expected ${total + workers}`);
    const heapRaw = held.map((w) => w.heapBytes);
    ctx.note('settling heap');
    const heap1 = await settledHeap(rt, workers, churnMs);

    // A second batch of N on top of the first: the RSS it adds is the marginal cost of an idle
    // process, without what the first batch paid once (code paged in, JIT, the JS heaps' and the
    // allocator arenas' growth, the wasm memory the baseline's garbage had already touched).
    ctx.note(`spawning ${fmtInt(total)} more`);
    const rss1b = process.memoryUsage().rss;
    for (const h of holders) rt.send(h.pid, 'more');
    await withTimeout(Promise.race([waitFor(named('bench.more'), 'more'), exits]), ctx.timeoutMs, 'hold');
    await withTimeout(waitFor(async () => (await alive()) === 2 * total + workers, 'all spawned'), ctx.timeoutMs, 'hold');
    await Promise.all(Array.from({ length: workers }, () => rt.exec('bench:stamp')));
    const rss2 = process.memoryUsage().rss;
    const heap2 = await settledHeap(rt, workers, churnMs);

    ctx.note('releasing');
    const tRelease = performance.now();
    for (const h of holders) rt.send(h.pid, 'release');
    const res = await withTimeout(exits, ctx.timeoutMs, 'holders');
    await withTimeout(waitFor(async () => (await alive()) === 0, 'held processes to exit'), ctx.timeoutMs, 'release');
    const stopSeconds = (performance.now() - tRelease) / 1000;

    const spawnSpan = (Math.max(...stamps) - Math.min(...res.map((r) => r.t0))) / 1e6;
    const heapPer = (sum(heap1) - sum(heap0)) / total;
    const heapRawPer = (sum(heapRaw) - sum(heap0)) / total;
    const rssPer = (rss1 - rss0) / total;
    const base = { workload: 'hold', variant: workersLabel(workers), workers, work: `${fmtInt(total)} processes blocked in receive` };
    return [
      {
        ...base, figure: 'Lua heap per blocked process', value: heapPer, unit: 'bytes',
        timing: 'Δ collectgarbage("count") over all workers / N, lowest reading during a GC churn (upper bound: may include garbage)',
        details: { heapBaseline: sum(heap0), heapHeldRaw: sum(heapRaw), heapHeldSettled: sum(heap1), rawBytesPerProcess: heapRawPer,
          includesHolderPidArrayBytes: 16 },
      },
      {
        ...base, figure: 'RSS per blocked process (whole Node process)', value: rssPer, unit: 'bytes',
        timing: 'Δ process.memoryUsage().rss / N (wasm memory + JS heaps of all threads)',
        details: { rssBefore: rss0, rssHeld: rss1,
          wasmPerProcess: (parts1.wasm - parts0.wasm) / total, jsWorkersPerProcess: (parts1.jsWorkers - parts0.jsWorkers) / total,
          jsMainPerProcess: (parts1.jsMain - parts0.jsMain) / total },
      },
      {
        ...base, figure: 'RSS per blocked process, marginal (N more on top of N)', value: (rss2 - rss1b) / total, unit: 'bytes',
        timing: 'Δ process.memoryUsage().rss / N while a second batch of N is spawned on top of the first (one-time costs paid by the first)',
        details: { rssBefore: rss1b, rssHeld: rss2, luaHeapPerProcess: (sum(heap2) - sum(heap1)) / total,
          includesHolderPidArrayBytes: 16 },
      },
      {
        ...base, figure: 'spawn until all blocked in receive', value: total / spawnSpan, unit: 'processes/s',
        timing: 'Lua clocks: holder before first spawn → a run-queue barrier process on each worker (JS polls in between, ≤ a few ms)',
        details: { spanSeconds: spawnSpan, cpuUsPerOp: (spawnCpuSeconds * 1e6) / total, spawnLoopSeconds: Math.max(...res.map((r) => (r.t1 - r.t0) / 1e6)),
          releaseToAllExitedSeconds: stopSeconds, placement: placement.join('/'),
          startSkewSeconds: (Math.max(...res.map((r) => r.t0)) - Math.min(...res.map((r) => r.t0))) / 1e6,
          // each holder's first spawn after the common start instant (µs; ≥ 0: it waited for it)
          holderStartAfterInstantUs: res.map((r) => r.t0 - startUs).join('/'),
          // spawns each worker published from its list to the shared queues (the backlog mark's offer rule)
          publishedAtMark: held.map((w, i) => (w.queue.pushed - q0[i]!.pushed) - (w.queue.kept - q0[i]!.kept)).join('/'),
          ...spawnKernelDetails(ru0, ru1, th0, th1, total, parts0.wasm, parts1.wasm, held.map((w) => w.wasmBytes)) },
      },
    ];
  });
}

export const spawnExitWorkload: Workload = {
  name: 'spawn-exit',
  title: 'spawn + exit, monitored',
  variants: (ctx) => workerCounts(ctx).map((w) => ({ label: workersLabel(w), workers: w, run: (c) => spawnExit(c, w) })),
};

export const holdWorkload: Workload = {
  name: 'hold',
  title: 'hold processes blocked in receive',
  variants: (ctx) => workerCounts(ctx).map((w) => ({ label: workersLabel(w), workers: w, run: (c) => hold(c, w) })),
};
