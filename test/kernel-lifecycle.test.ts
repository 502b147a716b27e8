// src/lua/kernel/lifecycle.lua on its own, under fakes (test/lua/kernel_fake.lua): who hears of
// an exit and in which order, crash reports, names released before the EXIT goes out, results
// that cannot cross, CANCEL deadlines and hooks, exits while the process runs, the scheduler's
// hooks, a function frame's several results.
import { test } from 'node:test';
import { withKernelModules } from './helpers/kernel-module.js';

const SETUP = String.raw`
  run = { cur = nil, cp = nil }
  timers = {}
  released = {}
  cancelled = {}
  arrived = {}
  L = module("lifecycle")({
    H = F.H, run = run, procs = F.procs,
    remove = function(P) F.procs[P.pid] = nil; F.logf("remove %s", P.pid) end,
    post = F.post,
    parse_pid = function(s)
      local h, u = s:match("^{(.*)|0x(%x+)}$")
      if h then return h, tonumber(u, 16) end
    end,
    copy = F.copy, err = F.err, is_error = F.is_error, error_fields = F.error_fields,
    make_error = F.make_error, memory_error = F.memory_error, to_error = F.to_error,
    CH = F.CH, timer_add = function(at, fn) timers[#timers + 1] = { at = at, fn = fn } end,
    hook = function(co) return co end,
    arrive_event = function(P, ev)
      arrived[#arrived + 1] = ev
      local r = ev.result and (ev.result.error and ("error=" .. ev.result.error.message) or ("value=" .. F.show(ev.result.value))) or ""
      F.logf("arrive %s %s from %s %s", P.pid, ev.kind, ev.from, r)
    end,
    release_names = function(P) released[#released + 1] = P; F.logf("release names of %s", P.pid) end,
    hosts = { ["app:host"] = {}, ["app:quiet"] = { crash_reports = false } },
    cancel_execs = function(P) cancelled[#cancelled + 1] = P.pid end,
    wire = module("wire")(), set_of = F.set_of, watch = F.watch, unwatch = F.unwatch,
  })
  A = F.proc("{app|0x00001}", { uniq = 1 })
  B = F.proc("{app|0x00002}", { uniq = 2 })
`;
const run = async (code: string): Promise<void> => { await withKernelModules(['lifecycle', 'wire'], SETUP + code); };

test('a normal exit: watchers get EXIT with the value, links are just removed, no crash report', () =>
  run(String.raw`
    A.watchers[B.pid] = true
    A.links["{app|0x00003}"] = true
    F.routes[3] = { 5, true }
    L.exit(A, { ok = 1 }, nil)
    local log = F.logged()
    F.eq(A.alive, false)
    F.has(log, "remove {app|0x00001}\ndead 1\nload_add -1 nil")
    F.has(log, "arrive {app|0x00002} pid.exit from {app|0x00001} value=")
    F.has(log, 'post 5 {ul,{app|0x00003},{app|0x00001}}', "the remote link is told to unlink")
    F.hasnt(log, "crash")
    F.eq(A.notified, true)
  `));

test('P.watchers in either form: the one watcher itself (as a monitored spawn starts it), a set past one, none', () =>
  run(String.raw`
    local C = F.proc("{app|0x00004}", { uniq = 4 })
    A.watchers = B.pid -- (spawn.lua start_here, lspawn.c)
    L.topo(A.pid, "mon", B.pid)
    F.eq(A.watchers, B.pid, "the same watcher again: still itself")
    L.topo(A.pid, "mon", C.pid)
    F.eq(type(A.watchers), "table", "a second watcher: a set")
    F.eq(A.watchers[B.pid], true); F.eq(A.watchers[C.pid], true)
    L.topo(A.pid, "um", B.pid)
    F.eq(A.watchers[B.pid], nil); F.eq(A.watchers[C.pid], true)
    L.exit(A, 7, nil)
    F.has(F.logged(), "arrive {app|0x00004} pid.exit from {app|0x00001} value=7")
    F.hasnt(F.logged(), "arrive {app|0x00002}", "unwatched")
    -- the one watcher itself hears of an error exit: no crash report
    F.clear()
    B.watchers = C.pid
    L.kill(B, F.err("Internal", "boom"))
    F.has(F.logged(), "arrive {app|0x00004} pid.exit from {app|0x00002} error=boom")
    F.hasnt(F.logged(), "crash")
    -- the one watcher removed: the shared empty set, and an error exit nobody hears of is reported
    F.clear()
    local D = F.proc("{app|0x00005}", { uniq = 5 })
    D.watchers = C.pid
    L.topo(D.pid, "um", "{app|0x00009}")
    F.eq(D.watchers, C.pid, "another PID's unmonitor leaves it")
    L.topo(D.pid, "um", C.pid)
    F.eq(D.watchers, F.NONE)
    L.kill(D, F.err("Internal", "alone"))
    F.hasnt(F.logged(), "arrive"); F.has(F.logged(), "crash")
    -- a monitor of a process without watchers: the watcher itself, no set
    local E = F.proc("{app|0x00006}", { uniq = 6 })
    E.watchers = F.NONE
    L.topo(E.pid, "mon", C.pid)
    F.eq(E.watchers, C.pid)
  `));

test('an error exit: LINK_DOWN kills a link that does not trap; one that traps gets the event', () =>
  run(String.raw`
    local C = F.proc("{app|0x00004}", { uniq = 4, trap_links = true })
    A.links[B.pid] = true; B.links[A.pid] = true
    A.links[C.pid] = true; C.links[A.pid] = true
    L.kill(A, F.err("Internal", "boom"))
    F.eq(B.alive, false, "B is linked and does not trap links")
    F.eq(B.exit_err.message, "linked process failed"); F.eq(B.forced, true, "not a crash of its own")
    F.eq(C.alive, true)
    F.has(F.logged(), "arrive {app|0x00004} pid.link.down from {app|0x00001} error=boom")
    F.hasnt(F.logged(), "crash", "A had links: somebody heard of it")
  `));

test('an error exit nobody hears of sends a crash report, unless forced or the host turns them off', () =>
  run(String.raw`
    L.kill(A, F.err("Invalid", "bad input"))
    F.has(F.logged(), "post 0 {crash,{app|0x00001},app:p,app:host,Invalid,bad input,}")
    F.clear()
    L.terminate(B)
    F.eq(B.exit_err.message, "process terminated")
    F.hasnt(F.logged(), "crash", "a terminate is not a crash")
    local Q = F.proc("{app|0x00005}", { uniq = 5, host = "app:quiet" })
    L.kill(Q, F.err("Internal", "x"))
    F.hasnt(F.logged(), "crash", "crash_reports = false")
  `));

test('names are released before anyone hears of the exit', () =>
  run(String.raw`
    A.names.svc = true
    A.watchers[B.pid] = true
    L.exit(A, 1, nil)
    F.eq(#released, 1)
    F.hasnt(F.logged(), "arrive", "the EXIT waits for the release to be acknowledged")
    L.notify_exit(A)
    F.has(F.logged(), "release names of {app|0x00001}\narrive {app|0x00002} pid.exit")
  `));

test('a result that cannot cross reaches the watcher as an Invalid error saying why', () =>
  run(String.raw`
    A.watchers[B.pid] = true
    L.exit(A, { f = print }, nil)
    F.has(F.logged(), "arrive {app|0x00002} pid.exit from {app|0x00001} error=process result cannot be delivered: cannot send a function")
  `));

test('exec waiters take the EXIT only; remote watchers get an "e" frame', () =>
  run(String.raw`
    local got = {}
    L.exec_waits["{node:control|0x00009}"] = function(ev) got[#got + 1] = ev.kind end
    L.send_event("{node:control|0x00009}", { kind = "pid.cancel", from = A.pid })
    L.send_event("{node:control|0x00009}", { kind = "pid.exit", from = A.pid })
    F.eq(#got, 1); F.eq(got[1], "pid.exit")
    F.routes[7] = { 3, true }
    L.send_event("{app|0x00007}", { kind = "pid.exit", from = A.pid })
    F.has(F.logged(), "post 3 {e,{app|0x00007},")
    F.routes[8] = { 3, false }
    F.clear()
    L.send_event("{app|0x00008}", { kind = "pid.exit", from = A.pid })
    F.eq(F.logged(), "", "a dead PID is dropped silently")
  `));

test('CANCEL with a deadline arms a timer that terminates; the later error exit is not a crash', () =>
  run(String.raw`
    L.deliver_event(A, { kind = "pid.cancel", from = B.pid, deadline = F.wall + 2 })
    F.eq(#timers, 1); F.eq(timers[1].at, F.now + 2000)
    F.eq(A.forced, true)
    timers[1].fn()
    F.eq(A.alive, false); F.eq(A.exit_err.message, "process terminated")
    F.hasnt(F.logged(), "crash")
  `));

test('an exit during the process\'s own step waits for after_resume; execs are cancelled', () =>
  run(String.raw`
    A.execs = { ["{node:control|0x00010}"] = B.pid }
    run.cur = { proc = A }
    L.exit(A, 7, nil)
    F.eq(A.exit_pending, true); F.hasnt(F.logged(), "remove", "not finalized yet")
    F.eq(cancelled[1], A.pid)
    run.cur = nil
    L.after_resume(A)
    F.has(F.logged(), "remove {app|0x00001}")
  `));

test('thread_done: a string second result is an error exit; a non-data result is Invalid; deadlock', () =>
  run(String.raw`
    -- (a main thread is P.main, not a member of P.threads: sched.lua new_thread)
    local T = { proc = A, co = coroutine.create(function() end) }
    A.nthreads = 1; A.main = T
    L.thread_done(T, nil, "went wrong")
    F.eq(A.exit_err.kind, "Internal"); F.eq(A.exit_err.message, "went wrong")
    local T2 = { proc = B, co = coroutine.create(function() end) }
    B.nthreads = 1; B.main = T2
    L.thread_done(T2, function() end, nil)
    F.eq(B.exit_err.kind, "Invalid"); F.eq(B.exit_err.message, "invalid process result: cannot send a function")
    local C = F.proc("{app|0x00006}", { uniq = 6 })
    local Tm = { proc = C, co = coroutine.create(function() end) }
    local Tx = { proc = C, co = coroutine.create(function() end) }
    C.threads[Tx] = true; C.nthreads = 2; C.main = Tm
    L.thread_done(Tx, nil, nil)
    F.eq(C.alive, false, "the main thread is left parked with nothing pending")
    F.has(C.exit_err.message, "deadlock: all coroutines blocked with no pending operations (threads=1)")
  `));

test('end_faulted finishes an exit that a kernel error interrupted', () =>
  run(String.raw`
    A.watchers[B.pid] = true
    A.alive = false; A.exit_err = F.err("Internal", "half")
    local ok = L.end_faulted(A, F.err("Internal", "kernel error: x"))
    F.eq(ok, true)
    F.has(F.logged(), "arrive {app|0x00002} pid.exit from {app|0x00001} error=kernel error: x")
    F.eq(L.take_notifying(), nil)
  `));

test('CANCEL runs the process\'s hooks before it sees the event; off_cancel removes one; other events run none', () =>
  run(String.raw`
    local t1 = L.on_cancel(A, function(ev) F.logf("hook 1 %s", ev.reason) end)
    local t2
    t2 = L.on_cancel(A, function(ev) F.logf("hook 2 %s", ev.reason); L.off_cancel(A, t2) end)
    L.deliver_event(A, { kind = "pid.exit", from = B.pid, result = { value = 1 } })
    L.deliver_event(A, { kind = "pid.link.down", from = B.pid, result = { error = F.err("Internal", "x") } })
    F.hasnt(F.logged(), "hook", "EXIT and LINK_DOWN run no CANCEL hook")
    A.trap_links = true
    F.clear()
    L.deliver_event(A, { kind = "pid.cancel", from = B.pid, reason = "stop" })
    local log = F.logged()
    F.has(log, "hook 1 stop"); F.has(log, "hook 2 stop")
    F.eq(log:find("hook", 1, true) < log:find("arrive", 1, true), true, "hooks run before the event arrives")
    F.has(log, "arrive {app|0x00001} pid.cancel from {app|0x00002}")
    F.clear()
    L.deliver_event(A, { kind = "pid.cancel", from = B.pid, reason = "again" })
    F.has(F.logged(), "hook 1 again"); F.hasnt(F.logged(), "hook 2", "a hook that removed itself runs once")
    L.off_cancel(A, t1)
    F.clear()
    L.deliver_event(A, { kind = "pid.cancel", from = B.pid, reason = "third" })
    F.hasnt(F.logged(), "hook")
    L.off_cancel(B, t1) -- a process that never had hooks: nothing to remove
    F.eq(B.on_cancel, nil)
  `));

test('a function frame\'s several results: thread_done keeps them, the EXIT carries result.values', () =>
  run(String.raw`
    A.watchers[B.pid] = true
    local T = { proc = A, co = coroutine.create(function() end) }
    A.nthreads = 1; A.main = T
    A.results = { n = 4, 7, { k = "v" }, nil, "four" } -- set by spawn.lua's function body
    L.thread_done(T, 7, A.results[2])
    F.eq(A.exit_err, nil)
    local r = arrived[1].result
    F.eq(r.value, 7)
    F.eq(r.values.n, 4); F.eq(r.values[1], 7); F.eq(r.values[2].k, "v"); F.eq(r.values[3], nil)
    F.eq(r.values[4], "four")
    F.eq(r.values[2] == A.results[2], false, "the values are copied out of the process")

    local C = F.proc("{app|0x00006}", { uniq = 6 })
    C.watchers[B.pid] = true
    local Tc = { proc = C, co = coroutine.create(function() end) }
    C.nthreads = 1; C.main = Tc
    L.thread_done(Tc, 1, nil)
    F.eq(arrived[2].result.value, 1); F.eq(arrived[2].result.values, nil, "one result: no values")

    local D = F.proc("{app|0x00007}", { uniq = 7 })
    D.watchers[B.pid] = true
    local Td = { proc = D, co = coroutine.create(function() end) }
    D.nthreads = 1; D.main = Td
    D.results = { n = 2, 1, print }
    L.thread_done(Td, 1, print)
    F.eq(D.exit_err.kind, "Invalid"); F.eq(D.exit_err.message, "invalid process result: cannot send a function")
    F.eq(arrived[3].result.error.message, "invalid process result: cannot send a function")
  `));

test('exits in one step: one wall-clock read and no load host call per exit; fakes without run.wall read each time', () =>
  run(String.raw`
    local walls = 0
    local wall = F.H.wall
    F.H.wall = function() walls = walls + 1; return wall() end
    run.wall, run.dload = 0, 0 -- as init.lua's __step sets them
    local W = F.proc("{app|0x00010}", { uniq = 16 })
    F.wall = 1700000200
    for i = 1, 3 do
      local C = F.proc(string.format("{app|0x%05x}", 0x20 + i), { uniq = 0x20 + i })
      C.watchers[W.pid] = true
      if i == 3 then F.wall = 1700000207 end -- the clock moves within the step
      L.exit(C, i, nil)
    end
    F.hasnt(F.logged(), "load_add", "no host call per exit")
    F.eq(run.dload, -3, "the step's count, sent at its end")
    F.eq(walls, 1, "one wall-clock read for the step's three EXITs")
    F.eq(#arrived, 3)
    for i = 1, 3 do F.eq(arrived[i].at, 1700000200, "EXIT at the step's clock") end
    run.wall = 0 -- the next step
    local D = F.proc("{app|0x00030}", { uniq = 0x30 }); D.watchers[W.pid] = true
    L.exit(D, 0, nil)
    F.eq(arrived[4].at, 1700000207); F.eq(walls, 2)
    -- without the step's fields (a kernel without init.lua's __step): at once, as before
    run.wall, run.dload = nil, nil
    F.clear()
    local E2 = F.proc("{app|0x00031}", { uniq = 0x31 }); E2.watchers[W.pid] = true
    L.exit(E2, 0, nil)
    F.has(F.logged(), "load_add -1 nil"); F.eq(walls, 3)
  `));

test('load_first: a host call that reads the directory load gets the step count sent first, once', () =>
  run(String.raw`
    run.wall, run.dload = 0, 0
    local place = L.load_first(function(a) F.logf("place %s", tostring(a)); return 2 end)
    F.eq(place("x"), 2, "the wrapped call's result")
    F.eq(F.logged(), "place x", "nothing to send")
    L.count_load(-1); L.count_load(-1); L.count_load(-1); L.count_load(1)
    F.eq(F.logged(), "place x", "three exits and a start: nothing sent yet")
    F.clear()
    place("y")
    F.eq(F.logged(), "load_add -2 nil\nplace y", "the step's count goes before the call")
    F.eq(run.dload, 0)
    F.clear()
    place("z")
    F.eq(F.logged(), "place z", "sent once")
    run.dload = nil -- the fakes: count_load went to the host already
    F.clear(); place("w"); F.eq(F.logged(), "place w")
  `));
