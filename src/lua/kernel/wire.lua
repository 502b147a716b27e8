-- GENERATED from src/wire/spec.ts by `node dist/src/wire/gen.js`: do not edit by hand. test/wire.test.ts
-- fails when this file and the spec disagree.
--
-- The wire protocol, Lua side: the field index of every frame and positional record that crosses a
-- thread, a constructor per kind, and the constants both languages share. docs/design/protocol.md
-- describes each frame (direction, sender, handler). A frame `f` has its kind at f[W.KIND] (1) and
-- its fields after it: f[W.M_TOPIC] is the topic of an "m" frame. Every targeted frame has its
-- target PID at f[W.PID] (2). Records have no kind: W.TASK_PID is 1.
--
-- Use. Copy what a module needs into locals once (`local M_PID, M_TOPIC = W.M_PID, W.M_TOPIC`): a
-- local costs nothing to read. The constructors (W.m(pid, from, topic, n, payloads), ...) build
-- the same array a table constructor would, at the cost of one call; a frame with a nil field is
-- not a sequence and is sent as a map, as before.
--
-- Module shape: like every kernel file it returns a function (it takes no dependencies) that
-- returns the module table.
return function()
  local W = {}
  W.KIND = 1
  W.PID = 2 -- the target of every targeted frame
  -- Every rpc frame (s, nreg, nlook, nunreg) starts with the same head: where the "rep" goes and
  -- the request id; the request's own fields start at W.RPC_ARGS.
  W.RPC_REPLY_TID = 2
  W.RPC_REPLY_PID = 3
  W.RPC_REQ = 4
  W.RPC_ARGS = 5

  -- "m" (main->worker, worker->worker; targeted)
  W.M_PID = 2
  W.M_FROM = 3
  W.M_TOPIC = 4
  W.M_N = 5
  W.M_PAYLOADS = 6
  function W.m(pid, from, topic, n, payloads) return { "m", pid, from, topic, n, payloads } end

  -- "e" (worker->worker, worker->main; targeted)
  W.E_PID = 2
  W.E_EVENT = 3
  function W.e(pid, event) return { "e", pid, event } end

  -- "jx" (worker->main)
  W.JX_WATCH = 2
  W.JX_ERROR = 3
  W.JX_STACK = 4
  W.JX_VALUE = 5
  function W.jx(watch, error, stack, value) return { "jx", watch, error, stack, value } end

  -- "t" (main->worker, worker->worker; targeted)
  W.T_PID = 2
  W.T_FROM = 3
  function W.t(pid, from) return { "t", pid, from } end

  -- "c" (main->worker, worker->worker; targeted)
  W.C_PID = 2
  W.C_FROM = 3
  W.C_DEADLINE = 4
  W.C_REASON = 5
  function W.c(pid, from, deadline, reason) return { "c", pid, from, deadline, reason } end

  -- "lk" (worker->worker; targeted)
  W.LK_PID = 2
  W.LK_OTHER = 3
  function W.lk(pid, other) return { "lk", pid, other } end

  -- "ul" (worker->worker; targeted)
  W.UL_PID = 2
  W.UL_OTHER = 3
  function W.ul(pid, other) return { "ul", pid, other } end

  -- "mon" (worker->worker; targeted)
  W.MON_PID = 2
  W.MON_OTHER = 3
  function W.mon(pid, other) return { "mon", pid, other } end

  -- "um" (worker->worker; targeted)
  W.UM_PID = 2
  W.UM_OTHER = 3
  function W.um(pid, other) return { "um", pid, other } end

  -- "nown" (main->worker; targeted)
  W.NOWN_PID = 2
  W.NOWN_NAME = 3
  W.NOWN_TOKEN = 4
  function W.nown(pid, name, token) return { "nown", pid, name, token } end

  -- "s" (main->worker, worker->worker; rpc)
  W.S_REPLY_TID = 2
  W.S_REPLY_PID = 3
  W.S_REQ = 4
  W.S_ID = 5
  W.S_HOST = 6
  W.S_WATCHER = 7
  W.S_LINK = 8
  W.S_CTX = 9
  W.S_ARGS = 10
  function W.s(reply_tid, reply_pid, req, id, host, watcher, link, ctx, args) return { "s", reply_tid, reply_pid, req, id, host, watcher, link, ctx, args } end

  -- "rep" (main->worker, worker->worker, worker->main, host->kernel)
  W.REP_PID = 2
  W.REP_REQ = 3
  W.REP_VALUE = 4
  W.REP_ERROR = 5
  function W.rep(pid, req, value, error) return { "rep", pid, req, value, error } end

  -- "sp" (main->worker, worker->worker)
  W.SP_PID = 2
  W.SP_UNIQ = 3
  W.SP_ID = 4
  W.SP_HOST = 5
  W.SP_WATCHER = 6
  W.SP_LINK = 7
  W.SP_CTX = 8
  W.SP_ARGS = 9
  function W.sp(pid, uniq, id, host, watcher, link, ctx, args) return { "sp", pid, uniq, id, host, watcher, link, ctx, args } end

  -- "spj" (main->worker)
  W.SPJ_PID = 2
  W.SPJ_UNIQ = 3
  W.SPJ_ID = 4
  W.SPJ_HOST = 5
  W.SPJ_WATCHER = 6
  W.SPJ_LINK = 7
  W.SPJ_CTX = 8
  W.SPJ_ARGS = 9
  function W.spj(pid, uniq, id, host, watcher, link, ctx, args) return { "spj", pid, uniq, id, host, watcher, link, ctx, args } end

  -- "bound" (worker->worker)
  W.BOUND_PID = 2
  W.BOUND_RUNNER = 3
  function W.bound(pid, runner) return { "bound", pid, runner } end

  -- "unfwd" (worker->worker)
  W.UNFWD_PID = 2
  function W.unfwd(pid) return { "unfwd", pid } end

  -- "x" (worker->main)
  W.X_REPLY_TID = 2
  W.X_PID = 3
  W.X_REQ = 4
  function W.x(reply_tid, pid, req) return { "x", reply_tid, pid, req } end

  -- "xack" (main->worker)
  W.XACK_REQ = 2
  function W.xack(req) return { "xack", req } end

  -- "nreg" (worker->main; rpc)
  W.NREG_REPLY_TID = 2
  W.NREG_REPLY_PID = 3
  W.NREG_REQ = 4
  W.NREG_NAME = 5
  W.NREG_HOLDER = 6
  function W.nreg(reply_tid, reply_pid, req, name, holder) return { "nreg", reply_tid, reply_pid, req, name, holder } end

  -- "nlook" (worker->main; rpc)
  W.NLOOK_REPLY_TID = 2
  W.NLOOK_REPLY_PID = 3
  W.NLOOK_REQ = 4
  W.NLOOK_NAME = 5
  function W.nlook(reply_tid, reply_pid, req, name) return { "nlook", reply_tid, reply_pid, req, name } end

  -- "nunreg" (worker->main; rpc)
  W.NUNREG_REPLY_TID = 2
  W.NUNREG_REPLY_PID = 3
  W.NUNREG_REQ = 4
  W.NUNREG_NAME = 5
  function W.nunreg(reply_tid, reply_pid, req, name) return { "nunreg", reply_tid, reply_pid, req, name } end

  -- "nok" (worker->main)
  W.NOK_TOKEN = 2
  function W.nok(token) return { "nok", token } end

  -- "crash" (worker->main)
  W.CRASH_PID = 2
  W.CRASH_ENTRY = 3
  W.CRASH_HOST = 4
  W.CRASH_KIND = 5
  W.CRASH_MESSAGE = 6
  W.CRASH_TRACEBACK = 7
  function W.crash(pid, entry, host, kind, message, traceback) return { "crash", pid, entry, host, kind, message, traceback } end

  -- "log" (worker->main)
  W.LOG_LEVEL = 2
  W.LOG_PID = 3
  W.LOG_ENTRY = 4
  W.LOG_NAME = 5
  W.LOG_MESSAGE = 6
  W.LOG_FIELDS = 7
  function W.log(level, pid, entry, name, message, fields) return { "log", level, pid, entry, name, message, fields } end

  -- "env" (worker->main; rpc)
  W.ENV_REPLY_TID = 2
  W.ENV_REPLY_PID = 3
  W.ENV_REQ = 4
  W.ENV_OP = 5
  W.ENV_KEY = 6
  W.ENV_VALUE = 7
  function W.env(reply_tid, reply_pid, req, op, key, value) return { "env", reply_tid, reply_pid, req, op, key, value } end

  -- "evsub" (worker->main; rpc)
  W.EVSUB_REPLY_TID = 2
  W.EVSUB_REPLY_PID = 3
  W.EVSUB_REQ = 4
  W.EVSUB_SUB = 5
  W.EVSUB_SYSTEM = 6
  W.EVSUB_KIND = 7
  function W.evsub(reply_tid, reply_pid, req, sub, system, kind) return { "evsub", reply_tid, reply_pid, req, sub, system, kind } end

  -- "evunsub" (worker->main)
  W.EVUNSUB_TID = 2
  W.EVUNSUB_SUB = 3
  function W.evunsub(tid, sub) return { "evunsub", tid, sub } end

  -- "evsend" (worker->main)
  W.EVSEND_SYSTEM = 2
  W.EVSEND_KIND = 3
  W.EVSEND_PATH = 4
  W.EVSEND_DATA = 5
  function W.evsend(system, kind, path, data) return { "evsend", system, kind, path, data } end

  -- "ev" (main->worker)
  W.EV_SUB = 2
  W.EV_SYSTEM = 3
  W.EV_KIND = 4
  W.EV_PATH = 5
  W.EV_DATA = 6
  function W.ev(sub, system, kind, path, data) return { "ev", sub, system, kind, path, data } end

  -- "met" (worker->main)
  W.MET_OP = 2
  W.MET_NAME = 3
  W.MET_VALUE = 4
  W.MET_LABELS = 5
  function W.met(op, name, value, labels) return { "met", op, name, value, labels } end

  -- "wcall" (worker->main; rpc)
  W.WCALL_REPLY_TID = 2
  W.WCALL_REPLY_PID = 3
  W.WCALL_REQ = 4
  W.WCALL_ID = 5
  W.WCALL_ARGS = 6
  W.WCALL_CTX = 7
  function W.wcall(reply_tid, reply_pid, req, id, args, ctx) return { "wcall", reply_tid, reply_pid, req, id, args, ctx } end

  -- "wstep" (worker->main; rpc)
  W.WSTEP_REPLY_TID = 2
  W.WSTEP_REPLY_PID = 3
  W.WSTEP_REQ = 4
  W.WSTEP_ANSWER = 5
  function W.wstep(reply_tid, reply_pid, req, answer) return { "wstep", reply_tid, reply_pid, req, answer } end

  -- "wstop" (worker->main)
  W.WSTOP_PID = 2
  function W.wstop(pid) return { "wstop", pid } end

  -- "w" (worker->main)
  W.W_FD = 2
  W.W_BYTES = 3
  function W.w(fd, bytes) return { "w", fd, bytes } end

  -- "shutdown" (host->kernel)
  W.SHUTDOWN_GRACE_MS = 2
  function W.shutdown(grace_ms) return { "shutdown", grace_ms } end

  -- "wdown" (host->kernel)
  W.WDOWN_TID = 2
  W.WDOWN_MESSAGE = 3
  function W.wdown(tid, message) return { "wdown", tid, message } end

  -- "wup" (host->kernel)
  W.WUP_TID = 2
  W.WUP_HOST = 3
  function W.wup(tid, host) return { "wup", tid, host } end

  -- record "task"
  W.TASK_PID = 1
  W.TASK_UNIQ = 2
  W.TASK_ID = 3
  W.TASK_HOST = 4
  W.TASK_WATCHER = 5
  W.TASK_LINK = 6
  W.TASK_CTX = 7
  W.TASK_ARGS = 8
  W.TASK_HOME = 9
  function W.task(pid, uniq, id, host, watcher, link, ctx, args, home) return { pid, uniq, id, host, watcher, link, ctx, args, home } end

  -- record "prow"
  W.PROW_PID = 1
  W.PROW_ENTRY = 2
  W.PROW_NAME = 3
  W.PROW_HOST = 4
  W.PROW_TID = 5
  W.PROW_STATUS = 6
  W.PROW_RUNS = 7
  W.PROW_CPU_MS = 8
  W.PROW_HEAP = 9
  W.PROW_RECEIVED = 10
  W.PROW_SENT = 11
  W.PROW_UNREAD = 12
  W.PROW_THREADS = 13
  W.PROW_STARTED = 14
  function W.prow(pid, entry, name, host, tid, status, runs, cpu_ms, heap, received, sent, unread, threads, started) return { pid, entry, name, host, tid, status, runs, cpu_ms, heap, received, sent, unread, threads, started } end

  -- Frames addressed to one process: forwarded by a home worker, held until the process starts.
  W.TARGETED = { m = true, e = true, t = true, c = true, lk = true, ul = true, mon = true, um = true, nown = true }

  W.ZERO_PID = "{|}"
  W.CONTROL_HOST = "node:control"
  W.FN_HOST_MARK = "#lua."
  W.EV_EXIT = "pid.exit"
  W.EV_LINK_DOWN = "pid.link.down"
  W.EV_CANCEL = "pid.cancel"

  -- The PID host of a function.lua process of entry `id` on thread `tid`, and the test for it.
  local FN_HOST_MARK, find = W.FN_HOST_MARK, string.find
  function W.fn_host(id, tid) return id .. FN_HOST_MARK .. tid end
  function W.is_fn_host(host) return find(host, FN_HOST_MARK, 1, true) ~= nil end
  return W
end
