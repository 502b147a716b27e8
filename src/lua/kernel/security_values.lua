-- Security values: what policy conditions and policy expressions read and how they compare.
--
-- Owns: the value rules both condition operators and expression operators share (equality with
-- numeric strings, ordering, list membership, containment), the field paths a rule may name
-- (action, resource, actor.id, actor.meta[.k...], meta[.k...]), the deep copy that keeps actor
-- metadata plain data, and the string-argument check of the Lua-facing methods.
-- May call: nothing of the kernel. deps: none (the argument is ignored).
--
-- Results of the comparisons are true / false, or nil when the operation cannot be evaluated
-- (uncomparable types); callers decide what "cannot be evaluated" means for them (a condition is
-- then not met; an expression raises its failure sentinel).
--
-- Module: copy_data(v) eq(a, b) cmp(a, b) is_in(a, list) contains(a, b)
--         compile_path(segs, text) -> getter | nil, err      compile_field("a.b.c") -> the same
--         str_arg(v, argn, fname) -> v, or raises "bad argument" at the caller's caller
-- A getter is function(A, action, resource, meta) where A is the actor's state ({ id, meta }) or nil.
return function(deps)
  local type, pairs, ipairs, tostring, tonumber, error = type, pairs, ipairs, tostring, tonumber, error
  local sfind = string.find

  -- Deep copy of plain data (strings, numbers, booleans, tables). Anything else is dropped: actor
  -- metadata must survive the codec unchanged. Cycles are cut (a repeated table becomes shared).
  local function copy_data(v, seen)
    local t = type(v)
    if t == "string" or t == "number" or t == "boolean" then return v end
    if t ~= "table" then return nil end
    seen = seen or {}
    if seen[v] then return seen[v] end
    local out = {}
    seen[v] = out
    for k, x in pairs(v) do
      local tk = type(k)
      if tk == "string" or tk == "number" or tk == "boolean" then
        out[k] = copy_data(x, seen)
      end
    end
    return out
  end

  ---------------------------------------------------------------------------------------------
  -- Value semantics shared by conditions and expressions. Results: true / false, or nil when the
  -- operation cannot be evaluated.

  local function eq(a, b)
    if a == b then return true end
    local ta, tb = type(a), type(b)
    if ta == "number" and tb == "string" then return a == tonumber(b) end
    if ta == "string" and tb == "number" then return tonumber(a) == b end
    return false
  end

  -- -> -1 | 0 | 1, or nil when a and b are not comparable
  local function cmp(a, b)
    local ta, tb = type(a), type(b)
    if ta == "string" and tb == "string" then
      if a == b then return 0 end
      return a < b and -1 or 1
    end
    if (ta == "number" or ta == "string") and (tb == "number" or tb == "string") then
      local x, y = tonumber(a), tonumber(b)
      if x == nil or y == nil or x ~= x or y ~= y then return nil end
      if x == y then return 0 end
      return x < y and -1 or 1
    end
    return nil
  end

  local function is_in(a, list)
    if type(list) ~= "table" then return nil end
    if a == nil then return false end
    for _, x in ipairs(list) do if eq(a, x) then return true end end
    return false
  end

  local function contains(a, b)
    local ta = type(a)
    if a == nil then return false end
    if ta == "table" then
      for _, x in ipairs(a) do if eq(x, b) then return true end end
      return false
    end
    if ta == "number" then a = tostring(a) elseif ta ~= "string" then return nil end
    local tb = type(b)
    if tb == "number" then b = tostring(b) elseif tb ~= "string" then return nil end
    return sfind(a, b, 1, true) ~= nil
  end

  ---------------------------------------------------------------------------------------------
  -- Field paths. A getter is `function(A, action, resource, meta)` where A is the actor's state
  -- ({ id, meta }) or nil.

  local function walk(t, segs, from)
    for i = from, #segs do
      if type(t) ~= "table" then return nil end
      local seg = segs[i]
      local v = t[seg]
      if v == nil then
        local n = tonumber(seg)
        if n then v = t[n] end
      end
      t = v
    end
    return t
  end

  -- -> getter | nil, err
  local function compile_path(segs, text)
    local root, n = segs[1], #segs
    if root == "action" and n == 1 then return function(_, action) return action end end
    if root == "resource" and n == 1 then return function(_, _, resource) return resource end end
    if root == "meta" then
      if n == 1 then return function(_, _, _, meta) return meta end end
      if n == 2 then
        local k = segs[2]
        local nk = tonumber(k)
        return function(_, _, _, meta)
          if type(meta) ~= "table" then return nil end
          local v = meta[k]
          if v == nil and nk then v = meta[nk] end
          return v
        end
      end
      return function(_, _, _, meta) return walk(meta, segs, 2) end
    end
    if root == "actor" then
      if segs[2] == "id" and n == 2 then return function(A) return A and A.id end end
      if segs[2] == "meta" then
        if n == 2 then return function(A) return A and A.meta end end
        return function(A) return A and walk(A.meta, segs, 3) end
      end
    end
    return nil, "unknown field '" .. text .. "'"
  end

  local function split_path(path)
    local segs = {}
    for seg in (path .. "."):gmatch("([^.]*)%.") do
      if seg == "" then return nil end
      segs[#segs + 1] = seg
    end
    return segs
  end

  local function compile_field(path)
    if type(path) ~= "string" then return nil, "field must be a string" end
    local segs = split_path(path)
    if not segs then return nil, "bad field path '" .. path .. "'" end
    return compile_path(segs, path)
  end

  local function str_arg(v, argn, fname)
    if type(v) ~= "string" then
      error("bad argument #" .. argn .. " to '" .. fname .. "' (string expected, got " .. type(v) .. ")", 3)
    end
    return v
  end

  return { copy_data = copy_data, eq = eq, cmp = cmp, is_in = is_in, contains = contains,
    compile_path = compile_path, compile_field = compile_field, str_arg = str_arg }
end
