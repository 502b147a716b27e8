// Generated Lua values for the runtime fuzz tests (test/fuzz-values.test.ts,
// test/fuzz-process-api.test.ts). JS cannot hand a Lua process a function, a NaN key or a cyclic
// table, so fast-check generates *descriptions* — plain data that crosses the codec untouched —
// and LUA_VALUES (Lua source, prepended to the test processes) builds the value from one:
//
//   {"nil"} {"bool", b} {"int", "<decimal>"} {"float", "<number>"|"nan"|"inf"|"-inf"|"-0"}
//   {"str", "<hex bytes>"} {"rep", n, "<hex>"}                  strings with NULs, invalid UTF-8, huge
//   {"arr", {d...}}  ({"nil"} elements leave holes)            {"map", {{kd, vd}...}}
//   {"cycle", d} (d with itself at .self and at the end)        {"shared", d} (d referenced 4 times)
//   {"deep", n} (n nested tables)                               {"err", kind, message, retryable, details}
//   {"meta", d} (d with a metatable whose __index is code)
//   {"fn"} {"co"} {"chan"} {"time"}                            functions, coroutines, channels, time values
//
// Integers travel as decimal strings so math.maxinteger stays exact, bytes as hex.
import fc from 'fast-check';

export type Desc = unknown[];

/** Lua: unhex, build(desc), same(a, b) (cycle-aware deep equality), unsendable(v). */
export const LUA_VALUES = `
local time = require("time")
local function unhex(h) return (h:gsub("..", function(x) return string.char(tonumber(x, 16)) end)) end
local build
function build(d)
  local tag = d[1]
  if tag == "nil" then return nil
  elseif tag == "bool" then return d[2] == true
  elseif tag == "int" then return math.tointeger(tonumber(d[2]))
  elseif tag == "float" then
    local s = d[2]
    if s == "nan" then return 0 / 0 elseif s == "inf" then return math.huge
    elseif s == "-inf" then return -math.huge elseif s == "-0" then return -0.0 end
    return tonumber(s) + 0.0
  elseif tag == "str" then return unhex(d[2])
  elseif tag == "rep" then return string.rep(unhex(d[3]), d[2])
  elseif tag == "arr" then
    local t = {}
    for i, x in ipairs(d[2]) do t[i] = build(x) end
    return t
  elseif tag == "map" then
    local t = {}
    for _, kv in ipairs(d[2]) do
      local k = build(kv[1])
      if k ~= nil and k == k then t[k] = build(kv[2]) end
    end
    return t
  elseif tag == "cycle" then
    local t = build(d[2])
    if type(t) ~= "table" then t = { t } end
    t.self = t
    t[#t + 1] = t
    return t
  elseif tag == "shared" then
    local x = build(d[2])
    return { a = x, b = x, list = { x, x } }
  elseif tag == "deep" then
    local top = {}
    local t = top
    for _ = 1, d[2] do local n = {}; t.next = n; t = n end
    t.leaf = true
    return top
  elseif tag == "err" then
    return errors.new({ kind = d[2], message = d[3], retryable = d[4], details = d[5] and build(d[5]) or nil })
  elseif tag == "meta" then
    local t = build(d[2])
    if type(t) ~= "table" then t = { t } end
    return setmetatable(t, { __index = function() return "code ran in the receiver" end })
  elseif tag == "fn" then return function() return 1 end
  elseif tag == "co" then return coroutine.create(function() end)
  elseif tag == "chan" then return channel.new(1)
  elseif tag == "time" then return time.now()
  end
  error("unknown description tag " .. tostring(tag))
end

local function is_error(v)
  if type(v) ~= "userdata" then return false end
  local ok, r = pcall(function() return errors.is(v, v:kind()) end)
  return ok and r == true
end

-- The first value in v (walking tables, keys and values) that is not data: a type name, or nil.
local function unsendable(v, seen)
  seen = seen or {}
  local t = type(v)
  if t == "function" or t == "thread" then return t end
  if t == "userdata" then
    if is_error(v) then return unsendable(v:details(), seen) end
    return "userdata"
  end
  if t ~= "table" or seen[v] then return nil end
  seen[v] = true
  for k, x in pairs(v) do
    local bad = unsendable(k, seen) or unsendable(x, seen)
    if bad then return bad end
  end
  return nil
end

local function has_meta(v, seen)
  seen = seen or {}
  if type(v) ~= "table" or seen[v] then return false end
  seen[v] = true
  if getmetatable(v) ~= nil then return true end
  for k, x in pairs(v) do if has_meta(k, seen) or has_meta(x, seen) then return true end end
  return false
end

-- Deep equality of a sent value a and the received b: types, math.type, NaN, the sign of zero,
-- bytes of strings, error fields, sharing and cycles (a table met again must map to the same
-- table), and no metatable on anything received. -> true | false, where
-- Paths stop growing past 120 characters: a 30000-deep value would otherwise build a new
-- 180 KB path string at every level (quadratic; it once ran a worker out of its 1 GiB heap).
local function sub(path, k)
  if #path > 120 then return path end
  return path .. "[" .. tostring(k) .. "]"
end

local function same(a, b, seen, path)
  seen = seen or {}
  path = path or "value"
  local ta, tb = type(a), type(b)
  if ta ~= tb then return false, path .. ": " .. ta .. " sent, " .. tb .. " arrived" end
  if ta == "number" then
    if math.type(a) ~= math.type(b) then return false, path .. ": " .. math.type(a) .. " sent, " .. math.type(b) .. " arrived" end
    if a ~= a then return b ~= b, path .. ": NaN sent, " .. tostring(b) .. " arrived" end
    if a ~= b then return false, path .. ": " .. tostring(a) .. " sent, " .. tostring(b) .. " arrived" end
    if a == 0 and math.type(a) == "float" and 1 / a ~= 1 / b then return false, path .. ": sign of zero lost" end
    return true
  end
  if ta == "userdata" then
    if not is_error(b) then return false, path .. ": error object did not arrive as one" end
    if a:message() ~= b:message() or a:kind() ~= b:kind() or a:retryable() ~= b:retryable() then
      return false, path .. ": error fields differ (" .. tostring(a) .. " / " .. tostring(b) .. ")"
    end
    return same(a:details(), b:details(), seen, path .. ":details()")
  end
  if ta ~= "table" then
    if a ~= b then
      return false, path .. ": " .. #tostring(a) .. "-byte " .. ta .. " changed (" .. tostring(a):sub(1, 20) .. " / " .. tostring(b):sub(1, 20) .. ")"
    end
    return true
  end
  if seen[a] ~= nil then
    if seen[a] ~= b then return false, path .. ": sharing or cycle not preserved" end
    return true
  end
  seen[a] = b
  if getmetatable(b) ~= nil then return false, path .. ": arrived with a metatable" end
  local na, nb = 0, 0
  for k, v in next, a do
    na = na + 1
    if type(k) ~= "table" then
      local ok, why = same(v, rawget(b, k), seen, sub(path, k))
      if not ok then return false, why end
    end
  end
  for _ in next, b do nb = nb + 1 end
  if na ~= nb then return false, path .. ": " .. na .. " keys sent, " .. nb .. " arrived" end
  return true
end
`;

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

export const intDesc: fc.Arbitrary<Desc> = fc.oneof(
  fc.constantFrom('0', '1', '-1', '9223372036854775807', '-9223372036854775808', '9007199254740993', '-9007199254740993',
    '2147483648', '-2147483649', '4294967296', '255', '-32', '-33', '65536'),
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map(String),
  fc.integer().map(String),
).map((s) => ['int', s]);

export const floatDesc: fc.Arbitrary<Desc> = fc.oneof(
  fc.constantFrom('nan', 'inf', '-inf', '-0', '0', '1', '1e308', '5e-324', '-2.5', '9007199254740993', '1e+300'),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((x) => (Object.is(x, -0) ? '-0' : String(x))),
).map((s) => ['float', s]);

export const strDesc: fc.Arbitrary<Desc> = fc.oneof(
  fc.constantFrom('', '00', 'ff', 'c0af', 'eda080', 'f4908080', '00ff00', '7b7d', '40696e626f78'),
  fc.uint8Array({ maxLength: 40 }).map(hex),
  fc.string({ unit: 'grapheme', maxLength: 20 }).map((s) => Buffer.from(s).toString('hex')),
).map((h) => ['str', h]);

export const scalarDesc: fc.Arbitrary<Desc> = fc.oneof(
  fc.constant<Desc>(['nil']), fc.boolean().map((b): Desc => ['bool', b]), intDesc, floatDesc, strDesc,
);

/** A map key: any sendable non-nil, non-NaN scalar (float keys with an integral value become integers in Lua). */
const keyDesc: fc.Arbitrary<Desc> = fc.oneof(
  strDesc, intDesc, fc.boolean().map((b): Desc => ['bool', b]),
  floatDesc.filter((d) => d[1] !== 'nan'),
);

/** Data only: what must arrive equal on the same worker and on another one. */
export const dataDesc: fc.Arbitrary<Desc> = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true },
    scalarDesc, tie('arr'), tie('map'), tie('cycle'), tie('shared'), tie('err'),
    fc.integer({ min: 1, max: 300 }).map((n) => ['deep', n])),
  arr: fc.array(tie('value'), { maxLength: 6 }).map((l) => ['arr', l]),
  map: fc.array(fc.tuple(keyDesc, tie('value')), { maxLength: 6 }).map((l) => ['map', l]),
  cycle: fc.oneof(tie('arr'), tie('map')).map((d) => ['cycle', d]),
  shared: fc.oneof(tie('arr'), tie('map')).map((d) => ['shared', d]),
  err: fc.tuple(fc.constantFrom('', 'Invalid', 'NotFound', 'Internal', 'x'), fc.string({ maxLength: 20 }),
    fc.constantFrom(true, false, null), fc.option(tie('value'), { nil: null }))
    .map(([k, m, r, d]) => ['err', k, m, r, d]),
})).value as fc.Arbitrary<Desc>;

/** A data value with something that is not data inside: a function, coroutine, channel or time value. */
export const unsendableDesc: fc.Arbitrary<Desc> = fc
  .tuple(fc.constantFrom<Desc>(['fn'], ['co'], ['chan'], ['time']), dataDesc, fc.constantFrom('value', 'in-arr', 'as-key', 'in-err'))
  .map(([bad, data, where]) => {
    if (where === 'value') return bad;
    if (where === 'in-arr') return ['arr', [data, bad]];
    if (where === 'as-key') return ['map', [[bad, data]]];
    return ['err', 'Invalid', 'carries code', false, ['arr', [bad]]];
  });

/** A data value with a metatable somewhere. */
export const metaDesc: fc.Arbitrary<Desc> = fc
  .tuple(dataDesc, fc.boolean())
  .map(([d, nested]) => (nested ? ['arr', [['str', '61'], ['meta', d]]] : ['meta', d]));

/** Huge strings and tables. */
export const hugeDesc: fc.Arbitrary<Desc> = fc.oneof(
  fc.tuple(fc.integer({ min: 1 << 16, max: 4 << 20 }), fc.uint8Array({ minLength: 1, maxLength: 4 })).map(([n, b]) => ['rep', Math.ceil(n / b.length), hex(b)]),
  fc.integer({ min: 1000, max: 20_000 }).map((n) => ['arr', Array.from({ length: n }, (_, i) => ['int', String(i)])]),
);

/** Nesting around the codec's depth limit (10000) and past it. */
export const deepDesc: fc.Arbitrary<Desc> = fc
  .oneof(fc.integer({ min: 1, max: 12_000 }), fc.constantFrom(9_998, 9_999, 10_000, 10_001, 30_000))
  .map((n) => ['deep', n]);

// ---------------------------------------------------------------------------------------------
// Lua -> JS: what a value built from a description looks like after the main thread decodes it.

/** Descriptions whose JS form is predictable: no sharing or cycles (JS sees "[shared table]" for
 * the second sighting, in Lua's traversal order), map keys only strings, integers, floats, booleans. */
export const jsReturnDesc: fc.Arbitrary<Desc> = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true },
    scalarDesc, tie('arr'), tie('map'), tie('err'), fc.integer({ min: 1, max: 60 }).map((n) => ['deep', n])),
  arr: fc.array(tie('value'), { maxLength: 6 }).map((l) => ['arr', l]),
  map: fc.array(fc.tuple(keyDesc, tie('value')), { maxLength: 6 }).map((l) => ['map', l]),
  err: fc.tuple(fc.constantFrom('', 'Invalid', 'NotFound'), fc.string({ maxLength: 20 }), fc.constantFrom(true, false, null),
    fc.option(tie('value'), { nil: null }))
    .map(([k, m, r, d]) => ['err', k, m, r, d]),
})).value as fc.Arbitrary<Desc>;

/** Thrown by `expectedInJs` when two Lua keys become the same JS property name (order decides). */
export class KeyCollision extends Error {}

const INT64 = 2n ** 63n;
/** A Lua number key's identity after Lua's float-to-integer key normalisation. */
function luaKey(d: Desc): { id: string; js: string } | undefined {
  const [tag, v] = d as [string, unknown];
  if (tag === 'str') return { id: `s:${v as string}`, js: Buffer.from(v as string, 'hex').toString('utf8') };
  if (tag === 'bool') return { id: `b:${String(v)}`, js: String(v === true) };
  if (tag === 'int') return { id: `i:${BigInt(v as string)}`, js: String(BigInt(v as string)) };
  if (tag === 'float') {
    const s = v as string;
    const x = s === 'inf' ? Infinity : s === '-inf' ? -Infinity : s === '-0' ? -0 : s === 'nan' ? NaN : Number(s);
    if (Number.isNaN(x)) return undefined;
    if (Number.isInteger(x) && BigInt(x) >= -INT64 && BigInt(x) < INT64) return { id: `i:${BigInt(x)}`, js: String(BigInt(x)) };
    return { id: `f:${x}`, js: String(x) };
  }
  return undefined;
}

/** A Lua table (key id -> [key, js value]) as the codec sends it and msgpackr reads it. */
function tableToJs(t: Map<string, [string, unknown]>): unknown {
  const ids = [...t.keys()];
  const n = ids.length;
  if (n > 0 && ids.every((id) => id.startsWith('i:')) && ids.every((id) => { const i = BigInt(id.slice(2)); return i >= 1n && i <= BigInt(n); })) {
    return Array.from({ length: n }, (_, i) => t.get(`i:${i + 1}`)![1]);
  }
  const out: Record<string, unknown> = {};
  for (const [js, v] of t.values()) {
    if (Object.prototype.hasOwnProperty.call(out, js)) throw new KeyCollision(js);
    Object.defineProperty(out, js, { value: v, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

/** What the main thread's decoder returns for the Lua value built from `d` (undefined for nil). */
export function expectedInJs(d: Desc, mk: (message: string, kind: string, retryable?: boolean, details?: unknown) => unknown): unknown {
  const [tag, a, b, c, e] = d as [string, unknown, unknown, unknown, unknown];
  switch (tag) {
    case 'nil': return undefined;
    case 'bool': return a === true;
    case 'int': { const i = BigInt(a as string); return i >= -(2n ** 53n) && i <= 2n ** 53n ? Number(i) : i; }
    case 'float': { const s = a as string; return s === 'nan' ? NaN : s === 'inf' ? Infinity : s === '-inf' ? -Infinity : s === '-0' ? -0 : Number(s); }
    case 'str': return Buffer.from(a as string, 'hex').toString('utf8');
    case 'deep': {
      let v: unknown = { leaf: true };
      for (let i = 0; i < (a as number); i++) v = { next: v };
      return v;
    }
    case 'arr': {
      const t = new Map<string, [string, unknown]>();
      (a as Desc[]).forEach((x, i) => { const v = expectedInJs(x, mk); if (v !== undefined) t.set(`i:${i + 1}`, [String(i + 1), v]); });
      return tableToJs(t);
    }
    case 'map': {
      const t = new Map<string, [string, unknown]>();
      for (const [kd, vd] of a as Array<[Desc, Desc]>) {
        const k = luaKey(kd);
        if (!k) continue;
        const v = expectedInJs(vd, mk);
        if (v === undefined) t.delete(k.id); else t.set(k.id, [k.js, v]);
      }
      return tableToJs(t);
    }
    case 'err': {
      const details = e === null || e === undefined ? undefined : expectedInJs(e as Desc, mk);
      return mk(b as string, a as string, c === null ? undefined : (c as boolean), details === false ? undefined : details);
    }
  }
  throw new Error(`no JS form for ${tag}`);
}
