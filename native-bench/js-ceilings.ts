/**
 * Plain-JS ceilings: what the machine and Node give with nothing of ours in
 * the way. Each workload checks its result.
 *
 * - postMessage one-way: main posts `n` small objects to a worker, which
 *   counts them and sums their seq; msgs/s from the first post to the
 *   worker's reply.
 * - postMessage ping-pong: main <-> worker echo, one message in flight;
 *   round trips/s and p50/p99 of each round trip.
 * - generator actors (gen-actors.ts), one thread: ping-pong round trips/s,
 *   a ring of 1,000 actors passing a token (hops/s), and bytes per idle actor
 *   (generator suspended in its first receive + mailbox + a slot in an array),
 *   from the heapUsed delta over 100k actors between two full GCs. The GC is
 *   forced through `getGc()` (common.ts), which works with or without
 *   --expose-gc.
 *
 * As a script: node dist/native-bench/js-ceilings.js [--quick] [--runs N]
 * prints one JSON object. --quick divides the counts by 10.
 */

import { Worker } from 'node:worker_threads';
import { GenScheduler, type Actor } from './gen-actors.js';
import { argValue, getGc, isMain, median, percentile, round } from './common.js';

const WORKER_FILE = new URL('./post-message-worker.js', import.meta.url);

export interface Throughput {
  ops: number;
  n: number;
  runs?: number[];
}

export interface Latency extends Throughput {
  p50_us: number;
  p99_us: number;
}

// ---------------------------------------------------------------------------
// postMessage

function startWorker(mode: 'sink' | 'echo', n: number): Promise<Worker> {
  const worker = new Worker(WORKER_FILE, { workerData: { mode, n } });
  return new Promise((resolve, reject) => {
    worker.once('error', reject);
    worker.once('message', (m: unknown) => {
      if (m === 'ready') resolve(worker);
      else reject(new Error(`post-message-worker: expected "ready", got ${String(m)}`));
    });
  });
}

export async function postMessageOneWay(opts: { n: number }): Promise<Throughput> {
  const { n } = opts;
  const worker = await startWorker('sink', n);
  try {
    const reply = new Promise<{ count: number; sum: number }>((resolve, reject) => {
      worker.once('error', reject);
      worker.once('message', resolve);
    });
    const t0 = performance.now();
    for (let i = 0; i < n; i++) worker.postMessage({ seq: i, kind: 'msg' });
    const { count, sum } = await reply;
    const seconds = (performance.now() - t0) / 1000;
    if (count !== n || sum !== (n * (n - 1)) / 2) {
      throw new Error(`postMessage one-way: worker saw ${count} messages, sum ${sum}`);
    }
    return { ops: Math.round(n / seconds), n };
  } finally {
    await worker.terminate();
  }
}

export async function postMessagePingPong(opts: { n: number }): Promise<Latency> {
  const { n } = opts;
  const worker = await startWorker('echo', n);
  try {
    const samples = new Float64Array(n);
    let i = 0;
    let sentAt = 0;
    const t0 = performance.now();
    await new Promise<void>((resolve, reject) => {
      worker.once('error', reject);
      worker.on('message', (m: { seq: number }) => {
        samples[i] = (performance.now() - sentAt) * 1000;
        if (m.seq !== i) {
          reject(new Error(`postMessage ping-pong: expected seq ${i}, got ${m.seq}`));
          return;
        }
        i++;
        if (i === n) {
          resolve();
          return;
        }
        sentAt = performance.now();
        worker.postMessage({ seq: i, kind: 'ping' });
      });
      sentAt = performance.now();
      worker.postMessage({ seq: 0, kind: 'ping' });
    });
    const seconds = (performance.now() - t0) / 1000;
    samples.sort();
    return { ops: Math.round(n / seconds), n, p50_us: round(percentile(samples, 0.5), 1), p99_us: round(percentile(samples, 0.99), 1) };
  } finally {
    await worker.terminate();
  }
}

// ---------------------------------------------------------------------------
// generator actors

const STOP = Symbol('stop');

interface Ping {
  from: Actor;
  seq: number;
}

interface PingerArg {
  peer: Actor;
  n: number;
  result: { received: number };
}

function* ponger(sched: GenScheduler): Generator<void, void, unknown> {
  for (;;) {
    const m = (yield) as Ping | typeof STOP;
    if (m === STOP) return;
    sched.send(m.from, { seq: m.seq });
  }
}

function* pinger(sched: GenScheduler, self: Actor, arg: PingerArg): Generator<void, void, unknown> {
  for (let i = 0; i < arg.n; i++) {
    sched.send(arg.peer, { from: self, seq: i });
    const reply = (yield) as { seq: number };
    if (reply.seq !== i) throw new Error(`generator ping-pong: expected seq ${i}, got ${reply.seq}`);
    arg.result.received++;
  }
}

export function generatorPingPong(opts: { n: number }): Throughput {
  const { n } = opts;
  const sched = new GenScheduler();
  const result = { received: 0 };
  const t0 = performance.now();
  const pong = sched.spawn(ponger, undefined);
  const ping = sched.spawn(pinger, { peer: pong, n, result });
  sched.run();
  const seconds = (performance.now() - t0) / 1000;
  sched.send(pong, STOP);
  sched.run();
  if (result.received !== n || !ping.done || !pong.done) {
    throw new Error(`generator ping-pong: ${result.received} of ${n} round trips`);
  }
  return { ops: Math.round(n / seconds), n };
}

interface RingArg {
  /** Filled as the ring is spawned: complete before the token starts. */
  members: Actor[];
  size: number;
  index: number;
  /** forwarded[index]: hops this member passed on. */
  forwarded: Float64Array;
  finished: { at: number };
}

function* ringMember(sched: GenScheduler, _self: Actor, arg: RingArg): Generator<void, void, unknown> {
  const next = (arg.index + 1) % arg.size;
  for (;;) {
    const m = (yield) as { hops: number } | typeof STOP;
    if (m === STOP) return;
    if (m.hops === 0) {
      arg.finished.at = arg.index;
    } else {
      sched.send(arg.members[next], { hops: m.hops - 1 });
      arg.forwarded[arg.index]++;
    }
  }
}

export function generatorRing(opts: { size: number; hops: number }): Throughput & { size: number } {
  const { size, hops } = opts;
  const sched = new GenScheduler();
  const members: Actor[] = [];
  const forwarded = new Float64Array(size);
  const finished = { at: -1 };
  for (let i = 0; i < size; i++) members.push(sched.spawn(ringMember, { members, size, index: i, forwarded, finished }));
  const t0 = performance.now();
  sched.send(members[0], { hops });
  sched.run();
  const seconds = (performance.now() - t0) / 1000;
  let total = 0;
  for (let i = 0; i < size; i++) total += forwarded[i];
  for (const m of members) sched.send(m, STOP);
  sched.run();
  if (total !== hops || finished.at !== hops % size || members.some((m) => !m.done)) {
    throw new Error(`generator ring: ${total} of ${hops} hops forwarded`);
  }
  return { ops: Math.round(hops / seconds), n: hops, size };
}

function* idleActor(): Generator<void, void, unknown> {
  yield;
}

/** Bytes of JS heap per idle generator actor, over `n` actors, between full GCs. */
export function generatorIdleMemory(opts: { n: number }): { bytes_per_actor: number; n: number } {
  const { n } = opts;
  const gc = getGc();
  const sched = new GenScheduler();
  const actors: Actor[] = [];
  gc();
  gc();
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < n; i++) actors.push(sched.spawn(idleActor, undefined));
  gc();
  gc();
  const after = process.memoryUsage().heapUsed;
  const idle = actors.filter((a) => !a.done).length;
  if (idle !== n) throw new Error(`generator idle memory: ${idle} of ${n} actors idle`);
  // Wake them so they exit, and keep `actors` alive until after the measurement.
  for (const a of actors) sched.send(a, STOP);
  sched.run();
  if (actors.some((a) => !a.done)) throw new Error('generator idle memory: actors did not exit');
  return { bytes_per_actor: Math.round((after - before) / n), n };
}

// ---------------------------------------------------------------------------
// all of them

export interface JsCeilingsResult {
  runtime: 'node';
  node: string;
  quick: boolean;
  runs: number;
  results: {
    post_message_one_way: Throughput;
    post_message_ping_pong: Latency;
    generator_ping_pong: Throughput;
    generator_ring: Throughput & { size: number };
    generator_idle_memory: { bytes_per_actor: number; n: number };
  };
}

/** Full-size counts; quick mode divides each by 10. */
export const JS_CEILING_COUNTS = {
  postMessageOneWay: 1_000_000,
  postMessagePingPong: 50_000,
  generatorPingPong: 2_000_000,
  ringSize: 1_000,
  ringHops: 1_000_000,
  idleActors: 100_000,
} as const;

/** Runs `fn` once to warm up, then `runs` times; returns the median pass by ops. */
async function medianOf<T extends Throughput>(runs: number, fn: () => T | Promise<T>): Promise<T> {
  await fn();
  const passes: T[] = [];
  for (let i = 0; i < runs; i++) passes.push(await fn());
  const mid = median(passes.map((p) => p.ops));
  const chosen = passes.find((p) => p.ops === mid) as T;
  return { ...chosen, runs: passes.map((p) => p.ops) };
}

export async function runJsCeilings(opts: { quick: boolean; runs?: number }): Promise<JsCeilingsResult> {
  const div = opts.quick ? 10 : 1;
  const runs = opts.runs ?? 3;
  const c = JS_CEILING_COUNTS;
  const post_message_one_way = await medianOf(runs, () => postMessageOneWay({ n: c.postMessageOneWay / div }));
  const post_message_ping_pong = await medianOf(runs, () => postMessagePingPong({ n: c.postMessagePingPong / div }));
  const generator_ping_pong = await medianOf(runs, () => generatorPingPong({ n: c.generatorPingPong / div }));
  const generator_ring = await medianOf(runs, () => generatorRing({ size: c.ringSize, hops: c.ringHops / div }));
  // Memory is not scaled down in quick mode: 100k actors take ~50 ms, and a
  // smaller n makes the heap delta noisier.
  const generator_idle_memory = generatorIdleMemory({ n: c.idleActors });
  return {
    runtime: 'node',
    node: process.version,
    quick: opts.quick,
    runs,
    results: { post_message_one_way, post_message_ping_pong, generator_ping_pong, generator_ring, generator_idle_memory },
  };
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const runs = argValue(argv, '--runs');
  const result = await runJsCeilings({ quick: argv.includes('--quick'), runs: runs === undefined ? undefined : Number(runs) });
  process.stdout.write(JSON.stringify(result) + '\n');
}

if (isMain(import.meta.url)) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
