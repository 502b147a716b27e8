/**
 * CPU ceiling: the CPU-bound Lua loop of bench/'s `cpu-scaling` workload, run in N plain
 * worker_threads, each with its own wasmoon engine, and nothing of ours in the way (no runtime,
 * scheduler, codec, budget hook or messages between processes). It tells how much faster 2 threads
 * of wasmoon can go than 1 on this machine right now; on a shared VM whose second core is
 * contended that is well under 2×, so bench/ divides its own 2-worker/1-worker ratio by this one.
 *
 * One pass (`cpuCeilingPass`): start `threads` workers, each creates a Lua engine and defines
 * `cpu(n)` with exactly the body bench/ runs (`CPU_LUA_BODY`). The main thread then sends `warmups`
 * untimed rounds and one timed round; in a round the threads take the `tasks` calls of `cpu(n)` one
 * at a time from a shared counter (`split: 'shared'`, the default: a thread on a less contended core
 * does more of them, as a runtime that balances its processes can) or get tasks / threads each
 * (`split: 'static'`, bounded by the slowest thread), and the time runs from posting "go" to the
 * last thread's reply. Every call's result is checked against the sum computed in JS. Each thread also
 * reports its own time for its share and when it started it (`threadSeconds`, `threadStartSeconds`):
 * with 2 threads a wall time well above the per-thread time means the threads did not run side by side.
 *
 * `runCpuCeiling` alternates 1 and N threads for `runs` rounds and reports medians and the median of
 * the per-round ratios; bench/scaling.ts instead interleaves single passes with its own variants.
 *
 * As a script: node dist/native-bench/cpu-ceiling.js [--quick] [--runs N] [--threads N] [--static]
 * prints one JSON object. --quick: n = 1,000,000 instead of 3,000,000.
 */

import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { argValue, isMain, median, round } from './common.js';

/** The Lua body, with `n` a local: `local s = 0; for i = 1, n do ... end; return s`. */
export const CPU_LUA_BODY = 'local s = 0; for i = 1, n do s = s + (i * i) % 7 end; return s';

/** Full-size counts (quick mode: n = 1M). */
export const CPU_CEILING_COUNTS = { tasks: 8, n: 3_000_000, quickN: 1_000_000 } as const;

/** What `cpu(n)` returns, computed in JS (i*i stays below 2^53 for the n used here). */
export function cpuExpected(n: number): number {
  let s = 0;
  for (let i = 1; i <= n; i++) s += (i * i) % 7;
  return s;
}

/** Split `total` into `parts` integer shares that add up to it. */
function shares(total: number, parts: number): number[] {
  const base = Math.floor(total / parts);
  return Array.from({ length: parts }, (_, i) => base + (i < total % parts ? 1 : 0));
}

/**
 * How a round's tasks reach the threads. 'shared' (default): every thread takes the next task from
 * a shared counter until none is left, so a thread on a faster (less contended) core does more of
 * them; this is the ceiling for a runtime that balances its processes. 'static': tasks / threads
 * each, fixed in advance (as scratch/ceil.mjs did): bounded by the slowest thread.
 */
export type CpuSplit = 'shared' | 'static';

interface WorkerInit { cpuCeilingWorker: true; tasks: number; n: number; counter?: SharedArrayBuffer }
type Reply = { ready: true } | { done: true; sums: number[]; ms: number; start: number } | { error: string };

export interface CpuCeilingPass {
  threads: number;
  tasks: number;
  n: number;
  split: CpuSplit;
  /** Tasks each thread ran in the timed round. */
  threadTasks: number[];
  /** Wall time of the timed round, from posting "go" to the last thread's reply. */
  seconds: number;
  /** tasks / seconds. */
  tasksPerSecond: number;
  /** Each thread's own time for its share of the timed round (its clock around its loop). */
  threadSeconds: number[];
  /** When each thread started its share, in seconds after "go" was posted (a late start = a thread that was not scheduled). */
  threadStartSeconds: number[];
}

function nextReply(w: Worker): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error) => { w.off('message', onMessage); reject(e); };
    const onMessage = (m: Reply) => { w.off('error', onError); resolve(m); };
    w.once('error', onError);
    w.once('message', onMessage);
  });
}

interface Round { sums: number[][]; threadSeconds: number[]; threadStartSeconds: number[]; seconds: number }

async function round1(workers: Worker[], counter?: Int32Array): Promise<Round> {
  if (counter) Atomics.store(counter, 0, 0);
  const replies = workers.map(nextReply);
  const t0 = performance.timeOrigin + performance.now();
  for (const w of workers) w.postMessage('go');
  const out: Round = { sums: [], threadSeconds: [], threadStartSeconds: [], seconds: 0 };
  for (const r of await Promise.all(replies)) {
    if ('error' in r) throw new Error(`cpu-ceiling worker: ${r.error}`);
    if (!('done' in r)) throw new Error('cpu-ceiling worker: unexpected reply');
    out.sums.push(r.sums);
    out.threadSeconds.push(r.ms / 1000);
    out.threadStartSeconds.push((r.start - t0) / 1000);
  }
  out.seconds = (performance.timeOrigin + performance.now() - t0) / 1000;
  return out;
}

/** One pass: `threads` fresh workers, `warmups` untimed rounds, one timed round. */
export async function cpuCeilingPass(opts: { threads: number; tasks?: number; n?: number; warmups?: number; split?: CpuSplit }): Promise<CpuCeilingPass> {
  const threads = opts.threads;
  const split = opts.split ?? 'shared';
  const tasks = opts.tasks ?? CPU_CEILING_COUNTS.tasks;
  const n = opts.n ?? CPU_CEILING_COUNTS.n;
  const warmups = opts.warmups ?? 2;
  const expected = cpuExpected(n);
  const sab = split === 'shared' ? new SharedArrayBuffer(4) : undefined;
  const counter = sab ? new Int32Array(sab) : undefined;
  const per = split === 'shared' ? Array.from({ length: threads }, () => tasks) : shares(tasks, threads);
  const workers = per.map((t) => new Worker(new URL(import.meta.url), { workerData: { cpuCeilingWorker: true, tasks: t, n, counter: sab } satisfies WorkerInit }));
  try {
    for (const r of await Promise.all(workers.map(nextReply))) {
      if ('error' in r) throw new Error(`cpu-ceiling worker: ${r.error}`);
    }
    for (let i = 0; i < warmups; i++) await round1(workers, counter);
    const { sums, seconds, threadSeconds, threadStartSeconds } = await round1(workers, counter);
    const all = sums.flat();
    if (all.length !== tasks || all.some((s) => s !== expected)) {
      throw new Error(`cpu-ceiling: ${all.length} results, expected ${tasks} of ${expected}: ${all.join(', ')}`);
    }
    return { threads, tasks, n, split, threadTasks: sums.map((s) => s.length), seconds, tasksPerSecond: tasks / seconds, threadSeconds, threadStartSeconds };
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

export interface CpuCeilingResult {
  runtime: 'node+wasmoon';
  node: string;
  quick: boolean;
  runs: number;
  tasks: number;
  n: number;
  threads: number;
  split: CpuSplit;
  results: {
    /** Median seconds and tasks/s with 1 thread and with `threads` threads; `runs` holds every pass's seconds. */
    one: { seconds: number; tasksPerSecond: number; runs: number[] };
    many: { seconds: number; tasksPerSecond: number; runs: number[] };
    /** Median of the per-round ratios many/1 (throughput). */
    ratio: number;
    ratios: number[];
  };
}

/** `runs` rounds of (1 thread, `threads` threads), alternating which goes first. */
export async function runCpuCeiling(opts: { quick: boolean; runs?: number; threads?: number; split?: CpuSplit }): Promise<CpuCeilingResult> {
  const runs = opts.runs ?? 5;
  const threads = opts.threads ?? 2;
  const n = opts.quick ? CPU_CEILING_COUNTS.quickN : CPU_CEILING_COUNTS.n;
  const tasks = CPU_CEILING_COUNTS.tasks;
  const split = opts.split ?? 'shared';
  const one: number[] = [], many: number[] = [], ratios: number[] = [];
  for (let r = 0; r < runs; r++) {
    const order = r % 2 === 0 ? [1, threads] : [threads, 1];
    const s: Record<number, number> = {};
    for (const t of order) s[t] = (await cpuCeilingPass({ threads: t, tasks, n, split })).seconds;
    one.push(s[1]!); many.push(s[threads]!); ratios.push(s[1]! / s[threads]!);
  }
  const m1 = median(one), mN = median(many);
  return {
    runtime: 'node+wasmoon', node: process.version, quick: opts.quick, runs, tasks, n, threads, split,
    results: {
      one: { seconds: round(m1, 4), tasksPerSecond: round(tasks / m1, 2), runs: one.map((x) => round(x, 4)) },
      many: { seconds: round(mN, 4), tasksPerSecond: round(tasks / mN, 2), runs: many.map((x) => round(x, 4)) },
      ratio: round(median(ratios), 3),
      ratios: ratios.map((x) => round(x, 3)),
    },
  };
}

// ---------------------------------------------------------------------------
// the worker side (this same file, started with workerData.cpuCeilingWorker)

async function workerMain(init: WorkerInit): Promise<void> {
  const port = parentPort!;
  try {
    const { LuaFactory } = await import('wasmoon');
    const lua = await new LuaFactory().createEngine();
    lua.doStringSync(`function cpu(n) ${CPU_LUA_BODY} end`);
    port.postMessage({ ready: true } satisfies Reply);
    port.on('message', () => {
      try {
        const start = performance.timeOrigin + performance.now();
        const t0 = performance.now();
        const sums: number[] = [];
        const counter = init.counter ? new Int32Array(init.counter) : undefined;
        // shared: take the next task until none is left; static: this thread's fixed share.
        const next = counter ? () => Atomics.add(counter, 0, 1) < init.tasks : () => sums.length < init.tasks;
        while (next()) sums.push(Number(lua.doStringSync(`return cpu(${init.n})`)));
        port.postMessage({ done: true, sums, ms: performance.now() - t0, start } satisfies Reply);
      } catch (e) {
        port.postMessage({ error: String((e as Error)?.stack ?? e) } satisfies Reply);
      }
    });
  } catch (e) {
    port.postMessage({ error: String((e as Error)?.stack ?? e) } satisfies Reply);
  }
}

if (!isMainThread && (workerData as Partial<WorkerInit> | null)?.cpuCeilingWorker === true) {
  void workerMain(workerData as WorkerInit);
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const runs = argValue(argv, '--runs');
  const threads = argValue(argv, '--threads');
  const result = await runCpuCeiling({
    quick: argv.includes('--quick'),
    runs: runs === undefined ? undefined : Number(runs),
    threads: threads === undefined ? undefined : Number(threads),
    split: argv.includes('--static') ? 'static' : 'shared',
  });
  process.stdout.write(JSON.stringify(result) + '\n');
}

if (isMainThread && isMain(import.meta.url)) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
