// The `funcs` module through real processes: process.lua callers reaching function.lua entries
// with funcs.call / funcs.async / Executors, on the caller's host (two workers) and on a second
// process.host; results and multiple returns, errors by kind, context and security propagation,
// timeouts, cancellation from the caller and through Future:cancel, and many concurrent calls.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRuntime, type Runtime } from '../src/index.js';
import { luaEntry } from './helpers/lua-entry.js';

const MODS = ['funcs', 'time', 'ctx', 'security'];
const proc = (id: string, body: string) => luaEntry(id, 'process.lua', body, MODS);
const fn = (id: string, body: string) => luaEntry(id, 'function.lua', body, MODS);

const entries: Array<Record<string, unknown>> = [
  { id: 'f:a', kind: 'process.host', host: { workers: 2 } },
  { id: 'f:b', kind: 'process.host', host: { workers: 1 } },
  { id: 'sec:calls', kind: 'security.policy', groups: ['callers'],
    policy: { actions: ['funcs.call'], resources: ['f:add', 'f:whoami'], effect: 'allow' } },
  fn('f:add', `local a, b = ...; return a + b`),
  fn('f:multi', `local a = ...; return a, a * 2, "three"`),
  fn('f:boom', `local x = ...; error("boom " .. tostring(x))`),
  fn('f:notfound', `return nil, errors.new({ kind = errors.NOT_FOUND, message = "no such user" })`),
  fn('f:strerr', `return false, "plain failure"`),
  fn('f:whoami', `
    local a = security.actor()
    return { pid = process.pid(), id = process.id(), values = ctx.all(), actor = a and a:id(),
      can_x = security.can("x.do", "thing") }`),
  fn('f:nested', `local a, b = ...; local r, err = funcs.call("f:add", a, b); if err then return nil, err end; return r * 10`),
  fn('f:sleep', `local ms = ...; time.sleep(ms .. "ms"); return ms`),
  // waits until cancelled; tells the observer named "obs" what it saw
  fn('f:wait_cancel', `
    local tag = ...
    local ev = process.events():receive()
    process.send("obs", "callee", { tag = tag, kind = ev.kind, reason = ev.reason })
    return "cancelled"`),
  // reports its pid to the caller, then holds its worker busy and waits for "go"
  fn('f:hold', `
    local caller = ...
    process.send(caller, "here", process.pid())
    local x = 0
    for i = 1, 2000000 do x = x + i % 3 end
    process.inbox():receive()
    return x`),
  proc('f:notfn', `return 1`),
  // a process called as a function: runs on its meta.default_host
  { ...proc('f:asproc', `local a = ...; return { pid = process.pid(), v = a * 3 }`), meta: { default_host: 'f:b' } },
  proc('f:observer', `
    assert(process.registry.register("obs"))
    local inbox = process.inbox()
    local seen = {}
    while true do
      local m = inbox:receive()
      if m:topic() == "report" then process.send(m:payload():data(), "seen", seen)
      else seen[#seen + 1] = m:payload():data() end
    end`),
];

const callers = [
  proc('c:report', `
    process.send("obs", "report", process.pid())
    return process.inbox():receive():payload():data()`),
  proc('c:basic', `
    eq(funcs.call("f:add", 2, 3), 5, "call")
    local a, b, c = funcs.call("f:multi", 7)
    eq(a, 7); eq(b, 14); eq(c, "three")
    eq(funcs.call("f:nested", 1, 2), 30, "a function calling a function")
    local f = assert(funcs.async("f:add", 40, 2))
    local p, ok = f:response():receive()
    eq(ok, true, "response delivers"); eq(p:data(), 42, "payload data")
    eq(f:is_complete(), true); eq(f:is_canceled(), false)
    local v, err = f:result(); eq(v:data(), 42); eq(err, nil)
    local e, has = f:error(); eq(e, nil); eq(has, false)
    eq(f:channel(), f:response(), "channel is response")
    local m = assert(funcs.async("f:multi", 1))
    local ps = m:channel():receive()
    eq(#ps, 3); eq(ps[1]:data(), 1); eq(ps[2]:data(), 2); eq(ps[3]:data(), "three")
    local rs = m:result(); eq(rs[3]:data(), "three", "result of several values: a table of payloads")
    eq(m:cancel(), false, "a complete future cannot be canceled")
    -- the docs' parallel pattern: three futures, channel.select until all arrived
    local f1, f2, f3 = funcs.async("f:add", 1, 1), funcs.async("f:add", 2, 2), funcs.async("f:sleep", 20)
    local c1, c2, c3 = f1:channel(), f2:channel(), f3:channel()
    local got = {}
    for i = 1, 3 do
      local r = channel.select { c1:case_receive(), c2:case_receive(), c3:case_receive() }
      got[r.channel == c1 and 1 or r.channel == c2 and 2 or 3] = r.value:data()
    end
    eq(got[1], 2); eq(got[2], 4); eq(got[3], 20)
    return true`),
  proc('c:errors', `
    local v, err = funcs.call("f:boom", 7)
    fails("function raised", "Internal", v, err, "boom 7")
    v, err = funcs.call("f:notfound")
    fails("function returned an error", "NotFound", v, err, "no such user")
    v, err = funcs.call("f:strerr")
    fails("function returned a string error", "Internal", v, err, "plain failure")
    v, err = funcs.call("f:nope")
    fails("unknown entry", "NotFound", v, err, "function not found: f:nope")
    v, err = funcs.call("f:notfn")
    fails("non-function entry", "Invalid", v, err, "entry f:notfn is a process.lua, not a function")
    local pr = funcs.call("f:asproc", 5)
    eq(pr.v, 15, "a process.lua with meta.default_host is callable")
    assert(pr.pid:find("^{f:b|0x"), "it ran as a process on its default host: " .. pr.pid)
    v, err = funcs.call("")
    fails("empty id", "Invalid", v, err, "function id is empty")
    v, err = funcs.call("nons")
    fails("no namespace", "Invalid", v, err, "no namespace")
    v, err = funcs.call("f:")
    fails("no name", "Invalid", v, err, "no name")
    v, err = funcs.async("f:nope")
    fails("async of an unknown entry", "NotFound", v, err, "f:nope")
    v, err = funcs.call("f:add", function() end)
    fails("an argument that cannot cross", "Invalid", v, err)
    local f = assert(funcs.async("f:boom", 1))
    local p, ok = f:response():receive()
    eq(p, nil); eq(ok, false, "an error closes the channel empty")
    local e, has = f:error()
    eq(has, true); eq(e:kind(), "Internal")
    local rv, rerr = f:result(); eq(rv, nil); eq(rerr:kind(), "Internal")
    return true`),
  proc('c:ctx', `
    local w = funcs.call("f:whoami")
    eq(w.values.req, "r-1", "caller ctx value inherited")
    eq(w.actor, nil)
    assert(w.pid:find("^{f:whoami#lua%.%d+|0x"), "function frame pid: " .. w.pid)
    eq(w.id, "f:whoami")
    local base = funcs.new()
    local e1 = assert(base:with_context({ trace = "t-1" }))
    local e2 = assert(e1:with_context({ trace = "t-2", extra = true }))
    eq(funcs.call("f:whoami").values.trace, nil, "funcs.call unaffected")
    eq(base:call("f:whoami").values.trace, nil, "the base executor is unchanged")
    local w1 = e1:call("f:whoami"); eq(w1.values.trace, "t-1"); eq(w1.values.req, "r-1", "merged over the caller's")
    local w2 = e2:call("f:whoami"); eq(w2.values.trace, "t-2"); eq(w2.values.extra, true)
    local f = assert(e2:async("f:whoami"))
    eq(f:channel():receive():data().values.trace, "t-2", "async through an executor")
    local admin = security.new_actor("user:admin", { role = "admin" })
    local ex = assert(base:with_actor(admin))
    eq(ex:call("f:whoami").actor, "user:admin", "with_actor")
    local sx = assert(ex:with_scope(security.new_scope()))
    local ws = sx:call("f:whoami")
    eq(ws.actor, "user:admin"); eq(ws.can_x, false, "an empty scope denies everything in the callee")
    local bad, err = base:with_actor("nobody")
    fails("with_actor of a non-actor", "Invalid", bad, err)
    bad, err = base:with_context(5)
    fails("with_context of a non-table", "Invalid", bad, err)
    return true`),
  proc('c:perm', `
    eq(funcs.call("f:add", 1, 1), 2, "granted")
    local v, err = funcs.call("f:multi", 1)
    fails("not granted", "PermissionDenied", v, err, "not allowed to call function: f:multi")
    v, err = funcs.async("f:multi", 1)
    fails("async not granted", "PermissionDenied", v, err)
    local w = funcs.call("f:whoami")
    eq(w.actor, "user:carol", "the callee runs as the caller's actor")
    eq(w.can_x, false, "and under its scope")
    v, err = funcs.new():with_context({ a = 1 })
    fails("funcs.context not granted", "PermissionDenied", v, err)
    v, err = funcs.new():with_actor(security.actor())
    fails("funcs.security not granted", "PermissionDenied", v, err)
    return true`),
  proc('c:hosts', `
    local here = funcs.call("f:whoami")
    eq(funcs.call("f:add", 20, 22), 42, "call on host f:b")
    local there = assert(funcs.new():with_options({ host = "f:a" })):call("f:whoami")
    local f = assert(assert(funcs.new():with_options({ host = "f:a" })):async("f:multi", 3))
    local ps = f:channel():receive()
    eq(ps[2]:data(), 6, "async on the other host")
    local v, err = assert(funcs.new():with_options({ host = "f:none" })):call("f:add", 1, 2)
    fails("unknown host", "Internal", v, err, "host not found")
    return { here = here.pid, there = there.pid }`),
  proc('c:timeout', `
    local ex = assert(funcs.new():with_options({ timeout = 50 }))
    local v, err = ex:call("f:wait_cancel", "timed")
    fails("timeout", "Timeout", v, err, "timed out after 50 ms: f:wait_cancel")
    eq(assert(funcs.new():with_options({ timeout = "5s" })):call("f:add", 1, 2), 3, "within a duration-string timeout")
    local f = assert(ex:async("f:sleep", 5000))
    local p, ok = f:channel():receive()
    eq(ok, false); eq(f:is_complete(), true)
    local e, has = f:error(); eq(has, true); eq(e:kind(), "Timeout")
    local bad, berr = funcs.new():with_options({ timeout = "soon" })
    fails("bad timeout", "Invalid", bad, berr)
    return true`),
  proc('c:fcancel', `
    local f = assert(funcs.async("f:wait_cancel", "future"))
    eq(f:is_canceled(), false)
    eq(f:cancel(), true)
    eq(f:is_canceled(), true); eq(f:is_complete(), true)
    local v, err = f:result()
    fails("canceled result", "Canceled", v, err)
    local p, ok = f:channel():receive(); eq(ok, false)
    eq(f:cancel(), false, "a second cancel does nothing")
    return true`),
  proc('c:victim', `
    assert(process.registry.register("victim"))
    -- two calls in flight (one async, one sync) when the test cancels this process
    local f = assert(funcs.async("f:wait_cancel", "victim-async"))
    local v, err = funcs.call("f:wait_cancel", "victim-call")
    -- the CANCEL ended both calls at once (the callees were cancelled, not waited for)
    local e2 = f:error()
    return { call = err and err:kind(), async = e2 and e2:kind(), canceled = f:is_canceled() }`),
  proc('c:leaver', `
    -- returns while its call is still running: the kernel cancels the call
    assert(funcs.async("f:wait_cancel", "leaver"))
    return true`),
  proc('c:spread', `
    local k = ...
    assert(process.registry.register("spreader"))
    local me = process.pid()
    local fs = {}
    for i = 1, k do fs[i] = assert(funcs.async("f:hold", me)) end
    local inbox = process.inbox()
    local pids, go = {}, false
    while #pids < k do
      local m = inbox:receive()
      if m:topic() == "here" then pids[#pids + 1] = m:payload():data() else go = true end
    end
    -- a long resume: this worker shares its queued calls with the idle one
    local x = 0
    for i = 1, 3000000 do x = x + i % 3 end
    while not go do go = inbox:receive():topic() == "go" end
    for _, p in ipairs(pids) do process.send(p, "go") end
    local n = 0
    for i = 1, k do
      local p, ok = fs[i]:channel():receive()
      if ok and p:data() > 0 then n = n + 1 end
    end
    return n`),
];

let rt: Runtime;
before(async () => {
  rt = await createRuntime({ entries: [...entries, ...callers] });
  await rt.spawn('f:observer', 'f:b');
  while (!rt.lookup('obs')) await sleep(5);
});
after(async () => { await rt.stop(1000); });

function sleep(ms: number): Promise<void> { return new Promise((res) => setTimeout(res, ms)); }
type Seen = { tag: string; kind: string; reason: string };
// What the observer was told by cancelled callees, once it holds `n` reports (polled).
async function seenBy(n: number, tag: string): Promise<Seen[]> {
  let seen: Seen[] = [];
  for (let i = 0; i < 400; i++) {
    seen = (await rt.exec('c:report', [], { host: 'f:b' }) as Seen[]).filter((x) => x.tag.startsWith(tag));
    if (seen.length >= n) break;
    await sleep(10);
  }
  return seen.sort((a, b) => a.tag.localeCompare(b.tag));
}

test('call and async on the caller host: results, multiple returns, nested calls, parallel select', async () => {
  assert.equal(await rt.exec('c:basic', [], { host: 'f:a' }), true);
});

test('errors: the function\'s own, unknown and non-function entries, bad ids, by kind', async () => {
  assert.equal(await rt.exec('c:errors', [], { host: 'f:a' }), true);
});

test('context: values, actor and scope propagate; executors override them immutably', async () => {
  assert.equal(await rt.exec('c:ctx', [], { host: 'f:a', ctx: { values: { req: 'r-1' } } }), true);
});

test('permission funcs.call: a caller with a scope is allowed only what its policies grant', async () => {
  const carol = { actor: { id: 'user:carol', meta: {} }, groups: ['sec:callers'] };
  assert.equal(await rt.exec('c:perm', [], { host: 'f:a', ctx: { security: carol } }), true);
});

test('two hosts: calls from a process on f:b run on f:b; with_options{host} runs them on f:a', async () => {
  const res = await rt.exec('c:hosts', [], { host: 'f:b' }) as { here: string; there: string };
  const st = await rt.stats();
  const tidOf = (pid: string) => Number(/#lua\.(\d+)\|/.exec(pid)![1]);
  assert.equal(st.find((s) => s.tid === tidOf(res.here))?.host, 'f:b', `${res.here} ran on f:b`);
  assert.equal(st.find((s) => s.tid === tidOf(res.there))?.host, 'f:a', `${res.there} ran on f:a`);
});

test('timeout via with_options ends the call with Timeout and cancels the callee', async () => {
  assert.equal(await rt.exec('c:timeout', [], { host: 'f:a' }), true);
  assert.deepEqual(await seenBy(1, 'timed'), [{ tag: 'timed', kind: 'pid.cancel', reason: 'function call timed out' }]);
});

test('Future:cancel cancels the callee; a cancelled caller cancels the calls it waits for', async () => {
  assert.equal(await rt.exec('c:fcancel', [], { host: 'f:a' }), true);
  assert.deepEqual(await seenBy(1, 'future'), [{ tag: 'future', kind: 'pid.cancel', reason: 'future canceled' }]);
  const done = rt.run('c:victim', [], { host: 'f:a' });
  // both calls are running once each has registered nothing; wait until the victim is named and
  // its two callees are alive (the observer + victim + 2 callees on the hosts)
  while (!rt.lookup('victim')) await sleep(5);
  for (let i = 0; i < 400; i++) {
    const n = (await rt.stats()).reduce((a, s) => a + s.processes, 0);
    if (n >= 4) break;
    await sleep(5);
  }
  rt.cancel('victim', 5000);
  const exit = await done;
  assert.deepEqual(exit.value, { call: 'Canceled', async: 'Canceled', canceled: false },
    'both calls ended Canceled as soon as the caller got its CANCEL');
  assert.deepEqual(await seenBy(2, 'victim'), [
    { tag: 'victim-async', kind: 'pid.cancel', reason: 'caller context canceled' },
    { tag: 'victim-call', kind: 'pid.cancel', reason: 'caller context canceled' },
  ]);
});

test('a caller that exits leaves no call running: its callees are cancelled', async () => {
  assert.equal(await rt.exec('c:leaver', [], { host: 'f:a' }), true);
  assert.deepEqual(await seenBy(1, 'leaver'), [{ tag: 'leaver', kind: 'pid.cancel', reason: 'caller context canceled' }]);
});

test('many concurrent async calls from one process spread over the host\'s workers', async () => {
  const k = 8;
  const fa = async () => (await rt.stats()).filter((s) => s.host === 'f:a');
  // moved to the other worker: stolen by it, or shared with it by the computing spawner
  const stolen = (st: Awaited<ReturnType<typeof fa>>) => st.reduce((a, s) => a + s.queue.stolen + s.queue.shared, 0);
  const before = stolen(await fa());
  const done = rt.exec('c:spread', [k], { host: 'f:a' });
  let spread = false;
  for (let i = 0; i < 400 && !spread; i++) {
    await sleep(5);
    const st = await fa();
    // (other tests' callees may still be winding down, so count what moved, not what is alive)
    spread = rt.lookup('spreader') !== undefined && st.every((s) => s.processes > 0) && stolen(st) > before;
  }
  assert.ok(spread, `calls spread over both workers of f:a: ${JSON.stringify(await rt.stats())}`);
  rt.send('spreader', 'go');
  assert.equal(await done, k, 'every call returned its result');
});
