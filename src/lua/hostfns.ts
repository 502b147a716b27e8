// The hot host calls of the kernel, H.route, H.now, H.pid_alloc, H.dead and H.load_add, made
// twice from the same host function: as the Lua-facing lua_CFunctions of __H (the Lua kernel's, wasmoon's
// module's, and the C's when it has nothing better), and as plain wasm functions our C calls in
// one crossing of the wasm/JS boundary (native/lua/lhostfn.c has the protocol; src/lua/engine.ts
// installHost sets both).
//
// Why. A Lua-facing host call is wasm -> JS, then its arguments read back through wasm calls
// (lua_tonumberx) and each result pushed through more (lua_pushinteger with a BigInt,
// lua_pushboolean): H.route, on every cross-worker send, was four crossings and a BigInt; H.now,
// after every resume of the C run loop, two; H.pid_alloc, on every spawn, four and a BigInt;
// H.dead, on every exit, two; H.load_add, on every spawn of a burst, three. The direct forms take
// and return wasm values: route(uniq: f64) -> i32 (tid * 2 + alive), now() -> f64,
// pidAlloc(owner: f64) -> f64, dead(uniq: f64), loadAdd(d: f64) (this thread's count).
// docs/design/native-core.md, "Session 13: host calls in one crossing" and "Session 14: the
// spawn's and exit's host calls", have the figures.
//
// Both forms call the same host function with the same argument (an integer one: the double the
// Lua-facing form reads with lua_tonumberx, which the C passes only for an integer it holds
// exactly), so their answers are the host's own; test/host-direct.test.ts compares them.

type Module = any; // emscripten module of wasmoon (untyped raw exports)

/**
 * Thread ids -1..256 as BigInts, made once: the Lua-facing route pushes its tid as a Lua integer
 * (a BigInt through the raw export) without an allocation per call.
 */
const SMALL_INTS: readonly bigint[] = Array.from({ length: 258 }, (_, i) => BigInt(i - 1));

/**
 * An integer argument of a host call (a PID slot, a thread id, a count). Read as a double:
 * lua_tointegerx returns an i64, which reaches JS as a BigInt, one heap allocation per
 * argument (5 per job on a worker: load_add twice, dead, post, route; route and post on every
 * cross-worker message). A value that is not a safe integer (a float, a huge integer) takes the
 * integer path, so the result is lua_tointegerx's.
 */
export function hostInt(m: Module, L: number, idx: number): number {
  const n = m._lua_tonumberx(L, idx, 0);
  return Number.isSafeInteger(n) ? n : Number(m._lua_tointegerx(L, idx, 0));
}

/** The two forms of each hot call: indices of the wasm function table. */
export interface HotCalls {
  /** H.route(uniq) -> tid, alive (signature 'ii': a lua_CFunction) */
  routeCf: number;
  /** route(uniq: f64) -> tid * 2 + alive (signature 'id') */
  route: number;
  /** H.now() -> ms (a lua_CFunction) */
  nowCf: number;
  /** now() -> ms (signature 'd') */
  now: number;
}

/**
 * Makes both forms of route and now over `route` (KernelHost.route: read at once, so it may
 * return the same pair every time) and `clock`; `add(fn, sig)` puts a function into the wasm
 * table and keeps it (addFunction).
 */
export function hotHostCalls(m: Module, route: (uniq: number) => [number, boolean], clock: () => number,
  add: (fn: (...args: number[]) => number, sig: string) => number): HotCalls {
  return {
    routeCf: add((L: number) => {
      // no allocation: thread ids are small, so their BigInts are made once (SMALL_INTS)
      const r = route(hostInt(m, L, 1));
      const tid = r[0];
      m._lua_pushinteger(L, tid >= -1 && tid < SMALL_INTS.length - 1 ? SMALL_INTS[tid + 1] : BigInt(tid));
      m._lua_pushboolean(L, r[1] ? 1 : 0);
      return 2;
    }, 'ii'),
    // (thread ids are small: the directory's owner field; tid * 2 stays an i32)
    route: add((uniq: number) => { const r = route(uniq); return r[0] * 2 + (r[1] ? 1 : 0); }, 'id'),
    nowCf: add((L: number) => { m._lua_pushnumber(L, clock()); return 1; }, 'ii'),
    now: add(clock, 'd'),
  };
}

/** The two forms of the spawn's and the exit's calls: indices of the wasm function table. */
export interface LifeCalls {
  /** H.load_add(d [, tid]) (a lua_CFunction) */
  loadAddCf: number;
  /** loadAdd(d: f64): this thread's count (signature 'vd') */
  loadAdd: number;
  /** H.pid_alloc([owner]) -> uniq (a lua_CFunction) */
  pidAllocCf: number;
  /** pidAlloc(owner: f64) -> uniq (signature 'dd'; the uniq is a counter, below 2^53) */
  pidAlloc: number;
  /** H.dead(uniq) (a lua_CFunction) */
  deadCf: number;
  /** dead(uniq: f64) (signature 'vd') */
  dead: number;
}

/**
 * Makes both forms of pid_alloc, dead and load_add over `pidAlloc` (KernelHost.pidAlloc: no owner,
 * this thread), `dead` (KernelHost.pidDead) and `loadAdd` (KernelHost.loadAdd: no tid, this
 * thread); `add` as for hotHostCalls.
 */
export function lifeHostCalls(m: Module, pidAlloc: (owner?: number) => number, dead: (uniq: number) => void,
  loadAdd: (d: number, tid?: number) => void,
  add: (fn: (...args: number[]) => number | void, sig: string) => number): LifeCalls {
  return {
    loadAddCf: add((L: number) => {
      loadAdd(hostInt(m, L, 1), m._lua_gettop(L) >= 2 ? hostInt(m, L, 2) : undefined);
      return 0;
    }, 'ii'),
    loadAdd: add((d: number) => { loadAdd(d); }, 'vd'),
    pidAllocCf: add((L: number) => {
      const owner = m._lua_gettop(L) >= 1 ? hostInt(m, L, 1) : undefined;
      m._lua_pushinteger(L, BigInt(pidAlloc(owner)));
      return 1;
    }, 'ii'),
    pidAlloc: add((owner: number) => pidAlloc(owner), 'dd'),
    deadCf: add((L: number) => { dead(hostInt(m, L, 1)); return 0; }, 'ii'),
    dead: add((uniq: number) => { dead(uniq); }, 'vd'),
  };
}
