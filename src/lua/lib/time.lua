-- The `time` module of the Wippy docs: durations, instants, locations, Go reference layouts, and
-- the timer family (sleep, after, timer, ticker). Pure Lua over a small kernel interface K, so it
-- runs unchanged inside the worker's kernel and under a fake K in tests.
--
-- Size: over 500 lines because it is one module with one public table: Duration, Time and
-- Location share the nanosecond arithmetic and the Go layout parser/formatter, and the timers
-- share the kernel interface. Splitting it would split that table across files.
--
-- Model.
--   * A Duration is an integer count of nanoseconds (Lua 5.4 64-bit integers, Go's range). Plain
--     numbers are accepted wherever a duration is (they are nanoseconds), as are Go duration
--     strings ("1h30m", "2.5s", "-300ms") and Duration userdata.
--   * A Time is (s, n, loc): Unix seconds, nanoseconds in [0, 1e9) and a Location. Go's zero Time
--     (0001-01-01 UTC, is_zero) and the year-0 results of time-only layouts lie ~6e19 ns before
--     the epoch, outside an int64 nanosecond count, so the seconds are kept apart from the
--     nanoseconds. Calendar fields come from "days since 1970-01-01" with Howard Hinnant's
--     civil_from_days / days_from_civil (proleptic Gregorian, exact for any int64 day).
--   * A Location is UTC, Local, a fixed offset, or an IANA zone. Offsets are looked up in JS
--     (K.tz_offset, K.local_offset), so this file holds no tz database. A Time caches the offset
--     of its own instant the first time it is needed: offsets of a given instant never change.
--   * Every object is a userdata from K.newud with its state in a weak-keyed side table, one table
--     per kind (Duration, Time, Location, Timer, Ticker), so a type check is one table lookup and
--     user code cannot reach or forge the state.
--
-- Layouts are Go's: a layout is the reference time `Mon Jan 2 15:04:05 MST 2006` written in the
-- wanted form. `next_std` is a line-by-line port of Go's nextStdChunk, and format/parse follow
-- Go's appendFormat and parse, including their error messages, so Wippy code that matches on
-- messages keeps working. A compiled layout (its chunk list) is cached by layout string.
--
-- Timers. K.timer_add(deadline_ms, fn) runs fn from the scheduler, outside any process coroutine,
-- so callbacks only offer to channels and never block. Every arm of a Timer carries a generation
-- number; stop and reset bump it, so an arm that the kernel could not cancel in time finds itself
-- stale and does nothing ("a stale earlier arm can never fire"). While an after/timer/ticker is
-- pending the owning process holds a subscription (K.subscribe), which makes waiting on it idle
-- rather than a deadlock; it is released when the timer fires for good or is stopped. The release
-- can run inside a timer callback where there is no current process, so K.unsubscribe is handed
-- back whatever K.subscribe returned.
--
-- Not done on purpose: no monotonic reading in Time (tostring has no "m=+0.001" suffix), no
-- arithmetic or comparison metamethods on Duration (the docs list none), and a Timer's channel is
-- not drained on reset (a value that fired and was never read stays buffered, as before Go 1.23).
return function(K)
  local type, tostring, error, setmetatable, ipairs, select = type, tostring, error, setmetatable, ipairs, select
  local mtype, tointeger, floor, ceil, ult = math.type, math.tointeger, math.floor, math.ceil, math.ult
  local sbyte, ssub, schar, sformat, srep, slower, sfind = string.byte, string.sub, string.char,
    string.format, string.rep, string.lower, string.find
  local concat = table.concat
  local MAXI, MINI = math.maxinteger, math.mininteger

  local US, MS, SEC = 1000, 1000000, 1000000000
  local MIN, HOUR = 60 * SEC, 3600 * SEC
  local DAY_S = 86400
  local ZERO_UNIX = -62135596800 -- Unix seconds of Go's zero Time, 0001-01-01T00:00:00Z

  local function weak() return setmetatable({}, { __mode = "k" }) end
  local function invalid(msg) return nil, K.error("Invalid", msg) end

  -- Go's time.quote: double quotes, `"` and `\` escaped, control and non-ASCII bytes as \xNN.
  local function quote(s)
    return '"' .. (s:gsub('[\0-\31"\\\128-\255]', function(c)
      if c == '"' or c == "\\" then return "\\" .. c end
      return sformat("\\x%02x", sbyte(c))
    end)) .. '"'
  end

  -- An integer from a Lua number, truncating floats toward zero like Go's int64(x); nil if v is
  -- not a number or does not fit.
  local function toint(v)
    local t = mtype(v)
    if t == "integer" then return v end
    if t ~= "float" or v ~= v or v >= 0x1p63 or v < -0x1p63 then return nil end
    return tointeger(v >= 0 and floor(v) or ceil(v))
  end

  -- Integer division and remainder truncated toward zero (Go's / and %), for d > 0.
  local function tdiv(a, d)
    local q = a // d
    if q < 0 and q * d ~= a then q = q + 1 end
    return q
  end
  local function tmod(a, d) return a - tdiv(a, d) * d end

  local function is_digit(b) return b ~= nil and b >= 48 and b <= 57 end

  ---------------------------------------------------------------------------------------------
  -- Durations.

  local DUR = weak() -- Duration userdata -> nanoseconds
  local dur_methods = {}
  local DUR_MT = { __index = dur_methods, __metatable = "time.Duration" }

  local function new_dur(ns)
    local d = K.newud(DUR_MT)
    DUR[d] = ns
    return d
  end

  local UNITS = { ns = 1, us = US, ["\u{00B5}s"] = US, ["\u{03BC}s"] = US, ms = MS, s = SEC, m = MIN, h = HOUR }
  -- Go keeps the accumulator as uint64 and allows exactly 2^63 (for "-2562047h47m16.854775808s").
  -- Lua integers wrap like uint64, so the same checks work with math.ult; U63 is 2^63 as unsigned.
  local U63 = MINI
  local function ugt(a, b) return ult(b, a) end

  -- Port of Go's time.ParseDuration: [-+]?([0-9]*(\.[0-9]*)?[a-z]+)+
  local function parse_dur(orig)
    local s, pos, n = orig, 1, #orig
    local neg = false
    local c = sbyte(s, 1)
    if c == 45 or c == 43 then neg = c == 45; pos = 2 end
    if pos == n and sbyte(s, pos) == 48 then return 0 end -- "0", "-0", "+0"
    if pos > n then return invalid("time: invalid duration " .. quote(orig)) end
    local d = 0
    while pos <= n do
      c = sbyte(s, pos)
      if not (c == 46 or is_digit(c)) then return invalid("time: invalid duration " .. quote(orig)) end
      -- leading integer part
      local v, start = 0, pos
      while pos <= n do
        c = sbyte(s, pos)
        if not is_digit(c) then break end
        if ugt(v, MAXI // 10) then return invalid("time: invalid duration " .. quote(orig)) end
        v = v * 10 + (c - 48)
        if ugt(v, U63) then return invalid("time: invalid duration " .. quote(orig)) end
        pos = pos + 1
      end
      local pre = pos ~= start
      -- fraction: digits past int64 precision are ignored, as in Go's leadingFraction
      local f, scale, post = 0, 1.0, false
      if pos <= n and sbyte(s, pos) == 46 then
        pos = pos + 1
        local fstart, overflow = pos, false
        while pos <= n do
          c = sbyte(s, pos)
          if not is_digit(c) then break end
          if not overflow then
            if f > MAXI // 10 then
              overflow = true
            else
              local y = f * 10 + (c - 48)
              if ugt(y, U63) then overflow = true else f = y; scale = scale * 10 end
            end
          end
          pos = pos + 1
        end
        post = pos ~= fstart
      end
      if not pre and not post then return invalid("time: invalid duration " .. quote(orig)) end
      -- unit
      local ustart = pos
      while pos <= n do
        c = sbyte(s, pos)
        if c == 46 or is_digit(c) then break end
        pos = pos + 1
      end
      if pos == ustart then return invalid("time: missing unit in duration " .. quote(orig)) end
      local u = ssub(s, ustart, pos - 1)
      local unit = UNITS[u]
      if not unit then
        return invalid("time: unknown unit " .. quote(u) .. " in duration " .. quote(orig))
      end
      local limit = unit == 1 and U63 or MAXI // unit
      if ugt(v, limit) then return invalid("time: invalid duration " .. quote(orig)) end
      v = v * unit
      if f ~= 0 then
        local ff = f < 0 and f + 0x1p64 or f + 0.0
        v = v + floor(ff * (unit / scale))
        if ugt(v, U63) then return invalid("time: invalid duration " .. quote(orig)) end
      end
      d = d + v
      if ugt(d, U63) then return invalid("time: invalid duration " .. quote(orig)) end
    end
    if neg then return -d end
    if d < 0 then return invalid("time: invalid duration " .. quote(orig)) end
    return d
  end

  -- Go's fmtFrac: the fraction of v / 10^prec without trailing zeros (and without the dot if
  -- it is zero), plus the integer part.
  local function fmt_frac(v, prec)
    local s, printing = "", false
    for _ = 1, prec do
      local digit = v % 10
      printing = printing or digit ~= 0
      if printing then s = digit .. s end
      v = v // 10
    end
    if printing then s = "." .. s end
    return s, v
  end

  -- Go's Duration.String: "1h30m45s", "1.5s", "300ms", "1.2µs", "0s".
  local function dur_string(d)
    if d == MINI then return "-2562047h47m16.854775808s" end
    local neg = d < 0
    local u = neg and -d or d
    local s
    if u < SEC then
      if u == 0 then return "0s" end
      local prec, unit
      if u < US then prec, unit = 0, "ns"
      elseif u < MS then prec, unit = 3, "\u{00B5}s"
      else prec, unit = 6, "ms" end
      local frac, v = fmt_frac(u, prec)
      s = v .. frac .. unit
    else
      local frac, v = fmt_frac(u, 9)
      s = (v % 60) .. frac .. "s"
      v = v // 60
      if v > 0 then
        s = (v % 60) .. "m" .. s
        v = v // 60
        if v > 0 then s = v .. "h" .. s end
      end
    end
    if neg then s = "-" .. s end
    return s
  end

  -- A duration argument in nanoseconds: integer, float (truncated), Go string or Duration.
  local function to_ns(v)
    local t = mtype(v)
    if t == "integer" then return v end
    if t == "float" then
      local i = toint(v)
      if i then return i end
      return invalid("duration must be number or string")
    end
    if type(v) == "string" then return parse_dur(v) end
    local ns = DUR[v]
    if ns then return ns end
    return invalid("duration must be number or string")
  end

  local function dself(d)
    local ns = DUR[d]
    if not ns then error("bad self: Duration expected", 3) end
    return ns
  end
  function dur_methods.nanoseconds(d) return dself(d) end
  function dur_methods.microseconds(d) return tdiv(dself(d), US) end
  function dur_methods.milliseconds(d) return tdiv(dself(d), MS) end
  -- Go splits before converting so large durations keep their sub-unit precision.
  local function fdiv(ns, unit) return tdiv(ns, unit) + tmod(ns, unit) / unit end
  function dur_methods.seconds(d) return fdiv(dself(d), SEC) end
  function dur_methods.minutes(d) return fdiv(dself(d), MIN) end
  function dur_methods.hours(d) return fdiv(dself(d), HOUR) end
  DUR_MT.__tostring = function(d) return dur_string(DUR[d]) end

  ---------------------------------------------------------------------------------------------
  -- Calendar arithmetic (proleptic Gregorian, days counted from 1970-01-01).

  local function days_from_civil(y, m, d)
    if m <= 2 then y = y - 1 end
    local era = y // 400
    local yoe = y - era * 400
    local mp = m > 2 and m - 3 or m + 9
    local doy = (153 * mp + 2) // 5 + d - 1
    local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468
  end

  local function civil_from_days(z)
    z = z + 719468
    local era = z // 146097
    local doe = z - era * 146097
    local yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    local doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    local mp = (5 * doy + 2) // 153
    local d = doy - (153 * mp + 2) // 5 + 1
    local m = mp < 10 and mp + 3 or mp - 9
    local y = yoe + era * 400
    if m <= 2 then y = y + 1 end
    return y, m, d
  end

  local function is_leap(y) return y % 4 == 0 and (y % 100 ~= 0 or y % 400 == 0) end
  local MONTH_DAYS = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 }
  local function days_in(m, y)
    if m == 2 and is_leap(y) then return 29 end
    return MONTH_DAYS[m]
  end

  -- Go's Date normalisation: month overflows into year, nsec into sec into min into hour into day.
  -- Returns the Unix seconds of the civil time read as UTC, and the normalised nanoseconds.
  local function civil_to_unix(y, mo, d, h, mi, s, ns)
    local m = mo - 1
    y, m = y + m // 12, m % 12
    s, ns = s + ns // SEC, ns % SEC
    mi, s = mi + s // 60, s % 60
    h, mi = h + mi // 60, mi % 60
    d, h = d + h // 24, h % 24
    local days = days_from_civil(y, m + 1, 1) + d - 1
    return days * DAY_S + h * 3600 + mi * 60 + s, ns
  end

  ---------------------------------------------------------------------------------------------
  -- Locations.

  local LOC = weak() -- Location userdata -> { name, kind = "utc"|"local"|"fixed"|"tz", off }
  local loc_methods = {}
  local LOC_MT = { __index = loc_methods, __metatable = "time.Location",
    __tostring = function(l) return LOC[l].name end }

  local function new_loc(name, kind, off)
    local l = K.newud(LOC_MT)
    LOC[l] = { name = name, kind = kind, off = off }
    return l
  end
  function loc_methods.string(l)
    local ls = LOC[l]
    if not ls then error("bad self: Location expected", 2) end
    return ls.name
  end

  local UTC = new_loc("UTC", "utc", 0)
  local LOCAL = new_loc("Local", "local", nil)
  local loaded = { UTC = UTC, Local = LOCAL } -- IANA zones by name, so each loads once

  -- Offset (seconds east of UTC) and abbreviation (nil if unknown) in effect at Unix second `sec`.
  -- The host may return the abbreviation as a second value; without it "MST" formats as "-0700".
  local function zone_at(ls, sec)
    local kind = ls.kind
    if kind == "utc" then return 0, "UTC" end
    if kind == "fixed" then
      local name = ls.name
      return ls.off, name ~= "" and name or nil
    end
    local off, abbr
    if kind == "local" then
      off, abbr = K.local_offset(sec)
    else
      off, abbr = K.tz_offset(ls.name, sec)
    end
    off = toint(off) or 0
    if type(abbr) ~= "string" or abbr == "" then
      abbr = (kind == "local" and off == 0) and "UTC" or nil
    end
    return off, abbr
  end

  -- Go's Location.lookupName, approximated without a zone list: the offset of a zone called
  -- `name` that is in effect around `unix`, or nil.
  local function lookup_name(ls, name, unix)
    local kind = ls.kind
    if kind == "utc" then return name == "UTC" and 0 or nil end
    if kind == "fixed" then return ls.name == name and ls.off or nil end
    local off = zone_at(ls, unix)
    local off2, abbr = zone_at(ls, unix - off)
    if abbr == name then return off2 end
    return nil
  end

  -- Unix seconds of civil time (y..s) in location ls, resolved the way Go's Date does around
  -- transitions: guess with the offset at the UTC reading, and re-look-up if that guess lands in
  -- a period with another offset.
  local function local_to_unix(ls, unix)
    local off = zone_at(ls, unix)
    if off ~= 0 then
      local utc = unix - off
      local off2 = zone_at(ls, utc)
      if off2 ~= off then off = off2 end
      unix = unix - off
    end
    return unix
  end

  ---------------------------------------------------------------------------------------------
  -- Time values.

  local TIME = weak() -- Time userdata -> { s = unix seconds, n = nanoseconds, loc, off?, abbr? }
  local time_methods = {}
  local TIME_MT = { __index = time_methods, __metatable = "time.Time" }

  local function new_time(s, n, loc)
    local t = K.newud(TIME_MT)
    TIME[t] = { s = s, n = n, loc = loc }
    return t
  end

  local function now_time()
    local w = toint(K.wall_ns())
    return new_time(w // SEC, w % SEC, LOCAL)
  end

  -- Offset and abbreviation of the Time's location at its instant (computed once).
  local function zone(st)
    local off = st.off
    if off == nil then
      off, st.abbr = zone_at(LOC[st.loc], st.s)
      st.off = off
    end
    return off, st.abbr
  end

  -- Civil fields in the Time's location: y, mo, d, h, mi, s and the local day number.
  local function civil(st)
    local abs = st.s + zone(st)
    local days = abs // DAY_S
    local sod = abs - days * DAY_S
    local y, mo, d = civil_from_days(days)
    return y, mo, d, sod // 3600, sod % 3600 // 60, sod % 60, days
  end

  local function date_in(loc, y, mo, d, h, mi, s, ns)
    local unix, n = civil_to_unix(y, mo, d, h, mi, s, ns)
    return new_time(local_to_unix(LOC[loc], unix), n, loc)
  end

  local function add_ns(st, d)
    local s, n = st.s + d // SEC, st.n + d % SEC
    if n >= SEC then s, n = s + 1, n - SEC end
    return s, n
  end

  ---------------------------------------------------------------------------------------------
  -- Layouts: Go's nextStdChunk. A chunk's std is named by the layout token it came from
  -- ("2006", "Jan", "-07:00", ...); fractional seconds are "F0" (.000, exact) and "F9" (.999,
  -- trimmed) with their digit count and separator byte.

  local ZERO_STD = { "01", "02", "03", "04", "05", "06" }
  local TZ_TOKENS = { "070000", "07:00:00", "0700", "07:00", "07" } -- after "-" or "Z", longest first

  local function lower_at(s, i)
    local b = sbyte(s, i)
    return b ~= nil and b >= 97 and b <= 122
  end

  local function next_std(layout)
    local n = #layout
    for i = 1, n do
      local c = sbyte(layout, i)
      if c == 74 then -- J: January, Jan
        if ssub(layout, i, i + 2) == "Jan" then
          if ssub(layout, i, i + 6) == "January" then
            return ssub(layout, 1, i - 1), "January", ssub(layout, i + 7)
          end
          if not lower_at(layout, i + 3) then return ssub(layout, 1, i - 1), "Jan", ssub(layout, i + 3) end
        end
      elseif c == 77 then -- M: Monday, Mon, MST
        local w = ssub(layout, i, i + 2)
        if w == "Mon" then
          if ssub(layout, i, i + 5) == "Monday" then
            return ssub(layout, 1, i - 1), "Monday", ssub(layout, i + 6)
          end
          if not lower_at(layout, i + 3) then return ssub(layout, 1, i - 1), "Mon", ssub(layout, i + 3) end
        end
        if w == "MST" then return ssub(layout, 1, i - 1), "MST", ssub(layout, i + 3) end
      elseif c == 48 then -- 0: 01 02 03 04 05 06, 002
        local d = sbyte(layout, i + 1)
        if d and d >= 49 and d <= 54 then return ssub(layout, 1, i - 1), ZERO_STD[d - 48], ssub(layout, i + 2) end
        if ssub(layout, i + 1, i + 2) == "02" then return ssub(layout, 1, i - 1), "002", ssub(layout, i + 3) end
      elseif c == 49 then -- 1: 15, 1
        if sbyte(layout, i + 1) == 53 then return ssub(layout, 1, i - 1), "15", ssub(layout, i + 2) end
        return ssub(layout, 1, i - 1), "1", ssub(layout, i + 1)
      elseif c == 50 then -- 2: 2006, 2
        if ssub(layout, i, i + 3) == "2006" then return ssub(layout, 1, i - 1), "2006", ssub(layout, i + 4) end
        return ssub(layout, 1, i - 1), "2", ssub(layout, i + 1)
      elseif c == 95 then -- _: _2, _2006 (a literal _ then 2006), __2
        if sbyte(layout, i + 1) == 50 then
          if ssub(layout, i + 1, i + 4) == "2006" then return ssub(layout, 1, i), "2006", ssub(layout, i + 5) end
          return ssub(layout, 1, i - 1), "_2", ssub(layout, i + 2)
        end
        if ssub(layout, i + 1, i + 2) == "_2" then return ssub(layout, 1, i - 1), "__2", ssub(layout, i + 3) end
      elseif c == 51 then return ssub(layout, 1, i - 1), "3", ssub(layout, i + 1)
      elseif c == 52 then return ssub(layout, 1, i - 1), "4", ssub(layout, i + 1)
      elseif c == 53 then return ssub(layout, 1, i - 1), "5", ssub(layout, i + 1)
      elseif c == 80 then -- PM
        if sbyte(layout, i + 1) == 77 then return ssub(layout, 1, i - 1), "PM", ssub(layout, i + 2) end
      elseif c == 112 then -- pm
        if sbyte(layout, i + 1) == 109 then return ssub(layout, 1, i - 1), "pm", ssub(layout, i + 2) end
      elseif c == 45 or c == 90 then -- -070000 -07:00:00 -0700 -07:00 -07, and the Z forms
        local z = c == 90 and "Z" or "-"
        for _, tok in ipairs(TZ_TOKENS) do
          if ssub(layout, i + 1, i + #tok) == tok then
            return ssub(layout, 1, i - 1), z .. tok, ssub(layout, i + 1 + #tok)
          end
        end
      elseif c == 46 or c == 44 then -- .000 .999 ,000 ,999: the digits must end the run
        local ch = sbyte(layout, i + 1)
        if ch == 48 or ch == 57 then
          local j = i + 1
          while sbyte(layout, j) == ch do j = j + 1 end
          if not is_digit(sbyte(layout, j)) then
            return ssub(layout, 1, i - 1), ch == 48 and "F0" or "F9", ssub(layout, j), j - i - 1, c
          end
        end
      end
    end
    return layout, nil, ""
  end

  -- A layout compiled to its chunk list { pre, std, stdstr, nd, sep }; the last chunk has no std.
  -- The cache is dropped whole when it grows past LAYOUT_CACHE_MAX: programs use a handful of
  -- layouts, and a program building layouts dynamically should not grow it without bound.
  local LAYOUT_CACHE_MAX = 64
  local layouts, nlayouts = {}, 0
  local function compile(layout)
    local list = layouts[layout]
    if list then return list end
    list = {}
    local rest = layout
    repeat
      local pre, std, suf, nd, sep = next_std(rest)
      list[#list + 1] = { pre = pre, std = std, nd = nd, sep = sep, stdstr = ssub(rest, #pre + 1, #rest - #suf) }
      rest = suf
    until not std
    if nlayouts >= LAYOUT_CACHE_MAX then layouts, nlayouts = {}, 0 end
    layouts[layout], nlayouts = list, nlayouts + 1
    return list
  end

  local LONG_MONTHS = { "January", "February", "March", "April", "May", "June", "July", "August",
    "September", "October", "November", "December" }
  local LONG_DAYS = { "Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday" }
  local SHORT_MONTHS, SHORT_DAYS = {}, {}
  for i, v in ipairs(LONG_MONTHS) do SHORT_MONTHS[i] = ssub(v, 1, 3) end
  for i, v in ipairs(LONG_DAYS) do SHORT_DAYS[i] = ssub(v, 1, 3) end

  -- Go's appendInt: zero-padded to width, a minus sign in front of the padding.
  local function pad(x, w)
    local neg = x < 0
    local s = tostring(neg and -x or x)
    if #s < w then s = srep("0", w - #s) .. s end
    return neg and "-" .. s or s
  end

  local COLON_TZ = { ["-07:00"] = true, ["Z07:00"] = true, ["-07:00:00"] = true, ["Z07:00:00"] = true }
  local SHORT_TZ = { ["-07"] = true, ["Z07"] = true }
  local SECONDS_TZ = { ["-070000"] = true, ["Z070000"] = true, ["-07:00:00"] = true, ["Z07:00:00"] = true }

  local function fmt_offset(std, off)
    if off == 0 and sbyte(std, 1) == 90 then return "Z" end
    local zone, abs = tdiv(off, 60), off
    local sign = "+"
    if zone < 0 then sign, zone, abs = "-", -zone, -off end
    local colon = COLON_TZ[std] and ":" or ""
    local s = sign .. pad(zone // 60, 2)
    if not SHORT_TZ[std] then s = s .. colon .. pad(zone % 60, 2) end
    if SECONDS_TZ[std] then s = s .. colon .. pad(tmod(abs, 60), 2) end
    return s
  end

  local function fmt_time(st, layout)
    local chunks = compile(layout)
    local off, abbr = zone(st)
    local y, mo, d, h, mi, s, days = civil(st)
    local out, n = {}, 0
    for i = 1, #chunks do
      local c = chunks[i]
      if c.pre ~= "" then n = n + 1; out[n] = c.pre end
      local std = c.std
      if not std then break end
      local v
      if std == "2006" then v = pad(y, 4)
      elseif std == "06" then v = pad((y < 0 and -y or y) % 100, 2)
      elseif std == "Jan" then v = SHORT_MONTHS[mo]
      elseif std == "January" then v = LONG_MONTHS[mo]
      elseif std == "1" then v = tostring(mo)
      elseif std == "01" then v = pad(mo, 2)
      elseif std == "Mon" then v = SHORT_DAYS[(days + 4) % 7 + 1]
      elseif std == "Monday" then v = LONG_DAYS[(days + 4) % 7 + 1]
      elseif std == "2" then v = tostring(d)
      elseif std == "_2" then v = d < 10 and " " .. d or tostring(d)
      elseif std == "02" then v = pad(d, 2)
      elseif std == "__2" or std == "002" then
        local yd = days - days_from_civil(y, 1, 1) + 1
        if std == "002" then v = pad(yd, 3)
        else v = yd < 10 and "  " .. yd or yd < 100 and " " .. yd or tostring(yd) end
      elseif std == "15" then v = pad(h, 2)
      elseif std == "3" or std == "03" then
        local hr = h % 12
        if hr == 0 then hr = 12 end
        v = std == "03" and pad(hr, 2) or tostring(hr)
      elseif std == "4" then v = tostring(mi)
      elseif std == "04" then v = pad(mi, 2)
      elseif std == "5" then v = tostring(s)
      elseif std == "05" then v = pad(s, 2)
      elseif std == "PM" then v = h >= 12 and "PM" or "AM"
      elseif std == "pm" then v = h >= 12 and "pm" or "am"
      elseif std == "MST" then v = abbr or fmt_offset("-0700", off)
      elseif std == "F0" or std == "F9" then
        local nd = c.nd > 9 and 9 or c.nd
        local digits = ssub(pad(st.n, 9), 1, nd)
        if std == "F9" then digits = digits:gsub("0+$", "") end
        v = digits ~= "" and schar(c.sep) .. digits or nil
      else
        v = fmt_offset(std, off)
      end
      if v then n = n + 1; out[n] = v end
    end
    return concat(out, "", 1, n)
  end

  ---------------------------------------------------------------------------------------------
  -- Parsing: Go's time.parse. Helpers return nil where Go returns errBad.

  local function cutspace(s)
    local i = sfind(s, "[^ ]")
    return i and ssub(s, i) or ""
  end

  local function skip(value, prefix)
    while #prefix > 0 do
      if sbyte(prefix, 1) == 32 then
        if #value > 0 and sbyte(value, 1) ~= 32 then return value, false end
        prefix, value = cutspace(prefix), cutspace(value)
      else
        if sbyte(value, 1) ~= sbyte(prefix, 1) then return value, false end
        prefix, value = ssub(prefix, 2), ssub(value, 2)
      end
    end
    return value, true
  end

  -- Go's leadingInt over value[i..]: the number and the index after it, or nil on overflow.
  local function leading_int(s, i)
    local x = 0
    while true do
      local c = sbyte(s, i)
      if not is_digit(c) then break end
      if x > MAXI // 10 then return nil end
      x = x * 10 + (c - 48)
      if x < 0 then return nil end
      i = i + 1
    end
    return x, i
  end

  -- Go's atoi: optional sign, then only digits ("" is 0, as in Go).
  local function atoi(s)
    local i, neg = 1, false
    local c = sbyte(s, 1)
    if c == 45 or c == 43 then neg, i = c == 45, 2 end
    local x, j = leading_int(s, i)
    if not x or j <= #s then return nil end
    return neg and -x or x
  end

  local function getnum(s, fixed)
    local a, b = sbyte(s, 1), sbyte(s, 2)
    if not is_digit(a) then return nil, s end
    if not is_digit(b) then
      if fixed then return nil, s end
      return a - 48, ssub(s, 2)
    end
    return (a - 48) * 10 + (b - 48), ssub(s, 3)
  end

  local function getnum3(s, fixed)
    local n, i = 0, 0
    while i < 3 and is_digit(sbyte(s, i + 1)) do
      n = n * 10 + sbyte(s, i + 1) - 48
      i = i + 1
    end
    if i == 0 or (fixed and i ~= 3) then return nil, s end
    return n, ssub(s, i + 1)
  end

  local function lookup(tab, val)
    for i, v in ipairs(tab) do
      if #val >= #v and slower(ssub(val, 1, #v)) == slower(v) then return i, ssub(val, #v + 1) end
    end
    return nil, val
  end

  local function comma_or_period(b) return b == 46 or b == 44 end

  -- Go's parseNanoseconds: value starts with the separator; nbytes counts it.
  local function parse_nanos(value, nbytes)
    if not comma_or_period(sbyte(value, 1)) then return 0, nil, true end
    if nbytes > 10 then nbytes = 10 end
    local ns = atoi(ssub(value, 2, nbytes))
    if not ns then return 0, nil, true end
    if ns < 0 then return 0, "fractional second" end
    for _ = 1, 10 - nbytes do ns = ns * 10 end
    return ns
  end

  local function parse_signed_offset(value)
    local sign = sbyte(value, 1)
    if sign ~= 45 and sign ~= 43 then return 0 end
    local x, j = leading_int(value, 2)
    if not x or j == 2 or x > 23 then return 0 end
    return j - 1
  end

  -- Go's parseTimeZone: the length of a zone abbreviation at the start of value, or nil.
  local function parse_tz(value)
    if #value < 3 then return nil end
    local four = ssub(value, 1, 4)
    if four == "ChST" or four == "MeST" then return 4 end
    if ssub(value, 1, 3) == "GMT" then
      if #value == 3 then return 3 end
      return 3 + parse_signed_offset(ssub(value, 4))
    end
    local c = sbyte(value, 1)
    if c == 43 or c == 45 then
      local n = parse_signed_offset(value)
      return n > 0 and n or nil
    end
    local upper = 0
    while upper < 6 do
      local b = sbyte(value, upper + 1)
      if not b or b < 65 or b > 90 then break end
      upper = upper + 1
    end
    if upper == 3 then return 3 end
    if upper == 4 and (sbyte(value, 4) == 84 or four == "WITA") then return 4 end
    if upper == 5 and sbyte(value, 5) == 84 then return 5 end
    return nil
  end

  local function parse_error(layout, value, lelem, velem, msg)
    if msg == "" then
      msg = " as " .. quote(layout) .. ": cannot parse " .. quote(velem) .. " as " .. quote(lelem)
    end
    return nil, K.error("Invalid", "parsing time " .. quote(value) .. msg)
  end

  local DAYS_BEFORE = { 0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334, 365 }

  -- Go's parse(layout, value, defaultLocation, local).
  local function parse_time(layout, value, defloc, localloc)
    local alayout, avalue = layout, value
    local chunks = compile(layout)
    local am, pm = false, false
    local year, month, day, yday, hour, min, sec, nsec = 0, -1, -1, -1, 0, 0, 0, 0
    local z, zone_off, zone_name = nil, nil, ""
    for i = 1, #chunks do
      local c = chunks[i]
      local ok
      value, ok = skip(value, c.pre)
      if not ok then return parse_error(alayout, avalue, c.pre, value, "") end
      local std = c.std
      if not std then
        if #value ~= 0 then return parse_error(alayout, avalue, "", value, ": extra text: " .. quote(value)) end
        break
      end
      local hold, bad, range_err = value, false, nil
      if std == "06" then
        if #value < 2 then bad = true else
          year, value = atoi(ssub(value, 1, 2)), ssub(value, 3)
          if not year then bad = true elseif year >= 69 then year = year + 1900 else year = year + 2000 end
        end
      elseif std == "2006" then
        if #value < 4 or not is_digit(sbyte(value, 1)) then bad = true else
          year, value = atoi(ssub(value, 1, 4)), ssub(value, 5)
          if not year then bad = true end
        end
      elseif std == "Jan" or std == "January" then
        month, value = lookup(std == "Jan" and SHORT_MONTHS or LONG_MONTHS, value)
        if not month then bad = true end
      elseif std == "1" or std == "01" then
        month, value = getnum(value, std == "01")
        if not month then bad = true elseif month <= 0 or month > 12 then range_err = "month" end
      elseif std == "Mon" or std == "Monday" then
        local wd
        wd, value = lookup(std == "Mon" and SHORT_DAYS or LONG_DAYS, value)
        if not wd then bad = true end
      elseif std == "2" or std == "_2" or std == "02" then
        if std == "_2" and sbyte(value, 1) == 32 then value = ssub(value, 2) end
        day, value = getnum(value, std == "02")
        if not day then bad = true end
      elseif std == "__2" or std == "002" then
        for _ = 1, 2 do
          if std == "__2" and sbyte(value, 1) == 32 then value = ssub(value, 2) end
        end
        yday, value = getnum3(value, std == "002")
        if not yday then bad = true end
      elseif std == "15" then
        hour, value = getnum(value, false)
        if not hour then bad, hour = true, 0 elseif hour >= 24 then range_err = "hour" end
      elseif std == "3" or std == "03" then
        hour, value = getnum(value, std == "03")
        if not hour then bad, hour = true, 0 elseif hour > 12 then range_err = "hour" end
      elseif std == "4" or std == "04" then
        min, value = getnum(value, std == "04")
        if not min then bad, min = true, 0 elseif min >= 60 then range_err = "minute" end
      elseif std == "5" or std == "05" then
        sec, value = getnum(value, std == "05")
        if not sec then bad, sec = true, 0
        elseif sec >= 60 then range_err = "second"
        elseif #value >= 2 and comma_or_period(sbyte(value, 1)) and is_digit(sbyte(value, 2)) then
          -- a fractional second in the input but none in the layout: take it anyway
          local nxt = chunks[i + 1] and chunks[i + 1].std
          if nxt ~= "F0" and nxt ~= "F9" then
            local n = 2
            while n < #value and is_digit(sbyte(value, n + 1)) do n = n + 1 end
            nsec, range_err, bad = parse_nanos(value, n)
            value = ssub(value, n + 1)
          end
        end
      elseif std == "PM" or std == "pm" then
        if #value < 2 then bad = true else
          local p = ssub(value, 1, 2)
          value = ssub(value, 3)
          if p == (std == "PM" and "PM" or "pm") then pm = true
          elseif p == (std == "PM" and "AM" or "am") then am = true
          else bad = true end
        end
      elseif std == "MST" then
        if ssub(value, 1, 3) == "UTC" then
          z, value = UTC, ssub(value, 4)
        else
          local n = parse_tz(value)
          if not n then bad = true else zone_name, value = ssub(value, 1, n), ssub(value, n + 1) end
        end
      elseif std == "F0" then
        local ndigit = 1 + c.nd
        if #value < ndigit then bad = true else
          nsec, range_err, bad = parse_nanos(value, ndigit)
          value = ssub(value, ndigit + 1)
        end
      elseif std == "F9" then
        if #value >= 2 and comma_or_period(sbyte(value, 1)) and is_digit(sbyte(value, 2)) then
          local k = 0
          while k + 1 < #value and is_digit(sbyte(value, k + 2)) do k = k + 1 end
          nsec, range_err, bad = parse_nanos(value, 1 + k)
          value = ssub(value, 2 + k)
        end
      elseif sbyte(std, 1) == 90 and sbyte(value, 1) == 90 then -- "Z" for any Z07... layout
        z, value = UTC, ssub(value, 2)
      else -- numeric offsets
        local sign, hh, mm, ss
        if COLON_TZ[std] and not SECONDS_TZ[std] then
          if #value < 6 or sbyte(value, 4) ~= 58 then bad = true else
            sign, hh, mm, ss, value = ssub(value, 1, 1), ssub(value, 2, 3), ssub(value, 5, 6), "00", ssub(value, 7)
          end
        elseif SHORT_TZ[std] then
          if #value < 3 then bad = true else
            sign, hh, mm, ss, value = ssub(value, 1, 1), ssub(value, 2, 3), "00", "00", ssub(value, 4)
          end
        elseif COLON_TZ[std] then
          if #value < 9 or sbyte(value, 4) ~= 58 or sbyte(value, 7) ~= 58 then bad = true else
            sign, hh, mm, ss, value = ssub(value, 1, 1), ssub(value, 2, 3), ssub(value, 5, 6), ssub(value, 8, 9), ssub(value, 10)
          end
        elseif SECONDS_TZ[std] then
          if #value < 7 then bad = true else
            sign, hh, mm, ss, value = ssub(value, 1, 1), ssub(value, 2, 3), ssub(value, 4, 5), ssub(value, 6, 7), ssub(value, 8)
          end
        else
          if #value < 5 then bad = true else
            sign, hh, mm, ss, value = ssub(value, 1, 1), ssub(value, 2, 3), ssub(value, 4, 5), "00", ssub(value, 6)
          end
        end
        if not bad then
          local hr, m2, s2 = getnum(hh, true), getnum(mm, true), getnum(ss, true)
          if not (hr and m2 and s2) then bad = true end
          hr, m2, s2 = hr or 0, m2 or 0, s2 or 0
          if hr > 24 then range_err = "time zone offset hour" end
          if m2 > 60 then range_err = "time zone offset minute" end
          if s2 > 60 then range_err = "time zone offset second" end
          zone_off = (hr * 60 + m2) * 60 + s2
          if sign == "-" then zone_off = -zone_off elseif sign ~= "+" then bad = true end
        end
      end
      if range_err then return parse_error(alayout, avalue, c.stdstr, value, ": " .. range_err .. " out of range") end
      if bad then return parse_error(alayout, avalue, c.stdstr, hold, "") end
    end

    if pm and hour < 12 then hour = hour + 12 elseif am and hour == 12 then hour = 0 end

    if yday >= 0 then
      local m, d = 0, 0
      if is_leap(year) then
        if yday == 31 + 29 then m, d = 2, 29 elseif yday > 31 + 29 then yday = yday - 1 end
      end
      if yday < 1 or yday > 365 then return parse_error(alayout, avalue, "", value, ": day-of-year out of range") end
      if m == 0 then
        m = (yday - 1) // 31 + 1
        if DAYS_BEFORE[m + 1] < yday then m = m + 1 end
        d = yday - DAYS_BEFORE[m]
      end
      if month >= 0 and month ~= m then
        return parse_error(alayout, avalue, "", value, ": day-of-year does not match month")
      end
      month = m
      if day >= 0 and day ~= d then
        return parse_error(alayout, avalue, "", value, ": day-of-year does not match day")
      end
      day = d
    else
      if month < 0 then month = 1 end
      if day < 0 then day = 1 end
    end

    if day < 1 or day > days_in(month, year) then
      return parse_error(alayout, avalue, "", value, ": day out of range")
    end

    if z then return date_in(z, year, month, day, hour, min, sec, nsec) end

    if zone_off then
      local unix, n = civil_to_unix(year, month, day, hour, min, sec, nsec)
      unix = unix - zone_off
      -- the local zone, if it had this offset (and name) then; else a fixed zone recording it
      local off, abbr = zone_at(LOC[localloc], unix)
      if off == zone_off and (zone_name == "" or abbr == zone_name) then return new_time(unix, n, localloc) end
      return new_time(unix, n, new_loc(zone_name, "fixed", zone_off))
    end

    if zone_name ~= "" then
      local unix, n = civil_to_unix(year, month, day, hour, min, sec, nsec)
      local off = lookup_name(LOC[localloc], zone_name, unix)
      if off then return new_time(unix - off, n, localloc) end
      -- An unknown abbreviation: Go keeps the clock reading as UTC and records the name with a
      -- guessed offset (0, or the hours of "GMT+3").
      off = 0
      if #zone_name > 3 and ssub(zone_name, 1, 3) == "GMT" then off = (atoi(ssub(zone_name, 4)) or 0) * 3600 end
      return new_time(unix, n, new_loc(zone_name, "fixed", off))
    end

    return date_in(defloc, year, month, day, hour, min, sec, nsec)
  end

  ---------------------------------------------------------------------------------------------
  -- Time methods.

  local function tself(t)
    local st = TIME[t]
    if not st then error("bad self: Time expected", 3) end
    return st
  end

  local function cmp(a, b)
    if a.s ~= b.s then return a.s < b.s and -1 or 1 end
    if a.n ~= b.n then return a.n < b.n and -1 or 1 end
    return 0
  end

  function time_methods.add(t, d)
    local st = tself(t)
    local ns, err = to_ns(d)
    if not ns then return nil, err end
    local s, n = add_ns(st, ns)
    return new_time(s, n, st.loc)
  end

  -- Go's Sub, saturating at the Duration range.
  function time_methods.sub(t, u)
    local a, b = tself(t), TIME[u]
    if not b then return invalid("time.sub: argument must be a Time") end
    local d = (a.s - b.s) * SEC + (a.n - b.n) -- wraps on overflow; checked below
    local s, n = add_ns(b, d)
    if s ~= a.s or n ~= a.n then d = cmp(a, b) < 0 and MINI or MAXI end
    return new_dur(d)
  end

  function time_methods.add_date(t, years, months, days)
    local st = tself(t)
    years, months, days = toint(years or 0), toint(months or 0), toint(days or 0)
    if not (years and months and days) then return invalid("time.add_date: arguments must be numbers") end
    local y, mo, d, h, mi, s = civil(st)
    return date_in(st.loc, y + years, mo + months, d + days, h, mi, s, st.n)
  end

  local function compare_method(name, want)
    time_methods[name] = function(t, u)
      local a, b = tself(t), TIME[u]
      if not b then return invalid("time." .. name .. ": argument must be a Time") end
      return cmp(a, b) == want
    end
  end
  compare_method("before", -1)
  compare_method("after", 1)
  compare_method("equal", 0)

  local RFC3339 = "2006-01-02T15:04:05Z07:00"

  function time_methods.format(t, layout)
    local st = tself(t)
    if type(layout) ~= "string" then return invalid("time.format: layout must be a string") end
    return fmt_time(st, layout)
  end
  function time_methods.format_rfc3339(t) return fmt_time(tself(t), RFC3339) end

  function time_methods.unix(t) return tself(t).s end
  function time_methods.unix_nano(t)
    local st = tself(t)
    return st.s * SEC + st.n -- wraps outside 1678..2262, like Go's UnixNano
  end

  function time_methods.date(t)
    local y, mo, d = civil(tself(t))
    return y, mo, d
  end
  function time_methods.clock(t)
    local _, _, _, h, mi, s = civil(tself(t))
    return h, mi, s
  end
  function time_methods.year(t) return (civil(tself(t))) end
  function time_methods.month(t) return (select(2, civil(tself(t)))) end
  function time_methods.day(t) return (select(3, civil(tself(t)))) end
  function time_methods.hour(t) return (select(4, civil(tself(t)))) end
  function time_methods.minute(t) return (select(5, civil(tself(t)))) end
  function time_methods.second(t) return (select(6, civil(tself(t)))) end
  function time_methods.nanosecond(t) return tself(t).n end
  function time_methods.weekday(t) return (select(7, civil(tself(t))) + 4) % 7 end
  function time_methods.year_day(t)
    local y, _, _, _, _, _, days = civil(tself(t))
    return days - days_from_civil(y, 1, 1) + 1
  end
  function time_methods.is_zero(t)
    local st = tself(t)
    return st.s == ZERO_UNIX and st.n == 0
  end

  function time_methods.location(t) return tself(t).loc end
  function time_methods.utc(t)
    local st = tself(t)
    return new_time(st.s, st.n, UTC)
  end
  function time_methods.in_local(t)
    local st = tself(t)
    return new_time(st.s, st.n, LOCAL)
  end
  function time_methods.in_location(t, loc)
    local st = tself(t)
    if not LOC[loc] then return invalid("time.in_location: argument must be a Location") end
    return new_time(st.s, st.n, loc)
  end

  -- (s, n) as a Time since Go's zero Time, modulo d (0 < d): Go's div() remainder. The count of
  -- nanoseconds since year 1 does not fit in an int64 for modern dates, so it is reduced as
  -- (S mod d) * (1e9 mod d) + n (mod d) with an overflow-free multiply-add.
  local function addmod(a, b, m) -- a, b in [0, m)
    if a >= m - b then return a - (m - b) end
    return a + b
  end
  local function mulmod(a, b, m) -- a in [0, m), b >= 0
    local r = 0
    while b > 0 do
      if b & 1 == 1 then r = addmod(r, a, m) end
      a = addmod(a, a, m)
      b = b >> 1
    end
    return r
  end
  local function rem_since_zero(st, d)
    local S = st.s - ZERO_UNIX
    return addmod(mulmod(S % d, SEC % d, d), st.n % d, d)
  end

  local function round_arg(name, d)
    local ns = DUR[d]
    if not ns then return invalid("time." .. name .. ": argument must be a Duration") end
    return ns
  end

  function time_methods.truncate(t, d)
    local st = tself(t)
    local ns, err = round_arg("truncate", d)
    if not ns then return nil, err end
    if ns <= 0 then return t end
    local s, n = add_ns(st, -rem_since_zero(st, ns))
    return new_time(s, n, st.loc)
  end

  function time_methods.round(t, d)
    local st = tself(t)
    local ns, err = round_arg("round", d)
    if not ns then return nil, err end
    if ns <= 0 then return t end
    local r = rem_since_zero(st, ns)
    local s, n
    if ult(r + r, ns) then s, n = add_ns(st, -r) else s, n = add_ns(st, ns - r) end
    return new_time(s, n, st.loc)
  end

  local STRING_LAYOUT = "2006-01-02 15:04:05.999999999 -0700 MST"
  TIME_MT.__tostring = function(t) return fmt_time(TIME[t], STRING_LAYOUT) end
  TIME_MT.__eq = function(a, b)
    local sa, sb = TIME[a], TIME[b]
    return sa ~= nil and sb ~= nil and cmp(sa, sb) == 0
  end
  local function cmp_operands(a, b)
    local sa, sb = TIME[a], TIME[b]
    if not (sa and sb) then error("attempt to compare Time with a non-Time value", 3) end
    return cmp(sa, sb)
  end
  TIME_MT.__lt = function(a, b) return cmp_operands(a, b) < 0 end
  TIME_MT.__le = function(a, b) return cmp_operands(a, b) <= 0 end

  ---------------------------------------------------------------------------------------------
  -- Timers. Deadlines are K.now_ms() based; durations are nanoseconds.

  local function deadline(ns) return K.now_ms() + ns / MS end

  local function release(st)
    if st.subbed then
      st.subbed = false
      K.unsubscribe(st.sub)
      st.sub = nil
    end
  end

  local TIMER = weak() -- Timer userdata -> { ch, handle, gen, closed, subbed, sub }
  local timer_methods = {}
  local TIMER_MT = { __index = timer_methods, __metatable = "time.Timer",
    __tostring = function() return "time.Timer" end }

  local function timer_arm(st, ns)
    st.gen = st.gen + 1
    local gen = st.gen
    if not st.subbed then st.sub, st.subbed = K.subscribe(), true end
    st.handle = K.timer_add(deadline(ns), function()
      if st.gen ~= gen then return end -- stale: stopped or reset since this arm
      st.handle = nil
      K.chan_offer(st.ch, now_time())
      release(st)
    end)
  end

  -- Cancels the pending arm, if any; true if there was one.
  local function timer_disarm(st)
    local h = st.handle
    st.handle = nil
    st.gen = st.gen + 1
    if h == nil then return false end
    K.timer_cancel(h)
    return true
  end

  local function timer_self(t)
    local st = TIMER[t]
    if not st then error("bad self: Timer expected", 3) end
    return st
  end
  function timer_methods.channel(t) return timer_self(t).ch end
  timer_methods.response = timer_methods.channel

  function timer_methods.stop(t)
    local st = timer_self(t)
    local pending = timer_disarm(st)
    release(st)
    if not st.closed then
      st.closed = true
      K.chan_close(st.ch)
    end
    return pending
  end

  function timer_methods.reset(t, d)
    local st = timer_self(t)
    local ns, err = to_ns(d)
    if not ns then return nil, err end
    if ns <= 0 then error("timer:reset: duration must be > 0", 2) end
    local pending = timer_disarm(st)
    if st.closed then -- stopped: the old channel is closed for good, so re-arm on a fresh one
      st.ch, st.closed = K.chan_new(1), false
    end
    timer_arm(st, ns)
    return pending
  end

  local TICKER = weak() -- Ticker userdata -> { ch, handle, period, next, stopped, subbed, sub }
  local ticker_methods = {}
  local TICKER_MT = { __index = ticker_methods, __metatable = "time.Ticker",
    __tostring = function() return "time.Ticker" end }

  -- Room for ticks a busy receiver has not read yet; more are dropped, not queued (as Go's time.Ticker drops ticks).
  local TICKER_CAP = 16

  local function ticker_self(t)
    local st = TICKER[t]
    if not st then error("bad self: Ticker expected", 3) end
    return st
  end
  function ticker_methods.channel(t) return ticker_self(t).ch end
  ticker_methods.response = ticker_methods.channel

  function ticker_methods.stop(t)
    local st = ticker_self(t)
    if not st.stopped then
      st.stopped = true
      if st.handle then K.timer_cancel(st.handle); st.handle = nil end
      release(st)
      K.chan_close(st.ch)
    end
    return true
  end

  ---------------------------------------------------------------------------------------------
  -- The module.

  local time = {
    NANOSECOND = 1, MICROSECOND = US, MILLISECOND = MS, SECOND = SEC, MINUTE = MIN, HOUR = HOUR,

    RFC3339 = RFC3339,
    RFC3339NANO = "2006-01-02T15:04:05.999999999Z07:00",
    RFC822 = "02 Jan 06 15:04 MST",
    RFC822Z = "02 Jan 06 15:04 -0700",
    RFC850 = "Monday, 02-Jan-06 15:04:05 MST",
    RFC1123 = "Mon, 02 Jan 2006 15:04:05 MST",
    RFC1123Z = "Mon, 02 Jan 2006 15:04:05 -0700",
    ANSIC = "Mon Jan _2 15:04:05 2006",
    UNIX_DATE = "Mon Jan _2 15:04:05 MST 2006",
    RUBY_DATE = "Mon Jan 02 15:04:05 -0700 2006",
    LAYOUT = "01/02 03:04:05PM '06 -0700",
    KITCHEN = "3:04PM",
    STAMP = "Jan _2 15:04:05",
    STAMP_MILLI = "Jan _2 15:04:05.000",
    STAMP_MICRO = "Jan _2 15:04:05.000000",
    STAMP_NANO = "Jan _2 15:04:05.000000000",
    DATE_TIME = "2006-01-02 15:04:05",
    DATE_ONLY = "2006-01-02",
    TIME_ONLY = "15:04:05",

    JANUARY = 1, FEBRUARY = 2, MARCH = 3, APRIL = 4, MAY = 5, JUNE = 6, JULY = 7, AUGUST = 8,
    SEPTEMBER = 9, OCTOBER = 10, NOVEMBER = 11, DECEMBER = 12,
    SUNDAY = 0, MONDAY = 1, TUESDAY = 2, WEDNESDAY = 3, THURSDAY = 4, FRIDAY = 5, SATURDAY = 6,

    utc = UTC,
    localtz = LOCAL,
  }

  function time.now() return now_time() end

  function time.unix(sec, nsec)
    local s, n = toint(sec), toint(nsec or 0)
    if not (s and n) then return invalid("time.unix: sec and nsec must be numbers") end
    return new_time(s + n // SEC, n % SEC, LOCAL)
  end

  function time.date(y, mo, d, h, mi, s, ns, loc)
    y, mo, d = toint(y), toint(mo), toint(d)
    h, mi, s, ns = toint(h or 0), toint(mi or 0), toint(s or 0), toint(ns or 0)
    if not (y and mo and d and h and mi and s and ns) then
      return invalid("time.date: year, month, day, hour, min, sec and nsec must be numbers")
    end
    if loc == nil then loc = LOCAL elseif not LOC[loc] then return invalid("time.date: location must be a Location") end
    return date_in(loc, y, mo, d, h, mi, s, ns)
  end

  function time.parse(layout, value, loc)
    if type(layout) ~= "string" or type(value) ~= "string" then
      return invalid("time.parse: layout and value must be strings")
    end
    if loc == nil then return parse_time(layout, value, UTC, LOCAL) end
    if not LOC[loc] then return invalid("time.parse: location must be a Location") end
    return parse_time(layout, value, loc, loc)
  end

  function time.parse_duration(v)
    if DUR[v] then return v end
    local ns, err = to_ns(v)
    if not ns then return nil, err end
    return new_dur(ns)
  end

  function time.fixed_zone(name, offset)
    local off = toint(offset)
    if type(name) ~= "string" or not off then
      return invalid("time.fixed_zone: name must be a string and offset a number")
    end
    return new_loc(name, "fixed", off)
  end

  function time.load_location(name)
    if type(name) ~= "string" then return invalid("time.load_location: name must be a string") end
    if name == "" then return invalid("time.load_location: location name must not be empty") end
    local l = loaded[name]
    if l then return l end
    local w = toint(K.wall_ns())
    if K.tz_offset(name, w // SEC) == nil then
      return nil, K.error("NotFound", "unknown time zone " .. name)
    end
    l = new_loc(name, "tz", nil)
    loaded[name] = l
    return l
  end

  function time.sleep(d)
    local ns, err = to_ns(d)
    if not ns then return nil, err end
    K.sleep_ms(ns > 0 and ns / MS or 0)
    return true
  end

  function time.after(d)
    local ns, err = to_ns(d)
    if not ns then return nil, err end
    if ns <= 0 then return invalid("time.after: duration must be > 0") end
    local ch = K.chan_new(1)
    local sub = K.subscribe()
    K.timer_add(deadline(ns), function()
      K.chan_offer(ch, now_time())
      K.chan_close(ch)
      K.unsubscribe(sub)
    end)
    return ch
  end

  function time.timer(d)
    local ns, err = to_ns(d)
    if not ns then return nil, err end
    if ns <= 0 then return invalid("time.timer: duration must be > 0") end
    local st = { ch = K.chan_new(1), gen = 0, closed = false, subbed = false }
    timer_arm(st, ns)
    local t = K.newud(TIMER_MT)
    TIMER[t] = st
    return t
  end

  function time.ticker(d)
    local ns, err = to_ns(d)
    if not ns then return nil, err end
    if ns <= 0 then return invalid("time.ticker: duration must be > 0") end
    local period = ns / MS
    local st = { ch = K.chan_new(TICKER_CAP), period = period, stopped = false }
    st.sub, st.subbed = K.subscribe(), true
    local function tick()
      if st.stopped then return end
      K.chan_offer(st.ch, now_time()) -- false when the buffer is full: the tick is dropped
      -- Next tick on the original grid; a late scheduler skips the ticks it missed.
      local now, nxt = K.now_ms(), st.next + period
      if nxt <= now then nxt = nxt + period * ((now - nxt) // period + 1) end
      st.next = nxt
      st.handle = K.timer_add(nxt, tick)
    end
    st.next = deadline(ns)
    st.handle = K.timer_add(st.next, tick)
    local t = K.newud(TICKER_MT)
    TICKER[t] = st
    return t
  end

  return time
end
