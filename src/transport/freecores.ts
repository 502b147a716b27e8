// Free cores: how many of the machine's cores the runtime's threads may spin on, measured by the
// main thread and published in the doorbell region (BELL_CORES, layout in src/shm/layout.ts) for
// the spin rule (Doorbell.spin: spin only while spinning threads < free cores).
//
// Why. A spin pays only on a core nobody else wants: with one core busy elsewhere a spinning
// ping-pong between two threads falls from 3.3 M to ~6 k round trips/s, and the spinner's CPU is
// taken from whoever runs there. The doorbell's AWAKE count knows the runtime's own threads; it
// cannot know the machine's other processes (on our shared 2-core VMs, builds and benchmarks of
// other jobs keep the load average at 5–20). So the main thread measures them.
//
// How. Every SAMPLE_MS (an unref'd timer) it reads the first line of /proc/stat — the time all
// CPUs spent in each state since boot, in ticks of 1/100 s: user nice system idle iowait irq
// softirq steal … — and this process's own CPU time (process.cpuUsage: every thread of it). Over
// the interval, other = busy − ours, where busy is everything but idle and iowait (steal counts as
// busy: the hypervisor gave the vCPU to someone else); free = cores − other / interval, rounded,
// clamped to [0, cores]. Our own threads' CPU (spinning included) is subtracted, so spinning does
// not talk itself out of spinning. Published with Atomics.store(BELL_CORES, free + 1) — 0 means
// "not measured" (no /proc/stat: not Linux), and each thread then uses its own `cores` option —
// and read with Atomics.load in Doorbell.spin (the pair). A stale figure only makes a thread spin
// a little too much or too little until the next sample.
//
// Cost: one read of /proc/stat and one getrusage per SAMPLE_MS on the main thread: 27 µs of CPU
// (77 µs wall) per sample measured at load average 10, i.e. ~0.03% of a core.
// Rejected: /proc/loadavg (a 1-minute average that counts our own threads), and a thread timing
// its own spins to detect preemption (it learns only after losing the core, one spin at a time).
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { BELL_CORES } from '../shm/layout.js';

/** Sampling period (ms): ten ticks of /proc/stat per core, so one tick is a tenth of a core. */
export const SAMPLE_MS = 100;
/** /proc/stat's tick (USER_HZ is 100 on every Linux we run on). */
const TICK_MS = 10;

export interface CpuSample { busyTicks: number; totalTicks: number; oursMicros: number; atMs: number }

/** Busy (all but idle and iowait) and total ticks of /proc/stat's "cpu" line; undefined if unreadable. */
export function parseProcStat(text: string): { busyTicks: number; totalTicks: number } | undefined {
  const line = text.slice(0, text.indexOf('\n'));
  const f = line.trim().split(/\s+/);
  if (f[0] !== 'cpu' || f.length < 5) return undefined;
  // user nice system idle iowait irq softirq steal (guest and guest_nice are inside user and nice)
  const n = f.slice(1, 9).map(Number);
  if (n.some((x) => !Number.isFinite(x))) return undefined;
  const total = n.reduce((a, b) => a + b, 0);
  return { busyTicks: total - n[3]! - (n[4] ?? 0), totalTicks: total };
}

/** Free cores between two samples: cores minus what other processes used, rounded, in [0, cores]. */
export function freeCores(cores: number, a: CpuSample, b: CpuSample): number {
  const ms = b.atMs - a.atMs;
  if (ms <= 0) return cores;
  const busyMs = (b.busyTicks - a.busyTicks) * TICK_MS;
  const oursMs = (b.oursMicros - a.oursMicros) / 1000;
  const other = Math.max(0, busyMs - oursMs) / ms;
  return Math.min(cores, Math.max(0, Math.round(cores - other)));
}

export class FreeCores {
  private timer: NodeJS.Timeout | undefined;
  private last: CpuSample | undefined;
  private readonly cores = availableParallelism();

  /** `words`: the doorbell region as Int32Array (src/transport/doorbell.ts). */
  constructor(private readonly words: Int32Array, private readonly read = () => readFileSync('/proc/stat', 'latin1')) {}

  /** Start sampling; false (and nothing published) where /proc/stat cannot be read. */
  start(): boolean {
    this.last = this.sample();
    if (this.last === undefined) return false;
    this.timer = setInterval(() => this.tick(), SAMPLE_MS);
    this.timer.unref();
    return true;
  }

  /** Take one sample and publish the free cores since the previous one (the timer's job; tests call it). */
  tick(): number | undefined {
    const s = this.sample();
    if (s === undefined || this.last === undefined) return undefined;
    const free = freeCores(this.cores, this.last, s);
    this.last = s;
    // Pairs with Atomics.load(BELL_CORES) in Doorbell.spin on every thread.
    Atomics.store(this.words, BELL_CORES, free + 1);
    return free;
  }

  /**
   * The last figure published, for the peer rule (src/runtime/spawn-place.ts, main thread); before
   * the first tick, a tick now over the time since start() (a runtime's first spawns come before
   * the timer's first turn: the start blocks the main thread for ~0.3 s). -1 when not sampling.
   */
  current(): number {
    // The figure is the published word itself (free + 1; 0 = none yet), which only tick() stores.
    if (Atomics.load(this.words, BELL_CORES) === 0 && this.last !== undefined) this.tick();
    return Atomics.load(this.words, BELL_CORES) - 1;
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  private sample(): CpuSample | undefined {
    let stat;
    try { stat = parseProcStat(this.read()); } catch { return undefined; }
    if (stat === undefined) return undefined;
    const u = process.cpuUsage();
    return { ...stat, oursMicros: u.user + u.system, atMs: performance.now() };
  }
}
