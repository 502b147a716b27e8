-- exec: spawn a process and wait for its EXIT (process.exec, Spawner:exec, and the funcs module).
--
-- The seam: exec_start(P, id, host, n, args, ctx, on_exit) -> handle | nil, err
--   Spawns entry `id` on `host` for caller P, with context `ctx` ({ values, actor, scope,
--   options }; nil = inherit P's), watched by a node:control PID minted here whose only job is to
--   receive the callee's EXIT; calls on_exit(ev) once with that event (ev.result.value or
--   ev.result.error; a function frame that returned several values also ev.result.values, see
--   lifecycle.lua). A failed spawn returns an Internal error carrying the spawn's message.
--   handle.pid is the child; handle.cancel(reason) sends it a CANCEL with the
--   default deadline and stops waiting (on_exit is then never called). While it waits, the exec
--   counts as pending for P (P idles, it is not deadlocked); when P dies, every exec it still waits
--   for is cancelled ("caller context canceled", lifecycle.lua calls cancel_execs). process.exec is
--   exec_start + park (M.exec).
--
-- The waiter PID's directory slot is marked dead (H.dead) whenever its wait ends: the EXIT came
-- (stop), the handle cancelled it (stop), or its caller died (cancel_execs; before, that path left
-- the slot alive, so the main thread's sends to the waiter succeeded into nowhere instead of
-- failing with "process not found"). An EXIT still in flight to a dead waiter is dropped where it
-- lands, as for any dead process: PIDs are minted from a counter (src/shm/directory.ts) and never
-- name another process later, so nothing else can receive it.
--
-- Owns: P.execs (waiter PID -> child PID), `waiter_uniq` (waiter PID -> its uniq, while it waits),
-- the waits in lifecycle.lua's exec_waits table.
-- Receives: H (pid_alloc, dead, wall), fmt_pid, locate, post (pids.lua); spawn_from (spawn.lua);
-- deliver_event, exec_waits (lifecycle.lua); run, ready, park (sched.lua); err, error_message;
-- wire (CONTROL_HOST, EV_CANCEL, the "c" frame).
return function(deps)
  local H, fmt_pid, locate, post, spawn_from = deps.H, deps.fmt_pid, deps.locate, deps.post, deps.spawn_from
  local deliver_event, exec_waits, run, ready, park = deps.deliver_event, deps.exec_waits, deps.run, deps.ready, deps.park
  local err, errmsg, W = deps.err, deps.error_message, deps.wire
  local type, pairs = type, pairs
  local CONTROL_HOST, EV_CANCEL = W.CONTROL_HOST, W.EV_CANCEL

  local M = {}
  local waiter_uniq = {} -- waiter PID -> its uniq, from exec_start until its wait ends
  -- The deadline a CANCEL gives when none is named: 10 s, as a service stop.
  local DEFAULT_CANCEL_MS = 10000
  M.DEFAULT_CANCEL_MS = DEFAULT_CANCEL_MS

  local function E(kind, msg) return nil, err(kind, msg, false) end
  local function wall_s() return H.wall() / 1e9 end

  -- A wait ends (its EXIT came, it was cancelled, its caller died, its spawn failed): the waiter
  -- PID stops being waited on and its directory slot is marked dead (the top says why).
  local function release(wpid)
    exec_waits[wpid] = nil
    local uniq = waiter_uniq[wpid]
    if uniq then waiter_uniq[wpid] = nil; H.dead(uniq) end
  end

  -- Stop waiting for one exec child and send it a CANCEL (reason given, default deadline).
  local function cancel_child(P, wpid, child, reason, at)
    exec_waits[wpid] = nil
    local where, target = locate(child)
    local deadline = at + DEFAULT_CANCEL_MS / 1000
    if where == "local" then
      deliver_event(target, { kind = EV_CANCEL, from = P.pid, at = at, deadline = deadline, reason = reason })
    elseif where == "remote" then
      post(target, W.c(child, P.pid, deadline, reason))
    end
  end

  -- exec_start: see the top.
  local function exec_start(P, id, host, n, args, ctx, on_exit)
    local uniq = H.pid_alloc()
    local wpid = fmt_pid(CONTROL_HOST, uniq)
    -- stop waiting: the waiter PID is released and the exec no longer pending for P
    local function stop()
      release(wpid)
      if P.execs then P.execs[wpid] = nil end
      P.npending = P.npending - 1
    end
    exec_waits[wpid] = function(ev) stop(); on_exit(ev) end
    waiter_uniq[wpid] = uniq
    -- The wait is recorded once the child exists, before P resumes (a spawn on another host: as
    -- its answer is handled, spawn.lua adopt). P may have died while that answer was on its way:
    -- its execs were cancelled then (cancel_execs), so this one is cancelled now.
    local function on_child(pid)
      if not P.alive then
        release(wpid)
        cancel_child(P, wpid, pid, "caller context canceled", wall_s())
        return
      end
      P.npending = P.npending + 1
      P.execs = P.execs or {}
      P.execs[wpid] = pid
    end
    local pid, serr = spawn_from(P, id, host, false, false, n, args, ctx, wpid, nil, on_child)
    if not pid then
      release(wpid)
      return nil, err("Internal", errmsg(serr), false)
    end
    local handle = { pid = pid }
    -- (a wait already over, or cancelled with its dying caller by cancel_execs: nothing to do)
    function handle.cancel(reason)
      if exec_waits[wpid] == nil then return false end
      stop()
      cancel_child(P, wpid, pid, reason or "caller context canceled", wall_s())
      return true
    end
    return handle
  end
  M.exec_start = exec_start

  -- process.exec and Spawner:exec: exec_start, then park the caller until the EXIT.
  -- -> the child's result value | nil, err
  function M.exec(P, id, host, n, args, ctx)
    local T = run.cur
    local result
    local h, serr = exec_start(P, id, host, n, args, ctx, function(ev)
      result = ev
      if P.alive and T.parked then ready(T, 0) end
    end)
    if not h then return nil, serr end
    while result == nil do park() end
    local r = result.result or {}
    if r.error ~= nil then return nil, r.error end
    return r.value
  end

  function M.check_exec_args(id, host)
    if id == nil or host == nil then return E("Invalid", "exec requires id and host arguments") end
    if type(id) ~= "string" or id == "" then return E("Invalid", "process ID required") end
    if not id:find(":", 1, true) or id:sub(1, 1) == ":" or id:sub(-1) == ":" then
      return E("Invalid", "invalid process ID format (namespace:name required)")
    end
    if type(host) ~= "string" or host == "" then return E("Invalid", "host ID required") end
    return true
  end

  -- Cancel what a dying caller was exec-ing (lifecycle.lua's exit).
  function M.cancel_execs(P)
    if not P.execs then return end
    local at = wall_s()
    for wpid, child in pairs(P.execs) do
      release(wpid)
      cancel_child(P, wpid, child, "caller context canceled", at)
    end
    P.execs = nil
  end

  return M
end
