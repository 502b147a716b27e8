// process.send to another worker's process in C (native/lua/lsend.c `remote`: one value, a PID
// pids.lua has parsed, into the step's outbox) against the Lua send (WIPPY_CSCHED=0 on our
// module, and wasmoon's module): seeded senders on one host send to a receiver on another host
// (every message crosses workers) and on their own two-worker host, mixing what the C takes (one
// value: nil, false, numbers, strings, tables, on listen topics and to the inbox) with what it
// hands back to the Lua (several values or none, a function value, an "@" topic, a process of the
// other host that was sent to while alive and has since exited, a named destination while it
// lives). Each
// sender records every send's result; the receiver records, per sender and channel, every value in
// the order it arrived. The runs must give the same records: the three paths, and our module's C
// send with H.route called through the Lua API instead of in one crossing (native/lua/lhostfn.c).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { scenarioRuntime, main, REPORT_OR_EXIT, type Scenario } from './helpers/lua-runtime.js';
import { LUA_PATHS, onPath, type LuaPath } from './helpers/lua-paths.js';

const SHOW = String.raw`
local function show(v)
  local t = type(v)
  if t == "table" then
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = k end
    table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
    local out = {}
    for _, k in ipairs(keys) do out[#out + 1] = tostring(k) .. "=" .. show(v[k]) end
    return "{" .. table.concat(out, ",") .. "}"
  end
  if t == "number" then return math.type(v) .. ":" .. tostring(v) end
  return t .. ":" .. tostring(v)
end
-- a Message's payload: none, one payload object, or a list of them (several values)
local function pl(p)
  if p == nil then return "none" end
  if getmetatable(p) == "payload" then return show(p:data()) end
  local out = {}
  for k = 1, #p do out[k] = pl(p[k]) end
  return "[" .. table.concat(out, ",") .. "]"
end
`;
const N = 300;
const SENDERS = 3;
const scenarios: Scenario[] = [
  { name: 'victim', source: main(`
    local name, parent = ...
    process.registry.register(name)
    process.send(parent, "vready")
    local n, wd = 0, watchdog("victim " .. name)
    while true do
      local m = wd.receive(process.inbox(), "quit")
      if m:topic() == "quit" then return n end
      n = n + 1
    end`) },
  // sender(to, i, n, seed, vhost): seeded sends to the receiver `to`; results to the driver
  { name: 'sender', source: main(SHOW + `
    local to, i, n, seed, vhost, driver = ...
    local x = seed * 7919 + i
    local function rand(k) x = (x * 1103515245 + 12345) % 2147483648; return x % k end
    local ev = process.events()
    local vname = "rs.victim" .. i
    local vready = process.listen("vready")
    local wd = watchdog("sender " .. i .. " (seed " .. seed .. ")")
    local victim = assert(process.spawn_monitored("test:victim", vhost, vname, process.pid()))
    wd.receive(vready, "the victim's vready") -- its name is registered
    local results = {}
    local counts = { t = 0, m = 0, x = 0 }
    local function value(k)
      local r = rand(8)
      if r == 0 then return nil elseif r == 1 then return false elseif r == 2 then return k
      elseif r == 3 then return k + 0.25 elseif r == 4 then return "s" .. k
      elseif r == 5 then return { k = k, list = { k, "a" } } elseif r == 6 then return ""
      else return -k end
    end
    wd.receive(process.listen("go"), "go")
    for k = 1, n do
      if k == n // 2 then -- the victim exits: later sends to it find it gone
        process.send(victim, "quit")
        local e = wd.receive(ev, "the victim's EXIT")
        results[#results + 1] = "victim exit " .. tostring(e.kind)
      end
      local r = rand(12)
      local way = ({ "t", "m", "x" })[rand(3) + 1]
      local topic = way .. i
      local ok, err
      if r <= 6 then ok, err = process.send(to, topic, value(k)); if ok then counts[way] = counts[way] + 1 end
      elseif r == 7 then ok, err = process.send(to, topic, value(k), "second"); if ok then counts[way] = counts[way] + 1 end
      elseif r == 8 then ok, err = process.send(to, topic); if ok then counts[way] = counts[way] + 1 end
      elseif r == 9 then ok, err = process.send(to, topic, function() end)
      elseif r == 10 then ok, err = process.send(to, "@" .. topic, k)
      else -- the victim by PID, or by name while it lives (a name's release races its EXIT)
        ok, err = process.send((k % 2 == 0 or k >= n // 2) and victim or vname, topic, k)
      end
      results[#results + 1] = k .. ":" .. r .. ":" .. tostring(ok) .. ":" .. tostring(err)
    end
    process.send(driver, "res", { i, table.concat(results, "\\n"), counts.t, counts.m, counts.x })
    return true`) },
  { name: 'receiver', source: main(SHOW + `
    local senders = ...
    local chans, idx = {}, {}
    for i = 1, senders do
      chans[#chans + 1] = process.listen("t" .. i); idx[#chans] = { i, "t" }
      chans[#chans + 1] = process.listen("m" .. i, { message = true }); idx[#chans] = { i, "m" }
    end
    local inbox = process.inbox()
    local expect = process.listen("expect")
    local want, got, total, need = nil, {}, 0, nil
    local log = {}
    local function add(i, way, s)
      local key = i .. way
      log[key] = log[key] or {}
      log[key][#log[key] + 1] = s
      total = total + 1
    end
    local cases = {}
    for _, c in ipairs(chans) do cases[#cases + 1] = c:case_receive() end
    cases[#cases + 1] = inbox:case_receive()
    cases[#cases + 1] = expect:case_receive()
    local driver
    local wd = watchdog("receiver")
    local function awaited()
      local per = {}
      for k, l in pairs(log) do per[#per + 1] = k .. "=" .. #l end
      table.sort(per)
      return (need and (need - total) .. " of " .. need .. " messages" or "the expected count (" .. total .. " in)")
        .. "; in so far per sender and way: " .. table.concat(per, ",")
    end
    while need == nil or total < need do
      local r = wd.select(cases, awaited)
      if r.channel == expect then need, driver = r.value[1], r.value[2]
      elseif r.channel == inbox then
        local m = r.value
        local i = tonumber(m:topic():sub(2))
        add(i, "x", m:topic() .. " " .. pl(m:payload()))
      else
        for k, c in ipairs(chans) do
          if r.channel == c then
            local i, way = idx[k][1], idx[k][2]
            local v = r.value
            if way == "m" then v = pl(v:payload()) else v = show(v) end
            add(i, way, v)
          end
        end
      end
    end
    local keys = {}
    for k in pairs(log) do keys[#keys + 1] = k end
    table.sort(keys)
    local out = {}
    for _, k in ipairs(keys) do out[#out + 1] = k .. ": " .. table.concat(log[k], " | ") end
    process.send(driver, "done", table.concat(out, "\\n"))`) },
  { name: 'driver', source: main(`
    local n, seed, rhost, shost, senders = ...
    local done = process.listen("done")
    local res = process.listen("res")
    local ev = process.events()
    local recv = assert(process.spawn_monitored("test:receiver", rhost, senders))
    local pids = {}
    for i = 1, senders do pids[i] = assert(process.spawn("test:sender", shost, recv, i, n, seed, rhost, process.pid())) end
    for i = 1, senders do process.send(pids[i], "go") end
    local results, need = {}, 0
    local wd = watchdog("driver (seed " .. seed .. ")", 120)
    for k = 1, senders do
      local r = wd.receive(res, function() return "senders' results: " .. (k - 1) .. " of " .. senders .. " in" end)
      results[r[1]] = r[2]
      need = need + r[3] + r[4] + r[5]
    end
    process.send(recv, "expect", { need, process.pid() })
    local report = (function()
` + REPORT_OR_EXIT + `
    end)()
    return table.concat(results, "\\n") .. "\\n--\\n" .. report`) },
];

// and the C send with H.route through the Lua API (no raw exports: the setter of
// native/lua/lhostfn.c is not reached), against the C send's route in one crossing
const PATHS: LuaPath[] = [...LUA_PATHS,
  { name: 'C, H.route through the Lua API', env: { WIPPY_LUA: undefined, WIPPY_CSCHED: undefined, WIPPY_RAW_EXPORTS: '0' } }];

/** Per seed and placement, each path's records. */
const records = new Map<string, string[]>();
const PLACES = [['test:other', 'across hosts'], ['test:processes', 'one two-worker host']] as const;
const SEEDS = [1, 2];

for (const path of PATHS) {
  test(`seeded sends across workers (${path.name})`, async () => {
    const rt = await onPath(path, () => scenarioRuntime(scenarios, { workers: 2 }));
    try {
      for (const seed of SEEDS) {
        for (const [rhost, what] of PLACES) {
          const out = await rt.exec('test:driver', [N, seed, rhost, 'test:processes', SENDERS], { host: 'test:processes' });
          assert.equal(typeof out, 'string');
          const s = out as string;
          assert.ok(s.includes('NotFound') || s.includes('not found'), `a send to the exited victim fails (${what})`);
          assert.ok(s.includes('victim exit'), 'the victim exited');
          const key = `${seed} ${what}`;
          const list = records.get(key) ?? [];
          list.push(s);
          records.set(key, list);
        }
      }
    } finally {
      await rt.stop(1000);
    }
  });
}

test('the four paths give the same sends\' results and the same arrivals, in order', () => {
  assert.equal(records.size, SEEDS.length * PLACES.length);
  for (const [key, list] of records) {
    assert.equal(list.length, PATHS.length, key);
    for (let i = 1; i < list.length; i++) assert.equal(list[i], list[0], `${key}: ${PATHS[i]!.name} vs ${PATHS[0]!.name}`);
  }
});
