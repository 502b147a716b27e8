/*
** lstep.c: a kernel step's input and output through one block of the module's memory, and the
** step's outbox (the `wippy.native.step` table: input, output, block, put, outbox).
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
**   [6] ranges returned: n; then n × (thread id, address of the bytes, length, frames in them)
**       (at most MAXF)
** Written by the host before the call and by output() inside it, read by input() inside the call
** and by the host after it: one thread, one call at a time (several Lua states of one module
** share the block; a step never runs inside another).
**
** The outbox (session 9). The frames a step sends to other workers, held per destination as the
** bytes the host's endpoint batches anyway (a batch is its frames concatenated: protocol.md), in
** C buffers of the state (a userdata, upvalue of put, output and lcodec.c's encode_frame_out):
** put(tid, s) appends a frame's bytes, encode_frame_out (lcodec.c) encodes a message frame
** straight into them (and lsend.c's send to another worker writes a plain value's frame there
** through luaW_out_room and luaW_out_commit: lmframe.c), and output() reports one range per destination, in the order the
** destinations were first written to, with its frame count. Before, every frame was a Lua string
** (an encoded message frame of ~35 bytes is a short string: hashed and interned, 5-6% of a
** cross-worker round trip's CPU in bench/xstep.ts's profile), held in Lua lists (pids.lua
** send_bytes), returned from the step as values (take_out) and anchored here until the host had
** copied it, one range per frame. Frames for one destination keep their order: every frame for a
** worker goes through put or encode_frame_out (pids.lua). A buffer is reused from step to step;
** one that grew past OUT_KEEP is given back at its next use after the step that filled it (the
** host has copied it by then).
**
** input() -> address, length, now | nil, nil, now                 (the arguments of sched.step)
** output(nxt, more, [tid, n, frame × n] ...)                     (pids.lua take_out's groups)
**   records nxt, more, the outbox's ranges (and empties it), then every frame given as an
**   argument: its thread id, address and length; the frame strings are kept in the function's
**   anchor table (upvalue 1, slots 1..n) until the next output(), so the bytes stay where the
**   block says until the host has copied them (it does, before the next step). More than MAXF
**   ranges is an error (take_out returns at most 60 values: 58 frames; the outbox holds one range
**   per destination, at most 255).
** put(tid, s) -> past: s's bytes appended to tid's range; past: the bytes held since the mark was
**   last passed (or the last output) now exceed the mark (outbox(mark) sets it), which restarts
**   the count (pids.lua ends the step: OUT_STEP_BYTES)
** outbox -> the outbox userdata (lcodec.c's encode_frame_out takes it as its first argument)
** block -> the block's address (an integer), read once by the host.
**
** On wasmoon's module there is no wippy.native: init.lua's __step takes its arguments and
** returns its results on the Lua stack as before, and the host reads them there.
*/
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "lua.h"
#include "lauxlib.h"
#include "lstep.h"

#define B_MODE 0
#define B_ADDR 1
#define B_LEN 2
#define B_NOW 3
#define B_NXT 4
#define B_MORE 5
#define B_N 6
#define B_FRAMES 7
#define B_STRIDE 4
#define MAXF 256

static double block[B_FRAMES + B_STRIDE * MAXF];

/* ---- the outbox ---- */
#define OUT_TIDS 256  /* thread ids 0..255 (the doorbell's size, src/shm/layout.ts) */
#define OUT_KEEP (256 * 1024)  /* a buffer larger than this is given back after its step */
typedef struct Out { char *b; size_t len, cap; lua_Integer tid; lua_Integer frames; } Out;
struct LuaWOutbox {
  Out out[OUT_TIDS];  /* in first-write order, nout of them */
  unsigned short at[OUT_TIDS];  /* tid -> its index in out + 1 (0: none this step) */
  int nout;
  size_t held, mark;  /* bytes since the mark was last passed; the mark (0: none) */
};

char *luaW_out_room (lua_State *L, LuaWOutbox *o, lua_Integer tid, size_t len) {
  Out *d;
  if (tid < 0 || tid >= OUT_TIDS) { luaL_error(L, "outbox: thread id %d out of range", (int)tid); return NULL; }
  if (o->at[tid] == 0) {
    d = &o->out[o->nout];
    o->at[tid] = (unsigned short)(++o->nout);
    if (d->cap > OUT_KEEP) { free(d->b); d->b = NULL; d->cap = 0; }  /* copied out by the host */
    d->tid = tid;
    d->len = 0;
    d->frames = 0;
  } else d = &o->out[o->at[tid] - 1];
  if (d->len + len > d->cap) {
    size_t cap = d->cap ? d->cap : 256;
    char *b;
    while (cap < d->len + len) cap *= 2;
    b = (char *)realloc(d->b, cap);
    if (b == NULL) { luaL_error(L, "not enough memory"); return NULL; }
    d->b = b;
    d->cap = cap;
  }
  return d->b + d->len;
}

int luaW_out_commit (LuaWOutbox *o, lua_Integer tid, size_t len) {
  Out *d = &o->out[o->at[tid] - 1];
  d->len += len;
  d->frames++;
  o->held += len;
  if (o->mark > 0 && o->held > o->mark) { o->held = 0; return 1; }
  return 0;
}

int luaW_out_put (lua_State *L, LuaWOutbox *o, lua_Integer tid, const char *s, size_t len) {
  memcpy(luaW_out_room(L, o, tid, len), s, len);
  return luaW_out_commit(o, tid, len);
}

LuaWOutbox *luaW_out_check (lua_State *L, int idx) {
  return (LuaWOutbox *)luaL_checkudata(L, idx, "wippy.outbox");
}

/* put(tid, s) -> past the mark (upvalue 1: the outbox) */
static int put (lua_State *L) {
  LuaWOutbox *o = (LuaWOutbox *)lua_touserdata(L, lua_upvalueindex(1));
  size_t len;
  lua_Integer tid = luaL_checkinteger(L, 1);
  const char *s = luaL_checklstring(L, 2, &len);
  lua_pushboolean(L, luaW_out_put(L, o, tid, s, len));
  return 1;
}

/* outbox_mark(mark): put and encode_frame_out report when the bytes held pass it */
static int outbox_mark (lua_State *L) {
  LuaWOutbox *o = (LuaWOutbox *)lua_touserdata(L, lua_upvalueindex(1));
  lua_Integer m = luaL_checkinteger(L, 1);
  luaL_argcheck(L, m >= 0, 1, "a non-negative byte count expected");
  o->mark = (size_t)m;
  return 0;
}

/* the outbox's __gc: the buffers */
static int outbox_gc (lua_State *L) {
  LuaWOutbox *o = (LuaWOutbox *)lua_touserdata(L, 1);
  int i;
  for (i = 0; i < OUT_TIDS; i++) { free(o->out[i].b); o->out[i].b = NULL; o->out[i].cap = 0; }
  return 0;
}

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
  LuaWOutbox *o = (LuaWOutbox *)lua_touserdata(L, lua_upvalueindex(2));
  int top = lua_gettop(L);
  int i = 3, k = 0, a = 0;
  block[B_NXT] = lua_tonumber(L, 1);
  block[B_MORE] = lua_toboolean(L, 2);
  for (i = 0; i < o->nout; i++) {  /* the outbox: one range per destination, then emptied */
    Out *d = &o->out[i];
    if (k == MAXF) return luaL_error(L, "step output: more than %d ranges", MAXF);
    block[B_FRAMES + B_STRIDE * k] = (double)d->tid;
    block[B_FRAMES + B_STRIDE * k + 1] = (double)(uintptr_t)d->b;
    block[B_FRAMES + B_STRIDE * k + 2] = (double)d->len;
    block[B_FRAMES + B_STRIDE * k + 3] = (double)d->frames;
    k++;
    o->at[d->tid] = 0;
  }
  o->nout = 0;
  o->held = 0;
  i = 3;
  while (i < top) {
    lua_Integer tid = luaL_checkinteger(L, i);
    lua_Integer n = luaL_checkinteger(L, i + 1);
    lua_Integer j;
    luaL_argcheck(L, n >= 0 && n <= top - i - 1, i + 1, "frame count past the arguments");
    for (j = 0; j < n; j++) {
      size_t len;
      const char *s = luaL_checklstring(L, i + 2 + (int)j, &len);
      if (k == MAXF) return luaL_error(L, "step output: more than %d ranges", MAXF);
      block[B_FRAMES + B_STRIDE * k] = (double)tid;
      block[B_FRAMES + B_STRIDE * k + 1] = (double)(uintptr_t)s;
      block[B_FRAMES + B_STRIDE * k + 2] = (double)len;
      block[B_FRAMES + B_STRIDE * k + 3] = 1;
      k++;
      lua_pushvalue(L, i + 2 + (int)j);
      lua_rawseti(L, lua_upvalueindex(1), ++a);
    }
    i += 2 + (int)n;
  }
  /* the previous step's anchors past this one's: released */
  for (i = a + 1; lua_rawgeti(L, lua_upvalueindex(1), i) != LUA_TNIL; i++) {
    lua_pop(L, 1);
    lua_pushnil(L);
    lua_rawseti(L, lua_upvalueindex(1), i);
  }
  lua_pop(L, 1);
  block[B_N] = k;
  return 0;
}

/* pushes { input, output, block, put, outbox_mark, outbox } (one outbox per state) */
int luaW_open_step (lua_State *L) {
  LuaWOutbox *o;
  lua_createtable(L, 0, 6);
  o = (LuaWOutbox *)lua_newuserdatauv(L, sizeof(LuaWOutbox), 0);
  memset(o, 0, sizeof(LuaWOutbox));
  if (luaL_newmetatable(L, "wippy.outbox")) {
    lua_pushcfunction(L, outbox_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
  }
  lua_setmetatable(L, -2);
  lua_pushvalue(L, -1);
  lua_setfield(L, -3, "outbox");
  lua_pushcfunction(L, input);
  lua_setfield(L, -3, "input");
  lua_createtable(L, 64, 0);  /* the anchor table */
  lua_pushvalue(L, -2);
  lua_pushcclosure(L, output, 2);
  lua_setfield(L, -3, "output");
  lua_pushvalue(L, -1);
  lua_pushcclosure(L, put, 1);
  lua_setfield(L, -3, "put");
  lua_pushcclosure(L, outbox_mark, 1);  /* pops the outbox */
  lua_setfield(L, -2, "outbox_mark");
  lua_pushinteger(L, (lua_Integer)(uintptr_t)block);
  lua_setfield(L, -2, "block");
  return 1;
}
