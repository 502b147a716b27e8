// A spawn on another host, from the caller's side: rpc.lua, spawn.lua, exec.lua, lifecycle.lua and
// frames.lua together, under fakes (test/lua/kernel_fake.lua), with frames handed to the kernel
// in a chosen order. The caller parks in the "s" request; its answer, the child's events and the
// caller's own death can be handled in any order before it resumes, and a worker dying later
// synthesizes the EXIT / LINK_DOWN of the children it took along (frames.lua handlers.wdown).
// What must hold in every order: a monitor hears one EXIT per child, a link that ended normally
// kills nobody later, and an exec whose caller died cancels its callee.
//
// The interleavings are the ones two failures came from: the recovery stress's
// `duplicate EXIT from {t:p|0x…}` (the child's EXIT handled between the answer and the caller's
// resume, after which the resumed caller recorded the monitor of a child already gone, and the
// death of the child's worker synthesized its EXIT again), and the lifecycle test "an exec whose
// caller dies cancels the callee" left pending (the caller terminated while its exec's spawn
// request was out: the wait was recorded only when it resumed, which it never did, so nothing
// cancelled the callee).
import { test } from 'node:test';
import { withKernelModules } from './helpers/kernel-module.js';

const SETUP = String.raw`
  W = module("wire")()
  run = { cur = nil, cp = nil }
  readied, frames_out, arrived = {}, {}, {}
  local late = {}
  F.owner = {} -- uniq -> the worker it dies with (H.dies_with)
  F.H.dies_with = function(uniq, tid) return F.owner[uniq] == tid end
  F.H.write = function(fd, s) F.logf("write %d %s", fd, s) end
  local function post(tid, f) frames_out[#frames_out + 1] = { tid = tid, f = f }; return F.post(tid, f) end
  local function parse_pid(s)
    local h, u = s:match("^{(.*)|0x(%x+)}$")
    if h then return h, tonumber(u, 16) end
  end
  local HOSTS = { ["app:p"] = { kind = "process.host", tids = { 1 } }, ["app:q"] = { kind = "process.host", tids = { 2 } } }
  R = module("rpc")({ run = run, post = post, park = coroutine.yield, err = F.err, SELF = 1, wire = W,
    ready = function(T, n, ...) readied[#readied + 1] = { T = T, n = n, ... } end })
  L = module("lifecycle")({
    H = F.H, run = run, procs = F.procs,
    remove = function(P) F.procs[P.pid] = nil end,
    post = post, parse_pid = parse_pid,
    copy = F.copy, err = F.err, is_error = F.is_error, error_fields = F.error_fields,
    make_error = F.make_error, memory_error = F.memory_error, to_error = F.to_error,
    CH = F.CH, timer_add = function() end, hook = function(co) return co end,
    arrive_event = function(P, ev) arrived[#arrived + 1] = { pid = P.pid, kind = ev.kind, from = ev.from } end,
    release_names = function() end, hosts = HOSTS, wire = W,
    cancel_execs = function(P) return late.cancel_execs(P) end, set_of = F.set_of,
    watch = F.watch, unwatch = F.unwatch,
  })
  S = module("spawn")({
    H = F.H, cfg = { tid = 1, host = "app:p", hosts = HOSTS }, entries = {},
    procs = F.procs, add = function(P) F.procs[P.pid] = P end,
    fmt_pid = function(host, uniq) return string.format("{%s|0x%05x}", host, uniq) end,
    parse_pid = parse_pid, post = post,
    locate = function(pid) local P = F.procs[pid]; if P then return "local", P end; return "remote", 2 end,
    run = run, new_thread = function() end, ready = function() end, park = coroutine.yield,
    hook = function(co) return co end, compile = function() end, make_env = function() end,
    encode = F.encode, decode = F.decode,
    err = F.err, is_error = F.is_error, error_message = F.error_message, memory_error = F.memory_error,
    user_tostring = function(P, v) return tostring(v) end,
    deliver_event = L.deliver_event, start_failed = L.start_failed, topo = L.topo, send_event = L.send_event,
    security = {}, call_settled = R.call_settled, wire = W,
    EMPTYQ = F.EMPTYQ, NONE = F.NONE, set_of = F.set_of,
    dispatch = function(f) return late.dispatch(f) end,
  })
  X = module("exec")({
    H = F.H, fmt_pid = function(host, uniq) return string.format("{%s|0x%05x}", host, uniq) end,
    locate = function(pid) local P = F.procs[pid]; if P then return "local", P end; return "remote", 2 end,
    post = post, spawn_from = S.spawn_from, deliver_event = L.deliver_event, exec_waits = L.exec_waits,
    run = run, ready = function() end, park = coroutine.yield, err = F.err, error_message = F.error_message, wire = W,
  })
  late.cancel_execs = X.cancel_execs
  FR = module("frames")({
    procs = F.procs, parse_pid = parse_pid, post = post, host_of_tid = { [1] = "app:p", [2] = "app:q" },
    H = F.H, hosts = HOSTS, SELF = 1, decode = F.decode, codec_reset = function() end,
    run = run, err = F.err, is_error = F.is_error, error_message = F.error_message,
    deliver_msg = function() end,
    lifecycle = L, rpc = R, names = { own = function() end, acked = function() end }, spawn = S, wire = W,
    set_of = F.set_of,
  })
  late.dispatch = FR.dispatch

  -- The caller: process M on worker 1 runs fn in its thread until fn parks (the "s" request).
  function caller(uniq, fields)
    local M = F.proc(string.format("{app:p|0x%05x}", uniq), fields or {})
    M.uniq = uniq
    local T = { proc = M, parked = true }
    M.threads[T] = true
    return M, T
  end
  function start(T, fn)
    T.co = coroutine.create(fn)
    run.cur = T
    assert(coroutine.resume(T.co))
    run.cur = nil
    F.eq(coroutine.status(T.co), "suspended", "the caller parked in its spawn request")
  end
  -- The caller resumes with what the answer readied it with; -> what fn returned.
  function resume(T)
    local r = assert(readied[#readied], "the caller was readied")
    F.eq(r.T, T)
    run.cur = T
    local res = table.pack(coroutine.resume(T.co, table.unpack(r, 1, r.n)))
    run.cur = nil
    assert(res[1], res[2])
    return table.unpack(res, 2, res.n)
  end
  function exits_heard(pid, from)
    local n = 0
    for _, a in ipairs(arrived) do if a.pid == pid and a.kind == W.EV_EXIT and a.from == from then n = n + 1 end end
    return n
  end
  CHILD, CHILD_UNIQ = "{app:q|0x00007}", 7
  F.owner[CHILD_UNIQ] = 2 -- minted by worker 2, the only worker of app:q
  F.routes[CHILD_UNIQ] = { 2, true }
  function exit_of(to, from, result) return W.e(to, { kind = W.EV_EXIT, from = from, at = 1, result = result }) end
`;
const run = async (code: string): Promise<void> => {
  await withKernelModules(['rpc', 'spawn', 'exec', 'lifecycle', 'frames', 'wire'], SETUP + code);
};

test('a monitored remote spawn: the child exits between the answer and the resume, then its worker dies: one EXIT', () =>
  run(String.raw`
    local M, T = caller(0x100)
    start(T, function() return S.spawn_from(M, "app:kid", "app:q", true, false, 0, {}) end)
    F.has(F.logged(), "post 2 {s,1,{app:p|0x00100},1,app:kid,app:q,{app:p|0x00100},false,false,{}}")
    FR.dispatch(W.rep(M.pid, 1, CHILD, nil))
    F.eq(M.monitoring[CHILD], true, "recorded as the answer is handled")
    FR.dispatch(exit_of(M.pid, CHILD, { value = 5 }))
    F.eq(M.monitoring[CHILD], nil, "the EXIT ends the monitor")
    F.eq(resume(T), CHILD, "spawn_monitored returns the child")
    F.eq(M.monitoring[CHILD], nil, "the resumed caller does not record the monitor again")
    F.eq(M.heard, nil, "nothing left once no spawn is out")
    FR.dispatch(W.wdown(2, "worker crashed: boom"))
    F.eq(exits_heard(M.pid, CHILD), 1, "one EXIT from the child")
  `));

test('a monitored remote spawn: the EXIT overtakes the answer (through the caller\'s home): one EXIT', () =>
  run(String.raw`
    local M, T = caller(0x100)
    start(T, function() return S.spawn_from(M, "app:kid", "app:q", true, false, 0, {}) end)
    F.eq(M.heard.n, 1)
    FR.dispatch(exit_of(M.pid, CHILD, { value = 5 }))
    FR.dispatch(W.rep(M.pid, 1, CHILD, nil))
    F.eq(M.monitoring[CHILD], nil, "a child already heard of is not monitored")
    F.eq(resume(T), CHILD)
    FR.dispatch(W.wdown(2, "worker crashed: boom"))
    F.eq(exits_heard(M.pid, CHILD), 1, "one EXIT from the child")
    F.eq(M.alive, true)
  `));

test('a worker death drops the watchers that died with it, from P.watchers in either form (pids.lua watch)', () =>
  run(String.raw`
    local HERE = "{app:p|0x00100}"
    local A1 = F.proc("{app:p|0x00200}", { uniq = 0x200, watchers = CHILD }) -- the one watcher itself
    local A2 = F.proc("{app:p|0x00201}", { uniq = 0x201, watchers = { [CHILD] = true, [HERE] = true } })
    local A3 = F.proc("{app:p|0x00202}", { uniq = 0x202, watchers = HERE })
    FR.dispatch(W.wdown(2, "worker crashed: boom"))
    F.eq(A1.watchers, F.NONE, "its one watcher died")
    F.eq(A2.watchers[CHILD], nil); F.eq(A2.watchers[HERE], true)
    F.eq(A3.watchers, HERE, "a watcher on a live worker stays")
  `));

test('the child\'s worker dies before the answer comes: the request fails, the monitor is never recorded', () =>
  run(String.raw`
    local M, T = caller(0x100)
    start(T, function() return S.spawn_from(M, "app:kid", "app:q", true, false, 0, {}) end)
    FR.dispatch(W.wdown(2, "worker crashed: boom"))
    local pid, e = resume(T)
    F.eq(pid, nil); F.eq(e.message, "worker crashed: boom")
    F.eq(next(M.monitoring), nil); F.eq(M.heard, nil)
  `));

test('a linked remote spawn whose child ends normally before the caller resumes: a later worker death kills nobody', () =>
  run(String.raw`
    local M, T = caller(0x100)
    start(T, function() return S.spawn_from(M, "app:kid", "app:q", false, true, 0, {}) end)
    FR.dispatch(W.rep(M.pid, 1, CHILD, nil))
    FR.dispatch(W.ul(M.pid, CHILD)) -- the child's normal exit unlinks it
    F.eq(resume(T), CHILD)
    F.eq(M.links[CHILD], nil, "the unlinked child is not linked again")
    FR.dispatch(W.wdown(2, "worker crashed: boom"))
    F.eq(M.alive, true, "no LINK_DOWN synthesized for a child that ended well")
    -- and the same when the unlink overtakes the answer (on the replacement, worker 3)
    FR.dispatch(W.wup(3, "app:q"))
    local M2, T2 = caller(0x101)
    start(T2, function() return S.spawn_from(M2, "app:kid", "app:q", false, true, 0, {}) end)
    local C2 = "{app:q|0x00008}"
    F.owner[8] = 3
    FR.dispatch(W.ul(M2.pid, C2))
    FR.dispatch(W.rep(M2.pid, 2, C2, nil))
    F.eq(resume(T2), C2)
    F.eq(M2.links[C2], nil)
    FR.dispatch(W.wdown(3, "worker crashed: boom"))
    F.eq(M2.alive, true)
  `));

test('a linked remote spawn whose caller failed before the answer: the child gets LINK_DOWN', () =>
  run(String.raw`
    local M, T = caller(0x100)
    start(T, function() return S.spawn_from(M, "app:kid", "app:q", true, true, 0, {}) end)
    L.kill(M, F.err("Internal", "caller boom"))
    F.eq(M.notified, true)
    frames_out = {}
    FR.dispatch(W.rep(M.pid, 1, CHILD, nil))
    local kinds = {}
    for _, o in ipairs(frames_out) do
      F.eq(o.tid, 2); F.eq(o.f[2], CHILD)
      kinds[#kinds + 1] = o.f[1] == "e" and o.f[3].kind .. ":" .. o.f[3].result.error.message or o.f[1] .. ":" .. tostring(o.f[3])
    end
    F.eq(table.concat(kinds, ","), "um:" .. M.pid .. ",pid.link.down:caller boom",
      "the child's watcher record is dropped and its link told of the failure")
  `));

test('an exec whose caller is terminated while the spawn request is out cancels the callee when the answer comes', () =>
  run(String.raw`
    local P, T = caller(0x100)
    local exits = 0
    start(T, function() return X.exec_start(P, "app:kid", "app:q", 0, {}, nil, function() exits = exits + 1 end) end)
    local s = frames_out[#frames_out].f
    local wpid = s[7]
    F.eq(s[1], "s"); F.eq(L.exec_waits[wpid] ~= nil, true)
    L.terminate(P)
    F.eq(P.alive, false)
    frames_out = {}
    FR.dispatch(W.rep(P.pid, 1, CHILD, nil))
    F.eq(#frames_out, 1, "one frame: the CANCEL")
    local c = frames_out[1]
    F.eq(c.tid, 2); F.eq(c.f[1], "c"); F.eq(c.f[2], CHILD); F.eq(c.f[3], P.pid)
    F.eq(c.f[5], "caller context canceled")
    F.eq(L.exec_waits[wpid], nil, "the wait is released")
    F.eq(exits, 0)
  `));

test('an exec whose caller is terminated after the answer, before it resumes, cancels the callee once', () =>
  run(String.raw`
    local P, T = caller(0x100)
    start(T, function() return X.exec_start(P, "app:kid", "app:q", 0, {}, nil, function() end) end)
    FR.dispatch(W.rep(P.pid, 1, CHILD, nil))
    F.eq(P.npending, 1, "the exec counts as pending from the answer on")
    frames_out = {}
    L.terminate(P)
    local cancels = 0
    for _, o in ipairs(frames_out) do
      if o.f[1] == "c" then
        cancels = cancels + 1
        F.eq(o.tid, 2); F.eq(o.f[2], CHILD); F.eq(o.f[5], "caller context canceled")
      end
    end
    F.eq(cancels, 1)
  `));

test('a remote exec that runs to its end: the caller resumes with the handle, on_exit hears the EXIT once', () =>
  run(String.raw`
    local P, T = caller(0x100)
    local heard = {}
    start(T, function() return X.exec_start(P, "app:kid", "app:q", 0, {}, nil, function(ev) heard[#heard + 1] = ev end) end)
    local wpid = frames_out[#frames_out].f[7]
    FR.dispatch(W.rep(P.pid, 1, CHILD, nil))
    local h = resume(T)
    F.eq(h.pid, CHILD)
    F.eq(P.execs[wpid], CHILD)
    FR.dispatch(exit_of(wpid, CHILD, { value = 42 }))
    F.eq(#heard, 1); F.eq(heard[1].result.value, 42)
    F.eq(P.npending, 0); F.eq(next(P.execs), nil)
  `));

// exec.lua's cancel_execs: the waiter PID (node:control, minted by exec_start) is marked dead when
// its caller dies, as when the wait ends any other way; before, its directory slot stayed alive
// (the main thread's sends to it succeeded into nowhere). Its callee's EXIT, still in flight, is
// dropped where it lands.
// How many times the log says uniq u was marked dead (H.dead), since the last F.clear().
const DEADS = String.raw`
  function deads(u)
    local n = 0
    for _, line in ipairs(F.log) do if line == "dead " .. u then n = n + 1 end end
    return n
  end
`;

test('an exec whose caller dies while it waits: the waiter PID is marked dead once, its late EXIT is dropped', () =>
  run(DEADS + String.raw`
    local P, T = caller(0x100)
    local exits = 0
    start(T, function() return X.exec_start(P, "app:kid", "app:q", 0, {}, nil, function() exits = exits + 1 end) end)
    local wpid = frames_out[#frames_out].f[7]
    local wuniq = tonumber(wpid:match("|0x(%x+)}$"), 16)
    FR.dispatch(W.rep(P.pid, 1, CHILD, nil))
    F.eq(resume(T).pid, CHILD)
    F.eq(P.execs[wpid], CHILD)
    F.clear()
    L.terminate(P)
    F.eq(deads(wuniq), 1, "the waiter's slot marked dead once")
    F.eq(L.exec_waits[wpid], nil)
    F.eq(P.execs, nil)
    F.clear()
    FR.dispatch(exit_of(wpid, CHILD, { value = 1 }))
    F.eq(exits, 0, "the late EXIT reaches nobody")
    F.eq(deads(wuniq), 0, "not marked dead again")
  `));

test('an exec whose wait ends by EXIT or by cancel marks the waiter PID dead once (a caller dying later does not again)', () =>
  run(DEADS + String.raw`
    local P, T = caller(0x100)
    start(T, function() return X.exec_start(P, "app:kid", "app:q", 0, {}, nil, function() end) end)
    local w1 = frames_out[#frames_out].f[7]
    FR.dispatch(W.rep(P.pid, 1, CHILD, nil))
    local h1 = resume(T)
    F.clear()
    FR.dispatch(exit_of(w1, CHILD, { value = 1 }))
    local u1 = tonumber(w1:match("|0x(%x+)}$"), 16)
    F.eq(deads(u1), 1)
    F.eq(h1.cancel("late"), false, "a finished wait cannot be cancelled")
    -- a second exec, cancelled through its handle
    start(T, function() return X.exec_start(P, "app:kid", "app:q", 0, {}, nil, function() end) end)
    local w2 = frames_out[#frames_out].f[7]
    local u2 = tonumber(w2:match("|0x(%x+)}$"), 16)
    FR.dispatch(W.rep(P.pid, 2, "{app:q|0x00009}", nil))
    local h2 = resume(T)
    F.clear()
    F.eq(h2.cancel("stop"), true)
    F.eq(deads(u2), 1)
    F.clear()
    L.terminate(P)
    F.eq(deads(u1), 0); F.eq(deads(u2), 0)
  `));
