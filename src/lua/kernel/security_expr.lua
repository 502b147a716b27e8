-- Policy expressions (`security.policy.expr` entries): the `expression` string is parsed once
-- into closures.
--
-- Owns: the tokenizer, the recursive-descent parser, and the closures it builds.
-- May call: security_values (comparisons, field paths) and security_regex (the `matches`
-- operator), both passed in. deps: { values = security_values module, regex = security_regex module }.
--
-- The language, a small subset of expr-lang (the expression language of Wippy's reference
-- implementation):
--   literals   "str" 'str' 12 1.5 true false nil null  [a, b, ...]
--   fields     action resource actor.id actor.meta.x.y meta.x.y  (also meta["x-y"])
--   operators  (lowest first)  || or ;  && and ;  == != < > <= >= in  not in  contains
--              startsWith endsWith matches ;  unary ! not -
-- `&&`, `||` and `!` need booleans; a comparison needing a value that is missing raises.
--
-- Module: compile(src) -> function(A, action, resource, meta) -> value | nil, "invalid expression: ..."
-- The compiled function raises (the FAIL sentinel) when evaluation fails; the policy evaluator
-- wraps it in one pcall and treats any raise, or any result other than `true`, as "not met".
-- A literal regex after `matches` is compiled with the expression, so a bad one is a parse error.
return function(deps)
  local type, tostring, tonumber, setmetatable, error, pcall =
    type, tostring, tonumber, setmetatable, error, pcall
  local sfind, ssub = string.find, string.sub
  local tconcat = table.concat
  local V, RX = deps.values, deps.regex
  local eq, cmp, is_in, contains, compile_path = V.eq, V.cmp, V.is_in, V.contains, V.compile_path
  local compile_regex, rx_match, rx_dynamic = RX.compile, RX.match, RX.dynamic

  ---------------------------------------------------------------------------------------------
  -- Expressions: tokenizer, recursive-descent parser, closures. Evaluation errors are raised as
  -- the EXPR_FAIL sentinel and caught by one pcall per policy evaluation.

  local EXPR_FAIL = setmetatable({}, { __tostring = function() return "expression evaluation failed" end })
  local function xfail() error(EXPR_FAIL, 0) end

  local KEYWORDS = { ["true"] = true, ["false"] = true, ["nil"] = true, null = true, ["and"] = true,
    ["or"] = true, ["not"] = true, ["in"] = true, contains = true, startsWith = true,
    endsWith = true, matches = true }

  local function tokenize(src)
    local toks, pos, len = {}, 1, #src
    local function fail(msg) error({ expr = msg .. " at offset " .. (pos - 1) }, 0) end
    while true do
      local _, e = sfind(src, "^%s+", pos)
      if e then pos = e + 1 end
      if pos > len then break end
      local c = ssub(src, pos, pos)
      local s, e2, cap = sfind(src, "^([%a_][%w_]*)", pos)
      if s then
        toks[#toks + 1] = KEYWORDS[cap] and { t = cap } or { t = "id", v = cap }
        pos = e2 + 1
      elseif sfind(c, "%d") then
        local s3, e3 = sfind(src, "^%d+%.?%d*[eE][%+%-]?%d+", pos)
        if not s3 then s3, e3 = sfind(src, "^%d+%.%d+", pos) end
        if not s3 then s3, e3 = sfind(src, "^%d+", pos) end
        toks[#toks + 1] = { t = "lit", v = tonumber(ssub(src, s3, e3)) }
        pos = e3 + 1
      elseif c == '"' or c == "'" then
        local buf, i = {}, pos + 1
        while true do
          if i > len then fail("unterminated string") end
          local d = ssub(src, i, i)
          if d == c then break end
          if d == "\\" then
            local x = ssub(src, i + 1, i + 1)
            local map = { n = "\n", t = "\t", r = "\r", ["\\"] = "\\", ['"'] = '"', ["'"] = "'" }
            if not map[x] then fail("bad escape \\" .. x) end
            buf[#buf + 1] = map[x]
            i = i + 2
          else
            buf[#buf + 1] = d
            i = i + 1
          end
        end
        toks[#toks + 1] = { t = "lit", v = tconcat(buf) }
        pos = i + 1
      else
        local two = ssub(src, pos, pos + 1)
        if two == "==" or two == "!=" or two == "<=" or two == ">=" or two == "&&" or two == "||" then
          toks[#toks + 1] = { t = two }; pos = pos + 2
        elseif sfind("<>!()[],.-", c, 1, true) then
          toks[#toks + 1] = { t = c }; pos = pos + 1
        else
          fail("unexpected character '" .. c .. "'")
        end
      end
    end
    toks[#toks + 1] = { t = "eof" }
    return toks
  end

  local function need_bool(v) if type(v) ~= "boolean" then xfail() end return v end

  -- -> function(A, action, resource, meta) -> value (raises EXPR_FAIL) | nil, err
  local function compile_expr(src)
    if type(src) ~= "string" then return nil, "expression must be a string" end
    local ok, res = pcall(function()
      local toks = tokenize(src)
      local i = 1
      local function peek() return toks[i].t end
      local function take() local t = toks[i]; i = i + 1; return t end
      local function fail(msg) error({ expr = msg .. " (token " .. i .. ": " .. toks[i].t .. ")" }, 0) end
      local function expect(t) if peek() ~= t then fail("expected '" .. t .. "'") end return take() end

      local parse_or

      local function parse_path(first)
        local segs = { first }
        while true do
          if peek() == "." then
            take()
            local t = take()
            -- keywords are fine as keys: meta.matches, actor.meta.in
            if t.t == "id" then segs[#segs + 1] = t.v
            elseif KEYWORDS[t.t] then segs[#segs + 1] = t.t
            else fail("expected a name after '.'") end
          elseif peek() == "[" then
            take()
            local t = take()
            if t.t ~= "lit" or (type(t.v) ~= "string" and type(t.v) ~= "number") then
              fail("expected a string or number index")
            end
            segs[#segs + 1] = tostring(t.v)
            expect("]")
          else
            break
          end
        end
        local get, err = compile_path(segs, tconcat(segs, "."))
        if not get then fail(err) end
        return get
      end

      local function parse_primary()
        local t = take()
        if t.t == "lit" then local v = t.v; return function() return v end, true, v end
        if t.t == "true" then return function() return true end, true, true end
        if t.t == "false" then return function() return false end, true, false end
        if t.t == "nil" or t.t == "null" then return function() return nil end, true, nil end
        if t.t == "id" then return parse_path(t.v) end
        if t.t == "(" then
          local f, is_const, v = parse_or()
          expect(")")
          return f, is_const, v
        end
        if t.t == "[" then
          local items, consts, all_const = {}, {}, true
          if peek() ~= "]" then
            while true do
              local f, is_const, v = parse_or()
              items[#items + 1] = f
              if is_const then consts[#items] = v else all_const = false end
              if peek() ~= "," then break end
              take()
            end
          end
          expect("]")
          if all_const then return function() return consts end, true, consts end
          return function(A, a, r, m)
            local out = {}
            for k = 1, #items do out[k] = items[k](A, a, r, m) end
            return out
          end
        end
        i = i - 1
        fail("unexpected token")
      end

      local function parse_unary()
        local t = peek()
        if t == "!" or t == "not" then
          take()
          local f = parse_unary()
          return function(A, a, r, m) return not need_bool(f(A, a, r, m)) end
        elseif t == "-" then
          take()
          local f, is_const, v = parse_unary()
          if is_const and type(v) == "number" then return function() return -v end, true, -v end
          return function(A, a, r, m)
            local x = f(A, a, r, m)
            if type(x) ~= "number" then xfail() end
            return -x
          end
        end
        return parse_primary()
      end

      local function ordering(test)
        return function(x, y)
          local c = cmp(x, y)
          if c == nil then xfail() end
          return test(c)
        end
      end
      local function checked(fn)
        return function(x, y)
          local r = fn(x, y)
          if r == nil then xfail() end
          return r
        end
      end
      local function strings(fn)
        return function(x, y)
          if type(x) ~= "string" or type(y) ~= "string" then xfail() end
          return fn(x, y)
        end
      end
      local BIN = {
        ["=="] = eq,
        ["!="] = function(x, y) return not eq(x, y) end,
        ["<"] = ordering(function(c) return c < 0 end),
        [">"] = ordering(function(c) return c > 0 end),
        ["<="] = ordering(function(c) return c <= 0 end),
        [">="] = ordering(function(c) return c >= 0 end),
        ["in"] = checked(is_in),
        contains = checked(contains),
        startsWith = strings(function(x, y) return ssub(x, 1, #y) == y end),
        endsWith = strings(function(x, y) return y == "" or ssub(x, -#y) == y end),
        matches = checked(rx_dynamic),
      }

      local function parse_cmp()
        local lf, l_const, lv = parse_unary()
        local op = peek()
        local negated = false
        if op == "not" and toks[i + 1].t == "in" then take(); op = "in"; negated = true end
        local fn = BIN[op]
        if not fn then return lf, l_const, lv end
        take()
        local rf, is_const, rv = parse_unary()
        if op == "matches" and is_const then
          if type(rv) ~= "string" then fail("matches needs a string") end
          local pats, err = compile_regex(rv)
          if not pats then fail(err) end
          fn = checked(function(x) return rx_match(x, pats) end)
        end
        if negated then
          return function(A, a, r, m) return not fn(lf(A, a, r, m), rf(A, a, r, m)) end
        end
        return function(A, a, r, m) return fn(lf(A, a, r, m), rf(A, a, r, m)) end
      end

      local function parse_and()
        local f, is_const, v = parse_cmp()
        if peek() ~= "&&" and peek() ~= "and" then return f, is_const, v end
        while peek() == "&&" or peek() == "and" do
          take()
          local l, r2 = f, parse_cmp()
          f = function(A, a, r, m) return need_bool(l(A, a, r, m)) and need_bool(r2(A, a, r, m)) end
        end
        return f
      end

      function parse_or()
        local f, is_const, v = parse_and()
        if peek() ~= "||" and peek() ~= "or" then return f, is_const, v end
        while peek() == "||" or peek() == "or" do
          take()
          local l, r2 = f, parse_and()
          f = function(A, a, r, m) return need_bool(l(A, a, r, m)) or need_bool(r2(A, a, r, m)) end
        end
        return f
      end

      local f = parse_or()
      if peek() ~= "eof" then fail("unexpected trailing input") end
      return f
    end)
    if ok then return res end
    if type(res) == "table" and res.expr then return nil, "invalid expression: " .. res.expr end
    error(res, 0)
  end

  return { compile = compile_expr, FAIL = EXPR_FAIL }
end
