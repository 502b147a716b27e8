/*
** lhostfn.h: the host calls the kernel's C makes on every message, resume, spawn or exit, each as
** one call across the wasm/JS boundary with plain wasm values (lhostfn.c has the protocol).
*/
#ifndef lhostfn_h
#define lhostfn_h

#include "lfield.h"

typedef struct LuaWHostFns {
  lua_CFunction route_cf;      /* H.route as the host installed it (JS, through the Lua API) */
  int (*route) (double uniq);  /* the same read: tid * 2 + alive */
  lua_CFunction now_cf;        /* H.now as the host installed it */
  double (*now) (void);        /* the same clock */
  lua_CFunction pid_alloc_cf;  /* H.pid_alloc as the host installed it */
  double (*pid_alloc) (double owner);  /* the same allocation: the PID's uniq */
  lua_CFunction dead_cf;       /* H.dead as the host installed it */
  void (*dead) (double uniq);  /* the same clearing of the PID's alive bit */
  lua_CFunction load_add_cf;   /* H.load_add as the host installed it */
  void (*load_add) (double d);  /* the same change of this thread's live-process count */
} LuaWHostFns;

/* the state's direct host calls, or NULL (none set: wasmoon's glue without raw exports) */
const LuaWHostFns *luaW_hostfns (lua_State *L);

/* 2^53: an integer argument (a uniq, a thread id) the JS side reads exactly as a double */
#define LUAW_HOST_EXACT ((lua_Unsigned)1 << 53)

/* v is a Lua integer the JS side reads exactly as a double (|v| <= 2^53): an argument the direct
** forms take */
#define luaW_host_exact(v) \
  (ttisinteger(v) && l_castS2U(ivalue(v)) + LUAW_HOST_EXACT <= 2 * LUAW_HOST_EXACT)

/* f (the H field as read) is the host's own function cf of h: the direct form may stand for it */
#define luaW_host_own(h, f, cf) ((h) != NULL && ttislcf(f) && fvalue(f) == (h)->cf)

/* route(uniq) in one crossing when f (H.route, as read) is the host's own and uniq an integer it
** reads exactly: 1, with *tid and *alive; 0: not so, call f through the Lua API */
static inline int luaW_route_direct (const LuaWHostFns *h, const TValue *f, const TValue *uniq,
                                     lua_Integer *tid, int *alive) {
  int r;
  if (!luaW_host_own(h, f, route_cf) || !luaW_host_exact(uniq)) return 0;
  r = h->route((double)ivalue(uniq));
  *alive = r & 1;
  *tid = r >> 1;  /* an arithmetic shift: -1 (no owner) stays -1 */
  return 1;
}

/* now() in one crossing when f (H.now, as read) is the host's own: 1, with *now; 0: not so */
static inline int luaW_now_direct (const LuaWHostFns *h, const TValue *f, lua_Number *now) {
  if (!luaW_host_own(h, f, now_cf)) return 0;
  *now = h->now();
  return 1;
}

/* pid_alloc(owner) in one crossing when f (H.pid_alloc, as read) is the host's own and owner an
** integer it reads exactly: 1, with *uniq (a Lua integer, as the Lua-facing form pushes it); 0:
** not so, call f through the Lua API */
static inline int luaW_pid_alloc_direct (const LuaWHostFns *h, const TValue *f, const TValue *owner,
                                         TValue *uniq) {
  if (!luaW_host_own(h, f, pid_alloc_cf) || !luaW_host_exact(owner)) return 0;
  setivalue(uniq, (lua_Integer)h->pid_alloc((double)ivalue(owner)));  /* a counter: < 2^53 */
  return 1;
}

/* dead(uniq) in one crossing when f (H.dead, as read) is the host's own and uniq an integer it
** reads exactly: 1; 0: not so, call f through the Lua API */
static inline int luaW_dead_direct (const LuaWHostFns *h, const TValue *f, const TValue *uniq) {
  if (!luaW_host_own(h, f, dead_cf) || !luaW_host_exact(uniq)) return 0;
  h->dead((double)ivalue(uniq));
  return 1;
}

/* load_add(d) (this thread's count) in one crossing when f (H.load_add, as read) is the host's own
** and d an integer it reads exactly: 1; 0: not so, call f through the Lua API */
static inline int luaW_load_add_direct (const LuaWHostFns *h, const TValue *f, const TValue *d) {
  if (!luaW_host_own(h, f, load_add_cf) || !luaW_host_exact(d)) return 0;
  h->load_add((double)ivalue(d));
  return 1;
}

/* wippy.native.hostcall (lwippy.c): for tests, see lhostfn.c */
int luaW_hostcall (lua_State *L);

#endif
