// pids.lua's outbox ends a step that holds more than half a ring for other workers (sched.lua
// end_step), under the fakes: the step is asked to end once when the bytes held pass 128 KiB, the
// count restarts after that request and after every flush, frames for the main thread (held too,
// since session 9) do not count, nothing is reordered or dropped, and without end_step (the
// kernel's tests' other fakes) nothing changes. Why: docs/design/scheduler.md, "The cross-worker receive, per
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
    P.send_bytes(0, string.rep("m", 4096)) -- the main thread's: held, not counted
    F.eq(ends, 0, "main thread frames do not count")
    F.eq(#sent, 0, "the main thread's frame is held too")
    P.send_bytes(2, "y")
    F.eq(ends, 1, "past the mark")
    for _ = 1, 100 do P.send_bytes(2, KB) end
    F.eq(ends, 1, "the count restarts after the request")
    for _ = 1, 30 do P.send_bytes(2, KB) end
    F.eq(ends, 2, "and asks again past the mark")
    P.flush()
    F.eq(#sent, 1 + 64 + 1 + 130 + 64, "every frame handed over")
    for i = 1, 65 do F.eq(sent[i], i == 65 and "2:1" or "2:1024", "order for tid 2") end
    F.eq(sent[1 + 64 + 1 + 130 + 64], "0:4096", "the main thread's, in the order its destination first got one")
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

// The main thread's frames (a job's EXIT among them) are held until the step's end like any
// other destination's, and terminal output, which the host posts to the main thread as H.write
// is called, stays in order with them: H.write hands the held frames over first.
test('pids: frames for the main thread are held until the flush, and a write hands them over first, in order', async () => {
  await withKernelModules(['wire', 'pids'], String.raw`
    W = module("wire")()
    local sent = {}
    local H = {
      route = function() return -1, false end,
      post = function(tid, b) sent[#sent + 1] = "post " .. tid .. ":" .. b end,
      post_many = function(tid, ...) for i = 1, select("#", ...) do sent[#sent + 1] = "many " .. tid .. ":" .. select(i, ...) end end,
      write = function(fd, s) sent[#sent + 1] = "write " .. fd .. ":" .. s end,
    }
    local P = module("pids")({ H = H, cfg = { tid = 1, hosts = {} }, encode = function(f) return f[1] end, err = F.err,
      wire = W, end_step = function() end })
    P.send_bytes(0, "a")
    P.send_bytes(2, "x")
    P.send_bytes(0, "b")
    F.eq(#sent, 0, "held")
    H.write(1, "out1")
    F.eq(table.concat(sent, ","), "many 0:a,many 0:b,write 1:out1", "the held frames first, then the output")
    H.write(2, "out2")
    F.eq(#sent, 4, "nothing held: the write alone")
    P.send_bytes(0, "c")
    P.send_bytes(3, "z")
    P.send_bytes(0, "d")
    P.flush()
    F.eq(table.concat(sent, ",", 5), "post 2:x,many 0:c,many 0:d,post 3:z",
      "the rest at the flush: tid 2 (held since before the writes), then the main thread, then tid 3")
    -- every frame once, each destination in order
    local seen = {}
    for _, e in ipairs(sent) do seen[#seen + 1] = e:match(":(.*)$") end
    F.eq(table.concat(seen), "about1out2xcdz")
    -- the take_out path (the step's return): the same order
    sent = {}
    P.send_bytes(0, "e")
    H.write(1, "w")
    P.send_bytes(0, "f")
    local tid, n, b = P.take_out()
    F.eq(table.concat(sent, ","), "post 0:e,write 1:w")
    F.eq(tid, 0); F.eq(n, 1); F.eq(b, "f")
  `);
});
