// Worker pools for WebAssembly calls, on piscina: one pool per entry, created on the entry's
// first call, holding the entry's compiled artifact (shared with its threads, never recompiled).
//
// Pool types -> piscina (threads are OS threads with their own V8 isolate: an idle worker thread
// measured ~8.5 MB RSS on Node 20, ~12 MB on Node 24):
//   inline    1 thread, kept; a new instance per call; unbounded queue. Still a thread, not the
//             caller's: a looping guest must be stoppable, and the caller may be a Lua worker.
//   lazy      0 idle threads, up to `max_size` (default 16), idle threads exit after 30 s.
//   static    `workers` (else `size`, else 1) threads always; queue bounded by `buffer`
//             (default workers * 64): a call beyond it fails at once (Unavailable).
//   adaptive  1 idle thread, up to `max_size` (default 16).
//   (no type) lazy, up to os.availableParallelism() threads — the reference's 100-worker default
//             sizes goroutines, not threads; 100 idle isolates would be ~0.9-1.2 GB.
//   process.wasm (PROCESS_POOL; its `pool` block is ignored): threads on demand up to
//             os.availableParallelism(), a fresh instance per process.
// lazy/static/adaptive keep one instance per thread across calls. `worker_class` is accepted and
// ignored (no core pinning from Node).
//
// Cancellation: every call runs under one AbortController fired by the caller's signal, by
// `max_execution_ms` (a timer), or by `cancel()` on the call handle. Piscina answers an abort by
// terminating the thread running the task (and the pool starts a fresh one), so a guest stuck in
// `loop br 0` stops; a queued call is just removed. The result says which: Canceled or Timeout.
//
// May call: piscina, pool-worker.ts (as the thread body). Measured: see docs/wasm.md.

import os from 'node:os';
import { MessageChannel } from 'node:worker_threads';
import { Piscina } from 'piscina';
import type { WasmPoolConfig } from '../registry/types.js';
import type { Artifact } from './artifact.js';
import type { WasmCallError } from './errors.js';
import type { InstanceSpec } from './instance.js';
import type { Output, PoolResult, PoolTask } from './pool-worker.js';

export interface PoolCallOptions {
  signal?: AbortSignal;
  /** 0 / undefined = no limit. */
  maxExecutionMs?: number;
  /** Receive guest output as it is written instead of with the result (a MessageChannel per call). */
  onOutput?: (stream: 'stdout' | 'stderr', bytes: Uint8Array) => void;
}

export type CallOutcome = { ok: true; value: unknown; output: Output } | { ok: false; error: WasmCallError; output: Output };

export interface PoolShape {
  minThreads: number;
  maxThreads: number;
  maxQueue: number;
  reuse: boolean;
}

/** The piscina sizing for a `pool` block (exported for tests and docs). */
export function poolShape(cfg: WasmPoolConfig): PoolShape {
  const cpus = os.availableParallelism();
  switch (cfg.type) {
    case 'inline': return { minThreads: 1, maxThreads: 1, maxQueue: Infinity, reuse: false };
    case 'lazy': return { minThreads: 0, maxThreads: cfg.maxSize ?? 16, maxQueue: Infinity, reuse: true };
    case 'static': {
      const n = cfg.workers ?? cfg.size ?? 1;
      return { minThreads: n, maxThreads: n, maxQueue: cfg.buffer ?? n * 64, reuse: true };
    }
    case 'adaptive': return { minThreads: 1, maxThreads: cfg.maxSize ?? 16, maxQueue: Infinity, reuse: true };
    default: return { minThreads: 0, maxThreads: cfg.maxSize ?? cpus, maxQueue: Infinity, reuse: true };
  }
}

/** process.wasm (its `pool` block is ignored): a fresh instance per process, threads on demand. */
export const PROCESS_POOL: PoolShape = { minThreads: 0, maxThreads: os.availableParallelism(), maxQueue: Infinity, reuse: false };

const WORKER = new URL('./pool-worker.js', import.meta.url).href;

export class WasmPool {
  private readonly piscina: Piscina;
  readonly shape: PoolShape;

  constructor(readonly entryId: string, artifact: Artifact, spec: InstanceSpec, shape: PoolShape) {
    this.shape = shape;
    this.piscina = new Piscina({
      filename: WORKER,
      minThreads: this.shape.minThreads,
      maxThreads: this.shape.maxThreads,
      maxQueue: this.shape.maxQueue,
      idleTimeout: 30_000,
      concurrentTasksPerWorker: 1,
      workerData: { artifact, spec, reuse: this.shape.reuse },
    });
    // A terminated thread (cancel) makes piscina emit 'error' only for unexpected deaths; keep the
    // process alive either way: the failed call already carries the error.
    this.piscina.on('error', () => {});
  }

  /** Runs one call; never rejects (a failure is `{ ok: false, error }`). */
  async call(task: PoolTask, opts: PoolCallOptions & { controller?: AbortController } = {}): Promise<CallOutcome> {
    const ac = opts.controller ?? new AbortController();
    let why: 'Canceled' | 'Timeout' | undefined;
    const onCaller = () => { why ??= 'Canceled'; ac.abort(); };
    const onOwn = () => { why ??= 'Canceled'; };
    if (opts.signal?.aborted) return { ok: false, error: { kind: 'Canceled', message: `${this.entryId}: call canceled before it started` }, output: [] };
    opts.signal?.addEventListener('abort', onCaller, { once: true });
    ac.signal.addEventListener('abort', onOwn, { once: true });
    const limit = opts.maxExecutionMs ?? 0;
    const timer = limit > 0 ? setTimeout(() => { why ??= 'Timeout'; ac.abort(); }, limit) : undefined;
    let channel: MessageChannel | undefined;
    let ended: Promise<void> | undefined;
    if (opts.onOutput) {
      const onOutput = opts.onOutput;
      const ch = new MessageChannel();
      channel = ch;
      ended = new Promise<void>((done) => ch.port1.on('message', (m: 'end' | ['stdout' | 'stderr', Uint8Array]) => (m === 'end' ? done() : onOutput(m[0], m[1]))));
    }
    try {
      const r = channel
        ? ((await this.piscina.run({ ...task, port: channel.port2 }, { signal: ac.signal, transferList: [channel.port2] as never })) as PoolResult)
        : ((await this.piscina.run(task, { signal: ac.signal })) as PoolResult);
      await ended; // every write of this call is delivered before its result
      return r;
    } catch (err) {
      if (why === 'Timeout') return { ok: false, error: { kind: 'Timeout', message: `${this.entryId}: exceeded max_execution_ms (${limit} ms); the call was stopped` }, output: [] };
      if (why === 'Canceled' || ac.signal.aborted) return { ok: false, error: { kind: 'Canceled', message: `${this.entryId}: call canceled` }, output: [] };
      const msg = (err as Error).message ?? String(err);
      return { ok: false, error: { kind: /queue is at limit/i.test(msg) ? 'Unavailable' : 'Internal', message: `${this.entryId}: ${msg}` }, output: [] };
    } finally {
      channel?.port1.close();
      if (timer) clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onCaller);
    }
  }

  get threads(): number {
    return this.piscina.threads.length;
  }

  get queued(): number {
    return this.piscina.queueSize;
  }

  close(): Promise<void> {
    return this.piscina.destroy();
  }
}
