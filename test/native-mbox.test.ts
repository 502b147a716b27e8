// A message's arrival and the receive that waits for it in C (native/lua/lmbox.c,
// `wippy.native`.msg.deliverer and .receiver on our Lua module; the kernel has them off, init.lua's
// C_MBOX, as they measured no cheaper) against the Lua they replace
// (mailbox.lua's deliver_msg, to_channel, convert and channel.lua's offer; the front of
// channel.lua's receive), in one Lua state: channel.lua and mailbox.lua are loaded twice, once
// with the C steps and once without (the path of wasmoon's module), each under the same fake scheduler
// (ready and park write a log), and the same scenario runs in both. The transcripts (every wake
// with its values, each process's unread count and sequence, each channel's buffer, backlog,
// buffered records and waiting receivers, each thread's held record, then everything read back
// through receive) must be equal, and the scenario checks what the transcript must say, so the
// comparison is not of two empty logs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { LuaEngine } from 'wasmoon';
import { luaFactory } from '../src/lua/module.js';

const CHANNEL_SRC = readFileSync(path.resolve('src/lua/kernel/channel.lua'), 'utf8');
const MAILBOX_SRC = readFileSync(path.resolve('src/lua/kernel/mailbox.lua'), 'utf8');

const PRELUDE = String.raw`
local native = package.loaded["wippy.native"]
assert(native and native.msg and native.msg.deliverer, "wippy.native.msg.deliverer missing from our module")
DELIVERER, RECEIVER = native.msg.deliverer, native.msg.receiver

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
  local function ready(T, n, a1, a2)
    if T.dead then return end
    T.n, T.a1, T.a2 = n, a1, a2
    log("ready " .. T.name .. " " .. n .. " " .. SHOW(a1) .. " " .. SHOW(a2))
  end
  local function park() W.run.cur.parked = true; return "parked" end
  local nud = 0
  local function newud(mt) nud = nud + 1; return setmetatable({}, mt) end
  local function err(kind, message) return { kind = kind, message = message } end
  local C = assert(load(CHANNEL_SRC, "@kernel/channel.lua", "t"))()({
    run = W.run, ready = ready, park = park, maybe_yield = function() log("maybe_yield") end,
    newud = newud, err = err, receiver = with_c and RECEIVER or nil })
  W.procs = {}
  local NONE = setmetatable({}, { __newindex = function() error("write to the shared empty set") end })
  W.M = assert(load(MAILBOX_SRC, "@kernel/mailbox.lua", "t"))()({
    CH = C.CH, offer = C.offer, chan_new = C.chan_new, chan_close = C.chan_close,
    qpop = C.qpop, qlen = C.qlen, qpush_at = C.qpush_at, EMPTYQ = C.EMPTYQ,
    newud = newud, copy = function(v) return v end, err = err, procs = W.procs,
    set_of = function(P, k) local t = P[k]; if t == NONE then t = {}; P[k] = t end; return t end,
    overflow = function(P, e) log("overflow " .. P.pid .. ": " .. e.message) end,
    ready = ready, deliverer = with_c and DELIVERER or nil,
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
  function W.thread(name, P) local T = { name = name, proc = P }; W.threads[#W.threads + 1] = T; return T end
  function W.send(P, topic, ...) W.M.deliver_msg(P, topic, "{app|0x00002}", select("#", ...), { ... }) end
  function W.receive(T, ch)
    W.run.cur = T
    local v, ok = C.chan_methods.receive(ch)
    W.run.cur = nil
    return v, ok
  end
  function W.select(T, chs)
    W.run.cur = T
    local cases = {}
    for i, ch in ipairs(chs) do cases[i] = ch:case_receive() end
    local r = C.channel.select(cases)
    W.run.cur = nil
    return r
  end
  local function qshow(q, f)
    local out = {}
    for i = q.h, q.t do out[#out + 1] = f(q[i]) end
    return "[" .. table.concat(out, ",") .. "]"
  end
  local function seqof(m) return m and tostring(m.seq) or "-" end
  function W.dump()
    local out = {}
    for _, P in ipairs(W.plist) do
      out[#out + 1] = P.pid .. " unread=" .. P.unread .. " seq=" .. P.seq .. " unrouted=" .. qshow(P.unrouted, seqof)
    end
    for _, c in ipairs(W.chans) do
      local s = C.CH[c[2]]
      local mrec = {}
      if s.mrec then for i = s.buf.h, s.buf.t do mrec[#mrec + 1] = seqof(s.mrec[i]) end end
      out[#out + 1] = c[1] .. " closed=" .. tostring(s.closed) .. " buf=" .. qshow(s.buf, SHOW) ..
        " mrec=[" .. table.concat(mrec, ",") .. "] bq=" .. qshow(s.bq, seqof) ..
        " recvq=" .. qshow(s.recvq, function(w) return (w.T or w).name .. (w.sel and "/sel" or "") end)
    end
    for _, T in ipairs(W.threads) do out[#out + 1] = T.name .. " mrec=" .. seqof(T.mrec) end
    out[#out + 1] = "delivered=" .. W.M.delivered()
    return table.concat(W.log, "\n") .. "\n--\n" .. table.concat(out, "\n")
  end
  return W
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
  engine.global.set('CHANNEL_SRC', CHANNEL_SRC);
  engine.global.set('MAILBOX_SRC', MAILBOX_SRC);
  run(PRELUDE);
});
after(() => { (engine as unknown) = undefined; });

test('deliver: the C path and the Lua path leave the same wakes, queues, counts and reads', () => {
  const [lua, c] = run(`return { SCENARIO(WORLD(false)), SCENARIO(WORLD(true)) }`) as string[];
  assert.equal(c, lua);
  const want = [
    'ready T1 2 "x" true', // a parked receive: the value, at once
    'ready T2 2 Msg("greet","{app|0x00002}",integer:7) true', // the inbox: a Message
    'ready T3 1 {channel=ch ok=true value=Msg("b","{app|0x00002}",#3)} nil', // a select fired
    'ready T4 1 {channel=ch ok=true} nil', // a select, on an arrival with no payload
    'ready T1 2 {1=integer:1 3=integer:3} true', // three raw payloads, one nil
    'overflow {app|0x00003}: mailbox overflow: more than 3 messages unread',
    '{app|0x00001} unread=6 seq=12 unrouted=[12]', // "@x": no exact subscription
    '{app|0x00003} unread=3 seq=4 unrouted=[]', // the overflowing arrival neither counted nor numbered
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

test('deliver: count() is what C delivered, the rest is counted by the Lua', () => {
  const r = run(String.raw`
    local W = WORLD(true)
    local P = W.proc("{app|0x00001}")
    W.M.listen(P, "a")
    W.send(P, "a", 1); W.send(P, "a", 2)  -- C: buffer, backlog
    W.send(P, "b", 3)                      -- Lua: no channel yet (unrouted)
    P.max_mailbox = 0
    W.send(P, "a", 4)                      -- Lua: overflow
    return W.M.delivered() .. " " .. P.unread .. " " .. P.seq
  `) as string;
  assert.equal(r, '4 3 3');
});

test('receive: the C front and the Lua give the same errors, parks and values outside the common case', () => {
  const [lua, c] = run(String.raw`
    local function case(W)
      local out = {}
      local P = W.proc("{app|0x00001}")
      local T = W.thread("T", P)
      local ok, e = pcall(W.C.chan_methods.receive, {})
      out[#out + 1] = tostring(ok) .. " " .. tostring(e)
      -- a plain channel: a parked sender is the Lua's take; a buffered value too
      local ch = W.C.channel.new(1)
      local S = W.thread("S", P)
      W.run.cur = S
      W.C.chan_methods.send(ch, "b1")
      W.C.chan_methods.send(ch, "b2") -- the buffer is full: S parks as a sender
      W.run.cur = nil
      for _ = 1, 2 do out[#out + 1] = SHOW((W.receive(T, ch))) end
      -- outside a thread (run.cur nil) with a value there
      W.C.chan_offer(ch, "free")
      out[#out + 1] = SHOW((W.C.chan_methods.receive(ch)))
      out[#out + 1] = SHOW((W.receive(T, ch))) -- parks
      -- a closed channel
      W.C.chan_close(ch)
      out[#out + 1] = tostring(W.receive(T, ch))
      return table.concat(out, "\n") .. "\n" .. table.concat(W.log, "\n")
    end
    return { case(WORLD(false)), case(WORLD(true)) }
  `) as string[];
  assert.equal(c, lua);
  assert.match(lua, /^false .*channel expected/);
  assert.match(lua, /ready S 2 true nil\n/); // the parked sender, refilling the buffer
  assert.match(lua, /ready T 2 nil false$/); // the parked receiver, told of the close
  assert.match(lua, /"b1"\n"b2"\n"free"\n"parked"\nnil\n/);
});
