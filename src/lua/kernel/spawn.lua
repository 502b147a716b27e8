-- Spawning: from an entry id to a running process, here or on another worker.
-- (Over 500 lines: every way a spawn starts — here, queued in the Lua-side list, on a sibling, on
-- another host, from a frame — shares start_here and its locals, which the C spawners bind by name.)
--
-- Bodies. What runs inside a process is decided by the entry's kind through one table,
-- `bodies[kind]`; every other part of the kernel sees only the process record and its main
-- thread. A body is
--   { prepare(Ent, id) -> code | nil, message      once per entry per worker (Lua: compile)
--     instantiate(Ent, code, P, args, n) -> main | nil, error kind, message
--                                                  make P's main function (Lua: run the chunk as
--                                                  P and find its method; args, n: main's
--                                                  arguments, nil for an upgrade); main(args...) runs as
--                                                  P's main thread, its return is the result
--     pid_host(id, host, tid) -> string            the host part of a new PID
--     queueable = bool }                           may wait on the host's run queues / be placed
-- Adding a non-Lua body (a WASM process) is one new file returning such a table and one line in
-- spawn's deps in init.lua, `bodies = { ["process.wasm"] = loadmod("...")(...) }`
-- (docs/design/architecture.md shows the steps).
--
-- Where a spawn starts (spawn_from). On the spawner's own host, an entry of a queueable body
-- (Lua processes and functions) that already instantiated on this worker (so "method not found"
-- and load errors are still returned by the spawn itself) is queued first: in this worker's
-- Lua-side list while no other worker may take it (taskq.lua says when), else on the host's run
-- queues (src/scheduler/tasks.ts), where any worker of the host may take it; the PID is minted
-- here (its home). When the queues are full it is placed: the spawner's worker unless that is busier
-- than another worker of the host by more than the slack (H.place, src/host/worker.ts), which
-- gets an "sp" frame. Another host: an "s" request to one of its workers (round-robin), answered
-- with the PID or the error. On our module the common local cases run in C: a spawn started at
-- once (native/lua/lspawn.c, session 10), one queued in the Lua-side list and its start at its
-- turn, and a job's start from that list (native/lua/lqspawn.c, session 11: a flat record, not a
-- W.task; start_flat and q_failed below are its Lua ends). Where that C start exists, the Lua
-- queue_local also queues the C's case as a flat record (session 15: the spawns the C leaves to
-- the Lua when a directory report is due then start in C too).
--
-- Early frames and forwarding. Frames for a process placed on this worker can arrive before its
-- "sp" frame (the PID may reach other senders first): they wait in `early`, per PID, in arrival
-- order, and are replayed right after it starts. A queued spawn started by another worker is
-- reached through its home: the home forwards every frame for it, in arrival order, to that
-- worker (`forward`), so per-sender FIFO holds (sender -> home -> runner, two FIFO rings); frames
-- that arrived before the runner said "bound" wait in `early` and go first.
--
-- Size: ~745 lines: the spawn paths (local, kept in the Lua-side list, published,
-- remote) share the early/forward tables and the adopt rule, and split apart they would have to
-- hand those to each other.
--
-- Owns: bodies, the spawn paths, validated entries, early/forward, shutdown state.
-- Receives: H, cfg, entries; taskq.lua (room, push, push_job, share, take, pending: the Lua-side list);
-- pids.lua (procs, add, fmt_pid, parse_pid, post, locate, NONE, set_of); sched.lua (run,
-- new_thread (which also queues a main thread), hook, ready_start); copool.lua (take_co); sandbox.lua (compile, make_env); codec encode; error
-- helpers; lifecycle.lua (user_tostring, deliver_event, start_failed, topo, send_event); channel.lua
-- (EMPTYQ); security (from_config, encode_actor, encode_scope, decode_ctx); call_settled (rpc.lua);
-- wire (frame and spawn-record field indices); dispatch(frame) (frames.lua, bound late by init.lua: replays early frames).
return function(deps)
  local H, cfg, entries = deps.H, deps.cfg, deps.entries
  local procs, add, fmt_pid, parse_pid = deps.procs, deps.add, deps.fmt_pid, deps.parse_pid
  local post, locate = deps.post, deps.locate
  local run, new_thread, hook, ready_start = deps.run, deps.new_thread, deps.hook, deps.ready_start
  -- take_co(fn, P): a coroutine running fn, a kept one if any (copool.lua); nil: coroutine.create
  local take_co = deps.take_co or coroutine.create
  local compile, make_env, encode = deps.compile, deps.make_env, deps.encode
  local err, is_error, errmsg, memory_error = deps.err, deps.is_error, deps.error_message, deps.memory_error
  local user_tostring, deliver_event = deps.user_tostring, deps.deliver_event
  local start_failed, security, call_settled = deps.start_failed, deps.security, deps.call_settled
  local topo, send_event = deps.topo, deps.send_event
  -- the step's wall clock (one host call per step) and the live count (a start takes back an
  -- exit's uncount waiting for the step's end, else counts at once): lifecycle.lua
  local step_wall = deps.step_wall or function() return deps.H.wall() / 1e9 end
  local count_load = deps.count_load or function(d) deps.H.load_add(d) end
  local dispatch, W, taskq = deps.dispatch, deps.wire, deps.taskq
  local EMPTYQ = deps.EMPTYQ -- channel.lua's shared empty queue: P.unrouted until a message waits there
  local NONE, set_of = deps.NONE, deps.set_of -- pids.lua's shared empty set and its owner
  local S_REPLY_TID, S_REPLY_PID, S_REQ, S_ID, S_HOST, S_WATCHER, S_LINK, S_CTX, S_ARGS =
    W.S_REPLY_TID, W.S_REPLY_PID, W.S_REQ, W.S_ID, W.S_HOST, W.S_WATCHER, W.S_LINK, W.S_CTX, W.S_ARGS
  local SP_PID, SP_UNIQ, SP_ID, SP_HOST, SP_WATCHER, SP_LINK, SP_CTX, SP_ARGS =
    W.SP_PID, W.SP_UNIQ, W.SP_ID, W.SP_HOST, W.SP_WATCHER, W.SP_LINK, W.SP_CTX, W.SP_ARGS
  local TASK_PID, TASK_UNIQ, TASK_ID, TASK_HOST, TASK_WATCHER, TASK_LINK, TASK_CTX, TASK_ARGS, TASK_HOME =
    W.TASK_PID, W.TASK_UNIQ, W.TASK_ID, W.TASK_HOST, W.TASK_WATCHER, W.TASK_LINK, W.TASK_CTX, W.TASK_ARGS, W.TASK_HOME
  local BOUND_PID, BOUND_RUNNER, UNFWD_PID = W.BOUND_PID, W.BOUND_RUNNER, W.UNFWD_PID
  local fn_host = W.fn_host
  local type, tostring, pairs, pcall, select, setmetatable = type, tostring, pairs, pcall, select, setmetatable
  local co_resume, co_status, co_close = coroutine.resume, coroutine.status, coroutine.close
  local co_isyieldable = coroutine.isyieldable
  local tunpack, tpack = table.unpack, table.pack

  local M = {}
  local SELF = cfg.tid
  local HOSTS = cfg.hosts
  local ZERO_PID, EV_CANCEL, EV_LINK_DOWN = W.ZERO_PID, W.EV_CANCEL, W.EV_LINK_DOWN
  -- Unread messages a process may hold when its host sets no `max_mailbox` (the registry's
  -- default, src/registry/schema.ts, says why 100,000).
  local DEFAULT_MAX_MAILBOX = 100000

  local function E(kind, msg) return nil, err(kind, msg, false) end
  local function wall_s() return H.wall() / 1e9 end

  ---------------------------------------------------------------------------------------------
  -- The Lua body.

  -- Run an entry's chunk once, as process P, to get its module.
  -- Budget: hooks are per coroutine. Spawned from a process, the chunk runs in the spawner's
  -- (hooked) coroutine and the hook charges run.cp, the new process. Started by a frame (a spawn
  -- from the main thread or another host, a queued spawn, an upgrade), the kernel's main thread
  -- has no hook, and `while true do end` at a module's top level held the worker for ever: the
  -- chunk then runs in a hooked coroutine of its own, and must not yield (it runs synchronously).
  -- That coroutine then goes on as P's main thread (one coroutine per process, not two: a job
  -- from JS is such a spawn, and a coroutine is ~1 KB of its ~4.7 KB allocated per job): it is
  -- resumed with the chunk's function, its environment and main's arguments (args, n: the spawn's,
  -- held in the coroutine's frame); the chunk's function returns its module by yielding
  -- CHUNK_DONE; the main thread's first resume passes main (T.a1: sched.lua new_thread with n = 1,
  -- a record of 4 keys), which it tail-calls with the arguments (so a traceback of the main thread
  -- shows no frame of this wrapper). Session 7 handed main and the arguments over by a resume of
  -- its own in between (a third resume per job); session 8 passes the arguments with the chunk
  -- and main in the first resume's one value: one resume and one call fewer per job, the same
  -- bytes. Measured with the collector stopped (Lua heap bytes allocated per process, Node 24,
  -- ours): a job from JS 4,686 -> 3,408 (one worker; 4,707 -> 3,418 on two), a queued spawn of a
  -- spawn+exit driver on two workers 4,628 -> 3,332 (with the shared opts/pre of the frame spawn).
  -- An upgrade (upgrade.lua) instantiates without arguments and starts its own thread: the
  -- coroutine it does not take is left to the collector, suspended after CHUNK_DONE.
  -- -> ok, module | error, and that coroutine when there is one
  local CHUNK_DONE = {}
  local co_yield = coroutine.yield
  local function chunk_then_main(f, env, args, n)
    local main = co_yield(CHUNK_DONE, (f(env)))
    return main(tunpack(args, 1, n))
  end
  -- The same with main's arguments as values (n of them, at most two): the C start of a queued
  -- spawn (native/lua/lqspawn.c), whose flat record holds no arguments table.
  local function chunk_then_args(f, env, n, a1, a2)
    local main = co_yield(CHUNK_DONE, (f(env)))
    if n == 0 then return main() elseif n == 1 then return main(a1) end
    return main(a1, a2)
  end
  local TOP_YIELDED = "the module's top-level code yielded; it runs once, synchronously"
  local HUGE = math.huge
  local function run_chunk(f, env, P, args, n)
    if co_isyieldable() then return pcall(f, env) end
    P.red = 0
    run.share_at = HUGE -- a module's top level never shares the queue (share_tasks)
    local co = hook(take_co(chunk_then_main, P), P)
    local ok, done, mod = co_resume(co, f, env, args, n)
    if not ok then return false, done end
    if done ~= CHUNK_DONE then
      co_close(co)
      return false, TOP_YIELDED
    end
    return true, mod, co
  end

  -- Why an entry's module did not give P a main function -> error kind, message. ok: the chunk
  -- ran and returned no such method; else it raised mod.
  local function instantiate_error(Ent, P, ok, mod)
    if ok then return "NotFound", 'method "' .. tostring(Ent.method) .. '" not found in module' end
    if memory_error(mod) then return "Internal", errmsg(memory_error(mod)) end
    return "Internal", "failed to create process: " .. (is_error(mod) and errmsg(mod) or user_tostring(P, mod))
  end

  -- -> main, the coroutine its main thread may run in (run_chunk's; nil: make one) | nil, error
  -- kind, message
  local function lua_instantiate(Ent, f, P, args, n)
    local prevP = run.cp
    run.cp = P
    local ok, mod, co
    -- (run_chunk's first case inline: a spawn from a process, the common one)
    if co_isyieldable() then ok, mod = pcall(f, make_env(Ent, P))
    else ok, mod, co = run_chunk(f, make_env(Ent, P), P, args, n) end
    run.cp = prevP
    if not ok then return nil, instantiate_error(Ent, P, false, mod) end
    local main = mod
    if Ent.method and Ent.method ~= "" then
      main = type(mod) == "table" and mod[Ent.method] or nil
      if type(main) ~= "function" and type(mod) == "function" then main = mod end
    end
    if type(main) ~= "function" then
      if co then co_close(co) end
      return nil, instantiate_error(Ent, P, true)
    end
    return main, co
  end

  -- A function frame keeps all its results (funcs.call returns them all): several, with no error
  -- in second place, are kept in P.results, which lifecycle.lua's thread_done copies into the
  -- EXIT's result.values; the main thread still returns the first two, as any body does. The
  -- results are packed into a table only when there are several: a job from JS (a function frame
  -- returning one value) allocated that table for nothing on every call.
  local function keep_results(P, ...)
    local r1, r2 = ...
    if select("#", ...) > 1 and not (type(r2) == "string" or is_error(r2)) then P.results = tpack(...) end
    return r1, r2
  end
  local function fn_main(P, main)
    return function(...) return keep_results(P, main(...)) end
  end
  local function fn_instantiate(Ent, f, P, args, n)
    local main, kind, ierr = lua_instantiate(Ent, f, P, args, n)
    if not main then return nil, kind, ierr end
    return fn_main(P, main), kind -- (kind: the main thread's coroutine, on success)
  end

  local function host_itself(id, host) return host end
  local lua_body = { prepare = compile, instantiate = lua_instantiate, queueable = true, pid_host = host_itself }
  -- A function entry's PID names the entry and the worker that minted it ("<id>#lua.<tid>"):
  -- the worker running it, or, queued, its home (any worker of the host may take it, so many
  -- concurrent calls spread over the host).
  local fn_body = { prepare = compile, instantiate = fn_instantiate, queueable = true,
    pid_host = function(id, host, tid) return fn_host(id, tid) end }
  local bodies = { ["process.lua"] = lua_body, ["function.lua"] = fn_body }
  -- Bodies of other kinds, loaded by init.lua (one line each in spawn's deps).
  for kind, body in pairs(deps.bodies or {}) do bodies[kind] = body end
  M.bodies = bodies
  -- The body entry Ent runs in, or nil (not a process kind).
  function M.body_of(Ent) return Ent and bodies[Ent.kind] end

  ---------------------------------------------------------------------------------------------
  -- Starting a process on this worker.
  -- The record of a process: 16 hash slots (416 bytes, and 80 for the array part's five figures)
  -- for an idle one, not 32 (800). A Lua table's hash part is a power of two, so what counts is the
  -- number of keys the record holds itself: the constructor below names 9 (nil fields count too,
  -- so none is listed), and a process that has run and blocked in its inbox adds main, inbox and
  -- nsubs (12). Everything else starts as
  -- a default read through the record's metatable, one per host (`proc_meta`): the host's figures
  -- (budget, max_mailbox, terminal), the counters (seq, unread, sendb, npending, nsubs), the flags
  -- (doomed, trap_links), the shared empty sets (pids.lua NONE) and queue (channel.lua EMPTYQ). A
  -- write makes the field the record's own (the sets through set_of), so only what a process
  -- uses costs it; a busy one passes 16 keys and rehashes to 32 slots once. A monitored process
  -- that returns holds 14 at the end (the 9 below, main, watchers, exit_value, finalized,
  -- notified); before session 12 it held 16 (with `st` and `threads`), and one more key would
  -- rehash every such exit to 32 slots (a 768-byte allocation), which is why the resume's sharing
  -- mark lives in `run` (sched.lua), not here. Rejected: the counters in an array like `st` as
  -- keys of the record, or mailbox.lua's (`seq`, `unread`, ...) in its array part (every reader
  -- would index by number, for no table saved: they are keys only once written). Measured with
  -- the hold bench: docs/design/native-core.md, "Memory per process". Nothing in the kernel reads
  -- a record with rawget, next or pairs, nor by number but the five figures (new_proc).
  local proc_meta = setmetatable({}, { __mode = "k" }) -- host record -> metatable of its processes
  local function meta_of(hostrec)
    local mt = proc_meta[hostrec]
    if mt then return mt end
    local mr = hostrec.max_reductions
    local mb = hostrec.max_mailbox or DEFAULT_MAX_MAILBOX
    mt = { __index = {
      budget = mr and mr > 0 and mr or false, max_mailbox = mb > 0 and mb or math.huge,
      terminal = hostrec.kind == "terminal.host",
      seq = 0, unread = 0, sendb = 0, npending = 0, nsubs = 0, doomed = false, trap_links = false,
      -- the sets start as the shared empty one (pids.lua NONE; set_of makes them P's own)
      subs = NONE, watchers = NONE, monitoring = NONE, links = NONE, names = NONE,
      unrouted = EMPTYQ,
    } }
    proc_meta[hostrec] = mt
    return mt
  end

  local function new_proc(pid, uniq, id, host, hostrec, Ent)
    return setmetatable({
      -- the process table's figures (ptable.lua), the record's array part: [1] resumes, [2] ms
      -- run, [3] Lua heap growth over its resumes (KiB), [4] messages sent, [5] start
      -- (wall-clock seconds). Not five keys: they took the record past 32 hash slots, to 64
      -- (+768 bytes per process, measured with the hold bench: 3,688 -> 4,456 bytes). Not a
      -- table of their own (`st`, until session 12): a table header (32 bytes) and an object
      -- for the collector per spawn, and a key of the record. The array part holds nothing
      -- else: nothing in the kernel indexes a record by number but these readers (sched.lua's
      -- resume, process.lua's and lsend.c's send, ptable.lua).
      0, 0, 0, 0, step_wall(),
      -- nine keys: a hash part of 16 slots from the start (eight would make 8, and the record's
      -- rehash to 16 at its ninth key would also size the array part for 8 figures)
      pid = pid, uniq = uniq, id = id, host = host, alive = true, entry = Ent,
      nthreads = 0, nrun = 0, -- (threads: the threads beside the main one, sched.lua new_thread)
      red = 0, -- written by every resume (sched.lua resume_thread)
    }, proc_meta[hostrec] or meta_of(hostrec))
  end

  local validated = {} -- entry id -> true once it instantiated here (placement needs that first)
  local HOST = cfg.host -- this worker's host
  local MULTI = #HOSTS[HOST].tids > 1
  -- Instructions a resume computes before it shares this worker's queue (share_tasks, below):
  -- ~10 ms of Lua (about 120M instructions a second), above the 1M after which a process that
  -- calls receive or send yields anyway (sched.lua YIELD_AFTER). So a resume that talks never
  -- shares (its messages are handled by its own worker's processes, likely the queued ones); only
  -- one that computes without touching the kernel does. Measured with 100k (~1 ms): the tail of a
  -- spawn+exit driver (a thousand queued EXITs read in one resume) shared its last children, and
  -- 2,000-11,000 frames per run crossed workers in the `parallel` bench.
  local SHARE_AFTER = 1200000
  M.SHARE_AFTER = SHARE_AFTER
  -- Set once the runtime's shutdown began: a process that starts afterwards (a queued spawn, or
  -- one whose spawn request arrived late) gets the same CANCEL.
  local shutdown_deadline = nil

  -- Start entry `id` on this worker, watched by `watcher` and linked to `link` (PIDs or nil), in
  -- context `ctx` (nil: none). `pid`, `uniq`: minted elsewhere (placed, queued), else nil (minted
  -- here). Every spawn path calls this with its fields, so none builds an options table for it.
  -- -> pid | nil, err
  local function start_here(id, host, watcher, link, ctx, n, args, pid, uniq)
    local Ent = entries[id]
    local body = Ent and bodies[Ent.kind]
    -- the messages name what was not found (Wippy's own say only "factory not found")
    if not body then return E("NotFound", "factory not found: " .. tostring(id)) end
    local hostrec = HOSTS[host]
    if not hostrec then return E("NotFound", "host not found: " .. tostring(host)) end
    local code, cerr = body.prepare(Ent, id)
    if not code then return E("Internal", "failed to create process: " .. tostring(cerr)) end
    local minted = pid ~= nil
    if not minted then
      uniq = H.pid_alloc(SELF)
      local ph = body.pid_host
      pid = fmt_pid(ph == host_itself and host or ph(id, host, SELF), uniq)
    end
    local P = new_proc(pid, uniq, id, host, hostrec, Ent) -- budget, max_mailbox, terminal: the host's (meta_of)
    if P.terminal then P.args = { n = n, tunpack(args, 1, n) } end
    if hostrec.security and not (ctx and (ctx.actor or ctx.scope or ctx.security_config)) then
      ctx = { values = ctx and ctx.values, options = ctx and ctx.options, security_config = hostrec.security }
    end
    if ctx then
      P.ctx = ctx -- (not a nil: a store of nil into a key the record lacks takes the VM's slow path)
      if ctx.security_config then
        -- a service / host security block (lifecycle.security): build actor and scope here
        local a, sc, serr = security.from_config(ctx.security_config)
        if serr then H.dead(uniq); return nil, serr end
        ctx.security_config = nil
        ctx.actor, ctx.scope = security.encode_actor(a), security.encode_scope(sc)
      end
      P.ctx_actor, P.ctx_scope = security.decode_ctx(ctx)
    end
    local main, kind, ierr = body.instantiate(Ent, code, P, args, n)
    if not main then
      H.dead(uniq)
      return E(kind, ierr)
    end
    local co = kind -- on success: the coroutine the chunk ran in, waiting to run main (run_chunk)
    add(P)
    if not minted then count_load(1) end
    validated[id] = true
    -- the watcher as itself, no set (pids.lua watch); the link in a set made with its member (a
    -- constructor: no rehash of an empty table, as set_of would)
    if watcher then P.watchers = watcher end
    if link then P.links = { [link] = true } end
    -- the main thread, queued (new_thread with n)
    if co then
      P.main = new_thread(P, nil, co, 1, main) -- (run_chunk's coroutine holds the arguments)
    elseif n <= 2 then
      -- main is the thread's body and its first resume passes the arguments (T.a1, T.a2, as any
      -- wake-up's values): no closure over main and args (~150 bytes), no table.unpack
      P.main = new_thread(P, main, nil, n, args[1], args[2])
    else
      P.main = new_thread(P, function() return main(tunpack(args, 1, n)) end, nil, 0)
    end
    if shutdown_deadline then
      deliver_event(P, { kind = EV_CANCEL, from = ZERO_PID, at = wall_s(), deadline = shutdown_deadline,
        reason = "scheduler shutdown" })
    end
    return pid
  end
  -- On our Lua module a spawn from a process's code in the common case (process.spawn,
  -- spawn_monitored, spawn_linked, spawn_linked_monitored of a process.lua entry on the caller's
  -- own host of one worker, at most two arguments, no security context) runs in C
  -- (native/lua/lspawn.c spawner: process.lua's spawn variant, spawn_from and start_here in one
  -- call); every other case is the Lua above. It finds these locals by name among probe's
  -- upvalues; c_failed is start_here's end when the C's instantiate failed (ok: the chunk ran but
  -- gave no main; else it raised mod).
  local function c_failed(Ent, P, uniq, ok, mod)
    local kind, msg = instantiate_error(Ent, P, ok, mod)
    H.dead(uniq)
    return E(kind, msg)
  end
  function M.probe()
    return HOSTS, HOST, MULTI, entries, bodies, lua_body, validated, shutdown_deadline, H, SELF, proc_meta,
      meta_of, add, fmt_pid, new_thread, NONE, run, make_env, compile, c_failed
  end

  -- The same with its options in tables (the kernel tests' entry point): opts { watcher, link,
  -- ctx } or nil, pre { pid, uniq } or nil.
  function M.spawn_local(id, host, opts, n, args, pre)
    local o = opts or NONE
    return start_here(id, host, o.watcher, o.link, o.ctx, n, args, pre and pre.pid, pre and pre.uniq)
  end

  -- Round-robin over a host's worker threads.
  local rr = {}
  local function pick_tid(hostrec, host)
    local tids = hostrec.tids
    if #tids == 0 then return nil end -- every worker of the host died and none was replaced
    local i = (rr[host] or 0) % #tids + 1
    rr[host] = i
    return tids[i]
  end

  -- Queue a spawn in this worker's Lua-side list (taskq.lua; the caller asked taskq.room()): the
  -- PID is minted here, owned by this worker, and nothing is encoded until a sibling may take it.
  -- The C start (lqspawn.c tstart; init.lua gives it on our module, else nil): the Lua take's flat
  -- records start in C as well (take_task), and queue_local queues flat records for it.
  local c_tstart = nil
  function M.set_tstart(f) c_tstart = f end

  -- Where the C start exists (lqspawn.c tstart, our module) a spawn of the C's own case — no
  -- context, at most two arguments — is queued as the C's flat record (its form: lqspawn.c's top),
  -- so it starts in C as the C-queued ones do. These are the spawns the C hands to this path
  -- because a report to the directory is due (room(): one in LISTED_EVERY of a growing list);
  -- as W.tasks they started by the Lua start_task (~800 VM instructions). Session 15.
  local function queue_local(id, host, watcher, link, ctx, n, args)
    local uniq = H.pid_alloc(SELF)
    local pid = fmt_pid(bodies[entries[id].kind].pid_host(id, host, SELF), uniq)
    if c_tstart and not ctx and n <= 2 and host == HOST then
      taskq.push({ uniq, pid, id, watcher or false, link or false, n, args[1], args[2] })
      ready_start()
      return pid
    end
    local pargs = { n = n }
    for i = 1, n do pargs[i] = args[i] end
    taskq.push(W.task(pid, uniq, id, host, watcher or false, link or false, ctx or false, pargs, SELF))
    ready_start() -- its turn in the run queue (sched.lua START)
    return pid
  end

  -- Queue a spawn on the host's run queues instead of starting it: the PID is minted here, owned
  -- by this worker (its home), and the process starts on whichever worker takes the descriptor
  -- first (start_task). -> pid | nil (not queued: too large, full)
  local function spawn_queued(id, host, watcher, link, ctx, n, args, target)
    local uniq = H.pid_alloc(SELF)
    local pid = fmt_pid(bodies[entries[id].kind].pid_host(id, host, SELF), uniq)
    local pargs = { n = n }
    for i = 1, n do pargs[i] = args[i] end
    local d = encode(W.task(pid, uniq, id, host, watcher or false, link or false, ctx or false, pargs, SELF))
    if d and H.task_push(d, target) then
      return pid
    end
    H.dead(uniq)
    return nil
  end

  -- What P keeps about its new child `pid`: the child in P.monitoring (monitor) and P.links (link),
  -- and whatever the caller records (on_child(pid): exec.lua's wait). A spawn on another host
  -- records it as the answer is handled (rpc.lua call_settled), not when P resumes: in between,
  -- the child may already have exited and P heard it (an EXIT, a LINK_DOWN, an "ul" of a normal
  -- exit), and an entry recorded after that would stay for ever, so a later worker death would
  -- synthesize that EXIT or LINK_DOWN a second time (frames.lua handlers.wdown); or P may have
  -- died, and the child would never hear of it (an exec callee never cancelled). So:
  --   - what P heard while a spawn of this kind was out is kept in P.heard (lifecycle.lua, for
  --     the child's events that take another path than the answer: through P's home when P runs
  --     away from it); a child P already heard of is not recorded;
  --   - P's exit already told (P.notified): the child is told now, as notify_exit would have
  --     (a link: LINK_DOWN if P failed, else unlinked; a monitor: "um").
  local function adopt(P, pid, monitor, link, on_child)
    local h = P.heard
    if not (h and h[pid]) then
      if P.notified then
        if monitor then topo(pid, "um", P.pid) end
        if link then
          if P.exit_err ~= nil then
            send_event(pid, { kind = EV_LINK_DOWN, from = P.pid, at = wall_s(), result = { error = P.exit_err } })
          else
            topo(pid, "ul", P.pid)
          end
        end
      else
        if monitor then set_of(P, "monitoring")[pid] = true end
        if link then set_of(P, "links")[pid] = true end
      end
    end
    if on_child then on_child(pid) end
  end

  -- Spawn from process P (the caller). monitor, link: flags. ctx nil = inherit P's. watcher: an
  -- extra watcher PID (exec). `pin`: start it on this worker (the caller records something about
  -- it that only this worker can hold). on_child(pid): called once the child exists, before P
  -- resumes, even if P died meanwhile (adopt). -> pid | nil, err
  local function spawn_from(P, id, host, monitor, link, n, args, ctx, watcher, pin, on_child)
    local hostrec = HOSTS[host]
    if not hostrec then return E("NotFound", "host not found: " .. tostring(host)) end
    if ctx == nil then ctx = P.ctx end
    watcher = watcher or (monitor and P.pid or nil)
    local linkp = link and P.pid or nil
    local pid, serr
    if host == HOST then
      local tid = SELF
      local Ent = entries[id]
      if MULTI and validated[id] and not pin and bodies[Ent.kind].queueable then
        run.share_at = P.red + SHARE_AFTER -- a spawn loop is not computing (share_tasks)
        if taskq.room() then
          pid = queue_local(id, host, watcher, linkp, ctx, n, args)
        else
          pid = spawn_queued(id, host, watcher, linkp, ctx, n, args, SELF)
        end
        if not pid then
          tid = H.place() -- (sends the step's live count first: init.lua, lifecycle.lua load_first)
          if tid ~= SELF then
            pid = spawn_queued(id, host, watcher, linkp, ctx, n, args, tid)
            if pid then H.load_add(-1, tid) end -- place() counted it there; it counts where it starts
          end
        end
      end
      if pid then
        -- queued
      elseif tid == SELF then
        pid, serr = start_here(id, host, watcher, linkp, ctx, n, args)
      else
        local uniq = H.pid_alloc(tid)
        pid = fmt_pid(bodies[Ent.kind].pid_host(id, host, tid), uniq)
        local pargs = { n = n }
        for i = 1, n do pargs[i] = args[i] end
        local posted, perr = post(tid, W.sp(pid, uniq, id, host, watcher or false, linkp or false, ctx or false, pargs))
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
      -- P.heard: { n = spawns out, [pid] = true for each pid P heard end or unlink meanwhile }
      local watch = monitor or link
      if watch then
        local h = P.heard
        if h then h.n = h.n + 1 else P.heard = { n = 1 } end
      end
      return call_settled(tid, function(cpid)
        if cpid then adopt(P, cpid, monitor, link, on_child) end
        if watch then
          local h = P.heard
          h.n = h.n - 1
          if h.n == 0 then P.heard = nil end
        end
      end, "s", id, host, watcher or false, link and true or false, ctx or false, pargs)
    end
    if not pid then return nil, serr end
    if on_child == nil and P.heard == nil and not P.notified then
      -- adopt's common case inline (nothing heard, P alive, no caller record)
      if monitor then
        local m = P.monitoring
        if m == NONE then P.monitoring = { [pid] = true } else m[pid] = true end
      end
      if link then
        local l = P.links
        if l == NONE then P.links = { [pid] = true } else l[pid] = true end
      end
    else
      adopt(P, pid, monitor, link, on_child)
    end
    return pid
  end
  M.spawn_from = spawn_from

  ---------------------------------------------------------------------------------------------
  -- Spawn frames, early frames, forwarding, queued spawns.
  local early = {}   -- pid -> frames that arrived before its process started here
  local forward = {} -- pid -> worker running it (this worker is its home)
  M.early, M.forward = early, forward

  -- Is pid minted for this worker but not started yet (its "sp" frame is still on its way)?
  function M.pending_here(pid)
    local host, uniq = parse_pid(pid)
    if not host then return false end
    local tid, alive = H.route(uniq)
    return alive and tid == SELF
  end

  -- {"s", reply_tid, reply_pid, req, id, host, watcher, link, ctx, args}: a spawn request from
  -- another host or from JS, answered with {"rep", reply_pid, req, pid, err}. `watcher` is a PID
  -- or false (the requester passes its own PID to monitor the child).
  function M.frame_s(f)
    local reply_tid, reply_pid, req = f[S_REPLY_TID], f[S_REPLY_PID], f[S_REQ]
    local args = f[S_ARGS] or { n = 0 }
    local pid, serr = start_here(f[S_ID], f[S_HOST], f[S_WATCHER] or nil, f[S_LINK] and reply_pid or nil,
      f[S_CTX] or nil, args.n or #args, args)
    post(reply_tid, W.rep(reply_pid, req, pid, serr))
  end

  -- {"sp", pid, uniq, id, host, watcher, link, ctx, args}: a process placed on this worker.
  function M.frame_sp(f)
    local pid, uniq, id, host = f[SP_PID], f[SP_UNIQ], f[SP_ID], f[SP_HOST]
    local args = f[SP_ARGS] or { n = 0 }
    local watcher, link = f[SP_WATCHER] or nil, f[SP_LINK] or nil
    -- (a spawn started by a frame or a queued task, its PID minted elsewhere, calls start_here
    -- itself: frame_spawn, a wrapper computing `n`, was one call per job more until session 9)
    local ok, serr = start_here(id, host, watcher, link, f[SP_CTX] or nil, args.n or #args, args, pid, uniq)
    local queued = early[pid]
    if queued then early[pid] = nil end -- (no nil store into a missing key: the VM's slow path)
    if not ok then
      -- It instantiated on the spawner's worker but not here: an error exit, as if it crashed.
      start_failed(pid, uniq, serr, { watcher }, { link }, id, host)
      return
    end
    if queued then for i = 1, #queued do dispatch(queued[i]) end end
  end

  -- {"spj", ...the fields of "sp"}: a job from JS placed on this worker of a host of several
  -- workers with the budget hook (src/runtime/control.ts, "Admission"). It is queued as a spawn of
  -- this worker's own would be, in the Lua-side list (taskq.push_job: the frame itself is the
  -- record; counted in the load by the main thread, taskq.lua): it starts at its turn in the run
  -- queue (take_task: as the "sp" frame it would have been), and while a process before it
  -- computes the sharing rule can still hand it to a sibling. Else (the list at the mark) it
  -- starts now, as "sp". On our module push_job's inline case and take_task's for a job run in C
  -- (native/lua/ljob.c, installed by sched.lua and init.lua; session 10), the rest here.
  local push_job = MULTI and taskq and taskq.push_job
  function M.frame_spj(f)
    if not (push_job and push_job(f)) then return M.frame_sp(f) end
    ready_start()
  end

  -- {"bound", pid, runner}: a queued spawn of ours started on `runner`.
  function M.frame_bound(f)
    local pid, runner = f[BOUND_PID], f[BOUND_RUNNER]
    forward[pid] = runner
    local q = early[pid]
    if q then
      early[pid] = nil
      for i = 1, #q do post(runner, q[i]) end
    end
  end
  function M.frame_unfwd(f) forward[f[UNFWD_PID]] = nil end

  -- Start a queued spawn (a W.task record: from this worker's Lua-side list, `mine`, or decoded
  -- from the run queues) on this worker. A job from JS decoded from the run queues (published or
  -- shared: taskq.lua uncounted it) is counted here like any other.
  local function start_task(t, mine)
    local pid, uniq, id, host, watcher, link, ctx, args, home =
      t[TASK_PID], t[TASK_UNIQ], t[TASK_ID], t[TASK_HOST], t[TASK_WATCHER] or nil, t[TASK_LINK] or nil,
      t[TASK_CTX] or nil, t[TASK_ARGS], t[TASK_HOME]
    -- Its home worker died (the main thread cleared the bit): its watchers were told already. Not
    -- asked for one of ours from the Lua-side list: its home is this worker, alive.
    if not mine then
      local _, alive = H.route(uniq)
      if not alive then return end
    end
    -- Started away from its home: the directory records where it runs (worker recovery).
    if home ~= SELF then H.set_runner(uniq) end
    count_load(1)
    local ok, serr = start_here(id, host, watcher, link, ctx, args.n or #args, args, pid, uniq)
    if home ~= SELF then
      local P = procs[pid] -- nil if it failed to start
      if P then P.home = home end
      post(home, W.bound(pid, SELF))
      if not P then post(home, W.unfwd(pid)) end
    else
      local q = early[pid]
      if q then
        early[pid] = nil
        if ok then for i = 1, #q do dispatch(q[i]) end end
      end
    end
    if not ok then
      -- It instantiated on the spawner's worker but not here: an error exit, as if it crashed.
      start_failed(pid, uniq, serr, { watcher }, { link }, id, host)
      return
    end
  end

  -- A spawn of this worker's own queued by the C (native/lua/lqspawn.c: a flat record in
  -- taskq.lua's list, { uniq, pid, id, watcher, link, n, a1, a2 }), started by the Lua: start_task
  -- of its W.task (taskq.lua wire_of). The C's start (tstart) calls it for every case it does not
  -- own, and take_task for one the Lua take returns.
  local function start_flat(t)
    start_task(taskq.wire_of(t), true)
  end

  -- The C start's error exits (lqspawn.c tstart: instantiate failed): lua_instantiate's (the main
  -- thread's coroutine closed when the chunk gave no main), start_here's (H.dead) and start_task's
  -- (start_failed: an error exit, as if it crashed). ok: the chunk ran but gave no main; else
  -- it raised mod (or yielded: mod is TOP_YIELDED).
  local function q_failed(Ent, P, ok, mod, co, watcher, link)
    if co then co_close(co) end
    local kind, msg = instantiate_error(Ent, P, ok, mod)
    local uniq = P.uniq
    H.dead(uniq)
    start_failed(P.pid, uniq, err(kind, msg, false), { watcher or nil }, { link or nil }, P.id, P.host)
  end

  -- The locals lqspawn.c finds by name among qprobe's upvalues (the spawner's probes: init.lua),
  -- and its start (c_tstart, above).
  local frame_sp = M.frame_sp
  function M.qprobe()
    return early, chunk_then_args, CHUNK_DONE, TOP_YIELDED, q_failed, start_flat, co_close, SHARE_AFTER,
      frame_sp, fn_body, fn_main
  end

  -- Sharing the queue while a resume computes (the budget hook calls share_tasks, sched.lua). The
  -- spawns queued here wait until this worker ends the current resume; a sibling takes them by
  -- itself only when they pass the backlog mark (src/host/placement.ts), so a process that
  -- computes for SHARE_AFTER VM instructions since its resume began or since its last queued spawn
  -- without yielding hands every other queued spawn (half, oldest first, order kept on each side)
  -- to a sibling's inject queue (taskq.share), and again after twice as many instructions. Counted
  -- in instructions, not time: a spawn loop slowed by a collection or by the OS never shares (its
  -- spawns reset the count), a loop that computes always does, on any machine load.
  local share_rr = 0
  local function sibling()
    local tids = HOSTS[cfg.host].tids
    for _ = 1, #tids do
      share_rr = share_rr % #tids + 1
      local t = tids[share_rr]
      if t ~= SELF then return t end
    end
    return nil
  end

  -- P's resume has computed `P.red` instructions: share this worker's queued spawns. nil on a
  -- one-worker host.
  function M.share_tasks(P)
    run.share_at = P.red * 2
    local to = sibling()
    if to then taskq.share(to) end
  end
  if not MULTI then M.share_tasks = nil end

  -- The scheduler's hook into the run queues: start the next queued spawn, if any. `steal`:
  -- this worker has nothing else to run, so it may rob saturated siblings. nil on a one-worker
  -- host. queued_here: spawns wait that only take_task starts (the step is not over).
  if MULTI then
    function M.take_task(steal)
      local t, mine, job = taskq.take(steal)
      if not t then return false end
      -- a job from the list: its "spj" frame, started as "sp" (this worker its home, counted in
      -- the load by the main thread: start_task's branches for it are frame_sp's steps)
      if job or type(t[1]) == "number" then (c_tstart or (job and M.frame_sp or start_flat))(t)
      else start_task(t, mine) end
      return true
    end
    M.queued_here, M.queued_local = taskq.pending, taskq.has_local
  end

  ---------------------------------------------------------------------------------------------
  -- Runtime shutdown: every process gets CANCEL ("scheduler shutdown") and a deadline (the CANCEL
  -- handler terminates it if still alive then); so does a process that starts afterwards.
  function M.shutdown(ms)
    local deadline = wall_s() + (ms or 10000) / 1000
    shutdown_deadline = deadline
    for _, P in pairs(procs) do
      if P.alive then
        deliver_event(P, { kind = EV_CANCEL, from = ZERO_PID, at = wall_s(), deadline = deadline,
          reason = "scheduler shutdown" })
      end
    end
  end

  -- Worker `dead` is gone: forget what was forwarded to it, and early frames for PIDs now dead.
  function M.worker_down(dead)
    for pid, runner in pairs(forward) do if runner == dead then forward[pid] = nil end end
    for pid in pairs(early) do
      local host, uniq = parse_pid(pid)
      if not host or not select(2, H.route(uniq)) then early[pid] = nil end
    end
  end

  return M
end
