// The job runner: `rt.exec`, `rt.run` and `rt.submit` — running an entry to completion from JS,
// the way a thread pool runs a task (piscina's API is the convention; docs/job-runner.md maps it).
//
// Owns: the jobs the runtime was handed and has not settled — those waiting for admission (a FIFO)
// and those running (counted; each one's EXIT callback settles it) — their cancellation (an
// AbortSignal, a timeout, the handle's cancel()), the admission bounds (`concurrency`, the hosts'
// run queues, `maxQueue`), the drain/needsDrain events, the run-time and wait-time histograms, and
// close(). Its public types and errors are job-types.ts. May call: its JobHost (the control endpoint's spawns and cancel, the keep-alive, the
// runtime's emitter). The runtime tells it when stop() begins.
//
// A job's life.
//   1. submit: the arguments are checked (src/runtime/crossing.ts: a TypeError naming the value's
//      path, nothing minted); an already aborted signal rejects at once; the timeout starts.
//   2. admission, at once when nothing waits and `running < concurrency`: a Lua entry is spawned
//      synchronously (ControlEndpoint.spawnLua: the PID is minted here; an "spj" frame to one
//      worker — src/runtime/job-place.ts — while it is under its bound of framed jobs, which
//      queues it as a spawn of its own, else the descriptor goes into its run queue or the host's
//      global run queue; "sp" on a single-worker host); any other entry (WASM) by the spawn rpc. When the bound is reached and the host's run
//      queues are full the spawn is refused (HOST_FULL) instead of being placed past them, and
//      the job waits, as it does when `concurrency` jobs run.
//      A job that would wait while `maxQueue` jobs already wait is rejected (QueueFullError).
//   3. waiting jobs are admitted in order when a job ends, and, while a host refuses for a full
//      queue, on a short retry timer (RETRY_MS): a full global queue may hold the workers' own
//      overflow, whose end the main thread never hears of. A host that refuses is skipped for the
//      rest of that pass, so jobs for other hosts are not stuck behind it.
//   4. the EXIT settles it: exec/submit resolve with the result or reject with the process's
//      error; run resolves with the EXIT as data.
// Cancel: a waiting job leaves the queue and rejects at once. A running one is sent CANCEL with a
// deadline `cancelGraceMs` away, after which its worker terminates it; the job rejects (AbortError,
// or JobTimeoutError for its timeout) when its EXIT comes, so a settled job is a dead process.
//
// Cost. Nothing on the hot path that a job without a signal or timeout does not need: no extra
// frame (the EXIT is the only frame back), no timer, no listener. Per job: one record, the
// promise, the control endpoint's watch record (no closure: it calls the job record's exited();
// no control PID: a watch number, src/runtime/control.ts), the argument walk (crossing.ts), two
// performance.now() (a job admitted at submit reuses the submit time; the EXITs of one turn share
// one read, arrival()) and two histogram records
// (recordTiming: false drops those). A Lua job is admitted
// synchronously (no promise of the spawn's own, unlike the rpc path).
// Measured (Node 24, 2 cores at load average 11-13, 64 in flight, medians of 10 runs of 200k
// jobs): this file and control.ts over a fake host (the frame still encoded, the EXIT frame
// handed in decoded) take 2.3 µs of main-thread CPU per job placed on a 1-worker host (2.85 before
// the watch record and the ref'd keep-alive timer) and 3.6 µs queued on a 2-worker host (3.9;
// a quarter of it is msgpackr writing the task descriptor). In the real runtime the main thread
// spends 8-13 µs per job: the rest is the transport (batch encode, flush, the doorbell, the
// waitAsync wake-up, decoding the EXIT batch) and GC; the workers spend 45-65 µs (1 worker) and
// 65-90 µs (2 workers) of CPU per job, of which the Lua kernel step is ~60% and the Atomics.notify
// that wakes the parked main thread for the EXIT batch ~16% (a --cpu-prof of each thread).
// On a 2-worker host a job goes to one worker (by frame, or its run queue), which is also its home
// (src/runtime/job-place.ts): counted per job (Node 24, load average 15, 20k jobs), frames between
// the workers 0.99 -> 0 at 64 in flight, and at 1 in flight the workers' doorbell wake-ups
// 0.93 -> 0.14 (the job reaches the worker still spinning after the previous one). The workers'
// CPU per job is then almost all the Lua kernel's: starting a process (record, environment, the
// module chunk, its coroutine), ending it, and encoding/decoding the task and the EXIT in Lua.
// Counted per job on the worker (Node 24, load-independent: Lua heap bytes allocated with the
// collector stopped, VM instructions of the kernel's own thread by a count hook): 4,686 bytes and
// 778 instructions (one worker; 4,707 and 798 on two) before the chunk's coroutine became the main
// thread (src/lua/kernel/spawn.lua run_chunk) and the frame spawns shared their option tables;
// 3,408 and 766 (3,418 and 787) after. What is left: the process record (~940 bytes), its
// coroutine (~860), the decoded task (~520), the EXIT's event, frame and encoding (~500).
// Where a job's CPU goes (Node 24, 2 workers, 64 in flight, 100k jobs, `perf record -g` of the
// whole process, load average ~10): the two workers ~62% of the samples, ~80% of it inside the
// kernel step; Atomics.notify (waking a parked thread) ~1.6% of a worker's samples and its
// waitAsync park ~1.6%; the main thread ~22%; V8's helper threads ~15%, mostly JIT compilation
// (tier-up), not GC. An earlier reading here, 0.15-0.8 ms of the notifier's CPU per notify of
// the parked main thread, came from process.threadCpuUsage around the call: Linux brings a
// thread's run time up to date at scheduler events, and the wake-up the notify causes is one, so
// the delta held CPU spent since the previous update. Two threads alone (a worker notifying a
// waitAsync on the main thread, 2,000 times) measure 0.2 µs of CPU and 12 µs of wall time per
// notify. So the kernel's work per job, not the wake-ups, is what is left to cut on the workers.
// The watch number (control.ts) took its EXIT from an event record to one "jx" frame; the main
// thread's allocations per job (Node 24, 2 workers, sampling heap profiler with collected objects
// included, the driver's own excluded) went ~3.8 KB -> ~1.6 KB with it and two allocation fixes
// (crossing.ts, the codec's frame scan): minor GCs per 100k jobs with a 1 MB semi-space 498 -> 258.
//
// Session 8 (docs/job-runner.md "What a job costs"): per-thread CPU per job from each thread's
// schedstat (bench/jobs.ts); the main thread's part cut by the spawn frame's writer
// (spawn-frame.ts), placement read once per turn (job-place.ts TurnView), the watch table
// (watch-table.ts) and one promise executor for all jobs (captureSettlers): 11.5 -> 7.9 µs per
// job on 2 workers in the quick benchmark, ~5.5 -> ~3.5 at steady state (Node 24, load 13-18).
//
// Keeping Node alive. The control endpoint holds Node's event loop open while an EXIT is awaited;
// the runner holds it while jobs wait for admission. An idle runtime holds nothing (its workers
// and ports are unref'd), so a script that forgets stop() ends when its last job has settled.
import { createHistogram, performance, type RecordableHistogram } from 'node:perf_hooks';
import { WippyError } from '../codec/msgpack.js';
import { HOST_FULL, type ControlEndpoint, type ExitInfo, type ExitReceiver, type SpawnContext } from './control.js';
import { uncrossable } from './crossing.js';
import {
  AbortError, DEFAULT_CANCEL_GRACE_MS, JobTimeoutError, QueueFullError, type AbortSignalLike, type HistogramSummary, type Job,
  type JobOptions, type JobRunnerOptions, type JobStats,
} from './job-types.js';

export * from './job-types.js';

/** How long a job waits before a host whose run queue was full is asked again. */
export const RETRY_MS = 2;

/** What the runner needs from the runtime. */
export interface JobHost {
  /** ControlEndpoint.spawnLua with queued and pushBack set. */
  spawnLua(id: string, host: string | undefined, args: unknown[], onExit: ExitReceiver, ctx: SpawnContext | undefined): string | typeof HOST_FULL | undefined;
  /** ControlEndpoint.spawn (a job of a non-Lua entry). */
  spawn(id: string, host: string | undefined, args: unknown[], onExit: ExitReceiver, ctx: SpawnContext | undefined): Promise<string>;
  /** Send CANCEL with a deadline `graceMs` away (throws if the process is gone). */
  cancel(pid: string, graceMs: number, reason: string | undefined): void;
  /** Ask the worker to end `pid` now, even inside a step; `on` false withdraws (ControlEndpoint.kill). */
  kill(pid: string, on: boolean): void;
  /** Keep Node's event loop alive until release(). */
  hold(): void;
  release(): void;
  /** Emit a runtime event ('drain', 'needsDrain'). */
  emit(event: string): void;
  /** Worker threads of the process hosts (the utilization's capacity). */
  workers(): number;
}

/** The runtime's JobHost: its control endpoint, its emitter, its worker count. */
export function controlJobHost(control: ControlEndpoint, emit: (event: string) => void, workers: () => number): JobHost {
  return {
    spawnLua: (id, host, args, onExit, ctx) => control.spawnLua(id, host, args, onExit, ctx, true, true),
    spawn: (id, host, args, onExit, ctx) => control.spawn(id, host, args, onExit, ctx, true),
    cancel: (pid, graceMs, reason) => control.cancel(pid, graceMs, reason),
    kill: (pid, on) => control.kill(pid, on),
    hold: () => control.hold(),
    release: () => control.release(),
    emit,
    workers,
  };
}

const WAITING = 0, RUNNING = 1, DONE = 2;
const NO_ARGS: unknown[] = [];

/**
 * The job whose promise is being made: one executor for every job's promise instead of a closure
 * per job (the executor runs synchronously inside `new Promise`, so this is set just before).
 */
let settling: JobRecord | undefined;
function captureSettlers(resolve: (v: unknown) => void, reject: (e: unknown) => void): void {
  settling!.resolve = resolve;
  settling!.reject = reject;
  settling = undefined;
}

class JobRecord implements Job {
  state: number = WAITING;
  pid: string | undefined = undefined;
  /** Set when cancelled while running: the rejection once the EXIT comes. */
  abortError: WippyError | undefined = undefined;
  /** The deadline passed and the worker was asked to end it (withdrawn at the EXIT). */
  killed = false;
  submittedAt = 0;
  admittedAt = 0;
  timer: NodeJS.Timeout | undefined = undefined;
  unlisten: (() => void) | undefined = undefined;
  result!: Promise<unknown>;
  resolve!: (v: unknown) => void;
  reject!: (e: unknown) => void;
  private startedWaiters: { promise: Promise<string>; resolve: (p: string) => void; reject: (e: unknown) => void } | undefined;

  /** The arguments, until the job is admitted (then encoded and sent: not kept for the job's life). */
  args: unknown[];
  constructor(readonly runner: JobRunner, readonly id: string, args: unknown[], readonly opts: JobOptions,
    readonly asExit: boolean) { this.args = args; }

  get started(): Promise<string> {
    if (!this.startedWaiters) {
      let resolve!: (p: string) => void, reject!: (e: unknown) => void;
      const promise = new Promise<string>((res, rej) => { resolve = res; reject = rej; });
      promise.catch(() => {}); // a handle whose `started` nobody awaits must not raise unhandled rejections
      this.startedWaiters = { promise, resolve, reject };
      if (this.pid !== undefined) resolve(this.pid);
      else if (this.state === DONE) reject(new WippyError(`job ${this.id} ended before it started`, 'Canceled', false));
    }
    return this.startedWaiters.promise;
  }

  /** The PID is known. */
  startedAs(pid: string): void {
    this.pid = pid;
    this.startedWaiters?.resolve(pid);
  }

  /** Settled without starting. */
  neverStarted(e: unknown): void {
    this.startedWaiters?.reject(e);
  }

  cancel(reason?: unknown): void {
    this.runner.abort(this, new AbortError(`job ${this.id} aborted`, reason));
  }

  /** Its EXIT (the control endpoint's watch calls the record itself: no closure per job). */
  exited(e: ExitInfo): void {
    this.runner.exited(this, e);
  }
}

export class JobRunner {
  private readonly waiting: JobRecord[] = [];
  private running = 0;
  private completed = 0;
  private rejected = 0;
  private pushedBack = 0;
  private needsDrain = false;
  private closing = false;
  private holding = false;
  private retry: NodeJS.Timeout | undefined;
  private idleWaiters: Array<() => void> = [];
  private readonly runTime: RecordableHistogram = createHistogram();
  private readonly waitTime: RecordableHistogram = createHistogram();
  private runTotalMs = 0;
  private readonly born = performance.now();
  private readonly maxQueue: number;
  private readonly concurrency: number;
  private readonly graceMs: number;
  private readonly timing: boolean;

  constructor(private readonly host: JobHost, opts: JobRunnerOptions = {}) {
    this.maxQueue = count('maxQueue', opts.maxQueue, Infinity);
    this.concurrency = count('concurrency', opts.concurrency, Infinity);
    if (this.concurrency === 0) throw new RangeError('jobs.concurrency must be at least 1');
    this.graceMs = count('cancelGraceMs', opts.cancelGraceMs, DEFAULT_CANCEL_GRACE_MS);
    this.timing = opts.recordTiming !== false;
  }

  /** Run `id` to completion: its result, or its error. */
  exec(id: string, args: unknown[], opts: JobOptions): Promise<unknown> {
    return this.submit(id, args, opts, false).result;
  }

  /** Run `id` to completion and resolve with its EXIT as data (rejects only when it cannot run). */
  run(id: string, args: unknown[], opts: JobOptions): Promise<ExitInfo> {
    return this.submit(id, args, opts, true).result as Promise<ExitInfo>;
  }

  /** Submit a job; its handle gives the PID, the result and cancel(). */
  submit(id: string, args: unknown[], opts: JobOptions, asExit = false): Job {
    const job = new JobRecord(this, id, args, opts, asExit);
    settling = job;
    job.result = new Promise<unknown>(captureSettlers);
    job.submittedAt = performance.now();
    const bad = !Array.isArray(args) ? new TypeError('args must be an array') : uncrossable(args);
    if (bad) return this.refuse(job, bad);
    if (this.closing) return this.refuse(job, new WippyError('the runtime is closing: no new jobs', 'Unavailable', false));
    const { signal, timeout } = opts;
    if (timeout !== undefined && !(typeof timeout === 'number' && timeout >= 0 && timeout <= 0x7fffffff)) {
      return this.refuse(job, new TypeError(`timeout must be a number of milliseconds (0 to 2^31-1), got ${String(timeout)}`));
    }
    if (opts.cancelGraceMs !== undefined && !(typeof opts.cancelGraceMs === 'number' && opts.cancelGraceMs >= 0)) {
      return this.refuse(job, new TypeError(`cancelGraceMs must be a number of milliseconds, got ${String(opts.cancelGraceMs)}`));
    }
    if (signal) {
      if (signal.aborted) return this.refuse(job, new AbortError(`job ${id} aborted before it started`, signal.reason));
      job.unlisten = onAbort(signal, () => this.abort(job, new AbortError(`job ${id} aborted`, signal.reason)));
    }
    if (timeout !== undefined) {
      job.timer = setTimeout(() => this.abort(job, new JobTimeoutError(`job ${id} timed out after ${timeout} ms`)), timeout);
    }
    let refused = false; // by a full host queue: ask again on the retry timer
    if (this.waiting.length === 0 && this.running < this.concurrency) {
      if (this.admit(job, job.submittedAt)) return job; // started, or failed for good (settled)
      refused = true;
    }
    if (this.waiting.length >= this.maxQueue) {
      return this.refuse(job, new QueueFullError(`job queue is full (maxQueue ${this.maxQueue}): ${id} not queued`));
    }
    this.waiting.push(job);
    if (!this.holding) { this.holding = true; this.host.hold(); }
    this.setNeedsDrain(true);
    if (refused) this.scheduleRetry();
    return job;
  }

  /**
   * Try to start `job` now; false when it must wait (host queue full). Failures settle it. `now`:
   * the time, when the caller has just read it (a job admitted by submit() waited 0 ms).
   */
  private admit(job: JobRecord, now?: number): boolean {
    let pid: string | typeof HOST_FULL | undefined;
    try {
      pid = this.host.spawnLua(job.id, job.opts.host, job.args, job, job.opts.ctx);
    } catch (e) {
      this.finish(job);
      this.refuse(job, e);
      return true;
    }
    if (pid === HOST_FULL) { this.pushedBack++; return false; }
    const args = job.args;
    job.args = NO_ARGS;
    job.state = RUNNING;
    this.running++;
    job.admittedAt = now ?? performance.now();
    if (this.timing) this.waitTime.record(nanos(job.admittedAt - job.submittedAt));
    if (this.running >= this.concurrency) this.setNeedsDrain(true);
    if (pid !== undefined) { job.startedAs(pid); return true; }
    // Not a Lua entry: the spawn rpc answers with the PID.
    this.host.spawn(job.id, job.opts.host, args, job, job.opts.ctx).then((p) => {
      if (job.state === DONE) return;
      job.startedAs(p);
      if (job.abortError) this.cancelRunning(job);
    }, (e) => {
      if (job.state === DONE) return;
      this.running--;
      this.finish(job);
      this.refuse(job, e);
      this.pump();
    });
    return true;
  }

  /** Admit waiting jobs in order while there is room. */
  private pump(): void {
    let full: Set<string> | undefined; // hosts that refused in this pass
    for (let i = 0; i < this.waiting.length && this.running < this.concurrency;) {
      const job = this.waiting[i]!;
      const h = job.opts.host ?? '';
      if (full?.has(h)) { i++; continue; }
      if (this.admit(job)) { this.waiting.splice(i, 1); continue; }
      (full ??= new Set()).add(h);
      i++;
    }
    if (this.waiting.length === 0) {
      if (this.holding) { this.holding = false; this.host.release(); }
      if (this.running < this.concurrency) this.setNeedsDrain(false);
    } else if (full) this.scheduleRetry();
    this.checkIdle();
  }

  private scheduleRetry(): void {
    if (this.retry || this.waiting.length === 0) return;
    this.retry = setTimeout(() => { this.retry = undefined; this.pump(); }, RETRY_MS);
  }

  /** The EXIT of a running job. */
  exited(job: JobRecord, e: ExitInfo): void {
    if (job.state !== RUNNING) return;
    this.running--;
    this.completed++;
    if (this.timing) {
      const ms = this.arrival() - job.admittedAt;
      this.runTime.record(nanos(ms));
      this.runTotalMs += ms;
    }
    this.finish(job);
    if (job.killed) this.host.kill(job.pid!, false);
    if (job.abortError) {
      if ((job.abortError as { cause?: unknown }).cause === undefined) (job.abortError as { cause?: unknown }).cause = e.error ?? e.value;
      job.reject(job.abortError);
    } else if (job.asExit) job.resolve(e);
    else if (e.error) job.reject(e.error);
    else job.resolve(e.value);
    if (this.waiting.length > 0) this.pump();
    else {
      if (this.needsDrain && this.running < this.concurrency) this.setNeedsDrain(false);
      this.checkIdle();
    }
  }

  /**
   * When the EXITs being handled reached this thread: the clock read once per turn. The EXITs of
   * one turn came in together (one drain of the rings, src/runtime/mainloop.ts), so their run
   * times end there, not when each one's turn in the batch comes (up to ~0.1 ms later for the last
   * of ~50); and one read instead of one per job (performance.now() is ~90 ns on Node 24 here).
   */
  private arrival(): number {
    if (this.exitNow < 0) {
      this.exitNow = performance.now();
      queueMicrotask(this.clearArrival);
    }
    return this.exitNow;
  }
  private exitNow = -1;
  private readonly clearArrival = (): void => { this.exitNow = -1; };

  /** Cancel `job` with `err` (its signal, its timeout, its handle's cancel()). */
  abort(job: JobRecord, err: WippyError): void {
    if (job.state === DONE || job.abortError) return;
    if (job.state === WAITING) {
      const i = this.waiting.indexOf(job);
      if (i >= 0) this.waiting.splice(i, 1);
      this.finish(job);
      this.refuse(job, err);
      this.pump();
      return;
    }
    job.abortError = err;
    if (job.pid !== undefined) this.cancelRunning(job);
    // else: a WASM job whose PID is on its way; cancelled when it arrives (admit)
  }

  private cancelRunning(job: JobRecord): void {
    const reason = job.abortError instanceof JobTimeoutError ? 'timeout' : 'aborted';
    const grace = job.opts.cancelGraceMs ?? this.graceMs;
    try { this.host.cancel(job.pid!, grace, reason); }
    catch { return; /* it has just exited: its EXIT is on the way and settles the job */ }
    // The CANCEL's deadline is kept by the process's worker, between steps. A job that runs
    // without yielding never lets its worker read the CANCEL: at the deadline the main thread
    // also asks for it through the directory, which the kernel checks inside the step.
    if (job.timer) clearTimeout(job.timer);
    job.timer = setTimeout(() => {
      job.timer = undefined;
      if (job.state !== RUNNING) return;
      job.killed = true;
      this.host.kill(job.pid!, true);
    }, grace);
  }

  /** The job ends: no timer, no listener. */
  private finish(job: JobRecord): void {
    job.state = DONE;
    if (job.timer) { clearTimeout(job.timer); job.timer = undefined; }
    if (job.unlisten) { job.unlisten(); job.unlisten = undefined; }
  }

  /** Reject a job that did not run. */
  private refuse(job: JobRecord, e: unknown): Job {
    this.finish(job);
    this.rejected++;
    job.neverStarted(e);
    job.reject(e);
    return job;
  }

  private setNeedsDrain(on: boolean): void {
    if (this.needsDrain === on) return;
    this.needsDrain = on;
    const event = on ? 'needsDrain' : 'drain';
    queueMicrotask(() => this.host.emit(event));
  }

  private checkIdle(): void {
    if (this.running > 0 || this.waiting.length > 0 || this.idleWaiters.length === 0) return;
    const ws = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of ws) w();
  }

  /**
   * Stop taking jobs and resolve when every job has settled. `force`: jobs still waiting are
   * rejected (AbortError) instead of run.
   */
  close(force = false): Promise<void> {
    this.closing = true;
    if (force) this.rejectWaiting(() => new AbortError('the runtime is closing: job dropped before it started'));
    if (this.running === 0 && this.waiting.length === 0) return Promise.resolve();
    return new Promise<void>((r) => { this.idleWaiters.push(r); });
  }

  /** stop() began: no new jobs, and the waiting ones will never start. */
  stopping(): void {
    this.closing = true;
    this.rejectWaiting(() => new WippyError('runtime stopped before the job started', 'Canceled', false));
    // running jobs settle with their EXIT, or with the stop's error (ControlEndpoint.stopped)
  }

  private rejectWaiting(err: () => unknown): void {
    const list = this.waiting.splice(0);
    for (const job of list) this.refuse(job, err());
    if (this.holding) { this.holding = false; this.host.release(); }
    if (this.retry) { clearTimeout(this.retry); this.retry = undefined; }
    if (list.length > 0 && this.running < this.concurrency) this.setNeedsDrain(false);
    this.checkIdle();
  }

  /** Jobs admitted and not settled (the main thread's result spin, src/runtime/mainloop.ts). */
  get inFlight(): number {
    return this.running;
  }

  stats(): JobStats {
    const duration = performance.now() - this.born;
    const capacity = duration * Math.max(1, this.host.workers());
    return {
      running: this.running, waiting: this.waiting.length, completed: this.completed, rejected: this.rejected,
      pushedBack: this.pushedBack, needsDrain: this.needsDrain,
      runTime: summary(this.runTime), waitTime: summary(this.waitTime),
      duration, utilization: capacity > 0 ? this.runTotalMs / capacity : 0,
    };
  }
}

function count(name: string, v: number | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || Number.isNaN(v) || v < 0) throw new RangeError(`jobs.${name} must be a number ≥ 0, got ${String(v)}`);
  return v;
}

/** Histograms record integers ≥ 1: nanoseconds. */
function nanos(ms: number): number {
  return Math.max(1, Math.round(ms * 1e6));
}

function summary(h: RecordableHistogram): HistogramSummary {
  const ms = (ns: number) => (h.count === 0 ? 0 : ns / 1e6);
  return {
    count: h.count, average: ms(h.mean), mean: ms(h.mean), stddev: ms(h.stddev), min: ms(h.min), max: ms(h.max),
    p50: ms(h.percentile(50)), p75: ms(h.percentile(75)), p90: ms(h.percentile(90)), p99: ms(h.percentile(99)),
    p99_9: ms(h.percentile(99.9)),
  };
}

/** Listen for 'abort' once; returns the function that stops listening. */
function onAbort(signal: AbortSignalLike, fn: () => void): () => void {
  if ('addEventListener' in signal) {
    signal.addEventListener('abort', fn, { once: true });
    return () => signal.removeEventListener('abort', fn);
  }
  signal.once('abort', fn);
  return () => { signal.removeListener('abort', fn); };
}
