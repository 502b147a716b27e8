// A world of the kernel's message path in one Lua state of our module, for differential tests (C
// against the Lua it stands for): sched.lua, channel.lua and mailbox.lua loaded from a table of
// sources, with every C step of `wippy.native` (with_c) or none (the path of wasmoon's module and
// of WIPPY_CSCHED=0), under fakes for the rest of the kernel. test/native-backlog.test.ts,
// test/native-event.test.ts.
import type { LuaEngine } from 'wasmoon';
import { luaFactory } from '../../src/lua/module.js';

/**
 * Lua: defines KERNEL_WORLD(src, with_c, L, overflow) -> run, err, S, C, M, procs, NONE, newud,
 * copy. src: the sources by module name; L(line): the world's log (the scheduler's fakes log
 * failed and finished threads); overflow(P, e): mailbox.lua's overflow (the mailbox bound).
 */
export const KERNEL_WORLD_LUA = String.raw`
local nat = package.loaded["wippy.native"]
function KERNEL_WORLD(src, with_c, L, overflow)
  local run = {}
  local err = function(kind, message) return { kind = kind, message = message } end
  local S = assert(load(src.sched, "@kernel/sched.lua", "t"))()({ H = { now = function() return 0 end },
    err = err, run = run, resume = nat.msg.resume, runner = with_c and nat.runner or nil })
  local newud = function(mt) return setmetatable({}, mt) end
  local C = assert(load(src.channel, "@kernel/channel.lua", "t"))()({ run = run, ready = S.ready,
    park = S.park, maybe_yield = S.maybe_yield, newud = newud, err = err,
    BLOCK = S.BLOCK, YIELD_AFTER = S.YIELD_AFTER, receiver = with_c and nat.receiver or nil })
  local NONE = setmetatable({}, { __newindex = function() error("write to the shared empty set") end })
  local procs = {}
  local copy = function(v) return v end
  local M = assert(load(src.mailbox, "@kernel/mailbox.lua", "t"))()({
    CH = C.CH, offer = C.offer, chan_new = C.chan_new, chan_close = C.chan_close,
    qpop = C.qpop, qlen = C.qlen, qpush_at = C.qpush_at, EMPTYQ = C.EMPTYQ,
    newud = newud, copy = copy, err = err, procs = procs,
    set_of = function(P, k) local t = P[k]; if t == NONE then t = {}; P[k] = t end; return t end,
    overflow = overflow,
    deliverer = with_c and nat.deliverer or nil, sched_probe = with_c and S.probe or nil,
    eventer = with_c and nat.eventer or nil })
  S.install({ thread_failed = function(T, e) L("failed " .. T.name .. " " .. tostring(e and e.message or e)) end,
    thread_done = function(T) L("done " .. T.name) end, do_upgrade = function() end,
    deadlock = function() end, after_resume = function() end,
    process_fault = function(P, e) error(e) end, kernel_fault = function(w, e) error(e) end,
    deliver_batch = function() end })
  return run, err, S, C, M, procs, NONE, newud, copy
end
`;

/**
 * An engine of our module with KERNEL_WORLD defined, the sources in global `global` and the test's
 * prelude run. (Never closed: wasmoon's Global.close frees after lua_close, which our module's
 * allocator traps on.)
 */
export async function kernelWorldEngine(global: string, src: Record<string, string>, prelude: string): Promise<LuaEngine> {
  const engine = await luaFactory('native').createEngine({ injectObjects: false, enableProxy: false });
  engine.global.set(global, src);
  engine.doStringSync(KERNEL_WORLD_LUA);
  engine.doStringSync(prelude);
  return engine;
}
