// The job runner's public surface: the options a job and the runner take, the handle, the
// figures, and the errors a job rejects with (each a WippyError with the kernel's kind, named as
// Node and piscina name theirs). The mechanism is src/runtime/jobs.ts; docs/job-runner.md maps
// this onto piscina's API.
import { WippyError } from '../codec/msgpack.js';
import type { SpawnContext } from './control.js';

/** Default grace between an abort's CANCEL and the termination of a job that ignores it. */
export const DEFAULT_CANCEL_GRACE_MS = 1000;

/** Anything that says "abort": an AbortSignal, or an EventEmitter emitting 'abort' (as piscina takes). */
export type AbortSignalLike = AbortSignal | {
  aborted?: boolean; reason?: unknown;
  once(ev: 'abort', fn: () => void): unknown; removeListener(ev: 'abort', fn: () => void): unknown;
};

export interface JobOptions {
  /** Host to run on (default: the entry's meta.default_host, else the first process.host). */
  host?: string;
  /** Context values and security the process runs under. */
  ctx?: SpawnContext;
  /** Abort the job: before it starts it is dropped, while it runs it gets CANCEL, then is terminated. */
  signal?: AbortSignalLike;
  /** Milliseconds from submission after which the job is cancelled as by `signal` (JobTimeoutError). */
  timeout?: number;
  /** Between the CANCEL and the termination of a job that ignores it (default runner's cancelGraceMs). */
  cancelGraceMs?: number;
}

export interface JobRunnerOptions {
  /** Most jobs waiting for admission; one more is rejected with QueueFullError (default: no limit). */
  maxQueue?: number;
  /** Most jobs running at once, across hosts (default: no limit but the hosts' run queues). */
  concurrency?: number;
  /** Default grace between an abort's CANCEL and the termination (DEFAULT_CANCEL_GRACE_MS). */
  cancelGraceMs?: number;
  /** Record run and wait times (default true). */
  recordTiming?: boolean;
}

/** A histogram summary, in milliseconds (piscina's field names). */
export interface HistogramSummary {
  count: number; average: number; mean: number; stddev: number; min: number; max: number;
  p50: number; p75: number; p90: number; p99: number; p99_9: number;
}

/** The job runner's figures (`rt.stats().jobs`, `rt.jobStats()`). */
export interface JobStats {
  /** Jobs admitted and not yet exited. */
  running: number;
  /** Jobs waiting for admission (piscina's queueSize). */
  waiting: number;
  /** Jobs settled after running (with a result or an error). */
  completed: number;
  /** Jobs rejected before they ran: aborted or timed out while waiting, queue full, bad arguments. */
  rejected: number;
  /** Times a host's full run queue pushed a job back. */
  pushedBack: number;
  /** True from when a job had to wait until nothing waits (piscina's needsDrain). */
  needsDrain: boolean;
  /** From admission to EXIT (the time in the host's run queue included), ms. */
  runTime: HistogramSummary;
  /** From submission to admission, ms. */
  waitTime: HistogramSummary;
  /** Milliseconds since the runner was created. */
  duration: number;
  /**
   * Job run time over the capacity `duration × workers` of the process hosts: piscina's
   * utilization. Above 1 when jobs on one worker overlap (a job parked on I/O takes no thread).
   */
  utilization: number;
}

/** A submitted job (rt.submit). */
export interface Job<T = unknown> {
  /** The process's PID once started; undefined while the job waits. */
  readonly pid: string | undefined;
  /** Resolves with the PID when the job starts; rejects if it settles without starting. */
  readonly started: Promise<string>;
  /** The process's result; rejects with its error, or AbortError / JobTimeoutError / QueueFullError. */
  readonly result: Promise<T>;
  /** Cancel the job (as an abort of its signal). */
  cancel(reason?: unknown): void;
}

/** The job was aborted (its signal, or cancel()); `cause` is the abort reason. */
export class AbortError extends WippyError {
  constructor(message: string, cause?: unknown) {
    super(message, 'Canceled', false);
    if (cause !== undefined) (this as { cause?: unknown }).cause = cause;
  }
}
Object.defineProperty(AbortError.prototype, 'name', { value: 'AbortError', writable: true, configurable: true });

/** The job ran past its `timeout`. */
export class JobTimeoutError extends WippyError {
  constructor(message: string) { super(message, 'Timeout', false); }
}
Object.defineProperty(JobTimeoutError.prototype, 'name', { value: 'TimeoutError', writable: true, configurable: true });

/** `maxQueue` jobs already wait (retryable: try again after 'drain'). */
export class QueueFullError extends WippyError {
  constructor(message: string) { super(message, 'Unavailable', true); }
}
Object.defineProperty(QueueFullError.prototype, 'name', { value: 'QueueFullError', writable: true, configurable: true });
