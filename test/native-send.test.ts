// process.send's and a channel receive's common cases in C (native/lua/lsend.c and lrecv.c,
// `wippy.native`.sender and .receiver on our Lua module) against the Lua they stand for, in one Lua
// state: sched.lua, channel.lua, mailbox.lua and process.lua are loaded twice under the real
// scheduler (both with the C run loop and arrival), once with the C send and receive and once
// without (the Lua: the path of wasmoon's module and of WIPPY_CSCHED=0), and the same seeded
// processes run in both. Each process runs a script of sends (live, dead, remote, named and unknown
// destinations; good, `@`, non-string and nil topics; 0-3 values of every kind, unsendable ones
// included; callers with and without a policy; through pcall too), receives (that park, that find
// a buffered value, an inbox's backlog of Message objects, a closed channel, a bad argument, a
// plain channel shared with a sender waiting in it), plain yields, and budget marks (a send budget
// one short of its forced yield, a resume past maybe_yield's mark). The transcripts (every send's
// results, every receive's value, the order threads ran in, then each process's counters and
// mailbox) must be equal; the checks below say what a transcript must contain, so the comparison
// is not of two empty logs, and mutants of the Lua (which the C mirrors) must make them differ.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { LuaEngine } from 'wasmoon';
import { luaFactory } from '../src/lua/module.js';

const SRC = Object.fromEntries(['sched', 'channel', 'mailbox', 'process'].map((n) =>
  [n, readFileSync(path.resolve(`src/lua/kernel/${n}.lua`), 'utf8')]));

const PRELUDE = String.raw`
local nat = package.loaded["wippy.native"]
assert(nat and nat.sender and nat.deliverer and nat.runner, "wippy.native.sender missing from our module")

function SHOW(v)
  local t = type(v)
  if t == "string" then return string.format("%q", v) end
  if t == "number" then return math.type(v) .. ":" .. tostring(v) end
  if t ~= "table" then return t == "function" and "function" or tostring(v) end
  if getmetatable(v) == "process.Message" then
    local p = v:payload()
    return "Msg(" .. SHOW(v:topic()) .. "," .. SHOW(v:from()) .. "," .. (p == nil and "nil" or getmetatable(p) == "payload" and SHOW(p:data()) or "#" .. #p) .. ")"
  end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = tostring(k) end
  table.sort(keys)
  local out = {}
  for _, k in ipairs(keys) do
    local x = v[k]
    if x == nil then x = v[tonumber(k)] end
    out[#out + 1] = k .. "=" .. SHOW(x)
  end
  return "{" .. table.concat(out, " ") .. "}"
end
local function showall(...)
  local out = {}
  for i = 1, select("#", ...) do out[i] = SHOW((select(i, ...))) end
  return table.concat(out, ",")
end

-- One world, with or without the C send, running the seeded scripts; returns its transcript.
function WORLD(with_c, seed, strict)
  local log = {}
  local function L(s) log[#log + 1] = s end
  local run = {}
  local err = function(kind, message) return { kind = kind, message = message } end
  local S = assert(load(PROCESS_SRC.sched, "@kernel/sched.lua", "t"))()({ H = { now = function() return 0 end },
    err = err, run = run, resume = nat.msg.resume, runner = nat.runner })
  local newud = function(mt) return setmetatable({}, mt) end
  local C = assert(load(PROCESS_SRC.channel, "@kernel/channel.lua", "t"))()({ run = run, ready = S.ready,
    park = S.park, maybe_yield = S.maybe_yield, newud = newud, err = err,
    BLOCK = S.BLOCK, YIELD_AFTER = S.YIELD_AFTER, receiver = with_c and nat.receiver or nil })
  local NONE = setmetatable({}, { __newindex = function() error("write to the shared empty set") end })
  local procs = {}
  -- the codec's copy as the C relies on it: scalars as they are; a table copied (and marked, so a
  -- copy skipped shows); functions refused
  local function copy(v)
    local t = type(v)
    if t == "function" then return nil, "cannot send a function" end
    if t ~= "table" then return v end
    local c = {}
    for k, x in pairs(v) do c[k] = x end
    c.copies = (v.copies or 0) + 1
    return c
  end
  local M = assert(load(PROCESS_SRC.mailbox, "@kernel/mailbox.lua", "t"))()({
    CH = C.CH, offer = C.offer, chan_new = C.chan_new, chan_close = C.chan_close,
    qpop = C.qpop, qlen = C.qlen, qpush_at = C.qpush_at, EMPTYQ = C.EMPTYQ,
    newud = newud, copy = copy, err = err, procs = procs,
    set_of = function(P, k) local t = P[k]; if t == NONE then t = {}; P[k] = t end; return t end,
    overflow = function(P, e) L("overflow " .. P.pid); P.alive = false end,
    deliverer = nat.deliverer, sched_probe = S.probe })
  S.install({ thread_failed = function(T, e) L("failed " .. T.name .. " " .. SHOW(e)) end,
    thread_done = function(T) L("done " .. T.name) end, do_upgrade = function() end,
    deadlock = function() end, after_resume = function() end,
    process_fault = function(P, e) error(e) end, kernel_fault = function(w, e) error(e) end,
    deliver_batch = function() end })
  local function cur()
    local P = run.cp
    if not P then error(err("Invalid", "no context found"), 3) end
    return P
  end
  -- init.lua's check, with a stand-in policy: a caller with actor and scope may not send to p3
  local function check(P, action, resource, msg, show)
    if P.ctx_actor == nil or P.ctx_scope == nil then
      if not strict then return true end
    elseif resource ~= "p3" then
      return true
    end
    if show ~= nil then msg = msg .. tostring(show) end
    return false, err("PermissionDenied", msg)
  end
  local DEFAULTS = { __index = { subs = NONE, unrouted = C.EMPTYQ, seq = 0, unread = 0, max_mailbox = 6,
    npending = 0, nsubs = 0, budget = false } }
  local process = assert(load(PROCESS_SRC.process, "@kernel/process.lua", "t"))()({
    run = run, cur = cur, err = err, error_message = function(e) return e.message end, check = check,
    procs = procs,
    parse_pid = function(s) if s:sub(1, 1) == "r" then return "h2" end return nil end,
    locate = function(pid)
      local P = procs[pid]
      if P and P.alive and P.home == nil then return "local", P end
      if pid:sub(1, 1) == "r" or (P and P.home) then return "remote", 7 end
      return nil, err("NotFound", "no such process " .. pid)
    end,
    post = function() end, encode = function() return "frame" end,
    encode_frame = function(k, kind, pid, from, topic, n, ...) return kind .. "|" .. pid .. "|" .. from .. "|" .. topic .. "|" .. n .. "|" .. showall(...) end,
    send_bytes = function(target, b) L("bytes " .. tostring(target) .. " " .. b) end,
    remote_uniq = { r1 = true }, local_names = { one = "p1", nine = "p9" },
    rpc = function() return nil end,
    copy = copy, copy_args = M.copy_args, deliver_msg = M.deliver_msg, pack = nat.msg.packer(copy),
    inbox = M.inbox, events = M.events, listen = M.listen, unlisten = M.unlisten,
    H = { wall = function() return 0 end }, ready = S.ready, BLOCK = S.BLOCK, maybe_yield = S.maybe_yield,
    YIELD_AFTER = S.YIELD_AFTER, strict = strict, sender = with_c and nat.sender or nil,
    wire = { M_PID = 2, M_FROM = 3, M_TOPIC = 4, M_N = 5, M_PAYLOADS = 6 },
    EV_EXIT = "exit", EV_LINK_DOWN = "link_down", EV_CANCEL = "cancel",
    readonly = function(t) return t end, builtin = {} })
  local send = process.send
  assert((type(send) == "function") and ((debug.getinfo(send, "S").what == "C") == with_c), "the send of this world")

  local rs = seed
  local function rnd(n) rs = (rs * 1103515245 + 12345) % 2147483648; return (rs // 65536) % n + 1 end
  local Ps, chs = {}, {}
  local PC = C.channel.new(1) -- a plain channel the processes share: a sender may wait in it
  -- the records' defaults through an __index table (spawn.lua's shape, which lfield.h's getf reads
  -- inline), and in a third of the worlds each through a function or a chain of two tables (which
  -- it leaves to luaV_finishget): the same reads either way
  if seed % 3 == 1 then
    local defs = DEFAULTS.__index
    DEFAULTS = { __index = function(_, k) return defs[k] end }
  elseif seed % 3 == 2 then
    DEFAULTS = { __index = setmetatable({}, DEFAULTS) }
  end
  for i = 1, 4 do
    local P = setmetatable({ 0, 0, 0, 0, 0, pid = "p" .. i, alive = true, threads = {}, nthreads = 0,
      nrun = 0, red = 0 }, DEFAULTS)
    if i == 2 then P.ctx_actor, P.ctx_scope = "actor", "scope" end -- a policy decides its sends
    if i == 3 then P.ctx_actor = "actor" end -- an actor without a scope: allowed without a decision
    procs[P.pid] = P
    Ps[i] = P
    chs[i] = M.listen(P, "a")
    if i ~= 4 then M.inbox(P) end
  end
  procs.p5 = setmetatable({ 0, 0, 0, 0, 0, pid = "p5", alive = false }, DEFAULTS) -- dead
  procs.p6 = setmetatable({ 0, 0, 0, 0, 0, pid = "p6", alive = true, home = "h2" }, DEFAULTS) -- placed elsewhere
  local NIL = {} -- a nil among the choices below
  local function pick(t) local v = t[rnd(#t)]; if v == NIL then return nil end; return v end
  local dests = { "p1", "p2", "p3", "p4", "p1", "p2", "p5", "p6", "r1", "r9", "one", "nine", "zz", 42, NIL }
  local topics = { "a", "a", "a", "b", "", "@x", 7, NIL }
  local vals = { 1, 2.5, "s", true, false, NIL, { k = 1 }, function() end, { 1, 2, nested = { 3 } } }
  -- each process's script, drawn before anything runs
  local scripts = {}
  for i = 1, 4 do
    local sc = {}
    for j = 1, 40 do
      local r = rnd(20)
      local a
      if r <= 12 then
        local k = rnd(8)
        local nv = k <= 5 and 1 or (k - 6) * 2 -- mostly one value; else 0 or 2... (0, 2, 4 -> 3)
        if nv > 3 then nv = 3 end
        local args = { n = 2 + nv, pick(dests), pick(topics) }
        for x = 1, nv do args[2 + x] = pick(vals) end
        a = { "send", args, pcall = rnd(6) == 1 }
      elseif r <= 14 then a = { "recv" }
      elseif r == 15 then a = ({ { "irecv" }, { "close" }, { "badrecv" }, { "csend" }, { "crecv" }, { "crecv" } })[rnd(6)]
      elseif r <= 17 then a = { "yield" }
      elseif r == 18 then a = { "budget", 996 + rnd(3) } -- the next sends reach SEND_BUDGET
      elseif r == 19 then a = { "red" } -- past maybe_yield's mark until the next resume
      else a = { "send", { n = 3, "p" .. rnd(4), "a", j } } end
      sc[j] = a
    end
    scripts[i] = sc
  end
  for i = 1, 4 do
    local P = Ps[i]
    local T
    T = S.new_thread(P, function()
      for j, a in ipairs(scripts[i]) do
        local tag = P.pid .. "#" .. j .. " "
        if a[1] == "send" then
          local args = a[2]
          if a.pcall then L(tag .. "psend " .. showall(pcall(send, table.unpack(args, 1, args.n))))
          else L(tag .. "send " .. showall(send(table.unpack(args, 1, args.n)))) end
        elseif a[1] == "recv" then
          local v, ok = chs[i]:receive()
          L(tag .. "recv " .. showall(v, ok))
        elseif a[1] == "irecv" then -- the inbox's backlog (Message objects), when it holds one
          local ib = P.inbox and C.CH[P.inbox]
          if ib and ib.bq.t >= ib.bq.h then L(tag .. "irecv " .. showall(P.inbox:receive())) end
        elseif a[1] == "close" then chs[i]:close()
        elseif a[1] == "badrecv" then L(tag .. "badrecv " .. showall(pcall(chs[i].receive, 42)))
        elseif a[1] == "csend" then L(tag .. "csend " .. showall(PC:send(j))) -- parks when full
        elseif a[1] == "crecv" then L(tag .. "crecv " .. showall(PC:receive()))
        elseif a[1] == "yield" then coroutine.yield()
        elseif a[1] == "budget" then P.sendb = a[2]
        elseif a[1] == "red" then P.red = S.YIELD_AFTER + 1 end
      end
      return true
    end, nil, 0)
    T.name = P.pid
  end
  for _ = 1, 50 do S.step() end
  -- a send from outside a process (run.cp is nil): the Lua's error, raised
  L("outside " .. showall(pcall(send, "p1", "a", 1)))
  for i, P in ipairs(Ps) do
    local s = C.CH[chs[i]]
    local buf = {}
    for k = s.buf.h, s.buf.t do buf[#buf + 1] = SHOW(s.buf[k]) end
    local bq = {}
    for _, m in ipairs(M.backlog_records(s)) do bq[#bq + 1] = m.seq .. ":" .. m.from .. ":" .. SHOW(m.v) .. SHOW(m.p) end
    local un = {}
    for k = P.unrouted.h, P.unrouted.t do local m = P.unrouted[k]; un[#un + 1] = m.topic .. ":" .. m.from .. ":" .. SHOW(m.v) .. SHOW(m.p) end
    local ib = P.inbox and C.CH[P.inbox]
    local ibq = {}
    if ib then for _, m in ipairs(M.backlog_records(ib)) do ibq[#ibq + 1] = m.topic .. ":" .. m.from .. ":" .. SHOW(m.v) .. SHOW(m.p) end end
    L(P.pid .. " sent=" .. P[4] .. " sendb=" .. tostring(P.sendb) .. " unread=" .. P.unread .. " seq=" .. P.seq ..
      " alive=" .. tostring(P.alive) .. " buf=[" .. table.concat(buf, ",") .. "] bq=[" .. table.concat(bq, ",") ..
      "] unrouted=[" .. table.concat(un, ",") .. "] inbox=[" .. table.concat(ibq, ",") .. "]")
  end
  L("delivered=" .. M.delivered())
  return table.concat(log, "\n")
end
`;

let engine: LuaEngine;
before(async () => {
  engine = await luaFactory('native').createEngine({ injectObjects: false, enableProxy: false });
  engine.global.set('PROCESS_SRC', SRC);
  engine.doStringSync(PRELUDE);
});
// (no close: wasmoon's Global.close frees after lua_close, which our module's allocator traps on)

const world = (withC: boolean, seed: number, strict: boolean): string =>
  engine.doStringSync(`return WORLD(${withC}, ${seed}, ${strict})`) as string;

test('the C send and receive and the Lua give the same transcript in 200 seeded worlds', () => {
  const seen = { delivered: 0, refused: 0, unsendable: 0, remote: 0, forced: 0, policy: 0, outside: 0, pcall: 0,
    parked: 0, message: 0, closed: 0, badrecv: 0, csend: 0, crecv: 0 };
  for (let seed = 1; seed <= 200; seed++) {
    const strict = seed % 5 === 0;
    const c = world(true, seed, strict);
    const l = world(false, seed, strict);
    assert.equal(c, l, `seed ${seed}${strict ? ' (strict)' : ''}: the C send's transcript differs from the Lua's`);
    if (/ send true$/m.test(c)) seen.delivered++;
    if (/PermissionDenied/.test(c)) seen.refused++;
    if (/cannot send a function/.test(c)) seen.unsendable++;
    if (/^bytes /m.test(c)) seen.remote++;
    if (/not allowed to send: p3/.test(c)) seen.policy++;
    if (/^outside false,\{kind="Invalid" message="no context found"\}$/m.test(c)) seen.outside++;
    if (/ psend true,true$/m.test(c)) seen.pcall++;
    if (/ recv [^\n]*,true$/m.test(c)) seen.parked++;
    if (/ irecv Msg\(/.test(c)) seen.message++;
    if (/ recv nil,false$/m.test(c)) seen.closed++;
    if (/ badrecv false,"[^"]*bad argument #1 to 'receive' \(channel expected\)"$/m.test(c)) seen.badrecv++;
    if (/ csend true$/m.test(c)) seen.csend++;
    if (/ crecv [^\n]*,true$/m.test(c)) seen.crecv++;
    // a script that set a send budget one short of its forced yield and then sent: P.sendb back at 0
    if (/sendb=0 /.test(c)) seen.forced++;
  }
  // every kind of case occurred, in the C's transcript as in the Lua's
  for (const [k, n] of Object.entries(seen)) assert.ok(n > 0, `no world had a case of: ${k}`);
});

test('a channel made on our module holds its state as its user value, the same as CH[ch]', () => {
  // lrecv.c's chan_ud (channel.lua's chan_new with the C receiver): the C receive and arrival read
  // the state there (lprobe.h luaW_chan_state); a table or a userdata without it goes through CH
  const r = engine.doStringSync(String.raw`
    local nat = package.loaded["wippy.native"]
    local out = {}
    for _, with_c in ipairs({ true, false }) do
      local run = {}
      local err = function(kind, message) return { kind = kind, message = message } end
      local S = assert(load(PROCESS_SRC.sched, "@kernel/sched.lua", "t"))()({ H = { now = function() return 0 end },
        err = err, run = run, resume = nat.msg.resume, runner = nat.runner })
      local C = assert(load(PROCESS_SRC.channel, "@kernel/channel.lua", "t"))()({ run = run, ready = S.ready,
        park = S.park, maybe_yield = S.maybe_yield, newud = function(mt) return setmetatable({}, mt) end, err = err,
        BLOCK = S.BLOCK, YIELD_AFTER = S.YIELD_AFTER, receiver = with_c and nat.receiver or nil })
      local a, b = C.channel.new(2), C.chan_new(0, { cap = 1, buf = C.EMPTYQ, recvq = C.EMPTYQ, sendq = C.EMPTYQ, closed = false })
      local line = { type(a), type(b) }
      for _, ch in ipairs({ a, b }) do
        if with_c then line[#line + 1] = tostring(rawequal(debug.getuservalue(ch, 1), C.CH[ch])) end
        line[#line + 1] = tostring(C.chan_offer(ch, "v"))
        line[#line + 1] = table.concat({ tostring(ch:receive()) }, ",")
      end
      C.chan_close(a)
      line[#line + 1] = table.concat({ tostring(select(2, a:receive())) }, ",")
      local fake = setmetatable({}, getmetatable(a) and debug.getmetatable(a) or nil)
      line[#line + 1] = tostring(select(2, pcall(a.receive, fake)))
      line[#line + 1] = tostring(select(2, pcall(a.receive, 42)))
      out[#out + 1] = table.concat(line, " ")
    end
    return table.concat(out, "\n")
  `) as string;
  const [c, lua] = r.split('\n');
  assert.equal(c, 'userdata userdata true true v true true v false ' +
    "bad argument #1 to 'receive' (channel expected) bad argument #1 to 'receive' (channel expected)",
    'the C world: its channels are userdata holding CH[ch]; a table with the channel metatable is no channel');
  assert.equal(lua, 'table table true v true v false ' +
    "bad argument #1 to 'receive' (channel expected) bad argument #1 to 'receive' (channel expected)");
});

test('mutants of the Lua send and receive are caught by the transcripts', () => {
  const real = SRC.process!;
  const mutants: Array<[string, string]> = [
    ['P[4] = P[4] + 1 -- messages sent', 'P[4] = P[4] + 2 -- messages sent'],
    ['if target and target.home == nil and target.alive then', 'if target and target.home == nil then'],
    ['local v, cerr = copy((...))', 'local v, cerr = (...), nil'],
    ['deliver_msg(target, topic, P.pid, 1, nil, v)', 'deliver_msg(target, topic, "x", 1, nil, v)'],
    ['if sbyte(topic, 1) == 64 then return E("Invalid", "cannot send to @ topics") end', ''],
    ['P.sendb = b\n      maybe_yield()', 'P.sendb = b + 1\n      maybe_yield()'],
  ];
  const realc = SRC.channel!;
  const cmutants: Array<[string, string]> = [
    ['local t = q.t + 1\n    q.t = t\n    q[t] = T', 'local t = q.h\n    q.t = t\n    q[t] = T'],
    ['if s.closed then return nil, false end\n    local T = run.cur', 'if s.closed then return nil, true end\n    local T = run.cur'],
    ['if ok then maybe_yield(); return v, true end', 'if ok then return v, true end'],
  ];
  for (const [from, to] of mutants) {
    assert.ok(real.includes(from), `mutant source not found: ${from}`);
    engine.global.set('PROCESS_SRC', { ...SRC, process: real.replace(from, to) });
    let differs = false;
    for (let seed = 1; seed <= 40 && !differs; seed++) {
      // the C world keeps the real Lua for its cold cases; the Lua world runs the mutant
      const l = world(false, seed, false);
      engine.global.set('PROCESS_SRC', SRC);
      const c = world(true, seed, false);
      engine.global.set('PROCESS_SRC', { ...SRC, process: real.replace(from, to) });
      differs = c !== l;
    }
    engine.global.set('PROCESS_SRC', SRC);
    assert.ok(differs, `mutant not caught: ${from} -> ${to}`);
  }
  for (const [from, to] of cmutants) {
    assert.ok(realc.includes(from), `mutant source not found: ${from}`);
    const mutant = { ...SRC, channel: realc.replace(from, to) };
    let differs = false;
    for (let seed = 1; seed <= 40 && !differs; seed++) {
      engine.global.set('PROCESS_SRC', mutant);
      const l = world(false, seed, false);
      engine.global.set('PROCESS_SRC', SRC);
      differs = world(true, seed, false) !== l;
    }
    assert.ok(differs, `mutant not caught: ${from} -> ${to}`);
  }
});
