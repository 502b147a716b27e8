-- The process table report: what this worker tells the operator about its processes (`wippy ps`,
-- `wippy top`, Runtime.stats({ table })), on request only.
--
-- What is counted, and where. Every figure is kept by the module that already touches it, as a
-- field of the process record present from the start (spawn.lua's new_proc), so nothing rehashes:
--   runs      times the scheduler resumed one of its threads (sched.lua resume_thread): the
--             "reductions" of `wippy top`, in scheduling turns
--   cpu       milliseconds its resumes took (sched.lua run_loop: the clock it reads after every
--             resume anyway, minus the previous reading)
--   heap      the Lua heap's growth over its resumes, in KiB (sched.lua: collectgarbage("count")
--             before and after), counted from the first report with rows on (sched.lua's
--             account_heap: it costs every resume two calls, so it waits until someone looks).
--             One Lua state holds every process of the worker, so no exact per-process size
--             exists: a collection during its run credits it with others' garbage, and what it
--             frees later is charged to whoever runs then. An estimate that finds the process
--             holding memory; reported as 0 when negative.
--   seq       mailbox records received, messages and lifecycle events (mailbox.lua route)
--   sent      messages it sent (process.lua process.send)
--   unread    unread mailbox records (mailbox.lua)
-- and per worker: processes started since boot (pids.lua) and messages delivered (mailbox.lua).
--
-- Cost. report() walks the process table once, O(processes); with a limit it keeps the best
-- `limit` rows in a small sorted array (a row that does not beat the smallest kept one costs one
-- comparison), so `wippy top` on a worker of 100 000 processes does not sort them all. The
-- counters cost the resume path three additions (two collectgarbage("count") calls more once heap
-- accounting is on).
--
-- Receives: procs (pids.lua), count / started (pids.lua), delivered (mailbox.lua), account_heap
-- (sched.lua), encode (codec), wire (the "prow" record), tid (this worker). Calls nothing else.
return function(deps)
  local procs, count, started, delivered = deps.procs, deps.count, deps.started, deps.delivered
  local account_heap = deps.account_heap
  local encode, W, TID = deps.encode, deps.wire, deps.tid
  local prow = W.prow
  local pairs, floor, type = pairs, math.floor, type

  -- The sort keys `wippy ps --sort` accepts, as readers of a process record.
  -- The record's array part (spawn.lua new_proc): [1] runs, [2] ms run, [3] heap KiB, [4] sent,
  -- [5] started.
  local KEYS = {
    runs = function(P) return P[1] end,
    cpu = function(P) return P[2] end,
    heap = function(P) return P[3] end,
    received = function(P) return P.seq end,
    sent = function(P) return P[4] end,
    unread = function(P) return P.unread end,
  }

  -- The smallest registered name of P ("" when it has none): the same name every time.
  local function name_of(P)
    local best = nil
    for n, v in pairs(P.names) do
      if v == true and type(n) == "string" and (best == nil or n < best) then best = n end
    end
    return best or ""
  end

  local function row(P)
    local heap = floor(P[3] * 1024)
    if heap < 0 then heap = 0 end
    return prow(P.pid, P.id, name_of(P), P.host, TID, P.nrun > 0 and "run" or "wait",
      P[1], P[2], heap, P.seq, P[4], P.unread, P.nthreads, P[5])
  end

  -- Does a rank before b? Larger key first; equal keys in PID order, so the report is stable.
  local function before(ka, a, kb, b)
    if ka ~= kb then return ka > kb end
    return a.pid < b.pid
  end

  -- -> started, delivered, live, rows | nil: the worker's totals, and (limit >= 0) the encoded
  -- list of "prow" records of its processes, the `limit` first by `key` (0: all of them).
  local M = {}
  function M.report(limit, key)
    if limit == nil or limit < 0 then return started(), delivered(), count(), nil end
    account_heap()
    local get = KEYS[key] or KEYS.cpu
    local best, keys, nb = {}, {}, 0 -- best[1..nb]: processes ranked first to last, keys[i] theirs
    if limit == 0 then
      for _, P in pairs(procs) do
        if P.alive then nb = nb + 1; best[nb] = P; keys[P] = get(P) end
      end
      table.sort(best, function(a, b) return before(keys[a], a, keys[b], b) end)
      local rows = {}
      for i = 1, nb do rows[i] = row(best[i]) end
      return started(), delivered(), count(), encode(rows)
    end
    for _, P in pairs(procs) do
      if P.alive then
        local k = get(P)
        if nb < limit or before(k, P, keys[nb], best[nb]) then
          -- insert in rank order; when full, the last one falls out
          if nb < limit then nb = nb + 1 end
          local i = nb - 1
          while i >= 1 and before(k, P, keys[i], best[i]) do
            best[i + 1], keys[i + 1] = best[i], keys[i]
            i = i - 1
          end
          best[i + 1], keys[i + 1] = P, k
        end
      end
    end
    local rows = {}
    for i = 1, nb do rows[i] = row(best[i]) end
    return started(), delivered(), count(), encode(rows)
  end
  return M
end
