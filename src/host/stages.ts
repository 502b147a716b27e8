// Stage stamps of the worker loop: a measuring aid, off unless WIPPY_STAGES names a directory.
//
// Owns: one record per worker step — when the drain began, when the kernel step began, the
// kernel's first clock read (`H.now`: the scheduler's clock, read once its input is delivered),
// its first `H.route` (a send to another worker, just before the frame is encoded), its first
// `H.post`/`H.post_many` (the outbox handed over at the step's end), when the step returned, when
// the flush (batch → ring, doorbells) ended; the input bytes, the threads sent to, and how the
// loop came to the step (HOW_*: busy, a spin or the reply wait found input, a park ended, after
// a breathe), and the thread CPU time of the step (drain to flush end; Node ≥ 23.9 has
// process.threadCpuUsage: a figure that load inflates much less than wall-clock stamps). May call:
// the clock and, once, the file system (dump()).
//
// Used by src/host/loop.ts (begin/mark around the stages) and src/host/worker.ts (the host
// functions' marks). With WIPPY_STAGES unset nothing is made and the loop pays one `undefined`
// test per stage. The records are written, one JSON file per worker (stages-<tid>.json in that
// directory), at the worker's shutdown or when the buffer is full (the first CAPACITY steps are
// kept); bench/stages.ts pairs two workers' files into the per-stage table of a cross-worker
// round trip (docs/design/scheduler.md, "Where a cross-worker round trip goes").
//
// Clocks. Every stamp is this thread's performance.now() (ms, sub-µs resolution); threads'
// clocks differ by their timeOrigin, written beside the records, so a stamp on one thread is
// compared with one on another as timeOrigin + now. The sum is ~1.8e12 ms in a double: 0.25 µs
// resolution, which bounds the cross-thread stages (a transit) to ± 0.5 µs.
// Cost when on: ~7 performance.now() calls per step (~30–50 ns each), so it slows what it
// measures by ~0.3 µs per step; read the stages, not the throughput of a stamped run.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Fields of a record (offsets within it). */
export const S_DRAIN = 0;
export const S_STEP = 1;
export const S_NOW = 2;
export const S_ROUTE = 3;
export const S_POST = 4;
export const S_STEP_END = 5;
export const S_FLUSH_END = 6;
export const S_BYTES = 7;
export const S_SENT = 8;
export const S_HOW = 9;
/** Thread CPU time (µs) from the drain's start to the flush's end (process.threadCpuUsage, Node ≥ 23.9; else 0). */
export const S_CPU = 10;
const FIELDS = 11;
const threadCpu = (process as { threadCpuUsage?: () => { user: number; system: number } }).threadCpuUsage;

/** How the loop came to a step. */
export const HOW_BUSY = 0;
export const HOW_SPIN = 1;
export const HOW_AWAIT = 2;
export const HOW_PARK = 3;
export const HOW_BREATHE = 4;
/** A park after the spin rule refused the spin (no free core for one more spinner of ours). */
export const HOW_PARK_REFUSED = 5;
/** A park after the reply wait was ended by the spin rule (a thread of ours woke, or the free cores fell). */
export const HOW_PARK_RULED = 6;

const CAPACITY = 100_000;

export class StageStamps {
  private readonly rec = new Float64Array(CAPACITY * FIELDS);
  private n = 0;
  /** Offset of the current record, or -1 once the buffer is full. */
  private at = -1;
  private dumped = false;
  private cpu0 = 0;
  /** How the loop came to the next step (set by the loop before it steps). */
  how = HOW_BUSY;

  constructor(private readonly dir: string, private readonly tid: number) {}

  /** The drain of a new step begins. */
  begin(): void {
    if (this.n === CAPACITY) { this.at = -1; this.dump(); return; }
    const at = this.at = this.n++ * FIELDS;
    this.rec[at + S_DRAIN] = performance.now();
    this.rec[at + S_HOW] = this.how;
    this.how = HOW_BUSY;
    if (threadCpu) { const u = threadCpu(); this.cpu0 = u.user + u.system; }
  }

  /** The flush ended: stamp it and the thread CPU time the step took. */
  end(): void {
    const at = this.at;
    if (at < 0) return;
    this.rec[at + S_FLUSH_END] = performance.now();
    if (threadCpu) { const u = threadCpu(); this.rec[at + S_CPU] = u.user + u.system - this.cpu0; }
  }

  /** Stamp field `f` of the current step with the clock, the first time only (0: not yet). */
  mark(f: number): void {
    const at = this.at;
    if (at >= 0 && this.rec[at + f] === 0) this.rec[at + f] = performance.now();
  }

  /** Set field `f` of the current step to `v` (a count). */
  set(f: number, v: number): void {
    if (this.at >= 0) this.rec[this.at + f] = v;
  }

  /** Write the records (once): { tid, timeOrigin, fields, records: number[][] }. */
  dump(): void {
    if (this.dumped) return;
    this.dumped = true;
    const records: number[][] = [];
    for (let i = 0; i < this.n; i++) records.push(Array.from(this.rec.subarray(i * FIELDS, (i + 1) * FIELDS)));
    const fields = ['drain', 'step', 'now', 'route', 'post', 'stepEnd', 'flushEnd', 'bytes', 'sent', 'how', 'cpu'];
    writeFileSync(join(this.dir, `stages-${this.tid}.json`), JSON.stringify({ tid: this.tid, timeOrigin: performance.timeOrigin, fields, records }));
  }
}

/** The stamps of this worker, or undefined (WIPPY_STAGES unset). */
export function stagesFromEnv(tid: number): StageStamps | undefined {
  const dir = process.env['WIPPY_STAGES'];
  return dir ? new StageStamps(dir, tid) : undefined;
}
