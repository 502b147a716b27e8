-- The `events` module (Wippy docs, "Event Bus"): subscribe(system, kind?) -> Subscription with
-- channel() and close(), and send(system, kind, path, data?).
--
-- The bus is the runtime's, on the main thread (src/runtime/events.ts), so a process on any worker
-- sees events sent from any other. Frames:
--   { "evsub", tid, pid, req, sub, system, kind }   rpc: registered before subscribe returns
--   { "evunsub", tid, sub }                          close (or the subscriber is gone)
--   { "evsend", system, kind, path, data }           publish
--   { "ev", sub, system, kind, path, data }          main -> subscriber's worker
-- `system` patterns use `*` for any run of characters ("orders.*"); `kind` filters exactly.
--
-- Best effort, as the page says the bus is: each subscription buffers up to BUFFER events; one
-- that arrives while the buffer is full is dropped (a slow subscriber never blocks senders or
-- grows without bound), and a send returns true once published, whoever receives it. A
-- subscription of a process that has exited is dropped on its next event. While a subscription
-- is open the process is idle, not deadlocked, when it waits on its channel.
--
-- Errors (the page's kinds): empty or non-string system, kind or path -> Invalid; a policy that
-- denies `events.subscribe` / `events.send` on the system -> Invalid as well (the page's table
-- says so, where other modules use PermissionDenied).
--
-- Receives: deps.rpc, deps.post, deps.check, deps.run.cp (read at call time), deps.cfg.tid,
-- deps.channel.new, deps.chan_offer, deps.chan_close, deps.newud, deps.subscribe /
-- deps.unsubscribe (idle accounting), deps.handlers (registers the "ev" frame handler), deps.err,
-- deps.wire (the frames' constructors and indices).
return function(deps)
  local rpc, post, check, err, newud = deps.rpc, deps.post, deps.check, deps.err, deps.newud
  local W = deps.wire
  local EV_SUB, EV_SYSTEM, EV_KIND, EV_PATH, EV_DATA = W.EV_SUB, W.EV_SYSTEM, W.EV_KIND, W.EV_PATH, W.EV_DATA
  local wevunsub, wevsend = W.evunsub, W.evsend
  local chan_new, chan_offer, chan_close = deps.channel.new, deps.chan_offer, deps.chan_close
  local SELF = deps.cfg.tid
  local type, setmetatable = type, setmetatable

  local BUFFER = 1024
  local subs = {}   -- sub id -> { P = process, ch = channel, open = bool }
  local seq = 0
  local SUB = setmetatable({}, { __mode = "k" }) -- Subscription userdata -> { id, ch }

  local function invalid(msg) return nil, err("Invalid", msg, false) end
  local function text(fname, what, v, optional)
    if v == nil and optional then return true end
    if type(v) ~= "string" or v == "" then
      return invalid("events." .. fname .. ": " .. what .. " must be a non-empty string")
    end
    return true
  end

  local function drop(id)
    local s = subs[id]
    if not s then return end
    subs[id] = nil
    if s.open then
      s.open = false
      chan_close(s.ch)
      if s.P.alive then deps.unsubscribe(s.P) end
    end
    post(0, wevunsub(SELF, id))
  end

  deps.handlers.ev = function(f)
    local id = f[EV_SUB]
    local s = subs[id]
    if not s or not s.P.alive then drop(id); return end
    chan_offer(s.ch, { system = f[EV_SYSTEM], kind = f[EV_KIND], path = f[EV_PATH], data = f[EV_DATA] })
  end

  local methods = {}
  local MT = { __index = methods, __metatable = "events.Subscription" }
  MT.__tostring = function() return "events.Subscription" end
  -- The same channel every call; after close it stays closed (receive gives nil, false).
  function methods.channel(self) return SUB[self].ch end
  function methods.close(self)
    drop(SUB[self].id)
    return true
  end

  local events = {}

  function events.subscribe(system, kind)
    local P = deps.run.cp
    local ok, e = text("subscribe", "system", system); if not ok then return nil, e end
    ok, e = text("subscribe", "kind", kind, true); if not ok then return nil, e end
    if not check(P, "events.subscribe", system) then
      return invalid("events.subscribe: not allowed to subscribe to system: " .. system)
    end
    seq = seq + 1
    local id = seq
    local ch = chan_new(BUFFER)
    subs[id] = { P = P, ch = ch, open = true }
    local r, rerr = rpc(0, "evsub", id, system, kind)
    if not r then subs[id] = nil; return nil, rerr end
    deps.subscribe()
    local sub = newud(MT)
    SUB[sub] = { id = id, ch = ch }
    return sub
  end

  function events.send(system, kind, path, data)
    local P = deps.run.cp
    local ok, e = text("send", "system", system); if not ok then return nil, e end
    ok, e = text("send", "kind", kind); if not ok then return nil, e end
    ok, e = text("send", "path", path); if not ok then return nil, e end
    if not check(P, "events.send", system) then
      return invalid("events.send: not allowed to send to system: " .. system)
    end
    local sent, perr = post(0, wevsend(system, kind, path, data))
    if not sent then return nil, err("Invalid", "events.send: " .. tostring(perr), false) end
    return true
  end

  return events
end
