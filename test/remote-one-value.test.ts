// One value per message, across workers and on one worker: what a one-value send carries — nil,
// false, true, integers, floats, strings (empty, long), nested tables, a table shared twice inside
// the value — arrives as sent, in order per sender, on a listen topic (the value itself) and in the
// inbox (a Message). Across workers the receiving side takes a one-value "m" frame's value without
// its payload list (native/lua/lcodec.c decode_m_at, src/lua/kernel/frames.lua) and the sending
// side encodes it into the step's outbox (native/lua/lstep.c); on one worker the same-worker path
// carries it. Two senders interleave on the receiver, each on its own topics, so every arrival is
// checked against the value that sender sent in that place. `WIPPY_LUA=wasmoon` runs this file on
// the Lua paths (no outbox, the general decoder).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { scenarioRuntime, main, REPORT_OR_EXIT, type Scenario } from './helpers/lua-runtime.js';
import type { Runtime } from '../src/index.js';

const MUST = 'local function must(v, e) if v == nil and e ~= nil then error(tostring(e), 2) end; return v end\n';
// the k-th value sender i sends (the receiver makes the same to compare)
const GEN = String.raw`
local function gen(i, k)
  local r = (k * 7 + i) % 10
  if r == 0 then return nil
  elseif r == 1 then return false
  elseif r == 2 then return true
  elseif r == 3 then return k * 1000 + i
  elseif r == 4 then return k + 0.5
  elseif r == 5 then return "v" .. i .. "/" .. k
  elseif r == 6 then return { k = k, i = i, nested = { k, { s = "x" } } }
  elseif r == 7 then local t = { k }; return { a = t, b = t }
  elseif r == 8 then return string.rep("y", 200 + k % 100)
  else return "" end
end
local function same(a, b, where)
  if type(a) ~= type(b) then error(where .. ": " .. type(a) .. " for " .. type(b), 0) end
  if type(a) ~= "table" then
    if a ~= b or math.type(a) ~= math.type(b) then error(where .. ": " .. tostring(a) .. " for " .. tostring(b), 0) end
    return
  end
  for key, v in pairs(b) do same(a[key], v, where .. "." .. tostring(key)) end
  for key in pairs(a) do if b[key] == nil then error(where .. ": extra key " .. tostring(key), 0) end end
end
`;

const N = 400;
const scenarios: Scenario[] = [
  { name: 'sender', source: main(MUST + GEN + `
    local to, i, n = ...
    watchdog("sender " .. i).receive(process.listen("go"), "go")
    for k = 1, n do
      must(process.send(to, (k % 3 == 0 and "in" or "s") .. i, gen(i, k)))
    end
    return n`) },
  { name: 'receiver', source: main(MUST + GEN + `
    local driver, n = ...
    local chans = { process.listen("s1"), process.listen("s2") }
    local inbox = process.inbox()
    local wd = watchdog("receiver")
    local senders = wd.receive(process.listen("setup"), "setup")
    for _, pid in ipairs(senders) do must(process.send(pid, "go")) end
    local next_k = { 0, 0 } -- per sender, the last k taken
    local function expect(i, v, how)
      local k = next_k[i] + 1
      while k % 3 == 0 ~= (how == "in") do k = k + 1 end -- the next k this sender sent that way
      same(v, gen(i, k), "sender " .. i .. " message " .. k .. " (" .. how .. ")")
      if type(v) == "table" and v.a ~= nil and rawequal(v.a, v.b) == false then error("sharing lost at " .. k, 0) end
      return k
    end
    -- per sender and way, the k of the last message taken (order is per sender and channel)
    local last = { s = { 0, 0 }, ["in"] = { 0, 0 } }
    local got = 0
    while got < 2 * n do
      local r = wd.select({ chans[1]:case_receive(), chans[2]:case_receive(), inbox:case_receive() }, function()
        return (2 * n - got) .. " of " .. 2 * n .. " messages (last k per sender, on s: " .. last.s[1] .. ", " .. last.s[2]
          .. "; on the inbox: " .. last["in"][1] .. ", " .. last["in"][2] .. ")"
      end)
      local i, how, v
      if r.channel == inbox then
        local m = r.value
        i, how = tonumber(m:topic():sub(3)), "in"
        v = m:payload():data()
      else
        i, how, v = r.channel == chans[1] and 1 or 2, "s", r.value
      end
      next_k[i] = last[how][i]
      last[how][i] = expect(i, v, how)
      got = got + 1
    end
    for i = 1, 2 do
      for _, how in ipairs({ "s", "in" }) do
        local k = n
        while k % 3 == 0 ~= (how == "in") do k = k - 1 end
        if last[how][i] ~= k then error("sender " .. i .. " (" .. how .. "): last " .. last[how][i] .. ", expected " .. k, 0) end
      end
    end
    must(process.send(driver, "done", got))`) },
  { name: 'driver', source: main(MUST + `
    local n, rhost, shost = ...
    local done = process.listen("done")
    local ev = process.events()
    local recv = must(process.spawn_monitored("test:receiver", rhost, process.pid(), n))
    local senders = {}
    for i = 1, 2 do senders[i] = must(process.spawn("test:sender", shost, recv, i, n)) end
    must(process.send(recv, "setup", senders))
` + REPORT_OR_EXIT) },
];

let rt: Runtime;
before(async () => { rt = await scenarioRuntime(scenarios); });
after(async () => { await rt.stop(1000); });

/** Frames posted from one worker to another so far, summed over the workers (counted per frame,
 * also where a step's frames for a worker go out as one range: Endpoint.postRange's count). */
async function crossFrames(): Promise<number> {
  const st = await rt.stats();
  const workers = new Set(st.map((w) => w.tid));
  let n = 0;
  for (const w of st) for (const [to, k] of Object.entries(w.sent)) if (Number(to) !== w.tid && workers.has(Number(to))) n += k;
  return n;
}

test('one value per message across workers: nil, false, tables, strings arrive as sent, in order per sender', async () => {
  // the receiver on the one-worker host, the senders on the two-worker host: every message crosses
  const before = await crossFrames();
  const got = await rt.exec('test:driver', [N, 'test:other', 'test:processes'], { host: 'test:processes' });
  assert.equal(got, 2 * N);
  const crossed = (await crossFrames()) - before;
  assert.ok(crossed >= 2 * N, `${crossed} frames between workers for ${2 * N} messages`);
});

test('one value per message on one worker: the same values, in order per sender', async () => {
  const before = await crossFrames();
  const got = await rt.exec('test:driver', [N, 'test:other', 'test:other'], { host: 'test:processes' });
  assert.equal(got, 2 * N);
  const crossed = (await crossFrames()) - before;
  assert.ok(crossed < 2 * N, `the messages stayed on one worker (${crossed} frames between workers: the spawns and the report)`);
});
