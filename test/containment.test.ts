// A process must not take the runtime down: runaway loops, memory bombs, sandbox escapes, bad
// arguments (issue: containment).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRuntime, type Runtime, WippyError } from '../src/index.js';
import { LUA_EQ, luaMain } from './helpers/lua-asserts.js';

const HEADER = `local time = require("time")
${LUA_EQ}`;
const mod = (body: string) => luaMain(HEADER, body);
const entries: Array<Record<string, unknown>> = [
  // a small budget and memory cap so the tests are quick
  { id: 't:guarded', kind: 'process.host', host: { workers: 1, max_reductions: 5_000_000, max_memory_mb: 64 } },
  { id: 't:loop', source: mod(`while true do end`) },
  { id: 't:pcall_loop', source: mod(`while true do pcall(function() for i = 1, 1e9 do end end) end`) },
  { id: 't:bomb', source: mod(`local t = {}; while true do t[#t + 1] = string.rep("x", 1024 * 1024) .. #t end`) },
  // Regression: a receiver draining a long queue never yields by itself (the fast path) and was
  // killed by the budget; fast paths now yield to the back of the run queue instead.
  { id: 't:busy_receiver', source: mod(`
    local n = 60000
    local ch = process.listen("q")
    for i = 1, n do process.send(process.pid(), "q", i) end
    local sum = 0
    for i = 1, n do sum = sum + ch:receive() end
    return sum == n * (n + 1) // 2`) },
  { id: 't:ticker', source: mod(`
    local inbox = process.inbox()
    while true do
      local m = inbox:receive()
      process.send(m:from(), "alive", true)
    end`) },
  { id: 't:survivor', source: mod(`
    -- a neighbour on the same worker keeps running while another process loops forever
    local ev = process.events()
    local friend = process.spawn("t:ticker", "t:guarded")
    local looper = process.spawn_monitored("t:loop", "t:guarded")
    local e = ev:receive()
    eq(e.from, looper)
    assert(tostring(e.result.error):find("reduction budget exceeded", 1, true), tostring(e.result.error))
    process.send(friend, "ping")
    local r = process.inbox():receive()
    eq(r:topic(), "alive")
    local p2 = process.spawn_monitored("t:pcall_loop", "t:guarded")
    e = ev:receive()
    eq(e.from, p2, "pcall cannot swallow the budget")
    local b = process.spawn_monitored("t:bomb", "t:guarded")
    e = ev:receive()
    eq(e.from, b)
    assert(tostring(e.result.error):find("memory limit exceeded", 1, true), tostring(e.result.error))
    process.send(friend, "ping")
    eq(process.inbox():receive():topic(), "alive", "still alive after the memory bomb")
    return true`) },
  { id: 't:escapes', source: mod(`
    local function denied(what, f)
      local ok, v = pcall(f)
      if ok and v ~= nil and v ~= false then error("escape worked: " .. what .. " -> " .. tostring(v), 2) end
    end
    denied("load", function() return load end)
    denied("_G.load", function() return _G.load or _ENV.load or rawget(_G, "load") end)
    denied("loadstring/dofile/loadfile", function() return loadstring or dofile or loadfile end)
    denied("debug", function() return debug end)
    denied("package", function() return package end)
    denied("io", function() return io end)
    denied("os.execute", function() return os.execute or os.exit or os.getenv or os.remove end)
    denied("collectgarbage", function() return collectgarbage end)
    denied("string.dump", function() return string.dump end)
    denied("string metatable", function() return getmetatable("").__index end)
    denied("env metatable", function() return getmetatable(_G) end)
    denied("replace env metatable", function() setmetatable(_G, {}); return true end)
    denied("string lib write", function() string.upper = function() return "pwned" end; return string.upper("a") == "pwned" end)
    denied("string lib rawset", function() rawset(string, "upper", function() return "pwned" end); return true end)
    denied("proxy metatable", function() return getmetatable(string) end)
    denied("process table write", function() process.send = nil; return true end)
    denied("errors table write", function() errors.new = nil; return true end)
    denied("channel metatable", function() return type(getmetatable(channel.new())) == "table" end)
    denied("time metatable", function() return type(getmetatable(time.now())) == "table" end)
    denied("coroutine table write", function() coroutine.spawn = nil; return true end)
    denied("require io", function() return require("io") end)
    denied("require debug", function() return require("debug") end)
    denied("require file", function() return require("./t") end)
    -- after all that, the shared libraries still work for everyone
    eq(("abc"):upper(), "ABC")
    return true`) },
  { id: 't:victim', source: mod(`
    eq(string.upper("a"), "A", "string lib intact")
    eq(type(process.send), "function", "process intact")
    return true`) },
  { id: 't:bad_args', source: mod(`
    local function invalid(what, ok, err, kind)
      if ok ~= nil and ok ~= false then error(what .. ": expected failure") end
      if not err or err:kind() ~= (kind or "Invalid") then error(what .. ": expected kind " .. (kind or "Invalid") .. ", got " .. tostring(err and err:kind()) .. " " .. tostring(err)) end
    end
    invalid("send number topic", process.send(process.pid(), 5))
    invalid("send table dest", process.send({}, "t"))
    invalid("spawn number id", process.spawn(1, "t:guarded"))
    invalid("spawn table host", process.spawn("t:loop", {}))
    invalid("listen number", process.listen(1))
    invalid("sleep table", time.sleep({}))
    invalid("sleep bad string", time.sleep("forever"))
    invalid("after zero", time.after(0))
    invalid("registry nil", process.registry.register(nil))
    invalid("lookup number", process.registry.lookup(5))
    local sok, serr = process.send("{nohost|0x00001}", "t")
    invalid("unknown host pid", sok, serr, "NotFound")
    if not tostring(serr):find("host not found", 1, true) then error("unknown host: " .. tostring(serr)) end
    invalid("terminate nil", process.terminate())
    local ok = pcall(channel.new(1).send)
    eq(ok, false, "method without self raises")
    return true`) },
];
for (const e of entries) if (!e.kind) Object.assign(e, { kind: 'process.lua', method: 'main', modules: ['time'] });

let rt: Runtime;
before(async () => { rt = await createRuntime({ entries }); });
after(async () => { await rt.stop(1000); });

test('runaway loops and memory bombs die; neighbours on the same worker keep running', async () => {
  assert.equal(await rt.exec('t:survivor', [], { host: 't:guarded' }), true);
});

test('a busy but well-behaved process is not killed by the reduction budget', async () => {
  assert.equal(await rt.exec('t:busy_receiver', [], { host: 't:guarded' }), true);
});

test('sandbox escape attempts fail and leave the shared libraries intact', async () => {
  assert.equal(await rt.exec('t:escapes', [], { host: 't:guarded' }), true);
  assert.equal(await rt.exec('t:victim', [], { host: 't:guarded' }), true);
});

test('bad arguments return Invalid / NotFound errors and never crash the worker', async () => {
  assert.equal(await rt.exec('t:bad_args', [], { host: 't:guarded' }), true);
  // the worker is still serving
  assert.equal(await rt.exec('t:victim', [], { host: 't:guarded' }), true);
});

test('the embedding API rejects bad input with clear errors', async () => {
  await assert.rejects(rt.exec('t:nope'), (e: WippyError) => /factory not found/.test(e.message));
  await assert.rejects(rt.exec('t:loop', [], { host: 't:nohost' }), (e: WippyError) => /host not found/.test(e.message));
});
