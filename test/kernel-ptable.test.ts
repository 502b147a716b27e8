// src/lua/kernel/ptable.lua on its own, under the fakes of test/lua/kernel_fake.lua: the process
// table report. A bounded report (limit n) must be exactly the first n rows of the full sorted
// one, for every sort key, with ties broken by PID; the row carries each figure at its "prow"
// position; heap accounting is switched on by the first report with rows, not before.
import { test } from 'node:test';
import { withKernelModules } from './helpers/kernel-module.js';

const SETUP = String.raw`
  W = module("wire")()
  heap_on = 0
  started, delivered = 0, 0
  nprocs = 0
  R = module("ptable")({
    procs = F.procs, count = function() return nprocs end, started = function() return started end,
    delivered = function() return delivered end, account_heap = function() heap_on = heap_on + 1 end,
    encode = F.encode, wire = W, tid = 3,
  }).report
  -- a seeded generator (an LCG), so every run builds the same table
  local seed = 12345
  function rnd(n) seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n end
  function pids(rows) local out = {}; for i, r in ipairs(rows) do out[i] = r[W.PROW_PID] end; return table.concat(out, " ") end
`;
const run = async (code: string): Promise<void> => { await withKernelModules(['wire', 'ptable'], SETUP + code); };

test('a bounded report is the head of the full one, for every key, ties in PID order', () =>
  run(String.raw`
    for i = 1, 200 do
      -- few distinct values, so most keys tie
      local P = F.proc(string.format("{app|0x%05x}", i), { runs = rnd(5), cpu = rnd(4) * 0.5, heap = rnd(3) * 1.5,
        seq = rnd(6), sent = rnd(4), unread = rnd(3) })
      nprocs = nprocs + 1
      if i % 50 == 0 then P.alive = false end -- exiting: not reported
    end
    for _, key in ipairs({ "cpu", "runs", "heap", "received", "sent", "unread" }) do
      local _, _, live, all = R(0, key)
      F.eq(#all, 196, key .. ": every live process")
      local col = ({ cpu = W.PROW_CPU_MS, runs = W.PROW_RUNS, heap = W.PROW_HEAP, received = W.PROW_RECEIVED,
        sent = W.PROW_SENT, unread = W.PROW_UNREAD })[key]
      for i = 2, #all do
        local a, b = all[i - 1], all[i]
        local ok = a[col] > b[col] or (a[col] == b[col] and a[W.PROW_PID] < b[W.PROW_PID])
        F.eq(ok, true, key .. ": row " .. i .. " in order (larger first, then PID)")
      end
      for n = 1, 30 do
        local s, d, l, rows = R(n, key)
        local head = {}
        for i = 1, n do head[i] = all[i] end
        F.eq(pids(rows), pids(head), key .. " limit " .. n)
      end
      local big = select(4, R(500, key))
      F.eq(pids(big), pids(all), key .. ": a limit past the count is everything")
    end
  `));

test('a row carries the process\'s figures; totals come back without rows when none are asked', () =>
  run(String.raw`
    local P = F.proc("{app|0x00007}", { id = "app:w", host = "app:host", runs = 12, cpu = 3.25, heap = 2.5, seq = 9,
      sent = 4, unread = 2, nthreads = 3, nrun = 1, started = 1700000000.5 })
    P.names = { ["b.name"] = true, ["a.name"] = true, ["0pending"] = "pending" }
    nprocs, started, delivered = 1, 5, 41
    local s, d, l, rows = R(-1, "cpu")
    F.eq(s, 5); F.eq(d, 41); F.eq(l, 1); F.eq(rows, nil)
    F.eq(heap_on, 0, "no rows asked: heap accounting stays off")
    s, d, l, rows = R(0, "")
    F.eq(heap_on, 1, "the first report with rows turns it on")
    local r = rows[1]
    F.eq(r[W.PROW_PID], "{app|0x00007}"); F.eq(r[W.PROW_ENTRY], "app:w"); F.eq(r[W.PROW_NAME], "a.name")
    F.eq(r[W.PROW_HOST], "app:host"); F.eq(r[W.PROW_TID], 3); F.eq(r[W.PROW_STATUS], "run")
    F.eq(r[W.PROW_RUNS], 12); F.eq(r[W.PROW_CPU_MS], 3.25); F.eq(r[W.PROW_HEAP], 2560, "KiB to bytes")
    F.eq(r[W.PROW_RECEIVED], 9); F.eq(r[W.PROW_SENT], 4); F.eq(r[W.PROW_UNREAD], 2); F.eq(r[W.PROW_THREADS], 3)
    F.eq(r[W.PROW_STARTED], 1700000000.5)
    P[3] = -4; P.nrun = 0; P.names = {}
    r = select(4, R(1, "heap"))[1]
    F.eq(r[W.PROW_HEAP], 0, "a negative estimate reads as 0"); F.eq(r[W.PROW_STATUS], "wait"); F.eq(r[W.PROW_NAME], "")
  `));
