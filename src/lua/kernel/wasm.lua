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
--   A guest importing wippy:mailbox (src/wasm/host.ts) reads this process's mailbox and sends as
--   this process. Each such request ends the current rpc early: the "rep" value is the request,
--              { step = "recv", timeout_ms? }  or  { step = "send", to, topic, payload }
--   and main serves it here, in the process, then answers and parks again:
--              -> {"wstep", SELF, pid, req, answer}  rep: the next request, or the end as above
--   recv is process.receive: the next inbox message or lifecycle event (so a guest sees its
--   CANCEL), waiting at most timeout_ms (and at most limit_ms, what is left of the entry's
--   max_execution_ms: a wait cut by that answers { expired = true }, and the main thread answers
--   the "wstep" with the call's Timeout end instead of resuming the guest); the answer is
--   { topic, from, payload } (an event: topic = its kind, payload = its fields) or false on
--   timeout. send is process.send, with this
--   process's permissions; the answer is true or { error = message }. So the mailbox stays the
--   kernel's (order, topics, the unread bound), and the process is idle while its guest waits.
--   This is the Init / Step / Close of a WASM process: Init is the spawn and the first "wcall"
--   (instantiate, arguments captured; a failure is the EXIT error), each request a Step (the guest
--   suspended, the Lua side running), Close the EXIT (the instance is released on its thread).
--   {"wstop", pid} to thread 0 stops the running call (its pool thread is terminated and
--   replaced; the "rep" that still follows finds P gone and is dropped). Sent when
--     * P exits before its call answered (terminate, a CANCEL's deadline passing, a linked
--       process failing, shutdown): P.on_exit, which lifecycle.lua's notify_exit calls;
--     * a WASM *function* frame receives a CANCEL (its caller's timeout, Future:cancel, the
--       caller cancelled or gone): at once, through lifecycle's on_cancel hooks. A function's
--       caller has stopped waiting by then, so nothing is gained by letting the guest run on.
--       A process.wasm instead keeps running until the CANCEL's deadline (a guest importing
--       wippy:mailbox receives the CANCEL and may finish first), then the kernel terminates it,
--       as any process.
-- One call per process, so the PID names the call on the main thread.
--
-- Context. `ctx` is what the guest sees through wippy:context: the process's context values
-- (P.ctx.values), its actor (encoded { id, meta }) and scope (policy ids) — the caller's, as the
-- spawn or funcs.call passed them on. The `funcs.call` permission is checked by funcs.lua on the
-- caller before the frame exists, as for Lua functions.
--
-- PIDs. A process.wasm PID is `{<host>|0x…}` like a Lua process. A WASM function frame follows
-- the function-frame PID-host rule of function.lua (W.fn_host: `<entry id>#lua.<tid>`, valid
-- whatever the process hosts are; the mark names that rule, not the language), so every
-- `locate` of it works unchanged. Bodies are not queueable: the Lua side of a WASM process only
-- waits, so spreading it over the host's workers would buy nothing and cost a hop.
--
-- Receives: rpc (rpc.lua's call), post (pids.lua), on_cancel (lifecycle.lua), err, wire (W.wstop,
-- W.fn_host), encode_actor / encode_scope (security.lua), process (a getter: the process module,
-- loaded after this one; its receive and send serve the guest's requests).
-- Alternatives rejected: a WASM process as a JS-side object beside the kernel (the process
-- table, monitors, links, names and events would need a second implementation on the main
-- thread); running the guest in the worker (a loop would hold every process of the worker).
return function(deps)
  local rpc, post, on_cancel, W = deps.rpc, deps.post, deps.on_cancel, deps.wire
  local err, encode_actor, encode_scope, process_module = deps.err, deps.encode_actor, deps.encode_scope, deps.process
  local select, type, tostring, pcall = select, type, tostring, pcall
  local wstop, fn_host = W.wstop, W.fn_host
  local function new_error(kind, msg) return err(kind, msg, false) end

  -- Nothing to compile here: the main thread loads, hash-checks and compiles the entry on its
  -- first call (a failure there is this process's EXIT error).
  local function prepare(Ent) return Ent end

  -- The context the guest sees (wippy:context).
  local function context(P)
    local c = P.ctx
    return { values = c and c.values or nil, actor = encode_actor(P.ctx_actor), scope = encode_scope(P.ctx_scope) }
  end

  -- A message or event as the guest receives it (see the top).
  local function as_message(v)
    if type(v.topic) ~= "function" then -- a lifecycle event (a table), not a Message
      local r = v.result
      return { topic = v.kind, from = v.from, payload = {
        kind = v.kind, from = v.from, deadline = v.deadline,
        value = r and r.value, error = r and r.error ~= nil and tostring(r.error) or nil } }
    end
    local pl, data = v:payload(), nil
    if type(pl) == "table" and pl.data == nil then -- several payloads: an array of them
      data = {}
      for i = 1, #pl do data[i] = pl[i]:data() end
    elseif pl ~= nil then
      data = pl:data()
    end
    return { topic = v:topic(), from = v:from(), payload = data }
  end

  -- Serves one guest request in the process; -> the answer "wstep" carries.
  local function serve(r)
    local process = process_module()
    if r.step == "recv" then
      -- limit_ms: what is left of the call's max_execution_ms; a wait cut by it answers
      -- { expired = true } (the call is ending Timeout; the main thread answers with that end)
      local t, cap = r.timeout_ms, r.limit_ms
      local capped = cap ~= nil and (t == nil or cap < t)
      if capped then t = cap end
      local v = process.receive(t ~= nil and ((t > 0 and t or 1) .. "ms") or nil)
      if v == nil then
        if capped then return { expired = true } end
        return false
      end
      return as_message(v)
    elseif r.step == "send" then
      local ok, sent, serr = pcall(process.send, r.to, r.topic, r.payload)
      if ok and sent then return true end
      return { error = tostring(ok and serr or sent) }
    end
    return { error = "unknown guest request " .. tostring(r.step) }
  end

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
        local values, err = rpc(0, "wcall", id, args, context(P))
        while err == nil and type(values) == "table" and values.step ~= nil do -- a guest request
          values, err = rpc(0, "wstep", serve(values))
        end
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
