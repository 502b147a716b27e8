// The sandbox's Lua modules on their own, in a plain wasmoon Lua state with a small fake kernel:
// src/lua/kernel/random.lua against the C math.random of the same Lua build, and
// src/lua/kernel/safestring.lua's size guard, method table and pattern slot. Plus the Lua 5.4 rule
// the __gc refusal relies on. Each snippet raises on a failed expectation, rejecting doString.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { LuaFactory } from 'wasmoon';

const RANDOM_SRC = readFileSync(path.resolve('src/lua/kernel/random.lua'), 'utf8');
const SAFESTRING_SRC = readFileSync(path.resolve('src/lua/kernel/safestring.lua'), 'utf8');
const factory = new LuaFactory();

async function run(lua: string): Promise<unknown> {
  const engine = await factory.createEngine();
  try {
    engine.global.set('RANDOM_SRC', RANDOM_SRC);
    engine.global.set('SAFESTRING_SRC', SAFESTRING_SRC);
    return await engine.doString(PRELUDE + lua);
  } finally {
    engine.global.close();
  }
}

// A fake kernel: errors as tables with kind/message, a current process K.cp the test sets, and a
// fixed entropy source.
const PRELUDE = String.raw`
function eq(got, want, what)
  if got ~= want then error(("%s: got %s, want %s"):format(what or "value", tostring(got), tostring(want)), 2) end
end
local EMT = { __tostring = function(e) return e.message end }
K = { H = { entropy = function() return 11, 22, 33, 44 end } }
K.err = function(kind, message) return setmetatable({ kind = kind, message = message }, EMT) end
K.is_error = function(v) return getmetatable(v) == EMT end
K.error_message = function(v) return v.message end
function loadk(src, name) return assert(load(src, "@" .. name, "t"))()(K) end
-- the message of a failed call (a C or Lua error, string or error table)
function failure(f, ...)
  local ok, e = pcall(f, ...)
  if ok then error("expected a failure", 2) end
  return type(e) == "table" and e.message or e
end
`;

test('random.lua draws the same numbers as Lua 5.4\'s C math.random for every argument form', async () => {
  await run(String.raw`
    local M = loadk(RANDOM_SRC, "random.lua")
    local forms = { {}, {10}, {1, 6}, {0}, {-5, 5}, {math.mininteger, math.maxinteger}, {3, 3},
      {1, 1 << 40}, {1, (1 << 40) + 12345}, {-1000000007, 1000000007}, {"7"}, {2.0, 9.0} }
    for _, seed in ipairs({ {42}, {0}, {-1}, {7, 3}, {math.maxinteger, math.mininteger} }) do
      eq(select("#", M.randomseed(table.unpack(seed))), 2, "randomseed returns two seeds")
      math.randomseed(table.unpack(seed))
      for round = 1, 40 do
        for i, f in ipairs(forms) do
          local want, got = math.random(table.unpack(f)), M.random(table.unpack(f))
          eq(got, want, "seed " .. seed[1] .. " round " .. round .. " form " .. i)
          eq(math.type(got), math.type(want), "type of form " .. i)
        end
      end
    end
    -- the same errors, with the same messages
    local bad = { {1.5}, {"x"}, {{}}, {nil}, {5, 1}, {1, 2, 3}, {1, 2.5}, {-1} }
    for i, f in ipairs(bad) do
      eq(failure(M.random, table.unpack(f, 1, select("#", table.unpack(f)) > 0 and #f or 1)),
        failure(math.random, table.unpack(f, 1, select("#", table.unpack(f)) > 0 and #f or 1)), "error " .. i)
    end
    eq(failure(M.randomseed, "x"), failure(math.randomseed, "x"), "randomseed error")
    eq(failure(M.randomseed, 1.5), failure(math.randomseed, 1.5), "randomseed float")
    -- floats in [0, 1), integers in range
    for _ = 1, 2000 do
      local x = M.random(); assert(x >= 0 and x < 1 and math.type(x) == "float")
      local n = M.random(3, 5); assert(n >= 3 and n <= 5)
    end
  `);
});

test('random.lua keeps one generator per process; unseeded ones start from the entropy source', async () => {
  const r = await run(String.raw`
    local M = loadk(RANDOM_SRC, "random.lua")
    local A, B = {}, {}
    K.cp = A; M.randomseed(42)
    local a1 = M.random(1 << 30)
    K.cp = B; M.randomseed(42)       -- B seeds the same way and draws a lot
    for _ = 1, 100 do M.random() end
    K.cp = A
    local a2 = M.random(1 << 30)
    -- A's stream is untouched by B: it equals an uninterrupted stream with the same seed
    K.cp = {}; M.randomseed(42)
    eq(M.random(1 << 30), a1); eq(M.random(1 << 30), a2, "A's second draw")
    -- an unseeded process starts from H.entropy(): two processes with the same entropy agree,
    -- and seeding one with randomseed() (no arguments) draws fresh entropy
    local calls = 0
    K.H.entropy = function() calls = calls + 1; return calls, calls, calls, calls end
    K.cp = {}; local u1 = M.random(0)
    K.cp = {}; local u2 = M.random(0)
    eq(calls, 2, "entropy drawn once per process"); assert(u1 ~= u2)
    M.randomseed(); eq(calls, 3, "randomseed() reseeds from entropy")
    return "ok"
  `);
  assert.equal(r, 'ok');
});

test('Lua 5.4 marks an object for finalisation only if __gc is in its metatable at setmetatable', async () => {
  // The sandbox refuses __gc at setmetatable (sandbox.lua); this is the language rule that makes that
  // check sufficient: a __gc added to the metatable afterwards never runs.
  const r = await run(String.raw`
    local ran = { early = 0, late = 0 }
    local mt = {}
    setmetatable({}, mt)
    mt.__gc = function() ran.late = ran.late + 1 end
    setmetatable({}, { __gc = function() ran.early = ran.early + 1 end })
    collectgarbage(); collectgarbage()
    return ran.early .. "," .. ran.late
  `);
  assert.equal(r, '1,0');
});

test('safestring: size checks against the cap, the method table, no dump', async () => {
  await run(String.raw`
    loadk(SAFESTRING_SRC, "safestring.lua")
    local S, T = K.safestring, K.safetable
    K.mem_cap_kb = 64 * 1024 -- 64 MiB
    local P = { red = 0, budget = 1000000 }
    K.cp = P
    local function bomb(f, ...)
      P.doomed = false
      local msg = failure(f, ...)
      assert(tostring(msg):find("^memory limit exceeded"), tostring(msg))
      eq(P.doomed and P.doomed.kind, "Internal", "the process is doomed")
    end
    bomb(S.rep, "x", 1 << 30)
    bomb(S.rep, "x", 1 << 24, ("y"):rep(10))     -- the separator counts
    bomb(function() return ("x"):rep(1 << 30) end) -- method calls take the same path
    local big = S.rep("x", 4 << 20)
    local bigs = {}
    for i = 1, 20 do bigs[i] = big end
    bomb(S.format, ("%s"):rep(20), table.unpack(bigs))
    bomb(T.concat, { big, big, big, big, big, big, big, big, big, big })
    bomb(T.concat, setmetatable({}, { __index = function() return big end }), "", 1, 10)
    bomb(S.gsub, S.rep("x", 16 << 20), "", "yy")      -- 16M+1 empty matches, 2 bytes each
    bomb(S.gsub, ("ab"):rep(1000), ".", { a = big })  -- a table replacement, tallied
    bomb(S.gsub, ("ab"):rep(1000), ".", function() return big end)
    bomb(S.pack, "c2000000000", "")
    K.mem_cap_kb = 1024 * 1024
    local huge = S.rep("x", 30 << 20)
    K.mem_cap_kb = 64 * 1024
    bomb(S.upper, huge) -- a same-size copy: 30 MiB more, twice, over the 64 MiB cap
    huge = nil
    -- under the cap, the same functions work and give the C results
    P.doomed = false
    eq(S.rep("ab", 3, ","), "ab,ab,ab"); eq(("ab"):rep(2), "abab"); eq(S.rep("", 1 << 62), "")
    eq(S.rep("", 1 << 62, ""), ""); eq(S.rep(12, 2), "1212")
    -- big reps are built from blocks: the same bytes as C's
    for _, c in ipairs({ {"x", 70000}, {"ab", 100000, ","}, {"abc", 65537, ""}, {"", 100000, "-"},
        {"q", 2, ("s"):rep(70000)}, {("z"):rep(5000), 20, "|"}, {"x", 0x10001, "ab"}, {7, 40000, 8} }) do
      eq(S.rep(c[1], c[2], c[3]), string.rep(c[1], c[2], c[3]), "rep " .. tostring(c[1]) .. " " .. c[2])
    end
    eq(S.format("%5.1f|%q|%s", 3.14159, "a\0b", big):sub(1, 13), "  3.1|\"a\\0b\"|")
    eq(T.concat({ 1, "b", 2.5 }, "-"), "1-b-2.5"); eq(T.concat({}, "x"), "")
    eq(S.gsub("hello world", "o", "0"), "hell0 w0rld")
    eq(S.gsub("abc", "%w", "%0%0"), "aabbcc"); eq(select(2, S.gsub("abc", "", "-")), 4)
    eq(S.gsub("abc", ".", { a = 1, b = false }), "1bc")
    eq(S.pack("i4", 7):len(), 4); eq(S.upper("aB"), "AB")
    -- C's own errors come through (a C error names its caller's position: strip it)
    local function text(m) return (m:gsub("^[^:]*:%d+: ", "")) end
    eq(text(failure(T.concat, { 1, {} })), failure(table.concat, { 1, {} }))
    assert(text(failure(S.rep)):find("^bad argument #1 to 'rep' %(string expected"))
    -- split: plain-text separator, empty pieces kept, "" splits into UTF-8 characters
    local function joined(t) return table.concat(t, "|") .. "#" .. #t end
    eq(joined(S.split("a.b.c", ".")), "a|b|c#3"); eq(joined(S.split("a,,b,", ",")), "a||b|#4")
    eq(joined(S.split("abc", "x")), "abc#1"); eq(joined(S.split("", ",")), "#1")
    eq(joined(S.split("a--b", "--")), "a|b#2"); eq(joined(("x%y"):split("%")), "x|y#2")
    eq(joined(S.split("aé€", "")), "a|é|€#3"); eq(joined(S.split(K.err("", "p:q"), ":")), "p|q#2")
    assert(text(failure(S.split, {}, ",")):find("^bad argument #1 to 'split' %(string expected, got table%)"))
    assert(text(failure(S.split, "a", nil)):find("^bad argument #2 to 'split'"))
    -- no dump anywhere, and the metatable is hidden
    eq(S.dump, nil); eq(("").dump, nil); eq(getmetatable(""), false)
    -- error objects pass as their message through the library table
    eq(S.upper(K.err("Internal", "boom")), "BOOM"); eq(S.find(K.err("", "not found"), "found"), 5)
    -- table.move in chunks, charged to the budget: the same result, and a huge range is killed
    local t = {}
    for i = 1, 40000 do t[i] = i end
    T.move(t, 1, 40000, 3)
    eq(t[3], 1); eq(t[40002], 40000); eq(t[1], 1)
    T.move(t, 3, 40002, 1) -- overlapping backwards
    eq(t[1], 1); eq(t[40000], 40000)
    local u = T.move(t, 1, 40000, 1, {})
    eq(#u, 40000); eq(u[777], 777)
    P.red, P.doomed = 0, false
    local msg = failure(T.move, {}, 1, 1 << 40, 2)
    assert(tostring(msg):find("^reduction budget exceeded"), tostring(msg))
    P.red, P.doomed = 0, false
    msg = failure(T.insert, setmetatable({}, { __len = function() return 1 << 50 end }), 1, "x")
    assert(tostring(msg):find("^reduction budget exceeded"), tostring(msg))
    -- the pattern slot: K.pattern is used when present
    P.red, P.doomed = 0, false
    local used = {}
    K.pattern = {}
    for _, name in ipairs({ "find", "match", "gmatch", "gsub" }) do
      K.pattern[name] = function(...) used[#used + 1] = name; return string[name](...) end
    end
    eq(S.find("abc", "b"), 2); eq(("abc"):match("c"), "c"); eq(S.gsub("abc", "b", "x"), "axc")
    for _ in ("a b"):gmatch("%a") do end
    eq(table.concat(used, ","), "find,match,gsub,gmatch")
    -- Lua's "not enough memory" becomes the documented error
    eq(K.memory_error("not enough memory").kind, "Internal")
    assert(K.memory_error("not enough memory").message:find("^memory limit exceeded"))
    eq(K.memory_error("other"), nil)
  `);
});
