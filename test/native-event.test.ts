// A lifecycle event's arrival and the events channel's flat backlog (mailbox.lua's arrive_event and
// take_event: two slots per event, no mailbox record) in C (native/lua/levent.c, through
// ldeliver.c's offer, lrecv.c's receive and lsched.c's run loop) against the Lua alone (the path of
// wasmoon's module and of WIPPY_CSCHED=0), in one Lua state: sched.lua, channel.lua and mailbox.lua
// are loaded twice, one copy with every C step and one with none, and the same seeded worlds run in
// both. Events come from outside any thread (as an exit's, which lexit.c delivers after a resume)
// and from threads (as a process.cancel's), in bursts while the receiver waits its turn (the
// backlog) or parks (the event handed to its thread, which holds the record until it runs);
// receivers take them with plain receives, selects over the events channel and a listen channel
// that messages fill (the earliest backlog head wins, by seq), selects with a default; some make
// their events channel late (the events wait in `unrouted`, then are rerouted), unlisten it (its
// backlog falls back to `unrouted`), die with events queued, or pass their mailbox bound (the
// overflow). At the end every process's unread records in arrival order (what an upgrade gets,
// the woken threads' held records included). Each event carries its source and count, so each
// world also checks per-source order and that the receiver gets the very table that was sent.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { LuaEngine } from 'wasmoon';
import { assertMutantsCaught } from './helpers/lua-mutants.js';
import { kernelWorldEngine } from './helpers/lua-kernel-world.js';

const SRC = Object.fromEntries(['sched', 'channel', 'mailbox'].map((n) =>
  [n, readFileSync(path.resolve(`src/lua/kernel/${n}.lua`), 'utf8')]));

const PRELUDE = String.raw`
local nat = package.loaded["wippy.native"]
assert(nat and nat.eventer and nat.deliverer and nat.runner and nat.receiver, "our module's C steps")

function WORLD(with_c, seed)
  local log, broken = {}, 0
  local function L(s) log[#log + 1] = s end
  local run, err, S, C, M, procs, NONE = KERNEL_WORLD(EV_SRC, with_c, L,
    function(P, e) L("overflow " .. P.pid .. " " .. e.message); P.alive = false end)
  assert((debug.getinfo(M.arrive_event, "S").what == "C") == with_c, "the arrive_event of this world")

  local rs = seed
  local function rnd(n) rs = (rs * 1103515245 + 12345) % 2147483648; return (rs // 65536) % n + 1 end
  local DEFAULTS = { __index = { subs = NONE, unrouted = C.EMPTYQ, seq = 0, unread = 0, max_mailbox = 30,
    npending = 0, nsubs = 0, budget = false } }
  local N = 4
  local Ps, evc, lst, sent = {}, {}, {}, {}
  for i = 1, N do
    local P = setmetatable({ 0, 0, 0, 0, 0, pid = "p" .. i, alive = true, threads = {}, nthreads = 0,
      nrun = 0, red = 0 }, DEFAULTS)
    procs[P.pid] = P
    Ps[i] = P
    lst[i] = M.listen(P, "a")
    if rnd(4) > 1 then evc[i] = M.events(P) end -- else made late (its events wait unrouted)
  end
  -- every event sent, by identity: a receiver must get the very table (no copy, no record)
  local count, last = {}, {}
  local function event(src, dest)
    count[src] = (count[src] or 0) + 1
    local ev = { kind = ({ "pid.exit", "pid.link.down", "pid.cancel" })[rnd(3)], from = src,
      at = count[src], result = { value = src .. "#" .. count[src] } }
    sent[ev] = true
    M.arrive_event(procs[dest], ev)
  end
  local function show(ev, i)
    if ev == nil then return "nil" end
    if type(ev) ~= "table" then return tostring(ev) end
    if not sent[ev] then broken = broken + 1; L("NOT THE SENT TABLE") end
    local key = i .. ev.from
    if last[key] and ev.at <= last[key] then broken = broken + 1; L("ORDER " .. key .. " " .. ev.at) end
    last[key] = ev.at
    return ev.kind .. ":" .. ev.result.value
  end
  local function burst(src, k)
    for _ = 1, k do
      local d = rnd(N)
      if rnd(5) == 1 then M.deliver_msg(procs["p" .. d], "a", src, 1, nil, src .. ">a") -- a message between
      else event(src, "p" .. d) end
    end
  end
  local scripts = {}
  for i = 1, N do
    local sc = {}
    for j = 1, 24 do
      local r = rnd(20)
      if r <= 5 then sc[j] = { "burst", rnd(6) }
      elseif r <= 9 then sc[j] = { "recv", rnd(3) }
      elseif r <= 11 then sc[j] = { "select", rnd(2) == 1 }
      elseif r == 12 then sc[j] = { "drain" }
      elseif r == 13 then sc[j] = { "events" }
      elseif r == 14 and rnd(3) == 1 then sc[j] = { "unlisten" }
      elseif r == 15 and rnd(4) == 1 then sc[j] = { "die" }
      else sc[j] = { "yield" } end
    end
    -- then receives for ever: parked at the end, the last burst wakes it (its thread holds the record)
    sc[#sc + 1] = { "recv", 1000 }
    scripts[i] = sc
  end
  local threads = {}
  for i = 1, N do
    local P = Ps[i]
    local T = S.new_thread(P, function()
      for j, a in ipairs(scripts[i]) do
        local tag = P.pid .. "#" .. j .. " "
        local op = a[1]
        if op == "burst" then burst(P.pid, a[2]) -- from a thread (a process.cancel's)
        elseif op == "recv" and evc[i] then
          for _ = 1, a[2] do
            local v, ok = evc[i]:receive()
            L(tag .. "recv " .. show(v, i) .. " " .. tostring(ok) .. " unread=" .. P.unread)
          end
        elseif op == "select" and evc[i] then
          local r = C.channel.select({ evc[i]:case_receive(), lst[i]:case_receive(), default = a[2] })
          L(tag .. "select " .. (r.default and "default" or ((r.channel == evc[i] and "ev " or "a ") .. show(r.value, i) .. " " .. tostring(r.ok))))
        elseif op == "drain" and evc[i] then
          for n = 1, math.huge do
            if n > 10000 then error(tag .. "drain: still receiving after 10000 events") end
            local r = C.channel.select({ evc[i]:case_receive() }, true)
            if r.default or not r.ok then break end -- (an unlistened channel is closed)
            L(tag .. "drain " .. show(r.value, i))
          end
        elseif op == "events" then evc[i] = M.events(P); L(tag .. "events unread=" .. P.unread)
        elseif op == "unlisten" and evc[i] then M.unlisten(P, evc[i]); L(tag .. "unlisten unread=" .. P.unread)
        elseif op == "die" then P.alive = false; L(tag .. "die unread=" .. P.unread); return
        else coroutine.yield() end
      end
      return true
    end, nil, 0)
    T.name = P.pid
    threads[i] = T
  end
  local outside = 0
  for step = 1, 50 do
    -- events from outside any thread, between steps (an exit's: lexit.c's, after a resume)
    if rnd(3) == 1 then outside = outside + 1; burst("x", rnd(6)) end
    S.step()
  end
  burst("x", 6) -- the last events: a receiver they wake has not run (its thread holds the record)
  for i, P in ipairs(Ps) do
    local s = evc[i] and C.CH[evc[i]]
    local bq = {}
    if s then for _, m in ipairs(M.backlog_records(s)) do bq[#bq + 1] = m.seq .. ":" .. m.topic .. ":" .. m.n .. ":" .. show(m.ev, -i) end end
    local held = threads[i].mrec -- a woken thread's record, not yet read (an upgrade gives it back)
    L(P.pid .. " alive=" .. tostring(P.alive) .. " unread=" .. P.unread .. " seq=" .. P.seq ..
      " bq=[" .. table.concat(bq, ",") .. "] held=" .. (held and (held.seq .. ":" .. held.topic .. ":" .. show(held.ev, -i - 20)) or "-"))
    local keep = {}
    if held then keep[1] = held end
    M.unread_records(P, keep)
    local ks = {}
    for _, m in ipairs(keep) do ks[#ks + 1] = m.seq .. ":" .. m.topic .. ":" .. (m.ev and show(m.ev, -i - 10) or tostring(m.v or (m.p and m.p[1]))) end
    L(P.pid .. " unread_records " .. table.concat(ks, ","))
  end
  return table.concat(log, "\n"), broken
end
`;

let engine: LuaEngine;
before(async () => { engine = await kernelWorldEngine('EV_SRC', SRC, PRELUDE); });

const world = (withC: boolean, seed: number): [string, number] =>
  engine.doStringSync(`return { WORLD(${withC}, ${seed}) }`) as [string, number];

test('events: the C path and the Lua give the same transcript in 120 seeded worlds, each source in order', () => {
  const seen = { recv: 0, parked: 0, select: 0, selmsg: 0, dflt: 0, late: 0, unlisten: 0, die: 0,
    overflow: 0, backlog: 0, held: 0, records: 0 };
  for (let seed = 1; seed <= 120; seed++) {
    const [c, cbroken] = world(true, seed);
    const [l, lbroken] = world(false, seed);
    assert.equal(c, l, `seed ${seed}: the C path's transcript differs from the Lua's`);
    assert.equal(cbroken + lbroken, 0, `seed ${seed}: an event arrived out of order or not as sent:\n${c}`);
    if (/ recv pid\./.test(c)) seen.recv++;
    if (/ recv pid\.\S+ true unread=0/.test(c)) seen.parked++;
    if (/ select ev pid\./.test(c)) seen.select++;
    if (/ select a /.test(c)) seen.selmsg++;
    if (/ select default/.test(c)) seen.dflt++;
    if (/ events unread=[1-9]/.test(c)) seen.late++;
    if (/ unlisten unread=[1-9]/.test(c)) seen.unlisten++;
    if (/ die unread=[1-9]/.test(c)) seen.die++;
    if (/^overflow /m.test(c)) seen.overflow++;
    if (/ bq=\[\d+:@pid\/events:0:pid\./.test(c)) seen.backlog++;
    if (/ held=\d+:@pid\/events:pid\./.test(c)) seen.held++;
    if (/unread_records \d+:@pid\/events:pid\./.test(c)) seen.records++;
  }
  // the worlds are not empty: every kind of case occurred
  for (const [k, n] of Object.entries(seen)) assert.ok(n > 0, `no world had a case of: ${k}`);
});

test('events: mutants of the Lua are caught by the transcripts', () => {
  const mutants: Array<[string, string]> = [
    // the event's seq in its backlog slots (select's earliest head, an upgrade's order)
    ['q[t + 1], q[t + 2] = ev, seq', 'q[t + 1], q[t + 2] = ev, seq + 1'],
    // the unread count of an event taken from the backlog
    ['    P.unread = P.unread - 1\n    return (ev_pop(s, s.bq))', '    return (ev_pop(s, s.bq))'],
    // the record a woken thread holds
    ['      w.mrec = { topic = EVENTS_TOPIC, ev = ev, n = 0, seq = seq }', '      w.mrec = nil'],
    // an event for a process without its events channel
    ['return qpush_at(P, "unrouted", { topic = EVENTS_TOPIC, ev = ev, n = 0, seq = seq })', 'return'],
  ];
  assertMutantsCaught(engine, 'EV_SRC', SRC, 'mailbox', mutants, (withC, seed) => world(withC, seed)[0]);
});
