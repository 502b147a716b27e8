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

import { WasmError } from './errors.js';
import type { WasmBinary } from './source.js';

export type Artifact =
  | { shape: 'core'; hash: string; module: WebAssembly.Module }
  | {
      shape: 'component';
      hash: string;
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

/** The compiled artifact for `bin`, compiling on the first request for its hash. */
export function compile(bin: WasmBinary): Promise<Artifact> {
  let p = cache.get(bin.hash);
  if (!p) {
    p = bin.shape === 'core' ? compileCore(bin) : compileComponent(bin);
    cache.set(bin.hash, p);
    p.catch(() => cache.delete(bin.hash)); // a failed compile is retried next time
  }
  return p;
}

/** Hashes compiled so far (for tests and stats). */
export function cachedHashes(): string[] {
  return [...cache.keys()];
}

async function compileCore(bin: WasmBinary): Promise<Artifact> {
  try {
    return { shape: 'core', hash: bin.hash, module: await WebAssembly.compile(bin.bytes as WebAssembly.BufferSource) };
  } catch (err) {
    throw new WasmError('Invalid', `compile failed: ${(err as Error).message}`);
  }
}

async function compileComponent(bin: WasmBinary): Promise<Artifact> {
  const { transpileBytes } = await import('@bytecodealliance/jco-transpile');
  let out: Awaited<ReturnType<typeof transpileBytes>>;
  try {
    out = await transpileBytes(bin.bytes, {
      name: 'component', instantiation: { tag: 'async' } as never, validLiftingOptimization: false,
      // A top-level error result is thrown as ComponentError { payload }: told apart from a host throw.
      noComponentErrorWrapping: false,
    });
  } catch (err) {
    throw new WasmError('Invalid', `component transpile failed: ${(err as Error).message ?? String(err)}`);
  }
  const cores: Record<string, WebAssembly.Module> = {};
  for (const [name, bytes] of Object.entries(out.files)) {
    if (name.endsWith('.wasm')) cores[name] = await WebAssembly.compile(bytes as WebAssembly.BufferSource);
  }
  const js = new TextDecoder().decode(out.files['component.js']);
  return { shape: 'component', hash: bin.hash, js, cores, imports: out.imports, exports: out.exports };
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
  let p = loaded.get(art.hash);
  if (!p) {
    p = import(`data:text/javascript;base64,${Buffer.from(art.js).toString('base64')}`) as Promise<ComponentModule>;
    loaded.set(art.hash, p);
  }
  return p;
}
