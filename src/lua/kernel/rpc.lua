-- Requests to another thread that park the calling process thread until the answer comes back.
--
-- A request is one frame { kind, SELF, caller pid, req, ... } to thread `tid`; the answer is a
-- "rep" frame { "rep", pid, req, value, err }, which wakes the thread with (value, err). The same
-- numbering serves host I/O (await_host: a terminal read answered by the worker's own event loop)
-- and the name-release handshake ("x"/"xack", names.lua), so a request number is unique per worker.
-- Each pending request counts in its process's P.npending: a process waiting for an answer is
-- idle, not deadlocked.
--
-- Field positions. Every request frame starts with the head wire.lua names W.RPC_REPLY_TID,
-- W.RPC_REPLY_PID, W.RPC_REQ, and the request's own fields follow from W.RPC_ARGS; `call` builds it
-- with the caller's fields as varargs, so a check at load ties those positions to wire.lua.
--
-- Owns: the pending requests and the thread each was sent to.
-- Receives: run (run.cur), post, park, ready, err, SELF, wire (RPC_* and REP_* indices).
return function(deps)
  local run, post, park, ready, err, SELF = deps.run, deps.post, deps.park, deps.ready, deps.err, deps.SELF
  local W = deps.wire
  local REP_REQ, REP_VALUE, REP_ERROR = W.REP_REQ, W.REP_VALUE, W.REP_ERROR
  assert(W.RPC_REPLY_TID == 2 and W.RPC_REPLY_PID == 3 and W.RPC_REQ == 4 and W.RPC_ARGS == 5,
    "rpc.lua: the request head { kind, reply_tid, reply_pid, req, ... } disagrees with wire.lua")

  local M = {}
  local pending, seq = {}, 0
  local sent_to = {} -- request -> thread asked (a dead worker's requests fail: M.worker_down)

  function M.next_seq() seq = seq + 1; return seq end

  -- -> what the "rep" frame carries (value, err), or nil, Invalid error (the request could not be
  -- encoded)
  function M.call(tid, kind, ...)
    local T = run.cur
    local P = T.proc
    seq = seq + 1
    pending[seq] = T
    sent_to[seq] = tid
    P.npending = P.npending + 1
    local ok, perr = post(tid, { kind, SELF, P.pid, seq, ... })
    if not ok then
      pending[seq], sent_to[seq] = nil, nil
      P.npending = P.npending - 1
      return nil, err("Invalid", perr, false)
    end
    return park()
  end

  -- Park until the host answers request `req` with a "rep" frame (host I/O such as terminal
  -- reads). start(req, pid) issues the host call.
  function M.await_host(start)
    local T = run.cur
    local P = T.proc
    seq = seq + 1
    pending[seq] = T
    P.npending = P.npending + 1
    start(seq, P.pid)
    return park()
  end

  -- {"rep", pid, req, value, err}
  function M.answer(f)
    local req = f[REP_REQ]
    local T = pending[req]
    if not T then return end
    pending[req] = nil
    sent_to[req] = nil
    local P = T.proc
    if T.dead then return end
    P.npending = P.npending - 1
    if P.alive and T.parked then ready(T, 2, f[REP_VALUE], f[REP_ERROR]) end
  end

  -- Thread `dead` is gone: every request sent to it fails with `e`.
  function M.worker_down(dead, e)
    for req, tid in pairs(sent_to) do
      if tid == dead then
        sent_to[req] = nil
        local T = pending[req]
        pending[req] = nil
        if T and not T.dead then
          local P = T.proc
          P.npending = P.npending - 1
          if P.alive and T.parked then ready(T, 2, nil, e) end
        end
      end
    end
  end

  return M
end
