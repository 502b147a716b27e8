-- Boots the kernel inside a fresh Lua state. The host (src/lua/engine.ts) has put the raw host
-- functions in the global __H and the module sources in __MODS (name -> source text) before
-- running this chunk. Afterwards the only globals the host uses are __step, __count, __mem and
-- __mbox; the sandboxed processes never see this global table (they get their own environments).
local H, MODS = __H, __MODS
__H, __MODS = nil, nil

local K = { H = H }
local function loadmod(name)
  local src = MODS[name]
  if not src then error("kernel module missing: " .. name) end
  local f = assert(load(src, "@kernel/" .. name .. ".lua", "t"))
  return f()(K)
end

loadmod("errors")
loadmod("sched")
loadmod("safestring") -- K.safestring, K.safetable, the size guard; points the string metatable at it
loadmod("random")     -- K.sandbox_math: math with a generator per process
K.codec = loadmod("codec")
-- find/match/gmatch/gsub for processes: C when the match is provably cheap, else a Lua matcher
-- the reduction budget can stop (lib/pattern.lua).
K.pattern = loadmod("pattern")
K.cfg = K.codec.decode(MODS.__cfg)
K.entries = K.codec.decode(MODS.__entries)
K.now_ms = H.now
K.wall_ns = H.wall
K.tz_offset = H.tz_offset
K.local_offset = H.local_offset
K.newud = H.newud
K.error = function(kind, msg) return K.err(kind, msg, false) end
-- A timer subscription keeps its process idle rather than deadlocked. subscribe returns a token
-- (the process) because unsubscribe is usually called from a timer callback, outside any process.
K.subscribe = function() local P = K.cp; if P then P.nsubs = P.nsubs + 1 end; return P end
K.unsubscribe = function(P) P = P or K.cp; if P and P.nsubs > 0 then P.nsubs = P.nsubs - 1 end end
K.security = loadmod("security")
K.security.load_policies(K.entries)
K.encode_actor = K.security.encode_actor
K.encode_scope = K.security.encode_scope
-- Permission check for process P (semantics §8.2): -> true | false, PermissionDenied error.
-- Fast path: a process without actor or scope is allowed everything unless strict mode is on
-- (semantics §8.2), decided without building the attribute table.
local strict = K.cfg.strict_mode == true
local decide = K.security.decide
K.check = function(P, action, resource, msg)
  if P.ctx_actor == nil or P.ctx_scope == nil then
    if not strict then return true end
  elseif decide(P.ctx_actor, P.ctx_scope, action, resource, { pid = P.pid }) then
    return true
  end
  return false, K.err("PermissionDenied", msg, false)
end
loadmod("proc")
local time = loadmod("time")
K.builtin.time = K.readonly(time, "time")
-- time.lua's internal helpers stay reachable for the kernel (process.cancel, process.receive)
K.builtin_time_raw = time
K.builtin.io = K.readonly(loadmod("io"), "io")
K.builtin.security = K.readonly(K.security.module, "security")
K.builtin.funcs = K.readonly(assert(load(MODS.funcs, "@lib/funcs.lua", "t"))()(K.funcs_iface), "funcs")

function __step(batch) return K.step(batch) end
function __count() return K.count() end
function __mbox() return K.mailbox_stats() end
function __mem() collectgarbage("collect"); collectgarbage("collect"); return collectgarbage("count") end
__K = K
