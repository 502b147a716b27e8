// The per-message steps in C (native/lua/lmsg.c, `wippy.native`.msg on our Lua module) against
// the Lua they replace, in the same Lua state: the kernel uses them on our module and keeps its
// Lua code on wasmoon's, so both must give the same results on the same cases.
//   - resume(co, n, a1, a2) -> code, r1, r2 against sched.lua's resume_thread steps:
//     coroutine.resume with 0, 1 or 2 arguments, then coroutine.status(co) == "dead";
//   - packer(copy)(...) -> p | nil, message against process.send's loop (select, copy, p[i] = c):
//     the same values, the same `#` and `next` order, the same first error.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { LuaEngine } from 'wasmoon';
import { luaFactory } from '../src/lua/module.js';

const PRELUDE = String.raw`
local native = package.loaded["wippy.native"]
assert(native and native.msg, "wippy.native.msg missing from our module")
C_RESUME = native.msg.resume

-- resume_thread's Lua steps, as code, r1, r2
function L_RESUME(co, n, a1, a2)
  local ok, r1, r2
  if n == 0 then ok, r1, r2 = coroutine.resume(co)
  elseif n == 1 then ok, r1, r2 = coroutine.resume(co, a1)
  else ok, r1, r2 = coroutine.resume(co, a1, a2) end
  if not ok then return 2, r1 end
  if coroutine.status(co) == "dead" then return 1, r1, r2 end
  return 0, r1, r2
end

-- A value as text: type, math.type, contents in next order (tables by identity order kept).
function SHOW(v, seen)
  seen = seen or {}
  local t = type(v)
  if t == "number" then return math.type(v) .. ":" .. string.format("%q", v) end
  if t == "string" then return string.format("%q", v) end
  if t ~= "table" then return t .. ":" .. tostring(v):gsub("0x%x+", "") end
  if seen[v] then return "@" .. seen[v] end
  seen.n = (seen.n or 0) + 1
  seen[v] = seen.n
  local out = { "{#" .. #v }
  for k, x in next, v do out[#out + 1] = SHOW(k, seen) .. "=" .. SHOW(x, seen) end
  return table.concat(out, " ") .. "}"
end

-- The codec's copy (C), as the kernel has it; error objects are tables with ERR_MT.
local ERR_MT = {}
local codec = native.codec(function(v) return getmetatable(v) == ERR_MT end,
  function(v) return v end,
  function(f) return setmetatable({ kind = f.kind, message = f.message, details = f.details }, ERR_MT) end)
COPY = codec.copy
function MKERR(msg, details) return setmetatable({ kind = "Invalid", message = msg, details = details }, ERR_MT) end
C_PACK = native.msg.packer(COPY)
function L_PACK(...)
  local n = select("#", ...)
  local p = {}
  for i = 1, n do
    local c, cerr = COPY((select(i, ...)))
    if cerr then return nil, cerr end
    p[i] = c
  end
  return p
end
`;

let engine: LuaEngine;
const run = (code: string): unknown => engine.doStringSync(code);

before(async () => {
  engine = await luaFactory('native').createEngine({ injectObjects: false, enableProxy: false });
  run(PRELUDE);
});
after(() => { (engine as unknown) = undefined; });

/**
 * Runs `steps` (Lua: a list of { n, a1, a2 }) against two coroutines made by `make` (Lua source of
 * a function returning a fresh coroutine), one resumed by each implementation, and returns both
 * transcripts.
 */
function resumeBoth(make: string, steps: string): [string, string] {
  const r = run(String.raw`
    local make = ${make}
    local steps = ${steps}
    local function transcript(resume)
      local co = make()
      local out = {}
      for i, s in ipairs(steps) do
        local code, r1, r2 = resume(co, s[1], s[2], s[3])
        out[#out + 1] = i .. ": " .. SHOW(code) .. " " .. SHOW(r1) .. " " .. SHOW(r2) .. " " .. coroutine.status(co)
      end
      return table.concat(out, "\n")
    end
    return { transcript(L_RESUME), transcript(C_RESUME) }
  `) as string[];
  return [r[0], r[1]];
}

test('resume: yields, returns and arguments as coroutine.resume + coroutine.status', () => {
  const cases: Array<[string, string]> = [
    // yields with 0, 1, 2 and 3 values; takes 0, 1 and 2 arguments
    [`function() return coroutine.create(function(a, b)
        local x, y = coroutine.yield()
        local z = coroutine.yield(a, b)
        coroutine.yield(x, y, z)
        return "done", a, b
      end) end`,
     `{ { 2, 1, 2 }, { 2, "x", "y" }, { 1, "z" }, { 0 }, { 0 }, { 0 } }`],
    // n other than 0/1 passes two arguments; nil arguments kept
    [`function() return coroutine.create(function(...)
        local n = select("#", ...)
        local a, b = coroutine.yield(n, ...)
        return select("#", a, b), a, b
      end) end`,
     `{ { 3, nil, 7 }, { 1, nil } }`],
    // returns nothing, then resumed dead
    [`function() return coroutine.create(function() end) end`, `{ { 0 }, { 0 }, { 1, 1 } }`],
    // the body is a C function
    [`function() return coroutine.create(coroutine.yield) end`, `{ { 2, "a", "b" }, { 1, "c" }, { 0 } }`],
    // yields inside pcall and inside a for iterator and a metamethod
    [`function() return coroutine.create(function()
        local ok, v = pcall(function() return coroutine.yield("in pcall") end)
        for w in function() return coroutine.yield("in iterator") end do return ok, v, w end
      end) end`,
     `{ { 0 }, { 1, "v" }, { 1, "w" }, { 0 } }`],
    [`function() return coroutine.create(function()
        local t = setmetatable({}, { __index = function(_, k) return coroutine.yield("index " .. k) end })
        return t.x, t.y
      end) end`,
     `{ { 0 }, { 1, 1 }, { 1, 2 } }`],
  ];
  for (const [make, steps] of cases) {
    const [l, c] = resumeBoth(make, steps);
    assert.equal(c, l);
  }
});

test('resume: errors, dead and running coroutines give coroutine.resume\'s values', () => {
  const cases: Array<[string, string]> = [
    [`function() return coroutine.create(function() error("boom") end) end`, `{ { 0 }, { 0 } }`],
    [`function() return coroutine.create(function() error({ code = 7 }) end) end`, `{ { 0 } }`],
    [`function() return coroutine.create(function() coroutine.yield(1); error("later", 0) end) end`, `{ { 0 }, { 0 }, { 0 } }`],
    // the coroutine resumes itself (running) and its parent (normal)
    [`function() local co; co = coroutine.create(function()
        local a, b = C_RESUME(co, 0)
        local c, d = L_RESUME(co, 0)
        coroutine.yield(a, b); coroutine.yield(c, d)
      end); return co end`,
     `{ { 0 }, { 0 }, { 0 } }`],
    [`function() return coroutine.create(function()
        local outer = coroutine.running()
        local inner = coroutine.create(function() return C_RESUME(outer, 0) end)
        local inner2 = coroutine.create(function() return L_RESUME(outer, 0) end)
        local _, c1, m1 = coroutine.resume(inner)
        local _, c2, m2 = coroutine.resume(inner2)
        return c1 .. " " .. m1, c2 .. " " .. m2
      end) end`,
     `{ { 0 } }`],
    // a count hook that raises (the kernel's budget kill) inside the resumed coroutine
    [`function() local co = coroutine.create(function() while true do end end)
        debug.sethook(co, function() error("budget", 0) end, "", 1000); return co end`,
     `{ { 0 }, { 0 } }`],
  ];
  for (const [make, steps] of cases) {
    const [l, c] = resumeBoth(make, steps);
    assert.equal(c, l);
  }
  // the messages themselves, once
  const [, c] = resumeBoth(`function() return coroutine.create(function() end) end`, `{ { 0 }, { 0 } }`);
  assert.match(c, /2: integer:2 "cannot resume dead coroutine" nil:nil dead/);
});

test('resume: a thread that parks again and again (yielding the kernel\'s BLOCK) gets its wake value each time', () => {
  const r = run(String.raw`
    local BLOCK = {}
    local co = coroutine.create(function(x) while true do x = coroutine.yield(BLOCK, x) end end)
    local seen = 0
    for i = 1, 100 do
      local code, r1, r2 = C_RESUME(co, 1, i)
      assert(code == 0 and r1 == BLOCK and r2 == i, "round " .. i)
      seen = seen + 1
    end
    return seen
  `);
  assert.equal(r, 100);
});

/** Packs the argument list `args` (Lua source of a list of expressions) with both; both texts. */
function packBoth(args: string, setup = ''): [string, string] {
  const r = run(String.raw`
    ${setup}
    local function show(p, e) if p == nil then return "error: " .. tostring(e) end return SHOW(p) end
    return { show(L_PACK(${args})), show(C_PACK(${args})) }
  `) as string[];
  return [r[0], r[1]];
}

test('pack: scalars, nils and holes as process.send\'s loop builds them', () => {
  const lists = ['', '1', 'nil', 'nil, nil', '1, nil, 3', 'nil, 2', '1, 2, 3, 4, 5', '"s", true, 2.5, -0.0, 1/0',
    'false, nil, false', '1, 2, nil, nil, nil, 6', 'math.maxinteger, math.mininteger, "", "\\0"'];
  for (const a of lists) {
    const [l, c] = packBoth(a);
    assert.equal(c, l, `pack(${a})`);
  }
});

test('pack: tables are copied (not shared with the sender), sharing and cycles kept', () => {
  const setup = `local t = { a = 1, b = { 1, 2, 3 }, [5] = "x" }; t.self = t; local u = { t, t }; ERRV = MKERR("e", { d = 1 })`;
  for (const a of ['t', 'u', 't, u', '{ 10, 20, nil, 40 }', 'nil, { k = { k = { k = {} } } }', 'ERRV', '1, ERRV, t']) {
    const [l, c] = packBoth(a, setup);
    assert.equal(c, l, `pack(${a})`);
  }
  const copies = run(String.raw`
    local t = { 1, 2 }
    local p = C_PACK(t, t)
    return { p[1] ~= t, p[2] ~= t, p[1] ~= p[2], p[1][2] == 2 and p[2][2] == 2 }
  `);
  assert.deepEqual(copies, [true, true, true, true], 'each argument is copied on its own (as the loop: one copy per argument)');
});

test('pack: the first unsendable argument ends it with the copy\'s message', () => {
  for (const a of ['print', '1, print', 'coroutine.create(print)', '{ f = print }', '1, { 1 }, io.stdout, print',
    'nil, { { { print } } }']) {
    const [l, c] = packBoth(a);
    assert.equal(c, l, `pack(${a})`);
    assert.match(c, /^error: cannot send a /);
  }
  // too deep: the copy's limit message
  const [l, c] = packBoth('deep', 'deep = {}; local x = deep; for i = 1, 600 do x[1] = {}; x = x[1] end');
  assert.equal(c, l);
  assert.match(c, /^error: value nested deeper than 500 tables/);
});
