// The publish-and-take-back cycle alone (docs/design/scheduler.md, "Session 14, second wave:
// publishing a burst"): on a 2-worker host, worker 1 runs one process that computes (so it is
// light, has no Lua-side list, and never steals: it always has a runnable thread), and a holder on
// worker 0 spawns N children that block in receive, then a barrier child. The holder's list
// reaches the backlog mark beside a lighter sibling with no list, so it publishes (every mark,
// while the sibling stays lighter), and it takes back what it published, since nobody else does.
// With --idle the sibling is not started: it stays parked, wakes at the publish and may steal.
//
//   node dist/bench/publish-probe.js [--n 2000] [--reps 8] [--idle]
//
// Prints per repetition: the spawner's thread CPU (ms and µs per spawn), the sibling's, and the
// run-queue counters of each worker over the phase (p pushed, o own, g global, s stolen, x shared,
// k kept in the list, b published and taken back from the record kept: no copy, no decode).
import { parseArgs } from 'node:util';
import { MAIN_HOST, benchRuntime, luaEntry, spawnWatched, exitValue, waitFor, withRuntime, check } from './harness.js';
import { HOLD_CHILD } from './spawn.js';
import { threadStats, threadStatDelta } from './threadcpu.js';

const { values: opt } = parseArgs({ options: {
  n: { type: 'string', default: '2000' }, reps: { type: 'string', default: '8' }, idle: { type: 'boolean', default: false },
} });
// 2,000: one publish at the mark (1,024, the deque's capacity), the rest kept in the list; past
// 2,048 the deque is full and the global queue, which the sibling may take from, overflows
const N = Number(opt.n);
const REPS = Number(opt.reps);
const IDLE = opt.idle;

const PUB_HOLDER = luaEntry('pub_holder', `
local function main(n, host)
  local go, release, barrier = process.listen("go"), process.listen("release"), process.listen("barrier")
  must(process.registry.register("pub.holder"))
  -- the entry instantiates here first (a spawn of an entry new to the worker is not queued)
  must(process.send(must(process.spawn("bench:hold_child", host), nil, "spawn"), "stop"))
  while true do
    local m = go:receive()
    if m == "done" then return true end
    local pids = {}
    for i = 1, n do pids[i] = must(process.spawn("bench:hold_child", host), nil, "spawn") end
    must(process.spawn("bench:pub_barrier", host, process.pid()), nil, "spawn barrier")
    barrier:receive()
    release:receive()
    for i = 1, n do must(process.send(pids[i], "stop")) end
  end
end
return { main = main }`);

const PUB_BARRIER = luaEntry('pub_barrier', `
return { main = function(to) must(process.send(to, "barrier", true)); return true end }`);

// computes, and stays runnable: a message to itself every 100,000 iterations, received (the
// receive's fast path yields to the back of the run queue past 1M instructions); "stop" ends it
const PUB_BUSY = luaEntry('pub_busy', `
return { main = function(anchor)
  local inbox, me, x = process.inbox(), process.pid(), 0
  while true do
    for i = 1, 100000 do x = x + i end
    must(process.send(me, "tick", 1))
    if inbox:receive():topic() == "stop" then return x end
  end
end }`);

const ms = (s: number) => (s * 1e3).toFixed(1);

async function main(): Promise<void> {
  const rt = await benchRuntime([HOLD_CHILD, PUB_HOLDER, PUB_BARRIER, PUB_BUSY], { workers: 2 });
  await withRuntime(rt, async () => {
    const alive = async () => (await rt.stats({ counts: true })).map((s) => s.processes);
    const holder = await spawnWatched(rt, 'bench:pub_holder', MAIN_HOST, [N, MAIN_HOST]);
    await waitFor(() => rt.lookup('pub.holder') !== undefined, 'holder');
    await waitFor(async () => (await alive()).reduce((a, b) => a + b, 0) === 1, 'first child to exit');
    check((await alive())[0] === 1, 'the holder is not on worker 0');
    // an anchor on worker 1 (round-robin): the busy process names it, so the peer rule puts it there
    const anchor = await spawnWatched(rt, 'bench:hold_child', MAIN_HOST, []);
    await waitFor(async () => (await alive())[1] === 1, 'anchor on worker 1');
    const names = [...threadStats().keys()].filter((k) => k.startsWith(`${MAIN_HOST}#`.slice(0, 15))).sort();
    for (let rep = 0; rep < REPS; rep++) {
      const busy = IDLE ? undefined : await spawnWatched(rt, 'bench:pub_busy', MAIN_HOST, [anchor.pid]);
      if (busy) await waitFor(async () => (await alive())[1] === 2, 'the busy process on worker 1 (the peer rule)', 10_000);
      const before = await rt.stats({ counts: true });
      const th0 = threadStats();
      rt.send(holder.pid, 'go', 'go');
      await waitFor(async () => { const a = await alive(); return a.reduce((x, y) => x + y, 0) === N + 2 + (busy ? 1 : 0); }, 'all started');
      const th1 = threadStats();
      const after = await rt.stats({ counts: true });
      const w = names.map((k) => threadStatDelta(th0, th1, k)!);
      rt.send(holder.pid, 'release', true);
      await waitFor(async () => (await alive()).reduce((a, b) => a + b, 0) === 2 + (busy ? 1 : 0), 'children to exit');
      if (busy) { rt.send(busy.pid, 'stop', true); await exitValue(busy, 'busy'); }
      process.stdout.write(`rep ${rep}: spawner cpu ${ms(w[0]!.cpu)} ms (${(w[0]!.cpu * 1e6 / N).toFixed(2)} µs/spawn), sibling ${ms(w[1]!.cpu)} ms | queues ${after.map((s, i) => {
        const q = s.queue as unknown as Record<string, number>, q0 = before[i]!.queue as unknown as Record<string, number>;
        return (['pushed', 'own', 'global', 'stolen', 'shared', 'kept', 'back'] as const).map((k) => `${k === 'shared' ? 'x' : k[0]}${(q[k] ?? 0) - (q0[k] ?? 0)}`).join(',');
      }).join(' / ')}\n`);
    }
    rt.send(holder.pid, 'go', 'done');
    rt.send(anchor.pid, 'stop', true);
    await exitValue(holder, 'holder');
  });
  process.exit(0);
}

await main();
