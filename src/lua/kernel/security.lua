-- Security: actors, scopes, policies and the permission check (docs/process-model.md,
-- "Security").
--
-- Size: over 500 lines; it also holds its two compilers (the policy condition expressions and the
-- resource patterns), which belong in files of their own: the next split after proc.lua's.
--
-- Model. An *actor* says who is acting (an id and a metadata table). A *scope* is an immutable set
-- of *policies*. Every guarded operation asks `check(ctx, action, resource, attrs)`, where ctx
-- holds the calling frame's actor and scope:
--   1. actor AND scope present: evaluate the scope; allowed only if the result is "allow".
--      "undefined" (nothing matched, or an empty scope) is a denial.
--   2. otherwise: denied if `K.cfg.strict_mode` is true, else allowed (the permissive default).
-- A scope evaluates its policies in no particular order: any "deny" wins, else any "allow" gives
-- allow, else undefined. A policy applies when the action matches one of its action patterns, the
-- resource one of its resource patterns, and every condition (or its expression) holds; then it
-- returns its effect. A condition that is false, or cannot be evaluated (wrong types, a missing
-- field under an ordering operator, a broken expression), makes the policy undefined — the two
-- cases are deliberately the same, so a malformed rule can only ever withhold its own effect.
--
-- Patterns (actions and resources):
--   "*"          anything
--   "pre.*"      any value starting with "pre" (the dot is not required: "process.*" matches
--                "processX", as the reference does)
--   "pre*"       any value starting with "pre"
--   "*.read"     any value ending with ".read" (the reference only matches it literally; the docs
--                intend a suffix match, and we follow the docs)
--   "*mid*"      any value containing "mid" (leading and trailing star together)
--   anything else: exact match
-- Each pattern list is compiled once into an exact-match set plus prefix/suffix/infix lists, so
-- the common check (an exact or "*" pattern) costs one hash lookup and allocates nothing.
--
-- Conditions: `{ field, operator, value | value_from }`. Fields: action, resource, actor.id,
-- actor.meta[.k...], meta[.k...] (the check's attributes). value_from names another field.
--   eq / ne           equality; a number and a numeric string compare as numbers. A missing field
--                     is simply unequal (so `ne` holds for it).
--   lt gt lte gte     numbers (numeric strings coerced) or two strings (byte order); anything else,
--                     including a missing field, fails to evaluate.
--   in / nin          value is a list; membership by `eq`. A missing field is in no list.
--   exists / nexists  the field is (not) nil. `value: false` inverts them.
--   contains / ncontains  substring for strings (numbers are stringified), element for lists.
--                     A missing field contains nothing.
--   matches / nmatches  a *regular expression* in a safe subset, translated once to Lua patterns
--                     (see compile_regex below); an unsupported regex makes the policy broken
--                     (always undefined). Search is unanchored, as in RE2; numbers are stringified.
-- Negated operators are the exact negation of their positive form, except that when the positive
-- form fails to evaluate the negated one fails too (never turns an error into a match).
--
-- Expression policies (`security.policy.expr`): `expression` is parsed once into closures. The
-- language, a small subset of expr-lang (which the reference uses):
--   literals   "str" 'str' 12 1.5 true false nil null  [a, b, ...]
--   fields     action resource actor.id actor.meta.x.y meta.x.y  (also meta["x-y"])
--   operators  (lowest first)  || or ;  && and ;  == != < > <= >= in  not in  contains
--              startsWith endsWith matches ;  unary ! not -
-- `&&`, `||` and `!` need booleans; a comparison needing a value that is missing raises; any
-- evaluation error, or a result other than `true`, makes the policy undefined. A parse error makes
-- the policy broken (always undefined) and is reported by load_policies.
--
-- Objects. Actors, scopes and policies are userdata from K.H.newud with their state in weak-keyed
-- side tables, like error objects. Policies are interned: one object per loaded policy id, so
-- `scope:policies()` returns the same objects `security.policy(id)` does. Scopes are immutable;
-- `with`/`without` return new scopes. A scope holds the policy *records* it was built from, so a
-- later load_policies (a new registry snapshot) does not change existing scopes.
--
-- Crossing workers. encode_ctx/decode_ctx turn an actor into { id, meta } and a scope into the
-- list of its policy ids; the receiving worker has the same policies loaded and resolves them. An
-- id it does not know decodes to a placeholder policy that DENIES everything: dropping it instead
-- could silently drop a deny rule, i.e. widen the sender's rights.
--
-- Kernel API (the table this factory returns):
--   load_policies(entries) -> n, problems    entries: id -> entry; replaces all policies/groups
--   check(ctx, action, resource, attrs) -> bool     ctx = { actor, scope } or nil
--   decide(actor, scope, action, resource, attrs) -> bool          the same, unpacked
--   check_current(action, resource, attrs) -> bool   for K.cp (ctx_actor / ctx_scope)
--   new_actor(id, meta)  new_scope([policies])  named_scope(group)  policy(id)
--   is_actor(v)  is_scope(v)  from_config(lifecycle.security) -> actor, scope | nil, nil, err
--   encode_ctx(actor, scope) -> table  decode_ctx(table) -> actor, scope
--   encode_actor / decode_actor / encode_scope / decode_scope      the halves of those
--   compile_regex(src), compile_expr(src)                           exposed for tests
--   module                    the `security` table processes require
-- Lua-facing objects: actor:id() actor:meta(); scope:policies() (Policy objects) scope:with(p)
-- scope:without(id) scope:contains(id) scope:evaluate(actor, action, resource [, meta]);
-- policy:id() policy:evaluate(actor, action, resource [, meta]). evaluate returns "allow",
-- "deny" or "undefined". Wherever a policy is expected a policy id string is accepted too.
-- Lookups that miss return nil and a NotFound error; bad argument types raise.
--
-- Not implemented: token stores (`security.token_store` and the TokenStore methods).
return function(K)
  local H = K.H
  local type, pairs, ipairs, tostring, tonumber, setmetatable, error, pcall =
    type, pairs, ipairs, tostring, tonumber, setmetatable, error, pcall
  local sfind, ssub, sbyte, srep = string.find, string.sub, string.byte, string.rep
  local tsort, tconcat = table.sort, table.concat

  local M = {}

  local function E(kind, msg) return nil, K.err(kind, msg, false) end

  -- Deep copy of plain data (strings, numbers, booleans, tables). Anything else is dropped: actor
  -- metadata must survive the codec unchanged. Cycles are cut (a repeated table becomes shared).
  local function copy_data(v, seen)
    local t = type(v)
    if t == "string" or t == "number" or t == "boolean" then return v end
    if t ~= "table" then return nil end
    seen = seen or {}
    if seen[v] then return seen[v] end
    local out = {}
    seen[v] = out
    for k, x in pairs(v) do
      local tk = type(k)
      if tk == "string" or tk == "number" or tk == "boolean" then
        out[k] = copy_data(x, seen)
      end
    end
    return out
  end

  ---------------------------------------------------------------------------------------------
  -- Value semantics shared by conditions and expressions. Results: true / false, or nil when the
  -- operation cannot be evaluated.

  local function eq(a, b)
    if a == b then return true end
    local ta, tb = type(a), type(b)
    if ta == "number" and tb == "string" then return a == tonumber(b) end
    if ta == "string" and tb == "number" then return tonumber(a) == b end
    return false
  end

  -- -> -1 | 0 | 1, or nil when a and b are not comparable
  local function cmp(a, b)
    local ta, tb = type(a), type(b)
    if ta == "string" and tb == "string" then
      if a == b then return 0 end
      return a < b and -1 or 1
    end
    if (ta == "number" or ta == "string") and (tb == "number" or tb == "string") then
      local x, y = tonumber(a), tonumber(b)
      if x == nil or y == nil or x ~= x or y ~= y then return nil end
      if x == y then return 0 end
      return x < y and -1 or 1
    end
    return nil
  end

  local function is_in(a, list)
    if type(list) ~= "table" then return nil end
    if a == nil then return false end
    for _, x in ipairs(list) do if eq(a, x) then return true end end
    return false
  end

  local function contains(a, b)
    local ta = type(a)
    if a == nil then return false end
    if ta == "table" then
      for _, x in ipairs(a) do if eq(x, b) then return true end end
      return false
    end
    if ta == "number" then a = tostring(a) elseif ta ~= "string" then return nil end
    local tb = type(b)
    if tb == "number" then b = tostring(b) elseif tb ~= "string" then return nil end
    return sfind(a, b, 1, true) ~= nil
  end

  ---------------------------------------------------------------------------------------------
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
  M.compile_regex = compile_regex

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

  ---------------------------------------------------------------------------------------------
  -- Field paths. A getter is `function(A, action, resource, meta)` where A is the actor's state
  -- ({ id, meta }) or nil.

  local function walk(t, segs, from)
    for i = from, #segs do
      if type(t) ~= "table" then return nil end
      local seg = segs[i]
      local v = t[seg]
      if v == nil then
        local n = tonumber(seg)
        if n then v = t[n] end
      end
      t = v
    end
    return t
  end

  -- -> getter | nil, err
  local function compile_path(segs, text)
    local root, n = segs[1], #segs
    if root == "action" and n == 1 then return function(_, action) return action end end
    if root == "resource" and n == 1 then return function(_, _, resource) return resource end end
    if root == "meta" then
      if n == 1 then return function(_, _, _, meta) return meta end end
      if n == 2 then
        local k = segs[2]
        local nk = tonumber(k)
        return function(_, _, _, meta)
          if type(meta) ~= "table" then return nil end
          local v = meta[k]
          if v == nil and nk then v = meta[nk] end
          return v
        end
      end
      return function(_, _, _, meta) return walk(meta, segs, 2) end
    end
    if root == "actor" then
      if segs[2] == "id" and n == 2 then return function(A) return A and A.id end end
      if segs[2] == "meta" then
        if n == 2 then return function(A) return A and A.meta end end
        return function(A) return A and walk(A.meta, segs, 3) end
      end
    end
    return nil, "unknown field '" .. text .. "'"
  end

  local function split_path(path)
    local segs = {}
    for seg in (path .. "."):gmatch("([^.]*)%.") do
      if seg == "" then return nil end
      segs[#segs + 1] = seg
    end
    return segs
  end

  local function compile_field(path)
    if type(path) ~= "string" then return nil, "field must be a string" end
    local segs = split_path(path)
    if not segs then return nil, "bad field path '" .. path .. "'" end
    return compile_path(segs, path)
  end

  ---------------------------------------------------------------------------------------------
  -- Conditions. compile_condition -> function(A, action, resource, meta) -> true|false|nil

  local function negate(r) if r == nil then return nil end return not r end

  local OPS = {
    eq = function(a, b) return eq(a, b) end,
    ne = function(a, b) return not eq(a, b) end,
    lt = function(a, b) local c = cmp(a, b); if c == nil then return nil end return c < 0 end,
    gt = function(a, b) local c = cmp(a, b); if c == nil then return nil end return c > 0 end,
    lte = function(a, b) local c = cmp(a, b); if c == nil then return nil end return c <= 0 end,
    gte = function(a, b) local c = cmp(a, b); if c == nil then return nil end return c >= 0 end,
    ["in"] = is_in,
    nin = function(a, b) return negate(is_in(a, b)) end,
    exists = function(a, b) return (a ~= nil) == (b ~= false) end,
    nexists = function(a, b) return (a == nil) == (b ~= false) end,
    contains = contains,
    ncontains = function(a, b) return negate(contains(a, b)) end,
    matches = rx_dynamic,
    nmatches = function(a, b) return negate(rx_dynamic(a, b)) end,
  }

  -- -> condition function | nil, err
  local function compile_condition(c)
    if type(c) ~= "table" then return nil, "condition must be a table" end
    local get, err = compile_field(c.field)
    if not get then return nil, err end
    local opname = c.operator
    local op = OPS[opname]
    if not op then return nil, "unknown operator '" .. tostring(opname) .. "'" end
    local from = c.value_from
    if from == nil then from = c.valueFrom end
    if from ~= nil then
      local vget, verr = compile_field(from)
      if not vget then return nil, "value_from: " .. verr end
      return function(A, action, resource, meta)
        return op(get(A, action, resource, meta), vget(A, action, resource, meta))
      end
    end
    local value = copy_data(c.value)
    if (opname == "matches" or opname == "nmatches") then
      if type(value) ~= "string" then return nil, opname .. " needs a string value" end
      local pats, rerr = compile_regex(value)
      if not pats then return nil, rerr end
      if opname == "matches" then
        return function(A, action, resource, meta) return rx_match(get(A, action, resource, meta), pats) end
      end
      return function(A, action, resource, meta) return negate(rx_match(get(A, action, resource, meta), pats)) end
    end
    if (opname == "in" or opname == "nin") and type(value) ~= "table" then
      return nil, opname .. " needs a list value"
    end
    return function(A, action, resource, meta) return op(get(A, action, resource, meta), value) end
  end

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
  M.compile_expr = compile_expr

  ---------------------------------------------------------------------------------------------
  -- Patterns for actions and resources, compiled per list.

  local function compile_patterns(p)
    if type(p) == "string" then p = { p } end
    local set = { exact = {}, any = false, prefix = {}, suffix = {}, infix = {} }
    if type(p) ~= "table" then return set end
    for _, s in ipairs(p) do
      if type(s) == "string" then
        local n = #s
        local lead, trail = n > 1 and sbyte(s, 1) == 42, n > 1 and sbyte(s, n) == 42 -- '*'
        if s == "*" or (lead and trail and n == 2) then
          set.any = true
        elseif lead and trail then
          set.infix[#set.infix + 1] = ssub(s, 2, -2)
        elseif trail then
          local pre = ssub(s, 1, -2)
          if sbyte(pre, -1) == 46 then pre = ssub(pre, 1, -2) end -- "pre.*": the dot is optional
          if pre == "" then set.any = true else set.prefix[#set.prefix + 1] = pre end
        elseif lead then
          set.suffix[#set.suffix + 1] = ssub(s, 2)
        else
          set.exact[s] = true
        end
      end
    end
    return set
  end

  local function pmatch(set, v)
    if set.any or set.exact[v] then return true end
    local l = set.prefix
    for i = 1, #l do local p = l[i]; if ssub(v, 1, #p) == p then return true end end
    l = set.suffix
    for i = 1, #l do local p = l[i]; if ssub(v, -#p) == p then return true end end
    l = set.infix
    for i = 1, #l do if sfind(v, l[i], 1, true) then return true end end
    return false
  end

  ---------------------------------------------------------------------------------------------
  -- Policies. A record: { id, kind, effect, actions, resources, conds, expr, broken, obj }.

  local POL = setmetatable({}, { __mode = "k" })     -- policy object -> record
  local pol_methods = {}
  local POL_MT = { __index = pol_methods, __metatable = "security.Policy",
    __tostring = function(self) return "security.Policy(" .. POL[self].id .. ")" end }

  local by_id = {}    -- policy id -> record
  local groups = {}   -- group id -> array of records, sorted by policy id

  local ACT = setmetatable({}, { __mode = "k" })     -- actor -> { id, meta }

  -- -> "allow" | "deny" | nil (undefined). A is the actor state or nil.
  local function eval_policy(rec, A, action, resource, meta)
    if rec.broken then return nil end
    if not pmatch(rec.actions, action) or not pmatch(rec.resources, resource) then return nil end
    local conds = rec.conds
    for i = 1, #conds do
      if conds[i](A, action, resource, meta) ~= true then return nil end
    end
    local x = rec.expr
    if x then
      -- Any error, not only EXPR_FAIL, leaves the policy undefined: a check must never raise.
      local ok, v = pcall(x, A, action, resource, meta)
      if not ok or v ~= true then return nil end
    end
    return rec.effect
  end

  local function new_policy_obj(rec)
    local u = H.newud(POL_MT)
    POL[u] = rec
    rec.obj = u
    return u
  end

  -- -> record (possibly broken), problem message | nil
  local function compile_policy(id, e)
    local rec = { id = id, kind = e.kind, conds = {} }
    local p = e.policy
    local problem
    if type(p) ~= "table" then
      rec.broken, problem = true, "missing policy block"
      rec.actions, rec.resources = compile_patterns(nil), compile_patterns(nil)
      return rec, problem
    end
    rec.actions = compile_patterns(p.actions)
    rec.resources = compile_patterns(p.resources)
    if p.effect == "allow" or p.effect == "deny" then
      rec.effect = p.effect
    else
      rec.broken, problem = true, "effect must be allow or deny"
    end
    local is_expr = e.kind == "security.policy.expr" or (e.kind == nil and p.expression ~= nil)
    if is_expr then
      local f, err = compile_expr(p.expression)
      if f then rec.expr = f else rec.broken, problem = true, err end
    elseif type(p.conditions) == "table" then
      for i, c in ipairs(p.conditions) do
        local f, err = compile_condition(c)
        if f then rec.conds[#rec.conds + 1] = f
        else rec.broken, problem = true, "condition " .. i .. ": " .. err end
      end
    end
    return rec, problem
  end

  -- entries: id -> entry. Entries of other kinds are ignored. Replaces everything loaded before.
  -- -> number of policies loaded, list of { id, message } for policies that are broken (they are
  -- still loaded, and always evaluate to undefined).
  function M.load_policies(entries)
    local ids = {}
    for id, e in pairs(entries or {}) do
      if type(e) == "table" and (e.kind == "security.policy" or e.kind == "security.policy.expr"
          or (e.kind == nil and type(e.policy) == "table")) then
        ids[#ids + 1] = id
      end
    end
    tsort(ids)
    local new_by_id, new_groups, problems = {}, {}, {}
    for _, id in ipairs(ids) do
      local e = entries[id]
      local rec, problem = compile_policy(id, e)
      if problem then problems[#problems + 1] = { id = id, message = problem } end
      new_policy_obj(rec)
      new_by_id[id] = rec
      if type(e.groups) == "table" then
        for _, g in ipairs(e.groups) do
          local list = new_groups[g]
          if not list then list = {}; new_groups[g] = list end
          if list[#list] ~= rec then list[#list + 1] = rec end
        end
      end
    end
    by_id, groups = new_by_id, new_groups
    return #ids, problems
  end

  function pol_methods.id(self)
    local rec = POL[self]
    if not rec then error("bad self (security.Policy expected)", 2) end
    return rec.id
  end

  ---------------------------------------------------------------------------------------------
  -- Actors.

  local act_methods = {}
  local ACT_MT = { __index = act_methods, __metatable = "security.Actor",
    __tostring = function(self) return "security.Actor(" .. ACT[self].id .. ")" end }

  local function make_actor(id, meta)
    local u = H.newud(ACT_MT)
    ACT[u] = { id = id, meta = meta }
    return u
  end

  function M.new_actor(id, meta)
    if type(id) ~= "string" then error("bad argument #1 to 'new_actor' (string expected)", 2) end
    if meta ~= nil and type(meta) ~= "table" then error("bad argument #2 to 'new_actor' (table expected)", 2) end
    return make_actor(id, copy_data(meta or {}))
  end
  function M.is_actor(v) return ACT[v] ~= nil end

  function act_methods.id(self)
    local A = ACT[self]
    if not A then error("bad self (security.Actor expected)", 2) end
    return A.id
  end
  function act_methods.meta(self)
    local A = ACT[self]
    if not A then error("bad self (security.Actor expected)", 2) end
    return copy_data(A.meta)
  end

  local function actor_state(actor, argn, fname)
    if actor == nil then return nil end
    local A = ACT[actor]
    if not A then error("bad argument #" .. argn .. " to '" .. fname .. "' (security.Actor expected)", 3) end
    return A
  end

  ---------------------------------------------------------------------------------------------
  -- Scopes. State: { list = array of records, has = id -> true }.

  local SCO = setmetatable({}, { __mode = "k" })
  local sco_methods = {}
  local SCO_MT = { __index = sco_methods, __metatable = "security.Scope",
    __tostring = function(self) return "security.Scope(" .. #SCO[self].list .. " policies)" end }

  local function make_scope(list)
    local has = {}
    for i = 1, #list do has[list[i].id] = true end
    local u = H.newud(SCO_MT)
    SCO[u] = { list = list, has = has }
    return u
  end

  local function state_of(scope, fname)
    local S = SCO[scope]
    if not S then error("bad self to '" .. fname .. "' (security.Scope expected)", 3) end
    return S
  end

  -- A policy argument: a policy object, or a policy id string. -> record | nil, err
  local function policy_rec(p)
    local rec = POL[p]
    if rec then return rec end
    if type(p) == "string" then
      rec = by_id[p]
      if rec then return rec end
      return E("NotFound", "policy not found: " .. p)
    end
    return nil
  end

  -- policies: nil, or a list of policy objects (or ids). Raises (at the caller of the caller)
  -- for a bad argument. -> scope | nil, err
  local function new_scope(policies)
    if policies == nil then return make_scope({}) end
    if type(policies) ~= "table" then error("bad argument #1 to 'new_scope' (table expected)", 3) end
    local list, has = {}, {}
    for i, p in ipairs(policies) do
      local rec, err = policy_rec(p)
      if not rec then
        if err then return nil, err end
        error("bad argument #1 to 'new_scope' (element " .. i .. " is not a security.Policy)", 3)
      end
      if not has[rec.id] then has[rec.id] = true; list[#list + 1] = rec end
    end
    return make_scope(list)
  end
  function M.new_scope(policies)
    local s, err = new_scope(policies) -- not a tail call: new_scope raises at level 3
    return s, err
  end
  function M.is_scope(v) return SCO[v] ~= nil end

  function M.named_scope(group_id)
    if type(group_id) ~= "string" then error("bad argument #1 to 'named_scope' (string expected)", 2) end
    local g = groups[group_id]
    if not g then return E("NotFound", "policy group not found: " .. group_id) end
    local list = {}
    for i = 1, #g do list[i] = g[i] end
    return make_scope(list)
  end

  function M.policy(id)
    if type(id) ~= "string" then error("bad argument #1 to 'policy' (string expected)", 2) end
    local rec = by_id[id]
    if not rec then return E("NotFound", "policy not found: " .. id) end
    return rec.obj
  end

  function sco_methods.policies(self)
    local S = state_of(self, "policies")
    local out = {}
    for i = 1, #S.list do out[i] = S.list[i].obj end
    return out
  end
  function sco_methods.contains(self, id)
    local S = state_of(self, "contains")
    local rec = POL[id]
    if rec then id = rec.id end
    return S.has[id] == true
  end
  function sco_methods.with(self, p)
    local S = state_of(self, "with")
    local rec, err = policy_rec(p)
    if not rec then
      if err then return nil, err end
      error("bad argument #1 to 'with' (security.Policy expected)", 2)
    end
    if S.has[rec.id] then return self end
    local list = {}
    for i = 1, #S.list do list[i] = S.list[i] end
    list[#list + 1] = rec
    return make_scope(list)
  end
  function sco_methods.without(self, id)
    local S = state_of(self, "without")
    local rec = POL[id]
    if rec then id = rec.id end
    if type(id) ~= "string" then error("bad argument #1 to 'without' (string expected)", 2) end
    if not S.has[id] then return self end
    local list = {}
    for i = 1, #S.list do
      if S.list[i].id ~= id then list[#list + 1] = S.list[i] end
    end
    return make_scope(list)
  end

  -- -> "allow" | "deny" | "undefined"
  local function eval_scope(S, A, action, resource, meta)
    local list, allowed = S.list, false
    for i = 1, #list do
      local r = eval_policy(list[i], A, action, resource, meta)
      if r == "deny" then return "deny" end
      if r == "allow" then allowed = true end
    end
    return allowed and "allow" or "undefined"
  end

  local function str_arg(v, argn, fname)
    if type(v) ~= "string" then
      error("bad argument #" .. argn .. " to '" .. fname .. "' (string expected, got " .. type(v) .. ")", 3)
    end
    return v
  end

  function sco_methods.evaluate(self, actor, action, resource, meta)
    local S = state_of(self, "evaluate")
    local A = actor_state(actor, 1, "evaluate")
    return eval_scope(S, A, str_arg(action, 2, "evaluate"), str_arg(resource, 3, "evaluate"), meta)
  end
  function pol_methods.evaluate(self, actor, action, resource, meta)
    local rec = POL[self]
    if not rec then error("bad self (security.Policy expected)", 2) end
    local A = actor_state(actor, 1, "evaluate")
    return eval_policy(rec, A, str_arg(action, 2, "evaluate"), str_arg(resource, 3, "evaluate"), meta)
      or "undefined"
  end

  ---------------------------------------------------------------------------------------------
  -- The check: steps 1 and 2 of the model above.

  local function strict() local c = K.cfg; return c ~= nil and c.strict_mode == true end

  -- Core decision on an actor and a scope (either may be nil).
  local function decide(actor, scope, action, resource, attrs)
    local A, S = ACT[actor], SCO[scope]
    if A and S then
      if type(action) ~= "string" then action = action == nil and "" or tostring(action) end
      if type(resource) ~= "string" then resource = resource == nil and "" or tostring(resource) end
      return eval_scope(S, A, action, resource, attrs) == "allow"
    end
    return not strict()
  end
  M.decide = decide

  -- ctx: { actor = actor|nil, scope = scope|nil } or nil.
  function M.check(ctx, action, resource, attrs)
    if ctx == nil then return not strict() end
    return decide(ctx.actor, ctx.scope, action, resource, attrs)
  end

  -- The same, for the process currently running (K.cp), with the attributes §8.1 prescribes.
  function M.check_current(action, resource, attrs)
    local P = K.cp
    if P == nil then return not strict() end
    return decide(P.ctx_actor, P.ctx_scope, action, resource, attrs)
  end

  ---------------------------------------------------------------------------------------------
  -- Crossing workers, and lifecycle.security blocks.

  -- Placeholder for a policy id the receiving worker does not know: it denies everything.
  local function missing_policy(id)
    local rec = { id = id, effect = "deny", missing = true, conds = {},
      actions = compile_patterns("*"), resources = compile_patterns("*") }
    new_policy_obj(rec)
    return rec
  end

  function M.encode_actor(actor)
    local A = ACT[actor]
    if not A then return nil end
    return { id = A.id, meta = copy_data(A.meta) }
  end
  function M.encode_scope(scope)
    local S = SCO[scope]
    if not S then return nil end
    local ids = {}
    for i = 1, #S.list do ids[i] = S.list[i].id end
    return ids
  end
  function M.decode_actor(t)
    if type(t) ~= "table" or type(t.id) ~= "string" then return nil end
    return make_actor(t.id, copy_data(type(t.meta) == "table" and t.meta or {}))
  end
  function M.decode_scope(ids)
    if type(ids) ~= "table" then return nil end
    local list, has = {}, {}
    for _, id in ipairs(ids) do
      if type(id) == "string" and not has[id] then
        has[id] = true
        list[#list + 1] = by_id[id] or missing_policy(id)
      end
    end
    return make_scope(list)
  end

  -- -> { actor = {id, meta} | nil, scope = {policy ids} | nil }
  function M.encode_ctx(actor, scope)
    return { actor = M.encode_actor(actor), scope = M.encode_scope(scope) }
  end
  -- -> actor | nil, scope | nil
  function M.decode_ctx(t)
    if type(t) ~= "table" then return nil, nil end
    return M.decode_actor(t.actor), M.decode_scope(t.scope)
  end

  -- A `lifecycle.security` block: { actor = { id, meta }, policies = {ids}, groups = {ids} }, ids
  -- qualified. The scope is the union of the groups' policies and the listed ones; it is nil when
  -- the block has neither key. -> actor|nil, scope|nil | nil, nil, err (NotFound)
  function M.from_config(sec)
    if type(sec) ~= "table" then return nil, nil end
    local actor
    if type(sec.actor) == "table" and type(sec.actor.id) == "string" then
      actor = make_actor(sec.actor.id, copy_data(type(sec.actor.meta) == "table" and sec.actor.meta or {}))
    end
    if sec.groups == nil and sec.policies == nil then return actor, nil end
    local list, has = {}, {}
    local function add(rec)
      if not has[rec.id] then has[rec.id] = true; list[#list + 1] = rec end
    end
    for _, g in ipairs(sec.groups or {}) do
      local recs = groups[g]
      if not recs then return nil, nil, K.err("NotFound", "policy group not found: " .. tostring(g), false) end
      for i = 1, #recs do add(recs[i]) end
    end
    for _, id in ipairs(sec.policies or {}) do
      local rec = by_id[id]
      if not rec then return nil, nil, K.err("NotFound", "policy not found: " .. tostring(id), false) end
      add(rec)
    end
    return actor, make_scope(list)
  end

  ---------------------------------------------------------------------------------------------
  -- The `security` module a process requires. Creating actors and scopes and reading policies are
  -- themselves guarded, as the reference documents (lua/security: "Security Actions"); a denial
  -- returns nil and an error of kind Invalid, the kind the reference documents for it.

  local function cur_attrs()
    local P = K.cp
    local pid = P and P.pid
    if pid then return { pid = pid } end
    return nil
  end
  local function guard(action, resource)
    if M.check_current(action, resource, cur_attrs()) then return true end
    return false, K.err("Invalid", "permission denied: " .. action .. " on " .. resource, false)
  end

  local mod = {}
  function mod.actor() local P = K.cp; return P and P.ctx_actor or nil end
  function mod.scope() local P = K.cp; return P and P.ctx_scope or nil end
  function mod.can(action, resource, meta)
    str_arg(action, 1, "can")
    str_arg(resource, 2, "can")
    if meta ~= nil and type(meta) ~= "table" then error("bad argument #3 to 'can' (table expected)", 2) end
    return M.check_current(action, resource, meta)
  end
  function mod.new_actor(id, meta)
    if type(id) ~= "string" then error("bad argument #1 to 'new_actor' (string expected)", 2) end
    if meta ~= nil and type(meta) ~= "table" then error("bad argument #2 to 'new_actor' (table expected)", 2) end
    local ok, err = guard("security.actor.create", id)
    if not ok then return nil, err end
    return make_actor(id, copy_data(meta or {}))
  end
  function mod.new_scope(policies)
    if policies ~= nil and type(policies) ~= "table" then error("bad argument #1 to 'new_scope' (table expected)", 2) end
    local ok, err = guard("security.scope.create", "custom")
    if not ok then return nil, err end
    local s, serr = new_scope(policies)
    return s, serr
  end
  function mod.policy(id)
    if type(id) ~= "string" then error("bad argument #1 to 'policy' (string expected)", 2) end
    local ok, err = guard("security.policy.get", id)
    if not ok then return nil, err end
    return M.policy(id)
  end
  function mod.named_scope(id)
    if type(id) ~= "string" then error("bad argument #1 to 'named_scope' (string expected)", 2) end
    local ok, err = guard("security.policy_group.get", id)
    if not ok then return nil, err end
    return M.named_scope(id)
  end
  M.module = mod

  return M
end
