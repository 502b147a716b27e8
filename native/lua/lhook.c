/*
** lhook.c: `wippy.native.counthook(fn, count)`, the kernel's reduction-budget hook installed as a
** C count hook instead of through `debug.sethook`.
**
** What it owns: one registry slot (the light userdata key &HOOKKEY) holding the Lua function the
** hook calls. It calls only the Lua C API. The kernel (sched.lua `hook`) uses it on our module;
** on wasmoon's module `wippy.native` does not exist and the kernel keeps `debug.sethook`.
**
**   local set = native.counthook(budget_hook, HOOK_EVERY)   -- once per state
**   set(co)  --> co   -- a count hook every HOOK_EVERY instructions of thread co calls budget_hook()
**
** Why not debug.sethook: it keeps every hooked thread as a key of a weak-keyed table in the
** registry (ldblib.c `db_sethook`, so `debug.gethook` can return the function), one entry per
** process coroutine and per user coroutine. That table is an ephemeron table the collector
** traverses on every cycle and rehashes as threads come and go. Measured on a 1-worker host with
** the budget (Node 24, interleaved, CPU per operation): spawn+exit 30.2 µs without any hook
** against 41.3 µs with debug.sethook per process thread. Here the hook is one C function and
** one registry slot for all threads; nothing per thread but the lua_State's own hook fields.
** The call itself does less too: db_sethook's hookf looks the thread up in that table and pushes
** the event name and line; this one pushes the function and calls it with no arguments.
**
** Semantics kept: the count (lua_sethook's, counted by luaV_execute, patch 0006), the function
** called with the thread that ran the instructions as the running thread, its errors raised at
** the instruction the count reached (so the budget's kill unwinds the process as before), hooks
** off while it runs (luaD_hook's allowhook). Given up: debug.gethook(co) returns "external hook"
** instead of the function (nothing in the kernel or the sandbox reads it).
**
** luaW_hook_at: set(co)'s lua_sethook without a call frame, for the C spawn's take (lspawn.c), when
** the value it would call is a closure of set (session 13).
**
** One function per state: a second counthook(fn, ...) replaces the function for every thread
** already hooked (the kernel makes one, in sched.lua).
*/
#include <limits.h>

#include "lua.h"
#include "lauxlib.h"

#include "lobject.h"
#include "lstate.h"

static const char HOOKKEY = 'h';  /* its address is the registry key */

static void budgethook (lua_State *L, lua_Debug *ar) {
  (void)ar;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &HOOKKEY);
  lua_call(L, 0, 0);
}

/* set(co) -> co: the count hook on thread co, every upvalue(1) instructions */
static int sethook (lua_State *L) {
  lua_State *co = lua_tothread(L, 1);
  luaL_argexpected(L, co != NULL, 1, "thread");
  lua_sethook(co, budgethook, LUA_MASKCOUNT, (int)lua_tointeger(L, lua_upvalueindex(1)));
  lua_settop(L, 1);
  return 1;
}

/* set(co) without a call, for the C spawn (lspawn.c's take): when set is a closure of sethook and
** co a thread (the case in which set neither raises nor is another function), the same
** lua_sethook and 1; else 0 (the caller calls set) */
int luaW_hook_at (const TValue *set, const TValue *co) {
  if (!ttisCclosure(set) || clCvalue(set)->f != sethook || !ttisthread(co)) return 0;
  lua_sethook(thvalue(co), budgethook, LUA_MASKCOUNT, (int)ivalue(&clCvalue(set)->upvalue[0]));
  return 1;
}

/* counthook(fn, count) -> set */
static int counthook (lua_State *L) {
  lua_Integer count = luaL_checkinteger(L, 2);
  luaL_checktype(L, 1, LUA_TFUNCTION);
  luaL_argcheck(L, count > 0 && count <= INT_MAX, 2, "count out of range");
  lua_pushvalue(L, 1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &HOOKKEY);
  lua_pushinteger(L, count);
  lua_pushcclosure(L, sethook, 1);
  return 1;
}

/* pushes the counthook constructor (lwippy.c puts it into wippy.native) */
int luaW_open_hook (lua_State *L) {
  lua_pushcfunction(L, counthook);
  return 1;
}
