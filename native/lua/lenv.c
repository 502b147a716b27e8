/*
** lenv.c: a process's global table and its entry's compiled chunk in C (`wippy.native.envmaker`,
** opened by lwippy.c): sandbox.lua's make_env and compile's cache hit, the same steps on the same
** tables, for every spawn (lspawn.c calls both per process, spawn.lua's Lua spawn and upgrade.lua
** too).
**
**   envmaker(LOADED, REQUIRE, require_for, ENV_MT, compiled, compile) -> make_env, compile
**     LOADED, REQUIRE, compiled: sandbox.lua's tables (process record -> loaded modules, entry ->
**     its require, entry id -> chunk); require_for, compile: its Lua functions; ENV_MT: the
**     environments' metatable.
**   make_env(E, P, loaded) -> env: sandbox.lua's make_env. When loaded is nil, LOADED[P] is read
**     and, if set, cleared (a raw read and write: LOADED's metatable has only __mode); the require
**     is REQUIRE[E] (raw: REQUIRE's metatable has only __mode), else require_for(E) (the Lua, which
**     makes and records it, or raises as it would); then the table { _G = env, require = req }
**     with its two keys inserted in the Lua constructor's order (_G, require) into a 2-node hash
**     part, so its layout, and so pairs's order, is the Lua's (made as a copy of a template those
**     inserts made once: lshape.h; upvalue 7 holds its Shape and anchors it); then ENV_MT as its metatable
**     (lua_setmetatable: what setmetatable does for a table whose metatable has no __metatable
**     and a metatable without __gc).
**   compile(E, id) -> chunk | nil, err: compiled[id] (raw: a plain table) when set; else the Lua
**     compile(E, id), whose results (and errors) are returned as they come.
**
** Why, measured (docs/design/native-core.md, "The cost of a spawn", session 12): make_env and
** compile were two Lua calls from the C spawn per process, 24 VM instructions and three more
** calls (require_for, setmetatable, a table read each), 5.3% of the worker's time in spawn+exit's
** steady state.
**
** For the C spawn (lspawn.c, lqspawn.c) make_env's common case (LOADED[P] nil, REQUIRE[E] set) and
** compile's cache hit are also exported as steps without a call frame (luaW_env_make_at,
** luaW_env_compile_at; session 13: two lua_calls per spawn).
**
** What it may call: require_for and compile (Lua), the Lua C API. On wasmoon's module (no
** wippy.native) and with WIPPY_CSCHED=0 the Lua make_env and compile run;
** test/native-env.test.ts runs both on the same sequences.
*/
#include "lshape.h"

#define U_LOADED lua_upvalueindex(1)
#define U_REQUIRE lua_upvalueindex(2)
#define U_REQUIRE_FOR lua_upvalueindex(3)
#define U_ENV_MT lua_upvalueindex(4)
#define U_COMPILED lua_upvalueindex(5)
#define U_COMPILE lua_upvalueindex(6)
#define U_SHAPE lua_upvalueindex(7)

/* pushes { _G = env, require = req } key by key (req at index ri) */
static void env_steps (lua_State *L, int ri) {
  int e;
  lua_createtable(L, 0, 2);
  e = lua_gettop(L);
  lua_pushvalue(L, e);
  lua_setfield(L, e, "_G");
  lua_pushvalue(L, ri);
  lua_setfield(L, e, "require");
}

/* pushes the environment for require req (not nil): a copy of the shape's template (sh) with ENV_MT
** (mt) as its metatable */
static void env_new (lua_State *L, const Shape *sh, const TValue *req, const TValue *mt) {
  Table *t = luaW_shape_make(L, sh);
  TValue e;
  sethvalue(L, &e, t);
  luaW_shape_set(L, t, sh, 0, &e);
  luaW_shape_set(L, t, sh, 1, req);
  luaC_checkGC(L);
  setobj2s(L, L->top, mt);
  L->top++;
  lua_setmetatable(L, -2);
}

/* make_env(E, P, loaded) -> env (see the top) */
static int make_env (lua_State *L) {
  lua_settop(L, 3);
  if (lua_isnil(L, 3)) {
    lua_pushvalue(L, 2);
    if (lua_rawget(L, U_LOADED) != LUA_TNIL) {
      lua_pushvalue(L, 2);
      lua_pushnil(L);
      lua_rawset(L, U_LOADED);
    }
    lua_pop(L, 1);
  }
  lua_pushvalue(L, 1);  /* index 4: the require */
  if (lua_rawget(L, U_REQUIRE) == LUA_TNIL) {
    lua_pop(L, 1);
    lua_pushvalue(L, U_REQUIRE_FOR);
    lua_pushvalue(L, 1);
    lua_call(L, 1, 1);
  }
  if (!lua_isnil(L, 4))  /* index 5: the environment */
    env_new(L, (const Shape *)lua_touserdata(L, U_SHAPE), s2v(L->top - 1), &clCvalue(s2v(L->ci->func))->upvalue[3]);
  else {
    env_steps(L, 4);  /* a nil require: no key (require_for raises first, as a rule) */
    lua_pushvalue(L, U_ENV_MT);
    lua_setmetatable(L, 5);
  }
  return 1;
}

/* make_env(E, P) without a call, for the C spawn (lspawn.c): when f is make_env itself, LOADED[P]
** is nil (nothing to clear) and REQUIRE[E] is set (no require_for to call), make_env's steps for
** that case: pushes the environment, 1; else 0 (the caller calls f) */
int luaW_env_make_at (lua_State *L, const TValue *f, const TValue *E, const TValue *P) {
  CClosure *cl;
  const TValue *req;
  if (!ttisCclosure(f) || clCvalue(f)->f != make_env) return 0;
  cl = clCvalue(f);
  if (!isempty(luaH_get(hvalue(&cl->upvalue[0]), P))) return 0;  /* LOADED[P]: to clear */
  req = luaH_get(hvalue(&cl->upvalue[1]), E);  /* REQUIRE[E] */
  if (isempty(req)) return 0;
  env_new(L, (const Shape *)getudatamem(uvalue(&cl->upvalue[6])), req, &cl->upvalue[3]);
  return 1;
}

/* compile(E, id) -> chunk | what the Lua compile returns (see the top) */
static int compile (lua_State *L) {
  lua_settop(L, 2);
  lua_pushvalue(L, 2);
  if (lua_rawget(L, U_COMPILED) != LUA_TNIL) return 1;
  lua_pop(L, 1);
  lua_pushvalue(L, U_COMPILE);
  lua_insert(L, 1);
  lua_call(L, 2, LUA_MULTRET);
  return lua_gettop(L);
}

/* compile(E, id) without a call, for the C spawn (lspawn.c): when f is compile itself and
** compiled[id] is set, *out = it and 1; else 0 (the caller calls f) */
int luaW_env_compile_at (lua_State *L, const TValue *f, const TValue *id, TValue *out) {
  const TValue *c;
  if (!ttisCclosure(f) || clCvalue(f)->f != compile) return 0;
  c = luaH_get(hvalue(&clCvalue(f)->upvalue[4]), id);
  if (isempty(c)) return 0;
  setobj(L, out, c);
  return 1;
}

/* envmaker(LOADED, REQUIRE, require_for, ENV_MT, compiled, compile) -> make_env, compile */
static int envmaker (lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  luaL_checktype(L, 2, LUA_TTABLE);
  luaL_checktype(L, 3, LUA_TFUNCTION);
  luaL_checktype(L, 4, LUA_TTABLE);
  luaL_checktype(L, 5, LUA_TTABLE);
  luaL_checktype(L, 6, LUA_TFUNCTION);
  lua_settop(L, 6);
  for (int i = 1; i <= 6; i++) lua_pushvalue(L, i);
  {  /* upvalue 7: the environment's Shape, its template anchored by the Shape's user value */
    Shape *sh = (Shape *)lua_newuserdatauv(L, sizeof(Shape), 1);
    TString *keys[2];
    memset(sh, 0, sizeof(Shape));
    lua_newtable(L);  /* the anchor */
    lua_pushboolean(L, 1);
    env_steps(L, lua_gettop(L));  /* the template: both values placeholders */
    lua_remove(L, -2);
    lua_pushliteral(L, "_G");
    keys[0] = tsvalue(s2v(L->top - 1));
    lua_pushliteral(L, "require");
    keys[1] = tsvalue(s2v(L->top - 1));
    lua_pop(L, 2);  /* both interned and keys of the template */
    luaW_shape_init(L, sh, lua_gettop(L) - 1, keys, 2);
    lua_setiuservalue(L, -2, 1);
  }
  lua_pushcclosure(L, make_env, 7);
  for (int i = 1; i <= 6; i++) lua_pushvalue(L, i);
  lua_pushcclosure(L, compile, 6);
  return 2;
}

/* pushes envmaker (lwippy.c puts it into wippy.native) */
int luaW_open_env (lua_State *L) {
  lua_pushcfunction(L, envmaker);
  return 1;
}
