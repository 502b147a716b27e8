/**
 * piscina (v5) as the job-runner peer: N tiny tasks (`x => x * x`) on a pool
 * of `threads` worker threads, every result checked.
 *
 * Three phases, reported together:
 * - throughput: all tasks submitted at once (`Promise.all`, piscina's natural
 *   use), tasks/s from first submit to last result;
 * - throughput at a fixed number in flight (`inFlight`, default 64): the same
 *   count of tasks through the driver our job runner's row uses
 *   (inflight.ts: `lanes` loops each awaiting one task at a time), so the
 *   two rows of that comparison are driven the same way; with its p50/p99
 *   per-task latency under that load;
 * - latency: `latencyTasks` tasks run one at a time, each awaited before the
 *   next, timed from `run()` to its result. This is the unloaded round trip
 *   (main -> worker wake-up -> result -> main); under the throughput phase the
 *   per-task time would be dominated by queueing, which says nothing.
 * A warm-up of `warmup` tasks runs first, so worker start-up and JIT are not
 * in the figures.
 *
 * As a script: node dist/native-bench/piscina.js [--threads 2] [--tasks 100000]
 * prints one JSON object.
 */

import { Piscina } from 'piscina';
import { argValue, isMain, percentile, round } from './common.js';
import { runInFlight } from './inflight.js';

export interface PiscinaOptions {
  /** Worker threads (min = max). Default 2, the project's machine has 2 cores. */
  threads: number;
  /** Tasks in the throughput phase. Default 100,000. */
  tasks: number;
  /** Tasks timed one at a time for p50/p99. Default min(tasks / 10, 10,000). */
  latencyTasks?: number;
  /** Untimed tasks before the measurement. Default 2,000. */
  warmup?: number;
  /** Tasks in flight in the fixed-concurrency phase (inflight.ts). Default 64. */
  inFlight?: number;
}

export interface PiscinaResult {
  /** All tasks submitted at once: tasks/s. */
  ops: number;
  /** One task at a time: latency percentiles. */
  p50_us: number;
  p99_us: number;
  /** `inFlight` tasks in flight through inflight.ts: tasks/s and per-task latency under that load. */
  inFlight: { lanes: number; ops: number; p50_us: number; p99_us: number };
}

const TASK_FILE = new URL('./piscina-task.js', import.meta.url).href;

export async function runPiscina(opts: PiscinaOptions): Promise<PiscinaResult> {
  const { threads, tasks } = opts;
  const latencyTasks = opts.latencyTasks ?? Math.min(Math.floor(tasks / 10), 10_000);
  const warmup = opts.warmup ?? 2_000;
  const pool = new Piscina<number, number>({ filename: TASK_FILE, minThreads: threads, maxThreads: threads });
  try {
    await runAll(pool, warmup);

    const t0 = performance.now();
    await runAll(pool, tasks);
    const seconds = (performance.now() - t0) / 1000;

    const lanes = opts.inFlight ?? 64;
    const fixed = await runInFlight(tasks, lanes, async (i) => {
      const r = await pool.run(i);
      if (r !== i * i) throw new Error(`piscina: task ${i} returned ${r}`);
    });

    const samples = new Float64Array(latencyTasks);
    for (let i = 0; i < latencyTasks; i++) {
      const s = performance.now();
      const r = await pool.run(i);
      samples[i] = (performance.now() - s) * 1000;
      if (r !== i * i) throw new Error(`piscina: task ${i} returned ${r}`);
    }
    samples.sort();
    return {
      ops: Math.round(tasks / seconds),
      p50_us: round(percentile(samples, 0.5), 1),
      p99_us: round(percentile(samples, 0.99), 1),
      inFlight: {
        lanes, ops: Math.round(tasks / (fixed.ms / 1000)),
        p50_us: round(percentile(fixed.latenciesMs, 0.5) * 1000, 1), p99_us: round(percentile(fixed.latenciesMs, 0.99) * 1000, 1),
      },
    };
  } finally {
    await pool.destroy();
  }
}

/** Submits `n` tasks at once and checks every result. */
async function runAll(pool: Piscina<number, number>, n: number): Promise<void> {
  const pending = new Array<Promise<number>>(n);
  for (let i = 0; i < n; i++) pending[i] = pool.run(i);
  const results = await Promise.all(pending);
  for (let i = 0; i < n; i++) {
    if (results[i] !== i * i) throw new Error(`piscina: task ${i} returned ${results[i]}`);
  }
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const threads = Number(argValue(argv, '--threads') ?? 2);
  const tasks = Number(argValue(argv, '--tasks') ?? 100_000);
  const result = await runPiscina({ threads, tasks });
  process.stdout.write(JSON.stringify({ runtime: 'piscina', node: process.version, threads, tasks, ...result }) + '\n');
}

if (isMain(import.meta.url)) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
