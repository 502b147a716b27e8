// src/lua/kernel/taskq.lua on its own, under a fake of the host's shared run queues: which queued
// spawns stay a Lua record (a host with the budget hook, below the backlog mark), publishing at
// the mark (oldest first, all of them, stopping at the first that does not fit), the take order
// (what was published first, the shared queues every 61st take, then the list in spawn order),
// the sharing rule's hand-over (every other spawn, oldest first, order kept on both sides), the
// offer rule (a list at the mark is published only while a sibling is lighter; its length is
// reported to the directory), and the counters Runtime.stats() reports.
import { test } from 'node:test';
import { withKernelModules } from './helpers/kernel-module.js';

const SETUP = String.raw`
  -- The shared queues of a host of workers 1 and 2, seen from worker 1: its deque (FIFO, as the
  -- owner takes it), a sibling's inject queue, each holding up to F.cap items; task_take takes
  -- its own first, then F.other (a job on the global queue, a sibling's share).
  F.shared = { [1] = {}, [2] = {} }
  F.other = {}
  F.cap = 1000
  F.H.task_push = function(d, target)
    local q = F.shared[target]
    if F.task_ok == false or #q >= F.cap then F.logf("task_push %d %s refused", target, d[1]); return false end
    q[#q + 1] = d
    F.logf("task_push %d %s", target, d[1])
    return true
  end
  -- the directory's listed word and the offer rule's answer (a sibling lighter by half the mark:
  -- yes unless a test says F.lighter = false)
  F.H.task_listed = function(n)
    F.listed = n
    return F.lighter ~= false
  end
  F.H.task_take = function(steal)
    local d = table.remove(F.shared[1], 1) or table.remove(F.other, 1)
    F.logf("task_take %s", d and d[1] or "none")
    return d
  end
  -- encode marks a record as bytes, so a test tells what went through the codec
  local function encode(t)
    if t[2] == "big" then return nil end -- does not fit a task slot
    return { "bytes:" .. t[1] }
  end
  local function decode(d) return { d[1] } end
  function setup(tids, limits)
    local hostrec = { kind = "process.host", tids = tids }
    for k, v in pairs(limits or {}) do hostrec[k] = v end
    return module("taskq")({ H = F.H, cfg = { tid = 1, host = "app:host", hosts = { ["app:host"] = hostrec } },
      encode = encode, decode = decode, wire = module("wire")() })
  end
  HOOKED = { max_reductions = 1000000 }
  function rec(name) return { name } end
  -- a job from JS as the list keeps it: its "spj" frame (PID = name; "big": its W.task record,
  -- [2] = uniq, does not encode)
  function job(name, big) return { "spj", name, big or 7, "app:fn", "app:host", false, false, false, { n = 0 } } end
  -- take everything: the names in order, "*" marking those from the Lua-side list
  function drain(Q)
    local out = {}
    for n = 1, math.huge do -- bounded: a queue that never empties fails, named, instead of spinning
      if n > 100000 then error("drain: still taking after 100000 tasks", 2) end
      local t, mine = Q.take(false)
      if not t then break end
      out[#out + 1] = t[1] .. (mine and "*" or "")
    end
    return table.concat(out, ",")
  end
`;
const run = async (code: string): Promise<void> => { await withKernelModules(['taskq', 'wire'], SETUP + code); };

test('a one-worker host or a host without the budget hook keeps no list: every queued spawn is published', () =>
  run(String.raw`
    F.eq(setup({ 1 }, HOOKED).room(), false, "one worker: no queues at all")
    F.eq(setup({ 1, 2 }, { max_reductions = 0, max_memory_mb = 0 }).room(), false, "no hook: the stuck rule needs them shared")
    F.eq(setup({ 1, 2 }, { max_reductions = 0, max_memory_mb = 64 }).room(), true, "the memory cap runs the hook too")
    F.eq(setup({ 1, 2 }, HOOKED).room(), true)
  `));

test('below the mark queued spawns stay Lua records, taken in spawn order without a codec or a host call', () =>
  run(String.raw`
    local Q = setup({ 1, 2 }, HOOKED)
    for i = 1, 5 do F.eq(Q.room(), true); Q.push(rec("s" .. i)) end
    F.eq(Q.pending(), true)
    F.eq(F.logged(), "", "nothing pushed")
    F.eq(drain(Q), "s1*,s2*,s3*,s4*,s5*")
    F.eq(F.logged(), "task_take none", "the shared queues asked once the list was empty")
    F.eq(Q.pending(), false)
    F.eq(table.concat({ Q.counters() }, " "), "5 0 5 0", "queued, published, started, waiting")
  `));

test('the mark is min(1024, local_queue_size rounded up to a power of two), as the deque and placement have it', () =>
  run(String.raw`
    F.eq(setup({ 1, 2 }, HOOKED).MARK, 1024, "default")
    F.eq(setup({ 1, 2 }, { max_reductions = 1, local_queue_size = 100 }).MARK, 128)
    F.eq(setup({ 1, 2 }, { max_reductions = 1, local_queue_size = 64 }).MARK, 64)
    F.eq(setup({ 1, 2 }, { max_reductions = 1, local_queue_size = 5000 }).MARK, 1024)
  `));

test('a spawn that finds the list at the mark publishes all of it, oldest first; the owner still starts them in spawn order', () =>
  run(String.raw`
    local Q = setup({ 1, 2 }, { max_reductions = 1, local_queue_size = 4 })
    for i = 1, 4 do F.eq(Q.room(), true); Q.push(rec("s" .. i)) end
    F.eq(F.logged(), "")
    F.eq(Q.room(), true, "published, so there is room again")
    Q.push(rec("s5"))
    F.eq(F.logged(), "task_push 1 bytes:s1\ntask_push 1 bytes:s2\ntask_push 1 bytes:s3\ntask_push 1 bytes:s4")
    -- a thief took the oldest published one
    table.remove(F.shared[1], 1)
    F.clear()
    Q.push(rec("s6"))
    F.eq(drain(Q), "bytes:s2,bytes:s3,bytes:s4,s5*,s6*", "what was published first (older), then the list")
    F.eq(F.logged(), "task_take bytes:s2\ntask_take bytes:s3\ntask_take bytes:s4\ntask_take none\ntask_take none",
      "the shared queues until empty, then the list without a host call")
    F.eq(table.concat({ Q.counters() }, " "), "6 4 2 0")
  `));

test('publishing stops at the first record that does not fit; with the list still at the mark the spawn is not queued here', () =>
  run(String.raw`
    local Q = setup({ 1, 2 }, { max_reductions = 1, local_queue_size = 4 })
    Q.push(rec("s1")); Q.push({ "s2", "big" }); Q.push(rec("s3")); Q.push(rec("s4")); Q.push(rec("s5"))
    F.eq(Q.room(), false, "one published, four left: still at the mark")
    F.eq(F.logged(), "task_push 1 bytes:s1")
    F.clear()
    F.task_ok = false
    F.eq(Q.room(), false, "the shared queues are full")
    F.task_ok = nil
    F.eq(drain(Q), "bytes:s1,s2*,s3*,s4*,s5*", "still in spawn order")
  `));

test('the shared queues are looked at every 61st take while the list holds spawns (a job from the main thread waits at most that long)', () =>
  run(String.raw`
    local Q = setup({ 1, 2 }, HOOKED)
    for i = 1, 70 do Q.push(rec("s" .. i)) end
    F.other[1] = { "job" }
    local order = {}
    for i = 1, 71 do order[i] = Q.take(false)[1] end
    F.eq(order[61], "job")
    F.eq(order[60], "s60"); F.eq(order[62], "s61"); F.eq(order[71], "s70")
  `));

test('sharing hands every other queued spawn, oldest first, to the sibling: the shared queues first, then the list', () =>
  run(String.raw`
    local Q = setup({ 1, 2 }, { max_reductions = 1, local_queue_size = 2 })
    Q.push(rec("a")); Q.push(rec("b"))
    Q.room() -- publishes a and b to worker 1's deque
    for _, n in ipairs({ "c", "d", "e" }) do Q.push(rec(n)) end
    F.clear()
    Q.share(2)
    F.eq(F.logged(), table.concat({
      "task_take bytes:a", "task_take bytes:b", "task_take none",
      "task_push 2 bytes:a", "task_push 1 bytes:b",
      "task_push 2 bytes:c", "task_push 2 bytes:e" }, "\n"))
    F.eq(table.concat(F.shared[2][1], ""), "bytes:a")
    F.eq(drain(Q), "bytes:b,d*", "this worker keeps b (back on its deque) and d, in order")
    F.eq(table.concat({ Q.counters() }, " "), "5 4 1 0", "a, b, c, e left the list for the shared queues")
  `));

test('a sibling with no room: what was taken back waits in the spill list and goes first; list records stay', () =>
  run(String.raw`
    local Q = setup({ 1, 2 }, { max_reductions = 1, local_queue_size = 2 })
    Q.push(rec("a")); Q.push(rec("b"))
    Q.room()
    Q.push(rec("c"))
    F.task_ok = false
    Q.share(2)
    F.task_ok = nil
    F.eq(Q.pending(), true)
    F.eq(drain(Q), "bytes:a,bytes:b,c*")
  `));

test('the offer rule: at the mark with no lighter sibling nothing is published; the list grows and is looked at again every LISTED_EVERY spawns', () =>
  run(String.raw`
    local Q = setup({ 1, 2 }, { max_reductions = 1, local_queue_size = 4 })
    local EVERY = Q.LISTED_EVERY
    F.lighter = false
    for i = 1, 4 do F.eq(Q.room(), true); Q.push(rec("s" .. i)) end
    F.eq(F.listed, nil, "under the mark and under LISTED_EVERY: not reported yet")
    F.eq(Q.room(), true, "at the mark, nobody lighter: queued here all the same")
    F.eq(F.listed, 4, "the look reported the list")
    Q.push(rec("s5"))
    F.eq(F.logged(), "", "nothing encoded, nothing pushed")
    F.listed = nil
    for i = 6, 4 + EVERY do F.eq(Q.room(), true); Q.push(rec("s" .. i)) end
    F.eq(F.listed, nil, "no look until the list has grown by LISTED_EVERY")
    F.lighter = true
    F.eq(Q.room(), true, "looked again: a sibling is lighter now, so the list is published")
    F.eq(#F.shared[1], 4 + EVERY, "all of it, oldest first")
    F.eq(F.shared[1][1][1], "bytes:s1")
    F.eq(F.listed, 0, "and the empty list reported")
    F.eq(table.concat({ Q.counters() }, " "), (4 + EVERY) .. " " .. (4 + EVERY) .. " 0 0")
  `));

test('the offer rule: the list length is reported as it grows and as it is started, and 0 once empty', () =>
  run(String.raw`
    local Q = setup({ 1, 2 }, HOOKED)
    local EVERY = Q.LISTED_EVERY
    local seen = {}
    F.H.task_listed = function(n) seen[#seen + 1] = n; return false end
    for i = 1, 2 * EVERY + 1 do Q.room(); Q.push(rec("s" .. i)) end
    F.eq(table.concat(seen, ","), EVERY .. "," .. 2 * EVERY, "every LISTED_EVERY spawns, before each push")
    seen = {}
    for i = 1, 2 * EVERY + 1 do F.eq(Q.take(false)[1], "s" .. i) end
    F.eq(table.concat(seen, ","), (EVERY + 1) .. ",1,0", "every LISTED_EVERY starts, and the empty list")
  `));

test('the offer rule: a list past the mark is published as it is started once a sibling has become lighter; order holds', () =>
  run(String.raw`
    local Q = setup({ 1, 2 }, { max_reductions = 1, local_queue_size = 4 })
    local EVERY = Q.LISTED_EVERY
    local N = 4 + 3 * EVERY
    F.lighter = false
    for i = 1, N do Q.room(); Q.push(rec("s" .. i)) end
    F.eq(F.logged(), "", "nobody lighter while spawning: all listed")
    local first = Q.take(false)[1]
    F.lighter = true
    local names, k, published_at = { first }, 1, nil
    while true do
      if k > 100000 then error("still taking after 100000 tasks") end
      local t, mine = Q.take(false)
      if not t then break end
      k = k + 1
      if not mine and not published_at then published_at = k end
      names[k] = (t[1]:gsub("^bytes:", ""))
    end
    F.eq(published_at ~= nil and published_at <= EVERY + 1, true, "offered within LISTED_EVERY starts of the change")
    F.eq(#names, N)
    for i = 1, N do F.eq(names[i], "s" .. i, "spawn order") end
    F.eq(F.listed, 0)
  `));

test('a job from JS in the list: uncounted in the load when it leaves for the shared queues, started as a job, left out of the counters', () =>
  run(String.raw`
    local Q = setup({ 1, 2 }, { max_reductions = 1, local_queue_size = 4 })
    for i = 1, 3 do F.eq(Q.push_job(job("j" .. i)), true) end
    F.eq(Q.push_job(job("j4", "big")), true); Q.push(rec("s5"))
    F.eq(Q.push_job(job("j6")), true, "the list at the mark: published up to j4, which does not fit")
    F.eq(select(2, F.logged():gsub("load_add %-1", "")), 3, "the three published jobs are uncounted here")
    F.has(F.logged(), "task_push 1 bytes:j1"); F.has(F.logged(), "task_push 1 bytes:j3")
    F.hasnt(F.logged(), "bytes:j4")
    F.lighter = false -- nobody lighter now: the list grows past the mark
    for _, n in ipairs({ "a", "b", "c" }) do F.eq(Q.push_job(job(n)), true) end
    F.lighter = nil
    F.clear()
    Q.share(2)
    -- the list held j4 (does not fit), s5, j6, a, b, c: every other one, oldest first, goes if it encodes
    F.has(F.logged(), "task_push 2 bytes:j6"); F.has(F.logged(), "task_push 2 bytes:b")
    F.eq(select(2, F.logged():gsub("load_add %-1", "")), 2, "j6 and b left: uncounted")
    F.clear()
    local got = {}
    for n = 1, math.huge do
      if n > 100000 then error("still taking after 100000 tasks") end
      local t, mine, job = Q.take(false)
      if not t then break end
      if mine then got[#got + 1] = (job and t[2] .. "(job)" or t[1]) end
    end
    F.eq(table.concat(got, ","), "j4(job),s5,a(job),c(job)", "from the list, in order; a job says so")
    F.hasnt(F.logged(), "load_add")
    F.eq(table.concat({ Q.counters() }, " "), "1 0 1 0", "only the worker's own spawn is counted")
  `));
