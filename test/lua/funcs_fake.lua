-- A fake kernel for src/lua/lib/funcs.lua: exec_start records each call and lets the test end it
-- by hand (F.exit) or at once (F.auto: a function from the call record to its EXIT result, run
-- inside exec_start before it returns, the earliest an EXIT could ever come); timers fire when the
-- test advances the clock; channels are plain tables that never block (a receive that would
-- block raises "would block"); permissions are denied by "action resource" keys in F.deny.
--
-- Usage: local F, K, funcs = (load(FAKE_SRC))()(FUNCS_SRC)
return function(funcs_src)
  local F = {
    now = 0.0, timers = {}, seq = 0,
    calls = {},                      -- every exec_start: { P, id, host, n, args, ctx, on_exit, cancelled }
    checks = {},                     -- every permission check: "action resource"
    deny = {},                       -- "action resource" -> true: denied
    entries = { ["app:add"] = "function.lua", ["app:proc"] = "process.lua", ["app:lib"] = "library.lua",
      ["app:svc"] = { "process.lua", "app:procs" } },  -- kind, or { kind, meta.default_host }
    P = { pid = "{app:h|0x00001}", host = "app:h", ctx = nil },
    auto = nil,                      -- function(call) -> EXIT result, to end calls inside exec_start
    start_error = nil,               -- an error exec_start returns instead of starting
  }
  local K = {}

  local ERR = { __tostring = function(e) return e.msg end }
  ERR.__index = { kind = function(e) return e.k end, message = function(e) return e.msg end }
  function K.error(kind, msg) return setmetatable({ k = kind, msg = msg }, ERR) end
  F.err = K.error

  function K.current() return F.P end
  function K.check(P, action, resource, msg)
    F.checks[#F.checks + 1] = action .. " " .. resource
    if F.deny[action .. " " .. resource] then return false, K.error("PermissionDenied", msg) end
    return true
  end
  function K.entry_kind(id)
    local e = F.entries[id]
    if type(e) == "table" then return e[1], e[2] end
    return e
  end
  function K.copy_args(args, n)
    for i = 1, n do
      if type(args[i]) == "function" then return nil, K.error("Invalid", "cannot send a function") end
      if type(args[i]) == "table" then
        local c = {}
        for k, v in pairs(args[i]) do c[k] = v end
        args[i] = c
      end
    end
    return true
  end

  function K.exec_start(P, id, host, n, args, ctx, on_exit)
    if F.start_error then return nil, F.start_error end
    local c = { P = P, id = id, host = host, n = n, args = args, ctx = ctx, on_exit = on_exit }
    F.calls[#F.calls + 1] = c
    c.handle = { cancel = function(reason)
      if c.cancelled or c.exited then return false end
      c.cancelled = reason
      return true
    end }
    if F.auto then F.exit(#F.calls, F.auto(c)) end
    return c.handle
  end
  -- End call i with EXIT result r ({ value = } / { values = } / { error = }), as the kernel would:
  -- not after a cancel (the kernel stops waiting), and only once.
  function F.exit(i, r)
    local c = F.calls[i]
    if c.cancelled or c.exited then return false end
    c.exited = true
    c.on_exit({ kind = "pid.exit", from = "{app:add#lua.1|0x00009}", result = r })
    return true
  end

  function K.now_ms() return F.now end
  function K.timer_add(at, fn)
    F.seq = F.seq + 1
    local h = { at = at, seq = F.seq, fn = fn, live = true }
    F.timers[#F.timers + 1] = h
    return h
  end
  function K.timer_cancel(h) if h.live then h.live = false; return true end; return false end
  function F.advance(ms)
    local target = F.now + ms
    while true do
      local best
      for _, h in ipairs(F.timers) do
        if h.live and h.at <= target and (not best or h.at < best.at) then best = h end
      end
      if not best then break end
      best.live = false
      F.now = best.at
      best.fn()
    end
    F.now = target
  end
  function F.live_timers()
    local n = 0
    for _, h in ipairs(F.timers) do if h.live then n = n + 1 end end
    return n
  end

  local CH = {}
  CH.__index = CH
  function K.chan_new(cap) return setmetatable({ buf = {}, cap = cap, closed = false }, CH) end
  function K.chan_offer(ch, v)
    if ch.closed or #ch.buf >= ch.cap then return false end
    ch.buf[#ch.buf + 1] = v
    return true
  end
  function K.chan_close(ch) ch.closed = true end
  function CH:receive()
    if #self.buf > 0 then return table.remove(self.buf, 1), true end
    if self.closed then return nil, false end
    error("would block", 2)
  end

  local PAY = { __index = { data = function(p) return p.v end } }
  function K.payload(v) return setmetatable({ v = v }, PAY) end
  function K.newud(mt) return setmetatable({}, mt) end

  -- CANCEL hooks of the caller; F.cancel_caller() delivers a CANCEL to it.
  F.hooks = {}
  function K.on_cancel(P, fn) local tok = {}; F.hooks[tok] = fn; return tok end
  function K.off_cancel(P, tok) assert(F.hooks[tok], "off_cancel of a token that is not held"); F.hooks[tok] = nil end
  function F.live_hooks() local n = 0; for _ in pairs(F.hooks) do n = n + 1 end; return n end
  function F.cancel_caller()
    local ev = { kind = "pid.cancel", reason = "test" }
    for _, fn in pairs(F.hooks) do fn(ev) end
  end

  -- Actors and scopes: tables marked by the test; anything else is not one.
  function K.encode_actor(a) return type(a) == "table" and a.actor_id and { id = a.actor_id } or nil end
  function K.encode_scope(s) return type(s) == "table" and s.scope_ids or nil end
  function K.duration_ms(s)
    local n, u = s:match("^(%d+)(m?s)$")
    if not n then return nil end
    return tonumber(n) * (u == "s" and 1000 or 1)
  end

  local funcs = assert(load(funcs_src, "@src/lua/lib/funcs.lua", "t"))()(K)
  return F, K, funcs
end
