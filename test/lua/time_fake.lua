-- A fake kernel for src/lua/lib/time.lua: a clock the test advances by hand, timers run in
-- deadline order by F.advance, channels as plain tables that never block (a receive that would
-- block raises "would block"), and subscriptions counted by token. IANA zones come from the
-- host's Intl through the JS functions js_tz_offset / js_tz_abbr.
--
-- Usage: local F, K, time = (load(FAKE_SRC))()(TIME_SRC)
return function(time_src)
  local F = {
    now = 0.0,                        -- K.now_ms()
    wall0 = 1700000000 * 1000000000,  -- K.wall_ns() at now == 0
    timers = {}, seq = 0,
    subs = 0, held = {},              -- live subscription tokens
    localoff = 0, localzone = nil,    -- Local is a fixed offset, or an IANA zone when localzone is set
    slept = {},                       -- ms passed to K.sleep_ms
    cancel_noop = false,              -- make K.timer_cancel a no-op (a kernel that cannot cancel)
  }
  local K = {}

  function K.newud(mt) return setmetatable({}, mt) end
  function K.now_ms() return F.now end
  function K.wall_ns() return F.wall0 + math.floor(F.now * 1e6) end

  function K.timer_add(at, fn)
    F.seq = F.seq + 1
    local h = { at = at, seq = F.seq, fn = fn, live = true }
    F.timers[#F.timers + 1] = h
    return h
  end
  function K.timer_cancel(h)
    if F.cancel_noop then return false end
    if h.live then h.live = false; return true end
    return false
  end

  local function next_due(limit)
    local best
    for _, h in ipairs(F.timers) do
      if h.live and h.at <= limit and (not best or h.at < best.at or (h.at == best.at and h.seq < best.seq)) then
        best = h
      end
    end
    return best
  end

  -- Move the clock forward by ms, firing each due timer at its own deadline.
  function F.advance(ms)
    local target = F.now + ms
    while true do
      local h = next_due(target)
      if not h then break end
      h.live = false
      if h.at > F.now then F.now = h.at end
      h.fn()
    end
    F.now = target
  end

  -- A late scheduler: jump the clock first, then fire whatever is due (all see the new time).
  function F.jump(ms)
    F.now = F.now + ms
    F.advance(0)
  end

  function F.live_timers()
    local n = 0
    for _, h in ipairs(F.timers) do if h.live then n = n + 1 end end
    return n
  end

  function K.sleep_ms(ms)
    F.slept[#F.slept + 1] = ms
    F.advance(ms)
  end

  local CH = {}
  CH.__index = CH
  function K.chan_new(cap) return setmetatable({ buf = {}, cap = cap, closed = false }, CH) end
  function K.chan_offer(ch, v)
    if ch.closed or #ch.buf >= ch.cap then return false end
    ch.buf[#ch.buf + 1] = v
    return true
  end
  function K.chan_close(ch) ch.closed = true end
  function CH:send(v)
    if self.closed then error("send on closed channel") end
    if not K.chan_offer(self, v) then error("would block") end
    return true
  end
  function CH:receive()
    if #self.buf > 0 then return table.remove(self.buf, 1), true end
    if self.closed then return nil, false end
    error("would block", 2)
  end
  function CH:close() self.closed = true end
  function CH:case_receive() return { channel = self, dir = "recv" } end
  function CH:len() return #self.buf end

  function K.subscribe()
    local tok = {}
    F.held[tok] = true
    F.subs = F.subs + 1
    return tok
  end
  function K.unsubscribe(tok)
    assert(F.held[tok], "unsubscribe with a token that is not held")
    F.held[tok] = nil
    F.subs = F.subs - 1
  end

  local ERR = { __tostring = function(e) return e.msg end }
  ERR.__index = {
    kind = function(e) return e.k end,
    message = function(e) return e.msg end,
  }
  function K.error(kind, msg) return setmetatable({ k = kind, msg = msg }, ERR) end

  function K.tz_offset(name, sec)
    local off = js_tz_offset(name, sec)
    if off == nil then return nil end
    return math.tointeger(off), js_tz_abbr(name, sec)
  end
  function K.local_offset(sec)
    if F.localzone then return K.tz_offset(F.localzone, sec) end
    return F.localoff
  end

  local time = assert(load(time_src, "@src/lua/lib/time.lua", "t"))()(K)
  return F, K, time
end
