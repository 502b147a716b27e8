// The value codec, both halves: src/lua/lib/codec.lua inside a wasmoon Lua state and
// src/codec/msgpack.ts in JS, and bytes moving between them.
//
// The Lua cases are written in Lua with `assert`, each test running one chunk. Bytes cross the
// wasmoon boundary as hex strings: wasmoon converts Lua strings to JS strings as UTF-8, which would
// mangle binary, and hex is plain ASCII.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { LuaFactory } from 'wasmoon';
import type { LuaEngine } from 'wasmoon';
import {
  WippyError,
  SHARED_TABLE,
  encodeValue,
  decodeValue,
  encodeArgs,
  decodeArgs,
} from '../src/codec/msgpack.js';

// The test's K: error objects are tables with a private metatable; the kernel's are userdata.
const PRELUDE = `
local ERR_MT = { __tostring = function(e) return e.message end }
local K = {}
function K.is_error(v) return type(v) == "table" and getmetatable(v) == ERR_MT end
-- REENTER: when set, error_fields (called while encoding) and make_error (while decoding) run a
-- nested encode and decode, as a __gc finaliser could
local function reenter()
  if not REENTER then return end
  local inner = { nested = { 1, 2 } }
  inner.self = inner
  local r = codec.decode(codec.encode(inner))
  assert(r.self == r and r.nested[2] == 2, "nested round trip")
  local n, a = codec.decode_args(codec.encode_args(1, "z"))
  assert(n == 1 and a == "z")
end
function K.error_fields(v) reenter(); return v end
function K.make_error(f)
  reenter()
  return setmetatable({ kind = f.kind, message = f.message, retryable = f.retryable, details = f.details }, ERR_MT)
end
codec = load(CODEC_SRC, "=codec.lua")()(K)
CK = K

function hex(s) return (s:gsub(".", function(c) return string.format("%02x", c:byte()) end)) end
function unhex(h) return (h:gsub("..", function(x) return string.char(tonumber(x, 16)) end)) end

-- round trip, checking the decoder consumed exactly the encoding
function rt(v)
  local s = codec.encode(v)
  local r, nxt = codec.decode(s)
  assert(nxt == #s + 1, "next_pos " .. tostring(nxt) .. " for " .. #s .. " bytes")
  return r, s
end

-- deep equality for acyclic values, comparing math.type of numbers
function same(a, b, where)
  where = where or "value"
  if type(a) ~= type(b) then error(where .. ": type " .. type(a) .. " vs " .. type(b), 2) end
  if type(a) == "number" then
    if math.type(a) ~= math.type(b) then error(where .. ": math.type " .. math.type(a) .. " vs " .. math.type(b), 2) end
    if a ~= a and b ~= b then return true end
    if a ~= b then error(where .. ": " .. tostring(a) .. " vs " .. tostring(b), 2) end
    return true
  end
  if type(a) ~= "table" then
    if a ~= b then error(where .. ": " .. tostring(a) .. " vs " .. tostring(b), 2) end
    return true
  end
  for k, v in pairs(a) do same(v, b[k], where .. "." .. tostring(k)) end
  for k in pairs(b) do if a[k] == nil then error(where .. ": extra key " .. tostring(k), 2) end end
  return true
end

-- f must raise an error whose message contains text (plain, not a Lua pattern)
function raises(f, text)
  local ok, e = pcall(f)
  assert(not ok, "expected an error containing '" .. text .. "'")
  assert(tostring(e):find(text, 1, true), "error '" .. tostring(e) .. "' does not contain '" .. text .. "'")
end
`;

let engine: LuaEngine;

function lua(code: string): unknown {
  return engine.doStringSync(code);
}

before(async () => {
  engine = await new LuaFactory().createEngine({ injectObjects: false, enableProxy: false });
  engine.global.set('CODEC_SRC', readFileSync(path.resolve('src/lua/lib/codec.lua'), 'utf8'));
  lua(PRELUDE);
});

after(() => {
  engine.global.close();
});

const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const fromHex = (h: string): Uint8Array => new Uint8Array(Buffer.from(h, 'hex'));

// ------------------------------------------------------------------------------------------------
// Lua, on its own

test('lua: nil and booleans', () => {
  lua(`
    assert(hex(codec.encode(nil)) == "c0")
    assert(hex(codec.encode(true)) == "c3" and hex(codec.encode(false)) == "c2")
    assert(rt(nil) == nil and rt(true) == true and rt(false) == false)
  `);
});

test('lua: integers take the smallest form and stay integers', () => {
  lua(`
    local cases = {
      {0, "00"}, {1, "01"}, {127, "7f"}, {128, "cc80"}, {255, "ccff"}, {256, "cd0100"},
      {65535, "cdffff"}, {65536, "ce00010000"}, {1 << 31, "ce80000000"},
      {0xffffffff, "ceffffffff"}, {1 << 32, "cf0000000100000000"},
      {1 << 53, "cf0020000000000000"}, {math.maxinteger, "cf7fffffffffffffff"},
      {-1, "ff"}, {-32, "e0"}, {-33, "d0df"}, {-128, "d080"}, {-129, "d1ff7f"},
      {-32768, "d18000"}, {-32769, "d2ffff7fff"}, {-(1 << 31), "d280000000"},
      {-(1 << 31) - 1, "d3ffffffff7fffffff"}, {math.mininteger, "d38000000000000000"},
    }
    for _, c in ipairs(cases) do
      local v, want = c[1], c[2]
      assert(math.type(v) == "integer")
      local r, s = rt(v)
      assert(hex(s) == want, v .. " encoded as " .. hex(s) .. ", want " .. want)
      assert(math.type(r) == "integer" and r == v, v .. " came back as " .. tostring(r))
    end
  `);
});

test('lua: floats are float64 and keep math.type (1.0, -0.0, NaN, inf)', () => {
  lua(`
    local r, s = rt(1.0)
    assert(hex(s) == "cb3ff0000000000000", hex(s))
    assert(math.type(r) == "float" and r == 1)
    r = rt(-0.0); assert(math.type(r) == "float" and r == 0 and 1 / r == -math.huge, "-0.0 lost its sign")
    r = rt(0 / 0); assert(r ~= r, "NaN")
    assert(rt(math.huge) == math.huge and rt(-math.huge) == -math.huge)
    for _, v in ipairs({ 0.1, -2.5, math.pi, 1e308, 5e-324, 2.0^53, 2.0^63, -2.0^70 }) do
      local x, enc = rt(v)
      assert(#enc == 9 and math.type(x) == "float" and x == v, tostring(v))
    end
  `);
});

test('lua: strings are copied byte for byte, with the right header at each size', () => {
  lua(`
    local bin = "a\\0b\\255\\128\\1\\0"
    assert(rt(bin) == bin and rt("") == "")
    local all = {}
    for i = 0, 255 do all[#all + 1] = string.char(i) end
    all = table.concat(all)
    assert(rt(all) == all)
    local heads = { [0] = "a0", [31] = "bf", [32] = "d920", [255] = "d9ff", [256] = "da0100",
      [65535] = "daffff", [65536] = "db00010000" }
    for len, head in pairs(heads) do
      local str = string.rep("\\200", len)
      local r, s = rt(str)
      assert(r == str, "length " .. len)
      assert(hex(s:sub(1, #head // 2)) == head, len .. ": " .. hex(s:sub(1, 5)))
      assert(#s == len + #head // 2)
    end
  `);
});

test('lua: tables become arrays or maps', () => {
  lua(`
    assert(hex(codec.encode({})) == "80", "empty table is an empty map")
    assert(hex(codec.encode({1, 2, 3})) == "93010203")
    assert(hex(codec.encode({"a"})) == "91a161")
    local t = {}
    for i = 1, 20 do t[i] = i end
    assert(hex(codec.encode(t)):sub(1, 6) == "dc0014")
    same(rt(t), t)

    -- holes and mixed keys: maps, integer keys stay integers
    local holes = rt({1, nil, 3})
    assert(holes[1] == 1 and holes[2] == nil and holes[3] == 3)
    assert(codec.encode({1, nil, 3}):byte(1) == 0x82)
    local mixed = rt({10, 20, x = "y", [100] = true, [-5] = false, [2.5] = "f", [true] = 1})
    same(mixed, {10, 20, x = "y", [100] = true, [-5] = false, [2.5] = "f", [true] = 1})
    for k in pairs(mixed) do
      if type(k) == "number" and k ~= 2.5 then assert(math.type(k) == "integer", tostring(k)) end
    end
    local sparse = rt({[10] = "ten"})
    assert(sparse[10] == "ten" and next(sparse, 10) == nil)

    -- nesting, and tables as keys
    local deep = { a = { b = { c = { 1, { 2, { 3 } } } } }, list = { { x = 1 }, { x = 2 } }, f = 1.5 }
    same(rt(deep), deep)
    local key = { k = 1 }
    local r = rt({ [key] = "v" })
    local rk, rv = next(r)
    assert(type(rk) == "table" and rk.k == 1 and rv == "v")

    -- metatables stay home: __len/__pairs/__index do not run, the copy is plain
    local mt = { __len = function() return 99 end, __index = function() return "x" end,
      __pairs = function() error("__pairs ran") end }
    local withmt = setmetatable({ 1, 2 }, mt)
    local plain = rt(withmt)
    assert(getmetatable(plain) == nil and #plain == 2 and plain[3] == nil)
    -- a table with n = #t but a hash key is a map
    local packed = rt(table.pack(1, nil, 3))
    assert(packed.n == 3 and packed[1] == 1 and packed[3] == 3)
  `);
});

test('lua: cycles and shared subtables are rebuilt', () => {
  lua(`
    local t = { name = "root" }
    t.self = t
    local r = rt(t)
    assert(r.self == r and r.name == "root")

    local shared = { 1, 2 }
    local v = { a = shared, b = shared, list = { shared, shared } }
    r = rt(v)
    assert(r.a == r.b and r.list[1] == r.a and r.list[2] == r.a and r.a[2] == 2)
    assert(r.a ~= shared)

    -- an array holding the same table twice: the second is ext 1 with index 1 (root is 0)
    local s = {}
    assert(hex(codec.encode({ s, s })) == "9280d60100000001", hex(codec.encode({ s, s })))

    -- a cycle through an array, and mutual references
    local a, b = {}, {}
    a[1], b[1] = b, a
    r = rt(a)
    assert(r[1][1] == r)

    -- a shared table used as a key and as a value
    local k = { id = 1 }
    r = rt({ [k] = k })
    local rk, rv = next(r)
    assert(rk == rv and rk.id == 1)
  `);
});

test('lua: an array that turns out to be a map rolls back what it numbered', () => {
  lua(`
    local s = { 7 }
    -- s is numbered while the array is being written, then the hole at 3 makes it a map (4 keys,
    -- rawlen 4)
    local r = rt({ s, { s }, nil, s, x = 1 })
    assert(r[1] == r[2][1] and r[4] == r[1] and r[1][1] == 7 and r[3] == nil and r.x == 1)
    local t = { 1, 2 }
    t[4] = 4 -- a border at 2 or 4
    r = rt(t)
    assert(r[1] == 1 and r[2] == 2 and r[3] == nil and r[4] == 4)
  `);
});

test('lua: container headers at each size, and many distinct short strings', () => {
  lua(`
    for _, len in ipairs({ 15, 16, 65535, 65536 }) do
      local t = {}
      for i = 1, len do t[i] = i % 7 end
      local r, s = rt(t)
      local want = len < 16 and string.format("%02x", 0x90 + len)
        or len < 65536 and string.format("dc%04x", len) or string.format("dd%08x", len)
      assert(hex(s:sub(1, #want // 2)) == want, "array " .. len .. ": " .. hex(s:sub(1, 5)))
      assert(#r == len and r[len] == len % 7)
    end
    for _, cnt in ipairs({ 15, 16, 65536 }) do
      local t = {}
      for i = 1, cnt do t["k" .. i] = "v" .. i end -- distinct short strings: the string cache turns over
      local r, s = rt(t)
      local want = cnt < 16 and string.format("%02x", 0x80 + cnt)
        or cnt < 65536 and string.format("de%04x", cnt) or string.format("df%08x", cnt)
      assert(hex(s:sub(1, #want // 2)) == want, "map " .. cnt)
      same(r, t)
    end
  `);
});

test('lua: reused scratch state stays clean (big then small, after a failure, nested calls)', () => {
  lua(`
    local big = {}
    for i = 1, 1000 do big[i] = { i, string.rep("x", 100) } end
    big.again = big[1]
    local r = rt(big)
    assert(r.again == r[1] and #r == 1000)
    local small = { a = { 1 } }
    small.b = small.a
    r = rt(small)
    assert(r.b == r.a and r.a[1] == 1)
    -- a failed decode in the middle of a value full of tables
    local s = codec.encode(small)
    assert(not pcall(codec.decode, s:sub(1, #s - 1)))
    r = codec.decode(s)
    assert(r.b == r.a)
    -- a nested encode/decode while an encode is running (error_fields calls back into the codec)
    REENTER = true
    local ok, err = pcall(function()
      local e = CK.make_error({ kind = "K", message = "m" })
      local v = { x = { 1 }, e = e, z = { 2 } }
      v.y = v.x
      local out = rt(v)
      assert(out.y == out.x and out.e.kind == "K" and out.z[1] == 2)
      local n, a, b = codec.decode_args(codec.encode_args(2, v, v.x))
      assert(n == 2 and a.x == b)
    end)
    REENTER = false
    assert(ok, err)
    r = rt(small)
    assert(r.b == r.a)
  `);
});

test('lua: reads what other msgpack writers emit', () => {
  lua(`
    local function d(h) local v, p = codec.decode(unhex(h)); assert(p == #h // 2 + 1, h); return v end
    local f = d("ca3fc00000"); assert(f == 1.5 and math.type(f) == "float")
    assert(d("c403616263") == "abc" and d("c50003616263") == "abc" and d("c600000003616263") == "abc")
    assert(d("cfffffffffffffffff") == 2.0^64 and math.type(d("cfffffffffffffffff")) == "float")
    assert(d("d6ff00000001") == 1)
    assert(d("c70cff000000000000000000000064") == 100)
    assert(d("c70cff1dcd6500000000000000000a") == 10.5)
    assert(d("d40000") == nil)
  `);
});

test('lua: error objects cross as ext 2', () => {
  lua(`
    local K = CK
    local e = K.make_error({ kind = "NotFound", message = "no such thing", retryable = true, details = { id = 7 } })
    local r, s = rt(e)
    assert(s:byte(1) == 0xc7 and s:byte(3) == 2, hex(s))
    assert(K.is_error(r) and r ~= e)
    same({ r.kind, r.message, r.retryable, r.details.id }, { "NotFound", "no such thing", true, 7 })

    local plain = rt(K.make_error({ kind = "", message = "boom" }))
    assert(K.is_error(plain) and plain.message == "boom" and plain.retryable == nil and plain.details == nil)
    local no = rt(K.make_error({ kind = "X", message = "m", retryable = false }))
    assert(no.retryable == false)

    -- inside a table, and details sharing a table with the rest of the value
    local shared = { n = 1 }
    local v = { err = K.make_error({ kind = "K", message = "m", details = shared }), s = shared,
      list = { K.make_error({ kind = "A", message = "1" }), 5 } }
    r = rt(v)
    assert(K.is_error(r.err) and r.err.details == r.s and r.s.n == 1)
    assert(K.is_error(r.list[1]) and r.list[1].kind == "A" and r.list[2] == 5)

    -- an error's details may even point back at the message
    local root = {}
    root.err = K.make_error({ kind = "K", message = "m", details = root })
    r = rt(root)
    assert(r.err.details == r)

    -- unsendable details are refused
    local no_s, why = codec.encode(K.make_error({ kind = "K", message = "m", details = print }))
    assert(no_s == nil and why == "cannot send a function", why)
  `);
});

test('lua: functions, threads and userdata are refused (values are data only)', () => {
  lua(`
    local co = coroutine.create(function() end)
    local ud = io.stdout
    assert(type(ud) == "userdata")
    local function refused(v, what)
      local s, err = codec.encode(v)
      assert(s == nil and err == "cannot send a " .. what, tostring(err))
      local c, cerr = codec.copy(v)
      assert(c == nil and cerr == "cannot send a " .. what, tostring(cerr))
      local a, aerr = codec.encode_args(2, 1, v)
      assert(a == nil and aerr == "cannot send a " .. what, tostring(aerr))
    end
    refused(print, "function"); refused(co, "thread"); refused(ud, "userdata")
    refused({ f = print, x = 1 }, "function")
    refused({ [print] = 2 }, "function")
    refused({ 1, print, 3 }, "function")
    refused({ { { c = co } } }, "thread")
    refused({ [{ ud }] = true }, "userdata")
    -- the scratch state is clean after a refusal
    local r = rt({ 1, { 2 } })
    assert(r[2][1] == 2)
  `);
});

test('lua: decode continues from a position and reports the next one', () => {
  lua(`
    local s = codec.encode({ a = 1 }) .. codec.encode("x") .. codec.encode(3.5)
    local v, p = codec.decode(s)
    assert(v.a == 1)
    v, p = codec.decode(s, p); assert(v == "x")
    v, p = codec.decode(s, p); assert(v == 3.5 and p == #s + 1)
  `);
});

test('lua: malformed and truncated input raise clear errors', () => {
  lua(`
    local K = CK
    local samples = {
      codec.encode({ a = { 1, 2, 3 }, b = "hello", c = 1.5, d = 70000, e = -70000, f = math.maxinteger }),
      codec.encode(string.rep("x", 300)),
      codec.encode(K.make_error({ kind = "K", message = "m", details = { 1 } })),
      codec.encode({ 1.5, 2.5 }),
      codec.encode_args(3, 1, nil, "z"),
    }
    for _, s in ipairs(samples) do
      for cut = 0, #s - 1 do
        raises(function() codec.decode(s:sub(1, cut)) end, "codec.decode: truncated input at byte")
      end
    end
    raises(function() codec.decode("\\xc1") end, "invalid tag 0xc1")
    raises(function() codec.decode(unhex("91d60100000005")) end, "reference to an unknown table")
    raises(function() codec.decode(unhex("d50501ff")) end, "unsupported extension type 5")
    raises(function() codec.decode(unhex("81c001")) end, "nil or NaN map key")
    raises(function() codec.decode({}) end, "expected a string")
    raises(function() codec.decode("\\x01", 0) end, "pos must be a positive integer")
    raises(function() codec.encode_args(nil, 1) end, "n must be a non-negative integer")
    raises(function() codec.decode_args(codec.encode({ a = 1 })) end, "must be an array")
    raises(function() codec.decode_args("") end, "truncated input")
    raises(function() codec.decode(unhex("c7040200000000")) end, "error extension without a field map")

    -- nesting: MAX_DEPTH (512) tables deep is fine, one more is refused with a clear error (not
    -- Lua's own stack overflow, nor a JS one on the main thread), and the codec keeps working
    local function chain(depth)
      local t = {}
      local cur = t
      for _ = 2, depth do cur[1] = {}; cur = cur[1] end
      return t
    end
    assert(codec.MAX_DEPTH == 512 and codec.VALUE_DEPTH == 500)
    assert(#codec.encode(chain(512)) == 512)
    local no, why = codec.encode(chain(513))
    assert(no == nil and why == "value nested deeper than 512 tables", why)
    no, why = codec.encode(chain(100000))
    assert(no == nil and why == "value nested deeper than 512 tables", why)
    assert(codec.decode(string.rep("\\x91", 511) .. "\\x90") ~= nil)
    raises(function() codec.decode(string.rep("\\x91", 513) .. "\\xc0") end, "value nested deeper than 512 tables")
    raises(function() codec.decode(string.rep("\\x91", 100000) .. "\\xc0") end, "value nested deeper than 512 tables")
    -- copy: VALUE_DEPTH, so a value a process sends always fits in a frame
    assert(codec.copy(chain(500)) ~= nil)
    local c, cwhy = codec.copy(chain(501))
    assert(c == nil and cwhy == "value nested deeper than 500 tables", cwhy)
    -- size: MAX_BYTES of encoding (checked before the parts are joined)
    local big = string.rep("x", codec.MAX_BYTES // 2)
    no, why = codec.encode({ big, big, "y" })
    assert(no == nil and why == "value too large: more than 64 MiB encoded", why)
    big = nil
    collectgarbage()
    local shared = {}
    local r = rt({ shared, shared })
    assert(r[1] == r[2])
  `);
});

test('lua: encode_args / decode_args keep every nil', () => {
  lua(`
    local function check(...)
      local n = select("#", ...)
      local s = codec.encode_args(n, ...)
      local t = table.pack(codec.decode_args(s))
      assert(t[1] == n, "n " .. tostring(t[1]) .. " want " .. n)
      assert(t.n == n + 1, "returned " .. t.n - 1 .. " values, want " .. n)
      for i = 1, n do same(t[i + 1], (select(i, ...)), "arg " .. i) end
    end
    check()
    check(nil)
    check(1)
    check(nil, nil, nil)
    check(1, nil, "x", nil, nil)
    check(nil, { a = 1 }, 2.0)
    check(1, 2, 3, 4, 5, 6, 7, 8, 9, nil, 11, nil)
    assert(hex(codec.encode_args(2, nil, nil)) == "92c0c0")
    assert(hex(codec.encode_args(0)) == "90")
    -- sharing spans the arguments
    local shared = {}
    local n, a, b, c = codec.decode_args(codec.encode_args(3, shared, 1, shared))
    assert(n == 3 and a == c and type(a) == "table" and b == 1)
  `);
});

test('lua: copy is a deep copy of data: no metatables, sharing and cycles kept', () => {
  lua(`
    local K = CK
    local mt = { __index = function() error("sender code ran") end, __gc = function() end }
    local shared = setmetatable({ 1, 2 }, mt)
    local err = K.make_error({ kind = "K", message = "m" })
    local v = { a = shared, b = shared, err = err, n = 1.0, s = "str", nested = { deeper = { 1 } } }
    v.self = v
    local c = codec.copy(v)
    assert(c ~= v and c.self == c)
    assert(c.a ~= shared and c.a == c.b and c.a[2] == 2)
    assert(getmetatable(c.a) == nil and c.a.missing == nil, "the metatable stays home")
    assert(c.err == err, "an error without table details is the same object")
    assert(math.type(c.n) == "float" and c.s == "str")
    assert(c.nested ~= v.nested and c.nested.deeper[1] == 1)

    -- a protected metatable is dropped too
    local p = codec.copy(setmetatable({ x = 1 }, { __metatable = "locked" }))
    assert(getmetatable(p) == nil and p.x == 1)

    -- an error whose details hold a table gets a new error object with a copy of them
    local d = setmetatable({ id = 7 }, mt)
    local e2 = K.make_error({ kind = "K", message = "m", details = d })
    local ce = codec.copy(e2)
    assert(ce ~= e2 and K.is_error(ce) and ce.kind == "K" and ce.details ~= d and ce.details.id == 7)
    assert(getmetatable(ce.details) == nil)
    local none, why = codec.copy(K.make_error({ kind = "K", message = "m", details = { f = print } }))
    assert(none == nil and why == "cannot send a function", why)

    -- table keys are copied too, sharing preserved
    local k = {}
    local kc = codec.copy({ [k] = k })
    local ck, cv = next(kc)
    assert(ck == cv and ck ~= k)

    -- scalars, and what is refused
    assert(codec.copy(5) == 5 and codec.copy("x") == "x" and codec.copy(nil) == nil)
    assert(codec.copy(err) == err)
    local fn = function() end
    for _, bad in ipairs({ fn, coroutine.create(fn), io.stdout, { fn }, { [fn] = 1 }, { x = { io.stdout } } }) do
      local r, e = codec.copy(bad)
      assert(r == nil and e:find("^cannot send a "), tostring(e))
    end
  `);
});

// ------------------------------------------------------------------------------------------------
// JS, on its own

test('js: round trips and the WippyError class', () => {
  const v = {
    s: 'héllo',
    i: 42,
    neg: -70000,
    big: 2 ** 40,
    f: 1.5,
    nan: NaN,
    inf: -Infinity,
    arr: [1, 'a', null, [true, false]],
    obj: { nested: { deep: 1 } },
    bytes: new Uint8Array([0, 255, 128]),
  };
  const back = decodeValue(encodeValue(v)) as Record<string, unknown>;
  assert.equal(back.s, 'héllo');
  assert.equal(back.big, 2 ** 40);
  assert.ok(Number.isNaN(back.nan));
  assert.deepEqual(back.arr, v.arr);
  assert.deepEqual(back.obj, v.obj);
  assert.deepEqual(new Uint8Array(back.bytes as Uint8Array), v.bytes);
  assert.deepEqual(decodeValue(encodeValue(new Map<unknown, unknown>([['k', 1]]))), { k: 1 });
  assert.equal(decodeValue(encodeValue(undefined)), null);
  assert.equal(decodeValue(encodeValue(2n ** 63n - 1n)), 2n ** 63n - 1n);

  const e = new WippyError('gone', 'NotFound', false, { id: 3 });
  assert.ok(e instanceof Error && e instanceof WippyError);
  assert.equal(e.name, 'WippyError');
  const eb = decodeValue(encodeValue(e)) as WippyError;
  assert.ok(eb instanceof WippyError);
  assert.deepEqual([eb.kind, eb.message, eb.retryable, eb.details], ['NotFound', 'gone', false, { id: 3 }]);
  // decoded errors skip the stack capture; errors made in JS keep theirs
  assert.equal(eb.stack, 'WippyError: gone');
  assert.match(e.stack ?? '', /\n\s+at /);
  const pe = decodeValue(encodeValue(new TypeError('plain'))) as WippyError;
  assert.ok(pe instanceof WippyError);
  assert.deepEqual([pe.kind, pe.message, pe.retryable], ['', 'plain', undefined]);

  assert.deepEqual(decodeArgs(encodeArgs([1, undefined, 'x', null])), [1, null, 'x', null]);
  assert.throws(() => decodeArgs(encodeValue({ a: 1 })), /array/);
  assert.throws(() => decodeValue(encodeValue({ a: 'long string' }).subarray(0, 5)));
});

test('js: safe integers beyond 32 bits stay integers, and the caller\'s value is untouched', () => {
  const plain = { a: 1, b: [2, 3] };
  // Date.now()-sized values would be float64 in stock msgpackr
  assert.equal(toHex(encodeValue(1_700_000_000_000)), 'd30000018bcfe56800');
  assert.equal(toHex(encodeValue(-(2 ** 40))), 'd3ffffff0000000000');
  assert.equal(toHex(encodeValue(2 ** 32 - 1)), 'ceffffffff');
  assert.equal(toHex(encodeValue(2 ** 53 + 2)), 'cb4340000000000001'); // not safe: a float
  assert.equal(toHex(encodeValue(1.5)), 'cb3ff8000000000000');
  assert.deepEqual(decodeValue(encodeValue(plain)), plain);
  const nested = { m: new Map([['t', [{ x: 2 ** 45 }]]]) };
  assert.deepEqual(decodeValue(encodeValue(nested)), { m: { t: [{ x: 2 ** 45 }] } });
  assert.equal(nested.m.get('t')![0]!.x, 2 ** 45, 'the caller\'s value is not modified');
});

// ------------------------------------------------------------------------------------------------
// Across the languages

test('cross: Lua encode -> JS decodeValue', () => {
  const h = lua(`
    local K = CK
    local shared = { 9 }
    return hex(codec.encode({
      int = 42, neg = -33, big = math.maxinteger, small = math.mininteger, i32 = 1 << 31,
      one = 1.0, half = 0.5, nan = 0/0, inf = math.huge,
      str = "hello", utf8 = "h\\xc3\\xa9", long = string.rep("z", 300),
      t = true, f = false,
      arr = { 1, "two", { 3 } }, map = { [1] = "a", [3] = "c" }, empty = {},
      a = shared, b = shared,
      err = K.make_error({ kind = "Timeout", message = "late", retryable = true, details = { ms = 5 } }),
    }))
  `) as string;
  const v = decodeValue(fromHex(h)) as Record<string, unknown>;
  assert.equal(v.int, 42);
  assert.equal(v.neg, -33);
  assert.equal(v.big, 9223372036854775807n);
  assert.equal(v.small, -9223372036854775808n);
  assert.equal(v.i32, 2 ** 31);
  assert.equal(v.one, 1);
  assert.equal(v.half, 0.5);
  assert.ok(Number.isNaN(v.nan));
  assert.equal(v.inf, Infinity);
  assert.equal(v.str, 'hello');
  assert.equal(v.utf8, 'hé');
  assert.equal(v.long, 'z'.repeat(300));
  assert.equal(v.t, true);
  assert.equal(v.f, false);
  assert.deepEqual(v.arr, [1, 'two', [3]]);
  assert.deepEqual(v.map, { 1: 'a', 3: 'c' });
  assert.deepEqual(v.empty, {});
  // whichever of a/b came first carries the table; the other is the marker
  assert.deepEqual([v.a, v.b].sort(), [[9], SHARED_TABLE].sort());
  const err = v.err as WippyError;
  assert.ok(err instanceof WippyError);
  assert.deepEqual([err.kind, err.message, err.retryable, err.details], ['Timeout', 'late', true, { ms: 5 }]);

  const args = decodeArgs(fromHex(lua(`return hex(codec.encode_args(4, 1, nil, "x", nil))`) as string));
  assert.deepEqual(args, [1, null, 'x', null]);
});

test('cross: JS encodeValue -> Lua decode', () => {
  const value = {
    int: 42,
    neg: -33,
    ms: 1_700_000_000_000,
    big: 9223372036854775807n,
    bigneg: -(2n ** 63n),
    huge: 2n ** 64n - 1n,
    half: 0.5,
    nan: NaN,
    str: 'héllo',
    long: 'y'.repeat(70000),
    bytes: new Uint8Array([0, 1, 255]),
    t: true,
    nul: null,
    undef: undefined,
    arr: [1, 'two', [3], null],
    map: new Map<unknown, unknown>([[1, 'one'], ['k', 'v']]),
    err: new WippyError('denied', 'PermissionDenied', false, { who: 'x' }),
    plainErr: new Error('plain'),
    date: new Date(1_700_000_000_500),
  };
  engine.global.set('HEX', toHex(encodeValue(value)));
  lua(`
    local K = CK
    local v = rt(codec.decode(unhex(HEX)))
    assert(v.int == 42 and math.type(v.int) == "integer")
    assert(v.neg == -33)
    assert(v.ms == 1700000000000 and math.type(v.ms) == "integer", "ms " .. tostring(v.ms) .. " " .. math.type(v.ms))
    assert(v.big == math.maxinteger and v.bigneg == math.mininteger)
    assert(v.huge == 2.0^64 and math.type(v.huge) == "float")
    assert(v.half == 0.5 and math.type(v.half) == "float")
    assert(v.nan ~= v.nan)
    assert(v.str == "h\\xc3\\xa9llo")
    assert(v.long == string.rep("y", 70000))
    assert(v.bytes == "\\0\\1\\255")
    assert(v.t == true and v.nul == nil and v.undef == nil)
    same(v.arr, { 1, "two", { 3 } })
    assert(#v.arr == 3)
    assert(v.map[1] == "one" and math.type(next(v.map)) ~= "float" and v.map.k == "v")
    assert(K.is_error(v.err))
    same({ v.err.kind, v.err.message, v.err.retryable, v.err.details.who }, { "PermissionDenied", "denied", false, "x" })
    assert(K.is_error(v.plainErr) and v.plainErr.kind == "" and v.plainErr.message == "plain")
    assert(math.abs(v.date - 1700000000.5) < 1e-6, tostring(v.date))
  `);

  engine.global.set('HEX', toHex(encodeArgs([null, 1, undefined, 'x', undefined])));
  lua(`
    local t = table.pack(codec.decode_args(unhex(HEX)))
    assert(t.n == 6 and t[1] == 5 and t[2] == nil and t[3] == 1 and t[4] == nil and t[5] == "x" and t[6] == nil)
  `);
});

test('cross: Lua -> JS -> Lua keeps what JS can represent', () => {
  const h = lua(`return hex(codec.encode({ name = "n", list = { 1, 2.5, "x" }, flag = false, id = 1 << 40 }))`) as string;
  const v = decodeValue(fromHex(h));
  engine.global.set('HEX', toHex(encodeValue(v)));
  lua(`
    local v = codec.decode(unhex(HEX))
    same(v, { name = "n", list = { 1, 2.5, "x" }, flag = false, id = 1 << 40 })
  `);
});

// ------------------------------------------------------------------------------------------------
// Cost, printed and not asserted (the machines are shared and noisy).

test('cost of the ~120-byte envelope (printed)', () => {
  const setup = `
    ENV = { to = "{app:processes|0x00001}", from = "{app:processes|0x00002}", topic = "job",
      payload = { id = 1, name = "x", tags = { "a", "b" }, ok = true, score = 1.5 } }
    ENC = codec.encode(ENV)
  `;
  lua(setup);
  const bytes = lua('return #ENC') as number;
  // wasm tiers up while it runs: warm all paths before timing the first one
  lua('for i = 1, 100000 do codec.copy(codec.decode(codec.encode(ENV))) end');
  const N = 20000;
  const time = (body: string): number => {
    lua(`for i = 1, 2000 do ${body} end`); // warm-up
    const runs: number[] = [];
    for (let r = 0; r < 5; r++) {
      const t0 = performance.now();
      lua(`for i = 1, ${N} do ${body} end`);
      runs.push(((performance.now() - t0) * 1000) / N);
    }
    runs.sort((a, b) => a - b);
    return runs[2]!;
  };
  const enc = time('codec.encode(ENV)');
  const dec = time('codec.decode(ENC)');
  const both = time('codec.decode(codec.encode(ENV))');
  const copy = time('codec.copy(ENV)');
  const jsEnv = decodeValue(fromHex(lua('return hex(ENC)') as string));
  const jsN = 100000;
  for (let i = 0; i < jsN; i++) decodeValue(encodeValue(jsEnv));
  const t0 = performance.now();
  for (let i = 0; i < jsN; i++) decodeValue(encodeValue(jsEnv));
  const js = ((performance.now() - t0) * 1000) / jsN;
  console.log(
    `# codec, ${bytes}-byte envelope, Node ${process.version}, µs/op (median of 5): ` +
      `lua encode ${enc.toFixed(2)}, decode ${dec.toFixed(2)}, encode+decode ${both.toFixed(2)}, ` +
      `copy ${copy.toFixed(2)}; js encode+decode ${js.toFixed(2)}`,
  );
});
