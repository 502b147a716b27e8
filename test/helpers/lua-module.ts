// Test and bench helper: a bare Lua state (standard libraries only) on either Lua module
// (src/lua/module.ts), driven through wasmoon's raw exports on the main thread, plus counters of
// how often the module threw a JS exception (`_emscripten_throw_longjmp`: an error or an unwinding
// yield) and entered a protected call through JS (`invoke_vii`: wasmoon's module; ours catches
// in wasm).
//
// The counters wrap the glue's import functions: WebAssembly.instantiate is patched for the one
// instantiation of the factory and restored right after.
import { LuaFactory } from 'wasmoon';
import { luaFactory, loadChunk, type LuaModuleKind } from '../../src/lua/module.js';

export interface BareLua {
  /** Run a chunk on the main thread (lua_pcallk); returns its one result as a string. */
  run(src: string, name?: string): string;
  /** Register a raw C-style host function (like src/lua/engine.ts's) as global `name`. */
  defineRaw(name: string, fn: (L: number) => number): void;
  /** JS exceptions thrown by the module (errors and unwinding yields) since creation. */
  throws(): number;
  /** Protected calls entered (lua_resume, lua_pcallk, ...) since creation. */
  invokes(): number;
  /**
   * Drop the state. Not wasmoon's Global.close(): it calls luaL_unref after lua_close and after
   * removing the allocator (a use-after-free in wasmoon 1.16 that wasmoon's module survives by
   * chance and ours, with another malloc, does not). Each factory has its own wasm instance, so
   * dropping the references frees everything.
   */
  close(): void;
}

/**
 * A bare state on the module of `kind`, or on the module file `wasm` (another build of ours, e.g.
 * an older checkout's vendor/lua-wasm/lua54.wasm, for before/after measurements).
 */
export async function bareLua(kind: LuaModuleKind, wasm?: string): Promise<BareLua> {
  const counts = { throws: 0, invokes: 0 };
  const original = WebAssembly.instantiate;
  const patched = function (this: unknown, bytes: any, imports?: any) {
    const env = imports?.env;
    if (env && typeof env._emscripten_throw_longjmp === 'function' && typeof env.invoke_vii === 'function') {
      const thr = env._emscripten_throw_longjmp;
      const inv = env.invoke_vii;
      imports = { ...imports, env: { ...env,
        _emscripten_throw_longjmp: () => { counts.throws++; return thr(); },
        invoke_vii: (i: number, a: number, b: number) => { counts.invokes++; return inv(i, a, b); },
      } };
    }
    return (original as any).call(WebAssembly, bytes, imports);
  };
  (WebAssembly as any).instantiate = patched;
  let engine;
  try {
    engine = await (wasm ? new LuaFactory(wasm) : luaFactory(kind)).createEngine({ openStandardLibs: true, injectObjects: false, enableProxy: false });
  } finally {
    (WebAssembly as any).instantiate = original;
  }
  const m: any = (engine.global as any).lua.module;
  const L: number = engine.global.address;
  const lenPtr: number = m._malloc(8);
  const str = (idx: number): string => {
    const p = m._lua_tolstring(L, idx, lenPtr);
    if (p === 0) return `(${m._lua_type(L, idx) === 0 ? 'nil' : 'non-string'})`;
    return Buffer.from(m.HEAPU8.subarray(p, p + m.HEAPU32[lenPtr >> 2])).toString('utf8');
  };
  return {
    run(src, name = '=chunk') {
      let st = loadChunk(m, L, src, name);
      if (st === 0) st = m._lua_pcallk(L, 0, 1, 0, 0, 0);
      const out = str(-1);
      m._lua_settop(L, 0);
      if (st !== 0) throw new Error(`${name}: ${out}`);
      return out;
    },
    defineRaw(name, fn) {
      m._lua_pushcclosure(L, m.addFunction(fn, 'ii'), 0);
      const cname = m.stringToNewUTF8(name);
      m._lua_setglobal(L, cname);
      m._free(cname);
    },
    throws: () => counts.throws,
    invokes: () => counts.invokes,
    close: () => { m._free(lenPtr); },
  };
}
