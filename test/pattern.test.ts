// Runaway pattern matching (issue 9): src/lua/lib/pattern.lua is a Lua port of Lua 5.4's
// matcher, so a match runs under the instruction hook and the reduction budget can stop it.
// (a) A differential test runs hand-written and seeded random patterns (malformed ones included)
//     through the C string library and through pattern.lua in one Lua state and requires the
//     same results and the same errors.
// (b) The rule: typical patterns stay in C (few VM instructions), pathological ones go to Lua.
// (c) End to end: a process running a pathological find is killed by the reduction budget while
//     a neighbour on the same worker keeps answering.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { LuaFactory, type LuaEngine } from 'wasmoon';
import { createRuntime, type Runtime } from '../src/index.js';
import { LUA_EQ, luaMain } from './helpers/lua-asserts.js';

const PATTERN_SRC = readFileSync(path.resolve('src/lua/lib/pattern.lua'), 'utf8');
const DIFF_SRC = readFileSync(path.resolve('test/lua/pattern_diff.lua'), 'utf8');

async function luaState(): Promise<LuaEngine> {
  const engine = await new LuaFactory().createEngine();
  engine.global.set('PATTERN_SRC', PATTERN_SRC);
  engine.global.set('DIFF_SRC', DIFF_SRC);
  await engine.doString(`
    P = assert(load(PATTERN_SRC, "@pattern.lua", "t"))()({})
    DIFF = assert(load(DIFF_SRC, "@pattern_diff.lua", "t"))()
  `);
  return engine;
}

async function differential(impl: string, seed: number, rounds: number): Promise<void> {
  const engine = await luaState();
  try {
    const r: string = await engine.doString(
      `local n, mm = DIFF(${impl}, ${seed}, ${rounds}); return n .. "\\n" .. table.concat(mm, "\\n")`);
    const n = Number(r.slice(0, r.indexOf('\n')));
    const mismatches = r.slice(r.indexOf('\n') + 1);
    assert.equal(mismatches, '', `${impl}: results differ from the C string library`);
    assert.ok(n > 10000, `only ${n} calls compared`);
  } finally {
    engine.global.close();
  }
}

test('the Lua matcher gives exactly the C results and errors (hand-written + seeded random)', async () => {
  await differential('P.lua', 20261203, 1000);
});

test('K.pattern (C or Lua by the rule) gives exactly the C results and errors', async () => {
  await differential('P', 7, 400);
});

test('error messages carry the caller\'s position, as luaL_error does', async () => {
  const engine = await luaState();
  try {
    const r = await engine.doString(`
      local function msg(f) local ok, e = pcall(f); assert(not ok); return e end
      local out = {}
      for _, impl in ipairs({ string, P.lua, P }) do
        out[#out + 1] = msg(function() local x = impl.find("a", "[a") return x end)
        out[#out + 1] = msg(function() for _ in impl.gmatch("a", "(") do end end)
        out[#out + 1] = msg(function() local x = impl.gsub("a", "a", "%9") return x end)
        out[#out + 1] = msg(function() local x = impl.gsub("a", "a", function() error("own", 0) end) return x end)
      end
      return table.concat(out, "|")`);
    const parts = (r as string).split('|');
    const c = parts.slice(0, 4);
    assert.match(c[0], /:5: malformed pattern \(missing '\]'\)$/);
    assert.match(c[1], /:6: unfinished capture$/);
    assert.match(c[2], /:7: invalid capture index %9$/);
    assert.equal(c[3], 'own', "a replacement function's error passes untouched");
    assert.deepEqual(parts.slice(4, 8), c, 'Lua matcher');
    assert.deepEqual(parts.slice(8, 12), c, 'K.pattern');
  } finally {
    engine.global.close();
  }
});

test('the rule: typical patterns run in C, pathological ones in Lua where a hook stops them', async () => {
  const engine = await luaState();
  try {
    // VM instructions a call executes, counted by a count hook (1 tick = 100 instructions).
    const r = await engine.doString(`
      local function ticks(f)
        local n = 0
        debug.sethook(function() n = n + 1 end, "", 100)
        f()
        debug.sethook()
        return n
      end
      local big = string.rep("key=value, ", 3000) -- 33 KB
      local out = {}
      -- each case through K.pattern and through the Lua matcher alone
      local cases = {
        gmatch = function(M) local n = 0; for w in M.gmatch(big, "[^,]+") do n = n + 1 end; return n end,
        digits = function(M) return M.find(big, "%d+") end,
        kv = function(M) return M.match(big, "^(%w+)=(.*)$") end,
        spaces = function(M) return M.gsub(big, "%s+", " ") end,
        plain = function(M) return M.find(big, "value, key", 1, true) end,
        trim = function(M) return M.gsub(big, "^%s*(.-)%s*$", "%1") end,
        -- the same trim is quadratic in C on a long run of blanks
        blanks = function(M) return M.gsub("x" .. string.rep(" ", 600) .. "x", "^%s*(.-)%s*$", "%1") end,
      }
      for name, f in pairs(cases) do
        local c, l = ticks(function() f(P) end), ticks(function() f(P.lua) end)
        out[#out + 1] = name .. "=" .. (c * 20 < l and "C" or "Lua")
      end
      -- pathological: a count hook that raises stops the Lua matcher
      local s = string.rep("a", 1000000)
      local ok, err = pcall(function()
        debug.sethook(function() error("budget", 0) end, "", 1000000)
        return P.find(s, ".-.-.-.-.-b")
      end)
      debug.sethook()
      out[#out + 1] = "stopped=" .. tostring(not ok and err == "budget")
      out[#out + 1] = "cost=" .. tostring(P.cost(".-.-.-.-.-b", #s) > P.BOUND)
      return table.concat(out, " ")`);
    const f = Object.fromEntries((r as string).split(' ').map((kv) => kv.split('=')));
    for (const name of ['gmatch', 'digits', 'kv', 'spaces', 'plain', 'trim']) assert.equal(f[name], 'C', name);
    assert.equal(f.blanks, 'Lua', 'trim on a long run of blanks');
    assert.equal(f.stopped, 'true');
    assert.equal(f.cost, 'true');
  } finally {
    engine.global.close();
  }
});

test('the bound holds: the matcher never does much more work than the bound allows', async () => {
  // The Lua matcher does the same steps as the C one, so its instruction count (deterministic)
  // measures the C matcher's work. On seeded random patterns and adversarial subjects (long runs,
  // nested brackets), instructions stay under a constant times the bound (measured: <= 41).
  const engine = await luaState();
  try {
    const r: string = await engine.doString(`
      local state = 4242
      local function rnd(n) state = (state * 1103515245 + 12345) % 2147483648; return state % n + 1 end
      local function pick(t) return t[rnd(#t)] end
      local ATOMS = { "a", "b", " ", ".", "%a", "%s", "%w", "[ab]", "[^a]", "()", "%b()", "%f[%w]", "%1", "(", ")" }
      local SUF = { "", "", "*", "+", "-", "?" }
      local function gen()
        local t = {}
        if rnd(3) == 1 then t[#t + 1] = "^" end
        for _ = 1, rnd(5) do
          local a = pick(ATOMS)
          t[#t + 1] = a
          if (#a == 1 and a ~= "(" and a ~= ")") or a:sub(1, 1) == "[" or (#a == 2 and a:sub(1, 1) == "%" and a ~= "%1") then
            t[#t + 1] = pick(SUF)
          end
        end
        if rnd(3) == 1 then t[#t + 1] = "$" end
        return table.concat(t)
      end
      local n = 120
      local subjects = { string.rep("a", n), string.rep(" ", n) .. "x", string.rep("ab", n // 2),
        string.rep("(", n // 2) .. string.rep(")", n // 2 - 1) }
      local checked, worst, what = 0, 0, ""
      for _ = 1, 300 do
        local p = gen()
        for _, s in ipairs(subjects) do
          for _, gm in ipairs({ false, true }) do
            local bound = P.cost(p, #s, gm)
            if bound < 1e7 then
              local iters = 0
              local run = gm and function() for _ in P.lua.gmatch(s, p) do iters = iters + 1 end end
                or function() P.lua.find(s, p) end
              pcall(run) -- compiles the pattern's items
              iters = 0
              local ticks = 0
              debug.sethook(function() ticks = ticks + 1 end, "", 100)
              pcall(run)
              debug.sethook()
              -- minus a fixed cost per call and per gmatch step (pcall, captures, the loop)
              local ratio = (ticks * 100 - 1000 - 200 * iters) / bound
              if ratio > worst then worst, what = ratio, string.format("%q on %d bytes (gmatch %s)", p, #s, tostring(gm)) end
              checked = checked + 1
            end
          end
        end
      end
      return checked .. "|" .. worst .. "|" .. what`);
    const [checked, worst, what] = r.split('|');
    assert.ok(Number(checked) > 1000, `only ${checked} cases`);
    assert.ok(Number(worst) <= 64, `instructions per unit of the bound: ${worst} for ${what}`);
  } finally {
    engine.global.close();
  }
});

// ---- end to end ------------------------------------------------------------------------------
const HEADER = `${LUA_EQ}`;
const mod = (body: string) => luaMain(HEADER, body);
const entries: Array<Record<string, unknown>> = [
  { id: 'p:guarded', kind: 'process.host', host: { workers: 1, max_reductions: 5_000_000, max_memory_mb: 256 } },
  { id: 'p:find', source: mod(`return string.find(string.rep("a", 1e6), ".-.-.-.-.-b")`) },
  { id: 'p:method', source: mod(`local s = string.rep("a", 1e6); return s:match("(.-)%1%1b")`) },
  { id: 'p:gsub', source: mod(`return (string.rep("(", 1e5):gsub("%b()", "x"))`) },
  { id: 'p:ticker', source: mod(`
    local inbox = process.inbox()
    while true do
      local m = inbox:receive()
      process.send(m:from(), "alive", m:payload():data())
    end`) },
  { id: 'p:normal', source: mod(`
    -- ordinary matching still works, in both paths, as methods and as functions
    eq(("  hi  "):match("^%s*(.-)%s*$"), "hi")
    eq(select(2, string.gsub("a,b,,c", "[^,]+", "%0")), 3)
    local t = {}
    for k, v in ("a=1, b=2"):gmatch("(%w+)=(%w+)") do t[#t + 1] = k .. v end
    eq(table.concat(t, " "), "a1 b2")
    eq(string.find(string.rep("ab", 5000) .. "c", "(a)(b)%1%2c"), 9997)
    eq(select(2, pcall(string.find, "x", "%")), "malformed pattern (ends with '%')")
    return true`) },
  { id: 'p:survivor', source: mod(`
    -- a neighbour on the same worker keeps answering while pathological matches are stopped
    local ev = process.events()
    local friend = process.spawn("p:ticker", "p:guarded")
    for i, id in ipairs({ "p:find", "p:method", "p:gsub" }) do
      local pid = process.spawn_monitored(id, "p:guarded")
      local e = ev:receive()
      eq(e.from, pid, id)
      assert(tostring(e.result.error):find("reduction budget exceeded", 1, true), id .. ": " .. tostring(e.result.error))
      process.send(friend, "ping", i)
      local r = process.inbox():receive()
      eq(r:topic(), "alive", id)
      eq(r:payload():data(), i, id)
    end
    return true`) },
];
for (const e of entries) if (!e.kind) Object.assign(e, { kind: 'process.lua', method: 'main' });

let rt: Runtime;
before(async () => { rt = await createRuntime({ entries }); });
after(async () => { await rt.stop(1000); });

test('a pathological match in a process ends with "reduction budget exceeded"; the worker keeps serving', async () => {
  assert.equal(await rt.exec('p:survivor', [], { host: 'p:guarded' }), true);
  assert.equal(await rt.exec('p:normal', [], { host: 'p:guarded' }), true);
});
