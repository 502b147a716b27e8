-- The string library a process sees, and the size guard for C calls that allocate big results or
-- loop long.
--
-- Why. The reduction budget and the memory cap (sched.lua `budget_hook`) run in a count hook, which
-- fires only between Lua instructions. One C call runs to its end unseen: `string.rep("x", 1 << 30)`
-- allocated a gigabyte past a 1024 MiB `max_memory_mb`, `string.rep("", 1 << 62)` spins a worker for
-- ever without allocating, a `%s` format or a `table.concat` of one huge string repeated, a gsub whose
-- replacement table maps every character to a big string, a `table.move` over 2^40 indices, all
-- finish (or never do) before the hook can look. So the functions that can do that check first:
--
--   * size: the bytes the result needs are computed (exactly for rep and concat, as an upper bound for
--     format, pack and gsub) and, past SMALL bytes, compared with the cap (K.mem_cap_kb, from
--     host.max_memory_mb). The check charges PEAK = 2 times the result: the C code builds it in a
--     buffer and then copies it into the string (luaL_pushresult), so both exist at once. Over the
--     cap: the heap is collected and measured again, and if it is still over, the calling process is
--     doomed with kind Internal, "memory limit exceeded: …" — the hook's error, and, like it, one that
--     `pcall` cannot swallow (the sandbox's pcall re-raises P.doomed).
--   * time: C loops that do not allocate (rep of an empty string, table.move, table.insert/remove
--     over an inflated `__len`) and slow ones (os.date's strftime per conversion) are cut into
--     chunks or charged to the process's reduction count (K.charge), so the budget sees them.
--
-- A memory bomb that gets past these (a `..` chain, 32 captures of a huge subject) can still reach
-- wasm's 2 GB ceiling, where Lua raises its own "not enough memory"; lifecycle.lua and sandbox.lua
-- turn that into the same "memory limit exceeded" error (K.memory_error), so a process never dies
-- with Lua's text.
--
-- The method table. Strings share one metatable per Lua state, and `("").rep` / `s:rep(n)` look up
-- its __index. That used to be the C `string` table, so `("").dump` reached string.dump. Now
-- __index is METHODS: the guarded functions, and the plain C ones for the rest (a method call's self
-- is always a string, so it needs no error-object unwrapping and costs nothing extra). The global
-- `string` a process sees is LIB: the same functions, each unwrapping an error object passed as the
-- first argument (`string.find(err, "not found")`). Neither has `dump`. The kernel's own method calls
-- go through METHODS too; they are small.
--
-- Pattern functions (find, match, gmatch, gsub): see the PATTERN SLOT below.
--
-- Alternatives rejected: per-allocation accounting in the allocator (+52% on every allocation in
-- wasmoon, measured for the lifecycle issue); a lower wasm memory maximum (one per module, not per
-- host, and an allocation failure there is still Lua's "not enough memory").
return function(K)
  local type, tostring, tonumber, select, error, rawequal, pairs =
    type, tostring, tonumber, select, error, rawequal, pairs
  local tointeger, mtype, mhuge = math.tointeger, math.type, math.huge
  local gcount = collectgarbage
  local C = string                   -- the C library; only the kernel holds it
  -- named as the functions, so a C argument error raised through a guard reads "bad argument #1
  -- to 'rep'" as it would from a direct call
  local rep, format, gsub, find, match, gmatch, pack =
    C.rep, C.format, C.gsub, C.find, C.match, C.gmatch, C.pack
  local concat, move, insert, remove = table.concat, table.move, table.insert, table.remove
  local getmt, rawget, rawlen = debug.getmetatable, rawget, rawlen
  local is_error, errmsg = K.is_error, K.error_message

  ---------------------------------------------------------------------------------------------
  -- The guard.
  local SMALL = 1 << 16   -- results below 64 KiB are not checked (the hook sees their sum)
  local PEAK = 2          -- buffer + final string, both alive while the C function returns
  local MIB = 1 << 20
  local BLOCK = 4096      -- string.rep copies blocks of at least this many bytes (see G.rep)

  local function doom(e)
    local P = K.cp
    if P then P.doomed = e end
    error(e, 0)
  end

  -- The error of a memory bomb. `what` names the operation, `bytes` its size (nil: unknown).
  local function mem_error(what, bytes)
    local cap = K.mem_cap_kb
    local msg = "memory limit exceeded: " .. what
    if bytes then msg = msg .. " would allocate " .. C.format("%.0f", bytes / MIB) .. " MiB" end
    if cap then msg = msg .. " (the worker's Lua heap is capped at " .. (cap // 1024) .. " MiB)" end
    return K.err("Internal", msg, false)
  end
  K.mem_error = mem_error

  -- Raise the memory error unless `bytes` more fit under the cap. -> nothing
  local function need(bytes, what)
    if bytes < SMALL then return end
    local cap = K.mem_cap_kb
    if not cap then return end
    local kb = bytes * PEAK / 1024
    if gcount("count") + kb <= cap then return end
    gcount("collect")
    if gcount("count") + kb <= cap then return end
    doom(mem_error(what, bytes))
  end
  K.mem_need = need

  -- Bytes still free under the cap for a result built piece by piece (gsub), or huge without cap.
  local function headroom()
    local cap = K.mem_cap_kb
    if not cap then return mhuge end
    return (cap - gcount("count")) * 1024 / PEAK
  end

  -- Charge n units of C work to the running process's reduction count (as the hook would have
  -- counted instructions), killing it past its budget.
  local function charge(n)
    local P = K.cp
    if not P or not P.budget or not (n > 0) then return end
    local r = P.red + n
    P.red = r
    if r > P.budget then
      doom(K.err("Internal", "reduction budget exceeded: ran more than " .. P.budget ..
        " instructions without yielding", false))
    end
  end
  K.charge = charge

  -- An integer argument as luaL_checkinteger reads it, or nil (the C function then raises its error).
  local function int(v)
    if type(v) == "string" then v = tonumber(v) end
    if type(v) ~= "number" then return nil end
    return tointeger(v)
  end
  local function len(v)
    local t = type(v)
    if t == "string" then return #v end
    if t == "number" then return #tostring(v) end
    return nil
  end

  ---------------------------------------------------------------------------------------------
  -- Size-checked string functions.
  local G = {} -- guarded functions (shared by LIB and METHODS)

  function G.rep(s, ...)
    if type(s) ~= "string" and is_error(s) then s = errmsg(s) end
    local n, sep = ...
    local l, ni
    if type(s) == "string" then l = #s else l = len(s) end
    if mtype(n) == "integer" then ni = n else ni = int(n) end
    if l and ni and ni > 0 then
      local lsep = 0
      if sep ~= nil then lsep = len(sep) or 0 end
      -- C loops n times even when there is nothing to copy: rep("", 1 << 62) would never end
      if l + lsep == 0 then return "" end
      local total = (ni + 0.0) * l + (ni - 1.0) * lsep
      if total < SMALL then return rep(s, ...) end
      need(total, "string.rep")
      -- C's rep does one memcpy per copy: 23 ms per MiB for a 1-byte string in wasmoon (measured,
      -- Node 20), so rep("x", 400 << 20) held a worker for 9 s in one C call. Copying a unit of
      -- at least BLOCK bytes instead: 5.4 ms per MiB, the rest being the final `..` copy and the
      -- wasm heap's growth. The peak stays 2x (the body, then body + result while `..` copies).
      if l + lsep < BLOCK and type(s) == "string" and (sep == nil or type(sep) == "string") then
        local unit = sep and (s .. sep) or s
        local per = BLOCK // #unit + 1
        local body = rep(rep(unit, per), (ni - 1) // per)
        return body .. rep(unit, (ni - 1) % per) .. s
      end
    end
    return rep(s, ...)
  end

  -- Upper bound of format's result: the format's text, each argument's text (4x for %q, which
  -- escapes control bytes as \ddd) and 512 bytes per other argument (a %99.99f of 1e308 is ~410).
  function G.format(fmt, ...)
    if type(fmt) ~= "string" and is_error(fmt) then fmt = errmsg(fmt) end
    local n = select("#", ...)
    if type(fmt) == "string" and n > 0 then
      local b, sb = #fmt + 512 * n, 0
      for i = 1, n do
        local v = select(i, ...)
        if type(v) == "string" then sb = sb + #v
        elseif is_error(v) then sb = sb + #errmsg(v) end
      end
      if sb >= SMALL and find(fmt, "%q", 1, true) then sb = sb * 4 end
      b = b + sb
      if b >= SMALL then need(b, "string.format") end
    end
    return format(fmt, ...)
  end

  -- pack: every option writes at most 16 bytes plus alignment, `cN` writes N, `s`/`z` write their
  -- argument: 16 per format byte + every number in the format + every string argument.
  function G.pack(fmt, ...)
    if type(fmt) ~= "string" and is_error(fmt) then fmt = errmsg(fmt) end
    if type(fmt) == "string" then
      local b = #fmt * 16.0
      for d in gmatch(fmt, "%d+") do b = b + (tonumber(d) or 0) end
      for i = 1, select("#", ...) do
        local v = select(i, ...)
        if type(v) == "string" then b = b + #v end
      end
      need(b, "string.pack")
    end
    return pack(fmt, ...)
  end

  -- Same-size copies.
  for _, name in ipairs({ "upper", "lower", "reverse" }) do
    local f = C[name]
    G[name] = function(s, ...)
      if type(s) ~= "string" and is_error(s) then s = errmsg(s) end
      if type(s) == "string" and #s >= SMALL then need(#s, "string." .. name) end
      return f(s, ...)
    end
  end

  ---------------------------------------------------------------------------------------------
  -- PATTERN SLOT: find, match, gmatch, gsub.
  --
  -- The matcher is src/lua/lib/pattern.lua (a Lua implementation of Lua 5.4's, so it runs under the
  -- instruction hook and the reduction budget), exposed by the kernel as K.pattern with find, match,
  -- gmatch and gsub of string.*'s signatures; it decides itself when a call may take the C fast
  -- path. K.pattern is looked up on every call, so the load order of the two modules does not
  -- matter; without it the C functions run. This file only adds what the matcher does not own: the
  -- size guard on results.

  -- find / match: each capture is a copy of at most the whole subject (32 captures of a 60 MB
  -- subject are 1.9 GB), so a big subject is checked against (captures + 1) copies.
  local function captures(p)
    if type(p) ~= "string" then return 1 end
    local _, n = gsub(p, "%(", "")
    return n + 1
  end
  function G.find(s, p, init, plain)
    if type(s) ~= "string" and is_error(s) then s = errmsg(s) end
    if type(s) == "string" and #s >= SMALL and not plain then need(#s * captures(p), "string.find") end
    local M = K.pattern
    if M then return M.find(s, p, init, plain) end
    return find(s, p, init, plain)
  end
  function G.match(s, p, init)
    if type(s) ~= "string" and is_error(s) then s = errmsg(s) end
    if type(s) == "string" and #s >= SMALL then need(#s * captures(p), "string.match") end
    local M = K.pattern
    if M then return M.match(s, p, init) end
    return match(s, p, init)
  end
  function G.gmatch(s, p, init)
    if type(s) ~= "string" and is_error(s) then s = errmsg(s) end
    local M = K.pattern
    if M then return M.gmatch(s, p, init) end
    return gmatch(s, p, init)
  end

  -- gsub. A function or table replacement is wrapped to add up the lengths of the values it
  -- returns, and the call is stopped (memory error) once the result could pass the headroom. A
  -- string replacement on the C path is bounded before the call: each of at most min(#s, n) + 1
  -- matches adds the replacement's text (a %1 of a position capture adds up to 20 bytes), and every
  -- %N reference adds at most the whole subject over all matches (matches do not overlap).
  local function tallied(repl, sbytes)
    local room = headroom() - sbytes
    local total = 0
    local function add(v)
      if type(v) == "string" then
        total = total + #v
        if total > room then
          room = headroom() - sbytes -- garbage may have been counted: measure once more
          if total > room then doom(mem_error("string.gsub", sbytes + total)) end
        end
      end
      return v
    end
    if type(repl) == "table" then
      return function(k) return add(repl[k]) end
    end
    return function(...) return add(repl(...)) end
  end

  function G.gsub(s, p, repl, n)
    if type(s) ~= "string" and is_error(s) then s = errmsg(s) end
    local sl = len(s)
    local tr = type(repl)
    local M = K.pattern
    if sl and (tr == "function" or tr == "table") then
      repl = tallied(repl, sl)
    elseif sl and (tr == "string" or tr == "number") then
      local rs = tostring(repl)
      local m = sl + 1
      local ni = n ~= nil and int(n)
      if ni and ni >= 0 and ni < m then m = ni + 1 end
      local rl = #rs
      -- refs <= rl / 2: most calls are decided without counting them
      if sl + m * (rl + 10.0 * rl) + rl / 2 * sl >= SMALL then
        local _, refs = gsub(rs, "%%", "")
        need(sl + m * (rl + 20.0 * refs) + refs * (sl + 0.0), "string.gsub")
      end
    end
    if M then return M.gsub(s, p, repl, n) end
    return gsub(s, p, repl, n)
  end

  ---------------------------------------------------------------------------------------------
  -- The two tables.
  local LIB, METHODS = {}, {}
  for name, f in pairs(C) do
    if name ~= "dump" then
      local g = G[name]
      if g then
        LIB[name], METHODS[name] = g, g
      else
        METHODS[name] = f
        LIB[name] = function(s, ...)
          if type(s) ~= "string" and is_error(s) then s = errmsg(s) end
          return f(s, ...)
        end
      end
    end
  end
  -- split(s, sep): the pieces of s between the plain-text occurrences of sep, as an array (Wippy
  -- apps call it; Lua has none). An empty sep splits s into its UTF-8 characters; a string without
  -- sep is one piece; "a,,b" gives "a", "", "b". A Lua loop, so the count hook sees long inputs.
  local function split(str, sep)
    if type(str) ~= "string" then
      if is_error(str) then str = errmsg(str) else error("bad argument #1 to 'split' (string expected, got " .. type(str) .. ")", 2) end
    end
    if type(sep) ~= "string" then error("bad argument #2 to 'split' (string expected, got " .. type(sep) .. ")", 2) end
    local out, n = {}, 0
    if sep == "" then
      for ch in gmatch(str, "[\0-\x7F\xC2-\xFD][\x80-\xBF]*") do n = n + 1; out[n] = ch end
      return out
    end
    local at = 1
    while true do
      local i, j = find(str, sep, at, true)
      if not i then break end
      n = n + 1; out[n] = C.sub(str, at, i - 1)
      at = j + 1
    end
    out[n + 1] = C.sub(str, at)
    return out
  end
  LIB.split, METHODS.split = split, split
  K.safestring = LIB
  -- Strings share one metatable per Lua state: point it at the guarded methods and hide it, so no
  -- process can reach it (getmetatable("") is false) or tamper with it.
  local smt = getmt("")
  smt.__index = METHODS
  smt.__metatable = false

  ---------------------------------------------------------------------------------------------
  -- The table functions that build strings or loop in C.
  local T = {}
  for name, f in pairs(table) do T[name] = f end

  -- concat: the exact size, by a Lua loop over the range (so the hook counts it). A table with a
  -- metatable is read once, into a plain copy with the same indices, so __index runs once per
  -- element as it would in C.
  function T.concat(t, sep, i, j)
    if type(t) ~= "table" then return concat(t, sep, i, j) end
    local ii = i == nil and 1 or int(i)
    local jj
    if j == nil then jj = #t else jj = int(j) end
    if not ii or not jj or ii > jj then return concat(t, sep, i, j) end
    local lsep = 0
    if sep ~= nil then lsep = len(sep) or 0 end
    local src = t
    if getmt(t) ~= nil then
      src = {}
      for k = ii, jj do src[k] = t[k] end
    end
    local b = ((jj + 0.0) - ii) * lsep
    for k = ii, jj do
      local v = rawget(src, k)
      local tv = type(v)
      if tv == "string" then b = b + #v
      elseif tv == "number" then b = b + 24
      else break end -- C raises "invalid value (at index k)" for it
    end
    need(b, "table.concat")
    return concat(src, sep, ii, jj)
  end

  -- move: in chunks of MOVE_CHUNK elements, each charged to the reduction budget, so
  -- table.move(t, 1, 1 << 40, 2) is killed by the budget instead of holding the worker for hours.
  local MOVE_CHUNK = 1 << 14
  local MAXI = math.maxinteger
  function T.move(a1, f, e, t, a2)
    local fi, ei, ti = int(f), int(e), int(t)
    if not (fi and ei and ti) or ei < fi or (ei + 0.0) - fi < MOVE_CHUNK then
      return move(a1, f, e, t, a2)
    end
    move(a1, 1, 0, 1, a2) -- an empty move: the C argument checks of both tables
    if not (fi > 0 or ei < MAXI + fi) then error("bad argument #3 to 'move' (too many elements to move)", 2) end
    local n = ei - fi + 1
    if ti > MAXI - n + 1 then error("bad argument #4 to 'move' (destination wrap around)", 2) end
    local dst = a2
    if dst == nil then dst = a1 end
    local forward = ti > ei or ti <= fi or (a2 ~= nil and not (a1 == a2))
    if forward then
      local off = 0
      while off < n do
        local last = off + MOVE_CHUNK - 1
        if last >= n then last = n - 1 end
        charge(last - off + 1)
        move(a1, fi + off, fi + last, ti + off, dst)
        off = last + 1
      end
    else
      local last = n - 1
      while last >= 0 do
        local off = last - MOVE_CHUNK + 1
        if off < 0 then off = 0 end
        charge(last - off + 1)
        move(a1, fi + off, fi + last, ti + off, dst)
        last = off - 1
      end
    end
    return dst
  end

  -- insert / remove shift every element between the position and #t; a __len that lies
  -- (returns 2^50 on an empty table) makes that a C loop of 2^50 steps. Charged to the budget
  -- first when the table has a __len.
  local function len_of(t)
    local mt = getmt(t)
    if type(mt) == "table" and rawget(mt, "__len") ~= nil then return #t end
    return nil
  end
  function T.insert(t, ...)
    local n = select("#", ...)
    if n == 2 and type(t) == "table" then
      local e, pos = len_of(t), int((...))
      if e and pos then charge((e + 0.0) - pos) end
    end
    return insert(t, ...)
  end
  function T.remove(t, pos)
    if pos ~= nil and type(t) == "table" then
      local e, p = len_of(t), int(pos)
      if e and p then charge((e + 0.0) - p) end
    end
    return remove(t, pos)
  end
  K.safetable = T

  -- os.date formats with the C library's strftime, one call per conversion: 31 ms per thousand
  -- `%c` in wasmoon (measured, Node 20), so os.date(("%c"):rep(1e6)) held a worker for 31 s. Each
  -- conversion is charged DATE_COST reductions (at the default budget, 100M instructions for about
  -- a second, 31 µs is ~3,000), and the result (at most ~16 bytes per format byte) is size-checked.
  local DATE_COST = 4096
  local c_date = os.date
  function K.safe_os_date(fmt, ...)
    if type(fmt) == "string" and #fmt >= 64 then
      local _, conversions = gsub(fmt, "%%", "")
      charge(conversions * DATE_COST)
      need(#fmt * 16.0, "os.date")
    end
    return c_date(fmt, ...)
  end

  -- Lua's own "not enough memory" (the wasm heap's 2 GB ceiling) as the documented error. -> error
  -- object, or nil when v is something else.
  function K.memory_error(v)
    if v ~= "not enough memory" then return nil end
    return K.err("Internal", "memory limit exceeded: an allocation failed, the worker's Lua heap is " ..
      C.format("%.0f", gcount("count") / 1024) .. " MiB (wasm's ceiling is 2048 MiB)", false)
  end
end
