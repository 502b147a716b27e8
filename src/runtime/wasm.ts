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
//
// Guest requests (a process.wasm guest importing wippy:mailbox; src/wasm/host.ts). The Lua side
// of the process is parked on an rpc ("wcall", later "wstep") while its guest runs. When the guest
// asks for a message or sends one, that rpc is answered with the request ({ step = "recv", ... } /
// { step = "send", ... }) instead of the result: the Lua side serves it in the process (its real
// mailbox, its permissions) and sends "wstep" with the answer, a new rpc that parks it again; the
// answer goes to the guest, which resumes. So every live call has at most one open rpc
// (`Live.req`) — the one its next answer (a request or the end) goes to. If the call ends while
// the Lua side is serving a request (a stop, max_execution_ms), its end waits in `Live.end` for
// the next "wstep". A receive is never served past the call's max_execution_ms: the pool tells the
// Lua side what is left (`limit_ms`), and a wait cut by it answers { expired = true }, which leaves
// the rpc open for the call's Timeout end instead of resuming the guest.
import { WippyError } from '../codec/msgpack.js';
import type { Registry } from '../registry/registry.js';
import { WasmFunctions, type WasmCall } from '../wasm/functions.js';
import type { CallContext, GuestRequest } from '../wasm/host.js';
import type { OutputSink } from '../wasm/wasi.js';
import { argList, frame, I, type AnyFrame, type Frame } from '../wire/frames.js';

interface Live {
  call: WasmCall;
  tid: number;
  /** The open rpc (a "wcall" or "wstep" request number) the next answer goes to. */
  req: number | undefined;
  /** The guest's request being served by the Lua side: resolves with its answer. */
  serving: ((answer: unknown) => void) | undefined;
  /** The call ended while no rpc was open: delivered on the next "wstep". */
  end: [unknown[] | undefined, WippyError | undefined] | undefined;
  /** Stopped by "wstop" / a dead worker: nobody will send "wstep" again. */
  stopped: boolean;
}

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
    const args = argList(f[I.wcall.args]);
    const live: Live = { call: undefined as unknown as WasmCall, tid, req, serving: undefined, end: undefined, stopped: false };
    const opts = {
      ...(ctx ? { context: ctx as CallContext } : {}),
      onRequest: (r: GuestRequest) => new Promise<unknown>((resolve) => {
        // the open rpc carries the request to the Lua side; its "wstep" brings the answer
        const at = live.req;
        live.req = undefined;
        live.serving = resolve;
        if (at !== undefined) this.answer(live.tid, pid, at, r as unknown as unknown[], undefined);
      }),
    };
    live.call = this.registry.get(id)?.kind === 'process.wasm'
      ? this.wasm.startProcess(id, args, opts)
      : this.wasm.start(id, args, opts);
    this.live.get(pid)?.call.cancel(); // (a PID makes one call; a stale one is stopped)
    this.live.set(pid, live);
    void live.call.result.then((r) => {
      const end: NonNullable<Live['end']> = 'error' in r
        ? [undefined, new WippyError(r.error.message, r.error.kind, false, r.error.payload !== undefined ? { payload: r.error.payload } : undefined)]
        : [r.values, undefined];
      if (live.req === undefined && !live.stopped) { live.end = end; return; } // the Lua side is serving a request
      if (this.live.get(pid) === live) this.live.delete(pid);
      if (live.req === undefined) return;
      this.answer(live.tid, pid, live.req, end[0], end[1]);
    });
  }

  /** {"wstep", reply_tid, reply_pid, req, answer}: the Lua side's answer to the guest's request. */
  step(f: Frame<'wstep'>): void {
    const tid = f[I.wstep.reply_tid], pid = f[I.wstep.reply_pid], req = f[I.wstep.req];
    const live = this.live.get(pid);
    if (!live) {
      this.answer(tid, pid, req, undefined, new WippyError(`${pid}: no WebAssembly call is running`, 'Canceled', false));
      return;
    }
    live.tid = tid;
    live.req = req;
    if (live.end) { // it ended while the request was served
      this.live.delete(pid);
      this.answer(tid, pid, req, live.end[0], live.end[1]);
      return;
    }
    const answer = f[I.wstep.answer] as { expired?: boolean } | undefined;
    // the wait reached the call's max_execution_ms: its Timeout end comes on this open rpc
    if (answer && typeof answer === 'object' && answer.expired === true) return;
    const serving = live.serving;
    live.serving = undefined;
    serving?.(answer);
  }

  /** {"wstop", pid}: stop the running call of `pid`, if any. */
  stop(f: Frame<'wstop'>): void {
    const live = this.live.get(f[I.wstop.pid]);
    if (!live) return;
    live.stopped = true;
    live.call.cancel();
  }

  /** Worker `tid` died: the calls its processes made are stopped (nobody waits for them). */
  workerDied(tid: number): void {
    for (const l of this.live.values()) if (l.tid === tid) { l.stopped = true; l.call.cancel(); }
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
