// Coroutines reused across processes: `wippy.native`.rebind (native/lua/lproc.c) and the kernel's
// pool (src/lua/kernel/copool.lua).
//   - rebind(co, f) on a coroutine dead after a normal return makes it what coroutine.create(f)
//     makes: the same statuses, results, errors and tracebacks, run side by side against a new
//     coroutine on the same cases (yields, pcall, to-be-closed variables, deep recursion before
//     and after); anything else is refused and left as it was;
//   - copool.lua on both modules: on ours a given coroutine comes back (hooked and unhooked ones
//     apart, at most MAX, dropped by a collection); on wasmoon's every take is a new coroutine;
//   - through the runtime: processes that return, fail and run away on a budget host, one after
//     another on one worker, give the same results as without reuse.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { LuaEngine } from 'wasmoon';
import { luaFactory } from '../src/lua/module.js';
import { createRuntime, type Runtime } from '../src/index.js';
import { mulberry32 } from './helpers/prng.js';

const COPOOL_SRC = readFileSync(path.resolve('src/lua/kernel/copool.lua'), 'utf8');

const PRELUDE = String.raw`
local native = package.loaded["wippy.native"]
REBIND = native and native.rebind or nil
COPOOL = assert(load(COPOOL_SRC, "@kernel/copool.lua", "t"))()
-- A coroutine's run as text: each resume's results and the status after it; errors with their
-- traceback (addresses removed).
function TRANSCRIPT(co, steps)
  local out = { coroutine.status(co) }
  for i = 1, steps do
    local r = table.pack(coroutine.resume(co, i, "arg" .. i))
    local parts = {}
    for j = 1, r.n do parts[j] = tostring(r[j]):gsub("0x%x+", "@") end
    out[#out + 1] = table.concat(parts, ",") .. " " .. coroutine.status(co)
    if not r[1] then out[#out + 1] = (debug.traceback(co):gsub("0x%x+", "@")) end
  end
  return table.concat(out, "\n")
end
function DEAD()
  local co = coroutine.create(function(n)
    local function deep(k) if k == 0 then return 0 end return 1 + deep(k - 1) end
    return deep(n or 2000)
  end)
  assert(coroutine.resume(co, 2000))
  assert(coroutine.status(co) == "dead")
  return co
end
`;

const engines = new Map<string, LuaEngine>();
const lua = (mod: string, code: string): unknown => engines.get(mod)!.doStringSync(code);

before(async () => {
  for (const mod of ['native', 'wasmoon'] as const) {
    const e = await luaFactory(mod).createEngine({ injectObjects: false, enableProxy: false });
    e.global.set('COPOOL_SRC', COPOOL_SRC);
    e.doStringSync(PRELUDE);
    engines.set(mod, e);
  }
});
after(() => { engines.clear(); });

// Bodies run by a new coroutine and by a reused one, each as `function(a, b) ... end` source.
const BODIES = [
  `function(a, b) return a, b, "done" end`,
  `function(a, b) local x = coroutine.yield(a + 1); local y = coroutine.yield(x, b); return x, y end`,
  `function(a) local ok, v = pcall(function() return coroutine.yield("in pcall") end); return ok, v end`,
  `function(a) error("boom " .. a) end`,
  `function(a) error({ code = a }) end`,
  `function(a) local t <close> = setmetatable({}, { __close = function() coroutine.yield("closing") end })
     coroutine.yield("open"); return "closed" end`,
  `function(a) local function d(k) if k == 0 then return coroutine.yield("deep") end return d(k - 1) end
     return d(3000) end`,
  `coroutine.yield`,
];

test('rebind: a coroutine dead after a normal return runs a new function as coroutine.create would', () => {
  for (const body of BODIES) {
    const r = lua('native', String.raw`
      local f = ${body}
      local fresh = TRANSCRIPT(coroutine.create(f), 4)
      local co = DEAD()
      assert(REBIND(co, f) == true)
      local reused = TRANSCRIPT(co, 4)
      return { fresh, reused }
    `) as string[];
    assert.equal(r[1], r[0], body);
  }
});

test('rebind refuses every coroutine that is not dead after a normal return, and leaves it as it was', () => {
  const r = lua('native', String.raw`
    local out = {}
    local f = function() return "new" end
    -- died by an error: stays dead
    local e = coroutine.create(function() error("first", 0) end)
    coroutine.resume(e)
    out[#out + 1] = tostring(REBIND(e, f)) .. " " .. coroutine.status(e) .. " " .. tostring(select(2, coroutine.resume(e)))
    -- suspended in a yield, and not started yet
    local s = coroutine.create(function() coroutine.yield(1); return "old" end)
    coroutine.resume(s)
    out[#out + 1] = tostring(REBIND(s, f)) .. " " .. coroutine.status(s) .. " " .. tostring(select(2, coroutine.resume(s)))
    local n = coroutine.create(function() return "not started" end)
    out[#out + 1] = tostring(REBIND(n, f)) .. " " .. tostring(select(2, coroutine.resume(n)))
    -- the running coroutine itself, and its resumer (normal)
    local outer
    outer = coroutine.create(function()
      local inner = coroutine.create(function() return REBIND(outer, f) end)
      return REBIND(coroutine.running(), f), select(2, coroutine.resume(inner))
    end)
    local _, a, b = coroutine.resume(outer)
    out[#out + 1] = tostring(a) .. " " .. tostring(b)
    -- the main thread
    out[#out + 1] = tostring(REBIND(coroutine.running(), f))
    -- twice: the second finds a function on the stack (not started), refused
    local d = DEAD()
    out[#out + 1] = tostring(REBIND(d, f)) .. " " .. tostring(REBIND(d, print)) .. " " .. tostring(select(2, coroutine.resume(d)))
    -- bad arguments (the function's name in the message depends on where Lua finds it first)
    out[#out + 1] = (tostring(select(2, pcall(REBIND, {}, f))):gsub("'[^']*'", "'rebind'"))
    out[#out + 1] = (tostring(select(2, pcall(REBIND, DEAD(), 42))):gsub("'[^']*'", "'rebind'"))
    return table.concat(out, "\n")
  `);
  assert.equal(r, [
    'false dead cannot resume dead coroutine',
    'false suspended old',
    'false not started',
    'false false',
    'false',
    'true false new',
    "bad argument #1 to 'rebind' (coroutine expected, got table)",
    "bad argument #2 to 'rebind' (function expected, got number)",
  ].join('\n'));
});

test('copool on our module: a given coroutine is taken again, hooked and unhooked apart, at most MAX, dropped by a collection', () => {
  const r = lua('native', String.raw`
    local pool = COPOOL({ rebind = REBIND, mem_cap_kb = nil })
    local plainP, hookedP = { budget = false }, { budget = 1000 }
    local out = {}
    local f = function(x) return x * 2 end
    local a = DEAD()
    pool.give(a, plainP)
    out[#out + 1] = tostring(pool.take(f, hookedP) ~= a) -- the hooked stack is empty: a new one
    local t = pool.take(f, plainP)
    out[#out + 1] = tostring(t == a) .. " " .. tostring(select(2, coroutine.resume(t, 21)))
    out[#out + 1] = tostring(pool.take(f, plainP) ~= a) -- taken already: a new one
    local h = DEAD()
    pool.give(h, hookedP)
    out[#out + 1] = tostring(pool.take(f, plainP) ~= h) .. " " .. tostring(pool.take(f, hookedP) == h)
    -- a coroutine that is not dead is never handed out: take makes a new one, it stays as it was
    local s = coroutine.create(function() coroutine.yield(); return "s" end)
    coroutine.resume(s)
    pool.give(s, plainP)
    local n = pool.take(f, plainP)
    out[#out + 1] = tostring(n ~= s) .. " " .. coroutine.status(s) .. " " .. tostring(select(2, coroutine.resume(s)))
    -- bounded, and weak
    collectgarbage("stop")
    for i = 1, 1100 do pool.give(DEAD(), plainP) end
    out[#out + 1] = tostring(pool.count())
    collectgarbage("restart")
    collectgarbage("collect")
    out[#out + 1] = tostring(pool.count())
    return table.concat(out, "\n")
  `);
  assert.equal(r, ['true', 'true 42', 'true', 'true true', 'true suspended s', '1024', '0'].join('\n'));
});

test('copool on wasmoon\'s module (no rebind): every take is a new coroutine', () => {
  const r = lua('wasmoon', String.raw`
    assert(REBIND == nil)
    local pool = COPOOL({ rebind = REBIND })
    local P = { budget = false }
    local a = DEAD()
    pool.give(a, P)
    local t = pool.take(function(x) return x + 1 end, P)
    return tostring(t ~= a) .. " " .. coroutine.status(t) .. " " .. tostring(select(2, coroutine.resume(t, 1)))
  `);
  assert.equal(r, 'true suspended 2');
});

// Through the runtime: a driver runs children one after another on one worker (each spawned after
// the previous one's EXIT, so each can take its predecessor's coroutine): results, errors with
// their tracebacks, a runaway on a budget host, in a seeded order.
const DRIVER = `
local function main(kinds)
  local ev = process.events()
  local out = {}
  for i, k in ipairs(kinds) do
    assert(process.spawn_monitored("np:child", "np:guarded", k, i))
    local e = ev:receive()
    local r = e.result
    if r.error then
      local msg = tostring(r.error):gsub("0x%x+", "@")
      out[#out + 1] = k .. ":error:" .. msg
    else
      out[#out + 1] = k .. ":" .. tostring(r.value)
    end
  end
  return table.concat(out, "\\n")
end
return { main = main }`;
const CHILD = `
local function main(kind, i)
  if kind == "ret" then return i * 10 end
  if kind == "deep" then local function d(k) if k == 0 then return i end return 1 + d(k - 1) end return d(2000) end
  if kind == "yield" then coroutine.yield(); return "yielded " .. i end
  if kind == "fail" then error("failed " .. i) end
  if kind == "runaway" then local x = 0; while true do x = x + 1 end end
  if kind == "closing" then local t <close> = setmetatable({}, { __close = function() end }); return "closed " .. i end
end
return { main = main }`;

let rt: Runtime;
before(async () => {
  rt = await createRuntime({
    workers: 1,
    entries: [
      { id: 'np:guarded', kind: 'process.host', host: { workers: 1, max_reductions: 2_000_000 } },
      { id: 'np:driver', kind: 'process.lua', method: 'main', source: DRIVER },
      { id: 'np:child', kind: 'process.lua', method: 'main', source: CHILD },
    ],
  });
});
after(async () => { await rt.stop(1000); });

test('processes that return, fail and run away one after another on a budget host: the same results with reused coroutines', async () => {
  const rand = mulberry32(1414);
  const kinds = ['ret', 'deep', 'yield', 'fail', 'runaway', 'closing'];
  const seq: string[] = [];
  for (let i = 0; i < 60; i++) seq.push(kinds[Math.floor(rand() * kinds.length)]!);
  const out = (await rt.exec('np:driver', [seq], { host: 'np:guarded' })) as string;
  const want = seq.map((k, j) => {
    const i = j + 1;
    switch (k) {
      case 'ret': return `ret:${i * 10}`;
      case 'deep': return `deep:${2000 + i}`;
      case 'yield': return `yield:yielded ${i}`;
      case 'fail': return `fail:error:np:child:6: failed ${i}`;
      case 'runaway': return 'runaway:error:reduction budget exceeded: ran more than 2000000 instructions without yielding';
      default: return `closing:closed ${i}`;
    }
  });
  assert.deepEqual(out.split('\n'), want);
});
