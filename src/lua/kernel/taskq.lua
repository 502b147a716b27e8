-- The worker's queued spawns, Lua side: which of them stay a Lua list and which are published to
-- the host's shared run queues (src/scheduler/tasks.ts), in which order they are taken, and the
-- sharing rule's hand-over to a sibling.
--
-- Why a Lua list. On a host of several workers a spawn of an entry that already started here is
-- queued, not started (spawn.lua spawn_from), so that an idle sibling may take it. Through the
-- shared queues that costs a descriptor encode (the Lua codec), a copy into a task slot, a copy
-- out, a decode and three host calls (push, the wake-up check, take) per spawn, where a one-worker
-- host starts the process at once. But a sibling may take a queued spawn only under the steal
-- rules (src/host/placement.ts): the backlog rule (the owner's queues hold the backlog mark,
-- min(1024, local_queue_size) spawns) or, on a host with the budget hook, the sharing rule (the
-- owner itself hands them over while a resume computes). Below the mark, on a hooked host, no
-- other worker may take the spawn anyway, so it stays a record in `lq`, a Lua FIFO, and is
-- published only when a rule needs it:
--   backlog  a spawn that finds lq at the mark first publishes all of lq, oldest first, to this
--            worker's deque (the deque's overflow: the global queue), which a thief's backlog rule
--            then sees at the mark: the state the shared queues alone had at that moment — but
--            only while a sibling is lighter than this worker by more than half the mark and has
--            no list of its own (the offer rule, src/host/placement.ts siblingLighter; a sibling
--            with a list is bursting too; H.task_listed answers it). While
--            none is, lq grows past the mark and is looked at again every LISTED_EVERY spawns:
--            two workers each bursting their own spawns keep them (nobody idle could take them).
--            A list past the mark is looked at again as it is started (every LISTED_EVERY
--            starts), and published then if a sibling has become lighter meanwhile.
--            lq's length is reported in the directory (H.task_listed: after it grew by
--            LISTED_EVERY, every LISTED_EVERY starts, and when it empties), where the siblings'
--            weights read it.
--   sharing  share(P), from the budget hook (sched.lua): every other spawn, oldest first, goes to
--            a sibling's inject queue, from the shared queues (taken back) and from lq alike;
--            the rest stays, in order, on each side.
-- A record that does not encode into a task slot (over 508 bytes) stops the publishing there and
-- stays, with everything younger, in lq; so does one for which the shared queues are full; a spawn
-- that then finds lq still at the mark while a sibling is lighter is not queued here (spawn.lua
-- falls back to the shared queues and placement, which may hand it to that sibling).
-- Hosts without the budget hook (max_reductions 0 and max_memory_mb 0) publish every spawn, as
-- before: there a thief's stuck rule (a sibling in one step with nothing moving for 1 ms) is the
-- only way the spawns behind a computing resume spread, and it sees only the shared queues.
--
-- Order. This worker starts its own spawns in spawn order: what it published to its deque is older
-- than everything in lq (only lq's oldest are published, at the deque's young end), and take()
-- takes the shared queues first while `pub` (spawns it published and has not seen taken since) is
-- above 0. A take that finds them empty sets pub to 0: thieves only ever remove items. While lq
-- holds spawns, the shared queues (a sibling's share, a job from the main thread on the global
-- queue) are also looked at every SHARED_EVERY-th take, as tasks.ts looks at the global queue
-- every 61st.
--
-- Recovery. lq dies with its worker, and so do its spawns' PIDs (minted here, owned here: the
-- main thread clears them and their watchers hear the EXIT), as for a spawn in the dead worker's
-- deque whose PID it owned.
--
-- Jobs from JS (push_job(f): spawn.lua frame_spj). The main thread counted each in this
-- worker's load when it sent it, so one that leaves lq for the shared queues (publish, share) is
-- uncounted here (H.load_add(-1): whoever starts it counts it), and take() says so of one it
-- returns (its start does not count it again). They are not spawns of this worker's, so the
-- counters leave them out (Runtime.stats() `queue`: what the worker's own spawns did).
-- A job's record in lq is its decoded "spj" frame itself ({"spj", pid, uniq, id, host, watcher,
-- link, ctx, args}: `t[1] == "spj"` tells a job from a W.task record, whose [1] is a PID), and
-- take() returns it as it came (spawn.lua starts it as the "sp" frame it would have been). Only a
-- job that leaves lq for the shared queues gets a W.task record (task_of), made for its encode.
-- Session 9 (docs/design/scheduler.md, "The job runner, session 9"): until then push(t, true)
-- copied every job frame into a W.task record (~12 VM instructions, 175 bytes) and marked it in
-- a weak-keyed set (an insert and a clear per job, and a weak table for the collector to clear
-- in every cycle's atomic phase); push_job also asks room()'s question inline while lq is below
-- the mark and needs no report (one call per job fewer).
-- Session 10: on our module that inline case and take()'s common case for a job at lq's head run
-- in C (native/lua/ljob.c, over these locals through M.probe; ~145 VM instructions per job fewer,
-- with the START taken inside the C run loop); every other case runs the Lua here.
-- Session 11: a spawn of a process.lua entry with at most two arguments and no context, queued
-- by process.spawn* on our module, is queued in C (native/lua/lqspawn.c, room()'s inline case and
-- push's steps through M.spawn_probe) as a flat record { uniq, pid, id, watcher, link, n, a1, a2 }
-- (6 + n array slots where a W.task has 9 and an arguments table: ~150 bytes per spawn+exit
-- fewer, measured), and started in C at its START
-- (ljob.c's slot, or take_task for what take() returns: lqspawn.c tstart), as is a job at the
-- list's head. Every rule here sees such a record as any other: publish and share encode its
-- W.task (wire_of), take() returns it (spawn.lua starts it).
-- Session 11, second wave: the C's room test is room()'s whole inline case (also `len < offer_at`:
-- a list past the mark that nobody lighter could take, `hold`'s two bursts), and ljob.c's START
-- round does take()'s offer_at step (a draining list past the mark lowers it at every start);
-- the looks and reports stay here. spawn_probe gives offer_at.
-- Session 14, second wave: a published spawn's record stays here (kq), its push tagged; one this
-- worker claims back from its own deque comes back from H.task_take as the tag (tasks.ts: no copy
-- out of the slot) and starts from the record (no decode; a flat record in C), as if it had never
-- left lq. A list published beside a sibling that then takes nothing (its own burst began a moment
-- later: `hold`) costs its encode and slot, no longer a decode and a Lua start per spawn
-- (docs/design/scheduler.md, "Session 14, second wave: publishing a burst").
--
-- Owns: lq, spill (bytes that fit no queue after a share), pub, kq (published records kept), the
-- counters, the last reported length. Receives: H (task_push, task_take, task_listed), cfg (tid, host, hosts: tids, limits,
-- local_queue_size), mem_cap_kb, encode / decode (the codec), wire (the "spj" and W.task
-- layouts). Queue records are W.task arrays (wire.lua), flat records (lqspawn.c) and "spj" frames (jobs).
-- Measured: see docs/design/scheduler.md ("Run queues").
return function(deps)
  local H, cfg, encode, decode, W = deps.H, deps.cfg, deps.encode, deps.decode, deps.wire
  local M = {}
  local SELF = cfg.tid
  local hostrec = cfg.hosts[cfg.host]
  local MULTI = #hostrec.tids > 1
  local hooked = (hostrec.max_reductions or 0) > 0 or (hostrec.max_memory_mb or 0) > 0 or deps.mem_cap_kb ~= nil
  -- The backlog mark of src/host/placement.ts: min(STEAL_BACKLOG = 1024, local_queue_size rounded
  -- up to a power of two, as tasks.ts sizes the deque).
  local function backlog_mark()
    local n = hostrec.local_queue_size or 1024
    local p = 1
    while p < n do p = p * 2 end
    return p < 1024 and p or 1024
  end
  local MARK = backlog_mark()
  M.MARK = MARK
  local SHARED_EVERY = 61
  -- lq: records at lq[lh .. lt]
  local lq, lh, lt = {}, 1, 0
  local spill, spill_n = {}, 0
  local pub = 0
  local shared_in = SHARED_EVERY -- takes from lq until the shared queues are looked at
  -- The offer rule's bookkeeping: lq's length as last reported to the directory (H.task_listed),
  -- and the length at which a list past the mark is looked at again (0: at the mark).
  local LISTED_EVERY = 64
  M.LISTED_EVERY = LISTED_EVERY
  local reported, offer_at = 0, 0
  local starts = 0 -- spawns started from lq since the last report
  -- spawns that entered lq, left it for the shared queues, were started from it
  local c_in, c_pub, c_started = 0, 0, 0
  -- a job from JS in lq is its "spj" frame (the header); task_of(f): its W.task record, to encode
  local JOB = "spj"
  local function task_of(f)
    return W.task(f[W.SPJ_PID], f[W.SPJ_UNIQ], f[W.SPJ_ID], f[W.SPJ_HOST], f[W.SPJ_WATCHER],
      f[W.SPJ_LINK], f[W.SPJ_CTX], f[W.SPJ_ARGS] or { n = 0 }, SELF)
  end
  -- A spawn of this worker's queued by the C (native/lua/lqspawn.c) is a flat record,
  -- { uniq, pid, id, watcher, link, n, a1, a2 } (a number at [1]: a W.task holds a PID there, a
  -- job "spj"), of this worker's host, without a context; wire_of(t): the W.task of any record
  -- (a job's, a flat one's, a W.task itself), to encode or to start (spawn.lua start_flat).
  local HOST = cfg.host
  local function wire_of(t)
    local first = t[1]
    if first == JOB then return task_of(t) end
    if type(first) ~= "number" then return t end
    return W.task(t[2], first, t[3], HOST, t[4], t[5], false, { n = t[6], t[7], t[8] }, SELF)
  end
  M.wire_of = wire_of

  -- Published spawns of ours, kept (session 14, second wave): kq[tag] is the record published with
  -- that tag (H.task_push's third argument), for the tags kh .. ktag. When this worker claims one
  -- back from its deque, H.task_take gives the tag instead of the bytes (tasks.ts: no copy out)
  -- and take() starts the kept record (no decode; a flat record starts in C). Tags come back in
  -- increasing order, each at most once: those below a returned tag will not come back (a thief
  -- took them, or they overflowed to the global queue, where they are bytes), nor any once a take
  -- has found the shared queues empty (tasks.ts forgets its notes then too). Jobs are not kept
  -- (their load moved with the publish: they start as any job decoded from the queues).
  local kq, kh, ktag = {}, 1, 0
  local function kept(tag)
    local t = kq[tag]
    if t == nil then error("taskq: published spawn " .. tag .. " came back but was not kept") end
    for k = kh, tag do kq[k] = nil end
    kh = tag + 1
    return t
  end
  local function forget_kept()
    if kh <= ktag then kq, kh = {}, ktag + 1 end
  end
  -- d from the shared queues: -> its record, mine (a tag: the record this worker kept)
  local function from_shared(d)
    if type(d) == "number" then return kept(d), true end
    return decode(d), false
  end

  -- Publish lq's oldest records to this worker's own queues (the deque, overflowing to the global
  -- queue), all of them or up to the first that does not fit; each spawn's record kept (kq).
  local function publish()
    while lh <= lt do
      local t = lq[lh]
      local job = t[1] == JOB
      local d = encode(wire_of(t))
      if job then
        if not (d and H.task_push(d, SELF)) then return end
        H.load_add(-1)
      else
        if not (d and H.task_push(d, SELF, ktag + 1)) then return end
        ktag = ktag + 1
        kq[ktag] = t
        c_pub = c_pub + 1
      end
      lq[lh] = nil
      lh = lh + 1
      pub = pub + 1
    end
    lh, lt = 1, 0
  end

  -- Report lq's length to the directory; -> is a sibling lighter by more than half the mark?
  local function report()
    reported = lt - lh + 1
    starts = 0
    return H.task_listed(reported)
  end

  -- May the next spawn be queued in lq? When lq holds the backlog mark and a sibling is lighter
  -- (the offer rule), publishes lq first; while none is, lq grows past the mark.
  -- false on hosts without the budget hook and on one-worker hosts (no queues at all).
  function M.room()
    if not (MULTI and hooked) then return false end
    local len = lt - lh + 1
    if len < MARK or len < offer_at then
      if len - reported >= LISTED_EVERY then report() end
      return true
    end
    if not report() then
      offer_at = len + LISTED_EVERY -- nobody lighter: keep them, look again later
      return true
    end
    publish()
    offer_at = 0
    if lt - lh + 1 ~= len then report() end
    return lt - lh + 1 < MARK
  end

  -- Queue record t (W.task) at lq's young end; the caller asked room() first.
  function M.push(t)
    lt = lt + 1
    lq[lt] = t
    c_in = c_in + 1
  end

  -- Queue job f (its "spj" frame, counted in the load by the main thread: the header) at lq's
  -- young end if room() says so. -> queued. room()'s first case inline: below the mark with no
  -- report due, there is room.
  function M.push_job(f)
    local len = lt - lh + 1
    if not (MULTI and hooked and len < MARK and len - reported < LISTED_EVERY) and not M.room() then
      return false
    end
    lt = lt + 1
    lq[lt] = f
    return true
  end

  -- The sharing rule's hand-over to sibling `to` (share_tasks in spawn.lua picks it): every other
  -- queued spawn, oldest first, goes to its inject queue. The shared queues first (their spawns
  -- are older): taken back (at most 4,096), odd ones to `to`, even ones back onto this worker's
  -- deque; then lq: odd ones to `to`, even ones stay. A spawn that fits nowhere waits in `spill`,
  -- which take() empties first; one of lq that `to` has no room for stays in lq.
  function M.share(to)
    local got, n = {}, 0
    while n < 4096 do
      local d = H.task_take(false, true) -- the bytes, also of the spawns kept in kq
      if not d then break end
      n = n + 1
      got[n] = d
    end
    if n < 4096 then pub = 0; forget_kept() end -- all taken back (else some of ours may still be there)
    for i = 1, n do
      local d = got[i]
      if i % 2 == 1 and H.task_push(d, to) then
        -- shared
      elseif H.task_push(d, SELF) then
        pub = pub + 1
      else
        spill_n = spill_n + 1
        spill[spill_n] = d
      end
    end
    local keep, k = {}, 0
    for i = lh, lt do
      local t = lq[i]
      lq[i] = nil
      local job = t[1] == JOB
      local d = (i - lh) % 2 == 0 and encode(wire_of(t))
      if d and H.task_push(d, to) then
        if job then H.load_add(-1) else c_pub = c_pub + 1 end
      else
        k = k + 1
        keep[k] = t
      end
    end
    lq, lh, lt = keep, 1, k
    if reported ~= k then report() end
  end

  -- The next queued spawn this worker should start: record, mine (it came from lq: this worker
  -- minted it and nobody else could have seen it), job (a job from JS the main thread counted in
  -- the load: the record is its "spj" frame) | nil. `steal`: nothing else is runnable here,
  -- so saturated siblings may be robbed (tasks.ts).
  function M.take(steal)
    if spill_n > 0 then
      local d = table.remove(spill, 1)
      spill_n = spill_n - 1
      return decode(d), false
    end
    if lh <= lt then
      shared_in = shared_in - 1
      if pub > 0 or shared_in == 0 then
        if shared_in == 0 then shared_in = SHARED_EVERY end
        local d = H.task_take(false)
        if d then
          if pub > 0 then pub = pub - 1 end
          return from_shared(d)
        end
        pub = 0
        forget_kept()
      end
      local t = lq[lh]
      lq[lh] = nil
      lh = lh + 1
      if lh > lt then lh, lt = 1, 0 end
      local job = t[1] == JOB
      if not job then c_started = c_started + 1 end
      -- a list still past the mark is offered again if a sibling has become lighter meanwhile
      -- (its own work done, its processes gone); t is older than all of it, so order holds.
      -- (The common case, a short list with nothing reported or offered, reads three upvalues and
      -- skips the rest: session 9.)
      local st = starts + 1
      starts = st
      if reported > 0 or st >= LISTED_EVERY or offer_at > 0 then
        local len = lt - lh + 1
        if (st >= LISTED_EVERY or (len == 0 and reported > 0)) and report() and len >= MARK then
          publish()
          report()
        end
        if offer_at > len + LISTED_EVERY then offer_at = len + LISTED_EVERY end
      end
      return t, true, job
    end
    local d = H.task_take(steal)
    if not d then pub = 0; forget_kept(); return nil end
    if pub > 0 then pub = pub - 1 end
    return from_shared(d)
  end

  -- The locals native/lua/ljob.c reads and writes where they live (a job in C: push_job's inline
  -- case on arrival, take's common case for a job at lq's head; session 10).
  function M.probe()
    return lq, lh, lt, spill_n, pub, shared_in, starts, reported, offer_at, LISTED_EVERY, JOB, MARK, MULTI, hooked,
      c_started
  end
  -- The locals lqspawn.c (a spawn queued in C: push's steps after room()'s inline case, which
  -- push_job also asks inline) reads and writes where they live (session 11).
  local MULTI_HOOKED = MULTI and hooked
  function M.spawn_probe()
    return lq, lh, lt, reported, c_in, MARK, LISTED_EVERY, MULTI_HOOKED, offer_at
  end

  -- Does lq hold spawns (sched.lua's START slots start them)?
  function M.has_local()
    return lh <= lt
  end

  -- Spawns waiting here that only take() can start (lq, spill): the step is not over.
  function M.pending()
    return lh <= lt or spill_n > 0
  end

  -- -> spawns queued in lq, of which published to the shared queues, started from lq, waiting in lq.
  function M.counters()
    return c_in, c_pub, c_started, lt - lh + 1
  end

  return M
end
