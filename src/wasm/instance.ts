// One instance of a compiled WebAssembly artifact and calls on it; runs on whatever thread holds
// it (a pool worker, or the caller's thread for in-thread calls).
//
// Owns: instantiation (core: no imports are provided, so a core module that imports anything fails
// naming it; component: jco's `instantiate` with the WASI imports the entry declared, checked
// first), finding the method (`name`, or `iface#name` for a function of an exported interface),
// converting arguments and results (signature.ts for core, values.ts for components), and the
// memory limit (`limits.memory`): every memory.grow of a module compiled with the limit traps when
// it would pass it (memlimit.ts rewrote it; the trap's message is replaced by one naming the entry
// and the limit), and the memories a core module exports, or a component's core instances export
// (seen through jco's instantiateCore hook), are checked after instantiation and after every call
// (for what the rewrite does not cover: memory64, another memory, a module wabt cannot read).
// Under JSPI (artifact.jspi) the method returns a promise and the instance's clock and mailbox
// waits suspend it (jspi.ts); `call` is async either way.
// May call: artifact.ts, wasi.ts, host.ts, jspi.ts, memlimit.ts, signature.ts, values.ts.
//
// A trap (WebAssembly.RuntimeError) poisons the instance: `broken` is set and the pool drops it.
// A top-level `result` error of a component is not a trap: the instance stays usable.

import { loadComponentJs, type Artifact } from './artifact.js';
import { WasmError } from './errors.js';
import type { CallHost } from './host.js';
import type { GuestRun } from './jspi.js';
import { REFUSED_GLOBAL, refusedGrow } from './memlimit.js';
import { liftCore, lowerCore, type CoreSignature } from './signature.js';
import { toGuest, toHost, errorMessage } from './values.js';
import { checkImports, wasiImports, WasiContext, WasiExit, type OutputSink, type WasiSetup } from './wasi.js';

/** What an instance needs besides the artifact; plain data (crosses to pool workers). */
export interface InstanceSpec {
  entryId: string;
  method: string;
  /** Core modules: the method's WIT signature, when the entry has `wit`. */
  signature?: CoreSignature;
  /** Declared import groups (`wasi:clocks`, ...). */
  imports: string[];
  wasi: WasiSetup;
  memoryBytes?: number;
}

export class WasmInstance {
  broken = false;

  private constructor(
    private readonly spec: InstanceSpec,
    private readonly fn: (...a: unknown[]) => unknown,
    private readonly memories: WebAssembly.Memory[],
    private readonly ctx: WasiContext | undefined,
    private readonly component: boolean,
    private readonly refused: WebAssembly.Global[],
  ) {}

  static async create(art: Artifact, spec: InstanceSpec, sink: OutputSink, run?: GuestRun): Promise<WasmInstance> {
    if (art.shape === 'core') {
      const wanted = WebAssembly.Module.imports(art.module);
      if (wanted.length > 0) {
        const i = wanted[0]!;
        throw new WasmError('Unavailable', `${spec.entryId}: core module imports ${i.module}.${i.name} (${i.kind}), which this runtime does not provide to core modules; build a component to use WASI`);
      }
      const inst = new WebAssembly.Instance(art.module, {});
      const fn = inst.exports[spec.method];
      if (typeof fn !== 'function') throw notExported(spec, Object.keys(inst.exports).filter((k) => typeof inst.exports[k] === 'function'));
      const memories = Object.values(inst.exports).filter((x): x is WebAssembly.Memory => x instanceof WebAssembly.Memory);
      const g = inst.exports[REFUSED_GLOBAL];
      const out = new WasmInstance(spec, fn as (...a: unknown[]) => unknown, memories, undefined, false,
        g instanceof WebAssembly.Global ? [g] : []);
      out.checkMemory();
      return out;
    }
    checkImports(spec.imports, art.imports);
    const ctx = new WasiContext(spec.wasi, sink, spec.entryId);
    if (art.jspi) ctx.run = run;
    const imports = await wasiImports(art.imports, ctx);
    const mod = await loadComponentJs(art);
    let exports: Record<string, unknown>;
    // jco instantiates the component's core modules through this hook: it lets us see their
    // memories, so limits.memory applies to components as to core modules.
    const memories: WebAssembly.Memory[] = [];
    const refused: WebAssembly.Global[] = [];
    const instantiateCore = async (m: WebAssembly.Module, imp?: WebAssembly.Imports) => {
      const inst = await WebAssembly.instantiate(m, imp);
      for (const x of Object.values(inst.exports)) if (x instanceof WebAssembly.Memory) memories.push(x);
      const g = inst.exports[REFUSED_GLOBAL];
      if (g instanceof WebAssembly.Global) refused.push(g);
      return inst;
    };
    try {
      exports = await mod.instantiate((name) => art.cores[name]!, imports, instantiateCore);
    } catch (err) {
      throw new WasmError('Invalid', `${spec.entryId}: component failed to instantiate: ${(err as Error).message ?? String(err)}`);
    }
    const fn = findExport(exports, spec.method);
    if (!fn) throw notExported(spec, art.exports.map(([n, k]) => (k === 'instance' ? `${n}#...` : n)));
    const out = new WasmInstance(spec, fn, memories, ctx, true, refused);
    out.checkMemory();
    return out;
  }

  /** Calls the method. Returns the result value; throws WasmError / RuntimeError / WasiExit. */
  async call(args: unknown[], sink?: OutputSink, env?: Array<[string, string]>, host: CallHost = {}): Promise<unknown> {
    if (this.ctx) {
      if (sink) this.ctx.sink = sink;
      if (env) this.ctx.env = env;
      this.ctx.host = host;
    }
    try {
      if (!this.component) {
        const sig = this.spec.signature;
        const lowered = sig
          ? sig.params.map((p, i) => lowerCore(args[i], p.type, `${this.spec.entryId}: argument ${i + 1} (${p.name})`))
          : args;
        if (sig && args.length > sig.params.length) {
          throw new WasmError('Invalid', `${this.spec.entryId}: ${this.spec.method} takes ${sig.params.length} argument(s), got ${args.length}`);
        }
        const r = liftCore(this.fn(...lowered), sig?.result);
        this.checkMemory();
        return r;
      }
      const r = toHost(await this.fn(...args.map(toGuest)));
      this.checkMemory();
      return r;
    } catch (err) {
      if (err instanceof WebAssembly.RuntimeError) {
        this.broken = true;
        const limit = this.spec.memoryBytes;
        const why = limit !== undefined ? refusedGrow(this.spec.entryId, limit, this.refused, this.memories) : undefined;
        if (why) throw new WasmError('Internal', why);
      }
      if (err instanceof WasiExit) {
        if (err.code === 0) return null;
        throw new WasmError('Internal', `${this.spec.entryId}: ${err.message}`);
      }
      // jco's ComponentError (its class name; `name` stays "Error") carries the error result.
      const e = err as { constructor?: { name?: string }; payload?: unknown };
      if (e && typeof e === 'object' && e.constructor?.name === 'ComponentError' && 'payload' in e) {
        throw new WasmError('Internal', errorMessage(e.payload), { entry: this.spec.entryId, payload: toHost(e.payload) });
      }
      if (err instanceof TypeError || err instanceof RangeError) {
        throw new WasmError('Invalid', `${this.spec.entryId}: arguments do not match ${this.spec.method}: ${err.message}`);
      }
      throw err;
    }
  }

  private checkMemory(): void {
    const limit = this.spec.memoryBytes;
    if (limit === undefined) return;
    for (const m of this.memories) {
      if (m.buffer.byteLength > limit) {
        this.broken = true;
        throw new WasmError('Internal', `${this.spec.entryId}: memory ${m.buffer.byteLength} bytes exceeds limits.memory ${limit}`);
      }
    }
  }
}

const camel = (s: string) => s.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());

function findExport(exports: Record<string, unknown>, method: string): ((...a: unknown[]) => unknown) | undefined {
  const hash = method.indexOf('#');
  let target: unknown;
  if (hash < 0) target = exports[camel(method)] ?? exports[method];
  else {
    const iface = method.slice(0, hash);
    const holder = (exports[camel(iface)] ?? exports[iface] ??
      Object.entries(exports).find(([k]) => k.replace(/@[^/]*$/, '').endsWith(`/${iface}`))?.[1]) as Record<string, unknown> | undefined;
    const name = method.slice(hash + 1);
    target = holder?.[camel(name)] ?? holder?.[name];
  }
  return typeof target === 'function' ? (target as (...a: unknown[]) => unknown) : undefined;
}

function notExported(spec: InstanceSpec, have: string[]): WasmError {
  return new WasmError('NotFound', `${spec.entryId}: method ${spec.method} is not exported (exports: ${have.join(', ') || 'none'})`);
}
