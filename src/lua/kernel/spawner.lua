-- process.with_context / process.with_options and the immutable Spawner they return.
--
-- A Spawner carries context values, options, an actor and a scope (the security context the child
-- runs under), a name (spawn-or-signal: if a process already holds the name, it gets the messages
-- and its PID is returned instead of a spawn) and messages to send the child right after it
-- starts (sender: the zero PID). Every with_* returns a new Spawner; none changes its receiver.
-- Misuse (a method called on something that is not a Spawner, a permission missing) raises.
--
-- Owns: Spawner objects and their methods.
-- Receives: cur, err, newud, copy, copy_args, check, encode_actor, encode_scope, locate, post,
-- deliver_msg, local_names, register_child (names.lua), rpc, spawn_from, exec, check_exec_args,
-- wire (ZERO_PID, the m constructor).
return function(deps)
  local cur, err, newud, copy, copy_args, check = deps.cur, deps.err, deps.newud, deps.copy, deps.copy_args, deps.check
  local encode_actor, encode_scope = deps.encode_actor, deps.encode_scope
  local locate, post, deliver_msg = deps.locate, deps.post, deps.deliver_msg
  local local_names, register_child, rpc = deps.local_names, deps.register_child, deps.rpc
  local spawn_from, exec, check_exec_args = deps.spawn_from, deps.exec, deps.check_exec_args
  local type, tostring, pairs, ipairs, select, setmetatable, error =
    type, tostring, pairs, ipairs, select, setmetatable, error
  local sbyte = string.byte
  local W = deps.wire
  local ZERO_PID, wm = W.ZERO_PID, W.m

  local M = {}

  local function ctx_values(P)
    local c = P and P.ctx
    return c and c.values
  end

  local SP = setmetatable({}, { __mode = "k" })
  local sp_methods = {}
  local SP_MT = { __index = sp_methods, __metatable = "process.Spawner",
    __tostring = function() return "process.Spawner" end }

  local function new_spawner(st)
    local u = newud(SP_MT)
    SP[u] = st
    return u
  end
  local function clone(st)
    local c = {}
    for k, v in pairs(st) do c[k] = v end
    return c
  end
  local function merged(a, b)
    local out = {}
    if a then for k, v in pairs(a) do out[k] = v end end
    for k, v in pairs(b) do
      if type(k) ~= "string" then error("context keys must be strings", 3) end
      local c, cerr = copy(v)
      if cerr then error(err("Invalid", "context value " .. k .. ": " .. cerr, false), 3) end
      out[k] = c
    end
    return out
  end
  -- The spawner a method was called on; anything else (sp.spawn(x), a userdata of another kind)
  -- raises, as spawner misuse does.
  local function spawner_of(self, fname)
    local st = SP[self]
    if not st then
      error(err("Invalid", "bad self to '" .. fname .. "' (process.Spawner expected, got " .. type(self) .. ")", false), 3)
    end
    return st
  end
  local function need(P, action, resource, msg)
    local ok = check(P, action, resource, msg)
    if not ok then error(err("PermissionDenied", msg, false), 3) end
  end

  local function base_spawner(P, values, options)
    return {
      values = values, options = options,
      actor = P.ctx and P.ctx.actor, scope = P.ctx and P.ctx.scope,
      messages = {},
    }
  end

  function M.with_context(values)
    local P = cur()
    if type(values) ~= "table" then error("bad argument #1 to 'with_context' (table expected)", 2) end
    need(P, "process.context", "context", "not allowed to spawn processes with custom context")
    return new_spawner(base_spawner(P, merged(ctx_values(P), values), nil))
  end
  function M.with_options(opts)
    local P = cur()
    if type(opts) ~= "table" then error("bad argument #1 to 'with_options' (table expected)", 2) end
    need(P, "process.context", "context", "not allowed to spawn processes with custom options")
    if opts.network ~= nil then
      need(P, "network.select", tostring(opts.network), "not allowed: network " .. tostring(opts.network))
    end
    return new_spawner(base_spawner(P, merged(ctx_values(P), {}), merged(nil, opts)))
  end
  function sp_methods.with_context(self, values)
    local P = cur()
    local st = spawner_of(self, "with_context")
    if type(values) ~= "table" then error("bad argument #1 to 'with_context' (table expected)", 2) end
    need(P, "process.context", "context", "not allowed to spawn processes with custom context")
    if st.actor or st.scope then
      need(P, "process.security", "security", "not allowed to spawn processes with custom security context")
    end
    local c = clone(st)
    c.values = merged(st.values, values)
    return new_spawner(c)
  end
  function sp_methods.with_options(self, opts)
    local P = cur()
    local st = spawner_of(self, "with_options")
    if type(opts) ~= "table" then error("bad argument #1 to 'with_options' (table expected)", 2) end
    need(P, "process.context", "context", "not allowed to spawn processes with custom options")
    local c = clone(st)
    c.options = merged(c.options, opts)
    return new_spawner(c)
  end
  -- with_actor / with_scope: a new spawner carrying the encoded actor or scope.
  local function with_security(self, field, value, encode)
    local P = cur()
    local st = spawner_of(self, "with_" .. field)
    if value == nil then error(field .. " cannot be nil", 3) end
    local enc = encode(value)
    -- an actor / scope object, or a table already in the encoded form
    if enc == nil and type(value) ~= "table" then
      error(err("Invalid", "bad argument #1 to 'with_" .. field .. "' (security." ..
        (field == "actor" and "Actor" or "Scope") .. " expected, got " .. type(value) .. ")", false), 3)
    end
    need(P, "process.security", "security", "not allowed to spawn processes with custom security context")
    local c = clone(st)
    c[field] = enc or value
    return new_spawner(c)
  end
  function sp_methods.with_actor(self, actor) return with_security(self, "actor", actor, encode_actor) end
  function sp_methods.with_scope(self, scope) return with_security(self, "scope", scope, encode_scope) end
  function sp_methods.with_name(self, name)
    local st = spawner_of(self, "with_name")
    if type(name) ~= "string" or name == "" then error("name cannot be empty", 2) end
    local c = clone(st)
    c.name = name
    return new_spawner(c)
  end
  function sp_methods.with_message(self, topic, ...)
    local st = spawner_of(self, "with_message")
    if type(topic) ~= "string" then error("topic must be a string", 2) end
    if sbyte(topic, 1) == 64 then error(err("Invalid", "cannot send to @ topics", false), 2) end
    local c = clone(st)
    local msgs = {}
    for i, m in ipairs(c.messages) do msgs[i] = m end
    local n = select("#", ...)
    local p = { ... }
    local okc, cerr = copy_args(p, n)
    if not okc then error(cerr, 2) end
    msgs[#msgs + 1] = { topic = topic, n = n, p = p }
    c.messages = msgs
    return new_spawner(c)
  end

  local function spawner_ctx(st)
    return { values = st.values, actor = st.actor, scope = st.scope, options = st.options }
  end

  -- Deliver a spawner's queued messages (sender: the zero PID).
  local function send_spawner_messages(pid, msgs)
    for _, m in ipairs(msgs) do
      local where, target = locate(pid)
      if where == "local" then deliver_msg(target, m.topic, ZERO_PID, m.n, m.p)
      elseif where == "remote" then post(target, wm(pid, ZERO_PID, m.topic, m.n, m.p)) end
    end
  end

  local function sp_spawn(fname, monitor, link)
    return function(self, id, host, ...)
      local P = cur()
      local st = spawner_of(self, fname)
      if id == nil or host == nil then error("spawn requires at least id and host arguments", 2) end
      if type(id) ~= "string" then error(err("Invalid", fname .. ": id must be a string", false), 2) end
      if type(host) ~= "string" then error(err("Invalid", fname .. ": host must be a string", false), 2) end
      need(P, "process.spawn", id, "not allowed to spawn process: " .. tostring(id))
      if monitor then need(P, "process.spawn.monitored", id, "not allowed to spawn monitored process: " .. tostring(id)) end
      if link then need(P, "process.spawn.linked", id, "not allowed to spawn linked process: " .. tostring(id)) end
      need(P, "process.host", host, "not allowed to spawn on host: " .. tostring(host))
      if st.name then
        -- spawn-or-signal: an existing holder of the name gets the messages instead
        local existing = local_names[st.name] or rpc(0, "nlook", st.name)
        if existing then
          send_spawner_messages(existing, st.messages)
          return existing
        end
      end
      local n = select("#", ...)
      local args = { ... }
      local okc, cerr = copy_args(args, n)
      if not okc then return nil, cerr end
      local pid, serr = spawn_from(P, id, host, monitor, link, n, args, spawner_ctx(st), nil, st.name ~= nil)
      if not pid then return nil, serr end
      if st.name then register_child(st.name, pid) end
      send_spawner_messages(pid, st.messages)
      return pid
    end
  end
  sp_methods.spawn = sp_spawn("spawn", false, false)
  sp_methods.spawn_monitored = sp_spawn("spawn_monitored", true, false)
  sp_methods.spawn_linked = sp_spawn("spawn_linked", false, true)
  sp_methods.spawn_linked_monitored = sp_spawn("spawn_linked_monitored", true, true)
  function sp_methods.exec(self, id, host, ...)
    local P = cur()
    local st = spawner_of(self, "exec")
    local ok, verr = check_exec_args(id, host)
    if not ok then return nil, verr end
    need(P, "process.exec", id, "not allowed to exec process: " .. id)
    need(P, "process.host", host, "not allowed to exec on host: " .. host)
    local n = select("#", ...)
    local args = { ... }
    local okc, cerr = copy_args(args, n)
    if not okc then return nil, cerr end
    return exec(P, id, host, n, args, spawner_ctx(st))
  end

  return M
end
