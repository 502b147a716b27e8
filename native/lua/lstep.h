/*
** lstep.h: the step's outbox (lstep.c), for lcodec.c's encode_frame_out, which encodes a message
** frame straight into it.
*/
#ifndef lstep_h
#define lstep_h

#include "lua.h"

typedef struct LuaWOutbox LuaWOutbox;

/* The outbox userdata at idx (`wippy.native.step.outbox`), or a Lua error. */
LuaWOutbox *luaW_out_check (lua_State *L, int idx);

/* Appends len bytes at s as one frame for thread tid; returns 1 when the bytes held passed the
** outbox's mark (the count restarts), else 0. A Lua error for a bad tid or no memory (nothing
** appended). */
int luaW_out_put (lua_State *L, LuaWOutbox *o, lua_Integer tid, const char *s, size_t len);

/* Room for len more bytes at the end of tid's range (the range opened, the buffer grown), or a
** Lua error for a bad tid or no memory; nothing is appended until luaW_out_commit. */
char *luaW_out_room (lua_State *L, LuaWOutbox *o, lua_Integer tid, size_t len);

/* Appends the len bytes written at luaW_out_room's address (len at most what it was given) as
** one frame for tid: luaW_out_put's count and result. */
int luaW_out_commit (LuaWOutbox *o, lua_Integer tid, size_t len);

/* lcodec.c's encode_frame_out for k + n scalar arguments from slot base (a1..ak, v1..vn), without
** a Lua call (lsend.c's send to another worker): what luaW_out_put returns, or -1 with nothing
** appended when they are not all strings, numbers and booleans that fit a small frame. */
int luaW_frame_out_at (lua_State *L, LuaWOutbox *o, lua_Integer tid, int base, int k, int n);
#endif
