// Compiled WebAssembly, cached by hash: each binary is compiled once per process and the result
// reused by every call, instance, pool and worker.
//
// Owns: the cache `hash -> Promise<Artifact>` and turning verified bytes into an Artifact.
//   core       -> one WebAssembly.Module.
//   component  -> jco-transpile's output: the generated JS (instantiation mode: it exports
//                 `instantiate(getCoreModule, imports)`, so we supply the imports per instance)
//                 and its core modules, each compiled to a WebAssembly.Module.
// An Artifact is plain structured-clone data (WebAssembly.Module is shareable between threads of
// one process), so a pool hands it to its workers in `workerData`: they never recompile. The
// generated JS is evaluated once per thread per hash (loadComponentJs, a data: URL import).
// May call: @bytecodealliance/jco-transpile (runs wasm-tools + js-component-bindgen, themselves
// components transpiled to JS; loaded lazily on the first component).
//
// Measured (2 cores shared with other busy sessions, load average ~18, so upper bounds):
// transpiling the 2 KiB `calc` fixture ~1 s the first time in a process (it includes loading the
// bindgen), ~0.4 s for the next component; the generated JS is ~128 KB (jco's runtime helpers),
// evaluated in ~80 ms per thread.
// Rejected: writing the generated JS to a cache directory and importing it by path — a data: URL
// needs no writable disk and no cleanup, and the module map keeps one copy per thread anyway.
//
// Variants. Two entry settings change the compiled code, so the cache key is the hash plus them:
//   `limits.memory` -> every core module's memory.grow checked against it (memlimit.ts);
//   JSPI (a process.wasm component on a Node with WebAssembly.Suspending, jspi.ts) -> jco's
//   `asyncMode: 'jspi'`, whose async exports are named per function, so the key includes the
//   method. Entries with neither share the plain artifact.

import { WasmError } from './errors.js';
import { limitGrow } from './memlimit.js';
import type { WasmBinary } from './source.js';

export interface CompileOptions {
  /** limits.memory in bytes: memory.grow past it traps (memlimit.ts). */
  memoryLimit?: number;
  /** Transpile for JSPI: these imports suspend the guest, these exports return promises. */
  jspi?: { asyncImports: string[]; asyncExports: string[] };
}

export type Artifact =
  | { shape: 'core'; hash: string; module: WebAssembly.Module }
  | {
      shape: 'component';
      hash: string;
      /** The cache key (hash + variant): names the generated JS module per thread. */
      key: string;
      /** Transpiled for JSPI (async exports/imports as listed). */
      jspi: boolean;
      /** The transpiled ES module text. */
      js: string;
      /** Core module file name (as the JS asks for it) -> compiled module. */
      cores: Record<string, WebAssembly.Module>;
      /** Interfaces the component imports, unversioned (`wasi:clocks/monotonic-clock`). */
      imports: string[];
      /** Exports: name and whether it is a function or an interface instance. */
      exports: Array<[string, 'function' | 'instance']>;
    };

const cache = new Map<string, Promise<Artifact>>();

/** The compiled artifact for `bin` (and its variant), compiling on the first request for it. */
export function compile(bin: WasmBinary, opts: CompileOptions = {}): Promise<Artifact> {
  const key = [bin.hash, opts.memoryLimit !== undefined ? `mem=${opts.memoryLimit}` : '',
    opts.jspi ? `jspi=${opts.jspi.asyncExports.join(',')}` : ''].filter(Boolean).join(' ');
  let p = cache.get(key);
  if (!p) {
    p = bin.shape === 'core' ? compileCore(bin, opts) : compileComponent(bin, key, opts);
    cache.set(key, p);
    p.catch(() => cache.delete(key)); // a failed compile is retried next time
  }
  return p;
}

/** Hashes compiled so far (for tests and stats). */
export function cachedHashes(): string[] {
  return [...cache.keys()];
}

async function compileCore(bin: WasmBinary, opts: CompileOptions): Promise<Artifact> {
  try {
    const bytes = opts.memoryLimit !== undefined ? (await limitGrow(bin.bytes, opts.memoryLimit, bin.hash)) ?? bin.bytes : bin.bytes;
    return { shape: 'core', hash: bin.hash, module: await WebAssembly.compile(bytes as WebAssembly.BufferSource) };
  } catch (err) {
    throw new WasmError('Invalid', `compile failed: ${(err as Error).message}`);
  }
}

async function compileComponent(bin: WasmBinary, key: string, opts: CompileOptions): Promise<Artifact> {
  const { transpileBytes } = await import('@bytecodealliance/jco-transpile');
  let out: Awaited<ReturnType<typeof transpileBytes>>;
  try {
    out = await transpileBytes(bin.bytes, {
      name: 'component', instantiation: { tag: 'async' } as never, validLiftingOptimization: false,
      // A top-level error result is thrown as ComponentError { payload }: told apart from a host throw.
      noComponentErrorWrapping: false,
      ...(opts.jspi ? { asyncMode: 'jspi', asyncImports: opts.jspi.asyncImports, asyncExports: opts.jspi.asyncExports } : {}),
    });
  } catch (err) {
    throw new WasmError('Invalid', `component transpile failed: ${(err as Error).message ?? String(err)}`);
  }
  const cores: Record<string, WebAssembly.Module> = {};
  for (const [name, raw] of Object.entries(out.files)) {
    if (!name.endsWith('.wasm')) continue;
    let bytes = raw as Uint8Array;
    if (opts.memoryLimit !== undefined) bytes = (await limitGrow(bytes, opts.memoryLimit, `${bin.hash}/${name}`)) ?? bytes;
    cores[name] = await WebAssembly.compile(bytes as WebAssembly.BufferSource);
  }
  const js = new TextDecoder().decode(out.files['component.js']);
  return { shape: 'component', hash: bin.hash, key, jspi: !!opts.jspi, js, cores, imports: out.imports, exports: out.exports };
}

type ComponentModule = {
  instantiate(
    getCoreModule: (name: string) => WebAssembly.Module,
    imports: Record<string, unknown>,
    instantiateCore?: (m: WebAssembly.Module, imports?: WebAssembly.Imports) => Promise<WebAssembly.Instance>,
  ): Promise<Record<string, unknown>>;
};
const loaded = new Map<string, Promise<ComponentModule>>();

/** The generated JS of a component artifact as a module, evaluated once per thread per hash. */
export function loadComponentJs(art: Extract<Artifact, { shape: 'component' }>): Promise<ComponentModule> {
  let p = loaded.get(art.key);
  if (!p) {
    p = import(`data:text/javascript;base64,${Buffer.from(art.js).toString('base64')}`) as Promise<ComponentModule>;
    loaded.set(art.key, p);
  }
  return p;
}
