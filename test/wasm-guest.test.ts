// What a WebAssembly guest sees of the runtime, through real processes and the `guest` and `grow`
// fixtures (test/fixtures/wasm/src, built by scripts/build-wasm-fixtures.mjs):
//   * a process.wasm guest reads its own mailbox and sends (wippy:mailbox): echoes in order, a
//     receive timeout, a CANCEL observed by the guest, a send refused by the kernel;
//   * the caller's context (wippy:context): actor, scope, values — for function calls and processes;
//   * limits.memory enforced at memory.grow, core and component, with a trap naming the limit;
//   * waiting guests: under JSPI (Node 24) more guests wait (in receive, on the monotonic clock) at
//     once than the pool has threads, stopping one suspended guest leaves the others on its thread
//     alone, and stopping one that holds its thread ends the guests suspended on it with a reason;
//     on the fallback (Node 20, or WIPPY_WASM_JSPI=0) each waiting guest parks its own thread (the
//     JSPI-only tests say so and skip).
// No timing thresholds: outcomes, kinds, messages, counts, order.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import os from 'node:os';
import { createRuntime, type Runtime } from '../src/index.js';
import { jspiEnabled } from '../src/wasm/jspi.js';
import { luaEntry, until } from './helpers/lua-entry.js';
import { MANIFEST, WASM_ROOT as ROOT } from './helpers/wasm-app.js';

const JSPI = jspiEnabled();
const THREADS = os.availableParallelism(); // the process pool's thread bound

const proc = (id: string, body: string) => luaEntry(id, 'process.lua', body, ['funcs', 'time', 'security']);
const GUEST = { fs: 'w:bin', path: '/guest.wasm', hash: MANIFEST['guest.wasm'], imports: ['wippy:mailbox', 'wippy:context'] };
const pg = (method: string, extra: Record<string, unknown> = {}) => ({ kind: 'process.wasm', ...GUEST, method, ...extra });
const fg = (method: string) => ({ kind: 'function.wasm', ...GUEST, method, pool: { type: 'inline' } });

const entries: Array<Record<string, unknown>> = [
  { id: 'h:a', kind: 'process.host', host: { workers: 2 } },
  { id: 'w:bin', kind: 'fs.directory', directory: 'wasm' },
  { id: 'sec:reader', kind: 'security.policy', groups: ['readers'],
    policy: { actions: ['*'], resources: ['*'], effect: 'allow' } },
  { id: 'sec:no_send', kind: 'security.policy', groups: ['mute'],
    policy: { actions: ['process.send'], resources: ['*'], effect: 'deny' } },
  { id: 'p:serve', ...pg('serve') },
  { id: 'p:quiet', ...pg('count-until-quiet') },
  { id: 'p:actor', ...pg('actor') },
  { id: 'p:serve_limited', ...pg('serve', { limits: { max_execution_ms: 100 } }) },
  { id: 'p:serve_small', ...pg('serve', { limits: { memory: '64KiB' } }) },
  { id: 'p:sleep', kind: 'process.wasm', fs: 'w:bin', path: '/sleeper.wasm', hash: MANIFEST['sleeper.wasm'],
    method: 'test-sleep#sleep-ms', imports: ['wasi:io', 'wasi:clocks'] },
  { id: 'w:actor', ...fg('actor') },
  { id: 'w:scope', ...fg('scope') },
  { id: 'w:value', ...fg('value') },
  { id: 'w:serve', ...fg('serve') },
  { id: 'w:grow', kind: 'function.wasm', fs: 'w:bin', path: '/grow.wasm', hash: MANIFEST['grow.wasm'], method: 'grow',
    wit: 'grow: func(pages: u32) -> s32;', limits: { memory: '256KiB' }, pool: { type: 'inline' } },
  proc('c:echo', `
    local pid = process.spawn_monitored("p:serve", "h:a")
    for i = 1, 3 do assert(process.send(pid, "t" .. i, { n = i, s = "x" .. i })) end
    local inbox = process.inbox()
    for i = 1, 3 do
      local m = inbox:receive()
      eq(m:from(), pid, "sent by the guest's process"); eq(m:topic(), "t" .. i, "in order")
      local d = m:payload():data()
      eq(d.n, i); eq(d.s, "x" .. i)
    end
    assert(process.send(pid, "stop"))
    local ev = process.events():receive()
    eq(ev.kind, process.event.EXIT); eq(ev.from, pid); eq(ev.result.value, 3, "the guest's count")
    return true`),
  proc('c:quiet', `
    local pid = process.spawn_monitored("p:quiet", "h:a", 300)
    process.send(pid, "a", 1); process.send(pid, "b", 2)
    local ev = process.events():receive()
    eq(ev.from, pid); eq(ev.result.value, 2, "two messages, then a receive that timed out")
    return true`),
  proc('c:cancel', `
    local pid = process.spawn_monitored("p:serve", "h:a")
    process.send(pid, "ping", "first")
    eq(process.inbox():receive():topic(), "ping")
    assert(process.cancel(pid, "10s"))
    -- the guest received the CANCEL as an event message and echoed it: topic = the event kind
    local m = process.inbox():receive()
    eq(m:topic(), process.event.CANCEL, "the guest saw its CANCEL")
    eq(m:payload():data().kind, process.event.CANCEL)
    process.send(pid, "stop")
    local ev = process.events():receive()
    eq(ev.from, pid); eq(ev.result.value, 2, "it finished before the deadline")
    return true`),
  proc('c:mute', `
    -- the guest sends as its process: a process whose scope denies process.send cannot
    local security = require("security")
    local sp = process.with_context({}):with_actor(security.new_actor("user:mute", {}))
      :with_scope(assert(security.named_scope("sec:mute")))
    local pid = sp:spawn_monitored("p:serve", "h:a")
    process.send(pid, "ping", 1)
    local ev = process.events():receive()
    eq(ev.from, pid)
    return tostring(ev.result.error)`),
  proc('c:ctx', `
    eq(funcs.call("w:actor"), "user:dana", "the caller's actor")
    local scope = funcs.call("w:scope")
    eq(#scope, 1); eq(scope[1], "sec:reader", "the caller's scope")
    eq(funcs.call("w:value", "tenant"), '"acme"', "a context value as JSON text")
    eq(funcs.call("w:value", "limits"), '{"max":3}')
    eq(funcs.call("w:value", "missing"), nil)
    local v, err = funcs.call("w:serve")
    fails("a function has no mailbox", "Invalid", v, err, "only for process.wasm")
    return true`),
  proc('c:grow', `
    eq(funcs.call("w:grow", 3), 1, "1 + 3 pages = the limit: allowed, the old size back")
    local v, err = funcs.call("w:grow", 4)
    fails("past the limit", "Internal", v, err, "w:grow: wasm trap: memory.grow refused: growing by 4 page(s) of 64 KiB would pass limits.memory 262144 bytes")
    -- a component: the host lowers a long string into guest memory, cabi_realloc grows
    local pid = process.spawn_monitored("p:serve_small", "h:a")
    process.send(pid, "big", string.rep("x", 100000))
    local ev = process.events():receive()
    eq(ev.from, pid)
    return tostring(ev.result.error)`),
  proc('c:many', `
    -- n guests all waiting in receive at once; each echoes, then each stops
    local n = ...
    local pids = {}
    for i = 1, n do pids[i] = process.spawn_monitored("p:serve", "h:a"); process.send(pids[i], "ping", i) end
    local seen = {}
    for i = 1, n do
      local m = process.inbox():receive()
      seen[m:payload():data()] = m:from()
      print("c:many: echo " .. i .. " of " .. n)
    end
    for i = 1, n do eq(seen[i], pids[i], "echo " .. i) end
    print("c:many: " .. n .. " echoes")
    -- terminate one waiting guest: the others (some share its thread under JSPI) go on
    assert(process.terminate(pids[1]))
    local ev = process.events():receive()
    eq(ev.from, pids[1]); assert(tostring(ev.result.error):find("process terminated", 1, true), tostring(ev.result.error))
    print("c:many: the first terminated")
    for i = 2, n do process.send(pids[i], "again", i) end
    -- a guest that ends instead of answering (it shared a thread that was replaced) fails here,
    -- saying so, rather than leaving this loop waiting for its answer
    local again, evs, inbox = 0, process.events(), process.inbox()
    while again < n - 1 do
      local r = channel.select({ inbox:case_receive(), evs:case_receive() })
      if r.channel == evs then
        error("guest " .. tostring(r.value.from) .. " ended before answering again: " .. tostring(r.value.result and r.value.result.error))
      end
      eq(r.value:topic(), "again"); again = again + 1
      print("c:many: again " .. again)
    end
    for i = 2, n do process.send(pids[i], "stop") end
    local done = 0
    for i = 2, n do
      ev = process.events():receive()
      eq(ev.result.value, 2, "each echoed twice"); done = done + 1
      print("c:many: stopped " .. done)
    end
    return again + done`),
  proc('c:spinner', `
    -- n guests waiting; one is told to loop (it holds its thread), then terminated. Its thread is
    -- replaced: under JSPI the guests suspended on that thread end with an Internal error that
    -- says so; every other guest still answers and exits normally.
    local n = ...
    local pids = {}
    for i = 1, n do pids[i] = process.spawn_monitored("p:serve", "h:a"); process.send(pids[i], "ping", i) end
    for i = 1, n do eq(process.inbox():receive():topic(), "ping") end
    process.send(pids[1], "spin")
    time.sleep("50ms") -- let it start spinning (if it has not, terminate stops it waiting: same outcome)
    assert(process.terminate(pids[1]))
    local ev = process.events():receive()
    eq(ev.from, pids[1]); assert(tostring(ev.result.error):find("process terminated", 1, true))
    for i = 2, n do process.send(pids[i], "again", i) end
    local evs, inbox = process.events(), process.inbox()
    local killed, served, pending = 0, 0, n - 1
    while pending > 0 do
      local r = channel.select({ evs:case_receive(), inbox:case_receive() })
      if r.channel == inbox then
        process.send(r.value:from(), "stop")
      else
        ev = r.value
        if ev.result.error then
          local m = tostring(ev.result.error)
          assert(m:find("stopped with its pool thread: another guest sharing the thread was stopped while running", 1, true), m)
          killed = killed + 1
        else
          eq(ev.result.value, 2, "echoed ping and again"); served = served + 1
        end
        pending = pending - 1
      end
    end
    return { killed = killed, served = served }`),
];

// What the processes print (the JSPI tests print their stage), kept for the watchdog below.
const printed: string[] = [];
const decoder = new TextDecoder();

let rt: Runtime;
before(async () => {
  rt = await createRuntime({ entries, root: ROOT, write: (_fd, bytes) => { printed.push(decoder.decode(bytes)); } });
});
after(async () => { await rt.stop(1000); });

const wasmCalls = () => rt.internals().wasmCalls;

// A diagnostic, not a limit: once, on Node 24 under the full suite, the first JSPI test below
// waited until the suite's 300 s timeout, and nothing said where. If `p` has not settled after
// 60 s this prints (to stderr, every 60 s, and keeps waiting) the stage the test's process
// printed last, the calls in flight and the pools' threads and queues.
async function watched<T>(what: string, p: Promise<T>): Promise<T> {
  const say = () => console.error(`# ${what}: still waiting; printed last: ${JSON.stringify(printed.slice(-3))}; ` +
    `wasm calls ${wasmCalls()}; pools ${JSON.stringify(rt.internals().wasmPools)}`);
  const timer = setInterval(say, 60_000);
  try { return await p; } finally { clearInterval(timer); }
}

test('a process.wasm guest reads its mailbox and sends: echoes in order, from its own PID', async () => {
  assert.equal(await rt.exec('c:echo', [], { host: 'h:a' }), true);
});

test('a guest receive with a timeout returns none when nothing comes', async () => {
  assert.equal(await rt.exec('c:quiet', [], { host: 'h:a' }), true);
});

test('a guest observes its CANCEL (received as an event message) and finishes before the deadline', async () => {
  assert.equal(await rt.exec('c:cancel', [], { host: 'h:a' }), true);
});

test('a guest sends with its process\'s permissions: a denied send is the guest\'s error', async () => {
  const err = String(await rt.exec('c:mute', [], { host: 'h:a' }));
  assert.match(err, /wasm trap.*unreachable/, 'the fixture traps when its send is refused');
  await until('the call ended', () => wasmCalls() === 0);
});

test('the caller\'s context is visible to the guest: actor, scope, values (functions and processes)', async () => {
  const dana = { actor: { id: 'user:dana', meta: {} }, groups: ['sec:readers'] };
  assert.equal(await rt.exec('c:ctx', [], { host: 'h:a', ctx: { security: dana, values: { tenant: 'acme', limits: { max: 3 } } } }), true);
  assert.equal(await rt.exec('p:actor', [], { host: 'h:a', ctx: { security: dana } }), 'user:dana');
  assert.equal((await rt.exec('p:actor', [], { host: 'h:a' })) ?? null, null, 'no actor: none');
});

test('limits.memory is enforced at memory.grow: a trap naming the entry and the limit (core and component)', async () => {
  const err = String(await rt.exec('c:grow', [], { host: 'h:a' }));
  assert.match(err, /p:serve_small: wasm trap: memory\.grow refused: growing by \d+ page\(s\) of 64 KiB would pass limits\.memory 65536 bytes/);
});

test('max_execution_ms stops a guest waiting in receive', async () => {
  const r = await rt.run('p:serve_limited', [], { host: 'h:a' });
  assert.equal(r.error?.kind, 'Timeout');
  assert.match(String(r.error?.message), /exceeded max_execution_ms \(100 ms\)/);
  await until('the call ended', () => wasmCalls() === 0);
});

test('JSPI: more guests wait at once than the pool has threads; terminating a suspended one spares the rest', { skip: JSPI ? false : 'no JSPI on this Node (or WIPPY_WASM_JSPI=0): a waiting guest parks its pool thread, so at most os.availableParallelism() guests wait at once' }, async () => {
  const n = THREADS + 2;
  assert.equal(await watched('c:many', rt.exec('c:many', [n], { host: 'h:a' })), 2 * (n - 1));
  const pool = rt.internals().wasmPools.find((p) => p.entry === 'p:serve');
  assert.ok(pool && pool.threads <= THREADS, `the ${n} guests waited on at most ${THREADS} threads`);
  await until('every call ended', () => wasmCalls() === 0);
});

test('terminating a guest that holds its thread replaces the thread; the others answer or end saying why', async (t) => {
  const n = JSPI ? THREADS + 2 : Math.max(2, THREADS);
  const r = await watched('c:spinner', rt.exec('c:spinner', [n], { host: 'h:a' })) as { killed: number; served: number };
  assert.equal(r.killed + r.served, n - 1, 'every other guest accounted for');
  t.diagnostic(`${n} guests: ${r.killed} ended with the spinner's thread, ${r.served} served (JSPI: ${JSPI})`);
  if (!JSPI) assert.equal(r.killed, 0, 'on the fallback no guest shares a thread');
  // under JSPI up to 64 guests share a thread, and which thread each lands on is the pool's
  // choice: all of them may share the spinner's (seen in CI: 3 ended with it, 0 served), so only
  // the accounting above is asserted there
  await until('every call ended', () => wasmCalls() === 0);
});

test('JSPI: guests sleeping on the monotonic clock are suspended together; terminate unwinds each', { skip: JSPI ? false : 'no JSPI on this Node: a sleeping guest parks its pool thread' }, async () => {
  const n = THREADS + 2;
  const exits: Array<{ error?: Error }> = [];
  const pids: string[] = [];
  for (let i = 0; i < n; i++) pids.push(await rt.spawn('p:sleep', 'h:a', [600_000], (e) => { exits.push(e); }));
  const pool = () => rt.internals().wasmPools.find((p) => p.entry === 'p:sleep');
  // all n started (none queued behind a sleeping one) on at most THREADS threads
  await until('every sleeper started', () => wasmCalls() === n && pool()?.queued === 0);
  assert.ok(pool()!.threads <= THREADS);
  for (const pid of pids) rt.terminate(pid);
  await until('every EXIT', () => exits.length === n);
  for (const e of exits) assert.match(String(e.error?.message), /process terminated/);
  await until('every call ended', () => wasmCalls() === 0);
});

test('fallback: guests waiting in receive, one per thread, and terminating one spares the others', { skip: JSPI ? 'JSPI in use (run with WIPPY_WASM_JSPI=0 for the fallback)' : false }, async () => {
  const n = Math.max(2, THREADS);
  assert.equal(await rt.exec('c:many', [n], { host: 'h:a' }), 2 * (n - 1));
  await until('every call ended', () => wasmCalls() === 0);
});
