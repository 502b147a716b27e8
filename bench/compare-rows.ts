// bench:compare (bench/compare.ts): the comparisons — which of our figures is divided by which
// reference, the issues' targets — and their evaluation over the rounds (the median of the
// per-round ratios, the range, the verdict).
import type { Figure } from './harness.js';
import { formatRatio, barStatus, type RatioBar } from './chart.js';
import type { PiscinaResult } from '../native-bench/index.js';
import {
  SOURCE_NAMES, type Beam, type JsGenerators, type OurWorkload, type PostMessage, type RefSource, type Round, type SabRing,
} from './compare-refs.js';


/** One side of a comparison: a figure of ours or of a reference, read from a round. */
export interface Side {
  source: 'ours' | RefSource;
  /** The workload whose failure explains a missing figure (our side). */
  workload?: OurWorkload;
  what: string;
  unit: string;
  value: (r: Round) => number | undefined;
}

export interface Comparison {
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

export function comparisons(W: number, quick: boolean): Comparison[] {
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

export interface Outcome {
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

function missingReason(side: Side, rounds: Round[]): string {
  if (side.source === 'ours') {
    const failure = rounds.flatMap((r) => r.ours[side.workload!]?.failures ?? [])[0];
    return failure ? `${side.workload} failed: ${failure.error}` : `${side.workload}: figure not found`;
  }
  const err = rounds.map((r) => r.errors[side.source as RefSource]).find((e) => e !== undefined);
  return err ? `${SOURCE_NAMES[side.source as RefSource]}: ${err}` : `${SOURCE_NAMES[side.source as RefSource]}: not measured`;
}

export function evaluate(c: Comparison, rounds: Round[]): Outcome {
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
