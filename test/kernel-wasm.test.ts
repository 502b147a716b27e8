// src/lua/kernel/wasm.lua on its own, under fakes (test/lua/kernel_fake.lua): the WebAssembly
// bodies' protocol with the main thread — main() sends one "wcall" and returns what the "rep"
// carries; a process that exits before the answer sends "wstop"; a function frame also stops its
// call on a CANCEL, a process.wasm does not (the kernel's deadline terminates it); a guest's
// mailbox request ends the rpc early and is served in the process, answered with "wstep". End to
// end through real processes: test/wasm-lua.test.ts, test/wasm-guest.test.ts.
import { test } from 'node:test';
import { withKernelModules } from './helpers/kernel-module.js';

const SETUP = String.raw`
  calls, cancel_hooks = {}, {}
  answer = nil -- what the fake rpc returns: { values, err }
  queue = nil  -- or a list of such answers, one per rpc
  served = {}  -- what the fake process module was asked
  fake_process = {
    receive = function(t) served[#served + 1] = { "receive", t }; return inbox_next end,
    send = function(to, topic, payload) served[#served + 1] = { "send", to, topic, payload }; return send_result, send_err end,
  }
  B = module("wasm")({
    rpc = function(tid, kind, ...)
      calls[#calls + 1] = { tid = tid, kind = kind, args = { ... } }
      if queue then local a = table.remove(queue, 1); return a[1], a[2] end
      return answer[1], answer[2]
    end,
    post = F.post,
    on_cancel = function(P, fn) cancel_hooks[#cancel_hooks + 1] = { P = P, fn = fn }; return {} end,
    err = F.err, wire = module("wire")(),
    encode_actor = function(a) return a end, encode_scope = function(s) return s end,
    process = function() return fake_process end,
  })
  function start(kind, id, ctx)
    local P = F.proc("{p|0x00001}", { id = id, ctx = ctx })
    local body = B[kind]
    local code = assert(body.prepare({ kind = kind }, id))
    return P, assert(body.instantiate({ kind = kind }, code, P))
  end
`;
const run = async (code: string): Promise<void> => { await withKernelModules(['wasm', 'wire'], SETUP + code); };

test('main() sends one wcall to the main thread and returns the result, or nil, err', () =>
  run(String.raw`
    local P, main = start("function.wasm", "app:compute", { values = { a = 1 } })
    answer = { { 42 } }
    F.eq(main(6, 7), 42)
    F.eq(#calls, 1); F.eq(calls[1].tid, 0); F.eq(calls[1].kind, "wcall")
    F.eq(calls[1].args[1], "app:compute")
    F.eq(calls[1].args[2].n, 2); F.eq(calls[1].args[2][1], 6); F.eq(calls[1].args[2][2], 7)
    F.eq(calls[1].args[3].values.a, 1, "the process's context goes with the call")
    answer = { {} }
    F.eq(main(), nil, "no result value")
    local e = F.err("Internal", "wasm trap: unreachable")
    answer = { nil, e }
    local v, err = main()
    F.eq(v, nil); F.eq(err, e, "the call's error is the process's error result")
    P.on_exit(P)
    F.hasnt(F.logged(), "wstop", "a call that answered is not stopped")
  `));

test('a guest request ends the rpc early: served in the process, answered with wstep, until the end', () =>
  run(String.raw`
    local P, main = start("process.wasm", "app:serve", { values = { t = "x" } })
    P.ctx_actor = { id = "user:a" }
    local msg = setmetatable({}, { __index = {
      topic = function() return "ping" end, from = function() return "{q|0x00002}" end,
      payload = function() return { data = function() return { n = 1 } end } end,
    } })
    inbox_next = msg
    send_result = true
    queue = {
      { { step = "recv", timeout_ms = 50 } },
      { { step = "send", to = "{q|0x00002}", topic = "ping", payload = { n = 1 } } },
      { { step = "recv" } },
      { { 2 } },
    }
    F.eq(main(), 2, "the end after the requests")
    F.eq(#calls, 4)
    F.eq(calls[1].kind, "wcall"); F.eq(calls[1].args[3].actor.id, "user:a", "the context the guest sees")
    F.eq(calls[1].args[3].values.t, "x")
    F.eq(calls[2].kind, "wstep"); F.eq(calls[2].args[1].topic, "ping"); F.eq(calls[2].args[1].from, "{q|0x00002}")
    F.eq(calls[2].args[1].payload.n, 1, "the message's payload data")
    F.eq(served[1][1], "receive"); F.eq(served[1][2], "50ms", "the timeout as a duration")
    F.eq(served[2][1], "send"); F.eq(served[2][2], "{q|0x00002}"); F.eq(served[2][4].n, 1)
    F.eq(calls[3].kind, "wstep"); F.eq(calls[3].args[1], true, "a send that worked")
    F.eq(served[3][2], nil, "no timeout: wait")
    F.eq(calls[4].kind, "wstep")
    -- a timed-out receive answers false; a refused send answers its error
    inbox_next, send_result, send_err = nil, nil, F.err("PermissionDenied", "not allowed to send")
    calls, queue = {}, { { { step = "recv", timeout_ms = 0 } }, { { step = "send", to = "x", topic = "t" } },
      { { step = "recv", timeout_ms = 500, limit_ms = 20 } }, { {} } }
    F.eq(main(), nil)
    F.eq(calls[2].args[1], false, "timed out")
    F.eq(calls[3].args[1].error, tostring(send_err))
    F.eq(served[#served][2], "20ms", "never waits past what is left of max_execution_ms")
    F.eq(calls[4].args[1].expired, true, "a wait cut by the call's limit says so")
    P.on_exit(P)
    F.hasnt(F.logged(), "wstop", "a call that ended is not stopped")
  `));

test('a process that exits before the answer stops its call (wstop); only once', () =>
  run(String.raw`
    local P, main = start("process.wasm", "app:spin")
    -- while the rpc "parks", the process exits (as terminate would: lifecycle calls P.on_exit)
    answer = setmetatable({}, { __index = function(_, k)
      if k == 1 then P.on_exit(P); P.on_exit(P) end
      return nil
    end })
    main()
    F.has(F.logged(), 'post 0 {wstop,{p|0x00001}}')
    local _, n = F.logged():gsub("wstop", "")
    F.eq(n, 1, "stopped once")
    F.eq(#cancel_hooks, 0, "a process.wasm does not stop on a CANCEL: its deadline terminates it")
  `));

test('a WASM function frame stops its call when it receives a CANCEL', () =>
  run(String.raw`
    local P, main = start("function.wat", "app:spin")
    F.eq(#cancel_hooks, 1, "the frame listens for a CANCEL from its start")
    answer = setmetatable({}, { __index = function(_, k)
      if k == 1 then cancel_hooks[1].fn({ kind = "pid.cancel" }) end
      return nil
    end })
    main()
    F.has(F.logged(), 'post 0 {wstop,{p|0x00001}}')
    P.on_exit(P)
    local _, n = F.logged():gsub("wstop", "")
    F.eq(n, 1, "not stopped again at exit")
  `));

test('PIDs: a process.wasm takes its host; a function frame follows the function-frame rule', () =>
  run(String.raw`
    F.eq(B["process.wasm"].pid_host("app:p", "app:host", 3), "app:host")
    F.eq(B["function.wasm"].pid_host("app:f", "app:host", 3), "app:f#lua.3")
    F.eq(B["function.wat"].queueable, false); F.eq(B["process.wasm"].queueable, false)
  `));

test('a function frame cancelled before its main runs never starts its call', () =>
  run(String.raw`
    local P, main = start("function.wasm", "app:spin")
    cancel_hooks[1].fn({ kind = "pid.cancel" }) -- its caller returned right after funcs.async
    local v, err = main()
    F.eq(v, nil); F.eq(err.kind, "Canceled"); F.eq(err.message, "app:spin: call canceled before it started")
    F.eq(#calls, 0, "no wcall")
    P.on_exit(P)
    F.hasnt(F.logged(), "wstop")
  `));
