// `hold`'s spawn phase repeated in one runtime, with what the kernel and each thread did for it
// (docs/design/scheduler.md, "Session 14: hold on two workers"): per repetition, one holder per
// worker spawns N/workers children that block in receive (bench/spawn.ts's `hold`), a run-queue
// barrier process per worker stamps "all blocked", then they are released and exit.
//
//   node dist/bench/hold-probe.js [--workers 2] [--n 10000] [--reps 8] [--warm 5000] [--sync MS]
//        [--churn MS] [--warm-held K --warm-rounds R] [--mark] [--perf /tmp/hold.data --perf-rep 3]
//
// Prints per repetition: spawn rate (holder's first spawn → last stamp), each worker thread's CPU
// ms and minor faults, V8's helper threads' and the main thread's CPU ms, user/system CPU of the
// whole process (getrusage), the run-queue counters (p pushed, o own, g global, s stolen, x
// shared, k kept in the list, b published and taken back from the record kept) and the wasm
// memory each worker holds. With --perf, `perf record` is
// attached to this process for repetition --perf-rep only (read it with `perf report -i FILE
// --sort comm,sym --no-children`; wasm functions are named when the module was linked with emcc's
// `--profiling-funcs`, and JS with node's --perf-basic-prof).
import { parseArgs } from 'node:util';
import { spawn as spawnProc, type ChildProcess } from 'node:child_process';
import { MAIN_HOST, benchRuntime, luaEntry, spawnWatched, exitValue, waitFor, withRuntime, shares, check } from './harness.js';
import { HOLD_CHILD, HOLD_TIMED_SPAWNS, STAMP, GARBAGE, settledHeap } from './spawn.js';
import { threadStats, threadStatDelta } from './threadcpu.js';

const { values: opt } = parseArgs({ options: {
  workers: { type: 'string', default: '2' }, n: { type: 'string', default: '10000' }, reps: { type: 'string', default: '8' },
  warm: { type: 'string', default: '5000' }, perf: { type: 'string', default: '' }, 'perf-rep': { type: 'string', default: '3' },
  churn: { type: 'string', default: '200' }, 'warm-held': { type: 'string', default: '0' }, mark: { type: 'boolean', default: false },
  sync: { type: 'string', default: '0' }, 'warm-rounds': { type: 'string', default: '0' },
} });
const WORKERS = Number(opt.workers);
const N = Number(opt.n);
const REPS = Number(opt.reps);
const WARM = Number(opt.warm);
const PERF = opt.perf!;
const PERF_REP = Number(opt['perf-rep']);
// hold's own step between its warm-up and its timed spawns: garbage churned this long (ms)
const CHURN = Number(opt.churn);
// before the first repetition: rounds of children held, then stopped (warm-held K, warm-rounds R)
const WARM_HELD = Number(opt['warm-held']);
// print "--- go" and "--- all blocked" around the timed phase (for V8's --trace-opt and the like)
const MARK = opt.mark;
const SYNC = Number(opt.sync);
const WARM_ROUNDS = Number(opt['warm-rounds']);

// One holder per worker and repetition: spawns n children (after `warm` spawned and stopped at
// once, untimed, on its first repetition only), then waits for "release".
const PROBE_HOLDER = luaEntry('probe_holder', `${HOLD_TIMED_SPAWNS}
local function main(n, host, name, warm, held, rounds)
  local go, release = process.listen("go"), process.listen("release")
  local barrier = process.listen("barrier")
  -- rounds of held children blocked in receive (the timed path: spawn, a list past the backlog
  -- mark, a receive that blocks), then stopped; a barrier child behind them says when all started
  for r = 1, rounds do
    local ps = {}
    for i = 1, held do ps[i] = must(process.spawn("bench:hold_child", host), nil, "spawn") end
    must(process.spawn("bench:hold_barrier", host, process.pid()), nil, "spawn barrier")
    barrier:receive()
    for i = 1, held do must(process.send(ps[i], "stop")) end
  end
  if warm > 0 then
    local ev = process.events()
    local alive, spawned, done = 0, 0, 0
    while done < warm do
      while alive < 200 and spawned < warm do
        must(process.send(must(process.spawn_monitored("bench:hold_child", host), nil, "spawn"), "stop"))
        spawned, alive = spawned + 1, alive + 1
      end
      local e = ev:receive()
      if e.kind == "pid.exit" then alive, done = alive - 1, done + 1 end
    end
  end
  must(process.registry.register(name))
  local pids = {}
  local t0, t1 = timed_spawns(go, n, host, pids)
  release:receive()
  for i = 1, n do must(process.send(pids[i], "stop")) end
  return { t0 = t0, t1 = t1 }
end
return { main = main }`);

/** Reports to the holder that every child spawned before it has started (the run queue is FIFO). */
const HOLD_BARRIER = luaEntry('hold_barrier', `
return { main = function(to) must(process.send(to, "barrier", true)); return true end }`);

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const ms = (s: number) => (s * 1e3).toFixed(1);

async function main(): Promise<void> {
  const rt = await benchRuntime([HOLD_CHILD, PROBE_HOLDER, HOLD_BARRIER, STAMP, GARBAGE], { workers: WORKERS });
  await withRuntime(rt, async () => {
    const per = shares(N, WORKERS);
    const alive = async () => sum((await rt.stats({ counts: true })).map((s) => s.processes));
    const workerNames = () => [...threadStats().keys()].filter((k) => k.startsWith(`${MAIN_HOST}#`.slice(0, 15))).sort();
    for (let rep = 0; rep < REPS; rep++) {
      const names = per.map((_, i) => `probe.ready.${rep}.${i}`);
      const holders = [];
      for (let i = 0; i < WORKERS; i++) holders.push(await spawnWatched(rt, 'bench:probe_holder', MAIN_HOST, [per[i], MAIN_HOST, names[i], rep === 0 ? WARM : 0, WARM_HELD, rep === 0 ? WARM_ROUNDS : 0]));
      await waitFor(() => names.every((n) => rt.lookup(n) !== undefined), 'holders');
      await waitFor(async () => (await alive()) === WORKERS, 'warm children to exit');
      const placed = (await rt.stats({ counts: true })).map((s) => s.processes);
      check(placed.every((p) => p === 1), `holders not one per worker: ${placed.join('/')}`);
      const heap0 = await settledHeap(rt, WORKERS, CHURN);
      let perf: ChildProcess | undefined;
      if (PERF && rep === PERF_REP) {
        perf = spawnProc('perf', ['record', '-F', '4999', '-o', PERF, '-p', String(process.pid)], { stdio: 'ignore' });
        await new Promise((r) => setTimeout(r, 300));
      }
      const before = await rt.stats({ quick: true });
      const wasm0 = before.map((s) => s.wasmBytes);
      const ru0 = process.resourceUsage(), th0 = threadStats();
      if (MARK) process.stdout.write('--- go\n');
      // --sync: "go" carries a common start instant SYNC ms ahead (bench/spawn.ts's hold); 0: each starts on its own "go"
      const startUs = SYNC > 0 ? Math.round((performance.timeOrigin + performance.now() + SYNC) * 1000) : 0;
      for (const h of holders) rt.send(h.pid, 'go', startUs);
      await waitFor(async () => (await alive()) === N + WORKERS, 'all spawned');
      const stamps = (await Promise.all(Array.from({ length: WORKERS }, () => rt.exec('bench:stamp')))) as number[];
      const ru1 = process.resourceUsage(), th1 = threadStats();
      if (MARK) process.stdout.write('--- all blocked\n');
      if (perf) { perf.kill('SIGINT'); await new Promise((r) => perf!.on('close', r)); }
      const held = await rt.stats({ quick: true });
      const wasm1 = held.map((s) => s.wasmBytes);
      for (const h of holders) rt.send(h.pid, 'release');
      const res = await Promise.all(holders.map((h, i) => exitValue<{ t0: number; t1: number }>(h, `holder ${i}`)));
      await waitFor(async () => (await alive()) === 0, 'released to exit');
      const span = (Math.max(...stamps) - Math.min(...res.map((r) => r.t0))) / 1e6;
      const loop = Math.max(...res.map((r) => (r.t1 - r.t0) / 1e6));
      const w = workerNames().map((k) => threadStatDelta(th0, th1, k)!);
      const v8 = threadStatDelta(th0, th1, 'V8Worker'), mainT = threadStatDelta(th0, th1, 'MainThread');
      const skew = (Math.max(...res.map((r) => r.t0)) - Math.min(...res.map((r) => r.t0))) / 1e6;
      process.stdout.write(`rep ${rep}: ${Math.round(N / span).toLocaleString('en-US')}/s span ${ms(span)} ms loop ${ms(loop)} ms start skew ${ms(skew)} ms | ` +
        `workers cpu ${w.map((t) => ms(t.cpu)).join('/')} ms faults ${w.map((t) => t.minflt).join('/')} | V8Worker ${ms(v8?.cpu ?? 0)} main ${ms(mainT?.cpu ?? 0)} ms | ` +
        `user ${((ru1.userCPUTime - ru0.userCPUTime) / 1e3).toFixed(1)} sys ${((ru1.systemCPUTime - ru0.systemCPUTime) / 1e3).toFixed(1)} ms, ` +
        `faults ${ru1.minorPageFault - ru0.minorPageFault} | queues ${held.map((s, i) => {
          const q = s.queue, q0 = before[i]!.queue;
          return (['pushed', 'own', 'global', 'stolen', 'shared', 'kept', 'back'] as const).map((k) => `${k === 'shared' ? 'x' : k[0]}${(q[k] ?? 0) - (q0[k] ?? 0)}`).join(',');
        }).join(' / ')} | heap MB ${heap0.map((b) => (b / 2 ** 20).toFixed(1)).join('/')} -> ${held.map((s) => (s.heapBytes / 2 ** 20).toFixed(1)).join('/')} | wasm MB ${wasm0.map((b) => (b / 2 ** 20).toFixed(0)).join('/')} -> ${wasm1.map((b) => (b / 2 ** 20).toFixed(0)).join('/')}\n`);
    }
  });
  process.exit(0);
}

await main();
