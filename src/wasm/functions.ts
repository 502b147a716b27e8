// WasmFunctions: the one door to WebAssembly entries, for the Lua kernel (funcs.call of a
// function.wasm / function.wat, the process.wasm body) and for the embedding API.
//
// The interface (narrow on purpose; everything else in src/wasm is behind it):
//
//   const wasm = new WasmFunctions(registry, { env?, sink? });
//   await wasm.prepare(id?)             load + verify hash + compile (one entry, or every WASM
//                                       entry); throws WasmError naming entry, file, line, field
//   await wasm.call(id, args, { signal?, context?, sink? })
//        -> { values: [v] }             the method's result (nothing -> [])
//        |  { error: { kind, message, payload? } }   never throws for a call's failure
//   const c = wasm.start(id, args, opts); c.result (the same promise); c.cancel()
//   wasm.isWasm(id), wasm.pools(), await wasm.close()
//
// Kinds in `error`: Invalid (bad arguments, bad entry), NotFound (no such entry/method, missing
// required env), PermissionDenied (undeclared WASI interface), Timeout (max_execution_ms),
// Canceled (signal / cancel()), Unavailable (static pool queue full), Internal (trap — message
// kept as "wasm trap: unreachable" —, a component's error result with its payload).
// `context` (the caller's actor, scope and values) is what a guest importing wippy:context sees
// (host.ts); `onRequest` serves a process.wasm guest's mailbox requests (the kernel's, through
// src/runtime/wasm.ts; without it receive times out at once and send fails).
// Variants compiled per entry (artifact.ts): `limits.memory` (memory.grow checked, memlimit.ts)
// and JSPI for process.wasm components where the Node has it (jspi.ts; SHARED_PROCESS_POOL).
//
// Owns: entry -> prepared state (artifact + instance spec), one pool per entry (pool.ts), call-time
// env resolution. May call: source.ts, artifact.ts, pool.ts, env.ts, signature.ts, wasi.ts.
// Everything runs on pool threads; the caller's thread only posts a task and awaits it.

import type { Registry } from '../registry/registry.js';
import type { FsDirectoryEntry, WasmEntry } from '../registry/types.js';
import { WASM_KINDS } from '../registry/schema.js';
import { compile, type Artifact, type CompileOptions } from './artifact.js';
import { registryEnv, resolveEnv, type EnvResolver } from './env.js';
import { toCallError, WasmError, type WasmCallError } from './errors.js';
import type { CallContext, GuestRequest } from './host.js';
import type { InstanceSpec } from './instance.js';
import { jspiEnabled } from './jspi.js';
import { PROCESS_POOL, SHARED_PROCESS_POOL, WasmPool, poolShape, type CallOutcome } from './pool.js';
import { parseSignatures, type CoreSignature } from './signature.js';
import { loadBinary, where } from './source.js';
import { unknownGroups, WASI_GROUPS, type OutputSink } from './wasi.js';

export type WasmCallResult = { values: unknown[] } | { error: WasmCallError };

export interface WasmCallOptions {
  signal?: AbortSignal;
  /** The caller's security context (actor, scope, values): what wippy:context shows the guest. */
  context?: CallContext;
  /** process.wasm: serves the guest's mailbox requests (see the top). */
  onRequest?: (req: GuestRequest) => Promise<unknown>;
  /** Where this call's guest stdout/stderr goes (default: the WasmFunctions sink). */
  sink?: OutputSink;
}

export interface WasmCall {
  result: Promise<WasmCallResult>;
  cancel(reason?: string): void;
}

interface Prepared {
  entry: WasmEntry;
  artifact: Artifact;
  spec: InstanceSpec;
}

export class WasmFunctions {
  private readonly prepared = new Map<string, Promise<Prepared>>();
  private readonly pooled = new Map<string, WasmPool>();
  private readonly env: EnvResolver;
  private readonly sink: OutputSink;
  private closed = false;

  constructor(readonly registry: Registry, opts: { env?: EnvResolver; sink?: OutputSink } = {}) {
    this.env = opts.env ?? registryEnv(registry);
    this.sink = opts.sink ?? ((stream, bytes) => void (stream === 'stderr' ? process.stderr : process.stdout).write(bytes));
  }

  isWasm(id: string): boolean {
    const e = this.registry.get(id);
    return !!e && (WASM_KINDS as readonly string[]).includes(e.kind);
  }

  /** Loads, verifies and compiles `id` (or every WASM entry); throws the first WasmError. */
  async prepare(id?: string): Promise<void> {
    const ids = id !== undefined ? [id] : [...this.registry.entries.values()].filter((e) => this.isWasm(e.id)).map((e) => e.id);
    await Promise.all(ids.map((i) => this.prep(i)));
  }

  private prep(id: string): Promise<Prepared> {
    let p = this.prepared.get(id);
    if (!p) {
      p = this.load(id);
      this.prepared.set(id, p);
      p.catch(() => this.prepared.delete(id));
    }
    return p;
  }

  private async load(id: string): Promise<Prepared> {
    const e = this.registry.get(id);
    if (!e) throw new WasmError('NotFound', `unknown entry "${id}"`);
    if (!this.isWasm(id)) throw new WasmError('Invalid', `${id} is a ${e.kind}, not a WebAssembly entry`);
    const entry = e as WasmEntry;
    const at = where(entry, this.registry);
    const bad = unknownGroups(entry.imports);
    if (bad.length > 0) throw new WasmError('Invalid', `${at}: field imports: unknown import ${bad.join(', ')} (known: ${WASI_GROUPS.join(', ')})`);
    const bin = await loadBinary(entry, this.registry);
    const variant: CompileOptions = entry.limits.memoryBytes !== undefined ? { memoryLimit: entry.limits.memoryBytes } : {};
    let artifact: Artifact;
    try {
      artifact = await compile(bin, variant);
      // JSPI names the async export as jco does (its interface's full name): known from the plain artifact
      if (entry.kind === 'process.wasm' && artifact.shape === 'component' && jspiEnabled()) {
        artifact = await compile(bin, { ...variant, jspi: jspiNames(entry.method, artifact.exports) });
      }
    } catch (err) {
      throw new WasmError((err as WasmError).kind ?? 'Invalid', `${at}: ${(err as Error).message}`);
    }
    let signature: CoreSignature | undefined;
    if (artifact.shape === 'core' && entry.wit) {
      try {
        const sigs = parseSignatures(entry.wit);
        signature = sigs.get(entry.method);
        if (!signature) throw new WasmError('Invalid', `wit has no signature for method ${entry.method} (has: ${[...sigs.keys()].join(', ')})`);
      } catch (err) {
        throw new WasmError('Invalid', `${at}: field wit: ${(err as Error).message}`);
      }
    }
    const mounts = (entry.wasi?.mounts ?? []).map((m) => {
      const fs = this.registry.get(m.fs) as FsDirectoryEntry | undefined;
      if (!fs || fs.kind !== 'fs.directory') throw new WasmError('Invalid', `${at}: field wasi.mounts: ${m.fs} is not an fs.directory`);
      return { guest: m.guest, host: fs.directory, readOnly: m.readOnly };
    });
    const spec: InstanceSpec = {
      entryId: id,
      method: entry.method,
      ...(signature ? { signature } : {}),
      imports: entry.imports,
      wasi: { args: entry.wasi?.args ?? [], ...(entry.wasi?.cwd !== undefined ? { cwd: entry.wasi.cwd } : {}), env: [], mounts },
      ...(entry.limits.memoryBytes !== undefined ? { memoryBytes: entry.limits.memoryBytes } : {}),
    };
    return { entry, artifact, spec };
  }

  /** Calls a WASM function entry; a failure is `{ error }`, never a rejection. */
  call(id: string, args: unknown[] = [], opts: WasmCallOptions = {}): Promise<WasmCallResult> {
    return this.start(id, args, opts).result;
  }

  /** Like call, with a handle to cancel the running call (the pool replaces its thread). */
  start(id: string, args: unknown[] = [], opts: WasmCallOptions = {}): WasmCall {
    const ac = new AbortController();
    const result = this.run(id, args, opts, ac, false);
    return { result, cancel: () => ac.abort() };
  }

  /** The run of a process.wasm body (process.ts); functions cannot be started as processes. */
  startProcess(id: string, args: unknown[] = [], opts: WasmCallOptions = {}): WasmCall {
    const ac = new AbortController();
    const result = this.run(id, args, opts, ac, true);
    return { result, cancel: () => ac.abort() };
  }

  private async run(id: string, args: unknown[], opts: WasmCallOptions, ac: AbortController, asProcess: boolean): Promise<WasmCallResult> {
    if (this.closed) return { error: { kind: 'Unavailable', message: 'the WebAssembly runtime is closed' } };
    let p: Prepared;
    let env: Array<[string, string]>;
    try {
      p = await this.prep(id);
      if ((p.entry.kind === 'process.wasm') !== asProcess) {
        throw new WasmError('Invalid', asProcess ? `${id} is a ${p.entry.kind}, not a process.wasm` : `${id} is a process.wasm: spawn it as a process, it is not a function`);
      }
      env = resolveEnv(id, p.entry.wasi?.env ?? [], this.env);
    } catch (err) {
      return { error: toCallError(err) };
    }
    if (ac.signal.aborted) return { error: { kind: 'Canceled', message: `${id}: call canceled` } };
    const sink = opts.sink ?? this.sink;
    // Processes stream their output as it is written; function calls get it with the result.
    const out: CallOutcome = await this.pool(p).call(
      { args, env, ...(opts.context ? { context: opts.context } : {}) },
      {
        controller: ac,
        ...(opts.signal ? { signal: opts.signal } : {}),
        ...(p.entry.limits.maxExecutionMs ? { maxExecutionMs: p.entry.limits.maxExecutionMs } : {}),
        ...(asProcess ? { onOutput: sink, ...(opts.onRequest ? { onRequest: opts.onRequest } : {}) } : {}),
      },
    );
    for (const [stream, bytes] of out.output) sink(stream, bytes);
    if (!out.ok) return { error: out.error };
    return { values: out.value === null || out.value === undefined ? [] : [out.value] };
  }

  private pool(p: Prepared): WasmPool {
    let pool = this.pooled.get(p.entry.id);
    if (!pool) {
      const shape = p.entry.kind !== 'process.wasm' ? poolShape(p.entry.pool)
        : p.artifact.shape === 'component' && p.artifact.jspi ? SHARED_PROCESS_POOL : PROCESS_POOL;
      pool = new WasmPool(p.entry.id, p.artifact, p.spec, shape);
      this.pooled.set(p.entry.id, pool);
    }
    return pool;
  }

  /** Live pools: entry -> threads and queued calls. */
  pools(): Array<{ entry: string; threads: number; queued: number }> {
    return [...this.pooled].map(([entry, pool]) => ({ entry, threads: pool.threads, queued: pool.queued }));
  }

  /** Whether process.wasm entry `id` runs under JSPI (prepared first). */
  async suspends(id: string): Promise<boolean> {
    const p = await this.prep(id);
    return p.artifact.shape === 'component' && p.artifact.jspi;
  }

  async close(): Promise<void> {
    this.closed = true;
    const pools = [...this.pooled.values()];
    this.pooled.clear();
    await Promise.all(pools.map((p) => p.close()));
  }
}

/**
 * jco's JSPI lists for a process method: the export (`name`, or `<package>/<iface>#name` for a
 * function of an exported interface, as jco names it) and the imports that may wait (jspi.ts).
 */
function jspiNames(method: string, exports: Array<[string, 'function' | 'instance']>): NonNullable<CompileOptions['jspi']> {
  const hash = method.indexOf('#');
  let name = method;
  if (hash >= 0) {
    const iface = method.slice(0, hash);
    const full = exports.find(([n, k]) => k === 'instance' && (n === iface || n.replace(/@[^/]*$/, '').endsWith(`/${iface}`)))?.[0];
    if (full) name = `${full}#${method.slice(hash + 1)}`;
  }
  return {
    asyncExports: [name],
    asyncImports: ['wasi:io/poll#[method]pollable.block', 'wippy:process/mailbox#receive', 'wippy:process/mailbox#send'],
  };
}
