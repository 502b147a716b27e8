// cpu-scaling's processes (bench/scaling.ts), and what one timed run of them shows: every child
// reports when its loop started and ended (the workers' wall clock, performance.timeOrigin + now(),
// as Lua's now_us), the coordinator when it started, when its spawns were done and when it had all
// EXITs. `timeline` turns one run into the figures that tell where a second worker's time goes:
// when each worker started its first child (the second one only after the work spread: the stuck
// rule on a host without the budget hook, the sharing rule with it), how the 8 children split, the
// per-task time, the tail after the last child; `threadsDuring` adds every thread's CPU and
// runnable-but-waiting time over the run (bench/threadcpu.ts), so CPU taken by threads other than
// the workers (the main thread, V8's helpers compiling) shows. Used by bench/scaling.ts (its ours
// figures' details) and bench/cpu-probe.ts (printed per run).
import { luaEntry } from './harness.js';
import { CPU_LUA_BODY } from '../native-bench/cpu-ceiling.js';
import { median } from '../native-bench/common.js';
import { threadStatsByTid } from './threadcpu.js';

/** A child: the loop of the raw ceiling (CPU_LUA_BODY), with its start and end. */
export const CPU_CHILD = luaEntry('cpu_child', `return { main = function(n)
  local a = now_us()
  local s = (function() ${CPU_LUA_BODY} end)()
  return { a = a, b = now_us(), s = s }
end }`);

/** The coordinator: spawn_monitored k children on `host`, wait for the k EXITs. */
export const CPU_COORD = luaEntry('cpu_coord', `
local function main(k, n, host)
  local ev = process.events()
  local t0 = now_us()
  for i = 1, k do must(process.spawn_monitored("bench:cpu_child", host, n), nil, "spawn_monitored") end
  local ts = now_us()
  local sum, got, kids = 0, 0, {}
  while got < k do
    local e = ev:receive()
    if e.kind ~= "pid.exit" then error("unexpected event " .. tostring(e.kind)) end
    if e.result.error ~= nil then error("child failed: " .. tostring(e.result.error)) end
    local v = e.result.value
    sum = sum + v.s
    got = got + 1
    kids[got] = { a = v.a, b = v.b }
  end
  return { t0 = t0, ts = ts, t1 = now_us(), n = got, sum = sum, kids = kids }
end
return { main = main }`);

/** The workers' clock in µs (Lua's now_us). */
export const nowUs = (): number => (performance.timeOrigin + performance.now()) * 1000;

/** What the coordinator returns (µs on the workers' clock). */
export interface CoordResult { t0: number; ts: number; t1: number; n: number; sum: number; kids: Record<string, { a: number; b: number }> | Array<{ a: number; b: number }> }

/** A child's loop, in ms after the run's start. */
export interface Span { a: number; b: number }

/** One timed run, in ms after JS called rt.exec. */
export interface Timeline {
  wall: number;
  /** The coordinator's first instruction, its last spawn done, its last EXIT received. */
  coordStart: number; spawned: number; coordEnd: number;
  /** Children per worker, in the order the workers started their first one (reconstructed: the children of one worker never overlap). */
  lanes: Span[][];
  /** Each lane's first start: [0] the coordinator's worker (normally), [1] the worker that got its work later. */
  firstStart: number[];
  /** Median and range of the children's loop times. */
  taskMs: { median: number; min: number; max: number };
  /** From the last child's end to JS having the result (its EXIT, the coordinator's return, the exec's answer). */
  afterLast: number;
}

/** Lanes: greedy interval colouring (a child that starts after a lane's last one ended joins that lane). */
export function lanes(spans: Span[]): Span[][] {
  const out: Span[][] = [];
  for (const k of [...spans].sort((x, y) => x.a - y.a)) {
    const lane = out.find((l) => l[l.length - 1]!.b <= k.a + 0.01);
    if (lane) lane.push(k); else out.push([k]);
  }
  return out;
}

/** A timed run's timeline: `t0Us`/`t1Us` JS's clock around rt.exec, `r` the coordinator's result. */
export function timeline(t0Us: number, t1Us: number, r: CoordResult): Timeline {
  const ms = (us: number) => (us - t0Us) / 1000;
  const kids = Object.values(r.kids).map((x) => ({ a: ms(x.a), b: ms(x.b) }));
  const ls = lanes(kids);
  const t = kids.map((x) => x.b - x.a);
  const lastEnd = Math.max(...kids.map((x) => x.b));
  return {
    wall: (t1Us - t0Us) / 1000, coordStart: ms(r.t0), spawned: ms(r.ts), coordEnd: ms(r.t1), lanes: ls,
    firstStart: ls.map((l) => l[0]!.a),
    taskMs: { median: median(t), min: Math.min(...t), max: Math.max(...t) },
    afterLast: (t1Us - t0Us) / 1000 - lastEnd,
  };
}

/** CPU and runnable-but-waiting ms per thread name ("main" for the process's own) between two reads. */
export type ThreadTimes = Record<string, { cpu: number; wait: number }>;

/** Read threads now; the returned function gives every thread's times since (threads under 0.05 ms left out). */
export function threadsDuring(): () => ThreadTimes {
  const th0 = threadStatsByTid();
  return () => {
    const out: ThreadTimes = {};
    for (const [tid, t] of threadStatsByTid()) {
      const b = th0.get(tid);
      if (!b) continue;
      const d = { cpu: (t.cpu - b.cpu) * 1000, wait: (t.wait - b.wait) * 1000 };
      if (d.cpu < 0.05 && d.wait < 0.05) continue;
      const name = tid === String(process.pid) ? 'main' : t.name;
      const cur = out[name] ?? { cpu: 0, wait: 0 };
      out[name] = { cpu: cur.cpu + d.cpu, wait: cur.wait + d.wait };
    }
    return out;
  };
}

/**
 * CPU ms of the workers (threads named `workerPrefix`..., as Node 24 names a host's workers
 * `<host>#<tid>`) and of every other thread (the main thread, V8's helpers), and the workers'
 * runnable-but-waiting ms; undefined where no thread has such a name (Node 20 names every thread "node").
 */
export function splitThreads(t: ThreadTimes, workerPrefix: string): { workers: number; workersWait: number; others: number } | undefined {
  const p = workerPrefix.slice(0, 15);
  const out = { workers: 0, workersWait: 0, others: 0 };
  let seen = false;
  for (const [name, x] of Object.entries(t)) {
    if (name.startsWith(p)) { seen = true; out.workers += x.cpu; out.workersWait += x.wait; } else out.others += x.cpu;
  }
  return seen ? out : undefined;
}
