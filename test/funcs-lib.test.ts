// The Lua `funcs` module (src/lua/lib/funcs.lua) alone, under a fake kernel
// (test/lua/funcs_fake.lua): calls recorded by a fake exec_start and ended by hand, a clock the
// test advances, non-blocking table channels, permissions denied by key. Each test gets a fresh
// Lua state and runs a snippet whose asserts raise on mismatch.
import { test, describe } from 'node:test';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { LuaFactory } from 'wasmoon';

const FUNCS_SRC = readFileSync(path.resolve('src/lua/lib/funcs.lua'), 'utf8');
const ASSERTS_SRC = readFileSync(path.resolve('test/lua/asserts.lua'), 'utf8');
const FAKE_SRC = readFileSync(path.resolve('test/lua/funcs_fake.lua'), 'utf8');
const factory = new LuaFactory();

const PRELUDE = String.raw`
F, K, funcs = assert(load(FAKE_SRC, "@test/lua/funcs_fake.lua", "t"))()(FUNCS_SRC)
assert(load(ASSERTS_SRC, "@test/lua/asserts.lua", "t"))()
function ok(v) return { value = v } end
`;

async function lua(code: string): Promise<unknown> {
  const engine = await factory.createEngine({ openStandardLibs: true, injectObjects: false, enableProxy: false });
  try {
    engine.global.set('FUNCS_SRC', FUNCS_SRC);
    engine.global.set('FAKE_SRC', FAKE_SRC);
    engine.global.set('ASSERTS_SRC', ASSERTS_SRC);
    await engine.doString(PRELUDE);
    return await engine.doString(code);
  } finally {
    engine.global.close();
  }
}

describe('targets and permissions', () => {
  test('bad, unknown and non-function ids fail before anything starts, naming the id', async () => {
    await lua(String.raw`
      fails("Invalid", "function id is empty", funcs.call(""))
      fails("Invalid", "function id must be a string, got nil", funcs.call(nil))
      fails("Invalid", "function id has no namespace: add (namespace:name required)", funcs.call("add"))
      fails("Invalid", "function id has no namespace: :add (namespace:name required)", funcs.call(":add"))
      fails("Invalid", "function id has no name: app: (namespace:name required)", funcs.call("app:"))
      fails("NotFound", "function not found: app:nope", funcs.call("app:nope"))
      fails("Invalid", "entry app:proc is a process.lua, not a function (function.lua, function.wasm, function.wat, or process.lua with meta.default_host)", funcs.call("app:proc"))
      fails("Invalid", "entry app:lib is a library.lua, not a function (function.lua, function.wasm, function.wat, or process.lua with meta.default_host)", funcs.async("app:lib"))
      eq(#F.calls, 0, "nothing started")
      eq(#F.checks, 0, "no permission asked for an id that cannot run")
    `);
  });

  test('funcs.call is checked on the function id; a denial starts nothing', async () => {
    await lua(String.raw`
      F.deny["funcs.call app:add"] = true
      fails("PermissionDenied", "not allowed to call function: app:add", funcs.call("app:add", 1))
      fails("PermissionDenied", "not allowed to call function: app:add", funcs.async("app:add", 1))
      fails("PermissionDenied", nil, funcs.new():call("app:add"))
      eq(#F.calls, 0)
      eq(F.checks[1], "funcs.call app:add")
    `);
  });

  test('no calling process: Invalid', async () => {
    await lua(String.raw`
      F.P = nil
      fails("Invalid", "no context found: funcs is used from a process or function", funcs.call("app:add"))
      fails("Invalid", nil, funcs.new():with_context({ a = 1 }))
    `);
  });

  test('arguments are copied; one that cannot cross fails the call', async () => {
    await lua(String.raw`
      F.auto = function(c) return ok(c.args[1]) end
      local t = { x = 1 }
      local got = funcs.call("app:add", t)
      eq(got.x, 1); assert(got ~= t, "the callee got a copy")
      fails("Invalid", "cannot send a function", funcs.call("app:add", print))
      eq(#F.calls, 1)
    `);
  });
});

describe('call', () => {
  test('results: one value, several values, nil, error results; host and ctx of the callee', async () => {
    await lua(String.raw`
      F.auto = function(c)
        local a = c.args[1]
        if a == "one" then return { value = 1 } end
        if a == "many" then return { value = 1, values = { n = 3, 1, nil, "three" } } end
        if a == "none" then return {} end
        return { error = F.err("NotFound", "no such user") }
      end
      eq(funcs.call("app:add", "one"), 1)
      local a, b, c = funcs.call("app:add", "many")
      eq(a, 1); eq(b, nil); eq(c, "three")
      eq(select("#", funcs.call("app:add", "many")), 3, "every result, nils kept")
      eq(select("#", funcs.call("app:add", "none")), 1)
      fails("NotFound", "no such user", funcs.call("app:add", "err"))
      local c1 = F.calls[1]
      eq(c1.id, "app:add"); eq(c1.host, "app:h", "the caller's host"); eq(c1.ctx, nil, "nil ctx: inherit")
      eq(c1.n, 1); eq(c1.P, F.P)
      -- a process.lua with meta.default_host is called as a function, on that host
      eq(funcs.call("app:svc", "one"), 1)
      eq(F.calls[#F.calls].host, "app:procs")
      assert(funcs.new():with_options({ host = "app:x" })):call("app:svc", "one")
      eq(F.calls[#F.calls].host, "app:x", "options.host still wins")
    `);
  });

  test('exec_start failing is the call\'s error', async () => {
    await lua(String.raw`
      F.start_error = F.err("Internal", "host not found")
      fails("Internal", "host not found", funcs.call("app:add"))
      fails("Internal", "host not found", funcs.async("app:add"))
    `);
  });

  test('a call that has not ended parks on its channel (the fake cannot block)', async () => {
    await lua(String.raw`
      local okc, err = pcall(funcs.call, "app:add", 1)
      eq(okc, false); assert(tostring(err):find("would block"), tostring(err))
      eq(#F.calls, 1)
    `);
  });
});

describe('Future', () => {
  test('pending, then a result: channel, result, error, is_complete, is_canceled', async () => {
    await lua(String.raw`
      local f = assert(funcs.async("app:add", 2, 3))
      eq(tostring(f), "funcs.Future")
      eq(f:is_complete(), false); eq(f:is_canceled(), false)
      local v, e = f:result(); eq(v, nil); eq(e, nil)
      local err, has = f:error(); eq(err, nil); eq(has, false)
      eq(f:response(), f:channel(), "channel() is response()")
      eq(#f:channel().buf, 0)
      F.exit(1, ok(5))
      eq(f:is_complete(), true); eq(f:is_canceled(), false)
      local p, okr = f:channel():receive()
      eq(okr, true); eq(p:data(), 5)
      eq(f:channel().closed, false, "a result leaves the channel open (select over several futures)")
      eq(f:result():data(), 5)
      err, has = f:error(); eq(err, nil); eq(has, false)
      eq(f:cancel(), false, "complete: nothing to cancel")
      eq(f:is_canceled(), false)
      eq(F.calls[1].cancelled, nil)
    `);
  });

  test('several values: a table of payloads on the channel and from result()', async () => {
    await lua(String.raw`
      local f = assert(funcs.async("app:add"))
      F.exit(1, { value = "a", values = { n = 2, "a", "b" } })
      local ps = f:channel():receive()
      eq(#ps, 2); eq(ps[1]:data(), "a"); eq(ps[2]:data(), "b")
      local rs = f:result(); eq(rs[2]:data(), "b")
    `);
  });

  test('an error closes the channel empty; error() and result() give it', async () => {
    await lua(String.raw`
      local f = assert(funcs.async("app:add"))
      F.exit(1, { error = F.err("Internal", "boom") })
      local p, okr = f:channel():receive(); eq(p, nil); eq(okr, false)
      local err, has = f:error(); eq(has, true); eq(err:kind(), "Internal"); eq(err:message(), "boom")
      fails("Internal", "boom", f:result())
      eq(f:is_complete(), true)
    `);
  });

  test('cancel: the callee is cancelled, the future ends Canceled, a later EXIT changes nothing', async () => {
    await lua(String.raw`
      local f = assert(funcs.async("app:add"))
      eq(f:cancel(), true)
      eq(F.calls[1].cancelled, "future canceled")
      eq(f:is_canceled(), true); eq(f:is_complete(), true)
      fails("Canceled", "function call canceled: app:add", f:result())
      local err, has = f:error(); eq(has, true); eq(err:kind(), "Canceled")
      local p, okr = f:channel():receive(); eq(okr, false)
      eq(f:cancel(), false, "a second cancel")
      eq(F.exit(1, ok(1)), false, "the kernel stopped waiting")
      F.calls[1].on_exit({ result = { value = 1 } }) -- even if it did call back, the future is settled
      eq(f:is_canceled(), true)
    `);
  });

  test('a CANCEL reaching the caller cancels its pending calls: Canceled, not is_canceled', async () => {
    await lua(String.raw`
      local f = assert(funcs.async("app:add"))
      local g = assert(funcs.async("app:add"))
      F.exit(2, ok(2))
      eq(F.live_hooks(), 1, "a settled call holds no hook")
      F.cancel_caller()
      eq(F.calls[1].cancelled, "caller context canceled")
      eq(f:is_complete(), true); eq(f:is_canceled(), false, "cancel() was not called")
      fails("Canceled", "caller context canceled: app:add", f:result())
      eq(g:result():data(), 2, "a call that ended first keeps its result")
      eq(F.live_hooks(), 0)
    `);
  });

  test('an EXIT inside exec_start (the earliest possible) completes the future at once', async () => {
    await lua(String.raw`
      F.auto = function() return ok(7) end
      local f = assert(assert(funcs.new():with_options({ timeout = 10 })):async("app:add"))
      eq(f:is_complete(), true); eq(f:result():data(), 7)
      eq(F.live_timers(), 0, "no timeout armed for a settled call")
      eq(F.live_hooks(), 0, "no cancel hook for a settled call")
      eq(funcs.call("app:add"), 7)
    `);
  });

  test('methods on the wrong object raise', async () => {
    await lua(String.raw`
      local f = assert(funcs.async("app:add"))
      local okc, err = pcall(f.result, {})
      eq(okc, false); assert(tostring(err):find("funcs.Future expected"), tostring(err))
      local ex = funcs.new()
      okc, err = pcall(ex.call, "app:add")
      eq(okc, false); assert(tostring(err):find("funcs.Executor expected"), tostring(err))
    `);
  });
});

describe('Executor', () => {
  test('with_context merges over the caller\'s values; chaining is immutable', async () => {
    await lua(String.raw`
      F.P.ctx = { values = { req = "r-1", trace = "caller" }, actor = { id = "user:a" }, scope = { "p1" }, options = { x = 1 } }
      local base = funcs.new()
      eq(tostring(base), "funcs.Executor")
      local e1 = assert(base:with_context({ trace = "t-1" }))
      local e2 = assert(e1:with_context({ extra = true }))
      assert(e1 ~= base and e2 ~= e1, "each with_* returns a new executor")
      base:async("app:add"); e1:async("app:add"); e2:async("app:add")
      eq(F.calls[1].ctx, nil, "the base executor overrides nothing: inherit")
      local c2 = F.calls[2].ctx
      eq(c2.values.trace, "t-1"); eq(c2.values.req, "r-1")
      eq(c2.actor.id, "user:a"); eq(c2.scope[1], "p1"); eq(c2.options.x, 1, "the rest of the caller's ctx kept")
      local c3 = F.calls[3].ctx
      eq(c3.values.trace, "t-1"); eq(c3.values.extra, true)
      eq(F.P.ctx.values.trace, "caller", "the caller's own values untouched")
      eq(F.checks[1], "funcs.context context")
      fails("Invalid", "with_context: values must be a table, got number", base:with_context(5))
      fails("Invalid", "with_context: context keys must be strings", base:with_context({ [1] = "x" }))
      fails("Invalid", nil, base:with_context({ f = print }))
      F.deny["funcs.context context"] = true
      fails("PermissionDenied", "not allowed to call functions with custom context", base:with_context({ a = 1 }))
    `);
  });

  test('with_actor / with_scope: encoded into the callee ctx, checked by funcs.security', async () => {
    await lua(String.raw`
      local base = funcs.new()
      local ex = assert(base:with_actor({ actor_id = "user:admin" }))
      local sx = assert(ex:with_scope({ scope_ids = { "pol:a" } }))
      ex:async("app:add"); sx:async("app:add")
      eq(F.calls[1].ctx.actor.id, "user:admin"); eq(F.calls[1].ctx.scope, nil)
      eq(F.calls[2].ctx.actor.id, "user:admin"); eq(F.calls[2].ctx.scope[1], "pol:a")
      eq(F.checks[1], "funcs.security security")
      fails("Invalid", "with_actor: security.Actor expected, got string", base:with_actor("root"))
      fails("Invalid", "with_scope: security.Scope expected, got table", base:with_scope({}))
      fails("Invalid", "with_actor: actor cannot be nil", base:with_actor(nil))
      F.deny["funcs.security security"] = true
      fails("PermissionDenied", "not allowed to call functions with custom security context",
        base:with_actor({ actor_id = "x" }))
    `);
  });

  test('with_options: timeout ends the call Timeout and cancels the callee; host is checked', async () => {
    await lua(String.raw`
      local ex = assert(funcs.new():with_options({ timeout = 50 }))
      local f = assert(ex:async("app:add"))
      F.advance(49); eq(f:is_complete(), false)
      F.advance(1)
      eq(f:is_complete(), true)
      fails("Timeout", "function call timed out after 50 ms: app:add", f:result())
      eq(F.calls[1].cancelled, "function call timed out")
      eq(F.exit(1, ok(1)), false)
      -- an EXIT first: the timer is disarmed
      local g = assert(ex:async("app:add"))
      F.exit(2, ok(2)); eq(g:result():data(), 2); eq(F.live_timers(), 0)
      -- duration strings, and bad timeouts
      local s = assert(funcs.new():with_options({ timeout = "2s" }))
      s:async("app:add"); F.advance(1999); eq(F.calls[3].cancelled, nil); F.advance(1); eq(F.calls[3].cancelled, "function call timed out")
      fails("Invalid", "with_options: timeout must be positive", funcs.new():with_options({ timeout = 0 }))
      fails("Invalid", "with_options: invalid timeout duration: soon", funcs.new():with_options({ timeout = "soon" }))
      fails("Invalid", nil, funcs.new():with_options({ timeout = true }))
      fails("Invalid", "with_options: options must be a table, got nil", funcs.new():with_options())
      -- host: runs there, checked by process.host
      local h = assert(funcs.new():with_options({ host = "app:other" }))
      h:async("app:add"); eq(F.calls[4].host, "app:other")
      F.deny["process.host app:other"] = true
      fails("PermissionDenied", "not allowed to call functions on host: app:other", h:call("app:add"))
      fails("Invalid", "with_options: host must be a non-empty string", funcs.new():with_options({ host = "" }))
      -- options merge: a later with_options keeps what an earlier one set
      local both = assert(assert(funcs.new():with_options({ timeout = 5 })):with_options({ host = "app:h2" }))
      both:async("app:add"); eq(F.calls[5].host, "app:h2"); F.advance(5); eq(F.calls[5].cancelled, "function call timed out")
    `);
  });
});
