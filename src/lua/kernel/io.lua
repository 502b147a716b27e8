-- The terminal `io` module (lua__system__io.md). `require("io")` resolves only for processes on a
-- terminal host; elsewhere it fails. Output goes to the main thread as "w" frames on the same
-- ordered channel as everything else this worker sends, so a command's output is always written
-- before the runtime sees its EXIT and shuts down. Reads park the process until the worker's
-- event loop answers (rpc.lua's await_host): readline() a line without its newline; read(n) up
-- to n bytes (default 1024) as they arrive, newlines included, at most one line per call.
--
-- Owns: the io module table.
-- Receives: H (write, stdin_read), run (run.cp), err, join_values (sandbox.lua), await_host.
return function(deps)
  local H, run, err, join, await_host = deps.H, deps.run, deps.err, deps.join_values, deps.await_host
  local type, tonumber = type, tonumber

  local function terminal()
    local P = run.cp
    if not P or not P.terminal then return nil, err("Unavailable", "no terminal context", false) end
    return P
  end

  local io = {}
  function io.write(...)
    local P, terr = terminal(); if not P then return false, terr end
    H.write(1, join("", ...))
    return true
  end
  function io.print(...)
    local P, terr = terminal(); if not P then return false, terr end
    H.write(1, join("\t", ...) .. "\n")
    return true
  end
  function io.eprint(...)
    local P, terr = terminal(); if not P then return false, terr end
    H.write(2, join("\t", ...) .. "\n")
    return true
  end
  function io.flush()
    local P, terr = terminal(); if not P then return false, terr end
    return true
  end
  function io.args()
    local P = terminal()
    local out = {}
    if P and P.args then
      for i = 1, P.args.n do
        local a = P.args[i]
        if type(a) == "string" then out[#out + 1] = a end
      end
    end
    return out
  end
  local function read(mode, n)
    local P, terr = terminal(); if not P then return nil, terr end
    local v, rerr = await_host(function(req, pid) H.stdin_read(req, pid, mode, n or 0) end)
    if v == nil and rerr == nil then return nil, err("Internal", "end of input", false) end
    return v, rerr
  end
  function io.readline() return read(1) end
  function io.read(n)
    n = tonumber(n) or 1024
    if n <= 0 then n = 1024 end
    n = math.floor(math.min(n, 1 << 30)) -- the host reads an integer
    return read(2, n)
  end
  function io.raw(enable)
    local P, terr = terminal(); if not P then return false, terr end
    return true
  end
  return io
end
