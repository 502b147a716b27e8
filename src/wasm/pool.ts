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
//             os.availableParallelism(), a fresh instance per process; one guest per thread on
//             the fallback, up to SHARED_GUESTS per thread under JSPI (jspi.ts: a waiting guest
//             is suspended, not parking the thread).
// lazy/static/adaptive keep one instance per thread across calls. `worker_class` is accepted and
// ignored (no core pinning from Node).
//
// Cancellation: every call runs under one AbortController fired by the caller's signal, by
// `max_execution_ms` (a timer), or by `cancel()` on the call handle. Piscina answers an abort by
// terminating the thread running the task (and the pool starts a fresh one), so a guest stuck in
// `loop br 0` stops; a queued call is just removed. The result says which: Canceled or Timeout.
// On a shared (JSPI) pool the thread may hold other guests: the guest's state cell decides
// (jspi.ts) — a suspended guest gets 'abort' on its port and unwinds alone; so does a running one
// that reaches its next wait within RUNNING_GRACE_MS (a guest between two waits); one that does not
// (it holds the thread) is stopped by terminating the thread, and if 'abort' has not ended a
// suspended one within ABORT_GRACE_MS (it resumed meanwhile and is running), the thread too.
//
// Guest requests (process.wasm mailbox): the task carries a port and cells (pool-worker.ts);
// ['req', r] from the guest goes to `onRequest`, whose answer is posted back as ['ans', v] and
// signalled with Atomics.store(cells[ANSWER], 1) + Atomics.notify (pairs with the worker's
// Atomics.wait) for the fallback's waiting thread.
//
// May call: piscina, pool-worker.ts (as the thread body), jspi.ts (cell layout). Measured: see
// docs/wasm.md.

import os from 'node:os';
import { MessageChannel } from 'node:worker_threads';
import { Piscina } from 'piscina';
import type { WasmPoolConfig } from '../registry/types.js';
import type { Artifact } from './artifact.js';
import type { WasmCallError } from './errors.js';
import type { GuestRequest } from './host.js';
import type { InstanceSpec } from './instance.js';
import { ANSWER, CELLS, DONE, RUNNING, STATE, THREAD } from './jspi.js';
import type { Output, PoolResult, PoolTask } from './pool-worker.js';

export interface PoolCallOptions {
  signal?: AbortSignal;
  /** 0 / undefined = no limit. */
  maxExecutionMs?: number;
  /** Receive guest output as it is written instead of with the result (a MessageChannel per call). */
  onOutput?: (stream: 'stdout' | 'stderr', bytes: Uint8Array) => void;
  /** process.wasm: the guest's requests (mailbox); the promise's value is the answer. */
  onRequest?: (req: GuestRequest) => Promise<unknown>;
}

export type CallOutcome = { ok: true; value: unknown; output: Output } | { ok: false; error: WasmCallError; output: Output };

export interface PoolShape {
  minThreads: number;
  maxThreads: number;
  maxQueue: number;
  reuse: boolean;
  /** Guests per thread (piscina concurrentTasksPerWorker): 1, or SHARED_GUESTS under JSPI. */
  concurrent?: number;
}

/** Guests one JSPI thread holds at once. */
export const SHARED_GUESTS = 64;
/** How long a suspended guest may take to unwind after 'abort' before its thread is replaced. */
const ABORT_GRACE_MS = 1000;
/**
 * How long a guest found running gets to reach its next wait after 'abort' before its thread (and
 * every guest suspended on it) is replaced. A guest between two waits (it has just sent and is about
 * to receive: the window in which the caller saw its message) reaches the next one in microseconds
 * and ends there alone; a loop that holds the thread is stopped with the thread, this much later.
 */
const RUNNING_GRACE_MS = 200;

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
/** process.wasm under JSPI: guests share threads. */
export const SHARED_PROCESS_POOL: PoolShape = { ...PROCESS_POOL, concurrent: SHARED_GUESTS };

// (pool-thread.cts: why piscina loads pool-worker.js through a CommonJS file)
const WORKER = new URL('./pool-thread.cjs', import.meta.url).href;

/** Requests of a guest whose caller has no mailbox for it: receive times out, send fails. */
const noMailbox = (req: GuestRequest): Promise<unknown> =>
  Promise.resolve(req.step === 'recv' ? false : { error: 'this process has no mailbox (started outside a runtime)' });

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
      concurrentTasksPerWorker: shape.concurrent ?? 1,
      workerData: { artifact, spec, reuse: this.shape.reuse },
    });
    // A terminated thread (cancel) makes piscina emit 'error' only for unexpected deaths; keep the
    // process alive either way: the failed call already carries the error.
    this.piscina.on('error', () => {});
  }

  /** Runs one call; never rejects (a failure is `{ ok: false, error }`). */
  async call(task: PoolTask, opts: PoolCallOptions & { controller?: AbortController } = {}): Promise<CallOutcome> {
    const ac = opts.controller ?? new AbortController();
    // shared (JSPI) pools: no AbortSignal for piscina (it would keep the task alone on a thread);
    // stopping is ours (see the top)
    const shared = (this.shape.concurrent ?? 1) > 1;
    let why: 'Canceled' | 'Timeout' | undefined;
    const onCaller = () => { why ??= 'Canceled'; ac.abort(); };
    if (opts.signal?.aborted) return { ok: false, error: { kind: 'Canceled', message: `${this.entryId}: call canceled before it started` }, output: [] };
    opts.signal?.addEventListener('abort', onCaller, { once: true });
    const limit = opts.maxExecutionMs ?? 0;
    const started = performance.now();
    const timer = limit > 0 ? setTimeout(() => { why ??= 'Timeout'; ac.abort(); }, limit) : undefined;
    let grace: ReturnType<typeof setTimeout> | undefined;
    let channel: MessageChannel | undefined;
    let ended: Promise<void> | undefined;
    const cells = opts.onRequest || shared ? new Int32Array(new SharedArrayBuffer(4 * CELLS)) : undefined;
    // the thread running this guest goes (it holds the thread, or ignored 'abort'); piscina sees
    // the thread exit, fails every task on it and starts another
    const killThread = () => {
      const tid = Atomics.load(cells!, THREAD); // pairs with pool-worker.ts Atomics.store
      const w = tid ? this.piscina.threads.find((t) => t.threadId === tid) : undefined;
      if (w) void w.terminate();
      else grace = setTimeout(killThread, ABORT_GRACE_MS); // not started yet: 'abort' waits for it
    };
    const onOwn = () => {
      why ??= 'Canceled';
      if (!shared) return; // piscina has ac.signal: it removes a queued task or terminates the thread
      const state = Atomics.load(cells!, STATE); // pairs with the Atomics.stores of jspi.ts / pool-worker.ts
      if (state === DONE) return; // it returned; its result is on its way
      // suspended, not started, or running: 'abort' ends it at its next wait (jspi.ts); the thread
      // goes only if it does not end in time
      channel?.port1.postMessage('abort');
      grace = setTimeout(killThread, state === RUNNING ? RUNNING_GRACE_MS : ABORT_GRACE_MS);
    };
    ac.signal.addEventListener('abort', onOwn, { once: true });
    if (opts.onOutput || cells) {
      const onOutput = opts.onOutput ?? (() => {});
      const onRequest = opts.onRequest ?? noMailbox;
      const ch = new MessageChannel();
      channel = ch;
      ended = new Promise<void>((done) => ch.port1.on('message', (m: 'end' | ['stdout' | 'stderr', Uint8Array] | ['req', GuestRequest]) => {
        if (m === 'end') return done();
        if (m[0] === 'req') {
          const req = m[1];
          // a receive must not outwait the call: the serving side gets what is left of the limit
          if (req.step === 'recv' && limit > 0) req.limit_ms = Math.max(1, Math.ceil(started + limit - performance.now()));
          void onRequest(req).then((answer) => {
            ch.port1.postMessage(['ans', answer]);
            Atomics.store(cells!, ANSWER, 1); // pairs with the worker's Atomics.wait
            Atomics.notify(cells!, ANSWER);
          });
          return;
        }
        onOutput(m[0], m[1]);
      }));
    }
    try {
      const t: PoolTask = { ...task, ...(cells ? { cells } : {}) };
      const signal = shared ? {} : { signal: ac.signal };
      const r = channel
        ? ((await this.piscina.run({ ...t, port: channel.port2 }, { ...signal, transferList: [channel.port2] as never })) as PoolResult)
        : ((await this.piscina.run(t, signal)) as PoolResult);
      await ended; // every write of this call is delivered before its result
      if (!r.ok && why) return this.stopped(why, limit);
      return r;
    } catch (err) {
      if (why) return this.stopped(why, limit);
      const msg = (err as Error).message ?? String(err);
      if (shared && /exited|terminat/i.test(msg)) {
        return { ok: false, error: { kind: 'Internal', message: `${this.entryId}: stopped with its pool thread: another guest sharing the thread was stopped while running (${msg})` }, output: [] };
      }
      return { ok: false, error: { kind: /queue is at limit/i.test(msg) ? 'Unavailable' : 'Internal', message: `${this.entryId}: ${msg}` }, output: [] };
    } finally {
      channel?.port1.close();
      if (timer) clearTimeout(timer);
      if (grace) clearTimeout(grace);
      opts.signal?.removeEventListener('abort', onCaller);
    }
  }

  private stopped(why: 'Canceled' | 'Timeout', limit: number): CallOutcome {
    return why === 'Timeout'
      ? { ok: false, error: { kind: 'Timeout', message: `${this.entryId}: exceeded max_execution_ms (${limit} ms); the call was stopped` }, output: [] }
      : { ok: false, error: { kind: 'Canceled', message: `${this.entryId}: call canceled` }, output: [] };
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
