// src/lua/kernel/wasm.lua on its own, under fakes (test/lua/kernel_fake.lua): the WebAssembly
// bodies' protocol with the main thread — main() sends one "wcall" and returns what the "rep"
// carries; a process that exits before the answer sends "wstop"; a function frame also stops its
// call on a CANCEL, a process.wasm does not (the kernel's deadline terminates it). End to end
// through real processes: test/wasm-lua.test.ts.
import { test } from 'node:test';
import { withKernelModules } from './helpers/kernel-module.js';

const SETUP = String.raw`
  calls, cancel_hooks = {}, {}
  answer = nil -- what the fake rpc returns: { values, err }
  B = module("wasm")({
    rpc = function(tid, kind, ...)
      calls[#calls + 1] = { tid = tid, kind = kind, args = { ... } }
      return answer[1], answer[2]
    end,
    post = F.post,
    on_cancel = function(P, fn) cancel_hooks[#cancel_hooks + 1] = { P = P, fn = fn }; return {} end,
    err = F.err, wire = module("wire")(),
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
