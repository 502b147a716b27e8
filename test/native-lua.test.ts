// Our Lua WebAssembly module (vendor/lua-wasm/lua54.wasm, issue 14) under wasmoon's JavaScript
// side: it loads, runs Lua's coroutine behaviours exactly like wasmoon's module, and a yield from a
// C function that Lua code called directly (or under pcall/xpcall, in a `for` iterator, or in a
// metamethod) returns to lua_resume without a JS exception, while yields in `__close` still unwind.
// The throw counts come from the glue's `_emscripten_throw_longjmp` import (test/helpers/lua-module.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, mkdtempSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { bareLua, type BareLua } from './helpers/lua-module.js';
import { luaFactory, luaModuleKind } from '../src/lua/module.js';
import { CHILD_NODE_FLAGS } from './helpers/node-child.js';

const CASES = readFileSync(path.resolve('test/lua/coroutines.lua'), 'utf8');

/** Run `src` on `lua`: its result and the JS exceptions the module threw meanwhile. */
function counted(lua: BareLua, src: string): { out: string; throws: number } {
  const before = lua.throws();
  const out = lua.run(src);
  return { out, throws: lua.throws() - before };
}

test('WIPPY_LUA: default, native, and a clear error for anything else', () => {
  assert.equal(luaModuleKind({}), 'native');
  assert.equal(luaModuleKind({ WIPPY_LUA: '' }), 'native');
  assert.equal(luaModuleKind({ WIPPY_LUA: 'native' }), 'native');
  assert.equal(luaModuleKind({ WIPPY_LUA: 'wasmoon' }), 'wasmoon');
  assert.throws(() => luaModuleKind({ WIPPY_LUA: 'luajit' }), /WIPPY_LUA="luajit": expected one of wasmoon, native/);
});

test('Lua coroutine behaviours: every case passes on both modules, with the same results', async () => {
  const results: Record<string, string> = {};
  for (const kind of ['wasmoon', 'native'] as const) {
    const lua = await bareLua(kind);
    try {
      results[kind] = lua.run(CASES, '@coroutines.lua');
    } finally { lua.close(); }
  }
  const failed = results.native.split('\n').filter((l) => !l.endsWith(': ok'));
  assert.deepEqual(failed, [], 'cases failing on our module');
  assert.equal(results.native, results.wasmoon);
  assert.ok(results.native.split('\n').length >= 20);
});

test('a yield from Lua code returns to lua_resume without a JS exception', async () => {
  const lua = await bareLua('native');
  try {
    const r = counted(lua, `
      local co = coroutine.wrap(function() local s = 0; while true do s = s + coroutine.yield(s) end end)
      co(0)
      local last; for i = 1, 1000 do last = co(1) end
      local park = function(x) return coroutine.yield(x) end      -- tail call
      local co2 = coroutine.wrap(function() while true do park(1) end end)
      for i = 1, 1000 do co2() end
      return last`);
    assert.deepEqual(r, { out: '1000', throws: 0 }, 'direct yields threw');
  } finally { lua.close(); }
});

test('yields under pcall, xpcall, in for iterators and in metamethods do not unwind either; in __close, one JS exception each', async () => {
  const lua = await bareLua('native');
  try {
    const cases: Array<[string, string, number]> = [
      ['pcall', 'pcall(coroutine.yield)', 0],
      ['pcall of a Lua function', 'pcall(function() coroutine.yield() end)', 0],
      ['nested pcall and xpcall', 'xpcall(pcall, print, function() return coroutine.yield() end)', 0],
      ['metamethod', 'local _ = setmetatable({}, { __index = function() return coroutine.yield() end }).x', 0],
      ['iterator', 'for _ in function() coroutine.yield() end do end', 0],
      ['iterator yielding by tail call, under pcall', 'pcall(function() for _ in function() return coroutine.yield() end do end end)', 0],
      ['metamethod under pcall', 'pcall(function() return setmetatable({}, { __add = function() return coroutine.yield() end }) + 1 end)', 0],
      ['__newindex', 'setmetatable({}, { __newindex = function() coroutine.yield() end }).x = 1', 0],
      ['__eq in a condition', 'if setmetatable({}, MT) == setmetatable({}, MT) then end', 0],
      ['__lt, __le', 'local a = setmetatable({}, MT); local _ = a < a, a <= a, a < 1, 1 <= a', 0],
      ['__concat, twice in one expression', 'local a = setmetatable({}, MT); local _ = "x" .. a .. "y" .. a', 0],
      ['__len, __unm', 'local a = setmetatable({}, MT); local _ = #a, -a', 0],
      ['__call', 'setmetatable({}, MT)()', 0],
      ['__index calling __index', 'local _ = setmetatable({}, { __index = setmetatable({}, MT) }).k', 0],
      ['__index of a string-keyed chain of metamethods', 'local _ = setmetatable({}, { __index = function(t, k) return setmetatable({}, MT)[k] end }).k', 0],
      // still unwinding: __close and a C function calling Lua (table.sort's comparator cannot yield at all)
      ['__close', 'do local _ <close> = setmetatable({}, { __close = function() coroutine.yield() end }) end', 10],
    ];
    lua.run(`MT = {}
      for _, e in ipairs({ "__index", "__add", "__eq", "__lt", "__le", "__concat", "__len", "__unm", "__call" }) do
        MT[e] = function() return coroutine.yield() or "s" end
      end
      return "ok"`);
    for (const [what, body, throws] of cases) {
      const r = counted(lua, `local co = coroutine.create(function() for i = 1, 10 do ${body} end end)
        local n = 0
        while coroutine.status(co) ~= "dead" do assert(coroutine.resume(co)); n = n + 1 end
        return n`);
      assert.equal(r.throws, throws, what);
      assert.ok(Number(r.out) >= 11, `${what}: it yielded (${r.out} resumes)`);
    }
    // an error after a yield under pcall is caught by that pcall (recovered by lua_resume), and
    // the coroutine goes on yielding without unwinding: only the error throws
    assert.deepEqual(counted(lua, `
      local co = coroutine.wrap(function()
        local ok, e = pcall(function() coroutine.yield(1); error("after resume", 0) end)
        coroutine.yield(ok and "no error" or e)
        return "end"
      end)
      return table.concat({ co(), co(), co() }, ",")`), { out: '1,after resume,end', throws: 1 });
  } finally { lua.close(); }
});

// Patch 0007: the collector shrinks a parked coroutine's stack to what its frames use (no
// LUA_MINSTACK reserves, no free CallInfo). Bytes from collectgarbage("count"), exact on a bare state.
const PARKED_BYTES = `
  local N = 2000
  local function park(x) local a, b = x, x; return coroutine.yield(a + b) end
  local function per(k0) return math.floor((collectgarbage("count") - k0) * 1024 / N) end
  local function full() collectgarbage("collect"); collectgarbage("collect") end
  full()
  local k0 = collectgarbage("count")
  local cos = {}
  for i = 1, N do cos[i] = coroutine.create(function(x) return park(x) end) end
  full()
  local fresh = per(k0)
  for i = 1, N do assert(coroutine.resume(cos[i], i)) end
  full()
  local parked = per(k0)
  for i = 1, N do local ok, v = coroutine.resume(cos[i], i); assert(ok and v == i) end
  return fresh .. " " .. parked`;

test('a parked coroutine: its stack shrinks to what it uses on our module (~500 bytes less), not on wasmoon\'s', async () => {
  const bytes: Record<string, number[]> = {};
  for (const kind of ['wasmoon', 'native'] as const) {
    const lua = await bareLua(kind);
    try { bytes[kind] = lua.run(PARKED_BYTES).split(' ').map(Number); } finally { lua.close(); }
  }
  const [wFresh, wParked] = bytes.wasmoon!, [nFresh, nParked] = bytes.native!;
  assert.ok(wParked! > wFresh!, `wasmoon's: parked ${wParked} > fresh ${wFresh} (Lua keeps the 45-slot stack)`);
  assert.ok(nParked! < nFresh!, `ours: parked ${nParked} < fresh ${nFresh}`);
  assert.ok(nParked! <= wParked! - 400, `ours ${nParked} vs wasmoon's ${wParked}: at least 400 bytes less`);
});

test("wasmoon's own module unwinds every yield (the cost this module removes)", async () => {
  const lua = await bareLua('wasmoon');
  try {
    const r = counted(lua, 'local co = coroutine.wrap(function() while true do coroutine.yield() end end) for i = 1, 100 do co() end');
    assert.equal(r.throws, 100);
  } finally { lua.close(); }
});

test("wasmoon's JS side on our module: await of a JS promise from a coroutine, errors, globals", async () => {
  const engine = await luaFactory('native').createEngine();
  try {
    engine.global.set('later', (v: number) => new Promise((r) => setImmediate(() => r(v * 2))));
    engine.global.set('fails', () => Promise.reject(new Error('js rejected')));
    engine.global.set('sum', (a: number, b: number) => a + b);
    assert.equal(await engine.doString('local a = later(5):await(); local b = later(a):await(); return sum(a, b)'), 30);
    await assert.rejects(engine.doString('return fails():await()'), /js rejected/);
    await assert.rejects(engine.doString('error("lua side")'), /lua side/);
    assert.equal(await engine.doString('return string.format("%d-%s", 7, _VERSION)'), '7-Lua 5.4');
    assert.equal(engine.doStringSync('return 2^53 // 1'), 2 ** 53);
  } finally {
    // not engine.global.close(): see BareLua.close (test/helpers/lua-module.ts)
  }
});

test('errors in the module name the Lua position, and the state stays usable', async () => {
  const lua = await bareLua('native');
  try {
    assert.throws(() => lua.run('local t = nil; return t.x', '@bad.lua'), /bad\.lua:1: attempt to index a nil value/);
    assert.equal(lua.run('return tostring(1 + 1)'), '2');
    assert.throws(() => lua.run('return (', '@syntax.lua'), /syntax\.lua:1:/);
  } finally { lua.close(); }
});

test('a JS exception from a host function passes through Lua\'s pcall unchanged, as on wasmoon\'s module', async () => {
  for (const kind of ['wasmoon', 'native'] as const) {
    const lua = await bareLua(kind);
    try {
      lua.defineRaw('jsboom', () => { throw new TypeError('host bug'); });
      assert.throws(() => lua.run('return pcall(jsboom)'), (e: unknown) => e instanceof TypeError && /host bug/.test(e.message), kind);
    } finally { lua.close(); }
  }
});

// End to end: the kernel's receive path (process.send, channel receive -> sched.park ->
// coroutine.yield) in worker threads, counted by a preload in every thread of a child process.
function workerThrows(kind: string, rounds: number): { result: unknown; throwsInWorkers: number } {
  const dir = mkdtempSync(path.join(tmpdir(), 'native-lua-'));
  const log = path.join(dir, 'throws.log');
  try {
    const out = execFileSync(process.execPath, [...CHILD_NODE_FLAGS, '--import', path.resolve('test/fixtures/native/count-throws.mjs'),
      path.resolve('test/fixtures/native/pingpong.mjs'), String(rounds)],
    { env: { ...process.env, WIPPY_LUA: kind, THROWS_LOG: log }, encoding: 'utf8', timeout: 60_000 });
    const lines = existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter((l) => l !== '') : [];
    return { result: JSON.parse(out.trim().split('\n').pop()!).result, throwsInWorkers: lines.filter((t) => t !== '0').length };
  } finally { rmSync(dir, { recursive: true, force: true }); }
}

test('in the runtime, a same-worker ping-pong on our module throws no JS exception; on wasmoon\'s, one per yield', () => {
  const native = workerThrows('native', 500);
  assert.deepEqual(native, { result: 500, throwsInWorkers: 0 });
  const wasmoon = workerThrows('wasmoon', 500);
  assert.equal(wasmoon.result, 500);
  assert.ok(wasmoon.throwsInWorkers >= 1000, `wasmoon's module: ${wasmoon.throwsInWorkers} throws for 1000 receives`);
});
