/*
** lstep.c: a kernel step's input and output through one block of the module's memory (the
** `wippy.native.step` table: input, output, block).
**
** Why. The host (src/lua/engine.ts step) entered a step with nine calls from JS into the module
** — lua_getglobal, three pushes (the input area's address and length, the clock), lua_pcallk,
** two reads of the results (the next timer, more to run), lua_settop — and read each frame the
** step returned for another worker with four more (its thread id, the group's count, the string,
** its length). A call from JS into wasm is ~26-40 ns (Node 24, one Lua state of our module: a
** loop of lua_gettop), so an empty step cost ~550 ns before any Lua ran (a __step that returns
** at once; the whole empty step ~800 ns). With the block the host writes the input into the
** block (typed-array stores, no call), enters with lua_getglobal and lua_pcallk (two calls), and
** reads the results and the frames' addresses from the block (typed-array loads, no call).
**
** The block, doubles (the host's view is the module's HEAPF64 at `block` / 8):
**   [0] input mode: 0 none, 1 the input area ([1] its address, [2] the bytes in it)
**   [3] the step's clock (performance.now() ms)
**   [4] the next timer deadline (ms, -1 none)   [5] more to run (0/1)
**   [6] frames returned: n; then n × (thread id, address of the bytes, length)   (at most MAXF)
** Written by the host before the call and by output() inside it, read by input() inside the call
** and by the host after it: one thread, one call at a time (several Lua states of one module
** share the block; a step never runs inside another).
**
** input() -> address, length, now | nil, nil, now                 (the arguments of sched.step)
** output(nxt, more, [tid, n, frame × n] ...)                     (pids.lua take_out's groups)
**   records nxt, more and every frame's thread id, address and length; the frame strings are
**   kept in the function's anchor table (upvalue 1, slots 1..n) until the next output(), so the
**   bytes stay where the block says until the host has copied them (it does, before the next
**   step). More than MAXF frames is an error (take_out returns at most 60 values: 58 frames).
** block -> the block's address (an integer), read once by the host.
**
** On wasmoon's module there is no wippy.native: init.lua's __step takes its arguments and
** returns its results on the Lua stack as before, and the host reads them there.
*/
#include <stdint.h>
#include "lua.h"
#include "lauxlib.h"

#define B_MODE 0
#define B_ADDR 1
#define B_LEN 2
#define B_NOW 3
#define B_NXT 4
#define B_MORE 5
#define B_N 6
#define B_FRAMES 7
#define MAXF 64

static double block[B_FRAMES + 3 * MAXF];

static int input (lua_State *L) {
  if (block[B_MODE] == 1) {
    lua_pushnumber(L, block[B_ADDR]);
    lua_pushnumber(L, block[B_LEN]);
  } else {
    lua_pushnil(L);
    lua_pushnil(L);
  }
  lua_pushnumber(L, block[B_NOW]);
  return 3;
}

static int output (lua_State *L) {
  int top = lua_gettop(L);
  int i = 3, k = 0;
  block[B_NXT] = lua_tonumber(L, 1);
  block[B_MORE] = lua_toboolean(L, 2);
  while (i < top) {
    lua_Integer tid = luaL_checkinteger(L, i);
    lua_Integer n = luaL_checkinteger(L, i + 1);
    lua_Integer j;
    luaL_argcheck(L, n >= 0 && n <= top - i - 1, i + 1, "frame count past the arguments");
    for (j = 0; j < n; j++) {
      size_t len;
      const char *s = luaL_checklstring(L, i + 2 + (int)j, &len);
      if (k == MAXF) return luaL_error(L, "step output: more than %d frames", MAXF);
      block[B_FRAMES + 3 * k] = (double)tid;
      block[B_FRAMES + 3 * k + 1] = (double)(uintptr_t)s;
      block[B_FRAMES + 3 * k + 2] = (double)len;
      lua_pushvalue(L, i + 2 + (int)j);
      lua_rawseti(L, lua_upvalueindex(1), ++k);
    }
    i += 2 + (int)n;
  }
  /* the previous step's anchors past this one's: released */
  for (i = k + 1; lua_rawgeti(L, lua_upvalueindex(1), i) != LUA_TNIL; i++) {
    lua_pop(L, 1);
    lua_pushnil(L);
    lua_rawseti(L, lua_upvalueindex(1), i);
  }
  lua_pop(L, 1);
  block[B_N] = k;
  return 0;
}

/* pushes { input, output, block } */
int luaW_open_step (lua_State *L) {
  lua_createtable(L, 0, 3);
  lua_pushcfunction(L, input);
  lua_setfield(L, -2, "input");
  lua_createtable(L, MAXF, 0);  /* the anchor table */
  lua_pushcclosure(L, output, 1);
  lua_setfield(L, -2, "output");
  lua_pushinteger(L, (lua_Integer)(uintptr_t)block);
  lua_setfield(L, -2, "block");
  return 1;
}
