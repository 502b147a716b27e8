// A profile of spawn-exit's steady state, per thread (issue 14's spawn row): the bench's driver
// and child (bench/spawn.ts) on one worker, a warm run first (untimed, not profiled), then a long
// run during which `perf record` is attached to this process and per-thread CPU is read
// (bench/threadcpu.ts), so start-up, V8's tier-up and the warm run are outside the profile.
//
//   node --perf-basic-prof dist/bench/spawn-prof.js [--warm 200000] [--n 2000000] [--freq 1999]
//        [--out /tmp/spawn-prof.data] [--no-perf]
//
// For wasm function names in the profile the module must be linked with emcc's
// `--profiling-funcs` (a throw-away copy of the checkout: scripts/build-lua-wasm.sh with the flag
// added to LDFLAGS); V8's perf map (--perf-basic-prof) names JS and wasm code. Read the result with
// `perf report -i OUT --sort comm,sym --no-children` (comm: the thread's name; a worker is
// `<host id>#<tid>`, the main thread `node`, V8's helpers `V8 DefaultWorke` / `V8 …`).
// Prints spawn+exits/s of the profiled run and each thread's CPU µs per spawn+exit.
import { parseArgs } from 'node:util';
import { spawn as spawnProc } from 'node:child_process';
import { EXIT_CHILD, SPAWN_DRIVER, WINDOW } from './spawn.js';
import { MAIN_HOST, benchRuntime, runDrivers, withRuntime, check, type BenchContext } from './harness.js';
import { threadCpu } from './threadcpu.js';

const { values: opt } = parseArgs({ options: {
  warm: { type: 'string', default: '200000' }, n: { type: 'string', default: '2000000' }, freq: { type: 'string', default: '1999' },
  out: { type: 'string', default: '/tmp/spawn-prof.data' }, 'no-perf': { type: 'boolean', default: false },
} });
const WARM = Number(opt.warm);
const N = Number(opt.n);
const FREQ = opt.freq!;
const OUT = opt.out!;
const PERF = !opt['no-perf'];

const ctx: BenchContext = { quick: false, timeoutMs: 600_000, allWorkers: 1, note: () => {} };

async function main(): Promise<void> {
  const rt = await benchRuntime([EXIT_CHILD, SPAWN_DRIVER], { workers: 1 });
  await withRuntime(rt, async () => {
    const warm = await runDrivers(rt, 'bench:spawn_driver', MAIN_HOST, [[WARM, MAIN_HOST, WINDOW, 0]], ctx);
    check(warm.results[0]!.n === WARM, 'warm run');
    let perf: ReturnType<typeof spawnProc> | undefined;
    if (PERF) {
      perf = spawnProc('perf', ['record', '-F', FREQ, '-g', '-p', String(process.pid), '-o', OUT], { stdio: ['ignore', 'ignore', 'inherit'] });
      await new Promise((r) => setTimeout(r, 500));  // perf attached
    }
    const t0 = threadCpu();
    const c0 = performance.now();
    const run = await runDrivers(rt, 'bench:spawn_driver', MAIN_HOST, [[N, MAIN_HOST, WINDOW, 0]], ctx);
    const wall = (performance.now() - c0) / 1e3;
    const t1 = threadCpu();
    if (perf) {
      const done = new Promise((r) => perf!.on('exit', r));
      perf.kill('SIGINT');
      await done;
    }
    const r = run.results[0]!;
    check(r.n === N && r.sum === N * (N + 1) / 2, 'profiled run');
    const span = (r.t1 - r.t0) / 1e6;
    process.stdout.write(`spawn+exit 1 worker: ${N} in ${span.toFixed(2)} s (driver's clock) = ${Math.round(N / span)}/s; wall ${wall.toFixed(2)} s\n`);
    process.stdout.write(`process CPU µs per spawn+exit: ${(run.cpuSeconds * 1e6 / N).toFixed(3)}\n`);
    const rows = [...t1].map(([name, s]) => [name, s - (t0.get(name) ?? 0)] as const).filter(([, d]) => d > 0).sort((a, b) => b[1] - a[1]);
    for (const [name, d] of rows) process.stdout.write(`  thread ${name.padEnd(16)} ${(d * 1e6 / N).toFixed(3)} µs per spawn+exit (${(d / wall * 100).toFixed(1)}% of a core)\n`);
  });
}
main().catch((e) => { console.error(e); process.exit(1); });
