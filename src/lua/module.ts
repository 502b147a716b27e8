// Which Lua WebAssembly module a worker's Lua state runs on.
//
// Two modules, one JavaScript side (wasmoon's glue, which loads any module with its imports and
// exports through `new LuaFactory(path)`):
//   - "native" (default): ours, vendor/lua-wasm/lua54.wasm, built by scripts/build-lua-wasm.sh
//     from Debian's Lua 5.4 sources plus patches/lua/*.patch and native/lua/*.c. A yield from Lua
//     code (directly, under pcall, in a `for` iterator or a metamethod) returns to lua_resume by
//     ordinary returns (docs/design/native-core.md).
//   - "wasmoon": wasmoon's own build. Every coroutine yield unwinds a JavaScript exception
//     through wasm (~2 µs on Node 24, ~4 µs on Node 20). Kept selectable as the reference the
//     tests compare ours with, and as the way back if ours misbehaves somewhere.
// Chosen by the environment variable WIPPY_LUA (unset or empty: the default), read once per
// thread; worker threads inherit the variable. Ours became the default once the whole suite and
// the stress runs passed on it on Node 20 and Node 24.
//
// Alternatives rejected: a Runtime option (the engine is created inside each worker, far from the
// options; an environment variable reaches every thread and every test unchanged).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { LuaFactory } from 'wasmoon';

/** The module kinds WIPPY_LUA accepts. */
export const LUA_MODULES = ['wasmoon', 'native'] as const;
export type LuaModuleKind = (typeof LUA_MODULES)[number];

/** vendor/lua-wasm/lua54.wasm of this package (this file runs as dist/src/lua/module.js). */
export const NATIVE_WASM = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..',
  'vendor', 'lua-wasm', 'lua54.wasm');

/** The module WIPPY_LUA names; a clear error for anything else. */
export function luaModuleKind(env: NodeJS.ProcessEnv = process.env): LuaModuleKind {
  const v = env.WIPPY_LUA;
  if (v === undefined || v === '') return 'native';
  if ((LUA_MODULES as readonly string[]).includes(v)) return v as LuaModuleKind;
  throw new Error(`WIPPY_LUA=${JSON.stringify(v)}: expected one of ${LUA_MODULES.join(', ')}`);
}

/** A wasmoon factory loading the module of `kind`. */
export function luaFactory(kind: LuaModuleKind = luaModuleKind()): LuaFactory {
  if (kind === 'wasmoon') return new LuaFactory();
  if (!existsSync(NATIVE_WASM)) {
    throw new Error(`WIPPY_LUA=native: ${NATIVE_WASM} is missing (build it with scripts/build-lua-wasm.sh)`);
  }
  return new LuaFactory(NATIVE_WASM);
}

/**
 * luaL_loadbufferx of `src` (as UTF-8 bytes) under chunk name `name`, through a module's raw
 * exports (`m`: the emscripten module, `L`: a lua_State). Returns the status; the chunk (or the
 * error message) is on top of the stack.
 */
export function loadChunk(m: any, L: number, src: string, name: string): number {
  const bytes = Buffer.from(src, 'utf8');
  const p = m._malloc(bytes.length || 1);
  m.HEAPU8.set(bytes, p);
  const cname = m.stringToNewUTF8(name);
  const st = m._luaL_loadbufferx(L, p, bytes.length, cname, 0);
  m._free(p);
  m._free(cname);
  return st;
}

/**
 * Global `name` of state L (raw exports `m`): a table of `fields`, each value pushed by
 * `push(value)` (a host function, a byte string).
 */
export function setGlobalTable<V>(m: any, L: number, name: string, fields: ReadonlyArray<readonly [string, V]>,
  push: (v: V) => void): void {
  m._lua_createtable(L, 0, fields.length);
  for (const [k, v] of fields) {
    push(v);
    const ck = m.stringToNewUTF8(k);
    m._lua_setfield(L, -2, ck);
    m._free(ck);
  }
  const cn = m.stringToNewUTF8(name);
  m._lua_setglobal(L, cn);
  m._free(cn);
}
