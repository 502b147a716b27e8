-- The `env` module (Wippy docs, "Environment Variables"): get, set, get_all over the variables the
-- registry defines (`env.variable` entries and the `env.storage.*` entries behind them).
--
-- The values live on the main thread (src/runtime/env.ts), so a `set` in one process is seen by
-- every other process of the runtime, on any worker. Each call is one "env" rpc:
--   { "env", tid, pid, req, op, key, value }   answered by   { "rep", pid, req, result, err }
-- with op "get" (result: the value, or err NotFound), "set" (result: true, or err NotFound /
-- PermissionDenied for a read-only variable or storage) or "all" (result: name -> value).
-- The calling coroutine parks for the answer, like process.registry.lookup does.
--
-- Permissions are checked here, before the rpc, with the process's actor and scope:
-- `env.get` / `env.set` on the variable name as given. get_all has no action of its own: it keeps
-- only the variables whose names pass `env.get`.
--
-- Errors (the doc page's kinds): key not a string or empty, value not a string or number ->
-- Invalid; undefined variable or no value -> NotFound; policy denies -> PermissionDenied.
--
-- Receives: deps.rpc(tid, kind, ...) -> result, err (parks the caller); deps.check(P, action,
-- resource, message) -> true | false, err; deps.run.cp (the current process, read at call time);
-- deps.err.
return function(deps)
  local rpc, check, err = deps.rpc, deps.check, deps.err
  local type, tostring, pairs = type, tostring, pairs

  local function key_arg(fname, key)
    if type(key) ~= "string" then
      return nil, err("Invalid", "env." .. fname .. ": key must be a string, got " .. type(key), false)
    end
    if key == "" then return nil, err("Invalid", "env." .. fname .. ": key must not be empty", false) end
    return key
  end

  local function process()
    local P = deps.run.cp
    if not P then error("env is only available inside a process", 3) end
    return P
  end

  local env = {}

  function env.get(key)
    local P = process()
    local k, e = key_arg("get", key)
    if not k then return nil, e end
    local ok, perr = check(P, "env.get", k, "not allowed to read env variable: " .. k)
    if not ok then return nil, perr end
    return rpc(0, "env", "get", k)
  end

  function env.set(key, value)
    local P = process()
    local k, e = key_arg("set", key)
    if not k then return false, e end
    local tv = type(value)
    if tv == "number" then value = tostring(value)
    elseif tv ~= "string" then
      return false, err("Invalid", "env.set: value must be a string, got " .. tv, false)
    end
    local ok, perr = check(P, "env.set", k, "not allowed to write env variable: " .. k)
    if not ok then return false, perr end
    local r, rerr = rpc(0, "env", "set", k, value)
    if rerr then return false, rerr end
    return r == true
  end

  function env.get_all()
    local P = process()
    local all, e = rpc(0, "env", "all")
    if e then return nil, e end
    local out = {}
    for name, value in pairs(all or {}) do
      if check(P, "env.get", name) then out[name] = value end
    end
    return out
  end

  return env
end
