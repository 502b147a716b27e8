-- Runtime type values of the typed-Lua dialect: what `type X = ...` declarations compile to, the
-- casts `string(x)`, `number(x)`, `integer(x)`, `boolean(x)`, `X(x)` and `X:is(x)`, and type
-- reflection (`X:kind()`, `X:fields()`, `Integer <= Number`, ...).
--
-- Shape: `return function(deps) ... return M end`. deps: err(kind, message) -> error object,
-- is_error(v), pattern.find(s, pattern) for the @pattern validator (the kernel's budgeted
-- matcher; string.find when absent), newud(mt) -> a userdata with metatable mt. M.install(globals, string_mt, readonly)
-- adds what a process sees (see the end of this file).
--
-- Model. A type value is an empty userdata (deps.newud; a table where there is none, as in unit
-- tests) whose state lives in a weak-keyed side table (DATA). The builtin types are shared by
-- every process of a worker, so they must be immutable: a userdata cannot be rawset, and its
-- metatable is hidden. The side table also lets `T.field` mean "the type of field `field`"
-- without clashing with the state. Its metatable gives it:
--   * __call(T, v)  - validate and convert: returns the value, or raises an Invalid error;
--   * T:is(v)       - validate without raising: (value, nil) or (nil, Invalid error);
--   * reflection    - kind, name, fields, elem, key, val, inner, variants, params, ret;
--   * __le / __lt   - subtyping (`Integer <= Number`); == is identity (one value per builtin).
--
-- Casts. A primitive called as a function converts what Lua can convert without loss:
--   string(x):  strings; numbers (as tostring writes them); error objects (their message).
--   number(x):  numbers; strings Lua's tonumber reads.
--   integer(x): integers; floats with an integral value; strings that read as one of those.
--   boolean(x): booleans; the strings "true" and "false".
-- Anything else is an Invalid error "cannot cast <what> to <type>". Composite types (records,
-- arrays, maps, unions, ...) validate and return the value itself, unchanged: a record accepts
-- extra fields (typing is structural), an optional field may be absent, a nested mismatch names
-- its path (`User: field "address.zip": expected string, got number`).
--
-- Generic parameters are `any` at run time, and function types only check that the value is a
-- function (a signature cannot be checked without calling it). A `named` type's body is built on
-- first use, so it can refer to itself.
return function(deps)
  local type, tostring, tonumber, pairs, ipairs, next, error, select =
    type, tostring, tonumber, pairs, ipairs, next, error, select
  local setmetatable, rawget, rawset, rawequal = setmetatable, rawget, rawset, rawequal
  local mtype, tointeger = math.type, math.tointeger
  local sformat, concat = string.format, table.concat
  local mkerr = deps.err
  local is_error = deps.is_error or function() return false end
  -- the kernel's matcher (lib/pattern.lua) runs costly patterns under the reduction budget
  local find = deps.pattern and deps.pattern.find or string.find

  local DATA = setmetatable({}, { __mode = "k" })
  local M = {}
  local MT = {}
  local METHODS = {}

  local newud = deps.newud
  local function new(d)
    local t = newud and newud(MT) or setmetatable({}, MT)
    DATA[t] = d
    return t
  end
  local function is_type(v) return DATA[v] ~= nil end
  M.is_type = is_type

  -- The definition behind named types and refs (resolved on first use).
  local function resolve(t)
    local d = DATA[t]
    while d.tag == "named" or d.tag == "ref" do
      if d.tag == "named" then
        if not d.body then
          d.body = d.thunk()
          if not is_type(d.body) then error("type " .. d.name .. " is not a type", 0) end
        end
        d = DATA[d.body]
      else
        local v = d.thunk()
        if not is_type(v) then
          error(mkerr("Invalid", "type " .. d.name .. " is not defined where it is used"), 0)
        end
        d = DATA[v]
      end
    end
    return d
  end

  -- What a value is, for messages.
  local function what(v)
    local tv = type(v)
    if tv == "number" then return mtype(v) == "integer" and "integer" or "number" end
    if tv == "table" and is_error(v) then return "error" end
    return tv
  end

  local describe
  local function list(ts, sep)
    local parts = {}
    for i, x in ipairs(ts) do parts[i] = describe(x) end
    return concat(parts, sep)
  end
  describe = function(t)
    local d = DATA[t]
    if d.tag == "named" or d.tag == "ref" then return d.name end
    if d.tag == "prim" then return d.kind end
    if d.tag == "lit" then return type(d.value) == "string" and sformat("%q", d.value) or tostring(d.value) end
    if d.tag == "opt" then return describe(d.inner) .. "?" end
    if d.tag == "union" then return list(d.items, " | ") end
    if d.tag == "inter" then return list(d.items, " & ") end
    if d.tag == "check" then return describe(d.inner) end
    if d.tag == "array" then return "{" .. describe(d.elem) .. "}" end
    if d.tag == "map" then return "{[" .. describe(d.key) .. "]: " .. describe(d.val) .. "}" end
    if d.tag == "func" then return "(" .. list(d.params, ", ") .. ") -> (" .. list(d.rets, ", ") .. ")" end
    if d.tag == "tuple" then return "(" .. list(d.items, ", ") .. ")" end
    if d.tag == "record" then
      local parts = {}
      for i, f in ipairs(d.fields) do parts[i] = f[1] .. (f[3] and "?: " or ": ") .. describe(f[2]) end
      return "{" .. concat(parts, ", ") .. "}"
    end
    return d.tag
  end

  ---------------------------------------------------------------------------------------------
  -- Validation: check(t, v, path) -> true | false, message
  local check

  local PRIM = {
    any = function() return true end,
    unknown = function() return true end,
    never = function() return false end,
    ["nil"] = function(v) return v == nil end,
    number = function(v) return type(v) == "number" end,
    integer = function(v) return mtype(v) == "integer" or (mtype(v) == "float" and tointeger(v) ~= nil) end,
    string = function(v) return type(v) == "string" end,
    boolean = function(v) return type(v) == "boolean" end,
    table = function(v) return type(v) == "table" end,
    ["function"] = function(v) return type(v) == "function" end,
    thread = function(v) return type(v) == "thread" end,
    userdata = function(v) return type(v) == "userdata" end,
    error = function(v) return is_error(v) or type(v) == "string" end,
  }

  -- The type behind named types and refs (a message shows the structure, not just the name).
  local function unwrap(t)
    local d = DATA[t]
    while d.tag == "named" or d.tag == "ref" do
      resolve(t)
      t = d.tag == "named" and d.body or d.thunk()
      d = DATA[t]
    end
    return t
  end
  local function mismatch(t, v, path)
    local at = path ~= "" and ('field "' .. path .. '": ') or ""
    return false, at .. "expected " .. describe(unwrap(t)) .. ", got " .. what(v)
  end
  local function sub(path, k)
    local key = type(k) == "string" and k or "[" .. tostring(k) .. "]"
    if path == "" then return key end
    return type(k) == "string" and (path .. "." .. k) or (path .. key)
  end

  local VALIDATORS = {
    min = function(v, n) return type(v) ~= "number" or v >= n, "must be at least " .. tostring(n) end,
    max = function(v, n) return type(v) ~= "number" or v <= n, "must be at most " .. tostring(n) end,
    min_len = function(v, n)
      local tv = type(v)
      return (tv ~= "string" and tv ~= "table") or #v >= n, "length must be at least " .. tostring(n)
    end,
    max_len = function(v, n)
      local tv = type(v)
      return (tv ~= "string" and tv ~= "table") or #v <= n, "length must be at most " .. tostring(n)
    end,
    pattern = function(v, p)
      return type(v) ~= "string" or find(v, p) ~= nil, "must match pattern " .. sformat("%q", tostring(p))
    end,
  }

  check = function(t, v, path)
    local d = resolve(t)
    local tag = d.tag
    if tag == "prim" then
      if d.test(v) then return true end
      return mismatch(t, v, path)
    elseif tag == "lit" then
      if v == d.value then return true end
      return mismatch(t, v, path)
    elseif tag == "opt" then
      if v == nil then return true end
      local ok, msg = check(d.inner, v, path)
      if ok then return true end
      local inner = resolve(d.inner).tag
      if inner == "prim" or inner == "lit" then return mismatch(t, v, path) end
      return false, msg
    elseif tag == "union" then
      for _, x in ipairs(d.items) do
        if check(x, v, path) then return true end
      end
      -- a tagged union: name the variant whose literal fields match, if one does
      return mismatch(t, v, path)
    elseif tag == "inter" then
      for _, x in ipairs(d.items) do
        local ok, msg = check(x, v, path)
        if not ok then return false, msg end
      end
      return true
    elseif tag == "check" then
      local ok, msg = check(d.inner, v, path)
      if not ok then return false, msg end
      for _, c in ipairs(d.validators) do
        local f = VALIDATORS[c[1]]
        if f then
          local good, why = f(v, c[2])
          if not good then return false, (path ~= "" and ('field "' .. path .. '": ') or "") .. why end
        end
      end
      return true
    elseif tag == "array" then
      if type(v) ~= "table" then return mismatch(t, v, path) end
      for i = 1, #v do
        local ok, msg = check(d.elem, v[i], sub(path, i))
        if not ok then return false, msg end
      end
      return true
    elseif tag == "map" then
      if type(v) ~= "table" then return mismatch(t, v, path) end
      for k, x in next, v do
        local ok, msg = check(d.key, k, sub(path, k))
        if not ok then return false, msg end
        ok, msg = check(d.val, x, sub(path, k))
        if not ok then return false, msg end
      end
      return true
    elseif tag == "record" then
      if type(v) ~= "table" then return mismatch(t, v, path) end
      for _, f in ipairs(d.fields) do
        local x = v[f[1]]
        if x == nil and f[3] then
          -- optional and absent
        elseif x == nil and not check(f[2], nil, "") then
          return false, 'missing field "' .. sub(path, f[1]) .. '" (' .. describe(f[2]) .. ")"
        else
          local ok, msg = check(f[2], x, sub(path, f[1]))
          if not ok then return false, msg end
        end
      end
      if d.key then
        for k, x in next, v do
          if not d.byname[k] then
            local ok, msg = check(d.key, k, sub(path, k))
            if not ok then return false, msg end
            ok, msg = check(d.val, x, sub(path, k))
            if not ok then return false, msg end
          end
        end
      end
      return true
    elseif tag == "func" then
      if type(v) == "function" then return true end
      return mismatch(t, v, path)
    end
    return true -- tuple: only meaningful as a return list
  end

  -- Conversions of the primitive casts (top level only): -> value | nil
  local CONVERT = {
    string = function(v)
      local tv = type(v)
      if tv == "string" then return v end
      if tv == "number" then return tostring(v) end
      if is_error(v) then return tostring(v) end
    end,
    number = function(v)
      if type(v) == "number" then return v end
      if type(v) == "string" then return tonumber(v) end
    end,
    integer = function(v)
      if type(v) == "string" then v = tonumber(v) end
      if type(v) == "number" then return tointeger(v) end
    end,
    boolean = function(v)
      if type(v) == "boolean" then return v end
      if v == "true" then return true elseif v == "false" then return false end
    end,
  }

  local function name_of(t)
    local d = DATA[t]
    if d.tag == "named" then return d.name end
    return describe(t)
  end

  -- -> value, nil | nil, error
  local function cast(t, v)
    local d = resolve(t)
    if d.tag == "prim" and CONVERT[d.kind] then
      local r = CONVERT[d.kind](v)
      if r ~= nil then return r end
      local shown = type(v) == "string" and sformat("%q", v) or (type(v) == "number" and tostring(v)) or what(v)
      return nil, mkerr("Invalid", "cannot cast " .. shown .. " to " .. d.kind)
    end
    local ok, msg = check(t, v, "")
    if ok then return v end
    return nil, mkerr("Invalid", name_of(t) .. ": " .. msg)
  end

  ---------------------------------------------------------------------------------------------
  -- Reflection
  local KIND = { prim = nil, lit = "literal", opt = "optional", union = "union", inter = "intersection",
    check = nil, array = "array", map = "map", record = "record", func = "function", tuple = "tuple" }

  function METHODS.is(t, v)
    local d = DATA[t]
    if not d then error("bad self to 'is' (type expected)", 2) end
    local ok, msg = check(t, v, "")
    if ok then return v, nil end
    return nil, mkerr("Invalid", name_of(t) .. ": " .. msg)
  end
  function METHODS.kind(t)
    local d = resolve(t)
    if d.tag == "prim" then return d.kind end
    if d.tag == "check" then return METHODS.kind(d.inner) end
    return KIND[d.tag]
  end
  function METHODS.name(t)
    local d = DATA[t]
    if d.tag == "named" then return d.name end
    return describe(t)
  end
  function METHODS.fields(t)
    local d = resolve(t)
    local i = 0
    return function()
      i = i + 1
      local f = d.fields and d.fields[i]
      if f then return f[1], f[2] end
    end
  end
  function METHODS.elem(t) return resolve(t).elem end
  function METHODS.key(t) return resolve(t).key end
  function METHODS.val(t) return resolve(t).val end
  function METHODS.inner(t)
    local d = resolve(t)
    return d.inner
  end
  function METHODS.variants(t)
    local d = resolve(t)
    local i = 0
    return function()
      i = i + 1
      return d.items and d.items[i]
    end
  end
  function METHODS.params(t)
    local d = resolve(t)
    local i = 0
    return function()
      i = i + 1
      return d.params and d.params[i]
    end
  end
  function METHODS.ret(t)
    local d = resolve(t)
    return d.rets and d.rets[1]
  end

  -- Subtyping for <= and <. Structural, and deliberately small: what the doc's examples need.
  local function subtype(a, b)
    if rawequal(a, b) then return true end
    local da, db = resolve(a), resolve(b)
    if da == db then return true end
    if db.tag == "prim" and (db.kind == "any" or db.kind == "unknown") then return true end
    if da.tag == "prim" and da.kind == "never" then return true end
    if da.tag == "union" then
      for _, x in ipairs(da.items) do if not subtype(x, b) then return false end end
      return true
    end
    if db.tag == "union" then
      for _, x in ipairs(db.items) do if subtype(a, x) then return true end end
      return false
    end
    if db.tag == "opt" then
      if da.tag == "opt" then return subtype(da.inner, db.inner) end
      return (da.tag == "prim" and da.kind == "nil") or subtype(a, db.inner)
    end
    if da.tag == "check" then return subtype(da.inner, b) end
    if da.tag == "prim" and db.tag == "prim" then
      return da.kind == db.kind or (da.kind == "integer" and db.kind == "number")
    end
    if da.tag == "lit" and db.tag == "prim" then return check(b, da.value, "") end
    if da.tag == "lit" and db.tag == "lit" then return da.value == db.value end
    if da.tag == "array" and db.tag == "array" then return subtype(da.elem, db.elem) end
    if da.tag == "map" and db.tag == "map" then return subtype(da.key, db.key) and subtype(da.val, db.val) end
    if da.tag == "record" and db.tag == "record" then
      for _, f in ipairs(db.fields) do
        local mine = da.byname[f[1]]
        if mine then
          if not subtype(mine[2], f[2]) then return false end
        elseif not f[3] then
          return false
        end
      end
      return true
    end
    if (da.tag == "record" or da.tag == "array" or da.tag == "map") and db.tag == "prim" then return db.kind == "table" end
    if da.tag == "func" and db.tag == "prim" then return db.kind == "function" end
    return false
  end

  -- `T.field`: the type of a record field. A field named like a method (`User.name`) gives a type
  -- whose call with T itself as the argument runs the method, so `User:name()` still works.
  local function field_view(t, k, ft)
    local method = METHODS[k]
    if not method then return ft end
    return new({ tag = "ref", name = name_of(ft), thunk = function() return ft end, method = method, owner = t })
  end

  MT.__index = function(t, k)
    local d = DATA[t]
    if d and d.tag ~= "prim" and type(k) == "string" then
      local ok, rd = pcall(resolve, t)
      if ok and rd.byname then
        local f = rd.byname[k]
        if f then return field_view(t, k, f[2]) end
      end
    end
    return METHODS[k]
  end
  MT.__call = function(t, v, ...)
    local d = DATA[t]
    if d.method and rawequal(v, d.owner) then return d.method(v, ...) end
    local r, err = cast(t, v)
    if err then error(err, 2) end
    return r
  end
  MT.__newindex = function() error("types are read-only", 2) end
  MT.__tostring = function(t) return name_of(t) end
  MT.__le = function(a, b) return is_type(a) and is_type(b) and subtype(a, b) end
  MT.__lt = function(a, b) return is_type(a) and is_type(b) and subtype(a, b) and not subtype(b, a) end
  MT.__metatable = false

  ---------------------------------------------------------------------------------------------
  -- Constructors (what compiled `type` declarations call)
  for kind, test in pairs(PRIM) do M[kind] = new({ tag = "prim", kind = kind, test = test }) end

  function M.lit(v) return new({ tag = "lit", value = v }) end
  function M.opt(t) return new({ tag = "opt", inner = t }) end
  function M.union(items) return new({ tag = "union", items = items }) end
  function M.inter(items) return new({ tag = "inter", items = items }) end
  function M.check(t, validators) return new({ tag = "check", inner = t, validators = validators }) end
  function M.array(t) return new({ tag = "array", elem = t }) end
  function M.map(k, v) return new({ tag = "map", key = k, val = v }) end
  function M.tuple(items) return new({ tag = "tuple", items = items }) end
  function M.func(params, rets) return new({ tag = "func", params = params, rets = rets }) end
  function M.record(fields, key, val)
    local byname = {}
    for _, f in ipairs(fields) do byname[f[1]] = f end
    return new({ tag = "record", fields = fields, byname = byname, key = key, val = val })
  end
  function M.named(name, thunk) return new({ tag = "named", name = name, thunk = thunk }) end
  function M.ref(thunk, name) return new({ tag = "ref", name = name, thunk = thunk }) end

  -- A library's exported types become fields of the table it returns (unless it set them).
  function M.export(v, types)
    if type(v) == "table" then
      for k, t in pairs(types) do
        if rawget(v, k) == nil then rawset(v, k, t) end
      end
    end
    return v
  end

  -- typeof(v): the type of a value as far as the value shows it (a table is `table`).
  function M.typeof(v, declared)
    if declared ~= nil then return declared end
    local tv = type(v)
    if tv == "number" then return mtype(v) == "integer" and M.integer or M.number end
    if tv == "table" and is_error(v) then return M.error end
    return M[tv] or M.any
  end

  M.cast = cast
  M.subtype = subtype

  -- The globals a process sees: number/integer/boolean callable; `string` (the library) callable
  -- through its proxy's metatable, which keeps string.format and friends; the capitalised names
  -- the reflection examples use; typeof; and __types for compiled code.
  function M.install(G, string_mt, readonly)
    local public = {}
    for k, v in pairs(M) do if k ~= "install" then public[k] = v end end
    G.__types = readonly and readonly(public, "__types") or public
    G.number, G.integer, G.boolean = M.number, M.integer, M.boolean
    G.Number, G.Integer, G.String, G.Boolean = M.number, M.integer, M.string, M.boolean
    G.Any, G.Unknown, G.Never, G.Nil = M.any, M.unknown, M.never, M["nil"]
    G.typeof = M.typeof
    if string_mt then
      string_mt.__call = function(_, v, ...)
        local r, err = cast(M.string, v)
        if err then error(err, 2) end
        return r
      end
    end
  end

  return M
end
