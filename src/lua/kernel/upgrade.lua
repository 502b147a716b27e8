-- process.upgrade([id], ...): replace a process's code, keeping its PID, mailbox, names,
-- monitors, links and context. `nil` reloads the current entry from its file, so code edited on
-- disk is picked up. The running execution is discarded: the request is recorded
-- (P.upgrade_req), the thread yields, and the scheduler calls do_upgrade once it is off the
-- stack. Every thread and subscription of the old code is dropped; every unread mailbox record
-- goes back to `unrouted` in arrival order, so the new code receives everything the old one had
-- not read. A failed upgrade ends the process with an Internal "upgrade: ..." error.
--
-- Owns: process.upgrade and the scheduler's do_upgrade hook.
-- Receives: cur, BLOCK, copy_args, err, entries, read_file (H.read_file), close_thread, exit
-- (lifecycle.lua), unread_records (mailbox.lua), qnew, qpush, new_thread (sched.lua),
-- body_of (spawn.lua), invalidate (sandbox.lua).
return function(deps)
  local cur, BLOCK, copy_args, err, entries = deps.cur, deps.BLOCK, deps.copy_args, deps.err, deps.entries
  local read_file, close_thread, exit, unread_records = deps.read_file, deps.close_thread, deps.exit, deps.unread_records
  local qnew, qpush, new_thread = deps.qnew, deps.qpush, deps.new_thread
  local body_of, invalidate = deps.body_of, deps.invalidate
  local type, tostring, pairs, ipairs, select, error = type, tostring, pairs, ipairs, select, error
  local co_status, raw_yield, tunpack = coroutine.status, coroutine.yield, table.unpack

  local M = {}

  function M.upgrade(id, ...)
    local P = cur()
    local n = select("#", ...)
    local args = { ... }
    local okc, cerr = copy_args(args, n)
    if not okc then error(cerr, 2) end
    P.upgrade_req = { id = type(id) == "string" and id or nil, n = n, args = args }
    raw_yield(BLOCK)
    error("upgrade did not take place") -- unreachable: the old code is never resumed
  end

  local function upgrade_fail(P, msg)
    exit(P, nil, err("Internal", "upgrade: " .. msg, nil))
  end

  function M.do_upgrade(P)
    local req = P.upgrade_req
    P.upgrade_req = nil
    if not P.alive then return end
    -- discard the old execution: every thread, every subscription (every unread mailbox record
    -- goes back to the unrouted queue in arrival order), the options
    -- (the main thread first: it is not in P.threads, sched.lua new_thread; a live process's
    -- main thread has not ended, since its end ends the process)
    local keep = {}
    local function discard(T)
      if T.mrec then keep[#keep + 1] = T.mrec end -- woken with a record it never got to read
      T.dead = true
      if co_status(T.co) == "suspended" then close_thread(P, T.co) end
    end
    if P.main then discard(P.main) end
    local ts = P.threads
    if ts then
      for T in pairs(ts) do discard(T) end
      P.threads = nil
    end
    P.nthreads, P.nrun, P.npending = 0, 0, 0
    unread_records(P, keep)
    P.unrouted = qnew()
    for _, m in ipairs(keep) do qpush(P.unrouted, m) end
    P.unread = #keep
    P.subs, P.inbox, P.events, P.nsubs, P.trap_links = {}, nil, nil, 0, false
    -- the new definition
    local id = req.id or P.id
    local Ent = entries[id]
    local body = body_of(Ent)
    if not body then
      return upgrade_fail(P, "create failed: factory not found: " .. id)
    end
    if req.id == nil and Ent.abs then
      local src = read_file(Ent.abs)
      if not src then return upgrade_fail(P, "create failed: cannot read " .. tostring(Ent.file)) end
      if src ~= Ent.source then Ent.source = src; invalidate(id) end
    end
    local code, cerr = body.prepare(Ent, id)
    if not code then return upgrade_fail(P, "create failed: " .. tostring(cerr)) end
    P.id, P.entry = id, Ent
    local main, _, ierr = body.instantiate(Ent, code, P)
    if not main then return upgrade_fail(P, "create failed: " .. ierr) end
    local args, n = req.args, req.n
    -- the new main thread, queued (new_thread with n: as ready(T, 0), and outside P.threads)
    P.main = new_thread(P, function() return main(tunpack(args, 1, n)) end, nil, 0)
  end

  return M
end
