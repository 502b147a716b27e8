-- PIDs and the process table of one worker.
--
-- A PID is "{host|0xhex}": the host id (or, for a function entry, "<entry>#lua.<tid>", naming the
-- worker that runs it), and the unique number the runtime's directory allocated, in hex,
-- zero-padded to at least 5 digits. A "node@host" prefix names the node; only the local node
-- ("" or "local") exists. src/runtime/pid.ts has the same two functions for the TypeScript side.
--
-- Owns: the process table (pid string -> process record), its count and live list, fmt/parse, `locate` (is
-- a PID here, on another worker of this runtime, or nowhere), and `post` / `send_bytes` (one
-- frame to a thread, held until the step's end for another worker: flush).
-- Receives: H (route, post, post_many), cfg (tid, hosts), encode, encode_frame, err, wire (ZERO_PID,
-- CONTROL_HOST, FN_HOST_MARK), end_step (sched.lua); on our module with the step block (init.lua)
-- the step's outbox (native/lua/lstep.c: out_put, outbox, outbox_mark) and encode_frame_out
-- (lcodec.c). Calls nothing else in the kernel.
return function(deps)
  local H, cfg, encode, err = deps.H, deps.cfg, deps.encode, deps.err
  local W = deps.wire
  local CONTROL_HOST, FN_HOST_MARK = W.CONTROL_HOST, W.FN_HOST_MARK
  local type, tostring, tonumber = type, tostring, tonumber
  local sbyte, sformat, smatch = string.byte, string.format, string.match
  -- The C functions, not the string methods (s:find): the kernel's string metatable points at the
  -- sandbox's guarded methods (safestring.lua), three Lua calls deep for a plain find, and the
  -- strings here are PIDs and host names, far below any size guard.
  local ssub, sfind = string.sub, string.find

  local M = {}
  local SELF = cfg.tid
  M.SELF = SELF
  -- The sender of messages that come from no process (a spawner's with_message).
  M.ZERO_PID = W.ZERO_PID

  -- Thread id -> host id (tid 0 is the main thread). Kept current by frames.lua (wup/wdown).
  local host_of_tid = { [0] = CONTROL_HOST }
  for hid, h in pairs(cfg.hosts) do for _, t in ipairs(h.tids) do host_of_tid[t] = hid end end
  M.host_of_tid = host_of_tid

  -- NONE: the set a process record holds for its watchers, monitoring, links, names and subs until
  -- a first member arrives (set_of makes the record's own): one table shared by every process,
  -- since most processes never fill one or more of them and each empty table is 32 bytes of Lua
  -- heap plus the allocator's header. It reads as empty and refuses writes (a nil write, a removal
  -- of what is not there, is a no-op), so a writer that forgot set_of fails loudly instead of
  -- giving every process the same member.
  local NONE = setmetatable({}, { __metatable = false, __newindex = function(_, k, v)
    if v ~= nil then error("kernel: a write into the shared empty set (use set_of): " .. tostring(k), 2) end
  end })
  M.NONE = NONE
  -- P's set in field k (watchers, monitoring, links, names, subs), made P's own on first use.
  function M.set_of(P, k)
    local t = P[k]
    if t == NONE then t = {}; P[k] = t end
    return t
  end
  -- P.watchers, those told of P's exit (PIDs, and JS exit watchers by their watch numbers): a set
  -- (NONE, or P's own) of two or more, or the one watcher itself (a string or a number), as a
  -- monitored spawn starts it (spawn.lua start_here, lspawn.c, lqspawn.c) and a first monitor
  -- leaves it: no table for the common single watcher (a set of one, 56 bytes per monitored
  -- spawn). watch and unwatch edit it in either form; its readers (lifecycle.lua notify_exit and
  -- finalize, frames.lua's wdown, lexit.c) take a watcher that is not a table as the set of it alone.
  function M.watch(P, w)
    local ws = P.watchers
    if ws == NONE then P.watchers = w
    elseif type(ws) == "table" then ws[w] = true
    elseif ws ~= w then P.watchers = { [ws] = true, [w] = true } end
  end
  function M.unwatch(P, w)
    local ws = P.watchers
    if ws == w then P.watchers = NONE
    elseif type(ws) == "table" then ws[w] = nil end
  end

  local procs = {} -- pid string -> process record
  M.procs = procs
  local nprocs, started = 0, 0
  function M.add(P) procs[P.pid] = P; nprocs = nprocs + 1; started = started + 1 end
  function M.remove(P) procs[P.pid] = nil; nprocs = nprocs - 1 end
  -- add's and remove's state, for the C of a process's start and end (native/lua/lspawn.c): it
  -- finds these locals by name among probe's upvalues and does add's and remove's steps on them
  function M.probe() return procs, nprocs, started end
  function M.count() return nprocs end
  -- Processes started here since the worker booted (exited = started - count()).
  function M.started() return started end
  -- Up to `limit` live processes as "pid\tentry" lines, sorted (the runtime's shutdown progress
  -- names who it still waits for). -> count, text
  function M.live(limit)
    local out, n = {}, 0
    for pid, P in pairs(procs) do
      if P.alive then
        n = n + 1
        if n <= limit then out[n] = pid .. "\t" .. tostring(P.id) end
      end
    end
    table.sort(out)
    return n, table.concat(out, "\n")
  end

  -- The hex at least 5 digits, zero-padded. Below 0x1000000 (the first 16.7M uniqs the directory
  -- hands out) by one concatenation of pre-made digit strings: string.format's %05x goes through
  -- the C library's printf, ~5% of a worker's CPU in a spawn+exit loop (CPU profile of the
  -- worker, module built with --profiling-funcs), ~0.45 µs a call against ~0.3 (one Lua state,
  -- Node 24, the string's collection included). One new string either way (a concatenation of
  -- n operands is one VM step building one string). Larger numbers, and anything not a
  -- non-negative integer, take string.format (the same text, or its error).
  local HEX1, HEX2 = {}, {} -- 0..15 -> "0".."f"; 0..255 -> "00".."ff"
  for i = 0, 15 do HEX1[i] = sformat("%x", i) end
  for i = 0, 255 do HEX2[i] = sformat("%02x", i) end
  local mtype = math.type
  local function fmt_pid(host, uniq)
    if mtype(uniq) == "integer" and uniq >= 0 and uniq < 0x1000000 then
      local hi = uniq >> 16
      return "{" .. host .. "|0x" .. (hi < 16 and HEX1[hi] or HEX2[hi]) .. HEX2[(uniq >> 8) & 0xff]
        .. HEX2[uniq & 0xff] .. "}"
    end
    return sformat("{%s|0x%05x}", host, uniq)
  end
  M.fmt_pid = fmt_pid

  -- -> host, uniq | nil (not a pid) | false, message
  local function parse_pid(s)
    if type(s) ~= "string" or sbyte(s, 1) ~= 123 or sbyte(s, -1) ~= 125 then return nil end
    local body = ssub(s, 2, -2)
    local host, u = smatch(body, "^(.*)|0x(%x+)$")
    if not host then
      if not sfind(body, "|", 1, true) then return nil end
      return false, "invalid pid"
    end
    local at = sfind(host, "@", 1, true)
    if at then
      local node = ssub(host, 1, at - 1)
      host = ssub(host, at + 1)
      if node ~= "" and node ~= "local" then return false, "node not found" end
    end
    return host, tonumber(u, 16)
  end
  M.parse_pid = parse_pid

  -- The step's frames for other workers, held here by destination and handed to the host at the
  -- end of the step (M.flush, from init.lua's __step): one host call per destination per step,
  -- H.post_many(tid, frame, frame, ...), instead of one H.post per frame — a host call is
  -- ~0.6 µs where appending to a Lua list is a few instructions (measured in one Lua state of our
  -- module, Node 20/24: 0.58–0.92 µs per H.post of a 60-byte frame against 0.33–0.62 µs per frame
  -- held and passed 1,000 to a call). The host's endpoint batches what a step posts anyway and
  -- publishes it only after the step (src/transport/endpoint.ts), so no frame becomes visible
  -- later than before, and frames for one destination keep their order: they all go through
  -- here. Frames for the main thread (tid 0) still go at once: they stay in order with terminal
  -- output, which the host posts to the main thread as H.write is called. Without
  -- H.post_many (the kernel's tests' fakes) every frame goes at once.
  --
  -- A step that holds more than OUT_STEP_BYTES for other workers ends after the resume running
  -- (sched.lua end_step): the endpoint publishes a step's frames when it ends, and a receiving
  -- worker can only take what its ring holds (src/transport/endpoint.ts RING_CAPACITY, 256 KiB),
  -- so a sender's 20 ms step of ~10,000 messages left the receiver idle once it had taken the
  -- ring's ~4,600 and capped Lua -> Lua across workers at about one ring per step (~230k-300k
  -- messages/s on a quiet machine). Half a ring per step keeps the ring fed, for one more host
  -- step per ~2,300 small frames: measured on a quiet machine (Node 24, interleaved, 3 rounds),
  -- Lua -> Lua across 298k -> 415k messages/s (a quarter of a ring: 307k -> 419k, but fan-in
  -- from senders spread over two workers 0.96x where half a ring read 1.15x).
  local outq, outn, outd, nout = {}, {}, {}, 0 -- tid -> frames, tid -> count, destinations in order
  local post_many = H.post_many
  local FLUSH_CHUNK = 200 -- frames per H.post_many call (they travel on the Lua stack)
  local OUT_STEP_BYTES = 128 * 1024
  local end_step = deps.end_step
  local outbytes = 0
  local unpack, min = table.unpack, math.min

  -- On our module (the step block's path, init.lua) the frames are held in C instead: the step's
  -- outbox (native/lua/lstep.c, `out_put`), one buffer per destination holding its frames'
  -- bytes concatenated, as the endpoint batches them, reported with the step's output — no Lua
  -- list, no frames returned as values, and process.send encodes a message straight into it
  -- (`send_frame` below: no Lua string of the frame). Every frame for a worker goes there, so
  -- one destination's frames keep their order; main-thread frames still go at once.
  local out_put = deps.out_put
  if out_put then deps.outbox_mark(OUT_STEP_BYTES) end
  local function send_bytes(tid, b)
    if tid == 0 or not post_many then H.post(tid, b); return end
    if out_put then
      if out_put(tid, b) and end_step then end_step() end
      return
    end
    outbytes = outbytes + #b
    if outbytes > OUT_STEP_BYTES and end_step then end_step(); outbytes = 0 end
    local n = outn[tid]
    local q
    if n == nil then
      nout = nout + 1
      outd[nout] = tid
      n = 0
      q = outq[tid]
      if not q then q = {}; outq[tid] = q end
    else
      q = outq[tid]
    end
    n = n + 1
    q[n] = b
    outn[tid] = n
  end
  M.send_bytes = send_bytes

  -- send_frame(tid, k, ...) -> true | nil, message: encode_frame(k, ...)'s bytes held for thread
  -- tid as send_bytes holds a frame, encoded straight into the outbox (lcodec.c encode_frame_out:
  -- no Lua string of the frame). Only with the outbox (nil otherwise: process.send encodes and
  -- calls send_bytes). The main thread's frames go at once, as send_bytes sends them.
  local encode_frame, encode_frame_out, outbox = deps.encode_frame, deps.encode_frame_out, deps.outbox
  if out_put and encode_frame_out and post_many then
    M.send_frame = function(tid, ...)
      if tid == 0 then
        local b, eerr = encode_frame(...)
        if not b then return nil, eerr end
        send_bytes(0, b)
        return true
      end
      local past, eerr = encode_frame_out(outbox, tid, ...)
      if past == nil then return nil, eerr end
      if past and end_step then end_step() end
      return true
    end
  end
  -- With the outbox the Lua lists below stay empty (take_out returns nothing).
  M.outbox = out_put ~= nil and post_many ~= nil

  -- Hand the held frames to the host (the end of a step).
  function M.flush()
    for i = 1, nout do
      local tid = outd[i]
      outd[i] = nil
      local q, n = outq[tid], outn[tid]
      outn[tid] = nil
      if n == 1 then H.post(tid, q[1])
      else
        for j = 1, n, FLUSH_CHUNK do post_many(tid, unpack(q, j, min(j + FLUSH_CHUNK - 1, n))) end
      end
      for j = 1, n do q[j] = nil end
    end
    nout, outbytes = 0, 0
  end

  -- The end of a step, one call out instead of one per destination: the held frames as values
  -- for __step to return (init.lua) — groups of tid, n, frame × n, in the order of M.flush —
  -- which the host posts once the step is back in JS (src/lua/engine.ts step). A host call from
  -- the VM (H.post: out of wasm into JS, its arguments read off the Lua stack) was 0.3–0.6 µs of
  -- each cross-worker message step; values returned with the step cost the host a read each.
  -- A step holding more than RET_MAX frames hands them over as M.flush does (H.post_many, at
  -- most FLUSH_CHUNK to a call), and returns none: the Lua stack is not grown for them.
  local RET_MAX = 60
  local ret = {} -- the general case's values, cleared as they are returned (ret_clear)
  local function ret_clear(k, ...)
    for i = 1, k do ret[i] = nil end
    return ...
  end
  function M.take_out()
    if nout == 0 then return end
    if nout == 1 then
      -- the common case: one destination
      local tid = outd[1]
      local n = outn[tid]
      if n == 1 then
        local q = outq[tid]
        local b = q[1]
        q[1], outd[1], outn[tid] = nil, nil, nil
        nout, outbytes = 0, 0
        return tid, 1, b
      end
    end
    local k = 0
    for i = 1, nout do k = k + 2 + outn[outd[i]] end
    if k > RET_MAX then M.flush(); return end
    k = 0
    for i = 1, nout do
      local tid = outd[i]
      outd[i] = nil
      local q, n = outq[tid], outn[tid]
      outn[tid] = nil
      ret[k + 1], ret[k + 2] = tid, n
      k = k + 2
      for j = 1, n do ret[k + j] = q[j]; q[j] = nil end
      k = k + n
    end
    nout, outbytes = 0, 0
    return ret_clear(k, unpack(ret, 1, k))
  end

  -- -> true | false, message (the frame could not be encoded: too large, or an unsendable value)
  local function post(tid, frame)
    local b, eerr = encode(frame)
    if not b then return false, eerr end
    send_bytes(tid, b)
    return true
  end
  M.post = post

  local function E(kind, msg) return nil, err(kind, msg, false) end

  -- PIDs of other workers already parsed, with a host of this runtime (remote_uniq[pid] = uniq,
  -- remote_host[pid] = host): a remote send reads these instead of parsing the PID again (two
  -- parses per send before: resolve's and locate's, each a pattern match, a sub and a find). A
  -- PID's parse and the set of hosts never change, so an entry never goes stale; only whether
  -- the process is alive and where it runs does, and that is read from the directory per send
  -- (H.route). Emptied when it passes REMOTE_KEEP entries, so a worker that talks to many
  -- short-lived processes keeps only the recent ones.
  local remote_uniq, remote_host, nremote = {}, {}, 0
  local REMOTE_KEEP = 1024
  M.remote_uniq = remote_uniq

  -- Where does a pid live? -> "local", P | "remote", tid | nil, err
  function M.locate(pid)
    local P = procs[pid]
    if P then
      -- A process stolen from another worker keeps that worker as its route (spawn.lua, forward).
      if P.home then return "remote", P.home end
      if P.alive then return "local", P end
      return E("NotFound", "process not found")
    end
    local uniq = remote_uniq[pid]
    if uniq then
      local tid, alive = H.route(uniq)
      if not alive or tid <= 0 then return E("NotFound", "process not found") end
      local owner, host = host_of_tid[tid], remote_host[pid]
      if owner ~= nil and owner ~= host and not sfind(host, FN_HOST_MARK, 1, true) then return E("NotFound", "process not found") end
      return "remote", tid
    end
    local host
    host, uniq = parse_pid(pid)
    if not host then
      if host == false then return E("NotFound", uniq) end
      return E("Invalid", "invalid pid format: " .. tostring(pid))
    end
    -- `node:control` PIDs are the runtime's watchers (exec/run/spawn from JS, process.exec): they
    -- take lifecycle events only (send_event), never messages, signals or topology edits.
    if host == CONTROL_HOST then return E("NotFound", "process not found") end
    if not cfg.hosts[host] and not sfind(host, FN_HOST_MARK, 1, true) then
      return E("NotFound", "host not found: " .. host)
    end
    local tid, alive = H.route(uniq) -- one directory read: owner thread and alive bit
    local owner = host_of_tid[tid]
    -- alive, owned here, but not in the table: placed here by another worker and its "sp" frame
    -- is still in flight; posting to ourselves queues the frame behind it (spawn.lua, early).
    -- Owned by the main thread (tid 0): a control PID under another host string (a function PID's
    -- host skips the owner check below); it takes no messages, signals or topology edits either.
    if not alive or tid <= 0 then return E("NotFound", "process not found") end
    -- (owner nil: a replacement worker this one has not heard of yet; its "wup" is on the way)
    if owner ~= nil and owner ~= host and not sfind(host, FN_HOST_MARK, 1, true) then return E("NotFound", "process not found") end
    if nremote >= REMOTE_KEEP then
      for k in pairs(remote_uniq) do remote_uniq[k] = nil; remote_host[k] = nil end
      nremote = 0
    end
    remote_uniq[pid], remote_host[pid] = uniq, host
    nremote = nremote + 1
    return "remote", tid
  end

  return M
end
