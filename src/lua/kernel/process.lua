-- The `process` module a process sees: identity, send, spawn, subscriptions, signals, links and
-- monitors, exec, options, receive. Names (process.registry) are names.lua, spawners
-- (process.with_context / with_options) spawner.lua, process.upgrade upgrade.lua; this file puts
-- them together.
--
-- Every function checks its arguments and the caller's permission (check: security), then
-- hands the work to the module that owns it. Errors are returned (nil, err), not raised, except
-- where the documented API raises.
--
-- Owns: the process module table, argument checks, destination resolution (PID or name).
-- Receives: run, cur, err, errmsg, check; procs, parse_pid, locate, post, send_bytes, send_frame, remote_uniq (pids.lua);
-- encode, encode_frame (lcodec.c's, or nil), copy, pack (lmsg.c's, or nil); copy_args, deliver_msg and the subscription functions
-- (mailbox.lua); ready, BLOCK, maybe_yield, select (sched.lua); terminate, deliver_event, topo,
-- the event kinds (lifecycle.lua); spawn_from (spawn.lua); exec, check_exec_args, DEFAULT_CANCEL_MS (exec.lua);
-- local_names, registry (names.lua); rpc; readonly, builtin (sandbox.lua); upgrade; spawner;
-- wire (the t and c constructors; the m frame's positions, checked at load: process.send builds
-- it as a table constructor, one VM instruction per field, on the per-message path); sender
-- (lsend.c's constructor, or nil), strict (init.lua's), YIELD_AFTER (sched.lua's).
return function(deps)
  local run, cur, err, errmsg, check = deps.run, deps.cur, deps.err, deps.error_message, deps.check
  local procs, parse_pid, locate, post = deps.procs, deps.parse_pid, deps.locate, deps.post
  local encode, copy, copy_args, deliver_msg = deps.encode, deps.copy, deps.copy_args, deps.deliver_msg
  -- pack(...) -> the payload list of a same-worker send, each value copied | nil, message: the
  -- loop in process.send in one C call on our Lua module (native/lua/lmsg.c); nil on wasmoon's
  local pack = deps.pack
  -- encode_frame(5, "m", pid, from, topic, n, ...) -> the bytes of the "m" frame table below,
  -- without making it or its payload list (native/lua/lcodec.c); nil on wasmoon's module
  local encode_frame = deps.encode_frame
  -- PIDs of other workers already parsed (pids.lua): a remote send skips resolve's parse
  local remote_uniq = deps.remote_uniq
  local send_bytes = deps.send_bytes -- an encoded frame to a thread, held until the step's end (pids.lua)
  -- send_frame(tid, 5, "m", ...): encode_frame into the step's outbox (pids.lua); nil without it
  local send_frame = deps.send_frame
  local mb_inbox, mb_events, mb_listen, mb_unlisten = deps.inbox, deps.events, deps.listen, deps.unlisten
  local H, ready, BLOCK, maybe_yield, chan_select = deps.H, deps.ready, deps.BLOCK, deps.maybe_yield, deps.select
  local terminate, deliver_event, topo = deps.terminate, deps.deliver_event, deps.topo
  local EV_EXIT, EV_LINK_DOWN, EV_CANCEL = deps.EV_EXIT, deps.EV_LINK_DOWN, deps.EV_CANCEL
  local spawn_from, exec, check_exec_args = deps.spawn_from, deps.exec, deps.check_exec_args
  local DEFAULT_CANCEL_MS = deps.DEFAULT_CANCEL_MS
  local W = deps.wire
  local set_of = deps.set_of -- P's watchers/monitoring/links set, made its own at the first member (pids.lua)
  local wt, wc = W.t, W.c
  assert(W.M_PID == 2 and W.M_FROM == 3 and W.M_TOPIC == 4 and W.M_N == 5 and W.M_PAYLOADS == 6,
    "process.lua: the \"m\" frame process.send builds disagrees with wire.lua")
  local local_names, rpc, readonly, builtin = deps.local_names, deps.rpc, deps.readonly, deps.builtin
  local type, tostring, select, pairs = type, tostring, select, pairs
  local sbyte = string.byte
  local raw_yield = coroutine.yield

  local process = {}
  local function E(kind, msg) return nil, err(kind, msg, false) end
  local function wall_s() return H.wall() / 1e9 end

  function process.pid() local P = run.cp; if not P then return E("Invalid", "no context found") end; return P.pid end
  function process.id() local P = run.cp; if not P then return E("Invalid", "no context found") end; return P.id end

  -- A caller's argument inside an error message: cut to 128 bytes, so a 10 MB name does not make
  -- a 10 MB error.
  local function show(v)
    v = tostring(v)
    if #v > 128 then return v:sub(1, 128) .. "... (" .. #v .. " bytes)" end
    return v
  end
  -- Argument check of a destination (nil or not a string) -> nil, Invalid error naming the argument
  local function bad_dest(fname, dest)
    if dest == nil then return E("Invalid", fname .. " requires a destination argument") end
    return E("Invalid", fname .. ": destination must be a string (PID or registered name), got " .. type(dest))
  end

  -- Resolve a destination (pid string or registered name) -> pid | nil, err
  local function resolve(dest)
    if procs[dest] then return dest end -- a live local PID: the common case, no parsing
    if type(dest) ~= "string" then
      return E("Invalid", "destination must be a string (PID or registered name)")
    end
    local host = parse_pid(dest)
    if host then return dest end
    if host == false then return dest end
    local pid = local_names[dest]
    if pid then return pid end
    local r = rpc(0, "nlook", dest)
    if r then return r end
    return E("NotFound", "could not resolve '" .. show(dest) .. "' as PID or registered name")
  end

  local SEND_BUDGET = 1000 -- sends between forced yields, so a sending loop cannot starve its worker
  local YIELD_AFTER = deps.YIELD_AFTER -- maybe_yield's mark (sched.lua), for lsend.c's test of it
  local strict = deps.strict -- the runtime's strict mode (init.lua's check), for lsend.c's test of it
  local last_topic = nil -- a string topic process.send last accepted
  -- The end of every send: P's send budget (a forced yield every SEND_BUDGET sends), then
  -- maybe_yield. -> true
  local function send_tail(P, b)
    if b >= SEND_BUDGET then
      P.sendb = 0
      if run.cur and run.cur.proc == P then ready(run.cur, 0); raw_yield(BLOCK) end
    else
      P.sendb = b
      maybe_yield()
    end
    return true
  end
  local function send(dest, topic, ...)
    local P = cur()
    local n = select("#", ...)
    if dest == nil or topic == nil then
      return E("Invalid", "send requires at least destination and topic arguments")
    end
    if topic ~= last_topic then -- the last topic that passed is not checked again (two C calls)
      if type(topic) ~= "string" then return E("Invalid", "topic must be a string") end
      if sbyte(topic, 1) == 64 then return E("Invalid", "cannot send to @ topics") end
      last_topic = topic
    end
    -- A live process of this worker, the common case: resolve's and locate's first steps inline
    -- (two Lua calls of the ~25 a same-worker message costs); anything else goes through them.
    local pid, target = dest, procs[dest]
    if not target and not remote_uniq[dest] then
      local rerr
      pid, rerr = resolve(dest)
      if not pid then return nil, rerr end
    end
    local allowed, perr = check(P, "process.send", pid, "not allowed to send: ", dest)
    if not allowed then return nil, perr end
    local where
    if target and target.home == nil and target.alive then where = "local"
    else
      where, target = locate(pid)
      if not where then return nil, target end
    end
    if where == "local" then
      if n == 1 then -- one value, the common case: carried without a payload list (mailbox.lua)
        local v, cerr = copy((...)) -- (lcodec.c's copy returns a scalar at once)
        if cerr then return E("Invalid", cerr) end
        deliver_msg(target, topic, P.pid, 1, nil, v)
      else
        local p
        if pack then
          local cerr
          p, cerr = pack(...)
          if not p then return E("Invalid", cerr) end
        else
          p = {}
          for i = 1, n do
            local c, cerr = copy((select(i, ...)))
            if cerr then return E("Invalid", cerr) end
            p[i] = c
          end
        end
        deliver_msg(target, topic, P.pid, n, p)
      end
    else
      if send_frame then -- straight into the step's outbox (pids.lua)
        local ok, eerr = send_frame(target, 5, "m", pid, P.pid, topic, n, ...)
        if not ok then return E("Invalid", eerr) end
      else
        local b, eerr
        if encode_frame then b, eerr = encode_frame(5, "m", pid, P.pid, topic, n, ...)
        else b, eerr = encode({ "m", pid, P.pid, topic, n, { ... } }) end
        if not b then return E("Invalid", eerr) end
        send_bytes(target, b)
      end
    end
    P[4] = P[4] + 1 -- messages sent (ptable.lua; the record's array part, spawn.lua new_proc)
    return send_tail(P, (P.sendb or 0) + 1)
  end
  -- On our Lua module the common case (a live local process, one value, a topic that passes, a
  -- caller allowed without a policy decision) runs in C (native/lua/lsend.c: the same steps,
  -- ending in ldeliver.c's arrival; every other case is this Lua send). It finds these locals by
  -- name among probe's upvalues. With the step's outbox (send_frame), one value to a process of
  -- another worker whose PID pids.lua has parsed (remote_uniq) is the C's too, ending in the
  -- outbox: it finds pids.lua's locals among the upvalues of locate and send_frame.
  local function probe() return run, procs, copy, strict, SEND_BUDGET, YIELD_AFTER, send_tail, send end
  process.send = deps.sender and deps.sender(deliver_msg, probe, send_frame and locate, send_frame) or send

  local function spawn_variant(fname, monitor, link)
    local function f(id, host, ...)
      local P = cur()
      if id == nil or host == nil then return E("Invalid", fname .. " requires at least id and host arguments") end
      if type(id) ~= "string" then return E("Invalid", fname .. ": id must be a string") end
      if type(host) ~= "string" then return E("Invalid", fname .. ": host must be a string") end
      -- (a refusal's text is built only on refusal: check appends its last argument)
      local ok, perr = check(P, "process.spawn", id, "not allowed to spawn process: ", id)
      -- A process without actor or scope gets the same answer from check for every action and
      -- resource (allowed unless the runtime is strict, init.lua check): the first check passed,
      -- so the others would too, and are not made (two to three calls per spawn).
      if ok and P.ctx_actor ~= nil and P.ctx_scope ~= nil then
        if monitor then ok, perr = check(P, "process.spawn.monitored", id, "not allowed to spawn monitored process: ", id) end
        if ok and link then ok, perr = check(P, "process.spawn.linked", id, "not allowed to spawn linked process: ", id) end
        if ok then ok, perr = check(P, "process.host", host, "not allowed to spawn on host: ", host) end
      end
      if not ok then return nil, perr end
      local n = select("#", ...)
      local args = { ... }
      for i = 1, n do -- (mailbox.lua copy_args inline: data only, copied in place)
        local c, cerr = copy(args[i])
        if cerr then return E("Invalid", cerr) end
        args[i] = c
      end
      return spawn_from(P, id, host, monitor, link, n, args)
    end
    -- On our Lua module the common case runs in C (native/lua/lspawn.c spawner, with spawn.lua's
    -- probe: this function, spawn_from and start_here for a process.lua entry started here);
    -- every other case is this Lua function, called with the same arguments.
    if deps.spawner then return deps.spawner(f, monitor, link, probe) end
    return f
  end
  process.spawn = spawn_variant("spawn", false, false)
  process.spawn_monitored = spawn_variant("spawn_monitored", true, false)
  process.spawn_linked = spawn_variant("spawn_linked", false, true)
  process.spawn_linked_monitored = spawn_variant("spawn_linked_monitored", true, true)

  -- Subscriptions (mailbox.lua).
  function process.inbox() return mb_inbox(cur()) end
  function process.events() return mb_events(cur()) end
  function process.listen(topic, opts) return mb_listen(cur(), topic, opts) end
  function process.unlisten(ch) return mb_unlisten(cur(), ch) end

  process.registry = deps.registry

  function process.terminate(dest)
    local P = cur()
    if type(dest) ~= "string" then return bad_dest("terminate", dest) end
    local pid, rerr = resolve(dest)
    if not pid then return nil, err("Internal", errmsg(rerr)) end
    local okt, terr = check(P, "process.terminate", pid, "not allowed to terminate: " .. tostring(dest))
    if not okt then return nil, terr end
    local where, target = locate(pid)
    if not where then return nil, err("Internal", errmsg(target)) end
    if where == "local" then
      terminate(target)
      if target == P then raw_yield(BLOCK) end
    else
      post(target, wt(pid, P.pid))
    end
    return true
  end

  -- process.cancel(dest [, deadline]): a CANCEL event; past the deadline (default 10 s, as a
  -- service stop) the process is terminated.
  function process.cancel(dest, deadline)
    local P = cur()
    if dest == nil then return E("Invalid", "cancel requires at least destination argument") end
    if type(dest) ~= "string" then return bad_dest("cancel", dest) end
    local ms = DEFAULT_CANCEL_MS
    if deadline ~= nil then
      if math.type(deadline) == "integer" then ms = deadline
      elseif type(deadline) == "string" and builtin.time then
        local d = builtin.time.parse_duration(deadline)
        if not d then return E("Invalid", "invalid duration: " .. show(deadline)) end
        ms = d:milliseconds()
      else
        return E("Invalid", "invalid duration: " .. show(deadline))
      end
    end
    local pid, rerr = resolve(dest)
    if not pid then return nil, err("Internal", errmsg(rerr)) end
    local okc, cerr = check(P, "process.cancel", pid, "not allowed to cancel: " .. tostring(dest))
    if not okc then return nil, cerr end
    local where, target = locate(pid)
    if not where then return nil, err("Internal", errmsg(target)) end
    local at = wall_s()
    if where == "local" then
      deliver_event(target, { kind = EV_CANCEL, from = P.pid, at = at, deadline = at + ms / 1000 })
    else
      post(target, wc(pid, P.pid, at + ms / 1000))
    end
    return true
  end

  local function topo_call(fname, fn)
    return function(dest)
      local P = cur()
      if type(dest) ~= "string" then return bad_dest(fname, dest) end
      local pid, rerr = resolve(dest)
      if not pid then return nil, err("Internal", errmsg(rerr)) end
      local ok, perr = check(P, "process." .. fname, pid, "not allowed to " .. fname .. ": " .. tostring(dest))
      if not ok then return nil, perr end
      return fn(P, pid)
    end
  end
  process.monitor = topo_call("monitor", function(P, pid)
    if P.monitoring[pid] then return E("Internal", "already monitoring pid") end
    local where = locate(pid)
    if not where then return E("Internal", "pid not registered") end
    set_of(P, "monitoring")[pid] = true
    topo(pid, "mon", P.pid)
    return true
  end)
  process.unmonitor = topo_call("unmonitor", function(P, pid)
    if P.monitoring[pid] then P.monitoring[pid] = nil; topo(pid, "um", P.pid) end
    return true
  end)
  process.link = topo_call("link", function(P, pid)
    if P.links[pid] then return true end
    local where = locate(pid)
    if not where then return E("Internal", "pid not registered") end
    set_of(P, "links")[pid] = true
    topo(pid, "lk", P.pid)
    return true
  end)
  process.unlink = topo_call("unlink", function(P, pid)
    if P.links[pid] then P.links[pid] = nil end
    topo(pid, "ul", P.pid)
    return true
  end)

  -- process.exec(id, host, ...): spawn, wait for the EXIT, return its value or nil, err. If the
  -- caller exits first, the callee gets a CANCEL ("caller context canceled").
  function process.exec(id, host, ...)
    local P = cur()
    local ok, verr = check_exec_args(id, host)
    if not ok then return nil, verr end
    local allowed, perr = check(P, "process.exec", id, "not allowed to exec process: " .. id)
    if not allowed then return nil, perr end
    allowed, perr = check(P, "process.host", host, "not allowed to exec on host: " .. host)
    if not allowed then return nil, perr end
    local n = select("#", ...)
    local args = { ... }
    local okc, cerr = copy_args(args, n)
    if not okc then return nil, cerr end
    return exec(P, id, host, n, args, nil)
  end

  process.with_context = deps.with_context
  process.with_options = deps.with_options
  process.upgrade = deps.upgrade

  function process.get_options()
    local P = run.cp
    return { trap_links = P and P.trap_links or false, upgradable = P and P.upgradable or false }
  end
  function process.set_options(t)
    local P = run.cp
    if type(t) ~= "table" then return false, err("Invalid", "options parameter must be a table") end
    if not P then return false, err("Internal", "no process context") end
    local bad
    for k, v in pairs(t) do
      if k == "trap_links" then
        if type(v) ~= "boolean" then return false, err("Invalid", "trap_links must be a boolean") end
        P.trap_links = v
      elseif k == "upgradable" then
        if type(v) ~= "boolean" then return false, err("Invalid", "upgradable must be a boolean") end
        P.upgradable = v
      elseif type(k) == "string" then
        bad = bad or k
      end
    end
    if bad then return false, err("Invalid", "option " .. bad .. " is not supported") end
    return true, nil
  end

  process.event = readonly({ CANCEL = EV_CANCEL, EXIT = EV_EXIT, LINK_DOWN = EV_LINK_DOWN,
    OUTDATED = "pid.outdated" }, "process.event")

  -- The WASM seed's `process.receive(timeout)`: the next lifecycle event or inbox message, waiting
  -- at most `timeout` (nanoseconds, a duration string or Duration). Events come back as their
  -- table plus seed-style aliases: `type` ("EXIT", "LINK_DOWN", "CANCEL"), `value`, `error`.
  local SEED_TYPES = { [EV_EXIT] = "EXIT", [EV_LINK_DOWN] = "LINK_DOWN", [EV_CANCEL] = "CANCEL" }
  function process.receive(timeout)
    cur()
    local ev, inbox = process.events(), process.inbox()
    local cases = { ev:case_receive(), inbox:case_receive() }
    local timer
    if timeout ~= nil then
      local t = builtin.time
      local ch, terr = t.after(timeout)
      if not ch then return nil, terr end
      timer = ch
      cases[3] = ch:case_receive()
    end
    local r = chan_select(cases)
    if r.channel == timer then return E("Timeout", "receive timed out") end
    local v = r.value
    if r.channel == ev and type(v) == "table" then
      v.type = SEED_TYPES[v.kind]
      if v.result then v.value, v.error = v.result.value, v.result.error end
    end
    return v
  end

  return readonly(process, "process")
end
