/*
** lhostfn.h: the host calls the kernel's C makes on every message or resume, each as one call
** across the wasm/JS boundary with plain wasm values (lhostfn.c has the protocol).
*/
#ifndef lhostfn_h
#define lhostfn_h

#include "lua.h"

typedef struct LuaWHostFns {
  lua_CFunction route_cf;      /* H.route as the host installed it (JS, through the Lua API) */
  int (*route) (double uniq);  /* the same read: tid * 2 + alive */
  lua_CFunction now_cf;        /* H.now as the host installed it */
  double (*now) (void);        /* the same clock */
} LuaWHostFns;

/* the state's direct host calls, or NULL (none set: wasmoon's glue without raw exports) */
const LuaWHostFns *luaW_hostfns (lua_State *L);

#endif
