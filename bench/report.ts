// Results: the machine they were taken on, the table on stdout, and the JSON + Markdown files
// under bench/results/.
import { cpus, totalmem, type as osType, release, arch } from 'node:os';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Figure } from './harness.js';

export interface Machine {
  date: string;
  os: string;
  arch: string;
  cpuModel: string;
  cpuCount: number;
  totalMemBytes: number;
  node: string;
  v8: string;
  commit: string;
  /** The working tree had uncommitted changes when the run started. */
  dirty: boolean;
  wasmoon: string;
  tinybench: string;
}

/** A variant that failed; `at` is how many figures came before it (for rendering in run order). */
export interface Failure { workload: string; variant: string; error: string; at?: number }

export interface Results {
  machine: Machine;
  quick: boolean;
  allWorkers: number;
  argv: string[];
  seconds: number;
  figures: Figure[];
  failures: Failure[];
}

function git(root: string, args: string[]): string {
  try {
    return execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '';
  }
}

function pkgVersion(root: string, name: string): string {
  try {
    return JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8')).version;
  } catch {
    return 'unknown';
  }
}

export function machine(root: string): Machine {
  const c = cpus();
  return {
    date: new Date().toISOString(),
    os: `${osType()} ${release()}`,
    arch: arch(),
    cpuModel: c[0]?.model.trim() ?? 'unknown',
    cpuCount: c.length,
    totalMemBytes: totalmem(),
    node: process.version,
    v8: process.versions.v8,
    commit: git(root, ['rev-parse', '--short', 'HEAD']) || 'unknown',
    dirty: git(root, ['status', '--porcelain']) !== '',
    wasmoon: pkgVersion(root, 'wasmoon'),
    tinybench: pkgVersion(root, 'tinybench'),
  };
}

// ---- formatting ---------------------------------------------------------------------------------

export function fmtValue(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (Math.abs(v) >= 100) return Math.round(v).toLocaleString('en-US');
  return v.toFixed(2);
}

function fmtUs(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return '';
  return v >= 100 ? Math.round(v).toLocaleString('en-US') : v.toFixed(1);
}

function machineLine(m: Machine): string {
  return `${m.cpuModel} × ${m.cpuCount}, ${(m.totalMemBytes / 2 ** 30).toFixed(1)} GiB, ${m.os} ${m.arch}; ` +
    `Node ${m.node} (V8 ${m.v8}), wasmoon ${m.wasmoon}; commit ${m.commit}${m.dirty ? ' + uncommitted changes' : ''}`;
}

const HEAD = ['Workload', 'Variant', 'Figure', 'Value', 'Unit', 'p50 µs', 'p99 µs'];
const RIGHT = new Set([3, 5, 6]);

function cells(f: Figure): string[] {
  return [f.workload, f.variant, f.figure, fmtValue(f.value), f.unit, fmtUs(f.p50Us), fmtUs(f.p99Us)];
}

/** The plain-text table printed on stdout. */
/** Figures and failures in the order they ran. */
function inOrder<T>(r: Results, figure: (f: Figure) => T, failure: (f: Failure) => T): T[] {
  const out: T[] = [];
  let k = 0;
  r.figures.forEach((f, i) => {
    while (k < r.failures.length && (r.failures[k]!.at ?? Infinity) <= i) out.push(failure(r.failures[k++]!));
    out.push(figure(f));
  });
  while (k < r.failures.length) out.push(failure(r.failures[k++]!));
  return out;
}

export function textTable(r: Results): string {
  const rows = inOrder(r, cells, (f) => [f.workload, f.variant, 'FAILED (see stderr / results file)', '', '', '', '']);
  const widths = HEAD.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (row: string[]) => row.map((c, i) => (RIGHT.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  const out = [
    `wippy-ts bench${r.quick ? ' --quick' : ''}: ${machineLine(r.machine)}`,
    '',
    line(HEAD),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...rows.map(line),
  ];
  return out.join('\n') + '\n';
}

const esc = (s: string) => s.replace(/\|/g, '\\|');

/** The Markdown report: machine, the table with work and timing, failures, method notes. */
export function markdown(r: Results): string {
  const m = r.machine;
  const out: string[] = [];
  out.push(`# wippy-ts bench — ${m.date.slice(0, 10)}, Node ${m.node}${r.quick ? ' (--quick)' : ''}`, '');
  out.push(`- Machine: ${m.cpuModel} × ${m.cpuCount}, ${(m.totalMemBytes / 2 ** 30).toFixed(1)} GiB RAM, ${m.os} ${m.arch}`);
  out.push(`- Node ${m.node} (V8 ${m.v8}), wasmoon ${m.wasmoon}, tinybench ${m.tinybench}`);
  out.push(`- Commit ${m.commit}${m.dirty ? ' (working tree had uncommitted changes)' : ''}; "all workers" = ${r.allWorkers}`);
  out.push(`- Command: \`node dist/bench/run.js ${r.argv.join(' ')}\`; ${r.seconds.toFixed(0)} s in total`, '');
  out.push('| Workload | Variant | Figure | Value | Unit | p50 µs | p99 µs | Work | Timing |');
  out.push('|---|---|---|---:|---|---:|---:|---|---|');
  out.push(...inOrder(r,
    (f) => `| ${[...cells(f), f.work, f.timing].map(esc).join(' | ')} |`,
    (f) => `| ${esc(f.workload)} | ${esc(f.variant)} | **FAILED** | | | | | ${esc(f.error)} | |`));
  if (r.failures.length > 0) {
    out.push('', '## Failures', '');
    for (const f of r.failures) out.push(`- **${f.workload} / ${f.variant}**: ${f.error}`);
  }
  out.push('', '## How these were measured', '');
  out.push('- Every variant runs in a fresh runtime built from entries given in code (`bench/*.ts`), does a fixed amount of real work, and checks it (sums of EXIT values, hop counts, message counts and sums, job results).');
  out.push('- "Lua clock": drivers wait for a "go" message and read `time.now()` around their work; with one driver per worker the span is max(end) − min(start). Runtime start and driver spawn are excluded.');
  out.push('- "N workers" runs one driver (pair, ring) per worker thread: spawns on the caller\'s host land on the caller\'s worker. "Across workers" puts the peer on a second process.host.');
  out.push('- Latencies (p50/p99) of ping-pong come from a separate phase timing each round trip with `time.now()`; the cost of two back-to-back `time.now()` calls is in the JSON (`timerPairOverheadUs`) and is not subtracted.');
  out.push('- Lua heap per process: the sandbox has no `collectgarbage` and `rt.stats()` does not collect, so the heap is sampled while a garbage-making job lets the incremental GC finish cycles, and the lowest reading is used; it can still include garbage (an upper bound). RSS covers the whole Node process.');
  out.push('- Job runner: 64 loops each awaiting one `rt.exec` keep 64 jobs in flight (native-bench/inflight.ts, the driver of piscina\'s 64-in-flight phase too; per-job latency percentiles); jobs/s is N over the wall time of that run. The same through tinybench with `concurrency: "task"` (the driver until session 9) is the figure named "64 in flight" (its name until then), the plain one "64 in flight, plain driver".');
  out.push('');
  return out.join('\n');
}

/** Write `<date>T<time>_node-<version>[_quick].{json,md}` under dir; returns both paths. */
export function writeResults(dir: string, r: Results): { json: string; md: string } {
  mkdirSync(dir, { recursive: true });
  const stamp = r.machine.date.slice(0, 19).replace(/:/g, '-');
  const base = join(dir, `${stamp}_node-${r.machine.node}${r.quick ? '_quick' : ''}`);
  const json = `${base}.json`;
  const md = `${base}.md`;
  writeFileSync(json, JSON.stringify(r, null, 2) + '\n');
  writeFileSync(md, markdown(r));
  return { json, md };
}
