// src/lua/kernel/sched.lua's START slots on their own, under fakes: a spawn kept in the worker's
// Lua-side list (taskq.lua) starts when its START comes up in the run queue, and its process runs
// in that slot — the order a one-worker host runs the same spawns in — while a START whose spawn
// was started or shared away meanwhile does nothing.
import { test } from 'node:test';
import { withKernelModules } from './helpers/kernel-module.js';

const SETUP = String.raw`
  run = { cur = nil, cp = nil }
  S = module("sched")({ H = F.H, err = F.err, run = run })
  list = {} -- the Lua-side list: names of processes to start, oldest first
  local n = 0
  function thread(name, fn)
    n = n + 1
    local P = F.proc("{app:host|0x" .. string.format("%05x", n) .. "}")
    local T = S.new_thread(P, fn or function() F.logf("ran %s", name) end)
    S.ready(T, 0)
    return T
  end
  -- spawn.lua's queue_local: keep it in the list, take a turn in the run queue
  function queue(name) list[#list + 1] = name; S.ready_start() end
  S.install({
    thread_failed = function(T, e) F.logf("failed %s", tostring(e)) end,
    thread_done = function() end, do_upgrade = function() end, deadlock = function() end,
    after_resume = function() end, process_fault = function(P, e) F.logf("fault %s", tostring(e)) end,
    kernel_fault = function(w, e) F.logf("kernel fault %s", tostring(e)) end, deliver_batch = function() end,
    take_task = function(steal)
      local name = table.remove(list, 1)
      if not name then return false end
      F.logf("start %s", name)
      thread(name)
      return true
    end,
    queued_here = function() return #list > 0 end,
    queued_local = function() return #list > 0 end,
  })
`;
const run = async (code: string): Promise<void> => { await withKernelModules(['sched'], SETUP + code); };

test('a queued spawn starts at its START and runs in that slot: the order of one worker', () =>
  run(String.raw`
    thread("driver", function()
      F.logf("ran driver")
      queue("c1"); queue("c2")
      thread("other")
    end)
    S.step()
    F.eq(F.logged(), "ran driver\nstart c1\nran c1\nstart c2\nran c2\nran other",
      "each child ran where its START was, before the thread readied after it")
  `));

test('a START whose spawn already started (taken when the run queue ran dry, or shared) does nothing', () =>
  run(String.raw`
    thread("driver", function()
      queue("c1"); queue("c2")
      table.remove(list, 1) -- c1 left the list (shared with a sibling)
      thread("other")
    end)
    local _, more = S.step()
    F.eq(F.logged(), "start c2\nran c2\nran other", "the first START started the oldest spawn left, the second nothing")
    F.eq(more, false, "nothing left")
    queue("c3")
    local _, more2 = S.step()
    F.eq(more2, false)
    F.has(F.logged(), "start c3\nran c3")
  `));
