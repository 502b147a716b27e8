/*
** lmframe.h: a message frame of one plain value, from values, into the step's outbox (lmframe.c).
*/
#ifndef lmframe_h
#define lmframe_h

#include "lua.h"
#include "lobject.h"
#include "lstep.h"

/* The "m" frame { m, dest, from, topic, 1, { v } } (m: the interned "m") appended to tid's range
** of o, the bytes lcodec.c's encode_frame_out appends for it -> what luaW_out_put returns (past
** the mark), or -1 with nothing appended when dest, from and topic are not all strings, v not a
** string, number or boolean, or the frame larger than lmframe.c's bound (lcodec.c's path then). */
int luaW_mframe_out (lua_State *L, LuaWOutbox *o, lua_Integer tid, TString *m, const TValue *dest,
                     const TValue *from, const TValue *topic, const TValue *v);
#endif
