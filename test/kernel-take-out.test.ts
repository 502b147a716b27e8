// pids.lua's take_out, under the fakes, counted: the end of a step hands the frames it held for
// other workers to the host as values that __step returns (init.lua; src/lua/engine.ts step posts
// them), with no host call out of the VM — the common cross-worker message step (one frame, one
// destination) returns tid, 1, frame; several destinations return one group each (tid, n,
// frames) in the order the first frame for each was held, frames in the order they were held;
// more than RET_MAX (60) values go as M.flush sends them (H.post / H.post_many), nothing
// returned; after any of these nothing is held. Frames for the main thread still go at once
// (H.post). Why: docs/design/scheduler.md, "Host calls per step".
import { test } from 'node:test';
import { withKernelModules } from './helpers/kernel-module.js';

const SETUP = String.raw`
  W = module("wire")()
  calls = {} -- host calls out of the "VM": "post tid:frame" / "post_many tid:n"
  local H = {
    route = function() return -1, false end,
    post = function(tid, b) calls[#calls + 1] = "post " .. tid .. ":" .. b end,
    post_many = function(tid, ...) calls[#calls + 1] = "post_many " .. tid .. ":" .. select("#", ...) end,
  }
  P = module("pids")({ H = H, cfg = { tid = 1, hosts = {} }, encode = function(f) return f[1] end, err = F.err, wire = W })
  function pack(...) return { n = select("#", ...), ... } end
  function joined(t) local s = {} for i = 1, t.n do s[i] = tostring(t[i]) end return table.concat(s, " ") end
`;
const run = async (code: string): Promise<void> => { await withKernelModules(['wire', 'pids'], SETUP + code); };

test('take_out: one frame for one worker is returned as tid, 1, frame, with no host call', () =>
  run(String.raw`
    F.eq(pack(P.take_out()).n, 0, "nothing held: nothing returned")
    P.send_bytes(2, "a")
    F.eq(#calls, 0, "held, not posted")
    F.eq(joined(pack(P.take_out())), "2 1 a")
    F.eq(#calls, 0, "no host call")
    F.eq(pack(P.take_out()).n, 0, "nothing held any more")
    -- the same again (the queues are reused)
    P.send_bytes(3, "b")
    F.eq(joined(pack(P.take_out())), "3 1 b")
    F.eq(#calls, 0)
  `));

test('take_out: several destinations, one group each, in order; the main thread still at once', () =>
  run(String.raw`
    P.send_bytes(3, "x1")
    P.send_bytes(2, "y1")
    P.send_bytes(0, "main")
    P.send_bytes(3, "x2")
    P.send_bytes(3, "x3")
    F.eq(#calls, 1, "only the main thread's frame went at once")
    F.eq(calls[1], "post 0:main")
    F.eq(joined(pack(P.take_out())), "3 3 x1 x2 x3 2 1 y1")
    F.eq(#calls, 1, "no host call for the held frames")
    F.eq(pack(P.take_out()).n, 0)
    -- one destination with several frames
    P.send_bytes(2, "p"); P.send_bytes(2, "q")
    F.eq(joined(pack(P.take_out())), "2 2 p q")
    F.eq(#calls, 1)
  `));

test('take_out: more than 60 values go through H.post_many as before, nothing returned', () =>
  run(String.raw`
    -- 29 + 2 = 31 values for tid 2 and 27 + 2 = 29 for tid 3: 60, returned
    for i = 1, 29 do P.send_bytes(2, "a" .. i) end
    for i = 1, 27 do P.send_bytes(3, "b" .. i) end
    local r = pack(P.take_out())
    F.eq(r.n, 60, "60 values: returned")
    F.eq(r[1], 2); F.eq(r[2], 29); F.eq(r[3], "a1"); F.eq(r[31], "a29")
    F.eq(r[32], 3); F.eq(r[33], 27); F.eq(r[34], "b1"); F.eq(r[60], "b27")
    F.eq(#calls, 0)
    -- one more frame: 61 values, posted
    for i = 1, 30 do P.send_bytes(2, "c" .. i) end
    for i = 1, 27 do P.send_bytes(3, "d" .. i) end
    F.eq(pack(P.take_out()).n, 0, "past the bound: nothing returned")
    F.eq(#calls, 2, "one H.post_many per destination")
    F.eq(calls[1], "post_many 2:30"); F.eq(calls[2], "post_many 3:27")
    F.eq(pack(P.take_out()).n, 0, "nothing held any more")
    P.send_bytes(2, "e")
    F.eq(joined(pack(P.take_out())), "2 1 e", "and the next step returns again")
  `));

test('take_out without H.post_many (a host that takes every frame at once): nothing is held or returned', () =>
  withKernelModules(['wire', 'pids'], String.raw`
    W = module("wire")()
    local posted = 0
    local P = module("pids")({ H = { route = function() return -1, false end, post = function() posted = posted + 1 end },
      cfg = { tid = 1, hosts = {} }, encode = function(f) return f[1] end, err = F.err, wire = W })
    P.send_bytes(2, "a"); P.send_bytes(3, "b")
    F.eq(posted, 2)
    F.eq(select("#", P.take_out()), 0)
  `).then(() => undefined));
