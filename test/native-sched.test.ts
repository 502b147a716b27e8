// The run loop's common case in C (native/lua/lsched.c, `wippy.native`.runner on our Lua module)
// against sched.lua's Lua loop it replaces, in the same Lua state: the kernel runs the C loop on
// our module and the Lua loop on wasmoon's (or with WIPPY_CSCHED=0), so both must do the same
// things in the same order. Two schedulers are made from sched.lua, one with the runner and one
// without, under the same fakes, and each runs the same seeded world of processes whose threads
// park, wake each other with 0, 1 or 2 values, yield plainly, return, raise, ask for an upgrade,
// exit while running, die or are discarded while queued, set timers, start queued spawns (START)
// and make a hook raise (the step's pcall and re-entry); the clock moves 1/8 ms per reading, so
// steps end on time too. The transcripts (every hook call with its arguments, every step's result,
// every thread's wake values, the figures each resume writes) must be equal.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { LuaEngine } from 'wasmoon';
import { luaFactory } from '../src/lua/module.js';

const WORLD = String.raw`
local nat = package.loaded["wippy.native"]
assert(nat and nat.runner and nat.msg, "wippy.native.runner missing from our module")
-- world(seed, use_c, multi [, src [, jobs [, tsrc]]]) -> transcript (src: sched.lua's source,
-- default the real one). jobs: queued spawns go through the real taskq.lua (tsrc: its source),
-- jobs as "spj" records and spawns as task records, over a fake directory and shared queues
-- whose answers are seeded; use_c then also installs ljob.c's START round and "spj" arrival
-- (JOBSLOT_HITS counts the jobs it started itself: frame_sp called from C; JOBSLOT_LUA_SPJ the
-- arrivals the Lua frame_spj took).
JOBSLOT_HITS, JOBSLOT_LUA_SPJ = 0, 0
function WORLD(seed, use_c, multi, src, jobs, tsrc)
  local log = {}
  local function logf(fmt, ...) log[#log + 1] = string.format(fmt, ...) end
  local rs = seed
  local function rnd(n) -- deterministic in [1, n]
    rs = (rs * 1103515245 + 12345) % 2147483648
    return (rs // 65536) % n + 1
  end
  local clock = 0
  local H = { now = function() clock = clock + 0.125; return clock end } -- a step: ~160 readings
  local run = { cur = nil, cp = nil }
  local S = assert(load(src or SCHED_SRC, "@kernel/sched.lua", "t"))()({ H = H, err = function(k, m) return k .. ": " .. m end,
    run = run, resume = nat.msg.resume, runner = use_c and nat.runner or nil, jobslot = use_c and nat.jobslot or nil })
  local procs, threads, names = {}, {}, {}
  local raise_next = false
  local queued = {}
  local tq, shared = nil, {}
  local lua_frame_spj -- spawn.lua's frame_spj over the world's list (below)
  if jobs then
    local HQ = {
      task_push = function(d, to)
        local ok = rnd(5) ~= 1
        logf("task_push %s to %s -> %s", d[2], to, tostring(ok))
        if ok then shared[#shared + 1] = d end
        return ok
      end,
      task_take = function(steal)
        local d = rnd(3) == 1 and table.remove(shared, 1) or nil
        logf("task_take %s -> %s", tostring(steal), d and d[2] or "none")
        return d
      end,
      task_listed = function(n) local l = rnd(3) == 1; logf("listed %d -> %s", n, tostring(l)); return l end,
      load_add = function(n) logf("load_add %d", n) end,
    }
    local W = { SPJ_PID = 2, task = function(pid) return { "task", pid } end }
    tq = assert(load(tsrc or TASKQ_SRC, "@kernel/taskq.lua", "t"))()({ H = HQ, W = W, wire = W,
      cfg = { tid = 1, host = "h", hosts = { h = { tids = { 1, 2 }, max_reductions = 1000, local_queue_size = 8 } } },
      encode = function(t) return t end, decode = function(d) return d end })
  end
  local function show(v)
    if type(v) == "table" then return names[v] or "table" end
    return tostring(v)
  end
  local mkthread
  local function proc(i)
    local P = { 0, 0, 0, 0, 0, pid = "p" .. i, alive = true, threads = {}, nthreads = 0, nrun = 0,
      npending = 0, nsubs = rnd(3) == 1 and 0 or 1, red = 0 }
    names[P] = "P" .. i
    procs[i] = P
    return P
  end
  local function body(i)
    return function(a1, a2)
      logf("T%d starts %s %s", i, show(a1), show(a2))
      for step = 1, 6 + rnd(10) do
        local r = rnd(20)
        local P = procs[i]
        if run.cur ~= threads[i] or run.cp ~= P then logf("T%d: run.cur/cp wrong", i) end
        -- the values it was woken with left its record before the resume (a record still holding
        -- them while the thread parks rehashes to twice its size)
        if threads[i].a1 ~= nil or threads[i].a2 ~= nil then logf("T%d: wake values held while it runs", i) end
        if r <= 6 then -- park, to be woken by another
          local x, y = S.park()
          logf("T%d woke %s %s", i, show(x), show(y))
        elseif r <= 10 then -- wake another parked thread with 0, 1 or 2 values
          local k = rnd(#threads)
          local T = threads[k] -- (false: a queued job's number, not started)
          if T and T.parked and procs[k].alive then
            local n = rnd(3) - 1
            S.ready(T, n, "v" .. rnd(99), rnd(2) == 1 and T or nil)
            if rnd(3) == 1 then T.mrec = P end -- woken with a mailbox record (mailbox.lua's w.mrec)
            logf("T%d wakes T%d (%d)", i, k, n)
          end
        elseif r == 11 then logf("T%d yields", i); coroutine.yield("plain")
        elseif r == 12 then logf("T%d returns", i); return "r" .. i, rnd(2) == 1 and P or nil
        elseif r == 13 then logf("T%d raises", i); error("boom " .. i, 0)
        elseif r == 14 then logf("T%d asks upgrade", i); P.upgrade_req = true; S.park()
        elseif r == 15 then logf("T%d exit pending", i); P.exit_pending = true
        elseif r == 16 then -- a queued thread dies or is discarded
          local k = rnd(#threads)
          if k ~= i and threads[k] then
            if rnd(2) == 1 then procs[k].alive = false; logf("T%d kills P%d", i, k)
            else threads[k].dead = true; logf("T%d discards T%d", i, k) end
          end
        elseif r == 17 then
          local at = clock + rnd(30)
          S.timer_add(at, function() logf("timer of T%d at %s fires (clock %s)", i, at, clock) end)
        elseif r == 18 then raise_next = true; logf("T%d arms a raising hook", i); return "armed"
        elseif r >= 19 and multi and jobs then -- a burst of jobs and spawns into taskq's list
          for _ = 1, rnd(6) do
            local j = #threads + 1
            if j > 120 then break end
            threads[j] = false -- (its number is taken)
            local job = rnd(4) ~= 1
            local queued_ok
            logf("T%d queues %s T%d", i, job and "job" or "spawn", j)
            if job then (S.job_frame or lua_frame_spj)({ "spj", j }) -- (frames.lua's "spj" handler)
            elseif tq.room() then tq.push({ "task", j }); S.ready_start()
            else logf("no room"); S.ready(mkthread(j), 2, "now", j) end
          end
        elseif r == 19 and multi then -- a queued spawn: a new process runs in START's slot
          local j = #threads + 1
          if j <= 40 then queued[#queued + 1] = j; S.ready_start(); logf("T%d queues T%d", i, j) end
        else
          local k = rnd(#threads)
          if threads[k] and threads[k].parked and procs[k].alive then
            S.ready(threads[k], 0); logf("T%d wakes T%d (0)", i, k)
          end
        end
      end
      logf("T%d ends", i)
      return "end" .. i
    end
  end
  mkthread = function(i)
    local P = procs[i] or proc(i)
    local T = S.new_thread(P, body(i))
    names[T] = "T" .. i
    threads[i] = T
    return T
  end
  local function hook(what)
    return function(a, b, c)
      logf("%s %s %s %s (clock %s, run.cur %s)", what, show(a), show(b), show(c), clock, show(run.cur))
      if raise_next then raise_next = false; error("hook raised in " .. what, 0) end
    end
  end
  -- jobs: spawn.lua's take_task and frame_sp over the real list (a start may raise, as a hook may)
  local function start_job(t, how)
    local j = t[2]
    logf("%s T%d (clock %s)", how, j, clock)
    if rnd(25) == 1 then error("start raised for T" .. j, 0) end
    S.ready(mkthread(j), 2, "go", j)
  end
  local function frame_sp(t)
    if debug.getinfo(2, "S").what == "C" then JOBSLOT_HITS = JOBSLOT_HITS + 1 end
    start_job(t, "start job")
  end
  lua_frame_spj = function(f)
    JOBSLOT_LUA_SPJ = JOBSLOT_LUA_SPJ + 1
    if not tq.push_job(f) then return frame_sp(f) end
    S.ready_start()
  end
  local take_jobs = jobs and function(steal)
    local t, mine, job = tq.take(steal)
    if not t then logf("take: none (steal %s)", tostring(steal)); return false end
    if job then frame_sp(t) else start_job(t, "start task " .. tostring(mine)) end
    return true
  end
  S.install({
    taskq_probe = jobs and tq.probe or nil, frame_sp = jobs and frame_sp or nil,
    frame_spj = jobs and lua_frame_spj or nil,
    thread_failed = hook("thread_failed"), thread_done = hook("thread_done"),
    do_upgrade = function(P) hook("do_upgrade")(P); P.upgrade_req = nil
      for i, Q in pairs(procs) do if Q == P and threads[i].parked then S.ready(threads[i], 1, "upgraded") end end end,
    deadlock = hook("deadlock"),
    after_resume = function(P) P.exit_pending = nil; hook("after_resume")(P) end,
    process_fault = function(P, e) logf("process_fault %s %s", show(P), tostring(e)) end,
    kernel_fault = function(w, e) logf("kernel_fault %s %s", w, tostring(e)) end,
    deliver_batch = function() end,
    take_task = take_jobs or multi and function(steal)
      local j = table.remove(queued, 1)
      if not j then return false end
      logf("take T%d (steal %s)", j, tostring(steal))
      S.ready(mkthread(j), 2, "go", j)
      return true
    end or nil,
    queued_local = jobs and tq.has_local or function() return #queued > 0 end,
    queued_here = jobs and tq.pending or multi and function() return #queued > 0 end or nil,
  })
  for i = 1, 8 do S.ready(mkthread(i), rnd(3) - 1, "start", i) end
  for s = 1, 60 do
    if s == 30 then S.account_heap() end
    local nxt, more = S.step()
    logf("step %d -> %s %s (clock %s)", s, tostring(nxt), tostring(more), clock)
    if not more then
      -- wake every parked thread of a live process so the world goes on
      local any = false
      for i, T in ipairs(threads) do
        if T and T.parked and procs[i].alive and not T.dead then S.ready(T, 1, "nudge"); any = true end
      end
      if not any and nxt < 0 then break end
      if nxt >= 0 and clock < nxt then clock = nxt end
    end
  end
  for i, P in ipairs(procs) do
    logf("P%d nrun %s red %s runs %s ms %s alive %s", i, tostring(P.nrun), tostring(P.red),
      tostring(P[1]), tostring(P[2]), tostring(P.alive))
  end
  for i, T in ipairs(threads) do
    if T then
      logf("T%d parked %s n %s a1 %s a2 %s mrec %s", i, tostring(T.parked), tostring(T.n), show(T.a1), show(T.a2), show(T.mrec))
    end
  end
  if tq then
    local lq, lh, lt, spill_n, pub, shared_in, starts, reported, offer_at = tq.probe()
    local left = {}
    for k = lh, lt do left[#left + 1] = lq[k][1] .. lq[k][2] end
    logf("taskq lq [%s] spill %s pub %s shared_in %s starts %s reported %s offer_at %s counters %s %s %s %s",
      table.concat(left, " "), spill_n, pub, shared_in, starts, reported, offer_at, tq.counters())
    logf("shared %d", #shared)
  end
  logf("run.cur %s run.cp %s share_at %s", show(run.cur), show(run.cp), tostring(run.share_at))
  return table.concat(log, "\n")
end

-- Two threads handing a value back and forth 3,000 times (long steps, so the loop's own timer
-- check and the step's time limit are reached mid-step) while timers come due.
function PINGPONG(use_c, src)
  local log = {}
  local clock = 0
  local H = { now = function() clock = clock + 0.01; return clock end }
  local run = { cur = nil, cp = nil }
  local S = assert(load(src or SCHED_SRC, "@kernel/sched.lua", "t"))()({ H = H, err = function(k, m) return m end,
    run = run, resume = nat.msg.resume, runner = use_c and nat.runner or nil })
  local nop = function() end
  S.install({ thread_failed = nop, thread_done = function(T, r) log[#log + 1] = "done " .. tostring(r) end,
    do_upgrade = nop, deadlock = nop, after_resume = nop, process_fault = nop, kernel_fault = nop, deliver_batch = nop })
  local T = {}
  for i = 1, 2 do
    local P = { 0, 0, 0, 0, 0, alive = true, threads = {}, nthreads = 0, nrun = 0, npending = 0, nsubs = 1, red = 0 }
    T[i] = S.new_thread(P, function(v)
      for k = 1, 1500 do
        if k % 97 == 0 then
          local at = clock + k % 7
          S.timer_add(at, function() log[#log + 1] = string.format("timer %s at clock %s", at, clock) end)
        end
        S.ready(T[3 - i], 1, (v or 0) + 1)
        v = S.park()
      end
      return v
    end)
  end
  S.ready(T[1], 0)
  for s = 1, 100 do
    local nxt, more = S.step()
    log[#log + 1] = string.format("step %d -> %s %s clock %s", s, nxt, more, clock)
    if not more and nxt < 0 then break end
  end
  return table.concat(log, "\n")
end
`;

let engine: LuaEngine;

before(async () => {
  engine = await luaFactory('native').createEngine({ injectObjects: false, enableProxy: false });
  engine.global.set('SCHED_SRC', kernelSrc('sched.lua'));
  engine.global.set('TASKQ_SRC', kernelSrc('taskq.lua'));
  engine.doStringSync(WORLD);
});
after(() => { (engine as unknown) = undefined; });

const world = (seed: number, useC: boolean, multi: boolean, src?: string, jobs = false, tsrc?: string): string => {
  engine.global.set('WORLD_SRC', src ?? false);
  engine.global.set('WORLD_TSRC', tsrc ?? false);
  return engine.doStringSync(`return WORLD(${seed}, ${useC}, ${multi}, WORLD_SRC, ${jobs}, WORLD_TSRC)`) as string;
};
const jobWorld = (seed: number, useC: boolean, tsrc?: string): string => world(seed, useC, true, undefined, true, tsrc);

const kernelSrc = (name: string): string => readFileSync(path.resolve('src/lua/kernel', name), 'utf8');

/** Every one of `whats` occurs in `text` (the transcripts of `where`). */
function mentions(text: string, where: string, whats: string[]): void {
  for (const what of whats) assert.ok(text.includes(what), `no "${what}" in ${where}`);
}

/** Each mutant (from -> to) of kernel file `what` must run unlike the C: `differs`. */
function eachMutant(what: string, mutants: Array<[string, string]>, differs: (mutant: string) => boolean): void {
  const real = kernelSrc(what);
  for (const [from, to] of mutants) {
    assert.ok(real.includes(from), `${what} has ${from}`);
    assert.ok(differs(real.replace(from, to)), `${what} with ${to.trim()} ran like the C in the worlds`);
  }
}

test('the C loop runs the same world as the Lua loop, step for step (one worker, 200 seeds)', () => {
  let lines = 0;
  for (let seed = 1; seed <= 200; seed++) {
    const lua = world(seed, false, false);
    const c = world(seed, true, false);
    assert.equal(c, lua, `seed ${seed}`);
    assert.ok(!lua.includes('wake values held'), `seed ${seed}: a running thread's record still held its wake values`);
    lines += lua.split('\n').length;
  }
  assert.ok(lines > 200 * 40, `the worlds did things (${lines} transcript lines)`);
});

test('the C loop runs the same world as the Lua loop with queued spawns taken (several workers, 200 seeds)', () => {
  for (let seed = 1001; seed <= 1200; seed++) {
    assert.equal(world(seed, true, true), world(seed, false, true), `seed ${seed}`);
  }
});

// Session 10: a job's START round in C (native/lua/ljob.c: taskq.take's common case and the
// start, called by lsched.c's loop at START) against sched.lua's start_slot, spawn.lua's
// take_task and taskq.lua's take, over the real taskq.lua. The fake directory's answers (a
// sibling lighter or not, a shared queue full or not, a shared take finding a task or not) are
// seeded, so the worlds pass the list's mark (8 here), publish, offer, take from the shared
// queues and mix jobs with spawns, and starts raise.
test("a job's START round in C runs the same world as the Lua round, over the real list (300 seeds)", () => {
  const all: string[] = [];
  let cSpj = 0;
  for (let seed = 2001; seed <= 2300; seed++) {
    const lua = jobWorld(seed, false);
    engine.doStringSync('JOBSLOT_LUA_SPJ = 0');
    assert.equal(jobWorld(seed, true), lua, `seed ${seed}`);
    cSpj += (lua.split('queues job').length - 1) - (engine.doStringSync('return JOBSLOT_LUA_SPJ') as number);
    all.push(lua);
  }
  engine.doStringSync('JOBSLOT_HITS = 0');
  for (let seed = 2001; seed <= 2300; seed++) jobWorld(seed, true);
  const hits = engine.doStringSync('return JOBSLOT_HITS') as number;
  const text = all.join('\n');
  const starts = text.split('start job').length - 1, queued = text.split('queues job').length - 1;
  assert.ok(hits > 0 && hits < starts, `C started ${hits} of ${starts} jobs (the rest: the Lua's cases)`);
  assert.ok(cSpj > 0 && cSpj < queued, `C queued ${cSpj} of ${queued} jobs (the rest: the Lua's cases)`);
  mentions(text, 'the job worlds', ['queues job', 'queues spawn', 'no room', 'start job', 'start task true',
    'start task false', 'listed', 'load_add -1', 'task_take false -> ', 'start raised', 'kernel_fault', 'take: none']);
});

test("the job worlds notice a one-step difference in the list's Lua", () => {
  eachMutant('taskq.lua', [
    ['      local st = starts + 1\n', '      local st = starts + 2\n'],
    ['        if shared_in == 0 then shared_in = SHARED_EVERY end', '        if shared_in == 0 then shared_in = SHARED_EVERY - 1 end'],
    ['      shared_in = shared_in - 1\n', '      shared_in = shared_in - 2\n'],
  ], (mutant) => {
    for (let seed = 2001; seed <= 2060; seed++) if (jobWorld(seed, false, mutant) !== jobWorld(seed, true)) return true;
    return false;
  });
});

test('the C loop runs a long ping-pong with timers as the Lua loop does', () => {
  const lua = engine.doStringSync('return PINGPONG(false)') as string;
  assert.equal(engine.doStringSync('return PINGPONG(true)'), lua);
  assert.match(lua, /timer/, 'timers fired');
  assert.match(lua, /done 3000/, 'every hand-over counted');
});

test('the worlds cover every outcome of a resume', () => {
  const all = Array.from({ length: 50 }, (_, i) => world(i + 1, true, i % 2 === 1)).join('\n');
  mentions(all, '50 worlds', ['thread_failed', 'thread_done', 'do_upgrade', 'deadlock', 'after_resume', 'process_fault',
    'yields', 'woke', 'timer of', 'queues', 'kills', 'discards', 'take T']);
});

test('the comparison notices a one-step difference in the Lua loop', () => {
  eachMutant('sched.lua', [
    ['p[2] = p[2] + (now - tlast)', 'p[2] = p[2] + (now - tlast) + 1'],
    ['if hn > 0 and budget % 64 == 0 then run_timers(now) end', 'if hn > 0 and budget % 32 == 0 then run_timers(now) end'],
    ['elseif p.nrun == 0 and p.npending == 0 and p.nsubs == 0 and p.alive then', 'elseif p.nrun == 0 and p.npending == 0 and p.alive then'],
    ['if T.mrec then T.mrec = nil end', 'if T.mrec then T.mrec = false end'],
    // the clears by n after a resume (a1 left, a2 left) and ready's stores up to n
    ['if n ~= 0 then T.a1 = nil; if n ~= 1 then T.a2 = nil end end', 'if n ~= 0 then if n ~= 1 then T.a2 = nil end end'],
    ['if n ~= 0 then T.a1 = nil; if n ~= 1 then T.a2 = nil end end', 'if n ~= 0 then T.a1 = nil end'],
    ['elseif n == 1 then T.n, T.a1 = 1, a1 else', 'elseif n == 1 then T.n, T.a1, T.a2 = 1, a1, 1 else'],
  ], (mutant) => {
    engine.global.set('WORLD_SRC', mutant);
    if (engine.doStringSync('return PINGPONG(false, WORLD_SRC)') !== engine.doStringSync('return PINGPONG(true)')) return true;
    for (let seed = 1; seed <= 40; seed++) if (world(seed, false, seed % 2 === 0, mutant) !== world(seed, true, seed % 2 === 0)) return true;
    return false;
  });
});

test('jobslot refuses probes without the names it needs', () => {
  assert.throws(() => engine.doStringSync(`local x = 1; local f = function() return x end
    return package.loaded["wippy.native"].jobslot(f, f, f, f, f, f)`), /probe has no upvalue 'runq'/);
});

test('runner refuses a probe without the names it needs', () => {
  assert.throws(() => engine.doStringSync(`local x = 1; return package.loaded["wippy.native"].runner(function() return x end)`),
    /probe has no upvalue 'budget'/);
});
