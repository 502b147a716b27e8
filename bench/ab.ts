// `node dist/bench/ab.js --a DIR --b DIR`: before/after of two built checkouts of this repository,
// or of one checkout under two environments, interleaved, so a change's cost is read from one run
// on one machine rather than from two runs minutes apart.
//
//   node dist/bench/ab.js --a ../baseline --b . [--rounds N] [--only W1,W2] [--workers N]
//                         [--node PATH] [--full] [--out FILE.md]
//   node dist/bench/ab.js --a . --env-a WIPPY_LUA=wasmoon --env-b WIPPY_LUA=native ...
//
//   --a / --b      repository roots with `dist/` built (e.g. a `git worktree` of the old commit);
//                  either one alone means both sides run that checkout
//   --env-a K=V    an environment variable for side A's runs only (repeatable; the value may
//   --env-b K=V    contain "=" and may be empty); the rest of the environment is this process's
//   --rounds N     interleaved rounds (default 5); odd rounds run B before A, so a slow drift of
//                  the machine does not always favour one side
//   --only         workloads (default: the message-heavy ones and the job runner)
//   --node PATH    the Node binary both sides run under (default: this one)
//   --full         the full counts instead of --quick
//   --out FILE     also write the table as Markdown
//
// Each (round, workload, side) is a fresh `dist/bench/run.js --only W` process of that checkout,
// writing its JSON under the checkout's bench/results/ (the path is read from its stderr; the file
// is removed once read). For
// every figure the ratio B ÷ A is taken per round from the two figures of that round and the
// median over rounds is reported with its range — the same method as bench:compare.
// Each side's kernel is checked before the first round (its dist built from its src:
// bench/checkout.ts) and again after every run of it: a side rebuilt during the rounds stops the
// run with an error rather than mixing two kernels' figures into one column.
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { resolve, join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Figure } from './harness.js';
import { checkBuilt, checkUnchanged } from './checkout.js';

const DEFAULT_ONLY = ['spawn-exit', 'hold', 'ping-pong', 'ring', 'fan-in', 'ping-pong-table', 'ring-table', 'job-runner'];

export interface Args {
  a: string; b: string; envA: Record<string, string>; envB: Record<string, string>;
  rounds: number; only: string[]; workers: number; node: string; quick: boolean; out?: string;
}

/** A bad command line; `main` prints it with the usage line and exits 2. */
export class UsageError extends Error {}

/** `K=V` of --env-a/--env-b into `into`; the name must be a plain environment variable name. */
function addEnv(into: Record<string, string>, flag: string, pair: string): void {
  const eq = pair.indexOf('=');
  const name = eq < 0 ? pair : pair.slice(0, eq);
  if (eq < 0 || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
    throw new UsageError(`${flag} ${JSON.stringify(pair)}: expected NAME=VALUE (NAME of letters, digits and _)`);
  }
  into[name] = pair.slice(eq + 1);
}

/** The command line (without node and the script) as Args; throws UsageError naming the argument. */
export function parseArgs(argv: string[]): Args {
  const a: Partial<Args> = { envA: {}, envB: {}, rounds: 5, only: DEFAULT_ONLY, workers: 2, node: process.execPath, quick: true };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`${arg} needs a value`);
      return v;
    };
    if (arg === '--a') a.a = resolve(value());
    else if (arg === '--b') a.b = resolve(value());
    else if (arg === '--env-a') addEnv(a.envA!, arg, value());
    else if (arg === '--env-b') addEnv(a.envB!, arg, value());
    else if (arg === '--rounds') a.rounds = Number(value());
    else if (arg === '--only') a.only = value().split(',').map((s) => s.trim()).filter(Boolean);
    else if (arg === '--workers') a.workers = Number(value());
    else if (arg === '--node') a.node = value();
    else if (arg === '--full') a.quick = false;
    else if (arg === '--out') a.out = value();
    else throw new UsageError(`unknown argument ${arg}`);
  }
  if (!a.a && !a.b) throw new UsageError('--a or --b is required (one alone: both sides run that checkout)');
  a.a ??= a.b; a.b ??= a.a;
  if (a.a === a.b && sameEnv(a.envA!, a.envB!)) {
    throw new UsageError('A and B are the same checkout with the same environment: give --b DIR or --env-a/--env-b');
  }
  if (!(Number.isInteger(a.rounds) && a.rounds! >= 1)) throw new UsageError('--rounds must be a positive integer');
  if (!(Number.isInteger(a.workers) && a.workers! >= 1)) throw new UsageError('--workers must be a positive integer');
  return a as Args;
}

function sameEnv(x: Record<string, string>, y: Record<string, string>): boolean {
  const kx = Object.keys(x), ky = Object.keys(y);
  return kx.length === ky.length && kx.every((k) => y[k] === x[k]);
}

/**
 * How a side is named in the table's header: its checkout (relative to the current directory, so
 * a table committed under bench/results/ names no machine's paths) and the variables it sets.
 */
export function describeSide(root: string, env: Record<string, string>): string {
  const vars = Object.entries(env).map(([k, v]) => `${k}=${v}`).join(' ');
  const dir = relative(process.cwd(), root) || '.';
  return vars ? `${dir} with ${vars}` : dir;
}

function usage(msg: string): never {
  process.stderr.write(`ab: ${msg}\n`);
  process.stderr.write('usage: node dist/bench/ab.js --a DIR [--b DIR] [--env-a K=V].. [--env-b K=V].. [--rounds N] [--only W,..] [--workers N] [--node PATH] [--full] [--out FILE]\n');
  process.exit(2);
}

/** One run of one workload in one checkout: its figures, keyed "workload · variant · figure". */
function runOnce(args: Args, side: 'a' | 'b', workload: string): Map<string, Figure> {
  const root = side === 'a' ? args.a : args.b;
  const cmd = [join(root, 'dist', 'bench', 'run.js'), '--only', workload, '--workers', String(args.workers)];
  if (args.quick) cmd.push('--quick');
  const env = { ...process.env, ...(side === 'a' ? args.envA : args.envB) };
  const r = spawnSync(args.node, cmd, { cwd: root, env, encoding: 'utf8', maxBuffer: 64 << 20 });
  const m = /results: (\S+\.json)/.exec(r.stderr ?? '');
  if (r.status !== 0 || !m) {
    process.stderr.write(`ab: ${workload} in ${describeSide(root, side === 'a' ? args.envA : args.envB)} failed (exit ${r.status}):\n${(r.stderr ?? '').slice(-2000)}\n`);
    return new Map();
  }
  const figures = (JSON.parse(readFileSync(m[1]!, 'utf8')) as { figures: Figure[] }).figures;
  // the run's own result files are scratch here: the A/B table is the result
  rmSync(m[1]!, { force: true });
  rmSync(m[1]!.replace(/\.json$/, '.md'), { force: true });
  const out = new Map<string, Figure>();
  for (const f of figures) {
    out.set(`${f.workload} · ${f.variant} · ${f.figure}`, f);
    // CPU time per operation (bench/harness.ts cpuSecondsSince): steadier than throughput when the
    // machine is shared, so it gets a row of its own
    const cpu = f.details?.['cpuUsPerOp'];
    if (typeof cpu === 'number') out.set(`${f.workload} · ${f.variant} · CPU per operation (whole process)`, { ...f, value: cpu, unit: 'CPU µs/op' });
    // the main thread's share of it, where a workload measures it (the job runner, bench/jobs.ts)
    const mainCpu = f.details?.['mainThreadCpuUsPerOp'];
    if (typeof mainCpu === 'number') out.set(`${f.workload} · ${f.variant} · CPU per operation (main thread)`, { ...f, value: mainCpu, unit: 'CPU µs/op' });
    // per worker thread, where a workload reads them (bench/threadcpu.ts; the transport's two
    // sides): details "threadCpuUsPerOp:<which thread>"
    for (const [k, v] of Object.entries(f.details ?? {})) {
      if (k.startsWith('threadCpuUsPerOp:') && typeof v === 'number') {
        out.set(`${f.workload} · ${f.variant} · CPU per operation (${k.slice(17)})`, { ...f, value: v, unit: 'CPU µs/op' });
      }
    }
  }
  return out;
}

function median(xs: number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Lower is better for these units (bytes, latencies); the ratio is then A ÷ B so > 1 is better. */
function lowerIsBetter(f: Figure): boolean {
  return /bytes|µs|ms\b/.test(f.unit);
}

function main(): void {
  let args: Args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (e) {
    if (e instanceof UsageError) usage(e.message);
    throw e;
  }
  const ratios = new Map<string, { a: number[]; b: number[]; r: number[]; unit: string }>();
  const digest = { a: checkBuilt(args.a), b: checkBuilt(args.b) };
  const load0 = loadavg()[0]!;
  const t0 = performance.now();
  for (let round = 0; round < args.rounds; round++) {
    for (const w of args.only) {
      const order: Array<'a' | 'b'> = round % 2 ? ['b', 'a'] : ['a', 'b'];
      const got: Record<'a' | 'b', Map<string, Figure>> = { a: new Map(), b: new Map() };
      for (const side of order) {
        got[side] = runOnce(args, side, w);
        checkUnchanged(side === 'a' ? args.a : args.b, digest[side], `during ${w} (round ${round + 1})`);
      }
      for (const [key, fa] of got.a) {
        const fb = got.b.get(key);
        if (!fb || !(fa.value > 0) || !(fb.value > 0)) continue;
        const row = ratios.get(key) ?? { a: [], b: [], r: [], unit: fa.unit };
        row.a.push(fa.value); row.b.push(fb.value);
        row.r.push(lowerIsBetter(fa) ? fa.value / fb.value : fb.value / fa.value);
        ratios.set(key, row);
      }
      process.stderr.write(`round ${round + 1}/${args.rounds} ${w} done\n`);
    }
  }
  const fmt = (x: number): string => x >= 100 ? Math.round(x).toLocaleString('en-US') : x.toPrecision(3);
  const lines = [
    `# A/B: ${describeSide(args.b, args.envB)} (B) against ${describeSide(args.a, args.envA)} (A)`, '',
    `Node ${spawnSync(args.node, ['--version'], { encoding: 'utf8' }).stdout.trim()}, ${args.workers} workers, ` +
      `${args.rounds} interleaved rounds${args.quick ? ' (--quick counts)' : ''}, ` +
      `${((performance.now() - t0) / 1000).toFixed(0)} s; 1-min load average ${load0.toFixed(2)} before, ${loadavg()[0]!.toFixed(2)} after.`,
    'Ratio: B ÷ A per round (A ÷ B for bytes and latencies), median and range; above 1 means B is better.', '',
    '| figure | A (median) | B (median) | unit | B vs A | range |', '|---|---:|---:|---|---:|---:|',
  ];
  for (const [key, row] of ratios) {
    lines.push(`| ${key} | ${fmt(median(row.a))} | ${fmt(median(row.b))} | ${row.unit} | ${median(row.r).toFixed(3)}× | ` +
      `${Math.min(...row.r).toFixed(2)}–${Math.max(...row.r).toFixed(2)} |`);
  }
  const text = lines.join('\n') + '\n';
  process.stdout.write(text);
  if (args.out) writeFileSync(args.out, text);
}

// run only as a script: the test imports parseArgs
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main();
