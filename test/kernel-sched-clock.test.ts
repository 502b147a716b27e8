// src/lua/kernel/sched.lua's step clock, under fakes, counted: a step the host passes its clock
// to (engine.ts: __step(batch, len, now)) reads the host clock (H.now, a call out of the VM)
// only after each resume — once for a step that resumes one thread, none for a step with nothing
// to run — and uses the passed clock for its due timers and its slice; the frames reach
// deliver_batch as passed (the input area as an address and a length). Without a clock (the
// fakes, older hosts) the step reads H.now itself, as before.
import { test } from 'node:test';
import { withKernelModules } from './helpers/kernel-module.js';

const SETUP = String.raw`
  run = { cur = nil, cp = nil }
  nows = 0 -- H.now calls
  local H = setmetatable({ now = function() nows = nows + 1; return F.now end }, { __index = F.H })
  S = module("sched")({ H = H, err = F.err, run = run })
  delivered = {}
  S.install({
    thread_failed = function(T, e) F.logf("failed %s", tostring(e)) end,
    thread_done = function() end, do_upgrade = function() end, deadlock = function() end,
    after_resume = function() end, process_fault = function(P, e) F.logf("fault %s", tostring(e)) end,
    kernel_fault = function(w, e) F.logf("kernel fault %s", tostring(e)) end,
    deliver_batch = function(batch, len) delivered[#delivered + 1] = { batch, len } end,
  })
  local n = 0
  function thread(fn)
    n = n + 1
    local P = F.proc("{app:host|0x" .. string.format("%05x", n) .. "}")
    local T = S.new_thread(P, fn)
    S.ready(T, 0)
    return T, P
  end
`;
const run = async (code: string): Promise<void> => { await withKernelModules(['sched'], SETUP + code); };

test('a step given its clock calls H.now once per resume and never before the first', () =>
  run(String.raw`
    F.now = 5000
    S.step(nil, nil, 4990)
    F.eq(nows, 0, "nothing to run: no host clock read")
    local _, P = thread(function() F.logf("ran") end)
    S.step(nil, nil, 4995)
    F.eq(F.logged(), "ran")
    F.eq(nows, 1, "one resume: one H.now, after it")
    F.eq(P[2], 5000 - 4995, "the resume is charged from the step's clock")
    thread(function() end); thread(function() end); thread(function() end)
    S.step(nil, nil, 5000)
    F.eq(nows, 4, "three resumes: three more")
  `));

test('without a clock the step reads H.now itself', () =>
  run(String.raw`
    F.now = 5000
    thread(function() end)
    S.step()
    F.eq(nows, 2, "the step's clock, then one after the resume")
  `));

test('the passed clock fires due timers; the frames reach deliver_batch as passed', () =>
  run(String.raw`
    F.now = 9000
    S.timer_add(4000, function() F.logf("due") end)
    S.timer_add(6000, function() F.logf("not yet") end)
    local nxt = S.step(1234, 56, 5000)
    F.eq(F.logged(), "due", "timers due at the passed clock fired, the later one did not")
    F.eq(nows, 0)
    F.eq(nxt, 6000, "the next deadline")
    F.eq(#delivered, 1)
    F.eq(delivered[1][1], 1234); F.eq(delivered[1][2], 56)
    S.step("frames", nil, 5001)
    F.eq(delivered[2][1], "frames"); F.eq(delivered[2][2], nil, "a byte string has no length argument")
  `));
