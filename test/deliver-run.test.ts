// The cross-worker receive's run in C (native/lua/lcodec.c deliver_run, called by
// src/lua/kernel/frames.lua's batch delivery): after one message to a process has been taken by
// the Lua loop, the following one-value "m" frames to the same process are decoded and delivered
// by one C call, which stops at the first frame that is not one (another process, a message of
// several values, a value it must decline, a process that died) and hands it back to the Lua loop.
// What must hold whatever the mix, checked here on batches that switch between all of them:
//   - every message arrives once, with its value, in send order per sender and receiver, on the
//     channel its topic names (short topics, topics past 31 bytes: another string header, and
//     topics nobody listens to: the inbox, whose Message names the sender);
//   - two senders on one worker, taking turns of 1-5 messages, interleave finely in one batch (the
//     C run caches the sender's PID and the topic as strings: a switch must not deliver one
//     sender's message under the other's PID);
//   - a receiver killed in the middle of a batch (its host's max_mailbox passed) takes nothing
//     more, and the frames behind its own in the same batch still reach their receivers.
// The senders run on one worker and the receivers on another, so every message crosses. The mix
// is seeded (an LCG in Lua), so a failure repeats. `WIPPY_LUA=wasmoon` and `WIPPY_CSCHED=0` run
// the same file on the Lua paths (no deliver_run, or one that declines at its first call).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { within } from './helpers/fuzz.js';
import { scenarioRuntime, main, type Scenario } from './helpers/lua-runtime.js';
import type { Runtime } from '../src/index.js';

const MUST = 'local function must(v, e) if v == nil and e ~= nil then error(tostring(e), 2) end; return v end\n';
const LONG_TOPIC = `t${'x'.repeat(40)}`;
// The k-th message sender s sends: its receiver (1 or 2), topic, and values (the receivers make
// the same to compare). Seeded per sender.
const PLAN = String.raw`
local LONG = "${LONG_TOPIC}"
local function plan(s, seed, n)
  local x, out = seed, {}
  for k = 1, n do
    x = (x * 1103515245 + 12345) % 2147483648
    local r = x % 10
    local to = (x // 16) % 3 == 0 and 2 or 1
    local t = (x // 64) % 4
    local topic = t == 0 and LONG or (t == 1 and r ~= 6) and "in" or "a" -- "in": not listened, the inbox
    local vals
    if r <= 3 then vals = { k * 10 + s }
    elseif r == 4 then vals = { "s" .. s .. ":" .. k }
    elseif r == 5 then local t = { k }; vals = { { a = t, b = t, k = k, s = s } }
    elseif r == 6 then vals = { k * 10 + s, "second" }
    elseif r == 7 then if s == 2 then vals = { false } else vals = { nil } end
    elseif r == 8 then vals = { k + s / 4 }
    else vals = { { s = s, k = k, list = { 1, 2, { 3 } } } } end
    out[k] = { to = to, topic = topic, vals = vals, n = r == 6 and 2 or 1 }
  end
  return out
end
`;

const N = 600;
const scenarios: Scenario[] = [
  { name: 'sender', source: main(MUST + PLAN + `
    local s, seed, n, r1, r2 = ...
    local to = { r1, r2 }
    local tok = process.listen("tok")
    local wd = watchdog("sender " .. s)
    local partner = wd.receive(process.listen("go"), "go")
    -- The two senders (one worker) take turns with a token, a seeded 1-5 messages a turn, so
    -- their messages interleave finely inside one step's batch. The token says whether its
    -- sender is done (then the other goes on alone).
    local partner_done = false
    if s == 2 then partner_done = wd.receive(tok, "the first token") end
    local msgs, k, x = plan(s, seed, n), 1, seed
    while k <= n do
      x = (x * 69069 + 1) % 4294967296
      for _ = 1, 1 + x % 5 do
        local m = msgs[k]
        if not m then break end
        if m.n == 2 then must(process.send(to[m.to], m.topic, m.vals[1], m.vals[2]))
        else must(process.send(to[m.to], m.topic, m.vals[1])) end
        k = k + 1
      end
      if not partner_done then
        must(process.send(partner, "tok", k > n))
        if k <= n then partner_done = wd.receive(tok, "the token before message " .. k) end
      end
    end
    return n`) },
  { name: 'receiver', source: main(MUST + PLAN + `
    local me, seeds, n, driver = ...
    local chans = { a = process.listen("a"), [LONG] = process.listen(LONG) }
    local inbox = process.inbox()
    -- what each sender sends to this receiver, per topic, in order
    local want, at, total = {}, {}, 0
    for s = 1, 2 do
      want[s], at[s] = { a = {}, [LONG] = {}, ["in"] = {} }, { a = 0, [LONG] = 0, ["in"] = 0 }
      for k, m in ipairs(plan(s, seeds[s], n)) do
        if m.to == me then local w = want[s][m.topic]; w[#w + 1] = m; total = total + 1 end
      end
    end
    must(process.send(driver, "ready", me))
    local wd = watchdog("receiver " .. me)
    local senders = wd.receive(process.listen("senders"), "the senders' PIDs")
    local got = 0
    -- what is still awaited, for a stall's error: each sender's next message per topic
    local function awaited()
      local out = {}
      for s = 1, 2 do for _, t in ipairs({ "a", LONG, "in" }) do
        local m = want[s][t][at[s][t] + 1]
        if m then out[#out + 1] = "sender " .. s .. " (seed " .. seeds[s] .. ")'s next on " .. t:sub(1, 3) .. ": " .. tostring(m.vals[1]) end
      end end
      return (total - got) .. " of " .. total .. " messages; " .. table.concat(out, "; ")
    end
    while got < total do
      local r = wd.select({ chans.a:case_receive(), chans[LONG]:case_receive(), inbox:case_receive() }, awaited)
      local topic, v, from
      if r.channel == inbox then topic, v, from = r.value:topic(), r.value:payload():data(), r.value:from()
      else topic, v = r.channel == chans.a and "a" or LONG, r.value end
      -- which sender: every value says (nil only from sender 1, false only from 2)
      local s
      if v == nil then s = 1
      elseif v == false then s = 2
      elseif math.type(v) == "integer" then s = v % 10
      elseif math.type(v) == "float" then s = math.floor((v % 1) * 4 + 0.5)
      elseif type(v) == "string" then s = tonumber(v:sub(2, 2))
      elseif v[2] == "second" then s = v[1] % 10
      else s = v.s end
      local function matches(m, x)
        if m.n == 2 then return type(x) == "table" and #x == 2 and x[1] == m.vals[1] and x[2] == "second" end
        local e = m.vals[1]
        if type(e) ~= type(x) then return false end
        if type(e) == "table" then
          if e.a then return x.k == e.k and x.s == e.s and rawequal(x.a, x.b) and x.a[1] == e.k end
          return x.s == e.s and x.k == e.k and x.list[3][1] == 3
        end
        return e == x and math.type(e) == math.type(x)
      end
      local m = s and want[s] and want[s][topic][at[s][topic] + 1]
      local taken = m and matches(m, v) and s
      if not taken then error("receiver " .. me .. ": unexpected " .. tostring(v) .. " on " .. topic:sub(1, 3) .. " after " .. got, 0) end
      -- a Message names its sender: the PID of the one that sent this value
      if from ~= nil and from ~= senders[s] then error("receiver " .. me .. ": message " .. got .. " from " .. tostring(from) .. ", sent by " .. senders[s], 0) end
      at[taken][topic] = at[taken][topic] + 1
      got = got + 1
    end
    return got`) },
  { name: 'driver', source: main(MUST + `
    local n, rhost, shost = ...
    local ev = process.events()
    local ready = process.listen("ready")
    local seeds = { 12345, 987654 }
    local r = {}
    for me = 1, 2 do r[me] = must(process.spawn_monitored("test:receiver", rhost, me, seeds, n, process.pid())) end
    for k = 1, 2 do watchdog("driver").receive(ready, "receiver ready " .. k .. " of 2") end
    local s = {}
    for i = 1, 2 do s[i] = must(process.spawn("test:sender", shost, i, seeds[i], n, r[1], r[2])) end
    for me = 1, 2 do must(process.send(r[me], "senders", s)) end
    must(process.send(s[1], "go", s[2]))
    must(process.send(s[2], "go", s[1]))
    local counts = {}
    for k = 1, 2 do
      local e = watchdog("driver", 120).receive(ev, "the receivers' EXIT " .. k .. " of 2 (seeds 12345, 987654)")
      if e.result.error ~= nil then error("receiver failed: " .. tostring(e.result.error), 0) end
      counts[#counts + 1] = e.result.value
    end
    return counts[1] + counts[2]`) },
  // A receiver that never reads (killed when its mailbox passes the host's max_mailbox of 300),
  // between two runs of messages to one that reads, all in one sender step.
  { name: 'flood', source: main(MUST + `
    local deaf, reader, before, mid, after = ...
    watchdog("flood").receive(process.listen("go"), "go")
    for i = 1, before do must(process.send(reader, "a", i)) end
    for i = 1, mid do must(process.send(deaf, "a", i)) end
    for i = before + 1, before + after do must(process.send(reader, "a", i)) end
    return true`) },
  { name: 'deaf', source: main(`
    process.listen("a")
    -- bounded: not killed within the watchdog's 15 s, it raises (the test's check of its exit names it)
    watchdog("deaf").receive(process.listen("never"), "its kill by the mailbox bound")
    return "not killed"`) },
  { name: 'reader', source: main(`
    local n, driver = ...
    local ch = process.listen("a")
    process.send(driver, "ready", true)
    local wd = watchdog("reader")
    for i = 1, n do
      local v = wd.receive(ch, "message " .. i .. " of " .. n)
      if v ~= i then error("reader: got " .. tostring(v) .. " for message " .. i, 0) end
    end
    return n`) },
  { name: 'flood_driver', source: main(MUST + `
    local rhost, shost, before, mid, after = ...
    local ev = process.events()
    local deaf = must(process.spawn_monitored("test:deaf", rhost))
    local reader = must(process.spawn_monitored("test:reader", rhost, before + after, process.pid()))
    watchdog("flood driver").receive(process.listen("ready"), "the reader's ready")
    local wd = watchdog("flood driver", 120)
    local f = must(process.spawn("test:flood", shost, deaf, reader, before, mid, after))
    must(process.send(f, "go"))
    local out = {}
    for k = 1, 2 do
      local e = wd.receive(ev, "EXIT " .. k .. " of 2 (deaf and reader)")
      out[e.from == deaf and "deaf" or "reader"] = e.result.error ~= nil and tostring(e.result.error) or e.result.value
    end
    return out`) },
];

let rt: Runtime;
before(async () => {
  rt = await scenarioRuntime(scenarios, { extra: [
    { id: 'dr:recv', kind: 'process.host', host: { workers: 1, max_mailbox: 300 } },
    { id: 'dr:recv_all', kind: 'process.host', host: { workers: 1 } },
    { id: 'dr:send', kind: 'process.host', host: { workers: 1 } },
  ] });
});
after(async () => { await rt.stop(1000); });

// A wrong C path may lose a message or a count, and then a driver waits for ever: each test's wait
// is bounded and fails with what it waited for.
const LIMIT_MS = 60_000;

test('runs to two receivers from two senders, mixed shapes and topics: every message once, in order, as sent', async () => {
  const got = await within(rt.exec('test:driver', [N, 'dr:recv_all', 'dr:send'], { host: 'dr:send' }), LIMIT_MS, 'the two receivers');
  assert.equal(got, 2 * N);
});

test('a receiver killed by its mailbox bound inside a batch: nothing more for it, the frames behind it still arrive', async () => {
  const out = await within(rt.exec('test:flood_driver', ['dr:recv', 'dr:send', 50, 400, 50], { host: 'dr:send' }), LIMIT_MS,
    'the reader\'s and the flooded receiver\'s EXITs (is the flooded one killed?)') as Record<string, unknown>;
  assert.equal(out.reader, 100);
  assert.match(String(out.deaf), /mailbox overflow/);
});
