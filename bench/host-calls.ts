// One host call from C, in ns: each of the hot host calls (src/lua/hostfns.ts) made the way the
// kernel's C makes it, in its direct form (one crossing of the wasm/JS boundary: native/lua/
// lhostfn.c) and through the Lua API (the same Lua-facing function added again at another index
// of the wasm table, so the C does not know it as the host's own and calls it with lua_call, as
// it did before the direct form). Over a real directory (src/shm/directory.ts, one thread's
// handle on a fresh buffer), so pid_alloc and dead do their atomics; and the same two over a host
// that does nothing (a counter; no shared memory), which leaves the crossing and the loop.
//
//   node dist/bench/host-calls.js [--n 2000000] [--rounds 3]
//
// Each figure is one call of `wippy.native.hostcall(f, x)` from a Lua loop (the loop's and
// hostcall's own costs included: the same in both columns), the best of `rounds`. The direct
// column is what lsend.c (route), lsched.c (now), lspawn.c/lqspawn.c (pid_alloc) and lexit.c
// (dead; load_add: lspawn.h's count_load) pay per call; the other is what they paid before.
import { parseArgs } from 'node:util';
import { luaFactory, setGlobalTable } from '../src/lua/module.js';
import { createEngineRaw } from '../src/lua/rawexports.js';
import { hotHostCalls, lifeHostCalls } from '../src/lua/hostfns.js';
import { Directory } from '../src/shm/directory.js';
import { newDirectory } from '../src/shm/layout.js';

const { values: opt } = parseArgs({ options: {
  n: { type: 'string', default: '2000000' }, rounds: { type: 'string', default: '3' },
} });
const N = Number(opt.n);
const ROUNDS = Number(opt.rounds);
const TID = 1;

async function main(): Promise<void> {
  const { engine, module: m } = await createEngineRaw(luaFactory('native'),
    { openStandardLibs: true, injectObjects: false, enableProxy: false });
  const L = engine.global.address;
  const dir = new Directory(newDirectory(), TID);
  const pair: [number, boolean] = [-1, false];
  const route = (u: number): [number, boolean] => { pair[0] = dir.owner(u); pair[1] = dir.isAlive(u); return pair; };
  const add = (fn: (...a: number[]) => number | void, sig: string): number => m.addFunction(fn, sig);
  const hot = hotHostCalls(m, route, () => performance.now(), add);
  const life = lifeHostCalls(m, (o) => dir.alloc(o), (u) => dir.dead(u), (d, t) => dir.addLoad(t ?? TID, d), add);
  // the same Lua-facing functions again, at other indices: called through the Lua API
  const hot2 = hotHostCalls(m, route, () => performance.now(), add);
  const life2 = lifeHostCalls(m, (o) => dir.alloc(o), (u) => dir.dead(u), (d, t) => dir.addLoad(t ?? TID, d), add);
  let count = 0;
  const idle = lifeHostCalls(m, () => ++count, () => { count--; }, () => { count++; }, add);
  setGlobalTable(m, L, 'H', [['route', hot.routeCf], ['now', hot.nowCf], ['pid_alloc', life.pidAllocCf],
    ['dead', life.deadCf], ['route2', hot2.routeCf], ['now2', hot2.nowCf], ['pid_alloc2', life2.pidAllocCf],
    ['dead2', life2.deadCf], ['load_add', life.loadAddCf], ['load_add2', life2.loadAddCf], ['pid_alloc0', idle.pidAllocCf],
    ['dead0', idle.deadCf]], (ptr) => m._lua_pushcclosure(L, ptr, 0));
  // the direct forms: the state's block (set again below with the idle host's, then back)
  const direct = (): void => m._luaW_set_hostfns(L, hot.routeCf, hot.route, hot.nowCf, hot.now, life.pidAllocCf, life.pidAlloc,
    life.deadCf, life.dead, life.loadAddCf, life.loadAdd);
  const directIdle = (): void => m._luaW_set_hostfns(L, hot.routeCf, hot.route, hot.nowCf, hot.now, idle.pidAllocCf,
    idle.pidAlloc, idle.deadCf, idle.dead, idle.loadAddCf, idle.loadAdd);
  direct();
  await engine.doString(String.raw`
    local hostcall = package.loaded["wippy.native"].hostcall
    local clock = os.clock
    -- ns per call of hostcall(f, x) over n calls; want: the direct form or not
    function per_call(name, n, want)
      local f = H[name]
      local x = ${TID}
      if name == "route" or name == "route2" then x = H.pid_alloc(${TID}) end
      if name == "load_add" or name == "load_add2" then x = (n % 2 == 0) and 1 or -1 end
      local d = hostcall(f, x)
      if d ~= want then error(name .. ": direct " .. tostring(d)) end
      local t0 = clock()
      if name == "dead" or name == "dead2" or name == "dead0" then
        local u0 = H.pid_alloc(${TID})
        for i = 1, n do hostcall(f, u0 + i % 1024) end
      else
        for i = 1, n do hostcall(f, x) end
      end
      return (clock() - t0) * 1e9 / n
    end
  `);
  const perCall = engine.global.get('per_call') as (name: string, n: number, want: boolean) => number;
  const rows: Array<[string, string, string]> = [['route', 'route2', 'H.route(uniq)'], ['now', 'now2', 'H.now()'],
    ['pid_alloc', 'pid_alloc2', 'H.pid_alloc(owner)'], ['dead', 'dead2', 'H.dead(uniq)'], ['load_add', 'load_add2', 'H.load_add(d)']];
  console.log(`one host call from C, ns (the best of ${ROUNDS} rounds of ${N}; Node ${process.versions.node})`);
  console.log('| call | through the Lua API | direct |\n|---|---:|---:|');
  for (const [direct, api, label] of rows) {
    let a = Infinity;
    let d = Infinity;
    for (let r = 0; r < ROUNDS; r++) {
      a = Math.min(a, perCall(api, N, false));
      d = Math.min(d, perCall(direct, N, true));
    }
    console.log(`| ${label} | ${a.toFixed(1)} | ${d.toFixed(1)} |`);
  }
  for (const [name, label] of [['pid_alloc0', 'pid_alloc over a host that does nothing'], ['dead0', 'dead over a host that does nothing']]) {
    let d = Infinity;
    directIdle();
    for (let r = 0; r < ROUNDS; r++) d = Math.min(d, perCall(name!, N, true));
    direct();
    console.log(`| ${label} | | ${d.toFixed(1)} |`);
  }
}

await main();
