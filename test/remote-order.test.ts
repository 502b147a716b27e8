// Messages across workers arrive whole and in order per sender, whatever else shares their
// batches. A receiver on one host (its own worker) and seeded senders on another: each sender
// sends numbered messages on a listen topic and on the inbox, with table payloads (shared and
// nested values, several payloads, none, nils between), while the receiver also takes EXIT
// events of the senders it monitors — "e" frames in the same batches as the "m" frames, which
// src/lua/kernel/frames.lua hands to the mailbox without making a frame table on our Lua module
// (lcodec.c decode_m_at) and through the general decoder on wasmoon's (`WIPPY_LUA=wasmoon`
// runs this file on that path).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { scenarioRuntime, main, REPORT_OR_EXIT, type Scenario } from './helpers/lua-runtime.js';
import { mulberry32 } from './helpers/prng.js';
import type { Runtime } from '../src/index.js';

const SENDERS = 4;
const rnd = mulberry32(0x5e9d);
// per sender: how many messages, and the seed of its topic choices (a run of the same topic, then another)
const plan = Array.from({ length: SENDERS }, (_, i) => ({ n: 300 + Math.floor(rnd() * 500), seed: 1 + i * 7919 }));
const total = plan.reduce((a, p) => a + p.n, 0);

const MUST = 'local function must(v, e) if v == nil then error(tostring(e), 2) end; return v end\n';

const scenarios: Scenario[] = [
  { name: 'sender', source: main(MUST + `
    local to, id, n, seed = ...
    watchdog("sender " .. id).receive(process.listen("go"), "go")
    local x = seed
    local shared = { id = id }
    local count = { a = 0, inbox_t = 0 } -- numbered per topic: order holds per sender and channel
    for _ = 1, n do
      x = (x * 1103515245 + 12345) % 2147483648
      local topic = (x >> 8) % 3 == 0 and "inbox_t" or "a"
      local k = count[topic] + 1
      count[topic] = k
      local r = (x >> 12) % 4
      if r == 0 then must(process.send(to, topic, { id = id, k = k, s = shared, again = shared }))
      elseif r == 1 then must(process.send(to, topic, { id = id, k = k }, nil, "tail", { nested = { k } }))
      elseif r == 2 then must(process.send(to, topic, { id = id, k = k, big = string.rep("x", (x >> 4) % 300) }))
      else must(process.send(to, topic, { id = id, k = k }, 3, 2.5)) end
    end
    return n`) },
  { name: 'receiver', source: main(MUST + `
    local driver, total = ...
    local a = process.listen("a")
    local inbox = process.inbox()
    local ev = process.events()
    local wd = watchdog("receiver")
    local senders = wd.receive(process.listen("setup"), "setup")
    local last, got, exits = {}, 0, 0
    for _, pid in ipairs(senders) do must(process.monitor(pid)) end
    for _, pid in ipairs(senders) do must(process.send(pid, "go")) end
    local per = {}
    local function take(v, how)
      local key = tostring(v.id) .. "/" .. how
      eq(v.k, (last[key] or 0) + 1, "sender " .. key .. " order")
      last[key] = v.k
      per[v.id] = (per[v.id] or 0) + 1
      got = got + 1
    end
    local function awaited()
      local out = {}
      for k, v in pairs(last) do out[#out + 1] = k .. " at " .. v end
      table.sort(out)
      return (total - got) .. " of " .. total .. " messages and " .. (#senders - exits) .. " of " .. #senders
        .. " EXITs (last in order per sender/channel: " .. table.concat(out, ", ") .. ")"
    end
    while got < total or exits < #senders do
      local r = wd.select({ a:case_receive(), inbox:case_receive(), ev:case_receive() }, awaited)
      if r.channel == ev then
        eq(r.value.kind, process.event.EXIT, "event kind")
        exits = exits + 1
      elseif r.channel == a then
        local v = r.value -- the payload, or the list of them when there are several
        if v.id == nil then v = v[1] end
        take(v, "a")
      else
        local m = r.value
        eq(m:topic(), "inbox_t", "inbox topic")
        local ps = m:payload()
        local v = (type(ps) == "table" and ps[1] or ps):data()
        if v.s then eq(v.s, v.again, "sharing within a payload"); eq(v.s.id, v.id, "shared table") end
        if type(ps) == "table" and #ps == 4 then
          eq(ps[2]:data(), nil, "a nil payload"); eq(ps[3]:data(), "tail", "third payload")
          eq(ps[4]:data().nested[1], v.k, "fourth payload")
        end
        take(v, "inbox_t")
      end
    end
    local out = {}
    for id, c in pairs(per) do out[#out + 1] = id .. "=" .. c end
    table.sort(out)
    must(process.send(driver, "done", { got = got, exits = exits, per = table.concat(out, ",") }))`) },
  { name: 'driver', source: main(MUST + `
    local plan, total = ...
    local done = process.listen("done")
    local ev = process.events()
    local recv = must(process.spawn_monitored("test:receiver", "test:other", process.pid(), total))
    local senders = {}
    for i, p in ipairs(plan) do
      senders[i] = must(process.spawn("test:sender", "test:processes", recv, i, p.n, p.seed))
    end
    must(process.send(recv, "setup", senders))
` + REPORT_OR_EXIT) },
];

let rt: Runtime;
before(async () => { rt = await scenarioRuntime(scenarios); });
after(async () => { await rt.stop(1000); });

test('messages across workers: every one arrives, in order per sender, beside EXIT events in the same batches', async () => {
  const r = await rt.exec('test:driver', [plan, total], { host: 'test:processes' }) as { got: number; exits: number; per: string };
  assert.equal(r.got, total);
  assert.equal(r.exits, SENDERS);
  assert.equal(r.per, plan.map((p, i) => `${i + 1}=${p.n}`).sort().join(','));
});
