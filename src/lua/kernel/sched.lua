-- The worker's Lua scheduler: threads, the run queue, timers, the step loop. Channels, which park
-- and wake threads through it, are channel.lua.
-- (Just over 500 lines: the step loop, the START slot and the run queue they share stay together;
-- lsched.c and ljob.c bind these locals by name.)
--
-- Model. One Lua state per worker thread holds every process bound to that worker. A process is a
-- set of *threads* (Lua coroutines): its main coroutine (P.main) plus those started by
-- coroutine.spawn (the set P.threads, made at the first of them: new_thread). A
-- thread record T = { co, proc, a1, a2, n } is either running (run.cur), queued in the run queue
-- (runnable), or parked (waiting on a channel, a timer or a reply). Parking is one
-- `coroutine.yield(BLOCK)`; waking stores the values the blocking call returns in T.a1/T.a2 and
-- queues T. The host (JS) calls step() when something happened; step drains incoming frames,
-- fires due timers and resumes runnable threads until the queue is empty or the slice is used up.
--
-- Why in Lua. A coroutine switch costs 1.3-3 µs in wasmoon and a Lua->JS call through wasmoon's
-- convenience bridge 3-15 µs (measured here: docs/design/scheduler.md), so everything on the message path between
-- processes of one worker stays inside the VM: a receive that finds a queued value returns without
-- yielding, a woken process drains what is queued, and same-worker payloads are copied as Lua
-- values. JS is reached only through raw C functions (H.*, ~0.08 µs a call).
--
-- Containment. A process's own errors end inside its coroutine (resume returns false). A kernel
-- error while the scheduler handles a process around its resume (its exit, its sends, its events:
-- code outside the coroutine) is caught by one pcall per step and charged to that process
-- (process_fault, frames.lua: it exits with an Internal error, its watchers are told); the step
-- then goes on with the next thread. The worker never stops for one process.
--
-- Owns: the run queue, the reduction budget and memory cap hook, timers, the step loop,
-- and the running-state table `run` (run.cur = the thread being resumed, run.cp = its process),
-- which it writes around every resume and everyone else only reads.
-- Receives: deps.H (now, newud, kill_requested), deps.err, deps.run, deps.mem_cap_kb (the worker's Lua heap cap in
-- KiB, or nil), deps.resume (lmsg.c's, or nil), deps.counthook (lhook.c's, or nil), deps.take_co (copool.lua's, or nil),
-- deps.runner (lsched.c's: run_loop's common case in C, or nil), deps.jobslot (ljob.c's: a job's
-- START round in C, or nil). It calls up into the process layer only through
-- the hooks init.lua passes to S.install once (thread_done, thread_failed, do_upgrade, deadlock, after_resume, process_fault,
-- kernel_fault, deliver_batch, take_task, share_tasks, queued_here, queued_local), held as upvalues.
return function(deps)
  local H, err, run, mem_cap_kb = deps.H, deps.err, deps.run, deps.mem_cap_kb
  -- resume(co, n, a1, a2) -> code, r1, r2: coroutine.resume and coroutine.status in one C call
  -- on our Lua module (native/lua/lmsg.c); nil on wasmoon's, where resume_thread calls both
  local k_resume = deps.resume
  -- take_co(fn, proc): a coroutine running fn, a kept one if any (copool.lua); nil: coroutine.create
  local take_co = deps.take_co or coroutine.create
  local S = {} -- the module
  local co_create, co_resume, co_yield, co_status, co_close =
    coroutine.create, coroutine.resume, coroutine.yield, coroutine.status, coroutine.close
  local setmetatable, type, error, select = setmetatable, type, error, select

  local BLOCK = setmetatable({}, { __tostring = function() return "kernel.block" end })
  S.BLOCK = BLOCK

  -- The hooks into the process layer (installed once by init.lua, S.install): upvalues, so the
  -- resume path calls them directly.
  local thread_failed, thread_done, do_upgrade, deadlock, after_resume
  local process_fault, kernel_fault, deliver_batch, take_task, share_tasks, queued_here, queued_local
  local multi = false
  local SHARE_AFTER = math.huge

  ---------------------------------------------------------------------------------------------
  -- Run queue (a ring of thread records; head/tail grow without bound, entries are cleared).
  local runq, rq_head, rq_tail = {}, 1, 0
  run.cur = nil -- the thread being resumed

  local function ready(T, n, a1, a2)
    if T.dead then return end -- discarded by an upgrade; late wake-ups are dropped
    -- a1 and a2 only up to n (resume_thread clears them by n): no nil stored under an absent key
    if n == 0 then T.n = 0 elseif n == 1 then T.n, T.a1 = 1, a1 else T.n, T.a1, T.a2 = n, a1, a2 end
    T.parked = false
    local p = T.proc
    p.nrun = p.nrun + 1
    rq_tail = rq_tail + 1
    runq[rq_tail] = T
  end
  S.ready = ready

  -- A queued spawn's turn (a spawn kept in the worker's Lua-side list, taskq.lua): spawn.lua queues
  -- START in the run queue where a one-worker host would have queued the new process's main
  -- thread, and when START comes up the oldest queued spawn starts and runs in that slot. So the
  -- processes run in the order they would on one worker — a driver that spawns a child per EXIT
  -- it receives handles a whole batch of EXITs per resume, instead of one resume per child when
  -- a queued spawn started only once the run queue was empty (measured: see taskq.lua) — and yet a
  -- spawn is not started before its turn: while the child before it computes, the sharing rule can
  -- still hand it to a sibling (the START then finds nothing, or a younger spawn, to start).
  local START = setmetatable({}, { __tostring = function() return "kernel.start" end })
  function S.ready_start()
    rq_tail = rq_tail + 1
    runq[rq_tail] = START
  end

  -- Park the current thread; returns what the waker passed to ready().
  local function park()
    local T = run.cur
    T.parked = true
    return co_yield(BLOCK)
  end
  S.park = park

  -- Reduction budget: a count hook every HOOK_EVERY VM instructions charges the running
  -- process; past its host's budget (instructions since it was last resumed) it is killed with a
  -- clear error. Lua hooks cannot yield, so the budget kills rather than preempts. Hooks are per
  -- coroutine: user coroutines get one too (sandbox). What it costs, measured (CPU time, one Lua
  -- state, bench/count-hook.ts): on wasmoon's module stock Lua checks every instruction while
  -- any hook is set (luaG_traceexec), +4.3-5.7 ns on a 4.3-5.4 ns instruction, so hooked
  -- straight-line Lua runs at about half speed; on ours (patch 0006) the VM counts in a local
  -- and calls only at zero: +0.0-0.2 ns, and 0.1-0.2 µs per call (one per HOOK_EVERY). On ours
  -- the hook is also a C hook (wippy.native.counthook, native/lua/lhook.c) rather than
  -- debug.sethook, whose weak table of hooked threads cost ~10 µs of CPU per spawn+exit.
  local HOOK_EVERY = 10000
  local sethook = debug.sethook
  local chook  -- set(co): wippy.native's C count hook calling budget_hook, or nil (wasmoon's module)
  local gcount = collectgarbage
  local function budget_hook()
    local P = run.cp
    if not P then return end
    local cap = mem_cap_kb
    if cap and gcount("count") > cap then
      -- The worker's Lua heap is over its cap: the process allocating right now pays. Collect
      -- first, so garbage does not count against it.
      gcount("collect")
      if gcount("count") > cap then
        P.doomed = err("Internal", "memory limit exceeded: the worker's Lua heap passed " ..
          (cap // 1024) .. " MiB while this process was running", false)
        error(P.doomed, 0)
      end
    end
    -- Once doomed, every hook raises again, and the sandbox's pcall/xpcall re-raise it, so
    -- catching the error cannot keep the process alive.
    if P.doomed then error(P.doomed, 0) end
    -- The main thread asks for this process to end now (a job's cancel deadline passed while it
    -- ran without yielding, so its CANCEL frame could not be handled): end it as terminate does.
    if H.kill_requested(P.uniq) then
      P.forced = true
      P.doomed = err("Internal", "process terminated", false)
      error(P.doomed, 0)
    end
    local r = P.red + HOOK_EVERY
    P.red = r
    -- A resume that computes holds up this worker's queued spawns: past run.share_at instructions
    -- (SHARE_AFTER from the resume's start, moved on by its spawns) it shares them with a sibling
    -- (spawn.lua, share_tasks). In `run`, not the record: it only means something during a resume
    -- (a key fewer per process: the record of a monitored child that exited stays at 16 slots).
    if share_tasks and r >= run.share_at then share_tasks(P) end
    if not P.budget then return end
    if r > P.budget then
      P.doomed = err("Internal", "reduction budget exceeded: ran more than " .. P.budget ..
        " instructions without yielding", false)
      error(P.doomed, 0)
    end
  end
  -- Fast paths (a receive that finds a value, a send that hands it over) do not yield, so a busy
  -- consumer could run past its budget doing nothing wrong. They call maybe_yield: past
  -- YIELD_AFTER instructions since the last resume, the thread yields to the back of the run
  -- queue (Erlang-style fairness), which also restarts its budget. Only a loop that never touches
  -- the kernel reaches max_reductions.
  local YIELD_AFTER = 1000000
  S.YIELD_AFTER = YIELD_AFTER -- (process.lua hands it to lsend.c, whose send tests maybe_yield's mark)
  local function maybe_yield()
    local T = run.cur
    if T == nil then return end
    local P = T.proc
    if (P.red or 0) < YIELD_AFTER then return end
    ready(T, 0)
    co_yield(BLOCK)
  end
  S.maybe_yield = maybe_yield

  if deps.counthook then chook = deps.counthook(budget_hook, HOOK_EVERY) end
  local function hook(co, proc)
    if proc.budget or mem_cap_kb then
      if chook then chook(co) else sethook(co, budget_hook, "", HOOK_EVERY) end
    end
    return co
  end
  S.hook = hook

  -- A new thread of proc running fn. `co`: a coroutine already made and hooked for proc, fn
  -- unused (spawn.lua run_chunk: the coroutine the module's chunk ran in, waiting to run main).
  -- `n` given (a process's main thread, spawn.lua start_here): the thread is also queued, as
  -- ready(T, n, a1, a2) would, its first resume passing a1, a2 (fn's arguments), and the record is
  -- made with only the keys it holds: no `parked` (nil reads as false; the first park adds it),
  -- no a1/a2 beyond n. So a main thread of at most one argument that returns without parking
  -- keeps a record of 4 hash slots (128 bytes; a fifth key rehashes it to 8, 224), where a closure
  -- over main and its arguments plus ready()'s writes cost ~150 bytes more.
  -- `n` given is also what makes the thread proc's main thread (start_here, upgrade.lua
  -- do_upgrade: the caller stores it as proc.main): it is not put into proc.threads, which holds
  -- a process's other threads only, made with its first member (a record starts without it,
  -- spawn.lua new_proc). So a process that never starts a second thread has no `threads` set (a
  -- table of one node, 56 bytes, per spawn); the readers that walk the threads (lifecycle.lua
  -- finalize, upgrade.lua do_upgrade) visit proc.main too, and thread_done / thread_failed drop
  -- only a thread that is not the main one. `nthreads` counts them all.
  function S.new_thread(proc, fn, co, n, a1, a2)
    if not co then -- (hook inline)
      co = take_co(fn, proc)
      if proc.budget or mem_cap_kb then
        if chook then chook(co) else sethook(co, budget_hook, "", HOOK_EVERY) end
      end
    end
    local T
    if n == nil then T = { co = co, proc = proc, n = 0, parked = false }
    elseif n == 0 then T = { co = co, proc = proc, n = 0 }
    elseif n == 1 then T = { co = co, proc = proc, n = 1, a1 = a1 }
    else T = { co = co, proc = proc, n = n, a1 = a1, a2 = a2 } end
    proc.nthreads = proc.nthreads + 1
    if n ~= nil then -- the main thread, queued (ready's steps without its writes)
      proc.nrun = proc.nrun + 1
      rq_tail = rq_tail + 1
      runq[rq_tail] = T
    else
      local ts = proc.threads
      if ts then ts[T] = true else proc.threads = { [T] = true } end
    end
    return T
  end

  -- new_thread's state, for the C of a process's start (native/lua/lspawn.c: a main thread's
  -- record made and queued as new_thread makes it; lqspawn.c: START queued as ready_start queues
  -- it): it finds these locals by name among probe's upvalues
  function S.thread_probe() return runq, rq_tail, chook, mem_cap_kb, START end

  ---------------------------------------------------------------------------------------------
  -- Timers: a binary min-heap of { at, seq, fn }; cancelled timers are marked, not removed.
  local heap, hn, tseq = {}, 0, 0

  local function timer_add(at, fn)
    tseq = tseq + 1
    local t = { at = at, seq = tseq, fn = fn, live = true }
    hn = hn + 1
    local i = hn
    heap[i] = t
    while i > 1 do
      local p = i // 2
      local hp = heap[p]
      if hp.at < t.at or (hp.at == t.at and hp.seq < t.seq) then break end
      heap[i], heap[p] = hp, t
      i = p
    end
    return t
  end
  S.timer_add = timer_add

  function S.timer_cancel(t)
    if t and t.live then t.live = false; return true end
    return false
  end

  local function heap_pop()
    local top = heap[1]
    local last = heap[hn]
    heap[hn] = nil
    hn = hn - 1
    if hn > 0 then
      local i = 1
      heap[1] = last
      while true do
        local l, r, m = i * 2, i * 2 + 1, i
        if l <= hn and (heap[l].at < heap[m].at or (heap[l].at == heap[m].at and heap[l].seq < heap[m].seq)) then m = l end
        if r <= hn and (heap[r].at < heap[m].at or (heap[r].at == heap[m].at and heap[r].seq < heap[m].seq)) then m = r end
        if m == i then break end
        heap[i], heap[m] = heap[m], heap[i]
        i = m
      end
    end
    return top
  end

  local function run_timers(now)
    while hn > 0 and heap[1].at <= now do
      local t = heap_pop()
      if t.live then t.live = false; t.fn() end
    end
  end

  -- Block the current thread for ms milliseconds.
  function S.sleep_ms(ms)
    local T = run.cur
    local p = T.proc
    p.npending = p.npending + 1
    timer_add(H.now() + ms, function()
      if T.dead then return end -- discarded by an upgrade, which reset the process's counters
      p.npending = p.npending - 1
      if T.proc.alive and T.parked then ready(T, 0) end
    end)
    park()
  end

  ---------------------------------------------------------------------------------------------
  -- The step loop: called by the host.
  -- A step ends after SLICE resumes or STEP_MS milliseconds, whichever comes first, so the
  -- worker's event loop (stdin, control, timers) and its heartbeat stay responsive.
  local SLICE = 20000
  local STEP_MS = 20
  -- On a host of several workers, spawns wait in the shared run queues (src/scheduler/tasks.ts)
  -- until a worker takes them: when nothing else is runnable (and then it may steal from busy
  -- siblings), and one every TAKE_EVERY resumes, so queued spawns start even while running
  -- processes keep the queue full.
  local TAKE_EVERY = 61

  -- Per-process heap accounting (P[3], the process table of ptable.lua): off until someone
  -- first asks for the process table (S.account_heap), because it costs every resume two
  -- collectgarbage("count") calls, a real share of a resume that only hands over a message; the
  -- resume count and time (P[1], P[2]: the record's array part, spawn.lua new_proc) cost an addition each and are always kept.
  local heap_on = false
  function S.account_heap() heap_on = true end

  -- The process whose thread is being resumed, or whose resume is being handled (its exit, its
  -- sends): the one a kernel error during that time is charged to (process_fault, frames.lua).
  local handling = nil

  local function resume_thread(T)
    if T.dead then return end -- discarded by an upgrade while it sat in the run queue
    local p = T.proc
    p.nrun = p.nrun - 1
    if not p.alive then return end
    handling = p
    run.cur, run.cp = T, p
    p.red = 0
    p[1] = p[1] + 1 -- ptable.lua's figures, the record's array part: [1] runs, [2] ms run, [3] heap KiB
    run.share_at = SHARE_AFTER
    -- The mailbox record it was woken with (if any) is read from now on (mailbox.lua). The clears
    -- here and after the resume write only keys that hold a value: a nil stored under an absent
    -- key is no SETFIELD fast path but luaV_finishset's (a woken-by-nothing thread, n = 0, holds
    -- none of mrec, a1, a2; ready stores a1 and a2 only up to n).
    if T.mrec then T.mrec = nil end
    local co = T.co
    local ok, r1, r2, code
    local n = T.n
    -- The wake values leave the record before the resume, not after it: a thread that parks
    -- inside this resume adds `parked`, and a record still holding a1 would then rehash from 4
    -- hash slots to 8 (+96 bytes for every parked process started with one argument).
    local a1, a2 = T.a1, T.a2
    if n ~= 0 then T.a1 = nil; if n ~= 1 then T.a2 = nil end end
    local kb = heap_on and gcount("count")
    if k_resume then -- resume and status in one C call (0 yielded, 1 returned, 2 raised)
      code, r1, r2 = k_resume(co, n, a1, a2)
      ok = code ~= 2
    elseif n == 0 then ok, r1, r2 = co_resume(co)
    elseif n == 1 then ok, r1, r2 = co_resume(co, a1)
    else ok, r1, r2 = co_resume(co, a1, a2) end
    if kb then p[3] = p[3] + (gcount("count") - kb) end
    run.cur, run.cp = nil, nil
    if not ok then
      thread_failed(T, r1)
    elseif code == 1 or (code == nil and co_status(co) == "dead") then
      thread_done(T, r1, r2)
    elseif r1 ~= BLOCK then
      -- a plain coroutine.yield() at the top of a process thread: just let others run
      ready(T, 0)
    elseif p.upgrade_req then
      do_upgrade(p)
    elseif p.nrun == 0 and p.npending == 0 and p.nsubs == 0 and p.alive then
      deadlock(p)
    end
    if p.exit_pending then after_resume(p) end
    handling = nil
  end

  -- The step loop's state lives in upvalues, so that after a kernel error (caught by the one pcall
  -- in S.step) the loop is re-entered where it stopped: the thread, timer or queued spawn that
  -- failed was already taken off its queue. A pcall per resume would cost on every message.
  local budget, t0 = 0, 0
  -- The clock when the current resume began (the previous resume's end): its process is charged
  -- the difference after it (P[2], the process table of ptable.lua).
  local tlast = 0

  -- On our Lua module the common iteration below (a thread record at the head: pop, resume, clock)
  -- runs in C (native/lua/lsched.c), the same steps over the same state: it finds these locals by
  -- name among probe's upvalues and reads and writes them where they live. c_run() runs the
  -- iteration and the next ones of the same kind; true: the step's time is up.
  -- START at the head of the run queue: its slot's round. START leaves the queue; the oldest spawn
  -- of the Lua-side list (if any) starts, and its main thread, readied at the tail, takes START's
  -- slot. -> true: the head is that thread (run it now: the loop's top would test what it tested
  -- before this START); false: the slot stayed empty (the list was empty, or the spawn failed to
  -- start, or the sharing rule's take gave a spawn whose thread is elsewhere).
  -- Called by run_loop's START branch and, on our Lua module, by lsched.c's loop itself when it
  -- meets START (session 10: a job from the list then costs no return to this loop and no re-entry
  -- into c_run). On our module with a Lua-side list, `start_slot` is ljob.c's (S.install): the
  -- same round in C for a job at the list's head, this function for every other case.
  local function lua_start_slot()
    runq[rq_head] = nil
    rq_head = rq_head + 1
    if not queued_local() then return false end
    local t0 = rq_tail
    take_task(false)
    if rq_tail ~= t0 + 1 then return false end
    -- the new process's main thread, readied at the tail: it runs in START's slot
    rq_head = rq_head - 1
    runq[rq_head] = runq[rq_tail]
    runq[rq_tail] = nil
    rq_tail = t0
    return true
  end
  local start_slot = lua_start_slot

  local function probe()
    return budget, rq_head, rq_tail, runq, t0, tlast, hn, heap_on, multi, handling, START, BLOCK,
      run, H, thread_failed, thread_done, do_upgrade, deadlock, after_resume, run_timers, ready,
      SHARE_AFTER, STEP_MS, TAKE_EVERY, start_slot
  end
  local c_run = deps.runner and deps.runner(probe)
  S.probe = probe -- ldeliver.c's view of the run queue (mailbox.lua)

  local function run_loop()
    local take = take_task
    while budget > 0 do
      if rq_head > rq_tail then
        if not (multi and take(true)) then break end
      elseif multi and budget % TAKE_EVERY == 0 then
        take(false)
      end
      if rq_head > rq_tail then goto continue end -- the spawn failed to start
      if runq[rq_head] == START then
        if not start_slot() then goto continue end
        -- The slot's thread runs at once, in C or below: the loop's top would test what it tested
        -- before this START (budget and the queue are as they were). Until session 10 the Lua
        -- path (no C runner, or heap accounting on) went round the top first, and at a
        -- TAKE_EVERY budget took a second queued spawn before this one ran, where the C loop did
        -- not: test/native-sched.test.ts's job worlds found it.
      end
      if c_run and not heap_on then
        if c_run() then break end
      else
        local T = runq[rq_head]
        runq[rq_head] = nil
        -- emptied: back to slot 1, so a queue that holds one or two threads at a time (a
        -- ping-pong, a ring) stays in the table's array part; a head and tail growing without
        -- bound through a step put each new slot in the hash part, and its rehashes cost an
        -- allocation every few messages (channel.lua's queues do the same)
        if rq_head < rq_tail then rq_head = rq_head + 1 else rq_head, rq_tail = 1, 0 end
        budget = budget - 1
        resume_thread(T)
        -- the clock is read after every resume (a raw host call, ~0.08 µs): one long resume is
        -- enough to end the step, so stealing and timers are not held up behind the rest of the
        -- queue; the same reading charges the resume's time to its process
        local now = H.now()
        local p = T.proc
        p[2] = p[2] + (now - tlast)
        tlast = now
        if now - t0 > STEP_MS then break end
        if hn > 0 and budget % 64 == 0 then run_timers(now) end
      end
      ::continue::
    end
  end

  local function fault(e)
    local p = handling
    handling = nil
    if p then
      process_fault(p, e)
    else
      run.cur, run.cp = nil, nil
      kernel_fault("running timers or starting a queued spawn", e)
    end
  end

  -- End the step after the resume running now (pids.lua, when the frames it holds for other
  -- workers pass half a ring: they are handed over only at a step's end).
  function S.end_step() budget = 0 end

  -- One scheduling step. Returns the next timer deadline (ms, host clock) or -1, and whether
  -- runnable threads are left (the host calls again at once). `batch` (and `len`): frames,
  -- deliver_batch's (frames.lua). `now`: the host clock when the host began the step, read in JS
  -- (engine.ts), which saves the step a host call (H.now, ~0.1–0.3 µs from wasm against ~0.03 in
  -- JS); the step's slice and its first resume's time then count from before the delivery.
  function S.step(batch, len, now)
    if batch then deliver_batch(batch, len) end
    now = now or H.now()
    if hn > 0 then
      local ok, e = pcall(run_timers, now)
      while not ok do fault(e); ok, e = pcall(run_timers, H.now()) end
    end
    budget = SLICE
    t0 = now
    tlast = t0
    local ok, e = pcall(run_loop)
    while not ok do fault(e); ok, e = pcall(run_loop) end
    if rq_head > rq_tail then rq_head, rq_tail = 1, 0 end
    -- drop cancelled timers at the top so the reported deadline is real
    while hn > 0 and not heap[1].live do heap_pop() end
    local nxt = -1
    if hn > 0 then nxt = heap[1].at end
    return nxt, rq_head <= rq_tail or (queued_here ~= nil and queued_here())
  end

  -- The process layer's hooks, passed in once at wiring (init.lua), never looked up per call:
  --   thread_failed(T, err), thread_done(T, r1, r2)  a process thread raised / returned
  --   do_upgrade(P)        P's thread yielded with P.upgrade_req set (upgrade.lua)
  --   deadlock(P)          every thread of P is parked with nothing pending
  --   after_resume(P)      P exited while its own step ran (P.exit_pending)
  --   process_fault(P, e), kernel_fault(what, e)  containment (frames.lua)
  --   deliver_batch(batch) the frames of a step (frames.lua)
  --   take_task(steal)     start the next queued spawn (spawn.lua); nil on a one-worker host
  --   share_tasks(P), share_after  hand half the queued spawns to a sibling while P computes, past
  --                        share_after instructions (spawn.lua); nil on a one-worker host
  --   queued_here()        spawns wait that only take_task starts (the worker's Lua-side list,
  --                        taskq.lua): the step reports work left; nil on a one-worker host
  --   queued_local()       the Lua-side list holds spawns (a START may start one)
  --   taskq_probe, frame_sp, frame_spj  taskq.lua's probe, spawn.lua's frame_sp and frame_spj, for
  --                        ljob.c (deps.jobslot)
  --   tstart(t)            the C start of the record at the list's head (lqspawn.c: a job or a spawn
  --                        queued in C), for ljob.c; nil: frame_sp (session 11)
  function S.install(h)
    thread_failed, thread_done, do_upgrade, deadlock, after_resume =
      h.thread_failed, h.thread_done, h.do_upgrade, h.deadlock, h.after_resume
    process_fault, kernel_fault, deliver_batch, take_task, share_tasks =
      h.process_fault, h.kernel_fault, h.deliver_batch, h.take_task, h.share_tasks
    queued_here, queued_local = h.queued_here, h.queued_local
    SHARE_AFTER = h.share_after or math.huge
    multi = take_task ~= nil
    -- a job's START round in C (native/lua/ljob.c), with the C run loop only (lsched.c calls it),
    -- and its "spj" frame's arrival: S.job_frame, frames.lua's "spj" handler (init.lua)
    if multi and c_run and deps.jobslot and h.taskq_probe and h.frame_sp and h.frame_spj then
      start_slot, S.job_frame = deps.jobslot(h.frame_sp, lua_start_slot, h.frame_spj, h.tstart or false, probe,
        h.taskq_probe)
    end
  end

  return S
end
