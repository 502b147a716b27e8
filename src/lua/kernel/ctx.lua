-- The `ctx` module: the context values a process was spawned with (process.with_context), read
-- only. Values are copied out, so a process cannot change what its children inherit.
--
-- Owns: the ctx module table.
-- Receives: run (run.cp), copy, err.
return function(deps)
  local run, copy, err = deps.run, deps.copy, deps.err
  local type = type

  local function ctx_values(P)
    local c = P and P.ctx
    return c and c.values
  end

  local ctx = {}
  function ctx.get(key)
    if type(key) ~= "string" or key == "" then return nil, err("Invalid", "context key must be a non-empty string", false) end
    local v = ctx_values(run.cp)
    if v == nil or v[key] == nil then return nil, err("NotFound", "context value not found: " .. key, false) end
    return copy(v[key])
  end
  function ctx.all()
    return copy(ctx_values(run.cp) or {})
  end
  return ctx
end
