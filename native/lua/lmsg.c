/*
** lmsg.c: two steps of the kernel's per-message path in C (`wippy.native`.msg, opened by
** lwippy.c): the scheduler's resume of a process thread (sched.lua, resume_thread) and the
** payload list of a same-worker send (process.lua, process.send).
**
** Why these two, from the profile of a same-worker ping-pong on our module without the count
** hook (docs/design/native-core.md, "The per-message path"): a message costs ~435 VM
** instructions in ~30 Lua and C calls and three new tables (328 bytes); the time is in the VM
** (luaV_execute ~40%, field lookups ~15%, allocation and collection ~10%), spread over a dozen
** kernel functions that each read and write fields of kernel tables. C reaching the same tables
** through the C API is not cheaper per field than the VM (measured in one state of this module:
** a C API step on a table costs about a GETFIELD instruction, and a Lua->C call ~1.5-2x a
** Lua->Lua call), so a step moves to C only where it removes calls and steps instead of adding
** them; moving the mailbox and channel state itself into C-owned memory is the larger step left
** (that note says what it needs; its session-6 part measures a half-way step, a message's
** arrival and the front of a receive each in one C call over the same Lua tables: no cheaper
** than the Lua, so it was removed). These two remove calls:
**   - resume(co, n, a1, a2) -> code, r1, r2: coroutine.resume followed by coroutine.status(co)
**     == "dead", the two C calls resume_thread made per resume, in one, without the `true` the
**     caller only compared and the status string it only compared. code: 0 the thread yielded
**     (suspended), 1 it returned (dead), 2 it raised (r1 = the error value). Exactly
**     coroutine.resume's steps, checks and messages (Lua 5.4.4's auxresume: "too many
**     arguments/results to resume"; lua_resume's "cannot resume dead coroutine", "cannot resume
**     non-suspended coroutine"); n is
**     the count of arguments passed (0, 1, anything else 2: the thread record's a1, a2). Like
**     coroutine.resume it calls lua_resume from the calling thread, so the yield fast path
**     (patch 0001: nCbase) and the count hook behave as with it.
**   - packer(copy) -> pack; pack(...) -> p | nil, message: p[i] = copy(select(i, ...)) for every
**     argument, as process.send's loop did with a select and a copy call per argument; here the
**     copy (the codec's, given once) is called only for values it would not return unchanged
**     (tables, userdata, functions, threads): nil, booleans, numbers and strings are stored as
**     they are. The first copy that fails ends it with its message (the loop's order). The
**     table is the loop's table: with no nil argument it is presized to the arguments (the
**     array part a sequence grown by p[i] = v ends with: the same `#` and `next` order); with a
**     nil among them it is grown by raw sets in the loop's order (a nil set adds no key), so its
**     layout is the loop's exactly.
**
** What it may call: the Lua C API, and the copy function it is given.
** On wasmoon's module (no wippy.native) the kernel keeps its Lua code for both;
** test/native-msg.test.ts runs both on the same cases and requires the same results.
*/
#include "lua.h"
#include "lauxlib.h"

/* resume(co, n, a1, a2) -> code, r1, r2 (see the top) */
static int m_resume (lua_State *L) {
  lua_State *co = lua_tothread(L, 1);
  lua_Integer n = luaL_checkinteger(L, 2);
  int status, nres;
  luaL_argexpected(L, co, 1, "coroutine");
  if (n != 0 && n != 1) n = 2;  /* as resume_thread's Lua: 0, 1, else a1 and a2 */
  lua_settop(L, 2 + (int)n);  /* the n arguments on top */
  /* lcorolib.c auxresume's steps, the same checks and messages (lua_resume itself refuses a
  ** dead or running coroutine) */
  if (!lua_checkstack(co, (int)n)) {
    lua_pushinteger(L, 2);
    lua_pushliteral(L, "too many arguments to resume");
    return 2;
  }
  lua_xmove(L, co, (int)n);
  status = lua_resume(co, L, (int)n, &nres);
  if (status == LUA_OK || status == LUA_YIELD) {
    if (!lua_checkstack(L, nres + 1)) {
      lua_pop(co, nres);
      lua_pushinteger(L, 2);
      lua_pushliteral(L, "too many results to resume");
      return 2;
    }
    /* LUA_OK: the body returned, the thread is dead (its results leave its stack);
    ** LUA_YIELD: suspended */
    lua_pushinteger(L, status == LUA_OK ? 1 : 0);
    lua_xmove(co, L, nres);
    return 1 + nres;
  }
  lua_pushinteger(L, 2);
  lua_xmove(co, L, 1);  /* the error value */
  return 2;
}

/* pack(...) -> p | nil, message (see the top); upvalue 1: the copy function */
static int m_pack (lua_State *L) {
  int n = lua_gettop(L);
  int i, holes = 0;
  for (i = 1; i <= n; i++) if (lua_isnil(L, i)) { holes = 1; break; }
  luaL_checkstack(L, 4, "pack");
  lua_createtable(L, holes ? 0 : n, 0);
  for (i = 1; i <= n; i++) {
    switch (lua_type(L, i)) {
      case LUA_TNIL: case LUA_TBOOLEAN: case LUA_TNUMBER: case LUA_TSTRING:
        lua_pushvalue(L, i);
        break;
      default:
        lua_pushvalue(L, lua_upvalueindex(1));
        lua_pushvalue(L, i);
        lua_call(L, 1, 2);  /* copy(v) -> c | nil, message */
        if (!lua_isnil(L, -1)) {  /* failed: nil, its message */
          lua_pushnil(L);
          lua_insert(L, -2);
          return 2;
        }
        lua_pop(L, 1);
        break;
    }
    lua_rawseti(L, n + 1, i);
  }
  return 1;
}

/* packer(copy) -> pack */
static int m_packer (lua_State *L) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  lua_settop(L, 1);
  lua_pushcclosure(L, m_pack, 1);
  return 1;
}

int luaW_open_msg (lua_State *L) {
  static const luaL_Reg fns[] = { { "resume", m_resume }, { "packer", m_packer }, { NULL, NULL } };
  luaL_newlib(L, fns);
  return 1;
}
