-- The WebAssembly bodies: what runs inside a process of a `process.wasm` entry, and inside the
-- function frame funcs.call / funcs.async start for a `function.wasm` / `function.wat` entry.
--
-- Shape. A body in spawn.lua's sense ({ prepare, instantiate, pid_host, queueable }); this file
-- returns the table of them by entry kind, given to spawn as `bodies` (one line in init.lua). So
-- a WASM process is a kernel process like any other: its PID, mailbox, monitors, links, EXIT,
-- CANCEL deadline and terminate are the kernel's, unchanged. Only its main function differs: it
-- does not run the guest. WebAssembly runs on the main thread's piscina pools (src/wasm/), and a
-- looping guest must never hold this worker's Lua state, so main() sends one request to the main
-- thread and parks its coroutine until the answer, as any rpc does; the worker meanwhile runs its
-- other processes.
--
-- The protocol (frames in src/wire/spec.ts; the main thread's side is src/runtime/wasm.ts):
--   main(...)  -> {"wcall", SELF, pid, req, id, args, ctx}   to thread 0 (rpc.call: P parks,
--                                                            counted pending, not deadlocked)
--              <- {"rep", pid, req, values, err}              values: { } or { v }; err: the
--                                                            call's error (kinds of docs/wasm.md)
--   main returns values[1], or nil, err: the EXIT's result.value, or result.error with the kind
--   and message of the call error (a trap: Internal "wasm trap: unreachable").
--   {"wstop", pid} to thread 0 stops the running call (its pool thread is terminated and
--   replaced; the "rep" that still follows finds P gone and is dropped). Sent when
--     * P exits before its call answered (terminate, a CANCEL's deadline passing, a linked
--       process failing, shutdown): P.on_exit, which lifecycle.lua's notify_exit calls;
--     * a WASM *function* frame receives a CANCEL (its caller's timeout, Future:cancel, the
--       caller cancelled or gone): at once, through lifecycle's on_cancel hooks. A function's
--       caller has stopped waiting by then, so nothing is gained by letting the guest run on.
--       A process.wasm instead keeps running until the CANCEL's deadline (a guest cannot observe
--       a CANCEL), then the kernel terminates it, as any process.
-- One call per process, so the PID names the call on the main thread.
--
-- Context. `ctx` is the process's context (P.ctx: values, actor, scope as the caller passed
-- them); the main thread hands it to WasmFunctions, which keeps it with the call (no WASI
-- interface shows it to a guest yet). The `funcs.call` permission is checked by funcs.lua on the
-- caller before the frame exists, as for Lua functions.
--
-- PIDs. A process.wasm PID is `{<host>|0x…}` like a Lua process. A WASM function frame follows
-- the function-frame PID-host rule of function.lua (W.fn_host: `<entry id>#lua.<tid>`, valid
-- whatever the process hosts are; the mark names that rule, not the language), so every
-- `locate` of it works unchanged. Bodies are not queueable: the Lua side of a WASM process only
-- waits, so spreading it over the host's workers would buy nothing and cost a hop.
--
-- Receives: rpc (rpc.lua's call), post (pids.lua), on_cancel (lifecycle.lua), err, wire (W.wstop,
-- W.fn_host).
-- Alternatives rejected: a WASM process as a JS-side object beside the kernel (the process
-- table, monitors, links, names and events would need a second implementation on the main
-- thread); running the guest in the worker (a loop would hold every process of the worker).
return function(deps)
  local rpc, post, on_cancel, W = deps.rpc, deps.post, deps.on_cancel, deps.wire
  local err = deps.err
  local select = select
  local wstop, fn_host = W.wstop, W.fn_host
  local function new_error(kind, msg) return err(kind, msg, false) end

  -- Nothing to compile here: the main thread loads, hash-checks and compiles the entry on its
  -- first call (a failure there is this process's EXIT error).
  local function prepare(Ent) return Ent end

  -- `stop_on_cancel`: a function frame stops its call at once when it receives a CANCEL. The
  -- hooks are set here, before main runs: a CANCEL (or an exit) can reach the process between
  -- its spawn and its first step (a caller that returns right after funcs.async), and a frame
  -- cancelled by then never starts its call.
  local function instantiate_with(stop_on_cancel)
    return function(Ent, _, P)
      local id = P.id
      local pending, canceled = false, false
      local function stop()
        if pending then pending = false; post(0, wstop(P.pid)) end
      end
      P.on_exit = stop
      if stop_on_cancel then on_cancel(P, function() canceled = true; stop() end) end
      return function(...)
        if canceled then return nil, new_error("Canceled", id .. ": call canceled before it started") end
        local args = { n = select("#", ...), ... }
        pending = true
        local values, err = rpc(0, "wcall", id, args, P.ctx or false)
        pending = false
        if err ~= nil then return nil, err end
        return values and values[1]
      end
    end
  end

  local process_body = {
    prepare = prepare, instantiate = instantiate_with(false), queueable = false,
    pid_host = function(_, host) return host end,
  }
  local function_body = {
    prepare = prepare, instantiate = instantiate_with(true), queueable = false,
    pid_host = function(id, _, tid) return fn_host(id, tid) end,
  }
  return {
    ["process.wasm"] = process_body,
    ["function.wasm"] = function_body,
    ["function.wat"] = function_body,
  }
end
