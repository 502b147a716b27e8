-- Error objects: immutable userdata carrying kind, message, retryable and details.
--
-- They are userdata (type(err) == "userdata") made by the host's `newud`; their fields live in a
-- weak-keyed side table so the object itself stays a 0-byte userdata. They concatenate like
-- strings, `tostring` gives the message only (an internal context prefix is kept apart), and the
-- sandbox's string library unwraps them so `string.find(err, "not found")` works.
return function(K)
  local H = K.H
  local setmetatable, type, tostring, rawequal, rawget, next = setmetatable, type, tostring, rawequal, rawget, next

  local DATA = setmetatable({}, { __mode = "k" })
  local methods = {}
  local MT = { __index = methods, __metatable = "error" }

  local function make(kind, message, retryable, details, stack)
    local e = H.newud(MT)
    DATA[e] = { kind = kind or "", message = message or "", retryable = retryable, details = details, stack = stack }
    return e
  end

  local function is_error(v) return DATA[v] ~= nil end

  function methods.kind(self) return DATA[self].kind end
  function methods.message(self) return DATA[self].message end
  function methods.retryable(self) return DATA[self].retryable end
  function methods.details(self) return DATA[self].details end
  function methods.stack(self) return DATA[self].stack or "" end

  local function msg_of(v)
    local d = DATA[v]
    if d then return d.message end
    return tostring(v)
  end
  MT.__tostring = function(self) return DATA[self].message end
  MT.__concat = function(a, b) return msg_of(a) .. msg_of(b) end
  MT.__eq = function(a, b)
    local da, db = DATA[a], DATA[b]
    return da ~= nil and db ~= nil and da.kind == db.kind and da.message == db.message
  end

  local errors = {
    NOT_FOUND = "NotFound", ALREADY_EXISTS = "AlreadyExists", INVALID = "Invalid",
    PERMISSION_DENIED = "PermissionDenied", UNAVAILABLE = "Unavailable", INTERNAL = "Internal",
    CANCELED = "Canceled", CONFLICT = "Conflict", TIMEOUT = "Timeout", RATE_LIMITED = "RateLimited",
    UNKNOWN = "",
  }

  -- errors.new(message) or errors.new{ message = …, kind = …, retryable = …, details = … }; also
  -- errors.new(kind, message), the form Wippy's own examples use (`errors.new("TIMEOUT", "…")`):
  -- a constant's name (TIMEOUT) stands for its kind (Timeout).
  function errors.new(arg, message)
    if type(arg) == "string" then
      if type(message) == "string" then
        local kind = errors[arg]
        return make(type(kind) == "string" and kind or arg, message, nil, nil)
      end
      return make("", arg, nil, nil)
    end
    if DATA[arg] then return arg end
    if type(arg) ~= "table" then
      error("errors.new expects a message string or a table with a message field", 2)
    end
    local message = arg.message
    if message ~= nil and type(message) ~= "string" then message = tostring(message) end
    return make(arg.kind, message, arg.retryable, arg.details)
  end

  function errors.wrap(err, context)
    if err == nil then return nil end
    local d = DATA[err]
    if not d then return make("", tostring(context) .. ": " .. tostring(err), nil, nil) end
    return make(d.kind, tostring(context) .. ": " .. d.message, d.retryable, d.details, d.stack)
  end

  function errors.is(err, kind)
    local d = DATA[err]
    return d ~= nil and d.kind == kind
  end

  function errors.call_stack(err)
    local d = DATA[err]
    if not d or not d.stack then return nil end
    local frames = {}
    for src, line, name in d.stack:gmatch("\n%s*([^:\n]+):(%d+): in ([^\n]*)") do
      frames[#frames + 1] = { source = src, line = tonumber(line), name = name }
    end
    return { thread = "main", frames = frames }
  end

  -- Kernel-facing helpers (also the codec's K.is_error / K.error_fields / K.make_error).
  K.errors = errors
  K.is_error = is_error
  K.error_registry = DATA -- is_error(v) == (DATA[v] ~= nil): the C codec's raw lookup (codec.lua)
  K.err = function(kind, message, retryable) return make(kind, message, retryable) end
  K.error_fields = function(e)
    local d = DATA[e]
    return { kind = d.kind, message = d.message, retryable = d.retryable, details = d.details,
      stack = d.stack }
  end
  K.make_error = function(f) return make(f.kind, f.message, f.retryable, f.details, f.stack) end
  K.error_message = msg_of
  -- The text of a table raised as an error (`error({code = 42})`): its fields, `{code = 42}`,
  -- rather than "table: 0x...". Raw reads only (no metamethod runs: this is the kernel, outside
  -- any process and its budget), at most MAX_ITEMS fields per table, MAX_DEPTH levels, MAX_TEXT
  -- bytes; fields in a stable order (the array part, then the other keys by type name, then value).
  local MAX_ITEMS, MAX_DEPTH, MAX_TEXT = 16, 2, 200
  local sfmt, concat, sort, mtype = string.format, table.concat, table.sort, math.type
  local function scalar_text(v)
    local t = type(v)
    if t == "string" then
      if #v > 40 then v = v:sub(1, 40) .. "..." end
      return (sfmt("%q", v):gsub("\\\n", "\\n"))
    end
    if t == "number" or t == "boolean" or t == "nil" then return tostring(v) end
    return t
  end
  local function key_text(k)
    if type(k) == "string" and k:match("^[%a_][%w_]*$") then return k end
    return "[" .. scalar_text(k) .. "]"
  end
  local function key_less(a, b)
    local ta, tb = type(a), type(b)
    if ta ~= tb then return ta < tb end
    if ta == "number" or ta == "string" then return a < b end
    return false
  end
  local table_text
  table_text = function(t, depth)
    depth = depth or 1
    if depth > MAX_DEPTH then return "{...}" end
    local parts, n = {}, 0
    local len = 0
    while n < MAX_ITEMS and rawget(t, len + 1) ~= nil do
      len = len + 1
      local v = rawget(t, len)
      n = n + 1
      parts[n] = type(v) == "table" and table_text(v, depth + 1) or scalar_text(v)
    end
    local keys, nk, more = {}, 0, false
    for k in next, t do
      if not (mtype(k) == "integer" and k >= 1 and k <= len) then
        if nk == MAX_ITEMS * 4 then more = true; break end
        nk = nk + 1
        keys[nk] = k
      end
    end
    if rawget(t, len + 1) ~= nil then more = true end
    sort(keys, key_less)
    for i = 1, nk do
      if n == MAX_ITEMS then more = true; break end
      local k = keys[i]
      local v = rawget(t, k)
      n = n + 1
      parts[n] = key_text(k) .. " = " .. (type(v) == "table" and table_text(v, depth + 1) or scalar_text(v))
    end
    if more then parts[n + 1] = "..." end
    local s = "{" .. concat(parts, ", ") .. "}"
    if #s > MAX_TEXT then s = s:sub(1, MAX_TEXT - 4) .. "...}" end
    return s
  end
  K.table_text = table_text

  -- Promote whatever a coroutine raised into an error object (kind Internal when it has none).
  -- A plain table (no __tostring) becomes an error whose message is its fields and whose details
  -- are the table itself (exit copies it as data for the watchers).
  K.to_error = function(v, stack)
    local d = DATA[v]
    if d then
      if d.kind == "" then return make("Internal", d.message, d.retryable, d.details, d.stack or stack) end
      return v
    end
    if type(v) == "table" then return make("Internal", table_text(v), nil, v, stack) end
    return make("Internal", tostring(v), nil, nil, stack)
  end
  -- Immutable view for the `errors` global.
  K.error_mt = MT
  return errors
end
