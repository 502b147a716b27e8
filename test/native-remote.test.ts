// The receiving side of a cross-worker message (native/lua/lcodec.c decode_m_at, used by
// src/lua/kernel/frames.lua's batch delivery) against the general frame decoder it stands in for
// (decode_at), on the same bytes in the module's memory, in one Lua state of our module:
//   - at every frame start of a batch, decode_m_at either gives exactly the fields decode_at puts
//     at f[2..6] (same types, math.type, sharing between and inside them, `#`, `next` order) and
//     the same next position, or declines (nil) — only where the frame is not an "m" frame, or
//     names itself from inside (which decode_at can express and decode_m_at cannot) — or raises
//     decode_at's error, the same message at the same byte;
//   - the frames: what the encoders write (encode_frame with generated payloads, shared and
//     cyclic tables, error objects, nils, no payload), and hostile ones: the "m" header followed
//     by anything, every cut of a valid frame, seeded byte edits, references to the frame itself,
//     and the general hostile shapes of test/helpers/gen-msgpack.ts.
// The kernel's use (per-sender order, early frames, forwarding, containment) is covered by the
// runtime tests; test/remote-order.test.ts sends across workers with this path on and off.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { LuaEngine } from 'wasmoon';
import { luaFactory } from '../src/lua/module.js';
import { encodeValue } from '../src/codec/msgpack.js';
import { fuzzParams } from './helpers/fuzz.js';
import { hostileFrame, jsValue } from './helpers/gen-msgpack.js';
import { mulberry32 } from './helpers/prng.js';
import { SAME_LUA } from './helpers/lua-same.js';

const PRELUDE = String.raw`
local native = package.loaded["wippy.native"]
assert(native and native.codec, "wippy.native.codec missing from our module")
-- the kernel's shape of K: a weak registry of error objects
local DATA = setmetatable({}, { __mode = "k" })
K = {}
function K.is_error(v) return DATA[v] ~= nil end
function K.error_fields(v)
  local d = DATA[v]
  return { kind = d.kind, message = d.message, retryable = d.retryable, details = d.details }
end
function K.make_error(f)
  local e = {}
  DATA[e] = { kind = f.kind, message = f.message, retryable = f.retryable, details = f.details }
  return e
end
C = native.codec(K.is_error, K.error_fields, K.make_error, DATA)
assert(C.decode_m_at, "decode_m_at missing")

function hex(s) return (s:gsub(".", function(c) return string.format("%02x", c:byte()) end)) end

${SAME_LUA}

-- Does v reach table t (through values and keys)?
local function reaches(v, t, seen)
  if type(v) ~= "table" then return false end
  if v == t then return true end
  if seen[v] then return false end
  seen[v] = true
  for k, x in next, v do if reaches(k, t, seen) or reaches(x, t, seen) then return true end end
  return false
end

-- A table that is a list of exactly one element (as decode_at makes a 0x91 list)
function one_list(t)
  return type(t) == "table" and next(t) ~= nil and next(t, next(t)) == nil and rawlen(t) == 1
end

-- Walk the len bytes at addr frame by frame with both decoders; counts outcomes into OUT.
-- ONE(pos): the payload field of the "m" frame at pos starts with 0x91 (a list of one).
function m_vs_at(addr, len, first)
  local pos = 1
  while pos <= len do
    local isM = first(pos)
    local rA = table.pack(pcall(C.decode_at, addr, pos, len))
    local rM = table.pack(pcall(C.decode_m_at, addr, pos, len))
    local what
    if rM[1] and rM[2] == nil and rM.n == 2 then
      -- declined: not an "m" frame, or an "m" frame that names itself
      if isM then
        if not rA[1] then error("declined a frame decode_at refuses (" .. tostring(rA[2]) .. ") at " .. pos, 0) end
        local f = rA[2]
        local self = false
        for i = 2, 6 do if reaches(f[i], f, {}) then self = true end end
        -- one value (n 1, a list of one) naming its list from inside
        if math.type(f[5]) == "integer" and f[5] == 1 and one_list(f[6]) and reaches(f[6][1], f[6], {}) then self = true end
        if not self then error("declined an \"m\" frame at " .. pos, 0) end
        what = "declined-self"
      else
        what = "other"
      end
    elseif not rM[1] then
      if not isM then error("raised on a frame that is not \"m\": " .. tostring(rM[2]), 0) end
      if rA[1] then error("raised where decode_at did not: " .. tostring(rM[2]), 0) end
      if rM[2] ~= rA[2] then error("error differs: " .. tostring(rM[2]) .. " vs " .. tostring(rA[2]), 0) end
      OUT.error = (OUT.error or 0) + 1
      return
    else
      if not isM then error("took a frame that is not \"m\" at " .. pos, 0) end
      if not rA[1] then error("took a frame decode_at refuses: " .. tostring(rA[2]), 0) end
      local f = rA[2]
      if f[1] ~= "m" then error("decode_at's frame is not an \"m\" frame", 0) end
      if rM[7] ~= rA[3] then error("next position " .. tostring(rM[7]) .. " vs " .. tostring(rA[3]), 0) end
      -- one value: exactly when n is the integer 1 and the payloads a list of one (the bytes)
      local one = math.type(f[5]) == "integer" and f[5] == 1 and ONE(pos)
      if one then
        if rM.n ~= 8 or rM[6] ~= nil then error("one value: decode_m_at gave " .. (rM.n - 1) .. " values, payloads " .. tostring(rM[6]), 0) end
        same(K, table.pack(f[2], f[3], f[4], f[5], f[6]), table.pack(rM[2], rM[3], rM[4], rM[5], { rM[8] }), "fields", {})
        what = "m1"
      else
        if rM.n ~= 7 then error("decode_m_at gave " .. (rM.n - 1) .. " values", 0) end
        same(K, table.pack(f[2], f[3], f[4], f[5], f[6]), table.pack(rM[2], rM[3], rM[4], rM[5], rM[6]), "fields", {})
        what = "m"
      end
    end
    OUT[what] = (OUT[what] or 0) + 1
    if not rA[1] then OUT.error = (OUT.error or 0) + 1; return end
    pos = rA[3]
  end
end
`;

let engine: LuaEngine;
let mod: { _malloc(n: number): number; _free(p: number): void; HEAPU8: Uint8Array };
const run = (code: string): unknown => engine.doStringSync(code);

before(async () => {
  engine = await luaFactory('native').createEngine({ injectObjects: false, enableProxy: false });
  mod = (engine.global as unknown as { lua: { module: typeof mod } }).lua.module;
  run(PRELUDE);
});
after(() => { (engine as unknown) = undefined; });

const M_HEAD = [0x96, 0xa1, 0x6d];

/** The encoded length of the msgpack item at offset `at` of `b`, or -1 (truncated, or a byte no
 * item starts with). */
function itemLength(b: Uint8Array, at: number): number {
  const x = b[at];
  if (x === undefined) return -1;
  const u = (o: number, n: number): number => { let v = 0; for (let i = 0; i < n; i++) v = v * 256 + (b[at + o + i] ?? NaN); return v; };
  const items = (head: number, count: number): number => {
    let len = head;
    for (let i = 0; i < count; i++) { const n = itemLength(b, at + len); if (n < 0 || Number.isNaN(n)) return -1; len += n; }
    return len;
  };
  let n: number;
  if (x <= 0x7f || x >= 0xe0 || x === 0xc0 || x === 0xc2 || x === 0xc3) n = 1;
  else if (x >= 0xa0 && x <= 0xbf) n = 1 + (x - 0xa0);
  else if (x >= 0x90 && x <= 0x9f) n = items(1, x - 0x90);
  else if (x >= 0x80 && x <= 0x8f) n = items(1, 2 * (x - 0x80));
  else if (x === 0xd9 || x === 0xc4) n = 2 + u(1, 1);
  else if (x === 0xda || x === 0xc5) n = 3 + u(1, 2);
  else if (x === 0xdb || x === 0xc6) n = 5 + u(1, 4);
  else if (x === 0xdc) n = items(3, u(1, 2));
  else if (x === 0xdd) n = items(5, u(1, 4));
  else if (x === 0xde) n = items(3, 2 * u(1, 2));
  else if (x === 0xdf) n = items(5, 2 * u(1, 4));
  else if (x >= 0xd4 && x <= 0xd8) n = 2 + (1 << (x - 0xd4));
  else if (x === 0xc7) n = 3 + u(1, 1);
  else if (x === 0xc8) n = 4 + u(1, 2);
  else if (x === 0xc9) n = 6 + u(1, 4);
  else n = ({ 0xcc: 2, 0xcd: 3, 0xce: 5, 0xcf: 9, 0xd0: 2, 0xd1: 3, 0xd2: 5, 0xd3: 9, 0xca: 5, 0xcb: 9 } as Record<number, number>)[x] ?? -1;
  return Number.isNaN(n) || n < 0 || at + n > b.length ? -1 : n;
}
const outcomes = new Map<string, number>();

/** Runs m_vs_at over `bytes` copied into the module's memory; `starts` are the offsets of frames
 * that begin with the "m" header (the walk tells them apart by position). */
function check(bytes: Uint8Array): void {
  const p = mod._malloc(bytes.length + 1);
  try {
    mod.HEAPU8.set(bytes, p);
    engine.global.set('OUT', {});
    const isM = (pos: number): boolean =>
      pos + 2 <= bytes.length && bytes[pos - 1] === M_HEAD[0] && bytes[pos] === M_HEAD[1] && bytes[pos + 1] === M_HEAD[2];
    engine.global.set('FIRST', isM);
    // the payload field's first byte of the "m" frame at pos: past the header and four items
    engine.global.set('ONE', (pos: number): boolean => {
      let at = pos - 1 + 3;
      for (let i = 0; i < 4; i++) { const n = itemLength(bytes, at); if (n < 0) return false; at += n; }
      return bytes[at] === 0x91;
    });
    run(`m_vs_at(${p}, ${bytes.length}, FIRST)`);
    const out = run('local t = {}; for k, v in pairs(OUT) do t[#t + 1] = k .. "=" .. v end; return table.concat(t, ",")') as string;
    for (const kv of out.split(',').filter(Boolean)) {
      const [k, v] = kv.split('=');
      outcomes.set(k!, (outcomes.get(k!) ?? 0) + Number(v));
    }
  } finally { mod._free(p); }
}

const hexOf = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'));
const cat = (...parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, b) => n + b.length, 0));
  let o = 0;
  for (const b of parts) { out.set(b, o); o += b.length; }
  return out;
};

test('decode_m_at: frames the encoders write, in batches, give decode_at\'s fields', () => {
  // Lua-built values the JS generator cannot express: shared and cyclic tables, error objects, nils
  const batch = run(String.raw`
    local shared = { 1, { "x" } }
    local cyc = { a = 1 }; cyc.self = cyc
    local e = K.make_error({ kind = "Invalid", message = "m", details = { shared } })
    local arr = { 1, nil, 3 }
    return hex(C.encode_frame(5, "m", "{a|0x00001}", "{b|0x00002}", "t", 2, shared, shared)
      .. C.encode({ "e", "{a|0x00001}", { kind = "EXIT", from = "{b|0x00002}" } })
      .. C.encode_frame(5, "m", "{a|0x00001}", "{b|0x00002}", "t", 0)
      .. C.encode_frame(5, "m", "{a|0x00001}", "{b|0x00002}", "t", 1, shared) -- one value
      .. C.encode_frame(5, "m", "{a|0x00001}", "{b|0x00002}", "t", 1, cyc)
      .. C.encode_frame(5, "m", "{a|0x00001}", "{b|0x00002}", "t", 1, false)
      .. C.encode_frame(5, "m", "{a|0x00001}", "{b|0x00002}", "t", 1, nil) -- a nil: an empty list, not one
      .. C.encode_frame(5, "m", "{a|0x00001}", "{b|0x00002}", "t", 3, cyc, e, arr)
      .. C.encode_frame(5, "m", "{a|0x00001}", "{b|0x00002}", "t", 3, nil, 1, nil)
      .. C.encode_frame(5, "m", "{a|0x00001}", "{|}", "@x", 1, 2 ^ 53, -0.0, 0 / 0)
      .. C.encode({ "t", "{a|0x00001}", "{b|0x00002}" })
      .. C.encode({ "m", "{a|0x00001}", "{b|0x00002}", "t", 1 })) -- five fields: declined, decode_at's
  `) as string;
  check(hexOf(batch));
  assert.equal((outcomes.get('m') ?? 0) + (outcomes.get('m1') ?? 0), 9);
  assert.equal(outcomes.get('m1'), 3, 'the one-value frames (a nil is an empty list; n 1 with three values is not one)');
  assert.equal(outcomes.get('other'), 3);
  // generated payloads (JS values of every shape) as the main thread encodes them, several per batch
  const frame = fc.tuple(fc.string({ maxLength: 24 }), fc.string({ maxLength: 24 }), fc.string({ maxLength: 12 }),
    fc.array(jsValue, { maxLength: 4 }));
  fc.assert(fc.property(fc.array(frame, { minLength: 1, maxLength: 5 }), (frames) => {
    check(cat(...frames.map(([pid, from, topic, ps]) => encodeValue(['m', pid, from, topic, ps.length, ps]).slice())));
  }), fuzzParams('native-remote-frames', 200));
});

test('decode_m_at: hostile "m" frames give decode_at\'s fields or its error, or decline a frame naming itself', () => {
  outcomes.clear();
  const valid = hexOf(run(String.raw`
    local shared = { 1, { "x" } }
    return hex(C.encode_frame(5, "m", "{app|0x00001}", "{app|0x00002}", "topic", 3, shared, { k = shared }, "s"))
  `) as string);
  // every cut of a valid frame
  for (let cut = 0; cut < valid.length; cut++) check(valid.slice(0, cut));
  // a reference to table 0 (the frame itself) inside the payloads, and to the payload list (1)
  for (const ref of [0, 1, 2, 5]) {
    check(cat(Uint8Array.from(M_HEAD), encodeValue('{a|0x1}').slice(), encodeValue('{b|0x2}').slice(),
      encodeValue('t').slice(), Uint8Array.from([0x01, 0x91, 0xd6, 0x01, 0, 0, 0, ref])));
  }
  // seeded byte edits past the header, in a batch after a valid frame
  const rnd = mulberry32(0x6d2);
  for (let i = 0; i < 300; i++) {
    const b = valid.slice();
    const edits = 1 + Math.floor(rnd() * 4);
    for (let e = 0; e < edits; e++) b[3 + Math.floor(rnd() * (b.length - 3))] = Math.floor(rnd() * 256);
    check(cat(valid, b, valid));
  }
  // the "m" header followed by anything, and the general hostile shapes, alone and after the header
  fc.assert(fc.property(hostileFrame, (b) => {
    check(b);
    check(cat(Uint8Array.from(M_HEAD), b));
  }), fuzzParams('native-remote-hostile', 300));
  assert.ok((outcomes.get('m') ?? 0) > 0 && (outcomes.get('error') ?? 0) > 0 && (outcomes.get('declined-self') ?? 0) > 0,
    JSON.stringify([...outcomes]));
  // arguments: decode_at's checks
  run(String.raw`
    for _, args in ipairs({ { 0, 1, 1 }, { 8, 1, -1 }, { "8", 1, 1 }, { 8, 1 } }) do
      local ok, e = pcall(C.decode_m_at, args[1], args[2], args[3])
      assert(not ok and e:find("expected an address and a length", 1, true), tostring(e))
    end
    local ok, e = pcall(C.decode_m_at, 8, 0, 1)
    assert(not ok and e:find("pos must be a positive integer", 1, true), tostring(e))
  `);
});
