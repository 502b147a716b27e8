// pids.lua's outbox ends a step that holds more than half a ring for other workers (sched.lua
// end_step), under the fakes: the step is asked to end once when the bytes held pass 128 KiB, the
// count restarts after that request and after every flush, frames for the main thread (sent at
// once) do not count, nothing is reordered or dropped, and without end_step (the kernel's tests'
// other fakes) nothing changes. Why: docs/design/scheduler.md, "The cross-worker receive, per
// message".
import { test } from 'node:test';
import { withKernelModules } from './helpers/kernel-module.js';

test('pids: a step holding more than half a ring for other workers is asked to end, frames kept in order', async () => {
  await withKernelModules(['wire', 'pids'], String.raw`
    W = module("wire")()
    local sent = {}
    local H = {
      route = function() return -1, false end,
      post = function(tid, b) sent[#sent + 1] = tid .. ":" .. #b end,
      post_many = function(tid, ...) for i = 1, select("#", ...) do sent[#sent + 1] = tid .. ":" .. #(select(i, ...)) end end,
    }
    local ends = 0
    local P = module("pids")({ H = H, cfg = { tid = 1, hosts = {} }, encode = function(f) return f[1] end, err = F.err,
      wire = W, end_step = function() ends = ends + 1 end })
    local KB = string.rep("x", 1024)
    -- 128 KiB exactly: not past the mark
    for _ = 1, 64 do P.send_bytes(2, KB) end
    for _ = 1, 64 do P.send_bytes(3, KB) end
    F.eq(ends, 0, "at the mark")
    P.send_bytes(0, string.rep("m", 4096)) -- the main thread's: at once, not counted
    F.eq(ends, 0, "main thread frames do not count")
    P.send_bytes(2, "y")
    F.eq(ends, 1, "past the mark")
    for _ = 1, 100 do P.send_bytes(2, KB) end
    F.eq(ends, 1, "the count restarts after the request")
    for _ = 1, 30 do P.send_bytes(2, KB) end
    F.eq(ends, 2, "and asks again past the mark")
    P.flush()
    F.eq(#sent, 1 + 64 + 1 + 130 + 64, "every frame handed over")
    F.eq(sent[1], "0:4096")
    for i = 2, 66 do F.eq(sent[i], i == 66 and "2:1" or "2:1024", "order for tid 2") end
    -- a flush starts the count again
    for _ = 1, 128 do P.send_bytes(3, KB) end
    F.eq(ends, 2, "counted from the flush")
    P.flush()
    -- without end_step: the same frames, no request
    local Q = module("pids")({ H = H, cfg = { tid = 1, hosts = {} }, encode = function(f) return f[1] end, err = F.err, wire = W })
    for _ = 1, 300 do Q.send_bytes(2, KB) end
    Q.flush()
  `);
});
