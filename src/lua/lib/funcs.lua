-- The `funcs` module of the Wippy docs: call a `function.lua` entry (or a `function.wasm` /
-- `function.wat` one: docs/wasm.md) synchronously (funcs.call),
-- asynchronously (funcs.async -> Future), or through an immutable Executor (funcs.new()) that
-- carries context values, an actor, a scope and options (timeout, host).
--
-- What it owns: argument validation, the `funcs.*` permission checks, the Executor and Future
-- objects, timeouts, and turning a callee's EXIT into results. What it may call: only the kernel
-- interface it receives (deps, below; init.lua builds it for this module alone), so it runs
-- unchanged in the worker's kernel and under a fake kernel in tests (test/lua/funcs_fake.lua).
--
-- The kernel interface, deps (every field is used; nothing else is reached; copied into locals
-- when the module loads):
--   exec_start(P, id, host, n, args, ctx, on_exit) -> handle | nil, err
--       spawn entry `id` on `host` for caller P with context ctx (nil: inherit P's), call
--       on_exit(ev) once with its EXIT event (ev.result.value / .values / .error); while it runs
--       P is "waiting on a pending operation", not deadlocked; handle.cancel(reason) sends the
--       callee a CANCEL and stops waiting (on_exit is then never called); when P exits, the
--       kernel cancels what it still waits for.
--   current() -> P | nil      the calling process; funcs reads P.host and P.ctx
--                               ({ values, actor, scope, options }, encoded as spawn passes it)
--   check(P, action, resource, msg) -> true | false, err    permission check
--   error(kind, msg) -> error  a non-retryable error of the kernel's kinds
--   entry_kind(id) -> kind, default_host | nil   (default_host: a process.lua entry's
--                               meta.default_host, which makes it callable as a function)
--   copy_args(args, n) -> true | nil, err   deep-copy values leaving the caller (in place)
--   chan_new(cap), chan_offer(ch, v), chan_close(ch)   kernel channels
--   payload(v) -> Payload      the payload wrapper messages use (payload:data())
--   timer_add(at_ms, fn) -> h, timer_cancel(h), now_ms()   scheduler timers (fn runs
--                               outside any process, so it only settles state and offers)
--   on_cancel(P, fn) -> token, off_cancel(P, token)   fn(ev) runs when P receives a CANCEL
--                               (outside P's coroutines); a pending call is cancelled with P
--   newud(mt) -> userdata      Executor and Future are userdata with state in side tables
--   encode_actor(a), encode_scope(s) -> encoded | nil   security objects as a ctx carries them
--   duration_ms(s) -> ms | nil optional: Go duration strings for `timeout`
--
-- Protocol. A call is one callee frame: a `function.lua` entry spawned with exec_start on the
-- caller's host (a `process.lua` entry with meta.default_host: on that host; the kernel queues it
-- on the host's run queues, so any worker of the host may run it and many concurrent calls spread
-- over the host's workers), or on `options.host`. Its EXIT
-- settles a call record { state, value(s), err } once: "ok", "error", "timeout" or "canceled";
-- whichever comes first (EXIT, timeout timer, Future:cancel) wins and the others find it settled.
-- A settled async call puts its result on the Future's channel (capacity 1): one Payload, or a
-- table of Payloads when the function returned several values, and leaves it open (a closed
-- channel would wake every later select over it); on an error, timeout or cancel the channel is
-- closed empty (receive gives nil, false) and result()/error() say why. funcs.call waits on the
-- same record without building a Future.
--
-- Choices where the docs leave room (docs/funcs.md lists them):
--   * results: `return v` gives v; `return nil, err` (or `false, "msg"`) gives nil, err; several
--     values with no error in second place are all returned by call, and as a table of Payloads by
--     Future:result() and the channel.
--   * timeout (with_options { timeout = ms | "5s" }) ends the call with kind Timeout and sends the
--     callee a CANCEL; Future:cancel() ends it with kind Canceled and does the same; so does a
--     CANCEL event reaching the caller (is_canceled() stays false: cancel() was not called).
--     A caller that exits has its calls cancelled by the kernel.
--   * with_context / with_actor / with_scope check funcs.context / funcs.security when called
--     and return nil, err on denial (the docs: "Returns: Executor, error").
--   * options.host (implementation-specific, as the docs allow) runs the callee on another
--     process.host; it is checked by process.host on that host.
--
-- Alternatives rejected: running the function inline in the caller's coroutine (no isolation of
-- globals, no cancellation, no spreading over workers); a JS-side call path (every call would
-- cross to the main thread and back).
return function(deps)
  local exec_start, current_process, check, new_error = deps.exec_start, deps.current, deps.check, deps.error
  local entry_kind, copy_args, payload, newud = deps.entry_kind, deps.copy_args, deps.payload, deps.newud
  local chan_new, chan_offer, chan_close = deps.chan_new, deps.chan_offer, deps.chan_close
  local timer_add, timer_cancel, now_ms = deps.timer_add, deps.timer_cancel, deps.now_ms
  local on_cancel, off_cancel = deps.on_cancel, deps.off_cancel
  local encode_actor, encode_scope, duration_ms = deps.encode_actor, deps.encode_scope, deps.duration_ms
  local type, tostring, select, pairs, setmetatable, error = type, tostring, select, pairs, setmetatable, error
  local tunpack = table.unpack

  local function fail(kind, msg) return nil, new_error(kind, msg) end

  -- Entry kinds callable as functions. A WASM function's frame is a kernel process too (its body,
  -- kernel/wasm.lua, asks the main thread's pools to run the guest), so every call path below is
  -- the same for all three.
  local FUNCTION_KINDS = { ["function.lua"] = true, ["function.wasm"] = true, ["function.wat"] = true }

  -- "namespace:name" with both parts non-empty, naming a function entry (FUNCTION_KINDS) or a process.lua
  -- entry with meta.default_host. -> true, default_host | nil, err
  local function check_target(id)
    if type(id) ~= "string" then return fail("Invalid", "function id must be a string, got " .. type(id)) end
    if id == "" then return fail("Invalid", "function id is empty") end
    local c = id:find(":", 1, true)
    if not c or c == 1 then return fail("Invalid", "function id has no namespace: " .. id .. " (namespace:name required)") end
    if c == #id then return fail("Invalid", "function id has no name: " .. id .. " (namespace:name required)") end
    local kind, default_host = entry_kind(id)
    if kind == nil then return fail("NotFound", "function not found: " .. id) end
    if kind == "process.lua" and default_host then return true, default_host end
    if not FUNCTION_KINDS[kind] then
      return fail("Invalid", "entry " .. id .. " is a " .. tostring(kind) ..
        ", not a function (function.lua, function.wasm, function.wat, or process.lua with meta.default_host)")
    end
    return true
  end

  ---------------------------------------------------------------------------------------------
  -- Executors: { values, actor, scope, timeout, host }, all optional; immutable.
  local EX = setmetatable({}, { __mode = "k" })
  local ex_methods = {}
  local EX_MT = { __index = ex_methods, __metatable = "funcs.Executor",
    __tostring = function() return "funcs.Executor" end }
  local function new_executor(st)
    local u = newud(EX_MT)
    EX[u] = st
    return u
  end
  local function clone(st)
    local c = {}
    for k, v in pairs(st) do c[k] = v end
    return c
  end
  local function executor_of(self, fname)
    local st = EX[self]
    if not st then
      error(new_error("Invalid", "bad self to '" .. fname .. "' (funcs.Executor expected, got " .. type(self) .. ")"), 3)
    end
    return st
  end
  local function current()
    local P = current_process()
    if not P then return fail("Invalid", "no context found: funcs is used from a process or function") end
    return P
  end

  function ex_methods.with_context(self, values)
    local st = executor_of(self, "with_context")
    local P, perr = current()
    if not P then return nil, perr end
    if type(values) ~= "table" then return fail("Invalid", "with_context: values must be a table, got " .. type(values)) end
    local ok, derr = check(P, "funcs.context", "context", "not allowed to call functions with custom context")
    if not ok then return nil, derr end
    local merged = {}
    if st.values then for k, v in pairs(st.values) do merged[k] = v end end
    for k, v in pairs(values) do
      if type(k) ~= "string" then return fail("Invalid", "with_context: context keys must be strings") end
      local box = { v }
      local okc, cerr = copy_args(box, 1)
      if not okc then return fail("Invalid", "with_context: context value " .. k .. ": " .. tostring(cerr)) end
      merged[k] = box[1]
    end
    local c = clone(st)
    c.values = merged
    return new_executor(c)
  end

  local function with_security(self, field, value, encode)
    local st = executor_of(self, "with_" .. field)
    local P, perr = current()
    if not P then return nil, perr end
    if value == nil then return fail("Invalid", "with_" .. field .. ": " .. field .. " cannot be nil") end
    local enc = encode(value)
    if enc == nil then
      return fail("Invalid", "with_" .. field .. ": security." .. (field == "actor" and "Actor" or "Scope") ..
        " expected, got " .. type(value))
    end
    local ok, derr = check(P, "funcs.security", "security", "not allowed to call functions with custom security context")
    if not ok then return nil, derr end
    local c = clone(st)
    c[field] = enc
    return new_executor(c)
  end
  function ex_methods.with_actor(self, actor) return with_security(self, "actor", actor, encode_actor) end
  function ex_methods.with_scope(self, scope) return with_security(self, "scope", scope, encode_scope) end

  -- A timeout in milliseconds: a number (ms) or a duration string when the kernel parses them.
  local function timeout_ms(v)
    if type(v) == "number" and v == v then
      if v <= 0 then return nil, "timeout must be positive" end
      return v
    end
    if type(v) == "string" and duration_ms then
      local ms = duration_ms(v)
      if ms and ms > 0 then return ms end
      return nil, "invalid timeout duration: " .. v
    end
    return nil, "timeout must be a number of milliseconds" .. (duration_ms and " or a duration string" or "") ..
      ", got " .. type(v)
  end

  function ex_methods.with_options(self, opts)
    local st = executor_of(self, "with_options")
    if type(opts) ~= "table" then return fail("Invalid", "with_options: options must be a table, got " .. type(opts)) end
    local c = clone(st)
    if opts.timeout ~= nil then
      local ms, terr = timeout_ms(opts.timeout)
      if not ms then return fail("Invalid", "with_options: " .. terr) end
      c.timeout = ms
    end
    if opts.host ~= nil then
      if type(opts.host) ~= "string" or opts.host == "" then
        return fail("Invalid", "with_options: host must be a non-empty string")
      end
      c.host = opts.host
    end
    return new_executor(c)
  end

  ---------------------------------------------------------------------------------------------
  -- Calls.

  -- The callee's context: nil (inherit the caller's) unless the executor overrides something.
  local function call_ctx(P, st)
    if st.values == nil and st.actor == nil and st.scope == nil then return nil end
    local pc = P.ctx or {}
    local values = pc.values
    if st.values then
      values = {}
      if pc.values then for k, v in pairs(pc.values) do values[k] = v end end
      for k, v in pairs(st.values) do values[k] = v end
    end
    return { values = values, actor = st.actor or pc.actor, scope = st.scope or pc.scope, options = pc.options }
  end

  -- Settle call record c once; later outcomes find it settled and do nothing.
  local function settle(c, state, r, err)
    if c.state ~= "pending" then return false end
    c.state = state
    if c.timer then timer_cancel(c.timer); c.timer = nil end
    if c.cancel_token then off_cancel(c.P, c.cancel_token); c.cancel_token = nil end
    if state == "ok" then
      if r.values then c.values = r.values else c.values = { n = 1, r.value } end
    else
      c.err = err
    end
    if c.on_settle then c.on_settle(c) end
    -- A result stays buffered (the channel stays open, so a select over several futures is not
    -- woken again by this one); an error, timeout or cancel closes it empty.
    if state ~= "ok" or not c.on_settle then chan_close(c.ch) end
    return true
  end

  -- Start a call: -> call record | nil, err. `wrap` (async): put the result on the channel.
  local function start(st, id, n, args, wrap)
    local P, perr = current()
    if not P then return nil, perr end
    local ok, dh = check_target(id)
    if not ok then return nil, dh end
    local host = dh or P.host -- a process called as a function runs on its default host
    local verr
    ok, verr = check(P, "funcs.call", id, "not allowed to call function: " .. id)
    if not ok then return nil, verr end
    if st.host then
      host = st.host
      ok, verr = check(P, "process.host", host, "not allowed to call functions on host: " .. host)
      if not ok then return nil, verr end
    end
    ok, verr = copy_args(args, n)
    if not ok then return nil, verr end
    local c = { state = "pending", ch = chan_new(1), id = id, P = P }
    if wrap then
      c.on_settle = function(s)
        if s.state ~= "ok" then return end
        local vs = s.values
        if vs.n == 1 then chan_offer(s.ch, payload(vs[1])); return end
        local ps = {}
        for i = 1, vs.n do ps[i] = payload(vs[i]) end
        chan_offer(s.ch, ps)
      end
    end
    local h, serr = exec_start(P, id, host, n, args, call_ctx(P, st), function(ev)
      local r = ev.result or {}
      if r.error ~= nil then settle(c, "error", nil, r.error) else settle(c, "ok", r) end
    end)
    if not h then return nil, serr end
    c.handle = h
    if c.state ~= "pending" then return c end
    -- the caller cancelled: its calls are cancelled too, and end with kind Canceled
    c.cancel_token = on_cancel(P, function()
      if c.state ~= "pending" then return end
      h.cancel("caller context canceled")
      settle(c, "error", nil, new_error("Canceled", "caller context canceled: " .. id))
    end)
    if st.timeout then
      local ms = st.timeout
      c.timer = timer_add(now_ms() + ms, function()
        c.timer = nil
        if c.state ~= "pending" then return end
        h.cancel("function call timed out")
        settle(c, "timeout", nil, new_error("Timeout", "function call timed out after " .. ms .. " ms: " .. id))
      end)
    end
    return c
  end

  local function call(st, id, ...)
    local n = select("#", ...)
    local c, err = start(st, id, n, { ... }, false)
    if not c then return nil, err end
    if c.state == "pending" then c.ch:receive() end -- closed when settled
    if c.state ~= "ok" then return nil, c.err end
    local vs = c.values
    return tunpack(vs, 1, vs.n)
  end

  ---------------------------------------------------------------------------------------------
  -- Futures.
  local FU = setmetatable({}, { __mode = "k" })
  local fu_methods = {}
  local FU_MT = { __index = fu_methods, __metatable = "funcs.Future",
    __tostring = function() return "funcs.Future" end }
  local function future_of(self, fname)
    local c = FU[self]
    if not c then
      error(new_error("Invalid", "bad self to '" .. fname .. "' (funcs.Future expected, got " .. type(self) .. ")"), 3)
    end
    return c
  end

  local function async(st, id, ...)
    local n = select("#", ...)
    local c, err = start(st, id, n, { ... }, true)
    if not c then return nil, err end
    local u = newud(FU_MT)
    FU[u] = c
    return u
  end

  function fu_methods.response(self) return future_of(self, "response").ch end
  function fu_methods.channel(self) return future_of(self, "channel").ch end
  function fu_methods.is_complete(self) return future_of(self, "is_complete").state ~= "pending" end
  function fu_methods.is_canceled(self) return future_of(self, "is_canceled").state == "canceled" end
  -- -> nil, nil (pending) | Payload | { Payload, ... }, nil | nil, err
  function fu_methods.result(self)
    local c = future_of(self, "result")
    local s = c.state
    if s == "pending" then return nil, nil end
    if s ~= "ok" then return nil, c.err end
    local vs = c.values
    if vs.n == 1 then return payload(vs[1]), nil end
    local ps = {}
    for i = 1, vs.n do ps[i] = payload(vs[i]) end
    return ps, nil
  end
  -- -> err, true | nil, false
  function fu_methods.error(self)
    local c = future_of(self, "error")
    if c.state == "pending" or c.state == "ok" then return nil, false end
    return c.err, true
  end
  -- -> true (canceled now) | false (already complete or canceled)
  function fu_methods.cancel(self)
    local c = future_of(self, "cancel")
    if c.state ~= "pending" then return false end
    c.handle.cancel("future canceled")
    settle(c, "canceled", nil, new_error("Canceled", "function call canceled: " .. c.id))
    return true
  end

  function ex_methods.call(self, id, ...) return call(executor_of(self, "call"), id, ...) end
  function ex_methods.async(self, id, ...) return async(executor_of(self, "async"), id, ...) end

  local BASE = {}
  local funcs = {}
  function funcs.call(id, ...) return call(BASE, id, ...) end
  function funcs.async(id, ...) return async(BASE, id, ...) end
  function funcs.new() return new_executor({}) end
  return funcs
end
