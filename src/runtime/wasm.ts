// The main thread's side of WebAssembly processes: it runs the call a WASM body asks for on the
// entry's piscina pool and answers the worker.
//
// The kernel runs every WASM entry as a kernel process whose body (src/lua/kernel/wasm.lua) sends
// one "wcall" {reply_tid, reply_pid, req, id, args, ctx} to the main thread and parks until the
// "rep" {reply_pid, req, values, error}. Here: `call` starts WasmFunctions.start (a function
// frame) or startProcess (a process.wasm body) and keeps the handle by the process's PID (one
// call per process); when it settles, the answer goes back to the worker that asked, whether or
// not the process is still there (a worker drops a "rep" for a request it no longer waits for).
// `stop` ("wstop" {pid}, sent when the process died or a function frame was cancelled) cancels
// the call: piscina terminates the pool thread running it and starts another, so a guest in an
// infinite loop stops; the "rep" that follows carries a Canceled error. A dead worker's calls are
// stopped (`workerDied`); `close` (runtime stop) stops whatever is left and closes the pools.
//
// Owns: the WasmFunctions of the runtime (created on the first call: a runtime without WASM
// entries never loads src/wasm/), the live calls by PID. May call: WasmFunctions, the frame
// constructors, and the post / sink it is given. Guest stdout/stderr goes to the runtime's
// terminal output (`sink`), a process's as it is written, a function's with its result.
//
// Errors cross as WippyError (kind and message as docs/wasm.md lists them); a component's
// `result` error payload is kept as the error's details: { payload = ... }.
import { WippyError } from '../codec/msgpack.js';
import type { Registry } from '../registry/registry.js';
import { WasmFunctions, type WasmCall } from '../wasm/functions.js';
import type { OutputSink } from '../wasm/wasi.js';
import { argList, frame, I, type AnyFrame, type Frame } from '../wire/frames.js';

interface Live { call: WasmCall; tid: number }

export class WasmCalls {
  private wasm: WasmFunctions | undefined;
  private readonly live = new Map<string, Live>();
  private closed = false;

  constructor(private readonly registry: Registry, private readonly post: (tid: number, f: AnyFrame) => void,
    private readonly sink: OutputSink) {}

  /** {"wcall", reply_tid, reply_pid, req, id, args, ctx}: start the call, answer when it settles. */
  call(f: Frame<'wcall'>): void {
    const tid = f[I.wcall.reply_tid], pid = f[I.wcall.reply_pid], req = f[I.wcall.req], id = f[I.wcall.id];
    const ctx = f[I.wcall.ctx];
    if (this.closed) {
      this.answer(tid, pid, req, undefined, new WippyError('the WebAssembly runtime is closed', 'Unavailable', false));
      return;
    }
    this.wasm ??= new WasmFunctions(this.registry, { sink: this.sink });
    const opts = ctx ? { context: ctx as Record<string, unknown> } : {};
    const args = argList(f[I.wcall.args]);
    const call = this.registry.get(id)?.kind === 'process.wasm'
      ? this.wasm.startProcess(id, args, opts)
      : this.wasm.start(id, args, opts);
    const live: Live = { call, tid };
    this.live.get(pid)?.call.cancel(); // (a PID makes one call; a stale one is stopped)
    this.live.set(pid, live);
    void call.result.then((r) => {
      if (this.live.get(pid) === live) this.live.delete(pid);
      if ('error' in r) {
        const e = r.error;
        this.answer(tid, pid, req, undefined,
          new WippyError(e.message, e.kind, false, e.payload !== undefined ? { payload: e.payload } : undefined));
      } else {
        this.answer(tid, pid, req, r.values, undefined);
      }
    });
  }

  /** {"wstop", pid}: stop the running call of `pid`, if any. */
  stop(f: Frame<'wstop'>): void {
    this.live.get(f[I.wstop.pid])?.call.cancel();
  }

  /** Worker `tid` died: the calls its processes made are stopped (nobody waits for them). */
  workerDied(tid: number): void {
    for (const l of this.live.values()) if (l.tid === tid) l.call.cancel();
  }

  /** Live calls (leak checks) and the pools' threads and queues. */
  sizes(): { calls: number; pools: Array<{ entry: string; threads: number; queued: number }> } {
    return { calls: this.live.size, pools: this.wasm?.pools() ?? [] };
  }

  /** Runtime stop: stop every call, close the pools. No answer is sent afterwards. */
  async close(): Promise<void> {
    this.closed = true;
    for (const l of this.live.values()) l.call.cancel();
    this.live.clear();
    await this.wasm?.close();
  }

  private answer(tid: number, pid: string, req: number, values: unknown[] | undefined, err: WippyError | undefined): void {
    if (this.closed) return;
    this.post(tid, frame.rep(pid, req, values, err));
  }
}
