-- Pattern matching that the reduction budget can stop: find, match, gmatch and gsub with exactly
-- the results and errors of Lua 5.4's string library, plus the rule that decides when the C
-- matcher may run instead.
--
-- Size: over 500 lines because the matcher, its argument handling and the cost model share the
-- item compiler (class_end, sets) and must change together with lstrlib's behaviour.
--
-- Why. Lua's matcher (lstrlib.c) is C; the kernel's instruction-count hook (sched.lua's
-- budget_hook, the reduction budget) never fires inside a C call, and wasmoon's Lua is a prebuilt
-- wasm module, so the C code cannot be changed. One call such as
-- string.find(string.rep("a", 1e6), ".-.-.-.-.-b") (~1e17 steps) therefore held a worker thread
-- forever. This file owns (1) a line-by-line port of lstrlib.c's matcher to Lua -- match,
-- max_expand, min_expand, start/end_capture, match_capture, matchbalance (%b), frontier (%f),
-- the classes (C locale, including the deprecated %z), sets, anchors, position captures,
-- back-references, MAXCCALLS = 200 ("pattern too complex"), 32 captures, every lstrlib error
-- message, raised lazily at the same point of the match -- with find/match/gmatch (5.4's init
-- argument; '^' is a literal in gmatch)/gsub (string with %0-%9 and %%, table, function; max n)
-- on top; and (2) the rule. Being Lua, a runaway match is a loop like any other: the hook charges
-- it and kills the process with "reduction budget exceeded"; the worker keeps serving.
--
-- The rule (cheap() below). C is 6-50x faster, so C runs whenever a cheap, conservative bound on
-- its work is at most BOUND = 3e7 steps, and the Lua matcher otherwise. The bound is a polynomial
-- in the subject length computed once per pattern (see "The cost model"): fixed items are linear,
-- a quantifier multiplies by its number of choices unless what follows makes the choice
-- deterministic (nothing but closers, a final '$', or a disjoint mandatory char), %b and
-- back-references cost a scan. When the plain bound is too big, the choices of each quantified
-- set are capped by its longest run in the subject, checked with one linear C probe per set.
-- Calibrated on the C side: find(rep("a", 3000), "a*b") has bound 1.8e7 and takes 53 ms; the
-- trim "^%s*(.-)%s*$" on "x" .. 3000 blanks .. "x", bound 1.8e7, 55 ms. So a C call the rule
-- lets through costs at most ~0.1 s of one worker, whatever the input. The bound is checked
-- against the real work in test/pattern.test.ts: the Lua matcher takes the same steps as C, and on
-- seeded random patterns and adversarial subjects its instruction count stays under 64 times
-- the bound (41 at worst measured).
--
-- Measured (Node 20, wasmoon 1.16, os.clock per call; C vs this matcher):
--   pattern                  100 B             10 KB              1 MB             rule at 1 MB
--   trim ^%s*(.-)%s*$        27 us / 164 us    0.35 ms / 10.8 ms  34 ms / 1.08 s   C if no blank
--                                                                                  run > 3
--   split [^,]+ (gmatch)     5 us / 31 us      0.15 ms / 2.4 ms   20 ms / 223 ms   C
--   %d+ (gsub)               4.5 us / 57 us    0.2 ms / 4.8 ms    25 ms / 516 ms   C
--   ^(%w+)=(.*)$             1.5 us / 16 us    <0.05 ms / 1.1 ms  2 ms / 97 ms     C
-- In VM instructions (what the budget counts) the Lua matcher spends 20-130 per subject byte:
-- split on 1 MB 20M, %d+ 57M, trim 130M (more than the default budget of 100M, which is why the
-- rule keeps such calls in C whenever the bound allows).
--
-- Fidelity. The differential test (test/pattern.test.ts, test/lua/pattern_diff.lua) compares
-- results and error messages with the C library on hand-written and seeded random patterns.
-- Matcher errors are raised at the caller's level ("file:line: malformed pattern ..."), as
-- luaL_error does. Known differences: a tail call `return pattern.find(...)` loses that position
-- (a Lua frame is replaced, a C one is not); a "bad argument" message names 'string.find' rather
-- than 'find' and does not shift the argument number for method calls; a replacement function
-- may yield in the Lua matcher (C raises "attempt to yield across a C-call boundary").
-- State: the running match lives in upvalues (faster than a state table); every entry point sets
-- it, and gsub sets it again after calling a replacement function, which may match too.
-- Back-references and plain searches compare 32 bytes per string.sub, so the C work behind one
-- VM instruction stays small and the instruction count keeps tracking the time.
--
-- Alternatives rejected. A JS matcher behind a host call: still one uninterruptible call from
-- the hook's point of view, and a second implementation to keep identical. A step counter in C:
-- not possible, the wasm module is prebuilt. Refusing patterns with many quantifiers: breaks
-- correct programs, and one quantifier is already quadratic (find(rep("a", 1e6), "a*b") is
-- 5e11 steps). Always Lua: 6-50x slower for everyday string code. Yielding (preempting) inside a
-- long Lua match instead of killing it: a runaway match would burn its worker's CPU forever;
-- budget semantics are the kernel's, the same for a loop and a match.
--
-- Shape: loaded by the kernel as K.pattern (init.lua); K.pattern.find/match/gmatch/gsub apply
-- the rule, K.pattern.lua.* is the Lua matcher alone, K.pattern.cost/cheap expose the bound.
return function(K)
  local type, tostring, error, select, pcall, pairs = type, tostring, error, select, pcall, pairs
  local setmetatable, getmetatable = setmetatable, getmetatable
  local mtype, tointeger, tonumber = math.type, math.tointeger, tonumber
  local sbyte, ssub, sfind, sformat, srep = string.byte, string.sub, string.find, string.format, string.rep
  local tconcat, tunpack = table.concat, table.unpack
  -- The C library, taken when the kernel loads (before any sandbox wraps the string table).
  local C = { find = string.find, match = string.match, gmatch = string.gmatch, gsub = string.gsub }

  local MAXCCALLS = 200   -- lstrlib.c: nesting of match() calls before "pattern too complex"
  local MAXCAPTURES = 32  -- LUA_MAXCAPTURES
  local CAP_UNF, CAP_POS = -1, -2

  -- The matcher's own errors are raised as { message } with this metatable and re-raised by the
  -- entry points at the caller's level, where lstrlib's luaL_error puts them ("file:line: msg").
  -- Any other error (a replacement function's, the budget hook's) passes through untouched.
  local MARK = {}
  local function raise(msg) error(setmetatable({ msg }, MARK), 0) end

  ---------------------------------------------------------------------------------------------
  -- Character classes of the C locale (the one the wasm build runs in), as 0..255 -> true sets.
  local CLASS = {}
  do
    local function build(pred)
      local t = {}
      for c = 0, 255 do if pred(c) then t[c] = true end end
      return t
    end
    local function upper(c) return c >= 65 and c <= 90 end
    local function lower(c) return c >= 97 and c <= 122 end
    local function digit(c) return c >= 48 and c <= 57 end
    local function alpha(c) return upper(c) or lower(c) end
    local function alnum(c) return alpha(c) or digit(c) end
    local function graph(c) return c >= 33 and c <= 126 end
    local preds = {
      a = alpha, c = function(c) return c < 32 or c == 127 end, d = digit, g = graph, l = lower,
      p = function(c) return graph(c) and not alnum(c) end,
      s = function(c) return c == 32 or (c >= 9 and c <= 13) end, u = upper, w = alnum,
      x = function(c) return digit(c) or (c >= 65 and c <= 70) or (c >= 97 and c <= 102) end,
      z = function(c) return c == 0 end, -- deprecated in 5.2, still in 5.4's lstrlib
    }
    for letter, pred in pairs(preds) do
      CLASS[sbyte(letter)] = build(pred)
      CLASS[sbyte(letter) - 32] = build(function(c) return not pred(c) end)
    end
  end
  local ANY = {}
  for c = 0, 255 do ANY[c] = true end
  local LIT = {}
  for c = 0, 255 do LIT[c] = { [c] = true } end

  -- match_class: c in class letter cl (%a, %A...), or the literal cl for any other byte.
  local function match_class(c, cl)
    local t = CLASS[cl]
    if t then return t[c] == true end
    return cl == c
  end

  -- Byte of pat at p, 0 past its end (C reads the string's terminating NUL there).
  local function pbyte(pat, p) return sbyte(pat, p) or 0 end

  -- classEnd: the position just after the single-char class starting at p (lazy errors, as in C).
  local function class_end(pat, plen, p)
    local c = pbyte(pat, p)
    p = p + 1
    if c == 37 then -- '%'
      if p > plen then raise("malformed pattern (ends with '%')") end
      return p + 1
    elseif c == 91 then -- '['
      if pbyte(pat, p) == 94 then p = p + 1 end
      repeat
        if p > plen then raise("malformed pattern (missing ']')") end
        local cc = pbyte(pat, p)
        p = p + 1
        if cc == 37 and p <= plen then p = p + 1 end
      until pbyte(pat, p) == 93
      return p + 1
    end
    return p
  end

  -- matchbracketclass for the set [ at p .. ] at ec.
  local function bracket(pat, c, p, ec)
    local sig = true
    if pbyte(pat, p + 1) == 94 then sig = false; p = p + 1 end
    p = p + 1
    while p < ec do
      local b = pbyte(pat, p)
      if b == 37 then
        p = p + 1
        if match_class(c, pbyte(pat, p)) then return sig end
      elseif pbyte(pat, p + 1) == 45 and p + 2 < ec then
        p = p + 2
        if b <= c and c <= pbyte(pat, p) then return sig end
      elseif b == c then
        return sig
      end
      p = p + 1
    end
    return not sig
  end

  -- A single-char item at p: { ep, set, suffix byte }. Raises the C errors of classEnd.
  local function compile_item(pat, plen, p)
    local ep = class_end(pat, plen, p)
    local c = pbyte(pat, p)
    local set
    if c == 46 then set = ANY
    elseif c == 37 then
      local cl = pbyte(pat, p + 1)
      set = CLASS[cl] or LIT[cl]
    elseif c == 91 then
      set = {}
      for b = 0, 255 do if bracket(pat, b, p, ep - 1) then set[b] = true end end
    else set = LIT[c] end
    return { ep, set, pbyte(pat, ep) }
  end

  -- Compiled items per pattern string: position -> item, filled as the matcher reaches them.
  local ITEMS, nitems = {}, 0
  local function items_of(pat)
    local it = ITEMS[pat]
    if it then return it end
    if nitems >= 256 then ITEMS, nitems = {}, 0 end
    it = {}
    ITEMS[pat] = it
    nitems = nitems + 1
    return it
  end

  ---------------------------------------------------------------------------------------------
  -- The matcher: a line-by-line port of lstrlib.c's match() with integer positions. s is a
  -- position in the subject (N + 1 = src_end), p in the pattern (PLEN + 1 = p_end). The state
  -- of the running match lives in these upvalues; every entry point (and gsub after calling a
  -- replacement function, which may match too) sets it with setstate.
  local SRC, N, PAT, PLEN, IT = "", 0, "", 0, {}
  local LEVEL, DEPTH = 0, MAXCCALLS
  local CINIT, CLEN = {}, {}

  local function setstate(src, pat, it)
    SRC, N, PAT, PLEN, IT = src, #src, pat, #pat, it
  end

  local match

  local function item_at(p)
    local it = IT[p]
    if it then return it end
    it = compile_item(PAT, PLEN, p)
    IT[p] = it
    return it
  end

  local function max_expand(s, set, ep)
    local i = 0
    while true do
      local c = sbyte(SRC, s + i)
      if c and set[c] then i = i + 1 else break end
    end
    while i >= 0 do
      local res = match(s + i, ep + 1)
      if res then return res end
      i = i - 1
    end
    return nil
  end

  local function min_expand(s, set, ep)
    while true do
      local res = match(s, ep + 1)
      if res then return res end
      local c = sbyte(SRC, s)
      if c and set[c] then s = s + 1 else return nil end
    end
  end

  local function start_capture(s, p, what)
    local level = LEVEL
    if level >= MAXCAPTURES then raise("too many captures") end
    level = level + 1
    CINIT[level], CLEN[level] = s, what
    LEVEL = level
    local res = match(s, p)
    if not res then LEVEL = level - 1 end
    return res
  end

  local function end_capture(s, p)
    local l = LEVEL
    while l >= 1 and CLEN[l] ~= CAP_UNF do l = l - 1 end
    if l < 1 then raise("invalid pattern capture") end
    CLEN[l] = s - CINIT[l]
    local res = match(s, p)
    if not res then CLEN[l] = CAP_UNF end
    return res
  end

  -- Back-reference %d (d the digit byte). The comparison runs in 32-byte pieces so that the C
  -- work behind each VM instruction stays small and the instruction count tracks the time.
  local function match_capture(s, d)
    local l = d - 48
    if l < 1 or l > LEVEL or CLEN[l] == CAP_UNF then
      raise(sformat("invalid capture index %%%d", l))
    end
    local len = CLEN[l]
    if len < 0 or N + 1 - s < len then return nil end -- a position capture never matches
    local a, k = CINIT[l], 0
    while k < len do
      local m = len - k
      if m > 32 then m = 32 end
      if ssub(SRC, a + k, a + k + m - 1) ~= ssub(SRC, s + k, s + k + m - 1) then return nil end
      k = k + m
    end
    return s + len
  end

  local function match_balance(s, p)
    if p >= PLEN then raise("malformed pattern (missing arguments to '%b')") end
    local b = sbyte(PAT, p)
    if (sbyte(SRC, s) or 0) ~= b then return nil end
    local e, cont = sbyte(PAT, p + 1), 1
    s = s + 1
    while s <= N do
      local c = sbyte(SRC, s)
      if c == e then
        cont = cont - 1
        if cont == 0 then return s + 1 end
      elseif c == b then
        cont = cont + 1
      end
      s = s + 1
    end
    return nil
  end

  match = function(s, p)
    local depth = DEPTH
    if depth == 0 then raise("pattern too complex") end
    DEPTH = depth - 1
    while p <= PLEN do
      local c = sbyte(PAT, p)
      local dflt = false
      if c == 40 then -- '('
        if sbyte(PAT, p + 1) == 41 then s = start_capture(s, p + 2, CAP_POS)
        else s = start_capture(s, p + 1, CAP_UNF) end
        break
      elseif c == 41 then -- ')'
        s = end_capture(s, p + 1)
        break
      elseif c == 36 and p == PLEN then -- '$' as the last char
        if s ~= N + 1 then s = nil end
        break
      elseif c == 37 then -- '%'
        local nc = sbyte(PAT, p + 1)
        if nc == 98 then -- %b
          s = match_balance(s, p + 2)
          if not s then break end
          p = p + 4
        elseif nc == 102 then -- %f
          p = p + 2
          if sbyte(PAT, p) ~= 91 then raise("missing '[' after '%f' in pattern") end
          local it = item_at(p)
          local set = it[2]
          local prev = s == 1 and 0 or sbyte(SRC, s - 1)
          if not set[prev] and set[sbyte(SRC, s) or 0] then
            p = it[1]
          else
            s = nil
            break
          end
        elseif nc and nc >= 48 and nc <= 57 then -- %0-%9
          s = match_capture(s, nc)
          if not s then break end
          p = p + 2
        else
          dflt = true
        end
      else
        dflt = true
      end
      if dflt then
        local it = IT[p] or item_at(p)
        local ep, set, suf = it[1], it[2], it[3]
        local ch = sbyte(SRC, s)
        if not (ch and set[ch]) then
          if suf == 42 or suf == 63 or suf == 45 then -- '*' '?' '-' accept empty
            p = ep + 1
          else
            s = nil
            break
          end
        elseif suf == 63 then -- '?'
          local res = match(s + 1, ep + 1)
          if res then s = res; break end
          p = ep + 1
        elseif suf == 43 then -- '+'
          s = max_expand(s + 1, set, ep)
          break
        elseif suf == 42 then -- '*'
          s = max_expand(s, set, ep)
          break
        elseif suf == 45 then -- '-'
          s = min_expand(s, set, ep)
          break
        else
          s = s + 1
          p = ep
        end
      end
    end
    DEPTH = depth
    return s
  end

  ---------------------------------------------------------------------------------------------
  -- Captures of the last successful match (push_captures / get_onecapture).
  local function get_capture(i, s, e) -- i counts from 1
    if i > LEVEL then
      if i ~= 1 then raise(sformat("invalid capture index %%%d", i)) end
      return ssub(SRC, s, e - 1)
    end
    local l = CLEN[i]
    if l == CAP_UNF then raise("unfinished capture") end
    if l == CAP_POS then return CINIT[i] end
    local a = CINIT[i]
    return ssub(SRC, a, a + l - 1)
  end

  local function captures(s, e, whole)
    local n = LEVEL
    if n == 0 then
      if not whole then return 0, nil end
      return 1, { ssub(SRC, s, e - 1) }
    end
    local t = {}
    for i = 1, n do t[i] = get_capture(i, s, e) end
    return n, t
  end

  ---------------------------------------------------------------------------------------------
  -- Arguments, checked as lstrlib does. Anything this cannot take is handed to the C function,
  -- which raises its own "bad argument" error before doing any matching.
  local function str_arg(v)
    local t = type(v)
    if t == "string" then return v end
    if t == "number" then return tostring(v) end
    return nil
  end
  local function int_arg(v, default)
    if v == nil then return default end
    if mtype(v) == "integer" then return v end
    if type(v) == "string" then v = tonumber(v) end
    if type(v) == "number" then return tointeger(v) end
    return nil
  end
  -- posrelatI
  local function posrelat(pos, len)
    if pos > 0 then return pos
    elseif pos == 0 then return 1
    elseif pos < -len then return 1
    else return len + pos + 1 end
  end

  -- Plain search (lmemfind) from position i: the first byte is found with C (one linear pass
  -- over the subject in total), the rest compared in 32-byte pieces.
  local function plain_find(s, p, i)
    local lp, ls = #p, #s
    if lp == 0 then return i end
    if lp > ls - i + 1 then return nil end
    local first, last = ssub(p, 1, 1), ls - lp + 1
    while i <= last do
      local j = sfind(s, first, i, true)
      if not j or j > last then return nil end
      local k, ok = 1, true
      while k < lp do
        local m = lp - k
        if m > 32 then m = 32 end
        if ssub(s, j + k, j + k + m - 1) ~= ssub(p, k + 1, k + m) then ok = false; break end
        k = k + m
      end
      if ok then return j end
      i = j + 1
    end
    return nil
  end

  local SPECIALS = "[%^%$%*%+%?%.%(%[%%%-]"

  -- Bad arguments: the C function raises its own message (under pcall, so without a position);
  -- it is re-raised at the caller's level like every other matcher error.
  local function c_says(ok, ...)
    if not ok then raise((...)) end
    return ...
  end
  local function delegate(f, ...) return c_says(pcall(f, ...)) end

  local function find_aux(find, ...)
    local s0, p0, init0, plain = ...
    local s, p, init = str_arg(s0), str_arg(p0), int_arg(init0, 1)
    if not (s and p and init) then return delegate(find and C.find or C.match, ...) end
    local ls = #s
    local i = posrelat(init, ls) -- 1-based start
    if i - 1 > ls then return nil end
    if find and (plain or not sfind(p, SPECIALS)) then
      local j = plain_find(s, p, i)
      if j then return j, j + #p - 1 end
      return nil
    end
    local it = items_of(p)
    setstate(s, p, it)
    local anchor = sbyte(p, 1) == 94
    local pstart = anchor and 2 or 1
    local s1 = i
    repeat
      LEVEL, DEPTH = 0, MAXCCALLS
      local e = match(s1, pstart)
      if e then
        if find then
          local n, caps = captures(s1, e, false)
          if n == 0 then return s1, e - 1 end
          return s1, e - 1, tunpack(caps, 1, n)
        end
        local n, caps = captures(s1, e, true)
        return tunpack(caps, 1, n)
      end
      s1 = s1 + 1
    until anchor or s1 > ls + 1
    return nil
  end

  -- Entry points run the work under pcall and re-raise a matcher error at level 2: the frame of
  -- whoever called find/match/gmatch/gsub (or the gmatch iterator), as luaL_error does.
  local function finish(ok, ...)
    if ok then return ... end
    local e = ...
    if getmetatable(e) == MARK then error(e[1], 2) end
    error(e, 0)
  end

  local M = {}

  function M.find(...) return finish(pcall(find_aux, true, ...)) end
  function M.match(...) return finish(pcall(find_aux, false, ...)) end

  local function gmatch_aux(...)
    local s0, p0, init0 = ...
    local s, p, init = str_arg(s0), str_arg(p0), int_arg(init0, 1)
    if not (s and p and init) then return delegate(C.gmatch, ...) end
    local ls = #s
    local src = posrelat(init, ls)
    if src - 1 > ls then src = ls + 2 end
    local it = items_of(p)
    local lastmatch = nil
    local function step()
      setstate(s, p, it)
      while src <= ls + 1 do
        LEVEL, DEPTH = 0, MAXCCALLS
        local e = match(src, 1)
        if e and e ~= lastmatch then
          local from = src
          src, lastmatch = e, e
          local n, caps = captures(from, e, true)
          return tunpack(caps, 1, n)
        end
        src = src + 1
      end
    end
    return function() return finish(pcall(step)) end
  end
  function M.gmatch(...) return finish(pcall(gmatch_aux, ...)) end

  -- A replacement string split once into pieces: literal strings, capture numbers 0..9, and
  -- false for an invalid '%x' (raised only when a match reaches it, as add_s does).
  local function split_repl(r)
    local parts, n, i, lr = {}, 0, 1, #r
    while true do
      local j = sfind(r, "%", i, true)
      if not j then
        if i <= lr then n = n + 1; parts[n] = ssub(r, i, lr) end
        break
      end
      if j > i then n = n + 1; parts[n] = ssub(r, i, j - 1) end
      local c = sbyte(r, j + 1)
      n = n + 1
      if c == 37 then parts[n] = "%"
      elseif c and c >= 48 and c <= 57 then parts[n] = c - 48
      else parts[n] = false end
      i = j + 2
    end
    return parts, n
  end

  local function gsub_aux(...)
    local s0, p0, repl, max0 = ...
    local s, p = str_arg(s0), str_arg(p0)
    local ls = s and #s or 0
    local max_s = int_arg(max0, ls + 1)
    local tr = type(repl)
    if not (s and p and max_s) or not (tr == "number" or tr == "string" or tr == "function" or tr == "table") then
      return delegate(C.gsub, ...)
    end
    local rparts, nr
    if tr ~= "function" and tr ~= "table" then rparts, nr = split_repl(tostring(repl)) end
    local it = items_of(p)
    setstate(s, p, it)
    local anchor = sbyte(p, 1) == 94
    local pstart = anchor and 2 or 1
    local out, no = {}, 0
    local src, copied, lastmatch, n, changed = 1, 1, nil, 0, false
    while n < max_s do
      LEVEL, DEPTH = 0, MAXCCALLS
      local e = match(src, pstart)
      if e and e ~= lastmatch then
        n = n + 1
        if src > copied then no = no + 1; out[no] = ssub(s, copied, src - 1) end
        if rparts then
          for k = 1, nr do
            local part = rparts[k]
            local pt = type(part)
            if pt == "string" then
              no = no + 1; out[no] = part
            elseif pt == "number" then
              no = no + 1
              if part == 0 then out[no] = ssub(s, src, e - 1)
              else out[no] = tostring(get_capture(part, src, e)) end
            else
              raise("invalid use of '%' in replacement string")
            end
          end
          changed = true
        else
          local v
          if tr == "table" then
            v = repl[get_capture(1, src, e)]
          else
            local nc, caps = captures(src, e, true)
            v = repl(tunpack(caps, 1, nc))
          end
          setstate(s, p, it) -- the function or an __index may have matched too
          if not v then
            no = no + 1; out[no] = ssub(s, src, e - 1)
          else
            local vt = type(v)
            if vt ~= "string" and vt ~= "number" then
              raise("invalid replacement value (a " .. vt .. ")")
            end
            no = no + 1; out[no] = tostring(v)
            changed = true
          end
        end
        src, lastmatch, copied = e, e, e
      elseif src <= ls then
        src = src + 1
      else
        break
      end
      if anchor then break end
    end
    if not changed then return s, n end
    if copied <= ls then no = no + 1; out[no] = ssub(s, copied, ls) end
    return tconcat(out, "", 1, no), n
  end
  function M.gsub(...) return finish(pcall(gsub_aux, ...)) end

  ---------------------------------------------------------------------------------------------
  -- The cost model: an upper bound on the steps the C matcher can take for a pattern on a subject
  -- of n bytes. The pattern is walked once, the way match() walks it, into a small program (cached
  -- per pattern); evaluating it for a subject gives the bound. `mult` bounds how many times the
  -- matcher can arrive at the current item: start positions (1 when anchored -- '^', never in
  -- gmatch -- else 2m, m = n + 1, as gsub and gmatch may try a position twice after an empty
  -- match) times the choices of the items before it. Each item adds its cost per arrival * mult:
  --   single char, anchors, captures, %f        1 (a [set] costs 1 + its length / 8)
  --   x? (two choices)                          1, and mult doubles
  --   x* x+ x- (c choices, an O(c) scan)        c, and mult grows by c, except when
  --     - only ')', '(' and '()' follow it: the first choice succeeds, so its scan is paid once
  --       per successful match (c in total: matches do not overlap)            [TRAIL]
  --     - only those and a final '$' follow: every choice is O(1), nothing follows   [DOLLAR]
  --     - the next consuming item is one mandatory char whose set is disjoint from x's: only the
  --       choice that ends x's run can get past that char                   [DISJOINT]
  --   %bxy and back-references %1-%9           m (a scan or a compare), mult unchanged
  -- c, the choices of a quantified item, is m at most; for a set other than '.', it is at most one
  -- more than the longest run of that set's chars in the subject. The bound is computed with c = m
  -- first; when that is too big, with c = r + 1 for the largest r that fits, and then one linear C
  -- probe per quantified set ("%f[set]" followed by r + 1 copies of "[set]") checks that the
  -- subject has no longer run. So trim is linear on ordinary text and goes to Lua only for
  -- subjects with long runs of blanks, where C would be quadratic.
  local FIXED, OPT, SCAN, TRAIL, DOLLAR, DISJOINT, QUANT = 1, 2, 3, 4, 5, 6, 7

  -- The probe text of a single-char item: the same set in brackets, or false for '.'.
  local function set_text(pat, p, ep)
    local c = sbyte(pat, p)
    if c == 46 then return false end
    if c == 91 then return ssub(pat, p, ep - 1) end
    if c == 37 then return "[" .. ssub(pat, p, ep - 1) .. "]" end
    if (c >= 48 and c <= 57) or (c >= 65 and c <= 90) or (c >= 97 and c <= 122) then
      return "[" .. ssub(pat, p, p) .. "]"
    end
    return "[%" .. ssub(pat, p, p) .. "]"
  end

  -- -> { anchored, prog = { kind, weight, probe, ... }, probes = { distinct probe texts } } or
  -- false for a malformed pattern (the Lua matcher then raises lstrlib's error).
  local function analyse(pat, gm)
    local plen = #pat
    local anchored = not gm and sbyte(pat, 1) == 94
    local p = anchored and 2 or 1
    local prog, np, probes, seen = {}, 0, {}, {}
    local function emit(kind, w, probe)
      prog[np + 1], prog[np + 2], prog[np + 3] = kind, w, probe or false
      np = np + 3
      if probe and not seen[probe] then seen[probe] = true; probes[#probes + 1] = probe end
    end
    while p <= plen do
      local c, nc = sbyte(pat, p), sbyte(pat, p + 1)
      if c == 40 then
        emit(FIXED, 1)
        p = p + (nc == 41 and 2 or 1)
      elseif c == 41 or (c == 36 and p == plen) then
        emit(FIXED, 1)
        p = p + 1
      elseif c == 37 and nc == 98 then
        if p + 2 >= plen then return false end
        emit(SCAN, 1)
        p = p + 4
      elseif c == 37 and nc == 102 then
        p = p + 2
        if sbyte(pat, p) ~= 91 then return false end
        local ok, ep = pcall(class_end, pat, plen, p)
        if not ok then return false end
        emit(FIXED, 1 + (ep - p) // 8)
        p = ep
      elseif c == 37 and nc and nc >= 48 and nc <= 57 then
        emit(SCAN, 1)
        p = p + 2
      else
        local ok, it = pcall(compile_item, pat, plen, p)
        if not ok then return false end
        local ep, set, suf = it[1], it[2], it[3]
        local w = c == 91 and 1 + (ep - p) // 8 or 1
        if suf == 63 then
          emit(OPT, w)
          p = ep + 1
        elseif suf == 42 or suf == 43 or suf == 45 then
          local probe = set_text(pat, p, ep)
          local q = ep + 1
          while q <= plen do
            local b = sbyte(pat, q)
            if b == 40 or b == 41 then q = q + 1 else break end
          end
          if q > plen then
            emit(TRAIL, w, probe)
          elseif q == plen and sbyte(pat, q) == 36 then
            emit(DOLLAR, w, probe)
          else
            local b, nb = sbyte(pat, q), sbyte(pat, q + 1)
            local disjoint = false
            if not (b == 37 and (nb == 98 or nb == 102 or (nb and nb >= 48 and nb <= 57))) then
              local ok2, it2 = pcall(compile_item, pat, plen, q)
              if not ok2 then return false end
              local suf2, set2 = it2[3], it2[2]
              if suf2 ~= 42 and suf2 ~= 63 and suf2 ~= 45 then
                disjoint = true
                for ch = 0, 255 do
                  if set[ch] and set2[ch] then disjoint = false; break end
                end
              end
            end
            emit(disjoint and DISJOINT or QUANT, w, probe)
          end
          p = ep + 1
        else
          emit(FIXED, w)
          p = ep
        end
      end
    end
    return { anchored = anchored, prog = prog, probes = probes }
  end

  -- The bound for a subject of n bytes, with c = r + 1 for probed sets (c = m when r is nil).
  local BOUND = 3e7
  local function evaluate(A, n, r)
    local m = n + 1
    local mult = A.anchored and 1 or 2 * m
    local total, prog = 0, A.prog
    for i = 1, #prog, 3 do
      local kind, w, probe = prog[i], prog[i + 1], prog[i + 2]
      local c = (probe and r) and r + 1 or m
      if kind == FIXED then total = total + mult * w
      elseif kind == OPT then total = total + mult * w; mult = mult * 2
      elseif kind == SCAN then total = total + mult * m
      elseif kind == TRAIL then total = total + mult * w + m * w
      elseif kind == DOLLAR or kind == DISJOINT then total = total + mult * w * c
      else total = total + mult * w * c; mult = mult * c end
      if total > BOUND then return total end
    end
    return total
  end

  local MODEL = { [false] = {}, [true] = {} }
  local nmodel = 0
  local function model(pat, gm)
    local t = MODEL[gm][pat]
    if t == nil then
      if nmodel >= 512 then MODEL, nmodel = { [false] = {}, [true] = {} }, 0 end
      t = analyse(pat, gm)
      MODEL[gm][pat] = t
      nmodel = nmodel + 1
    end
    return t
  end

  local RUNGS = { 64, 32, 16, 8, 4, 2, 1, 0 }
  -- Whether the C matcher is certainly cheap (bound + extra <= BOUND) for pattern p on subject s.
  local function cheap(s, p, gm, extra)
    local n = #s
    if not gm and not sfind(p, SPECIALS) then return (n + 1) * (#p + 1) + extra <= BOUND end
    local A = model(p, gm == true)
    if not A then return false end
    if evaluate(A, n, nil) + extra <= BOUND then return true end
    local probes = A.probes
    if #probes == 0 then return false end
    local r
    for i = 1, #RUNGS do
      if evaluate(A, n, RUNGS[i]) + extra <= BOUND then r = RUNGS[i]; break end
    end
    if not r then return false end
    for i = 1, #probes do
      -- the probe is C work too: O(n * set length), so only short sets are probed
      if #probes[i] > 32 then return false end
      local run = srep(probes[i], r + 1)
      -- a run longer than r: at a run start ("%f"), or at the very start (the frontier misses a
      -- run there when the set holds "\0", the char before the subject)
      if sfind(s, "%f" .. probes[i] .. run) or sfind(s, "^" .. run) then return false end
    end
    return true
  end
  -- The bound alone (math.huge for a malformed pattern), for tests and the design note.
  function M.cost(pat, n, gm)
    if not gm and not sfind(pat, SPECIALS) then return (n + 1) * (#pat + 1) end
    local A = model(pat, gm == true)
    if not A then return math.huge end
    return evaluate(A, n, nil)
  end

  ---------------------------------------------------------------------------------------------
  -- The rule: C when cheap() says so, the Lua matcher otherwise.
  local CBOX = {} -- a replacement function's own error, carried through the C gsub untouched
  local function cfinish(ok, ...)
    if ok then return ... end
    local e = ...
    if getmetatable(e) == CBOX then error(e[1], 0) end
    if type(e) == "string" then error(e, 2) end
    error(e, 0)
  end
  local function boxed(ok, ...)
    if ok then return ... end
    error(setmetatable({ (...) }, CBOX), 0)
  end
  local function index(t, k) return t[k] end
  local cfind, cmatch, cgmatch, cgsub = C.find, C.match, C.gmatch, C.gsub
  local lfind, lmatch, lgmatch, lgsub = M.find, M.match, M.gmatch, M.gsub

  local function small(s, p, gm, extra)
    return type(s) == "string" and type(p) == "string" and cheap(s, p, gm, extra)
  end

  local SAFE = {}
  function SAFE.find(...)
    local s, p, _, plain = ...
    if plain and type(s) == "string" and type(p) == "string" then
      if (#s + 1) * (#p + 1) <= BOUND then
        -- the kernel's own hot path (pid parsing): with an integer init C cannot raise
        local init = select(3, ...)
        if init == nil or mtype(init) == "integer" then return cfind(...) end
        return cfinish(pcall(cfind, ...))
      end
      return lfind(...)
    end
    if small(s, p, false, 0) then return cfinish(pcall(cfind, ...)) end
    return lfind(...)
  end
  function SAFE.match(...)
    local s, p = ...
    if small(s, p, false, 0) then return cfinish(pcall(cmatch, ...)) end
    return lmatch(...)
  end
  function SAFE.gmatch(...)
    local s, p = ...
    if small(s, p, true, 0) then return cfinish(pcall(cgmatch, ...)) end
    return lgmatch(...)
  end
  function SAFE.gsub(...)
    local s, p, repl = ...
    local tr = type(repl)
    local extra = 0
    if tr == "string" and type(s) == "string" then extra = (#s + 1) * (#repl + 1) end
    if not small(s, p, false, extra) then return lgsub(...) end
    if tr == "function" then
      local f = repl
      repl = function(...) return boxed(pcall(f, ...)) end
    elseif tr == "table" then
      local t = repl
      repl = function(k) return boxed(pcall(index, t, k)) end
    else
      return cfinish(pcall(cgsub, ...))
    end
    return cfinish(pcall(cgsub, s, p, repl, select(4, ...)))
  end
  -- K.pattern: find/match/gmatch/gsub that choose C or Lua by the rule; .lua holds the Lua
  -- matcher alone; .cost the bound.
  SAFE.lua = M
  SAFE.cost = M.cost
  SAFE.cheap = cheap
  SAFE.BOUND = BOUND
  return SAFE
end
