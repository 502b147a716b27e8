/*
** lhostfn.c: the hot host calls in one crossing of the wasm/JS boundary.
**
** Every host call of the kernel is a lua_CFunction in __H (src/lua/engine.ts installHost): wasm
** calls into JS, JS reads its arguments back through wasm calls (lua_tonumberx), does the work
** and pushes each result through more (lua_pushinteger with a BigInt, lua_pushboolean). H.route
** is four crossings and a BigInt on every cross-worker send (lsend.c's remote send); H.now two
** after every resume of the C run loop (lsched.c); H.pid_alloc four and a BigInt on every spawn
** (lspawn.c, lqspawn.c), H.dead two on every exit (lexit.c), H.load_add three on a spawn that
** turns the step's net count positive (lspawn.h count_load: every spawn of a burst). Here the
** host also hands the C the same calls as plain function pointers of the wasm table
** (emscripten's addFunction), taking and returning wasm values: route(uniq: f64) -> i32 (tid * 2
** + alive: thread ids are small), now() -> f64, pid_alloc(owner: f64) -> f64 (the uniq: a
** counter, below 2^53), dead(uniq: f64), load_add(d: f64) (this thread's count).
**
** The protocol. luaW_set_hostfns(L, route_cf, route, now_cf, now, pid_alloc_cf, pid_alloc,
** dead_cf, dead, load_add_cf, load_add) (in the build's export list; the host calls it once per
** state, after making __H) keeps the ten in a block the registry holds. lsend.c, lsched.c,
** lspawn.c (and lqspawn.c through its record) and lexit.c take the block when they are made
** (luaW_hostfns) and, where they read H.route, H.now, H.pid_alloc, H.dead or H.load_add, read it
** as before (the same field of the same table, at the same point: a death or a steal is seen
** where it was, a replaced function is called) and call the direct function only when the value
** read is the host's own C function (route_cf, now_cf, pid_alloc_cf, dead_cf, load_add_cf);
** anything else (a replaced function, wasmoon's module, which has no setter, no block, a null
** pair) is called through the Lua API as before. The integer arguments (route's and dead's uniq,
** pid_alloc's owner, load_add's count): a Lua integer of at most 2^53 in magnitude, passed as the
** double the JS side read before (hostfns.ts hostInt: lua_tonumberx); any other value takes the
** Lua-facing call. The results are the JS's own: the same host function answers both forms
** (KernelHost.route, now, pidAlloc, pidDead, loadAdd), once per call, at the same point of the
** C's steps.
**
** Why: the JS side of a call is a few reads or atomic writes of shared memory; the crossings
** around it were most of its cost (docs/design/native-core.md, "Session 13: host calls in one
** crossing" and "Session 14: the spawn's and exit's host calls", have the figures). Rejected:
** replacing the H functions themselves by C (the Lua kernel's own calls): their callers on the
** hot paths are already C here, and the Lua-facing functions stay what wasmoon's module runs.
*/
#include "lauxlib.h"

#include "lhostfn.h"

static const char key = 0;  /* the registry's key of the block (its address) */

void luaW_set_hostfns (lua_State *L, lua_CFunction route_cf, int (*route) (double),
                       lua_CFunction now_cf, double (*now) (void),
                       lua_CFunction pid_alloc_cf, double (*pid_alloc) (double),
                       lua_CFunction dead_cf, void (*dead) (double),
                       lua_CFunction load_add_cf, void (*load_add) (double)) {
  LuaWHostFns *h = (LuaWHostFns *)lua_newuserdatauv(L, sizeof(LuaWHostFns), 0);
  h->route_cf = route_cf;
  h->route = route;
  h->now_cf = now_cf;
  h->now = now;
  /* a pair given as 0 (null) is never direct: no C function of the state is null */
  h->pid_alloc_cf = pid_alloc != NULL ? pid_alloc_cf : NULL;
  h->pid_alloc = pid_alloc;
  h->dead_cf = dead != NULL ? dead_cf : NULL;
  h->dead = dead;
  h->load_add_cf = load_add != NULL ? load_add_cf : NULL;
  h->load_add = load_add;
  lua_rawsetp(L, LUA_REGISTRYINDEX, &key);
}

const LuaWHostFns *luaW_hostfns (lua_State *L) {
  const LuaWHostFns *h;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &key);
  h = (const LuaWHostFns *)lua_touserdata(L, -1);
  lua_pop(L, 1);
  return h;
}

/*
** hostcall(f [, x]) -> direct, results...: f (H.route, H.now, H.pid_alloc, H.dead or H.load_add)
** called as lsend.c, lsched.c, lspawn.c and lexit.c call it: in one crossing when it is the host's own
** (direct true), else through the Lua API (direct false). test/host-direct.test.ts compares its
** results with f's own.
*/
int luaW_hostcall (lua_State *L) {
  const LuaWHostFns *h = luaW_hostfns(L);
  lua_Integer tid;
  lua_Number now;
  TValue uniq;
  int alive;
  lua_settop(L, 2);
  if (luaW_route_direct(h, s2v(L->ci->func + 1), s2v(L->ci->func + 2), &tid, &alive)) {
    lua_pushboolean(L, 1);
    lua_pushinteger(L, tid);
    lua_pushboolean(L, alive);
    return 3;
  }
  if (luaW_now_direct(h, s2v(L->ci->func + 1), &now)) {
    lua_pushboolean(L, 1);
    lua_pushnumber(L, now);
    return 2;
  }
  if (luaW_pid_alloc_direct(h, s2v(L->ci->func + 1), s2v(L->ci->func + 2), &uniq)) {
    lua_pushboolean(L, 1);
    lua_pushinteger(L, ivalue(&uniq));
    return 2;
  }
  if (luaW_dead_direct(h, s2v(L->ci->func + 1), s2v(L->ci->func + 2))
      || luaW_load_add_direct(h, s2v(L->ci->func + 1), s2v(L->ci->func + 2))) {
    lua_pushboolean(L, 1);
    return 1;
  }
  lua_pushboolean(L, 0);
  lua_pushvalue(L, 1);
  lua_pushvalue(L, 2);
  lua_call(L, 1, LUA_MULTRET);
  return lua_gettop(L) - 2;
}
