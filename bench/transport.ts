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
//                    transport at all: the in-VM baseline) or on a second host (another thread).
//                    Timed in Lua: the sender's clock before its first send → the counter's clock
//                    after its last message.
//
// Every counter checks the count and the sum of what it received.
import {
  type BenchContext, type Figure, type Workload, type Variant, MAIN_HOST, PEER_HOST, benchRuntime, luaEntry,
  withRuntime, spawnWatched, exitValue, check, cpuSecondsSince, fmtInt, withTimeout, waitFor, shares, bellCounts,
} from './harness.js';
import { threadCpu, threadCpuDelta } from './threadcpu.js';

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

const SENDER = luaEntry('sender', `
return { main = function(to, n)
  process.listen("go"):receive()
  local send = process.send
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

async function luaToLua(ctx: BenchContext, across: boolean): Promise<Figure[]> {
  const total = ctx.quick ? 200_000 : 2_000_000;
  const rt = await benchRuntime([COUNTER, SENDER], { workers: 1, peer: across });
  return withRuntime(rt, async (): Promise<Figure[]> => {
    const counter = await spawnWatched(rt, 'bench:counter', across ? PEER_HOST : MAIN_HOST, [total]);
    const sender = await spawnWatched(rt, 'bench:sender', MAIN_HOST, [counter.pid, total]);
    ctx.note(`${fmtInt(total)} messages`);
    const bell0 = bellCounts(rt);
    const cpu0 = process.cpuUsage();
    const th0 = threadCpu();
    rt.send(sender.pid, 'go');
    const [s, c] = await withTimeout(Promise.all([exitValue(sender, 'sender'), exitValue(counter, 'counter')]), ctx.timeoutMs, 'transport');
    const th1 = threadCpu();
    const cpuSeconds = cpuSecondsSince(cpu0);
    const bell1 = bellCounts(rt);
    // CPU per message of each side's worker thread (bench/threadcpu.ts; Linux, Node 24's thread
    // names): the sender's and the receiver's, or the one worker's when both are on it
    const perMsg = (sec: number | undefined) => sec === undefined ? undefined : sec * 1e6 / total;
    const threadCpuUsPerOp: Record<string, number> = {};
    const sendSide = perMsg(threadCpuDelta(th0, th1, `${MAIN_HOST}#`));
    const recvSide = across ? perMsg(threadCpuDelta(th0, th1, `${PEER_HOST}#`)) : undefined;
    if (sendSide !== undefined) threadCpuUsPerOp[`threadCpuUsPerOp:${across ? 'sender worker' : 'the worker'}`] = sendSide;
    if (recvSide !== undefined) threadCpuUsPerOp['threadCpuUsPerOp:receiver worker'] = recvSide;
    check(c.count === total && c.sum === (total * (total + 1)) / 2, `counter: count ${c.count} sum ${c.sum}, expected ${total} and ${(total * (total + 1)) / 2}`);
    const seconds = (c.t1 - s.t0) / 1e6;
    return [{
      workload: 'transport', variant: across ? 'Lua → Lua, across workers' : 'Lua → Lua, same worker (no transport)',
      workers: across ? 2 : 1,
      figure: across ? 'process.send to another thread → counter' : 'process.send in-VM → counter (baseline)',
      value: total / seconds, unit: 'messages/s', work: `${fmtInt(total)} integer messages, one sender`,
      timing: 'Lua clocks: sender before first send → counter after last message',
      details: { seconds, senderSeconds: (s.t1 - s.t0) / 1e6, cpuUsPerOp: cpuSeconds * 1e6 / total, ...threadCpuUsPerOp,
        // doorbell counters of all threads, "go" to both EXITs: parks and notifies per message
        parksPerMessage: (bell1.parks - bell0.parks) / total, wakesPerMessage: (bell1.wakes - bell0.wakes) / total },
    }];
  });
}

export const transportWorkload: Workload = {
  name: 'transport', title: 'raw transport (counter only)',
  variants: (ctx) => {
    const v: Variant[] = [{ label: 'JS → Lua, 1 worker', workers: 1, run: (c) => jsToLua(c, 1) }];
    if (ctx.allWorkers > 1) v.push({ label: `JS → Lua, ${ctx.allWorkers} workers`, workers: ctx.allWorkers, run: (c) => jsToLua(c, ctx.allWorkers) });
    v.push({ label: 'Lua → Lua, same worker', workers: 1, run: (c) => luaToLua(c, false) });
    v.push({ label: 'Lua → Lua, across workers', workers: 2, run: (c) => luaToLua(c, true) });
    return v;
  },
};
