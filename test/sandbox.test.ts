// The sandbox a process sees (issue 9): no finaliser runs unbudgeted (__gc refused), and no other
// user code the kernel runs outside a process step escapes the budget or runs as someone else
// (__close of a killed process, an error value's __tostring, a module's top-level code started by a
// frame); string.dump is unreachable (also through the string metatable); big string/table
// operations are checked against max_memory_mb before they allocate, and long C loops are charged
// to the budget; Lua's own "not enough memory" ends a process with the documented "memory limit
// exceeded"; each process has its own math.random; process.* functions answer bad arguments with a
// clear error; the Lua 5.1-era names the docs list (unpack, math.pow, ...) exist. Every test also shows the worker keeps serving: a victim process on the same
// one-worker host runs afterwards. The Lua modules alone: test/sandbox-lua.test.ts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRuntime, type Runtime, WippyError } from '../src/index.js';
import { LUA_EQ, LUA_HAS, luaMain } from './helpers/lua-asserts.js';

const HEADER = `${LUA_EQ}${LUA_HAS}`;
const mod = (body: string) => luaMain(HEADER, body);

// Bombs run on s:small (64 MiB cap, 5M-instruction budget), each as its own entry and process.
const BOMBS: Record<string, string> = {
  rep_sep: `return string.rep("x", 1 << 24, ("y"):rep(10))`,
  rep_method: `return ("x"):rep(1 << 30)`,
  rep_pcall: `pcall(string.rep, "x", 1 << 30); return "caught"`, // pcall cannot keep it alive
  format: `local big = ("x"):rep(4 << 20); return string.format(("%s"):rep(20), big, big, big, big, big, big, big, big, big, big, big, big, big, big, big, big, big, big, big, big)`,
  concat: `local big = ("x"):rep(4 << 20); local t = {}; for i = 1, 20 do t[i] = big end; return table.concat(t)`,
  gsub_string: `return (string.gsub(("x"):rep(16 << 20), "", "yy"))`,
  gsub_table: `local big = ("x"):rep(4 << 20); return (("ab"):rep(1000):gsub(".", { a = big }))`,
  pack: `return string.pack("c2000000000", "")`,
};
const BUDGET: Record<string, string> = {
  move: `return table.move({}, 1, 1 << 40, 2)`,
  insert: `table.insert(setmetatable({}, { __len = function() return 1 << 50 end }), 1, "x")`,
  date: `return os.date(("%c"):rep(1e6))`, // 31 s of strftime calls without the charge
};

const entries: Array<Record<string, unknown>> = [
  { id: 's:one', kind: 'process.host', host: { workers: 1 } }, // the defaults: 1024 MiB, 100M
  { id: 's:small', kind: 'process.host', host: { workers: 1, max_reductions: 5_000_000, max_memory_mb: 64 } },
  { id: 's:nocap', kind: 'process.host', host: { workers: 1, max_memory_mb: 0 } },
  { id: 's:compat', source: mod(`
    local a, b, c = unpack({ 1, 2, 3 })
    eq(a + b + c, 6, "unpack")
    eq(select("#", unpack({ 1, 2, 3 }, 2)), 2, "unpack from 2")
    eq(unpack, table.unpack, "the same function")
    eq(math.pow(2, 10), 1024.0, "pow")
    eq(math.log10(1000), 3.0, "log10")
    eq(math.atan2(1, 1), math.pi / 4, "atan2")
    eq(math.atan2(-1, -1), math.atan(-1, -1), "atan2 quadrant")
    eq(math.cosh(0), 1.0, "cosh(0)")
    eq(math.sinh(0), 0.0, "sinh(0)")
    eq(math.tanh(0), 0.0, "tanh(0)")
    eq(math.sinh(1e-9), 1e-9, "sinh keeps tiny arguments")
    eq(math.tanh(1000), 1.0, "tanh saturates")
    eq(math.tanh(-1000), -1.0, "tanh saturates below")
    assert(math.abs(math.sinh(1) - 1.1752011936438014) < 1e-15, "sinh(1)")
    assert(math.abs(math.cosh(1) - 1.5430806348152437) < 1e-15, "cosh(1)")
    assert(math.abs(math.tanh(0.5) - 0.46211715726000974) < 1e-15, "tanh(0.5)")
    local ok = pcall(function() math.pow = nil end)
    eq(ok, false, "math stays read-only")
    return "ok"`) },
  { id: 's:victim', source: mod(`eq(string.upper("a"), "A"); eq(("ab"):rep(2), "abab"); return "alive"`) },
  { id: 's:rep_default', source: mod(`return string.rep("x", 1 << 30)`) },
  { id: 's:gc', source: mod(`
    -- __gc in the metatable given to setmetatable: refused, with kind Invalid
    local ok, e = pcall(setmetatable, {}, { __gc = function() while true do end end })
    eq(ok, false, "__gc refused")
    eq(e:kind(), "Invalid"); has(e, "__gc")
    -- a __gc added to the metatable afterwards never runs (Lua 5.4 marks objects at setmetatable)
    local ran = { n = 0 }
    local mt = {}
    for i = 1, 100 do setmetatable({}, mt) end
    mt.__gc = function() ran.n = ran.n + 1; while true do end end
    rawset(mt, "__gc", mt.__gc)
    local mib = ("x"):rep(1 << 20)
    for i = 1, 300 do local s = mib .. i end -- 300 MiB of garbage: several GC cycles
    eq(ran.n, 0, "finalisers run")
    -- setmetatable still works for everything else, and returns its table
    local t = {}
    eq(setmetatable(t, { __index = { a = 1 } }), t); eq(t.a, 1)
    return "ok"`) },
  // to-be-closed variables of a killed process run as that process, under its budget
  { id: 's:closer', source: mod(`
    local watcher = ...
    local x <close> = setmetatable({}, { __close = function()
      process.send(watcher, "closing", process.pid())
      while true do end
    end })
    process.send(watcher, "ready")
    process.inbox():receive()`) },
  { id: 's:close_killer', source: mod(`
    local inbox = process.inbox()
    local pid = process.spawn("s:closer", "s:small", process.pid())
    eq(inbox:receive():topic(), "ready")
    eq(process.terminate(pid), true)
    local m = inbox:receive()
    eq(m:topic(), "closing"); eq(m:from(), pid, "sent as the dying process"); eq(m:payload():data(), pid)
    return "ok"`) },
  { id: 's:err_loop', source: mod(`error(setmetatable({}, { __tostring = function() while true do end end }))`) },
  { id: 's:err_text', source: mod(`error(setmetatable({}, { __tostring = function() return "custom from " .. process.pid() end }))`) },
  // top-level code of a module, started from the main thread / another host (the kernel's own thread)
  { id: 's:top_loop', source: `while true do end` },
  { id: 's:top_yield', source: `coroutine.yield(); return { main = function() return 1 end }` },
  { id: 's:spawn_top_loop', source: mod(`
    local pid, err = process.spawn("s:top_loop", "s:small")
    eq(pid, nil); has(err, "reduction budget exceeded")
    return "ok"`) },
  { id: 's:dump', source: mod(`
    eq(string.dump, nil, "string.dump")
    eq(("").dump, nil, "(''):dump")
    eq(("x").dump, nil)
    local ok = pcall(function() return ("").dump(print) end)
    eq(ok, false, "dump through the metatable")
    eq(getmetatable(""), false, "string metatable hidden")
    eq(("ab"):rep(3, "-"), "ab-ab-ab"); eq(("%d"):format(7), "7"); eq(("hello"):find("l"), 3)
    eq(("abc"):upper(), "ABC"); eq(string.len(errors.new("four")), 4)
    eq(#os.date("!%Y-%m-%d %H:%M:%S", 0), 19); eq(os.date("!%Y", 0), "1970")
    eq(#os.date("!" .. ("%Y "):rep(40), 0), 200, "a longer format is charged, not refused")
    return "ok"`) },
  { id: 's:oom_text', source: mod(`
    -- the exact value Lua raises on an allocation failure
    local ok = pcall(error, "not enough memory", 0)
    return "survived: " .. tostring(ok)`) },
  { id: 's:oom_coroutine', source: mod(`
    local co = coroutine.create(function() error("not enough memory", 0) end)
    local ok = coroutine.resume(co)
    return "survived: " .. tostring(ok)`) },
  { id: 's:oom_real', source: mod(`
    local s = ("x"):rep(1 << 28)
    while true do s = s .. s end -- 512 MiB, 1 GiB, then 2 GiB: past wasm's ceiling`) },
  { id: 's:rand_a', source: mod(`
    local b = ...
    math.randomseed(42)
    local a1 = math.random(1 << 40)
    -- a neighbour on the same worker seeds the same way and draws a lot in between
    process.send(b, "go", process.pid())
    eq(process.inbox():receive():topic(), "done")
    local a2 = math.random(1 << 40)
    math.randomseed(42)
    eq(math.random(1 << 40), a1, "first draw")
    eq(math.random(1 << 40), a2, "second draw: the neighbour's seeding did not touch this stream")
    return "ok"`) },
  { id: 's:rand_b', source: mod(`
    local m = process.inbox():receive()
    math.randomseed(42)
    for i = 1, 1000 do math.random() end
    math.randomseed(1)
    process.send(m:payload():data(), "done")
    return "ok"`) },
  { id: 's:rand_draw', source: mod(`return tostring(math.random(0))`) },
  { id: 's:args', source: mod(`
    -- invalid(what, [text,] ok, err): the call's results come last, so none are cut off
    local function invalid(what, text, ok, err)
      if ok ~= nil and ok ~= false then error(what .. ": expected a failure, got " .. tostring(ok), 2) end
      if type(err) ~= "userdata" or err:kind() ~= "Invalid" then
        error(what .. ": expected kind Invalid, got " .. tostring(err and err.kind and err:kind()) .. " " .. tostring(err), 2)
      end
      if text then has(err, text, what) end
    end
    local function raises(what, text, f, ...)
      local ok, e = pcall(f, ...)
      if ok then error(what .. ": expected an error", 2) end
      if text then has(e, text, what) end
      if tostring(e):find("attempt to", 1, true) or tostring(e):find("for iterator", 1, true) then
        error(what .. ": a kernel fault leaked: " .. tostring(e), 2)
      end
    end
    local huge = ("h"):rep(1 << 20)
    local bad = { 5, {}, print, true, 1.5 }
    -- terminate(nil) returns nil, err (it used to raise)
    invalid("terminate()", "terminate requires a destination argument", process.terminate())
    for _, v in ipairs(bad) do
      local t = type(v)
      invalid("send " .. t, nil, process.send(v, "t"))
      invalid("send topic " .. t, nil, process.send(process.pid(), v))
      invalid("spawn " .. t, nil, process.spawn(v, "s:one"))
      invalid("spawn host " .. t, nil, process.spawn("s:victim", v))
      invalid("spawn_linked_monitored " .. t, nil, process.spawn_linked_monitored(v, "s:one"))
      for _, f in ipairs({ "terminate", "cancel", "monitor", "unmonitor", "link", "unlink" }) do
        invalid(f .. " " .. t, "destination", process[f](v))
      end
      if math.type(v) ~= "integer" then -- an integer is a deadline in ms
        invalid("cancel deadline " .. t, "invalid duration", process.cancel(process.pid(), v))
      end
      invalid("register " .. t, nil, process.registry.register(v))
      invalid("register pid " .. t, nil, process.registry.register("n", v))
      invalid("register scope " .. t, nil, process.registry.register("n", nil, v))
      invalid("lookup " .. t, nil, process.registry.lookup(v))
      invalid("unregister " .. t, nil, process.registry.unregister(v))
      invalid("listen " .. t, nil, process.listen(v))
      invalid("exec " .. t, nil, process.exec(v, "s:one"))
      invalid("exec host " .. t, nil, process.exec("s:victim", v))
      local sp = process.with_context({})
      if t ~= "table" then
        raises("with_context " .. t, "table expected", process.with_context, v)
        raises("with_options " .. t, "table expected", process.with_options, v)
        raises("sp:with_context " .. t, "table expected", sp.with_context, sp, v)
        raises("sp:with_options " .. t, "table expected", sp.with_options, sp, v)
        raises("sp:with_actor " .. t, "security.Actor expected", sp.with_actor, sp, v)
        raises("sp:with_scope " .. t, "security.Scope expected", sp.with_scope, sp, v)
      end
      raises("sp:with_name " .. t, "name", sp.with_name, sp, v)
      raises("sp:with_message " .. t, "topic", sp.with_message, sp, v)
      raises("sp:spawn " .. t, "id must be a string", sp.spawn, sp, v, "s:one")
      raises("sp:spawn host " .. t, "host must be a string", sp.spawn, sp, "s:victim", v)
      invalid("sp:exec " .. t, nil, sp:exec(v, "s:one"))
      -- a spawner method called on something that is not a spawner
      for _, m in ipairs({ "with_context", "with_options", "with_actor", "with_scope", "with_name",
          "with_message", "spawn", "spawn_monitored", "spawn_linked", "spawn_linked_monitored", "exec" }) do
        raises("sp." .. m .. "(" .. t .. ")", "process.Spawner expected", sp[m], v, "s:victim", "s:one")
      end
    end
    invalid("register scope 9", "scope must be one of", process.registry.register("n", nil, 9))
    -- huge strings: clear errors, cut to a readable size
    local ok, err = process.terminate(huge)
    eq(ok, nil); eq(err:kind(), "Internal"); has(err, "could not resolve"); assert(#tostring(err) < 400, "message cut")
    ok, err = process.cancel(process.pid(), huge)
    invalid("cancel huge deadline", "invalid duration", ok, err); assert(#tostring(err) < 400, "message cut")
    ok, err = process.send(huge, "t")
    eq(ok, nil); eq(err:kind(), "NotFound")
    -- and nothing was delivered anywhere by all that: our own inbox is empty
    local r = channel.select({ process.inbox():case_receive(), default = true })
    eq(r.default, true, "no stray message")
    return "ok"`) },
];
for (const e of entries) if (!e.kind) Object.assign(e, { kind: 'process.lua', method: 'main', modules: ['time'] });
// the bombs are separate entries so each one is its own process with its own exit
for (const [name, body] of Object.entries({ ...BOMBS, ...BUDGET })) {
  entries.push({ id: `s:bomb_${name}`, kind: 'process.lua', method: 'main', source: mod(body), modules: [] });
}

let rt: Runtime;
before(async () => { rt = await createRuntime({ entries }); });
after(async () => { await rt.stop(2000); });

async function fails(id: string, host: string, pattern: RegExp): Promise<void> {
  await assert.rejects(rt.exec(id, [], { host }), (e: WippyError) => {
    assert.match(e.message, pattern, `${id}: ${e.message}`);
    assert.equal(e.kind, 'Internal', `${id}: kind`);
    return true;
  });
}
const victim = async (host: string) => assert.equal(await rt.exec('s:victim', [], { host }), 'alive');

test('__gc is refused at setmetatable; a __gc added later never runs; the worker keeps serving', async () => {
  assert.equal(await rt.exec('s:gc', [], { host: 's:one' }), 'ok');
  await victim('s:one');
});

test('__close of a killed process runs as that process under its budget, not in the killer\'s context', async () => {
  // killed by another process on the same worker (the killer's context was current)
  assert.equal(await rt.exec('s:close_killer', [], { host: 's:small' }), 'ok');
  await victim('s:small');
  // killed from another worker: a terminate frame, handled with no process context at all
  assert.equal(await rt.exec('s:close_killer', [], { host: 's:one' }), 'ok');
  await victim('s:small');
});

test('an error value\'s __tostring runs as the failing process under its budget', async () => {
  await fails('s:err_loop', 's:small', /^\(error object is a table value\)$/);
  await victim('s:small');
  await fails('s:err_text', 's:small', /^custom from \{s:small\|0x[0-9a-f]+\}$/);
});

test('a module\'s top-level code runs under the budget however the process is started', async () => {
  await fails('s:top_loop', 's:small', /^failed to create process: reduction budget exceeded/);
  await fails('s:top_yield', 's:small', /^failed to create process: the module's top-level code yielded/);
  assert.equal(await rt.exec('s:spawn_top_loop', [], { host: 's:one' }), 'ok'); // an rpc to the other host
  await victim('s:small');
});

test('the Lua 5.1-era names the docs list: global unpack, math.pow/log10/atan2/cosh/sinh/tanh', async () => {
  assert.equal(await rt.exec('s:compat', [], { host: 's:one' }), 'ok');
});

test('string.dump is unreachable, also through the string metatable; methods still work', async () => {
  assert.equal(await rt.exec('s:dump', [], { host: 's:one' }), 'ok');
});

test('string.rep("x", 1 << 30) under the default 1024 MiB cap ends the process with "memory limit exceeded"', async () => {
  await fails('s:rep_default', 's:one', /^memory limit exceeded/);
  await victim('s:one');
});

test('big string and table operations are checked against max_memory_mb before they allocate', async () => {
  for (const name of Object.keys(BOMBS)) await fails(`s:bomb_${name}`, 's:small', /^memory limit exceeded/);
  await victim('s:small');
});

test('C loops that do not allocate are charged to the reduction budget', async () => {
  for (const name of Object.keys(BUDGET)) await fails(`s:bomb_${name}`, 's:small', /^reduction budget exceeded/);
  await victim('s:small');
});

test('Lua\'s "not enough memory" ends the process as "memory limit exceeded", even if caught', async () => {
  await fails('s:oom_text', 's:one', /^memory limit exceeded/);
  await fails('s:oom_coroutine', 's:one', /^memory limit exceeded/);
  await victim('s:one');
});

test('a memory bomb that reaches wasm\'s 2 GB ceiling ends with "memory limit exceeded"; the worker keeps serving', async () => {
  await fails('s:oom_real', 's:nocap', /^memory limit exceeded/);
  await victim('s:nocap');
});

test('each process has its own math.random: a neighbour\'s randomseed does not touch it', async () => {
  // both on the one worker of s:one: B waits for A's "go", reseeds and draws, then answers
  const pidB = await rt.spawn('s:rand_b', 's:one');
  assert.equal(await rt.exec('s:rand_a', [pidB], { host: 's:one' }), 'ok');
  // two unseeded processes draw from different generators (2^-64 chance of a false failure)
  const x = await rt.exec('s:rand_draw', [], { host: 's:one' });
  const y = await rt.exec('s:rand_draw', [], { host: 's:one' });
  assert.notEqual(x, y);
});

test('process.* functions answer wrong argument types with clear errors; nothing is delivered', async () => {
  assert.equal(await rt.exec('s:args', [], { host: 's:one' }), 'ok');
  await victim('s:one');
});
