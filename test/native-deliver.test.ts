// A same-worker message's arrival in C (native/lua/ldeliver.c, `wippy.native`.deliverer on our Lua
// module: mailbox.lua's deliver_msg, to_channel, convert, channel.lua's offer and sched.lua's
// ready in one call) against the Lua it replaces, in one Lua state: sched.lua, channel.lua and
// mailbox.lua are loaded twice, once with the C arrival and once without (the path of wasmoon's
// module, and of WIPPY_CSCHED=0), and the same scenario runs in both. The transcripts (every
// thread readied, in run-queue order, with its wake values; each process's unread count and
// sequence; each channel's buffer, backlog, buffered records and waiting receivers; each thread's
// held record; then everything read back through receive) must be equal, and the scenario checks
// what the transcript must say, so the comparison is not of two empty logs. A seeded test runs
// random sequences of subscriptions, sends, receives, selects, closes, deaths and bounds.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { LuaEngine } from 'wasmoon';
import { luaFactory } from '../src/lua/module.js';

const SCHED_SRC = readFileSync(path.resolve('src/lua/kernel/sched.lua'), 'utf8');
const CHANNEL_SRC = readFileSync(path.resolve('src/lua/kernel/channel.lua'), 'utf8');
const MAILBOX_SRC = readFileSync(path.resolve('src/lua/kernel/mailbox.lua'), 'utf8');

const PRELUDE = String.raw`
local native = package.loaded["wippy.native"]
assert(native and native.deliverer, "wippy.native.deliverer missing from our module")
DELIVERER = native.deliverer

-- A value as text: Message objects by topic, sender and payloads; tables by contents.
function SHOW(v)
  local t = type(v)
  if t == "string" then return string.format("%q", v) end
  if t == "number" then return math.type(v) .. ":" .. tostring(v) end
  if getmetatable(v) == "process.Message" then
    local p = v:payload()
    local ps = p == nil and "nil" or (getmetatable(p) == "payload" and SHOW(p:data()) or ("#" .. #p))
    return "Msg(" .. SHOW(v:topic()) .. "," .. SHOW(v:from()) .. "," .. ps .. ")"
  end
  if t ~= "table" then return tostring(v) end
  if v.name then return "T:" .. v.name end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = tostring(k) end
  table.sort(keys)
  local out = {}
  for _, k in ipairs(keys) do
    local x = v[k] ~= nil and v[k] or v[tonumber(k)]
    out[#out + 1] = k .. "=" .. (k == "channel" and "ch" or SHOW(x))
  end
  return "{" .. table.concat(out, " ") .. "}"
end

-- One world: channel.lua and mailbox.lua under a fake scheduler, with or without the C path.
function WORLD(with_c)
  local W = { log = {}, run = {} }
  local function log(s) W.log[#W.log + 1] = s end
  local err = function(kind, message) return { kind = kind, message = message } end
  local S = assert(load(SCHED_SRC, "@kernel/sched.lua", "t"))()({ H = { now = function() return 0 end }, err = err, run = W.run })
  local ready = S.ready
  -- the threads readied since the last flush, in run-queue order, with their wake values; then
  -- the run queue emptied (sched.lua's locals, read through its probe)
  local function uv(name)
    for i = 1, 64 do
      local n, v = debug.getupvalue(S.probe, i)
      if n == name then return i, v end
      if n == nil then break end
    end
  end
  function W.flush()
    local _, runq = uv("runq")
    local ih, head = uv("rq_head")
    local it, tail = uv("rq_tail")
    for i = head, tail do
      local T = runq[i]
      log("ready " .. T.name .. " " .. T.n .. " " .. SHOW(T.a1) .. " " .. SHOW(T.a2) .. " parked=" .. tostring(T.parked))
      runq[i] = nil
    end
    debug.setupvalue(S.probe, ih, 1)
    debug.setupvalue(S.probe, it, 0)
  end
  local function park() W.flush(); W.run.cur.parked = true; return "parked" end
  local nud = 0
  local function newud(mt) nud = nud + 1; return setmetatable({}, mt) end
  local C = assert(load(CHANNEL_SRC, "@kernel/channel.lua", "t"))()({
    run = W.run, ready = ready, park = park, maybe_yield = function() W.flush(); log("maybe_yield") end,
    newud = newud, err = err })
  W.procs = {}
  local NONE = setmetatable({}, { __newindex = function() error("write to the shared empty set") end })
  W.M = assert(load(MAILBOX_SRC, "@kernel/mailbox.lua", "t"))()({
    CH = C.CH, offer = C.offer, chan_new = C.chan_new, chan_close = C.chan_close,
    qpop = C.qpop, qlen = C.qlen, qpush_at = C.qpush_at, EMPTYQ = C.EMPTYQ,
    newud = newud, copy = function(v) return v end, err = err, procs = W.procs,
    set_of = function(P, k) local t = P[k]; if t == NONE then t = {}; P[k] = t end; return t end,
    overflow = function(P, e) log("overflow " .. P.pid .. ": " .. e.message) end,
    deliverer = with_c and DELIVERER or nil, sched_probe = with_c and S.probe or nil,
  })
  W.C, W.chans, W.threads, W.plist = C, {}, {}, {}
  function W.proc(pid)
    local P = { pid = pid, alive = true, subs = NONE, unrouted = C.EMPTYQ, seq = 0, unread = 0,
      max_mailbox = math.huge, nsubs = 0, nrun = 0 }
    W.procs[pid] = P
    W.plist[#W.plist + 1] = P
    return P
  end
  function W.chan(name, ch) W.chans[#W.chans + 1] = { name, ch }; return ch end
  function W.thread(name, P) local T = { name = name, proc = P, parked = false }; W.threads[#W.threads + 1] = T; return T end
  function W.send(P, topic, ...) W.M.deliver_msg(P, topic, "{app|0x00002}", select("#", ...), { ... }); W.flush() end
  -- one value without a payload list, as process.send's common case sends it
  function W.send1(P, topic, v) W.M.deliver_msg(P, topic, "{app|0x00002}", 1, nil, v); W.flush() end
  function W.receive(T, ch)
    W.run.cur = T
    local v, ok = C.chan_methods.receive(ch)
    W.run.cur = nil
    W.flush()
    return v, ok
  end
  function W.select(T, chs)
    W.run.cur = T
    local cases = {}
    for i, ch in ipairs(chs) do cases[i] = ch:case_receive() end
    local r = C.channel.select(cases)
    W.run.cur = nil
    W.flush()
    return r
  end
  local function qshow(q, f)
    local out = {}
    for i = q.h, q.t do out[#out + 1] = f(q[i]) end
    return "[" .. table.concat(out, ",") .. "]"
  end
  local function seqof(m) return m and tostring(m.seq) or "-" end
  -- a channel's backlog as a queue of records, whatever its layout (a raw channel's is flat slots)
  local function bqof(s) local r = W.M.backlog_records(s); r.h, r.t = 1, #r; return r end
  function W.dump()
    local out = {}
    for _, P in ipairs(W.plist) do
      out[#out + 1] = P.pid .. " unread=" .. P.unread .. " seq=" .. P.seq .. " nrun=" .. P.nrun .. " unrouted=" .. qshow(P.unrouted, seqof)
    end
    for _, c in ipairs(W.chans) do
      local s = C.CH[c[2]]
      local mrec = {}
      if s.mrec then for i = s.buf.h, s.buf.t do mrec[#mrec + 1] = seqof(s.mrec[i]) end end
      out[#out + 1] = c[1] .. " closed=" .. tostring(s.closed) .. " buf=" .. qshow(s.buf, SHOW) ..
        " mrec=[" .. table.concat(mrec, ",") .. "] bq=" .. qshow(bqof(s), seqof) ..
        " recvq=" .. qshow(s.recvq, function(w) return (w.T or w).name .. (w.sel and "/sel" or "") end)
      -- a raw listen channel's spare record (mailbox.lua rec/refill): what it holds
      local m = s.spare
      out[#out + 1] = c[1] .. " spare=" .. (m and (m.seq .. ":" .. SHOW(m.p) .. "/" .. SHOW(m.v)) or "-")
    end
    for _, T in ipairs(W.threads) do out[#out + 1] = T.name .. " mrec=" .. seqof(T.mrec) end
    out[#out + 1] = "delivered=" .. W.M.delivered()
    return table.concat(W.log, "\n") .. "\n--\n" .. table.concat(out, "\n")
  end
  return W
end

-- A seeded random sequence: two processes, subscriptions, sends of 0-3 payloads (one value with or
-- without a payload list) to known and unknown topics, receives and selects by fresh threads,
-- woken threads that run, closes, deaths, discarded threads, bounds.
function RANDOM(W, seed)
  local rs = seed
  local function rnd(n) rs = (rs * 1103515245 + 12345) % 2147483648; return (rs // 65536) % n + 1 end
  local M = W.M
  local Ps = { W.proc("{app|0x00001}"), W.proc("{app|0x00003}") }
  local topics = { "a", "b", "c", "@x", "zz" }
  local chans = {}
  local nt = 0
  for _ = 1, 60 do
    local P = Ps[rnd(2)]
    local r = rnd(13)
    if r <= 2 then
      local t = topics[rnd(3)]
      local ch = M.listen(P, t, rnd(2) == 1 and { message = true } or nil)
      chans[#chans + 1] = { P, W.chan(P.pid .. t .. #chans, ch) }
    elseif r == 3 then chans[#chans + 1] = { P, W.chan(P.pid .. "inbox" .. #chans, M.inbox(P)) }
    elseif r <= 7 then
      local k = rnd(4) - 1
      if k == 0 then W.send(P, topics[rnd(5)])
      elseif k == 1 then
        if rnd(2) == 1 then W.send(P, topics[rnd(5)], rnd(9)) else W.send1(P, topics[rnd(5)], rnd(9)) end
      elseif k == 2 then W.send(P, topics[rnd(5)], "s" .. rnd(9), nil)
      else W.send(P, topics[rnd(5)], 1, { q = rnd(9) }, 3) end
    elseif r <= 9 and #chans > 0 then
      local c = chans[rnd(#chans)]
      nt = nt + 1
      local T = W.thread("T" .. nt, c[1])
      local v, ok = W.receive(T, c[2])
      W.log[#W.log + 1] = "recv " .. T.name .. " " .. SHOW(v) .. " " .. tostring(ok)
      if rnd(4) == 1 then T.dead = true end
    elseif r == 10 and #chans > 1 then
      local c1, c2 = chans[rnd(#chans)], chans[rnd(#chans)]
      if c1[1] == c2[1] and c1[2] ~= c2[2] then
        nt = nt + 1
        local T = W.thread("T" .. nt, c1[1])
        local res = W.select(T, { c1[2], c2[2] })
        W.log[#W.log + 1] = "select " .. T.name .. " " .. SHOW(res)
      end
    elseif r == 11 and #chans > 0 then
      local c = chans[rnd(#chans)]
      if rnd(3) == 1 then W.C.chan_close(c[2]) else c[1].alive = not c[1].alive end
    elseif r == 13 and #W.threads > 0 then
      -- a woken thread runs: sched.lua clears its T.mrec as it resumes it (a channel's kept
      -- record may then be refilled, mailbox.lua's deliver_msg)
      local T = W.threads[rnd(#W.threads)]
      if not T.dead and not T.parked then T.mrec = nil end
    else
      P.max_mailbox = rnd(3) == 1 and P.unread or math.huge
    end
  end
  return W.dump()
end

-- One value without a payload list: the channel's kept record (refilled only once the thread it
-- went to has run), every other place a record is made, and records leaving for an upgrade.
function SCENARIO_ONE(W)
  local M = W.M
  local P = W.proc("{app|0x00001}")
  local a = W.chan("a", M.listen(P, "a"))
  local T1, T2 = W.thread("T1", P), W.thread("T2", P)
  local out = {}
  local function note(s) out[#out + 1] = s end
  local function seqof(m) return m and tostring(m.seq) or "-" end
  -- a channel's backlog as a queue of records, whatever its layout (a raw channel's is flat slots)
  local function bqof(s) local r = W.M.backlog_records(s); r.h, r.t = 1, #r; return r end
  assert(W.receive(T1, a) == "parked")
  W.send1(P, "a", "x")
  local m1 = T1.mrec
  assert(W.receive(T2, a) == "parked")
  W.send1(P, "a", "y") -- T1 has not run: its record is held, T2 gets another
  note("held " .. tostring(T1.mrec == m1) .. " " .. T1.mrec.seq .. " " .. tostring(T2.mrec ~= m1) .. " " .. T2.mrec.seq)
  local m2 = T2.mrec
  T1.mrec = nil -- T1 runs
  assert(W.receive(T1, a) == "parked")
  W.send1(P, "a", false) -- the kept record is T2's, still held: a new one
  local m3 = T1.mrec
  note("new " .. tostring(m3 ~= m1 and m3 ~= m2) .. " " .. m3.seq .. " v=" .. tostring(m3.v) .. " p=" .. tostring(m3.p))
  T1.mrec, T2.mrec = nil, nil -- both run
  assert(W.receive(T1, a) == "parked")
  W.send1(P, "a", { k = 1 }) -- the kept record (m3) is free: refilled
  note("reused " .. tostring(T1.mrec == m3) .. " " .. m3.seq .. " " .. SHOW(m3.v) .. " T=" .. m3.T.name)
  -- the buffer and the backlog make their records (kept by slot, and queued)
  W.send1(P, "a", nil); W.send1(P, "a", 5); W.send1(P, "a", 6)
  -- a receive takes the buffered value; the backlog's head refills the buffer
  local sa = W.C.CH[a]
  local v5, ok5 = W.receive(W.thread("T5", P), a)
  note("refill " .. SHOW(v5) .. " " .. tostring(ok5) .. " buf=" .. SHOW(sa.buf[sa.buf.h]) .. " #buf=" .. (sa.buf.t - sa.buf.h + 1) ..
    " mrec=" .. seqof(sa.mrec[sa.buf.t]) .. " bq=" .. #M.backlog_records(sa) .. " unread=" .. P.unread)
  -- the inbox: a Message whose payload is the one value
  local inbox = W.chan("inbox", M.inbox(P))
  assert(W.receive(T2, inbox) == "parked")
  W.send1(P, "hello", "there")
  local msg = T2.a1
  note("msg " .. SHOW(msg) .. " " .. SHOW(msg:payload():data()))
  -- an upgrade: T1's held record, the buffer's and the backlog's come back as lists, in order
  local keep = { T1.mrec, T2.mrec }
  M.unread_records(P, keep)
  for _, m in ipairs(keep) do
    note("keep " .. m.seq .. " " .. m.topic .. " n=" .. m.n .. " p=" .. SHOW(m.p) .. " v=" .. tostring(m.v) .. " T=" .. tostring(m.T))
  end
  return W.dump() .. "\n--\n" .. table.concat(out, "\n")
end

-- fan-in through a raw listen channel: its backlog is flat (no record per message), and the record
-- a receive frees becomes the spare the next buffered message takes (no new table), values and
-- order intact; a Message channel's records (the Message objects a receiver holds) never do.
function SCENARIO_SPARES(W)
  local M = W.M
  local P = W.proc("{app|0x00001}")
  local a = W.chan("a", M.listen(P, "a"))
  local b = W.chan("b", M.listen(P, "b", { message = true }))
  local out = {}
  local function note(s) out[#out + 1] = s end
  local sa = W.C.CH[a]
  local function drain(tag)
    local got = {}
    while sa.buf.t >= sa.buf.h do
      if #got > 10000 then error(tag .. ": still receiving after 10000 values") end
      local v = W.receive(W.thread("R" .. tag .. #got, P), a)
      got[#got + 1] = SHOW(v)
    end
    note(tag .. " got " .. table.concat(got, ",") .. " spare=" .. (sa.spare and sa.spare.seq or "-") .. " unread=" .. P.unread)
  end
  for i = 1, 5 do W.send1(P, "a", "x" .. i) end -- one buffered, four in the backlog
  W.send(P, "a", "l1") -- one value in a list
  drain("first")
  local spare = sa.spare
  for i = 1, 4 do W.send1(P, "a", i) end
  W.send(P, "a", 1, 2) -- several values: flat in the backlog too
  note("reused " .. tostring(sa.mrec[sa.buf.t] == spare) .. " " .. spare.seq .. " " .. SHOW(spare.v) .. " spare=" .. tostring(sa.spare))
  drain("second")
  for i = 1, 20 do W.send1(P, "a", i) end -- one record for them all (the backlog is flat)
  drain("third")
  -- a Message channel: the received objects keep their payloads
  W.send1(P, "b", "m1"); W.send1(P, "b", "m2"); W.send1(P, "b", "m3")
  local sb = W.C.CH[b]
  local m1 = W.receive(W.thread("B1", P), b)
  local m2 = W.receive(W.thread("B2", P), b)
  W.send1(P, "b", "m4"); W.send1(P, "b", "m5")
  local m3 = W.receive(W.thread("B3", P), b)
  note("messages " .. SHOW(m1:payload():data()) .. " " .. SHOW(m2:payload():data()) .. " " .. SHOW(m3:payload():data()) ..
    " spare=" .. tostring(sb.spare))
  return W.dump() .. "\n--\n" .. table.concat(out, "\n")
end

-- Every case of an arrival, then everything read back.
function SCENARIO(W)
  local M = W.M
  local P = W.proc("{app|0x00001}")
  local a = W.chan("a", M.listen(P, "a"))
  local T1, T2, T3, T4 = W.thread("T1", P), W.thread("T2", P), W.thread("T3", P), W.thread("T4", P)
  -- a parked plain receive gets the value; then the 1-slot buffer; then the backlog
  assert(W.receive(T1, a) == "parked")
  W.send(P, "a", "x")
  W.send(P, "a", "y"); W.send(P, "a", "z"); W.send(P, "a", "w")
  -- a topic without a listen, and no inbox yet: unrouted (the Lua path)
  W.send(P, "hello", 1, 2)
  -- the inbox (Message objects): re-routes; a parked receiver gets a Message
  local inbox = W.chan("inbox", M.inbox(P))
  W.log[#W.log + 1] = "read " .. SHOW((W.receive(T2, inbox))) -- "hello", re-routed to its backlog
  assert(W.receive(T2, inbox) == "parked")
  W.send(P, "greet", 7)
  -- a select over a listen channel and the inbox: the first arrival fires it, the other
  -- waiter (its select done) is popped and skipped by the next arrival, which is backlogged
  local b = W.chan("b", M.listen(P, "b", { message = true }))
  W.select(T3, { b, inbox })
  W.send(P, "b", "bee", 2, 3)
  W.send(P, "none")
  W.send(P, "other", "o1")
  -- a select whose arrival is a raw value with no payload, and one with several
  local c = W.chan("c", M.listen(P, "c"))
  local c2 = W.chan("c2", M.listen(P, "c2"))
  W.select(T4, { c2, c })
  W.send(P, "c")
  assert(W.receive(T1, c) == "parked")
  W.send(P, "c", 1, nil, 3) -- a raw list of three, with a hole
  -- @ topics: the exact subscription only, else unrouted
  W.send(P, "@x", "at")
  -- a dead process's waiter is skipped; the value goes to the buffer
  local Q = W.proc("{app|0x00003}")
  local d = W.chan("d", M.listen(Q, "d"))
  local TQ = W.thread("TQ", Q)
  assert(W.receive(TQ, d) == "parked")
  Q.alive = false
  W.send(Q, "d", "to-dead")
  Q.alive = true
  -- a closed channel still subscribed refuses: the backlog
  local e = W.chan("e", M.listen(Q, "e"))
  W.C.chan_close(e)
  W.send(Q, "e", "closed1"); W.send(Q, "e", "closed2")
  -- the bound: an arrival past max_mailbox is the Lua's overflow
  Q.max_mailbox = Q.unread
  W.send(Q, "d", "over")
  Q.max_mailbox = math.huge
  -- a thread that was discarded (upgrade): ready drops it, the record is still handed over
  local f = W.chan("f", M.listen(Q, "f"))
  local TD = W.thread("TD", Q)
  assert(W.receive(TD, f) == "parked")
  TD.dead = true
  W.send(Q, "f", "to-discarded")
  local mid = W.dump()
  -- read everything back
  local reads = {}
  for _, c2 in ipairs(W.chans) do
    for _ = 1, 6 do
      local T = W.thread("R", (c2[2] == d or c2[2] == e or c2[2] == f) and Q or P)
      local v, ok = W.receive(T, c2[2])
      if v == "parked" then break end
      reads[#reads + 1] = c2[1] .. ":" .. SHOW(v) .. "," .. tostring(ok)
      if not ok then break end
    end
  end
  local keep = {}
  M.unread_records(P, keep)
  local ks = {}
  for i, m in ipairs(keep) do ks[i] = m.topic .. "#" .. m.seq end
  return mid .. "\n--reads\n" .. table.concat(reads, "\n") .. "\n--unread records\n" .. table.concat(ks, ",")
end
`;

let engine: LuaEngine;
const run = (code: string): unknown => engine.doStringSync(code);

before(async () => {
  engine = await luaFactory('native').createEngine({ injectObjects: false, enableProxy: false });
  engine.global.set('SCHED_SRC', SCHED_SRC);
  engine.global.set('CHANNEL_SRC', CHANNEL_SRC);
  engine.global.set('MAILBOX_SRC', MAILBOX_SRC);
  run(PRELUDE);
});
after(() => { (engine as unknown) = undefined; });

test('deliver: the C path and the Lua path leave the same wakes, queues, counts and reads', () => {
  const [lua, c] = run(`return { SCENARIO(WORLD(false)), SCENARIO(WORLD(true)) }`) as string[];
  assert.equal(c, lua);
  const want = [
    'ready T1 2 "x" true parked=false', // a parked receive: the value, at once
    'ready T2 2 Msg("greet","{app|0x00002}",integer:7) true parked=false', // the inbox: a Message
    'ready T3 1 {channel=ch ok=true value=Msg("b","{app|0x00002}",#3)} nil parked=false', // a select fired
    'ready T4 1 {channel=ch ok=true} nil parked=false', // a select, on an arrival with no payload
    'ready T1 2 {1=integer:1 3=integer:3} true parked=false', // three raw payloads, one nil
    'overflow {app|0x00003}: mailbox overflow: more than 3 messages unread',
    '{app|0x00001} unread=6 seq=12 nrun=5 unrouted=[12]', // "@x": no exact subscription
    '{app|0x00003} unread=3 seq=4 nrun=0 unrouted=[]', // the overflowing arrival neither counted nor numbered
    'a closed=false buf=["y"] mrec=[2] bq=[3,4] recvq=[]', // the 1-slot buffer, then the backlog
    'inbox closed=false buf=[] mrec=[] bq=[8,9] recvq=[]', // T3's fired select waiter skipped
    'c2 closed=false buf=[] mrec=[] bq=[] recvq=[T4/sel]', // a fired select's other waiter stays (lazy)
    'd closed=false buf=["to-dead"] mrec=[1] bq=[] recvq=[]', // a dead process's receiver skipped
    'e closed=true buf=[] mrec=[] bq=[2,3] recvq=[]', // closed: the backlog
    'T1 mrec=11', 'T2 mrec=6', 'T3 mrec=7', 'T4 mrec=10', 'TD mrec=4', // records held by woken threads
    'delivered=17',
    'a:"y",true\na:"z",true\na:"w",true',
    'inbox:Msg("none","{app|0x00002}",nil),true\ninbox:Msg("other","{app|0x00002}","o1"),true',
    'e:"closed1",true\ne:"closed2",true\ne:nil,false',
    '--unread records\n@x#12',
  ];
  for (const w of want) assert.ok(lua.includes(w), `the transcript should include ${w}:\n${lua}`);
});

test('deliver: one value without a list: the same on both paths, the kept record refilled only when free', () => {
  const [lua, c] = run(`return { SCENARIO_ONE(WORLD(false)), SCENARIO_ONE(WORLD(true)) }`) as string[];
  assert.equal(c, lua);
  const want = [
    'ready T1 2 "x" true parked=false',
    'ready T2 2 "y" true parked=false',
    'ready T1 2 false true parked=false', // false is a value, not "no payload"
    'ready T1 2 {k=integer:1} true parked=false',
    'held true 1 true 2', // a record still held by a thread that has not run is not refilled
    'new true 3 v=false p=nil',
    'reused true 4 {k=integer:1} T=T1', // the kept record, refilled for the next parked receiver
    'msg Msg("hello","{app|0x00002}","there") "there"',
    'refill nil true buf=integer:5 #buf=1 mrec=6 bq=1 unread=2', // records held by woken threads are read
    'a closed=true buf=[integer:5] mrec=[-] bq=[] recvq=[]', // (dumped after unread_records took them)
    // records leave as lists, without the thread, in arrival order (the closed channel's buffer
    // still holds its value: unread_records reads the records only)
    'keep 4 a n=1 p={1={k=integer:1}} v=nil T=nil\nkeep 6 a n=1 p={1=integer:5} v=nil T=nil\nkeep 7 a n=1 p={1=integer:6} v=nil T=nil\nkeep 8 hello n=1 p={1="there"} v=nil T=nil',
  ];
  for (const w of want) assert.ok(lua.includes(w), `the transcript should include ${w}:\n${lua}`);
});

test('deliver: the spare record of a raw listen channel: the same on both paths, reused, no payload kept', () => {
  const [lua, c] = run(`return { SCENARIO_SPARES(WORLD(false)), SCENARIO_SPARES(WORLD(true)) }`) as string[];
  assert.equal(c, lua);
  const want = [
    'first got "x1","x2","x3","x4","x5","l1" spare=6 unread=0', // the last received record kept
    'reused true 7 integer:1 spare=false', // refilled for the first buffered message (seq 7)
    'second got integer:1,integer:2,integer:3,integer:4,{1=integer:1 2=integer:2} spare=11 unread=0',
    'third got ' + Array.from({ length: 20 }, (_, i) => `integer:${i + 1}`).join(',') + ' spare=31 unread=0',
    'messages "m1" "m2" "m3" spare=false', // Message objects are never reused
    'a spare=31:false/false', // the spare holds no payload
    'b spare=-',
  ];
  for (const w of want) assert.ok(lua.includes(w), `the transcript should include ${w}:\n${lua}`);
});

test('deliver: the unread counts of a handoff: the same on both paths, own waiter or another process\'s', () => {
  // ldeliver.c leaves P.unread alone when the value goes to a parked receiver of P's own channel
  // (the Lua's +1, then -1 in to_channel); a state whose proc is another process (reached through
  // P.subs only by a test) gets both writes, as in the Lua
  const r = run(String.raw`
    local out = {}
    for _, with_c in ipairs({ false, true }) do
      local W = WORLD(with_c)
      local P, Q = W.proc("{app|0x00001}"), W.proc("{app|0x00003}")
      local a = W.chan("a", W.M.listen(P, "a"))
      local b = W.chan("b", W.M.listen(Q, "b"))
      P.subs.x = b -- P's topic x reaches Q's channel
      local T1, T2 = W.thread("T1", P), W.thread("T2", Q)
      W.receive(T1, a)          -- parks on P's own channel
      W.send1(P, "a", 1)        -- handed to T1: P.unread unchanged
      W.receive(T2, b)          -- parks on Q's channel
      W.send1(P, "x", 2)        -- handed to T2 through P's subs: P +1, Q -1
      W.send1(P, "a", 3)        -- buffered: P +1
      out[#out + 1] = P.unread .. " " .. Q.unread .. " " .. P.seq .. " " .. Q.seq .. " " .. tostring(rawget(P, "unread"))
      out[#out + 1] = W.dump()
    end
    return table.concat(out, "\n==\n")
  `) as string;
  const [lua, ldump, c, cdump] = r.split('\n==\n');
  assert.equal(c, lua);
  assert.equal(cdump, ldump);
  assert.equal(lua, '2 -1 3 0 2');
  assert.ok(ldump!.includes('ready T1 2 integer:1 true') && ldump!.includes('ready T2 2 integer:2 true'), ldump);
});

test('deliver: delivered() counts the arrivals of both paths (C, unrouted, overflow)', () => {
  const r = run(String.raw`
    local out = {}
    for _, with_c in ipairs({ false, true }) do
      local W = WORLD(with_c)
      local P = W.proc("{app|0x00001}")
      W.M.listen(P, "a")
      W.send(P, "a", 1); W.send(P, "a", 2)  -- buffer, backlog
      W.send(P, "b", 3)                      -- no channel yet (unrouted)
      P.max_mailbox = 0
      W.send(P, "a", 4)                      -- overflow
      out[#out + 1] = W.M.delivered() .. " " .. P.unread .. " " .. P.seq
    end
    return table.concat(out, "|")
  `) as string;
  assert.equal(r, '4 3 3|4 3 3');
});

test('deliver: seeded random worlds read the same with the C arrival as with the Lua (300 seeds)', () => {
  let woke = 0, selects = 0, overflows = 0;
  for (let seed = 1; seed <= 300; seed++) {
    const [lua, c] = run(`return { RANDOM(WORLD(false), ${seed}), RANDOM(WORLD(true), ${seed}) }`) as string[];
    assert.equal(c, lua, `seed ${seed}`);
    if (/ready T\d+ 2 /.test(lua!)) woke++;
    if (/ready T\d+ 1 \{channel/.test(lua!)) selects++;
    if (/overflow/.test(lua!)) overflows++;
  }
  // the worlds are not empty: waiting receivers, fired selects and overflows in many of them
  assert.ok(woke > 150 && selects > 30 && overflows > 30, `woke ${woke}, selects ${selects}, overflows ${overflows}`);
});

test('deliver: the comparison notices a one-step difference in the Lua', () => {
  // A step both paths share (convert, which the backlog and the listen buffer's refill use on
  // both) cannot make them differ: such a mutant must change the scenarios' transcripts instead.
  const scenarios = 'local ok1, a = pcall(SCENARIO, WORLD(false)); local ok2, b = pcall(SCENARIO_ONE, WORLD(false)); ' +
    'local ok3, c = pcall(SCENARIO_SPARES, WORLD(false)); return tostring(a) .. tostring(b) .. tostring(c)';
  const reference = run(scenarios) as string;
  const mutants: Array<[string, string]> = [
    ['elseif w then w.mrec = m; s.proc.unread = s.proc.unread - 1', 'elseif w then w.mrec = m'],
    ['if p then return p[1] end', 'if p then return p end'],
    ['if n == 1 then if p then x = p[1] else x = v end end', 'if n == 1 then x = v end'],
    ['if m and m.T.mrec ~= m then', 'if m then'],
    ['if buf.t - buf.h + 1 < s.cap then', 'if buf.t - buf.h < s.cap then'],
    // refill's inlined steps (the same Lua on both paths: the scenarios must change)
    ['if buf.t - buf.h + 1 >= cap then break end', 'if buf.t - buf.h + 2 >= cap then break end'],
    ['if n == 1 and not p then x = v else x = raw_value(n, p, v) end', 'if n == 1 then x = v else x = raw_value(n, p, v) end'],
    // the spare records (rec and refill): a field not refilled, a Message kept, no bound, a payload kept
    ['m.topic, m.from, m.n, m.p, m.v, m.seq = topic, from, n, p, v, seq', 'm.topic, m.from, m.n, m.p, m.v = topic, from, n, p, v'],
    ['if raw and m.ev == nil then', 'if m.ev == nil then'],
    // the flat backlog (a slot out of place, the head not advanced, p's false kept as a payload)
    ['q[t + 1], q[t + 2], q[t + 3], q[t + 4], q[t + 5], q[t + 6] = topic, from, n, p or false, v, seq',
      'q[t + 1], q[t + 2], q[t + 3], q[t + 4], q[t + 5], q[t + 6] = topic, from, n, p or false, seq, v'],
    ['if not p then p = nil end', 'if p == nil then p = nil end'],
    ['return topic, from, n, p or nil, v, seq', 'return topic, from, n, p, v, seq'],
    ['m.p, m.v = false, false', 'm.p = false'],
  ];
  for (const [from, to] of mutants) {
    const src = from.includes('buf.t - buf.h + 1 < s.cap') ? CHANNEL_SRC : MAILBOX_SRC;
    assert.ok(src.includes(from), `the kernel has ${from}`);
    engine.global.set(src === CHANNEL_SRC ? 'CHANNEL_SRC' : 'MAILBOX_SRC', src.replace(from, to));
    let differs = false;
    try {
      for (let seed = 1; seed <= 60 && !differs; seed++) {
        // (a mutant that breaks the Lua outright differs too)
        const [lua, c] = run(`local okl, l = pcall(RANDOM, WORLD(false), ${seed})
          local okc, c = pcall(RANDOM, WORLD(true), ${seed}); return { tostring(l), tostring(c) }`) as string[];
        differs = lua !== c;
      }
      if (!differs) differs = run(scenarios) !== reference;
    } finally {
      engine.global.set('CHANNEL_SRC', CHANNEL_SRC);
      engine.global.set('MAILBOX_SRC', MAILBOX_SRC);
    }
    assert.ok(differs, `a Lua with ${to} read like the C in 60 worlds and left the scenarios as they were`);
  }
});
