// The Lua WebAssembly module compiled once per process and instantiated from that compilation by
// every worker, instead of compiled from its bytes by each (issue 15, docs/design/scheduler.md,
// "Session 13").
//
// Why. Compiled from its bytes, every worker thread's isolate compiled the module on its own: a
// runtime's start paid one compilation per worker (Liftoff's, of each function on its first
// call) and V8's tier-up of the hot functions once per worker. A WebAssembly.Module posted to
// another thread of the process (structured clone: `workerData`) shares V8's compiled module, so
// code compiled for one instance, at either tier, is what every instance of it runs. Measured
// (Node 24.21, load 4–8; docs/design/scheduler.md, "Session 13"): starting and stopping a 2-worker
// runtime 317–331 → 223–240 ms of CPU and 450–570 → 365 ms of wall-clock; the CPU per message of
// fan-in is unchanged (0.97–0.99×, V8's helper threads' share of it is the garbage collector's,
// not the compiler's, once the laps are warm).
//
// How. The main thread compiles the file of the module kind WIPPY_LUA names (module.ts) once
// (`compileLua`, cached per thread) and hands `{ kind, module, digest }` to each worker in
// its WorkerInit; the worker adopts it (`adoptLua`). While an engine is created (`withSharedLua`),
// WebAssembly.instantiate is wrapped: when the glue calls it with bytes (wasmoon's glue reads the
// file and calls `WebAssembly.instantiate(bytes, imports)`, then uses only `.instance`) whose
// SHA-256 is the shared module's digest, the call instantiates the shared module with the glue's
// imports instead and answers `{ module, instance }` as the original would. Any other call (other
// bytes: the file was rebuilt after the main thread compiled it, or another module) passes
// through unchanged. A thread that was handed nothing (the main thread, tests that create engines
// without a runtime) compiles the file itself once and shares that among its own engines. So the
// glue, its imports, the instance and everything after it are what they were; only where the
// compiled code comes from changes. `luaModuleStats()` counts which path each instantiation took
// (the tests read it, through Runtime.stats() for workers).
//
// Alternatives rejected: the glue's instantiateWasm hook (wasmoon's LuaFactory passes only
// locateFile and preRun to the glue, and this build's legacy-option checks refuse it; see
// rawexports.ts); a glue of our own (it is wasmoon's; both modules share its JS side);
// `--no-liftoff` (no tier-up at all, but TurboFan without Liftoff's feedback is slower code: the
// worker's CPU per fan-in message rose 0.31 → 0.38 µs).
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { NATIVE_WASM, luaModuleKind, type LuaModuleKind } from './module.js';

/** A compiled Lua module as handed to a worker (structured-clone data within one process). */
export interface SharedLua { kind: LuaModuleKind; module: WebAssembly.Module; digest: string }

/**
 * How this thread's engines got their instances: from a handed module, this thread's own
 * compilation, or the glue's bytes; and the SHA-256 of the last shared module instantiated.
 */
export interface LuaModuleStats { handed: number; thread: number; bytes: number; digest?: string }

/** The .wasm file the glue loads for `kind` (wasmoon's own: glue.wasm beside its index.js). */
export function luaWasmPath(kind: LuaModuleKind): string {
  if (kind === 'native') return NATIVE_WASM;
  return join(dirname(createRequire(import.meta.url).resolve('wasmoon')), 'glue.wasm');
}

const digestOf = (bytes: ArrayBufferView | ArrayBuffer): string =>
  createHash('sha256').update(ArrayBuffer.isView(bytes) ? new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) : new Uint8Array(bytes)).digest('hex');

const compiled = new Map<LuaModuleKind, Promise<SharedLua>>();
let handed: SharedLua | undefined;
const stats: LuaModuleStats = { handed: 0, thread: 0, bytes: 0 };

/** The module of `kind` compiled in this thread, once (its file read and hashed once too). */
export function compileLua(kind: LuaModuleKind = luaModuleKind()): Promise<SharedLua> {
  let p = compiled.get(kind);
  if (!p) {
    const bytes = readFileSync(luaWasmPath(kind));
    p = WebAssembly.compile(bytes).then((module) => ({ kind, module, digest: digestOf(bytes) }));
    p.catch(() => compiled.delete(kind)); // a missing or broken file: the next engine tries again (and fails as before)
    compiled.set(kind, p);
  }
  return p;
}

/**
 * Forget this thread's compilations: the next runtime or engine compiles its module afresh and V8
 * tiers it up from the start. For benchmarks whose variants each start a runtime (bench/harness.ts):
 * a variant must not run on code the variant before it tiered up.
 */
export function forgetCompiledLua(): void { compiled.clear(); }

/** This thread's engines instantiate `s` (a worker's, from its WorkerInit). */
export function adoptLua(s: SharedLua | undefined): void { handed = s; }

/** Which path this thread's instantiations of a Lua module took (see the top). */
export function luaModuleStats(): LuaModuleStats { return { ...stats }; }

type Instantiate = typeof WebAssembly.instantiate;
let wrapping = 0;
let original: Instantiate | undefined;
const using: SharedLua[] = [];

/**
 * `create()` (which creates a wasmoon factory and engine of `kind`) with WebAssembly.instantiate of
 * that module's bytes served from the shared compilation (see the top). The shared module is found
 * (or compiled) before `create` runs: the factory starts instantiating as it is constructed.
 */
export async function withSharedLua<T>(kind: LuaModuleKind, create: () => Promise<T>): Promise<T> {
  let s: SharedLua | undefined = handed?.kind === kind ? handed : undefined;
  if (!s) {
    try { s = await compileLua(kind); } catch { s = undefined; } // the glue reports a missing file its own way
  }
  if (!s) return create();
  const entry = s;
  if (wrapping++ === 0) {
    const orig = WebAssembly.instantiate;
    original = orig;
    WebAssembly.instantiate = function (this: unknown, source: unknown, imports?: WebAssembly.Imports) {
      if (source instanceof WebAssembly.Module || !(ArrayBuffer.isView(source) || source instanceof ArrayBuffer)) {
        return (orig as any).apply(this, arguments);
      }
      const d = digestOf(source);
      const hit = using.find((u) => u.digest === d);
      if (!hit) { stats.bytes++; return (orig as any).apply(this, arguments); }
      stats[hit === handed ? 'handed' : 'thread']++;
      stats.digest = hit.digest;
      return orig.call(WebAssembly, hit.module, imports).then((instance) => ({ module: hit.module, instance }));
    } as Instantiate;
  }
  using.push(entry);
  try {
    return await create();
  } finally {
    using.splice(using.indexOf(entry), 1);
    if (--wrapping === 0) { WebAssembly.instantiate = original!; original = undefined; }
  }
}
