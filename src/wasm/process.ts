// The process.wasm body driven from JS: a WebAssembly export run as a process, in the Init / Step
// / Close lifecycle the process page describes, for an embedding program that owns the process
// itself. (Inside a runtime, a process.wasm is a kernel process: src/lua/kernel/wasm.lua asks the
// main thread, src/runtime/wasm.ts, to run WasmFunctions.startProcess; the kernel owns its PID,
// links, monitors, CANCEL deadline and terminate.)
//
//   const p = new WasmProcess(wasm, 'app:compute_worker', { sink });
//   await p.init([6, 7])     Init: hash-checked, compiled (once per hash), env resolved, args kept;
//                            a failure here is the process's EXIT error (no step runs)
//   const ev = await p.step()  Step: the method runs on a pool thread until it returns:
//                            { done: true, value } | { done: true, error }. A guest that waits
//                            (mailbox, clock) is suspended under JSPI or parks its pool thread on
//                            the fallback (jspi.ts); inside a runtime each wait is a step of the
//                            kernel process (src/lua/kernel/wasm.lua)
//   p.cancel(deadlineMs)     CANCEL: the call gets until the deadline to finish, then is
//                            stopped (error kind Canceled). (Here the guest cannot observe it;
//                            inside a runtime a guest importing wippy:mailbox receives it.)
//   p.terminate()            stop now (the pool thread is replaced)
//   p.close()                Close: release (idempotent); the instance died with its call
//   runWasmProcess(...)      all four in order -> the EXIT shape { value } | { error }
//   WasmProcessTable         live processes by a caller-chosen id: start / terminate / cancel /
//                            terminateAll (the kernel does not use it: its PIDs are its own)
//
// EXIT mapping: the return value is `result.value`; a trap, an error result, a missing required
// env, a hash mismatch, a timeout are `result.error` with the kind and message of the call error.
// Processes run on their entry's process pool: up to os.availableParallelism() threads, a fresh
// instance per process, so concurrent processes of one entry do not share guest state.
// Mailbox: a guest importing wippy:mailbox asks `opts.onRequest` for each receive / send (host.ts);
// inside a runtime the kernel serves them from the process's real mailbox. Without onRequest (a
// WasmProcess outside a runtime) receive times out at once and send fails.
// May call: functions.ts (WasmFunctions.startProcess).

import type { WasmCallError } from './errors.js';
import type { WasmCall, WasmCallOptions, WasmFunctions } from './functions.js';

export type WasmExit = { value?: unknown; error?: WasmCallError };
/** The sink for guest output, the context it sees, and who serves its mailbox requests. */
export type ProcessOptions = Pick<WasmCallOptions, 'sink' | 'context' | 'onRequest'>;
export type WasmStep = { done: true } & WasmExit;

export class WasmProcess {
  state: 'new' | 'ready' | 'running' | 'done' | 'closed' = 'new';
  private args: unknown[] = [];
  private call: WasmCall | undefined;
  private failed: WasmCallError | undefined;
  private deadline: ReturnType<typeof setTimeout> | undefined;
  private stopped: WasmCallError | undefined;

  constructor(
    private readonly wasm: WasmFunctions,
    readonly entryId: string,
    private readonly opts: ProcessOptions = {},
  ) {}

  /** Init: prepares the entry and captures the arguments. */
  async init(args: unknown[]): Promise<{ error?: WasmCallError }> {
    this.args = args;
    const e = this.wasm.registry.get(this.entryId);
    if (!e || e.kind !== 'process.wasm') {
      this.failed = { kind: 'Invalid', message: `${this.entryId} is ${e ? `a ${e.kind}` : 'not an entry'}, not a process.wasm` };
    } else {
      try {
        await this.wasm.prepare(this.entryId);
      } catch (err) {
        this.failed = { kind: (err as { kind?: string }).kind ?? 'Internal', message: (err as Error).message };
      }
    }
    this.state = 'ready';
    return this.failed ? { error: this.failed } : {};
  }

  /** Step: runs the method to completion (one step for a synchronous guest). */
  async step(): Promise<WasmStep> {
    if (this.state !== 'ready') throw new Error(`WasmProcess ${this.entryId}: step() in state ${this.state}`);
    if (this.failed || this.stopped) return this.finish({ error: (this.failed ?? this.stopped)! });
    this.state = 'running';
    this.call = this.wasm.startProcess(this.entryId, this.args, this.opts);
    const r = await this.call.result;
    if (this.stopped) return this.finish({ error: this.stopped });
    return this.finish('error' in r ? { error: r.error } : { value: r.values[0] ?? null });
  }

  /** CANCEL with a deadline: the running call may finish until then, then it is stopped. */
  cancel(deadlineMs: number, reason = 'canceled'): void {
    if (this.state === 'done' || this.state === 'closed' || this.deadline) return;
    this.deadline = setTimeout(() => this.stop({ kind: 'Canceled', message: `${this.entryId}: ${reason} (deadline ${deadlineMs} ms passed)` }), deadlineMs);
  }

  /** Stops the process now. */
  terminate(reason = 'terminated'): void {
    this.stop({ kind: 'Canceled', message: `${this.entryId}: ${reason}` });
  }

  /** Close: releases what the process holds; safe to call more than once. */
  close(): void {
    if (this.deadline) clearTimeout(this.deadline);
    this.deadline = undefined;
    this.call = undefined;
    this.state = 'closed';
  }

  private stop(err: WasmCallError): void {
    if (this.state === 'done' || this.state === 'closed') return;
    this.stopped ??= err;
    this.call?.cancel();
  }

  private finish(exit: WasmExit): WasmStep {
    if (this.deadline) clearTimeout(this.deadline);
    this.deadline = undefined;
    this.state = 'done';
    return { done: true, ...exit };
  }
}

/** Init, step and close in one go; `handle` lets the owner cancel or terminate meanwhile. */
export function runWasmProcess(
  wasm: WasmFunctions, entryId: string, args: unknown[], opts: ProcessOptions = {},
): { process: WasmProcess; exit: Promise<WasmExit> } {
  const p = new WasmProcess(wasm, entryId, opts);
  const exit = (async () => {
    await p.init(args);
    const { done: _done, ...ev } = await p.step();
    p.close();
    return ev;
  })();
  return { process: p, exit };
}

/**
 * Live WASM processes by an id the owner chooses, for an embedding program that runs WASM processes
 * without a runtime: `start` runs one, `onExit` gets its EXIT shape; `terminate` / `cancel` by id.
 * `onExit` is called exactly once per started id; the id leaves the table before it is called.
 */
export class WasmProcessTable {
  private readonly live = new Map<string, WasmProcess>();

  constructor(private readonly wasm: WasmFunctions) {}

  start(pid: string, entryId: string, args: unknown[], opts: ProcessOptions, onExit: (exit: WasmExit) => void): void {
    if (this.live.has(pid)) throw new Error(`WasmProcessTable: ${pid} is already running`);
    const { process: p, exit } = runWasmProcess(this.wasm, entryId, args, opts);
    this.live.set(pid, p);
    void exit.then((ev) => {
      this.live.delete(pid);
      onExit(ev);
    });
  }

  terminate(pid: string, reason?: string): boolean {
    const p = this.live.get(pid);
    p?.terminate(reason);
    return p !== undefined;
  }

  cancel(pid: string, deadlineMs: number, reason?: string): boolean {
    const p = this.live.get(pid);
    p?.cancel(deadlineMs, reason);
    return p !== undefined;
  }

  get size(): number {
    return this.live.size;
  }

  /** Terminates every live process (runtime stop); their onExit calls still follow. */
  terminateAll(reason = 'runtime stopping'): void {
    for (const p of this.live.values()) p.terminate(reason);
  }
}
