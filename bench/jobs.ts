// Workload 7: the runtime embedded as a job runner.
//
// `rt.exec('bench:square', [x])` runs a function.lua entry (x*x) as a process and resolves with
// its result: a spawn rpc to a worker thread, the run, and the EXIT back to the main thread. The
// throughput run keeps CONCURRENCY jobs in flight with tinybench's task concurrency (each
// iteration is one job, so tinybench's latency percentiles are per-job latencies under that load);
// jobs/s is N over the wall time of the run, measured around it. A second tinybench task runs one
// job at a time for the unloaded latency. Every result is checked against x*x.
//
// Counts beside the timings (they do not depend on the machine's load, so a before/after reads
// them first): per job of the loaded run, the frames the workers sent to the main thread and to
// each other (Runtime.stats() `sent`; a job whose process runs away from its home costs two frames
// between workers) and, on Linux, the main thread's CPU time (/proc/self/task/<pid>/stat: the
// runner, the control endpoint, the transport, decoding the EXITs, GC).
import { readFileSync } from 'node:fs';
import { Bench } from 'tinybench';
import type { Runtime } from '../src/index.js';
import {
  type BenchContext, type Figure, type Workload, MAIN_HOST, benchRuntime, withRuntime, check, fmtInt, workersLabel,
  workerCounts, withTimeout, cpuSecondsSince,
} from './harness.js';

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

/** The main thread's CPU time in seconds (Linux: its /proc task entry), or undefined elsewhere. */
function mainThreadCpuSeconds(): number | undefined {
  try {
    const s = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // utime + stime, in clock ticks (USER_HZ 100)
  } catch { return undefined; }
}

function latencyUs(task: { result: any } | undefined, what: string): { p50: number; p99: number; n: number } {
  const r = task?.result;
  check(r && r.state === 'completed', `${what}: tinybench task ${r?.state ?? 'missing'}${r?.error ? `: ${r.error.message}` : ''}`);
  return { p50: r.latency.p50 * 1000, p99: r.latency.p99 * 1000, n: r.latency.samplesCount };
}

async function jobRunner(ctx: BenchContext, workers: number): Promise<Figure[]> {
  const total = ctx.quick ? 20_000 : 100_000;
  const rt = await benchRuntime([SQUARE], { workers });
  return withRuntime(rt, async (): Promise<Figure[]> => {
    const counter = { next: 0 };
    const one = job(rt, counter);
    // Warm up: compile the entry on every worker and let V8 settle the hot paths.
    await Promise.all(Array.from({ length: 2000 }, one));

    ctx.note(`${fmtInt(total)} jobs, ${CONCURRENCY} in flight`);
    const loaded = new Bench({ name: 'job runner', concurrency: 'task', threshold: CONCURRENCY, iterations: total, time: 0, warmup: false, throws: true });
    loaded.add('exec', job(rt, counter));
    const frames0 = await frameCounts(rt);
    const main0 = mainThreadCpuSeconds();
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    await withTimeout(loaded.run(), ctx.timeoutMs, 'job runner');
    const cpuSeconds = cpuSecondsSince(cpu0);
    const seconds = (performance.now() - t0) / 1000;
    const main1 = mainThreadCpuSeconds();
    const frames1 = await frameCounts(rt);
    const l = latencyUs(loaded.getTask('exec'), 'job runner');
    check(l.n === total, `tinybench recorded ${l.n} jobs, expected ${total}`);

    ctx.note('1 job in flight');
    const serial = new Bench({ name: 'job latency', time: ctx.quick ? 500 : 2000, warmupTime: 100, throws: true });
    serial.add('exec', job(rt, counter));
    await withTimeout(serial.run(), ctx.timeoutMs, 'job latency');
    const s = latencyUs(serial.getTask('exec'), 'job latency');
    const sr = serial.getTask('exec')!.result as any;

    const base = { workload: 'job-runner', variant: workersLabel(workers), workers };
    return [
      {
        ...base, figure: `rt.exec x*x, ${CONCURRENCY} in flight`, value: total / seconds, unit: 'jobs/s', p50Us: l.p50, p99Us: l.p99,
        work: `${fmtInt(total)} jobs, results checked`, timing: 'JS wall clock around the run; per-job latency by tinybench (concurrency "task")',
        details: {
          seconds, cpuUsPerOp: (cpuSeconds * 1e6) / total,
          ...(main0 === undefined || main1 === undefined ? {} : { mainThreadCpuUsPerOp: ((main1 - main0) * 1e6) / total }),
          framesToMainPerJob: (frames1.toMain - frames0.toMain) / total,
          framesBetweenWorkersPerJob: (frames1.between - frames0.between) / total,
        },
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
