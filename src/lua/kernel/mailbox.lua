-- The mailbox of a process: Message objects, routing, backlogs, subscriptions, the unread bound.
-- (Over 500 lines: a backlog's two layouts and every reader of them stay beside the routing that
-- fills them, so a change of layout is one file's.)
--
-- Routing. Each process has one logical FIFO mailbox. Instead of walking the whole mailbox on
-- every step, a message is routed once, on arrival, to its target channel (exact `listen` topic,
-- else the inbox for topics that do not start with "@"); a channel that cannot take it at once
-- keeps it in its own ordered *backlog*, and a message with no target yet waits in `unrouted`
-- until a subscription appears. Per-channel order is therefore arrival order, and a select that
-- would park on several subscriptions takes the backlog head with the smallest arrival sequence
-- number: the message an in-order walk of the whole mailbox would deliver first.
--
-- Unread count and bound. Every process counts its unread mailbox records in P.unread: +1 on
-- arrival (`arrive`), -1 when one is read (handed to a parked receiver, taken from a channel's
-- backlog, or popped from a listen channel's 1-slot buffer, which the channel reports through its
-- `refill` hook). So the count is O(1) per message, and it covers `unrouted`, the backlogs and the
-- buffered values alike. An arrival that would make it pass the host's `max_mailbox` kills the
-- receiver ("mailbox overflow", kind Internal; docs/process-model.md says why the receiver and
-- not the sender). A record sitting in a listen channel's buffer is remembered per buffer slot
-- (s.mrec[index]); one handed to a woken thread that has not run yet is remembered on the thread
-- (T.mrec, cleared by the scheduler when it resumes it). `unread_records` uses both to give
-- process.upgrade every unread record back, in arrival order: nothing that reached the process is
-- lost.
--
-- Owns: mailbox records { topic, from, n, p | v | ev, seq [, T] } (a raw listen channel's backlog
-- holds the same fields as flat slots instead, and the events channel's its events and their seq:
-- "Backlogs" below), Message and payload objects, the
-- routing above, subscription channels (inbox, events, listen/unlisten), copying payloads.
-- Receives: from channel.lua CH, offer, chan_new, chan_close and the queue helpers, EMPTYQ and
-- qpush_at (as upvalues: deliver_msg -> to_channel -> offer is the message hot path); newud, copy, err; procs
-- (for stats only); set_of (pids.lua: P.subs is the shared empty set until a first subscription);
-- overflow(P, err), which ends P (lifecycle.lua's kill, bound late by init.lua: cold path); deliverer and
-- sched_probe (ldeliver.c's constructor and sched.lua's probe, or nil: the Lua deliver_msg); eventer
-- (levent.c's constructor, or nil: the Lua arrive_event and take_event).
return function(deps)
  local CH, offer, chan_new, chan_close = deps.CH, deps.offer, deps.chan_new, deps.chan_close
  local qpop, qlen, qpush_at, EMPTYQ = deps.qpop, deps.qlen, deps.qpush_at, deps.EMPTYQ
  local newud, copy, err, procs, overflow = deps.newud, deps.copy, deps.err, deps.procs, deps.overflow
  local set_of = deps.set_of -- P.subs, made its own at the first subscription (pids.lua)
  local setmetatable, tostring, type, pairs = setmetatable, tostring, type, pairs
  local sbyte = string.byte
  local ZERO_PID = "{|}"

  local M = {}

  -- Values crossing between processes are data only (codec.lua, "Limits"): copy args[1..n] in
  -- place. -> true | nil, err (kind Invalid, e.g. "cannot send a function")
  function M.copy_args(args, n)
    for i = 1, n do
      local c, cerr = copy(args[i])
      if cerr then return nil, err("Invalid", cerr, false) end
      args[i] = c
    end
    return true
  end

  ---------------------------------------------------------------------------------------------
  -- Message objects and payload wrappers.
  local MSG = setmetatable({}, { __mode = "k" })
  local PAY = setmetatable({}, { __mode = "k" })
  local msg_methods, pay_methods = {}, {}
  local MSG_MT = { __index = msg_methods, __metatable = "process.Message" }
  local PAY_MT = { __index = pay_methods, __metatable = "payload" }
  MSG_MT.__tostring = function(self) return "process.Message{topic=" .. tostring(MSG[self].topic) .. "}" end
  PAY_MT.__tostring = function() return "payload" end

  function msg_methods.topic(self) return MSG[self].topic end
  function msg_methods.from(self)
    local f = MSG[self].from
    if f == nil or f == "" or f == ZERO_PID then return nil end
    return f
  end
  local function wrap_payload(v)
    local w = newud(PAY_MT)
    PAY[w] = { v = v }
    return w
  end
  M.wrap_payload = wrap_payload -- payload objects of values not from a message (funcs results)
  function msg_methods.payload(self)
    local m = MSG[self]
    local n = m.n
    if n == 0 then return nil end
    local ps = m.p
    if n == 1 then
      if ps then return wrap_payload(ps[1]) end
      return wrap_payload(m.v) -- one value, carried without a list
    end
    local arr = {}
    for i = 1, n do arr[i] = wrap_payload(ps[i]) end
    return arr
  end
  function pay_methods.data(self) return PAY[self].v end
  function pay_methods.unmarshal(self) return PAY[self].v end
  function pay_methods.get_format(self) return "lua" end
  function pay_methods.transcode(self) return self end

  -- The value a raw channel delivers for a message of n values: the list p, or with p nil and
  -- n == 1 the one value v (a flat backlog entry's, or a record's: convert)
  local function raw_value(n, p, v)
    if n == 0 then return nil end
    if n == 1 then
      if p then return p[1] end
      return v -- one value, carried without a list
    end
    local arr = {}
    for i = 1, n do arr[i] = p[i] end
    return arr
  end

  -- Value a channel delivers for mailbox record m, by channel mode.
  local function convert(s, m)
    if m.ev then return m.ev end
    if s.mode == "message" then
      local u = newud(MSG_MT)
      MSG[u] = m
      return u
    end
    return raw_value(m.n, m.p, m.v)
  end

  ---------------------------------------------------------------------------------------------
  -- Backlogs: the hooks a subscription channel carries (sched.lua calls them from receive/select).
  --
  -- A raw (`listen`) channel's backlog is flat: FLAT slots per message in s.bq, from its head
  -- bq.h (topic, from, n, p or false, v, seq; bq.t the last slot used, so `bq.t >= bq.h` is still
  -- "not empty"), and no record per backlogged message. fan-in's receiver is busy while its
  -- senders run, so every message it gets waits in the backlog: a record each (a table with six
  -- keys, ~300 bytes with its hash part, made, kept alive through the backlog's traversals by the
  -- collector, and freed) was a third of its worker's CPU (docs/design/native-core.md, "The
  -- per-message path", session 10). A record is made only where one is handed out: the record of
  -- a value moved into the 1-slot buffer (s.mrec, the channel's spare: rec below), and
  -- for unlisten and unread_records (flat_rec). `p` is stored as false when absent, so an entry's
  -- slots are never more than one-third nil (the table's array part keeps them). The inbox's
  -- backlog (Message records) stays a queue of records: its receive hands the record out; the
  -- events channel's is flat too (EFLAT below). ldeliver.c pushes the same slots.
  local FLAT = 6
  local BQSPARE = setmetatable({}, { __mode = "v" }) -- state -> its dropped backlog (bq_emptied)
  local function flat_push(s, topic, from, n, p, v, seq)
    local q = s.bq
    if q == EMPTYQ then -- the table dropped when it last emptied, if the collector left it
      q = BQSPARE[s]
      if q then BQSPARE[s] = nil else q = { h = 1, t = 0 } end
      s.bq = q
    end
    local t = q.t
    q[t + 1], q[t + 2], q[t + 3], q[t + 4], q[t + 5], q[t + 6] = topic, from, n, p or false, v, seq
    q.t = t + FLAT
  end
  -- A backlog q (s.bq) just emptied: back to slot 1 (channel.lua's offer says why), and one whose
  -- array grew past BQ_KEEP slots is dropped (s.bq = EMPTYQ: the next push makes a small one).
  -- Emptying clears the slots but not the array, and Lua shrinks an array only when a rehash
  -- comes, which a queue refilled from slot 1 never asks for: a channel that once held a million
  -- messages kept ~96 MB of array for the rest of its life, scanned by every collection. q's slot
  -- numbers never passed q.t since it last went back to slot 1, so q.t bounds its array. Up to
  -- BQ_KEEP slots (65,536: 1 MB of array; a flat backlog of 10,922 messages) the table is kept,
  -- so a steady stream's backlog does not regrow every turn: a cross-worker stream's receiver
  -- takes ~5,700 messages per step, and with 8,192 its worker's CPU per message rose ~10 % (the
  -- regrowth, and the collector paying for the dropped arrays). A burst past it (fan-in's
  -- 100,000-1,000,000 per lap) regrows once per lap, 5-28 ns per message, 1-5 % of a backlogged
  -- message's cost (docs/design/native-core.md, "The per-message path", session 10). The old
  -- table is left empty too (h = 1, t = 0): a caller's local copy of it reads an empty queue.
  -- A raw channel's dropped table is kept weakly (BQSPARE[s]) until the collector's next
  -- atomic phase: a push before that takes it back (fan-in's next lap starts right after its
  -- receiver drained the last one, so a deep fan-in does not regrow each lap; it read 0.93x
  -- the messages/s without this), and after it the array is gone (an idle channel's memory
  -- comes back at the next cycle). ldeliver.c's refill and flat_push do the same (its BQ_KEEP).
  local BQ_KEEP = 65536
  local function bq_emptied(s, q)
    local t = q.t
    q.h, q.t = 1, 0
    if t > BQ_KEEP then
      s.bq = EMPTYQ
      if s.mode == "raw" then BQSPARE[s] = q end
    end
  end
  -- Pop the head entry of s's flat backlog q (not empty): its six values, p nil when absent.
  local function flat_pop(s, q)
    local h = q.h
    local topic, from, n, p, v, seq = q[h], q[h + 1], q[h + 2], q[h + 3], q[h + 4], q[h + 5]
    q[h], q[h + 1], q[h + 2], q[h + 3], q[h + 4], q[h + 5] = nil, nil, nil, nil, nil, nil
    if h + FLAT > q.t then bq_emptied(s, q) else q.h = h + FLAT end -- emptied: back to slot 1
    return topic, from, n, p or nil, v, seq
  end
  -- A record of a flat entry (unlisten, unread_records, a channel turning into a Message one)
  local function flat_rec(s, q)
    local topic, from, n, p, v, seq = flat_pop(s, q)
    return { topic = topic, from = from, n = n, p = p, v = v, seq = seq }
  end
  -- The events channel's backlog is flat too: EFLAT slots per event in s.bq (the event table,
  -- its seq), no mailbox record. Its record ({ topic = EVENTS_TOPIC, ev, n = 0, seq }: 4 hash
  -- slots, ~170 bytes) was made per EXIT only to be taken apart by the receive (spawn-exit's
  -- driver takes nearly every EXIT from the backlog: it is busy spawning while its children end).
  -- A record is made where one is handed out: to a woken thread (T.mrec, arrive_event), and for
  -- unlisten and unread_records (ev_rec). Only events reach the events channel (its topic starts
  -- with "@", which no send may use: process.lua, control.ts). native/lua/levent.c pushes and
  -- takes the same slots.
  local EFLAT = 2
  local EVENTS_TOPIC = "@pid/events"
  local function ev_push(s, ev, seq)
    local q = s.bq
    if q == EMPTYQ then q = { h = 1, t = 0 }; s.bq = q end
    local t = q.t
    q[t + 1], q[t + 2] = ev, seq
    q.t = t + EFLAT
  end
  -- Pop the head event of s's backlog q (not empty) -> ev, seq
  local function ev_pop(s, q)
    local h = q.h
    local ev, seq = q[h], q[h + 1]
    q[h], q[h + 1] = nil, nil
    if h + EFLAT > q.t then bq_emptied(s, q) else q.h = h + EFLAT end -- emptied: back to slot 1
    return ev, seq
  end
  local function ev_rec(s, q)
    local ev, seq = ev_pop(s, q)
    return { topic = EVENTS_TOPIC, ev = ev, n = 0, seq = seq }
  end
  -- Push record m on s's backlog (to_channel and route: a raw channel's keeps its fields, the
  -- events channel's its event)
  local function backlog_push(s, m)
    local mode = s.mode
    if mode == "raw" then
      if m.ev ~= nil then error("kernel: an event record for a raw channel") end
      flat_push(s, m.topic, m.from, m.n, m.p, m.v, m.seq)
    elseif mode == "event" then
      if m.ev == nil then error("kernel: a message record for the events channel") end
      ev_push(s, m.ev, m.seq)
    else
      qpush_at(s, "bq", m)
    end
  end
  -- Every record of s's backlog, in order, taken off it (unlisten, unread_records, listen)
  local function backlog_drain(s, out)
    local bq = s.bq
    if s.mode == "raw" then
      while bq.t >= bq.h do out[#out + 1] = flat_rec(s, bq) end
    elseif s.mode == "event" then
      while bq.t >= bq.h do out[#out + 1] = ev_rec(s, bq) end
    else
      while bq.t >= bq.h do out[#out + 1] = qpop(bq) end
      if bq ~= EMPTYQ then bq_emptied(s, bq) end
    end
    return out
  end
  -- The records of s's backlog in order, left in place (the tests' dumps)
  function M.backlog_records(s)
    local bq, out = s.bq, {}
    local flat, evs = s.mode == "raw", s.mode == "event"
    local i = bq.h
    while i <= bq.t do
      if flat then
        local p = bq[i + 3]
        out[#out + 1] = { topic = bq[i], from = bq[i + 1], n = bq[i + 2], p = p or nil, v = bq[i + 4], seq = bq[i + 5] }
        i = i + FLAT
      elseif evs then
        out[#out + 1] = { topic = EVENTS_TOPIC, ev = bq[i], n = 0, seq = bq[i + 1] }
        i = i + EFLAT
      else
        out[#out + 1] = bq[i]
        i = i + 1
      end
    end
    return out
  end
  local function backlog_head(s)
    local bq = s.bq
    if bq.t >= bq.h then
      local mode = s.mode
      if mode == "raw" then return bq[bq.h + 5] end
      if mode == "event" then return bq[bq.h + 1] end
      return bq[bq.h].seq
    end
    return nil
  end
  local function take_backlog(s)
    local P = s.proc
    P.unread = P.unread - 1
    local bq = s.bq
    if s.mode == "raw" then
      local _, _, n, p, v = flat_pop(s, bq)
      return raw_value(n, p, v)
    end
    local m = qpop(bq)
    if bq.h > bq.t then bq_emptied(s, bq) end -- emptied: back to slot 1, a big array dropped
    return convert(s, m)
  end
  -- The events channel's take_backlog: its head event (on our module levent.c's take, the same
  -- steps)
  local function take_event(s)
    local P = s.proc
    P.unread = P.unread - 1
    return (ev_pop(s, s.bq))
  end
  -- A record for a message of channel state s: its spare (s.spare: a raw channel's buffered
  -- record whose value has been received, refill below), else a new one. A raw channel's record is
  -- never handed out (its value is), so once its value has left the buffer nothing else holds it,
  -- and the next message the buffer takes reuses it: fan-in's receiver frees one per message and
  -- takes one per message, no table per message. One spare is enough: a raw channel holds a record
  -- only for its 1-slot buffer (its backlog is flat), so it never has two to spare.
  local function rec(s, topic, from, n, p, v, seq)
    local m = s.spare
    if m then
      s.spare = false
      m.topic, m.from, m.n, m.p, m.v, m.seq = topic, from, n, p, v, seq
      return m
    end
    return { topic = topic, from = from, n = n, p = p, v = v, seq = seq }
  end

  -- A listen channel's hook, called right after a value was popped from its buffer (sched.lua
  -- `take`): the popped slot's record is read; then the backlog refills the buffer.
  -- Emptied queues go back to slot 1 (as take_backlog's and channel.lua's offer's do): a buffer
  -- or backlog whose head and tail only grow puts every new slot, and every record in s.mrec, in
  -- a table's hash part (Lua reuses its dead slots, so no rehash: a slower insert and lookup,
  -- 336-373 -> 280-307 ns for the buffer's step in one Lua state, docs/design/scheduler.md). The
  -- buffer may restart at slot 1 because, once empty, s.mrec is empty too: a record is kept per
  -- buffered slot and cleared here when its slot is popped.
  -- (qlen, qpop and qpush_at inlined, and flat_pop for a raw channel: fan-in's receiver comes
  -- through here once per message; the same steps. On our module this runs in C, ldeliver.c's
  -- refill, which lrecv.c's receive calls directly.)
  local function refill(s)
    local buf, mrec = s.buf, s.mrec
    local i = buf.h - 1
    local m = mrec[i]
    local raw = s.mode == "raw"
    if m then
      mrec[i] = nil
      s.proc.unread = s.proc.unread - 1
      if raw and m.ev == nil then -- a raw channel keeps the record as its spare (rec above)
        m.p, m.v = false, false -- its payload is not kept reachable; the keys stay (no rehash on reuse)
        s.spare = m
      end
    end
    if buf.h > buf.t then buf.h, buf.t = 1, 0 end
    local bq = s.bq
    local bh, bt = bq.h, bq.t
    if bt >= bh then
      local cap = s.cap
      while bt >= bh do
        buf = s.buf
        if buf.t - buf.h + 1 >= cap then break end
        local x
        if raw then -- a flat entry (flat_pop's steps; the record is made for the buffered slot)
          local topic, from, n, p, v, seq = bq[bh], bq[bh + 1], bq[bh + 2], bq[bh + 3], bq[bh + 4], bq[bh + 5]
          bq[bh], bq[bh + 1], bq[bh + 2], bq[bh + 3], bq[bh + 4], bq[bh + 5] = nil, nil, nil, nil, nil, nil
          bh = bh + FLAT
          bq.h = bh
          if not p then p = nil end
          if n == 1 and not p then x = v else x = raw_value(n, p, v) end
          m = rec(s, topic, from, n, p, v, seq)
        else
          m = bq[bh]
          bq[bh] = nil
          bh = bh + 1
          bq.h = bh
          x = convert(s, m)
        end
        if buf == EMPTYQ then buf = { h = 1, t = 0 }; s.buf = buf end
        local t = buf.t + 1
        buf.t = t
        buf[t] = x
        mrec[t] = m
      end
      if bh > bt then bq_emptied(s, bq) end
    end
  end

  -- Deliver record m into subscription channel ch, keeping per-channel order.
  local function to_channel(ch, m)
    local s = CH[ch]
    local bq = s.bq
    if bq.t >= bq.h then backlog_push(s, m); return end
    local ok, w = offer(s, ch, convert(s, m))
    if not ok then backlog_push(s, m)
    elseif w then w.mrec = m; s.proc.unread = s.proc.unread - 1 -- handed to a parked receiver's thread
    else s.mrec[s.buf.t] = m end -- buffered
  end

  local function target_of(P, topic)
    local ch = P.subs[topic]
    if ch then return ch end
    if sbyte(topic, 1) ~= 64 then return P.inbox end
    return nil
  end

  -- Route one mailbox record: its exact subscription, else the inbox (topics not starting with
  -- "@"), else `unrouted` until a subscription appears.
  local function route(P, m)
    local seq = P.seq + 1
    P.seq = seq
    m.seq = seq
    local ch = target_of(P, m.topic)
    if ch then to_channel(ch, m) else qpush_at(P, "unrouted", m) end
  end
  M.route = route

  -- Re-route what waits in `unrouted` after a subscription appeared.
  local function reroute(P)
    local old = P.unrouted
    if old.t < old.h then return end
    P.unrouted = EMPTYQ
    while old.t >= old.h do
      local m = qpop(old)
      local ch = target_of(P, m.topic)
      if ch then to_channel(ch, m) else qpush_at(P, "unrouted", m) end
    end
  end

  -- A new record reaches P's mailbox: count it (-> true), or end P if that passes its bound.
  local function admit(P)
    local n = P.unread + 1
    if n > P.max_mailbox then
      overflow(P, err("Internal", "mailbox overflow: more than " .. P.max_mailbox .. " messages unread"))
      return false
    end
    P.unread = n
    return true
  end
  local function arrive(P, m)
    if admit(P) then route(P, m) end
  end
  M.arrive = arrive

  -- An event (EXIT, LINK_DOWN, CANCEL: lifecycle.lua) reaches P's mailbox: arrive's, route's and
  -- to_channel's steps for the record { topic = EVENTS_TOPIC, ev = ev, n = 0 }, in their order,
  -- without the record where none is kept: the events channel's backlog takes the event as its
  -- flat slots (ev_push), a parked receiver the event itself (its thread holds the record,
  -- T.mrec, until it runs). A record is made for `unrouted` (no events channel yet) and for the
  -- woken thread. On our module this runs in C (native/lua/levent.c's arrive).
  local function arrive_event(P, ev)
    if not admit(P) then return end
    local seq = P.seq + 1
    P.seq = seq
    local ch = P.subs[EVENTS_TOPIC]
    if not ch then return qpush_at(P, "unrouted", { topic = EVENTS_TOPIC, ev = ev, n = 0, seq = seq }) end
    local s = CH[ch]
    local bq = s.bq
    if bq.t >= bq.h then ev_push(s, ev, seq); return end
    local ok, w = offer(s, ch, ev)
    if not ok then ev_push(s, ev, seq)
    elseif w then -- handed to a parked receiver's thread
      w.mrec = { topic = EVENTS_TOPIC, ev = ev, n = 0, seq = seq }
      s.proc.unread = s.proc.unread - 1
    else s.mrec[s.buf.t] = { topic = EVENTS_TOPIC, ev = ev, n = 0, seq = seq } end -- buffered
  end

  -- Messages delivered on this worker since it started (the process table's totals, ptable.lua).
  local delivered = 0
  -- Every message's path: arrive, route and target_of above, inlined (three Lua calls of the ~30
  -- a same-worker message costs; they stay for events and re-routing), the same steps in the
  -- same order. deliver_msg(P, topic, from, n, p [, v]): the payload is the list p, or, with p
  -- nil and n == 1, the one value v (process.send's common case: no list per message).
  --
  -- The common case makes no table. A raw (`listen`) channel with no backlog takes the value
  -- itself (no record is needed to convert it): a buffered value or a backlog entry gets its
  -- record, the channel's spare (rec) or one made with its keys at once (an 8-slot hash
  -- part: setting a key afterwards would rehash a smaller one, an allocation and a free per
  -- message); a value handed to a parked
  -- receiver's thread needs a record only while that thread has not run (T.mrec: an upgrade in
  -- between gives it back, upgrade.lua), so the channel keeps one such record (s.wrec) and
  -- refills it when the thread it last went to has run (its T.mrec is no longer this record:
  -- sched.lua clears T.mrec as it resumes a thread). A record still held (that thread has not
  -- run, or was discarded by an upgrade that kept the record) is left alone and a new one made.
  -- The kept record holds the last such message's payload until the next one (one value per
  -- listen channel). A Message object (the inbox, `listen` with message = true) is the record
  -- itself, and a list of several values is copied per receive: those make their tables.
  local function deliver_msg(P, topic, from, n, p, v)
    delivered = delivered + 1
    local u = P.unread + 1
    if u > P.max_mailbox then
      overflow(P, err("Internal", "mailbox overflow: more than " .. P.max_mailbox .. " messages unread"))
      return
    end
    P.unread = u
    local seq = P.seq + 1
    P.seq = seq
    local ch = P.subs[topic]
    if not ch and sbyte(topic, 1) ~= 64 then ch = P.inbox end
    if not ch then
      qpush_at(P, "unrouted", { topic = topic, from = from, n = n, p = p, v = v, seq = seq })
      return
    end
    local s = CH[ch]
    local bq = s.bq
    if bq.t >= bq.h then -- behind a backlog (fan-in's common case): a raw channel's takes the slots
      if s.mode == "raw" then flat_push(s, topic, from, n, p, v, seq)
      else qpush_at(s, "bq", rec(s, topic, from, n, p, v, seq)) end
      return
    end
    if (n ~= 0 and n ~= 1) or s.mode == "message" then
      to_channel(ch, rec(s, topic, from, n, p, v, seq))
      return
    end
    -- convert's value for a raw channel, and offer
    local x = nil
    if n == 1 then if p then x = p[1] else x = v end end
    local ok, w = offer(s, ch, x)
    if not ok then
      if s.mode == "raw" then flat_push(s, topic, from, n, p, v, seq)
      else qpush_at(s, "bq", rec(s, topic, from, n, p, v, seq)) end
    elseif w then -- handed to a parked receiver's thread
      local m = s.wrec
      if m and m.T.mrec ~= m then
        m.topic, m.from, m.n, m.p, m.v, m.seq, m.T = topic, from, n, p, v, seq, w
      else
        m = { topic = topic, from = from, n = n, p = p, v = v, seq = seq, T = w }
        s.wrec = m
      end
      w.mrec = m
      s.proc.unread = s.proc.unread - 1
    else -- buffered
      s.mrec[s.buf.t] = rec(s, topic, from, n, p, v, seq)
    end
  end
  M.deliver_msg = deliver_msg
  -- On our Lua module deliver_msg runs in C (native/lua/ldeliver.c: deliver_msg, to_channel, convert,
  -- offer and sched.lua's ready in one call, the same steps over the same state; the cold cases go
  -- to the Lua above). It finds these locals by name among probe's upvalues (and the run queue's
  -- among sched.lua's probe, deps.sched_probe).
  local function probe() return CH, EMPTYQ, BQSPARE, delivered, to_channel, convert, deliver_msg, refill end
  -- (and refill, a listen channel's hook, runs in C there too: ldeliver.c's, which lrecv.c's
  -- receive calls without a call through Lua; a Message channel's goes to the Lua refill)
  local refill_hook = refill
  if deps.deliverer and deps.sched_probe then
    M.deliver_msg, refill_hook = deps.deliverer(deps.sched_probe, probe)
  end
  function M.delivered() return delivered end
  -- On our module arrive_event and the events channel's take_backlog run in C (levent.c: the same
  -- steps over the same state, through ldeliver.c's offer; the record cases go to the Lua above).
  -- It finds these locals by name among ev_probe's upvalues.
  local arrive_event_hook, take_event_hook = arrive_event, take_event
  local function ev_probe() return CH, EMPTYQ, EVENTS_TOPIC, arrive_event, take_event end
  if deps.eventer and deps.deliverer and deps.sched_probe then
    arrive_event_hook, take_event_hook = deps.eventer(M.deliver_msg, ev_probe)
  end
  M.arrive_event = arrive_event_hook

  ---------------------------------------------------------------------------------------------
  -- Subscriptions. Every subscription is a channel whose state carries the backlog hooks above.
  -- Its state is a channel's (channel.lua: cap, buf, recvq, sendq, closed) plus its mode, backlog
  -- and process, and for a listen channel (capacity 1) the records of its buffered values. What a
  -- subscription of a kind starts with (its capacity, mode and hooks, the shared empty queues,
  -- not closed) is read through that kind's shared metatable; a field the channel writes (a queue
  -- at its first push, `closed`, `mode`) becomes the state's own. So the inbox of a process that
  -- waits holds two fields (its process, and the queue of its one waiting receiver): 2 hash slots
  -- instead of 16 and one queue instead of four, 577 bytes less per process (measured with the
  -- hold bench; docs/design/native-core.md, "Memory per process").
  local function kind(cap, mode, hooks)
    local d = { cap = cap, mode = mode, buf = EMPTYQ, recvq = EMPTYQ, sendq = EMPTYQ, bq = EMPTYQ,
      closed = false, spare = false, backlog = backlog_head, take_backlog = take_backlog }
    for k, v in pairs(hooks) do d[k] = v end
    return { __index = d }
  end
  local KINDS = {
    [0] = { message = kind(0, "message", {}), event = kind(0, "event", { take_backlog = take_event_hook }) },
    [1] = { message = kind(1, "message", { refill = refill_hook }), raw = kind(1, "raw", { refill = refill_hook }) },
  }
  local function subscribe(P, cap, mode)
    local s
    if cap > 0 then s = setmetatable({ proc = P, mrec = {}, spare = false }, KINDS[1][mode])
    else s = setmetatable({ proc = P }, KINDS[0][mode]) end
    local ch = chan_new(cap, s)
    P.nsubs = P.nsubs + 1
    return ch
  end

  -- The inbox: every message whose topic has no `listen` subscription, as Message objects.
  function M.inbox(P)
    local ch = P.inbox
    if ch then return ch end
    ch = subscribe(P, 0, "message")
    P.inbox = ch
    reroute(P)
    return ch
  end

  -- The "@pid/events" channel: lifecycle events (EXIT, LINK_DOWN, CANCEL) as tables.
  function M.events(P)
    local ch = P.events
    if ch then return ch end
    ch = subscribe(P, 0, "event")
    P.events = ch
    set_of(P, "subs")["@pid/events"] = ch
    reroute(P)
    return ch
  end

  -- A channel for one topic (raw payloads, or Message objects with opts.message). -> ch | nil, err
  function M.listen(P, topic, opts)
    if type(topic) ~= "string" then return nil, err("Invalid", "topic must be a string", false) end
    if topic == "" then return nil, err("Invalid", "topic cannot be empty", false) end
    if sbyte(topic, 1) == 64 then return nil, err("Invalid", "cannot listen to @ topics", false) end
    local as_msg = type(opts) == "table" and opts.message == true
    local ch = P.subs[topic]
    if ch then
      if as_msg then
        local s = CH[ch]
        if s.mode == "raw" then -- its flat backlog becomes a queue of records, in order
          local ms = backlog_drain(s, {})
          s.mode = "message"
          for i = 1, #ms do qpush_at(s, "bq", ms[i]) end
        end
        s.mode = "message"
      end
      return ch
    end
    ch = subscribe(P, 1, as_msg and "message" or "raw")
    set_of(P, "subs")[topic] = ch
    reroute(P)
    return ch
  end

  function M.unlisten(P, ch)
    local s = CH[ch]
    if not s or s.proc ~= P then return end
    for topic, c in pairs(P.subs) do
      if c == ch then
        P.subs[topic] = nil
        P.nsubs = P.nsubs - 1
        -- what the channel still held falls back to the inbox / unrouted, in order; a value
        -- already in its buffer stays there (receivable from the closed channel) and leaves
        -- the mailbox count
        local held = backlog_drain(s, {})
        s.bq = EMPTYQ
        if s.mrec then
          for i = s.buf.h, s.buf.t do if s.mrec[i] then P.unread = P.unread - 1 end end
          s.mrec = {}
        end
        chan_close(ch)
        for i = 1, #held do route(P, held[i]) end
        return
      end
    end
  end

  -- Add every unread record of P still in its mailbox to `keep` and sort it into arrival order:
  -- `unrouted`, the values buffered in listen channels and the channels' backlogs (the channels
  -- are closed). Used by process.upgrade.
  function M.unread_records(P, keep)
    local function drain(q) while q.t >= q.h do keep[#keep + 1] = qpop(q) end end
    drain(P.unrouted)
    local chans = {}
    for _, ch in pairs(P.subs) do chans[ch] = true end
    if P.inbox then chans[P.inbox] = true end
    for ch in pairs(chans) do
      local s = CH[ch]
      if s.mrec then
        for i = s.buf.h, s.buf.t do
          local m = s.mrec[i]
          if m then keep[#keep + 1] = m end
        end
        s.mrec = {}
      end
      backlog_drain(s, keep)
      s.closed = true
      s.wrec = nil
    end
    -- records leave the mailbox as every record reads elsewhere (spawner.lua re-sends them):
    -- one value back into a list, and no thread of the discarded execution
    for i = 1, #keep do
      local m = keep[i]
      if m.p == nil and m.n == 1 then m.p = { m.v }; m.v = nil end
      m.T = nil
    end
    table.sort(keep, function(a, b) return a.seq < b.seq end)
  end

  -- Mailbox sizes for Runtime.stats(): unread records of all processes here, and the largest
  -- mailbox with its PID. O(processes), on request only.
  function M.stats()
    local total, max, maxpid = 0, 0, nil
    for pid, P in pairs(procs) do
      local n = P.unread
      total = total + n
      if n > max then max, maxpid = n, pid end
    end
    return total, max, maxpid
  end

  return M
end
