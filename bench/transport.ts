// Workload 8: the cross-thread transport, with no Lua work beyond a counter at the receiving end.
//
// The runtime's threads talk through one MessageChannel per pair of threads; frames are
// MessagePack, batched per scheduler step (worker) or per microtask (main thread) and
// destination. There is no Lua-free path through the public API, so what is measured here is the
// transport plus the least Lua the runtime allows: a counter process that takes each message off
// its `listen` channel and adds it up. Variants, labelled in the table:
//
//   JS → Lua         rt.send from the main thread, in bursts of BURST messages (one postMessage per
//                    worker per burst), to one counter per worker. Timed in JS: first send → last
//                    counter's EXIT.
//   Lua → Lua        one sender process, tiny integer payloads, to a counter on the same worker (no
//                    transport at all: the in-VM baseline) or on a second host (another thread),
//                    after an untimed warm-up of the same messages. Timed in Lua: the sender's clock
//                    before its first timed send → the counter's clock after its last message. The
//                    two run in alternating passes; a third figure is the across ÷ same ratio.
//
// Every counter checks the count and the sum of what it received.
import {
  type BenchContext, type Figure, type Workload, type Variant, MAIN_HOST, PEER_HOST, benchRuntime, luaEntry,
  withRuntime, spawnWatched, exitValue, check, cpuSecondsSince, fmtInt, withTimeout, waitFor, shares, bellCounts,
} from './harness.js';
import { threadCpu, threadCpuDelta } from './threadcpu.js';
import { median } from '../native-bench/common.js';

/** Messages rt.send queues before yielding to the event loop (the main thread flushes per microtask). */
const BURST = 1000;

const COUNTER = luaEntry('counter', `
return { main = function(n)
  local ch = process.listen("c")
  local count, sum, t_first = 0, 0, nil
  while count < n do
    local v = ch:receive()
    if count == 0 then t_first = now_us() end
    count = count + 1
    sum = sum + v
  end
  return { count = count, sum = sum, t_first = t_first, t1 = now_us() }
end }`);

/**
 * Lua → Lua's counter: `warm` untimed messages (checked), then it registers "bench.warmed" (JS
 * polls for it: every warm message has been received), then the n timed ones.
 */
const LCOUNTER = luaEntry('lcounter', `
return { main = function(n, warm)
  local ch = process.listen("c")
  local wsum = 0
  for _ = 1, warm do wsum = wsum + ch:receive() end
  if wsum ~= warm * (warm + 1) // 2 then error("warm-up: sum " .. wsum) end
  must(process.registry.register("bench.warmed"), nil, "register")
  local count, sum = 0, 0
  while count < n do
    sum = sum + ch:receive()
    count = count + 1
  end
  return { count = count, sum = sum, t1 = now_us() }
end }`);

/** Lua → Lua's sender: "go", `warm` untimed messages, "go" again (JS: the counter has them all), the n timed ones. */
const SENDER = luaEntry('sender', `
return { main = function(to, n, warm)
  local go = process.listen("go")
  local send = process.send
  go:receive()
  for i = 1, warm do must(send(to, "c", i), nil, "send") end
  go:receive()
  local t0 = now_us()
  for i = 1, n do must(send(to, "c", i), nil, "send") end
  return { t0 = t0, t1 = now_us() }
end }`);

const tick = () => new Promise<void>((r) => setImmediate(r));

async function jsToLua(ctx: BenchContext, workers: number): Promise<Figure[]> {
  const total = ctx.quick ? 200_000 : 2_000_000;
  const rt = await benchRuntime([COUNTER], { workers });
  return withRuntime(rt, async (): Promise<Figure[]> => {
    const per = shares(total, workers);
    const counters = [];
    for (let i = 0; i < workers; i++) counters.push(await spawnWatched(rt, 'bench:counter', MAIN_HOST, [per[i]]));
    const done = Promise.all(counters.map((c, i) => exitValue(c, `counter ${i + 1}`).then((v) => ({ v, at: performance.now() }))));
    done.catch(() => {});
    // rt.spawn with an EXIT callback returns the PID before the process exists: wait for them.
    const placement = async () => (await rt.stats()).map((s) => s.processes);
    await withTimeout(Promise.race([waitFor(async () => (await placement()).every((p) => p === 1), 'counters'), done]), ctx.timeoutMs, 'counters');
    ctx.note(`${fmtInt(total)} messages`);
    const t0 = performance.now();
    const next = per.map(() => 0);
    let sent = 0;
    while (sent < total) {
      for (let b = 0; b < BURST && sent < total; b++) {
        const w = sent % workers;
        if (next[w]! < per[w]!) { next[w]!++; rt.send(counters[w]!.pid, 'c', next[w]!); }
        sent++;
      }
      await tick();
    }
    const res = await withTimeout(done, ctx.timeoutMs, 'counters');
    const seconds = (Math.max(...res.map((r) => r.at)) - t0) / 1000;
    res.forEach(({ v }, i) => {
      const n = per[i]!;
      check(v.count === n && v.sum === (n * (n + 1)) / 2, `counter ${i + 1}: count ${v.count} sum ${v.sum}, expected ${n} and ${(n * (n + 1)) / 2}`);
    });
    return [{
      workload: 'transport', variant: workers === 1 ? 'JS → Lua, 1 worker' : `JS → Lua, ${workers} workers`, workers,
      figure: 'rt.send (main thread) → counter process', value: total / seconds, unit: 'messages/s',
      work: `${fmtInt(total)} integer messages in bursts of ${fmtInt(BURST)}`,
      timing: 'JS wall clock: first rt.send → last counter EXIT (includes main-thread msgpack encode)',
      details: { seconds },
    }];
  });
}

interface LuaPass {
  perSecond: number; seconds: number; senderSeconds: number; cpuUsPerOp: number;
  sendSide?: number; recvSide?: number; parks: number; wakes: number;
}

/**
 * One pass of Lua → Lua on a fresh runtime: `warm` untimed messages (V8 tiers the Lua module and the
 * workers' JS up in a new runtime's first fraction of a second; bench/messaging.ts's ping-pong has
 * the measurements), then `total` timed ones. CPU and the doorbell counters cover the timed part
 * (from the second "go" to both EXITs).
 */
async function luaPass(ctx: BenchContext, across: boolean, total: number, warm: number): Promise<LuaPass> {
  const rt = await benchRuntime([LCOUNTER, SENDER], { workers: 1, peer: across });
  return withRuntime(rt, async (): Promise<LuaPass> => {
    const counter = await spawnWatched(rt, 'bench:lcounter', across ? PEER_HOST : MAIN_HOST, [total, warm]);
    const sender = await spawnWatched(rt, 'bench:sender', MAIN_HOST, [counter.pid, total, warm]);
    const exits = Promise.all([exitValue(sender, 'sender'), exitValue(counter, 'counter')]);
    exits.catch(() => {}); // awaited below
    rt.send(sender.pid, 'go');
    await withTimeout(Promise.race([waitFor(() => rt.lookup('bench.warmed') !== undefined, 'warm-up'),
      exits.then(() => { throw new Error('exited during the warm-up'); })]), ctx.timeoutMs, 'transport warm-up');
    const bell0 = bellCounts(rt);
    const cpu0 = process.cpuUsage();
    const th0 = threadCpu();
    rt.send(sender.pid, 'go');
    const [s, c] = await withTimeout(exits, ctx.timeoutMs, 'transport');
    const th1 = threadCpu();
    const cpuSeconds = cpuSecondsSince(cpu0);
    const bell1 = bellCounts(rt);
    check(c.count === total && c.sum === (total * (total + 1)) / 2, `counter: count ${c.count} sum ${c.sum}, expected ${total} and ${(total * (total + 1)) / 2}`);
    // CPU per message of each side's worker thread (bench/threadcpu.ts; Linux, Node 24's thread
    // names): the sender's and the receiver's, or the one worker's when both are on it
    const perMsg = (sec: number | undefined) => sec === undefined ? undefined : sec * 1e6 / total;
    const seconds = (c.t1 - s.t0) / 1e6;
    return {
      perSecond: total / seconds, seconds, senderSeconds: (s.t1 - s.t0) / 1e6, cpuUsPerOp: cpuSeconds * 1e6 / total,
      sendSide: perMsg(threadCpuDelta(th0, th1, `${MAIN_HOST}#`)), recvSide: across ? perMsg(threadCpuDelta(th0, th1, `${PEER_HOST}#`)) : undefined,
      parks: (bell1.parks - bell0.parks) / total, wakes: (bell1.wakes - bell0.wakes) / total,
    };
  });
}

/**
 * Lua → Lua on one worker and across two, in alternating passes (fresh runtime each, the first of
 * each pair alternating), so the two figures and their ratio (issue 15: across ≥ 0.8× same worker)
 * come from the same rounds measured the same way; reported: each side's median pass and the median
 * of the per-round across ÷ same ratios.
 */
async function luaToLua(ctx: BenchContext): Promise<Figure[]> {
  const total = ctx.quick ? 200_000 : 2_000_000;
  const warm = ctx.quick ? 100_000 : 200_000;
  const rounds = 3;
  const runs: Record<'same' | 'across', LuaPass[]> = { same: [], across: [] };
  ctx.note(`${fmtInt(total)} messages after ${fmtInt(warm)}, ${rounds} rounds`);
  for (let r = 0; r < rounds; r++) {
    const order: Array<'same' | 'across'> = r % 2 === 0 ? ['same', 'across'] : ['across', 'same'];
    for (const k of order) runs[k].push(await luaPass(ctx, k === 'across', total, warm));
  }
  const r3 = (xs: number[]) => xs.map((x) => Math.round(x * 1000) / 1000).join(', ');
  const med = (xs: Array<number | undefined>) => xs.some((x) => x === undefined) ? undefined : median(xs as number[]);
  const work = `${fmtInt(total)} integer messages, one sender, after ${fmtInt(warm)} untimed; median of ${rounds} passes`;
  const fig = (k: 'same' | 'across'): Figure => {
    const ps = runs[k];
    const across = k === 'across';
    // the median pass's figures (by throughput), so the details describe one run
    const mid = [...ps].sort((a, b) => a.perSecond - b.perSecond)[ps.length >> 1]!;
    const threadCpuUsPerOp: Record<string, number> = {};
    const send = med(ps.map((p) => p.sendSide));
    const recv = med(ps.map((p) => p.recvSide));
    if (send !== undefined) threadCpuUsPerOp[`threadCpuUsPerOp:${across ? 'sender worker' : 'the worker'}`] = send;
    if (across && recv !== undefined) threadCpuUsPerOp['threadCpuUsPerOp:receiver worker'] = recv;
    return {
      workload: 'transport', variant: across ? 'Lua → Lua, across workers' : 'Lua → Lua, same worker (no transport)',
      workers: across ? 2 : 1,
      figure: across ? 'process.send to another thread → counter' : 'process.send in-VM → counter (baseline)',
      value: median(ps.map((p) => p.perSecond)), unit: 'messages/s', work,
      timing: 'Lua clocks: sender before first timed send → counter after last message',
      details: { seconds: mid.seconds, senderSeconds: mid.senderSeconds, runsPerSecond: r3(ps.map((p) => p.perSecond)),
        cpuUsPerOp: median(ps.map((p) => p.cpuUsPerOp)), ...threadCpuUsPerOp,
        // doorbell counters of all threads over the timed part: parks and notifies per message
        parksPerMessage: median(ps.map((p) => p.parks)), wakesPerMessage: median(ps.map((p) => p.wakes)) },
    };
  };
  const ratios = runs.same.map((o, i) => runs.across[i]!.perSecond / o.perSecond);
  return [fig('same'), fig('across'), {
    workload: 'transport', variant: 'Lua → Lua, across ÷ same worker', workers: 2,
    figure: 'across workers ÷ same worker (target ≥ 0.8)', value: median(ratios), unit: '×', work,
    timing: 'median of the per-round ratios', details: { perRound: r3(ratios), min: Math.min(...ratios), max: Math.max(...ratios) },
  }];
}

export const transportWorkload: Workload = {
  name: 'transport', title: 'raw transport (counter only)',
  variants: (ctx) => {
    const v: Variant[] = [{ label: 'JS → Lua, 1 worker', workers: 1, run: (c) => jsToLua(c, 1) }];
    if (ctx.allWorkers > 1) v.push({ label: `JS → Lua, ${ctx.allWorkers} workers`, workers: ctx.allWorkers, run: (c) => jsToLua(c, ctx.allWorkers) });
    v.push({ label: 'Lua → Lua, same worker and across workers', workers: 2, run: luaToLua });
    return v;
  },
};
