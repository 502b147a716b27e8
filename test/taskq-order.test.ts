// The Lua-side list of queued spawns (src/lua/kernel/taskq.lua) end to end, seeded: a coordinator
// on a 2-worker host whose backlog mark is 8 (local_queue_size 8) spawns k monitored children and
// sends each n numbered messages before any of them runs, so its list reaches the mark again and
// again and is published (its deque, then the global queue), where the idle worker may take them,
// while the last few stay Lua records. The coordinator's worker also holds BALLAST idle processes,
// so the sibling stays lighter by more than half the mark however many children it takes, and the
// offer rule (publish only while a sibling is that much lighter) publishes at every mark. Every child must see its messages 1..n in order, every EXIT must arrive once,
// and every queued spawn must be counted once where it was queued and once where it started.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRuntime } from '../src/index.js';
import { ORDERED_CHILD } from './helpers/ordered-child.js';

const CHILD = ORDERED_CHILD;

/** Blocks until it gets a message: ballast that makes its worker heavy. */
const IDLE = 'return { main = function() process.inbox():receive() end }';
const BALLAST = 100;

const COORD = `return { main = function(k, n) -- a third argument only places it (beside that PID)
  local ev = process.events()
  process.spawn("q:child", "q:p") -- the first spawn of an entry starts at once (it validates it)
  local kids, idx = {}, {}
  for i = 1, k do kids[i] = process.spawn_monitored("q:child", "q:p"); idx[kids[i]] = i end
  for s = 1, n do for i = 1, k do process.send(kids[i], "seq", s) end end
  for i = 1, k do process.send(kids[i], "go") end
  local got, seen = {}, 0
  while seen < k do
    local e = ev:receive()
    local i = idx[e.from]
    if i then
      if e.result.error then error("child " .. i .. ": " .. tostring(e.result.error)) end
      if got[i] then error("two EXITs from child " .. i) end
      got[i] = e.result.value
      seen = seen + 1
    end
  end
  for i = 1, k do if got[i] ~= n then error("child " .. i .. " handled " .. tostring(got[i])) end end
  return seen
end }`;

/** A small deterministic generator (LCG), so a failing seed can be run again. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  const next = () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s / 2 ** 32; };
  next(); next(); // the first outputs of nearby seeds are close
  return () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s / 2 ** 32; };
}

for (const seed of [1, 2, 3, 4]) {
  test(`seed ${seed}: queued spawns past the mark keep per-sender order, each EXIT once, each spawn counted once`, async () => {
    const rnd = lcg(seed);
    const k = 20 + Math.floor(rnd() * 40);
    const n = 1 + Math.floor(rnd() * 6);
    const rt = await createRuntime({ entries: [
      { id: 'q:p', kind: 'process.host', host: { workers: 2, local_queue_size: 8 } },
      { id: 'q:child', kind: 'process.lua', method: 'main', source: CHILD },
      { id: 'q:coord', kind: 'process.lua', method: 'main', source: COORD },
      { id: 'q:idle', kind: 'process.lua', method: 'main', source: IDLE },
    ] });
    try {
      // The ballast and the coordinator beside an anchor (spawns from JS that name a PID go to its
      // worker: src/runtime/spawn-place.ts); none of them is queued. Each names the one before it:
      // a chain of groups of one, which the peer rule never spreads (a group of one PID does
      // past GROUP_BESIDE members).
      const anchor = await rt.spawn('q:idle', 'q:p', []);
      const ballast = [anchor];
      for (let i = 1; i < BALLAST; i++) ballast.push(await rt.spawn('q:idle', 'q:p', [ballast[i - 1]!]));
      const heavy = rt.where(anchor).runs;
      assert.ok(ballast.every((p) => rt.where(p).runs === heavy), 'the ballast on one worker');
      let done!: (v: unknown) => void;
      const exit = new Promise<unknown>((r) => { done = r; });
      await rt.spawn('q:coord', 'q:p', [k, n, anchor], (e) => done(e.error ?? e.value));
      assert.equal(await exit, k, `k=${k} n=${n}`);
      const rest = (w: { tid: number; processes: number }) => w.processes > (w.tid === heavy ? BALLAST : 0);
      let st = await rt.stats();
      for (let i = 0; i < 100 && st.some(rest); i++) {
        await new Promise((r) => setTimeout(r, 20));
        st = await rt.stats();
      }
      const sum = (f: (q: (typeof st)[number]['queue']) => number) => st.reduce((a, w) => a + f(w.queue), 0);
      assert.equal(sum((q) => q.pushed), k, 'k queued spawns (the first one started at once; the exec is a job)');
      // (rt.queuedSpawns(): jobs the main thread queued; none here)
      assert.equal(sum((q) => q.own + q.global), k + rt.queuedSpawns(), 'each queued spawn started once');
      // in the coordinator's one spawn loop the list reaches the mark (8) and is published whole,
      // again and again: the spawns after the last publish were never encoded
      assert.equal(sum((q) => q.kept), ((k - 1) % 8) + 1, `the last ones stayed Lua records: ${JSON.stringify(st.map((w) => w.queue))}`);
      for (const p of ballast) rt.send(p, 'stop');
    } finally {
      await rt.stop(1000);
    }
  });
}
