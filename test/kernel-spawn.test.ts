// src/lua/kernel/spawn.lua on its own, under fakes (test/lua/kernel_fake.lua): starting an entry
// here (PID, options, errors), the bodies[kind] seam, queued and placed spawns on a multi-worker
// host (function entries too; in the Lua-side list of taskq.lua on a host with the budget hook),
// early frames and forwarding, shutdown, a function body keeping its results; and exec.lua's
// exec_start on top of it.
import { test } from 'node:test';
import { withKernelModules } from './helpers/kernel-module.js';

const SETUP = String.raw`
  run = { cur = nil, cp = nil }
  readied, threads, events, exec_waits, dispatched = {}, {}, {}, {}, {}
  -- exec.lua on top of a spawn module (exec_start spawns through spawn_from)
  function setup_exec(S)
    return module("exec")({
      H = F.H, fmt_pid = function(host, uniq) return string.format("{%s|0x%05x}", host, uniq) end,
      locate = function(pid) local P = F.procs[pid]; if P then return "local", P end; return "remote", 2 end,
      post = F.post, spawn_from = S.spawn_from,
      deliver_event = function(P, ev) events[#events + 1] = { P = P, ev = ev } end,
      exec_waits = exec_waits, run = run, ready = function(T) readied[#readied + 1] = T end,
      park = function() end, err = F.err, error_message = F.error_message, wire = module("wire")(),
    })
  end
  -- limits: extra fields of the host record (max_reductions: the budget hook, so queued spawns
  -- stay in the Lua-side list of taskq.lua)
  -- extra: more deps (step_wall, count_load: lifecycle.lua's, see step_counted below)
  function setup(tids, entries, bodies, limits, extra)
    local hostrec = { kind = "process.host", tids = tids }
    for k, v in pairs(limits or {}) do hostrec[k] = v end
    local cfg = { tid = 1, host = "app:host", hosts = { ["app:host"] = hostrec } }
    local deps = {
      H = F.H, cfg = cfg, entries = entries,
      taskq = module("taskq")({ H = F.H, cfg = cfg, encode = F.encode, decode = F.decode, wire = module("wire")() }),
      procs = F.procs, add = function(P) F.procs[P.pid] = P; F.logf("add %s", P.pid) end,
      fmt_pid = function(host, uniq) return string.format("{%s|0x%05x}", host, uniq) end,
      parse_pid = function(s)
        local h, u = s:match("^{(.*)|0x(%x+)}$")
        if h then return h, tonumber(u, 16) end
      end,
      post = F.post, EMPTYQ = F.EMPTYQ, NONE = F.NONE, set_of = F.set_of,
      locate = function(pid) local P = F.procs[pid]; if P then return "local", P end; return "remote", 2 end,
      run = run,
      -- as sched.lua's: a main thread of up to two arguments gets them in its first resume
      -- (n, a1, a2), so T.fn() here is that first resume; with n it is also queued (readied)
      new_thread = function(P, fn, co, n, a1, a2)
        local T = { proc = P, fn = fn }
        if n == 1 then T.fn = function() return fn(a1) end
        elseif n == 2 then T.fn = function() return fn(a1, a2) end end
        threads[#threads + 1] = T
        if n ~= nil then readied[#readied + 1] = T end
        return T
      end,
      ready = function(T) readied[#readied + 1] = T end,
      park = function() end, hook = function(co) return co end,
      ready_start = function() F.logf("ready_start") end,
      compile = function(E, id) return load("local _ENV = ...; " .. E.source, "@" .. id, "t") end,
      make_env = function() return setmetatable({}, { __index = _G }) end,
      encode = F.encode, decode = F.decode,
      err = F.err, is_error = F.is_error, error_message = F.error_message, memory_error = F.memory_error,
      user_tostring = function(P, v) return tostring(v) end,
      deliver_event = function(P, ev) events[#events + 1] = { P = P, ev = ev } end,
      start_failed = function(pid, uniq, e) F.logf("start_failed %s %s", pid, e.message) end,
      security = {},
      call_settled = function(tid, settle, ...) F.logf("rpc %s", F.show({ tid, ... })) end,
      wire = module("wire")(), bodies = bodies,
      dispatch = function(f) dispatched[#dispatched + 1] = f[1] .. ":" .. tostring(f[3]) end,
    }
    for k, v in pairs(extra or {}) do deps[k] = v end
    return module("spawn")(deps)
  end
  -- The kernel's per-step clock and live count (init.lua: run.wall, run.dload, reset and sent by
  -- __step): lifecycle.lua's step_wall and count_load, and a count of H.wall calls.
  walls = 0
  function step_counted()
    run.wall, run.dload = 0, 0
    local wall = F.H.wall
    F.H.wall = function() walls = walls + 1; return wall() end
    local L = module("lifecycle")({ H = F.H, run = run, wire = module("wire")() })
    return { step_wall = L.step_wall, count_load = L.count_load }
  end
  ENTRIES = {
    ["app:echo"] = { kind = "process.lua", source = "return { main = function(a, b) return a + b end }", method = "main" },
    ["app:fn"] = { kind = "function.lua", source = "return { run = function() end }", method = "run" },
    ["app:nomethod"] = { kind = "process.lua", source = "return {}", method = "main" },
    ["app:broken"] = { kind = "process.lua", source = "return {", method = "main" },
    ["app:lib"] = { kind = "library.lua", source = "return {}" },
  }
`;
const run = async (code: string): Promise<void> => { await withKernelModules(['spawn', 'taskq', 'exec', 'wire', 'lifecycle'], SETUP + code); };

test('spawn_local starts an entry here: PID, watcher and link, main thread with the arguments', () =>
  run(String.raw`
    local S = setup({ 1 }, ENTRIES)
    local pid = S.spawn_local("app:echo", "app:host", { watcher = "{app|0x00077}", link = "{app|0x00078}" }, 2, { 40, 2 })
    F.eq(pid, "{app:host|0x00001}")
    local P = F.procs[pid]
    F.eq(P.watchers, "{app|0x00077}", "the one watcher itself (pids.lua watch)"); F.eq(P.links["{app|0x00078}"], true)
    F.eq(#readied, 1); F.eq(readied[1], P.main)
    F.eq(P.main.fn(), 42, "the main thread calls the method with the arguments")
    F.has(F.logged(), "add {app:host|0x00001}\nload_add 1 nil")
    local fpid = S.spawn_local("app:fn", "app:host", nil, 0, {})
    F.eq(fpid, "{app:fn#lua.1|0x00002}", "a function entry's PID names the entry and the worker")
  `));

test('spawn_local errors: unknown entry or host, a compile error, a missing method', () =>
  run(String.raw`
    local S = setup({ 1 }, ENTRIES)
    local function fails(kind, msg, pid, e)
      F.eq(pid, nil); F.eq(e.kind, kind); F.has(e.message, msg, "message")
    end
    fails("NotFound", "factory not found: app:missing", S.spawn_local("app:missing", "app:host", nil, 0, {}))
    fails("NotFound", "factory not found", S.spawn_local("app:lib", "app:host", nil, 0, {}))
    fails("NotFound", "host not found: app:nohost", S.spawn_local("app:echo", "app:nohost", nil, 0, {}))
    fails("Internal", "failed to create process: app:broken:1:", S.spawn_local("app:broken", "app:host", nil, 0, {}))
    fails("NotFound", 'method "main" not found in module', S.spawn_local("app:nomethod", "app:host", nil, 0, {}))
    F.has(F.logged(), "dead 1", "the PID minted for the failed instantiation is released")
    F.eq(next(F.procs), nil, "nothing was added")
  `));

test('bodies[kind]: a new body kind is one table; spawn runs it without compiling Lua', () =>
  run(String.raw`
    local S = setup({ 1 }, { ["app:w"] = { kind = "process.fake", blob = "module" } }, {
      ["process.fake"] = {
        prepare = function(Ent) return "compiled " .. Ent.blob end,
        instantiate = function(Ent, code, P) return function(x) return code .. " ran with " .. x end end,
        pid_host = function(id, host) return host end,
        queueable = true,
      },
    })
    local pid = S.spawn_local("app:w", "app:host", nil, 1, { "arg" })
    F.eq(pid, "{app:host|0x00001}")
    F.eq(F.procs[pid].main.fn(), "compiled module ran with arg")
    F.eq(S.body_of({ kind = "process.fake" }), S.bodies["process.fake"])
    F.eq(S.body_of({ kind = "library.lua" }), nil)
  `));

test('spawn_from on a multi-worker host: queued once validated, placed when the queues are full', () =>
  run(String.raw`
    local S = setup({ 1, 2 }, ENTRIES)
    local caller = F.proc("{app:host|0x00100}")
    local p1 = S.spawn_from(caller, "app:echo", "app:host", true, false, 2, { 1, 2 })
    F.eq(p1, "{app:host|0x00001}", "not validated yet: started here")
    F.eq(caller.monitoring[p1], true)
    F.clear()
    local p2 = S.spawn_from(caller, "app:echo", "app:host", false, false, 2, { 1, 2 })
    F.eq(p2, "{app:host|0x00002}")
    F.has(F.logged(), "task_push 1 {{app:host|0x00002},2,app:echo,app:host,false,false,false,{1,2},1}")
    F.eq(F.procs[p2], nil, "queued, not started")
    F.task_ok, F.place_tid = false, 2
    F.clear()
    local p3 = S.spawn_from(caller, "app:echo", "app:host", false, false, 0, {})
    F.eq(p3, "{app:host|0x00005}")
    F.has(F.logged(), "post 2 {sp,{app:host|0x00005},5,app:echo,app:host,false,false,false,{}}")
  `));

test('early frames wait for the "sp" frame and replay in order; "bound" forwards them', () =>
  run(String.raw`
    local S = setup({ 1, 2 }, ENTRIES)
    S.early["{app:host|0x00009}"] = { { "m", "{app:host|0x00009}", "a" }, { "m", "{app:host|0x00009}", "b" } }
    S.frame_sp({ "sp", "{app:host|0x00009}", 9, "app:echo", "app:host", false, false, false, { n = 0 } })
    F.eq(table.concat(dispatched, ","), "m:a,m:b")
    F.eq(S.early["{app:host|0x00009}"], nil)
    S.early["{app:host|0x0000a}"] = { { "t", "{app:host|0x0000a}", "x" } }
    F.clear()
    S.frame_bound({ "bound", "{app:host|0x0000a}", 2 })
    F.eq(S.forward["{app:host|0x0000a}"], 2)
    F.eq(F.logged(), "post 2 {t,{app:host|0x0000a},x}")
    S.frame_sp({ "sp", "{app:host|0x0000b}", 11, "app:nomethod", "app:host", "{app|0x00001}", false, false, { n = 0 } })
    F.has(F.logged(), 'start_failed {app:host|0x0000b} method "main" not found in module')
  `));

test('exec_start: on_exit once with the EXIT; cancel sends CANCEL and stops waiting; a dying caller cancels', () =>
  run(String.raw`
    local S = setup({ 1 }, ENTRIES)
    local X = setup_exec(S)
    local P = F.proc("{app:host|0x00100}", { uniq = 100 })
    local exits = {}
    local h = X.exec_start(P, "app:echo", "app:host", 2, { 1, 2 }, nil, function(ev) exits[#exits + 1] = ev end)
    F.eq(P.npending, 1, "a running exec counts as pending")
    local wpid = next(P.execs)
    F.eq(wpid, "{node:control|0x00001}"); F.eq(P.execs[wpid], h.pid)
    F.eq(F.procs[h.pid].watchers, wpid, "the child is watched by the waiter PID")
    exec_waits[wpid]({ kind = "pid.exit", from = h.pid, result = { value = 3 } })
    F.eq(#exits, 1); F.eq(exits[1].result.value, 3); F.eq(P.npending, 0); F.eq(P.execs[wpid], nil)
    F.eq(h.cancel(), false, "nothing to cancel once it ended")

    local h2 = X.exec_start(P, "app:echo", "app:host", 0, {}, nil, function() exits[#exits + 1] = "no" end)
    F.eq(h2.cancel("stop it"), true)
    F.eq(P.npending, 0); F.eq(#exits, 1, "on_exit is not called after cancel")
    F.eq(events[1].P.pid, h2.pid); F.eq(events[1].ev.kind, "pid.cancel"); F.eq(events[1].ev.reason, "stop it")
    F.eq(events[1].ev.deadline, F.wall + 10, "the default deadline: 10 s")

    local h3 = X.exec_start(P, "app:echo", "app:host", 0, {}, nil, function() end)
    X.cancel_execs(P)
    F.eq(P.execs, nil)
    F.eq(events[2].ev.reason, "caller context canceled")
    local none, e = X.exec_start(P, "app:missing", "app:host", 0, {}, nil, function() end)
    F.eq(none, nil); F.eq(e.kind, "Internal"); F.eq(e.message, "factory not found: app:missing", "the spawn's message")
    F.eq(h3.cancel(), false, "cancelled with its caller already")
  `));

test('shutdown: live processes and later starters get CANCEL', () =>
  run(String.raw`
    local S = setup({ 1 }, ENTRIES)
    local p1 = S.spawn_local("app:echo", "app:host", nil, 0, {})
    S.shutdown(5000)
    F.eq(#events, 1); F.eq(events[1].ev.reason, "scheduler shutdown"); F.eq(events[1].ev.deadline, F.wall + 5)
    local p2 = S.spawn_local("app:echo", "app:host", nil, 0, {})
    F.eq(events[2].P.pid, p2, "a process started during shutdown gets the same CANCEL")
  `));

test('the function body keeps several results in P.results; one result, or an error second, keeps none', () =>
  run(String.raw`
    local S = setup({ 1 }, {
      ["app:multi"] = { kind = "function.lua", method = "run",
        source = "return { run = function(a) return a, a * 2, nil, 'x' end }" },
      ["app:one"] = { kind = "function.lua", method = "run", source = "return { run = function() return 5 end }" },
      ["app:err"] = { kind = "function.lua", method = "run",
        source = "return { run = function() return nil, 'failed', 3 end }" },
      ["app:proc"] = { kind = "process.lua", method = "run",
        source = "return { run = function() return 1, 2, 3 end }" },
    })
    local P = F.procs[S.spawn_local("app:multi", "app:host", nil, 1, { 4 })]
    local r1, r2, r3 = P.main.fn()
    F.eq(r1, 4); F.eq(r2, 8); F.eq(r3, nil, "the main thread returns the first two, as any body")
    F.eq(P.results.n, 4); F.eq(P.results[2], 8); F.eq(P.results[4], "x")
    local O = F.procs[S.spawn_local("app:one", "app:host", nil, 0, {})]
    F.eq(O.main.fn(), 5); F.eq(O.results, nil)
    local E = F.procs[S.spawn_local("app:err", "app:host", nil, 0, {})]
    local v, e = E.main.fn()
    F.eq(v, nil); F.eq(e, "failed"); F.eq(E.results, nil, "an error in second place is an error exit")
    local Q = F.procs[S.spawn_local("app:proc", "app:host", nil, 0, {})]
    Q.main.fn()
    F.eq(Q.results, nil, "a process keeps its first result only")
  `));

test('function entries queue on a multi-worker host like processes, with a PID naming the entry', () =>
  run(String.raw`
    local S = setup({ 1, 2 }, ENTRIES)
    local caller = F.proc("{app:host|0x00100}")
    local p1 = S.spawn_from(caller, "app:fn", "app:host", false, false, 0, {})
    F.eq(p1, "{app:fn#lua.1|0x00001}", "not validated yet: started here")
    F.clear()
    local p2 = S.spawn_from(caller, "app:fn", "app:host", false, false, 1, { 9 })
    F.eq(p2, "{app:fn#lua.1|0x00002}", "queued: minted by this worker, its home")
    F.has(F.logged(), "task_push 1 {{app:fn#lua.1|0x00002},2,app:fn,app:host,false,false,false,{9},1}")
    F.eq(F.procs[p2], nil, "queued, not started")
    F.task_ok, F.place_tid = false, 2
    F.clear()
    local p3 = S.spawn_from(caller, "app:fn", "app:host", false, false, 0, {})
    F.eq(p3, "{app:fn#lua.2|0x00005}", "placed on worker 2: its PID names worker 2")
    F.has(F.logged(), "post 2 {sp,{app:fn#lua.2|0x00005},5,app:fn,app:host,false,false,false,{}}")
  `));

test('with the budget hook a queued spawn stays a Lua record: nothing encoded or pushed, started by take_task in order, early frames replayed', () =>
  run(String.raw`
    local S = setup({ 1, 2 }, ENTRIES, nil, { max_reductions = 1000000 })
    local caller = F.proc("{app:host|0x00100}")
    F.eq(S.spawn_from(caller, "app:echo", "app:host", false, false, 2, { 0, 0 }), "{app:host|0x00001}", "validated first, here")
    F.clear()
    local pids = {}
    for i = 1, 3 do pids[i] = S.spawn_from(caller, "app:echo", "app:host", true, false, 2, { i, 10 }) end
    F.eq(pids[3], "{app:host|0x00004}", "the PIDs are minted here, at the spawn")
    F.eq(select(2, F.logged():gsub("ready_start", "")), 3, "each takes its turn in the run queue (a START)")
    F.eq(caller.monitoring[pids[2]], true)
    F.hasnt(F.logged(), "task_push", "nothing went to the shared queues")
    F.eq(F.procs[pids[1]], nil, "queued, not started")
    F.eq(S.queued_here(), true, "the step is not over while the list holds spawns")
    S.early[pids[2]] = { { "m", pids[2], "a" }, { "m", pids[2], "b" } }
    for i = 1, 3 do F.eq(S.take_task(false), true) end
    F.eq(S.take_task(false), false, "all three started")
    F.eq(S.queued_here(), false)
    for i = 1, 3 do
      local P = F.procs[pids[i]]
      F.eq(P.main.fn(), i + 10, "started with its arguments")
      F.eq(P.watchers, caller.pid, "monitored by its spawner")
      F.eq(readied[i + 1], P.main, "started in spawn order")
    end
    F.eq(table.concat(dispatched, ","), "m:a,m:b", "the frames that came first are replayed")
    F.hasnt(F.logged(), "set_runner", "it runs at home")
  `));

test('a host without the budget hook still queues every spawn on the shared queues (the stuck rule sees only those)', () =>
  run(String.raw`
    local S = setup({ 1, 2 }, ENTRIES, nil, { max_reductions = 0, max_memory_mb = 0 })
    local caller = F.proc("{app:host|0x00100}")
    S.spawn_from(caller, "app:echo", "app:host", false, false, 0, {})
    F.clear()
    local p2 = S.spawn_from(caller, "app:echo", "app:host", false, false, 0, {})
    F.has(F.logged(), "task_push 1 {" .. p2)
    F.eq(S.queued_here(), false)
  `));

test('"spj": a job from JS waits its turn in the Lua-side list, counted once in the load; one shared away is uncounted here', () =>
  run(String.raw`
    F.H.task_listed = function() return false end -- the directory's listed word (taskq report)
    local S = setup({ 1, 2 }, ENTRIES, nil, { max_reductions = 1000000 })
    local pids = { "{app:host|0x00021}", "{app:host|0x00022}", "{app:host|0x00023}" }
    for i = 1, 3 do
      S.frame_spj({ "spj", pids[i], 0x20 + i, "app:echo", "app:host", 7 + i, false, false, { n = 2, i, 10 } })
    end
    F.eq(select(2, F.logged():gsub("ready_start", "")), 3, "each takes its turn in the run queue (a START)")
    F.hasnt(F.logged(), "task_push", "nothing went to the shared queues")
    F.hasnt(F.logged(), "load_add", "the main thread counted it already")
    F.eq(F.procs[pids[1]], nil, "queued, not started")
    S.early[pids[1]] = { { "c", pids[1], "cancel" } }
    F.clear()
    F.eq(S.take_task(false), true)
    local P = F.procs[pids[1]]
    F.eq(P.main.fn(), 11, "started with its arguments")
    F.eq(P.watchers, 8, "watched by its watch number")
    F.eq(table.concat(dispatched, ","), "c:cancel", "a frame that came first is replayed")
    F.hasnt(F.logged(), "load_add", "not counted again at its start")
    -- the sharing rule hands the oldest waiting one (the second job) to the sibling: uncounted here
    S.share_tasks(F.proc("{app:host|0x00100}"))
    F.has(F.logged(), "task_push 2 {" .. pids[2])
    F.has(F.logged(), "load_add -1 nil")
    F.eq(S.take_task(false), true, "the third starts here")
    F.eq(F.procs[pids[3]].main.fn(), 13)
    F.eq(select(2, F.logged():gsub("load_add", "")), 1, "one uncount, for the one that left")
  `));

test('"spj" where no list is kept (no budget hook, one worker) starts at once, as "sp"', () =>
  run(String.raw`
    for _, c in ipairs({ { { 1, 2 }, { max_reductions = 0, max_memory_mb = 0 } }, { { 1 }, { max_reductions = 1000000 } } }) do
      F.clear()
      local S = setup(c[1], ENTRIES, nil, c[2])
      S.frame_spj({ "spj", "{app:host|0x00031}", 0x31, "app:echo", "app:host", 9, false, false, { n = 2, 1, 2 } })
      F.eq(F.procs["{app:host|0x00031}"].main.fn(), 3, "started at once")
      F.hasnt(F.logged(), "task_push")
      F.hasnt(F.logged(), "load_add", "the main thread counted it")
      F.procs["{app:host|0x00031}"] = nil
    end
  `));

// The process record's own keys (spawn.lua new_proc): 16 hash slots for an idle process, the
// rest read through its host's metatable until written (native-core.md, "Memory per process").
test('the record holds at most 16 keys of its own once started; defaults come from its host, a write makes a field its own', () =>
  run(String.raw`
    local S = setup({ 1 }, ENTRIES, nil, { max_reductions = 5000, max_mailbox = 7 })
    local pid = S.spawn_local("app:echo", "app:host", nil, 2, { 1, 2 })
    local P = F.procs[pid]
    local own, figures = 0, 0
    for k in next, P do if type(k) == "string" then own = own + 1 else figures = figures + 1 end end
    F.eq(own <= 14, true, "own keys after spawn_local (14 at most, so an inbox and nsubs still fit in 16): " .. own)
    -- the process table's five figures (ptable.lua) are the record's array part, not keys
    F.eq(figures, 5); for i = 1, 5 do F.eq(type(rawget(P, i)), "number", "figure " .. i) end
    F.eq(P.budget, 5000, "the host's max_reductions"); F.eq(P.max_mailbox, 7, "the host's max_mailbox")
    F.eq(P.terminal, false); F.eq(P.doomed, false); F.eq(P.trap_links, false)
    F.eq(P.seq, 0); F.eq(P.unread, 0); F.eq(P.sendb, 0); F.eq(P.npending, 0); F.eq(P.nsubs, 0)
    F.eq(P.subs, F.NONE); F.eq(P.watchers, F.NONE); F.eq(P.links, F.NONE); F.eq(P.monitoring, F.NONE)
    F.eq(P.names, F.NONE); F.eq(P.unrouted, F.EMPTYQ)
    F.eq(rawget(P, "seq"), nil, "a default is not the record's own")
    P.seq = P.seq + 1
    F.eq(rawget(P, "seq"), 1, "a write makes it the record's own")
    F.set_of(P, "links")["{app|0x00009}"] = true
    F.eq(rawget(P, "links")["{app|0x00009}"], true)
    local pid2 = S.spawn_local("app:echo", "app:host", nil, 2, { 1, 2 })
    local P2 = F.procs[pid2]
    F.eq(P2.seq, 0, "another process's default is untouched"); F.eq(P2.links, F.NONE)
    F.eq(getmetatable(P2), getmetatable(P), "one metatable per host")
  `));

test('a host without limits: no budget, the default mailbox cap', () =>
  run(String.raw`
    local S = setup({ 1 }, ENTRIES)
    local P = F.procs[S.spawn_local("app:echo", "app:host", nil, 2, { 1, 2 })]
    F.eq(P.budget, false); F.eq(P.max_mailbox, 100000)
  `));

test('spawns in one step: one clock read; a start takes back an exit waiting in the step\'s count, else counts at once', () =>
  run(String.raw`
    local S = setup({ 1, 2 }, ENTRIES, nil, nil, step_counted())
    local caller = F.proc("{app:host|0x00100}")
    F.wall = 1700000100
    local pids = {}
    for i = 1, 3 do pids[i] = S.spawn_local("app:echo", "app:host", nil, 2, { i, 1 }) end
    F.wall = 1700000105 -- the clock moves within the step: the step's first reading stays
    pids[4] = S.spawn_local("app:echo", "app:host", { watcher = caller.pid }, 2, { 4, 1 })
    F.has(F.logged(), "load_add 1 nil", "a start with no exit waiting is counted at once")
    F.eq(select(2, F.logged():gsub("load_add", "")), 4, "one each")
    F.eq(run.dload, 0)
    F.eq(walls, 1, "one wall-clock read for the step")
    for i = 1, 4 do F.eq(F.procs[pids[i]][5], 1700000100, "started at the step's clock") end
    -- a new step reads the clock again
    run.wall = 0
    local p5 = S.spawn_local("app:echo", "app:host", nil, 0, {})
    F.eq(F.procs[p5][5], 1700000105); F.eq(walls, 2)
    -- exits waiting in the step's count (lifecycle.lua: -1 each): a start takes one back, no host call
    run.dload = -2
    F.clear()
    S.spawn_local("app:echo", "app:host", nil, 0, {})
    S.spawn_local("app:echo", "app:host", nil, 0, {})
    F.hasnt(F.logged(), "load_add", "two starts against two exits of the step")
    F.eq(run.dload, 0)
    S.spawn_local("app:echo", "app:host", nil, 0, {})
    F.has(F.logged(), "load_add 1 nil", "the third is counted at once")
  `));
