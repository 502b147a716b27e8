// The body of a WebAssembly pool thread (a piscina worker). One pool serves one entry, so the
// entry's compiled artifact and instance spec arrive once, in `workerData`, and every task is
// just the call's arguments and resolved environment.
//
// Protocol: task `{ args, env, port? }` -> `{ ok: true, value, output }` or `{ ok: false, error,
// output }` where `output` is the guest's stdout/stderr writes during the call, in order, for the
// caller's sink — or, when the task brings a MessagePort (processes), each write is posted there
// as it happens, followed by 'end', and `output` is empty. Failures are values, not throws: piscina would clone a thrown Error and drop its `kind`.
// Instances: `reuse` keeps one instance for every call on this thread (lazy/static/adaptive pools:
// pre-instantiated, as the pool types promise); inline makes a fresh instance per call. A trapped
// instance is dropped and the next call instantiates again.
// Cancellation: the pool terminates this thread (piscina, on the task's AbortSignal) and starts
// another — the only way to stop a guest inside a loop. Under JSPI, where guests share the thread,
// a suspended guest is stopped alone: the pool posts 'abort' on its port (jspi.ts, GuestRun).
//
// Guest requests (process.wasm: the mailbox, host.ts). The task brings `cells`, an Int32Array over
// a SharedArrayBuffer, and its port. A request is posted as ['req', request]; the answer comes back
// as ['ans', value] on the same port:
//   fallback (no JSPI): this thread waits — receiveMessageOnPort, else Atomics.wait on
//     cells[ANSWER] (pairs with the pool's Atomics.store + Atomics.notify after it posts the
//     answer), then resets the flag and looks again. One request at a time per guest.
//   JSPI: the answer is awaited through the port's 'message' event; the guest is suspended
//     meanwhile and the thread runs its other guests (piscina's concurrentTasksPerWorker).

import { receiveMessageOnPort, threadId, workerData, type MessagePort } from 'node:worker_threads';
import type { Artifact } from './artifact.js';
import { toCallError, WasmError, type WasmCallError } from './errors.js';
import type { CallContext, GuestRequest } from './host.js';
import { WasmInstance, type InstanceSpec } from './instance.js';
import { ANSWER, DONE, GuestRun, RUNNING, STATE, THREAD } from './jspi.js';

interface PoolWorkerData {
  artifact: Artifact;
  spec: InstanceSpec;
  reuse: boolean;
}

export interface PoolTask {
  args: unknown[];
  env?: Array<[string, string]>;
  /** When given, output is posted here as it is written, then the string 'end' (processes). */
  port?: MessagePort;
  /** The caller's context (wippy:process/context). */
  context?: CallContext;
  /** process.wasm: the guest may make requests (mailbox) on `port`; ANSWER/STATE cells. */
  cells?: Int32Array;
}

export type Output = Array<['stdout' | 'stderr', Uint8Array]>;
export type PoolResult =
  | { ok: true; value: unknown; output: Output }
  | { ok: false; error: WasmCallError; output: Output };

const data = workerData as PoolWorkerData;
let kept: WasmInstance | undefined;

export default async function run(task: PoolTask): Promise<PoolResult> {
  const output: Output = [];
  const port = task.port;
  const sink = port
    ? (stream: 'stdout' | 'stderr', bytes: Uint8Array) => port.postMessage([stream, bytes])
    : (stream: 'stdout' | 'stderr', bytes: Uint8Array) => void output.push([stream, bytes]);
  const guest = port && task.cells ? new GuestRun(task.cells) : undefined;
  try {
    return await call(task, sink, output, guest);
  } finally {
    // Same port, so 'end' arrives after every write; the result travels on piscina's own port,
    // which is why the pool waits for 'end' before delivering the result.
    port?.postMessage('end');
    port?.close();
  }
}

async function call(task: PoolTask, sink: (s: 'stdout' | 'stderr', b: Uint8Array) => void, output: Output, guest: GuestRun | undefined): Promise<PoolResult> {
  const jspi = data.artifact.shape === 'component' && data.artifact.jspi;
  if (guest && task.port) {
    Atomics.store(guest.cells, THREAD, threadId); // read by pool.ts to stop this thread
    // stopped while queued (shared pools): nothing runs
    if (jspi && receiveMessageOnPort(task.port)?.message === 'abort') {
      return { ok: false, error: { kind: 'Canceled', message: 'the guest was stopped before it started' }, output };
    }
  }
  const request = guest && task.port ? (jspi ? asyncRequester(task.port, guest) : syncRequester(task.port, guest.cells)) : undefined;
  try {
    let inst = data.reuse ? kept : undefined;
    if (!inst) {
      inst = await WasmInstance.create(data.artifact, data.spec, sink, guest);
      if (data.reuse) kept = inst;
    }
    if (guest) Atomics.store(guest.cells, STATE, RUNNING); // read by pool.ts (Atomics.load)
    try {
      const host = { ...(task.context ? { context: task.context } : {}), ...(request ? { request } : {}) };
      return { ok: true, value: await inst.call(task.args, sink, task.env, host), output };
    } finally {
      if (guest) Atomics.store(guest.cells, STATE, DONE); // read by pool.ts (Atomics.load)
      if (inst.broken) kept = undefined;
    }
  } catch (err) {
    return { ok: false, error: toCallError(err), output };
  }
}

/** The fallback: the thread waits for the answer (see the top). */
function syncRequester(port: MessagePort, cells: Int32Array): (req: GuestRequest) => unknown {
  return (req) => {
    port.postMessage(['req', req]);
    for (;;) {
      const m = receiveMessageOnPort(port) as { message: ['ans', unknown] } | undefined;
      if (m) return m.message[1];
      Atomics.wait(cells, ANSWER, 0); // pairs with the pool's Atomics.store(ANSWER, 1) + notify
      Atomics.store(cells, ANSWER, 0);
    }
  };
}

/** JSPI: the guest is suspended until the answer; 'abort' stops it (jspi.ts). */
function asyncRequester(port: MessagePort, guest: GuestRun): (req: GuestRequest) => Promise<unknown> {
  let pending: ((v: unknown) => void) | undefined;
  port.on('message', (m: ['ans', unknown] | 'abort') => {
    if (m === 'abort') guest.abort(new WasmError('Canceled', 'the guest was stopped'));
    else if (pending) { const p = pending; pending = undefined; p(m[1]); }
  });
  return (req) => {
    port.postMessage(['req', req]);
    return guest.suspend(new Promise((res) => { pending = res; }));
  };
}
