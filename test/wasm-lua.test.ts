// WebAssembly reached from Lua, through real processes and the fixtures of test/fixtures/wasm
// (built by scripts/build-wasm-fixtures.mjs): funcs.call / funcs.async of function.wasm and
// function.wat entries (values mapped both ways, errors by kind, the funcs.call permission,
// cancellation stopping a looping guest), and process.wasm as a PID (spawn from Lua and from JS,
// EXIT value or error, monitors, links, trap_links, terminate, cancel with its deadline).
// No timing thresholds: outcomes, kinds, messages, counts. A guest that loops is known stopped
// when the runtime has no WASM call left (a call leaves the main thread's table only when its
// pool task settled, which for `loop br 0` means piscina terminated the thread running it).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRuntime, type Runtime } from '../src/index.js';
import { luaEntry, until } from './helpers/lua-entry.js';
import { MANIFEST, WASM_ROOT as ROOT } from './helpers/wasm-app.js';

const proc = (id: string, body: string) => luaEntry(id, 'process.lua', body, ['funcs', 'time']);


const fn = (name: string, method: string, extra: Record<string, unknown> = {}) =>
  ({ kind: 'function.wasm', fs: 'w:bin', path: `/${name}.wasm`, hash: MANIFEST[`${name}.wasm`], method, ...extra });
const pw = (name: string, method: string, extra: Record<string, unknown> = {}) => ({ ...fn(name, method, extra), kind: 'process.wasm' });

const entries: Array<Record<string, unknown>> = [
  { id: 'h:a', kind: 'process.host', host: { workers: 2 } },
  { id: 'h:b', kind: 'process.host', host: { workers: 1 } },
  { id: 'w:bin', kind: 'fs.directory', directory: 'wasm' },
  { id: 'sec:wasm', kind: 'security.policy', groups: ['wasm_callers'],
    policy: { actions: ['funcs.call'], resources: ['w:answer'], effect: 'allow' } },
  { id: 'w:answer', kind: 'function.wat', method: 'answer', wit: 'answer: func() -> s32;', pool: { type: 'inline' },
    source: '(module (func (export "answer") (result i32) i32.const 42))' },
  { id: 'w:core_compute', ...fn('core-math', 'compute', { wit: 'compute: func(a: s32, b: s32) -> s32;' }) },
  { id: 'w:compute', ...fn('calc', 'compute', { pool: { type: 'lazy', max_size: 2 } }) },
  { id: 'w:echo_user', ...fn('calc', 'echo-user') },
  { id: 'w:reverse', ...fn('calc', 'reverse') },
  { id: 'w:greet', ...fn('calc', 'greet') },
  { id: 'w:maybe_double', ...fn('calc', 'maybe-double') },
  { id: 'w:checked_div', ...fn('calc', 'checked-div') },
  { id: 'w:classify', ...fn('calc', 'classify') },
  { id: 'w:perms_of', ...fn('calc', 'perms-of') },
  { id: 'w:area', ...fn('calc', 'area') },
  { id: 'w:boom', ...fn('calc', 'boom') },
  { id: 'w:mismatch', ...fn('core-math', 'compute', { hash: `sha256:${'0'.repeat(64)}`, wit: 'compute: func(a: s32, b: s32) -> s32;' }) },
  // one thread, a new instance per call: a later call runs only if the looping one was stopped
  { id: 'w:spin', ...fn('calc', 'spin', { pool: { type: 'inline' } }) },
  { id: 'w:spin_limited', ...fn('calc', 'spin', { limits: { max_execution_ms: 100 }, pool: { type: 'inline' } }) },
  { id: 'p:compute', ...pw('calc', 'compute') },
  { id: 'p:echo_user', ...pw('calc', 'echo-user') },
  { id: 'p:boom', ...pw('calc', 'boom') },
  { id: 'p:spin', ...pw('calc', 'spin') },
  { id: 'p:sleep', ...pw('sleeper', 'test-sleep#sleep-ms', { imports: ['wasi:io', 'wasi:clocks'] }) },
  { id: 'p:say', ...pw('sys', 'say', { imports: ['wasi:cli', 'wasi:io'] }) },
  { id: 'p:mismatch', ...pw('calc', 'compute', { hash: `sha256:${'0'.repeat(64)}` }) },
  proc('c:ping', `return "pong"`),
];

const callers = [
  proc('c:values', `
    eq(funcs.call("w:answer"), 42, "function.wat")
    eq(funcs.call("w:core_compute", 6, 7), 42, "core module through its wit")
    eq(funcs.call("w:compute", 6, 7), 42, "component")
    local u = funcs.call("w:echo_user", { id = 7, name = "ann", tags = { "a", "b" }, active = true, nick = "an" })
    eq(u.id, 7); eq(u.name, "ann"); eq(#u.tags, 2); eq(u.tags[2], "b"); eq(u.active, true); eq(u.nick, "an")
    local u2 = funcs.call("w:echo_user", { id = 1, name = "x", tags = { "t" }, active = false })
    eq(u2.nick, nil, "option none is nil")
    local r = funcs.call("w:reverse", { 1, 2, 3 })
    eq(#r, 3); eq(r[1], 3); eq(r[3], 1)
    eq(funcs.call("w:greet", "wippy"), "hello, wippy")
    eq(funcs.call("w:maybe_double", 21), 42)
    eq(funcs.call("w:maybe_double", nil), nil, "none in, none out")
    eq(funcs.call("w:checked_div", 84, 2), 42, "result ok")
    local v, err = funcs.call("w:checked_div", 1, 0)
    fails("result err", "Internal", v, err, "division by zero")
    eq(err:details().payload, "division by zero", "the error payload is kept")
    eq(funcs.call("w:classify", -5), "negative", "enum")
    local p = funcs.call("w:perms_of", 5)
    eq(p.read, true); eq(p.write, false); eq(p.exec, true)
    eq(funcs.call("w:area", { tag = "square", val = 3 }), 9, "variant")
    local f = assert(funcs.async("w:compute", 21, 2))
    local pl, ok = f:channel():receive()
    eq(ok, true); eq(pl:data(), 42, "async: the Future's payload")
    eq(f:is_complete(), true)
    -- several in flight at once, answered in any order
    local fs = {}
    for i = 1, 6 do fs[i] = assert(funcs.async("w:compute", i, 3)) end
    for i = 1, 6 do eq(fs[i]:channel():receive():data(), i * 3, "call " .. i) end
    return true`),
  proc('c:errors', `
    local v, err = funcs.call("w:boom")
    fails("trap", "Internal", v, err, "wasm trap")
    assert(tostring(err):find("unreachable", 1, true), tostring(err))
    v, err = funcs.call("w:mismatch", 1, 2)
    fails("hash mismatch", "Invalid", v, err, "does not match its hash")
    v, err = funcs.call("w:core_compute", "six", 7)
    fails("bad argument", "Invalid", v, err)
    v, err = funcs.call("w:nope")
    fails("unknown", "NotFound", v, err, "function not found: w:nope")
    v, err = funcs.call("p:compute", 6, 7)
    fails("a process.wasm is not a function", "Invalid", v, err, "entry p:compute is a process.wasm, not a function")
    local f = assert(funcs.async("w:boom"))
    local pl, ok = f:channel():receive()
    eq(ok, false, "an error closes the channel empty")
    local e = f:error(); eq(e:kind(), "Internal")
    eq(funcs.call("w:compute", 2, 3), 6, "a component still serves after a trap")
    return true`),
  proc('c:perm', `
    eq(funcs.call("w:answer"), 42, "granted")
    local v, err = funcs.call("w:compute", 6, 7)
    fails("not granted", "PermissionDenied", v, err, "not allowed to call function: w:compute")
    v, err = funcs.async("w:compute", 6, 7)
    fails("async not granted", "PermissionDenied", v, err)
    return true`),
  proc('c:timeout', `
    local which = ...
    if which == "executor" then
      local v, err = assert(funcs.new():with_options({ timeout = 100 })):call("w:spin")
      fails("executor timeout", "Timeout", v, err, "function call timed out after 100 ms: w:spin")
    else
      local v, err = funcs.call("w:spin_limited")
      fails("max_execution_ms", "Timeout", v, err, "exceeded max_execution_ms (100 ms)")
    end
    return true`),
  proc('c:fcancel', `
    local f = assert(funcs.async("w:spin"))
    time.sleep("20ms")
    eq(f:cancel(), true)
    local v, err = f:result()
    fails("canceled", "Canceled", v, err, "function call canceled: w:spin")
    return true`),
  proc('c:victim', `
    assert(process.registry.register("wvictim"))
    local v, err = funcs.call("w:spin")
    return err and err:kind()`),
  proc('c:leaver', `
    assert(funcs.async("w:spin"))
    return true`),
  // process.wasm from Lua
  proc('c:spawn', `
    local pid = process.spawn_monitored("p:compute", "h:a", 6, 7)
    assert(pid:find("^{h:a|0x"), "a process.wasm PID is a process PID: " .. pid)
    local ev = process.events():receive()
    eq(ev.kind, process.event.EXIT); eq(ev.from, pid); eq(ev.result.value, 42, "EXIT value")
    local rec = process.spawn_monitored("p:echo_user", "h:b", { id = 3, name = "z", tags = {"q"}, active = true })
    ev = process.events():receive()
    eq(ev.from, rec); eq(ev.result.value.name, "z", "a record argument and result")
    local boom = process.spawn_monitored("p:boom", "h:a")
    ev = process.events():receive()
    eq(ev.from, boom); eq(ev.result.error:kind(), "Internal")
    assert(tostring(ev.result.error):find("wasm trap", 1, true) and tostring(ev.result.error):find("unreachable", 1, true),
      tostring(ev.result.error))
    local bad = process.spawn_monitored("p:mismatch", "h:a", 1, 2)
    ev = process.events():receive()
    eq(ev.from, bad)
    assert(tostring(ev.result.error):find("does not match its hash", 1, true), tostring(ev.result.error))
    return true`),
  proc('c:links', `
    process.set_options({ trap_links = true })
    local pid = process.spawn_linked("p:boom", "h:a")
    local ev = process.events():receive()
    eq(ev.kind, process.event.LINK_DOWN); eq(ev.from, pid)
    assert(tostring(ev.result.error):find("wasm trap", 1, true), tostring(ev.result.error))
    -- a linked process.wasm that returns normally is just unlinked
    local ok = process.spawn_linked_monitored("p:compute", "h:b", 1, 2)
    ev = process.events():receive()
    eq(ev.kind, process.event.EXIT); eq(ev.result.value, 2)
    return true`),
  proc('c:linked', `
    process.spawn_linked("p:boom", "h:b")
    process.inbox():receive() -- killed by the LINK_DOWN first
    return "not reached"`),
  proc('c:terminate', `
    local pid = process.spawn_monitored("p:spin", "h:a")
    process.registry.register("spinner_parent")
    process.inbox():receive() -- the test says when the guest is running and Lua still answers
    assert(process.terminate(pid))
    local ev = process.events():receive()
    eq(ev.kind, process.event.EXIT); eq(ev.from, pid)
    return tostring(ev.result.error)`),
  proc('c:cancel', `
    -- a CANCEL's deadline not reached: the guest finishes and exits normally
    local s = process.spawn_monitored("p:sleep", "h:a", 50)
    assert(process.cancel(s, "10s"))
    local ev = process.events():receive()
    eq(ev.from, s); eq(ev.result.value, 50, "finished within the deadline")
    -- a looping guest: stopped when the deadline passes
    local pid = process.spawn_monitored("p:spin", "h:a")
    assert(process.cancel(pid, "50ms"))
    ev = process.events():receive()
    eq(ev.from, pid)
    return tostring(ev.result.error)`),
  proc('c:linked_lua', `
    -- a process.wasm linked to a Lua process that fails dies with it (it does not trap links)
    local pid = process.spawn_monitored("p:spin", "h:a")
    process.registry.register("linker")
    process.link(pid)
    process.inbox():receive()
    error("the Lua side fails")`),
];

let rt: Runtime;
const out: Array<[number, string]> = [];
before(async () => {
  rt = await createRuntime({ entries: [...entries, ...callers], root: ROOT,
    write: (fd, b) => { out.push([fd, Buffer.from(b).toString()]); } });
});
after(async () => { await rt.stop(1000); });

const wasmCalls = () => rt.internals().wasmCalls;

test('funcs.call / funcs.async of function.wat and function.wasm: values mapped both ways', async () => {
  assert.equal(await rt.exec('c:values', [], { host: 'h:a' }), true);
});

test('errors as nil, err with the documented kinds; the pool keeps serving', async () => {
  assert.equal(await rt.exec('c:errors', [], { host: 'h:a' }), true);
});

test('the funcs.call permission is checked on the caller, as for Lua functions', async () => {
  const carol = { actor: { id: 'user:carol', meta: {} }, groups: ['sec:wasm_callers'] };
  assert.equal(await rt.exec('c:perm', [], { host: 'h:a', ctx: { security: carol } }), true);
});

test('an executor timeout and max_execution_ms stop a looping guest', async () => {
  assert.equal(await rt.exec('c:timeout', ['executor'], { host: 'h:a' }), true);
  await until('the timed-out call stopped', () => wasmCalls() === 0);
  assert.equal(await rt.exec('c:timeout', ['limit'], { host: 'h:b' }), true);
  await until('the limited call stopped', () => wasmCalls() === 0);
});

test('Future:cancel, a cancelled caller and an exiting caller stop a looping guest', async () => {
  assert.equal(await rt.exec('c:fcancel', [], { host: 'h:a' }), true);
  await until('the cancelled future\'s call stopped', () => wasmCalls() === 0);
  const done = rt.run('c:victim', [], { host: 'h:a' });
  await until('the victim\'s guest runs', () => wasmCalls() === 1 && rt.lookup('wvictim') !== undefined);
  // Lua on the same host keeps answering while the guest loops
  assert.equal(await rt.exec('c:ping', [], { host: 'h:a' }), 'pong');
  rt.cancel('wvictim', 5000);
  assert.equal((await done).value, 'Canceled', 'the call ended Canceled when its caller got a CANCEL');
  await until('the victim\'s call stopped', () => wasmCalls() === 0);
  assert.equal(await rt.exec('c:leaver', [], { host: 'h:b' }), true);
  await until('the leaver\'s call stopped', () => wasmCalls() === 0);
  // the one-thread inline pool serves again: the looping calls were all stopped
  assert.equal(await rt.exec('c:timeout', ['executor'], { host: 'h:a' }), true);
});

test('process.wasm from Lua: spawn_monitored gives the EXIT value; a trap or a bad hash is an EXIT error', async () => {
  assert.equal(await rt.exec('c:spawn', [], { host: 'h:b' }), true);
});

test('process.wasm links: LINK_DOWN with trap_links; an untrapped link kills the Lua side; a Lua failure kills the guest', async () => {
  assert.equal(await rt.exec('c:links', [], { host: 'h:a' }), true);
  const linked = await rt.run('c:linked', [], { host: 'h:a' });
  assert.match(String(linked.error?.message), /linked process failed/);
  const lua = rt.run('c:linked_lua', [], { host: 'h:b' });
  await until('the guest loops, linked', () => wasmCalls() === 1 && rt.lookup('linker') !== undefined);
  rt.send('linker', 'go');
  assert.match(String((await lua).error?.message), /the Lua side fails/);
  await until('the linked guest was stopped', () => wasmCalls() === 0);
});

test('terminate stops a looping process.wasm while Lua processes on the same host keep answering', async () => {
  const done = rt.run('c:terminate', [], { host: 'h:a' });
  await until('the guest loops', () => wasmCalls() === 1 && rt.lookup('spinner_parent') !== undefined);
  for (let i = 0; i < 5; i++) assert.equal(await rt.exec('c:ping', [], { host: 'h:a' }), 'pong');
  rt.send('spinner_parent', 'go');
  assert.match(String((await done).value), /process terminated/);
  await until('the terminated guest stopped', () => wasmCalls() === 0);
});

test('cancel with a deadline: the guest may finish before it; a looping one is stopped after it', async () => {
  assert.match(String(await rt.exec('c:cancel', [], { host: 'h:a' })), /process terminated/);
  await until('the cancelled guest stopped', () => wasmCalls() === 0);
});

test('process.wasm from the embedding API: rt.exec / rt.run / rt.spawn + terminate; guest output to the runtime', async () => {
  assert.equal(await rt.exec('p:compute', [6, 7], { host: 'h:a' }), 42);
  assert.equal(await rt.exec('w:compute', [21, 2]), 42, 'a function.wasm run as a job');
  const boom = await rt.run('p:boom', [], { host: 'h:b' });
  assert.equal(boom.error?.kind, 'Internal');
  assert.match(String(boom.error?.message), /wasm trap.*unreachable/);
  let exit: { error?: Error } | undefined;
  const pid = await rt.spawn('p:spin', 'h:a', [], (e) => { exit = e; });
  assert.match(pid, /^\{h:a\|0x/);
  await until('the spawned guest loops', () => wasmCalls() === 1);
  rt.terminate(pid);
  await until('its EXIT', () => exit !== undefined);
  assert.match(String(exit!.error?.message), /process terminated/);
  await until('the guest stopped', () => wasmCalls() === 0);
  assert.equal(await rt.exec('p:say', ['said by the guest\n'], { host: 'h:a' }), true);
  assert.deepEqual(out.filter(([, s]) => s.includes('said by the guest')), [[1, 'said by the guest\n']]);
});
