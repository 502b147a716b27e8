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
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Figure, Workload, BenchContext } from './harness.js';
import { machine, fmtValue, type Failure, type Machine } from './report.js';
import { ratioChart, formatRatio, formatRatioAgainst, barStatus, type RatioBar } from './chart.js';
import {
  runErlang, runPiscina, generatorPingPong, generatorRing, generatorIdleMemory, postMessageOneWay, postMessagePingPong,
  JS_CEILING_COUNTS, ERLANG_MISSING, type ErlangResult, type PiscinaResult,
} from '../native-bench/index.js';

const SCRIPT = fileURLToPath(import.meta.url);
/** dist/bench/compare.js -> the repository root. */
const ROOT = resolve(dirname(SCRIPT), '..', '..');
const SAB_RING = resolve(dirname(SCRIPT), '..', 'native-bench', 'sab-ring.js');

/** Our workloads, in bench/run.ts's order (the names `--only` takes). */
const OUR_WORKLOADS = [
  'spawn-exit', 'hold', 'ping-pong', 'ring', 'fan-in', 'ping-pong-table', 'ring-table', 'job-runner', 'transport',
  'cpu-scaling', 'spawn-burst', 'parallel',
] as const;
type OurWorkload = (typeof OUR_WORKLOADS)[number];

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

interface OursResult { figures: Figure[]; failures: Failure[] }

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

// ---- the references --------------------------------------------------------------------------------

type Beam = ErlangResult['results'];

interface JsGenerators { pingPong: number; ring: number; idleBytes: number }
interface PostMessage { oneWay: number; pingPong: number; pingPongP50Us: number }

/** sab-ring.js figures (median of its passes): msgs/s one-way, round trips/s ping-pong. */
interface SabRing {
  oneWay16: SabCase;
  oneWay256: SabCase;
  pingPong16: SabCase;
}
interface SabCase { plain: number; write: number; offer: number }

/** Everything measured in one round; a source that failed or was skipped has an entry in `errors`. */
interface Round {
  ours: Partial<Record<OurWorkload, OursResult>>;
  beam?: Beam;
  gen?: JsGenerators;
  post?: PostMessage;
  piscina?: PiscinaResult;
  sab?: SabRing;
  errors: Partial<Record<RefSource, string>>;
}

type RefSource = 'beam' | 'gen' | 'post' | 'piscina' | 'sab';

/** Runs `fn` twice and keeps the second, warm pass (the first compiles the hot loops). */
async function warm<T>(fn: () => T | Promise<T>): Promise<T> {
  await fn();
  return fn();
}

async function runJsGenerators(div: number): Promise<JsGenerators> {
  const c = JS_CEILING_COUNTS;
  const pp = await warm(() => generatorPingPong({ n: c.generatorPingPong / div }));
  const ring = await warm(() => generatorRing({ size: c.ringSize, hops: c.ringHops / div }));
  // Always 100k actors, as js-ceilings.ts does: fewer make the heap delta noisier.
  const mem = generatorIdleMemory({ n: c.idleActors });
  return { pingPong: pp.ops, ring: ring.ops, idleBytes: mem.bytes_per_actor };
}

async function runPostMessage(div: number): Promise<PostMessage> {
  const c = JS_CEILING_COUNTS;
  const oneWay = await postMessageOneWay({ n: c.postMessageOneWay / div });
  const pp = await postMessagePingPong({ n: c.postMessagePingPong / div });
  return { oneWay: oneWay.ops, pingPong: pp.ops, pingPongP50Us: pp.p50_us };
}

/** "3.96 M" / "480.1 k" -> a number. */
function parseRate(s: string): number {
  const m = /^([\d.]+) ([Mk])$/.exec(s.trim());
  if (!m) throw new Error(`sab-ring: cannot read rate "${s}"`);
  return Number(m[1]) * (m[2] === 'M' ? 1e6 : 1e3);
}

/**
 * sab-ring.ts exports nothing and prints a text report, so it runs as a child and its report is
 * parsed: a heading per case, then one line per kind with the median first.
 */
async function runSabRing(quick: boolean): Promise<SabRing> {
  const text = await new Promise<string>((done, fail) => {
    const child = spawn(process.execPath, [SAB_RING, ...(quick ? ['--quick'] : [])], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => { out += s; });
    child.stderr.setEncoding('utf8').on('data', (s: string) => { err += s; });
    child.on('close', (code) => (code === 0 ? done(out) : fail(new Error(`sab-ring exited with ${code}: ${err.trim().slice(-500)}`))));
  });
  const cases: Record<string, Partial<SabCase>> = {};
  let current: Partial<SabCase> | undefined;
  for (const ln of text.split('\n')) {
    const head = /^(one-way, 16-byte|one-way, 256-byte|ping-pong, 16-byte) messages/.exec(ln);
    if (head) { current = cases[head[1]!] = {}; continue; }
    const row = /^\s+(plain SAB ring \(ceiling\)|SpscRing write\(\)|SpscRing offer\(\)\/pump\(\))\s+([\d.]+ [Mk])/.exec(ln);
    if (row && current) {
      const key = row[1]!.startsWith('plain') ? 'plain' : row[1]!.includes('offer') ? 'offer' : 'write';
      current[key] = parseRate(row[2]!);
    }
  }
  const get = (name: string): SabCase => {
    const c = cases[name];
    if (!c || c.plain === undefined || c.write === undefined || c.offer === undefined) {
      throw new Error(`sab-ring: case "${name}" missing from its output`);
    }
    return c as SabCase;
  };
  return { oneWay16: get('one-way, 16-byte'), oneWay256: get('one-way, 256-byte'), pingPong16: get('ping-pong, 16-byte') };
}

// ---- the comparisons ---------------------------------------------------------------------------------

/** One side of a comparison: a figure of ours or of a reference, read from a round. */
interface Side {
  source: 'ours' | RefSource;
  /** The workload whose failure explains a missing figure (our side). */
  workload?: OurWorkload;
  what: string;
  unit: string;
  value: (r: Round) => number | undefined;
}

interface Comparison {
  group: string;
  label: string;
  /** A shorter label for the chart, whose label column fits ~60 characters. */
  chartLabel?: string;
  ours: Side;
  ref: Side;
  /** Bytes: the ratio is reference ÷ ours, so that larger is still better. */
  inverted?: boolean;
  /**
   * The row's ratio is a figure of its own (already a ratio, e.g. 2 workers ÷ 1 worker measured by
   * cpu-scaling), read per round, instead of ours ÷ reference; `ours` and `ref` are then shown for
   * reading it against.
   */
  ratio?: (r: Round) => number | undefined;
  target?: number;
  /** The issue's wording of the target. */
  targetText?: string;
}

/** Value of the first figure of `workload` in the round that passes `pick`. */
function ourFigure(r: Round, workload: OurWorkload, pick: (f: Figure) => boolean): number | undefined {
  return r.ours[workload]?.figures.find(pick)?.value;
}

function oursSide(workload: OurWorkload, what: string, unit: string, pick: (f: Figure) => boolean): Side {
  return { source: 'ours', workload, what, unit, value: (r) => ourFigure(r, workload, pick) };
}

function comparisons(W: number, quick: boolean): Comparison[] {
  const beam = (what: string, unit: string, value: (b: Beam) => number): Side =>
    ({ source: 'beam', what: `BEAM ${what}, ${W} schedulers`, unit, value: (r) => (r.beam ? value(r.beam) : undefined) });
  const gen = (what: string, unit: string, value: (g: JsGenerators) => number): Side =>
    ({ source: 'gen', what: `JS generator actors: ${what}`, unit, value: (r) => (r.gen ? value(r.gen) : undefined) });
  const post = (what: string, unit: string, value: (p: PostMessage) => number): Side =>
    ({ source: 'post', what: `postMessage ${what}`, unit, value: (r) => (r.post ? value(r.post) : undefined) });
  const sab = (what: string, unit: string, value: (s: SabRing) => number): Side =>
    ({ source: 'sab', what, unit, value: (r) => (r.sab ? value(r.sab) : undefined) });
  const piscina = (what: string, unit: string, value: (p: PiscinaResult) => number | undefined): Side =>
    ({ source: 'piscina', what: `piscina, ${W} threads: ${what}`, unit, value: (r) => (r.piscina ? value(r.piscina) : undefined) });
  const workers = (n: number) => (f: Figure) => f.workers === n;
  const wl = W === 1 ? '1 worker' : `${W} workers`;

  const G1 = 'Spawn and memory';
  const G2 = 'Messaging';
  const G3 = 'Messaging, 10-field table payload';
  const G4 = 'Job runner';
  const G5 = 'Transport';
  const G6 = 'Multi-worker (own ratios, not ÷ a reference)';
  // cpu-scaling, spawn-burst and parallel compare 1 worker with max(2, all workers) (bench/scaling.ts,
  // bench/parallel.ts).
  const M = Math.max(2, W);
  const fig = (workload: 'cpu-scaling' | 'spawn-burst' | 'parallel', pick: (f: Figure) => boolean) => (r: Round) => ourFigure(r, workload, pick);
  const cpu = (variant: string) => fig('cpu-scaling', (f) => f.variant === variant);
  const rawRatio: Side = {
    source: 'ours', workload: 'cpu-scaling', unit: '×', value: cpu(`raw wasmoon · ${M}/1`),
    what: `raw wasmoon (no runtime, no hook): the same loop on ${M} plain worker_threads ÷ 1 thread, measured in the same cpu-scaling rounds (the machine's ceiling; median of per-round ratios)`,
  };
  const cpuRatio = (hook: 'on' | 'off'): Side => ({
    source: 'ours', workload: 'cpu-scaling', unit: '×', value: cpu(`hook ${hook} · ${M}/1`),
    what: `cpu-scaling, hook ${hook}${hook === 'off' ? ' (max_reductions 0, max_memory_mb 0)' : ' (default limits)'}: ` +
      `8 CPU-bound processes, throughput on ${M} workers ÷ on 1 (median of per-round ratios)`,
  });
  const parallelSide = (n: number): Side => ({
    source: 'ours', workload: 'parallel', unit: 'ops/s', value: fig('parallel', (f) => f.unit === 'ops/s' && f.workers === n),
    what: `parallel, ${n === 1 ? '1 worker' : `${n} workers`}: 2 rings of 1,000, 8 ping-pong pairs and 2 spawn+exit drivers at once, ` +
      'hops + round trips + spawns per second (median over its rounds)',
  });
  const burstN = quick ? '20k' : '100k';
  const even = 100 / M;
  const burstShare: Side = {
    source: 'ours', workload: 'spawn-burst', unit: '%', value: fig('spawn-burst', (f) => f.unit === '%'),
    what: `spawn-burst, ${M} workers: smallest share of ${burstN} processes spawned by one process on a worker (rt.stats() once all are alive, or after 5 s)`,
  };
  const evenShare: Side = {
    source: 'ours', workload: 'spawn-burst', unit: '%', value: (r) => (burstShare.value(r) === undefined ? undefined : even),
    what: `an even split: 100% ÷ ${M} workers`,
  };
  const on = (n: number, variant?: RegExp) => (f: Figure) => f.workers === n && (!variant || variant.test(f.variant));
  const twoByOne: Array<[OurWorkload, string, string, (f: Figure) => boolean, (f: Figure) => boolean]> = [
    ['spawn-exit', 'spawn + exit', 'processes/s', on(M), on(1)],
    ['hold', 'spawn until blocked in receive', 'processes/s', (f) => on(M)(f) && f.unit === 'processes/s', (f) => on(1)(f) && f.unit === 'processes/s'],
    ['ring', `ring of 1,000 (${M} rings ÷ 1)`, 'hops/s', on(M), on(1)],
    ['fan-in', 'fan-in (senders placed by the peer rule)', 'messages/s', on(M, /^\d+ workers$/), on(1)],
    ['ping-pong-table', `ping-pong, table payload (${M} same-worker pairs ÷ 1)`, 'round trips/s', on(M, /same-worker pairs/), on(1, /same worker/)],
    ['ring-table', `ring of 1,000, table token (${M} rings ÷ 1)`, 'hops/s', on(M), on(1)],
  ];
  return [
    {
      group: G1, label: `spawn + exit, ${wl} ÷ BEAM`, target: 0.5, targetText: 'spawn+exit ≥ 0.5× BEAM',
      ours: oursSide('spawn-exit', `spawn-exit, ${wl}`, 'processes/s', workers(W)),
      ref: beam('spawn_exit (batches of 1,000)', 'processes/s', (b) => b.spawn_exit.ops),
    },
    {
      group: G1, label: 'spawn + exit, 1 worker ÷ BEAM',
      ours: oursSide('spawn-exit', 'spawn-exit, 1 worker', 'processes/s', workers(1)),
      ref: beam('spawn_exit (batches of 1,000)', 'processes/s', (b) => b.spawn_exit.ops),
    },
    // The RSS row against BEAM reads hold's marginal figure (N more processes spawned on top of N
    // held ones, Δ RSS ÷ N): BEAM's is erlang:memory(processes) per process, the processes' own
    // memory and none of the VM's, while the first batch's Δ RSS also holds what a runtime pays
    // once when it starts to hold processes (about half of it: Node 24, N = 10,000, 1 worker
    // 4,081 bytes first batch against 2,032 marginal, 2 workers 4,286 against 2,123: the main
    // thread's C heap, the node binary's code paged in, the workers' V8 heaps and arenas;
    // docs/design/native-core.md, "Memory per process", which also says why the marginal figure
    // is a lower bound). The first batch stays as its own row.
    {
      group: G1, label: 'bytes per idle process (RSS, marginal): BEAM ÷ ours', inverted: true, target: 1.0,
      targetText: 'memory per idle process ≤ 1.0× BEAM’s',
      ours: oursSide('hold', `hold, ${wl}: RSS per blocked process, marginal (N more on top of N)`, 'bytes',
        (f) => f.workers === W && /^RSS per blocked process, marginal/.test(f.figure)),
      ref: beam('idle_memory: erlang:memory(processes) per process', 'bytes', (b) => b.idle_memory.bytes_per_process),
    },
    {
      group: G1, label: 'bytes per idle process (RSS, first batch): BEAM ÷ ours', inverted: true,
      ours: oursSide('hold', `hold, ${wl}: RSS per blocked process, first N (whole Node process)`, 'bytes',
        (f) => f.workers === W && /^RSS per blocked process \(whole/.test(f.figure)),
      ref: beam('idle_memory: erlang:memory(processes) per process', 'bytes', (b) => b.idle_memory.bytes_per_process),
    },
    {
      group: G1, label: 'bytes per idle process (Lua heap only): BEAM ÷ ours', inverted: true,
      ours: oursSide('hold', `hold, ${wl}: Lua heap per blocked process`, 'bytes', (f) => f.workers === W && /Lua heap/.test(f.figure)),
      ref: beam('idle_memory: erlang:memory(processes) per process', 'bytes', (b) => b.idle_memory.bytes_per_process),
    },
    {
      group: G1, label: 'bytes per idle process (RSS, first batch): JS generator ÷ ours', inverted: true,
      ours: oursSide('hold', `hold, ${wl}: RSS per blocked process, first N (whole Node process)`, 'bytes',
        (f) => f.workers === W && /^RSS per blocked process \(whole/.test(f.figure)),
      ref: gen('heap per idle actor', 'bytes', (g) => g.idleBytes),
    },
    {
      group: G1, label: `spawn until blocked in receive, ${wl} ÷ BEAM`,
      ours: oursSide('hold', `hold, ${wl}: spawn rate`, 'processes/s', (f) => f.workers === W && f.unit === 'processes/s'),
      ref: beam('idle_memory spawn rate', 'processes/s', (b) => b.idle_memory.spawn_rate),
    },

    {
      group: G2, label: 'ping-pong, same worker ÷ BEAM', target: 0.1, targetText: 'ping-pong ≥ 0.1× BEAM',
      ours: oursSide('ping-pong', 'ping-pong, one pair on one worker', 'round trips/s', (f) => f.workers === 1 && /same worker/.test(f.variant)),
      ref: beam('ping_pong', 'round trips/s', (b) => b.ping_pong.ops),
    },
    {
      group: G2, label: 'ping-pong, across workers ÷ BEAM', target: 0.1, targetText: 'ping-pong ≥ 0.1× BEAM',
      ours: oursSide('ping-pong', 'ping-pong, one pair across workers', 'round trips/s', (f) => /across/.test(f.variant)),
      ref: beam('ping_pong', 'round trips/s', (b) => b.ping_pong.ops),
    },
    {
      group: G2, label: 'ping-pong, same worker ÷ JS generators',
      ours: oursSide('ping-pong', 'ping-pong, one pair on one worker', 'round trips/s', (f) => f.workers === 1 && /same worker/.test(f.variant)),
      ref: gen('ping-pong, one thread', 'round trips/s', (g) => g.pingPong),
    },
    {
      group: G2, label: 'ping-pong, across workers ÷ postMessage',
      ours: oursSide('ping-pong', 'ping-pong, one pair across workers', 'round trips/s', (f) => /across/.test(f.variant)),
      ref: post('ping-pong, main ↔ worker', 'round trips/s', (p) => p.pingPong),
    },
    {
      group: G2, label: 'ring of 1,000, 1 worker ÷ BEAM',
      ours: oursSide('ring', 'ring, 1 worker', 'hops/s', workers(1)),
      ref: beam('ring of 1,000', 'hops/s', (b) => b.ring.ops),
    },
    {
      group: G2, label: `ring of 1,000, ${W} rings on ${wl} ÷ BEAM`,
      ours: oursSide('ring', `ring, ${W} rings on ${wl} (sum)`, 'hops/s', workers(W)),
      ref: beam('ring of 1,000 (one ring)', 'hops/s', (b) => b.ring.ops),
    },
    {
      group: G2, label: 'ring of 1,000, 1 worker ÷ JS generators',
      ours: oursSide('ring', 'ring, 1 worker', 'hops/s', workers(1)),
      ref: gen('ring of 1,000, one thread', 'hops/s', (g) => g.ring),
    },
    {
      group: G2, label: `fan-in, ${wl} ÷ BEAM`, target: 0.5, targetText: 'fan-in ≥ 0.5× BEAM',
      ours: oursSide('fan-in', `fan-in, ${wl} (senders spawned with the receiver's PID: placed by the peer rule)`, 'messages/s', workers(W)),
      ref: beam('fan_in', 'messages/s', (b) => b.fan_in.ops),
    },
    {
      group: G2, label: 'fan-in, 1 worker ÷ BEAM',
      ours: oursSide('fan-in', 'fan-in, 1 worker', 'messages/s', workers(1)),
      ref: beam('fan_in', 'messages/s', (b) => b.fan_in.ops),
    },

    {
      group: G3, label: 'ping-pong, same worker ÷ BEAM (map)',
      ours: oursSide('ping-pong-table', 'ping-pong-table, one pair on one worker', 'round trips/s', (f) => f.workers === 1 && /same worker/.test(f.variant)),
      ref: beam('ping_pong_map', 'round trips/s', (b) => b.ping_pong_map.ops),
    },
    {
      group: G3, label: 'ping-pong, across workers ÷ BEAM (map)',
      ours: oursSide('ping-pong-table', 'ping-pong-table, one pair across workers', 'round trips/s', (f) => /across/.test(f.variant)),
      ref: beam('ping_pong_map', 'round trips/s', (b) => b.ping_pong_map.ops),
    },
    {
      group: G3, label: 'ring of 1,000, 1 worker ÷ BEAM (map)',
      ours: oursSide('ring-table', 'ring-table, 1 worker', 'hops/s', workers(1)),
      ref: beam('ring_map', 'hops/s', (b) => b.ring_map.ops),
    },
    {
      group: G3, label: `ring of 1,000, ${W} rings on ${wl} ÷ BEAM (map)`,
      ours: oursSide('ring-table', `ring-table, ${W} rings on ${wl} (sum)`, 'hops/s', workers(W)),
      ref: beam('ring_map (one ring)', 'hops/s', (b) => b.ring_map.ops),
    },

    // Ours at 64 in flight is driven by native-bench/inflight.ts (64 loops each awaiting one job);
    // piscina's reference of the issue's target is all tasks submitted at once (its natural use),
    // and its 64-in-flight phase is driven by the same inflight.ts: the like-for-like row. The
    // tinybench-driven figure is the one this row showed until session 9 (bench/jobs.ts says why).
    {
      group: G4, label: `job runner, ${wl}, 64 in flight ÷ piscina`, target: 4, targetText: 'job runner ≥ 4× piscina’s jobs/s',
      ours: oursSide('job-runner', `job-runner, ${wl}, rt.exec, 64 in flight, plain driver`, 'jobs/s', (f) => f.workers === W && f.figure === 'rt.exec x*x, 64 in flight, plain driver'),
      ref: piscina('all tasks submitted at once', 'jobs/s', (p) => p.ops),
    },
    {
      group: G4, label: `job runner, ${wl}, 64 in flight ÷ piscina 64 in flight (same driver)`,
      ours: oursSide('job-runner', `job-runner, ${wl}, rt.exec, 64 in flight, plain driver`, 'jobs/s', (f) => f.workers === W && f.figure === 'rt.exec x*x, 64 in flight, plain driver'),
      ref: piscina('64 in flight, the same driver', 'jobs/s', (p) => p.inFlight?.ops),
    },
    {
      group: G4, label: `job runner, ${wl}, 64 in flight by tinybench ÷ piscina (the row until session 9)`,
      ours: oursSide('job-runner', `job-runner, ${wl}, rt.exec, 64 in flight, tinybench driver`, 'jobs/s',
        (f) => f.workers === W && f.figure === 'rt.exec x*x, 64 in flight'),
      ref: piscina('all tasks submitted at once', 'jobs/s', (p) => p.ops),
    },
    {
      group: G4, label: 'job runner, 1 worker, 64 in flight ÷ piscina',
      ours: oursSide('job-runner', 'job-runner, 1 worker, rt.exec, 64 in flight, plain driver', 'jobs/s', (f) => f.workers === 1 && f.figure === 'rt.exec x*x, 64 in flight, plain driver'),
      ref: piscina('all tasks submitted at once', 'jobs/s', (p) => p.ops),
    },
    {
      group: G4, label: `job runner, ${wl}, 1 in flight (1/p50) ÷ piscina`,
      ours: oursSide('job-runner', `job-runner, ${wl}, one job at a time, 1/p50`, 'jobs/s', (f) => f.workers === W && /1 in flight/.test(f.figure)),
      ref: piscina('one task at a time, 1/p50', 'jobs/s', (p) => 1e6 / p.p50_us),
    },

    {
      group: G5, label: 'raw ring, SpscRing write(), 16 B ÷ plain SAB ring', target: 0.5,
      targetText: 'raw transport ≥ 50% of the SAB ring ceiling, 16-byte payloads',
      ours: { source: 'sab', what: 'SpscRing write(), one-way, 16-byte messages', unit: 'msgs/s', value: (r) => r.sab?.oneWay16.write },
      ref: sab('plain SAB ring (ceiling), one-way, 16-byte messages', 'msgs/s', (s) => s.oneWay16.plain),
    },
    {
      group: G5, label: 'raw ring, SpscRing offer()/pump(), 16 B ÷ plain', target: 0.5,
      targetText: 'raw transport ≥ 50% of the SAB ring ceiling, 16-byte payloads',
      ours: { source: 'sab', what: 'SpscRing offer()/pump() (the runtime’s path), one-way, 16-byte messages', unit: 'msgs/s', value: (r) => r.sab?.oneWay16.offer },
      ref: sab('plain SAB ring (ceiling), one-way, 16-byte messages', 'msgs/s', (s) => s.oneWay16.plain),
    },
    {
      group: G5, label: 'raw ring, SpscRing write(), 256 B ÷ plain',
      ours: { source: 'sab', what: 'SpscRing write(), one-way, 256-byte messages', unit: 'msgs/s', value: (r) => r.sab?.oneWay256.write },
      ref: sab('plain SAB ring (ceiling), one-way, 256-byte messages', 'msgs/s', (s) => s.oneWay256.plain),
    },
    {
      group: G5, label: 'raw ring, ping-pong 16 B, SpscRing ÷ plain',
      ours: { source: 'sab', what: 'SpscRing write(), ping-pong, 16-byte messages', unit: 'round trips/s', value: (r) => r.sab?.pingPong16.write },
      ref: sab('plain SAB ring (ceiling), ping-pong, 16-byte messages', 'round trips/s', (s) => s.pingPong16.plain),
    },
    {
      group: G5, label: 'Lua → Lua across workers ÷ same worker', target: 0.8,
      targetText: 'Lua → Lua across workers ≥ 0.8× the same-worker throughput',
      ours: oursSide('transport', 'transport, Lua → Lua across workers (process.send; median of its passes)', 'msgs/s', (f) => f.variant === 'Lua → Lua, across workers'),
      ref: oursSide('transport', 'transport, Lua → Lua on one worker (process.send in-VM; the same rounds, passes alternating)', 'msgs/s', (f) => /^Lua → Lua, same worker/.test(f.variant)),
      ratio: (r) => ourFigure(r, 'transport', (f) => f.variant === 'Lua → Lua, across ÷ same worker'),
    },
    {
      group: G5, label: 'Lua → Lua across workers ÷ plain SAB ring (16 B)',
      ours: oursSide('transport', 'transport, Lua → Lua across workers (process.send)', 'msgs/s', (f) => f.variant === 'Lua → Lua, across workers'),
      ref: sab('plain SAB ring (ceiling), one-way, 16-byte messages', 'msgs/s', (s) => s.oneWay16.plain),
    },
    {
      group: G5, label: `JS → Lua (rt.send), ${wl} ÷ postMessage`,
      ours: oursSide('transport', `transport, JS → Lua, ${wl}`, 'msgs/s', (f) => f.workers === W && /JS → Lua/.test(f.variant)),
      ref: post('one-way, main → worker', 'msgs/s', (p) => p.oneWay),
    },

    {
      group: G6, label: `CPU-bound Lua, ${M} workers ÷ 1 worker (budget hook on)`, target: 1.8,
      chartLabel: `CPU-bound Lua, ${M} ÷ 1 workers, hook on`,
      targetText: `CPU-bound processes on ${M} workers ≥ 1.8× the throughput of 1 worker`,
      ours: cpuRatio('on'), ref: rawRatio, ratio: cpuRatio('on').value,
    },
    {
      group: G6, label: `CPU-bound Lua, ${M} workers ÷ 1 worker (hook off: max_reductions 0, max_memory_mb 0)`,
      chartLabel: `CPU-bound Lua, ${M} ÷ 1 workers, hook off (limits 0)`,
      ours: cpuRatio('off'), ref: rawRatio, ratio: cpuRatio('off').value,
    },
    {
      group: G6, label: `CPU-bound Lua, scaling efficiency, hook on: ours ${M} ÷ 1 ÷ raw ${M} ÷ 1`,
      chartLabel: `CPU-bound, hook on: ours ${M} ÷ 1 ÷ raw ${M} ÷ 1`,
      ours: cpuRatio('on'), ref: rawRatio, ratio: cpu('hook on · vs raw'),
    },
    {
      group: G6, label: `CPU-bound Lua, scaling efficiency, hook off: ours ${M} ÷ 1 ÷ raw ${M} ÷ 1`,
      chartLabel: `CPU-bound, hook off: ours ${M} ÷ 1 ÷ raw ${M} ÷ 1`,
      ours: cpuRatio('off'), ref: rawRatio, ratio: cpu('hook off · vs raw'),
    },
    {
      group: G6, label: `parallel independent work, ${M} workers ÷ 1 worker`, target: 1.7,
      chartLabel: `parallel independent work, ${M} ÷ 1 workers`,
      targetText: `independent groups (rings, ping-pong pairs, spawn+exit drivers) on ${M} workers ≥ 1.7× the throughput of 1 worker`,
      ours: parallelSide(M), ref: parallelSide(1), ratio: fig('parallel', (f) => f.variant === `${M}/1`),
    },
    // Issue 15: every message-heavy workload on M workers ≥ its 1-worker figure. Each row divides
    // the workload's own M-worker figure by its 1-worker figure in the same round; ring, ring-table
    // and ping-pong-table run one group per worker on M workers (their rows above say "sum"), the
    // others one group placed by the runtime (spawn-exit, hold: one driver; fan-in: senders
    // spawned beside the receiver).
    ...twoByOne.map(([workload, what, unit, pickM, pick1]): Comparison => ({
      group: G6, label: `${what}, ${M} workers ÷ 1 worker`, target: 1,
      chartLabel: `${what}, ${M} ÷ 1 workers`,
      targetText: `a message-heavy workload on ${M} workers ≥ its 1-worker figure`,
      ours: oursSide(workload, `${workload}, ${M} workers`, unit, pickM),
      ref: oursSide(workload, `${workload}, 1 worker`, unit, pick1),
    })),
    {
      group: G6, label: `${burstN} spawn burst: smallest share on a worker ÷ even share (${formatRatio(even)}%)`, target: 0.8,
      chartLabel: `${burstN} spawn burst: smallest share ÷ even (${formatRatio(even)}%)`,
      targetText: `a spawn burst from one process lands ≥ ${formatRatio(0.8 * even)}% on each of ${M} workers (0.8× an even share)`,
      ours: burstShare, ref: evenShare,
    },
  ];
}

// ---- ratios -------------------------------------------------------------------------------------------

/** Median; for an even count the geometric mean of the middle two (these are ratios and rates). */
function middle(xs: number[]): number | undefined {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 === 1 ? s[h] : Math.sqrt(s[h - 1]! * s[h]!);
}

interface Outcome {
  group: string;
  label: string;
  chartLabel: string;
  ours: { what: string; unit: string; values: Array<number | null>; median: number | null };
  reference: { what: string; unit: string; values: Array<number | null>; median: number | null };
  inverted: boolean;
  /** The ratio is a figure of its own (e.g. 2 ÷ 1 workers), not ours ÷ reference. */
  direct: boolean;
  /** Per round, where both sides were measured. */
  ratios: number[];
  ratio: number | null;
  range: [number, number] | null;
  target: number | null;
  targetText: string | null;
  status: 'met' | 'missed' | 'no target' | 'n/a';
  /** Why there is no ratio. */
  note: string | null;
}

const SOURCE_NAMES: Record<RefSource, string> = {
  beam: 'BEAM', gen: 'JS generator actors', post: 'postMessage', piscina: 'piscina', sab: 'SAB ring',
};

function missingReason(side: Side, rounds: Round[]): string {
  if (side.source === 'ours') {
    const failure = rounds.flatMap((r) => r.ours[side.workload!]?.failures ?? [])[0];
    return failure ? `${side.workload} failed: ${failure.error}` : `${side.workload}: figure not found`;
  }
  const err = rounds.map((r) => r.errors[side.source as RefSource]).find((e) => e !== undefined);
  return err ? `${SOURCE_NAMES[side.source as RefSource]}: ${err}` : `${SOURCE_NAMES[side.source as RefSource]}: not measured`;
}

function evaluate(c: Comparison, rounds: Round[]): Outcome {
  const ours = rounds.map((r) => c.ours.value(r) ?? null);
  const ref = rounds.map((r) => c.ref.value(r) ?? null);
  const ratios: number[] = [];
  for (let i = 0; i < rounds.length; i++) {
    if (c.ratio) {
      const x = c.ratio(rounds[i]!);
      if (x !== undefined && x > 0) ratios.push(x);
      continue;
    }
    const o = ours[i];
    const t = ref[i];
    if (o === null || t === null || !(o > 0) || !(t > 0)) continue;
    ratios.push(c.inverted ? t / o : o / t);
  }
  const ratio = middle(ratios) ?? null;
  let note: string | null = null;
  if (ratio === null) {
    const oursMissing = c.ratio !== undefined || ours.every((v) => v === null);
    note = oursMissing ? missingReason(c.ours, rounds) : missingReason(c.ref, rounds);
  }
  const bar: RatioBar = { label: c.label, ratio, target: c.target };
  const st = barStatus(bar);
  return {
    group: c.group,
    label: c.label,
    chartLabel: c.chartLabel ?? c.label,
    ours: { what: c.ours.what, unit: c.ours.unit, values: ours, median: middle(ours.filter((v): v is number => v !== null)) ?? null },
    reference: { what: c.ref.what, unit: c.ref.unit, values: ref, median: middle(ref.filter((v): v is number => v !== null)) ?? null },
    inverted: c.inverted === true,
    direct: c.ratio !== undefined,
    ratios,
    ratio,
    range: ratios.length > 0 ? [Math.min(...ratios), Math.max(...ratios)] : null,
    target: c.target ?? null,
    targetText: c.targetText ?? null,
    status: ratio === null ? 'n/a' : st === 'none' ? 'no target' : st,
    note,
  };
}

// ---- output -------------------------------------------------------------------------------------------

interface CompareResults {
  machine: Machine;
  quick: boolean;
  rounds: number;
  workers: number;
  argv: string[];
  seconds: number;
  /** Fraction of CPU time used by others in the second before the run (other work skews the figures). */
  cpuBusyBefore: number;
  references: { beam: string; piscina: string; node: string };
  outcomes: Outcome[];
  failures: Failure[];
  /** Everything measured, round by round (our figures with their details, the references' raw results). */
  raw: Round[];
}

const fmtRatio = (r: number | null, target?: number | null) => (r === null ? 'n/a' : `${formatRatioAgainst(r, target ?? undefined)}×`);
/** A side's value; ratios (unit "×") get a digit more when two decimals would round them onto the row's target. */
function fmtSide(v: number | null, unit: string, target: number | null = null): string {
  if (v === null) return 'n/a';
  if (unit !== '×') return `${fmtValue(v)} ${unit}`;
  const s = fmtValue(v);
  return target !== null && v !== target && s === fmtValue(target) ? `${formatRatioAgainst(v, target)}×` : `${s}×`;
}
function fmtRange(o: Outcome): string {
  const f = (r: number) => formatRatioAgainst(r, o.target ?? undefined);
  return o.range && o.ratios.length > 1 ? `${f(o.range[0])}–${f(o.range[1])}` : '';
}
function fmtTarget(o: Outcome): string {
  return o.target === null ? '' : `≥ ${formatRatio(o.target)}×`;
}

function textTable(r: CompareResults): string {
  const head = ['Comparison', 'Ours', 'Reference', 'Ratio', 'Range', 'Target', ''];
  const rows: string[][] = [];
  let group = '';
  for (const o of r.outcomes) {
    if (o.group !== group) { group = o.group; rows.push([`${group}:`, '', '', '', '', '', '']); }
    rows.push([`  ${o.label}`, fmtSide(o.ours.median, o.ours.unit, o.direct ? o.target : null), fmtSide(o.reference.median, o.reference.unit), fmtRatio(o.ratio, o.target), fmtRange(o), fmtTarget(o),
      o.status === 'met' ? 'met' : o.status === 'missed' ? 'MISSED' : o.status === 'n/a' ? (o.note ?? 'n/a') : '']);
  }
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => (i === 6 ? 0 : row[i]!.length))));
  const right = new Set([1, 2, 3, 4]);
  const line = (row: string[]) => row.map((c, i) => (i === 6 ? c : right.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [
    `wippy-ts bench:compare${r.quick ? ' --quick' : ''}, ${r.rounds} round(s): ${r.machine.cpuModel} × ${r.machine.cpuCount}; ` +
      `Node ${r.machine.node}; ${r.references.beam}; commit ${r.machine.commit}${r.machine.dirty ? '+' : ''}`,
    'Ratios: ours ÷ reference (reference ÷ ours for bytes); larger is better; median over the rounds.',
    'Multi-worker: the ratio is the row\'s own figure (2 ÷ 1 workers; ours ÷ raw ceiling; share ÷ even share); Reference = raw ceiling / even share, for reading against.',
    '',
    line(head),
    widths.slice(0, 6).map((w) => '-'.repeat(w)).join('  '),
    ...rows.map(line),
    '',
  ].join('\n');
}

const mdEsc = (s: string) => s.replace(/\|/g, '\\|');

function markdown(r: CompareResults, svgName: string): string {
  const m = r.machine;
  const out: string[] = [];
  out.push(`# wippy-ts bench:compare — ${m.date.slice(0, 10)}, Node ${m.node}${r.quick ? ' (--quick)' : ''}`, '');
  out.push(`- Machine: ${m.cpuModel} × ${m.cpuCount}, ${(m.totalMemBytes / 2 ** 30).toFixed(1)} GiB RAM, ${m.os} ${m.arch}`);
  out.push(`- Ours: Node ${m.node} (V8 ${m.v8}), wasmoon ${m.wasmoon}, tinybench ${m.tinybench}; "all workers" = ${r.workers}`);
  out.push(`- References: ${r.references.beam}; ${r.references.piscina}; JS ceilings on ${r.references.node}`);
  out.push(`- Commit ${m.commit}${m.dirty ? ' (working tree had uncommitted changes)' : ''}`);
  out.push(`- Command: \`node dist/bench/compare.js ${r.argv.join(' ')}\`; ${r.rounds} round(s), ${r.seconds.toFixed(0)} s in total; ` +
    `CPUs ${(r.cpuBusyBefore * 100).toFixed(0)}% busy in the second before`, '');
  out.push(`![ratios of wippy-ts to BEAM, piscina and the JS ceilings](${svgName})`, '');
  out.push('Ratios are ours ÷ reference, except bytes per process (reference ÷ ours), so larger is always better. ' +
    'Each is the median of the per-round ratios; the range is the lowest and highest round.', '');
  out.push('The **Multi-worker** rows are not ours ÷ a reference: their Ratio is the row\'s own figure, as its label says. ' +
    '"N workers ÷ 1 worker" is the throughput of 8 CPU-bound processes on N workers ÷ on 1 (`cpu-scaling`, target ≥ 1.8× with the default limits); ' +
    'its Reference column is the raw wasmoon ceiling (the same loop on N plain threads ÷ 1 thread, no runtime, measured in the same cpu-scaling rounds), shown to read it against, not divided by. ' +
    '"Scaling efficiency" is our N ÷ 1 ratio ÷ the raw N ÷ 1 ratio of the same cpu-scaling round, median over its rounds (so it is not exactly Ours ÷ Reference of the medians shown). ' +
    'The spawn burst row divides the smallest share of the burst on a worker by an even share (50% on 2 workers): 1× is an even split, the 40% target is 0.8×.', '');
  out.push('| Comparison | Ours | Reference | Ratio | Range | Target | |');
  out.push('|---|---:|---:|---:|---:|---:|---|');
  let group = '';
  for (const o of r.outcomes) {
    if (o.group !== group) { group = o.group; out.push(`| **${mdEsc(group)}** | | | | | | |`); }
    const verdict = o.status === 'met' ? '✅ met' : o.status === 'missed' ? '❌ missed' : o.status === 'n/a' ? mdEsc(o.note ?? 'n/a') : '';
    out.push(`| ${mdEsc(o.label)} | ${fmtSide(o.ours.median, o.ours.unit, o.direct ? o.target : null)} | ${fmtSide(o.reference.median, o.reference.unit)} | ` +
      `${fmtRatio(o.ratio, o.target)} | ${fmtRange(o)} | ${fmtTarget(o)} | ${verdict} |`);
  }
  out.push('', '## Targets (Node 24, 2 workers)', '');
  for (const o of r.outcomes.filter((x) => x.target !== null)) {
    const mark = o.status === 'met' ? '✅ met' : o.status === 'missed' ? '❌ missed' : '— n/a';
    out.push(`- ${mark}: ${mdEsc(o.targetText ?? '')} — ${mdEsc(o.label)}: ${fmtRatio(o.ratio, o.target)}${o.note ? ` (${mdEsc(o.note)})` : ''}`);
  }
  if (!m.node.startsWith('v24.') || r.workers !== 2) out.push('', `(The targets are set for Node 24 and 2 workers; this run used Node ${m.node} and ${r.workers}.)`);
  if (r.failures.length > 0) {
    out.push('', '## Failures', '');
    for (const f of r.failures) out.push(`- **${mdEsc(f.workload)} / ${mdEsc(f.variant)}**: ${mdEsc(f.error)}`);
  }
  out.push('', '## What is compared with what', '');
  out.push('| Comparison | Ours | Reference |');
  out.push('|---|---|---|');
  for (const o of r.outcomes) out.push(`| ${mdEsc(o.label)} | ${mdEsc(o.ours.what)} | ${mdEsc(o.reference.what)} |`);
  out.push('', '## How', '');
  out.push('- One run, interleaved: each round runs each of our workloads (`bench/`, one fresh Node process per workload) next to the references it is compared with; odd rounds run the sequence backwards. A ratio is taken per round, from figures measured minutes apart at most, and the median over the rounds is reported.');
  out.push(r.quick
    ? '- The counts are those of `npm run bench -- --quick` and of the references\' `--quick` (BEAM: median of 3 passes per round; JS generator actors: a warm pass after a warm-up; piscina: 20,000 tasks after 2,000 warm-up tasks, the same count as our job runner).'
    : '- The full counts of `npm run bench` and of the references (BEAM: median of 3 passes per round; JS generator actors: a warm pass after a warm-up; piscina: 100,000 tasks after 2,000 warm-up tasks, the same count as our job runner).');
  out.push('- Lua → Lua (`bench/transport.ts`): one sender process streams integers to a counter on its own worker and on another worker, in alternating passes inside the transport child (a fresh runtime each, 3 passes of each per round), each after an untimed warm-up of 100,000 (quick) messages; the across ÷ same row is the median of those per-pass ratios (target ≥ 0.8×), and the JSON has each side\'s CPU per message by thread and the parks and notifies per message of the timed part.');
  out.push('- The SAB ring ceiling (`native-bench/sab-ring.ts`, one pass per case with `--quick`) measures our `SpscRing` and the plain ring in one process, one after the other, every round. Spinning threads on a shared 2-core machine make single passes swing by up to 8×: read its rows through their range. Its "raw ring" rows are the issue\'s raw-transport target; the Lua → Lua row shows what the runtime adds on top of the ring (codec, scheduler, Lua).');
  out.push('- BEAM "bytes per process" is `erlang:memory(processes)` per idle process after GC: the processes\' own memory, none of the VM\'s. Ours, in the row with the target, is the marginal RSS of the whole Node process: N more blocked processes spawned on top of N held ones, Δ RSS ÷ N (Lua heap, allocator headers, wasm pages touched, JS bookkeeping: everything each further process costs). The first batch\'s Δ RSS ÷ N is its own row: it also holds what the runtime pays once when it starts holding processes (code paged in, the main thread\'s C heap, the workers\' V8 heaps and arenas). The Lua heap alone is a third row.');
  out.push('- "2 rings on 2 workers" is an aggregate over both workers; BEAM runs one ring on 2 schedulers. Fan-in on 2 workers spawns its senders from JS with the receiver\'s PID, so the runtime places them beside it (the peer rule, `src/runtime/spawn-place.ts`); its "senders spread" variant (in the JSON, not compared here) spawns them without it, round-robin, so half the messages cross threads.');
  out.push('- Multi-worker: `cpu-scaling` (`bench/scaling.ts`) runs in its own child every round with its ' + (r.quick ? '`--quick` counts (8 processes × 1M iterations, 5 internal rounds)' : 'full counts (8 processes × 3M iterations, 7 internal rounds)') +
    '; each internal round measures ours with the budget hook on and off on 1 and N workers and the raw wasmoon ceiling on 1 and N threads, round-robin, and the suite reports the medians of the per-round ratios. A row\'s value here is the median of those medians over our rounds; its range is the lowest and highest of them (the per-internal-round ratios are in the JSON, `raw[].ours["cpu-scaling"]`). On a 2-vCPU VM with a contended second core the raw ceiling itself often stays well under 2×: read the N ÷ 1 rows against it, and the efficiency rows for what the runtime loses.');
  out.push('- `parallel` (`bench/parallel.ts`): 2 rings of 1,000, 8 ping-pong pairs and 2 spawn+exit drivers run at once, every driver spawned from JS (round-robin over the workers) and spawning its own children; 1 worker and N workers alternate in its child over ' + (r.quick ? '3' : '5') + ' internal rounds, and its row is the median of the per-round N ÷ 1 ratios (target ≥ 1.7× on 2). Worker-to-worker frames during the timed part are in the JSON (`crossFrames`: 0 when every group stayed on its worker).');
  out.push('- `spawn-burst`: one process spawns ' + (r.quick ? '20,000 (`--quick`; 100,000 with `--full`)' : '100,000') + ' processes that block in `inbox:receive()`; the split over the workers is read from `rt.stats()` once all are alive or after 5 s (then the share is of all N, counting the ones not yet alive as on neither worker).');
  out.push('- Per-round values of every figure, and our figures\' details, are in the JSON file next to this one.');
  out.push('');
  return out.join('\n');
}

function chartSvg(r: CompareResults): string {
  const m = r.machine;
  const bars: RatioBar[] = r.outcomes.map((o) => ({
    group: o.group,
    label: o.chartLabel,
    ratio: o.ratio,
    range: o.range ?? undefined,
    target: o.target ?? undefined,
    note: o.note ?? undefined,
  }));
  return ratioChart(bars, {
    title: `wippy-ts vs BEAM, piscina and the JS ceilings — Node ${m.node}, ${r.workers} workers`,
    subtitle: [
      `${m.cpuModel} × ${m.cpuCount}, ${m.os}; commit ${m.commit}${m.dirty ? ' + uncommitted changes' : ''}; ${m.date.slice(0, 10)}`,
      `bench:compare${r.quick ? ' --quick' : ''}, ${r.rounds} interleaved round(s), median ratio per row; ${r.references.beam}; ${r.references.piscina}`,
      'ratio = ours ÷ reference (bytes per process: reference ÷ ours; multi-worker: as labelled): right of 1× is better',
    ],
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
