-- The life and death of a process: lifecycle events, exit, links, monitors, crash reports.
-- (Over 500 lines: exit, finalize, notify_exit and the scheduler's thread_done / thread_failed
-- share the record's reading of its threads and watchers, which lexit.c binds by name.)
--
-- Events. EXIT goes to every watcher (a monitor, a supervising service, an exec caller) with the
-- result { value } or { error } (a function frame that returned several values: { value, values
-- = { n = count, ... } }); LINK_DOWN goes to every link when the process failed (a link of a
-- process that ended well is just removed); CANCEL asks a process to stop by a deadline, after
-- which it is terminated, and first runs the process's CANCEL hooks (on_cancel: what the kernel
-- waits for on the process's behalf, e.g. funcs calls, is cancelled with it). An event reaches a
-- process through its mailbox ("@pid/events"). A LINK_DOWN kills the receiver unless it traps
-- links. An EXIT or LINK_DOWN whose result cannot cross to the watcher (too large, not data) is
-- replaced by one whose error says why: a watcher always hears of the exit. A watcher may also be
-- an integer: a JS exit watcher on the main thread (a job, or a spawn with an EXIT callback, from
-- src/runtime/control.ts), told by one "jx" frame to thread 0 — no event record, no route lookup,
-- no PID string (the main thread knows whom it watches). While a spawn of P on
-- another host is out, whom P heard end or unlink (EXIT, LINK_DOWN, "ul") is also noted in
-- P.heard, so that the child's monitor or link is not recorded after its end (spawn.lua adopt).
--
-- Exit, in two halves. `exit` marks the process dead and records its result (a running process
-- finishes its step first: P.exit_pending). `finalize` closes its threads and subscriptions,
-- drops it from the process table and releases its names; `notify_exit` then tells its watchers,
-- links and monitored processes. Names are released before anyone hears of the exit: a process
-- holding names waits for the main thread's acknowledgement between the halves (names.lua).
--
-- Crash reports. A process that exits with an error while nobody hears of it (no watcher, no
-- link; supervised services and exec callers are watchers) sends a "crash" frame to the main
-- thread, which logs it: { "crash", pid, entry, host, kind, message, traceback }. Exits forced
-- from outside (terminate, a linked process's failure, anything after a CANCEL) are not crashes
-- and are not reported.
--
-- Size: ~550 lines: an exit's two halves, its events and the hooks the scheduler calls at a
-- thread's end share the record's exit fields and must change together (lexit.c mirrors
-- thread_done's common case, native-spawn.test.ts checks the two agree).
--
-- Owns: the event kinds, CANCEL hooks (P.on_cancel), exec waiters (node:control PIDs minted per
-- process.exec whose only job is to receive the callee's EXIT), exit/kill/terminate, the
-- scheduler's exit hooks (thread_done, thread_failed, deadlock, after_resume), ending a process
-- after a kernel fault.
-- Receives: H (wall, now, dead, load_add, route), run, procs/remove (pids.lua), post, parse_pid,
-- copy, the error helpers, CH, timer_add and hook (sched.lua), arrive_event (mailbox.lua),
-- release_names (names.lua), give_co (copool.lua), hosts (cfg.hosts), wire (the event kinds;
-- the e, crash, unfwd and topology frame constructors), and cancel_execs (exec.lua, bound late by init.lua: called only
-- when a dying process has execs outstanding).
return function(deps)
  local H, run, procs, remove, post, parse_pid = deps.H, deps.run, deps.procs, deps.remove, deps.post, deps.parse_pid
  local copy, err, is_error, error_fields = deps.copy, deps.err, deps.is_error, deps.error_fields
  local make_error, memory_error, to_error = deps.make_error, deps.memory_error, deps.to_error
  local CH, timer_add, hook, arrive_event = deps.CH, deps.timer_add, deps.hook, deps.arrive_event
  local release_names, hosts, cancel_execs = deps.release_names, deps.hosts, deps.cancel_execs
  local W = deps.wire
  local set_of = deps.set_of -- P's links set, made its own at the first member (pids.lua)
  local watch, unwatch = deps.watch, deps.unwatch -- P.watchers' edits, either form (pids.lua)
  local give_co = deps.give_co -- a returned main thread's coroutine, kept for a later spawn (copool.lua; nil: none)
  local we, wjx, wcrash, wunfwd = W.e, W.jx, W.crash, W.unfwd
  local type, tostring, pairs, next, rawget = type, tostring, pairs, next, rawget
  local co_status, co_close, co_create, co_resume = coroutine.status, coroutine.close, coroutine.create, coroutine.resume
  local raw_getmt, traceback = debug.getmetatable, debug.traceback

  local M = {}
  local EV_EXIT, EV_LINK_DOWN, EV_CANCEL = W.EV_EXIT, W.EV_LINK_DOWN, W.EV_CANCEL
  M.EV_EXIT, M.EV_LINK_DOWN, M.EV_CANCEL = EV_EXIT, EV_LINK_DOWN, EV_CANCEL

  local function wall_s() return H.wall() / 1e9 end
  -- Two host calls a spawn+exit made every time, made once per step instead (each ~0.1-0.6 µs
  -- from wasm; docs/design/native-core.md, "The cost of a spawn", second wave):
  -- step_wall(): the wall clock (seconds) read once per kernel step, for a process's start time
  -- and its EXIT / LINK_DOWN events' `at` (init.lua's __step sets run.wall = 0 before each step;
  -- the first reader of a step reads H.wall). Such a time is the step's first reading: at most
  -- one step (STEP_MS, 20 ms, or one long resume) early. CANCEL deadlines keep wall_s (a fresh
  -- reading: a timer is armed from them).
  -- count_load(d): this worker's live-process count in the directory. An exit's -1 waits for the
  -- step's end (init.lua's __step sends run.dload in one H.load_add); a start's +1 first takes
  -- back a waiting -1, else goes at once. So the directory never shows the worker lighter than
  -- it is, only heavier, by the step's exits, until the step ends: a start's count held back
  -- would hide the very process that keeps a step long (a computing job), and placement put work
  -- behind it (job-admit, stealing tests). In spawn-exit each EXIT's spawn cancels its exit's -1.
  -- The load other workers' placement and balance rules read lags so by at most one step; this
  -- worker's own host calls that read it
  -- (place, task_take, task_push, task_listed: placement, the steal, balance and offer rules)
  -- see it exact: init.lua wraps them with load_first, which sends the step's count first.
  -- Without run.wall / run.dload (the kernel's tests' fakes) both go to the host at each call,
  -- as before.
  local function step_wall()
    local w = run.wall
    if w == nil then return H.wall() / 1e9 end
    if w == 0 then w = H.wall() / 1e9; run.wall = w end
    return w
  end
  local function count_load(d)
    local n = run.dload
    if n == nil then H.load_add(d); return end
    n = n + d
    if n > 0 then H.load_add(n); n = 0 end
    run.dload = n
  end
  function M.load_first(f)
    return function(...)
      local n = run.dload
      if n and n ~= 0 then run.dload = 0; H.load_add(n) end
      return f(...)
    end
  end
  M.step_wall, M.count_load = step_wall, count_load
  local find, CONTROL_PREFIX = string.find, "{" .. W.CONTROL_HOST .. "|"

  local kill, terminate -- below

  ---------------------------------------------------------------------------------------------
  -- Events.
  local function deliver_event(P, ev)
    local kind = ev.kind
    -- a remote spawn of P is out: remember who ended (spawn.lua adopt)
    local h = P.heard
    if h and kind ~= EV_CANCEL then h[ev.from] = true end
    if kind == EV_LINK_DOWN then
      P.links[ev.from] = nil
      if not P.trap_links then
        P.forced = true -- not a crash of its own (no crash report)
        kill(P, err("", "linked process failed"))
        return
      end
    elseif kind == EV_EXIT then
      P.monitoring[ev.from] = nil
    elseif kind == EV_CANCEL and ev.deadline then
      local ms = (ev.deadline - wall_s()) * 1000
      if ms < 0 then ms = 0 end
      timer_add(H.now() + ms, function()
        if P.alive then terminate(P) end
      end)
    end
    if kind == EV_CANCEL then
      P.forced = true -- an error exit after a CANCEL is not reported
      -- what the process waits for on its behalf is cancelled with it (funcs calls: on_cancel)
      local hooks = P.on_cancel
      if hooks then for _, fn in pairs(hooks) do fn(ev) end end
    end
    arrive_event(P, ev)
  end
  M.deliver_event = deliver_event

  -- CANCEL hooks: fn(ev) runs when P receives a CANCEL event, before P sees it, until
  -- off_cancel(P, token). It runs wherever the CANCEL is delivered (a frame, a timer, another
  -- process's process.cancel), never in P's coroutines, so it must not park: it settles kernel
  -- state (ends a wait, closes a channel, readies a thread). A CANCEL reaching a process with no
  -- hooks costs one field read. -> token
  function M.on_cancel(P, fn)
    local hooks = P.on_cancel
    if not hooks then hooks = {}; P.on_cancel = hooks end
    local token = {}
    hooks[token] = fn
    return token
  end
  function M.off_cancel(P, token)
    local hooks = P.on_cancel
    if hooks then hooks[token] = nil end
  end

  -- exec waiters: wpid -> function(ev), called with the callee's EXIT (spawn.lua, exec_start).
  local exec_waits = {}
  M.exec_waits = exec_waits

  local function undeliverable(ev, why)
    return { kind = ev.kind, from = ev.from, at = ev.at,
      result = { error = err("Invalid", "process result cannot be delivered: " .. why, false) } }
  end
  local function post_event(tid, pid, ev)
    local ok, why = post(tid, we(pid, ev))
    if not ok and ev.result then post(tid, we(pid, undeliverable(ev, why))) end
  end

  -- The EXIT for JS exit watcher number `watch` (the header): error (or false) with the stack
  -- where it was raised, else the value. A result that cannot cross is replaced, as for "e".
  local post_jx -- below (clip is defined with the crash reports)

  -- Send an event table to pid wherever it lives (dropped silently if it is gone). `own`: the
  -- event's tables were made for this one receiver and hold only scalars, so a receiver on this
  -- worker gets it as it is (a copy would rebuild the same two tables).
  local function send_event(pid, ev, own)
    if type(pid) == "number" then
      if ev.kind == EV_EXIT then
        local r = ev.result or {}
        post_jx(pid, r.error, r.stack, r.value)
      end
      return
    end
    local w = exec_waits[pid]
    if w then
      if ev.kind == EV_EXIT then w(ev) end
      return
    end
    local P = procs[pid]
    if P and P.home then post_event(P.home, pid, ev); return end
    if P then
      if P.alive then
        if own then deliver_event(P, ev); return end
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
  M.send_event = send_event

  -- A topology edit ("lk"/"ul" link, "mon"/"um" watcher) on pid, wherever it lives.
  local function topo(pid, kind, other)
    local P = procs[pid]
    if P then
      if kind == "ul" then
        P.links[other] = nil
        local h = P.heard -- a remote spawn of P is out (spawn.lua adopt)
        if h then h[other] = true end
      elseif kind == "lk" then set_of(P, "links")[other] = true
      elseif kind == "mon" then watch(P, other)
      elseif kind == "um" then unwatch(P, other) end
      return
    end
    local host, uniq = parse_pid(pid)
    if not host then return end
    local tid, alive = H.route(uniq)
    if alive and tid >= 0 then post(tid, W[kind](pid, other)) end
  end
  M.topo = topo
  M.watch, M.unwatch = watch, unwatch -- (frames.lua's "mon" / "um" and wdown)

  ---------------------------------------------------------------------------------------------
  -- Crash reports. Message and traceback are cut to CRASH_TEXT_MAX bytes: a report must always
  -- fit in a frame.
  local CRASH_TEXT_MAX = 8192
  local function clip(t)
    t = tostring(t or "")
    if #t > CRASH_TEXT_MAX then t = t:sub(1, CRASH_TEXT_MAX) .. "…" end
    return t
  end

  post_jx = function(watch, e, stack, value)
    if e == nil then e = false end -- (not `e == nil and false or e`: that is e again)
    local ok, why = post(0, wjx(watch, e, stack and clip(stack) or false, value))
    if not ok then
      post(0, wjx(watch, err("Invalid", "process result cannot be delivered: " .. why, false), false))
    end
  end
  local function send_crash(pid, id, host, e, stack)
    local h = hosts[host]
    if h and h.crash_reports == false then return end
    local kind, msg = "Internal", e
    if is_error(e) then local f = error_fields(e); kind, msg = f.kind, f.message end
    post(0, wcrash(pid, id, host, kind, clip(msg), clip(stack)))
  end
  -- The traceback: where the error was raised (thread_failed keeps it), else where the main
  -- thread stood when the process was killed from outside (e.g. mailbox overflow), else none.
  local function crash_report(P)
    local stack = P.exit_stack
    if not stack and P.main and co_status(P.main.co) == "suspended" then stack = traceback(P.main.co) end
    send_crash(P.pid, P.id, P.host, P.exit_err, stack)
  end

  -- A PID handed out (placed or moved here) whose process failed to start: it exits with `e`,
  -- its watchers get EXIT and its links LINK_DOWN (nil entries in the lists are skipped).
  function M.start_failed(pid, uniq, e, watchers, links, id, host)
    H.dead(uniq)
    count_load(-1)
    if next(watchers) == nil and next(links) == nil then send_crash(pid, id, host, e, nil) end
    local at = step_wall()
    for _, w in pairs(watchers) do send_event(w, { kind = EV_EXIT, from = pid, at = at, result = { error = e } }) end
    for _, l in pairs(links) do send_event(l, { kind = EV_LINK_DOWN, from = pid, at = at, result = { error = e } }) end
  end

  ---------------------------------------------------------------------------------------------
  -- Process exit.

  -- Closing a dead (or upgrading) process's suspended thread runs its pending to-be-closed
  -- variables: `__close` metamethods, user code. They run as that process (run.cp = P, a fresh
  -- reduction count, no current thread, so nothing can park or yield), never in the context that
  -- killed it (none, for a frame, or the killer's own identity and permissions), so the budget
  -- and the memory cap stop a __close that loops or allocates.
  local function close_thread(P, co)
    local cur, cp = run.cur, run.cp
    run.cur, run.cp = nil, P
    P.red = 0
    co_close(co)
    run.cur, run.cp = cur, cp
  end
  M.close_thread = close_thread

  -- The text of an error value a process raised or returned: tostring, except that a __tostring
  -- metamethod is user code, so it runs as P, under its budget, in a coroutine of its own (the
  -- kernel calls this outside any process; run there, `while true do end` in a __tostring held the
  -- worker for ever). A __tostring that fails, yields or returns a non-string gives a neutral text.
  local function user_tostring(P, v)
    local mt = raw_getmt(v)
    if type(v) == "string" or mt == nil or rawget(mt, "__tostring") == nil or is_error(v) then
      return tostring(v)
    end
    local co = hook(co_create(tostring), P)
    local cur, cp = run.cur, run.cp
    run.cur, run.cp = nil, P
    P.red = 0
    local ok, text = co_resume(co, v)
    run.cur, run.cp = cur, cp
    if ok and type(text) == "string" then return text end
    return "(error object is a " .. type(v) .. " value)"
  end
  M.user_tostring = user_tostring

  -- The process whose exit is being told (notify_exit may nest: a LINK_DOWN kills a local link),
  -- for the kernel's fault handlers (frames.lua).
  local notifying = nil

  -- The EXIT's result for P's watchers in processes, and for those in JS (a control PID: exec,
  -- run, the CLI), which also get where an error was raised: made once for all of them, each by
  -- a constructor (no rehash of an empty table). -> result, js (js == result: the same)
  local function exit_result(P, e, v, vs)
    if e ~= nil then
      local result = { error = e }
      local stack = P.exit_stack
      return result, stack and { error = e, stack = clip(stack) } or result
    end
    local result
    if vs == nil then result = { value = v } else result = { value = v, values = vs } end
    return result, result
  end

  -- Second half of an exit: tell watchers, links and monitored processes.
  local function notify_exit(P)
    local outer = notifying
    notifying = P
    local e = P.exit_err
    local at -- the wall clock, read only for an event record (step_wall: one host call per step)
    local pid = P.pid
    local watchers = P.watchers -- a set, or the one watcher itself (pids.lua watch)
    local w1, w2 = watchers, nil
    if type(watchers) == "table" then
      w1 = next(watchers)
      if w1 ~= nil then w2 = next(watchers, w1) end
    end
    if w1 ~= nil then
      local v, vs = P.exit_value, P.exit_values
      -- One watcher and a scalar result (the common case: a monitor of a process that returned
      -- nil, a number or a string): the event is that watcher's own, no copy needed.
      local tv = type(v)
      local own = w2 == nil and e == nil and vs == nil
        and (tv == "number" or tv == "string" or tv == "boolean" or tv == "nil")
      if w2 == nil then -- (one watcher: no pairs walk)
        if type(w1) == "number" then
          -- a JS exit watcher (a job): it also gets where the error was raised
          post_jx(w1, e, e ~= nil and P.exit_stack or nil, v)
        else
          local result, js = exit_result(P, e, v, vs)
          local r = (js ~= result and find(w1, CONTROL_PREFIX, 1, true) == 1) and js or result
          at = step_wall()
          send_event(w1, { kind = EV_EXIT, from = pid, at = at, result = r }, own)
        end
      else
        local result, js
        for w in pairs(watchers) do
          if type(w) == "number" then
            post_jx(w, e, e ~= nil and P.exit_stack or nil, v)
          else
            if not result then result, js = exit_result(P, e, v, vs); at = step_wall() end
            local r = (js ~= result and find(w, CONTROL_PREFIX, 1, true) == 1) and js or result
            send_event(w, { kind = EV_EXIT, from = pid, at = at, result = r }, own)
          end
        end
      end
    end
    if next(P.links) ~= nil then
      for l in pairs(P.links) do
        if e ~= nil then
          at = at or step_wall()
          send_event(l, { kind = EV_LINK_DOWN, from = pid, at = at, result = { error = e } })
        else
          topo(l, "ul", pid)
        end
      end
    end
    if next(P.monitoring) ~= nil then
      for m in pairs(P.monitoring) do topo(m, "um", pid) end
    end
    if P.on_exit then P.on_exit(P) end
    P.notified = true
    notifying = outer
  end
  M.notify_exit = notify_exit

  -- Has P a watcher? (P.watchers: a set, or the one watcher itself: pids.lua watch)
  local function watched(P)
    local ws = P.watchers
    return type(ws) ~= "table" or next(ws) ~= nil
  end

  local function finalize(P)
    if P.finalized then return end
    P.finalized = true
    if P.exit_err ~= nil and not P.forced and not watched(P) and not next(P.links) then crash_report(P) end
    -- (each walk behind a count or a next(): a process whose main thread returned has none, and
    -- pairs over an empty set is two C calls)
    if P.nthreads > 0 then
      -- the main thread (not in P.threads: sched.lua new_thread), then the others. A main thread
      -- that returned or failed is dead (its coroutine goes back to copool only after this), so
      -- the status test skips it as its absence from the set did.
      local cur, T = run.cur, P.main
      if T and T ~= cur and co_status(T.co) == "suspended" then close_thread(P, T.co) end
      local ts = P.threads
      if ts then
        for T in pairs(ts) do
          if T ~= cur and co_status(T.co) == "suspended" then close_thread(P, T.co) end
        end
        P.threads = {}
      end
    end
    local subs = P.subs
    if next(subs) ~= nil then
      for _, ch in pairs(subs) do
        local s = CH[ch]
        if s then s.closed = true end
      end
    end
    remove(P)
    H.dead(P.uniq)
    count_load(-1)
    if P.home then post(P.home, wunfwd(P.pid)) end
    if next(P.names) then
      release_names(P) -- notify_exit runs when the main thread acknowledges (frames.lua, xack)
      return
    end
    notify_exit(P)
  end

  -- End P now (or right after its running step), with value or error.
  local function exit(P, value, e)
    if not P.alive then return end
    P.alive = false
    if e ~= nil then
      -- error details are the process's own table: watchers get a data-only copy, or, when the
      -- details cannot cross, the same error without them, saying why
      local c, cerr = copy(e)
      if cerr then
        local f = error_fields(e)
        c = make_error({ kind = f.kind, retryable = f.retryable, stack = f.stack,
          message = tostring(f.message) .. " (error details dropped: " .. cerr .. ")" })
      end
      e = c
    end
    if P.execs then cancel_execs(P) end
    -- (a nil is not written: a store of nil into a key the record lacks takes the VM's slow path)
    if value ~= nil then P.exit_value = value end
    if e ~= nil then P.exit_err = e end
    if run.cur and run.cur.proc == P then
      P.exit_pending = true -- finalized by the scheduler when the running step ends
    else
      finalize(P)
    end
  end
  M.exit = exit
  kill = function(P, e) exit(P, nil, e) end
  M.kill = kill
  -- A kill from outside (terminate, shutdown, a cancel deadline): not a crash, never reported.
  terminate = function(P) P.forced = true; kill(P, err("Internal", "process terminated")) end
  M.terminate = terminate

  ---------------------------------------------------------------------------------------------
  -- The scheduler's hooks (sched.lua, S.install).
  local function after_resume(P)
    if P.exit_pending then P.exit_pending = false; finalize(P) end
  end
  M.after_resume = after_resume

  local function deadlock(P)
    exit(P, nil, err("Internal",
      "deadlock: all coroutines blocked with no pending operations (threads=" .. P.nthreads .. ")"))
  end
  M.deadlock = deadlock

  local function thread_done(T, r1, r2)
    local P = T.proc
    local main = T == P.main
    if not main then P.threads[T] = nil end -- (the main thread is not in the set: new_thread)
    P.nthreads = P.nthreads - 1
    if main then
      local t2 = type(r2)
      if r2 ~= nil and (t2 == "string" or is_error(r2)) then
        local e = r2
        if t2 == "string" then e = err("Internal", r2, false) else e = to_error(r2) end
        exit(P, nil, e)
      else
        local t1 = type(r1)
        local results = P.results
        if results == nil and (t1 == "number" or t1 == "string" or t1 == "boolean" or t1 == "nil") then
          exit(P, r1, nil) -- a scalar is its own copy (the common result: no C call)
        else
          local v, cerr = copy(r1)
          -- a function frame's several results (spawn.lua's function body): result.values too
          if results and not cerr then P.exit_values, cerr = copy(results) end
          if cerr then exit(P, nil, err("Invalid", "invalid process result: " .. cerr, false))
          else exit(P, v, nil) end
        end
      end
    elseif P.nrun == 0 and P.npending == 0 and P.nsubs == 0 and P.alive then
      deadlock(P)
    end
    if P.exit_pending then P.exit_pending = false; finalize(P) end -- (after_resume inline)
    -- its exit is finalized (crash_report read its stack): the coroutine may serve a later spawn
    if give_co and main then give_co(T.co, P) end
  end
  -- On our Lua module the common case (a main thread that returned a scalar, at most one watcher,
  -- a live process of this worker or a JS exit watcher, nothing else to tell or close) runs in C
  -- (native/lua/lspawn.c exiter, installed by init.lua: the steps of thread_done, exit, finalize,
  -- notify_exit, send_event and deliver_event in one call, with pids.lua's remove and copool.lua's
  -- give, ending in arrive_event); every other case is the Lua above. It finds these locals by name
  -- among probe's upvalues.
  function M.probe()
    return run, procs, exec_waits, notifying, arrive_event, post_jx, H, EV_EXIT, thread_done
  end
  M.thread_done = thread_done

  function M.thread_failed(T, e)
    local P = T.proc
    if T ~= P.main then P.threads[T] = nil end -- (the main thread is not in the set: new_thread)
    P.nthreads = P.nthreads - 1
    local stack = traceback(T.co)
    -- a table without __tostring becomes an error showing its fields (errors.lua, to_error)
    local mt = type(e) == "table" and raw_getmt(e) or nil
    local plain = type(e) == "table" and not (mt and rawget(mt, "__tostring"))
    if type(e) ~= "string" and not is_error(e) and not plain then e = user_tostring(P, e) end
    if P.alive then P.exit_stack = stack end
    -- Lua's own "not enough memory" (wasm's 2 GB ceiling) ends the process as the cap would
    exit(P, nil, memory_error(e) or to_error(e, stack))
    after_resume(P)
  end

  ---------------------------------------------------------------------------------------------
  -- Ending a process after a kernel fault (frames.lua, containment).

  -- P's exit could not complete (or its step failed): end it with `e`, telling its watchers
  -- (those told before the error may hear twice; none is left waiting).
  local function force_exit(P, e)
    P.alive, P.exit_pending = false, false
    P.exit_value, P.exit_err = nil, e
    if not P.finalized then finalize(P)
    elseif not P.notified then notify_exit(P) end
  end

  -- End P with `e` after a kernel error. -> true | false, the second error (then P is dropped
  -- from the table, so the worker does not keep tripping on it; the caller reports it).
  function M.end_faulted(P, e)
    if P.notified then return true end
    local ok, e2
    if P.alive then ok, e2 = pcall(kill, P, e) -- the whole exit path
    else ok, e2 = pcall(force_exit, P, e) end
    if not ok then
      if procs[P.pid] == P then remove(P); H.dead(P.uniq) end
      return false, e2
    end
    return true
  end

  -- The process whose exit was being told when a fault unwound the kernel (cleared).
  function M.take_notifying()
    local N = notifying
    notifying = nil
    return N
  end

  return M
end
