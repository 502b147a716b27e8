-- Coroutine behaviours of Lua 5.4 that a change to yield/resume could break. Each case returns
-- normally or raises; run by test/native-lua.test.ts on our module (vendor/lua-wasm) and on
-- wasmoon's, which must agree. Run on the main thread (not yieldable). Returns one line per case:
-- "name: ok" or "name: <error message>".
local cases = {}
local function case(name, fn) cases[#cases + 1] = { name, fn } end
local function eq(a, b, what)
  if a ~= b then error((what or "value") .. ": expected " .. tostring(b) .. ", got " .. tostring(a), 2) end
end
local pack, unpack = table.pack, table.unpack

case("values both ways", function()
  local co = coroutine.create(function(a, b)
    local c, d = coroutine.yield(a + b, "x")
    local e = coroutine.yield(c .. d)
    return e * 2, nil, "end"
  end)
  local r = pack(coroutine.resume(co, 1, 2)); eq(r.n, 3); eq(r[2], 3); eq(r[3], "x")
  r = pack(coroutine.resume(co, "p", "q")); eq(r[2], "pq")
  r = pack(coroutine.resume(co, 21)); eq(r.n, 4); eq(r[2], 42); eq(r[3], nil); eq(r[4], "end")
  eq(coroutine.status(co), "dead")
  local ok, msg = coroutine.resume(co); eq(ok, false); eq(msg, "cannot resume dead coroutine")
end)

case("yield as a tail call", function()
  local function park(x) return coroutine.yield(x) end
  local co = coroutine.wrap(function() local v = park(1); local w = park(v + 1); return w * 10 end)
  eq(co(), 1); eq(co(5), 6); eq(co(7), 70)
end)

case("vararg function yielding by tail call", function()
  local function park(...) return coroutine.yield(select("#", ...), ...) end
  local co = coroutine.wrap(function(...) local n, a = park(...); return n, a end)
  local n, a, b = co("a", "b"); eq(n, 2); eq(a, "a"); eq(b, "b")
  local n2, a2 = co(9, "z"); eq(n2, 9); eq(a2, "z")
end)

case("many yields, many coroutines", function()
  local cos = {}
  for i = 1, 100 do
    cos[i] = coroutine.wrap(function() local s = 0; for k = 1, 50 do s = s + coroutine.yield(s) end; return -s end)
    cos[i]()
  end
  local last
  for k = 1, 50 do for i = 1, 100 do last = cos[i](i) end end
  eq(last, -5000)
end)

case("yield inside pcall", function()
  local co = coroutine.wrap(function()
    local ok, v = pcall(function() local x = coroutine.yield("in pcall"); return x + 1 end)
    eq(ok, true); local y = coroutine.yield(v)
    local ok2, e = pcall(function() coroutine.yield("again"); error("boom after resume") end)
    eq(ok2, false); eq(e:match("boom after resume") ~= nil, true)
    return y, "done"
  end)
  eq(co(), "in pcall"); eq(co(41), 42); eq(co("y"), "again")
  local y, d = co(); eq(y, "y"); eq(d, "done")
end)

case("yield inside nested pcall and xpcall", function()
  local co = coroutine.wrap(function()
    return xpcall(function()
      return pcall(function()
        local a = coroutine.yield(1)
        local b = select(2, pcall(coroutine.yield, 2))
        error({ code = a + b })
      end)
    end, function(m) return "handled " .. tostring(m) end)
  end)
  eq(co(), 1); eq(co(10), 2)
  local ok1, ok2, e = co(20)
  eq(ok1, true); eq(ok2, false); eq(e.code, 30)
end)

case("error in xpcall handler is not yieldable", function()
  local co = coroutine.wrap(function()
    return xpcall(error, function() coroutine.yield("h") end, "x")
  end)
  local ok, e = co()
  eq(ok, false)
end)

case("yield inside metamethods", function()
  local mt = {
    __index = function(t, k) return coroutine.yield("index " .. k) end,
    __add = function(a, b) return coroutine.yield("add") end,
    __lt = function(a, b) return coroutine.yield("lt") end,
    __concat = function(a, b) return coroutine.yield("concat") end,
    __call = function(self, x) return coroutine.yield("call " .. x) end,
    __eq = function() return coroutine.yield("eq") end,
    __len = function() return coroutine.yield("len") end,
    __newindex = function(t, k, v) rawset(t, k, coroutine.yield("newindex " .. k)) end,
  }
  local co = coroutine.wrap(function()
    local a, b = setmetatable({}, mt), setmetatable({}, mt)
    local r = {}
    r[1] = a.foo
    r[2] = a + 1
    r[3] = a < b
    r[4] = "s" .. a .. "t"
    r[5] = a(7)
    r[6] = a == b
    r[7] = #a
    a.bar = 1; r[8] = rawget(a, "bar")
    return table.concat({ tostring(r[1]), tostring(r[2]), tostring(r[3]), tostring(r[4]), tostring(r[5]),
      tostring(r[6]), tostring(r[7]), tostring(r[8]) }, ",")
  end)
  eq(co(), "index foo"); eq(co("F"), "add"); eq(co(3), "lt"); eq(co(false), "concat")
  eq(co("C"), "call 7"); eq(co("K"), "eq"); eq(co(1), "len"); eq(co(5), "newindex bar")
  eq(co("B"), "F,3,false,sC,K,true,5,B")
end)

case("yield inside metamethods: every operator, in conditions and expressions", function()
  local log = {}
  local function y(tag) log[#log + 1] = tag; return coroutine.yield(tag) end
  local mt = {
    __sub = function() return y("sub") end, __mul = function() return y("mul") end,
    __div = function() return y("div") end, __mod = function() return y("mod") end,
    __pow = function() return y("pow") end, __idiv = function() return y("idiv") end,
    __band = function() return y("band") end, __bor = function() return y("bor") end,
    __bxor = function() return y("bxor") end, __shl = function() return y("shl") end,
    __shr = function() return y("shr") end, __unm = function() return y("unm") end,
    __bnot = function() return y("bnot") end, __le = function() return y("le") end,
    __lt = function() return y("lt") end, __eq = function() return y("eq") end,
  }
  local co = coroutine.wrap(function()
    local a, b = setmetatable({}, mt), setmetatable({}, mt)
    local r = { a - 1, 2 * a, a / b, a % 3, a ^ 2, a // 2, a & 1, 1 | a, a ~ a, a << 1, a >> 1, -a, ~a }
    local c = {}
    if a <= b then c[#c + 1] = "le" end
    if a < 5 then c[#c + 1] = "lti" end   -- OP_LTI
    if 5 > a then c[#c + 1] = "gti" end   -- OP_GTI with the operands swapped
    if a >= 1 then c[#c + 1] = "gei" end
    while a == b do c[#c + 1] = "eq"; break end
    if not (a ~= b) then c[#c + 1] = "ne" end
    return table.concat(r, ","), table.concat(c, ",")
  end)
  local v, w = co()
  local n = 0
  while type(v) == "string" and v:match("^%l+$") do n = n + 1; v, w = co(n) end
  eq(v, "1,2,3,4,5,6,7,8,9,10,11,12,13")
  eq(w, "le,lti,gti,gei,eq,ne")
  eq(table.concat(log, ","), "sub,mul,div,mod,pow,idiv,band,bor,bxor,shl,shr,unm,bnot,le,lt,lt,le,eq,eq")
end)

case("yield inside nested metamethods and a concat chain", function()
  local inner = setmetatable({}, { __index = function(_, k) return coroutine.yield("inner " .. k) end })
  local outer = setmetatable({}, { __index = function(_, k) return inner[k] .. "!" end,
    __concat = function(x, y)
      local l = type(x) == "table" and "T" or x
      local r = type(y) == "table" and "T" or y
      return coroutine.yield("concat " .. l .. "|" .. r)
    end })
  local co = coroutine.wrap(function()
    local a = outer.key          -- __index calls __index, which yields
    local s = "a" .. outer .. "b" .. outer .. "c" -- several __concat yields in one OP_CONCAT
    return a, s
  end)
  eq(co(), "inner key")
  eq(co("v"), "concat T|c")
  eq(co("X"), "concat T|bX") -- "b" .. "X" joined without a metamethod in between
  local a, s = co("Y")
  eq(a, "v!"); eq(s, "aY")
end)

case("metamethod yields under pcall, errors after a resume, and coroutine.close", function()
  local mt = { __index = function(_, k)
    local v = coroutine.yield(k)
    if v == "boom" then error("index failed: " .. k, 0) end
    return v
  end }
  local co = coroutine.wrap(function()
    local t = setmetatable({}, mt)
    local ok, e = pcall(function() return t.first end)
    local ok2, v2 = pcall(function() return t.second end)
    return tostring(ok) .. ":" .. tostring(e) .. "," .. tostring(ok2) .. ":" .. tostring(v2)
  end)
  eq(co(), "first"); eq(co("boom"), "second")
  eq(co(42), "false:index failed: first,true:42")
  local closed = false
  local c2 = coroutine.create(function()
    local _ <close> = setmetatable({}, { __close = function() closed = true end })
    return setmetatable({}, mt).x
  end)
  local ok, k = coroutine.resume(c2); eq(ok, true); eq(k, "x")
  eq(coroutine.close(c2), true); eq(closed, true); eq(coroutine.status(c2), "dead")
end)

case("yield inside a for iterator", function()
  local function iter(n)
    return function(_, i) if i < n then coroutine.yield("step " .. i); return i + 1 end end, nil, 0
  end
  local co = coroutine.wrap(function() local s = 0; for i in iter(3) do s = s + i end; return s end)
  eq(co(), "step 0"); eq(co(), "step 1"); eq(co(), "step 2"); eq(co(), 6)
end)

case("yield across a C function without continuation fails", function()
  local co = coroutine.wrap(function()
    return pcall(table.sort, { 3, 2, 1 }, function(a, b) coroutine.yield(); return a < b end)
  end)
  local ok, e = co()
  eq(ok, false); eq(tostring(e):match("attempt to yield across a C%-call boundary") ~= nil, true)
  local ok2, e2 = pcall(string.gsub, "ab", ".", function() coroutine.yield() end)
  eq(ok2, false); eq(e2:match("outside a coroutine") ~= nil, true)
end)

case("error while suspended", function()
  local co = coroutine.create(function() local x = coroutine.yield(1); return x.field end)
  coroutine.resume(co)
  local ok, e = coroutine.resume(co, nil)
  eq(ok, false); eq(e:match("attempt to index") ~= nil, true)
  eq(coroutine.status(co), "dead")
  local co2 = coroutine.create(function() coroutine.yield(); error({ tag = "obj" }) end)
  coroutine.resume(co2)
  local ok2, e2 = coroutine.resume(co2); eq(ok2, false); eq(e2.tag, "obj")
end)

case("coroutine.close runs pending to-be-closed variables", function()
  local log = {}
  local function closer(name) return setmetatable({}, { __close = function(_, err) log[#log + 1] = name .. ":" .. tostring(err) end }) end
  local co = coroutine.create(function()
    local a <close> = closer("a")
    do local b <close> = closer("b"); coroutine.yield(1) end
    coroutine.yield(2)
  end)
  coroutine.resume(co); eq(coroutine.status(co), "suspended")
  local ok, e = coroutine.close(co); eq(ok, true); eq(e, nil)
  eq(table.concat(log, " "), "b:nil a:nil"); eq(coroutine.status(co), "dead")
  local co2 = coroutine.create(function()
    local c <close> = setmetatable({}, { __close = function() error("in close") end })
    coroutine.yield()
  end)
  coroutine.resume(co2)
  local ok2, e2 = coroutine.close(co2); eq(ok2, false); eq(e2:match("in close") ~= nil, true)
  local co3 = coroutine.create(function() error("died") end); coroutine.resume(co3)
  local ok3, e3 = coroutine.close(co3); eq(ok3, false); eq(e3:match("died") ~= nil, true)
end)

case("a __close method can yield", function()
  local co = coroutine.wrap(function()
    do local x <close> = setmetatable({}, { __close = function() coroutine.yield("closing") end }) end
    return "after"
  end)
  eq(co(), "closing"); eq(co(), "after")
end)

case("deep Lua recursion then yield", function()
  local function down(n) if n == 0 then return coroutine.yield("bottom") + 0 end; return 1 + down(n - 1) end
  local co = coroutine.wrap(function() return down(10000) end)
  eq(co(), "bottom"); eq(co(5), 10005)
end)

case("deep pcall nesting then yield", function()
  local function down(n) if n == 0 then return coroutine.yield("bottom") end
    local ok, v = pcall(down, n - 1); return v end
  local co = coroutine.wrap(function() return down(150) end)
  eq(co(), "bottom"); eq(co("up"), "up")
end)

case("C stack overflow is an error, not a crash", function()
  local function nest(n) return coroutine.wrap(function() if n == 0 then return coroutine.yield("deep") end; return nest(n - 1)() end)() end
  local ok, e = pcall(nest, 1000)
  eq(ok, false); eq(tostring(e):match("C stack overflow") ~= nil, true)
end)

case("nested coroutines", function()
  local inner = coroutine.wrap(function() for i = 1, 3 do coroutine.yield("in" .. i) end; return "in-end" end)
  local outer = coroutine.wrap(function()
    local acc = {}
    for _ = 1, 4 do acc[#acc + 1] = inner(); coroutine.yield(#acc) end
    return table.concat(acc, ",")
  end)
  eq(outer(), 1); eq(outer(), 2); eq(outer(), 3); eq(outer(), 4); eq(outer(), "in1,in2,in3,in-end")
end)

case("status, running, isyieldable", function()
  eq(coroutine.isyieldable(), false)
  local co; co = coroutine.create(function()
    eq(coroutine.isyieldable(), true); eq(coroutine.status(co), "running")
    local me, main = coroutine.running(); eq(me, co); eq(main, false)
    local other = coroutine.create(function() eq(coroutine.status(co), "normal"); coroutine.yield() end)
    coroutine.resume(other)
    coroutine.yield()
  end)
  coroutine.resume(co); eq(coroutine.status(co), "suspended")
  coroutine.resume(co); eq(coroutine.status(co), "dead")
  local ok, e = coroutine.resume(coroutine.running()); eq(ok, false)
end)

case("resume a running or normal coroutine", function()
  local co; co = coroutine.create(function() return coroutine.resume(co) end)
  local ok, ok2, e = coroutine.resume(co); eq(ok, true); eq(ok2, false); eq(e, "cannot resume non-suspended coroutine")
end)

case("wrap propagates errors with position", function()
  local co = coroutine.wrap(function() coroutine.yield(); error("wrapped") end)
  co()
  local ok, e = pcall(co); eq(ok, false); eq(e:match("wrapped") ~= nil, true)
end)

case("yield from a C function called directly is the body", function()
  local co = coroutine.create(coroutine.yield)
  local r = pack(coroutine.resume(co, 1, 2)); eq(r.n, 3); eq(r[2], 1); eq(r[3], 2)
  r = pack(coroutine.resume(co, "a")); eq(r.n, 2); eq(r[2], "a"); eq(coroutine.status(co), "dead")
end)

case("garbage collection while suspended", function()
  local cos = {}
  for i = 1, 200 do
    cos[i] = coroutine.create(function(x) local t = { x }; for _ = 1, 3 do t[#t + 1] = coroutine.yield(#t) end; return #t end)
    coroutine.resume(cos[i], i)
  end
  collectgarbage("collect")
  for r = 1, 3 do for i = 1, 200 do local ok, v = coroutine.resume(cos[i], r); eq(ok, true) end end
  collectgarbage("collect")
  local ok, v = coroutine.resume(cos[1]); eq(ok, false)
end)

case("a count hook sees coroutines", function()
  local n = 0
  local co = coroutine.create(function() for i = 1, 1000 do if i % 100 == 0 then coroutine.yield() end end end)
  debug.sethook(co, function() n = n + 1 end, "", 10)
  while coroutine.resume(co) and coroutine.status(co) ~= "dead" do end
  eq(n > 50, true, "hook calls")
end)

case("a hook error kills the coroutine", function()
  local co = coroutine.create(function() while true do coroutine.yield() end end)
  local calls = 0
  debug.sethook(co, function() calls = calls + 1; if calls > 3 then error("budget") end end, "", 1)
  local ok, e
  for _ = 1, 100 do ok, e = coroutine.resume(co); if not ok then break end end
  eq(ok, false); eq(e:match("budget") ~= nil, true)
end)

-- Parked coroutines are shrunk by the collector (our module, patch 0007: a coroutine suspended in
-- a yield keeps only the stack it uses and no free CallInfo). Each way of parking, collected while
-- parked, must resume with many values, recurse deeply and yield again.
local function deep(n) if n == 0 then return 0 end; return 1 + deep(n - 1) end
local function parked_kinds()
  local proxy = setmetatable({}, { __index = function(_, k) return coroutine.yield(k) end })
  local function iter(_, i) if i < 3 then return i + 1, coroutine.yield(i) end end
  return {
    plain = function(...) return coroutine.yield(...) end,
    pcall = function(...) local ok, a = pcall(coroutine.yield, ...); eq(ok, true); return a end,
    xpcall = function(...) local ok, a = xpcall(coroutine.yield, debug.traceback, ...); eq(ok, true); return a end,
    iterator = function(x) for i in iter, nil, 0 do if i == 1 then return x end end end,
    metamethod = function(x) local v = proxy[x]; return v end,
    nested = function(...) local w = coroutine.wrap(function(...) return coroutine.yield(...) end); w(...); return coroutine.yield(...) end,
  }
end

case("parked coroutines collected while parked resume with many values", function()
  local cos, big = {}, {}
  for i = 1, 250 do big[i] = i end
  for name, park in pairs(parked_kinds()) do
    for j = 1, 20 do
      local co = coroutine.create(function(x)
        local a, b, c = x, x * 2, x * 3 -- locals live across the yield
        local r = park(x)
        local t = pack(coroutine.yield(a + b + c))
        eq(deep(3000), 3000, name .. ": deep recursion after the shrink")
        local s = 0
        for k = 1, t.n do s = s + t[k] end
        return name, r, s, select("#", coroutine.yield(unpack(big)))
      end)
      assert(coroutine.resume(co, j))
      cos[#cos + 1] = { co, name, j }
    end
  end
  collectgarbage("collect"); collectgarbage("collect")
  for _, c in ipairs(cos) do
    local co, name, j = c[1], c[2], c[3]
    local r = pack(coroutine.resume(co, j + 100))
    eq(r[1], true, name); eq(r[2], 6 * j, name .. ": locals kept")
  end
  collectgarbage("collect")
  for _, c in ipairs(cos) do
    local r = pack(coroutine.resume(c[1], unpack(big)))
    eq(r[1], true, c[2]); eq(r.n, 251, c[2] .. ": 250 values yielded back")
  end
  collectgarbage("collect")
  for _, c in ipairs(cos) do
    local co, name, j = c[1], c[2], c[3]
    local r = pack(coroutine.resume(co, 1, 2, 3))
    eq(r[1], true, name); eq(r[2], name)
    eq(r[4], 250 * 251 // 2, name .. ": 250 values resumed with")
    eq(r[5], 3, name .. ": last resume's values")
    eq(coroutine.status(co), "dead")
  end
end)

case("a parked coroutine collected while parked: traceback, close with a pending __close, errors", function()
  local closed = 0
  local co = coroutine.create(function()
    local x <close> = setmetatable({}, { __close = function() closed = closed + 1 end })
    local function inner() coroutine.yield(1); error("after the shrink") end
    inner()
  end)
  assert(coroutine.resume(co))
  collectgarbage("collect"); collectgarbage("collect")
  eq(debug.traceback(co):match("inner") ~= nil, true, "traceback names the parked function")
  local ok, e = coroutine.resume(co)
  eq(ok, false); eq(tostring(e):match("after the shrink") ~= nil, true)
  eq(coroutine.close(co), false); eq(closed, 1)
  local co2 = coroutine.create(function()
    local y <close> = setmetatable({}, { __close = function() closed = closed + 10 end })
    coroutine.yield()
  end)
  assert(coroutine.resume(co2))
  collectgarbage("collect"); collectgarbage("collect")
  eq(coroutine.close(co2), true); eq(closed, 11)
end)

local out = {}
for _, c in ipairs(cases) do
  local ok, e = pcall(c[2])
  out[#out + 1] = c[1] .. ": " .. (ok and "ok" or tostring(e))
end
return table.concat(out, "\n")
