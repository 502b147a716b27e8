// The process API exercised from Lua scenarios on real worker threads.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { scenarioRuntime, main, type Scenario } from './helpers/lua-runtime.js';
import type { Runtime } from '../src/index.js';
import { WippyError } from '../src/index.js';

const scenarios: Scenario[] = [
  // --- helpers used by scenarios ---
  { name: 'echo', source: main(`
    local inbox = process.inbox()
    while true do
      local m = inbox:receive()
      if m:topic() == "stop" then return "stopped" end
      process.send(m:from(), "echo:" .. m:topic(), m:payload():data())
    end`) },
  { name: 'returns', source: main(`return ...`) },
  { name: 'raises', source: main(`error("boom")`) },
  { name: 'returns_err', source: main(`return nil, "bad thing"`) },
  { name: 'returns_errobj', source: main(`return nil, errors.new({ kind = errors.CONFLICT, message = "clash", retryable = true })`) },
  { name: 'sender', source: main(`
    local to, n = ...
    for i = 1, n do process.send(to, "seq", i) end
    return n`) },
  { name: 'named', source: main(`
    local name = ...
    assert(process.registry.register(name))
    process.inbox():receive()
    return true`) },
  { name: 'no_main', source: 'return { other = function() end }' },
  { name: 'maxint', source: main(`return math.maxinteger`) },

  // --- scenarios ---
  { name: 'pid_and_id', source: main(`
    local pid = process.pid()
    assert(pid:match("^{test:processes|0x%x%x%x%x%x+}$"), "pid format: " .. pid)
    eq(process.id(), "test:pid_and_id", "process.id")
    eq(require("process"), process, "require('process')")
    return pid`) },
  { name: 'send_receive', source: main(`
    local child = assert(process.spawn("test:echo", "test:processes"))
    assert(process.send(child, "ping", { n = 1, list = { "a", "b" } }))
    local m = process.inbox():receive()
    eq(m:topic(), "echo:ping", "topic")
    eq(m:from(), child, "from")
    local d = m:payload():data()
    eq(d.n, 1, "payload.n"); eq(d.list[2], "b", "payload.list[2]")
    has(tostring(m), "process.Message{topic=echo:ping}", "tostring(msg)")
    process.send(child, "stop")
    return true`) },
  { name: 'send_errors', source: main(`
    local ok, err = process.send("only-dest")
    eq(ok, nil); eq(err:kind(), errors.INVALID, "kind"); has(err, "send requires at least destination and topic arguments")
    ok, err = process.send(process.pid(), "@inbox", 1)
    eq(err:kind(), errors.INVALID); has(err, "cannot send to @ topics")
    ok, err = process.send("nobody-has-this-name", "t")
    eq(err:kind(), errors.NOT_FOUND); has(err, "could not resolve 'nobody-has-this-name' as PID or registered name")
    local child = process.spawn_monitored("test:returns", "test:processes", 1)
    local ev = process.events():receive()
    eq(ev.kind, process.event.EXIT)
    ok, err = process.send(child, "t", 1)
    eq(ok, nil, "send to dead pid"); has(err, "not found"); eq(err:kind(), errors.NOT_FOUND)
    ok, err = process.send("{test:processes|0xfffff0}", "t")
    has(err, "not found")
    assert(string.find(err, "not found"), "string.find works on error objects")
    eq(process.send(process.pid(), "self", 1), true, "send to self")
    return true`) },
  { name: 'payload_shapes', source: main(`
    local raw = process.listen("raw")
    local msgs = process.listen("msgs", { message = true })
    process.send(process.pid(), "raw", 1, "two", 3.5)
    local v = raw:receive()
    eq(type(v), "table"); eq(v[1], 1); eq(v[2], "two"); eq(v[3], 3.5)
    process.send(process.pid(), "raw")
    eq(raw:receive(), nil, "no payload -> nil")
    process.send(process.pid(), "msgs", "a", "b")
    local m = msgs:receive()
    local ps = m:payload()
    eq(#ps, 2, "array of wrappers"); eq(ps[1]:data(), "a"); eq(ps[2]:data(), "b")
    process.send(process.pid(), "msgs")
    eq(msgs:receive():payload(), nil, "no payloads -> nil payload")
    -- identity
    eq(process.listen("raw"), raw, "listen identity")
    eq(process.inbox(), process.inbox(), "inbox identity")
    eq(process.events(), process.events(), "events identity")
    assert(process.inbox() ~= process.events() and raw ~= msgs, "distinct channels")
    local r = channel.select({ raw:case_receive(), (function() process.send(process.pid(), "raw", 9); return msgs:case_receive() end)() })
    eq(r.channel, raw, "select result.channel identity"); eq(r.value, 9)
    local _, err = process.listen("")
    has(err, "topic cannot be empty")
    _, err = process.listen("@x")
    has(err, "cannot listen to @ topics")
    return true`) },
  { name: 'routing', source: main(`
    -- queued before any subscription, delivered in order once one exists
    process.send(process.pid(), "later", "x1")
    process.send(process.pid(), "other", "y1")
    process.send(process.pid(), "later", "x2")
    local later = process.listen("later")
    eq(later:receive(), "x1"); eq(later:receive(), "x2")
    local inbox = process.inbox()
    local m = inbox:receive()
    eq(m:topic(), "other", "unmatched topic falls to inbox"); eq(m:payload():data(), "y1")
    -- after unlisten, the topic falls back to the inbox
    process.unlisten(later)
    local v, ok = later:receive()
    eq(v, nil); eq(ok, false, "unlistened channel is closed")
    process.send(process.pid(), "later", "x3")
    m = inbox:receive()
    eq(m:topic(), "later"); eq(m:payload():data(), "x3")
    -- per-sender FIFO from another process
    local s = process.spawn("test:sender", "test:processes", process.pid(), 200)
    local seq = process.listen("seq")
    for i = 1, 200 do eq(seq:receive(), i, "fifo") end
    -- a non-blocking select takes a message queued for a zero-capacity subscription (the
    -- inbox, events()), earliest first, and returns the default only when none waits
    local r = channel.select({ inbox:case_receive(), default = true })
    eq(r.default, true, "nothing queued: the default branch")
    process.send(process.pid(), "zz", 1)
    process.send(process.pid(), "zz", 2)
    r = channel.select({ inbox:case_receive(), default = true })
    eq(r.default, nil, "a queued message is data available"); eq(r.channel, inbox)
    eq(r.value:topic(), "zz"); eq(r.value:payload():data(), 1, "the earliest first")
    local ev = process.events()
    local d = process.spawn_monitored("test:returns", "test:processes", 5)
    process.send(process.pid(), "zz", 3)
    while true do -- poll until the child's EXIT has arrived (the select never blocks)
      r = channel.select({ ev:case_receive(), default = true })
      if not r.default then break end
      time.sleep("1ms")
    end
    eq(r.channel, ev); eq(r.value.from, d); eq(r.value.result.value, 5)
    eq(inbox:receive():payload():data(), 2, "the inbox kept its order")
    eq(inbox:receive():payload():data(), 3)
    r = channel.select({ inbox:case_receive(), ev:case_receive(), default = true })
    eq(r.default, true, "all taken: the default branch again")
    return true`) },
  { name: 'exit_events', source: main(`
    local ev = process.events()
    local a = process.spawn_monitored("test:returns", "test:processes", 42, 7)
    local e = ev:receive()
    eq(e.kind, "pid.exit"); eq(e.from, a); eq(e.result.value, 42); eq(e.result.error, nil)
    eq(type(e.at), "number"); assert(math.abs(e.at - os.time()) < 5, "at is unix seconds")
    eq(e.error, nil, "no top-level error field")
    local b = process.spawn_monitored("test:raises", "test:processes")
    e = ev:receive()
    eq(e.from, b); eq(e.result.value, nil); has(e.result.error, "boom"); eq(e.result.error:kind(), "Internal")
    local c2 = process.spawn_monitored("test:returns", "test:processes", 1, "second value is an error")
    e = ev:receive()
    eq(e.from, c2); eq(tostring(e.result.error), "second value is an error"); eq(e.result.value, nil)
    local c = process.spawn_monitored("test:returns_err", "test:processes")
    e = ev:receive()
    eq(tostring(e.result.error), "bad thing"); eq(e.result.error:retryable(), false)
    local d = process.spawn_monitored("test:returns", "test:processes", false)
    e = ev:receive()
    eq(e.result.value, false, "return false is a normal exit"); eq(e.result.error, nil)
    local f = process.spawn_monitored("test:returns_errobj", "test:processes")
    e = ev:receive()
    eq(e.result.error:kind(), "Conflict"); eq(e.result.error:retryable(), true)
    local g = process.spawn_monitored("test:returns", "test:processes")
    e = ev:receive()
    eq(next(e.result), nil, "empty result table for a normal exit with no value")
    return true`) },
  { name: 'spawn_errors', source: main(`
    local pid, err = process.spawn("test:nope", "test:processes")
    eq(pid, nil); has(err, "factory not found"); eq(err:kind(), "NotFound")
    pid, err = process.spawn("test:echo", "test:nohost")
    has(err, "host not found"); eq(err:kind(), "NotFound")
    pid, err = process.spawn_monitored("test:echo")
    has(err, "spawn_monitored requires at least id and host arguments"); eq(err:kind(), "Invalid")
    pid, err = process.spawn("test:no_main", "test:processes")
    has(err, 'method "main" not found in module')
    pid, err = process.spawn("test:echo", "test:other") -- across hosts works
    assert(pid and pid:find("test:other", 1, true), "pid on other host: " .. tostring(pid))
    process.send(pid, "stop")
    return true`) },
  { name: 'names', source: main(`
    local reg = process.registry
    assert(reg.register("me-" .. process.pid()))
    eq(reg.lookup("me-" .. process.pid()), process.pid())
    eq(reg.register("me-" .. process.pid()), true, "idempotent")
    local child = process.spawn_monitored("test:named", "test:other", "taken-name")
    local t = time.after("2s")
    while true do
      if reg.lookup("taken-name") then break end
      time.sleep("5ms")
    end
    local ok, err = reg.register("taken-name")
    eq(ok, nil); eq(err:kind(), "AlreadyExists"); has(err, "name already registered")
    assert(process.send("taken-name", "go", 1), "send to a name")
    local e = process.events():receive()
    eq(e.from, child)
    local pid, lerr = reg.lookup("taken-name")
    eq(pid, nil, "name released on exit"); has(lerr, "name not registered")
    eq(reg.unregister("me-" .. process.pid()), true)
    eq(reg.unregister("me-" .. process.pid()), false)
    local _, serr = reg.register("x", nil, "local")
    has(serr, "scope must be a number")
    _, serr = reg.register("x", "not-a-pid")
    has(serr, "invalid pid format: missing braces")
    return true`) },
  { name: 'channels', source: main(`
    local ch = channel.new(2)
    ch:send(1); ch:send(2)
    local r = channel.select({ ch:case_send(3), default = true })
    eq(r.default, true, "full buffered channel -> default")
    eq(ch:receive(), 1); eq(ch:receive(), 2)
    ch:close()
    local v, ok = ch:receive()
    eq(v, nil); eq(ok, false)
    eq(pcall(ch.send, ch, 1), false, "send on closed channel raises")
    ch:close() -- no-op
    -- unbuffered rendezvous between coroutines
    local u = channel.new()
    local got = {}
    coroutine.spawn(function() for i = 1, 3 do u:send(i) end; u:close() end)
    while true do
      local x, more = u:receive()
      if not more then break end
      got[#got + 1] = x
    end
    eq(#got, 3); eq(got[3], 3)
    -- select picks the first ready case in array order
    local a, b = channel.new(1), channel.new(1)
    a:send("a"); b:send("b")
    r = channel.select({ b:case_receive(), a:case_receive() })
    eq(r.channel, b); eq(r.value, "b"); eq(r.ok, true)
    -- fan-in with a deadline
    local out = channel.new(8)
    for i = 1, 3 do coroutine.spawn(function() out:send(i * i) end) end
    local sum, deadline = 0, time.after("1s")
    for _ = 1, 3 do
      local s = channel.select({ out:case_receive(), deadline:case_receive() })
      if s.channel == deadline then break end
      sum = sum + s.value
    end
    eq(sum, 14)
    local okc, cerr = pcall(channel.select, { 42 })
    eq(okc, false); has(cerr, "Invalid case in select")
    return true`) },
  { name: 'deadlock', source: main(`channel.new():receive()`) },
  { name: 'idle_not_deadlock', source: main(`
    process.inbox()
    local c = channel.new()
    coroutine.spawn(function() time.sleep("20ms"); c:send("late") end)
    return c:receive()`) },
  { name: 'user_coroutines', source: main(`
    -- a kernel block inside a user coroutine goes through to the scheduler and back
    local co = coroutine.create(function(x)
      time.sleep("1ms")
      local y = coroutine.yield(x + 1)
      time.sleep("1ms")
      return y * 2
    end)
    local ok, v = coroutine.resume(co, 1)
    eq(ok, true); eq(v, 2)
    ok, v = coroutine.resume(co, 21)
    eq(ok, true); eq(v, 42)
    local gen = coroutine.wrap(function() for i = 1, 3 do coroutine.yield(i) end end)
    eq(gen() + gen() + gen(), 6)
    return true`) },
  { name: 'time_basics', source: main(`
    local t0 = time.now()
    time.sleep("30ms")
    local el = time.now():sub(t0):milliseconds()
    assert(el >= 25, "slept " .. el .. "ms")
    local ok, err = time.sleep({})
    eq(ok, nil); eq(err:kind(), "Invalid")
    local timer = time.timer("1h")
    eq(timer:stop(), true)
    local tk = time.ticker("5ms")
    local n = 0
    while n < 3 do tk:channel():receive(); n = n + 1 end
    tk:stop()
    eq(time.parse_duration("1h30m45s"):seconds(), 5445)
    return true`) },
  { name: 'errors_module', source: main(`
    local e = errors.new("plain")
    eq(e:kind(), ""); eq(e:message(), "plain"); eq(e:retryable(), nil); eq(type(e), "userdata")
    local f = errors.new({ message = "nf", kind = errors.NOT_FOUND, retryable = false, details = { id = 7 } })
    eq(f:kind(), "NotFound"); eq(f:retryable(), false); eq(f:details().id, 7)
    local w = errors.wrap(f, "loading")
    eq(tostring(w), "loading: nf"); eq(w:kind(), "NotFound"); eq(w:details().id, 7)
    eq(errors.is(w, errors.NOT_FOUND), true); eq(errors.is("x", errors.NOT_FOUND), false); eq(errors.is(nil, "x"), false)
    eq("x" .. f, "xnf"); eq(f .. "!", "nf!")
    eq(errors.UNKNOWN, ""); eq(errors.INVALID, "Invalid"); eq(errors.RATE_LIMITED, "RateLimited")
    assert(string.find(w, "load"), "string.find on error")
    -- the (kind, message) form Wippy's examples use: a constant's name or a kind itself
    local t = errors.new("TIMEOUT", "Operation timed out")
    eq(t:kind(), "Timeout"); eq(t:message(), "Operation timed out"); eq(errors.is(t, errors.TIMEOUT), true)
    eq(errors.new("PermissionDenied", "no"):kind(), "PermissionDenied")
    eq(errors.new("MyKind", "custom"):kind(), "MyKind")
    return true`) },
  { name: 'sandbox', source: main(`
    eq(io, nil, "io"); eq(load, nil, "load"); eq(loadstring, nil, "loadstring"); eq(dofile, nil, "dofile")
    eq(debug, nil, "debug"); eq(package, nil, "package"); eq(os.execute, nil, "os.execute"); eq(os.exit, nil, "os.exit")
    eq(_G.io, nil, "_G.io"); eq(rawget(_G, "debug"), nil)
    eq(getmetatable(""), false, "string metatable hidden")
    eq(pcall(function() string.upper = nil end), false, "string table read-only")
    local ok, err = pcall(require, "os")
    eq(ok, false); has(err, "os")
    ok, err = pcall(require, "io")
    eq(ok, false); has(err, "io")
    eq(type(os.time()), "number"); eq(os.platform, "wippy")
    leaked_global = 1
    return true`) },
  { name: 'sandbox_isolated', source: main(`
    eq(leaked_global, nil, "globals are per process")
    return true`) },
  { name: 'uses_lib', imports: { util: 'test:util' }, source: main(`
    local util = require("util")
    eq(util.double(21), 42)
    eq(require("util"), util, "cached per process")
    return true`) },
  { name: 'seed_receive', source: main(`
    local child = process.spawn_monitored("test:returns", "test:processes", 7)
    local event = process.receive(time.SECOND * 2)
    eq(event.type, "EXIT"); eq(event.value, 7); eq(event.from, child)
    local none, err = process.receive("10ms")
    eq(none, nil); eq(err:kind(), "Timeout")
    return true`) },
  { name: 'cross_host_values', source: main(`
    local child = process.spawn("test:echo", "test:other")
    local v = { i = 3, f = 3.0, big = math.maxinteger, s = "bin\\0\\255", nested = { t = true, list = { 1, 2.5, "x" } } }
    process.send(child, "v", v)
    local m = process.inbox():receive()
    local d = m:payload():data()
    eq(math.type(d.i), "integer"); eq(math.type(d.f), "float"); eq(d.big, math.maxinteger)
    eq(d.s, "bin\\0\\255"); eq(d.nested.t, true); eq(d.nested.list[2], 2.5); eq(d.nested.list[3], "x")
    process.send(child, "stop")
    return true`) },
  { name: 'options', source: main(`
    local o = process.get_options()
    eq(o.trap_links, false)
    eq(process.set_options({ trap_links = true }), true)
    eq(process.get_options().trap_links, true)
    local ok, err = process.set_options({ bogus = 1 })
    eq(ok, false); has(err, "option bogus is not supported")
    ok, err = process.set_options("x")
    eq(ok, false); has(err, "options parameter must be a table")
    ok, err = process.set_options({ trap_links = "yes" })
    has(err, "trap_links must be a boolean")
    return true`) },
  { name: 'links_trap', source: main(`
    process.set_options({ trap_links = true })
    local ev = process.events()
    local c = process.spawn_linked("test:raises", "test:processes")
    local e = ev:receive()
    eq(e.kind, process.event.LINK_DOWN); eq(e.from, c); has(e.result.error, "boom")
    return true`) },
  { name: 'links_kill', source: main(`
    process.spawn_linked("test:raises", "test:processes")
    process.inbox():receive() -- blocked; the LINK_DOWN kills us
    return "not reached"`) },
];

for (const workers of [1, 2]) describe(`${workers} worker(s) per process host`, () => {
  let rt: Runtime;
  before(async () => {
    rt = await scenarioRuntime(scenarios, { workers,
      extra: [{ id: 'test:util', kind: 'library.lua', source: 'return { double = function(x) return x * 2 end }' }],
    });
  });
  after(async () => { await rt.stop(1000); });

  const passing = ['pid_and_id', 'send_receive', 'send_errors', 'payload_shapes', 'routing', 'exit_events',
    'spawn_errors', 'names', 'channels', 'idle_not_deadlock', 'user_coroutines', 'time_basics', 'errors_module',
    'sandbox', 'uses_lib', 'seed_receive', 'cross_host_values', 'options', 'links_trap'];
  for (const name of passing) {
    test(`lua: ${name}`, async () => {
      const r = await rt.exec(`test:${name}`);
      assert.ok(r !== false && r !== undefined, `scenario ${name} returned ${String(r)}`);
    });
  }

  test('globals set by one process are not seen by another', async () => {
    await rt.exec('test:sandbox');
    assert.equal(await rt.exec('test:sandbox_isolated'), true);
  });

  test('a process blocked with nothing that could wake it dies with the deadlock error', async () => {
    await assert.rejects(rt.exec('test:deadlock'), (e: WippyError) => {
      assert.match(e.message, /^deadlock: all coroutines blocked with no pending operations \(threads=1\)$/);
      return true;
    });
  });

  test('an idle process with a subscription is not a deadlock', async () => {
    assert.equal(await rt.exec('test:idle_not_deadlock'), 'late');
  });

  test('a linked process fails with "linked process failed" while blocked', async () => {
    const e = await rt.run('test:links_kill');
    assert.ok(e.error instanceof WippyError);
    assert.equal(e.error.message, 'linked process failed');
  });

  test('exec returns values and rejects with the error object', async () => {
    assert.deepEqual(await rt.exec('test:returns', [1, true, { a: [1, 2] }]), 1);
    await assert.rejects(rt.exec('test:returns', [1, 'two']), (e: WippyError) => e.message === 'two');
    assert.deepEqual(await rt.exec('test:returns', [{ a: [1, 2], b: 'x' }]), { a: [1, 2], b: 'x' });
    // 64-bit integers reach JS exactly (a BigInt beyond 2^53), through the main thread's decoder
    assert.equal(await rt.exec('test:maxint'), 9223372036854775807n);
    await assert.rejects(rt.exec('test:raises'), (e: WippyError) => e instanceof WippyError && e.kind === 'Internal' && /boom/.test(e.message));
    await assert.rejects(rt.exec('test:returns_errobj'), (e: WippyError) => e.kind === 'Conflict' && e.retryable === true);
    await assert.rejects(rt.exec('test:nope'), (e: WippyError) => /factory not found/.test(e.message));
  });

  test('send from JS reaches a process and names resolve', async () => {
    const pid = await rt.spawn('test:named', 'test:processes', ['from-js']);
    while (rt.lookup('from-js') === undefined) await new Promise((r) => setTimeout(r, 5)); // no wall-clock bound: the name, however late
    assert.equal(rt.lookup('from-js'), pid);
    rt.send('from-js', 'go', 1);
    assert.throws(() => rt.send('no-such-name', 't'), /could not resolve/);
    assert.throws(() => rt.send(pid, '@x'), /cannot send to @ topics/);
  });

});
