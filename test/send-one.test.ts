// process.send with one value, through the runtime: since session 8 such a send carries the value
// without a payload list and a value handed to a parked `listen` receiver reuses its channel's
// kept mailbox record (src/lua/kernel/mailbox.lua deliver_msg). What a process sees must not
// change: a table arrives copied, nil and false arrive as values (not as "no payload"), an
// unsendable value is refused with nothing delivered, topics are checked on every send even when
// the last one passed, and a long exchange keeps every message, in order, on both Lua modules.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { scenarioRuntime, main, type Scenario } from './helpers/lua-runtime.js';
import type { Runtime } from '../src/index.js';

const scenarios: Scenario[] = [
  { name: 'one_values', source: main(`
    local raw = process.listen("raw")
    local msgs = process.listen("msgs", { message = true })
    local me = process.pid()
    -- a table is copied: changed after the send, the received one is as sent
    local t = { n = 1, list = { "a" } }
    assert(process.send(me, "raw", t))
    t.n = 2; t.list[1] = "changed"
    local got = raw:receive()
    eq(got.n, 1, "copied n"); eq(got.list[1], "a", "copied list"); assert(got ~= t, "not the sender's table")
    -- nil and false are one value each; no value is no payload
    process.send(me, "raw", nil)
    process.send(me, "raw", false)
    process.send(me, "raw")
    local v, ok = raw:receive(); eq(v, nil, "nil value"); eq(ok, true, "nil value ok")
    v, ok = raw:receive(); eq(v, false, "false value"); eq(ok, true, "false value ok")
    v, ok = raw:receive(); eq(v, nil, "no payload"); eq(ok, true, "no payload ok")
    process.send(me, "msgs", nil)
    process.send(me, "msgs")
    process.send(me, "msgs", "x")
    local p = msgs:receive():payload()
    assert(p ~= nil, "one nil value: a payload object"); eq(p:data(), nil, "its data")
    eq(msgs:receive():payload(), nil, "no payload: nil")
    local m = msgs:receive()
    eq(m:payload():data(), "x", "one value"); eq(m:topic(), "msgs", "topic"); eq(m:from(), me, "from")
    -- an unsendable value is refused and nothing arrives
    local r, err = process.send(me, "raw", function() end)
    eq(r, nil, "refused"); has(err, "cannot send a function"); eq(err:kind(), errors.INVALID, "kind")
    local sel = channel.select({ raw:case_receive(), default = true })
    eq(sel.default, true, "nothing delivered")
    -- the topic is checked on every send, also right after one that passed
    assert(process.send(me, "raw", 1))
    r, err = process.send(me, 5, 1); eq(r, nil); has(err, "topic must be a string")
    r, err = process.send(me, "@raw", 1); eq(r, nil); has(err, "cannot send to @ topics")
    assert(process.send(me, "raw", 2))
    eq(raw:receive(), 1); eq(raw:receive(), 2)
    return true`) },
  { name: 'pinger', source: main(`
    local peer, n = ...
    local ch = process.listen("p")
    for i = 1, n do
      assert(process.send(peer, "p", i))
      local v = ch:receive()
      eq(v, -i, "reply " .. i)
    end
    assert(process.send(peer, "p", 0))
    return n`) },
  { name: 'ponger', source: main(`
    local ch = process.listen("p")
    local from = process.inbox():receive():payload():data()
    local count = 0
    while true do
      local v = ch:receive()
      if v == 0 then return count end
      count = count + 1
      assert(process.send(from, "p", -v))
    end`) },
  { name: 'exchange', source: main(`
    local n = ...
    local ponger = assert(process.spawn_monitored("test:ponger", "test:processes"))
    local pinger = assert(process.spawn_monitored("test:pinger", "test:processes", ponger, n))
    assert(process.send(ponger, "hello", pinger))
    local got = {}
    local ev = process.events()
    for _ = 1, 2 do
      local e = ev:receive()
      eq(e.kind, process.event.EXIT, "exit")
      got[e.from] = e.result and e.result.value
    end
    eq(got[pinger], n, "pinger's count"); eq(got[ponger], n, "ponger's count")
    -- fan-in: many senders, one receiver, every sender's values in its own order
    local ch = process.listen("seq")
    local senders = 8
    for _ = 1, senders do process.spawn("test:seq_sender", "test:processes", process.pid(), n) end
    local last, total = {}, 0
    for _ = 1, senders * n do
      local m = ch:receive()
      local from, i = m[1], m[2]
      eq(i, (last[from] or 0) + 1, "per-sender order")
      last[from] = i
      total = total + 1
    end
    eq(total, senders * n, "every message")
    return true`) },
  { name: 'seq_sender', source: main(`
    local to, n = ...
    local me = process.pid()
    for i = 1, n do assert(process.send(to, "seq", { me, i })) end
    return n`) },
];

for (const workers of [1, 2]) describe(`one-value sends, ${workers} worker(s)`, () => {
  let rt: Runtime;
  before(async () => { rt = await scenarioRuntime(scenarios, { workers }); });
  after(async () => { await rt.stop(1000); });

  test('values, nil and false, copies, refusals and topic checks', async () => {
    assert.equal(await rt.exec('test:one_values'), true);
  });

  test('a ping-pong of 2,000 round trips and a fan-in of 8 × 2,000 keep every message in order', async () => {
    assert.equal(await rt.exec('test:exchange', [2000]), true);
  });
});
