/*
** lproc.c: a dead coroutine made ready to run again (`wippy.native`.rebind, opened by lwippy.c),
** so the kernel can keep the coroutines of processes that returned and give them to new
** processes (src/lua/kernel/copool.lua) instead of making one per spawn.
**
** Why: a coroutine is the largest object a spawn makes. On wasm32 lua_newthread allocates its
** lua_State and a 45-slot stack (856 bytes), the first resume adds CallInfos and grows the stack
** (~100 more), and the collector later traverses and frees all of it: measured with the
** spawn-exit bench (docs/design/native-core.md, "The cost of a spawn"), ~960 of the ~2,700 bytes
** one monitored spawn+exit allocates. Lua has no way to restart a dead coroutine: coroutine.resume
** refuses it ("cannot resume dead coroutine") and coroutine.close leaves it dead; in C a thread
** whose body returned is a thread with an empty stack and no call running, which is exactly what
** lua_newthread makes, so pushing a function on it makes it a fresh coroutine again.
**
**   rebind(co, f) -> true | false
**     co is dead after a normal return (lcorolib.c auxstatus's COS_DEAD: status LUA_OK, no call
**     running, nothing on its stack): f is pushed on it and it is then, to coroutine.resume and
**     coroutine.status, a coroutine just made with coroutine.create(f); true. Anything else (a
**     suspended, running or normal coroutine, one that died by an error, the calling thread
**     itself): untouched, false.
**
** Why that is a fresh coroutine: after a normal return lua_resume has left L->ci at base_ci,
** L->status LUA_OK, no open upvalues and no to-be-closed variables (luaD_poscall closed them),
** nCcalls back at its base; what remains of the previous body is only the stack's size (kept,
** shrunk by the collector like any thread's) and the thread's hook, which stays set: the caller
** sets it again for the new process (copool.lua keeps hooked and unhooked coroutines apart).
** A coroutine that died by an error keeps its error on its stack and status; it is never reused.
**
** luaW_rebind_at: the same steps without a call frame, for the C spawn's take (lspawn.c), when the
** value it would call is rebind itself (session 13).
**
** What it may call: the Lua C API. On wasmoon's module (no wippy.native) copool.lua makes a new
** coroutine per spawn, as before; test/native-proc.test.ts runs both.
*/
#include "lua.h"
#include "lauxlib.h"

#include "lobject.h"
#include "lstate.h"
#include "lgc.h"

/* rebind's steps for coroutine co and function f (any value: the caller checked it is one);
** -> 1 when co was made to run f, 0 when it is left alone */
static int rebind_steps (lua_State *L, lua_State *co, const TValue *f) {
  lua_Debug ar;
  if (co == L || lua_status(co) != LUA_OK || lua_getstack(co, 0, &ar) || lua_gettop(co) != 0
      || !lua_checkstack(co, 1))
    return 0;
  setobj2s(co, co->top, f);  /* lua_xmove's step (no barrier: a thread is re-marked at the atomic step) */
  co->top++;
  return 1;
}

static int p_rebind (lua_State *L) {
  lua_State *co = lua_tothread(L, 1);
  luaL_argexpected(L, co, 1, "coroutine");
  luaL_checktype(L, 2, LUA_TFUNCTION);
  lua_pushboolean(L, rebind_steps(L, co, s2v(L->ci->func + 2)));
  return 1;
}

/* rebind(co, f) without a call, for the C spawn (lspawn.c's take): when rb is rebind itself,
** co a coroutine and f a function (the cases in which rebind neither raises nor is another
** function), *ok = rebind's result and 1; else 0 (the caller calls rb) */
int luaW_rebind_at (lua_State *L, const TValue *rb, const TValue *co, const TValue *f, int *ok) {
  if (!ttislcf(rb) || fvalue(rb) != p_rebind || !ttisthread(co) || !ttisfunction(f)) return 0;
  *ok = rebind_steps(L, thvalue(co), f);
  return 1;
}

/* Pushes rebind. */
int luaW_open_proc (lua_State *L) {
  lua_pushcfunction(L, p_rebind);
  return 1;
}
