// wippy-ts embedding API: run Wippy apps (or entries given in code) inside another Node program.
//
//   import { createRuntime } from 'wippy-ts';
//   const rt = await createRuntime({ entries: [
//     { id: 'app:processes', kind: 'process.host', host: { workers: 2 } },
//     { id: 'app:square', kind: 'function.lua', method: 'main',
//       source: 'return { main = function(x) return x * x end }' },
//   ] });
//   console.log(await rt.exec('app:square', [7]));   // 49
//   await rt.exec('app:square', [7], { signal: AbortSignal.timeout(1000) });  // or { timeout: 1000 }
//   const job = rt.submit('app:square', [8]);          // a handle: job.pid, job.result, job.cancel()
//   await rt.close();                                  // wait for the jobs, then stop
// The job runner's API maps onto piscina's: docs/job-runner.md.
import { loadApp, createRegistry } from './registry/loader.js';
import type { Registry } from './registry/registry.js';
import { Runtime, type RuntimeOptions } from './runtime/runtime.js';

export { Runtime, DEFAULT_SHUTDOWN_GRACE_MS } from './runtime/runtime.js';
export type { ExitInfo, RuntimeOptions, RuntimeStats, SpawnContext, WorkerStats, WorkerDown } from './runtime/runtime.js';
export { AbortError, JobTimeoutError, QueueFullError, DEFAULT_CANCEL_GRACE_MS } from './runtime/jobs.js';
export type { Job, JobOptions, JobRunnerOptions, JobStats, HistogramSummary, AbortSignalLike } from './runtime/jobs.js';
export type { TestFault } from './host/protocol.js';
export type { QueueCounters, MailboxStats } from './host/protocol.js';
export { WippyError } from './codec/msgpack.js';
export { loadApp, createRegistry } from './registry/loader.js';
export type { Registry } from './registry/registry.js';
export type { Entry, LuaEntry, HostEntry, ServiceEntry, EntryId } from './registry/types.js';
export { formatPid, parsePid } from './runtime/pid.js';
export { Supervisor, backoffMs, startOrder, type ServiceStatus, type ServiceState } from './runtime/services.js';
// WebAssembly entries (docs/wasm.md): `new WasmFunctions(rt.registry).call('app:compute', [6, 7])`.
export { WasmFunctions, type WasmCallResult, type WasmCallOptions, type WasmCall } from './wasm/functions.js';
export { WasmProcess, WasmProcessTable, runWasmProcess, type WasmExit } from './wasm/process.js';
export { WasmError, type WasmCallError } from './wasm/errors.js';

export interface CreateRuntimeOptions extends RuntimeOptions {
  /** App directory to load (wippy.lock / src/ with _index.yaml files). */
  root?: string;
  /** Extra config files merged over .wippy.yaml. */
  configFiles?: string[];
  /** Entries given in code instead of (or without) an app directory. */
  entries?: Array<Record<string, unknown>>;
  /** Runtime config when entries are given in code (same shape as .wippy.yaml). */
  config?: Record<string, unknown>;
  /** Start the hosts before returning (default true). */
  start?: boolean;
}

/** Build a runtime from an app directory or from entries, and start it. */
export async function createRuntime(opts: CreateRuntimeOptions): Promise<Runtime> {
  let registry: Registry;
  if (opts.entries) registry = createRegistry(opts.entries as any, { root: opts.root ?? process.cwd(), config: opts.config });
  else if (opts.root) registry = await loadApp(opts.root, { configFiles: opts.configFiles });
  else throw new TypeError('createRuntime: give `root` (an app directory) or `entries`');
  const rt = new Runtime(registry, opts);
  if (opts.start !== false) await rt.start();
  return rt;
}
