// Test door for the dialect: a plain wasmoon Lua 5.4 state with the types runtime
// (src/lua/lib/types.lua) installed as the kernel installs it, minus the rest of the kernel.
// Error objects are a small stand-in with :kind() and :message().
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { LuaFactory, type LuaEngine } from 'wasmoon';

const TYPES_SRC = readFileSync(path.resolve('src/lua/lib/types.lua'), 'utf8');
const factory = new LuaFactory();

const PRELUDE = String.raw`
local EMT = {}
EMT.__index = { kind = function(e) return e._kind end, message = function(e) return e._msg end }
EMT.__tostring = function(e) return e._msg end
local deps = {
  err = function(kind, msg) return setmetatable({ _kind = kind, _msg = msg }, EMT) end,
  is_error = function(v) return getmetatable(v) == EMT end,
}
local M = assert(load(TYPES_SRC, "@lib/types.lua", "t"))()(deps)
-- string(x) through a proxy like the sandbox's: the library table behind an __index, callable
local lib = string
string = setmetatable({}, { __index = lib })
M.install(_G, getmetatable(string))
function eq(got, want, what)
  if got ~= want then
    error(("%s: got %s, want %s"):format(what or "value", tostring(got), tostring(want)), 2)
  end
end
`;

/** A fresh Lua state with the types runtime and `eq(got, want, what)`. */
export async function typesLua(): Promise<LuaEngine> {
  const lua = await factory.createEngine();
  lua.global.set('TYPES_SRC', TYPES_SRC);
  await lua.doString(PRELUDE);
  return lua;
}

/**
 * Loads `code` as chunk `@name` and runs it under xpcall with a traceback. -> the chunk's first
 * result as a string, or throws an Error whose message is Lua's error plus traceback.
 */
export async function runChunk(lua: LuaEngine, code: string, name: string): Promise<string> {
  lua.global.set('CHUNK_SRC', code);
  lua.global.set('CHUNK_NAME', name);
  const r = (await lua.doString(String.raw`
    local f, err = load(CHUNK_SRC, "@" .. CHUNK_NAME, "t")
    if not f then return "LOAD: " .. err end
    local ok, v = xpcall(f, function(e) return debug.traceback(tostring(e), 2) end)
    if not ok then return "ERROR: " .. v end
    return "OK: " .. tostring(v)
  `)) as string;
  return r;
}
