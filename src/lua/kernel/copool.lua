-- Coroutines of processes that returned, kept for the next spawns.
--
-- A coroutine is the largest object a spawn makes: its lua_State and 45-slot stack (856 bytes
-- on wasm32), the CallInfos and stack growth of its first resume (~100 more), then the
-- collector's traversal and free. Measured with the spawn-exit bench (a driver spawning
-- monitored children that return at once; docs/design/native-core.md, "The cost of a spawn"):
-- ~960 of the ~2,700 bytes a monitored spawn+exit allocates. So a process's main thread whose
-- body returned is given back here (lifecycle.lua thread_done), and the next spawn on this
-- worker takes it (spawn.lua: the main thread, and the coroutine a frame-started spawn's chunk
-- runs in) instead of making one.
--
-- Protocol. give(co, P): P's main thread `co` returned normally (thread_done); nothing of P
-- runs again, and the kernel reads a dead thread's coroutine only for a process that is alive
-- (sched.lua resume_thread checks first) or before its exit is finalized (crash_report), so
-- no one can resume it as P's. take(fn, P) -> a coroutine that runs fn, for P: a kept one that
-- `rebind` (native/lua/lproc.c) made fresh, else coroutine.create; the caller hooks it as any
-- new one (sched.lua new_thread, spawn.lua run_chunk: sched.lua hook). rebind accepts only a coroutine that is dead after a normal
-- return (the C checks it: anything else is left alone and a new one is made), so a coroutine
-- handed in by mistake costs a creation, never a resume of the wrong body.
--
-- Hooks. A coroutine keeps its count hook; so there are two stacks, hooked and not (P's host
-- sets a budget, or the worker a memory cap: the rule of sched.lua hook), and a reused hooked
-- one is hooked again by the caller (which restarts its instruction count, as for a new one).
--
-- Bounds. At most MAX per stack; the stacks are weak, so a collection cycle frees what is kept
-- (a worker that stopped spawning does not hold them). Not on wasmoon's module (no rebind):
-- take makes a coroutine per spawn, give does nothing.
--
-- Rejected: a Lua trampoline that loops over bodies (no C needed): every process's main thread
-- would run one frame below a kernel function, visible in its tracebacks and its stack depth,
-- and a body that errors kills the trampoline anyway.
--
-- Owns: the two stacks. Receives: rebind (wippy.native, or nil), mem_cap_kb.
return function(deps)
  local rebind, mem_cap_kb = deps.rebind, deps.mem_cap_kb
  local co_create = coroutine.create

  local M = {}
  -- Kept per stack: a spawn-exit driver gets up to its window of EXITs (1,000 in the bench) in
  -- one resume and spawns as many; past MAX the rest are left to the collector.
  local MAX = 1024
  -- A stack: [1..n] coroutines (an entry below n may have been cleared by the collector), n its top.
  local hooked = setmetatable({ n = 0 }, { __mode = "v" })
  local plain = setmetatable({ n = 0 }, { __mode = "v" })
  -- The records of processes that ended after one resume (their own stacks, the same form and
  -- bound): lexit.c gives a process record and its main thread's record here, and the C spawn
  -- (lspawn.c) takes them back, checked and reset to a new record's state (native/lua/lrecpool.h;
  -- docs/design/native-core.md, "Session 14: recycled process records"). The Lua never uses them.
  local qpool = setmetatable({ n = 0 }, { __mode = "v" })
  local tpool = setmetatable({ n = 0 }, { __mode = "v" })

  function M.take(fn, P)
    if rebind then
      local s = (P.budget or mem_cap_kb) and hooked or plain -- (stack_of inline)
      local n = s.n
      while n > 0 do
        local co = s[n]
        s[n] = nil
        n = n - 1
        if co and rebind(co, fn) then s.n = n; return co end
      end
      s.n = 0
    end
    return co_create(fn)
  end

  -- take's and give's state, for the C of a process's start and end (native/lua/lspawn.c): it
  -- finds these locals by name among probe's upvalues and does take's and give's steps on them
  function M.probe() return rebind, co_create, hooked, plain, mem_cap_kb, MAX, qpool, tpool end

  if not rebind then
    function M.give() end
    return M
  end

  function M.give(co, P)
    local s = (P.budget or mem_cap_kb) and hooked or plain -- (stack_of inline)
    local n = s.n
    if n < MAX then n = n + 1; s[n] = co; s.n = n end
  end

  -- Kept now (tests).
  function M.count()
    local n = 0
    for i = 1, hooked.n do if hooked[i] then n = n + 1 end end
    for i = 1, plain.n do if plain[i] then n = n + 1 end end
    return n
  end

  return M
end
