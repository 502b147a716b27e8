/*
** lwippy.c: the standard libraries of our Lua module, plus `wippy.native`, the kernel's hot
** paths in C.
**
** wasmoon's JS opens a state's libraries with luaL_openlibs (its `openStandardLibs`), so this
** file defines it in place of Lua's linit.c (scripts/build-lua-wasm.sh compiles this one instead):
** the same libraries in the same order as linit.c, then `wippy.native` put into
** package.loaded (no global: the kernel looks it up there, processes never see `package`).
** On wasmoon's own module package.loaded["wippy.native"] is nil and every caller keeps its Lua
** implementation. Before the libraries, luaL_openlibs switches the state to lalloc.c's allocator
** (small blocks from pages of one size class, the rest dlmalloc's) when it runs lauxlib's l_alloc.
**
** wippy.native:
**   codec(is_error, error_fields, make_error [, registry]) -> the value codec in C (lcodec.c)
**   msg                                                     { resume, packer }:
**                                                           per-message steps in C (lmsg.c)
**   counthook(fn, count) -> set(co): the budget hook as a C count hook (lhook.c)
**   rebind(co, f) -> bool                                   a dead coroutine made to run f (lproc.c)
**   runner(probe) -> run                                    the run loop's common case (lsched.c)
**   deliverer(sched_probe, mbox_probe) -> deliver            a message's arrival (ldeliver.c)
**   sender(deliver, probe) -> send                          process.send's common case (lsend.c)
**   receiver(probe) -> receive                              a channel receive's common cases (lrecv.c)
**   jobslot(frame_sp, start_slot, frame_spj, tstart, sched_probe, taskq_probe) -> slot, spj
**                                                           a START slot's round (ljob.c)
**   spawn                                                   { exiter, spawner }: a process's start
**                                                           and end's common case (lspawn.c,
**                                                           lqspawn.c: a queued one, lexit.c)
**   eventer(deliver, ev_probe) -> arrive, take              an event's arrival and the events
**                                                           channel's take (levent.c)
**   envmaker(LOADED, REQUIRE, require_for, ENV_MT, compiled, compile) -> make_env, compile
**                                                           a process's environment and its entry's
**                                                           chunk (lenv.c)
**   step                                                    { input, output, block }: a step's
**                                                           input and output in memory (lstep.c)
**   version                                                 1
*/
#include "lua.h"
#include "lualib.h"
#include "lauxlib.h"

int luaW_open_codec (lua_State *L);  /* lcodec.c: pushes the codec constructor */
int luaW_open_msg (lua_State *L);  /* lmsg.c: pushes { resume, packer } */
int luaW_open_hook (lua_State *L);  /* lhook.c: pushes counthook */
int luaW_open_proc (lua_State *L);  /* lproc.c: pushes rebind */
int luaW_open_sched (lua_State *L);  /* lsched.c: pushes runner */
int luaW_open_deliver (lua_State *L);  /* ldeliver.c: pushes deliverer */
int luaW_open_send (lua_State *L);  /* lsend.c: pushes sender */
int luaW_open_recv (lua_State *L);  /* lrecv.c: pushes receiver */
int luaW_open_step (lua_State *L);  /* lstep.c: pushes { input, output, block } */
int luaW_open_job (lua_State *L);  /* ljob.c: pushes jobslot */
int luaW_open_spawn (lua_State *L);  /* lspawn.c: pushes { exiter } */
int luaW_open_event (lua_State *L);  /* levent.c: pushes eventer */
int luaW_open_env (lua_State *L);  /* lenv.c: pushes envmaker */
void luaW_alloc_install (lua_State *L);  /* lalloc.c: small blocks from pages, as L's allocator */
int luaW_hostcall (lua_State *L);  /* lhostfn.c: hostcall, for tests */

static int luaopen_wippy_native (lua_State *L) {
  lua_createtable(L, 0, 4);
  luaW_open_codec(L);
  lua_setfield(L, -2, "codec");
  luaW_open_msg(L);
  lua_setfield(L, -2, "msg");
  luaW_open_hook(L);
  lua_setfield(L, -2, "counthook");
  luaW_open_proc(L);
  lua_setfield(L, -2, "rebind");
  luaW_open_sched(L);
  lua_setfield(L, -2, "runner");
  luaW_open_deliver(L);
  lua_setfield(L, -2, "deliverer");
  luaW_open_send(L);
  lua_setfield(L, -2, "sender");
  luaW_open_recv(L);
  lua_setfield(L, -2, "receiver");
  luaW_open_step(L);
  lua_setfield(L, -2, "step");
  luaW_open_job(L);
  lua_setfield(L, -2, "jobslot");
  luaW_open_spawn(L);
  lua_setfield(L, -2, "spawn");
  luaW_open_event(L);
  lua_setfield(L, -2, "eventer");
  luaW_open_env(L);
  lua_setfield(L, -2, "envmaker");
  lua_pushcfunction(L, luaW_hostcall);
  lua_setfield(L, -2, "hostcall");
  lua_pushinteger(L, 1);
  lua_setfield(L, -2, "version");
  return 1;
}

static const luaL_Reg loadedlibs[] = {
  {LUA_GNAME, luaopen_base},
  {LUA_LOADLIBNAME, luaopen_package},
  {LUA_COLIBNAME, luaopen_coroutine},
  {LUA_TABLIBNAME, luaopen_table},
  {LUA_IOLIBNAME, luaopen_io},
  {LUA_OSLIBNAME, luaopen_os},
  {LUA_STRLIBNAME, luaopen_string},
  {LUA_MATHLIBNAME, luaopen_math},
  {LUA_UTF8LIBNAME, luaopen_utf8},
  {LUA_DBLIBNAME, luaopen_debug},
  {NULL, NULL}
};

LUALIB_API void luaL_openlibs (lua_State *L) {
  const luaL_Reg *lib;
  luaW_alloc_install(L);  /* the state's allocator, before the libraries allocate (lalloc.c) */
  for (lib = loadedlibs; lib->func; lib++) {
    luaL_requiref(L, lib->name, lib->func, 1);
    lua_pop(L, 1);
  }
  luaL_requiref(L, "wippy.native", luaopen_wippy_native, 0);
  lua_pop(L, 1);
}
