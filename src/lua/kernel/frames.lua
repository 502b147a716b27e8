-- Frames from other threads: the handlers, batch delivery, and kernel containment.
--
-- A frame is one codec-encoded array whose first element names it; wire.lua (generated from
-- src/wire/spec.ts, described in docs/design/protocol.md) holds every field index. Handled here:
--   {"m", pid, from, topic, n, payloads}       a message
--   {"e", pid, event}                          a lifecycle event (EXIT, LINK_DOWN, CANCEL)
--   {"rep", pid, req, value, err}              the answer to a request (rpc.lua)
--   {"s", tid, pid, req, id, host, monitor, link, ctx, args}   a spawn request (spawn.lua)
--   {"sp", pid, uniq, id, host, watcher, link, ctx, args}      a process placed here (spawn.lua)
--   {"spj", ...as "sp"}                        a job from JS placed here, queued first (spawn.lua)
--   {"bound", pid, runner}, {"unfwd", pid}     forwarding of queued spawns (spawn.lua)
--   {"t", pid, from}                           terminate
--   {"c", pid, from, deadline, reason}         cancel
--   {"lk"|"ul"|"mon"|"um", pid, other}         link / unlink / monitor / unmonitor edits
--   {"nown", pid, name, token}, {"xack", req}  the name registry (names.lua)
--   {"shutdown", ms}                           runtime shutdown
--   {"wdown", tid, message}, {"wup", tid, host} a worker died / a replacement joined
--   {"ev", sub, system, kind, path, data}      an event-bus event (handler added by lib/events.lua)
-- Sent from the kernel: the request kinds ("s", "nreg", "nlook", "nunreg", "env", "evsub"), "x"
-- and "nok" (names.lua), "crash" (lifecycle.lua), "log" (lib/logger.lua), "evunsub" / "evsend"
-- (lib/events.lua), "w" (terminal output, through H.write) and the frames above. Who sends and
-- handles each: docs/design/protocol.md.
--
-- Containment. A kernel error (a bug, or memory running out inside the kernel) while handling one
-- frame or one process affects only that frame or process; the worker goes on. The protection is
-- one pcall per batch and one per scheduling step (sched.lua), not one per message: after an
-- error, the loop is re-entered behind the item that failed.
--   a frame:   dropped; a process it was addressed to exits with an Internal error, a spawn
--              request gets an error reply. A frame that cannot be decoded ends its batch (the
--              next frame's start is unknown); encoders never produce one (codec.lua limits).
--   a process: exits with kind Internal, "kernel error: ..."; its monitors and links still get
--              EXIT / LINK_DOWN (finalize, or the rest of notify_exit, runs again).
-- Each is written to the runtime's stderr, naming the worker and the process or frame.
--
-- Owns: the handler table, batch delivery, the fault handlers (sched.lua's process_fault and
-- kernel_fault hooks).
-- Field indices. The cold handlers read fields through wire.lua's constants, copied into locals
-- once. The per-message paths (handlers.m, handlers.e, deliver_rest) keep literal indices: `f[2]`
-- compiles to one instruction with the index inline, `f[M_PID]` to two (an upvalue read, then the
-- lookup). They are tied to wire.lua by a check when the module loads, so a change of the spec
-- that moves them stops the kernel from booting instead of misreading frames.
--
-- Receives: wire (wire.lua's table); procs, parse_pid, post, host_of_tid (pids.lua); H (route, dies_with, write, wall);
-- cfg.hosts, SELF; decode, decode_at, decode_m_at and deliver_run (lcodec.c's, or nil), codec_reset; run; error helpers; deliver_msg (mailbox.lua); and from
-- lifecycle.lua deliver_event, terminate, kill, notify_exit, exec_waits, end_faulted,
-- take_notifying; rpc.lua answer, worker_down; names.lua own, acked; spawn.lua frame_s, frame_sp,
-- frame_spj, frame_bound, frame_unfwd, early, forward, pending_here, shutdown, worker_down.
return function(deps)
  local procs, parse_pid, post, host_of_tid = deps.procs, deps.parse_pid, deps.post, deps.host_of_tid
  local H, hosts, SELF, decode, codec_reset = deps.H, deps.hosts, deps.SELF, deps.decode, deps.codec_reset
  local run, err, is_error, errmsg = deps.run, deps.err, deps.is_error, deps.error_message
  local deliver_msg = deps.deliver_msg
  local set_of = deps.set_of -- P's links set, made its own at the first member (pids.lua)
  local L, R, N, S = deps.lifecycle, deps.rpc, deps.names, deps.spawn
  local deliver_event, terminate, kill, notify_exit = L.deliver_event, L.terminate, L.kill, L.notify_exit
  local watch, unwatch = L.watch, L.unwatch -- P.watchers' edits, either form (pids.lua)
  local exec_waits, end_faulted, take_notifying = L.exec_waits, L.end_faulted, L.take_notifying
  local EV_EXIT, EV_LINK_DOWN, EV_CANCEL = L.EV_EXIT, L.EV_LINK_DOWN, L.EV_CANCEL
  local early, forward, pending_here = S.early, S.forward, S.pending_here
  local W = deps.wire
  local TARGETED = W.TARGETED
  local T_PID, C_PID, C_FROM, C_DEADLINE, C_REASON = W.T_PID, W.C_PID, W.C_FROM, W.C_DEADLINE, W.C_REASON
  local LK_PID, LK_OTHER, UL_PID, UL_OTHER = W.LK_PID, W.LK_OTHER, W.UL_PID, W.UL_OTHER
  local MON_PID, MON_OTHER, UM_PID, UM_OTHER = W.MON_PID, W.MON_OTHER, W.UM_PID, W.UM_OTHER
  local XACK_REQ, SHUTDOWN_GRACE_MS = W.XACK_REQ, W.SHUTDOWN_GRACE_MS
  local WDOWN_TID, WDOWN_MESSAGE, WUP_TID, WUP_HOST = W.WDOWN_TID, W.WDOWN_MESSAGE, W.WUP_TID, W.WUP_HOST
  local S_REPLY_TID, S_REPLY_PID, S_REQ = W.S_REPLY_TID, W.S_REPLY_PID, W.S_REQ
  -- the literal indices of the per-message paths (see the top)
  assert(W.KIND == 1 and W.PID == 2 and W.M_PID == 2 and W.M_FROM == 3 and W.M_TOPIC == 4 and W.M_N == 5
    and W.M_PAYLOADS == 6 and W.E_PID == 2 and W.E_EVENT == 3,
    "frames.lua: the literal field indices of m / e frames disagree with wire.lua")
  local type, tostring, pairs, ipairs, select, pcall = type, tostring, pairs, ipairs, select, pcall

  local M = {}
  local function wall_s() return H.wall() / 1e9 end

  local handlers = {}
  M.handlers = handlers

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
  handlers.rep = R.answer
  handlers.s = S.frame_s
  handlers.sp = S.frame_sp
  handlers.spj = S.frame_spj
  handlers.bound = S.frame_bound
  handlers.unfwd = S.frame_unfwd
  handlers.nown = N.own
  handlers.xack = function(f)
    local P = N.acked(f[XACK_REQ])
    if P then notify_exit(P) end
  end
  handlers.t = function(f)
    local P = procs[f[T_PID]]
    if P and P.alive then terminate(P) end
  end
  handlers.c = function(f)
    local P = procs[f[C_PID]]
    if P and P.alive then
      deliver_event(P, { kind = EV_CANCEL, from = f[C_FROM], at = wall_s(), deadline = f[C_DEADLINE], reason = f[C_REASON] })
    end
  end
  handlers.lk = function(f) local P = procs[f[LK_PID]]; if P then set_of(P, "links")[f[LK_OTHER]] = true end end
  handlers.ul = function(f)
    local P = procs[f[UL_PID]]
    if P then
      P.links[f[UL_OTHER]] = nil
      local h = P.heard -- a remote spawn of P is out (spawn.lua adopt)
      if h then h[f[UL_OTHER]] = true end
    end
  end
  handlers.mon = function(f) local P = procs[f[MON_PID]]; if P then watch(P, f[MON_OTHER]) end end
  handlers.um = function(f) local P = procs[f[UM_PID]]; if P then unwatch(P, f[UM_OTHER]) end end
  handlers.shutdown = function(f) S.shutdown(f[SHUTDOWN_GRACE_MS]) end

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
  -- Also: requests to the dead thread fail; processes running here whose home was the dead worker
  -- are killed quietly (their watchers synthesize their events the same way); frames held or
  -- forwarded for gone PIDs are dropped; the dead tid leaves its host's round-robin.
  -- {"wup", tid, host}: a replacement worker joined `host`.
  handlers.wdown = function(f)
    local dead, msg = f[WDOWN_TID], f[WDOWN_MESSAGE]
    local e = err("Internal", tostring(msg))
    local at = wall_s()
    local function gone_pid(pid)
      local host, uniq = parse_pid(pid)
      return host and H.dies_with(uniq, dead) or false
    end
    local hid = host_of_tid[dead]
    local hrec = hid and hosts[hid]
    if hrec then
      for i = #hrec.tids, 1, -1 do if hrec.tids[i] == dead then table.remove(hrec.tids, i) end end
    end
    R.worker_down(dead, e)
    local doomed, evs, execs = {}, {}, {}
    for _, P in pairs(procs) do
      if P.home == dead then
        doomed[#doomed + 1] = P
      elseif P.alive then
        for pid in pairs(P.monitoring) do if gone_pid(pid) then evs[#evs + 1] = { P, EV_EXIT, pid } end end
        for pid in pairs(P.links) do if gone_pid(pid) then evs[#evs + 1] = { P, EV_LINK_DOWN, pid } end end
        local ws = P.watchers -- a set, or the one watcher itself (pids.lua watch)
        if type(ws) ~= "table" then
          if gone_pid(ws) then unwatch(P, ws) end
        else
          for w in pairs(ws) do if gone_pid(w) then ws[w] = nil end end
        end
        if P.execs then
          for wpid, child in pairs(P.execs) do if gone_pid(child) then execs[#execs + 1] = { wpid, child } end end
        end
      end
    end
    for _, P in ipairs(doomed) do
      P.watchers, P.links, P.home = {}, {}, nil
      kill(P, e)
    end
    for _, ev in ipairs(evs) do
      local P, kind, from = ev[1], ev[2], ev[3]
      if P.alive then
        P.gone = P.gone or {}
        P.gone[kind .. from] = true
        deliver_event(P, { kind = kind, from = from, at = at, result = { error = e } })
      end
    end
    for _, x in ipairs(execs) do
      local w = exec_waits[x[1]]
      if w then w({ kind = EV_EXIT, from = x[2], at = at, result = { error = e } }) end
    end
    S.worker_down(dead)
  end
  handlers.wup = function(f)
    local tid, hid = f[WUP_TID], f[WUP_HOST]
    host_of_tid[tid] = hid
    local hrec = hosts[hid]
    if hrec then
      local known = false
      for i = 1, #hrec.tids do if hrec.tids[i] == tid then known = true end end
      if not known then hrec.tids[#hrec.tids + 1] = tid end
    end
  end

  -- Handle one frame now (spawn.lua replays early frames through this).
  function M.dispatch(f) return handlers[f[1]](f) end

  ---------------------------------------------------------------------------------------------
  -- Containment (see the top).
  local function report_fault(what, e)
    H.write(2, "wippy: kernel error on worker " .. SELF .. " while " .. what .. ": " ..
      tostring(is_error(e) and errmsg(e) or e) .. "\n")
  end
  local function kernel_err(e)
    return err("Internal", "kernel error: " .. tostring(is_error(e) and errmsg(e) or e), false)
  end

  -- End P after a kernel error; a second failure drops it from the table (lifecycle.lua).
  local function end_process(P, e)
    local ok, e2 = end_faulted(P, kernel_err(e))
    if not ok then report_fault("ending process " .. tostring(P.pid), e2) end
  end

  -- Every fault: the scratch state of an unwound codec call is dropped, and an exit that was
  -- being told is finished.
  local function after_fault(e)
    run.cur, run.cp = nil, nil
    codec_reset()
    local NP = take_notifying()
    if NP then end_process(NP, e) end
  end

  function M.kernel_fault(what, e)
    report_fault(what, e)
    after_fault(e)
  end

  function M.process_fault(P, e)
    report_fault("handling process " .. tostring(P.pid), e)
    after_fault(e)
    end_process(P, e)
  end

  -- Frames addressed to one process (W.TARGETED): held in `early` before it starts, forwarded
  -- once it runs elsewhere, and charged to it when handling them fails.

  local function frame_fault(f, e)
    local kind = type(f) == "table" and f[1] or nil
    report_fault("handling a frame (" .. tostring(kind) .. ")", e)
    after_fault(e)
    if TARGETED[kind] then
      local P = procs[f[W.PID]]
      if P and P.alive then end_process(P, e) end
    elseif kind == "s" then
      pcall(post, f[S_REPLY_TID], W.rep(f[S_REPLY_PID], f[S_REQ], nil, kernel_err(e)))
    end
  end

  -- The batch being delivered, its length, its decoder, where its next frame starts, and the
  -- frame being handled (nil while decoding): upvalues, so that after an error delivery resumes
  -- behind the failed frame. A batch is a byte string, or the worker's input area in the wasm
  -- heap as its address and length (src/lua/engine.ts; our Lua module only; or as one integer,
  -- address << 32 | length), decoded where it lies by decode_at (lcodec.c): no Lua string of the
  -- batch, one copy less per frame.
  -- Both decoders take (batch, pos, len); decode ignores len.
  --
  -- A message frame from the input area is not made a table (decode_m_at, lcodec.c): its fields
  -- (and a one-value message's value without its payload list, as a same-worker send carries it:
  -- deliver_msg's p nil, v) come back as values and go straight to the mailbox, handlers.m's steps inline, when its
  -- process is here and not forwarded; otherwise (held early, forwarded) the frame is made from
  -- them and takes the general path. MF stands for the message being handled when that fails
  -- (frame_fault reads the kind and the PID). One table, a handler call and the frame's field
  -- reads less per message on the receiving side (docs/design/scheduler.md, "The cross-worker
  -- receive, per message").
  local decode_at, decode_m_at = deps.decode_at, deps.decode_m_at
  -- The rest of a run in C (deliver_run, lcodec.c; our Lua module only): once a message to
  -- process lP was taken here, the following one-value messages to it are decoded and delivered
  -- by one C call, with no return to Lua between them; it stops at the first other frame, which
  -- the code below takes. RUN[1]: the position after the frame being delivered while a delivery
  -- runs, else false (deliver_batch reads it after an error). Set to nil for good when the
  -- deliverer is Lua's (WIPPY_CSCHED=0): it says so on its first call.
  local deliver_run = deps.deliver_run
  local RUN = { false }
  local MF = { "m" }
  local dbatch, dlen, ddec, ddm, dpos, dframe
  local function deliver_rest()
    local batch, len, dec, dm = dbatch, dlen, ddec, ddm
    -- The PID of the last message taken that way and its process: a run of messages to one
    -- process (the common batch) looks it up once. Only the general path below changes `procs`
    -- or `forward` for another PID (a spawn, "bound", "unfwd", "wdown"), so it forgets them; a
    -- message can only end its own process (a mailbox overflow), which P.alive shows.
    local lpid, lP
    while dpos <= len do
      dframe = nil
      local f, P
      if lP and deliver_run and dm then
        MF[2] = lpid
        local nxt, ok = deliver_run(batch, dpos, len, lpid, lP, deliver_msg, RUN)
        if not ok then deliver_run = nil end
        dpos = nxt
      end
      if dpos > len then break end
      if dm then
        -- (p nil, v: one value, carried without its list — decode_m_at; as a same-worker send)
        local pid, from, topic, n, p, nxt, v = dm(batch, dpos, len)
        if nxt then
          dpos = nxt
          if pid == lpid then P = lP
          else
            P = procs[pid]
            if P and forward[pid] then P = nil end
            lpid, lP = pid, P
          end
          if P then
            MF[2] = pid
            dframe = MF
            if P.alive then
              if p == nil and n == 1 then deliver_msg(P, topic, from, 1, nil, v)
              else deliver_msg(P, topic, from, n, p or {}) end
            end
          else
            if p == nil and n == 1 then p = { v } end
            f = { "m", pid, from, topic, n, p }
          end
        end
      end
      if not P then
        lpid, lP = nil, nil
        if not f then f, dpos = dec(batch, dpos, len) end
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
  end

  function M.deliver_batch(batch, len)
    if len then -- the input area: its address and length, as two numbers (no 64-bit integer made in JS)
      dbatch, dlen, ddec, ddm = batch | 0, len | 0, decode_at, decode_m_at
    elseif type(batch) == "number" then
      dbatch, dlen, ddec, ddm = batch >> 32, batch & 0xffffffff, decode_at, decode_m_at
    else
      dbatch, dlen, ddec, ddm = batch, #batch, decode, nil
    end
    dpos = 1
    while true do
      local ok, e = pcall(deliver_rest)
      if ok then break end
      -- (a delivery inside deliver_run: its frame is MF, the batch goes on after it)
      if RUN[1] then dframe, dpos, RUN[1] = MF, RUN[1], false end
      if dframe == nil then
        M.kernel_fault("decoding a frame batch (" .. dlen .. " bytes, the rest dropped)", e)
        break
      end
      frame_fault(dframe, e)
    end
    dbatch, ddec, ddm, dframe = nil, nil, nil, nil
  end

  return M
end
