-- The sandbox: the globals a process sees, `require`, and compiling entry sources.
--
-- Library tables are shared read-only proxies; each process gets its own global table (two keys
-- of its own, _G and require; 80 bytes) whose misses fall through to SHARED, whose metatable is
-- hidden, so no process can reach SHARED itself (and through it, every other process's view of
-- the globals); what a process writes, however (x = v, _G.x, rawset(_G, ...)), lands in its own
-- table, and pairs(_G) lists only those keys. What differs from plain Lua:
--   * pcall / xpcall / coroutine.resume cannot swallow the kernel's kill of a doomed process (the
--     reduction budget, the memory cap, Lua's own "not enough memory"): it is raised again;
--   * coroutines get the budget hook, and a kernel block inside a user coroutine propagates to
--     the scheduler and back; coroutine.spawn starts a thread of the process;
--   * setmetatable refuses __gc (finalisers run with hooks off, outside the budget);
--   * rawset refuses the shared read-only proxies; string has no dump (safestring.lua);
--   * the Lua 5.1-era names the Wippy docs list are there: global unpack, math.pow, log10,
--     atan2, cosh, sinh, tanh;
--   * require resolves only the entry's `modules` (built-ins) and `imports` (library entries),
--     plus `process`, and `io` on a terminal host.
--
-- Owns: SHARED, the built-in module table (init.lua registers modules in it), readonly proxies,
-- compiled chunks (one per entry per worker), make_env, require (one per entry) and each
-- process's loaded modules (LOADED, weak by process record).
-- Receives: run (run.cp, run.cur), hook, new_thread, ready, BLOCK (sched.lua); the error helpers;
-- safestring, safetable, sandbox_math, safe_os_date (safestring.lua, random.lua); errors (the
-- `errors` global), channel; write (H.write); entries.
return function(deps)
  local run, hook, new_thread, ready, BLOCK = deps.run, deps.hook, deps.new_thread, deps.ready, deps.BLOCK
  local err, is_error, errmsg, memory_error = deps.err, deps.is_error, deps.error_message, deps.memory_error
  local write, entries = deps.write, deps.entries
  local type, tostring, select, next, setmetatable, error, rawget, ipairs =
    type, tostring, select, next, setmetatable, error, rawget, ipairs
  local co_status = coroutine.status
  local tpack, tunpack = table.pack, table.unpack

  local M = {}

  local PROXIES = setmetatable({}, { __mode = "k" })
  local function readonly(t, name)
    local proxy = {}
    PROXIES[proxy] = true
    return setmetatable(proxy, {
      __index = t,
      __newindex = function() error("attempt to modify read-only table '" .. name .. "'", 2) end,
      __metatable = false,
      __pairs = function() return next, t, nil end,
    })
  end
  M.readonly = readonly

  local raw_resume, raw_yield, raw_create = coroutine.resume, coroutine.yield, coroutine.create
  -- An error caught by the sandbox's pcall / xpcall / coroutine.resume: a doomed process (budget,
  -- memory cap) or Lua's own "not enough memory" is raised again, so catching it cannot keep the
  -- process alive.
  local function check_doom(e)
    local P = run.cp
    if not P then return end
    if not P.doomed then P.doomed = memory_error(e) or false end
    if P.doomed then error(P.doomed, 0) end
  end
  -- A kernel block inside a user coroutine propagates to the scheduler and back (the outer
  -- thread parks; its wake values are passed down into the inner coroutine).
  local function sb_resume(co, ...)
    local r = tpack(raw_resume(co, ...))
    while r[1] and r[2] == BLOCK and co_status(co) == "suspended" do
      r = tpack(raw_resume(co, raw_yield(BLOCK)))
    end
    if not r[1] then check_doom(r[2]) end
    return tunpack(r, 1, r.n)
  end
  local function sb_wrap(fn)
    local co = raw_create(fn)
    if run.cp then hook(co, run.cp) end
    return function(...)
      local r = tpack(sb_resume(co, ...))
      if not r[1] then error(r[2], 2) end
      return tunpack(r, 2, r.n)
    end
  end
  local function co_spawn(fn)
    if type(fn) ~= "function" then error("bad argument #1 to 'spawn' (function expected)", 2) end
    local P = run.cur.proc
    local T = new_thread(P, fn)
    ready(T, 0)
    return T.co
  end
  local function sb_create(fn)
    local co = raw_create(fn)
    local P = run.cp
    if P then hook(co, P) end
    return co
  end
  local sandbox_coroutine = {
    create = sb_create, resume = sb_resume, yield = coroutine.yield, status = coroutine.status,
    wrap = sb_wrap, isyieldable = coroutine.isyieldable, running = coroutine.running,
    close = coroutine.close, spawn = co_spawn,
  }

  -- Values joined for output (print, io.*): error objects by their message.
  local function join_values(sep, ...)
    local n = select("#", ...)
    local parts = {}
    for i = 1, n do
      local v = select(i, ...)
      parts[i] = is_error(v) and errmsg(v) or tostring(v)
    end
    return table.concat(parts, sep)
  end
  M.join_values = join_values

  local print_out = function(...)
    write(1, join_values("\t", ...) .. "\n")
  end

  -- rawset would write into the (shared) proxy tables themselves, bypassing __newindex.
  local raw_set = rawset
  local function sb_rawset(t, k, v)
    if PROXIES[t] then error("attempt to modify a read-only table", 2) end
    return raw_set(t, k, v)
  end

  -- pcall/xpcall that cannot swallow the kernel's kill of a doomed process (reduction budget,
  -- memory cap).
  local raw_pcall, raw_xpcall = pcall, xpcall
  local function rethrow_doom(ok, ...)
    if not ok then check_doom((...)) end
    return ok, ...
  end
  local function sb_pcall(f, ...) return rethrow_doom(raw_pcall(f, ...)) end
  local function sb_xpcall(f, h, ...) return rethrow_doom(raw_xpcall(f, h, ...)) end
  M.pcall = sb_pcall -- for built-in modules that run user callbacks (the test module)

  -- Finalisers run with hooks off (Lua disables hooks inside __gc), so one could loop outside the
  -- reduction budget and hold the worker for ever. Lua 5.4 marks an object for finalisation only
  -- if its metatable has __gc when setmetatable is called (a __gc added later is never run), so
  -- refusing it here closes finalisers for the sandbox. Running them under a budget instead was
  -- rejected: a hook cannot be installed inside a finaliser, and a deferred queue of finalisers
  -- run later from the scheduler would still need the object alive (resurrection) and an owner
  -- to charge. Userdata (the only other way to get __gc) cannot be made by a process.
  local raw_setmetatable = setmetatable
  local function sb_setmetatable(t, mt)
    if type(mt) == "table" and rawget(mt, "__gc") ~= nil then
      error(err("Invalid", "setmetatable: __gc metamethods are not allowed (finalisers would run " ..
        "outside the reduction budget)", false), 2)
    end
    return raw_setmetatable(t, mt)
  end

  -- The Wippy docs' standard-library page lists globals and math functions that Lua 5.4 dropped
  -- (Lua 5.1's global unpack; math.pow, log10, atan2, cosh, sinh, tanh): apps written from the
  -- docs use them, so the sandbox provides them on top of the 5.4 library (pow is x ^ y, log10 is
  -- math.log(x, 10), atan2 is math.atan(y, x); the hyperbolics from exp, with the odd ones by
  -- their series near 0 so tiny arguments keep their precision).
  local exp, abs = math.exp, math.abs
  local function with_compat(m)
    local t = {}
    for k, v in pairs(m) do t[k] = v end
    local log, atan = m.log, m.atan
    t.pow = t.pow or function(x, y) return x ^ y end
    t.log10 = t.log10 or function(x) return log(x, 10) end
    t.atan2 = t.atan2 or function(y, x) return atan(y, x) end
    t.cosh = t.cosh or function(x) return (exp(x) + exp(-x)) / 2 end
    t.sinh = t.sinh or function(x)
      if abs(x) < 1e-5 then return x + x * x * x / 6 end
      return (exp(x) - exp(-x)) / 2
    end
    t.tanh = t.tanh or function(x)
      if abs(x) < 1e-5 then return x - x * x * x / 3 end
      if x > 20 then return 1.0 elseif x < -20 then return -1.0 end
      local a, b = exp(x), exp(-x)
      return (a - b) / (a + b)
    end
    return t
  end

  local SHARED = {
    assert = assert, error = error, ipairs = ipairs, next = next, pairs = pairs, pcall = sb_pcall,
    xpcall = sb_xpcall, rawequal = rawequal, rawget = rawget, rawlen = rawlen, rawset = sb_rawset,
    select = select, tonumber = tonumber, tostring = tostring, type = type,
    setmetatable = sb_setmetatable, getmetatable = getmetatable,
    _VERSION = _VERSION, print = print_out,
    string = readonly(deps.safestring, "string"), table = readonly(deps.safetable, "table"),
    math = readonly(with_compat(deps.sandbox_math), "math"), utf8 = readonly(utf8, "utf8"),
    unpack = deps.safetable.unpack,
    coroutine = readonly(sandbox_coroutine, "coroutine"),
    os = readonly({ time = os.time, clock = os.clock, date = deps.safe_os_date, difftime = os.difftime,
      platform = "wippy" }, "os"),
    errors = readonly(deps.errors, "errors"),
    channel = readonly(deps.channel, "channel"),
  }
  local ENV_MT = { __index = SHARED, __metatable = false }

  -- The `process` global and require("process") (process.lua, wired by init.lua).
  function M.set_process(p) SHARED.process = p end
  -- The typed-Lua runtime (lib/types.lua) adds its globals: __types for compiled code, callable
  -- number/integer/boolean, and a __call on the string proxy's metatable (casts).
  function M.install_types(types)
    types.install(SHARED, debug.getmetatable(SHARED.string), readonly)
  end

  -- Built-in modules `require` can load when listed in an entry's `modules`.
  local builtin = {}
  M.builtin = builtin

  ---------------------------------------------------------------------------------------------
  -- Compiling: an entry's source is one chunk, compiled once per worker, run in a fresh env.
  local compiled = {} -- entry id -> chunk
  local function compile(E, id)
    local f = compiled[id]
    if f then return f end
    local src = E.source
    local cerr
    f, cerr = load("local _ENV = ...; " .. src, "@" .. (E.file or id), "t")
    if not f then return nil, cerr end
    compiled[id] = f
    return f
  end
  M.compile = compile
  function M.invalidate(id) compiled[id] = nil end

  local make_env
  -- `require`. Which names resolve is the entry's (its `modules` and `imports`); what was loaded is
  -- the process's. So one require function per entry per worker (REQUIRE[E]), shared by every
  -- process running it, and one `loaded` table per process, made at its first require (but not
  -- for a built-in module of an entry without imports: below; LOADED[P];
  -- a process is the one running, run.cp, whenever its code runs: its resumes, its module's
  -- top-level code, its __close and __tostring, all set run.cp). A process's own entry and the
  -- libraries it imports share its `loaded`; instantiating a process's code (spawn, upgrade) starts
  -- a new one. Rejected: a closure per process over (E, P, loaded) with its `allowed` and `imports`
  -- tables, what this replaced: 208 more bytes of Lua heap per process (measured, hold), most of
  -- it for nothing (a process that never calls require).
  local LOADED = setmetatable({}, { __mode = "k" }) -- process record -> name -> module value
  local REQUIRE = setmetatable({}, { __mode = "k" }) -- entry -> its require
  local function require_for(E)
    local req = REQUIRE[E]
    if req then return req end
    local allowed = {}
    for _, m in ipairs(E.modules or {}) do allowed[m] = true end
    local imports = E.imports or {}
    local solo = next(imports) == nil
    req = function(name)
      local P = run.cp
      -- A built-in module the entry lists, for an entry that imports no library: one value for
      -- every process, so what `loaded` would keep for it is that value again, and no other
      -- entry's require ever reads this process's `loaded` (only a library, loaded through
      -- `imports`, shares it; an upgrade starts a new one). Returned without the per-process
      -- table: most processes require only built-ins, and then never make one (80 bytes and an
      -- entry in the weak LOADED per spawn). Tested before the argument's type (a call to
      -- `type` and a string compare less per require): it answers only for a name `builtin`
      -- holds, and every key of `builtin` is a string (init.lua registers modules by name), so
      -- a name that is not a string still gets the error below, and no process running still
      -- gets its own.
      if solo and P and allowed[name] then
        local b = builtin[name]
        if b ~= nil then return b end
      end
      if type(name) ~= "string" then error("bad argument #1 to 'require' (string expected)", 2) end
      if not P then error("require: no process is running", 2) end
      local loaded = LOADED[P]
      if not loaded then loaded = {}; LOADED[P] = loaded end
      local v = loaded[name]
      if v ~= nil then return v end
      if name == "process" then return SHARED.process end
      if name == "io" and P.terminal then v = builtin.io
      elseif allowed[name] and builtin[name] then v = builtin[name]
      else
        local lib = imports[name]
        if lib then
          local LE = entries[lib]
          if not LE then error("module '" .. name .. "' not found: entry " .. lib .. " is not loaded", 2) end
          local f, cerr = compile(LE, lib)
          if not f then error("module '" .. name .. "': " .. tostring(cerr), 2) end
          v = f(make_env(LE, P, loaded))
          if v == nil then v = true end
        elseif name == "io" then
          error("module 'io' is only available to processes on a terminal host", 2)
        else
          error("module '" .. name .. "' not found: list it in the entry's modules or imports", 2)
        end
      end
      loaded[name] = v
      return v
    end
    REQUIRE[E] = req
    return req
  end

  -- A fresh global table for process P running entry E: two keys of its own (_G, require), every
  -- other global read through ENV_MT from SHARED. `loaded` nil: P's code is being instantiated
  -- (spawn, upgrade), so its modules load afresh; else the table of the process's require that
  -- loads library E.
  make_env = function(E, P, loaded)
    -- (read first: a nil stored under a key the table lacks takes the VM's slow path, and a
    -- new process has none)
    if loaded == nil and LOADED[P] ~= nil then LOADED[P] = nil end
    local env = setmetatable({ _G = false, require = require_for(E) }, ENV_MT)
    env._G = env
    return env
  end
  -- Our module's C (native/lua/lenv.c; nil on wasmoon's module and with WIPPY_CSCHED=0): make_env
  -- and compile's cache hit, the same steps on the same tables, without two Lua calls (and
  -- require_for's and setmetatable's) per spawn.
  if deps.envmaker then
    local lua_compile = compile
    make_env, compile = deps.envmaker(LOADED, REQUIRE, require_for, ENV_MT, compiled, lua_compile)
    M.compile = compile
  end
  M.make_env = make_env

  return M
end
