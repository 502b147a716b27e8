// `npm run bench`: run the wippy-ts workloads, show progress on stderr, print one table on stdout
// and write JSON + Markdown under bench/results/.
//
//   node dist/bench/run.js [--quick] [--only NAME[,NAME...]] [--workers N] [--node PATH] [--list]
//
//   --quick        smaller amounts of work (the whole suite in well under two minutes on 2 cores)
//   --only NAMES   run only these workloads (see --list)
//   --workers N    what "all workers" means (default: os.availableParallelism())
//   --node PATH    re-run the suite under another Node binary (same arguments minus --node), e.g.
//                  node_modules/.bin/node after `npm i --no-save node@24`
//   --no-write     do not write files under bench/results/
//
// Exit code 1 if any workload failed its checks (failures are also printed on stderr and kept in
// the result files).
import { availableParallelism } from 'node:os';
import { spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchContext, Figure, Workload, Variant } from './harness.js';
import { spawnExitWorkload, holdWorkload } from './spawn.js';
import { pingPongWorkload, ringWorkload, fanInWorkload, pingPongTableWorkload, ringTableWorkload } from './messaging.js';
import { jobRunnerWorkload } from './jobs.js';
import { transportWorkload } from './transport.js';
import { cpuScalingWorkload, spawnBurstWorkload } from './scaling.js';
import { parallelWorkload } from './parallel.js';
import { wasmCallWorkload, wasmSpawnWorkload } from './wasm.js';
import { machine, textTable, writeResults, fmtValue, type Failure, type Results } from './report.js';

const WORKLOADS: Workload[] = [
  spawnExitWorkload, holdWorkload, pingPongWorkload, ringWorkload, fanInWorkload,
  pingPongTableWorkload, ringTableWorkload, jobRunnerWorkload, transportWorkload,
  cpuScalingWorkload, spawnBurstWorkload, parallelWorkload, wasmCallWorkload, wasmSpawnWorkload,
];

const SCRIPT = fileURLToPath(import.meta.url);
/** dist/bench/run.js -> the repository root. */
const ROOT = resolve(dirname(SCRIPT), '..', '..');

interface Args { quick: boolean; only?: string[]; workers?: number; node?: string; list: boolean; write: boolean; help: boolean }

function parseArgs(argv: string[]): Args {
  const a: Args = { quick: false, list: false, write: true, help: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) usage(`${arg} needs a value`);
      return v!;
    };
    if (arg === '--quick') a.quick = true;
    else if (arg === '--only') a.only = value().split(',').map((s) => s.trim()).filter(Boolean);
    else if (arg === '--workers') a.workers = Number(value());
    else if (arg === '--node') a.node = value();
    else if (arg === '--list') a.list = true;
    else if (arg === '--no-write') a.write = false;
    else if (arg === '--help' || arg === '-h') a.help = true;
    else usage(`unknown argument ${arg}`);
  }
  if (a.workers !== undefined && !(Number.isInteger(a.workers) && a.workers >= 1)) usage('--workers must be a positive integer');
  return a;
}

function usage(problem?: string): never {
  const text = `usage: node dist/bench/run.js [--quick] [--only NAME[,NAME...]] [--workers N] [--node PATH] [--no-write] [--list]\n` +
    `workloads: ${WORKLOADS.map((w) => w.name).join(', ')}\n`;
  if (problem) { process.stderr.write(`bench: ${problem}\n${text}`); process.exit(2); }
  process.stdout.write(text);
  process.exit(0);
}

/** --node PATH: run this script under that binary with the remaining arguments. */
function reRunUnder(node: string, argv: string[]): never {
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--node') { i++; continue; }
    rest.push(argv[i]!);
  }
  const r = spawnSync(node, [SCRIPT, ...rest], { stdio: 'inherit', cwd: process.cwd() });
  if (r.error) {
    process.stderr.write(`bench: could not run ${node}: ${r.error.message}\n`);
    process.exit(2);
  }
  process.exit(r.status ?? 1);
}

// ---- progress on stderr -------------------------------------------------------------------------

const tty = process.stderr.isTTY === true;
const red = (s: string) => (tty ? `\x1b[31;1m${s}\x1b[0m` : s);

class Progress {
  private label = '';
  private note = '';
  private t0 = 0;
  private timer: NodeJS.Timeout | undefined;

  start(label: string): void {
    this.label = label;
    this.note = '';
    this.t0 = performance.now();
    if (tty) {
      this.render();
      this.timer = setInterval(() => this.render(), 250);
      this.timer.unref();
    } else {
      process.stderr.write(`${label} ...\n`);
    }
  }

  setNote(text: string): void { this.note = text; }

  private elapsed(): string { return `${((performance.now() - this.t0) / 1000).toFixed(1)} s`; }

  private render(): void {
    const cols = process.stderr.columns || 120;
    const line = `${this.label}${this.note ? ` — ${this.note}` : ''} (${this.elapsed()})`;
    process.stderr.write(`\r\x1b[K${line.slice(0, cols - 1)}`);
  }

  end(result: string): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (tty) process.stderr.write('\r\x1b[K');
    process.stderr.write(`${this.label}: ${result} (${this.elapsed()})\n`);
  }
}

// ---- main ---------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const args = parseArgs(argv);
  if (args.help) usage();
  if (args.node) reRunUnder(args.node, argv);
  if (args.list) {
    for (const w of WORKLOADS) process.stdout.write(`${w.name.padEnd(16)} ${w.title}\n`);
    return;
  }
  const selected = args.only ? WORKLOADS.filter((w) => args.only!.includes(w.name)) : WORKLOADS;
  const unknown = (args.only ?? []).filter((n) => !WORKLOADS.some((w) => w.name === n));
  if (unknown.length > 0) usage(`unknown workload ${unknown.join(', ')}`);

  const progress = new Progress();
  const ctx: BenchContext = {
    quick: args.quick,
    allWorkers: args.workers ?? availableParallelism(),
    timeoutMs: args.quick ? 60_000 : 600_000,
    note: (t) => progress.setNote(t),
  };
  const m = machine(ROOT);
  process.stderr.write(`wippy-ts bench${args.quick ? ' --quick' : ''} on Node ${m.node}, ${m.cpuCount} × ${m.cpuModel}; all workers = ${ctx.allWorkers}\n`);
  if (m.node.startsWith('v20.')) {
    process.stderr.write('note: on Node 20 every Lua coroutine switch takes a process-wide lock (see README, "Which Node"); try --node with Node 24\n');
  }

  const plan: Array<{ w: Workload; v: Variant }> = [];
  for (const w of selected) for (const v of w.variants(ctx)) plan.push({ w, v });
  const figures: Figure[] = [];
  const failures: Failure[] = [];
  const t0 = performance.now();
  const width = String(plan.length).length;
  for (let i = 0; i < plan.length; i++) {
    const { w, v } = plan[i]!;
    progress.start(`[${String(i + 1).padStart(width)}/${plan.length}] ${w.name} · ${v.label}`);
    try {
      const fs = await v.run(ctx);
      figures.push(...fs);
      progress.end(fs.map((f) => `${fmtValue(f.value)} ${f.unit}`).join(', '));
    } catch (e) {
      const err = e as Error;
      const msg = err?.message ?? String(e);
      failures.push({ workload: w.name, variant: v.label, error: msg, at: figures.length });
      progress.end(red(`FAILED: ${msg}`));
      if (err?.name !== 'CheckFailed' && err?.stack) process.stderr.write(`${err.stack}\n`);
    }
  }

  const results: Results = {
    machine: m, quick: args.quick, allWorkers: ctx.allWorkers, argv,
    seconds: (performance.now() - t0) / 1000, figures, failures,
  };
  process.stdout.write(textTable(results));
  if (args.write) {
    const { json, md } = writeResults(join(ROOT, 'bench', 'results'), results);
    process.stderr.write(`results: ${json}\n         ${md}\n`);
  }
  if (failures.length > 0) {
    process.stderr.write(red(`\n${failures.length} workload variant(s) FAILED:\n`));
    for (const f of failures) process.stderr.write(red(`  ${f.workload} / ${f.variant}: ${f.error}\n`));
    process.exitCode = 1;
  }
  process.stderr.write(`done in ${results.seconds.toFixed(0)} s\n`);
  // Every runtime has been stopped; Node should exit now. If something the runtime left behind
  // keeps the event loop alive, say so (it is a runtime bug) instead of hanging.
  setTimeout(() => {
    const handles = ((process as any)._getActiveHandles?.() ?? []).map((h: any) => h?.constructor?.name ?? typeof h);
    process.stderr.write(red(`bench: Node did not exit ${EXIT_GRACE_MS / 1000} s after every runtime was stopped ` +
      `(active handles: ${handles.join(', ') || 'none'}); exiting\n`));
    process.exit(process.exitCode ?? 1);
  }, EXIT_GRACE_MS).unref();
}

/** How long Node may take to exit after the last runtime stopped before we report it and force it. */
const EXIT_GRACE_MS = 5000;

main().catch((e) => {
  process.stderr.write(red(`bench: ${(e as Error)?.stack ?? String(e)}\n`));
  process.exit(1);
});
