// pids.lua's `locate` for PIDs of other workers, under the fakes (test/lua/kernel_fake.lua): a
// PID is parsed once and remembered (remote_uniq / remote_host), and every later locate of it
// costs one host call (H.route: owner thread and alive bit) and no parse, with the same answers
// as the first: the process dying, moving to a worker of another host, a control PID, a bad host,
// and the memo emptied past its bound. The parse is counted through string.match, which
// pids.lua's parse_pid is the only caller of here.
import { test } from 'node:test';
import { withKernelModules } from './helpers/kernel-module.js';

const SETUP = String.raw`
  W = module("wire")()
  MATCHES = 0
  local match = string.match
  string.match = function(...) MATCHES = MATCHES + 1; return match(...) end
  ROUTES = 0
  F.routes = {}
  local route = F.H.route
  F.H.route = function(uniq) ROUTES = ROUTES + 1; return route(uniq) end
  F.H.post = function() end
  local HOSTS = { ["app:p"] = { tids = { 1 } }, ["app:q"] = { tids = { 2, 3 } }, ["app:r"] = { tids = { 4 } } }
  P = module("pids")({ H = F.H, cfg = { tid = 1, hosts = HOSTS }, encode = F.encode, err = F.err, wire = W })
  function counts(f) MATCHES, ROUTES = 0, 0; local a, b = f(); return MATCHES, ROUTES, a, b end
`;

test('pids: a remote PID is parsed once; each later locate is one H.route and no parse, same answers', async () => {
  await withKernelModules(['wire', 'pids'], SETUP + String.raw`
    local pid = "{app:q|0x00012}"
    F.routes[0x12] = { 2, true }
    local m, r, where, tid = counts(function() return P.locate(pid) end)
    F.eq(where, "remote"); F.eq(tid, 2); F.eq(m, 1); F.eq(r, 1)
    F.eq(P.remote_uniq[pid], 0x12)
    for _ = 1, 5 do
      m, r, where, tid = counts(function() return P.locate(pid) end)
      F.eq(where, "remote"); F.eq(tid, 2); F.eq(m, 0); F.eq(r, 1)
    end
    -- moved to the host's other worker: followed
    F.routes[0x12] = { 3, true }
    m, r, where, tid = counts(function() return P.locate(pid) end)
    F.eq(where, "remote"); F.eq(tid, 3); F.eq(m, 0)
    -- dead: not found, from the memo as from a parse
    F.routes[0x12] = { 3, false }
    m, r, where, tid = counts(function() return P.locate(pid) end)
    F.eq(where, nil); F.eq(tid.kind, "NotFound"); F.eq(m, 0); F.eq(r, 1)
    -- owned by a worker of another host: not this PID's process
    F.routes[0x12] = { 4, true }
    where, tid = P.locate(pid)
    F.eq(where, nil); F.eq(tid.kind, "NotFound")
    -- owned by the main thread (a control PID under another host string): not found
    F.routes[0x12] = { 0, true }
    where, tid = P.locate(pid)
    F.eq(where, nil); F.eq(tid.kind, "NotFound")
    F.routes[0x12] = { 2, true }
    F.eq(P.locate(pid), "remote")
  `);
});

test('pids: what a parse refuses is never remembered, and the memo is emptied past its bound', async () => {
  await withKernelModules(['wire', 'pids'], SETUP + String.raw`
    -- refused: a host of no worker here, a control PID, not a PID; each parsed on every call
    F.routes[0x20] = { 2, true }
    for _, bad in ipairs({ "{app:zz|0x00020}", "{node:control|0x00020}", "{app:q|zz}", "app:q" }) do
      for _ = 1, 2 do
        local where, e = P.locate(bad)
        F.eq(where, nil)
        F.eq(P.remote_uniq[bad], nil)
      end
    end
    -- a PID found dead on its first locate is not remembered either (nothing was sent)
    local m, r, where = counts(function() return P.locate("{app:q|0x00099}") end)
    F.eq(where, nil); F.eq(P.remote_uniq["{app:q|0x00099}"], nil)
    -- past 1024 remembered PIDs the memo starts again; answers stay the same
    for u = 1, 1100 do
      F.routes[0x1000 + u] = { 2, true }
      F.eq(P.locate(string.format("{app:q|0x%05x}", 0x1000 + u)), "remote")
    end
    local n = 0
    for _ in pairs(P.remote_uniq) do n = n + 1 end
    F.eq(n, 1100 - 1024)
    -- an early one, dropped with the rest: parsed again, then remembered again
    local early = string.format("{app:q|0x%05x}", 0x1001)
    m, r, where = counts(function() return P.locate(early) end)
    F.eq(where, "remote"); F.eq(m, 1); F.eq(r, 1)
    m, r, where = counts(function() return P.locate(early) end)
    F.eq(where, "remote"); F.eq(m, 0); F.eq(r, 1)
    -- a local process is found in the table, never through the memo or the directory
    local Pl = { pid = "{app:p|0x00005}", alive = true }
    P.add(Pl)
    m, r, where = counts(function() return P.locate(Pl.pid) end)
    F.eq(where, "local"); F.eq(m, 0); F.eq(r, 0)
  `);
});

test('pids: frames for other workers are held until the step ends, one host call per destination', async () => {
  await withKernelModules(['wire', 'pids'], String.raw`
    W = module("wire")()
    local calls = {}
    local H = {
      route = function() return -1, false end,
      post = function(tid, b) calls[#calls + 1] = "post " .. tid .. " " .. b end,
      post_many = function(tid, ...) calls[#calls + 1] = "many " .. tid .. " " .. select("#", ...) .. " " .. table.concat({ ... }, ",") end,
    }
    local P = module("pids")({ H = H, cfg = { tid = 1, hosts = {} }, encode = function(f) return f[1] end, err = F.err, wire = W })
    P.send_bytes(2, "a1")
    P.send_bytes(0, "main1")   -- the main thread's: at once
    P.send_bytes(3, "b1")
    P.post(2, { "a2" })        -- post goes the same way
    P.send_bytes(1, "self1")   -- this worker itself: held like any other
    P.send_bytes(2, "a3")
    F.eq(table.concat(calls, "|"), "post 0 main1")
    P.flush()
    -- in the order the destinations were first posted to; a lone frame is a plain post
    F.eq(table.concat(calls, "|"), "post 0 main1|many 2 3 a1,a2,a3|post 3 b1|post 1 self1")
    calls = {}
    P.flush()
    F.eq(#calls, 0)
    -- many frames: chunks of 200, in order
    for i = 1, 450 do P.send_bytes(2, tostring(i)) end
    P.flush()
    F.eq(#calls, 3)
    local seen = {}
    for _, c in ipairs(calls) do
      local tid, n, list = c:match("^many (%d+) (%d+) (.*)$")
      F.eq(tid, "2")
      for x in list:gmatch("[^,]+") do seen[#seen + 1] = tonumber(x) end
      F.eq(tonumber(n) <= 200, true)
    end
    F.eq(#seen, 450)
    for i = 1, 450 do F.eq(seen[i], i) end
    -- the next step starts empty
    calls = {}
    P.send_bytes(3, "c1")
    P.flush()
    F.eq(table.concat(calls, "|"), "post 3 c1")
  `);
});

test('pids: fmt_pid is string.format("{%s|0x%05x}") for every uniq: both sides of each digit-count edge, seeded ones, the fallback', async () => {
  await withKernelModules(['wire', 'pids'], SETUP + String.raw`
    local function want(host, u) return string.format("{%s|0x%05x}", host, u) end
    local cases = { 0, 1, 15, 16, 255, 256, 4095, 4096, 0xffff, 0x10000, 0xfffff, 0x100000, 0xabcdef,
      0xffffff, 0x1000000, 0x1234567, 0x7fffffff, 2^40 // 1 }
    local seed = 12345 -- a fixed LCG, so the run is the same every time
    for _ = 1, 2000 do
      seed = (seed * 1103515245 + 12345) % 2147483648
      cases[#cases + 1] = seed % 0x2000000
    end
    for _, u in ipairs(cases) do
      for _, host in ipairs({ "app:p", "fn:x#lua.3", "" }) do
        F.eq(P.fmt_pid(host, u), want(host, u), "uniq " .. u)
      end
    end
    -- a float with an integer value, as string.format takes it
    F.eq(P.fmt_pid("app:p", 18.0), want("app:p", 18.0))
    -- not an integer: string.format's own error
    F.eq(pcall(P.fmt_pid, "app:p", 1.5), false)
  `);
});
