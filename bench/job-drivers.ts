// `node dist/bench/job-drivers.js`: where a job's CPU goes on each thread, under each way of keeping
// jobs in flight, and what the driver itself costs the main thread — the measurements behind the
// job runner's row of bench:compare (docs/design/scheduler.md, "The job runner, session 9").
//
//   node dist/bench/job-drivers.js [--workers 2] [--jobs 50000] [--rounds 3] [--drivers plain,tinybench,atonce]
//
// One runtime (the bench's host, bench/harness.ts benchRuntime), the `x * x` function.lua job of
// bench/jobs.ts, 2,000 warm-up jobs, then per round and driver `--jobs` jobs:
//   plain      64 loops each awaiting one job at a time (native-bench/inflight.ts: the driver of
//              the job-runner row and of piscina's 64-in-flight phase);
//   tinybench  tinybench's task concurrency at 64 (the job-runner row's driver until session 9);
//   atonce     all jobs submitted at once and awaited with Promise.all (piscina's `ops` phase).
// Per job: jobs/s, the CPU of the main thread, of the workers (Node 24 names them `<host>#<tid>`)
// and of every other thread (V8's compiler and GC helpers, libuv), from each thread's schedstat
// (Linux; bench/threadcpu.ts), and the doorbell's parks and notifies per job of the main thread
// and the first two workers (Runtime.doorbell()). The later rounds are the steady state: the
// first one carries most of V8's tier-up. Then the drivers' own main-thread CPU per job with a
// no-op async job at 64 in flight (no runtime work at all): tinybench's against the plain loop's.
// Read CPU per job, not jobs/s, on a loaded machine; print `uptime` beside it.
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { Bench } from 'tinybench';
import { benchRuntime, MAIN_HOST } from './harness.js';
import { threadCpu, threadCpuDelta } from './threadcpu.js';
import { runInFlight } from '../native-bench/inflight.js';

const { values: opt } = parseArgs({ options: {
  workers: { type: 'string', default: '2' }, jobs: { type: 'string', default: '50000' },
  rounds: { type: 'string', default: '3' }, drivers: { type: 'string', default: 'plain,tinybench,atonce' },
} });
const WORKERS = Number(opt.workers);
const JOBS = Number(opt.jobs);
const ROUNDS = Number(opt.rounds);
const DRIVERS = opt.drivers.split(',');
const LANES = 64;

const SQUARE = { id: 'bench:square', kind: 'function.lua', method: 'main', source: 'return { main = function(x) return x * x end }' };
const mainCpu = (): number => Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ')[0]) / 1e9;

const rt = await benchRuntime([SQUARE], { workers: WORKERS });
let k = 0;
const one = async (): Promise<void> => {
  const x = ++k;
  const r = await rt.exec('bench:square', [x], { host: MAIN_HOST });
  if (r !== x * x) throw new Error(`exec bench:square(${x}) returned ${String(r)}`);
};

const drive: Record<string, () => Promise<unknown>> = {
  plain: () => runInFlight(JOBS, LANES, one),
  tinybench: async () => {
    const b = new Bench({ concurrency: 'task', threshold: LANES, iterations: JOBS, time: 0, warmup: false, throws: true });
    b.add('exec', one);
    await b.run();
  },
  atonce: () => Promise.all(Array.from({ length: JOBS }, one)),
};

async function measure(name: string): Promise<void> {
  const d0 = rt.doorbell(), m0 = mainCpu(), th0 = threadCpu(), t0 = performance.now();
  await drive[name]!();
  const s = (performance.now() - t0) / 1000;
  const d1 = rt.doorbell(), m1 = mainCpu(), th1 = threadCpu();
  const w = threadCpuDelta(th0, th1, `${MAIN_HOST}#`);
  let all = 0;
  for (const [n, v] of th1) all += v - (th0.get(n) ?? 0);
  const us = (x: number | undefined): string => (x === undefined ? 'n/a' : ((x * 1e6) / JOBS).toFixed(2));
  const per = (a: number[], b: number[]): string => b.slice(0, 3).map((v, i) => ((v - (a[i] ?? 0)) / JOBS).toFixed(3)).join('/');
  console.log(`${name.padEnd(10)} ${(JOBS / s).toFixed(0).padStart(7)} jobs/s  CPU µs per job: main ${us(m1 - m0)}, workers ${us(w)}, ` +
    `other ${w === undefined ? 'n/a' : us(all - (m1 - m0) - w)}, all ${us(all)}; per job, main/worker/worker: parks ${per(d0.parks, d1.parks)}, notifies ${per(d0.wakes, d1.wakes)}`);
}

try {
  await Promise.all(Array.from({ length: 2000 }, one));
  for (const d of DRIVERS) if (!drive[d]) throw new Error(`unknown driver ${d} (plain, tinybench, atonce)`);
  console.log(`${WORKERS} worker(s), ${JOBS} jobs per driver and round, Node ${process.version}`);
  for (let r = 1; r <= ROUNDS; r++) {
    console.log(`round ${r}`);
    for (const d of DRIVERS) await measure(d);
  }
} finally {
  await rt.stop(500);
}

// The drivers alone: a no-op async job, 64 in flight, main-thread CPU per job (two passes each;
// the first one warms).
async function noop(name: string, run: (job: () => Promise<void>) => Promise<unknown>): Promise<string> {
  const out: string[] = [];
  let x = 0;
  const job = async (): Promise<void> => { x++; };
  for (let pass = 0; pass < 2; pass++) {
    const c0 = mainCpu();
    await run(job);
    out.push((((mainCpu() - c0) * 1e6) / JOBS).toFixed(3));
  }
  return `${name} ${out.join(' / ')}`;
}
console.log('driver alone (no-op job, 64 in flight), main-thread CPU µs per job, two passes:',
  await noop('plain', (job) => runInFlight(JOBS, LANES, job)), ';',
  await noop('tinybench', async (job) => {
    const b = new Bench({ concurrency: 'task', threshold: LANES, iterations: JOBS, time: 0, warmup: false, throws: true });
    b.add('noop', job);
    await b.run();
  }));
