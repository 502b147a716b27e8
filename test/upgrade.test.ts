// process.upgrade: same PID, mailbox, names and monitors; nil reloads the file from disk.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRuntime } from '../src/index.js';

const V1 = `
local function main(count)
  count = count or 0
  assert(process.registry.register("counter"))
  local inbox = process.inbox()
  while true do
    local m = inbox:receive()
    local t = m:topic()
    if t == "inc" then count = count + 1
    elseif t == "reload" then process.upgrade(nil, count, m:from())
    elseif t == "get" then process.send(m:from(), "count", { v = 1, count = count })
    end
  end
end
return { main = main }
`;
const V2 = `
local function main(count, reloader)
  -- version 2: the same PID, names and mailbox; counts by ten
  local inbox = process.inbox()
  process.send(reloader, "reloaded", process.pid())
  while true do
    local m = inbox:receive()
    local t = m:topic()
    if t == "inc" then count = count + 10
    elseif t == "get" then process.send(m:from(), "count", { v = 2, count = count })
    elseif t == "stop" then return count
    end
  end
end
return { main = main }
`;

test('upgrade keeps pid, names, monitors and queued messages, and reloads code from disk', async () => {
  const root = mkdtempSync(join(tmpdir(), 'wippy-upgrade-'));
  mkdirSync(join(root, 'src'));
  writeFileSync(join(root, 'src', 'counter.lua'), V1);
  writeFileSync(join(root, 'src', '_index.yaml'), `
namespace: up
entries:
  - { name: processes, kind: process.host, host: { workers: 1 } }
  - { name: counter, kind: process.lua, source: file://counter.lua, method: main }
  - name: becomer
    kind: process.lua
    method: main
    source: |
      return { main = function(count) process.upgrade("up:other", count) end }
  - name: other
    kind: process.lua
    method: main
    source: |
      return { main = function(count) return "other:" .. count end }
  - name: driver
    kind: process.lua
    method: main
    source: |
      local function ask(pid)
        process.send(pid, "get")
        local m = process.listen("count"):receive()
        return m
      end
      return { main = function(path_unused)
        local ev = process.events()
        assert(process.registry.register("driver"))
        local pid = process.spawn_monitored("up:counter", "up:processes", 5)
        process.send(pid, "inc"); process.send(pid, "inc")
        local r = ask(pid)
        assert(r.v == 1 and r.count == 7, "v1 count " .. tostring(r.count))
        -- wait for the JS side to rewrite the file, then reload
        process.inbox():receive()
        process.send(pid, "reload")
        process.send(pid, "inc") -- queued while upgrading: not lost
        local m = process.inbox():receive()
        assert(m:topic() == "reloaded" and m:payload():data() == pid, "same pid after upgrade")
        r = ask(pid)
        assert(r.v == 2 and r.count == 17, "v2 count " .. tostring(r.count) .. " v" .. tostring(r.v))
        assert(process.registry.lookup("counter") == pid, "name kept")
        process.send("counter", "stop")
        local e = ev:receive()
        assert(e.from == pid and e.result.value == 17, "monitor kept, EXIT from new code")
        -- upgrade to another entry, and a failed upgrade
        local p2 = process.spawn_monitored("up:becomer", "up:processes", 1)
        e = ev:receive()
        assert(e.from == p2 and e.result.value == "other:1", "became up:other: " .. tostring(e.result.value))
        return true
      end }
`);
  const rt = await createRuntime({ root });
  try {
    const done = rt.exec('up:driver', [], { host: 'up:processes' });
    while (rt.lookup('counter') === undefined) await new Promise((r) => setTimeout(r, 5)); // no wall-clock bound: the name, however late
    writeFileSync(join(root, 'src', 'counter.lua'), V2);
    rt.send('driver', 'go');
    assert.equal(await done, true);
  } finally {
    await rt.stop(1000);
  }
});

test('a failed upgrade crashes the process with an upgrade error', async () => {
  const rt = await createRuntime({ entries: [
    { id: 'up:processes', kind: 'process.host', host: { workers: 1 } },
    { id: 'up:bad', kind: 'process.lua', method: 'main', source: 'return { main = function() process.upgrade("up:missing") end }' },
  ] });
  try {
    const e = await rt.run('up:bad');
    assert.match(e.error?.message ?? '', /^upgrade: create failed: factory not found: up:missing/);
  } finally {
    await rt.stop(1000);
  }
});

// The main thread is discarded too when another thread upgrades (the main thread is P.main, not a
// member of P.threads): its pending sleep must not resume the old code, and its to-be-closed
// variable is closed as the upgrade discards it (before the new code starts).
test('an upgrade from another thread discards the parked main thread: its timer does not resume the old code', async () => {
  const rt = await createRuntime({ entries: [
    { id: 'up:processes', kind: 'process.host', host: { workers: 1 } },
    { id: 'up:side', kind: 'process.lua', method: 'main', modules: ['time'], source: `
local time = require("time")
return { main = function()
  local closed <close> = setmetatable({}, { __close = function() process.send(process.pid(), "closed", "main") end })
  coroutine.spawn(function() process.upgrade("up:after") end)
  time.sleep("20ms")
  error("the old main thread ran after the upgrade")
end }` },
    { id: 'up:after', kind: 'process.lua', method: 'main', modules: ['time'], source: `
local time = require("time")
return { main = function()
  time.sleep("60ms") -- the old main thread's 20 ms sleep ends meanwhile
  local m = process.inbox():receive()
  return m:topic() .. ":" .. m:payload():data()
end }` },
  ] });
  try {
    const e = await rt.run('up:side', [], { host: 'up:processes' });
    assert.equal(e.error, undefined, e.error?.message);
    assert.equal(e.value, 'closed:main');
  } finally {
    await rt.stop(1000);
  }
});

// ---- nothing lost: every message that reached the process before an upgrade is delivered after it

// Buffered in a listen channel, in a channel backlog, in the inbox, in the events channel, in
// `unrouted`, and handed to a coroutine that never got to run: all of it reaches the new code, in
// arrival order per topic.
test('upgrade keeps what sat in listen buffers, backlogs, inbox, events and unrouted, and what a parked coroutine was handed', async () => {
  const rt = await createRuntime({ entries: [
    { id: 'up:processes', kind: 'process.host', host: { workers: 1 } },
    { id: 'up:v1', kind: 'process.lua', method: 'main', source: `
return { main = function()
  local me = process.pid()
  local x, y = process.listen("x"), process.listen("y")
  process.inbox(); process.events()
  -- a coroutine parked on "h": the first "h" is handed to it, and it never runs again
  coroutine.spawn(function() process.listen("h"):receive(); error("old code ran") end)
  coroutine.yield()
  process.send(me, "h", "h1")
  process.send(me, "x", "x1"); process.send(me, "x", "x2"); process.send(me, "x", "x3") -- x1 buffered, x2 x3 backlog
  process.send(me, "i", "i1"); process.send(me, "i", "i2")                             -- inbox backlog
  process.send(me, "z", "z1")                                                          -- inbox (no listener)
  process.send(me, "h", "h2")                                                          -- "h" buffer
  process.cancel(me, "1h")                                                             -- events backlog
  process.upgrade("up:v2")
end }` },
    { id: 'up:v2', kind: 'process.lua', method: 'main', source: `
return { main = function()
  local got = {}
  local function take(ch, n, f) for _ = 1, n do got[#got + 1] = f(ch:receive()) end end
  local raw = function(v) return v end
  take(process.listen("h"), 2, raw)
  take(process.listen("x"), 3, raw)
  take(process.inbox(), 3, function(m) return m:topic() .. ":" .. m:payload():data() end)
  take(process.events(), 1, function(e) return e.kind end)
  return table.concat(got, " ")
end }` },
  ] });
  try {
    const e = await rt.run('up:v1', [], { host: 'up:processes' });
    assert.equal(e.error, undefined, e.error?.message);
    assert.equal(e.value, 'h1 h2 x1 x2 x3 i:i1 i:i2 z:z1 pid.cancel');
  } finally {
    await rt.stop(1000);
  }
});

// A sender streams numbered messages to two listen topics and the inbox while the receiver reads
// and upgrades itself every EVERY messages; after the last upgrade it reads the rest and returns
// what it got per topic: every number once, in order.
const RECEIVER = `
return { main = function(st)
  local a, b, inbox = process.listen("a"), process.listen("b"), process.inbox()
  local since = 0
  while st.n < st.total do
    local r = channel.select({ a:case_receive(), b:case_receive(), inbox:case_receive() })
    local topic, seq
    if r.channel == inbox then topic, seq = r.value:topic(), r.value:payload():data()
    else topic, seq = (r.channel == a and "a" or "b"), r.value end
    local g = st.got[topic]
    g[#g + 1] = seq
    st.n = st.n + 1
    since = since + 1
    if since == st.every and st.upgrades < st.max_upgrades then
      st.upgrades = st.upgrades + 1
      process.upgrade("up:receiver", st)
    end
  end
  return st
end }`;
const SENDER = `
return { main = function(dest, n)
  local to = dest.to
  process.inbox():receive() -- "go"
  for i = 1, n do
    assert(process.send(to, "a", i)); assert(process.send(to, "b", i)); assert(process.send(to, "c", i))
  end
  return n
end }`;

for (const workers of [1, 2]) {
  test(`upgrades under traffic lose and duplicate nothing, per-topic order kept (${workers} worker${workers > 1 ? 's, sender on the other' : ''})`, { timeout: 120_000 }, async () => {
    // (a lost message leaves the receiver waiting: the timeout turns that into a failure)
    const rt = await createRuntime({ workers, entries: [
      { id: 'up:processes', kind: 'process.host', host: { workers } },
      { id: 'up:receiver', kind: 'process.lua', method: 'main', source: RECEIVER },
      { id: 'up:sender', kind: 'process.lua', method: 'main', source: SENDER },
    ] });
    try {
      const n = 3000;
      const st = { got: { a: [], b: [], c: [] }, n: 0, total: 3 * n, every: 500, upgrades: 0, max_upgrades: 15 };
      let done!: (v: unknown) => void;
      const result = new Promise<any>((r) => { done = r; });
      // rt.spawn places round-robin over the host's workers: receiver on one, sender on the next
      // (the receiver's PID inside a table: a top-level one would place the sender beside it,
      // src/runtime/spawn-place.ts)
      const recv = await rt.spawn('up:receiver', 'up:processes', [st], (e) => done(e.error ?? e.value));
      const sender = await rt.spawn('up:sender', 'up:processes', [{ to: recv }, n], () => {});
      let placement: number[] = [];
      for (let i = 0; i < 400; i++) {
        placement = (await rt.stats()).map((s) => s.processes);
        if (placement.reduce((a, b) => a + b, 0) === 2) break;
        await new Promise((r) => setTimeout(r, 5));
      }
      assert.deepEqual(placement, workers === 1 ? [2] : [1, 1], 'placement');
      rt.send(sender, 'go');
      const r = await result;
      assert.ok(!(r instanceof Error), (r as Error).message);
      assert.equal(r.upgrades, 15);
      const want = Array.from({ length: n }, (_, i) => i + 1);
      for (const t of ['a', 'b', 'c']) assert.deepEqual(Object.values(r.got[t]), want, `topic ${t}`);
    } finally {
      await rt.stop(1000);
    }
  });
}

// Regression: a coroutine sleeping when its process upgraded still had its timer; when it fired it
// took one off the new code's pending count, so a later deadlock of the new code went unnoticed.
test('a sleep of the discarded code does not disturb the new code\'s deadlock detection', { timeout: 60_000 }, async () => {
  const rt = await createRuntime({ entries: [
    { id: 'up:processes', kind: 'process.host', host: { workers: 1 } },
    { id: 'up:sleepy', kind: 'process.lua', method: 'main', modules: ['time'], source: `
local time = require("time")
return { main = function()
  coroutine.spawn(function() time.sleep("10ms") end)
  coroutine.yield()
  process.upgrade("up:stuck")
end }` },
    { id: 'up:stuck', kind: 'process.lua', method: 'main', modules: ['time'], source: `
local time = require("time")
return { main = function()
  time.sleep("50ms")          -- the old 10 ms timer fires meanwhile
  channel.new():receive()     -- nothing can ever wake this: a deadlock
end }` },
  ] });
  try {
    const e = await rt.run('up:sleepy', [], { host: 'up:processes' });
    assert.match(e.error?.message ?? '', /^deadlock: all coroutines blocked/);
  } finally {
    await rt.stop(1000);
  }
});
