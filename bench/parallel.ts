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
//             span from the first driver's start to the last one's end (Lua clocks).
//             1 worker and N workers (max(2, all workers)) run alternately in the same child, with
//             a fresh runtime each, over several rounds (the first of each pair alternates); reported:
//             the median ops/s of each and the median of the per-round N ÷ 1 ratios (issue target:
//             ≥ 1.7 on 2 workers; rows where scaling should cost nothing are the message-heavy ones).
import type { Runtime } from '../src/index.js';
import {
  type BenchContext, type Figure, type Workload, type Watched, MAIN_HOST, benchRuntime, withRuntime, spawnWatched,
  exitValue, waitFor, check, withTimeout, spanSeconds, cpuSecondsSince, fmtInt, workersLabel,
} from './harness.js';
import { PING, PONG, RING_DRIVER, RING_NODE } from './messaging.js';
import { EXIT_CHILD, SPAWN_DRIVER, WINDOW } from './spawn.js';
import { median } from '../native-bench/common.js';

const RING_SIZE = 1000;
const RINGS = 2;
const PAIRS = 8;
const SPAWNERS = 2;

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

interface Pass { seconds: number; opsPerSecond: number; cpuUsPerOp: number; placement: string; crossFrames: number }

/** One measurement: a fresh runtime with `workers` workers, every driver at once. */
async function pass(ctx: BenchContext, workers: number, s: Sizes): Promise<Pass> {
  const rt = await benchRuntime([RING_NODE, RING_DRIVER, PING, PONG, EXIT_CHILD, SPAWN_DRIVER], { workers });
  return withRuntime(rt, async () => {
    // Spawn order alternates kinds, so round-robin gives every worker the same mix.
    const plan: Array<{ entry: string; args: unknown[]; check: (r: Record<string, any>) => void }> = [];
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
    const drivers: Watched[] = [];
    const names = plan.map((_, i) => `bench.parallel.${i}`);
    for (const [i, p] of plan.entries()) drivers.push(await spawnWatched(rt, p.entry, MAIN_HOST, [names[i], ...p.args]));
    const exits = Promise.all(drivers.map((d, i) => exitValue(d, `parallel driver ${i + 1} (${plan[i]!.entry})`)));
    exits.catch(() => {}); // awaited below
    const ready = waitFor(() => names.every((n) => rt.lookup(n) !== undefined), 'drivers to get ready');
    await withTimeout(Promise.race([ready, exits.then(() => { throw new Error('drivers exited before "go"'); })]), ctx.timeoutMs, 'parallel');
    // Rings and pongers are spawned by their drivers (queued spawns start a little later).
    const setup = RINGS * RING_SIZE + SPAWNERS + PAIRS * 2;
    const alive = async () => (await rt.stats()).map((w) => w.processes);
    await withTimeout(waitFor(async () => (await alive()).reduce((a, b) => a + b, 0) >= setup, 'setup processes'), ctx.timeoutMs, 'parallel');
    const placement = (await alive()).join('/');
    const cross0 = await crossFrames(rt);
    const cpu0 = process.cpuUsage();
    for (const d of drivers) rt.send(d.pid, 'go');
    const results = await withTimeout(exits, ctx.timeoutMs, 'parallel');
    const cpuSeconds = cpuSecondsSince(cpu0);
    results.forEach((r, i) => plan[i]!.check(r));
    const seconds = spanSeconds(results as any);
    const ops = totalOps(s);
    return { seconds, opsPerSecond: ops / seconds, cpuUsPerOp: (cpuSeconds * 1e6) / ops, placement, crossFrames: (await crossFrames(rt)) - cross0 };
  });
}

async function parallel(ctx: BenchContext): Promise<Figure[]> {
  const W = Math.max(2, ctx.allWorkers);
  const s = sizes(ctx);
  const rounds = ctx.quick ? 3 : 5;
  const runs: Record<'one' | 'many', Pass[]> = { one: [], many: [] };
  for (let r = 0; r < rounds; r++) {
    const order: Array<'one' | 'many'> = r % 2 === 0 ? ['one', 'many'] : ['many', 'one'];
    for (const k of order) {
      const workers = k === 'one' ? 1 : W;
      ctx.note(`round ${r + 1}/${rounds}: ${workersLabel(workers)}`);
      runs[k].push(await pass(ctx, workers, s));
    }
  }
  const ratios = runs.one.map((o, i) => runs.many[i]!.opsPerSecond / o.opsPerSecond);
  const r3 = (xs: number[]) => xs.map((x) => Math.round(x * 1000) / 1000).join(', ');
  const work = `${RINGS} rings of ${fmtInt(RING_SIZE)} × ${fmtInt(s.hopsPerRing)} hops, ${PAIRS} ping-pong pairs × ` +
    `${fmtInt(s.tripsPerPair)} round trips, ${SPAWNERS} spawn+exit drivers × ${fmtInt(s.spawnsPerDriver)}; ${rounds} rounds`;
  const timing = `Lua clocks: first driver start to last driver end; fresh runtime per run; 1 and ${W} workers alternate`;
  const fig = (k: 'one' | 'many'): Figure => {
    const ps = runs[k];
    return {
      workload: 'parallel', variant: workersLabel(k === 'one' ? 1 : W), workers: k === 'one' ? 1 : W,
      figure: 'independent rings, ping-pong pairs and spawn+exit drivers at once', value: median(ps.map((p) => p.opsPerSecond)),
      unit: 'ops/s', work, timing,
      details: {
        runsOpsPerSecond: r3(ps.map((p) => p.opsPerSecond)), placement: ps.map((p) => p.placement).join(', '),
        crossFrames: ps.map((p) => p.crossFrames).join(', '), cpuUsPerOp: median(ps.map((p) => p.cpuUsPerOp)),
      },
    };
  };
  return [fig('one'), fig('many'), {
    workload: 'parallel', variant: `${W}/1`, workers: W, figure: `throughput ${W} workers / 1 worker (target ≥ 1.7 on 2)`,
    value: median(ratios), unit: '×', work, timing: 'median of the per-round ratios',
    details: { perRound: r3(ratios), min: Math.min(...ratios), max: Math.max(...ratios) },
  }];
}

export const parallelWorkload: Workload = {
  name: 'parallel',
  title: 'parallel independent work: rings, ping-pong pairs and spawn+exit drivers at once, 1 vs N workers',
  variants: (ctx) => [{ label: `1 vs ${workersLabel(Math.max(2, ctx.allWorkers))}`, workers: Math.max(2, ctx.allWorkers), run: parallel }],
};
