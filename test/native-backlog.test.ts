// A raw listen channel's flat backlog (mailbox.lua's "Backlogs": six slots per message, no record)
// and its refill hook, through every C step of a same-worker message (lsched.c's run loop,
// lsend.c's send, ldeliver.c's arrival and refill, lrecv.c's receive) against the Lua alone (the
// path of wasmoon's module and of WIPPY_CSCHED=0), in one Lua state: sched.lua, channel.lua,
// mailbox.lua and process.lua are loaded twice, one copy with every C step and one with none, and
// the same seeded processes run in both. Their scripts make backlogs deep (bursts of up to 40 sends
// while the receiver waits its turn, from several senders), and receive from them: plain receives,
// selects over two listen channels (the earliest backlog head wins) or over a listen channel and a
// timer channel a ticker fills (a receive with a timeout), closed channels, unlisten (the backlog
// falls back to the inbox), a channel turned into a Message one with its backlog (`listen` with
// message = true), payloads of 0, 1 (with and without a list) and 2 values, processes that die with
// messages queued, and at the end every process's unread records in arrival order (what an upgrade
// gets). The transcripts must be equal; every value names its sender, topic and the sender's count,
// so each world also checks that a receiver gets each sender's messages on a topic in the order
// they were sent.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { LuaEngine } from 'wasmoon';
import { assertMutantsCaught } from './helpers/lua-mutants.js';
import { kernelWorldEngine } from './helpers/lua-kernel-world.js';

const SRC = Object.fromEntries(['sched', 'channel', 'mailbox', 'process'].map((n) =>
  [n, readFileSync(path.resolve(`src/lua/kernel/${n}.lua`), 'utf8')]));

const PRELUDE = String.raw`
local nat = package.loaded["wippy.native"]
assert(nat and nat.sender and nat.deliverer and nat.runner and nat.receiver, "our module's C steps")

local function show(v)
  local t = type(v)
  if t == "string" then return v end
  if t == "number" then return math.type(v) .. ":" .. tostring(v) end
  if getmetatable(v) == "process.Message" then
    local p = v:payload()
    local ps = p == nil and "nil" or (getmetatable(p) == "payload" and show(p:data()) or ("#" .. #p))
    return "Msg(" .. v:topic() .. "," .. ps .. ")"
  end
  if t == "table" then
    local out = {}
    for i = 1, #v do out[i] = show(v[i]) end
    return "[" .. table.concat(out, ",") .. "]"
  end
  return tostring(v)
end

-- every field of a record (the buffer's, the spare, what unread_records hands out): the C refill
-- writes them all, so all are compared
local function showrec(m)
  if not m then return tostring(m) end
  return "{" .. tostring(m.seq) .. ":" .. tostring(m.topic) .. ":" .. tostring(m.from) .. ":" .. show(m.n) ..
    ":" .. show(m.p) .. ":" .. show(m.v) .. ":" .. tostring(m.ev ~= nil) .. "}"
end

function WORLD(with_c, seed)
  local log, order_broken = {}, 0
  local function L(s) log[#log + 1] = s end
  local run, err, S, C, M, procs, NONE, newud, copy = KERNEL_WORLD(BL_SRC, with_c, L,
    function(P) L("overflow " .. P.pid) end)
  local cold = function() error("a cold path of process.send") end
  local send = assert(load(BL_SRC.process, "@kernel/process.lua", "t"))()({
    run = run, err = err, error_message = function(e) return e.message end, procs = procs,
    cur = function() return run.cp end, check = function() return true end,
    parse_pid = cold, post = cold, encode = cold, encode_frame = cold, send_bytes = cold, rpc = cold,
    locate = function(pid)
      local P = procs[pid]
      if P and P.alive then return "local", P end
      return nil, err("NotFound", "no such process " .. pid)
    end,
    remote_uniq = {}, local_names = {}, copy = copy, copy_args = M.copy_args, deliver_msg = M.deliver_msg,
    pack = nat.msg.packer(copy), inbox = M.inbox, events = M.events, listen = M.listen, unlisten = M.unlisten,
    H = { wall = cold }, ready = S.ready, BLOCK = S.BLOCK, maybe_yield = S.maybe_yield,
    YIELD_AFTER = S.YIELD_AFTER, strict = false, sender = with_c and nat.sender or nil,
    wire = { M_PID = 2, M_FROM = 3, M_TOPIC = 4, M_N = 5, M_PAYLOADS = 6 },
    EV_EXIT = "exit", EV_LINK_DOWN = "link_down", EV_CANCEL = "cancel",
    readonly = function(t) return t end, builtin = {} }).send
  assert((debug.getinfo(send, "S").what == "C") == with_c, "the send of this world")

  local rs = seed
  local function rnd(n) rs = (rs * 1103515245 + 12345) % 2147483648; return (rs // 65536) % n + 1 end
  local DEFAULTS = { __index = { subs = NONE, unrouted = C.EMPTYQ, seq = 0, unread = 0, max_mailbox = 400,
    npending = 0, nsubs = 0, budget = false } }
  local N = 4
  local Ps, cha, chb, timer, count = {}, {}, {}, {}, {}
  for i = 1, N do
    local P = setmetatable({ 0, 0, 0, 0, 0, pid = "p" .. i, alive = true, threads = {}, nthreads = 0,
      nrun = 0, red = 0 }, DEFAULTS)
    procs[P.pid] = P
    Ps[i] = P
    cha[i], chb[i] = M.listen(P, "a"), M.listen(P, "b")
    timer[i] = C.channel.new(1) -- a receive's timeout: the ticker offers it a value now and then
    count[i] = 0
  end
  -- per (receiver, channel, topic, sender): the last count received, so a value out of order shows
  -- (a closed channel's buffered value may be read after the inbox got later ones: unlisten)
  local last = {}
  local function got(i, v, ch)
    local s = show(v)
    for from, topic, k in s:gmatch("(p%d)>(%a)#(%d+)") do
      local key = i .. ch .. topic .. from
      k = tonumber(k)
      if last[key] and k <= last[key] then order_broken = order_broken + 1; L("ORDER " .. key .. " " .. k) end
      last[key] = k
    end
    return s
  end
  -- a value naming its sender, topic and count: 0 values, one (with or without a list), or two
  local function burst(i, dest, topic, k)
    local P = Ps[i]
    for _ = 1, k do
      count[i] = count[i] + 1
      local tag = P.pid .. ">" .. topic .. "#" .. count[i]
      local _, e
      local w = rnd(10)
      if w == 1 then _, e = send(dest, topic) -- no value: nothing to order by
      elseif w == 2 then _, e = send(dest, topic, tag, "and")
      elseif w == 3 and procs[dest].alive then M.deliver_msg(procs[dest], topic, P.pid, 1, { tag })
      else _, e = send(dest, topic, tag) end
      if e then L(P.pid .. " send " .. dest .. " " .. e.message) break end
    end
  end
  local scripts = {}
  for i = 1, N do
    local sc = {}
    for j = 1, 30 do
      local r = rnd(24)
      if r <= 8 then sc[j] = { "burst", "p" .. rnd(N), ({ "a", "a", "b", "c" })[rnd(4)], rnd(40) }
      elseif r <= 12 then sc[j] = { "recv", rnd(3) }
      elseif r <= 14 then sc[j] = { "select", rnd(2) == 1 }
      elseif r == 15 then sc[j] = { "timeout" }
      elseif r == 16 then sc[j] = { "close" }
      elseif r == 17 then sc[j] = { "unlisten" }
      elseif r == 18 then sc[j] = { "asmsg" }
      elseif r == 19 then sc[j] = { "inbox" }
      elseif r == 20 and rnd(3) == 1 then sc[j] = { "die" }
      else sc[j] = { "yield" } end
    end
    scripts[i] = sc
  end
  for i = 1, N do
    local P = Ps[i]
    local T = S.new_thread(P, function()
      for j, a in ipairs(scripts[i]) do
        local tag = P.pid .. "#" .. j .. " "
        local op = a[1]
        if op == "burst" then burst(i, a[2], a[3], a[4])
        elseif op == "recv" then -- drain up to what is there, parking for the first
          for _ = 1, a[2] do
            local v, ok = (a[2] == 3 and chb[i] or cha[i]):receive()
            L(tag .. "recv " .. got(i, v, a[2] == 3 and "b" or "a") .. " " .. tostring(ok))
          end
        elseif op == "select" then
          local r = C.channel.select({ cha[i]:case_receive(), chb[i]:case_receive(), default = a[2] })
          L(tag .. "select " .. (r.default and "default" or ((r.channel == cha[i] and "a " or "b ") .. got(i, r.value, r.channel == cha[i] and "a" or "b") .. " " .. tostring(r.ok))))
        elseif op == "timeout" then
          local r = C.channel.select({ cha[i]:case_receive(), timer[i]:case_receive() })
          L(tag .. "timeout " .. (r.channel == timer[i] and "tick" or got(i, r.value, "a")))
        elseif op == "close" then chb[i]:close()
        elseif op == "unlisten" then M.unlisten(P, chb[i]); L(tag .. "unlisten unread=" .. P.unread)
        elseif op == "asmsg" then M.listen(P, "a", { message = true })
        elseif op == "inbox" then -- (made here: until then topic c waits unrouted)
          local ib = C.CH[M.inbox(P)]
          if #M.backlog_records(ib) > 0 then L(tag .. "inbox " .. got(i, P.inbox:receive(), "inbox")) end
        elseif op == "die" then P.alive = false; L(tag .. "die unread=" .. P.unread); return
        else coroutine.yield() end
      end
      return true
    end, nil, 0)
    T.name = P.pid
  end
  -- the ticker: a timer value for one process every few resumes, 100 times (then the worlds go quiet)
  local tick = S.new_thread(Ps[1], function()
    for _ = 1, 100 do
      for _ = 1, 3 do coroutine.yield() end
      local k = rnd(N)
      C.chan_offer(timer[k], "tick")
    end
  end, nil, 0)
  tick.name = "ticker"
  local deepest = 0
  for _ = 1, 60 do
    S.step()
    for i = 1, N do
      local s = C.CH[cha[i]]
      deepest = math.max(deepest, #M.backlog_records(s))
    end
  end
  for i, P in ipairs(Ps) do
    local s = C.CH[cha[i]]
    local buf = {}
    for k = s.buf.h, s.buf.t do buf[#buf + 1] = show(s.buf[k]) .. showrec(s.mrec[k]) end
    local bq, held = {}, 0
    for k in pairs(s.bq) do if math.type(k) == "integer" then held = held + 1 end end -- (a taken entry's slots are cleared)
    for _, m in ipairs(M.backlog_records(s)) do bq[#bq + 1] = m.seq .. ":" .. m.n .. ":" .. show(m.p or m.v) end
    L(P.pid .. " alive=" .. tostring(P.alive) .. " unread=" .. P.unread .. " seq=" .. P.seq .. " mode=" .. s.mode ..
      " buf=[" .. table.concat(buf, ",") .. "] bq=[" .. table.concat(bq, ",") .. "] spare=" .. showrec(s.spare) ..
      -- the queues' heads and tails and the backlog's slots held: an emptied backlog goes back to
      -- slot 1 (bq_emptied) on both paths, and a taken entry's slots are cleared
      " buf.h/t=" .. s.buf.h .. "/" .. s.buf.t .. " bq.h/t=" .. s.bq.h .. "/" .. s.bq.t .. " bq.slots=" .. held)
    local keep = {}
    M.unread_records(P, keep) -- what an upgrade gets back, in arrival order
    local ks = {}
    for _, m in ipairs(keep) do ks[#ks + 1] = showrec(m) end
    L(P.pid .. " unread_records " .. table.concat(ks, ","))
  end
  L("delivered=" .. M.delivered())
  return table.concat(log, "\n"), order_broken, deepest
end
`;

let engine: LuaEngine;
before(async () => { engine = await kernelWorldEngine('BL_SRC', SRC, PRELUDE); });

const world = (withC: boolean, seed: number): [string, number, number] =>
  engine.doStringSync(`return { WORLD(${withC}, ${seed}) }`) as [string, number, number];

test('flat backlogs: the C path and the Lua give the same transcript in 150 seeded worlds, each sender in order', () => {
  const seen = { deep: 0, select: 0, timeout: 0, tick: 0, closed: 0, unlisten: 0, message: 0, inbox: 0, die: 0,
    records: 0, two: 0, none: 0 };
  for (let seed = 1; seed <= 150; seed++) {
    const [c, cbroken, cdeep] = world(true, seed);
    const [l, lbroken, ldeep] = world(false, seed);
    assert.equal(c, l, `seed ${seed}: the C path's transcript differs from the Lua's`);
    assert.equal(cbroken + lbroken, 0, `seed ${seed}: a sender's messages arrived out of order:\n${c}`);
    assert.equal(cdeep, ldeep);
    if (cdeep >= 20) seen.deep++;
    if (/ select [ab] /.test(c)) seen.select++;
    if (/ timeout p\d>/.test(c)) seen.timeout++;
    if (/ timeout tick/.test(c)) seen.tick++;
    if (/ recv nil false$/m.test(c)) seen.closed++;
    if (/ unlisten unread=[1-9]/.test(c)) seen.unlisten++;
    if (/mode=message bq=|mode=message buf=\[Msg/.test(c) || / recv Msg\(a,p\d>a#/.test(c)) seen.message++;
    if (/ inbox Msg\(/.test(c)) seen.inbox++;
    if (/ die unread=[1-9]/.test(c)) seen.die++;
    if (/unread_records \{\d+:/.test(c)) seen.records++;
    if (/\[p\d>\w#\d+,and\]/.test(c)) seen.two++;
    if (/ recv nil true$/m.test(c)) seen.none++;
  }
  // the worlds are not empty: every kind of case occurred
  for (const [k, n] of Object.entries(seen)) assert.ok(n > 0, `no world had a case of: ${k}`);
  assert.ok(seen.deep > 30, `only ${seen.deep} worlds had a backlog of 20 or more`);
});

test('flat backlogs: mutants of the Lua are caught by the transcripts', () => {
  const mutants: Array<[string, string]> = [
    // the value of a backlogged message taken by a receive with an empty buffer (a closed channel)
    ['local _, _, n, p, v = flat_pop(s, bq)', 'local _, _, n, v, p = flat_pop(s, bq)'],
    // a raw channel's backlog behind a backlog holding records (the Lua refill then misreads them)
    ['      if s.mode == "raw" then flat_push(s, topic, from, n, p, v, seq)\n      else qpush_at(s, "bq", rec(s, topic, from, n, p, v, seq)) end\n      return',
      '      qpush_at(s, "bq", rec(s, topic, from, n, p, v, seq))\n      return'],
    // a channel turned into a Message one keeps its flat backlog
    ['local ms = backlog_drain(s, {})', 'local ms = {}'],
    // the order of a drained backlog (unlisten, unread_records)
    ['while bq.t >= bq.h do out[#out + 1] = flat_rec(s, bq) end', 'while bq.t >= bq.h do table.insert(out, 1, flat_rec(s, bq)) end'],
  ];
  assertMutantsCaught(engine, 'BL_SRC', SRC, 'mailbox', mutants, (withC, seed) => world(withC, seed)[0]);
});
