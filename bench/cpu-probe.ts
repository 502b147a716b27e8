// Where cpu-scaling's 2-worker time goes (bench/scaling.ts): the same coordinator and children
// (bench/cpu-timeline.ts), one timed run printed as a timeline: JS's rt.exec → the coordinator's
// start → its spawns done → each worker's children (start-end, ms after the exec; a "lane" is one
// worker's, reconstructed from the children's clocks) → the coordinator's last EXIT → JS has the
// result; with how many processes each worker started (rt.stats() `started` before and after: the
// coordinator counts on its worker) and every thread's CPU and runnable-but-waiting time (Node 24
// names the workers `<host>#<tid>`; "V8Worker" is V8's helper threads). The raw ceiling
// (native-bench/cpu-ceiling.ts) runs beside it, one pass per round, with its threads' start and share.
//
//   node dist/bench/cpu-probe.js [--rounds N] [--hook off,on] [--workers 1,2] [--n N]
//     [--warmups N (2, as the bench)] [--no-raw]
// PROBE_MARK=1 prints PROBE-TIMED-START/END around each timed run (to read beside V8's --trace-opt
// or --trace-wasm-compilation-times output); PROBE_SETTLE_MS=N waits N ms after the warm-ups.
import { createRuntime } from '../src/index.js';
import { pino } from 'pino';
import { MAIN_HOST, withRuntime, check } from './harness.js';
import { CPU_CEILING_COUNTS, cpuCeilingPass, cpuExpected } from '../native-bench/cpu-ceiling.js';
import { argValue, median } from '../native-bench/common.js';
import { CPU_CHILD, CPU_COORD, type CoordResult, type Timeline, type ThreadTimes, nowUs, timeline, threadsDuring } from './cpu-timeline.js';

const logger = pino({ level: 'warn', base: undefined }, pino.destination(2));

interface Run extends Timeline { split: number[]; threads: ThreadTimes }

async function oursRun(workers: number, hook: boolean, k: number, n: number, warmups: number): Promise<Run> {
  const limits = hook ? {} : { max_reductions: 0, max_memory_mb: 0 };
  const rt = await createRuntime({
    entries: [{ id: MAIN_HOST, kind: 'process.host', host: { workers, ...limits } }, CPU_CHILD, CPU_COORD], workers, logger,
  });
  const expected = cpuExpected(n);
  return withRuntime(rt, async () => {
    const once = async () => {
      const r = await rt.exec('bench:cpu_coord', [k, n, MAIN_HOST], { host: MAIN_HOST }) as CoordResult;
      check(r.n === k && r.sum === k * expected, `cpu coordinator: ${r.n} EXITs summing to ${r.sum}`);
      return r;
    };
    for (let i = 0; i < warmups; i++) {
      await once();
      if (process.env['PROBE_MARK'] === '1') process.stdout.write(`PROBE-WARMUP-DONE ${i + 1}\n`);
    }
    const settle = Number(process.env['PROBE_SETTLE_MS'] ?? 0);
    if (settle > 0) await new Promise((res) => setTimeout(res, settle));
    const s0 = (await rt.stats({ counts: true })).map((w) => w.started);
    const mark = process.env['PROBE_MARK'] === '1';
    if (mark) process.stdout.write('PROBE-TIMED-START\n');
    const threads = threadsDuring();
    const t0 = nowUs();
    const r = await once();
    const t1 = nowUs();
    const th = threads();
    if (mark) process.stdout.write('PROBE-TIMED-END\n');
    const s1 = (await rt.stats({ counts: true })).map((w) => w.started);
    return { ...timeline(t0, t1, r), split: s1.map((x, i) => x - s0[i]!), threads: th };
  });
}

const f1 = (x: number) => x.toFixed(1);

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const rounds = Number(argValue(argv, '--rounds') ?? 5);
  const hooks = (argValue(argv, '--hook') ?? 'off,on').split(',').map((h) => h === 'on');
  const workerList = (argValue(argv, '--workers') ?? '1,2').split(',').map(Number);
  const n = Number(argValue(argv, '--n') ?? CPU_CEILING_COUNTS.quickN);
  const k = CPU_CEILING_COUNTS.tasks;
  const warmups = Number(argValue(argv, '--warmups') ?? 2);
  const raw = !argv.includes('--no-raw');
  const figs: Record<string, number[]> = {};
  const push = (key: string, v: number) => (figs[key] ??= []).push(v);
  for (let round = 0; round < rounds; round++) {
    for (const hook of hooks) {
      for (const w of workerList) {
        const r = await oursRun(w, hook, k, n, warmups);
        const key = `hook ${hook ? 'on' : 'off'} ${w}w`;
        push(key, r.wall);
        push(`${key} task`, r.taskMs.median);
        if (r.firstStart.length > 1) push(`${key} second worker's first child`, r.firstStart[1]!);
        push(`${key} after the last child`, r.afterLast);
        console.log(`${key}: wall ${f1(r.wall)} ms; coord ${f1(r.coordStart)}, spawned ${f1(r.spawned)}, ` +
          `lanes ${r.lanes.map((l) => `[${l.length}: ${l.map((x) => `${f1(x.a)}-${f1(x.b)}`).join(' ')}]`).join(' ')}; ` +
          `coord end ${f1(r.coordEnd)}; task median ${f1(r.taskMs.median)} (${f1(r.taskMs.min)}-${f1(r.taskMs.max)}); ` +
          `started per worker ${r.split.join('/')}; threads ${Object.entries(r.threads).map(([nm, t]) => `${nm} ${f1(t.cpu)}${t.wait >= 0.5 ? `(+${f1(t.wait)} wait)` : ''}`).join(', ')}`);
      }
    }
    for (const t of raw ? [1, 2] : []) {
      const p = await cpuCeilingPass({ threads: t, tasks: k, n });
      push(`raw ${t}t`, p.seconds * 1000);
      push(`raw ${t}t task`, (p.threadSeconds[0]! * 1000) / p.threadTasks[0]!);
      console.log(`raw ${t}t: wall ${f1(p.seconds * 1000)} ms; tasks ${p.threadTasks.join('+')}; thread ms ${p.threadSeconds.map((s) => f1(s * 1000)).join('/')}; start ms ${p.threadStartSeconds.map((s) => f1(s * 1000)).join('/')}`);
    }
  }
  console.log('medians (ms):');
  for (const [key, xs] of Object.entries(figs)) console.log(`  ${key}: ${f1(median(xs))} (${xs.map(f1).join(', ')})`);
}

main().catch((e: unknown) => { console.error(e); process.exitCode = 1; });
