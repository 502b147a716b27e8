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
// Cancellation is not handled here: the pool terminates this thread (piscina, on the task's
// AbortSignal) and starts another — the only way to stop a guest inside a loop.

import { workerData, type MessagePort } from 'node:worker_threads';
import type { Artifact } from './artifact.js';
import { toCallError, type WasmCallError } from './errors.js';
import { WasmInstance, type InstanceSpec } from './instance.js';

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
  try {
    return await call(task, sink, output);
  } finally {
    // Same port, so 'end' arrives after every write; the result travels on piscina's own port,
    // which is why the pool waits for 'end' before delivering the result.
    port?.postMessage('end');
    port?.close();
  }
}

async function call(task: PoolTask, sink: (s: 'stdout' | 'stderr', b: Uint8Array) => void, output: Output): Promise<PoolResult> {
  try {
    let inst = data.reuse ? kept : undefined;
    if (!inst) {
      inst = await WasmInstance.create(data.artifact, data.spec, sink);
      if (data.reuse) kept = inst;
    }
    try {
      return { ok: true, value: inst.call(task.args, sink, task.env), output };
    } finally {
      if (inst.broken) kept = undefined;
    }
  } catch (err) {
    return { ok: false, error: toCallError(err), output };
  }
}
