// JavaScript Promise Integration for process.wasm guests: where V8 has it (Node 24:
// `WebAssembly.Suspending` / `WebAssembly.promising` by default; Node 20 has neither and no flag
// for them), a guest that waits — a mailbox receive, a send, a monotonic-clock sleep — is
// *suspended*: its stack is set aside, its pool thread runs other guests, and it resumes when the
// promise settles. Without JSPI the same calls park the guest's pool thread (the fallback: one
// thread per waiting guest; the main thread, Lua workers and other pool threads keep running).
//
// What is async under JSPI (jco `asyncMode: 'jspi'`, per artifact: artifact.ts):
//   exports  the entry's method (jco names async exports per function, so the artifact is per
//            (hash, method));
//   imports  wippy:process/mailbox receive and send (host.ts), and wasi:io/poll
//            `[method]pollable.block` for pollables made by this instance's monotonic clock:
//            they are tagged with their deadline at subscribe time and block with a timer.
// A pollable from anywhere else (streams, files, sockets: the shim makes them) blocks as before,
// synchronously, on the shim's I/O thread — parking the thread, which is correct but does not share
// it. That is the answer to "jco rejects preview2-shim's Pollables in JSPI mode": we do not bring
// a Pollable class of our own (jco's `instanceof` check is against the class in the import object,
// and every shim interface creates the shim's class); we keep the shim's class and replace its
// `block` method on this thread by one that suspends when it can (`patchPollable`).
//
// Sharing a thread, and stopping one guest on it (GuestRun). Every guest on a shared thread has a
// state cell in a SharedArrayBuffer: RUNNING while its code is on the thread, SUSPENDED while it
// waits in one of the async imports above. To stop one guest (terminate, cancel deadline,
// max_execution_ms), the main thread (pool.ts) reads the cell (Atomics.load, pairs with the
// Atomics.store here):
//   SUSPENDED -> it posts 'abort' on the guest's port; the pending import rejects with Canceled,
//                the guest's stack unwinds, its siblings on the thread are untouched;
//   RUNNING   -> it posts 'abort' as well: a guest between two waits (it has just sent, and
//                is about to receive) sees it at its next wait and unwinds alone. If it has not
//                ended within a short grace (pool.ts RUNNING_GRACE_MS) it holds the thread (no
//                other guest can run until it waits), so the thread (found by the threadId in
//                its THREAD cell) is terminated and piscina replaces it; the siblings suspended
//                on it end with an Internal error saying so. This is the one case where
//                stopping a guest costs others (terminating at once would also take the
//                siblings of a guest merely caught in the microseconds after a send).
//   not started (still queued) -> 'abort' waits on its port; the thread looks at it before
//                instantiating and ends the task Canceled without running anything.
// Shared-pool tasks are given to piscina without an AbortSignal: piscina never puts a task with a
// signal on a thread that is busy (its balancer keeps abortable tasks alone), which would make
// JSPI pointless; stopping is done as above instead.
// Alternatives rejected: a thread per guest under JSPI too (it is the fallback; it costs ~8-12 MB
// of RSS per waiting guest); interrupting a running guest (V8 offers no way into a running wasm
// frame other than terminating the isolate).
// May call: nothing but the shim's Pollable it is given.

export const JSPI_AVAILABLE = typeof (WebAssembly as { Suspending?: unknown }).Suspending === 'function'
  && typeof (WebAssembly as { promising?: unknown }).promising === 'function';

/** JSPI in use: available, and not turned off with WIPPY_WASM_JSPI=0 (to run the fallback on Node 24). */
export function jspiEnabled(): boolean {
  return JSPI_AVAILABLE && process.env.WIPPY_WASM_JSPI !== '0';
}

/** Guest state cell values (Int32Array slot STATE of a run's SharedArrayBuffer). */
export const RUNNING = 1;
export const SUSPENDED = 2;
/** The guest returned: its result is on its way, nothing to stop. */
export const DONE = 3;
/**
 * Cell indices: ANSWER is the fallback's "an answer is on the port" flag (pool-worker.ts); STATE
 * the guest's state; THREAD the threadId of the pool thread running it (0 until it starts).
 */
export const ANSWER = 0;
export const STATE = 1;
export const THREAD = 2;
export const CELLS = 3;

/** One guest's run on a thread: its state cell and its abort. */
export class GuestRun {
  private stopped: Error | undefined;
  private readonly waiting = new Set<(e: Error) => void>();

  constructor(readonly cells: Int32Array) {}

  /** Waits for `p` with the guest suspended; rejects at once if the run is aborted. */
  async suspend<T>(p: Promise<T>): Promise<T> {
    if (this.stopped) throw this.stopped;
    Atomics.store(this.cells, STATE, SUSPENDED); // read by pool.ts stop() (Atomics.load)
    let reject: ((e: Error) => void) | undefined;
    try {
      return await new Promise<T>((res, rej) => {
        reject = rej;
        this.waiting.add(rej);
        p.then(res, rej);
      });
    } finally {
      if (reject) this.waiting.delete(reject);
      Atomics.store(this.cells, STATE, RUNNING); // read by pool.ts stop() (Atomics.load)
    }
  }

  abort(err: Error): void {
    this.stopped ??= err;
    for (const rej of this.waiting) rej(err);
  }
}

const WAKE = Symbol('wippy.wake');
const OWNER = Symbol('wippy.owner');

/** Tags a clock pollable with its wake time and owner, so `block` can suspend that guest. */
export function tagPollable<T extends object>(p: T, wakeAtMs: number, owner: GuestRun): T {
  (p as Record<symbol, unknown>)[WAKE] = wakeAtMs;
  (p as Record<symbol, unknown>)[OWNER] = owner;
  return p;
}

const patched = new WeakSet<object>();

/** Replaces the shim Pollable's `block` on this thread: tagged pollables suspend, others block. */
export function patchPollable(Pollable: { prototype: Record<string, unknown> }): void {
  if (patched.has(Pollable)) return;
  patched.add(Pollable);
  const original = Pollable.prototype.block as (this: object) => void;
  const ready = Pollable.prototype.ready as (this: object) => boolean;
  Pollable.prototype.block = function block(this: Record<symbol, unknown>): void | Promise<void> {
    const owner = this[OWNER] as GuestRun | undefined;
    if (!owner) return original.call(this);
    const wakeAt = this[WAKE] as number;
    return owner.suspend((async () => {
      let delay = Math.max(0, wakeAt - performance.now());
      // the timer may fire a little early against the shim's clock: re-check, in small steps
      while (!ready.call(this)) {
        await new Promise<void>((res) => setTimeout(res, delay));
        delay = 1;
      }
    })());
  };
}
