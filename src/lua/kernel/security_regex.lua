-- Policy regexes: the `matches` / `nmatches` condition operators and the expression `matches`
-- operator take a regular expression in a safe subset, translated once into Lua patterns.
--
-- Owns: the translation (compile), matching a value against a translation (match), and a bounded
-- cache for regexes that only arrive at run time (dynamic: value_from, non-literal operands).
-- May call: the string library; nothing of the kernel. deps: none (the argument is ignored).
--
-- Module: compile(src) -> list of Lua patterns | nil, "invalid regex '<src>': <why> at offset N"
--         match(value, pats) -> true | false | nil     nil: the value is neither string nor number
--         dynamic(value, src) -> the same, compiling src through the cache (nil for a bad regex)
-- A missing value (nil) never matches; numbers are matched as their decimal string. Search is
-- unanchored, as in RE2 (the engine the regex syntax comes from).
--
-- Alternatives rejected: a full backtracking regex engine in Lua (slow, and exposes catastrophic
-- backtracking to policy authors); rejecting regexes altogether (policies in the wild use them).
return function(deps)
  local type, ipairs, tostring, tonumber, error, pcall = type, ipairs, tostring, tonumber, error, pcall
  local sfind, ssub, srep = string.find, string.sub, string.rep
  local tconcat = table.concat

  -- Regular expressions, a safe subset translated to Lua patterns. A regex is parsed into
  -- alternatives; groups are expanded into one Lua pattern per path through them (capped at
  -- MAX_ALTS), and the value matches when any pattern does. Supported:
  --   literals, `.`, classes `[...]` `[^...]` with ranges, `\d \D \w \W \s \S`, `\` + punctuation,
  --   `\n \t \r`, quantifiers `* + ? *? +?` and `{n} {n,} {n,m}` (n, m <= MAX_REPEAT) on a single
  --   character or class, anchors `^` at the start and `$` at the end of a branch, alternation `|`,
  --   groups `( )` and `(?: )` with no quantifier or `?`.
  -- Not supported (the regex is rejected): backreferences, lookaround, `\b`, flags, POSIX classes,
  -- quantified groups other than `?`, and anchors in the middle. `.` also matches a newline.
  -- Lua patterns backtrack without catastrophic blow-up on this subset (no nested quantifiers).
  local MAX_ALTS = 64      -- expanded patterns per regex; bounds the work of one match
  local MAX_REPEAT = 50    -- largest n/m in {n,m}; a bound on pattern length
  local BOL, EOL = {}, {}  -- anchor tokens during expansion
  local LUA_MAGIC = "^$()%.[]*+-?"

  local function lit(c)
    if sfind(LUA_MAGIC, c, 1, true) then return "%" .. c end
    return c
  end

  local ESC = { d = "%d", D = "%D", s = "%s", S = "%S", w = "[%w_]", W = "[^%w_]",
    n = "\n", t = "\t", r = "\r" }
  local ESC_IN_CLASS = { d = "%d", D = "%D", s = "%s", S = "%S", w = "%w_", n = "\n", t = "\t", r = "\r" }

  local function compile_regex(src)
    local pos, len = 1, #src
    local function peek(o) return ssub(src, pos + (o or 0), pos + (o or 0)) end
    local function fail(msg) error({ regex = msg .. " at offset " .. (pos - 1) }, 0) end

    local parse_alt

    local function parse_class()
      -- pos is just past "["
      local out = { "[" }
      if peek() == "^" then out[#out + 1] = "^"; pos = pos + 1 end
      local first = true
      while true do
        if pos > len then fail("unterminated character class") end
        local c = peek()
        if c == "]" and not first then pos = pos + 1; break end
        first = false
        if c == "\\" then
          local d = peek(1)
          if d == "" then fail("trailing backslash") end
          local m = ESC_IN_CLASS[d]
          if m then out[#out + 1] = m
          elseif not sfind(d, "%w") then out[#out + 1] = "%" .. d
          else fail("unsupported escape \\" .. d) end
          pos = pos + 2
        elseif c == "[" and peek(1) == ":" then
          fail("POSIX classes are not supported")
        elseif c == "%" or c == "]" or c == "[" then
          out[#out + 1] = "%" .. c; pos = pos + 1
        else
          out[#out + 1] = c; pos = pos + 1
        end
      end
      out[#out + 1] = "]"
      return tconcat(out)
    end

    -- -> quantifier: nil | "*" | "+" | "?" | "*?" | "+?" | { n, m (nil = unbounded) }
    local function parse_quant()
      local c = peek()
      if c == "*" or c == "+" then
        pos = pos + 1
        if peek() == "?" then pos = pos + 1; return c .. "?" end
        return c
      elseif c == "?" then
        pos = pos + 1
        if peek() == "?" or peek() == "+" then fail("unsupported quantifier") end
        return "?"
      elseif c == "{" then
        local a, b, n, comma, m = sfind(src, "^{(%d+)(,?)(%d*)}", pos)
        if not a then return nil end -- a literal "{", as in RE2
        n = tonumber(n)
        if comma == "" then m = n elseif m == "" then m = nil else m = tonumber(m) end
        if n > MAX_REPEAT or (m and (m > MAX_REPEAT or m < n)) then fail("bad repeat count") end
        pos = b + 1
        if peek() == "?" or peek() == "+" then fail("unsupported quantifier") end
        return { n, m }
      end
      return nil
    end

    local function quantify(atom, q)
      if q == nil then return atom end
      if q == "*" or q == "+" or q == "?" then return atom .. q end
      if q == "*?" then return atom .. "-" end
      if q == "+?" then return atom .. atom .. "-" end
      local n, m = q[1], q[2]
      local s = srep(atom, n)
      if m == nil then return s .. atom .. "*" end
      return s .. srep(atom .. "?", m - n)
    end

    -- A sequence -> list of expansions; an expansion is a list of tokens (strings, BOL, EOL).
    local function product(acc, alts)
      local out = {}
      for _, a in ipairs(acc) do
        for _, b in ipairs(alts) do
          local e = {}
          for i = 1, #a do e[i] = a[i] end
          for i = 1, #b do e[#e + 1] = b[i] end
          out[#out + 1] = e
          if #out > MAX_ALTS then fail("too many alternatives") end
        end
      end
      return out
    end

    local function parse_seq()
      local acc = { {} }
      while pos <= len do
        local c = peek()
        if c == "|" or c == ")" then break end
        if c == "(" then
          pos = pos + 1
          if peek() == "?" then
            if peek(1) ~= ":" then fail("unsupported group") end
            pos = pos + 2
          end
          local alts = parse_alt()
          if peek() ~= ")" then fail("missing )") end
          pos = pos + 1
          local q = parse_quant()
          if q == "?" then
            local with_empty = { {} }
            for i = 1, #alts do with_empty[i + 1] = alts[i] end
            alts = with_empty
          elseif q ~= nil then
            fail("quantified groups are not supported")
          end
          acc = product(acc, alts)
        elseif c == "^" or c == "$" then
          pos = pos + 1
          local tok = c == "^" and BOL or EOL
          for _, e in ipairs(acc) do e[#e + 1] = tok end
        else
          local atom
          if c == "\\" then
            local d = peek(1)
            if d == "" then fail("trailing backslash") end
            atom = ESC[d]
            if not atom then
              if sfind(d, "%w") then fail("unsupported escape \\" .. d) end
              atom = "%" .. d
            end
            pos = pos + 2
          elseif c == "[" then
            pos = pos + 1
            atom = parse_class()
          elseif c == "." then
            atom = "."; pos = pos + 1
          elseif c == "*" or c == "+" or c == "?" then
            fail("quantifier without operand")
          else
            atom = lit(c); pos = pos + 1
          end
          local piece = quantify(atom, parse_quant())
          for _, e in ipairs(acc) do e[#e + 1] = piece end
        end
      end
      return acc
    end

    function parse_alt()
      local alts = parse_seq()
      while peek() == "|" do
        pos = pos + 1
        local more = parse_seq()
        for _, e in ipairs(more) do
          alts[#alts + 1] = e
          if #alts > MAX_ALTS then fail("too many alternatives") end
        end
      end
      return alts
    end

    local ok, res = pcall(function()
      local alts = parse_alt()
      if pos <= len then fail("unbalanced )") end
      local pats = {}
      for _, e in ipairs(alts) do
        local parts, n = {}, #e
        for i, tok in ipairs(e) do
          if tok == BOL then
            -- "^" anywhere but first can only match at the start if everything before it is
            -- empty; that is rare enough to reject rather than reason about.
            if i ~= 1 then fail("^ is only supported at the start") end
            parts[#parts + 1] = "^"
          elseif tok == EOL then
            if i ~= n then fail("$ is only supported at the end") end
            parts[#parts + 1] = "$"
          else
            parts[#parts + 1] = tok
          end
        end
        local p = tconcat(parts)
        if not pcall(sfind, "", p) then fail("internal: bad translation") end
        pats[#pats + 1] = p
      end
      return pats
    end)
    if ok then return res end
    if type(res) == "table" and res.regex then return nil, "invalid regex '" .. src .. "': " .. res.regex end
    error(res, 0)
  end

  local function rx_match(s, pats)
    local ts = type(s)
    if s == nil then return false end
    if ts == "number" then s = tostring(s) elseif ts ~= "string" then return nil end
    for i = 1, #pats do if sfind(s, pats[i]) then return true end end
    return false
  end

  -- Regexes that arrive at run time (value_from, non-literal expression operands), cached.
  local rx_cache, rx_cache_n = {}, 0
  local RX_CACHE_MAX = 256 -- compiled regexes kept; the cache is simply dropped when full
  local function rx_dynamic(s, re)
    if type(re) ~= "string" then return nil end
    local pats = rx_cache[re]
    if pats == nil then
      pats = compile_regex(re) or false
      if rx_cache_n >= RX_CACHE_MAX then rx_cache, rx_cache_n = {}, 0 end
      rx_cache[re] = pats
      rx_cache_n = rx_cache_n + 1
    end
    if not pats then return nil end
    return rx_match(s, pats)
  end

  return { compile = compile_regex, match = rx_match, dynamic = rx_dynamic }
end
