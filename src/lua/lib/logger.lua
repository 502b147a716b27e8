-- The `logger` module (Wippy docs, "Logging"): debug/info/warn/error with structured fields, and
-- child loggers with persistent fields (`with`) or a name (`named`).
--
-- Where records go. Each record is one "log" frame to the main thread,
--   { "log", level, pid, entry, name, message, fields },
-- which writes it to the runtime's pino logger with the process's PID and entry id (pino fields
-- `pid`, `entry`, and `logger` for a named logger; those three cannot be overridden by a field of
-- the same name). The frame travels on the worker's ordered channel, so a process's records reach
-- the main thread in the order it logged them and before its EXIT. Records below the runtime
-- logger's level at boot (deps.cfg.log_level, pino's numeric level) are dropped here, before they
-- cost a frame.
--
-- Loggers are userdata (deps.newud), so they cannot be modified; a child's name is its parent's
-- name and its own joined by "." (as zap's Named does). Field values that cannot cross threads
-- (functions, coroutines, userdata) are logged as their tostring; error objects as their message.
-- `logger.info("msg")` (a dot instead of a colon, as one doc example writes it) logs on the root
-- logger too.
--
-- Receives: deps.post(tid, frame) -> true | false, message; deps.run.cp (the current process, read at
-- call time: .pid, .id); deps.cfg.log_level; deps.newud(metatable); deps.err;
-- deps.is_error / deps.error_message; deps.wire (the "log" constructor).
return function(deps)
  local post, err, newud = deps.post, deps.err, deps.newud
  local wlog = deps.wire.log
  local is_error, error_message = deps.is_error, deps.error_message
  local type, tostring, pairs, next, setmetatable = type, tostring, pairs, next, setmetatable

  local LEVEL = { debug = 20, info = 30, warn = 40, error = 50 }
  local min_level = (deps.cfg and tonumber(deps.cfg.log_level)) or 0

  local STATE = setmetatable({}, { __mode = "k" }) -- logger -> { name = string?, fields = table? }
  local methods = {}
  local MT = { __index = methods, __metatable = "logger" }
  MT.__tostring = function(self)
    local name = STATE[self].name
    return name and ("logger{" .. name .. "}") or "logger"
  end

  local function make(name, fields)
    local l = newud(MT)
    STATE[l] = { name = name, fields = fields }
    return l
  end
  local root = make(nil, nil)

  -- A field value that can cross to the main thread.
  local function plain(v, depth)
    local t = type(v)
    if t == "table" then
      if depth > 32 then return tostring(v) end
      local out = {}
      for k, x in pairs(v) do
        if type(k) == "string" or type(k) == "number" then out[k] = plain(x, depth + 1) end
      end
      return out
    end
    if t == "function" or t == "thread" or t == "userdata" then
      if is_error(v) then return error_message(v) end
      return tostring(v)
    end
    return v
  end

  local function merge(base, extra)
    if base == nil and extra == nil then return nil end
    local out = {}
    if base then for k, v in pairs(base) do out[k] = v end end
    if type(extra) == "table" then for k, v in pairs(extra) do out[k] = plain(v, 1) end end
    return out
  end

  -- `logger:info(...)` passes the logger; `logger.info(...)` passes the message first.
  local function args(self, a, b)
    local st = STATE[self]
    if st then return st, a, b end
    return STATE[root], self, a
  end

  local function emit(level)
    local num = LEVEL[level]
    return function(self, a, b)
      if num < min_level then return end
      local st, message, fields = args(self, a, b)
      local P = deps.run.cp
      local f = merge(st.fields, fields)
      if f ~= nil and next(f) == nil then f = nil end
      local msg = is_error(message) and error_message(message) or tostring(message)
      local pid, entry = P and P.pid, P and P.id
      local ok = post(0, wlog(level, pid, entry, st.name, msg, f))
      if not ok and f ~= nil then -- fields too large or not encodable: keep the record without them
        post(0, wlog(level, pid, entry, st.name, msg, { fields_dropped = "fields could not be encoded" }))
      end
    end
  end
  methods.debug, methods.info, methods.warn, methods.error = emit("debug"), emit("info"), emit("warn"), emit("error")

  function methods.with(self, fields)
    local st = STATE[self]
    if not st then st, fields = STATE[root], self end
    if type(fields) ~= "table" then
      return nil, err("Invalid", "logger.with: fields must be a table, got " .. type(fields), false)
    end
    return make(st.name, merge(st.fields, fields))
  end

  function methods.named(self, name)
    local st = STATE[self]
    if not st then st, name = STATE[root], self end
    if type(name) ~= "string" then
      return nil, err("Invalid", "logger.named: name must be a string, got " .. type(name), false)
    end
    if name == "" then return nil, err("Invalid", "logger.named: name must not be empty", false) end
    return make(st.name and (st.name .. "." .. name) or name, st.fields)
  end

  return root
end
