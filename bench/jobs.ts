// Workload 7: the runtime embedded as a job runner.
//
// `rt.exec('bench:square', [x])` runs a function.lua entry (x*x) as a process and resolves with
// its result: a spawn frame to a worker thread, the run, and the EXIT back to the main thread.
// The throughput run keeps CONCURRENCY jobs in flight through native-bench/inflight.ts: 64 loops
// each awaiting one job at a time, each job's latency recorded into a preallocated array, which is
// the driver piscina's row at 64 in flight uses too (native-bench/piscina.ts), so the two sides of
// that comparison are driven the same way; jobs/s is N over the wall time of the run. Until
// session 9 the run was driven by tinybench (concurrency "task"), whose per-iteration bookkeeping
// costs the main thread ~0.4–0.55 µs of CPU per job against the driver's ~0.05 (a no-op async job
// at 64 in flight, Node 24); that figure is still reported beside it, so the earlier results stay
// comparable. A second tinybench task runs one job at a time for the unloaded
// latency. Every result is checked against x*x. Figure names: "64 in flight" is the tinybench-driven
// one (the name it had, so `bench/ab.ts` against an earlier checkout compares like with like),
// "64 in flight, plain driver" the inflight.ts one.
//
// Counts beside the timings (they do not depend on the machine's load, so a before/after reads
// them first): per job of the loaded run, the frames the workers sent to the main thread and to
// each other (Runtime.stats() `sent`; a job whose process runs away from its home costs two frames
// between workers) and, on Linux, the main thread's CPU time (/proc/self/task/<pid>/stat: the
// runner, the control endpoint, the transport, decoding the EXITs, GC) and, on Node 24 (which names
// a worker thread `<host>#<tid>`), the workers' CPU and the rest's (V8's compiler and GC helper
// threads, libuv) from each thread's schedstat (bench/threadcpu.ts): the figure to cut is the sum
// over every thread per job, and where it goes. The piscina reference of the issue's target is run
// by bench/compare.ts (the same tiny task, the same counts).
import { readFileSync } from 'node:fs';
import { Bench } from 'tinybench';
import type { Runtime } from '../src/index.js';
import {
  type BenchContext, type Figure, type Workload, MAIN_HOST, benchRuntime, withRuntime, check, fmtInt, workersLabel,
  workerCounts, withTimeout, cpuSecondsSince,
} from './harness.js';
import { threadCpu, threadCpuDelta } from './threadcpu.js';
import { runInFlight } from '../native-bench/inflight.js';
import { percentile } from '../native-bench/common.js';

const CONCURRENCY = 64;

const SQUARE = {
  id: 'bench:square', kind: 'function.lua', method: 'main', source: 'return { main = function(x) return x * x end }',
};

function job(rt: Runtime, counter: { next: number }): () => Promise<void> {
  return async () => {
    const x = ++counter.next;
    const r = await rt.exec('bench:square', [x], { host: MAIN_HOST });
    if (r !== x * x) throw new Error(`exec bench:square(${x}) returned ${String(r)}, expected ${x * x}`);
  };
}

/** Frames the workers have sent: to the main thread, and to other workers (not to themselves). */
async function frameCounts(rt: Runtime): Promise<{ toMain: number; between: number }> {
  let toMain = 0, between = 0;
  for (const w of await rt.stats()) {
    for (const [to, n] of Object.entries(w.sent ?? {})) {
      if (Number(to) === 0) toMain += n;
      else if (Number(to) !== w.tid) between += n;
    }
  }
  return { toMain, between };
}

/**
 * The main thread's CPU time in seconds (Linux: its /proc task entry's schedstat, the scheduler's
 * own account in nanoseconds; the stat file's utime/stime come in 10 ms ticks), or undefined elsewhere.
 */
function mainThreadCpuSeconds(): number | undefined {
  try {
    const ns = Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ')[0]);
    return Number.isFinite(ns) ? ns / 1e9 : undefined;
  } catch { return undefined; }
}

/** Every thread's CPU seconds summed (bench/threadcpu.ts), or undefined without /proc. */
function allThreads(m: Map<string, number>): number | undefined {
  if (m.size === 0) return undefined;
  let sum = 0;
  for (const v of m.values()) sum += v;
  return sum;
}

function latencyUs(task: { result: any } | undefined, what: string): { p50: number; p99: number; n: number } {
  const r = task?.result;
  check(r && r.state === 'completed', `${what}: tinybench task ${r?.state ?? 'missing'}${r?.error ? `: ${r.error.message}` : ''}`);
  return { p50: r.latency.p50 * 1000, p99: r.latency.p99 * 1000, n: r.latency.samplesCount };
}

/** What one loaded run measured: wall time, CPU per job per thread, frames per job. */
interface Loaded { seconds: number; details: Record<string, number> }

/** Run `drive` (which runs `total` jobs) and read the clocks and counters around it. */
async function measureLoaded(rt: Runtime, ctx: BenchContext, total: number, what: string, drive: () => Promise<void>): Promise<Loaded> {
  const frames0 = await frameCounts(rt);
  const main0 = mainThreadCpuSeconds();
  const th0 = threadCpu();
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  await withTimeout(drive(), ctx.timeoutMs, what);
  const cpuSeconds = cpuSecondsSince(cpu0);
  const seconds = (performance.now() - t0) / 1000;
  const main1 = mainThreadCpuSeconds();
  const th1 = threadCpu();
  // per job: the workers (Node 24's thread names; absent on Node 20) and every other thread
  const perJob = (sec: number | undefined) => (sec === undefined ? undefined : (sec * 1e6) / total);
  const workersUs = perJob(threadCpuDelta(th0, th1, `${MAIN_HOST}#`));
  const all0 = allThreads(th0), all1 = allThreads(th1);
  const threadCpuUsPerOp: Record<string, number> = {};
  if (workersUs !== undefined) threadCpuUsPerOp['threadCpuUsPerOp:workers'] = workersUs;
  if (workersUs !== undefined && all0 !== undefined && all1 !== undefined && main0 !== undefined && main1 !== undefined) {
    threadCpuUsPerOp['threadCpuUsPerOp:other threads'] = perJob(all1 - all0 - (main1 - main0))! - workersUs;
  }
  const frames1 = await frameCounts(rt);
  return {
    seconds,
    details: {
      seconds, cpuUsPerOp: (cpuSeconds * 1e6) / total,
      ...(main0 === undefined || main1 === undefined ? {} : { mainThreadCpuUsPerOp: ((main1 - main0) * 1e6) / total }),
      ...threadCpuUsPerOp,
      framesToMainPerJob: (frames1.toMain - frames0.toMain) / total,
      framesBetweenWorkersPerJob: (frames1.between - frames0.between) / total,
    },
  };
}

async function jobRunner(ctx: BenchContext, workers: number): Promise<Figure[]> {
  const total = ctx.quick ? 20_000 : 100_000;
  const rt = await benchRuntime([SQUARE], { workers });
  return withRuntime(rt, async (): Promise<Figure[]> => {
    const counter = { next: 0 };
    const one = job(rt, counter);
    // Warm up: compile the entry on every worker and let V8 settle the hot paths.
    await Promise.all(Array.from({ length: 2000 }, one));

    // Through tinybench's task concurrency first: the figure this row showed until session 9, at the
    // same place in the run (right after the warm-up). Then the figure, as piscina's phases run:
    // its 64-in-flight phase also comes after the warm-up and one run of the same count.
    ctx.note(`${fmtInt(total)} jobs, ${CONCURRENCY} in flight, tinybench driver`);
    const loaded = new Bench({ name: 'job runner', concurrency: 'task', threshold: CONCURRENCY, iterations: total, time: 0, warmup: false, throws: true });
    loaded.add('exec', one);
    const b = await measureLoaded(rt, ctx, total, 'job runner (tinybench)', () => loaded.run().then(() => undefined));
    const lt = latencyUs(loaded.getTask('exec'), 'job runner');
    check(lt.n === total, `tinybench recorded ${lt.n} jobs, expected ${total}`);

    // The figure: CONCURRENCY in flight through the driver piscina's row uses too (the header).
    ctx.note(`${fmtInt(total)} jobs, ${CONCURRENCY} in flight`);
    let fixed: { ms: number; latenciesMs: Float64Array } | undefined;
    const a = await measureLoaded(rt, ctx, total, 'job runner', async () => { fixed = await runInFlight(total, CONCURRENCY, one); });
    const l = { p50: percentile(fixed!.latenciesMs, 0.5) * 1000, p99: percentile(fixed!.latenciesMs, 0.99) * 1000 };

    ctx.note('1 job in flight');
    const serial = new Bench({ name: 'job latency', time: ctx.quick ? 500 : 2000, warmupTime: 100, throws: true });
    serial.add('exec', one);
    await withTimeout(serial.run(), ctx.timeoutMs, 'job latency');
    const s = latencyUs(serial.getTask('exec'), 'job latency');
    const sr = serial.getTask('exec')!.result as any;

    const base = { workload: 'job-runner', variant: workersLabel(workers), workers };
    return [
      {
        ...base, figure: `rt.exec x*x, ${CONCURRENCY} in flight, plain driver`, value: total / a.seconds, unit: 'jobs/s', p50Us: l.p50, p99Us: l.p99,
        work: `${fmtInt(total)} jobs, results checked`,
        timing: `JS wall clock around the run; ${CONCURRENCY} loops each awaiting one job (native-bench/inflight.ts, as piscina's row), per-job latency recorded by it`,
        details: a.details,
      },
      {
        ...base, figure: `rt.exec x*x, ${CONCURRENCY} in flight`, value: total / b.seconds, unit: 'jobs/s', p50Us: lt.p50, p99Us: lt.p99,
        work: `${fmtInt(total)} jobs, results checked`, timing: 'JS wall clock around the run; per-job latency by tinybench (concurrency "task"): the driver until session 9',
        details: b.details,
      },
      {
        ...base, figure: 'rt.exec x*x, 1 in flight', value: 1e6 / s.p50, unit: 'jobs/s (1/p50)', p50Us: s.p50, p99Us: s.p99,
        work: `${fmtInt(s.n)} sequential jobs`, timing: 'tinybench, sequential',
        details: { meanUs: sr.latency.mean * 1000 },
      },
    ];
  });
}

export const jobRunnerWorkload: Workload = {
  name: 'job-runner', title: 'job runner: rt.exec of tiny Lua jobs',
  variants: (ctx) => workerCounts(ctx).map((w) => ({ label: workersLabel(w), workers: w, run: (c) => jobRunner(c, w) })),
};
