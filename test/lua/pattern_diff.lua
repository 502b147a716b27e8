-- Differential check of src/lua/lib/pattern.lua against the C string library in the same Lua
-- state: every call is made through both and the outcomes (ok flag, every result with its type,
-- or the error message) must be identical. `impl` is the table under test (find, match, gmatch,
-- gsub). Returns the number of calls compared and a list of the first mismatches.
return function(impl, seed, rounds)
  local mismatches, ncalls = {}, 0

  local function pack(ok, ...) return ok, table.pack(...) end
  local function show(ok, t)
    local out = { tostring(ok) }
    for i = 1, t.n do
      local v = t[i]
      out[#out + 1] = (math.type(v) or type(v)) .. ":" .. (type(v) == "string" and string.format("%q", v) or tostring(v))
    end
    return table.concat(out, " ")
  end
  local function label(name, args)
    local parts = {}
    for i = 1, args.n do
      local v = args[i]
      parts[i] = type(v) == "string" and string.format("%q", v) or tostring(v)
    end
    return name .. "(" .. table.concat(parts, ", ") .. ")"
  end
  local function report(what, a, b)
    if #mismatches < 20 then mismatches[#mismatches + 1] = what .. "\n  C:   " .. a .. "\n  Lua: " .. b end
  end

  local function same(name, ...)
    ncalls = ncalls + 1
    local a = show(pack(pcall(string[name], ...)))
    local b = show(pack(pcall(impl[name], ...)))
    if a ~= b then report(label(name, table.pack(...)), a, b) end
  end

  local function same_gmatch(...)
    ncalls = ncalls + 1
    local function run(f, ...)
      local ok, it = pcall(f, ...)
      if not ok then return "error " .. tostring(it) end
      local out = {}
      for _ = 1, 40 do
        local r = show(pack(pcall(it)))
        out[#out + 1] = r
        if r == "true" or r:sub(1, 5) == "false" then break end
      end
      return table.concat(out, " ; ")
    end
    local a, b = run(string.gmatch, ...), run(impl.gmatch, ...)
    if a ~= b then report(label("gmatch", table.pack(...)), a, b) end
  end

  local function all(s, p)
    for _, init in ipairs({ 1, 2, 0, -1, -3, 5, 100, -100 }) do
      same("find", s, p, init)
      same("match", s, p, init)
    end
    same("find", s, p)
    same("find", s, p, 1, true)
    same("find", s, p, -2, true)
    same("match", s, p)
    same_gmatch(s, p)
    same_gmatch(s, p, 2)
    same_gmatch(s, p, -2)
    for _, r in ipairs({ "<%0>", "%1", "[%2]", "%%", "x%", "%1%1", "%a", "" }) do same("gsub", s, p, r) end
    same("gsub", s, p, "#", 1)
    same("gsub", s, p, "#", 0)
    same("gsub", s, p, 7)
    same("gsub", s, p, { a = "A", ["("] = false, [""] = "E", [1] = "one", b = {} })
    same("gsub", s, p, function(...) return select("#", ...) .. "|" .. table.concat({ ... }, ",") end)
    same("gsub", s, p, function(x) if x == "a" then return nil end return false end)
    same("gsub", s, p, function() return 1.5 end, 2)
  end

  -- Hand-written cases: every construct, every error message.
  local SUBJECTS = { "", "a", "hello world", "aaa", "  trim me  ", "a,b,,c", "key=value",
    "(foo(bar))baz", "THE (quick) fox", "x=1, y=2", "\0a\0b", "]]^$%", "\255\128 é" }
  local PATTERNS = { "o", "l+", "(l)(l)", "()ll()", "^h", "d$", "%w+", "^%s*(.-)%s*$", "[^,]+",
    "^(%w+)=(.*)$", "%b()", "%f[%w]%w+", "(a)%1", "a-b", "a?", "[a-]", "[]]", "[^]]", "%", "[a",
    "(", ")", "%1", "%0", "%f", "%fx", "%b", "%bx", "(()", "[%a-z]", "%z", "%Z+", ".-", "x*", "$",
    "^$", "^", "", "((a))", "[%]]+", "%d+%.?%d*", "a$b", "\0", "%g+", "%p", "%c", "%x+", "%u%l",
    "%S+", "%W", "[%", "[^", "[]", "[^]", "%f[", "%f[a", "(a)(b)%2%1", "(a%1)", "()%1", "^^",
    "$$", "[a-c-e]", "[%w_]+", "%f[%z]", "%f[^%z]", "[\0-\31]", "%b\0\0", "(%b())", "(()())",
    "((((((((((((((((((((((((((((((((a))))))))))))))))))))))))))))))))",
    "(((((((((((((((((((((((((((((((((a)))))))))))))))))))))))))))))))))", string.rep("a?", 250), "[" .. string.rep("a", 300) .. "]" }
  for _, s in ipairs(SUBJECTS) do
    for _, p in ipairs(PATTERNS) do all(s, p) end
  end
  all(string.rep("a", 300), string.rep("a?", 250))
  all(string.rep("a", 300), string.rep("(a)", 33))
  -- medium subjects: long runs (where K.pattern picks Lua) and ordinary text (where it picks C)
  local blanks = "x" .. string.rep(" ", 300) .. "x"
  local text = string.rep("key=value, other=12345;  ", 20)
  for _, s in ipairs({ blanks, text, string.rep("a", 300), string.rep("(", 200) .. string.rep(")", 199) }) do
    for _, p in ipairs({ "^%s*(.-)%s*$", "[^,]+", "%d+", "^(%w+)=(.*)$", "a*b", "%b()", "(%w+)=(%w+)",
        "%s+$", " +x" }) do
      same("find", s, p)
      same("match", s, p)
      same("gsub", s, p, "<%0>")
      same_gmatch(s, p)
    end
  end
  -- arguments: coercions and the C library's own "bad argument" errors
  same("find", 12.5, "%.")
  same("find", "x12", 12)
  same("find", "abc", "b", 2.0)
  same("find", "abc", "b", "2")
  same("find", "abc", "b", "x")
  same("find", "abc", "b", 1.5)
  same("find", "abc", "b", math.maxinteger)
  same("find", "abc", "b", math.mininteger)
  same("find", nil, "b")
  same("find", "abc", {})
  same("find", "abc")
  same("match", "abc", "b", {})
  same("gsub", "abc", "b")
  same("gsub", "abc", "b", true)
  same("gsub", "abc", "b", "x", "y")
  same("gsub", "abc", "b", "x", 1.5)
  same("gsub", "abc", "b", "x", -1)
  same("gsub", 123, 2, 9)
  same("gsub", "abc", "%w", "%")
  same("gsub", "abc", "%w", "%\0")
  same("gsub", "abc", "(%w)", "%2")
  same("gsub", "abc", "()", "%1")
  same("gsub", "abc", "", "-")
  same("gsub", "abc", "%w", setmetatable({}, { __index = function(_, k) return k:upper() end }))
  same("gsub", "abc", "%w", function() error("boom", 0) end)
  -- re-entrancy: a replacement function or __index that matches too
  same("gsub", "abc abd", "(%w+)", function(w) return (impl.gsub(w, "(b)", "<%1>")) .. (impl.find(w, "d") or "") end)
  same("gsub", "abc abd", "%w", setmetatable({}, { __index = function(_, k) return (impl.gsub(k, ".", "%0%0")) end }))
  same_gmatch("a1 b2", "(%a)(%d)")
  do -- two iterators used in turn, with other matches between their steps
    local function run(lib)
      local out, a, b = {}, lib.gmatch("a1b2c3", "%a(%d)"), lib.gmatch("x9 y8 z7", "(%a)%d")
      for _ = 1, 4 do
        out[#out + 1] = tostring((a())) .. tostring((b())) .. tostring(lib.find("hello", "l+"))
      end
      return table.concat(out, ",")
    end
    ncalls = ncalls + 1
    local x, y = run(string), run(impl)
    if x ~= y then report("interleaved gmatch", x, y) end
  end
  local E = {}
  same("gsub", "abc", "%w", function() error(E, 0) end)
  same_gmatch(nil, "a")
  same_gmatch("a", "a", "x")
  same_gmatch("abc", "", 10)

  -- Seeded random patterns and subjects, malformed ones included.
  local state = seed
  local function rnd(n) -- 1..n, a 32-bit LCG so the sequence does not depend on math.random
    state = (state * 1103515245 + 12345) % 2147483648
    return state % n + 1
  end
  local function pick(t) return t[rnd(#t)] end
  local ATOMS = { "a", "b", "x", "1", " ", ",", "=", ".", "%a", "%d", "%s", "%w", "%p", "%A",
    "%S", "%x", "%l", "%u", "%c", "%g", "%z", "%.", "%%", "%(", "[ab]", "[^a]", "[a-c]", "[%d,]",
    "[]]", "[^]a]", "[%a_]", "[a-]", "[.]", "()", "%b()", "%bab", "%f[%w]", "%f[^a]", "%f[%s]",
    "%1", "%2", "$", "^", "(", ")", "%", "[a", "%f", "%b", "%9", "[^", "%fa" }
  local SUFFIXES = { "", "", "", "*", "+", "-", "?" }
  local CHARS = { "a", "a", "b", "x", "1", "2", " ", ",", "=", "(", ")", ".", "\0", "_", "A", "\200" }
  local function gen_pattern()
    local parts, open = {}, 0
    if rnd(4) == 1 then parts[#parts + 1] = "^" end
    for _ = 1, rnd(6) do
      local r = rnd(10)
      if r == 1 and open < 3 then
        parts[#parts + 1] = "("
        open = open + 1
      elseif r == 2 and open > 0 then
        parts[#parts + 1] = ")"
        open = open - 1
      else
        local a = pick(ATOMS)
        parts[#parts + 1] = a
        if #a == 1 or a:sub(1, 1) == "[" or (a:sub(1, 1) == "%" and #a == 2 and a ~= "%1" and a ~= "%2") then
          parts[#parts + 1] = pick(SUFFIXES)
        end
      end
    end
    while open > 0 and rnd(5) > 1 do parts[#parts + 1] = ")"; open = open - 1 end
    if rnd(5) == 1 then parts[#parts + 1] = "$" end
    return table.concat(parts)
  end
  local function gen_subject()
    local t = {}
    for i = 1, rnd(17) - 1 do t[i] = pick(CHARS) end
    return table.concat(t)
  end
  for _ = 1, rounds do
    local p = gen_pattern()
    for _ = 1, 2 do
      local s = gen_subject()
      same("find", s, p)
      same("find", s, p, rnd(8) - 4)
      same("match", s, p)
      same_gmatch(s, p)
      same("gsub", s, p, pick({ "<%0>", "%1", "%2", "-", "%%" }))
      same("gsub", s, p, function(a, b) return b or a end)
    end
  end
  return ncalls, mismatches
end
