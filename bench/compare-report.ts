// bench:compare (bench/compare.ts): a run's results and how they are shown — the text table on
// the terminal, the Markdown report and the SVG chart written under bench/results/.
import { fmtValue, type Failure, type Machine } from './report.js';
import { ratioChart, formatRatio, formatRatioAgainst, type RatioBar } from './chart.js';
import type { Outcome } from './compare-rows.js';
import type { Round } from './compare-refs.js';


export interface CompareResults {
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

export const fmtRatio = (r: number | null, target?: number | null) => (r === null ? 'n/a' : `${formatRatioAgainst(r, target ?? undefined)}×`);
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

export function textTable(r: CompareResults): string {
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

export function markdown(r: CompareResults, svgName: string): string {
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
  out.push('- "2 rings on 2 workers" is an aggregate over both workers; BEAM runs one ring on 2 schedulers. Fan-in on 2 workers spawns its senders from JS with the receiver\'s PID, so the runtime places them by the peer rule (`src/runtime/spawn-place.ts`: the receiver\'s worker keeps 16; past that, while two cores are free, the rest go to the other worker, so 100 senders end 16/84; with fewer than two cores free all stay beside it); its "senders spread" variant (in the JSON, not compared here) spawns them without it, round-robin, so half the messages cross threads.');
  out.push('- Multi-worker: `cpu-scaling` (`bench/scaling.ts`) runs in its own child every round with its ' + (r.quick ? '`--quick` counts (8 processes × 1M iterations, 5 internal rounds)' : 'full counts (8 processes × 3M iterations, 7 internal rounds)') +
    '; each internal round measures ours with the budget hook on and off on 1 and N workers and the raw wasmoon ceiling on 1 and N threads, round-robin, each measurement a fresh runtime (fresh threads) timed after 10 untimed runs (past V8\'s tier-up of the Lua module), and the suite reports the medians of the per-round ratios. A row\'s value here is the median of those medians over our rounds; its range is the lowest and highest of them (the per-internal-round ratios are in the JSON, `raw[].ours["cpu-scaling"]`). On a 2-vCPU VM with a contended second core the raw ceiling itself often stays well under 2×: read the N ÷ 1 rows against it, and the efficiency rows for what the runtime loses.');
  out.push('- `parallel` (`bench/parallel.ts`): 2 rings of 1,000, 8 ping-pong pairs and 2 spawn+exit drivers run at once, every driver spawned from JS (round-robin over the workers) and spawning its own children; 1 worker and N workers alternate in its child over ' + (r.quick ? '3' : '5') + ' internal rounds, and its row is the median of the per-round N ÷ 1 ratios (target ≥ 1.7× on 2). Worker-to-worker frames during the timed part are in the JSON (`crossFrames`: 0 when every group stayed on its worker).');
  out.push('- `spawn-burst`: one process spawns ' + (r.quick ? '20,000 (`--quick`; 100,000 with `--full`)' : '100,000') + ' processes that block in `inbox:receive()`; the split over the workers is read from `rt.stats()` once all are alive or after 5 s (then the share is of all N, counting the ones not yet alive as on neither worker).');
  out.push('- Per-round values of every figure, and our figures\' details, are in the JSON file next to this one.');
  out.push('');
  return out.join('\n');
}

export function chartSvg(r: CompareResults): string {
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
