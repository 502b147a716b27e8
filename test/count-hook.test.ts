// The count hook on our Lua module (patch 0006: luaV_execute counts instructions in a local and
// calls the hook when the count reaches zero, with no per-instruction trap) behaves exactly like
// stock Lua's on wasmoon's module: the same hook calls at the same instructions, with line, call
// and return hooks beside it, across yields, in metamethods, iterators, pcall and nested
// coroutines (test/lua/count-hook.lua records each call's line). And in the runtime, the reduction
// budget still kills every shape of runaway process with the same error, on whichever module
// WIPPY_LUA selects (the suite runs on both).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { bareLua } from './helpers/lua-module.js';
import { createRuntime, type Runtime } from '../src/index.js';

const CASES = readFileSync(path.resolve('test/lua/count-hook.lua'), 'utf8');

test('count hooks fire at the same instructions on both modules, in every case', async () => {
  const out: Record<string, string[]> = {};
  for (const kind of ['wasmoon', 'native'] as const) {
    const lua = await bareLua(kind);
    try {
      out[kind] = lua.run(CASES, '@count-hook.lua').split('\n');
    } finally { lua.close(); }
  }
  assert.equal(out.native.length, 14);
  for (let i = 0; i < out.wasmoon.length; i++) {
    assert.ok(!out.native[i]!.includes('ERROR'), out.native[i]);
    assert.equal(out.native[i], out.wasmoon[i]);
  }
  // The cases do reach the hook (a trace that stayed empty would compare equal too).
  const named = (prefix: string): string => out.native.find((l) => l.startsWith(prefix))!;
  assert.match(named('a loop without calls:'), /^a loop without calls: true 125150 626 \[/);
  assert.match(named('a loop in a coroutine'), / outer 43 \[.* inner 201 \[/);
  assert.match(named('across yields and resumes:'), /: true 3080 292 \[/);
  assert.match(named('deep recursion:'), /: true 360 372 \[/);
  assert.match(named('a counted loop inside a metamethod'), /: true 2049 c55 248 \[/);
  assert.equal(named('a hook that raises'),
    'a hook that raises ends the thread at the same count: false budget exceeded after 26 calls dead | true false stop 3');
  assert.match(named('set, changed and removed'), /: true 180600 a=13038 b=205 7 nil$/);
});

test('a count hook costs no JS exception and no protected call through JS on our module', async () => {
  const lua = await bareLua('native');
  try {
    const throws = lua.throws(), invokes = lua.invokes();
    assert.equal(lua.run(`
      local n = 0
      local co = coroutine.create(function() local x = 0; for i = 1, 100000 do x = x + i end; return x end)
      debug.sethook(co, function() n = n + 1 end, "", 1000)
      local ok, x = coroutine.resume(co)
      return tostring(ok) .. " " .. x .. " " .. n`), 'true 5000050000 200');
    assert.equal(lua.throws() - throws, 0);
    assert.equal(lua.invokes() - invokes, 0);
  } finally { lua.close(); }
});

test('wippy.native.counthook: the same calls as debug.sethook, per thread, errors raised in the thread', async () => {
  const lua = await bareLua('native');
  try {
    assert.equal(lua.run(`
      local native = package.loaded["wippy.native"]
      local n = 0
      local set = native.counthook(function() n = n + 1 end, 7)
      local function body() local x = 0; for i = 1, 500 do x = x + i end; local t = {}; for k in pairs({ 1, 2, 3 }) do t[k] = k end; return x end
      -- the same count as debug.sethook's, on the same body
      local co1 = coroutine.create(body)
      assert(set(co1) == co1)
      assert(coroutine.resume(co1))
      local a = n
      local m = 0
      local co2 = coroutine.create(body)
      debug.sethook(co2, function() m = m + 1 end, "", 7)
      assert(coroutine.resume(co2))
      -- per thread: an unhooked thread is not counted, a hooked one inside it is
      n = 0
      local inner = coroutine.create(body)
      set(inner)
      local outer = coroutine.create(function() coroutine.resume(inner); return body() end)
      assert(coroutine.resume(outer))
      local b = n
      -- an error from the hook ends the thread with that error; the state goes on
      local set2 = native.counthook(function() error("over budget", 0) end, 100)
      local co3 = set2(coroutine.create(function() while true do end end))
      local ok, e = coroutine.resume(co3)
      -- a second counthook replaced the function for threads hooked before it
      local co4 = set(coroutine.create(function() while true do end end))
      local ok4, e4 = coroutine.resume(co4)
      local bad = { pcall(native.counthook, function() end, 0) }
      local bad2 = { pcall(set, {}) }
      return table.concat({ a, m, b, tostring(ok), e, coroutine.status(co3), tostring(ok4), e4,
        tostring(bad[1]), tostring(bad2[1]), debug.gethook(co1) }, " ")`),
    // 339 hook calls in each of the three counts; gethook: "external hook", mask "", count 7
    '339 339 339 false over budget dead false over budget false false external hook  7');
  } finally { lua.close(); }
});

// ---- the reduction budget in the runtime ---------------------------------------------------------
const mod = (body: string) => `local function main(...)\n${body}\nend\nreturn { main = main }\n`;
const runaway: Record<string, string> = {
  // no call in the loop: only the count reaches it
  plain: `local x = 0; while true do x = x + 1 end`,
  coroutine: `local co = coroutine.create(function() local x = 0; while true do x = x + 1 end end)
    coroutine.resume(co)`,
  wrapped: `coroutine.wrap(function() while true do end end)()`,
  metamethod: `local t = setmetatable({}, { __index = function() local x = 0; while true do x = x + 1 end end })
    return t.key`,
  iterator: `for i in function() while true do end end do end`,
  pcall: `while true do pcall(function() local x = 0; for i = 1, 1e9 do x = x + i end end) end`,
  recursion: `local function f(n) if n > 150 then local x = 0; while true do x = x + 1 end end; return 1 + f(n + 1) end
    return f(0)`,
  // a user coroutine's yields go to the process, not the scheduler: the budget counts on
  resumed: `local co = coroutine.wrap(function() local x = 0; while true do x = x + 1; if x % 1000 == 0 then coroutine.yield() end end end)
    while true do co() end`,
};
const entries: Array<Record<string, unknown>> = [
  { id: 'h:guarded', kind: 'process.host', host: { workers: 1, max_reductions: 2_000_000, max_memory_mb: 64 } },
  ...Object.entries(runaway).map(([name, body]) => ({ id: `h:${name}`, kind: 'process.lua', method: 'main', source: mod(body) })),
  // not runaway: 10 resumes of 1.5M instructions each, yielding to the scheduler in between
  { id: 'h:sleeper', kind: 'process.lua', method: 'main', modules: ['time'], source: mod(`
    local time = require("time")
    local x = 0
    for round = 1, 10 do
      for i = 1, 750000 do x = x + 1 end
      time.sleep("1ms")
    end
    return x`) },
];

let rt: Runtime;
before(async () => { rt = await createRuntime({ entries }); });
after(async () => { await rt.stop(1000); });

test('the reduction budget kills a runaway loop in every shape with the same error', async () => {
  for (const name of Object.keys(runaway)) {
    await assert.rejects(rt.exec(`h:${name}`, [], { host: 'h:guarded' }),
      (e: Error) => /reduction budget exceeded: ran more than 2000000 instructions without yielding/.test(e.message),
      name);
  }
});

test('a process that yields between long stretches is not killed', async () => {
  assert.equal(await rt.exec('h:sleeper', [], { host: 'h:guarded' }), 7_500_000);
});
