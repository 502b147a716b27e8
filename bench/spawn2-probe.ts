// spawn-exit as the bench runs it (bench/spawn.ts: one driver per worker, each 20,000 untimed
// spawn+exits then its share of 20,000 timed, ≤ 1,000 children alive), with what the bench does
// not print: each driver's timed window (its start after the earliest, its length), every thread's
// CPU over the run (by OS thread id: Node 20 names every thread "node", so the workers are told
// apart by their tids, not by name), the run-queue counters, frames posted per destination, and
// the doorbells' parks and wake-ups. One runtime per run, as in the bench.
//
//   node dist/bench/spawn2-probe.js [--workers 2] [--n 20000] [--warm 20000] [--split] [--drivers D] [--pre] [--sync]
import { parseArgs } from 'node:util';
import { EXIT_CHILD, SPAWN_DRIVER, SPAWN_LEAD_MS, WINDOW } from './spawn.js';
import { threadIds, threadStatsByTid } from './threadcpu.js';
import { MAIN_HOST, benchRuntime, runDrivers, withRuntime, check, shares, bellCounts, type BenchContext } from './harness.js';

const { values: opt } = parseArgs({ options: {
  workers: { type: 'string', default: '2' }, n: { type: 'string', default: '20000' }, warm: { type: 'string', default: '20000' },
  drivers: { type: 'string' }, split: { type: 'boolean', default: false }, sync: { type: 'boolean', default: false },
  pre: { type: 'boolean', default: false }, mono: { type: 'boolean', default: false },
} });
const W = Number(opt.workers);
const N = Number(opt.n);
const WARM = Number(opt.warm);
/** The warm run as a run of its own before the measured one, so the counters cover the timed run alone. */
const SPLIT = opt.split;
/** Drivers (default one per worker); fewer leaves workers without a driver (idle siblings). */
const D = Number(opt.drivers ?? W);

/** OS thread id -> [name, CPU seconds, seconds runnable but waiting for a CPU]. */
function tasks(): Map<string, [string, number, number]> {
  return new Map([...threadStatsByTid()].map(([tid, t]) => [tid, [t.name, t.cpu, t.wait]]));
}

const ctx: BenchContext = { quick: true, timeoutMs: 600_000, allWorkers: W, note: () => {} };

/** --sync: the bench's common start of the timed runs (runDrivers' startTogether); without it each starts as its warm run ends. */
const SYNC = opt.sync;

/** --pre: a whole 1-worker spawn-exit (warm and timed) in a runtime of its own first, as the bench runs its 1-worker variant before the 2-worker one in one process. */
const PRE = opt.pre;

async function main(): Promise<void> {
  if (PRE) {
    const pre = await benchRuntime([EXIT_CHILD, SPAWN_DRIVER], { workers: 1 });
    await withRuntime(pre, () => runDrivers(pre, 'bench:spawn_driver', MAIN_HOST, [[N, MAIN_HOST, WINDOW, WARM]], ctx));
  }
  const before = new Set(threadIds());
  const rt = await benchRuntime([EXIT_CHILD, SPAWN_DRIVER], { workers: W });
  const mine = threadIds().filter((t) => !before.has(t));
  await withRuntime(rt, async () => {
    const per = shares(N, D);
    if (SPLIT) await runDrivers(rt, 'bench:spawn_driver', MAIN_HOST, per.map(() => [0, MAIN_HOST, WINDOW, WARM]), ctx);
    const warm = SPLIT ? 0 : WARM;
    const s0 = await rt.stats({ counts: true });
    const b0 = bellCounts(rt);
    const d0 = rt.doorbell();
    const t0 = tasks();
    const c0 = process.cpuUsage();
    // every ~5 ms: (µs on the workers' clock, the threads' counters), to split the run at the timed window
    const samples: Array<[number, Map<string, [string, number, number]>]> = [];
    const nowUs = () => (performance.timeOrigin + performance.now()) * 1000;
    const goUs = nowUs();
    // CLOCK_MONOTONIC (perf record -k mono) minus the workers' clock, in µs: to place the run in a profile
    const monoOffsetUs = Number(process.hrtime.bigint() / 1000n) - goUs;
    const timer = setInterval(() => samples.push([nowUs(), tasks()]), 5);
    const { results: res, placement } = await runDrivers(rt, 'bench:spawn_driver', MAIN_HOST, per.map((n) => [n, MAIN_HOST, WINDOW, warm, SYNC]), ctx,
      SYNC ? { startTogether: SPAWN_LEAD_MS } : {});
    const cpu = process.cpuUsage(c0);
    clearInterval(timer);
    const t1 = tasks();
    const d1 = rt.doorbell();
    const b1 = bellCounts(rt);
    const s1 = await rt.stats({ counts: true });
    check(placement.every((p) => p <= 1), `drivers not one per worker: ${placement.join('/')}`);
    const r = res as Array<{ tw: number; t0: number; t1: number; n: number }>;
    const first = Math.min(...r.map((x) => x.t0));
    const last = Math.max(...r.map((x) => x.t1));
    const span = (last - first) / 1e6;
    const out: string[] = [];
    if (opt.mono) out.push(`mono µs: go ${(goUs + monoOffsetUs).toFixed(0)} first t0 ${(first + monoOffsetUs).toFixed(0)} last t1 ${(last + monoOffsetUs).toFixed(0)}`);
    out.push(`W${W} rate ${Math.round(N / span)}/s span ${(span * 1e3).toFixed(1)} ms; drivers ${r.map((x) => `+${((x.t0 - first) / 1e3).toFixed(1)}..${((x.t1 - first) / 1e3).toFixed(1)}ms`).join(' ')} (warm runs ended ${((Math.max(...r.map((x) => x.tw)) - Math.min(...r.map((x) => x.tw))) / 1e3).toFixed(1)} ms apart); proc cpu ${((cpu.user + cpu.system) / (N + warm * D)).toFixed(2)} µs/op`);
    const rows = [...t1].map(([tid, [name, c, w]]) => {
      const p = t0.get(tid);
      return { tid, name, cpu: c - (p?.[1] ?? 0), wait: w - (p?.[2] ?? 0), worker: mine.includes(tid) };
    }).filter((x) => x.cpu > 0.001).sort((a, b) => b.cpu - a.cpu);
    out.push('  threads (ms cpu / ms waiting): ' + rows.map((x) => `${x.worker ? 'W' : ''}${x.tid}:${x.name.slice(0, 8)} ${(x.cpu * 1e3).toFixed(0)}/${(x.wait * 1e3).toFixed(0)}`).join(', '));
    // the samples nearest the timed window's ends: threads' CPU in the warm-up and in the timed window
    const at = (us: number) => samples.reduce((b, x) => (Math.abs(x[0] - us) < Math.abs(b[0] - us) ? x : b), samples[0]!);
    if (!SPLIT && samples.length > 2) {
      const [ta, sa] = at(first), [tb, sb] = at(last);
      const part = (x: Map<string, [string, number, number]>, y: Map<string, [string, number, number]>) =>
        [...y].map(([tid, [, c]]) => [tid, c - (x.get(tid)?.[1] ?? 0)] as const).filter(([, c]) => c > 0.001).sort((a, b) => b[1] - a[1])
          .map(([tid, c]) => `${mine.includes(tid) ? 'W' : ''}${tid} ${(c * 1e3).toFixed(0)}`).join(', ');
      out.push(`  warm: drivers start timed at ${r.map((x) => ((x.t0 - goUs) / 1e3).toFixed(1)).join('/')} ms after go; threads go→first t0 (${((ta - goUs) / 1e3).toFixed(0)} ms): ${part(t0, sa)}`);
      out.push(`  timed window (sampled ${((tb - ta) / 1e3).toFixed(0)} ms): ${part(sa, sb)}`);
    }
    const keys = ['pushed', 'own', 'global', 'stolen', 'shared', 'kept', 'back'] as const;
    out.push('  queues: ' + s1.map((s, i) => {
      const q = s.queue as unknown as Record<string, number>, q0 = s0[i]!.queue as unknown as Record<string, number>;
      return keys.map((k) => `${k === 'shared' ? 'x' : k[0]}${(q[k] ?? 0) - (q0[k] ?? 0)}`).join(',') + ` started ${s.started - s0[i]!.started}`
        + ` sent ${JSON.stringify(Object.fromEntries(Object.entries(s.sent).map(([k, v]) => [k, v - (s0[i]!.sent[Number(k)] ?? 0)])))}`;
    }).join(' / '));
    out.push(`  bells: parks ${b1.parks - b0.parks} wakes ${b1.wakes - b0.wakes}; per thread parks ${d1.parks.map((p, i) => p - (d0.parks[i] ?? 0)).slice(0, W + 1).join('/')} wakes ${d1.wakes.map((p, i) => p - (d0.wakes[i] ?? 0)).slice(0, W + 1).join('/')}`);
    process.stdout.write(out.join('\n') + '\n');
  });
  process.exit(0);
}

await main();
