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
-- Settling. `call_settled` also runs settle(value, err) as the answer is handled (or as the asked
-- thread is found dead), before the caller resumes, and whether or not it ever resumes: what must
-- be recorded in frame order goes there, not after `call` returns. Between the answer and the
-- caller's resume other frames are handled (an event of a child just spawned), and the caller may
-- die (its thread is then closed and never resumes): spawn.lua records a remote child's monitor,
-- link and exec wait this way.
--
-- Owns: the pending requests, the thread each was sent to, and their settle functions.
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
  local settles = {} -- request -> settle(value, err) (call_settled)

  function M.next_seq() seq = seq + 1; return seq end

  local function request(settle, tid, kind, ...)
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
      local e = err("Invalid", perr, false)
      if settle then settle(nil, e) end
      return nil, e
    end
    settles[seq] = settle
    return park()
  end

  -- -> what the "rep" frame carries (value, err), or nil, Invalid error (the request could not be
  -- encoded)
  function M.call(tid, kind, ...) return request(nil, tid, kind, ...) end

  -- call, and settle(value, err) once: when the answer is handled (see the top), when the thread
  -- asked dies, or at once with the error if the request could not be posted.
  function M.call_settled(tid, settle, kind, ...) return request(settle, tid, kind, ...) end

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
    local settle = settles[req]
    if settle then settles[req] = nil; settle(f[REP_VALUE], f[REP_ERROR]) end
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
        local settle = settles[req]
        if settle then settles[req] = nil; settle(nil, e) end
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
