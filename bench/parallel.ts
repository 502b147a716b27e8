// Workload "parallel": independent work, where a second worker should pay.
//
//   parallel  on one process.host, at once: 2 rings of 1,000 (each driver spawns its own ring), 8
//             ping-pong pairs (each pinger spawns its ponger) and 2 spawn+exit drivers (monitored
//             children, at most 1,000 alive each). The drivers are spawned from JS, which places
//             successive spawns on successive workers (round-robin), so on 2 workers each worker
//             gets one ring, one spawn driver and half the pairs; every driver's children are
//             spawned by the driver itself, so nothing has to cross threads — if something does,
//             placement split a group (the `crossFrames` detail counts worker-to-worker frames
//             during the timed part). Each driver does a fixed amount of work after "go"; the
//             figure is all of it (ring hops + round trips + spawn/exits, one operation each) ÷ the
//             span from the first driver's start to the last one's end (Lua clocks). Before the
//             timed set, untimed sets of the same drivers run to their end on the same runtime, one
//             per worker (V8's tier-up; `pass` says why it mattered here more than anywhere).
//             For the breakdown: BENCH_PARALLEL_GROUPS runs some groups only, BENCH_PARALLEL_SPLIT
//             runs the 2-worker pass on two one-worker hosts (below).
//             1 worker and N workers (max(2, all workers)) run alternately in the same child, with
//             a fresh runtime each, over several rounds (the first of each pair alternates); reported:
//             the median ops/s of each and the median of the per-round N ÷ 1 ratios (issue target:
//             ≥ 1.7 on 2 workers; rows where scaling should cost nothing are the message-heavy ones),
//             and, load-free, each run's CPU per op by kind of thread (the runtime's workers, V8's
//             helper threads, the main thread) and the ratio that CPU predicts on free cores.
import type { Runtime } from '../src/index.js';
import {
  type BenchContext, type Figure, type Workload, type Watched, MAIN_HOST, PEER_HOST, benchRuntime, withRuntime, spawnWatched,
  exitValue, waitFor, check, withTimeout, spanSeconds, cpuSecondsSince, fmtInt, workersLabel, bellCounts,
} from './harness.js';
import { PING, PONG, RING_DRIVER, RING_NODE } from './messaging.js';
import { EXIT_CHILD, SPAWN_DRIVER, WINDOW } from './spawn.js';
import { median } from '../native-bench/common.js';
import { threadCpu } from './threadcpu.js';

/**
 * BENCH_PARALLEL_GROUPS=rings,pairs,spawn (any subset) runs only those groups, for the breakdown
 * of where a second worker's throughput goes (each group's 2w ÷ 1w alone); default: all three.
 */
const GROUPS = new Set((process.env.BENCH_PARALLEL_GROUPS ?? 'rings,pairs,spawn').split(',').map((g) => g.trim()));
const RING_SIZE = 1000;
const RINGS = GROUPS.has('rings') ? 2 : 0;
const PAIRS = GROUPS.has('pairs') ? 8 : 0;
const SPAWNERS = GROUPS.has('spawn') ? 2 : 0;

interface Sizes { hopsPerRing: number; tripsPerPair: number; spawnsPerDriver: number }

function sizes(ctx: BenchContext): Sizes {
  const k = ctx.quick ? 1 : 5;
  return { hopsPerRing: 30_000 * k, tripsPerPair: 5_000 * k, spawnsPerDriver: 5_000 * k };
}

function totalOps(s: Sizes): number {
  return RINGS * s.hopsPerRing + PAIRS * s.tripsPerPair + SPAWNERS * s.spawnsPerDriver;
}

/** Frames posted from one worker to another, summed over the workers (main thread and self excluded). */
async function crossFrames(rt: Runtime): Promise<number> {
  const st = await rt.stats();
  const workers = new Set(st.map((w) => w.tid));
  let n = 0;
  for (const w of st) for (const [to, k] of Object.entries(w.sent ?? {})) if (Number(to) !== w.tid && workers.has(Number(to))) n += k;
  return n;
}

interface Pass {
  seconds: number; opsPerSecond: number; cpuUsPerOp: number; placement: string; crossFrames: number;
  /** CPU seconds of the timed part by kind of thread (bench/threadcpu.ts; Linux, Node 24's names). */
  threads: ThreadSplit;
  /** Per driver: its own span (s), for the imbalance between the workers. */
  ends: number[];
  /** Per worker: its CPU seconds over the timed part (Node 24's thread names). */
  perWorker: number[];
  /** Over the timed part, every thread: doorbell parks and notifies; queued spawns stolen and shared. */
  parks: number; wakes: number; stolen: number; shared: number;
}

/** Runtime workers (named `<host>#<tid>`), V8's helper threads (compilers, GC), the main thread, the rest. */
interface ThreadSplit { workers: number; v8: number; main: number; other: number }

function threadSplit(a: Map<string, number>, b: Map<string, number>): ThreadSplit {
  const t: ThreadSplit = { workers: 0, v8: 0, main: 0, other: 0 };
  for (const [name, s] of b) {
    const d = s - (a.get(name) ?? 0);
    if (name.includes('#')) t.workers += d;
    else if (name === 'V8Worker') t.v8 += d;
    else if (name === 'MainThread') t.main += d;
    else t.other += d;
  }
  return t;
}

type Plan = Array<{ entry: string; args: unknown[]; check: (r: Record<string, any>) => void }>;

function planFor(s: Sizes): Plan {
  // Spawn order alternates kinds, so round-robin gives every worker the same mix.
  const plan: Plan = [];
  for (let i = 0; i < RINGS; i++) {
    plan.push({ entry: 'bench:ring_driver', args: [RING_SIZE, s.hopsPerRing, MAIN_HOST, false],
      check: (r) => check(r.total === s.hopsPerRing, `ring: ${r.total} hops counted, expected ${s.hopsPerRing}`) });
  }
  for (let i = 0; i < SPAWNERS; i++) {
    plan.push({ entry: 'bench:spawn_driver', args: [s.spawnsPerDriver, MAIN_HOST, WINDOW],
      check: (r) => check(r.n === s.spawnsPerDriver, `spawn+exit: ${r.n} EXITs, expected ${s.spawnsPerDriver}`) });
  }
  for (let i = 0; i < PAIRS; i++) {
    plan.push({ entry: 'bench:ping', args: [s.tripsPerPair, 0, 0, MAIN_HOST, false],
      check: (r) => check(r.n === s.tripsPerPair, `ping-pong: ${r.n} round trips, expected ${s.tripsPerPair}`) });
  }
  return plan;
}

/** One set of drivers on `rt`, all given "go" at once; every result checked. */
async function runSet(ctx: BenchContext, rt: Runtime, s: Sizes, tag: string, split: boolean): Promise<Omit<Pass, 'placement'> & { placement: string }> {
  const plan = planFor(s);
  const drivers: Watched[] = [];
  const names = plan.map((_, i) => `bench.parallel.${tag}.${i}`);
  for (const [i, p] of plan.entries()) {
    // SPLIT: every other driver (and so its children) on the second one-worker host
    const host = split && i % 2 === 1 ? PEER_HOST : MAIN_HOST;
    drivers.push(await spawnWatched(rt, p.entry, host, [names[i], ...p.args.map((a) => (a === MAIN_HOST ? host : a))]));
  }
  const exits = Promise.all(drivers.map((d, i) => exitValue(d, `parallel driver ${i + 1} (${plan[i]!.entry})`)));
  exits.catch(() => {}); // awaited below
  const ready = waitFor(() => names.every((n) => rt.lookup(n) !== undefined), 'drivers to get ready');
  await withTimeout(Promise.race([ready, exits.then(() => { throw new Error('drivers exited before "go"'); })]), ctx.timeoutMs, 'parallel');
  // Rings and pongers are spawned by their drivers (queued spawns start a little later).
  const setup = RINGS * RING_SIZE + SPAWNERS + PAIRS * 2;
  await withTimeout(waitFor(async () => sum(await alive(rt)) >= setup, 'setup processes'), ctx.timeoutMs, 'parallel');
  const placement = (await alive(rt)).join('/');
  const cross0 = await crossFrames(rt);
  const q0 = queueCounts(await rt.stats());
  const bell0 = bellCounts(rt);
  const cpu0 = process.cpuUsage();
  const th0 = threadCpu();
  for (const d of drivers) rt.send(d.pid, 'go');
  const results = await withTimeout(exits, ctx.timeoutMs, 'parallel');
  const th1 = threadCpu();
  const threads = threadSplit(th0, th1);
  const cpuSeconds = cpuSecondsSince(cpu0);
  const bell1 = bellCounts(rt);
  const q1 = queueCounts(await rt.stats());
  results.forEach((r, i) => plan[i]!.check(r));
  const seconds = spanSeconds(results as any);
  const ops = totalOps(s);
  const t0 = Math.min(...results.map((r: any) => r.t0 as number));
  return { seconds, opsPerSecond: ops / seconds, cpuUsPerOp: (cpuSeconds * 1e6) / ops, placement, crossFrames: (await crossFrames(rt)) - cross0,
    threads, ends: results.map((r: any) => (r.t1 - t0) / 1e6), perWorker: perWorker(th0, th1),
    parks: bell1.parks - bell0.parks, wakes: bell1.wakes - bell0.wakes, stolen: q1.stolen - q0.stolen, shared: q1.shared - q0.shared };
}

/** Queued spawns stolen and shared so far, summed over the workers. */
function queueCounts(st: Array<{ queue: { stolen: number; shared: number } }>): { stolen: number; shared: number } {
  return { stolen: sum(st.map((w) => w.queue.stolen)), shared: sum(st.map((w) => w.queue.shared)) };
}

/** CPU seconds of each runtime worker thread (`<host>#<tid>`) between two reads, in name order. */
function perWorker(a: Map<string, number>, b: Map<string, number>): number[] {
  return [...b].filter(([n]) => n.includes('#')).sort(([x], [y]) => x.localeCompare(y)).map(([n, s]) => s - (a.get(n) ?? 0));
}

/**
 * Untimed warm sets per worker before each timed set (pass): a W-worker pass runs W of them.
 * BENCH_PARALLEL_WARM=0 leaves them out, BENCH_PARALLEL_WARM_FIXED=1 runs the same count on every
 * pass whatever its workers (session 10's method; both for A/B of the method).
 */
const WARM = Number(process.env.BENCH_PARALLEL_WARM ?? 1);
const WARM_FIXED = process.env.BENCH_PARALLEL_WARM_FIXED === '1';
/**
 * BENCH_PARALLEL_SPLIT=1: the 2-worker pass runs on two hosts of one worker each (every other
 * driver, with its children, on the second), not on one host of two workers — the same threads
 * and work without what a multi-worker host adds (its spawn path: queued spawns, the Lua-side
 * list; stealing and sharing): the ceiling for the multi-worker host's machinery, for measurement.
 */
const SPLIT = process.env.BENCH_PARALLEL_SPLIT === '1';

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const alive = async (rt: Runtime) => (await rt.stats()).map((w) => w.processes);

/**
 * One measurement: a fresh runtime with `workers` workers; `warm` untimed sets of the same drivers
 * first, each run to its end (every process exited), then the timed set. Without the warm set a
 * quick pass (0.3-0.6 s) timed V8's tier-up of the new workers (the Lua module on its baseline
 * compiler, the JS step path being optimised) and the compilers' CPU on V8's helper threads, which
 * a 1-worker pass gets from the idle second core and a 2-worker pass takes from its own workers.
 * A W-worker pass runs W warm sets: each of its workers runs 1/W of a set, so after one set it
 * had run each hot function 1/W as often as the 1-worker pass's worker, and V8 optimises a
 * worker's code after counts kept per worker (each worker is an isolate of its own, with its own
 * instance of the Lua module); with one set the
 * 2-worker pass's helper threads still spent 0.17-0.23 µs per op inside the timed part (quick,
 * Node 24) against 0.09-0.14 on 1 worker, with two 0.05-0.07 (docs/design/scheduler.md, session 11).
 */
async function pass(ctx: BenchContext, workers: number, s: Sizes, warm: number): Promise<Pass> {
  // SPLIT (2 workers): two hosts of one worker each instead of one host of two
  const split = SPLIT && workers === 2;
  const rt = await benchRuntime([RING_NODE, RING_DRIVER, PING, PONG, EXIT_CHILD, SPAWN_DRIVER], { workers: split ? 1 : workers, peer: split });
  return withRuntime(rt, async () => {
    for (let w = 0; w < warm; w++) {
      await runSet(ctx, rt, s, `warm${w}`, split);
      await withTimeout(waitFor(async () => sum(await alive(rt)) === 0, 'the warm set to exit'), ctx.timeoutMs, 'parallel');
    }
    return runSet(ctx, rt, s, 'timed', split);
  });
}

async function parallel(ctx: BenchContext): Promise<Figure[]> {
  const W = Math.max(2, ctx.allWorkers);
  const s = sizes(ctx);
  const rounds = Number(process.env.BENCH_PARALLEL_ROUNDS) || (ctx.quick ? 3 : 5);
  const runs: Record<'one' | 'many', Pass[]> = { one: [], many: [] };
  for (let r = 0; r < rounds; r++) {
    const order: Array<'one' | 'many'> = r % 2 === 0 ? ['one', 'many'] : ['many', 'one'];
    for (const k of order) {
      const workers = k === 'one' ? 1 : W;
      ctx.note(`round ${r + 1}/${rounds}: ${workersLabel(workers)}`);
      runs[k].push(await pass(ctx, workers, s, WARM_FIXED ? WARM : WARM * workers));
    }
  }
  const ratios = runs.one.map((o, i) => runs.many[i]!.opsPerSecond / o.opsPerSecond);
  const r3 = (xs: number[]) => xs.map((x) => Math.round(x * 1000) / 1000).join(', ');
  const work = `${RINGS} rings of ${fmtInt(RING_SIZE)} × ${fmtInt(s.hopsPerRing)} hops, ${PAIRS} ping-pong pairs × ` +
    `${fmtInt(s.tripsPerPair)} round trips, ${SPAWNERS} spawn+exit drivers × ${fmtInt(s.spawnsPerDriver)}; ${rounds} rounds`;
  const timing = `Lua clocks: first driver start to last driver end; fresh runtime per run; 1 and ${W} workers alternate` +
    (SPLIT && W === 2 ? '; 2 workers as two one-worker hosts (BENCH_PARALLEL_SPLIT)' : '');
  const fig = (k: 'one' | 'many'): Figure => {
    const ps = runs[k];
    return {
      workload: 'parallel', variant: workersLabel(k === 'one' ? 1 : W), workers: k === 'one' ? 1 : W,
      figure: 'independent rings, ping-pong pairs and spawn+exit drivers at once', value: median(ps.map((p) => p.opsPerSecond)),
      unit: 'ops/s', work, timing,
      details: {
        runsOpsPerSecond: r3(ps.map((p) => p.opsPerSecond)), placement: ps.map((p) => p.placement).join(', '),
        crossFrames: ps.map((p) => p.crossFrames).join(', '), cpuUsPerOp: median(ps.map((p) => p.cpuUsPerOp)),
        // per run, CPU µs per op of the runtime's workers / V8's helper threads / the main thread, and
        // the cores the workers kept busy over the span (workers' CPU ÷ span)
        threadsUsPerOp: ps.map((p) => [p.threads.workers, p.threads.v8, p.threads.main].map((x) => (x * 1e6 / totalOps(s)).toFixed(2)).join('/')).join(', '),
        workerCores: r3(ps.map((p) => p.threads.workers / p.seconds)),
        // per run, each driver's end (s after the first start): rings, spawn drivers, pairs
        driverEnds: ps.map((p) => p.ends.map((e) => e.toFixed(3)).join(' ')).join(' | '),
        // per run, each worker's CPU µs per op (its share of the work and what it cost), and per
        // op: doorbell parks, notifies, queued spawns stolen, shared (the timed part, every thread)
        perWorkerUsPerOp: ps.map((p) => p.perWorker.map((x) => (x * 1e6 / totalOps(s)).toFixed(2)).join('/')).join(', '),
        perOp: ps.map((p) => [p.parks, p.wakes, p.stolen, p.shared].map((x) => (x / totalOps(s)).toFixed(4)).join('/')).join(', '),
      },
    };
  };
  return [fig('one'), fig('many'), {
    workload: 'parallel', variant: `${W}/1`, workers: W, figure: `throughput ${W} workers / 1 worker (target ≥ 1.7 on 2)`,
    value: median(ratios), unit: '×', work, timing: 'median of the per-round ratios',
    details: { perRound: r3(ratios), min: Math.min(...ratios), max: Math.max(...ratios),
      // Load-free reading, per round: the ratio W free cores would give if the work stays balanced —
      // the 1-worker run's worker CPU per op (its V8 helper threads have the idle core) over the
      // W-worker run's CPU per op of every thread (workers, V8 helpers, main) shared by W cores.
      cpuBoundRatio: r3(runs.one.map((o, i) => {
        const m = runs.many[i]!.threads;
        return (W * o.threads.workers) / (m.workers + m.v8 + m.main);
      })) },
  }];
}

export const parallelWorkload: Workload = {
  name: 'parallel',
  title: 'parallel independent work: rings, ping-pong pairs and spawn+exit drivers at once, 1 vs N workers',
  variants: (ctx) => [{ label: `1 vs ${workersLabel(Math.max(2, ctx.allWorkers))}`, workers: Math.max(2, ctx.allWorkers), run: parallel }],
};
