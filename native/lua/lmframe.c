/*
** lmframe.c: a message frame of one plain value, written from the values themselves straight into
** the step's outbox (lstep.c): lsend.c's send to another worker's process.
**
** What it writes: the bytes lcodec.c's encode_frame_out(outbox, tid, 5, "m", dest, from, topic,
** 1, v) appends — encode({ "m", dest, from, topic, 1, { v } }) (protocol.md's "m" frame with one
** payload) — when dest, from and topic are strings and v a string, a number or a boolean, and the
** frame takes at most MFRAME_MAX bytes: a fixarray of 6; each string as enc_elem writes it (a
** fixstr under 32 bytes, else str 8/16/32: lcodec.c's header); 1 as a positive fixint; a fixarray
** of 1; v as enc_elem writes it (a string as above; an integer as enc_int: the smallest of
** fixint, negative fixint, uint 8/16/32/64, int 8/16/32/64 that holds it, tried in enc_int's
** order; a float as float 64, whatever its value; true/false as 0xc3/0xc2). Anything else (a nil,
** a table, a frame past MFRAME_MAX: MAX_BYTES and the codec's scratch are lcodec.c's concern) is
** -1, nothing appended, and the caller takes lcodec.c's path as before. test/mframe.test.ts
** compares the bytes with the Lua send's (WIPPY_CSCHED=0: lcodec.c's encode_frame_out; wasmoon's
** module: codec.lua) for every width of every shape.
**
** Why (docs/design/scheduler.md, "Session 15: the crossing send"): lcodec.c's scalar path takes
** its arguments from the Lua stack (lsend.c pushed six values for it), asks the C API for each
** one's type, length and bytes (lua_type, lua_rawlen, lua_tolstring: calls with index2value's
** checks), writes into a buffer on the C stack and copies that into the outbox; and every memcpy
** of the module is wasm's memory.copy, which V8 (13.6, Node 24) runs as a call out to C++
** (memory_copy_wrapper, relaxed_memmove): five per message (four strings and the frame). In a
** profile of the sending worker of a fan-in those were ~35% of its CPU. Here the values are read
** as TValues, the bytes written once, where the host copies them from, and strings copied 8 bytes
** at a time in the wasm (the function is no_builtin: clang would turn the loop back into memcpy).
*/
#include <stdint.h>
#include <string.h>
#include "lua.h"
#include "lobject.h"
#include "lstring.h"
#include "lstep.h"
#include "lmframe.h"

/* The largest frame written here (a bound, with room for the 8-byte copies' overrun). */
#define MFRAME_MAX 4096
#define SLACK 8

/* a string's bytes as enc_elem writes it (header and bytes); -> its size */
static size_t str_size (const TValue *o) {
  size_t l = tsslen(tsvalue(o));
  return l + (l < 32 ? 1 : l < 0x100 ? 2 : l < 0x10000 ? 3 : 5);
}

/* v's size as enc_elem writes it, or 0 when it is not a plain value */
static size_t value_size (const TValue *v) {
  if (ttisstring(v)) return str_size(v);
  if (ttisnumber(v)) return 9;  /* a bound */
  if (ttisboolean(v)) return 1;
  return 0;
}

static unsigned char *be (unsigned char *d, uint64_t v, int n) {
  int i;
  for (i = n - 1; i >= 0; i--) { d[i] = (unsigned char)v; v >>= 8; }
  return d + n;
}

/* lcodec.c's header for a string of l bytes, then the bytes: 8 at a time (the room has SLACK past
** the frame's bound, so the last word may run over; it is overwritten or not committed) */
__attribute__((no_builtin("memcpy")))
static unsigned char *put_str (unsigned char *d, const TValue *o) {
  const TString *ts = tsvalue(o);
  size_t l = tsslen(ts), i;
  const char *s = getstr(ts);
  if (l < 32) *d++ = (unsigned char)(0xa0 + l);
  else if (l < 0x100) { *d++ = 0xd9; *d++ = (unsigned char)l; }
  else if (l < 0x10000) { *d++ = 0xda; d = be(d, l, 2); }
  else { *d++ = 0xdb; d = be(d, l, 4); }
  for (i = 0; i + 8 <= l; i += 8) {
    uint64_t w;
    __builtin_memcpy(&w, s + i, 8);  /* a constant size: an i64 load and store */
    __builtin_memcpy(d + i, &w, 8);
  }
  for (; i < l; i++) d[i] = (unsigned char)s[i];
  return d + l;
}

/* lcodec.c's enc_int */
static unsigned char *put_int (unsigned char *d, lua_Integer v) {
  if (v >= 0 && v <= 127) *d++ = (unsigned char)v;
  else if (v >= -32 && v < 0) *d++ = (unsigned char)(v + 256);
  else if (v >= 128 && v <= 255) { *d++ = 0xcc; *d++ = (unsigned char)v; }
  else if (v >= -128 && v < -32) { *d++ = 0xd0; *d++ = (unsigned char)(v + 256); }
  else if (v > 0) {
    if (v < 0x10000) { *d++ = 0xcd; d = be(d, (uint64_t)v, 2); }
    else if (v < 0x100000000LL) { *d++ = 0xce; d = be(d, (uint64_t)v, 4); }
    else { *d++ = 0xcf; d = be(d, (uint64_t)v, 8); }
  }
  else {
    if (v >= -0x8000) { *d++ = 0xd1; d = be(d, (uint64_t)v, 2); }
    else if (v >= -0x80000000LL) { *d++ = 0xd2; d = be(d, (uint64_t)v, 4); }
    else { *d++ = 0xd3; d = be(d, (uint64_t)v, 8); }
  }
  return d;
}

int luaW_mframe_out (lua_State *L, LuaWOutbox *o, lua_Integer tid, TString *m, const TValue *dest,
                     const TValue *from, const TValue *topic, const TValue *v) {
  size_t need, vs;
  unsigned char *b, *d;
  TValue mv;
  if (!ttisstring(dest) || !ttisstring(from) || !ttisstring(topic) || (vs = value_size(v)) == 0)
    return -1;
  setsvalue(L, &mv, m);
  need = 1 + str_size(&mv) + str_size(dest) + str_size(from) + str_size(topic) + 1 + 1 + vs;
  if (need > MFRAME_MAX) return -1;
  b = d = (unsigned char *)luaW_out_room(L, o, tid, need + SLACK);
  *d++ = 0x96;  /* { "m", dest, from, topic, 1, { v } } */
  d = put_str(d, &mv);
  d = put_str(d, dest);
  d = put_str(d, from);
  d = put_str(d, topic);
  *d++ = 0x01;
  *d++ = 0x91;
  if (ttisstring(v)) d = put_str(d, v);
  else if (ttisinteger(v)) d = put_int(d, ivalue(v));
  else if (ttisfloat(v)) {
    union { double f; uint64_t u; } x;
    x.f = fltvalue(v);
    *d++ = 0xcb;
    d = be(d, x.u, 8);
  }
  else *d++ = ttistrue(v) ? 0xc3 : 0xc2;
  return luaW_out_commit(o, tid, (size_t)(d - b));
}
