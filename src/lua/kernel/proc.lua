-- Processes of one worker: the process table, mailbox routing, lifecycle events, frames from
-- other threads, the sandbox and the `process` module.
--
-- Size. This file is far over the ~500-line guideline (~2,100 lines, ~150 locals in one closure;
-- Lua allows 200): every concept here reads and writes the process record directly. It is the
-- next thing to split, one module per concept (PIDs, mailbox, lifecycle, spawn, frames, sandbox,
-- the process API), each receiving only what it uses; until then, add new concepts as their own
-- files (safestring.lua, random.lua, lib/pattern.lua did).
--
-- Mailbox routing (semantics §3.2). Each process has one logical FIFO mailbox. Instead of walking
-- the whole mailbox on every step, a message is routed once, on arrival, to its target channel
-- (exact `listen` topic, else the inbox for non-`@` topics); a channel that cannot take it at once
-- keeps it in its own ordered *backlog*, and a message with no target yet waits in `unrouted` until
-- a subscription appears. Per-channel order is therefore arrival order, and a select that would
-- park on several subscriptions takes the backlog head with the smallest arrival sequence number,
-- which is what the reference's in-order walk delivers first.
--
-- Unread count and bound. Every process counts its unread mailbox records in P.unread: +1 on
-- arrival (`arrive`), -1 when one is read (handed to a parked receiver, taken from a channel's
-- backlog, or popped from a listen channel's 1-slot buffer, which the channel reports through its
-- `refill` hook). So the count is O(1) per message, and it covers `unrouted`, the backlogs and the
-- buffered values alike. An arrival that would make it pass the host's `max_mailbox` kills the
-- receiver ("mailbox overflow", kind Internal; docs/process-model.md says why the receiver and
-- not the sender). A record sitting in a listen channel's buffer is remembered per buffer slot
-- (s.mrec[index]); one handed to a woken thread that has not run yet is remembered on the thread
-- (T.mrec, cleared by the scheduler when it resumes it). `process.upgrade` uses both to put every
-- unread record back into `unrouted`, in arrival order: nothing that reached the process is lost.
--
-- Crash reports. A process that exits with an error while nobody hears of it (no watcher, no
-- link; supervised services and exec callers are watchers) sends a "crash" frame to the main
-- thread, which logs it. Exits forced from outside (terminate, kill_all at shutdown, a linked
-- process's failure, anything after a CANCEL) are not crashes and are not reported.
--
-- Frames. Everything that crosses a thread boundary is one codec-encoded array whose first element
-- names it: "m" message, "e" lifecycle event, "s" spawn request, "rep" reply to an rpc, "t"
-- terminate, "c" cancel, "lk"/"ul"/"mon"/"um" topology edits, "x" exit notice to the main thread,
-- "nreg"/"nlook"/"nunreg" name-registry rpcs (served by the main thread), "w" terminal output,
-- "crash" crash report to the main thread: { "crash", pid, entry, host, kind, message, traceback }.
return function(K)
  local H, codec, errors = K.H, K.codec, K.errors
  local qnew, qpush, qpop, qlen = K.qnew, K.qpush, K.qpop, K.qlen
  local CH, offer, ready, park = K.CH, K.offer, K.ready, K.park
  local type, tostring, select, pairs, next, setmetatable, error, pcall =
    type, tostring, select, pairs, next, setmetatable, error, pcall
  local co_status, co_close, co_running = coroutine.status, coroutine.close, coroutine.running
  local tpack, tunpack = table.pack, table.unpack
  local sbyte, sformat, smatch = string.byte, string.format, string.match
  local encode, decode, copy = codec.encode, codec.decode, codec.copy
  local traceback = debug.traceback

  local CFG = K.cfg            -- { tid, host, hosts = { [id] = { kind, tids, max_reductions, max_memory_mb,
                               --   max_mailbox, crash_reports } } }
  local SELF = CFG.tid
  do
    local mm = CFG.hosts[CFG.host] and CFG.hosts[CFG.host].max_memory_mb
    if mm and mm > 0 then K.mem_cap_kb = mm * 1024 end
  end
  local host_of_tid = { [0] = "node:control" }
  for hid, h in pairs(CFG.hosts) do for _, t in ipairs(h.tids) do host_of_tid[t] = hid end end
  local procs = {}             -- pid string -> process record
  K.procs = procs
  local nprocs = 0
  local local_names = {}       -- name -> pid, for names held by processes of this worker
  K.entries = K.entries or {}  -- entry id -> { kind, source, method, modules, imports, file }
  local compiled = {}          -- entry id -> chunk factory (compiled once per worker)

  local EV_EXIT, EV_LINK_DOWN, EV_CANCEL = "pid.exit", "pid.link.down", "pid.cancel"
  local ZERO_PID = "{|}"
  -- Unread messages a process may hold when its host sets no `max_mailbox` (the registry's
  -- default, src/registry/schema.ts, says why 100,000).
  local DEFAULT_MAX_MAILBOX = 100000

  local function E(kind, msg) return nil, K.err(kind, msg, false) end
  local function wall_s() return H.wall() / 1e9 end

  ---------------------------------------------------------------------------------------------
  -- PIDs: "{host|0xhex}", hex zero-padded to at least 5 digits (semantics §1.2).
  local function fmt_pid(host, uniq)
    local hex = sformat("%x", uniq)
    local l = #hex
    if l < 5 then hex = ("0"):rep(5 - l) .. hex end
    return "{" .. host .. "|0x" .. hex .. "}"
  end
  K.fmt_pid = fmt_pid

  -- -> host, uniq | nil (not a pid) | false, err
  local function parse_pid(s)
    if type(s) ~= "string" or sbyte(s, 1) ~= 123 or sbyte(s, -1) ~= 125 then return nil end
    local body = s:sub(2, -2)
    local host, u = smatch(body, "^(.*)|0x(%x+)$")
    if not host then
      if not body:find("|", 1, true) then return nil end
      return false, "invalid pid"
    end
    local at = host:find("@", 1, true)
    if at then
      local node = host:sub(1, at - 1)
      host = host:sub(at + 1)
      if node ~= "" and node ~= "local" then return false, "node not found" end
    end
    return host, tonumber(u, 16)
  end
  K.parse_pid = parse_pid

  ---------------------------------------------------------------------------------------------
  -- Remote posting.
  -- -> true | false, message (the frame could not be encoded: too large, or an unsendable value)
  local function post(tid, frame)
    local b, err = encode(frame)
    if not b then return false, err end
    H.post(tid, b)
    return true
  end
  K.post = post

  -- Values crossing between processes are data only (codec.lua, "Limits"): copy args[1..n] in
  -- place. -> true | nil, err (kind Invalid, e.g. "cannot send a function")
  local function copy_args(args, n)
    for i = 1, n do
      local c, cerr = copy(args[i])
      if cerr then return E("Invalid", cerr) end
      args[i] = c
    end
    return true
  end

  -- Where does a pid live? -> "local", P | "remote", tid | nil, err
  local function locate(pid)
    local P = procs[pid]
    if P then
      -- A process stolen from another worker keeps that worker as its route (see `forward`).
      if P.home then return "remote", P.home end
      if P.alive then return "local", P end
      return E("NotFound", "process not found")
    end
    local host, uniq = parse_pid(pid)
    if not host then
      if host == false then return E("NotFound", uniq) end
      return E("Invalid", "invalid pid format: " .. tostring(pid))
    end
    -- `node:control` PIDs are the runtime's watchers (exec/run/spawn from JS, process.exec): they
    -- take lifecycle events only (send_event), never messages, signals or topology edits.
    if host == "node:control" then return E("NotFound", "process not found") end
    local owner = host_of_tid[H.route(uniq)]
    if not CFG.hosts[host] and not host:find("#lua.", 1, true) then
      return E("NotFound", "host not found")
    end
    local tid, alive = H.route(uniq)
    -- alive, owned here, but not in the table: placed here by another worker and its "sp" frame
    -- is still in flight; posting to ourselves queues the frame behind it (see `early`).
    if not alive or tid < 0 then return E("NotFound", "process not found") end
    -- (owner nil: a replacement worker this one has not heard of yet; its "wup" is on the way)
    if owner ~= nil and owner ~= host and not host:find("#lua.", 1, true) then return E("NotFound", "process not found") end
    return "remote", tid
  end
  K.locate = locate

  ---------------------------------------------------------------------------------------------
  -- RPC to another thread: park until the "rep" frame arrives.
  local rpc_pending, rpc_seq = {}, 0
  local rpc_to = {} -- request -> thread asked (a dead worker's requests fail: handlers.wdown)
  local function rpc(tid, kind, ...)
    local T = K.cur
    local P = T.proc
    rpc_seq = rpc_seq + 1
    rpc_pending[rpc_seq] = T
    rpc_to[rpc_seq] = tid
    P.npending = P.npending + 1
    local ok, perr = post(tid, { kind, SELF, P.pid, rpc_seq, ... })
    if not ok then
      rpc_pending[rpc_seq], rpc_to[rpc_seq] = nil, nil
      P.npending = P.npending - 1
      return E("Invalid", perr)
    end
    return park()
  end
  K.rpc = rpc

  -- Park the current thread until the host answers request `req` with a "rep" frame
  -- (used for host I/O such as terminal reads). start(req) issues the host call.
  function K.await_host(start)
    local T = K.cur
    local P = T.proc
    rpc_seq = rpc_seq + 1
    rpc_pending[rpc_seq] = T
    P.npending = P.npending + 1
    start(rpc_seq, P.pid)
    return park()
  end

  ---------------------------------------------------------------------------------------------
  -- Messages, Message objects and payload wrappers.
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
    local w = H.newud(PAY_MT)
    PAY[w] = { v = v }
    return w
  end
  function msg_methods.payload(self)
    local m = MSG[self]
    local n = m.n
    if n == 0 then return nil end
    local ps = m.p
    if n == 1 then return wrap_payload(ps[1]) end
    local arr = {}
    for i = 1, n do arr[i] = wrap_payload(ps[i]) end
    return arr
  end
  function pay_methods.data(self) return PAY[self].v end
  function pay_methods.unmarshal(self) return PAY[self].v end
  function pay_methods.get_format(self) return "lua" end
  function pay_methods.transcode(self) return self end

  -- Value a channel delivers for mailbox record m, by channel mode.
  local function convert(s, m)
    if m.ev then return m.ev end
    if s.mode == "message" then
      local u = H.newud(MSG_MT)
      MSG[u] = m
      return u
    end
    local n = m.n
    if n == 0 then return nil end
    if n == 1 then return m.p[1] end
    local arr = {}
    for i = 1, n do arr[i] = m.p[i] end
    return arr
  end

  local function backlog_head(s)
    local bq = s.bq
    if bq.t >= bq.h then return bq[bq.h].seq end
    return nil
  end
  local function take_backlog(s)
    local P = s.proc
    P.unread = P.unread - 1
    return convert(s, qpop(s.bq))
  end
  -- A listen channel's hook, called right after a value was popped from its buffer (sched.lua
  -- `take`): the popped slot's record is read; then the backlog refills the buffer.
  local function refill(s)
    local buf, mrec = s.buf, s.mrec
    local i = buf.h - 1
    if mrec[i] then mrec[i] = nil; s.proc.unread = s.proc.unread - 1 end
    local bq = s.bq
    while bq.t >= bq.h and qlen(buf) < s.cap do
      local m = qpop(bq)
      qpush(buf, convert(s, m))
      mrec[buf.t] = m
    end
  end

  -- Deliver record m into subscription channel ch, keeping per-channel order.
  local function to_channel(ch, m)
    local s = CH[ch]
    local bq = s.bq
    if bq.t >= bq.h then qpush(bq, m); return end
    local ok, w = offer(s, ch, convert(s, m))
    if not ok then qpush(bq, m)
    elseif w then w.T.mrec = m; s.proc.unread = s.proc.unread - 1 -- handed to a parked receiver
    else s.mrec[s.buf.t] = m end -- buffered
  end

  local function target_of(P, topic)
    local ch = P.subs[topic]
    if ch then return ch end
    if sbyte(topic, 1) ~= 64 then return P.inbox end
    return nil
  end

  local kill, crash_report -- forward
  -- A kill from outside (terminate, shutdown, a cancel deadline): not a crash, never reported.
  local function terminate(P) P.forced = true; kill(P, K.err("Internal", "process terminated")) end

  -- Route one mailbox record (semantics §3.2).
  local function route(P, m)
    local seq = P.seq + 1
    P.seq = seq
    m.seq = seq
    local ch = target_of(P, m.topic)
    if ch then to_channel(ch, m) else qpush(P.unrouted, m) end
  end

  -- Re-route what waits in `unrouted` after a subscription appeared.
  local function reroute(P)
    local old = P.unrouted
    if old.t < old.h then return end
    local keep = qnew()
    while old.t >= old.h do
      local m = qpop(old)
      local ch = target_of(P, m.topic)
      if ch then to_channel(ch, m) else qpush(keep, m) end
    end
    P.unrouted = keep
  end

  -- A new record reaches P's mailbox: count it, or kill P if that passes its bound.
  local function arrive(P, m)
    local n = P.unread + 1
    if n > P.max_mailbox then
      kill(P, K.err("Internal", "mailbox overflow: more than " .. P.max_mailbox .. " messages unread"))
      return
    end
    P.unread = n
    route(P, m)
  end

  local function deliver_msg(P, topic, from, n, p)
    arrive(P, { topic = topic, from = from, n = n, p = p })
  end

  local function deliver_event(P, ev)
    local kind = ev.kind
    if kind == EV_LINK_DOWN then
      P.links[ev.from] = nil
      if not P.trap_links then
        P.forced = true -- not a crash of its own (no crash report)
        kill(P, K.err("", "linked process failed"))
        return
      end
    elseif kind == EV_EXIT then
      P.monitoring[ev.from] = nil
    elseif kind == EV_CANCEL and ev.deadline then
      local ms = (ev.deadline - wall_s()) * 1000
      if ms < 0 then ms = 0 end
      K.timer_add(H.now() + ms, function()
        if P.alive then terminate(P) end
      end)
    end
    if kind == EV_CANCEL then
      P.forced = true -- an error exit after a CANCEL is not reported
      -- what the process waits for on its behalf is cancelled with it (funcs calls)
      local hooks = P.on_cancel
      if hooks then for _, fn in pairs(hooks) do fn(ev) end end
    end
    arrive(P, { topic = "@pid/events", ev = ev, n = 0 })
  end
  K.deliver_event = deliver_event

  -- Send an event table to pid wherever it lives (dropped silently if it is gone).
  -- exec waiters: a `node:control` pid minted on this worker per running process.exec, whose
  -- only job is to receive the callee's EXIT (the caller itself is not a monitor).
  local exec_waits = {}
  K.exec_waits = exec_waits

  -- An EXIT / LINK_DOWN whose result cannot reach the watcher (too large to encode) is replaced
  -- by one carrying an error that says so: the watcher always hears of the exit.
  local function undeliverable(ev, why)
    return { kind = ev.kind, from = ev.from, at = ev.at,
      result = { error = K.err("Invalid", "process result cannot be delivered: " .. why, false) } }
  end
  local function post_event(tid, pid, ev)
    local ok, why = post(tid, { "e", pid, ev })
    if not ok and ev.result then post(tid, { "e", pid, undeliverable(ev, why) }) end
  end

  local function send_event(pid, ev)
    local w = exec_waits[pid]
    if w then
      if ev.kind == EV_EXIT then w(ev) end
      return
    end
    local P = procs[pid]
    if P and P.home then post_event(P.home, pid, ev); return end
    if P then
      if P.alive then
        local c, why = copy(ev)
        deliver_event(P, c or undeliverable(ev, why))
      end
      return
    end
    local host, uniq = parse_pid(pid)
    if not host then return end
    local tid, alive = H.route(uniq)
    if alive and tid >= 0 then post_event(tid, pid, ev) end
  end

  local function topo(pid, kind, other)
    local P = procs[pid]
    if P then
      if kind == "ul" then P.links[other] = nil
      elseif kind == "lk" then P.links[other] = true
      elseif kind == "mon" then P.watchers[other] = true
      elseif kind == "um" then P.watchers[other] = nil end
      return
    end
    local host, uniq = parse_pid(pid)
    if not host then return end
    local tid, alive = H.route(uniq)
    if alive and tid >= 0 then post(tid, { kind, pid, other }) end
  end

  ---------------------------------------------------------------------------------------------
  -- Process exit.

  -- Crash reports: an error exit nobody watches is logged on the main thread (see the top).
  -- Message and traceback are cut to CRASH_TEXT_MAX bytes: a report must always fit in a frame.
  local CRASH_TEXT_MAX = 8192
  local function clip(t)
    t = tostring(t or "")
    if #t > CRASH_TEXT_MAX then t = t:sub(1, CRASH_TEXT_MAX) .. "…" end
    return t
  end
  local function send_crash(pid, id, host, err, stack)
    local h = CFG.hosts[host]
    if h and h.crash_reports == false then return end
    local kind, msg = "Internal", err
    if K.is_error(err) then local f = K.error_fields(err); kind, msg = f.kind, f.message end
    post(0, { "crash", pid, id, host, kind, clip(msg), clip(stack) })
  end
  -- The traceback: where the error was raised (thread_failed keeps it), else where the main
  -- thread stood when the process was killed from outside (e.g. mailbox overflow), else none.
  crash_report = function(P)
    local stack = P.exit_stack
    if not stack and P.main and co_status(P.main.co) == "suspended" then stack = traceback(P.main.co) end
    send_crash(P.pid, P.id, P.host, P.exit_err, stack)
  end
  local exit_pending_names = {}
  local notify_exit
  -- Closing a dead (or upgrading) process's suspended thread runs its pending to-be-closed
  -- variables: `__close` metamethods, user code. They run as that process (K.cp = P, a fresh
  -- reduction count, no current thread, so nothing can park or yield), never in the context that
  -- killed it (none, for a frame, or the killer's own identity and permissions), so the budget
  -- and the memory cap stop a __close that loops or allocates.
  local function close_thread(P, co)
    local cur, cp = K.cur, K.cp
    K.cur, K.cp = nil, P
    P.red = 0
    co_close(co)
    K.cur, K.cp = cur, cp
  end
  K.close_thread = close_thread

  -- The text of an error value a process raised or returned: tostring, except that a __tostring
  -- metamethod is user code, so it runs as P, under its budget, in a coroutine of its own (the
  -- kernel calls this outside any process; run there, `while true do end` in a __tostring held the
  -- worker for ever). A __tostring that fails, yields or returns a non-string gives a neutral text.
  local raw_getmt, co_create, co_resume = debug.getmetatable, coroutine.create, coroutine.resume
  local function user_tostring(P, v)
    local mt = raw_getmt(v)
    if type(v) == "string" or mt == nil or rawget(mt, "__tostring") == nil or K.is_error(v) then
      return tostring(v)
    end
    local co = K.hook(co_create(tostring), P)
    local cur, cp = K.cur, K.cp
    K.cur, K.cp = nil, P
    P.red = 0
    local ok, text = co_resume(co, v)
    K.cur, K.cp = cur, cp
    if ok and type(text) == "string" then return text end
    return "(error object is a " .. type(v) .. " value)"
  end
  K.user_tostring = user_tostring
  local function finalize(P)
    if P.finalized then return end
    P.finalized = true
    if P.exit_err ~= nil and not P.forced and not next(P.watchers) and not next(P.links) then crash_report(P) end
    local cur = K.cur
    for T in pairs(P.threads) do
      if T ~= cur and co_status(T.co) == "suspended" then close_thread(P, T.co) end
    end
    P.threads = {}
    for _, ch in pairs(P.subs) do
      local s = CH[ch]
      if s then s.closed = true end
    end
    procs[P.pid] = nil
    nprocs = nprocs - 1
    H.dead(P.uniq)
    H.load_add(-1)
    if P.home then post(P.home, { "unfwd", P.pid }) end
    if next(P.names) then
      -- Names are released before anyone hears of the exit (semantics §6): the main thread
      -- acknowledges the release, and only then do the EXIT / LINK_DOWN events go out.
      for name in pairs(P.names) do
        if local_names[name] == P.pid then local_names[name] = nil end
      end
      rpc_seq = rpc_seq + 1
      exit_pending_names[rpc_seq] = P
      post(0, { "x", SELF, P.pid, rpc_seq })
      return
    end
    notify_exit(P)
  end

  -- The process whose exit is being told (notify_exit may nest: a LINK_DOWN kills a local link),
  -- for the kernel's fault handlers (K.process_fault).
  local notifying = nil

  -- Second half of an exit: tell watchers, links and monitored processes.
  notify_exit = function(P)
    local outer = notifying
    notifying = P
    local err = P.exit_err
    local at = wall_s()
    local pid = P.pid
    if next(P.watchers) then
      local result = {}
      if err ~= nil then result.error = err else result.value, result.values = P.exit_value, P.exit_values end
      for w in pairs(P.watchers) do
        send_event(w, { kind = EV_EXIT, from = pid, at = at, result = result })
      end
    end
    for l in pairs(P.links) do
      if err ~= nil then
        send_event(l, { kind = EV_LINK_DOWN, from = pid, at = at, result = { error = err } })
      else
        topo(l, "ul", pid)
      end
    end
    for m in pairs(P.monitoring) do topo(m, "um", pid) end
    if P.on_exit then P.on_exit(P) end
    P.notified = true
    notifying = outer
  end

  -- End P now (or right after its running step), with value or error.
  local function exit(P, value, err)
    if not P.alive then return end
    P.alive = false
    if err ~= nil then
      -- error details are the process's own table: watchers get a data-only copy, or, when the
      -- details cannot cross, the same error without them, saying why
      local c, cerr = copy(err)
      if cerr then
        local f = K.error_fields(err)
        c = K.make_error({ kind = f.kind, retryable = f.retryable, stack = f.stack,
          message = tostring(f.message) .. " (error details dropped: " .. cerr .. ")" })
      end
      err = c
    end
    if P.execs then K.cancel_execs(P) end
    P.exit_value, P.exit_err = value, err
    if K.cur and K.cur.proc == P then
      P.exit_pending = true -- finalized by resume_thread when the running step ends
    else
      finalize(P)
    end
  end
  kill = function(P, err) exit(P, nil, err) end
  K.kill = kill

  function K.after_resume(P)
    if P.exit_pending then P.exit_pending = false; finalize(P) end
  end

  function K.thread_done(T, r1, r2)
    local P = T.proc
    P.threads[T] = nil
    P.nthreads = P.nthreads - 1
    if T == P.main then
      local t2 = type(r2)
      if r2 ~= nil and (t2 == "string" or K.is_error(r2)) then
        local e = r2
        if t2 == "string" then e = K.err("Internal", r2, false) else e = K.to_error(r2) end
        exit(P, nil, e)
      else
        local v, cerr = copy(r1)
        if P.results and not cerr then P.exit_values, cerr = copy(P.results) end
        if cerr then exit(P, nil, K.err("Invalid", "invalid process result: " .. cerr, false))
        else exit(P, v, nil) end
      end
    elseif P.nrun == 0 and P.npending == 0 and P.nsubs == 0 and P.alive then
      K.deadlock(P)
    end
    K.after_resume(P)
  end

  function K.thread_failed(T, e)
    local P = T.proc
    P.threads[T] = nil
    P.nthreads = P.nthreads - 1
    local stack = traceback(T.co)
    if type(e) ~= "string" and not K.is_error(e) then e = user_tostring(P, e) end
    if P.alive then P.exit_stack = stack end
    -- Lua's own "not enough memory" (wasm's 2 GB ceiling) ends the process as the cap would
    exit(P, nil, K.memory_error(e) or K.to_error(e, stack))
    K.after_resume(P)
  end

  function K.deadlock(P)
    exit(P, nil, K.err("Internal",
      "deadlock: all coroutines blocked with no pending operations (threads=" .. P.nthreads .. ")"))
  end

  ---------------------------------------------------------------------------------------------
  -- Sandbox: the globals a process sees. Library tables are shared read-only proxies; each
  -- process gets its own global table whose misses fall through to SHARED.
  local PROXIES = setmetatable({}, { __mode = "k" })
  local function readonly(t, name)
    local proxy = {}
    PROXIES[proxy] = true
    return setmetatable(proxy, {
      __index = t,
      __newindex = function() error("attempt to modify read-only table '" .. name .. "'", 2) end,
      __metatable = false,
      __pairs = function() return next, t, nil end,
    })
  end
  K.readonly = readonly

  local is_error, errmsg = K.is_error, K.error_message
  -- string without dump, size-checked; the string metatable points at it too (safestring.lua)
  local sandbox_string = K.safestring

  local raw_resume, raw_yield, raw_create = coroutine.resume, coroutine.yield, coroutine.create
  local BLOCK = K.BLOCK
  -- An error caught by the sandbox's pcall / xpcall / coroutine.resume: a doomed process (budget,
  -- memory cap) or Lua's own "not enough memory" is raised again, so catching it cannot keep the
  -- process alive.
  local function check_doom(e)
    local P = K.cp
    if not P then return end
    if not P.doomed then P.doomed = K.memory_error(e) or false end
    if P.doomed then error(P.doomed, 0) end
  end
  -- A kernel block inside a user coroutine propagates to the scheduler and back (the outer
  -- thread parks; its wake values are passed down into the inner coroutine).
  local function sb_resume(co, ...)
    local r = tpack(raw_resume(co, ...))
    while r[1] and r[2] == BLOCK and co_status(co) == "suspended" do
      r = tpack(raw_resume(co, raw_yield(BLOCK)))
    end
    if not r[1] then check_doom(r[2]) end
    return tunpack(r, 1, r.n)
  end
  local function sb_wrap(fn)
    local co = raw_create(fn)
    if K.cp then K.hook(co, K.cp) end
    return function(...)
      local r = tpack(sb_resume(co, ...))
      if not r[1] then error(r[2], 2) end
      return tunpack(r, 2, r.n)
    end
  end
  local function co_spawn(fn)
    if type(fn) ~= "function" then error("bad argument #1 to 'spawn' (function expected)", 2) end
    local P = K.cur.proc
    local T = K.new_thread(P, fn)
    ready(T, 0)
    return T.co
  end
  local function sb_create(fn)
    local co = raw_create(fn)
    local P = K.cp
    if P then K.hook(co, P) end
    return co
  end
  local sandbox_coroutine = {
    create = sb_create, resume = sb_resume, yield = coroutine.yield, status = coroutine.status,
    wrap = sb_wrap, isyieldable = coroutine.isyieldable, running = coroutine.running,
    close = coroutine.close, spawn = co_spawn,
  }

  -- Values joined for output (print, io.*): error objects by their message.
  local function join_values(sep, ...)
    local n = select("#", ...)
    local parts = {}
    for i = 1, n do
      local v = select(i, ...)
      parts[i] = is_error(v) and errmsg(v) or tostring(v)
    end
    return table.concat(parts, sep)
  end
  K.join_values = join_values

  local print_out = function(...)
    H.write(1, join_values("\t", ...) .. "\n")
  end

  -- rawset would write into the (shared) proxy tables themselves, bypassing __newindex.
  local raw_set = rawset
  local function sb_rawset(t, k, v)
    if PROXIES[t] then error("attempt to modify a read-only table", 2) end
    return raw_set(t, k, v)
  end

  -- pcall/xpcall that cannot swallow the kernel's kill of a doomed process (reduction budget,
  -- memory cap).
  local raw_pcall, raw_xpcall = pcall, xpcall
  local function rethrow_doom(ok, ...)
    if not ok then check_doom((...)) end
    return ok, ...
  end
  local function sb_pcall(f, ...) return rethrow_doom(raw_pcall(f, ...)) end
  local function sb_xpcall(f, h, ...) return rethrow_doom(raw_xpcall(f, h, ...)) end

  -- Finalisers run with hooks off (Lua disables hooks inside __gc), so one could loop outside the
  -- reduction budget and hold the worker for ever. Lua 5.4 marks an object for finalisation only
  -- if its metatable has __gc when setmetatable is called (a __gc added later is never run), so
  -- refusing it here closes finalisers for the sandbox. Running them under a budget instead was
  -- rejected: a hook cannot be installed inside a finaliser, and a deferred queue of finalisers
  -- run later from the scheduler would still need the object alive (resurrection) and an owner
  -- to charge. Userdata (the only other way to get __gc) cannot be made by a process.
  local raw_setmetatable = setmetatable
  local function sb_setmetatable(t, mt)
    if type(mt) == "table" and rawget(mt, "__gc") ~= nil then
      error(K.err("Invalid", "setmetatable: __gc metamethods are not allowed (finalisers would run " ..
        "outside the reduction budget)", false), 2)
    end
    return raw_setmetatable(t, mt)
  end

  local SHARED = {
    assert = assert, error = error, ipairs = ipairs, next = next, pairs = pairs, pcall = sb_pcall,
    xpcall = sb_xpcall, rawequal = rawequal, rawget = rawget, rawlen = rawlen, rawset = sb_rawset,
    select = select, tonumber = tonumber, tostring = tostring, type = type,
    setmetatable = sb_setmetatable, getmetatable = getmetatable,
    _VERSION = _VERSION, print = print_out,
    string = readonly(sandbox_string, "string"), table = readonly(K.safetable, "table"),
    math = readonly(K.sandbox_math, "math"), utf8 = readonly(utf8, "utf8"),
    coroutine = readonly(sandbox_coroutine, "coroutine"),
    os = readonly({ time = os.time, clock = os.clock, date = K.safe_os_date, difftime = os.difftime,
      platform = "wippy" }, "os"),
    errors = readonly(errors, "errors"),
    channel = readonly(K.channel, "channel"),
  }
  K.SHARED = SHARED
  -- A process's global table falls through to SHARED; its metatable is hidden so no process can
  -- reach SHARED itself (and through it, every other process's view of the globals).
  local ENV_MT = { __index = SHARED, __metatable = false }

  -- Built-in modules `require` can load when listed in an entry's `modules`.
  local builtin = {}
  K.builtin = builtin

  local function compile(E, id)
    local f = compiled[id]
    if f then return f end
    local src = E.source
    local err
    f, err = load("local _ENV = ...; " .. src, "@" .. (E.file or id), "t")
    if not f then return nil, err end
    compiled[id] = f
    return f
  end
  K.compile = compile
  function K.invalidate(id) compiled[id] = nil end

  local make_env
  -- require for one environment: only the entry's modules and imports resolve.
  local function make_require(E, P, loaded)
    local allowed = {}
    for _, m in ipairs(E.modules or {}) do allowed[m] = true end
    local imports = E.imports or {}
    return function(name)
      if type(name) ~= "string" then error("bad argument #1 to 'require' (string expected)", 2) end
      local v = loaded[name]
      if v ~= nil then return v end
      if name == "process" then return SHARED.process end
      if name == "io" and P.terminal then v = builtin.io
      elseif allowed[name] and builtin[name] then v = builtin[name]
      else
        local lib = imports[name]
        if lib then
          local LE = K.entries[lib]
          if not LE then error("module '" .. name .. "' not found: entry " .. lib .. " is not loaded", 2) end
          local f, cerr = compile(LE, lib)
          if not f then error("module '" .. name .. "': " .. tostring(cerr), 2) end
          v = f(make_env(LE, P, loaded))
          if v == nil then v = true end
        elseif name == "io" then
          error("module 'io' is only available to processes on a terminal host", 2)
        else
          error("module '" .. name .. "' not found: list it in the entry's modules or imports", 2)
        end
      end
      loaded[name] = v
      return v
    end
  end

  make_env = function(E, P, loaded)
    local env = setmetatable({}, ENV_MT)
    env._G = env
    env.require = make_require(E, P, loaded or {})
    return env
  end

  ---------------------------------------------------------------------------------------------
  -- Spawning.
  local function new_proc(pid, uniq, id, host)
    return {
      pid = pid, uniq = uniq, id = id, host = host, alive = true,
      threads = {}, nthreads = 0, nrun = 0, npending = 0, nsubs = 0,
      subs = {}, inbox = nil, events = nil, unrouted = qnew(), seq = 0, unread = 0, max_mailbox = math.huge,
      watchers = {}, monitoring = {}, links = {}, names = {},
      trap_links = false, ctx = nil,
      -- counters set on the hot path, present from the start so the record never rehashes
      sendb = 0, red = 0, budget = false, doomed = false,
    }
  end

  -- Start entry `id` on this worker. opts: { watcher = pid, link = pid, ctx = table, name = s }.
  -- Returns pid | nil, err.
  -- Run an entry's chunk once, as process P (semantics §1.3), and find its method.
  -- -> main | nil, error kind, message
  -- Budget: hooks are per coroutine. Spawned from a process, the chunk runs in the spawner's
  -- (hooked) coroutine and the hook charges K.cp, the new process. Started by a frame (a spawn
  -- from the main thread or another host, a queued spawn, an upgrade), the kernel's main thread
  -- has no hook, and `while true do end` at a module's top level held the worker for ever: the
  -- chunk then runs in a hooked coroutine of its own, and must not yield (it runs synchronously).
  local co_isyieldable = coroutine.isyieldable
  local function run_chunk(f, env, P)
    if co_isyieldable() then return pcall(f, env) end
    P.red = 0
    local co = K.hook(co_create(f), P)
    local ok, mod = co_resume(co, env)
    if ok and co_status(co) ~= "dead" then
      co_close(co)
      return false, "the module's top-level code yielded; it runs once, synchronously"
    end
    return ok, mod
  end

  local function instantiate(Ent, f, P)
    local prevP = K.cp
    K.cp = P
    local ok, mod = run_chunk(f, make_env(Ent, P), P)
    K.cp = prevP
    if not ok then
      if K.memory_error(mod) then return nil, "Internal", errmsg(K.memory_error(mod)) end
      return nil, "Internal", "failed to create process: " .. (is_error(mod) and errmsg(mod) or user_tostring(P, mod))
    end
    local main = mod
    if Ent.method and Ent.method ~= "" then
      main = type(mod) == "table" and mod[Ent.method] or nil
      if type(main) ~= "function" and type(mod) == "function" then main = mod end
    end
    if type(main) ~= "function" then
      return nil, "NotFound", 'method "' .. tostring(Ent.method) .. '" not found in module'
    end
    return main
  end

  local validated = {} -- entry id -> true once it instantiated here (placement needs that first)
  local MULTI = #CFG.hosts[CFG.host].tids > 1
  -- Set once the runtime's shutdown began: a process that starts afterwards (a queued spawn, or
  -- one whose spawn request arrived late) gets the same CANCEL, or is killed after kill_all.
  local shutdown_deadline, killing = nil, false
  local function spawn_local(id, host, opts, n, args, pre)
    local Ent = K.entries[id]
    if not Ent or (Ent.kind ~= "process.lua" and Ent.kind ~= "function.lua") then
      return E("NotFound", "factory not found")
    end
    local hostrec = CFG.hosts[host]
    if not hostrec then return E("NotFound", "host not found") end
    local f, cerr = compile(Ent, id)
    if not f then return E("Internal", "failed to create process: " .. tostring(cerr)) end
    local uniq, pid
    if pre then
      uniq, pid = pre.uniq, pre.pid
    else
      uniq = H.pid_alloc(SELF)
      local phost = host
      if Ent.kind == "function.lua" then phost = id .. "#lua." .. SELF end
      pid = fmt_pid(phost, uniq)
    end
    local P = new_proc(pid, uniq, id, host)
    P.terminal = hostrec.kind == "terminal.host"
    local mr = hostrec.max_reductions
    if mr and mr > 0 then P.budget = mr; P.red = 0 end
    local mb = hostrec.max_mailbox or DEFAULT_MAX_MAILBOX
    P.max_mailbox = mb > 0 and mb or math.huge
    if P.terminal then P.args = { n = n, tunpack(args, 1, n) } end
    local ctx = opts and opts.ctx
    if hostrec.security and not (ctx and (ctx.actor or ctx.scope or ctx.security_config)) then
      ctx = { values = ctx and ctx.values, options = ctx and ctx.options, security_config = hostrec.security }
    end
    P.ctx = ctx
    if ctx then
      if ctx.security_config then
        -- a service / host security block (lifecycle.security): build actor and scope here
        local a, sc, serr = K.security.from_config(ctx.security_config)
        if serr then H.dead(uniq); return nil, serr end
        ctx.security_config = nil
        ctx.actor, ctx.scope = K.security.encode_actor(a), K.security.encode_scope(sc)
      end
      P.ctx_actor, P.ctx_scope = K.security.decode_ctx(ctx)
    end
    P.entry = Ent
    local main, kind, ierr = instantiate(Ent, f, P)
    if not main then
      H.dead(uniq)
      return E(kind, ierr)
    end
    procs[pid] = P
    nprocs = nprocs + 1
    if not pre then H.load_add(1) end
    validated[id] = true
    if opts then
      if opts.watcher then P.watchers[opts.watcher] = true end
      if opts.link then P.links[opts.link] = true end
    end
    local body = function() return main(tunpack(args, 1, n)) end
    if Ent.kind == "function.lua" then
      -- A function frame keeps all its results (funcs: multiple returns): more than one, with no
      -- error in second place, go out as the EXIT's result.values too.
      body = function()
        local r = tpack(main(tunpack(args, 1, n)))
        local r2 = r[2]
        if r.n > 1 and not (type(r2) == "string" or K.is_error(r2)) then P.results = r end
        return r[1], r2
      end
    end
    local T = K.new_thread(P, body)
    P.main = T
    ready(T, 0)
    if killing then
      terminate(P)
    elseif shutdown_deadline then
      deliver_event(P, { kind = EV_CANCEL, from = ZERO_PID, at = wall_s(), deadline = shutdown_deadline,
        reason = "scheduler shutdown" })
    end
    return pid
  end
  K.spawn_local = spawn_local

  -- Round-robin over a host's worker threads.
  local rr = {}
  local function pick_tid(hostrec, host)
    local tids = hostrec.tids
    if #tids == 0 then return nil end -- every worker of the host died and none was replaced
    local i = (rr[host] or 0) % #tids + 1
    rr[host] = i
    return tids[i]
  end

  -- Queue a spawn on the host's run queues (src/scheduler/tasks.ts) instead of starting it: the
  -- PID is minted here, owned by this worker (its home), and the process starts on whichever
  -- worker takes the descriptor first (K.start_task). -> pid | nil (not queued: too large, full)
  local function spawn_queued(id, host, watcher, link, ctx, n, args, target)
    local uniq = H.pid_alloc(SELF)
    local pid = fmt_pid(K.entries[id].kind == "function.lua" and (id .. "#lua." .. SELF) or host, uniq)
    local pargs = { n = n }
    for i = 1, n do pargs[i] = args[i] end
    local d = encode({ pid, uniq, id, host, watcher or false, link or false, ctx or false, pargs, SELF })
    if d and H.task_push(d, target) then
      return pid
    end
    H.dead(uniq)
    return nil
  end

  -- Spawn from a process (the caller is K.cur.proc). flags: monitor, link. `pin`: start it on
  -- this worker (the caller records something about it that only this worker can hold).
  local function spawn_from(P, id, host, monitor, link, n, args, ctx, watcher, pin)
    local hostrec = CFG.hosts[host]
    if not hostrec then return E("NotFound", "host not found") end
    if ctx == nil then ctx = P.ctx end
    watcher = watcher or (monitor and P.pid or nil)
    local opts = { watcher = watcher, link = link and P.pid or nil, ctx = ctx }
    local pid, err
    if host == CFG.host then
      -- Only entries that already instantiated here are queued or placed elsewhere, so "method
      -- not found" and load errors are still returned by the spawn itself (semantics §1.3).
      -- Queued first: any worker of the host may start it. When the queues are full, placement:
      -- the spawner's worker unless it is busier than another worker of the host by more than
      -- the slack (H.place, src/host/worker.ts).
      local tid = SELF
      if validated[id] and MULTI and not pin then
        pid = spawn_queued(id, host, watcher, opts.link, ctx, n, args, SELF)
        if not pid then
          tid = H.place()
          if tid ~= SELF then
            pid = spawn_queued(id, host, watcher, opts.link, ctx, n, args, tid)
            if pid then H.load_add(-1, tid) end -- place() counted it there; it counts where it starts
          end
        end
      end
      if pid then
        -- queued
      elseif tid == SELF then
        pid, err = spawn_local(id, host, opts, n, args)
      else
        local uniq = H.pid_alloc(tid)
        local Ent = K.entries[id]
        local phost = Ent.kind == "function.lua" and (id .. "#lua." .. tid) or host
        pid = fmt_pid(phost, uniq)
        local pargs = { n = n }
        for i = 1, n do pargs[i] = args[i] end
        local posted, perr = post(tid, { "sp", pid, uniq, id, host, watcher or false, opts.link or false, ctx or false, pargs })
        if not posted then
          H.dead(uniq)
          H.load_add(-1, tid) -- place() counted it there
          return E("Invalid", perr)
        end
      end
    else
      local tid = pick_tid(hostrec, host)
      if not tid then return E("Unavailable", "host has no running worker") end
      local pargs = { n = n }
      for i = 1, n do pargs[i] = args[i] end
      pid, err = rpc(tid, "s", id, host, watcher or false, link and true or false, ctx or false, pargs)
    end
    if not pid then return nil, err end
    if monitor then P.monitoring[pid] = true end
    if link then P.links[pid] = true end
    return pid
  end
  K.spawn_from = spawn_from

  ---------------------------------------------------------------------------------------------
  -- Incoming frames from other threads.
  local handlers = {}
  K.handlers = handlers

  handlers.m = function(f)
    local P = procs[f[2]]
    if P and P.alive then
      local p = f[6] or {}
      deliver_msg(P, f[4], f[3], f[5], p)
    end
  end
  handlers.e = function(f)
    local w = exec_waits[f[2]]
    if w then if f[3].kind == EV_EXIT then w(f[3]) end; return end
    local P = procs[f[2]]
    if P and P.alive then
      -- an event handlers.wdown already synthesized, arriving late through a home's forwarding
      local g = P.gone
      if g and g[f[3].kind .. (f[3].from or "")] then g[f[3].kind .. f[3].from] = nil; return end
      deliver_event(P, f[3])
    end
  end
  handlers.rep = function(f)
    local T = rpc_pending[f[3]]
    if not T then return end
    rpc_pending[f[3]] = nil
    rpc_to[f[3]] = nil
    local P = T.proc
    if T.dead then return end
    P.npending = P.npending - 1
    if P.alive and T.parked then ready(T, 2, f[4], f[5]) end
  end
  -- {"s", reply_tid, reply_pid, req, id, host, monitor, link, ctx, args}
  handlers.s = function(f)
    local reply_tid, reply_pid, req = f[2], f[3], f[4]
    local args = f[10] or { n = 0 }
    local w = f[7]
    if w == true then w = reply_pid end
    local opts = { watcher = w or nil, link = f[8] and reply_pid or nil, ctx = f[9] or nil }
    local pid, err = spawn_local(f[5], f[6], opts, args.n or #args, args)
    post(reply_tid, { "rep", reply_pid, req, pid, err })
  end
  -- {"nown", pid, name, token}: the main thread registered `name` for `pid`, a process of this
  -- worker, on behalf of a process elsewhere (register(name, pid), a with_name spawn on another
  -- host). The holder counts the name as its own, so its exit releases it before the EXIT goes
  -- out; the main thread answers the registering process only after {"nok", token}. A holder
  -- already gone releases it at once (its EXIT is out already; nothing to order).
  handlers.nown = function(f)
    local P, name = procs[f[2]], f[3]
    if P and P.alive then
      P.names[name] = true
      local_names[name] = P.pid
    else
      post(0, { "x", SELF, f[2], 0 })
    end
    post(0, { "nok", f[4] })
  end
  handlers.xack = function(f)
    local P = exit_pending_names[f[2]]
    if P then exit_pending_names[f[2]] = nil; notify_exit(P) end
  end
  handlers.t = function(f)
    local P = procs[f[2]]
    if P and P.alive then terminate(P) end
  end
  handlers.c = function(f)
    local P = procs[f[2]]
    if P and P.alive then
      deliver_event(P, { kind = EV_CANCEL, from = f[3], at = wall_s(), deadline = f[4], reason = f[5] })
    end
  end
  handlers.lk = function(f) local P = procs[f[2]]; if P then P.links[f[3]] = true end end
  handlers.ul = function(f) local P = procs[f[2]]; if P then P.links[f[3]] = nil end end
  handlers.mon = function(f) local P = procs[f[2]]; if P then P.watchers[f[3]] = true end end
  handlers.um = function(f) local P = procs[f[2]]; if P then P.watchers[f[3]] = nil end end
  -- Runtime shutdown: every process gets CANCEL ("scheduler shutdown") and a deadline.
  handlers.shutdown = function(f)
    local deadline = wall_s() + (f[2] or 10000) / 1000
    shutdown_deadline = deadline
    for _, P in pairs(procs) do
      if P.alive then
        deliver_event(P, { kind = EV_CANCEL, from = ZERO_PID, at = wall_s(), deadline = deadline,
          reason = "scheduler shutdown" })
      end
    end
  end
  handlers.kill_all = function()
    killing = true
    for _, P in pairs(procs) do terminate(P) end
  end

  -- Frames for a process placed on this worker whose "sp" frame has not arrived yet (it comes
  -- on the spawner's channel; the PID may reach other senders first). Kept per PID, in arrival
  -- order, and replayed right after the process starts.
  local early = {}
  local TARGETED = { m = true, e = true, t = true, c = true, lk = true, ul = true, mon = true, um = true, nown = true }
  local function pending_here(pid)
    local host, uniq = parse_pid(pid)
    if not host then return false end
    local tid, alive = H.route(uniq)
    return alive and tid == SELF
  end

  -- A PID handed out (placed or moved here) whose process failed to start: it exits with `err`,
  -- its watchers get EXIT and its links LINK_DOWN (nil entries in the lists are skipped).
  local function start_failed(pid, uniq, err, watchers, links, id, host)
    H.dead(uniq)
    H.load_add(-1)
    if next(watchers) == nil and next(links) == nil then send_crash(pid, id, host, err, nil) end
    local at = wall_s()
    for _, w in pairs(watchers) do send_event(w, { kind = EV_EXIT, from = pid, at = at, result = { error = err } }) end
    for _, l in pairs(links) do send_event(l, { kind = EV_LINK_DOWN, from = pid, at = at, result = { error = err } }) end
  end

  handlers.sp = function(f)
    local pid, uniq, id, host = f[2], f[3], f[4], f[5]
    local args = f[9] or { n = 0 }
    local opts = { watcher = f[6] or nil, link = f[7] or nil, ctx = f[8] or nil }
    local ok, err = spawn_local(id, host, opts, args.n or #args, args, { pid = pid, uniq = uniq })
    local queued = early[pid]
    early[pid] = nil
    if not ok then
      -- It instantiated on the spawner's worker but not here: an error exit, as if it crashed.
      start_failed(pid, uniq, err, { opts.watcher }, { opts.link }, id, host)
      return
    end
    if queued then for i = 1, #queued do handlers[queued[i][1]](queued[i]) end end
  end

  -- Queued spawns (spawn_queued) that another worker started: their home (this worker, the
  -- owner of their PIDs) forwards every frame for them, in arrival order, to that worker. Every
  -- sender's frames to such a PID take one path (sender -> home -> runner, two FIFO rings), so
  -- per-sender FIFO holds; frames that arrived before the runner said "bound" wait in `early`
  -- and go first. The runner routes its own sends to the process through here too (P.home).
  local forward = {}
  handlers.bound = function(f)
    local pid, runner = f[2], f[3]
    forward[pid] = runner
    local q = early[pid]
    early[pid] = nil
    if q then for i = 1, #q do post(runner, q[i]) end end
  end
  handlers.unfwd = function(f) forward[f[2]] = nil end

  -- Start a queued spawn (a descriptor from the run queues) on this worker.
  local function start_task(d)
    local t = decode(d)
    local pid, uniq, id, host, watcher, link, ctx, args, home =
      t[1], t[2], t[3], t[4], t[5] or nil, t[6] or nil, t[7] or nil, t[8], t[9]
    -- Its home worker died (the main thread cleared the bit): its watchers were told already.
    local _, alive = H.route(uniq)
    if not alive then return end
    -- Started away from its home: the directory records where it runs (worker recovery).
    if home ~= SELF then H.set_runner(uniq) end
    H.load_add(1)
    local ok, err = spawn_local(id, host, { watcher = watcher, link = link, ctx = ctx }, args.n or #args, args,
      { pid = pid, uniq = uniq })
    if home ~= SELF then
      local P = procs[pid] -- nil if it failed, or was killed at once (kill_all)
      if P then P.home = home end
      post(home, { "bound", pid, SELF })
      if not P then post(home, { "unfwd", pid }) end
    else
      local q = early[pid]
      early[pid] = nil
      if ok and q then for i = 1, #q do handlers[q[i][1]](q[i]) end end
    end
    if not ok then
      -- It instantiated on the spawner's worker but not here: an error exit, as if it crashed.
      start_failed(pid, uniq, err, { watcher }, { link }, id, host)
      return
    end
  end

  -- The scheduler's hook into the run queues: start the next queued spawn, if any.
  -- `steal`: this worker has nothing else to run, so it may rob busy siblings.
  function K.take_task(steal)
    local d = H.task_take(steal)
    if not d then return false end
    start_task(d)
    return true
  end
  K.multi = MULTI

  ---------------------------------------------------------------------------------------------
  -- Worker recovery (src/runtime/recovery.ts, steps 6-7 there).
  -- {"wdown", tid, message}: worker `tid` is dead. Every PID that died with it (owned there, or
  -- a queued spawn started there away from its home: H.dies_with) is gone, and the main thread
  -- has cleared their alive bits. Their EXIT / LINK_DOWN went down with the worker, so each
  -- worker synthesizes them for its own processes from what the watching side records:
  -- P.monitoring (EXIT), P.links (LINK_DOWN), P.execs (process.exec waits). Frames the dead worker
  -- had published were handled before this one (worker.ts reads its ring one last time first), so
  -- an event that made it out is delivered and not synthesized (monitoring/links were cleared by
  -- it); one still on its way through a home's forwarding is dropped on arrival (P.gone).
  -- Also: rpcs to the dead thread fail; processes running here whose home was the dead worker
  -- are killed quietly (their watchers synthesize their events the same way); frames held or
  -- forwarded for gone PIDs are dropped; the dead tid leaves its host's round-robin.
  -- {"wup", tid, host}: a replacement worker joined `host`.
  handlers.wdown = function(f)
    local dead, msg = f[2], f[3]
    local err = K.err("Internal", tostring(msg))
    local at = wall_s()
    local function gone_pid(pid)
      local host, uniq = parse_pid(pid)
      return host and H.dies_with(uniq, dead) or false
    end
    local hid = host_of_tid[dead]
    local hrec = hid and CFG.hosts[hid]
    if hrec then
      for i = #hrec.tids, 1, -1 do if hrec.tids[i] == dead then table.remove(hrec.tids, i) end end
    end
    for req, tid in pairs(rpc_to) do
      if tid == dead then
        rpc_to[req] = nil
        local T = rpc_pending[req]
        rpc_pending[req] = nil
        if T and not T.dead then
          local P = T.proc
          P.npending = P.npending - 1
          if P.alive and T.parked then ready(T, 2, nil, err) end
        end
      end
    end
    local doomed, evs, execs = {}, {}, {}
    for _, P in pairs(procs) do
      if P.home == dead then
        doomed[#doomed + 1] = P
      elseif P.alive then
        for pid in pairs(P.monitoring) do if gone_pid(pid) then evs[#evs + 1] = { P, EV_EXIT, pid } end end
        for pid in pairs(P.links) do if gone_pid(pid) then evs[#evs + 1] = { P, EV_LINK_DOWN, pid } end end
        for w in pairs(P.watchers) do if gone_pid(w) then P.watchers[w] = nil end end
        if P.execs then
          for wpid, child in pairs(P.execs) do if gone_pid(child) then execs[#execs + 1] = { wpid, child } end end
        end
      end
    end
    for _, P in ipairs(doomed) do
      P.watchers, P.links, P.home = {}, {}, nil
      kill(P, err)
    end
    for _, e in ipairs(evs) do
      local P, kind, from = e[1], e[2], e[3]
      if P.alive then
        P.gone = P.gone or {}
        P.gone[kind .. from] = true
        deliver_event(P, { kind = kind, from = from, at = at, result = { error = err } })
      end
    end
    for _, e in ipairs(execs) do
      local w = exec_waits[e[1]]
      if w then w({ kind = EV_EXIT, from = e[2], at = at, result = { error = err } }) end
    end
    for pid, runner in pairs(forward) do if runner == dead then forward[pid] = nil end end
    for pid in pairs(early) do
      local host, uniq = parse_pid(pid)
      if not host or not select(2, H.route(uniq)) then early[pid] = nil end
    end
  end
  handlers.wup = function(f)
    local tid, hid = f[2], f[3]
    host_of_tid[tid] = hid
    local hrec = CFG.hosts[hid]
    if hrec then
      local known = false
      for i = 1, #hrec.tids do if hrec.tids[i] == tid then known = true end end
      if not known then hrec.tids[#hrec.tids + 1] = tid end
    end
  end

  -- Kernel containment. A kernel error (a bug, or memory running out inside the kernel) while
  -- handling one frame or one process affects only that frame or process; the worker goes on.
  -- The protection is one pcall per batch and one per scheduling step (sched.lua), not one per
  -- message: after an error, the loop is re-entered behind the item that failed.
  --   a frame:   dropped; a process it was addressed to exits with an Internal error, a spawn
  --              request gets an error reply. A frame that cannot be decoded ends its batch (the
  --              next frame's start is unknown); encoders never produce one (codec.lua limits).
  --   a process: exits with kind Internal, "kernel error: ..."; its monitors and links still get
  --              EXIT / LINK_DOWN (finalize, or the rest of notify_exit, runs again).
  -- Each is written to the runtime's stderr, naming the worker and the process or frame.
  local function report_fault(what, e)
    H.write(2, "wippy: kernel error on worker " .. SELF .. " while " .. what .. ": " ..
      tostring(is_error(e) and errmsg(e) or e) .. "\n")
  end
  local function kernel_err(e)
    return K.err("Internal", "kernel error: " .. tostring(is_error(e) and errmsg(e) or e), false)
  end

  -- P's exit could not complete (or its step failed): end it with `err`, telling its watchers
  -- (those told before the error may hear twice; none is left waiting).
  local function force_exit(P, err)
    P.alive, P.exit_pending = false, false
    P.exit_value, P.exit_err = nil, err
    if not P.finalized then finalize(P)
    elseif not P.notified then notify_exit(P) end
  end

  -- End P after a kernel error; a second failure drops it from the table so the worker does not
  -- keep tripping on it.
  local function end_faulted(P, e)
    if P.notified then return end
    local ok, e2
    if P.alive then ok, e2 = pcall(kill, P, kernel_err(e)) -- the whole exit path
    else ok, e2 = pcall(force_exit, P, kernel_err(e)) end
    if not ok then
      report_fault("ending process " .. tostring(P.pid), e2)
      if procs[P.pid] == P then procs[P.pid] = nil; nprocs = nprocs - 1; H.dead(P.uniq) end
    end
  end

  -- Every fault: the scratch state of an unwound codec call is dropped, and an exit that was
  -- being told is finished.
  local function after_fault(e)
    K.cur, K.cp = nil, nil
    codec.reset()
    local N = notifying
    notifying = nil
    if N then end_faulted(N, e) end
  end

  function K.kernel_fault(what, e)
    report_fault(what, e)
    after_fault(e)
  end

  function K.process_fault(P, e)
    report_fault("handling process " .. tostring(P.pid), e)
    after_fault(e)
    end_faulted(P, e)
  end

  local function frame_fault(f, e)
    local kind = type(f) == "table" and f[1] or nil
    report_fault("handling a frame (" .. tostring(kind) .. ")", e)
    after_fault(e)
    if TARGETED[kind] then
      local P = procs[f[2]]
      if P and P.alive then end_faulted(P, e) end
    elseif kind == "s" then
      pcall(post, f[2], { "rep", f[3], f[4], nil, kernel_err(e) })
    end
  end

  -- The batch being delivered, where its next frame starts, and the frame being handled (nil
  -- while decoding): upvalues, so that after an error delivery resumes behind the failed frame.
  local dbatch, dpos, dframe
  local function deliver_rest()
    local batch, len = dbatch, #dbatch
    while dpos <= len do
      dframe = nil
      local f
      f, dpos = decode(batch, dpos)
      dframe = f
      local kind = f[1]
      local fw = TARGETED[kind] and forward[f[2]]
      if fw then
        post(fw, f)
      elseif TARGETED[kind] and not procs[f[2]] and not exec_waits[f[2]] and pending_here(f[2]) then
        local q = early[f[2]]
        if not q then q = {}; early[f[2]] = q end
        q[#q + 1] = f
      else
        local h = handlers[kind]
        if h then h(f) end
      end
    end
  end

  function K.deliver_batch(batch)
    dbatch, dpos = batch, 1
    while true do
      local ok, e = pcall(deliver_rest)
      if ok then break end
      if dframe == nil then
        K.kernel_fault("decoding a frame batch (" .. #batch .. " bytes, the rest dropped)", e)
        break
      end
      frame_fault(dframe, e)
    end
    dbatch, dframe = nil, nil
  end

  function K.count() return nprocs end
  -- Mailbox sizes for Runtime.stats(): unread records of all processes here, and the largest
  -- mailbox with its PID. O(processes), on request only.
  function K.mailbox_stats()
    local total, max, maxpid = 0, 0, nil
    for pid, P in pairs(procs) do
      local n = P.unread
      total = total + n
      if n > max then max, maxpid = n, pid end
    end
    return total, max, maxpid
  end

  ---------------------------------------------------------------------------------------------
  -- The `process` module.
  local process = {}
  local function cur()
    local P = K.cp
    if not P then error(K.err("Invalid", "no context found"), 3) end
    return P
  end
  K.cur_proc = cur

  function process.pid() local P = K.cp; if not P then return E("Invalid", "no context found") end; return P.pid end
  function process.id() local P = K.cp; if not P then return E("Invalid", "no context found") end; return P.id end

  -- A caller's argument inside an error message: cut to 128 bytes, so a 10 MB name does not make
  -- a 10 MB error.
  local function show(v)
    v = tostring(v)
    if #v > 128 then return v:sub(1, 128) .. "... (" .. #v .. " bytes)" end
    return v
  end
  -- Argument check of a destination (nil or not a string) -> nil, Invalid error naming the argument
  local function bad_dest(fname, dest)
    if dest == nil then return E("Invalid", fname .. " requires a destination argument") end
    return E("Invalid", fname .. ": destination must be a string (PID or registered name), got " .. type(dest))
  end

  -- Resolve a destination (pid string or registered name) -> pid | nil, err
  local function resolve(dest)
    if procs[dest] then return dest end -- a live local PID: the common case, no parsing
    if type(dest) ~= "string" then
      return E("Invalid", "destination must be a string (PID or registered name)")
    end
    local host = parse_pid(dest)
    if host then return dest end
    if host == false then return dest end
    local pid = local_names[dest]
    if pid then return pid end
    local r = rpc(0, "nlook", dest)
    if r then return r end
    return E("NotFound", "could not resolve '" .. show(dest) .. "' as PID or registered name")
  end
  K.resolve = resolve

  local check = K.check

  local SEND_BUDGET = 1000 -- sends between forced yields, so a sending loop cannot starve its worker
  function process.send(dest, topic, ...)
    local P = cur()
    local n = select("#", ...)
    if dest == nil or topic == nil then
      return E("Invalid", "send requires at least destination and topic arguments")
    end
    if type(topic) ~= "string" then return E("Invalid", "topic must be a string") end
    if sbyte(topic, 1) == 64 then return E("Invalid", "cannot send to @ topics") end
    local pid, rerr = resolve(dest)
    if not pid then return nil, rerr end
    local allowed, perr = check(P, "process.send", pid, "not allowed to send: " .. tostring(dest))
    if not allowed then return nil, perr end
    local where, target = locate(pid)
    if not where then return nil, target end
    if where == "local" then
      local p = {}
      for i = 1, n do
        local c, cerr = copy((select(i, ...)))
        if cerr then return E("Invalid", cerr) end
        p[i] = c
      end
      deliver_msg(target, topic, P.pid, n, p)
    else
      local b, eerr = encode({ "m", pid, P.pid, topic, n, { ... } })
      if not b then return E("Invalid", eerr) end
      H.post(target, b)
    end
    local b = (P.sendb or 0) + 1
    if b >= SEND_BUDGET then
      P.sendb = 0
      if K.cur and K.cur.proc == P then ready(K.cur, 0); raw_yield(BLOCK) end
    else
      P.sendb = b
      K.maybe_yield()
    end
    return true
  end

  local function spawn_variant(fname, monitor, link)
    return function(id, host, ...)
      local P = cur()
      if id == nil or host == nil then return E("Invalid", fname .. " requires at least id and host arguments") end
      if type(id) ~= "string" then return E("Invalid", fname .. ": id must be a string") end
      if type(host) ~= "string" then return E("Invalid", fname .. ": host must be a string") end
      local ok, perr = check(P, "process.spawn", id, "not allowed to spawn process: " .. id)
      if ok and monitor then ok, perr = check(P, "process.spawn.monitored", id, "not allowed to spawn monitored process: " .. id) end
      if ok and link then ok, perr = check(P, "process.spawn.linked", id, "not allowed to spawn linked process: " .. id) end
      if ok then ok, perr = check(P, "process.host", host, "not allowed to spawn on host: " .. host) end
      if not ok then return nil, perr end
      local n = select("#", ...)
      local args = { ... }
      local okc, cerr = copy_args(args, n)
      if not okc then return nil, cerr end
      return spawn_from(P, id, host, monitor, link, n, args)
    end
  end
  process.spawn = spawn_variant("spawn", false, false)
  process.spawn_monitored = spawn_variant("spawn_monitored", true, false)
  process.spawn_linked = spawn_variant("spawn_linked", false, true)
  process.spawn_linked_monitored = spawn_variant("spawn_linked_monitored", true, true)

  -- Subscriptions.
  local function subscribe(P, topic, cap, mode)
    local ch = K.chan_new(cap)
    local s = CH[ch]
    s.mode, s.bq, s.backlog, s.take_backlog, s.proc = mode, qnew(), backlog_head, take_backlog, P
    if cap > 0 then s.refill, s.mrec = refill, {} end
    P.nsubs = P.nsubs + 1
    return ch
  end

  function process.inbox()
    local P = cur()
    local ch = P.inbox
    if ch then return ch end
    ch = subscribe(P, "@pid/inbox", 0, "message")
    P.inbox = ch
    reroute(P)
    return ch
  end

  function process.events()
    local P = cur()
    local ch = P.events
    if ch then return ch end
    ch = subscribe(P, "@pid/events", 0, "event")
    P.events = ch
    P.subs["@pid/events"] = ch
    reroute(P)
    return ch
  end

  function process.listen(topic, opts)
    local P = cur()
    if type(topic) ~= "string" then return E("Invalid", "topic must be a string") end
    if topic == "" then return E("Invalid", "topic cannot be empty") end
    if sbyte(topic, 1) == 64 then return E("Invalid", "cannot listen to @ topics") end
    local as_msg = type(opts) == "table" and opts.message == true
    local ch = P.subs[topic]
    if ch then
      if as_msg then CH[ch].mode = "message" end
      return ch
    end
    ch = subscribe(P, topic, 1, as_msg and "message" or "raw")
    P.subs[topic] = ch
    reroute(P)
    return ch
  end

  function process.unlisten(ch)
    local P = cur()
    local s = CH[ch]
    if not s or s.proc ~= P then return end
    for topic, c in pairs(P.subs) do
      if c == ch then
        P.subs[topic] = nil
        P.nsubs = P.nsubs - 1
        -- what the channel still held falls back to the inbox / unrouted, in order; a value
        -- already in its buffer stays there (receivable from the closed channel) and leaves
        -- the mailbox count
        local bq = s.bq
        s.bq = qnew()
        if s.mrec then
          for i = s.buf.h, s.buf.t do if s.mrec[i] then P.unread = P.unread - 1 end end
          s.mrec = {}
        end
        K.chan_close(ch)
        while bq.t >= bq.h do route(P, qpop(bq)) end
        return
      end
    end
  end

  -- Names (served by the main thread, cached for local holders).
  local registry = { LOCAL = 0, EVENTUAL = 1, CONSISTENT = 2, STRONG = 3 }
  function registry.register(name, pid, scope)
    local P = cur()
    if type(name) ~= "string" or name == "" then return E("Invalid", "name must be a non-empty string") end
    if pid ~= nil then
      if type(pid) ~= "string" then return E("Invalid", "pid must be a string") end
      if sbyte(pid, 1) ~= 123 or sbyte(pid, -1) ~= 125 then return E("Invalid", "invalid pid format: missing braces") end
      if not pid:find("|", 1, true) then return E("Invalid", "invalid pid format: missing pipe") end
    else
      pid = P.pid
    end
    if scope ~= nil and type(scope) ~= "number" then
      return E("Invalid", "scope must be a number (process.registry.LOCAL|EVENTUAL|CONSISTENT|STRONG)")
    end
    if scope ~= nil and not (scope == 0 or scope == 1 or scope == 2 or scope == 3) then
      return E("Invalid", "scope must be one of process.registry.LOCAL|EVENTUAL|CONSISTENT|STRONG, got " .. show(scope))
    end
    if pid ~= P.pid then
      local okf, ferr = check(P, "process.registry.foreign", pid,
        "not allowed to register foreign pid " .. pid .. ' under name "' .. name .. '"')
      if not okf then return nil, ferr end
    end
    local scopename = ({ [1] = "eventual", [2] = "consistent", [3] = "strong" })[scope]
    if scopename then
      local okr, rerr2 = check(P, "process.registry.register." .. scopename, name,
        "not allowed to register name (" .. scopename .. "): " .. name)
      if not okr then return nil, rerr2 end
    else
      local okr, rerr2 = check(P, "process.registry.register", name, "not allowed to register name: " .. name)
      if not okr then return nil, rerr2 end
    end
    if scope == 1 then return E("Internal", "eventual registry not available") end
    if scope == 2 or scope == 3 then return E("Internal", "global registry not available") end
    -- A local holder counts the name as its own before the rpc: killed while it waits, it still
    -- sends the release ("x", behind the "nreg" on the same ring), so the name cannot outlive it.
    local holder = procs[pid]
    if holder and not holder.names[name] then holder.names[name] = "pending" end
    local ok, err = rpc(0, "nreg", name, pid)
    if not ok then
      if holder and holder.names[name] == "pending" then holder.names[name] = nil end
      return nil, err
    end
    if holder and procs[pid] == holder then holder.names[name] = true; local_names[name] = pid end
    return true
  end
  function registry.lookup(name)
    cur()
    if type(name) ~= "string" then return E("Invalid", "name must be a string") end
    local pid = local_names[name]
    if pid then return pid end
    local r = rpc(0, "nlook", name)
    if r then return r end
    return E("NotFound", "name not registered")
  end
  function registry.unregister(name)
    local P = cur()
    if type(name) ~= "string" then return E("Invalid", "name must be a string") end
    local oku, uerr = check(P, "process.registry.unregister", name, "not allowed to unregister name: " .. name)
    if not oku then return nil, uerr end
    local pid = local_names[name]
    if pid then
      local_names[name] = nil
      local holder = procs[pid]
      if holder then holder.names[name] = nil end
    end
    local r = rpc(0, "nunreg", name)
    return r == true
  end
  process.registry = readonly(registry, "process.registry")

  function process.terminate(dest)
    local P = cur()
    if type(dest) ~= "string" then return bad_dest("terminate", dest) end
    local pid, err = resolve(dest)
    if not pid then return nil, K.err("Internal", errmsg(err)) end
    local okt, terr = check(P, "process.terminate", pid, "not allowed to terminate: " .. tostring(dest))
    if not okt then return nil, terr end
    local where, target = locate(pid)
    if not where then return nil, K.err("Internal", errmsg(target)) end
    if where == "local" then
      terminate(target)
      if target == P then raw_yield(BLOCK) end
    else
      post(target, { "t", pid, P.pid })
    end
    return true
  end

  -- Default cancel deadline: 10 s, as the reference's service stop (semantics §5).
  local DEFAULT_CANCEL_MS = 10000
  function process.cancel(dest, deadline)
    local P = cur()
    if dest == nil then return E("Invalid", "cancel requires at least destination argument") end
    if type(dest) ~= "string" then return bad_dest("cancel", dest) end
    local ms = DEFAULT_CANCEL_MS
    if deadline ~= nil then
      if math.type(deadline) == "integer" then ms = deadline
      elseif type(deadline) == "string" and builtin.time then
        local d = builtin.time.parse_duration(deadline)
        if not d then return E("Invalid", "invalid duration: " .. show(deadline)) end
        ms = d:milliseconds()
      else
        return E("Invalid", "invalid duration: " .. show(deadline))
      end
    end
    local pid, err = resolve(dest)
    if not pid then return nil, K.err("Internal", errmsg(err)) end
    local okc, cerr = check(P, "process.cancel", pid, "not allowed to cancel: " .. tostring(dest))
    if not okc then return nil, cerr end
    local where, target = locate(pid)
    if not where then return nil, K.err("Internal", errmsg(target)) end
    local at = wall_s()
    if where == "local" then
      deliver_event(target, { kind = EV_CANCEL, from = P.pid, at = at, deadline = at + ms / 1000 })
    else
      post(target, { "c", pid, P.pid, at + ms / 1000 })
    end
    return true
  end

  local function topo_call(fname, fn)
    return function(dest)
      local P = cur()
      if type(dest) ~= "string" then return bad_dest(fname, dest) end
      local pid, err = resolve(dest)
      if not pid then return nil, K.err("Internal", errmsg(err)) end
      local ok, perr = check(P, "process." .. fname, pid, "not allowed to " .. fname .. ": " .. tostring(dest))
      if not ok then return nil, perr end
      return fn(P, pid)
    end
  end
  process.monitor = topo_call("monitor", function(P, pid)
    if P.monitoring[pid] then return E("Internal", "already monitoring pid") end
    local where = locate(pid)
    if not where then return E("Internal", "pid not registered") end
    P.monitoring[pid] = true
    topo(pid, "mon", P.pid)
    return true
  end)
  process.unmonitor = topo_call("unmonitor", function(P, pid)
    if P.monitoring[pid] then P.monitoring[pid] = nil; topo(pid, "um", P.pid) end
    return true
  end)
  process.link = topo_call("link", function(P, pid)
    if P.links[pid] then return true end
    local where = locate(pid)
    if not where then return E("Internal", "pid not registered") end
    P.links[pid] = true
    topo(pid, "lk", P.pid)
    return true
  end)
  process.unlink = topo_call("unlink", function(P, pid)
    if P.links[pid] then P.links[pid] = nil end
    topo(pid, "ul", P.pid)
    return true
  end)

  -- exec_start(P, id, host, n, args, ctx, on_exit) -> handle | nil, err: spawn entry `id` on
  -- `host` for caller P (ctx nil = inherit P's), watched by a `node:control` pid minted here, and
  -- call on_exit(ev) once with its EXIT event (ev.result.value / ev.result.error; function frames
  -- also ev.result.values). While it runs it counts as a pending operation of P (waiting on it is
  -- not a deadlock). handle.cancel(reason) sends the child a CANCEL with the default deadline and
  -- stops waiting (on_exit is not called); when P exits first, K.cancel_execs does the same.
  -- process.exec is exec_start + park; the funcs module (lib/funcs.lua) builds on it too.
  local function cancel_child(P, child, reason)
    local at = wall_s()
    local where, target = locate(child)
    local ev = { kind = EV_CANCEL, from = P.pid, at = at, deadline = at + DEFAULT_CANCEL_MS / 1000,
      reason = reason }
    if where == "local" then deliver_event(target, ev)
    elseif where == "remote" then post(target, { "c", child, P.pid, ev.deadline, ev.reason }) end
  end
  local function exec_start(P, id, host, n, args, ctx, on_exit)
    local uniq = H.pid_alloc()
    local wpid = fmt_pid("node:control", uniq)
    local function stop()
      exec_waits[wpid] = nil
      H.dead(uniq)
      if P.execs then P.execs[wpid] = nil end
      P.npending = P.npending - 1
    end
    exec_waits[wpid] = function(ev) stop(); on_exit(ev) end
    local pid, err = spawn_from(P, id, host, false, false, n, args, ctx, wpid)
    if not pid then
      exec_waits[wpid] = nil
      H.dead(uniq)
      return nil, K.err("Internal", errmsg(err), false)
    end
    P.npending = P.npending + 1
    P.execs = P.execs or {}
    P.execs[wpid] = pid
    local handle = { pid = pid }
    function handle.cancel(reason)
      if exec_waits[wpid] == nil then return false end
      stop()
      cancel_child(P, pid, reason or "caller context canceled")
      return true
    end
    return handle
  end
  K.exec_start = exec_start

  -- process.exec(id, host, ...): spawn, wait for the EXIT, return its value or nil, err.
  -- If the caller exits first, the callee gets a CANCEL (semantics §2.11, issue: "cancelled").
  local function exec_from(P, id, host, n, args, ctx)
    local T = K.cur
    local result
    local h, err = exec_start(P, id, host, n, args, ctx, function(ev)
      result = ev
      if P.alive and T.parked then ready(T, 0) end
    end)
    if not h then return nil, err end
    while result == nil do park() end
    local r = result.result or {}
    if r.error ~= nil then return nil, r.error end
    return r.value
  end

  -- The kernel interface lib/funcs.lua receives (init.lua passes it; its top lists each field).
  K.funcs_iface = {
    exec_start = exec_start,
    current = function() return K.cp end,
    check = function(P, action, resource, msg) return K.check(P, action, resource, msg) end,
    error = function(kind, msg) return K.err(kind, msg, false) end,
    entry_kind = function(id) local e = K.entries[id]; if e then return e.kind, e.default_host end end,
    copy_args = copy_args,
    chan_new = K.chan_new, chan_offer = K.chan_offer, chan_close = K.chan_close,
    payload = wrap_payload,
    timer_add = K.timer_add, timer_cancel = K.timer_cancel, now_ms = H.now,
    newud = H.newud,
    encode_actor = function(a) return K.encode_actor(a) end,
    encode_scope = function(s) return K.encode_scope(s) end,
    -- fn(ev) runs when P receives a CANCEL event (before P sees it), until off_cancel(P, token)
    on_cancel = function(P, fn)
      local hooks = P.on_cancel
      if not hooks then hooks = {}; P.on_cancel = hooks end
      local token = {}
      hooks[token] = fn
      return token
    end,
    off_cancel = function(P, token) local hooks = P.on_cancel; if hooks then hooks[token] = nil end end,
    duration_ms = function(s)
      local d = builtin.time and builtin.time.parse_duration(s)
      return d and d:milliseconds()
    end,
  }

  local function check_exec_args(id, host)
    if id == nil or host == nil then return E("Invalid", "exec requires id and host arguments") end
    if type(id) ~= "string" or id == "" then return E("Invalid", "process ID required") end
    if not id:find(":", 1, true) or id:sub(1, 1) == ":" or id:sub(-1) == ":" then
      return E("Invalid", "invalid process ID format (namespace:name required)")
    end
    if type(host) ~= "string" or host == "" then return E("Invalid", "host ID required") end
    return true
  end

  function process.exec(id, host, ...)
    local P = cur()
    local ok, verr = check_exec_args(id, host)
    if not ok then return nil, verr end
    if K.check then
      local allowed, perr = K.check(P, "process.exec", id, "not allowed to exec process: " .. id)
      if not allowed then return nil, perr end
      allowed, perr = K.check(P, "process.host", host, "not allowed to exec on host: " .. host)
      if not allowed then return nil, perr end
    end
    local n = select("#", ...)
    local args = { ... }
    local okc, cerr = copy_args(args, n)
    if not okc then return nil, cerr end
    return exec_from(P, id, host, n, args, nil)
  end

  -- Cancel what a dying caller was exec-ing.
  function K.cancel_execs(P)
    if not P.execs then return end
    for wpid, child in pairs(P.execs) do
      exec_waits[wpid] = nil
      cancel_child(P, child, "caller context canceled")
    end
    P.execs = nil
  end

  -- Context values (`ctx` module) and the immutable Spawner (process.with_context).
  local function ctx_values(P)
    local c = P and P.ctx
    return c and c.values
  end

  local ctxmod = {}
  function ctxmod.get(key)
    if type(key) ~= "string" or key == "" then return E("Invalid", "context key must be a non-empty string") end
    local v = ctx_values(K.cp)
    if v == nil or v[key] == nil then return E("NotFound", "context value not found: " .. key) end
    return copy(v[key])
  end
  function ctxmod.all()
    return copy(ctx_values(K.cp) or {})
  end
  builtin.ctx = readonly(ctxmod, "ctx")

  local SP = setmetatable({}, { __mode = "k" })
  local sp_methods = {}
  local SP_MT = { __index = sp_methods, __metatable = "process.Spawner",
    __tostring = function() return "process.Spawner" end }

  local function new_spawner(st)
    local u = H.newud(SP_MT)
    SP[u] = st
    return u
  end
  local function clone(st)
    local c = {}
    for k, v in pairs(st) do c[k] = v end
    return c
  end
  local function merged(a, b)
    local out = {}
    if a then for k, v in pairs(a) do out[k] = v end end
    for k, v in pairs(b) do
      if type(k) ~= "string" then error("context keys must be strings", 3) end
      local c, cerr = copy(v)
      if cerr then error(K.err("Invalid", "context value " .. k .. ": " .. cerr, false), 3) end
      out[k] = c
    end
    return out
  end
  -- The spawner a method was called on; anything else (sp.spawn(x), a userdata of another kind)
  -- raises, as spawner misuse does (semantics §2.13).
  local function spawner_of(self, fname)
    local st = SP[self]
    if not st then
      error(K.err("Invalid", "bad self to '" .. fname .. "' (process.Spawner expected, got " .. type(self) .. ")", false), 3)
    end
    return st
  end
  local function need(P, action, resource, msg)
    if not K.check then return end
    local ok = K.check(P, action, resource, msg)
    if not ok then error(K.err("PermissionDenied", msg, false), 3) end
  end

  local function base_spawner(P, values, options)
    return {
      values = values, options = options,
      actor = P.ctx and P.ctx.actor, scope = P.ctx and P.ctx.scope,
      messages = {},
    }
  end

  function process.with_context(values)
    local P = cur()
    if type(values) ~= "table" then error("bad argument #1 to 'with_context' (table expected)", 2) end
    need(P, "process.context", "context", "not allowed to spawn processes with custom context")
    return new_spawner(base_spawner(P, merged(ctx_values(P), values), nil))
  end
  function process.with_options(opts)
    local P = cur()
    if type(opts) ~= "table" then error("bad argument #1 to 'with_options' (table expected)", 2) end
    need(P, "process.context", "context", "not allowed to spawn processes with custom options")
    if opts.network ~= nil then
      need(P, "network.select", tostring(opts.network), "not allowed: network " .. tostring(opts.network))
    end
    return new_spawner(base_spawner(P, merged(ctx_values(P), {}), merged(nil, opts)))
  end
  function sp_methods.with_context(self, values)
    local P = cur()
    local st = spawner_of(self, "with_context")
    if type(values) ~= "table" then error("bad argument #1 to 'with_context' (table expected)", 2) end
    need(P, "process.context", "context", "not allowed to spawn processes with custom context")
    if st.actor or st.scope then
      need(P, "process.security", "security", "not allowed to spawn processes with custom security context")
    end
    local c = clone(st)
    c.values = merged(st.values, values)
    return new_spawner(c)
  end
  function sp_methods.with_options(self, opts)
    local P = cur()
    local st = spawner_of(self, "with_options")
    if type(opts) ~= "table" then error("bad argument #1 to 'with_options' (table expected)", 2) end
    need(P, "process.context", "context", "not allowed to spawn processes with custom options")
    local c = clone(st)
    c.options = merged(c.options, opts)
    return new_spawner(c)
  end
  -- with_actor / with_scope: a new spawner carrying the encoded actor or scope.
  local function with_security(self, field, value, encode)
    local P = cur()
    local st = spawner_of(self, "with_" .. field)
    if value == nil then error(field .. " cannot be nil", 3) end
    local enc = encode(value)
    -- an actor / scope object, or a table already in the encoded form
    if enc == nil and type(value) ~= "table" then
      error(K.err("Invalid", "bad argument #1 to 'with_" .. field .. "' (security." ..
        (field == "actor" and "Actor" or "Scope") .. " expected, got " .. type(value) .. ")", false), 3)
    end
    need(P, "process.security", "security", "not allowed to spawn processes with custom security context")
    local c = clone(st)
    c[field] = enc or value
    return new_spawner(c)
  end
  function sp_methods.with_actor(self, actor) return with_security(self, "actor", actor, K.encode_actor) end
  function sp_methods.with_scope(self, scope) return with_security(self, "scope", scope, K.encode_scope) end
  function sp_methods.with_name(self, name)
    local st = spawner_of(self, "with_name")
    if type(name) ~= "string" or name == "" then error("name cannot be empty", 2) end
    local c = clone(st)
    c.name = name
    return new_spawner(c)
  end
  function sp_methods.with_message(self, topic, ...)
    local st = spawner_of(self, "with_message")
    if type(topic) ~= "string" then error("topic must be a string", 2) end
    if sbyte(topic, 1) == 64 then error(K.err("Invalid", "cannot send to @ topics", false), 2) end
    local c = clone(st)
    local msgs = {}
    for i, m in ipairs(c.messages) do msgs[i] = m end
    local n = select("#", ...)
    local p = { ... }
    local okc, cerr = copy_args(p, n)
    if not okc then error(cerr, 2) end
    msgs[#msgs + 1] = { topic = topic, n = n, p = p }
    c.messages = msgs
    return new_spawner(c)
  end

  local function spawner_ctx(st)
    return { values = st.values, actor = st.actor, scope = st.scope, options = st.options }
  end

  -- Deliver a spawner's queued messages (sender: the zero PID).
  local function send_spawner_messages(pid, msgs)
    for _, m in ipairs(msgs) do
      local where, target = locate(pid)
      if where == "local" then deliver_msg(target, m.topic, ZERO_PID, m.n, m.p)
      elseif where == "remote" then post(target, { "m", pid, ZERO_PID, m.topic, m.n, m.p }) end
    end
  end

  local function sp_spawn(fname, monitor, link)
    return function(self, id, host, ...)
      local P = cur()
      local st = spawner_of(self, fname)
      if id == nil or host == nil then error("spawn requires at least id and host arguments", 2) end
      if type(id) ~= "string" then error(K.err("Invalid", fname .. ": id must be a string", false), 2) end
      if type(host) ~= "string" then error(K.err("Invalid", fname .. ": host must be a string", false), 2) end
      need(P, "process.spawn", id, "not allowed to spawn process: " .. tostring(id))
      if monitor then need(P, "process.spawn.monitored", id, "not allowed to spawn monitored process: " .. tostring(id)) end
      if link then need(P, "process.spawn.linked", id, "not allowed to spawn linked process: " .. tostring(id)) end
      need(P, "process.host", host, "not allowed to spawn on host: " .. tostring(host))
      if st.name then
        -- spawn-or-signal: an existing holder of the name gets the messages instead
        local existing = local_names[st.name] or rpc(0, "nlook", st.name)
        if existing then
          send_spawner_messages(existing, st.messages)
          return existing
        end
      end
      local n = select("#", ...)
      local args = { ... }
      local okc, cerr = copy_args(args, n)
      if not okc then return nil, cerr end
      local pid, err = spawn_from(P, id, host, monitor, link, n, args, spawner_ctx(st), nil, st.name ~= nil)
      if not pid then return nil, err end
      if st.name then
        -- marked before the rpc, as in registry.register: the child's exit releases it even if
        -- this spawner dies while it waits
        local holder = procs[pid]
        if holder and not holder.names[st.name] then holder.names[st.name] = "pending" end
        local ok = rpc(0, "nreg", st.name, pid)
        if holder and holder.names[st.name] == "pending" then
          holder.names[st.name] = ok and procs[pid] == holder or nil
          if holder.names[st.name] then local_names[st.name] = pid end
        end
      end
      send_spawner_messages(pid, st.messages)
      return pid
    end
  end
  sp_methods.spawn = sp_spawn("spawn", false, false)
  sp_methods.spawn_monitored = sp_spawn("spawn_monitored", true, false)
  sp_methods.spawn_linked = sp_spawn("spawn_linked", false, true)
  sp_methods.spawn_linked_monitored = sp_spawn("spawn_linked_monitored", true, true)
  function sp_methods.exec(self, id, host, ...)
    local P = cur()
    local st = spawner_of(self, "exec")
    local ok, verr = check_exec_args(id, host)
    if not ok then return nil, verr end
    need(P, "process.exec", id, "not allowed to exec process: " .. id)
    need(P, "process.host", host, "not allowed to exec on host: " .. host)
    local n = select("#", ...)
    local args = { ... }
    local okc, cerr = copy_args(args, n)
    if not okc then return nil, cerr end
    return exec_from(P, id, host, n, args, spawner_ctx(st))
  end

  -- process.upgrade([id], ...): replace this process's code, keeping its PID, mailbox, names,
  -- monitors, links and context (semantics §2.12). `nil` reloads the current entry from its file,
  -- so code edited on disk is picked up. The running execution is discarded: the request is
  -- recorded, the thread yields, and the scheduler swaps the code once it is off the stack.
  function process.upgrade(id, ...)
    local P = cur()
    local n = select("#", ...)
    local args = { ... }
    local okc, cerr = copy_args(args, n)
    if not okc then error(cerr, 2) end
    P.upgrade_req = { id = type(id) == "string" and id or nil, n = n, args = args }
    raw_yield(BLOCK)
    error("upgrade did not take place") -- unreachable: the old code is never resumed
  end

  -- Add every unread record of P still in its mailbox to `keep` and sort it into arrival order:
  -- `unrouted`, the values buffered in listen channels and the channels' backlogs (the channels
  -- are closed).
  local function unread_records(P, keep)
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
      drain(s.bq)
      s.closed = true
    end
    table.sort(keep, function(a, b) return a.seq < b.seq end)
  end

  local function upgrade_fail(P, msg)
    exit(P, nil, K.err("Internal", "upgrade: " .. msg, nil))
  end

  function K.do_upgrade(P)
    local req = P.upgrade_req
    P.upgrade_req = nil
    if not P.alive then return end
    -- discard the old execution: every thread, every subscription (every unread mailbox record
    -- goes back to the unrouted queue in arrival order), the options
    local keep = {}
    for T in pairs(P.threads) do
      if T.mrec then keep[#keep + 1] = T.mrec end -- woken with a record it never got to read
      T.dead = true
      if co_status(T.co) == "suspended" then close_thread(P, T.co) end
    end
    P.threads, P.nthreads, P.nrun, P.npending = {}, 0, 0, 0
    unread_records(P, keep)
    P.unrouted = qnew()
    for _, m in ipairs(keep) do qpush(P.unrouted, m) end
    P.unread = #keep
    P.subs, P.inbox, P.events, P.nsubs, P.trap_links = {}, nil, nil, 0, false
    -- the new definition
    local id = req.id or P.id
    local Ent = K.entries[id]
    if not Ent or (Ent.kind ~= "process.lua" and Ent.kind ~= "function.lua") then
      return upgrade_fail(P, "create failed: factory not found: " .. id)
    end
    if req.id == nil and Ent.abs then
      local src = H.read_file(Ent.abs)
      if not src then return upgrade_fail(P, "create failed: cannot read " .. tostring(Ent.file)) end
      if src ~= Ent.source then Ent.source = src; K.invalidate(id) end
    end
    local f, cerr = compile(Ent, id)
    if not f then return upgrade_fail(P, "create failed: " .. tostring(cerr)) end
    P.id, P.entry = id, Ent
    local main, _, ierr = instantiate(Ent, f, P)
    if not main then return upgrade_fail(P, "create failed: " .. ierr) end
    local args, n = req.args, req.n
    local T = K.new_thread(P, function() return main(tunpack(args, 1, n)) end)
    P.main = T
    ready(T, 0)
  end

  function process.get_options()
    local P = K.cp
    return { trap_links = P and P.trap_links or false, upgradable = P and P.upgradable or false }
  end
  function process.set_options(t)
    local P = K.cp
    if type(t) ~= "table" then return false, K.err("Invalid", "options parameter must be a table") end
    if not P then return false, K.err("Internal", "no process context") end
    local bad
    for k, v in pairs(t) do
      if k == "trap_links" then
        if type(v) ~= "boolean" then return false, K.err("Invalid", "trap_links must be a boolean") end
        P.trap_links = v
      elseif k == "upgradable" then
        if type(v) ~= "boolean" then return false, K.err("Invalid", "upgradable must be a boolean") end
        P.upgradable = v
      elseif type(k) == "string" then
        bad = bad or k
      end
    end
    if bad then return false, K.err("Invalid", "option " .. bad .. " is not supported") end
    return true, nil
  end

  process.event = readonly({ CANCEL = EV_CANCEL, EXIT = EV_EXIT, LINK_DOWN = EV_LINK_DOWN,
    OUTDATED = "pid.outdated" }, "process.event")

  -- The WASM seed's `process.receive(timeout)`: the next lifecycle event or inbox message, waiting
  -- at most `timeout` (nanoseconds, a duration string or Duration). Events come back as their
  -- table plus seed-style aliases: `type` ("EXIT", "LINK_DOWN", "CANCEL"), `value`, `error`.
  local SEED_TYPES = { [EV_EXIT] = "EXIT", [EV_LINK_DOWN] = "LINK_DOWN", [EV_CANCEL] = "CANCEL" }
  function process.receive(timeout)
    cur()
    local ev, inbox = process.events(), process.inbox()
    local cases = { ev:case_receive(), inbox:case_receive() }
    local timer
    if timeout ~= nil then
      local t = builtin.time
      local ch, err = t.after(timeout)
      if not ch then return nil, err end
      timer = ch
      cases[3] = ch:case_receive()
    end
    local r = K.channel.select(cases)
    if r.channel == timer then return E("Timeout", "receive timed out") end
    local v = r.value
    if r.channel == ev and type(v) == "table" then
      v.type = SEED_TYPES[v.kind]
      if v.result then v.value, v.error = v.result.value, v.result.error end
    end
    return v
  end

  SHARED.process = readonly(process, "process")
  K.process = process
end
