// A Lua module's exports without the glue's wrappers, for the calls the host makes per step and per
// host call (src/lua/engine.ts).
//
// wasmoon's glue is an emscripten build with assertions: every export it puts on the module object
// (`m._lua_gettop`) is a JavaScript wrapper that asserts the runtime is initialised and the export
// exists, then calls it with `apply(null, arguments)`. Measured (one Lua state of our module, a loop
// of 2,000,000 calls, CPU time, Node 24 and 20, load average 5-9 from other jobs): lua_gettop
// 19-60 ns through the wrapper against 2.5-6.5 ns for the export itself; lua_pushnumber +
// lua_settop 38-80 against 6-11 ns. A worker's cross-worker message step makes ~6 such calls (the
// step's entry: lua_getglobal, lua_pcallk; the host functions it calls: `now` pushes the clock,
// `route` reads the uniq and pushes two results), and every host call from the VM 1-3
// (docs/design/scheduler.md, "Session 9").
//
// The glue keeps the instance's exports in a closure; the only way to them is the instance itself,
// captured here when the glue instantiates the module: while an engine is created
// (createEngineRaw), WebAssembly.instantiate and instantiateStreaming are wrapped, the instances
// whose exports hold lua_gettop are kept, and the glue's module object is matched to its instance
// by its memory (the instance's exported Memory's buffer is the glue's HEAPU8.buffer). What
// createEngineRaw returns as the module is an object whose prototype is the glue's module — its
// heap views (replaced on the glue's object when the memory grows, so read through it as they are),
// malloc, addFunction, … — with each `_name` the instance exports as `name` shadowed by the export
// itself: the same functions with the same arguments, minus the wrapper. When no instance is
// captured (the factory had instantiated its module before, or the glue changed) it is the glue's
// module unchanged. The wrappers are restored when the last engine being created is done; nothing
// else is changed in the instantiation (the same arguments, the same result).
//
// Alternatives rejected: the glue's own options (wasmoon's LuaFactory passes only locateFile and
// preRun to the glue, and its instantiateWasm hook is refused by this build's legacy-option checks);
// a glue of our own (it is wasmoon's; its JS side is what both modules share).
import type { LuaEngine, LuaFactory } from 'wasmoon';

type AsyncFn = (...args: unknown[]) => Promise<unknown>;
/** WebAssembly's two instantiating functions (instantiateStreaming is absent from Node's types). */
const WA = WebAssembly as unknown as Record<'instantiate' | 'instantiateStreaming', AsyncFn | undefined>;
const NAMES = ['instantiate', 'instantiateStreaming'] as const;

let creating = 0;
let captured: WebAssembly.Instance[] = [];
const originals = new Map<string, AsyncFn | undefined>();

function keep(result: unknown): void {
  const inst = (result as { instance?: WebAssembly.Instance }).instance ?? (result as WebAssembly.Instance);
  if (inst instanceof WebAssembly.Instance && typeof inst.exports.lua_gettop === 'function') captured.push(inst);
}

function hook(): void {
  for (const name of NAMES) {
    const orig = WA[name];
    originals.set(name, orig);
    if (orig === undefined) continue;
    WA[name] = function (this: unknown, ...args: unknown[]) {
      return orig.apply(this, args).then((r) => { keep(r); return r; });
    };
  }
}

function unhook(): void {
  for (const name of NAMES) if (originals.get(name) !== undefined) WA[name] = originals.get(name);
  originals.clear();
  captured = [];
}

/** The glue's module `m` with its `_name` exports replaced by the instance's own (see the top). */
function unwrapped(m: any, inst: WebAssembly.Instance): any {
  const fast = Object.create(m);
  for (const [name, v] of Object.entries(inst.exports)) {
    // (and our own luaW_ exports, which the glue does not know: native/lua/lhostfn.c's setter)
    if (typeof v === 'function' && (typeof m[`_${name}`] === 'function' || name.startsWith('luaW_'))) fast[`_${name}`] = v;
  }
  return fast;
}

/**
 * factory.createEngine(options), and the engine's module object with its exports unwrapped (see
 * the top; the glue's module when no instance was captured).
 */
export async function createEngineRaw(factory: LuaFactory, options: Parameters<LuaFactory['createEngine']>[0]):
  Promise<{ engine: LuaEngine; module: any }> {
  if (creating++ === 0) hook();
  let engine: LuaEngine;
  let inst: WebAssembly.Instance | undefined;
  try {
    engine = await factory.createEngine(options);
    const m = (engine.global as any).lua.module;
    const i = captured.findIndex((c) => Object.values(c.exports).some((v) => v instanceof WebAssembly.Memory && v.buffer === m.HEAPU8.buffer));
    if (i >= 0) { inst = captured[i]; captured.splice(i, 1); }
  } finally {
    if (--creating === 0) unhook();
  }
  const m = (engine.global as any).lua.module;
  return { engine, module: inst !== undefined ? unwrapped(m, inst) : m };
}
