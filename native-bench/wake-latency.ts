/**
 * What a cross-thread wake-up costs with nothing of ours in the way: two worker threads pass a
 * counter back and forth through a SharedArrayBuffer, one in flight, and each waits for its turn
 * in one of three ways:
 *
 * - `wait`       Atomics.wait (blocks the thread, event loop included) until notified;
 * - `waitAsync`  Atomics.waitAsync, the event loop keeps running (what the worker loop parks in);
 * - `spin`       Atomics.load in a loop (no system call; needs a free core per spinner).
 *
 * For each mode: round trips per second, and CPU per round trip (the whole process, from
 * process.cpuUsage: both threads, the main thread only waits). Modes alternate within each of
 * `runs` passes so that a change of the machine's load hits them alike; the median pass is kept.
 *
 * As a script: node dist/native-bench/wake-latency.js [--quick] [--runs N] [--modes a,b]
 * prints one JSON object (and the load average beside it: the figures depend on it).
 */

import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { loadavg } from 'node:os';
import { argValue, isMain, median, round } from './common.js';

export type WakeMode = 'wait' | 'waitAsync' | 'spin';

interface Side { words: Int32Array; me: number; peer: number; rounds: number; first: boolean; mode: WakeMode }

// Word t is thread t's inbox: the last round number sent to it.

async function waitFor(side: Side, seen: number): Promise<number> {
  const { words, me, mode } = side;
  for (;;) {
    const v = Atomics.load(words, me);
    if (v !== seen) return v;
    if (mode === 'wait') Atomics.wait(words, me, seen);
    else if (mode === 'waitAsync') {
      const r = (Atomics as unknown as { waitAsync: (a: Int32Array, i: number, v: number) => { async: boolean; value: Promise<string> | string } })
        .waitAsync(words, me, seen);
      if (r.async) await r.value;
    }
  }
}

async function play(side: Side): Promise<void> {
  const { words, peer, rounds, first } = side;
  let seen = 0;
  for (let i = 1; i <= rounds; i++) {
    if (first) {
      Atomics.store(words, peer, i);
      Atomics.notify(words, peer);
      seen = await waitFor(side, seen);
      if (seen !== i) throw new Error(`round ${i}: echo ${seen}`);
    } else {
      seen = await waitFor(side, seen);
      if (seen !== i) throw new Error(`round ${i}: got ${seen}`);
      Atomics.store(words, peer, i);
      Atomics.notify(words, peer);
    }
  }
}

function startSide(sab: SharedArrayBuffer, me: number, rounds: number, mode: WakeMode): Promise<void> {
  const w = new Worker(new URL(import.meta.url), { workerData: { sab, me, rounds, mode } });
  return new Promise((resolve, reject) => {
    w.once('error', reject);
    w.once('exit', (code) => reject(new Error(`side ${me} exited (${code}) before reporting`)));
    w.once('message', (m: { ok: boolean; error?: string }) => (m.ok ? resolve() : reject(new Error(m.error))));
  });
}

export interface WakePass { mode: WakeMode; roundTripsPerSecond: number; cpuMicrosPerRoundTrip: number }

/** One pass of `rounds` round trips in `mode` between two fresh worker threads. */
export async function wakePass(mode: WakeMode, rounds: number): Promise<WakePass> {
  const sab = new SharedArrayBuffer(8);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all([startSide(sab, 0, rounds, mode), startSide(sab, 1, rounds, mode)]);
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return { mode, roundTripsPerSecond: rounds / seconds, cpuMicrosPerRoundTrip: (cpu.user + cpu.system) / rounds };
}

export async function runWakeLatency(opts: { quick: boolean; runs?: number; modes?: WakeMode[] }): Promise<Record<string, unknown>> {
  const rounds = opts.quick ? 5_000 : 50_000;
  const runs = opts.runs ?? 5;
  const modes = opts.modes ?? ['wait', 'waitAsync', 'spin'];
  const passes: WakePass[] = [];
  for (let r = 0; r < runs; r++) {
    const order = r % 2 === 0 ? modes : [...modes].reverse();
    for (const m of order) passes.push(await wakePass(m, m === 'spin' ? rounds * 4 : rounds));
  }
  const out: Record<string, unknown> = { node: process.version, loadavg: loadavg().map((x) => round(x, 2)), rounds, runs };
  for (const m of modes) {
    const mine = passes.filter((p) => p.mode === m);
    out[m] = {
      roundTripsPerSecond: round(median(mine.map((p) => p.roundTripsPerSecond))),
      usPerRoundTrip: round(1e6 / median(mine.map((p) => p.roundTripsPerSecond)), 1),
      cpuMicrosPerRoundTrip: round(median(mine.map((p) => p.cpuMicrosPerRoundTrip)), 1),
      passes: mine.map((p) => round(p.roundTripsPerSecond)),
    };
  }
  return out;
}

if (!isMainThread && parentPort !== null && workerData?.sab !== undefined) {
  const d = workerData as { sab: SharedArrayBuffer; me: number; rounds: number; mode: WakeMode };
  const side: Side = { words: new Int32Array(d.sab), me: d.me, peer: 1 - d.me, rounds: d.rounds, first: d.me === 0, mode: d.mode };
  // A pending waitAsync does not keep a thread's event loop alive (the runtime's workers have
  // their ports for that); this timer does, until the game ends.
  const keep = setInterval(() => {}, 1 << 30);
  play(side).then(() => parentPort!.postMessage({ ok: true }), (e: Error) => parentPort!.postMessage({ ok: false, error: e.message }))
    .finally(() => clearInterval(keep));
} else if (isMain(import.meta.url)) {
  const modes = argValue(process.argv, '--modes')?.split(',') as WakeMode[] | undefined;
  const runs = Number(argValue(process.argv, '--runs') ?? 5);
  console.log(JSON.stringify(await runWakeLatency({ quick: process.argv.includes('--quick'), runs, modes }), null, 1));
}
