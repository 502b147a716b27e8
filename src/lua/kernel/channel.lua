-- Channels: Go-like, with an optional buffer, FIFO queues of parked receivers and senders, and
-- select over several cases. Channels are how threads of one worker wait for each other, for
-- timers (lib/time.lua) and for their mailbox (mailbox.lua makes every subscription a channel
-- carrying backlog hooks). A parked receive waits in the channel's receivers' queue as its thread
-- record itself (sched.lua's T: no `sel` field); a select's receive case and every parked send as
-- a waiter record { T, sel, v, ch }. A select shares one `sel` record among its waiters and the
-- first case to fire marks it done, so the others are skipped lazily when they reach the head of
-- their queue (no O(n) withdrawal on the hot path). So `w.T or w` is an entry's thread, and a
-- receive that parks makes no table (one 56-byte table less per message than a { T = T } waiter;
-- docs/design/native-core.md, "The per-message path").
--
-- Hooks a channel's state may carry (set by mailbox.lua on subscriptions): backlog(s) -> sequence
-- number of the first queued record or nil, take_backlog(s) -> its value, refill(s) after a value
-- left the buffer, on_close(s). (An on_wait(s) hook, called when a receiver parked, was set by
-- no state and was dropped in session 11: every parking receive read it through its kind's
-- defaults.) A state with a backlog hook
-- keeps that backlog in s.bq (a queue of records with `seq`), and only such a state has an s.bq:
-- receive reads it there instead of calling the hook.
--
-- Owns: channel objects and their state (CH: userdata -> state), select cases, the FIFO queue
-- helpers (q = { h, t, [i] }) the mailbox uses too, and EMPTYQ, the one empty queue every channel
-- and mailbox holds until it first queues something (qpush_at): most never use most of theirs.
-- Receives: run (run.cur), ready, park, maybe_yield, BLOCK, YIELD_AFTER (sched.lua: as upvalues,
-- they are the message hot path), newud, err, receiver (lrecv.c's constructor, or nil).
return function(deps)
  local run, ready, park, maybe_yield = deps.run, deps.ready, deps.park, deps.maybe_yield
  -- sched.lua's BLOCK and maybe_yield's mark, for lrecv.c's receive (it parks and tests maybe_yield
  -- itself); receiver: lrecv.c's constructor, or nil
  local BLOCK, YIELD_AFTER = deps.BLOCK, deps.YIELD_AFTER
  local newud, err = deps.newud, deps.err
  local setmetatable, type, error, tonumber = setmetatable, type, error, tonumber
  local S = {} -- the module

  local CH = setmetatable({}, { __mode = "k" }) -- userdata -> state
  S.CH = CH
  local chan_methods = {}
  local CHAN_MT = { __index = chan_methods, __metatable = "channel",
    __tostring = function(self) return "channel" end }
  local CASE = setmetatable({}, { __mode = "k" })
  local CASE_MT = { __metatable = "case", __tostring = function() return "channel.case" end }

  -- queue helpers: q = { h = 1, t = 0, [i] = item }
  local function qnew() return { h = 1, t = 0 } end
  -- (the slot before the tail: a push into EMPTYQ fails at its slot, before its tail moves)
  local function qpush(q, v) local t = q.t + 1; q[t] = v; q.t = t end
  -- EMPTYQ: the queue a channel holds until something is first queued there (qpush_at), shared by
  -- every channel: most never use one or more of their queues (a mailbox subscription's buffer,
  -- senders' queue and backlog stay empty while its process waits), and an empty queue is an
  -- 80-byte table. It is empty (h = 1, t = 0, its own fields: every message reads two or three
  -- queues' h and t, and a default through __index is a metamethod lookup per read,
  -- luaV_finishget) and refuses every slot, so a caller that pushes into it without qpush_at fails
  -- loudly (pushes write the slot before the tail) instead of sharing what it queued with every
  -- other channel. Popping it never happens: every pop is behind a length check; a queue emptied
  -- back to slot 1 writes h = 1, t = 0, which EMPTYQ already holds.
  local EMPTYQ = setmetatable({ h = 1, t = 0 }, { __metatable = false,
    __newindex = function(_, _, v)
      if v ~= nil then error("kernel: a write into the shared empty queue (use qpush_at)", 2) end
    end })
  -- Push v on the queue in field k of table o, making the queue at the first push.
  local function qpush_at(o, k, v)
    local q = o[k]
    if q == EMPTYQ then q = { h = 1, t = 0 }; o[k] = q end
    local t = q.t + 1; q[t] = v; q.t = t
  end
  S.EMPTYQ, S.qpush_at = EMPTYQ, qpush_at
  local function qpeek(q) return q[q.h] end
  local function qpop(q)
    local h = q.h
    local v = q[h]
    q[h] = nil
    q.h = h + 1
    return v
  end
  local function qlen(q) return q.t - q.h + 1 end
  S.qnew, S.qpush, S.qpop, S.qpeek, S.qlen = qnew, qpush, qpop, qpeek, qlen

  -- A new channel. `s`: its state, already made by the caller with every field below (a mailbox
  -- subscription's, with its hooks: mailbox.lua); then `cap` is ignored.
  -- On our module (deps.receiver) the userdata is made by lrecv.c's chan_ud, which keeps the state
  -- as its user value too (set once, as CH[ch]): the C receive and arrival read it there instead of
  -- hashing the userdata into CH, a table of every channel of the worker (session 11).
  local chan_ud
  local function chan_new(cap, s)
    if not s then
      cap = tonumber(cap) or 0
      if cap < 0 then cap = 0 end
      s = { cap = cap // 1, buf = EMPTYQ, recvq = EMPTYQ, sendq = EMPTYQ, closed = false }
    end
    local ch = chan_ud and chan_ud(CHAN_MT, s) or newud(CHAN_MT)
    CH[ch] = s
    return ch
  end
  S.chan_new = chan_new

  -- Pop the first live waiter of q (skipping those whose select already fired or whose process
  -- died). A receivers' queue entry is a thread record or a select waiter: `w.T or w` its thread.
  local function live_waiter(q)
    while q.t >= q.h do
      local w = q[q.h]
      if (w.sel == nil or not w.sel.done) and (w.T or w).proc.alive then return w end
      qpop(q)
    end
    return nil
  end

  -- Complete waiter w of a receive with (v, ok).
  local function fire_recv(w, ch, v, ok)
    local sel = w.sel
    if sel then
      sel.done = true
      ready(w.T, 1, { channel = ch, value = v, ok = ok })
    else
      ready(w, 2, v, ok) -- a plain receive's entry is its thread record
    end
  end

  local function fire_send(w, ch, ok, err)
    local sel = w.sel
    if sel then
      sel.done = true
      ready(w.T, 1, { channel = ch, value = w.v, ok = ok })
    else
      ready(w.T, 2, ok, err)
    end
  end

  -- Non-blocking offer of v (handoff to a receiver or into the buffer). Used by send, timers and
  -- mailbox routing. Returns true when taken, plus the thread it was handed to (mailbox routing
  -- remembers which record a woken thread holds, so an upgrade can put it back: mailbox.lua).
  -- (live_waiter, qpop, fire_recv and qlen inlined: every same-worker message comes through
  -- here; the same steps, a waiter skipped or taken is popped either way.)
  local function offer(s, ch, v)
    if s.closed then return false end
    local q = s.recvq
    while q.t >= q.h do
      local h = q.h
      local w = q[h]
      q[h] = nil
      -- emptied: back to slot 1. A queue whose head and tail grow without bound puts each new
      -- slot in the table's hash part, where the dead slots behind it are not reused and a
      -- rehash (an allocation and a free) comes every few pushes; a receivers' queue holds one
      -- waiter at a time in the common case, so it stays in slot 1 of the array part. Only for
      -- queues whose slot numbers nobody keeps (not a subscription's buffer: its s.mrec is by slot).
      if h < q.t then q.h = h + 1 else q.h, q.t = 1, 0 end
      local sel = w.sel
      if sel == nil then -- a plain receive: w is its thread
        if w.proc.alive then ready(w, 2, v, true); return true, w end
      elseif not sel.done then
        local T = w.T
        if T.proc.alive then
          sel.done = true
          ready(T, 1, { channel = ch, value = v, ok = true })
          return true, T
        end
      end
    end
    local buf = s.buf
    if buf.t - buf.h + 1 < s.cap then
      qpush_at(s, "buf", v)
      return true
    end
    return false
  end
  S.offer = offer
  function S.chan_offer(ch, v) return (offer(CH[ch], ch, v)) end

  -- Try to take a value without blocking: returns true, v or false.
  -- (qpop inlined, and live_waiter called only when a sender waits: fan-in's receiver comes
  -- through here once per message, the buffer's pop and the subscription's refill; the same
  -- steps.)
  local function take(s)
    local buf = s.buf
    local h = buf.h
    if buf.t >= h then
      local v = buf[h]
      buf[h] = nil
      buf.h = h + 1
      -- refill the freed slot from a parked sender or from the subscription backlog
      local sq = s.sendq
      if sq.t >= sq.h then
        local w = live_waiter(sq)
        if w then qpop(sq); qpush_at(s, "buf", w.v); fire_send(w, w.ch, true) end
      end
      local refill = s.refill
      if refill then refill(s) end
      return true, v
    end
    local w = live_waiter(s.sendq)
    if w then
      qpop(s.sendq)
      fire_send(w, w.ch, true)
      return true, w.v
    end
    return false
  end

  local function chan_close(ch)
    local s = CH[ch]
    if not s or s.closed then return end
    s.closed = true
    while true do
      local w = live_waiter(s.recvq)
      if not w then break end
      qpop(s.recvq)
      fire_recv(w, ch, nil, false)
    end
    while true do
      local w = live_waiter(s.sendq)
      if not w then break end
      qpop(s.sendq)
      fire_send(w, ch, nil, err("Invalid", "send on closed channel"))
    end
    if s.on_close then s.on_close(s) end
  end
  S.chan_close = chan_close

  local function check_chan(ch, fname)
    local s = CH[ch]
    if not s then error("bad argument #1 to '" .. fname .. "' (channel expected)", 3) end
    return s
  end

  function chan_methods.send(ch, v)
    local s = check_chan(ch, "send")
    if s.closed then error("send on closed channel", 2) end
    if offer(s, ch, v) then maybe_yield(); return true end
    local T = run.cur
    qpush_at(s, "sendq", { T = T, v = v, ch = ch })
    return park()
  end

  -- (check_chan, the backlog hook's test and qpush_at inlined: every same-worker message's
  -- receive comes through here, and one that parks makes four Lua calls fewer; the same steps.
  -- The backlog is read where every state with a backlog hook keeps it, s.bq.)
  local function receive(ch)
    local s = CH[ch]
    if not s then error("bad argument #1 to 'receive' (channel expected)", 2) end
    -- take(s) can only succeed with a buffered value or a queued sender: the common case of a
    -- receive that parks or reads a subscription's backlog skips the call
    local buf, sq = s.buf, s.sendq
    if buf.t >= buf.h or sq.t >= sq.h then
      local ok, v = take(s)
      if ok then maybe_yield(); return v, true end
    end
    local bq = s.bq
    if bq and bq.t >= bq.h and s.backlog then -- subscription fast path: a queued message, no yield
      local v = s.take_backlog(s)
      maybe_yield()
      return v, true
    end
    if s.closed then return nil, false end
    local T = run.cur
    local q = s.recvq
    if q == EMPTYQ then q = { h = 1, t = 0 }; s.recvq = q end
    local t = q.t + 1
    q.t = t
    q[t] = T
    return park()
  end
  -- On our Lua module the common cases (a buffered value with no sender waiting, a backlog, a
  -- closed channel, a receive that parks) run in C (native/lua/lrecv.c: the same steps; the rest
  -- is this Lua receive). It finds these locals by name among probe's upvalues.
  local function probe() return CH, EMPTYQ, run, maybe_yield, receive, BLOCK, YIELD_AFTER end
  if deps.receiver then chan_methods.receive, chan_ud = deps.receiver(probe)
  else chan_methods.receive = receive end

  function chan_methods.close(ch) check_chan(ch, "close"); chan_close(ch) end

  function chan_methods.case_send(ch, v)
    check_chan(ch, "case_send")
    local c = newud(CASE_MT)
    CASE[c] = { ch = ch, send = true, v = v }
    return c
  end

  function chan_methods.case_receive(ch)
    check_chan(ch, "case_receive")
    local c = newud(CASE_MT)
    CASE[c] = { ch = ch, send = false }
    return c
  end

  -- channel.select(cases [, default])
  local function chan_select(cases, dflt)
    if type(cases) ~= "table" then error("bad argument #1 to 'select' (table expected)", 2) end
    local use_default = dflt == true or cases.default == true
    local n = #cases
    for i = 1, n do
      local c = CASE[cases[i]]
      if not c then error(err("Invalid", "Invalid case in select: runtime error", false), 2) end
      local ch = c.ch
      local s = CH[ch]
      if c.send then
        if not s.closed then
          local w = live_waiter(s.recvq)
          if w then
            qpop(s.recvq); fire_recv(w, ch, c.v, true)
            return { channel = ch, value = c.v, ok = true }
          elseif qlen(s.buf) < s.cap then
            qpush_at(s, "buf", c.v)
            return { channel = ch, value = c.v, ok = true }
          end
        end
      else
        local ok, v = take(s)
        if ok then return { channel = ch, value = v, ok = true } end
        if s.closed and not (s.backlog and s.backlog(s)) then return { channel = ch, value = nil, ok = false } end
      end
    end
    -- Subscription backlog: the earliest queued mailbox message whose channel is a case wins,
    -- exactly as if we had parked and the mailbox walk had delivered it. A non-blocking select
    -- takes it too: a message waiting for the inbox, events() or a listen channel is data
    -- available (docs/process-model.md, "Choices": the reference returns the default here).
    local best, bestseq
    for i = 1, n do
      local c = CASE[cases[i]]
      if not c.send then
        local s = CH[c.ch]
        if s.backlog then
          local seq = s.backlog(s)
          if seq and (bestseq == nil or seq < bestseq) then best, bestseq = c, seq end
        end
      end
    end
    if best then
      local s = CH[best.ch]
      return { channel = best.ch, value = s.take_backlog(s), ok = true }
    end
    if use_default then return { default = true, ok = true } end
    if n == 0 then error("select with no cases would block forever", 2) end
    local T = run.cur
    local sel = { done = false }
    for i = 1, n do
      local c = CASE[cases[i]]
      local s = CH[c.ch]
      if c.send then
        qpush_at(s, "sendq", { T = T, v = c.v, ch = c.ch, sel = sel })
      else
        qpush_at(s, "recvq", { T = T, sel = sel })
      end
    end
    return park()
  end

  S.channel = { new = chan_new, select = chan_select }
  S.chan_methods = chan_methods

  return S
end
