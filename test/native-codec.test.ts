// The value codec in C (native/lua/lcodec.c, `wippy.native`.codec on our Lua module) against the
// one in Lua (src/lua/lib/codec.lua), in the same Lua state: the same values through both must
// give the same bytes, the same values (same types, same math.type, same sharing and cycles, same
// `#` and the same `next` order), and the same errors and limits.
//
// Two K's, as codec.lua receives them: the tests' (error objects are tables with a private
// metatable, every test through a Lua callback) and the kernel's shape (a weak registry of error
// objects handed over as K.error_registry, tested with one raw lookup in C).
//
// (Copies are compared as values: the C copy is presized, so its `next` order may differ.)
//
// Values are generated with fast-check (seeded per property, test/helpers/fuzz.ts) as a recipe and
// built in Lua from source text: scalars at every header boundary, strings of any bytes, arrays
// with holes, maps with keys of every sendable type, error objects with odd fields, functions,
// coroutines and userdata, and links added afterwards that make tables shared and cyclic.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import type { LuaEngine } from 'wasmoon';
import { luaFactory } from '../src/lua/module.js';
import { fuzzParams } from './helpers/fuzz.js';
import { hostileFrame } from './helpers/gen-msgpack.js';
import { SAME_LUA } from './helpers/lua-same.js';

const PRELUDE = `
local native = package.loaded["wippy.native"]
assert(native and native.codec, "wippy.native.codec missing from our module")
local load_codec = load(CODEC_SRC, "=codec.lua")

-- The tests' K: error objects are tables with a metatable. REENTER makes the callbacks run a
-- nested encode and decode (as a __gc finaliser could); FAIL makes error_fields raise.
local ERR_MT = { __tostring = function(e) return e.message end }
local KT = {}
function KT.is_error(v) return type(v) == "table" and getmetatable(v) == ERR_MT end
local function reenter(codec)
  if not REENTER then return end
  local inner = { nested = { 1, 2 } }
  inner.self = inner
  local r = codec.decode(codec.encode(inner))
  assert(r.self == r and r.nested[2] == 2, "nested round trip")
  local c = codec.copy(inner)
  assert(c.self == c and c ~= inner)
end
function KT.error_fields(v) reenter(REENTER); if FAIL then error("boom", 0) end; return v end
function KT.make_error(f)
  reenter(REENTER)
  return setmetatable({ kind = f.kind, message = f.message, retryable = f.retryable, details = f.details,
    stack = f.stack }, ERR_MT)
end

-- The kernel's shape: a weak registry, error_fields returns a fresh table.
local DATA = setmetatable({}, { __mode = "k" })
local KR = { error_registry = DATA }
function KR.is_error(v) return DATA[v] ~= nil end
function KR.error_fields(v)
  local d = DATA[v]
  return { kind = d.kind, message = d.message, retryable = d.retryable, details = d.details, stack = d.stack }
end
function KR.make_error(f)
  local e = {}
  DATA[e] = { kind = f.kind, message = f.message, retryable = f.retryable, details = f.details, stack = f.stack }
  return e
end

local function with(K, nat)
  local k = {}
  for n, f in pairs(K) do k[n] = f end
  k.native = nat
  return load_codec()(k)
end
CODECS = {
  t = { K = KT, L = with(KT, false), C = with(KT, native) },
  r = { K = KR, L = with(KR, false), C = with(KR, native) },
}
assert(CODECS.t.C.native and CODECS.r.C.native and not CODECS.t.L.native)

function hex(s) return (s:gsub(".", function(c) return string.format("%02x", c:byte()) end)) end
function unhex(h) return (h:gsub("..", function(x) return string.char(tonumber(x, 16)) end)) end

${SAME_LUA}

-- Both codecs of K-variant kv on value v: encode, decode, copy, encode_args/decode_args.
-- -> a short description of what was compared (for the test's counts)
function both(kv, v, nargs)
  local c = CODECS[kv]
  local K, L, C = c.K, c.L, c.C
  local sL, eL = L.encode(v)
  local sC, eC = C.encode(v)
  if sL ~= sC or eL ~= eC then
    error("encode differs: " .. (sL and hex(sL) or tostring(eL)) .. " vs " .. (sC and hex(sC) or tostring(eC)), 0)
  end
  local out = sL and "enc" or "refused"
  if sL then
    local vL, nL = L.decode(sL)
    local vC, nC = C.decode(sL)
    if nL ~= nC then error("decode next_pos " .. nL .. " vs " .. nC, 0) end
    TABLE_KEYS = false
    same(K, vL, vC, "decoded")
    -- (a table key's place in its map depends on its address, so then the order may differ)
    local rL, rC = L.encode(vL), L.encode(vC)
    if rL ~= rC and not TABLE_KEYS then error("decoded values encode differently", 0) end
  end
  local cL, ceL = L.copy(v)
  local cC, ceC = C.copy(v)
  if ceL ~= ceC then error("copy error: " .. tostring(ceL) .. " vs " .. tostring(ceC), 0) end
  if not ceL then
    -- a copy in C is presized (lcodec.c): the same value, its next order and # with holes may differ
    same(K, cL, cC, "copy", nil, true)
    out = out .. "+copy"
  end
  local args = { v, 1, v, "x" }
  local aL, aeL = L.encode_args(nargs, table.unpack(args, 1, nargs))
  local aC, aeC = C.encode_args(nargs, table.unpack(args, 1, nargs))
  if aL ~= aC or aeL ~= aeC then error("encode_args differs", 0) end
  if aL then
    local rL = table.pack(L.decode_args(aL))
    local rC = table.pack(C.decode_args(aL))
    if rL.n ~= rC.n or rL[1] ~= rC[1] then error("decode_args count differs", 0) end
    same(K, rL, rC, "args")
  end
  both_frame(kv, "{app.x|0x0001f}", nargs, table.unpack(args, 1, nargs))
  return out
end

-- encode_frame (C only) against encode of the two tables made by constructors, as process.send
-- makes its "m" frame: the same bytes or the same error, through C's encode and codec.lua's.
function both_frame(kv, pid, n, ...)
  local c = CODECS[kv]
  local fC, feC = c.C.encode_frame(5, "m", pid, "{app.y|0x00020}", "topic", n, ...)
  local f = { "m", pid, "{app.y|0x00020}", "topic", n, { ... } }
  local sL, eL = c.L.encode(f)
  local sC, eC = c.C.encode(f)
  if sL ~= sC or eL ~= eC then error("encode of the frame differs between C and Lua", 0) end
  if fC ~= sC or feC ~= eC then
    error("encode_frame differs: " .. (fC and hex(fC) or tostring(feC)) .. " vs " .. (sC and hex(sC) or tostring(eC)), 0)
  end
  return fC ~= nil
end

-- Decoding the same bytes: the same value or the same error message.
function both_decode(kv, s, which)
  local c = CODECS[kv]
  local f = which == "args" and "decode_args" or "decode"
  local rL = table.pack(pcall(c.L[f], s))
  local rC = table.pack(pcall(c.C[f], s))
  if rL[1] ~= rC[1] then error(f .. ": " .. tostring(rL[2]) .. " vs " .. tostring(rC[2]), 0) end
  if not rL[1] then
    if rL[2] ~= rC[2] then error(f .. " error: " .. tostring(rL[2]) .. " vs " .. tostring(rC[2]), 0) end
    return "error"
  end
  same(c.K, rL, rC, f)
  return "ok"
end

-- Constructors the generated source uses.
TABS = {}
function R(t) TABS[#TABS + 1] = t; return t end
function E(kv, kind, message, retryable, details)
  return CODECS[kv].K.make_error({ kind = kind, message = message, retryable = retryable, details = details })
end
FN = function() end
CO = coroutine.create(FN)
UD = io.stdout
`;

let engine: LuaEngine;
const run = (code: string): unknown => engine.doStringSync(code);

before(async () => {
  engine = await luaFactory('native').createEngine({ injectObjects: false, enableProxy: false });
  engine.global.set('CODEC_SRC', readFileSync(path.resolve('src/lua/lib/codec.lua'), 'utf8'));
  run(PRELUDE);
});

// Dropped, not closed: wasmoon's Global.close() calls luaL_unref after lua_close, which traps on
// our module (docs/design/native-core.md, "What is left").
after(() => { (engine as unknown) = undefined; });

// ---- the recipe ----------------------------------------------------------------------------------

type Node =
  | { t: 'int'; v: bigint }
  | { t: 'float'; v: number }
  | { t: 'str'; v: Uint8Array }
  | { t: 'bool'; v: boolean }
  | { t: 'nil' }
  | { t: 'raw'; v: 'FN' | 'CO' | 'UD' }
  | { t: 'arr'; items: Node[] }
  | { t: 'map'; entries: Array<[Node, Node]> }
  | { t: 'err'; kind: Node; message: Node; retryable: Node; details: Node };

const INT_EDGES = [
  -129, -128, -33, -32, -1, 0, 1, 127, 128, 255, 256, 65535, 65536, -32768, -32769, 2 ** 31, -(2 ** 31),
  -(2 ** 31) - 1, 2 ** 32 - 1, 2 ** 32, 2 ** 53,
].map((v) => BigInt(v)).concat([2n ** 63n - 1n, -(2n ** 63n)]);
const STR_EDGES = [0, 1, 31, 32, 255, 256, 65535, 65536];

const int = fc.oneof(
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
  fc.integer({ min: -300, max: 300 }).map(BigInt),
  fc.constantFrom(...INT_EDGES),
).map((v): Node => ({ t: 'int', v }));
const float = fc.oneof(
  fc.double(),
  fc.constantFrom(0.5, -0, 1, 1e300, Number.MIN_VALUE, NaN, Infinity, -Infinity),
).map((v): Node => ({ t: 'float', v }));
const str = fc.oneof(
  { weight: 4, arbitrary: fc.uint8Array({ maxLength: 40 }) },
  { weight: 1, arbitrary: fc.constantFrom(...STR_EDGES).map((n) => new Uint8Array(n).fill(0x61)) },
).map((v): Node => ({ t: 'str', v }));
const bool = fc.boolean().map((v): Node => ({ t: 'bool', v }));
const nil: fc.Arbitrary<Node> = fc.constant({ t: 'nil' });
const raw = fc.constantFrom<Node>({ t: 'raw', v: 'FN' }, { t: 'raw', v: 'CO' }, { t: 'raw', v: 'UD' });
const scalar = fc.oneof(int, float, str, bool, nil);

const { value } = fc.letrec<{ value: Node; key: Node; arr: Node; map: Node; err: Node }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    { weight: 6, arbitrary: scalar },
    { weight: 2, arbitrary: tie('arr') },
    { weight: 2, arbitrary: tie('map') },
    { weight: 1, arbitrary: tie('err') },
    { weight: 1, arbitrary: raw },
  ),
  key: fc.oneof(
    { depthSize: 'small' },
    { weight: 6, arbitrary: fc.oneof(int, str, bool, float.filter((n) => n.t === 'float' && !Number.isNaN(n.v))) },
    { weight: 1, arbitrary: tie('arr') },
    { weight: 1, arbitrary: tie('err') },
    { weight: 1, arbitrary: raw },
  ),
  arr: fc.oneof(
    fc.array(tie('value'), { maxLength: 8 }),
    fc.array(fc.oneof(int, str), { minLength: 14, maxLength: 20 }), // around the fixarray limit
  ).map((items): Node => ({ t: 'arr', items })),
  map: fc.array(fc.tuple(tie('key'), tie('value')), { maxLength: 18 }).map((entries): Node => ({ t: 'map', entries })),
  err: fc.record({
    kind: fc.oneof(str, int, bool, nil),
    message: fc.oneof(str, float, nil),
    retryable: fc.oneof(nil, bool, int),
    details: fc.oneof(nil, tie('value'), raw),
  }).map((f): Node => ({ t: 'err', ...f })),
}));

/** Links added after building: TABS[a][key] = TABS[b] (sharing and cycles). */
const links = fc.array(fc.tuple(fc.nat(), fc.nat(), fc.oneof(fc.constantFrom('self', 'up'), fc.integer({ min: 1, max: 4 }))), { maxLength: 4 });

function lit(n: Node, kv: string): string {
  switch (n.t) {
    case 'int': return n.v === -(2n ** 63n) ? 'math.mininteger' : `(${n.v})`;
    case 'float': {
      const v = n.v;
      if (Number.isNaN(v)) return '(0/0)';
      if (v === Infinity) return '(1/0)';
      if (v === -Infinity) return '(-1/0)';
      if (Object.is(v, -0)) return '(-0.0)';
      const s = String(v);
      return `(${/[.eE]/.test(s) || s.includes('Infinity') ? s : `${s}.0`})`;
    }
    case 'str': return `"${Array.from(n.v, (b) => `\\x${b.toString(16).padStart(2, '0')}`).join('')}"`;
    case 'bool': return String(n.v);
    case 'nil': return 'nil';
    case 'raw': return n.v;
    case 'arr': return `R({${n.items.map((x) => lit(x, kv)).join(',')}})`;
    case 'map': return `R({${n.entries.filter(([k]) => k.t !== 'nil').map(([k, x]) => `[${lit(k, kv)}]=${lit(x, kv)}`).join(',')}})`;
    case 'err': return `E("${kv}",${lit(n.kind, kv)},${lit(n.message, kv)},${lit(n.retryable, kv)},${lit(n.details, kv)})`;
  }
}

function source(n: Node, ls: Array<[number, number, string | number]>, kv: string): string {
  const link = ls.map(([a, b, k]) =>
    `if #TABS > 0 then TABS[${a} % #TABS + 1][${typeof k === 'string' ? `"${k}"` : k}] = TABS[${b} % #TABS + 1] end`);
  return `TABS = {}\nlocal v = ${lit(n, kv)}\n${link.join('\n')}\nreturn v`;
}

const counts = new Map<string, number>();
function check(kv: 't' | 'r', n: Node, ls: Array<[number, number, string | number]>, nargs: number): void {
  const src = source(n, ls, kv);
  engine.global.set('SRC', src);
  const r = run(`local v = assert(load(SRC, "=value"))(); return both("${kv}", v, ${nargs})`) as string;
  counts.set(r, (counts.get(r) ?? 0) + 1);
}

// ---- properties ----------------------------------------------------------------------------------

for (const kv of ['t', 'r'] as const) {
  const who = kv === 't' ? "the tests' K" : "the kernel's K (registry)";
  test(`native codec: generated values give the same bytes, values and errors in C and Lua (${who})`, () => {
    counts.clear();
    fc.assert(fc.property(value, links, fc.integer({ min: 0, max: 4 }), (n, ls, nargs) => {
      try { check(kv, n, ls, nargs); } catch (e) {
        throw new Error(`${String(e)}\n--- source:\n${source(n, ls, kv).slice(0, 2000)}`);
      }
    }), fuzzParams(`native-codec-values-${kv}`, 300));
    // the generator reaches both outcomes: encoded (and copied) values, and refused ones
    assert.ok((counts.get('enc+copy') ?? 0) > 0 && (counts.get('refused') ?? 0) > 0, JSON.stringify([...counts]));
  });
}

test('native codec: hostile frames decode to the same value or the same error in C and Lua', () => {
  const seen = new Map<string, number>();
  fc.assert(fc.property(hostileFrame, (b) => {
    engine.global.set('HEX', Buffer.from(b).toString('hex'));
    for (const which of ['value', 'args']) {
      const r = run(`return both_decode("t", unhex(HEX), "${which}")`) as string;
      seen.set(r, (seen.get(r) ?? 0) + 1);
    }
  }), fuzzParams('native-codec-hostile', 400));
  assert.ok((seen.get('ok') ?? 0) > 0 && (seen.get('error') ?? 0) > 0, JSON.stringify([...seen]));
});

// decode_at reads the bytes where they lie in the module's memory (the worker's input area):
// bytes copied into malloc'd memory give, from every frame start, what decode gives on the
// same bytes as a string — the same value, next position, or error message.
test('native codec: decode_at from the module\'s memory agrees with decode on the same bytes', () => {
  const m = (engine.global as unknown as { lua: { module: any } }).lua.module;
  run(`
    function at_vs_string(kv, addr, s, len)
      local c = CODECS[kv]
      local pos, frames = 1, 0
      while pos <= len do
        local rS = table.pack(pcall(c.C.decode, s, pos))
        local rA = table.pack(pcall(c.C.decode_at, addr, pos, len))
        if rS[1] ~= rA[1] then error("outcome differs at " .. pos .. ": " .. tostring(rS[2]) .. " vs " .. tostring(rA[2]), 0) end
        if not rS[1] then
          if rS[2] ~= rA[2] then error("error differs: " .. tostring(rS[2]) .. " vs " .. tostring(rA[2]), 0) end
          return frames .. "+error"
        end
        if rS[3] ~= rA[3] then error("next position differs", 0) end
        local a, b = rS[2], rA[2]
        if type(a) == "table" and not c.K.is_error(a) and type(b) == "table" then
          -- a frame's outer array is presized (lcodec.c decode_at): the same keys and values,
          -- its own # and order may differ where it has nils; everything inside is compared whole
          local m, na, nb = {}, 0, 0
          m[a] = b
          for k, v in next, a do
            na = na + 1
            if type(k) == "table" or type(k) == "userdata" then TABLE_KEYS = true
            else same(c.K, v, rawget(b, k), "decoded." .. tostring(k), m) end
          end
          for _ in next, b do nb = nb + 1 end
          if na ~= nb then error("decoded: " .. na .. " keys vs " .. nb, 0) end
          if not TABLE_KEYS then
            for k in next, a do if math.type(k) == "integer" then assert(rawget(b, k) ~= nil) end end
          end
        else
          same(c.K, a, b, "decoded")
        end
        pos, frames = rS[3], frames + 1
      end
      return frames .. ""
    end
  `);
  const outcomes = new Map<string, number>();
  const check = (bytes: Uint8Array): void => {
    const p = m._malloc(bytes.length + 1);
    try {
      m.HEAPU8.set(bytes, p);
      engine.global.set('HEX', Buffer.from(bytes).toString('hex'));
      for (const kv of ['t', 'r']) {
        const r = run(`return at_vs_string("${kv}", ${p}, unhex(HEX), ${bytes.length})`) as string;
        const kind = r.endsWith('+error') ? 'error' : Number(r) > 1 ? 'frames' : 'one';
        outcomes.set(kind, (outcomes.get(kind) ?? 0) + 1);
      }
    } finally { m._free(p); }
  };
  // a batch of several frames, as a step gets it: the same values decoded one after the other
  const batch = run(`
    local C = CODECS.t.C
    local shared = { 1, { "x" } }
    return hex(C.encode_frame(5, "m", "{a|0x00001}", "{b|0x00002}", "t", 2, shared, shared)
      .. C.encode({ "e", "{a|0x00001}", { kind = "EXIT", from = "{b|0x00002}" } })
      .. C.encode_frame(5, "m", "{a|0x00001}", "{b|0x00002}", "t", 0)
      .. C.encode({ "t", "{a|0x00001}", "{b|0x00002}" }))
  `) as string;
  check(Buffer.from(batch, 'hex'));
  fc.assert(fc.property(hostileFrame, (b) => { check(b); }), fuzzParams('native-codec-decode-at', 300));
  assert.ok((outcomes.get('frames') ?? 0) > 0 && (outcomes.get('error') ?? 0) > 0, JSON.stringify([...outcomes]));
  // arguments: an address and a length are required, the position is 1 or more
  run(`
    local C = CODECS.t.C
    for _, args in ipairs({ { 0, 1, 1 }, { 8, 1, -1 }, { "8", 1, 1 }, { 8, 1 } }) do
      local ok, e = pcall(C.decode_at, args[1], args[2], args[3])
      assert(not ok and e:find("expected an address and a length", 1, true), tostring(e))
    end
    local ok, e = pcall(C.decode_at, 8, 0, 1)
    assert(not ok and e:find("pos must be a positive integer", 1, true), tostring(e))
  `);
});

// ---- limits, errors, re-entrance -----------------------------------------------------------------

test('native codec: the depth limits are the same (512 tables encoded, 500 copied)', () => {
  run(`
    local function chain(n) local t = {}; local top = t; for _ = 2, n do local c = {}; t[1] = c; t = c end; return top end
    local function mapchain(n) local t = {}; local top = t; for _ = 2, n do local c = {}; t.k = c; t = c end; return top end
    for _, kv in ipairs({ "t", "r" }) do
      for _, n in ipairs({ 499, 500, 501, 511, 512, 513, 600 }) do
        both(kv, chain(n), 1)
        both(kv, mapchain(n), 0)
      end
    end
    local C = CODECS.t.C
    assert(C.encode(chain(512)) and select(2, C.encode(chain(513))) == "value nested deeper than 512 tables")
    assert(C.copy(chain(500)) and select(2, C.copy(chain(501))) == "value nested deeper than 500 tables")
    -- decode: 512 levels decode, 513 do not (same message and byte in both)
    local s = string.rep("\\x91", 513) .. "\\xc0"
    both_decode("t", s, "value")
    local ok, e = pcall(C.decode, s)
    assert(not ok and e == "codec.decode: value nested deeper than 512 tables at byte 514", e)
    assert(C.decode(string.rep("\\x91", 512) .. "\\xc0"))
  `);
});

test('native codec: error objects nested in error objects are bounded in C (the one documented difference)', () => {
  run(`
    for _, kv in ipairs({ "t", "r" }) do
      local c = CODECS[kv]
      local e = c.K.make_error({ kind = "K", message = "m" })
      for _ = 2, 512 do e = c.K.make_error({ kind = "K", message = "m", details = e }) end
      both(kv, e, 1) -- 512 levels: the same in both
      local deeper = c.K.make_error({ kind = "K", message = "m", details = e })
      local s, why = c.C.encode(deeper)
      assert(s == nil and why == "value nested deeper than 512 tables", why)
      -- codec.lua encodes it, and no decoder accepts what it wrote
      local sl = assert(c.L.encode(deeper))
      for _, dec in ipairs({ c.L.decode, c.C.decode }) do
        local ok, err = pcall(dec, sl)
        assert(not ok and err:find("nested deeper than 512", 1, true), err)
      end
    end
  `);
});

test('native codec: MAX_BYTES, with codec.lua\'s lower bound of the size', () => {
  run(`
    local MAX = 64 * 1024 * 1024
    local big = string.rep("a", MAX + 1)
    for _, kv in ipairs({ "t", "r" }) do
      local c = CODECS[kv]
      for _, codec in ipairs({ c.L, c.C }) do
        local s, why = codec.encode(big)
        assert(s == nil and why == "value too large: more than 64 MiB encoded", why)
      end
    end
    -- 19 empty strings and one of MAX - 30 bytes: MAX - 3 bytes encoded, but codec.lua's bound
    -- (counted bytes + one per part) is MAX + 11: refused by both
    local a = {}
    for i = 1, 19 do a[i] = "" end
    a[20] = string.rep("b", MAX - 30)
    local L, C = CODECS.t.L, CODECS.t.C
    local sl, wl = L.encode_args(20, table.unpack(a))
    local sc, wc = C.encode_args(20, table.unpack(a))
    assert(sl == nil and sc == nil and wl == wc and wc == "value too large: more than 64 MiB encoded", tostring(wc))
    -- one byte under the bound: both encode, the same bytes
    a[20] = string.rep("b", MAX - 41)
    sl = assert(L.encode_args(20, table.unpack(a)))
    sc = assert(C.encode_args(20, table.unpack(a)))
    assert(sl == sc and #sc == MAX - 14)
    a, sl, sc, big = nil, nil, nil, nil
    collectgarbage()
  `);
});

test('native codec: encode_frame gives the bytes of the frame tables it does not make', () => {
  const r = run(`
    local n, ok = 0, 0
    local function frame(kv, pid, cnt, ...)
      n = n + 1
      if both_frame(kv, pid, cnt, ...) then ok = ok + 1 end
    end
    local shared = { 1, 2, { "x" } }
    local cyc = {}; cyc.self = cyc
    local long = string.rep("p", 40) -- a field of 32 bytes or more is not a cached piece
    for _, kv in ipairs({ "t", "r" }) do
      local E = CODECS[kv].K.make_error({ kind = "NotFound", message = "m", details = { a = 1 } })
      frame(kv, "{app.x|0x0001f}", 0)                        -- no payload: an empty map
      frame(kv, "{app.x|0x0001f}", 1, 42)
      frame(kv, long, 3, -129, 256, 2^53)                     -- integers past the cached pieces
      frame(kv, "{app.x|0x0001f}", 2, 1.5, 0/0)
      frame(kv, "{app.x|0x0001f}", 3, shared, shared, shared[3]) -- sharing between payloads
      frame(kv, "{app.x|0x0001f}", 2, cyc, { cyc })           -- cycles
      frame(kv, "{app.x|0x0001f}", 1, E)                      -- an error object
      frame(kv, "{app.x|0x0001f}", 2, long, string.rep("\0", 70000))
      frame(kv, "{app.x|0x0001f}", 3, nil, 5, nil)            -- nils: the tables are made
      frame(kv, "{app.x|0x0001f}", 1, nil)
      frame(kv, "{app.x|0x0001f}", 2, 7, nil)
      frame(kv, nil, 1, 7)                                    -- a nil among the fields
      frame(kv, "{app.x|0x0001f}", 2, print, 1)               -- unsendable: the same error
      frame(kv, "{app.x|0x0001f}", 2, 1, coroutine.create(print))
      local deep = {}; local t = deep; for _ = 2, 510 do t[1] = {}; t = t[1] end
      frame(kv, "{app.x|0x0001f}", 1, deep)                   -- 510 + the two tables: 512 levels
      t[1] = {}
      frame(kv, "{app.x|0x0001f}", 1, deep)                   -- 513: refused by both
      for _, l in ipairs({ 180, 190, 200, 210 }) do             -- around the scalar path's 256 bytes
        frame(kv, "{app.x|0x0001f}", 3, string.rep("s", l), true, false)
      end
      local many = {}; for i = 1, 300 do many[i] = i * 1000 end
      frame(kv, "{app.x|0x0001f}", 300, table.unpack(many))  -- a 16-bit array header
    end
    -- k: any number of fields, 0 included
    local C = CODECS.t.C
    assert(C.encode_frame(0) == C.encode({ {} }))
    assert(C.encode_frame(0, 1, 2) == C.encode({ { 1, 2 } }))
    assert(C.encode_frame(2, "a", "b", 3) == C.encode({ "a", "b", { 3 } }))
    for _, bad in ipairs({ -1, 3, 1.5, "1" }) do
      local okc, e = pcall(C.encode_frame, bad, "a", "b")
      assert(not okc and e:find("k must be an integer", 1, true), tostring(e))
    end
    return n .. "/" .. ok
  `) as string;
  // 21 cases per K, all compared; all encoded but the three refused (two unsendable, one too deep)
  assert.equal(r, '42/36');
});

test('native codec: unsendable values, argument errors and the first problem met', () => {
  run(`
    for _, kv in ipairs({ "t", "r" }) do
      local C, L = CODECS[kv].C, CODECS[kv].L
      for _, v in ipairs({ FN, CO, UD, { 1, FN }, { a = { b = CO } }, { [FN] = 1 }, { 1, 2, nil, FN } }) do
        both(kv, v, 1)
        local s, why = C.encode(v)
        assert(s == nil and why:match("^cannot send a "), why)
      end
      -- the first problem in traversal order: an unsendable value before a too-deep one
      local deep = {}
      local t = deep
      for _ = 1, 600 do t[1] = {}; t = t[1] end
      both(kv, { FN, deep }, 1)
      both(kv, { deep, FN }, 1)
      for _, f in ipairs({ "decode", "decode_args" }) do
        for _, arg in ipairs({ 1, {}, true }) do
          local okL, eL = pcall(L[f], arg)
          local okC, eC = pcall(C[f], arg)
          assert(not okL and not okC and eL:gsub("^[^:]*:%d+: ", "") == eC:gsub("^[^:]*:%d+: ", ""), eL .. " / " .. eC)
        end
      end
      local okL, eL = pcall(L.decode, "\\x01", 0)
      local okC, eC = pcall(C.decode, "\\x01", 0)
      assert(not okL and not okC and eL:gsub("^[^:]*:%d+: ", "") == eC:gsub("^[^:]*:%d+: ", ""))
      okL, eL = pcall(L.encode_args, -1)
      okC, eC = pcall(C.encode_args, -1)
      assert(not okL and not okC and eL:gsub("^[^:]*:%d+: ", "") == eC:gsub("^[^:]*:%d+: ", ""))
      -- decode from a position, as the kernel reads batches
      local s = L.encode("a") .. L.encode({ 1, 2 })
      local v1, p1 = C.decode(s)
      local v2, p2 = C.decode(s, p1)
      assert(v1 == "a" and p1 == 3 and v2[2] == 2 and p2 == #s + 1)
    end
  `);
});

test('native codec: callbacks that re-enter the codec, and a callback that raises', () => {
  run(`
    local c = CODECS.t
    local K, C = c.K, c.C
    REENTER = C
    local shared = { n = 1 }
    local v = { err = K.make_error({ kind = "K", message = "m", details = shared }), s = shared }
    v.self = v
    local s = assert(C.encode(v))
    local r = C.decode(s)
    assert(r.self == r and K.is_error(r.err) and r.err.details == r.s)
    local cp = assert(C.copy(v))
    assert(cp.self == cp and cp.err.details == cp.s and cp.s ~= shared)
    REENTER = nil
    both("t", v, 2)
    -- an error raised inside (a callback; the kernel's allocator or memory cap alike) leaves the
    -- codec working: the scratch it held is not reused
    FAIL = true
    local ok, e = pcall(C.encode, { 1, { K.make_error({ kind = "K", message = "m" }) } })
    assert(not ok and e == "boom", tostring(e))
    ok, e = pcall(C.copy, { K.make_error({ kind = "K", message = "m", details = {} }) })
    assert(not ok and e == "boom", tostring(e))
    FAIL = nil
    both("t", v, 2)
    C.reset()
    both("t", v, 2)
  `);
});
