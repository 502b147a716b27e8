-- math.random / math.randomseed, one generator per process.
--
-- Why. Lua keeps one generator per Lua state, and a worker's state holds every process bound to it:
-- with the C functions, a process calling math.randomseed(1) fixed the "random" numbers of every
-- other process of its worker (session tokens, jitter, sampling), and could read the stream they
-- draw from. Here each process has its own state, P.rng.
--
-- The generator is Lua 5.4's own, xoshiro256** on 64-bit integers (Lua integers wrap like the C
-- unsigned arithmetic; >> is a logical shift), with the same seeding (state {n1, 0xff, n2, 0}, 16
-- outputs discarded), the same float projection (top 53 bits * 2^-53) and the same unbiased integer
-- projection (mask to the next 2^b - 1, retry above n). So `math.randomseed(x, y)` followed by the
-- same calls gives the same numbers as the C library (test/sandbox.test.ts checks this against the
-- wasm build's C math.random), and every argument form, range and error message is Lua 5.4's.
--
-- Seeding. A process that never seeds gets 256 bits from the host's crypto.getRandomValues
-- (H.entropy) at its first call, not at spawn: most processes never draw a number, and the
-- generator is invisible until then, so the two are indistinguishable and spawn stays cheap.
-- `math.randomseed()` without arguments reseeds the same way. Seeding from a worker-level
-- generator instead was rejected: xoshiro's state can be recovered from four outputs, so a process
-- could learn its neighbours' seeds.
--
-- Cost (measured, Node 20, a loaded 2-core machine): random() 1.5 µs, random(1, 100) ~4 µs, against
-- 0.3 µs for the C function; the generator is inlined in random(). Not on any kernel path.
return function(K)
  local H = K.H
  local type, tonumber, error, select = type, tonumber, error, select
  local tointeger, ult, mtype = math.tointeger, math.ult, math.type

  local function rotl(x, n) return (x << n) | (x >> (64 - n)) end

  local function nextrand(s)
    local s0, s1, s2, s3 = s[1], s[2], s[3], s[4]
    local res = rotl(s1 * 5, 7) * 9
    local t = s1 << 17
    s2 = s2 ~ s0
    s3 = s3 ~ s1
    s1 = s1 ~ s2
    s0 = s0 ~ s3
    s2 = s2 ~ t
    s3 = rotl(s3, 45)
    s[1], s[2], s[3], s[4] = s0, s1, s2, s3
    return res
  end

  local function setseed(s, n1, n2)
    s[1], s[2], s[3], s[4] = n1, 0xff, n2, 0
    for _ = 1, 16 do nextrand(s) end
  end

  local function strong_seed(s)
    local a, b, c, d = H.entropy()
    s[1], s[2], s[3], s[4] = a, b, c, d
    if a | b | c | d == 0 then s[2] = 0xff end -- the all-zero state is a fixed point
  end

  local worker_rng -- for calls outside any process (kernel code); processes never see it
  local function state()
    local P = K.cp
    local s
    if P then s = P.rng else s = worker_rng end
    if s then return s end
    s = {}
    strong_seed(s)
    if P then P.rng = s else worker_rng = s end
    return s
  end

  -- luaL_checkinteger / luaL_optinteger, with their messages. Level 0: a C function's errors carry
  -- no position, and these must read the same.
  local function checkint(v, i, fname)
    local t = type(v)
    local n = v
    if t == "string" then n = tonumber(v) end
    if type(n) == "number" then
      local r = tointeger(n)
      if r then return r end
      error("bad argument #" .. i .. " to '" .. fname .. "' (number has no integer representation)", 0)
    end
    error("bad argument #" .. i .. " to '" .. fname .. "' (number expected, got " .. t .. ")", 0)
  end

  -- project: a uniform integer in [0, n] (n unsigned) from ran, as Lua 5.4's.
  local function project(ran, n, s)
    if n & (n + 1) == 0 then return ran & n end
    local lim = n
    lim = lim | (lim >> 1)
    lim = lim | (lim >> 2)
    lim = lim | (lim >> 4)
    lim = lim | (lim >> 8)
    lim = lim | (lim >> 16)
    lim = lim | (lim >> 32)
    ran = ran & lim
    while ult(n, ran) do ran = nextrand(s) & lim end
    return ran
  end

  local function random(...)
    local P = K.cp
    local s
    if P then s = P.rng else s = worker_rng end
    if not s then s = state() end
    -- nextrand, inlined: a call costs as much as the arithmetic in wasmoon
    local s0, s1, s2, s3 = s[1], s[2], s[3], s[4]
    local m = s1 * 5
    local rv = ((m << 7) | (m >> 57)) * 9
    local t = s1 << 17
    s2 = s2 ~ s0
    s3 = s3 ~ s1
    s[1], s[2], s[3], s[4] = s0 ~ s3, s1 ~ s2, s2 ~ t, (s3 << 45) | (s3 >> 19)
    local nargs = select("#", ...)
    local low, up
    if nargs == 0 then
      return (rv >> 11) * 0x1p-53
    elseif nargs == 1 then
      up = ...
      if mtype(up) ~= "integer" then up = checkint(up, 1, "math.random") end
      if up == 0 then return rv end
      low = 1
    elseif nargs == 2 then
      low, up = ...
      if mtype(low) ~= "integer" then low = checkint(low, 1, "math.random") end
      if mtype(up) ~= "integer" then up = checkint(up, 2, "math.random") end
    else
      error("wrong number of arguments", 0)
    end
    if not (low <= up) then error("bad argument #1 to 'math.random' (interval is empty)", 0) end
    return project(rv, up - low, s) + low
  end

  local function randomseed(...)
    local s = state()
    if select("#", ...) == 0 then
      strong_seed(s)
      return s[1], s[2]
    end
    local a, b = ...
    local n1 = checkint(a, 1, "math.randomseed")
    local n2 = 0
    if b ~= nil then n2 = checkint(b, 2, "math.randomseed") end
    setseed(s, n1, n2)
    return n1, n2
  end

  local M = {}
  for k, v in pairs(math) do M[k] = v end
  M.random, M.randomseed = random, randomseed
  K.sandbox_math = M
  return M
end
