/*
** lcodec.c: the value codec of src/lua/lib/codec.lua in C, reading and writing Lua values
** directly (`wippy.native`.codec, opened by lwippy.c).
**
** What it owns: the MessagePack encoder, the decoder and the same-worker deep copy, with exactly
** the format, the limits (MAX_DEPTH 512 tables per encoded value, VALUE_DEPTH 500 per copied
** value, MAX_BYTES 64 MiB), the sharing and cycle rules (ext 1 references in first-encounter
** order) and the error messages of codec.lua, whose header is the specification; codec.lua
** installs these functions in place of its own when the module has them (our Lua module) and
** stays the implementation on wasmoon's module. test/native-codec.test.ts runs the same values
** through both and requires the same bytes, the same values and the same errors.
**
** Size: over 500 lines because the encoder, the decoder and the copy are one format with one set
** of limits, mirrored from one Lua file, and must change together with it and with each other
** (they share the seen set, the scratch and the limit messages).
**
** What it may call: the Lua C API, and the kernel's three error callbacks it is built with
** (is_error, error_fields, make_error, as in codec.lua). With a "registry" table (the kernel's
** weak table of error objects: is_error(v) == (registry[v] ~= nil)) it tests error objects with
** one raw lookup instead of a call into Lua per table.
**
** Identical, not just equivalent. Three details of codec.lua are observable and are mirrored
** step by step rather than improved:
**   - decoded tables are built in the order codec.lua builds them, with the same preallocation
**     (none for arrays, a hash part of `count` slots for maps of up to 16 entries): a Lua table's
**     layout, hence `#` of a table with holes and the order of `next`, depends on its insertion
**     history, and a decoded value is the same value in both, down to that;
**   - the first problem met in traversal order (`next` order) is the one reported, and the walk
**     of a table that turned out not to be a sequence (a hole) is rolled back exactly as there
**     (tables it numbered are forgotten, string bytes it counted stay counted);
**   - the MAX_BYTES lower bound codec.lua checks before concatenating (bytes of counted strings
**     plus one byte per part) is computed with the same parts.
** Two differences. A copy is built presized (keys counted first: the array part is the
** original's border when more than half of 1..border is present, the rest goes to the hash part),
** not grown key by key as codec.lua's is: the same value, but its `next` order and `#` where it
** has holes may differ from codec.lua's copy (neither is the original's anyway); presizing halves
** the copy's cost (the growth rehashes were most of it). And error objects nested in error objects through `details` do not count as
** levels in codec.lua's encoder (every decoder counts them, so such a value past 512 levels is
** refused on arrival); recursion in C must be bounded, so here more than MAX_DEPTH error objects
** nested in one another is the same "nested deeper" error as too many tables.
**
** Memory. Every buffer is a Lua userdata (the byte buffer, the seen-set's slots and list) or a
** Lua table (decoded tables by index, copies by index), so an error raised anywhere inside (a
** callback, the allocator, the memory cap) leaks nothing. They are reused between calls: a call
** takes them out of the closures' shared scratch table and puts them back when it ends, unless
** they grew past the sizes codec.lua keeps (4096 bytes, 256 tables); a nested call (a __gc
** finaliser encoding while a value is encoded) or a call after an error finds the slot empty and
** makes fresh ones. Bytes past MAX_BYTES are counted, not written.
**
** Three entry points of the cross-worker path have no codec.lua twin (docs/design/scheduler.md,
** "The cross-worker send, per message" and "The cross-worker receive, per message"):
** encode_frame, encode of a frame and its value list without making the two tables (the same
** bytes as encode of the tables, tested against both encoders); decode_at, decode reading the
** module's memory (the worker's input area) instead of a string (the kernel's only); and
** decode_m_at, a message frame's fields from there without its table (tested against decode_at).
** The kernel keeps its Lua path where they are missing.
**
** Budget. A C call is not interrupted by the count hook; the work is linear in what the value
** holds (tables are visited once, sharing is kept), which the process spent instructions
** building.
**
** Measured (docs/design/native-core.md, "The codec in C").
*/
#include <string.h>
#include <stdint.h>
#include <math.h>

#include "lua.h"
#include "lauxlib.h"
#include "lstep.h"
#include "ldeliver.h"
#include "lfield.h"

#define MAX_DEPTH 512
#define VALUE_DEPTH (MAX_DEPTH - 12)
#define MAX_BYTES ((int64_t)64 * 1024 * 1024)
#define KEEP_BYTES 4096
#define KEEP_TABLES 256
#define EXT_REF 1
#define EXT_ERROR 2

#define NORET static __attribute__((noreturn)) void

#define S_DEEP "value nested deeper than 512 tables"
#define S_VALUE_DEEP "value nested deeper than 500 tables"
#define S_TOO_BIG "value too large: more than 64 MiB encoded"

/* Upvalues of every codec closure. */
#define UV_ISERR lua_upvalueindex(1)
#define UV_FIELDS lua_upvalueindex(2)
#define UV_MAKE lua_upvalueindex(3)
#define UV_REG lua_upvalueindex(4)
#define UV_SCRATCH lua_upvalueindex(5)
/* Slots of the scratch table. */
#define SC_BUF 1
#define SC_SLOTS 2
#define SC_LIST 3
#define SC_COPIES 4
#define SC_REFS 5


/* ---- scratch ----------------------------------------------------------------------------------- */

/* Pushes scratch slot i (taken out: the slot is emptied), or nil. */
static int take (lua_State *L, int i) {
  int t = lua_rawgeti(L, UV_SCRATCH, i);
  if (t != LUA_TNIL) {
    lua_pushnil(L);
    lua_rawseti(L, UV_SCRATCH, i);
  }
  return t;
}

static void give (lua_State *L, int idx, int i) {
  lua_pushvalue(L, idx);
  lua_rawseti(L, UV_SCRATCH, i);
}


/* Is the value at idx an error object? */
static int is_error (lua_State *L, int idx) {
  int r;
  if (lua_type(L, UV_REG) == LUA_TTABLE) {
    lua_pushvalue(L, idx);
    r = lua_rawget(L, UV_REG) != LUA_TNIL;
  }
  else {
    lua_pushvalue(L, UV_ISERR);
    lua_pushvalue(L, idx);
    lua_call(L, 1, 1);
    r = lua_toboolean(L, -1);
  }
  lua_pop(L, 1);
  return r;
}

/* type() names of the "plain" types: string, number, boolean, table */
static int plain (int t) {
  return t == LUA_TSTRING || t == LUA_TNUMBER || t == LUA_TBOOLEAN || t == LUA_TTABLE;
}

static int sendable (lua_State *L, int t, int idx) {
  return plain(t) || ((t == LUA_TUSERDATA || t == LUA_TLIGHTUSERDATA) && is_error(L, idx));
}


/* ---- the seen set: table pointer -> index ------------------------------------------------------
** Open addressing over userdata slots; list[i] is the i-th table numbered. An entry is valid only
** while idx < count and list[idx] == key, so the set is never cleared between calls or on a
** roll-back (count goes down): stale entries are simply not valid. Rebuilt from the list when
** half full. */
typedef struct Slot { const void *key; uint32_t idx; } Slot;
/* The slots' userdata: this header, then the slots. */
typedef struct SlotHead { uint32_t used, cap; } SlotHead;
#define SLOTS(h) ((Slot *)((SlotHead *)(h) + 1))

typedef struct Seen {
  SlotHead *head;
  Slot *slot;
  const void **list;
  uint32_t mask, used, lcap, count;
  int sidx, lidx;  /* stack indices of the two userdata */
} Seen;

static uint32_t phash (const void *p) {
  uintptr_t x = (uintptr_t)p;
  return (uint32_t)((x >> 3) * 2654435761u);
}

static void seen_open (lua_State *L, Seen *s) {
  if (take(L, SC_SLOTS) == LUA_TNIL) {
    size_t sz = sizeof(SlotHead) + 64 * sizeof(Slot);
    lua_pop(L, 1);
    s->head = (SlotHead *)memset(lua_newuserdatauv(L, sz, 0), 0, sz);
    s->head->cap = 64;
  }
  else s->head = (SlotHead *)lua_touserdata(L, -1);
  s->sidx = lua_gettop(L);
  s->mask = s->head->cap - 1;
  s->slot = SLOTS(s->head);
  s->used = s->head->used;
  if (take(L, SC_LIST) == LUA_TNIL) {
    lua_pop(L, 1);
    lua_newuserdatauv(L, 32 * sizeof(void *), 0);
  }
  s->lidx = lua_gettop(L);
  s->lcap = (uint32_t)(lua_rawlen(L, -1) / sizeof(void *));
  s->list = (const void **)lua_touserdata(L, -1);
  s->count = 0;
}

/* Puts the set back for the next call unless it grew past what is kept. */
static void seen_close (lua_State *L, Seen *s) {
  s->head->used = s->used;
  if (s->lcap <= 2 * KEEP_TABLES) {
    give(L, s->sidx, SC_SLOTS);
    give(L, s->lidx, SC_LIST);
  }
}

static long seen_find (Seen *s, const void *p) {
  uint32_t i = phash(p) & s->mask;
  const void *k;
  while ((k = s->slot[i].key) != NULL) {
    if (k == p) {
      uint32_t idx = s->slot[i].idx;
      return (idx < s->count && s->list[idx] == p) ? (long)idx : -1;
    }
    i = (i + 1) & s->mask;
  }
  return -1;
}

static void seen_put (Seen *s, const void *p, uint32_t idx) {
  uint32_t i = phash(p) & s->mask;
  const void *k;
  while ((k = s->slot[i].key) != NULL && k != p) i = (i + 1) & s->mask;
  if (k == NULL) s->used++;
  s->slot[i].key = p;
  s->slot[i].idx = idx;
}

/* Numbers the table p: -> its index. */
static uint32_t seen_add (lua_State *L, Seen *s, const void *p) {
  uint32_t idx = s->count;
  if (idx == s->lcap) {
    uint32_t ncap = s->lcap * 2;
    const void **nl = (const void **)lua_newuserdatauv(L, ncap * sizeof(void *), 0);
    memcpy(nl, s->list, idx * sizeof(void *));
    lua_replace(L, s->lidx);
    s->list = nl;
    s->lcap = ncap;
  }
  s->list[idx] = p;
  s->count = idx + 1;
  if ((s->used + 1) * 2 > s->mask + 1) {  /* rebuild from the valid entries */
    uint32_t ncap = s->mask + 1, i;
    while (ncap < 4 * s->count) ncap *= 2;
    if (ncap != s->mask + 1) {
      s->head = (SlotHead *)lua_newuserdatauv(L, sizeof(SlotHead) + ncap * sizeof(Slot), 0);
      s->head->cap = ncap;
      s->slot = SLOTS(s->head);
      lua_replace(L, s->sidx);
    }
    memset(s->slot, 0, ncap * sizeof(Slot));
    s->mask = ncap - 1;
    s->used = 0;
    for (i = 0; i < s->count; i++) seen_put(s, s->list[i], i);
  }
  else seen_put(s, p, idx);
  return idx;
}


/* ---- encoder ----------------------------------------------------------------------------------- */

typedef struct Enc {
  lua_State *L;
  char *b;
  int64_t cap, len;  /* len may pass cap only past MAX_BYTES (those bytes are not written) */
  int64_t bytes, parts;  /* codec.lua's seen.bytes and its number of parts */
  int bidx;
  int depth, edepth;
  const char *err;  /* first problem; "" + errtype for "cannot send a <type>" */
  const char *errtype;
  Seen seen;
} Enc;

static void seterr (Enc *e, const char *msg, const char *tname) {
  if (!e->err) { e->err = msg; e->errtype = tname; }
}

/* Room for k bytes at e->len, or NULL past MAX_BYTES (then nothing is written). */
static char *room (Enc *e, int64_t k) {
  int64_t need = e->len + k;
  if (need > MAX_BYTES) return NULL;
  if (need > e->cap) {
    int64_t ncap = e->cap * 2;
    char *nb;
    if (ncap < need) ncap = need;
    if (ncap > MAX_BYTES) ncap = MAX_BYTES;
    nb = (char *)lua_newuserdatauv(e->L, (size_t)ncap, 0);
    memcpy(nb, e->b, (size_t)e->len);
    lua_replace(e->L, e->bidx);
    e->b = nb;
    e->cap = ncap;
  }
  return e->b + e->len;
}

static void put (Enc *e, const void *p, int64_t k) {
  char *d = room(e, k);
  if (d) memcpy(d, p, (size_t)k);
  e->len += k;
}

static void put1 (Enc *e, int c) {
  if (e->len < e->cap) e->b[e->len++] = (char)c;
  else { unsigned char b = (unsigned char)c; put(e, &b, 1); }
}

static void be (unsigned char *d, uint64_t v, int n) {
  int i;
  for (i = n - 1; i >= 0; i--) { d[i] = (unsigned char)v; v >>= 8; }
}

static void put_tagged (Enc *e, int tag, uint64_t v, int n) {
  unsigned char d[9];
  d[0] = (unsigned char)tag;
  be(d + 1, v, n);
  put(e, d, n + 1);
}

/* A header of `tag` for count c: fix form (base) below fixmax, else 16 or 32 bits. Returns the
** header's bytes in d; -> its size. */
static int header (unsigned char *d, uint64_t c, int fixbase, uint64_t fixmax, int t8, int t16, int t32) {
  if (c < fixmax) { d[0] = (unsigned char)(fixbase + c); return 1; }
  if (t8 && c < 0x100) { d[0] = (unsigned char)t8; d[1] = (unsigned char)c; return 2; }
  if (c < 0x10000) { d[0] = (unsigned char)t16; be(d + 1, c, 2); return 3; }
  d[0] = (unsigned char)t32; be(d + 1, c, 4); return 5;
}

static void str_header (Enc *e, size_t l) {
  unsigned char d[5];
  put(e, d, header(d, l, 0xa0, 32, 0xd9, 0xda, 0xdb));
}

/* Inserts the h bytes of d at position at (the data after it moves up). */
static void insert (Enc *e, int64_t at, const unsigned char *d, int h) {
  int64_t n = e->len - at;
  char *r = room(e, h);
  if (r) {
    memmove(e->b + at + h, e->b + at, (size_t)n);
    memcpy(e->b + at, d, (size_t)h);
  }
  e->len += h;
}

static void enc_int (Enc *e, lua_Integer v) {
  if (v >= 0 && v <= 127) put1(e, (int)v);
  else if (v >= -32 && v < 0) put1(e, (int)(v + 256));
  else if (v >= 128 && v <= 255) put_tagged(e, 0xcc, (uint64_t)v, 1);
  else if (v >= -128 && v < -32) put_tagged(e, 0xd0, (uint64_t)(v + 256), 1);
  else if (v > 0) {
    if (v < 0x10000) put_tagged(e, 0xcd, (uint64_t)v, 2);
    else if (v < 0x100000000LL) put_tagged(e, 0xce, (uint64_t)v, 4);
    else put_tagged(e, 0xcf, (uint64_t)v, 8);
  }
  else {
    if (v >= -0x8000) put_tagged(e, 0xd1, (uint64_t)v, 2);
    else if (v >= -0x80000000LL) put_tagged(e, 0xd2, (uint64_t)v, 4);
    else put_tagged(e, 0xd3, (uint64_t)v, 8);
  }
}

/* A string as codec.lua's enc writes it: counted against MAX_BYTES, two parts (header, bytes). */
static void enc_str (Enc *e, int idx) {
  size_t l;
  const char *s = lua_tolstring(e->L, idx, &l);
  e->bytes += (int64_t)l;
  e->parts++;
  if (e->bytes > MAX_BYTES) {
    seterr(e, S_TOO_BIG, NULL);
    put1(e, 0xc0);
    return;
  }
  str_header(e, l);
  e->parts++;
  put(e, s, (int64_t)l);
}

/* A string of under 32 bytes inside a table: codec.lua's cached piece (one part, not counted). */
static void enc_short (Enc *e, const char *s, size_t l) {
  char *d = room(e, (int64_t)l + 1);
  e->parts++;
  if (d) { d[0] = (char)(0xa0 + l); memcpy(d + 1, s, l); }
  e->len += (int64_t)l + 1;
}

static void enc (Enc *e, int idx);

/* An error object: ext 2 around a map {kind, message, retryable?, details?}. */
static void enc_error (Enc *e, int idx) {
  lua_State *L = e->L;
  int f, cnt = 2, hasr, hasd, td;
  int64_t h;
  unsigned char d[6];
  if (e->edepth + 1 > MAX_DEPTH) {  /* see the top: bounded recursion */
    seterr(e, S_DEEP, NULL);
    e->parts++;
    put1(e, 0xc0);
    return;
  }
  e->edepth++;
  luaL_checkstack(L, 8, NULL);
  lua_pushvalue(L, UV_FIELDS);
  lua_pushvalue(L, idx);
  lua_call(L, 1, 1);
  f = lua_gettop(L);
  lua_getfield(L, f, "kind");       /* f + 1 */
  lua_getfield(L, f, "message");    /* f + 2 */
  lua_getfield(L, f, "retryable");  /* f + 3 */
  lua_getfield(L, f, "details");    /* f + 4 */
  for (cnt = 1; cnt <= 2; cnt++) {
    int t = lua_type(L, f + cnt);
    if (t != LUA_TSTRING) {
      if (t == LUA_TNIL) lua_pushliteral(L, "");
      else luaL_tolstring(L, f + cnt, NULL);
      lua_replace(L, f + cnt);
    }
  }
  td = lua_type(L, f + 4);
  if (td != LUA_TNIL && !sendable(L, td, f + 4)) {
    seterr(e, "", lua_typename(L, td));
    lua_pushnil(L);
    lua_replace(L, f + 4);
    td = LUA_TNIL;
  }
  hasr = !lua_isnil(L, f + 3);
  hasd = td != LUA_TNIL;
  cnt = 2 + hasr + hasd;
  h = e->len;
  e->parts++;  /* the ext header's slot */
  e->parts++; put1(e, 0x80 + cnt);
  e->parts++; put(e, "\xa4kind", 5);
  enc_str(e, f + 1);
  e->parts++; put(e, "\xa7message", 8);
  enc_str(e, f + 2);
  if (hasr) {
    e->parts++; put(e, "\xa9retryable", 10);
    e->parts++; put1(e, lua_toboolean(L, f + 3) ? 0xc3 : 0xc2);
  }
  if (hasd) {
    e->parts++; put(e, "\xa7" "details", 8);
    enc(e, f + 4);
  }
  {
    int64_t size = e->len - h;
    int n;
    if (size == 1 || size == 2 || size == 4 || size == 8 || size == 16) {
      d[0] = (unsigned char)(size == 1 ? 0xd4 : size == 2 ? 0xd5 : size == 4 ? 0xd6 : size == 8 ? 0xd7 : 0xd8);
      d[1] = EXT_ERROR; n = 2;
    }
    else if (size < 0x100) { d[0] = 0xc7; d[1] = (unsigned char)size; d[2] = EXT_ERROR; n = 3; }
    else if (size < 0x10000) { d[0] = 0xc8; be(d + 1, (uint64_t)size, 2); d[3] = EXT_ERROR; n = 4; }
    else { d[0] = 0xc9; be(d + 1, (uint64_t)size, 4); d[5] = EXT_ERROR; n = 6; }
    insert(e, h, d, n);
  }
  lua_settop(L, f - 1);
  e->edepth--;
}

/* A non-nil element of an array, as codec.lua's array loop writes it: a string of under 32 bytes
** and an integer of -128..255 are one part each (its cached pieces), anything else is enc. */
static void enc_elem (Enc *e, int idx) {
  lua_State *L = e->L;
  int tx = lua_type(L, idx);
  if (tx == LUA_TSTRING && lua_rawlen(L, idx) < 32) {
    size_t l;
    const char *s = lua_tolstring(L, idx, &l);
    enc_short(e, s, l);
  }
  else if (tx == LUA_TNUMBER && lua_isinteger(L, idx) && lua_tointeger(L, idx) >= -128
           && lua_tointeger(L, idx) <= 255) {
    e->parts++;
    enc_int(e, lua_tointeger(L, idx));
  }
  else enc(e, idx);
}

static void enc_table (Enc *e, int idx) {
  lua_State *L = e->L;
  const void *p = lua_topointer(L, idx);
  long ref = seen_find(&e->seen, p);
  int depth;
  int64_t h, c;
  lua_Unsigned len;
  if (ref >= 0) {
    e->parts++;
    put_tagged(e, 0xd6, ((uint64_t)EXT_REF << 32) | (uint64_t)ref, 5);
    return;
  }
  depth = e->depth + 1;
  if (depth > MAX_DEPTH) {
    seterr(e, S_DEEP, NULL);
    e->parts++;
    put1(e, 0xc0);
    return;
  }
  seen_add(L, &e->seen, p);
  e->depth = depth;
  luaL_checkstack(L, 6, NULL);
  len = lua_rawlen(L, idx);
  if (len > 0) {
    /* An array only if the keys are exactly 1..len (see codec.lua). */
    lua_Unsigned k = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) { k++; lua_pop(L, 1); }
    if (k == len) {
      int64_t hlen = e->len, hparts = e->parts;
      uint32_t hcount = e->seen.count;
      lua_Unsigned j;
      unsigned char d[5];
      int hole = 0;
      e->parts++;
      put(e, d, header(d, len, 0x90, 16, 0, 0xdc, 0xdd));
      for (j = 1; j <= len; j++) {
        if (lua_rawgeti(L, idx, (lua_Integer)j) != LUA_TNIL) enc_elem(e, lua_gettop(L));
        else { hole = 1; lua_pop(L, 1); break; }
        lua_pop(L, 1);
      }
      if (!hole) { e->depth = depth - 1; return; }
      /* a hole: roll back what the array wrote and the tables it numbered */
      e->seen.count = hcount;
      e->len = hlen;
      e->parts = hparts;
    }
  }
  /* A map; its header is inserted in front once the entries are counted. */
  h = e->len;
  e->parts++;
  c = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    int kx = lua_gettop(L) - 1, vx = kx + 1;
    int tk = lua_type(L, kx), tx = lua_type(L, vx);
    int okk = sendable(L, tk, kx);
    if (okk && sendable(L, tx, vx)) {
      c++;
      if (tk == LUA_TSTRING && lua_rawlen(L, kx) < 32) {
        size_t l;
        const char *s = lua_tolstring(L, kx, &l);
        enc_short(e, s, l);
      }
      else enc(e, kx);
      if (tx == LUA_TSTRING && lua_rawlen(L, vx) < 32) {
        size_t l;
        const char *s = lua_tolstring(L, vx, &l);
        enc_short(e, s, l);
      }
      else enc(e, vx);
    }
    else if (!e->err) seterr(e, "", lua_typename(L, okk ? tx : tk));
    lua_pop(L, 1);
  }
  {
    unsigned char d[5];
    insert(e, h, d, header(d, (uint64_t)c, 0x80, 16, 0, 0xde, 0xdf));
  }
  e->depth = depth - 1;
}

static void enc (Enc *e, int idx) {
  lua_State *L = e->L;
  switch (lua_type(L, idx)) {
    case LUA_TSTRING: enc_str(e, idx); return;
    case LUA_TNUMBER:
      e->parts++;
      if (lua_isinteger(L, idx)) enc_int(e, lua_tointeger(L, idx));
      else {
        union { double d; uint64_t u; } x;
        x.d = (double)lua_tonumber(L, idx);
        put_tagged(e, 0xcb, x.u, 8);
      }
      return;
    case LUA_TTABLE:
      if (is_error(L, idx)) enc_error(e, idx);
      else enc_table(e, idx);
      return;
    case LUA_TBOOLEAN:
      e->parts++;
      put1(e, lua_toboolean(L, idx) ? 0xc3 : 0xc2);
      return;
    case LUA_TUSERDATA: case LUA_TLIGHTUSERDATA:
      if (is_error(L, idx)) { enc_error(e, idx); return; }
      /* FALLTHROUGH */
    default: {
      int t = lua_type(L, idx);
      if (t != LUA_TNIL) seterr(e, "", lua_typename(L, t));
      e->parts++;
      put1(e, 0xc0);
      return;
    }
  }
}

/* Takes the scratch (the byte buffer, the seen set) onto the stack. */
static void enc_open (lua_State *L, Enc *e) {
  luaL_checkstack(L, 8, NULL);
  e->L = L;
  if (take(L, SC_BUF) == LUA_TNIL) {
    lua_pop(L, 1);
    lua_newuserdatauv(L, 256, 0);
  }
  e->bidx = lua_gettop(L);
  e->b = (char *)lua_touserdata(L, -1);
  e->cap = (int64_t)lua_rawlen(L, -1);
  e->len = e->bytes = e->parts = 0;
  e->depth = e->edepth = 0;
  e->err = NULL;
  e->errtype = NULL;
  seen_open(L, &e->seen);
}

/* codec.lua's finish: -> the string | nil, message. */
static int enc_finish (lua_State *L, Enc *e) {
  const char *err = e->err;
  if (!err && (e->bytes + e->parts > MAX_BYTES || e->len > MAX_BYTES)) err = S_TOO_BIG;
  if (e->cap <= KEEP_BYTES) give(L, e->bidx, SC_BUF);
  if (e->seen.count <= KEEP_TABLES) seen_close(L, &e->seen);
  if (err) {
    lua_pushnil(L);
    if (*err) lua_pushstring(L, err);
    else lua_pushfstring(L, "cannot send a %s", e->errtype);
    return 2;
  }
  lua_pushlstring(L, e->b, (size_t)e->len);
  return 1;
}

/* encode(v) -> string | nil, message */
static int c_encode (lua_State *L) {
  Enc e;
  lua_settop(L, 1);
  enc_open(L, &e);
  enc(&e, 1);
  return enc_finish(L, &e);
}

/* encode_args(n, ...) -> string | nil, message: the first n arguments as one array. */
static int c_encode_args (lua_State *L) {
  Enc e;
  lua_Integer n, i;
  int top = lua_gettop(L);
  unsigned char d[5];
  if (!lua_isinteger(L, 1) || (n = lua_tointeger(L, 1)) < 0)
    return luaL_error(L, "codec.encode_args: n must be a non-negative integer");
  enc_open(L, &e);
  e.parts++;
  put(&e, d, header(d, (uint64_t)n, 0x90, 16, 0, 0xdc, 0xdd));
  for (i = 1; i <= n; i++) {
    if (i + 1 <= top) enc(&e, (int)i + 1);
    else { e.parts++; put1(&e, 0xc0); }
  }
  return enc_finish(L, &e);
}

/* encode_frame(k, a1, ..., ak, v1, ..., vn) -> string | nil, message: the bytes of
** encode({ a1, ..., ak, { v1, ..., vn } }) with both tables made by table constructors (as
** process.send makes its "m" frame: { "m", pid, from, topic, n, { ... } }), but without making
** them: a cross-worker send allocated the two tables only to encode them. n is what is left after
** the k fields (trailing nils count). The same bytes, errors and limits, because the two tables
** go through the same steps enc_table takes for them: each is numbered in the seen set (by a
** stand-in address: no value can refer to a table it never saw, so only the numbering matters),
** counts one level of depth, and is an array of its elements (enc_elem) — or, for an empty list,
** an empty map. With a nil among the arguments (a table constructor's holes make `#` and the
** array-or-map choice depend on the table's layout) the two tables are made, exactly as the
** constructors make them (array parts of k + 1 and n slots), and encoded. */
static const char frame_table, list_table;  /* the stand-ins' addresses */

/* The C buffer of encode_frame's scalar path: a frame that may need more goes the general way. */
#define SMALL_FRAME 256

/* Are arguments from..to all strings, numbers and booleans, encoded in SMALL_FRAME bytes at most
** with the two array headers (a bound: a string's header is at most 5 bytes, a number 9)? */
static int scalars_fit (lua_State *L, int from, int to) {
  size_t need = 10;
  int i;
  for (i = from; i <= to; i++) {
    switch (lua_type(L, i)) {
      case LUA_TSTRING: need += lua_rawlen(L, i) + 5; break;
      case LUA_TNUMBER: need += 9; break;
      case LUA_TBOOLEAN: need += 1; break;
      default: return 0;
    }
    if (need > SMALL_FRAME) return 0;
  }
  return 1;
}

/* Scalars only, and few bytes (a message of plain values; scalars_fit said so for the k + n
** arguments from slot base, a1..ak, v1..vn): the frame written into small, with no scratch taken
** (no table to number, no callback that could re-enter, no MAX_BYTES to meet); the same element
** steps as encode's, so the same bytes. -> their count. */
static size_t scalar_frame (lua_State *L, char *small, int base, int k, int n) {
  Enc e;
  unsigned char d[5];
  int i;
  e.L = L; e.b = small; e.cap = SMALL_FRAME; e.len = e.bytes = e.parts = 0;
  e.bidx = 0; e.depth = e.edepth = 0; e.err = NULL; e.errtype = NULL;
  put(&e, d, header(d, (uint64_t)k + 1, 0x90, 16, 0, 0xdc, 0xdd));
  for (i = 0; i < k; i++) enc_elem(&e, base + i);
  if (n == 0) put1(&e, 0x80);
  else {
    put(&e, d, header(d, (uint64_t)n, 0x90, 16, 0, 0xdc, 0xdd));
    for (i = 0; i < n; i++) enc_elem(&e, base + k + i);
  }
  return (size_t)e.len;
}

/* encode_frame_out's scalar case without its call (lstep.h): the k + n arguments from slot base
** into o for thread tid -> what luaW_out_put returns, or -1 (nothing appended) when they are not
** all scalars that fit (then encode_frame_out's other paths apply). */
int luaW_frame_out_at (lua_State *L, LuaWOutbox *o, lua_Integer tid, int base, int k, int n) {
  char small[SMALL_FRAME];
  if (!scalars_fit(L, base, base + k + n - 1)) return -1;
  return luaW_out_put(L, o, tid, small, scalar_frame(L, small, base, k, n));
}

/* The frame's bytes for encode_frame (arguments from slot 1: k, a1..ak, v1..vn): -> 0 with the
** bytes written into small (*len of them; the scalar path), or what encode returns pushed: 1 (the
** string) or 2 (nil, message). */
static int frame_bytes (lua_State *L, char *small, size_t *len) {
  Enc e;
  lua_Integer k;
  int top = lua_gettop(L), i, n;
  unsigned char d[5];
  if (!lua_isinteger(L, 1) || (k = lua_tointeger(L, 1)) < 0 || k > top - 1)
    return luaL_error(L, "codec.encode_frame: k must be an integer from 0 to the number of arguments");
  n = top - 1 - (int)k;
  for (i = 2; i <= top; i++) {
    if (lua_isnil(L, i)) {
      luaL_checkstack(L, 4, NULL);
      lua_createtable(L, (int)k + 1, 0);
      for (i = 1; i <= (int)k; i++) { lua_pushvalue(L, 1 + i); lua_rawseti(L, -2, i); }
      lua_createtable(L, n, 0);
      for (i = 1; i <= n; i++) { lua_pushvalue(L, 1 + (int)k + i); lua_rawseti(L, -2, i); }
      lua_rawseti(L, -2, k + 1);
      lua_replace(L, 1);
      return c_encode(L);
    }
  }
  if (scalars_fit(L, 2, top)) {
    *len = scalar_frame(L, small, 2, (int)k, n);
    return 0;
  }
  enc_open(L, &e);
  seen_add(L, &e.seen, &frame_table);
  e.depth = 1;
  e.parts++;
  put(&e, d, header(d, (uint64_t)k + 1, 0x90, 16, 0, 0xdc, 0xdd));
  for (i = 1; i <= (int)k; i++) enc_elem(&e, 1 + i);
  seen_add(L, &e.seen, &list_table);
  e.depth = 2;
  e.parts++;
  if (n == 0) put1(&e, 0x80);  /* {}: enc_table's map of no entries */
  else {
    put(&e, d, header(d, (uint64_t)n, 0x90, 16, 0, 0xdc, 0xdd));
    for (i = 1; i <= n; i++) enc_elem(&e, 1 + (int)k + i);
  }
  e.depth = 0;
  return enc_finish(L, &e);
}

static int c_encode_frame (lua_State *L) {
  char small[SMALL_FRAME];
  size_t len;
  int r = frame_bytes(L, small, &len);
  if (r != 0) return r;
  lua_pushlstring(L, small, len);
  return 1;
}

/* encode_frame_out(outbox, tid, k, a1, ..., ak, v1, ..., vn) -> past | nil, message: the bytes
** encode_frame returns, appended to tid's range of the step's outbox (lstep.c) as one frame, with
** no Lua string made for them on the scalar path; past: the outbox's mark was passed (lstep.c
** put). On an error nothing is appended. */
static int c_encode_frame_out (lua_State *L) {
  char small[SMALL_FRAME];
  size_t len;
  const char *b;
  int r;
  LuaWOutbox *o = luaW_out_check(L, 1);
  lua_Integer tid = luaL_checkinteger(L, 2);
  lua_rotate(L, 1, -2);  /* k, a1, ..., vn, outbox, tid */
  lua_settop(L, -3);  /* the outbox stays referenced by lstep.c's closures */
  r = frame_bytes(L, small, &len);
  if (r == 2) return 2;
  b = r == 0 ? small : lua_tolstring(L, -1, &len);
  lua_pushboolean(L, luaW_out_put(L, o, tid, b, len));
  return 1;
}


/* ---- decoder ----------------------------------------------------------------------------------- */

typedef struct Dec {
  lua_State *L;
  const unsigned char *s;
  int64_t slen;
  lua_Integer n;  /* tables decoded so far (refs[1..n]) */
  int depth;
  int refs;  /* stack index of the refs table */
  int frame;  /* decode_at: the value is a kernel frame (its outer array is presized) */
  int noframe;  /* decode_m_at: 1 while the frame's own table (table 1) was not made, 2 once a
                ** reference named it (or named the payload list while nolist) */
  int nolist;  /* decode_m_at: the payload list of one value (table 2) was not made */
} Dec;

NORET fail (Dec *d, const char *what, int64_t pos) {
  lua_pushfstring(d->L, "codec.decode: %s at byte %I", what, (lua_Integer)pos);
  lua_error(d->L);
  __builtin_unreachable();
}

NORET truncated (Dec *d, int64_t pos) { fail(d, "truncated input", pos); }

static void need (Dec *d, int64_t pos, int64_t k) { if (pos + k > d->slen) truncated(d, pos); }

/* The byte at 1-based pos, or -1 past the end. */
static int byteat (Dec *d, int64_t pos) {
  return (pos >= 1 && pos <= d->slen) ? d->s[pos - 1] : -1;
}

static uint64_t rd (Dec *d, int64_t pos, int n) {
  const unsigned char *p = d->s + pos - 1;
  uint64_t v = 0;
  int i;
  for (i = 0; i < n; i++) v = (v << 8) | p[i];
  return v;
}

static int64_t dec (Dec *d, int64_t pos);

/* An array item or a map value: a fixstr or positive fixint inline (most items of the kernel's
** frames), anything else through dec. */
static int64_t dec_item (Dec *d, int64_t pos) {
  int b = byteat(d, pos);
  if (b >= 0xa0 && b < 0xc0) {
    int64_t e = pos + b - 0xa0;
    if (e > d->slen) truncated(d, pos);
    lua_pushlstring(d->L, (const char *)d->s + pos, (size_t)(e - pos));
    return e + 1;
  }
  if (b >= 0 && b < 0x80) {
    lua_pushinteger(d->L, b);
    return pos + 1;
  }
  return dec(d, pos);
}

static void new_table (Dec *d, int64_t pos, int narr, int nrec) {
  lua_State *L = d->L;
  int depth;
  luaL_checkstack(L, 6, NULL);
  lua_createtable(L, narr, nrec);
  lua_pushvalue(L, -1);
  lua_rawseti(L, d->refs, ++d->n);
  depth = d->depth + 1;
  if (depth > MAX_DEPTH) fail(d, S_DEEP, pos);
  d->depth = depth;
}

#define FRAME_FIELDS 16  /* a frame's array is presized up to this many fields */

static int64_t dec_array (Dec *d, int64_t pos, int64_t cnt) {
  lua_State *L = d->L;
  int t;
  int64_t i;
  /* A frame's own array (decode_at) is the kernel's and never reaches a process: made at its
  ** size, not grown key by key (four rehashes for a six-field "m" frame); what it holds is
  ** built as decode builds it. */
  new_table(d, pos, d->frame && d->depth == 0 && cnt <= FRAME_FIELDS ? (int)cnt : 0, 0);
  t = lua_gettop(L);
  for (i = 1; i <= cnt; i++) {
    pos = dec_item(d, pos);
    lua_rawseti(L, t, (lua_Integer)i);
  }
  d->depth--;
  return pos;
}

static int64_t dec_map (Dec *d, int64_t pos, int64_t cnt) {
  lua_State *L = d->L;
  int t;
  int64_t i;
  new_table(d, pos, 0, (cnt >= 1 && cnt <= 16) ? (int)cnt : 0);  /* codec.lua's NEWMAP */
  t = lua_gettop(L);
  for (i = 1; i <= cnt; i++) {
    int b = byteat(d, pos);
    if (b >= 0xa0 && b < 0xc0) {
      int64_t e = pos + b - 0xa0;
      if (e > d->slen) truncated(d, pos);
      lua_pushlstring(L, (const char *)d->s + pos, (size_t)(e - pos));
      pos = e + 1;
    }
    else {
      int64_t at = pos;
      pos = dec(d, pos);
      if (lua_isnil(L, -1) || (lua_type(L, -1) == LUA_TNUMBER && !lua_isinteger(L, -1)
                               && isnan((double)lua_tonumber(L, -1))))
        fail(d, "nil or NaN map key", at);
    }
    pos = dec_item(d, pos);
    lua_rawset(L, t);
  }
  d->depth--;
  return pos;
}

/* A string of l bytes after a header of hsize bytes (plus the tag) at pos. */
static int64_t dec_str (Dec *d, int64_t pos, int64_t l, int hsize) {
  int64_t first = pos + hsize + 1;
  int64_t last = first + l - 1;
  if (last > d->slen) truncated(d, pos);
  lua_pushlstring(d->L, (const char *)d->s + first - 1, (size_t)l);
  return last + 1;
}

static int64_t dec_error (Dec *d, int64_t pos, int64_t size) {
  lua_State *L = d->L;
  int64_t stop = pos + size, cnt, i;
  int b = byteat(d, pos), depth, f;
  if (b >= 0x80 && b < 0x90) { cnt = b - 0x80; pos = pos + 1; }
  else if (b == 0xde && pos + 2 < stop) { cnt = (int64_t)rd(d, pos + 1, 2); pos = pos + 3; }
  else if (b == 0xdf && pos + 4 < stop) { cnt = (int64_t)rd(d, pos + 1, 4); pos = pos + 5; }
  else fail(d, "error extension without a field map", pos);
  depth = d->depth + 1;
  if (depth > MAX_DEPTH) fail(d, S_DEEP, pos);
  d->depth = depth;
  luaL_checkstack(L, 6, NULL);
  lua_createtable(L, 0, 0);
  f = lua_gettop(L);
  for (i = 1; i <= cnt; i++) {
    size_t l;
    const char *k;
    pos = dec(d, pos);
    pos = dec(d, pos);
    k = lua_type(L, -2) == LUA_TSTRING ? lua_tolstring(L, -2, &l) : NULL;
    if (k && ((l == 4 && memcmp(k, "kind", 4) == 0) || (l == 7 && memcmp(k, "message", 7) == 0)
              || (l == 9 && memcmp(k, "retryable", 9) == 0) || (l == 7 && memcmp(k, "details", 7) == 0)))
      lua_rawset(L, f);
    else lua_pop(L, 2);
  }
  if (pos != stop) fail(d, "error extension length mismatch", stop);
  d->depth = depth - 1;
  if (lua_getfield(L, f, "kind") == LUA_TNIL) { lua_pushliteral(L, ""); lua_setfield(L, f, "kind"); }
  if (lua_getfield(L, f, "message") == LUA_TNIL) { lua_pushliteral(L, ""); lua_setfield(L, f, "message"); }
  lua_pop(L, 2);
  lua_pushvalue(L, UV_MAKE);
  lua_insert(L, f);
  lua_call(L, 1, 1);
  return pos;
}

/* pos is the first data byte of an extension of `size` bytes and type `ty` (signed). */
static int64_t dec_ext (Dec *d, int64_t pos, int64_t size, int ty) {
  lua_State *L = d->L;
  if (pos + size - 1 > d->slen) truncated(d, pos);
  if (ty == EXT_REF) {
    int64_t i;
    if (size != 4) fail(d, "bad table reference", pos);
    i = (int64_t)rd(d, pos, 4);
    if (i >= d->n) fail(d, "reference to an unknown table", pos);
    if ((i == 0 && d->noframe) || (i == 1 && d->nolist)) d->noframe = 2;
    lua_rawgeti(L, d->refs, (lua_Integer)(i + 1));
    return pos + 4;
  }
  if (ty == EXT_ERROR) return dec_error(d, pos, size);
  if (ty == -1) {  /* msgpack timestamp -> Unix seconds */
    lua_Integer sec, nsec;
    if (size == 4) { sec = (lua_Integer)rd(d, pos, 4); nsec = 0; }
    else if (size == 8) {
      uint64_t x = rd(d, pos, 8);
      sec = (lua_Integer)(x & 0x3ffffffffULL);
      nsec = (lua_Integer)((x >> 34) & 0x3fffffff);
    }
    else if (size == 12) { nsec = (lua_Integer)rd(d, pos, 4); sec = (lua_Integer)(int64_t)rd(d, pos + 4, 8); }
    else fail(d, "bad timestamp", pos);
    if (nsec != 0) lua_pushnumber(L, (lua_Number)sec + (lua_Number)nsec / 1e9);
    else lua_pushinteger(L, sec);
    return pos + size;
  }
  if (ty == 0) { lua_pushnil(L); return pos + size; }  /* msgpackr's "undefined" */
  lua_pushfstring(L, "unsupported extension type %d", ty);
  fail(d, lua_tostring(L, -1), pos - 1);
}

static int64_t dec (Dec *d, int64_t pos) {
  lua_State *L = d->L;
  int b = byteat(d, pos);
  if (b < 0) truncated(d, pos);
  if (b < 0x80) { lua_pushinteger(L, b); return pos + 1; }
  if (b >= 0xa0) {
    if (b < 0xc0) {
      int64_t e = pos + b - 0xa0;
      if (e > d->slen) truncated(d, pos);
      lua_pushlstring(L, (const char *)d->s + pos, (size_t)(e - pos));
      return e + 1;
    }
    if (b >= 0xe0) { lua_pushinteger(L, b - 0x100); return pos + 1; }
    switch (b) {
      case 0xc0: lua_pushnil(L); return pos + 1;
      case 0xc1: fail(d, "invalid tag 0xc1", pos);
      case 0xc2: lua_pushboolean(L, 0); return pos + 1;
      case 0xc3: lua_pushboolean(L, 1); return pos + 1;
      case 0xc7: need(d, pos, 2);
        return dec_ext(d, pos + 3, (int64_t)rd(d, pos + 1, 1), (signed char)rd(d, pos + 2, 1));
      case 0xc8: need(d, pos, 3);
        return dec_ext(d, pos + 4, (int64_t)rd(d, pos + 1, 2), (signed char)rd(d, pos + 3, 1));
      case 0xc9: need(d, pos, 5);
        return dec_ext(d, pos + 6, (int64_t)rd(d, pos + 1, 4), (signed char)rd(d, pos + 5, 1));
      case 0xca: {
        union { float f; uint32_t u; } x;
        need(d, pos, 4);
        x.u = (uint32_t)rd(d, pos + 1, 4);
        lua_pushnumber(L, (lua_Number)x.f);
        return pos + 5;
      }
      case 0xcb: {
        union { double f; uint64_t u; } x;
        need(d, pos, 8);
        x.u = rd(d, pos + 1, 8);
        lua_pushnumber(L, (lua_Number)x.f);
        return pos + 9;
      }
      case 0xcc: need(d, pos, 1); lua_pushinteger(L, (lua_Integer)rd(d, pos + 1, 1)); return pos + 2;
      case 0xcd: need(d, pos, 2); lua_pushinteger(L, (lua_Integer)rd(d, pos + 1, 2)); return pos + 3;
      case 0xce: need(d, pos, 4); lua_pushinteger(L, (lua_Integer)rd(d, pos + 1, 4)); return pos + 5;
      case 0xcf: {
        lua_Integer v;
        need(d, pos, 8);
        v = (lua_Integer)rd(d, pos + 1, 8);
        if (v < 0) lua_pushnumber(L, (lua_Number)v + 18446744073709551616.0);  /* nearest float */
        else lua_pushinteger(L, v);
        return pos + 9;
      }
      case 0xd0: need(d, pos, 1); lua_pushinteger(L, (int8_t)rd(d, pos + 1, 1)); return pos + 2;
      case 0xd1: need(d, pos, 2); lua_pushinteger(L, (int16_t)rd(d, pos + 1, 2)); return pos + 3;
      case 0xd2: need(d, pos, 4); lua_pushinteger(L, (int32_t)rd(d, pos + 1, 4)); return pos + 5;
      case 0xd3: need(d, pos, 8); lua_pushinteger(L, (lua_Integer)rd(d, pos + 1, 8)); return pos + 9;
      case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8:
        need(d, pos, 1);
        return dec_ext(d, pos + 2, (int64_t)1 << (b - 0xd4), (signed char)rd(d, pos + 1, 1));
      case 0xd9: case 0xc4: need(d, pos, 1); return dec_str(d, pos, (int64_t)rd(d, pos + 1, 1), 1);
      case 0xda: case 0xc5: need(d, pos, 2); return dec_str(d, pos, (int64_t)rd(d, pos + 1, 2), 2);
      case 0xdb: case 0xc6: need(d, pos, 4); return dec_str(d, pos, (int64_t)rd(d, pos + 1, 4), 4);
      case 0xdc: need(d, pos, 2); return dec_array(d, pos + 3, (int64_t)rd(d, pos + 1, 2));
      case 0xdd: need(d, pos, 4); return dec_array(d, pos + 5, (int64_t)rd(d, pos + 1, 4));
      case 0xde: need(d, pos, 2); return dec_map(d, pos + 3, (int64_t)rd(d, pos + 1, 2));
      default: /* 0xdf */ need(d, pos, 4); return dec_map(d, pos + 5, (int64_t)rd(d, pos + 1, 4));
    }
  }
  if (b < 0x90) return dec_map(d, pos + 1, b - 0x80);
  return dec_array(d, pos + 1, b - 0x90);
}

/* Takes the refs table onto the stack. */
static void dec_open (lua_State *L, Dec *d, const char *s, size_t slen) {
  luaL_checkstack(L, 8, NULL);
  d->L = L;
  d->s = (const unsigned char *)s;
  d->slen = (int64_t)slen;
  d->n = 0;
  d->depth = 0;
  d->frame = 0;
  d->noframe = 0;
  d->nolist = 0;
  if (take(L, SC_REFS) == LUA_TNIL) {
    lua_pop(L, 1);
    lua_createtable(L, 16, 0);
  }
  d->refs = lua_gettop(L);
}

/* Empties the refs table and puts it back (dropped past KEEP_TABLES). */
static void dec_close (lua_State *L, Dec *d) {
  if (d->n <= KEEP_TABLES) {
    lua_Integer i;
    for (i = 1; i <= d->n; i++) { lua_pushnil(L); lua_rawseti(L, d->refs, i); }
    give(L, d->refs, SC_REFS);
  }
}

/* type() of argument i (an absent argument is nil, as in Lua). */
static const char *tname (lua_State *L, int i) {
  int t = lua_type(L, i);
  return lua_typename(L, t == LUA_TNONE ? LUA_TNIL : t);
}

/* decode(s [, pos]) -> v, next_pos */
static int c_decode (lua_State *L) {
  Dec d;
  size_t slen;
  const char *s;
  lua_Integer pos = 1;
  int64_t nxt;
  if (lua_type(L, 1) != LUA_TSTRING)
    return luaL_error(L, "codec.decode: expected a string, got %s", tname(L, 1));
  if (!lua_isnoneornil(L, 2)) {
    if (!lua_isinteger(L, 2) || (pos = lua_tointeger(L, 2)) < 1)
      return luaL_error(L, "codec.decode: pos must be a positive integer");
  }
  lua_settop(L, 1);
  s = lua_tolstring(L, 1, &slen);
  dec_open(L, &d, s, slen);
  nxt = dec(&d, pos);
  dec_close(L, &d);
  lua_pushinteger(L, (lua_Integer)nxt);
  return 2;
}

/* decode_at(addr, pos, len) -> v, next_pos: decode(s, pos) reading the len bytes of this
** module's memory at address addr instead of a string s (same values, errors and positions).
** The worker's rings drain into its kernel's input area (src/lua/engine.ts), memory of the wasm
** heap, and the step decodes its frames from there: no Lua string of the batch, one copy less per
** frame. For the kernel only: an address reads any byte of the Lua state's memory, so this must
** never reach a process (the kernel's codec table is not one they see). One difference from
** decode: the value is a frame, and its outer array, which only the kernel reads, is made at its
** size (up to FRAME_FIELDS), so where it has nils its `#` and `next` order may differ from
** decode's; everything inside it is decode's, down to the layout. */
static int c_decode_at (lua_State *L) {
  Dec d;
  lua_Integer a, pos, len;
  int64_t nxt;
  if (!lua_isinteger(L, 1) || (a = lua_tointeger(L, 1)) <= 0 || !lua_isinteger(L, 3)
      || (len = lua_tointeger(L, 3)) < 0)
    return luaL_error(L, "codec.decode_at: expected an address and a length");
  if (!lua_isinteger(L, 2) || (pos = lua_tointeger(L, 2)) < 1)
    return luaL_error(L, "codec.decode: pos must be a positive integer");
  lua_settop(L, 0);
  dec_open(L, &d, (const char *)(uintptr_t)a, (size_t)len);
  d.frame = 1;
  nxt = dec(&d, pos);
  dec_close(L, &d);
  lua_pushinteger(L, (lua_Integer)nxt);
  return 2;
}

/* decode_m_at(addr, pos, len) -> pid, from, topic, n, payloads, next_pos [, v] | nil: a message frame
** without its table. If the frame at pos is an "m" frame (a fixarray of 6 whose first element is
** the fixstr "m": every {"m", pid, from, topic, n, payloads} the encoders write), its other five
** fields, exactly what decode_at would put at f[2..6], and the position after it; anything else:
** nil, with nothing read (the caller decodes it with decode_at). The receiving side's per-message
** path (frames.lua) hands the fields to the mailbox and never needed the frame: one table, its six
** stores and its place in the reference list less per message, and no frame fields read back.
** The payloads are numbered as decode_at numbers them, after the frame's own table (table 1), so a
** reference inside them reads the same table; one that names table 1, the frame itself (no
** encoder writes it: the frame is not a value inside itself), makes this return nil too, and
** decode_at gives the frame. Errors: decode_at's, with the same message and byte.
** One value (session 9): when n is the integer 1 and the payloads are a list of one (what
** process.send writes for a one-value send), -> pid, from, topic, 1, nil, next_pos, v: the value
** without its list, as a same-worker send hands it to the mailbox (deliver_msg's p nil, v); the
** list is numbered (table 2) but not made, and a reference to it from inside the value makes
** this decline as a reference to the frame does. One table (and its array part) less per
** message. */
static int c_decode_m_at (lua_State *L) {
  Dec d;
  lua_Integer a, pos, len;
  const unsigned char *s;
  int64_t p;
  int i;
  if (!lua_isinteger(L, 1) || (a = lua_tointeger(L, 1)) <= 0 || !lua_isinteger(L, 3)
      || (len = lua_tointeger(L, 3)) < 0)
    return luaL_error(L, "codec.decode_m_at: expected an address and a length");
  if (!lua_isinteger(L, 2) || (pos = lua_tointeger(L, 2)) < 1)
    return luaL_error(L, "codec.decode: pos must be a positive integer");
  s = (const unsigned char *)(uintptr_t)a;
  if (pos + 2 > len || s[pos - 1] != 0x96 || s[pos] != 0xa1 || s[pos + 1] != 'm') {
    lua_pushnil(L);
    return 1;
  }
  lua_settop(L, 0);
  dec_open(L, &d, (const char *)s, (size_t)len);
  d.frame = 1;
  /* The frame's table: never made; refs[1] holds a stand-in (the refs table itself: any table,
  ** so a reference to it decodes as a table would, e.g. as a map key, until the frame is declined). */
  lua_pushvalue(L, d.refs);
  lua_rawseti(L, d.refs, 1);
  d.n = 1;
  d.depth = 1;  /* its elements are one level down, as in decode_at */
  d.noframe = 1;
  p = pos + 3;
  for (i = 2; i <= 5; i++) p = dec_item(&d, p);
  if (byteat(&d, p) == 0x91 && lua_isinteger(L, -1) && lua_tointeger(L, -1) == 1) {
    /* One value (n 1, a list of one): the value without its list, which is numbered (table 2,
    ** a stand-in as for the frame) and counts its level, but is not made. */
    lua_pushvalue(L, d.refs);
    lua_rawseti(L, d.refs, 2);
    d.n = 2;
    d.nolist = 1;
    d.depth = 2;
    p = dec_item(&d, p + 1);
    dec_close(L, &d);
    if (d.noframe == 2) {
      lua_pushnil(L);
      return 1;
    }
    lua_pushnil(L);  /* no list */
    lua_insert(L, -2);
    lua_pushinteger(L, (lua_Integer)p);
    lua_insert(L, -2);
    return 7;  /* pid, from, topic, 1, nil, next, v */
  }
  p = dec_item(&d, p);
  dec_close(L, &d);
  if (d.noframe == 2) {
    lua_pushnil(L);
    return 1;
  }
  lua_pushinteger(L, (lua_Integer)p);
  return 6;
}

/* A str (fixstr or str8) at pos of s[1..len]: its bytes, length and the next pos; 0 if not one. */
static int str_at (const unsigned char *s, int64_t len, int64_t pos, const unsigned char **b,
                   size_t *l, int64_t *next) {
  int t;
  if (pos > len) return 0;
  t = s[pos - 1];
  if (t >= 0xa0 && t < 0xc0) { *l = (size_t)(t - 0xa0); *b = s + pos; *next = pos + 1 + (int64_t)*l; }
  else if (t == 0xd9 && pos < len) { *l = s[pos]; *b = s + pos + 1; *next = pos + 2 + (int64_t)*l; }
  else return 0;
  return *next - 1 <= len;
}

/* The string at pos as a Lua value in slot `cache`, reused when its bytes are the cached
** string's (a run's messages mostly come from one sender on one topic; compared against the
** TString's own bytes, no API call); 0 if not a str. *made: 1 when a new string replaced it. */
static int cached_str (lua_State *L, const unsigned char *s, int64_t len, int64_t *pos, int cache,
                       int *made) {
  const unsigned char *b;
  size_t l;
  int64_t next;
  const TValue *c;
  if (!str_at(s, len, *pos, &b, &l, &next)) return 0;
  c = s2v(L->ci->func + cache);
  if (!ttisstring(c) || tsslen(tsvalue(c)) != l || memcmp(getstr(tsvalue(c)), b, l) != 0) {
    lua_pushlstring(L, (const char *)b, l);
    lua_replace(L, cache);
    *made = 1;
  }
  *pos = next;
  return 1;
}

/* A tag whose value holds no table (decoded without the refs table): everything but maps,
** arrays and exts (a reference or an error object). */
static int scalar_tag (int b) {
  return b < 0x80 || b >= 0xe0 || (b >= 0xa0 && b <= 0xc6) || (b >= 0xca && b <= 0xd3)
    || (b >= 0xd9 && b <= 0xdb);
}

/* An integer at pos of s[1..len] (a fixint, or int 8/16/32 or uint 8/16/32: what the encoder
** writes for |i| < 2^31) in *v, as dec decodes it, and its next pos; 0 if not one of those or
** truncated (then dec decodes it, or raises its error) */
static int int_at (const unsigned char *s, int64_t len, int64_t pos, TValue *v, int64_t *next) {
  int b = s[pos - 1];
  const unsigned char *q = s + pos;
  if (b < 0x80 || b >= 0xe0) { setivalue(v, b < 0x80 ? b : b - 0x100); *next = pos + 1; return 1; }
  if (b < 0xcc || b > 0xd2 || b == 0xcf) return 0;
  switch (b) {
    case 0xcc: if (pos + 1 > len) return 0; setivalue(v, q[0]); *next = pos + 2; return 1;
    case 0xcd: if (pos + 2 > len) return 0; setivalue(v, (q[0] << 8) | q[1]); *next = pos + 3; return 1;
    case 0xce: if (pos + 4 > len) return 0;
      setivalue(v, (lua_Integer)(((uint32_t)q[0] << 24) | ((uint32_t)q[1] << 16) | ((uint32_t)q[2] << 8) | q[3]));
      *next = pos + 5; return 1;
    case 0xd0: if (pos + 1 > len) return 0; setivalue(v, (int8_t)q[0]); *next = pos + 2; return 1;
    case 0xd1: if (pos + 2 > len) return 0; setivalue(v, (int16_t)((q[0] << 8) | q[1])); *next = pos + 3; return 1;
    case 0xd2: if (pos + 4 > len) return 0;
      setivalue(v, (int32_t)(((uint32_t)q[0] << 24) | ((uint32_t)q[1] << 16) | ((uint32_t)q[2] << 8) | q[3]));
      *next = pos + 5; return 1;
    default: return 0;  /* 0xcf, 0xd3: 64-bit, left to dec */
  }
}

/*
** deliver_run(address, pos, len, pid, P, deliver, cur) -> pos, ok
** The cross-worker receive's run (frames.lua's deliver_rest): from pos on, every "m" frame for
** `pid` (its PID's bytes equal, compared without making the string) that carries one value
** (n 1, a list of one), while P.alive, decoded as decode_m_at decodes it and handed to deliver
** (mailbox.lua's deliver_msg in C, ldeliver.c: luaW_deliver_at) as deliver_msg(P, topic, from,
** 1, nil, v), with no return to Lua between messages. Stops at the first frame that is not one
** of these (another PID, kind or shape, a value with a reference to the frame or its list, P
** dead) and returns its pos for the Lua path, which takes it as before. ok is false when
** `deliver` is not the C deliverer (WIPPY_CSCHED=0): nothing was taken, and it never will be.
** The sender's PID and the topic are made Lua strings once per run of equal bytes, not per
** message; a frame whose header (marker, PID, sender, topic, n and list bytes) is the previous
** frame's byte for byte is not parsed again (one memcmp; session 12). While the run's messages
** join a raw channel's flat backlog (the receiver is busy: the common case of a stream), each is
** appended by ldeliver.c's luaW_flat_put with the channel found once per run of one topic
** (luaW_flat_open) instead of deliver's whole arrival per message; any other case, and a put
** that declines (the mailbox full, the backlog emptied), is deliver's, after which the channel
** and P.alive are looked at again (session 12). An integer value of up to 32 bits is decoded
** inline into a C value (int_at), and deliver's arguments are pushed only when deliver is called
** (session 15). Errors: a decoding error is raised as decode_m_at raises it (cur[1] false: the rest of
** the batch is dropped, as there); a delivery that raises has cur[1] = the pos after its frame
** (set before each delivery, false again after it), where the caller resumes after reporting it.
*/
static int c_deliver_run (lua_State *L) {
  const unsigned char *s, *pb, *b;
  lua_Integer a, pos, len;
  size_t pl, l;
  int64_t p, next;
  Deliv *D;
  TString *kalive;
  LFlat F;
  int fl = 0;  /* the run's flat backlog (luaW_flat_open): 1 open, -1 not now, 0 to be tried */
  int alive = 0;  /* P.alive read true and nothing that could end P ran since */
  int64_t hpos = 0, hl = 0;  /* the last frame taken: its pos and its header's length (0: none) */
  TValue *cur1 = NULL;  /* cur[1]'s slot, when it holds a value and cur has no metatable */
  if (!lua_isinteger(L, 1) || (a = lua_tointeger(L, 1)) <= 0 || !lua_isinteger(L, 2)
      || (pos = lua_tointeger(L, 2)) < 1 || !lua_isinteger(L, 3) || (len = lua_tointeger(L, 3)) < 0)
    return luaL_error(L, "codec.deliver_run: expected an address, a position and a length");
  pb = (const unsigned char *)luaL_checklstring(L, 4, &pl);
  luaL_checktype(L, 5, LUA_TTABLE);
  luaL_checktype(L, 7, LUA_TTABLE);
  D = luaW_deliv_of(L, 6);
  lua_settop(L, 7);
  if (D == NULL) { lua_pushinteger(L, pos); lua_pushboolean(L, 0); return 2; }
  luaL_checkstack(L, 24, NULL);
  lua_pushnil(L);  /* 8: the sender's PID, cached */
  lua_pushnil(L);  /* 9: the topic, cached */
  lua_pushliteral(L, "alive");  /* 10: P.alive's key, anchored */
  kalive = tsvalue(s2v(L->top - 1));
  lua_pushnil(L);  /* 11: the run's flat backlog (F.bq), anchored */
  {  /* cur[1] is written twice per message: into its slot (a present key of a table without a
     ** metatable: seti's store; its values, an integer and false, need no barrier). Nothing
     ** inserts a key into cur while the run lasts, so the slot stays where it is. */
    Table *ct = hvalue(s2v(L->ci->func + 7));
    const TValue *sl = lf_getint(ct, 1);
    if (ct->metatable == NULL && !isempty(sl)) cur1 = cast(TValue *, sl);
  }
  s = (const unsigned char *)(uintptr_t)a;
  while (pos + 2 <= len && s[pos - 1] == 0x96 && s[pos] == 0xa1 && s[pos + 1] == 'm') {
    TValue x, v;
    StkId base;
    int made = 0, onstack;
    if (hl > 0 && pos - 1 + hl < len && memcmp(s + pos - 1, s + hpos - 1, (size_t)hl) == 0) {
      /* the previous frame's header, byte for byte (its PID, sender, topic, n 1 and list of
      ** one): the same strings, already checked and cached; only its value differs */
      p = pos + hl;
      if (!alive) {
        getf(L, s2v(L->ci->func + 5), kalive, &x);
        if (l_isfalse(&x)) break;
      }
    }
    else {
      hl = 0;
      p = pos + 3;
      if (!str_at(s, len, p, &b, &l, &next) || l != pl || memcmp(b, pb, l) != 0) break;
      if (!alive) {
        getf(L, s2v(L->ci->func + 5), kalive, &x);  /* (lfield.h: the VM's step, metamethods included) */
        if (l_isfalse(&x)) break;
      }
      p = next;
      if (!cached_str(L, s, len, &p, 8, &made)) break;
      made = 0;
      if (!cached_str(L, s, len, &p, 9, &made)) break;
      if (made) fl = 0;  /* another topic: another channel */
      if (p + 1 > len || s[p - 1] != 0x01 || s[p] != 0x91) break;  /* n 1, a list of one */
      p += 2;
      if (p > len) break;
      hpos = pos;
      hl = p - pos;  /* the header's bytes, up to the value */
    }
    /* an integer value (fan-in's) is decoded here into v, on no stack slot: slots 12..17 (P,
    ** topic, from, 1, nil, v: deliver's arguments) are pushed only if deliver is called */
    if (int_at(s, len, p, &v, &next)) onstack = 0;
    else {
    onstack = 1;
    base = L->ci->func;  /* 12..17: P, topic, from, 1, nil, v */
    push(L, s2v(base + 5));
    push(L, s2v(base + 9));
    push(L, s2v(base + 8));
    setivalue(s2v(L->top), 1); L->top++;
    setnilvalue(s2v(L->top)); L->top++;
    if (scalar_tag(s[p - 1])) {
      Dec d;
      d.L = L; d.s = s; d.slen = (int64_t)len; d.n = 0; d.depth = 2; d.refs = 0;
      d.frame = 0; d.noframe = 0; d.nolist = 0;
      next = dec_item(&d, p);
    }
    else {  /* as decode_m_at's one value: the frame and its list numbered, not made */
      Dec d;
      dec_open(L, &d, (const char *)s, (size_t)len);  /* 17: refs */
      d.frame = 1;
      lua_pushvalue(L, d.refs);
      lua_rawseti(L, d.refs, 1);
      lua_pushvalue(L, d.refs);
      lua_rawseti(L, d.refs, 2);
      d.n = 2;
      d.noframe = 1;
      d.nolist = 1;
      d.depth = 2;
      next = dec_item(&d, p);
      dec_close(L, &d);
      if (d.noframe == 2) { lua_settop(L, 11); break; }
      lua_remove(L, 17);
    }
    }
    setivalue(&x, (lua_Integer)next);  /* cur[1] = the pos after this frame (lfield.h's index step) */
    if (cur1 != NULL) { setobj(L, cur1, &x); }
    else seti(L, s2v(L->ci->func + 7), 1, &x);
    /* behind the backlog of a run opened (or opened now): appended, deliver's steps for it
    ** (ldeliver.c's luaW_flat_put); else deliver itself, after which the run's channel is looked
    ** at again and P.alive read again (a delivery can end its own process: a mailbox overflow) */
    if (fl == 0) {
      fl = luaW_flat_open(L, D, s2v(L->ci->func + 5), s2v(L->ci->func + 9), &F) ? 1 : -1;
      if (fl == 1) setobj2s(L, L->ci->func + 11, &F.bq);
    }
    base = L->ci->func;
    if (fl == 1 && luaW_flat_put(L, D, &F, s2v(base + 9), s2v(base + 8), onstack ? s2v(base + 17) : &v))
      alive = 1;
    else {
      if (!onstack) {  /* deliver's arguments, 12..17 */
        push(L, s2v(base + 5));
        push(L, s2v(base + 9));
        push(L, s2v(base + 8));
        setivalue(s2v(L->top), 1); L->top++;
        setnilvalue(s2v(L->top)); L->top++;
        push(L, &v);
      }
      luaW_deliver_at(L, D, 11);
      fl = 0;
      alive = 0;
    }
    lua_settop(L, 11);
    setbfvalue(&x);
    if (cur1 != NULL) { setobj(L, cur1, &x); }
    else seti(L, s2v(L->ci->func + 7), 1, &x);
    pos = next;
  }
  lua_pushinteger(L, pos);
  lua_pushboolean(L, 1);
  return 2;
}

/* decode_args(s) -> n, ... */
static int c_decode_args (lua_State *L) {
  Dec d;
  size_t slen;
  const char *s;
  int64_t cnt, pos, i;
  int b, base;
  if (lua_type(L, 1) != LUA_TSTRING)
    return luaL_error(L, "codec.decode_args: expected a string, got %s", tname(L, 1));
  lua_settop(L, 1);
  s = lua_tolstring(L, 1, &slen);
  d.L = L; d.s = (const unsigned char *)s; d.slen = (int64_t)slen;
  b = byteat(&d, 1);
  if (b < 0) truncated(&d, 1);
  else if (b >= 0x90 && b <= 0x9f) { cnt = b - 0x90; pos = 2; }
  else if (b == 0xdc) { need(&d, 1, 2); cnt = (int64_t)rd(&d, 2, 2); pos = 4; }
  else if (b == 0xdd) { need(&d, 1, 4); cnt = (int64_t)rd(&d, 2, 4); pos = 6; }
  else fail(&d, "an argument list must be an array", 1);
  if (cnt == 0) { lua_pushinteger(L, 0); return 1; }
  dec_open(L, &d, s, slen);
  base = lua_gettop(L);
  if (cnt <= 4096) {  /* onto the stack */
    luaL_checkstack(L, (int)cnt + 8, NULL);
    for (i = 1; i <= cnt; i++) pos = dec(&d, pos);
    dec_close(L, &d);
  }
  else {  /* into a table first, as codec.lua does, then onto the stack */
    int t;
    lua_createtable(L, 0, 0);
    t = lua_gettop(L);
    for (i = 1; i <= cnt; i++) { pos = dec(&d, pos); lua_rawseti(L, t, (lua_Integer)i); }
    dec_close(L, &d);
    if (cnt >= 0x7fffffff || !lua_checkstack(L, (int)cnt + 1))
      return luaL_error(L, "too many results to unpack");
    for (i = 1; i <= cnt; i++) lua_rawgeti(L, t, (lua_Integer)i);
    lua_remove(L, t);
  }
  lua_pushinteger(L, (lua_Integer)cnt);
  lua_replace(L, base);  /* over the refs table */
  return (int)cnt + 1;
}


/* ---- same-worker copy -------------------------------------------------------------------------- */

typedef struct Copy {
  lua_State *L;
  Seen seen;  /* original -> index of its copy in copies */
  int copies;
  const char *err;
  const char *errtype;
} Copy;

static void cerr (Copy *c, const char *msg, const char *tname) {
  if (!c->err) { c->err = msg; c->errtype = tname; }
}

static void copy_table (Copy *c, int idx, int depth);

/* Pushes the copy of the table at idx: the one already made, or a new one. */
static void copy_seen_or_new (Copy *c, int idx, int depth) {
  long i = seen_find(&c->seen, lua_topointer(c->L, idx));
  if (i >= 0) lua_rawgeti(c->L, c->copies, (lua_Integer)i + 1);
  else copy_table(c, idx, depth);
}

/* An error object stays the same object unless its details hold a table (copied into a new one). */
static void copy_error (Copy *c, int idx, int depth) {
  lua_State *L = c->L;
  int f, td;
  luaL_checkstack(L, 8, NULL);
  lua_pushvalue(L, UV_FIELDS);
  lua_pushvalue(L, idx);
  lua_call(L, 1, 1);
  f = lua_gettop(L);
  td = lua_getfield(L, f, "details");
  if (td == LUA_TTABLE && !is_error(L, f + 1)) {
    copy_seen_or_new(c, f + 1, depth + 1);
    lua_replace(L, f + 1);
  }
  else if (td == LUA_TFUNCTION || td == LUA_TTHREAD
           || ((td == LUA_TUSERDATA || td == LUA_TLIGHTUSERDATA) && !is_error(L, f + 1))) {
    cerr(c, "", lua_typename(L, td));
    lua_settop(L, f - 1);
    lua_pushnil(L);
    return;
  }
  else {
    lua_settop(L, f - 1);
    lua_pushvalue(L, idx);
    return;
  }
  /* make_error({ kind =, message =, retryable =, details =, stack = }) */
  lua_pushvalue(L, UV_MAKE);
  lua_createtable(L, 0, 5);
  lua_getfield(L, f, "kind"); lua_setfield(L, -2, "kind");
  lua_getfield(L, f, "message"); lua_setfield(L, -2, "message");
  lua_getfield(L, f, "retryable"); lua_setfield(L, -2, "retryable");
  lua_pushvalue(L, f + 1); lua_setfield(L, -2, "details");
  lua_getfield(L, f, "stack"); lua_setfield(L, -2, "stack");
  lua_call(L, 1, 1);
  lua_replace(L, f);
  lua_settop(L, f);
}

/* Pushes the copy of the key or value at idx (nil when unsendable). */
static void copy_value (Copy *c, int idx, int depth) {
  lua_State *L = c->L;
  int t = lua_type(L, idx);
  if (t == LUA_TTABLE) {
    if (is_error(L, idx)) copy_error(c, idx, depth);
    else copy_seen_or_new(c, idx, depth + 1);
    return;
  }
  if ((t == LUA_TUSERDATA || t == LUA_TLIGHTUSERDATA) && is_error(L, idx)) {
    copy_error(c, idx, depth);
    return;
  }
  if (t == LUA_TFUNCTION || t == LUA_TTHREAD || t == LUA_TUSERDATA || t == LUA_TLIGHTUSERDATA) {
    cerr(c, "", lua_typename(L, t));
    lua_pushnil(L);
    return;
  }
  lua_pushvalue(L, idx);
}

static int scalar (int t) {
  return t == LUA_TSTRING || t == LUA_TNUMBER || t == LUA_TBOOLEAN;
}

static void copy_table (Copy *c, int idx, int depth) {
  lua_State *L = c->L;
  int t;
  if (depth > VALUE_DEPTH) {
    cerr(c, S_VALUE_DEEP, NULL);
    lua_pushnil(L);
    return;
  }
  luaL_checkstack(L, 8, NULL);
  {  /* presized: the keys counted first (see the top of the file) */
    lua_Unsigned len = lua_rawlen(L, idx), total = 0, inarr = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
      lua_Integer k;
      total++;
      if (lua_isinteger(L, -2) && (k = lua_tointeger(L, -2)) >= 1 && (lua_Unsigned)k <= len) inarr++;
      lua_pop(L, 1);
    }
    if (inarr * 2 > len) lua_createtable(L, (int)len, (int)(total - inarr));
    else lua_createtable(L, 0, (int)total);
  }
  t = lua_gettop(L);
  lua_pushvalue(L, t);
  lua_rawseti(L, c->copies, (lua_Integer)seen_add(L, &c->seen, lua_topointer(L, idx)) + 1);
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    int kx = lua_gettop(L) - 1, vx = kx + 1;
    if (!scalar(lua_type(L, kx))) copy_value(c, kx, depth);
    else lua_pushvalue(L, kx);
    if (!scalar(lua_type(L, vx))) copy_value(c, vx, depth);
    else lua_pushvalue(L, vx);
    if (!lua_isnil(L, -2)) lua_rawset(L, t);
    else lua_pop(L, 2);
    lua_pop(L, 1);
  }
}

/* copy(v) -> the same-worker deep copy of v | nil, message */
static int c_copy (lua_State *L) {
  Copy c;
  int t;
  lua_settop(L, 1);
  t = lua_type(L, 1);
  if (scalar(t) || t == LUA_TNIL) return 1;
  luaL_checkstack(L, 8, NULL);
  c.L = L;
  c.err = c.errtype = NULL;
  seen_open(L, &c.seen);
  if (take(L, SC_COPIES) == LUA_TNIL) {
    lua_pop(L, 1);
    lua_createtable(L, 16, 0);
  }
  c.copies = lua_gettop(L);
  copy_value(&c, 1, 0);
  if (c.seen.count <= KEEP_TABLES) {
    uint32_t i;
    for (i = 1; i <= c.seen.count; i++) { lua_pushnil(L); lua_rawseti(L, c.copies, (lua_Integer)i); }
    give(L, c.copies, SC_COPIES);
    seen_close(L, &c.seen);
  }
  if (c.err) {
    lua_pushnil(L);
    if (*c.err) lua_pushstring(L, c.err);
    else lua_pushfstring(L, "cannot send a %s", c.errtype);
    return 2;
  }
  return 1;
}


/* reset(): fresh scratch (codec.reset). */
static int c_reset (lua_State *L) {
  int i;
  for (i = SC_BUF; i <= SC_REFS; i++) { lua_pushnil(L); lua_rawseti(L, UV_SCRATCH, i); }
  return 0;
}


/* codec(is_error, error_fields, make_error [, registry]) -> { encode, decode, encode_args,
** decode_args, copy, reset, encode_frame, decode_at, decode_m_at, MAX_DEPTH, VALUE_DEPTH, MAX_BYTES } */
static int c_codec (lua_State *L) {
  static const luaL_Reg fns[] = {
    { "encode", c_encode }, { "decode", c_decode }, { "encode_args", c_encode_args },
    { "decode_args", c_decode_args }, { "copy", c_copy }, { "reset", c_reset },
    { "encode_frame", c_encode_frame }, { "encode_frame_out", c_encode_frame_out }, { "decode_at", c_decode_at }, { "decode_m_at", c_decode_m_at },
    { "deliver_run", c_deliver_run },
    { NULL, NULL }
  };
  luaL_checktype(L, 1, LUA_TFUNCTION);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  luaL_checktype(L, 3, LUA_TFUNCTION);
  if (!lua_isnoneornil(L, 4)) luaL_checktype(L, 4, LUA_TTABLE);
  lua_settop(L, 4);
  lua_createtable(L, 5, 0);  /* the scratch */
  lua_createtable(L, 0, 12);
  lua_insert(L, 1);  /* result table under the five upvalues */
  luaL_setfuncs(L, fns, 5);
  lua_pushinteger(L, MAX_DEPTH); lua_setfield(L, 1, "MAX_DEPTH");
  lua_pushinteger(L, VALUE_DEPTH); lua_setfield(L, 1, "VALUE_DEPTH");
  lua_pushinteger(L, (lua_Integer)MAX_BYTES); lua_setfield(L, 1, "MAX_BYTES");
  return 1;
}


int luaW_open_codec (lua_State *L) {
  lua_pushcfunction(L, c_codec);
  return 1;
}
