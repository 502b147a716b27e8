// The Lua half of the value codec (src/lua/lib/codec.lua) in a bare wasmoon state, for the codec
// fuzz test. Bytes cross the wasmoon boundary as hex (wasmoon converts Lua strings to JS strings as
// UTF-8, which would mangle binary). Every call runs under an instruction budget, so a decoder
// that loops forever comes back as the error "HANG" instead of freezing the test.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { LuaFactory, type LuaEngine } from 'wasmoon';

/**
 * Lua text that loads codec.lua (its source in the global CODEC_SRC) as the global `codec`, with
 * the kernel's error functions it needs stubbed, and defines the locals `unhex` and `hex` (bytes
 * cross the wasmoon boundary as hex). Text run after it in the same chunk sees both.
 */
export const CODEC_PRELUDE = `
local ERR_MT = { __tostring = function(e) return e.message end }
local K = {}
function K.is_error(v) return type(v) == "table" and getmetatable(v) == ERR_MT end
function K.error_fields(v) return v end
function K.make_error(f)
  return setmetatable({ kind = f.kind, message = f.message, retryable = f.retryable, details = f.details }, ERR_MT)
end
codec = load(CODEC_SRC, "=codec.lua")()(K)
local function unhex(h) return (h:gsub("..", function(x) return string.char(tonumber(x, 16)) end)) end
local function hex(s) return (s:gsub(".", function(c) return string.format("%02x", c:byte()) end)) end
`;

const PRELUDE = CODEC_PRELUDE + `

-- Runs f under an instruction budget: an endless loop raises "HANG".
local function budgeted(f, ...)
  debug.sethook(function() error("HANG", 0) end, "", BUDGET)
  local r = table.pack(pcall(f, ...))
  debug.sethook()
  return table.unpack(r, 1, r.n)
end

-- -> "ok", next_pos | "err", message
function fz_decode(h, which)
  local s = unhex(h)
  local ok, v, nxt = budgeted(which == "args" and codec.decode_args or codec.decode, s)
  if ok then return "ok", which == "args" and -1 or nxt end
  return "err", tostring(v)
end

-- decode then encode again: -> "ok", hex | "err", message
function fz_reencode(h)
  local ok, v = budgeted(codec.decode, unhex(h))
  if not ok then return "err", tostring(v) end
  local ok2, s = budgeted(codec.encode, v)
  if not ok2 then return "err", tostring(s) end
  return "ok", hex(s)
end

-- The state still works: a value with sharing and a cycle round-trips.
function fz_alive()
  local t = { 1, "two", { 3.5 } }
  t.self = t
  local r = codec.decode(codec.encode(t))
  return r.self == r and r[3][1] == 3.5 and math.type(r[3][1]) == "float"
end
`;

export interface LuaCodec {
  /** Decodes `bytes` with codec.decode (or decode_args): ok with the next position, or the error text. */
  decode(bytes: Uint8Array, which?: 'value' | 'args'): { ok: true; next: number } | { ok: false; error: string };
  /** codec.decode then codec.encode: the re-encoded bytes, or the error text. */
  reencode(bytes: Uint8Array): { ok: true; bytes: Uint8Array } | { ok: false; error: string };
  /** True when the state still decodes and encodes correctly. */
  alive(): boolean;
  close(): void;
}

/** A wasmoon state holding codec.lua; `budget` is the instruction count that counts as a hang. */
export async function luaCodec(budget = 200_000_000): Promise<LuaCodec> {
  const engine: LuaEngine = await new LuaFactory().createEngine({ injectObjects: false, enableProxy: false });
  engine.global.set('CODEC_SRC', readFileSync(path.resolve('src/lua/lib/codec.lua'), 'utf8'));
  engine.global.set('BUDGET', budget);
  engine.doStringSync(PRELUDE);
  // One string result ("ok\n<value>" / "err\n<message>"), so nothing depends on how wasmoon maps
  // multiple results or tables.
  const call = (name: string, a: string, b = ''): [string, string] => {
    engine.global.set('FZ_A', a);
    engine.global.set('FZ_B', b);
    const r = String(engine.doStringSync(`local t, v = ${name}(FZ_A, FZ_B); return t .. "\\n" .. tostring(v)`));
    const cut = r.indexOf('\n');
    return [r.slice(0, cut), r.slice(cut + 1)];
  };
  return {
    decode(bytes, which = 'value') {
      const [tag, v] = call('fz_decode', Buffer.from(bytes).toString('hex'), which);
      return tag === 'ok' ? { ok: true, next: Number(v) } : { ok: false, error: String(v) };
    },
    reencode(bytes) {
      const [tag, v] = call('fz_reencode', Buffer.from(bytes).toString('hex'));
      return tag === 'ok' ? { ok: true, bytes: new Uint8Array(Buffer.from(String(v), 'hex')) } : { ok: false, error: String(v) };
    },
    alive() {
      return engine.doStringSync('return fz_alive()') === true;
    },
    close() { engine.global.close(); },
  };
}
