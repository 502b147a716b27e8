-- Boots the kernel inside a fresh Lua state: loads every module and wires them together.
--
-- The host (src/lua/engine.ts) has put the raw host functions in the global __H and the module
-- sources in __MODS (module name -> source: every .lua under src/lua/kernel and src/lua/lib,
-- "dir/name" for subfolders, plus the codec-encoded __cfg and __entries) before running this
-- chunk. Afterwards the only globals the host uses are __step, __count, __mem, __mbox, __ps and __tq
-- (and __INPUT_AT, read once after boot); the
-- sandboxed processes never see this global table (they get their own environments).
--
-- Module shape. Every kernel module is a file returning `function(deps) ... return module end`.
-- `deps` is a table built here holding exactly what that module uses (functions, tables, constants
-- of other modules); the module copies them into locals when it loads, so nothing is looked up
-- per call. Each module's first screen says what it owns and what it receives. There is no table
-- every module shares. Two exceptions, both stated:
--   * `run`, the scheduler's running state: run.cur (the thread being resumed) and run.cp (its
--     process), written by sched.lua around every resume and read by whoever needs "the calling
--     process"; run.share_at, the running resume's sharing mark (sched.lua budget_hook, spawn.lua). The modules written before the split (errors, safestring, random, codec, pattern,
--     security) take one table and add their exports to it; they get `run` too, holding what they
--     read (H, cfg, the error helpers, mem_cap_kb, the pattern slot), so they keep their shape.
--   * Cycles. The hot path only goes one way: frames -> mailbox -> channel -> sched (route,
--     offer, ready), process -> mailbox -> channel -> sched. The few calls against that order are
--     cold (a mailbox overflow kills its process, a dying process cancels its execs, a placed
--     process replays early frames) and go through `late`, a table of forwarders bound once
--     every module exists.
--
-- Load order (each line receives only modules above it):
--   errors, safestring, random, codec, pattern   leaf helpers (run)
--   wire       frame field indices and shared constants (generated from src/wire/spec.ts)
--   copool     coroutines of processes that returned, kept for the next spawns
--   sched      run queue, timers, the step loop; its hooks are installed at the end
--   channel    channels and select (parking through sched)
--   pids       the process table, PID format, locate, post
--   rpc        requests to other threads that park the caller
--   sandbox    globals a process sees, require, compiling entries
--   mailbox    Message objects, routing, backlogs, subscriptions
--   names      the name registry cache and process.registry
--   lifecycle  events, exit, links, monitors, crash reports
--   taskq      queued spawns on the Lua side: what stays a Lua list, what is published, take order
--   spawn      bodies, local / queued / placed spawns, early frames, forwarding
--   exec       exec_start: spawn and wait for the EXIT (process.exec, Spawner:exec, funcs)
--   frames     handlers of frames from other threads, batch delivery, containment
--   upgrade, spawner, process, ctx, io, time    what processes call
--   ptable     the process table report the host asks for (wippy ps / top), loaded last
-- Built-in modules a process can `require` (listed in its entry's `modules`) are registered in
-- `builtin`, one line each, at the end.
local H, MODS = __H, __MODS
__H, __MODS = nil, nil

local function loadmod(name)
  local src = MODS[name]
  if not src then error("kernel module missing: " .. name) end
  local f = assert(load(src, "@kernel/" .. name .. ".lua", "t"))
  return f()
end

-- The running state and the leaf helpers' table (see the top).
-- wall, dload: the step's wall clock (0: not read yet this step) and the exits' uncount (<= 0) it
-- sends at its end (lifecycle.lua step_wall, count_load; __step below).
local run = { H = H, cur = nil, cp = nil, share_at = math.huge, wall = 0, dload = 0 }
loadmod("errors")(run)      -- run.err, run.is_error, run.error_fields, run.make_error, ...
local codec = loadmod("codec")(run)
local cfg = codec.decode(MODS.__cfg)
local entries = codec.decode(MODS.__entries) or {} -- entry id -> { kind, source, method, modules, imports, file }
run.cfg = cfg
local mem_cap_kb
do
  local mm = cfg.hosts[cfg.host] and cfg.hosts[cfg.host].max_memory_mb
  if mm and mm > 0 then mem_cap_kb = mm * 1024 end
end
run.mem_cap_kb = mem_cap_kb
loadmod("safestring")(run)  -- run.safestring, run.safetable, the size guard; the string metatable
loadmod("random")(run)      -- run.sandbox_math: math with a generator per process
-- find/match/gmatch/gsub for processes: C when the match is provably cheap, else a Lua matcher
-- the reduction budget can stop (lib/pattern.lua).
run.pattern = loadmod("pattern")(run)
local err, is_error, errmsg = run.err, run.is_error, run.error_message
-- security.lua wires its own parts (security_*.lua) through run.factory.
run.factory = loadmod
local security = loadmod("security")(run)
security.load_policies(entries)

-- Permission check for process P: -> true | false, PermissionDenied error. A process without
-- actor or scope is allowed everything unless the runtime's strict mode is on, decided without
-- building the attribute table (the fast path); otherwise the policies decide.
local strict = cfg.strict_mode == true
local decide = security.decide
-- `show`, when given, is appended to msg (tostring) only when the check fails: a per-message
-- caller (process.send) does not build its refusal's text on every call.
local function check(P, action, resource, msg, show)
  if P.ctx_actor == nil or P.ctx_scope == nil then
    if not strict then return true end
  elseif decide(P.ctx_actor, P.ctx_scope, action, resource, { pid = P.pid }) then
    return true
  end
  if show ~= nil then msg = msg .. tostring(show) end
  return false, err("PermissionDenied", msg, false)
end

-- The calling process, or raise "no context found" (the process API's functions).
local function cur()
  local P = run.cp
  if not P then error(err("Invalid", "no context found"), 3) end
  return P
end

-- Forwarders for the cold calls against the load order (see the top).
local late = {}

local wire = loadmod("wire")() -- frame field indices and shared constants (generated: src/wire/)
-- Our Lua module's C (native/lua/lwippy.c); nil on wasmoon's module, where the Lua code runs.
-- msg: steps of the per-message path (lmsg.c: the resume of a process thread, a send's payload
-- list); counthook: the budget hook as a C count hook (lhook.c); rebind: a dead coroutine made
-- fresh (lproc.c, for copool.lua); runner: the run loop's common case in C (lsched.c); deliverer: a
-- same-worker message's arrival in C (ldeliver.c); sender: process.send's common case in C, ending
-- in that arrival (lsend.c); receiver: a channel receive's common cases in C (lrecv.c); jobslot: a
-- job's START round in C (ljob.c, with the runner); spawn: a process's start and end's common case
-- in C (lspawn.c); eventer: an event's arrival and the events channel's take in C (levent.c);
-- envmaker: sandbox.lua's make_env and compile's cache hit in C (lenv.c); all
-- off when the host sets __MODS.__csched = "0" (WIPPY_CSCHED=0: an A/B of the Lua on the same
-- module).
local native_msg, native_counthook, native_rebind, native_runner, native_deliverer, native_sender
local native_receiver, native_spawn, native_eventer, native_envmaker
do
  local nat = type(package) == "table" and type(package.loaded) == "table" and package.loaded["wippy.native"]
  native_msg = type(nat) == "table" and nat.msg or nil
  native_counthook = type(nat) == "table" and nat.counthook or nil
  native_rebind = type(nat) == "table" and nat.rebind or nil
  native_runner = type(nat) == "table" and MODS.__csched ~= "0" and nat.runner or nil
  native_deliverer = type(nat) == "table" and MODS.__csched ~= "0" and nat.deliverer or nil
  native_sender = native_deliverer and nat.sender or nil
  native_receiver = native_deliverer and nat.receiver or nil
  native_spawn = native_deliverer and nat.spawn or nil
  native_eventer = native_deliverer and nat.eventer or nil
  native_envmaker = native_deliverer and nat.envmaker or nil
end
local copool = loadmod("copool")({ rebind = native_rebind, mem_cap_kb = mem_cap_kb })
local sched = loadmod("sched")({ H = H, err = err, run = run, mem_cap_kb = mem_cap_kb,
  resume = native_msg and native_msg.resume, counthook = native_counthook, take_co = copool.take,
  runner = native_runner, jobslot = native_runner and package.loaded["wippy.native"].jobslot })

local channel = loadmod("channel")({ run = run, ready = sched.ready, park = sched.park,
  maybe_yield = sched.maybe_yield, newud = H.newud, err = err,
  BLOCK = sched.BLOCK, YIELD_AFTER = sched.YIELD_AFTER, receiver = native_receiver })

-- The step block and outbox of our module (native/lua/lstep.c; __step below), nil on wasmoon's
-- module and with WIPPY_CSTEP=0 (__MODS.__cstep = "0": the stack path on our module too, an A/B
-- switch): pids.lua then holds a step's frames for other workers in the outbox, else in Lua lists.
local native_step = type(package) == "table" and type(package.loaded) == "table" and
  type(package.loaded["wippy.native"]) == "table" and MODS.__cstep ~= "0" and package.loaded["wippy.native"].step or nil
local pids = loadmod("pids")({ H = H, cfg = cfg, encode = codec.encode, err = err, wire = wire, end_step = sched.end_step,
  encode_frame = codec.encode_frame, encode_frame_out = native_step and codec.encode_frame_out,
  out_put = native_step and native_step.put, outbox = native_step and native_step.outbox,
  outbox_mark = native_step and native_step.outbox_mark })

local rpc = loadmod("rpc")({ run = run, post = pids.post, park = sched.park, ready = sched.ready, err = err,
  SELF = pids.SELF, wire = wire })

local sandbox = loadmod("sandbox")({
  run = run, hook = sched.hook, new_thread = sched.new_thread, ready = sched.ready, BLOCK = sched.BLOCK,
  err = err, is_error = is_error, error_message = errmsg, memory_error = run.memory_error,
  safestring = run.safestring, safetable = run.safetable, sandbox_math = run.sandbox_math,
  safe_os_date = run.safe_os_date, errors = run.errors, channel = channel.channel,
  write = H.write, entries = entries, envmaker = native_envmaker,
})
local readonly, builtin = sandbox.readonly, sandbox.builtin

local mailbox = loadmod("mailbox")({
  CH = channel.CH, offer = channel.offer, chan_new = channel.chan_new, chan_close = channel.chan_close,
  qpop = channel.qpop, qlen = channel.qlen, qpush_at = channel.qpush_at, EMPTYQ = channel.EMPTYQ,
  newud = H.newud, copy = codec.copy, err = err, procs = pids.procs, set_of = pids.set_of,
  overflow = function(P, e) return late.kill(P, e) end,
  deliverer = native_deliverer, sched_probe = sched.probe, eventer = native_eventer,
})

local names = loadmod("names")({
  procs = pids.procs, set_of = pids.set_of, post = pids.post, rpc = rpc.call, next_seq = rpc.next_seq, cur = cur,
  check = check, err = err, readonly = readonly, SELF = pids.SELF, wire = wire,
})

local lifecycle = loadmod("lifecycle")({
  H = H, run = run, procs = pids.procs, remove = pids.remove, post = pids.post, parse_pid = pids.parse_pid,
  copy = codec.copy, err = err, is_error = is_error, error_fields = run.error_fields,
  make_error = run.make_error, memory_error = run.memory_error, to_error = run.to_error,
  CH = channel.CH, timer_add = sched.timer_add, hook = sched.hook, arrive_event = mailbox.arrive_event,
  release_names = names.release, hosts = cfg.hosts, wire = wire, set_of = pids.set_of, give_co = copool.give,
  watch = pids.watch, unwatch = pids.unwatch,
  cancel_execs = function(P) return late.cancel_execs(P) end,
})
late.kill = lifecycle.kill

-- The host calls that read this worker's live count in the directory (placement, the steal,
-- balance and offer rules: src/host/placement.ts) send the step's count first (lifecycle.lua
-- count_load, load_first): the spawn and queue modules get H with those four wrapped.
local HL = {}
for k, v in pairs(H) do HL[k] = v end
for _, k in ipairs({ "place", "task_take", "task_push", "task_listed" }) do
  if H[k] then HL[k] = lifecycle.load_first(H[k]) end
end
local taskq = loadmod("taskq")({ H = HL, cfg = cfg, mem_cap_kb = mem_cap_kb, encode = codec.encode, decode = codec.decode,
  wire = wire })
local spawn = loadmod("spawn")({
  H = HL, cfg = cfg, entries = entries, taskq = taskq,
  procs = pids.procs, add = pids.add, fmt_pid = pids.fmt_pid, parse_pid = pids.parse_pid,
  post = pids.post, locate = pids.locate, EMPTYQ = channel.EMPTYQ, NONE = pids.NONE, set_of = pids.set_of,
  run = run, new_thread = sched.new_thread, ready = sched.ready, park = sched.park, hook = sched.hook,
  take_co = copool.take,
  ready_start = sched.ready_start,
  compile = sandbox.compile, make_env = sandbox.make_env, encode = codec.encode, decode = codec.decode,
  err = err, is_error = is_error, error_message = errmsg, memory_error = run.memory_error,
  user_tostring = lifecycle.user_tostring,
  deliver_event = lifecycle.deliver_event, start_failed = lifecycle.start_failed,
  step_wall = lifecycle.step_wall, count_load = lifecycle.count_load,
  topo = lifecycle.topo, send_event = lifecycle.send_event,
  security = security, call_settled = rpc.call_settled, wire = wire,
  dispatch = function(f) return late.dispatch(f) end,
  -- the WebAssembly bodies (process.wasm; function.wasm / function.wat frames): kernel/wasm.lua
  bodies = loadmod("wasm")({ rpc = rpc.call, post = pids.post, on_cancel = lifecycle.on_cancel, err = err, wire = wire,
    encode_actor = security.encode_actor, encode_scope = security.encode_scope, process = function() return late.process end }),
})

local exec = loadmod("exec")({
  H = H, fmt_pid = pids.fmt_pid, locate = pids.locate, post = pids.post, spawn_from = spawn.spawn_from,
  deliver_event = lifecycle.deliver_event, exec_waits = lifecycle.exec_waits,
  run = run, ready = sched.ready, park = sched.park, err = err, error_message = errmsg, wire = wire,
})
late.cancel_execs = exec.cancel_execs

local frames = loadmod("frames")({
  procs = pids.procs, parse_pid = pids.parse_pid, post = pids.post, host_of_tid = pids.host_of_tid,
  H = H, hosts = cfg.hosts, SELF = pids.SELF, decode = codec.decode, decode_at = codec.decode_at, decode_m_at = codec.decode_m_at, deliver_run = codec.deliver_run, codec_reset = codec.reset,
  run = run, err = err, is_error = is_error, error_message = errmsg,
  deliver_msg = mailbox.deliver_msg, set_of = pids.set_of,
  lifecycle = lifecycle, rpc = rpc, names = names, spawn = spawn, wire = wire,
})
late.dispatch = frames.dispatch

local upgrade = loadmod("upgrade")({
  cur = cur, BLOCK = sched.BLOCK, copy_args = mailbox.copy_args, err = err, entries = entries,
  read_file = H.read_file, close_thread = lifecycle.close_thread, exit = lifecycle.exit,
  unread_records = mailbox.unread_records, qnew = channel.qnew, qpush = channel.qpush,
  new_thread = sched.new_thread, body_of = spawn.body_of,
  invalidate = sandbox.invalidate,
})

local spawner = loadmod("spawner")({
  cur = cur, err = err, newud = H.newud, copy = codec.copy, copy_args = mailbox.copy_args, check = check,
  encode_actor = security.encode_actor, encode_scope = security.encode_scope,
  locate = pids.locate, post = pids.post, deliver_msg = mailbox.deliver_msg,
  local_names = names.local_names, register_child = names.register_child, rpc = rpc.call,
  spawn_from = spawn.spawn_from, exec = exec.exec, check_exec_args = exec.check_exec_args, wire = wire,
})

-- the start of a spawn lspawn.c queued (lqspawn.c tstart: ljob.c's START slot calls it), made by
-- the spawner with its record
local tstart
local process = loadmod("process")({
  run = run, cur = cur, err = err, error_message = errmsg, check = check, set_of = pids.set_of,
  procs = pids.procs, parse_pid = pids.parse_pid, locate = pids.locate, post = pids.post,
  encode = codec.encode, copy = codec.copy, copy_args = mailbox.copy_args, deliver_msg = mailbox.deliver_msg,
  pack = native_msg and native_msg.packer(codec.copy), encode_frame = codec.encode_frame, remote_uniq = pids.remote_uniq,
  send_bytes = pids.send_bytes, send_frame = pids.send_frame,
  inbox = mailbox.inbox, events = mailbox.events, listen = mailbox.listen, unlisten = mailbox.unlisten,
  H = H, ready = sched.ready, BLOCK = sched.BLOCK, maybe_yield = sched.maybe_yield, select = channel.channel.select,
  YIELD_AFTER = sched.YIELD_AFTER, strict = strict, sender = native_sender,
  -- spawner(f, monitor, link, probe): process.lua's spawn variant f with its common case in C
  -- (lspawn.c), bound to the locals it mirrors
  spawner = native_spawn and function(f, monitor, link, probe)
    local sp
    sp, tstart = native_spawn.spawner(f, monitor, link, probe, spawn.probe, spawn.qprobe, sched.thread_probe,
      copool.probe, pids.probe, taskq.spawn_probe)
    return sp
  end,
  terminate = lifecycle.terminate, deliver_event = lifecycle.deliver_event, topo = lifecycle.topo,
  EV_EXIT = lifecycle.EV_EXIT, EV_LINK_DOWN = lifecycle.EV_LINK_DOWN, EV_CANCEL = lifecycle.EV_CANCEL,
  spawn_from = spawn.spawn_from, exec = exec.exec, check_exec_args = exec.check_exec_args,
  DEFAULT_CANCEL_MS = exec.DEFAULT_CANCEL_MS,
  local_names = names.local_names, registry = names.registry, rpc = rpc.call,
  readonly = readonly, builtin = builtin,
  with_context = spawner.with_context, with_options = spawner.with_options, upgrade = upgrade.upgrade,
  wire = wire,
})
sandbox.set_process(process)
late.process = process -- the WASM bodies serve their guests' mailbox requests with it
-- typed Lua at run time (lib/types.lua): casts by calling a type, declared types (docs/dialect.md)
sandbox.install_types(loadmod("types")({ err = err, is_error = is_error, pattern = run.pattern, newud = H.newud }))

sched.install({
  thread_failed = lifecycle.thread_failed,
  -- a main thread's scalar return to at most one local watcher in C (lspawn.c exiter), else the Lua
  thread_done = native_spawn and native_spawn.exiter(lifecycle.probe, copool.probe, pids.probe) or lifecycle.thread_done,
  do_upgrade = upgrade.do_upgrade, deadlock = lifecycle.deadlock, after_resume = lifecycle.after_resume,
  process_fault = frames.process_fault, kernel_fault = frames.kernel_fault,
  deliver_batch = frames.deliver_batch, take_task = spawn.take_task,
  share_tasks = spawn.share_tasks, share_after = spawn.SHARE_AFTER, queued_here = spawn.queued_here,
  queued_local = spawn.queued_local, taskq_probe = taskq.probe, frame_sp = spawn.frame_sp,
  frame_spj = spawn.frame_spj, tstart = tstart,
})
spawn.set_tstart(tstart)
-- a job's "spj" frame queued in C (native/lua/ljob.c; nil without it: spawn.frame_spj stays)
if sched.job_frame then frames.handlers.spj = sched.job_frame end

-- Built-in modules (`require` by name when listed in the entry's `modules`), one line each; a
-- module that runs entries for its caller gets exec.exec_start in its deps (see exec.lua).
-- A timer subscription keeps its process idle rather than deadlocked. subscribe returns a token
-- (the process) because unsubscribe is usually called from a timer callback, outside any process.
builtin.time = readonly(loadmod("time")({
  newud = H.newud, now_ms = H.now, wall_ns = H.wall, tz_offset = H.tz_offset, local_offset = H.local_offset,
  error = function(kind, msg) return err(kind, msg, false) end,
  subscribe = function() local P = run.cp; if P then P.nsubs = P.nsubs + 1 end; return P end,
  unsubscribe = function(P) P = P or run.cp; if P and P.nsubs > 0 then P.nsubs = P.nsubs - 1 end end,
  timer_add = sched.timer_add, timer_cancel = sched.timer_cancel, chan_new = channel.chan_new,
  chan_offer = channel.chan_offer, chan_close = channel.chan_close, sleep_ms = sched.sleep_ms,
}), "time")
builtin.io = readonly(loadmod("io")({ H = H, run = run, err = err, join_values = sandbox.join_values,
  await_host = rpc.await_host }), "io")
builtin.security = readonly(security.module, "security")
builtin.ctx = readonly(loadmod("ctx")({ run = run, copy = codec.copy, err = err }), "ctx")
-- The standard modules (docs/modules.md). logger, env and events read the calling process from
-- run.cp at call time.
local function host_only() return { H = H, err = err } end
builtin.json = readonly(loadmod("json")(host_only()), "json")
builtin.yaml = readonly(loadmod("yaml")(host_only()), "yaml")
builtin.base64 = readonly(loadmod("base64")(host_only()), "base64")
builtin.uuid = readonly(loadmod("uuid")(host_only()), "uuid")
builtin.hash = readonly(loadmod("hash")(host_only()), "hash")
builtin.logger = loadmod("logger")({ run = run, post = pids.post, cfg = cfg, newud = H.newud, err = err,
  is_error = is_error, error_message = errmsg, wire = wire }) -- a logger userdata, immutable as it is
builtin.env = readonly(loadmod("env")({ run = run, rpc = rpc.call, check = check, err = err }), "env")
builtin.events = readonly(loadmod("events")({ run = run, rpc = rpc.call, post = pids.post, check = check,
  err = err, newud = H.newud, cfg = cfg, channel = channel.channel, chan_offer = channel.chan_offer,
  chan_close = channel.chan_close, handlers = frames.handlers, wire = wire,
  subscribe = function() local P = run.cp; if P then P.nsubs = P.nsubs + 1 end; return P end,
  unsubscribe = function(P) P = P or run.cp; if P and P.nsubs > 0 then P.nsubs = P.nsubs - 1 end end,
}), "events")
builtin.metrics = readonly(loadmod("metrics")({ run = run, post = pids.post, err = err, wire = wire }), "metrics")
builtin.test = readonly(loadmod("test")({ pcall = sandbox.pcall, now_ms = H.now }), "test")
-- funcs (docs/funcs.md): calls function entries for its caller through exec_start; its top lists
-- what each field is.
builtin.funcs = readonly(loadmod("funcs")({
  exec_start = exec.exec_start, current = function() return run.cp end, check = check,
  error = function(kind, msg) return err(kind, msg, false) end,
  entry_kind = function(id) local e = entries[id]; if e then return e.kind, e.default_host end end,
  copy_args = mailbox.copy_args, payload = mailbox.wrap_payload, newud = H.newud,
  chan_new = channel.chan_new, chan_offer = channel.chan_offer, chan_close = channel.chan_close,
  timer_add = sched.timer_add, timer_cancel = sched.timer_cancel, now_ms = H.now,
  on_cancel = lifecycle.on_cancel, off_cancel = lifecycle.off_cancel,
  encode_actor = security.encode_actor, encode_scope = security.encode_scope,
  duration_ms = function(s) local d = builtin.time.parse_duration(s); return d and d:milliseconds() end,
}), "funcs")

local step, count, mbox = sched.step, pids.count, mailbox.stats
-- The process table report (wippy ps / top): totals, and the rows when asked.
local ps = loadmod("ptable")({ procs = pids.procs, count = pids.count, started = pids.started,
  delivered = mailbox.delivered, account_heap = sched.account_heap, encode = codec.encode, wire = wire,
  tid = cfg.tid }).report
local take_out = pids.take_out
-- A step, then the frames it held for other workers go to the host (pids.lua send_bytes): returned
-- after nxt and more (pids.lua take_out), the host posts them (src/lua/engine.ts step).
-- (batch, len, now): sched.lua's step. On our module the arguments and the results go through a
-- block of the module's memory instead of the Lua stack (native/lua/lstep.c: two calls from JS
-- into the module per step instead of nine, and none per frame); __STEP_BLOCK is its address.
-- WIPPY_CSTEP=0 (__MODS.__cstep = "0"): the stack path on our module too (an A/B switch).
-- The step's wall clock is read afresh in each step, and the step's exits' uncount of this
-- worker's live count (less what starts took back) goes to the directory in one host call at
-- its end (lifecycle.lua step_wall, count_load).
local load_add = H.load_add
if native_step then
  local step_in, step_out = native_step.input, native_step.output
  local outbox = pids.outbox -- the frames are in the outbox, which output() reports (lstep.c)
  function __step(batch, len, now)
    if not now then batch, len, now = step_in() end -- (a batch string comes as arguments)
    run.wall = 0
    local nxt, more = step(batch, len, now)
    local d = run.dload
    if d ~= 0 then run.dload = 0; load_add(d) end
    if outbox then step_out(nxt, more) else step_out(nxt, more, take_out()) end
  end
  __STEP_BLOCK = native_step.block
else
  function __step(batch, len, now)
    run.wall = 0
    local nxt, more = step(batch, len, now)
    local d = run.dload
    if d ~= 0 then run.dload = 0; load_add(d) end
    return nxt, more, take_out()
  end
end
-- The host may pass __step its input area in place of a byte string (frames.lua deliver_batch)
__INPUT_AT = codec.decode_at ~= nil
function __count() return count() end
function __live(limit) return pids.live(limit) end
function __mbox() return mbox() end
function __tq() return taskq.counters() end
function __ps(limit, key) return ps(limit, key) end
-- the Lua heap in KiB: after two full collections (leak checks), or as it is (`quick`: wippy top)
function __mem(quick)
  if not quick then collectgarbage("collect"); collectgarbage("collect") end
  return collectgarbage("count")
end

-- The collector: incremental, a cycle starting when the heap has grown to 4 times what the last
-- one left (pause 400; Lua's default 200). A worker's garbage is mostly short-lived tables (a
-- spawn+exit makes ~1.4 KB) over a live set that only grows while processes park (hold): at 200
-- each cycle re-marks that live set twice as often. Measured (Node 24, A/B against 200):
-- hold's CPU per process 1.1-1.25x less, spawn+exit's 0.98-1.03x (noise); the heap per parked
-- process after a full collection unchanged, hold's marginal RSS per process 7% more (--full);
-- the garbage a worker may carry between cycles is up to ~3 times its live heap instead of ~1
-- (test/gc-pace.test.ts bounds it; a max_memory_mb check collects before it judges).
-- Generational mode did no better (minor collections at 20% growth: spawn+exit 0.96x, hold
-- 0.76x; at 100%: 0.99x, 1.25x): Lua 5.4 re-traverses every thread, old ones included, at each
-- minor collection, and a worker keeps a thread per parked process and a pool of spare ones; and
-- 5.4.4's generational mode leaves the collector's debt unset after a full collection (fixed in
-- 5.4.5). docs/design/native-core.md, "Session 11, second wave".
-- __MODS.__gc (WIPPY_GC, an A/B switch): "inc[:pause:stepmul:stepsize]" or "gen[:minor:major]".
do
  local mode, a, b, c = (MODS.__gc or "inc:400"):match("^(%a+):?(%d*):?(%d*):?(%d*)$")
  a, b, c = tonumber(a), tonumber(b), tonumber(c)
  if mode == "inc" then collectgarbage("incremental", a or 0, b or 0, c or 0)
  else collectgarbage("generational", a or 0, b or 0) end
end
