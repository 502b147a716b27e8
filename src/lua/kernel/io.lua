-- The terminal `io` module (lua__system__io.md). `require("io")` resolves only for processes on a
-- terminal host; elsewhere it fails. Output goes to the main thread as "w" frames on the same
-- ordered channel as everything else this worker sends, so a command's output is always written
-- before the runtime sees its EXIT and shuts down.
return function(K)
  local H = K.H
  local type = type

  local function terminal()
    local P = K.cp
    if not P or not P.terminal then return nil, K.err("Unavailable", "no terminal context", false) end
    return P
  end

  local join = K.join_values

  local io = {}
  function io.write(...)
    local P, err = terminal(); if not P then return false, err end
    H.write(1, join("", ...))
    return true
  end
  function io.print(...)
    local P, err = terminal(); if not P then return false, err end
    H.write(1, join("\t", ...) .. "\n")
    return true
  end
  function io.eprint(...)
    local P, err = terminal(); if not P then return false, err end
    H.write(2, join("\t", ...) .. "\n")
    return true
  end
  function io.flush()
    local P, err = terminal(); if not P then return false, err end
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
    local P, err = terminal(); if not P then return nil, err end
    local v, rerr = K.await_host(function(req, pid) H.stdin_read(req, pid, mode, n or 0) end)
    if v == nil and rerr == nil then return nil, K.err("Internal", "end of input", false) end
    return v, rerr
  end
  function io.readline() return read(1) end
  function io.read(n)
    n = tonumber(n) or 1024
    if n <= 0 then n = 1024 end
    return read(2, n)
  end
  function io.raw(enable)
    local P, err = terminal(); if not P then return false, err end
    return true
  end
  return io
end
