// Workload: WebAssembly reached from Lua.
//
//   wasm-call   calls per second of compute(6, 7) (the core-math fixture, a core module with a
//               `wit` signature): a direct WebAssembly export called from JS in a loop (the floor:
//               no thread, no kernel); and from Lua, one driver process calling `funcs.call` N times
//               in a row on an `inline` pool (one thread, a new instance per call) and on a `lazy`
//               pool (instance reused per thread), and `funcs.async` with 8 calls in flight on the
//               lazy pool. Every result is checked (42).
//   wasm-spawn  process.wasm spawn + exit: a driver `spawn_monitored`s N process.wasm compute
//               processes, ≤ WINDOW alive, and receives every EXIT (values checked).
//
// What a call from Lua costs, by design (docs/wasm.md): the function frame is a kernel process on
// the caller's worker (spawn, EXIT); its body sends one "wcall" frame to the main thread, which
// runs the guest on the entry's piscina pool (a second thread hop) and answers with a "rep". So
// the figure is two thread round trips plus a process lifecycle, against the direct call's
// nanoseconds. Timed in Lua (driver clock, as the other workloads), after a warm-up that starts
// the pool threads and compiles the module.
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type BenchContext, type Figure, type Workload, MAIN_HOST, benchRuntime, luaEntry, withRuntime, runDrivers,
  check, spanSeconds, fmtInt,
} from './harness.js';

/** dist/bench/wasm.js -> the repository root (the fixtures are read from the source tree). */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const FIXTURES = join(ROOT, 'test', 'fixtures', 'wasm');
const WINDOW = 16;

function fixtureEntries(): Array<Record<string, unknown>> {
  const manifest = JSON.parse(readFileSync(join(FIXTURES, 'manifest.json'), 'utf8')) as Record<string, string>;
  const core = (pool?: Record<string, unknown>) => ({
    kind: 'function.wasm', fs: 'bench:wasm_bin', path: '/core-math.wasm', hash: manifest['core-math.wasm'],
    method: 'compute', wit: 'compute: func(a: s32, b: s32) -> s32;', ...(pool ? { pool } : {}),
  });
  return [
    { id: 'bench:wasm_bin', kind: 'fs.directory', directory: join(FIXTURES, 'wasm') },
    { id: 'bench:wasm_inline', ...core({ type: 'inline' }) },
    { id: 'bench:wasm_lazy', ...core({ type: 'lazy', max_size: 2 }) },
    { id: 'bench:wasm_proc', ...core(), kind: 'process.wasm' },
  ];
}

const CALLER = { ...luaEntry('wasm_caller', `
local funcs = require("funcs")
local function main(ready, id, n, inflight)
  for i = 1, 20 do must(funcs.call(id, 6, 7), nil, "warm-up call") end
  ready_go(ready)
  local t0 = now_us()
  local ok = 0
  if inflight <= 1 then
    for i = 1, n do
      if funcs.call(id, 6, 7) == 42 then ok = ok + 1 end
    end
  else
    local fs, next, done = {}, 1, 0
    for i = 1, inflight do fs[i] = must(funcs.async(id, 6, 7)); next = next + 1 end
    while done < n do
      for i = 1, inflight do
        local f = fs[i]
        if f then
          local p = f:channel():receive()
          done = done + 1
          if p and p:data() == 42 then ok = ok + 1 end
          if next <= n then fs[i] = must(funcs.async(id, 6, 7)); next = next + 1 else fs[i] = nil end
        end
      end
    end
  end
  return { t0 = t0, t1 = now_us(), n = n, ok = ok }
end
return { main = main }`), modules: ['time', 'funcs'] };

const SPAWNER = luaEntry('wasm_spawner', `
local function main(ready, n, host, window)
  local ev = process.events()
  for i = 1, 4 do must(process.spawn_monitored("bench:wasm_proc", host, 6, 7)); ev:receive() end
  ready_go(ready)
  local t0 = now_us()
  local first = window < n and window or n
  for i = 1, first do must(process.spawn_monitored("bench:wasm_proc", host, 6, 7)) end
  local spawned, got, ok = first, 0, 0
  while got < n do
    local e = ev:receive()
    if e.kind ~= "pid.exit" then error("unexpected event " .. tostring(e.kind)) end
    if e.result.error ~= nil then error("process.wasm failed: " .. tostring(e.result.error)) end
    if e.result.value == 42 then ok = ok + 1 end
    got = got + 1
    if spawned < n then
      spawned = spawned + 1
      must(process.spawn_monitored("bench:wasm_proc", host, 6, 7), nil, "spawn_monitored")
    end
  end
  return { t0 = t0, t1 = now_us(), n = got, ok = ok }
end
return { main = main }`);

function directCalls(ctx: BenchContext): Figure[] {
  const n = ctx.quick ? 200_000 : 2_000_000;
  const mod = new WebAssembly.Module(readFileSync(join(FIXTURES, 'wasm', 'core-math.wasm')));
  const compute = new WebAssembly.Instance(mod, {}).exports['compute'] as (a: number, b: number) => number;
  let sum = 0;
  for (let i = 0; i < 10_000; i++) sum += compute(6, 7);
  sum = 0;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) sum += compute(6, 7);
  const s = (performance.now() - t0) / 1000;
  check(sum === 42 * n, `direct calls summed to ${sum}, expected ${42 * n}`);
  return [{
    workload: 'wasm-call', variant: 'direct from JS', workers: 0, figure: 'WebAssembly export call', value: n / s,
    unit: 'calls/s', work: `${fmtInt(n)} calls of compute(6, 7)`, timing: 'JS clock around the loop', details: { seconds: s },
  }];
}

async function luaCalls(ctx: BenchContext, id: string, label: string, inflight: number): Promise<Figure[]> {
  const n = ctx.quick ? 300 : 2000;
  const rt = await benchRuntime([...fixtureEntries(), CALLER], { workers: 1 });
  return withRuntime(rt, async (): Promise<Figure[]> => {
    ctx.note(`${fmtInt(n)} calls`);
    const { results } = await runDrivers(rt, 'bench:wasm_caller', MAIN_HOST, [[id, n, inflight]], ctx);
    const r = results[0]!;
    check(r.ok === n, `${r.ok} of ${n} calls returned 42`);
    const span = spanSeconds(results as any);
    return [{
      workload: 'wasm-call', variant: label, workers: 1,
      figure: inflight > 1 ? `funcs.async, ${inflight} in flight` : 'funcs.call, one at a time', value: n / span,
      unit: 'calls/s', work: `${fmtInt(n)} calls of compute(6, 7) from one Lua process`,
      timing: 'Lua clock in the caller', details: { spanSeconds: span },
    }];
  });
}

async function spawnExit(ctx: BenchContext): Promise<Figure[]> {
  const n = ctx.quick ? 300 : 2000;
  const rt = await benchRuntime([...fixtureEntries(), SPAWNER], { workers: 1 });
  return withRuntime(rt, async (): Promise<Figure[]> => {
    ctx.note(`${fmtInt(n)} spawns`);
    const { results } = await runDrivers(rt, 'bench:wasm_spawner', MAIN_HOST, [[n, MAIN_HOST, WINDOW]], ctx);
    const r = results[0]!;
    check(r.n === n && r.ok === n, `${r.ok} of ${n} process.wasm EXITs carried 42`);
    const span = spanSeconds(results as any);
    return [{
      workload: 'wasm-spawn', variant: '1 worker', workers: 1,
      figure: 'process.wasm spawn + exit (monitored)', value: n / span, unit: 'processes/s',
      work: `${fmtInt(n)} spawn_monitored of a process.wasm compute(6, 7), ≤${WINDOW} alive`,
      timing: 'Lua clock in the driver', details: { spanSeconds: span },
    }];
  });
}

export const wasmCallWorkload: Workload = {
  name: 'wasm-call',
  title: 'WASM function calls from Lua (funcs.call, inline and lazy pools) beside a direct call from JS',
  variants: () => [
    { label: 'direct from JS', workers: 0, run: async (ctx) => directCalls(ctx) },
    { label: 'Lua, inline pool', workers: 1, run: (ctx) => luaCalls(ctx, 'bench:wasm_inline', 'Lua, inline pool', 1) },
    { label: 'Lua, lazy pool', workers: 1, run: (ctx) => luaCalls(ctx, 'bench:wasm_lazy', 'Lua, lazy pool', 1) },
    { label: 'Lua, lazy pool, async', workers: 1, run: (ctx) => luaCalls(ctx, 'bench:wasm_lazy', 'Lua, lazy pool, async', 8) },
  ],
};

export const wasmSpawnWorkload: Workload = {
  name: 'wasm-spawn',
  title: 'process.wasm spawn + exit from Lua',
  variants: () => [{ label: '1 worker', workers: 1, run: spawnExit }],
};
