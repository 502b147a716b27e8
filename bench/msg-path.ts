// Micro-measurement for issue 14: the kernel's same-worker message path in one Lua state of our
// module, with the C steps (native/lua/lsched.c's run loop, ldeliver.c's arrival, lrecv.c's
// receive, lsend.c's send where the checkout has them) and without them (the Lua they replace,
// which wasmoon's module and WIPPY_CSCHED=0 run), interleaved.
//
//   node dist/bench/msg-path.js [--rounds 16] [--mode msg|one|send|ring|bare|alloc|all] [--count]
//
// sched.lua, channel.lua and mailbox.lua are loaded twice, each copy wired as init.lua wires them
// (the runner and deliverer on one, not the other) under a clock that never ends a step. Two
// processes then hand a value back and forth, one resume per message, as bench/messaging.ts's
// ping-pong does without process.send's checks and copy:
//   msg    mailbox.deliver_msg(peer, "p", from, 1, { v }) to a `listen` channel (a payload list,
//          as every send did before session 8), then ch:receive() (parks)
//   one    the same with the value carried without a list, deliver_msg(peer, "p", from, 1, nil, v),
//          as process.send's one-value case does since session 8
//   send   the same through process.send(peer_pid, "p", v) (process.lua loaded too, its checks and
//          counters; with the C, lsend.c's send since session 9): the message as a process sends it
//   fanin1 one process delivers 10 messages ({ k } lists) to the other's `listen` channel, then
//          goes to the back of the run queue; the other receives until it parks: the first
//          message wakes it, one waits in the channel's buffer, eight in its backlog
//   fanin  the same with one value carried without a list
//   deep   fanin with 10,000 messages per turn, and a step per turn: the receiver's backlog as deep
//          as the runtime's fan-in makes it (100 or 1,000 senders of 1,000 each, all sent while it
//          waits its turn)
//   ring   send's message round a ring of 1,000 processes (bench/messaging.ts's ring: a hop is a
//          receive and a send to the next process; 1,000 records, channels and threads touched in
//          turn instead of two)
//   bare   sched.ready(peer) and sched.park(): the switch alone
//   alloc  bare, plus the two tables a message allocates (its record and payload list)
// A round is 5 steps (100,000 messages) per side; CPU by process.cpuUsage around each (the Lua
// runs on this thread), so the figure holds on a loaded machine better than wall time. Printed:
// the best CPU per message of each side and the median (range) of the per-round ratios.
// --base DIR (a built checkout, e.g. a worktree of the previous commit) adds its module and kernel
// sources in a second Lua state: DIR's `msg` mode against this tree's `one` and DIR's `fanin1`
// against this tree's `fanin` (for those of --mode), both with the C, interleaved the same way
// (the before and after of process.send's common case; --count too). With --same, each mode of
// --mode against itself (DIR must know the mode).
// --count prints VM instructions per message instead (count hooks of 1 on the main thread and
// both process threads, 20,000 messages), and the bytes allocated per message (the growth of
// collectgarbage("count") over 20,000 messages with the collector stopped): load-free.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { luaFactory } from '../src/lua/module.js';
import { checkBuilt } from './checkout.js';

const { values: opt } = parseArgs({ options: {
  rounds: { type: 'string', default: '16' }, mode: { type: 'string', default: 'all' },
  count: { type: 'boolean', default: false }, base: { type: 'string', default: '' },
  same: { type: 'boolean', default: false },
} });
const ROUNDS = Number(opt.rounds);
const MODES = opt.mode === 'all' ? ['bare', 'alloc', 'msg', 'one', 'send', 'ring', 'fanin1', 'fanin', 'deep'] : opt.mode.split(',');
const COUNT = opt.count;
const BASE = opt.base;

// This side's sources are this script's checkout's (it runs that checkout's module), wherever the
// command is run from; --base DIR's are DIR's, and DIR's dist must be built from them (checkBuilt).
const HERE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
if (BASE) checkBuilt(path.resolve(BASE));
const src = (n: string, root = HERE): string => readFileSync(path.resolve(root, `src/lua/kernel/${n}.lua`), 'utf8');
// the kernel sources a WORLD loads (process.lua only where the checkout's process.send can run in it)
const sources = (root = HERE): Record<string, string> => {
  const r: Record<string, string> = { sched: src('sched', root), channel: src('channel', root), mailbox: src('mailbox', root) };
  if (existsSync(path.resolve(root, 'src/lua/kernel/process.lua'))) r.process = src('process', root);
  return r;
};

const WORLD = String.raw`
local nat = package.loaded["wippy.native"]
assert(nat and nat.runner and nat.deliverer, "our Lua module (wippy.native.runner, .deliverer) is needed")
function WORLD(with_c, mode)
  local run = {}
  local err = function(k, m) return { kind = k, message = m } end
  local S = assert(load(SRC.sched, "@kernel/sched.lua", "t"))()({ H = { now = function() return 0 end }, err = err,
    run = run, resume = nat.msg.resume, runner = with_c and nat.runner or nil })
  local newud = function(mt) return setmetatable({}, mt) end
  local C = assert(load(SRC.channel, "@kernel/channel.lua", "t"))()({ run = run, ready = S.ready, park = S.park,
    maybe_yield = S.maybe_yield, newud = newud, err = err,
    BLOCK = S.BLOCK, YIELD_AFTER = S.YIELD_AFTER, receiver = with_c and nat.receiver or nil })
  local NONE = setmetatable({}, { __newindex = function() error("write to the shared empty set") end })
  local M = assert(load(SRC.mailbox, "@kernel/mailbox.lua", "t"))()({
    CH = C.CH, offer = C.offer, chan_new = C.chan_new, chan_close = C.chan_close,
    qpop = C.qpop, qlen = C.qlen, qpush_at = C.qpush_at, EMPTYQ = C.EMPTYQ,
    newud = newud, copy = function(v) return v end, err = err, procs = {},
    set_of = function(P, k) local t = P[k]; if t == NONE then t = {}; P[k] = t end; return t end,
    overflow = function() error("overflow") end,
    deliverer = with_c and nat.deliverer or nil, sched_probe = with_c and S.probe or nil })
  local nop = function() end
  S.install({ thread_failed = function(T, e) error(e) end, thread_done = nop, do_upgrade = nop, deadlock = nop,
    after_resume = nop, process_fault = function(P, e) error(e) end, kernel_fault = function(w, e) error(e) end,
    deliver_batch = nop })
  local deliver, recv = M.deliver_msg, C.chan_methods.receive
  local procs, send = {}, nil
  -- process records as spawn.lua makes them: own fields, and defaults read through a metatable
  local DEFAULTS = { __index = { subs = NONE, unrouted = C.EMPTYQ, seq = 0, unread = 0, max_mailbox = math.huge,
    npending = 0, nsubs = 0, budget = false } }
  local Ps, chs, Ts, n = {}, {}, {}, 0
  local NP = mode == "ring" and 1000 or 2
  for i = 1, NP do
    -- [1..5]: the figures spawn.lua's new_proc keeps in the record's array part (resumes, time, heap, ...)
    Ps[i] = setmetatable({ 0, 0, 0, 0, 0, pid = "p" .. i, alive = true, threads = {}, nthreads = 0, nrun = 0, red = 0 }, DEFAULTS)
    chs[i] = M.listen(Ps[i], "p")
    procs[Ps[i].pid] = Ps[i]
  end
  if mode == "send" or mode == "ring" then -- process.lua as init.lua wires it, its cold paths stubbed
    local function cur() local P = run.cp; if not P then error(err("Invalid", "no context found"), 3) end; return P end
    local function check(P, action, resource, msg, show) -- init.lua's, unstrict
      if P.ctx_actor == nil or P.ctx_scope == nil then return true end
      return false, err("PermissionDenied", msg .. tostring(show))
    end
    local cold = function() error("msg-path: a cold path of process.send") end
    send = assert(load(SRC.process, "@kernel/process.lua", "t"))()({ run = run, cur = cur, err = err,
      error_message = cold, check = check, procs = procs, parse_pid = cold, locate = cold, post = cold,
      encode = cold, copy = function(v) return v end, copy_args = cold, deliver_msg = M.deliver_msg,
      pack = nat.msg.packer(function(v) return v end), remote_uniq = {}, send_bytes = cold,
      H = { wall = cold }, ready = S.ready, BLOCK = S.BLOCK, maybe_yield = S.maybe_yield,
      YIELD_AFTER = S.YIELD_AFTER, strict = false, sender = with_c and nat.sender or nil,
      wire = { M_PID = 2, M_FROM = 3, M_TOPIC = 4, M_N = 5, M_PAYLOADS = 6 },
      EV_EXIT = "exit", EV_LINK_DOWN = "link_down", EV_CANCEL = "cancel",
      readonly = function(t) return t end, builtin = {} }).send
  end
  for i = 1, NP do
    local me, peer = i, 3 - i
    if mode == "ring" then peer = i % NP + 1 end
    Ts[i] = S.new_thread(Ps[i], function()
      if mode == "bare" then
        while true do n = n + 1; S.ready(Ts[peer], 0); S.park() end
      elseif mode == "alloc" then
        while true do
          n = n + 1
          local m = { topic = "p", from = "p1", n = 1, p = { n }, seq = n }
          S.ready(Ts[peer], 1, m); S.park()
        end
      end
      if mode == "fanin" or mode == "fanin1" or mode == "deep" then
        if me == 2 then while true do recv(chs[2]); n = n + 1 end end
        local k = 0
        local per = mode == "deep" and 10000 or 10
        while true do -- the sender: 10 messages (deep: 10,000), then to the back of the run queue
          for _ = 1, per do
            k = k + 1
            if mode ~= "fanin1" then deliver(Ps[2], "p", "p1", 1, nil, k) else deliver(Ps[2], "p", "p1", 1, { k }) end
          end
          S.ready(Ts[1], 0)
          if per > 10 then S.end_step() end -- deep: a step per turn (the receiver drains in the next)
          coroutine.yield(S.BLOCK)
        end
      end
      if me == 1 then deliver(Ps[peer], "p", "p1", 1, { 0 }) end
      while true do
        local v = recv(chs[me])
        n = n + 1
        if mode == "one" then deliver(Ps[peer], "p", Ps[me].pid, 1, nil, v + 1)
        elseif mode == "send" or mode == "ring" then send(Ps[peer].pid, "p", v + 1)
        else deliver(Ps[peer], "p", Ps[me].pid, 1, { v + 1 }) end
      end
    end)
  end
  S.ready(Ts[1], 0)
  if mode == "bare" or mode == "alloc" then Ts[2].parked = true else for i = 2, NP do S.ready(Ts[i], 0) end end
  return { S = S, count = function() return n end, Ts = Ts }
end
function ROUND(w) local a = w.count(); for _ = 1, 5 do w.S.step() end; return w.count() - a end
function COUNT(w, msgs)
  local k = 0
  local hk = function() k = k + 1 end
  for _, T in ipairs(w.Ts) do debug.sethook(T.co, hk, "", 1) end
  debug.sethook(hk, "", 1)
  local a = w.count()
  while w.count() - a < msgs do w.S.step() end
  debug.sethook()
  for _, T in ipairs(w.Ts) do debug.sethook(T.co) end
  return k / (w.count() - a)
end
function BYTES(w, msgs)
  for _ = 1, 3 do w.S.step() end -- warm: queues and kept records at their sizes
  collectgarbage("collect"); collectgarbage("stop")
  local a, kb = w.count(), collectgarbage("count")
  while w.count() - a < msgs do w.S.step() end
  local per = (collectgarbage("count") - kb) * 1024 / (w.count() - a)
  collectgarbage("restart")
  return per
end
`;

const engine = await luaFactory('native').createEngine({ injectObjects: false, enableProxy: false });
engine.global.set('SRC', sources());
engine.doStringSync(WORLD);
// the base: DIR's own module (its dist/src/lua/module.js finds DIR's vendor/lua-wasm) and sources
const baseEngine = BASE
  ? await ((await import(path.resolve(BASE, 'dist/src/lua/module.js'))) as { luaFactory: typeof luaFactory })
    .luaFactory('native').createEngine({ injectObjects: false, enableProxy: false })
  : null;
if (baseEngine) {
  baseEngine.global.set('SRC', sources(BASE));
  baseEngine.doStringSync(WORLD);
}
const cpuNs = (): number => { const u = process.cpuUsage(); return (u.user + u.system) * 1000; };

console.log(`Node ${process.version}, ${COUNT ? 'VM instructions and bytes allocated per message' : `CPU ns per message, ${ROUNDS} interleaved rounds`}`);
console.log('| mode | Lua | C | Lua ÷ C |');
console.log('|---|---:|---:|---|');
for (const mode of MODES) {
  engine.doStringSync(`WL, WC = WORLD(false, "${mode}"), WORLD(true, "${mode}")`);
  if (COUNT) {
    const l = engine.doStringSync('return COUNT(WL, 20000)') as number;
    const c = engine.doStringSync('return COUNT(WC, 20000)') as number;
    const bl = engine.doStringSync('return BYTES(WL, 20000)') as number;
    const bc = engine.doStringSync('return BYTES(WC, 20000)') as number;
    console.log(`| ${mode} | ${l.toFixed(1)} instr, ${bl.toFixed(0)} B | ${c.toFixed(1)} instr, ${bc.toFixed(0)} B | ${(l / c).toFixed(2)}× |`);
    continue;
  }
  let bl = Infinity, bc = Infinity;
  const ratios: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    // odd rounds run C first, so a drift of the machine does not always favour one side
    const order = r % 2 ? ['WC', 'WL'] : ['WL', 'WC'];
    const per: Record<string, number> = {};
    for (const w of order) {
      const t = cpuNs();
      const n = engine.doStringSync(`return ROUND(${w})`) as number;
      per[w] = (cpuNs() - t) / n;
    }
    bl = Math.min(bl, per.WL!); bc = Math.min(bc, per.WC!);
    ratios.push(per.WL! / per.WC!);
  }
  ratios.sort((a, b) => a - b);
  console.log(`| ${mode} | ${bl.toFixed(0)} | ${bc.toFixed(0)} | ${ratios[ROUNDS >> 1]!.toFixed(2)}× (${ratios[0]!.toFixed(2)}–${ratios[ROUNDS - 1]!.toFixed(2)}) |`);
}
for (const [bm, om] of opt.same ? MODES.map((m) => [m, m]) : [['msg', 'one'], ['fanin1', 'fanin']]) {
  if (!baseEngine || !MODES.includes(om)) continue;
  baseEngine.doStringSync(`WB = WORLD(true, "${bm}")`);
  engine.doStringSync(`WO = WORLD(true, "${om}")`);
  if (COUNT) {
    const b = baseEngine.doStringSync('return COUNT(WB, 20000)') as number;
    const o = engine.doStringSync('return COUNT(WO, 20000)') as number;
    const bb = baseEngine.doStringSync('collectgarbage("collect"); collectgarbage("stop"); local a, kb = WB.count(), collectgarbage("count"); while WB.count() - a < 20000 do WB.S.step() end; local r = (collectgarbage("count") - kb) * 1024 / (WB.count() - a); collectgarbage("restart"); return r') as number;
    const ob = engine.doStringSync('return BYTES(WO, 20000)') as number;
    console.log(`| ${BASE} ${bm} (C) → this ${om} (C) | ${b.toFixed(1)} instr, ${bb.toFixed(0)} B | ${o.toFixed(1)} instr, ${ob.toFixed(0)} B | ${(b / o).toFixed(2)}× |`);
  } else {
    let bb = Infinity, bo = Infinity;
    const ratios: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const per: Record<string, number> = {};
      const sides: [string, typeof engine, string][] = [['B', baseEngine, 'WB'], ['O', engine, 'WO']];
      if (r % 2) sides.reverse();
      for (const [k, e, w] of sides) {
        const t = cpuNs();
        const n = e.doStringSync(`return ROUND(${w})`) as number;
        per[k] = (cpuNs() - t) / n;
      }
      bb = Math.min(bb, per.B!); bo = Math.min(bo, per.O!);
      ratios.push(per.B! / per.O!);
    }
    ratios.sort((a, b) => a - b);
    console.log(`| ${BASE} ${bm} (C) → this ${om} (C) | ${bb.toFixed(0)} | ${bo.toFixed(0)} | ${ratios[ROUNDS >> 1]!.toFixed(2)}× (${ratios[0]!.toFixed(2)}–${ratios[ROUNDS - 1]!.toFixed(2)}) |`);
  }
}
