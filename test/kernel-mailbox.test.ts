// src/lua/kernel/mailbox.lua on its own, under fakes of the scheduler's channels and the host
// (test/lua/kernel_fake.lua): routing on arrival, backlogs in arrival order, the unread count and
// bound, unlisten and upgrade giving records back, Message objects.
import { test } from 'node:test';
import { withKernelModules } from './helpers/kernel-module.js';

const SETUP = String.raw`
  overflowed = {}
  M = module("mailbox")({
    CH = F.CH, offer = F.offer, chan_new = F.chan_new, chan_close = F.chan_close,
    qpop = F.qpop, qlen = F.qlen, qpush_at = F.qpush_at, EMPTYQ = F.EMPTYQ,
    newud = F.H.newud, copy = F.copy, err = F.err, procs = F.procs, set_of = F.set_of,
    overflow = function(P, e) overflowed[#overflowed + 1] = P.pid .. ": " .. e.message end,
  })
  P = F.proc("{app|0x00001}")
  function send(topic, ...) M.deliver_msg(P, topic, "{app|0x00002}", select("#", ...), { ... }) end
  function drain(ch)
    local out = {}
    for n = 1, math.huge do -- bounded: a receive that never runs dry fails, named, instead of spinning
      if n > 100000 then error("drain: still receiving after 100000 values", 2) end
      local v, ok = F.receive(ch)
      if not ok then break end
      out[#out + 1] = v
    end
    return table.concat(out, ",")
  end
`;
const run = async (code: string): Promise<void> => { await withKernelModules(['mailbox'], SETUP + code); };

test('a message waits unrouted until a subscription appears, then arrives in order', () =>
  run(String.raw`
    send("jobs", "a"); send("jobs", "b"); send("@internal", "x")
    F.eq(P.unread, 3, "all three count as unread")
    F.eq(F.qlen(P.unrouted), 3)
    local ch = M.listen(P, "jobs")
    F.eq(F.qlen(P.unrouted), 1, "@internal still waits: only exact subscriptions take @ topics")
    F.eq(drain(ch), "a,b", "listen channel delivers in arrival order")
    F.eq(P.unread, 1, "reading two leaves the @ message")
  `));

test('the inbox takes every topic without a listen, as Message objects', () =>
  run(String.raw`
    local inbox = M.inbox(P)
    local jobs = M.listen(P, "jobs")
    send("hello", 1, 2); send("jobs", "j")
    local m = F.receive(inbox)
    F.eq(getmetatable(m), "process.Message")
    F.eq(m:topic(), "hello"); F.eq(m:from(), "{app|0x00002}")
    local p = m:payload()
    F.eq(#p, 2, "two payloads"); F.eq(p[1]:data(), 1); F.eq(p[2]:data(), 2)
    F.eq(drain(jobs), "j", "the listened topic bypasses the inbox")
    M.deliver_msg(P, "anon", "{|}", 0, {})
    local z = F.receive(inbox)
    F.eq(z:from(), nil, "the zero PID reads as no sender"); F.eq(z:payload(), nil)
  `));

test('a parked receiver gets the record at once; a full channel keeps a backlog', () =>
  run(String.raw`
    local ch = M.listen(P, "t")
    local s = F.CH[ch]
    local T = {}
    s.waiting, s.waiter = true, T
    send("t", "first")
    F.eq(s.got, "first", "handed to the parked receiver"); F.eq(P.unread, 0)
    F.eq(T.mrec.p[1], "first", "the woken thread holds the record until it runs")
    send("t", "2"); send("t", "3"); send("t", "4")
    F.eq(F.qlen(s.buf), 1, "the listen buffer holds one"); F.eq(#M.backlog_records(s), 2, "the rest wait in the backlog")
    F.eq(s.backlog(s), 3, "the backlog head is the 3rd arrival (sequence number)")
    F.eq(P.unread, 3)
    F.eq(drain(ch), "2,3,4"); F.eq(P.unread, 0, "each read leaves the count")
  `));

test('an arrival past max_mailbox ends the receiver instead of queueing', () =>
  run(String.raw`
    P.max_mailbox = 2
    send("a", 1); send("a", 2); send("a", 3)
    F.eq(#overflowed, 1)
    F.eq(overflowed[1], "{app|0x00001}: mailbox overflow: more than 2 messages unread")
    F.eq(P.unread, 2, "the third was not counted"); F.eq(F.qlen(P.unrouted), 2, "nor queued")
  `));

test('unlisten gives backlog records back to the inbox in order; upgrade collects every unread record', () =>
  run(String.raw`
    local inbox = M.inbox(P)
    local ch = M.listen(P, "t")
    send("t", "1"); send("t", "2"); send("t", "3"); send("other", "o")
    F.eq(P.unread, 4)
    M.unlisten(P, ch)
    F.eq(F.CH[ch].closed, true)
    F.eq(P.unread, 3, "the buffered value stays on the closed channel and leaves the count")
    local got = {}
    for i = 1, 3 do got[i] = F.receive(inbox):payload():data() end
    F.eq(table.concat(got, ","), "o,2,3", "inbox order is arrival order of the rerouting")

    local Q = F.proc("{app|0x00003}")
    local qch = M.listen(Q, "x")
    for i = 1, 3 do M.deliver_msg(Q, i == 2 and "@later" or "x", "", 1, { i }) end
    local keep = {}
    M.unread_records(Q, keep)
    F.eq(#keep, 3); F.eq(keep[1].p[1], 1); F.eq(keep[2].p[1], 2); F.eq(keep[3].p[1], 3)
  `));

test('listen checks its topic; copy_args refuses functions; stats finds the largest mailbox', () =>
  run(String.raw`
    local ch, e = M.listen(P, "@pid/inbox")
    F.eq(ch, nil); F.eq(e.kind, "Invalid"); F.eq(e.message, "cannot listen to @ topics")
    local _, e2 = M.listen(P, "")
    F.eq(e2.message, "topic cannot be empty")
    local args = { 1, { 2 }, print }
    local ok, e3 = M.copy_args(args, 3)
    F.eq(ok, nil); F.eq(e3.kind, "Invalid"); F.eq(e3.message, "cannot send a function")
    local Q = F.proc("{app|0x00009}")
    send("a", 1)
    M.deliver_msg(Q, "a", "", 0, {}); M.deliver_msg(Q, "a", "", 0, {})
    local total, max, pid = M.stats()
    F.eq(total, 3); F.eq(max, 2); F.eq(pid, "{app|0x00009}")
  `));

test('a drained backlog keeps its table up to BQ_KEEP slots and drops a bigger one (raw, Message, inbox), a raw one held weakly', () =>
  run(String.raw`
    P.max_mailbox = math.huge
    local inbox = M.inbox(P)
    local raw = M.listen(P, "r")
    local msgs = M.listen(P, "m", { message = true })
    -- each burst waits in its channel's backlog (no receiver), then is received in order
    local function burst(ch, topic, n)
      for i = 1, n do send(topic, i) end
      for i = 1, n do
        local v = F.receive(ch)
        if type(v) ~= "number" then v = v:payload():data() end
        F.eq(v, i, topic .. " #" .. i)
      end
      return F.CH[ch].bq
    end
    for _, c in ipairs({ { raw, "r", 6 }, { msgs, "m", 1 }, { inbox, "i", 1 } }) do
      local ch, topic, slots = c[1], c[2], c[3]
      -- a small burst: its queue is kept, back at slot 1 (the next burst reuses it)
      local q = burst(ch, topic, 64800 // slots)
      F.eq(q ~= F.EMPTYQ, true, topic .. ": a small backlog is kept")
      F.eq(q.h, 1, topic .. ": h"); F.eq(q.t, 0, topic .. ": t")
      F.eq(burst(ch, topic, 64800 // slots), q, topic .. ": and reused")
      -- a burst past BQ_KEEP (65,536) slots: dropped for the shared empty queue once drained
      F.eq(burst(ch, topic, 90000 // slots), F.EMPTYQ, topic .. ": a big backlog is dropped")
      local keys = 0
      for _ in pairs(q) do keys = keys + 1 end
      F.eq(keys, 2, topic .. ": the small queue's slots are empty (h and t left)")
    end
    -- a raw channel's dropped table is held weakly: taken back by a push before the collector's
    -- next cycle, gone after it
    local function backlogged(n) -- the first of n goes to the 1-slot buffer, the rest behind it
      for i = 1, n do send("r", i) end
      return F.CH[raw].bq
    end
    local function drain_raw(n) for i = 1, n do F.eq(F.receive(raw), i, "r #" .. i) end end
    collectgarbage("stop")
    local seen = setmetatable({}, { __mode = "v" }) -- the big table, not kept alive by the test
    seen[1] = backlogged(20000)
    drain_raw(20000)
    F.eq(F.CH[raw].bq, F.EMPTYQ, "dropped")
    F.eq(backlogged(2) == seen[1], true, "taken back before a collection")
    drain_raw(2)
    backlogged(20000); drain_raw(20000)
    F.eq(F.CH[raw].bq, F.EMPTYQ, "dropped again")
    collectgarbage("restart"); collectgarbage("collect"); collectgarbage("collect")
    F.eq(seen[1], nil, "the dropped table is collected")
    F.eq(backlogged(2) ~= F.EMPTYQ, true, "a new table after it")
    drain_raw(2)
  `));
