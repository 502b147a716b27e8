/*
** lhostfn.h: the host calls the kernel's C makes on every message or resume, each as one call
** across the wasm/JS boundary with plain wasm values (lhostfn.c has the protocol).
*/
#ifndef lhostfn_h
#define lhostfn_h

#include "lfield.h"

typedef struct LuaWHostFns {
  lua_CFunction route_cf;      /* H.route as the host installed it (JS, through the Lua API) */
  int (*route) (double uniq);  /* the same read: tid * 2 + alive */
  lua_CFunction now_cf;        /* H.now as the host installed it */
  double (*now) (void);        /* the same clock */
} LuaWHostFns;

/* the state's direct host calls, or NULL (none set: wasmoon's glue without raw exports) */
const LuaWHostFns *luaW_hostfns (lua_State *L);

/* 2^53: a uniq the JS side reads exactly as a double (route's argument) */
#define LUAW_ROUTE_EXACT ((lua_Unsigned)1 << 53)

/* route(uniq) in one crossing when f (H.route, as read) is the host's own and uniq an integer it
** reads exactly: 1, with *tid and *alive; 0: not so, call f through the Lua API */
static inline int luaW_route_direct (const LuaWHostFns *h, const TValue *f, const TValue *uniq,
                                     lua_Integer *tid, int *alive) {
  int r;
  if (h == NULL || !ttislcf(f) || fvalue(f) != h->route_cf || !ttisinteger(uniq)
      || l_castS2U(ivalue(uniq)) + LUAW_ROUTE_EXACT > 2 * LUAW_ROUTE_EXACT) return 0;
  r = h->route((double)ivalue(uniq));
  *alive = r & 1;
  *tid = r >> 1;  /* an arithmetic shift: -1 (no owner) stays -1 */
  return 1;
}

/* now() in one crossing when f (H.now, as read) is the host's own: 1, with *now; 0: not so */
static inline int luaW_now_direct (const LuaWHostFns *h, const TValue *f, lua_Number *now) {
  if (h == NULL || !ttislcf(f) || fvalue(f) != h->now_cf) return 0;
  *now = h->now();
  return 1;
}

/* wippy.native.hostcall (lwippy.c): for tests, see lhostfn.c */
int luaW_hostcall (lua_State *L);

#endif
