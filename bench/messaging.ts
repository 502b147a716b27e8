// Workloads 3-6: messages between Lua processes.
//
//   ping-pong   a pinger sends a value, a ponger sends it back, one message in flight; the pinger
//               checks every echo. Throughput phase first (no clocks read), then a latency phase
//               that reads time.now() around each round trip (its own cost is reported beside).
//   ring        RING_SIZE processes in a ring (the driver is one of them); one token goes round,
//               decremented at every hop, until HOPS hops are done. Each process counts the hops it
//               received; the counts must add up to HOPS.
//   fan-in      S senders each send M small messages to one receiver, which counts and sums them
//               (count = S×M, sum = S×M(M+1)/2, nothing extra arrives afterwards).
//   *-table     ping-pong and ring with a 10-field table as the payload instead of an integer.
//
// Placement. A spawn on the caller's own host lands on the caller's worker thread unless the
// runtime places it on a less loaded worker of that host, so "same worker" pairs and rings are
// spawned on the driver's host and the bench records where every process ended up: ping-pong
// checks its pairs stayed put, ring names the split in its variant. "Across workers" spawns the
// peer on a second process.host. "N workers" for ping-pong and ring runs N independent pairs/rings, one per
// worker thread (aggregate throughput); fan-in on N workers spawns its senders from JS with the
// receiver's PID as an argument, so the runtime places them (the peer rule: 16 beside the
// receiver, then, while two cores are free of other processes' work, the rest on the other
// workers: 16/84 on 2 workers; all beside otherwise), and "N workers, senders spread" spawns them
// without it, so round-robin
// spreads them over all workers and the messages from every worker but the receiver's cross
// threads. BENCH_FANIN_LOCAL=k[,k...] (measurement) replaces fan-in's variants with 2-worker runs
// that put k% of the senders beside the receiver and the rest on the other worker.
import {
  type BenchContext, type Figure, type Workload, type Variant, MAIN_HOST, PEER_HOST, benchRuntime, luaEntry,
  withRuntime, runDrivers, cpuSecondsSince, spawnWatched, exitValue, check, spanSeconds, shares, fmtInt, workersLabel, workerCounts,
  withTimeout, waitFor, percentile, sortedNumbers, bellCounts,
} from './harness.js';
import { threadCpu, threadCpuDelta } from './threadcpu.js';

const RING_SIZE = 1000;

/** The 10-field table payload (Lua constructor) used by the *-table workloads. */
const TABLE_FIELDS = `a = 1, b = 2.5, c = "hello", d = true, e = 42, f = "world", g = 3.25, i = false, k = -7`;
const TABLE_CHECK = `v.c == "hello" and v.k == -7 and v.b == 2.5 and v.d == true and v.i == false`;

export const PONG = luaEntry('pong', `
return { main = function(peer)
  local ch = process.listen("p")
  local n = 0
  while true do
    local v = ch:receive()
    if v == false then return n end
    process.send(peer, "p", v)
    n = n + 1
  end
end }`);

export const PING = luaEntry('ping', `
local function main(ready, n, lat, warm, host, tbl)
  local ch = process.listen("p")
  local peer = must(process.spawn_linked("bench:pong", host, process.pid()), nil, "spawn pong")
  ready_go(ready)
  local send = process.send
  local round
  if tbl then
    local P = { seq = 0, ${TABLE_FIELDS} }
    round = function(i)
      P.seq = i
      send(peer, "p", P)
      local v = ch:receive()
      if v.seq ~= i or not (${TABLE_CHECK}) then error("bad echo at round trip " .. i) end
    end
  else
    round = function(i)
      send(peer, "p", i)
      local v = ch:receive()
      if v ~= i then error("bad echo at round trip " .. i .. ": " .. tostring(v)) end
    end
  end
  for i = 1, warm do round(i) end
  local t0 = now_us()
  for i = 1, n do round(i) end
  local t1 = now_us()
  local samples = {}
  for i = 1, lat do
    local a = now_ns()
    round(i)
    samples[i] = now_ns() - a
  end
  local ov = {}
  for i = 1, 1001 do local a = now_ns(); ov[i] = now_ns() - a end
  table.sort(ov)
  send(peer, "p", false)
  return { t0 = t0, t1 = t1, n = n, samples = samples, timer_ns = ov[501] }
end
return { main = main }`);

export const RING_NODE = luaEntry('ring_node', `
return { main = function(nxt, driver)
  local tok = process.listen("t")
  local send = process.send
  local count = 0
  while true do
    local v = tok:receive()
    local tv = type(v) == "table"
    local h = v
    if tv then h = v.hop end
    if h < 0 then
      send(nxt, "t", v)
      send(driver, "count", count)
      return count
    end
    count = count + 1
    if h == 1 then
      if tv then v.hop = 0 else v = 0 end
      send(driver, "t", v)   -- the last hop: report to the driver (not a hop)
    else
      if tv then v.hop = h - 1 else v = h - 1 end
      send(nxt, "t", v)
    end
  end
end }`);

export const RING_DRIVER = luaEntry('ring_driver', `
local function main(ready, size, hops, host, tbl, warm)
  local tok = process.listen("t")
  local counts = process.listen("count")
  local send = process.send
  local me = process.pid()
  -- me -> first -> ... -> last -> me: size processes counting the driver
  local nxt = me
  for _ = size - 1, 1, -1 do nxt = must(process.spawn_linked("bench:ring_node", host, nxt, me), nil, "spawn ring node") end
  local first = nxt
  ready_go(ready) -- (JS waits for every driver, and so for every node spawned above)
  -- Pass a token of n hops around the ring; -> the hops this driver received, the token
  local function lap(n)
    local v = n
    if tbl then v = { hop = n, ${TABLE_FIELDS} } end
    local count = 0
    send(first, "t", v)
    while true do
      v = tok:receive()
      local tv = type(v) == "table"
      local h = v
      if tv then h = v.hop end
      if h == 0 then break end -- a node received the last hop
      count = count + 1
      if h == 1 then break end -- we received the last hop
      if tv then v.hop = h - 1 else v = h - 1 end
      send(first, "t", v)
    end
    return count, v
  end
  -- Untimed first (see ringWarm): the nodes count these hops too, so their share of the warm
  -- pass, warm - wcount, comes off the total below.
  warm = warm or 0 -- (bench/parallel.ts's rings have none)
  local wcount = warm > 0 and lap(warm) or 0
  local t0 = now_us()
  local count, v = lap(hops)
  local t1 = now_us()
  if tbl and not (${TABLE_CHECK}) then error("token payload damaged") end
  send(first, "t", -1)
  local total = count - (warm - wcount)
  for _ = 1, size - 1 do total = total + counts:receive() end
  return { t0 = t0, t1 = t1, total = total }
end
return { main = main }`);

const FANIN_SENDER = luaEntry('fanin_sender', `
return { main = function(recv, m, laps)
  local go = process.listen("go")
  local send = process.send
  for _ = 1, laps or 1 do -- a lap per "go" (the receiver's warm lap, then the timed one)
    local from = go:receive()
    recv = recv or from -- spawned without the receiver's PID (spread): "go" brings it
    for i = 1, m do must(send(recv, "m", i), nil, "send") end
  end
  return m
end }`);

// A process that only waits: BENCH_FANIN_LOCAL's senders each name one (and not the receiver), so
// the peer rule puts each beside its anchor, and the anchors' round-robin places them (fanIn).
const FANIN_ANCHOR = luaEntry('fanin_anchor', `
return { main = function() process.listen("stop"):receive() return 0 end }`);

const FANIN_RECEIVER = luaEntry('fanin_receiver', `
return { main = function(s, m, laps)
  local lapgo = process.listen("lap")
  local pids = process.listen("pids"):receive()
  local ch = process.listen("m")
  -- after the senders, the lap mark: a process told "stop" once the untimed laps are received;
  -- fanIn reads each thread's CPU when its EXIT arrives and answers "lap", and only then does the
  -- timed lap begin, so the timed CPU window holds the whole timed lap (see fanIn)
  if #pids ~= s + 1 then error("got " .. #pids .. " pids, expected " .. s .. " senders and the lap mark") end
  local mark = pids[s + 1]
  local me = process.pid()
  local want = s * m
  -- Every lap but the last is untimed (fanIn's laps); a lap's messages are all received before the
  -- next lap's "go", so the laps never mix.
  local t0, count, sum
  for lap = 1, laps or 1 do
    if lap == (laps or 1) then
      must(process.send(mark, "stop", true), nil, "mark")
      lapgo:receive()
    end
    t0 = now_us()
    for i = 1, s do must(process.send(pids[i], "go", me), nil, "go") end
    count, sum = 0, 0
    while count < want do
      sum = sum + ch:receive()
      count = count + 1
    end
  end
  local t1 = now_us()
  time.sleep("20ms")
  local extra = channel.select({ ch:case_receive(), default = true })
  return { t0 = t0, t1 = t1, count = count, sum = sum, extra = not extra.default }
end }`);

// ---- ping-pong -----------------------------------------------------------------------------------

interface PingPlan { label: string; workers: number; pairs: number; peer: boolean }

function pingPlans(ctx: BenchContext): PingPlan[] {
  const plans: PingPlan[] = [{ label: '1 worker, same worker', workers: 1, pairs: 1, peer: false }];
  if (ctx.allWorkers > 1) {
    plans.push({ label: `${ctx.allWorkers} workers, ${ctx.allWorkers} same-worker pairs`, workers: ctx.allWorkers, pairs: ctx.allWorkers, peer: false });
  }
  plans.push({ label: '2 workers, across workers', workers: 1, pairs: 1, peer: true });
  return plans;
}

async function pingPong(ctx: BenchContext, plan: PingPlan, tbl: boolean): Promise<Figure[]> {
  const n = plan.peer ? (ctx.quick ? 10_000 : 100_000) : (ctx.quick ? 20_000 : 200_000);
  const lat = ctx.quick ? 5_000 : 20_000;
  // Untimed round trips before the timed phase. 1,000 (until session 9) measured mostly warm-up on
  // the short (--quick) runs: V8 runs a new worker's Lua module on its baseline compiler (Liftoff)
  // until the hot functions tier up, and the workers' JS step path is still being optimised. On the
  // quiet machine (Node 24) the across-workers pair read 46-62k round trips/s after 1,000 and
  // 138-145k after 20,000 (the latency phase's p50, 7-8 us, was the same in both), and the same
  // pair with `node --no-liftoff` still read 62-68k after 1,000 (so the JS side is most of it
  // there), while the same-worker pair read 333k -> 413-437k with --no-liftoff. BEAM's figures are
  // medians of warm passes and piscina's follow 2,000 warm-up tasks, so ours are measured warm
  // too: 20,000 round trips (same worker ~60 ms, across workers ~0.15-0.4 s). The warm-up's own
  // cost is in the CPU per operation (ops below includes it), and docs/design/scheduler.md says
  // what a cold runtime's first round trips cost.
  const warm = 20_000;
  const rt = await benchRuntime([PING, PONG], { workers: plan.workers, peer: plan.peer });
  return withRuntime(rt, async (): Promise<Figure[]> => {
    const host = plan.peer ? PEER_HOST : MAIN_HOST;
    ctx.note(`${fmtInt(n)} round trips × ${plan.pairs}`);
    const bell0 = bellCounts(rt);
    const { results: res, placement, cpuSeconds } = await runDrivers(rt, 'bench:ping', MAIN_HOST, Array.from({ length: plan.pairs }, () => [n, lat, warm, host, tbl]), ctx);
    const bell1 = bellCounts(rt);
    const ops = (n + lat + warm) * plan.pairs;
    // The labels promise where the peers run: check it ([main workers..., peer workers...]).
    const want = plan.peer ? [1, 1] : Array.from({ length: plan.workers }, () => 2);
    check(placement.join('/') === want.join('/'), `processes per worker ${placement.join('/')}, expected ${want.join('/')} for "${plan.label}"`);
    const samples: number[] = [];
    for (const r of res) {
      check(r.samples?.length === lat, `latency phase returned ${r.samples?.length} samples, expected ${lat}`);
      for (const s of r.samples) samples.push(s / 1000);
    }
    const sorted = sortedNumbers(samples);
    const span = spanSeconds(res as any);
    const total = n * plan.pairs;
    const timerUs = Math.max(...res.map((r) => r.timer_ns)) / 1000;
    return [{
      workload: tbl ? 'ping-pong-table' : 'ping-pong', variant: plan.label, workers: plan.peer ? 2 : plan.workers,
      figure: tbl ? 'ping-pong, 10-field table payload' : 'ping-pong, integer payload', value: total / span, unit: 'round trips/s',
      p50Us: percentile(sorted, 50), p99Us: percentile(sorted, 99),
      work: `${fmtInt(total)} round trips (+${fmtInt(lat * plan.pairs)} timed one by one for p50/p99)`,
      timing: 'Lua clock; latency = time.now() around each round trip',
      details: {
        spanSeconds: span, timerPairOverheadUs: timerUs, latencySamples: sorted.length,
        // CPU from "go" to the last EXIT covers the warm-up, timed and latency phases alike
        cpuUsPerOp: (cpuSeconds * 1e6) / ops,
        // doorbell counters of all threads over the same span (setup included): parks and notifies per round trip
        parksPerOp: (bell1.parks - bell0.parks) / ops, wakesPerOp: (bell1.wakes - bell0.wakes) / ops,
      },
    }];
  });
}

function pingVariants(ctx: BenchContext, tbl: boolean): Variant[] {
  return pingPlans(ctx).map((p) => ({ label: p.label, workers: p.peer ? 2 : p.workers, run: (c) => pingPong(c, p, tbl) }));
}

// ---- ring ----------------------------------------------------------------------------------------

async function ring(ctx: BenchContext, workers: number, tbl: boolean): Promise<Figure[]> {
  const hops = ctx.quick ? 100_000 : 1_000_000;
  // Untimed hops per ring before the timed ones, for the reason ping-pong's warm-up gives (V8 tiers
  // the Lua module and the workers' JS up in a new runtime's first fraction of a second): 20 laps.
  const ringWarm = 20 * RING_SIZE;
  const rt = await benchRuntime([RING_NODE, RING_DRIVER], { workers });
  return withRuntime(rt, async (): Promise<Figure[]> => {
    const per = shares(hops, workers);
    ctx.note(`${fmtInt(hops)} hops over ${workers} ring(s)`);
    const { results: res, placement, cpuSeconds } = await runDrivers(rt, 'bench:ring_driver', MAIN_HOST, per.map((h) => [RING_SIZE, h, MAIN_HOST, tbl, ringWarm]), ctx,
      { processes: RING_SIZE * workers });
    check(placement.reduce((a, b) => a + b, 0) === RING_SIZE * workers, `${placement.join('/')} processes, expected ${RING_SIZE * workers}`);
    // The runtime may place spawns on a less loaded worker of the same host; then a ring spans
    // threads and some hops cross. Say so in the variant rather than hide it.
    const local = placement.every((p) => p === RING_SIZE);
    res.forEach((r, i) => check(r.total === per[i], `ring ${i + 1}: hops counted ${r.total}, expected ${per[i]}`));
    const span = spanSeconds(res as any);
    return [{
      workload: tbl ? 'ring-table' : 'ring',
      variant: (workers === 1 ? '1 worker' : `${workers} workers, ${workers} rings`) + (local ? '' : ` (spread ${placement.join('/')})`), workers,
      figure: tbl ? 'ring of 1,000, 10-field table token' : 'ring of 1,000, integer token', value: hops / span, unit: 'hops/s',
      work: `${fmtInt(hops)} hops${workers > 1 ? ` (${fmtInt(per[0]!)} per ring)` : ''}`,
      timing: `Lua clock in ${workers} driver(s)`, details: { spanSeconds: span, ringSize: RING_SIZE, placement: placement.join('/'), cpuUsPerOp: (cpuSeconds * 1e6) / (hops + ringWarm * per.length),
        // the rings' timed phases against each other (several rings): how far apart they began and ended, in ms
        startSkewMs: (Math.max(...res.map((r) => r.t0)) - Math.min(...res.map((r) => r.t0))) / 1000,
        endSkewMs: (Math.max(...res.map((r) => r.t1)) - Math.min(...res.map((r) => r.t1))) / 1000 },
    }];
  });
}

// ---- fan-in --------------------------------------------------------------------------------------

/**
 * `spread`: the senders are spawned without the receiver's PID (they get it with "go"), so the
 * runtime's round-robin spreads them over the workers and the messages of all but the receiver's
 * worker cross threads; otherwise they are spawned with it and the peer rule
 * (src/runtime/spawn-place.ts) places them (beside the receiver, a large group spread when cores
 * are free). `localPct` (BENCH_FANIN_LOCAL): that share beside the receiver, the rest on the other
 * of 2 workers, whatever the rule says.
 */
async function fanIn(ctx: BenchContext, workers: number, spread = false, localPct?: number): Promise<Figure[]> {
  // --quick: 100 senders × 4,000 (400,000 messages, ~0.2 s timed at 2M/s); at 100 × 1,000 the timed
  // window was ~50 ms, where one lost time slice moved the figure by 15% (docs/design/scheduler.md,
  // session 11: the 2 ÷ 1 worker row read 0.93–1.1 with the same CPU per message on both).
  const senders = ctx.quick ? 100 : 1000;
  const m = ctx.quick ? 4000 : 1000;
  // Three laps, the first two untimed, for the reason ping-pong's warm-up gives (V8 tiers the Lua
  // module and the workers' JS up in a new runtime's first fraction of a second). Two laps (one
  // warm) until session 14: on 2 workers V8's helper threads still compiled in the timed lap, 0.05
  // µs per message of CPU (against 0.01 on 1 worker) that took a core from the receiver's worker;
  // after two warm laps 0.02 (docs/design/scheduler.md, session 14). BENCH_FANIN_LAPS overrides.
  const laps = Number(process.env['BENCH_FANIN_LAPS'] ?? 3);
  check(Number.isInteger(laps) && laps >= 1, `BENCH_FANIN_LAPS must be a whole number ≥ 1, got ${laps}`);
  const local = localPct === undefined ? undefined : Math.round((localPct * senders) / 100);
  const rt = await benchRuntime([FANIN_SENDER, FANIN_RECEIVER, FANIN_ANCHOR], { workers });
  return withRuntime(rt, async (): Promise<Figure[]> => {
    const recv = await spawnWatched(rt, 'bench:fanin_receiver', MAIN_HOST, [senders, m, laps]);
    // rt.spawn with an EXIT callback returns the PID before the process exists: wait for it (its
    // worker's CPU is reported apart from the others').
    const alive = async () => (await rt.stats()).reduce((a, w) => a + w.processes, 0);
    await withTimeout(waitFor(async () => (await alive()) === 1, 'receiver'), ctx.timeoutMs, 'fan-in');
    const recvTid = (await rt.stats()).find((w) => w.processes === 1)!.tid;
    // BENCH_FANIN_LOCAL (2 workers): `localPct`% of the senders (`local`) beside the receiver, the rest on the other
    // worker, whatever the placement rule would do. Each sender names an anchor of its own (a
    // group of one: the peer rule keeps it beside), and round-robin alternates the anchors from
    // the worker after the receiver's: even ones on the other worker, odd ones beside the
    // receiver. The sender gets the receiver's PID with "go", as a spread one does.
    const nAnchors = local === undefined ? 0 : 2 * Math.max(local, senders - local);
    const anchors = await Promise.all(Array.from({ length: nAnchors }, () => spawnWatched(rt, 'bench:fanin_anchor', MAIN_HOST, [])));
    const anchorOf = (i: number) => anchors[i < local! ? 2 * i + 1 : 2 * (i - local!)]!.pid;
    ctx.note(`spawning ${senders} senders`);
    // the free-cores measure the peer rule reads (spawn-place.ts: a group spreads only while two
    // cores are free): before the senders' spawns, and after them
    const freeBefore = rt.doorbell().freeCores;
    const sent = await Promise.all(Array.from({ length: senders }, (_, i) => spawnWatched(rt, 'bench:fanin_sender', MAIN_HOST,
      local !== undefined ? [false, m, laps, anchorOf(i)] : [spread ? false : recv.pid, m, laps])));
    const pids = sent.map((s) => s.pid);
    const senderExits = Promise.all(sent.map((s, i) => exitValue<number>(s, `sender ${i + 1}`)));
    senderExits.catch(() => {}); // awaited below
    await withTimeout(Promise.race([waitFor(async () => (await alive()) === senders + 1 + nAnchors, 'senders'), senderExits]), ctx.timeoutMs, 'fan-in');
    const freeAfter = rt.doorbell().freeCores;
    const stats = await rt.stats();
    const placement = stats.map((w) => w.processes);
    if (spread) check(placement.every((p) => p > 0), `senders not spread over the workers: ${placement.join('/')}`);
    if (local !== undefined) {
      const beside = stats.find((w) => w.tid === recvTid)!.processes - 1 - nAnchors / 2;
      check(beside === local && workers === 2, `BENCH_FANIN_LOCAL=${local}: ${beside} senders beside the receiver (${placement.join('/')})`);
    }
    // The lap mark. The receiver tells it "stop" once the untimed laps are received; when its EXIT
    // arrives every thread's CPU is read, and only then is the receiver told "lap", the start of
    // the timed lap: the timed CPU window (from that read to the end) holds the whole timed lap.
    // Until session 14 the receiver told the mark "stop" as it started the timed lap, without
    // waiting: the EXIT reached the main thread only at the end of the kernel step that ran the
    // mark (a step ends between resumes, and a receiver with a backlog runs one long resume),
    // 36–43 ms into a lap of ~140 ms (1 worker, quick counts), so the window missed a quarter of
    // the lap and the receiver's worker read 0.26–0.29 µs per message where its CPU in the lap
    // was 0.33 (docs/design/scheduler.md, session 14).
    const mark = await spawnWatched(rt, 'bench:fanin_anchor', MAIN_HOST, []);
    await withTimeout(waitFor(async () => (await alive()) === senders + 2 + nAnchors, 'lap mark'), ctx.timeoutMs, 'fan-in');
    let cpuMid: NodeJS.CpuUsage | undefined, thMid: Map<string, number> | undefined, waitMid: Map<string, number> | undefined;
    let parksMid = 0;
    const marked = mark.exit.then(() => { cpuMid = process.cpuUsage(); thMid = threadCpu(); waitMid = threadCpu(1); parksMid = rt.doorbell().parks[recvTid]!; rt.send(recv.pid, 'lap', true); });
    ctx.note(`${fmtInt(senders * m)} messages`);
    const cpu0 = process.cpuUsage();
    const th0 = threadCpu();
    const bell0 = bellCounts(rt);
    rt.send(recv.pid, 'pids', [...pids, mark.pid]);
    // A sender that fails would leave the receiver waiting: fail at once instead.
    const recvExit = exitValue(recv, 'fan-in receiver');
    const r = await withTimeout(Promise.race([recvExit, senderExits.then(() => recvExit)]), ctx.timeoutMs, 'fan-in');
    const returned = await withTimeout(senderExits, ctx.timeoutMs, 'fan-in senders');
    const cpuSeconds = cpuSecondsSince(cpu0);
    const cpu1 = process.cpuUsage();
    const th1 = threadCpu();
    const wait1 = threadCpu(1);
    const bell1 = bellCounts(rt);
    const parks1 = rt.doorbell().parks[recvTid]!;
    await withTimeout(marked, ctx.timeoutMs, 'fan-in lap mark');
    for (const a of anchors) rt.send(a.pid, 'stop', true);
    await withTimeout(Promise.all(anchors.map((a, i) => exitValue(a, `anchor ${i + 1}`))), ctx.timeoutMs, 'fan-in anchors');
    check(returned.every((v) => v === m), 'a sender did not return its message count');
    const want = senders * m;
    check(r.count === want, `receiver counted ${r.count} messages, expected ${want}`);
    check(r.sum === (senders * m * (m + 1)) / 2, `receiver sum ${r.sum}, expected ${(senders * m * (m + 1)) / 2}`);
    check(r.extra === false, 'receiver got more messages than were sent');
    const span = (r.t1 - r.t0) / 1e6;
    return [{
      workload: 'fan-in', variant: workers === 1 ? '1 worker' : local !== undefined ? `${workers} workers, ${local} of ${senders} senders beside the receiver`
        : spread ? `${workers} workers, senders spread` : `${workers} workers`, workers,
      figure: 'fan-in to one process', value: want / span, unit: 'messages/s',
      work: `${fmtInt(senders)} senders × ${fmtInt(m)} messages (after ${laps - 1} untimed lap(s) of as many)`, timing: 'Lua clock in the receiver (go sent → last counted)',
      details: { spanSeconds: span, placement: placement.join('/'), freeCoresAtSpawns: `${freeBefore}/${freeAfter}`, cpuUsPerOp: (cpuSeconds * 1e6) / (want * laps),
        // both laps, per message: CPU µs of each runtime worker (Node 24's thread names, in tid
        // order), of V8's helper threads and of the main thread; doorbell parks and notifies
        threadsUsPerOp: threadUsPerOp(th0, th1, want * laps),
        ...workerSplit(th0, th1, want * laps, recvTid),
        // the timed lap alone (from the lap mark's exit): the whole process, then every thread by name
        timedCpuUsPerOp: (cpu1.user + cpu1.system - cpuMid!.user - cpuMid!.system) / want,
        timedThreadsUsPerOp: threadsByName(thMid!, th1, want),
        ...workerSplit(thMid!, th1, want, recvTid, ', timed lap'),
        'threadCpuUsPerOp:whole process, timed lap': (cpu1.user + cpu1.system - cpuMid!.user - cpuMid!.system) / want,
        // the receiver's worker's CPU in the timed window ÷ the lap's span: ~1 when it never waits
        // on its own account (the window is the lap plus the exits after it; a tenant's preemption
        // lowers it too); undefined where thread names do not tell the workers apart (Node 20)
        timedReceiverBusy: (threadCpuDelta(thMid!, th1, `${MAIN_HOST}#${recvTid}`) ?? NaN) / span,
        // and the time it was runnable but had no CPU (other tenants' work) ÷ the span: busy +
        // waiting ≈ 1 means it was never idle in the lap, so whatever the rest is, it is not a stall
        timedReceiverParks: parks1 - parksMid,
        timedReceiverWaiting: (threadCpuDelta(waitMid!, wait1, `${MAIN_HOST}#${recvTid}`) ?? NaN) / span,
        parksPerOp: (bell1.parks - bell0.parks) / (want * laps), wakesPerOp: (bell1.wakes - bell0.wakes) / (want * laps) },
    }];
  });
}

/** CPU µs per op between two threadCpu() reads: each runtime worker ('/'), then V8's helpers and the main thread. */
function threadUsPerOp(a: Map<string, number>, b: Map<string, number>, ops: number): string {
  const d = (n: string) => ((b.get(n) ?? 0) - (a.get(n) ?? 0)) * 1e6 / ops;
  const workers = [...b.keys()].filter((n) => n.includes('#')).sort();
  return `${workers.map((n) => d(n).toFixed(3)).join('/')} v8 ${d('V8Worker').toFixed(3)} main ${d('MainThread').toFixed(3)}`;
}

/** CPU µs per op between two threadCpu() reads, every thread name (runtime workers as "worker <tid>"). */
function threadsByName(a: Map<string, number>, b: Map<string, number>, ops: number): string {
  const d = (n: string) => ((b.get(n) ?? 0) - (a.get(n) ?? 0)) * 1e6 / ops;
  return [...b.keys()].sort().map((n) => `${n} ${d(n).toFixed(3)}`).filter((s) => !s.endsWith(' 0.000')).join(', ');
}

/** CPU µs per op of the receiver's worker and of the others, `which` naming the window (bench/ab.ts reads these as rows of their own). */
function workerSplit(a: Map<string, number>, b: Map<string, number>, ops: number, recvTid: number, which = ''): Record<string, number> {
  let mine = 0, others = 0;
  for (const n of b.keys()) {
    if (!n.startsWith(`${MAIN_HOST}#`)) continue; // a runtime worker (threadcpu.ts: Node 24's names)
    const us = ((b.get(n) ?? 0) - (a.get(n) ?? 0)) * 1e6 / ops;
    if (Number(n.slice(MAIN_HOST.length + 1)) === recvTid) mine += us; else others += us;
  }
  return { [`threadCpuUsPerOp:receiver's worker${which}`]: mine, [`threadCpuUsPerOp:other workers${which}`]: others };
}

/** BENCH_FANIN_LOCAL=k[,k...]: fan-in's variants are 2 workers with k% of the senders beside the receiver (measurement). */
function fanInLocal(): number[] | undefined {
  const v = process.env['BENCH_FANIN_LOCAL'];
  return v ? v.split(',').map(Number) : undefined;
}

export const pingPongWorkload: Workload = {
  name: 'ping-pong', title: 'ping-pong between two processes', variants: (ctx) => pingVariants(ctx, false),
};
export const ringWorkload: Workload = {
  name: 'ring', title: 'ring of 1,000 processes',
  variants: (ctx) => workerCounts(ctx).map((w) => ({ label: workersLabel(w), workers: w, run: (c) => ring(c, w, false) })),
};
export const fanInWorkload: Workload = {
  name: 'fan-in', title: 'fan-in to one process',
  // The spread variant comes last: bench:compare reads the first figure of a worker count.
  variants: (ctx) => fanInLocal()?.map((k) => ({ label: `2 workers, ${k}% beside`, workers: 2, run: (c: BenchContext) => fanIn(c, 2, false, k) })) ?? [
    ...workerCounts(ctx).map((w) => ({ label: workersLabel(w), workers: w, run: (c: BenchContext) => fanIn(c, w) })),
    ...(ctx.allWorkers > 1 ? [{ label: `${workersLabel(ctx.allWorkers)}, senders spread`, workers: ctx.allWorkers,
      run: (c: BenchContext) => fanIn(c, ctx.allWorkers, true) }] : []),
  ],
};
export const pingPongTableWorkload: Workload = {
  name: 'ping-pong-table', title: 'ping-pong, 10-field table payload', variants: (ctx) => pingVariants(ctx, true),
};
export const ringTableWorkload: Workload = {
  name: 'ring-table', title: 'ring of 1,000, 10-field table token',
  variants: (ctx) => workerCounts(ctx).map((w) => ({ label: workersLabel(w), workers: w, run: (c) => ring(c, w, true) })),
};
