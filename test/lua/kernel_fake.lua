-- Fakes of what the kernel modules receive (src/lua/kernel/*.lua), so each module loads on its
-- own in a plain Lua state (test/kernel-*.test.ts). Every fake records what was done to it in
-- F.log, as strings, so a test asserts the order of effects.
--
--   errors      F.err(kind, msg, retryable) -> { kind, message } with an "error" metatable
--   host        F.H: now/wall (a clock the test sets), pid_alloc (1, 2, ...), route (F.routes),
--               dead/load_add/post/task_push/place/set_runner (logged), newud (a table)
--   queues      F.qnew/qpush/qpop/qlen (sched.lua's shape: { h, t, [i] }); F.EMPTYQ, F.qpush_at
--               (channel.lua's shared empty queue and the push that replaces it)
--   channels    F.chan_new(cap [, state]) -> ch; F.CH[ch] = state or { cap, buf, closed }; F.offer hands a value to
--               a parked receiver when the test marked the channel `s.waiting`, else buffers it
--               up to cap; F.receive(ch) takes the next value the way sched.lua's receive does
--               (buffer then the subscription backlog hooks)
--   codec       F.copy (tables deep-copied, functions refused as codec.lua refuses them)
--   processes   F.proc(pid) -> a record shaped as spawn.lua's new_proc; F.procs
--
-- Usage: local F = (load(FAKE_SRC))(); local M = load(MODULE_SRC)()(deps)
local F = { log = {}, now = 1000.0, wall = 1700000000, routes = {}, next_uniq = 0, procs = {} }
local function log(fmt, ...) F.log[#F.log + 1] = string.format(fmt, ...) end
F.logf = log
function F.clear() F.log = {} end
function F.logged() return table.concat(F.log, "\n") end

local EMT = { __tostring = function(e) return e.message end, __metatable = "error" }
function F.err(kind, message, retryable)
  return setmetatable({ kind = kind, message = message, retryable = retryable }, EMT)
end
function F.is_error(v) return getmetatable(v) == "error" end
function F.error_message(e) return e.message end
function F.error_fields(e) return { kind = e.kind, message = e.message, retryable = e.retryable } end
function F.make_error(f) return F.err(f.kind, f.message, f.retryable) end
function F.to_error(v) if F.is_error(v) then return v end; return F.err("Internal", tostring(v)) end
function F.memory_error(v) if v == "not enough memory" then return F.err("Internal", "memory limit exceeded") end end

local function show(v)
  if type(v) ~= "table" then return tostring(v) end
  local parts = {}
  for i = 1, #v do parts[i] = show(v[i]) end
  return "{" .. table.concat(parts, ",") .. "}"
end
F.show = show

F.H = {
  now = function() return F.now end,
  wall = function() return F.wall * 1e9 end,
  newud = function(mt) return setmetatable({}, mt) end,
  pid_alloc = function(owner) F.next_uniq = F.next_uniq + 1; return F.next_uniq end,
  route = function(uniq) local r = F.routes[uniq]; if r then return r[1], r[2] end; return -1, false end,
  dead = function(uniq) log("dead %d", uniq) end,
  load_add = function(d, tid) log("load_add %d %s", d, tostring(tid)) end,
  post = function(tid, b) log("post %d %s", tid, show(b)) end,
  place = function() return F.place_tid or 0 end,
  task_push = function(d, target) log("task_push %d %s", target, show(d)); return F.task_ok ~= false end,
  task_take = function() return nil end,
  set_runner = function(uniq) log("set_runner %d", uniq) end,
  read_file = function() return nil end,
}
-- Frames are posted as tables in the fakes (encode is the identity), so the log shows them.
function F.encode(v) return v end
function F.decode(v) return v end
function F.post(tid, frame) log("post %d %s", tid, show(frame)); return true end

function F.copy(v)
  local t = type(v)
  if t == "function" then return nil, "cannot send a function" end
  if t ~= "table" or F.is_error(v) then return v end
  local c = {}
  for k, x in pairs(v) do
    local cx, e = F.copy(x)
    if e then return nil, e end
    c[k] = cx
  end
  return c
end

function F.qnew() return { h = 1, t = 0 } end
function F.qpush(q, v) local t = q.t + 1; q.t = t; q[t] = v end
function F.qpop(q) local h = q.h; local v = q[h]; q[h] = nil; q.h = h + 1; return v end
function F.qlen(q) return q.t - q.h + 1 end
-- channel.lua's shared empty queue (reads as empty, refuses writes) and its lazy push
F.EMPTYQ = setmetatable({}, { __index = { h = 1, t = 0 },
  __newindex = function(_, _, v) if v ~= nil then error("write into the shared empty queue", 2) end end })
function F.qpush_at(o, k, v)
  local q = o[k]
  if q == F.EMPTYQ then q = F.qnew(); o[k] = q end
  F.qpush(q, v)
end

F.CH = {}
local nch = 0
-- pids.lua's shared empty set and set_of (the fake's records have their own sets; both work)
F.NONE = setmetatable({}, { __newindex = function(_, k, v) if v ~= nil then error("write into the shared empty set: " .. tostring(k), 2) end end })
function F.set_of(P, k)
  local t = P[k]
  if t == F.NONE then t = {}; P[k] = t end
  return t
end
-- pids.lua's watch and unwatch: P.watchers, a set or the one watcher itself
function F.watch(P, w)
  local ws = P.watchers
  if ws == F.NONE then P.watchers = w
  elseif type(ws) == "table" then ws[w] = true
  elseif ws ~= w then P.watchers = { [ws] = true, [w] = true } end
end
function F.unwatch(P, w)
  local ws = P.watchers
  if ws == w then P.watchers = F.NONE
  elseif type(ws) == "table" then ws[w] = nil end
end
function F.chan_new(cap, s) -- s: a state the caller made (channel.lua's chan_new takes it as is)
  nch = nch + 1
  local ch = { id = nch }
  F.CH[ch] = s or { cap = cap, buf = F.EMPTYQ, closed = false }
  return ch
end
function F.chan_close(ch) F.CH[ch].closed = true; log("close chan %d", ch.id) end
-- channel.lua's offer: -> true, thread (handed to a parked receiver) | true (buffered) | false
function F.offer(s, ch, v)
  if s.closed then return false end
  if s.waiting then
    s.waiting = false
    s.got = v
    return true, s.waiter or {}
  end
  if F.qlen(s.buf) < s.cap then F.qpush_at(s, "buf", v); return true end
  return false
end
-- sched.lua's receive without parking: -> value, true | nil, false (nothing there)
function F.receive(ch)
  local s = F.CH[ch]
  if s.buf.t >= s.buf.h then
    local v = F.qpop(s.buf)
    if s.refill then s.refill(s) end
    return v, true
  end
  if s.backlog and s.backlog(s) then return s.take_backlog(s), true end
  return nil, false
end

function F.proc(pid, fields)
  local P = {
    pid = pid, uniq = 0, id = "app:p", host = "app:host", alive = true,
    threads = {}, nthreads = 0, nrun = 0, npending = 0, nsubs = 0,
    subs = {}, unrouted = F.EMPTYQ, seq = 0, unread = 0, max_mailbox = math.huge,
    watchers = {}, monitoring = {}, links = {}, names = {}, trap_links = false,
    sendb = 0, red = 0, budget = false, doomed = false,
    0, 0, 0, 0, 0, -- runs, cpu, heap, sent, started: the array part (spawn.lua new_proc)
  }
  local ST = { runs = 1, cpu = 2, heap = 3, sent = 4, started = 5 }
  for k, v in pairs(fields or {}) do
    if ST[k] then P[ST[k]] = v else P[k] = v end
  end
  F.procs[pid] = P
  return P
end

-- Assertions: raise with the expectation, so the test's doString rejects with it.
function F.eq(got, want, what)
  if got ~= want then
    error(("%s: got %s, want %s"):format(what or "value", show(got), show(want)), 2)
  end
end
function F.has(text, needle, what)
  if not string.find(text, needle, 1, true) then
    error(("%s: %q not in:\n%s"):format(what or "log", needle, text), 2)
  end
end
function F.hasnt(text, needle, what)
  if string.find(text, needle, 1, true) then
    error(("%s: %q unexpectedly in:\n%s"):format(what or "log", needle, text), 2)
  end
end

return F
