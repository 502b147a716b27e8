// `npm run bench:compare`: our workloads and the references (BEAM, the plain-JS ceilings, piscina,
// the SharedArrayBuffer ring) in one run, interleaved, printed as ratios next to the issue's
// targets, and drawn as an SVG chart.
//
//   node dist/bench/compare.js [--full] [--rounds N] [--workers N] [--node PATH] [--name BASE] [--no-write]
//   node dist/bench/compare.js --from bench/results/BASE.json [--name NEW]
//
//   --quick        smaller amounts of work (the default; the same counts as `npm run bench -- --quick`
//                  and the references' --quick)
//   --full         the full counts (slow: one round takes several minutes)
//   --rounds N     times the whole interleaved sequence is run (default 3 with --quick, 1 with --full)
//   --workers N    "all workers" for our suite and the BEAM schedulers / piscina threads (default 2,
//                  the issue's target setting)
//   --node PATH    run all of it under another Node binary, e.g. .ci/node24/node_modules/.bin/node or
//                  node_modules/.bin/node after `npm i --no-save node@24`. Our suite, piscina and the
//                  JS ceilings then run on the same Node, so the ratios compare like with like.
//   --name BASE    write bench/results/BASE.{json,md,svg} (default compare-latest)
//   --no-write     print only
//   --from FILE    run nothing: evaluate today's comparisons over an earlier run's rounds (its JSON)
//                  and print them; written only under a --name given
//
// Interleaving. The machines this runs on are shared and noisy (spreads of 20–60% between passes
// are normal), so a ratio of two figures taken minutes apart says little. A round runs each of our
// workloads next to the references it is compared with — spawn-exit, hold, BEAM, ping-pong, the
// generator actors, ring, fan-in, postMessage, the table payloads, job-runner, piscina, transport, the
// SAB ring, spawn-burst, parallel, cpu-scaling — and odd rounds run that sequence backwards, so a slow drift of the machine does not always favour
// one side. A ratio is computed per round from the two figures of that round, and the reported ratio
// is the median over the rounds (lowest and highest kept as its range). The SAB ring child
// (native-bench/sab-ring.js, ~20 s) compares our SpscRing with the plain ring in one process; with
// spinning threads on a shared 2-core machine a single pass of it can be off by 8× (seen: 256-byte
// one-way at 0.5 M and at 8 M msgs/s in consecutive runs), so it runs every round like the rest.
//
// Our side runs in a fresh Node process per workload (this script with --child NAME), so memory
// figures start from a clean process and a crashing workload costs only its own figures. BEAM runs
// with as many schedulers as we have workers; without `erl` its ratios are "n/a".
//
// Ratios are oriented so that larger is better: ours ÷ reference for rates, reference ÷ ours for
// bytes per process (so "≥ 1.0" reads "we use no more than BEAM").
//
// Multi-worker rows (bench/scaling.ts) are not ours ÷ a reference: cpu-scaling measures 1 and 2
// workers and the raw wasmoon ceiling (plain threads, no runtime) itself, interleaved over its own
// rounds, and reports medians of per-round ratios. Those ratios are the rows' figures as they are
// (`ratio` in a Comparison): "2 workers ÷ 1 worker" (the Reference column shows the raw 2 ÷ 1 ceiling
// of the same rounds, for reading against), and "scaling efficiency" (our 2 ÷ 1 ÷ the raw 2 ÷ 1, per
// round). spawn-burst's smallest share on a worker is divided by an even share (50% on 2 workers), so
// 1× is a perfectly even split and the 40% target is 0.8×.
//
// Files: this one runs the rounds (arguments, our workloads in child processes, the order, the
// write-out); compare-refs.ts holds a round's shape and the in-process references' runners;
// compare-rows.ts the comparisons and their evaluation; compare-report.ts the text, Markdown and SVG.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Workload, BenchContext } from './harness.js';
import { machine, fmtValue, type Failure } from './report.js';
import { runErlang, runPiscina, ERLANG_MISSING } from '../native-bench/index.js';
import {
  SOURCE_NAMES, runJsGenerators, runPostMessage, runSabRing, type OurWorkload, type OursResult, type RefSource, type Round,
} from './compare-refs.js';
import { comparisons, evaluate } from './compare-rows.js';
import { chartSvg, fmtRatio, markdown, textTable, type CompareResults } from './compare-report.js';

const SCRIPT = fileURLToPath(import.meta.url);
/** dist/bench/compare.js -> the repository root. */
const ROOT = resolve(dirname(SCRIPT), '..', '..');

// ---- arguments ------------------------------------------------------------------------------------

interface Args {
  quick: boolean;
  rounds: number;
  workers: number;
  node?: string;
  name: string;
  write: boolean;
  child?: string;
  /** Re-read the rounds of an earlier run (its JSON) with today's comparisons; nothing is run. */
  from?: string;
  help: boolean;
}

const USAGE = 'usage: node dist/bench/compare.js [--full] [--rounds N] [--workers N] [--node PATH] [--name BASE] [--no-write] [--from RESULTS.json]\n';

function usage(problem?: string): never {
  if (problem) { process.stderr.write(`bench:compare: ${problem}\n${USAGE}`); process.exit(2); }
  process.stdout.write(USAGE);
  process.exit(0);
}

function parseArgs(argv: string[]): Args {
  let quick = true;
  let rounds: number | undefined;
  const a: Omit<Args, 'quick' | 'rounds'> = { workers: 2, name: 'compare-latest', write: true, help: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) usage(`${arg} needs a value`);
      return v;
    };
    if (arg === '--quick') quick = true;
    else if (arg === '--full') quick = false;
    else if (arg === '--rounds') rounds = Number(value());
    else if (arg === '--workers') a.workers = Number(value());
    else if (arg === '--node') a.node = value();
    else if (arg === '--name') a.name = value();
    else if (arg === '--no-write') a.write = false;
    else if (arg === '--child') a.child = value();
    else if (arg === '--from') a.from = value();
    else if (arg === '--help' || arg === '-h') a.help = true;
    else usage(`unknown argument ${arg}`);
  }
  rounds ??= quick ? 3 : 1;
  // --from writes only under a --name of its own (never over the run it re-reads by default)
  if (a.from !== undefined && !argv.includes('--name')) a.write = false;
  if (!(Number.isInteger(rounds) && rounds >= 1)) usage('--rounds must be a positive integer');
  if (!(Number.isInteger(a.workers) && a.workers >= 1)) usage('--workers must be a positive integer');
  if (!/^[\w.-]+$/.test(a.name)) usage('--name must be a plain file name (letters, digits, ".", "-", "_")');
  return { ...a, quick, rounds };
}

/** --node PATH: run this script under that binary with the remaining arguments. */
function reRunUnder(node: string, argv: string[]): never {
  const rest = argv.filter((_, i) => argv[i] !== '--node' && argv[i - 1] !== '--node');
  const r = spawnSync(node, [SCRIPT, ...rest], { stdio: 'inherit' });
  if (r.error) {
    process.stderr.write(`bench:compare: could not run ${node}: ${r.error.message}\n`);
    process.exit(2);
  }
  process.exit(r.status ?? 1);
}

const tty = process.stderr.isTTY === true;
const red = (s: string) => (tty ? `\x1b[31;1m${s}\x1b[0m` : s);
const green = (s: string) => (tty ? `\x1b[32m${s}\x1b[0m` : s);
const log = (s: string) => process.stderr.write(`${s}\n`);
const secs = (t0: number) => `${((performance.now() - t0) / 1000).toFixed(1)} s`;

// ---- our side: one child process per workload -----------------------------------------------------



/**
 * Child mode (--child NAME): run every variant of one workload and print
 * `{figures, failures}` as one JSON line on stdout; progress goes to stderr. A rejection nobody
 * handles (a workload's stray promise) is recorded against the variant that was running, and the
 * child exits with what it has, instead of dying without a result.
 */
async function childMain(name: string, quick: boolean, workers: number): Promise<void> {
  const [spawnMod, messaging, jobs, transport, scaling, parallel] = await Promise.all([
    import('./spawn.js'), import('./messaging.js'), import('./jobs.js'), import('./transport.js'), import('./scaling.js'),
    import('./parallel.js'),
  ]);
  const workloads: Workload[] = [
    spawnMod.spawnExitWorkload, spawnMod.holdWorkload, messaging.pingPongWorkload, messaging.ringWorkload,
    messaging.fanInWorkload, messaging.pingPongTableWorkload, messaging.ringTableWorkload, jobs.jobRunnerWorkload,
    transport.transportWorkload, scaling.cpuScalingWorkload, scaling.spawnBurstWorkload, parallel.parallelWorkload,
  ];
  const w = workloads.find((x) => x.name === name);
  if (!w) usage(`unknown workload ${name}`);
  const out: OursResult = { figures: [], failures: [] };
  let current = '(setup)';
  const finish = (code: number) => process.stdout.write(`${JSON.stringify(out)}\n`, () => process.exit(code));
  const crash = (e: unknown) => {
    out.failures.push({ workload: name, variant: current, error: `crashed: ${(e as Error)?.message ?? String(e)}` });
    log(red(`    ${name} · ${current}: CRASHED: ${(e as Error)?.stack ?? String(e)}`));
    finish(1);
  };
  process.on('unhandledRejection', crash);
  process.on('uncaughtException', crash);

  const ctx: BenchContext = { quick, allWorkers: workers, timeoutMs: quick ? 60_000 : 600_000, note: () => {} };
  for (const v of w!.variants(ctx)) {
    current = v.label;
    const t0 = performance.now();
    try {
      const fs = await v.run(ctx);
      out.figures.push(...fs);
      log(`    ${name} · ${v.label}: ${fs.map((f) => `${fmtValue(f.value)} ${f.unit}`).join(', ')} (${secs(t0)})`);
    } catch (e) {
      out.failures.push({ workload: name, variant: v.label, error: (e as Error)?.message ?? String(e) });
      log(red(`    ${name} · ${v.label}: FAILED: ${(e as Error)?.message ?? String(e)}`));
    }
  }
  // The runtimes are stopped; exit now rather than wait for stray handles (run.ts reports those).
  finish(out.failures.length > 0 ? 1 : 0);
}

/** Run one of our workloads in a fresh process; never throws (a crash becomes a failure). */
function runOurs(name: OurWorkload, args: Args): Promise<OursResult> {
  const childArgs = [SCRIPT, '--child', name, '--workers', String(args.workers), args.quick ? '--quick' : '--full'];
  // Generous: the suite's own per-variant limit is 60 s (quick) / 600 s (full).
  const limitMs = args.quick ? 5 * 60_000 : 60 * 60_000;
  return new Promise((done) => {
    const child = spawn(process.execPath, childArgs, { stdio: ['ignore', 'pipe', 'pipe'], cwd: ROOT });
    let stdout = '';
    let stderrTail = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => { stdout += s; });
    child.stderr.setEncoding('utf8').on('data', (s: string) => {
      process.stderr.write(s);
      stderrTail = (stderrTail + s).slice(-2000);
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), limitMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const lastLine = stdout.trim().split('\n').pop() ?? '';
      try {
        done(JSON.parse(lastLine) as OursResult);
      } catch {
        const why = signal ? `killed by ${signal}${signal === 'SIGKILL' ? ` after ${limitMs / 60_000} min` : ''}` : `exit code ${code}`;
        const lastErr = stderrTail.trim().split('\n').slice(-3).join(' / ');
        done({ figures: [], failures: [{ workload: name, variant: '(all)', error: `no result (${why}): ${lastErr}` }] });
      }
    });
  });
}

// ---- main -----------------------------------------------------------------------------------------------

type Step = { kind: 'ours'; name: OurWorkload } | { kind: 'ref'; source: RefSource };

/** One round's order: each reference next to the workloads compared with it. */
const SEQUENCE: Step[] = [
  { kind: 'ours', name: 'spawn-exit' },
  { kind: 'ours', name: 'hold' },
  { kind: 'ref', source: 'beam' },
  { kind: 'ours', name: 'ping-pong' },
  { kind: 'ref', source: 'gen' },
  { kind: 'ours', name: 'ring' },
  { kind: 'ours', name: 'fan-in' },
  { kind: 'ref', source: 'post' },
  { kind: 'ours', name: 'ping-pong-table' },
  { kind: 'ours', name: 'ring-table' },
  { kind: 'ours', name: 'job-runner' },
  { kind: 'ref', source: 'piscina' },
  { kind: 'ours', name: 'transport' },
  { kind: 'ref', source: 'sab' },
  // Multi-worker: their references (the raw wasmoon ceiling, an even split) are measured inside.
  { kind: 'ours', name: 'spawn-burst' },
  { kind: 'ours', name: 'parallel' },
  { kind: 'ours', name: 'cpu-scaling' },
];

function pkgVersion(name: string): string {
  try {
    return JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')).version;
  } catch {
    return 'unknown';
  }
}

/** Fraction of all CPUs' time spent busy over the next `ms` (this process idles meanwhile). */
async function cpuBusy(ms: number): Promise<number> {
  const total = () => cpus().reduce((a, c) => {
    const t = c.times;
    return { busy: a.busy + t.user + t.nice + t.sys + t.irq, all: a.all + t.user + t.nice + t.sys + t.irq + t.idle };
  }, { busy: 0, all: 0 });
  const a = total();
  await new Promise((r) => setTimeout(r, ms));
  const b = total();
  return b.all > a.all ? (b.busy - a.busy) / (b.all - a.all) : 0;
}

/** Set by the first BEAM run: "BEAM OTP 25 (erts 13.1.5), 2 schedulers". */
let beamVersion = 'BEAM not run';

async function runReference(source: RefSource, round: Round, args: Args): Promise<string> {
  const div = args.quick ? 10 : 1;
  switch (source) {
    case 'beam': {
      const b = await runErlang({ schedulers: args.workers, quick: args.quick });
      if ('skipped' in b) { round.errors.beam = b.skipped; return `skipped: ${b.skipped}`; }
      round.beam = b.results;
      beamVersion = `BEAM OTP ${b.otp} (erts ${b.erts}), ${b.schedulers} schedulers`;
      return `spawn_exit ${fmtValue(b.results.spawn_exit.ops)}/s, ping_pong ${fmtValue(b.results.ping_pong.ops)}/s, ` +
        `${b.results.idle_memory.bytes_per_process} bytes/process`;
    }
    case 'gen': {
      round.gen = await runJsGenerators(div);
      return `ping-pong ${fmtValue(round.gen.pingPong)}/s, ring ${fmtValue(round.gen.ring)}/s, ${round.gen.idleBytes} bytes/actor`;
    }
    case 'post': {
      round.post = await runPostMessage(div);
      return `one-way ${fmtValue(round.post.oneWay)}/s, ping-pong ${fmtValue(round.post.pingPong)}/s`;
    }
    case 'piscina': {
      round.piscina = await runPiscina({ threads: args.workers, tasks: args.quick ? 20_000 : 100_000 });
      return `${fmtValue(round.piscina.ops)} tasks/s, 64 in flight ${fmtValue(round.piscina.inFlight.ops)}, p50 ${round.piscina.p50_us} µs`;
    }
    case 'sab': {
      round.sab = await runSabRing(args.quick);
      const s = round.sab.oneWay16;
      return `16 B one-way: plain ${fmtValue(s.plain)}/s, SpscRing write() ${fmtValue(s.write)}/s, offer() ${fmtValue(s.offer)}/s`;
    }
  }
}

/** Prints a run's table and targets, and writes its JSON, Markdown and chart under --name. */
function report(results: CompareResults, args: Args): void {
  process.stdout.write(`\n${textTable(results)}`);
  const targets = results.outcomes.filter((o) => o.target !== null);
  for (const o of targets) {
    const mark = o.status === 'met' ? green('met   ') : o.status === 'missed' ? red('MISSED') : 'n/a   ';
    process.stdout.write(`${mark} ${o.targetText}: ${o.label} = ${fmtRatio(o.ratio, o.target)}\n`);
  }
  if (args.write) {
    const dir = join(ROOT, 'bench', 'results');
    mkdirSync(dir, { recursive: true });
    const base = join(dir, args.name);
    writeFileSync(`${base}.json`, JSON.stringify(results, null, 2) + '\n');
    writeFileSync(`${base}.md`, markdown(results, `${args.name}.svg`));
    writeFileSync(`${base}.svg`, chartSvg(results));
    log(`results: ${base}.json\n         ${base}.md\n         ${base}.svg`);
  }
}

/** An earlier run's results with today's comparisons evaluated over its rounds (--from). */
function rerender(file: string): CompareResults {
  const old = JSON.parse(readFileSync(file, 'utf8')) as CompareResults;
  return { ...old, outcomes: comparisons(old.workers, old.quick).map((c) => evaluate(c, old.raw)) };
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const args = parseArgs(argv);
  if (args.help) usage();
  if (args.child !== undefined) return childMain(args.child, args.quick, args.workers);
  if (args.node) {
    if (!existsSync(args.node)) usage(`--node ${args.node}: no such file`);
    reRunUnder(args.node, argv);
  }

  if (args.from !== undefined) return report(rerender(args.from), args);

  const m = machine(ROOT);
  const t0 = performance.now();
  // Another benchmark on the machine skews every figure: measure how busy the CPUs are while we
  // sit idle for a second, say so when it is more than a quarter, and keep it in the results.
  const busyBefore = await cpuBusy(1000);
  if (busyBefore > 0.25) log(red(`warning: the CPUs were ${(busyBefore * 100).toFixed(0)}% busy before the run: something else is running`));
  log(`wippy-ts bench:compare${args.quick ? ' --quick' : ' --full'}: ${args.rounds} round(s) on Node ${m.node}, ` +
    `${m.cpuCount} × ${m.cpuModel}; ${args.workers} workers / BEAM schedulers / piscina threads`);
  if (m.node.startsWith('v20.')) {
    log('note: on Node 20 every Lua coroutine switch takes a process-wide lock (README, "Which Node"); the targets are for Node 24 (--node)');
  }

  const rounds: Round[] = [];
  for (let i = 0; i < args.rounds; i++) {
    const round: Round = { ours: {}, errors: {} };
    rounds.push(round);
    const steps = i % 2 === 1 ? [...SEQUENCE].reverse() : SEQUENCE;
    for (const step of steps) {
      const t1 = performance.now();
      const tag = `[round ${i + 1}/${args.rounds}]`;
      if (step.kind === 'ours') {
        log(`${tag} ours: ${step.name}`);
        round.ours[step.name] = await runOurs(step.name, args);
        continue;
      }
      try {
        const summary = await runReference(step.source, round, args);
        log(`${tag} ${SOURCE_NAMES[step.source]}: ${summary} (${secs(t1)})`);
      } catch (e) {
        round.errors[step.source] = (e as Error)?.message ?? String(e);
        log(red(`${tag} ${SOURCE_NAMES[step.source]}: FAILED: ${round.errors[step.source]}`));
      }
    }
  }

  const failures: Failure[] = [];
  for (const r of rounds) {
    for (const o of Object.values(r.ours)) failures.push(...o.failures);
    for (const [src, err] of Object.entries(r.errors)) {
      if (err === ERLANG_MISSING) continue; // skipped (its ratios say n/a), not failed
      failures.push({ workload: SOURCE_NAMES[src as RefSource], variant: 'reference', error: err });
    }
  }
  const results: CompareResults = {
    machine: m,
    quick: args.quick,
    rounds: args.rounds,
    workers: args.workers,
    argv,
    seconds: (performance.now() - t0) / 1000,
    cpuBusyBefore: busyBefore,
    references: {
      beam: rounds.some((r) => r.beam) ? beamVersion : `BEAM skipped (${rounds[0]?.errors.beam ?? 'not run'})`,
      piscina: `piscina ${pkgVersion('piscina')}, ${args.workers} threads`,
      node: `Node ${process.version}`,
    },
    outcomes: comparisons(args.workers, args.quick).map((c) => evaluate(c, rounds)),
    failures,
    raw: rounds,
  };

  report(results, args);
  if (failures.length > 0) {
    log(red(`\n${failures.length} failure(s):`));
    for (const f of failures) log(red(`  ${f.workload} / ${f.variant}: ${f.error}`));
    process.exitCode = 1;
  }
  log(`done in ${results.seconds.toFixed(0)} s`);
  // piscina and postMessage workers are terminated; exit even if a stray handle remains.
  setTimeout(() => process.exit(process.exitCode ?? 0), 2000).unref();
}

main().catch((e) => {
  process.stderr.write(red(`bench:compare: ${(e as Error)?.stack ?? String(e)}\n`));
  process.exit(1);
});
