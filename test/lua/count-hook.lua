-- Count hooks (debug.sethook(co, f, "", K)): where they fire, run on both Lua modules. Our module
-- counts instructions in luaV_execute itself (patch 0006) instead of stock Lua's per-instruction
-- trap; these cases record every count-hook call (which function, which line, how many so far)
-- so test/count-hook.test.ts can require the same trace from both modules, and check a few
-- outcomes of their own. Each case returns a string; the chunk returns "name: trace" lines.
local cases = {}
local function case(name, f) cases[#cases + 1] = { name = name, f = f } end

-- A tracing hook for thread `co` (nil: the running one) every `k` instructions: records
-- "<line>" of the function the hook interrupted, at most `cap` entries, and counts all calls.
local function tracer(k, cap)
  local t = { n = 0, lines = {} }
  t.hook = function()
    t.n = t.n + 1
    if #t.lines < (cap or 200) then
      local info = debug.getinfo(2, "l")
      t.lines[#t.lines + 1] = info and info.currentline or -1
    end
  end
  t.set = function(co)
    if co then debug.sethook(co, t.hook, "", k) else debug.sethook(t.hook, "", k) end
  end
  t.out = function() return t.n .. " [" .. table.concat(t.lines, " ") .. "]" end
  return t
end

case("a loop without calls", function()
  local t = tracer(7)
  local co = coroutine.create(function()
    local x = 0
    for i = 1, 500 do x = x + i end
    local j = 0
    while j < 300 do j = j + 1; if j % 3 == 0 then x = x - 1 end end
    return x
  end)
  t.set(co)
  local ok, x = coroutine.resume(co)
  return tostring(ok) .. " " .. x .. " " .. t.out()
end)

case("every instruction (count 1)", function()
  local t = tracer(1, 1000)
  local co = coroutine.create(function(a, ...)
    local s = a
    for i = 1, 4 do s = s + i end
    local function f(x, ...) return x + select("#", ...) end
    s = s + f(1, 2, 3)
    local tb = setmetatable({}, { __index = function(_, key) return #key end })
    s = s + tb.abc
    return s
  end)
  t.set(co)
  local ok, s = coroutine.resume(co, 10, 20)
  return tostring(ok) .. " " .. s .. " " .. t.out()
end)

case("a loop in a coroutine, with a coroutine of its own inside", function()
  local outer, inner = tracer(11), tracer(5)
  local co = coroutine.create(function()
    local x = 0
    local sub = coroutine.create(function() local y = 0; for i = 1, 200 do y = y + i end; return y end)
    inner.set(sub)
    for i = 1, 100 do x = x + i end
    local _, y = coroutine.resume(sub)
    for i = 1, 100 do x = x + i end
    return x + y
  end)
  outer.set(co)
  local ok, x = coroutine.resume(co)
  return tostring(ok) .. " " .. x .. " outer " .. outer.out() .. " inner " .. inner.out()
end)

case("across yields and resumes", function()
  local t = tracer(13)
  local co = coroutine.create(function()
    local x = 0
    for round = 1, 20 do
      for i = 1, 17 do x = x + i end
      x = x + coroutine.yield(x)
    end
    return x
  end)
  t.set(co)
  local v, ok = 0, true
  while coroutine.status(co) ~= "dead" do ok, v = coroutine.resume(co, 1) end
  return tostring(ok) .. " " .. v .. " " .. t.out()
end)

case("deep recursion", function()
  local t = tracer(9)
  local function depth(n) if n == 0 then return 0 end return 1 + depth(n - 1) end
  local function vdepth(n, ...) if n == 0 then return select("#", ...) end return vdepth(n - 1, n, ...) end
  local co = coroutine.create(function() return depth(150) + vdepth(60) + depth(150) end)
  t.set(co)
  local ok, d = coroutine.resume(co)
  return tostring(ok) .. " " .. d .. " " .. t.out()
end)

case("pcall inside, errors caught", function()
  local t = tracer(6)
  local co = coroutine.create(function()
    local caught = 0
    for i = 1, 40 do
      local ok = pcall(function(n) local s = 0; for j = 1, n do s = s + j end; if n % 4 == 0 then error("x") end; return s end, i)
      if not ok then caught = caught + 1 end
    end
    local ok2 = xpcall(function() local s = 0; for j = 1, 50 do s = s + j end; error({}) end, function(e) return e end)
    return caught .. " " .. tostring(ok2)
  end)
  t.set(co)
  local ok, r = coroutine.resume(co)
  return tostring(ok) .. " " .. r .. " " .. t.out()
end)

case("a counted loop inside a metamethod and an iterator", function()
  local t = tracer(5)
  local co = coroutine.create(function()
    local mt = {
      __index = function(_, k) local s = 0; for i = 1, k do s = s + i end; return s end,
      __add = function(a, b) local s = 0; for i = 1, 30 do s = s + i end; return s end,
      __lt = function(a, b) local s = 0; for i = 1, 10 do s = s + i end; return true end,
      __concat = function(a, b) local s = 0; for i = 1, 10 do s = s + i end; return "c" .. s end,
    }
    local o = setmetatable({}, mt)
    local x = o[25] + o[40]
    x = x + (o + o)
    if o < o then x = x + 1 end
    local c = o .. "a" .. "b"
    local function iter(n, i) if i >= n then return nil end; local s = 0; for j = 1, 8 do s = s + j end; return i + 1, s end
    for i, s in iter, 12, 0 do x = x + s end
    for k, v in pairs({ a = 1, b = 2, c = 3 }) do x = x + v end
    return x .. " " .. c
  end)
  t.set(co)
  local ok, r = coroutine.resume(co)
  return tostring(ok) .. " " .. r .. " " .. t.out()
end)

case("yields inside metamethods, iterators and pcall while counted", function()
  local t = tracer(4)
  local co = coroutine.create(function()
    local o = setmetatable({}, { __index = function(_, k) local s = 0; for i = 1, 9 do s = s + i end; return coroutine.yield(k) + s end })
    local x = o.a + o.b
    local function gen() for i = 1, 5 do coroutine.yield(i) end end
    for v in coroutine.wrap(gen) do x = x + v end
    local ok, y = pcall(function() local s = 0; for i = 1, 12 do s = s + i end; return coroutine.yield(s) end)
    return x + y
  end)
  t.set(co)
  local ok, v = coroutine.resume(co)
  local n = 0
  while coroutine.status(co) ~= "dead" do n = n + 1; ok, v = coroutine.resume(co, 2) end
  return tostring(ok) .. " " .. v .. " resumes " .. n .. " " .. t.out()
end)

case("a hook that raises ends the thread at the same count", function()
  local calls = 0
  local co = coroutine.create(function()
    local x = 0
    while true do x = x + 1; if x % 100 == 0 then x = x + math.abs(-1) end end
  end)
  debug.sethook(co, function()
    calls = calls + 1
    if calls > 25 then error("budget exceeded after " .. calls .. " calls", 0) end
  end, "", 1000)
  local ok, e = coroutine.resume(co)
  -- the error of a hook raising under pcall inside the thread is caught like any other
  local co2 = coroutine.create(function()
    local r = { pcall(function() while true do end end) }
    return tostring(r[1]) .. " " .. tostring(r[2])
  end)
  local n2 = 0
  debug.sethook(co2, function() n2 = n2 + 1; if n2 == 3 then error("stop", 0) end end, "", 500)
  local ok2, e2 = coroutine.resume(co2)
  return tostring(ok) .. " " .. tostring(e) .. " " .. coroutine.status(co) .. " | " .. tostring(ok2) .. " " .. tostring(e2) .. " " .. n2
end)

case("line and count hooks together", function()
  local events = {}
  local co = coroutine.create(function()
    local x = 0
    for i = 1, 6 do
      x = x + i
    end
    return x
  end)
  debug.sethook(co, function(ev, line)
    if #events < 200 then events[#events + 1] = ev:sub(1, 1) .. (line or debug.getinfo(2, "l").currentline) end
  end, "l", 3)
  local ok, x = coroutine.resume(co)
  return tostring(ok) .. " " .. x .. " " .. table.concat(events, " ")
end)

case("set, changed and removed while running", function()
  local log = {}
  local a, b = 0, 0
  local co
  co = coroutine.create(function()
    local x = 0
    for i = 1, 300 do x = x + i end
    debug.sethook(co, function() b = b + 1 end, "", 7)   -- change it from inside
    for i = 1, 300 do x = x + i end
    local h, m, c = debug.gethook(co)
    log[#log + 1] = m .. c
    debug.sethook(co)                                      -- remove it
    for i = 1, 300 do x = x + i end
    log[#log + 1] = tostring(debug.gethook(co))
    debug.sethook(co, function() a = a + 1000 end, "", 50) -- and set it again
    for i = 1, 300 do x = x + i end
    return x
  end)
  debug.sethook(co, function() a = a + 1 end, "", 20)
  local ok, x = coroutine.resume(co)
  return tostring(ok) .. " " .. x .. " a=" .. a .. " b=" .. b .. " " .. table.concat(log, " ")
end)

case("the main thread's own count hook", function()
  local t = tracer(17)
  t.set()
  local x = 0
  for i = 1, 400 do x = x + i end
  local s = string.rep("a", 3) .. x
  debug.sethook()
  for i = 1, 400 do x = x + i end
  return x .. " " .. s .. " " .. t.out()
end)

case("a vararg function is counted as stock Lua counts it", function()
  local t = tracer(3, 500)
  local co = coroutine.create(function(...)
    local function va(...) return select("#", ...) end
    local n = 0
    for i = 1, 50 do n = n + va(i, i) end
    return n + select("#", ...)
  end)
  t.set(co)
  local ok, n = coroutine.resume(co, 1, 2, 3)
  return tostring(ok) .. " " .. n .. " " .. t.out()
end)

case("call and return hooks with a count, and a line hook alone", function()
  local events = {}
  local function f(n) local s = 0; for i = 1, n do s = s + i end; return s end
  local co = coroutine.create(function() local x = f(3) + f(4); return x + select("#", f(1)) end)
  debug.sethook(co, function(ev, line)
    if #events < 200 then events[#events + 1] = ev:sub(1, 2) .. (line or debug.getinfo(2, "l").currentline) end
  end, "cr", 4)
  local ok, x = coroutine.resume(co)
  local lines = {}
  local co2 = coroutine.create(function() local y = 0; for i = 1, 3 do y = y + f(i) end; return y end)
  debug.sethook(co2, function(_, line) lines[#lines + 1] = line end, "l")
  local ok2, y = coroutine.resume(co2)
  return tostring(ok) .. " " .. x .. " " .. table.concat(events, " ") .. " | " .. tostring(ok2) .. " " .. y .. " " .. table.concat(lines, " ")
end)

local out = {}
for _, c in ipairs(cases) do
  local ok, r = pcall(c.f)
  out[#out + 1] = c.name .. ": " .. (ok and r or ("ERROR " .. tostring(r)))
end
return table.concat(out, "\n")
