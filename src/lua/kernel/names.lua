-- Registered names: the `process.registry` API and this worker's cache of names its own
-- processes hold.
--
-- The main thread serves the registry ("nreg", "nlook", "nunreg" requests, rpc.lua). A name held
-- by a process of this worker is also in `local_names`, so resolving it costs no request, and in
-- P.names, so the holder's exit releases it. Rule: a name is released before anyone hears of its
-- holder's exit. The exiting process's worker sends {"x", SELF, pid, req} and holds the EXIT /
-- LINK_DOWN events back until the main thread answers {"xack", req} (lifecycle.lua's finalize
-- calls `release`, frames.lua passes the answer to `acked`).
--
-- Owns: local_names (name -> pid), the pending releases, the registry API functions.
-- Receives: procs, post, rpc (call, next_seq), cur (the calling process, or raise), check
-- (permissions), err, readonly, SELF, wire (the x / nok constructors, the nown indices).
return function(deps)
  local procs, post, rpc, next_seq = deps.procs, deps.post, deps.rpc, deps.next_seq
  local W = deps.wire
  local NOWN_PID, NOWN_NAME, NOWN_TOKEN, wx, wnok = W.NOWN_PID, W.NOWN_NAME, W.NOWN_TOKEN, W.x, W.nok
  local cur, check, err, readonly, SELF = deps.cur, deps.check, deps.err, deps.readonly, deps.SELF
  local set_of = deps.set_of -- P.names, made its own at the first name (pids.lua)
  local type, tostring, pairs = type, tostring, pairs
  local sbyte = string.byte

  local M = {}
  local local_names = {} -- name -> pid, for names held by processes of this worker
  M.local_names = local_names
  local pending_release = {} -- request -> process whose exit waits for the main thread's "xack"

  local function E(kind, msg) return nil, err(kind, msg, false) end
  -- A caller's argument inside an error message: cut to 128 bytes.
  local function show(v)
    v = tostring(v)
    if #v > 128 then return v:sub(1, 128) .. "... (" .. #v .. " bytes)" end
    return v
  end

  -- P is exiting and holds names: drop them here and ask the main thread to release them.
  function M.release(P)
    for name in pairs(P.names) do
      if local_names[name] == P.pid then local_names[name] = nil end
    end
    local req = next_seq()
    pending_release[req] = P
    post(0, wx(SELF, P.pid, req))
  end

  -- {"xack", req}: -> the process whose exit may now be told, or nil
  function M.acked(req)
    local P = pending_release[req]
    if P then pending_release[req] = nil end
    return P
  end

  -- {"nown", pid, name, token}: the main thread registered `name` for `pid`, a process of this
  -- worker, on behalf of a process elsewhere (register(name, pid), a with_name spawn on another
  -- host). The holder counts the name as its own, so its exit releases it before the EXIT goes
  -- out; the main thread answers the registering process only after {"nok", token}. A holder
  -- already gone releases it at once (its EXIT is out already; nothing to order, so req 0: the
  -- main thread sends no "xack" for it).
  function M.own(f)
    local pid = f[NOWN_PID]
    local P, name = procs[pid], f[NOWN_NAME]
    if P and P.alive then
      set_of(P, "names")[name] = true
      local_names[name] = P.pid
    else
      post(0, wx(SELF, pid, 0))
    end
    post(0, wnok(f[NOWN_TOKEN]))
  end

  -- A with_name spawn registered `name` for the child `pid` it just started (spawner.lua).
  -- Marked before the request, as in register: the child's exit releases it even if the spawner
  -- dies while it waits.
  function M.register_child(name, pid)
    local holder = procs[pid]
    if holder and not holder.names[name] then set_of(holder, "names")[name] = "pending" end
    local ok = rpc(0, "nreg", name, pid)
    if holder and holder.names[name] == "pending" then
      holder.names[name] = ok and procs[pid] == holder or nil
      if holder.names[name] then local_names[name] = pid end
    end
  end

  local registry = { LOCAL = 0, EVENTUAL = 1, CONSISTENT = 2, STRONG = 3 }
  function registry.register(name, pid, scope)
    local P = cur()
    if type(name) ~= "string" or name == "" then return E("Invalid", "name must be a non-empty string") end
    if pid ~= nil then
      if type(pid) ~= "string" then return E("Invalid", "pid must be a string") end
      if sbyte(pid, 1) ~= 123 or sbyte(pid, -1) ~= 125 then return E("Invalid", "invalid pid format: missing braces") end
      if not pid:find("|", 1, true) then return E("Invalid", "invalid pid format: missing pipe") end
    else
      pid = P.pid
    end
    if scope ~= nil and type(scope) ~= "number" then
      return E("Invalid", "scope must be a number (process.registry.LOCAL|EVENTUAL|CONSISTENT|STRONG)")
    end
    if scope ~= nil and not (scope == 0 or scope == 1 or scope == 2 or scope == 3) then
      return E("Invalid", "scope must be one of process.registry.LOCAL|EVENTUAL|CONSISTENT|STRONG, got " .. show(scope))
    end
    if pid ~= P.pid then
      local okf, ferr = check(P, "process.registry.foreign", pid,
        "not allowed to register foreign pid " .. pid .. ' under name "' .. name .. '"')
      if not okf then return nil, ferr end
    end
    local scopename = ({ [1] = "eventual", [2] = "consistent", [3] = "strong" })[scope]
    if scopename then
      local okr, rerr2 = check(P, "process.registry.register." .. scopename, name,
        "not allowed to register name (" .. scopename .. "): " .. name)
      if not okr then return nil, rerr2 end
    else
      local okr, rerr2 = check(P, "process.registry.register", name, "not allowed to register name: " .. name)
      if not okr then return nil, rerr2 end
    end
    if scope == 1 then return E("Internal", "eventual registry not available") end
    if scope == 2 or scope == 3 then return E("Internal", "global registry not available") end
    -- A local holder counts the name as its own before the rpc: killed while it waits, it still
    -- sends the release ("x", behind the "nreg" on the same ring), so the name cannot outlive it.
    local holder = procs[pid]
    if holder and not holder.names[name] then set_of(holder, "names")[name] = "pending" end
    local ok, rerr = rpc(0, "nreg", name, pid)
    if not ok then
      if holder and holder.names[name] == "pending" then holder.names[name] = nil end
      return nil, rerr
    end
    if holder and procs[pid] == holder then set_of(holder, "names")[name] = true; local_names[name] = pid end
    return true
  end
  function registry.lookup(name)
    cur()
    if type(name) ~= "string" then return E("Invalid", "name must be a string") end
    local pid = local_names[name]
    if pid then return pid end
    local r = rpc(0, "nlook", name)
    if r then return r end
    return E("NotFound", "name not registered")
  end
  function registry.unregister(name)
    local P = cur()
    if type(name) ~= "string" then return E("Invalid", "name must be a string") end
    local oku, uerr = check(P, "process.registry.unregister", name, "not allowed to unregister name: " .. name)
    if not oku then return nil, uerr end
    local pid = local_names[name]
    if pid then
      local_names[name] = nil
      local holder = procs[pid]
      if holder then holder.names[name] = nil end
    end
    local r = rpc(0, "nunreg", name)
    return r == true
  end
  M.registry = readonly(registry, "process.registry")

  return M
end
